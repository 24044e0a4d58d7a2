/*
 * mtasts_test.c: the MTA-STS record and policy parsers and MX matching
 * (parse.c), with the examples of RFC 8461.
 */
#include "mtasts/mtasts.h"

#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int record(const char *txt, struct mtasts_record *r)
{
	struct error e;
	return mtasts_record_parse(txt, strlen(txt), r, &e);
}

static void test_record(void **state)
{
	struct mtasts_record r;
	/* RFC 8461 §3.1 example */
	assert_int_equal(record("v=STSv1; id=20160831085700Z;", &r), 0);
	assert_string_equal(r.id, "20160831085700Z");
	assert_int_equal(record("v=STSv1;id=abc", &r), 0);
	assert_string_equal(r.id, "abc");
	assert_int_equal(record("v=STSv1 ; id=x1 ; ext=foo", &r), 0);
	assert_string_equal(r.id, "x1");
	assert_int_equal(record("v=STSv1; id=123456789012345678901234567890AB", &r), 0);
	/* bad ones */
	assert_int_equal(record("v=STSv1; id=123456789012345678901234567890ABC", &r), -1);
	assert_int_equal(record("v=STSv1; id=a-b", &r), -1);
	assert_int_equal(record("v=STSv1; id=", &r), -1);
	assert_int_equal(record("v=STSv1;", &r), -1);
	assert_int_equal(record("id=abc; v=STSv1", &r), -1);
	assert_int_equal(record("v=STSv2; id=abc", &r), -1);
	assert_int_equal(record("v=STSv1x; id=abc", &r), -1);
	assert_int_equal(record("v=STSv1; id=a; id=b", &r), -1);
	assert_int_equal(record("v=STSv1; noequals", &r), -1);
	assert_true(mtasts_record_is_sts("v=STSv1", 7));
	assert_false(mtasts_record_is_sts("v=spf1 -all", 11));
}

static int policy(const char *text, struct mtasts_policy *p, struct error *e)
{
	return mtasts_policy_parse(text, strlen(text), p, e);
}

static void test_policy(void **state)
{
	struct mtasts_policy p;
	struct error e;
	/* RFC 8461 §3.2 example */
	const char *ex = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	                 "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
	assert_int_equal(policy(ex, &p, &e), 0);
	assert_int_equal(p.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 3);
	assert_string_equal(p.mx[1], "*.example.net");
	/* LF endings, spaces, unknown keys, upper case mx */
	assert_int_equal(policy("version:STSv1\nmode:  testing \nmx: MX.Example.ORG.\nfoo: bar\nmax_age:0", &p, &e), 0);
	assert_int_equal(p.mode, MTASTS_MODE_TESTING);
	assert_int_equal(p.max_age, 0);
	assert_string_equal(p.mx[0], "mx.example.org");
	assert_int_equal(policy("version: STSv1\nmode: none\nmax_age: 86400\n", &p, &e), 0);
	assert_int_equal(p.mode, MTASTS_MODE_NONE);
	/* errors */
	assert_int_equal(policy("version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", &p, &e), -1);
	assert_int_equal(policy("mode: enforce\nmx: a.b\nmax_age: 1\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmax_age: 1\n", &p, &e), -1);
	assert_non_null(strstr(e.msg, "no mx"));
	assert_int_equal(policy("version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: a.b\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: a_b.c\nmax_age: 1\n", &p, &e), -1);
	assert_int_equal(policy("version: STSv1\nmode enforce\n", &p, &e), -1);
}

static void test_match(void **state)
{
	/* RFC 8461 §4.1 examples */
	assert_true(mtasts_pattern_match("mail.example.com", "mail.example.com"));
	assert_true(mtasts_pattern_match("mail.example.com", "MAIL.example.com."));
	assert_true(mtasts_pattern_match("*.example.com", "mx1.example.com"));
	assert_true(mtasts_pattern_match("*.example.com", "mx1.example.com."));
	assert_false(mtasts_pattern_match("*.example.com", "example.com"));
	assert_false(mtasts_pattern_match("*.example.com", "foo.mx1.example.com"));
	assert_false(mtasts_pattern_match("*.example.com", "mx1example.com"));
	assert_false(mtasts_pattern_match("mail.example.com", "mail.example.com.evil"));
	assert_false(mtasts_pattern_match("mail.example.com", "xmail.example.com"));
	struct mtasts_policy p;
	struct error e;
	assert_int_equal(policy("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 1\n", &p, &e), 0);
	assert_true(mtasts_mx_match(&p, "a.example.net"));
	assert_true(mtasts_mx_match(&p, "mail.example.com."));
	assert_false(mtasts_mx_match(&p, "mail.example.org"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
