/*
 * session.c: the SMTP dialogue with one server (RFC 5321 §3, §4): greeting,
 * EHLO (HELO after a 5xx, §3.2), STARTTLS (RFC 3207) at the host's security
 * level and EHLO again, AUTH for a smarthost (RFC 4954), the checks that
 * need the server's extensions (SIZE, 8BITMIME, SMTPUTF8, REQUIRETLS), MAIL
 * and RCPTs (pipelined, RFC 2920), DATA with dot-stuffing or BDAT (RFC
 * 3030), QUIT. Replies are read whole (multi-line, enhanced status codes).
 */
#include "smtpclient/internal.h"

#include "core/arena.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"
#include "core/tls.h"
#include "sasl/sasl.h"
#include "smtp/smtp.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The RFC 5321 §4.5.3.2 timeout, or the configured shorter one. */
static unsigned timeout_of(const struct attempt *a, unsigned rfc_ms)
{
	unsigned t = a->o->command_timeout_ms;
	return t > 0 && t < rfc_ms ? t : rfc_ms;
}

static enum smtpclient_status status_of_code(int code)
{
	if (code >= 200 && code < 300)
		return SMTPCLIENT_DELIVERED;
	return code >= 500 && code < 600 ? SMTPCLIENT_PERMFAIL : SMTPCLIENT_TEMPFAIL;
}

/* Recipient i's result from the server's reply. */
static void rcpt_from_reply(struct session *s, size_t i, const struct reply *r)
{
	struct smtpclient_result *res = &s->a->rcpts[i].result;
	smtpclient_result_set(res, status_of_code(r->code), r->code, r->enhanced, "%s", r->text);
	snprintf(res->remote_mta, sizeof(res->remote_mta), "%s", s->host);
	snprintf(res->remote_ip, sizeof(res->remote_ip), "%s", s->ip);
	res->dsn_passed = s->ext.dsn;
	s->a->answered[i] = true;
}

/* Our name in EHLO/HELO: the route's (a proxy's outgoing name) or ours. */
static const char *session_ehlo_name(const struct session *s)
{
	const char *r = s->a->route->ehlo_name;
	return r != NULL && r[0] != '\0' ? r : s->a->o->ehlo_name;
}

/*
 * Replies.
 */

/* Reads one reply (§4.2: lines "NNN-text", the last "NNN text"), joins the
 * lines with "; " into text, keeps the enhanced code (RFC 2034 §4). */
int session_read_reply(struct session *s, unsigned timeout_ms, struct reply *r, struct error *e)
{
	struct buf raw;
	buf_init(&raw, REPLY_LINES_MAX * (REPLY_LINE_MAX + 2));
	arena_reset(s->reply_arena);
	conn_set_idle_timeout(s->c, timeout_ms);
	int ret = -1;
	for (size_t n = 0;; n++) {
		struct conn_line line;
		if (conn_read_line(s->c, &line, e) < 0)
			goto out;
		if (n == REPLY_LINES_MAX) {
			error_set(e, ERR_LIMIT, "reply of more than %d lines", REPLY_LINES_MAX);
			goto out;
		}
		int code;
		bool more;
		const char *t;
		size_t tl;
		if (smtp_reply_parse_line(line.data, line.len, &code, &more, &t, &tl, e) < 0)
			goto out;
		buf_append(&raw, line.data, line.len);
		buf_append(&raw, "\r\n", 2);
		if (!more)
			break;
	}
	struct smtp_reply parsed;
	if (smtp_reply_parse(raw.data, raw.len, s->reply_arena, &parsed, e) <= 0) {
		if (e->kind == ERR_NONE)
			error_set(e, ERR_INVALID, "incomplete reply");
		goto out;
	}
	r->code = parsed.code;
	memcpy(r->enhanced, parsed.enhanced, sizeof(r->enhanced));
	r->nlines = parsed.n;
	size_t used = 0;
	r->text[0] = '\0';
	for (size_t i = 0; i < parsed.n; i++) {
		r->lines[i] = parsed.lines[i];
		int w = snprintf(r->text + used, sizeof(r->text) - used, "%s%s", i ? "; " : "",
			parsed.lines[i]);
		if (w < 0 || (size_t)w >= sizeof(r->text) - used) {
			used = sizeof(r->text) - 1;
		} else {
			used += (size_t)w;
		}
	}
	ret = 0;
out:
	buf_free(&raw);
	return ret;
}

