/*
 * verify.c: the check behind `tern verifydata` for one account:
 *  - PRAGMA integrity_check, foreign_key_check and the FTS5
 *    'integrity-check' command;
 *  - each mailbox's counters (kept by triggers) and UIDNEXT: with opts->fix
 *    recomputed from the messages, UIDNEXT raised past the highest UID
 *    (RFC 9051 §2.3.1.1: a UID must never be handed out twice);
 *  - every content row has its file, with the size recorded;
 *  - files under msg/ with no content row (crash leftovers, temporary files)
 *    are orphans; with opts->fix those older than opts->min_orphan_age are
 *    moved to orphans/ (younger ones may be deliveries in flight: a file is
 *    renamed into place before its row commits).
 * Content rows are read in batches, so the lock is held only briefly.
 */
#include "store/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Most bytes of findings text; counts go on past it. */
#define VERIFY_TEXT_MAX (1024 * 1024)

static void finding(struct store_verify_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void finding(struct store_verify_report *rep, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t len = rep->text.len;
	if (buf_appendvf(&rep->text, fmt, ap) != 0 || buf_append_char(&rep->text, '\n') != 0)
		buf_truncate(&rep->text, len);
	va_end(ap);
}

static int check_db(struct store_account *a, struct store_verify_report *rep, struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "PRAGMA integrity_check", &st, err) != 0)
		return -1;
	int r;
	rep->db_ok = true;
	while ((r = db_step(a, st, err)) == 1) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line != NULL && strcmp(line, "ok") != 0) {
			rep->db_ok = false;
			finding(rep, "database: %s", line);
		}
	}
	db_finish(a, st);
	if (r < 0)
		return -1;
	if (sqlite3_exec(a->db, "INSERT INTO fts_addresses (fts_addresses) VALUES ('integrity-check');"
	                 "INSERT INTO fts_body (fts_body) VALUES ('integrity-check')", NULL, NULL,
	                 NULL) != SQLITE_OK) {
		rep->db_ok = false;
		finding(rep, "full-text index: %s", sqlite3_errmsg(a->db));
	}
	if (db_prepare(a, "PRAGMA foreign_key_check", &st, err) != 0)
		return -1;
	while ((r = db_step(a, st, err)) == 1) {
		rep->db_ok = false;
		finding(rep, "database: row %lld of %s refers to a missing row in %s",
		        (long long)sqlite3_column_int64(st, 1), sqlite3_column_text(st, 0),
		        sqlite3_column_text(st, 2));
	}
	db_finish(a, st);
	if (r < 0)
		return -1;
	int64_t n = 0;
	if (db_get(a, err, &n, "SELECT count(*) FROM message", 0) < 0)
		return -1;
	rep->messages = (uint64_t)n;
	return 0;
}

static void check_file(struct store_account *a, int64_t id, int64_t size,
                       struct store_verify_report *rep)
{
	char path[STORE_PATH_MAX];
	struct stat st;
	rep->files++;
	if (account_content_path(a, id, "", path, sizeof(path), NULL) != 0)
		return;
	if (stat(path, &st) != 0) {
		rep->missing++;
		finding(rep, "missing: %s (%s)", path, strerror(errno));
	} else if ((int64_t)st.st_size != size) {
		rep->bad_size++;
		finding(rep, "size: %s is %lld bytes, recorded %lld", path, (long long)st.st_size,
		        (long long)size);
	}
}

/* Loads up to STORE_BATCH content rows after id; returns how many, -1 on error. */
static int load_contents(struct store_account *a, int64_t after, int64_t *ids, int64_t *sizes,
                         struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "SELECT id, file_size FROM content WHERE id > ? ORDER BY id LIMIT ?",
	               &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, STORE_BATCH);
	int n = 0, r;
	while ((r = db_step(a, st, err)) == 1) {
		ids[n] = sqlite3_column_int64(st, 0);
		sizes[n++] = sqlite3_column_int64(st, 1);
	}
	db_finish(a, st);
	return r < 0 ? -1 : n;
}

static int check_contents(struct store_account *a, struct store_verify_report *rep,
                          struct error *err)
{
	int64_t *ids = malloc(2 * STORE_BATCH * sizeof(int64_t)), *sizes = ids + STORE_BATCH;
	if (ids == NULL)
		abort();
	int64_t after = 0;
	int n;
	do {
		store_lock(a);
		n = load_contents(a, after, ids, sizes, err);
		store_unlock(a);
		for (int i = 0; i < n; i++)
			check_file(a, ids[i], sizes[i], rep);
		if (n > 0)
			after = ids[n - 1];
	} while (n == STORE_BATCH);
	free(ids);
	return n < 0 ? -1 : 0;
}

/* Whether name (in msg/DIR) is a content id with a row. */
static bool known_file(struct store_account *a, const char *dir, const char *name)
{
	char *end;
	errno = 0;
	long long id = strtoll(name, &end, 10);
	if (errno != 0 || *end != '\0' || id <= 0 || name[0] == '+' || name[0] == '-')
		return false;
	if (id / STORE_DIR_FILES != strtoll(dir, NULL, 10))
		return false;
	int64_t one;
	store_lock(a);
	int r = db_get(a, NULL, &one, "SELECT 1 FROM content WHERE id = ?", 1, (int64_t)id);
	store_unlock(a);
	return r != 0;   /* on a database error, do not call the file an orphan */
}

