/*
 * internal.h: pieces of the SMTP server shared between its files.
 */
#ifndef TERN_SMTPSERVER_INTERNAL_H
#define TERN_SMTPSERVER_INTERNAL_H

#include "smtpserver/smtpserver.h"

#include <stdint.h>
#include <time.h>

struct buf;

/* spool.c */
struct smtpserver_spool *spool_new(const char *dir, uint64_t max_size);
void spool_free(struct smtpserver_spool **s);
/* Empties s for the next message. */
void spool_reset(struct smtpserver_spool *s);
/* smtp_data_sink: appends, moving to the temporary file past SMTPSERVER_SPOOL_MEM. */
int spool_sink(void *ctx, const char *p, size_t n, struct error *e);

/* received.c: the Received header (RFC 5321 §4.4, RFC 3848, RFC 6531
 * §3.7.3, RFC 8314 §7) for t, written at time now, into out (CRLF-ended,
 * folded). */
int received_header(struct buf *out, const struct smtpserver_txn *t, const char *id,
	time_t now);

/* The RFC 3848 "with" keyword of t: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPSA, ... */
const char *received_protocol(const struct smtpserver_txn *t);

#endif
