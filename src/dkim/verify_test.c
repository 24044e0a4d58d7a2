/*
 * verify_test.c: verification (RFC 6376 §6) of the RFCs' example messages —
 * RFC 6376 Appendix A.2 with the key of Appendix C, RFC 8463 Appendix A.3
 * (Ed25519 and RSA, from ../shared/external-tests/dkim-dkimpy-data) — and
 * every result a signature can get, with keys supplied by a lookup function
 * instead of DNS.
 */
#include "dkim/internal.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/test_external.h"

struct fake_record {
	const char *name;
	enum dns_status status;
	const char *txt;        /* NULL: no record */
	const char *txt2;       /* a second record, or NULL */
};

static const struct fake_record *records;
static int lookups;

static void fake_lookup(void *ctx, struct arena *a, const char *name, struct dkim_txt_answer *ans)
{
	lookups++;
	memset(ans, 0, sizeof(*ans));
	ans->status = DNS_NXDOMAIN;
	for (const struct fake_record *r = records; r->name != NULL; r++) {
		if (strcmp(r->name, name) != 0)
			continue;
		ans->status = r->status;
		if (r->status == DNS_BOGUS || r->status == DNS_TEMPFAIL)
			ans->error = "test says so";
		const char **texts = arena_alloc(a, 2 * sizeof(*texts));
		size_t *lens = arena_alloc(a, 2 * sizeof(*lens));
		if (r->txt != NULL) {
			texts[ans->n] = r->txt;
			lens[ans->n++] = strlen(r->txt);
		}
		if (r->txt2 != NULL) {
			texts[ans->n] = r->txt2;
			lens[ans->n++] = strlen(r->txt2);
		}
		ans->texts = texts;
		ans->lens = lens;
	}
}

/* RFC 8463 Appendix A.2 */
#define BRISBANE_KEY "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define RFC8463_RSA_KEY "v=DKIM1; " RSA_KEY_TAGS
#define RSA_KEY_TAGS "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"

static const struct fake_record rfc8463_records[] = {
	{"brisbane._domainkey.football.example.com", DNS_OK, BRISBANE_KEY, NULL},
	{"test._domainkey.football.example.com", DNS_OK, RFC8463_RSA_KEY, NULL},
	{NULL, 0, NULL, NULL},
};

static struct dkim_verification verify(struct arena *a, const char *msg, size_t n, int64_t now)
{
	struct dkim_verify_opts o = {.lookup = fake_lookup, .now = now};
	struct dkim_verification v;
	dkim_verify(a, msg, n, &o, &v);
	return v;
}

static char *read_external(const char *name, size_t *len_r)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/dkim-dkimpy-data/%s", test_external_dir(), name);
	return test_read_file(path, len_r);
}

/* RFC 8463 Appendix A.3: the message signed with Ed25519 (brisbane) and RSA
 * (test), simple/simple, stored with LF line endings. */
static void test_rfc8463_example(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	size_t n;
	char *msg = read_external("rfc6376.signed.msg", &n);
	records = rfc8463_records;
	struct dkim_verification v = verify(a, msg, n, 1527915362 + 60);
	assert_int_equal(v.n, 2);
	for (size_t i = 0; i < 2; i++)
		if (v.results[i].status != DKIM_PASS)
			fail_msg("signature %zu: %s", i, v.results[i].reason);
	assert_string_equal(v.results[0].algorithm, "ed25519-sha256");
	assert_string_equal(v.results[1].algorithm, "rsa-sha256");
	assert_int_equal(v.results[1].key_bits, 1024);
	assert_string_equal(dkim_result_authres(a, &v.results[0]),
	                    "dkim=pass header.d=football.example.com header.s=brisbane "
	                    "header.a=ed25519-sha256 header.b=\"9/dsDChY\"");
	assert_string_equal(dkim_result_authres(a, &v.results[1]),
	                    "dkim=pass header.d=football.example.com header.s=test "
	                    "header.a=rsa-sha256 header.b=icKcLSEZ");
	assert_false(v.results[0].body_length_limited);

	/* the same message with CRLF line endings */
	struct buf crlf;
	buf_init(&crlf, BUF_UNBOUNDED);
	for (size_t i = 0; i < n; i++)
		buf_append(&crlf, msg[i] == '\n' ? "\r\n" : msg + i, msg[i] == '\n' ? 2 : 1);
	v = verify(a, crlf.data, crlf.len, 1527915362 + 60);
	assert_int_equal(v.results[0].status, DKIM_PASS);
	assert_int_equal(v.results[1].status, DKIM_PASS);

	/* a changed body fails both; a changed signed header too */
	char *p = strstr(crlf.data, "hungry");
	p[0] = 'H';
	v = verify(a, crlf.data, crlf.len, 1527915362 + 60);
	assert_int_equal(v.results[0].status, DKIM_FAIL);
	assert_non_null(strstr(v.results[0].reason, "body hash"));
	assert_int_equal(v.results[1].status, DKIM_FAIL);
	p[0] = 'h';
	p = strstr(crlf.data, "dinner");
	p[0] = 'D';
	v = verify(a, crlf.data, crlf.len, 1527915362 + 60);
	assert_int_equal(v.results[0].status, DKIM_FAIL);
	assert_string_equal(v.results[0].reason, "signature did not verify");
	assert_string_equal(dkim_result_authres(a, &v.results[0]),
	                    "dkim=fail reason=\"signature did not verify\" "
	                    "header.d=football.example.com header.s=brisbane "
	                    "header.a=ed25519-sha256 header.b=\"9/dsDChY\"");
	p[0] = 'd';
	buf_free(&crlf);

	/* From, Subject and Date are oversigned there: one more From fails */
	char *more = arena_printf(a, "From: Mallory <m@example.org>\n%s", msg);
	v = verify(a, more, strlen(more), 1527915362 + 60);
	assert_int_equal(v.results[0].status, DKIM_FAIL);
	/* an unsigned header added does not matter */
	more = arena_printf(a, "Received: from somewhere\n%s", msg);
	v = verify(a, more, strlen(more), 1527915362 + 60);
	assert_int_equal(v.results[0].status, DKIM_PASS);
	free(msg);
	arena_free(&a);
}

