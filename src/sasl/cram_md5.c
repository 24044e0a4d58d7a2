/*
 * cram_md5.c: CRAM-MD5 (RFC 2195) without a stored password.
 *
 * The response is HMAC-MD5(password, challenge) (RFC 2104). HMAC's first
 * step hashes one 64-byte block, (key XOR ipad), and the last step another,
 * (key XOR opad); the MD5 chaining state after each of those blocks depends
 * only on the password. tern stores those two 16-byte states (as Dovecot
 * and mox do) and resumes MD5 from them per login, so no plaintext password
 * is kept.
 *
 * OpenSSL 3 has no supported way to resume a digest from a chaining state,
 * so this file, and only this one, uses the deprecated low-level MD5_CTX
 * (whose A, B, C, D and Nl fields are the state and the bit count); the
 * deprecation warnings are suppressed for this file alone. Should OpenSSL
 * drop MD5_CTX, this file needs its own MD5 compression function, and
 * nothing else changes.
 *
 * Unknown users and users without CRAM-MD5 states get random states and
 * fail at the same point with the same answer as a wrong password.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "sasl/internal.h"

#include "core/arena.h"

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest host name in the challenge (a DNS name, RFC 1035 §2.3.4). */
#define CRAM_HOSTNAME_MAX 253

static void put_le32(unsigned char *p, MD5_LONG v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static MD5_LONG get_le32(const unsigned char *p)
{
	return (MD5_LONG)p[0] | (MD5_LONG)p[1] << 8 | (MD5_LONG)p[2] << 16 | (MD5_LONG)p[3] << 24;
}

static void state_after_block(const unsigned char block[64], unsigned char state_r[16])
{
	MD5_CTX c;
	MD5_Init(&c);
	MD5_Update(&c, block, 64);   /* exactly one block: c.num is 0, A..D hold the state */
	put_le32(state_r, c.A);
	put_le32(state_r + 4, c.B);
	put_le32(state_r + 8, c.C);
	put_le32(state_r + 12, c.D);
	OPENSSL_cleanse(&c, sizeof(c));
}

int cram_md5_states(const char *pw, size_t pwlen, unsigned char ipad_r[16],
	unsigned char opad_r[16])
{
	unsigned char key[64] = {0}, block[64];
	if (pwlen > 64)
		MD5((const unsigned char *)pw, pwlen, key);   /* RFC 2104 §2: long keys are hashed */
	else
		memcpy(key, pw, pwlen);
	for (int i = 0; i < 64; i++)
		block[i] = key[i] ^ 0x36;   /* RFC 2104 §2: ipad */
	state_after_block(block, ipad_r);
	for (int i = 0; i < 64; i++)
		block[i] = key[i] ^ 0x5c;   /* opad */
	state_after_block(block, opad_r);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(block, sizeof(block));
	return 0;
}

/* MD5 resumed after one 64-byte block whose resulting state is `state`. */
static void md5_resume(const unsigned char state[16], const void *msg, size_t n,
	unsigned char digest_r[16])
{
	MD5_CTX c;
	MD5_Init(&c);
	c.A = get_le32(state);
	c.B = get_le32(state + 4);
	c.C = get_le32(state + 8);
	c.D = get_le32(state + 12);
	c.Nl = 512;   /* 64 bytes already hashed, counted in bits */
	MD5_Update(&c, msg, n);
	MD5_Final(digest_r, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

void cram_md5_hmac(const unsigned char ipad[16], const unsigned char opad[16],
	const void *msg, size_t n, unsigned char digest_r[16])
{
	unsigned char inner[16];
	md5_resume(ipad, msg, n, inner);   /* H(K XOR ipad, text) */
	md5_resume(opad, inner, 16, digest_r);   /* H(K XOR opad, inner) */
	OPENSSL_cleanse(inner, sizeof(inner));
}

/* --- the mechanism --- */

struct cram_state {
	int step;
	char *challenge;
};

bool cram_md5_hostname_valid(const char *h)
{
	size_t n = h == NULL ? 0 : strlen(h);
	if (n == 0 || n > CRAM_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* RFC 2195 §2: the challenge holds "a presumptively arbitrary string of
 * random digits, a timestamp, and the fully-qualified primary host name of
 * the server" in the form of an RFC 822 msg-id, e.g.
 * <1896.697170952@postoffice.reston.mci.net>. */
static enum sasl_step_result cram_challenge(struct sasl_server *s, struct cram_state *st)
{
	const char *host = sasl_server_opts(s)->hostname;   /* checked by sasl_server_new */
	if (sasl_server_nonce(s) != NULL)
		st->challenge = arena_strdup(sasl_server_arena(s), sasl_server_nonce(s));
	else {
		uint64_t r;
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
			abort();
		st->challenge = arena_printf(sasl_server_arena(s), "<%llu.%lld@%s>",
			(unsigned long long)r, (long long)time(NULL), host);
	}
	st->step = 1;
	sasl_server_reply(s, st->challenge, strlen(st->challenge));
	return SASL_STEP_CONTINUE;
}

static int hex_decode16(const unsigned char *h, unsigned char out[16])
{
	for (int i = 0; i < 32; i++) {
		unsigned char c = h[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		out[i / 2] = (unsigned char)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
	}
	return 0;
}

/* RFC 2195 §2: the client responds with "the user name, a space, and a
 * 'digest'", which "is sent in hexadecimal format, using lower-case ASCII
 * characters" (32 of them); upper case is refused. The user name may hold
 * spaces: the digest is what follows the last one. */
static enum sasl_step_result cram_response(struct sasl_server *s, struct cram_state *st,
	const unsigned char *in, size_t len)
{
	unsigned char want[16], got[16];
	char user[SASL_USERNAME_MAX + 1];
	size_t ulen = len >= 34 ? len - 33 : 0;
	if (ulen == 0 || in[ulen] != ' ' || ulen > SASL_USERNAME_MAX ||
	    !sasl_utf8_valid(in, ulen) || hex_decode16(in + ulen + 1, want) != 0)
		return sasl_server_fail(s, SASL_FAIL_MALFORMED, "CRAM-MD5 response is not user SP digest");
	memcpy(user, in, ulen);
	user[ulen] = '\0';
	struct sasl_credentials c;
	int found = sasl_server_lookup(s, user, &c);
	if (found < 0)
		return SASL_STEP_FAIL;
	if (found == 1 && !c.cram_md5_present)
		found = 0;
	if (found == 0) {
		sasl_server_set_unknown(s);
		if (RAND_bytes(c.cram_md5_ipad, 16) != 1 || RAND_bytes(c.cram_md5_opad, 16) != 1)
			abort();   /* no randomness: nothing safe to do */
	}
	cram_md5_hmac(c.cram_md5_ipad, c.cram_md5_opad, st->challenge, strlen(st->challenge), got);
	int bad = sasl_memneq(got, want, 16);
	sasl_credentials_clear(&c);
	OPENSSL_cleanse(got, sizeof(got));
	if (bad || found == 0)
		return sasl_server_fail(s, SASL_FAIL_CREDENTIALS, "CRAM-MD5 digest does not match");
	return sasl_server_success(s, user);
}

static enum sasl_step_result cram_step(struct sasl_server *s, const unsigned char *in, size_t len)
{
	struct cram_state *st = sasl_server_state(s, sizeof(*st));
	if (st->step == 0) {
		if (in != NULL)   /* RFC 2195 §2: the server speaks first */
			return sasl_server_fail(s, SASL_FAIL_MALFORMED, "CRAM-MD5 takes no initial response");
		return cram_challenge(s, st);
	}
	return cram_response(s, st, in, len);
}

const struct sasl_server_mech sasl_mech_cram_md5 = {
	.name = "CRAM-MD5",
	.step = cram_step,
};
