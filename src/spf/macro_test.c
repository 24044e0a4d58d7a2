/*
 * macro_test.c: RFC 7208 §7 macros (macro.c): the RFC's own examples of
 * §7.4, URL escaping, the syntax errors of §7.1, domain-spec endings, name
 * truncation (§7.3) and domain validity (§4.3).
 */
#include "spf/internal.h"

#include "core/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct spf_macro_ctx rfc_ctx(bool v6)
{
	struct spf_macro_ctx c = {
		.sender = "strong-bad@email.example.com", .local = "strong-bad",
		.sender_dom = "email.example.com", .domain = "email.example.com",
		.helo = "mx.example.org", .receiver = "mx.example.net", .client = "192.0.2.3",
		.now = 1700000000,
	};
	if (v6) {
		static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
		                                0, 0, 0, 0, 0, 0, 0xcb, 0x01};
		c.ipv6 = true;
		c.client = "2001:db8::cb01";
		memcpy(c.ip, ip6, 16);
	} else {
		c.ip[0] = 192, c.ip[1] = 0, c.ip[2] = 2, c.ip[3] = 3;
	}
	return c;
}

static void expands(enum spf_macro_mode mode, bool v6, const char *in, const char *want)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_macro_ctx c = rfc_ctx(v6);
	const char *why = NULL;
	assert_int_equal(spf_macro_check(in, strlen(in), mode, &why), 0);
	char *got = spf_macro_expand(a, in, mode, &c, &why);
	assert_non_null(got);
	assert_string_equal(got, want);
	arena_free(&a);
}

/* RFC 7208 §7.4, the first table */
static void test_rfc_letters(void **state)
{
	(void)state;
	expands(SPF_MACRO_DOMAIN, false, "%{s}", "strong-bad@email.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{o}", "email.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{d}", "email.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{d4}", "email.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{d3}", "email.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{d2}", "example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{d1}", "com");
	expands(SPF_MACRO_DOMAIN, false, "%{dr}", "com.example.email");
	expands(SPF_MACRO_DOMAIN, false, "%{d2r}", "example.email");
	expands(SPF_MACRO_DOMAIN, false, "%{l}", "strong-bad");
	expands(SPF_MACRO_DOMAIN, false, "%{l-}", "strong.bad");
	expands(SPF_MACRO_DOMAIN, false, "%{lr}", "strong-bad");
	expands(SPF_MACRO_DOMAIN, false, "%{lr-}", "bad.strong");
	expands(SPF_MACRO_DOMAIN, false, "%{l1r-}", "strong");
}

