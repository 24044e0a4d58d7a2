/*
 * selected_test.c: the selected mailbox's view: sequence sets against it
 * (RFC 9051 §9, §6.4.9), compact UID sets, and imapsrv_sync's updates
 * (RFC 9051 §7.4.1, §7.5: EXISTS, RECENT for rev1, FETCH FLAGS, EXPUNGE or
 * VANISHED with QRESYNC, expunges held back where they are not allowed),
 * on a session built by hand over a socketpair (cmdtest.h).
 */
#include "imapserver/cmdtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sqlite3.h>

static const char msg[] = "From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n";

static struct imap_seqset parse_set(struct arena *a, const char *text)
{
	/* Parsed as the set of a COPY command. */
	char line[128];
	snprintf(line, sizeof(line), "t COPY %s x", text);
	struct imap_command cmd;
	struct error e;
	assert_int_equal(imap_command_parse(line, strlen(line), 0, 0, 0, a, &cmd, &e), 0);
	return cmd.set;
}

static void test_seqset_ranges(void **state)
{
	struct imapsrv_selected sel = {0};
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct error e;
	uint32_t uids[] = {3, 5, 9};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(imapsrv_view_append(&sel, uids[i]), 0);
	struct store_uidrange *r;
	size_t n;
	struct imap_seqset set = parse_set(a, "2:*");
	assert_int_equal(imapsrv_seqset_ranges(&sel, &set, false, a, &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].first, 5);
	assert_int_equal(r[0].last, 9);
	set = parse_set(a, "4");
	assert_int_equal(imapsrv_seqset_ranges(&sel, &set, false, a, &r, &n, &e), -1);
	assert_string_equal(e.msg, "message sequence number 4 out of range (1:3)");
	set = parse_set(a, "*:4,1");  /* UIDs: "*" is 9, ranges merge */
	assert_int_equal(imapsrv_seqset_ranges(&sel, &set, true, a, &r, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].first, 1);
	assert_int_equal(r[1].first, 4);
	assert_int_equal(r[1].last, 9);
	assert_int_equal(imapsrv_seq_of(&sel, 9), 3);
	assert_int_equal(imapsrv_seq_of(&sel, 4), 0);
	imapsrv_view_remove(&sel, 5);
	assert_int_equal(imapsrv_seq_of(&sel, 9), 2);
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	uint32_t list[] = {1, 2, 3, 7, 9, 10};
	imapsrv_write_uidset(&out, list, 6);
	assert_string_equal(out.data, "1:3,7,9:10");
	buf_free(&out);
	free(sel.uids);
	arena_free(&a);
}

/* Runs a SELECT/EXAMINE line through the session's handler; returns all output. */
static const char *run_select(struct cmdtest *t, const char *line)
{
	struct imap_command cmd;
	struct imapsrv_result r = {0};
	struct error e;
	arena_reset(t->s.cmd_arena);
	buf_reset(&t->out);
	assert_int_equal(imap_command_parse(line, strlen(line), t->s.out.imap_flags, 0, 0,
	                                    t->s.cmd_arena, &cmd, &e), 0);
	assert_int_equal(imapsrv_cmd_select(&t->s, &cmd, &r), 0);
	assert_int_equal(conn_flush(t->s.c, &e), 0);
	cmdtest_drain(t);
	imap_write_status(&t->out, cmd.tag, r.status, r.code, r.text);
	return t->out.data;
}

/* What imapsrv_sync sends. */
static const char *sync_out(struct cmdtest *t, bool allow_expunge, bool uid_cmd)
{
	struct error e;
	buf_reset(&t->out);
	arena_reset(t->s.cmd_arena);
	assert_int_equal(imapsrv_sync(&t->s, allow_expunge, uid_cmd), 0);
	assert_int_equal(conn_flush(t->s.c, &e), 0);
	cmdtest_drain(t);
	return t->out.data;
}

