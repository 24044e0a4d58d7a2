/*
 * account.c: opening and closing account stores, the process-wide registry
 * that makes every opener of an account share one object (one connection,
 * one lock, one notifier), quotas, and content id reservation.
 *
 * Concurrency: one SQLite connection per account object, serialised by
 * a->lock, for everything that writes; listings read on up to
 * STORE_READERS more (store_reader), each with its own lock. Other
 * processes (the CLI) are kept apart by SQLite's own locking with a busy
 * timeout. Different accounts never share a lock.
 */
#include "store/internal.h"

#include "core/clock.h"
#include "core/file.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_account *registry;

void store_lock(struct store_account *a)
{
	if (pthread_mutex_lock(&a->lock) != 0)
		abort();
}

void store_unlock(struct store_account *a)
{
	if (pthread_mutex_unlock(&a->lock) != 0)
		abort();
}

int store_path(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, STORE_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n >= 0 && n < STORE_PATH_MAX)
		return 0;
	out[0] = '\0';
	return -1;
}

static int check_account_name(const char *name, struct error *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_ACCOUNT_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return error_set(err, ERR_INVALID, "invalid account name");
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return error_set(err, ERR_INVALID, "invalid character in account name");
	}
	return 0;
}

static int make_dirs(const char *dir, struct error *err)
{
	char path[STORE_PATH_MAX];
	const char *subs[] = {"msg", "orphans"};
	for (size_t i = 0; i < 2; i++) {
		if (store_path(path, "%s/%s", dir, subs[i]) != 0 ||
		    file_mkdir_all(path, 0750, err) != 0)
			return -1;
	}
	/* The new entries: msg/ and orphans/ in dir, dir in accounts/. */
	if (file_sync_parent_dir(path, err) != 0)
		return -1;
	return file_sync_parent_dir(dir, err);
}

static int open_db(struct store_account *a, struct error *err)
{
	char path[STORE_PATH_MAX];
	store_path(path, "%s/index.db", a->dir);  /* fits: checked in store_open */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &a->db, flags, NULL) != SQLITE_OK) {
		error_set(err, ERR_IO, "opening %s: %s", path,
		          a->db != NULL ? sqlite3_errmsg(a->db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(a->db, STORE_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(a->db, 0);
	/* DESIGN.md: WAL, and a commit is on disk before we answer OK. */
	/* auto_vacuum takes effect only on a new database (before its first
	 * table); then pages the full-text index frees are returned at commit,
	 * which keeps the database small. */
	if (db_exec(a, "PRAGMA auto_vacuum = FULL", err) != 0 ||
	    db_exec(a, "PRAGMA journal_mode = WAL", err) != 0 ||
	    db_exec(a, store_durable() ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF",
	            err) != 0 ||
	    db_exec(a, "PRAGMA foreign_keys = ON", err) != 0)
		return error_prefix(err, "%s", path);
	if (schema_upgrade(a, err) != 0)
		return error_prefix(err, "%s", path);
	return 0;
}

static void account_free(struct store_account *a)
{
	for (size_t i = 0; i < STORE_READERS; i++)
		if (a->readers[i] != NULL)
			account_free(a->readers[i]);
	pthread_mutex_destroy(&a->readers_lock);
	db_cache_free(a);
	if (a->db != NULL)
		sqlite3_close(a->db);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->notify_lock);
	free(a->dir);
	free(a);
}

static struct store_account *account_new(const char *dir)
{
	struct store_account *a = calloc(1, sizeof(*a));
	if (a == NULL || (a->dir = strdup(dir)) == NULL)
		abort();
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->notify_lock, NULL);
	pthread_mutex_init(&a->readers_lock, NULL);
	return a;
}

/* How long after a reader failed to open the next is tried. */
#define STORE_READER_RETRY_MS 10000

/* A read-only connection to a's database (query_only: a statement that
 * would write fails), or NULL. */
static struct store_account *reader_open(struct store_account *a)
{
	struct store_account *r = account_new(a->dir);
	char path[STORE_PATH_MAX];
	store_path(path, "%s/index.db", a->dir);
	struct error err;
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	        SQLITE_OK ||
	    (sqlite3_busy_timeout(r->db, STORE_BUSY_TIMEOUT_MS),
	     db_exec(r, "PRAGMA query_only = ON", &err) != 0)) {
		account_free(r);
		return NULL;
	}
	sqlite3_extended_result_codes(r->db, 0);
	return r;
}

