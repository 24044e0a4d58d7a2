/*
 * queue.c: the queue's storage (queue.h): DATA/queue/queue.db and the
 * message files in DATA/queue/msg/, durable enqueue, recovery after a
 * crash, and the operations of `tern queue` (list, hold, release, drop,
 * kick, dump). The workers are in worker.c.
 *
 * Tables:
 *   msg   one row per message (ids are never used again): envelope (mail_from, envid, ret_hdrs,
 *         smtputf8, eightbit, requiretls), size, the sender's account,
 *         whether the file is DKIM-signed, subject, kind ("mail", "dsn",
 *         "dmarc"), created, and the file's name in queue/msg/.
 *   rcpt  one row per recipient: address, domain, notify (SMTPCLIENT_NOTIFY_*
 *         bits), orcpt, state, attempts, next_attempt, last_attempt, the last
 *         result (code, enhanced, text, remote_mta), delay_notified.
 */
#include "queue/internal.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/file.h"
#include "core/log.h"
#include "dkim/dkim.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 10000

static const char schema_v1[] =
	"CREATE TABLE msg ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, created INTEGER NOT NULL, mail_from TEXT NOT NULL,"
	" envid TEXT, ret_hdrs INTEGER NOT NULL, smtputf8 INTEGER NOT NULL,"
	" eightbit INTEGER NOT NULL, requiretls INTEGER NOT NULL, size INTEGER NOT NULL,"
	" account TEXT, dkim_signed INTEGER NOT NULL, subject TEXT, kind TEXT NOT NULL,"
	" file TEXT NOT NULL UNIQUE);"
	"CREATE TABLE rcpt ("
	" id INTEGER PRIMARY KEY, msg INTEGER NOT NULL REFERENCES msg(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL, domain TEXT NOT NULL, notify INTEGER NOT NULL, orcpt TEXT,"
	" state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL, last_attempt INTEGER NOT NULL DEFAULT 0,"
	" code INTEGER NOT NULL DEFAULT 0, enhanced TEXT, text TEXT, remote_mta TEXT,"
	" delay_notified INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX rcpt_due ON rcpt(state, next_attempt);"
	"CREATE INDEX rcpt_msg ON rcpt(msg);";

/* DSNs composed in the transaction that records the results they report,
 * removed once in the sender's mailbox: none is lost to a failed local
 * delivery or a crash (worker.c). */
static const char schema_v2[] =
	"CREATE TABLE dsn_pending ("
	" id INTEGER PRIMARY KEY, msg INTEGER NOT NULL, account TEXT NOT NULL,"
	" rcpt_to TEXT NOT NULL, action TEXT NOT NULL, body BLOB NOT NULL,"
	" created INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL);"
	"CREATE INDEX dsn_pending_due ON dsn_pending(next_attempt);";

unsigned queue_retry_delay(unsigned attempts, unsigned first, unsigned max)
{
	if (first == 0)
		first = QUEUE_FIRST_RETRY_S;
	if (max < first)
		max = first;
	uint64_t d = first;
	for (unsigned i = 1; i < attempts && d < max; i++)
		d *= 2;
	return d > max ? max : (unsigned)d;
}

/*
 * Database helpers.
 */

int queue_db_error(struct queue *q, struct error *e, const char *what)
{
	int code = sqlite3_errcode(q->db);
	enum error_kind kind = code == SQLITE_BUSY || code == SQLITE_LOCKED ? ERR_TEMP : ERR_IO;
	return error_set(e, kind, "queue.db: %s: %s", what, sqlite3_errmsg(q->db));
}

int queue_db_exec(struct queue *q, const char *sql, struct error *e)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return queue_db_error(q, e, sql);
	return 0;
}

int queue_db_prepare(struct queue *q, const char *sql, sqlite3_stmt **st, struct error *e)
{
	if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
		return queue_db_error(q, e, sql);
	return 0;
}

void queue_msg_path(const struct queue *q, const char *file, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", q->msg_dir, file);
}

