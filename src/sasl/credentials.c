/*
 * credentials.c: stored credentials: derived from a password once, kept by
 * the account store as one versioned text line, checked at login.
 *
 *   line   = "v1" *(SP field)          ; at least one field, in this order:
 *   field  = "argon2=" ARGON2ID        ; libsodium crypto_pwhash_str output
 *          / "scram-sha-1=" scram / "scram-sha-256=" scram
 *          / "cram-md5=" B64 "," B64   ; MD5 states after ipad, opad blocks
 *   scram  = ITER "," SALT "," STOREDKEY "," SERVERKEY   ; RFC 5802 §3
 *   ITER   = %x31-39 *DIGIT            ; SASL_SCRAM_ITER_MIN..MAX
 *   SALT, STOREDKEY, SERVERKEY, B64 = canonical padded base64 (RFC 4648 §4)
 *
 * The decoder fails closed: an unknown version or field, a repeated or
 * misordered field, a wrong key length or an out-of-range cost is an error,
 * never a partial result. A line comes from tern's own store, but a store
 * can be restored from a backup or edited by hand.
 */
#include "sasl/internal.h"

#include "core/arena.h"
#include "core/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

/* Largest argon2id costs a stored hash may ask for: memory in KiB (1 GiB)
 * and passes. Beyond that one login could exhaust the server. */
#define ARGON2_M_MAX (1024u * 1024)
#define ARGON2_T_MAX 64u

enum field { F_ARGON2, F_SCRAM_SHA1, F_SCRAM_SHA256, F_CRAM_MD5, F_COUNT };
static const char *const field_names[F_COUNT] = {
	"argon2=", "scram-sha-1=", "scram-sha-256=", "cram-md5=",
};

int sasl_memneq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) != 0;
}

void sasl_credentials_clear(struct sasl_credentials *c)
{
	explicit_bzero(c, sizeof(*c));
}

static int sodium_ready(void)
{
	return sodium_init() < 0 ? -1 : 0;   /* idempotent and thread-safe */
}

static int derive_scram(const struct scram_hash *h, const char *pw, size_t len,
	const unsigned char *salt, size_t saltlen, unsigned iter, struct sasl_scram_keys *k)
{
	unsigned char fresh[SASL_SCRAM_SALT_LEN];
	if (salt == NULL) {
		if (RAND_bytes(fresh, sizeof(fresh)) != 1)
			return -1;
		salt = fresh;
		saltlen = sizeof(fresh);
	}
	return scram_keys_derive(h, pw, len, salt, saltlen, iter == 0 ? h->default_iter : iter, k);
}

