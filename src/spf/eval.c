/*
 * eval.c: check_host(), RFC 7208 §4 (initial processing, record lookup and
 * selection, evaluation, limits), §5 (mechanisms) and §6 (redirect, exp).
 *
 * One evaluation (struct eval) carries the counters that §4.6.4 applies to
 * the whole check, includes and redirects together: DNS-querying terms
 * (10), void lookups (2), and the time limit. Every DNS answer is one of
 * src/dns/'s statuses:
 *   DNS_OK                 records
 *   DNS_NXDOMAIN, NODATA   "no records" (§5: RCODE 3 is treated as RCODE 0
 *                          with no answers); a void lookup when a term's own
 *                          query gives it (§4.6.4)
 *   DNS_TEMPFAIL           temperror (§4.4, §5)
 *   DNS_BOGUS              temperror as well: a DNSSEC validation failure
 *                          may be an attack or a broken zone, and neither
 *                          may make a pass (or a hard fail); retry later
 *   DNS_INVALID            the name cannot be asked (a label over 63
 *                          octets, an empty label): like a name
 *                          that does not exist, by analogy with §4.3 (the
 *                          RFC leaves a malformed target-name undefined)
 *
 * Errors stop the evaluation where they happen: the first temperror or
 * permerror is the result of the topmost check_host().
 */
#include "spf/internal.h"

#include "core/arena.h"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct eval {
	struct dns_resolver *res;
	struct arena *a;
	const struct spf_request *rq;
	bool ipv6;
	uint8_t ip[16];
	char client[INET6_ADDRSTRLEN];
	const char *sender, *local, *sender_dom, *helo;
	unsigned lookups, voids;
	long long start_ms, now_s;
	/* §5.5 validated names of ip, found once per evaluation */
	bool ptr_done;
	const char **ptr_names;
	size_t nptr_names;
};

/* What a check_host() (or one term) came to. */
struct hres {
	enum spf_result result;
	const char *mechanism;
	const char *explanation;
	const char *problem;
};

enum { NOMATCH = 0, MATCH = 1, ERROR = -1 };

