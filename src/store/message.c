/*
 * message.c: changing messages: flags and keywords (RFC 9051 §6.4.6 STORE,
 * RFC 7162 §3.1.3 UNCHANGEDSINCE), EXPUNGE (RFC 9051 §6.4.3, UID EXPUNGE
 * §6.4.9), COPY (§6.4.7), MOVE (RFC 6851), and VANISHED (RFC 7162 §3.2.10).
 *
 * Each call is one transaction under the account lock. Messages are walked in
 * batches (rows.c); a walk never goes past the UIDNEXT seen when it started,
 * so messages it adds itself are not visited. Files whose last message went
 * are unlinked after the commit: a crash in between leaves an orphan file
 * (found by store_verify), never a row without its file.
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int msg_remove(struct store_account *a, int64_t mbox, const struct msg_row *r, uint64_t modseq,
               struct id_list *freed, struct error *err)
{
	int64_t refs = 0, cid = r->info.content_id;
	/* RFC 7162 §3.2.10: remember the expunge and its modseq for VANISHED. */
	if (db_run(a, err, "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)"
	           " VALUES (?, ?, ?)", 3, mbox, (int64_t)r->info.uid, (int64_t)modseq) != 0 ||
	    db_run(a, err, "DELETE FROM message WHERE id = ?", 1, r->info.id) != 0 ||
	    db_get(a, err, &refs, "SELECT count(*) FROM message WHERE content_id = ?", 1, cid) < 0)
		return -1;
	if (refs > 0)
		return 0;
	if (fts_delete(a, cid, err) != 0 ||
	    db_run(a, err, "DELETE FROM content WHERE id = ?", 1, cid) != 0)
		return -1;
	id_list_push(freed, cid);
	return 0;
}

void msg_unlink_files(struct store_account *a, const struct id_list *freed)
{
	char path[STORE_PATH_MAX];
	for (size_t i = 0; i < freed->n; i++) {
		if (account_content_path(a, freed->v[i], "", path, sizeof(path), NULL) == 0)
			unlink(path);  /* failure leaves an orphan for store_verify */
	}
}

/* What one call does; fn runs inside the transaction. */
struct job {
	int64_t mbox, dst;
	struct store_uidrange *ranges;
	size_t nranges;
	uint32_t limit;                  /* highest UID to visit */
	uint64_t modseq;                 /* 0 until something changed */
	int (*row)(struct store_account *a, struct job *j, const struct msg_row *r,
	           struct error *err);
	enum rows_filter filter;
	/* flags */
	enum store_flag_op op;
	unsigned flags;
	const char *keywords;
	uint64_t unchangedsince;
	struct buf kwbuf;
	/* results */
	struct store_uids *out1, *out2;
	uint32_t dst_uidvalidity;
	struct id_list freed;
};

static int take_modseq(struct store_account *a, struct job *j, struct error *err)
{
	if (j->modseq != 0)
		return 0;
	return db_next_modseq(a, &j->modseq, err);
}

static int walk_range(struct store_account *a, struct job *j, struct msg_batch *b,
                      const struct store_uidrange *rg, struct error *err)
{
	uint32_t after = rg->first - 1;
	uint32_t last = rg->last < j->limit ? rg->last : j->limit;
	int r = 0;
	do {
		if (after >= last || rows_load(a, j->mbox, after, last, 0, j->filter, b, err) != 0)
			return after >= last ? 0 : -1;
		for (size_t i = 0; i < b->n && r == 0; i++)
			r = j->row(a, j, &b->rows[i], err);
		if (b->n > 0)
			after = b->rows[b->n - 1].info.uid;
	} while (r == 0 && b->n == STORE_BATCH);
	return r;
}

static int walk(struct store_account *a, struct job *j, struct error *err)
{
	int64_t next = 0;
	int r = db_get(a, err, &next, "SELECT uidnext FROM mailbox WHERE id = ?", 1, j->mbox);
	if (r <= 0)
		return r == 0 ? error_set(err, ERR_NOTFOUND, "mailbox does not exist") : -1;
	j->limit = (uint32_t)(next - 1);
	struct msg_batch *b = rows_batch_new();
	for (size_t i = 0; i < j->nranges && r >= 0; i++)
		r = walk_range(a, j, b, &j->ranges[i], err);
	rows_batch_free(&b);
	if (r >= 0 && j->modseq != 0)
		r = mbox_set_modseq(a, j->mbox, j->modseq, err);
	return r < 0 ? -1 : 0;
}

