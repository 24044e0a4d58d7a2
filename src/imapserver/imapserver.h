/*
 * imapserver.h: tern's IMAP server session (RFC 9051 IMAP4rev2, RFC 3501
 * IMAP4rev1) on one connection, as the services (service.h) and the tests
 * run it.
 *
 * A session runs on one conn: read a command, check the state, act,
 * answer. While it waits in IDLE it may park instead of holding its thread
 * (imapsrv_session_continue with a park): the service hands its
 * descriptors to the listener's park thread and resumes it when one of
 * them is readable. Logins are checked through a lookup the caller gives
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

struct imapsrv_session;

/* A session on c (not owned; it must outlive the session). cancel_fd (-1:
 * none) becomes readable when the server stops: a session waiting for a
 * command or in IDLE then answers "* BYE" and ends. peer is the client's
 * address (NULL: unknown). */
struct imapsrv_session *imapsrv_session_new(struct conn *c, const struct sockaddr *peer,
                                            int cancel_fd, const struct imapsrv_settings *set);

/* Why imapsrv_session_continue is called. */
enum imapsrv_wake {
	IMAPSRV_WAKE_START,    /* the first call: greet */
	IMAPSRV_WAKE_READY,    /* one of the park's descriptors is readable */
	IMAPSRV_WAKE_TIMEOUT,  /* the park's time is up */
	IMAPSRV_WAKE_STOP,     /* the server stops */
};

/* What a parked session waits for: any of fds readable, at most
 * timeout_ms. */
struct imapsrv_park {
	int fds[2];
	size_t nfds;
	unsigned timeout_ms;
};

/* Runs s until LOGOUT, an error, the idle timeout or shutdown (returns 0:
 * free it), or, when park is not NULL, until it waits in IDLE with nothing
 * to do (returns 1 with *park filled; call again with the reason once it is
 * due). Without park, IDLE waits in the calling thread. */
int imapsrv_session_continue(struct imapsrv_session *s, enum imapsrv_wake why,
                             struct imapsrv_park *park);

/* Flushes what is left to send and frees the session; *s becomes NULL. */
void imapsrv_session_free(struct imapsrv_session **s);

/* The whole session in the calling thread: new, continue without parking,
 * free. Does not free c. */
void imapsrv_session_run(struct conn *c, const struct sockaddr *peer, int cancel_fd,
                         const struct imapsrv_settings *set);

#endif
