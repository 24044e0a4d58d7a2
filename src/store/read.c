/*
 * read.c: reading messages: listing a mailbox in UID order in bounded batches
 * (RFC 9051 §6.4.5 FETCH, RFC 7162 §3.1.4 CHANGEDSINCE), the stored details of
 * one message, and opening its file (with the delivery headers to prepend).
 */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mailbox_exists(struct store_account *a, int64_t mbox, struct error *err)
{
	int64_t one;
	struct store_account *rd = store_reader(a);
	int r = db_get(rd, err, &one, "SELECT 1 FROM mailbox WHERE id = ?", 1, mbox);
	store_reader_release(rd);
	if (r == 0)
		return error_set(err, ERR_NOTFOUND, "mailbox does not exist");
	return r < 0 ? -1 : 0;
}

/* Walks one range; returns 0 done, 1 stopped by cb, -1 error. */
static int list_range(struct store_account *a, int64_t mbox, const struct store_uidrange *rg,
                      uint64_t changedsince, struct msg_batch *b, store_msg_cb *cb, void *ctx,
                      struct error *err)
{
	uint32_t after = rg->first - 1;
	do {
		if (after >= rg->last)
			return 0;
		struct store_account *rd = store_reader(a);
		int r = rows_load(rd, mbox, after, rg->last, changedsince, ROWS_ALL, b, err);
		store_reader_release(rd);
		if (r != 0)
			return -1;
		/* The lock is free while the caller works on the batch. */
		for (size_t i = 0; i < b->n; i++) {
			if (cb(ctx, &b->rows[i].info) != 0)
				return 1;
		}
		if (b->n > 0)
			after = b->rows[b->n - 1].info.uid;
	} while (b->n == STORE_BATCH);
	return 0;
}

int store_msg_list(struct store_account *a, int64_t mbox, const struct store_uidrange *ranges,
                   size_t nranges, uint64_t changedsince, store_msg_cb *cb, void *ctx,
                   struct error *err)
{
	return store_msg_list_want(a, mbox, ranges, nranges, changedsince, 0, cb, ctx, err);
}

int store_msg_list_want(struct store_account *a, int64_t mbox,
                        const struct store_uidrange *ranges, size_t nranges,
                        uint64_t changedsince, unsigned want, store_msg_cb *cb, void *ctx,
                        struct error *err)
{
	if (mailbox_exists(a, mbox, err) != 0)
		return -1;
	size_t n;
	struct store_uidrange *rg = ranges_normalize(ranges, nranges, &n);
	struct msg_batch *b = rows_batch_new();
	b->want = want;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = list_range(a, mbox, &rg[i], changedsince, b, cb, ctx, err);
	rows_batch_free(&b);
	free(rg);
	return r < 0 ? -1 : 0;
}

static void detail_from_row(sqlite3_stmt *st, struct arena *arena, struct store_msgdetail *d)
{
	struct store_msginfo *m = &d->info;
	m->id = sqlite3_column_int64(st, 0);
	m->content_id = sqlite3_column_int64(st, 1);
	m->uid = (uint32_t)sqlite3_column_int64(st, 2);
	m->modseq = (uint64_t)sqlite3_column_int64(st, 3);
	m->flags = (unsigned)sqlite3_column_int64(st, 4);
	m->keywords = db_col_text(st, 5, arena, true);
	m->received = sqlite3_column_int64(st, 6);
	m->saved = sqlite3_column_int64(st, 7);
	m->size = (uint64_t)sqlite3_column_int64(st, 8);
	d->structure_len = (size_t)sqlite3_column_bytes(st, 9);
	d->structure = NULL;
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		void *p = arena_alloc(arena, d->structure_len);
		if (d->structure_len > 0)
			memcpy(p, sqlite3_column_blob(st, 9), d->structure_len);
		d->structure = p;
	}
	const char **texts[] = {&d->message_id, &d->subject, &d->from, &d->added_headers,
	                        &d->remote_ip, &d->ehlo, &d->mail_from, &d->rcpt_to, &d->tls,
	                        &d->spf, &d->dkim, &d->dmarc};
	for (int i = 0; i < 12; i++)
		*texts[i] = db_col_text(st, 10 + i, arena, false);
	d->date = sqlite3_column_int64(st, 22);
}

int store_msg_get(struct store_account *a, int64_t mbox, uint32_t uid, struct arena *arena,
                  struct store_msgdetail *d, struct error *err)
{
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_prepare(a, "SELECT m.id, m.content_id, m.uid, m.modseq, m.flags, m.keywords,"
	                   " c.received, m.saved, m.size, c.structure, c.message_id, c.subject,"
	                   " c.from_addr, c.added_headers, c.remote_ip, c.ehlo, c.mail_from,"
	                   " c.rcpt_to, c.tls, c.spf, c.dkim, c.dmarc, c.date"
	                   " FROM message m JOIN content c ON c.id = m.content_id"
	                   " WHERE m.mailbox_id = ? AND m.uid = ?", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, uid);
		r = db_step(a, st, err);
		if (r == 1)
			detail_from_row(st, arena, d);
		else if (r == 0)
			r = error_set(err, ERR_NOTFOUND, "no message with UID %u", uid);
		db_finish(a, st);
	}
	store_unlock(a);
	return r < 0 ? -1 : 0;
}

