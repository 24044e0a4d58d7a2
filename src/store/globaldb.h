/*
 * globaldb.h: DATA/tern.db, the global database (DESIGN.md "Storage"): today
 * the received DMARC aggregate and SMTP TLS reports; login sessions and auth
 * attempts are to join it as further schema migrations.
 *
 * SQLite in WAL mode, synchronous=FULL (OFF when store_set_durable(false)),
 * foreign keys on; a schema_version table and an append-only list of
 * migrations, as the account databases have (schema.c); a database newer
 * than this program is refused. One connection per globaldb_open, behind a
 * mutex: every function may be called from any thread.
 *
 * Reports are idempotent on (org_name, report_id) per kind: a report that
 * arrives twice (reporters retry) is stored once, the second add returns 0
 * with the first one's id. What the report said is kept in tables (one row
 * per report, per DMARC record with its auth results and reasons, per TLSRPT
 * policy with its failure details), next to the attachment as sent
 * (compressed as it came: gzip, zip, or the plain document).
 *
 * Errors: -1 with err: ERR_TEMP (database busy past the timeout), ERR_IO,
 * ERR_INVALID (a report without a kind, a schema too new), ERR_NOTFOUND.
 */
#ifndef TERN_STORE_GLOBALDB_H
#define TERN_STORE_GLOBALDB_H

#include "core/arena.h"
#include "core/error.h"
#include "reports/reports.h"

#include <stdbool.h>
#include <stdint.h>

struct globaldb;

/* Most reports one list call returns (the newest are kept past it). */
#define GLOBALDB_LIST_MAX 10000

/* Opens DATA/tern.db (data_dir/tern.db), creating it and running the schema
 * upgrades. Release with globaldb_close. */
int globaldb_open(const char *data_dir, struct globaldb **db_r, struct error *err);
void globaldb_close(struct globaldb **db);

/* Where a report arrived: for the admin pages, and to know whose it was. */
struct globaldb_report_source {
	const char *account;     /* the account of the report address, or NULL */
	const char *mailbox;     /* the mailbox it was delivered to, or NULL */
	int64_t received;        /* seconds since the epoch; 0 for now */
};

/* Stores a parsed report (r->kind DMARC or TLSRPT, as reports_parse_message
 * gives it, raw and filename included) in one transaction. Returns 1 when
 * added, 0 when a report with the same org and report id was there already
 * (nothing changed), -1 on error. *id_r (may be NULL) gets the row id. */
int globaldb_report_add(struct globaldb *db, const struct report *r,
                        const struct globaldb_report_source *src, int64_t *id_r,
                        struct error *err);

/* A stored report, as listed. */
struct globaldb_dmarc {
	int64_t id;
	int64_t received;
	const char *account, *mailbox;   /* NULL when not recorded */
	const char *filename;
	enum report_packing packing;
	size_t raw_len;
	struct dmarc_report report;      /* records included */
};

struct globaldb_tlsrpt {
	int64_t id;
	int64_t received;
	const char *account, *mailbox;
	const char *filename;
	enum report_packing packing;
	size_t raw_len;
	struct tlsrpt_report report;     /* policies and failure details included */
};

/* DMARC reports about domain (policy_published/domain, any case; NULL for
 * all) whose date range overlaps [from, to] (seconds; inclusive), oldest
 * begin first, at most GLOBALDB_LIST_MAX; everything in a. */
int globaldb_dmarc_list(struct globaldb *db, const char *domain, int64_t from, int64_t to,
                        struct arena *a, struct globaldb_dmarc **list_r, size_t *n_r,
                        struct error *err);

/* TLS reports with a policy for domain (policy-domain, any case; NULL for
 * all) whose date range overlaps [from, to]. All policies of a matching
 * report are returned. */
int globaldb_tlsrpt_list(struct globaldb *db, const char *domain, int64_t from, int64_t to,
                         struct arena *a, struct globaldb_tlsrpt **list_r, size_t *n_r,
                         struct error *err);

/* The attachment of report id as it was received (REPORT_GZIP, _ZIP or
 * _PLAIN in *packing_r), in a. ERR_NOTFOUND when there is no such report. */
int globaldb_report_raw(struct globaldb *db, enum report_kind kind, int64_t id,
                        struct arena *a, const void **raw_r, size_t *len_r,
                        enum report_packing *packing_r, struct error *err);