static int send_line(struct session *s, struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int send_line(struct session *s, struct error *e, const char *fmt, ...)
{
	char line[SMTP_COMMAND_LINE_MAX * 4];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= sizeof(line))
		return error_set(e, ERR_LIMIT, "command too long");
	memcpy(line + n, "\r\n", 3);
	return conn_write(s->c, line, (size_t)n + 2, e);
}

/* Sends a command and reads its reply. */
static int command(struct session *s, unsigned timeout_ms, struct reply *r, struct error *e,
	const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int command(struct session *s, unsigned timeout_ms, struct reply *r, struct error *e,
	const char *fmt, ...)
{
	char line[SMTP_COMMAND_LINE_MAX * 4];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return error_set(e, ERR_LIMIT, "command too long");
	conn_set_idle_timeout(s->c, timeout_ms);
	if (send_line(s, e, "%s", line) < 0 || conn_flush(s->c, e) < 0)
		return -1;
	return session_read_reply(s, timeout_ms, r, e);
}

static void quit(struct session *s)
{
	struct reply r;
	struct error e;
	(void)command(s, timeout_of(s->a, 10000), &r, &e, "QUIT");
}

/*
 * TLS.
 */

/* RFC 8460 §4.3 result type for a failed certificate check. */
static const char *verify_failure_type(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate-expired";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "certificate-not-trusted";
	default:
		return "validation-failure";
	}
}

static struct tls_client *pkix_client(struct attempt *a, struct error *e)
{
	if (a->tls_pkix != NULL)
		return a->tls_pkix;
	struct tls_client_opts to = { .verify = TLS_VERIFY_SYSTEM };
	a->tls_pkix = tls_client_new(&to, e);
	if (a->tls_pkix != NULL && a->o->ca_file != NULL &&
	    SSL_CTX_load_verify_locations(tls_client_ctx(a->tls_pkix), a->o->ca_file, NULL) != 1) {
		tls_client_free(&a->tls_pkix);
		error_set(e, ERR_TLS, "cannot load CA file %s", a->o->ca_file);
	}
	return a->tls_pkix;
}

static struct tls_client *dane_client(struct attempt *a, struct error *e)
{
	if (a->tls_dane != NULL)
		return a->tls_dane;
	struct tls_client_opts to = { .verify = TLS_VERIFY_SYSTEM };
	a->tls_dane = tls_client_new(&to, e);
	if (a->tls_dane != NULL && SSL_CTX_dane_enable(tls_client_ctx(a->tls_dane)) <= 0) {
		tls_client_free(&a->tls_dane);
		error_set(e, ERR_TLS, "OpenSSL: DANE not available");
	}
	return a->tls_dane;
}

static struct tls_client *opportunistic_client(struct attempt *a, struct error *e)
{
	if (a->tls_opportunistic == NULL) {
		struct tls_client_opts to = { .verify = TLS_VERIFY_NONE };
		a->tls_opportunistic = tls_client_new(&to, e);
	}
	return a->tls_opportunistic;
}

