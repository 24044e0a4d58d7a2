/*
 * deliver.c: durable delivery of one message (SMTP delivery, IMAP APPEND
 * RFC 9051 §6.3.12), from memory or from a descriptor.
 *
 * Order (DESIGN.md "Storage"), so that a crash at any point leaves either no
 * message (at worst an orphan file, found by store_verify) or a whole one:
 *   1. reserve a content id (committed: never handed out twice);
 *   2. write msg/DIR/ID.tmp, fsync it, rename to msg/DIR/ID, fsync DIR;
 *   3. one transaction: content row, message row (next UID, new modseq),
 *      FTS row, quota check; COMMIT with synchronous=FULL;
 *   4. only then return 0. If 3 fails, the file is removed.
 * The account lock is held in 1 and 3 only, never while writing the file.
 */
#include "store/internal.h"

#include "core/arena.h"
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Copy buffer for store_deliver_fd: memory per delivery is this, whatever
 * the message size. */
#define DELIVER_COPY_BUF 65536

/* Largest parsed-structure blob: far above any real message's MIME tree, and
 * below SQLite's bind limit. */
#define DELIVER_STRUCTURE_MAX (64 * 1024 * 1024)

struct target {
	int fd;
	char tmp[STORE_PATH_MAX];
	char path[STORE_PATH_MAX];
	uint64_t size;
	uint64_t room;   /* quota bytes left */
	/* The added headers and the file's start up to the end of its header
	 * (at most STORE_HEADER_CAPTURE_MAX bytes of the file), for the
	 * texts kept from the header (summary.c). */
	struct buf head;
	bool head_done;
	struct header_texts texts;
};

static int check_delivery(const struct store_delivery *d, struct buf *kw, struct buf *mbox,
                          struct error *err)
{
	if ((d->flags & ~(unsigned)STORE_FLAGS_ALL) != 0)
		return error_set(err, ERR_INVALID, "unknown flag bits");
	if (d->structure_len > DELIVER_STRUCTURE_MAX)
		return error_set(err, ERR_INVALID, "parsed structure larger than %d bytes",
		                 DELIVER_STRUCTURE_MAX);
	if (keywords_canon(d->keywords, kw, err) != 0)
		return -1;
	size_t hl = d->added_headers != NULL ? strlen(d->added_headers) : 0;
	if (hl > 0 && (hl < 2 || strcmp(d->added_headers + hl - 2, "\r\n") != 0))
		return error_set(err, ERR_INVALID, "added headers must end in CRLF");
	return store_mailbox_name_canon(d->mailbox != NULL ? d->mailbox : "Inbox", mbox, err);
}

static int open_target(struct store_account *a, int64_t id, struct target *t, struct error *err)
{
	if (account_content_path(a, id, "", t->path, sizeof(t->path), err) != 0 ||
	    account_content_path(a, id, ".tmp", t->tmp, sizeof(t->tmp), err) != 0)
		return -1;
	char *slash = strrchr(t->path, '/');
	*slash = '\0';
	struct stat st;
	int r = 0;
	if (stat(t->path, &st) != 0) {
		/* A new msg/DIR: make it, and make its entry in msg/ durable. */
		r = file_mkdir_all(t->path, 0750, err);
		if (r == 0)
			r = file_sync_parent_dir(t->path, err);
	}
	*slash = '/';
	if (r != 0)
		return -1;
	t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (t->fd < 0)
		return error_errno(err, errno, "creating %s", t->tmp);
	return 0;
}

/* Keeps the bytes of [p, p + n) that belong to the header block, a piece
 * at a time so that a large message is not copied past its header. */
static void capture_head(struct target *t, const char *p, size_t n)
{
	while (!t->head_done && n > 0) {
		size_t k = n < 16384 ? n : 16384;
		if (k > buf_room(&t->head))
			k = buf_room(&t->head);
		size_t from = t->head.len > 2 ? t->head.len - 2 : 0;
		if (k == 0 || buf_append(&t->head, p, k) != 0) {
			t->head_done = true;  /* header larger than the parser reads */
			break;
		}
		t->head_done = message_header_complete(t->head.data, t->head.len, from);
		p += k;
		n -= k;
	}
}

