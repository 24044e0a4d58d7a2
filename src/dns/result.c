/*
 * result.c: turns an answer packet into a struct dns_result.
 *
 * The resolver (libunbound) has already followed CNAMEs (RFC 1034 §3.6.2,
 * §4.3.2 step 3a) and put the whole chain in the answer section; here the
 * chain is walked again from the question name, so that the records reported
 * are exactly those of the asked type at the end of the chain, and the chain
 * itself can be shown. A result owns one arena holding a copy of the packet;
 * every pointer in the result points into that arena.
 *
 * Negative answers (RFC 2308): NXDOMAIN is RCODE 3 (§2.1); NODATA is RCODE 0
 * with no record of the type at the canonical name (§2.2). Their TTL is the
 * SOA's of the authority section, min(SOA TTL, SOA MINIMUM) (§5).
 */
#include "dns/internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest CNAME chain followed. Unbound stops at 11 (its MAX_RESTART_COUNT);
 * a longer chain in a packet is a loop or an attack. */
#define DNS_CNAME_CHAIN_MAX 16

struct dns_result_private {
	struct arena *arena;
};

struct dns_result *dns_result_new(const char *qname, uint16_t qtype, enum dns_status status,
                                  const char *error)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dns_result *r = arena_alloc(a, sizeof(*r));
	r->priv_ = arena_alloc(a, sizeof(*r->priv_));
	r->priv_->arena = a;
	r->qname = arena_strdup(a, qname);
	r->canonical = r->qname;
	r->qtype = qtype;
	r->status = status;
	if (error != NULL)
		r->error = arena_strdup(a, error);
	return r;
}

void dns_result_free(struct dns_result **r)
{
	if (r == NULL || *r == NULL)
		return;
	struct arena *a = (*r)->priv_->arena;
	arena_free(&a);
	*r = NULL;
}

struct arena *dns_result_arena(struct dns_result *r)
{
	return r->priv_->arena;
}

void dns_result_set_text(struct dns_result *r, const char **field, const char *text)
{
	*field = text != NULL ? arena_strdup(r->priv_->arena, text) : NULL;
}

static uint32_t aged(uint32_t ttl, uint32_t age)
{
	return ttl > age ? ttl - age : 0;
}

static size_t count_at(const struct dns_msg *m, const char *name, uint16_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nan; i++)
		if (m->an[i].type == type && dns_name_equal(m->an[i].name, name))
			n++;
	return n;
}

static const struct dns_wire_rr *find_at(const struct dns_msg *m, const char *name, uint16_t type)
{
	for (size_t i = 0; i < m->nan; i++)
		if (m->an[i].type == type && dns_name_equal(m->an[i].name, name))
			return &m->an[i];
	return NULL;
}

/* RFC 1034 §3.6.2: follows CNAMEs from the question name until a name holds
 * records of qtype (or no CNAME). Asking for CNAME itself stops at once. */
static int chase(struct dns_result *r, struct arena *a, const uint8_t *pkt, size_t len,
                 const struct dns_msg *m, uint32_t age, const char **cur_r, const char **error_r)
{
	struct dns_rr *chain = arena_alloc(a, DNS_CNAME_CHAIN_MAX * sizeof(*chain));
	const char *cur = *cur_r;
	size_t n = 0;
	const struct dns_wire_rr *w;

	while (r->qtype != DNS_TYPE_CNAME && count_at(m, cur, r->qtype) == 0 &&
	       (w = find_at(m, cur, DNS_TYPE_CNAME)) != NULL) {
		if (n == DNS_CNAME_CHAIN_MAX) {
			*error_r = arena_printf(a, "CNAME chain longer than %d", DNS_CNAME_CHAIN_MAX);
			return -1;
		}
		if (dns_rr_parse(a, pkt, len, w, aged(w->ttl, age), &chain[n], error_r) < 0)
			return -1;
		cur = chain[n++].u.target;
	}
	r->chain = chain;
	r->nchain = n;
	*cur_r = cur;
	return 0;
}

static int cmp_mx(const void *x, const void *y)
{
	const struct dns_rr *a = x, *b = y;
	if (a->u.mx.preference != b->u.mx.preference)
		return a->u.mx.preference < b->u.mx.preference ? -1 : 1;
	return strcasecmp(a->u.mx.host, b->u.mx.host);
}

