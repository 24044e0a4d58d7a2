/*
 * fetch_test.c: FETCH and UID FETCH over a socketpair against a temporary
 * store: items and their exact bytes (RFC 9051 §6.4.5, §7.5.2), sections
 * and partials, the added-headers prefix, \Seen, BINARY (RFC 3516),
 * CHANGEDSINCE and VANISHED (RFC 7162), PREVIEW (RFC 8970), and the MIME
 * corpus checked against the parser's own answers. Over the corpus too,
 * the header texts the store keeps (ENVELOPE, and the search headers that
 * SEARCH FROM/TO/CC/BCC/SUBJECT read) give the same answers as the files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/test_external.h"

#include "imapserver/internal.h"

#include "core/arena.h"
#include "core/conn.h"
#include "message/message.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SENTINEL "#END#\r\n"

struct fixture {
	char dir[64];
	struct store_account *acct;
	int64_t mbox;
	struct imapsrv_session s;
	struct imapsrv_selected sel;
	int peer;
	pthread_t reader;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct buf got;              /* what the client end received */
	bool count_only;             /* count "* n FETCH" answers instead of keeping them */
	size_t answers;
	char tail[8];                /* last bytes seen in count_only mode */
	struct arena *a;
};

static void *reader_main(void *arg)
{
	struct fixture *f = arg;
	char tmp[65536];
	for (;;) {
		ssize_t n = read(f->peer, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		pthread_mutex_lock(&f->mu);
		if (f->count_only) {
			for (ssize_t i = 0; i < n; i++) {
				memmove(f->tail, f->tail + 1, sizeof(f->tail) - 1);
				f->tail[sizeof(f->tail) - 1] = tmp[i];
				if (memcmp(f->tail, " FETCH (", 8) == 0)
					f->answers++;
				if (memcmp(f->tail + 1, SENTINEL, 7) == 0)
					buf_append(&f->got, SENTINEL, 7);
			}
		} else {
			buf_append(&f->got, tmp, (size_t)n);
		}
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

/* The view holds every message of the mailbox. */
static int view_add(void *ctx, const struct store_msginfo *m)
{
	struct imapsrv_selected *sel = ctx;
	return imapsrv_view_append(sel, m->uid);
}

static void view_refresh(struct fixture *f)
{
	struct error e;
	struct store_mailbox mb;
	f->sel.n = 0;
	assert_int_equal(store_msg_list(f->acct, f->mbox, NULL, 0, 0, view_add, &f->sel, &e), 0);
	assert_int_equal(store_mailbox_status(f->acct, "Inbox", f->a, &mb, &e), 0);
	f->sel.highestmodseq = mb.highestmodseq;
	f->sel.uidnext = mb.uidnext;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error e;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ternfetchXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open(f->dir, "alice", &f->acct, &e), 0);
	f->a = arena_new(4096, ARENA_PLAIN);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_status(f->acct, "Inbox", f->a, &mb, &e), 0);
	f->mbox = mb.id;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->peer = sv[1];
	struct conn *c = conn_new(sv[0], 8192, &e);
	assert_non_null(c);
	f->s.c = c;
	f->s.out.c = c;
	f->s.state = IMAPSRV_SELECTED;
	f->s.acct = f->acct;
	f->s.cmd_arena = arena_new(4096, ARENA_PLAIN);
	buf_init(&f->s.wbuf, BUF_UNBOUNDED);
	f->sel.acct = f->acct;
	f->sel.mailbox_id = f->mbox;
	f->sel.uidvalidity = mb.uidvalidity;
	f->s.sel = &f->sel;
	buf_init(&f->got, BUF_UNBOUNDED);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	assert_int_equal(pthread_create(&f->reader, NULL, reader_main, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	conn_free(&f->s.c);
	pthread_join(f->reader, NULL);
	close(f->peer);
	buf_free(&f->got);
	buf_free(&f->s.wbuf);
	arena_free(&f->s.cmd_arena);
	arena_free(&f->a);
	free(f->sel.uids);
	store_uids_free(&f->sel.saved);
	store_close(&f->acct);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	return 0;
}

/* Delivers a message as tern's SMTP server does: the layout and summary
 * from message_parse over the file's bytes, the added headers apart. */
static uint32_t deliver_full(struct fixture *f, const char *text, size_t len, unsigned flags,
                             const char *keywords, const char *added, int64_t received)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct message *m = message_parse(a, text, len, NULL);
	struct message_summary sum;
	message_summarize(a, m, true, 4096, &sum);
	struct store_delivery d = {
		.flags = flags, .keywords = keywords, .received = received,
		.structure = sum.structure, .structure_len = sum.structure_len,
		.message_id = sum.message_id, .subject = sum.subject, .from = sum.from,
		.date = sum.date, .added_headers = added, .fts_body = sum.body,
	};
	struct store_delivered res;
	struct error e;
	if (store_deliver(f->acct, &d, text, len, &res, &e) != 0)
		fail_msg("deliver: %s", e.msg);
	arena_free(&a);
	return res.uid;
}

static uint32_t deliver(struct fixture *f, const char *text)
{
	return deliver_full(f, text, strlen(text), 0, NULL, NULL, 1700000000);
}

/* Runs one command line through imapsrv_cmd_fetch (or imapsrv_cmd_search
 * for SEARCH); returns everything the
 * client end received, then the tagged line (malloc'd). */
static char *run_len(struct fixture *f, const char *line, size_t *len_r)
{
	struct imap_command cmd;
	struct imapsrv_result res;
	struct error e;
	memset(&res, 0, sizeof(res));
	arena_reset(f->s.cmd_arena);
	if (imap_command_parse(line, strlen(line), f->s.out.imap_flags, 0, 0, f->s.cmd_arena, &cmd,
	                       &e) != 0)
		fail_msg("parse %s: %s", line, e.msg);
	pthread_mutex_lock(&f->mu);
	buf_reset(&f->got);
	f->answers = 0;
	pthread_mutex_unlock(&f->mu);
	if (cmd.cmd == IMAP_CMD_SEARCH)
		assert_int_equal(imapsrv_cmd_search(&f->s, &cmd, &res), 0);
	else
		assert_int_equal(imapsrv_cmd_fetch(&f->s, &cmd, &res), 0);
	assert_int_equal(conn_write(f->s.out.c, SENTINEL, strlen(SENTINEL), &e), 0);
	assert_int_equal(conn_flush(f->s.out.c, &e), 0);
	pthread_mutex_lock(&f->mu);
	while (f->got.len < 7 || memcmp(f->got.data + f->got.len - 7, SENTINEL, 7) != 0)
		pthread_cond_wait(&f->cv, &f->mu);
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	buf_append(&out, f->got.data, f->got.len - 7);
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(imap_write_status(&out, cmd.tag, res.status, res.code, res.text), 0);
	*len_r = out.len;
	return buf_steal(&out);
}

static char *run(struct fixture *f, const char *line)
{
	size_t n;
	return run_len(f, line, &n);
}

#define ASSERT_RUN(f, line, expect) \
	do { \
		char *got_ = run(f, line); \
		assert_string_equal(got_, expect); \
		free(got_); \
	} while (0)

static unsigned flags_of(struct fixture *f, uint32_t uid)
{
	struct store_msgdetail d;
	struct error e;
	assert_int_equal(store_msg_get(f->acct, f->mbox, uid, f->a, &d, &e), 0);
	return d.info.flags;
}

static uint64_t modseq_of(struct fixture *f, uint32_t uid)
{
	struct store_msgdetail d;
	struct error e;
	assert_int_equal(store_msg_get(f->acct, f->mbox, uid, f->a, &d, &e), 0);
	return d.info.modseq;
}

/* The message of RFC 3501 §8's sample FETCH FULL answer. */
static const char msg_rfc[] =
	"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
	"From: Terry Gray <gray@cac.washington.edu>\r\n"
	"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
	"To: imap@cac.washington.edu\r\n"
	"cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
	"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	"\r\n"
	"Minutes.\r\n";

static const char msg_multi[] =
	"From: a@example.com\r\n"
	"Subject: multi\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"caf=C3=A9 au lait\r\n"
	"--b1\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAECAwBoaQ==\r\n"
	"--b1\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"From: inner@example.org\r\n"
	"Subject: inner\r\n"
	"\r\n"
	"inner body\r\n"
	"--b1\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Transfer-Encoding: x-uuencode\r\n"
	"\r\n"
	"begin 644 x\r\n"
	"--b1--\r\n";

/* ---- simple items ---- */

static void test_simple_items(void **state)
{
	struct fixture *f = *state;
	deliver_full(f, msg_rfc, strlen(msg_rfc), STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, "$Work",
	             NULL, 1700000000);
	deliver_full(f, msg_rfc, strlen(msg_rfc), 0, NULL, NULL, 1699000000);
	view_refresh(f);
	char expect[512];
	snprintf(expect, sizeof(expect),
	         "* 1 FETCH (FLAGS (\\Seen \\Flagged $Work) INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" "
	         "RFC822.SIZE %zu UID 1)\r\n"
	         "* 2 FETCH (FLAGS () INTERNALDATE \" 3-Nov-2023 08:26:40 +0000\" RFC822.SIZE %zu "
	         "UID 2)\r\n"
	         "a OK FETCH completed\r\n", strlen(msg_rfc), strlen(msg_rfc));
	ASSERT_RUN(f, "a FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE UID)", expect);
	/* rev1 \Recent (RFC 3501 §2.3.2) */
	f->sel.recent = &(struct store_uidrange){2, UINT32_MAX};
	f->sel.n_recent = 1;
	ASSERT_RUN(f, "a FETCH 2 FLAGS", "* 2 FETCH (FLAGS (\\Recent))\r\na OK FETCH completed\r\n");
	f->s.out.rev2 = true;
	ASSERT_RUN(f, "a FETCH 2 FLAGS", "* 2 FETCH (FLAGS ())\r\na OK FETCH completed\r\n");
}

/* RFC 3501 §8: the ENVELOPE and BODY of the sample message. */
static void test_envelope_rfc_example(void **state)
{
	struct fixture *f = *state;
	deliver(f, msg_rfc);
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (ENVELOPE BODY)",
	           "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	           "\"IMAP4rev1 WG mtg summary and minutes\" "
	           "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	           "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	           "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	           "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	           "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	           "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
	           "\"<B27397-0100000@cac.washington.edu>\") "
	           "BODY (\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 10 1))\r\n"
	           "a OK FETCH completed\r\n");
}

/* RFC 9051 §7.5.2: groups, and a bare word where an address belongs. */
static void test_envelope_groups(void **state)
{
	struct fixture *f = *state;
	deliver(f, "From: Whomever\r\nTo: undisclosed-recipients:;\r\n"
	           "Cc: Team: a@example.com, \"B\" <b@example.com>;\r\n\r\nx\r\n");
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (ENVELOPE)",
	           "* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL \"Whomever\" \"MISSING_DOMAIN\")) "
	           "((NIL NIL \"Whomever\" \"MISSING_DOMAIN\")) "
	           "((NIL NIL \"Whomever\" \"MISSING_DOMAIN\")) "
	           "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	           "((NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"example.com\")"
	           "(\"B\" NIL \"b\" \"example.com\")(NIL NIL NIL NIL)) NIL NIL NIL))\r\n"
	           "a OK FETCH completed\r\n");
}

/* RFC 9051 §6.4.5: the macros. */
static void test_macros(void **state)
{
	struct fixture *f = *state;
	deliver(f, "Subject: x\r\n\r\nbody\r\n");
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 FAST",
	           "* 1 FETCH (FLAGS () INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 20)\r\n"
	           "a OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 1 FULL",
	           "* 1 FETCH (FLAGS () INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 20 "
	           "ENVELOPE (NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	           "BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1))\r\n"
	           "a OK FETCH completed\r\n");
}

