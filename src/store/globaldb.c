/*
 * globaldb.c: DATA/tern.db, see globaldb.h. SQL with bound parameters only;
 * statements are prepared per call (report adds and lists are rare next to
 * deliveries, and a per-call statement keeps this file simple).
 *
 * Tables (version 1):
 *  dmarc_report   one row per DMARC aggregate report: report_metadata,
 *                 policy_published, where it arrived, the attachment as sent
 *  dmarc_error    report_metadata/error texts
 *  dmarc_record   one row per record: row, policy_evaluated, identifiers
 *  dmarc_reason   policy_evaluated/reason of a record
 *  dmarc_auth     auth_results of a record (method 'dkim' or 'spf')
 *  tlsrpt_report  one row per TLS report
 *  tlsrpt_policy  one row per policies[] entry with its summary counts
 *  tlsrpt_policy_item  policy-string and mx-host entries of a policy
 *  tlsrpt_failure failure-details of a policy
 * Child rows go with their report (ON DELETE CASCADE), for a later
 * retention job.
 */
#include "store/globaldb.h"

#include "store/internal.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct globaldb {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static int gfail(struct globaldb *g, struct error *err, const char *what)
{
	int code = sqlite3_errcode(g->db);
	return error_set(err, code == SQLITE_BUSY || code == SQLITE_LOCKED ? ERR_TEMP : ERR_IO,
	                 "tern.db: %s: %s", what, sqlite3_errmsg(g->db));
}

static int gexec(struct globaldb *g, const char *sql, struct error *err)
{
	if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return gfail(g, err, "database");
	return 0;
}

