/*
 * tlsrpt_out.c: building outgoing SMTP TLS reports, see tlsrpt_out.h: the
 * JSON document of RFC 8460 §4.3/§4.4 (jansson, members in the RFC's
 * order), the file name and the report message of §5.3.
 */
#include "reports/tlsrpt_out.h"

#include "core/base64.h"
#include "core/log.h"
#include "message/message.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- JSON ---- */

static int set_str(json_t *o, const char *key, const char *v)
{
	if (v == NULL)
		return 0;
	json_t *s = json_string(v);
	return s == NULL || json_object_set_new(o, key, s) != 0 ? -1 : 0;
}

static int set_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v)) != 0 ? -1 : 0;
}

static int set_strings(json_t *o, const char *key, const char *const *v, size_t n)
{
	if (n == 0)
		return 0;
	json_t *arr = json_array();
	int r = arr == NULL ? -1 : 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		json_t *s = json_string(v[i]);
		r = s == NULL || json_array_append_new(arr, s) != 0 ? -1 : 0;
	}
	if (r == 0 && json_object_set_new(o, key, arr) != 0)
		return -1;
	if (r != 0)
		json_decref(arr);
	return r;
}

/* §4.3 failure-details[] entry */
static json_t *failure_json(const struct tlsrpt_failure *f)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	int r = set_str(o, "result-type", f->result_type) |
	        set_str(o, "sending-mta-ip", f->sending_mta_ip) |
	        set_str(o, "receiving-mx-hostname", f->receiving_mx_hostname) |
	        set_str(o, "receiving-mx-helo", f->receiving_mx_helo) |
	        set_str(o, "receiving-ip", f->receiving_ip) |
	        set_int(o, "failed-session-count", f->failed_session_count) |
	        set_str(o, "additional-information", f->additional_information) |
	        set_str(o, "failure-reason-code", f->failure_reason_code);
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* §4.3 policies[] entry: policy, summary, failure-details */
static json_t *policy_json(const struct tlsrpt_policy *p)
{
	json_t *o = json_object(), *pol = json_object(), *sum = json_object(),
	       *fd = json_array();
	int r = o == NULL || pol == NULL || sum == NULL || fd == NULL ? -1 : 0;
	r |= set_str(pol, "policy-type", p->policy_type) |
	     set_strings(pol, "policy-string", p->policy_strings, p->n_policy_strings) |
	     set_str(pol, "policy-domain", p->policy_domain) |
	     set_strings(pol, "mx-host", p->mx_hosts, p->n_mx_hosts);
	r |= set_int(sum, "total-successful-session-count", p->successful) |
	     set_int(sum, "total-failure-session-count", p->failed);
	for (size_t i = 0; i < p->n_failures && r == 0; i++) {
		json_t *f = failure_json(&p->failures[i]);
		r = f == NULL || json_array_append_new(fd, f) != 0 ? -1 : 0;
	}
	if (r == 0) {
		r = json_object_set(o, "policy", pol) | json_object_set(o, "summary", sum);
		if (p->n_failures > 0)
			r |= json_object_set(o, "failure-details", fd);
	}
	json_decref(pol);
	json_decref(sum);
	json_decref(fd);
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *report_json(const struct tlsrpt_report *rep)
{
	json_t *o = json_object(), *range = json_object(), *pols = json_array();
	int r = o == NULL || range == NULL || pols == NULL ? -1 : 0;
	r |= set_str(o, "organization-name", rep->organization_name);
	r |= set_str(range, "start-datetime", rep->start_datetime) |
	     set_str(range, "end-datetime", rep->end_datetime);
	r |= json_object_set(o, "date-range", range);
	r |= set_str(o, "contact-info", rep->contact_info) | set_str(o, "report-id", rep->report_id);
	for (size_t i = 0; i < rep->n_policies && r == 0; i++) {
		json_t *p = policy_json(&rep->policies[i]);
		r = p == NULL || json_array_append_new(pols, p) != 0 ? -1 : 0;
	}
	r |= json_object_set(o, "policies", pols);
	json_decref(range);
	json_decref(pols);
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int reports_tlsrpt_json(const struct tlsrpt_report *rep, struct buf *out, struct error *err)
{
	json_t *o = report_json(rep);
	if (o == NULL)
		return error_set(err, ERR_LIMIT, "building the TLS report JSON failed");
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return error_set(err, ERR_LIMIT, "writing the TLS report JSON failed");
	int r = buf_append(out, s, strlen(s)) == 0 ? 0 :
	        error_set(err, ERR_LIMIT, "TLS report JSON too large");
	free(s);
	return r;
}

/* ---- building from recorded results ---- */

static const char *iso_utc(int64_t t, struct arena *a)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char b[32];
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return arena_strdup(a, b);
}

/* The '\n'-separated policy strings as a list. */
static void split_strings(const char *s, struct arena *a, struct tlsrpt_policy *p)
{
	size_t n = 0, cap = 0;
	const char **v = NULL;
	while (s != NULL && *s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);
		v = arena_grow(a, v, n, &cap, sizeof(*v), 4);
		v[n++] = arena_strndup(a, s, len);
		s = nl != NULL ? nl + 1 : s + len;
	}
	p->policy_strings = v;
	p->n_policy_strings = n;
}

