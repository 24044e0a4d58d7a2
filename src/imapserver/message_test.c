/*
 * message_test.c: STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE RFC 7162 §3.1.3),
 * COPY (COPYUID RFC 4315), MOVE (RFC 6851), EXPUNGE and UID EXPUNGE
 * (message.c), byte for byte over a socketpair, with the RFCs' examples.
 */
#include "imapserver/cmdtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static const char *msg = "Subject: test\r\n\r\nbody\r\n";

/* n messages in INBOX, then selected. */
static void fill(struct cmdtest *t, size_t n, unsigned flags)
{
	for (size_t i = 0; i < n; i++)
		cmdtest_put(t, "Inbox", msg, flags, NULL);
	cmdtest_select(t, "Inbox", false);
}

static uint64_t modseq_of(struct cmdtest *t, uint32_t uid)
{
	struct store_msgdetail d;
	struct error e;
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	if (store_msg_get(t->s.acct, t->s.sel->mailbox_id, uid, a, &d, &e) != 0)
		abort();
	arena_free(&a);
	return d.info.modseq;
}

static unsigned flags_of(struct cmdtest *t, uint32_t uid, char *kw, size_t kwsize)
{
	struct store_msgdetail d;
	struct error e;
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	if (store_msg_get(t->s.acct, t->s.sel->mailbox_id, uid, a, &d, &e) != 0)
		abort();
	if (kw != NULL)
		snprintf(kw, kwsize, "%s", d.info.keywords);
	arena_free(&a);
	return d.info.flags;
}

static void test_store_flags(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 3, 0);
	assert_string_equal(cmdtest_run(t, "A1 STORE 1:2 +FLAGS (\\Seen \\Flagged)"),
		"* 1 FETCH (FLAGS (\\Seen \\Flagged))\r\n"
		"* 2 FETCH (FLAGS (\\Seen \\Flagged))\r\n"
		"A1 OK STORE completed\r\n");
	/* Nothing changes, nothing is reported. */
	assert_string_equal(cmdtest_run(t, "A2 STORE 1 +FLAGS \\Seen"), "A2 OK STORE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A3 STORE 2 -FLAGS.SILENT (\\Flagged)"),
		"A3 OK STORE completed\r\n");
	assert_int_equal(flags_of(t, 2, NULL, 0), STORE_FLAG_SEEN);
	/* RFC 9051 §6.4.6 example, as UID STORE: FLAGS replaces. */
	assert_string_equal(cmdtest_run(t, "A003 UID STORE 2:3 FLAGS (\\Deleted kw1)"),
		"* 2 FETCH (FLAGS (\\Deleted kw1) UID 2)\r\n"
		"* 3 FETCH (FLAGS (\\Deleted kw1) UID 3)\r\n"
		"A003 OK UID STORE completed\r\n");
	/* \Recent for rev1 sessions. */
	imapsrv_recent_add(t->s.sel, 3, UINT32_MAX);
	assert_string_equal(cmdtest_run(t, "A4 STORE 3 +FLAGS (\\Answered)"),
		"* 3 FETCH (FLAGS (\\Answered \\Deleted \\Recent kw1))\r\n"
		"A4 OK STORE completed\r\n");
}

static void test_store_refused(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 2, 0);
	assert_string_equal(cmdtest_run(t, "A1 STORE 1 +FLAGS (\\Recent)"),
		"A1 BAD \\Recent cannot be stored\r\n");
	assert_string_equal(cmdtest_run(t, "A2 STORE 1 +FLAGS (\\Important)"),
		"A2 BAD unknown system flag \\Important\r\n");
	assert_string_equal(cmdtest_run(t, "A3 STORE 3 +FLAGS (\\Seen)"),
		"A3 BAD message sequence number 3 out of range (1:2)\r\n");
	assert_string_equal(cmdtest_run(t, "A4 STORE 1 FLAGS ($Junk $NotJunk)"),
		"A4 BAD $Junk and $NotJunk exclude each other\r\n");
	char line[256];
	snprintf(line, sizeof(line), "A6 STORE 1 +FLAGS (k%0*d)", STORE_KEYWORD_MAX, 0);
	assert_string_equal(cmdtest_run(t, line), "A6 BAD keyword longer than 100 bytes\r\n");
	t->s.sel->readonly = true;
	assert_string_equal(cmdtest_run(t, "A5 STORE 1 +FLAGS (\\Seen)"),
		"A5 NO [READ-ONLY] The mailbox is read-only (EXAMINE)\r\n");
	assert_int_equal(flags_of(t, 1, NULL, 0), 0);
}