/* The SSL for the host's security level, or NULL with e set. */
static SSL *session_ssl(struct session *s, struct error *e)
{
	struct attempt *a = s->a;
	struct tls_client *client;
	switch (s->sec) {
	case SEC_DANE:
		if ((client = dane_client(a, e)) == NULL)
			return NULL;
		break;
	case SEC_STS_ENFORCE:
	case SEC_STS_TESTING:
	case SEC_PKIX:
		if ((client = pkix_client(a, e)) == NULL)
			return NULL;
		break;
	default:
		if ((client = opportunistic_client(a, e)) == NULL)
			return NULL;
		return tls_client_ssl_new(client, s->host, e);
	}
	SSL *ssl = tls_client_ssl_new(client, s->host, e);
	if (ssl == NULL)
		return NULL;
	if (s->sec == SEC_STS_TESTING) {
		/* RFC 8461 §5: testing mode delivers anyway; the check result is
		 * read after the handshake and only reported. */
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	} else if (s->sec == SEC_DANE &&
	           dane_ssl_setup(ssl, s->dane->base, a->route->domain, s->dane) < 0) {
		SSL_free(ssl);
		error_set(e, ERR_TLS, "no TLSA record of %s could be used", s->host);
		return NULL;
	} else if (s->sec == SEC_DANE && strcasecmp(s->dane->base, s->host) != 0 &&
	           SSL_add1_host(ssl, s->host) != 1) {
		/* RFC 7672 §2.2.2: the MX host name stays a reference identifier
		 * beside its expanded name */
		SSL_free(ssl);
		error_set(e, ERR_TLS, "cannot set the name %s for DANE", s->host);
		return NULL;
	}
	return ssl;
}

static bool sec_requires_tls(enum host_security sec)
{
	return sec == SEC_ENCRYPT || sec == SEC_DANE || sec == SEC_STS_ENFORCE || sec == SEC_PKIX;
}

/* After the TLS handshake: whether the session's verification holds. */
static int check_verified(struct session *s, char *why, size_t whysize)
{
	SSL *ssl = conn_ssl(s->c);
	long v = SSL_get_verify_result(ssl);
	if (s->sec == SEC_DANE) {
		/* the handshake fails when no TLSA record matches; check anyway */
		if (v != X509_V_OK || SSL_get0_dane_authority(ssl, NULL, NULL) < 0) {
			snprintf(why, whysize, "DANE verification failed: %s",
				X509_verify_cert_error_string(v));
			session_report_tls(s, true, "validation-failure");
			session_report_tls_info(s, why);
			return -1;
		}
		s->verified = true;
	} else if (s->sec == SEC_STS_ENFORCE || s->sec == SEC_STS_TESTING || s->sec == SEC_PKIX) {
		if (v != X509_V_OK) {
			snprintf(why, whysize, "certificate of %s: %s", s->host,
				X509_verify_cert_error_string(v));
			session_report_tls(s, true, verify_failure_type(v));
			session_report_tls_info(s, why);
			return s->sec == SEC_STS_TESTING ? 0 : -1;
		}
		s->verified = true;
	}
	session_report_tls(s, true, NULL);
	return 0;
}

/*
 * The session.
 */

static int ehlo(struct session *s, struct reply *r, struct error *e)
{
	unsigned t = timeout_of(s->a, T_OTHER_MS);
	if (command(s, t, r, e, "EHLO %s", session_ehlo_name(s)) < 0)
		return -1;
	if (r->code / 100 == 2) {
		ehlo_ext_parse(r->lines, r->nlines, &s->ext);
		return 0;
	}
	if (r->code / 100 != 5)
		return 0;
	/* §3.2: a server that does not know EHLO answers 5xx: use HELO */
	memset(&s->ext, 0, sizeof(s->ext));
	return command(s, t, r, e, "HELO %s", session_ehlo_name(s));
}

/* STARTTLS as the host's security level asks. Returns SESSION_DONE to go on
 * with the session (over TLS, or plain text where that is allowed). */