/* Adds res's MX host to p unless it is there already. */
static void add_mx(struct tlsrpt_policy *p, size_t *cap, const char *mx, struct arena *a)
{
	if (mx == NULL || mx[0] == '\0')
		return;
	for (size_t i = 0; i < p->n_mx_hosts; i++)
		if (strcmp(p->mx_hosts[i], mx) == 0)
			return;
	p->mx_hosts = arena_grow(a, p->mx_hosts, p->n_mx_hosts, cap, sizeof(*p->mx_hosts), 4);
	p->mx_hosts[p->n_mx_hosts++] = mx;
}

/* Adds the failure details of res to p. Results of one policy differ in
 * their MX host, which every failure detail of theirs carries as
 * receiving-mx-hostname, so the details stay distinct. */
static void add_failures(struct tlsrpt_policy *p, size_t *cap,
                         const struct globaldb_tlsrpt_result *res, struct arena *a)
{
	for (size_t i = 0; i < res->nfailures; i++) {
		const struct globaldb_tlsrpt_failure *f = &res->failures[i];
		p->failures = arena_grow(a, p->failures, p->n_failures, cap, sizeof(*p->failures), 4);
		p->failures[p->n_failures++] = (struct tlsrpt_failure){
			.result_type = f->result_type, .sending_mta_ip = f->sending_mta_ip,
			.receiving_mx_hostname = f->receiving_mx_hostname,
			.receiving_ip = f->receiving_ip, .failed_session_count = f->count,
			.additional_information = f->additional_info};
	}
}

/* Growth state of one policies[] entry while building. */
struct policy_build {
	const char *type, *strings;   /* the grouping key */
	size_t mx_cap, failure_cap;
};

int reports_tlsrpt_build(const struct reports_sender *s, const char *domain, int64_t begin,
                         const struct globaldb_tlsrpt_result *results, size_t nresults,
                         const char *report_id, struct arena *a, struct tlsrpt_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->organization_name = s->org_name;
	rep->begin = begin;
	rep->end = begin + 86400 - 1;
	/* §4.4 example: the day's first and last second, UTC */
	rep->start_datetime = iso_utc(rep->begin, a);
	rep->end_datetime = iso_utc(rep->end, a);
	rep->contact_info = s->from;
	rep->report_id = report_id;
	rep->policies = arena_alloc(a, (nresults + 1) * sizeof(*rep->policies));
	struct policy_build *pb = arena_alloc(a, (nresults + 1) * sizeof(*pb));
	for (size_t i = 0; i < nresults; i++) {
		const struct globaldb_tlsrpt_result *res = &results[i];
		size_t k = 0;
		while (k < rep->n_policies && (strcmp(pb[k].type, res->policy_type) != 0 ||
		                               strcmp(pb[k].strings, res->policy_strings) != 0))
			k++;
		struct tlsrpt_policy *p = &rep->policies[k];
		if (k == rep->n_policies) {
			rep->n_policies++;
			memset(p, 0, sizeof(*p));
			pb[k] = (struct policy_build){.type = res->policy_type,
			                              .strings = res->policy_strings};
			p->policy_type = res->policy_type;
			p->policy_domain = domain;
			split_strings(res->policy_strings, a, p);
		}
		add_mx(p, &pb[k].mx_cap, res->mx_host, a);
		p->successful += res->successful;
		p->failed += res->failed;
		add_failures(p, &pb[k].failure_cap, res, a);
	}
	return 0;
}