/* $Junk and $NotJunk: setting one removes the other. */
static void test_store_junk(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 2, 0);
	assert_string_equal(cmdtest_run(t, "A1 STORE 1:2 +FLAGS ($NotJunk)"),
		"* 1 FETCH (FLAGS ($NotJunk))\r\n* 2 FETCH (FLAGS ($NotJunk))\r\n"
		"A1 OK STORE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 STORE 2 +FLAGS.SILENT ($Junk)"),
		"A2 OK STORE completed\r\n");
	char kw[64];
	flags_of(t, 2, kw, sizeof(kw));
	assert_string_equal(kw, "$Junk");
	flags_of(t, 1, kw, sizeof(kw));
	assert_string_equal(kw, "$NotJunk");
}

/* RFC 7162 §3.1.3 example (d105): 7 and 9 changed since UNCHANGEDSINCE,
 * 5 did not; with .SILENT, 5 still gets its MODSEQ. */
static void test_store_unchangedsince(void **state)
{
	struct cmdtest *t = *state;
	for (int i = 0; i < 9; i++)
		cmdtest_put(t, "Inbox", msg, 0, NULL);
	cmdtest_select(t, "Inbox", false);
	uint64_t since = t->s.sel->highestmodseq;
	assert_string_equal(cmdtest_run(t, "A0 STORE 7,9 +FLAGS.SILENT (\\Seen)"),
		"A0 OK STORE completed\r\n");
	cmdtest_select(t, "Inbox", false);     /* the client knows of those changes */
	t->s.out.condstore = true;
	char line[128], want[256];
	snprintf(line, sizeof(line), "d105 STORE 7,5,9 (UNCHANGEDSINCE %llu) +FLAGS.SILENT (\\Deleted)",
	         (unsigned long long)since);
	const char *out = cmdtest_run(t, line);
	snprintf(want, sizeof(want), "* 5 FETCH (MODSEQ (%llu))\r\n"
	         "d105 OK [MODIFIED 7,9] Conditional STORE completed\r\n",
	         (unsigned long long)modseq_of(t, 5));
	assert_string_equal(out, want);
	assert_int_equal(flags_of(t, 7, NULL, 0), STORE_FLAG_SEEN);
	/* UID STORE: UIDs in MODIFIED, UID and MODSEQ in the FETCH. */
	snprintf(line, sizeof(line), "A2 UID STORE 1:2 (UNCHANGEDSINCE %llu) +FLAGS (\\Seen)",
	         (unsigned long long)since);
	out = cmdtest_run(t, line);
	snprintf(want, sizeof(want), "* 1 FETCH (FLAGS (\\Seen) UID 1 MODSEQ (%llu))\r\n"
	         "* 2 FETCH (FLAGS (\\Seen) UID 2 MODSEQ (%llu))\r\n"
	         "A2 OK UID STORE completed\r\n",
	         (unsigned long long)modseq_of(t, 1), (unsigned long long)modseq_of(t, 1));
	assert_string_equal(out, want);
	/* UNCHANGEDSINCE 0 fails for every message. */
	assert_string_equal(cmdtest_run(t, "A3 UID STORE 3,4 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)"),
		"A3 OK [MODIFIED 3:4] Conditional STORE completed\r\n");
}

/* UNCHANGEDSINCE turns CONDSTORE on, with the HIGHESTMODSEQ (RFC 7162 §3.1). */
static void test_store_enables_condstore(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 1, 0);
	char want[256];
	uint64_t hm = t->s.sel->highestmodseq;
	const char *out = cmdtest_run(t, "A1 STORE 1 (UNCHANGEDSINCE 1000000) +FLAGS.SILENT (\\Seen)");
	snprintf(want, sizeof(want), "* OK [HIGHESTMODSEQ %llu] Highest\r\n"
	         "* 1 FETCH (MODSEQ (%llu))\r\nA1 OK STORE completed\r\n",
	         (unsigned long long)hm, (unsigned long long)modseq_of(t, 1));
	assert_string_equal(out, want);
	assert_true(t->s.out.condstore);
}

