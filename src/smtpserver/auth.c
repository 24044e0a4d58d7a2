/*
 * auth.c: AUTH in submission sessions (RFC 4954) through src/sasl: PLAIN,
 * LOGIN, CRAM-MD5, SCRAM-SHA-1/256 and their -PLUS variants with the
 * tls-exporter channel binding (RFC 5802, RFC 7677, RFC 9266).
 *
 * AUTH is offered only on submission ports and only inside TLS (RFC 8314
 * §3.3 wants TLS for all mail submission; RFC 4954 §4 forbids plaintext
 * passwords without it). Failed logins are throttled: an address with too
 * many recent failures is refused for a while, and logins to an account with
 * too many (from anywhere) are slowed down, not refused, so that nobody can
 * lock a user out; each failure also waits a moment before its reply.
 */
#include "smtpserver/session.h"

#include "core/base64.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"
#include "core/log.h"
#include "core/loginguard.h"

#include <stdio.h>
#include <string.h>

void session_tls_started(struct session *ss)
{
	struct tls_desc d;
	if (conn_tls_describe(ss->c, &d)) {
		snprintf(ss->tls_desc, sizeof(ss->tls_desc), "%s %s", d.version, d.cipher);
		ss->txn.tls = ss->tls_desc;
	}
	struct error e;
	ss->have_cb = conn_tls_exporter(ss->c, ss->cb, &e) == 0;
}

bool session_auth_offered(const struct session *ss)
{
	return ss->s->mode != SMTPSERVER_RECEIVE && ss->s->backend->auth_lookup != NULL &&
	       conn_tls_active(ss->c) && ss->txn.user == NULL;
}

/* Wraps the backend's lookup: remembers the name tried (for logs) and the
 * account it means (for throttling per account, whichever address or
 * spelling names it), and slows down logins to an account with many recent
 * failures. */
struct auth_try {
	struct session *ss;
	struct loginguard_names n;
};
_Static_assert(LOGINGUARD_NAME_MAX == SASL_USERNAME_MAX, "login name sizes");

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	struct auth_try *t = ctx;
	const struct smtpserver_settings *s = t->ss->s;
	loginguard_names_set(s->limits != NULL ? s->limits->logins : NULL, s->backend->login_account,
	                     s->backend->ctx, username, &t->n);
	return s->backend->auth_lookup(s->backend->ctx, username, creds_r);
}

/* Sends a 334 challenge and reads the answer into resp (decoded). Returns 1
 * with the answer, 0 if the client cancelled with "*", -1 when the session
 * ends, -2 for an answer that is not base64. */
static int challenge(struct session *ss, const unsigned char *out, size_t outlen,
                     struct buf *resp)
{
	struct error e;
	char b64[BASE64_ENCODED_LEN(SASL_MSG_MAX) + 1];
	if (outlen > SASL_MSG_MAX)
		outlen = SASL_MSG_MAX;
	base64_encode(b64, out, outlen);
	if (conn_printf(ss->c, &e, "334 %s\r\n", b64) != 0 || conn_flush(ss->c, &e) != 0)
		return -1;
	struct conn_line line;
	if (conn_read_line(ss->c, &line, &e) != 0) {
		struct error e2;
		if (e.kind == ERR_LIMIT)
			return conn_skip_line(ss->c, &e2) == 0 ? -2 : -1;
		session_read_failed(ss, &e);
		return -1;
	}
	if (line.len == 1 && line.data[0] == '*')  /* RFC 4954 §4 */
		return 0;
	buf_reset(resp);
	char *dst = buf_reserve(resp, SASL_MSG_MAX);
	long n = dst != NULL ? base64_decode((unsigned char *)dst, SASL_MSG_MAX, line.data, line.len) : -1;
	if (n < 0)
		return -2;
	buf_commit(resp, (size_t)n);
	return 1;
}

/* The initial response of the AUTH line: NULL (none), "=" (empty) or base64.
 * Returns 1 with resp set, 0 when there is none, -2 when it is not base64. */
static int initial(const char *ir, struct buf *resp)
{
	if (ir == NULL)
		return 0;
	if (strcmp(ir, "=") == 0)  /* RFC 4954 §4: "=" is an empty initial response */
		return 1;
	char *dst = buf_reserve(resp, SASL_MSG_MAX);
	long n = dst != NULL ? base64_decode((unsigned char *)dst, SASL_MSG_MAX, ir, strlen(ir)) : -1;
	if (n < 0)
		return -2;
	buf_commit(resp, (size_t)n);
	return 1;
}

enum outcome { AUTH_OK, AUTH_FAILED, AUTH_CANCELLED, AUTH_BAD_BASE64, AUTH_CLOSED };

/* Runs the exchange to its end. */
static enum outcome exchange(struct session *ss, struct sasl_server *sv, const char *ir)
{
	struct buf resp;
	buf_init(&resp, SASL_MSG_MAX);
	int got = initial(ir, &resp);
	enum outcome o = AUTH_FAILED;
	for (;;) {
		if (got == -2) {
			o = AUTH_BAD_BASE64;
			break;
		}
		const unsigned char *out;
		size_t outlen;
		bool done;
		const unsigned char *in = got == 1 ? (const unsigned char *)resp.data : NULL;
		if (sasl_server_step(sv, in, resp.len, &out, &outlen, &done) != 0)
			break;
		if (done && outlen == 0) {
			o = AUTH_OK;
			break;
		}
		/* RFC 4954 §4: success data goes in one more 334, answered empty */
		got = challenge(ss, out, outlen, &resp);
		if (got == 0) {
			sasl_server_abort(sv);
			o = AUTH_CANCELLED;
			break;
		}
		if (got == -1) {
			o = AUTH_CLOSED;
			break;
		}
		if (done) {
			o = got == 1 && resp.len == 0 ? AUTH_OK : AUTH_FAILED;
			break;
		}
	}
	buf_free_secret(&resp);
	return o;
}

