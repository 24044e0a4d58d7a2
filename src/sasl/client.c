/*
 * client.c: the client side of PLAIN (RFC 4616) and SCRAM (RFC 5802 §5,
 * RFC 7677, -PLUS with tls-exporter per RFC 9266), for tests and for SMTP
 * AUTH to a smarthost.
 *
 * A SCRAM client verifies the server's signature before it reports done, so
 * a server that does not know the password cannot pass as the real one.
 * Everything, the password included, lives in the exchange's ARENA_SECRET
 * arena.
 */
#include "sasl/internal.h"

#include "core/arena.h"
#include "core/tls.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

struct sasl_client {
	struct arena *arena;
	const struct scram_hash *h;   /* NULL for PLAIN */
	bool plus;
	char *user, *password, *authzid;
	unsigned char cb[TLS_EXPORTER_LEN];
	bool have_cb;
	int step;
	bool finished;
	char *cnonce;
	char *gs2;
	char *first_bare;
	unsigned char server_sig[SASL_SCRAM_KEY_MAX];
	const char *error;
	const unsigned char *out;
	size_t outlen;
};

static const struct {
	const char *name;
	const struct scram_hash *h;
	bool plus;
} client_mechs[] = {
	{"PLAIN", NULL, false},
	{"SCRAM-SHA-1", &scram_sha1, false},
	{"SCRAM-SHA-1-PLUS", &scram_sha1, true},
	{"SCRAM-SHA-256", &scram_sha256, false},
	{"SCRAM-SHA-256-PLUS", &scram_sha256, true},
};

static bool name_ok(const char *n)
{
	size_t len = n == NULL ? 0 : strlen(n);
	return len > 0 && len <= SASL_USERNAME_MAX && sasl_utf8_valid((const unsigned char *)n, len);
}

struct sasl_client *sasl_client_new(const char *name, const struct sasl_client_opts *o)
{
	size_t i, n = sizeof(client_mechs) / sizeof(client_mechs[0]);
	for (i = 0; i < n; i++)
		if (strcasecmp(name, client_mechs[i].name) == 0)
			break;
	if (i == n || !name_ok(o->username) || o->password == NULL ||
	    (o->authzid != NULL && !name_ok(o->authzid)) ||
	    (client_mechs[i].plus && o->cb_exporter == NULL))
		return NULL;
	size_t pwlen = strlen(o->password);
	if (pwlen == 0 || pwlen > SASL_PASSWORD_MAX ||
	    !sasl_utf8_valid((const unsigned char *)o->password, pwlen))
		return NULL;
	struct arena *a = arena_new(4096, ARENA_SECRET);
	struct sasl_client *c = arena_alloc(a, sizeof(*c));
	c->arena = a;
	c->h = client_mechs[i].h;
	c->plus = client_mechs[i].plus;
	c->user = arena_strdup(a, o->username);
	c->password = arena_strdup(a, o->password);
	c->authzid = o->authzid == NULL ? NULL : arena_strdup(a, o->authzid);
	if (o->cb_exporter != NULL) {
		memcpy(c->cb, o->cb_exporter, TLS_EXPORTER_LEN);
		c->have_cb = true;
	}
	return c;
}

void sasl_client_free(struct sasl_client **c)
{
	if (*c == NULL)
		return;
	struct arena *a = (*c)->arena;
	arena_free(&a);
	*c = NULL;
}

void sasl_client_set_nonce(struct sasl_client *c, const char *nonce)
{
	c->cnonce = arena_strdup(c->arena, nonce);
}

const char *sasl_client_error(const struct sasl_client *c)
{
	return c->error == NULL ? "" : c->error;
}

static int client_fail(struct sasl_client *c, const char *why)
{
	c->error = why;
	c->finished = true;
	return -1;
}

static void client_reply(struct sasl_client *c, const char *p, size_t n)
{
	c->out = (const unsigned char *)p;
	c->outlen = n;
}