/* Changes by others are reported with the STORE; new messages are not
 * touched by a UID set that covers them (the client has not seen them). */
static void test_store_view(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 2, 0);
	struct store_uidrange r = { 1, 1 };
	struct error e;
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &r, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_ANSWERED, NULL, 0, NULL, NULL, &e), 0);
	uint32_t fresh = cmdtest_put(t, "Inbox", msg, 0, NULL);
	assert_string_equal(cmdtest_run(t, "A1 UID STORE 2:* +FLAGS (\\Flagged)"),
		"* 1 FETCH (FLAGS (\\Answered) UID 1)\r\n"
		"* 2 FETCH (FLAGS (\\Flagged) UID 2)\r\n"
		"A1 OK UID STORE completed\r\n");
	assert_int_equal(flags_of(t, fresh, NULL, 0), 0);
	/* The view's highestmodseq now covers both: nothing is left to report. */
	assert_int_equal(t->s.sel->highestmodseq, cmdtest_status(t, "Inbox").highestmodseq);
}

/* RFC 4315 §3 COPYUID; RFC 9051 §6.4.7 TRYCREATE; RFC 9208 OVERQUOTA. */
static void test_copy(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 4, 0);
	uint32_t uv = cmdtest_status(t, "Archive").uidvalidity;
	char want[256];
	snprintf(want, sizeof(want), "A003 OK [COPYUID %u 1,3:4 1:3] COPY completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A003 COPY 1,3:4 Archive"), want);
	assert_int_equal(cmdtest_status(t, "Archive").messages, 3);
	snprintf(want, sizeof(want), "A4 OK [COPYUID %u 2 4] UID COPY completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A4 UID COPY 2,10:20 Archive"), want);
	assert_string_equal(cmdtest_run(t, "A5 UID COPY 10:20 Archive"),
		"A5 OK UID COPY completed: no messages\r\n");
	/* A message delivered since the view was made is not the client's to copy. */
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	snprintf(want, sizeof(want), "A5b OK [COPYUID %u 1:4 5:8] UID COPY completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A5b UID COPY 1:* Archive"), want);
	assert_int_equal(cmdtest_status(t, "Archive").messages, 8);
	assert_string_equal(cmdtest_run(t, "A6 COPY 1 Nowhere"),
		"A6 NO [TRYCREATE] Mailbox Nowhere does not exist\r\n");
	/* a name that is not modified UTF-7 cannot exist: no TRYCREATE */
	assert_string_equal(cmdtest_run(t, "A6 MOVE 1 &Jjo"),
		"A6 NO [NONEXISTENT] no such mailbox: the mailbox name is not valid modified "
		"UTF-7\r\n");
	store_set_quota(t->s.acct, 0, 14);
	const char *out = cmdtest_run(t, "A7 COPY 1:2 Archive");
	assert_non_null(strstr(out, "A7 NO [OVERQUOTA] quota exceeded"));
	assert_int_equal(cmdtest_status(t, "Archive").messages, 8);
}

/* RFC 6851 §4.4 example: COPYUID untagged, then the expunges. */
static void test_move(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 5, 0);
	uint32_t uv = cmdtest_status(t, "Trash").uidvalidity;
	char want[512];
	snprintf(want, sizeof(want), "* OK [COPYUID %u 2:4 1:3] Moved\r\n"
	         "* 2 EXPUNGE\r\n* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nA OK MOVE completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A MOVE 2:4 Trash"), want);
	assert_int_equal(t->s.sel->n, 2);
	assert_int_equal(t->s.sel->uids[1], 5);
	assert_int_equal(cmdtest_status(t, "Trash").messages, 3);
	/* QRESYNC: one VANISHED (RFC 7162 §3.2.10). */
	t->s.out.qresync = true;
	snprintf(want, sizeof(want), "* OK [COPYUID %u 1,5 4:5] Moved\r\n"
	         "* VANISHED 1,5\r\nA2 OK UID MOVE completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A2 UID MOVE 1:* Trash"), want);
	assert_int_equal(t->s.sel->n, 0);
	assert_string_equal(cmdtest_run(t, "A3 MOVE 1 Trash"),
		"A3 BAD no messages in the mailbox\r\n");
	cmdtest_select(t, "Trash", true);
	assert_string_equal(cmdtest_run(t, "A4 MOVE 1 Inbox"),
		"A4 NO [READ-ONLY] The mailbox is read-only (EXAMINE)\r\n");
}

