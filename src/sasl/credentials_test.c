/*
 * credentials_test.c: deriving, encoding, decoding and verifying stored
 * credentials, every decoder failure, and the strict base64 and UTF-8
 * checks underneath.
 */
#include "sasl/internal.h"

#include "core/arena.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

static int derive_cheap(const char *pw, unsigned parts, struct sasl_credentials *c)
{
	return sasl_credentials_derive_with(pw, strlen(pw), parts, crypto_pwhash_OPSLIMIT_MIN,
		crypto_pwhash_MEMLIMIT_MIN, NULL, 0, 0, 0, c, NULL);
}

static void test_round_trip(void **state)
{
	struct sasl_credentials c, d;
	struct error e;
	struct arena *a = arena_new(1024, ARENA_SECRET);
	assert_int_equal(derive_cheap("correct horse", SASL_CRED_ALL, &c), 0);
	assert_int_equal(c.scram_sha1.iterations, SASL_SCRAM_SHA1_ITER);
	assert_int_equal(c.scram_sha256.iterations, SASL_SCRAM_SHA256_ITER);
	assert_int_equal(c.scram_sha256.salt_len, SASL_SCRAM_SALT_LEN);
	char *line = sasl_credentials_encode(&c, a);
	assert_non_null(line);
	assert_true(strncmp(line, "v1 argon2=$argon2id$v=19$", 25) == 0);
	assert_non_null(strstr(line, " scram-sha-1=4096,"));
	assert_non_null(strstr(line, " scram-sha-256=15000,"));
	assert_non_null(strstr(line, " cram-md5="));
	assert_null(strstr(line, "correct"));
	assert_int_equal(sasl_credentials_decode(line, strlen(line), &d, &e), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_int_equal(sasl_password_verify(&d, "correct horse", 13), 1);
	assert_int_equal(sasl_password_verify(&d, "correct horsE", 13), 0);
	assert_int_equal(sasl_password_verify(&d, "", 0), 0);
	/* each part alone */
	unsigned parts[] = {SASL_CRED_ARGON2, SASL_CRED_SCRAM_SHA1, SASL_CRED_SCRAM_SHA256, SASL_CRED_CRAM_MD5};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(derive_cheap("pw", parts[i], &c), 0);
		line = sasl_credentials_encode(&c, a);
		assert_int_equal(sasl_credentials_decode(line, strlen(line), &d, &e), 0);
		assert_memory_equal(&c, &d, sizeof(c));
		/* verify works from argon2 or SCRAM keys; CRAM-MD5 states alone cannot */
		assert_int_equal(sasl_password_verify(&d, "pw", 2), parts[i] != SASL_CRED_CRAM_MD5);
		assert_int_equal(sasl_password_verify(&d, "pX", 2), 0);
	}
	sasl_credentials_clear(&c);
	assert_null(sasl_credentials_encode(&c, a));
	arena_free(&a);
}