int queue_read_file(const struct queue *q, const char *file, struct buf *out, struct error *e)
{
	char path[PATH_MAX];
	queue_msg_path(q, file, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(e, errno, "open %s", path);
	for (;;) {
		char *p = buf_reserve(out, 65536);
		if (p == NULL) {
			close(fd);
			return error_set(e, ERR_LIMIT, "%s: larger than the queue takes", path);
		}
		ssize_t n = read(fd, p, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return error_errno(e, err, "read %s", path);
		}
		if (n == 0)
			break;
		buf_commit(out, (size_t)n);
	}
	close(fd);
	return 0;
}

static int schema_upgrade(struct queue *q, struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "PRAGMA user_version", &st, e) != 0)
		return -1;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (version > QUEUE_SCHEMA_VERSION)
		return error_set(e, ERR_INVALID, "queue.db has schema version %d, newer than this tern "
		                 "knows (%d)", version, QUEUE_SCHEMA_VERSION);
	if (version == QUEUE_SCHEMA_VERSION)
		return 0;
	if (queue_db_exec(q, "BEGIN IMMEDIATE", e) != 0)
		return -1;
	if ((version < 1 && queue_db_exec(q, schema_v1, e) != 0) ||
	    (version < 2 && queue_db_exec(q, schema_v2, e) != 0) ||
	    queue_db_exec(q, "PRAGMA user_version = 2", e) != 0 ||
	    queue_db_exec(q, "COMMIT", e) != 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Whether file is the name of a message row. */
static bool file_known(struct queue *q, const char *file)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT 1 FROM msg WHERE file = ?", &st, &e) != 0)
		return true;   /* when in doubt, keep it */
	sqlite3_bind_text(st, 1, file, -1, SQLITE_STATIC);
	bool known = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return known;
}

/* After a crash: attempts in flight are queued again; files whose rows
 * were never committed (or whose rows are gone) are removed; messages with
 * nothing left to do are finished. */
static int recover(struct queue *q, struct error *e)
{
	if (queue_db_exec(q, "UPDATE rcpt SET state = 'queued' WHERE state = 'delivering'", e) != 0)
		return -1;
	int requeued = sqlite3_changes(q->db);
	if (requeued > 0)
		log_msgf(LOG_INFO, "queue", "%d recipients whose delivery was cut off are queued again",
		         requeued);
	DIR *d = opendir(q->msg_dir);
	if (d == NULL)
		return error_errno(e, errno, "opendir %s", q->msg_dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
			continue;
		if (strncmp(de->d_name, ".tmp-", 5) != 0 && file_known(q, de->d_name))
			continue;
		char path[PATH_MAX];
		queue_msg_path(q, de->d_name, path, sizeof(path));
		unlink(path);
		log_msgf(LOG_INFO, "queue", "removed %s: no message in queue.db names it", path);
	}
	closedir(d);
	sqlite3_stmt *st;
	/* in batches (a statement is not kept open across the deletes), by
	 * ascending id until none is left */
	int64_t done[256], after = 0;
	size_t n;
	do {
		if (queue_db_prepare(q, "SELECT id FROM msg WHERE id > ? AND NOT EXISTS (SELECT 1 FROM"
		                     " rcpt WHERE rcpt.msg = msg.id AND state IN ('queued', 'held',"
		                     " 'delivering')) ORDER BY id LIMIT 256", &st, e) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, after);
		n = 0;
		while (n < 256 && sqlite3_step(st) == SQLITE_ROW)
			done[n++] = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		for (size_t i = 0; i < n; i++)
			queue_msg_finish(q, done[i]);
		if (n > 0)
			after = done[n - 1];
	} while (n == 256);
	return 0;
}