/* ---- outgoing DMARC aggregate reports (RFC 7489 §7.2) ---- */

/* Evaluated messages, kept until the report of their period is composed
 * (reports/aggregate.h), and the composed messages waiting for the outbound
 * queue. Schema (version 2):
 *
 *  dmarc_eval      one row per evaluated message:
 *    id, evaluated (seconds), policy_domain (NOCASE), p, sp, np, adkim, aspf,
 *    pct, fo, ri (seconds), rua, source_ip, header_from, envelope_from,
 *    envelope_to, disposition, dkim, spf, reasons, auth.
 *    rua: the mailto addresses, separated by single spaces, each optionally
 *         followed by "!BYTES" ("dmarc@example.com!10485760 x@y.example").
 *    reasons: one line per reason, "TYPE" or "TYPE COMMENT" ('\n' between).
 *    auth: one line per result: "dkim DOMAIN SELECTOR RESULT" or
 *         "spf DOMAIN SCOPE RESULT" ('\n' between), "-" for an absent value.
 *    Values never hold spaces or newlines (they are turned into '_'; a
 *    reason comment may hold spaces).
 *  dmarc_report_out one row per composed (policy domain, period): domain,
 *    period_begin, period_end, report_id, created, outgoing (NULL when no
 *    destination remained), note (why destinations were dropped);
 *    UNIQUE (domain, period_begin): composition is idempotent.
 *  outgoing        messages for the outbound queue: id, kind ("dmarc"),
 *    created, mail_from, subject, size, message (BLOB, CRLF lines), status
 *    ("waiting-for-queue").
 *  outgoing_rcpt   outgoing (id), address: the envelope recipients.
 */

#include "reports/aggregate_eval.h"

/* Status of a composed message until the outbound queue exists. */
#define GLOBALDB_OUTGOING_WAITING "waiting-for-queue"

/* Records one evaluated message (RFC 7489 §7.2). A message without mailto
 * destinations (nrua 0) is not stored (returns 0). Destination addresses
 * holding spaces or '!' are left out. ERR_INVALID without policy_domain,
 * p, source_ip, header_from, disposition, dkim or spf. */
int globaldb_dmarc_eval_add(struct globaldb *db, const struct globaldb_dmarc_eval *ev,
                            struct error *err);

/* A policy domain with stored evaluations: the oldest one's time, and the
 * ri= of the newest (the domain's current wish). */
struct globaldb_dmarc_pending {
	const char *domain;
	int64_t oldest;
	uint32_t ri;
};

int globaldb_dmarc_pending(struct globaldb *db, struct arena *a,
                           struct globaldb_dmarc_pending **list_r, size_t *n_r,
                           struct error *err);

/* One group of identical evaluations (everything of a report record alike). */
struct globaldb_dmarc_group {
	struct globaldb_dmarc_eval ev;   /* the record fields (policy fields unset) */
	int64_t count;
};

/* The evaluations of domain (any case) in [begin, end), grouped by
 * (source_ip, disposition, dkim, spf, reasons, header_from, envelope_from,
 * envelope_to, auth) with their count, and in *policy_r the policy fields
 * (domain, p.., ri, rua) of the newest of them. *max_id_r: the highest row
 * id read (for globaldb_dmarc_report_done). *n_r 0 when there are none. */
int globaldb_dmarc_groups(struct globaldb *db, const char *domain, int64_t begin, int64_t end,
                          struct arena *a, struct globaldb_dmarc_eval *policy_r,
                          struct globaldb_dmarc_group **groups_r, size_t *n_r,
                          int64_t *max_id_r, struct error *err);

/* Whether the report of (domain, begin) was composed: 1 yes, 0 no, -1. */
int globaldb_dmarc_report_exists(struct globaldb *db, const char *domain, int64_t begin,
                                 struct error *err);

/* A message for the outbound queue. */
struct globaldb_outgoing {
	int64_t id;                      /* set by list */
	const char *kind;                /* "dmarc" */
	int64_t created;                 /* seconds; 0: now */
	const char *mail_from;
	const char **rcpts;
	size_t nrcpts;
	const char *subject;
	const void *data;                /* the message, CRLF lines (list: only with data) */
	size_t len;
	const char *status;              /* NULL: GLOBALDB_OUTGOING_WAITING */
};

