/*
 * append_test.c: APPEND (RFC 9051 §6.3.12) with flags and date-time,
 * MULTIAPPEND all or nothing (RFC 3502), APPENDUID (RFC 4315), TRYCREATE,
 * TOOBIG (RFC 7889), OVERQUOTA (RFC 9208), literal8 (RFC 3516 §4.4), UTF8
 * (RFC 6855 §4) and REPLACE (RFC 8508), over a socketpair.
 */
#include "imapserver/cmdtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static int setup(void **state)
{
	*state = cmdtest_new();
	return 0;
}

static int teardown(void **state)
{
	cmdtest_free(*state);
	return 0;
}

/* RFC 9051 §6.3.12's example message. */
static const char *rfc_msg =
	"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
	"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
	"Subject: afternoon meeting\r\n"
	"To: mooch@owatagu.siam.edu.example\r\n"
	"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	"\r\n"
	"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

static const char *small = "Subject: s\r\n\r\nx\r\n";

/* "TAG APPEND args {n}" CRLF message, and more messages. */
static const char *wire(struct cmdtest *t, const char *head, const char *const *msgs, size_t n,
                        size_t *len_r)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, head);
	for (size_t i = 0; i < n; i++)
		buf_appendf(&b, "%s{%zu}\r\n%s", i > 0 ? " " : "", strlen(msgs[i]), msgs[i]);
	const char *out = arena_strndup(t->s.cmd_arena, b.data, b.len);
	*len_r = b.len;
	buf_free(&b);
	return out;
}

static const char *append(struct cmdtest *t, const char *head, const char *const *msgs,
                          size_t n)
{
	size_t len;
	/* the command arena is reset by the run; keep the wire in a buffer */
	struct buf keep;
	buf_init(&keep, BUF_UNBOUNDED);
	const char *w = wire(t, head, msgs, n, &len);
	buf_append(&keep, w, len);
	const char *out = cmdtest_run_raw(t, keep.data, keep.len);
	buf_free(&keep);
	return out;
}

static void get(struct cmdtest *t, const char *mailbox, uint32_t uid, struct arena *a,
                struct store_msgdetail *d)
{
	struct error e;
	assert_int_equal(store_msg_get(t->s.acct, cmdtest_status(t, mailbox).id, uid, a, d, &e), 0);
}

static void test_append(void **state)
{
	struct cmdtest *t = *state;
	const char *out = cmdtest_run(t, "A CREATE saved-messages");
	assert_string_equal(out, "A OK CREATE completed\r\n");
	uint32_t uv = cmdtest_status(t, "saved-messages").uidvalidity;
	char want[256];
	snprintf(want, sizeof(want), "A003 OK [APPENDUID %u 1] APPEND completed\r\n", uv);
	const char *msgs[] = { rfc_msg };
	assert_string_equal(append(t, "A003 APPEND saved-messages (\\Seen $Work) "
	                              "\"07-Feb-1994 21:52:25 -0800\" ", msgs, 1), want);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct store_msgdetail d;
	get(t, "saved-messages", 1, a, &d);
	assert_int_equal(d.info.flags, STORE_FLAG_SEEN);
	assert_string_equal(d.info.keywords, "$Work");
	assert_int_equal(d.info.received, 760686745);   /* 1994-02-08 05:52:25 UTC */
	assert_string_equal(d.subject, "afternoon meeting");
	assert_string_equal(d.message_id, "B27397-0100000@Blurdybloop.example");
	assert_true(d.structure_len > 0);
	assert_int_equal(d.info.size, strlen(rfc_msg));
	arena_free(&a);
	/* RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist. */
	assert_string_equal(append(t, "A004 APPEND nowhere ", msgs, 1),
		"A004 NO [TRYCREATE] Mailbox nowhere does not exist\r\n");
	/* a name that is not modified UTF-7 cannot exist: no TRYCREATE */
	assert_string_equal(append(t, "A004 APPEND &Jjo ", msgs, 1),
		"A004 NO [NONEXISTENT] no such mailbox: the mailbox name is not valid modified "
		"UTF-7\r\n");
	assert_string_equal(append(t, "A005 APPEND INBOX (\\Recent) ", msgs, 1),
		"A005 BAD \\Recent cannot be stored\r\n");
}