/* ---- numbering ---- */

static void test_uid_vs_seq(void **state)
{
	struct fixture *f = *state;
	struct error e;
	for (int i = 0; i < 4; i++)
		deliver(f, "Subject: n\r\n\r\nx\r\n");
	struct store_uidrange two = { 2, 2 };
	assert_int_equal(store_flags_update(f->acct, f->mbox, &two, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &e), 0);
	assert_int_equal(store_expunge(f->acct, f->mbox, &two, 1, NULL, &e), 0);
	view_refresh(f);   /* UIDs 1 3 4 */
	ASSERT_RUN(f, "a FETCH 2 (UID)", "* 2 FETCH (UID 3)\r\na OK FETCH completed\r\n");
	/* RFC 9051 §6.4.9: UID FETCH always includes UID */
	ASSERT_RUN(f, "a UID FETCH 3 (FLAGS)",
	           "* 2 FETCH (UID 3 FLAGS ())\r\na OK UID FETCH completed\r\n");
	ASSERT_RUN(f, "a UID FETCH 2 (FLAGS)", "a OK UID FETCH completed\r\n");
	ASSERT_RUN(f, "a UID FETCH 2:* (UID)",
	           "* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 4)\r\na OK UID FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 2:4 (UID)",
	           "a BAD message sequence number 4 out of range (1:3)\r\n");
	/* a message delivered after the view was made is not answered */
	deliver(f, "Subject: n\r\n\r\nx\r\n");
	ASSERT_RUN(f, "a UID FETCH 4:* (UID)",
	           "* 3 FETCH (UID 4)\r\na OK UID FETCH completed\r\n");
}

