/*
 * backup.c: `tern backup DESTDIR`, a consistent copy of the data directory
 * taken while the server runs.
 *
 * Message files are written once and never changed, so they are hard-linked
 * (copied when DESTDIR is on another file system); databases are copied with
 * SQLite's online backup, a snapshot of one moment. Order, so that every
 * message a database snapshot names has its file:
 *   1. link every message file present now;
 *   2. snapshot every database;
 *   3. link the files that arrived meanwhile (a delivery writes its file
 *      before its database row, so a row in the snapshot has its file by now).
 * Files expunged during the backup may remain as orphans in the copy, which
 * `tern verifydata -fix` moves aside. The one gap: a message delivered and
 * expunged again between steps 1 and 3 is in the snapshot without its file.
 */
#include "cmd/cmd.h"

#include "config/config.h"
#include "core/file.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directory levels nftw keeps open at once. */
#define WALK_FDS 32

struct backup {
	const char *src, *dst;
	size_t src_len;
	unsigned linked, copied, databases, skipped;
	bool fail;
	struct error err;
};

/* nftw has no user pointer: one backup runs per process. */
static struct backup *current;

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_database(const char *path)
{
	return ends_with(path, ".db");
}

/* SQLite's own companions and temporary files are never copied as files. */
static bool is_transient(const char *path)
{
	return ends_with(path, ".db-wal") || ends_with(path, ".db-shm") ||
	       ends_with(path, ".db-journal") || strstr(path, ".tmp") != NULL;
}

static char *dest_path(const struct backup *b, const char *path)
{
	char *out;
	if (asprintf(&out, "%s%s", b->dst, path + b->src_len) < 0)
		abort();
	return out;
}

static int copy_file(const char *from, const char *to, struct error *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return error_errno(err, errno, "opening %s", from);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = out < 0 ? error_errno(err, errno, "creating %s", to) : 0;
	char chunk[65536];
	ssize_t n;
	while (r == 0 && (n = read(in, chunk, sizeof(chunk))) != 0) {
		if (n < 0 || write(out, chunk, (size_t)n) != n)
			r = error_errno(err, errno, "copying %s", from);
	}
	if (r == 0 && fsync(out) != 0)
		r = error_errno(err, errno, "syncing %s", to);
	if (out >= 0)
		close(out);
	close(in);
	return r;
}

/* Links (or copies) one message file unless the backup has it already. */
static int link_one(struct backup *b, const char *path)
{
	char *to = dest_path(b, path);
	int r = 0;
	if (file_exists(to)) {
		free(to);
		return 0;
	}
	if (link(path, to) == 0) {
		b->linked++;
	} else if (errno == EXDEV || errno == EPERM) {
		r = copy_file(path, to, &b->err);
		b->copied += r == 0;
	} else if (errno == ENOENT) {
		b->skipped++;  /* removed since the walk saw it */
	} else {
		r = error_errno(&b->err, errno, "linking %s", path);
	}
	free(to);
	return r;
}

static int visit_files(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct backup *b = current;
	if (type == FTW_D) {
		char *to = dest_path(b, path);
		int r = file_mkdir_all(to, 0750, &b->err);
		free(to);
		return r == 0 ? 0 : (b->fail = true, 1);
	}
	if (type != FTW_F || !S_ISREG(st->st_mode) || is_database(path) || is_transient(path))
		return 0;
	return link_one(b, path) == 0 ? 0 : (b->fail = true, 1);
}

static int visit_databases(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct backup *b = current;
	if (type != FTW_F || !is_database(path))
		return 0;
	char *to = dest_path(b, path);
	int r = store_db_backup(path, to, &b->err);
	free(to);
	b->databases += r == 0;
	return r == 0 ? 0 : (b->fail = true, 1);
}

static int walk(struct backup *b, __nftw_func_t fn)
{
	current = b;
	if (nftw(b->src, fn, WALK_FDS, FTW_PHYS) != 0 && !b->fail)
		error_errno(&b->err, errno, "reading %s", b->src);
	current = NULL;
	return b->fail || b->err.kind != ERR_NONE ? -1 : 0;
}

static int dest_must_be_new(const char *dst, struct error *err)
{
	struct stat st;
	if (stat(dst, &st) == 0)
		return error_set(err, ERR_INVALID, "%s exists; give a new directory", dst);
	return file_mkdir_all(dst, 0750, err);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(&cmd_backup, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_backup, NULL, 0);
	struct config *cfg;
	struct backup b = {.dst = argv[0]};
	error_clear(&b.err);
	if (config_load(ctx->config_path, &cfg, &b.err) != 0)
		return cmd_fail(&cmd_backup, "%s", b.err.msg);
	b.src = cfg->st.data_dir;
	b.src_len = strlen(b.src);
	int r = dest_must_be_new(b.dst, &b.err);
	if (r == 0)
		r = walk(&b, visit_files);
	if (r == 0)
		r = walk(&b, visit_databases);
	if (r == 0)
		r = walk(&b, visit_files);
	config_release(&cfg);
	if (r != 0)
		return cmd_fail(&cmd_backup, "%s", b.err.msg);
	printf("backup in %s: %u databases, %u files linked, %u copied\n", b.dst, b.databases,
	       b.linked, b.copied);
	return CMD_OK;
}

const struct cmd cmd_backup = {
	.name = "backup",
	.args = "DESTDIR",
	.summary = "copy the data directory consistently, also while the server runs",
	.help = "Writes a consistent copy of the data directory to DESTDIR (which must not\n"
	        "exist yet): databases with SQLite's online backup, message files as hard\n"
	        "links (copies when DESTDIR is on another file system). Check the copy with\n"
	        "\"tern verifydata DESTDIR\"; start a server on it by pointing DataDir there.",
	.run = run,
};
