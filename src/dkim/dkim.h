/*
 * dkim.h: DomainKeys Identified Mail: verification and signing.
 *
 * Standards: RFC 6376 (DKIM signatures), RFC 8463 (Ed25519-SHA256),
 * RFC 8301 (rsa-sha1 refused, RSA keys under 1024 bits refused),
 * RFC 8601 (the result names and the Authentication-Results text).
 *
 * Pieces, one file each:
 *   taglist.c    the tag=value lists of RFC 6376 §3.2, shared by both parsers
 *   signature.c  the DKIM-Signature header field (§3.5)
 *   key.c        the key record in DNS (§3.6.1)
 *   canon.c      header and body canonicalization (§3.4), the streaming body hash
 *   crypto.c     OpenSSL 3 (EVP): keys, signing, verifying, key generation
 *   verify.c     verification of every signature of a message (§6)
 *   sign.c       producing DKIM-Signature header fields (§5)
 *
 * The parsers work on bytes that came from the network: they take a pointer
 * and a length, never read past it, never rely on a NUL, and allocate in the
 * caller's arena. Messages may use CRLF or bare LF line endings; bare LF is
 * read as CRLF everywhere (canonical forms always use CRLF, §3.4).
 *
 * Private keys are used only through struct dkim_private_key (crypto.c), so
 * that signing can later move behind tern's signer interface without
 * touching callers.
 */
#ifndef TERN_DKIM_DKIM_H
#define TERN_DKIM_DKIM_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "dns/dns.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---- */

/* Signatures of one message that are verified; later ones (further down the
 * header) are skipped and counted. Real mail carries one to three; every
 * signature costs a DNS lookup and a public-key operation. */
#define DKIM_MAX_SIGNATURES 8
/* Most tags in one tag-list (§3.2). A signature has at most 14 defined tags,
 * a key record 7; extension tags are allowed, but not without bound. */
#define DKIM_MAX_TAGS 64
/* Most header names in h= (§3.5). Oversigning a generous set twice stays well
 * below it; it bounds the header hash work per signature. */
#define DKIM_MAX_SIGNED_HEADERS 128
/* Bytes of a DKIM-Signature value or a key record we parse at all. An 8192-bit
 * RSA signature is 1366 base64 characters; z= can be longer, not this long. */
#define DKIM_MAX_TAGLIST_BYTES 65536
/* Largest RSA key accepted for verification: bounds the cost of one check
 * (RFC 8301 §3.2 asks verifiers to handle 1024..4096 bits). */
#define DKIM_RSA_MAX_BITS 8192
/* Smallest RSA key accepted, for verifying and for signing (RFC 8301 §3.2). */
#define DKIM_RSA_MIN_BITS 1024
/* Seconds a t= may lie in the future before the signature is refused
 * (clock skew between signer and verifier; §3.5 t= asks for "reasonable"). */
#define DKIM_CLOCK_SKEW 900

/* ---- parsed forms ---- */

/* The signing algorithm of a= (§3.5, RFC 8463 §3). */
enum dkim_algorithm {
	DKIM_ALG_UNKNOWN = 0,
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1,        /* parsed so that it can be refused (RFC 8301 §3.1) */
};

enum dkim_hash { DKIM_HASH_SHA256 = 0, DKIM_HASH_SHA1 };

/* Key types of k= (§3.6.1, RFC 8463 §4). */
enum dkim_key_type { DKIM_KEY_RSA = 0, DKIM_KEY_ED25519, DKIM_KEY_UNKNOWN };

/* Canonicalization algorithms of c= (§3.4). */
enum dkim_canon { DKIM_CANON_SIMPLE = 0, DKIM_CANON_RELAXED };

/* A DKIM-Signature header field value (§3.5). Strings are NUL-terminated in
 * the arena; base64 values are decoded. Optional tags are NULL / false when
 * absent. */
struct dkim_signature {
	int version;                    /* v=, always 1 after a successful parse */
	const char *algorithm;          /* a= as written, lower case */
	enum dkim_algorithm alg;
	const unsigned char *b;         /* b= decoded */
	size_t b_len;
	const char *b_text;             /* b= base64 with whitespace removed */
	const unsigned char *bh;        /* bh= decoded */
	size_t bh_len;
	enum dkim_canon header_canon;   /* c= (default simple/simple) */
	enum dkim_canon body_canon;
	const char *domain;             /* d=, lower case */
	const char **headers;           /* h= names, as written */
	size_t nheaders;
	const char *identity;           /* i= as written; "@" + d when absent */
	bool has_length;                /* l= */
	uint64_t length;
	const char *query;              /* q= (default "dns/txt") */
	const char *selector;           /* s=, lower case */
	bool has_timestamp;             /* t= */
	int64_t timestamp;
	bool has_expiration;            /* x= */
	int64_t expiration;
	const char *copied_headers;     /* z= as written */
	/* Where b='s value lies in the parsed text, [b_value_start, b_value_end):
	 * the verifier hashes the field with that span removed (§3.7). */
	size_t b_value_start, b_value_end;
};

