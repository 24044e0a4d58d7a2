/*
 * parse.c: one IMAP command in wire form (tag, name, arguments, literals
 * inline) into struct imap_command. Grammar: RFC 9051 §9 with the rev1
 * forms of RFC 3501 §9 that rev2 dropped (LSUB, RECENT, CHECK, SEARCH
 * CHARSET), and the extensions named in imap.h.
 *
 * Deviations, all toward what deployed clients send:
 *   - Command names and keywords are case-insensitive (§9 "Note 1").
 *   - A literal's octets may hold NUL only in literal8 (§4.3, RFC 3516 §4.4).
 *   - Unknown LIST selection/return options, SEARCH RETURN options and
 *     SELECT parameters are refused (BAD), as RFC 5258 §3 and RFC 4466 §2.1
 *     allow.
 */
#include "imap/imap.h"
#include "imap/internal.h"

#include "core/arena.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct ps {
	const char *start, *p, *end;
	unsigned flags;
	size_t nargs, args_max;
	unsigned depth, depth_max;
	struct arena *a;
	struct imap_command *cmd;
	struct error *e;
};

static int bad(struct ps *s, const char *what)
{
	return error_set(s->e, ERR_INVALID, "%s: at offset %zu: expected %s",
		imap_cmd_name(s->cmd->cmd), (size_t)(s->p - s->start), what);
}

static int count_arg(struct ps *s)
{
	if (++s->nargs > s->args_max)
		return error_set(s->e, ERR_LIMIT, "too many arguments: more than %zu", s->args_max);
	return 0;
}

static int enter(struct ps *s)
{
	if (++s->depth > s->depth_max)
		return error_set(s->e, ERR_LIMIT, "nesting too deep: more than %u", s->depth_max);
	return 0;
}

static bool at_end(const struct ps *s) { return s->p >= s->end; }
static bool peek(const struct ps *s, char c) { return s->p < s->end && *s->p == c; }

static bool take(struct ps *s, char c)
{
	if (!peek(s, c))
		return false;
	s->p++;
	return true;
}

static int sp(struct ps *s)
{
	return take(s, ' ') ? 0 : bad(s, "SP");
}

static int need(struct ps *s, char c, const char *what)
{
	return take(s, c) ? 0 : bad(s, what);
}

/* atom-specials (§9): ( ) { SP CTL list-wildcards quoted-specials resp-specials */
static bool is_atom_char(unsigned char c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	return strchr("(){ %*\"\\]", c) == NULL;
}

/* Takes a run of chars accepted by ok (extra also allowed), at least one. */
static const char *run(struct ps *s, const char *extra, size_t *n_r)
{
	const char *b = s->p;
	while (!at_end(s) && (is_atom_char((unsigned char)*s->p) ||
			(extra != NULL && *s->p != '\0' && strchr(extra, *s->p) != NULL)))
		s->p++;
	*n_r = (size_t)(s->p - b);
	return *n_r > 0 ? b : NULL;
}

/* An atom as an arena string (NULL with e set if none). */
static const char *atom(struct ps *s, const char *extra, const char *what)
{
	size_t n;
	const char *b = run(s, extra, &n);
	if (b == NULL) {
		bad(s, what);
		return NULL;
	}
	if (count_arg(s) < 0)
		return NULL;
	return arena_strndup(s->a, b, n);
}

static bool word_is(const char *w, const char *kw)
{
	return w != NULL && strcasecmp(w, kw) == 0;
}

static char *upper(char *w)
{
	for (char *q = w; *q; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 'a' + 'A');
	return w;
}

/* Peeks whether the next atom is kw (case-insensitive) and takes it. */
static bool take_kw(struct ps *s, const char *kw)
{
	size_t k = strlen(kw);
	if ((size_t)(s->end - s->p) < k || strncasecmp(s->p, kw, k) != 0)
		return false;
	/* "[" and "<" end a keyword too: BODY[...], BINARY[...]<...>. */
	if (s->p + k < s->end && is_atom_char((unsigned char)s->p[k]) &&
			s->p[k] != '[' && s->p[k] != '<')
		return false;
	s->p += k;
	return true;
}

/* number64 (§9): up to 2^63-1. */
static int number64(struct ps *s, uint64_t *v_r)
{
	if (at_end(s) || *s->p < '0' || *s->p > '9')
		return bad(s, "number");
	uint64_t v = 0;
	while (!at_end(s) && *s->p >= '0' && *s->p <= '9') {
		if (v > (UINT64_C(9223372036854775807) - (uint64_t)(*s->p - '0')) / 10)
			return bad(s, "number up to 2^63-1");
		v = v * 10 + (uint64_t)(*s->p - '0');
		s->p++;
	}
	*v_r = v;
	return count_arg(s);
}

static int number32(struct ps *s, uint32_t *v_r)
{
	uint64_t v = 0;
	if (number64(s, &v) < 0)
		return -1;
	if (v > UINT32_MAX)
		return bad(s, "number up to 4294967295");
	*v_r = (uint32_t)v;
	return 0;
}

static int nz_number32(struct ps *s, uint32_t *v_r)
{
	if (number32(s, v_r) < 0)
		return -1;
	return *v_r == 0 ? bad(s, "non-zero number") : 0;
}

/*
 * Strings: quoted / literal (§4.3, §9 string). binary_ok: literal8 allowed.
 */
static int literal(struct ps *s, bool binary_ok, struct imap_string *out, bool *binary_r)
{
	bool binary = take(s, '~');
	if (binary && !binary_ok)
		return bad(s, "literal (literal8 only in APPEND)");
	if (need(s, '{', "{") < 0)
		return -1;
	uint64_t n;
	if (number64(s, &n) < 0)
		return -1;
	take(s, '+');
	if (need(s, '}', "}") < 0)
		return -1;
	if (!take(s, '\r') || !take(s, '\n'))
		return bad(s, "CRLF after literal size");
	if ((uint64_t)(s->end - s->p) < n)
		return bad(s, "literal octets");
	if (!binary && memchr(s->p, '\0', (size_t)n) != NULL)
		return bad(s, "no NUL in a literal (CHAR8)");
	out->p = (s->cmd->cmd == IMAP_CMD_APPEND || s->cmd->cmd == IMAP_CMD_REPLACE) && binary_ok
		? s->p : arena_strndup(s->a, s->p, (size_t)n);
	out->n = (size_t)n;
	s->p += n;
	if (binary_r != NULL)
		*binary_r = binary;
	return 0;
}

static int quoted(struct ps *s, struct imap_string *out)
{
	if (need(s, '"', "\"") < 0)
		return -1;
	/* Sized by the closing quote, so that many strings cost linear memory. */
	size_t room = 0;
	for (const char *q = s->p; q < s->end && *q != '"'; q++, room++)
		if (*q == '\\' && q + 1 < s->end)
			q++;
	char *d = arena_alloc(s->a, room + 1);
	size_t n = 0;
	for (;;) {
		if (at_end(s))
			return bad(s, "closing \"");
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (!peek(s, '"') && !peek(s, '\\'))
				return bad(s, "\\\" or \\\\ in quoted string");
			c = (unsigned char)*s->p++;
		} else if (c == '\r' || c == '\n' || c == '\0') {
			s->p--;
			return bad(s, "TEXT-CHAR in quoted string");
		} else if (c >= 0x80 && !(s->flags & IMAP_UTF8)) {
			s->p--;
			return bad(s, "7-bit quoted string (UTF8=ACCEPT not enabled)");
		}
		d[n++] = (char)c;
	}
	d[n] = '\0';
	out->p = d;
	out->n = n;
	return 0;
}

