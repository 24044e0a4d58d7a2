/*
 * client.c: one delivery attempt of one message to the recipients of one
 * domain (or to a smarthost), as RFC 5321 describes the SMTP client: the
 * route, the hosts and their addresses, the security level of each host.
 * The SMTP dialogue with one host is in session.c.
 *
 *   route      MX lookup (§5.1, null MX RFC 7505, implicit MX), or the
 *              smarthost; hosts tried in order, each host's addresses AAAA
 *              then A (or A first), the next one on a connection failure,
 *              a greeting or EHLO that is not 2xx, or a TLS failure;
 *   security   per host: DANE (RFC 7672) when the MX RRset, the host's
 *              addresses and its TLSA RRset are DNSSEC-secure; else the
 *              domain's MTA-STS policy (RFC 8461); else opportunistic TLS
 *              (RFC 7435; plain text only when STARTTLS is not offered).
 *
 * A recipient's result is final for this attempt once a server answered it;
 * recipients no server answered get the last failure seen.
 */
#include "smtpclient/internal.h"
#include "smtpclient/socks.h"

#include "core/arena.h"
#include "core/conn.h"
#include "core/error.h"
#include "core/log.h"
#include "core/tls.h"
#include "dns/dns.h"
#include "mtasts/mtasts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Most addresses tried per host. */
#define ADDRS_MAX 8

/*
 * Results.
 */

void smtpclient_result_set(struct smtpclient_result *r, enum smtpclient_status st, int code,
	const char *enhanced, const char *fmt, ...)
{
	r->status = st;
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced ? enhanced : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

void attempt_last_failure(struct attempt *a, const struct session *s, enum smtpclient_status st,
	int code, const char *enhanced, const char *text)
{
	smtpclient_result_set(&a->last, st, code, enhanced, "%s", text);
	snprintf(a->last.remote_mta, sizeof(a->last.remote_mta), "%s", s && s->host ? s->host : "");
	snprintf(a->last.remote_ip, sizeof(a->last.remote_ip), "%s", s ? s->ip : "");
}

void attempt_fail_unanswered(struct attempt *a, enum smtpclient_status st, const char *enhanced,
	const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < a->n; i++) {
		if (a->answered[i])
			continue;
		smtpclient_result_set(&a->rcpts[i].result, st, 0, enhanced, "%s", text);
		a->answered[i] = true;
	}
}

/* Appends one line to the '\n'-separated list in out (len used); a line
 * that does not fit whole is left out, and so are all after it. */
