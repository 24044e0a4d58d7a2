/*
 * sign_test.c: signing (RFC 6376 §5) checked by our verifier: the RFC 8463
 * Ed25519 key (RFC 8032 §7.1 test 1) against its published record, dkimpy's
 * RSA test key against its record, generated keys against the records
 * dkim_txt_record makes, several selectors at once, oversigning and folding.
 */
#include "dkim/internal.h"

#include "core/base64.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/test_external.h"

/* name -> record, for the fake lookup */
static const char *rec_name[4], *rec_txt[4];
static size_t nrec;

static void fake_lookup(void *ctx, struct arena *a, const char *name, struct dkim_txt_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	ans->status = DNS_NXDOMAIN;
	for (size_t i = 0; i < nrec; i++) {
		if (strcmp(rec_name[i], name) != 0)
			continue;
		ans->status = DNS_OK;
		ans->texts = &rec_txt[i];
		size_t *len = arena_alloc(a, sizeof(*len));
		*len = strlen(rec_txt[i]);
		ans->lens = len;
		ans->n = 1;
	}
}

static void add_record(const char *name, const char *txt)
{
	rec_name[nrec] = name;
	rec_txt[nrec++] = txt;
}

static char *read_external(const char *name, size_t *len_r)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/dkim-dkimpy-data/%s", test_external_dir(), name);
	return test_read_file(path, len_r);
}

/* Signs msg, prepends the fields and verifies the result; returns the fields. */
static char *sign_verify(struct arena *a, const char *msg, size_t n,
                         const struct dkim_signer *s, size_t ns, struct dkim_verification *v)
{
	struct buf out;
	struct error err;
	buf_init(&out, BUF_UNBOUNDED);
	if (dkim_sign(msg, n, s, ns, 1700000000, &out, &err) < 0)
		fail_msg("sign: %s", err.msg);
	char *fields = arena_strdup(a, out.data);
	buf_append(&out, msg, n);
	struct dkim_verify_opts o = {.lookup = fake_lookup, .now = 1700000000};
	dkim_verify(a, out.data, out.len, &o, v);
	buf_free(&out);
	assert_int_equal(v->n, ns);
	for (size_t i = 0; i < ns; i++)
		if (v->results[i].status != DKIM_PASS)
			fail_msg("signature %zu: %s: %s", i, v->results[i].reason, fields);
	return fields;
}

/* Lines of the fields are at most 78 characters (RFC 5322 §2.1.1). */
static void check_folding(const char *fields)
{
	for (const char *p = fields; *p != '\0';) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		if (e - p > 78)
			fail_msg("line of %d characters: %.*s", (int)(e - p), (int)(e - p), p);
		p = e + 2;
	}
}

/* RFC 8032 §7.1 test 1 secret key (the RFC 8463 example key), as PKCS#8 PEM. */
static struct dkim_private_key *rfc8032_key(void)
{
	size_t n;
	char *seed64 = read_external("rfc8032_7_1.key", &n);
	unsigned char der[48] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b,
	                         0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
	while (n > 0 && (seed64[n - 1] == '\n' || seed64[n - 1] == '\r'))
		n--;
	assert_int_equal(base64_decode(der + 16, 32, seed64, n), 32);
	free(seed64);
	char b64[80], pem[200];
	base64_encode(b64, der, sizeof(der));
	snprintf(pem, sizeof(pem), "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n",
	         b64);
	struct dkim_private_key *key = NULL;
	struct error err;
	if (dkim_private_key_parse(pem, strlen(pem), &key, &err) < 0)
		fail_msg("%s", err.msg);
	return key;
}

