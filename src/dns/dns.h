/*
 * dns.h: tern's DNS resolver: libunbound with DNSSEC validation, one resolver
 * thread, and a small TTL cache in front of it.
 *
 * Every standard that looks at DNS (SPF, DKIM, DMARC, MTA-STS, DANE, iprev,
 * MX routing) asks through this header. A lookup always produces a result
 * that says what happened, kept apart the way the standards need it:
 *
 *   DNS_OK        records of the type exist at the (canonical) name
 *   DNS_NXDOMAIN  the name does not exist (RFC 1035 §4.1.1 RCODE 3)
 *   DNS_NODATA    the name exists but has no records of the type (RFC 2308 §2.2)
 *   DNS_TEMPFAIL  SERVFAIL, timeout, network or resolver trouble: try later
 *   DNS_BOGUS     DNSSEC validation failed (RFC 4035 §4.3); why_bogus says why
 *   DNS_INVALID   the name is not a valid domain name; nothing was asked
 *
 * and the DNSSEC state of the answer (RFC 4035 §4.3: secure, insecure, bogus;
 * unbound's "indeterminate" — no trust anchor covers the name — is insecure).
 *
 * Threads: a struct dns_resolver is shared by all threads; dns_lookup and its
 * wrappers block the calling thread until the answer, the lookup timeout or
 * resolver shutdown. Queries run in one resolver thread that owns the
 * ub_ctx and drives it asynchronously, so a cached answer costs a queue hop,
 * not a pass through libunbound's blocking API.
 *
 * Results are owned by the caller and freed with dns_result_free(). All
 * strings and arrays in a result live as long as the result.
 */
#ifndef TERN_DNS_DNS_H
#define TERN_DNS_DNS_H

#include "core/error.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RR TYPE values (RFC 1035 §3.2.2 and later RFCs) that tern parses. */
enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_MX = 15,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,   /* RFC 3596 */
	DNS_TYPE_SRV = 33,    /* RFC 2782 */
	DNS_TYPE_TLSA = 52,   /* RFC 6698 */
	DNS_TYPE_CAA = 257,   /* RFC 8659 */
};

/* Longest domain name in presentation form with a NUL: 255 octets on the
 * wire (RFC 1035 §3.1) can take up to 1016 characters when every octet is
 * written as \DDD. */
#define DNS_NAME_TEXT_MAX 1025

/* Default time a lookup may take before it fails with DNS_TEMPFAIL. */
#define DNS_TIMEOUT_DEFAULT_MS 10000

/* Default number of answers in tern's own cache. */
#define DNS_CACHE_DEFAULT_ENTRIES 10000

/* Trust anchor used when none is configured: the root key shipped by Debian's
 * dns-root-data package. When the file is missing, nothing is validated. */
#define DNS_ROOT_KEY_FILE "/usr/share/dns/root.key"

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,
	DNS_NODATA,
	DNS_TEMPFAIL,
	DNS_BOGUS,
	DNS_INVALID,
};

enum dns_security {
	DNS_SEC_INSECURE = 0,  /* not validated, or provably unsigned */
	DNS_SEC_SECURE,        /* validated from a trust anchor (RFC 4035 §4.3) */
	DNS_SEC_BOGUS,         /* validation failed */
};

/* A zone sent to particular servers (unbound's zone delegation): zone "example.test.",
 * addr "IP" or "IP@PORT". */
struct dns_stub {
	const char *zone;
	const char *addr;
};

