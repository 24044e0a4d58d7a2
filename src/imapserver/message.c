/*
 * message.c: commands on the selected mailbox's messages: STORE and UID
 * STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE RFC 7162 §3.1.3), COPY and UID COPY
 * (§6.4.7, COPYUID RFC 4315 §3), MOVE and UID MOVE (RFC 6851), EXPUNGE
 * (§6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
 *
 * The view (struct imapsrv_selected) is what the client knows: UIDs that are
 * not in it (messages delivered since the last EXISTS) are never touched by
 * these commands, so sets are cut to the view first (view_ranges). EXPUNGE
 * and MOVE report their own expunges (EXPUNGE, or VANISHED with QRESYNC)
 * and take them out of the view; everything else is left to imapsrv_sync.
 *
 * $Junk and $NotJunk (RFC 9051 §2.3.2, the keywords junk filters read) are
 * kept as keywords; since a message cannot be both, setting one with STORE
 * +FLAGS removes the other, and FLAGS (...) naming both is refused.
 */
#include "imapserver/internal.h"

#include "core/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Output buffered beyond this is sent before more is added. */
#define MESSAGE_OUT_CHUNK 16384

/* RFC 9051 §2.3.2 system flags. */
static const struct {
	const char *name;
	unsigned bit;
} system_flags[] = {
	{ "\\Seen", STORE_FLAG_SEEN }, { "\\Answered", STORE_FLAG_ANSWERED },
	{ "\\Flagged", STORE_FLAG_FLAGGED }, { "\\Deleted", STORE_FLAG_DELETED },
	{ "\\Draft", STORE_FLAG_DRAFT },
};

#define N_SYSTEM_FLAGS (sizeof system_flags / sizeof system_flags[0])

int imapsrv_parse_flags(const char *const *in, size_t n, struct arena *a, unsigned *flags_r,
                        const char **keywords_r, struct error *e)
{
	struct buf kw;
	buf_init(&kw, BUF_UNBOUNDED);
	*flags_r = 0;
	size_t nkw = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *f = in[i];
		if (f[0] == '\\') {
			size_t k = 0;
			while (k < N_SYSTEM_FLAGS && strcasecmp(f, system_flags[k].name) != 0)
				k++;
			if (k < N_SYSTEM_FLAGS)
				*flags_r |= system_flags[k].bit;
			else if (strcasecmp(f, "\\Recent") == 0)
				/* RFC 3501 §2.3.2: \Recent is set by the server only. */
				rc = error_set(e, ERR_INVALID, "\\Recent cannot be stored");
			else
				/* RFC 9051 §2.3.2: other \ names are reserved for later flags. */
				rc = error_set(e, ERR_INVALID, "unknown system flag %s", f);
			continue;
		}
		/* flag-keyword = atom (the parser checked the characters). */
		if (strlen(f) > STORE_KEYWORD_MAX)
			rc = error_set(e, ERR_INVALID, "keyword longer than %d bytes", STORE_KEYWORD_MAX);
		else if (++nkw > STORE_KEYWORDS_MAX)
			rc = error_set(e, ERR_INVALID, "more than %d keywords", STORE_KEYWORDS_MAX);
		else
			buf_appendf(&kw, "%s%s", kw.len > 0 ? " " : "", f);
	}
	*keywords_r = rc == 0 ? arena_strdup(a, kw.data) : NULL;
	buf_free(&kw);
	return rc;
}

static void uids_push(struct store_uids *u, uint32_t uid)
{
	if (u->n == u->cap_) {
		size_t cap = u->cap_ != 0 ? 2 * u->cap_ : 64;
		uint32_t *v = realloc(u->v, cap * sizeof(*v));
		if (v == NULL)
			abort();
		u->v = v;
		u->cap_ = cap;
	}
	u->v[u->n++] = uid;
}

/* Sends the buffer once it holds a chunk; -1 on a broken connection. */
static int flush_chunk(struct imapsrv_session *s, struct buf *b, bool force)
{
	if (b->len == 0 || (!force && b->len < MESSAGE_OUT_CHUNK))
		return 0;
	int r = imapsrv_send(s, b);
	buf_reset(b);
	return r;
}

/* The ranges of the view's messages within ranges (each range holds view
 * UIDs and UIDs no longer stored, never one the client has not seen). */
