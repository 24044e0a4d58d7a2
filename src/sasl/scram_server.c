/*
 * scram_server.c: the server side of SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802
 * §5, RFC 7677) and their -PLUS variants bound to the tls-exporter channel
 * binding (RFC 9266).
 *
 *   C: client-first-message     n,,n=user,r=CNONCE
 *   S: server-first-message     r=CNONCE SNONCE,s=SALT,i=ITER
 *   C: client-final-message     c=biws,r=CNONCE SNONCE,p=PROOF
 *   S: server-final-message     v=SIGNATURE   (or e=ERROR)
 *
 * The server stores StoredKey and ServerKey only (RFC 5802 §3) and checks
 * the proof by recovering ClientKey = ClientProof XOR ClientSignature and
 * comparing H(ClientKey) with StoredKey in constant time.
 *
 * Unknown users (and users without keys for this hash) get a salt derived
 * from the server secret and the name, the default iteration count and
 * random keys: the exchange looks the same until the proof fails with
 * e=invalid-proof, as for a wrong password (RFC 5802 §5.1 allows
 * "unknown-user"; tern does not say it).
 *
 * Errors found in the client-first message have no place in the protocol
 * (server-error is part of the server-final-message only, §7); the exchange
 * fails there and leaves the matching "e=" text as output, which a protocol
 * may send or drop.
 */
#include "sasl/internal.h"

#include "core/arena.h"
#include "core/tls.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

struct scram_server {
	int step;
	const struct scram_hash *h;
	char user[SASL_USERNAME_MAX + 1];
	char authzid[SASL_USERNAME_MAX + 1];    /* "" if none */
	const char *gs2;                        /* the gs2-header as sent */
	size_t gs2_len;
	bool binding;                           /* "p=tls-exporter" */
	char *first_bare;                       /* client-first-message-bare */
	char *server_first;
	char *nonce;                            /* c-nonce s-nonce */
	bool unknown;
	unsigned char stored_key[SASL_SCRAM_KEY_MAX];
	unsigned char server_key[SASL_SCRAM_KEY_MAX];
};

static enum sasl_step_result scram_fail(struct sasl_server *s, enum sasl_failure kind,
	const char *text, const char *server_error)
{
	sasl_server_reply(s, server_error, strlen(server_error));   /* RFC 5802 §7 server-error */
	return sasl_server_fail(s, kind, text);
}

/* gs2-cbind-flag = ("p=" cb-name) / "n" / "y"      (RFC 5802 §7)
 * cb-name         = 1*(ALPHA / DIGIT / "." / "-")
 * Checks the flag against the mechanism: -PLUS needs "p=tls-exporter"
 * (RFC 9266 §3); the others take "n", or "y" unless the server advertised
 * -PLUS (RFC 5802 §6: then "y" means a downgrade). */
static enum sasl_step_result check_cbind_flag(struct sasl_server *s, struct scram_server *st,
	const char *f, size_t n)
{
	bool plus = sasl_server_mech(s)->needs_cb;
	if (n == 1 && (f[0] == 'n' || f[0] == 'y')) {
		if (plus)
			return scram_fail(s, SASL_FAIL_CHANNEL, "-PLUS mechanism without channel binding",
				"e=other-error");
		if (f[0] == 'y' && sasl_server_opts(s)->plus_advertised)   /* RFC 5802 §6 */
			return scram_fail(s, SASL_FAIL_CHANNEL, "channel binding downgrade ('y' flag)",
				"e=server-does-support-channel-binding");
		return SASL_STEP_CONTINUE;
	}
	if (n < 3 || f[0] != 'p' || f[1] != '=')
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad gs2-cbind-flag", "e=invalid-encoding");
	for (size_t i = 2; i < n; i++) {
		char c = f[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return scram_fail(s, SASL_FAIL_MALFORMED, "bad cb-name", "e=invalid-encoding");
	}
	if (!plus)
		return scram_fail(s, SASL_FAIL_CHANNEL, "channel binding on a non-PLUS mechanism",
			"e=channel-binding-not-supported");
	/* RFC 9266 §3: tls-exporter is the binding for TLS 1.3; tern offers no
	 * other type (tls-unique is unsafe there, tls-server-end-point unused). */
	if (n != 14 || memcmp(f + 2, "tls-exporter", 12) != 0)
		return scram_fail(s, SASL_FAIL_CHANNEL, "unsupported channel binding type",
			"e=unsupported-channel-binding-type");
	st->binding = true;
	return SASL_STEP_CONTINUE;
}

/* gs2-header = gs2-cbind-flag "," [ authzid ] ","     (RFC 5802 §7)
 * authzid    = "a=" saslname
 * Sets st->gs2_len to the header's length. */
static enum sasl_step_result parse_gs2(struct sasl_server *s, struct scram_server *st,
	const char *m, size_t len)
{
	const char *c1 = memchr(m, ',', len);
	const char *c2 = c1 == NULL ? NULL : memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - m));
	if (c2 == NULL)
		return scram_fail(s, SASL_FAIL_MALFORMED, "no gs2-header", "e=invalid-encoding");
	enum sasl_step_result r = check_cbind_flag(s, st, m, (size_t)(c1 - m));
	if (r != SASL_STEP_CONTINUE)
		return r;
	size_t zlen = (size_t)(c2 - c1 - 1);
	if (zlen > 0 && (zlen < 3 || c1[1] != 'a' || c1[2] != '=' ||
	                 scram_saslname_decode(c1 + 3, zlen - 2, st->authzid) != 0))
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad authzid", "e=invalid-encoding");
	st->gs2 = m;
	st->gs2_len = (size_t)(c2 + 1 - m);
	return SASL_STEP_CONTINUE;
}

