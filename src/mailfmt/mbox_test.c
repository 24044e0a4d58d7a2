/* mbox_test.c: unit tests for the mbox splitter (mbox_read.c, flags.c). */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static struct tmsg msgs[TMSG_MAX];
static char *dir;

static int setup(void **state)
{
	dir = t_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	t_rmrf(dir);
	return 0;
}

/* Reads the mbox text s with the given options; returns the count. */
static int read_mbox_opts(const char *s, size_t n, enum mailfmt_mbox_variant v, size_t chunk)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/in.mbox", dir);
	t_write_file(path, s, n);
	struct mailfmt_reader_opts o = {.mbox_variant = v};
	struct error e;
	int count = t_read_all_opts(MAILFMT_MBOX, path, &o, chunk, msgs, &e);
	assert_true(count >= 0);
	return count;
}

static int read_mbox(const char *s)
{
	return read_mbox_opts(s, strlen(s), MAILFMT_MBOXRD, 8192);
}

static void assert_msg(int i, const char *want)
{
	assert_int_equal(msgs[i].data.len, strlen(want));
	assert_memory_equal(msgs[i].data.data, want, strlen(want));
}

static void test_split_basic(void **state)
{
	int n = read_mbox("From a@example.org Thu Jan  1 00:00:10 1970\n"
	                  "Subject: one\n\nbody 1\n\n"
	                  "From b@example.org Fri Aug 23 02:32:53 2002\n"
	                  "Subject: two\n\nbody 2\n");
	assert_int_equal(n, 2);
	assert_msg(0, "Subject: one\r\n\r\nbody 1\r\n");
	assert_msg(1, "Subject: two\r\n\r\nbody 2\r\n");
	assert_int_equal(msgs[0].received, 10);
	assert_int_equal(msgs[1].received, 1030069973);
	assert_string_equal(msgs[0].mailbox, "Inbox");
	t_free_all(msgs, n);
}

static void test_from_in_body(void **state)
{
	/* Not after an empty line: text. Quoted: unquoted once (mboxrd). */
	const char *in = "From x Thu Jan  1 00:00:00 1970\n\n"
	                 "line\nFrom me\n\n>From you\n>>From them\n>Fromage\n";
	int n = read_mbox(in);
	assert_int_equal(n, 1);
	assert_msg(0, "\r\nline\r\nFrom me\r\n\r\nFrom you\r\n>From them\r\n>Fromage\r\n");
	t_free_all(msgs, n);
	n = read_mbox_opts(in, strlen(in), MAILFMT_MBOXO, 8192);
	assert_int_equal(n, 1);
	assert_msg(0, "\r\nline\r\nFrom me\r\n\r\nFrom you\r\n>>From them\r\n>Fromage\r\n");
	t_free_all(msgs, n);
}

static void test_blank_lines_kept(void **state)
{
	/* Only the one empty line before "From " separates. */
	int n = read_mbox("From x Thu Jan  1 00:00:00 1970\nA: 1\n\nb\n\n\n\n"
	                  "From y Thu Jan  1 00:00:00 1970\n\n\n");
	assert_int_equal(n, 2);
	assert_msg(0, "A: 1\r\n\r\nb\r\n\r\n\r\n");
	assert_msg(1, "\r\n");
	t_free_all(msgs, n);
	/* An empty line ending the header also separates. */
	n = read_mbox("From x Thu Jan  1 00:00:00 1970\nA: 1\n\n"
	              "From y Thu Jan  1 00:00:00 1970\nB: 2\n");
	assert_int_equal(n, 2);
	assert_msg(0, "A: 1\r\n");
	assert_msg(1, "B: 2\r\n");
	t_free_all(msgs, n);
}

static void test_split_any_from(void **state)
{
	const char *in = "From a Thu Jan  1 00:00:00 1970\nA: 1\nFrom b Thu Jan  1 00:00:00 1970\n"
	                 "B: 2\n\nbody\nFrom c Thu Jan  1 00:00:00 1970\nC: 3\n\n>From d\n\n"
	                 "From e Thu Jan  1 00:00:00 1970\n";
	char path[256];
	snprintf(path, sizeof(path), "%s/any.mbox", dir);
	t_write_str(path, in);
	struct mailfmt_reader_opts o = {.mbox_split_any_from = true};
	struct error e;
	int n = t_read_all_opts(MAILFMT_MBOX, path, &o, 3, msgs, &e);
	assert_int_equal(n, 4);
	assert_msg(0, "A: 1\r\n");
	assert_msg(1, "B: 2\r\n\r\nbody\r\n");
	assert_msg(2, "C: 3\r\n\r\nFrom d\r\n");
	assert_msg(3, "");
	t_free_all(msgs, n);
	assert_int_equal(read_mbox(in), 2);  /* the default needs an empty line */
	t_free_all(msgs, 2);
}