struct dns_resolver_config {
	/* "IP" or "IP@PORT"; everything is forwarded there. None: the servers
	 * of /etc/resolv.conf, and /etc/hosts. */
	const char *const *upstreams;
	size_t nupstreams;
	/* Zones sent to their own servers instead of the upstreams. */
	const struct dns_stub *stubs;
	size_t nstubs;
	/* Trust anchors: a file of DS/DNSKEY lines, and/or lines given
	 * directly. With neither, DNS_ROOT_KEY_FILE if it exists. */
	const char *trust_anchor_file;
	const char *const *trust_anchors;
	size_t ntrust_anchors;
	/* No DNSSEC validation at all: no trust anchor is loaded and every
	 * answer is insecure. For upstreams that strip DNSSEC records. */
	bool no_dnssec;
	/* Answers kept in tern's cache: < 0 the default, 0 none. */
	int cache_entries;
	/* Time for one lookup, 0: DNS_TIMEOUT_DEFAULT_MS. */
	int timeout_ms;
};

/* MX, RFC 1035 §3.3.9. */
struct dns_mx {
	uint16_t preference;
	const char *host;       /* presentation form, ends in "."; "." is a null MX (RFC 7505) */
};

/* One character-string of a TXT record (RFC 1035 §3.3.14), NUL-terminated. */
struct dns_txt_string {
	const char *data;
	size_t len;             /* may contain NULs; use len */
};

/* TXT: the character-strings of ONE record and their concatenation, which is
 * what SPF (RFC 7208 §3.3), DKIM (RFC 6376 §3.6.2.2) and DMARC read. */
struct dns_txt {
	const char *text;       /* strings joined with nothing between, NUL-terminated */
	size_t len;
	const struct dns_txt_string *strings;
	size_t nstrings;
};

/* TLSA, RFC 6698 §2.1. */
struct dns_tlsa {
	uint8_t usage;          /* §2.1.1 */
	uint8_t selector;       /* §2.1.2 */
	uint8_t mtype;          /* §2.1.3 matching type */
	const uint8_t *data;    /* §2.1.4 certificate association data */
	size_t len;
};

/* SOA, RFC 1035 §3.3.13. */
struct dns_soa {
	const char *mname, *rname;
	uint32_t serial, refresh, retry, expire, minimum;
};

/* SRV, RFC 2782. */
struct dns_srv {
	uint16_t priority, weight, port;
	const char *target;
};

/* One resource record. The field of u that matches type is set; for other
 * types only rdata is. */
struct dns_rr {
	const char *name;       /* owner, presentation form, ends in "." */
	uint16_t type;
	uint32_t ttl;           /* seconds left (reduced by time spent in tern's cache) */
	union {
		struct in_addr a;
		struct in6_addr aaaa;
		struct dns_mx mx;
		struct dns_txt txt;
		struct dns_tlsa tlsa;
		struct dns_soa soa;
		struct dns_srv srv;
		const char *target;     /* CNAME, PTR, NS */
	} u;
	const uint8_t *rdata;   /* the rdata as received; names in it may be compressed */
	size_t rdlen;
	const char *text;       /* "owner TTL IN TYPE rdata" (RFC 1035 §5.1, RFC 3597 §5) */
};

struct dns_result {
	enum dns_status status;
	enum dns_security security;
	const char *why_bogus;  /* DNS_BOGUS: the validator's reason; else NULL */
	const char *error;      /* DNS_TEMPFAIL, DNS_INVALID: what went wrong; else NULL */
	/* Seconds the answer may be used: the least TTL of the records and CNAMEs
	 * for DNS_OK; for NXDOMAIN/NODATA the negative TTL of RFC 2308 §5
	 * (min of SOA TTL and SOA MINIMUM, 60 without an SOA); 0 otherwise. */
	uint32_t ttl;
	const char *qname;      /* the name asked, presentation form, ends in "." */
	uint16_t qtype;
	/* End of the CNAME chain (RFC 1034 §3.6.2); qname when there is none. */
	const char *canonical;
	const struct dns_rr *chain;   /* the CNAME records followed, in order */
	size_t nchain;
	/* The records of qtype at canonical. MX are sorted by preference (then
	 * host), SRV by priority; other types keep the server's order. */
	const struct dns_rr *rrs;
	size_t nrrs;
	struct dns_result_private *priv_;
};

struct dns_resolver;