/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static int plain_step(struct sasl_client *c)
{
	size_t zl = c->authzid == NULL ? 0 : strlen(c->authzid);
	size_t ul = strlen(c->user), pl = strlen(c->password);
	char *m = arena_alloc(c->arena, zl + ul + pl + 2);
	if (zl > 0)
		memcpy(m, c->authzid, zl);
	memcpy(m + zl + 1, c->user, ul);
	memcpy(m + zl + ul + 2, c->password, pl);
	client_reply(c, m, zl + ul + pl + 2);
	c->finished = true;
	return 0;
}

/* client-first-message = gs2-header client-first-message-bare
 * gs2-header = gs2-cbind-flag "," [ authzid ] ","     (RFC 5802 §7)
 * The flag: "p=tls-exporter" for -PLUS (RFC 9266 §3), "y" when we could bind
 * but the server did not offer -PLUS, "n" when we cannot (RFC 5802 §6). */
static int scram_first(struct sasl_client *c)
{
	struct arena *a = c->arena;
	const char *flag = c->plus ? "p=tls-exporter" : c->have_cb ? "y" : "n";
	if (c->cnonce == NULL)
		c->cnonce = scram_nonce_new(a);
	c->gs2 = arena_printf(a, "%s,%s%s,", flag, c->authzid == NULL ? "" : "a=",
		c->authzid == NULL ? "" : scram_saslname_encode(a, c->authzid));
	c->first_bare = arena_printf(a, "n=%s,r=%s", scram_saslname_encode(a, c->user), c->cnonce);
	const char *m = arena_printf(a, "%s%s", c->gs2, c->first_bare);
	client_reply(c, m, strlen(m));
	c->step = 1;
	return 0;
}

struct server_first {
	const char *nonce;
	size_t nonce_len;
	unsigned char salt[SASL_SCRAM_SALT_MAX];
	size_t salt_len;
	unsigned iter;
};

/* server-first-message = [reserved-mext ","] nonce "," salt ","
 *                        iteration-count ["," extensions]     (RFC 5802 §7)
 * The nonce must start with ours and add to it (§5.1). */
static int parse_server_first(struct sasl_client *c, const char *m, size_t len,
	struct server_first *sf)
{
	size_t pos = 0, cl = strlen(c->cnonce);
	struct scram_attr at;
	long sl;
	if (!sasl_utf8_valid((const unsigned char *)m, len) ||
	    scram_next_attr(m, len, &pos, &at, false) != 1)
		return client_fail(c, "server-first-message is malformed");
	if (at.name == 'm')
		return client_fail(c, "server requires an unknown extension");
	if (at.name != 'r' || !scram_nonce_valid(at.value, at.len) || at.len <= cl ||
	    memcmp(at.value, c->cnonce, cl) != 0)
		return client_fail(c, "server nonce does not extend the client nonce");
	sf->nonce = at.value;
	sf->nonce_len = at.len;
	if (scram_next_attr(m, len, &pos, &at, false) != 1 || at.name != 's' ||
	    (sl = base64_decode(sf->salt, sizeof(sf->salt), at.value, at.len)) <= 0)
		return client_fail(c, "server salt is malformed");
	sf->salt_len = (size_t)sl;
	if (scram_next_attr(m, len, &pos, &at, false) != 1 || at.name != 'i' ||
	    scram_parse_iter(at.value, at.len, &sf->iter) != 0)
		return client_fail(c, "server iteration count is malformed or out of range");
	int r;
	while ((r = scram_next_attr(m, len, &pos, &at, false)) == 1)
		;   /* extensions: none defined, ignored */
	return r < 0 ? client_fail(c, "server-first-message is malformed") : 0;
}

/* c= value: base64(gs2-header [ cbind-data ])   (RFC 5802 §7, RFC 9266 §3) */
static char *cbind_b64(struct sasl_client *c)
{
	size_t gl = strlen(c->gs2);
	unsigned char *in = arena_alloc(c->arena, gl + TLS_EXPORTER_LEN);
	memcpy(in, c->gs2, gl);
	if (c->plus) {
		memcpy(in + gl, c->cb, TLS_EXPORTER_LEN);
		gl += TLS_EXPORTER_LEN;
	}
	return base64_arena(c->arena, in, gl);
}

