/*
 * cmdtest.h: the fixture of the command files' unit tests (mailbox_test.c,
 * message_test.c, append_test.c): a fresh store in a temporary directory,
 * a session built by hand on one end of a socketpair, and a runner that
 * parses a command line, calls its handler and returns every byte the
 * client would read, tagged line included. Test code only.
 */
#ifndef TERN_IMAPSERVER_CMDTEST_H
#define TERN_IMAPSERVER_CMDTEST_H

#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "core/arena.h"
#include "core/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct cmdtest {
	char dir[64];
	struct imapsrv_settings set;
	struct imapsrv_session s;
	int peer;                    /* the client's end */
	struct buf out;              /* what the last command wrote */
};

static inline struct cmdtest *cmdtest_new(void)
{
	struct cmdtest *t = calloc(1, sizeof(*t));
	struct error e;
	int sv[2];
	if (t == NULL)
		abort();
	snprintf(t->dir, sizeof(t->dir), "/tmp/ternimapXXXXXX");
	if (mkdtemp(t->dir) == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	if (store_open(t->dir, "alice", &t->s.acct, &e) != 0) {
		fprintf(stderr, "store_open: %s\n", e.msg);
		abort();
	}
	imap_limits_default(&t->set.limits);
	t->s.set = &t->set;
	t->s.c = conn_new(sv[0], IMAP_LINE_MAX_DEFAULT, &e);
	if (t->s.c == NULL)
		abort();
	t->s.out.c = t->s.c;
	t->s.state = IMAPSRV_AUTHENTICATED;
	t->s.cmd_arena = arena_new(4096, ARENA_PLAIN);
	buf_init(&t->s.wbuf, BUF_UNBOUNDED);
	buf_init(&t->out, BUF_UNBOUNDED);
	t->peer = sv[1];
	fcntl(t->peer, F_SETFL, O_NONBLOCK);
	return t;
}

static inline void cmdtest_free(struct cmdtest *t)
{
	char cmd[128];
	imapsrv_selected_free(&t->s.sel);
	conn_free(&t->s.c);
	close(t->peer);
	arena_free(&t->s.cmd_arena);
	buf_free(&t->s.wbuf);
	buf_free(&t->out);
	store_close(&t->s.acct);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd) != 0)
		abort();
	free(t);
}

/* cmocka setup and teardown: a cmdtest in *state. */
static inline int cmdtest_setup(void **state)
{
	*state = cmdtest_new();
	return 0;
}

static inline int cmdtest_teardown(void **state)
{
	cmdtest_free(*state);
	return 0;
}

static inline imapsrv_cmd_fn *cmdtest_handler(enum imap_cmd c)
{
	switch (c) {
	case IMAP_CMD_LIST: return imapsrv_cmd_list;
	case IMAP_CMD_LSUB: return imapsrv_cmd_lsub;
	case IMAP_CMD_STATUS: return imapsrv_cmd_status;
	case IMAP_CMD_CREATE: return imapsrv_cmd_create;
	case IMAP_CMD_DELETE: return imapsrv_cmd_delete;
	case IMAP_CMD_RENAME: return imapsrv_cmd_rename;
	case IMAP_CMD_SUBSCRIBE: return imapsrv_cmd_subscribe;
	case IMAP_CMD_UNSUBSCRIBE: return imapsrv_cmd_unsubscribe;
	case IMAP_CMD_NAMESPACE: return imapsrv_cmd_namespace;
	case IMAP_CMD_STORE: return imapsrv_cmd_store;
	case IMAP_CMD_COPY: return imapsrv_cmd_copy;
	case IMAP_CMD_MOVE: return imapsrv_cmd_move;
	case IMAP_CMD_EXPUNGE: return imapsrv_cmd_expunge;
	case IMAP_CMD_APPEND: return imapsrv_cmd_append;
	case IMAP_CMD_REPLACE: return imapsrv_cmd_replace;
	case IMAP_CMD_GETQUOTA: return imapsrv_cmd_getquota;
	case IMAP_CMD_GETQUOTAROOT: return imapsrv_cmd_getquotaroot;
	case IMAP_CMD_SETQUOTA: return imapsrv_cmd_setquota;
	default: return NULL;
	}
}