/* Creates a resolver and starts its thread. The strings of cfg are copied or
 * consumed during the call. Returns 0 and *res_r, or -1 with err set (a bad
 * upstream address, an unreadable trust anchor file, thread creation). */
int dns_resolver_new(const struct dns_resolver_config *cfg, struct dns_resolver **res_r,
                     struct error *err);

/* Stops the resolver thread: lookups waiting for it end with DNS_TEMPFAIL
 * "resolver stopped", later ones fail at once the same way. res stays valid
 * until dns_resolver_free. Calling it again does nothing. */
void dns_resolver_stop(struct dns_resolver *res);

/* Stops the resolver if still running, frees everything and sets *res to
 * NULL. No thread may be inside a lookup on res or start one: to shut down
 * with lookups in flight, call dns_resolver_stop, wait for those threads,
 * then free. Accepts NULL and *res NULL. */
void dns_resolver_free(struct dns_resolver **res);

/* Looks up type at name ("example.com" or "example.com."; letters in any
 * case). Blocks until the answer, the timeout (DNS_TEMPFAIL "timeout") or
 * shutdown. Always sets *result_r to a new result (free it with
 * dns_result_free) and returns its status. Safe from any number of threads. */
enum dns_status dns_lookup(struct dns_resolver *res, const char *name, uint16_t type,
                           struct dns_result **result_r);

/* The same for the common types. dns_lookup_mx sorts by preference. */
enum dns_status dns_lookup_a(struct dns_resolver *res, const char *name, struct dns_result **result_r);
enum dns_status dns_lookup_aaaa(struct dns_resolver *res, const char *name, struct dns_result **result_r);
enum dns_status dns_lookup_mx(struct dns_resolver *res, const char *name, struct dns_result **result_r);
enum dns_status dns_lookup_txt(struct dns_resolver *res, const char *name, struct dns_result **result_r);

/* "HOST:PORT:[v6],...,v4,..." in out: host's addresses from the resolver
 * (AAAA, then A), in the form of libcurl's CURLOPT_RESOLVE, so that an
 * HTTPS client connects where tern's resolver says. Addresses that do not
 * fit in size are left out. Returns how many addresses it holds (0: none). */
size_t dns_curl_resolve_entry(struct dns_resolver *res, const char *host, const char *port,
                              char *out, size_t size);

/* TLSA at _PORT._PROTO.HOST (RFC 6698 §3), e.g. port 25, proto "tcp". */
enum dns_status dns_lookup_tlsa(struct dns_resolver *res, unsigned port, const char *proto,
                                const char *host, struct dns_result **result_r);

/* PTR of an IPv4 or IPv6 address given as text. An address that does not
 * parse gives DNS_INVALID. */
enum dns_status dns_lookup_ptr(struct dns_resolver *res, const char *ip, struct dns_result **result_r);

/* Frees r and everything in it; sets *r to NULL. Accepts NULL and *r NULL. */
void dns_result_free(struct dns_result **r);

/* Writes the reverse-lookup name of ip (RFC 1035 §3.5 in-addr.arpa, RFC 3596
 * §2.5 ip6.arpa) into out. Returns 0, or -1 if ip is no address or out is
 * too small (74 bytes always suffice). */
int dns_reverse_name(const char *ip, char *out, size_t outsize);

/* "MX", "TXT", ...; "TYPE65280" style (RFC 3597 §5) for types without a name.
 * Returns a static string, or one in buf (at least 12 bytes). */
const char *dns_type_name(uint16_t type, char *buf, size_t bufsize);

/* Parses a type name ("mx", "TLSA", any case), "TYPEnnn" or a plain number
 * 1..65535. Returns 0, or -1 if s is neither. */
int dns_type_parse(const char *s, uint16_t *type_r);

/* "ok", "nxdomain", "nodata", "tempfail", "bogus", "invalid". */
const char *dns_status_name(enum dns_status status);

/* "secure", "insecure", "bogus". */
const char *dns_security_name(enum dns_security security);

#endif
