/* maildir_test.c: unit tests for maildirs, directories of mailboxes and of
 * message files (reader.c), and mailbox names (flags.c). */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <cmocka.h>

static struct tmsg msgs[TMSG_MAX];

static void put(const char *dir, const char *rel, const char *content)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	t_write_str(path, content);
}

static void mkdirs(const char *dir, const char *rel)
{
	char path[1024];
	struct error e;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(file_mkdir_all(path, 0700, &e), 0);
}

static void test_info(void **state)
{
	const char *map[26] = {"$Junk", "work"};
	const char *kw[MAILFMT_KEYWORDS_MAX];
	size_t n = 0;
	unsigned f = mailfmt_maildir_info("1.2.h:2,DFPRSTabz", map, kw, &n);
	assert_int_equal(f, MAILFMT_DRAFT | MAILFMT_FLAGGED | MAILFMT_ANSWERED | MAILFMT_SEEN |
	                    MAILFMT_DELETED);
	assert_int_equal(n, 3);
	assert_string_equal(kw[0], "$Forwarded");
	assert_string_equal(kw[1], "$Junk");
	assert_string_equal(kw[2], "work");
	n = 0;
	assert_int_equal(mailfmt_maildir_info("1.2.h", map, kw, &n), 0);
	assert_int_equal(mailfmt_maildir_info("1.2.h:2,", map, kw, &n), 0);
	assert_int_equal(mailfmt_maildir_info("1.2.h:1,S", map, kw, &n), 0);
	assert_int_equal(n, 0);
}

static void test_dovecot_keywords_parse(void **state)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	const char *map[26] = {0};
	const char *s = "0 $Junk\r\n1 work\n25 last\n26 toolong\nx bad\n3 bad kw\n2 ok";
	dovecot_keywords_parse(a, s, strlen(s), map);
	assert_string_equal(map[0], "$Junk");
	assert_string_equal(map[1], "work");
	assert_string_equal(map[2], "ok");
	assert_null(map[3]);
	assert_string_equal(map[25], "last");
	arena_free(&a);
}