static int cmp_srv(const void *x, const void *y)
{
	const struct dns_rr *a = x, *b = y;
	if (a->u.srv.priority != b->u.srv.priority)
		return a->u.srv.priority < b->u.srv.priority ? -1 : 1;
	return strcasecmp(a->u.srv.target, b->u.srv.target);
}

static int pick_records(struct dns_result *r, struct arena *a, const uint8_t *pkt, size_t len,
                        const struct dns_msg *m, uint32_t age, const char **error_r)
{
	size_t n = count_at(m, r->canonical, r->qtype), k = 0;
	struct dns_rr *rrs = arena_alloc(a, n * sizeof(*rrs));
	for (size_t i = 0; i < m->nan; i++) {
		const struct dns_wire_rr *w = &m->an[i];
		if (w->type != r->qtype || !dns_name_equal(w->name, r->canonical))
			continue;
		if (dns_rr_parse(a, pkt, len, w, aged(w->ttl, age), &rrs[k++], error_r) < 0)
			return -1;
	}
	/* RFC 5321 §5.1: lower preference first; ties in name order so output is
	 * stable (the SMTP client shuffles equals itself). */
	if (n < 2)
		;  /* nothing to order; qsort's base must not be NULL */
	else if (r->qtype == DNS_TYPE_MX)
		qsort(rrs, n, sizeof(*rrs), cmp_mx);
	else if (r->qtype == DNS_TYPE_SRV)
		qsort(rrs, n, sizeof(*rrs), cmp_srv);
	r->rrs = rrs;
	r->nrrs = n;
	return 0;
}

/* RFC 2308 §5: the TTL of a negative answer is min(SOA TTL, SOA MINIMUM) of
 * the SOA in the authority section; without one, a short default. */
static uint32_t negative_ttl(struct arena *a, const uint8_t *pkt, size_t len,
                             const struct dns_msg *m)
{
	for (size_t i = 0; i < m->nns; i++) {
		struct dns_rr soa;
		const char *why;
		if (m->ns[i].type != DNS_TYPE_SOA ||
		    dns_rr_parse(a, pkt, len, &m->ns[i], m->ns[i].ttl, &soa, &why) < 0)
			continue;
		uint32_t ttl = soa.ttl < soa.u.soa.minimum ? soa.ttl : soa.u.soa.minimum;
		return ttl < DNS_NEGATIVE_TTL_MAX ? ttl : DNS_NEGATIVE_TTL_MAX;
	}
	return DNS_NEGATIVE_TTL_DEFAULT;
}

static uint32_t positive_ttl(const struct dns_result *r)
{
	uint32_t ttl = UINT32_MAX;
	for (size_t i = 0; i < r->nchain; i++)
		ttl = r->chain[i].ttl < ttl ? r->chain[i].ttl : ttl;
	for (size_t i = 0; i < r->nrrs; i++)
		ttl = r->rrs[i].ttl < ttl ? r->rrs[i].ttl : ttl;
	return ttl;
}

int dns_result_from_packet(struct dns_result *r, const uint8_t *packet, size_t len, int rcode,
                           enum dns_security sec, uint32_t age, const char **error_r)
{
	struct arena *a = r->priv_->arena;
	uint8_t *pkt = arena_alloc(a, len);
	struct dns_msg m;

	memcpy(pkt, packet, len);
	const char *cur = r->qname;
	if (dns_msg_parse(a, pkt, len, &m, error_r) < 0)
		return -1;
	if (m.qname != NULL)
		cur = m.qname;
	if (chase(r, a, pkt, len, &m, age, &cur, error_r) < 0)
		goto fail;
	r->canonical = cur;
	if (pick_records(r, a, pkt, len, &m, age, error_r) < 0)
		goto fail;
	r->security = sec;
	if (rcode == DNS_RCODE_NXDOMAIN) {
		r->status = DNS_NXDOMAIN;
	} else if (rcode != DNS_RCODE_NOERROR) {
		r->status = DNS_TEMPFAIL;
		r->error = arena_printf(a, "server failure (RCODE %d)", rcode);
		r->ttl = 0;
		return 0;
	} else {
		r->status = r->nrrs > 0 ? DNS_OK : DNS_NODATA;
	}
	r->ttl = r->status == DNS_OK ? positive_ttl(r) : aged(negative_ttl(a, pkt, len, &m), age);
	return 0;
fail:
	/* leave no half-parsed records behind */
	r->chain = r->rrs = NULL;
	r->nchain = r->nrrs = 0;
	r->canonical = r->qname;
	return -1;
}