/* RFC 6376 Appendix A.2, with the public key of Appendix C. */
static const char rfc6376_msg[] =
	"DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
	"      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n"
	"      h=Received : From : To : Subject : Date : Message-ID;\r\n"
	"      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	"      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n"
	"        4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n"
	"        KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n"
	"        4bmp/YzhwvcubU4=;\r\n"
	"Received: from client1.football.example.com  [192.0.2.1]\r\n"
	"      by submitserver.example.com with SUBMISSION;\r\n"
	"      Fri, 11 Jul 2003 21:01:54 -0700 (PDT)\r\n"
	"From: Joe SixPack <joe@football.example.com>\r\n"
	"To: Suzie Q <suzie@shopping.example.net>\r\n"
	"Subject: Is dinner ready?\r\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game. Are you hungry yet?\r\n"
	"\r\n"
	"Joe.\r\n";

static const struct fake_record rfc6376_records[] = {
	{"brisbane._domainkey.example.com", DNS_OK,
	 "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt"
	 "IxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhi"
	 "tdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB", NULL},
	{NULL, 0, NULL, NULL},
};

static void test_rfc6376_example(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	records = rfc6376_records;
	struct dkim_verification v = verify(a, rfc6376_msg, strlen(rfc6376_msg), 0);
	assert_int_equal(v.n, 1);
	if (v.results[0].status != DKIM_PASS)
		fail_msg("%s", v.results[0].reason);
	assert_string_equal(v.results[0].identity, "joe@football.example.com");
	arena_free(&a);
}

/* A message with one signature whose tags are given, from the RFC 8463
 * example: good enough to reach every early check. */
static const char *with_sig(struct arena *a, const char *tags)
{
	return arena_printf(a, "DKIM-Signature: %s\r\nFrom: a@example.com\r\n\r\nbody\r\n", tags);
}

static struct dkim_result one(struct arena *a, const char *tags, int64_t now)
{
	const char *m = with_sig(a, tags);
	struct dkim_verification v = verify(a, m, strlen(m), now);
	assert_int_equal(v.n, 1);
	return v.results[0];
}

static const struct fake_record misc_records[] = {
	{"nx._domainkey.example.com", DNS_NXDOMAIN, NULL, NULL},
	{"nodata._domainkey.example.com", DNS_NODATA, NULL, NULL},
	{"temp._domainkey.example.com", DNS_TEMPFAIL, NULL, NULL},
	{"bogus._domainkey.example.com", DNS_BOGUS, NULL, NULL},
	{"revoked._domainkey.example.com", DNS_OK, "v=DKIM1; k=rsa; p=", NULL},
	{"ed._domainkey.example.com", DNS_OK, BRISBANE_KEY, NULL},
	{"rsa._domainkey.example.com", DNS_OK, RFC8463_RSA_KEY, NULL},
	{"sha1only._domainkey.example.com", DNS_OK, "h=sha1; " RSA_KEY_TAGS, NULL},
	{"web._domainkey.example.com", DNS_OK, "s=web; p=AAAA", NULL},
	{"strict._domainkey.example.com", DNS_OK, "t=s; " RSA_KEY_TAGS, NULL},
	{"garbage._domainkey.example.com", DNS_OK, "hello world", "v=spf1 -all"},
	{"two._domainkey.example.com", DNS_OK, "not a key", RFC8463_RSA_KEY},
	{"badkey._domainkey.example.com", DNS_OK, "k=rsa; p=AAAA", NULL},
	{"dsa._domainkey.example.com", DNS_OK, "k=dsa; p=AAAA", NULL},
	{NULL, 0, NULL, NULL},
};