static struct cmdtest *selected(void)
{
	struct cmdtest *t = cmdtest_new();
	struct error e;
	assert_int_equal(store_sub_new(t->s.acct, &t->s.sub, &e), 0);
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	cmdtest_put(t, "Inbox", msg, STORE_FLAG_SEEN, NULL);
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	const char *out = run_select(t, "s SELECT INBOX");
	assert_non_null(strstr(out, "* 3 EXISTS\r\n"));
	assert_non_null(strstr(out, "s OK [READ-WRITE] SELECT completed\r\n"));
	t->s.state = IMAPSRV_SELECTED;
	return t;
}

static void done(struct cmdtest *t)
{
	store_sub_free(&t->s.sub);
	cmdtest_free(t);
}

static void test_sync_nothing(void **state)
{
	struct cmdtest *t = selected();
	assert_string_equal(sync_out(t, true, false), "");
	done(t);
}

/* RFC 9051 §7.4.1: during FETCH, STORE and SEARCH expunges wait; new
 * messages and flag changes do not. */
static void test_sync_updates_and_held_expunge(void **state)
{
	struct cmdtest *t = selected();
	struct error e;
	struct store_uidrange one = {1, 1}, two = {2, 2};
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &one, 1,
	                                    STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, "$Work", 0, NULL,
	                                    NULL, &e), 0);
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &two, 1,
	                                    STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, NULL, NULL,
	                                    &e), 0);
	assert_int_equal(store_expunge(t->s.acct, t->s.sel->mailbox_id, NULL, 0, NULL, &e), 0);
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	assert_string_equal(sync_out(t, false, false),
	                    "* 1 FETCH (FLAGS (\\Flagged \\Recent $Work))\r\n"
	                    "* 4 EXISTS\r\n"
	                    "* 4 RECENT\r\n");
	assert_string_equal(sync_out(t, false, false), "");
	assert_string_equal(sync_out(t, true, false), "* 2 EXPUNGE\r\n");
	assert_int_equal(t->s.sel->n, 3);
	assert_int_equal(t->s.sel->uids[1], 3);
	assert_string_equal(sync_out(t, true, false), "");
	done(t);
}

/* RFC 7162 §3.2.10: with QRESYNC, VANISHED and UIDs in FETCH; CONDSTORE
 * adds MODSEQ (§3.1.4); rev2 has no RECENT. */
static void test_sync_qresync(void **state)
{
	struct cmdtest *t = selected();
	struct error e;
	t->s.out.rev2 = true;
	t->s.out.condstore = true;
	t->s.out.qresync = true;
	struct store_uidrange r = {1, 2};
	uint64_t modseq;
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &r, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, &modseq, &e), 0);
	assert_int_equal(store_expunge(t->s.acct, t->s.sel->mailbox_id, &r, 1, NULL, &e), 0);
	cmdtest_put(t, "Inbox", msg, STORE_FLAG_SEEN, NULL);
	assert_string_equal(sync_out(t, true, true), "* VANISHED 1:2\r\n* 2 EXISTS\r\n");
	struct store_uidrange three = {3, 3};
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &three, 1,
	                                    STORE_FLAGS_ADD, STORE_FLAG_ANSWERED, NULL, 0, NULL,
	                                    &modseq, &e), 0);
	char want[128];
	snprintf(want, sizeof(want), "* 1 FETCH (UID 3 FLAGS (\\Answered) MODSEQ (%llu))\r\n",
	         (unsigned long long)modseq);
	assert_string_equal(sync_out(t, true, false), want);
	done(t);
}

/* RFC 7162 §3.2.5: SELECT with QRESYNC reports what changed since the
 * client's modseq. */