/* ---- sections ---- */

static void test_sections(void **state)
{
	struct fixture *f = *state;
	deliver(f, msg_multi);
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject FROM)])",
	           "* 1 FETCH (BODY[HEADER.FIELDS (Subject FROM)] {39}\r\n"
	           "From: a@example.com\r\nSubject: multi\r\n\r\n)\r\n"
	           "a OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Subject FROM MIME-Version "
	           "Content-Type)])",
	           "* 1 FETCH (BODY[HEADER.FIELDS.NOT (Subject FROM MIME-Version Content-Type)] "
	           "{2}\r\n\r\n)\r\na OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME])",
	           "* 1 FETCH (BODY[1] {17}\r\ncaf=C3=A9 au lait BODY[1.MIME] {88}\r\n"
	           "Content-Type: text/plain; charset=utf-8\r\n"
	           "Content-Transfer-Encoding: quoted-printable\r\n\r\n)\r\n"
	           "a OK FETCH completed\r\n");
	/* RFC 9051 §6.4.5: numbers inside message/rfc822 count its message's parts */
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1])",
	           "* 1 FETCH (BODY[3.HEADER] {43}\r\nFrom: inner@example.org\r\nSubject: inner\r\n"
	           "\r\n BODY[3.TEXT] {10}\r\ninner body BODY[3.1] {10}\r\ninner body)\r\n"
	           "a OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[5] BODY.PEEK[1.TEXT])",
	           "* 1 FETCH (BODY[5] NIL BODY[1.TEXT] NIL)\r\na OK FETCH completed\r\n");
	/* partials: origin octet in the answer, data clipped, past the end empty */
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[1]<5.3> BODY.PEEK[1]<15.100> "
	           "BODY.PEEK[1]<1000.5>)",
	           "* 1 FETCH (BODY[]<0> {10}\r\nFrom: a@ex BODY[1]<5> {3}\r\n3=A "
	           "BODY[1]<15> {2}\r\nit BODY[1]<1000> \"\")\r\na OK FETCH completed\r\n");
	size_t n;
	char *got = run_len(f, "a FETCH 1 (BODY.PEEK[])", &n);
	char head[64];
	snprintf(head, sizeof(head), "* 1 FETCH (BODY[] {%zu}\r\n", strlen(msg_multi));
	assert_true(n > strlen(head) + strlen(msg_multi));
	assert_memory_equal(got, head, strlen(head));
	assert_memory_equal(got + strlen(head), msg_multi, strlen(msg_multi));
	free(got);
	assert_int_equal(flags_of(f, 1) & STORE_FLAG_SEEN, 0);
}

/* body-fld-lines counts line endings, as Dovecot does: a part's last line
 * has none, its CRLF being the delimiter's (RFC 2046 §5.1.1). */
static void test_bodystructure(void **state)
{
	struct fixture *f = *state;
	deliver(f, msg_multi);
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (BODYSTRUCTURE)",
	           "* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	           "\"quoted-printable\" 17 0 NIL NIL NIL NIL)"
	           "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 12 NIL NIL NIL NIL)"
	           "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 53 "
	           "(NIL \"inner\" ((NIL NIL \"inner\" \"example.org\")) "
	           "((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) "
	           "NIL NIL NIL NIL NIL) "
	           "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL "
	           "NIL) 3 NIL NIL NIL NIL)"
	           "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"x-uuencode\" 11 0 NIL NIL "
	           "NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))\r\n"
	           "a OK FETCH completed\r\n");
}

/* The added headers come first: the header section holds them (store.h). */
static void test_added_headers(void **state)
{
	struct fixture *f = *state;
	static const char added[] = "Received: from x by y; Wed, 25 Nov 2026 00:00:00 +0000\r\n"
	                            "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n";
	deliver_full(f, msg_multi, strlen(msg_multi), 0, NULL, added, 1700000000);
	view_refresh(f);
	size_t total = strlen(added) + strlen(msg_multi);
	size_t n;
	char *got = run_len(f, "a FETCH 1 (RFC822.SIZE BODY.PEEK[])", &n);
	char head[96];
	snprintf(head, sizeof(head), "* 1 FETCH (RFC822.SIZE %zu BODY[] {%zu}\r\n", total, total);
	assert_memory_equal(got, head, strlen(head));
	assert_memory_equal(got + strlen(head), added, strlen(added));
	assert_memory_equal(got + strlen(head) + strlen(added), msg_multi, strlen(msg_multi));
	free(got);
	ASSERT_RUN(f, "a FETCH 1 (ENVELOPE)",
	           "* 1 FETCH (ENVELOPE (\"Thu, 1 Jan 2026 00:00:00 +0000\" \"multi\" "
	           "((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) "
	           "((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL))\r\n"
	           "a OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[1] BODY.PEEK[3.TEXT] BODY.PEEK[HEADER.FIELDS (DATE)])",
	           "* 1 FETCH (BODY[1] {17}\r\ncaf=C3=A9 au lait BODY[3.TEXT] {10}\r\ninner body "
	           "BODY[HEADER.FIELDS (DATE)] {40}\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\n)\r\n"
	           "a OK FETCH completed\r\n");
	/* the header section starts with the prefix and ends at the file's empty line */
	got = run_len(f, "a FETCH 1 (BODY.PEEK[HEADER])", &n);
	const char *hdr_end = strstr(msg_multi, "\r\n\r\n") + 4;
	size_t hlen = strlen(added) + (size_t)(hdr_end - msg_multi);
	snprintf(head, sizeof(head), "* 1 FETCH (BODY[HEADER] {%zu}\r\n", hlen);
	assert_memory_equal(got, head, strlen(head));
	assert_memory_equal(got + strlen(head), added, strlen(added));
	assert_memory_equal(got + strlen(head) + strlen(added), msg_multi, hlen - strlen(added));
	free(got);
}

