/*
 * internal.h: shared internals of src/sasl/, never included outside it
 * (except by its own tests and fuzz target).
 *
 * (base64 is core/base64.h: strict RFC 4648)
 * credentials.c derive, encode, decode and verify stored credentials
 * cram_md5.c    HMAC-MD5 from precomputed states; the CRAM-MD5 mechanism
 * scram.c       SCRAM key arithmetic and the RFC 5802 §7 attribute grammar
 * scram_server.c the server side of SCRAM and SCRAM-PLUS
 * plain.c       PLAIN and LOGIN servers
 * server.c      mechanism table, advertising and the server step loop
 * client.c      PLAIN and SCRAM clients
 * text.c        UTF-8 validation
 */
#ifndef TERN_SASL_INTERNAL_H
#define TERN_SASL_INTERNAL_H

#include "sasl/sasl.h"

#include <stdbool.h>
#include <stddef.h>

struct arena;

/* base64: core/base64.h */
#include "core/base64.h"

/* --- UTF-8 and names --- */

/* Whether p[0..n) is valid UTF-8 (RFC 3629 §4: no overlongs, no surrogates,
 * at most U+10FFFF) with no NUL. */
bool sasl_utf8_valid(const unsigned char *p, size_t n);

/* --- scram.c --- */

struct scram_hash {
	const char *name;           /* "SCRAM-SHA-256" */
	size_t len;                 /* digest length */
	unsigned default_iter;
	bool sha256;
};
extern const struct scram_hash scram_sha1;
extern const struct scram_hash scram_sha256;

/* H(), HMAC() and Hi() of RFC 5802 §2.2 with the hash h; out has h->len bytes.
 * Return 0, or -1 if OpenSSL fails. */
int scram_h(const struct scram_hash *h, const void *data, size_t n, unsigned char *out);
int scram_hmac(const struct scram_hash *h, const void *key, size_t keylen, const void *data,
	size_t n, unsigned char *out);
int scram_hi(const struct scram_hash *h, const char *pw, size_t pwlen, const unsigned char *salt,
	size_t saltlen, unsigned iter, unsigned char *out);

/* From SaltedPassword: ClientKey, StoredKey and ServerKey (RFC 5802 §3).
 * client_key_r may be NULL. Returns 0 or -1. */
int scram_keys_from_salted(const struct scram_hash *h, const unsigned char *salted,
	unsigned char *client_key_r, unsigned char *stored_key_r, unsigned char *server_key_r);

/* Fills k from a password with the given salt and iteration count. */
int scram_keys_derive(const struct scram_hash *h, const char *pw, size_t pwlen,
	const unsigned char *salt, size_t saltlen, unsigned iter, struct sasl_scram_keys *k);

/* One attribute of a SCRAM message: RFC 5802 §7 attr-val = ALPHA "=" value. */
struct scram_attr {
	char name;
	const char *value;
	size_t len;
};

/* Splits msg at the next ',' from *pos into an attribute. Returns 1 with *a
 * filled, 0 at the end of msg, -1 if the attribute is not ALPHA "=" value
 * (value may be empty only when allow_empty). */
int scram_next_attr(const char *msg, size_t len, size_t *pos, struct scram_attr *a,
	bool allow_empty);

/* Decodes a saslname (RFC 5802 §7, "=2C" and "=3D" escapes) into dst
 * (SASL_USERNAME_MAX + 1 bytes, NUL-terminated). Returns 0, or -1 if it is
 * empty, too long, not UTF-8 or has another '=' sequence. */
int scram_saslname_decode(const char *v, size_t n, char *dst);

/* Encodes a name as saslname into an arena string. */
char *scram_saslname_encode(struct arena *a, const char *name);

/* Whether v[0..n) is a nonce: 1*printable (RFC 5802 §7, %x21-2B / %x2D-7E). */
bool scram_nonce_valid(const char *v, size_t n);

/* iteration-count = "i=" posit-number (RFC 5802 §7), the value within
 * SASL_SCRAM_ITER_MIN..MAX. Returns 0 with *iter_r, or -1. */
int scram_parse_iter(const char *v, size_t n, unsigned *iter_r);

/* Random nonce text of SCRAM_NONCE_BYTES random bytes in base64. */
#define SCRAM_NONCE_BYTES 18
char *scram_nonce_new(struct arena *a);

/* --- cram_md5.c --- */

/* The MD5 states after one block of (password padded to 64 bytes) XOR ipad
 * and XOR opad (RFC 2104 §2), each as A,B,C,D little-endian. Passwords
 * longer than 64 bytes are first hashed (RFC 2104 §2). Returns 0 or -1. */
int cram_md5_states(const char *pw, size_t pwlen, unsigned char ipad_r[16],
	unsigned char opad_r[16]);