/* Parses the value of a DKIM-Signature field (what follows the colon,
 * folding kept). Returns 0, or -1 with *error_r saying what is wrong; any
 * error is a permerror (§6.1.1): bad tag-list syntax, duplicate tags (§3.2),
 * v= not first-class "1", a missing required tag (v a b bh d h s), h=
 * without From (§5.4), i= outside d='s domain (§3.5), l= or t= or x= not
 * numbers, x= before t=, bad base64. An unknown a= parses (alg UNKNOWN); the
 * verifier refuses it. */
int dkim_signature_parse(struct arena *a, const char *value, size_t n,
                         struct dkim_signature *sig_r, const char **error_r);

/* A key record (§3.6.1, RFC 8463 §4). */
struct dkim_key {
	enum dkim_key_type type;        /* k= (default rsa) */
	const char *type_name;          /* k= as written */
	bool hash_sha256, hash_sha1;    /* h= (default: all); unknown names ignored */
	const char *notes;              /* n= */
	const unsigned char *pubkey;    /* p= decoded: SubjectPublicKeyInfo (or
	                                   RSAPublicKey) DER for RSA, 32 bytes for Ed25519 */
	size_t pubkey_len;
	bool revoked;                   /* p= empty (§3.6.1) */
	bool service_email;             /* s= has "*" or "email" (default "*") */
	bool testing;                   /* t=y */
	bool strict;                    /* t=s: i= domain must equal d= exactly */
};

/* Parses a key record, the concatenated strings of one TXT record. Returns
 * 0, or -1 with *error_r: bad tag-list syntax, duplicate tags, v= present
 * but not first or not "DKIM1", p= missing or bad base64. Unknown tags and
 * flags are ignored (§3.6.1). */
int dkim_key_parse(struct arena *a, const char *txt, size_t n, struct dkim_key *key_r,
                   const char **error_r);

/* ---- canonicalization (§3.4) ---- */

/* Appends the canonical form of one header field to out: field holds the
 * whole field as in the message (name, colon, value with folding, and its
 * final line ending if it has one). The result ends in CRLF unless
 * final_crlf is false (the DKIM-Signature field itself, §3.7). Returns 0, or
 * -1 if out would pass its maximum. */
int dkim_canon_header(enum dkim_canon c, const char *field, size_t n, bool final_crlf,
                      struct buf *out);

/* The body hash of §3.7, computed while the body streams through: feed
 * chunks of any size in order, then finish. Memory stays constant whatever
 * the body: trailing empty lines are counted, not kept. */
struct dkim_body_hash;

/* limit: l= of the signature, or -1 for the whole body. */
struct dkim_body_hash *dkim_body_hash_new(enum dkim_canon c, enum dkim_hash h, int64_t limit);
void dkim_body_hash_feed(struct dkim_body_hash *bh, const char *data, size_t n);
/* Writes the digest (32 bytes for SHA-256, 20 for SHA-1) to out and its length
 * to *len_r; *canon_len_r (may be NULL) gets the length of the whole
 * canonical body, which a caller compares with the limit. */
void dkim_body_hash_finish(struct dkim_body_hash *bh, unsigned char out[64], size_t *len_r,
                           uint64_t *canon_len_r);
void dkim_body_hash_free(struct dkim_body_hash **bh);

/* ---- keys (crypto.c) ---- */

struct dkim_private_key;

/* Reads a PEM private key (PKCS#8 "PRIVATE KEY", or "RSA PRIVATE KEY"), RSA
 * of at least DKIM_RSA_MIN_BITS or Ed25519. Returns 0, or -1 with err set. */
int dkim_private_key_load(const char *path, struct dkim_private_key **key_r, struct error *err);
int dkim_private_key_parse(const char *pem, size_t n, struct dkim_private_key **key_r,
                           struct error *err);
