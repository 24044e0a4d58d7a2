/* tlsrpt_out_test.c: outgoing SMTP TLS reports (RFC 8460): the
 * "_smtp._tls" record parser with the RFC's examples and its errors, TLS
 * results aggregated in tern.db, the JSON report parsed back with tern's
 * own incoming report parser, the §5.3 message, and the daily run with a
 * fake DNS and https (postponing, idempotency, destinations). */
#include "reports/tlsrpt_out.h"

#include "smtpclient/smtpclient.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/globaldb_fixture.h"

#define DAY 86400
#define T0 ((int64_t)1700006400)   /* 2023-11-15 00:00:00 UTC */

static const struct reports_sender sender = {
	.org_name = "mail.tern.example", .from = "postmaster@mail.tern.example",
	.hostname = "mail.tern.example"};

/* ---- the record ---- */

static int parse(struct arena *a, const char *txt, struct tlsrpt_record *r, struct error *e)
{
	return reports_tlsrpt_record_parse(txt, strlen(txt), a, r, e);
}

static void test_record_rfc_examples(void **state)
{
	(void)state;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct tlsrpt_record r;
	struct error e;
	/* RFC 8460 §3.1 */
	assert_int_equal(parse(a, "v=TLSRPTv1;rua=mailto:reports@example.com", &r, &e), 0);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.rua[0].scheme, TLSRPT_MAILTO);
	assert_string_equal(r.rua[0].address, "reports@example.com");
	assert_int_equal(parse(a, "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", &r,
	                       &e), 0);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.rua[0].scheme, TLSRPT_HTTPS);
	assert_string_equal(r.rua[0].uri, "https://reporting.example.com/v1/tlsrpt");
	/* both schemes, spaces around the delimiters, a final ";", an extension */
	assert_int_equal(parse(a, "v=TLSRPTv1 ; rua=mailto:a%40b@example.com?subject=x , "
	                       "https://r.example/x ;ext_1.a=val;", &r, &e), 0);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[0].address, "a@b@example.com");
	assert_string_equal(r.rua[1].uri, "https://r.example/x");
	/* other schemes are ignored */
	assert_int_equal(parse(a, "v=TLSRPTv1;rua=ftp://x.example/,mailto:t@example.org", &r, &e),
	                 0);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.nignored, 1);
	assert_true(reports_tlsrpt_record_is_tlsrpt("v=TLSRPTv1;rua=x", 16));
	assert_false(reports_tlsrpt_record_is_tlsrpt("v=TLSRPTv1", 10));
	assert_false(reports_tlsrpt_record_is_tlsrpt("v=spf1 -all", 11));
	arena_free(&a);
}