struct store_account *store_reader(struct store_account *a)
{
	pthread_mutex_lock(&a->readers_lock);
	for (size_t i = 0; i < STORE_READERS; i++) {
		if (a->readers[i] == NULL && clock_mono_ms() >= a->readers_retry_ms) {
			a->readers[i] = reader_open(a);
			if (a->readers[i] == NULL)  /* out of descriptors or memory */
				a->readers_retry_ms = clock_mono_ms() + STORE_READER_RETRY_MS;
		}
		struct store_account *r = a->readers[i];
		if (r == NULL)
			break;
		if (pthread_mutex_trylock(&r->lock) == 0) {
			pthread_mutex_unlock(&a->readers_lock);
			return r;
		}
	}
	pthread_mutex_unlock(&a->readers_lock);
	store_lock(a);
	return a;
}

void store_reader_release(struct store_account *r)
{
	store_unlock(r);
}

static int account_start(const char *dir, struct store_account **acct_r, struct error *err)
{
	/* Not yet in the registry: no other thread can see a, so the database
	 * is used here without a->lock. */
	struct store_account *a = account_new(dir);
	if (open_db(a, err) != 0) {
		account_free(a);
		return -1;
	}
	a->refs = 1;
	a->next = registry;
	registry = a;
	*acct_r = a;
	return 0;
}

int store_open(const char *data_dir, const char *name, struct store_account **acct_r,
               struct error *err)
{
	if (check_account_name(name, err) != 0)
		return -1;
	char given[STORE_PATH_MAX], dir[PATH_MAX];
	if (store_path(given, "%s/accounts/%s", data_dir, name) != 0)
		return error_set(err, ERR_INVALID, "data directory path too long");
	/* Directories first (idempotent), then the real path as the registry
	 * key, so "data" and "./data" share one account object. */
	if (make_dirs(given, err) != 0)
		return -1;
	if (realpath(given, dir) == NULL)
		return error_errno(err, errno, "resolving %s", given);
	/* Room for "/msg/DIR/ID.tmp" and "/orphans/..." below the account dir. */
	if (strlen(dir) + 64 >= STORE_PATH_MAX)
		return error_set(err, ERR_INVALID, "data directory path too long");
	pthread_mutex_lock(&registry_lock);
	int r = 0;
	struct store_account *a;
	for (a = registry; a != NULL && strcmp(a->dir, dir) != 0; a = a->next)
		;
	if (a != NULL) {
		a->refs++;
		*acct_r = a;
	} else {
		r = account_start(dir, acct_r, err);
	}
	pthread_mutex_unlock(&registry_lock);
	return r;
}

void store_close(struct store_account **acct)
{
	struct store_account *a = *acct;
	if (a == NULL)
		return;
	*acct = NULL;
	pthread_mutex_lock(&registry_lock);
	if (--a->refs > 0) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	struct store_account **pp = &registry;
	while (*pp != a)
		pp = &(*pp)->next;
	*pp = a->next;
	pthread_mutex_unlock(&registry_lock);
	if (a->subs != NULL)
		abort();  /* contract: subscribers are freed before the last close */
	account_free(a);
}

void store_set_quota(struct store_account *a, uint64_t max_bytes, uint64_t max_messages)
{
	store_lock(a);
	a->quota_bytes = max_bytes;
	a->quota_messages = max_messages;
	store_unlock(a);
}

static int read_usage(struct store_account *a, struct store_usage *u, struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "SELECT bytes, messages FROM account", &st, err) != 0)
		return -1;
	int r = db_step(a, st, err);
	if (r == 1) {
		u->bytes = (uint64_t)sqlite3_column_int64(st, 0);
		u->messages = (uint64_t)sqlite3_column_int64(st, 1);
	} else if (r == 0) {
		r = error_set(err, ERR_IO, "account row missing");
	}
	db_finish(a, st);
	return r < 0 ? -1 : 0;
}

int store_usage(struct store_account *a, struct store_usage *u, struct error *err)
{
	store_lock(a);
	int r = read_usage(a, u, err);
	store_unlock(a);
	return r;
}

