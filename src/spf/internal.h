/*
 * internal.h: what the files of src/spf/ share. Not included elsewhere.
 */
#ifndef TERN_SPF_INTERNAL_H
#define TERN_SPF_INTERNAL_H

#include "spf/spf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* RFC 7208 §7.1: where a macro-string appears decides which letters it may
 * use. c, r and t are allowed only in explanation text (the TXT record an
 * exp= points at); an explain-string may also hold spaces. */
enum spf_macro_mode {
	SPF_MACRO_DOMAIN,   /* domain-spec: s l o d i p h v */
	SPF_MACRO_EXP,      /* explain-string: all eleven letters, and SP */
	SPF_MACRO_UNKNOWN,  /* unknown-modifier value: never expanded; any letter */
};

/* Values the macros expand to (§7.3). */
struct spf_macro_ctx {
	const char *sender;      /* s */
	const char *local;       /* l */
	const char *sender_dom;  /* o */
	const char *domain;      /* d */
	const char *helo;        /* h */
	const char *receiver;    /* r */
	const char *client;      /* c: the address in its usual text form */
	bool ipv6;               /* i, v */
	uint8_t ip[16];          /* i: IPv4 in the first 4 bytes */
	long long now;           /* t */
	/* p: the validated name of ip for domain, "unknown" if none; may do DNS.
	 * NULL: "unknown". */
	const char *(*ptr_name)(void *arg, const char *domain);
	void *ptr_arg;
};

/* Checks that s[0..len) is a macro-string (§7.1) for mode. Returns 0, or -1
 * with a static *error_r. */
int spf_macro_check(const char *s, size_t len, enum spf_macro_mode mode, const char **error_r);

/* Checks a domain-spec (§7.1): macro-string domain-end, where domain-end is
 * "." toplabel ["."] or a macro-expand. Returns 0, or -1 with *error_r. */
int spf_domain_spec_check(const char *s, size_t len, const char **error_r);

/* Expands a checked macro-string (§7.3, §7.4). Returns the text in a, or
 * NULL with *error_r on a syntax error (unchecked input). */
char *spf_macro_expand(struct arena *a, const char *s, enum spf_macro_mode mode,
                       const struct spf_macro_ctx *ctx, const char **error_r);

/* §7.3: a name longer than 253 characters loses labels from the left until
 * it fits; a trailing dot is removed first. Changes s in place. */
void spf_name_truncate(char *s);

/* §4.3: whether name is a usable domain: labels of 1..63 octets of visible
 * ASCII, at least two labels, 253 characters at most (a trailing dot
 * allowed), not a domain literal. */
bool spf_domain_valid(const char *name);

/* §4.8, §7: whether an expanded target-name can be looked up: as
 * spf_domain_valid, but any octet is allowed in a label (RFC 2181 §11; the
 * macros %_ and %- put spaces and "%20" in names on purpose). */
bool spf_target_valid(const char *name);

#endif
