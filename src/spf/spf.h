/*
 * spf.h: Sender Policy Framework, RFC 7208.
 *
 * check_host() (§4) evaluates the SPF record of a domain for a client IP:
 * record lookup and selection (§4.4, §4.5), the mechanisms (§5) and
 * modifiers (§6), macros (§7) and the processing limits (§4.6.4).
 * spf_verify() applies it to the identities of an SMTP session (§2.3 HELO,
 * §2.4 MAIL FROM, with postmaster@HELO for the null reverse-path).
 * Results are reported with Received-SPF (§9.1) or as an RFC 8601
 * Authentication-Results "spf=" method.
 *
 * Parsing (record.c) is apart from evaluation (eval.c) so that a record can
 * be checked, and fuzzed, without DNS. Macros are in macro.c, the header
 * fields in header.c, the identity logic in verify.c.
 *
 * All lookups go through src/dns/. DNSSEC-bogus answers are treated like a
 * failed lookup (temperror): a forged answer must never make a pass.
 *
 * Memory: everything an outcome or a parsed record points to lives in the
 * arena the caller passes; it stays valid until that arena is freed.
 */
#ifndef TERN_SPF_SPF_H
#define TERN_SPF_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct dns_resolver;

/* §2.6: the results of check_host(). */
enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* §4.6.4: at most 10 terms that cause DNS queries (include, a, mx, ptr,
 * exists, redirect) per check_host(), includes and redirects counted. */
#define SPF_DNS_TERMS_MAX 10
/* §4.6.4: at most 10 MX names per "mx" (more: permerror) and 10 PTR names
 * per "ptr" or %{p} (the rest ignored). */
#define SPF_MX_NAMES_MAX 10
#define SPF_PTR_NAMES_MAX 10
/* §4.6.4: at most 2 "void lookups" (NXDOMAIN or no answers) per check. */
#define SPF_VOID_LOOKUPS_MAX 2
/* §4.6.4: time allowed for one evaluation; "SHOULD allow at least 20
 * seconds". Past it the result is temperror. */
#define SPF_TIME_LIMIT_MS 20000
/* Longest record text accepted (a TXT RRset may hold several records of
 * 64 KB; an SPF record that large is an attack, not a policy). */
#define SPF_RECORD_MAX 4096

/* Text for a fail without a usable exp= (§6.2: "either a default explanation
 * string or an empty explanation string MUST be returned"). */
#define SPF_DEFAULT_EXPLANATION "SPF fail: the sending host is not authorized by the domain's SPF record"

/* The inputs of check_host() other than <domain>. */
struct spf_request {
	const char *ip;         /* <ip>: client address, IPv4 or IPv6 text */
	const char *helo;       /* HELO/EHLO argument, %{h}; may be NULL */
	const char *mail_from;  /* local@domain, or NULL/"" for the null path <> */
	const char *receiver;   /* our host name, for %{r}; NULL: "unknown" */
};

struct spf_outcome {
	enum spf_result result;
	const char *domain;      /* the <domain> checked */
	const char *sender;      /* the <sender> used (postmaster@... filled in) */
	const char *mechanism;   /* the directive that matched, as written
	                          * ("-all", "include:x.example"); NULL when none
	                          * did (default result, or an error) */
	const char *explanation; /* FAIL with a usable exp=: the expanded text;
	                          * else NULL (use SPF_DEFAULT_EXPLANATION) */
	const char *problem;     /* TEMPERROR/PERMERROR: what went wrong; NONE:
	                          * why there is no record; else NULL */
	unsigned lookups;        /* DNS-querying terms evaluated (§4.6.4) */
	unsigned void_lookups;
};

/* check_host(<ip>, <domain>, <sender>) of RFC 7208 §4 for rq's identity
 * (sender = rq->mail_from, or postmaster@HELO for the null path; a sender
 * without local-part gets "postmaster", §4.3). Fills *out (strings in a)
 * and returns out->result. rq->ip must be an address (else PERMERROR with
 * a problem). Blocks for the DNS lookups, at most SPF_TIME_LIMIT_MS. */
enum spf_result spf_check_host(struct dns_resolver *res, const struct spf_request *rq,
                               const char *domain, struct arena *a, struct spf_outcome *out);

/* RFC 7208 §2.3 and §2.4 for an SMTP session: the HELO identity is checked
 * when rq->helo is a multi-label domain name (else helo_r->result is NONE
 * with a problem); the MAIL FROM identity is rq->mail_from's domain, or,
 * for the null path, postmaster@HELO (then the same check as HELO, done
 * once). Either pointer may be NULL to skip that identity. */
void spf_verify(struct dns_resolver *res, const struct spf_request *rq, struct arena *a,
                struct spf_outcome *mailfrom_r, struct spf_outcome *helo_r);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
const char *spf_result_name(enum spf_result r);

/* Parses a result name (any case); returns 0, or -1 if s is none of them. */
int spf_result_parse(const char *s, enum spf_result *r_r);

/* ---- records (§4.5, §4.6, §5, §6), no DNS ---- */

enum spf_mech_kind {
	SPF_MECH_ALL, SPF_MECH_INCLUDE, SPF_MECH_A, SPF_MECH_MX,
	SPF_MECH_PTR, SPF_MECH_IP4, SPF_MECH_IP6, SPF_MECH_EXISTS,
};

struct spf_mechanism {
	enum spf_mech_kind kind;
	enum spf_result qualifier;  /* the result when it matches (§4.6.2) */
	const char *domain_spec;    /* include, a, mx, ptr, exists; NULL: <domain> */
	int cidr4, cidr6;           /* a, mx, ip4 (cidr4), ip6 (cidr6), §5.6 */
	uint8_t addr[16];           /* ip4 (first 4 bytes), ip6 */
	const char *text;           /* the term as written */
};

struct spf_record {
	const struct spf_mechanism *mechs;
	size_t nmechs;
	const char *redirect;       /* redirect= domain-spec, or NULL (§6.1) */
	const char *exp;            /* exp= domain-spec, or NULL (§6.2) */
};

/* Whether text (len bytes) is an SPF record by its version section, §4.5:
 * "v=spf1" in any case followed by a space or the end. */
bool spf_record_is_spf(const char *text, size_t len);

/* Parses a whole SPF record (§4.6: syntax errors anywhere are found before
 * evaluation). Returns 0 with *rec_r in a, or -1 with *error_r (in a, says
 * which term and why): a permerror. len may include NULs (an error). */
int spf_record_parse(struct arena *a, const char *text, size_t len, struct spf_record **rec_r,
                     const char **error_r);

/* ---- reporting ---- */

/* Which identity an outcome is for (§9.1 "identity", RFC 8601 ptype). */
enum spf_identity { SPF_ID_MAILFROM, SPF_ID_HELO };

/* Appends "Received-SPF: RESULT (COMMENT) receiver=...; client-ip=...;
 * envelope-from=...; helo=...; [problem=...;] [mechanism=...;] identity=..."
 * with CRLF, folded below 78 columns, per RFC 7208 §9.1. Values that are not
 * dot-atoms are quoted. Returns 0, or -1 if out is full. */
int spf_received_header(struct buf *out, const struct spf_request *rq,
                        const struct spf_outcome *o, enum spf_identity id);

/* The RFC 8601 §2.7.2 resinfo "spf=RESULT smtp.mailfrom=DOMAIN" (or
 * smtp.helo=HELO), in a. The mailfrom property is the checked domain (RFC
 * 8601 §2.7.2 allows it alone; the local part is not what SPF checked). */
const char *spf_authres(struct arena *a, const struct spf_outcome *o, enum spf_identity id);

#endif
