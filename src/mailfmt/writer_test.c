/* writer_test.c: unit tests for the writer (writer.c, archive_write.c):
 * exact output bytes, line endings and quoting across chunk boundaries,
 * archives read back, and the errors. */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static struct tmsg msgs[TMSG_MAX];

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	char tmp[4096];
	size_t k;
	while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, k);
	fclose(f);
	*n = b.len;
	return buf_steal(&b);
}

static void assert_file(const char *dir, const char *rel, const char *want)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	size_t n;
	char *got = slurp(path, &n);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(got, want, n);
	free(got);
}

/* Writes one message, one byte per write when bytewise. */
static void write_msg(struct mailfmt_writer *w, const char *mailbox, unsigned flags,
                      const char *const *kw, size_t nkw, int64_t received, const char *data,
                      bool bytewise)
{
	struct error e;
	if (mailfmt_writer_begin(w, mailbox, flags, kw, nkw, received, &e) < 0)
		fail_msg("begin: %s", e.msg);
	size_t n = strlen(data);
	if (bytewise) {
		for (size_t i = 0; i < n; i++)
			assert_int_equal(mailfmt_writer_write(w, data + i, 1, &e), 0);
	} else {
		assert_int_equal(mailfmt_writer_write(w, data, n, &e), 0);
	}
	assert_int_equal(mailfmt_writer_end(w, &e), 0);
}

static const char *const kw1[] = {"work", "$Junk", "bad kw"};
static const char *const msg1 = "Subject: a\r\n\r\nFrom me\r\n>From you\r\n>>From x\r\n"
                                ">Fro\r\n\r\nlone\rcr\r\nend";

static void test_mbox_bytes(void **state)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		char *dir = t_tmpdir();
		struct mailfmt_writer *w;
		struct error e;
		assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, dir, &w, &e), 0);
		write_msg(w, "Inbox", MAILFMT_SEEN | MAILFMT_FLAGGED, kw1, 3, 10, msg1, bytewise);
		write_msg(w, "Inbox", 0, NULL, 0, 0, "", bytewise);
		write_msg(w, "a/b", MAILFMT_ANSWERED | MAILFMT_DRAFT | MAILFMT_DELETED, NULL, 0,
		          1030069973, "x\r\n", bytewise);
		assert_int_equal(mailfmt_writer_close(&w, &e), 0);
		assert_null(w);
		assert_file(dir, "Inbox.mbox",
		            "From MAILER-DAEMON Thu Jan  1 00:00:10 1970\nStatus: RO\nX-Status: F\n"
		            "X-Keywords: work $Junk\nSubject: a\n\n>From me\n>>From you\n>>>From x\n"
		            ">Fro\n\nlone\rcr\nend\n\n"
		            "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nStatus: O\n\n");
		assert_file(dir, "a/b.mbox",
		            "From MAILER-DAEMON Fri Aug 23 02:32:53 2002\nStatus: O\nX-Status: ATD\n"
		            "x\n\n");
		int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
		assert_int_equal(n, 3);
		assert_string_equal(msgs[0].mailbox, "Inbox");
		assert_string_equal(msgs[0].data.data, "Subject: a\r\n\r\nFrom me\r\n>From you\r\n"
		                                       ">>From x\r\n>Fro\r\n\r\nlone\rcr\r\nend\r\n");
		assert_int_equal(msgs[0].flags, MAILFMT_SEEN | MAILFMT_FLAGGED);
		assert_int_equal(msgs[0].nkw, 2);
		assert_int_equal(msgs[0].received, 10);
		assert_int_equal(msgs[1].data.len, 0);
		assert_string_equal(msgs[2].mailbox, "a/b");
		assert_int_equal(msgs[2].flags, MAILFMT_ANSWERED | MAILFMT_DRAFT | MAILFMT_DELETED);
		assert_int_equal(msgs[2].received, 1030069973);
		t_free_all(msgs, n);
		t_rmrf(dir);
	}
}

static void host(char *dst, size_t n)
{
	assert_int_equal(gethostname(dst, n), 0);
	assert_null(strpbrk(dst, "/:"));  /* the test expects no escaping */
}