/* RFC 7208 §7.4, the second table, and its IPv6 example */
static void test_rfc_strings(void **state)
{
	(void)state;
	expands(SPF_MACRO_DOMAIN, false, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
	        "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
	        "3.2.0.192.in-addr.strong.lp._spf.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{d2}.trusted-domains.example.net",
	        "example.com.trusted-domains.example.net");
	expands(SPF_MACRO_DOMAIN, true, "%{ir}.%{v}._spf.%{d2}",
	        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

static void test_escapes_and_exp(void **state)
{
	(void)state;
	/* §7.1: "%%", "%_", "%-" */
	expands(SPF_MACRO_DOMAIN, false, "a%%b%_c%-d.example.com", "a%b c%20d.example.com");
	/* §7.3: uppercase letters are URL-escaped (RFC 3986 unreserved kept) */
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_macro_ctx c = rfc_ctx(false);
	const char *why;
	c.local = "~jack&jill=up-a_b3.c";
	assert_string_equal(spf_macro_expand(a, "l=%{L}", SPF_MACRO_EXP, &c, &why),
	                    "l=~jack%26jill%3Dup-a_b3.c");
	arena_free(&a);
	/* exp-only letters and spaces in explanations */
	expands(SPF_MACRO_EXP, false, "%{c} via %{r} at %{t}", "192.0.2.3 via mx.example.net at 1700000000");
	expands(SPF_MACRO_EXP, true, "%{c} is %{v}", "2001:db8::cb01 is ip6");
	expands(SPF_MACRO_DOMAIN, false, "%{h}.%{p}", "mx.example.org.unknown");
	/* more digits than parts: all of them; several delimiters */
	expands(SPF_MACRO_DOMAIN, false, "%{d99}", "email.example.com");
	expands(SPF_MACRO_DOMAIN, false, "%{l2r+-}", "bad.strong");
	expands(SPF_MACRO_DOMAIN, false, "%{d99999999999999999999}", "email.example.com");
}

static void bad(enum spf_macro_mode mode, const char *in)
{
	const char *why = NULL;
	assert_int_equal(spf_macro_check(in, strlen(in), mode, &why), -1);
	assert_non_null(why);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	bad(SPF_MACRO_DOMAIN, "%");             /* §7.1: lone % */
	bad(SPF_MACRO_DOMAIN, "a%b");
	bad(SPF_MACRO_DOMAIN, "%{");
	bad(SPF_MACRO_DOMAIN, "%{d");
	bad(SPF_MACRO_DOMAIN, "%{x}");          /* unknown letter */
	bad(SPF_MACRO_DOMAIN, "%{d0}");         /* §7.3: digit must be nonzero */
	bad(SPF_MACRO_DOMAIN, "%{d2r;}");       /* not a delimiter */
	bad(SPF_MACRO_DOMAIN, "%{c}");          /* §7.1: c r t only in exp */
	bad(SPF_MACRO_DOMAIN, "%{r}");
	bad(SPF_MACRO_DOMAIN, "%{t}");
	bad(SPF_MACRO_DOMAIN, "a b");           /* SP only in explain-string */
	bad(SPF_MACRO_EXP, "caf\xc3\xa9");      /* §3.1: ASCII only */
	bad(SPF_MACRO_EXP, "a\tb");
	const char *why;
	assert_int_equal(spf_macro_check("%{c} %{r} %{t}", 14, SPF_MACRO_EXP, &why), 0);
	assert_int_equal(spf_macro_check("%{c}", 4, SPF_MACRO_UNKNOWN, &why), 0);
	assert_int_equal(spf_macro_check("", 0, SPF_MACRO_DOMAIN, &why), 0);
}

static void spec(const char *s, int want)
{
	const char *why = NULL;
	assert_int_equal(spf_domain_spec_check(s, strlen(s), &why), want);
}

/* §7.1 domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static void test_domain_spec(void **state)
{
	(void)state;
	spec("example.com", 0);
	spec("example.com.", 0);
	spec("foo.example.xn--zckzah", 0);
	spec("foo:bar/baz.example.com", 0);
	spec("%{d}", 0);
	spec("%{ir}.%{v}._spf.%{d2}", 0);
	spec("x.1-2", 0);                       /* toplabel's second form */
	spec("a.%%", 0);                        /* ends in a macro-expand */
	spec("", -1);
	spec("foo-bar", -1);                    /* no "." toplabel */
	spec("museum", -1);
	spec("museum.", -1);
	spec("abc.123", -1);                    /* all-numeric toplabel */
	spec("111.222.33.44", -1);
	spec("example.-com", -1);
	spec("example.com-", -1);
	spec("example.com:8080", -1);
	spec("example.com/24", -1);
	spec("-all", -1);
	spec("foo%.example.com", -1);
}

static void test_truncate_and_valid(void **state)
{
	(void)state;
	char name[400];
	/* 8 labels of 29 + 7 dots + "foobar." + ".example.com" = 258 > 253 */
	strcpy(name, "foobar");
	for (int i = 0; i < 8; i++)
		strcat(name, ".somewhat.long.exp.example.com");
	strcat(name, ".example.com.");
	spf_name_truncate(name);
	assert_int_equal(strlen(name), 251);
	assert_true(strncmp(name, "somewhat.", 9) == 0);
	strcpy(name, "short.example.com.");
	spf_name_truncate(name);
	assert_string_equal(name, "short.example.com");

	assert_true(spf_domain_valid("example.com"));
	assert_true(spf_domain_valid("example.com."));
	assert_false(spf_domain_valid("com"));              /* §4.3: multi-label */
	assert_false(spf_domain_valid("[192.0.2.1]"));      /* domain literal */
	assert_false(spf_domain_valid("a..example.com"));   /* empty label */
	assert_false(spf_domain_valid(""));
	char label[80];
	memset(label, 'a', 63);
	strcpy(label + 63, ".example.com");
	assert_true(spf_domain_valid(label));               /* 63: at the limit */
	memset(label, 'a', 64);
	strcpy(label + 64, ".example.com");
	assert_false(spf_domain_valid(label));              /* 64: one past */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_letters),
		cmocka_unit_test(test_rfc_strings),
		cmocka_unit_test(test_escapes_and_exp),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_domain_spec),
		cmocka_unit_test(test_truncate_and_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
