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

#endif