int globaldb_outgoing_add(struct globaldb *db, const struct globaldb_outgoing *m, int64_t *id_r,
                          struct error *err);

/* Outgoing messages with status (NULL: any), oldest first, at most
 * GLOBALDB_LIST_MAX; data and len only when with_data. Everything in a. */
int globaldb_outgoing_list(struct globaldb *db, const char *status, bool with_data,
                           struct arena *a, struct globaldb_outgoing **list_r, size_t *n_r,
                           struct error *err);

/* Sets the status of outgoing message id (GLOBALDB_OUTGOING_QUEUED once
 * the outbound queue holds it, GLOBALDB_OUTGOING_REFUSED when it never
 * can). Returns 0, or -1 (ERR_NOTFOUND: no such id). */
#define GLOBALDB_OUTGOING_QUEUED "queued"
#define GLOBALDB_OUTGOING_REFUSED "refused"    /* the queue cannot take it (no or bad recipients) */
int globaldb_outgoing_set_status(struct globaldb *db, int64_t id, const char *status,
                                 struct error *err);

/* A composed report. */
struct globaldb_dmarc_done {
	const char *domain;
	int64_t begin, end;              /* the period, [begin, end) */
	const char *report_id;
	int64_t max_id;                  /* as globaldb_dmarc_groups gave it */
	const char *note;                /* destinations dropped and why; may be NULL */
	const struct globaldb_outgoing *msg;   /* NULL: no destination remained */
};

/* In one transaction: records the report of (domain, begin), adds its
 * message, and deletes the evaluations of domain in [begin, end) with ids
 * up to max_id. Returns 1, or 0 when the report of (domain, begin) existed
 * already (no message added; the evaluations are deleted all the same, they
 * belong to a reported period), or -1. *outgoing_id_r (may be NULL): the
 * message's id, 0 without one. */
int globaldb_dmarc_report_done(struct globaldb *db, const struct globaldb_dmarc_done *d,
                               int64_t *outgoing_id_r, struct error *err);

/* ---- outgoing SMTP TLS reports (RFC 8460) ---- */

/* The TLS results of delivery attempts, per policy domain and UTC day, kept
 * until the day's report is composed (reports/tlsrpt_out.h). Schema
 * (version 3):
 *
 *  tlsrpt_result   one row per (policy_domain, day, policy_type,
 *    policy_strings, mx_host): successful and failed session counts.
 *    policy_strings: the §4.4 policy-string entries, '\n' between ("" none).
 *  tlsrpt_result_failure  failure details of a result, one row per
 *    (result_type, sending_mta_ip, receiving_mx_hostname, receiving_ip,
 *    additional_info) with its count; "" for an absent value.
 *  tlsrpt_report_out  one row per composed (domain, period_begin): the
 *    report id, the gzip'ed report (NULL when none was made), the outgoing
 *    message (NULL without mailto destinations), note (why there is no
 *    report or which destinations failed); UNIQUE (domain, period_begin).
 *  tlsrpt_post     one row per https destination: uri, status ("sent",
 *    "retrying", "failed": given up), detail, posted (the last attempt),
 *    attempts, next_attempt (while retrying).
 */

/* Most failure-detail rows per result; sessions past it are counted in
 * failed but not detailed (the report's failure-details stay bounded). */
#define GLOBALDB_TLSRPT_FAILURES_MAX 1000
/* Longest policy_strings / additional_info kept (longer is cut). */
#define GLOBALDB_TLSRPT_TEXT_MAX 8192

/* One TLS session (RFC 8460 §4.3): what a delivery attempt saw. */
struct globaldb_tlsrpt_session {
	const char *policy_domain;       /* the recipient domain */
	int64_t when;                    /* seconds; 0: now */
	const char *policy_type;         /* "sts", "tlsa", "no-policy-found" */
	const char *policy_strings;      /* '\n' between, or NULL */
	const char *mx_host;             /* or NULL */
	const char *result_type;         /* NULL: a successful session */
	const char *sending_mta_ip, *receiving_ip, *additional_info;   /* or NULL */
};

/* Adds one session to the counts of its day. ERR_INVALID without
 * policy_domain or policy_type. */
