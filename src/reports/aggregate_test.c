/* aggregate_test.c: outgoing DMARC aggregate reports: evaluations stored in
 * tern.db and grouped, periods, composition into a message whose XML
 * parses back (reports_parse_message) with the same records and counts,
 * !size limits, external destinations (a fake check), idempotency. */
#include "reports/aggregate.h"

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

static const struct globaldb_dmarc_rua rua_default[] = {{"dmarc@example.com", 0}};

static void add(struct globaldb_fx *f, int64_t t, const char *domain, const char *ip,
                const char *dispo, const char *dkimsel, const struct globaldb_dmarc_rua *rua,
                size_t nrua)
{
	struct globaldb_dmarc_dkim dk[] = {{domain, dkimsel, "pass"}};
	struct globaldb_dmarc_spf sp[] = {{domain, "mfrom", "pass"}};
	struct globaldb_dmarc_reason rs[] = {{"local_policy", "a comment with spaces"}};
	struct globaldb_dmarc_eval ev = {
		.evaluated = t, .policy_domain = domain, .p = "reject", .sp = "quarantine",
		.adkim = "r", .aspf = "s", .pct = 100, .fo = "1:d", .ri = DAY,
		.rua = rua != NULL ? rua : rua_default, .nrua = rua != NULL ? nrua : 1,
		.source_ip = ip, .header_from = domain, .envelope_from = domain,
		.envelope_to = "tern.example", .disposition = dispo, .dkim = "pass", .spf = "pass",
		.reasons = rs, .nreasons = strcmp(dispo, "none") == 0 ? 0 : 1,
		.dkim_results = dk, .ndkim = dkimsel != NULL ? 1 : 0, .spf_results = sp, .nspf = 1};
	struct error err;
	if (globaldb_dmarc_eval_add(f->db, &ev, &err) != 0)
		fail_msg("%s", err.msg);
}

static int verify_all(void *arg, const char *pd, const char *rd, char *why, size_t n)
{
	(void)arg;
	if (strcasecmp(pd, rd) == 0 || strcmp(rd, "ok.example") == 0)
		return 1;
	if (strcmp(rd, "temp.example") == 0) {
		snprintf(why, n, "timeout");
		return -1;
	}
	snprintf(why, n, "external destination not authorized");
	return 0;
}

static struct globaldb_outgoing *list_out(struct globaldb_fx *f, size_t *n)
{
	struct globaldb_outgoing *l;
	struct error err;
	if (globaldb_outgoing_list(f->db, NULL, true, f->a, &l, n, &err) != 0)
		fail_msg("%s", err.msg);
	return l;
}

static int compose(struct globaldb_fx *f, int64_t now, struct reports_compose_stats *st)
{
	struct error err;
	memset(st, 0, sizeof(*st));
	int r = reports_dmarc_compose_due_with(f->db, verify_all, NULL, &sender, now, st, &err);
	if (r != 0)
		fail_msg("%s", err.msg);
	return r;
}

static size_t count_evals(struct globaldb_fx *f, const char *domain, int64_t b, int64_t e)
{
	struct globaldb_dmarc_eval pol;
	struct globaldb_dmarc_group *g;
	size_t n;
	int64_t max;
	struct error err;
	assert_int_equal(globaldb_dmarc_groups(f->db, domain, b, e, f->a, &pol, &g, &n, &max, &err), 0);
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += (size_t)g[i].count;
	return total;
}

static void test_period(void **state)
{
	(void)state;
	int64_t b, e;
	reports_dmarc_period(T0 + 5000, DAY, &b, &e);
	assert_int_equal(b, T0);
	assert_int_equal(e, T0 + DAY);
	reports_dmarc_period(T0 + DAY - 1, 2 * DAY, &b, &e);
	assert_int_equal(b, T0);
	assert_int_equal(e, T0 + DAY);
	reports_dmarc_period(T0 + 5000, 3600, &b, &e);
	assert_int_equal(b, T0 + 3600);
	assert_int_equal(e, T0 + 7200);
	reports_dmarc_period(T0 + 5000, 5000, &b, &e);   /* rounded down to an hour */
	assert_int_equal(b, T0 + 3600);
	reports_dmarc_period(T0 + 50000, 30000, &b, &e); /* 8 hours */
	assert_int_equal(b, T0 + 28800);
	assert_int_equal(e, T0 + 57600);
	reports_dmarc_period(T0 + 10, 60, &b, &e);       /* at least an hour */
	assert_int_equal(e - b, 3600);
}