/* Keys for an unknown user: the salt is HMAC-SHA-256(secret, hash name NUL
 * user name)[0..16), stable for a name, so that asking twice shows the same
 * salt as for a real user; the default iteration count; random keys that no
 * proof can match. */
static void fake_keys(struct sasl_server *s, struct scram_server *st, struct sasl_scram_keys *k)
{
	const unsigned char *secret;
	size_t n;
	unsigned char mac[32];
	char label[sizeof("SCRAM-SHA-256") + SASL_USERNAME_MAX + 1];
	int ll = snprintf(label, sizeof(label), "%s%c%s", st->h->name, '\0', st->user);
	sasl_server_secret(s, &secret, &n);
	memset(k, 0, sizeof(*k));
	if (ll < 0 || scram_hmac(&scram_sha256, secret, n, label, (size_t)ll, mac) != 0)
		abort();   /* HMAC-SHA-256 over a few bytes cannot fail */
	k->salt_len = SASL_SCRAM_SALT_LEN;
	memcpy(k->salt, mac, SASL_SCRAM_SALT_LEN);
	k->iterations = st->h->default_iter;
	if (RAND_bytes(k->stored_key, sizeof(k->stored_key)) != 1 ||
	    RAND_bytes(k->server_key, sizeof(k->server_key)) != 1)
		abort();
	st->unknown = true;
	sasl_server_set_unknown(s);
}

/* Looks the user up; a user without keys for this hash is treated as
 * unknown. Returns 0, or -1 if the lookup failed. */
static int load_keys(struct sasl_server *s, struct scram_server *st, struct sasl_scram_keys *k)
{
	struct sasl_credentials c;
	int found = sasl_server_lookup(s, st->user, &c);
	if (found < 0)
		return -1;
	const struct sasl_scram_keys *have = st->h->sha256 ? &c.scram_sha256 : &c.scram_sha1;
	if (found == 1 && have->present)
		*k = *have;
	else
		fake_keys(s, st, k);
	sasl_credentials_clear(&c);
	return 0;
}

/* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
 * username = "n=" saslname;  nonce = "r=" c-nonce [s-nonce]   (RFC 5802 §7) */
static enum sasl_step_result parse_first_bare(struct sasl_server *s, struct scram_server *st,
	const char *m, size_t len, const char **cnonce, size_t *cnonce_len)
{
	size_t pos = st->gs2_len;
	struct scram_attr a;
	if (scram_next_attr(m, len, &pos, &a, false) != 1)
		return scram_fail(s, SASL_FAIL_MALFORMED, "no username", "e=invalid-encoding");
	if (a.name == 'm')   /* RFC 5802 §5.1: a mandatory extension we do not know */
		return scram_fail(s, SASL_FAIL_MALFORMED, "mandatory extension",
			"e=extensions-not-supported");
	if (a.name != 'n' || scram_saslname_decode(a.value, a.len, st->user) != 0)
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad username",
			"e=invalid-username-encoding");
	if (scram_next_attr(m, len, &pos, &a, false) != 1 || a.name != 'r' ||
	    !scram_nonce_valid(a.value, a.len))
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad client nonce", "e=invalid-encoding");
	*cnonce = a.value;
	*cnonce_len = a.len;
	int r;
	while ((r = scram_next_attr(m, len, &pos, &a, false)) == 1)
		;   /* extensions = attr-val *("," attr-val): none defined, ignored */
	if (r < 0)
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad extension", "e=invalid-encoding");
	return SASL_STEP_CONTINUE;
}

/* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
 *                        ["," extensions]                       (RFC 5802 §7) */
