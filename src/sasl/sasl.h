/*
 * sasl.h: SASL (RFC 4422) for tern: stored credentials, the server side of
 * the mechanisms tern offers, and a small client for PLAIN and SCRAM.
 *
 * Credentials. A password is turned once into a struct sasl_credentials
 * (argon2id hash for PLAIN/LOGIN and web logins; SCRAM-SHA-1 and
 * SCRAM-SHA-256 salted keys, RFC 5802 §3 and RFC 7677; the precomputed
 * HMAC-MD5 inner and outer states for CRAM-MD5, RFC 2195). The account store
 * keeps them as one text line (sasl_credentials_encode, _decode); the password
 * itself is never stored. Passwords are taken as the UTF-8 bytes given: no
 * SASLprep (RFC 4013) or PRECIS normalization is applied (tern has no Unicode
 * tables); a client that normalizes a non-ASCII password differently will not
 * match. ASCII passwords are unaffected.
 *
 * Weakest link: the CRAM-MD5 states are an unsalted MD5 of the password and
 * SCRAM-SHA-1 is 4096 rounds of PBKDF2; whoever reads the stored line can
 * guess passwords at the speed of the weakest part. Leave them out
 * (SASL_CRED_* flags) where those mechanisms are not wanted.
 *
 * Server mechanisms are small state machines that know nothing of the
 * protocol: the caller decodes base64 and strips "+ " or "334 " itself, hands
 * the decoded client response to sasl_server_step and sends back the
 * challenge it gets. The user's credentials come from the caller's store
 * through a lookup callback. Offered: PLAIN (RFC 4616), LOGIN
 * (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195), SCRAM-SHA-1,
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) and their -PLUS variants with the
 * tls-exporter channel binding (RFC 9266).
 *
 * Invariants: every secret a server or client exchange holds lives in an
 * ARENA_SECRET arena that is zeroed when the exchange is freed; structs of
 * credentials are zeroed with sasl_credentials_clear. Nothing here logs.
 * Unknown users cannot be told apart from wrong passwords by the messages,
 * and only by timing as far as the mechanism allows (see sasl_server_step).
 */
#ifndef TERN_SASL_SASL_H
#define TERN_SASL_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct error;

/* Largest decoded client message a server mechanism accepts, and largest
 * server message a client accepts: SCRAM messages are a few hundred bytes,
 * PLAIN is two names and a password. Anything longer is malformed. */
#define SASL_MSG_MAX 8192
/* Longest user name (authentication and authorization identity), in bytes.
 * RFC 4616 §2 requires accepting 255 octets; e-mail addresses fit. */
#define SASL_USERNAME_MAX 256
/* Longest password, in bytes: long passphrases fit, and PBKDF2 and argon2
 * work stays bounded. */
#define SASL_PASSWORD_MAX 1024

/* SCRAM salt lengths accepted in stored credentials; tern makes 16 bytes. */
#define SASL_SCRAM_SALT_MIN 8
#define SASL_SCRAM_SALT_MAX 64
#define SASL_SCRAM_SALT_LEN 16
/* Iteration counts: RFC 5802 §5.1 and RFC 7677 §4 ask for at least 4096.
 * tern makes 4096 for SCRAM-SHA-1 (the floor, what clients of that
 * mechanism expect) and 15000 for SCRAM-SHA-256 (RFC 7677 §4's rule of
 * thumb; about 4 ms on a current core, measured). The maximum bounds the
 * work a stored line or a server can demand. */
#define SASL_SCRAM_ITER_MIN 4096
#define SASL_SCRAM_ITER_MAX 1000000
#define SASL_SCRAM_SHA1_ITER 4096
#define SASL_SCRAM_SHA256_ITER 15000
/* Largest key or hash (SHA-256). */
#define SASL_SCRAM_KEY_MAX 32
/* An argon2id string from libsodium, NUL included (crypto_pwhash_STRBYTES). */
#define SASL_ARGON2_STR_MAX 128
/* Shortest server secret for fake SCRAM salts. */
#define SASL_SECRET_MIN 16
/* Longest stored credentials line. */
#define SASL_CREDENTIALS_LINE_MAX 1024