/* A message stored without a layout (too large to parse at delivery) is
 * parsed from the file when its parts are wanted, and only its header is
 * read for ENVELOPE: the answers are those of a stored layout. */
static void test_without_layout(void **state)
{
	struct fixture *f = *state;
	static const char added[] = "Received: by tern\r\n";
	deliver_full(f, msg_multi, strlen(msg_multi), 0, NULL, added, 1700000000);
	struct store_delivery d = { .added_headers = added, .received = 1700000000 };
	struct store_delivered res;
	struct error e;
	assert_int_equal(store_deliver(f->acct, &d, msg_multi, strlen(msg_multi), &res, &e), 0);
	view_refresh(f);
	static const char *const items[] = {
		"ENVELOPE", "BODYSTRUCTURE", "BODY", "BODY.PEEK[]", "BODY.PEEK[HEADER]",
		"BODY.PEEK[TEXT]", "BODY.PEEK[HEADER.FIELDS (Subject)]", "BODY.PEEK[3.1]",
		"BODY.PEEK[2.MIME]", "BINARY.PEEK[2]", "PREVIEW", "RFC822.SIZE",
	};
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		char line[128];
		size_t n1, n2;
		snprintf(line, sizeof(line), "a FETCH 1 (%s)", items[i]);
		char *with = run_len(f, line, &n1);
		snprintf(line, sizeof(line), "a FETCH 2 (%s)", items[i]);
		char *without = run_len(f, line, &n2);
		assert_int_equal(n1, n2);
		assert_memory_equal(with + 4, without + 4, n1 - 4);  /* after "* 1 " */
		assert_memory_equal(with + n1 - 22, "a OK FETCH completed\r\n", 22);
		free(with);
		free(without);
	}
}

/* ---- \Seen (RFC 9051 §6.4.5) ---- */

static void test_seen(void **state)
{
	struct fixture *f = *state;
	deliver(f, "Subject: s\r\n\r\nhello\r\n");
	deliver(f, "Subject: s\r\n\r\nhello\r\n");
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[TEXT] BINARY.PEEK[1] BINARY.SIZE[1] RFC822.HEADER)",
	           "* 1 FETCH (BODY[TEXT] {7}\r\nhello\r\n BINARY[1] {7}\r\nhello\r\n "
	           "BINARY.SIZE[1] 7 RFC822.HEADER {14}\r\nSubject: s\r\n\r\n)\r\n"
	           "a OK FETCH completed\r\n");
	assert_int_equal(flags_of(f, 1) & STORE_FLAG_SEEN, 0);
	ASSERT_RUN(f, "a FETCH 1 (BODY[TEXT])",
	           "* 1 FETCH (BODY[TEXT] {7}\r\nhello\r\n FLAGS (\\Seen))\r\na OK FETCH completed\r\n");
	assert_int_not_equal(flags_of(f, 1) & STORE_FLAG_SEEN, 0);
	/* already seen: nothing changes, no FLAGS */
	ASSERT_RUN(f, "a FETCH 1 (BODY[TEXT])",
	           "* 1 FETCH (BODY[TEXT] {7}\r\nhello\r\n)\r\na OK FETCH completed\r\n");
	/* FLAGS asked for shows the new state once */
	ASSERT_RUN(f, "a FETCH 2 (FLAGS RFC822.TEXT)",
	           "* 2 FETCH (FLAGS (\\Seen) RFC822.TEXT {7}\r\nhello\r\n)\r\na OK FETCH completed\r\n");
	/* read-only (EXAMINE): never set */
	struct error e;
	struct store_uidrange all = { 1, 2 };
	assert_int_equal(store_flags_update(f->acct, f->mbox, &all, 1, STORE_FLAGS_REMOVE,
	                                    STORE_FLAG_SEEN, NULL, 0, NULL, NULL, &e), 0);
	f->sel.readonly = true;
	ASSERT_RUN(f, "a FETCH 1 (BINARY[1])",
	           "* 1 FETCH (BINARY[1] {7}\r\nhello\r\n)\r\na OK FETCH completed\r\n");
	assert_int_equal(flags_of(f, 1) & STORE_FLAG_SEEN, 0);
	f->sel.readonly = false;
	ASSERT_RUN(f, "a FETCH 1 (BINARY[1])",
	           "* 1 FETCH (BINARY[1] {7}\r\nhello\r\n FLAGS (\\Seen))\r\na OK FETCH completed\r\n");
	/* RFC 7162 §3.1: with CONDSTORE, an answer that set \Seen has UID and MODSEQ */
	f->s.out.condstore = true;
	char expect[256];
	snprintf(expect, sizeof(expect), "* 2 FETCH (BODY[TEXT] {7}\r\nhello\r\n MODSEQ (%llu))\r\n"
	         "a OK FETCH completed\r\n", (unsigned long long)modseq_of(f, 2));
	ASSERT_RUN(f, "a FETCH 2 (BODY.PEEK[TEXT])", expect);
	char *got = run(f, "a FETCH 2 (BODY[TEXT])");
	snprintf(expect, sizeof(expect), "* 2 FETCH (UID 2 BODY[TEXT] {7}\r\nhello\r\n FLAGS (\\Seen) "
	         "MODSEQ (%llu))\r\na OK FETCH completed\r\n", (unsigned long long)modseq_of(f, 2));
	assert_string_equal(got, expect);
	free(got);
}

/* ---- BINARY (RFC 3516) ---- */

