/*
 * dns.c: the resolver: one thread that owns a libunbound context, a queue of
 * lookups in front of it, and tern's answer cache in front of that.
 *
 *   caller thread                         resolver thread
 *   dns_lookup: cache hit? -> result      loop: take the queue, ub_resolve_async
 *     else queue a request, wake  ---->         poll(wake fd, ub_fd, next deadline)
 *     wait on the request's condvar <---        ub_process -> on_answer -> complete
 *     build the result, fill the cache          deadline passed -> ub_cancel, complete
 *
 * Invariants: only the resolver thread calls ub_* on the context after
 * dns_resolver_new returns (ub_resolve_free is plain memory and is called by
 * the caller). A request lives on its caller's stack; the resolver thread
 * touches it until it sets done under mu and signals, never after. Every
 * request queued before `stopping` is set gets completed, so no caller waits
 * forever.
 *
 * libunbound's settings (DESIGN.md "Testing against the real world"):
 * ub_ctx_async(ctx, 1) so that it uses a thread instead of forking;
 * do-not-query-localhost: no so that a resolver on loopback (systemd-resolved,
 * a local unbound, test servers) can be an upstream; and the special-use
 * zones below are made ordinary, since unbound would otherwise answer them
 * itself and never ask the upstream. ub_ctx_zone_add finalizes the context,
 * so it comes after every other setting.
 *
 * Caching (RFC 2308 §5, RFC 1035 §3.2.1): answers that say something about
 * the name (DNS_OK, DNS_NXDOMAIN, DNS_NODATA) are kept for their TTL, at most
 * DNS_CACHE_TTL_MAX. DNS_TEMPFAIL and DNS_BOGUS are never kept here: the next
 * lookup asks again (libunbound has its own cache, and keeps bogus answers
 * for its val-bogus-ttl of 60 s).
 */
#include "dns/internal.h"

#include "core/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

/* Zones unbound answers itself by default that tern must ask about like any
 * other: RFC 6761 §6.2 test., and the reverse zones of the documentation
 * address ranges (RFC 5737 TEST-NET-1/2/3, RFC 3849 2001:db8::/32) that test
 * set-ups and examples use. */
static const char *const ordinary_zones[] = {
	"test.",
	"2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.",
	"113.0.203.in-addr.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
};

/* Longest wait in the resolver loop, so that a missed wake-up costs at most
 * this much (there should be none). */
#define RESOLVER_POLL_MAX_MS 1000

struct request {
	const char *name;             /* normalized, ends in "." */
	uint16_t type;
	int64_t deadline_ms;          /* monotonic */
	struct request *next, *prev;  /* the queue (next only), then the in-flight list */
	int async_id;
	pthread_cond_t cond;
	struct dns_resolver *res;
	/* Results, written by the resolver thread before done. */
	bool done;
	int err;                      /* libunbound error, 0 none */
	const char *failure;          /* static text when the resolver gave up */
	struct ub_result *ub;
};

struct dns_resolver {
	struct ub_ctx *ctx;
	pthread_t thread;
	int wakefd;                   /* eventfd: the queue has something */
	int timeout_ms;
	struct dns_cache *cache;      /* NULL: no cache */
	int64_t (*now_ms)(void);      /* clock of the cache */

	pthread_mutex_t mu;           /* guards the fields below and request.done */
	struct request *queue, *queue_tail;
	bool stopping;