static int write_all(struct target *t, const char *p, size_t n, struct error *err)
{
	if (n > t->room || t->size > t->room - n)
		return error_set(err, ERR_LIMIT, "quota exceeded: message larger than the %llu "
		                 "bytes left", (unsigned long long)t->room);
	capture_head(t, p, n);
	t->size += n;
	while (n > 0) {
		ssize_t w = write(t->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return error_errno(err, errno, "writing %s", t->tmp);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Where a streamed delivery reads from. */
struct source {
	store_read_fn *read;
	void *ctx;
};

static int copy_stream(struct target *t, const struct source *src, struct error *err)
{
	char *b = malloc(DELIVER_COPY_BUF);
	if (b == NULL)
		abort();
	int r = 0;
	for (;;) {
		ssize_t n = src->read(src->ctx, b, DELIVER_COPY_BUF, err);
		if (n < 0)
			r = -1;
		if (n <= 0 || (r = write_all(t, b, (size_t)n, err)) != 0)
			break;
	}
	free(b);
	return r;
}

static ssize_t read_fd(void *ctx, void *buf, size_t n, struct error *err)
{
	for (;;) {
		ssize_t r = read(*(int *)ctx, buf, n);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return error_errno(err, errno, "reading message");
	}
}

/* fsync the file, rename it into place, fsync the directory. */
static int finish_file(struct target *t, struct error *err)
{
	int r = 0;
	if (store_durable() && fsync(t->fd) != 0)
		r = error_errno(err, errno, "syncing %s", t->tmp);
	if (close(t->fd) != 0 && r == 0)
		r = error_errno(err, errno, "closing %s", t->tmp);
	t->fd = -1;
	if (r == 0 && rename(t->tmp, t->path) != 0)
		r = error_errno(err, errno, "renaming %s", t->tmp);
	if (r != 0) {
		unlink(t->tmp);
		return -1;
	}
	if (store_durable() && file_sync_parent_dir(t->path, err) != 0) {
		unlink(t->path);
		return -1;
	}
	return 0;
}

static int write_file(struct store_account *a, int64_t id, const void *data, size_t len,
                      const struct source *src, struct target *t, struct error *err)
{
	if (open_target(a, id, t, err) != 0)
		return -1;
	int r = data != NULL ? write_all(t, data, len, err) : copy_stream(t, src, err);
	if (r != 0) {
		close(t->fd);
		unlink(t->tmp);
		return -1;
	}
	return finish_file(t, err);
}

static int insert_content(struct store_account *a, const struct store_delivery *d, int64_t id,
                          const struct target *t, struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "INSERT INTO content (id, file_size, size, received, added_headers,"
	               " structure, message_id, subject, from_addr, date, remote_ip, ehlo,"
	               " mail_from, rcpt_to, tls, spf, dkim, dmarc, message_id_hash) VALUES (?1,"
	               " ?2, ?3, ?4, coalesce(?5, ''), ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	               " ?15, ?16, ?17, ?18, ?19)", &st, err) != 0)
		return -1;
	size_t hl = d->added_headers != NULL ? strlen(d->added_headers) : 0;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)t->size);
	sqlite3_bind_int64(st, 3, (int64_t)(t->size + hl));
	sqlite3_bind_int64(st, 4, d->received != 0 ? d->received : (int64_t)time(NULL));
	db_bind_text(st, 5, d->added_headers);
	if (d->structure != NULL)
		sqlite3_bind_blob(st, 6, d->structure, (int)d->structure_len, SQLITE_STATIC);
	const char *texts[] = {d->message_id, d->subject, d->from};
	for (int i = 0; i < 3; i++)
		db_bind_text(st, 7 + i, texts[i]);
	if (d->date != 0)
		sqlite3_bind_int64(st, 10, d->date);
	const char *meta[] = {d->remote_ip, d->ehlo, d->mail_from, d->rcpt_to, d->tls, d->spf,
	                      d->dkim, d->dmarc};
	for (int i = 0; i < 8; i++)
		db_bind_text(st, 11 + i, meta[i]);
	if (d->message_id != NULL)
		sqlite3_bind_int64(st, 19, store_message_id_hash(d->message_id));
	return db_run_stmt(a, st, err);
}