/* Reads the row and opens the file on connection a (locked). Files are
 * unlinked only after their rows are gone: on the writer's connection the
 * open comes before any expunge can commit. On a reader it may come after:
 * a missing file returns 1 unless strict (the writer then decides). */
static int open_on(struct store_account *a, int64_t mbox, uint32_t uid, struct arena *arena,
                   bool strict, struct store_msgfile *f, struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "SELECT c.id, c.file_size, c.added_headers FROM message m"
	               " JOIN content c ON c.id = m.content_id WHERE m.mailbox_id = ? AND m.uid = ?",
	               &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, uid);
	int r = db_step(a, st, err);
	int64_t cid = r == 1 ? sqlite3_column_int64(st, 0) : 0;
	if (r == 1) {
		f->file_size = (uint64_t)sqlite3_column_int64(st, 1);
		f->prefix = db_col_text(st, 2, arena, true);
		f->prefix_len = strlen(f->prefix);
	}
	db_finish(a, st);
	if (r <= 0)
		return r == 0 ? error_set(err, ERR_NOTFOUND, "no message with UID %u", uid) : -1;
	char path[STORE_PATH_MAX];
	if (account_content_path(a, cid, "", path, sizeof(path), err) != 0)
		return -1;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 && errno == ENOENT && !strict)
		return 1;  /* expunged since it was looked up, or lost: ask the writer */
	if (f->fd < 0)
		return error_errno(err, errno, "opening %s", path);
	return 0;
}

int store_msg_open(struct store_account *a, int64_t mbox, uint32_t uid, struct arena *arena,
                   struct store_msgfile *f, struct error *err)
{
	f->fd = -1;
	struct store_account *rd = store_reader(a);
	int r = open_on(rd, mbox, uid, arena, rd == a, f, err);
	store_reader_release(rd);
	if (r != 1)
		return r;
	/* The file went between the reader's lookup and the open: under the
	 * writer's lock an expunge has either removed the row (not found) or
	 * not begun, and a file still missing then is lost. */
	store_lock(a);
	r = open_on(a, mbox, uid, arena, true, f, err);
	store_unlock(a);
	return r;
}

int store_mailbox_keywords(struct store_account *a, int64_t mbox, struct arena *arena,
                           const char **keywords_r, struct error *err)
{
	struct buf acc;
	sqlite3_stmt *st;
	size_t count = 0;
	buf_init(&acc, STORE_MAILBOX_KEYWORDS_MAX * (STORE_KEYWORD_MAX + 1));
	store_lock(a);
	int r = db_prepare(a, "SELECT DISTINCT keywords FROM message"
	                   " WHERE mailbox_id = ? AND keywords != ''", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, mbox);
		while ((r = db_step(a, st, err)) == 1) {
			const char *kw = (const char *)sqlite3_column_text(st, 0);
			if (kw != NULL)
				count = keywords_union(&acc, count, kw, STORE_MAILBOX_KEYWORDS_MAX);
		}
		db_finish(a, st);
	}
	store_unlock(a);
	*keywords_r = arena_strdup(arena, acc.data);
	buf_free(&acc);
	return r < 0 ? -1 : 0;
}

int store_find_message_id(struct store_account *a, const char *message_id,
                          struct store_msgref *out, size_t max, size_t *n_r, struct error *err)
{
	sqlite3_stmt *st;
	*n_r = 0;
	store_lock(a);
	int r = db_prepare(a, "SELECT m.mailbox_id, m.uid FROM content c"
	                   " JOIN message m ON m.content_id = c.id WHERE c.message_id_hash = ?3"
	                   " AND c.message_id = ?1 ORDER BY m.id LIMIT ?2", &st, err);
	if (r == 0) {
		db_bind_text(st, 1, message_id);
		sqlite3_bind_int64(st, 2, (int64_t)max);
		sqlite3_bind_int64(st, 3, store_message_id_hash(message_id));
		while ((r = db_step(a, st, err)) == 1) {
			out[*n_r].mailbox_id = sqlite3_column_int64(st, 0);
			out[(*n_r)++].uid = (uint32_t)sqlite3_column_int64(st, 1);
		}
		db_finish(a, st);
	}
	store_unlock(a);
	return r < 0 ? -1 : 0;
}

int64_t store_message_id_hash(const char *message_id)
{
	uint64_t h = 1469598103934665603ull;  /* FNV-1a, 64 bits */
	for (const unsigned char *p = (const unsigned char *)message_id; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (int64_t)h;
}