/* MOVE into the selected mailbox: RFC 6851 does not forbid it; the messages
 * get new UIDs (as with Dovecot) and only the originals are expunged. */
static void test_move_within(void **state)
{
	struct cmdtest *t = *state;
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	cmdtest_put(t, "Inbox", msg, STORE_FLAG_DELETED, NULL);
	cmdtest_put(t, "Inbox", msg, STORE_FLAG_SEEN, NULL);
	cmdtest_put(t, "Inbox", msg, 0, "kw1");
	cmdtest_select(t, "Inbox", false);
	uint32_t uv = cmdtest_status(t, "Inbox").uidvalidity;
	char want[512];
	snprintf(want, sizeof(want), "* OK [COPYUID %u 3:4 5:6] Moved\r\n"
	         "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\nA OK MOVE completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A MOVE 3:4 INBOX"), want);
	assert_int_equal(t->s.sel->n, 2);
	/* the \Deleted message that was not moved stays */
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 4);
	assert_int_equal(flags_of(t, 2, NULL, 0), STORE_FLAG_DELETED);
	/* the copies keep the flags and keywords, without \Deleted */
	char kw[64];
	assert_int_equal(flags_of(t, 5, NULL, 0), STORE_FLAG_SEEN);
	assert_int_equal(flags_of(t, 6, kw, sizeof(kw)), 0);
	assert_string_equal(kw, "kw1");
	snprintf(want, sizeof(want), "* OK [COPYUID %u 1 7] Moved\r\n"
	         "* 1 EXPUNGE\r\nA2 OK UID MOVE completed\r\n", uv);
	assert_string_equal(cmdtest_run(t, "A2 UID MOVE 1 Inbox"), want);
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 4);
}

/* RFC 9051 §6.4.3 example: 3, 4, 7 and 11 of 11 have \Deleted. */
static void test_expunge(void **state)
{
	struct cmdtest *t = *state;
	for (int i = 1; i <= 11; i++)
		cmdtest_put(t, "Inbox", msg, i == 3 || i == 4 || i == 7 || i == 11 ? STORE_FLAG_DELETED : 0,
		            NULL);
	cmdtest_select(t, "Inbox", false);
	assert_string_equal(cmdtest_run(t, "A202 EXPUNGE"),
		"* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\n* 8 EXPUNGE\r\n"
		"A202 OK EXPUNGE completed\r\n");
	assert_int_equal(t->s.sel->n, 7);
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 7);
	/* A \Deleted message the client has not seen stays. */
	cmdtest_put(t, "Inbox", msg, STORE_FLAG_DELETED, NULL);
	assert_string_equal(cmdtest_run(t, "A203 EXPUNGE"), "A203 OK EXPUNGE completed\r\n");
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 8);
	t->s.sel->readonly = true;
	assert_string_equal(cmdtest_run(t, "A204 EXPUNGE"),
		"A204 NO [READ-ONLY] The mailbox is read-only (EXAMINE)\r\n");
}

/* RFC 4315 §2.1 example, with UIDs 3:5 for 3000:3002: only the named
 * \Deleted messages go. */
static void test_uid_expunge(void **state)
{
	struct cmdtest *t = *state;
	fill(t, 5, STORE_FLAG_DELETED);
	assert_string_equal(cmdtest_run(t, "A003 UID EXPUNGE 3:5"),
		"* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXPUNGE\r\nA003 OK UID EXPUNGE completed\r\n");
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 2);
	t->s.out.qresync = true;
	assert_string_equal(cmdtest_run(t, "A004 UID EXPUNGE 1:2"),
		"* VANISHED 1:2\r\nA004 OK UID EXPUNGE completed\r\n");
	assert_int_equal(t->s.sel->n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_flags, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_store_refused, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_store_junk, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_store_unchangedsince, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_store_enables_condstore, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_store_view, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_copy, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_move, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_move_within, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_expunge, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_uid_expunge, cmdtest_setup, cmdtest_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
