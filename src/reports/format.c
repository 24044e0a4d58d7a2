/*
 * format.c: reports as readable text and as JSON (for `tern dmarc
 * parsereportmsg`, `tern tlsrpt parsereportmsg` and, later, the admin API).
 * The JSON keeps the shape of the source formats: DMARC's element names
 * (report_metadata, policy_published, record with row, identifiers,
 * auth_results), RFC 8460's member names for TLS reports.
 */
#include "reports/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *or_dash(const char *s)
{
	return s != NULL ? s : "-";
}

static const char *utc(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, n, "%lld", (long long)t);
	return out;
}

static int text_dmarc(const struct dmarc_report *d, struct buf *o)
{
	char b1[64], b2[64];
	int r = 0;
	r |= buf_appendf(o, "DMARC aggregate report\n");
	r |= buf_appendf(o, "organization:  %s\n", or_dash(d->org_name));
	r |= buf_appendf(o, "email:         %s\n", or_dash(d->email));
	if (d->extra_contact_info != NULL)
		r |= buf_appendf(o, "extra contact: %s\n", d->extra_contact_info);
	r |= buf_appendf(o, "report id:     %s\n", or_dash(d->report_id));
	r |= buf_appendf(o, "period:        %s - %s\n", utc(d->begin, b1, sizeof(b1)),
	                 utc(d->end, b2, sizeof(b2)));
	for (size_t i = 0; i < d->n_errors; i++)
		r |= buf_appendf(o, "error:         %s\n", d->errors[i]);
	r |= buf_appendf(o, "policy:        domain=%s p=%s", or_dash(d->domain), or_dash(d->p));
	if (d->sp != NULL)
		r |= buf_appendf(o, " sp=%s", d->sp);
	if (d->np != NULL)
		r |= buf_appendf(o, " np=%s", d->np);
	if (d->adkim != NULL)
		r |= buf_appendf(o, " adkim=%s", d->adkim);
	if (d->aspf != NULL)
		r |= buf_appendf(o, " aspf=%s", d->aspf);
	if (d->pct >= 0)
		r |= buf_appendf(o, " pct=%d", d->pct);
	if (d->fo != NULL)
		r |= buf_appendf(o, " fo=%s", d->fo);
	r |= buf_appendf(o, "\nrecords:       %zu\n", d->n_records);
	for (size_t i = 0; i < d->n_records; i++) {
		const struct dmarcrpt_record *x = &d->records[i];
		r |= buf_appendf(o, "\n  source %s: %lld message%s, disposition %s, dkim %s, spf %s\n",
		                 or_dash(x->source_ip), (long long)x->count, x->count == 1 ? "" : "s",
		                 or_dash(x->disposition), or_dash(x->dkim), or_dash(x->spf));
		for (size_t k = 0; k < x->n_reasons; k++)
			r |= buf_appendf(o, "    reason %s%s%s\n", or_dash(x->reasons[k].type),
			                 x->reasons[k].comment != NULL ? ": " : "",
			                 x->reasons[k].comment != NULL ? x->reasons[k].comment : "");
		r |= buf_appendf(o, "    header_from %s", or_dash(x->header_from));
		if (x->envelope_from != NULL)
			r |= buf_appendf(o, ", envelope_from %s", x->envelope_from);
		if (x->envelope_to != NULL)
			r |= buf_appendf(o, ", envelope_to %s", x->envelope_to);
		r |= buf_appendf(o, "\n");
		for (size_t k = 0; k < x->n_dkim; k++) {
			const struct dmarc_dkim_result *k1 = &x->dkim_results[k];
			r |= buf_appendf(o, "    dkim %s: d=%s s=%s", or_dash(k1->result),
			                 or_dash(k1->domain), or_dash(k1->selector));
			if (k1->human_result != NULL && *k1->human_result != '\0')
				r |= buf_appendf(o, " (%s)", k1->human_result);
			r |= buf_appendf(o, "\n");
		}
		for (size_t k = 0; k < x->n_spf; k++)
			r |= buf_appendf(o, "    spf %s: %s%s%s\n", or_dash(x->spf_results[k].result),
			                 or_dash(x->spf_results[k].domain),
			                 x->spf_results[k].scope != NULL ? " scope " : "",
			                 x->spf_results[k].scope != NULL ? x->spf_results[k].scope : "");
	}
	return r != 0 ? -1 : 0;
}

