/*
 * imapserver.h: tern's IMAP server session (RFC 9051 IMAP4rev2, RFC 3501
 * IMAP4rev1) on one connection, as the services (service.h) and the tests
 * run it.
 *
 * A session runs on one conn in one thread: read a command, check the
 * state, act, answer. Logins are checked through a lookup the caller gives
 * (the accounts of the running configuration) and throttled by a
 * loginguard shared with the SMTP server.
 */
#ifndef TERN_IMAPSERVER_IMAPSERVER_H
#define TERN_IMAPSERVER_IMAPSERVER_H

#include "imap/imap.h"
#include "sasl/sasl.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct config;
struct conn;
struct loginguard;
struct tls_server;

/* RFC 9051 §5.4: an authenticated session's inactivity timer is at least 30
 * minutes; before authentication a much shorter one keeps idle unknown
 * clients from holding threads. */
#define IMAPSRV_IDLE_AUTH_MS (30u * 60 * 1000)
#define IMAPSRV_IDLE_PREAUTH_MS (60u * 1000)
/* An IDLE command (RFC 2177) may last this long without a word from the
 * client: clients renew IDLE every 29 minutes, as RFC 2177 §3 asks. */
#define IMAPSRV_IDLE_CMD_MS (31u * 60 * 1000)
/* Commands refused with BAD before the session is closed. */
#define IMAPSRV_BAD_MAX 50

/* Which account a login name means: writes its name to out and returns
 * true, or false if there is none. */
typedef bool imapsrv_account_fn(void *ctx, const char *login, char *out, size_t size);

struct imapsrv_settings {
	const char *hostname;
	const char *version;             /* for ID (RFC 2971); may be NULL */
	const char *data_dir;            /* the accounts' stores */
	struct tls_server *tls;          /* NULL: no STARTTLS (tests) */
	bool implicit_tls;               /* IMAPS: the handshake comes first */
	/* Logins without TLS are allowed (localserve, loopback only); else
	 * LOGINDISABLED and no plaintext mechanisms before TLS (RFC 9051
	 * §6.2.3, RFC 8314 §3.3). */
	bool plaintext_login;
	unsigned idle_ms;                /* authenticated; 0: IMAPSRV_IDLE_AUTH_MS */
	unsigned preauth_idle_ms;        /* 0: IMAPSRV_IDLE_PREAUTH_MS */
	unsigned idle_cmd_ms;            /* IDLE; 0: IMAPSRV_IDLE_CMD_MS */
	struct imap_limits limits;       /* imap_limits_default */
	sasl_lookup_fn *auth_lookup;     /* credentials of a login name */
	imapsrv_account_fn *login_account;
	void *login_ctx;                 /* for both */
	struct loginguard *guard;        /* NULL: no throttling (tests) */
	const unsigned char *sasl_secret; /* sasl_server_opts.secret; may be NULL */
	size_t sasl_secret_len;
	/* The accounts' quotas (config_find_account), set on the store at
	 * login (RFC 9208); NULL: the store keeps what it has. */
	const struct config *cfg;
	/* Non-NULL: the connection is authenticated already, as this account
	 * (a local client on a pipe, fuzzing): the greeting is PREAUTH and the
	 * session starts AUTHENTICATED (RFC 9051 §7.1.4). */
	const char *preauth_account;
};

/* Runs a session on c until LOGOUT, an error, the idle timeout or shutdown:
 * once cancel_fd (-1: none) is readable, a session waiting for a command or
 * in IDLE answers "* BYE" and ends. peer is the client's address (NULL:
 * unknown). Does not free c. */
void imapsrv_session_run(struct conn *c, const struct sockaddr *peer, int cancel_fd,
                         const struct imapsrv_settings *set);

#endif
