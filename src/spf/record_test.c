/*
 * record_test.c: SPF record syntax (record.c): RFC 7208's example records
 * (§A), every mechanism and modifier form, the errors that make a
 * permerror (§4.6: anywhere in the record), and the version check (§4.5).
 */
#include "spf/spf.h"

#include "core/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct spf_record *parse_ok(struct arena *a, const char *text)
{
	struct spf_record *r = NULL;
	const char *why = NULL;
	if (spf_record_parse(a, text, strlen(text), &r, &why) != 0)
		fail_msg("%s: %s", text, why);
	return r;
}

static void parse_bad(const char *text, size_t len)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_record *r = NULL;
	const char *why = NULL;
	if (spf_record_parse(a, text, len, &r, &why) != -1)
		fail_msg("accepted: %.*s", (int)len, text);
	assert_non_null(why);
	arena_free(&a);
}

#define BAD(s) parse_bad(s, strlen(s))

static void test_version(void **state)
{
	(void)state;
	assert_true(spf_record_is_spf("v=spf1", 6));
	assert_true(spf_record_is_spf("v=spf1 -all", 11));
	assert_true(spf_record_is_spf("V=SpF1 -all", 11));     /* §4.5 case-insensitive */
	assert_false(spf_record_is_spf("v=spf10", 7));
	assert_false(spf_record_is_spf("v=spf1mx", 8));        /* strings joined: no SP */
	assert_false(spf_record_is_spf("v=spf", 5));
	assert_false(spf_record_is_spf(" v=spf1", 7));
	assert_false(spf_record_is_spf("spf2.0/pra", 10));
}

/* RFC 7208 Appendix A records */
static void test_rfc_examples(void **state)
{
	(void)state;
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_record *r = parse_ok(a, "v=spf1 +all");
	assert_int_equal(r->nmechs, 1);
	assert_int_equal(r->mechs[0].kind, SPF_MECH_ALL);
	assert_int_equal(r->mechs[0].qualifier, SPF_PASS);

	r = parse_ok(a, "v=spf1 a -all");
	assert_int_equal(r->mechs[0].kind, SPF_MECH_A);
	assert_null(r->mechs[0].domain_spec);
	assert_int_equal(r->mechs[0].cidr4, 32);
	assert_int_equal(r->mechs[0].cidr6, 128);
	assert_int_equal(r->mechs[1].qualifier, SPF_FAIL);

	r = parse_ok(a, "v=spf1 a:example.org -all");
	assert_string_equal(r->mechs[0].domain_spec, "example.org");
	r = parse_ok(a, "v=spf1 mx -all");
	assert_int_equal(r->mechs[0].kind, SPF_MECH_MX);
	r = parse_ok(a, "v=spf1 mx:example.org -all");
	r = parse_ok(a, "v=spf1 mx mx:example.org -all");
	assert_int_equal(r->nmechs, 3);
	r = parse_ok(a, "v=spf1 mx/30 mx:example.org/30 -all");
	assert_int_equal(r->mechs[0].cidr4, 30);
	assert_int_equal(r->mechs[1].cidr4, 30);
	assert_string_equal(r->mechs[1].domain_spec, "example.org");
	r = parse_ok(a, "v=spf1 ptr -all");
	assert_int_equal(r->mechs[0].kind, SPF_MECH_PTR);
	r = parse_ok(a, "v=spf1 ip4:192.0.2.128/28 -all");
	assert_int_equal(r->mechs[0].kind, SPF_MECH_IP4);
	assert_int_equal(r->mechs[0].cidr4, 28);
	assert_memory_equal(r->mechs[0].addr, "\xc0\x00\x02\x80", 4);
	r = parse_ok(a, "v=spf1 include:example.com include:example.net -all");
	assert_int_equal(r->mechs[1].kind, SPF_MECH_INCLUDE);
	r = parse_ok(a, "v=spf1 redirect=example.org");
	assert_int_equal(r->nmechs, 0);
	assert_string_equal(r->redirect, "example.org");
	r = parse_ok(a, "v=spf1 mx:%{d}.example.com ~all exp=explain._spf.%{d}");
	assert_int_equal(r->mechs[1].qualifier, SPF_SOFTFAIL);
	assert_string_equal(r->exp, "explain._spf.%{d}");
	r = parse_ok(a, "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all");
	r = parse_ok(a, "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all");
	assert_int_equal(r->mechs[0].kind, SPF_MECH_EXISTS);
	arena_free(&a);
}