void dkim_private_key_free(struct dkim_private_key **key);
enum dkim_key_type dkim_private_key_type(const struct dkim_private_key *key);
/* "rsa-sha256" or "ed25519-sha256". */
const char *dkim_private_key_algorithm(const struct dkim_private_key *key);

/* Generates a key and appends it to pem as a PKCS#8 PEM private key. rsa_bits
 * 1024..8192 (2048 is the usual choice). Returns 0, or -1 with err set. */
int dkim_generate_ed25519(struct buf *pem, struct error *err);
int dkim_generate_rsa(unsigned rsa_bits, struct buf *pem, struct error *err);

/* The DNS TXT record that publishes key's public half (§3.6.1):
 * "v=DKIM1; k=ed25519; p=..." or "v=DKIM1; k=rsa; p=..." (p= is
 * SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519, RFC 8463 §4),
 * in a. */
char *dkim_txt_record(struct arena *a, const struct dkim_private_key *key);

/* ---- verification (§6) ---- */

/* Result of one signature, by the names of RFC 8601 §2.7.1. */
enum dkim_status {
	DKIM_PASS = 0,
	DKIM_FAIL,         /* the signature or the body hash did not verify */
	DKIM_NEUTRAL,      /* not used by this verifier; kept for callers */
	DKIM_TEMPERROR,    /* key lookup failed for now (DNS TEMPFAIL or BOGUS) */
	DKIM_PERMERROR,    /* unusable: syntax, no key, revoked key, expired, ... */
	DKIM_POLICY,       /* verifiable but refused: rsa-sha1, RSA key < 1024 bits (RFC 8301) */
};

/* "pass", "fail", "neutral", "temperror", "permerror", "policy". */
const char *dkim_status_name(enum dkim_status s);

/* What a key lookup found: the status, and for DNS_OK the text of each TXT
 * record (its strings concatenated, §3.6.2.2). */
struct dkim_txt_answer {
	enum dns_status status;
	const char *const *texts;
	const size_t *lens;
	size_t n;
	const char *error;      /* TEMPFAIL/BOGUS: why, or NULL */
};

/* Looks up the TXT records at name ("SELECTOR._domainkey.DOMAIN") and fills
 * *ans_r with memory from a. Production uses dkim_dns_lookup; tests supply
 * their own records. */
typedef void dkim_lookup_fn(void *ctx, struct arena *a, const char *name,
                            struct dkim_txt_answer *ans_r);

/* The lookup through src/dns: ctx is a struct dns_resolver *. */
void dkim_dns_lookup(void *ctx, struct arena *a, const char *name, struct dkim_txt_answer *ans_r);

struct dkim_verify_opts {
	dkim_lookup_fn *lookup;         /* required */
	void *lookup_ctx;
	int64_t now;                    /* seconds since the epoch; 0: time(NULL) */
	unsigned max_signatures;        /* 0: DKIM_MAX_SIGNATURES */
};

struct dkim_result {
	enum dkim_status status;
	const char *reason;             /* why, for humans; never NULL */
	const struct dkim_signature *sig;   /* NULL if the field did not parse */
	/* From the signature, best effort even when it did not parse (NULL if
	 * absent): for the Authentication-Results text. */
	const char *domain, *selector, *algorithm, *identity;
	const char *b_prefix;           /* first 8 characters of b= (RFC 6008) */
	/* l= covered less than the whole body: content after it is unsigned
	 * (RFC 6376 §8.2); the receiving server should say so or strip it. */
	bool body_length_limited;
	bool key_testing;               /* the key record has t=y */
	unsigned key_bits;              /* of the key used; 0 if none */
};

struct dkim_verification {
	struct dkim_result *results;    /* one per signature, top to bottom */
	size_t n;
	size_t skipped;                 /* signatures past max_signatures, not verified */
};

/* Verifies every DKIM-Signature of the message (up to max_signatures).
 * Everything is allocated in a. Never fails: a message without signatures
 * gives n == 0 (RFC 8601 "dkim=none"). */
void dkim_verify(struct arena *a, const char *msg, size_t size, const struct dkim_verify_opts *o,
                 struct dkim_verification *v_r);

/* The RFC 8601 resinfo of r, e.g. "dkim=pass header.d=example.com
 * header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh"; non-pass results
 * carry reason="...". Values that are not RFC 2045 tokens are quoted. In a. */
char *dkim_result_authres(struct arena *a, const struct dkim_result *r);

/* ---- signing (§5) ---- */

