/* archive_test.c: unit tests for reading zip and tar.gz archives
 * (archive_read.c); the archives are made here with libarchive. */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static struct tmsg msgs[TMSG_MAX];

struct entry {
	const char *path;
	const char *data;  /* NULL: a directory */
	int64_t mtime;
};

static void make_archive(const char *path, bool zip, const struct entry *e, size_t n)
{
	struct archive *a = archive_write_new();
	if (zip) {
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	} else {
		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	}
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_filetype(ae, e[i].data != NULL ? AE_IFREG : AE_IFDIR);
		archive_entry_set_perm(ae, 0600);
		archive_entry_set_mtime(ae, (time_t)e[i].mtime, 0);
		size_t len = e[i].data != NULL ? strlen(e[i].data) : 0;
		archive_entry_set_size(ae, (la_int64_t)len);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (len > 0)
			assert_int_equal(archive_write_data(a, e[i].data, len), (la_ssize_t)len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static const struct entry mixed[] = {
	{"Maildir", NULL, 0},
	{"Maildir/cur/1.M1.h:2,Sa", "A: 1\n\nin\n", 100},
	{"Maildir/new/2.M1.h", "B: 2\n", 200},
	{"Maildir/tmp/3.M1.h", "ignored\n", 0},
	{"Maildir/.Sent.2024/cur/1.M1.h:2,RSb", "C: 3\n", 300},
	{"Maildir/dovecot-uidlist", "3 V1 N4\n", 0},
	{"Maildir/dovecot-keywords", "0 $Junk\n", 0},
	{"Maildir/.Sent.2024/dovecot-keywords", "1 work\n", 0},
	{"old/Archive.mbox", "From x Thu Jan  1 00:00:10 1970\nStatus: R\n\nD: 4\n\n"
	                     "From y Thu Jan  1 00:00:11 1970\n\n>From E: 5\n", 0},
	{"readme.txt", "not mail\n", 0},
	{"./plain/cur/.hidden", "ignored\n", 0},
};

static void check_mixed(const char *path)
{
	struct error e;
	int n = t_read_all(MAILFMT_AUTO, path, msgs, &e);
	if (n < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(n, 5);
	assert_string_equal(msgs[0].mailbox, "Inbox");
	assert_string_equal(msgs[0].data.data, "A: 1\r\n\r\nin\r\n");
	assert_int_equal(msgs[0].flags, MAILFMT_SEEN);
	assert_int_equal(msgs[0].nkw, 1);
	assert_string_equal(msgs[0].kw[0], "$Junk");  /* keywords file came later */
	assert_int_equal(msgs[0].received, 100);
	assert_string_equal(msgs[1].data.data, "B: 2\r\n");
	assert_int_equal(msgs[1].flags, 0);
	assert_string_equal(msgs[2].mailbox, "Sent/2024");
	assert_int_equal(msgs[2].flags, MAILFMT_SEEN | MAILFMT_ANSWERED);
	assert_int_equal(msgs[2].nkw, 1);
	assert_string_equal(msgs[2].kw[0], "work");
	assert_string_equal(msgs[3].mailbox, "old/Archive");
	assert_string_equal(msgs[3].data.data, "Status: R\r\n\r\nD: 4\r\n");
	assert_int_equal(msgs[3].flags, MAILFMT_SEEN);
	assert_int_equal(msgs[3].received, 10);
	assert_string_equal(msgs[4].mailbox, "old/Archive");
	assert_string_equal(msgs[4].data.data, "\r\nFrom E: 5\r\n");
	t_free_all(msgs, n);
}

static void test_zip_and_tgz(void **state)
{
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/mail.zip", dir);
	make_archive(path, true, mixed, sizeof(mixed) / sizeof(mixed[0]));
	check_mixed(path);
	snprintf(path, sizeof(path), "%s/mail.tgz", dir);
	make_archive(path, false, mixed, sizeof(mixed) / sizeof(mixed[0]));
	check_mixed(path);
	/* the kind may be given instead of detected from the name */
	char other[512];
	snprintf(other, sizeof(other), "%s/mail.bin", dir);
	assert_int_equal(rename(path, other), 0);
	struct error e;
	int n = t_read_all(MAILFMT_TGZ, other, msgs, &e);
	assert_int_equal(n, 5);
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void expect_refused(const char *dir, const char *entry_path, bool zip)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/bad.%s", dir, zip ? "zip" : "tgz");
	unlink(path);
	const struct entry bad[] = {
		{"Maildir/cur/1.M1.h:2,S", "A: 1\n", 0},
		{entry_path, "From x Thu Jan  1 00:00:00 1970\n\n", 0},
	};
	make_archive(path, zip, bad, 2);
	struct error e;
	int n = t_read_all(MAILFMT_AUTO, path, msgs, &e);
	if (n >= 0)
		t_free_all(msgs, n);
	assert_int_equal(n, -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_non_null(strstr(e.msg, "refusing entry"));
}

static void test_bad_paths(void **state)
{
	char *dir = t_tmpdir();
	char deep[256] = "";
	for (int i = 0; i < MAILFMT_PATH_DEPTH_MAX; i++)
		strcat(deep, "d/");
	strcat(deep, "x.mbox");
	for (int zip = 0; zip < 2; zip++) {
		expect_refused(dir, "../evil.mbox", zip);
		expect_refused(dir, "a/../../evil.mbox", zip);
		expect_refused(dir, "/etc/evil.mbox", zip);
		expect_refused(dir, deep, zip);
	}
	t_rmrf(dir);
}

static void test_not_an_archive(void **state)
{
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/junk.zip", dir);
	t_write_str(path, "this is not a zip file at all\n");
	struct mailfmt_reader *r;
	struct error e;
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, path, NULL, &r, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	t_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zip_and_tgz),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_not_an_archive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