int globaldb_tlsrpt_result_add(struct globaldb *db, const struct globaldb_tlsrpt_session *s,
                               struct error *err);

struct globaldb_tlsrpt_failure {
	const char *result_type, *sending_mta_ip, *receiving_mx_hostname, *receiving_ip,
		*additional_info;        /* NULL when absent */
	int64_t count;
};

struct globaldb_tlsrpt_result {
	const char *policy_domain;
	int64_t day;                     /* UTC midnight */
	const char *policy_type, *policy_strings, *mx_host;   /* "" when absent */
	int64_t successful, failed;
	struct globaldb_tlsrpt_failure *failures;
	size_t nfailures;
};

/* The results of domain (any case; NULL: all) on day (a UTC midnight; 0:
 * all days), by domain, day, then insertion, at most GLOBALDB_LIST_MAX;
 * everything in a. */
int globaldb_tlsrpt_results(struct globaldb *db, const char *domain, int64_t day,
                            struct arena *a, struct globaldb_tlsrpt_result **list_r, size_t *n_r,
                            struct error *err);

/* A (domain, day) with results, days before `before` only. */
struct globaldb_tlsrpt_pending {
	const char *domain;
	int64_t day;
};

int globaldb_tlsrpt_pending(struct globaldb *db, int64_t before, struct arena *a,
                            struct globaldb_tlsrpt_pending **list_r, size_t *n_r,
                            struct error *err);

#define GLOBALDB_TLSRPT_SENT "sent"
#define GLOBALDB_TLSRPT_RETRYING "retrying"
#define GLOBALDB_TLSRPT_FAILED "failed"

struct globaldb_tlsrpt_post {
	int64_t id;                      /* set by the lists */
	const char *uri;
	const char *status;              /* GLOBALDB_TLSRPT_SENT, _RETRYING, _FAILED */
	const char *detail;              /* or NULL */
	unsigned attempts;               /* add: 0 counts as 1 */
	int64_t next_attempt;            /* while retrying */
};

/* A composed (or given up) report. */
struct globaldb_tlsrpt_done {
	const char *domain;
	int64_t begin, end;              /* [begin, end) */
	const char *report_id;
	int64_t created;                 /* seconds; 0: now */
	const void *gz;                  /* the gzip'ed report, or NULL */
	size_t gzlen;
	const char *note;                /* or NULL */
	const struct globaldb_outgoing *msg;   /* NULL: no mailto destination */
	const struct globaldb_tlsrpt_post *posts;
	size_t nposts;
};

/* In one transaction: records the report of (domain, begin), its message
 * and posts, and deletes the results of domain on that day. Returns 1, or 0
 * when it was recorded already (nothing added, the results are deleted all
 * the same), or -1. */
int globaldb_tlsrpt_report_done(struct globaldb *db, const struct globaldb_tlsrpt_done *d,
                                struct error *err);

/* An https destination due for another attempt, with its report. */
struct globaldb_tlsrpt_post_due {
	struct globaldb_tlsrpt_post post;
	const char *domain;
	int64_t created;                 /* when the report was composed */
	const void *gz;
	size_t gzlen;
};

/* Posts with status retrying whose next_attempt is at or before now,
 * oldest first, at most GLOBALDB_LIST_MAX; everything in a. */
int globaldb_tlsrpt_posts_due(struct globaldb *db, int64_t now, struct arena *a,
                              struct globaldb_tlsrpt_post_due **list_r, size_t *n_r,
                              struct error *err);

/* Records another attempt of post id: its status, detail and next attempt.
 * ERR_NOTFOUND when there is no such post. */
int globaldb_tlsrpt_post_update(struct globaldb *db, int64_t id, const char *status,
                                const char *detail, int64_t next_attempt, struct error *err);

/* A composed report as listed. */
struct globaldb_tlsrpt_out {
	const char *domain;
	int64_t begin, end, created;
	const char *report_id, *note;
	int64_t outgoing;                /* 0: none */
	size_t gzlen;
	struct globaldb_tlsrpt_post *posts;
	size_t nposts;
};

/* Composed reports, newest first, at most GLOBALDB_LIST_MAX, in a. */
int globaldb_tlsrpt_out_list(struct globaldb *db, struct arena *a,
                             struct globaldb_tlsrpt_out **list_r, size_t *n_r, struct error *err);

#endif