static void append_policy_line(char *out, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append_policy_line(char *out, size_t size, size_t *len, const char *fmt, ...)
{
	size_t start = *len + (*len > 0);
	if (start >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + start, size - start, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - start) {
		out[*len] = '\0';
		*len = size;   /* full: the list ends here */
		return;
	}
	if (*len > 0)
		out[*len] = '\n';
	*len = start + (size_t)n;
}

void smtpclient_policy_strings(enum smtpclient_policy policy, const struct dane_host *dh,
	const struct mtasts_policy *sts, char *out, size_t size)
{
	size_t len = 0;
	out[0] = '\0';
	if (policy == SMTPCLIENT_POLICY_DANE && dh != NULL) {
		/* RFC 8460 §4.4: "3 0 1 1F850A337E..." per TLSA record */
		for (size_t i = 0; i < dh->n; i++) {
			const struct dane_tlsa *t = &dh->tlsa[i];
			char hex[2 * 400 + 1];
			if (t->len > 400)
				continue;   /* a whole certificate: longer than the list holds */
			for (size_t k = 0; k < t->len; k++)
				snprintf(hex + 2 * k, 3, "%02X", t->data[k]);
			hex[2 * t->len] = '\0';
			append_policy_line(out, size, &len, "%u %u %u %s", t->usage, t->selector,
				t->mtype, hex);
		}
	} else if (policy == SMTPCLIENT_POLICY_MTASTS && sts != NULL) {
		/* §4.4: the policy's lines (RFC 8461 §3.2) */
		append_policy_line(out, size, &len, "version: STSv1");
		append_policy_line(out, size, &len, "mode: %s", sts->mode == MTASTS_MODE_ENFORCE ?
			"enforce" : sts->mode == MTASTS_MODE_TESTING ? "testing" : "none");
		for (size_t i = 0; i < sts->nmx; i++)
			append_policy_line(out, size, &len, "mx: %s", sts->mx[i]);
		append_policy_line(out, size, &len, "max_age: %lu", (unsigned long)sts->max_age);
	}
}

void session_report_tls(struct session *s, bool tls, const char *failure)
{
	struct smtpclient_tls_report *t = s->a->tls;
	t->tls = tls;
	t->failure = failure != NULL ? failure :
		s->a->host_failure != NULL ? s->a->host_failure : s->a->policy_failure;
	snprintf(t->mx_host, sizeof(t->mx_host), "%s", s->host);
	snprintf(t->ip, sizeof(t->ip), "%s", s->ip);
	snprintf(t->sending_ip, sizeof(t->sending_ip), "%s", s->local_ip);
	t->additional_info[0] = '\0';
	/* RFC 8460 §4.3: each session counts, not only the attempt's last */
	if (t->nsessions == SMTPCLIENT_TLS_SESSIONS_MAX) {
		t->sessions_dropped++;
		return;
	}
	struct smtpclient_tls_session *ts = &t->sessions[t->nsessions++];
	ts->policy = t->policy;
	ts->tls = t->tls;
	ts->failure = t->failure;
	memcpy(ts->mx_host, t->mx_host, sizeof(ts->mx_host));
	memcpy(ts->ip, t->ip, sizeof(ts->ip));
	memcpy(ts->sending_ip, t->sending_ip, sizeof(ts->sending_ip));
	ts->additional_info[0] = '\0';
	smtpclient_policy_strings(t->policy, s->dane, s->a->sts, ts->policy_strings,
		sizeof(ts->policy_strings));
}

void session_report_tls_info(struct session *s, const char *why)
{
	struct smtpclient_tls_report *t = s->a->tls;
	/* the text goes into JSON reports: control bytes are replaced */
	size_t i = 0;
	for (; why[i] != '\0' && i + 1 < sizeof(t->additional_info); i++)
		t->additional_info[i] = (unsigned char)why[i] < 32 || why[i] == 127 ? '?' : why[i];
	t->additional_info[i] = '\0';
	if (t->nsessions > 0 && t->sessions_dropped == 0)
		memcpy(t->sessions[t->nsessions - 1].additional_info, t->additional_info,
			sizeof(t->additional_info));
}

/* Our address on the connection fd, into out ("" when unknown). */
static void local_address(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	out[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)size);
}

enum session_end session_next_host(struct session *s, enum smtpclient_status st, int code,
	const char *enhanced, const char *text)
{
	attempt_last_failure(s->a, s, st, code, enhanced, text);
	return SESSION_NEXT;
}

/*
 * Addresses and connecting.
 */

struct addr {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[64];
};

static void addr_add(struct addr *list, size_t *n, int family, const void *ip, int port)
{
	if (*n == ADDRS_MAX)
		return;
	struct addr *a = &list[(*n)++];
	memset(a, 0, sizeof(*a));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, ip, sizeof(s6->sin6_addr));
		a->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, ip, sizeof(s4->sin_addr));
		a->len = sizeof(*s4);
	}
	inet_ntop(family, ip, a->text, sizeof(a->text));
}

enum addr_outcome { ADDRS_OK, ADDRS_NONE, ADDRS_TEMPFAIL };

/* name without its final dot, into out. */
static void copy_name(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s", name);
	size_t len = strlen(out);
	if (len > 1 && out[len - 1] == '.')
		out[len - 1] = '\0';
}

/* The addresses of host: an IP literal, or AAAA and A records in the
 * configured order. *secure_r: every answer that had records was secure. */
