/*
 * flags.c: flags and keywords as the formats spell them, the date of an
 * mbox "From " line, and mailbox names built from paths.
 *
 * mbox: "Status: RO" (R read -> \Seen; O old, ignored), "X-Status: AFTD"
 * (answered, flagged, draft (T), deleted), "X-Keywords: a, b" (the forms
 * written by mutt and Dovecot), read from the part of the header described
 * in internal.h, the same for the reader and the writer. maildir: the ":2," info of the file name
 * (https://cr.yp.to/proto/maildir.html): D draft, F flagged, P passed,
 * R replied, S seen, T trashed; Dovecot's lowercase keyword letters.
 */
#include "mailfmt/internal.h"

#include <string.h>
#include <strings.h>
#include <time.h>

/* RFC 9051 §9: flag-keyword = "$MDNSent" / "$Forwarded" / ... / atom;
 * atom = 1*ATOM-CHAR; ATOM-CHAR = any CHAR except atom-specials
 * ( "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials /
 * resp-specials ). '\' (quoted-special) excludes the system flags. */
bool mailfmt_keyword_valid(const char *s, size_t n)
{
	if (n == 0 || n > MAILFMT_KEYWORD_LEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void kwlist_add(struct kwlist *l, struct arena *arena, const char *s, size_t n)
{
	if (!mailfmt_keyword_valid(s, n)) {
		l->dropped++;
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->kw[i]) == n && strncasecmp(l->kw[i], s, n) == 0)
			return;
	if (l->n == MAILFMT_KEYWORDS_MAX) {
		l->dropped++;
		return;
	}
	l->kw[l->n++] = arena_strndup(arena, s, n);
}

static bool kw_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void kwlist_parse(struct kwlist *l, struct arena *arena, const char *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && kw_sep(v[i]))
			i++;
		size_t start = i;
		while (i < n && !kw_sep(v[i]))
			i++;
		if (i > start)
			kwlist_add(l, arena, v + start, i - start);
	}
}

unsigned flags_from_status(const char *v, size_t n)
{
	return memchr(v, 'R', n) != NULL ? MAILFMT_SEEN : 0;
}

unsigned flags_from_xstatus(const char *v, size_t n)
{
	unsigned f = 0;
	for (size_t i = 0; i < n; i++) {
		switch (v[i]) {
		case 'A': f |= MAILFMT_ANSWERED; break;
		case 'F': f |= MAILFMT_FLAGGED; break;
		case 'T': f |= MAILFMT_DRAFT; break;
		case 'D': f |= MAILFMT_DELETED; break;
		default: break;
		}
	}
	return f;
}

/* ---- the flag headers of an mbox message ---- */

bool mbox_hdr_searched(size_t off, size_t len)
{
	return off <= MAILFMT_MBOX_HEADER_SCAN_MAX && len <= MBOX_HDR_LINE_MAX;
}

/* RFC 5322 §3.6.8: field-name ":" with no space before the colon. */
enum flaghdr flaghdr_of(const char *p, size_t n, size_t *vstart)
{
	static const struct {
		const char *name;
		enum flaghdr fh;
	} names[] = {
		{"status:", FH_STATUS}, {"x-status:", FH_XSTATUS}, {"x-keywords:", FH_XKEYWORDS},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = strlen(names[i].name);
		if (n >= len && strncasecmp(p, names[i].name, len) == 0) {
			*vstart = len;
			return names[i].fh;
		}
	}
	return FH_NONE;
}

void flagscan_init(struct flagscan *s, struct arena *arena)
{
	memset(s, 0, sizeof(*s));
	s->arena = arena;
	s->kw = arena_alloc(arena, sizeof(*s->kw));
	memset(s->kw, 0, sizeof(*s->kw));
	s->open = FH_NONE;
	buf_init(&s->val, MBOX_FLAGHDR_MAX);
}

void flagscan_free(struct flagscan *s)
{
	buf_free(&s->val);
}

/* Value bytes past MBOX_FLAGHDR_MAX are ignored. */
static void flagscan_value(struct flagscan *s, const char *p, size_t n)
{
	size_t room = buf_room(&s->val);
	(void)buf_append(&s->val, p, n < room ? n : room);
	(void)buf_append(&s->val, "\n", buf_room(&s->val) > 0 ? 1 : 0);
}

void flagscan_end(struct flagscan *s)
{
	const char *v = s->val.data;
	size_t n = s->val.len;
	if (s->open == FH_STATUS)
		s->status |= flags_from_status(v, n);
	else if (s->open == FH_XSTATUS)
		s->xstatus |= flags_from_xstatus(v, n);
	else if (s->open == FH_XKEYWORDS)
		kwlist_parse(s->kw, s->arena, v, n);
	s->open = FH_NONE;
	buf_reset(&s->val);
}

enum flaghdr flagscan_line(struct flagscan *s, const char *p, size_t n)
{
	if (n > 0 && (p[0] == ' ' || p[0] == '\t') && s->open != FH_NONE) {
		flagscan_value(s, p, n);  /* RFC 5322 §2.2.3: a folded continuation */
		return s->open;
	}
	flagscan_end(s);
	size_t vstart;
	enum flaghdr fh = flaghdr_of(p, n, &vstart);
	if (fh != FH_NONE) {
		s->open = fh;
		s->present[fh] = true;
		flagscan_value(s, p + vstart, n - vstart);
	}
	return fh;
}

