/*
 * mtasts.h: SMTP MTA Strict Transport Security (RFC 8461) for the sending
 * side: the "_mta-sts" TXT record (§3.1), the policy file (§3.2) fetched
 * over HTTPS from https://mta-sts.DOMAIN/.well-known/mta-sts.txt (§3.3),
 * MX host matching (§4.1), and a policy cache on disk (§5.1) refreshed when
 * the record's id changes or max_age passes.
 *
 * The parsers are pure functions; mtasts_get does DNS (through tern's
 * resolver), HTTPS (libcurl, connecting to the address tern's resolver gave)
 * and the cache.
 */
#ifndef TERN_MTASTS_MTASTS_H
#define TERN_MTASTS_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct dns_resolver;
struct error;

/* §3.1: id is 1*32(ALPHA / DIGIT). */
#define MTASTS_ID_MAX 32
/* §3.2: max_age is at most 31557600 seconds (about a year). */
#define MTASTS_MAX_AGE_MAX 31557600u
/* §3.3: "senders SHOULD impose a limit on the response size"; 64 KiB is
 * the limit the RFC suggests. */
#define MTASTS_POLICY_SIZE_MAX 65536
/* Most "mx" lines kept from one policy. */
#define MTASTS_MX_MAX 64
/* One mx pattern: a domain name (RFC 1035 §2.3.4), "*." allowed. */
#define MTASTS_MX_PATTERN_MAX 254

enum mtasts_mode {
	MTASTS_MODE_NONE = 0,
	MTASTS_MODE_TESTING,
	MTASTS_MODE_ENFORCE,
};

/* The parsed "_mta-sts" TXT record. */
struct mtasts_record {
	char id[MTASTS_ID_MAX + 1];
};

struct mtasts_policy {
	enum mtasts_mode mode;
	uint32_t max_age;
	size_t nmx;
	char mx[MTASTS_MX_MAX][MTASTS_MX_PATTERN_MAX + 1];  /* lower case, no final dot */
	/* Set by mtasts_get: the record id the policy was fetched for, and when. */
	char id[MTASTS_ID_MAX + 1];
	time_t fetched;
};

/* Parses one TXT record's text (the strings joined, §3.1): "v=STSv1" first,
 * then fields separated by ";" with optional spaces; "id" is required;
 * unknown fields are ignored. Returns 0, or -1 with e set (ERR_INVALID). */
int mtasts_record_parse(const char *txt, size_t len, struct mtasts_record *r, struct error *e);

/* Whether a TXT record's text starts with "v=STSv1;" or is exactly
 * "v=STSv1" (§3.1: other records are discarded before counting). */
bool mtasts_record_is_sts(const char *txt, size_t len);

/* Parses a policy body (§3.2): "key: value" lines ending in CRLF or LF;
 * version STSv1, mode, max_age and (unless mode is none) at least one mx
 * are required; unknown keys are ignored. Returns 0, or -1 with e set. */
int mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p, struct error *e);

/* §4.1: whether host ("mail.example.com", a final dot allowed, any case)
 * matches pattern: equal, or pattern "*.example.com" and host has exactly
 * one more label on the left. */
bool mtasts_pattern_match(const char *pattern, const char *host);

/* Whether host matches one of the policy's mx patterns. */
bool mtasts_mx_match(const struct mtasts_policy *p, const char *host);

/* "none", "testing", "enforce". */
const char *mtasts_mode_name(enum mtasts_mode mode);

struct mtasts_fetch_opts {
	struct dns_resolver *resolver;
	const char *cache_dir;      /* one file per domain; created if missing */
	const char *ca_file;        /* extra trust anchors for the HTTPS server, or NULL */
	int https_port;             /* 0: 443; another port only for tests */
	unsigned timeout_ms;        /* whole HTTPS fetch; 0: 60 s (§3.3 suggests a minute) */
};

enum mtasts_outcome {
	MTASTS_NO_POLICY = 0,   /* no record and nothing cached: no MTA-STS */
	MTASTS_POLICY,          /* *policy filled (fresh or cached) */
	/* A record exists but no policy could be had and none is cached: treated
	 * as no policy (§5); *why says why. For TLSRPT (RFC 8460 §4.3.2.1): */
	MTASTS_FETCH_FAILED,    /* sts-policy-fetch-error: DNS, HTTP, media type, size */
	MTASTS_WEBPKI_INVALID,  /* sts-webpki-invalid: the HTTPS certificate did not verify */
	MTASTS_POLICY_INVALID,  /* sts-policy-invalid: the body is not a valid policy */
};

/* Finds the policy of domain (A-label): looks up "_mta-sts.DOMAIN" TXT;
 * uses the cached policy when its id matches and its max_age has not
 * passed, else fetches and caches a new one (§5.1); when the record is gone
 * or unreadable a cached policy that has not expired is still used (§5.1).
 * why (may be NULL) gets a reason for logs and reports. */
enum mtasts_outcome mtasts_get(const struct mtasts_fetch_opts *opts, const char *domain,
                               struct mtasts_policy *policy, char *why, size_t whysize);

#endif