static void test_no_trailing_newline(void **state)
{
	int n = read_mbox("From x Thu Jan  1 00:00:00 1970\nA: 1\n\nlast line");
	assert_int_equal(n, 1);
	assert_msg(0, "A: 1\r\n\r\nlast line");
	t_free_all(msgs, n);
	/* a last header line without line ending is searched like the others */
	n = read_mbox("From x Thu Jan  1 00:00:00 1970\nA: 1\nX-Status: F");
	assert_int_equal(n, 1);
	assert_msg(0, "A: 1\r\nX-Status: F");
	assert_int_equal(msgs[0].flags, MAILFMT_FLAGGED);
	t_free_all(msgs, n);
	n = read_mbox("From x Thu Jan  1 00:00:00 1970");
	assert_int_equal(n, 1);
	assert_msg(0, "");
	assert_int_equal(msgs[0].received, 0);
	t_free_all(msgs, n);
}

static void test_crlf_mbox(void **state)
{
	int n = read_mbox("From x Thu Jan  1 00:00:00 1970\r\nA: 1\r\n\r\nb\rc\r\n\r\n"
	                  "From y Thu Jan  1 00:00:00 1970\r\nB: 2\r\n\r\n>From z\r\n");
	assert_int_equal(n, 2);
	assert_msg(0, "A: 1\r\n\r\nb\rc\r\n");
	assert_msg(1, "B: 2\r\n\r\nFrom z\r\n");
	t_free_all(msgs, n);
}

static void test_empty_and_garbage(void **state)
{
	assert_int_equal(read_mbox(""), 0);
	assert_int_equal(read_mbox("no from line here\n\nat all\n"), 0);
	int n = read_mbox("garbage\nmore\n\nFrom x Thu Jan  1 00:00:00 1970\nA: 1\n");
	assert_int_equal(n, 1);
	assert_msg(0, "A: 1\r\n");
	t_free_all(msgs, n);
	/* auto-detection refuses a file not starting with "From " */
	char path[256];
	snprintf(path, sizeof(path), "%s/garbage", dir);
	t_write_str(path, "garbage\n");
	struct mailfmt_reader *r;
	struct error e;
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, path, NULL, &r, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_non_null(strstr(e.msg, "not an mbox file"));
}

static void test_flag_headers(void **state)
{
	int n = read_mbox("From x Thu Jan  1 00:00:00 1970\n"
	                  "Subject: s\nStatus: RO\nX-Status: AFTD\n"
	                  "X-Keywords: $Junk, work  home,\n\tlater,work\nTo: t\n\nStatus: R\n\n"
	                  "From y Thu Jan  1 00:00:00 1970\nstatus: O\nx-status: F\n\nb\n");
	assert_int_equal(n, 2);
	/* the flag headers stay in the message */
	assert_msg(0, "Subject: s\r\nStatus: RO\r\nX-Status: AFTD\r\n"
	              "X-Keywords: $Junk, work  home,\r\n\tlater,work\r\nTo: t\r\n\r\nStatus: R\r\n");
	assert_int_equal(msgs[0].flags, MAILFMT_SEEN | MAILFMT_ANSWERED | MAILFMT_FLAGGED |
	                                MAILFMT_DRAFT | MAILFMT_DELETED);
	assert_int_equal(msgs[0].nkw, 4);
	assert_string_equal(msgs[0].kw[0], "$Junk");
	assert_string_equal(msgs[0].kw[1], "work");
	assert_string_equal(msgs[0].kw[2], "home");
	assert_string_equal(msgs[0].kw[3], "later");
	assert_msg(1, "status: O\r\nx-status: F\r\n\r\nb\r\n");
	assert_int_equal(msgs[1].flags, MAILFMT_FLAGGED);
	assert_int_equal(msgs[1].nkw, 0);
	t_free_all(msgs, n);
}