/* One SCRAM hash's stored keys (RFC 5802 §3). */
struct sasl_scram_keys {
	bool present;
	uint32_t iterations;
	size_t salt_len;
	unsigned char salt[SASL_SCRAM_SALT_MAX];
	unsigned char stored_key[SASL_SCRAM_KEY_MAX];  /* H(ClientKey) */
	unsigned char server_key[SASL_SCRAM_KEY_MAX];  /* HMAC(SaltedPassword, "Server Key") */
};

/* Everything stored for one account. A value type: copy it, then zero the
 * copies with sasl_credentials_clear. */
struct sasl_credentials {
	char argon2[SASL_ARGON2_STR_MAX];   /* "$argon2id$v=19$..." or "" if absent */
	struct sasl_scram_keys scram_sha1;
	struct sasl_scram_keys scram_sha256;
	bool cram_md5_present;
	unsigned char cram_md5_ipad[16];    /* MD5 state after the key XOR ipad block */
	unsigned char cram_md5_opad[16];    /* MD5 state after the key XOR opad block */
};

/* Which parts sasl_credentials_derive makes. */
enum sasl_cred_parts {
	SASL_CRED_ARGON2 = 1,
	SASL_CRED_SCRAM_SHA1 = 2,
	SASL_CRED_SCRAM_SHA256 = 4,
	SASL_CRED_CRAM_MD5 = 8,
	SASL_CRED_ALL = 15,
};

/* argon2id cost tern uses: libsodium's "interactive" memory (64 MiB) with
 * one more pass than its interactive opslimit (3 instead of 2), about
 * 0.11 s on a current core (measured). Each concurrent verification holds
 * the memory, so sasl_password_verify runs at most SASL_ARGON2_CONCURRENT
 * at once in the process (256 MiB); further logins wait their turn. */
#define SASL_ARGON2_OPSLIMIT 3
#define SASL_ARGON2_MEMLIMIT (64u * 1024 * 1024)
#define SASL_ARGON2_CONCURRENT 4

/* Derives the parts named in `parts` from a password of len bytes (1 to
 * SASL_PASSWORD_MAX, no NUL; UTF-8 taken as is). Fresh random salts. Fills
 * *creds_r (zeroed first). Returns 0, or -1 with e set: ERR_INVALID for a bad
 * password, ERR_TEMP if hashing failed (out of memory). */
int sasl_credentials_derive(const char *password, size_t len, unsigned parts,
	struct sasl_credentials *creds_r, struct error *e);

/* Zeroes *c (explicit_bzero). */
void sasl_credentials_clear(struct sasl_credentials *c);

/* Encodes c as one line of text, allocated in a (use an ARENA_SECRET arena:
 * the line allows password guessing). Format, fields in this order, each
 * present only if that part is, separated by one space:
 *   v1 argon2=$argon2id$v=19$m=M,t=T,p=1$SALT$HASH
 *      scram-sha-1=ITER,SALT,STOREDKEY,SERVERKEY
 *      scram-sha-256=ITER,SALT,STOREDKEY,SERVERKEY
 *      cram-md5=IPAD,OPAD
 * SALT, keys and pads in base64 (RFC 4648 §4, padded). Returns NULL if c holds
 * no part at all. */
char *sasl_credentials_encode(const struct sasl_credentials *c, struct arena *a);

/* Decodes a line made by sasl_credentials_encode (len bytes, no NUL needed).
 * Strict: version "v1"; known fields only, each at most once, in the order
 * above, at least one; single spaces; canonical padded base64; iteration
 * counts in SASL_SCRAM_ITER_MIN..MAX; salts SASL_SCRAM_SALT_MIN..MAX bytes;
 * argon2id only, with m <= 1 GiB, t <= 64, p = 1; at most
 * SASL_CREDENTIALS_LINE_MAX bytes. Returns 0 with *creds_r filled, or -1 with
 * e set (ERR_INVALID or ERR_LIMIT) and *creds_r zeroed. */
int sasl_credentials_decode(const char *line, size_t len, struct sasl_credentials *creds_r,
	struct error *e);

/* Checks a password (len bytes) against c: the argon2id hash if present
 * (constant time in libsodium), else SCRAM-SHA-256, else SCRAM-SHA-1 keys
 * (PBKDF2 and a constant-time compare). Returns 1 if it matches, 0 if not or
 * if c holds none of these. */
int sasl_password_verify(const struct sasl_credentials *c, const char *password, size_t len);

