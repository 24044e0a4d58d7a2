/*
 * mailbox.c: the mailbox commands of RFC 9051 §6.3: LIST (§6.3.9, with
 * LIST-EXTENDED RFC 5258, CHILDREN RFC 3348, SPECIAL-USE RFC 6154,
 * LIST-STATUS RFC 5819), LSUB (RFC 3501 §6.3.9, IMAP4rev1 only), STATUS
 * (§6.3.11, STATUS=SIZE RFC 8438, HIGHESTMODSEQ RFC 7162, APPENDLIMIT RFC
 * 7889), CREATE (§6.3.4, CREATE-SPECIAL-USE RFC 6154 §3), DELETE (§6.3.5),
 * RENAME (§6.3.6), SUBSCRIBE, UNSUBSCRIBE (§6.3.7, §6.3.8) and NAMESPACE
 * (RFC 2342, §6.3.10).
 *
 * Names: tern keeps mailbox names in UTF-8 with "/" as the only hierarchy
 * delimiter and INBOX as "Inbox"; clients see "INBOX" (RFC 9051 §5.1), in
 * modified UTF-7 unless the session is rev2 or UTF8=ACCEPT (imap_write_mailbox
 * with s->out.imap_flags). There is one personal namespace with prefix "".
 *
 * The store creates missing parents as \Noselect names, so every level of
 * the hierarchy exists and LIST's "%" needs no synthesized levels; only
 * subscriptions (names that may outlive their mailboxes) need them.
 */
#include "imapserver/internal.h"
#include "imapserver/imapserver.h"

#include "core/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest LIST pattern, reference included: twice the longest name leaves
 * room for wildcards; the matcher's work grows with it. */
#define LIST_PATTERN_MAX (2 * STORE_MAILBOX_NAME_MAX)

/* RFC 6154 §2 special-use attributes and the store's bits. */
static const struct {
	const char *attr;
	unsigned bit;
} special_uses[] = {
	{ "\\Archive", STORE_SPECIAL_ARCHIVE }, { "\\Drafts", STORE_SPECIAL_DRAFTS },
	{ "\\Junk", STORE_SPECIAL_JUNK }, { "\\Sent", STORE_SPECIAL_SENT },
	{ "\\Trash", STORE_SPECIAL_TRASH },
};

#define N_SPECIAL_USES (sizeof special_uses / sizeof special_uses[0])

void imapsrv_result_store_error(struct imapsrv_result *r, const struct error *e)
{
	/* RFC 5530 §3 response codes for the store's error kinds. */
	const char *code;
	switch (e->kind) {
	case ERR_NOTFOUND: code = "NONEXISTENT"; break;
	case ERR_LIMIT: code = store_error_is_quota(e) ? "OVERQUOTA" : "LIMIT"; break;
	case ERR_TEMP: code = "UNAVAILABLE"; break;
	case ERR_INVALID: code = "CANNOT"; break;
	default: code = "SERVERBUG"; break;
	}
	imapsrv_result_set(r, "NO", code, "%s", e->msg);
}

bool imapsrv_name_undecodable(const struct imapsrv_session *s, const struct imap_command *cmd,
                              unsigned bit, const char *code, struct imapsrv_result *r)
{
	if (!(cmd->undecodable & bit))
		return false;
	imapsrv_result_set(r, "NO", code, "%s: the mailbox name is not valid %s",
	                   strcmp(code, "CANNOT") == 0 ? "invalid name" : "no such mailbox",
	                   (s->out.imap_flags & IMAP_UTF8) ? "UTF-8" : "modified UTF-7");
	return true;
}

