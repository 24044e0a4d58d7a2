/*
 * fetch.c: finding a domain's MTA-STS policy (RFC 8461 §3, §5.1): the
 * "_mta-sts" TXT record through tern's resolver, the policy over HTTPS with
 * libcurl, and the on-disk cache.
 *
 * The HTTPS client connects to the addresses tern's resolver gives for
 * "mta-sts.DOMAIN" (CURLOPT_RESOLVE), so every DNS answer comes from one
 * resolver. It verifies the server under PKIX against the system CAs plus
 * an optional CA file, follows no redirects (§3.3) and reads at most
 * MTASTS_POLICY_SIZE_MAX bytes.
 *
 * Cache file (one per domain, named by the lower-cased domain):
 *   "id: ID\nfetched: UNIXTIME\n\n" then the policy body as fetched.
 */
#include "mtasts/mtasts.h"

#include "core/error.h"
#include "core/file.h"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_TIMEOUT_DEFAULT_MS 60000
#define CACHE_HEADER_MAX 256

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void why_set(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t size, const char *fmt, ...)
{
	if (why == NULL || size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

/*
 * The TXT record.
 */

enum record_state { RECORD_NONE, RECORD_FOUND, RECORD_UNKNOWN };

/* §3.1: records not starting with "v=STSv1" are discarded; unless exactly
 * one remains and parses, the domain has no available policy. */
static enum record_state record_lookup(struct dns_resolver *res, const char *domain,
	struct mtasts_record *rec, char *why, size_t whysize)
{
	char name[DNS_NAME_TEXT_MAX];
	if ((size_t)snprintf(name, sizeof(name), "_mta-sts.%s", domain) >= sizeof(name)) {
		why_set(why, whysize, "domain name too long");
		return RECORD_NONE;
	}
	struct dns_result *r = NULL;
	enum dns_status st = dns_lookup_txt(res, name, &r);
	enum record_state state = RECORD_NONE;
	if (st == DNS_TEMPFAIL || st == DNS_BOGUS) {
		why_set(why, whysize, "%s TXT: %s", name, dns_status_name(st));
		state = RECORD_UNKNOWN;
	} else if (st == DNS_OK) {
		size_t found = 0, which = 0;
		for (size_t i = 0; i < r->nrrs; i++)
			if (mtasts_record_is_sts(r->rrs[i].u.txt.text, r->rrs[i].u.txt.len)) {
				found++;
				which = i;
			}
		struct error e = {0};
		if (found > 1) {
			why_set(why, whysize, "%s: %zu STSv1 records (RFC 8461 §3.1)", name, found);
		} else if (found == 1) {
			if (mtasts_record_parse(r->rrs[which].u.txt.text, r->rrs[which].u.txt.len, rec, &e) == 0)
				state = RECORD_FOUND;
			else
				why_set(why, whysize, "%s: %s", name, e.msg);
		}
	}
	dns_result_free(&r);
	return state;
}

/*
 * The cache.
 */

static bool domain_safe_for_file(const char *domain)
{
	if (domain[0] == '\0' || domain[0] == '.' || strlen(domain) > 253)
		return false;
	for (const char *p = domain; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return false;
	return true;
}

static void cache_path(const char *dir, const char *domain, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/", dir);
	size_t len = n < 0 ? 0 : (size_t)n;
	for (const char *p = domain; *p && len + 1 < size; p++)
		out[len++] = (char)tolower((unsigned char)*p);
	if (len > 0 && out[len - 1] == '.')
		len--;
	out[len] = '\0';
}

/* Reads the cached policy of domain; false if none or unreadable. */
static bool cache_read(const char *path, struct mtasts_policy *p)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t max = CACHE_HEADER_MAX + MTASTS_POLICY_SIZE_MAX;
	char *data = malloc(max + 1);
	if (data == NULL)
		abort();
	size_t len = 0;
	ssize_t n;
	while (len < max && (n = read(fd, data + len, max - len)) > 0)
		len += (size_t)n;
	close(fd);
	data[len] = '\0';
	bool ok = false;
	char id[MTASTS_ID_MAX + 1];
	long long fetched;
	int used = 0;
	char *body = strstr(data, "\n\n");
	if (body != NULL)
		*body = '\0';   /* the header alone: "id: ID\nfetched: TIME" */
	if (body != NULL &&
	    sscanf(data, "id: %32[A-Za-z0-9]\nfetched: %lld%n", id, &fetched, &used) == 2 &&
	    data + used == body) {
		body += 2;
		struct error e = {0};
		if (mtasts_policy_parse(body, len - (size_t)(body - data), p, &e) == 0) {
			memcpy(p->id, id, sizeof(id));
			p->fetched = (time_t)fetched;
			ok = true;
		}
	}
	free(data);
	return ok;
}

static void cache_write(const char *dir, const char *path, const char *id, time_t fetched,
	const char *body, size_t len)
{
	struct error e = {0};
	if (file_mkdir_all(dir, 0700, &e) < 0)
		return;
	char header[CACHE_HEADER_MAX];
	int hlen = snprintf(header, sizeof(header), "id: %s\nfetched: %lld\n\n", id, (long long)fetched);
	char *data = malloc((size_t)hlen + len);
	if (data == NULL)
		abort();
	memcpy(data, header, (size_t)hlen);
	memcpy(data + hlen, body, len);
	(void)file_write_atomic(path, data, (size_t)hlen + len, 0600, &e);
	free(data);
}

static bool cache_fresh(const struct mtasts_policy *p, time_t now)
{
	return now >= p->fetched && (uint64_t)(now - p->fetched) < p->max_age;
}

/*
 * HTTPS.
 */

struct body {
	char *data;
	size_t len;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > MTASTS_POLICY_SIZE_MAX) {
		b->too_big = true;
		return 0;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

/* Adds the caller's CA file to the system trust store of curl's context. */
static CURLcode ssl_ctx_add_ca(CURL *curl, void *ssl_ctx, void *userdata)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
	return X509_STORE_load_file(store, userdata) == 1 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

/* "mta-sts.DOMAIN:PORT:ADDR,ADDR" from tern's resolver (AAAA then A). */
static int resolve_entry(struct dns_resolver *res, const char *host, int port, char *out,
	size_t size, char *why, size_t whysize)
{
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	size_t count = dns_curl_resolve_entry(res, host, portstr, out, size);
	if (count == 0) {
		why_set(why, whysize, "%s: no address", host);
		return -1;
	}
	return 0;
}

/* Fetches the policy body of domain into b. Returns 0, or -1 with why set
 * and *webpki_r telling whether the server's certificate was the trouble. */
static int https_fetch(const struct mtasts_fetch_opts *o, const char *domain, struct body *b,
	bool *webpki_r, char *why, size_t whysize)
{
	*webpki_r = false;
	char host[DNS_NAME_TEXT_MAX + 8], url[DNS_NAME_TEXT_MAX + 64], entry[2048];
	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	size_t hl = strlen(host);
	if (hl > 0 && host[hl - 1] == '.')
		host[hl - 1] = '\0';
	int port = o->https_port > 0 ? o->https_port : 443;
	/* §3.3: https://mta-sts.DOMAIN/.well-known/mta-sts.txt */
	if (port == 443)
		snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", host);
	else
		snprintf(url, sizeof(url), "https://%s:%d/.well-known/mta-sts.txt", host, port);
	if (resolve_entry(o->resolver, host, port, entry, sizeof(entry), why, whysize) < 0)
		return -1;
	pthread_once(&curl_once, curl_init_once);
	CURL *curl = curl_easy_init();
	if (curl == NULL) {
		why_set(why, whysize, "libcurl: cannot make a handle");
		return -1;
	}
	struct curl_slist *resolve = curl_slist_append(NULL, entry);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);   /* §3.3: no redirects */
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms ? o->timeout_ms : FETCH_TIMEOUT_DEFAULT_MS));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tern");
	if (o->ca_file != NULL) {
		curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_add_ca);
		curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, (void *)o->ca_file);
	}
	CURLcode rc = curl_easy_perform(curl);
	long status = 0;
	char *ctype = NULL;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
	int ret = -1;
	if (b->too_big)
		why_set(why, whysize, "%s: policy larger than %d bytes", url, MTASTS_POLICY_SIZE_MAX);
	else if (rc != CURLE_OK) {
		*webpki_r = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
		why_set(why, whysize, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	else if (status != 200)  /* §3.3: only 200 counts; no redirects */
		why_set(why, whysize, "%s: HTTP status %ld", url, status);
	else if (ctype == NULL || strncasecmp(ctype, "text/plain", 10) != 0 ||
	         (ctype[10] != '\0' && ctype[10] != ';' && ctype[10] != ' '))
		why_set(why, whysize, "%s: media type %s, not text/plain (RFC 8461 §3.3)", url,
			ctype ? ctype : "(none)");
	else
		ret = 0;
	curl_easy_cleanup(curl);
	curl_slist_free_all(resolve);
	return ret;
}

enum mtasts_outcome mtasts_get(const struct mtasts_fetch_opts *o, const char *domain,
                               struct mtasts_policy *policy, char *why, size_t whysize)
{
	why_set(why, whysize, "%s", "");
	if (!domain_safe_for_file(domain)) {
		why_set(why, whysize, "not a domain name: %s", domain);
		return MTASTS_NO_POLICY;
	}
	char path[4096];
	cache_path(o->cache_dir, domain, path, sizeof(path));
	time_t now = time(NULL);
	struct mtasts_policy cached;
	bool have_cached = cache_read(path, &cached) && cache_fresh(&cached, now);

	struct mtasts_record rec;
	enum record_state rs = record_lookup(o->resolver, domain, &rec, why, whysize);
	if (rs != RECORD_FOUND) {
		/* §5.1: a policy that has not expired stays in force when the
		 * record disappears or cannot be read. */
		if (have_cached) {
			*policy = cached;
			return MTASTS_POLICY;
		}
		return rs == RECORD_UNKNOWN ? MTASTS_FETCH_FAILED : MTASTS_NO_POLICY;
	}
	/* §3.3, §5.1: refetch only when the id changed or the policy expired. */
	if (have_cached && strcmp(cached.id, rec.id) == 0) {
		*policy = cached;
		return MTASTS_POLICY;
	}
	struct body b = { .data = malloc(MTASTS_POLICY_SIZE_MAX) };
	if (b.data == NULL)
		abort();
	enum mtasts_outcome out = MTASTS_FETCH_FAILED;
	struct error e = {0};
	bool webpki;
	if (https_fetch(o, domain, &b, &webpki, why, whysize) < 0) {
		/* keep using a policy that has not expired (§5.1) */
		if (webpki)
			out = MTASTS_WEBPKI_INVALID;
	} else if (mtasts_policy_parse(b.data, b.len, policy, &e) < 0) {
		why_set(why, whysize, "%s", e.msg);
		out = MTASTS_POLICY_INVALID;
	} else {
		memcpy(policy->id, rec.id, sizeof(rec.id));
		policy->fetched = now;
		cache_write(o->cache_dir, path, rec.id, now, b.data, b.len);
		out = MTASTS_POLICY;
	}
	free(b.data);
	if (out != MTASTS_POLICY && have_cached) {
		*policy = cached;
		out = MTASTS_POLICY;
	}
	return out;
}