int sasl_credentials_derive_with(const char *password, size_t len, unsigned parts,
	unsigned long long opslimit, size_t memlimit, const unsigned char *salt, size_t saltlen,
	unsigned iter_sha1, unsigned iter_sha256, struct sasl_credentials *creds_r,
	struct error *e)
{
	memset(creds_r, 0, sizeof(*creds_r));
	if (len == 0 || len > SASL_PASSWORD_MAX || memchr(password, '\0', len) != NULL)
		return error_set(e, ERR_INVALID, "password must be 1 to %d bytes without NUL",
			SASL_PASSWORD_MAX);
	if ((parts & SASL_CRED_ALL) == 0)
		return error_set(e, ERR_INVALID, "no credential parts requested");
	if (sodium_ready() != 0)
		return error_set(e, ERR_TEMP, "libsodium did not initialise");
	if ((parts & SASL_CRED_ARGON2) &&
	    crypto_pwhash_str_alg(creds_r->argon2, password, len, opslimit, memlimit,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0)
		goto fail;
	if ((parts & SASL_CRED_SCRAM_SHA1) &&
	    derive_scram(&scram_sha1, password, len, salt, saltlen, iter_sha1, &creds_r->scram_sha1) != 0)
		goto fail;
	if ((parts & SASL_CRED_SCRAM_SHA256) &&
	    derive_scram(&scram_sha256, password, len, salt, saltlen, iter_sha256,
	                 &creds_r->scram_sha256) != 0)
		goto fail;
	if (parts & SASL_CRED_CRAM_MD5) {
		if (cram_md5_states(password, len, creds_r->cram_md5_ipad, creds_r->cram_md5_opad) != 0)
			goto fail;
		creds_r->cram_md5_present = true;
	}
	return 0;
fail:
	sasl_credentials_clear(creds_r);
	return error_set(e, ERR_TEMP, "hashing the password failed (out of memory?)");
}

int sasl_credentials_derive(const char *password, size_t len, unsigned parts,
	struct sasl_credentials *creds_r, struct error *e)
{
	return sasl_credentials_derive_with(password, len, parts, SASL_ARGON2_OPSLIMIT,
		SASL_ARGON2_MEMLIMIT, NULL, 0, 0, 0, creds_r, e);
}

/* --- encode --- */

static char *scram_field(struct arena *a, const char *name, const struct scram_hash *h,
	const struct sasl_scram_keys *k)
{
	return arena_printf(a, " %s%u,%s,%s,%s", name, (unsigned)k->iterations,
		base64_arena(a, k->salt, k->salt_len), base64_arena(a, k->stored_key, h->len),
		base64_arena(a, k->server_key, h->len));
}

char *sasl_credentials_encode(const struct sasl_credentials *c, struct arena *a)
{
	if (c->argon2[0] == '\0' && !c->scram_sha1.present && !c->scram_sha256.present &&
	    !c->cram_md5_present)
		return NULL;
	const char *f[F_COUNT] = {"", "", "", ""};
	if (c->argon2[0] != '\0')
		f[F_ARGON2] = arena_printf(a, " argon2=%s", c->argon2);
	if (c->scram_sha1.present)
		f[F_SCRAM_SHA1] = scram_field(a, "scram-sha-1=", &scram_sha1, &c->scram_sha1);
	if (c->scram_sha256.present)
		f[F_SCRAM_SHA256] = scram_field(a, "scram-sha-256=", &scram_sha256, &c->scram_sha256);
	if (c->cram_md5_present)
		f[F_CRAM_MD5] = arena_printf(a, " cram-md5=%s,%s",
			base64_arena(a, c->cram_md5_ipad, 16), base64_arena(a, c->cram_md5_opad, 16));
	return arena_printf(a, "v1%s%s%s%s", f[0], f[1], f[2], f[3]);
}

/* --- decode --- */

/* posit-number = %x31-39 *DIGIT, within lo..hi. Returns 0 and the value. */
static int parse_number(const char *p, size_t n, unsigned long lo, unsigned long hi,
	unsigned long *v_r)
{
	unsigned long v = 0;
	if (n == 0 || n > 10 || p[0] == '0')
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*v_r = v;
	return 0;
}

/* Splits the next ","-separated part of [*p, end). */
static int next_part(const char **p, const char *end, const char **part_r, size_t *n_r)
{
	const char *c = memchr(*p, ',', (size_t)(end - *p));
	const char *stop = c == NULL ? end : c;
	*part_r = *p;
	*n_r = (size_t)(stop - *p);
	*p = c == NULL ? end : c + 1;
	return *n_r == 0 ? -1 : 0;
}

/* Decodes base64 that must give exactly `want` bytes (or, when want is 0,
 * SASL_SCRAM_SALT_MIN..MAX bytes). Returns the length or -1. */
static long b64_exact(const char *p, size_t n, unsigned char *dst, size_t dstmax, size_t want)
{
	long got = base64_decode(dst, dstmax, p, n);
	if (got < 0)
		return -1;
	if (want != 0 ? (size_t)got != want :
	    (got < SASL_SCRAM_SALT_MIN || got > SASL_SCRAM_SALT_MAX))
		return -1;
	return got;
}

static int decode_scram(const char *p, const char *end, const struct scram_hash *h,
	struct sasl_scram_keys *k)
{
	const char *part;
	size_t n;
	unsigned long iter;
	long saltlen;
	if (next_part(&p, end, &part, &n) != 0 ||
	    parse_number(part, n, SASL_SCRAM_ITER_MIN, SASL_SCRAM_ITER_MAX, &iter) != 0 ||
	    next_part(&p, end, &part, &n) != 0 ||
	    (saltlen = b64_exact(part, n, k->salt, sizeof(k->salt), 0)) < 0 ||
	    next_part(&p, end, &part, &n) != 0 ||
	    b64_exact(part, n, k->stored_key, sizeof(k->stored_key), h->len) < 0 ||
	    next_part(&p, end, &part, &n) != 0 ||
	    b64_exact(part, n, k->server_key, sizeof(k->server_key), h->len) < 0 || p != end ||
	    end[-1] == ',')
		return -1;
	k->iterations = (uint32_t)iter;
	k->salt_len = (size_t)saltlen;
	k->present = true;
	return 0;
}

static int decode_cram(const char *p, const char *end, struct sasl_credentials *c)
{
	const char *part;
	size_t n;
	if (next_part(&p, end, &part, &n) != 0 ||
	    b64_exact(part, n, c->cram_md5_ipad, 16, 16) < 0 ||
	    next_part(&p, end, &part, &n) != 0 ||
	    b64_exact(part, n, c->cram_md5_opad, 16, 16) < 0 || p != end || end[-1] == ',')
		return -1;
	c->cram_md5_present = true;
	return 0;
}

/* Expects literal text at *p; advances past it. */
static int expect(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return -1;
	*p += n;
	return 0;
}

static bool b64_nopad_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Argon2 PHC string as libsodium writes it:
 *   "$argon2id$v=19$m=" M ",t=" T ",p=1$" SALT "$" HASH
 * with SALT and HASH unpadded base64. Costs bounded (ARGON2_M_MAX, _T_MAX). */
static int decode_argon2(const char *p, const char *end, struct sasl_credentials *c)
{
	const char *start = p, *q;
	unsigned long m, t;
	size_t n = (size_t)(end - p);
	if (n >= SASL_ARGON2_STR_MAX || expect(&p, end, "$argon2id$v=19$m=") != 0)
		return -1;
	for (q = p; q < end && *q != ','; q++)
		;
	if (parse_number(p, (size_t)(q - p), 8, ARGON2_M_MAX, &m) != 0)
		return -1;
	p = q;
	if (expect(&p, end, ",t=") != 0)
		return -1;
	for (q = p; q < end && *q != ','; q++)
		;
	if (parse_number(p, (size_t)(q - p), 1, ARGON2_T_MAX, &t) != 0)
		return -1;
	p = q;
	if (expect(&p, end, ",p=1$") != 0)
		return -1;
	int dollars = 0;
	size_t run = 0;
	for (; p < end; p++) {
		if (*p == '$' && run > 0 && dollars == 0) {
			dollars++;
			run = 0;
		} else if (b64_nopad_char(*p))
			run++;
		else
			return -1;
	}
	if (dollars != 1 || run == 0)
		return -1;
	memcpy(c->argon2, start, n);
	c->argon2[n] = '\0';
	return 0;
}

static int decode_field(enum field f, const char *p, const char *end, struct sasl_credentials *c)
{
	switch (f) {
	case F_ARGON2:
		return decode_argon2(p, end, c);
	case F_SCRAM_SHA1:
		return decode_scram(p, end, &scram_sha1, &c->scram_sha1);
	case F_SCRAM_SHA256:
		return decode_scram(p, end, &scram_sha256, &c->scram_sha256);
	case F_CRAM_MD5:
		return decode_cram(p, end, c);
	case F_COUNT:
		break;
	}
	return -1;
}

static int decode_fields(const char *p, const char *end, struct sasl_credentials *c,
	struct error *e)
{
	int next = 0;   /* fields come in enum order, each at most once */
	while (p < end) {
		if (*p++ != ' ')
			return error_set(e, ERR_INVALID, "credentials: expected one space between fields");
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fend = sp == NULL ? end : sp;
		int f;
		for (f = next; f < F_COUNT; f++)
			if (expect(&p, fend, field_names[f]) == 0)
				break;
		if (f == F_COUNT)
			return error_set(e, ERR_INVALID, "credentials: unknown, repeated or misordered field");
		if (decode_field((enum field)f, p, fend, c) != 0)
			return error_set(e, ERR_INVALID, "credentials: bad %.*s field",
				(int)strlen(field_names[f]) - 1, field_names[f]);
		next = f + 1;
		p = fend;
	}
	if (next == 0)
		return error_set(e, ERR_INVALID, "credentials: no field");
	return 0;
}

int sasl_credentials_decode(const char *line, size_t len, struct sasl_credentials *creds_r,
	struct error *e)
{
	memset(creds_r, 0, sizeof(*creds_r));
	if (len > SASL_CREDENTIALS_LINE_MAX)
		return error_set(e, ERR_LIMIT, "credentials: longer than %d bytes",
			SASL_CREDENTIALS_LINE_MAX);
	const char *p = line, *end = line + len;
	if (expect(&p, end, "v1") != 0 || (p < end && *p != ' '))
		return error_set(e, ERR_INVALID, "credentials: not version v1");
	if (decode_fields(p, end, creds_r, e) != 0) {
		sasl_credentials_clear(creds_r);
		return -1;
	}
	return 0;
}

/* --- verify --- */

static int scram_verify(const struct scram_hash *h, const struct sasl_scram_keys *k,
	const char *pw, size_t len)
{
	struct sasl_scram_keys got;
	int ok = scram_keys_derive(h, pw, len, k->salt, k->salt_len, k->iterations, &got) == 0 &&
	         !sasl_memneq(got.stored_key, k->stored_key, h->len) &&
	         !sasl_memneq(got.server_key, k->server_key, h->len);
	explicit_bzero(&got, sizeof(got));
	return ok;
}

/*
 * Each argon2id verification holds SASL_ARGON2_MEMLIMIT bytes for its whole
 * run, so the process runs at most SASL_ARGON2_CONCURRENT of them at once;
 * others wait their turn (a burst of logins costs time, not memory).
 */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static unsigned gate_busy;

static void gate_enter(void)
{
	pthread_mutex_lock(&gate_mu);
	while (gate_busy >= SASL_ARGON2_CONCURRENT)
		pthread_cond_wait(&gate_cv, &gate_mu);
	gate_busy++;
	pthread_mutex_unlock(&gate_mu);
}

static void gate_leave(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_busy--;
	pthread_cond_signal(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static int argon2_verify(const char *hash, const char *password, size_t len)
{
	gate_enter();
	int r = crypto_pwhash_str_verify(hash, password, len);
	gate_leave();
	return r;
}

int sasl_password_verify(const struct sasl_credentials *c, const char *password, size_t len)
{
	if (len == 0 || len > SASL_PASSWORD_MAX || memchr(password, '\0', len) != NULL)
		return 0;
	if (c->argon2[0] != '\0')
		return sodium_ready() == 0 && argon2_verify(c->argon2, password, len) == 0;
	if (c->scram_sha256.present)
		return scram_verify(&scram_sha256, &c->scram_sha256, password, len);
	if (c->scram_sha1.present)
		return scram_verify(&scram_sha1, &c->scram_sha1, password, len);
	return 0;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[SASL_ARGON2_STR_MAX];
static unsigned long long dummy_ops = SASL_ARGON2_OPSLIMIT;
static size_t dummy_mem = SASL_ARGON2_MEMLIMIT;

void sasl_dummy_set_cost(unsigned long long opslimit, size_t memlimit)
{
	dummy_ops = opslimit;
	dummy_mem = memlimit;
}

static void dummy_make(void)
{
	unsigned char pw[16];
	if (sodium_ready() != 0)
		return;
	randombytes_buf(pw, sizeof(pw));
	if (crypto_pwhash_str_alg(dummy_hash, (const char *)pw, sizeof(pw), dummy_ops, dummy_mem,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0)
		dummy_hash[0] = '\0';
	sodium_memzero(pw, sizeof(pw));
}

void sasl_dummy_verify(const char *password, size_t len)
{
	pthread_once(&dummy_once, dummy_make);
	if (dummy_hash[0] != '\0' && argon2_verify(dummy_hash, password, len) == 0)
		abort();   /* a random 16-byte password guessed: the dummy is broken */
}