#define SIG(sel, extra) "v=1; a=rsa-sha256; d=example.com; s=" sel "; h=From; " \
	"bh=AAAA; b=AAAA" extra

static void test_results(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	records = misc_records;
	struct dkim_result r;

	r = one(a, "v=1; a=rsa-sha256; d=example.com; s=x; h=To; bh=AAAA; b=AAAA", 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "From"));
	/* best effort Authentication-Results fields from a bad field */
	assert_string_equal(dkim_result_authres(a, &r),
	                    "dkim=permerror reason=\"bad signature field: From is not signed "
	                    "(h= lacks from)\" header.d=example.com header.s=x header.a=rsa-sha256");

	r = one(a, "v=1; a=rsa-sha1; d=example.com; s=rsa; h=From; bh=AAAA; b=AAAA", 0);
	assert_int_equal(r.status, DKIM_POLICY);
	r = one(a, "v=1; a=rsa-md5; d=example.com; s=rsa; h=From; bh=AAAA; b=AAAA", 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "rsa-md5"));

	/* x= in the past; t= too far in the future; within the skew is fine */
	r = one(a, SIG("rsa", "; t=100; x=200"), 1000);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "expired"));
	r = one(a, SIG("rsa", "; t=5000"), 1000);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "future"));
	r = one(a, SIG("rsa", "; t=1100"), 1000);
	if (r.status != DKIM_FAIL)
		fail_msg("%s", r.reason);
	assert_int_equal(r.status, DKIM_FAIL);          /* got to the body hash */

	r = one(a, SIG("nx", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "no key record"));
	r = one(a, SIG("nodata", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("temp", ""), 0);
	assert_int_equal(r.status, DKIM_TEMPERROR);
	r = one(a, SIG("bogus", ""), 0);
	assert_int_equal(r.status, DKIM_TEMPERROR);     /* DNSSEC bogus */
	assert_non_null(strstr(r.reason, "bogus"));
	r = one(a, SIG("revoked", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "revoked"));
	r = one(a, SIG("ed", ""), 0);                    /* rsa signature, ed25519 key */
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("sha1only", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("web", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("dsa", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("strict", "; i=@sub.example.com"), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("strict", "; i=@example.com"), 0);
	assert_int_equal(r.status, DKIM_FAIL);
	r = one(a, SIG("garbage", ""), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	r = one(a, SIG("two", ""), 0);                   /* the record that parses is used */
	assert_int_equal(r.status, DKIM_FAIL);
	/* l= longer than the body */
	r = one(a, SIG("rsa", "; l=1000"), 0);
	assert_int_equal(r.status, DKIM_PERMERROR);

	/* the body hash matches, the key bytes are no key */
	r = one(a, "v=1; a=rsa-sha256; d=example.com; s=badkey; h=From; c=simple/relaxed; "
	        "bh=Ck5SoRNWUpSR4X0COv7R5ub2pUTtl6xz4dTFz++ji4M=; b=AAAA", 0);
	assert_int_equal(r.status, DKIM_PERMERROR);
	assert_non_null(strstr(r.reason, "no usable public key"));
	arena_free(&a);
}

/* RFC 8301 §3.2: an RSA key under 1024 bits is refused (policy). */
static void test_weak_rsa(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	assert_non_null(pkey);
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pkey, &der);
	unsigned bits;
	assert_int_equal(dkim_crypto_verify(DKIM_KEY_RSA, DKIM_HASH_SHA256, der, (size_t)len,
	                                    "x", 1, (const unsigned char *)"x", 1, &bits),
	                 DKIM_CRYPTO_WEAKKEY);
	assert_int_equal(bits, 512);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
}

static void test_limits(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	records = misc_records;
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	for (int i = 0; i < DKIM_MAX_SIGNATURES + 3; i++)
		buf_appendf(&m, "DKIM-Signature: %s\r\n", SIG("nx", ""));
	buf_append_str(&m, "From: a@example.com\r\n\r\nbody\r\n");
	lookups = 0;
	struct dkim_verification v = verify(a, m.data, m.len, 0);
	assert_int_equal(v.n, DKIM_MAX_SIGNATURES);
	assert_int_equal(v.skipped, 3);
	assert_int_equal(lookups, DKIM_MAX_SIGNATURES);
	struct dkim_verify_opts o = {.lookup = fake_lookup, .max_signatures = 2};
	dkim_verify(a, m.data, m.len, &o, &v);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.skipped, DKIM_MAX_SIGNATURES + 1);
	buf_free(&m);

	/* no signature at all */
	v = verify(a, "From: a@b\r\n\r\nx\r\n", 16, 0);
	assert_int_equal(v.n, 0);
	/* no header/body separator, empty message */
	v = verify(a, "", 0, 0);
	assert_int_equal(v.n, 0);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8463_example),
		cmocka_unit_test(test_rfc6376_example),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_weak_rsa),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