/* One signature to make. */
struct dkim_signer {
	const char *domain;             /* d= */
	const char *selector;           /* s= */
	const struct dkim_private_key *key;
	/* Header names to sign; NULL: dkim_default_headers. Names of
	 * dkim_oversign_headers are listed once more than they occur (§8.15). */
	const char *const *headers;
	size_t nheaders;
	int64_t expiration_seconds;     /* x= = t= + this; 0: no x= */
};

/* The default header set (NULL-terminated): the fields RFC 6376 §5.4.1
 * recommends plus the MIME fields and List-*, and the subset that is
 * oversigned. */
extern const char *const dkim_default_headers[];
extern const char *const dkim_oversign_headers[];

/* Signs the message with each signer: relaxed/relaxed, a= from the key, t=
 * now (0: time(NULL)), h= as above, b= folded to 78 columns. Appends the
 * DKIM-Signature fields to out, each ending in CRLF, to be prepended to the
 * message in this order. Returns 0, or -1 with err set. */
int dkim_sign(const char *msg, size_t size, const struct dkim_signer *signers, size_t nsigners,
              int64_t now, struct buf *out, struct error *err);

/* ---- internal, shared by the files of this directory and their tests ---- */

/* One tag of a tag-list (§3.2): the name and the value with surrounding FWS
 * removed, as offsets into the parsed text. */
struct dkim_tag {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	size_t value_off;               /* of value in the parsed text */
};

/* Parses a tag-list. Returns 0 with the tags (in the arena), or -1 with
 * *error_r: syntax, more than DKIM_MAX_TAGS, duplicate names. */
int dkim_taglist_parse(struct arena *a, const char *s, size_t n, struct dkim_tag **tags_r,
                       size_t *ntags_r, const char **error_r);

/* Decodes base64 that may hold folding whitespace (§3.5 b=, bh=, §3.6.1 p=).
 * Returns the decoded bytes in a and their count, or -1. */
long dkim_base64_decode(struct arena *a, const char *s, size_t n, unsigned char **out_r,
                        char **text_r);

/* ---- configured signers (signers.c) ---- */

struct config_domain;

/* The signers of a configured domain: one per selector of its DKIM.Sign,
 * keys loaded (free them with dkim_signers_free, also after an error: *n_r
 * counts the loaded ones). ERR_NOTFOUND when the domain signs with none. */
int dkim_signers_for_domain(const struct config_domain *d, struct arena *a,
                            struct dkim_signer **signers_r, size_t *n_r, struct error *err);
void dkim_signers_free(struct dkim_signer *s, size_t n);

/* Signs msg for domain, or the nearest parent domain configured in cfg,
 * with its DKIM.Sign selectors, appending the fields to out; does nothing
 * (returns 0) when that domain signs with none. Returns 0, or -1 with err. */
struct config;
int dkim_sign_for(const struct config *cfg, const char *domain, const char *msg, size_t len,
                  struct buf *out, struct error *err);

/* ---- shared with src/arc/ (RFC 8617 reuses DKIM's crypto and header hash) ---- */

struct message_headers;

enum dkim_crypto_result {
	DKIM_CRYPTO_OK = 0,
	DKIM_CRYPTO_BAD,        /* the signature does not verify */
	DKIM_CRYPTO_BADKEY,     /* the key bytes are no key of the type */
	DKIM_CRYPTO_WEAKKEY,    /* RSA under DKIM_RSA_MIN_BITS (RFC 8301 §3.2) */
};

/* Signs data (the canonical header data, §3.7) with key; the signature in a. */
int dkim_crypto_sign(const struct dkim_private_key *key, const void *data, size_t n,
                     struct arena *a, unsigned char **sig_r, size_t *len_r, struct error *err);

/* Verifies sig over data with the public key of a key record (p= bytes). */
enum dkim_crypto_result dkim_crypto_verify(enum dkim_key_type type, enum dkim_hash hash,
                                           const unsigned char *pub, size_t publen,
                                           const void *data, size_t n,
                                           const unsigned char *sig, size_t siglen,
                                           unsigned *bits_r);

/* Appends to out the canonical form of the fields named by names (h=), each
 * chosen from the bottom up (§5.4.2): the k-th use of a name takes the k-th
 * field of that name counted from the bottom; names with no field left add
 * nothing (§5.4: nonexistent fields are signed as null strings). Returns 0,
 * or -1 if out would pass its maximum. */
int dkim_hash_headers(const char *msg, const struct message_headers *h,
                      const char *const *names, size_t nnames, enum dkim_canon c,
                      struct buf *out);

#endif
