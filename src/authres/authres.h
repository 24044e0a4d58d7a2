/*
 * authres.h: the iprev check (RFC 8601 §3) and the Authentication-Results
 * header field (RFC 8601 §2): writing ours, and recognising incoming ones
 * that claim to be ours (§5: they are removed before delivery, since anyone
 * could have written them).
 */
#ifndef TERN_AUTHRES_AUTHRES_H
#define TERN_AUTHRES_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct buf;
struct dns_resolver;

/* RFC 8601 §2.7.3: iprev results. */
enum iprev_result { IPREV_PASS, IPREV_FAIL, IPREV_TEMPERROR, IPREV_PERMERROR };

/* At most this many PTR names are checked (RFC 8601 §3 leaves it to the
 * implementation; RFC 7208 §4.6.4 uses 10 for SPF's similar ptr check). */
#define IPREV_NAMES_MAX 10

struct iprev_outcome {
	enum iprev_result result;
	const char *host;        /* PASS: the verified name without the final dot; else NULL */
	const char *reason;      /* static text for logs and the header comment */
};

/* RFC 8601 §3: ip's PTR names, and for each the A or AAAA records; pass when
 * one of them leads back to ip. NXDOMAIN/NODATA for the PTR is fail (the
 * address has no name), a DNS failure temperror (DNSSEC bogus counts as
 * such). Strings live in a. */
void iprev_check(struct dns_resolver *res, const char *ip, struct arena *a,
                 struct iprev_outcome *out);

/* The RFC 8601 result name: "pass", "fail", ... */
const char *iprev_result_name(enum iprev_result r);

/* One resinfo of an Authentication-Results field: method=result, an
 * optional reason (§2.7: reason="..."), and properties ("smtp.mailfrom=x",
 * "header.d=y", "policy.iprev=192.0.2.1"). */
struct authres_method {
	const char *method;      /* "spf", "dkim", "dmarc", "iprev", "arc", "auth" */
	const char *result;      /* "pass", "none", ... */
	const char *reason;      /* NULL: none */
	const char *const *props;/* "ptype.property=value" */
	size_t nprops;
	const char *comment;     /* NULL: none; e.g. "(p=reject dis=none)" without parens */
};

/* Appends "Authentication-Results: AUTHSERV-ID; method=result ...; ...\r\n"
 * folded at 78 columns, or "AUTHSERV-ID; none" when n == 0 (§2.2).
 * Values needing it are quoted (§2.2 value = token / quoted-string).
 * Returns 0, or -1 if out is full. */
int authres_format(struct buf *out, const char *authserv_id, const struct authres_method *m,
                   size_t n);

/* Whether an Authentication-Results field value (unfolded) names
 * authserv_id as its authserv-id (case-insensitive, comments skipped, an
 * optional authres-version after it allowed). */
bool authres_is_ours(const char *value, size_t len, const char *authserv_id);

#endif
