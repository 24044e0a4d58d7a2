/*
 * selected.c: the selected mailbox's view: message sequence numbers,
 * sequence sets (RFC 9051 §9 sequence-set, §6.4.9 UID sets; RFC 5182 "$");
 * SELECT, EXAMINE, CLOSE and UNSELECT, which make and drop the view; and
 * imapsrv_sync, which brings the view up to date with the store and tells
 * the client (RFC 9051 §7.4.1, §5.2).
 *
 * Updates are found cheaply: the account's change notifier says whether
 * the mailbox changed at all; then new messages are those at or above the
 * UIDNEXT last reported, flag changes those with a modseq above the
 * HIGHESTMODSEQ last reported, and expunges those the store recorded with a
 * modseq above the one up to which expunges were reported (RFC 7162
 * §3.2.10).
 */
#include "imapserver/internal.h"

#include "core/arena.h"
#include "core/conn.h"

#include <poll.h>

#include <stdlib.h>
#include <string.h>

static int range_cmp(const void *a, const void *b)
{
	const struct store_uidrange *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->last < y->last ? -1 : x->last > y->last;
}

/* Sorts and merges overlapping or adjacent ranges in place; returns the count. */
static size_t ranges_normalize(struct store_uidrange *r, size_t n)
{
	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	size_t out = 0;
	for (size_t i = 1; i < n; i++) {
		if (r[out].last == UINT32_MAX || r[i].first <= r[out].last + 1) {
			if (r[i].last > r[out].last)
				r[out].last = r[i].last;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

static uint32_t highest_uid(const struct imapsrv_selected *sel)
{
	return sel->n > 0 ? sel->uids[sel->n - 1] : 0;
}

/* One range of UIDs from UID numbers as written: "*" is the highest UID in
 * use (RFC 9051 §6.4.9: with an empty mailbox it matches nothing, but
 * "n:*" still names n..). Returns false when it names nothing. */
static bool uid_range(const struct imapsrv_selected *sel, const struct imap_seq_range *w,
                      struct store_uidrange *r)
{
	uint32_t star = highest_uid(sel);
	uint32_t a = w->first != 0 ? w->first : star;
	uint32_t b = w->last != 0 ? w->last : star;
	if (a > b) {
		uint32_t t = a;
		a = b;
		b = t;
	}
	if (b == 0)
		return false;
	if (a == 0)
		a = 1;
	r->first = a;
	r->last = b;
	return true;
}

static int seq_range(const struct imapsrv_selected *sel, const struct imap_seq_range *w,
                     struct store_uidrange *r, struct error *e)
{
	if (sel->n == 0)
		return error_set(e, ERR_INVALID, "no messages in the mailbox");
	uint32_t a = w->first != 0 ? w->first : (uint32_t)sel->n;
	uint32_t b = w->last != 0 ? w->last : (uint32_t)sel->n;
	if (a > b) {
		uint32_t t = a;
		a = b;
		b = t;
	}
	if (b > sel->n)
		return error_set(e, ERR_INVALID, "message sequence number %u out of range (1:%zu)", b,
		                 sel->n);
	r->first = sel->uids[a - 1];
	r->last = sel->uids[b - 1];
	return 0;
}

int imapsrv_seqset_ranges(const struct imapsrv_selected *sel, const struct imap_seqset *set,
                          bool uid_mode, struct arena *a, struct store_uidrange **ranges_r,
                          size_t *n_r, struct error *e)
{
	*ranges_r = NULL;
	*n_r = 0;
	if (set->saved) {
		/* RFC 5182 §2.1: "$" is the saved result; UIDs are kept. */
		size_t n = sel->saved.n;
		struct store_uidrange *r = arena_alloc(a, (n > 0 ? n : 1) * sizeof(*r));
		for (size_t i = 0; i < n; i++)
			r[i].first = r[i].last = sel->saved.v[i];
		*ranges_r = r;
		*n_r = ranges_normalize(r, n);
		return 0;
	}
	struct store_uidrange *r = arena_alloc(a, (set->n > 0 ? set->n : 1) * sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (uid_mode) {
			if (uid_range(sel, &set->r[i], &r[n]))
				n++;
		} else {
			if (seq_range(sel, &set->r[i], &r[n], e) != 0)
				return -1;
			n++;
		}
	}
	*ranges_r = r;
	*n_r = ranges_normalize(r, n);
	return 0;
}

/* Index of the first UID >= uid. */
static size_t lower_bound(const struct imapsrv_selected *sel, uint32_t uid)
{
	size_t lo = 0, hi = sel->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sel->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t imapsrv_view_span(const struct imapsrv_selected *sel, const struct store_uidrange *r,
                         size_t *lo_r)
{
	*lo_r = lower_bound(sel, r->first);
	return r->last == UINT32_MAX ? sel->n : lower_bound(sel, r->last + 1);
}

size_t imapsrv_view_count(const struct imapsrv_selected *sel, const struct store_uidrange *r,
                          size_t n)
{
	size_t count = 0, lo;
	for (size_t i = 0; i < n; i++) {
		size_t hi = imapsrv_view_span(sel, &r[i], &lo);
		count += hi - lo;
	}
	return count;
}

uint32_t imapsrv_seq_of(const struct imapsrv_selected *sel, uint32_t uid)
{
	size_t i = lower_bound(sel, uid);
	return i < sel->n && sel->uids[i] == uid ? (uint32_t)(i + 1) : 0;
}

bool imapsrv_ranges_has(const struct store_uidrange *r, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].last < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && r[lo].first <= uid;
}

void imapsrv_write_uidset(struct buf *out, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0)
			buf_append_char(out, ',');
		if (j == i)
			buf_appendf(out, "%u", uids[i]);
		else
			buf_appendf(out, "%u:%u", uids[i], uids[j]);
		i = j + 1;
	}
}

static void uids_remove(uint32_t *v, size_t *n, uint32_t uid)
{
	for (size_t i = 0; i < *n; i++) {
		if (v[i] == uid) {
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			return;
		}
	}
}

void imapsrv_view_remove(struct imapsrv_selected *sel, uint32_t uid)
{
	size_t i = lower_bound(sel, uid);
	if (i < sel->n && sel->uids[i] == uid) {
		memmove(&sel->uids[i], &sel->uids[i + 1], (sel->n - i - 1) * sizeof(*sel->uids));
		sel->n--;
	}
	uids_remove(sel->saved.v, &sel->saved.n, uid);
}

/* Drops from v[0..*n) (ascending) the values of gone[0..k) (ascending),
 * in one pass. */
static void uids_remove_sorted(uint32_t *v, size_t *n, const uint32_t *gone, size_t k)
{
	size_t w = 0, j = 0;
	for (size_t i = 0; i < *n; i++) {
		while (j < k && gone[j] < v[i])
			j++;
		if (j < k && gone[j] == v[i])
			continue;
		v[w++] = v[i];
	}
	*n = w;
}

void imapsrv_view_remove_many(struct imapsrv_selected *sel, const uint32_t *uids, size_t n)
{
	uids_remove_sorted(sel->uids, &sel->n, uids, n);
	uids_remove_sorted(sel->saved.v, &sel->saved.n, uids, n);
}

int imapsrv_view_append(struct imapsrv_selected *sel, uint32_t uid)
{
	if (sel->n == sel->cap) {
		size_t cap = sel->cap != 0 ? sel->cap * 2 : 64;
		uint32_t *v = realloc(sel->uids, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		sel->uids = v;
		sel->cap = cap;
	}
	sel->uids[sel->n++] = uid;
	return 0;
}

/* The runs of consecutive UIDs in uids[0..n). */
static size_t count_runs(const uint32_t *uids, size_t n)
{
	size_t runs = n > 0;
	for (size_t i = 1; i < n; i++)
		runs += uids[i] != uids[i - 1] + 1;
	return runs;
}

void imapsrv_view_pack(struct imapsrv_selected *sel)
{
	if (sel->uids == NULL)
		return;
	size_t runs = count_runs(sel->uids, sel->n);
	if (runs * sizeof(*sel->packed) >= sel->cap * sizeof(*sel->uids))
		return;
	struct store_uidrange *r = malloc((runs > 0 ? runs : 1) * sizeof(*r));
	if (r == NULL)
		return;
	size_t k = 0;
	for (size_t i = 0; i < sel->n; i++) {
		if (i > 0 && sel->uids[i] == sel->uids[i - 1] + 1)
			r[k - 1].last = sel->uids[i];
		else
			r[k++] = (struct store_uidrange){sel->uids[i], sel->uids[i]};
	}
	free(sel->uids);
	sel->uids = NULL;
	sel->cap = 0;
	sel->packed = r;
	sel->n_packed = k;
}

int imapsrv_view_unpack(struct imapsrv_selected *sel)
{
	if (sel->packed == NULL)
		return 0;
	uint32_t *v = malloc((sel->n > 0 ? sel->n : 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < sel->n_packed; i++)
		for (uint64_t u = sel->packed[i].first; u <= sel->packed[i].last; u++)
			v[k++] = (uint32_t)u;
	free(sel->packed);
	sel->packed = NULL;
	sel->n_packed = 0;
	sel->uids = v;
	sel->cap = sel->n > 0 ? sel->n : 1;
	return 0;
}

void imapsrv_selected_free(struct imapsrv_selected **sel)
{
	if (*sel == NULL)
		return;
	free((*sel)->packed);
	free((*sel)->uids);
	free((*sel)->recent);
	free((void *)(*sel)->name);
	store_uids_free(&(*sel)->saved);
	free(*sel);
	*sel = NULL;
}

/*
 * \Recent (RFC 3501 §2.3.2): a message is recent in the one session first
 * told of it. The store keeps which UIDs were claimed; SELECT and each
 * update that reports new messages claim, EXAMINE only looks (§6.3.2).
 */

void imapsrv_recent_add(struct imapsrv_selected *sel, uint32_t first, uint32_t end)
{
	if (first >= end)
		return;
	struct store_uidrange *last = sel->n_recent > 0 ? &sel->recent[sel->n_recent - 1] : NULL;
	if (last != NULL && first <= last->last + 1) {
		if (end - 1 > last->last)
			last->last = end - 1;
		return;
	}
	if (sel->n_recent == IMAPSRV_RECENT_RANGES_MAX) {
		memmove(sel->recent, sel->recent + 1, (sel->n_recent - 1) * sizeof(*sel->recent));
		sel->n_recent--;
	}
	if (sel->n_recent == sel->cap_recent) {
		size_t cap = sel->cap_recent == 0 ? 2 : sel->cap_recent * 2;
		if (cap > IMAPSRV_RECENT_RANGES_MAX)
			cap = IMAPSRV_RECENT_RANGES_MAX;
		struct store_uidrange *v = realloc(sel->recent, cap * sizeof(*v));
		if (v == NULL)
			abort();
		sel->recent = v;
		sel->cap_recent = cap;
	}
	sel->recent[sel->n_recent++] = (struct store_uidrange){first, end - 1};
}

/* How many messages of the view are recent. */
static size_t recent_in_view(const struct imapsrv_selected *sel)
{
	size_t n = 0;
	for (size_t i = 0; i < sel->n_recent; i++)
		n += lower_bound(sel, sel->recent[i].last) - lower_bound(sel, sel->recent[i].first) +
		     (imapsrv_seq_of(sel, sel->recent[i].last) != 0);
	return n;
}

/* Claims (or with EXAMINE, looks at) the messages no session has seen yet;
 * they become recent here. */
static int recent_claim(struct imapsrv_session *s, struct error *e)
{
	struct imapsrv_selected *sel = s->sel;
	uint32_t first, end;
	if (store_mailbox_claim_recent(s->acct, sel->mailbox_id, !sel->readonly, &first, &end,
	                               e) != 0)
		return -1;
	imapsrv_recent_add(sel, first, end);
	return 0;
}

struct count_walk {
	uint64_t n;
};

static int count_cb(void *ctx, const struct store_msginfo *m)
{
	(void)m;
	((struct count_walk *)ctx)->n++;
	return 0;
}

int imapsrv_status_recent(struct imapsrv_session *s, int64_t mailbox_id, uint64_t *n_r,
                          struct error *e)
{
	uint32_t first, end;
	if (store_mailbox_claim_recent(s->acct, mailbox_id, false, &first, &end, e) != 0)
		return -1;
	struct count_walk w = {0};
	struct store_uidrange r = {first, end - 1};
	if (first < end &&
	    store_msg_list(s->acct, mailbox_id, &r, 1, 0, count_cb, &w, e) != 0)
		return -1;
	if (s->sel != NULL && s->sel->mailbox_id == mailbox_id && !s->out.rev2) {
		/* those this session holds; with EXAMINE they are the unclaimed
		 * ones already counted */
		if (!s->sel->readonly)
			w.n += recent_in_view(s->sel);
	}
	*n_r = w.n;
	return 0;
}

/*
 * SELECT, EXAMINE, CLOSE, UNSELECT.
 */

void imapsrv_unselect(struct imapsrv_session *s)
{
	imapsrv_selected_free(&s->sel);
	if (s->state == IMAPSRV_SELECTED)
		s->state = IMAPSRV_AUTHENTICATED;
}

/* store_msg_list callback while selecting: the view, the first unseen. */
struct select_walk {
	struct imapsrv_selected *sel;
	uint32_t first_unseen;       /* message sequence number, 0: none */
	bool nomem;
};

static int select_walk_cb(void *ctx, const struct store_msginfo *m)
{
	struct select_walk *w = ctx;
	if (imapsrv_view_append(w->sel, m->uid) != 0) {
		w->nomem = true;
		return 1;
	}
	if (w->first_unseen == 0 && !(m->flags & STORE_FLAG_SEEN))
		w->first_unseen = (uint32_t)w->sel->n;
	return 0;
}

/* FLAGS and PERMANENTFLAGS (RFC 9051 §7.3.5, §7.1 PERMANENTFLAGS): the
 * system flags and the keywords in use; new keywords may be made (\*)
 * unless read-only. */
static void write_flag_lists(struct imapsrv_session *s, const char *keywords, bool readonly)
{
	static const char sys[] = "\\Seen \\Answered \\Flagged \\Deleted \\Draft";
	const char *sp = keywords[0] != '\0' ? " " : "";
	buf_appendf(&s->wbuf, "* FLAGS (%s%s%s)\r\n", sys, sp, keywords);
	if (readonly)
		buf_append_str(&s->wbuf, "* OK [PERMANENTFLAGS ()] read-only mailbox\r\n");
	else
		buf_appendf(&s->wbuf, "* OK [PERMANENTFLAGS (%s%s%s \\*)] flags permitted\r\n", sys, sp,
		            keywords);
}

/* VANISHED (EARLIER) for SELECT with QRESYNC (RFC 7162 §3.2.5): the UIDs
 * expunged since the client's modseq, limited to its known UIDs when it
 * gave them. The message sequence match data only lets a server send fewer
 * of these (§3.2.5.2, optional); tern does not use it, so the list is
 * complete but may be longer than needed. */
/* The numbers of a sequence set in the order written, one at a time. */
struct seq_cursor {
	const struct imap_seqset *set;
	size_t i;                    /* the range */
	uint64_t next;               /* in it; 0: at its start */
};

/* The next number, or 0 at the end (and for "*", which names no number
 * here). */
static uint32_t seq_next(struct seq_cursor *c)
{
	while (c->i < c->set->n) {
		const struct imap_seq_range *r = &c->set->r[c->i];
		uint32_t lo = r->first < r->last ? r->first : r->last;
		uint32_t hi = r->first < r->last ? r->last : r->first;
		if (lo == 0)
			return 0;
		if (c->next == 0)
			c->next = lo;
		if (c->next <= hi)
			return (uint32_t)c->next++;
		c->i++;
		c->next = 0;
	}
	return 0;
}

/* RFC 7162 §3.2.5.2 message sequence match data: pairs of a message
 * sequence number and the UID the client knows for it, ascending. While
 * the pairs match the view, the client knows of every expunge up to that
 * UID; the first pair that does not match ends the walk. Returns the UID
 * at or below which nothing needs reporting (0: none). */
static uint32_t seq_match_known(const struct imapsrv_selected *sel, const struct imap_select *p)
{
	struct seq_cursor seqs = {.set = &p->match_seq}, uids = {.set = &p->match_uid};
	uint32_t known = 0;
	for (;;) {
		uint32_t seq = seq_next(&seqs), uid = seq_next(&uids);
		if (seq == 0 || uid == 0 || seq > sel->n || sel->uids[seq - 1] != uid)
			return known;
		known = uid;
	}
}

static int qresync_vanished(struct imapsrv_session *s, const struct imap_select *p)
{
	struct imapsrv_selected *sel = s->sel;
	struct store_uids gone = {0};
	struct error e;
	if (store_vanished(sel->acct, sel->mailbox_id, p->modseq, &gone, &e) != 0)
		return -1;
	struct store_uidrange *known = NULL;
	size_t nknown = 0;
	if (p->known_uids.n > 0 && imapsrv_seqset_ranges(sel, &p->known_uids, true, s->cmd_arena,
	                                                 &known, &nknown, &e) != 0)
		nknown = 0;
	uint32_t matched = p->match_seq.n > 0 ? seq_match_known(sel, p) : 0;
	size_t k = 0;
	for (size_t i = 0; i < gone.n; i++)
		if ((p->known_uids.n == 0 || imapsrv_ranges_has(known, nknown, gone.v[i])) &&
		    gone.v[i] > matched)
			gone.v[k++] = gone.v[i];
	if (k > 0) {  /* RFC 7162 §3.2.10 */
		buf_append_str(&s->wbuf, "* VANISHED (EARLIER) ");
		imapsrv_write_uidset(&s->wbuf, gone.v, k);
		buf_append_str(&s->wbuf, "\r\n");
	}
	store_uids_free(&gone);
	return 0;
}

struct changed_walk {
	struct imapsrv_session *s;
	uint32_t below_uid;          /* only messages under this UID */
	bool with_uid;
};

static int changed_cb(void *ctx, const struct store_msginfo *m)
{
	struct changed_walk *w = ctx;
	struct imapsrv_session *s = w->s;
	uint32_t seq = imapsrv_seq_of(s->sel, m->uid);
	if (seq == 0 || m->uid >= w->below_uid)
		return 0;
	buf_appendf(&s->wbuf, "* %u FETCH (", seq);
	if (w->with_uid)
		buf_appendf(&s->wbuf, "UID %u ", m->uid);
	buf_append_str(&s->wbuf, "FLAGS ");
	imapsrv_write_flags(&s->wbuf, m->flags, m->keywords, imapsrv_is_recent(s, m->uid));
	if (s->out.condstore)
		buf_appendf(&s->wbuf, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	buf_append_str(&s->wbuf, ")\r\n");
	if (s->wbuf.len < 65536)
		return 0;
	int r = imapsrv_send(s, &s->wbuf);
	buf_reset(&s->wbuf);
	return r;
}

/* RFC 7162 §3.2.5: with QRESYNC and a matching UIDVALIDITY, what changed
 * since the client's modseq: VANISHED (EARLIER), then FETCH of the flags. */
static int qresync_select(struct imapsrv_session *s, const struct imap_select *p)
{
	struct imapsrv_selected *sel = s->sel;
	if (p->uidvalidity != sel->uidvalidity)
		return 0;
	if (qresync_vanished(s, p) != 0)
		return -1;
	struct changed_walk w = {.s = s, .below_uid = UINT32_MAX, .with_uid = true};
	struct error e;
	return store_msg_list(sel->acct, sel->mailbox_id, NULL, 0, p->modseq, changed_cb, &w, &e);
}

/* Writes the untagged answers of SELECT/EXAMINE (RFC 9051 §6.3.2). */
static int select_answers(struct imapsrv_session *s, const struct store_mailbox *mb,
                          uint32_t first_unseen, const char *keywords)
{
	struct imapsrv_selected *sel = s->sel;
	write_flag_lists(s, keywords, sel->readonly);
	buf_appendf(&s->wbuf, "* %zu EXISTS\r\n", sel->n);
	if (!s->out.rev2) {  /* RFC 3501 §6.3.1: RECENT and UNSEEN */
		buf_appendf(&s->wbuf, "* %zu RECENT\r\n", recent_in_view(sel));
		if (first_unseen != 0)
			buf_appendf(&s->wbuf, "* OK [UNSEEN %u] first unseen message\r\n", first_unseen);
	} else {  /* RFC 9051 §6.3.2: a LIST response with the name */
		buf_append_str(&s->wbuf, "* LIST () \"/\" ");
		imap_write_mailbox(&s->wbuf, imapsrv_mailbox_shown(s->cmd_arena, sel->name),
		                   s->out.imap_flags);
		buf_append_str(&s->wbuf, "\r\n");
	}
	buf_appendf(&s->wbuf, "* OK [UIDVALIDITY %u] UIDs valid\r\n", sel->uidvalidity);
	buf_appendf(&s->wbuf, "* OK [UIDNEXT %u] predicted next UID\r\n", sel->uidnext);
	if (s->out.condstore)  /* RFC 7162 §3.1.2.1 */
		buf_appendf(&s->wbuf, "* OK [HIGHESTMODSEQ %llu] highest\r\n",
		            (unsigned long long)sel->highestmodseq);
	return 0;
}

/* Opens the view of mailbox mb. Returns 0, or -1 with r filled. */
static int select_open(struct imapsrv_session *s, const struct store_mailbox *mb, bool readonly,
                       uint32_t *first_unseen_r, struct imapsrv_result *r)
{
	struct imapsrv_selected *sel = calloc(1, sizeof(*sel));
	char *name = strdup(mb->name);
	if (sel == NULL || name == NULL)
		abort();
	*sel = (struct imapsrv_selected){
		.acct = s->acct, .mailbox_id = mb->id, .name = name, .readonly = readonly,
		.uidvalidity = mb->uidvalidity, .uidnext = mb->uidnext,
		.highestmodseq = mb->highestmodseq, .expunge_modseq = mb->highestmodseq,
	};
	s->sel = sel;
	struct select_walk w = {.sel = sel};
	struct error e;
	if (store_msg_list(s->acct, mb->id, NULL, 0, 0, select_walk_cb, &w, &e) != 0 || w.nomem ||
	    recent_claim(s, &e) != 0) {
		imapsrv_selected_free(&s->sel);
		imapsrv_result_set(r, "NO", "SERVERBUG", "cannot read the mailbox: %s",
		                   w.nomem ? "out of memory" : e.msg);
		return -1;
	}
	*first_unseen_r = w.first_unseen;
	return 0;
}

int imapsrv_cmd_select(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	const struct imap_select *p = &cmd->select;
	bool readonly = cmd->cmd == IMAP_CMD_EXAMINE;
	const char *verb = readonly ? "EXAMINE" : "SELECT";
	if (p->qresync && !s->out.qresync) {  /* RFC 7162 §3.2.5 */
		imapsrv_result_set(r, "BAD", NULL, "QRESYNC parameter without ENABLE QRESYNC");
		return 0;
	}
	if (s->sel != NULL) {
		/* RFC 9051 §6.3.2, §7.1: the current mailbox is closed first, and
		 * that is said with [CLOSED], also when the new SELECT fails. */
		imapsrv_unselect(s);
		struct error e;
		if (conn_printf(s->c, &e, "* OK [CLOSED] previous mailbox closed\r\n") != 0)
			return -1;
	}
	struct store_mailbox mb;
	struct error e;
	if (store_mailbox_status(s->acct, p->mailbox, s->cmd_arena, &mb, &e) != 0) {
		if (e.kind == ERR_NOTFOUND || e.kind == ERR_INVALID)
			imapsrv_result_set(r, "NO", "NONEXISTENT", "no such mailbox");
		else
			imapsrv_result_set(r, "NO", "UNAVAILABLE", "%s", e.msg);
		return 0;
	}
	if (mb.noselect) {
		imapsrv_result_set(r, "NO", "CANNOT", "mailbox cannot be selected: \\Noselect");
		return 0;
	}
	if (p->condstore || p->qresync)  /* RFC 7162 §3.1.8: CONDSTORE enables it */
		s->out.condstore = true;
	const char *keywords = "";
	if (store_mailbox_keywords(s->acct, mb.id, s->cmd_arena, &keywords, &e) != 0)
		keywords = "";
	uint32_t first_unseen;
	if (select_open(s, &mb, readonly, &first_unseen, r) != 0)
		return 0;
	buf_reset(&s->wbuf);
	select_answers(s, &mb, first_unseen, keywords);
	if (p->qresync && qresync_select(s, p) != 0) {
		imapsrv_selected_free(&s->sel);
		buf_reset(&s->wbuf);
		imapsrv_result_set(r, "NO", "SERVERBUG", "cannot read the mailbox's changes");
		return 0;
	}
	s->state = IMAPSRV_SELECTED;
	imapsrv_result_set(r, "OK", readonly ? "READ-ONLY" : "READ-WRITE", "%s completed", verb);
	return imapsrv_send(s, &s->wbuf);
}

/* CLOSE (RFC 9051 §6.4.1): expunges silently unless read-only; UNSELECT
 * (RFC 3691) does not. */
int imapsrv_cmd_close(struct imapsrv_session *s, const struct imap_command *cmd,
                      struct imapsrv_result *r)
{
	struct error e;
	if (cmd->cmd == IMAP_CMD_CLOSE && !s->sel->readonly &&
	    store_expunge(s->acct, s->sel->mailbox_id, NULL, 0, NULL, &e) != 0) {
		imapsrv_result_set(r, "NO", "SERVERBUG", "expunge failed: %s", e.msg);
		return 0;
	}
	imapsrv_unselect(s);
	imapsrv_result_set(r, "OK", NULL, "%s completed", imap_cmd_name(cmd->cmd));
	return 0;
}

/*
 * Updates of the selected mailbox.
 */

/* Reads the notifier without waiting: marks the view when its mailbox may
 * have changed. */
static void notifier_check(struct imapsrv_session *s)
{
	struct pollfd p = {.fd = store_sub_fd(s->sub), .events = POLLIN};
	if (poll(&p, 1, 0) <= 0)
		return;
	struct store_changes ch;
	store_sub_read(s->sub, &ch);
	bool mine = ch.all;
	for (size_t i = 0; i < ch.n && !mine; i++)
		mine = ch.mailbox_ids[i] == s->sel->mailbox_id;
	if (mine) {
		s->sel->dirty = true;
		s->sel->expunge_pending = true;
	}
}

/* The mailbox's current status, found by id when it was renamed. Returns
 * 0, or -1 when it is gone (or unreadable). */
static int current_status(struct imapsrv_session *s, struct store_mailbox *mb)
{
	struct imapsrv_selected *sel = s->sel;
	struct error e;
	if (store_mailbox_status(s->acct, sel->name, s->cmd_arena, mb, &e) == 0 &&
	    mb->id == sel->mailbox_id)
		return 0;
	struct store_mailbox *list;
	size_t n;
	if (store_mailbox_list(s->acct, s->cmd_arena, &list, &n, &e) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (list[i].id != sel->mailbox_id)
			continue;
		*mb = list[i];
		char *name = strdup(mb->name);
		if (name == NULL)
			abort();
		free((void *)sel->name);
		sel->name = name;
		return 0;
	}
	return -1;
}

/* EXPUNGE n (RFC 9051 §7.5.1), or VANISHED with QRESYNC (RFC 7162
 * §3.2.10), for messages of the view expunged since expunge_modseq.
 * Returns -1 when the store could not say (tried again later). */
static int report_expunges(struct imapsrv_session *s)
{
	struct imapsrv_selected *sel = s->sel;
	struct store_uids gone = {0};
	struct error e;
	if (store_vanished(s->acct, sel->mailbox_id, sel->expunge_modseq, &gone, &e) != 0) {
		store_uids_free(&gone);
		return -1;
	}
	/* Each EXPUNGE numbers the message in the view left by the ones before
	 * it: with the UIDs ascending, its number less those already gone. */
	size_t k = 0;
	for (size_t i = 0; i < gone.n; i++) {
		uint32_t seq = imapsrv_seq_of(sel, gone.v[i]);
		if (seq == 0 || (k > 0 && gone.v[i] <= gone.v[k - 1]))
			continue;
		if (!s->out.qresync)
			buf_appendf(&s->wbuf, "* %zu EXPUNGE\r\n", (size_t)seq - k);
		gone.v[k++] = gone.v[i];
	}
	imapsrv_view_remove_many(sel, gone.v, k);
	if (s->out.qresync && k > 0) {
		buf_append_str(&s->wbuf, "* VANISHED ");
		imapsrv_write_uidset(&s->wbuf, gone.v, k);
		buf_append_str(&s->wbuf, "\r\n");
	}
	store_uids_free(&gone);
	return 0;
}

static int new_cb(void *ctx, const struct store_msginfo *m)
{
	struct imapsrv_selected *sel = ctx;
	if (sel->n > 0 && m->uid <= sel->uids[sel->n - 1])
		return 0;
	return imapsrv_view_append(sel, m->uid) != 0 ? 1 : 0;
}

/* New messages (EXISTS, and RECENT for rev1: RFC 3501 §7.3.2) and flag
 * changes of the others (FETCH FLAGS, RFC 9051 §7.5.2). */
static int report_changes(struct imapsrv_session *s, const struct store_mailbox *mb, bool uid_cmd)
{
	struct imapsrv_selected *sel = s->sel;
	struct error e;
	size_t n_before = sel->n;
	uint32_t old_next = sel->uidnext;
	int rc = 0;
	if (mb->uidnext > sel->uidnext) {
		struct store_uidrange r = {sel->uidnext, UINT32_MAX};
		rc = store_msg_list(s->acct, sel->mailbox_id, &r, 1, 0, new_cb, sel, &e);
	}
	if (rc == 0 && mb->highestmodseq > sel->highestmodseq) {
		/* RFC 7162 §3.2.4: with QRESYNC every FETCH carries the UID */
		struct changed_walk w = {.s = s, .below_uid = old_next,
		                         .with_uid = uid_cmd || s->out.qresync};
		rc = store_msg_list(s->acct, sel->mailbox_id, NULL, 0, sel->highestmodseq, changed_cb,
		                    &w, &e);
	}
	/* Messages the view took are announced whatever failed after: the
	 * numbers the client knows must match the view (RFC 9051 §7.4.1). */
	if (sel->n != n_before) {
		/* RFC 3501 §2.3.2: this session is the first told of them, unless
		 * another was quicker (the store decides); when the store cannot
		 * answer, they are simply not recent here */
		(void)recent_claim(s, &e);
		buf_appendf(&s->wbuf, "* %zu EXISTS\r\n", sel->n);
		if (!s->out.rev2)
			buf_appendf(&s->wbuf, "* %zu RECENT\r\n", recent_in_view(sel));
	}
	if (rc != 0)
		return -1;  /* the rest is asked again at the next chance */
	sel->uidnext = mb->uidnext;
	sel->highestmodseq = mb->highestmodseq;
	return 0;
}

int imapsrv_sync(struct imapsrv_session *s, bool allow_expunge, bool uid_cmd)
{
	struct imapsrv_selected *sel = s->sel;
	if (sel == NULL || s->sub == NULL)
		return 0;
	notifier_check(s);
	if (!sel->dirty && !(allow_expunge && sel->expunge_pending))
		return 0;
	struct store_mailbox mb;
	if (current_status(s, &mb) != 0) {
		struct error e;
		conn_printf(s->c, &e, "* BYE the selected mailbox was deleted\r\n");
		conn_flush(s->c, &e);
		return -1;
	}
	buf_reset(&s->wbuf);
	/* Marked done only once reported: a store that failed to answer is
	 * asked again at the next chance. */
	if (allow_expunge && sel->expunge_pending && report_expunges(s) == 0) {
		sel->expunge_pending = false;
		sel->expunge_modseq = mb.highestmodseq;
	}
	if (sel->dirty && report_changes(s, &mb, uid_cmd) == 0)
		sel->dirty = false;
	return imapsrv_send(s, &s->wbuf);
}
