/*
 * header_test.c: reporting (header.c): the Received-SPF field of RFC 7208
 * §9.1 byte for byte, its folding and quoting, the RFC 8601 "spf=" resinfo,
 * result names; and the paths of check_host()/spf_verify() that end before
 * any DNS lookup (bad IP, §4.3 malformed domain, §2.3 HELO not a domain).
 */
#include "spf/spf.h"

#include "core/arena.h"
#include "core/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_names(void **state)
{
	(void)state;
	static const char *const all[] = {"none", "neutral", "pass", "fail", "softfail",
	                                  "temperror", "permerror"};
	for (size_t i = 0; i < 7; i++) {
		enum spf_result r;
		assert_string_equal(spf_result_name((enum spf_result)i), all[i]);
		assert_int_equal(spf_result_parse(all[i], &r), 0);
		assert_int_equal(r, (enum spf_result)i);
	}
	enum spf_result r;
	assert_int_equal(spf_result_parse("SoftFail", &r), 0);
	assert_int_equal(r, SPF_SOFTFAIL);
	assert_int_equal(spf_result_parse("unknown", &r), -1);
}

/* RFC 7208 §9.1's example, with our key order */
static void test_received_pass(void **state)
{
	(void)state;
	struct spf_request rq = {.ip = "192.0.2.1", .helo = "foo.example.com",
	                         .mail_from = "myname@example.com", .receiver = "mybox.example.org"};
	struct spf_outcome o = {.result = SPF_PASS, .domain = "example.com",
	                        .sender = "myname@example.com", .mechanism = "ip4:192.0.2.0/24"};
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(spf_received_header(&b, &rq, &o, SPF_ID_MAILFROM), 0);
	assert_string_equal(b.data,
		"Received-SPF: pass (mybox.example.org: domain of myname@example.com\r\n"
		"\tdesignates 192.0.2.1 as permitted sender)\r\n"
		"\treceiver=mybox.example.org; client-ip=192.0.2.1;\r\n"
		"\tenvelope-from=\"myname@example.com\"; helo=foo.example.com;\r\n"
		"\tmechanism=\"ip4:192.0.2.0/24\"; identity=mailfrom;\r\n");
	/* no line passes 78 columns */
	for (char *line = b.data, *end; (end = strstr(line, "\r\n")) != NULL; line = end + 2)
		assert_true(end - line <= 78);
	buf_free(&b);
}

static void test_received_quoting(void **state)
{
	(void)state;
	struct spf_request rq = {.ip = "2001:db8::1", .helo = NULL, .mail_from = "",
	                         .receiver = "mx.example.org"};
	struct spf_outcome o = {.result = SPF_PERMERROR, .domain = "ex(a)mple.com",
	                        .sender = "postmaster@ex(a)mple.com",
	                        .problem = "bad \"term\" \\ here\r\nInjected: yes"};
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(spf_received_header(&b, &rq, &o, SPF_ID_HELO), 0);
	/* parens in the comment quoted, control characters replaced, quotes escaped */
	assert_non_null(strstr(b.data, "postmaster@ex\\(a\\)mple.com"));
	assert_non_null(strstr(b.data, "problem=\"bad \\\"term\\\" \\\\ here??Injected: yes\";"));
	assert_non_null(strstr(b.data, "envelope-from=\"\";"));
	assert_non_null(strstr(b.data, "identity=helo;"));
	assert_null(strstr(b.data, "helo=;"));
	assert_null(strstr(b.data, "\r\nInjected"));
	/* a full buffer: -1 */
	struct buf small;
	buf_init(&small, 20);
	assert_int_equal(spf_received_header(&small, &rq, &o, SPF_ID_HELO), -1);
	assert_int_equal(small.len, 0);
	buf_free(&small);
	buf_free(&b);
}

static void test_authres(void **state)
{
	(void)state;
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_outcome o = {.result = SPF_FAIL, .domain = "example.com",
	                        .sender = "user@example.com"};
	assert_string_equal(spf_authres(a, &o, SPF_ID_MAILFROM), "spf=fail smtp.mailfrom=user@example.com");
	assert_string_equal(spf_authres(a, &o, SPF_ID_HELO), "spf=fail smtp.helo=example.com");
	o.sender = "Macro Error@example.com";
	assert_string_equal(spf_authres(a, &o, SPF_ID_MAILFROM),
	                    "spf=fail smtp.mailfrom=\"Macro Error@example.com\"");
	arena_free(&a);
}

/* No resolver is needed for these: nothing is looked up. */
static void test_no_dns_paths(void **state)
{
	(void)state;
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	struct spf_outcome o, h;
	struct spf_request rq = {.ip = "not-an-ip", .helo = "mail.example.com",
	                         .mail_from = "a@example.com"};
	assert_int_equal(spf_check_host(NULL, &rq, "example.com", a, &o), SPF_PERMERROR);
	assert_non_null(o.problem);

	rq.ip = "192.0.2.1";
	/* §4.3: malformed or single-label domains are "none" at once */
	assert_int_equal(spf_check_host(NULL, &rq, "com", a, &o), SPF_NONE);
	assert_int_equal(spf_check_host(NULL, &rq, "a..example.com", a, &o), SPF_NONE);
	assert_int_equal(spf_check_host(NULL, &rq, "[192.0.2.1]", a, &o), SPF_NONE);
	/* §4.3: no local-part: postmaster */
	rq.mail_from = "@example.com";
	spf_check_host(NULL, &rq, "com", a, &o);
	assert_string_equal(o.sender, "postmaster@example.com");
	/* §2.4: the null path is postmaster@HELO; §2.3: a HELO that is no
	 * domain name is not checked */
	rq.mail_from = NULL;
	rq.helo = "[192.0.2.1]";
	spf_verify(NULL, &rq, a, &o, &h);
	assert_int_equal(h.result, SPF_NONE);
	assert_int_equal(o.result, SPF_NONE);
	rq.helo = "OEMCOMPUTER";
	spf_verify(NULL, &rq, a, &o, NULL);
	assert_int_equal(o.result, SPF_NONE);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_received_pass),
		cmocka_unit_test(test_received_quoting),
		cmocka_unit_test(test_authres),
		cmocka_unit_test(test_no_dns_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