static int open_db(struct queue *q, struct error *e)
{
	char path[sizeof(q->dir) + 16];
	snprintf(path, sizeof(path), "%s/queue.db", q->dir);
	if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		error_set(e, ERR_IO, "open %s: %s", path, q->db != NULL ? sqlite3_errmsg(q->db) :
		          "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	if (queue_db_exec(q, "PRAGMA journal_mode = WAL", e) != 0 ||
	    queue_db_exec(q, "PRAGMA synchronous = FULL", e) != 0 ||
	    queue_db_exec(q, "PRAGMA foreign_keys = ON", e) != 0)
		return -1;
	return schema_upgrade(q, e);
}

static void apply_defaults(struct queue_settings *s)
{
	if (s->workers == 0)
		s->workers = QUEUE_WORKERS_DEFAULT;
	if (s->per_domain_max == 0)
		s->per_domain_max = QUEUE_PER_DOMAIN_DEFAULT;
	if (s->first_retry_s == 0)
		s->first_retry_s = QUEUE_FIRST_RETRY_S;
	if (s->max_retry_s == 0)
		s->max_retry_s = QUEUE_MAX_RETRY_S;
	if (s->max_age_s == 0)
		s->max_age_s = QUEUE_MAX_AGE_S;
	if (s->delay_notice_s == 0)
		s->delay_notice_s = QUEUE_DELAY_NOTICE_S;
	if (s->hostname == NULL)
		s->hostname = "localhost";
}

/* One process at a time: recovery would queue again what a running
 * server is delivering and remove the files it is writing. */
