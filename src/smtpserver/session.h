/*
 * session.h: the state of one SMTP server session, shared by session.c and
 * auth.c.
 */
#ifndef TERN_SMTPSERVER_SESSION_H
#define TERN_SMTPSERVER_SESSION_H

#include "core/ratelimit.h"
#include "core/tls.h"
#include "smtpserver/internal.h"

struct session {
	struct conn *c;
	const struct smtpserver_settings *s;
	int cancel_fd;
	char remote_ip[64];
	char ip_key[RATELIMIT_KEY_MAX];
	char ehlo[SMTP_DOMAIN_MAX + 8];
	char tls_desc[128];
	char user[SASL_USERNAME_MAX + 1];
	bool have_cb;                     /* a tls-exporter channel binding */
	unsigned char cb[TLS_EXPORTER_LEN];
	struct smtpserver_txn txn;
	struct arena *txn_arena;
	size_t rcpt_cap;
	bool in_txn;                      /* MAIL was accepted */
	bool bdat_active;                 /* a BDAT chunk of this transaction was taken */
	unsigned bdat_chunks;
	struct smtp_bdat bdat;
	struct smtpserver_spool *spool;
	char txn_id[16];
	unsigned errors;                  /* all 4xx/5xx replies: the session's limit */
	unsigned protocol_errors;         /* those not decided by the backend: the address's limit */
	bool backend_reply;               /* the reply being sent is the backend's */
	bool closing;
};

/* session.c */
int session_reply(struct session *ss, int code, const char *enhanced, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* After conn_read_line failed with e: replies as fits (500 for a long line,
 * then 0: go on; 421 on shutdown and timeout) and returns -1 when the
 * session ends. */
int session_read_failed(struct session *ss, const struct error *e);

/* auth.c */
/* TLS just started: note its description and channel binding. */
void session_tls_started(struct session *ss);
/* Whether EHLO lists AUTH now. */
bool session_auth_offered(const struct session *ss);
/* AUTH (RFC 4954). Returns 0, or -1 when the session ends. */
int session_auth(struct session *ss, const struct smtp_command *cmd);

#endif
