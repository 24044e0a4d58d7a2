/* bdat_test.c: BDAT chunks (RFC 3030 §2): exact consumption, line endings
 * across chunk boundaries, bare CR/LF and NUL refused, the size limit, and
 * the reader staying in step after a failure. */
#include "smtp/smtp.h"

#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* A conn reading the given bytes from a pipe. */
static struct conn *conn_with(const char *s)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], s, strlen(s)), (ssize_t)strlen(s));
	close(p[1]);
	struct error e;
	struct conn *c = conn_new(p[0], 512, &e);
	assert_non_null(c);
	return c;
}

/* Reads the chunks of sizes[] from c into out; returns smtp_bdat_end's result. */
static int read_chunks(struct conn *c, struct smtp_bdat *b, const uint64_t *sizes, size_t n,
                       uint64_t max, struct buf *out)
{
	struct error e;
	smtp_bdat_begin(b, max);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(smtp_bdat_chunk(b, c, sizes[i], smtp_data_sink_buf, out, &e), 0);
	return smtp_bdat_end(b);
}

/* The bytes left in c after the chunks, as a line. */
static void assert_next_line(struct conn *c, const char *want)
{
	struct conn_line line;
	struct error e;
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_string_equal(line.data, want);
}

static void test_crlf_across_chunks(void **state)
{
	/* "Subject: a\r" | "\n" | "body\r\n": a CR ending one chunk, its LF
	 * starting the next */
	struct conn *c2 = conn_with("Subject: a\r\nbody\r\nQUIT\r\n");
	struct smtp_bdat b;
	struct buf out;
	buf_init(&out, 1024);
	const uint64_t sizes[] = {11, 1, 6};
	assert_int_equal(read_chunks(c2, &b, sizes, 3, 0, &out), 0);
	assert_string_equal(out.data, "Subject: a\r\nbody\r\n");
	assert_int_equal(b.size, 18);
	assert_next_line(c2, "QUIT");
	conn_free(&c2);
	buf_free(&out);
}

static void test_bare_lf_and_cr(void **state)
{
	struct smtp_bdat b;
	struct buf out;
	buf_init(&out, 1024);
	const uint64_t one[] = {8};
	struct conn *c = conn_with("a\nb\r\nxyzNOOP\r\n");
	assert_int_equal(read_chunks(c, &b, one, 1, 0, &out), -1);
	assert_int_equal(b.hint.code, 500);
	assert_string_equal(b.msg, "bare LF in message data");
	assert_next_line(c, "NOOP");  /* the whole chunk was consumed */
	conn_free(&c);

	c = conn_with("ab\r\r\ncdeNOOP\r\n");
	assert_int_equal(read_chunks(c, &b, one, 1, 0, &out), -1);
	assert_string_equal(b.msg, "bare CR in message data");
	assert_next_line(c, "NOOP");
	conn_free(&c);

	const uint64_t last[] = {4};
	c = conn_with("abc\rNOOP\r\n");  /* a CR ending the last chunk */
	assert_int_equal(read_chunks(c, &b, last, 1, 0, &out), -1);
	assert_string_equal(b.msg, "bare CR at the end of message data");
	conn_free(&c);
	buf_free(&out);
}

static void test_nul_and_size(void **state)
{
	struct smtp_bdat b;
	struct buf out;
	buf_init(&out, 1024);
	struct conn *c = conn_with("abcdefghijNOOP\r\n");
	const uint64_t sizes[] = {6, 4};
	assert_int_equal(read_chunks(c, &b, sizes, 2, 8, &out), -1);
	assert_int_equal(b.hint.code, 552);
	assert_next_line(c, "NOOP");
	conn_free(&c);

	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "a\0b\r\nNOOP\r\n", 11), 11);
	close(p[1]);
	struct error e;
	c = conn_new(p[0], 512, &e);
	const uint64_t five[] = {5};
	assert_int_equal(read_chunks(c, &b, five, 1, 0, &out), -1);
	assert_int_equal(b.hint.code, 554);
	assert_next_line(c, "NOOP");
	conn_free(&c);
	buf_free(&out);
}

static void test_short_input(void **state)
{
	struct smtp_bdat b;
	struct error e;
	struct buf out;
	buf_init(&out, 1024);
	struct conn *c = conn_with("abc");
	smtp_bdat_begin(&b, 0);
	assert_int_equal(smtp_bdat_chunk(&b, c, 10, smtp_data_sink_buf, &out, &e), -1);
	assert_int_equal(e.kind, ERR_CLOSED);
	conn_free(&c);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf_across_chunks),
		cmocka_unit_test(test_bare_lf_and_cr),
		cmocka_unit_test(test_nul_and_size),
		cmocka_unit_test(test_short_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