static int lock_queue(struct queue *q, struct error *e)
{
	char path[sizeof(q->dir) + 8];
	snprintf(path, sizeof(path), "%s/lock", q->dir);
	q->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (q->lock_fd < 0)
		return error_errno(e, errno, "open %s", path);
	if (flock(q->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return error_set(e, ERR_TEMP, "the queue in %s is in use by another tern process "
			                 "(a running server?)", q->dir);
		return error_errno(e, errno, "flock %s", path);
	}
	return 0;
}

int queue_open(const struct queue_settings *s, struct queue **q_r, struct error *e)
{
	*q_r = NULL;
	struct queue *q = calloc(1, sizeof(*q));
	if (q == NULL)
		abort();
	q->lock_fd = -1;
	q->s = *s;
	apply_defaults(&q->s);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	snprintf(q->dir, sizeof(q->dir), "%s/queue", s->data_dir);
	snprintf(q->msg_dir, sizeof(q->msg_dir), "%s/queue/msg", s->data_dir);
	if (file_mkdir_all(q->msg_dir, 0700, e) != 0 || lock_queue(q, e) != 0 || open_db(q, e) != 0 ||
	    recover(q, e) != 0) {
		queue_close(&q);
		return -1;
	}
	*q_r = q;
	return 0;
}

/*
 * Enqueue.
 */

static int write_all(int fd, const char *p, size_t n, struct error *e)
{
	return file_write_all(fd, p, n) == 0 ? 0 : error_errno(e, errno, "writing a queue file");
}

/* Writes the parts into a new file in msg/ durably (written, fsynced,
 * renamed, directory fsynced); its name goes to name. */
static int write_msg_file(struct queue *q, const char *const parts[], const size_t lens[],
                          size_t nparts, char *name, size_t size, struct error *e)
{
	unsigned char raw[8];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort();
	snprintf(name, size, "%lld-%02x%02x%02x%02x%02x%02x%02x%02x", (long long)time(NULL),
	         raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
	char tmp[sizeof(q->msg_dir) + 80], path[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", q->msg_dir, name);
	queue_msg_path(q, name, path, sizeof(path));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_errno(e, errno, "create %s", tmp);
	int r = 0;
	for (size_t i = 0; i < nparts && r == 0; i++)
		r = write_all(fd, parts[i], lens[i], e);
	if (r == 0 && fsync(fd) != 0)
		r = error_errno(e, errno, "fsync %s", tmp);
	if (close(fd) != 0 && r == 0)
		r = error_errno(e, errno, "close %s", tmp);
	if (r == 0 && rename(tmp, path) != 0)
		r = error_errno(e, errno, "rename %s", tmp);
	if (r != 0) {
		unlink(tmp);
		return -1;
	}
	if (file_sync_parent_dir(path, e) != 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

/* The domain of address (after its last '@'), lower case, into out. */
static int domain_of(const char *address, char *out, size_t size, struct error *e)
{
	const char *at = strrchr(address, '@');
	if (at == NULL || at == address || at[1] == '\0' || strlen(at + 1) >= size)
		return error_set(e, ERR_INVALID, "bad recipient address <%s>: expected local@domain",
		                 address);
	size_t i = 0;
	for (const char *p = at + 1; *p != '\0'; p++)
		out[i++] = (char)tolower((unsigned char)*p);
	out[i] = '\0';
	return 0;
}

static int check_msg(const struct queue_msg_in *m, struct error *e)
{
	if (m->nrcpts == 0)
		return error_set(e, ERR_INVALID, "a message for the queue needs recipients");
	if (m->nrcpts > QUEUE_RCPTS_MAX)
		return error_set(e, ERR_LIMIT, "%zu recipients, the queue takes at most %d per message",
		                 m->nrcpts, QUEUE_RCPTS_MAX);
	if ((uint64_t)m->prefix_len + m->len > QUEUE_MESSAGE_MAX)
		return error_set(e, ERR_LIMIT, "message larger than the queue takes (%llu bytes)",
		                 (unsigned long long)QUEUE_MESSAGE_MAX);
	char domain[256];
	for (size_t i = 0; i < m->nrcpts; i++)
		if (domain_of(m->rcpts[i].address, domain, sizeof(domain), e) != 0)
			return -1;
	return 0;
}

/* DKIM signature fields for the message (prefix + data), into sig. */
static int sign(const struct queue_msg_in *m, struct buf *sig, bool *signed_r, struct error *e)
{
	*signed_r = false;
	if (m->sign_domain == NULL)
		return 0;
	struct config *cfg = config_acquire();
	if (cfg == NULL)
		return 0;
	struct buf whole;
	buf_init(&whole, BUF_UNBOUNDED);
	buf_append(&whole, m->prefix, m->prefix_len);
	buf_append(&whole, m->data, m->len);
	int r = dkim_sign_for(cfg, m->sign_domain, whole.data, whole.len, sig, e);
	buf_free(&whole);
	config_release(&cfg);
	*signed_r = r == 0 && sig->len > 0;
	return r;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int insert_rows(struct queue *q, const struct queue_msg_in *m, const char *file,
                       uint64_t size, bool dkim_signed, int64_t *id_r, struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "INSERT INTO msg (created, mail_from, envid, ret_hdrs, smtputf8,"
	                     " eightbit, requiretls, size, account, dkim_signed, subject, kind, file)"
	                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, e) != 0)
		return -1;
	int64_t now = (int64_t)time(NULL);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, m->mail_from != NULL ? m->mail_from : "", -1, SQLITE_STATIC);
	bind_text_or_null(st, 3, m->envid);
	sqlite3_bind_int(st, 4, m->ret_hdrs);
	sqlite3_bind_int(st, 5, m->smtputf8);
	sqlite3_bind_int(st, 6, m->eightbit);
	sqlite3_bind_int(st, 7, m->requiretls);
	sqlite3_bind_int64(st, 8, (int64_t)size);
	bind_text_or_null(st, 9, m->account);
	sqlite3_bind_int(st, 10, dkim_signed);
	bind_text_or_null(st, 11, m->subject);
	sqlite3_bind_text(st, 12, m->kind != NULL ? m->kind : "mail", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, file, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return queue_db_error(q, e, "adding a message");
	*id_r = sqlite3_last_insert_rowid(q->db);
	if (queue_db_prepare(q, "INSERT INTO rcpt (msg, address, domain, notify, orcpt, state,"
	                     " next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, e) != 0)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		char domain[256];
		domain_of(m->rcpts[i].address, domain, sizeof(domain), e);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *id_r);
		sqlite3_bind_text(st, 2, m->rcpts[i].address, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, domain, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 4, (int)m->rcpts[i].notify);
		bind_text_or_null(st, 5, m->rcpts[i].orcpt);
		sqlite3_bind_text(st, 6, m->hold ? QUEUE_HELD : QUEUE_QUEUED, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, now);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return queue_db_error(q, e, "adding a recipient");
		}
	}
	sqlite3_finalize(st);
	return 0;
}

/* Commits the rows of a message whose file is written. */
static int commit_rows(struct queue *q, const struct queue_msg_in *m, const char *file,
                       uint64_t size, bool dkim_signed, int64_t *id_r, struct error *e)
{
	pthread_mutex_lock(&q->mu);
	int r = queue_db_exec(q, "BEGIN IMMEDIATE", e);
	if (r == 0 && (insert_rows(q, m, file, size, dkim_signed, id_r, e) != 0 ||
	               queue_db_exec(q, "COMMIT", e) != 0)) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		r = -1;
	}
	if (r == 0) {
		q->wakeups++;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return r;
}

int queue_add(struct queue *q, const struct queue_msg_in *m, int64_t *id_r, struct error *e)
{
	if (check_msg(m, e) != 0)
		return -1;
	struct buf sig;
	buf_init(&sig, BUF_UNBOUNDED);
	bool dkim_signed;
	if (sign(m, &sig, &dkim_signed, e) != 0) {
		buf_free(&sig);
		return error_prefix(e, "DKIM signing");
	}
	const char *parts[] = {sig.data != NULL ? sig.data : "", m->prefix != NULL ? m->prefix : "",
	                       m->data != NULL ? m->data : ""};
	size_t lens[] = {sig.len, m->prefix_len, m->len};
	char file[64];
	int64_t id = 0;
	int r = write_msg_file(q, parts, lens, 3, file, sizeof(file), e);
	uint64_t size = (uint64_t)sig.len + m->prefix_len + m->len;
	buf_free(&sig);
	if (r != 0)
		return -1;
	if (commit_rows(q, m, file, size, dkim_signed, &id, e) != 0) {
		char path[PATH_MAX];
		queue_msg_path(q, file, path, sizeof(path));
		unlink(path);
		return -1;
	}
	struct log_line *l = log_begin(LOG_INFO, "queue", "message queued");
	log_int(l, "id", id);
	log_str(l, "from", m->mail_from);
	log_uint(l, "rcpts", m->nrcpts);
	log_uint(l, "size", size);
	log_bool(l, "dkim", dkim_signed);
	log_end(l);
	if (id_r != NULL)
		*id_r = id;
	return 0;
}

void queue_msg_finish(struct queue *q, int64_t id)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT file FROM msg WHERE id = ? AND NOT EXISTS (SELECT 1 FROM"
	                     " rcpt WHERE msg = ? AND state IN ('queued', 'held', 'delivering'))",
	                     &st, &e) != 0)
		return;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, id);
	char path[PATH_MAX] = "";
	if (sqlite3_step(st) == SQLITE_ROW)
		queue_msg_path(q, (const char *)sqlite3_column_text(st, 0), path, sizeof(path));
	sqlite3_finalize(st);
	if (path[0] == '\0')
		return;
	if (queue_db_prepare(q, "DELETE FROM msg WHERE id = ?", &st, &e) != 0)
		return;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	/* the row first: a crash between leaves an orphan file, which open removes */
	if (rc == SQLITE_DONE)
		unlink(path);
}