static long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_err(struct eval *ev, struct hres *h, enum spf_result r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int set_err(struct eval *ev, struct hres *h, enum spf_result r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	h->result = r;
	h->problem = arena_vprintf(ev->a, fmt, ap);
	h->mechanism = NULL;
	h->explanation = NULL;
	va_end(ap);
	return ERROR;
}

/* One query, within the time limit (§4.6.4: "MTAs or other processors
 * SHOULD impose a limit on the maximum amount of elapsed time to evaluate
 * check_host() ... If such a limit is exceeded, the result of
 * authorization SHOULD be "temperror"."). *r is NULL when the limit was
 * passed; the caller frees *r. */
static enum dns_status lookup(struct eval *ev, const char *name, uint16_t type,
                              struct dns_result **r)
{
	*r = NULL;
	if (monotonic_ms() - ev->start_ms > SPF_TIME_LIMIT_MS)
		return DNS_TEMPFAIL;
	if (type == DNS_TYPE_PTR)
		return dns_lookup_ptr(ev->res, name, r);
	return dns_lookup(ev->res, name, type, r);
}

/* temperror for a failed lookup (DNS_TEMPFAIL, DNS_BOGUS). */
static int dns_err(struct eval *ev, struct hres *h, const char *name, uint16_t type,
                   const struct dns_result *r)
{
	char tb[16];
	const char *t = dns_type_name(type, tb, sizeof(tb));
	if (r == NULL)
		return set_err(ev, h, SPF_TEMPERROR, "time limit of %d s passed before %s %s",
		               SPF_TIME_LIMIT_MS / 1000, t, name);
	if (r->status == DNS_BOGUS)
		return set_err(ev, h, SPF_TEMPERROR, "DNSSEC validation failed for %s %s: %s", t,
		               name, r->why_bogus != NULL ? r->why_bogus : "bogus");
	return set_err(ev, h, SPF_TEMPERROR, "DNS lookup of %s %s failed: %s", t, name,
	               r->error != NULL ? r->error : "temporary failure");
}

static bool failed(enum dns_status st)
{
	return st == DNS_TEMPFAIL || st == DNS_BOGUS;
}

/* §4.6.4: a term that queries DNS; the 11th is a permerror. */
static int count_term(struct eval *ev, struct hres *h)
{
	if (++ev->lookups > SPF_DNS_TERMS_MAX)
		return set_err(ev, h, SPF_PERMERROR,
		               "more than %d DNS-querying mechanisms and modifiers (RFC 7208 §4.6.4)",
		               SPF_DNS_TERMS_MAX);
	return 0;
}

/* §4.6.4: "SPF implementations SHOULD limit "void lookups" to two." */
static int count_void(struct eval *ev, struct hres *h, const char *name)
{
	if (++ev->voids > SPF_VOID_LOOKUPS_MAX)
		return set_err(ev, h, SPF_PERMERROR,
		               "more than %d void lookups, the last for %s (RFC 7208 §4.6.4)",
		               SPF_VOID_LOOKUPS_MAX, name);
	return 0;
}

static bool in_net(const uint8_t *a, const uint8_t *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* Whether one of r's A/AAAA records is within cidr of the client. */
static bool addr_match(const struct eval *ev, const struct dns_result *r, int cidr)
{
	for (size_t i = 0; i < r->nrrs; i++) {
		const struct dns_rr *rr = &r->rrs[i];
		if (!ev->ipv6 && rr->type == DNS_TYPE_A &&
		    in_net(ev->ip, (const uint8_t *)&rr->u.a, cidr))
			return true;
		if (ev->ipv6 && rr->type == DNS_TYPE_AAAA &&
		    in_net(ev->ip, (const uint8_t *)&rr->u.aaaa, cidr))
			return true;
	}
	return false;
}

/* ---- %{p} and ptr: §5.5 validated names ---- */

/* name without its final dot, in the arena */
static const char *undot(struct arena *a, const char *name)
{
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == '.')
		n--;
	return arena_strndup(a, name, n);
}

/* §5.5: PTR names of ip whose addresses include ip; at most
 * SPF_PTR_NAMES_MAX PTR records are looked at (§4.6.4: "all records other
 * than the first 10 MUST be ignored"). A failed PTR lookup gives no names
 * (the mechanism does not match); a failed address lookup skips that name
 * (§5.5). */
static void find_ptr_names(struct eval *ev)
{
	struct dns_result *r;

	if (ev->ptr_done)
		return;
	ev->ptr_done = true;
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(ev->ipv6 ? AF_INET6 : AF_INET, ev->ip, ip, sizeof(ip));
	if (lookup(ev, ip, DNS_TYPE_PTR, &r) != DNS_OK) {
		dns_result_free(&r);
		return;
	}
	ev->ptr_names = arena_alloc(ev->a, sizeof(*ev->ptr_names) * SPF_PTR_NAMES_MAX);
	size_t checked = 0;
	for (size_t i = 0; i < r->nrrs && checked < SPF_PTR_NAMES_MAX; i++) {
		if (r->rrs[i].type != DNS_TYPE_PTR)
			continue;
		checked++;
		const char *name = r->rrs[i].u.target;
		struct dns_result *ar;
		if (lookup(ev, name, ev->ipv6 ? DNS_TYPE_AAAA : DNS_TYPE_A, &ar) == DNS_OK &&
		    addr_match(ev, ar, ev->ipv6 ? 128 : 32))
			ev->ptr_names[ev->nptr_names++] = undot(ev->a, name);
		dns_result_free(&ar);
	}
	dns_result_free(&r);
}

/* Whether name is target or below it, ignoring case and a final dot. */
static bool name_within(const char *name, const char *target)
{
	size_t n = strlen(name), t = strlen(target);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (t > 0 && target[t - 1] == '.')
		t--;
	if (t == 0 || n < t || strncasecmp(name + n - t, target, t) != 0)
		return false;
	return n == t || name[n - t - 1] == '.';
}

/* §7.3 "p": the validated name equal to domain, else one below it, else
 * any, else "unknown". */
static const char *ptr_macro(void *arg, const char *domain)
{
	struct eval *ev = arg;
	find_ptr_names(ev);
	for (size_t i = 0; i < ev->nptr_names; i++)
		if (strcasecmp(ev->ptr_names[i], domain) == 0)
			return ev->ptr_names[i];
	for (size_t i = 0; i < ev->nptr_names; i++)
		if (name_within(ev->ptr_names[i], domain))
			return ev->ptr_names[i];
	return ev->nptr_names > 0 ? ev->ptr_names[0] : "unknown";
}

/* ---- macros ---- */

static void macro_ctx(struct eval *ev, const char *domain, struct spf_macro_ctx *m)
{
	*m = (struct spf_macro_ctx){
		.sender = ev->sender, .local = ev->local, .sender_dom = ev->sender_dom,
		.domain = domain, .helo = ev->helo, .receiver = ev->rq->receiver,
		.client = ev->client, .ipv6 = ev->ipv6, .now = ev->now_s,
		.ptr_name = ptr_macro, .ptr_arg = ev,
	};
	memcpy(m->ip, ev->ip, 16);
}

/* The target-name of a term (§4.8): its domain-spec expanded and cut to
 * 253 characters, or <domain> when it has none. */
static const char *target_name(struct eval *ev, const char *spec, const char *domain,
                               struct hres *h)
{
	if (spec == NULL)
		return domain;
	struct spf_macro_ctx m;
	const char *why;
	macro_ctx(ev, domain, &m);
	char *t = spf_macro_expand(ev->a, spec, SPF_MACRO_DOMAIN, &m, &why);
	if (t == NULL) {
		set_err(ev, h, SPF_PERMERROR, "%s: %s", spec, why);
		return NULL;
	}
	spf_name_truncate(t);
	return t;
}

/* ---- mechanisms, §5 ---- */

static struct hres check_host(struct eval *ev, const char *domain, bool want_exp);

/* §5.3 "a", and the address lookups of §5.4 "mx": *matched set. Returns 0,
 * 1 when the name had no addresses, or ERROR. */
static int addresses(struct eval *ev, const char *name, int c4, int c6, bool *matched,
                     struct hres *h)
{
	struct dns_result *r;
	uint16_t type = ev->ipv6 ? DNS_TYPE_AAAA : DNS_TYPE_A;
	enum dns_status st = lookup(ev, name, type, &r);
	int ret = 0;

	*matched = false;
	if (r == NULL || failed(st))
		ret = dns_err(ev, h, name, type, r);
	else if (st == DNS_OK)
		*matched = addr_match(ev, r, ev->ipv6 ? c6 : c4);
	else
		ret = 1;
	dns_result_free(&r);
	return ret;
}

static int mech_a(struct eval *ev, const struct spf_mechanism *m, const char *target,
                  struct hres *h)
{
	bool matched;
	int r = addresses(ev, target, m->cidr4, m->cidr6, &matched, h);
	if (r == ERROR)
		return ERROR;
	if (r == 1 && count_void(ev, h, target) < 0)
		return ERROR;
	return matched ? MATCH : NOMATCH;
}

static int mech_mx(struct eval *ev, const struct spf_mechanism *m, const char *target,
                   struct hres *h)
{
	struct dns_result *r;
	enum dns_status st = lookup(ev, target, DNS_TYPE_MX, &r);
	int ret = NOMATCH;

	if (r == NULL || failed(st)) {
		ret = dns_err(ev, h, target, DNS_TYPE_MX, r);
	} else if (st != DNS_OK) {
		/* §5.4: no MX records: no implicit MX, no A lookup of the name */
		if (count_void(ev, h, target) < 0)
			ret = ERROR;
	} else if (r->nrrs > SPF_MX_NAMES_MAX) {
		/* §4.6.4: "the evaluation of each "MX" record MUST NOT result in
		 * querying more than 10 address records ... If this limit is
		 * exceeded, the "mx" mechanism MUST produce a "permerror" result." */
		ret = set_err(ev, h, SPF_PERMERROR, "%s has more than %d MX records (RFC 7208 §4.6.4)",
		              target, SPF_MX_NAMES_MAX);
	} else {
		for (size_t i = 0; i < r->nrrs && ret == NOMATCH; i++) {
			const char *host = r->rrs[i].u.mx.host;
			if (r->rrs[i].type != DNS_TYPE_MX || strcmp(host, ".") == 0)
				continue;   /* RFC 7505 null MX: no host to ask */
			bool matched;
			if (addresses(ev, host, m->cidr4, m->cidr6, &matched, h) == ERROR)
				ret = ERROR;
			else if (matched)
				ret = MATCH;
		}
	}
	dns_result_free(&r);
	return ret;
}

static int mech_ptr(struct eval *ev, const char *target)
{
	/* §5.5. A missing PTR is not counted as a void lookup: the client, not
	 * the domain owner, controls it, and it must not turn into permerror. */
	find_ptr_names(ev);
	for (size_t i = 0; i < ev->nptr_names; i++)
		if (name_within(ev->ptr_names[i], target))
			return MATCH;
	return NOMATCH;
}

static int mech_exists(struct eval *ev, const char *target, struct hres *h)
{
	struct dns_result *r;
	/* §5.7: always an A lookup, even for an IPv6 client */
	enum dns_status st = lookup(ev, target, DNS_TYPE_A, &r);
	int ret = NOMATCH;

	if (r == NULL || failed(st))
		ret = dns_err(ev, h, target, DNS_TYPE_A, r);
	else if (st == DNS_OK && r->nrrs > 0)
		ret = MATCH;
	else if (count_void(ev, h, target) < 0)
		ret = ERROR;
	dns_result_free(&r);
	return ret;
}

static int mech_include(struct eval *ev, const char *target, struct hres *h)
{
	struct hres in = check_host(ev, target, false);
	/* §5.2: the table of include results */
	switch (in.result) {
	case SPF_PASS:
		return MATCH;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		return NOMATCH;
	case SPF_TEMPERROR:
		return set_err(ev, h, SPF_TEMPERROR, "include:%s: %s", target, in.problem);
	case SPF_PERMERROR:
		return set_err(ev, h, SPF_PERMERROR, "include:%s: %s", target, in.problem);
	case SPF_NONE:
		break;
	}
	return set_err(ev, h, SPF_PERMERROR, "include:%s: no SPF record (RFC 7208 §5.2)", target);
}

static bool is_dns_term(enum spf_mech_kind k)
{
	return k == SPF_MECH_INCLUDE || k == SPF_MECH_A || k == SPF_MECH_MX ||
	       k == SPF_MECH_PTR || k == SPF_MECH_EXISTS;
}

/* One mechanism: MATCH, NOMATCH or ERROR (h filled). */
static int mechanism(struct eval *ev, const struct spf_mechanism *m, const char *domain,
                     struct hres *h)
{
	if (is_dns_term(m->kind) && count_term(ev, h) < 0)
		return ERROR;
	switch (m->kind) {
	case SPF_MECH_ALL:
		return MATCH;
	case SPF_MECH_IP4:
		return !ev->ipv6 && in_net(ev->ip, m->addr, m->cidr4) ? MATCH : NOMATCH;
	case SPF_MECH_IP6:
		/* §5: an IPv4-mapped client is IPv4 and never matches ip6 */
		return ev->ipv6 && in_net(ev->ip, m->addr, m->cidr6) ? MATCH : NOMATCH;
	default:
		break;
	}
	const char *target = target_name(ev, m->domain_spec, domain, h);
	if (target == NULL)
		return ERROR;
	if (!spf_target_valid(target) && m->kind != SPF_MECH_INCLUDE)
		return NOMATCH;   /* malformed target-name: see the top of the file */
	switch (m->kind) {
	case SPF_MECH_A:
		return mech_a(ev, m, target, h);
	case SPF_MECH_MX:
		return mech_mx(ev, m, target, h);
	case SPF_MECH_PTR:
		return mech_ptr(ev, target);
	case SPF_MECH_EXISTS:
		return mech_exists(ev, target, h);
	case SPF_MECH_INCLUDE:
		return mech_include(ev, target, h);
	default:
		return NOMATCH;
	}
}

/* ---- exp=, §6.2 ---- */

/* The explanation, or NULL when exp= cannot be used: "If there are any DNS
 * processing errors (any RCODE other than 0), or if no records are
 * returned, or if more than one record is returned, or if there are syntax
 * errors in the explanation string, then proceed as if no "exp" modifier
 * was given." The lookup does not count toward the limits (§4.6.4). */
static const char *explanation(struct eval *ev, const char *spec, const char *domain)
{
	struct hres ignored = {0};
	struct spf_macro_ctx m;
	const char *why, *text = NULL;
	struct dns_result *r;

	const char *target = target_name(ev, spec, domain, &ignored);
	if (target == NULL || !spf_target_valid(target))
		return NULL;
	if (lookup(ev, target, DNS_TYPE_TXT, &r) == DNS_OK && r->nrrs == 1 &&
	    r->rrs[0].type == DNS_TYPE_TXT) {
		const struct dns_txt *t = &r->rrs[0].u.txt;
		/* §6.2: 7-bit ASCII only; spf_macro_check refuses the rest */
		if (memchr(t->text, '\0', t->len) == NULL &&
		    spf_macro_check(t->text, t->len, SPF_MACRO_EXP, &why) == 0) {
			macro_ctx(ev, domain, &m);
			text = spf_macro_expand(ev->a, t->text, SPF_MACRO_EXP, &m, &why);
		}
	}
	dns_result_free(&r);
	return text;
}

/* ---- check_host, §4 ---- */

/* §4.4, §4.5: the one SPF record of domain. Returns 1 with *text, 0 for
 * none (h->problem says why), or ERROR. */
static int find_record(struct eval *ev, const char *domain, const char **text, size_t *len,
                       struct hres *h)
{
	struct dns_result *r;
	enum dns_status st = lookup(ev, domain, DNS_TYPE_TXT, &r);
	int ret = 0;

	if (r == NULL || failed(st)) {
		/* §4.4: "If the DNS lookup returns a server failure (RCODE 2) or some
		 * other error (RCODE other than 0 or 3), or if the lookup times out,
		 * then check_host() terminates immediately with the result
		 * "temperror"." */
		ret = dns_err(ev, h, domain, DNS_TYPE_TXT, r);
	} else if (st != DNS_OK) {
		h->problem = arena_printf(ev->a, "%s: %s", domain, st == DNS_NXDOMAIN
		                          ? "no such domain" : "no TXT records");
	} else {
		size_t n = 0;
		for (size_t i = 0; i < r->nrrs; i++) {
			const struct dns_txt *t = &r->rrs[i].u.txt;
			if (r->rrs[i].type != DNS_TYPE_TXT || !spf_record_is_spf(t->text, t->len))
				continue;
			/* §3.3: the strings of one record are joined (dns does it) */
			*text = arena_strndup(ev->a, t->text, t->len);
			*len = t->len;
			n++;
		}
		if (n == 0)
			h->problem = arena_printf(ev->a, "%s: no SPF record", domain);
		else if (n > 1)
			/* §4.5: "If the resultant record set includes more than one
			 * record, check_host() produces the "permerror" result." */
			ret = set_err(ev, h, SPF_PERMERROR, "%s: %zu SPF records (RFC 7208 §4.5)",
			              domain, n);
		else
			ret = 1;
	}
	dns_result_free(&r);
	return ret;
}

static struct hres check_host(struct eval *ev, const char *domain, bool want_exp)
{
	struct hres h = {.result = SPF_NONE};
	const char *text = NULL, *why;
	size_t len = 0;
	struct spf_record *rec;

	/* §4.3: a malformed or single-label domain gives "none" at once */
	if (!spf_domain_valid(domain)) {
		h.problem = arena_printf(ev->a, "%s: not a valid multi-label domain name", domain);
		return h;
	}
	domain = undot(ev->a, domain);
	int found = find_record(ev, domain, &text, &len, &h);
	if (found <= 0)
		return h;
	if (spf_record_parse(ev->a, text, len, &rec, &why) < 0) {
		set_err(ev, &h, SPF_PERMERROR, "%s: %s", domain, why);
		return h;
	}
	/* §4.6.2: mechanisms in order; the first match decides */
	for (size_t i = 0; i < rec->nmechs; i++) {
		const struct spf_mechanism *m = &rec->mechs[i];
		int r = mechanism(ev, m, domain, &h);
		if (r == ERROR)
			return h;
		if (r == NOMATCH)
			continue;
		h.result = m->qualifier;
		h.mechanism = m->text;
		/* §6.2: the explanation of a fail from this record (never one of
		 * an included record: want_exp is false there) */
		if (h.result == SPF_FAIL && want_exp && rec->exp != NULL)
			h.explanation = explanation(ev, rec->exp, domain);
		return h;
	}
	if (rec->redirect == NULL) {
		h.result = SPF_NEUTRAL;   /* §4.7 default result */
		return h;
	}
	/* §6.1 redirect: counted as a DNS-querying term; the result of the
	 * target's check_host() is ours, with its exp= (not this one's) */
	if (count_term(ev, &h) < 0)
		return h;
	const char *target = target_name(ev, rec->redirect, domain, &h);
	if (target == NULL)
		return h;
	struct hres r = check_host(ev, target, want_exp);
	if (r.result == SPF_NONE)
		set_err(ev, &r, SPF_PERMERROR, "redirect=%s: no SPF record (RFC 7208 §6.1)", target);
	return r;
}

/* The IP of rq as bytes; an IPv4-mapped IPv6 address is IPv4 (§5). */
static int parse_ip(struct eval *ev, const char *ip)
{
	struct in6_addr a6;
	if (ip != NULL && inet_pton(AF_INET, ip, ev->ip) == 1) {
		ev->ipv6 = false;
	} else if (ip != NULL && inet_pton(AF_INET6, ip, &a6) == 1) {
		ev->ipv6 = !IN6_IS_ADDR_V4MAPPED(&a6);
		memcpy(ev->ip, ev->ipv6 ? a6.s6_addr : a6.s6_addr + 12, ev->ipv6 ? 16 : 4);
	} else {
		return -1;
	}
	inet_ntop(ev->ipv6 ? AF_INET6 : AF_INET, ev->ip, ev->client, sizeof(ev->client));
	return 0;
}

/* <sender>, and its local-part and domain (§4.3, §2.4). */
static void set_sender(struct eval *ev, const char *domain)
{
	const char *mf = ev->rq->mail_from;
	if (mf == NULL || mf[0] == '\0') {
		/* §2.4: the null path is postmaster@HELO */
		ev->local = "postmaster";
		ev->sender_dom = ev->rq->helo != NULL && ev->rq->helo[0] != '\0' ? ev->rq->helo : domain;
	} else {
		const char *at = strrchr(mf, '@');
		ev->local = at != NULL ? arena_strndup(ev->a, mf, (size_t)(at - mf)) : mf;
		ev->sender_dom = at != NULL ? at + 1 : domain;
		/* §4.3: "If the <sender> has no local-part, substitute the string
		 * "postmaster" for the local-part." */
		if (ev->local[0] == '\0')
			ev->local = "postmaster";
	}
	ev->sender = arena_printf(ev->a, "%s@%s", ev->local, ev->sender_dom);
}

enum spf_result spf_check_host(struct dns_resolver *res, const struct spf_request *rq,
                               const char *domain, struct arena *a, struct spf_outcome *out)
{
	struct eval ev = {.res = res, .a = a, .rq = rq, .start_ms = monotonic_ms(),
	                  .now_s = (long long)time(NULL)};

	memset(out, 0, sizeof(*out));
	out->domain = arena_strdup(a, domain != NULL ? domain : "");
	ev.helo = rq->helo != NULL && rq->helo[0] != '\0' ? rq->helo : "unknown";
	set_sender(&ev, out->domain);
	out->sender = ev.sender;
	if (parse_ip(&ev, rq->ip) < 0) {
		out->result = SPF_PERMERROR;
		out->problem = arena_printf(a, "not an IP address: %s", rq->ip != NULL ? rq->ip : "");
		return out->result;
	}
	struct hres h = check_host(&ev, out->domain, true);
	out->result = h.result;
	out->mechanism = h.mechanism;
	out->explanation = h.result == SPF_FAIL ? h.explanation : NULL;
	out->problem = h.problem;
	out->lookups = ev.lookups;
	out->void_lookups = ev.voids;
	return out->result;
}