static enum session_end starttls(struct session *s)
{
	struct reply r;
	struct error e = {0};
	char why[512];
	if (!s->ext.starttls) {
		if (!sec_requires_tls(s->sec)) {
			session_report_tls(s, false, NULL);
			return SESSION_DONE;   /* RFC 7435: plain text when TLS is not offered */
		}
		/* RFC 7672 §2.2, RFC 8461 §5: TLS is required */
		session_report_tls(s, false, "starttls-not-supported");
		session_report_tls_info(s, "STARTTLS not offered in the EHLO reply");
		quit(s);
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.4",
			"STARTTLS not offered, but TLS is required for this host");
	}
	if (command(s, timeout_of(s->a, T_OTHER_MS), &r, &e, "STARTTLS") < 0)
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.4.2", e.msg);
	if (r.code != 220) {
		if (!sec_requires_tls(s->sec)) {
			session_report_tls(s, false, NULL);
			return SESSION_DONE;
		}
		session_report_tls(s, false, "starttls-not-supported");
		snprintf(why, sizeof(why), "STARTTLS refused: %d %.400s", r.code, r.text);
		session_report_tls_info(s, why);
		quit(s);
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, r.code, r.enhanced, r.text);
	}
	SSL *ssl = session_ssl(s, &e);
	if (ssl == NULL) {
		session_report_tls(s, false, "validation-failure");
		session_report_tls_info(s, e.msg);
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.5", e.msg);
	}
	conn_set_idle_timeout(s->c, timeout_of(s->a, T_OTHER_MS));
	if (conn_starttls_client_ssl(s->c, ssl, &e) < 0) {
		SSL *failed = conn_ssl(s->c);
		long v = failed != NULL ? SSL_get_verify_result(failed) : X509_V_OK;
		const char *type = v != X509_V_OK && s->sec != SEC_OPPORTUNISTIC ?
			(s->sec == SEC_DANE ? "validation-failure" : verify_failure_type(v)) :
			"validation-failure";
		session_report_tls(s, false, type);
		snprintf(why, sizeof(why), "TLS with %.200s failed: %.280s", s->host, e.msg);
		session_report_tls_info(s, e.msg);
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.5", why);
	}
	if (check_verified(s, why, sizeof(why)) < 0) {
		quit(s);
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.5", why);
	}
	/* RFC 3207 §4.2: forget what the server said before TLS; EHLO again */
	if (ehlo(s, &r, &e) < 0)
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.4.2", e.msg);
	if (r.code / 100 != 2) {
		quit(s);
		return session_next_host(s, status_of_code(r.code), r.code, r.enhanced, r.text);
	}
	return SESSION_DONE;
}

/* The best mechanism both sides have: SCRAM with channel binding to the
 * TLS session (RFC 5802 §6, tls-exporter RFC 9266), SCRAM, or PLAIN (only
 * under TLS, RFC 4954 §4). *cb_r: whether the binding goes to the client. */
static const char *auth_mechanism(const struct session *s, bool have_cb, bool *cb_r)
{
	const struct ehlo_ext *x = &s->ext;
	bool plus_offered = x->auth_scram_sha256_plus || x->auth_scram_sha1_plus;
	*cb_r = have_cb;
	if (have_cb && x->auth_scram_sha256_plus)
		return "SCRAM-SHA-256-PLUS";
	if (have_cb && x->auth_scram_sha1_plus)
		return "SCRAM-SHA-1-PLUS";
	/* §6: a client that could bind says "y" only when the server offers no
	 * -PLUS mechanism; otherwise it must not send the binding flag */
	*cb_r = have_cb && !plus_offered;
	if (x->auth_scram_sha256)
		return "SCRAM-SHA-256";
	if (x->auth_scram_sha1)
		return "SCRAM-SHA-1";
	*cb_r = false;
	return x->auth_plain && conn_tls_active(s->c) ? "PLAIN" : NULL;
}

