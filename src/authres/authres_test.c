/* authres_test.c: Authentication-Results formatting (RFC 8601 §2.2, the
 * examples of Appendix B in spirit), folding, quoting, and recognising our
 * own authserv-id. */
#include "authres/authres.h"

#include "core/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static void test_none(void **state)
{
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(authres_format(&b, "mx.example.org", NULL, 0), 0);
	assert_string_equal(b.data, "Authentication-Results: mx.example.org; none\r\n");
	buf_free(&b);
}

static void test_methods_and_folding(void **state)
{
	const char *spf_props[] = {"smtp.mailfrom=sender@example.com"};
	const char *dkim_props[] = {"header.d=example.com", "header.s=sel1", "header.a=rsa-sha256",
	                            "header.b=abcdefgh"};
	const struct authres_method m[] = {
		{"iprev", "pass", NULL, (const char *const[]){"policy.iprev=192.0.2.1"}, 1,
		 "mail.example.com"},
		{"spf", "pass", NULL, spf_props, 1, NULL},
		{"dkim", "fail", "signature did not verify", dkim_props, 4, NULL},
	};
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(authres_format(&b, "mx.example.org", m, 3), 0);
	assert_string_equal(b.data,
		"Authentication-Results: mx.example.org; iprev=pass (mail.example.com)\r\n"
		"\tpolicy.iprev=192.0.2.1; spf=pass smtp.mailfrom=sender@example.com;\r\n"
		"\tdkim=fail reason=\"signature did not verify\" header.d=example.com\r\n"
		"\theader.s=sel1 header.a=rsa-sha256 header.b=abcdefgh\r\n");
	/* every line within 78 columns, a tab counting 8 */
	for (const char *line = b.data; *line != '\0';) {
		const char *nl = strstr(line, "\r\n");
		assert_true(nl - line + (*line == '\t' ? 7 : 0) <= 78);
		line = nl + 2;
	}
	buf_free(&b);
}

static void test_quoting(void **state)
{
	const char *props[] = {"smtp.mailfrom=a b@x", "header.from=weird;value"};
	const struct authres_method m[] = {{"spf", "none", "say \"hi\"", props, 2, NULL}};
	struct buf b;
	buf_init(&b, 4096);
	authres_format(&b, "h", m, 1);
	assert_non_null(strstr(b.data, "reason=\"say \\\"hi\\\"\""));
	assert_non_null(strstr(b.data, "smtp.mailfrom=\"a b@x\""));
	assert_non_null(strstr(b.data, "header.from=\"weird;value\""));
	buf_free(&b);
}

static void test_is_ours(void **state)
{
	const char *id = "mx.example.org";
	const char *ours[] = {"mx.example.org; spf=pass", " MX.Example.ORG 1; none",
	                      "(comment) mx.example.org;dkim=pass", "\"mx.example.org\"; none"};
	for (size_t i = 0; i < 4; i++)
		assert_true(authres_is_ours(ours[i], strlen(ours[i]), id));
	const char *theirs[] = {"mx.example.org.evil; spf=pass", "other.example; spf=pass",
	                        "mx.example.or; none", ""};
	for (size_t i = 0; i < 4; i++)
		assert_false(authres_is_ours(theirs[i], strlen(theirs[i]), id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_methods_and_folding),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_is_ours),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
