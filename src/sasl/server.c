/*
 * server.c: the server side of a SASL exchange (RFC 4422 §3): the table of
 * mechanisms, which of them are offered, and the step loop the mechanisms
 * plug into. Each mechanism lives in its own file and sees the exchange only
 * through the accessors in internal.h.
 *
 * An exchange owns one ARENA_SECRET arena holding itself, the mechanism's
 * state and every message; sasl_server_free zeroes it all. Steps are
 * bounded: every mechanism finishes in at most three client messages, each
 * at most SASL_MSG_MAX bytes, and a finished exchange accepts nothing more.
 */
#include "sasl/internal.h"

#include "core/arena.h"
#include "core/tls.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Mechanisms in the order servers advertise them: strongest first. */
static const struct sasl_server_mech *const mechs[] = {
	&sasl_mech_scram_sha256_plus,
	&sasl_mech_scram_sha256,
	&sasl_mech_scram_sha1_plus,
	&sasl_mech_scram_sha1,
	&sasl_mech_cram_md5,
	&sasl_mech_plain,
	&sasl_mech_login,
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

/* Process-wide fallback secret for SCRAM's fake salts. */
#define SECRET_LEN 32

struct sasl_server {
	struct arena *arena;
	const struct sasl_server_mech *mech;
	struct sasl_server_opts opts;
	unsigned char cb[TLS_EXPORTER_LEN];
	bool have_cb;
	bool started;
	bool finished;
	bool unknown_user;
	void *state;
	const unsigned char *out;
	size_t outlen;
	char *username;
	char *nonce;
	enum sasl_failure failure;
	const char *failure_text;
};

static bool offered(const struct sasl_server_mech *m, bool tls, bool cb)
{
	return (!m->needs_tls || tls) && (!m->needs_cb || (tls && cb));
}

/* Longest advertised list: every name and a space after each. */
#define LIST_MAX 128

static pthread_once_t lists_once = PTHREAD_ONCE_INIT;
static char lists[3][LIST_MAX];   /* no TLS; TLS; TLS and channel binding */

static void lists_make(void)
{
	for (int l = 0; l < 3; l++) {
		size_t o = 0;
		for (size_t i = 0; i < NMECHS; i++) {
			if (!offered(mechs[i], l > 0, l == 2))
				continue;
			size_t n = strlen(mechs[i]->name);
			if (o + n + 2 > LIST_MAX)
				abort();   /* the table outgrew LIST_MAX */
			if (o > 0)
				lists[l][o++] = ' ';
			memcpy(lists[l] + o, mechs[i]->name, n);
			o += n;
		}
		lists[l][o] = '\0';
	}
}

const char *sasl_mechanisms_list(bool tls_active, bool have_channel_binding)
{
	pthread_once(&lists_once, lists_make);
	if (!tls_active)
		return lists[0];
	return lists[have_channel_binding ? 2 : 1];
}

struct sasl_server *sasl_server_new(const char *name, const struct sasl_server_opts *opts)
{
	const struct sasl_server_mech *m = NULL;
	for (size_t i = 0; i < NMECHS && m == NULL; i++)
		if (strcasecmp(name, mechs[i]->name) == 0)   /* RFC 4422 §3.1: names are case-insensitive */
			m = mechs[i];
	if (m == NULL || opts == NULL || opts->lookup == NULL ||
	    !offered(m, opts->tls_active, opts->cb_exporter != NULL))
		return NULL;
	if (m == &sasl_mech_cram_md5 && !cram_md5_hostname_valid(opts->hostname))
		return NULL;
	if (opts->secret != NULL && opts->secret_len < SASL_SECRET_MIN)
		return NULL;
	struct arena *a = arena_new(4096, ARENA_SECRET);
	struct sasl_server *s = arena_alloc(a, sizeof(*s));
	s->arena = a;
	s->mech = m;
	s->opts = *opts;
	if (opts->cb_exporter != NULL) {
		memcpy(s->cb, opts->cb_exporter, TLS_EXPORTER_LEN);
		s->have_cb = true;
	}
	s->opts.cb_exporter = NULL;   /* use sasl_server_cb: our copy */
	return s;
}

void sasl_server_free(struct sasl_server **s)
{
	if (*s == NULL)
		return;
	struct arena *a = (*s)->arena;
	arena_free(&a);
	*s = NULL;
}

static int step_fail(struct sasl_server *s, const char *text, const unsigned char **out_r,
	size_t *outlen_r)
{
	if (!s->finished)
		sasl_server_fail(s, SASL_FAIL_MALFORMED, text);
	*out_r = (const unsigned char *)"";
	*outlen_r = 0;
	return -1;
}

int sasl_server_step(struct sasl_server *s, const unsigned char *in, size_t len,
	const unsigned char **out_r, size_t *outlen_r, bool *done_r)
{
	*done_r = false;
	if (s->finished)
		return step_fail(s, "exchange already finished", out_r, outlen_r);
	if (in == NULL && s->started)
		return step_fail(s, "missing client response", out_r, outlen_r);
	if (in != NULL && len > SASL_MSG_MAX)
		return step_fail(s, "client response too long", out_r, outlen_r);
	s->started = true;
	s->out = (const unsigned char *)"";
	s->outlen = 0;
	enum sasl_step_result r = s->mech->step(s, in, len);
	*out_r = s->out;
	*outlen_r = s->outlen;
	if (r == SASL_STEP_FAIL) {
		if (!s->finished)   /* a mechanism forgot to say why */
			sasl_server_fail(s, SASL_FAIL_MALFORMED, "mechanism failed");
		return -1;
	}
	*done_r = r == SASL_STEP_DONE;
	return 0;
}

void sasl_server_abort(struct sasl_server *s)
{
	s->username = NULL;
	s->finished = true;
	s->failure = SASL_FAIL_ABORTED;
	s->failure_text = "client cancelled the exchange";
}

const char *sasl_server_mechanism(const struct sasl_server *s)
{
	return s->mech->name;
}

const char *sasl_server_username(const struct sasl_server *s)
{
	return s->failure == SASL_FAIL_NONE ? s->username : NULL;
}

enum sasl_failure sasl_server_failure(const struct sasl_server *s)
{
	return s->failure;
}

const char *sasl_server_failure_text(const struct sasl_server *s)
{
	return s->failure_text == NULL ? "" : s->failure_text;
}

bool sasl_server_user_unknown(const struct sasl_server *s)
{
	return s->unknown_user;
}

/* --- for mechanisms --- */

struct arena *sasl_server_arena(struct sasl_server *s)
{
	return s->arena;
}

const struct sasl_server_opts *sasl_server_opts(const struct sasl_server *s)
{
	return &s->opts;
}

const struct sasl_server_mech *sasl_server_mech(const struct sasl_server *s)
{
	return s->mech;
}

void *sasl_server_state(struct sasl_server *s, size_t size)
{
	if (s->state == NULL)
		s->state = arena_alloc(s->arena, size);
	return s->state;
}

const unsigned char *sasl_server_cb(const struct sasl_server *s)
{
	return s->have_cb ? s->cb : NULL;
}

void sasl_server_reply(struct sasl_server *s, const void *p, size_t n)
{
	unsigned char *o = arena_alloc(s->arena, n + 1);
	memcpy(o, p, n);
	s->out = o;
	s->outlen = n;
}

enum sasl_step_result sasl_server_success(struct sasl_server *s, const char *username)
{
	s->username = arena_strdup(s->arena, username);
	s->finished = true;
	return SASL_STEP_DONE;
}

enum sasl_step_result sasl_server_fail(struct sasl_server *s, enum sasl_failure kind,
	const char *text)
{
	s->finished = true;
	s->username = NULL;
	s->failure = kind;
	s->failure_text = text;
	return SASL_STEP_FAIL;
}

void sasl_server_set_unknown(struct sasl_server *s)
{
	s->unknown_user = true;
}

int sasl_server_lookup(struct sasl_server *s, const char *username,
	struct sasl_credentials *creds_r)
{
	memset(creds_r, 0, sizeof(*creds_r));
	int r = s->opts.lookup(s->opts.lookup_ctx, username, creds_r);
	if (r == 1)
		return 1;
	sasl_credentials_clear(creds_r);
	if (r == 0)
		return 0;
	sasl_server_fail(s, SASL_FAIL_TEMP, "credentials lookup failed");
	return -1;
}

static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static unsigned char process_secret[SECRET_LEN];

static void secret_make(void)
{
	if (RAND_bytes(process_secret, sizeof(process_secret)) != 1)
		abort();   /* no randomness: nothing safe to do */
}

void sasl_server_secret(const struct sasl_server *s, const unsigned char **p, size_t *n)
{
	if (s->opts.secret != NULL && s->opts.secret_len > 0) {
		*p = s->opts.secret;
		*n = s->opts.secret_len;
		return;
	}
	pthread_once(&secret_once, secret_make);
	*p = process_secret;
	*n = sizeof(process_secret);
}

void sasl_server_set_nonce(struct sasl_server *s, const char *nonce)
{
	s->nonce = arena_strdup(s->arena, nonce);
}

const char *sasl_server_nonce(const struct sasl_server *s)
{
	return s->nonce;
}
