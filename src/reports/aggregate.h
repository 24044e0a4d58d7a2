/*
 * aggregate.h: outgoing DMARC aggregate reports (RFC 7489 §7.1, §7.2,
 * Appendix C), as tern, a receiver, sends them to the domains whose mail it
 * evaluated.
 *
 * The SMTP server records each evaluated message (globaldb_dmarc_eval_add,
 * reports/aggregate_eval.h) and calls reports_dmarc_compose_due now and
 * then (hourly is plenty). For each policy domain, evaluations are cut into
 * periods; every period that has ended is composed into one report message
 * that waits in tern.db's outgoing table ("waiting-for-queue") until the
 * outbound queue exists.
 *
 * Periods (RFC 7489 §7.2 leaves them to the receiver): the domain's ri=
 * (that of its newest evaluation) rounded down to 1, 2, 3, 4, 6, 8, 12 or 24
 * hours (at least an hour, at most a day: §6.3 asks for daily reports and
 * hourly when asked), aligned to UTC midnight: [00:00, 24:00) for the
 * default ri=86400. date_range/end is the period's last second (end - 1).
 *
 * A report has the policy published of the period's newest evaluation, and
 * its rua= destinations; records group identical rows (count).
 *
 * Destinations (§7.1): a mailto address whose domain has another
 * Organizational Domain than the policy domain must be authorized by a TXT
 * record starting v=DMARC1 at "<policy-domain>._report._dmarc.<rua-domain>";
 * destinations without one are dropped and logged (an rua= in that record,
 * which may replace the destination, is not honoured). A temporary DNS
 * failure postpones the report to the next call while the period ended less
 * than two days ago, then drops the destination. A !size limit smaller than
 * the gzip'ed report drops the destination (§6.2; the short "report too big"
 * message of §7.2.2 is not sent). Why destinations were dropped is kept in
 * dmarc_report_out.note. Without destinations, the period is recorded as
 * composed with no message.
 *
 * Signing: reports_sender.sign, when set, is given the composed message and
 * returns header fields to put in front of it (a DKIM-Signature); NULL
 * leaves the message unsigned.
 */
#ifndef TERN_REPORTS_AGGREGATE_H
#define TERN_REPORTS_AGGREGATE_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "reports/reports.h"
#include "store/globaldb.h"

#include <stdbool.h>
#include <stdint.h>

struct dns_resolver;

struct reports_sender {
	const char *org_name;            /* report_metadata/org_name: our Hostname */
	const char *from;                /* From: and report_metadata/email, e.g. postmaster@HOST */
	const char *hostname;            /* Message-ID right side and file name receiver part */
	const char *extra_contact_info;  /* may be NULL */
	/* DKIM hook: appends header fields (CRLF-terminated) for msg to hdr, or
	 * returns -1 (the report is then stored unsigned and the error logged). */
	int (*sign)(void *arg, const char *from_domain, const char *msg, size_t len,
	            struct buf *hdr, struct error *err);
	void *sign_arg;
};

/* Destination check for §7.1: 1 authorized, 0 not (why in why), -1
 * temporary failure. */
typedef int reports_verify_fn(void *arg, const char *policy_domain, const char *rua_domain,
                              char *why, size_t whysize);

/* The DNS version of reports_verify_fn (arg: a struct dns_resolver *): the
 * Organizational Domains compared (PSL), then the TXT record. */
int reports_dmarc_verify_dns(void *arg, const char *policy_domain, const char *rua_domain,
                             char *why, size_t whysize);

/* The period holding t for ri: [*begin_r, *end_r). */
void reports_dmarc_period(int64_t t, uint32_t ri, int64_t *begin_r, int64_t *end_r);

/* Appendix C XML of r (records with count) into out. */
int reports_dmarc_xml(const struct dmarc_report *r, struct buf *out, struct error *err);

/* gzip (RFC 1952) of in into out. */
int reports_gzip(const void *in, size_t n, struct buf *out, struct error *err);

/* A report: the XML document of a period's groups. */
int reports_dmarc_build(const struct reports_sender *s, const struct globaldb_dmarc_eval *policy,
                        const struct globaldb_dmarc_group *groups, size_t ngroups,
                        int64_t begin, int64_t end, const char *report_id, struct arena *a,
                        struct dmarc_report *out);

/* The report message (§7.2.1.1) for gz (the gzip'ed XML) to rcpts, CRLF lines. */
int reports_dmarc_message(const struct reports_sender *s, const struct dmarc_report *r,
                          const char *const *rcpts, size_t nrcpts, const void *gz, size_t gzlen,
                          int64_t now, struct buf *out, struct error *err);

/* What a compose run did. */
struct reports_compose_stats {
	unsigned composed;        /* reports stored with a message */
	unsigned no_destination;  /* periods recorded without one */
	unsigned postponed;       /* temporary DNS failures */
};

/* Composes every period that ended at or before now, for every policy
 * domain. Errors of the database end the run (-1); one domain's trouble is
 * logged and the others go on. */
int reports_dmarc_compose_due(struct globaldb *db, struct dns_resolver *res,
                              const struct reports_sender *sender, int64_t now,
                              struct error *e);

/* The same with a destination check of the caller's (tests); stats may be NULL. */
int reports_dmarc_compose_due_with(struct globaldb *db, reports_verify_fn *verify,
                                   void *verify_arg, const struct reports_sender *sender,
                                   int64_t now, struct reports_compose_stats *stats,
                                   struct error *e);

#endif