/* client-final-message = "c=" base64 "," nonce ["," extensions] "," proof
 * ClientProof := ClientKey XOR HMAC(StoredKey, AuthMessage)   (RFC 5802 §3) */
static int scram_final(struct sasl_client *c, const char *m, size_t len)
{
	struct server_first sf;
	unsigned char salted[SASL_SCRAM_KEY_MAX], ck[SASL_SCRAM_KEY_MAX], sk[SASL_SCRAM_KEY_MAX];
	unsigned char srvk[SASL_SCRAM_KEY_MAX], sig[SASL_SCRAM_KEY_MAX];
	const struct scram_hash *h = c->h;
	if (parse_server_first(c, m, len, &sf) != 0)
		return -1;
	struct arena *a = c->arena;
	const char *wp = arena_printf(a, "c=%s,r=%.*s", cbind_b64(c), (int)sf.nonce_len, sf.nonce);
	const char *am = arena_printf(a, "%s,%.*s,%s", c->first_bare, (int)len, m, wp);
	int r = scram_hi(h, c->password, strlen(c->password), sf.salt, sf.salt_len, sf.iter, salted);
	r = r != 0 ? r : scram_keys_from_salted(h, salted, ck, sk, srvk);
	r = r != 0 ? r : scram_hmac(h, sk, h->len, am, strlen(am), sig);
	for (size_t i = 0; r == 0 && i < h->len; i++)
		ck[i] ^= sig[i];   /* now ClientProof */
	r = r != 0 ? r : scram_hmac(h, srvk, h->len, am, strlen(am), c->server_sig);
	const char *out = r != 0 ? NULL : arena_printf(a, "%s,p=%s", wp, base64_arena(a, ck, h->len));
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	OPENSSL_cleanse(srvk, sizeof(srvk));
	if (out == NULL)
		return client_fail(c, "SCRAM key computation failed");
	client_reply(c, out, strlen(out));
	c->step = 2;
	return 0;
}

/* server-final-message = (server-error / verifier) ["," extensions]
 * verifier = "v=" base64                                   (RFC 5802 §7) */
static int scram_verify_server(struct sasl_client *c, const char *m, size_t len)
{
	size_t pos = 0;
	struct scram_attr at;
	unsigned char got[SASL_SCRAM_KEY_MAX];
	if (!sasl_utf8_valid((const unsigned char *)m, len) ||
	    scram_next_attr(m, len, &pos, &at, false) != 1)
		return client_fail(c, "server-final-message is malformed");
	if (at.name == 'e')
		return client_fail(c, "server reported a SCRAM error");
	if (at.name != 'v' || base64_decode(got, sizeof(got), at.value, at.len) != (long)c->h->len)
		return client_fail(c, "server-final-message is malformed");
	if (CRYPTO_memcmp(got, c->server_sig, c->h->len) != 0)
		return client_fail(c, "server signature is wrong: the server does not know the password");
	c->finished = true;
	client_reply(c, "", 0);
	return 0;
}

int sasl_client_step(struct sasl_client *c, const unsigned char *in, size_t len,
	const unsigned char **out_r, size_t *outlen_r, bool *done_r)
{
	int r;
	*done_r = false;
	*out_r = (const unsigned char *)"";
	*outlen_r = 0;
	if (c->finished)
		return client_fail(c, "exchange already finished");
	if (in != NULL && len > SASL_MSG_MAX)
		return client_fail(c, "server message too long");
	if (c->step == 0 && in != NULL && len > 0)   /* only an empty challenge may come first */
		return client_fail(c, "unexpected server data before the initial response");
	if (c->step > 0 && in == NULL)
		return client_fail(c, "missing server message");
	c->outlen = 0;
	if (c->h == NULL)
		r = plain_step(c);
	else if (c->step == 0)
		r = scram_first(c);
	else if (c->step == 1)
		r = scram_final(c, (const char *)in, len);
	else
		r = scram_verify_server(c, (const char *)in, len);
	if (r != 0)
		return -1;
	*out_r = c->out;
	*outlen_r = c->outlen;
	*done_r = c->finished;
	return 0;
}