/* Maildir info letters, in the order the spec requires them (ASCII). */
static const struct {
	char letter;
	unsigned flag;
} maildir_letters[] = {
	{'D', MAILFMT_DRAFT}, {'F', MAILFMT_FLAGGED}, {'R', MAILFMT_ANSWERED},
	{'S', MAILFMT_SEEN}, {'T', MAILFMT_DELETED},
};

unsigned mailfmt_maildir_info(const char *name, const char *const *kwmap,
                              const char **kw_r, size_t *nkw_r)
{
	const char *info = strstr(name, ":2,");
	if (info == NULL)
		return 0;
	unsigned f = 0;
	for (const char *p = info + 3; *p != '\0'; p++) {
		for (size_t i = 0; i < sizeof(maildir_letters) / sizeof(maildir_letters[0]); i++)
			if (*p == maildir_letters[i].letter)
				f |= maildir_letters[i].flag;
		const char *kw = NULL;
		if (*p == 'P')
			kw = "$Forwarded";
		else if (*p >= 'a' && *p <= 'z' && kwmap != NULL)
			kw = kwmap[*p - 'a'];
		if (kw != NULL && kw_r != NULL && *nkw_r < MAILFMT_KEYWORDS_MAX)
			kw_r[(*nkw_r)++] = kw;
	}
	return f;
}

/* The date of "From sender Www Mmm dd hh:mm:ss yyyy" (asctime, taken as
 * UTC). The sender may hold spaces, so each space is tried as the start. */
int64_t mbox_from_date(const char *line, size_t n)
{
	char tmp[256];
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, line, n);
	tmp[n] = '\0';
	for (char *p = tmp + 5; (p = strchr(p, ' ')) != NULL; p++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(p + 1, "%a %b %d %H:%M:%S %Y", &tm);
		if (end != NULL)
			return (int64_t)timegm(&tm);
	}
	return -1;
}

/* ---- mailbox names ---- */

int mbxname_split(struct arena *a, const char *path, const char **comps)
{
	if (path[0] == '/')
		return -1;
	int n = 0;
	const char *p = path;
	while (*p != '\0') {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (n == MAILFMT_PATH_DEPTH_MAX)
				return -1;
			comps[n++] = arena_strndup(a, p, len);
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

/* "inbox" in any case is "Inbox"; NULL if name is too long. */
static char *mbxname_final(struct arena *a, char *name)
{
	if (strlen(name) > MAILFMT_MAILBOX_NAME_MAX)
		return NULL;
	if (strcasecmp(name, "inbox") == 0)
		return arena_strdup(a, "Inbox");
	return name;
}

static char *mbxname_join(struct arena *a, const char *const *comps, size_t n)
{
	char *s = arena_strdup(a, "");
	for (size_t i = 0; i < n; i++)
		s = arena_printf(a, "%s%s%s", s, i > 0 ? "/" : "", comps[i]);
	return s;
}

char *mbxname_maildir(struct arena *a, const char *const *comps, size_t n)
{
	if (n == 0)
		return arena_strdup(a, "Inbox");
	const char *last = comps[n - 1];
	if (last[0] == '.' && last[1] != '\0') {
		/* Maildir++: ".A.B" is folder A/B below the parent maildir. */
		char *folder = arena_strdup(a, last + 1);
		for (char *p = folder; *p != '\0'; p++)
			if (*p == '.')
				*p = '/';
		char *parent = mbxname_maildir(a, comps, n - 1);
		if (parent == NULL)
			return NULL;
		if (strcmp(parent, "Inbox") == 0)
			return mbxname_final(a, folder);
		return mbxname_final(a, arena_printf(a, "%s/%s", parent, folder));
	}
	if (n == 1 && strcmp(last, "Maildir") == 0)
		return arena_strdup(a, "Inbox");
	return mbxname_final(a, mbxname_join(a, comps, n));
}

char *mbxname_mbox(struct arena *a, const char *const *comps, size_t n)
{
	if (n == 0)
		return arena_strdup(a, "Inbox");
	char *name = mbxname_join(a, comps, n);
	size_t len = strlen(name);
	if (len > 5 && strcmp(name + len - 5, ".mbox") == 0)
		name[len - 5] = '\0';
	if (strcmp(name, "mbox") == 0)
		return arena_strdup(a, "Inbox");
	return mbxname_final(a, name);
}

/* dovecot-keywords: lines "ID NAME", ID 0..25 mapping to letters a..z. */
void dovecot_keywords_parse(struct arena *a, const char *s, size_t n, const char **map)
{
	size_t i = 0;
	while (i < n) {
		const char *line = s + i;
		const char *lf = memchr(line, '\n', n - i);
		size_t len = lf != NULL ? (size_t)(lf - line) : n - i;
		i += len + (lf != NULL ? 1 : 0);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		size_t d = 0;
		unsigned id = 0;
		while (d < len && d < 3 && line[d] >= '0' && line[d] <= '9')
			id = id * 10 + (unsigned)(line[d++] - '0');
		if (d == 0 || d >= len || line[d] != ' ' || id >= 26)
			continue;
		if (mailfmt_keyword_valid(line + d + 1, len - d - 1))
			map[id] = arena_strndup(a, line + d + 1, len - d - 1);
	}
}