static void test_maildir(void **state)
{
	char *dir = t_tmpdir();
	mkdirs(dir, "tmp");
	put(dir, "cur/1700000002.M1P1.host:2,S", "B: 2\nx\n");
	put(dir, "new/1700000001.M1P1.host", "A: 1\r\n");
	put(dir, "cur/1700000010.M1P1.host:2,FRab", "C: 3\n");
	put(dir, "cur/900000000.M1P1.host:2,T", "D: 4\n");  /* older: sorts first */
	put(dir, "cur/1700000002.M10P1.host:2,", "E: 5\n"); /* digits compare as numbers */
	put(dir, "cur/1700000002.M9P1.host:2,", "F: 6\n");
	put(dir, "cur/.hidden", "ignored");
	put(dir, "tmp/1700000000.M1P1.host", "ignored");
	put(dir, "dovecot-keywords", "0 $Junk\n1 work\n");
	char path[1024];
	snprintf(path, sizeof(path), "%s/new/1700000001.M1P1.host", dir);
	struct timeval tv[2] = {{1234567, 0}, {1234567, 0}};
	assert_int_equal(utimes(path, tv), 0);
	struct error e;
	int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
	assert_int_equal(n, 6);
	static const char *const want[] = {"D: 4\r\n", "A: 1\r\n", "B: 2\r\nx\r\n", "F: 6\r\n",
	                                   "E: 5\r\n", "C: 3\r\n"};
	for (int i = 0; i < n; i++) {
		assert_string_equal(msgs[i].mailbox, "Inbox");
		assert_string_equal(msgs[i].data.data, want[i]);
	}
	assert_int_equal(msgs[0].flags, MAILFMT_DELETED);
	assert_int_equal(msgs[1].flags, 0);
	assert_int_equal(msgs[1].received, 1234567);
	assert_int_equal(msgs[2].flags, MAILFMT_SEEN);
	assert_int_equal(msgs[5].flags, MAILFMT_FLAGGED | MAILFMT_ANSWERED);
	assert_int_equal(msgs[5].nkw, 2);
	assert_string_equal(msgs[5].kw[0], "$Junk");
	assert_string_equal(msgs[5].kw[1], "work");
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void test_maildirpp(void **state)
{
	char *dir = t_tmpdir();
	put(dir, "cur/1.M1.h:2,S", "inbox\n");
	put(dir, ".Sent/cur/1.M1.h:2,S", "sent\n");
	put(dir, ".Sent/maildirfolder", "");
	put(dir, ".Archive.2024/new/1.M1.h", "archived\n");
	put(dir, ".Archive.2024/dovecot-keywords", "0 old\n");
	put(dir, ".Archive.2024/cur/2.M1.h:2,a", "kw\n");
	mkdirs(dir, ".Empty/cur");
	put(dir, "subscriptions", "Sent\n");
	struct error e;
	int n = t_read_all(MAILFMT_MAILDIR, dir, msgs, &e);
	assert_int_equal(n, 4);
	assert_string_equal(msgs[0].mailbox, "Inbox");
	assert_string_equal(msgs[1].mailbox, "Archive/2024");
	assert_string_equal(msgs[1].data.data, "archived\r\n");
	assert_string_equal(msgs[2].mailbox, "Archive/2024");
	assert_int_equal(msgs[2].nkw, 1);
	assert_string_equal(msgs[2].kw[0], "old");
	assert_string_equal(msgs[3].mailbox, "Sent");
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void test_dir_of_mailboxes(void **state)
{
	/* Plain subdirectories that are maildirs, nested, and mbox files. */
	char *dir = t_tmpdir();
	put(dir, "INBOX/cur/1.M1.h:2,", "in\n");
	put(dir, "Lists/cur/1.M1.h:2,", "lists\n");
	put(dir, "Lists/tern/cur/1.M1.h:2,", "nested\n");
	put(dir, "Old.mbox", "From x Thu Jan  1 00:00:00 1970\nA: 1\n\nFrom y Thu Jan  "
	                     "1 00:00:00 1970\nB: 2\n");
	put(dir, "a/b.mbox", "From x Thu Jan  1 00:00:00 1970\nC: 3\n");
	put(dir, "notes.txt", "not mail\n");
	char link[1024];
	snprintf(link, sizeof(link), "%s/loop", dir);
	assert_int_equal(symlink(".", link), 0);  /* not followed */
	struct error e;
	int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
	assert_int_equal(n, 6);
	assert_string_equal(msgs[0].mailbox, "Inbox");
	assert_string_equal(msgs[1].mailbox, "Lists");
	assert_string_equal(msgs[2].mailbox, "Lists/tern");
	assert_string_equal(msgs[3].mailbox, "Old");
	assert_string_equal(msgs[4].mailbox, "Old");
	assert_string_equal(msgs[4].data.data, "B: 2\r\n");
	assert_string_equal(msgs[5].mailbox, "a/b");
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void test_files(void **state)
{
	char *dir = t_tmpdir();
	put(dir, "b", "second\n");
	put(dir, "a", "first\r\nline\n");
	put(dir, ".skip", "x");
	mkdirs(dir, "sub");
	struct error e;
	int n = t_read_all_opts(MAILFMT_FILES, dir, NULL, 1, msgs, &e);  /* 1-byte reads */
	assert_int_equal(n, 2);
	assert_string_equal(msgs[0].data.data, "first\r\nline\r\n");
	assert_string_equal(msgs[1].data.data, "second\r\n");
	assert_int_equal(msgs[0].flags, 0);
	assert_true(msgs[0].received > 0);
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void test_open_errors(void **state)
{
	struct mailfmt_reader *r;
	struct error e;
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, "/nonexistent/x", NULL, &r, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	char *dir = t_tmpdir();
	assert_int_equal(mailfmt_reader_open(MAILFMT_ZIP, dir, NULL, &r, &e), -1);
	/* a tree deeper than the limit */
	char rel[1024] = "";
	for (int i = 0; i <= MAILFMT_PATH_DEPTH_MAX; i++)
		strcat(rel, "d/");
	mkdirs(dir, rel);
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, dir, NULL, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	t_rmrf(dir);
}

static void test_names(void **state)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	const char *c[MAILFMT_PATH_DEPTH_MAX];
	assert_int_equal(mbxname_split(a, "a//b/./c/", c), 3);
	assert_string_equal(c[2], "c");
	assert_int_equal(mbxname_split(a, "/etc/passwd", c), -1);
	assert_int_equal(mbxname_split(a, "a/../b", c), -1);
	assert_int_equal(mbxname_split(a, "..", c), -1);
	char deep[200] = "";
	for (int i = 0; i < MAILFMT_PATH_DEPTH_MAX; i++)
		strcat(deep, "d/");
	assert_int_equal(mbxname_split(a, deep, c), MAILFMT_PATH_DEPTH_MAX);
	strcat(deep, "d");
	assert_int_equal(mbxname_split(a, deep, c), -1);

	const char *p1[] = {"Maildir"};
	assert_string_equal(mbxname_maildir(a, p1, 1), "Inbox");
	const char *p2[] = {"Maildir", ".Sent.2024"};
	assert_string_equal(mbxname_maildir(a, p2, 2), "Sent/2024");
	const char *p3[] = {"x", ".y"};
	assert_string_equal(mbxname_maildir(a, p3, 2), "x/y");
	const char *p4[] = {"inbox"};
	assert_string_equal(mbxname_maildir(a, p4, 1), "Inbox");
	assert_string_equal(mbxname_maildir(a, p4, 0), "Inbox");
	const char *p5[] = {"a", "b.mbox"};
	assert_string_equal(mbxname_mbox(a, p5, 2), "a/b");
	const char *p6[] = {"mbox"};
	assert_string_equal(mbxname_mbox(a, p6, 1), "Inbox");
	const char *p7[] = {"INBOX.mbox"};
	assert_string_equal(mbxname_mbox(a, p7, 1), "Inbox");

	/* longest name: at the limit, and one past */
	char *longc = arena_alloc(a, MAILFMT_MAILBOX_NAME_MAX + 2);
	memset(longc, 'n', MAILFMT_MAILBOX_NAME_MAX);
	const char *p8[] = {longc};
	assert_non_null(mbxname_maildir(a, p8, 1));
	longc[MAILFMT_MAILBOX_NAME_MAX] = 'n';
	assert_null(mbxname_maildir(a, p8, 1));
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_dovecot_keywords_parse),
		cmocka_unit_test(test_maildir),
		cmocka_unit_test(test_maildirpp),
		cmocka_unit_test(test_dir_of_mailboxes),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