static void test_binary(void **state)
{
	struct fixture *f = *state;
	deliver(f, msg_multi);
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[2])",
	           "* 1 FETCH (BINARY[1] {13}\r\ncaf\xc3\xa9 au lait BINARY.SIZE[1] 13 "
	           "BINARY.SIZE[2] 7)\r\na OK FETCH completed\r\n");
	size_t n;
	char *got = run_len(f, "a FETCH 1 (BINARY.PEEK[2])", &n);
	static const char expect[] = "* 1 FETCH (BINARY[2] ~{7}\r\n\0\1\2\3\0hi)\r\n"
	                             "a OK FETCH completed\r\n";
	assert_int_equal(n, sizeof(expect) - 1);
	assert_memory_equal(got, expect, n);
	free(got);
	/* literal8 only when the window holds a NUL (RFC 3516 §4.3) */
	got = run_len(f, "a FETCH 1 (BINARY.PEEK[2]<5.100> BINARY.PEEK[2]<3.2>)", &n);
	static const char expect2[] = "* 1 FETCH (BINARY[2]<5> {2}\r\nhi BINARY[2]<3> ~{2}\r\n\3\0)\r\n"
	                              "a OK FETCH completed\r\n";
	assert_int_equal(n, sizeof(expect2) - 1);
	assert_memory_equal(got, expect2, n);
	free(got);
	/* RFC 3516 §4.2: an encoding tern cannot decode */
	ASSERT_RUN(f, "a FETCH 1 (BINARY.PEEK[4])",
	           "a NO [UNKNOWN-CTE] part 4 has a content-transfer-encoding tern cannot decode\r\n");
	ASSERT_RUN(f, "a FETCH 1 (BINARY.PEEK[9])",
	           "* 1 FETCH (BINARY[9] NIL)\r\na OK FETCH completed\r\n");
	/* a message/rfc822 part is sent as it is */
	ASSERT_RUN(f, "a FETCH 1 (BINARY.SIZE[3])",
	           "* 1 FETCH (BINARY.SIZE[3] 53)\r\na OK FETCH completed\r\n");
}

/* A base64 part larger than one decoding chunk comes out whole. */
static void test_binary_large(void **state)
{
	struct fixture *f = *state;
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	buf_append_str(&m, "Content-Type: application/octet-stream\r\n"
	                   "Content-Transfer-Encoding: base64\r\n\r\n");
	for (int i = 0; i < 5000; i++) {
		buf_append_str(&m, b64);
		buf_append_str(&m, "\r\n");
	}
	deliver_full(f, m.data, m.len, 0, NULL, NULL, 1700000000);
	view_refresh(f);
	size_t n;
	char *got = run_len(f, "a FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1]<239990.20>)", &n);
	/* 64 characters decode to 48 bytes: 00 10 83 ... the same 48 bytes repeated */
	struct buf dec;
	buf_init(&dec, BUF_UNBOUNDED);
	assert_int_equal(message_decode(MESSAGE_ENC_BASE64, b64, 64, &dec), 0);
	assert_int_equal(dec.len, 48);
	char expect[256];
	int k = snprintf(expect, sizeof(expect), "* 1 FETCH (BINARY.SIZE[1] 240000 BINARY[1]<239990> "
	                 "{10}\r\n");
	assert_memory_equal(got, expect, (size_t)k);
	assert_memory_equal(got + k, dec.data + 239990 % 48, 10);
	free(got);
	buf_free(&dec);
	buf_free(&m);
}

/* ---- CONDSTORE / QRESYNC (RFC 7162) ---- */

static void test_changedsince(void **state)
{
	struct fixture *f = *state;
	struct error e;
	for (int i = 0; i < 3; i++)
		deliver(f, "Subject: c\r\n\r\nx\r\n");
	uint64_t m3 = modseq_of(f, 3);
	struct store_uidrange two = { 2, 2 };
	assert_int_equal(store_flags_update(f->acct, f->mbox, &two, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_FLAGGED, NULL, 0, NULL, NULL, &e), 0);
	view_refresh(f);
	uint64_t m2 = modseq_of(f, 2);
	assert_true(m2 > m3);
	char line[128], expect[512];
	/* RFC 7162 §3.1.4.1: only messages changed since; MODSEQ implied; the
	 * first CONDSTORE enabling command gets HIGHESTMODSEQ (§3.1.2.1) */
	snprintf(line, sizeof(line), "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE %llu)",
	         (unsigned long long)m3);
	snprintf(expect, sizeof(expect), "* OK [HIGHESTMODSEQ %llu] Highest\r\n"
	         "* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (%llu))\r\n"
	         "s100 OK UID FETCH completed\r\n", (unsigned long long)f->sel.highestmodseq,
	         (unsigned long long)m2);
	ASSERT_RUN(f, line, expect);
	assert_true(f->s.out.condstore);
	/* now every answer carries MODSEQ */
	snprintf(expect, sizeof(expect), "* 1 FETCH (UID 1 MODSEQ (%llu))\r\na OK FETCH completed\r\n",
	         (unsigned long long)modseq_of(f, 1));
	ASSERT_RUN(f, "a FETCH 1 (UID)", expect);
	snprintf(expect, sizeof(expect), "* 3 FETCH (MODSEQ (%llu))\r\na OK FETCH completed\r\n",
	         (unsigned long long)m3);
	ASSERT_RUN(f, "a FETCH 3 (MODSEQ)", expect);
}

static void test_vanished(void **state)
{
	struct fixture *f = *state;
	struct error e;
	for (int i = 0; i < 4; i++)
		deliver(f, "Subject: v\r\n\r\nx\r\n");
	uint64_t before = modseq_of(f, 4);
	struct store_uidrange r = { 2, 3 };
	assert_int_equal(store_flags_update(f->acct, f->mbox, &r, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &e), 0);
	assert_int_equal(store_expunge(f->acct, f->mbox, &r, 1, NULL, &e), 0);
	view_refresh(f);
	char line[128];
	snprintf(line, sizeof(line), "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE %llu VANISHED)",
	         (unsigned long long)before);
	/* RFC 7162 §3.2.6: needs QRESYNC */
	ASSERT_RUN(f, line, "a BAD VANISHED needs ENABLE QRESYNC (RFC 7162 §3.2.6)\r\n");
	f->s.out.qresync = true;
	f->s.out.condstore = true;
	ASSERT_RUN(f, line, "* VANISHED (EARLIER) 2:3\r\na OK UID FETCH completed\r\n");
	/* only UIDs within the requested set */
	snprintf(line, sizeof(line), "a UID FETCH 3:4 (FLAGS) (CHANGEDSINCE %llu VANISHED)",
	         (unsigned long long)before);
	ASSERT_RUN(f, line, "* VANISHED (EARLIER) 3\r\na OK UID FETCH completed\r\n");
}