static void test_record_errors(void **state)
{
	(void)state;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct tlsrpt_record r;
	struct error e;
	static const struct {
		const char *txt, *msg;
	} bad[] = {
		{"", "does not start"},
		{"v=tlsrptv1;rua=mailto:a@example.com", "does not start"},   /* %s: case-sensitive */
		{"rua=mailto:a@example.com;v=TLSRPTv1", "does not start"},
		{"v=TLSRPTv1", "without rua"},
		{"v=TLSRPTv1;", "without rua"},
		{"v=TLSRPTv1;x=1", "without rua"},
		{"v=TLSRPTv1;rua=mailto:a@example.com;rua=mailto:b@example.com", "twice"},
		{"v=TLSRPTv1;rua=", "empty URI"},
		{"v=TLSRPTv1;rua=mailto:nobody", "no address"},
		{"v=TLSRPTv1;rua=mailto:a%4@example.com", "%-escape"},
		{"v=TLSRPTv1;rua=mailto:a%20b@example.com", "not one mail address"},
		{"v=TLSRPTv1;rua=https:///path", "https URI with a host"},
		{"v=TLSRPTv1;rua=ftp://x.example/", "no mailto: or https:"},
		{"v=TLSRPTv1;rua=nocolon", "no scheme"},
		{"v=TLSRPTv1;rua=mailto:a@example.com;=x", "field name"},
		{"v=TLSRPTv1;rua=mailto:a@example.com;x", "\"=\" expected"},
		{"v=TLSRPTv1;rua=mailto:a@example.com;x=", "empty value"},
		{"v=TLSRPTv1;rua=mailto:a@example.com x", "\";\" expected"},
		{"v=TLSRPTv1x;rua=mailto:a@example.com", "does not start"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error_clear(&e);
		if (parse(a, bad[i].txt, &r, &e) == 0)
			fail_msg("accepted: %s", bad[i].txt);
		if (strstr(e.msg, bad[i].msg) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].txt, e.msg, bad[i].msg);
	}
	/* limits: URIs per record, record length */
	char big[TLSRPT_RECORD_MAX + 64];
	int n = snprintf(big, sizeof(big), "v=TLSRPTv1;rua=");
	for (int i = 0; i <= TLSRPT_RUA_MAX; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "%smailto:r%d@example.com",
		              i > 0 ? "," : "", i);
	assert_int_equal(parse(a, big, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "v=TLSRPTv1;x=", 13);
	assert_int_equal(parse(a, big, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	arena_free(&a);
}

/* ---- recording ---- */

static void add(struct globaldb_fx *f, const char *domain, int64_t when, const char *type,
                const char *strings, const char *mx, const char *failure, const char *ip)
{
	struct globaldb_tlsrpt_session s = {
		.policy_domain = domain, .when = when, .policy_type = type, .policy_strings = strings,
		.mx_host = mx, .result_type = failure, .receiving_ip = ip,
		.additional_info = failure != NULL ? "details" : NULL};
	struct error e;
	if (globaldb_tlsrpt_result_add(f->db, &s, &e) != 0)
		fail_msg("%s", e.msg);
}

static const char sts_strings[] = "version: STSv1\nmode: testing\nmx: *.example.net\nmax_age: 86400";

static void record_day(struct globaldb_fx *f)
{
	for (int i = 0; i < 5; i++)
		add(f, "example.net", T0 + 100 + i, "sts", sts_strings, "mx1.example.net", NULL, NULL);
	add(f, "example.net", T0 + 200, "sts", sts_strings, "mx2.example.net",
	    "certificate-expired", "192.0.2.2");
	add(f, "example.net", T0 + 300, "sts", sts_strings, "mx2.example.net",
	    "certificate-expired", "192.0.2.2");
	add(f, "EXAMPLE.net", T0 + 400, "sts", sts_strings, "mx2.example.net",
	    "validation-failure", "192.0.2.2");
	add(f, "example.net", T0 + DAY + 5, "sts", sts_strings, "mx1.example.net", NULL, NULL);
	add(f, "other.example", T0 + 10, "no-policy-found", NULL, "mx.other.example",
	    "starttls-not-supported", "192.0.2.9");
}

/* record_day, then the results of example.net's day T0: *n_r of them. */
static struct globaldb_tlsrpt_result *recorded_day(struct globaldb_fx *f, size_t *n_r)
{
	record_day(f);
	struct globaldb_tlsrpt_result *r;
	struct error e;
	assert_int_equal(globaldb_tlsrpt_results(f->db, "example.net", T0, f->a, &r, n_r, &e), 0);
	return r;
}

static void test_aggregation(void **state)
{
	struct globaldb_fx *f = *state;
	size_t n;
	struct globaldb_tlsrpt_result *r = recorded_day(f, &n);
	struct error e;
	assert_int_equal(n, 2);
	assert_string_equal(r[0].mx_host, "mx1.example.net");
	assert_int_equal(r[0].successful, 5);
	assert_int_equal(r[0].failed, 0);
	assert_int_equal(r[0].nfailures, 0);
	assert_string_equal(r[1].mx_host, "mx2.example.net");
	assert_int_equal(r[1].successful, 0);
	assert_int_equal(r[1].failed, 3);
	assert_int_equal(r[1].nfailures, 2);
	assert_string_equal(r[1].failures[0].result_type, "certificate-expired");
	assert_int_equal(r[1].failures[0].count, 2);
	assert_string_equal(r[1].failures[0].receiving_ip, "192.0.2.2");
	assert_string_equal(r[1].failures[0].receiving_mx_hostname, "mx2.example.net");
	assert_null(r[1].failures[0].sending_mta_ip);
	assert_int_equal(r[1].failures[1].count, 1);
	assert_int_equal(globaldb_tlsrpt_results(f->db, NULL, 0, f->a, &r, &n, &e), 0);
	assert_int_equal(n, 4);
	struct globaldb_tlsrpt_pending *p;
	assert_int_equal(globaldb_tlsrpt_pending(f->db, T0 + DAY, f->a, &p, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].day, T0);
	assert_int_equal(globaldb_tlsrpt_pending(f->db, T0 + 2 * DAY, f->a, &p, &n, &e), 0);
	assert_int_equal(n, 3);
	/* bad input */
	struct globaldb_tlsrpt_session s = {.policy_type = "sts"};
	assert_int_equal(globaldb_tlsrpt_result_add(f->db, &s, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	s = (struct globaldb_tlsrpt_session){.policy_domain = "x.example"};
	assert_int_equal(globaldb_tlsrpt_result_add(f->db, &s, &e), -1);
}

static void test_record_attempt(void **state)
{
	struct globaldb_fx *f = *state;
	struct error e;
	struct smtpclient_tls_report t = {.policy = SMTPCLIENT_POLICY_NONE};
	/* no session: nothing recorded */
	assert_int_equal(reports_tlsrpt_record_attempt(f->db, "d.example", &t, T0, &e), 0);
	snprintf(t.mx_host, sizeof(t.mx_host), "mx.d.example");
	snprintf(t.ip, sizeof(t.ip), "192.0.2.1");
	t.tls = true;
	assert_int_equal(reports_tlsrpt_record_attempt(f->db, "d.example", &t, T0, &e), 1);
	t.tls = false;   /* plain text */
	assert_int_equal(reports_tlsrpt_record_attempt(f->db, "d.example", &t, T0, &e), 1);
	t.policy = SMTPCLIENT_POLICY_DANE;
	t.tls = true;
	t.failure = "validation-failure";
	snprintf(t.sending_ip, sizeof(t.sending_ip), "198.51.100.7");
	snprintf(t.additional_info, sizeof(t.additional_info), "DANE verification failed");
	assert_int_equal(reports_tlsrpt_record_attempt(f->db, "d.example", &t, T0 + 1, &e), 1);
	t.sending_ip[0] = t.additional_info[0] = '\0';
	t.policy = SMTPCLIENT_POLICY_MTASTS;
	t.failure = "sts-policy-fetch-error";
	t.mx_host[0] = '\0';
	t.ip[0] = '\0';
	assert_int_equal(reports_tlsrpt_record_attempt(f->db, "d.example", &t, T0 + 2, &e), 1);
	struct globaldb_tlsrpt_result *r;
	size_t n;
	assert_int_equal(globaldb_tlsrpt_results(f->db, "d.example", T0, f->a, &r, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(r[0].policy_type, "no-policy-found");
	assert_int_equal(r[0].successful, 1);
	assert_int_equal(r[0].failed, 1);
	assert_string_equal(r[0].failures[0].result_type, "starttls-not-supported");
	assert_string_equal(r[0].failures[0].receiving_ip, "192.0.2.1");
	assert_string_equal(r[1].policy_type, "tlsa");
	assert_string_equal(r[1].failures[0].result_type, "validation-failure");
	assert_string_equal(r[1].failures[0].sending_mta_ip, "198.51.100.7");
	assert_string_equal(r[1].failures[0].additional_info, "DANE verification failed");
	assert_null(r[0].failures[0].sending_mta_ip);
	assert_null(r[0].failures[0].additional_info);
	assert_string_equal(r[2].policy_type, "sts");
	assert_string_equal(r[2].mx_host, "");
	assert_int_equal(r[2].failed, 1);
	assert_null(r[2].failures[0].receiving_mx_hostname);
}

/* Every session of an attempt counts: an MX host that failed before the
 * one that took the message is not lost (RFC 8460 §4.3). */
static void test_record_attempt_sessions(void **state)
{
	struct globaldb_fx *f = *state;
	struct error e;
	struct smtpclient_tls_report t;
	memset(&t, 0, sizeof(t));
	t.policy = SMTPCLIENT_POLICY_MTASTS;
	t.nsessions = 2;
	t.sessions[0] = (struct smtpclient_tls_session){.policy = SMTPCLIENT_POLICY_MTASTS,
		.tls = true, .failure = "certificate-expired", .mx_host = "mx1.s.example",
		.ip = "192.0.2.1", .sending_ip = "198.51.100.7", .additional_info = "expired"};
	t.sessions[1] = (struct smtpclient_tls_session){.policy = SMTPCLIENT_POLICY_MTASTS,
		.tls = true, .mx_host = "mx2.s.example", .ip = "192.0.2.2"};
	/* the last session is repeated at the top: not counted twice */
	t.tls = true;
	snprintf(t.mx_host, sizeof(t.mx_host), "mx2.s.example");
	assert_int_equal(reports_tlsrpt_record_attempt(f->db, "s.example", &t, T0, &e), 1);
	struct globaldb_tlsrpt_result *r;
	size_t n;
	assert_int_equal(globaldb_tlsrpt_results(f->db, "s.example", T0, f->a, &r, &n, &e), 0);
	int64_t ok = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		ok += r[i].successful;
		failed += r[i].failed;
		assert_string_equal(r[i].policy_type, "sts");
		for (size_t k = 0; k < r[i].nfailures; k++) {
			assert_string_equal(r[i].failures[k].result_type, "certificate-expired");
			assert_string_equal(r[i].failures[k].additional_info, "expired");
			assert_string_equal(r[i].failures[k].sending_mta_ip, "198.51.100.7");
		}
	}
	assert_int_equal(ok, 1);
	assert_int_equal(failed, 1);
}

static void test_failure_details_bounded(void **state)
{
	struct globaldb_fx *f = *state;
	char ip[32];
	for (int i = 0; i < GLOBALDB_TLSRPT_FAILURES_MAX + 5; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		add(f, "many.example", T0, "no-policy-found", NULL, "mx.many.example",
		    "validation-failure", ip);
	}
	add(f, "many.example", T0, "no-policy-found", NULL, "mx.many.example",
	    "validation-failure", "10.0.0.0");
	struct globaldb_tlsrpt_result *r;
	size_t n;
	struct error e;
	assert_int_equal(globaldb_tlsrpt_results(f->db, "many.example", T0, f->a, &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].failed, GLOBALDB_TLSRPT_FAILURES_MAX + 6);
	assert_int_equal(r[0].nfailures, GLOBALDB_TLSRPT_FAILURES_MAX);
	assert_int_equal(r[0].failures[0].count, 2);   /* an existing row still counts */
}

/* ---- the report ---- */

static void test_json_roundtrip(void **state)
{
	struct globaldb_fx *f = *state;
	size_t n;
	struct globaldb_tlsrpt_result *r = recorded_day(f, &n);
	struct error e;
	struct tlsrpt_report rep;
	assert_int_equal(reports_tlsrpt_build(&sender, "example.net", T0, r, n, "abc@mail.tern.example",
	                                      f->a, &rep), 0);
	struct buf json;
	buf_init(&json, REPORTS_DOC_MAX);
	assert_int_equal(reports_tlsrpt_json(&rep, &json, &e), 0);
	struct tlsrpt_report back;
	if (reports_tlsrpt_parse(json.data, json.len, f->a, &back, &e) != 0)
		fail_msg("%s\n%.*s", e.msg, (int)json.len, json.data);
	assert_string_equal(back.organization_name, "mail.tern.example");
	assert_string_equal(back.start_datetime, "2023-11-15T00:00:00Z");
	assert_string_equal(back.end_datetime, "2023-11-15T23:59:59Z");
	assert_int_equal(back.begin, T0);
	assert_int_equal(back.end, T0 + DAY - 1);
	assert_string_equal(back.contact_info, "postmaster@mail.tern.example");
	assert_string_equal(back.report_id, "abc@mail.tern.example");
	assert_int_equal(back.n_policies, 1);
	const struct tlsrpt_policy *p = &back.policies[0];
	assert_string_equal(p->policy_type, "sts");
	assert_string_equal(p->policy_domain, "example.net");
	assert_int_equal(p->n_policy_strings, 4);
	assert_string_equal(p->policy_strings[0], "version: STSv1");
	assert_string_equal(p->policy_strings[3], "max_age: 86400");
	assert_int_equal(p->n_mx_hosts, 2);
	assert_int_equal(p->successful, 5);
	assert_int_equal(p->failed, 3);
	assert_int_equal(p->n_failures, 2);
	assert_string_equal(p->failures[0].result_type, "certificate-expired");
	assert_int_equal(p->failures[0].failed_session_count, 2);
	assert_string_equal(p->failures[0].receiving_mx_hostname, "mx2.example.net");
	assert_string_equal(p->failures[0].additional_information, "details");
	/* members in the RFC's order */
	const char *o = strstr(json.data, "\"organization-name\""), *d = strstr(json.data,
	                "\"date-range\""), *pl = strstr(json.data, "\"policies\"");
	assert_true(o != NULL && d != NULL && pl != NULL && o < d && d < pl);
	/* a policy without strings has no policy-string member */
	assert_int_equal(globaldb_tlsrpt_results(f->db, "other.example", T0, f->a, &r, &n, &e), 0);
	assert_int_equal(reports_tlsrpt_build(&sender, "other.example", T0, r, n, "x@y", f->a,
	                                      &rep), 0);
	json.len = 0;
	assert_int_equal(reports_tlsrpt_json(&rep, &json, &e), 0);
	buf_append_char(&json, '\0');
	assert_null(strstr(json.data, "policy-string"));
	assert_non_null(strstr(json.data, "\"no-policy-found\""));
	buf_free(&json);
	const char *fn = reports_tlsrpt_filename(&sender, &rep, "0a1b", f->a);
	assert_string_equal(fn, "mail.tern.example!other.example!1700006400!1700092799!0a1b.json.gz");
}

static int fake_sign(void *arg, const char *from_domain, const char *msg, size_t len,
                     struct buf *hdr, struct error *err)
{
	(void)arg;
	(void)msg;
	(void)len;
	(void)err;
	assert_string_equal(from_domain, "mail.tern.example");
	buf_append_str(hdr, "DKIM-Signature: v=1; d=mail.tern.example; b=fake\r\n");
	return 0;
}

static void check_message(struct globaldb_fx *f, const char *msg, size_t len, int64_t ok,
                          int64_t failed)
{
	struct report rep;
	struct error e;
	if (reports_parse_message(msg, len, f->a, &rep, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(rep.kind, REPORT_TLSRPT);
	assert_string_equal(rep.content_type, "application/tlsrpt+gzip");
	assert_int_equal(rep.packing, REPORT_GZIP);
	assert_int_equal(rep.tlsrpt.n_policies, 1);
	assert_int_equal(rep.tlsrpt.policies[0].successful, ok);
	assert_int_equal(rep.tlsrpt.policies[0].failed, failed);
	assert_true(strncmp(rep.filename, "mail.tern.example!example.net!1700006400!1700092799!",
	                    52) == 0);
	char *m = arena_strndup(f->a, msg, len);
	assert_true(strncmp(m, "DKIM-Signature: ", 16) == 0);
	assert_non_null(strstr(m, "\r\nTLS-Report-Domain: example.net\r\n"));
	assert_non_null(strstr(m, "\r\nTLS-Report-Submitter: mail.tern.example\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: Report Domain: example.net Submitter: "
	                       "mail.tern.example\r\n Report-ID: <"));
	assert_non_null(strstr(m, "Content-Type: multipart/report; report-type=\"tlsrpt\";"));
	assert_non_null(strstr(m, "Content-Type: text/plain"));
}

/* ---- the daily run ---- */

struct fake_io {
	const char *txt;      /* NULL: no record */
	int lookup_result;    /* -1: temporary failure */
	unsigned lookups, posts;
	int post_result;
	size_t posted_len;
	char posted_uri[256];
};

static int fake_lookup(void *arg, const char *domain, struct arena *a, const char **txt_r,
                       char *why, size_t whysize)
{
	struct fake_io *io = arg;
	(void)domain;
	io->lookups++;
	if (io->lookup_result < 0) {
		snprintf(why, whysize, "timeout");
		return -1;
	}
	if (io->txt == NULL) {
		snprintf(why, whysize, "no TLSRPT record");
		return 0;
	}
	*txt_r = arena_strdup(a, io->txt);
	return 1;
}

static int fake_post(void *arg, const char *uri, const void *gz, size_t len, char *why,
                     size_t whysize)
{
	struct fake_io *io = arg;
	(void)gz;
	io->posts++;
	io->posted_len = len;
	snprintf(io->posted_uri, sizeof(io->posted_uri), "%s", uri);
	snprintf(why, whysize, io->post_result == 0 ? "HTTP status 200" : "HTTP status 500");
	return io->post_result;
}

static void test_compose_due(void **state)
{
	struct globaldb_fx *f = *state;
	record_day(f);
	struct fake_io fio = {.txt = "v=TLSRPTv1; rua=mailto:tls@example.net,"
	                      "https://r.example.net/tlsrpt"};
	struct reports_tlsrpt_io io = {fake_lookup, fake_post, &fio, &fio};
	struct reports_sender s = sender;
	s.sign = fake_sign;
	struct reports_tlsrpt_stats st = {0};
	struct error e;
	/* the day has not ended: nothing */
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &s, T0 + DAY - 1, 0, &st, &e), 0);
	assert_int_equal(fio.lookups, 0);
	/* a temporary DNS failure postpones */
	fio.lookup_result = -1;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &s, T0 + DAY + 60, T0, &st, &e), 0);
	assert_int_equal(st.postponed, 2);
	fio.lookup_result = 0;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &s, T0 + DAY + 60, T0, &st, &e), 0);
	assert_int_equal(st.composed, 2);   /* example.net and other.example */
	assert_int_equal(fio.posts, 2);
	assert_int_equal(st.posted, 2);
	assert_string_equal(fio.posted_uri, "https://r.example.net/tlsrpt");
	assert_true(fio.posted_len > 20);
	struct globaldb_outgoing *o;
	size_t n;
	assert_int_equal(globaldb_outgoing_list(f->db, NULL, true, f->a, &o, &n, &e), 0);
	assert_int_equal(n, 2);
	size_t k = strstr(o[0].subject, "example.net") != NULL &&
	           strstr(o[0].subject, "other.example") == NULL ? 0 : 1;
	assert_string_equal(o[k].kind, "tlsrpt");
	assert_int_equal(o[k].nrcpts, 1);
	assert_string_equal(o[k].rcpts[0], "tls@example.net");
	assert_string_equal(o[k].mail_from, "postmaster@mail.tern.example");
	check_message(f, o[k].data, o[k].len, 5, 3);
	/* reported results are gone; the next day stays */
	struct globaldb_tlsrpt_result *r;
	assert_int_equal(globaldb_tlsrpt_results(f->db, NULL, 0, f->a, &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].day, T0 + DAY);
	struct globaldb_tlsrpt_out *out;
	assert_int_equal(globaldb_tlsrpt_out_list(f->db, f->a, &out, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].nposts, 1);
	assert_string_equal(out[0].posts[0].status, "sent");
	assert_int_equal(out[0].posts[0].attempts, 1);
	assert_true(out[0].gzlen > 0);
	/* late results of a reported day are dropped, nothing composed again */
	add(f, "example.net", T0 + 500, "sts", sts_strings, "mx1.example.net", NULL, NULL);
	unsigned before = st.composed;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &s, T0 + DAY + 120, T0, &st, &e), 0);
	assert_int_equal(st.composed, before);
	assert_int_equal(globaldb_outgoing_list(f->db, NULL, false, f->a, &o, &n, &e), 0);
	assert_int_equal(n, 2);
	/* no record: recorded without a report */
	fio.txt = NULL;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &s, T0 + 2 * DAY, 0, &st, &e), 0);
	assert_int_equal(st.no_destination, 1);
	assert_int_equal(globaldb_tlsrpt_results(f->db, NULL, 0, f->a, &r, &n, &e), 0);
	assert_int_equal(n, 0);
}

