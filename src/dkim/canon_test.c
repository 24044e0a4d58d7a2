/*
 * canon_test.c: canonicalization, RFC 6376 §3.4, with the examples of
 * §3.4.5, the empty-body hashes, bare LF input, l= counting, and streaming
 * in chunks of every size giving the same hash as one piece.
 */
#include "dkim/dkim.h"

#include "core/base64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static char *canon_hdr(enum dkim_canon c, const char *field)
{
	static char out[1024];
	struct buf b;
	buf_init(&b, 1024);
	assert_int_equal(dkim_canon_header(c, field, strlen(field), true, &b), 0);
	strcpy(out, b.data);
	buf_free(&b);
	return out;
}

/* The base64 body hash of body fed in chunks of `chunk` bytes (0: at once). */
static char *body_hash(enum dkim_canon c, const char *body, size_t chunk, int64_t limit,
                       uint64_t *len_r)
{
	static char out[100];
	struct dkim_body_hash *bh = dkim_body_hash_new(c, DKIM_HASH_SHA256, limit);
	size_t n = strlen(body);
	if (chunk == 0)
		chunk = n;
	for (size_t i = 0; i < n; i += chunk)
		dkim_body_hash_feed(bh, body + i, n - i < chunk ? n - i : chunk);
	unsigned char d[64];
	size_t dl;
	dkim_body_hash_finish(bh, d, &dl, len_r);
	dkim_body_hash_free(&bh);
	assert_int_equal(dl, 32);
	base64_encode(out, d, dl);
	return out;
}

/* The base64 SHA-256 of s, via a simple-canonicalization run of s that
 * changes nothing (s ends in one CRLF, no trailing empty lines). */
static char *sha_of(const char *s)
{
	static char out[100];
	strcpy(out, body_hash(DKIM_CANON_SIMPLE, s, 0, -1, NULL));
	return out;
}

/* §3.4.5 example: header fields */
static void test_rfc_example_headers(void **state)
{
	assert_string_equal(canon_hdr(DKIM_CANON_RELAXED, "A: X\r\n"), "a:X\r\n");
	assert_string_equal(canon_hdr(DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
	assert_string_equal(canon_hdr(DKIM_CANON_SIMPLE, "A: X\r\n"), "A: X\r\n");
	assert_string_equal(canon_hdr(DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n"),
	                    "B : Y\t\r\n\tZ  \r\n");
	/* bare LF becomes CRLF in simple, vanishes when unfolding in relaxed */
	assert_string_equal(canon_hdr(DKIM_CANON_SIMPLE, "B : Y\n\tZ\n"), "B : Y\r\n\tZ\r\n");
	assert_string_equal(canon_hdr(DKIM_CANON_RELAXED, "Subject:\n  hello   world \n"),
	                    "subject:hello world\r\n");
	/* a field without its line ending (last line of a message) gets one */
	assert_string_equal(canon_hdr(DKIM_CANON_RELAXED, "To: x"), "to:x\r\n");
	assert_string_equal(canon_hdr(DKIM_CANON_RELAXED, "Empty:\r\n"), "empty:\r\n");
}

/* §3.4.5 example: bodies */
static void test_rfc_example_body(void **state)
{
	const char *body = " C \r\nD \t E\r\n\r\n\r\n";
	char want[100];
	strcpy(want, sha_of(" C\r\nD E\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_RELAXED, body, 0, -1, NULL), want);
	strcpy(want, sha_of(" C \r\nD \t E\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, body, 0, -1, NULL), want);
}

static void test_empty_body(void **state)
{
	uint64_t len;
	/* §3.4.3: the simple empty body is one CRLF: SHA-256("\r\n") */
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "", 0, -1, &len),
	                    "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	assert_int_equal(len, 2);
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "\r\n\r\n\r\n", 0, -1, NULL),
	                    "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	/* §3.4.4 (errata 1384): the relaxed empty body is empty: SHA-256("") */
	assert_string_equal(body_hash(DKIM_CANON_RELAXED, "", 0, -1, &len),
	                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	assert_int_equal(len, 0);
	assert_string_equal(body_hash(DKIM_CANON_RELAXED, " \r\n\t\r\n\r\n", 0, -1, NULL),
	                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

static void test_line_endings(void **state)
{
	char want[100];
	/* bare LF reads as CRLF; a missing final line ending is added */
	strcpy(want, sha_of("a\r\nb\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "a\nb\n", 0, -1, NULL), want);
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "a\r\nb", 0, -1, NULL), want);
	assert_string_equal(body_hash(DKIM_CANON_RELAXED, "a \nb\t\n\n", 0, -1, NULL), want);
	/* a bare CR is data */
	strcpy(want, sha_of("a\rb\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "a\rb", 0, -1, NULL), want);
	strcpy(want, sha_of("a\r\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "a\r", 0, -1, NULL), want);
	/* empty lines inside the body stay */
	strcpy(want, sha_of("a\r\n\r\n\r\nb\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_RELAXED, "a\n  \n\nb\n\n", 0, -1, NULL), want);
}

static void test_streaming(void **state)
{
	const char *body = "Hi.\r\n\r\nWe  lost the game. \t Are you hungry yet?\r\n \r\n"
	                   "Joe.\r\n\r\r\n\r\n\r\n";
	for (int c = DKIM_CANON_SIMPLE; c <= DKIM_CANON_RELAXED; c++) {
		char whole[100];
		strcpy(whole, body_hash(c, body, 0, -1, NULL));
		for (size_t chunk = 1; chunk < strlen(body); chunk++)
			assert_string_equal(body_hash(c, body, chunk, -1, NULL), whole);
	}
}

static void test_length_limit(void **state)
{
	uint64_t len;
	char want[100];
	/* l= counts canonical bytes: "Hi.\r\n" of relaxed "Hi. \r\n\r\nX" */
	strcpy(want, sha_of("Hi.\r\n"));
	assert_string_equal(body_hash(DKIM_CANON_RELAXED, "Hi. \r\n\r\nX\r\n", 0, 5, &len), want);
	assert_int_equal(len, 10);    /* "Hi.\r\n\r\nX\r\n": the rest is there, unsigned */
	/* a limit inside a line */
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "abcdef\r\n", 3, 3, &len),
	                    "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");   /* SHA-256("abc") */
	assert_int_equal(len, 8);
	/* l=0: nothing is hashed */
	assert_string_equal(body_hash(DKIM_CANON_SIMPLE, "abc\r\n", 0, 0, NULL),
	                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example_headers),
		cmocka_unit_test(test_rfc_example_body),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_length_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
