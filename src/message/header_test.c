/*
 * header_test.c: tests of header blocks (header.c), RFC 2047 encoded words
 * (rfc2047.c) and charset conversion (charset.c): the examples of RFC 2047
 * §8 first, then folding, line endings, broken lines, NULs and 8-bit bytes,
 * the header size limit at and past its value, and every way an encoded
 * word or a charset can be wrong.
 */
#include "message/message.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct arena *arena;

static int setup(void **state)
{
	arena = arena_new(4096, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&arena);
	return 0;
}

static struct message_headers parse(const char *s, size_t *used_r, unsigned *flags_r)
{
	struct message_headers h;
	unsigned flags;
	size_t used = message_headers_parse(arena, s, strlen(s), MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	if (used_r != NULL)
		*used_r = used;
	if (flags_r != NULL)
		*flags_r = flags;
	return h;
}

static const char *decode(const char *s)
{
	return message_decode_text(arena, s, strlen(s), NULL);
}

/* ---- header blocks ---- */

static void test_fields_crlf(void **state)
{
	const char *msg = "From: a@b.example\r\nSubject: hello\r\n world\r\n\r\nbody";
	size_t used;
	unsigned flags;
	struct message_headers h = parse(msg, &used, &flags);
	assert_int_equal(h.count, 2);
	assert_int_equal(used, strlen(msg) - 4);
	assert_int_equal(flags, 0);
	const struct message_header *f = message_header_find(&h, "SUBJECT", NULL);
	assert_non_null(f);
	assert_int_equal(f->name_len, 7);
	assert_memory_equal(f->value, " hello\r\n world", f->value_len);
	assert_int_equal(f->offset, 19);
	assert_int_equal(f->size, strlen("Subject: hello\r\n world\r\n"));
	assert_string_equal(message_header_unfold(arena, f->value, f->value_len, NULL), "hello world");
	assert_string_equal(message_header_get(arena, &h, "from"), "a@b.example");
	assert_null(message_header_get(arena, &h, "to"));
}

static void test_fields_lf_and_mixed(void **state)
{
	const char *msg = "A: 1\nB: 2\r\n\t3\nC:4\n\nbody";
	size_t used;
	struct message_headers h = parse(msg, &used, NULL);
	assert_int_equal(h.count, 3);
	assert_int_equal(used, strlen(msg) - 4);
	assert_string_equal(message_header_get(arena, &h, "b"), "2\t3");
	assert_string_equal(message_header_get(arena, &h, "c"), "4");
}

static void test_find_all(void **state)
{
	struct message_headers h = parse("Received: 1\nX: y\nreceived: 2\nRECEIVED: 3\n\n", NULL, NULL);
	const struct message_header *f = NULL;
	char seen[4] = { 0 };
	size_t n = 0;
	while ((f = message_header_find(&h, "Received", f)) != NULL)
		seen[n++] = f->value[f->value_len - 1];
	assert_int_equal(n, 3);
	assert_string_equal(seen, "123");
}

/* RFC 5322 §4.5 obsolete WSP before the colon; a line without a colon and
 * a name with spaces are kept as broken fields. */
static void test_broken_lines(void **state)
{
	unsigned flags;
	struct message_headers h = parse("Subject : hi\nnot a field\nFrom x@y  Thu: 1\n\n", NULL, &flags);
	assert_int_equal(h.count, 3);
	assert_string_equal(message_header_get(arena, &h, "subject"), "hi");
	assert_true(h.fields[1].broken);
	assert_true(h.fields[2].broken);
	assert_int_equal(h.fields[1].name_len, strlen("not a field"));
	assert_true(flags & MESSAGE_PART_BROKEN_HEADER);
	assert_false(message_header_is(&h.fields[1], "not a field"));
}

static void test_leading_continuation(void **state)
{
	struct message_headers h = parse(" folded: first\nA: b\n\n", NULL, NULL);
	assert_int_equal(h.count, 2);
	assert_true(h.fields[0].broken);  /* a name after leading WSP is not ftext */
	assert_string_equal(message_header_get(arena, &h, "a"), "b");
}

static void test_no_body(void **state)
{
	unsigned flags;
	size_t used;
	struct message_headers h = parse("A: b\nC: d", &used, &flags);
	assert_int_equal(h.count, 2);
	assert_int_equal(used, 9);
	assert_true(flags & MESSAGE_PART_NO_BODY);
	assert_string_equal(message_header_get(arena, &h, "c"), "d");
	h = parse("", &used, &flags);
	assert_int_equal(h.count, 0);
	assert_int_equal(used, 0);
}

static void test_empty_header(void **state)
{
	size_t used;
	struct message_headers h = parse("\r\nbody", &used, NULL);
	assert_int_equal(h.count, 0);
	assert_int_equal(used, 2);
}

static void test_nul_and_8bit(void **state)
{
	const char msg[] = "X-A: a\0b\nSubject: caf\xc3\xa9\n\n";
	struct message_headers h;
	unsigned flags;
	message_headers_parse(arena, msg, sizeof(msg) - 1, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	assert_int_equal(h.count, 2);
	size_t len;
	const char *v = message_header_unfold(arena, h.fields[0].value, h.fields[0].value_len, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "a\0b", 3);
	assert_string_equal(message_subject(arena, &h), "caf\xc3\xa9");  /* RFC 6532 */
}

/* The header limit: a block of exactly max bytes fits; one more byte ends
 * the header at the last whole line. */
static void test_header_limit(void **state)
{
	const char *msg = "A: 1\nB: 2\n\nbody";
	struct message_headers h;
	unsigned flags;
	size_t used = message_headers_parse(arena, msg, strlen(msg), 10, &h, &flags);
	assert_int_equal(h.count, 2);
	assert_int_equal(used, 11);
	assert_int_equal(flags, 0);
	used = message_headers_parse(arena, msg, strlen(msg), 9, &h, &flags);
	assert_int_equal(h.count, 1);
	assert_int_equal(used, 5);
	assert_true(flags & MESSAGE_PART_HEADER_TRUNCATED);
	assert_string_equal(message_header_get(arena, &h, "a"), "1");
}

/* ---- RFC 2047 ---- */

/* RFC 2047 §8, the table of encoded words in comments. */
static void test_rfc2047_section8_table(void **state)
{
	static const char *const cases[][2] = {
		{ "(=?ISO-8859-1?Q?a?=)", "(a)" },
		{ "(=?ISO-8859-1?Q?a?= b)", "(a b)" },
		{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)" },
		{ "(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)" },
		{ "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)" },
		{ "(=?ISO-8859-1?Q?a_b?=)", "(a b)" },
		{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(decode(cases[i][0]), cases[i][1]);
}

/* RFC 2047 §8, the example header. */
static void test_rfc2047_section8_header(void **state)
{
	const char *msg =
		"From: =?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>\r\n"
		"To: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>\r\n"
		"CC: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n"
		"Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
		"    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\r\n\r\n";
	struct message_headers h = parse(msg, NULL, NULL);
	assert_string_equal(message_subject(arena, &h), "If you can read this you understand the example.");
	const struct message_header *f = message_header_find(&h, "to", NULL);
	struct message_address_list l;
	assert_int_equal(message_address_parse(arena, f->value, f->value_len, 0, &l), 1);
	assert_string_equal(l.items[0].name, "Keld J\xc3\xb8rn Simonsen");
	assert_string_equal(l.items[0].name_raw, "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=");
	f = message_header_find(&h, "cc", NULL);
	message_address_parse(arena, f->value, f->value_len, 0, &l);
	assert_string_equal(l.items[0].name, "Andr\xc3\xa9 Pirard");
	f = message_header_find(&h, "from", NULL);
	message_address_parse(arena, f->value, f->value_len, 0, &l);
	assert_string_equal(l.items[0].name, "Keith Moore");
}

/* RFC 2231 §5: a language after "*" in the charset. */
static void test_rfc2047_language(void **state)
{
	assert_string_equal(decode("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
}

/* Adjacent words in one charset are joined before conversion, so a UTF-8
 * sequence split across two words comes out whole. */
static void test_rfc2047_split_sequence(void **state)
{
	/* U+00E9 is C3 A9: "ww==" is C3, "qQ==" is A9 */
	assert_string_equal(decode("=?utf-8?b?ww==?= =?utf-8?b?qQ==?="), "\xc3\xa9");
	assert_string_equal(decode("=?utf-8?q?=C3?= =?UTF-8?Q?=A9?="), "\xc3\xa9");
	/* a different charset flushes the first, which alone is invalid */
	assert_string_equal(decode("=?utf-8?q?=C3?= =?iso-8859-1?q?=E9?="), "\xef\xbf\xbd\xc3\xa9");
}

static void test_rfc2047_glued_and_text(void **state)
{
	assert_string_equal(decode("Re: =?utf-8?q?caf=C3=A9?= ok"), "Re: caf\xc3\xa9 ok");
	assert_string_equal(decode("x=?utf-8?q?y?=z"), "xyz");
	assert_string_equal(decode("=?utf-8?q?a?= b =?utf-8?q?c?="), "a b c");
	assert_string_equal(decode("=?utf-8?q?a b?="), "a b");  /* liberal: space inside */
	assert_string_equal(decode("=?utf-8?q?\?="), "");
}

/* What is not a valid word stays as written (§6.3). */
static void test_rfc2047_kept_raw(void **state)
{
	static const char *const raw[] = {
		"=?x-unknown-charset-zz?q?a?=",
		"=?utf-8?x?a?=",
		"=?utf-8?q?a",
		"=?\?q?a?=",
		"=?utf-8?q?",
		"=?",
		"?=",
		"=?utf 8?q?a?=",
		"=?../../etc//TRANSLIT?q?a?=",
		"=?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?q?a?=",
	};
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
		assert_string_equal(decode(raw[i]), raw[i]);
}

/* Bad escapes and bad base64 do not fail: Q keeps "=" as written, B skips
 * what is outside the alphabet. */
static void test_rfc2047_bad_content(void **state)
{
	assert_string_equal(decode("=?utf-8?q?a=zzb=4?="), "a=zzb=4");
	assert_string_equal(decode("=?utf-8?b?Y*W*J*j?="), "abc");
	assert_string_equal(decode("=?utf-8?b?YWJjZA?="), "abcd");  /* padding missing */
	assert_string_equal(decode("=?utf-8?q?=FF?="), "\xef\xbf\xbd");
}

static void test_8bit_replaced(void **state)
{
	assert_string_equal(decode("caf\xe9!"), "caf\xef\xbf\xbd!");
	assert_string_equal(decode("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  /* surrogate */
	assert_string_equal(decode("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
}

/* ---- charsets ---- */

static void test_charsets(void **state)
{
	struct buf out;
	buf_init(&out, 1024);
	assert_int_equal(message_charset_to_utf8("ISO-8859-1", "caf\xe9", 4, &out), 1);
	assert_string_equal(out.data, "caf\xc3\xa9");
	buf_reset(&out);
	assert_int_equal(message_charset_to_utf8("koi8-r", "\xf0\xd2\xc9", 3, &out), 1);
	assert_string_equal(out.data, "\xd0\x9f\xd1\x80\xd0\xb8");  /* "При" */
	buf_reset(&out);
	assert_int_equal(message_charset_to_utf8(NULL, "a\x80", 2, &out), 1);
	assert_string_equal(out.data, "a\xef\xbf\xbd");
	buf_reset(&out);
	assert_int_equal(message_charset_to_utf8("no-such-charset", "a\xc3\xa9\xff", 4, &out), 0);
	assert_string_equal(out.data, "a\xc3\xa9\xef\xbf\xbd");
	buf_reset(&out);
	/* an invalid sequence in the middle, and one cut by the end */
	assert_int_equal(message_charset_to_utf8("shift_jis", "a\x81\x20" "b\x82", 5, &out), 1);
	assert_string_equal(out.data, "a\xef\xbf\xbd b\xef\xbf\xbd");
	buf_free(&out);
}

static void test_charset_out_limit(void **state)
{
	struct buf out;
	buf_init(&out, 4);
	assert_int_equal(message_charset_to_utf8("iso-8859-1", "ab", 2, &out), 1);
	assert_int_equal(message_charset_to_utf8("iso-8859-1", "\xe9\xe9", 2, &out), -1);
	assert_true(out.len <= 4);
	buf_free(&out);
}

/* The end of a header block found in pieces, LF or CRLF. */
static void test_header_complete(void **state)
{
	(void)state;
	const char *crlf = "A: 1\r\nB: 2\r\n\r\nbody";
	assert_true(message_header_complete(crlf, strlen(crlf), 0));
	assert_false(message_header_complete(crlf, 13, 0));   /* up to "B: 2\r\n\r" */
	assert_true(message_header_complete(crlf, 16, 10));
	const char *lf = "A: 1\nB: 2\n\nbody";
	assert_true(message_header_complete(lf, strlen(lf), 0));
	assert_false(message_header_complete(lf, 10, 0));
	assert_false(message_header_complete("", 0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_complete),
		cmocka_unit_test_setup_teardown(test_fields_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields_lf_and_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leading_continuation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_and_8bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_section8_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_section8_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_language, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_split_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_glued_and_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_kept_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2047_bad_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_8bit_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_charsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_charset_out_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