static void test_groups_and_roundtrip(void **state)
{
	struct globaldb_fx *f = *state;
	for (int i = 0; i < 5; i++)
		add(f, T0 + 100 + i, "example.com", "192.0.2.1", "none", "s1", NULL, 0);
	for (int i = 0; i < 3; i++)
		add(f, T0 + 200 + i, "example.com", "192.0.2.2", "reject", NULL, NULL, 0);
	add(f, T0 + 300, "example.com", "2001:db8::1", "none", "s1", NULL, 0);
	add(f, T0 + DAY + 5, "example.com", "192.0.2.1", "none", "s1", NULL, 0);   /* next day */
	assert_int_equal(count_evals(f, "EXAMPLE.com", T0, T0 + DAY), 9);

	struct reports_compose_stats st;
	compose(f, T0 + DAY - 1, &st);             /* period not over yet */
	assert_int_equal(st.composed, 0);
	size_t n;
	list_out(f, &n);
	assert_int_equal(n, 0);

	compose(f, T0 + DAY + 60, &st);
	assert_int_equal(st.composed, 1);
	struct globaldb_outgoing *l = list_out(f, &n);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].status, "waiting-for-queue");
	assert_int_equal(l[0].nrcpts, 1);
	assert_string_equal(l[0].rcpts[0], "dmarc@example.com");
	assert_non_null(strstr(l[0].subject, "Report Domain: example.com Submitter: "
	                                     "mail.tern.example Report-ID: <"));
	assert_non_null(strstr(l[0].data, "filename=\"mail.tern.example!example.com!1700006400!"
	                                  "1700092799.xml.gz\""));
	assert_int_equal(count_evals(f, "example.com", T0, T0 + DAY), 0);
	assert_int_equal(count_evals(f, "example.com", T0 + DAY, T0 + 2 * DAY), 1);

	struct report rep;
	struct error err;
	if (reports_parse_message(l[0].data, l[0].len, f->a, &rep, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.kind, REPORT_DMARC);
	assert_int_equal(rep.packing, REPORT_GZIP);
	const struct dmarc_report *d = &rep.dmarc;
	assert_string_equal(d->org_name, "mail.tern.example");
	assert_string_equal(d->email, "postmaster@mail.tern.example");
	assert_string_equal(d->domain, "example.com");
	assert_string_equal(d->p, "reject");
	assert_string_equal(d->sp, "quarantine");
	assert_string_equal(d->aspf, "s");
	assert_string_equal(d->fo, "1:d");
	assert_int_equal(d->pct, 100);
	assert_int_equal(d->begin, T0);
	assert_int_equal(d->end, T0 + DAY - 1);
	assert_int_equal(d->n_records, 3);
	assert_string_equal(d->records[0].source_ip, "192.0.2.1");
	assert_int_equal(d->records[0].count, 5);
	assert_int_equal(d->records[0].n_dkim, 1);
	assert_string_equal(d->records[0].dkim_results[0].selector, "s1");
	assert_int_equal(d->records[0].n_spf, 1);
	assert_string_equal(d->records[0].spf_results[0].scope, "mfrom");
	assert_string_equal(d->records[0].envelope_to, "tern.example");
	assert_string_equal(d->records[1].source_ip, "192.0.2.2");
	assert_int_equal(d->records[1].count, 3);
	assert_string_equal(d->records[1].disposition, "reject");
	assert_int_equal(d->records[1].n_dkim, 0);
	assert_int_equal(d->records[1].n_reasons, 1);
	assert_string_equal(d->records[1].reasons[0].type, "local_policy");
	assert_string_equal(d->records[1].reasons[0].comment, "a comment with spaces");
	assert_string_equal(d->records[2].source_ip, "2001:db8::1");
	assert_int_equal(d->records[2].count, 1);

	const char *first_id = d->report_id;
	/* Idempotent: a second run composes nothing; the next day when due. */
	compose(f, T0 + DAY + 120, &st);
	assert_int_equal(st.composed, 0);
	list_out(f, &n);
	assert_int_equal(n, 1);
	/* A late evaluation for the reported period is not reported twice. */
	add(f, T0 + 500, "example.com", "192.0.2.9", "none", "s1", NULL, 0);
	compose(f, T0 + 2 * DAY + 1, &st);
	assert_int_equal(st.composed, 1);   /* the second day only */
	l = list_out(f, &n);
	assert_int_equal(n, 2);
	assert_int_equal(count_evals(f, "example.com", 0, T0 + 10 * DAY), 0);
	if (reports_parse_message(l[1].data, l[1].len, f->a, &rep, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.dmarc.begin, T0 + DAY);
	assert_int_equal(rep.dmarc.n_records, 1);
	assert_int_equal(rep.dmarc.records[0].count, 1);
	assert_string_not_equal(rep.dmarc.report_id, first_id);
}

static void test_destinations(void **state)
{
	struct globaldb_fx *f = *state;
	const struct globaldb_dmarc_rua rua[] = {
		{"small@example.org", 100},            /* too small for any gzip report */
		{"big@example.org", 10 * 1024 * 1024},
		{"other@elsewhere.example", 0},        /* not authorized */
		{"r@ok.example", 0},                   /* authorized */
		{"bad address!x", 0},                  /* not storable: left out */
	};
	add(f, T0 + 10, "example.org", "192.0.2.3", "none", "s", rua, 5);
	struct reports_compose_stats st;
	compose(f, T0 + DAY, &st);
	assert_int_equal(st.composed, 1);
	size_t n;
	struct globaldb_outgoing *l = list_out(f, &n);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].nrcpts, 2);
	assert_string_equal(l[0].rcpts[0], "big@example.org");
	assert_string_equal(l[0].rcpts[1], "r@ok.example");
	assert_non_null(strstr(l[0].data, "To: <big@example.org>,\r\n <r@ok.example>\r\n"));

	/* Temporary failure: postponed while recent, then dropped. */
	const struct globaldb_dmarc_rua rt[] = {{"x@temp.example", 0}};
	add(f, T0 + DAY + 10, "example.net", "192.0.2.4", "none", "s", rt, 1);
	compose(f, T0 + 2 * DAY + 5, &st);
	assert_int_equal(st.postponed, 1);
	assert_int_equal(count_evals(f, "example.net", 0, T0 + 10 * DAY), 1);
	compose(f, T0 + 5 * DAY, &st);
	assert_int_equal(st.postponed, 0);
	assert_int_equal(st.no_destination, 1);
	assert_int_equal(count_evals(f, "example.net", 0, T0 + 10 * DAY), 0);
	list_out(f, &n);
	assert_int_equal(n, 1);

	/* No rua at all: nothing stored. */
	struct globaldb_dmarc_eval ev = {.policy_domain = "x.example", .p = "none",
	                                 .source_ip = "192.0.2.1", .header_from = "x.example",
	                                 .disposition = "none", .dkim = "fail", .spf = "fail"};
	struct error err;
	assert_int_equal(globaldb_dmarc_eval_add(f->db, &ev, &err), 0);
	assert_int_equal(count_evals(f, "x.example", 0, T0 + 10 * DAY), 0);
	ev.p = NULL;
	assert_int_equal(globaldb_dmarc_eval_add(f->db, &ev, &err), -1);
}