static void test_keyword_limits(void **state)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "From x Thu Jan  1 00:00:00 1970\nX-Keywords:");
	for (int i = 0; i < MAILFMT_KEYWORDS_MAX + 1; i++)
		buf_appendf(&b, " k%d", i);
	buf_append_str(&b, "\nX-Keywords: ");
	for (int i = 0; i < MAILFMT_KEYWORD_LEN_MAX; i++)
		buf_append_char(&b, 'x');
	buf_append_str(&b, "\n\n");
	int n = read_mbox(b.data);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].nkw, MAILFMT_KEYWORDS_MAX);
	assert_string_equal(msgs[0].kw[MAILFMT_KEYWORDS_MAX - 1], "k63");
	t_free_all(msgs, n);
	buf_free(&b);

	char kw[MAILFMT_KEYWORD_LEN_MAX + 2];
	memset(kw, 'x', sizeof(kw));
	assert_true(mailfmt_keyword_valid(kw, MAILFMT_KEYWORD_LEN_MAX));
	assert_false(mailfmt_keyword_valid(kw, MAILFMT_KEYWORD_LEN_MAX + 1));
	assert_false(mailfmt_keyword_valid("\\Seen", 5));
	assert_false(mailfmt_keyword_valid("a b", 3));
	assert_false(mailfmt_keyword_valid("", 0));
	assert_true(mailfmt_keyword_valid("$Forwarded", 10));
}

static void test_long_lines(void **state)
{
	/* A header line longer than the line buffer, then a flag header: the
	 * scan stops at the long line, so the flag header stays. */
	struct buf b, want;
	buf_init(&b, BUF_UNBOUNDED);
	buf_init(&want, BUF_UNBOUNDED);
	buf_append_str(&b, "From x Thu Jan  1 00:00:00 1970\nStatus: R\nX-Long: ");
	buf_append_str(&want, "Status: R\r\nX-Long: ");
	for (int i = 0; i < 3 * FMT_CHUNK; i++) {
		buf_append_char(&b, (char)('a' + i % 26));
		buf_append_char(&want, (char)('a' + i % 26));
	}
	buf_append_str(&b, "\nX-Status: F\n\nbody\n");
	buf_append_str(&want, "\r\nX-Status: F\r\n\r\nbody\r\n");
	int n = read_mbox(b.data);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].flags, MAILFMT_SEEN);
	assert_int_equal(msgs[0].data.len, want.len);
	assert_memory_equal(msgs[0].data.data, want.data, want.len);
	t_free_all(msgs, n);
	buf_free(&b);
	buf_free(&want);
}

/* A header of exactly extra + MAILFMT_MBOX_HEADER_SCAN_MAX bytes (as read,
 * CRLF) before a Status header. */
static int read_with_header_of(size_t extra)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "From x Thu Jan  1 00:00:00 1970\n");
	/* lines of 64 bytes with CRLF; the first one longer by extra */
	for (int i = 0; i < MAILFMT_MBOX_HEADER_SCAN_MAX / 64; i++) {
		buf_append_str(&b, "X-Filler: 0123456789012345678901234567890123456789012345678901");
		for (size_t k = 0; i == 0 && k < extra; k++)
			buf_append_char(&b, 'x');
		buf_append_str(&b, "\n");
	}
	buf_append_str(&b, "Status: R\n\nbody\n");
	int n = read_mbox(b.data);
	buf_free(&b);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].data.len, MAILFMT_MBOX_HEADER_SCAN_MAX + extra + 11 + 8);
	return (int)msgs[0].flags;
}

static void test_header_scan_limit(void **state)
{
	assert_int_equal(read_with_header_of(0), MAILFMT_SEEN);  /* at the limit */
	t_free_all(msgs, 1);
	assert_int_equal(read_with_header_of(1), 0);  /* one past: Status stays */
	assert_non_null(strstr(msgs[0].data.data, "x\r\nX-Filler"));
	assert_non_null(strstr(msgs[0].data.data, "\r\nStatus: R\r\n\r\nbody\r\n"));
	t_free_all(msgs, 1);
}

/* A source that hands out one byte per read. */
struct onebyte {
	const char *p;
	size_t n, off;
};

static ssize_t onebyte_read(void *ctx, void *buf, size_t n, struct error *err)
{
	struct onebyte *o = ctx;
	if (o->off == o->n)
		return 0;
	*(char *)buf = o->p[o->off++];
	return 1;
}

