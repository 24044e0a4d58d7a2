/*
 * auth.c: LOGIN (RFC 9051 §6.2.3) and AUTHENTICATE (RFC 9051 §6.2.2, with
 * SASL-IR, RFC 4959) through src/sasl: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
 * SCRAM-SHA-256 and their -PLUS variants with the tls-exporter channel
 * binding (RFC 5802, RFC 7677, RFC 9266). The LOGIN command runs as a PLAIN
 * exchange, so both share one password check (argon2id, with a dummy hash
 * for unknown users).
 *
 * Plaintext passwords are taken only inside TLS (RFC 9051 §6.2.3, RFC 8314
 * §3.3), unless the settings allow them (localserve on loopback). Failed
 * logins are throttled by the loginguard shared with SMTP submission (an
 * address with too many failures is refused, an account with too many is
 * slowed, each failure waits before its answer). Response codes: RFC 5530.
 */
#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "core/arena.h"
#include "core/base64.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/loginguard.h"

#include <stdio.h>
#include <string.h>

/* One login attempt: the name tried (for logs) and the throttling key (the
 * account it means, or "?name"). */
struct auth_try {
	struct imapsrv_session *s;
	struct loginguard_names n;
};
_Static_assert(LOGINGUARD_NAME_MAX == SASL_USERNAME_MAX, "login name sizes");

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	struct auth_try *t = ctx;
	const struct imapsrv_settings *set = t->s->set;
	loginguard_names_set(set->guard, set->login_account, set->login_ctx, username, &t->n);
	return set->auth_lookup(set->login_ctx, username, creds_r);
}

static bool tls_needed(const struct imapsrv_session *s)
{
	return !conn_tls_active(s->c) && !s->set->plaintext_login;
}

/* RFC 9051 §6.2.2: a challenge is "+ " and base64 (possibly empty). Reads
 * the client's answer into resp. Returns 1 with it, 0 for the client's
 * cancel "*", -1 when the connection broke, -2 when it is not base64. */
static int challenge(struct imapsrv_session *s, const unsigned char *out, size_t outlen,
                     struct buf *resp)
{
	struct error e;
	char b64[BASE64_ENCODED_LEN(SASL_MSG_MAX) + 1];
	if (outlen > SASL_MSG_MAX)
		outlen = SASL_MSG_MAX;
	b64[base64_encode(b64, out, outlen)] = '\0';
	if (conn_printf(s->c, &e, "+ %s\r\n", b64) != 0 || conn_flush(s->c, &e) != 0)
		return -1;
	const char *line;
	if (imap_read_sasl_line(s->c, s->cmd_arena, &line, &e) != 0) {
		if (e.kind != ERR_LIMIT && e.kind != ERR_INVALID)
			return -1;
		if (e.kind == ERR_LIMIT && conn_skip_line(s->c, &e) != 0)
			return -1;
		return -2;
	}
	if (strcmp(line, "*") == 0)
		return 0;
	buf_reset(resp);
	char *dst = buf_reserve(resp, SASL_MSG_MAX);
	long n = dst != NULL ? base64_decode((unsigned char *)dst, SASL_MSG_MAX, line, strlen(line))
	                     : -1;
	explicit_bzero((char *)line, strlen(line));
	if (n < 0)
		return -2;
	buf_commit(resp, (size_t)n);
	return 1;
}

enum outcome { AUTH_OK, AUTH_FAILED, AUTH_CANCELLED, AUTH_BAD_BASE64, AUTH_CLOSED };

/* Runs the exchange; resp holds the initial response when got is 1. */
static enum outcome exchange(struct imapsrv_session *s, struct sasl_server *sv, int got,
                             struct buf *resp)
{
	for (;;) {
		if (got == -2)
			return AUTH_BAD_BASE64;
		const unsigned char *out;
		size_t outlen;
		bool done;
		const unsigned char *in = got == 1 ? (const unsigned char *)resp->data : NULL;
		if (sasl_server_step(sv, in, got == 1 ? resp->len : 0, &out, &outlen, &done) != 0)
			return AUTH_FAILED;
		if (done && outlen == 0)
			return AUTH_OK;
		/* IMAP has no success data: SCRAM's "v=" goes in one more
		 * challenge, answered empty (RFC 4422 §4, RFC 9051 §6.2.2). */
		got = challenge(s, out, outlen, resp);
		if (got == 0) {
			sasl_server_abort(sv);
			return AUTH_CANCELLED;
		}
		if (got == -1)
			return AUTH_CLOSED;
		if (done)
			return got == 1 && resp->len == 0 ? AUTH_OK : AUTH_FAILED;
	}
}