/* RFC 4954 AUTH to a smarthost. */
static enum session_end authenticate(struct session *s)
{
	const struct smtpclient_route *rt = s->a->route;
	unsigned char cb[TLS_EXPORTER_LEN];
	struct error cbe;
	bool have_cb = conn_tls_active(s->c) && conn_tls_exporter(s->c, cb, &cbe) == 0, use_cb;
	const char *mech = auth_mechanism(s, have_cb, &use_cb);
	if (mech == NULL) {
		quit(s);
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.0",
			"no usable AUTH mechanism offered (PLAIN needs TLS)");
	}
	struct sasl_client_opts so = { .username = rt->auth_user, .password = rt->auth_password,
		.cb_exporter = use_cb ? cb : NULL };
	struct sasl_client *sc = sasl_client_new(mech, &so);
	if (sc == NULL)
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.0", "AUTH: user name or password not usable");
	struct error e = {0};
	struct reply r;
	const unsigned char *out;
	size_t outlen;
	bool done = false;
	enum session_end end = SESSION_NEXT;
	unsigned t = timeout_of(s->a, T_OTHER_MS);
	if (sasl_client_step(sc, NULL, 0, &out, &outlen, &done) < 0) {
		attempt_last_failure(s->a, s, SMTPCLIENT_TEMPFAIL, 0, "4.7.0", sasl_client_error(sc));
		goto out;
	}
	char *enc = base64_arena(s->arena, out, outlen);
	/* RFC 4954 §4: initial response; "=" for an empty one */
	if (command(s, t, &r, &e, "AUTH %s %s", mech, outlen ? enc : "=") < 0)
		goto io;
	while (r.code == 334) {
		unsigned char in[SASL_MSG_MAX];
		const char *chal = r.nlines ? r.lines[0] : "";
		long inlen = base64_decode(in, sizeof(in), chal, strlen(chal));
		if (inlen < 0 || sasl_client_step(sc, in, (size_t)inlen, &out, &outlen, &done) < 0) {
			/* RFC 4954 §4: "*" cancels the exchange */
			(void)command(s, t, &r, &e, "*");
			attempt_last_failure(s->a, s, SMTPCLIENT_TEMPFAIL, 0, "4.7.0", sasl_client_error(sc));
			goto out;
		}
		enc = base64_arena(s->arena, out, outlen);
		if (command(s, t, &r, &e, "%s", enc) < 0)
			goto io;
	}
	if (r.code == 235 && done) {
		end = SESSION_DONE;
	} else {
		quit(s);
		attempt_last_failure(s->a, s, SMTPCLIENT_TEMPFAIL, r.code, r.enhanced,
			r.code == 235 ? "AUTH: server signature not verified" : r.text);
	}
	goto out;
io:
	attempt_last_failure(s->a, s, SMTPCLIENT_TEMPFAIL, 0, "4.4.2", e.msg);
out:
	sasl_client_free(&sc);
	return end;
}

/* Checks that need the server's extensions, before MAIL. Returns false and
 * fails the recipients (permanently) when the message cannot go there. */
static bool message_fits(struct session *s)
{
	const struct smtpclient_message *m = s->a->msg;
	struct attempt *a = s->a;
	/* RFC 1870 §6: do not send a message larger than the declared SIZE */
	if (s->ext.size && s->ext.size_max > 0 && m->size > s->ext.size_max) {
		attempt_fail_unanswered(a, SMTPCLIENT_PERMFAIL, "5.3.4",
			"message of %llu bytes exceeds the %llu bytes %s accepts (RFC 1870)",
			(unsigned long long)m->size, (unsigned long long)s->ext.size_max, s->host);
		return false;
	}
	/* RFC 6531 §3.4: a message that needs SMTPUTF8 is not sent to a server
	 * that does not offer it: 5.6.7 */
	if (m->smtputf8 && !s->ext.smtputf8) {
		attempt_fail_unanswered(a, SMTPCLIENT_PERMFAIL, "5.6.7",
			"%s does not offer SMTPUTF8, which the message needs (RFC 6531 §3.4)", s->host);
		return false;
	}
	/* RFC 6152 §3: 8-bit data only to a server offering 8BITMIME; tern does
	 * not downgrade to 7bit (no RFC 1652/6152 conversion) */
	if (m->eightbit && !s->ext.eightbitmime) {
		attempt_fail_unanswered(a, SMTPCLIENT_PERMFAIL, "5.6.3",
			"%s does not offer 8BITMIME, and the message has 8-bit data (RFC 6152 §3)", s->host);
		return false;
	}
	return true;
}

/* RFC 8689 §4.2.1: REQUIRETLS only over verified TLS to a server that
 * offers REQUIRETLS. Returns false when this host does not qualify. */
static bool requiretls_ok(struct session *s)
{
	return !s->a->msg->requiretls || (s->verified && s->ext.requiretls);
}

