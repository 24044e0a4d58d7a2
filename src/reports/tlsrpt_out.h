/*
 * tlsrpt_out.h: outgoing SMTP TLS reports (RFC 8460), as tern, a sending
 * MTA, reports to the domains it delivered mail to.
 *
 * The outbound queue records the TLS result of every delivery attempt
 * (globaldb_tlsrpt_result_add, per policy domain and UTC day). Once a day,
 * after UTC midnight, reports_tlsrpt_compose_due composes the previous
 * days: for each policy domain with results, it looks up the domain's
 * "_smtp._tls" TXT record (§3), builds the JSON report (§4.3, §4.4),
 * gzips it, and sends it to each rua destination (§5.3):
 *   mailto:  a multipart/report; report-type="tlsrpt" message, DKIM-signed
 *            through reports_sender.sign, put into tern.db's outgoing table
 *            (kind "tlsrpt") for the outbound queue;
 *   https:   POSTed at once (libcurl), Content-Type application/tlsrpt+gzip
 *            (§5.3); a failed POST is tried again by later runs (§5.4: for
 *            up to 24 hours, after an hour and then twice as long each
 *            time), then recorded as failed.
 * A domain without a usable record is recorded as composed without a
 * report. A temporary DNS failure postpones the domain to the next run
 * while the day ended less than two days ago.
 *
 * RFC 8460 §3: reports are not reported about: the queue records no TLS
 * results of delivering kind "tlsrpt" messages.
 */
#ifndef TERN_REPORTS_TLSRPT_OUT_H
#define TERN_REPORTS_TLSRPT_OUT_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "reports/aggregate.h"
#include "reports/reports.h"
#include "store/globaldb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns_resolver;

/* ---- recording (RFC 8460 §4.3) ---- */

struct smtpclient_tls_report;

/* Records the TLS results of one delivery attempt to domain (the policy
 * domain: the recipients' domain) at now (0: the current time), one per
 * session of the attempt (t->sessions; without any, the failure of the
 * policy itself if there is one): a session
 * counts as successful when TLS was established without a failure; a plain
 * text session without a failure counts as "starttls-not-supported". A
 * failure carries the sending MTA's address and the reason text
 * (additional-information, §4.4); a session its policy strings. Returns 1
 * recorded, 0 nothing to
 * record (no session reached the TLS step), -1 with e. */
int reports_tlsrpt_record_attempt(struct globaldb *db, const char *domain,
                                  const struct smtpclient_tls_report *t, int64_t now,
                                  struct error *e);

/* ---- the "_smtp._tls" TXT record (RFC 8460 §3) ---- */

/* Longest record text looked at (the strings joined). */
#define TLSRPT_RECORD_MAX 4096
/* Most rua URIs kept from one record. */
#define TLSRPT_RUA_MAX 16
/* Longest URI. */
#define TLSRPT_URI_MAX 2048

enum tlsrpt_scheme { TLSRPT_MAILTO, TLSRPT_HTTPS };

struct tlsrpt_rua {
	enum tlsrpt_scheme scheme;
	const char *uri;         /* as written */
	const char *address;     /* mailto: the address, %-decoded, without "?..." */
};

struct tlsrpt_record {
	struct tlsrpt_rua *rua;
	size_t nrua;
	size_t nignored;         /* rua URIs of other schemes, ignored */
};

/* Whether a TXT record's text starts with "v=TLSRPTv1;" (§3: other records
 * are discarded before counting). */
bool reports_tlsrpt_record_is_tlsrpt(const char *txt, size_t len);

/* Parses one record's text (§3 ABNF): "v=TLSRPTv1" first, then fields
 * separated by ";" with optional spaces around it, a final ";" allowed;
 * "rua" required (once), a comma-separated list of mailto: and https: URIs
 * (other schemes ignored; at least one usable); extension fields
 * (ext-name "=" ext-value) are checked and ignored. Everything in a.
 * Returns 0, or -1 with e (ERR_INVALID naming the field, ERR_LIMIT). */