/* --- server --- */

/* Looks up a user for a mechanism. username is NUL-terminated, valid UTF-8,
 * at most SASL_USERNAME_MAX bytes, as the client sent it (no case folding).
 * Returns 1 with *creds_r filled, 0 if there is no such user, -1 on a
 * temporary failure (store unavailable). The mechanism zeroes *creds_r. */
typedef int sasl_lookup_fn(void *ctx, const char *username, struct sasl_credentials *creds_r);

struct sasl_server_opts {
	sasl_lookup_fn *lookup;
	void *lookup_ctx;
	/* TLS is active on the connection: PLAIN and LOGIN are offered only then. */
	bool tls_active;
	/* RFC 9266 tls-exporter channel binding, TLS_EXPORTER_LEN bytes (from
	 * tls_exporter), or NULL when there is none: the -PLUS mechanisms need it. */
	const unsigned char *cb_exporter;
	/* The server advertised a -PLUS mechanism: a SCRAM client that says "y"
	 * (it could bind but thinks we cannot) is then being downgraded and fails
	 * (RFC 5802 §6). */
	bool plus_advertised;
	/* The server's host name, for the CRAM-MD5 challenge (RFC 2195 §2);
	 * letters, digits, '.' and '-'. Required for CRAM-MD5. */
	const char *hostname;
	/* A server secret (at least SASL_SECRET_MIN bytes, stable across
	 * restarts) from which SCRAM derives fake salts for unknown users, so
	 * that a user's existence does not show in the salt. NULL: a random
	 * secret per process (then a restart changes an unknown user's salt). */
	const unsigned char *secret;
	size_t secret_len;
};

/* Why an exchange failed; a protocol maps these to its replies (SMTP per
 * RFC 4954 §6, IMAP response codes per RFC 5530). */
enum sasl_failure {
	SASL_FAIL_NONE = 0,
	/* unknown user, wrong password or proof: 535 5.7.8, NO [AUTHENTICATIONFAILED] */
	SASL_FAIL_CREDENTIALS,
	/* authorization identity not allowed: 535 5.7.8, NO [AUTHORIZATIONFAILED] */
	SASL_FAIL_AUTHZ,
	/* channel binding missing, mismatched, unsupported or downgraded: 535 5.7.8, NO */
	SASL_FAIL_CHANNEL,
	/* syntax, encoding, limits, step out of order: 501 5.5.2, BAD */
	SASL_FAIL_MALFORMED,
	/* the client cancelled ("*"): 501 5.0.0, BAD */
	SASL_FAIL_ABORTED,
	/* the lookup failed temporarily: 454 4.7.0, NO [UNAVAILABLE] */
	SASL_FAIL_TEMP,
};

struct sasl_server;

/* Starts a server exchange for mechanism `name` (case-insensitive, RFC 4422
 * §3.1) with opts (copied, with the channel binding; the hostname, secret
 * and lookup context must outlive the exchange). Returns NULL if the mechanism is
 * unknown or not offered for these opts (see sasl_mechanisms_list; CRAM-MD5
 * also needs a valid hostname), if there is no lookup, or if a secret is
 * shorter than SASL_SECRET_MIN. Free with sasl_server_free. */
struct sasl_server *sasl_server_new(const char *name, const struct sasl_server_opts *opts);

/* Zeroes and frees *s (NULL allowed); sets *s to NULL. */
void sasl_server_free(struct sasl_server **s);

/* Feeds one decoded client response of len bytes (at most SASL_MSG_MAX).
 * in == NULL means the client sent no initial response (allowed only on the
 * first call); in != NULL with len 0 is an empty response.
 * Returns 0 and:
 *   *done_r false: send *out_r (*outlen_r bytes, maybe 0) as the next
 *                  challenge;
 *   *done_r true:  authenticated (sasl_server_username); if *outlen_r > 0,
 *                  *out_r is the server's final data (SCRAM's "v="), sent as
 *                  success data or, where the protocol has none, as one more
 *                  challenge whose (empty) answer the protocol reads before
 *                  replying success.
 * Returns -1 when the exchange failed (sasl_server_failure says why); for
 * SCRAM *out_r then holds a server-error ("e=...", RFC 5802 §7) that a
 * protocol may send as a last challenge, otherwise *outlen_r is 0.
 * *out_r is owned by s and stays valid until the next call or
 * sasl_server_free. After done or a failure every further call returns -1
 * and changes nothing.
 * Unknown users go through every step like known ones and fail only at the
 * end: SCRAM answers with a salt derived from opts->secret and the name;
 * PLAIN and LOGIN verify against a dummy argon2id hash.
 * PLAIN and LOGIN read the password in place from `in`: the caller keeps
 * client responses in memory it zeroes (buf_free_secret, ARENA_SECRET). */
