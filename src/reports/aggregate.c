/*
 * aggregate.c: composing outgoing DMARC aggregate reports, see aggregate.h.
 * XML with libxml2's xmlTextWriter, gzip with zlib, the message by hand
 * (multipart/mixed: a text part and the application/gzip report).
 */
#include "reports/aggregate.h"

#include "core/base64.h"
#include "core/log.h"
#include "message/message.h"

#include <inttypes.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

/* Largest compressed report kept (a message the queue can carry). */
#define AGG_GZ_MAX (30u * 1024 * 1024)

void reports_dmarc_period(int64_t t, uint32_t ri, int64_t *begin_r, int64_t *end_r)
{
	static const uint32_t lens[] = {86400, 43200, 28800, 21600, 14400, 10800, 7200, 3600};
	uint32_t len = 3600;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		if (ri >= lens[i]) {
			len = lens[i];
			break;
		}
	}
	int64_t day = t - ((t % 86400) + 86400) % 86400;
	int64_t k = (t - day) / len;
	*begin_r = day + k * len;
	*end_r = *begin_r + len;
}

/* ---- XML ---- */

static int w_el(xmlTextWriterPtr w, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	return xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST value) < 0 ? -1 : 0;
}

static int w_int(xmlTextWriterPtr w, const char *name, int64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRId64, v);
	return w_el(w, name, b);
}

static int w_start(xmlTextWriterPtr w, const char *name)
{
	return xmlTextWriterStartElement(w, BAD_CAST name) < 0 ? -1 : 0;
}

static int w_end(xmlTextWriterPtr w)
{
	return xmlTextWriterEndElement(w) < 0 ? -1 : 0;
}

static int w_record(xmlTextWriterPtr w, const struct dmarcrpt_record *x)
{
	int r = w_start(w, "record") | w_start(w, "row") | w_el(w, "source_ip", x->source_ip) |
	        w_int(w, "count", x->count) | w_start(w, "policy_evaluated") |
	        w_el(w, "disposition", x->disposition) | w_el(w, "dkim", x->dkim) |
	        w_el(w, "spf", x->spf);
	for (size_t i = 0; i < x->n_reasons; i++)
		r |= w_start(w, "reason") | w_el(w, "type", x->reasons[i].type) |
		     w_el(w, "comment", x->reasons[i].comment) | w_end(w);
	r |= w_end(w) | w_end(w);   /* policy_evaluated, row */
	r |= w_start(w, "identifiers") | w_el(w, "envelope_to", x->envelope_to) |
	     w_el(w, "envelope_from", x->envelope_from) | w_el(w, "header_from", x->header_from) |
	     w_end(w);
	r |= w_start(w, "auth_results");
	for (size_t i = 0; i < x->n_dkim; i++) {
		const struct dmarc_dkim_result *d = &x->dkim_results[i];
		r |= w_start(w, "dkim") | w_el(w, "domain", d->domain != NULL ? d->domain : "") |
		     w_el(w, "selector", d->selector) |
		     w_el(w, "result", d->result != NULL ? d->result : "none") |
		     w_el(w, "human_result", d->human_result) | w_end(w);
	}
	for (size_t i = 0; i < x->n_spf; i++) {
		const struct dmarc_spf_result *s = &x->spf_results[i];
		r |= w_start(w, "spf") | w_el(w, "domain", s->domain != NULL ? s->domain : "") |
		     w_el(w, "scope", s->scope) |
		     w_el(w, "result", s->result != NULL ? s->result : "none") | w_end(w);
	}
	r |= w_end(w) | w_end(w);   /* auth_results, record */
	return r;
}