	struct request inflight;      /* sentinel; resolver thread only */
	bool broken;                  /* libunbound's pipe failed; resolver thread only */
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dns_resolver_set_clock(struct dns_resolver *res, int64_t (*now_ms)(void))
{
	res->now_ms = now_ms != NULL ? now_ms : monotonic_ms;
}

/* ---- set-up ---- */

static int ub_fail(struct error *err, int r, const char *what, const char *arg)
{
	return error_set(err, ERR_INVALID, "%s%s%s: %s", what, arg != NULL ? " " : "",
	                 arg != NULL ? arg : "", ub_strerror(r));
}

static int configure_servers(struct ub_ctx *ctx, const struct dns_resolver_config *cfg,
                             struct error *err)
{
	int r;
	for (size_t i = 0; i < cfg->nupstreams; i++)
		if ((r = ub_ctx_set_fwd(ctx, cfg->upstreams[i])) != 0)
			return ub_fail(err, r, "resolver upstream", cfg->upstreams[i]);
	if (cfg->nupstreams == 0) {
		if ((r = ub_ctx_resolvconf(ctx, NULL)) != 0)
			return ub_fail(err, r, "reading", "/etc/resolv.conf");
		if ((r = ub_ctx_hosts(ctx, NULL)) != 0)
			log_msgf(LOG_WARN, "dns", "reading /etc/hosts: %s", ub_strerror(r));
	}
	for (size_t i = 0; i < cfg->nstubs; i++)
		if ((r = ub_ctx_set_stub(ctx, cfg->stubs[i].zone, cfg->stubs[i].addr, 0)) != 0)
			return ub_fail(err, r, "resolver zone server", cfg->stubs[i].zone);
	return 0;
}

/* RFC 4035 §4.4: validation starts from configured trust anchors. */
static int configure_anchors(struct ub_ctx *ctx, const struct dns_resolver_config *cfg,
                             struct error *err)
{
	int r;
	const char *file = cfg->trust_anchor_file;

	if (cfg->no_dnssec) {
		log_msgf(LOG_INFO, "dns", "DNSSEC validation is off: every answer is insecure");
		return 0;
	}
	if (file == NULL && cfg->ntrust_anchors == 0) {
		if (access(DNS_ROOT_KEY_FILE, R_OK) != 0) {
			log_msgf(LOG_WARN, "dns", "no DNSSEC trust anchor (%s missing; Debian package "
			         "dns-root-data): no answer will be secure", DNS_ROOT_KEY_FILE);
			return 0;
		}
		file = DNS_ROOT_KEY_FILE;
	}
	/* libunbound reads the file only when the context is finalized; check
	 * now to say which file is wrong. */
	if (file != NULL && access(file, R_OK) != 0)
		return error_errno(err, errno, "trust anchor file %s", file);
	if (file != NULL && (r = ub_ctx_add_ta_file(ctx, file)) != 0)
		return ub_fail(err, r, "trust anchor file", file);
	for (size_t i = 0; i < cfg->ntrust_anchors; i++)
		if ((r = ub_ctx_add_ta(ctx, cfg->trust_anchors[i])) != 0)
			return ub_fail(err, r, "trust anchor", cfg->trust_anchors[i]);
	return 0;
}

static int configure(struct ub_ctx *ctx, const struct dns_resolver_config *cfg, struct error *err)
{
	static const char *const options[][2] = {
		{"do-not-query-localhost:", "no"},
		/* Private-range reverse zones (RFC 1918) go to the upstream too:
		 * a site resolver may well serve them. */
		{"unblock-lan-zones:", "yes"},
		{"insecure-lan-zones:", "yes"},
	};
	int r;

	if ((r = ub_ctx_async(ctx, 1)) != 0)
		return ub_fail(err, r, "resolver threads", NULL);
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if ((r = ub_ctx_set_option(ctx, options[i][0], options[i][1])) != 0)
			return ub_fail(err, r, "resolver option", options[i][0]);
	if (configure_servers(ctx, cfg, err) < 0 || configure_anchors(ctx, cfg, err) < 0)
		return -1;
	/* Last: the first zone_add finalizes the context (reads anchors). */
	for (size_t i = 0; i < sizeof(ordinary_zones) / sizeof(ordinary_zones[0]); i++)
		if ((r = ub_ctx_zone_add(ctx, ordinary_zones[i], "nodefault")) != 0)
			return ub_fail(err, r, "resolver settings or trust anchors rejected", NULL);
	return 0;
}

static void *resolver_main(void *arg);

int dns_resolver_new(const struct dns_resolver_config *cfg, struct dns_resolver **res_r,
                     struct error *err)
{
	struct dns_resolver *res = calloc(1, sizeof(*res));
	if (res == NULL)
		abort();
	res->inflight.next = res->inflight.prev = &res->inflight;
	res->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	res->now_ms = monotonic_ms;
	res->wakefd = -1;
	pthread_mutex_init(&res->mu, NULL);

