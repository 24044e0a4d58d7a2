/*
 * record_test.c: DMARC record parsing, with the records of RFC 7489
 * Appendix B.2 and the syntax rules of §6.3/§6.4.
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static enum dmarc_parse parse(const char *s, struct arena *a, struct dmarc_record *r)
{
	struct error err;
	return dmarc_record_parse(s, strlen(s), a, r, &err);
}

static void test_rfc7489_examples(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_record r;

	/* B.2.1 */
	assert_int_equal(parse("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com", a, &r),
	                 DMARC_PARSE_OK);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.aspf, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.ri, 86400);
	assert_int_equal(r.fo, DMARC_FO_0);
	assert_int_equal(r.rf, DMARC_RF_AFRF);
	assert_int_equal(r.nrua, 1);
	assert_string_equal(r.rua[0].scheme, "mailto");
	assert_string_equal(r.rua[0].mailto, "dmarc-feedback@example.com");
	assert_int_equal(r.rua[0].max_size, 0);

	/* B.2.3 (with the record split over lines as the RFC prints it) */
	assert_int_equal(parse("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
	                       "ruf=mailto:auth-reports@thirdparty.example.net", a, &r), DMARC_PARSE_OK);
	assert_int_equal(r.nruf, 1);
	assert_string_equal(r.ruf[0].mailto, "auth-reports@thirdparty.example.net");

	/* B.2.4: two URIs, a size limit, pct */
	assert_int_equal(parse("v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,"
	                       "mailto:tld-test@thirdparty.example.net!10m; pct=25", a, &r),
	                 DMARC_PARSE_OK);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.pct, 25);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[1].uri, "mailto:tld-test@thirdparty.example.net");
	assert_int_equal(r.rua[1].max_size, 10u << 20);
	assert_int_equal(r.tags, DMARC_TAG_P | DMARC_TAG_RUA | DMARC_TAG_PCT);
	arena_free(&a);
}

static void test_all_tags(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_record r;
	assert_int_equal(parse("v = DMARC1 ;P=Reject;sp=quarantine; np=reject ; adkim=s; aspf=S; pct=0;"
	                       "fo=1:d : s; rf=afrf; ri=3600; psd=y; ruf=mailto:f@example.com!2k, "
	                       "https://example.com/r; future=whatever;", a, &r), DMARC_PARSE_OK);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_int_equal(r.sp, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.np, DMARC_POLICY_REJECT);
	assert_int_equal(r.adkim, DMARC_ALIGN_STRICT);
	assert_int_equal(r.aspf, DMARC_ALIGN_STRICT);
	assert_int_equal(r.pct, 0);
	assert_int_equal(r.fo, DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S);
	assert_int_equal(r.ri, 3600);
	assert_int_equal(r.psd, DMARC_PSD_YES);
	assert_int_equal(r.nruf, 2);
	assert_int_equal(r.ruf[0].max_size, 2048);
	assert_string_equal(r.ruf[1].scheme, "https");
	assert_null(r.ruf[1].mailto);

	/* defaults: sp from p, np from sp */
	assert_int_equal(parse("v=DMARC1; p=reject; sp=none", a, &r), DMARC_PARSE_OK);
	assert_int_equal(r.np, DMARC_POLICY_NONE);
	assert_int_equal(parse("v=DMARC1;p=quarantine", a, &r), DMARC_PARSE_OK);
	assert_int_equal(r.sp, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.np, DMARC_POLICY_QUARANTINE);
	/* p= need not come second (DMARCbis) */
	assert_int_equal(parse("v=DMARC1; pct=50; p=reject", a, &r), DMARC_PARSE_OK);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	/* mailto with %-encoding and hfields */
	assert_int_equal(parse("v=DMARC1; p=none; rua=mailto:a%2cb@example.com?subject=x", a, &r),
	                 DMARC_PARSE_OK);
	assert_int_equal(r.nrua, 0);   /* "a,b@..." is two addresses: unusable */
	assert_int_equal(r.nbad_uris, 1);
	assert_int_equal(parse("v=DMARC1; p=none; rua=mailto:%64marc@example.com?subject=x", a, &r),
	                 DMARC_PARSE_OK);
	assert_string_equal(r.rua[0].mailto, "dmarc@example.com");
	arena_free(&a);
}