int reports_dmarc_xml(const struct dmarc_report *d, struct buf *out, struct error *err)
{
	xmlBufferPtr xb = xmlBufferCreate();
	if (xb == NULL)
		return error_set(err, ERR_LIMIT, "out of memory");
	xmlTextWriterPtr w = xmlNewTextWriterMemory(xb, 0);
	if (w == NULL) {
		xmlBufferFree(xb);
		return error_set(err, ERR_LIMIT, "out of memory");
	}
	xmlTextWriterSetIndent(w, 1);
	xmlTextWriterSetIndentString(w, BAD_CAST "  ");
	int r = xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL) < 0 ? -1 : 0;
	r |= w_start(w, "feedback") | w_el(w, "version", d->version);
	r |= w_start(w, "report_metadata") | w_el(w, "org_name", d->org_name) |
	     w_el(w, "email", d->email) | w_el(w, "extra_contact_info", d->extra_contact_info) |
	     w_el(w, "report_id", d->report_id) | w_start(w, "date_range") |
	     w_int(w, "begin", d->begin) | w_int(w, "end", d->end) | w_end(w);
	for (size_t i = 0; i < d->n_errors; i++)
		r |= w_el(w, "error", d->errors[i]);
	r |= w_end(w);
	r |= w_start(w, "policy_published") | w_el(w, "domain", d->domain) |
	     w_el(w, "adkim", d->adkim) | w_el(w, "aspf", d->aspf) | w_el(w, "p", d->p) |
	     w_el(w, "sp", d->sp) | w_el(w, "np", d->np);
	if (d->pct >= 0)
		r |= w_int(w, "pct", d->pct);
	r |= w_el(w, "fo", d->fo) | w_end(w);
	for (size_t i = 0; i < d->n_records && r == 0; i++)
		r |= w_record(w, &d->records[i]);
	r |= w_end(w);
	if (r == 0 && xmlTextWriterEndDocument(w) < 0)
		r = -1;
	xmlFreeTextWriter(w);   /* flushes */
	if (r == 0 && buf_append(out, xmlBufferContent(xb), (size_t)xmlBufferLength(xb)) != 0)
		r = -1;
	xmlBufferFree(xb);
	return r == 0 ? 0 : error_set(err, ERR_LIMIT, "writing the report XML failed");
}

int reports_gzip(const void *in, size_t n, struct buf *out, struct error *err)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return error_set(err, ERR_LIMIT, "zlib: deflateInit2 failed");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	int rc;
	do {
		char *p = buf_reserve(out, 65536);
		if (p == NULL) {
			deflateEnd(&z);
			return error_set(err, ERR_LIMIT, "compressed report too large");
		}
		z.next_out = (Bytef *)p;
		z.avail_out = 65536;
		rc = deflate(&z, Z_FINISH);
		buf_commit(out, 65536 - z.avail_out);
	} while (rc == Z_OK || rc == Z_BUF_ERROR);
	deflateEnd(&z);
	if (rc != Z_STREAM_END)
		return error_set(err, ERR_INVALID, "zlib: deflate failed");
	return 0;
}

/* ---- building ---- */

int reports_dmarc_build(const struct reports_sender *s, const struct globaldb_dmarc_eval *pol,
                        const struct globaldb_dmarc_group *groups, size_t ngroups,
                        int64_t begin, int64_t end, const char *report_id, struct arena *a,
                        struct dmarc_report *d)
{
	memset(d, 0, sizeof(*d));
	d->version = "1.0";
	d->org_name = s->org_name;
	d->email = s->from;
	d->extra_contact_info = s->extra_contact_info;
	d->report_id = report_id;
	d->begin = begin;
	d->end = end - 1;
	d->domain = pol->policy_domain;
	d->adkim = pol->adkim;
	d->aspf = pol->aspf;
	d->p = pol->p;
	d->sp = pol->sp;
	d->np = pol->np;
	d->fo = pol->fo;
	d->pct = pol->pct;
	d->records = arena_alloc(a, (ngroups > 0 ? ngroups : 1) * sizeof(*d->records));
	d->n_records = ngroups;
	for (size_t i = 0; i < ngroups; i++) {
		const struct globaldb_dmarc_eval *e = &groups[i].ev;
		struct dmarcrpt_record *x = &d->records[i];
		memset(x, 0, sizeof(*x));
		x->source_ip = e->source_ip;
		x->count = groups[i].count;
		x->disposition = e->disposition;
		x->dkim = e->dkim;
		x->spf = e->spf;
		x->header_from = e->header_from;
		x->envelope_from = e->envelope_from;
		x->envelope_to = e->envelope_to;
		x->n_reasons = e->nreasons;
		x->reasons = arena_alloc(a, (e->nreasons + 1) * sizeof(*x->reasons));
		for (size_t k = 0; k < e->nreasons; k++)
			x->reasons[k] = (struct dmarc_reason){e->reasons[k].type, e->reasons[k].comment};
		x->n_dkim = e->ndkim;
		x->dkim_results = arena_alloc(a, (e->ndkim + 1) * sizeof(*x->dkim_results));
		for (size_t k = 0; k < e->ndkim; k++)
			x->dkim_results[k] = (struct dmarc_dkim_result){
				e->dkim_results[k].domain, e->dkim_results[k].selector,
				e->dkim_results[k].result, NULL};
		x->n_spf = e->nspf;
		x->spf_results = arena_alloc(a, (e->nspf + 1) * sizeof(*x->spf_results));
		for (size_t k = 0; k < e->nspf; k++)
			x->spf_results[k] = (struct dmarc_spf_result){
				e->spf_results[k].domain, e->spf_results[k].scope, e->spf_results[k].result};
	}
	return 0;
}