/*
 * Listing.
 */

static const char *col_str(struct arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s != NULL ? arena_strdup(a, (const char *)s) : NULL;
}

static int list_rcpts(struct queue *q, struct arena *a, struct queue_msg_info *m,
                      struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "SELECT id, address, state, attempts, next_attempt, last_attempt,"
	                     " code, enhanced, text, remote_mta FROM rcpt WHERE msg = ? ORDER BY id",
	                     &st, e) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	size_t cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		m->rcpts = arena_grow(a, m->rcpts, m->nrcpts, &cap, sizeof(*m->rcpts), 4);
		struct queue_rcpt_info *r = &m->rcpts[m->nrcpts++];
		r->id = sqlite3_column_int64(st, 0);
		r->address = col_str(a, st, 1);
		r->state = col_str(a, st, 2);
		r->attempts = (unsigned)sqlite3_column_int(st, 3);
		r->next_attempt = sqlite3_column_int64(st, 4);
		r->last_attempt = sqlite3_column_int64(st, 5);
		r->code = sqlite3_column_int(st, 6);
		r->enhanced = col_str(a, st, 7);
		r->text = col_str(a, st, 8);
		r->remote_mta = col_str(a, st, 9);
	}
	sqlite3_finalize(st);
	return 0;
}

static int list_locked(struct queue *q, struct arena *a, struct queue_msg_info **list_r,
                       size_t *n_r, struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "SELECT id, created, mail_from, account, subject, kind, size FROM msg"
	                     " ORDER BY id LIMIT ?", &st, e) != 0)
		return -1;
	sqlite3_bind_int(st, 1, QUEUE_LIST_MAX);
	size_t cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 16);
		struct queue_msg_info *m = &(*list_r)[(*n_r)++];
		memset(m, 0, sizeof(*m));
		m->id = sqlite3_column_int64(st, 0);
		m->created = sqlite3_column_int64(st, 1);
		m->mail_from = col_str(a, st, 2);
		m->account = col_str(a, st, 3);
		m->subject = col_str(a, st, 4);
		m->kind = col_str(a, st, 5);
		m->size = (uint64_t)sqlite3_column_int64(st, 6);
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < *n_r; i++)
		if (list_rcpts(q, a, &(*list_r)[i], e) != 0)
			return -1;
	return 0;
}