static void view_ranges(const struct imapsrv_selected *sel, const struct store_uidrange *r,
                        size_t nr, struct arena *a, struct store_uidrange **out_r,
                        size_t *n_r)
{
	struct store_uidrange *out = NULL;
	size_t n = 0, cap = 0, prev_hi = SIZE_MAX;
	for (size_t k = 0; k < nr; k++) {
		size_t lo, hi = imapsrv_view_span(sel, &r[k], &lo);
		if (lo == hi)
			continue;
		if (lo == prev_hi) {  /* no view message between: one range */
			out[n - 1].last = sel->uids[hi - 1];
		} else {
			out = arena_grow(a, out, n, &cap, sizeof(*out), 8);
			out[n++] = (struct store_uidrange){ sel->uids[lo], sel->uids[hi - 1] };
		}
		prev_hi = hi;
	}
	*out_r = out;
	*n_r = n;
}

/* The command's set as ranges of view messages; false with r set (BAD) when
 * a sequence number is out of range. */
static bool set_ranges(struct imapsrv_session *s, const struct imap_seqset *set, bool uid,
                       struct imapsrv_result *r, struct store_uidrange **out_r, size_t *n_r)
{
	struct store_uidrange *ranges;
	size_t n;
	struct error e;
	if (imapsrv_seqset_ranges(s->sel, set, uid, s->cmd_arena, &ranges, &n, &e) != 0) {
		imapsrv_result_set(r, "BAD", NULL, "%s", e.msg);
		return false;
	}
	view_ranges(s->sel, ranges, n, s->cmd_arena, out_r, n_r);
	return true;
}

/* Appends the message numbers (or UIDs with uid) of uids to b, compact. */
static void write_numbers(const struct imapsrv_selected *sel, const uint32_t *uids, size_t n,
                          bool uid, struct arena *a, struct buf *b)
{
	if (uid) {
		imapsrv_write_uidset(b, uids, n);
		return;
	}
	uint32_t *seqs = arena_alloc(a, (n + 1) * sizeof(*seqs));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if ((seqs[k] = imapsrv_seq_of(sel, uids[i])) != 0)
			k++;
	imapsrv_write_uidset(b, seqs, k);
}

/*
 * STORE.
 */

struct store_walk {
	struct imapsrv_session *s;
	const struct imap_command *cmd;
	const struct store_uidrange *ranges;
	size_t nranges;
	uint64_t modseq;                 /* given by this STORE; 0 if nothing changed */
	uint64_t modseq_junk;            /* given by its removal of the other junk keyword */
	uint64_t max_seen;
	struct buf *b;
	int rc;
};

/* Reports one changed message (RFC 9051 §6.4.6; RFC 7162 §3.1.3: with
 * CONDSTORE, .SILENT still gets a FETCH with MODSEQ for each message this
 * STORE changed). Changes made meanwhile by other sessions are reported too,
 * as FETCH responses may be at any time (RFC 9051 §7.4.1). */
static int store_report(void *ctx, const struct store_msginfo *m)
{
	struct store_walk *w = ctx;
	struct imapsrv_session *s = w->s;
	if (m->modseq > w->max_seen)
		w->max_seen = m->modseq;
	uint32_t seq = imapsrv_seq_of(s->sel, m->uid);
	if (seq == 0)
		return 0;
	bool own = (m->modseq == w->modseq || m->modseq == w->modseq_junk) &&
	           imapsrv_ranges_has(w->ranges, w->nranges, m->uid);
	bool silent = own && w->cmd->store.silent;
	if (silent && !s->out.condstore)
		return 0;
	buf_appendf(w->b, "* %u FETCH (", seq);
	if (!silent) {
		buf_append_str(w->b, "FLAGS ");
		imapsrv_write_flags(w->b, m->flags, m->keywords, imapsrv_is_recent(s, m->uid));
	}
	/* RFC 9051 §6.4.9: UID in the answers of UID STORE; RFC 7162 §3.2.4:
	 * in every FETCH once QRESYNC is on. */
	bool uid = w->cmd->uid || s->out.qresync;
	if (uid)
		buf_appendf(w->b, "%sUID %u", silent ? "" : " ", m->uid);
	if (s->out.condstore)
		buf_appendf(w->b, "%sMODSEQ (%llu)", silent && !uid ? "" : " ",
		            (unsigned long long)m->modseq);
	buf_append_str(w->b, ")\r\n");
	if (flush_chunk(s, w->b, false) != 0) {
		w->rc = -1;
		return 1;
	}
	return 0;
}

/* After reporting every change since the view's highestmodseq, the view is
 * up to date with the flags: imapsrv_sync need not report them again
 * (expunges it finds by their own modseq). */
