/*
 * tlsrpt_compose.c: the daily run that turns recorded TLS results into
 * reports and sends them (RFC 8460 §3, §4, §5), see tlsrpt_out.h: the
 * "_smtp._tls" TXT lookup through tern's resolver, the https POST with
 * libcurl, and the bookkeeping in tern.db.
 */
#include "reports/tlsrpt_out.h"

#include "core/log.h"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* Largest compressed report sent (a message the queue can carry). */
#define TLSRPT_GZ_MAX (30u * 1024 * 1024)
/* Whole https POST, connection included. */
#define TLSRPT_POST_TIMEOUT_MS 60000L
/* A day whose record lookup keeps failing temporarily is given up after this. */
#define TLSRPT_POSTPONE_MAX_S (2 * 86400)
/* RFC 8460 §5.4: a failed delivery SHOULD be tried again for up to 24 hours,
 * with exponential backoff: after an hour, then twice as long each time. */
#define TLSRPT_RETRY_FIRST_S 3600
#define TLSRPT_RETRY_FOR_S 86400

/* ---- rua destinations ---- */

int reports_tlsrpt_lookup_dns(void *arg, const char *domain, struct arena *a, const char **txt_r,
                              char *why, size_t whysize)
{
	struct dns_resolver *res = arg;
	char name[DNS_NAME_TEXT_MAX];
	if ((size_t)snprintf(name, sizeof(name), "_smtp._tls.%s", domain) >= sizeof(name)) {
		snprintf(why, whysize, "domain name too long");
		return 0;
	}
	struct dns_result *r;
	enum dns_status st = dns_lookup_txt(res, name, &r);
	int ret = 0;
	if (st == DNS_TEMPFAIL) {
		snprintf(why, whysize, "looking up %s: %s", name, r->error != NULL ? r->error :
		         "temporary failure");
		ret = -1;
	} else if (st != DNS_OK) {
		snprintf(why, whysize, "no TLSRPT record at %s (%s)", name, dns_status_name(st));
	} else {
		/* §3: records not starting "v=TLSRPTv1;" are discarded; other than
		 * exactly one left means no TLSRPT */
		size_t n = 0;
		for (size_t i = 0; i < r->nrrs; i++) {
			const struct dns_txt *t = &r->rrs[i].u.txt;
			if (reports_tlsrpt_record_is_tlsrpt(t->text, t->len)) {
				*txt_r = arena_strndup(a, t->text, t->len);
				n++;
			}
		}
		if (n == 1)
			ret = 1;
		else
			snprintf(why, whysize, "%zu TLSRPT records at %s (one is needed)", n, name);
	}
	dns_result_free(&r);
	return ret;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* "HOST:PORT:ADDR,ADDR" for CURLOPT_RESOLVE from tern's resolver (AAAA, then
 * A), so that the POST goes where tern's DNS says; "" for an IP literal. */
