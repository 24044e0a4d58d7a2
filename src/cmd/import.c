/*
 * import.c: `tern import FORMAT ACCOUNT MAILBOX PATH`, messages from an mbox,
 * a maildir (or a tree of them), a zip or tar.gz archive, or a directory of
 * message files into an account.
 *
 * Memory stays bounded whatever the size of the input: each message streams
 * from the reader (src/mailfmt/) into the store's durable delivery through a
 * fixed buffer. Bare LF line endings become CRLF on the way in. Flags and
 * keywords come along (maildir info and dovecot-keywords, mbox Status,
 * X-Status and X-Keywords). The source's inbox goes to MAILBOX; other
 * mailboxes of a multi-mailbox source keep their names and are created when
 * missing.
 *
 * Run as root, the command writes the data directory with the file-system
 * ids of the server's user (privdrop_fs_as), so that everything it stores
 * belongs to the server, and switches back to root's ids only to read its
 * input, which may be any file root can read.
 */
#include "cmd/cmd.h"
#include "cmd/mailbox_io.h"
#include "cmd/serve.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/privdrop.h"
#include "ctl/ctl.h"
#include "mailfmt/mailfmt.h"
#include "message/message.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert((int)MAILFMT_SEEN == (int)STORE_FLAG_SEEN &&
               (int)MAILFMT_ANSWERED == (int)STORE_FLAG_ANSWERED &&
               (int)MAILFMT_FLAGGED == (int)STORE_FLAG_FLAGGED &&
               (int)MAILFMT_DELETED == (int)STORE_FLAG_DELETED &&
               (int)MAILFMT_DRAFT == (int)STORE_FLAG_DRAFT,
               "mailfmt and store flag bits are the same");

/* Messages up to this size are parsed whole, for the index and the IMAP
 * structure; larger ones stream through with only their header parsed. This
 * bounds the memory of an import, whatever its input. */
#define IMPORT_PARSE_MAX (8 * 1024 * 1024)
/* Text kept for the full-text index per message (addresses, body). */
#define IMPORT_INDEX_TEXT_MAX (1024 * 1024)

struct import {
	uid_t uid;                   /* the server's user, owner of what is stored */
	gid_t gid;
	struct mailfmt_reader *reader;
	struct store_account *acct;
	const char *target;          /* MAILBOX */
	uint64_t input_size;         /* for progress; 0 if unknown */
	unsigned long messages;
	bool progress;               /* stderr is a terminal */
	struct buf head;             /* the start of the current message */
	size_t head_served;          /* bytes of head already handed to the store */
	time_t last_progress;
	struct error err;
};

static ssize_t read_source(struct import *im, void *buf, size_t n, struct error *err)
{
	privdrop_fs_as(0, 0);
	ssize_t r = mailfmt_reader_read(im->reader, buf, n, err);
	privdrop_fs_as(im->uid, im->gid);
	return r;
}

/* The store's read callback: what was read ahead into head, then the rest. */
static ssize_t read_message(void *ctx, void *buf, size_t n, struct error *err)
{
	struct import *im = ctx;
	if (im->head_served < im->head.len) {
		size_t k = im->head.len - im->head_served;
		k = k < n ? k : n;
		memcpy(buf, im->head.data + im->head_served, k);
		im->head_served += k;
		return (ssize_t)k;
	}
	return read_source(im, buf, n, err);
}

/* Reads the message into head, up to IMPORT_PARSE_MAX. Returns 1 when the
 * whole message is in head, 0 when more follows, -1 on error. */
static int read_ahead(struct import *im)
{
	buf_reset(&im->head);
	im->head_served = 0;
	for (;;) {
		char *dst = buf_reserve(&im->head, 65536);
		if (dst == NULL)
			return 0;
		ssize_t n = read_source(im, dst, 65536, &im->err);
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		buf_commit(&im->head, (size_t)n);
	}
}

/* Fills the searchable fields of d from the message start in head. */
static void summarize(struct import *im, struct arena *a, bool complete,
                      struct store_delivery *d)
{
	struct message *m = message_parse(a, im->head.data, im->head.len, NULL);
	struct message_summary s;
	message_summarize(a, m, complete, IMPORT_INDEX_TEXT_MAX, &s);
	store_delivery_summary(d, &s);
}

static int next_message(struct import *im, struct mailfmt_msg *m)
{
	privdrop_fs_as(0, 0);
	int r = mailfmt_reader_next(im->reader, m, &im->err);
	privdrop_fs_as(im->uid, im->gid);
	return r;
}

static const char *target_mailbox(const struct import *im, const char *source)
{
	return strcmp(source, "Inbox") == 0 ? im->target : source;
}

static int ensure_mailbox(struct import *im, const char *name)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct store_mailbox mb;
	int r = store_mailbox_status(im->acct, name, a, &mb, &im->err);
	if (r != 0 && im->err.kind == ERR_NOTFOUND)
		r = store_mailbox_create(im->acct, name, 0, &im->err);
	arena_free(&a);
	return r;
}

static void join_keywords(const struct mailfmt_msg *m, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < m->nkeywords; i++)
		if (buf_appendf(out, "%s%s", i > 0 ? " " : "", m->keywords[i]) != 0)
			break;  /* the store's own keyword limits reject what is left */
}