static void test_one_byte_at_a_time(void **state)
{
	const char *in = "junk\rx\nFrom x Thu Jan  1 00:00:00 1970\r\nStatus: R\r\nA: 1\n"
	                 "X-Keywords: a\r\n b\n\n>>From q\r\nx\ry\r\n\r\n\n"
	                 "From y Thu Jan  1 00:00:00 1970\nB: 2\r\n\r\nend\r";
	int n = read_mbox_opts(in, strlen(in), MAILFMT_MBOXRD, 8192);
	assert_int_equal(n, 2);
	struct onebyte o = {in, strlen(in), 0};
	struct fmt_src src = {onebyte_read, &o, 0};
	struct mailfmt_reader_opts opts = {0};
	struct mbox_rd *m = mbox_rd_new(&src, &opts);
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct error e;
	for (int i = 0; i < n; i++) {
		struct mailfmt_msg msg = {0};
		assert_int_equal(mbox_rd_next(m, a, &msg, &e), 1);
		assert_int_equal(msg.flags, msgs[i].flags);
		assert_int_equal(msg.nkeywords, msgs[i].nkw);
		struct buf got;
		buf_init(&got, BUF_UNBOUNDED);
		char c;
		ssize_t r;
		while ((r = mbox_rd_read(m, &c, 1, &e)) == 1)
			buf_append_char(&got, c);
		assert_int_equal(r, 0);
		assert_int_equal(got.len, msgs[i].data.len);
		assert_memory_equal(got.data, msgs[i].data.data, got.len);
		buf_free(&got);
	}
	struct mailfmt_msg msg;
	assert_int_equal(mbox_rd_next(m, a, &msg, &e), 0);
	assert_msg(0, "Status: R\r\nA: 1\r\nX-Keywords: a\r\n b\r\n\r\n>From q\r\nx\ry\r\n\r\n");
	assert_msg(1, "B: 2\r\n\r\nend\r");
	assert_int_equal(src.consumed, strlen(in));
	mbox_rd_free(&m);
	arena_free(&a);
	t_free_all(msgs, n);
}

static void test_skip_unread(void **state)
{
	/* next() without reading skips the message. */
	char path[256];
	snprintf(path, sizeof(path), "%s/skip.mbox", dir);
	t_write_str(path, "From a Thu Jan  1 00:00:00 1970\nA: 1\n\nx\n\n"
	                  "From b Thu Jan  1 00:00:00 1970\nB: 2\n");
	struct mailfmt_reader *r;
	struct error e;
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, path, NULL, &r, &e), 0);
	struct mailfmt_msg m;
	assert_int_equal(mailfmt_reader_next(r, &m, &e), 1);
	char c;
	assert_int_equal(mailfmt_reader_read(r, &c, 1, &e), 1);
	assert_int_equal(mailfmt_reader_next(r, &m, &e), 1);
	char buf[64];
	assert_int_equal(mailfmt_reader_read(r, buf, sizeof(buf), &e), 6);
	assert_memory_equal(buf, "B: 2\r\n", 6);
	assert_int_equal(mailfmt_reader_next(r, &m, &e), 0);
	assert_int_equal(mailfmt_reader_offset(r), 78);  /* all of the file */
	mailfmt_reader_free(&r);
}

static void test_from_date(void **state)
{
	const char *l = "From a b@c Sat Jan  3 01:05:34 1996\n";
	assert_int_equal(mbox_from_date(l, strlen(l)), 820631134);
	l = "From MAILER-DAEMON Wed Nov 25 17:30:00 2026";
	assert_int_equal(mbox_from_date(l, strlen(l)), 1795627800);
	l = "From - \n";
	assert_int_equal(mbox_from_date(l, strlen(l)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_from_in_body),
		cmocka_unit_test(test_blank_lines_kept),
		cmocka_unit_test(test_split_any_from),
		cmocka_unit_test(test_no_trailing_newline),
		cmocka_unit_test(test_crlf_mbox),
		cmocka_unit_test(test_empty_and_garbage),
		cmocka_unit_test(test_flag_headers),
		cmocka_unit_test(test_keyword_limits),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_header_scan_limit),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_skip_unread),
		cmocka_unit_test(test_from_date),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
