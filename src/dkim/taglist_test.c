/*
 * taglist_test.c: tag-lists (RFC 6376 §3.2), DKIM-Signature fields (§3.5)
 * and key records (§3.6.1, RFC 8463 §4): the RFCs' own examples and the
 * errors that make a permerror.
 */
#include "dkim/dkim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static struct arena *A;

static int setup(void **state)
{
	A = arena_new(4096, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&A);
	return 0;
}

static struct dkim_signature sig_ok(const char *s)
{
	struct dkim_signature sig;
	const char *why = NULL;
	if (dkim_signature_parse(A, s, strlen(s), &sig, &why) != 0)
		fail_msg("%s: %s", s, why);
	return sig;
}

static const char *sig_bad(const char *s)
{
	struct dkim_signature sig;
	const char *why = NULL;
	if (dkim_signature_parse(A, s, strlen(s), &sig, &why) != -1)
		fail_msg("accepted: %s", s);
	assert_non_null(why);
	return why;
}

/* RFC 6376 Appendix A.2, the example signature. */
static const char rfc6376_a2[] =
	" v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
	"      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n"
	"      h=Received : From : To : Subject : Date : Message-ID;\r\n"
	"      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	"      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n"
	"        4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n"
	"        KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n"
	"        4bmp/YzhwvcubU4=;";

static void test_rfc6376_example(void **state)
{
	struct dkim_signature s = sig_ok(rfc6376_a2);
	assert_int_equal(s.version, 1);
	assert_int_equal(s.alg, DKIM_ALG_RSA_SHA256);
	assert_string_equal(s.selector, "brisbane");
	assert_string_equal(s.domain, "example.com");
	assert_int_equal(s.header_canon, DKIM_CANON_SIMPLE);
	assert_int_equal(s.body_canon, DKIM_CANON_SIMPLE);
	assert_string_equal(s.identity, "joe@football.example.com");
	assert_int_equal(s.nheaders, 6);
	assert_string_equal(s.headers[0], "Received");
	assert_string_equal(s.headers[5], "Message-ID");
	assert_int_equal(s.bh_len, 32);
	assert_int_equal(s.b_len, 128);
	assert_string_equal(s.b_text, "AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB"
	                    "4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut"
	                    "KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV4bmp/YzhwvcubU4=");
	/* b= value span, for removal when hashing (§3.7) */
	assert_memory_equal(rfc6376_a2 + s.b_value_start, "AuUo", 4);
	assert_memory_equal(rfc6376_a2 + s.b_value_end - 4, "bU4=", 4);
	assert_int_equal(rfc6376_a2[s.b_value_end], ';');
	assert_false(s.has_length);
}

static void test_optional_tags(void **state)
{
	struct dkim_signature s = sig_ok(
		"v=1; a=ed25519-sha256; c=relaxed; d=Example.COM; s=Sel; h=from:to; "
		"bh=AAAA; b=AAAA; l=123; t=1000; x=2000; q=dns/txt; z=From:a@b|To:c@d; foo=bar");
	assert_int_equal(s.alg, DKIM_ALG_ED25519_SHA256);
	assert_int_equal(s.header_canon, DKIM_CANON_RELAXED);
	assert_int_equal(s.body_canon, DKIM_CANON_SIMPLE);   /* §3.5 c=: body defaults to simple */
	assert_string_equal(s.domain, "example.com");
	assert_string_equal(s.selector, "sel");
	assert_string_equal(s.identity, "@example.com");     /* §3.5 i= default */
	assert_true(s.has_length);
	assert_int_equal(s.length, 123);
	assert_int_equal(s.timestamp, 1000);
	assert_int_equal(s.expiration, 2000);
	assert_string_equal(s.copied_headers, "From:a@b|To:c@d");
	s = sig_ok("v=1; a=rsa-sha1; d=a.example; s=s; h=From; bh=AAAA; b=AAAA;  \r\n ");
	assert_int_equal(s.alg, DKIM_ALG_RSA_SHA1);          /* parsed; refused by verify */
	s = sig_ok("v=1; a=hmac-sha3; d=a.example; s=s; h=From; bh=AAAA; b=AAAA");
	assert_int_equal(s.alg, DKIM_ALG_UNKNOWN);
	/* i= in a subdomain of d= is fine (§3.5) */
	s = sig_ok("v=1; a=rsa-sha256; d=example.com; i=x@mail.sub.example.com; s=s; h=From; "
	           "bh=AAAA; b=AAAA");
	/* bare LF folding, as in LF-stored messages */
	s = sig_ok("v=1; a=rsa-sha256; d=example.com; s=s;\n\th=From; bh=AAAA;\n b=AA\n AA");
	assert_int_equal(s.b_len, 3);
}

