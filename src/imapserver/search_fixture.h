/*
 * search_fixture.h: the fixture of the SEARCH, SORT and THREAD unit tests:
 * a fresh store with messages delivered as tern's SMTP server delivers them
 * (message_summarize fills the searchable fields and the index), a session
 * with INBOX selected on one end of a socketpair, and a way to run a
 * command line and read back exactly what was written. Test code only.
 */
#ifndef TERN_IMAPSERVER_SEARCH_FIXTURE_H
#define TERN_IMAPSERVER_SEARCH_FIXTURE_H

#include "imapserver/internal.h"

#include "core/arena.h"
#include "core/conn.h"
#include "message/message.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct sfx {
	char dir[64];
	struct store_account *acct;
	struct imapsrv_session s;
	struct imapsrv_selected sel;
	int peer;
	struct arena *a;
	struct buf out;          /* what the last command wrote, tagged line included */
};

static inline void sfx_die(const char *what, const struct error *e)
{
	fprintf(stderr, "%s: %s\n", what, e != NULL ? e->msg : "");
	abort();
}

static inline struct sfx *sfx_new(void)
{
	struct sfx *f = calloc(1, sizeof(*f));
	struct error e;
	if (f == NULL)
		abort();
	snprintf(f->dir, sizeof(f->dir), "/tmp/ternsearchXXXXXX");
	if (mkdtemp(f->dir) == NULL)
		sfx_die("mkdtemp", NULL);
	if (store_open(f->dir, "alice", &f->acct, &e) != 0)
		sfx_die("store_open", &e);
	f->a = arena_new(4096, ARENA_PLAIN);
	struct store_mailbox mb;
	if (store_mailbox_status(f->acct, "Inbox", f->a, &mb, &e) != 0)
		sfx_die("status", &e);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		sfx_die("socketpair", NULL);
	f->peer = sv[1];
	fcntl(f->peer, F_SETFL, O_NONBLOCK);
	f->s.c = conn_new(sv[0], 8192, &e);
	if (f->s.c == NULL)
		sfx_die("conn_new", &e);
	f->s.out.c = f->s.c;
	f->s.state = IMAPSRV_SELECTED;
	f->s.acct = f->acct;
	f->s.cmd_arena = arena_new(4096, ARENA_PLAIN);
	buf_init(&f->s.wbuf, BUF_UNBOUNDED);
	f->sel.acct = f->acct;
	f->sel.mailbox_id = mb.id;
	f->sel.uidvalidity = mb.uidvalidity;
	f->s.sel = &f->sel;
	buf_init(&f->out, BUF_UNBOUNDED);
	return f;
}

static inline void sfx_free(struct sfx *f)
{
	conn_free(&f->s.c);
	close(f->peer);
	free(f->sel.uids);
	store_uids_free(&f->sel.saved);
	store_close(&f->acct);
	arena_free(&f->a);
	arena_free(&f->s.cmd_arena);
	buf_free(&f->s.wbuf);
	buf_free(&f->out);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		abort();
	free(f);
}

/* Delivers text (LF line ends become CRLF) into INBOX as the SMTP server
 * does, adds it to the view and returns its UID. */
static inline uint32_t sfx_deliver(struct sfx *f, const char *text, unsigned flags,
                                   const char *keywords, int64_t received)
{
	struct buf crlf;
	buf_init(&crlf, BUF_UNBOUNDED);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			buf_append_char(&crlf, '\r');
		buf_append_char(&crlf, *p);
	}
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct message *m = message_parse(a, crlf.data, crlf.len, NULL);
	struct message_summary sum;
	message_summarize(a, m, true, 256 * 1024, &sum);
	struct store_delivery d = {
		.flags = flags, .keywords = keywords, .received = received,
		.structure = sum.structure, .structure_len = sum.structure_len,
		.message_id = sum.message_id, .subject = sum.subject, .from = sum.from,
		.date = sum.date, .fts_addresses = sum.addresses, .fts_body = sum.body,
	};
	struct store_delivered res;
	struct error e;
	if (store_deliver(f->acct, &d, crlf.data, crlf.len, &res, &e) != 0)
		sfx_die("store_deliver", &e);
	if (imapsrv_view_append(&f->sel, res.uid) != 0)
		sfx_die("view_append", NULL);
	arena_free(&a);
	buf_free(&crlf);
	return res.uid;
}

/* A message with the usual header fields; NULL fields are left out.
 * extra holds more fields, each ending in "\n". */
static inline uint32_t sfx_mail(struct sfx *f, const char *from, const char *subject,
                                const char *date, const char *extra, const char *body)
{
	struct buf t;
	buf_init(&t, BUF_UNBOUNDED);
	if (from != NULL)
		buf_appendf(&t, "From: %s\n", from);
	if (subject != NULL)
		buf_appendf(&t, "Subject: %s\n", subject);
	if (date != NULL)
		buf_appendf(&t, "Date: %s\n", date);
	buf_appendf(&t, "To: bob@example.org\n%s\n%s", extra != NULL ? extra : "",
	            body != NULL ? body : "");
	/* INTERNALDATE: a second apart, in delivery order, up to now */
	static int64_t clock;
	int64_t now = (int64_t)time(NULL);
	clock = clock == 0 || clock >= now ? now - 3600 : clock + 1;
	uint32_t uid = sfx_deliver(f, t.data, 0, NULL, clock);
	buf_free(&t);
	return uid;
}

/* Runs one command line; f->out gets the untagged responses and the tagged
 * line "tag STATUS [CODE] text". Returns f->out.data. */
static inline const char *sfx_run(struct sfx *f, const char *line)
{
	struct imap_command cmd;
	struct error e;
	unsigned flags = f->s.out.rev2 ? IMAP_UTF8 : 0;
	arena_reset(f->s.cmd_arena);
	if (imap_command_parse(line, strlen(line), flags, 0, 0, f->s.cmd_arena, &cmd, &e) != 0) {
		fprintf(stderr, "parse %s: %s\n", line, e.msg);
		abort();
	}
	struct imapsrv_result r = {0};
	int rc;
	switch (cmd.cmd) {
	case IMAP_CMD_SEARCH: rc = imapsrv_cmd_search(&f->s, &cmd, &r); break;
	case IMAP_CMD_SORT: rc = imapsrv_cmd_sort(&f->s, &cmd, &r); break;
	case IMAP_CMD_THREAD: rc = imapsrv_cmd_thread(&f->s, &cmd, &r); break;
	default: abort();
	}
	if (rc != 0 || conn_flush(f->s.c, &e) != 0)
		sfx_die("command", &e);
	buf_reset(&f->out);
	char tmp[65536];
	ssize_t n;
	while ((n = read(f->peer, tmp, sizeof(tmp))) > 0)
		buf_append(&f->out, tmp, (size_t)n);
	buf_appendf(&f->out, "%s %s", cmd.tag, r.status);
	if (r.code != NULL)
		buf_appendf(&f->out, " [%s]", r.code);
	return f->out.data;
}

/* The untagged part of the last answer (up to the tagged line). */
static inline const char *sfx_untagged(struct sfx *f, struct arena *a)
{
	const char *end = f->out.data + f->out.len;
	while (end > f->out.data && end[-1] != '\n')
		end--;
	return arena_strndup(a, f->out.data, (size_t)(end - f->out.data));
}

#endif