/* RFC 9051 §7.1, RFC 5530: a message expunged by another session. */
static void test_expunge_issued(void **state)
{
	struct fixture *f = *state;
	struct error e;
	deliver(f, "Subject: a\r\n\r\nx\r\n");
	deliver(f, "Subject: b\r\n\r\nx\r\n");
	view_refresh(f);
	struct store_uidrange one = { 1, 1 };
	assert_int_equal(store_flags_update(f->acct, f->mbox, &one, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &e), 0);
	assert_int_equal(store_expunge(f->acct, f->mbox, &one, 1, NULL, &e), 0);
	ASSERT_RUN(f, "a FETCH 1:2 (UID)",
	           "* 2 FETCH (UID 2)\r\n"
	           "a NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n");
}

/* A message file shorter than the store recorded is an error, never a fault. */
static void test_truncated_file(void **state)
{
	struct fixture *f = *state;
	deliver(f, "Subject: t\r\n\r\nhello\r\n");
	view_refresh(f);
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/accounts/alice/msg/0", f->dir);
	DIR *dh = opendir(dir);
	assert_non_null(dh);
	struct dirent *de;
	int cut = 0;
	while ((de = readdir(dh)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(truncate(path, 3), 0);
		cut++;
	}
	closedir(dh);
	assert_int_equal(cut, 1);
	ASSERT_RUN(f, "a FETCH 1 (FLAGS)", "* 1 FETCH (FLAGS ())\r\na OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 1 (BODY.PEEK[])",
	           "a NO [SERVERBUG] FETCH failed: message file has 3 bytes, 21 recorded\r\n");
}

/* ---- strings: rev1 literals, UTF-8 quoted (RFC 9051 §4.3, RFC 6855) ---- */

static void test_utf8_strings(void **state)
{
	struct fixture *f = *state;
	deliver(f, "Subject: caf\xc3\xa9\r\nFrom: J\xc3\xb6rg <j@example.com>\r\n\r\nx\r\n");
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (ENVELOPE)",
	           "* 1 FETCH (ENVELOPE (NIL {5}\r\ncaf\xc3\xa9 (({5}\r\nJ\xc3\xb6rg NIL \"j\" "
	           "\"example.com\")) (({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.com\")) "
	           "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.com\")) NIL NIL NIL NIL NIL))\r\n"
	           "a OK FETCH completed\r\n");
	f->s.out.imap_flags |= IMAP_UTF8;
	f->s.out.rev2 = true;
	ASSERT_RUN(f, "a FETCH 1 (ENVELOPE)",
	           "* 1 FETCH (ENVELOPE (NIL \"caf\xc3\xa9\" ((\"J\xc3\xb6rg\" NIL \"j\" "
	           "\"example.com\")) ((\"J\xc3\xb6rg\" NIL \"j\" \"example.com\")) "
	           "((\"J\xc3\xb6rg\" NIL \"j\" \"example.com\")) NIL NIL NIL NIL NIL))\r\n"
	           "a OK FETCH completed\r\n");
}

/* ---- refusals ---- */

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	deliver(f, "Subject: r\r\n\r\nx\r\n");
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (EMAILID)", "a BAD EMAILID is not supported\r\n");
	ASSERT_RUN(f, "a FETCH 1 (UID THREADID)", "a BAD THREADID is not supported\r\n");
	ASSERT_RUN(f, "a FETCH 2 (UID)", "a BAD message sequence number 2 out of range (1:1)\r\n");
	f->s.out.rev2 = true;
	ASSERT_RUN(f, "a FETCH 1 (RFC822.HEADER)",
	           "a BAD RFC822 items are not part of IMAP4rev2: use BODY[], BODY.PEEK[HEADER] or "
	           "BODY[TEXT]\r\n");
}

/* ---- PREVIEW (RFC 8970) and SAVEDATE (RFC 8514) ---- */

static void test_preview(void **state)
{
	struct fixture *f = *state;
	deliver(f, "Content-Type: text/html; charset=iso-8859-1\r\n\r\n"
	           "<html><head><title>T</title><style>p{}</style></head><body><p>Hello&nbsp;"
	           "<b>world</b> &amp; caf\xe9 &Ouml;l&#x2014;&#233;t&eacute;&bogus;</p>\r\n"
	           "<script>x()</script>bye<!-- c --></body>");
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
	                   "Content-Type: application/pdf\r\n\r\n%PDF\r\n--z\r\n"
	                   "Content-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 60; i++)
		buf_append_str(&m, "word \r\n\t");
	buf_append_str(&m, "\r\n--z--\r\n");
	deliver_full(f, m.data, m.len, 0, NULL, NULL, 1700000000);
	deliver(f, "Content-Type: image/png\r\n\r\nxx\r\n");
	view_refresh(f);
	ASSERT_RUN(f, "a FETCH 1 (PREVIEW)",
	           "* 1 FETCH (PREVIEW {42}\r\nHello world & caf\xc3\xa9 "
	           "\xc3\x96l\xe2\x80\x94\xc3\xa9t\xc3\xa9&bogus; bye)\r\na OK FETCH completed\r\n");
	struct buf expect;
	buf_init(&expect, BUF_UNBOUNDED);
	buf_append_str(&expect, "* 2 FETCH (PREVIEW \"");
	for (int i = 0; i < 40; i++)
		buf_append_str(&expect, i > 0 ? " word" : "word");
	buf_append_str(&expect, "\")\r\na OK FETCH completed\r\n");
	ASSERT_RUN(f, "a FETCH 2 (PREVIEW (LAZY))", expect.data);
	ASSERT_RUN(f, "a FETCH 3 (PREVIEW)", "* 3 FETCH (PREVIEW \"\")\r\na OK FETCH completed\r\n");
	char *got = run(f, "a FETCH 3 (SAVEDATE)");
	assert_non_null(strstr(got, "* 3 FETCH (SAVEDATE \""));
	assert_non_null(strstr(got, " +0000\")\r\na OK FETCH completed\r\n"));
	free(got);
	buf_free(&expect);
	buf_free(&m);
}

/* ---- the MIME corpus: layout + prefix give what a parse of the whole gives ---- */

static const char *const corpus_paths[] = { "", "1", "2", "3", "4", "1.1", "1.2", "2.1", "2.2",
	"3.1", "1.1.1", "2.1.1" };