static void test_derive_errors(void **state)
{
	struct sasl_credentials c;
	struct error e;
	assert_int_equal(sasl_credentials_derive("", 0, SASL_CRED_ALL, &c, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(sasl_credentials_derive("a\0b", 3, SASL_CRED_ALL, &c, &e), -1);
	assert_int_equal(sasl_credentials_derive("a", 1, 0, &c, &e), -1);
	static char big[SASL_PASSWORD_MAX + 1];
	memset(big, 'p', sizeof(big));
	assert_int_equal(sasl_credentials_derive(big, sizeof(big), SASL_CRED_SCRAM_SHA1, &c, &e), -1);
	assert_int_equal(sasl_credentials_derive(big, SASL_PASSWORD_MAX, SASL_CRED_SCRAM_SHA1, &c, &e), 0);
	assert_int_equal(sasl_password_verify(&c, big, SASL_PASSWORD_MAX), 1);
}

/* tern's real argon2id costs, once: the string says what sasl.h promises. */
static void test_default_cost(void **state)
{
	struct sasl_credentials c;
	assert_int_equal(sasl_credentials_derive("pw", 2, SASL_CRED_ARGON2, &c, NULL), 0);
	char want[64];
	snprintf(want, sizeof(want), "$argon2id$v=19$m=%u,t=%u,p=1$", SASL_ARGON2_MEMLIMIT / 1024,
		SASL_ARGON2_OPSLIMIT);
	assert_true(strncmp(c.argon2, want, strlen(want)) == 0);
	assert_int_equal(sasl_password_verify(&c, "pw", 2), 1);
	sasl_dummy_verify("pw", 2);   /* must not abort */
}

static const char *const good =
	"v1 argon2=$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	" scram-sha-1=4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA="
	" scram-sha-256=10000,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	" cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==";

static void test_decode_good(void **state)
{
	struct sasl_credentials c;
	struct error e;
	assert_int_equal(sasl_credentials_decode(good, strlen(good), &c, &e), 0);
	assert_true(c.scram_sha1.present && c.scram_sha256.present && c.cram_md5_present);
	assert_int_equal(c.scram_sha256.iterations, 10000);
	assert_int_equal(c.scram_sha1.salt_len, 12);
	assert_string_equal(c.argon2,
		"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g");
	/* a line needs no NUL after it */
	assert_int_equal(sasl_credentials_decode("v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==xyz", 61, &c, &e), 0);
}

static void test_decode_failures(void **state)
{
	static const char *const bad[] = {
		"", "v1", "v1 ", "v2 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"V1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"v1x cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"v1  cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA== ",
		"v1\tcram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA== cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA== scram-sha-1=4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 md5=AAAAAAAAAAAAAAAAAAAAAA==",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA==,",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA=",
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAB==",   /* pad bits */
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAA==",   /* 17 bytes */
		"v1 cram-md5=AAAAAAAAAAAAAAAAAAAA AA==,AAAAAAAAAAAAAAAAAAAAAA==",
		"v1 scram-sha-1=4095,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=1000001,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=04096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=+4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=4096,QSXC,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",   /* 3-byte salt */
		"v1 scram-sha-1=4096,,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 scram-sha-1=4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,",
		"v1 scram-sha-1=4096,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,x",
		"v1 scram-sha-256=10000,QSXCR+Q6sek8bf92,AAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"v1 argon2=$argon2i$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
		"v1 argon2=$argon2id$v=16$m=8,t=1,p=1$c2FsdA$aGFzaA",
		"v1 argon2=$argon2id$v=19$m=2000000,t=1,p=1$c2FsdA$aGFzaA",
		"v1 argon2=$argon2id$v=19$m=8,t=65,p=1$c2FsdA$aGFzaA",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=2$c2FsdA$aGFzaA",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=1$c2FsdA",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=1$c2FsdA$",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=1$$aGFzaA",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA$x",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=1$c2FsdA==$aGFzaA",
		"v1 argon2=$argon2id$v=19$m=8,t=1,p=1,x=1$c2FsdA$aGFzaA",
		"v1 argon2=",
	};
	struct sasl_credentials c;
	struct error e;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xaa, sizeof(c));
		if (sasl_credentials_decode(bad[i], strlen(bad[i]), &c, &e) != -1)
			fail_msg("decoded: %s", bad[i]);
		assert_int_not_equal(e.kind, ERR_NONE);
		struct sasl_credentials zero;
		memset(&zero, 0, sizeof(zero));
		assert_memory_equal(&c, &zero, sizeof(c));   /* nothing partial left behind */
	}
	/* a NUL inside */
	assert_int_equal(sasl_credentials_decode("v1 cram-md5=AAAAAAAAAAAAAAAAAAAAAA==,AAAAAAAAAAAAAAAAAAAAAA=\0", 61, &c, &e), -1);
	/* the line length limit: at it, the content decides; one past is a limit error */
	static char line[SASL_CREDENTIALS_LINE_MAX + 2];
	memset(line, 'A', sizeof(line));
	assert_int_equal(sasl_credentials_decode(line, SASL_CREDENTIALS_LINE_MAX, &c, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(sasl_credentials_decode(line, SASL_CREDENTIALS_LINE_MAX + 1, &c, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
}

static void test_base64(void **state)
{
	char enc[16];
	unsigned char dec[8];
	assert_int_equal(base64_encode(enc, (const unsigned char *)"", 0), 0);
	assert_int_equal(base64_encode(enc, (const unsigned char *)"f", 1), 4);
	assert_string_equal(enc, "Zg==");
	base64_encode(enc, (const unsigned char *)"fo", 2);
	assert_string_equal(enc, "Zm8=");
	base64_encode(enc, (const unsigned char *)"foobar", 6);
	assert_string_equal(enc, "Zm9vYmFy");   /* RFC 4648 §10 */
	assert_int_equal(base64_decode(dec, sizeof(dec), "Zm9vYg==", 8), 4);
	assert_memory_equal(dec, "foob", 4);
	assert_int_equal(base64_decode(dec, sizeof(dec), "", 0), 0);
	assert_int_equal(base64_decode(dec, sizeof(dec), "Zm9vYg=", 7), -1);
	assert_int_equal(base64_decode(dec, sizeof(dec), "Zm9vYh==", 8), -1);
	assert_int_equal(base64_decode(dec, sizeof(dec), "Zm9=YmFy", 8), -1);
	assert_int_equal(base64_decode(dec, sizeof(dec), "Zm9 YmFy", 8), -1);
	assert_int_equal(base64_decode(dec, sizeof(dec), "Zm9vYmFyZm9v", 12), -1);   /* 9 > 8 */
	assert_int_equal(base64_decode(dec, sizeof(dec), "====", 4), -1);
	assert_int_equal(base64_decode(dec, sizeof(dec), "Z===", 4), -1);
}

static void test_utf8(void **state)
{
	assert_true(sasl_utf8_valid((const unsigned char *)"", 0));
	assert_true(sasl_utf8_valid((const unsigned char *)"Grüße, 日本, 😀", 21));
	assert_false(sasl_utf8_valid((const unsigned char *)"a\0b", 3));
	assert_false(sasl_utf8_valid((const unsigned char *)"\xc0\xaf", 2));       /* overlong */
	assert_false(sasl_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3));   /* surrogate */
	assert_false(sasl_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4));
	assert_false(sasl_utf8_valid((const unsigned char *)"\xe6\x97", 2));       /* cut */
	assert_false(sasl_utf8_valid((const unsigned char *)"\x80", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_derive_errors),
		cmocka_unit_test(test_default_cost),
		cmocka_unit_test(test_decode_good),
		cmocka_unit_test(test_decode_failures),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