const char *reports_tlsrpt_filename(const struct reports_sender *s, const struct tlsrpt_report *r,
                                    const char *unique_id, struct arena *a)
{
	/* §5.3: filename = receiver "!" policy-domain "!" begin-timestamp "!"
	 * end-timestamp [ "!" unique-id ] "." extension; timestamps in seconds
	 * since the epoch */
	const char *domain = r->n_policies > 0 && r->policies[0].policy_domain != NULL ?
	                     r->policies[0].policy_domain : "";
	return arena_printf(a, "%s!%s!%" PRId64 "!%" PRId64 "%s%s.json.gz", s->hostname, domain,
	                    r->begin, r->end, unique_id != NULL ? "!" : "",
	                    unique_id != NULL ? unique_id : "");
}

/* ---- the message (§5.3) ---- */

static void text_part(struct buf *m, const struct tlsrpt_report *r, const char *domain)
{
	int64_t ok = 0, failed = 0;
	for (size_t i = 0; i < r->n_policies; i++) {
		ok += r->policies[i].successful;
		failed += r->policies[i].failed;
	}
	buf_appendf(m, "This is an aggregate TLS report (RFC 8460) from %s\r\n"
	            "Policy domain: %s\r\nPeriod: %s to %s\r\n"
	            "Sessions: %" PRId64 " successful, %" PRId64 " failed\r\nReport-ID: %s\r\n",
	            r->organization_name, domain, r->start_datetime, r->end_datetime, ok, failed,
	            r->report_id);
}

/* Prepends the signer's header fields (a DKIM-Signature) to m into out. */
static void sign_into(const struct reports_sender *s, const struct buf *m, const char *domain,
                      struct buf *out)
{
	if (s->sign == NULL)
		return;
	struct buf hdr;
	buf_init(&hdr, 64 * 1024);
	struct error se;
	error_clear(&se);
	const char *at = strrchr(s->from, '@');
	if (s->sign(s->sign_arg, at != NULL ? at + 1 : s->hostname, m->data, m->len, &hdr,
	            &se) == 0)
		buf_append(out, hdr.data, hdr.len);
	else
		log_msgf(LOG_WARN, "tlsrpt", "signing the TLS report for %s failed: %s", domain,
		         se.msg);
	buf_free(&hdr);
}

int reports_tlsrpt_message(const struct reports_sender *s, const struct tlsrpt_report *r,
                           const char *filename, const char *const *rcpts, size_t nrcpts,
                           const void *gz, size_t gzlen, int64_t now, struct buf *out,
                           struct error *err)
{
	const char *domain = r->n_policies > 0 && r->policies[0].policy_domain != NULL ?
	                     r->policies[0].policy_domain : "";
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	char date[MESSAGE_DATE_MAX];
	message_date_format((time_t)now, date);
	char boundary[64];
	snprintf(boundary, sizeof(boundary), "=_tern-tlsrpt-%" PRId64 "-%" PRId64, r->begin, now);
	buf_appendf(&m, "From: <%s>\r\nTo: ", s->from);
	for (size_t i = 0; i < nrcpts; i++)
		buf_appendf(&m, "%s<%s>", i > 0 ? ",\r\n " : "", rcpts[i]);
	/* §5.3: Subject "Report Domain: ... Submitter: ... Report-ID: <...>",
	 * TLS-Report-Domain and TLS-Report-Submitter header fields */
	buf_appendf(&m, "\r\nSubject: Report Domain: %s Submitter: %s\r\n Report-ID: <%s>\r\n",
	            domain, r->organization_name, r->report_id);
	buf_appendf(&m, "Date: %s\r\n", date);
	buf_appendf(&m, "Message-ID: <tlsrpt-%s>\r\n", r->report_id);
	buf_appendf(&m, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n", domain,
	            r->organization_name);
	buf_append_str(&m, "MIME-Version: 1.0\r\n");
	/* §5.3: multipart/report (RFC 6522) with report-type "tlsrpt" */
	buf_appendf(&m, "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	            " boundary=\"%s\"\r\n", boundary);
	buf_append_str(&m, "\r\nThis is a multipart message in MIME format.\r\n");
	buf_appendf(&m, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	            "Content-Transfer-Encoding: 7bit\r\n\r\n", boundary);
	text_part(&m, r, domain);
	/* §5.3: the gzip'ed report as application/tlsrpt+gzip */
	buf_appendf(&m, "\r\n--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
	            "Content-Transfer-Encoding: base64\r\n"
	            "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n\r\n", boundary,
	            filename);
	base64_append_lines(&m, gz, gzlen);
	buf_appendf(&m, "\r\n--%s--\r\n", boundary);
	sign_into(s, &m, domain, out);
	int ret = buf_append(out, m.data, m.len) == 0 ? 0 :
	          error_set(err, ERR_LIMIT, "TLS report message too large");
	buf_free(&m);
	return ret;
}
