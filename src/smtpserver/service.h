/*
 * service.h: the SMTP, submission and submissions services of every
 * configured listener, as `tern serve` runs them: sockets bound and TLS
 * loaded while still root, accepting after privileges are dropped, a 421
 * to every session on shutdown.
 */
#ifndef TERN_SMTPSERVER_SERVICE_H
#define TERN_SMTPSERVER_SERVICE_H

#include <stdbool.h>

#include "sasl/sasl.h"

#include <stddef.h>

struct config;
struct dns_resolver;
struct error;
struct loginguard;
struct smtp_services;

struct smtp_services_opts {
	bool localserve;     /* deliver everything to the one account (backend.h) */
	bool pedantic;       /* strict syntax */
	struct dns_resolver *resolver;  /* for email authentication; NULL: none is done */
	/* Failed-login throttling shared with the other services that take
	 * passwords (IMAP); NULL: the SMTP services keep their own. */
	struct loginguard *guard;
};

/* How submission checks logins, for the other services that take the same
 * passwords (IMAP): the accounts of the running configuration, by account
 * name or any of their addresses, and the SCRAM fake-salt secret (the same
 * for every protocol, so that salts tell nothing about who exists). Valid
 * while s lives; the secret from smtp_services_start on. */
struct smtp_services_login {
	sasl_lookup_fn *lookup;
	bool (*account)(void *ctx, const char *login, char *out, size_t size);
	void *ctx;
	const unsigned char *secret;
	size_t secret_len;
};
void smtp_services_login(struct smtp_services *s, struct smtp_services_login *out);

/* Binds the sockets of every enabled service of cfg's listeners and loads
 * their TLS certificates. Nothing is accepted yet. Returns 0 with *out set
 * (NULL-safe to stop when no service is enabled), or -1 with e set naming
 * the listener. cfg must stay referenced until smtp_services_stop. */
int smtp_services_bind(const struct config *cfg, const struct smtp_services_opts *opts,
                       struct smtp_services **out, struct error *e);

/* Gives submission sessions the outbound queue for other domains' mail
 * (queue.h); without one they refuse such recipients. Call before start. */
struct queue;
void smtp_services_set_queue(struct smtp_services *s, struct queue *q);

/* Starts accepting (after privileges are dropped). Returns 0, or -1 with e. */
int smtp_services_start(struct smtp_services *s, struct error *e);

/* Stops accepting, ends idle sessions with 421, lets messages being received
 * finish for up to grace_ms, and frees *s. */
void smtp_services_stop(struct smtp_services **s, unsigned grace_ms);

/* How many services listen, for the startup message. */
unsigned smtp_services_count(const struct smtp_services *s);

#endif