static void expect_section(struct buf *exp, struct arena *a, const struct message *m,
                           const char *path, enum message_section_kind kind, const char *label)
{
	struct message_section sec;
	buf_appendf(exp, "%s ", label);
	if (message_section(a, m, path, strlen(path), kind, NULL, 0, &sec) != 0) {
		buf_append_str(exp, "NIL");
		return;
	}
	if (sec.size == 0) {
		buf_append_str(exp, "{0}\r\n");
		return;
	}
	buf_appendf(exp, "{%zu}\r\n", sec.size);
	for (size_t i = 0; i < sec.size; i++)
		buf_append_char(exp, sec.data[i] != '\0' ? sec.data[i] : (char)0x80);
}

static void corpus_check(struct fixture *f, const char *path, uint32_t seq)
{
	static const char added[] = "Received: from mx.example by tern; Wed, 25 Nov 2026 "
	                            "00:00:00 +0000\r\n";
	size_t len;
	char *file = test_read_file(path, &len);
	deliver_full(f, file, len, STORE_FLAG_SEEN, NULL, added, 1700000000);
	view_refresh(f);
	struct buf whole;
	buf_init(&whole, BUF_UNBOUNDED);
	buf_append(&whole, added, strlen(added));
	buf_append(&whole, file, len);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct message *m = message_parse(a, whole.data, whole.len, NULL);
	struct buf exp;
	buf_init(&exp, BUF_UNBOUNDED);
	buf_appendf(&exp, "* %u FETCH (BODYSTRUCTURE ", seq);
	assert_int_equal(message_imap_bodystructure(a, m->root, true, &exp), 0);
	buf_append_str(&exp, " BODY ");
	assert_int_equal(message_imap_bodystructure(a, m->root, false, &exp), 0);
	buf_append_str(&exp, ")\r\na OK FETCH completed\r\n");
	char line[160];
	snprintf(line, sizeof(line), "a FETCH %u (BODYSTRUCTURE BODY)", seq);
	char *got = run(f, line);
	if (strcmp(got, exp.data) != 0)
		fail_msg("%s: BODYSTRUCTURE\n got: %s\nwant: %s", path, got, exp.data);
	free(got);
	for (size_t i = 0; i < sizeof(corpus_paths) / sizeof(corpus_paths[0]); i++) {
		const char *p = corpus_paths[i];
		buf_reset(&exp);
		char label[64];
		buf_appendf(&exp, "* %u FETCH (", seq);
		snprintf(label, sizeof(label), "BODY[%s]", p);
		expect_section(&exp, a, m, p, MESSAGE_SECTION_BODY, label);
		buf_append_char(&exp, ' ');
		snprintf(label, sizeof(label), "BODY[%s%sHEADER]", p, *p != '\0' ? "." : "");
		expect_section(&exp, a, m, p, MESSAGE_SECTION_HEADER, label);
		buf_append_char(&exp, ' ');
		snprintf(label, sizeof(label), "BODY[%s%sTEXT]", p, *p != '\0' ? "." : "");
		expect_section(&exp, a, m, p, MESSAGE_SECTION_TEXT, label);
		if (*p != '\0') {
			buf_append_char(&exp, ' ');
			snprintf(label, sizeof(label), "BODY[%s.MIME]", p);
			expect_section(&exp, a, m, p, MESSAGE_SECTION_MIME, label);
		}
		buf_append_str(&exp, ")\r\na OK FETCH completed\r\n");
		snprintf(line, sizeof(line), "a FETCH %u (BODY.PEEK[%s] BODY.PEEK[%s%sHEADER] "
		         "BODY.PEEK[%s%sTEXT]%s%s%s)", seq, p, p, *p ? "." : "", p, *p ? "." : "",
		         *p ? " BODY.PEEK[" : "", p, *p ? ".MIME]" : "");
		size_t n;
		got = run_len(f, line, &n);
		/* an empty section is written "" */
		struct buf want;
		buf_init(&want, BUF_UNBOUNDED);
		for (size_t j = 0; j < exp.len; j++) {
			if (j + 5 <= exp.len && memcmp(exp.data + j, " {0}\r\n", 6) == 0) {
				buf_append_str(&want, " \"\"");
				j += 5;
				continue;
			}
			buf_append_char(&want, exp.data[j]);
		}
		if (n != want.len || memcmp(got, want.data, n) != 0)
			fail_msg("%s: %s\n got: %.*s\nwant: %s", path, line, (int)n, got, want.data);
		free(got);
		buf_free(&want);
	}
	buf_free(&exp);
	buf_free(&whole);
	arena_free(&a);
	free(file);
}

/* Calls fn(f, path, i) for the i-th .eml file (from 1) of the MIME corpus;
 * returns how many there are. */
static uint32_t each_corpus_file(struct fixture *f,
                                 void (*fn)(struct fixture *f, const char *path, uint32_t i))
{
	const char *dirs[] = { "rfc", "malformed", "legacy" };
	uint32_t n = 0;
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/mime-corpus/%s", test_external_dir(), dirs[d]);
		DIR *dh = opendir(dir);
		assert_non_null(dh);
		struct dirent *de;
		while ((de = readdir(dh)) != NULL) {
			size_t l = strlen(de->d_name);
			if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0)
				continue;
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			fn(f, path, ++n);
		}
		closedir(dh);
	}
	return n;
}

static void test_corpus(void **state)
{
	struct fixture *f = *state;
	assert_true(each_corpus_file(f, corpus_check) >= 50);
}

/* ---- the stored header texts agree with the files ---- */

/* Makes every message look as if stored before the store kept its header
 * texts: FETCH and SEARCH then read the files. */
static void forget_header_texts(struct fixture *f)
{
	char path[256];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM header_text", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
}

/* Fields a submission server adds (RFC 6409 §8), ahead of the file's own:
 * the prefix's Date, Message-ID and Subject come first in the header. */
static const char added_submission[] = "Received: by tern\r\nDate: Thu, 26 Nov 2026 "
	"01:02:03 +0000\r\nMessage-ID: <added@tern.example>\r\n";

/* Delivers the file at path once with a Received: prefix, once with a
 * submission's added fields. */
static void deliver_twice(struct fixture *f, const char *path, uint32_t i)
{
	(void)i;
	size_t len;
	char *file = test_read_file(path, &len);
	deliver_full(f, file, len, 0, NULL, "Received: by tern\r\n", 1700000000);
	deliver_full(f, file, len, 0, NULL, added_submission, 1700000000);
	free(file);
}

/* Delivers the corpus (each message twice: deliver_twice); returns the count. */
static uint32_t deliver_corpus(struct fixture *f)
{
	uint32_t n = 2 * each_corpus_file(f, deliver_twice);
	view_refresh(f);
	return n;
}

