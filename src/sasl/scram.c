/*
 * scram.c: what both sides of SCRAM share (RFC 5802, RFC 7677): the key
 * arithmetic of RFC 5802 §3 on OpenSSL, and the pieces of the §7 grammar
 * that server and client messages have in common (attributes, saslname,
 * nonce).
 *
 *   SaltedPassword  := Hi(Normalize(password), salt, i)
 *   ClientKey       := HMAC(SaltedPassword, "Client Key")
 *   StoredKey       := H(ClientKey)
 *   ServerKey       := HMAC(SaltedPassword, "Server Key")
 *
 * Normalize is the identity in tern (see sasl.h on SASLprep).
 */
#include "sasl/internal.h"

#include "core/arena.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

const struct scram_hash scram_sha1 = {"SCRAM-SHA-1", 20, SASL_SCRAM_SHA1_ITER, false};
const struct scram_hash scram_sha256 = {"SCRAM-SHA-256", 32, SASL_SCRAM_SHA256_ITER, true};

static const EVP_MD *scram_md(const struct scram_hash *h)
{
	return h->sha256 ? EVP_sha256() : EVP_sha1();
}

int scram_h(const struct scram_hash *h, const void *data, size_t n, unsigned char *out)
{
	unsigned int outlen = 0;
	if (EVP_Digest(data, n, out, &outlen, scram_md(h), NULL) != 1 || outlen != h->len)
		return -1;
	return 0;
}

int scram_hmac(const struct scram_hash *h, const void *key, size_t keylen, const void *data,
	size_t n, unsigned char *out)
{
	unsigned int outlen = 0;
	if (keylen > INT32_MAX)
		return -1;
	if (HMAC(scram_md(h), key, (int)keylen, data, n, out, &outlen) == NULL || outlen != h->len)
		return -1;
	return 0;
}

/* RFC 5802 §2.2: Hi() is PBKDF2 (RFC 2898) with HMAC as the PRF and dkLen
 * the hash length. */
int scram_hi(const struct scram_hash *h, const char *pw, size_t pwlen, const unsigned char *salt,
	size_t saltlen, unsigned iter, unsigned char *out)
{
	if (pwlen > SASL_PASSWORD_MAX || saltlen > SASL_SCRAM_SALT_MAX || iter == 0 ||
	    iter > SASL_SCRAM_ITER_MAX)
		return -1;
	if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, (int)iter, scram_md(h),
	                      (int)h->len, out) != 1)
		return -1;
	return 0;
}

int scram_keys_from_salted(const struct scram_hash *h, const unsigned char *salted,
	unsigned char *client_key_r, unsigned char *stored_key_r, unsigned char *server_key_r)
{
	unsigned char ck[SASL_SCRAM_KEY_MAX];
	int r = -1;
	if (scram_hmac(h, salted, h->len, "Client Key", 10, ck) == 0 &&   /* RFC 5802 §3 */
	    scram_h(h, ck, h->len, stored_key_r) == 0 &&
	    scram_hmac(h, salted, h->len, "Server Key", 10, server_key_r) == 0)
		r = 0;
	if (client_key_r != NULL)
		memcpy(client_key_r, ck, h->len);
	OPENSSL_cleanse(ck, sizeof(ck));
	return r;
}

int scram_keys_derive(const struct scram_hash *h, const char *pw, size_t pwlen,
	const unsigned char *salt, size_t saltlen, unsigned iter, struct sasl_scram_keys *k)
{
	unsigned char salted[SASL_SCRAM_KEY_MAX];
	memset(k, 0, sizeof(*k));
	int r = scram_hi(h, pw, pwlen, salt, saltlen, iter, salted);
	if (r == 0)
		r = scram_keys_from_salted(h, salted, NULL, k->stored_key, k->server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	if (r != 0)
		return -1;
	k->present = true;
	k->iterations = iter;
	k->salt_len = saltlen;
	memcpy(k->salt, salt, saltlen);
	return 0;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 5802 §7:
 *   attr-val   = ALPHA "=" value
 *   value      = 1*value-char
 *   value-char = value-safe-char / "="      ; UTF8-char except NUL and ","
 * UTF-8 validity is checked by the callers on whole messages. */
int scram_next_attr(const char *msg, size_t len, size_t *pos, struct scram_attr *a,
	bool allow_empty)
{
	size_t p = *pos;
	if (p >= len)
		return p > 0 && msg[p - 1] == ',' ? -1 : 0;  /* a trailing "," is no attribute */
	if (len - p < 2 || !is_alpha(msg[p]) || msg[p + 1] != '=')
		return -1;
	size_t v = p + 2, e = v;
	while (e < len && msg[e] != ',') {
		if (msg[e] == '\0')
			return -1;
		e++;
	}
	if (e == v && !allow_empty)
		return -1;
	a->name = msg[p];
	a->value = msg + v;
	a->len = e - v;
	*pos = e < len ? e + 1 : e;
	return 1;
}

/* RFC 5802 §7:
 *   saslname        = 1*(value-safe-char / "=2C" / "=3D")
 *   value-safe-char = %x01-2B / %x2D-3C / %x3E-7F / UTF8-2 / UTF8-3 / UTF8-4
 * §5.1: "=" followed by anything else is invalid-username-encoding. */
int scram_saslname_decode(const char *v, size_t n, char *dst)
{
	size_t o = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == '=') {
			bool comma = n - i >= 3 && v[i + 1] == '2' && v[i + 2] == 'C';
			bool equals = n - i >= 3 && v[i + 1] == '3' && v[i + 2] == 'D';
			if (!comma && !equals)
				return -1;
			c = comma ? ',' : '=';
			i += 2;
		} else if (c == ',' || c == '\0')
			return -1;
		if (o == SASL_USERNAME_MAX)
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return sasl_utf8_valid((const unsigned char *)dst, o) ? 0 : -1;
}

char *scram_saslname_encode(struct arena *a, const char *name)
{
	size_t n = strlen(name), o = 0;
	char *s = arena_alloc(a, 3 * n + 1);
	for (size_t i = 0; i < n; i++) {
		const char *esc = name[i] == ',' ? "=2C" : name[i] == '=' ? "=3D" : NULL;
		if (esc != NULL) {
			memcpy(s + o, esc, 3);
			o += 3;
		} else
			s[o++] = name[i];
	}
	s[o] = '\0';
	return s;
}

/* RFC 5802 §7: c-nonce = printable; printable = %x21-2B / %x2D-7E
 * The production says one character; every example and implementation uses
 * 1*printable, which is what is accepted here. */
bool scram_nonce_valid(const char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

char *scram_nonce_new(struct arena *a)
{
	unsigned char r[SCRAM_NONCE_BYTES];
	if (RAND_bytes(r, sizeof(r)) != 1)
		abort();  /* no randomness: nothing safe to do */
	return base64_arena(a, r, sizeof(r));
}

/* posit-number = %x31-39 *DIGIT   (RFC 5802 §7) */
int scram_parse_iter(const char *v, size_t n, unsigned *iter_r)
{
	unsigned long x = 0;
	if (n == 0 || n > 7 || v[0] == '0')   /* 7 digits hold SASL_SCRAM_ITER_MAX */
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (unsigned long)(v[i] - '0');
	}
	if (x < SASL_SCRAM_ITER_MIN || x > SASL_SCRAM_ITER_MAX)
		return -1;
	*iter_r = (unsigned)x;
	return 0;
}