static void fmt_utc(int64_t t, char *b, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(b, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

int reports_dmarc_message(const struct reports_sender *s, const struct dmarc_report *r,
                          const char *const *rcpts, size_t nrcpts, const void *gz, size_t gzlen,
                          int64_t now, struct buf *out, struct error *err)
{
	struct buf m;
	buf_init(&m, BUF_UNBOUNDED);
	char date[MESSAGE_DATE_MAX];
	message_date_format((time_t)now, date);
	char boundary[64];
	snprintf(boundary, sizeof(boundary), "=_tern-dmarc-%" PRId64 "-%" PRId64, r->begin, now);
	buf_appendf(&m, "From: <%s>\r\n", s->from);
	buf_append_str(&m, "To: ");
	for (size_t i = 0; i < nrcpts; i++)
		buf_appendf(&m, "%s<%s>", i > 0 ? ",\r\n " : "", rcpts[i]);
	buf_append_str(&m, "\r\n");
	buf_appendf(&m, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", r->domain,
	            r->org_name, r->report_id);
	buf_appendf(&m, "Date: %s\r\n", date);
	buf_appendf(&m, "Message-ID: <dmarc-%s@%s>\r\n", r->report_id, s->hostname);
	buf_append_str(&m, "MIME-Version: 1.0\r\n");
	buf_appendf(&m, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n", boundary);
	buf_append_str(&m, "\r\nThis is a DMARC aggregate report in MIME format.\r\n");
	char b1[40], b2[40];
	fmt_utc(r->begin, b1, sizeof(b1));
	fmt_utc(r->end + 1, b2, sizeof(b2));
	buf_appendf(&m, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	            "Content-Transfer-Encoding: 7bit\r\n\r\n", boundary);
	buf_appendf(&m, "DMARC aggregate report (RFC 7489) for %s from %s\r\n"
	            "Period: %s to %s\r\nMessages: ", r->domain, r->org_name, b1, b2);
	int64_t total = 0;
	for (size_t i = 0; i < r->n_records; i++)
		total += r->records[i].count;
	buf_appendf(&m, "%" PRId64 " in %zu records\r\nReport-ID: %s\r\n", total, r->n_records,
	            r->report_id);
	char fname[1200];
	snprintf(fname, sizeof(fname), "%s!%s!%" PRId64 "!%" PRId64 ".xml.gz", s->hostname,
	         r->domain, r->begin, r->end);
	buf_appendf(&m, "\r\n--%s\r\nContent-Type: application/gzip; name=\"%s\"\r\n"
	            "Content-Disposition: attachment; filename=\"%s\"\r\n"
	            "Content-Transfer-Encoding: base64\r\n\r\n", boundary, fname, fname);
	base64_append_lines(&m, gz, gzlen);
	buf_appendf(&m, "\r\n--%s--\r\n", boundary);
	int ret = 0;
	if (s->sign != NULL) {
		struct buf hdr;
		buf_init(&hdr, 64 * 1024);
		struct error se;
		error_clear(&se);
		const char *at = strrchr(s->from, '@');
		if (s->sign(s->sign_arg, at != NULL ? at + 1 : s->hostname, m.data, m.len, &hdr,
		            &se) == 0)
			buf_append(out, hdr.data, hdr.len);
		else
			log_msgf(LOG_WARN, "dmarcreport", "signing report for %s failed: %s", r->domain,
			         se.msg);
		buf_free(&hdr);
	}
	if (buf_append(out, m.data, m.len) != 0)
		ret = error_set(err, ERR_LIMIT, "report message too large");
	buf_free(&m);
	return ret;
}

/* ---- composing due periods ---- */

static const char *addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* Composes (domain, [begin, end)): 1 done, 0 postponed, -1 database error. */
static int compose_one(struct globaldb *db, reports_verify_fn *verify, void *verify_arg,
                       const struct reports_sender *s, const char *domain, int64_t begin,
                       int64_t end, int64_t now, struct reports_compose_stats *stats,
                       struct error *e)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct globaldb_dmarc_eval pol;
	struct globaldb_dmarc_group *groups;
	size_t ngroups;
	int64_t max_id;
	int ret = -1;
	struct buf xml, gz, msg, note;
	buf_init(&xml, REPORTS_DOC_MAX);
	buf_init(&gz, AGG_GZ_MAX);
	buf_init(&msg, BUF_UNBOUNDED);
	buf_init(&note, 64 * 1024);
	if (globaldb_dmarc_groups(db, domain, begin, end, a, &pol, &groups, &ngroups, &max_id,
	                          e) != 0)
		goto out;
	const char *report_id = arena_printf(a, "%" PRId64 ".%s", begin, pol.policy_domain != NULL
	                                     ? pol.policy_domain : domain);
	struct globaldb_dmarc_done done = {.domain = domain, .begin = begin, .end = end,
	                                   .report_id = report_id, .max_id = max_id};
	int exists = globaldb_dmarc_report_exists(db, domain, begin, e);
	if (exists < 0)
		goto out;
	if (ngroups == 0 || exists) {
		if (exists)
			log_msgf(LOG_WARN, "dmarcreport", "evaluations for %s after its report of "
			         "period %" PRId64 " was composed: not reported", domain, begin);
		ret = globaldb_dmarc_report_done(db, &done, NULL, e) < 0 ? -1 : 1;
		goto out;
	}
	struct dmarc_report rep;
	reports_dmarc_build(s, &pol, groups, ngroups, begin, end, report_id, a, &rep);
	if (reports_dmarc_xml(&rep, &xml, e) != 0 || reports_gzip(xml.data, xml.len, &gz, e) != 0) {
		log_msgf(LOG_ERROR, "dmarcreport", "composing report for %s: %s", domain, e->msg);
		buf_appendf(&note, "composing failed: %s", e->msg);
		done.note = note.data;
		buf_append_char(&note, '\0');
		ret = globaldb_dmarc_report_done(db, &done, NULL, e) < 0 ? -1 : 1;
		goto out;
	}
	const char **rcpts = arena_alloc(a, (pol.nrua + 1) * sizeof(*rcpts));
	size_t nrcpts = 0;
	const char *org_policy = pol.policy_domain != NULL ? pol.policy_domain : domain;
	for (size_t i = 0; i < pol.nrua; i++) {
		const struct globaldb_dmarc_rua *u = &pol.rua[i];
		const char *dom = addr_domain(u->address);
		char why[512] = "";
		bool dup = false;
		for (size_t k = 0; k < nrcpts; k++)
			dup |= strcasecmp(rcpts[k], u->address) == 0;
		if (dup)
			continue;
		if (dom == NULL) {
			snprintf(why, sizeof(why), "not an address");
		} else {
			int v = verify(verify_arg, org_policy, dom, why, sizeof(why));
			if (v < 0 && now - end < 2 * 86400) {
				log_msgf(LOG_INFO, "dmarcreport", "report for %s postponed: verifying %s: %s",
				         domain, u->address, why);
				if (stats != NULL)
					stats->postponed++;
				ret = 0;
				goto out;
			}
			if (v > 0 && u->max_size > 0 && gz.len > u->max_size) {
				snprintf(why, sizeof(why), "report of %zu bytes (gzip) exceeds its limit of "
				         "%" PRIu64 " bytes", gz.len, u->max_size);
				v = 0;
			}
			if (v > 0) {
				rcpts[nrcpts++] = u->address;
				continue;
			}
		}
		log_msgf(LOG_WARN, "dmarcreport", "report for %s: destination %s dropped: %s", domain,
		         u->address, why);
		buf_appendf(&note, "%s%s: %s", note.len > 0 ? "; " : "", u->address, why);
	}
	if (note.len > 0) {
		buf_append_char(&note, '\0');
		done.note = note.data;
	}
	struct globaldb_outgoing om;
	if (nrcpts > 0) {
		if (reports_dmarc_message(s, &rep, rcpts, nrcpts, gz.data, gz.len, now, &msg, e) != 0)
			goto out;
		om = (struct globaldb_outgoing){
			.kind = "dmarc", .created = now, .mail_from = s->from, .rcpts = rcpts,
			.nrcpts = nrcpts, .data = msg.data, .len = msg.len,
			.subject = arena_printf(a, "Report Domain: %s Submitter: %s Report-ID: <%s>",
			                        rep.domain, rep.org_name, rep.report_id)};
		done.msg = &om;
	}
	int r = globaldb_dmarc_report_done(db, &done, NULL, e);
	if (r < 0)
		goto out;
	if (stats != NULL && r == 1) {
		if (nrcpts > 0)
			stats->composed++;
		else
			stats->no_destination++;
	}
	log_msgf(LOG_INFO, "dmarcreport", "report for %s, period %" PRId64 "-%" PRId64
	         ": %zu records, %zu bytes gzip, %zu destinations", domain, begin, end, ngroups,
	         gz.len, nrcpts);
	ret = 1;
out:
	buf_free(&xml);
	buf_free(&gz);
	buf_free(&msg);
	buf_free(&note);
	arena_free(&a);
	return ret;
}

int reports_dmarc_compose_due_with(struct globaldb *db, reports_verify_fn *verify,
                                   void *verify_arg, const struct reports_sender *s,
                                   int64_t now, struct reports_compose_stats *stats,
                                   struct error *e)
{
	struct arena *a = arena_new(16 * 1024, ARENA_PLAIN);
	struct globaldb_dmarc_pending *p;
	size_t n;
	int ret = 0;
	if (globaldb_dmarc_pending(db, a, &p, &n, e) != 0) {
		arena_free(&a);
		return -1;
	}
	for (size_t i = 0; i < n && ret == 0; i++) {
		int64_t t = p[i].oldest;
		/* Period by period, oldest first, while they have ended. */
		for (unsigned guard = 0; guard < 10000; guard++) {
			int64_t begin, end;
			reports_dmarc_period(t, p[i].ri, &begin, &end);
			if (end > now)
				break;
			int r = compose_one(db, verify, verify_arg, s, p[i].domain, begin, end, now,
			                    stats, e);
			if (r < 0) {
				ret = -1;
				break;
			}
			if (r == 0)
				break;   /* postponed */
			/* The next evaluation of the domain, if any is left before now. */
			struct arena *b = arena_new(4096, ARENA_PLAIN);
			struct globaldb_dmarc_pending *q;
			size_t nq;
			if (globaldb_dmarc_pending(db, b, &q, &nq, e) != 0) {
				arena_free(&b);
				ret = -1;
				break;
			}
			bool more = false;
			for (size_t k = 0; k < nq; k++) {
				if (strcasecmp(q[k].domain, p[i].domain) == 0 && q[k].oldest >= end) {
					t = q[k].oldest;
					more = true;
				}
			}
			arena_free(&b);
			if (!more)
				break;
		}
	}
	arena_free(&a);
	return ret;
}

int reports_dmarc_compose_due(struct globaldb *db, struct dns_resolver *res,
                              const struct reports_sender *sender, int64_t now, struct error *e)
{
	return reports_dmarc_compose_due_with(db, reports_dmarc_verify_dns, res, sender, now, NULL,
	                                      e);
}