static void test_compose_failures(void **state)
{
	struct globaldb_fx *f = *state;
	record_day(f);
	/* https only, failing: recorded as failed; a bad record: no report */
	struct fake_io fio = {.txt = "v=TLSRPTv1;rua=https://r.example.net/x", .post_result = -1};
	struct reports_tlsrpt_io io = {fake_lookup, fake_post, &fio, &fio};
	struct reports_tlsrpt_stats st = {0};
	struct error e;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, T0 + DAY, T0, &st, &e), 0);
	assert_int_equal(st.post_failed, 2);
	struct globaldb_tlsrpt_out *out;
	size_t n;
	assert_int_equal(globaldb_tlsrpt_out_list(f->db, f->a, &out, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].posts[0].status, "retrying");
	assert_non_null(strstr(out[0].note, "HTTP status 500"));
	assert_int_equal(out[0].outgoing, 0);
	fio.txt = "v=TLSRPTv1;rua=mailto:nobody";
	add(f, "bad.example", T0 + DAY + 1, "no-policy-found", NULL, "mx.bad.example", NULL, NULL);
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, T0 + 2 * DAY, 0, &st, &e),
	                 0);
	assert_int_equal(globaldb_tlsrpt_out_list(f->db, f->a, &out, &n, &e), 0);
	size_t k = 0;
	while (k < n && strcmp(out[k].domain, "bad.example") != 0)
		k++;
	assert_true(k < n);
	assert_non_null(strstr(out[k].note, "no address"));
	/* a temporary failure older than two days gives up */
	fio.lookup_result = -1;
	add(f, "late.example", T0 + DAY + 1, "no-policy-found", NULL, "mx.late.example", NULL, NULL);
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, T0 + 4 * DAY, 0, &st, &e),
	                 0);
	struct globaldb_tlsrpt_result *r;
	assert_int_equal(globaldb_tlsrpt_results(f->db, NULL, 0, f->a, &r, &n, &e), 0);
	assert_int_equal(n, 0);
}