static int resolve_entry(struct dns_resolver *res, const char *uri, char *out, size_t size,
                         char *why, size_t whysize)
{
	out[0] = '\0';
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	int ret = -1;
	if (u == NULL || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(why, whysize, "not a URL with a host");
		goto out;
	}
	struct in6_addr a6;
	struct in_addr a4;
	if (host[0] == '[' || inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
		ret = 0;
		goto out;
	}
	size_t count = dns_curl_resolve_entry(res, host, port, out, size);
	if (count == 0)
		snprintf(why, whysize, "%s: no address", host);
	else
		ret = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

int reports_tlsrpt_post_https(void *arg, const char *uri, const void *gz, size_t len, char *why,
                              size_t whysize)
{
	const struct reports_tlsrpt_https *h = arg;
	pthread_once(&curl_once, curl_init);
	char entry[2048];
	if (resolve_entry(h->resolver, uri, entry, sizeof(entry), why, whysize) != 0)
		return -1;
	CURL *curl = curl_easy_init();
	if (curl == NULL) {
		snprintf(why, whysize, "libcurl: cannot start");
		return -1;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	/* §5.3: the gzip'ed report, application/tlsrpt+gzip, POSTed */
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
	struct curl_slist *resolve = entry[0] != '\0' ? curl_slist_append(NULL, entry) : NULL;
	curl_easy_setopt(curl, CURLOPT_URL, uri);
	if (resolve != NULL)
		curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TLSRPT_POST_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, gz);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tern");
	if (h->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, h->ca_file);
	CURLcode rc = curl_easy_perform(curl);
	long code = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	int ret = 0;
	if (rc != CURLE_OK) {
		snprintf(why, whysize, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		ret = -1;
	} else {
		/* a 2xx answer: the report was taken */
		snprintf(why, whysize, "HTTP status %ld", code);
		ret = code >= 200 && code <= 299 ? 0 : -1;
	}
	curl_slist_free_all(hdrs);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(curl);
	return ret;
}

/* ---- one (domain, day) ---- */

struct day_job {
	struct globaldb *db;
	const struct reports_tlsrpt_io *io;
	const struct reports_sender *s;
	const char *domain;
	int64_t day, now;
	struct reports_tlsrpt_stats *stats;
	struct arena *a;
	struct buf note;
};

static void add_note(struct day_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_note(struct day_job *j, const char *fmt, ...)
{
	if (j->note.len > 0)
		buf_append_str(&j->note, "; ");
	va_list ap;
	va_start(ap, fmt);
	buf_appendvf(&j->note, fmt, ap);
	va_end(ap);
}

static const char *note_text(struct day_job *j)
{
	return j->note.len > 0 ? arena_strndup(j->a, j->note.data, j->note.len) : NULL;
}

/* Records (domain, day) as done without a report. */
static int done_without(struct day_job *j, const char *report_id, struct error *e)
{
	struct globaldb_tlsrpt_done d = {.domain = j->domain, .begin = j->day,
	                                 .end = j->day + 86400, .report_id = report_id, .created = j->now,
	                                 .note = note_text(j)};
	log_msgf(LOG_INFO, "tlsrpt", "no TLS report for %s: %s", j->domain, d.note != NULL ?
	         d.note : "");
	int r = globaldb_tlsrpt_report_done(j->db, &d, e);
	if (r == 1 && j->stats != NULL)
		j->stats->no_destination++;
	return r < 0 ? -1 : 1;
}

/* 16 hex digits: the §5.3 unique-id (1*(ALPHA / DIGIT)). */
static const char *unique_id(struct arena *a)
{
	uint8_t b[8];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)(rand() & 0xff);
	return arena_printf(a, "%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
	                    b[5], b[6], b[7]);
}

/* The distinct mailto addresses of rec. */
static const char **mailto_rcpts(const struct tlsrpt_record *rec, struct arena *a, size_t *n_r)
{
	const char **v = arena_alloc(a, (rec->nrua + 1) * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < rec->nrua; i++) {
		if (rec->rua[i].scheme != TLSRPT_MAILTO)
			continue;
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= strcasecmp(v[k], rec->rua[i].address) == 0;
		if (!dup)
			v[n++] = rec->rua[i].address;
	}
	*n_r = n;
	return v;
}

/* POSTs gz to the https destinations of rec, into posts (rec->nrua). */
static size_t post_all(struct day_job *j, const struct tlsrpt_record *rec, const struct buf *gz,
                       struct globaldb_tlsrpt_post *posts)
{
	size_t n = 0;
	for (size_t i = 0; i < rec->nrua; i++) {
		if (rec->rua[i].scheme != TLSRPT_HTTPS)
			continue;
		char why[512] = "";
		int r = j->io->post(j->io->post_arg, rec->rua[i].uri, gz->data, gz->len, why, sizeof(why));
		posts[n++] = (struct globaldb_tlsrpt_post){
			.uri = rec->rua[i].uri, .detail = arena_strdup(j->a, why), .attempts = 1,
			.status = r == 0 ? GLOBALDB_TLSRPT_SENT : GLOBALDB_TLSRPT_RETRYING,
			.next_attempt = r == 0 ? 0 : j->now + TLSRPT_RETRY_FIRST_S};
		log_msgf(r == 0 ? LOG_INFO : LOG_WARN, "tlsrpt", "TLS report for %s %s %s: %s",
		         j->domain, r == 0 ? "posted to" : "not posted to", rec->rua[i].uri, why);
		if (j->stats != NULL) {
			if (r == 0)
				j->stats->posted++;
			else
				j->stats->post_failed++;
		}
		if (r != 0)
			add_note(j, "%s: %s", rec->rua[i].uri, why);
	}
	return n;
}

/* Builds, sends and records the report of j for rec. 1, or -1. */
static int send_report(struct day_job *j, const struct tlsrpt_record *rec,
                       const struct globaldb_tlsrpt_result *res, size_t nres, struct error *e)
{
	const char *uid = unique_id(j->a);
	/* §5.3 example: Report-ID <735ff.e317+bf22029@example.net> */
	const char *report_id = arena_printf(j->a, "%s@%s", uid, j->s->hostname);
	struct tlsrpt_report rep;
	reports_tlsrpt_build(j->s, j->domain, j->day, res, nres, report_id, j->a, &rep);
	struct buf json, gz, msg;
	buf_init(&json, REPORTS_DOC_MAX);
	buf_init(&gz, TLSRPT_GZ_MAX);
	buf_init(&msg, BUF_UNBOUNDED);
	int ret = -1;
	if (reports_tlsrpt_json(&rep, &json, e) != 0 || reports_gzip(json.data, json.len, &gz, e) != 0) {
		add_note(j, "composing failed: %s", e->msg);
		ret = done_without(j, report_id, e);
		goto out;
	}
	size_t nrcpts;
	const char **rcpts = mailto_rcpts(rec, j->a, &nrcpts);
	struct globaldb_outgoing om;
	struct globaldb_tlsrpt_done d = {.domain = j->domain, .begin = j->day,
	                                 .end = j->day + 86400, .report_id = report_id, .created = j->now,
	                                 .gz = gz.data, .gzlen = gz.len};
	if (nrcpts > 0) {
		const char *fname = reports_tlsrpt_filename(j->s, &rep, uid, j->a);
		if (reports_tlsrpt_message(j->s, &rep, fname, rcpts, nrcpts, gz.data, gz.len, j->now,
		                           &msg, e) != 0)
			goto out;
		om = (struct globaldb_outgoing){
			.kind = "tlsrpt", .created = j->now, .mail_from = j->s->from, .rcpts = rcpts,
			.nrcpts = nrcpts, .data = msg.data, .len = msg.len,
			.subject = arena_printf(j->a, "Report Domain: %s Submitter: %s Report-ID: <%s>",
			                        j->domain, rep.organization_name, report_id)};
		d.msg = &om;
	}
	struct globaldb_tlsrpt_post *posts = arena_alloc(j->a, (rec->nrua + 1) * sizeof(*posts));
	d.nposts = post_all(j, rec, &gz, posts);
	d.posts = posts;
	d.note = note_text(j);
	int r = globaldb_tlsrpt_report_done(j->db, &d, e);
	if (r < 0)
		goto out;
	if (r == 1 && j->stats != NULL)
		j->stats->composed++;
	log_msgf(LOG_INFO, "tlsrpt", "TLS report for %s, day %" PRId64 ": %zu policies, %zu bytes "
	         "gzip, %zu mailto, %zu https destinations", j->domain, j->day, rep.n_policies,
	         gz.len, nrcpts, d.nposts);
	ret = 1;
out:
	buf_free(&json);
	buf_free(&gz);
	buf_free(&msg);
	return ret;
}

/* 1 done, 0 postponed, -1 database error. */
static int compose_day(struct day_job *j, struct error *e)
{
	struct globaldb_tlsrpt_result *res;
	size_t nres;
	if (globaldb_tlsrpt_results(j->db, j->domain, j->day, j->a, &res, &nres, e) != 0)
		return -1;
	if (nres == 0)
		return 1;
	const char *txt = NULL;
	char why[512] = "";
	int found = j->io->lookup(j->io->lookup_arg, j->domain, j->a, &txt, why, sizeof(why));
	if (found < 0 && j->now - (j->day + 86400) < TLSRPT_POSTPONE_MAX_S) {
		log_msgf(LOG_INFO, "tlsrpt", "TLS report for %s postponed: %s", j->domain, why);
		if (j->stats != NULL)
			j->stats->postponed++;
		return 0;
	}
	if (found <= 0) {
		add_note(j, "%s", why);
		return done_without(j, "", e);
	}
	struct tlsrpt_record rec;
	if (reports_tlsrpt_record_parse(txt, strlen(txt), j->a, &rec, e) != 0) {
		add_note(j, "%s", e->msg);
		return done_without(j, "", e);
	}
	return send_report(j, &rec, res, nres, e);
}

/* ---- https retries (§5.4) ---- */

/* The next attempt after the attempts-th failed one, or 0 to give up. */
static int64_t next_retry(int64_t created, unsigned attempts, int64_t now)
{
	int64_t delay = TLSRPT_RETRY_FIRST_S;
	for (unsigned i = 1; i < attempts && delay < TLSRPT_RETRY_FOR_S; i++)
		delay *= 2;
	return now + delay <= created + TLSRPT_RETRY_FOR_S ? now + delay : 0;
}

/* POSTs the reports whose https destinations failed before and are due. */
static int retry_posts(struct globaldb *db, const struct reports_tlsrpt_io *io, int64_t now,
                       struct reports_tlsrpt_stats *stats, struct error *e)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct globaldb_tlsrpt_post_due *due;
	size_t n;
	int ret = globaldb_tlsrpt_posts_due(db, now, a, &due, &n, e);
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct globaldb_tlsrpt_post_due *d = &due[i];
		char why[512] = "";
		int r = io->post(io->post_arg, d->post.uri, d->gz, d->gzlen, why, sizeof(why));
		int64_t next = r == 0 ? 0 : next_retry(d->created, d->post.attempts + 1, now);
		const char *status = r == 0 ? GLOBALDB_TLSRPT_SENT : next > 0 ?
		                     GLOBALDB_TLSRPT_RETRYING : GLOBALDB_TLSRPT_FAILED;
		log_msgf(r == 0 ? LOG_INFO : LOG_WARN, "tlsrpt", "TLS report for %s, attempt %u, %s "
		         "%s: %s", d->domain, d->post.attempts + 1, r == 0 ? "posted to" :
		         next > 0 ? "not yet posted to" : "given up on", d->post.uri, why);
		if (stats != NULL) {
			if (r == 0)
				stats->posted++;
			else
				stats->post_failed++;
		}
		ret = globaldb_tlsrpt_post_update(db, d->post.id, status, why, next, e);
	}
	arena_free(&a);
	return ret;
}

int reports_tlsrpt_compose_due(struct globaldb *db, const struct reports_tlsrpt_io *io,
                               const struct reports_sender *s, int64_t now, int64_t only_day,
                               struct reports_tlsrpt_stats *stats, struct error *e)
{
	/* §4.1: a report covers a full UTC day; days before today's midnight */
	int64_t today = now - ((now % 86400) + 86400) % 86400;
	struct arena *a = arena_new(16 * 1024, ARENA_PLAIN);
	struct globaldb_tlsrpt_pending *p;
	size_t n;
	if (globaldb_tlsrpt_pending(db, today, a, &p, &n, e) != 0) {
		arena_free(&a);
		return -1;
	}
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (only_day != 0 && p[i].day != only_day)
			continue;
		struct day_job j = {.db = db, .io = io, .s = s, .domain = p[i].domain, .day = p[i].day,
		                    .now = now, .stats = stats, .a = arena_new(64 * 1024, ARENA_PLAIN)};
		buf_init(&j.note, 64 * 1024);
		if (compose_day(&j, e) < 0)
			ret = -1;
		buf_free(&j.note);
		arena_free(&j.a);
	}
	arena_free(&a);
	if (ret == 0)
		ret = retry_posts(db, io, now, stats, e);
	return ret;
}