static void log_auth(struct imapsrv_session *s, struct sasl_server *sv, const struct auth_try *t,
                     bool ok)
{
	loginguard_log("imapserver", s->remote_ip, sasl_server_mechanism(sv), &t->n,
	               ok ? NULL : sasl_server_failure_text(sv), sasl_server_user_unknown(sv));
}

/* The attempt counted by refused() ended without a password found wrong. */
static void attempt_void(struct imapsrv_session *s)
{
	if (s->set->guard != NULL)
		loginguard_attempt_void(s->set->guard, s->ip_key);
}

static void failed(struct imapsrv_session *s, struct sasl_server *sv, struct auth_try *t,
                   enum outcome o, struct imapsrv_result *r)
{
	log_auth(s, sv, t, false);
	if (o == AUTH_CANCELLED) {  /* RFC 9051 §6.2.2: BAD after the client's "*" */
		attempt_void(s);
		imapsrv_result_set(r, "BAD", NULL, "authentication cancelled");
		return;
	}
	if (o == AUTH_BAD_BASE64) {
		attempt_void(s);
		imapsrv_result_set(r, "BAD", NULL, "cannot decode the response: not base64");
		return;
	}
	enum sasl_failure why = sasl_server_failure(sv);
	if (why == SASL_FAIL_MALFORMED || why == SASL_FAIL_ABORTED) {
		attempt_void(s);
		imapsrv_result_set(r, "BAD", NULL, "malformed authentication exchange: %s",
		                   sasl_server_failure_text(sv));
		return;
	}
	if (s->set->guard != NULL)
		loginguard_attempt_failed(s->set->guard, s->ip_key, t->n.key);
	if (why == SASL_FAIL_TEMP)
		imapsrv_result_set(r, "NO", "UNAVAILABLE", "temporary authentication failure");
	else if (why == SASL_FAIL_AUTHZ)
		imapsrv_result_set(r, "NO", "AUTHORIZATIONFAILED", "authorization identity refused");
	else
		imapsrv_result_set(r, "NO", "AUTHENTICATIONFAILED", "invalid credentials");
}

static void succeeded(struct imapsrv_session *s, struct sasl_server *sv, struct auth_try *t,
                      const char *cmdname, struct imapsrv_result *r)
{
	if (!t->n.known) {  /* credentials without an account: configuration changed */
		attempt_void(s);
		imapsrv_result_set(r, "NO", "UNAVAILABLE", "account unavailable");
		return;
	}
	if (imapsrv_login_done(s, t->n.key, r) != 0) {
		attempt_void(s);
		return;
	}
	if (s->set->guard != NULL)
		loginguard_attempt_succeeded(s->set->guard, s->ip_key, t->n.key);
	log_auth(s, sv, t, true);
	/* RFC 9051 §6.2.2, §6.2.3: the capabilities may change; say them. */
	struct buf caps;
	buf_init(&caps, BUF_UNBOUNDED);
	buf_append_str(&caps, "CAPABILITY ");
	imapsrv_capabilities(s, &caps);
	imapsrv_result_set(r, "OK", arena_strdup(s->cmd_arena, caps.data), "%s completed", cmdname);
	buf_free(&caps);
}

/* Refuses a login attempt that may not even start; 0 when it may. The
 * attempt is counted as a failure of the address from now on (so that
 * attempts on many connections at once cannot pass the limit before the
 * first check ends), until it ends otherwise. */
static int refused(struct imapsrv_session *s, struct imapsrv_result *r)
{
	if (s->set->auth_lookup == NULL) {
		imapsrv_result_set(r, "NO", "UNAVAILABLE", "logins are not possible here");
		return -1;
	}
	if (s->set->guard != NULL && !loginguard_attempt(s->set->guard, s->ip_key)) {
		imapsrv_result_set(r, "NO", "UNAVAILABLE",
		                   "too many failed logins from your address, try again later");
		return -1;
	}
	return 0;
}

