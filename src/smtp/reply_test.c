/*
 * reply_test.c: SMTP replies (reply.c): formatting checked byte for byte,
 * wrapping at SMTP_REPLY_LINE_MAX, control bytes, and parsing for clients.
 */
#include "smtp/smtp.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void fmt(int code, const char *enh, const char *const *lines, size_t n, const char *want)
{
	struct buf b;
	struct error e;
	buf_init(&b, 65536);
	if (smtp_reply_format(&b, code, enh, lines, n, &e) < 0)
		fail_msg("format: %s", e.msg);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void test_format(void **state)
{
	const char *one[] = { "OK" };
	fmt(250, "2.1.0", one, 1, "250 2.1.0 OK\r\n");
	fmt(250, NULL, one, 1, "250 OK\r\n");
	fmt(354, NULL, NULL, 0, "354 \r\n");
	const char *ehlo[] = { "mail.example.com", "PIPELINING", "SIZE 1000" };
	fmt(250, NULL, ehlo, 3, "250-mail.example.com\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
	const char *evil[] = { "a\r\n250 injected\x01x\x7f\tz" };
	fmt(550, "5.7.1", evil, 1, "550 5.7.1 a??250 injected?x?\tz\r\n");
	struct buf b;
	struct error e;
	buf_init(&b, 1024);
	assert_int_equal(smtp_reply_format(&b, 199, NULL, one, 1, &e), -1);
	assert_int_equal(smtp_reply_format(&b, 250, "5.1.0", one, 1, &e), -1);
	assert_int_equal(smtp_reply_format(&b, 250, "2.1", one, 1, &e), -1);
	assert_int_equal(smtp_reply_format(&b, 250, "2.1.0.1", one, 1, &e), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	buf_init(&b, 10);   /* too small: nothing is left half-written */
	assert_int_equal(smtp_reply_format(&b, 250, "2.0.0", ehlo, 3, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_wrap(void **state)
{
	char text[1200];
	memset(text, 'w', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	text[300] = ' ';
	const char *lines[] = { text };
	struct buf b;
	struct error e;
	buf_init(&b, 65536);
	assert_int_equal(smtp_reply_format(&b, 550, "5.0.0", lines, 1, &e), 0);
	/* every line fits, all but the last use "-", and the text survives */
	size_t total = 0, nl = 0;
	const char *p = b.data;
	while (*p != '\0') {
		const char *lf = strstr(p, "\r\n");
		assert_non_null(lf);
		size_t len = (size_t)(lf - p) + 2;
		assert_true(len <= SMTP_REPLY_LINE_MAX);
		assert_memory_equal(p, "550", 3);
		assert_int_equal(p[3], lf[2] == '\0' ? ' ' : '-');
		assert_memory_equal(p + 4, "5.0.0 ", 6);
		total += len - 12;
		nl++;
		p = lf + 2;
	}
	assert_int_equal(nl, 3);
	assert_int_equal(total, sizeof(text) - 2);  /* the space at 300 became a break */
	assert_memory_equal(b.data + 10, text, 300);
	buf_free(&b);
	/* exactly at the limit: one line of 512 with CRLF */
	memset(text, 'x', 512 - 12);
	text[512 - 12] = '\0';
	buf_init(&b, 65536);
	assert_int_equal(smtp_reply_format(&b, 550, "5.0.0", lines, 1, &e), 0);
	assert_int_equal(b.len, SMTP_REPLY_LINE_MAX);
	buf_reset(&b);
	text[512 - 12] = 'x';
	text[512 - 11] = '\0';
	assert_int_equal(smtp_reply_format(&b, 550, "5.0.0", lines, 1, &e), 0);
	assert_int_equal(b.len, SMTP_REPLY_LINE_MAX + 13);
	buf_free(&b);
}

static void test_parse(void **state)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct smtp_reply r;
	struct error e;
	const char *in = "250-mail.example.com Hello\r\n250-SIZE 1000\r\n250 PIPELINING\r\nNEXT";
	assert_int_equal(smtp_reply_parse(in, strlen(in), a, &r, &e), (long)strlen(in) - 4);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.lines[2], "PIPELINING");
	assert_string_equal(r.enhanced, "");
	in = "550-5.7.1 first\r\n550 5.7.1 second\r\n";
	assert_int_equal(smtp_reply_parse(in, strlen(in), a, &r, &e), (long)strlen(in));
	assert_string_equal(r.enhanced, "5.7.1");
	assert_string_equal(r.lines[0], "first");
	assert_string_equal(r.lines[1], "second");
	in = "250 2.0.0\n";   /* bare LF accepted from servers; text only the code */
	assert_int_equal(smtp_reply_parse(in, strlen(in), a, &r, &e), (long)strlen(in));
	assert_string_equal(r.enhanced, "2.0.0");
	assert_string_equal(r.lines[0], "");
	in = "220\r\n";
	assert_int_equal(smtp_reply_parse(in, strlen(in), a, &r, &e), 5);
	assert_int_equal(r.code, 220);
	in = "250 5.1.1 class mismatch\r\n";
	assert_true(smtp_reply_parse(in, strlen(in), a, &r, &e) > 0);
	assert_string_equal(r.enhanced, "");
	assert_string_equal(r.lines[0], "5.1.1 class mismatch");
	/* more input needed */
	in = "250-one\r\n250 tw";
	assert_int_equal(smtp_reply_parse(in, strlen(in), a, &r, &e), 0);
	assert_int_equal(smtp_reply_parse(in, 0, a, &r, &e), 0);
	/* malformed */
	const char *bad[] = { "25 x\r\n", "abc\r\n", "650 x\r\n", "250x\r\n", "250-a\r\n251 b\r\n", "2\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (smtp_reply_parse(bad[i], strlen(bad[i]), a, &r, &e) != -1)
			fail_msg("accepted %s", bad[i]);
	/* lines over 512 octets are accepted up to SMTP_REPLY_PARSE_LINE_MAX */
	char longok[602];
	memcpy(longok, "250 ", 4);
	memset(longok + 4, 'x', sizeof(longok) - 6);
	memcpy(longok + sizeof(longok) - 2, "\r\n", 2);
	assert_int_equal(smtp_reply_parse(longok, sizeof(longok), a, &r, &e), (long)sizeof(longok));
	assert_int_equal(strlen(r.lines[0]), sizeof(longok) - 6);
	int lcode;
	bool lmore;
	const char *lt;
	size_t ltl;
	assert_int_equal(smtp_reply_parse_line(longok, sizeof(longok) - 2, &lcode, &lmore, &lt, &ltl,
		&e), 0);
	char longl[SMTP_REPLY_PARSE_LINE_MAX];
	memcpy(longl, "250 ", 4);
	memset(longl + 4, 'x', sizeof(longl) - 4);
	assert_int_equal(smtp_reply_parse(longl, sizeof(longl), a, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_int_equal(smtp_reply_parse_line(longl, sizeof(longl) - 1, &lcode, &lmore, &lt, &ltl,
		&e), -1);
	/* many lines grow the array */
	char many[2000] = "";
	for (int i = 0; i < 20; i++)
		strcat(many, "250-x\r\n");
	strcat(many, "250 end\r\n");
	assert_true(smtp_reply_parse(many, strlen(many), a, &r, &e) > 0);
	assert_int_equal(r.n, 21);
	assert_string_equal(r.lines[20], "end");
	int code;
	bool more;
	const char *t;
	size_t tl;
	assert_int_equal(smtp_reply_parse_line("421-bye", 7, &code, &more, &t, &tl, &e), 0);
	assert_int_equal(code, 421);
	assert_true(more);
	assert_int_equal(tl, 3);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