static int gprep(struct globaldb *g, const char *sql, sqlite3_stmt **st, struct error *err)
{
	if (sqlite3_prepare_v2(g->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return gfail(g, err, "preparing statement");
	}
	return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Steps a statement that returns no rows (or ignores them) and finalizes it. */
static int grun(struct globaldb *g, sqlite3_stmt *st, struct error *err)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	int r = rc == SQLITE_DONE ? 0 : gfail(g, err, "database step");
	sqlite3_finalize(st);
	return r;
}

static void grollback(struct globaldb *g)
{
	if (!sqlite3_get_autocommit(g->db))
		sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Locks g, opens a read transaction (so that a row and the rows loaded for it agree) and
 * prepares sql into *st. Whatever it returns, read_end ends it. */
static int read_begin(struct globaldb *g, const char *sql, sqlite3_stmt **st, struct error *err)
{
	*st = NULL;
	pthread_mutex_lock(&g->lock);
	int ret = gexec(g, "BEGIN", err);
	return ret == 0 ? gprep(g, sql, st, err) : ret;
}

/* Ends what read_begin started: 0 if ret (the last step's result) is not an error, else -1. */
static int read_end(struct globaldb *g, sqlite3_stmt *st, int ret)
{
	if (st != NULL)
		sqlite3_finalize(st);
	grollback(g);
	pthread_mutex_unlock(&g->lock);
	return ret < 0 ? -1 : 0;
}

/* ---- schema ---- */

static const char schema_v1[] =
	"CREATE TABLE dmarc_report ("
	" id INTEGER PRIMARY KEY,"
	" org_name TEXT NOT NULL, report_id TEXT NOT NULL,"
	" email TEXT, extra_contact_info TEXT, version TEXT,"
	" period_begin INTEGER NOT NULL, period_end INTEGER NOT NULL,"
	" domain TEXT NOT NULL COLLATE NOCASE,"
	" adkim TEXT, aspf TEXT, p TEXT, sp TEXT, np TEXT, fo TEXT, pct INTEGER,"
	" received INTEGER NOT NULL, account TEXT, mailbox TEXT,"
	" filename TEXT, packing INTEGER NOT NULL, raw BLOB NOT NULL,"
	" UNIQUE (org_name, report_id));"
	"CREATE INDEX dmarc_report_domain ON dmarc_report(domain, period_begin);"
	"CREATE INDEX dmarc_report_begin ON dmarc_report(period_begin);"
	"CREATE TABLE dmarc_error ("
	" report INTEGER NOT NULL REFERENCES dmarc_report(id) ON DELETE CASCADE,"
	" text TEXT NOT NULL);"
	"CREATE INDEX dmarc_error_report ON dmarc_error(report);"
	"CREATE TABLE dmarc_record ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL REFERENCES dmarc_report(id) ON DELETE CASCADE,"
	" source_ip TEXT NOT NULL, count INTEGER NOT NULL,"
	" disposition TEXT, dkim TEXT, spf TEXT,"
	" header_from TEXT, envelope_from TEXT, envelope_to TEXT);"
	"CREATE INDEX dmarc_record_report ON dmarc_record(report);"
	"CREATE TABLE dmarc_reason ("
	" record INTEGER NOT NULL REFERENCES dmarc_record(id) ON DELETE CASCADE,"
	" type TEXT, comment TEXT);"
	"CREATE INDEX dmarc_reason_record ON dmarc_reason(record);"
	"CREATE TABLE dmarc_auth ("
	" record INTEGER NOT NULL REFERENCES dmarc_record(id) ON DELETE CASCADE,"
	" method TEXT NOT NULL CHECK (method IN ('dkim', 'spf')),"
	" domain TEXT, selector TEXT, scope TEXT, result TEXT, human_result TEXT);"
	"CREATE INDEX dmarc_auth_record ON dmarc_auth(record);"
	"CREATE TABLE tlsrpt_report ("
	" id INTEGER PRIMARY KEY,"
	" org_name TEXT NOT NULL, report_id TEXT NOT NULL,"
	" contact_info TEXT, start_datetime TEXT, end_datetime TEXT,"
	" period_begin INTEGER NOT NULL, period_end INTEGER NOT NULL,"
	" received INTEGER NOT NULL, account TEXT, mailbox TEXT,"
	" filename TEXT, packing INTEGER NOT NULL, raw BLOB NOT NULL,"
	" UNIQUE (org_name, report_id));"
	"CREATE INDEX tlsrpt_report_begin ON tlsrpt_report(period_begin);"
	"CREATE TABLE tlsrpt_policy ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL REFERENCES tlsrpt_report(id) ON DELETE CASCADE,"
	" policy_type TEXT, policy_domain TEXT COLLATE NOCASE,"
	" successful INTEGER NOT NULL, failed INTEGER NOT NULL);"
	"CREATE INDEX tlsrpt_policy_report ON tlsrpt_policy(report);"
	"CREATE INDEX tlsrpt_policy_domain ON tlsrpt_policy(policy_domain);"
	"CREATE TABLE tlsrpt_policy_item ("
	" policy INTEGER NOT NULL REFERENCES tlsrpt_policy(id) ON DELETE CASCADE,"
	" what TEXT NOT NULL CHECK (what IN ('policy-string', 'mx-host')),"
	" value TEXT NOT NULL);"
	"CREATE INDEX tlsrpt_policy_item_policy ON tlsrpt_policy_item(policy);"
	"CREATE TABLE tlsrpt_failure ("
	" policy INTEGER NOT NULL REFERENCES tlsrpt_policy(id) ON DELETE CASCADE,"
	" result_type TEXT NOT NULL, sending_mta_ip TEXT, receiving_mx_hostname TEXT,"
	" receiving_mx_helo TEXT, receiving_ip TEXT, failed_session_count INTEGER NOT NULL,"
	" additional_information TEXT, failure_reason_code TEXT);"
	"CREATE INDEX tlsrpt_failure_policy ON tlsrpt_failure(policy);";

static int init_v1(struct globaldb *g, struct error *err)
{
	return gexec(g, schema_v1, err);
}

/* Version 2: outgoing DMARC aggregate reports (globaldb.h describes the
 * encodings of rua, reasons and auth). */
static const char schema_v2[] =
	"CREATE TABLE dmarc_eval ("
	" id INTEGER PRIMARY KEY,"
	" evaluated INTEGER NOT NULL,"
	" policy_domain TEXT NOT NULL COLLATE NOCASE,"
	" p TEXT NOT NULL, sp TEXT, np TEXT, adkim TEXT, aspf TEXT, pct INTEGER, fo TEXT,"
	" ri INTEGER NOT NULL DEFAULT 86400, rua TEXT NOT NULL,"
	" source_ip TEXT NOT NULL, header_from TEXT NOT NULL, envelope_from TEXT,"
	" envelope_to TEXT, disposition TEXT NOT NULL, dkim TEXT NOT NULL, spf TEXT NOT NULL,"
	" reasons TEXT NOT NULL DEFAULT '', auth TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX dmarc_eval_domain ON dmarc_eval(policy_domain, evaluated);"
	"CREATE TABLE outgoing ("
	" id INTEGER PRIMARY KEY, kind TEXT NOT NULL, created INTEGER NOT NULL,"
	" mail_from TEXT NOT NULL, subject TEXT, size INTEGER NOT NULL,"
	" message BLOB NOT NULL, status TEXT NOT NULL DEFAULT 'waiting-for-queue');"
	"CREATE INDEX outgoing_status ON outgoing(status, created);"
	"CREATE TABLE outgoing_rcpt ("
	" outgoing INTEGER NOT NULL REFERENCES outgoing(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL);"
	"CREATE INDEX outgoing_rcpt_outgoing ON outgoing_rcpt(outgoing);"
	"CREATE TABLE dmarc_report_out ("
	" id INTEGER PRIMARY KEY, domain TEXT NOT NULL COLLATE NOCASE,"
	" period_begin INTEGER NOT NULL, period_end INTEGER NOT NULL,"
	" report_id TEXT NOT NULL, created INTEGER NOT NULL,"
	" outgoing INTEGER REFERENCES outgoing(id) ON DELETE SET NULL, note TEXT,"
	" UNIQUE (domain, period_begin));";

static int init_v2(struct globaldb *g, struct error *err)
{
	return gexec(g, schema_v2, err);
}

/* Version 3: outgoing SMTP TLS reports (globaldb.h describes the tables). */
static const char schema_v3[] =
	"CREATE TABLE tlsrpt_result ("
	" id INTEGER PRIMARY KEY, policy_domain TEXT NOT NULL COLLATE NOCASE,"
	" day INTEGER NOT NULL, policy_type TEXT NOT NULL, policy_strings TEXT NOT NULL DEFAULT '',"
	" mx_host TEXT NOT NULL DEFAULT '', successful INTEGER NOT NULL DEFAULT 0,"
	" failed INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (policy_domain, day, policy_type, policy_strings, mx_host));"
	"CREATE INDEX tlsrpt_result_day ON tlsrpt_result(day);"
	"CREATE TABLE tlsrpt_result_failure ("
	" result INTEGER NOT NULL REFERENCES tlsrpt_result(id) ON DELETE CASCADE,"
	" result_type TEXT NOT NULL, sending_mta_ip TEXT NOT NULL DEFAULT '',"
	" receiving_mx_hostname TEXT NOT NULL DEFAULT '', receiving_ip TEXT NOT NULL DEFAULT '',"
	" additional_info TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (result, result_type, sending_mta_ip, receiving_mx_hostname, receiving_ip,"
	" additional_info));"
	"CREATE TABLE tlsrpt_report_out ("
	" id INTEGER PRIMARY KEY, domain TEXT NOT NULL COLLATE NOCASE,"
	" period_begin INTEGER NOT NULL, period_end INTEGER NOT NULL,"
	" report_id TEXT NOT NULL, created INTEGER NOT NULL, report BLOB,"
	" outgoing INTEGER REFERENCES outgoing(id) ON DELETE SET NULL, note TEXT,"
	" UNIQUE (domain, period_begin));"
	"CREATE TABLE tlsrpt_post ("
	" id INTEGER PRIMARY KEY,"
	" report INTEGER NOT NULL REFERENCES tlsrpt_report_out(id) ON DELETE CASCADE,"
	" uri TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('sent', 'retrying', 'failed')),"
	" detail TEXT, posted INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 1,"
	" next_attempt INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tlsrpt_post_report ON tlsrpt_post(report);"
	"CREATE INDEX tlsrpt_post_due ON tlsrpt_post(status, next_attempt);";

static int init_v3(struct globaldb *g, struct error *err)
{
	return gexec(g, schema_v3, err);
}

typedef int migration_fn(struct globaldb *g, struct error *err);

/* Append only: never edit a migration that has shipped. */
static migration_fn *const migrations[] = {
	init_v1,   /* 0 -> 1: reports */
	init_v2,   /* 1 -> 2: outgoing DMARC aggregate reports */
	init_v3,   /* 2 -> 3: outgoing SMTP TLS reports */
};
#define GLOBALDB_VERSION ((int64_t)(sizeof(migrations) / sizeof(migrations[0])))

/* One step in its own transaction: 1 when current, 0 after a step, -1. */
static int upgrade_step(struct globaldb *g, struct error *err)
{
	if (gexec(g, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
	          err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (gprep(g, "SELECT version FROM schema_version", &st, err) != 0)
		return -1;
	int64_t v = 0;
	int rc = sqlite3_step(st);
	bool have = rc == SQLITE_ROW;
	if (have)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return gfail(g, err, "reading schema version");
	if (!have && gexec(g, "INSERT INTO schema_version (version) VALUES (0)", err) != 0)
		return -1;
	if (v > GLOBALDB_VERSION)
		return error_set(err, ERR_INVALID, "tern.db: schema version %lld is newer than this "
		                 "tern (%lld)", (long long)v, (long long)GLOBALDB_VERSION);
	if (v == GLOBALDB_VERSION)
		return 1;
	if (migrations[v](g, err) != 0) {
		error_prefix(err, "upgrading tern.db to version %lld", (long long)v + 1);
		return -1;
	}
	if (gprep(g, "UPDATE schema_version SET version = ?", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, v + 1);
	return grun(g, st, err);
}

static int upgrade(struct globaldb *g, struct error *err)
{
	for (;;) {
		if (gexec(g, "BEGIN IMMEDIATE", err) != 0)
			return -1;
		int r = upgrade_step(g, err);
		if (r < 0) {
			grollback(g);
			return -1;
		}
		if (gexec(g, "COMMIT", err) != 0) {
			grollback(g);
			return -1;
		}
		if (r == 1)
			return 0;
	}
}

/* Switching a new database to WAL takes an exclusive lock for which SQLite
 * does not always call the busy handler: when two opens race (the server's
 * SMTP service and queue open tern.db at start), one gets "database is
 * locked" at once. Retry within the busy timeout. */
static int set_wal(struct globaldb *g, struct error *err)
{
	for (int waited = 0;; waited += 50) {
		if (gexec(g, "PRAGMA journal_mode = WAL", err) == 0)
			return 0;
		int code = sqlite3_errcode(g->db) & 0xff;
		if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || waited >= STORE_BUSY_TIMEOUT_MS)
			return -1;
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

int globaldb_open(const char *data_dir, struct globaldb **db_r, struct error *err)
{
	*db_r = NULL;
	if (mkdir(data_dir, 0750) != 0 && errno != EEXIST)
		return error_errno(err, errno, "creating %s", data_dir);
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/tern.db", data_dir) >= sizeof(path))
		return error_set(err, ERR_INVALID, "data directory path too long");
	struct globaldb *g = calloc(1, sizeof(*g));
	if (g == NULL)
		abort();
	pthread_mutex_init(&g->lock, NULL);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &g->db, flags, NULL) != SQLITE_OK) {
		error_set(err, ERR_IO, "%s: %s", path, g->db != NULL ? sqlite3_errmsg(g->db) :
		          "out of memory");
		globaldb_close(&g);
		return -1;
	}
	sqlite3_busy_timeout(g->db, STORE_BUSY_TIMEOUT_MS);
	if (set_wal(g, err) != 0 ||
	    gexec(g, store_durable() ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF",
	          err) != 0 ||
	    gexec(g, "PRAGMA foreign_keys = ON", err) != 0 || upgrade(g, err) != 0) {
		globaldb_close(&g);
		return -1;
	}
	*db_r = g;
	return 0;
}

void globaldb_close(struct globaldb **db)
{
	struct globaldb *g = *db;
	if (g == NULL)
		return;
	if (g->db != NULL)
		sqlite3_close_v2(g->db);
	pthread_mutex_destroy(&g->lock);
	free(g);
	*db = NULL;
}

/* ---- adding ---- */

/* Inserts with the statement's last bound values; *id_r = the new rowid. */
static int insert(struct globaldb *g, sqlite3_stmt *st, int64_t *id_r, struct error *err)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : gfail(g, err, "inserting");
	sqlite3_finalize(st);
	if (r == 0 && id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(g->db);
	return r;
}

/* Looks up (org, report_id) in table; 1 found (*id_r), 0 not, -1. */
static int find_report(struct globaldb *g, bool dmarc, const char *org, const char *rid,
                       int64_t *id_r, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, dmarc ? "SELECT id FROM dmarc_report WHERE org_name = ? AND report_id = ?"
	                   : "SELECT id FROM tlsrpt_report WHERE org_name = ? AND report_id = ?",
	          &st, err) != 0)
		return -1;
	bind_text(st, 1, org);
	bind_text(st, 2, rid);
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : gfail(g, err, "looking up");
	if (r == 1)
		*id_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r;
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	sqlite3_bind_blob64(st, i, n > 0 ? p : "", n, SQLITE_STATIC);
}

static int add_dmarc(struct globaldb *g, const struct report *rep, int64_t received,
                     const struct globaldb_report_source *src, int64_t *id_r, struct error *err)
{
	const struct dmarc_report *d = &rep->dmarc;
	sqlite3_stmt *st;
	if (gprep(g, "INSERT INTO dmarc_report (org_name, report_id, email, extra_contact_info,"
	          " version, period_begin, period_end, domain, adkim, aspf, p, sp, np, fo, pct,"
	          " received, account, mailbox, filename, packing, raw)"
	          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	          &st, err) != 0)
		return -1;
	bind_text(st, 1, d->org_name);
	bind_text(st, 2, d->report_id);
	bind_text(st, 3, d->email);
	bind_text(st, 4, d->extra_contact_info);
	bind_text(st, 5, d->version);
	sqlite3_bind_int64(st, 6, d->begin);
	sqlite3_bind_int64(st, 7, d->end);
	bind_text(st, 8, d->domain);
	bind_text(st, 9, d->adkim);
	bind_text(st, 10, d->aspf);
	bind_text(st, 11, d->p);
	bind_text(st, 12, d->sp);
	bind_text(st, 13, d->np);
	bind_text(st, 14, d->fo);
	if (d->pct >= 0)
		sqlite3_bind_int(st, 15, d->pct);
	sqlite3_bind_int64(st, 16, received);
	bind_text(st, 17, src != NULL ? src->account : NULL);
	bind_text(st, 18, src != NULL ? src->mailbox : NULL);
	bind_text(st, 19, rep->filename);
	sqlite3_bind_int(st, 20, (int)rep->packing);
	bind_blob(st, 21, rep->raw, rep->raw_len);
	int64_t rid;
	if (insert(g, st, &rid, err) != 0)
		return -1;
	for (size_t i = 0; i < d->n_errors; i++) {
		if (gprep(g, "INSERT INTO dmarc_error (report, text) VALUES (?, ?)", &st, err) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, rid);
		bind_text(st, 2, d->errors[i]);
		if (insert(g, st, NULL, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < d->n_records; i++) {
		const struct dmarcrpt_record *x = &d->records[i];
		if (gprep(g, "INSERT INTO dmarc_record (report, source_ip, count, disposition, dkim,"
		          " spf, header_from, envelope_from, envelope_to)"
		          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, rid);
		bind_text(st, 2, x->source_ip);
		sqlite3_bind_int64(st, 3, x->count);
		bind_text(st, 4, x->disposition);
		bind_text(st, 5, x->dkim);
		bind_text(st, 6, x->spf);
		bind_text(st, 7, x->header_from);
		bind_text(st, 8, x->envelope_from);
		bind_text(st, 9, x->envelope_to);
		int64_t rec;
		if (insert(g, st, &rec, err) != 0)
			return -1;
		for (size_t k = 0; k < x->n_reasons; k++) {
			if (gprep(g, "INSERT INTO dmarc_reason (record, type, comment) VALUES (?, ?, ?)",
			          &st, err) != 0)
				return -1;
			sqlite3_bind_int64(st, 1, rec);
			bind_text(st, 2, x->reasons[k].type);
			bind_text(st, 3, x->reasons[k].comment);
			if (insert(g, st, NULL, err) != 0)
				return -1;
		}
		for (size_t k = 0; k < x->n_dkim + x->n_spf; k++) {
			if (gprep(g, "INSERT INTO dmarc_auth (record, method, domain, selector, scope,"
			          " result, human_result) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
				return -1;
			sqlite3_bind_int64(st, 1, rec);
			if (k < x->n_dkim) {
				const struct dmarc_dkim_result *a = &x->dkim_results[k];
				bind_text(st, 2, "dkim");
				bind_text(st, 3, a->domain);
				bind_text(st, 4, a->selector);
				bind_text(st, 6, a->result);
				bind_text(st, 7, a->human_result);
			} else {
				const struct dmarc_spf_result *a = &x->spf_results[k - x->n_dkim];
				bind_text(st, 2, "spf");
				bind_text(st, 3, a->domain);
				bind_text(st, 5, a->scope);
				bind_text(st, 6, a->result);
			}
			if (insert(g, st, NULL, err) != 0)
				return -1;
		}
	}
	*id_r = rid;
	return 0;
}

static int add_tlsrpt(struct globaldb *g, const struct report *rep, int64_t received,
                      const struct globaldb_report_source *src, int64_t *id_r,
                      struct error *err)
{
	const struct tlsrpt_report *t = &rep->tlsrpt;
	sqlite3_stmt *st;
	if (gprep(g, "INSERT INTO tlsrpt_report (org_name, report_id, contact_info,"
	          " start_datetime, end_datetime, period_begin, period_end, received, account,"
	          " mailbox, filename, packing, raw)"
	          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
		return -1;
	bind_text(st, 1, t->organization_name);
	bind_text(st, 2, t->report_id);
	bind_text(st, 3, t->contact_info);
	bind_text(st, 4, t->start_datetime);
	bind_text(st, 5, t->end_datetime);
	sqlite3_bind_int64(st, 6, t->begin);
	sqlite3_bind_int64(st, 7, t->end);
	sqlite3_bind_int64(st, 8, received);
	bind_text(st, 9, src != NULL ? src->account : NULL);
	bind_text(st, 10, src != NULL ? src->mailbox : NULL);
	bind_text(st, 11, rep->filename);
	sqlite3_bind_int(st, 12, (int)rep->packing);
	bind_blob(st, 13, rep->raw, rep->raw_len);
	int64_t rid;
	if (insert(g, st, &rid, err) != 0)
		return -1;
	for (size_t i = 0; i < t->n_policies; i++) {
		const struct tlsrpt_policy *p = &t->policies[i];
		if (gprep(g, "INSERT INTO tlsrpt_policy (report, policy_type, policy_domain,"
		          " successful, failed) VALUES (?, ?, ?, ?, ?)", &st, err) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, rid);
		bind_text(st, 2, p->policy_type);
		bind_text(st, 3, p->policy_domain);
		sqlite3_bind_int64(st, 4, p->successful);
		sqlite3_bind_int64(st, 5, p->failed);
		int64_t pid;
		if (insert(g, st, &pid, err) != 0)
			return -1;
		for (size_t k = 0; k < p->n_policy_strings + p->n_mx_hosts; k++) {
			if (gprep(g, "INSERT INTO tlsrpt_policy_item (policy, what, value)"
			          " VALUES (?, ?, ?)", &st, err) != 0)
				return -1;
			sqlite3_bind_int64(st, 1, pid);
			bool ps = k < p->n_policy_strings;
			bind_text(st, 2, ps ? "policy-string" : "mx-host");
			bind_text(st, 3, ps ? p->policy_strings[k] : p->mx_hosts[k - p->n_policy_strings]);
			if (insert(g, st, NULL, err) != 0)
				return -1;
		}
		for (size_t k = 0; k < p->n_failures; k++) {
			const struct tlsrpt_failure *f = &p->failures[k];
			if (gprep(g, "INSERT INTO tlsrpt_failure (policy, result_type, sending_mta_ip,"
			          " receiving_mx_hostname, receiving_mx_helo, receiving_ip,"
			          " failed_session_count, additional_information, failure_reason_code)"
			          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
				return -1;
			sqlite3_bind_int64(st, 1, pid);
			bind_text(st, 2, f->result_type);
			bind_text(st, 3, f->sending_mta_ip);
			bind_text(st, 4, f->receiving_mx_hostname);
			bind_text(st, 5, f->receiving_mx_helo);
			bind_text(st, 6, f->receiving_ip);
			sqlite3_bind_int64(st, 7, f->failed_session_count);
			bind_text(st, 8, f->additional_information);
			bind_text(st, 9, f->failure_reason_code);
			if (insert(g, st, NULL, err) != 0)
				return -1;
		}
	}
	*id_r = rid;
	return 0;
}

int globaldb_report_add(struct globaldb *g, const struct report *r,
                        const struct globaldb_report_source *src, int64_t *id_r,
                        struct error *err)
{
	bool dmarc = r->kind == REPORT_DMARC;
	if (!dmarc && r->kind != REPORT_TLSRPT)
		return error_set(err, ERR_INVALID, "not a parsed report");
	const char *org = dmarc ? r->dmarc.org_name : r->tlsrpt.organization_name;
	const char *rid = dmarc ? r->dmarc.report_id : r->tlsrpt.report_id;
	if (org == NULL || rid == NULL)
		return error_set(err, ERR_INVALID, "report without organization or report id");
	int64_t received = src != NULL && src->received > 0 ? src->received : (int64_t)time(NULL);
	int64_t id = 0;
	pthread_mutex_lock(&g->lock);
	int ret = -1;
	if (gexec(g, "BEGIN IMMEDIATE", err) != 0)
		goto out;
	int found = find_report(g, dmarc, org, rid, &id, err);
	if (found < 0) {
		grollback(g);
		goto out;
	}
	if (found == 1) {
		grollback(g);
		ret = 0;
		goto out;
	}
	if ((dmarc ? add_dmarc(g, r, received, src, &id, err)
	           : add_tlsrpt(g, r, received, src, &id, err)) != 0 ||
	    gexec(g, "COMMIT", err) != 0) {
		grollback(g);
		goto out;
	}
	ret = 1;
out:
	pthread_mutex_unlock(&g->lock);
	if (ret >= 0 && id_r != NULL)
		*id_r = id;
	return ret;
}

/* ---- listing ---- */

static const char *col_text(sqlite3_stmt *st, int i, struct arena *a)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	if (t == NULL)
		return NULL;
	return arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* Steps st; 1 row, 0 done, -1 error (st finalized by the caller). */
static int step(struct globaldb *g, sqlite3_stmt *st, struct error *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return gfail(g, err, "reading");
}

static int load_dmarc_records(struct globaldb *g, int64_t id, struct arena *a,
                              struct dmarc_report *d, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "SELECT text FROM dmarc_error WHERE report = ? ORDER BY rowid", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	size_t cap = 0;
	int r;
	while ((r = step(g, st, err)) == 1) {
		const char **e = NULL;
		d->errors = arena_grow(a, d->errors, d->n_errors, &cap, sizeof(*d->errors), 4);
		e = &d->errors[d->n_errors++];
		*e = col_text(st, 0, a);
	}
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	int64_t n = 0;
	if (gprep(g, "SELECT count(*) FROM dmarc_record WHERE report = ?", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (step(g, st, err) == 1)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	d->records = arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof(*d->records));
	if (gprep(g, "SELECT id, source_ip, count, disposition, dkim, spf, header_from,"
	          " envelope_from, envelope_to FROM dmarc_record WHERE report = ? ORDER BY id",
	          &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int64_t *ids = arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof(*ids));
	while (d->n_records < (size_t)n && (r = step(g, st, err)) == 1) {
		struct dmarcrpt_record *x = &d->records[d->n_records];
		ids[d->n_records++] = sqlite3_column_int64(st, 0);
		x->source_ip = col_text(st, 1, a);
		x->count = sqlite3_column_int64(st, 2);
		x->disposition = col_text(st, 3, a);
		x->dkim = col_text(st, 4, a);
		x->spf = col_text(st, 5, a);
		x->header_from = col_text(st, 6, a);
		x->envelope_from = col_text(st, 7, a);
		x->envelope_to = col_text(st, 8, a);
	}
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	for (size_t i = 0; i < d->n_records; i++) {
		struct dmarcrpt_record *x = &d->records[i];
		size_t cr = 0, cd = 0, cs = 0;
		if (gprep(g, "SELECT type, comment FROM dmarc_reason WHERE record = ? ORDER BY rowid",
		          &st, err))
			return -1;
		sqlite3_bind_int64(st, 1, ids[i]);
		while ((r = step(g, st, err)) == 1) {
			x->reasons = arena_grow(a, x->reasons, x->n_reasons, &cr, sizeof(*x->reasons), 2);
			x->reasons[x->n_reasons].type = col_text(st, 0, a);
			x->reasons[x->n_reasons++].comment = col_text(st, 1, a);
		}
		sqlite3_finalize(st);
		if (r < 0)
			return -1;
		if (gprep(g, "SELECT method, domain, selector, scope, result, human_result"
		          " FROM dmarc_auth WHERE record = ? ORDER BY rowid", &st, err))
			return -1;
		sqlite3_bind_int64(st, 1, ids[i]);
		while ((r = step(g, st, err)) == 1) {
			const char *m = (const char *)sqlite3_column_text(st, 0);
			if (m != NULL && strcmp(m, "dkim") == 0) {
				x->dkim_results = arena_grow(a, x->dkim_results, x->n_dkim, &cd, sizeof(*x->dkim_results), 2);
				struct dmarc_dkim_result *k = &x->dkim_results[x->n_dkim++];
				k->domain = col_text(st, 1, a);
				k->selector = col_text(st, 2, a);
				k->result = col_text(st, 4, a);
				k->human_result = col_text(st, 5, a);
			} else {
				x->spf_results = arena_grow(a, x->spf_results, x->n_spf, &cs, sizeof(*x->spf_results), 2);
				struct dmarc_spf_result *s = &x->spf_results[x->n_spf++];
				s->domain = col_text(st, 1, a);
				s->scope = col_text(st, 3, a);
				s->result = col_text(st, 4, a);
			}
		}
		sqlite3_finalize(st);
		if (r < 0)
			return -1;
	}
	return 0;
}

int globaldb_dmarc_list(struct globaldb *g, const char *domain, int64_t from, int64_t to,
                        struct arena *a, struct globaldb_dmarc **list_r, size_t *n_r,
                        struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	pthread_mutex_lock(&g->lock);
	int ret = -1;
	bool tx = false;
	sqlite3_stmt *st = NULL;
	/* one read transaction: a consistent view of reports and their rows */
	if (gexec(g, "BEGIN", err) != 0)
		goto out;
	tx = true;
	if (gprep(g, "SELECT id, received, account, mailbox, filename, packing, length(raw),"
	          " version, org_name, email, extra_contact_info, report_id, period_begin,"
	          " period_end, domain, adkim, aspf, p, sp, np, fo, pct FROM dmarc_report"
	          " WHERE (?1 IS NULL OR domain = ?1) AND period_begin <= ?3 AND period_end >= ?2"
	          " ORDER BY period_begin, id LIMIT ?4", &st, err) != 0)
		goto out;
	bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	sqlite3_bind_int(st, 4, GLOBALDB_LIST_MAX);
	size_t cap = 0;
	struct globaldb_dmarc *list = NULL;
	size_t n = 0;
	int r;
	while ((r = step(g, st, err)) == 1) {
		list = arena_grow(a, list, n, &cap, sizeof(*list), 16);
		struct globaldb_dmarc *x = &list[n++];
		memset(x, 0, sizeof(*x));
		x->id = sqlite3_column_int64(st, 0);
		x->received = sqlite3_column_int64(st, 1);
		x->account = col_text(st, 2, a);
		x->mailbox = col_text(st, 3, a);
		x->filename = col_text(st, 4, a);
		x->packing = (enum report_packing)sqlite3_column_int(st, 5);
		x->raw_len = (size_t)sqlite3_column_int64(st, 6);
		struct dmarc_report *d = &x->report;
		d->version = col_text(st, 7, a);
		d->org_name = col_text(st, 8, a);
		d->email = col_text(st, 9, a);
		d->extra_contact_info = col_text(st, 10, a);
		d->report_id = col_text(st, 11, a);
		d->begin = sqlite3_column_int64(st, 12);
		d->end = sqlite3_column_int64(st, 13);
		d->domain = col_text(st, 14, a);
		d->adkim = col_text(st, 15, a);
		d->aspf = col_text(st, 16, a);
		d->p = col_text(st, 17, a);
		d->sp = col_text(st, 18, a);
		d->np = col_text(st, 19, a);
		d->fo = col_text(st, 20, a);
		d->pct = sqlite3_column_type(st, 21) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 21);
	}
	sqlite3_finalize(st);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (load_dmarc_records(g, list[i].id, a, &list[i].report, err) != 0)
			goto out;
	*list_r = list;
	*n_r = n;
	ret = 0;
out:
	if (tx)
		grollback(g);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static int load_tlsrpt_policies(struct globaldb *g, int64_t id, struct arena *a,
                                struct tlsrpt_report *t, struct error *err)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	if (gprep(g, "SELECT count(*) FROM tlsrpt_policy WHERE report = ?", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (step(g, st, err) == 1)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	t->policies = arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof(*t->policies));
	int64_t *ids = arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof(*ids));
	if (gprep(g, "SELECT id, policy_type, policy_domain, successful, failed FROM tlsrpt_policy"
	          " WHERE report = ? ORDER BY id", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int r = 0;
	while (t->n_policies < (size_t)n && (r = step(g, st, err)) == 1) {
		struct tlsrpt_policy *p = &t->policies[t->n_policies];
		ids[t->n_policies++] = sqlite3_column_int64(st, 0);
		p->policy_type = col_text(st, 1, a);
		p->policy_domain = col_text(st, 2, a);
		p->successful = sqlite3_column_int64(st, 3);
		p->failed = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	for (size_t i = 0; i < t->n_policies; i++) {
		struct tlsrpt_policy *p = &t->policies[i];
		size_t cps = 0, cmx = 0, cf = 0;
		if (gprep(g, "SELECT what, value FROM tlsrpt_policy_item WHERE policy = ?"
		          " ORDER BY rowid", &st, err))
			return -1;
		sqlite3_bind_int64(st, 1, ids[i]);
		while ((r = step(g, st, err)) == 1) {
			const char *w = (const char *)sqlite3_column_text(st, 0);
			bool ps = w != NULL && strcmp(w, "policy-string") == 0;
			const char ***v = ps ? &p->policy_strings : &p->mx_hosts;
			size_t *cnt = ps ? &p->n_policy_strings : &p->n_mx_hosts;
			size_t *cap = ps ? &cps : &cmx;
			*v = arena_grow(a, *v, *cnt, cap, sizeof(**v), 4);
			(*v)[(*cnt)++] = col_text(st, 1, a);
		}
		sqlite3_finalize(st);
		if (r < 0)
			return -1;
		if (gprep(g, "SELECT result_type, sending_mta_ip, receiving_mx_hostname,"
		          " receiving_mx_helo, receiving_ip, failed_session_count,"
		          " additional_information, failure_reason_code FROM tlsrpt_failure"
		          " WHERE policy = ? ORDER BY rowid", &st, err))
			return -1;
		sqlite3_bind_int64(st, 1, ids[i]);
		while ((r = step(g, st, err)) == 1) {
			p->failures = arena_grow(a, p->failures, p->n_failures, &cf, sizeof(*p->failures), 4);
			struct tlsrpt_failure *f = &p->failures[p->n_failures++];
			f->result_type = col_text(st, 0, a);
			f->sending_mta_ip = col_text(st, 1, a);
			f->receiving_mx_hostname = col_text(st, 2, a);
			f->receiving_mx_helo = col_text(st, 3, a);
			f->receiving_ip = col_text(st, 4, a);
			f->failed_session_count = sqlite3_column_int64(st, 5);
			f->additional_information = col_text(st, 6, a);
			f->failure_reason_code = col_text(st, 7, a);
		}
		sqlite3_finalize(st);
		if (r < 0)
			return -1;
	}
	return 0;
}

int globaldb_tlsrpt_list(struct globaldb *g, const char *domain, int64_t from, int64_t to,
                         struct arena *a, struct globaldb_tlsrpt **list_r, size_t *n_r,
                         struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	pthread_mutex_lock(&g->lock);
	int ret = -1;
	bool tx = false;
	sqlite3_stmt *st = NULL;
	if (gexec(g, "BEGIN", err) != 0)
		goto out;
	tx = true;
	if (gprep(g, "SELECT id, received, account, mailbox, filename, packing, length(raw),"
	          " org_name, report_id, contact_info, start_datetime, end_datetime,"
	          " period_begin, period_end FROM tlsrpt_report r"
	          " WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM tlsrpt_policy p"
	          "  WHERE p.report = r.id AND p.policy_domain = ?1))"
	          " AND period_begin <= ?3 AND period_end >= ?2"
	          " ORDER BY period_begin, id LIMIT ?4", &st, err) != 0)
		goto out;
	bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	sqlite3_bind_int(st, 4, GLOBALDB_LIST_MAX);
	size_t cap = 0, n = 0;
	struct globaldb_tlsrpt *list = NULL;
	int r;
	while ((r = step(g, st, err)) == 1) {
		list = arena_grow(a, list, n, &cap, sizeof(*list), 16);
		struct globaldb_tlsrpt *x = &list[n++];
		memset(x, 0, sizeof(*x));
		x->id = sqlite3_column_int64(st, 0);
		x->received = sqlite3_column_int64(st, 1);
		x->account = col_text(st, 2, a);
		x->mailbox = col_text(st, 3, a);
		x->filename = col_text(st, 4, a);
		x->packing = (enum report_packing)sqlite3_column_int(st, 5);
		x->raw_len = (size_t)sqlite3_column_int64(st, 6);
		struct tlsrpt_report *t = &x->report;
		t->organization_name = col_text(st, 7, a);
		t->report_id = col_text(st, 8, a);
		t->contact_info = col_text(st, 9, a);
		t->start_datetime = col_text(st, 10, a);
		t->end_datetime = col_text(st, 11, a);
		t->begin = sqlite3_column_int64(st, 12);
		t->end = sqlite3_column_int64(st, 13);
	}
	sqlite3_finalize(st);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (load_tlsrpt_policies(g, list[i].id, a, &list[i].report, err) != 0)
			goto out;
	*list_r = list;
	*n_r = n;
	ret = 0;
out:
	if (tx)
		grollback(g);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int globaldb_report_raw(struct globaldb *g, enum report_kind kind, int64_t id,
                        struct arena *a, const void **raw_r, size_t *len_r,
                        enum report_packing *packing_r, struct error *err)
{
	if (kind != REPORT_DMARC && kind != REPORT_TLSRPT)
		return error_set(err, ERR_INVALID, "not a report kind");
	pthread_mutex_lock(&g->lock);
	sqlite3_stmt *st;
	int ret = -1;
	if (gprep(g, kind == REPORT_DMARC ? "SELECT raw, packing FROM dmarc_report WHERE id = ?"
	                                  : "SELECT raw, packing FROM tlsrpt_report WHERE id = ?",
	          &st, err) == 0) {
		sqlite3_bind_int64(st, 1, id);
		int r = step(g, st, err);
		if (r == 0) {
			error_set(err, ERR_NOTFOUND, "no %s report %lld",
			          kind == REPORT_DMARC ? "DMARC" : "TLS", (long long)id);
		} else if (r == 1) {
			size_t n = (size_t)sqlite3_column_bytes(st, 0);
			const void *p = sqlite3_column_blob(st, 0);
			void *copy = arena_alloc(a, n + 1);
			if (n > 0)
				memcpy(copy, p, n);
			*raw_r = copy;
			*len_r = n;
			*packing_r = (enum report_packing)sqlite3_column_int(st, 1);
			ret = 0;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* ---- outgoing DMARC aggregate reports ---- */

/* Appends s to b with spaces, newlines and other controls made '_'
 * (empty or NULL: "-" when dash). */
static void enc_value(struct buf *b, const char *s, bool dash)
{
	if (s == NULL || *s == '\0') {
		if (dash)
			buf_append_char(b, '-');
		return;
	}
	for (; *s != '\0'; s++)
		buf_append_char(b, (unsigned char)*s <= ' ' || *s == 0x7f ? '_' : *s);
}

static bool rua_usable(const char *addr)
{
	return addr != NULL && *addr != '\0' && strpbrk(addr, " \t\r\n!") == NULL;
}

int globaldb_dmarc_eval_add(struct globaldb *g, const struct globaldb_dmarc_eval *ev,
                            struct error *err)
{
	if (ev->policy_domain == NULL || ev->p == NULL || ev->source_ip == NULL ||
	    ev->header_from == NULL || ev->disposition == NULL || ev->dkim == NULL ||
	    ev->spf == NULL)
		return error_set(err, ERR_INVALID, "DMARC evaluation incomplete");
	struct buf rua, reasons, auth;
	buf_init(&rua, 64 * 1024);
	buf_init(&reasons, 64 * 1024);
	buf_init(&auth, 64 * 1024);
	for (size_t i = 0; i < ev->nrua; i++) {
		if (!rua_usable(ev->rua[i].address))
			continue;
		if (rua.len > 0)
			buf_append_char(&rua, ' ');
		buf_append_str(&rua, ev->rua[i].address);
		if (ev->rua[i].max_size > 0)
			buf_appendf(&rua, "!%llu", (unsigned long long)ev->rua[i].max_size);
	}
	for (size_t i = 0; i < ev->nreasons; i++) {
		if (reasons.len > 0)
			buf_append_char(&reasons, '\n');
		enc_value(&reasons, ev->reasons[i].type, true);
		const char *c = ev->reasons[i].comment;
		if (c != NULL && *c != '\0') {
			buf_append_char(&reasons, ' ');
			for (; *c != '\0'; c++)
				buf_append_char(&reasons, *c == '\n' || *c == '\r' ? ' ' : *c);
		}
	}
	for (size_t i = 0; i < ev->ndkim; i++) {
		if (auth.len > 0)
			buf_append_char(&auth, '\n');
		buf_append_str(&auth, "dkim ");
		enc_value(&auth, ev->dkim_results[i].domain, true);
		buf_append_char(&auth, ' ');
		enc_value(&auth, ev->dkim_results[i].selector, true);
		buf_append_char(&auth, ' ');
		enc_value(&auth, ev->dkim_results[i].result, true);
	}
	for (size_t i = 0; i < ev->nspf; i++) {
		if (auth.len > 0)
			buf_append_char(&auth, '\n');
		buf_append_str(&auth, "spf ");
		enc_value(&auth, ev->spf_results[i].domain, true);
		buf_append_char(&auth, ' ');
		enc_value(&auth, ev->spf_results[i].scope, true);
		buf_append_char(&auth, ' ');
		enc_value(&auth, ev->spf_results[i].result, true);
	}
	int ret = 0;
	if (rua.len == 0)
		goto done;   /* nowhere to report to */
	buf_append_char(&rua, '\0');
	buf_append_char(&reasons, '\0');
	buf_append_char(&auth, '\0');
	pthread_mutex_lock(&g->lock);
	sqlite3_stmt *st;
	ret = gprep(g, "INSERT INTO dmarc_eval (evaluated, policy_domain, p, sp, np, adkim, aspf,"
	            " pct, fo, ri, rua, source_ip, header_from, envelope_from, envelope_to,"
	            " disposition, dkim, spf, reasons, auth)"
	            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err);
	if (ret == 0) {
		sqlite3_bind_int64(st, 1, ev->evaluated > 0 ? ev->evaluated : (int64_t)time(NULL));
		bind_text(st, 2, ev->policy_domain);
		bind_text(st, 3, ev->p);
		bind_text(st, 4, ev->sp);
		bind_text(st, 5, ev->np);
		bind_text(st, 6, ev->adkim);
		bind_text(st, 7, ev->aspf);
		sqlite3_bind_int(st, 8, ev->pct < 0 || ev->pct > 100 ? 100 : ev->pct);
		bind_text(st, 9, ev->fo);
		sqlite3_bind_int64(st, 10, ev->ri > 0 ? ev->ri : 86400);
		bind_text(st, 11, rua.data);
		bind_text(st, 12, ev->source_ip);
		bind_text(st, 13, ev->header_from);
		bind_text(st, 14, ev->envelope_from);
		bind_text(st, 15, ev->envelope_to);
		bind_text(st, 16, ev->disposition);
		bind_text(st, 17, ev->dkim);
		bind_text(st, 18, ev->spf);
		bind_text(st, 19, reasons.data);
		bind_text(st, 20, auth.data);
		ret = insert(g, st, NULL, err);
	}
	pthread_mutex_unlock(&g->lock);
done:
	buf_free(&rua);
	buf_free(&reasons);
	buf_free(&auth);
	return ret;
}

int globaldb_dmarc_pending(struct globaldb *g, struct arena *a,
                           struct globaldb_dmarc_pending **list_r, size_t *n_r,
                           struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	pthread_mutex_lock(&g->lock);
	sqlite3_stmt *st;
	int ret = gprep(g, "SELECT e.policy_domain, MIN(e.evaluated),"
	                " (SELECT x.ri FROM dmarc_eval x WHERE x.policy_domain = e.policy_domain"
	                "  ORDER BY x.evaluated DESC, x.id DESC LIMIT 1)"
	                " FROM dmarc_eval e GROUP BY e.policy_domain ORDER BY MIN(e.evaluated)",
	                &st, err);
	size_t cap = 0;
	while (ret == 0) {
		int r = step(g, st, err);
		if (r <= 0) {
			ret = r;
			break;
		}
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 16);
		struct globaldb_dmarc_pending *p = &(*list_r)[(*n_r)++];
		p->domain = col_text(st, 0, a);
		p->oldest = sqlite3_column_int64(st, 1);
		int64_t ri = sqlite3_column_int64(st, 2);
		p->ri = ri > 0 && ri <= UINT32_MAX ? (uint32_t)ri : 86400;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* Copies n bytes of s into a with the '\n'-separated lines split: *n_r lines. */
static char **split_lines(struct arena *a, const char *s, size_t *n_r)
{
	*n_r = 0;
	if (s == NULL || *s == '\0')
		return NULL;
	size_t n = 1;
	for (const char *p = s; *p != '\0'; p++)
		n += *p == '\n';
	char **lines = arena_alloc(a, n * sizeof(*lines));
	char *copy = arena_strdup(a, s);
	for (char *save = NULL, *t = strtok_r(copy, "\n", &save); t != NULL;
	     t = strtok_r(NULL, "\n", &save))
		lines[(*n_r)++] = t;
	return lines;
}

static const char *dash_null(const char *s)
{
	return s == NULL || strcmp(s, "-") == 0 ? NULL : s;
}

/* Parses the reasons and auth columns into ev. */
static void decode_record(struct arena *a, const char *reasons, const char *auth,
                          struct globaldb_dmarc_eval *ev)
{
	size_t n;
	char **lines = split_lines(a, reasons, &n);
	struct globaldb_dmarc_reason *rs = n > 0 ? arena_alloc(a, n * sizeof(*rs)) : NULL;
	ev->nreasons = 0;
	for (size_t i = 0; i < n; i++) {
		char *sp = strchr(lines[i], ' ');
		if (sp != NULL)
			*sp = '\0';
		rs[ev->nreasons++] = (struct globaldb_dmarc_reason){
			dash_null(lines[i]), sp != NULL && sp[1] != '\0' ? sp + 1 : NULL};
	}
	ev->reasons = rs;
	lines = split_lines(a, auth, &n);
	struct globaldb_dmarc_dkim *dk = n > 0 ? arena_alloc(a, n * sizeof(*dk)) : NULL;
	struct globaldb_dmarc_spf *sf = n > 0 ? arena_alloc(a, n * sizeof(*sf)) : NULL;
	ev->ndkim = ev->nspf = 0;
	for (size_t i = 0; i < n; i++) {
		char *f[4] = {NULL, NULL, NULL, NULL};
		size_t k = 0;
		for (char *save = NULL, *t = strtok_r(lines[i], " ", &save); t != NULL && k < 4;
		     t = strtok_r(NULL, " ", &save))
			f[k++] = t;
		if (k != 4)
			continue;   /* not ours */
		if (strcmp(f[0], "dkim") == 0)
			dk[ev->ndkim++] = (struct globaldb_dmarc_dkim){dash_null(f[1]), dash_null(f[2]),
			                                               dash_null(f[3])};
		else if (strcmp(f[0], "spf") == 0)
			sf[ev->nspf++] = (struct globaldb_dmarc_spf){dash_null(f[1]), dash_null(f[2]),
			                                             dash_null(f[3])};
	}
	ev->dkim_results = dk;
	ev->spf_results = sf;
}

/* Parses the rua column. */
static void decode_rua(struct arena *a, const char *s, struct globaldb_dmarc_eval *ev)
{
	ev->rua = NULL;
	ev->nrua = 0;
	if (s == NULL)
		return;
	size_t n = 1;
	for (const char *p = s; *p != '\0'; p++)
		n += *p == ' ';
	struct globaldb_dmarc_rua *r = arena_alloc(a, n * sizeof(*r));
	char *copy = arena_strdup(a, s);
	for (char *save = NULL, *t = strtok_r(copy, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		char *bang = strchr(t, '!');
		uint64_t max = 0;
		if (bang != NULL) {
			*bang = '\0';
			max = strtoull(bang + 1, NULL, 10);
		}
		if (*t != '\0')
			r[ev->nrua++] = (struct globaldb_dmarc_rua){t, max};
	}
	ev->rua = r;
}

int globaldb_dmarc_groups(struct globaldb *g, const char *domain, int64_t begin, int64_t end,
                          struct arena *a, struct globaldb_dmarc_eval *policy_r,
                          struct globaldb_dmarc_group **groups_r, size_t *n_r,
                          int64_t *max_id_r, struct error *err)
{
	memset(policy_r, 0, sizeof(*policy_r));
	*groups_r = NULL;
	*n_r = 0;
	*max_id_r = 0;
	sqlite3_stmt *st;
	/* One read transaction, so that the policy, groups and max id agree. */
	int ret = read_begin(g, "SELECT id, evaluated, policy_domain, p, sp, np, adkim, aspf, pct,"
	                     " fo, ri, rua FROM dmarc_eval WHERE policy_domain = ? AND"
	                     " evaluated >= ? AND evaluated < ? ORDER BY evaluated DESC, id DESC"
	                     " LIMIT 1", &st, err);
	if (ret != 0)
		goto out;
	bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, begin);
	sqlite3_bind_int64(st, 3, end);
	ret = step(g, st, err);
	if (ret <= 0)
		goto out;
	policy_r->evaluated = sqlite3_column_int64(st, 1);
	policy_r->policy_domain = col_text(st, 2, a);
	policy_r->p = col_text(st, 3, a);
	policy_r->sp = col_text(st, 4, a);
	policy_r->np = col_text(st, 5, a);
	policy_r->adkim = col_text(st, 6, a);
	policy_r->aspf = col_text(st, 7, a);
	policy_r->pct = sqlite3_column_type(st, 8) == SQLITE_NULL ? 100
	                                                           : sqlite3_column_int(st, 8);
	policy_r->fo = col_text(st, 9, a);
	int64_t ri = sqlite3_column_int64(st, 10);
	policy_r->ri = ri > 0 && ri <= UINT32_MAX ? (uint32_t)ri : 86400;
	decode_rua(a, (const char *)sqlite3_column_text(st, 11), policy_r);
	sqlite3_finalize(st);
	st = NULL;
	ret = gprep(g, "SELECT COUNT(*), MAX(id), source_ip, disposition, dkim, spf, reasons,"
	            " header_from, envelope_from, envelope_to, auth FROM dmarc_eval"
	            " WHERE policy_domain = ? AND evaluated >= ? AND evaluated < ?"
	            " GROUP BY source_ip, disposition, dkim, spf, reasons, header_from,"
	            " envelope_from, envelope_to, auth ORDER BY MIN(id)", &st, err);
	if (ret != 0)
		goto out;
	bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, begin);
	sqlite3_bind_int64(st, 3, end);
	size_t cap = 0;
	for (;;) {
		ret = step(g, st, err);
		if (ret <= 0)
			break;
		*groups_r = arena_grow(a, *groups_r, *n_r, &cap, sizeof(**groups_r), 16);
		struct globaldb_dmarc_group *gr = &(*groups_r)[(*n_r)++];
		memset(gr, 0, sizeof(*gr));
		gr->count = sqlite3_column_int64(st, 0);
		int64_t id = sqlite3_column_int64(st, 1);
		if (id > *max_id_r)
			*max_id_r = id;
		struct globaldb_dmarc_eval *ev = &gr->ev;
		ev->policy_domain = policy_r->policy_domain;
		ev->source_ip = col_text(st, 2, a);
		ev->disposition = col_text(st, 3, a);
		ev->dkim = col_text(st, 4, a);
		ev->spf = col_text(st, 5, a);
		ev->header_from = col_text(st, 7, a);
		ev->envelope_from = col_text(st, 8, a);
		ev->envelope_to = col_text(st, 9, a);
		decode_record(a, (const char *)sqlite3_column_text(st, 6),
		              (const char *)sqlite3_column_text(st, 10), ev);
	}
out:
	return read_end(g, st, ret);
}

/* Runs sql, a "SELECT 1 … WHERE domain = ? AND period_begin = ?" on a report table:
 * 1 if the report of domain for the period from begin is recorded, 0 if not, -1. */
static int period_reported(struct globaldb *g, const char *sql, const char *domain,
                           int64_t begin, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, sql, &st, err) != 0)
		return -1;
	bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, begin);
	int ret = step(g, st, err);
	sqlite3_finalize(st);
	return ret;
}

int globaldb_dmarc_report_exists(struct globaldb *g, const char *domain, int64_t begin,
                                 struct error *err)
{
	pthread_mutex_lock(&g->lock);
	int ret = period_reported(g, "SELECT 1 FROM dmarc_report_out WHERE domain = ? AND"
	                          " period_begin = ?", domain, begin, err);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* Inserts m and its recipients (in the caller's transaction). */
static int outgoing_insert(struct globaldb *g, const struct globaldb_outgoing *m, int64_t *id_r,
                           struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "INSERT INTO outgoing (kind, created, mail_from, subject, size, message,"
	          " status) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
		return -1;
	bind_text(st, 1, m->kind != NULL ? m->kind : "dmarc");
	sqlite3_bind_int64(st, 2, m->created > 0 ? m->created : (int64_t)time(NULL));
	bind_text(st, 3, m->mail_from != NULL ? m->mail_from : "");
	bind_text(st, 4, m->subject);
	sqlite3_bind_int64(st, 5, (int64_t)m->len);
	bind_blob(st, 6, m->data, m->len);
	bind_text(st, 7, m->status != NULL ? m->status : GLOBALDB_OUTGOING_WAITING);
	int64_t id;
	if (insert(g, st, &id, err) != 0)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (gprep(g, "INSERT INTO outgoing_rcpt (outgoing, address) VALUES (?, ?)", &st,
		          err) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, m->rcpts[i]);
		if (insert(g, st, NULL, err) != 0)
			return -1;
	}
	*id_r = id;
	return 0;
}

int globaldb_outgoing_add(struct globaldb *g, const struct globaldb_outgoing *m, int64_t *id_r,
                          struct error *err)
{
	pthread_mutex_lock(&g->lock);
	int64_t id = 0;
	int ret = gexec(g, "BEGIN IMMEDIATE", err);
	if (ret == 0 && (outgoing_insert(g, m, &id, err) != 0 || gexec(g, "COMMIT", err) != 0)) {
		grollback(g);
		ret = -1;
	}
	pthread_mutex_unlock(&g->lock);
	if (ret == 0 && id_r != NULL)
		*id_r = id;
	return ret;
}

int globaldb_outgoing_set_status(struct globaldb *g, int64_t id, const char *status,
                                 struct error *err)
{
	pthread_mutex_lock(&g->lock);
	sqlite3_stmt *st;
	int ret = gprep(g, "UPDATE outgoing SET status = ? WHERE id = ?", &st, err);
	if (ret == 0) {
		bind_text(st, 1, status);
		sqlite3_bind_int64(st, 2, id);
		ret = grun(g, st, err);
	}
	if (ret == 0 && sqlite3_changes(g->db) == 0)
		ret = error_set(err, ERR_NOTFOUND, "no outgoing message %lld", (long long)id);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int globaldb_outgoing_list(struct globaldb *g, const char *status, bool with_data,
                           struct arena *a, struct globaldb_outgoing **list_r, size_t *n_r,
                           struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st, *rs = NULL;
	int ret = read_begin(g, "SELECT id, kind, created, mail_from, subject, size, status,"
	                     " CASE WHEN ? THEN message END FROM outgoing"
	                     " WHERE ? IS NULL OR status = ? ORDER BY created, id LIMIT ?", &st,
	                     err);
	if (ret != 0)
		return read_end(g, st, ret);
	sqlite3_bind_int(st, 1, with_data);
	bind_text(st, 2, status);
	bind_text(st, 3, status);
	sqlite3_bind_int(st, 4, GLOBALDB_LIST_MAX);
	size_t cap = 0;
	for (;;) {
		ret = step(g, st, err);
		if (ret <= 0)
			break;
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 16);
		struct globaldb_outgoing *m = &(*list_r)[(*n_r)++];
		memset(m, 0, sizeof(*m));
		m->id = sqlite3_column_int64(st, 0);
		m->kind = col_text(st, 1, a);
		m->created = sqlite3_column_int64(st, 2);
		m->mail_from = col_text(st, 3, a);
		m->subject = col_text(st, 4, a);
		m->len = (size_t)sqlite3_column_int64(st, 5);
		m->status = col_text(st, 6, a);
		if (with_data) {
			size_t n = (size_t)sqlite3_column_bytes(st, 7);
			void *d = arena_alloc(a, n + 1);
			if (n > 0)
				memcpy(d, sqlite3_column_blob(st, 7), n);
			((char *)d)[n] = '\0';
			m->data = d;
			m->len = n;
		}
		ret = gprep(g, "SELECT address FROM outgoing_rcpt WHERE outgoing = ? ORDER BY rowid",
		            &rs, err);
		if (ret != 0)
			break;
		sqlite3_bind_int64(rs, 1, m->id);
		size_t rcap = 0;
		const char **rcpts = NULL;
		int r;
		while ((r = step(g, rs, err)) == 1) {
			rcpts = arena_grow(a, rcpts, m->nrcpts, &rcap, sizeof(*rcpts), 4);
			rcpts[m->nrcpts++] = col_text(rs, 0, a);
		}
		m->rcpts = rcpts;
		sqlite3_finalize(rs);
		rs = NULL;
		if (r < 0) {
			ret = -1;
			break;
		}
	}
	return read_end(g, st, ret);
}

int globaldb_dmarc_report_done(struct globaldb *g, const struct globaldb_dmarc_done *d,
                               int64_t *outgoing_id_r, struct error *err)
{
	if (outgoing_id_r != NULL)
		*outgoing_id_r = 0;
	pthread_mutex_lock(&g->lock);
	int ret = -1;
	int64_t oid = 0;
	sqlite3_stmt *st;
	if (gexec(g, "BEGIN IMMEDIATE", err) != 0)
		goto out;
	int exists = period_reported(g, "SELECT 1 FROM dmarc_report_out WHERE domain = ? AND"
	                             " period_begin = ?", d->domain, d->begin, err);
	if (exists < 0)
		goto fail;
	if (!exists) {
		if (d->msg != NULL && outgoing_insert(g, d->msg, &oid, err) != 0)
			goto fail;
		if (gprep(g, "INSERT INTO dmarc_report_out (domain, period_begin, period_end,"
		          " report_id, created, outgoing, note) VALUES (?, ?, ?, ?, ?, ?, ?)", &st,
		          err) != 0)
			goto fail;
		bind_text(st, 1, d->domain);
		sqlite3_bind_int64(st, 2, d->begin);
		sqlite3_bind_int64(st, 3, d->end);
		bind_text(st, 4, d->report_id);
		sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
		if (oid > 0)
			sqlite3_bind_int64(st, 6, oid);
		bind_text(st, 7, d->note);
		if (insert(g, st, NULL, err) != 0)
			goto fail;
	}
	if (gprep(g, "DELETE FROM dmarc_eval WHERE policy_domain = ? AND evaluated >= ? AND"
	          " evaluated < ? AND id <= ?", &st, err) != 0)
		goto fail;
	bind_text(st, 1, d->domain);
	sqlite3_bind_int64(st, 2, d->begin);
	sqlite3_bind_int64(st, 3, d->end);
	sqlite3_bind_int64(st, 4, d->max_id);
	if (grun(g, st, err) != 0 || gexec(g, "COMMIT", err) != 0)
		goto fail;
	ret = exists ? 0 : 1;
	if (outgoing_id_r != NULL)
		*outgoing_id_r = oid;
	goto out;
fail:
	grollback(g);
out:
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* ---- outgoing SMTP TLS reports (RFC 8460) ---- */

/* "" for NULL, cut at GLOBALDB_TLSRPT_TEXT_MAX bytes. */
static void bind_key(sqlite3_stmt *st, int i, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	sqlite3_bind_text(st, i, s != NULL ? s : "", (int)(n > GLOBALDB_TLSRPT_TEXT_MAX ?
	                  GLOBALDB_TLSRPT_TEXT_MAX : n), SQLITE_STATIC);
}

static int64_t utc_day(int64_t t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

/* The result row of s (created with zero counts if new): *id_r. */
static int tlsrpt_result_row(struct globaldb *g, const struct globaldb_tlsrpt_session *s,
                             int64_t *id_r, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "INSERT INTO tlsrpt_result (policy_domain, day, policy_type, policy_strings,"
	          " mx_host, successful, failed) VALUES (?, ?, ?, ?, ?, ?, ?)"
	          " ON CONFLICT (policy_domain, day, policy_type, policy_strings, mx_host) DO UPDATE"
	          " SET successful = successful + excluded.successful,"
	          " failed = failed + excluded.failed RETURNING id", &st, err) != 0)
		return -1;
	bool ok = s->result_type == NULL;
	bind_key(st, 1, s->policy_domain);
	sqlite3_bind_int64(st, 2, utc_day(s->when > 0 ? s->when : (int64_t)time(NULL)));
	bind_key(st, 3, s->policy_type);
	bind_key(st, 4, s->policy_strings);
	bind_key(st, 5, s->mx_host);
	sqlite3_bind_int(st, 6, ok);
	sqlite3_bind_int(st, 7, !ok);
	int r = step(g, st, err);
	if (r == 1)
		*id_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r == 1 ? 0 : r == 0 ? gfail(g, err, "adding a TLS result") : -1;
}

/* Counts the failure of s under result id, within GLOBALDB_TLSRPT_FAILURES_MAX rows. */
static int tlsrpt_failure_add(struct globaldb *g, int64_t id,
                              const struct globaldb_tlsrpt_session *s, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "INSERT INTO tlsrpt_result_failure (result, result_type, sending_mta_ip,"
	          " receiving_mx_hostname, receiving_ip, additional_info, count)"
	          " SELECT ?1, ?2, ?3, ?4, ?5, ?6, 1 WHERE (SELECT count(*) FROM"
	          " tlsrpt_result_failure WHERE result = ?1) < ?7 OR EXISTS (SELECT 1 FROM"
	          " tlsrpt_result_failure WHERE result = ?1 AND result_type = ?2 AND"
	          " sending_mta_ip = ?3 AND receiving_mx_hostname = ?4 AND receiving_ip = ?5 AND"
	          " additional_info = ?6)"
	          " ON CONFLICT (result, result_type, sending_mta_ip, receiving_mx_hostname,"
	          " receiving_ip, additional_info) DO UPDATE SET count = count + 1", &st,
	          err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_key(st, 2, s->result_type);
	bind_key(st, 3, s->sending_mta_ip);
	bind_key(st, 4, s->mx_host);
	bind_key(st, 5, s->receiving_ip);
	bind_key(st, 6, s->additional_info);
	sqlite3_bind_int(st, 7, GLOBALDB_TLSRPT_FAILURES_MAX);
	return grun(g, st, err);
}

int globaldb_tlsrpt_result_add(struct globaldb *g, const struct globaldb_tlsrpt_session *s,
                               struct error *err)
{
	if (s->policy_domain == NULL || s->policy_domain[0] == '\0')
		return error_set(err, ERR_INVALID, "TLS result without a policy domain");
	if (s->policy_type == NULL || s->policy_type[0] == '\0')
		return error_set(err, ERR_INVALID, "TLS result without a policy type");
	pthread_mutex_lock(&g->lock);
	int64_t id = 0;
	int ret = gexec(g, "BEGIN IMMEDIATE", err);
	if (ret == 0 && (tlsrpt_result_row(g, s, &id, err) != 0 ||
	                 (s->result_type != NULL && tlsrpt_failure_add(g, id, s, err) != 0) ||
	                 gexec(g, "COMMIT", err) != 0)) {
		grollback(g);
		ret = -1;
	}
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* "" from the database is NULL for the caller. */
static const char *col_opt(sqlite3_stmt *st, int i, struct arena *a)
{
	const char *s = col_text(st, i, a);
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static int tlsrpt_load_failures(struct globaldb *g, int64_t id, struct arena *a,
                                struct globaldb_tlsrpt_result *r, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "SELECT result_type, sending_mta_ip, receiving_mx_hostname, receiving_ip,"
	          " additional_info, count FROM tlsrpt_result_failure WHERE result = ?"
	          " ORDER BY rowid", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	size_t cap = 0;
	int s;
	while ((s = step(g, st, err)) == 1) {
		r->failures = arena_grow(a, r->failures, r->nfailures, &cap, sizeof(*r->failures), 4);
		r->failures[r->nfailures++] = (struct globaldb_tlsrpt_failure){
			.result_type = col_text(st, 0, a), .sending_mta_ip = col_opt(st, 1, a),
			.receiving_mx_hostname = col_opt(st, 2, a), .receiving_ip = col_opt(st, 3, a),
			.additional_info = col_opt(st, 4, a), .count = sqlite3_column_int64(st, 5)};
	}
	sqlite3_finalize(st);
	return s;
}

int globaldb_tlsrpt_results(struct globaldb *g, const char *domain, int64_t day,
                            struct arena *a, struct globaldb_tlsrpt_result **list_r, size_t *n_r,
                            struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st;
	int ret = read_begin(g, "SELECT id, policy_domain, day, policy_type, policy_strings,"
	                     " mx_host, successful, failed FROM tlsrpt_result WHERE (?1 IS NULL OR"
	                     " policy_domain = ?1) AND (?2 = 0 OR day = ?2)"
	                     " ORDER BY policy_domain, day, id LIMIT ?3", &st, err);
	if (ret != 0)
		return read_end(g, st, ret);
	bind_text(st, 1, domain);
	sqlite3_bind_int64(st, 2, day);
	sqlite3_bind_int(st, 3, GLOBALDB_LIST_MAX);
	size_t cap = 0;
	while ((ret = step(g, st, err)) == 1) {
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 8);
		struct globaldb_tlsrpt_result *r = &(*list_r)[(*n_r)++];
		*r = (struct globaldb_tlsrpt_result){
			.policy_domain = col_text(st, 1, a), .day = sqlite3_column_int64(st, 2),
			.policy_type = col_text(st, 3, a), .policy_strings = col_text(st, 4, a),
			.mx_host = col_text(st, 5, a), .successful = sqlite3_column_int64(st, 6),
			.failed = sqlite3_column_int64(st, 7)};
		if (tlsrpt_load_failures(g, sqlite3_column_int64(st, 0), a, r, err) != 0) {
			ret = -1;
			break;
		}
	}
	return read_end(g, st, ret);
}

int globaldb_tlsrpt_pending(struct globaldb *g, int64_t before, struct arena *a,
                            struct globaldb_tlsrpt_pending **list_r, size_t *n_r,
                            struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st;
	int ret = read_begin(g, "SELECT DISTINCT policy_domain, day FROM tlsrpt_result"
	                     " WHERE day < ? ORDER BY day, policy_domain LIMIT ?", &st, err);
	if (ret != 0)
		return read_end(g, st, ret);
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int(st, 2, GLOBALDB_LIST_MAX);
	size_t cap = 0;
	while ((ret = step(g, st, err)) == 1) {
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 8);
		(*list_r)[(*n_r)++] = (struct globaldb_tlsrpt_pending){
			.domain = col_text(st, 0, a), .day = sqlite3_column_int64(st, 1)};
	}
	return read_end(g, st, ret);
}

/* Inserts the report_out row of d (message oid, 0: none) and its posts. */
static int tlsrpt_out_insert(struct globaldb *g, const struct globaldb_tlsrpt_done *d,
                             int64_t oid, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "INSERT INTO tlsrpt_report_out (domain, period_begin, period_end, report_id,"
	          " created, report, outgoing, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &st,
	          err) != 0)
		return -1;
	bind_text(st, 1, d->domain);
	sqlite3_bind_int64(st, 2, d->begin);
	sqlite3_bind_int64(st, 3, d->end);
	bind_text(st, 4, d->report_id != NULL ? d->report_id : "");
	sqlite3_bind_int64(st, 5, d->created > 0 ? d->created : (int64_t)time(NULL));
	if (d->gz != NULL)
		bind_blob(st, 6, d->gz, d->gzlen);
	if (oid > 0)
		sqlite3_bind_int64(st, 7, oid);
	bind_text(st, 8, d->note);
	int64_t rid;
	if (insert(g, st, &rid, err) != 0)
		return -1;
	for (size_t i = 0; i < d->nposts; i++) {
		const struct globaldb_tlsrpt_post *p = &d->posts[i];
		if (gprep(g, "INSERT INTO tlsrpt_post (report, uri, status, detail, posted, attempts,"
		          " next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, rid);
		bind_text(st, 2, p->uri);
		bind_text(st, 3, p->status != NULL ? p->status : GLOBALDB_TLSRPT_FAILED);
		bind_text(st, 4, p->detail);
		sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
		sqlite3_bind_int(st, 6, p->attempts > 0 ? (int)p->attempts : 1);
		sqlite3_bind_int64(st, 7, p->next_attempt);
		if (insert(g, st, NULL, err) != 0)
			return -1;
	}
	return 0;
}

int globaldb_tlsrpt_report_done(struct globaldb *g, const struct globaldb_tlsrpt_done *d,
                                struct error *err)
{
	pthread_mutex_lock(&g->lock);
	int ret = -1;
	int64_t oid = 0;
	sqlite3_stmt *st;
	if (gexec(g, "BEGIN IMMEDIATE", err) != 0)
		goto out;
	int exists = period_reported(g, "SELECT 1 FROM tlsrpt_report_out WHERE domain = ? AND"
	                             " period_begin = ?", d->domain, d->begin, err);
	if (exists < 0)
		goto fail;
	if (!exists && ((d->msg != NULL && outgoing_insert(g, d->msg, &oid, err) != 0) ||
	                tlsrpt_out_insert(g, d, oid, err) != 0))
		goto fail;
	if (gprep(g, "DELETE FROM tlsrpt_result WHERE policy_domain = ? AND day = ?", &st,
	          err) != 0)
		goto fail;
	bind_text(st, 1, d->domain);
	sqlite3_bind_int64(st, 2, d->begin);
	if (grun(g, st, err) != 0 || gexec(g, "COMMIT", err) != 0)
		goto fail;
	ret = exists ? 0 : 1;
	goto out;
fail:
	grollback(g);
out:
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* A post from columns first.. of st: id, uri, status, detail, attempts, next_attempt. */
static struct globaldb_tlsrpt_post post_columns(sqlite3_stmt *st, struct arena *a)
{
	return (struct globaldb_tlsrpt_post){
		.id = sqlite3_column_int64(st, 0), .uri = col_text(st, 1, a),
		.status = col_text(st, 2, a), .detail = col_text(st, 3, a),
		.attempts = (unsigned)sqlite3_column_int(st, 4),
		.next_attempt = sqlite3_column_int64(st, 5)};
}

static int tlsrpt_load_posts(struct globaldb *g, int64_t id, struct arena *a,
                             struct globaldb_tlsrpt_out *o, struct error *err)
{
	sqlite3_stmt *st;
	if (gprep(g, "SELECT id, uri, status, detail, attempts, next_attempt FROM tlsrpt_post"
	          " WHERE report = ? ORDER BY id", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	size_t cap = 0;
	int s;
	while ((s = step(g, st, err)) == 1) {
		o->posts = arena_grow(a, o->posts, o->nposts, &cap, sizeof(*o->posts), 2);
		o->posts[o->nposts++] = post_columns(st, a);
	}
	sqlite3_finalize(st);
	return s;
}

int globaldb_tlsrpt_out_list(struct globaldb *g, struct arena *a,
                             struct globaldb_tlsrpt_out **list_r, size_t *n_r, struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st;
	int ret = read_begin(g, "SELECT id, domain, period_begin, period_end, created, report_id,"
	                     " note, coalesce(outgoing, 0), length(report) FROM tlsrpt_report_out"
	                     " ORDER BY period_begin DESC, id DESC LIMIT ?", &st, err);
	if (ret != 0)
		return read_end(g, st, ret);
	sqlite3_bind_int(st, 1, GLOBALDB_LIST_MAX);
	size_t cap = 0;
	while ((ret = step(g, st, err)) == 1) {
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 8);
		struct globaldb_tlsrpt_out *o = &(*list_r)[(*n_r)++];
		*o = (struct globaldb_tlsrpt_out){
			.domain = col_text(st, 1, a), .begin = sqlite3_column_int64(st, 2),
			.end = sqlite3_column_int64(st, 3), .created = sqlite3_column_int64(st, 4),
			.report_id = col_text(st, 5, a), .note = col_text(st, 6, a),
			.outgoing = sqlite3_column_int64(st, 7), .gzlen = (size_t)sqlite3_column_int64(st, 8)};
		if (tlsrpt_load_posts(g, sqlite3_column_int64(st, 0), a, o, err) != 0) {
			ret = -1;
			break;
		}
	}
	return read_end(g, st, ret);
}

int globaldb_tlsrpt_posts_due(struct globaldb *g, int64_t now, struct arena *a,
                              struct globaldb_tlsrpt_post_due **list_r, size_t *n_r,
                              struct error *err)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st;
	int ret = read_begin(g, "SELECT p.id, p.uri, p.status, p.detail, p.attempts,"
	                     " p.next_attempt, r.domain, r.created, r.report FROM tlsrpt_post p"
	                     " JOIN tlsrpt_report_out r ON r.id = p.report WHERE p.status = ? AND"
	                     " p.next_attempt <= ? ORDER BY p.next_attempt, p.id LIMIT ?", &st, err);
	if (ret != 0)
		return read_end(g, st, ret);
	bind_text(st, 1, GLOBALDB_TLSRPT_RETRYING);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, GLOBALDB_LIST_MAX);
	size_t cap = 0;
	while ((ret = step(g, st, err)) == 1) {
		*list_r = arena_grow(a, *list_r, *n_r, &cap, sizeof(**list_r), 4);
		size_t n = (size_t)sqlite3_column_bytes(st, 8);
		void *gz = arena_alloc(a, n + 1);
		if (n > 0)
			memcpy(gz, sqlite3_column_blob(st, 8), n);
		(*list_r)[(*n_r)++] = (struct globaldb_tlsrpt_post_due){
			.post = post_columns(st, a), .domain = col_text(st, 6, a),
			.created = sqlite3_column_int64(st, 7), .gz = gz, .gzlen = n};
	}
	return read_end(g, st, ret);
}

int globaldb_tlsrpt_post_update(struct globaldb *g, int64_t id, const char *status,
                                const char *detail, int64_t next_attempt, struct error *err)
{
	pthread_mutex_lock(&g->lock);
	sqlite3_stmt *st;
	int ret = gprep(g, "UPDATE tlsrpt_post SET status = ?, detail = ?, posted = ?,"
	                " attempts = attempts + 1, next_attempt = ? WHERE id = ?", &st, err);
	if (ret == 0) {
		bind_text(st, 1, status);
		bind_text(st, 2, detail);
		sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
		sqlite3_bind_int64(st, 4, next_attempt);
		sqlite3_bind_int64(st, 5, id);
		ret = grun(g, st, err);
	}
	if (ret == 0 && sqlite3_changes(g->db) == 0)
		ret = error_set(err, ERR_NOTFOUND, "no TLS report post %lld", (long long)id);
	pthread_mutex_unlock(&g->lock);
	return ret;
}
