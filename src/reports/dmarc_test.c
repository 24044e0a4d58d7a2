/* dmarc_test.c: DMARC aggregate report documents (RFC 7489 Appendix C):
 * Google- and Microsoft-shaped reports, DMARCbis namespaces, the reports of
 * ../shared/external-tests/mail-auth-stalwart, and malformed and hostile
 * documents (wrong root, missing elements, huge counts, entity bombs, deep
 * nesting, too many records). */
#include "reports/reports.h"
#include "reports/samples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/test_external.h"

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

static int parse(const char *xml, struct dmarc_report *d, struct error *e)
{
	return reports_dmarc_parse(xml, strlen(xml), A, d, e);
}

/* Parses xml expecting failure with kind and a message containing what. */
static void expect_error(const char *xml, size_t len, enum error_kind kind, const char *what)
{
	struct dmarc_report d;
	struct error e;
	if (len == SIZE_MAX)
		len = strlen(xml);
	int r = reports_dmarc_parse(xml, len, A, &d, &e);
	if (r == 0)
		fail_msg("parsed, expected an error with \"%s\"", what);
	if (strstr(e.msg, what) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", e.msg, what);
	assert_int_equal(e.kind, kind);
}

static void test_google(void **state)
{
	struct dmarc_report d;
	struct error e;
	assert_int_equal(parse(sample_google_xml, &d, &e), 0);
	assert_string_equal(d.org_name, "google.com");
	assert_string_equal(d.email, "noreply-dmarc-support@google.com");
	assert_string_equal(d.extra_contact_info, "https://support.google.com/a/answer/2466580");
	assert_string_equal(d.report_id, "1712394752917362811");
	assert_int_equal(d.begin, 1700006400);
	assert_int_equal(d.end, 1700092799);
	assert_string_equal(d.domain, "example.org");
	assert_string_equal(d.adkim, "r");
	assert_string_equal(d.aspf, "r");
	assert_string_equal(d.p, "reject");
	assert_string_equal(d.sp, "reject");
	assert_string_equal(d.np, "reject");
	assert_null(d.fo);
	assert_int_equal(d.pct, 100);
	assert_int_equal(d.n_records, 2);
	const struct dmarcrpt_record *r = &d.records[0];
	assert_string_equal(r->source_ip, "203.0.113.25");
	assert_int_equal(r->count, 42);
	assert_string_equal(r->disposition, "none");
	assert_string_equal(r->dkim, "pass");
	assert_string_equal(r->spf, "pass");
	assert_string_equal(r->header_from, "example.org");
	assert_null(r->envelope_from);
	assert_int_equal(r->n_dkim, 1);
	assert_string_equal(r->dkim_results[0].domain, "example.org");
	assert_string_equal(r->dkim_results[0].selector, "tern2024");
	assert_string_equal(r->dkim_results[0].result, "pass");
	assert_int_equal(r->n_spf, 1);
	assert_null(r->spf_results[0].scope);
	r = &d.records[1];
	assert_string_equal(r->source_ip, "2001:db8::beef");
	assert_int_equal(r->count, 3);
	assert_string_equal(r->disposition, "reject");
	assert_int_equal(r->n_dkim, 0);
	assert_int_equal(r->n_spf, 1);
	assert_string_equal(r->spf_results[0].domain, "spoofer.example");
	assert_string_equal(r->spf_results[0].result, "softfail");
}

static void test_microsoft(void **state)
{
	struct dmarc_report d;
	struct error e;
	assert_int_equal(parse(sample_microsoft_xml, &d, &e), 0);
	assert_string_equal(d.version, "1.0");
	assert_string_equal(d.org_name, "Enterprise Outlook");
	assert_null(d.extra_contact_info);
	assert_string_equal(d.fo, "1");
	assert_int_equal(d.pct, 50);
	assert_int_equal(d.n_records, 1);
	const struct dmarcrpt_record *r = &d.records[0];
	assert_int_equal(r->n_reasons, 1);
	assert_string_equal(r->reasons[0].type, "forwarded");
	assert_string_equal(r->reasons[0].comment, "mailing list & forwarder");
	assert_string_equal(r->envelope_to, "outlook.com");
	assert_string_equal(r->envelope_from, "example.org");
	assert_string_equal(r->dkim_results[0].human_result, "body hash mismatch");
	assert_string_equal(r->spf_results[0].scope, "mfrom");
}

static void test_dmarcbis_namespace(void **state)
{
	const char *xml =
		"<?xml version=\"1.0\"?><feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">"
		"<version>1.0</version><report_metadata><org_name>o</org_name><email>e@o</email>"
		"<report_id>r1</report_id><date_range><begin>1</begin><end>2</end></date_range>"
		"<error>one</error><error>two</error>"
		"</report_metadata><policy_published><domain>d.example</domain><p>none</p>"
		"<np>quarantine</np><testing>n</testing><discovery_method>treewalk</discovery_method>"
		"</policy_published><record><row><source_ip>192.0.2.1</source_ip><count>0</count>"
		"<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>"
		"</policy_evaluated></row><identifiers><header_from>d.example</header_from>"
		"</identifiers><auth_results/></record></feedback>";
	struct dmarc_report d;
	struct error e;
	assert_int_equal(parse(xml, &d, &e), 0);
	assert_string_equal(d.np, "quarantine");
	assert_int_equal(d.n_errors, 2);
	assert_string_equal(d.errors[1], "two");
	assert_int_equal(d.records[0].count, 0);
	assert_int_equal(d.pct, -1);
}

static void test_external_stalwart(void **state)
{
	/* Stalwart's aggregate reports: all five must parse. */
	const char *dir = test_external_dir();
	for (int i = 1; i <= 5; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/mail-auth-stalwart/resources/dmarc-feedback/%03d.xml",
		         dir, i);
		size_t len;
		char *xml = test_read_file(path, &len);
		struct dmarc_report d;
		struct error e;
		if (reports_dmarc_parse(xml, len, A, &d, &e) != 0)
			fail_msg("%s: %s", path, e.msg);
		assert_true(d.n_records >= 1);
		assert_non_null(d.org_name);
		free(xml);
	}
}

