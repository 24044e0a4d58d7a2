/*
 * decode_test.c: tests of the transfer-encoding decoders (decode.c):
 * base64 with the RFC 4648 §10 vectors, quoted-printable with each rule of
 * RFC 2045 §6.7, every input fed whole and one byte at a time (the
 * streaming contract), malformed input kept or skipped as documented, and
 * the output maximum exactly at and one byte short of the decoded size.
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

/* Decodes in whole and byte by byte; both must give want (want_len bytes). */
static void check(enum message_encoding enc, const char *in, const char *want, size_t want_len)
{
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(message_decode(enc, in, strlen(in), &out), 0);
	if (out.len != want_len || memcmp(out.data, want, want_len) != 0)
		fail_msg("\"%s\": got \"%s\" (%zu), want \"%s\"", in, out.data, out.len, want);
	buf_reset(&out);
	struct message_decoder d;
	message_decoder_init(&d, enc);
	for (size_t i = 0; in[i] != '\0'; i++)
		assert_int_equal(message_decoder_feed(&d, in + i, 1, &out), 0);
	assert_int_equal(message_decoder_finish(&d, &out), 0);
	if (out.len != want_len || memcmp(out.data, want, want_len) != 0)
		fail_msg("\"%s\" byte by byte: got \"%s\" (%zu), want \"%s\"", in, out.data, out.len, want);
	buf_free(&out);
}

#define CHECK(enc, in, want) check(enc, in, want, sizeof(want) - 1)

/* RFC 4648 §10. */
static void test_base64_rfc4648(void **state)
{
	CHECK(MESSAGE_ENC_BASE64, "", "");
	CHECK(MESSAGE_ENC_BASE64, "Zg==", "f");
	CHECK(MESSAGE_ENC_BASE64, "Zm8=", "fo");
	CHECK(MESSAGE_ENC_BASE64, "Zm9v", "foo");
	CHECK(MESSAGE_ENC_BASE64, "Zm9vYg==", "foob");
	CHECK(MESSAGE_ENC_BASE64, "Zm9vYmE=", "fooba");
	CHECK(MESSAGE_ENC_BASE64, "Zm9vYmFy", "foobar");
}

/* RFC 2045 §6.8: line breaks and characters outside the alphabet are
 * ignored; missing padding and padding in the middle are tolerated. */
static void test_base64_liberal(void **state)
{
	CHECK(MESSAGE_ENC_BASE64, "Zm9v\r\nYmFy\r\n", "foobar");
	CHECK(MESSAGE_ENC_BASE64, "Zm9v YmFy", "foobar");
	CHECK(MESSAGE_ENC_BASE64, "Zm9vYg", "foob");
	CHECK(MESSAGE_ENC_BASE64, "Zg==Zm8=", "ffo");
	CHECK(MESSAGE_ENC_BASE64, "Z", "");
	CHECK(MESSAGE_ENC_BASE64, "Zm9v!YmFy", "foobar");
	CHECK(MESSAGE_ENC_BASE64, "/+/+", "\xff\xef\xfe");
	struct message_decoder d;
	struct buf out;
	buf_init(&out, 64);
	message_decoder_init(&d, MESSAGE_ENC_BASE64);
	message_decoder_feed(&d, "Zm9v\r\n", 6, &out);
	assert_false(d.invalid);
	message_decoder_feed(&d, "Y*", 2, &out);
	assert_true(d.invalid);
	buf_free(&out);
}

/* RFC 2045 §6.7 rules (1) to (5). */
static void test_qp_rules(void **state)
{
	CHECK(MESSAGE_ENC_QP, "a=3Db=3d", "a=b=");                    /* (1), lowercase too */
	CHECK(MESSAGE_ENC_QP, "plain text!", "plain text!");         /* (2) */
	CHECK(MESSAGE_ENC_QP, "a  \r\nb\t\nc ", "a\r\nb\nc");         /* (3) trailing WSP */
	CHECK(MESSAGE_ENC_QP, "a=20\r\nb", "a \r\nb");                /* (3) encoded WSP stays */
	CHECK(MESSAGE_ENC_QP, "line\r\nbreak\n", "line\r\nbreak\n");  /* (4) */
	CHECK(MESSAGE_ENC_QP, "soft=\r\nbreak=\nhere", "softbreakhere");  /* (5) */
	CHECK(MESSAGE_ENC_QP, "pad= \t\r\nded", "padded");            /* (3)+(5): padded soft break */
	CHECK(MESSAGE_ENC_QP, "caf=C3=A9", "caf\xc3\xa9");
	CHECK(MESSAGE_ENC_QP, "end=", "end=");
	CHECK(MESSAGE_ENC_QP, "end=\r", "end");
}