static void test_forms(void **state)
{
	(void)state;
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_record *r = parse_ok(a, "v=spf1");
	assert_int_equal(r->nmechs, 0);
	r = parse_ok(a, "v=spf1   a  -all ");                /* 1*SP, trailing *SP */
	assert_int_equal(r->nmechs, 2);
	r = parse_ok(a, "v=spf1 A:Example.COM/24//64 MX//0 ?ALL");
	assert_int_equal(r->mechs[0].cidr4, 24);
	assert_int_equal(r->mechs[0].cidr6, 64);
	assert_int_equal(r->mechs[1].cidr4, 32);
	assert_int_equal(r->mechs[1].cidr6, 0);
	assert_int_equal(r->mechs[2].qualifier, SPF_NEUTRAL);
	r = parse_ok(a, "v=spf1 a:foo:bar/baz.example.com ip6:2001:db8::/32 ip6:::1.1.1.1/0");
	assert_string_equal(r->mechs[0].domain_spec, "foo:bar/baz.example.com");
	assert_int_equal(r->mechs[1].cidr6, 32);
	r = parse_ok(a, "v=spf1 ip4:0.0.0.0/0 ip4:255.255.255.255/32 ip6:::/128");
	/* unknown modifiers are ignored (§6), in any position */
	r = parse_ok(a, "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all foo=%{l} bar=");
	assert_int_equal(r->nmechs, 2);
	r = parse_ok(a, "v=spf1 REDIRECT=example.com Exp=x.example.com");
	assert_non_null(r->redirect);
	assert_non_null(r->exp);
	arena_free(&a);
}

static void test_errors(void **state)
{
	(void)state;
	BAD("v=spf10");
	BAD("spf1 -all");
	BAD("v=spf1 ip4:1.2.3.4 -all moo");                 /* §4.6: anywhere */
	BAD("v=spf1 moo.cow/far_out=man:dog/cat");
	BAD("v=spf1 moo.cow:far_out=man:dog/cat");
	BAD("v=spf1 redirect:t2.example.com");              /* a modifier, not a mechanism */
	BAD("v=spf1 1up=foo");                              /* name begins with ALPHA */
	BAD("v=spf1 =all");
	BAD("v=spf1 -all.");
	BAD("v=spf1 -all:foobar");
	BAD("v=spf1 -all/8");
	BAD("v=spf1 ptr/0 -all");
	BAD("v=spf1 ptr:");
	BAD("v=spf1 a:");
	BAD("v=spf1 a/33");                                 /* ip4 cidr > 32 */
	BAD("v=spf1 a//129");
	BAD("v=spf1 a/24/64");
	BAD("v=spf1 a:foo-bar -all");
	BAD("v=spf1 a:abc.123");
	BAD("v=spf1 a:example.com:8080");
	BAD("v=spf1 include");
	BAD("v=spf1 include:");
	BAD("v=spf1 include:ip5.example.com/24");
	BAD("v=spf1 exists");
	BAD("v=spf1 exists:");
	BAD("v=spf1 exists:mail.example.com/24");
	BAD("v=spf1 ip4");
	BAD("v=spf1 ip4:1.2.3");                            /* §5.6/4 */
	BAD("v=spf1 ip4:1.2.3.4/33");
	BAD("v=spf1 ip4:1.2.3.4/032");                      /* leading zero */
	BAD("v=spf1 ip4:01.2.3.4");
	BAD("v=spf1 ip4:1.2.3.256");
	BAD("v=spf1 ip4:1.2.3.4//32");
	BAD("v=spf1 ip4:1.2.3.4:8080");
	BAD("v=spf1 ip6");
	BAD("v=spf1 ip6::CAFE::BABE");
	BAD("v=spf1 ip6:::1.1.1.1/129");
	BAD("v=spf1 ip6:::1.1.1.1//33");
	BAD("v=spf1 exp= -all");                            /* §6.2 erratum */
	BAD("v=spf1 exp=-all");
	BAD("v=spf1 redirect=");
	BAD("v=spf1 redirect=-all ?all");
	BAD("v=spf1 exp=a.example.com exp=b.example.com");  /* §6: at most once */
	BAD("v=spf1 redirect=a.example.com redirect=a.example.com");
	BAD("v=spf1 -all foo=%abc");
	BAD("v=spf1 -all exp=%{r}.example.com");            /* §7.1: r only in exp text */
	BAD("v=spf1 exists:%(ir).sbl.example.com");
	BAD("v=spf1 a:ctrl.example.com\rptr -all");         /* only SP separates */
	BAD("v=spf1 ip4:192.0.2.5\n include:x.example.com");
	BAD("v=spf1 a:\xef\xbb\xbfgarbage.example.net -all");
	BAD("v=spf1 \x80" "a:example.net -all");
	parse_bad("v=spf1 a:foo.example.com\0", 25);         /* a NUL in the record */
	parse_bad("v=spf1 -all\0 +all", 17);
	BAD("v=spf1 bogus");
	BAD("v=spf1 ++all");
}

static void test_limits(void **state)
{
	(void)state;
	/* SPF_RECORD_MAX: a record at the limit parses, one byte more does not */
	char rec[SPF_RECORD_MAX + 2];
	memset(rec, ' ', sizeof(rec));
	memcpy(rec, "v=spf1", 6);
	memcpy(rec + SPF_RECORD_MAX - 4, "-all", 4);
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_record *r;
	const char *why;
	assert_int_equal(spf_record_parse(a, rec, SPF_RECORD_MAX, &r, &why), 0);
	assert_int_equal(r->nmechs, 1);
	assert_int_equal(spf_record_parse(a, rec, SPF_RECORD_MAX + 1, &r, &why), -1);
	/* as many terms as fit */
	size_t n = 6;
	while (n + 2 <= SPF_RECORD_MAX) {
		memcpy(rec + n, " a", 2);
		n += 2;
	}
	assert_int_equal(spf_record_parse(a, rec, n, &r, &why), 0);
	assert_int_equal(r->nmechs, (n - 6) / 2);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