/* RFC 8460 §5.4: failed POSTs are tried again, with backoff, for 24 hours */
static void test_post_retries(void **state)
{
	struct globaldb_fx *f = *state;
	add(f, "example.net", T0, "no-policy-found", NULL, "mx.example.net", NULL, NULL);
	struct fake_io fio = {.txt = "v=TLSRPTv1;rua=https://r.example.net/x", .post_result = -1};
	struct reports_tlsrpt_io io = {fake_lookup, fake_post, &fio, &fio};
	struct reports_tlsrpt_stats st = {0};
	struct error e;
	int64_t t = T0 + DAY + 60;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, t, 0, &st, &e), 0);
	assert_int_equal(fio.posts, 1);
	/* not due yet */
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, t + 3599, 0, &st, &e), 0);
	assert_int_equal(fio.posts, 1);
	/* an hour later, then two more hours later */
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, t + 3600, 0, &st, &e), 0);
	assert_int_equal(fio.posts, 2);
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, t + 3600 + 7199, 0, &st,
	                                            &e), 0);
	assert_int_equal(fio.posts, 2);
	fio.post_result = 0;
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, t + 3600 + 7200, 0, &st,
	                                            &e), 0);
	assert_int_equal(fio.posts, 3);
	assert_true(fio.posted_len > 20);
	struct globaldb_tlsrpt_out *out;
	size_t n;
	assert_int_equal(globaldb_tlsrpt_out_list(f->db, f->a, &out, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].posts[0].status, "sent");
	assert_int_equal(out[0].posts[0].attempts, 3);
	/* sent: never again */
	assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, t + 5 * 3600, 0, &st, &e),
	                 0);
	assert_int_equal(fio.posts, 3);

	/* failing for good: given up within 24 hours */
	add(f, "example.net", T0 + DAY, "no-policy-found", NULL, "mx.example.net", NULL, NULL);
	fio.post_result = -1;
	fio.posts = 0;
	t = T0 + 2 * DAY + 60;
	for (int64_t now = t; now <= t + 2 * DAY; now += 600)
		assert_int_equal(reports_tlsrpt_compose_due(f->db, &io, &sender, now, 0, &st, &e), 0);
	assert_int_equal(fio.posts, 5);   /* at 0, 1, 3, 7 and 15 hours */
	assert_int_equal(globaldb_tlsrpt_out_list(f->db, f->a, &out, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].posts[0].status, "failed");
	assert_int_equal(out[0].posts[0].attempts, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_rfc_examples),
		cmocka_unit_test(test_record_errors),
		cmocka_unit_test_setup_teardown(test_aggregation, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_record_attempt, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_record_attempt_sessions, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_failure_details_bounded, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_roundtrip, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_compose_due, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_compose_failures, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_post_retries, globaldb_fx_setup,
		                                globaldb_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
