/*
 * session.c: one SMTP server session (RFC 5321 §4, with the extensions
 * listed in ehlo_reply). Reads a command, acts, replies; replies to
 * pipelined commands are flushed when no more input is waiting (RFC 2920
 * §3.1).
 */
#include "smtpserver/internal.h"
#include "smtpserver/session.h"

#include "core/arena.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"
#include "core/log.h"
#include "core/ratelimit.h"

#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void smtpserver_reply_set(struct smtpserver_reply *r, int code, const char *enhanced,
                          const char *fmt, ...)
{
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/*
 * Replies.
 */

/* Sends one reply; counts 4xx/5xx as errors of the session. Returns 0, or
 * -1 when the connection failed (the session ends). */
int session_reply(struct session *ss, int code, const char *enhanced, const char *fmt, ...)
{
	char text[SMTP_REPLY_LINE_MAX * 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	const char *lines[] = {text};
	struct buf out;
	buf_init(&out, 4096);
	struct error e;
	int r = smtp_reply_format(&out, code, enhanced, lines, 1, &e);
	if (r == 0)
		r = conn_write(ss->c, out.data, out.len, &e);
	buf_free(&out);
	if (code >= 400 && code != 421)
		ss->errors++;
	if (code >= 400 && code != 421 && !ss->backend_reply)
		ss->protocol_errors++;
	if (r != 0)
		ss->closing = true;
	return r;
}

static int reply_hint(struct session *ss, const struct smtp_reply_hint *h, const char *detail)
{
	if (detail != NULL && *detail != '\0' && strcasecmp(detail, h->text) != 0)
		return session_reply(ss, h->code, h->enhanced, "%s: %s", h->text, detail);
	return session_reply(ss, h->code, h->enhanced, "%s", h->text);
}

/* A decision of the backend (an unknown recipient, a full mailbox) counts
 * towards the session's error limit, not towards its address's: a shared
 * relay's other users must not suffer for one sender's typos. */
static int reply_backend(struct session *ss, const struct smtpserver_reply *r)
{
	ss->backend_reply = true;
	int ret = session_reply(ss, r->code, r->enhanced[0] != '\0' ? r->enhanced : NULL, "%s", r->text);
	ss->backend_reply = false;
	return ret;
}

/*
 * Transaction state.
 */

static void txn_reset(struct session *ss)
{
	arena_reset(ss->txn_arena);
	struct smtpserver_txn *t = &ss->txn;
	memset(&t->mail_from, 0, sizeof(t->mail_from));
	memset(&t->mail, 0, sizeof(t->mail));
	t->rcpts = NULL;
	t->nrcpts = 0;
	ss->rcpt_cap = 0;
	ss->in_txn = false;
	ss->bdat_active = false;
	ss->bdat_chunks = 0;
	spool_reset(ss->spool);
}

/* RFC 3207 §4.2 and RFC 4954 §4: after STARTTLS everything learned is
 * forgotten, and the client must say EHLO again. */
static void session_forget(struct session *ss)
{
	txn_reset(ss);
	ss->ehlo[0] = '\0';
	ss->txn.ehlo = NULL;
	ss->txn.esmtp = false;
}

static void new_txn_id(struct session *ss)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char raw[10];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort();
	for (size_t i = 0; i < sizeof(raw); i++)
		ss->txn_id[i] = alphabet[raw[i] % 32];
	ss->txn_id[sizeof(raw)] = '\0';
}

/*
 * EHLO, HELO (RFC 5321 §4.1.1.1).
 */

static int ehlo_reply(struct session *ss)
{
	const struct smtpserver_settings *s = ss->s;
	bool tls = conn_tls_active(ss->c);
	char lines[16][SMTP_REPLY_LINE_MAX];
	size_t n = 0;
	snprintf(lines[n++], sizeof(lines[0]), "%s greets %s", s->hostname, ss->ehlo);
	snprintf(lines[n++], sizeof(lines[0]), "PIPELINING");                /* RFC 2920 */
	snprintf(lines[n++], sizeof(lines[0]), "SIZE %llu",                   /* RFC 1870 */
	         (unsigned long long)s->max_message_size);
	snprintf(lines[n++], sizeof(lines[0]), "8BITMIME");                  /* RFC 6152 */
	snprintf(lines[n++], sizeof(lines[0]), "SMTPUTF8");                  /* RFC 6531 */
	snprintf(lines[n++], sizeof(lines[0]), "ENHANCEDSTATUSCODES");       /* RFC 2034 */
	snprintf(lines[n++], sizeof(lines[0]), "CHUNKING");                  /* RFC 3030 */
	snprintf(lines[n++], sizeof(lines[0]), "DSN");                       /* RFC 3461 */
	snprintf(lines[n++], sizeof(lines[0]), "LIMITS RCPTMAX=%u", s->max_recipients); /* RFC 9422 */
	if (s->tls != NULL && !tls)
		snprintf(lines[n++], sizeof(lines[0]), "STARTTLS");          /* RFC 3207 */
	if (tls)
		snprintf(lines[n++], sizeof(lines[0]), "REQUIRETLS");        /* RFC 8689 §4 */
	if (session_auth_offered(ss))
		snprintf(lines[n++], sizeof(lines[0]), "AUTH %s",            /* RFC 4954 */
		         sasl_mechanisms_list(true, ss->have_cb));
	const char *ptrs[16];
	for (size_t i = 0; i < n; i++)
		ptrs[i] = lines[i];
	struct buf out;
	buf_init(&out, 4096);
	struct error e;
	int r = smtp_reply_format(&out, 250, NULL, ptrs, n, &e);
	if (r == 0)
		r = conn_write(ss->c, out.data, out.len, &e);
	buf_free(&out);
	return r;
}

static int cmd_ehlo(struct session *ss, const struct smtp_command *cmd)
{
	txn_reset(ss);  /* RFC 5321 §4.1.4: EHLO resets like RSET */
	snprintf(ss->ehlo, sizeof(ss->ehlo), "%s", cmd->arg);
	ss->txn.ehlo = ss->ehlo;
	ss->txn.esmtp = cmd->verb == SMTP_VERB_EHLO;
	if (cmd->verb == SMTP_VERB_HELO)
		return session_reply(ss, 250, NULL, "%s", ss->s->hostname);
	return ehlo_reply(ss);
}

/*
 * MAIL (RFC 5321 §4.1.1.2).
 */

static bool has_esmtp_params(const struct smtp_mail_params *m)
{
	return m->has_size || m->body != SMTP_BODY_NONE || m->smtputf8 || m->requiretls ||
	       m->ret != SMTP_RET_NONE || m->envid != NULL || m->auth != NULL;
}

static char *arena_copy_path(struct arena *a, const struct smtp_path *p, struct smtp_path *out)
{
	*out = *p;
	if (p->null)
		return NULL;
	out->addr.local = arena_strndup(a, p->addr.local, p->addr.local_len);
	out->addr.local_raw = arena_strdup(a, p->addr.local_raw);
	out->addr.domain = arena_strdup(a, p->addr.domain);
	return NULL;
}

static const char *arena_copy_opt(struct arena *a, const char *s)
{
	return s != NULL ? arena_strdup(a, s) : NULL;
}

static int cmd_mail(struct session *ss, const struct smtp_command *cmd)
{
	const struct smtpserver_settings *s = ss->s;
	if (ss->txn.ehlo == NULL)
		return session_reply(ss, 503, "5.5.1", "Say EHLO first");
	if (ss->in_txn)
		return session_reply(ss, 503, "5.5.1", "Nested MAIL command: finish or RSET the transaction first");
	if (s->mode != SMTPSERVER_RECEIVE && ss->txn.user == NULL)
		return session_reply(ss, 530, "5.7.0", "Authentication required");  /* RFC 4954 §6 */
	const struct smtp_mail_params *m = &cmd->mail;
	if (!ss->txn.esmtp && has_esmtp_params(m))
		return session_reply(ss, 555, "5.5.4", "MAIL parameters need EHLO, not HELO");
	if (m->body == SMTP_BODY_BINARYMIME)  /* RFC 3030 §3: not offered; RFC 5321 §4.1.1.11 */
		return session_reply(ss, 555, "5.5.4", "BODY=BINARYMIME is not supported here");
	if (m->has_size && m->size > s->max_message_size)  /* RFC 1870 §6.2 */
		return session_reply(ss, 552, "5.3.4", "Message size %llu exceeds the limit of %llu bytes",
		                     (unsigned long long)m->size, (unsigned long long)s->max_message_size);
	if (m->requiretls && !conn_tls_active(ss->c))  /* RFC 8689 §4.1 */
		return session_reply(ss, 530, "5.7.10", "REQUIRETLS needs a TLS session");
	struct smtpserver_txn *t = &ss->txn;
	arena_copy_path(ss->txn_arena, &cmd->path, &t->mail_from);
	t->mail = *m;
	t->mail.envid = arena_copy_opt(ss->txn_arena, m->envid);
	t->mail.auth = arena_copy_opt(ss->txn_arena, m->auth);
	struct smtpserver_reply r;
	smtpserver_reply_set(&r, 250, "2.1.0", "Sender ok");
	if (s->backend->mail != NULL)
		s->backend->mail(s->backend->ctx, t, &r);
	if (r.code / 100 == 2) {
		ss->in_txn = true;
		new_txn_id(ss);
	} else {
		txn_reset(ss);
	}
	return reply_backend(ss, &r);
}

/*
 * RCPT (RFC 5321 §4.1.1.3).
 */

static struct smtpserver_rcpt *rcpt_push(struct session *ss)
{
	struct smtpserver_txn *t = &ss->txn;
	t->rcpts = arena_grow(ss->txn_arena, t->rcpts, t->nrcpts, &ss->rcpt_cap, sizeof(*t->rcpts), 8);
	struct smtpserver_rcpt *r = &t->rcpts[t->nrcpts];
	memset(r, 0, sizeof(*r));
	return r;
}

static int cmd_rcpt(struct session *ss, const struct smtp_command *cmd)
{
	const struct smtpserver_settings *s = ss->s;
	struct smtpserver_txn *t = &ss->txn;
	if (!ss->in_txn)
		return session_reply(ss, 503, "5.5.1", "Need MAIL before RCPT");
	if (ss->bdat_active)
		return session_reply(ss, 503, "5.5.1", "RCPT not allowed during BDAT");
	if (t->nrcpts >= s->max_recipients)  /* RFC 5321 §4.5.3.1.10 */
		return session_reply(ss, 452, "4.5.3", "Too many recipients (at most %u per message)",
		                     s->max_recipients);
	if (cmd->path.null)
		return session_reply(ss, 501, "5.1.3", "The null path is not a recipient");
	if (!t->esmtp && (cmd->rcpt.notify != 0 || cmd->rcpt.orcpt != NULL))
		return session_reply(ss, 555, "5.5.4", "RCPT parameters need EHLO, not HELO");
	struct smtpserver_rcpt *r = rcpt_push(ss);
	arena_copy_path(ss->txn_arena, &cmd->path, &r->path);
	r->params = cmd->rcpt;
	r->params.orcpt_type = arena_copy_opt(ss->txn_arena, cmd->rcpt.orcpt_type);
	r->params.orcpt = arena_copy_opt(ss->txn_arena, cmd->rcpt.orcpt);
	struct smtpserver_reply rep;
	smtpserver_reply_set(&rep, 250, "2.1.5", "Recipient ok");
	s->backend->rcpt(s->backend->ctx, t, r, &rep);
	if (rep.code / 100 == 2)
		t->nrcpts++;
	return reply_backend(ss, &rep);
}

/*
 * The message: DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030).
 */

/* Transfer deadlines for message data: RFC 5321 §4.5.3.2.5 and .6 ask for 3
 * minutes per data block and 10 minutes for the end; tern allows 10 minutes
 * plus one second per 4 KB, up to 2 hours, with no 3-minute stall. */
static void transfer_begin(struct session *ss)
{
	conn_set_cancel_fd(ss->c, -1);  /* a message on its way is let finish */
	conn_transfer_begin(ss->c, 10 * 60 * 1000, 4096, 2 * 60 * 60 * 1000);
}

static void transfer_end(struct session *ss)
{
	conn_transfer_end(ss->c);
	conn_set_cancel_fd(ss->c, ss->cancel_fd);
}

static void log_delivery(struct session *ss, const struct smtpserver_reply *r)
{
	struct log_line *l = log_begin(r->code / 100 == 2 ? LOG_INFO : LOG_WARN, "smtpserver",
	                               r->code / 100 == 2 ? "message accepted" : "message refused");
	log_str(l, "id", ss->txn_id);
	log_str(l, "remote", ss->txn.remote_ip);
	if (ss->txn.user != NULL)
		log_str(l, "user", ss->txn.user);
	const struct smtp_address *from = &ss->txn.mail_from.addr;
	if (ss->txn.mail_from.null)
		log_str(l, "from", "");
	else
		log_str(l, "from", arena_printf(ss->txn_arena, "%s@%s", from->local_raw, from->domain));
	log_uint(l, "recipients", ss->txn.nrcpts);
	log_uint(l, "size", smtpserver_spool_size(ss->spool));
	log_int(l, "code", r->code);
	if (r->code / 100 != 2)
		log_str(l, "reply", r->text);
	log_end(l);
}

/* Hands the complete message to the backend and replies. */
static int deliver(struct session *ss)
{
	const struct smtpserver_settings *s = ss->s;
	struct buf received;
	buf_init(&received, 8192);
	received_header(&received, &ss->txn, ss->txn_id, time(NULL));
	struct smtpserver_reply r;
	smtpserver_reply_set(&r, 250, "2.0.0", "Message accepted, id %s", ss->txn_id);
	s->backend->deliver(s->backend->ctx, &ss->txn, received.data, ss->spool, &r);
	buf_free(&received);
	log_delivery(ss, &r);
	txn_reset(ss);
	return reply_backend(ss, &r);
}

static int cmd_data(struct session *ss, const struct smtp_command *cmd)
{
	if (!ss->in_txn)
		return session_reply(ss, 503, "5.5.1", "Need MAIL and RCPT before DATA");
	if (ss->bdat_active)
		return session_reply(ss, 503, "5.5.1", "DATA not allowed after BDAT");  /* RFC 3030 §2 */
	if (ss->txn.nrcpts == 0)
		return session_reply(ss, 554, "5.5.1", "No valid recipients");  /* RFC 5321 §3.3 */
	struct error e;
	if (session_reply(ss, 354, NULL, "End data with <CR><LF>.<CR><LF>") != 0 ||
	    conn_flush(ss->c, &e) != 0)
		return -1;
	transfer_begin(ss);
	struct smtp_data_result res;
	int r = smtp_data_read(ss->c, ss->s->max_message_size, spool_sink, ss->spool, &res, &e);
	transfer_end(ss);
	if (r == 0)
		return deliver(ss);
	struct log_line *l = log_begin(LOG_INFO, "smtpserver", "message data refused");
	log_str(l, "remote", ss->txn.remote_ip);
	log_error_value(l, &e);
	log_end(l);
	txn_reset(ss);
	if (!res.synced) {
		ss->closing = true;
		return reply_hint(ss, &res.hint, NULL);
	}
	return reply_hint(ss, &res.hint, e.kind == ERR_LIMIT ? NULL : e.msg);
}

/* Refused chunks up to this size are read and dropped so the session stays
 * in step (RFC 3030 §2); a larger one ends the session instead of tying up
 * its thread. */
#define BDAT_DRAIN_MAX (1024 * 1024)

/* Reads and drops a chunk of a refused BDAT, then replies; or closes. */
static int bdat_refused(struct session *ss, const struct smtp_command *cmd, int code,
                        const char *enh, const char *text)
{
	struct error e;
	if (cmd->bdat_size > BDAT_DRAIN_MAX) {
		ss->closing = true;
		return session_reply(ss, code == 552 ? 552 : 421, code == 552 ? enh : "4.7.0",
		                     "%s; closing the connection", text);
	}
	struct smtp_bdat discard;
	smtp_bdat_begin(&discard, 0);
	discard.failed = true;
	if (smtp_bdat_chunk(&discard, ss->c, cmd->bdat_size, spool_sink, ss->spool, &e) != 0) {
		ss->closing = true;
		return -1;
	}
	txn_reset(ss);
	return session_reply(ss, code, enh, "%s", text);
}

static int cmd_bdat(struct session *ss, const struct smtp_command *cmd)
{
	struct error e;
	if (!ss->in_txn)
		return bdat_refused(ss, cmd, 503, "5.5.1", "Need MAIL and RCPT before BDAT");
	if (ss->txn.nrcpts == 0)
		return bdat_refused(ss, cmd, 554, "5.5.1", "No valid recipients");
	if (!ss->bdat_active) {
		smtp_bdat_begin(&ss->bdat, ss->s->max_message_size);
		ss->bdat_active = true;
	}
	struct smtp_bdat *b = &ss->bdat;
	if (b->size + cmd->bdat_size > ss->s->max_message_size)  /* RFC 3030 §4 */
		return bdat_refused(ss, cmd, 552, "5.3.4", "Message too big");
	transfer_begin(ss);
	int r = smtp_bdat_chunk(b, ss->c, cmd->bdat_size, spool_sink, ss->spool, &e);
	transfer_end(ss);
	if (r != 0) {
		ss->closing = true;
		return session_reply(ss, 421, "4.4.2", "Connection lost or timed out during BDAT");
	}
	ss->bdat_chunks++;
	if (cmd->bdat_last)
		smtp_bdat_end(b);
	if (b->failed) {
		struct smtp_reply_hint h = b->hint;
		char msg[sizeof(b->msg)];
		snprintf(msg, sizeof(msg), "%s", b->msg);
		txn_reset(ss);  /* RFC 3030 §2: the transaction failed */
		return reply_hint(ss, &h, h.code == 552 ? NULL : msg);
	}
	if (cmd->bdat_last)
		return deliver(ss);
	return session_reply(ss, 250, "2.0.0", "%llu octets received",
	                     (unsigned long long)cmd->bdat_size);
}

/*
 * The others.
 */

static int cmd_starttls(struct session *ss)
{
	struct error e;
	if (conn_tls_active(ss->c))
		return session_reply(ss, 503, "5.5.1", "TLS is already active");
	if (ss->s->tls == NULL)
		return session_reply(ss, 502, "5.5.1", "STARTTLS not available");
	if (session_reply(ss, 220, "2.0.0", "Ready to start TLS") != 0 || conn_flush(ss->c, &e) != 0)
		return -1;
	if (conn_starttls_server(ss->c, ss->s->tls, &e) != 0) {
		struct log_line *l = log_begin(LOG_INFO, "smtpserver", "STARTTLS failed");
		log_str(l, "remote", ss->txn.remote_ip);
		log_error_value(l, &e);
		log_end(l);
		ss->closing = true;
		return -1;  /* RFC 3207 §4.2 injection, or a failed handshake: close */
	}
	session_tls_started(ss);
	session_forget(ss);
	return 0;
}

static int dispatch(struct session *ss, const struct smtp_command *cmd)
{
	switch (cmd->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		return cmd_ehlo(ss, cmd);
	case SMTP_VERB_MAIL:
		return cmd_mail(ss, cmd);
	case SMTP_VERB_RCPT:
		return cmd_rcpt(ss, cmd);
	case SMTP_VERB_DATA:
		return cmd_data(ss, cmd);
	case SMTP_VERB_BDAT:
		return cmd_bdat(ss, cmd);
	case SMTP_VERB_RSET:
		txn_reset(ss);
		return session_reply(ss, 250, "2.0.0", "Ok");
	case SMTP_VERB_NOOP:
		return session_reply(ss, 250, "2.0.0", "Ok");
	case SMTP_VERB_QUIT:
		ss->closing = true;
		return session_reply(ss, 221, "2.0.0", "%s closing connection", ss->s->hostname);
	case SMTP_VERB_VRFY:  /* RFC 5321 §3.5.3: 252 when not verifying */
		return session_reply(ss, 252, "2.5.0", "Cannot VRFY; send some mail and it will be tried");
	case SMTP_VERB_EXPN:
		return session_reply(ss, 502, "5.5.1", "EXPN not available");
	case SMTP_VERB_HELP:
		return session_reply(ss, 214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT "
		                     "DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
	case SMTP_VERB_STARTTLS:
		return cmd_starttls(ss);
	case SMTP_VERB_AUTH:
		return session_auth(ss, cmd);
	case SMTP_VERB_NONE:
		break;
	}
	return session_reply(ss, 500, "5.5.2", "Unknown command");
}

/*
 * The loop.
 */

static unsigned parse_flags(const struct session *ss)
{
	unsigned f = SMTP_EXTENDED | (ss->s->pedantic ? SMTP_STRICT : SMTP_LIBERAL);
	if (ss->in_txn && ss->txn.mail.smtputf8)
		f |= SMTP_UTF8;
	return f;
}

/* Reads and parses one command; returns 1 with cmd filled, 0 when a reply
 * was sent for a bad line (go on), -1 when the session ends. */
/* Whether the server is stopping: a command that already arrived is not
 * served then either (the conn only watches the cancel fd while it waits). */
static bool shutting_down(const struct session *ss)
{
	struct pollfd p = {.fd = ss->cancel_fd, .events = POLLIN};
	return ss->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

static int read_command(struct session *ss, struct smtp_command *cmd, struct arena *a)
{
	struct error e;
	if (shutting_down(ss)) {
		error_set(&e, ERR_SHUTDOWN, "the server is shutting down");
		return session_read_failed(ss, &e);
	}
	if (conn_in_pending(ss->c) == 0 && conn_flush(ss->c, &e) != 0)
		return -1;
	struct conn_line line;
	if (conn_read_line(ss->c, &line, &e) != 0)
		return session_read_failed(ss, &e);
	if (!line.crlf && ss->s->pedantic)  /* RFC 5321 §2.3.8 */
		return session_reply(ss, 500, "5.5.2", "Command line must end in CRLF") == 0 ? 0 : -1;
	struct smtp_reply_hint hint;
	arena_reset(a);
	if (smtp_command_parse(line.data, line.len, parse_flags(ss), a, cmd, &hint, &e) == 0)
		return 1;
	return reply_hint(ss, &hint, e.kind == ERR_INVALID ? e.msg : NULL) == 0 ? 0 : -1;
}

int session_read_failed(struct session *ss, const struct error *e)
{
	struct error e2;
	ss->closing = true;
	switch (e->kind) {
	case ERR_LIMIT:
		if (conn_skip_line(ss->c, &e2) != 0)
			return -1;
		ss->closing = false;
		return session_reply(ss, 500, "5.5.2", "Line too long") == 0 ? 0 : -1;
	case ERR_SHUTDOWN:
		session_reply(ss, 421, "4.3.2", "%s shutting down", ss->s->hostname);
		return -1;
	case ERR_TIMEOUT:
		session_reply(ss, 421, "4.4.2", "%s timeout waiting for a command", ss->s->hostname);
		return -1;
	default:
		return -1;
	}
}

static bool too_many_errors(struct session *ss)
{
	if (ss->errors <= SMTPSERVER_SESSION_ERRORS_MAX)
		return false;
	session_reply(ss, 421, "4.7.0", "Too many errors, closing connection");
	return true;
}

static void count_errors(struct session *ss, unsigned before)
{
	if (ss->protocol_errors > before && ss->s->limits != NULL)
		ratelimit_add(ss->s->limits->errors_ip, ss->ip_key, ss->protocol_errors - before);
}

static void run(struct session *ss)
{
	/* secret: an AUTH line's initial response may hold a password */
	struct arena *a = arena_new(4096, ARENA_SECRET);
	while (!ss->closing) {
		struct smtp_command cmd;
		unsigned before = ss->protocol_errors;
		int r = read_command(ss, &cmd, a);
		if (r > 0)
			r = dispatch(ss, &cmd);
		count_errors(ss, before);
		if (r < 0 || too_many_errors(ss))
			break;
	}
	struct error e;
	conn_flush(ss->c, &e);
	arena_free(&a);
}

static bool greet(struct session *ss)
{
	struct error e;
	const struct smtpserver_settings *s = ss->s;
	if (s->mode == SMTPSERVER_SUBMISSIONS) {
		if (s->tls == NULL || conn_tls_accept(ss->c, s->tls, &e) != 0) {
			struct log_line *l = log_begin(LOG_INFO, "smtpserver", "TLS handshake failed");
			log_str(l, "remote", ss->txn.remote_ip);
			if (s->tls != NULL)
				log_error_value(l, &e);
			log_end(l);
			return false;
		}
		session_tls_started(ss);
	}
	if (s->limits != NULL && !ratelimit_ok(s->limits->errors_ip, ss->ip_key)) {
		session_reply(ss, 421, "4.7.0", "%s too many errors from your address, try again later",
		              s->hostname);
		return false;
	}
	/* RFC 5321 §4.2: the greeting; "ESMTP" tells old clients to try EHLO */
	return session_reply(ss, 220, NULL, "%s ESMTP tern", s->hostname) == 0;
}

void smtpserver_session(struct conn *c, const struct sockaddr *peer, int cancel_fd,
                        const struct smtpserver_settings *s)
{
	struct session *ss = calloc(1, sizeof(*ss));
	if (ss == NULL)
		abort();
	ss->c = c;
	ss->s = s;
	ss->cancel_fd = cancel_fd;
	conn_set_cancel_fd(c, cancel_fd);
	conn_set_idle_timeout(c, s->idle_ms > 0 ? s->idle_ms : 5 * 60 * 1000);
	ss->txn_arena = arena_new(16384, ARENA_PLAIN);
	ss->spool = spool_new(s->spool_dir, s->max_message_size);
	ss->txn.mode = s->mode;
	ss->txn.hostname = s->hostname;
	ss->txn.arena = ss->txn_arena;
	snprintf(ss->remote_ip, sizeof(ss->remote_ip), "%s", conn_remote_ip(c));
	ss->txn.remote_ip = ss->remote_ip;
	if (peer != NULL)
		ratelimit_addr_key(peer, ss->ip_key);
	else
		snprintf(ss->ip_key, sizeof(ss->ip_key), "unknown");
	if (greet(ss))
		run(ss);
	struct error e;
	conn_flush(c, &e);
	spool_free(&ss->spool);
	arena_free(&ss->txn_arena);
	free(ss);
}