/* RFC 1035 §2.3.4: labels 1..63 octets, names 255 octets in wire form. */
/* Octets written as \DDD in presentation form (RFC 1035 §5.1): those that
 * are not printable ASCII, and those with a meaning in zone files. */
static bool needs_escape(unsigned char c)
{
	return c < 0x21 || c >= 0x7f || strchr("\\\"();$@", c) != NULL;
}

int dns_name_normalize(const char *name, char *out, const char **error_r)
{
	size_t n = strlen(name), label = 0, wire = 1, o = 0;

	if (strcmp(name, ".") == 0) {
		strcpy(out, ".");
		return 0;
	}
	if (n == 0 || n > 254) {
		*error_r = n == 0 ? "empty name" : "name longer than 255 octets";
		return -1;
	}
	/* RFC 2181 §11: a label may hold any octet; they are escaped for unbound */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c != '.') {
			if (++label > 63) {
				*error_r = "label longer than 63 octets";
				return -1;
			}
			if (needs_escape(c))
				o += (size_t)snprintf(out + o, 5, "\\%03u", c);
			else
				out[o++] = (char)c;
			continue;
		}
		if (label == 0) {
			*error_r = "empty label in name";
			return -1;
		}
		out[o++] = '.';
		wire += 1 + label;
		label = 0;
	}
	if (label > 0)
		wire += 1 + label;
	if (wire > 255) {
		*error_r = "name longer than 255 octets";
		return -1;
	}
	if (name[n - 1] != '.')
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

/* RFC 1035 §3.5 (in-addr.arpa) and RFC 3596 §2.5 (ip6.arpa, nibbles). */
int dns_reverse_name(const char *ip, char *out, size_t outsize)
{
	unsigned char b[16];
	size_t o = 0;

	if (inet_pton(AF_INET, ip, b) == 1) {
		int n = snprintf(out, outsize, "%u.%u.%u.%u.in-addr.arpa.", b[3], b[2], b[1], b[0]);
		return n > 0 && (size_t)n < outsize ? 0 : -1;
	}
	if (inet_pton(AF_INET6, ip, b) != 1 || outsize < 74)
		return -1;
	static const char hex[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[b[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa.", sizeof("ip6.arpa."));  /* 64 + 10 = 74 bytes */
	return 0;
}

const char *dns_status_name(enum dns_status status)
{
	static const char *const names[] = {
		[DNS_OK] = "ok", [DNS_NXDOMAIN] = "nxdomain", [DNS_NODATA] = "nodata",
		[DNS_TEMPFAIL] = "tempfail", [DNS_BOGUS] = "bogus", [DNS_INVALID] = "invalid",
	};
	return (unsigned)status < sizeof(names) / sizeof(names[0]) ? names[status] : "?";
}

const char *dns_security_name(enum dns_security security)
{
	static const char *const names[] = {
		[DNS_SEC_INSECURE] = "insecure", [DNS_SEC_SECURE] = "secure", [DNS_SEC_BOGUS] = "bogus",
	};
	return (unsigned)security < sizeof(names) / sizeof(names[0]) ? names[security] : "?";
}

size_t dns_curl_resolve_entry(struct dns_resolver *res, const char *host, const char *port,
                              char *out, size_t size)
{
	int n = snprintf(out, size, "%s:%s:", host, port);
	size_t len = n > 0 && (size_t)n < size ? (size_t)n : size;
	size_t count = 0;
	for (int pass = 0; pass < 2 && len < size; pass++) {
		struct dns_result *r = NULL;
		enum dns_status st = pass == 0 ? dns_lookup_aaaa(res, host, &r) :
		                     dns_lookup_a(res, host, &r);
		for (size_t i = 0; st == DNS_OK && i < r->nrrs; i++) {
			char ip[INET6_ADDRSTRLEN];
			if (pass == 0)
				inet_ntop(AF_INET6, &r->rrs[i].u.aaaa, ip, sizeof(ip));
			else
				inet_ntop(AF_INET, &r->rrs[i].u.a, ip, sizeof(ip));
			int w = snprintf(out + len, size - len, "%s%s%s%s", count ? "," : "",
			                 pass == 0 ? "[" : "", ip, pass == 0 ? "]" : "");
			if (w < 0 || (size_t)w >= size - len)
				break;
			len += (size_t)w;
			count++;
		}
		dns_result_free(&r);
	}
	return count;
}