const char *imapsrv_mailbox_shown(struct arena *a, const char *name)
{
	/* RFC 9051 §5.1: INBOX is case-insensitive; tern shows it upper case. */
	if (strncmp(name, "Inbox", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		return arena_printf(a, "INBOX%s", name + 5);
	return name;
}

/* Writes a mailbox name as the session reads names. Returns 0 or -1. */
static int write_name(struct imapsrv_session *s, struct buf *b, const char *name)
{
	return imap_write_mailbox(b, imapsrv_mailbox_shown(s->cmd_arena, name), s->out.imap_flags);
}

static int send_buf(struct imapsrv_session *s, struct buf *b)
{
	return imapsrv_send(s, b);
}

/*
 * Pattern matching (RFC 9051 §6.3.9): "*" matches zero or more characters,
 * "%" the same but not the hierarchy delimiter "/". The first five characters
 * of INBOX and its children match case-insensitively (§5.1). Worked as a
 * set of pattern positions per name character after runs of wildcards are
 * collapsed to one, so the cost is bounded by pattern length times name
 * length whatever the wildcards; the caller bounds the sum over a command.
 */

/* Most matching steps (pattern positions visited per name character) one
 * LIST or LSUB may take: far above what real patterns need against the
 * largest account, far below what long patterns of many wildcards cost
 * against many long names. */
#define LIST_MATCH_WORK_MAX ((uint64_t)64 << 20)

static bool is_wild(char c)
{
	return c == '*' || c == '%';
}

/* Writes pat with each run of wildcards made one: a run holding a "*" is
 * "*", a run of "%" alone is "%" (both match what the run matched). dst
 * has room for strlen(pat) + 1 bytes. */
static void collapse_wildcards(char *dst, const char *pat)
{
	size_t n = 0;
	for (size_t i = 0; pat[i] != '\0';) {
		if (!is_wild(pat[i])) {
			dst[n++] = pat[i++];
			continue;
		}
		char w = '%';
		for (; is_wild(pat[i]); i++)
			if (pat[i] == '*')
				w = '*';
		dst[n++] = w;
	}
	dst[n] = '\0';
}

static bool char_eq(char p, char n, size_t i, bool inbox)
{
	if (p == n)
		return true;
	if (inbox && i < 5)
		return (p & ~0x20) == (n & ~0x20) && ((p | 0x20) >= 'a' && (p | 0x20) <= 'z');
	return false;
}

/* Adds the positions reachable by letting wildcards match nothing. */
static void close_empty(const char *pat, size_t m, bool *st)
{
	for (size_t j = 0; j < m; j++)
		if (st[j] && is_wild(pat[j]))
			st[j + 1] = true;
}

/* The matcher for a collapsed pattern; adds the steps taken to *work. */
static bool match_collapsed(const char *pat, const char *name, uint64_t *work)
{
	size_t m = strlen(pat), n = strlen(name);
	bool inbox = strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/');
	/* A final "*" reached matches whatever is left. */
	bool star_end = m > 0 && pat[m - 1] == '*';
	bool *cur = calloc(2 * (m + 1), sizeof(bool));
	if (cur == NULL)
		abort();
	bool *next = cur + m + 1;
	cur[0] = true;
	close_empty(pat, m, cur);
	for (size_t i = 0; i < n && !(star_end && cur[m - 1]); i++) {
		memset(next, 0, m + 1);
		bool any = false;
		for (size_t j = 0; j < m; j++) {
			if (!cur[j])
				continue;
			if (pat[j] == '*' || (pat[j] == '%' && name[i] != '/'))
				next[j] = any = true;
			else if (!is_wild(pat[j]) && char_eq(pat[j], name[i], i, inbox))
				next[j + 1] = any = true;
		}
		*work += m + 1;
		close_empty(pat, m, next);
		bool *t = cur;
		cur = next;
		next = t;
		if (!any)
			break;
	}
	bool r = cur[m] || (star_end && cur[m - 1]);
	free(cur < next ? cur : next);
	return r;
}

bool imapsrv_list_match_work(const char *pat, const char *name, uint64_t *work)
{
	char *c = malloc(strlen(pat) + 1);
	if (c == NULL)
		abort();
	collapse_wildcards(c, pat);
	bool r = match_collapsed(c, name, work);
	free(c);
	return r;
}

bool imapsrv_list_match(const char *pat, const char *name)
{
	uint64_t work = 0;
	return imapsrv_list_match_work(pat, name, &work);
}

/*
 * LIST and LSUB.
 */

/* One name LIST may show: a mailbox, a subscription, or both; or the
 * ancestor of a subscription (neither), for RECURSIVEMATCH and LSUB. */
struct entry {
	const char *name;                /* tern's form */
	const struct store_mailbox *mb;  /* NULL: no such mailbox (\NonExistent) */
	bool subscribed;
	bool matched;                    /* by one of the command's patterns */
};

struct listing {
	struct entry *v;
	size_t n, cap;
	struct arena *a;
};

static void listing_add(struct listing *l, const char *name, const struct store_mailbox *mb,
                        bool subscribed)
{
	l->v = arena_grow(l->a, l->v, l->n, &l->cap, sizeof(*l->v), 64);
	l->v[l->n++] = (struct entry){ name, mb, subscribed, false };
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct entry *)x)->name, ((const struct entry *)y)->name);
}

