/*
 * backup.c: consistent copies of the store's SQLite databases while the
 * server runs, with SQLite's online backup API (the copy is a snapshot of
 * one moment even while writers go on; WAL readers do not block them).
 */
#include "store/store.h"

#include <sqlite3.h>

/* Pages copied per step; between steps writers may proceed. */
#define BACKUP_STEP_PAGES 256

static int fail(struct error *err, sqlite3 *db, const char *what, const char *path)
{
	error_set(err, ERR_IO, "backup %s %s: %s", what, path,
	          db != NULL ? sqlite3_errmsg(db) : "out of memory");
	return -1;
}

int store_db_backup(const char *src_path, const char *dst_path, struct error *err)
{
	sqlite3 *src = NULL, *dst = NULL;
	int r = -1;
	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fail(err, src, "opening", src_path);
		goto done;
	}
	sqlite3_busy_timeout(src, 30000);
	if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fail(err, dst, "creating", dst_path);
		goto done;
	}
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		fail(err, dst, "starting", dst_path);
		goto done;
	}
	int rc;
	do {
		rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(10);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		fail(err, dst, "copying", src_path);
		goto done;
	}
	r = 0;
done:
	sqlite3_close(src);
	sqlite3_close(dst);
	return r;
}