static enum sasl_step_result client_first(struct sasl_server *s, struct scram_server *st,
	const char *m, size_t len)
{
	const char *cnonce = NULL;
	size_t cnlen = 0;
	struct sasl_scram_keys k;
	if (!sasl_utf8_valid((const unsigned char *)m, len))
		return scram_fail(s, SASL_FAIL_MALFORMED, "not UTF-8", "e=invalid-encoding");
	enum sasl_step_result r = parse_gs2(s, st, m, len);
	if (r == SASL_STEP_CONTINUE)
		r = parse_first_bare(s, st, m, len, &cnonce, &cnlen);
	if (r != SASL_STEP_CONTINUE)
		return r;
	if (load_keys(s, st, &k) != 0)
		return scram_fail(s, SASL_FAIL_TEMP, "credentials lookup failed", "e=other-error");
	struct arena *a = sasl_server_arena(s);
	const char *snonce = sasl_server_nonce(s) != NULL ? sasl_server_nonce(s) : scram_nonce_new(a);
	st->gs2 = arena_strndup(a, m, st->gs2_len);
	st->first_bare = arena_strndup(a, m + st->gs2_len, len - st->gs2_len);
	st->nonce = arena_printf(a, "%.*s%s", (int)cnlen, cnonce, snonce);
	st->server_first = arena_printf(a, "r=%s,s=%s,i=%u", st->nonce,
		base64_arena(a, k.salt, k.salt_len), (unsigned)k.iterations);
	memcpy(st->stored_key, k.stored_key, sizeof(st->stored_key));
	memcpy(st->server_key, k.server_key, sizeof(st->server_key));
	explicit_bzero(&k, sizeof(k));
	st->step = 1;
	sasl_server_reply(s, st->server_first, strlen(st->server_first));
	return SASL_STEP_CONTINUE;
}

/* channel-binding = "c=" base64; its value is base64(cbind-input) with
 * cbind-input = gs2-header [ cbind-data ]   (RFC 5802 §7; cbind-data is the
 * tls-exporter value, RFC 9266 §3, present only with "p="). */
static enum sasl_step_result check_binding(struct sasl_server *s, struct scram_server *st,
	const struct scram_attr *c)
{
	struct arena *a = sasl_server_arena(s);
	size_t wlen = st->gs2_len + (st->binding ? TLS_EXPORTER_LEN : 0);
	unsigned char *want = arena_alloc(a, wlen);
	unsigned char *got = arena_alloc(a, c->len);   /* base64 never decodes longer */
	memcpy(want, st->gs2, st->gs2_len);
	if (st->binding)
		memcpy(want + st->gs2_len, sasl_server_cb(s), TLS_EXPORTER_LEN);
	if (c->name != 'c')
		return scram_fail(s, SASL_FAIL_MALFORMED, "no channel binding attribute",
			"e=invalid-encoding");
	long glen = base64_decode(got, c->len, c->value, c->len);
	if (glen < 0)
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad channel binding base64",
			"e=invalid-encoding");
	int bad = (size_t)glen != wlen || CRYPTO_memcmp(got, want, wlen) != 0;
	if (bad)
		return scram_fail(s, SASL_FAIL_CHANNEL, "channel binding does not match",
			"e=channel-bindings-dont-match");
	return SASL_STEP_CONTINUE;
}

/* client-final-message-without-proof = channel-binding "," nonce ["," extensions]
 * client-final-message = client-final-message-without-proof "," proof
 * proof = "p=" base64                                         (RFC 5802 §7)
 * Sets *wp_len to the length of the part without the proof. */
static enum sasl_step_result parse_final(struct sasl_server *s, struct scram_server *st,
	const char *m, size_t len, unsigned char *proof, size_t *wp_len)
{
	const char *comma = len > 0 ? memrchr(m, ',', len) : NULL;
	if (!sasl_utf8_valid((const unsigned char *)m, len) || comma == NULL || m + len - comma < 3 ||
	    comma[1] != 'p' || comma[2] != '=' ||
	    base64_decode(proof, SASL_SCRAM_KEY_MAX, comma + 3, (size_t)(m + len - comma - 3)) !=
	        (long)st->h->len)
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad proof", "e=invalid-encoding");
	*wp_len = (size_t)(comma - m);
	size_t pos = 0;
	struct scram_attr a;
	if (scram_next_attr(m, *wp_len, &pos, &a, false) != 1)
		return scram_fail(s, SASL_FAIL_MALFORMED, "no channel binding", "e=invalid-encoding");
	enum sasl_step_result r = check_binding(s, st, &a);
	if (r != SASL_STEP_CONTINUE)
		return r;
	if (scram_next_attr(m, *wp_len, &pos, &a, false) != 1 || a.name != 'r' ||
	    a.len != strlen(st->nonce) || memcmp(a.value, st->nonce, a.len) != 0)
		return scram_fail(s, SASL_FAIL_MALFORMED, "nonce does not match", "e=other-error");
	int more;
	while ((more = scram_next_attr(m, *wp_len, &pos, &a, false)) == 1)
		;   /* extensions: none defined, ignored */
	if (more < 0)
		return scram_fail(s, SASL_FAIL_MALFORMED, "bad extension", "e=invalid-encoding");
	return SASL_STEP_CONTINUE;
}

