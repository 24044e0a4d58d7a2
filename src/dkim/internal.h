/*
 * internal.h: what the files of src/dkim/ share and nothing else includes
 * (their unit tests aside).
 */
#ifndef TERN_DKIM_INTERNAL_H
#define TERN_DKIM_INTERNAL_H

#include "dkim/dkim.h"
#include "message/message.h"

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

/* Canonical header data bytes allowed per signature: the header block limit
 * of message.h plus room for the signature field itself. */
#define DKIM_HEADER_DATA_MAX (MESSAGE_MAX_HEADER_BYTES + 2 * DKIM_MAX_TAGLIST_BYTES)

#endif