/* The header texts (summary.c), when there are any. */
static int insert_header_text(struct store_account *a, int64_t id, const struct target *t,
                              struct error *err)
{
	const struct header_texts *h = &t->texts;
	if (h->envelope == NULL && h->search == NULL)
		return 0;
	sqlite3_stmt *st;
	if (db_prepare(a, "INSERT INTO header_text (content_id, envelope, search_headers)"
	               " VALUES (?, ?, ?)", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (h->envelope != NULL)
		sqlite3_bind_blob(st, 2, h->envelope, (int)h->envelope_len, SQLITE_STATIC);
	if (h->search != NULL)
		sqlite3_bind_blob(st, 3, h->search, (int)h->search_len, SQLITE_STATIC);
	return db_run_stmt(a, st, err);
}

static int insert_message(struct store_account *a, const struct store_delivery *d,
                          const char *kw, int64_t content_id, const struct target *t,
                          struct store_delivered *res, struct error *err)
{
	sqlite3_stmt *st;
	size_t hl = d->added_headers != NULL ? strlen(d->added_headers) : 0;
	if (db_prepare(a, "INSERT INTO message (mailbox_id, uid, content_id, modseq, flags,"
	               " keywords, saved, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	               &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, res->mailbox_id);
	sqlite3_bind_int64(st, 2, res->uid);
	sqlite3_bind_int64(st, 3, content_id);
	sqlite3_bind_int64(st, 4, (int64_t)res->modseq);
	sqlite3_bind_int64(st, 5, d->flags);
	db_bind_text(st, 6, kw);
	sqlite3_bind_int64(st, 7, (int64_t)time(NULL));  /* RFC 8514 §2: SAVEDATE */
	sqlite3_bind_int64(st, 8, (int64_t)(t->size + hl));
	int r = db_step(a, st, err);
	if (r == 1) {
		res->id = sqlite3_column_int64(st, 0);
		res->size = t->size + hl;
	}
	db_finish(a, st);
	return r == 1 ? 0 : -1;
}

static int insert_rows(struct store_account *a, const struct store_delivery *d, const char *kw,
                       const char *mbox, int64_t id, const struct target *t,
                       struct store_delivered *res, struct error *err)
{
	res->content_id = id;
	if (mbox_lookup(a, mbox, &res->mailbox_id, err) != 0 ||
	    db_next_modseq(a, &res->modseq, err) != 0 ||
	    mbox_take_uid(a, res->mailbox_id, res->modseq, &res->uid, &res->uidvalidity, err) != 0 ||
	    insert_content(a, d, id, t, err) != 0 || insert_header_text(a, id, t, err) != 0 ||
	    insert_message(a, d, kw, id, t, res, err) != 0 || fts_index(a, id, d, err) != 0)
		return -1;
	return account_check_quota(a, err);
}

static int commit_rows(struct store_account *a, const struct store_delivery *d, const char *kw,
                       const char *mbox, int64_t id, const struct target *t,
                       struct store_delivered *res, struct error *err)
{
	store_lock(a);
	int r = db_begin(a, err);
	if (r == 0 && (r = insert_rows(a, d, kw, mbox, id, t, res, err)) != 0)
		db_rollback(a);
	if (r == 0)
		r = db_commit(a, err);
	store_unlock(a);
	return r;
}

static int deliver(struct store_account *a, const struct store_delivery *d, const void *data,
                   size_t len, const struct source *src, struct store_delivered *res,
                   struct error *err)
{
	struct buf kw, mbox;
	struct target t = {.fd = -1};
	int64_t id;
	buf_init(&kw, STORE_KEYWORDS_MAX * (STORE_KEYWORD_MAX + 1));
	buf_init(&mbox, STORE_MAILBOX_NAME_MAX);
	int r = check_delivery(d, &kw, &mbox, err);
	size_t hl = r == 0 && d->added_headers != NULL ? strlen(d->added_headers) : 0;
	buf_init(&t.head, hl + STORE_HEADER_CAPTURE_MAX);
	if (hl > 0)
		buf_append(&t.head, d->added_headers, hl);
	struct arena *arena = arena_new(16384, ARENA_PLAIN);
	if (r == 0)
		r = account_quota_precheck(a, data != NULL ? len : 0, &t.room, err);
	if (r == 0)
		r = account_reserve_id(a, &id, err);
	if (r == 0)
		r = write_file(a, id, data, len, src, &t, err);
	if (r == 0)
		header_texts_compute(arena, t.head.data, t.head.len, &t.texts);
	if (r == 0 && (r = commit_rows(a, d, kw.data, mbox.data, id, &t, res, err)) != 0)
		unlink(t.path);  /* not committed: no message, no file */
	if (r == 0)
		notify_change(a, res->mailbox_id);
	arena_free(&arena);
	buf_free(&t.head);
	buf_free(&kw);
	buf_free(&mbox);
	return r;
}

int store_deliver(struct store_account *a, const struct store_delivery *d, const void *data,
                  size_t len, struct store_delivered *res, struct error *err)
{
	static const char empty[1];
	if (data == NULL && len > 0)
		return error_set(err, ERR_INVALID, "no message data");
	return deliver(a, d, data != NULL ? data : empty, len, NULL, res, err);
}

int store_deliver_fd(struct store_account *a, const struct store_delivery *d, int fd,
                     struct store_delivered *res, struct error *err)
{
	struct source src = {read_fd, &fd};
	return deliver(a, d, NULL, 0, &src, res, err);
}

int store_deliver_stream(struct store_account *a, const struct store_delivery *d,
                         store_read_fn *read, void *ctx, struct store_delivered *res,
                         struct error *err)
{
	struct source src = {read, ctx};
	return deliver(a, d, NULL, 0, &src, res, err);
}