/* RFC 3502: several messages, APPENDUID with a UID set; all or nothing. */
static void test_multiappend(void **state)
{
	struct cmdtest *t = *state;
	uint32_t uv = cmdtest_status(t, "Inbox").uidvalidity;
	char want[256];
	const char *msgs[] = { rfc_msg, small, small };
	snprintf(want, sizeof(want), "A1 OK [APPENDUID %u 1:3] APPEND completed\r\n", uv);
	assert_string_equal(append(t, "A1 APPEND INBOX ", msgs, 3), want);
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 3);
	/* The quota stops the third: the first two go again. */
	store_set_quota(t->s.acct, 0, 5);
	const char *out = append(t, "A2 APPEND INBOX ", msgs, 3);
	assert_non_null(strstr(out, "A2 NO [OVERQUOTA] quota exceeded"));
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 3);
	/* A bad flag on a later message: nothing is stored. */
	store_set_quota(t->s.acct, 0, 0);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "A3 APPEND INBOX {%zu}\r\n%s (\\Bogus) {%zu}\r\n%s", strlen(small), small,
	            strlen(small), small);
	assert_string_equal(cmdtest_run_raw(t, b.data, b.len), "A3 BAD unknown system flag \\Bogus\r\n");
	buf_free(&b);
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 3);
}

/* RFC 7889: TOOBIG above the APPENDLIMIT. */
static void test_toobig(void **state)
{
	struct cmdtest *t = *state;
	t->set.limits.append_max = 20;
	const char *msgs[] = { rfc_msg };
	assert_string_equal(append(t, "A1 APPEND INBOX ", msgs, 1),
		"A1 NO [TOOBIG] Message larger than the APPENDLIMIT of 20\r\n");
	assert_string_equal(cmdtest_run(t, "A2 STATUS INBOX (APPENDLIMIT)"),
		"* STATUS INBOX (APPENDLIMIT 20)\r\nA2 OK STATUS completed\r\n");
}

/* RFC 3516 §4.4: a literal8 message with binary parts is kept byte for byte. */
static void test_binary(void **state)
{
	struct cmdtest *t = *state;
	static const char body[] = "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
	                           "Content-Transfer-Encoding: binary\r\n\r\n\x01\x00\xff\xfe\r\n";
	size_t n = sizeof(body) - 1;
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "A1 APPEND INBOX ~{%zu}\r\n", n);
	buf_append(&b, body, n);
	uint32_t uv = cmdtest_status(t, "Inbox").uidvalidity;
	char want[128];
	snprintf(want, sizeof(want), "A1 OK [APPENDUID %u 1] APPEND completed\r\n", uv);
	assert_string_equal(cmdtest_run_raw(t, b.data, b.len), want);
	buf_free(&b);
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct store_msgfile f;
	struct error e;
	assert_int_equal(store_msg_open(t->s.acct, cmdtest_status(t, "Inbox").id, 1, a, &f, &e), 0);
	assert_int_equal(f.file_size, n);
	char got[256];
	assert_int_equal(read(f.fd, got, sizeof(got)), (ssize_t)n);
	assert_memory_equal(got, body, n);
	close(f.fd);
	arena_free(&a);
}

/* RFC 6855 §4: UTF8 (~{n}) only after ENABLE UTF8=ACCEPT. */
static void test_utf8(void **state)
{
	struct cmdtest *t = *state;
	static const char m[] = "Subject: gr\xc3\xbc\xc3\x9f\x65\r\n\r\nx\r\n";
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "A1 APPEND INBOX UTF8 (~{%zu}\r\n%s)", strlen(m), m);
	assert_string_equal(cmdtest_run_raw(t, b.data, b.len),
		"A1 BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT (RFC 6855 §4)\r\n");
	t->s.utf8_accept = true;
	t->s.out.imap_flags = IMAP_UTF8;
	const char *out = cmdtest_run_raw(t, b.data, b.len);
	buf_free(&b);
	assert_non_null(strstr(out, "A1 OK [APPENDUID "));
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct store_msgdetail d;
	get(t, "Inbox", 1, a, &d);
	assert_string_equal(d.subject, "gr\xc3\xbc\xc3\x9f\x65");
	arena_free(&a);
}