static int string(struct ps *s, struct imap_string *out)
{
	if (count_arg(s) < 0)
		return -1;
	if (peek(s, '"'))
		return quoted(s, out);
	if (peek(s, '{'))
		return literal(s, false, out, NULL);
	return bad(s, "string");
}

/* astring = 1*ASTRING-CHAR / string; ASTRING-CHAR = ATOM-CHAR / "]". */
static int astring_x(struct ps *s, const char *extra, struct imap_string *out)
{
	if (peek(s, '"') || peek(s, '{'))
		return string(s, out);
	size_t n;
	const char *b = run(s, extra, &n);
	if (b == NULL)
		return bad(s, "astring");
	out->p = arena_strndup(s->a, b, n);
	out->n = n;
	return count_arg(s);
}

static const char *astring(struct ps *s)
{
	struct imap_string v;
	return astring_x(s, "]", &v) < 0 ? NULL : v.p;
}

/* nstring = string / NIL; *n_r gets its length, 0 for NIL. */
static int nstring_n(struct ps *s, const char **out, size_t *n_r)
{
	*n_r = 0;
	if (take_kw(s, "NIL")) {
		*out = NULL;
		return count_arg(s);
	}
	struct imap_string v;
	if (string(s, &v) < 0)
		return -1;
	*out = v.p;
	*n_r = v.n;
	return 0;
}

/* A mailbox name, decoded. A name that is not valid modified UTF-7 (or,
 * with IMAP_UTF8, not UTF-8) is no syntax error: it names no mailbox that
 * can exist, so it is kept as sent and *undecodable_r set, for the command
 * to answer NO (RFC 3501 §5.1.3; SELECT of such a name is NO, not BAD). A
 * NUL stays an error: cut at it, the name would be another one. */
static const char *mailbox_x(struct ps *s, const char *extra, bool *undecodable_r)
{
	struct imap_string v;
	*undecodable_r = false;
	if (astring_x(s, extra, &v) < 0)
		return NULL;
	const char *out;
	if (imap_mailbox_decode(v.p, v.n, s->flags, s->a, &out, s->e) == 0)
		return out;
	if (memchr(v.p, '\0', v.n) != NULL) {
		error_prefix(s->e, "%s: mailbox name", imap_cmd_name(s->cmd->cmd));
		return NULL;
	}
	*undecodable_r = true;
	return v.p;
}

/* mailbox (§9): "INBOX" / astring, decoded (imap_mailbox_decode); bit is
 * set in cmd->undecodable for a name kept as sent. */
static const char *mailbox_bit(struct ps *s, unsigned bit)
{
	bool undecodable;
	const char *m = mailbox_x(s, "]", &undecodable);
	if (undecodable)
		s->cmd->undecodable |= bit;
	return m;
}

static const char *mailbox(struct ps *s) { return mailbox_bit(s, IMAP_UNDECODABLE_MAILBOX); }

/* list-mailbox = 1*list-char / string; list-char = ATOM-CHAR / list-wildcards / resp-specials */
static const char *list_mailbox(struct ps *s, bool *undecodable_r)
{
	return mailbox_x(s, "]%*", undecodable_r);
}

/* A parenthesized list of items, each read by fn: "(" [item *(SP item)] ")". */
typedef int item_fn(struct ps *s, void *ctx);

static int plist(struct ps *s, bool empty_ok, item_fn *fn, void *ctx)
{
	if (need(s, '(', "(") < 0 || enter(s) < 0)
		return -1;
	if (take(s, ')')) {
		s->depth--;
		return empty_ok ? 0 : bad(s, "at least one item");
	}
	for (;;) {
		if (fn(s, ctx) < 0)
			return -1;
		if (take(s, ')'))
			break;
		if (!take(s, ' '))
			return bad(s, "SP or \")\"");
	}
	s->depth--;
	return 0;
}

/* A growing array of const char * in the arena. */
struct strv {
	const char **v;
	size_t n, cap;
	struct arena *a;
};

static void strv_push(struct strv *sv, const char *x)
{
	sv->v = arena_grow(sv->a, sv->v, sv->n, &sv->cap, sizeof(*sv->v), 8);
	sv->v[sv->n++] = x;
}

/* flag (§9): "\" atom / keyword; flag-perm "\*" when star_ok. */
static int flag_item(struct ps *s, void *ctx)
{
	struct strv *sv = ctx;
	const char *b = s->p;
	bool bs = take(s, '\\');
	if (bs && take(s, '*')) {
		strv_push(sv, "\\*");
		return count_arg(s);
	}
	size_t n;
	if (run(s, NULL, &n) == NULL)
		return bad(s, "flag");
	strv_push(sv, arena_strndup(s->a, b, (size_t)(s->p - b)));
	return count_arg(s);
}

static int flag_list(struct ps *s, const char ***v_r, size_t *n_r)
{
	struct strv sv = { .a = s->a };
	if (plist(s, true, flag_item, &sv) < 0)
		return -1;
	*v_r = sv.v;
	*n_r = sv.n;
	return 0;
}

/*
 * Sequence sets (§9 sequence-set, seq-number, seq-range; "$" RFC 5182).
 */
static int seq_number(struct ps *s, uint32_t *v_r)
{
	if (take(s, '*')) {
		*v_r = 0;
		return 0;
	}
	return nz_number32(s, v_r);
}

static int seqset(struct ps *s, struct imap_seqset *set)
{
	memset(set, 0, sizeof *set);
	if (take(s, '$')) {
		set->saved = true;
		return count_arg(s);
	}
	size_t cap = 0;
	for (;;) {
		struct imap_seq_range r;
		if (seq_number(s, &r.first) < 0)
			return -1;
		r.last = r.first;
		if (take(s, ':') && seq_number(s, &r.last) < 0)
			return -1;
		set->r = arena_grow(s->a, set->r, set->n, &cap, sizeof(*set->r), 4);
		set->r[set->n++] = r;
		if (!take(s, ','))
			break;
	}
	return 0;
}

/*
 * Dates (§9 date, date-time).
 */
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
	"Sep", "Oct", "Nov", "Dec" };

static int digits(struct ps *s, int min, int max, int *v_r)
{
	int v = 0, k = 0;
	while (k < max && !at_end(s) && *s->p >= '0' && *s->p <= '9') {
		v = v * 10 + (*s->p++ - '0');
		k++;
	}
	if (k < min)
		return bad(s, "digits");
	*v_r = v;
	return 0;
}

/* date-text = date-day "-" date-month "-" date-year */
static int date_text(struct ps *s, struct imap_date *d)
{
	if (digits(s, 1, 2, &d->day) < 0 || need(s, '-', "-") < 0)
		return -1;
	if (s->end - s->p < 3)
		return bad(s, "month");
	d->month = 0;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s->p, months[i], 3) == 0)
			d->month = i + 1;
	if (d->month == 0)
		return bad(s, "month name");
	s->p += 3;
	if (need(s, '-', "-") < 0 || digits(s, 4, 4, &d->year) < 0)
		return -1;
	if (d->day < 1 || d->day > 31)
		return bad(s, "day 1..31");
	return 0;
}

