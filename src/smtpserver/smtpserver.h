/*
 * smtpserver.h: tern's SMTP server session (RFC 5321) for receiving mail
 * (port 25) and message submission (RFC 6409 on 587 with STARTTLS, RFC 8314
 * on 465 with implicit TLS).
 *
 * A session runs on one conn in one thread and reads like the RFC: read a
 * command, act, reply. What to do with recipients and messages is not the
 * session's business: it asks a backend (struct smtpserver_backend), the seam
 * where the store, the local policy (localserve), email authentication and
 * the junk filter plug in. The real backend is in backend.c; the fuzzer and
 * unit tests use their own.
 */
#ifndef TERN_SMTPSERVER_SMTPSERVER_H
#define TERN_SMTPSERVER_SMTPSERVER_H

#include "sasl/sasl.h"
#include "smtp/smtp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct arena;
struct conn;
struct loginguard;
struct ratelimit;
struct tls_server;

enum smtpserver_mode {
	SMTPSERVER_RECEIVE,      /* port 25: mail for our domains */
	SMTPSERVER_SUBMISSION,   /* port 587: AUTH after STARTTLS, then anything */
	SMTPSERVER_SUBMISSIONS,  /* port 465: implicit TLS, then as submission */
};

/* A reply decided by the backend. text is copied by the session. */
struct smtpserver_reply {
	int code;
	char enhanced[8];
	char text[256];
};

/* Sets r. */
void smtpserver_reply_set(struct smtpserver_reply *r, int code, const char *enhanced,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One accepted recipient. */
struct smtpserver_rcpt {
	struct smtp_path path;
	struct smtp_rcpt_params params;
	void *data;              /* backend's, from its rcpt hook (in the txn arena) */
};

/* What the session knows when it asks the backend. */
struct smtpserver_txn {
	enum smtpserver_mode mode;
	const char *hostname;    /* ours */
	const char *remote_ip;
	const char *ehlo;        /* as given; NULL before EHLO/HELO */
	bool esmtp;              /* EHLO, not HELO */
	const char *tls;         /* "TLSv1.3 TLS_AES_128_GCM_SHA256", or NULL */
	const char *user;        /* authenticated user (submission), or NULL */
	struct smtp_path mail_from;
	struct smtp_mail_params mail;
	struct smtpserver_rcpt *rcpts;
	size_t nrcpts;
	struct arena *arena;     /* lives until the transaction ends */
};

/* The message of a transaction: the first bytes in memory, the rest (when
 * there is more than SMTPSERVER_SPOOL_MEM) in an unlinked temporary file. */
#define SMTPSERVER_SPOOL_MEM (1024 * 1024)
struct smtpserver_spool;

/* The bytes held in memory: the whole message when *complete_r. */
const char *smtpserver_spool_head(const struct smtpserver_spool *s, size_t *len_r,
	bool *complete_r);
uint64_t smtpserver_spool_size(const struct smtpserver_spool *s);
/* The whole message in memory: the head when that is all of it, else read
 * back once and kept until the transaction ends, within a process-wide
 * memory budget. NULL with e set when it cannot be had (ERR_TEMP: the budget
 * stayed full; ERR_LIMIT: larger than the budget; ERR_IO). */
const char *smtpserver_spool_load(struct smtpserver_spool *s, size_t *len_r, struct error *e);
/* Reads the message from its start again (store_read_fn style): call
 * smtpserver_spool_rewind first, then read until 0. */
void smtpserver_spool_rewind(struct smtpserver_spool *s);
ssize_t smtpserver_spool_read(void *spool, void *buf, size_t n, struct error *e);

/* A byte range of the message. */
struct smtpserver_range {
	uint64_t offset, size;
};

/* Removes the ranges (ascending, not overlapping, all within the head) from
 * the message, e.g. header fields that must not be delivered. Returns 0, or
 * -1 with e set (the message is then unchanged or, for a spooled one whose
 * copy failed, must be refused). */
int smtpserver_spool_remove(struct smtpserver_spool *s, const struct smtpserver_range *r,
                            size_t n, struct error *e);

struct smtpserver_backend {
	/* MAIL FROM was accepted syntactically; may refuse it (submission: a
	 * sender address the user may not use). reply is preset to 250 2.1.0. */
	void (*mail)(void *ctx, const struct smtpserver_txn *t, struct smtpserver_reply *reply);
	/* RCPT TO: decide about r (set r->data as needed). reply is preset to
	 * 250 2.1.5; anything else refuses this recipient only. */
	void (*rcpt)(void *ctx, const struct smtpserver_txn *t, struct smtpserver_rcpt *r,
		struct smtpserver_reply *reply);
	/* The whole message arrived for t's recipients. received is the Received
	 * header the session wrote (CRLF-terminated), to be prepended. Must store
	 * it durably (or refuse) before returning: reply is sent as it is. */
	void (*deliver)(void *ctx, const struct smtpserver_txn *t, const char *received,
		struct smtpserver_spool *msg, struct smtpserver_reply *reply);
	/* AUTH credentials lookup (sasl.h); NULL: AUTH is not offered. */
	sasl_lookup_fn *auth_lookup;
	/* The account a login name means (a user may log in by account name or
	 * any of its addresses), for throttling failures per account: writes
	 * its name to out and returns true, or false if there is none. */
	bool (*login_account)(void *ctx, const char *login, char *out, size_t size);
	void *ctx;
};

/* Limits shared by all sessions of a server (thread-safe). */
struct smtpserver_limits {
	/* failed logins per remote address and per account, and the pauses
	 * (core/loginguard.h), shared with the other services taking passwords */
	struct loginguard *logins;
	struct ratelimit *errors_ip;          /* protocol errors per remote address */
};

/* Errors (bad commands, refused recipients) one session may make before it
 * is closed with 421 (Postfix's smtpd_hard_error_limit is 20). */
#define SMTPSERVER_SESSION_ERRORS_MAX 20

struct smtpserver_settings {
	enum smtpserver_mode mode;
	const char *hostname;
	struct tls_server *tls;          /* NULL: no TLS (then no submission) */
	uint64_t max_message_size;
	unsigned max_recipients;
	bool pedantic;                   /* strict syntax where tern is liberal */
	unsigned idle_ms;                /* 0: RFC 5321 §4.5.3.2.7's 5 minutes */
	const char *spool_dir;           /* for messages over SMTPSERVER_SPOOL_MEM; NULL: refuse them */
	const struct smtpserver_backend *backend;
	struct smtpserver_limits *limits; /* may be NULL (no throttling: tests, fuzzing) */
	const unsigned char *sasl_secret; /* see sasl_server_opts.secret; may be NULL */
	size_t sasl_secret_len;
};

/* Runs a session on c (plain text; for SUBMISSIONS the TLS handshake is the
 * first thing done) until QUIT, an error, or shutdown: once cancel_fd (-1:
 * none) is readable, a session waiting for a command answers 421 and ends;
 * one receiving a message finishes it first. peer is the client's address
 * (NULL: unknown, e.g. a pipe). Does not free c. */
void smtpserver_session(struct conn *c, const struct sockaddr *peer, int cancel_fd,
	const struct smtpserver_settings *s);

#endif