static void test_missing_elements(void **state)
{
	const char *head = "<feedback><report_metadata><org_name>o</org_name><email>e</email>"
		"<report_id>r</report_id><date_range><begin>1</begin><end>2</end></date_range>"
		"</report_metadata>";
	const char *pol = "<policy_published><domain>d</domain><p>none</p></policy_published>";
	char xml[2048];
	/* no policy_published */
	snprintf(xml, sizeof(xml), "%s</feedback>", head);
	expect_error(xml, strlen(xml), ERR_INVALID, "policy_published missing");
	/* no records */
	snprintf(xml, sizeof(xml), "%s%s</feedback>", head, pol);
	expect_error(xml, strlen(xml), ERR_INVALID, "record missing");
	/* no org_name */
	expect_error("<feedback><report_metadata><email>e</email><report_id>r</report_id>"
	             "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>"
	             "</feedback>", SIZE_MAX, ERR_INVALID, "report_metadata/org_name missing");
	/* no end */
	snprintf(xml, sizeof(xml), "<feedback><report_metadata><org_name>o</org_name>"
	         "<email>e</email><report_id>r</report_id><date_range><begin>1</begin>"
	         "</date_range></report_metadata>%s</feedback>", pol);
	expect_error(xml, strlen(xml), ERR_INVALID, "date_range/end missing");
	/* a record without header_from */
	snprintf(xml, sizeof(xml), "%s%s<record><row><source_ip>1.2.3.4</source_ip><count>1"
	         "</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim>"
	         "<spf>pass</spf></policy_evaluated></row><identifiers></identifiers></record>"
	         "</feedback>", head, pol);
	expect_error(xml, strlen(xml), ERR_INVALID, "record 1: identifiers/header_from missing");
	/* a record without policy_evaluated/spf */
	snprintf(xml, sizeof(xml), "%s%s<record><row><source_ip>1.2.3.4</source_ip><count>1"
	         "</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim>"
	         "</policy_evaluated></row><identifiers><header_from>d</header_from>"
	         "</identifiers></record></feedback>", head, pol);
	expect_error(xml, strlen(xml), ERR_INVALID, "row/policy_evaluated/spf missing");
	/* policy without p */
	snprintf(xml, sizeof(xml), "%s<policy_published><domain>d</domain></policy_published>"
	         "</feedback>", head);
	expect_error(xml, strlen(xml), ERR_INVALID, "policy_published/p missing");
}

static void test_wrong_root_and_truncated(void **state)
{
	expect_error("<?xml version=\"1.0\"?><html><body/></html>", SIZE_MAX, ERR_INVALID,
	             "root element is <html>, not <feedback>");
	size_t n = strlen(sample_google_xml);
	for (size_t cut = 0; cut < n; cut += 37) {
		struct dmarc_report d;
		struct error e;
		assert_int_not_equal(reports_dmarc_parse(sample_google_xml, cut, A, &d, &e), 0);
	}
	expect_error(sample_google_xml, n / 2, ERR_INVALID, "");
	expect_error("not xml at all", SIZE_MAX, ERR_INVALID, "not well-formed XML");
	expect_error("", 0, ERR_INVALID, "");
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	assert_non_null(p);
	char *out = malloc(strlen(s) + strlen(to) + 1);
	size_t k = (size_t)(p - s);
	memcpy(out, s, k);
	strcpy(out + k, to);
	strcat(out, p + strlen(from));
	return out;
}