/* Reads what the server end sent. */
static inline void cmdtest_drain(struct cmdtest *t)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(t->peer, chunk, sizeof(chunk));
		if (n > 0) {
			buf_append(&t->out, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
}

/* Runs one command given in wire form (literals inline, no final CRLF) and
 * returns all output, tagged line included (valid until the next run). */
static inline const char *cmdtest_run_raw(struct cmdtest *t, const char *wire, size_t len)
{
	struct imap_command cmd;
	struct imapsrv_result r = {0};
	struct error e;
	arena_reset(t->s.cmd_arena);
	buf_reset(&t->out);
	if (imap_command_parse(wire, len, t->s.out.imap_flags, 0, 0, t->s.cmd_arena, &cmd, &e) != 0) {
		buf_appendf(&t->out, "PARSE %s\r\n", e.msg);
		return t->out.data;
	}
	imapsrv_cmd_fn *fn = cmdtest_handler(cmd.cmd);
	if (fn == NULL)
		abort();
	int rc = fn(&t->s, &cmd, &r);
	if (conn_flush(t->s.c, &e) != 0)
		abort();
	cmdtest_drain(t);
	if (rc != 0) {
		buf_append_str(&t->out, "BROKEN\r\n");
		return t->out.data;
	}
	struct buf tagged;
	buf_init(&tagged, BUF_UNBOUNDED);
	imap_write_status(&tagged, cmd.tag, r.status, r.code, r.text);
	buf_append(&t->out, tagged.data, tagged.len);
	buf_free(&tagged);
	return t->out.data;
}

static inline const char *cmdtest_run(struct cmdtest *t, const char *line)
{
	return cmdtest_run_raw(t, line, strlen(line));
}

/* Delivers text to mailbox with flags and keywords; returns the UID. */
static inline uint32_t cmdtest_put(struct cmdtest *t, const char *mailbox, const char *text,
                                   unsigned flags, const char *keywords)
{
	struct store_delivery d = {.mailbox = mailbox, .flags = flags, .keywords = keywords};
	struct store_delivered res;
	struct error e;
	if (store_deliver(t->s.acct, &d, text, strlen(text), &res, &e) != 0) {
		fprintf(stderr, "deliver: %s\n", e.msg);
		abort();
	}
	return res.uid;
}

static inline int cmdtest_view_add(void *ctx, const struct store_msginfo *m)
{
	return imapsrv_view_append(ctx, m->uid);
}

/* Selects mailbox (SELECT, or EXAMINE with readonly) as the session does:
 * the view holds every message now stored. */
static inline void cmdtest_select(struct cmdtest *t, const char *mailbox, bool readonly)
{
	struct store_mailbox mb;
	struct error e;
	imapsrv_selected_free(&t->s.sel);
	if (store_mailbox_status(t->s.acct, mailbox, NULL, &mb, &e) != 0)
		abort();
	struct imapsrv_selected *sel = calloc(1, sizeof(*sel));
	if (sel == NULL)
		abort();
	sel->acct = t->s.acct;
	sel->mailbox_id = mb.id;
	sel->name = strdup(mailbox);
	sel->readonly = readonly;
	sel->uidvalidity = mb.uidvalidity;
	sel->uidnext = mb.uidnext;
	sel->highestmodseq = mb.highestmodseq;
	if (store_msg_list(t->s.acct, mb.id, NULL, 0, 0, cmdtest_view_add, sel, &e) != 0)
		abort();
	t->s.sel = sel;
	t->s.state = IMAPSRV_SELECTED;
}

static inline struct store_mailbox cmdtest_status(struct cmdtest *t, const char *mailbox)
{
	struct store_mailbox mb;
	struct error e;
	if (store_mailbox_status(t->s.acct, mailbox, NULL, &mb, &e) != 0)
		abort();
	return mb;
}

#endif