static void show_progress(struct import *im, bool final)
{
	time_t now = time(NULL);
	if (!im->progress || (!final && now == im->last_progress))
		return;
	im->last_progress = now;
	uint64_t done = mailfmt_reader_offset(im->reader);
	fprintf(stderr, "\rimported %lu messages, %.1f MB", im->messages, (double)done / 1e6);
	if (im->input_size > 0)
		fprintf(stderr, " (%.0f%%)", 100.0 * (double)done / (double)im->input_size);
	fputs(final ? "\n" : "", stderr);
}

static int import_one(struct import *im, const struct mailfmt_msg *m, struct buf *kw)
{
	const char *mailbox = target_mailbox(im, m->mailbox);
	if (ensure_mailbox(im, mailbox) != 0)
		return -1;
	join_keywords(m, kw);
	struct store_delivery d = {
		.mailbox = mailbox,
		.flags = m->flags,
		.keywords = kw->data,
		.received = m->received > 0 ? m->received : 0,
	};
	int whole = read_ahead(im);
	if (whole < 0)
		return error_prefix(&im->err, "message %lu", im->messages + 1);
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	summarize(im, a, whole == 1, &d);
	struct store_delivered res;
	int r = whole == 1
		? store_deliver(im->acct, &d, im->head.data, im->head.len, &res, &im->err)
		: store_deliver_stream(im->acct, &d, read_message, im, &res, &im->err);
	arena_free(&a);
	if (r != 0)
		return error_prefix(&im->err, "message %lu (into %s)", im->messages + 1, mailbox);
	im->messages++;
	show_progress(im, false);
	return 0;
}

static int import_all(struct import *im)
{
	struct buf kw;
	buf_init(&kw, 64 * 1024);
	struct mailfmt_msg m;
	int r;
	while ((r = next_message(im, &m)) == 1)
		if (import_one(im, &m, &kw) != 0)
			break;
	buf_free(&kw);
	show_progress(im, true);
	return r == 0 ? 0 : -1;
}

/* A running server's sessions (IMAP IDLE) learn of the new messages through
 * its control socket; with no server running there is nobody to tell. */
static void tell_server(const struct config *cfg, const char *account)
{
	struct buf out;
	struct error err;
	buf_init(&out, 4096);
	const char *argv[] = {"account-changed", account};
	if (ctl_call(cfg->st.data_dir, 2, argv, &out, &err) < 0)
		fprintf(stderr, "tern import: telling the running server: %s\n", err.msg);
	buf_free(&out);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool mboxo = false;
	const struct flag flags[] = {
		{"mboxo", FLAG_BOOL, &mboxo, "mbox: unquote only \">From \" (mboxo), not \">>From \" (mboxrd)"},
	};
	if (cmd_parse_flags(&cmd_import, ctx, flags, 1, &argc, &argv) != 0)
		return CMD_USAGE;
	enum mailfmt_kind kind;
	if (argc != 4 || mailbox_io_kind(argv[0], false, &kind) != 0)
		return cmd_usage(&cmd_import, flags, 1);
	struct config *cfg;
	if (mailbox_io_account(&cmd_import, ctx->config_path, argv[1], &cfg) != 0)
		return CMD_FAIL;
	struct import im = {.target = argv[2], .input_size = file_size(argv[3]),
	                    .progress = isatty(2) == 1};
	buf_init(&im.head, IMPORT_PARSE_MAX);
	error_clear(&im.err);
	struct mailfmt_reader_opts ro = {.mbox_variant = mboxo ? MAILFMT_MBOXO : MAILFMT_MBOXRD};
	int r = mailfmt_reader_open(kind, argv[3], &ro, &im.reader, &im.err);
	if (r == 0)
		r = serve_as_data_owner(cfg, &im.uid, &im.gid, &im.err);
	if (r == 0)
		r = mailbox_io_open_store(cfg, argv[1], &im.acct, &im.err);
	if (r == 0)
		r = import_all(&im);
	store_close(&im.acct);
	mailfmt_reader_free(&im.reader);
	buf_free(&im.head);
	if (im.messages > 0)
		tell_server(cfg, argv[1]);
	config_release(&cfg);
	if (r != 0)
		return cmd_fail(&cmd_import, "%s (%lu messages imported before)", im.err.msg,
		                im.messages);
	printf("imported %lu messages into account %s\n", im.messages, argv[1]);
	return CMD_OK;
}

const struct cmd cmd_import = {
	.name = "import",
	.args = "[-mboxo] mbox|maildir|zip|tgz|files|auto ACCOUNT MAILBOX PATH",
	.summary = "import messages from an mbox, maildir, zip or tar.gz into an account",
	.help = "Imports the messages of PATH into ACCOUNT. PATH is an mbox file, a maildir\n"
	        "(or a directory of maildirs and mbox files, Maildir++ folders included), a\n"
	        "zip or tar.gz archive holding those, or a directory of files of one message\n"
	        "each; \"auto\" detects which. The source's inbox (a single mbox or maildir)\n"
	        "goes to MAILBOX; other mailboxes keep their names and are created if missing.\n"
	        "Flags and keywords are kept: maildir info letters and dovecot-keywords, mbox\n"
	        "Status, X-Status and X-Keywords headers (removed from the stored message).\n"
	        "Bare LF line endings are stored as CRLF. Memory use does not grow with the\n"
	        "input. Progress is shown when stderr is a terminal. Run as root, tern opens\n"
	        "PATH and then works as the server's user; a maildir tree must be readable by\n"
	        "that user.",
	.run = run,
};