/* Sorts and merges entries of the same name. */
static void listing_merge(struct listing *l)
{
	qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
	size_t out = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (out > 0 && strcmp(l->v[out - 1].name, l->v[i].name) == 0) {
			struct entry *e = &l->v[out - 1];
			if (e->mb == NULL)
				e->mb = l->v[i].mb;
			e->subscribed |= l->v[i].subscribed;
		} else {
			l->v[out++] = l->v[i];
		}
	}
	l->n = out;
}

/* Mailboxes, subscriptions and the ancestors of subscriptions. */
static int listing_load(struct imapsrv_session *s, bool subscriptions, struct listing *l,
                        struct error *e)
{
	struct store_mailbox *mbs;
	size_t nmb;
	l->a = s->cmd_arena;
	if (store_mailbox_list(s->acct, s->cmd_arena, &mbs, &nmb, e) != 0)
		return -1;
	for (size_t i = 0; i < nmb; i++)
		listing_add(l, mbs[i].name, &mbs[i], false);
	if (!subscriptions) {
		listing_merge(l);
		return 0;
	}
	const char **subs;
	size_t nsubs;
	if (store_subscriptions(s->acct, s->cmd_arena, &subs, &nsubs, e) != 0)
		return -1;
	for (size_t i = 0; i < nsubs; i++) {
		listing_add(l, subs[i], NULL, true);
		for (const char *p = strchr(subs[i], '/'); p != NULL; p = strchr(p + 1, '/'))
			listing_add(l, arena_strndup(s->cmd_arena, subs[i], (size_t)(p - subs[i])), NULL,
			            false);
	}
	listing_merge(l);
	return 0;
}

/* Index of the first entry whose name sorts at or after name. */
static size_t listing_lower(const struct listing *l, const char *name)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

typedef bool entry_pred(const struct entry *e, unsigned select);

/* Whether some descendant of entry i satisfies pred. Descendants of "a"
 * sort together from "a/" on (names compare bytewise). */
static bool has_descendant(const struct listing *l, size_t i, entry_pred *pred, unsigned select,
                           struct arena *a)
{
	const char *prefix = arena_printf(a, "%s/", l->v[i].name);
	size_t plen = strlen(prefix);
	for (size_t j = listing_lower(l, prefix); j < l->n; j++) {
		if (strncmp(l->v[j].name, prefix, plen) != 0)
			break;
		if (pred(&l->v[j], select))
			return true;
	}
	return false;
}

static bool exists(const struct entry *e, unsigned select)
{
	(void)select;
	return e->mb != NULL;
}

/* RFC 5258 §3.1: selection options narrow what is listed; SPECIAL-USE: RFC
 * 6154 §5.3. */
static bool selected(const struct entry *e, unsigned select)
{
	if ((select & IMAP_LS_SUBSCRIBED) && !e->subscribed)
		return false;
	if ((select & IMAP_LS_SPECIAL_USE) && (e->mb == NULL || e->mb->special_use == 0))
		return false;
	return (select & IMAP_LS_SUBSCRIBED) || e->mb != NULL;
}

static bool subscribed(const struct entry *e, unsigned select)
{
	(void)select;
	return e->subscribed;
}

/* The combined pattern: RFC 9051 §6.3.9, the reference is prefixed to the
 * pattern (tern has no namespace prefixes: references are plain names). */