static void test_select_qresync(void **state)
{
	struct cmdtest *t = selected();
	struct error e;
	uint32_t uidvalidity = t->s.sel->uidvalidity;
	uint64_t since = t->s.sel->highestmodseq;
	struct store_uidrange two = {2, 2}, three = {3, 3};
	uint64_t modseq;
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &two, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &e), 0);
	assert_int_equal(store_expunge(t->s.acct, t->s.sel->mailbox_id, &two, 1, NULL, &e), 0);
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &three, 1,
	                                    STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, NULL, 0, NULL, &modseq,
	                                    &e), 0);
	t->s.out.qresync = true;
	char line[128];
	snprintf(line, sizeof(line), "q SELECT INBOX (QRESYNC (%u %llu 1:3))", uidvalidity,
	         (unsigned long long)since);
	const char *out = run_select(t, line);
	assert_non_null(strstr(out, "* OK [CLOSED] previous mailbox closed\r\n"));
	assert_non_null(strstr(out, "* 2 EXISTS\r\n"));
	char want[160];
	snprintf(want, sizeof(want), "* VANISHED (EARLIER) 2\r\n* 2 FETCH (UID 3 FLAGS (\\Flagged) "
	         "MODSEQ (%llu))\r\nq OK [READ-WRITE] SELECT completed\r\n", (unsigned long long)modseq);
	assert_non_null(strstr(out, want));
	done(t);
}

/* RFC 7162 §3.2.5.2: while the client's (sequence number, UID) pairs match,
 * it knows of the expunges up to that UID: VANISHED leaves them out. */
static void test_select_qresync_seq_match(void **state)
{
	struct cmdtest *t = selected();
	struct error e;
	uint32_t uidvalidity = t->s.sel->uidvalidity;
	uint64_t since = t->s.sel->highestmodseq;
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	struct store_uidrange gone[] = {{2, 2}, {4, 4}};
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, gone, 2,
	                                    STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, NULL, NULL,
	                                    &e), 0);
	assert_int_equal(store_expunge(t->s.acct, t->s.sel->mailbox_id, gone, 2, NULL, &e), 0);
	t->s.out.qresync = true;
	char line[160];
	/* the client saw 2 go: 1->1 2->3 3->4 4->5; now 3 is UID 5 */
	snprintf(line, sizeof(line), "q SELECT INBOX (QRESYNC (%u %llu 1:5 (1:3 1,3:4)))",
	         uidvalidity, (unsigned long long)since);
	const char *out = run_select(t, line);
	assert_non_null(strstr(out, "* VANISHED (EARLIER) 4\r\n"));
	/* the first pair does not match: every expunge is reported */
	snprintf(line, sizeof(line), "q SELECT INBOX (QRESYNC (%u %llu 1:5 (2 2)))", uidvalidity,
	         (unsigned long long)since);
	out = run_select(t, line);
	assert_non_null(strstr(out, "* VANISHED (EARLIER) 2,4\r\n"));
	/* all pairs match */
	snprintf(line, sizeof(line), "q SELECT INBOX (QRESYNC (%u %llu 1:5 (1:3 1,3,5)))",
	         uidvalidity, (unsigned long long)since);
	out = run_select(t, line);
	assert_null(strstr(out, "VANISHED"));
	assert_non_null(strstr(out, "q OK [READ-WRITE] SELECT completed\r\n"));
	done(t);
}

/* Runs one SQL statement on the account's database beside the store. */
static void sql(struct cmdtest *t, const char *stmt)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", t->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Expunges the store could not list are reported at the next sync, not
 * dropped (their numbers would be wrong ever after). */
static void test_sync_expunge_retried(void **state)
{
	struct cmdtest *t = selected();
	struct error e;
	struct store_uidrange two = {2, 2};
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, &two, 1,
	                                    STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, NULL, NULL,
	                                    &e), 0);
	assert_int_equal(store_expunge(t->s.acct, t->s.sel->mailbox_id, NULL, 0, NULL, &e), 0);
	sql(t, "ALTER TABLE expunged RENAME TO expunged_away");
	sync_out(t, true, false);
	assert_int_equal(t->s.sel->n, 3);
	assert_true(t->s.sel->expunge_pending);
	sql(t, "ALTER TABLE expunged_away RENAME TO expunged");
	assert_string_equal(sync_out(t, true, false), "* 2 EXPUNGE\r\n");
	assert_int_equal(t->s.sel->n, 2);
	done(t);
}

/* A batch of expunges leaves the view and the saved result in one pass;
 * each EXPUNGE numbers the message in the view the ones before it left. */