static int text_tlsrpt(const struct tlsrpt_report *t, struct buf *o)
{
	int r = 0;
	r |= buf_appendf(o, "SMTP TLS report\n");
	r |= buf_appendf(o, "organization:  %s\n", or_dash(t->organization_name));
	r |= buf_appendf(o, "contact:       %s\n", or_dash(t->contact_info));
	r |= buf_appendf(o, "report id:     %s\n", or_dash(t->report_id));
	r |= buf_appendf(o, "period:        %s - %s\n", or_dash(t->start_datetime),
	                 or_dash(t->end_datetime));
	r |= buf_appendf(o, "policies:      %zu\n", t->n_policies);
	for (size_t i = 0; i < t->n_policies; i++) {
		const struct tlsrpt_policy *p = &t->policies[i];
		r |= buf_appendf(o, "\n  policy %s for %s: %lld successful, %lld failed sessions\n",
		                 or_dash(p->policy_type), or_dash(p->policy_domain),
		                 (long long)p->successful, (long long)p->failed);
		for (size_t k = 0; k < p->n_policy_strings; k++)
			r |= buf_appendf(o, "    policy-string %s\n", p->policy_strings[k]);
		for (size_t k = 0; k < p->n_mx_hosts; k++)
			r |= buf_appendf(o, "    mx-host %s\n", p->mx_hosts[k]);
		for (size_t k = 0; k < p->n_failures; k++) {
			const struct tlsrpt_failure *f = &p->failures[k];
			r |= buf_appendf(o, "    failure %s: %lld session%s", or_dash(f->result_type),
			                 (long long)f->failed_session_count,
			                 f->failed_session_count == 1 ? "" : "s");
			if (f->sending_mta_ip != NULL)
				r |= buf_appendf(o, ", from %s", f->sending_mta_ip);
			if (f->receiving_mx_hostname != NULL)
				r |= buf_appendf(o, ", mx %s", f->receiving_mx_hostname);
			if (f->receiving_mx_helo != NULL)
				r |= buf_appendf(o, ", helo %s", f->receiving_mx_helo);
			if (f->receiving_ip != NULL)
				r |= buf_appendf(o, ", ip %s", f->receiving_ip);
			if (f->failure_reason_code != NULL)
				r |= buf_appendf(o, ", code %s", f->failure_reason_code);
			r |= buf_appendf(o, "\n");
			if (f->additional_information != NULL)
				r |= buf_appendf(o, "      %s\n", f->additional_information);
		}
	}
	return r != 0 ? -1 : 0;
}

int reports_format_text(const struct report *rep, struct buf *out)
{
	int r = 0;
	if (rep->filename != NULL)
		r |= buf_appendf(out, "attachment:    %s (%s)\n", rep->filename,
		                 rep->content_type != NULL ? rep->content_type : "-");
	if (rep->kind == REPORT_DMARC)
		r |= text_dmarc(&rep->dmarc, out);
	else if (rep->kind == REPORT_TLSRPT)
		r |= text_tlsrpt(&rep->tlsrpt, out);
	return r != 0 ? -1 : 0;
}

/* ---- JSON ---- */

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_stringn(v, strlen(v)));
}

static void set_int(json_t *o, const char *key, int64_t v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_stringn(v[i], strlen(v[i])));
	return a;
}

static json_t *json_dmarc(const struct dmarc_report *d)
{
	json_t *root = json_object();
	set_str(root, "version", d->version);
	json_t *md = json_object();
	set_str(md, "org_name", d->org_name);
	set_str(md, "email", d->email);
	set_str(md, "extra_contact_info", d->extra_contact_info);
	set_str(md, "report_id", d->report_id);
	json_t *range = json_object();
	set_int(range, "begin", d->begin);
	set_int(range, "end", d->end);
	json_object_set_new(md, "date_range", range);
	if (d->n_errors > 0)
		json_object_set_new(md, "error", str_array(d->errors, d->n_errors));
	json_object_set_new(root, "report_metadata", md);
	json_t *pp = json_object();
	set_str(pp, "domain", d->domain);
	set_str(pp, "adkim", d->adkim);
	set_str(pp, "aspf", d->aspf);
	set_str(pp, "p", d->p);
	set_str(pp, "sp", d->sp);
	set_str(pp, "np", d->np);
	if (d->pct >= 0)
		set_int(pp, "pct", d->pct);
	set_str(pp, "fo", d->fo);
	json_object_set_new(root, "policy_published", pp);
	json_t *recs = json_array();
	for (size_t i = 0; i < d->n_records; i++) {
		const struct dmarcrpt_record *x = &d->records[i];
		json_t *rec = json_object(), *row = json_object(), *pe = json_object();
		set_str(row, "source_ip", x->source_ip);
		set_int(row, "count", x->count);
		set_str(pe, "disposition", x->disposition);
		set_str(pe, "dkim", x->dkim);
		set_str(pe, "spf", x->spf);
		if (x->n_reasons > 0) {
			json_t *rs = json_array();
			for (size_t k = 0; k < x->n_reasons; k++) {
				json_t *o = json_object();
				set_str(o, "type", x->reasons[k].type);
				set_str(o, "comment", x->reasons[k].comment);
				json_array_append_new(rs, o);
			}
			json_object_set_new(pe, "reason", rs);
		}
		json_object_set_new(row, "policy_evaluated", pe);
		json_object_set_new(rec, "row", row);
		json_t *ids = json_object();
		set_str(ids, "header_from", x->header_from);
		set_str(ids, "envelope_from", x->envelope_from);
		set_str(ids, "envelope_to", x->envelope_to);
		json_object_set_new(rec, "identifiers", ids);
		json_t *ar = json_object(), *dk = json_array(), *sp = json_array();
		for (size_t k = 0; k < x->n_dkim; k++) {
			json_t *o = json_object();
			set_str(o, "domain", x->dkim_results[k].domain);
			set_str(o, "selector", x->dkim_results[k].selector);
			set_str(o, "result", x->dkim_results[k].result);
			set_str(o, "human_result", x->dkim_results[k].human_result);
			json_array_append_new(dk, o);
		}
		for (size_t k = 0; k < x->n_spf; k++) {
			json_t *o = json_object();
			set_str(o, "domain", x->spf_results[k].domain);
			set_str(o, "scope", x->spf_results[k].scope);
			set_str(o, "result", x->spf_results[k].result);
			json_array_append_new(sp, o);
		}
		json_object_set_new(ar, "dkim", dk);
		json_object_set_new(ar, "spf", sp);
		json_object_set_new(rec, "auth_results", ar);
		json_array_append_new(recs, rec);
	}
	json_object_set_new(root, "record", recs);
	return root;
}

