/*
 * service.h: the IMAP (STARTTLS, port 143) and IMAPS (implicit TLS, port
 * 993) services of every configured listener, as `tern serve` runs them:
 * sockets bound and TLS loaded while still root, accepting after privileges
 * are dropped, "* BYE" to every waiting session on shutdown.
 */
#ifndef TERN_IMAPSERVER_SERVICE_H
#define TERN_IMAPSERVER_SERVICE_H

#include "imapserver/imapserver.h"

#include <stdbool.h>
#include <stddef.h>

struct config;
struct error;
struct imap_services;
struct loginguard;

struct imap_services_opts {
	bool localserve;             /* logins without TLS allowed (loopback only) */
	const char *version;         /* for ID */
	/* How logins are checked (the accounts of the running configuration),
	 * shared with SMTP submission: */
	sasl_lookup_fn *auth_lookup;
	imapsrv_account_fn *login_account;
	void *login_ctx;
	struct loginguard *guard;    /* shared throttling; NULL: none */
	const unsigned char *sasl_secret;  /* SCRAM fake-salt secret; must outlive */
	size_t sasl_secret_len;
};

/* Binds the sockets of every enabled IMAP and IMAPS service of cfg's
 * listeners and loads their TLS certificates. Nothing is accepted yet.
 * Returns 0 with *out set, or -1 with e set naming the listener. cfg must
 * stay referenced until imap_services_stop. */
int imap_services_bind(const struct config *cfg, const struct imap_services_opts *opts,
                       struct imap_services **out, struct error *e);

/* Starts accepting (after privileges are dropped). Returns 0, or -1 with e. */
int imap_services_start(struct imap_services *s, struct error *e);

/* Stops accepting, ends waiting sessions with "* BYE", gives the others up
 * to grace_ms, and frees *s (NULL allowed). */
void imap_services_stop(struct imap_services **s, unsigned grace_ms);

/* How many services listen, for the startup message. */
unsigned imap_services_count(const struct imap_services *s);

#endif