int sasl_server_step(struct sasl_server *s, const unsigned char *in, size_t len,
	const unsigned char **out_r, size_t *outlen_r, bool *done_r);

/* Marks the exchange cancelled by the client (its "*" line, RFC 4954 §4,
 * RFC 9051 §6.2.2); the failure becomes SASL_FAIL_ABORTED. */
void sasl_server_abort(struct sasl_server *s);

/* The mechanism's canonical name, e.g. "SCRAM-SHA-256-PLUS". */
const char *sasl_server_mechanism(const struct sasl_server *s);

/* After success: the authenticated user name, as looked up (valid while s
 * lives). NULL before success or after failure. */
const char *sasl_server_username(const struct sasl_server *s);

/* After failure: why, and a short text for logs (never containing a password
 * or proof; static). SASL_FAIL_NONE and "" while the exchange goes on or
 * after success. */
enum sasl_failure sasl_server_failure(const struct sasl_server *s);
const char *sasl_server_failure_text(const struct sasl_server *s);

/* Whether the failed exchange was for a user the lookup did not know. For
 * the server's own logs only: never tell the client. */
bool sasl_server_user_unknown(const struct sasl_server *s);

/* The space-separated mechanism names a server advertises, strongest first
 * (static string). Without TLS only the mechanisms that never send the
 * password (SCRAM, CRAM-MD5) are listed: RFC 4954 §4 asks servers not to
 * permit plaintext password mechanisms without TLS (and RFC 8314 wants TLS
 * for all mail access), so PLAIN and LOGIN need TLS; sasl_server_new refuses
 * them otherwise. The -PLUS variants need TLS and a channel binding. */
const char *sasl_mechanisms_list(bool tls_active, bool have_channel_binding);

/* --- client --- */

struct sasl_client_opts {
	const char *username;       /* authentication identity, NUL-terminated */
	const char *password;       /* NUL-terminated */
	const char *authzid;        /* authorization identity, or NULL for none */
	/* The connection's tls-exporter binding (TLS_EXPORTER_LEN bytes) or NULL.
	 * With a -PLUS mechanism it is required and sent; with plain SCRAM its
	 * presence makes the client say "y" (RFC 5802 §6). */
	const unsigned char *cb_exporter;
};

struct sasl_client;

/* Starts a client exchange for PLAIN, SCRAM-SHA-1, SCRAM-SHA-256 or their
 * -PLUS variants (case-insensitive). opts are copied into a secret arena.
 * Returns NULL for another mechanism, a -PLUS one without cb_exporter, or
 * names and passwords that are empty, too long or contain commas or bytes
 * the mechanism cannot carry. Free with sasl_client_free. */
struct sasl_client *sasl_client_new(const char *name, const struct sasl_client_opts *opts);

/* Zeroes and frees *c (NULL allowed); sets *c to NULL. */
void sasl_client_free(struct sasl_client **c);

/* One client step. The first call takes in == NULL (or an empty challenge)
 * and produces the initial response; later calls take the decoded server
 * challenge (len at most SASL_MSG_MAX). Returns 0 with *out_r (*outlen_r
 * bytes, owned by c, valid until the next call or free) to send, and
 * *done_r set once nothing more is expected: PLAIN after its only message;
 * SCRAM after the server's "v=" signature verified (then *outlen_r is 0).
 * Returns -1 if the server's message is malformed, an "e=" error, a nonce
 * that does not extend ours, an iteration count outside
 * SASL_SCRAM_ITER_MIN..MAX, or a wrong server signature; also for any call
 * after done or a failure. */
int sasl_client_step(struct sasl_client *c, const unsigned char *in, size_t len,
	const unsigned char **out_r, size_t *outlen_r, bool *done_r);

/* A short static text saying why the last sasl_client_step failed. */
const char *sasl_client_error(const struct sasl_client *c);

#endif