static void test_bad_values(void **state)
{
	char *x = replace(sample_google_xml, "<count>42</count>",
	                  "<count>99999999999999999999999</count>");
	expect_error(x, strlen(x), ERR_INVALID, "record 1: row/count");
	free(x);
	x = replace(sample_google_xml, "<count>42</count>", "<count>9007199254740992</count>");
	expect_error(x, strlen(x), ERR_INVALID, "row/count");
	free(x);
	x = replace(sample_google_xml, "<count>42</count>", "<count>-1</count>");
	expect_error(x, strlen(x), ERR_INVALID, "row/count");
	free(x);
	x = replace(sample_google_xml, "<pct>100</pct>", "<pct>101</pct>");
	expect_error(x, strlen(x), ERR_INVALID, "policy_published/pct");
	free(x);
	x = replace(sample_google_xml, "<begin>1700006400</begin>", "<begin>yesterday</begin>");
	expect_error(x, strlen(x), ERR_INVALID, "date_range/begin");
	free(x);
	/* the largest count passes */
	x = replace(sample_google_xml, "<count>42</count>", "<count>9007199254740991</count>");
	struct dmarc_report d;
	struct error e;
	assert_int_equal(parse(x, &d, &e), 0);
	assert_int_equal(d.records[0].count, REPORTS_COUNT_MAX);
	free(x);
	/* a value past REPORTS_VALUE_MAX */
	char *big = malloc(REPORTS_VALUE_MAX + 100);
	memset(big, 'a', REPORTS_VALUE_MAX + 10);
	big[REPORTS_VALUE_MAX + 10] = '\0';
	char *org = malloc(REPORTS_VALUE_MAX + 100);
	snprintf(org, REPORTS_VALUE_MAX + 100, "<org_name>%s</org_name>", big);
	x = replace(sample_google_xml, "<org_name>google.com</org_name>", org);
	expect_error(x, strlen(x), ERR_LIMIT, "report_metadata/org_name: value longer");
	free(x);
	free(org);
	free(big);
}

static void test_entities_refused(void **state)
{
	/* billion laughs: must neither expand nor take time */
	const char *lol =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE feedback [\n"
		" <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		"]>\n<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata>"
		"</feedback>";
	expect_error(lol, strlen(lol), ERR_INVALID, "DOCTYPE is not allowed");
	/* external entities (XXE) */
	const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY x SYSTEM "
	                  "\"file:///etc/passwd\">]><feedback>&x;</feedback>";
	expect_error(xxe, strlen(xxe), ERR_INVALID, "DOCTYPE");
	/* an undeclared entity without a DTD is simply an error */
	char *x = replace(sample_google_xml, "<org_name>google.com</org_name>",
	                  "<org_name>&lol9;</org_name>");
	expect_error(x, strlen(x), ERR_INVALID, "");
	free(x);
}

static void test_deep_nesting(void **state)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "<feedback>");
	for (int i = 0; i < 100; i++)
		buf_append_str(&b, "<x>");
	for (int i = 0; i < 100; i++)
		buf_append_str(&b, "</x>");
	buf_append_str(&b, "</feedback>");
	expect_error(b.data, b.len, ERR_LIMIT, "nested deeper");
	buf_free(&b);
}

static void test_too_many_records(void **state)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "<feedback><report_metadata><org_name>o</org_name><email>e</email>"
	               "<report_id>r</report_id><date_range><begin>1</begin><end>2</end>"
	               "</date_range></report_metadata><policy_published><domain>d</domain>"
	               "<p>none</p></policy_published>");
	const char *rec = "<record><row><source_ip>1</source_ip><count>1</count>"
	                  "<policy_evaluated><disposition>n</disposition><dkim>p</dkim><spf>p</spf>"
	                  "</policy_evaluated></row><identifiers><header_from>d</header_from>"
	                  "</identifiers></record>";
	for (int i = 0; i <= REPORTS_RECORDS_MAX; i++)
		buf_append_str(&b, rec);
	buf_append_str(&b, "</feedback>");
	expect_error(b.data, b.len, ERR_LIMIT, "more than 50000 records");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_google, setup, teardown),
		cmocka_unit_test_setup_teardown(test_microsoft, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dmarcbis_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_stalwart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_elements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_root_and_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entities_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_records, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