static void test_view_remove_many(void **state)
{
	struct imapsrv_selected sel = {0};
	for (uint32_t uid = 1; uid <= 10; uid++)
		assert_int_equal(imapsrv_view_append(&sel, uid * 10), 0);
	uint32_t saved[] = {20, 30, 90};
	sel.saved.v = saved;
	sel.saved.n = 3;
	uint32_t gone[] = {5, 20, 30, 31, 100, 200};
	imapsrv_view_remove_many(&sel, gone, 6);
	assert_int_equal(sel.n, 7);
	uint32_t want[] = {10, 40, 50, 60, 70, 80, 90};
	assert_memory_equal(sel.uids, want, sizeof(want));
	assert_int_equal(sel.saved.n, 1);
	assert_int_equal(sel.saved.v[0], 90);
	imapsrv_view_remove_many(&sel, gone, 0);
	assert_int_equal(sel.n, 7);
	free(sel.uids);

	struct cmdtest *t = selected();
	cmdtest_put(t, "Inbox", msg, 0, NULL);
	sync_out(t, false, false);
	struct store_uidrange r[] = {{1, 1}, {3, 4}};
	struct error e;
	assert_int_equal(store_flags_update(t->s.acct, t->s.sel->mailbox_id, r, 2,
	                                    STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, NULL, NULL,
	                                    &e), 0);
	assert_int_equal(store_expunge(t->s.acct, t->s.sel->mailbox_id, NULL, 0, NULL, &e), 0);
	/* 1 goes (2,3,4 become 1,2,3), then 3 is 2, then 4 is 2 */
	assert_string_equal(sync_out(t, true, false), "* 1 EXPUNGE\r\n* 2 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	assert_int_equal(t->s.sel->n, 1);
	assert_int_equal(t->s.sel->uids[0], 2);
	done(t);
}

/* A parked session's view as runs of consecutive UIDs, and back. */
static void test_view_pack(void **state)
{
	struct imapsrv_selected sel = {0};
	for (uint32_t uid = 1; uid <= 1000; uid++)
		assert_int_equal(imapsrv_view_append(&sel, uid), 0);
	assert_int_equal(imapsrv_view_append(&sel, 1005), 0);
	for (uint32_t uid = 2000; uid < 3000; uid++)
		assert_int_equal(imapsrv_view_append(&sel, uid), 0);
	uint32_t *copy = malloc(sel.n * sizeof(*copy));
	memcpy(copy, sel.uids, sel.n * sizeof(*copy));
	imapsrv_view_pack(&sel);
	assert_null(sel.uids);
	assert_int_equal(sel.n, 2001);
	assert_int_equal(sel.n_packed, 3);
	assert_int_equal(sel.packed[1].first, 1005);
	assert_int_equal(sel.packed[1].last, 1005);
	assert_int_equal(sel.packed[2].last, 2999);
	assert_int_equal(imapsrv_view_unpack(&sel), 0);
	assert_null(sel.packed);
	assert_memory_equal(sel.uids, copy, 2001 * sizeof(*copy));
	assert_int_equal(imapsrv_view_append(&sel, 4000), 0);  /* grows as before */
	assert_int_equal(imapsrv_seq_of(&sel, 4000), 2002);
	free(sel.uids);
	free(copy);

	/* every other UID: runs would take more than the array, kept as is */
	struct imapsrv_selected odd = {0};
	for (uint32_t uid = 1; uid < 200; uid += 2)
		assert_int_equal(imapsrv_view_append(&odd, uid), 0);
	imapsrv_view_pack(&odd);
	assert_non_null(odd.uids);
	assert_null(odd.packed);
	free(odd.uids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqset_ranges),
		cmocka_unit_test(test_sync_nothing),
		cmocka_unit_test(test_sync_updates_and_held_expunge),
		cmocka_unit_test(test_sync_qresync),
		cmocka_unit_test(test_select_qresync),
		cmocka_unit_test(test_select_qresync_seq_match),
		cmocka_unit_test(test_sync_expunge_retried),
		cmocka_unit_test(test_view_remove_many),
		cmocka_unit_test(test_view_pack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
