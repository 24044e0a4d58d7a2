/* globaldb_test.c: DATA/tern.db: creation and reopening, schema version,
 * adding DMARC and TLS reports (built here by hand, as
 * reports_parse_message would give them), idempotence on (org, report id),
 * listing by domain and time range with every field back, raw copies. */
#include "store/globaldb.h"

#include "store/store.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/globaldb_fixture.h"

static struct dmarc_dkim_result dkim1[] = {{"example.org", "sel1", "pass", NULL},
                                           {"other.example", "s2", "fail", "bad sig"}};
static struct dmarc_spf_result spf1[] = {{"example.org", "mfrom", "pass"}};
static struct dmarc_reason reason1[] = {{"forwarded", "list"}};
static struct dmarcrpt_record records1[] = {
	{"192.0.2.1", 10, "none", "pass", "pass", NULL, 0, "example.org", "example.org", NULL,
	 dkim1, 2, spf1, 1},
	{"2001:db8::1", 2, "reject", "fail", "fail", reason1, 1, "example.org", NULL, "rcpt.example",
	 NULL, 0, NULL, 0},
};
static const char *errors1[] = {"one error"};

static struct report dmarc_report(const char *org, const char *id, const char *domain,
                                  int64_t begin, int64_t end)
{
	struct report r = {.kind = REPORT_DMARC, .filename = "x.xml.gz", .packing = REPORT_GZIP,
	                   .raw = "\x1f\x8b raw bytes", .raw_len = 12};
	r.dmarc = (struct dmarc_report){
		.version = "1.0", .org_name = org, .email = "a@b", .report_id = id,
		.begin = begin, .end = end, .errors = errors1, .n_errors = 1,
		.domain = domain, .adkim = "r", .p = "reject", .sp = "none", .pct = 100,
		.records = records1, .n_records = 2,
	};
	return r;
}