static int mail_command(struct session *s, struct buf *b)
{
	const struct smtpclient_message *m = s->a->msg;
	buf_appendf(b, "MAIL FROM:<%s>", m->mail_from);
	if (s->ext.size)
		buf_appendf(b, " SIZE=%llu", (unsigned long long)m->size);
	if (m->eightbit)
		buf_append_str(b, " BODY=8BITMIME");
	if (m->smtputf8)
		buf_append_str(b, " SMTPUTF8");
	if (s->ext.dsn) {
		/* RFC 3461 §4.3, §4.4 */
		if (m->ret_hdrs)
			buf_append_str(b, " RET=HDRS");
		if (m->envid != NULL) {
			buf_append_str(b, " ENVID=");
			xtext_append(b, m->envid);
		}
	}
	if (m->requiretls)
		buf_append_str(b, " REQUIRETLS");   /* RFC 8689 §4.1 */
	return buf_append_str(b, "\r\n");
}

static int rcpt_command(struct session *s, const struct smtpclient_rcpt *r, struct buf *b)
{
	buf_appendf(b, "RCPT TO:<%s>", r->address);
	if (s->ext.dsn && r->notify != 0) {
		/* RFC 3461 §4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY */
		if (r->notify & SMTPCLIENT_NOTIFY_NEVER) {
			buf_append_str(b, " NOTIFY=NEVER");
		} else {
			const char *sep = " NOTIFY=";
			if (r->notify & SMTPCLIENT_NOTIFY_SUCCESS) {
				buf_appendf(b, "%sSUCCESS", sep);
				sep = ",";
			}
			if (r->notify & SMTPCLIENT_NOTIFY_FAILURE) {
				buf_appendf(b, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & SMTPCLIENT_NOTIFY_DELAY)
				buf_appendf(b, "%sDELAY", sep);
		}
	}
	if (s->ext.dsn && r->orcpt != NULL) {
		/* RFC 3461 §4.2: ORCPT=addr-type ";" xtext */
		const char *semi = strchr(r->orcpt, ';');
		if (semi != NULL) {
			buf_appendf(b, " ORCPT=%.*s;", (int)(semi - r->orcpt), r->orcpt);
			xtext_append(b, semi + 1);
		}
	}
	return buf_append_str(b, "\r\n");
}

/* Sends the message after 354: dot-stuffed (§4.5.2), CRLF "." CRLF last. */
static int send_data(struct session *s, char *chunk, struct error *e)
{
	const struct smtpclient_message *m = s->a->msg;
	bool line_start = true;
	char last = '\n';
	uint64_t off = 0;
	for (;;) {
		ssize_t n = pread(m->fd, chunk, CHUNK_SIZE, (off_t)off);
		if (n < 0) {
			s->message_unreadable = true;
			return error_errno(e, errno, "reading the message");
		}
		if (n == 0)
			break;
		off += (uint64_t)n;
		size_t start = 0;
		for (size_t i = 0; i < (size_t)n; i++) {
			if (line_start && chunk[i] == '.') {
				if (conn_write(s->c, chunk + start, i - start, e) < 0 ||
				    conn_write(s->c, ".", 1, e) < 0)
					return -1;
				start = i;
			}
			line_start = chunk[i] == '\n';
		}
		if (conn_write(s->c, chunk + start, (size_t)n - start, e) < 0)
			return -1;
		last = chunk[n - 1];
	}
	/* the end of data needs the message to end in CRLF */
	if (last != '\n' && conn_write(s->c, "\r\n", 2, e) < 0)
		return -1;
	if (conn_write(s->c, ".\r\n", 3, e) < 0)
		return -1;
	return conn_flush(s->c, e);
}

/* RFC 3030 §2: BDAT chunks, each answered; the last one "LAST". */
static int send_bdat(struct session *s, char *chunk, struct reply *r, struct error *e)
{
	const struct smtpclient_message *m = s->a->msg;
	uint64_t off = 0;
	do {
		size_t want = m->size - off < CHUNK_SIZE ? (size_t)(m->size - off) : CHUNK_SIZE;
		size_t got = 0;
		while (got < want) {
			ssize_t n = pread(m->fd, chunk + got, want - got, (off_t)(off + got));
			if (n <= 0) {
				s->message_unreadable = true;
				if (n < 0)
					return error_errno(e, errno, "reading the message");
				return error_set(e, ERR_IO, "message shorter than its size %llu",
					(unsigned long long)m->size);
			}
			got += (size_t)n;
		}
		off += want;
		bool last = off == m->size;
		conn_set_idle_timeout(s->c, timeout_of(s->a, T_DATA_BLOCK_MS));
		if (send_line(s, e, "BDAT %zu%s", want, last ? " LAST" : "") < 0 ||
		    conn_write(s->c, chunk, want, e) < 0 || conn_flush(s->c, e) < 0)
			return -1;
		if (session_read_reply(s, timeout_of(s->a, last ? T_DATA_END_MS : T_DATA_BLOCK_MS), r, e) < 0)
			return -1;
		if (r->code / 100 != 2)
			return 0;
	} while (off < m->size);
	return 0;
}

/* MAIL, RCPT, DATA/BDAT: the recipients get their results. */
static enum session_end transaction(struct session *s)
{
	struct attempt *a = s->a;
	struct error e = {0};
	struct reply r;
	struct buf cmd;
	buf_init(&cmd, BUF_UNBOUNDED);
	size_t *sent = calloc(a->n ? a->n : 1, sizeof(*sent));
	bool *accepted = calloc(a->n ? a->n : 1, sizeof(*accepted));
	char *chunk = NULL;
	size_t nsent = 0, naccepted = 0;
	if (sent == NULL || accepted == NULL)
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (!a->answered[i])
			sent[nsent++] = i;

	/* RFC 2920 §3.1: MAIL and the RCPTs go in one write with PIPELINING */
	mail_command(s, &cmd);
	if (s->ext.pipelining)
		for (size_t k = 0; k < nsent; k++)
			rcpt_command(s, &a->rcpts[sent[k]], &cmd);
	conn_set_idle_timeout(s->c, timeout_of(a, T_MAIL_MS));
	if (conn_write(s->c, cmd.data, cmd.len, &e) < 0 || conn_flush(s->c, &e) < 0 ||
	    session_read_reply(s, timeout_of(a, T_MAIL_MS), &r, &e) < 0)
		goto io;
	if (r.code / 100 != 2) {
		if (s->ext.pipelining)   /* the RCPT replies still come */
			for (size_t k = 0; k < nsent; k++) {
				struct reply ignored;
				if (session_read_reply(s, timeout_of(a, T_RCPT_MS), &ignored, &e) < 0)
					break;
			}
		for (size_t k = 0; k < nsent; k++)
			rcpt_from_reply(s, sent[k], &r);
		goto quit;
	}
	for (size_t k = 0; k < nsent; k++) {
		if (!s->ext.pipelining) {
			buf_reset(&cmd);
			rcpt_command(s, &a->rcpts[sent[k]], &cmd);
			if (conn_write(s->c, cmd.data, cmd.len, &e) < 0 || conn_flush(s->c, &e) < 0)
				goto io;
		}
		if (session_read_reply(s, timeout_of(a, T_RCPT_MS), &r, &e) < 0)
			goto io;
		if (r.code / 100 == 2) {
			accepted[sent[k]] = true;
			naccepted++;
		} else {
			rcpt_from_reply(s, sent[k], &r);   /* this recipient's own result */
		}
	}
	if (naccepted == 0)
		goto quit;

	chunk = malloc(CHUNK_SIZE);
	if (chunk == NULL)
		abort();
	if (s->ext.chunking) {
		if (send_bdat(s, chunk, &r, &e) < 0)
			goto io;
	} else {
		if (command(s, timeout_of(a, T_DATA_INIT_MS), &r, &e, "DATA") < 0)
			goto io;
		if (r.code == 354) {
			conn_set_idle_timeout(s->c, timeout_of(a, T_DATA_BLOCK_MS));
			if (send_data(s, chunk, &e) < 0 ||
			    session_read_reply(s, timeout_of(a, T_DATA_END_MS), &r, &e) < 0)
				goto io;
		} else if (r.code < 400) {
			/* §4.1.1.4, §4.3.2: DATA is answered 354 or an error; a
			 * success here means the message was not sent */
			char why[400];
			snprintf(why, sizeof(why), "unexpected reply %d to DATA: %.300s", r.code, r.text);
			attempt_last_failure(a, s, SMTPCLIENT_TEMPFAIL, 0, "4.5.0", why);
			for (size_t i = 0; i < a->n; i++)
				if (accepted[i]) {
					a->rcpts[i].result = a->last;
					a->answered[i] = true;
				}
			goto quit;
		}
	}
	for (size_t i = 0; i < a->n; i++)
		if (accepted[i])
			rcpt_from_reply(s, i, &r);
quit:
	quit(s);
	goto out;
io:
	/* the connection broke during the transaction: recipients without a
	 * result stay for the next attempt (§4.5.3.2: a timeout is temporary) */
	attempt_last_failure(a, s, SMTPCLIENT_TEMPFAIL, 0, "4.4.2", e.msg);
	if (s->message_unreadable) {
		a->local_failure = true;
		a->err = e;
	}
	for (size_t i = 0; i < a->n; i++)
		if (accepted[i] || !a->answered[i]) {
			a->rcpts[i].result = a->last;
			a->answered[i] = true;
		}
out:
	free(chunk);
	free(sent);
	free(accepted);
	buf_free(&cmd);
	return SESSION_DONE;
}

/* One connection to one address of a host, from greeting to QUIT. */
enum session_end session_run(struct session *s)
{
	struct attempt *a = s->a;
	struct error e = {0};
	struct reply r;
	const struct smtpclient_route *rt = a->route;
	if (rt->host != NULL && rt->tls == SMTPCLIENT_TLS_IMPLICIT) {
		/* RFC 8314 §3: TLS from the first byte (port 465) */
		struct tls_client *client = pkix_client(a, &e);
		conn_set_idle_timeout(s->c, timeout_of(a, T_GREETING_MS));
		if (client == NULL || conn_tls_connect(s->c, client, s->host, &e) < 0) {
			session_report_tls(s, false, "validation-failure");
			session_report_tls_info(s, e.msg);
			return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.7.5", e.msg);
		}
		s->verified = true;
		session_report_tls(s, true, NULL);
	}
	if (session_read_reply(s, timeout_of(a, T_GREETING_MS), &r, &e) < 0)
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.4.2", e.msg);
	if (r.code != 220) {
		/* §3.1, §5.1: a refusing server: QUIT and try the next host */
		quit(s);
		return session_next_host(s, status_of_code(r.code), r.code, r.enhanced, r.text);
	}
	if (ehlo(s, &r, &e) < 0)
		return session_next_host(s, SMTPCLIENT_TEMPFAIL, 0, "4.4.2", e.msg);
	if (r.code / 100 != 2) {
		quit(s);
		return session_next_host(s, status_of_code(r.code), r.code, r.enhanced, r.text);
	}
	if (s->sec != SEC_NONE && !conn_tls_active(s->c)) {
		enum session_end end = starttls(s);
		if (end != SESSION_DONE)
			return end;
	}
	if (!requiretls_ok(s)) {
		a->requiretls_refused_here = true;
		quit(s);
		return session_next_host(s, SMTPCLIENT_PERMFAIL, 0, "5.7.10",
			s->verified ? "the server does not offer REQUIRETLS (RFC 8689 §4.2.1)" :
			"REQUIRETLS needs TLS verified by DANE or MTA-STS (RFC 8689 §4.2.1)");
	}
	if (rt->host != NULL && rt->auth_user != NULL && authenticate(s) != SESSION_DONE)
		return SESSION_NEXT;
	if (!message_fits(s)) {
		quit(s);
		return SESSION_DONE;
	}
	return transaction(s);
}