	res->ctx = ub_ctx_create();
	if (res->ctx == NULL) {
		error_set(err, ERR_IO, "cannot create the resolver context");
		goto fail;
	}
	if (configure(res->ctx, cfg, err) < 0)
		goto fail;
	res->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (res->wakefd < 0) {
		error_errno(err, errno, "eventfd");
		goto fail;
	}
	int entries = cfg->cache_entries < 0 ? DNS_CACHE_DEFAULT_ENTRIES : cfg->cache_entries;
	if (entries > 0)
		res->cache = dns_cache_new((size_t)entries);
	int r = pthread_create(&res->thread, NULL, resolver_main, res);
	if (r != 0) {
		error_errno(err, r, "starting the resolver thread");
		goto fail;
	}
	*res_r = res;
	return 0;
fail:
	dns_cache_free(&res->cache);
	if (res->wakefd >= 0)
		close(res->wakefd);
	if (res->ctx != NULL)
		ub_ctx_delete(res->ctx);
	pthread_mutex_destroy(&res->mu);
	free(res);
	return -1;
}

static void wake(struct dns_resolver *res)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: awake enough. */
	while (write(res->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void dns_resolver_stop(struct dns_resolver *res)
{
	pthread_mutex_lock(&res->mu);
	bool was = res->stopping;
	res->stopping = true;
	pthread_mutex_unlock(&res->mu);
	if (was)
		return;
	wake(res);
	pthread_join(res->thread, NULL);
}

void dns_resolver_free(struct dns_resolver **resp)
{
	struct dns_resolver *res = resp != NULL ? *resp : NULL;
	if (res == NULL)
		return;
	dns_resolver_stop(res);
	ub_ctx_delete(res->ctx);
	close(res->wakefd);
	dns_cache_free(&res->cache);
	pthread_mutex_destroy(&res->mu);
	free(res);
	*resp = NULL;
}

/* ---- the resolver thread ---- */

static void inflight_remove(struct request *req)
{
	req->prev->next = req->next;
	req->next->prev = req->prev;
}

/* Hands the answer to the waiting caller; req must not be touched after. */
static void complete(struct request *req, int err, struct ub_result *ub, const char *failure)
{
	struct dns_resolver *res = req->res;
	pthread_mutex_lock(&res->mu);
	req->err = err;
	req->ub = ub;
	req->failure = failure;
	req->done = true;
	pthread_cond_signal(&req->cond);
	pthread_mutex_unlock(&res->mu);
}

/* Called from ub_process, in the resolver thread. */
static void on_answer(void *mydata, int err, struct ub_result *result)
{
	struct request *req = mydata;
	inflight_remove(req);
	complete(req, err, result, NULL);
}

static void start(struct dns_resolver *res, struct request *req)
{
	if (res->broken) {
		complete(req, 0, NULL, "resolver failed");
		return;
	}
	/* class IN, RFC 1035 §3.2.4 */
	int r = ub_resolve_async(res->ctx, req->name, req->type, 1, req, on_answer, &req->async_id);
	if (r != 0) {
		complete(req, r, NULL, NULL);
		return;
	}
	req->next = &res->inflight;
	req->prev = res->inflight.prev;
	res->inflight.prev->next = req;
	res->inflight.prev = req;
}

/* Fails every in-flight request whose deadline is at or before now. */
static void expire(struct dns_resolver *res, int64_t now, const char *failure)
{
	struct request *req = res->inflight.next;
	while (req != &res->inflight) {
		struct request *next = req->next;
		if (req->deadline_ms <= now) {
			(void)ub_cancel(res->ctx, req->async_id);
			inflight_remove(req);
			complete(req, 0, NULL, failure);
		}
		req = next;
	}
}

static int poll_timeout(struct dns_resolver *res, int64_t now)
{
	int64_t t = RESOLVER_POLL_MAX_MS;
	for (struct request *req = res->inflight.next; req != &res->inflight; req = req->next)
		if (req->deadline_ms - now < t)
			t = req->deadline_ms - now;
	return t > 0 ? (int)t : 0;
}

static void wait_events(struct dns_resolver *res)
{
	struct pollfd p[2] = {
		{.fd = res->wakefd, .events = POLLIN},
		{.fd = res->broken ? -1 : ub_fd(res->ctx), .events = POLLIN},
	};
	if (poll(p, 2, poll_timeout(res, monotonic_ms())) <= 0)
		return;
	if (p[0].revents != 0) {
		uint64_t v;
		(void)!read(res->wakefd, &v, sizeof(v));
	}
	if (p[1].revents != 0) {
		int r = ub_process(res->ctx);
		if (r != 0) {
			/* Its worker is gone: fail what waits and all that comes,
			 * rather than spin on a dead descriptor. */
			log_msgf(LOG_ERROR, "dns", "processing answers: %s", ub_strerror(r));
			res->broken = true;
			expire(res, INT64_MAX, "resolver failed");
		}
	}
}

static void *resolver_main(void *arg)
{
	struct dns_resolver *res = arg;
	bool stopping = false;

	while (!stopping) {
		pthread_mutex_lock(&res->mu);
		struct request *req = res->queue;
		res->queue = res->queue_tail = NULL;
		stopping = res->stopping;
		pthread_mutex_unlock(&res->mu);
		while (req != NULL) {
			struct request *next = req->next;
			if (stopping)
				complete(req, 0, NULL, "resolver stopped");
			else
				start(res, req);
			req = next;
		}
		if (!stopping) {
			wait_events(res);
			expire(res, monotonic_ms(), "timeout");
		}
	}
	expire(res, INT64_MAX, "resolver stopped");
	return NULL;
}

/* ---- lookups ---- */

/* Runs req through the resolver thread; returns when it is done. */
static void submit_and_wait(struct dns_resolver *res, struct request *req)
{
	pthread_mutex_lock(&res->mu);
	if (res->stopping) {
		req->failure = "resolver stopped";
		pthread_mutex_unlock(&res->mu);
		return;
	}
	pthread_cond_init(&req->cond, NULL);
	req->next = NULL;
	if (res->queue_tail != NULL)
		res->queue_tail->next = req;
	else
		res->queue = req;
	res->queue_tail = req;
	pthread_mutex_unlock(&res->mu);
	wake(res);

	pthread_mutex_lock(&res->mu);
	while (!req->done)
		pthread_cond_wait(&req->cond, &res->mu);
	pthread_mutex_unlock(&res->mu);
	pthread_cond_destroy(&req->cond);
}

static const char *rcode_name(int rcode)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	                                    "NOTIMP", "REFUSED"};
	return rcode >= 0 && rcode < 6 ? names[rcode] : "error";
}

/* Fills r from libunbound's answer and caches what may be cached. */
static void take_answer(struct dns_resolver *res, struct dns_result *r, struct ub_result *u)
{
	const char *why;

	if (u->bogus) {
		/* RFC 4035 §5.5: a bogus answer is not given to the application. */
		r->status = DNS_BOGUS;
		r->security = DNS_SEC_BOGUS;
		dns_result_set_text(r, &r->why_bogus,
		                    u->why_bogus != NULL ? u->why_bogus : "validation failed");
		return;
	}
	if (u->rcode != DNS_RCODE_NOERROR && u->rcode != DNS_RCODE_NXDOMAIN) {
		char msg[256];
		snprintf(msg, sizeof(msg), "server failure (%s)%s%s", rcode_name(u->rcode),
		         u->why_bogus != NULL ? ": " : "", u->why_bogus != NULL ? u->why_bogus : "");
		dns_result_set_text(r, &r->error, msg);
		return;
	}
	if (u->answer_packet == NULL || u->answer_len <= 0) {
		dns_result_set_text(r, &r->error, "no answer packet from the resolver");
		return;
	}
	enum dns_security sec = u->secure ? DNS_SEC_SECURE : DNS_SEC_INSECURE;
	if (dns_result_from_packet(r, u->answer_packet, (size_t)u->answer_len, u->rcode, sec, 0,
	                           &why) < 0) {
		r->status = DNS_TEMPFAIL;
		r->error = arena_printf(dns_result_arena(r), "malformed answer: %s", why);
		return;
	}
	if (res->cache != NULL && (r->status == DNS_OK || r->status == DNS_NXDOMAIN ||
	                           r->status == DNS_NODATA))
		dns_cache_put(res->cache, r->qname, r->qtype, res->now_ms(),
		              r->ttl < DNS_CACHE_TTL_MAX ? r->ttl : DNS_CACHE_TTL_MAX,
		              u->answer_packet, (size_t)u->answer_len, u->rcode, sec);
}

static bool from_cache(struct dns_resolver *res, struct dns_result *r)
{
	struct dns_cached c;
	const char *why;

	if (res->cache == NULL || !dns_cache_get(res->cache, r->qname, r->qtype, res->now_ms(), &c))
		return false;
	int ok = dns_result_from_packet(r, c.pkt, c.len, c.rcode, c.security, c.age, &why);
	free(c.pkt);
	return ok == 0;
}

enum dns_status dns_lookup(struct dns_resolver *res, const char *name, uint16_t type,
                           struct dns_result **result_r)
{
	char qname[DNS_NAME_TEXT_MAX];
	const char *why;