/* RFC 8508 §3: the new message is appended, then the old one expunged. */
static void test_replace(void **state)
{
	struct cmdtest *t = *state;
	cmdtest_put(t, "Drafts", small, STORE_FLAG_DRAFT, NULL);
	cmdtest_put(t, "Drafts", small, STORE_FLAG_DRAFT, NULL);
	cmdtest_select(t, "Drafts", false);
	uint32_t uv = cmdtest_status(t, "Drafts").uidvalidity;
	char want[256];
	const char *msgs[] = { rfc_msg };
	snprintf(want, sizeof(want), "* OK [APPENDUID %u 3] Replacement message appended\r\n"
	         "* 1 EXPUNGE\r\nA1 OK REPLACE completed\r\n", uv);
	assert_string_equal(append(t, "A1 REPLACE 1 Drafts (\\Draft) ", msgs, 1), want);
	assert_int_equal(t->s.sel->n, 1);
	assert_int_equal(t->s.sel->uids[0], 2);
	assert_int_equal(cmdtest_status(t, "Drafts").messages, 2);
	/* To another mailbox, by UID, with QRESYNC. */
	t->s.out.qresync = true;
	uint32_t arch = cmdtest_status(t, "Archive").uidvalidity;
	snprintf(want, sizeof(want), "* OK [APPENDUID %u 1] Replacement message appended\r\n"
	         "* VANISHED 2\r\nA2 OK UID REPLACE completed\r\n", arch);
	assert_string_equal(append(t, "A2 UID REPLACE 2 Archive ", msgs, 1), want);
	assert_string_equal(append(t, "A3 UID REPLACE 2 Archive ", msgs, 1),
		"A3 NO [NONEXISTENT] No message with UID 2\r\n");
	assert_string_equal(append(t, "A4 REPLACE 1 Archive ", msgs, 1),
		"A4 BAD message sequence number 1 out of range (1:0)\r\n");
	assert_string_equal(append(t, "A4 REPLACE * Archive ", msgs, 1),
		"A4 BAD \"*\" names no message: the mailbox is empty\r\n");
	assert_string_equal(append(t, "A4 UID REPLACE * Archive ", msgs, 1),
		"A4 NO [NONEXISTENT] \"*\" names no message: the mailbox is empty\r\n");
	cmdtest_put(t, "Drafts", small, 0, NULL);
	cmdtest_select(t, "Drafts", false);
	/* A failed append keeps the old message. */
	assert_string_equal(append(t, "A5 REPLACE 1 Nowhere ", msgs, 1),
		"A5 NO [TRYCREATE] Mailbox Nowhere does not exist\r\n");
	assert_int_equal(cmdtest_status(t, "Drafts").messages, 2);
	/* RFC 8508 §6: "*" is the last message, by number and by UID. */
	uv = cmdtest_status(t, "Drafts").uidvalidity;
	snprintf(want, sizeof(want), "* OK [APPENDUID %u 5] Replacement message appended\r\n"
	         "* VANISHED 4\r\nA7 OK REPLACE completed\r\n", uv);
	assert_string_equal(append(t, "A7 REPLACE * Drafts ", msgs, 1), want);
	snprintf(want, sizeof(want), "* OK [APPENDUID %u 6] Replacement message appended\r\n"
	         "* VANISHED 3\r\nA8 OK UID REPLACE completed\r\n", uv);
	assert_string_equal(append(t, "A8 UID REPLACE * Drafts ", msgs, 1), want);
	t->s.sel->readonly = true;
	assert_string_equal(append(t, "A6 REPLACE 1 Drafts ", msgs, 1),
		"A6 NO [READ-ONLY] The mailbox is read-only (EXAMINE)\r\n");
}

/* RFC 9051 §6.3.12: an APPEND to a mailbox that does not exist is refused
 * before "+" for its message; other first literals go on. */
static int check(struct cmdtest *t, const char *so_far, struct error *e)
{
	arena_reset(t->s.cmd_arena);
	return imapsrv_append_literal_check(&t->s, so_far, strlen(so_far), e);
}

static void test_literal_check(void **state)
{
	struct cmdtest *t = *state;
	struct error e;
	assert_int_equal(check(t, "A1 APPEND Nowhere {310}\r\n", &e), 1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	assert_string_equal(e.msg, "Mailbox Nowhere does not exist");
	assert_int_equal(check(t, "A2 append \"No \\\"where\" (\\Seen) {3}\r\n", &e), 1);
	assert_string_equal(e.msg, "Mailbox No \"where does not exist");
	assert_int_equal(check(t, "A3 UID REPLACE 4 Nowhere {3}\r\n", &e), 1);
	assert_int_equal(check(t, "A4 APPEND inbox {3}\r\n", &e), 0);
	assert_int_equal(check(t, "A5 APPEND Drafts (\\Draft) \"1-Jan-2024 00:00:00 +0000\" {3}\r\n",
	                       &e), 0);
	assert_int_equal(check(t, "A6 APPEND {7}\r\n", &e), 0);  /* the name is a literal */
	assert_int_equal(check(t, "A7 APPEND {7}\r\nNowhere {3}\r\n", &e), 0);
	assert_int_equal(check(t, "A8 APPEND Drafts {3}\r\nabc {3}\r\n", &e), 0);
	assert_int_equal(check(t, "A9 LOGIN {5}\r\n", &e), 0);
	assert_int_equal(check(t, "A10 APPEND &Jjo- {3}\r\n", &e), 1);  /* decoded: U+263A */
	assert_string_equal(e.msg, "Mailbox \xe2\x98\xba does not exist");
	assert_int_equal(check(t, "A11 APPEND &Jjo {3}\r\n", &e), 0);  /* not modified UTF-7 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiappend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_toobig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_check, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