static void test_rfc8463_key(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dkim_private_key *key = rfc8032_key();
	assert_int_equal(dkim_private_key_type(key), DKIM_KEY_ED25519);
	/* the record of RFC 8463 Appendix A.2 */
	assert_string_equal(dkim_txt_record(a, key),
	                    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	nrec = 0;
	add_record("brisbane._domainkey.football.example.com", dkim_txt_record(a, key));
	size_t n;
	char *msg = read_external("rfc6376.msg", &n);
	struct dkim_signer s = {.domain = "football.example.com", .selector = "brisbane",
	                        .key = key};
	struct dkim_verification v;
	char *fields = sign_verify(a, msg, n, &s, 1, &v);
	check_folding(fields);
	assert_non_null(strstr(fields, "a=ed25519-sha256;"));
	assert_non_null(strstr(fields, "c=relaxed/relaxed;"));
	assert_non_null(strstr(fields, "t=1700000000;"));
	/* From, To, Subject, Date, Message-ID occur once and are oversigned;
	 * Cc, Reply-To, In-Reply-To, References, Content-Type are absent and
	 * listed once; Bcc, Sender and the others are absent and not listed. */
	const struct dkim_signature *sig = v.results[0].sig;
	const char *want[] = {"From", "From", "To", "To", "Cc", "Reply-To", "References",
	                      "In-Reply-To", "Subject", "Subject", "Date", "Date", "Message-ID",
	                      "Message-ID", "Content-Type"};
	assert_int_equal(sig->nheaders, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sig->nheaders; i++)
		assert_string_equal(sig->headers[i], want[i]);
	/* the body hash of RFC 8463's message under relaxed canonicalization
	 * (the RFC's simple bh= is 4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=) */
	assert_int_equal(sig->bh_len, 32);

	/* adding a second From breaks it (oversigned) */
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	buf_appendf(&m, "%sFrom: x@evil.example\r\n%s", fields, msg);
	struct dkim_verify_opts o = {.lookup = fake_lookup, .now = 1700000000};
	dkim_verify(a, m.data, m.len, &o, &v);
	assert_int_equal(v.results[0].status, DKIM_FAIL);
	/* an added Cc too (absent but listed) */
	buf_reset(&m);
	buf_appendf(&m, "%sCc: x@evil.example\r\n%s", fields, msg);
	dkim_verify(a, m.data, m.len, &o, &v);
	assert_int_equal(v.results[0].status, DKIM_FAIL);
	/* whitespace changes survive relaxed/relaxed */
	buf_reset(&m);
	buf_appendf(&m, "%s%s", fields, msg);
	char *p = strstr(m.data, "Subject: ");
	p[8] = '\t';
	p = strstr(m.data, "We lost");
	p[2] = '\t';
	dkim_verify(a, m.data, m.len, &o, &v);
	assert_int_equal(v.results[0].status, DKIM_PASS);
	buf_free(&m);
	free(msg);
	dkim_private_key_free(&key);
	arena_free(&a);
}

/* dkimpy's RSA test key (the RSA key of RFC 8463 Appendix A) against its
 * record, and two selectors at once. */
static void test_rsa_and_multiple(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	size_t n;
	char *txt = read_external("test.txt", &n);
	while (n > 0 && (txt[n - 1] == '\n' || txt[n - 1] == '\r'))
		txt[--n] = '\0';
	struct error err;
	struct dkim_private_key *rsa = NULL, *ed = rfc8032_key();
	char path[4096];
	snprintf(path, sizeof(path), "%s/dkim-dkimpy-data/test.private", test_external_dir());
	if (dkim_private_key_load(path, &rsa, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(dkim_private_key_algorithm(rsa), "rsa-sha256");
	nrec = 0;
	add_record("test._domainkey.example.com", txt);
	add_record("brisbane._domainkey.example.com", dkim_txt_record(a, ed));
	char *msg = read_external("test.message", &n);
	struct dkim_signer s[2] = {
		{.domain = "example.com", .selector = "test", .key = rsa, .expiration_seconds = 3600},
		{.domain = "example.com", .selector = "brisbane", .key = ed},
	};
	struct dkim_verification v;
	char *fields = sign_verify(a, msg, n, s, 2, &v);
	check_folding(fields);
	assert_non_null(strstr(fields, "x=1700003600;"));
	assert_string_equal(v.results[0].selector, "test");
	assert_string_equal(v.results[1].selector, "brisbane");
	free(txt);
	free(msg);
	dkim_private_key_free(&rsa);
	dkim_private_key_free(&ed);
	arena_free(&a);
}

static void test_generated_keys(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct buf pem;
	struct error err;
	const char *msg = "From: a@example.org\nTo: b@example.net\nSubject: hi\n\nbody\n\n\n";
	for (int rsa = 0; rsa <= 1; rsa++) {
		buf_init(&pem, BUF_UNBOUNDED);
		assert_int_equal(rsa ? dkim_generate_rsa(2048, &pem, &err)
		                     : dkim_generate_ed25519(&pem, &err), 0);
		assert_non_null(strstr(pem.data, "-----BEGIN PRIVATE KEY-----"));   /* PKCS#8 */
		struct dkim_private_key *key = NULL;
		if (dkim_private_key_parse(pem.data, pem.len, &key, &err) < 0)
			fail_msg("%s", err.msg);
		const char *txt = dkim_txt_record(a, key);
		assert_non_null(strstr(txt, rsa ? "v=DKIM1; k=rsa; p=MII" : "v=DKIM1; k=ed25519; p="));
		nrec = 0;
		add_record("sel._domainkey.example.org", txt);
		struct dkim_signer s = {.domain = "example.org", .selector = "sel", .key = key};
		struct dkim_verification v;
		check_folding(sign_verify(a, msg, strlen(msg), &s, 1, &v));
		dkim_private_key_free(&key);
		buf_free_secret(&pem);
	}
	/* too small, and no key at all */
	buf_init(&pem, BUF_UNBOUNDED);
	assert_int_equal(dkim_generate_rsa(512, &pem, &err), -1);
	EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, weak, NULL, NULL, 0, NULL, NULL);
	char *p;
	long len = BIO_get_mem_data(bio, &p);
	struct dkim_private_key *key = NULL;
	assert_int_equal(dkim_private_key_parse(p, (size_t)len, &key, &err), -1);
	assert_non_null(strstr(err.msg, "512"));
	BIO_free(bio);
	EVP_PKEY_free(weak);
	assert_int_equal(dkim_private_key_parse("hello", 5, &key, &err), -1);
	buf_free(&pem);
	arena_free(&a);
}

static void test_sign_errors(void **state)
{
	struct dkim_private_key *key = rfc8032_key();
	struct dkim_signer s = {.domain = "example.org", .selector = "sel", .key = key};
	struct buf out;
	struct error err;
	buf_init(&out, BUF_UNBOUNDED);
	const char *msg = "To: b@example.net\r\n\r\nbody\r\n";
	assert_int_equal(dkim_sign(msg, strlen(msg), &s, 1, 0, &out, &err), -1);
	assert_non_null(strstr(err.msg, "From"));
	assert_int_equal(out.len, 0);
	buf_free(&out);
	dkim_private_key_free(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8463_key),
		cmocka_unit_test(test_rsa_and_multiple),
		cmocka_unit_test(test_generated_keys),
		cmocka_unit_test(test_sign_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