static void test_signature_errors(void **state)
{
	const char *base = "a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA";
	assert_non_null(strstr(sig_bad(base), "v="));
	assert_non_null(strstr(sig_bad("v=2; a=rsa-sha256; d=example.com; s=s; h=From; "
	                               "bh=AAAA; b=AAAA"), "version"));
	/* §3.2 duplicate tag */
	assert_non_null(strstr(sig_bad("v=1; a=rsa-sha256; d=example.com; d=example.com; s=s; "
	                               "h=From; bh=AAAA; b=AAAA"), "duplicate"));
	/* each required tag (§3.5) */
	sig_bad("v=1; d=example.com; s=s; h=From; bh=AAAA; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; s=s; h=From; bh=AAAA; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; h=From; bh=AAAA; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; bh=AAAA; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA");
	/* §5.4 From must be signed */
	assert_non_null(strstr(sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=To:Subject; "
	                               "bh=AAAA; b=AAAA"), "From"));
	/* §3.5 i= outside d= */
	assert_non_null(strstr(sig_bad("v=1; a=rsa-sha256; d=example.com; i=a@example.org; s=s; "
	                               "h=From; bh=AAAA; b=AAAA"), "i="));
	sig_bad("v=1; a=rsa-sha256; d=example.com; i=a@badexample.com; s=s; h=From; bh=AAAA; "
	        "b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; i=noat; s=s; h=From; bh=AAAA; b=AAAA");
	/* numbers, x= after t= */
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA; l=-1");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA; t=12a");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA; t=10; x=10");
	/* base64, canonicalization, query method */
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AA!A; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA; c=fancy");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA; c=simple/x");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From; bh=AAAA; b=AAAA; q=http");
	/* tag-list syntax */
	sig_bad("");
	sig_bad("v=1;; a=rsa-sha256");
	sig_bad("v 1");
	sig_bad("1v=1");
	sig_bad("v=1; a=rsa\x01sha256");
	sig_bad("v=1;\r\na=rsa-sha256");        /* a line break that is not folding */
	sig_bad("v=1; a=rsa-sha256; d=exa mple.com; s=s; h=From; bh=AAAA; b=AAAA");
	sig_bad("v=1; a=rsa-sha256; d=example.com; s=s; h=From::To; bh=AAAA; b=AAAA");
}

static void test_signature_limits(void **state)
{
	/* DKIM_MAX_SIGNED_HEADERS names in h= are fine, one more is not */
	char h[4096] = "";
	for (int i = 0; i < DKIM_MAX_SIGNED_HEADERS; i++)
		strcat(h, i == 0 ? "From" : ":To");
	char *s = arena_printf(A, "v=1; a=rsa-sha256; d=e.com; s=s; h=%s; bh=AAAA; b=AAAA", h);
	struct dkim_signature sig = sig_ok(s);
	assert_int_equal(sig.nheaders, DKIM_MAX_SIGNED_HEADERS);
	sig_bad(arena_printf(A, "v=1; a=rsa-sha256; d=e.com; s=s; h=%s:To; bh=AAAA; b=AAAA", h));
	/* DKIM_MAX_TAGS tags */
	char tags[2048] = "v=1; a=rsa-sha256; d=e.com; s=s; h=From; bh=AAAA; b=AAAA";
	for (int i = 7; i < DKIM_MAX_TAGS; i++)
		sprintf(tags + strlen(tags), "; x%d=1", i);
	sig_ok(tags);
	strcat(tags, "; y=1");
	assert_non_null(strstr(sig_bad(tags), "too many"));
}

static struct dkim_key key_ok(const char *s)
{
	struct dkim_key k;
	const char *why = NULL;
	if (dkim_key_parse(A, s, strlen(s), &k, &why) != 0)
		fail_msg("%s: %s", s, why);
	return k;
}

static void key_bad(const char *s)
{
	struct dkim_key k;
	const char *why = NULL;
	if (dkim_key_parse(A, s, strlen(s), &k, &why) != -1)
		fail_msg("accepted: %s", s);
	assert_non_null(why);
}

static void test_key_records(void **state)
{
	/* RFC 8463 Appendix A.2 */
	struct dkim_key k = key_ok("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	assert_int_equal(k.type, DKIM_KEY_ED25519);
	assert_int_equal(k.pubkey_len, 32);
	assert_false(k.revoked);
	assert_true(k.service_email);
	assert_true(k.hash_sha256);
	/* RFC 6376 Appendix C, split in strings as DNS would give them joined */
	k = key_ok("v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt"
	           "IxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhi"
	           "tdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB");
	assert_int_equal(k.type, DKIM_KEY_RSA);
	assert_int_equal(k.pubkey_len, 162);
	/* flags, hashes, services, notes, unknown tags */
	k = key_ok("k=rsa; h=sha1 : sha256; t=y:s:q; s=email; n=hello; zz=top; p=AAAA");
	assert_true(k.testing);
	assert_true(k.strict);
	assert_true(k.hash_sha256);
	assert_string_equal(k.notes, "hello");
	k = key_ok("h=sha1; s=tlsrpt; p=AAAA");
	assert_false(k.hash_sha256);
	assert_false(k.service_email);
	k = key_ok("k=dsa; p=AAAA");
	assert_int_equal(k.type, DKIM_KEY_UNKNOWN);
	/* §3.6.1: empty p= is a revoked key */
	k = key_ok("v=DKIM1; p=");
	assert_true(k.revoked);
	k = key_ok("p=;");
	assert_true(k.revoked);

	key_bad("k=rsa; v=DKIM1; p=AAAA");      /* v= not first */
	key_bad("v=DKIM2; p=AAAA");
	key_bad("v=DKIM1; k=rsa");              /* no p= */
	key_bad("v=DKIM1; p=AAAA; p=AAAA");     /* duplicate */
	key_bad("v=DKIM1; p=A$AA");
	key_bad("");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6376_example),
		cmocka_unit_test(test_optional_tags),
		cmocka_unit_test(test_signature_errors),
		cmocka_unit_test(test_signature_limits),
		cmocka_unit_test(test_key_records),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