static void store_catch_up(struct imapsrv_session *s, const struct store_walk *w)
{
	uint64_t top = w->max_seen > w->modseq ? w->max_seen : w->modseq;
	if (w->modseq_junk > top)
		top = w->modseq_junk;
	if (top > s->sel->highestmodseq)
		s->sel->highestmodseq = top;
}

/* $Junk and $NotJunk exclude each other: the other one of keywords, if one
 * is there, else NULL; "" when both are (refused). */
static const char *junk_opposite(const char *keywords)
{
	bool junk = false, notjunk = false;
	const char *p = keywords;
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (n == 5 && strncasecmp(p, "$Junk", 5) == 0)
			junk = true;
		else if (n == 8 && strncasecmp(p, "$NotJunk", 8) == 0)
			notjunk = true;
		p += n;
		p += *p == ' ';
	}
	if (junk && notjunk)
		return "";
	return junk ? "$NotJunk" : notjunk ? "$Junk" : NULL;
}

/* Removes the other junk keyword from the stored messages, except those
 * UNCHANGEDSINCE left alone. */
static int junk_exclusive(struct imapsrv_session *s, const struct store_uidrange *ranges,
                          size_t n, const char *other, const struct store_uids *failed,
                          uint64_t *modseq_r, struct error *e)
{
	struct store_uidrange *rr = arena_alloc(s->cmd_arena, (n + failed->n + 1) * sizeof(*rr));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t first = ranges[i].first;
		for (size_t f = 0; f < failed->n; f++) {
			uint32_t u = failed->v[f];
			if (u < first || u > ranges[i].last)
				continue;
			if (u > first)
				rr[k++] = (struct store_uidrange){ first, u - 1 };
			first = u + 1;
		}
		if (first <= ranges[i].last && first != 0)
			rr[k++] = (struct store_uidrange){ first, ranges[i].last };
	}
	if (k == 0)
		return 0;
	return store_flags_update(s->acct, s->sel->mailbox_id, rr, k, STORE_FLAGS_REMOVE, 0, other,
	                          0, NULL, modseq_r, e);
}

static enum store_flag_op store_op(enum imap_store_mode m)
{
	return m == IMAP_STORE_ADD ? STORE_FLAGS_ADD
	     : m == IMAP_STORE_REMOVE ? STORE_FLAGS_REMOVE : STORE_FLAGS_SET;
}

/* What one STORE asks and does. */
struct store_change {
	unsigned flags;
	const char *keywords;
	const char *other;               /* the junk keyword to remove, or NULL */
	struct store_uids failed;        /* UNCHANGEDSINCE left these alone */
	uint64_t modseq, modseq_junk;
};

/* The flags of STORE, checked; false with r set. */
static bool store_flags_read(struct imapsrv_session *s, const struct imap_store *st,
                             struct store_change *ch, struct imapsrv_result *r)
{
	struct error e;
	if (imapsrv_parse_flags(st->flags, st->n_flags, s->cmd_arena, &ch->flags, &ch->keywords,
	                        &e) != 0) {
		imapsrv_result_set(r, "BAD", NULL, "%s", e.msg);
		return false;
	}
	ch->other = junk_opposite(ch->keywords);
	if (ch->other != NULL && ch->other[0] == '\0' && st->mode != IMAP_STORE_REMOVE) {
		imapsrv_result_set(r, "BAD", NULL, "$Junk and $NotJunk exclude each other");
		return false;
	}
	if (st->mode != IMAP_STORE_ADD)
		ch->other = NULL;
	return true;
}

/* Changes the stored flags of the messages in ranges. */
static int store_apply(struct imapsrv_session *s, const struct imap_store *st,
                       const struct store_uidrange *ranges, size_t n, struct store_change *ch,
                       struct error *e)
{
	if (n == 0)
		return 0;
	/* RFC 7162 §3.1.3: UNCHANGEDSINCE 0 fails for every message, all of
	 * which have a modseq; the store reads 0 as "no condition". */
	if (st->has_unchangedsince && st->unchangedsince == 0) {
		for (size_t k = 0; k < n; k++) {
			size_t lo, hi = imapsrv_view_span(s->sel, &ranges[k], &lo);
			for (size_t i = lo; i < hi; i++)
				uids_push(&ch->failed, s->sel->uids[i]);
		}
		return 0;
	}
	if (store_flags_update(s->acct, s->sel->mailbox_id, ranges, n, store_op(st->mode), ch->flags,
	                       ch->keywords, st->has_unchangedsince ? st->unchangedsince : 0,
	                       &ch->failed, &ch->modseq, e) != 0)
		return -1;
	if (ch->other != NULL)
		return junk_exclusive(s, ranges, n, ch->other, &ch->failed, &ch->modseq_junk, e);
	return 0;
}