int reports_tlsrpt_record_parse(const char *txt, size_t len, struct arena *a,
                                struct tlsrpt_record *r, struct error *e);

/* ---- the report (RFC 8460 §4) ---- */

/* The JSON document (§4.3, §4.4) of report r into out. */
int reports_tlsrpt_json(const struct tlsrpt_report *r, struct buf *out, struct error *err);

/* The report of policy domain for the day [begin, begin + 86400) from the
 * recorded results (globaldb_tlsrpt_results): one policies[] entry per
 * (policy type, policy strings), with the MX hosts, summed counts and the
 * failure details of its results. In a. */
int reports_tlsrpt_build(const struct reports_sender *s, const char *domain, int64_t begin,
                         const struct globaldb_tlsrpt_result *results, size_t nresults,
                         const char *report_id, struct arena *a, struct tlsrpt_report *out);

/* The §5.3 file name "receiver!policy-domain!begin!end!unique-id.json.gz". */
const char *reports_tlsrpt_filename(const struct reports_sender *s, const struct tlsrpt_report *r,
                                    const char *unique_id, struct arena *a);

/* The report message (§5.3) for gz (the gzip'ed JSON) to rcpts, CRLF lines,
 * with the signer's header fields in front when s->sign is set. */
int reports_tlsrpt_message(const struct reports_sender *s, const struct tlsrpt_report *r,
                           const char *filename, const char *const *rcpts, size_t nrcpts,
                           const void *gz, size_t gzlen, int64_t now, struct buf *out,
                           struct error *err);

/* ---- composing ---- */

/* How rua destinations are reached; the DNS/libcurl versions below, tests
 * give their own. */
struct reports_tlsrpt_io {
	/* The "_smtp._tls.DOMAIN" records' texts: 1 with *txt_r (in a; the one
	 * record starting v=TLSRPTv1), 0 none (or more than one, §3), -1
	 * temporary failure (why set). */
	int (*lookup)(void *arg, const char *domain, struct arena *a, const char **txt_r,
	              char *why, size_t whysize);
	/* POSTs the gzip'ed report to an https URI (§5.2): 0 sent, -1 (why). */
	int (*post)(void *arg, const char *uri, const void *gz, size_t len, char *why,
	            size_t whysize);
	void *lookup_arg, *post_arg;
};

/* What the https POST needs (post_arg). */
struct reports_tlsrpt_https {
	struct dns_resolver *resolver;   /* the URI's host is looked up here */
	const char *ca_file;             /* trusted instead of the system's CAs, or NULL */
};

/* The resolver (arg) version of lookup; the libcurl version of post (arg: a
 * struct reports_tlsrpt_https), connecting to the addresses tern's resolver
 * gives for the URI's host. */
int reports_tlsrpt_lookup_dns(void *arg, const char *domain, struct arena *a, const char **txt_r,
                              char *why, size_t whysize);
int reports_tlsrpt_post_https(void *arg, const char *uri, const void *gz, size_t len, char *why,
                              size_t whysize);

struct reports_tlsrpt_stats {
	unsigned composed;        /* reports sent or queued to at least one destination */
	unsigned no_destination;  /* days recorded without a report */
	unsigned postponed;       /* temporary DNS failures */
	unsigned posted, post_failed;
};

/* Composes the report of every (policy domain, day) with results whose day
 * ended at or before now (UTC midnight), then POSTs again the reports whose
 * https destinations are due for another attempt. Only_day (0: all) limits
 * composing to the day starting then. Database errors end the run (-1); a
 * domain's trouble is logged and the others go on. stats may be NULL (its
 * post counts count every attempt, retries included). */
int reports_tlsrpt_compose_due(struct globaldb *db, const struct reports_tlsrpt_io *io,
                               const struct reports_sender *sender, int64_t now,
                               int64_t only_day, struct reports_tlsrpt_stats *stats,
                               struct error *e);

#endif