/* RFC 5802 §3: AuthMessage := client-first-message-bare + "," +
 * server-first-message + "," + client-final-message-without-proof */
static char *auth_message(struct sasl_server *s, struct scram_server *st, const char *m,
	size_t wp_len)
{
	return arena_printf(sasl_server_arena(s), "%s,%s,%.*s", st->first_bare, st->server_first,
		(int)wp_len, m);
}

/* ClientSignature := HMAC(StoredKey, AuthMessage); ClientKey := ClientProof
 * XOR ClientSignature; the proof is good if H(ClientKey) = StoredKey. */
static bool proof_valid(struct scram_server *st, const char *am, const unsigned char *proof)
{
	unsigned char sig[SASL_SCRAM_KEY_MAX], key[SASL_SCRAM_KEY_MAX], stored[SASL_SCRAM_KEY_MAX];
	size_t hl = st->h->len;
	bool ok = scram_hmac(st->h, st->stored_key, hl, am, strlen(am), sig) == 0;
	for (size_t i = 0; i < hl; i++)
		key[i] = proof[i] ^ sig[i];
	ok = ok && scram_h(st->h, key, hl, stored) == 0 && CRYPTO_memcmp(stored, st->stored_key, hl) == 0;
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(stored, sizeof(stored));
	return ok && !st->unknown;
}

/* server-final-message = (server-error / verifier) ["," extensions]
 * verifier = "v=" base64, base64(ServerSignature), ServerSignature :=
 * HMAC(ServerKey, AuthMessage)                                 (RFC 5802 §3, §7) */
static enum sasl_step_result client_final(struct sasl_server *s, struct scram_server *st,
	const char *m, size_t len)
{
	unsigned char proof[SASL_SCRAM_KEY_MAX], sig[SASL_SCRAM_KEY_MAX];
	size_t wp_len = 0;
	enum sasl_step_result r = parse_final(s, st, m, len, proof, &wp_len);
	if (r != SASL_STEP_CONTINUE)
		return r;
	const char *am = auth_message(s, st, m, wp_len);
	bool ok = proof_valid(st, am, proof);
	OPENSSL_cleanse(proof, sizeof(proof));
	if (!ok)
		return scram_fail(s, SASL_FAIL_CREDENTIALS, "wrong user name or password",
			"e=invalid-proof");
	if (st->authzid[0] != '\0' && strcmp(st->authzid, st->user) != 0)
		return scram_fail(s, SASL_FAIL_AUTHZ, "authorization identity not allowed",
			"e=other-error");
	if (scram_hmac(st->h, st->server_key, st->h->len, am, strlen(am), sig) != 0)
		return scram_fail(s, SASL_FAIL_TEMP, "HMAC failed", "e=other-error");
	const char *v = arena_printf(sasl_server_arena(s), "v=%s",
		base64_arena(sasl_server_arena(s), sig, st->h->len));
	sasl_server_reply(s, v, strlen(v));
	return sasl_server_success(s, st->user);
}

static enum sasl_step_result scram_step(struct sasl_server *s, const unsigned char *in, size_t len)
{
	struct scram_server *st = sasl_server_state(s, sizeof(*st));
	st->h = sasl_server_mech(s)->scram;
	if (in == NULL)   /* RFC 4422 §5: no initial response, so an empty challenge */
		return SASL_STEP_CONTINUE;
	if (st->step == 0)
		return client_first(s, st, (const char *)in, len);
	return client_final(s, st, (const char *)in, len);
}

const struct sasl_server_mech sasl_mech_scram_sha1 = {
	.name = "SCRAM-SHA-1", .scram = &scram_sha1, .step = scram_step,
};
const struct sasl_server_mech sasl_mech_scram_sha1_plus = {
	.name = "SCRAM-SHA-1-PLUS", .needs_cb = true, .scram = &scram_sha1, .step = scram_step,
};
const struct sasl_server_mech sasl_mech_scram_sha256 = {
	.name = "SCRAM-SHA-256", .scram = &scram_sha256, .step = scram_step,
};
const struct sasl_server_mech sasl_mech_scram_sha256_plus = {
	.name = "SCRAM-SHA-256-PLUS", .needs_cb = true, .scram = &scram_sha256, .step = scram_step,
};