static void test_dmarc_add_list(void **state)
{
	struct globaldb_fx *f = *state;
	struct error e;
	struct report r = dmarc_report("google.com", "123", "example.org", 1000, 2000);
	struct globaldb_report_source src = {"admin", "Reports/DMARC", 5000};
	int64_t id1, id2;
	assert_int_equal(globaldb_report_add(f->db, &r, &src, &id1, &e), 1);
	/* the same report again: stored once */
	assert_int_equal(globaldb_report_add(f->db, &r, NULL, &id2, &e), 0);
	assert_int_equal(id1, id2);
	/* another org, same report id: a different report */
	struct report r2 = dmarc_report("Enterprise Outlook", "123", "EXAMPLE.org", 3000, 4000);
	assert_int_equal(globaldb_report_add(f->db, &r2, NULL, &id2, &e), 1);
	assert_true(id2 != id1);
	struct report r3 = dmarc_report("google.com", "124", "other.example", 1000, 2000);
	assert_int_equal(globaldb_report_add(f->db, &r3, NULL, NULL, &e), 1);

	struct globaldb_dmarc *l;
	size_t n;
	assert_int_equal(globaldb_dmarc_list(f->db, "example.org", 0, INT64_MAX, f->a, &l, &n, &e),
	                 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].report.org_name, "google.com");
	assert_string_equal(l[1].report.org_name, "Enterprise Outlook");
	const struct globaldb_dmarc *x = &l[0];
	assert_int_equal(x->id, id1);
	assert_int_equal(x->received, 5000);
	assert_string_equal(x->account, "admin");
	assert_string_equal(x->mailbox, "Reports/DMARC");
	assert_string_equal(x->filename, "x.xml.gz");
	assert_int_equal(x->packing, REPORT_GZIP);
	assert_int_equal(x->raw_len, 12);
	const struct dmarc_report *d = &x->report;
	assert_string_equal(d->version, "1.0");
	assert_string_equal(d->report_id, "123");
	assert_int_equal(d->begin, 1000);
	assert_int_equal(d->end, 2000);
	assert_string_equal(d->adkim, "r");
	assert_null(d->aspf);
	assert_int_equal(d->pct, 100);
	assert_int_equal(d->n_errors, 1);
	assert_string_equal(d->errors[0], "one error");
	assert_int_equal(d->n_records, 2);
	assert_string_equal(d->records[0].source_ip, "192.0.2.1");
	assert_int_equal(d->records[0].count, 10);
	assert_int_equal(d->records[0].n_dkim, 2);
	assert_string_equal(d->records[0].dkim_results[1].human_result, "bad sig");
	assert_int_equal(d->records[0].n_spf, 1);
	assert_string_equal(d->records[0].spf_results[0].scope, "mfrom");
	assert_int_equal(d->records[1].n_reasons, 1);
	assert_string_equal(d->records[1].reasons[0].comment, "list");
	assert_string_equal(d->records[1].envelope_to, "rcpt.example");
	assert_int_equal(d->records[1].n_dkim, 0);

	/* time ranges: overlap, inclusive */
	assert_int_equal(globaldb_dmarc_list(f->db, "example.org", 2001, 2999, f->a, &l, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(globaldb_dmarc_list(f->db, "example.org", 2000, 3000, f->a, &l, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(globaldb_dmarc_list(f->db, "example.org", 3500, 3600, f->a, &l, &n, &e), 0);
	assert_int_equal(n, 1);
	/* all domains */
	assert_int_equal(globaldb_dmarc_list(f->db, NULL, 0, INT64_MAX, f->a, &l, &n, &e), 0);
	assert_int_equal(n, 3);
	/* raw copy */
	const void *raw;
	size_t rl;
	enum report_packing pk;
	assert_int_equal(globaldb_report_raw(f->db, REPORT_DMARC, id1, f->a, &raw, &rl, &pk, &e), 0);
	assert_int_equal(rl, 12);
	assert_memory_equal(raw, "\x1f\x8b raw bytes", 12);
	assert_int_equal(pk, REPORT_GZIP);
	assert_int_equal(globaldb_report_raw(f->db, REPORT_DMARC, 999, f->a, &raw, &rl, &pk, &e),
	                 -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	/* a report without a kind */
	struct report none = {0};
	assert_int_equal(globaldb_report_add(f->db, &none, NULL, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
}

static void test_tlsrpt_add_list(void **state)
{
	struct globaldb_fx *f = *state;
	struct error e;
	const char *ps[] = {"version: STSv1", "mode: testing"};
	const char *mx[] = {"*.mail.company-y.example"};
	struct tlsrpt_failure fl[] = {
		{"certificate-expired", "2001:db8::1", "mx1.company-y.example", NULL, NULL, 100, NULL,
		 NULL},
		{"validation-failure", "198.51.100.62", NULL, "helo", "203.0.113.58", 3, "info",
		 "X509_V_ERR"},
	};
	struct tlsrpt_policy pol[] = {
		{"sts", ps, 2, "company-y.example", mx, 1, 5326, 303, fl, 2},
		{"no-policy-found", NULL, 0, "other.example", NULL, 0, 7, 0, NULL, 0},
	};
	struct report r = {.kind = REPORT_TLSRPT, .packing = REPORT_PLAIN, .raw = "{}", .raw_len = 2};
	r.tlsrpt = (struct tlsrpt_report){"Company-X", "2016-04-01T00:00:00Z",
	                                  "2016-04-01T23:59:59Z", 1459468800, 1459555199,
	                                  "sts-reporting@company-x.example", "5065427c", pol, 2};
	int64_t id;
	assert_int_equal(globaldb_report_add(f->db, &r, NULL, &id, &e), 1);
	assert_int_equal(globaldb_report_add(f->db, &r, NULL, NULL, &e), 0);
	struct globaldb_tlsrpt *l;
	size_t n;
	assert_int_equal(globaldb_tlsrpt_list(f->db, "Company-Y.example", 1459468800, 1459468800,
	                                      f->a, &l, &n, &e), 0);
	assert_int_equal(n, 1);
	const struct tlsrpt_report *t = &l[0].report;
	assert_null(l[0].account);
	assert_true(l[0].received > 1600000000);
	assert_string_equal(t->organization_name, "Company-X");
	assert_string_equal(t->start_datetime, "2016-04-01T00:00:00Z");
	assert_int_equal(t->end, 1459555199);
	assert_int_equal(t->n_policies, 2);
	assert_string_equal(t->policies[0].policy_type, "sts");
	assert_int_equal(t->policies[0].n_policy_strings, 2);
	assert_string_equal(t->policies[0].policy_strings[1], "mode: testing");
	assert_int_equal(t->policies[0].n_mx_hosts, 1);
	assert_int_equal(t->policies[0].successful, 5326);
	assert_int_equal(t->policies[0].failed, 303);
	assert_int_equal(t->policies[0].n_failures, 2);
	assert_string_equal(t->policies[0].failures[1].receiving_mx_helo, "helo");
	assert_string_equal(t->policies[0].failures[1].failure_reason_code, "X509_V_ERR");
	assert_int_equal(t->policies[0].failures[0].failed_session_count, 100);
	assert_int_equal(t->policies[1].n_failures, 0);
	assert_int_equal(globaldb_tlsrpt_list(f->db, "nope.example", 0, INT64_MAX, f->a, &l, &n,
	                                      &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(globaldb_tlsrpt_list(f->db, NULL, 0, 1459468799, f->a, &l, &n, &e), 0);
	assert_int_equal(n, 0);
}

static void test_reopen_and_version(void **state)
{
	struct globaldb_fx *f = *state;
	struct error e;
	struct report r = dmarc_report("o", "1", "d.example", 1, 2);
	assert_int_equal(globaldb_report_add(f->db, &r, NULL, NULL, &e), 1);
	globaldb_close(&f->db);
	assert_null(f->db);
	assert_int_equal(globaldb_open(f->dir, &f->db, &e), 0);
	assert_int_equal(globaldb_report_add(f->db, &r, NULL, NULL, &e), 0);
	/* a newer schema is refused */
	globaldb_close(&f->db);
	char path[128];
	snprintf(path, sizeof(path), "%s/tern.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL,
	                              NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(globaldb_open(f->dir, &f->db, &e), -1);
	assert_non_null(strstr(e.msg, "newer than this tern"));
	/* a missing data directory is created */
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	struct globaldb *g;
	assert_int_equal(globaldb_open(sub, &g, &e), 0);
	globaldb_close(&g);
	snprintf(sub, sizeof(sub), "%s/sub/tern.db", f->dir);
	assert_int_equal(access(sub, F_OK), 0);
}

int main(void)
{
	store_set_durable(false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dmarc_add_list, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt_add_list, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_version, globaldb_fx_setup,
		                                globaldb_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