/* Note 1 of §6.7: malformed escapes are kept as written. */
static void test_qp_bad_escapes(void **state)
{
	CHECK(MESSAGE_ENC_QP, "a=ZZb", "a=ZZb");
	CHECK(MESSAGE_ENC_QP, "a=4", "a=4");
	CHECK(MESSAGE_ENC_QP, "a=4G", "a=4G");
	CHECK(MESSAGE_ENC_QP, "a==41", "a=A");
	CHECK(MESSAGE_ENC_QP, "a= b", "a= b");
	CHECK(MESSAGE_ENC_QP, "a= =41", "a= A");
	CHECK(MESSAGE_ENC_QP, "a=\rb", "ab");
}

/* Whitespace longer than the decoder holds back (80 bytes) is written in
 * whole holds before a line end is seen: of 200 trailing spaces, the last
 * 40 are dropped. Text after the whitespace keeps all of it. */
static void test_qp_long_whitespace(void **state)
{
	char in[300], want[300];
	memset(in, ' ', 200);
	strcpy(in + 200, "x");
	check(MESSAGE_ENC_QP, in, in, 201);
	strcpy(in + 200, "\n");
	memset(want, ' ', 160);
	want[160] = '\n';
	check(MESSAGE_ENC_QP, in, want, 161);
}

static void test_identity(void **state)
{
	CHECK(MESSAGE_ENC_7BIT, "a=3D\r\n", "a=3D\r\n");
	CHECK(MESSAGE_ENC_8BIT, "caf\xc3\xa9", "caf\xc3\xa9");
	CHECK(MESSAGE_ENC_BINARY, "x", "x");
	CHECK(MESSAGE_ENC_UNKNOWN, "Zm9v", "Zm9v");
}

/* The output maximum: exactly the decoded size fits; one less fails with
 * whole units only. */
static void test_output_limit(void **state)
{
	struct buf out;
	buf_init(&out, 6);
	assert_int_equal(message_decode(MESSAGE_ENC_BASE64, "Zm9vYmFy", 8, &out), 0);
	assert_int_equal(out.len, 6);
	buf_free(&out);
	buf_init(&out, 5);
	assert_int_equal(message_decode(MESSAGE_ENC_BASE64, "Zm9vYmFy", 8, &out), -1);
	assert_int_equal(out.len, 3);
	buf_free(&out);
	buf_init(&out, 3);
	assert_int_equal(message_decode(MESSAGE_ENC_QP, "a=42c", 5, &out), 0);
	assert_string_equal(out.data, "aBc");
	buf_free(&out);
	buf_init(&out, 2);
	assert_int_equal(message_decode(MESSAGE_ENC_QP, "a=42c", 5, &out), -1);
	assert_string_equal(out.data, "aB");
	buf_free(&out);
}

/* message_part_text: transfer decoding, then the charset. */
static void test_part_text(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	const char *msg = "Content-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n";
	struct message *m = message_parse(a, msg, strlen(msg), NULL);
	struct buf out;
	buf_init(&out, 100);
	assert_int_equal(message_part_text(m, m->root, &out), 1);
	assert_string_equal(out.data, "caf\xc3\xa9\r\n");
	buf_free(&out);
	msg = "Content-Type: text/plain; charset=x-nope\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nYWL/\r\n";
	m = message_parse(a, msg, strlen(msg), NULL);
	buf_init(&out, 100);
	assert_int_equal(message_part_text(m, m->root, &out), 0);
	assert_string_equal(out.data, "ab\xef\xbf\xbd");
	buf_free(&out);
	/* a "base64" text part that is plain text is kept as written */
	msg = "Content-Transfer-Encoding: base64\r\n\r\n... not base64 ...\r\n";
	m = message_parse(a, msg, strlen(msg), NULL);
	buf_init(&out, 100);
	assert_int_equal(message_part_text(m, m->root, &out), 1);
	assert_string_equal(out.data, "... not base64 ...\r\n");
	buf_free(&out);
	buf_init(&out, 3);
	assert_int_equal(message_part_text(m, m->root, &out), -1);
	buf_free(&out);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_liberal),
		cmocka_unit_test(test_qp_rules),
		cmocka_unit_test(test_qp_bad_escapes),
		cmocka_unit_test(test_qp_long_whitespace),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_output_limit),
		cmocka_unit_test(test_part_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