static void test_xml_escape_and_hook(void **state)
{
	struct globaldb_fx *f = *state;
	struct dmarcrpt_record rec = {.source_ip = "192.0.2.1", .count = 7, .disposition = "none",
	                           .dkim = "fail", .spf = "pass", .header_from = "a<b>&.example"};
	struct dmarc_spf_result spf = {"a.example", NULL, "pass"};
	rec.spf_results = &spf;
	rec.n_spf = 1;
	struct dmarc_report d = {.version = "1.0", .org_name = "o&o", .email = "e@x",
	                         .report_id = "1", .begin = 1, .end = 2, .domain = "a.example",
	                         .p = "none", .pct = -1, .records = &rec, .n_records = 1};
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	struct error err;
	assert_int_equal(reports_dmarc_xml(&d, &b, &err), 0);
	struct dmarc_report back;
	if (reports_dmarc_parse(b.data, b.len, f->a, &back, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(back.org_name, "o&o");
	assert_string_equal(back.records[0].header_from, "a<b>&.example");
	assert_int_equal(back.records[0].count, 7);
	assert_int_equal(back.pct, -1);
	buf_free(&b);
}

static int sign_hook(void *arg, const char *dom, const char *msg, size_t len, struct buf *hdr,
                     struct error *err)
{
	(void)arg;
	(void)msg;
	(void)len;
	(void)err;
	return buf_appendf(hdr, "DKIM-Signature: v=1; d=%s; test\r\n", dom);
}

static void test_sign_hook(void **state)
{
	struct globaldb_fx *f = *state;
	struct reports_sender s = sender;
	s.sign = sign_hook;
	add(f, T0 + 10, "example.com", "192.0.2.1", "none", "s1", NULL, 0);
	struct error err;
	assert_int_equal(reports_dmarc_compose_due_with(f->db, verify_all, NULL, &s, T0 + DAY,
	                                                NULL, &err), 0);
	size_t n;
	struct globaldb_outgoing *l = list_out(f, &n);
	assert_int_equal(n, 1);
	const char *want = "DKIM-Signature: v=1; d=mail.tern.example; test\r\nFrom: ";
	assert_int_equal(strncmp(l[0].data, want, strlen(want)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_period),
		cmocka_unit_test_setup_teardown(test_groups_and_roundtrip, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_destinations, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_xml_escape_and_hook, globaldb_fx_setup,
		                                globaldb_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sign_hook, globaldb_fx_setup,
		                                globaldb_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