static const char *full_pattern(struct imapsrv_session *s, const char *ref, const char *pat)
{
	if (ref[0] == '\0')
		return pat;
	return arena_printf(s->cmd_arena, "%s%s", ref, pat);
}

static bool matches_any(const char *const *pats, size_t n, const char *shown, uint64_t *work)
{
	for (size_t i = 0; i < n; i++)
		if (match_collapsed(pats[i], shown, work))
			return true;
	return false;
}

struct list_job {
	const char *verb;                /* "LIST" or "LSUB" */
	unsigned select, ret, status_items;
	bool lsub;
	const char **pats;
	size_t npats;
	struct listing l;
};

static void append_attrs(struct imapsrv_session *s, const struct list_job *j, size_t i,
                         bool shown_by_child, struct buf *b)
{
	const struct entry *e = &j->l.v[i];
	const char *attrs[4 + N_SPECIAL_USES];
	size_t n = 0;
	if (j->lsub) {
		/* RFC 3501 §6.3.9: a name shown only for its subscribed children,
		 * or one that cannot be selected, is \Noselect. */
		if (shown_by_child || e->mb == NULL || e->mb->noselect)
			attrs[n++] = "\\Noselect";
	} else {
		/* RFC 5258 §3: \NonExistent implies \Noselect. */
		if (e->mb == NULL)
			attrs[n++] = "\\NonExistent";
		else if (e->mb->noselect)
			attrs[n++] = "\\Noselect";
		if (e->subscribed && (j->ret & IMAP_LR_SUBSCRIBED))
			attrs[n++] = "\\Subscribed";
		/* RFC 3348, RFC 5258 §4: children among existing mailboxes; sent
		 * always, as RFC 9051 §7.3.1 lets a server do. */
		attrs[n++] = has_descendant(&j->l, i, exists, 0, s->cmd_arena) ? "\\HasChildren"
		                                                                : "\\HasNoChildren";
		/* RFC 6154 §2: special-use attributes are always shown. */
		for (size_t k = 0; e->mb != NULL && k < N_SPECIAL_USES; k++)
			if (e->mb->special_use & special_uses[k].bit)
				attrs[n++] = special_uses[k].attr;
	}
	imap_write_atom_list(b, attrs, n);
}

/* The STATUS response (RFC 9051 §7.3.4) for mb into b, items as asked. */
static int append_status(struct imapsrv_session *s, const struct store_mailbox *mb,
                         unsigned items, struct buf *b, struct error *e);