static struct sasl_server *server_new(struct imapsrv_session *s, const char *mech,
                                      struct auth_try *t)
{
	struct sasl_server_opts o = {
		.lookup = lookup,
		.lookup_ctx = t,
		.tls_active = conn_tls_active(s->c) || s->set->plaintext_login,
		.cb_exporter = s->have_cb ? s->cb : NULL,
		.plus_advertised = s->have_cb,
		.hostname = s->set->hostname,
		.secret = s->set->sasl_secret,
		.secret_len = s->set->sasl_secret_len,
	};
	return sasl_server_new(mech, &o);
}

/* Runs mechanism mech with the initial response in resp (got as for
 * exchange) and fills r. Returns -1 when the connection broke. */
static int authenticate(struct imapsrv_session *s, const char *mech, int got, struct buf *resp,
                        const char *cmdname, struct imapsrv_result *r)
{
	struct auth_try t = {.s = s};
	struct sasl_server *sv = server_new(s, mech, &t);
	if (sv == NULL) {
		attempt_void(s);
		imapsrv_result_set(r, "NO", "CANNOT", "unsupported authentication mechanism %s%s", mech,
		                   tls_needed(s) ? " without TLS" : "");
		return 0;
	}
	enum outcome o = exchange(s, sv, got, resp);
	if (o == AUTH_CLOSED) {
		if (s->set->guard != NULL)
			loginguard_attempt_abandoned(s->set->guard, s->ip_key);
		sasl_server_free(&sv);
		return -1;
	}
	if (o == AUTH_OK)
		succeeded(s, sv, &t, cmdname, r);
	else
		failed(s, sv, &t, o, r);
	sasl_server_free(&sv);
	return 0;
}

/* RFC 4959 §3: the initial response, "=" for an empty one. */
static int initial_response(const char *ir, struct buf *resp)
{
	if (ir == NULL)
		return 0;
	if (ir[0] == '\0' || strcmp(ir, "=") == 0)
		return 1;
	char *dst = buf_reserve(resp, SASL_MSG_MAX);
	long n = dst != NULL ? base64_decode((unsigned char *)dst, SASL_MSG_MAX, ir, strlen(ir)) : -1;
	if (n < 0)
		return -2;
	buf_commit(resp, (size_t)n);
	return 1;
}

int imapsrv_cmd_authenticate(struct imapsrv_session *s, const struct imap_command *cmd,
                             struct imapsrv_result *r)
{
	if (refused(s, r) != 0)
		return 0;
	struct buf resp;
	buf_init(&resp, SASL_MSG_MAX);
	int got = initial_response(cmd->initial, &resp);
	int rc = authenticate(s, cmd->mech, got, &resp, "AUTHENTICATE", r);
	buf_free_secret(&resp);
	return rc;
}

/* RFC 9051 §6.2.3: LOGIN is a PLAIN exchange without authorization id. */
int imapsrv_cmd_login(struct imapsrv_session *s, const struct imap_command *cmd,
                      struct imapsrv_result *r)
{
	if (tls_needed(s)) {  /* RFC 9051 §6.2.3 LOGINDISABLED, RFC 5530 */
		imapsrv_result_set(r, "NO", "PRIVACYREQUIRED", "LOGIN needs TLS: use STARTTLS first");
		return 0;
	}
	if (refused(s, r) != 0)
		return 0;
	size_t ul = strlen(cmd->user), pl = strlen(cmd->password);
	if (ul == 0 || ul > SASL_USERNAME_MAX || pl == 0 || pl > SASL_PASSWORD_MAX) {
		if (s->set->guard != NULL)  /* no such credentials: a failure */
			loginguard_attempt_failed(s->set->guard, s->ip_key, "");
		imapsrv_result_set(r, "NO", "AUTHENTICATIONFAILED", "invalid credentials");
		return 0;
	}
	struct buf msg;
	buf_init(&msg, SASL_MSG_MAX);
	buf_append_char(&msg, '\0');
	buf_append(&msg, cmd->user, ul);
	buf_append_char(&msg, '\0');
	buf_append(&msg, cmd->password, pl);
	int rc = authenticate(s, "PLAIN", 1, &msg, "LOGIN", r);
	buf_free_secret(&msg);
	return rc;
}
