/*
 * authcheck.h: email authentication of a message received on port 25, and
 * the decision it leads to: the seam where iprev, SPF, DKIM and DMARC (and
 * later the junk filter) meet the SMTP server. The results become the
 * Authentication-Results header (RFC 8601) written on delivery.
 */
#ifndef TERN_SMTPSERVER_AUTHCHECK_H
#define TERN_SMTPSERVER_AUTHCHECK_H

#include "authres/authres.h"
#include "dmarc/dmarc.h"
#include "reports/aggregate_eval.h"
#include "smtpserver/smtpserver.h"

struct arc_result;
struct arena;
struct buf;
struct dns_resolver;
struct message;

/* Methods an Authentication-Results field holds at most. */
#define AUTHCHECK_METHODS_MAX 16

enum authcheck_verdict {
	AUTHCHECK_ACCEPT,       /* deliver as usual */
	AUTHCHECK_JUNK,         /* deliver into the Junk mailbox (DMARC quarantine) */
	AUTHCHECK_REJECT,       /* refuse with reply: 5xx, or 4xx to delay */
};

struct authcheck {
	struct authres_method methods[AUTHCHECK_METHODS_MAX];
	size_t n;
	enum authcheck_verdict verdict;
	struct smtpserver_reply reply;  /* AUTHCHECK_REJECT */
	/* for the store's delivery record: "pass", "fail", ... or NULL */
	const char *spf, *dkim, *dmarc;
	const char *received_spf;       /* the Received-SPF field (RFC 7208 §9.1), or NULL */
	bool have_dmarc;                /* dmarc_eval holds an evaluation */
	struct dmarc_eval dmarc_eval;
	/* What an outgoing aggregate report records of this message (RFC 7489
	 * §7.2), when the From domain asks for reports (rua=). */
	bool have_report_eval;
	struct globaldb_dmarc_eval report_eval;
	/* The ARC chain (RFC 8617), for trusted forwarders; never NULL after
	 * authcheck_run with a resolver. */
	struct arc_result *arc;
};

/* Checks the message m (parsed from msg's head) received in t. Strings live
 * in a. res may be NULL: then nothing is checked (n is 0). */
void authcheck_run(struct dns_resolver *res, const struct smtpserver_txn *t,
                   const struct message *m, struct smtpserver_spool *msg, struct arena *a,
                   struct authcheck *out);

/* Appends the Received-SPF field and the Authentication-Results field of
 * out (RFC 8601 §2.2: "none" when no method ran). */
int authcheck_header(struct buf *added, const char *authserv_id, const struct authcheck *out);

#endif