/* The answers to lines[] in both session forms (plain, then UTF8=ACCEPT). */
static char **answers(struct fixture *f, const char *const *lines, size_t n)
{
	char **out = calloc(2 * n, sizeof(*out));
	assert_non_null(out);
	for (int utf8 = 0; utf8 < 2; utf8++) {
		f->s.out.imap_flags = utf8 ? IMAP_UTF8 : 0;
		f->s.out.rev2 = utf8 != 0;
		for (size_t i = 0; i < n; i++)
			out[utf8 * n + i] = run(f, lines[i]);
	}
	f->s.out.imap_flags = 0;
	f->s.out.rev2 = false;
	return out;
}

static void answers_agree(char **stored, char **files, const char *const *lines, size_t n)
{
	for (size_t i = 0; i < 2 * n; i++) {
		if (strcmp(stored[i], files[i]) != 0)
			fail_msg("%s (%s): stored texts and files differ\nstored: %s\n files: %s",
			         lines[i % n], i < n ? "plain" : "UTF8", stored[i], files[i]);
		free(stored[i]);
		free(files[i]);
	}
	free(stored);
	free(files);
}

static void test_corpus_envelope_stored(void **state)
{
	struct fixture *f = *state;
	uint32_t n = deliver_corpus(f);
	assert_true(n >= 100);
	static const char *const lines[] = { "a FETCH 1:* (ENVELOPE)",
	                                      "a FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)" };
	char **stored = answers(f, lines, 2);
	forget_header_texts(f);
	char **files = answers(f, lines, 2);
	answers_agree(stored, files, lines, 2);
}

static void test_corpus_search_stored(void **state)
{
	struct fixture *f = *state;
	deliver_corpus(f);
	static const char *const keys[] = { "FROM", "TO", "CC", "BCC", "SUBJECT" };
	static const char *const needles[] = { "", "a", "e", "@", ".", "example", ".com", " <",
	                                       "<>", "\\\"", "=?", "?=", "re", "test", "nil",
	                                       "undisclosed", ":", ";", ",", "group", "mary", "joe",
	                                       "message", "mime", "utf", "iso" };
	size_t n = sizeof(keys) / sizeof(keys[0]) * (sizeof(needles) / sizeof(needles[0]));
	char **lines = calloc(n + 2, sizeof(*lines));
	assert_non_null(lines);
	size_t k = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		for (size_t j = 0; j < sizeof(needles) / sizeof(needles[0]); j++)
			lines[k++] = arena_printf(f->a, "a SEARCH %s \"%s\"", keys[i], needles[j]);
	/* 8-bit text: a UTF-8 needle, and one in an encoded word's charset */
	lines[k++] = "a SEARCH CHARSET UTF-8 SUBJECT {2+}\r\n\xc3\xa9";
	lines[k++] = "a SEARCH CHARSET UTF-8 FROM {2+}\r\n\xc3\xb6";
	(void)k;
	char **stored = answers(f, (const char *const *)lines, n + 2);
	forget_header_texts(f);
	char **files = answers(f, (const char *const *)lines, n + 2);
	answers_agree(stored, files, (const char *const *)lines, n + 2);
	free(lines);
}

/* ENVELOPE, FLAGS and the listing's items come from the database: they
 * are answered with the file gone, and SEARCH FROM/SUBJECT too; what reads
 * the file fails. */
static void test_without_file(void **state)
{
	struct fixture *f = *state;
	deliver_full(f, msg_rfc, strlen(msg_rfc), STORE_FLAG_SEEN, NULL, "Received: by tern\r\n",
	             1700000000);
	view_refresh(f);
	char *before = run(f, "a FETCH 1 (ENVELOPE)");
	char path[256];
	snprintf(path, sizeof(path), "rm -f %s/accounts/alice/msg/0/1", f->dir);
	assert_int_equal(system(path), 0);
	ASSERT_RUN(f, "a FETCH 1 (ENVELOPE)", before);
	free(before);
	char *got = run(f, "a FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE SAVEDATE ENVELOPE)");
	assert_non_null(strstr(got, "* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE "));
	assert_non_null(strstr(got, "ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "));
	assert_non_null(strstr(got, "a OK FETCH completed"));
	free(got);
	ASSERT_RUN(f, "a SEARCH FROM gray SUBJECT minutes", "* SEARCH 1\r\na OK SEARCH completed\r\n");
	got = run(f, "a FETCH 1 (BODY.PEEK[])");
	assert_null(strstr(got, "a OK"));
	free(got);
}

/* ---- a large mailbox in bounded memory ---- */

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void test_many(void **state)
{
	struct fixture *f = *state;
	/* TERN_FETCH_TEST_MESSAGES runs it on a larger mailbox by hand */
	const char *env = getenv("TERN_FETCH_TEST_MESSAGES");
	const int N = env != NULL && atoi(env) > 0 ? atoi(env) : 10000;
	char text[4096], filler[3001];
	memset(filler, 'z', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	for (int i = 0; i < N; i++) {
		int k = snprintf(text, sizeof(text), "From: x%d@example.com\r\nSubject: message %d\r\n"
		                 "Date: Wed, 25 Nov 2026 00:00:00 +0000\r\n\r\nbody %d %s\r\n", i, i, i,
		                 filler);
		deliver_full(f, text, (size_t)k, 0, NULL, "Received: by tern\r\n", 1700000000);
	}
	view_refresh(f);
	pthread_mutex_lock(&f->mu);
	f->count_only = true;
	pthread_mutex_unlock(&f->mu);
	long before = maxrss_kb();
	size_t n;
	char *got = run_len(f, "a FETCH 1:* (FLAGS ENVELOPE BODY.PEEK[])", &n);
	long after = maxrss_kb();
	f->count_only = false;
	assert_string_equal(got, "a OK FETCH completed\r\n");
	free(got);
	assert_int_equal(f->answers, (size_t)N);
#ifndef __SANITIZE_ADDRESS__
	/* the answers (over 30 MB) never sit in memory at once; ASan's
	 * quarantine keeps freed memory, so the bound is checked without it */
	assert_true(after - before < 8 * 1024);
#else
	(void)before;
	(void)after;
#endif
}

int main(void)
{
	store_set_durable(false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simple_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_rfc_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_macros, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_vs_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bodystructure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_added_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changedsince, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_issued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preview, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus_envelope_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus_search_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