/* date = date-text / DQUOTE date-text DQUOTE */
static int date(struct ps *s, struct imap_date *d)
{
	bool q = take(s, '"');
	if (date_text(s, d) < 0)
		return -1;
	if (q && need(s, '"', "\"") < 0)
		return -1;
	return count_arg(s);
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
static int date_time(struct ps *s, struct imap_datetime *t)
{
	if (need(s, '"', "date-time") < 0)
		return -1;
	take(s, ' ');
	if (date_text(s, &t->date) < 0 || sp(s) < 0)
		return -1;
	if (digits(s, 2, 2, &t->hour) < 0 || need(s, ':', ":") < 0 ||
			digits(s, 2, 2, &t->min) < 0 || need(s, ':', ":") < 0 ||
			digits(s, 2, 2, &t->sec) < 0 || sp(s) < 0)
		return -1;
	int sign = take(s, '+') ? 1 : take(s, '-') ? -1 : 0;
	int z = 0;
	if (sign == 0)
		return bad(s, "zone +hhmm or -hhmm");
	if (digits(s, 4, 4, &z) < 0 || need(s, '"', "\"") < 0)
		return -1;
	if (t->hour > 23 || t->min > 59 || t->sec > 60 || z % 100 > 59)
		return bad(s, "valid time and zone");
	t->zone_min = sign * ((z / 100) * 60 + z % 100);
	return count_arg(s);
}

/* ---- SEARCH (§6.4.4, §9 search-key) ---- */

static int search_key(struct ps *s, struct imap_search_key **k_r);

static struct imap_search_key *new_key(struct ps *s, enum imap_search_kind kind)
{
	struct imap_search_key *k = arena_alloc(s->a, sizeof *k);
	k->kind = kind;
	return k;
}

struct keyv {
	struct imap_search_key **v;
	size_t n, cap;
};

static void keyv_push(struct ps *s, struct keyv *kv, struct imap_search_key *k)
{
	kv->v = arena_grow(s->a, kv->v, kv->n, &kv->cap, sizeof(*kv->v), 4);
	kv->v[kv->n++] = k;
}

static int key_item(struct ps *s, void *ctx)
{
	struct imap_search_key *k;
	if (search_key(s, &k) < 0)
		return -1;
	keyv_push(s, ctx, k);
	return 0;
}

static const struct { const char *name; enum imap_search_kind kind; char arg; } search_words[] = {
	/* arg: 0 none, 's' astring, 'h' header, 'd' date, 'n' number, 'f' flag keyword,
	 * 'u' UID set, 'N' NOT, 'O' OR, 'm' MODSEQ */
	{ "ALL", IMAP_SK_ALL, 0 }, { "ANSWERED", IMAP_SK_ANSWERED, 0 },
	{ "DELETED", IMAP_SK_DELETED, 0 }, { "DRAFT", IMAP_SK_DRAFT, 0 },
	{ "FLAGGED", IMAP_SK_FLAGGED, 0 }, { "NEW", IMAP_SK_NEW, 0 }, { "OLD", IMAP_SK_OLD, 0 },
	{ "RECENT", IMAP_SK_RECENT, 0 }, { "SEEN", IMAP_SK_SEEN, 0 },
	{ "UNANSWERED", IMAP_SK_UNANSWERED, 0 }, { "UNDELETED", IMAP_SK_UNDELETED, 0 },
	{ "UNDRAFT", IMAP_SK_UNDRAFT, 0 }, { "UNFLAGGED", IMAP_SK_UNFLAGGED, 0 },
	{ "UNSEEN", IMAP_SK_UNSEEN, 0 }, { "SAVEDATESUPPORTED", IMAP_SK_SAVEDATESUPPORTED, 0 },
	{ "BCC", IMAP_SK_BCC, 's' }, { "BODY", IMAP_SK_BODY, 's' }, { "CC", IMAP_SK_CC, 's' },
	{ "FROM", IMAP_SK_FROM, 's' }, { "SUBJECT", IMAP_SK_SUBJECT, 's' },
	{ "TEXT", IMAP_SK_TEXT, 's' }, { "TO", IMAP_SK_TO, 's' },
	{ "KEYWORD", IMAP_SK_KEYWORD, 'f' }, { "UNKEYWORD", IMAP_SK_UNKEYWORD, 'f' },
	{ "HEADER", IMAP_SK_HEADER, 'h' },
	{ "BEFORE", IMAP_SK_BEFORE, 'd' }, { "ON", IMAP_SK_ON, 'd' }, { "SINCE", IMAP_SK_SINCE, 'd' },
	{ "SENTBEFORE", IMAP_SK_SENTBEFORE, 'd' }, { "SENTON", IMAP_SK_SENTON, 'd' },
	{ "SENTSINCE", IMAP_SK_SENTSINCE, 'd' }, { "SAVEDBEFORE", IMAP_SK_SAVEDBEFORE, 'd' },
	{ "SAVEDON", IMAP_SK_SAVEDON, 'd' }, { "SAVEDSINCE", IMAP_SK_SAVEDSINCE, 'd' },
	{ "LARGER", IMAP_SK_LARGER, 'n' }, { "SMALLER", IMAP_SK_SMALLER, 'n' },
	{ "OLDER", IMAP_SK_OLDER, 'z' }, { "YOUNGER", IMAP_SK_YOUNGER, 'z' },
	{ "UID", IMAP_SK_UID, 'u' }, { "NOT", IMAP_SK_NOT, 'N' }, { "OR", IMAP_SK_OR, 'O' },
	{ "MODSEQ", IMAP_SK_MODSEQ, 'm' },
};

static int search_key(struct ps *s, struct imap_search_key **k_r)
{
	if (count_arg(s) < 0)
		return -1;
	if (peek(s, '(')) {
		struct keyv kv = { 0 };
		if (plist(s, false, key_item, &kv) < 0)
			return -1;
		struct imap_search_key *k = new_key(s, IMAP_SK_AND);
		k->list = kv.v;
		k->n = kv.n;
		*k_r = k;
		return 0;
	}
	if (peek(s, '$') || peek(s, '*') || (!at_end(s) && *s->p >= '1' && *s->p <= '9')) {
		struct imap_search_key *k = new_key(s, IMAP_SK_SEQSET);
		if (seqset(s, &k->set) < 0)
			return -1;
		*k_r = k;
		return 0;
	}
	for (size_t i = 0; i < sizeof search_words / sizeof search_words[0]; i++) {
		if (!take_kw(s, search_words[i].name))
			continue;
		struct imap_search_key *k = new_key(s, search_words[i].kind);
		*k_r = k;
		char arg = search_words[i].arg;
		if (arg == 0)
			return 0;
		if (sp(s) < 0)
			return -1;
		switch (arg) {
		case 's':
			return (k->str = astring(s)) == NULL ? -1 : 0;
		case 'h':
			if ((k->str = astring(s)) == NULL || sp(s) < 0)
				return -1;
			return (k->str2 = astring(s)) == NULL ? -1 : 0;
		case 'f':
			return (k->str = atom(s, NULL, "keyword")) == NULL ? -1 : 0;
		case 'd':
			return date(s, &k->date);
		case 'n':
			return number64(s, &k->num);
		case 'z': {
			uint32_t v = 0;
			if (nz_number32(s, &v) < 0)
				return -1;
			k->num = v;
			return 0;
		}
		case 'u':
			return seqset(s, &k->set);
		case 'N':
			if (enter(s) < 0 || search_key(s, &k->a) < 0)
				return -1;
			s->depth--;
			return 0;
		case 'O':
			if (enter(s) < 0 || search_key(s, &k->a) < 0 || sp(s) < 0 ||
					search_key(s, &k->b) < 0)
				return -1;
			s->depth--;
			return 0;
		case 'm':
			/* RFC 7162 §3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer */
			if (peek(s, '"')) {
				struct imap_string v;
				if (string(s, &v) < 0 || sp(s) < 0)
					return -1;
				k->str = v.p;
				const char *t = atom(s, NULL, "entry type");
				if (t == NULL)
					return -1;
				if (!word_is(t, "priv") && !word_is(t, "shared") && !word_is(t, "all"))
					return bad(s, "entry type priv, shared or all");
				k->str2 = t;
				if (sp(s) < 0)
					return -1;
			}
			return number64(s, &k->num);
		}
	}
	return bad(s, "search key");
}

/* search (§9, RFC 4731 §3 search-return-opts, RFC 3501 CHARSET) */
static int ret_item(struct ps *s, void *ctx)
{
	unsigned *ret = ctx;
	static const struct { const char *w; unsigned bit; } opts[] = {
		{ "MIN", IMAP_SR_MIN }, { "MAX", IMAP_SR_MAX }, { "ALL", IMAP_SR_ALL },
		{ "COUNT", IMAP_SR_COUNT }, { "SAVE", IMAP_SR_SAVE },
	};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (take_kw(s, opts[i].w)) {
			*ret |= opts[i].bit;
			return count_arg(s);
		}
	return bad(s, "RETURN option MIN, MAX, ALL, COUNT or SAVE");
}

static int search_program(struct ps *s, struct imap_search *sr, bool charset_required)
{
	if (charset_required) {
		if ((sr->charset = astring(s)) == NULL || sp(s) < 0)
			return -1;
	} else {
		if (take_kw(s, "RETURN")) {
			sr->esearch = true;
			if (sp(s) < 0 || plist(s, true, ret_item, &sr->ret) < 0 || sp(s) < 0)
				return -1;
		}
		if (take_kw(s, "CHARSET")) {
			if (sp(s) < 0 || (sr->charset = astring(s)) == NULL || sp(s) < 0)
				return -1;
		}
	}
	struct keyv kv = { 0 };
	for (;;) {
		struct imap_search_key *k;
		if (search_key(s, &k) < 0)
			return -1;
		keyv_push(s, &kv, k);
		if (!take(s, ' '))
			break;
	}
	sr->key = new_key(s, IMAP_SK_AND);
	sr->key->list = kv.v;
	sr->key->n = kv.n;
	return 0;
}

/* ---- FETCH (§6.4.5, §9 fetch-att, section, partial) ---- */

struct attv {
	struct imap_fetch_att *v;
	size_t n, cap;
};

static struct imap_fetch_att *att_push(struct ps *s, struct attv *av, enum imap_fetch_kind kind)
{
	av->v = arena_grow(s->a, av->v, av->n, &av->cap, sizeof(*av->v), 8);
	struct imap_fetch_att *f = &av->v[av->n++];
	memset(f, 0, sizeof *f);
	f->kind = kind;
	f->part = "";
	return f;
}

static int header_name(struct ps *s, void *ctx)
{
	const char *h = astring(s);
	if (h == NULL)
		return -1;
	strv_push(ctx, h);
	return 0;
}

/* section = "[" [section-spec] "]"; section-binary = "[" [section-part] "]" */
static int section(struct ps *s, struct imap_fetch_att *f, bool binary)
{
	if (need(s, '[', "[") < 0)
		return -1;
	const char *b = s->p;
	while (!at_end(s) && *s->p >= '1' && *s->p <= '9') {
		uint32_t v = 0;
		if (nz_number32(s, &v) < 0)
			return -1;
		if (!take(s, '.'))
			break;
		if (at_end(s) || !(*s->p >= '1' && *s->p <= '9')) {
			s->p--;
			break;
		}
	}
	if (s->p > b)
		f->part = arena_strndup(s->a, b, (size_t)(s->p - b));
	bool dot = s->p > b && take(s, '.');
	if (!binary && (s->p == b || dot) && !peek(s, ']')) {
		if (take_kw(s, "HEADER.FIELDS.NOT"))
			f->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		else if (take_kw(s, "HEADER.FIELDS"))
			f->text = IMAP_SECTION_HEADER_FIELDS;
		else if (take_kw(s, "HEADER"))
			f->text = IMAP_SECTION_HEADER;
		else if (take_kw(s, "TEXT"))
			f->text = IMAP_SECTION_TEXT;
		else if (s->p > b && take_kw(s, "MIME"))
			f->text = IMAP_SECTION_MIME;
		else
			return bad(s, "section-text");
		if (f->text == IMAP_SECTION_HEADER_FIELDS || f->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
			struct strv sv = { .a = s->a };
			if (sp(s) < 0 || plist(s, false, header_name, &sv) < 0)
				return -1;
			f->fields = sv.v;
			f->n_fields = sv.n;
		}
	} else if (dot) {
		return bad(s, "section-text after \".\"");
	}
	return need(s, ']', "]");
}

/* partial = "<" number64 "." nz-number64 ">" (rev2; rev1 numbers are 32-bit) */
static int partial(struct ps *s, struct imap_fetch_att *f)
{
	if (!take(s, '<'))
		return 0;
	f->partial = true;
	if (number32(s, &f->offset) < 0 || need(s, '.', ".") < 0 || nz_number32(s, &f->count) < 0)
		return -1;
	return need(s, '>', ">");
}

static const struct { const char *name; enum imap_fetch_kind kind; } fetch_words[] = {
	{ "ENVELOPE", IMAP_FA_ENVELOPE }, { "FLAGS", IMAP_FA_FLAGS },
	{ "INTERNALDATE", IMAP_FA_INTERNALDATE }, { "RFC822.HEADER", IMAP_FA_RFC822_HEADER },
	{ "RFC822.SIZE", IMAP_FA_RFC822_SIZE }, { "RFC822.TEXT", IMAP_FA_RFC822_TEXT },
	{ "RFC822", IMAP_FA_RFC822 }, { "BODYSTRUCTURE", IMAP_FA_BODYSTRUCTURE },
	{ "UID", IMAP_FA_UID }, { "MODSEQ", IMAP_FA_MODSEQ }, { "SAVEDATE", IMAP_FA_SAVEDATE },
	{ "EMAILID", IMAP_FA_EMAILID }, { "THREADID", IMAP_FA_THREADID },
};

static int fetch_att(struct ps *s, void *ctx)
{
	struct attv *av = ctx;
	if (count_arg(s) < 0)
		return -1;
	if (take_kw(s, "BINARY.SIZE")) {
		struct imap_fetch_att *f = att_push(s, av, IMAP_FA_BINARY_SIZE);
		return section(s, f, true);
	}
	bool binary = false, peek_ = false;
	if ((binary = take_kw(s, "BINARY.PEEK")) || take_kw(s, "BODY.PEEK"))
		peek_ = true;
	else if (!(binary = take_kw(s, "BINARY")) && !take_kw(s, "BODY")) {
		if (take_kw(s, "PREVIEW")) {
			struct imap_fetch_att *f = att_push(s, av, IMAP_FA_PREVIEW);
			/* RFC 8970 §3: PREVIEW [SP "(" "LAZY" ")"] */
			if (peek(s, ' ') && s->p + 1 < s->end && s->p[1] == '(') {
				s->p++;
				if (need(s, '(', "(") < 0 || !take_kw(s, "LAZY"))
					return bad(s, "LAZY");
				f->lazy = true;
				return need(s, ')', ")");
			}
			return 0;
		}
		for (size_t i = 0; i < sizeof fetch_words / sizeof fetch_words[0]; i++)
			if (take_kw(s, fetch_words[i].name)) {
				att_push(s, av, fetch_words[i].kind);
				return 0;
			}
		return bad(s, "fetch attribute");
	}
	if (!binary && !peek_ && !peek(s, '[')) {
		att_push(s, av, IMAP_FA_BODY);
		return 0;
	}
	struct imap_fetch_att *f = att_push(s, av, binary ? IMAP_FA_BINARY : IMAP_FA_BODY_SECTION);
	f->peek = peek_;
	if (section(s, f, binary) < 0)
		return -1;
	return partial(s, f);
}

/* fetch-modifiers (RFC 7162 §3.1.4.1, §3.2.6; RFC 4466 §2.4) */
static int fetch_modifier(struct ps *s, void *ctx)
{
	struct imap_fetch *fe = ctx;
	if (take_kw(s, "CHANGEDSINCE")) {
		fe->has_changedsince = true;
		return sp(s) < 0 ? -1 : number64(s, &fe->changedsince);
	}
	if (take_kw(s, "VANISHED")) {
		fe->vanished = true;
		return count_arg(s);
	}
	return bad(s, "fetch modifier CHANGEDSINCE or VANISHED");
}

static int parse_fetch(struct ps *s)
{
	struct imap_fetch *fe = &s->cmd->fetch;
	if (seqset(s, &fe->set) < 0 || sp(s) < 0)
		return -1;
	struct attv av = { 0 };
	if (peek(s, '(')) {
		if (plist(s, false, fetch_att, &av) < 0)
			return -1;
	} else if ((fe->macro_all = take_kw(s, "ALL")) || (fe->macro_fast = take_kw(s, "FAST")) ||
			(fe->macro_full = take_kw(s, "FULL"))) {
		/* §6.4.5 macros: FAST = (FLAGS INTERNALDATE RFC822.SIZE), ALL adds
		 * ENVELOPE, FULL adds ENVELOPE BODY. */
		att_push(s, &av, IMAP_FA_FLAGS);
		att_push(s, &av, IMAP_FA_INTERNALDATE);
		att_push(s, &av, IMAP_FA_RFC822_SIZE);
		if (!fe->macro_fast)
			att_push(s, &av, IMAP_FA_ENVELOPE);
		if (fe->macro_full)
			att_push(s, &av, IMAP_FA_BODY);
		if (count_arg(s) < 0)
			return -1;
	} else if (fetch_att(s, &av) < 0) {
		return -1;
	}
	fe->atts = av.v;
	fe->n_atts = av.n;
	if (take(s, ' ') && plist(s, false, fetch_modifier, fe) < 0)
		return -1;
	if (fe->vanished && (!s->cmd->uid || !fe->has_changedsince))
		return bad(s, "VANISHED only in UID FETCH with CHANGEDSINCE (RFC 7162 §3.2.6)");
	return 0;
}

/* ---- STORE (§6.4.6; UNCHANGEDSINCE RFC 7162 §3.1.3) ---- */

static int store_modifier(struct ps *s, void *ctx)
{
	struct imap_store *st = ctx;
	if (!take_kw(s, "UNCHANGEDSINCE"))
		return bad(s, "store modifier UNCHANGEDSINCE");
	st->has_unchangedsince = true;
	return sp(s) < 0 ? -1 : number64(s, &st->unchangedsince);
}

static int parse_store(struct ps *s)
{
	struct imap_store *st = &s->cmd->store;
	if (seqset(s, &st->set) < 0 || sp(s) < 0)
		return -1;
	if (peek(s, '(')) {
		if (plist(s, false, store_modifier, st) < 0 || sp(s) < 0)
			return -1;
	}
	st->mode = take(s, '+') ? IMAP_STORE_ADD : take(s, '-') ? IMAP_STORE_REMOVE : IMAP_STORE_SET;
	if (take_kw(s, "FLAGS.SILENT"))
		st->silent = true;
	else if (!take_kw(s, "FLAGS"))
		return bad(s, "FLAGS or FLAGS.SILENT");
	if (sp(s) < 0)
		return -1;
	if (peek(s, '('))
		return flag_list(s, &st->flags, &st->n_flags);
	struct strv sv = { .a = s->a };
	for (;;) {
		if (flag_item(s, &sv) < 0)
			return -1;
		if (!take(s, ' '))
			break;
	}
	st->flags = sv.v;
	st->n_flags = sv.n;
	return 0;
}

/* ---- mailbox commands ---- */

static int parse_mailbox_only(struct ps *s)
{
	return (s->cmd->mailbox = mailbox(s)) == NULL ? -1 : 0;
}

/* select-params (RFC 4466 §2.1, RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC):
 * "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] ")"; seq-match-data = "(" known-sequence-set SP
 * known-uid-set ")" */
static int select_param(struct ps *s, void *ctx)
{
	struct imap_select *se = ctx;
	if (take_kw(s, "CONDSTORE")) {
		se->condstore = true;
		return count_arg(s);
	}
	if (!take_kw(s, "QRESYNC"))
		return bad(s, "select parameter CONDSTORE or QRESYNC");
	se->qresync = true;
	if (sp(s) < 0 || need(s, '(', "(") < 0 || enter(s) < 0)
		return -1;
	if (nz_number32(s, &se->uidvalidity) < 0 || sp(s) < 0 || number64(s, &se->modseq) < 0)
		return -1;
	if (se->modseq == 0)
		return bad(s, "non-zero mod-sequence");
	if (take(s, ' ')) {
		if (!peek(s, '(') && seqset(s, &se->known_uids) < 0)
			return -1;
		if (peek(s, '(') || (take(s, ' ') && peek(s, '('))) {
			if (need(s, '(', "(") < 0 || seqset(s, &se->match_seq) < 0 || sp(s) < 0 ||
					seqset(s, &se->match_uid) < 0 || need(s, ')', ")") < 0)
				return -1;
		}
	}
	s->depth--;
	return need(s, ')', ")");
}

static int parse_select(struct ps *s)
{
	struct imap_select *se = &s->cmd->select;
	if ((se->mailbox = mailbox(s)) == NULL)
		return -1;
	s->cmd->mailbox = se->mailbox;
	if (take(s, ' ') && plist(s, false, select_param, se) < 0)
		return -1;
	return 0;
}

/* create (RFC 6154 §3: create-param "USE" SP "(" use-attr *(SP use-attr) ")") */
static int create_param(struct ps *s, void *ctx)
{
	(void)ctx;
	if (!take_kw(s, "USE"))
		return bad(s, "create parameter USE");
	if (sp(s) < 0)
		return -1;
	return flag_list(s, &s->cmd->use, &s->cmd->n_use);
}

static int parse_create(struct ps *s)
{
	if (parse_mailbox_only(s) < 0)
		return -1;
	if (take(s, ' ') && plist(s, false, create_param, NULL) < 0)
		return -1;
	return 0;
}

static int parse_rename(struct ps *s)
{
	if ((s->cmd->mailbox = mailbox(s)) == NULL || sp(s) < 0)
		return -1;
	return (s->cmd->mailbox2 = mailbox_bit(s, IMAP_UNDECODABLE_MAILBOX2)) == NULL ? -1 : 0;
}

/* STATUS items (§6.3.11, §9 status-att) */
static int status_item(struct ps *s, void *ctx)
{
	unsigned *items = ctx;
	static const struct { const char *w; unsigned bit; } att[] = {
		{ "MESSAGES", IMAP_ST_MESSAGES }, { "UIDNEXT", IMAP_ST_UIDNEXT },
		{ "UIDVALIDITY", IMAP_ST_UIDVALIDITY }, { "UNSEEN", IMAP_ST_UNSEEN },
		{ "DELETED", IMAP_ST_DELETED }, { "SIZE", IMAP_ST_SIZE }, { "RECENT", IMAP_ST_RECENT },
		{ "HIGHESTMODSEQ", IMAP_ST_HIGHESTMODSEQ }, { "APPENDLIMIT", IMAP_ST_APPENDLIMIT },
	};
	for (size_t i = 0; i < sizeof att / sizeof att[0]; i++)
		if (take_kw(s, att[i].w)) {
			*items |= att[i].bit;
			return count_arg(s);
		}
	return bad(s, "status attribute");
}

static int parse_status(struct ps *s)
{
	if (parse_mailbox_only(s) < 0 || sp(s) < 0)
		return -1;
	return plist(s, false, status_item, &s->cmd->status_items);
}

/* LIST (§6.3.9, RFC 5258 §3 list-select-opts, list-return-opts; RFC 5819) */
static int list_select_opt(struct ps *s, void *ctx)
{
	struct imap_list *l = ctx;
	if (take_kw(s, "SUBSCRIBED"))
		l->select |= IMAP_LS_SUBSCRIBED;
	else if (take_kw(s, "REMOTE"))
		l->select |= IMAP_LS_REMOTE;
	else if (take_kw(s, "RECURSIVEMATCH"))
		l->select |= IMAP_LS_RECURSIVEMATCH;
	else if (take_kw(s, "SPECIAL-USE"))
		l->select |= IMAP_LS_SPECIAL_USE;
	else
		return bad(s, "LIST selection option");
	return count_arg(s);
}

static int list_return_opt(struct ps *s, void *ctx)
{
	struct imap_list *l = ctx;
	if (take_kw(s, "SUBSCRIBED"))
		l->ret |= IMAP_LR_SUBSCRIBED;
	else if (take_kw(s, "CHILDREN"))
		l->ret |= IMAP_LR_CHILDREN;
	else if (take_kw(s, "SPECIAL-USE"))
		l->ret |= IMAP_LR_SPECIAL_USE;
	else if (take_kw(s, "MYRIGHTS"))
		l->ret |= IMAP_LR_MYRIGHTS;
	else if (take_kw(s, "STATUS")) {
		l->ret |= IMAP_LR_STATUS;
		if (sp(s) < 0 || plist(s, false, status_item, &l->status_items) < 0)
			return -1;
	} else
		return bad(s, "LIST return option");
	return count_arg(s);
}

/* A pattern that is not valid modified UTF-7 matches no name that can
 * exist: it is left out of the list (and counted in undecodable). */
static int pattern_item(struct ps *s, void *ctx)
{
	bool undecodable;
	const char *m = list_mailbox(s, &undecodable);
	if (m == NULL)
		return -1;
	if (undecodable)
		s->cmd->undecodable |= IMAP_UNDECODABLE_PATTERN;
	else
		strv_push(ctx, m);
	return 0;
}

static int parse_list(struct ps *s)
{
	struct imap_list *l = &s->cmd->list;
	bool lsub = s->cmd->cmd == IMAP_CMD_LSUB;
	if (!lsub && peek(s, '(')) {
		l->extended = true;
		if (plist(s, true, list_select_opt, l) < 0 || sp(s) < 0)
			return -1;
		if ((l->select & IMAP_LS_RECURSIVEMATCH) &&
				!(l->select & (IMAP_LS_SUBSCRIBED | IMAP_LS_SPECIAL_USE)))
			return bad(s, "RECURSIVEMATCH with another selection option (RFC 5258 §3)");
	}
	if ((l->reference = mailbox_bit(s, IMAP_UNDECODABLE_REFERENCE)) == NULL || sp(s) < 0)
		return -1;
	struct strv sv = { .a = s->a };
	if (!lsub && peek(s, '(')) {
		l->extended = true;
		if (plist(s, false, pattern_item, &sv) < 0)
			return -1;
	} else if (pattern_item(s, &sv) < 0) {
		return -1;
	}
	l->patterns = sv.v;
	l->n_patterns = sv.n;
	if (!lsub && take(s, ' ')) {
		l->extended = true;
		if (!take_kw(s, "RETURN") || sp(s) < 0)
			return bad(s, "RETURN");
		if (plist(s, true, list_return_opt, l) < 0)
			return -1;
	}
	return 0;
}

/* APPEND (§6.3.12; RFC 3502 MULTIAPPEND; RFC 6855 §4 UTF8; RFC 3516 §4.4) */
static int append_message(struct ps *s, struct imap_append_msg *m)
{
	if (peek(s, '(')) {
		if (flag_list(s, &m->flags, &m->n_flags) < 0 || sp(s) < 0)
			return -1;
	}
	if (peek(s, '"')) {
		m->has_date = true;
		if (date_time(s, &m->date) < 0 || sp(s) < 0)
			return -1;
	}
	struct imap_string v;
	if (count_arg(s) < 0)
		return -1;
	if (take_kw(s, "UTF8")) {
		/* append-data =/ "UTF8" SP "(" literal8 ")" */
		m->utf8 = true;
		if (sp(s) < 0 || need(s, '(', "(") < 0)
			return -1;
		if (!peek(s, '~'))
			return bad(s, "literal8 in UTF8 (...)");
		if (literal(s, true, &v, &m->binary) < 0 || need(s, ')', ")") < 0)
			return -1;
	} else {
		if (!peek(s, '{') && !peek(s, '~'))
			return bad(s, "message literal");
		if (literal(s, true, &v, &m->binary) < 0)
			return -1;
	}
	m->data = v.p;
	m->size = v.n;
	return 0;
}

static int parse_append(struct ps *s)
{
	if (parse_mailbox_only(s) < 0 || sp(s) < 0)
		return -1;
	size_t cap = 0;
	do {
		s->cmd->msgs = arena_grow(s->a, s->cmd->msgs, s->cmd->n_msgs, &cap, sizeof(*s->cmd->msgs), 2);
		struct imap_append_msg *m = &s->cmd->msgs[s->cmd->n_msgs++];
		memset(m, 0, sizeof *m);
		if (append_message(s, m) < 0)
			return -1;
	} while (take(s, ' '));
	return 0;
}

/* REPLACE (RFC 8508 §6): seq-number/uid SP mailbox SP append-message */
/* replace (RFC 8508 §6): seq-number SP mailbox append-message; seq-number
 * (RFC 9051 §9) allows "*", kept as 0 like other sequence sets. */
static int parse_replace(struct ps *s)
{
	struct imap_seq_range *r = arena_alloc(s->a, sizeof *r);
	if (seq_number(s, &r->first) < 0 || sp(s) < 0)
		return -1;
	r->last = r->first;
	s->cmd->set.r = r;
	s->cmd->set.n = 1;
	if (parse_mailbox_only(s) < 0 || sp(s) < 0)
		return -1;
	s->cmd->msgs = arena_alloc(s->a, sizeof *s->cmd->msgs);
	s->cmd->n_msgs = 1;
	return append_message(s, s->cmd->msgs);
}

static int parse_copy(struct ps *s)
{
	if (seqset(s, &s->cmd->set) < 0 || sp(s) < 0)
		return -1;
	return parse_mailbox_only(s);
}

/* ---- session commands ---- */

/* authenticate (§6.2.2; SASL-IR RFC 4959 §3): auth-type [SP (base64 / "=")] */
static int parse_authenticate(struct ps *s)
{
	if ((s->cmd->mech = atom(s, NULL, "SASL mechanism")) == NULL)
		return -1;
	upper((char *)s->cmd->mech);
	if (!take(s, ' '))
		return 0;
	const char *b = s->p;
	if (take(s, '=') && at_end(s)) {
		s->cmd->initial = "";
		return count_arg(s);
	}
	s->p = b;
	while (!at_end(s) && (strchr("+/=", *s->p) != NULL || (*s->p >= 'A' && *s->p <= 'Z') ||
			(*s->p >= 'a' && *s->p <= 'z') || (*s->p >= '0' && *s->p <= '9')))
		s->p++;
	if (s->p == b)
		return bad(s, "base64 initial response");
	s->cmd->initial = arena_strndup(s->a, b, (size_t)(s->p - b));
	return count_arg(s);
}

static int parse_login(struct ps *s)
{
	if ((s->cmd->user = astring(s)) == NULL || sp(s) < 0)
		return -1;
	return (s->cmd->password = astring(s)) == NULL ? -1 : 0;
}

/* enable (RFC 5161 §3.1): 1*(SP capability) */
static int parse_enable(struct ps *s)
{
	struct strv sv = { .a = s->a };
	do {
		const char *w = atom(s, NULL, "capability");
		if (w == NULL)
			return -1;
		strv_push(&sv, upper((char *)w));
	} while (take(s, ' '));
	s->cmd->words = sv.v;
	s->cmd->n_words = sv.n;
	return 0;
}

/* id (RFC 2971 §4): "ID" SP ( "(" string SP nstring *(SP string SP nstring) ")" / NIL ) */
static int parse_id(struct ps *s)
{
	if (take_kw(s, "NIL")) {
		s->cmd->id_nil = true;
		return count_arg(s);
	}
	struct strv k = { .a = s->a }, v = { .a = s->a };
	if (need(s, '(', "( or NIL") < 0)
		return -1;
	if (take(s, ')'))  /* "()" is seen in the wild; RFC 2971 wants NIL */
		goto out;
	for (;;) {
		struct imap_string key;
		const char *val;
		size_t val_n;
		if (string(s, &key) < 0 || sp(s) < 0 || nstring_n(s, &val, &val_n) < 0)
			return -1;
		/* RFC 2971 §3.3: "Field strings MUST NOT be longer than 30
		 * octets. Value strings MUST NOT be longer than 1024 octets.
		 * Implementations MUST NOT send more than 30 field-value pairs." */
		if (k.n >= IMAP_ID_PAIRS_MAX)
			return error_set(s->e, ERR_LIMIT, "ID: more than %d field-value pairs",
				IMAP_ID_PAIRS_MAX);
		if (key.n > IMAP_ID_FIELD_MAX)
			return error_set(s->e, ERR_LIMIT, "ID: field longer than %d octets",
				IMAP_ID_FIELD_MAX);
		if (val_n > IMAP_ID_VALUE_MAX)
			return error_set(s->e, ERR_LIMIT, "ID: value longer than %d octets",
				IMAP_ID_VALUE_MAX);
		strv_push(&k, key.p);
		strv_push(&v, val);
		if (take(s, ')'))
			break;
		if (sp(s) < 0)
			return -1;
	}
out:
	s->cmd->words = k.v;
	s->cmd->values = v.v;
	s->cmd->n_words = k.n;
	return 0;
}

/* SORT (RFC 5256 §3; DISPLAYFROM/DISPLAYTO RFC 5957) */
static int sort_crit(struct ps *s, void *ctx)
{
	struct imap_command *c = ctx;
	static const char *const keys[] = { "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT",
		"TO", "DISPLAYFROM", "DISPLAYTO" };
	bool rev = false;
	if (take_kw(s, "REVERSE")) {
		rev = true;
		if (sp(s) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (take_kw(s, keys[i])) {
			struct imap_sort_crit *v = arena_alloc(s->a, (c->n_sort + 1) * sizeof *v);
			if (c->n_sort)
				memcpy(v, c->sort, c->n_sort * sizeof *v);
			v[c->n_sort++] = (struct imap_sort_crit){ rev, keys[i] };
			c->sort = v;
			return count_arg(s);
		}
	return bad(s, "sort key");
}

static int parse_sort(struct ps *s)
{
	if (plist(s, false, sort_crit, s->cmd) < 0 || sp(s) < 0)
		return -1;
	return search_program(s, &s->cmd->search, true);
}

/* THREAD (RFC 5256 §4): thread-alg SP search-criteria (charset first) */
static int parse_thread(struct ps *s)
{
	if ((s->cmd->thread_alg = atom(s, NULL, "thread algorithm")) == NULL)
		return -1;
	upper((char *)s->cmd->thread_alg);
	if (strcmp(s->cmd->thread_alg, "ORDEREDSUBJECT") != 0 &&
			strcmp(s->cmd->thread_alg, "REFERENCES") != 0)
		return bad(s, "ORDEREDSUBJECT or REFERENCES");
	if (sp(s) < 0)
		return -1;
	return search_program(s, &s->cmd->search, true);
}

/* QUOTA (RFC 9208 §4.1-4.3) */
static int quota_item(struct ps *s, void *ctx)
{
	struct imap_command *c = ctx;
	const char *name = atom(s, NULL, "resource name");
	if (name == NULL || sp(s) < 0)
		return -1;
	struct imap_quota_res *v = arena_alloc(s->a, (c->n_quota + 1) * sizeof *v);
	if (c->n_quota)
		memcpy(v, c->quota, c->n_quota * sizeof *v);
	v[c->n_quota].name = upper((char *)name);
	c->quota = v;
	return number64(s, &c->quota[c->n_quota++].limit);
}

static int parse_setquota(struct ps *s)
{
	if ((s->cmd->name = astring(s)) == NULL || sp(s) < 0)
		return -1;
	return plist(s, true, quota_item, s->cmd);
}

static int parse_getquota(struct ps *s)
{
	return (s->cmd->name = astring(s)) == NULL ? -1 : 0;
}

static int parse_compress(struct ps *s)
{
	/* RFC 4978 §3: "COMPRESS" SP algorithm */
	if ((s->cmd->mech = atom(s, NULL, "compression algorithm")) == NULL)
		return -1;
	upper((char *)s->cmd->mech);
	return 0;
}

static int parse_search(struct ps *s)
{
	return search_program(s, &s->cmd->search, false);
}

static int parse_uid_expunge(struct ps *s)
{
	return seqset(s, &s->cmd->set);
}

struct cmd_row {
	const char *name;
	enum imap_cmd cmd;
	int (*args)(struct ps *s);   /* NULL: no arguments */
	bool uid_ok;
};

static const struct cmd_row cmds[] = {
	{ "CAPABILITY", IMAP_CMD_CAPABILITY, NULL, false },
	{ "NOOP", IMAP_CMD_NOOP, NULL, false },
	{ "LOGOUT", IMAP_CMD_LOGOUT, NULL, false },
	{ "STARTTLS", IMAP_CMD_STARTTLS, NULL, false },
	{ "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, parse_authenticate, false },
	{ "LOGIN", IMAP_CMD_LOGIN, parse_login, false },
	{ "ENABLE", IMAP_CMD_ENABLE, parse_enable, false },
	{ "SELECT", IMAP_CMD_SELECT, parse_select, false },
	{ "EXAMINE", IMAP_CMD_EXAMINE, parse_select, false },
	{ "CREATE", IMAP_CMD_CREATE, parse_create, false },
	{ "DELETE", IMAP_CMD_DELETE, parse_mailbox_only, false },
	{ "RENAME", IMAP_CMD_RENAME, parse_rename, false },
	{ "SUBSCRIBE", IMAP_CMD_SUBSCRIBE, parse_mailbox_only, false },
	{ "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, parse_mailbox_only, false },
	{ "LIST", IMAP_CMD_LIST, parse_list, false },
	{ "LSUB", IMAP_CMD_LSUB, parse_list, false },
	{ "NAMESPACE", IMAP_CMD_NAMESPACE, NULL, false },
	{ "STATUS", IMAP_CMD_STATUS, parse_status, false },
	{ "APPEND", IMAP_CMD_APPEND, parse_append, false },
	{ "IDLE", IMAP_CMD_IDLE, NULL, false },
	{ "CHECK", IMAP_CMD_CHECK, NULL, false },
	{ "CLOSE", IMAP_CMD_CLOSE, NULL, false },
	{ "UNSELECT", IMAP_CMD_UNSELECT, NULL, false },
	{ "EXPUNGE", IMAP_CMD_EXPUNGE, NULL, true },
	{ "SEARCH", IMAP_CMD_SEARCH, parse_search, true },
	{ "FETCH", IMAP_CMD_FETCH, parse_fetch, true },
	{ "STORE", IMAP_CMD_STORE, parse_store, true },
	{ "COPY", IMAP_CMD_COPY, parse_copy, true },
	{ "MOVE", IMAP_CMD_MOVE, parse_copy, true },
	{ "SORT", IMAP_CMD_SORT, parse_sort, true },
	{ "THREAD", IMAP_CMD_THREAD, parse_thread, true },
	{ "GETQUOTA", IMAP_CMD_GETQUOTA, parse_getquota, false },
	{ "GETQUOTAROOT", IMAP_CMD_GETQUOTAROOT, parse_mailbox_only, false },
	{ "SETQUOTA", IMAP_CMD_SETQUOTA, parse_setquota, false },
	{ "ID", IMAP_CMD_ID, parse_id, false },
	{ "COMPRESS", IMAP_CMD_COMPRESS, parse_compress, false },
	{ "UNAUTHENTICATE", IMAP_CMD_UNAUTHENTICATE, NULL, false },
	{ "REPLACE", IMAP_CMD_REPLACE, parse_replace, true },
};

const char *imap_cmd_name(enum imap_cmd cmd)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (cmds[i].cmd == cmd)
			return cmds[i].name;
	return "?";
}

const struct cmd_row *imap_cmd_lookup(const char *p, size_t n, bool uid)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strlen(cmds[i].name) == n && strncasecmp(cmds[i].name, p, n) == 0)
			return (uid && !cmds[i].uid_ok) ? NULL : &cmds[i];
	return NULL;
}

int imap_command_parse(const char *p, size_t len, unsigned flags, size_t args_max,
	unsigned depth_max, struct arena *a, struct imap_command *cmd_r, struct error *e)
{
	memset(cmd_r, 0, sizeof *cmd_r);
	struct ps s = { .start = p, .p = p, .end = p + len, .flags = flags,
		.args_max = args_max ? args_max : IMAP_ARGS_MAX_DEFAULT,
		.depth_max = depth_max ? depth_max : IMAP_DEPTH_MAX_DEFAULT,
		.a = a, .cmd = cmd_r, .e = e };
	/* tag = 1*<any ASTRING-CHAR except "+"> */
	size_t n;
	const char *t = run(&s, "]", &n);
	if (t == NULL || memchr(t, '+', n) != NULL)
		return error_set(e, ERR_INVALID, "at offset 0: expected a tag");
	cmd_r->tag = arena_strndup(a, t, n);
	if (sp(&s) < 0)
		return -1;
	const char *w = run(&s, NULL, &n);
	if (w == NULL)
		return bad(&s, "command name");
	bool uid = false;
	if (n == 3 && strncasecmp(w, "UID", 3) == 0) {
		uid = true;
		if (sp(&s) < 0)
			return -1;
		if ((w = run(&s, NULL, &n)) == NULL)
			return bad(&s, "command name after UID");
	}
	const struct cmd_row *row = imap_cmd_lookup(w, n, uid);
	if (row == NULL)
		return error_set(e, ERR_INVALID, "unknown command %s%.*s", uid ? "UID " : "",
			(int)(n > 40 ? 40 : n), w);
	cmd_r->cmd = row->cmd;
	cmd_r->uid = uid;
	if (row->args != NULL) {
		if (uid && row->cmd == IMAP_CMD_EXPUNGE) {
			if (sp(&s) < 0 || parse_uid_expunge(&s) < 0)
				return -1;
		} else if (row->cmd != IMAP_CMD_EXPUNGE) {
			if (sp(&s) < 0 || row->args(&s) < 0)
				return -1;
		}
	} else if (uid && row->cmd == IMAP_CMD_EXPUNGE) {
		if (sp(&s) < 0 || parse_uid_expunge(&s) < 0)
			return -1;
	}
	if (!at_end(&s))
		return bad(&s, "end of command");
	return 0;
}