/* The untagged FETCH answers; -1 on a broken connection. */
static int store_answer(struct imapsrv_session *s, const struct imap_command *cmd,
                        const struct store_uidrange *ranges, size_t n,
                        const struct store_change *ch)
{
	struct buf *b = &s->wbuf;
	struct error e;
	buf_reset(b);
	struct store_walk w = { s, cmd, ranges, n, ch->modseq, ch->modseq_junk, 0, b, 0 };
	if (store_msg_list(s->acct, s->sel->mailbox_id, NULL, 0, s->sel->highestmodseq, store_report,
	                   &w, &e) == 0 && w.rc == 0)
		store_catch_up(s, &w);
	if (w.rc != 0 || flush_chunk(s, b, true) != 0)
		return -1;
	return 0;
}

/* The tagged completion: RFC 7162 §3.1.3, MODIFIED lists the messages left
 * alone, as sequence numbers for STORE and UIDs for UID STORE. */
static void store_result(struct imapsrv_session *s, const struct imap_command *cmd,
                         const struct store_change *ch, struct imapsrv_result *r)
{
	if (ch->failed.n == 0) {
		imapsrv_result_set(r, "OK", NULL, "%sSTORE completed", cmd->uid ? "UID " : "");
		return;
	}
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "MODIFIED ");
	write_numbers(s->sel, ch->failed.v, ch->failed.n, cmd->uid, s->cmd_arena, &b);
	const char *code = arena_strdup(s->cmd_arena, b.data);
	buf_free(&b);
	imapsrv_result_set(r, "OK", code, "Conditional STORE completed");
}

int imapsrv_cmd_store(struct imapsrv_session *s, const struct imap_command *cmd,
                      struct imapsrv_result *r)
{
	const struct imap_store *st = &cmd->store;
	struct store_change ch = {0};
	if (!store_flags_read(s, st, &ch, r))
		return 0;
	if (s->sel->readonly) {
		/* RFC 9051 §6.3.3: EXAMINE gives a read-only mailbox. */
		imapsrv_result_set(r, "NO", "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return 0;
	}
	struct store_uidrange *ranges;
	size_t n;
	if (!set_ranges(s, &st->set, cmd->uid, r, &ranges, &n))
		return 0;
	/* RFC 7162 §3.1: UNCHANGEDSINCE enables CONDSTORE. */
	if (st->has_unchangedsince && imapsrv_search_enable_condstore(s) != 0)
		return -1;
	struct error e;
	int rc = 0;
	if (store_apply(s, st, ranges, n, &ch, &e) != 0)
		imapsrv_result_store_error(r, &e);
	else if ((rc = store_answer(s, cmd, ranges, n, &ch)) == 0)
		store_result(s, cmd, &ch, r);
	store_uids_free(&ch.failed);
	return rc;
}

/*
 * COPY, MOVE.
 */

/* The destination's id, or -1 with r set: RFC 9051 §6.4.7, TRYCREATE when it
 * does not exist. */
static int64_t destination(struct imapsrv_session *s, const struct imap_command *cmd,
                           struct imapsrv_result *r)
{
	const char *name = cmd->mailbox;
	struct store_mailbox mb;
	struct error e;
	/* a name that cannot exist: no TRYCREATE, which would invite a CREATE
	 * bound to fail (RFC 9051 §6.4.7) */
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "NONEXISTENT", r))
		return -1;
	if (store_mailbox_status(s->acct, name, s->cmd_arena, &mb, &e) != 0) {
		if (e.kind == ERR_NOTFOUND)
			imapsrv_result_set(r, "NO", "TRYCREATE", "Mailbox %s does not exist", name);
		else
			imapsrv_result_store_error(r, &e);
		return -1;
	}
	if (mb.noselect) {
		imapsrv_result_set(r, "NO", "CANNOT", "Mailbox %s cannot hold messages", name);
		return -1;
	}
	return mb.id;
}

/* A COPY or MOVE: what it names, and what the store did. */
struct transfer {
	struct store_uidrange *ranges;   /* the messages */
	size_t n;
	int64_t dst;                     /* the destination mailbox */
	struct store_uids src, dstu;     /* the UIDs transferred, in source and destination */
	uint32_t uidvalidity;            /* of the destination */
};

