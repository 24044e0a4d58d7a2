/* tlsrpt_test.c: SMTP TLS reports (RFC 8460 §4): the RFC's own example,
 * Stalwart's report messages' shapes, type checks and bounds, RFC 3339. */
#include "reports/reports.h"
#include "reports/samples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static struct arena *A;

static int setup(void **state)
{
	A = arena_new(64 * 1024, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&A);
	return 0;
}

static void expect_error(const char *json, enum error_kind kind, const char *what)
{
	struct tlsrpt_report t;
	struct error e;
	if (reports_tlsrpt_parse(json, strlen(json), A, &t, &e) == 0)
		fail_msg("parsed, expected an error with \"%s\"", what);
	if (strstr(e.msg, what) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", e.msg, what);
	assert_int_equal(e.kind, kind);
}

static void test_rfc8460_example(void **state)
{
	struct tlsrpt_report t;
	struct error e;
	assert_int_equal(reports_tlsrpt_parse(sample_rfc8460_json, strlen(sample_rfc8460_json), A,
	                                      &t, &e), 0);
	assert_string_equal(t.organization_name, "Company-X");
	assert_string_equal(t.start_datetime, "2016-04-01T00:00:00Z");
	assert_int_equal(t.begin, 1459468800);
	assert_int_equal(t.end, 1459468800 + 86399);
	assert_string_equal(t.contact_info, "sts-reporting@company-x.example");
	assert_string_equal(t.report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
	assert_int_equal(t.n_policies, 1);
	const struct tlsrpt_policy *p = &t.policies[0];
	assert_string_equal(p->policy_type, "sts");
	assert_int_equal(p->n_policy_strings, 4);
	assert_string_equal(p->policy_strings[3], "max_age: 86400");
	assert_string_equal(p->policy_domain, "company-y.example");
	assert_int_equal(p->n_mx_hosts, 1);
	assert_string_equal(p->mx_hosts[0], "*.mail.company-y.example");
	assert_int_equal(p->successful, 5326);
	assert_int_equal(p->failed, 303);
	assert_int_equal(p->n_failures, 3);
	assert_string_equal(p->failures[0].result_type, "certificate-expired");
	assert_string_equal(p->failures[0].sending_mta_ip, "2001:db8:abcd:0012::1");
	assert_int_equal(p->failures[0].failed_session_count, 100);
	assert_null(p->failures[0].receiving_ip);
	assert_string_equal(p->failures[1].receiving_ip, "203.0.113.56");
	assert_non_null(strstr(p->failures[1].additional_information, "StarTLS"));
	assert_string_equal(p->failures[2].failure_reason_code,
	                    "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
}

static void test_lenient_shapes(void **state)
{
	/* mx-host as one string, no contact-info, no-policy-found without domain,
	 * absent counts, receiving-mx-helo, an offset date-time with fractions */
	const char *json =
		"{\"organization-name\":\"Microsoft Corporation\",\"report-id\":\"133\","
		"\"date-range\":{\"start-datetime\":\"2024-01-02T00:00:00.000+01:00\","
		"\"end-datetime\":\"2024-01-02T23:59:59Z\"},"
		"\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\"},"
		"\"summary\":{\"total-successful-session-count\":7}},"
		"{\"policy\":{\"policy-type\":\"tlsa\",\"policy-domain\":\"d.example\","
		"\"mx-host\":\"mx.d.example\",\"policy-string\":[\"3 1 1 abcd\"]},\"summary\":{},"
		"\"failure-details\":[{\"result-type\":\"tlsa-invalid\","
		"\"receiving-mx-helo\":\"mx\",\"failure-reason-code\":\"x\"}]}],"
		"\"unknown-member\":[1,2,{\"a\":null}]}";
	struct tlsrpt_report t;
	struct error e;
	assert_int_equal(reports_tlsrpt_parse(json, strlen(json), A, &t, &e), 0);
	assert_null(t.contact_info);
	assert_int_equal(t.begin, 1704150000);
	assert_int_equal(t.n_policies, 2);
	assert_null(t.policies[0].policy_domain);
	assert_int_equal(t.policies[0].successful, 7);
	assert_int_equal(t.policies[0].failed, 0);
	assert_int_equal(t.policies[1].n_mx_hosts, 1);
	assert_string_equal(t.policies[1].mx_hosts[0], "mx.d.example");
	assert_string_equal(t.policies[1].failures[0].receiving_mx_helo, "mx");
	assert_int_equal(t.policies[1].failures[0].failed_session_count, 0);
}

static void test_type_errors(void **state)
{
	expect_error("[]", ERR_INVALID, "not a JSON object");
	expect_error("{\"organization-name\":1}", ERR_INVALID, "organization-name: not a string");
	expect_error("{}", ERR_INVALID, "organization-name missing");
	expect_error("{\"organization-name\":\"o\",\"date-range\":[]}", ERR_INVALID,
	             "date-range: not an object");
	const char *head = "{\"organization-name\":\"o\",\"report-id\":\"r\","
	                   "\"date-range\":{\"start-datetime\":\"2016-04-01T00:00:00Z\","
	                   "\"end-datetime\":\"2016-04-01T23:59:59Z\"}";
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s}", head);
	expect_error(buf, ERR_INVALID, "policies missing");
	snprintf(buf, sizeof(buf), "%s,\"policies\":{}}", head);
	expect_error(buf, ERR_INVALID, "policies: not an array");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"summary\":{}}]}", head);
	expect_error(buf, ERR_INVALID, "policies[0]: policy missing");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{}, \"summary\":{}}]}", head);
	expect_error(buf, ERR_INVALID, "policies[0]: policy/policy-type missing");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{\"policy-type\":\"sts\"}}]}",
	         head);
	expect_error(buf, ERR_INVALID, "policies[0]: summary missing");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{\"policy-type\":\"sts\"},"
	         "\"summary\":{\"total-successful-session-count\":\"5\"}}]}", head);
	expect_error(buf, ERR_INVALID, "summary/total-successful-session-count: not an integer");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{\"policy-type\":\"sts\"},"
	         "\"summary\":{\"total-failure-session-count\":-3}}]}", head);
	expect_error(buf, ERR_INVALID, "out of range");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{\"policy-type\":\"sts\"},"
	         "\"summary\":{\"total-failure-session-count\":99999999999999999}}]}", head);
	expect_error(buf, ERR_INVALID, "out of range");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	         "\"mx-host\":[1]},\"summary\":{}}]}", head);
	expect_error(buf, ERR_INVALID, "policy/mx-host[0]: not a string");
	snprintf(buf, sizeof(buf), "%s,\"policies\":[{\"policy\":{\"policy-type\":\"sts\"},"
	         "\"summary\":{},\"failure-details\":[{\"sending-mta-ip\":\"x\"}]}]}", head);
	expect_error(buf, ERR_INVALID, "failure-details[0]: result-type missing");
	/* duplicate keys, bad dates, truncation, garbage */
	expect_error("{\"organization-name\":\"a\",\"organization-name\":\"b\"}", ERR_INVALID,
	             "not valid JSON");
	snprintf(buf, sizeof(buf), "%s", head);
	char *p = strstr(buf, "2016-04-01T00:00:00Z");
	memcpy(p, "2016-13-01T00:00:00Z", 20);
	strcat(buf, ",\"policies\":[]}");
	expect_error(buf, ERR_INVALID, "date-range/start-datetime: not an RFC 3339");
	size_t n = strlen(sample_rfc8460_json);
	for (size_t cut = 0; cut < n - 5; cut += 13) {
		struct tlsrpt_report t;
		struct error e;
		assert_int_not_equal(reports_tlsrpt_parse(sample_rfc8460_json, cut, A, &t, &e), 0);
	}
}

static void test_datetime(void **state)
{
	int64_t t;
	assert_int_equal(reports_parse_datetime("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(reports_parse_datetime("2019-04-14T23:59:59Z", &t), 0);
	assert_int_equal(t, 1555286399);
	assert_int_equal(reports_parse_datetime("2019-04-15T01:59:59.5+02:00", &t), 0);
	assert_int_equal(t, 1555286399);
	assert_int_equal(reports_parse_datetime("2019-04-14 23:59:59z", &t), 0);
	assert_int_equal(reports_parse_datetime("2019-04-14T23:59:59", &t), -1);
	assert_int_equal(reports_parse_datetime("2019-04-14", &t), -1);
	assert_int_equal(reports_parse_datetime("", &t), -1);
	assert_int_equal(reports_parse_datetime("2019-04-14T23:59:59Zjunk", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rfc8460_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lenient_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_errors, setup, teardown),
		cmocka_unit_test(test_datetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