static void log_auth(struct session *ss, struct sasl_server *sv, const struct auth_try *t,
                     bool ok)
{
	loginguard_log("smtpserver", ss->remote_ip, sasl_server_mechanism(sv), &t->n,
	               ok ? NULL : sasl_server_failure_text(sv), sasl_server_user_unknown(sv));
}

/* How the login attempt counted by refuse() ended (loginguard.h). */
enum attempt_end { ATTEMPT_VOID, ATTEMPT_ABANDONED, ATTEMPT_SUCCEEDED };

static void attempt_end(struct session *ss, enum attempt_end how, const char *account_key)
{
	struct loginguard *g = ss->s->limits != NULL ? ss->s->limits->logins : NULL;
	if (g == NULL)
		return;
	if (how == ATTEMPT_VOID)
		loginguard_attempt_void(g, ss->ip_key);
	else if (how == ATTEMPT_ABANDONED)
		loginguard_attempt_abandoned(g, ss->ip_key);
	else
		loginguard_attempt_succeeded(g, ss->ip_key, account_key);
}

static int failed(struct session *ss, struct sasl_server *sv, struct auth_try *t, enum outcome o)
{
	const struct smtpserver_settings *s = ss->s;
	log_auth(ss, sv, t, false);
	enum sasl_failure why = sasl_server_failure(sv);
	if (o == AUTH_CANCELLED || o == AUTH_BAD_BASE64 || why == SASL_FAIL_MALFORMED)
		attempt_end(ss, ATTEMPT_VOID, NULL);
	if (o == AUTH_CANCELLED)
		return session_reply(ss, 501, "5.0.0", "Authentication cancelled");
	if (o == AUTH_BAD_BASE64)
		return session_reply(ss, 501, "5.5.2", "Cannot decode the response: not base64");
	if (why == SASL_FAIL_MALFORMED)
		return session_reply(ss, 501, "5.5.2", "Malformed authentication exchange: %s",
		                     sasl_server_failure_text(sv));
	if (s->limits != NULL)  /* counted when it started; waits a moment */
		loginguard_attempt_failed(s->limits->logins, ss->ip_key, t->n.key);
	if (why == SASL_FAIL_TEMP)
		return session_reply(ss, 454, "4.7.0", "Temporary authentication failure");
	return session_reply(ss, 535, "5.7.8", "Authentication credentials invalid");
}

static int refuse(struct session *ss)
{
	const struct smtpserver_settings *s = ss->s;
	if (s->mode == SMTPSERVER_RECEIVE || s->backend->auth_lookup == NULL)
		return session_reply(ss, 503, "5.5.1", "AUTH is not available on this port; use submission");
	if (ss->txn.ehlo == NULL)  /* RFC 4954 §4, RFC 3207 §4.2: EHLO (again after STARTTLS) first */
		return session_reply(ss, 503, "5.5.1", "Say EHLO first");
	if (!conn_tls_active(ss->c))  /* RFC 4954 §6 */
		return session_reply(ss, 538, "5.7.11", "Encryption required: use STARTTLS first");
	if (ss->txn.user != NULL)
		return session_reply(ss, 503, "5.5.1", "Already authenticated");
	if (ss->in_txn)
		return session_reply(ss, 503, "5.5.1", "AUTH is not allowed during a mail transaction");
	/* counted as a failure from now on, until it ends otherwise, so that
	 * attempts on many connections at once cannot pass the limit */
	if (s->limits != NULL && !loginguard_attempt(s->limits->logins, ss->ip_key))
		return session_reply(ss, 454, "4.7.0", "Too many failed logins from your address, try again later");
	return 1;
}

int session_auth(struct session *ss, const struct smtp_command *cmd)
{
	int r = refuse(ss);
	if (r != 1)
		return r;
	struct auth_try t = {.ss = ss};
	struct sasl_server_opts o = {
		.lookup = lookup,
		.lookup_ctx = &t,
		.tls_active = true,
		.cb_exporter = ss->have_cb ? ss->cb : NULL,
		.plus_advertised = ss->have_cb,
		.hostname = ss->s->hostname,
		.secret = ss->s->sasl_secret,
		.secret_len = ss->s->sasl_secret_len,
	};
	struct sasl_server *sv = sasl_server_new(cmd->arg, &o);
	if (sv == NULL) {  /* RFC 4954 §6 */
		attempt_end(ss, ATTEMPT_VOID, NULL);
		return session_reply(ss, 504, "5.5.4", "Unrecognized authentication type %s", cmd->arg);
	}
	enum outcome out = exchange(ss, sv, cmd->auth_initial);
	if (out == AUTH_CLOSED) {
		attempt_end(ss, ATTEMPT_ABANDONED, NULL);
		sasl_server_free(&sv);
		return -1;
	}
	if (out != AUTH_OK) {
		r = failed(ss, sv, &t, out);
		sasl_server_free(&sv);
		return r;
	}
	snprintf(ss->user, sizeof(ss->user), "%s", sasl_server_username(sv));
	ss->txn.user = ss->user;
	attempt_end(ss, ATTEMPT_SUCCEEDED, t.n.key);
	log_auth(ss, sv, &t, true);
	sasl_server_free(&sv);
	return session_reply(ss, 235, "2.7.0", "Authentication successful");
}