static enum addr_outcome host_addresses(struct attempt *a, const char *host, int port,
	struct addr *list, size_t *n, bool *secure_r, char *canonical, size_t csize, char *why,
	size_t whysize)
{
	unsigned char ip[sizeof(struct in6_addr)];
	*n = 0;
	*secure_r = false;
	if (canonical != NULL)
		canonical[0] = '\0';
	if (inet_pton(AF_INET6, host, ip) == 1) {
		addr_add(list, n, AF_INET6, ip, port);
		return ADDRS_OK;
	}
	if (inet_pton(AF_INET, host, ip) == 1) {
		addr_add(list, n, AF_INET, ip, port);
		return ADDRS_OK;
	}
	bool tempfail = false, secure = true;
	for (int pass = 0; pass < 2; pass++) {
		bool v6 = (pass == 0) != a->o->prefer_ipv4;
		struct dns_result *r = NULL;
		enum dns_status st = v6 ? dns_lookup_aaaa(a->o->resolver, host, &r)
		                        : dns_lookup_a(a->o->resolver, host, &r);
		if (st == DNS_OK) {
			secure = secure && r->security == DNS_SEC_SECURE;
			if (canonical != NULL && canonical[0] == '\0' && r->canonical != NULL &&
			    r->nchain > 0)
				copy_name(canonical, csize, r->canonical);
			for (size_t i = 0; i < r->nrrs; i++) {
				if (v6 && r->rrs[i].type == DNS_TYPE_AAAA)
					addr_add(list, n, AF_INET6, &r->rrs[i].u.aaaa, port);
				else if (!v6 && r->rrs[i].type == DNS_TYPE_A)
					addr_add(list, n, AF_INET, &r->rrs[i].u.a, port);
			}
		} else if (st == DNS_TEMPFAIL || st == DNS_BOGUS) {
			tempfail = true;
			snprintf(why, whysize, "%s %s: %s", host, v6 ? "AAAA" : "A", dns_status_name(st));
		}
		dns_result_free(&r);
	}
	*secure_r = secure && *n > 0;
	if (*n > 0)
		return ADDRS_OK;
	if (!tempfail)
		snprintf(why, whysize, "%s: no A or AAAA records", host);
	return tempfail ? ADDRS_TEMPFAIL : ADDRS_NONE;
}

/* A TCP connection within timeout_ms; returns the fd or -1 with why set. */
static int tcp_connect(const struct addr *ad, unsigned timeout_ms, char *why, size_t whysize)
{
	int fd = socket(ad->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whysize, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&ad->sa, ad->len) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		snprintf(why, whysize, "connect to %s: %s", ad->text, strerror(errno));
		close(fd);
		return -1;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;
	do
		r = poll(&p, 1, (int)timeout_ms);
	while (r < 0 && errno == EINTR);
	int err = 0;
	socklen_t len = sizeof(err);
	if (r == 0)
		err = ETIMEDOUT;
	else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		snprintf(why, whysize, "connect to %s: %s", ad->text, strerror(err));
		close(fd);
		return -1;
	}
	return fd;
}