static int send_entry(struct imapsrv_session *s, struct list_job *j, size_t i, bool childinfo,
                      bool shown_by_child, struct error *e)
{
	const struct entry *en = &j->l.v[i];
	struct buf *b = &s->wbuf;
	buf_reset(b);
	buf_appendf(b, "* %s ", j->verb);
	append_attrs(s, j, i, shown_by_child, b);
	buf_append_str(b, " \"/\" ");
	if (write_name(s, b, en->name) != 0)
		return error_set(e, ERR_LIMIT, "mailbox name does not fit the response");
	/* RFC 5258 §3.5: CHILDINFO names the selection criteria children met. */
	if (childinfo)
		buf_append_str(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_append_str(b, "\r\n");
	/* RFC 5819 §2: a STATUS response after the LIST response of each
	 * selectable mailbox. */
	if ((j->ret & IMAP_LR_STATUS) && en->mb != NULL && !en->mb->noselect &&
	    append_status(s, en->mb, j->status_items, b, e) != 0)
		return -1;
	if (send_buf(s, b) != 0)
		return error_set(e, ERR_CLOSED, "connection broken");
	return 0;
}

static int list_entries(struct imapsrv_session *s, struct list_job *j, struct error *e)
{
	/* RFC 5258 §3.5: RECURSIVEMATCH shows matching names whose descendants
	 * meet the selection, with CHILDINFO; only SUBSCRIBED has children
	 * information to give. LSUB: RFC 3501 §6.3.9 shows an unsubscribed parent
	 * of a subscribed name that "%" stopped above as \Noselect. */
	bool recursive = (j->select & IMAP_LS_RECURSIVEMATCH) && (j->select & IMAP_LS_SUBSCRIBED);
	for (size_t i = 0; i < j->l.n; i++) {
		const struct entry *en = &j->l.v[i];
		if (!en->matched)
			continue;
		bool sel = j->lsub ? en->subscribed : selected(en, j->select);
		bool child = false;
		if (recursive)
			child = has_descendant(&j->l, i, selected, j->select, s->cmd_arena);
		else if (j->lsub && !sel)
			child = has_descendant(&j->l, i, subscribed, 0, s->cmd_arena);
		if (!sel && !child)
			continue;
		if (send_entry(s, j, i, recursive && child, !sel, e) != 0)
			return -1;
	}
	return 0;
}

/* Marks the entries a pattern matches, before anything is sent, within
 * LIST_MATCH_WORK_MAX steps: ERR_LIMIT past it. */
static int match_entries(struct imapsrv_session *s, struct list_job *j, struct error *e)
{
	uint64_t work = 0;
	for (size_t i = 0; i < j->l.n; i++) {
		struct entry *en = &j->l.v[i];
		const char *shown = imapsrv_mailbox_shown(s->cmd_arena, en->name);
		en->matched = matches_any(j->pats, j->npats, shown, &work);
		if (work > LIST_MATCH_WORK_MAX)
			return error_set(e, ERR_LIMIT, "%s patterns too costly to match against %zu "
			                 "mailboxes: use fewer wildcards", j->verb, j->l.n);
	}
	return 0;
}

static int list_run(struct imapsrv_session *s, const struct imap_command *cmd,
                    struct imapsrv_result *r, bool lsub)
{
	const struct imap_list *li = &cmd->list;
	struct list_job j = {
		.verb = lsub ? "LSUB" : "LIST", .lsub = lsub, .select = li->select, .ret = li->ret,
		.status_items = li->status_items,
	};
	/* RFC 5258 §3: the SUBSCRIBED selection implies the SUBSCRIBED return
	 * option. */
	if (j.select & IMAP_LS_SUBSCRIBED)
		j.ret |= IMAP_LR_SUBSCRIBED;
	/* RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root
	 * of the reference; tern's names have no root prefix. */
	if (li->n_patterns == 1 && li->patterns[0][0] == '\0') {
		struct buf *b = &s->wbuf;
		buf_reset(b);
		buf_appendf(b, "* %s (\\Noselect) \"/\" \"\"\r\n", j.verb);
		if (send_buf(s, b) != 0)
			return -1;
		imapsrv_result_set(r, "OK", NULL, "%s completed", j.verb);
		return 0;
	}
	j.pats = arena_alloc(s->cmd_arena, li->n_patterns * sizeof(*j.pats) + 1);
	/* A reference (or pattern, which the parser leaves out) that is not
	 * valid modified UTF-7 can prefix no name: nothing matches. */
	size_t n_patterns = (cmd->undecodable & IMAP_UNDECODABLE_REFERENCE) ? 0 : li->n_patterns;
	for (size_t i = 0; i < n_patterns; i++) {
		const char *p = full_pattern(s, li->reference, li->patterns[i]);
		if (strlen(p) > LIST_PATTERN_MAX) {
			imapsrv_result_set(r, "BAD", NULL, "%s pattern longer than %d bytes", j.verb,
			                   LIST_PATTERN_MAX);
			return 0;
		}
		if (p[0] != '\0') {
			char *c = arena_alloc(s->cmd_arena, strlen(p) + 1);
			collapse_wildcards(c, p);
			j.pats[j.npats++] = c;
		}
	}
	struct error e;
	bool subs = lsub || (j.select & IMAP_LS_SUBSCRIBED) || (j.ret & IMAP_LR_SUBSCRIBED);
	if (listing_load(s, subs, &j.l, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (match_entries(s, &j, &e) != 0 || list_entries(s, &j, &e) != 0) {
		if (e.kind == ERR_CLOSED)
			return -1;
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	imapsrv_result_set(r, "OK", NULL, "%s completed", j.verb);
	return 0;
}

int imapsrv_cmd_list(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	return list_run(s, cmd, r, false);
}

int imapsrv_cmd_lsub(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	/* RFC 9051 §6.3.9 (Appendix E): LSUB is gone from rev2; LIST
	 * (SUBSCRIBED) replaces it. */
	if (s->out.rev2) {
		imapsrv_result_set(r, "BAD", NULL, "LSUB is not part of IMAP4rev2: use LIST (SUBSCRIBED)");
		return 0;
	}
	return list_run(s, cmd, r, true);
}

/*
 * STATUS.
 */

uint64_t imapsrv_append_limit(const struct imapsrv_session *s)
{
	if (s->set == NULL || s->set->limits.append_max == 0)
		return IMAP_APPEND_MAX_DEFAULT;
	return s->set->limits.append_max;
}

static int append_status(struct imapsrv_session *s, const struct store_mailbox *mb,
                         unsigned items, struct buf *b, struct error *e)
{
	buf_append_str(b, "* STATUS ");
	if (write_name(s, b, mb->name) != 0)
		return error_set(e, ERR_LIMIT, "mailbox name does not fit the response");
	buf_append_str(b, " (");
	const char *sp = "";
	if (items & IMAP_ST_MESSAGES) {
		buf_appendf(b, "%sMESSAGES %llu", sp, (unsigned long long)mb->messages);
		sp = " ";
	}
	if (items & IMAP_ST_UIDNEXT) {
		buf_appendf(b, "%sUIDNEXT %u", sp, mb->uidnext);
		sp = " ";
	}
	if (items & IMAP_ST_UIDVALIDITY) {
		buf_appendf(b, "%sUIDVALIDITY %u", sp, mb->uidvalidity);
		sp = " ";
	}
	if (items & IMAP_ST_UNSEEN) {
		buf_appendf(b, "%sUNSEEN %llu", sp, (unsigned long long)mb->unseen);
		sp = " ";
	}
	if (items & IMAP_ST_DELETED) {
		uint64_t n;
		if (store_mailbox_count_deleted(s->acct, mb->id, &n, e) != 0)
			return -1;
		buf_appendf(b, "%sDELETED %llu", sp, (unsigned long long)n);
		sp = " ";
	}
	if (items & IMAP_ST_SIZE) {
		/* RFC 8438 §2: the total of the messages' RFC822.SIZE. */
		buf_appendf(b, "%sSIZE %llu", sp, (unsigned long long)mb->size);
		sp = " ";
	}
	if (items & IMAP_ST_RECENT) {
		/* RFC 3501 §6.3.10, §2.3.2: those no session has seen yet */
		uint64_t n;
		if (imapsrv_status_recent(s, mb->id, &n, e) != 0)
			return -1;
		buf_appendf(b, "%sRECENT %llu", sp, (unsigned long long)n);
		sp = " ";
	}
	if (items & IMAP_ST_HIGHESTMODSEQ) {
		buf_appendf(b, "%sHIGHESTMODSEQ %llu", sp, (unsigned long long)mb->highestmodseq);
		sp = " ";
	}
	if (items & IMAP_ST_APPENDLIMIT) {
		/* RFC 7889 §3.2: the limit as a number (tern always has one). */
		buf_appendf(b, "%sAPPENDLIMIT %llu", sp,
		            (unsigned long long)imapsrv_append_limit(s));
	}
	buf_append_str(b, ")\r\n");
	return 0;
}

int imapsrv_cmd_status(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	struct store_mailbox mb;
	struct error e;
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "NONEXISTENT", r))
		return 0;
	if (store_mailbox_status(s->acct, cmd->mailbox, s->cmd_arena, &mb, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (mb.noselect) {
		/* RFC 9051 §6.3.11: STATUS of a \Noselect name fails. */
		imapsrv_result_set(r, "NO", "NONEXISTENT", "%s cannot hold messages", cmd->mailbox);
		return 0;
	}
	buf_reset(&s->wbuf);
	if (append_status(s, &mb, cmd->status_items, &s->wbuf, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (send_buf(s, &s->wbuf) != 0)
		return -1;
	imapsrv_result_set(r, "OK", NULL, "STATUS completed");
	return 0;
}

/*
 * CREATE, DELETE, RENAME.
 */

/* RFC 6154 §3: the USE attributes of CREATE as store bits; false for one
 * tern cannot give (\All and \Flagged are virtual mailboxes it lacks). */
static bool use_bits(const struct imap_command *cmd, unsigned *bits_r, const char **bad_r)
{
	*bits_r = 0;
	for (size_t i = 0; i < cmd->n_use; i++) {
		size_t k = 0;
		while (k < N_SPECIAL_USES && strcasecmp(cmd->use[i], special_uses[k].attr) != 0)
			k++;
		if (k == N_SPECIAL_USES) {
			*bad_r = cmd->use[i];
			return false;
		}
		*bits_r |= special_uses[k].bit;
	}
	return true;
}

/* Canonical form of name in the arena, or NULL with r set (NO [CANNOT]). */
static const char *canon_name(struct imapsrv_session *s, const char *name,
                              struct imapsrv_result *r)
{
	struct buf c;
	struct error e;
	buf_init(&c, STORE_MAILBOX_NAME_MAX + 1);
	if (store_mailbox_name_canon(name, &c, &e) != 0) {
		buf_free(&c);
		imapsrv_result_set(r, "NO", "CANNOT", "%s", e.msg);
		return NULL;
	}
	const char *out = arena_strdup(s->cmd_arena, c.data);
	buf_free(&c);
	return out;
}

int imapsrv_cmd_create(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	/* RFC 3501 §5.1.3: names that are not valid modified UTF-7 are refused */
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "CANNOT", r))
		return 0;
	/* RFC 9051 §6.3.4: a trailing delimiter declares the intent to create
	 * names below; tern's mailboxes can always have children. */
	size_t len = strlen(cmd->mailbox);
	const char *name = cmd->mailbox;
	if (len > 1 && name[len - 1] == '/')
		name = arena_strndup(s->cmd_arena, name, len - 1);
	unsigned bits;
	const char *bad = NULL;
	if (!use_bits(cmd, &bits, &bad)) {
		/* RFC 6154 §3: USEATTR when a use attribute cannot be given. */
		imapsrv_result_set(r, "NO", "USEATTR", "%s is not a special use tern offers", bad);
		return 0;
	}
	const char *canon = canon_name(s, name, r);
	if (canon == NULL)
		return 0;
	struct store_mailbox mb;
	struct error e;
	if (store_mailbox_status(s->acct, canon, s->cmd_arena, &mb, &e) == 0 && !mb.noselect) {
		/* RFC 5530 §3: ALREADYEXISTS. */
		imapsrv_result_set(r, "NO", "ALREADYEXISTS", "Mailbox %s already exists", name);
		return 0;
	}
	if (store_mailbox_create(s->acct, canon, bits, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	imapsrv_result_set(r, "OK", NULL, "CREATE completed");
	return 0;
}

/* RFC 9051 §6.3.5 lets the selected mailbox be deleted; tern then leaves
 * the Selected state as a failed SELECT would, telling the client with the
 * CLOSED response code (RFC 7162 §3.2.11, RFC 9051 §7.1). */
static int deselect(struct imapsrv_session *s)
{
	imapsrv_unselect(s);
	buf_reset(&s->wbuf);
	buf_append_str(&s->wbuf, "* OK [CLOSED] The selected mailbox was deleted\r\n");
	return send_buf(s, &s->wbuf);
}

int imapsrv_cmd_delete(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "NONEXISTENT", r))
		return 0;
	const char *canon = canon_name(s, cmd->mailbox, r);
	if (canon == NULL)
		return 0;
	struct store_mailbox mb;
	struct error e;
	if (strcmp(canon, "Inbox") == 0) {
		imapsrv_result_set(r, "NO", "CANNOT", "INBOX cannot be deleted (RFC 9051 §6.3.5)");
		return 0;
	}
	if (store_mailbox_status(s->acct, canon, s->cmd_arena, &mb, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (store_mailbox_delete(s->acct, canon, &e) != 0) {
		/* RFC 9051 §6.3.5: a \Noselect name with inferiors cannot go. */
		if (e.kind == ERR_INVALID && mb.noselect)
			imapsrv_result_set(r, "NO", "HASCHILDREN", "%s", e.msg);
		else
			imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (s->sel != NULL && s->sel->mailbox_id == mb.id && deselect(s) != 0)
		return -1;
	imapsrv_result_set(r, "OK", NULL, "DELETE completed");
	return 0;
}

/* After a rename the selected mailbox (or an ancestor of it) has a new name. */
static void follow_rename(struct imapsrv_session *s, const char *from, const char *to)
{
	if (s->sel == NULL || s->sel->name == NULL || strcmp(from, "Inbox") == 0)
		return;
	size_t n = strlen(from);
	const char *old = s->sel->name;
	if (strncmp(old, from, n) != 0 || (old[n] != '\0' && old[n] != '/'))
		return;
	size_t len = strlen(to) + strlen(old + n) + 1;
	char *name = malloc(len);
	if (name == NULL)
		abort();
	snprintf(name, len, "%s%s", to, old + n);
	free((void *)s->sel->name);
	s->sel->name = name;
}

int imapsrv_cmd_rename(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "NONEXISTENT", r) ||
	    imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX2, "CANNOT", r))
		return 0;
	const char *from = canon_name(s, cmd->mailbox, r), *to = NULL;
	if (from == NULL || (to = canon_name(s, cmd->mailbox2, r)) == NULL)
		return 0;
	struct store_mailbox mb;
	struct error e;
	if (store_mailbox_status(s->acct, from, s->cmd_arena, &mb, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (store_mailbox_status(s->acct, to, s->cmd_arena, &mb, &e) == 0) {
		/* RFC 9051 §6.3.6: renaming to an existing name is an error. */
		imapsrv_result_set(r, "NO", "ALREADYEXISTS", "Mailbox %s already exists",
		                   cmd->mailbox2);
		return 0;
	}
	/* RFC 9051 §6.3.6: children move with the mailbox; renaming INBOX moves
	 * its messages to the new name and leaves INBOX, and its children, in
	 * place (the store does both). */
	if (store_mailbox_rename(s->acct, from, to, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	follow_rename(s, from, to);
	imapsrv_result_set(r, "OK", NULL, "RENAME completed");
	return 0;
}

/*
 * SUBSCRIBE, UNSUBSCRIBE, NAMESPACE.
 */

static int subscribe(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r, bool on)
{
	/* such a name can neither be subscribed nor have been */
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, on ? "CANNOT" : "NONEXISTENT",
	                             r))
		return 0;
	const char *canon = canon_name(s, cmd->mailbox, r);
	if (canon == NULL)
		return 0;
	struct error e;
	/* RFC 9051 §6.3.7: a subscription is a name; it may outlive (or, as
	 * RFC 9051 allows, precede) its mailbox. */
	if (store_mailbox_subscribe(s->acct, canon, on, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	imapsrv_result_set(r, "OK", NULL, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	return 0;
}

int imapsrv_cmd_subscribe(struct imapsrv_session *s, const struct imap_command *cmd,
                          struct imapsrv_result *r)
{
	return subscribe(s, cmd, r, true);
}

int imapsrv_cmd_unsubscribe(struct imapsrv_session *s, const struct imap_command *cmd,
                            struct imapsrv_result *r)
{
	return subscribe(s, cmd, r, false);
}

int imapsrv_cmd_namespace(struct imapsrv_session *s, const struct imap_command *cmd,
                          struct imapsrv_result *r)
{
	(void)cmd;
	/* RFC 2342 §5, RFC 9051 §6.3.10: one personal namespace, prefix "",
	 * delimiter "/"; no other users' or shared namespaces. */
	buf_reset(&s->wbuf);
	buf_append_str(&s->wbuf, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	if (send_buf(s, &s->wbuf) != 0)
		return -1;
	imapsrv_result_set(r, "OK", NULL, "NAMESPACE completed");
	return 0;
}
