/*
 * db.c: small SQLite helpers for src/store/: prepared statements with bound
 * parameters only (user data never becomes SQL text), transactions, errors.
 * Every function here runs with the account lock held by its caller.
 */
#include "store/internal.h"

#include <stdarg.h>
#include <string.h>

int db_fail(struct store_account *a, struct error *err, const char *what)
{
	int code = sqlite3_errcode(a->db);
	enum error_kind kind = ERR_IO;
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		kind = ERR_TEMP;
	return error_set(err, kind, "%s: %s", what, sqlite3_errmsg(a->db));
}

static struct stmt_slot *cache_find(struct store_account *a, const char *sql)
{
	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		if (a->stmts[i].sql == sql && !a->stmts[i].busy)
			return &a->stmts[i];
	}
	return NULL;
}

int db_prepare(struct store_account *a, const char *sql, sqlite3_stmt **st, struct error *err)
{
	struct stmt_slot *slot = cache_find(a, sql);
	if (slot != NULL) {
		slot->busy = true;
		*st = slot->st;
		return 0;
	}
	if (sqlite3_prepare_v3(a->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_fail(a, err, "preparing statement");
	}
	slot = cache_find(a, NULL);  /* a free slot; a statement in use twice is not cached */
	if (slot != NULL)
		*slot = (struct stmt_slot){.sql = sql, .st = *st, .busy = true};
	return 0;
}

int db_prepare_uncached(struct store_account *a, const char *sql, sqlite3_stmt **st,
                        struct error *err)
{
	if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_fail(a, err, "preparing statement");
	}
	return 0;
}

void db_finish(struct store_account *a, sqlite3_stmt *st)
{
	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		if (a->stmts[i].st == st && a->stmts[i].busy) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			a->stmts[i].busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

void db_cache_free(struct store_account *a)
{
	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		sqlite3_finalize(a->stmts[i].st);
		a->stmts[i] = (struct stmt_slot){0};
	}
}

int db_exec(struct store_account *a, const char *sql, struct error *err)
{
	if (sqlite3_exec(a->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(a, err, "database");
	return 0;
}

int db_begin(struct store_account *a, struct error *err)
{
	/* IMMEDIATE: take the write lock now, so busy_timeout applies here and
	 * not at a later statement that could not be retried. */
	return db_exec(a, "BEGIN IMMEDIATE", err);
}

int db_commit(struct store_account *a, struct error *err)
{
	if (db_exec(a, "COMMIT", err) == 0)
		return 0;
	db_rollback(a);
	return -1;
}

void db_rollback(struct store_account *a)
{
	if (!sqlite3_get_autocommit(a->db))
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
}

int db_step(struct store_account *a, sqlite3_stmt *st, struct error *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(a, err, "database step");
}

int db_run_stmt(struct store_account *a, sqlite3_stmt *st, struct error *err)
{
	int r;
	while ((r = db_step(a, st, err)) == 1)
		;
	db_finish(a, st);
	return r;
}

static int prepare_bound(struct store_account *a, const char *sql, sqlite3_stmt **st, int n,
                         va_list ap, struct error *err)
{
	if (db_prepare(a, sql, st, err) != 0)
		return -1;
	for (int i = 1; i <= n; i++)
		sqlite3_bind_int64(*st, i, va_arg(ap, int64_t));
	return 0;
}

int db_run(struct store_account *a, struct error *err, const char *sql, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	va_start(ap, n);
	int r = prepare_bound(a, sql, &st, n, ap, err);
	va_end(ap);
	if (r != 0)
		return -1;
	return db_run_stmt(a, st, err);
}

int db_get(struct store_account *a, struct error *err, int64_t *out, const char *sql, int n, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	va_start(ap, n);
	int r = prepare_bound(a, sql, &st, n, ap, err);
	va_end(ap);
	if (r != 0)
		return -1;
	r = db_step(a, st, err);
	if (r == 1)
		*out = sqlite3_column_int64(st, 0);
	db_finish(a, st);
	return r;
}

void db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

const char *db_col_text(sqlite3_stmt *st, int i, struct arena *arena, bool empty_for_null)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	if (t == NULL)
		return empty_for_null ? "" : NULL;
	return arena_strndup(arena, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

int db_next_modseq(struct store_account *a, uint64_t *modseq, struct error *err)
{
	/* RFC 7162 §3.1: mod-sequences only grow. One account-wide counter gives
	 * every mailbox strictly increasing values and survives restarts. */
	int64_t v = 0;
	int r = db_get(a, err, &v, "UPDATE account SET modseq = modseq + 1 RETURNING modseq", 0);
	if (r == 0)
		return error_set(err, ERR_IO, "account row missing");
	if (r < 0)
		return -1;
	*modseq = (uint64_t)v;
	return 0;
}
