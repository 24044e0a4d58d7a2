/*
 * export.c: `tern export mbox|maildir DEST ACCOUNT [MAILBOX]`, an account's
 * messages written out in the local convention: LF line endings, mboxrd
 * quoting for mbox, one mbox file or maildir per mailbox under DEST; a DEST
 * ending in .zip or .tgz/.tar.gz is an archive of the same. Flags and
 * keywords go along (mbox Status/X-Status/X-Keywords, maildir info and
 * dovecot-keywords). Messages are read as stored and streamed through a fixed
 * buffer; the export only reads, so it may run beside the server.
 *
 * Run as root, the account is opened with the file-system ids of the
 * server's user (serve_as_data_owner), so that whatever the store creates
 * in the data directory (directories, database, its WAL) stays the
 * server's; DEST is written with root's ids.
 */
#include "cmd/cmd.h"
#include "cmd/mailbox_io.h"
#include "cmd/serve.h"

#include "core/arena.h"
#include "core/privdrop.h"
#include "mailfmt/mailfmt.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes copied per read from a message file. */
#define EXPORT_CHUNK 65536
/* Keywords of one message passed to the writer. */
#define EXPORT_KEYWORDS_MAX 64

struct export {
	struct store_account *acct;
	struct mailfmt_writer *w;
	const char *mailbox;
	int64_t mailbox_id;
	unsigned long messages;
	char *chunk;
	uid_t uid;                   /* the data directory's owner (privdrop_fs_as) */
	gid_t gid;
	struct error err;
};

static enum mailfmt_archive archive_of(const char *dest)
{
	size_t n = strlen(dest);
	if (n > 4 && strcmp(dest + n - 4, ".zip") == 0)
		return MAILFMT_ARCHIVE_ZIP;
	if ((n > 4 && strcmp(dest + n - 4, ".tgz") == 0) ||
	    (n > 7 && strcmp(dest + n - 7, ".tar.gz") == 0))
		return MAILFMT_ARCHIVE_TGZ;
	return MAILFMT_ARCHIVE_NONE;
}

/* Splits space-separated keywords (in place) into out. Returns the count. */
static size_t split_keywords(char *s, const char **out, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *k = strtok_r(s, " ", &save); k != NULL && n < max;
	     k = strtok_r(NULL, " ", &save))
		out[n++] = k;
	return n;
}

static int copy_file(struct export *ex, int fd, uint64_t size)
{
	while (size > 0) {
		ssize_t n = read(fd, ex->chunk, size < EXPORT_CHUNK ? (size_t)size : EXPORT_CHUNK);
		if (n <= 0)
			return error_set(&ex->err, ERR_IO, "message file shorter than recorded");
		if (mailfmt_writer_write(ex->w, ex->chunk, (size_t)n, &ex->err) != 0)
			return -1;
		size -= (uint64_t)n;
	}
	return 0;
}

static int export_message(void *ctx, const struct store_msginfo *m)
{
	struct export *ex = ctx;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct store_msgfile f = {.fd = -1};
	const char *kw[EXPORT_KEYWORDS_MAX];
	char *kwcopy = arena_strdup(a, m->keywords);
	size_t nkw = split_keywords(kwcopy, kw, EXPORT_KEYWORDS_MAX);
	int r = store_msg_open(ex->acct, ex->mailbox_id, m->uid, a, &f, &ex->err);
	privdrop_fs_as(0, 0);   /* DEST with the caller's ids */
	if (r == 0)
		r = mailfmt_writer_begin(ex->w, ex->mailbox, m->flags, kw, nkw, m->received, &ex->err);
	if (r == 0)
		r = mailfmt_writer_write(ex->w, f.prefix, f.prefix_len, &ex->err);
	if (r == 0)
		r = copy_file(ex, f.fd, f.file_size);
	if (r == 0)
		r = mailfmt_writer_end(ex->w, &ex->err);
	privdrop_fs_as(ex->uid, ex->gid);
	if (f.fd >= 0)
		close(f.fd);
	arena_free(&a);
	if (r != 0)
		return error_prefix(&ex->err, "%s UID %u", ex->mailbox, m->uid);
	ex->messages++;
	return 0;
}

static int export_mailbox(struct export *ex, const struct store_mailbox *mb)
{
	if (mb->noselect)
		return 0;
	ex->mailbox = mb->name;
	ex->mailbox_id = mb->id;
	int r = store_msg_list(ex->acct, mb->id, NULL, 0, 0, export_message, ex, &ex->err);
	return r == 0 && ex->err.kind == ERR_NONE ? 0 : -1;
}

static int export_all(struct export *ex, const char *only)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct store_mailbox *list;
	size_t n;
	int r = store_mailbox_list(ex->acct, a, &list, &n, &ex->err);
	bool found = only == NULL;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (only != NULL && strcmp(list[i].name, only) != 0)
			continue;
		found = true;
		r = export_mailbox(ex, &list[i]);
	}
	if (r == 0 && !found)
		r = error_set(&ex->err, ERR_NOTFOUND, "no mailbox \"%s\"", only);
	arena_free(&a);
	return r;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(&cmd_export, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	enum mailfmt_kind kind;
	if ((argc != 3 && argc != 4) || mailbox_io_kind(argv[0], true, &kind) != 0)
		return cmd_usage(&cmd_export, NULL, 0);
	struct config *cfg;
	if (mailbox_io_account(&cmd_export, ctx->config_path, argv[2], &cfg) != 0)
		return CMD_FAIL;
	struct export ex = {.chunk = malloc(EXPORT_CHUNK)};
	if (ex.chunk == NULL)
		abort();
	error_clear(&ex.err);
	int r = mailfmt_writer_open(kind, archive_of(argv[1]), argv[1], &ex.w, &ex.err);
	if (r == 0)
		r = serve_as_data_owner(cfg, &ex.uid, &ex.gid, &ex.err);
	if (r == 0)
		r = store_open(cfg->st.data_dir, argv[2], &ex.acct, &ex.err);
	if (r == 0)
		r = export_all(&ex, argc == 4 ? argv[3] : NULL);
	privdrop_fs_as(0, 0);
	if (r == 0)
		r = mailfmt_writer_close(&ex.w, &ex.err);
	mailfmt_writer_free(&ex.w);
	store_close(&ex.acct);
	free(ex.chunk);
	config_release(&cfg);
	if (r != 0)
		return cmd_fail(&cmd_export, "%s", ex.err.msg);
	printf("exported %lu messages of account %s to %s\n", ex.messages, argv[2], argv[1]);
	return CMD_OK;
}

const struct cmd cmd_export = {
	.name = "export",
	.args = "mbox|maildir DEST ACCOUNT [MAILBOX]",
	.summary = "export an account's mailboxes as mbox files or maildirs",
	.help = "Writes every mailbox of ACCOUNT (or only MAILBOX) under DEST, which must not\n"
	        "exist: one mbox file (DEST/NAME.mbox) or one maildir (DEST/NAME/) per mailbox,\n"
	        "nested for hierarchical names, with LF line endings; mbox uses mboxrd\n"
	        "quoting. A DEST ending in .zip, .tgz or .tar.gz is an archive of the same.\n"
	        "Flags and keywords are written as mbox Status/X-Status/X-Keywords headers or\n"
	        "maildir info letters and dovecot-keywords. The export only reads the account\n"
	        "and can run while the server does.",
	.run = run,
};