int queue_list(struct queue *q, struct arena *a, struct queue_msg_info **list_r, size_t *n_r,
               struct error *e)
{
	*list_r = NULL;
	*n_r = 0;
	pthread_mutex_lock(&q->mu);
	int r = list_locked(q, a, list_r, n_r, e);
	pthread_mutex_unlock(&q->mu);
	return r;
}

static void format_time(int64_t t, char *out, size_t size)
{
	if (t <= 0) {
		snprintf(out, size, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Appends s with control bytes (ESC, CR, ...) as '?': texts from remote
 * servers and senders must not drive the terminal that shows the list. */
static void append_printable(struct buf *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		buf_append_char(out, c < 32 || c == 127 ? '?' : (char)c);
	}
}

void queue_list_format(const struct queue_msg_info *list, size_t n, struct buf *out)
{
	if (n == 0)
		buf_append_str(out, "queue is empty\n");
	for (size_t i = 0; i < n; i++) {
		const struct queue_msg_info *m = &list[i];
		char created[32];
		format_time(m->created, created, sizeof(created));
		buf_appendf(out, "%lld ", (long long)m->id);
		append_printable(out, m->kind != NULL ? m->kind : "mail");
		buf_append_str(out, " from <");
		append_printable(out, m->mail_from);
		buf_appendf(out, "> %llu bytes queued %s", (unsigned long long)m->size, created);
		if (m->subject != NULL) {
			buf_append_str(out, " subject ");
			append_printable(out, m->subject);
		}
		buf_append_str(out, "\n");
		for (size_t k = 0; k < m->nrcpts; k++) {
			const struct queue_rcpt_info *r = &m->rcpts[k];
			char next[32];
			format_time(strcmp(r->state, QUEUE_QUEUED) == 0 ? r->next_attempt : 0, next,
			            sizeof(next));
			buf_append_str(out, "  <");
			append_printable(out, r->address);
			buf_appendf(out, "> %s attempts %u next %s", r->state, r->attempts, next);
			if (r->code > 0 || (r->text != NULL && r->text[0] != '\0')) {
				buf_appendf(out, " last %d ", r->code);
				append_printable(out, r->enhanced);
				buf_append_str(out, " ");
				append_printable(out, r->text);
				if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
					buf_append_str(out, " from ");
					append_printable(out, r->remote_mta);
				}
			}
			buf_append_str(out, "\n");
		}
	}
}

/*
 * hold, release, drop, kick, dump.
 */

static bool msg_exists(struct queue *q, int64_t id)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT 1 FROM msg WHERE id = ?", &st, &e) != 0)
		return false;
	sqlite3_bind_int64(st, 1, id);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Runs sql (binding ?1 = now, ?2 = id) on the recipients of message id
 * (0: all). Returns the rows changed, or -1 with e. Called with mu held. */
static long update_rcpts(struct queue *q, const char *sql, int64_t id, struct error *e)
{
	if (id != 0 && !msg_exists(q, id))
		return error_set(e, ERR_NOTFOUND, "no message %lld in the queue", (long long)id);
	sqlite3_stmt *st;
	if (queue_db_prepare(q, sql, &st, e) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	sqlite3_bind_int64(st, 2, id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return queue_db_error(q, e, "changing recipients");
	return sqlite3_changes(q->db);
}

static long change(struct queue *q, const char *sql, int64_t id, bool wake, struct error *e)
{
	pthread_mutex_lock(&q->mu);
	long n = update_rcpts(q, sql, id, e);
	if (n >= 0 && wake) {   /* kick wakes the workers even with nothing queued: tern.db */
		q->wakeups++;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return n;
}

long queue_hold(struct queue *q, int64_t id, struct error *e)
{
	return change(q, "UPDATE rcpt SET state = 'held' WHERE state = 'queued' AND (?2 = 0 OR msg = ?2)"
	              " AND ?1 = ?1", id, false, e);
}

long queue_release(struct queue *q, int64_t id, struct error *e)
{
	return change(q, "UPDATE rcpt SET state = 'queued', next_attempt = ?1 WHERE state = 'held'"
	              " AND (?2 = 0 OR msg = ?2)", id, true, e);
}

long queue_kick(struct queue *q, int64_t id, struct error *e)
{
	return change(q, "UPDATE rcpt SET next_attempt = ?1 WHERE state = 'queued'"
	              " AND (?2 = 0 OR msg = ?2)", id, true, e);
}

long queue_drop(struct queue *q, int64_t id, struct error *e)
{
	pthread_mutex_lock(&q->mu);
	long n = update_rcpts(q, "DELETE FROM rcpt WHERE state IN ('queued', 'held')"
	                      " AND (?2 = 0 OR msg = ?2) AND ?1 = ?1", id, e);
	if (n >= 0) {
		/* messages with an attempt in flight are finished by their worker */
		sqlite3_stmt *st;
		int64_t *ids = malloc(QUEUE_LIST_MAX * sizeof(*ids));
		size_t k = 0;
		if (ids == NULL)
			abort();
		if (queue_db_prepare(q, "SELECT id FROM msg WHERE ?1 = 0 OR id = ?1", &st, e) == 0) {
			sqlite3_bind_int64(st, 1, id);
			while (k < QUEUE_LIST_MAX && sqlite3_step(st) == SQLITE_ROW)
				ids[k++] = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		for (size_t i = 0; i < k; i++)
			queue_msg_finish(q, ids[i]);
		free(ids);
	}
	pthread_mutex_unlock(&q->mu);
	if (n > 0)
		log_msgf(LOG_INFO, "queue", "dropped %ld recipients of %s %lld", n,
		         id == 0 ? "all messages" : "message", (long long)id);
	return n;
}

int queue_dump(struct queue *q, int64_t id, struct buf *out, struct error *e)
{
	pthread_mutex_lock(&q->mu);
	sqlite3_stmt *st;
	char file[128] = "";
	if (queue_db_prepare(q, "SELECT file FROM msg WHERE id = ?", &st, e) == 0) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(file, sizeof(file), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&q->mu);
	if (file[0] == '\0')
		return error_set(e, ERR_NOTFOUND, "no message %lld in the queue", (long long)id);
	return queue_read_file(q, file, out, e);
}