static void transfer_free(struct transfer *t)
{
	store_uids_free(&t->src);
	store_uids_free(&t->dstu);
}

/* "COPYUID uidvalidity src dst" (RFC 4315 §3) of t in the arena. */
static const char *copyuid(struct imapsrv_session *s, const struct transfer *t)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "COPYUID %u ", t->uidvalidity);
	imapsrv_write_uidset(&b, t->src.v, t->src.n);
	buf_append_char(&b, ' ');
	imapsrv_write_uidset(&b, t->dstu.v, t->dstu.n);
	const char *out = arena_strdup(s->cmd_arena, b.data);
	buf_free(&b);
	return out;
}

/* Fills t from cmd: false when r already holds the answer (a bad set, a bad
 * mailbox, or no message to transfer). Release t with transfer_free. */
static bool transfer_args(struct imapsrv_session *s, const struct imap_command *cmd,
                          const char *verb, struct imapsrv_result *r, struct transfer *t)
{
	*t = (struct transfer){0};
	if (!set_ranges(s, &cmd->set, cmd->uid, r, &t->ranges, &t->n))
		return false;
	t->dst = destination(s, cmd, r);
	if (t->dst < 0)
		return false;
	if (t->n == 0) {
		/* RFC 9051 §6.4.9: UIDs that name no message are not an error. */
		imapsrv_result_set(r, "OK", NULL, "%s completed: no messages", verb);
		return false;
	}
	return true;
}

int imapsrv_cmd_copy(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	const char *verb = cmd->uid ? "UID COPY" : "COPY";
	struct transfer t;
	if (!transfer_args(s, cmd, verb, r, &t))
		return 0;
	struct error e;
	if (store_copy(s->acct, s->sel->mailbox_id, t.ranges, t.n, t.dst, &t.src, &t.dstu,
	               &t.uidvalidity, &e) != 0) {
		/* RFC 9208 §4.2: OVERQUOTA when the copy would pass the quota. */
		imapsrv_result_store_error(r, &e);
	} else if (t.src.n == 0) {
		imapsrv_result_set(r, "OK", NULL, "%s completed: no messages", verb);
	} else {
		imapsrv_result_set(r, "OK", copyuid(s, &t), "%s completed", verb);
	}
	transfer_free(&t);
	return 0;
}

int imapsrv_report_expunged(struct imapsrv_session *s, const uint32_t *uids, size_t n)
{
	struct buf *b = &s->wbuf;
	buf_reset(b);
	if (s->out.qresync) {
		/* RFC 7162 §3.2.10: VANISHED with the UIDs, for the ones in view. */
		uint32_t *v = arena_alloc(s->cmd_arena, (n + 1) * sizeof(*v));
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (imapsrv_seq_of(s->sel, uids[i]) != 0)
				v[k++] = uids[i];
		imapsrv_view_remove_many(s->sel, v, k);
		if (k == 0)
			return 0;
		buf_append_str(b, "* VANISHED ");
		imapsrv_write_uidset(b, v, k);
		buf_append_str(b, "\r\n");
		return flush_chunk(s, b, true);
	}
	/* RFC 9051 §7.5.1: each EXPUNGE numbers the message in the view left by
	 * the ones before it: uids ascend, so its number less those gone
	 * before; the view loses them all in one pass. */
	uint32_t *v = arena_alloc(s->cmd_arena, (n + 1) * sizeof(*v));
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint32_t seq = imapsrv_seq_of(s->sel, uids[i]);
		if (seq == 0 || (k > 0 && uids[i] <= v[k - 1]))
			continue;
		buf_appendf(b, "* %zu EXPUNGE\r\n", (size_t)seq - k);
		v[k++] = uids[i];
		rc = flush_chunk(s, b, false);
	}
	imapsrv_view_remove_many(s->sel, v, k);
	return rc != 0 ? -1 : flush_chunk(s, b, true);
}

/* The UIDs of src as ranges, consecutive ones joined (src ascends). */
static struct store_uidrange *exact_ranges(struct arena *a, const struct store_uids *src,
                                           size_t *n_r)
{
	struct store_uidrange *v = arena_alloc(a, (src->n + 1) * sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < src->n; i++) {
		if (k > 0 && v[k - 1].last + 1 == src->v[i])
			v[k - 1].last = src->v[i];
		else
			v[k++] = (struct store_uidrange){ src->v[i], src->v[i] };
	}
	*n_r = k;
	return v;
}