static void test_maildir_bytes(void **state)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		char *dir = t_tmpdir();
		struct mailfmt_writer *w;
		struct error e;
		assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, dir, &w,
		                                     &e), 0);
		static const char *const kw[] = {"$Forwarded", "work", "$Junk"};
		write_msg(w, "Inbox", MAILFMT_SEEN | MAILFMT_ANSWERED, kw, 3, 1700000000,
		          "A: 1\r\n\r\nFrom x\r\nlone\rcr\r", bytewise);
		static const char *const kw2[] = {"$junk"};
		write_msg(w, "Inbox", MAILFMT_DRAFT, kw2, 1, 1700000001, "B: 2\r\n", bytewise);
		write_msg(w, "Lists/tern", 0, NULL, 0, 1700000002, "C: 3\r\n", bytewise);
		assert_int_equal(mailfmt_writer_close(&w, &e), 0);
		char h[256], rel[512];
		host(h, sizeof(h));
		snprintf(rel, sizeof(rel), "Inbox/cur/1700000000.%d_1.%s:2,PRSab", (int)getpid(), h);
		assert_file(dir, rel, "A: 1\n\nFrom x\nlone\rcr\r");
		snprintf(rel, sizeof(rel), "Inbox/cur/1700000001.%d_2.%s:2,Db", (int)getpid(), h);
		assert_file(dir, rel, "B: 2\n");
		snprintf(rel, sizeof(rel), "Lists/tern/cur/1700000002.%d_3.%s:2,", (int)getpid(), h);
		assert_file(dir, rel, "C: 3\n");
		assert_file(dir, "Inbox/dovecot-keywords", "0 work\n1 $Junk\n");
		int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
		assert_int_equal(n, 3);
		assert_string_equal(msgs[0].data.data, "A: 1\r\n\r\nFrom x\r\nlone\rcr\r");
		assert_int_equal(msgs[0].flags, MAILFMT_SEEN | MAILFMT_ANSWERED);
		assert_int_equal(msgs[0].received, 1700000000);
		assert_int_equal(msgs[0].nkw, 3);
		assert_string_equal(msgs[0].kw[0], "$Forwarded");
		assert_string_equal(msgs[0].kw[1], "work");
		assert_string_equal(msgs[0].kw[2], "$Junk");
		assert_string_equal(msgs[2].mailbox, "Lists/tern");
		t_free_all(msgs, n);
		t_rmrf(dir);
	}
}

static void test_maildir_keyword_limit(void **state)
{
	char *dir = t_tmpdir();
	struct mailfmt_writer *w;
	struct error e;
	assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, dir, &w, &e), 0);
	char names[27][8];
	const char *kw[27];
	for (int i = 0; i < 27; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		kw[i] = names[i];
	}
	write_msg(w, "Inbox", 0, kw, 27, 5, "x\r\n", false);  /* the 27th is dropped */
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].nkw, 26);
	assert_string_equal(msgs[0].kw[25], "k25");
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void test_errors(void **state)
{
	char *dir = t_tmpdir();
	struct mailfmt_writer *w;
	struct error e;
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/out", dir);
	assert_int_equal(mailfmt_writer_open(MAILFMT_FILES, MAILFMT_ARCHIVE_NONE, sub, &w, &e), -1);
	assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, sub, &w, &e), 0);
	static const char *const bad[] = {"", "/a", "a/", "a//b", "a/./b", "../x", ".hidden",
	                                  "a/cur", "tmp", "a\nb"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mailfmt_writer_begin(w, bad[i], 0, NULL, 0, 0, &e), -1);
		assert_int_equal(e.kind, ERR_INVALID);
	}
	char longname[MAILFMT_MAILBOX_NAME_MAX + 2];
	/* levels of 63 bytes: a file name holds at most 255 */
	for (size_t i = 0; i < sizeof(longname) - 1; i++)
		longname[i] = i % 64 == 62 ? '/' : 'n';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(mailfmt_writer_begin(w, longname, 0, NULL, 0, 0, &e), -1);
	longname[MAILFMT_MAILBOX_NAME_MAX] = '\0';
	assert_int_equal(mailfmt_writer_write(w, "x", 1, &e), -1);  /* no message open */
	write_msg(w, longname, 0, NULL, 0, 0, "x", false);
	write_msg(w, "A", 0, NULL, 0, 0, "x", false);
	write_msg(w, "B", 0, NULL, 0, 0, "x", false);
	assert_int_equal(mailfmt_writer_begin(w, "A", 0, NULL, 0, 0, &e), -1);
	assert_non_null(strstr(e.msg, "already written"));
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	/* not empty now */
	assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, sub, &w, &e), -1);
	assert_non_null(strstr(e.msg, "not empty"));
	/* an archive that exists */
	snprintf(sub, sizeof(sub), "%s/out/x.zip", dir);
	t_write_str(sub, "");
	assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_ZIP, sub, &w, &e), -1);
	t_rmrf(dir);
}

