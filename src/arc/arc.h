/*
 * arc.h: Authenticated Received Chain, RFC 8617: verifying the chain of a
 * received message and sealing a message we pass on.
 *
 * Pieces, one file each:
 *   chain.c   collecting the ARC sets by i= and parsing their fields
 *             (§4.1), the structure checks of §5.2 steps 1-3
 *   verify.c  the AMS and AS checks (§5.2 steps 4-6), the result and its
 *             Authentication-Results text (§10.1: method "arc",
 *             header.oldest-pass)
 *   seal.c    adding a set (§5.1): AAR, AMS, AS with cv=
 *
 * ARC reuses src/dkim/ for everything cryptographic: the tag-list parser,
 * canonicalization, the body hash, the header hash of an h= list, the key
 * record and the public-key operations. Keys are looked up with DKIM's
 * lookup callback (dkim_dns_lookup in production).
 *
 * Input is untrusted bytes: pointer and length, CRLF or bare LF, memory in
 * the caller's arena.
 */
#ifndef TERN_ARC_ARC_H
#define TERN_ARC_ARC_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "dkim/dkim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* §4.2.1: "The maximum number of ARC Sets that can be attached to a message
 * is 50." */
#define ARC_MAX_INSTANCES 50

/* The chain validation status (§4.4, §5.2), also the cv= of a seal. */
enum arc_status { ARC_NONE = 0, ARC_PASS, ARC_FAIL };

/* "none", "pass", "fail". */
const char *arc_status_name(enum arc_status s);

/* One ARC set as found in the message; strings NUL-terminated in the arena,
 * NULL when absent or unparsable. */
struct arc_instance {
	unsigned i;
	const char *authserv_id;     /* of the AAR (for trusted-forwarder logic) */
	const char *aar_results;     /* the AAR after "i=N; authserv-id;", unfolded */
	const char *seal_domain;     /* d= of the AS */
	const char *seal_selector;   /* s= of the AS */
	const char *ams_domain;      /* d= of the AMS */
	enum arc_status cv;          /* cv= of the AS */
	bool ams_pass;               /* the AMS was checked and verified */
};

struct arc_result {
	enum arc_status status;
	const char *reason;          /* why, for humans; never NULL */
	unsigned n;                  /* highest instance found (0: no ARC fields) */
	/* §5.2 step 5: lowest instance from which every AMS up to n verifies;
	 * 0 when all of them do. Meaningful when status is ARC_PASS. */
	unsigned oldest_pass;
	/* instances[k] is i = k + 1, for k < ninstances (= n when the structure
	 * is sound, else what could be collected, in order of i). */
	struct arc_instance *instances;
	size_t ninstances;
	/* The most recent seal had cv=fail: §5.1.2 says no new set is added. */
	bool last_cv_fail;
};

struct arc_verify_opts {
	dkim_lookup_fn *lookup;      /* required */
	void *lookup_ctx;
	int64_t now;                 /* seconds since the epoch; 0: time(NULL) */
};

/* Validates the chain of msg (§5.2). Never fails: the outcome is in r_r,
 * allocated in a. */
void arc_verify(struct arena *a, const char *msg, size_t size, const struct arc_verify_opts *o,
                struct arc_result *r_r);

/* The resinfo for Authentication-Results: "arc=pass (i=2)
 * header.oldest-pass=1 smtp.remote-ip=192.0.2.1", "arc=fail reason="..."
 * (i=2) smtp.remote-ip=...", "arc=none". remote_ip may be NULL. In a. */
char *arc_result_authres(struct arena *a, const struct arc_result *r, const char *remote_ip);

/* ---- sealing (§5.1) ---- */

struct arc_sealer {
	const char *domain;          /* d= of AMS and AS */
	const char *selector;        /* s= */
	const struct dkim_private_key *key;
	/* Header names for the AMS h=; NULL: dkim_default_headers, each listed
	 * as often as the field occurs. Never ARC-Seal (§4.1.2). */
	const char *const *headers;
	size_t nheaders;
};

/* Seals msg: appends to out the three fields of the next set, each ending
 * in CRLF, to be prepended to the message in that order: ARC-Seal,
 * ARC-Message-Signature, ARC-Authentication-Results. chain is the result of
 * arc_verify on msg; the new set has i = chain->n + 1 and cv = none (no
 * chain), pass or fail (§5.1.1; a failed chain is sealed with cv=fail,
 * §5.1.2). authres is the list of results we computed, what follows
 * "authserv-id;" in our Authentication-Results (NULL or "": "none").
 * Tags are written in the order and form of the ValiMail test suite
 * (alphabetical, "; " between them), folded only after a ";".
 * Returns 0; 1 when no set is added because the most recent seal already
 * says cv=fail (§5.1.2: the chain is not extended); -1 with err on a bad
 * argument, a chain of ARC_MAX_INSTANCES sets, or a signing failure. */
int arc_seal(const char *msg, size_t size, const struct arc_result *chain,
             const struct arc_sealer *s, const char *authserv_id, const char *authres,
             int64_t now, struct buf *out, struct error *err);

/* The results of the Authentication-Results fields of msg whose
 * authserv-id is authserv_id, in order, joined with ";\r\n\t" (the
 * consolidation the ValiMail suite assumes for the AAR), in a; "" if none. */
char *arc_collect_authres(struct arena *a, const char *msg, size_t size,
                          const char *authserv_id);

/* ---- shared by the files of this directory ---- */

struct message_headers;
struct message_header;

/* The ARC fields of one instance, as found. */
struct arc_set {
	const struct message_header *aar, *ams, *as;
};

/* Collects the sets of h into sets[1..ARC_MAX_INSTANCES]; fills r with a
 * failure (status, reason) when the structure is broken and returns -1;
 * returns 0 with r->n set otherwise (r->n == 0: no ARC field at all). */
int arc_collect(struct arena *a, const struct message_headers *h,
                struct arc_set sets[ARC_MAX_INSTANCES + 1], struct arc_result *r);

/* Parses an "i=" instance number of exactly the §4.2.1 form (1..50, digits
 * only); returns it, or 0. */
unsigned arc_parse_instance(const char *s, size_t n);

#endif