/* MOVE into the selected mailbox itself. RFC 6851 does not forbid it; as
 * §3.3 describes MOVE (a COPY, then the originals expunged) and as Dovecot
 * does, the messages get new UIDs and the originals go. The store moves only
 * between two mailboxes, so this is a copy, then \Deleted on exactly the
 * copied originals and their expunge: only those UIDs, so that other
 * \Deleted messages stay. On a failure after the copy, the copies remain
 * beside the originals (nothing is lost) and the error is returned. */
static int move_within(struct imapsrv_session *s, const struct store_uidrange *ranges, size_t n,
                       struct store_uids *src, struct store_uids *dstu, uint32_t *uidvalidity,
                       struct error *e)
{
	int64_t id = s->sel->mailbox_id;
	if (store_copy(s->acct, id, ranges, n, id, src, dstu, uidvalidity, e) != 0)
		return -1;
	if (src->n == 0)
		return 0;
	size_t k;
	struct store_uidrange *exact = exact_ranges(s->cmd_arena, src, &k);
	if (store_flags_update(s->acct, id, exact, k, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0,
	                       NULL, NULL, e) != 0)
		return -1;
	return store_expunge(s->acct, id, exact, k, NULL, e);
}

int imapsrv_cmd_move(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	if (s->sel->readonly) {
		/* RFC 6851 §3.3: MOVE expunges, which a read-only mailbox refuses. */
		imapsrv_result_set(r, "NO", "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return 0;
	}
	const char *verb = cmd->uid ? "UID MOVE" : "MOVE";
	struct transfer t;
	if (!transfer_args(s, cmd, verb, r, &t))
		return 0;
	struct error e;
	int rc = 0;
	int stored = t.dst == s->sel->mailbox_id ?
		move_within(s, t.ranges, t.n, &t.src, &t.dstu, &t.uidvalidity, &e) :
		store_move(s->acct, s->sel->mailbox_id, t.ranges, t.n, t.dst, &t.src, &t.dstu,
		           &t.uidvalidity, &e);
	if (stored != 0) {
		imapsrv_result_store_error(r, &e);
	} else {
		/* RFC 6851 §4.3: COPYUID goes in an untagged OK before the
		 * expunges, as the tagged OK comes after them. */
		if (t.src.n > 0) {
			buf_reset(&s->wbuf);
			buf_appendf(&s->wbuf, "* OK [%s] Moved\r\n", copyuid(s, &t));
			rc = imapsrv_send(s, &s->wbuf);
		}
		if (rc == 0)
			rc = imapsrv_report_expunged(s, t.src.v, t.src.n);
		imapsrv_result_set(r, "OK", NULL, "%s completed", verb);
	}
	transfer_free(&t);
	return rc;
}

/*
 * EXPUNGE, UID EXPUNGE.
 */

int imapsrv_cmd_expunge(struct imapsrv_session *s, const struct imap_command *cmd,
                        struct imapsrv_result *r)
{
	const char *verb = cmd->uid ? "UID EXPUNGE" : "EXPUNGE";
	if (s->sel->readonly) {
		/* RFC 9051 §6.4.3: nothing is expunged in a read-only mailbox. */
		imapsrv_result_set(r, "NO", "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return 0;
	}
	struct store_uidrange all, *ranges = &all;
	size_t n = 0;
	if (cmd->uid) {
		/* RFC 4315 §2.1: only the \Deleted messages among the UIDs. */
		if (!set_ranges(s, &cmd->set, true, r, &ranges, &n))
			return 0;
	} else if (s->sel->n > 0) {
		/* Every message in the view, and none the client has not seen. */
		all = (struct store_uidrange){ s->sel->uids[0], s->sel->uids[s->sel->n - 1] };
		n = 1;
	}
	if (n == 0) {
		imapsrv_result_set(r, "OK", NULL, "%s completed", verb);
		return 0;
	}
	struct store_uids gone = {0};
	struct error e;
	int rc = 0;
	if (store_expunge(s->acct, s->sel->mailbox_id, ranges, n, &gone, &e) != 0) {
		imapsrv_result_store_error(r, &e);
	} else {
		rc = imapsrv_report_expunged(s, gone.v, gone.n);
		imapsrv_result_set(r, "OK", NULL, "%s completed", verb);
	}
	store_uids_free(&gone);
	return rc;
}