	if (dns_name_normalize(name, qname, &why) < 0) {
		*result_r = dns_result_new(name, type, DNS_INVALID, why);
		return DNS_INVALID;
	}
	struct dns_result *r = dns_result_new(qname, type, DNS_TEMPFAIL, NULL);
	*result_r = r;
	if (from_cache(res, r))
		return r->status;

	struct request req = {.name = qname, .type = type, .res = res,
	                      .deadline_ms = monotonic_ms() + res->timeout_ms};
	submit_and_wait(res, &req);
	if (req.failure != NULL)
		dns_result_set_text(r, &r->error, req.failure);
	else if (req.err != 0)
		dns_result_set_text(r, &r->error, ub_strerror(req.err));
	else
		take_answer(res, r, req.ub);
	ub_resolve_free(req.ub);
	return r->status;
}

enum dns_status dns_lookup_a(struct dns_resolver *res, const char *name, struct dns_result **result_r)
{
	return dns_lookup(res, name, DNS_TYPE_A, result_r);
}

enum dns_status dns_lookup_aaaa(struct dns_resolver *res, const char *name, struct dns_result **result_r)
{
	return dns_lookup(res, name, DNS_TYPE_AAAA, result_r);
}

enum dns_status dns_lookup_mx(struct dns_resolver *res, const char *name, struct dns_result **result_r)
{
	return dns_lookup(res, name, DNS_TYPE_MX, result_r);
}

enum dns_status dns_lookup_txt(struct dns_resolver *res, const char *name, struct dns_result **result_r)
{
	return dns_lookup(res, name, DNS_TYPE_TXT, result_r);
}

/* RFC 6698 §3: the TLSA owner is _PORT._PROTOCOL.HOST. */
enum dns_status dns_lookup_tlsa(struct dns_resolver *res, unsigned port, const char *proto,
                                const char *host, struct dns_result **result_r)
{
	char name[DNS_NAME_TEXT_MAX];
	int n = snprintf(name, sizeof(name), "_%u._%s.%s", port, proto, host);
	if (n < 0 || (size_t)n >= sizeof(name)) {
		*result_r = dns_result_new(host, DNS_TYPE_TLSA, DNS_INVALID, "name too long");
		return DNS_INVALID;
	}
	return dns_lookup(res, name, DNS_TYPE_TLSA, result_r);
}

enum dns_status dns_lookup_ptr(struct dns_resolver *res, const char *ip, struct dns_result **result_r)
{
	char name[80];
	if (dns_reverse_name(ip, name, sizeof(name)) < 0) {
		*result_r = dns_result_new(ip, DNS_TYPE_PTR, DNS_INVALID, "not an IP address");
		return DNS_INVALID;
	}
	return dns_lookup(res, name, DNS_TYPE_PTR, result_r);
}