/* HMAC-MD5(key, msg) computed from the two states of the key. */
void cram_md5_hmac(const unsigned char ipad[16], const unsigned char opad[16],
	const void *msg, size_t n, unsigned char digest_r[16]);

/* Whether h is a host name for the CRAM-MD5 challenge: 1..253 letters,
 * digits, '.' and '-'. */
bool cram_md5_hostname_valid(const char *h);

/* --- credentials.c --- */

/* Like sasl_credentials_derive with explicit costs and, for tests, a fixed
 * SCRAM salt (salt NULL: random; the same salt serves both hashes) and
 * iteration counts (0: the defaults). */
int sasl_credentials_derive_with(const char *password, size_t len, unsigned parts,
	unsigned long long opslimit, size_t memlimit, const unsigned char *salt, size_t saltlen,
	unsigned iter_sha1, unsigned iter_sha256, struct sasl_credentials *creds_r,
	struct error *e);

/* Verifies against a fixed dummy argon2id hash made once with tern's costs,
 * so that an unknown user costs what a known one does. Always fails. */
void sasl_dummy_verify(const char *password, size_t len);

/* Fuzz hook: makes the dummy hash with these argon2id costs instead of
 * tern's, so that fuzzing unknown users stays fast. Call before any
 * sasl_dummy_verify; never in the server. */
void sasl_dummy_set_cost(unsigned long long opslimit, size_t memlimit);

/* Constant-time compare; 0 when equal. */
int sasl_memneq(const void *a, const void *b, size_t n);

/* --- server.c: what mechanisms see of an exchange --- */

enum sasl_step_result {
	SASL_STEP_CONTINUE = 0,
	SASL_STEP_DONE = 1,
	SASL_STEP_FAIL = -1,
};

struct sasl_server;

struct sasl_server_mech {
	const char *name;
	bool needs_tls;             /* sends the password: PLAIN, LOGIN */
	bool needs_cb;              /* -PLUS */
	const struct scram_hash *scram;
	/* One step; in == NULL only on the first call without initial response.
	 * Sets the output with sasl_server_reply and the result with
	 * sasl_server_success or sasl_server_fail. */
	enum sasl_step_result (*step)(struct sasl_server *s, const unsigned char *in, size_t len);
};

extern const struct sasl_server_mech sasl_mech_plain;
extern const struct sasl_server_mech sasl_mech_login;
extern const struct sasl_server_mech sasl_mech_cram_md5;
extern const struct sasl_server_mech sasl_mech_scram_sha1;
extern const struct sasl_server_mech sasl_mech_scram_sha1_plus;
extern const struct sasl_server_mech sasl_mech_scram_sha256;
extern const struct sasl_server_mech sasl_mech_scram_sha256_plus;

/* Accessors for mechanism code. */
struct arena *sasl_server_arena(struct sasl_server *s);
const struct sasl_server_opts *sasl_server_opts(const struct sasl_server *s);
const struct sasl_server_mech *sasl_server_mech(const struct sasl_server *s);
/* The mechanism's own state, allocated on first use (size bytes, zeroed). */
void *sasl_server_state(struct sasl_server *s, size_t size);
/* The channel binding (TLS_EXPORTER_LEN bytes) or NULL. */
const unsigned char *sasl_server_cb(const struct sasl_server *s);
/* The next output; copied into the arena. */
void sasl_server_reply(struct sasl_server *s, const void *p, size_t n);
/* Records success for username (copied). Returns SASL_STEP_DONE. */
enum sasl_step_result sasl_server_success(struct sasl_server *s, const char *username);
/* Records failure. Returns SASL_STEP_FAIL. */
enum sasl_step_result sasl_server_fail(struct sasl_server *s, enum sasl_failure kind,
	const char *text);
void sasl_server_set_unknown(struct sasl_server *s);
/* Looks a user up through opts: 1 found, 0 unknown (or lookup failure
 * recorded as TEMP: -1). creds_r is zeroed on 0 and -1. */
int sasl_server_lookup(struct sasl_server *s, const char *username,
	struct sasl_credentials *creds_r);
/* The fake-salt secret (opts->secret or the per-process one). */
void sasl_server_secret(const struct sasl_server *s, const unsigned char **p, size_t *n);

/* Test hooks: the server nonce part for SCRAM, or the whole challenge for
 * CRAM-MD5, instead of a random one; the client nonce for a SCRAM client.
 * Call before the first step; the string is copied. */
void sasl_server_set_nonce(struct sasl_server *s, const char *nonce);
const char *sasl_server_nonce(const struct sasl_server *s);
void sasl_client_set_nonce(struct sasl_client *c, const char *nonce);

#endif