/* Runs the job in a transaction; on failure the result lists are restored. */
static int run_job(struct store_account *a, struct job *j, int (*fn)(struct store_account *,
                   struct job *, struct error *), struct error *err)
{
	size_t n1 = j->out1 != NULL ? j->out1->n : 0, n2 = j->out2 != NULL ? j->out2->n : 0;
	store_lock(a);
	int r = db_begin(a, err);
	if (r == 0 && (r = fn(a, j, err)) != 0)
		db_rollback(a);
	if (r == 0)
		r = db_commit(a, err);
	store_unlock(a);
	if (r == 0)
		msg_unlink_files(a, &j->freed);
	id_list_free(&j->freed);
	free(j->ranges);
	if (r != 0 && j->out1 != NULL)
		j->out1->n = n1;
	if (r != 0 && j->out2 != NULL)
		j->out2->n = n2;
	return r;
}

static unsigned flags_apply(unsigned old, enum store_flag_op op, unsigned f)
{
	if (op == STORE_FLAGS_SET)
		return f;
	return op == STORE_FLAGS_ADD ? (old | f) : (old & ~f);
}

static int flags_row(struct store_account *a, struct job *j, const struct msg_row *r,
                     struct error *err)
{
	/* RFC 7162 §3.1.3: a message changed after UNCHANGEDSINCE is left alone
	 * and reported in the MODIFIED response code. */
	if (j->unchangedsince != 0 && r->info.modseq > j->unchangedsince) {
		uids_push(j->out1, r->info.uid);
		return 0;
	}
	unsigned nf = flags_apply(r->info.flags, j->op, j->flags);
	if (keywords_apply(r->info.keywords, j->keywords, j->op, &j->kwbuf, err) != 0)
		return -1;
	if (nf == r->info.flags && strcmp(j->kwbuf.data, r->info.keywords) == 0)
		return 0;  /* nothing changes: no new modseq */
	if (take_modseq(a, j, err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (db_prepare(a, "UPDATE message SET flags = ?, keywords = ?, modseq = ? WHERE id = ?",
	               &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, nf);
	db_bind_text(st, 2, j->kwbuf.data);
	sqlite3_bind_int64(st, 3, (int64_t)j->modseq);
	sqlite3_bind_int64(st, 4, r->info.id);
	return db_run_stmt(a, st, err);
}

int store_flags_update(struct store_account *a, int64_t mbox, const struct store_uidrange *ranges,
                       size_t nranges, enum store_flag_op op, unsigned flags, const char *keywords,
                       uint64_t unchangedsince, struct store_uids *failed, uint64_t *modseq_r,
                       struct error *err)
{
	if ((flags & ~(unsigned)STORE_FLAGS_ALL) != 0)
		return error_set(err, ERR_INVALID, "unknown flag bits");
	struct job j = {.mbox = mbox, .row = flags_row, .op = op, .flags = flags,
	                .unchangedsince = unchangedsince, .out1 = failed};
	buf_init(&j.kwbuf, STORE_KEYWORDS_MAX * (STORE_KEYWORD_MAX + 1));
	/* Validate the keywords once; rows then only merge. */
	if (keywords_canon(keywords, &j.kwbuf, err) != 0) {
		buf_free(&j.kwbuf);
		return -1;
	}
	char *kw = strdup(j.kwbuf.data);
	if (kw == NULL)
		abort();
	j.keywords = kw;
	j.ranges = ranges_normalize(ranges, nranges, &j.nranges);
	int r = run_job(a, &j, walk, err);
	free(kw);
	buf_free(&j.kwbuf);
	if (modseq_r != NULL)
		*modseq_r = r == 0 ? j.modseq : 0;
	if (r == 0 && j.modseq != 0)
		notify_change(a, mbox);
	return r;
}

static int expunge_row(struct store_account *a, struct job *j, const struct msg_row *r,
                       struct error *err)
{
	if (take_modseq(a, j, err) != 0 || msg_remove(a, j->mbox, r, j->modseq, &j->freed, err) != 0)
		return -1;
	uids_push(j->out1, r->info.uid);
	return 0;
}

int store_expunge(struct store_account *a, int64_t mbox, const struct store_uidrange *ranges,
                  size_t nranges, struct store_uids *expunged, struct error *err)
{
	struct job j = {.mbox = mbox, .row = expunge_row, .filter = ROWS_DELETED, .out1 = expunged};
	j.ranges = ranges_normalize(ranges, nranges, &j.nranges);
	int r = run_job(a, &j, walk, err);
	if (r == 0 && j.modseq != 0)
		notify_change(a, mbox);
	return r;
}

/* A new UID in the target mailbox, under this call's modseq. */
static int dst_uid(struct store_account *a, struct job *j, uint32_t *uid, struct error *err)
{
	if (take_modseq(a, j, err) != 0)
		return -1;
	return mbox_take_uid(a, j->dst, j->modseq, uid, &j->dst_uidvalidity, err);
}

static int copy_row(struct store_account *a, struct job *j, const struct msg_row *r,
                    struct error *err)
{
	uint32_t uid;
	if (dst_uid(a, j, &uid, err) != 0)
		return -1;
	/* RFC 9051 §6.4.7: the copy keeps flags and INTERNALDATE (on content);
	 * RFC 8514 §2: its SAVEDATE is now. */
	if (db_run(a, err, "INSERT INTO message (mailbox_id, uid, content_id, modseq, flags,"
	           " keywords, saved, size) SELECT ?, ?, content_id, ?, flags, keywords, ?,"
	           " size FROM message WHERE id = ?", 5, j->dst, (int64_t)uid, (int64_t)j->modseq,
	           (int64_t)time(NULL), r->info.id) != 0)
		return -1;
	uids_push(j->out1, r->info.uid);
	uids_push(j->out2, uid);
	return 0;
}

static int move_row(struct store_account *a, struct job *j, const struct msg_row *r,
                    struct error *err)
{
	uint32_t uid;
	if (dst_uid(a, j, &uid, err) != 0)
		return -1;
	/* RFC 6851 §3.3: the message leaves the source as if expunged there. */
	if (db_run(a, err, "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)"
	           " VALUES (?, ?, ?)", 3, j->mbox, (int64_t)r->info.uid, (int64_t)j->modseq) != 0 ||
	    db_run(a, err, "UPDATE message SET mailbox_id = ?, uid = ?, modseq = ?, saved = ?"
	           " WHERE id = ?", 5, j->dst, (int64_t)uid, (int64_t)j->modseq,
	           (int64_t)time(NULL), r->info.id) != 0)
		return -1;
	uids_push(j->out1, r->info.uid);
	uids_push(j->out2, uid);
	return 0;
}

static int copy_walk(struct store_account *a, struct job *j, struct error *err)
{
	int64_t noselect = 0;
	int r = db_get(a, err, &noselect, "SELECT noselect FROM mailbox WHERE id = ?", 1, j->dst);
	if (r <= 0)
		return r == 0 ? error_set(err, ERR_NOTFOUND, "target mailbox does not exist") : -1;
	if (walk(a, j, err) != 0)
		return -1;
	if (j->row == copy_row)
		return account_check_quota(a, err);
	return 0;
}

static int copy_or_move(struct store_account *a, int64_t src, const struct store_uidrange *ranges,
                        size_t nranges, int64_t dst, struct store_uids *src_uids,
                        struct store_uids *dst_uids, uint32_t *uidvalidity_r, bool move,
                        struct error *err)
{
	if (move && src == dst)
		return error_set(err, ERR_INVALID, "cannot move messages to their own mailbox");
	struct job j = {.mbox = src, .dst = dst, .row = move ? move_row : copy_row,
	                .out1 = src_uids, .out2 = dst_uids};
	j.ranges = ranges_normalize(ranges, nranges, &j.nranges);
	int r = run_job(a, &j, copy_walk, err);
	if (uidvalidity_r != NULL)
		*uidvalidity_r = j.dst_uidvalidity;
	if (r == 0 && j.modseq != 0) {
		notify_change(a, dst);
		if (move)
			notify_change(a, src);
	}
	return r;
}

int store_copy(struct store_account *a, int64_t src, const struct store_uidrange *ranges,
               size_t nranges, int64_t dst, struct store_uids *src_uids,
               struct store_uids *dst_uids, uint32_t *uidvalidity_r, struct error *err)
{
	return copy_or_move(a, src, ranges, nranges, dst, src_uids, dst_uids, uidvalidity_r, false,
	                    err);
}

int store_move(struct store_account *a, int64_t src, const struct store_uidrange *ranges,
               size_t nranges, int64_t dst, struct store_uids *src_uids,
               struct store_uids *dst_uids, uint32_t *uidvalidity_r, struct error *err)
{
	return copy_or_move(a, src, ranges, nranges, dst, src_uids, dst_uids, uidvalidity_r, true,
	                    err);
}

int store_vanished(struct store_account *a, int64_t mbox, uint64_t since, struct store_uids *out,
                   struct error *err)
{
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_prepare(a, "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?"
	                   " ORDER BY uid", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, (int64_t)since);
		while ((r = db_step(a, st, err)) == 1)
			uids_push(out, (uint32_t)sqlite3_column_int64(st, 0));
		db_finish(a, st);
	}
	store_unlock(a);
	return r < 0 ? -1 : 0;
}