int account_check_quota(struct store_account *a, struct error *err)
{
	struct store_usage u = {0};
	if (read_usage(a, &u, err) != 0)
		return -1;
	if (a->quota_bytes != 0 && u.bytes > a->quota_bytes)
		return error_set(err, ERR_LIMIT, "quota exceeded: %llu of %llu bytes would be used",
		                 (unsigned long long)u.bytes, (unsigned long long)a->quota_bytes);
	if (a->quota_messages != 0 && u.messages > a->quota_messages)
		return error_set(err, ERR_LIMIT,
		                 "quota exceeded: %llu of %llu messages would be used",
		                 (unsigned long long)u.messages,
		                 (unsigned long long)a->quota_messages);
	return 0;
}

int account_quota_precheck(struct store_account *a, uint64_t size, uint64_t *room_r,
                           struct error *err)
{
	struct store_usage u = {0};
	store_lock(a);
	uint64_t max_bytes = a->quota_bytes, max_msgs = a->quota_messages;
	int r = read_usage(a, &u, err);
	store_unlock(a);
	if (r != 0)
		return -1;
	*room_r = UINT64_MAX;
	if (max_msgs != 0 && u.messages + 1 > max_msgs)
		return error_set(err, ERR_LIMIT, "quota exceeded: %llu of %llu messages",
		                 (unsigned long long)u.messages, (unsigned long long)max_msgs);
	if (max_bytes == 0)
		return 0;
	if (u.bytes + size > max_bytes)
		return error_set(err, ERR_LIMIT, "quota exceeded: %llu of %llu bytes used",
		                 (unsigned long long)u.bytes, (unsigned long long)max_bytes);
	*room_r = max_bytes - u.bytes;
	return 0;
}

bool store_error_is_quota(const struct error *err)
{
	return err != NULL && err->kind == ERR_LIMIT && strncmp(err->msg, "quota exceeded", 14) == 0;
}

int account_content_path(const struct store_account *a, int64_t id, const char *suffix,
                         char *out, size_t size, struct error *err)
{
	if (size < STORE_PATH_MAX || store_path(out, "%s/msg/%lld/%lld%s", a->dir,
	                                        (long long)(id / STORE_DIR_FILES), (long long)id,
	                                        suffix) != 0)
		return error_set(err, ERR_INVALID, "message path too long");
	return 0;
}

static int reserve_block(struct store_account *a, struct error *err)
{
	/* Its own committed transaction: an id handed out is never handed out
	 * again, even if this process dies before using it. */
	int64_t end = 0;
	if (db_begin(a, err) != 0)
		return -1;
	int r = db_get(a, err, &end, "UPDATE account SET next_content_id = next_content_id + ?"
	               " RETURNING next_content_id", 1, (int64_t)STORE_ID_BLOCK);
	if (r <= 0) {
		db_rollback(a);
		return r == 0 ? error_set(err, ERR_IO, "account row missing") : -1;
	}
	if (db_commit(a, err) != 0)
		return -1;
	a->id_next = end - STORE_ID_BLOCK;
	a->id_end = end;
	return 0;
}

int account_reserve_id(struct store_account *a, int64_t *id, struct error *err)
{
	store_lock(a);
	int r = 0;
	if (a->id_next >= a->id_end)
		r = reserve_block(a, err);
	if (r == 0)
		*id = a->id_next++;
	store_unlock(a);
	return r;
}

int store_credentials_set(struct store_account *a, const char *line, struct error *err)
{
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_prepare(a, "INSERT INTO credentials (id, line, changed) VALUES (1, ?1, ?2)"
	                   " ON CONFLICT (id) DO UPDATE SET line = excluded.line,"
	                   " changed = excluded.changed", &st, err);
	if (r == 0) {
		db_bind_text(st, 1, line);
		sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
		r = db_run_stmt(a, st, err);
	}
	store_unlock(a);
	return r;
}

int store_credentials_get(struct store_account *a, struct arena *arena, const char **line_r,
                          struct error *err)
{
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_prepare(a, "SELECT line FROM credentials WHERE id = 1", &st, err);
	if (r == 0) {
		r = db_step(a, st, err);
		if (r == 1)
			*line_r = arena_strdup(arena, (const char *)sqlite3_column_text(st, 0));
		else if (r == 0)
			r = error_set(err, ERR_NOTFOUND, "no password set for this account");
		db_finish(a, st);
	}
	store_unlock(a);
	return r < 0 ? -1 : 0;
}

/* Process-wide; see store_set_durable. */
static _Atomic bool durable = true;

void store_set_durable(bool on)
{
	durable = on;
}

bool store_durable(void)
{
	return durable;
}