static void test_not_dmarc(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_record r;
	static const char *const not_dmarc[] = {
		"", "v=spf1 -all", "p=reject; v=DMARC1", "v=DMARC2; p=none", "v=dmarc1; p=none",
		"v=DMARC10; p=none", " v=DMARC1; p=none", "v=DMARC1 p=none",
	};
	for (size_t i = 0; i < sizeof(not_dmarc) / sizeof(not_dmarc[0]); i++) {
		if (parse(not_dmarc[i], a, &r) != DMARC_PARSE_NOT_DMARC)
			fail_msg("\"%s\" taken as DMARC", not_dmarc[i]);
	}
	arena_free(&a);
}

static void test_invalid(void **state)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_record r;
	static const char *const invalid[] = {
		"v=DMARC1",                        /* no p, no rua */
		"v=DMARC1; p=bogus",
		"v=DMARC1; p=none; sp=all",
		"v=DMARC1; p=none; adkim=x",
		"v=DMARC1; p=none; aspf=",
		"v=DMARC1; p=none; pct=101",
		"v=DMARC1; p=none; pct=-1",
		"v=DMARC1; p=none; pct=0100",
		"v=DMARC1; p=none; fo=2",
		"v=DMARC1; p=none; fo=",
		"v=DMARC1; p=none; rf=:",
		"v=DMARC1; p=none; ri=4294967296",
		"v=DMARC1; p=none; ri=1h",
		"v=DMARC1; p=none; np=maybe",
		"v=DMARC1; p=none; psd=x",
		"v=DMARC1; p=none; p=reject",       /* twice */
		"v=DMARC1; v=DMARC1; p=none",
		"v=DMARC1; p=none; garbage",        /* not a tag */
		"v=DMARC1; p=none; =x",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (parse(invalid[i], a, &r) != DMARC_PARSE_INVALID)
			fail_msg("\"%s\" not refused", invalid[i]);
	}
	/* a NUL inside */
	struct error err;
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=none\0x", 18, a, &r, &err), DMARC_PARSE_INVALID);
	arena_free(&a);
}

static void test_bad_p_with_rua(void **state)
{
	/* §6.6.3 step 6: bad or missing p=, or bad sp=, with a usable rua: p=none */
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_record r;
	assert_int_equal(parse("v=DMARC1; rua=mailto:r@example.com", a, &r), DMARC_PARSE_OK);
	assert_true(r.p_defaulted);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_int_equal(parse("v=DMARC1; p=hard; sp=reject; rua=mailto:r@example.com", a, &r),
	                 DMARC_PARSE_OK);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	/* an unusable rua does not save it */
	assert_int_equal(parse("v=DMARC1; p=hard; rua=nouri", a, &r), DMARC_PARSE_INVALID);
	arena_free(&a);
}

static void test_sizes(void **state)
{
	uint64_t x;
	assert_int_equal(dmarc_size_parse("10", 2, &x), 0);
	assert_int_equal(x, 10);
	assert_int_equal(dmarc_size_parse("1k", 2, &x), 0);
	assert_int_equal(x, 1024);
	assert_int_equal(dmarc_size_parse("3G", 2, &x), 0);
	assert_int_equal(x, 3ull << 30);
	assert_int_equal(dmarc_size_parse("1t", 2, &x), 0);
	assert_int_equal(x, 1ull << 40);
	assert_int_equal(dmarc_size_parse("", 0, &x), -1);
	assert_int_equal(dmarc_size_parse("k", 1, &x), -1);
	assert_int_equal(dmarc_size_parse("1x", 2, &x), -1);
	assert_int_equal(dmarc_size_parse("99999999999999999999", 20, &x), -1);
	assert_int_equal(dmarc_size_parse("16777216t", 9, &x), -1);   /* 2^64: overflow */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7489_examples),
		cmocka_unit_test(test_all_tags),
		cmocka_unit_test(test_not_dmarc),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_bad_p_with_rua),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