/* Splits "host:port" or "[v6]:port". Returns 0, or -1 if it is not that. */
static int split_host_port(const char *hp, char *host, size_t hostsize, int *port)
{
	const char *colon = strrchr(hp, ':');
	if (colon == NULL || colon == hp)
		return -1;
	const char *h = hp;
	size_t hl = (size_t)(colon - hp);
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (hl == 0 || *end != '\0' || colon[1] == '\0' || p < 1 || p > 65535)
		return -1;
	if (host != NULL) {
		if (hl >= hostsize)
			return -1;
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	if (port != NULL)
		*port = (int)p;
	return 0;
}

/* A connection to ad, through the route's SOCKS5 proxy (RFC 1928) when it
 * has one: to the proxy's first reachable address, then CONNECT to ad.
 * Returns the fd or -1 with why set. */
static int host_connect(struct attempt *a, const struct addr *ad, char *why, size_t whysize)
{
	unsigned ct = a->o->connect_timeout_ms ? a->o->connect_timeout_ms : T_CONNECT_MS;
	const struct smtpclient_route *rt = a->route;
	if (rt->socks_proxy == NULL)
		return tcp_connect(ad, ct, why, whysize);
	char phost[256];
	int pport;
	if (split_host_port(rt->socks_proxy, phost, sizeof(phost), &pport) != 0) {
		snprintf(why, whysize, "SOCKS proxy %s is not host:port", rt->socks_proxy);
		return -1;
	}
	struct addr proxies[ADDRS_MAX];
	size_t n;
	bool secure;
	if (host_addresses(a, phost, pport, proxies, &n, &secure, NULL, 0, why, whysize) != ADDRS_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int fd = tcp_connect(&proxies[i], ct, why, whysize);
		if (fd < 0)
			continue;
		char sub[400];
		if (socks5_connect(fd, ad->text, ntohs(ad->sa.ss_family == AF_INET6
		                   ? ((const struct sockaddr_in6 *)&ad->sa)->sin6_port
		                   : ((const struct sockaddr_in *)&ad->sa)->sin_port),
		                   rt->socks_user, rt->socks_password, ct, sub, sizeof(sub)) == 0)
			return fd;
		snprintf(why, whysize, "to %s via %s: %s", ad->text, rt->socks_proxy, sub);
		close(fd);
		return -1;
	}
	return -1;
}

/*
 * Hosts.
 */

/* Chooses the security level of host (RFC 8461 §2: DANE before MTA-STS). */
static enum host_security host_security(struct attempt *a, const char *host,
	const char *canonical, bool addr_secure, struct dane_host *dh, char *why, size_t whysize,
	bool *skip)
{
	const struct smtpclient_route *rt = a->route;
	*skip = false;
	if (rt->host != NULL) {
		switch (rt->tls) {
		case SMTPCLIENT_TLS_NONE: return SEC_NONE;
		case SMTPCLIENT_TLS_OPPORTUNISTIC: return SEC_OPPORTUNISTIC;
		default: return SEC_PKIX;
		}
	}
	/* RFC 7672 §2.2.1, §2.2.2: TLSA only under a secure MX RRset and
	 * secure address records */
	if (a->mx_secure && addr_secure) {
		/* §2.2.2: a host that is a CNAME (secure all along: addr_secure)
		 * has its TLSA records at the expanded name, else at the original */
		enum dane_lookup_result found = DANE_NONE;
		if (canonical[0] != '\0' && strcasecmp(canonical, host) != 0)
			found = dane_lookup(a->o->resolver, canonical, dh, why, whysize);
		if (found == DANE_NONE)
			found = dane_lookup(a->o->resolver, host, dh, why, whysize);
		switch (found) {
		case DANE_FOUND:
			a->tls->policy = SMTPCLIENT_POLICY_DANE;
			/* §2.2: unusable records still require TLS, without
			 * authentication */
			return dh->n > 0 ? SEC_DANE : SEC_ENCRYPT;
		case DANE_LOOKUP_FAILED:
			a->tls->policy = SMTPCLIENT_POLICY_DANE;
			*skip = true;
			return SEC_DANE;
		case DANE_NONE:
			break;
		}
	}
	if (a->sts_mode == MTASTS_MODE_ENFORCE)
		return SEC_STS_ENFORCE;
	if (a->sts_mode == MTASTS_MODE_TESTING)
		/* RFC 8689 §4.2.1: for REQUIRETLS a testing policy counts as enforce */
		return a->msg->requiretls ? SEC_STS_ENFORCE : SEC_STS_TESTING;
	return SEC_OPPORTUNISTIC;
}

/* Tries the addresses of one host until one session is done. Returns
 * SESSION_DONE when the recipients were answered. */
static enum session_end try_host(struct attempt *a, const char *host, int port)
{
	struct addr addrs[ADDRS_MAX];
	size_t naddrs;
	bool addr_secure;
	char why[512];
	struct session s0 = { .a = a, .host = host };
	a->hosts_tried++;
	a->requiretls_refused_here = false;
	char canonical[DNS_NAME_TEXT_MAX];
	switch (host_addresses(a, host, port, addrs, &naddrs, &addr_secure, canonical,
	                       sizeof(canonical), why, sizeof(why))) {
	case ADDRS_OK:
		break;
	case ADDRS_NONE:
		return session_next_host(&s0, SMTPCLIENT_TEMPFAIL, 0, "4.4.4", why);
	case ADDRS_TEMPFAIL:
		return session_next_host(&s0, SMTPCLIENT_TEMPFAIL, 0, "4.4.3", why);
	}
	struct dane_host dh = {0};
	bool skip;
	enum host_security sec = host_security(a, host, canonical, addr_secure, &dh, why,
	                                       sizeof(why), &skip);
	if (skip) {
		session_report_tls(&s0, false, "tlsa-invalid");
		return session_next_host(&s0, SMTPCLIENT_TEMPFAIL, 0, "4.7.5", why);
	}
	if (a->msg->requiretls && sec != SEC_DANE && sec != SEC_STS_ENFORCE && sec != SEC_PKIX) {
		/* RFC 8689 §4.2.1: never sent without verified TLS */
		a->requiretls_refusals++;
		dane_host_free(&dh);
		return session_next_host(&s0, SMTPCLIENT_PERMFAIL, 0, "5.7.10",
			"REQUIRETLS needs TLS verified by DANE or MTA-STS; this host has neither "
			"(RFC 8689 §4.2.1)");
	}
	enum session_end end = SESSION_NEXT;
	for (size_t i = 0; i < naddrs && end == SESSION_NEXT; i++) {
		struct session s = { .a = a, .host = host, .sec = sec, .dane = &dh };
		snprintf(s.ip, sizeof(s.ip), "%s", addrs[i].text);
		int fd = host_connect(a, &addrs[i], why, sizeof(why));
		if (fd < 0) {
			session_next_host(&s, SMTPCLIENT_TEMPFAIL, 0, "4.4.1", why);
			continue;
		}
		struct error e = {0};
		local_address(fd, s.local_ip, sizeof(s.local_ip));
		s.c = conn_new(fd, REPLY_LINE_MAX, &e);
		if (s.c == NULL) {
			session_next_host(&s, SMTPCLIENT_TEMPFAIL, 0, "4.3.0", e.msg);
			continue;
		}
		s.arena = arena_new(8192, ARENA_PLAIN);
		s.reply_arena = arena_new(8192, ARENA_PLAIN);
		end = session_run(&s);
		arena_free(&s.reply_arena);
		arena_free(&s.arena);
		conn_free(&s.c);
	}
	dane_host_free(&dh);
	if (a->requiretls_refused_here)
		a->requiretls_refusals++;
	return end;
}

static int route_port(const struct attempt *a)
{
	if (a->route->host != NULL)
		return a->route->port > 0 ? a->route->port : 25;
	return a->o->mx_port > 0 ? a->o->mx_port : 25;
}

/* Looks up the MTA-STS policy of the domain (RFC 8461 §5). */
static void mtasts_policy(struct attempt *a)
{
	if (a->o->mtasts_cache_dir == NULL)
		return;
	struct mtasts_fetch_opts fo = {
		.resolver = a->o->resolver,
		.cache_dir = a->o->mtasts_cache_dir,
		.ca_file = a->o->ca_file,
		.https_port = a->o->mtasts_https_port,
		.timeout_ms = a->o->connect_timeout_ms ? a->o->connect_timeout_ms * 2 : 0,
	};
	char why[512];
	a->sts = calloc(1, sizeof(*a->sts));
	if (a->sts == NULL)
		abort();
	enum mtasts_outcome out = mtasts_get(&fo, a->route->domain, a->sts, why, sizeof(why));
	if (out == MTASTS_POLICY && a->sts->mode != MTASTS_MODE_NONE) {
		a->sts_mode = a->sts->mode;
		a->tls->policy = SMTPCLIENT_POLICY_MTASTS;
	} else if (out != MTASTS_POLICY && out != MTASTS_NO_POLICY) {
		/* RFC 8460 §4.3.2.1 result types; delivery goes on without a policy */
		a->tls->policy = SMTPCLIENT_POLICY_MTASTS;
		a->tls->failure = a->policy_failure =
			out == MTASTS_WEBPKI_INVALID ? "sts-webpki-invalid" :
			out == MTASTS_POLICY_INVALID ? "sts-policy-invalid" : "sts-policy-fetch-error";
	}
	struct log_line *l = log_begin(LOG_DEBUG, "smtpclient", "MTA-STS");
	log_str(l, "domain", a->route->domain);
	log_str(l, "mode", out == MTASTS_POLICY ? mtasts_mode_name(a->sts->mode) : "none");
	log_str(l, "why", why);
	log_end(l);
	if (out != MTASTS_POLICY) {
		/* nothing was filled in: no policy strings to report (RFC 8460 §4.4) */
		free(a->sts);
		a->sts = NULL;
	}
}

/* Delivery via the MX hosts of the domain. */
static void deliver_mx(struct attempt *a)
{
	const char *domain = a->route->domain;
	struct dns_result *r = NULL;
	enum dns_status st = dns_lookup_mx(a->o->resolver, domain, &r);
	struct mx_host hosts[SMTPCLIENT_MX_MAX];
	char names[SMTPCLIENT_MX_MAX][DNS_NAME_TEXT_MAX];
	size_t nhosts = 0;
	if (st == DNS_TEMPFAIL || st == DNS_BOGUS) {
		attempt_fail_unanswered(a, SMTPCLIENT_TEMPFAIL, "4.4.3", "MX lookup of %s: %s%s%s", domain,
			dns_status_name(st), r->error || r->why_bogus ? ": " : "",
			r->error ? r->error : r->why_bogus ? r->why_bogus : "");
		goto out;
	}
	if (st == DNS_NXDOMAIN || st == DNS_INVALID) {
		attempt_fail_unanswered(a, SMTPCLIENT_PERMFAIL, "5.1.2", "domain %s does not exist", domain);
		goto out;
	}
	a->mx_secure = r->security == DNS_SEC_SECURE;
	if (st == DNS_OK) {
		struct dns_mx mx[SMTPCLIENT_MX_MAX * 4];
		size_t n = 0;
		for (size_t i = 0; i < r->nrrs && n < sizeof(mx) / sizeof(mx[0]); i++)
			if (r->rrs[i].type == DNS_TYPE_MX)
				mx[n++] = r->rrs[i].u.mx;
		enum mx_order_result o = mx_order(mx, n, mx_random, hosts, SMTPCLIENT_MX_MAX, &nhosts);
		if (o == MX_ORDER_NULL_MX) {
			/* RFC 7505 §4: no delivery attempt, a permanent failure
			 * with the enhanced code X.1.10 */
			attempt_fail_unanswered(a, SMTPCLIENT_PERMFAIL, "5.1.10",
				"domain %s accepts no mail (null MX, RFC 7505)", domain);
			goto out;
		}
		if (o == MX_ORDER_EMPTY) {
			attempt_fail_unanswered(a, SMTPCLIENT_PERMFAIL, "5.1.2", "domain %s has no usable MX host",
				domain);
			goto out;
		}
	} else {
		/* §5.1: no MX records: the domain itself is the implicit MX */
		hosts[0].name = domain;
		hosts[0].preference = 0;
		nhosts = 1;
	}
	for (size_t i = 0; i < nhosts; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", hosts[i].name);
		size_t len = strlen(names[i]);
		if (len > 1 && names[i][len - 1] == '.')
			names[i][len - 1] = '\0';
	}
	mtasts_policy(a);
	for (size_t i = 0; i < nhosts; i++) {
		/* RFC 8461 §4.1, §5: in enforce mode only MX hosts the policy
		 * names are used; in testing mode a mismatch is only reported,
		 * for this host alone */
		a->host_failure = NULL;
		if (a->sts_mode != MTASTS_MODE_NONE && !mtasts_mx_match(a->sts, names[i])) {
			if (a->sts_mode == MTASTS_MODE_ENFORCE) {
				struct session s0 = { .a = a, .host = names[i] };
				session_report_tls(&s0, false, "validation-failure");
				attempt_last_failure(a, &s0, SMTPCLIENT_TEMPFAIL, 0, "4.7.5",
					"MX host not listed in the domain's MTA-STS policy (RFC 8461 §4.1)");
				continue;
			}
			a->host_failure = "validation-failure";
		}
		if (try_host(a, names[i], route_port(a)) == SESSION_DONE)
			break;
	}
out:
	dns_result_free(&r);
}

/* Whether s can go into a command line: no control bytes, spaces or angle
 * brackets (a path is sent as "<s>", RFC 5321 §4.1.2). */
static bool path_text_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

/* RFC 3461 §4.2: ORCPT is addr-type ";" xtext; addr-type is an atom. */
static bool orcpt_ok(const char *o)
{
	const char *semi = strchr(o, ';');
	if (semi == NULL || semi == o)
		return false;
	for (const char *p = o; p < semi; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
	return true;
}

static int inputs_check(const struct smtpclient_opts *o, const struct smtpclient_route *route,
	const struct smtpclient_message *msg, struct error *e)
{
	if (o->resolver == NULL)
		return error_set(e, ERR_INVALID, "SMTP client: no resolver");
	if (o->ehlo_name == NULL || o->ehlo_name[0] == '\0' || !path_text_ok(o->ehlo_name))
		return error_set(e, ERR_INVALID, "SMTP client: no usable EHLO name");
	if (msg->mail_from == NULL || !path_text_ok(msg->mail_from))
		return error_set(e, ERR_INVALID, "SMTP client: reverse-path with control bytes, "
			"spaces or angle brackets");
	if (route->host != NULL && route->auth_user != NULL && route->auth_password == NULL)
		return error_set(e, ERR_INVALID, "SMTP client: AUTH user without a password");
	if (route->ehlo_name != NULL && !path_text_ok(route->ehlo_name))
		return error_set(e, ERR_INVALID, "SMTP client: unusable EHLO name of the route");
	if (route->socks_proxy != NULL && split_host_port(route->socks_proxy, NULL, 0, NULL) != 0)
		return error_set(e, ERR_INVALID, "SMTP client: SOCKS proxy %s is not host:port",
			route->socks_proxy);
	return 0;
}

/* A recipient that cannot be sent gets its own permanent failure. */
static void rcpts_check(struct attempt *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct smtpclient_rcpt *r = &a->rcpts[i];
		if (r->address == NULL || r->address[0] == '\0' || !path_text_ok(r->address)) {
			smtpclient_result_set(&a->rcpts[i].result, SMTPCLIENT_PERMFAIL, 0, "5.1.3",
				"recipient address with control bytes, spaces or angle brackets");
			a->answered[i] = true;
		} else if (r->orcpt != NULL && !orcpt_ok(r->orcpt)) {
			smtpclient_result_set(&a->rcpts[i].result, SMTPCLIENT_PERMFAIL, 0, "5.5.4",
				"ORCPT is not addr-type \";\" address (RFC 3461 §4.2)");
			a->answered[i] = true;
		}
	}
}

int smtpclient_deliver(const struct smtpclient_opts *opts, const struct smtpclient_route *route,
                       const struct smtpclient_message *msg, struct smtpclient_rcpt *rcpts,
                       size_t nrcpts, struct smtpclient_tls_report *tls, struct error *e)
{
	if (tls != NULL)
		memset(tls, 0, sizeof(*tls));
	if (inputs_check(opts, route, msg, e) < 0) {
		for (size_t i = 0; i < nrcpts; i++) {
			memset(&rcpts[i].result, 0, sizeof(rcpts[i].result));
			smtpclient_result_set(&rcpts[i].result, SMTPCLIENT_TEMPFAIL, 0, "4.3.5", "%s",
				e != NULL ? e->msg : "SMTP client: bad arguments");
		}
		return -1;
	}
	struct smtpclient_tls_report own_tls;
	struct attempt a = {
		.o = opts, .route = route, .msg = msg, .rcpts = rcpts, .n = nrcpts,
		.tls = tls != NULL ? tls : &own_tls,
	};
	memset(a.tls, 0, sizeof(*a.tls));
	a.answered = calloc(nrcpts ? nrcpts : 1, sizeof(*a.answered));
	if (a.answered == NULL)
		abort();
	smtpclient_result_set(&a.last, SMTPCLIENT_TEMPFAIL, 0, "4.4.1", "no host could be reached");
	for (size_t i = 0; i < nrcpts; i++)
		memset(&rcpts[i].result, 0, sizeof(rcpts[i].result));
	rcpts_check(&a);

	bool any = false;
	for (size_t i = 0; i < nrcpts; i++)
		any = any || !a.answered[i];
	if (!any) {
		/* nothing to send */
	} else if (route->host != NULL) {
		try_host(&a, route->host, route_port(&a));
	} else if (route->domain == NULL) {
		attempt_fail_unanswered(&a, SMTPCLIENT_PERMFAIL, "5.1.2", "no destination domain");
	} else {
		deliver_mx(&a);
	}
	/* recipients no server answered; RFC 8689 §4.2.1: when every host
	 * tried refused REQUIRETLS, the failure is permanent */
	if (a.hosts_tried > 0 && a.requiretls_refusals == a.hosts_tried)
		smtpclient_result_set(&a.last, SMTPCLIENT_PERMFAIL, 0, "5.7.10",
			"no MX host offers REQUIRETLS with verified TLS (RFC 8689 §4.2.1)");
	for (size_t i = 0; i < nrcpts; i++)
		if (!a.answered[i])
			rcpts[i].result = a.last;

	tls_client_free(&a.tls_opportunistic);
	tls_client_free(&a.tls_pkix);
	tls_client_free(&a.tls_dane);
	free(a.sts);
	free(a.answered);
	if (a.local_failure) {
		for (size_t i = 0; i < nrcpts; i++)
			if (rcpts[i].result.status != SMTPCLIENT_DELIVERED)
				rcpts[i].result.status = SMTPCLIENT_TEMPFAIL;
		if (e != NULL)
			*e = a.err;
		return -1;
	}
	return 0;
}

