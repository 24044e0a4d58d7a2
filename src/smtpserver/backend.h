/*
 * backend.h: the SMTP server's backend for a running tern: recipients are
 * the configured accounts (config_acquire's current snapshot), messages go
 * into the store. In localserve mode every recipient is the one account,
 * except local parts starting with "temperror" (451) or "permerror" (550),
 * and any sender is allowed.
 */
#ifndef TERN_SMTPSERVER_BACKEND_H
#define TERN_SMTPSERVER_BACKEND_H

#include "smtpserver/smtpserver.h"

struct dns_resolver;
struct globaldb;
struct queue;

struct smtp_backend {
	struct smtpserver_backend ops;   /* give &ops to the sessions */
	const char *data_dir;
	bool localserve;
	/* Email authentication (iprev, SPF, DKIM, DMARC) of mail received on
	 * port 25; NULL: none (localserve), Authentication-Results says none. */
	struct dns_resolver *resolver;
	/* DATA/tern.db, where reports sent to report addresses are kept; NULL:
	 * they are delivered as mail only. */
	struct globaldb *globaldb;
	/* The outbound queue, where submitted mail for other domains goes;
	 * NULL: such recipients are refused with 451. */
	struct queue *queue;
};

/* Fills b; data_dir must outlive it. */
void smtp_backend_init(struct smtp_backend *b, const char *data_dir, bool localserve);

#endif
