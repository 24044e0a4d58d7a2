/*
 * internal.h: pieces of src/dns/ shared between its files and its tests.
 * Never included outside src/dns/ (and fuzz/fuzz_dnswire.c).
 *
 *   wire.c    RFC 1035 §4.1 message parser: header, question, resource records,
 *             compressed names (§4.1.4); rdata into struct dns_rr and text.
 *   result.c  a dns_result from an answer packet: CNAME chasing, TTLs, sorting.
 *   cache.c   answers by (name, type) until their TTL runs out, LRU-bounded.
 *   dns.c     the resolver thread over libunbound and the public lookups.
 */
#ifndef TERN_DNS_INTERNAL_H
#define TERN_DNS_INTERNAL_H

#include "core/arena.h"
#include "dns/dns.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- wire.c ---- */

/* Most compression pointers followed in one name. Pointers must also point
 * backwards, so this only bounds work; a legitimate name has at most 127
 * labels. */
#define DNS_WIRE_POINTERS_MAX 128

/* RFC 1035 §4.1.1 header size and RCODEs used here. */
#define DNS_HEADER_LEN 12
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3

/* A resource record as found in a message; the rdata is not yet parsed. */
struct dns_wire_rr {
	const char *name;       /* owner, presentation form */
	uint16_t type, class;
	uint32_t ttl;
	size_t rdoff, rdlen;    /* where the rdata is in the packet */
};

struct dns_msg {
	uint16_t id, flags;
	int rcode;
	const char *qname;      /* NULL without a question */
	uint16_t qtype, qclass;
	struct dns_wire_rr *an, *ns, *ar;  /* answer, authority, additional */
	size_t nan, nns, nar;
};

/* Reads the name at *off in pkt (RFC 1035 §3.1, §4.1.4), following
 * compression pointers, and writes it in presentation form ending in "."
 * (RFC 1035 §5.1 escapes) into out[DNS_NAME_TEXT_MAX]. Moves *off past the
 * name as stored at *off. Returns 0, or -1 with *error_r (static text) on a
 * truncated name, a label over 63 octets, a name over 255 octets, a pointer
 * that does not point backwards, too many pointers, or a reserved label type. */
int dns_wire_name(const uint8_t *pkt, size_t len, size_t *off, char *out,
                  const char **error_r);

/* Parses a whole message (header, question, three RR sections). Names and
 * arrays go into a. Returns 0, or -1 with *error_r (in a) saying what and at
 * which offset. At most one question is accepted (RFC 9619). */
int dns_msg_parse(struct arena *a, const uint8_t *pkt, size_t len, struct dns_msg *m,
                  const char **error_r);

/* Fills rr (name, type, ttl, u, rdata, text) from w, parsing its rdata for
 * the types of dns.h (others are written in RFC 3597 generic form). Names
 * inside rdata may point anywhere earlier in pkt but must end inside the
 * rdata, and the rdata must be used exactly. Returns 0, or -1 with *error_r. */
int dns_rr_parse(struct arena *a, const uint8_t *pkt, size_t len, const struct dns_wire_rr *w,
                 uint32_t ttl, struct dns_rr *rr, const char **error_r);

/* Compares two presentation-form names, ASCII case-insensitively (RFC 4343). */
bool dns_name_equal(const char *a, const char *b);

/* ---- result.c ---- */

/* A new result with status and message only (error may be NULL). */
struct dns_result *dns_result_new(const char *qname, uint16_t qtype, enum dns_status status,
                                  const char *error);

/* Fills r (qname and qtype set, status DNS_OK) from an answer packet with the
 * given RCODE and security: chases CNAMEs from the question name, picks the
 * records, sorts MX/SRV, sets status and TTL. Every TTL is reduced by age
 * seconds (time spent in a cache), not below 0. Returns 0, or -1 with
 * *error_r if the packet does not parse; r's status is then unchanged. */
int dns_result_from_packet(struct dns_result *r, const uint8_t *pkt, size_t len, int rcode,
                           enum dns_security sec, uint32_t age, const char **error_r);

/* Sets r's why_bogus/error text (copied into r). */
void dns_result_set_text(struct dns_result *r, const char **field, const char *text);

/* Where r's memory comes from. */
struct arena *dns_result_arena(struct dns_result *r);

/* Normalises a name given by a caller (raw octets, labels split at "."):
 * adds the final ".", checks labels (1..63 octets) and the length (255
 * octets in wire form), and writes octets outside printable ASCII or with a
 * meaning in presentation form as \DDD (RFC 1035 §5.1; RFC 2181 §11 allows
 * any octet in a label). Writes into out[DNS_NAME_TEXT_MAX]. Returns 0, or
 * -1 with *error_r. */
int dns_name_normalize(const char *name, char *out, const char **error_r);

/* ---- cache.c ---- */

/* RFC 2308 §5: negative answers without an SOA are kept this long. */
#define DNS_NEGATIVE_TTL_DEFAULT 60
/* RFC 2308 §5 suggests at most 1 to 3 hours for negative answers. */
#define DNS_NEGATIVE_TTL_MAX 10800
/* No answer is kept longer than a day, whatever its TTL (RFC 8767 §4). */
#define DNS_CACHE_TTL_MAX 86400

struct dns_cache;

struct dns_cached {
	uint8_t *pkt;           /* malloc'd copy; caller frees */
	size_t len;
	int rcode;
	enum dns_security security;
	uint32_t age;           /* seconds since it was stored */
};

/* A cache of at most max_entries answers (max_entries >= 1). */
struct dns_cache *dns_cache_new(size_t max_entries);
void dns_cache_free(struct dns_cache **c);

/* Finds a live entry for (name, type); name is compared case-insensitively.
 * Returns true and fills out, or false (an expired entry is dropped). */
bool dns_cache_get(struct dns_cache *c, const char *name, uint16_t type, int64_t now_ms,
                   struct dns_cached *out);

/* Stores a copy of the packet for ttl seconds (nothing if ttl is 0), evicting
 * the least recently used entry when full. Replaces an entry for the same key. */
void dns_cache_put(struct dns_cache *c, const char *name, uint16_t type, int64_t now_ms,
                   uint32_t ttl, const uint8_t *pkt, size_t len, int rcode,
                   enum dns_security security);

/* Number of entries, live or not yet noticed as expired. */
size_t dns_cache_count(struct dns_cache *c);

/* ---- dns.c ---- */

/* Replaces the clock of res (milliseconds, monotonic) used by its cache. */
void dns_resolver_set_clock(struct dns_resolver *res, int64_t (*now_ms)(void));

#endif