/* A message big enough to cross every internal chunk. */
static char *big_message(void)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "Subject: big\r\n\r\n");
	for (int i = 0; b.len < 3 * FMT_CHUNK + 77; i++)
		buf_appendf(&b, "%sline %d of a long message\r\n", i % 50 == 0 ? "From " : "", i);
	buf_append_str(&b, "\r\n");
	return buf_steal(&b);
}

static void archive_round_trip(enum mailfmt_kind kind, enum mailfmt_archive ar,
                               const char *name)
{
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *big = big_message();
	struct mailfmt_writer *w;
	struct error e;
	assert_int_equal(mailfmt_writer_open(kind, ar, path, &w, &e), 0);
	write_msg(w, "Inbox", MAILFMT_SEEN, kw1, 2, 1700000000, "A: 1\r\n\r\nFrom x\r\n", false);
	write_msg(w, "Inbox", MAILFMT_FLAGGED, NULL, 0, 1700000001, big, false);
	write_msg(w, "Sent/2024", 0, kw1 + 1, 1, 1700000002, "B: 2\r\n", true);
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	int n = t_read_all(MAILFMT_AUTO, path, msgs, &e);
	if (n < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(n, 3);
	assert_string_equal(msgs[0].mailbox, "Inbox");
	assert_string_equal(msgs[0].data.data, "A: 1\r\n\r\nFrom x\r\n");
	assert_int_equal(msgs[0].flags, MAILFMT_SEEN);
	assert_int_equal(msgs[0].nkw, 2);
	assert_string_equal(msgs[0].kw[1], "$Junk");
	assert_int_equal(msgs[0].received, 1700000000);
	assert_int_equal(msgs[1].data.len, strlen(big));
	assert_memory_equal(msgs[1].data.data, big, strlen(big));
	assert_int_equal(msgs[1].flags, MAILFMT_FLAGGED);
	assert_string_equal(msgs[2].mailbox, "Sent/2024");
	assert_int_equal(msgs[2].nkw, 1);
	assert_string_equal(msgs[2].kw[0], "$Junk");
	t_free_all(msgs, n);
	free(big);
	t_rmrf(dir);
}

static void test_archives(void **state)
{
	archive_round_trip(MAILFMT_MBOX, MAILFMT_ARCHIVE_ZIP, "out.zip");
	archive_round_trip(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_ZIP, "out.zip");
	archive_round_trip(MAILFMT_MBOX, MAILFMT_ARCHIVE_TGZ, "out.tgz");
	archive_round_trip(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_TGZ, "out.tar.gz");
}

static void test_crlf_filters(void **state)
{
	/* Every split of a tricky input gives the same result. */
	const char *in = "a\r\nb\rc\n\r\r\nd\r";
	size_t n = strlen(in);
	for (size_t cut = 0; cut <= n; cut++) {
		char out[64];
		bool held = false;
		size_t o = crlf_to_lf(&held, in, cut, out);
		o += crlf_to_lf(&held, in + cut, n - cut, out + o);
		if (held)
			out[o++] = '\r';
		assert_int_equal(o, strlen("a\nb\rc\n\r\nd\r"));
		assert_memory_equal(out, "a\nb\rc\n\r\nd\r", o);
		bool prev = false;
		o = crlf_to_crlf(&prev, in, cut, out);
		o += crlf_to_crlf(&prev, in + cut, n - cut, out + o);
		assert_int_equal(o, strlen("a\r\nb\rc\r\n\r\r\nd\r"));
		assert_memory_equal(out, "a\r\nb\rc\r\n\r\r\nd\r", o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbox_bytes),
		cmocka_unit_test(test_maildir_bytes),
		cmocka_unit_test(test_maildir_keyword_limit),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_archives),
		cmocka_unit_test(test_crlf_filters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