static json_t *json_tlsrpt(const struct tlsrpt_report *t)
{
	json_t *root = json_object();
	set_str(root, "organization-name", t->organization_name);
	json_t *range = json_object();
	set_str(range, "start-datetime", t->start_datetime);
	set_str(range, "end-datetime", t->end_datetime);
	json_object_set_new(root, "date-range", range);
	set_str(root, "contact-info", t->contact_info);
	set_str(root, "report-id", t->report_id);
	json_t *pols = json_array();
	for (size_t i = 0; i < t->n_policies; i++) {
		const struct tlsrpt_policy *p = &t->policies[i];
		json_t *po = json_object(), *pol = json_object(), *sum = json_object();
		set_str(pol, "policy-type", p->policy_type);
		if (p->n_policy_strings > 0)
			json_object_set_new(pol, "policy-string",
			                    str_array(p->policy_strings, p->n_policy_strings));
		set_str(pol, "policy-domain", p->policy_domain);
		if (p->n_mx_hosts > 0)
			json_object_set_new(pol, "mx-host", str_array(p->mx_hosts, p->n_mx_hosts));
		json_object_set_new(po, "policy", pol);
		set_int(sum, "total-successful-session-count", p->successful);
		set_int(sum, "total-failure-session-count", p->failed);
		json_object_set_new(po, "summary", sum);
		if (p->n_failures > 0) {
			json_t *fds = json_array();
			for (size_t k = 0; k < p->n_failures; k++) {
				const struct tlsrpt_failure *f = &p->failures[k];
				json_t *o = json_object();
				set_str(o, "result-type", f->result_type);
				set_str(o, "sending-mta-ip", f->sending_mta_ip);
				set_str(o, "receiving-mx-hostname", f->receiving_mx_hostname);
				set_str(o, "receiving-mx-helo", f->receiving_mx_helo);
				set_str(o, "receiving-ip", f->receiving_ip);
				set_int(o, "failed-session-count", f->failed_session_count);
				set_str(o, "additional-information", f->additional_information);
				set_str(o, "failure-reason-code", f->failure_reason_code);
				json_array_append_new(fds, o);
			}
			json_object_set_new(po, "failure-details", fds);
		}
		json_array_append_new(pols, po);
	}
	json_object_set_new(root, "policies", pols);
	return root;
}

int reports_format_json(const struct report *rep, struct buf *out)
{
	json_t *root = json_object();
	json_object_set_new(root, "kind", json_string(reports_kind_name(rep->kind)));
	if (rep->filename != NULL)
		set_str(root, "filename", rep->filename);
	if (rep->kind == REPORT_DMARC)
		json_object_set_new(root, "report", json_dmarc(&rep->dmarc));
	else if (rep->kind == REPORT_TLSRPT)
		json_object_set_new(root, "report", json_tlsrpt(&rep->tlsrpt));
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(root);
	if (s == NULL)
		return -1;
	int r = buf_append_str(out, s);
	if (r == 0)
		r = buf_append_char(out, '\n');
	free(s);
	return r;
}