static void orphan(struct store_account *a, const char *dir, const char *name,
                   const struct store_verify_opts *opts, struct store_verify_report *rep)
{
	char path[STORE_PATH_MAX], dest[STORE_PATH_MAX];
	struct stat st;
	store_path(path, "%s/msg/%s/%s", a->dir, dir, name);
	rep->orphans++;
	if (lstat(path, &st) != 0)
		return;
	bool old = (int64_t)time(NULL) - (int64_t)st.st_mtime >= opts->min_orphan_age;
	if (!opts->fix || !old) {
		finding(rep, "orphan: %s%s", path, old ? "" : " (recent, left in place)");
		return;
	}
	store_path(dest, "%s/orphans/%s-%s", a->dir, dir, name);
	if (rename(path, dest) != 0) {
		finding(rep, "orphan: %s: moving to %s: %s", path, dest, strerror(errno));
		return;
	}
	rep->moved++;
	finding(rep, "orphan: %s moved to %s", path, dest);
}

static void scan_dir(struct store_account *a, const char *dir,
                     const struct store_verify_opts *opts, struct store_verify_report *rep)
{
	char path[STORE_PATH_MAX];
	store_path(path, "%s/msg/%s", a->dir, dir);
	DIR *d = opendir(path);
	if (d == NULL) {
		finding(rep, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!known_file(a, dir, e->d_name))
			orphan(a, dir, e->d_name, opts, rep);
	}
	closedir(d);
}

static int scan_orphans(struct store_account *a, const struct store_verify_opts *opts,
                        struct store_verify_report *rep, struct error *err)
{
	char path[STORE_PATH_MAX];
	store_path(path, "%s/msg", a->dir);
	DIR *d = opendir(path);
	if (d == NULL)
		return error_errno(err, errno, "opening %s", path);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			scan_dir(a, e->d_name, opts, rep);
	}
	closedir(d);
	return 0;
}

static int fix_counts(struct store_account *a, struct error *err)
{
	if (db_begin(a, err) != 0)
		return -1;
	if (db_exec(a, "UPDATE mailbox SET"
	            " messages = (SELECT count(*) FROM message WHERE mailbox_id = mailbox.id),"
	            " unseen = (SELECT count(*) FROM message WHERE mailbox_id = mailbox.id"
	            "  AND (flags & 1) = 0),"
	            " bytes = (SELECT coalesce(sum(size), 0) FROM message"
	            "  WHERE mailbox_id = mailbox.id),"
	            " uidnext = max(uidnext, (SELECT coalesce(max(uid), 0) + 1 FROM message"
	            "  WHERE mailbox_id = mailbox.id));"
	            "UPDATE account SET messages = (SELECT count(*) FROM message),"
	            " bytes = (SELECT coalesce(sum(size), 0) FROM message)", err) != 0) {
		db_rollback(a);
		return -1;
	}
	return db_commit(a, err);
}

/* Mailboxes whose trigger-kept counters or UIDNEXT disagree with their rows. */
static int check_counts(struct store_account *a, const struct store_verify_opts *opts,
                        struct store_verify_report *rep, struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "SELECT name FROM mailbox m WHERE"
	               " messages != (SELECT count(*) FROM message WHERE mailbox_id = m.id)"
	               " OR unseen != (SELECT count(*) FROM message WHERE mailbox_id = m.id"
	               "  AND (flags & 1) = 0)"
	               " OR bytes != (SELECT coalesce(sum(size), 0) FROM message"
	               "  WHERE mailbox_id = m.id)"
	               " OR uidnext <= (SELECT coalesce(max(uid), 0) FROM message"
	               "  WHERE mailbox_id = m.id)", &st, err) != 0)
		return -1;
	uint64_t bad = 0;
	int r;
	while ((r = db_step(a, st, err)) == 1) {
		bad++;
		finding(rep, "counts: mailbox %s: counters or UIDNEXT disagree with its messages%s",
		        sqlite3_column_text(st, 0), opts->fix ? " (recomputed)" : "");
	}
	db_finish(a, st);
	if (r < 0)
		return -1;
	if (bad > 0 && opts->fix) {
		if (fix_counts(a, err) != 0)
			return -1;
		rep->fixed_counts = bad;
	} else {
		rep->bad_counts = bad;
	}
	return 0;
}

int store_verify(struct store_account *a, const struct store_verify_opts *opts,
                 struct store_verify_report *rep, struct error *err)
{
	memset(rep, 0, sizeof(*rep));
	buf_init(&rep->text, VERIFY_TEXT_MAX);
	store_lock(a);
	int r = check_db(a, rep, err);
	if (r == 0)
		r = check_counts(a, opts, rep, err);
	store_unlock(a);
	if (r == 0)
		r = check_contents(a, rep, err);
	if (r == 0)
		r = scan_orphans(a, opts, rep, err);
	return r;
}

bool store_verify_ok(const struct store_verify_report *rep)
{
	return rep->db_ok && rep->missing == 0 && rep->bad_size == 0 && rep->bad_counts == 0;
}

void store_verify_report_free(struct store_verify_report *rep)
{
	buf_free(&rep->text);
}
