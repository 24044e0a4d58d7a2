/*
 * worker.c: the delivery workers of the queue (queue.h).
 *
 * A worker takes the due recipients of one (message, domain) while that
 * domain has fewer than per_domain_max attempts running, marks them
 * "delivering" (so that a crash queues them again), makes one attempt with
 * the delivery function outside the lock, and records each recipient's
 * result:
 *   delivered   done; a DSN "relayed" when NOTIFY=SUCCESS and the next hop
 *               does not support DSN (RFC 3461 §5.2.2); one that does took
 *               the DSN parameters and reports success itself (§5.2.1);
 *   permanent   failed; a failure DSN (RFC 3461 §6.2.3.3);
 *   temporary   retried after queue_retry_delay, until max_age after the
 *               message was queued, then failed with a DSN (RFC 5321
 *               §4.5.4.1: give up after 4-5 days); one delay DSN
 *               (RFC 3461 §6.2.3.2) when delay_notice has passed.
 * NOTIFY (RFC 3461 §4.1): NEVER asks for no DSN; when NOTIFY was given,
 * only the named events get one; without it, failures and delays do. The
 * null sender never gets a DSN (RFC 5321 §4.5.5).
 *
 * DSNs go to the sender's account (always known for submitted mail)
 * through the store, never through SMTP. Each is composed and stored in
 * dsn_pending in the transaction that records the results it reports, and
 * removed once delivered: a failed local delivery is retried after
 * queue_retry_delay, and a crash in between leaves it for the next start.
 */
#include "queue/internal.h"
#include "queue/dsn.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/log.h"
#include "reports/tlsrpt_out.h"
#include "store/globaldb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often a worker looks for due work without being woken. */
#define IDLE_WAIT_S 60

struct job_rcpt {
	int64_t id;
	char *address, *orcpt;
	unsigned notify, attempts;
	bool delay_notified;
};

struct job {
	int64_t msg;
	char domain[256];
	char *mail_from, *envid, *account, *file, *kind;
	const char *transport;        /* the route's transport, NULL: direct */
	bool ret_hdrs, smtputf8, eightbit, requiretls;
	int64_t created;
	struct job_rcpt *rcpts;
	struct smtpclient_rcpt *results;
	size_t n;
	struct arena *a;
};

/*
 * Per-domain limits (mu held).
 */

static struct active_domain *active_find(struct queue *q, const char *domain)
{
	for (size_t i = 0; i < q->nactive; i++)
		if (strcmp(q->active[i].name, domain) == 0)
			return &q->active[i];
	return NULL;
}

static bool domain_has_room(struct queue *q, const char *domain)
{
	struct active_domain *d = active_find(q, domain);
	if (d == NULL)
		return q->nactive < QUEUE_ACTIVE_DOMAINS_MAX;
	return d->n < q->s.per_domain_max;
}

static void active_add(struct queue *q, const char *domain)
{
	struct active_domain *d = active_find(q, domain);
	if (d == NULL) {
		d = &q->active[q->nactive++];
		snprintf(d->name, sizeof(d->name), "%s", domain);
		d->n = 0;
	}
	d->n++;
}

static void active_remove(struct queue *q, const char *domain)
{
	struct active_domain *d = active_find(q, domain);
	if (d == NULL || --d->n > 0)
		return;
	*d = q->active[--q->nactive];
}

/*
 * Taking a job (mu held).
 */

static char *col_dup(struct arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s != NULL ? arena_strdup(a, (const char *)s) : NULL;
}

/* Finds the first due (message, domain) whose domain has room. */
static bool find_due(struct queue *q, int64_t now, int64_t *msg_r, char *domain, size_t size)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT msg, domain FROM rcpt WHERE state = 'queued' AND"
	                     " next_attempt <= ? ORDER BY next_attempt, id", &st, &e) != 0)
		return false;
	sqlite3_bind_int64(st, 1, now);
	bool found = false;
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 1);
		if (d == NULL || !domain_has_room(q, d))
			continue;
		*msg_r = sqlite3_column_int64(st, 0);
		snprintf(domain, size, "%s", d);
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}

static int load_msg(struct queue *q, struct job *j, struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "SELECT mail_from, envid, ret_hdrs, smtputf8, eightbit, requiretls,"
	                     " account, file, created, kind FROM msg WHERE id = ?", &st, e) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, j->msg);
	int r = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		j->mail_from = col_dup(j->a, st, 0);
		j->envid = col_dup(j->a, st, 1);
		j->ret_hdrs = sqlite3_column_int(st, 2) != 0;
		j->smtputf8 = sqlite3_column_int(st, 3) != 0;
		j->eightbit = sqlite3_column_int(st, 4) != 0;
		j->requiretls = sqlite3_column_int(st, 5) != 0;
		j->account = col_dup(j->a, st, 6);
		j->file = col_dup(j->a, st, 7);
		j->created = sqlite3_column_int64(st, 8);
		j->kind = col_dup(j->a, st, 9);
		r = 0;
	} else {
		error_set(e, ERR_NOTFOUND, "message %lld went away", (long long)j->msg);
	}
	sqlite3_finalize(st);
	return r;
}

static int load_rcpts(struct queue *q, struct job *j, int64_t now, struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "SELECT id, address, orcpt, notify, attempts, delay_notified FROM rcpt"
	                     " WHERE msg = ? AND domain = ? AND state = 'queued' AND next_attempt <= ?"
	                     " ORDER BY id", &st, e) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, j->msg);
	sqlite3_bind_text(st, 2, j->domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	size_t cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		j->rcpts = arena_grow(j->a, j->rcpts, j->n, &cap, sizeof(*j->rcpts), 8);
		struct job_rcpt *r = &j->rcpts[j->n++];
		r->id = sqlite3_column_int64(st, 0);
		r->address = col_dup(j->a, st, 1);
		r->orcpt = col_dup(j->a, st, 2);
		r->notify = (unsigned)sqlite3_column_int(st, 3);
		r->attempts = (unsigned)sqlite3_column_int(st, 4);
		r->delay_notified = sqlite3_column_int(st, 5) != 0;
	}
	sqlite3_finalize(st);
	return 0;
}

static int set_state(struct queue *q, int64_t rcpt, const char *state, struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "UPDATE rcpt SET state = ? WHERE id = ?", &st, e) != 0)
		return -1;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, rcpt);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : queue_db_error(q, e, "setting a recipient's state");
}

/* Takes the next due job, marking its recipients delivering. Returns true
 * with *j filled (its arena made here), false when nothing is due. */
static bool take_job(struct queue *q, struct job *j)
{
	int64_t now = (int64_t)time(NULL);
	memset(j, 0, sizeof(*j));
	if (!find_due(q, now, &j->msg, j->domain, sizeof(j->domain)))
		return false;
	struct error e;
	j->a = arena_new(8192, ARENA_PLAIN);
	bool ok = load_msg(q, j, &e) == 0 && load_rcpts(q, j, now, &e) == 0 && j->n > 0 &&
	          queue_db_exec(q, "BEGIN IMMEDIATE", &e) == 0;
	if (ok) {
		for (size_t i = 0; i < j->n && ok; i++)
			ok = set_state(q, j->rcpts[i].id, QUEUE_DELIVERING, &e) == 0;
		ok = ok && queue_db_exec(q, "COMMIT", &e) == 0;
		if (!ok)
			sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (!ok) {
		struct log_line *l = log_begin(LOG_ERROR, "queue", "cannot take a message for delivery");
		log_int(l, "id", j->msg);
		log_error_value(l, &e);
		log_end(l);
		arena_free(&j->a);
		return false;
	}
	active_add(q, j->domain);
	return true;
}

/*
 * The attempt (without the lock).
 */

/* A local failure: every recipient without a final result (delivered or
 * refused for good) is tried again later, with why as the reason. */
static void all_temp(struct job *j, const char *why)
{
	for (size_t i = 0; i < j->n; i++) {
		struct smtpclient_result *r = &j->results[i].result;
		if (r->status == SMTPCLIENT_DELIVERED || r->status == SMTPCLIENT_PERMFAIL)
			continue;
		memset(r, 0, sizeof(*r));
		r->status = SMTPCLIENT_TEMPFAIL;
		snprintf(r->text, sizeof(r->text), "%s", why);
	}
}

/* tern.db, opened on first use (mu taken here). NULL when it cannot be. */
static struct globaldb *queue_globaldb(struct queue *q, struct error *e)
{
	pthread_mutex_lock(&q->mu);
	if (q->globaldb == NULL)
		globaldb_open(q->s.data_dir, &q->globaldb, e);
	struct globaldb *g = q->globaldb;
	pthread_mutex_unlock(&q->mu);
	return g;
}

/* Records the attempt's TLS result for the daily TLS reports (RFC 8460);
 * RFC 8460 §3: not for TLS reports themselves (no reports about reports). */
static void record_tls(struct queue *q, const struct job *j, const struct smtpclient_tls_report *t)
{
	if (j->kind != NULL && strcmp(j->kind, "tlsrpt") == 0)
		return;
	if (t->mx_host[0] == '\0' && t->failure == NULL)
		return;
	struct error e;
	error_clear(&e);
	struct globaldb *g = queue_globaldb(q, &e);
	if (g == NULL || reports_tlsrpt_record_attempt(g, j->domain, t, 0, &e) < 0) {
		struct log_line *l = log_begin(LOG_ERROR, "queue", "recording the TLS result failed");
		log_str(l, "domain", j->domain);
		log_error_value(l, &e);
		log_end(l);
	}
}

/* The route of j by the current configuration (route.c): the transport
 * of the first matching route, with the fewest attempts of j's recipients. */
static int choose_route(struct job *j, struct smtpclient_route *route, struct error *e)
{
	struct config *cfg = config_acquire();
	if (cfg == NULL)
		return 0;
	unsigned attempts = j->rcpts[0].attempts;
	for (size_t i = 1; i < j->n; i++)
		if (j->rcpts[i].attempts < attempts)
			attempts = j->rcpts[i].attempts;
	const struct config_route *r = queue_route_find(cfg, j->account, j->mail_from, j->domain,
	                                                attempts);
	int rc = queue_route_apply(cfg, r, route, j->a, e);
	if (rc == 0 && r != NULL && r->transport[0] != '\0') {
		/* the snapshot may go away: keep what the attempt uses */
		j->transport = arena_strdup(j->a, r->transport);
		const char **fields[] = {&route->host, &route->auth_user, &route->auth_password,
			&route->socks_proxy, &route->socks_user, &route->socks_password, &route->ehlo_name};
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (*fields[i] != NULL)
				*fields[i] = arena_strdup(j->a, *fields[i]);
	}
	config_release(&cfg);
	if (rc != 0)
		error_prefix(e, "route");
	return rc;
}

static void attempt(struct queue *q, struct job *j)
{
	j->results = arena_alloc(j->a, j->n * sizeof(*j->results));
	/* no result until the delivery function gives one */
	for (size_t i = 0; i < j->n; i++)
		j->results[i] = (struct smtpclient_rcpt){.address = j->rcpts[i].address,
			.notify = j->rcpts[i].notify, .orcpt = j->rcpts[i].orcpt,
			.result = {.status = SMTPCLIENT_TEMPFAIL}};
	char path[PATH_MAX];
	queue_msg_path(q, j->file, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		char why[300];
		snprintf(why, sizeof(why), "cannot read the queued message: %s", strerror(errno));
		all_temp(j, why);
		if (fd >= 0)
			close(fd);
		return;
	}
	struct smtpclient_message m = {
		.mail_from = j->mail_from, .envid = j->envid, .ret_hdrs = j->ret_hdrs,
		.smtputf8 = j->smtputf8, .eightbit = j->eightbit, .requiretls = j->requiretls,
		.fd = fd, .size = (uint64_t)sb.st_size,
	};
	struct smtpclient_route route = {.domain = j->domain};
	struct smtpclient_tls_report tls;
	memset(&tls, 0, sizeof(tls));
	struct error e;
	error_clear(&e);
	if (q->s.routes && choose_route(j, &route, &e) != 0) {
		all_temp(j, e.msg);
		close(fd);
		return;
	}
	if (q->s.deliver(q->s.deliver_ctx, &route, &m, j->results, j->n, &tls, &e) != 0)
		all_temp(j, e.msg);
	close(fd);
	/* TLS reports are about the recipient domain's MX hosts, not smarthosts */
	if (route.host == NULL)
		record_tls(q, j, &tls);
}

/*
 * Recording results (mu held) and DSNs.
 */

/* RFC 3461 §4.1: which events the sender asked to hear of. */
static bool wants(unsigned notify, unsigned event)
{
	if (notify & SMTPCLIENT_NOTIFY_NEVER)
		return false;
	if (notify == 0)
		return event != SMTPCLIENT_NOTIFY_SUCCESS;
	return (notify & event) != 0;
}

static int record(struct queue *q, int64_t rcpt, const char *state, unsigned attempts,
                  int64_t next, bool delay_notified, const struct smtpclient_result *res,
                  struct error *e)
{
	sqlite3_stmt *st;
	if (queue_db_prepare(q, "UPDATE rcpt SET state = ?, attempts = ?, next_attempt = ?,"
	                     " last_attempt = ?, code = ?, enhanced = ?, text = ?, remote_mta = ?,"
	                     " delay_notified = ? WHERE id = ?", &st, e) != 0)
		return -1;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)attempts);
	sqlite3_bind_int64(st, 3, next);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	sqlite3_bind_int(st, 5, res->code);
	sqlite3_bind_text(st, 6, res->enhanced, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, res->text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, res->remote_mta, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, delay_notified);
	sqlite3_bind_int64(st, 10, rcpt);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : queue_db_error(q, e, "recording a delivery result");
}

/* The DSN entry for recipient i of j, or none (returns false). */
static bool dsn_entry(struct queue *q, const struct job *j, size_t i, const char *state,
                      bool delay_now, struct dsn_rcpt *d)
{
	const struct job_rcpt *r = &j->rcpts[i];
	const struct smtpclient_result *res = &j->results[i].result;
	if (j->mail_from == NULL || j->mail_from[0] == '\0')
		return false;  /* RFC 5321 §4.5.5: never to the null reverse-path */
	*d = (struct dsn_rcpt){.address = r->address, .orcpt = r->orcpt, .status = res->enhanced,
		.code = res->code, .text = res->text, .remote_mta = res->remote_mta,
		.last_attempt = (int64_t)time(NULL)};
	if (strcmp(state, QUEUE_DELIVERED) == 0) {
		/* RFC 3461 §5.2.1: a next hop that supports DSN took NOTIFY and
		 * ORCPT with the recipient, and reports success itself; §5.2.2:
		 * one that does not makes us report "relayed" */
		d->action = DSN_RELAYED;
		return !res->dsn_passed && wants(r->notify, SMTPCLIENT_NOTIFY_SUCCESS);
	}
	if (strcmp(state, QUEUE_FAILED) == 0) {
		d->action = DSN_FAILED;
		if (res->status == SMTPCLIENT_TEMPFAIL)  /* RFC 3463 §3.5: delivery time expired */
			d->status = "5.4.7";
		return wants(r->notify, SMTPCLIENT_NOTIFY_FAILURE);
	}
	if (!delay_now)
		return false;
	d->action = DSN_DELAYED;
	d->will_retry_until = j->created + q->s.max_age_s;
	return true;
}

static void log_result(const struct job *j, size_t i, const char *state, unsigned attempts)
{
	const struct smtpclient_result *res = &j->results[i].result;
	struct log_line *l = log_begin(res->status == SMTPCLIENT_DELIVERED ? LOG_INFO : LOG_WARN,
	                               "queue", "delivery attempt");
	log_int(l, "id", j->msg);
	log_str(l, "rcpt", j->rcpts[i].address);
	log_str(l, "result", state);
	log_uint(l, "attempts", attempts);
	log_int(l, "code", res->code);
	log_str(l, "enhanced", res->enhanced);
	log_str(l, "text", res->text);
	log_str(l, "remote", res->remote_mta);
	if (j->transport != NULL)
		log_str(l, "transport", j->transport);
	log_end(l);
}

/* Composes the DSN for the entries (all of one action) and stores it in
 * dsn_pending, due now. Returns 0, or -1 with e (a database error). */
static int store_dsn(struct queue *q, const struct job *j, const struct dsn_rcpt *dsns, size_t n,
                     const struct buf *original, int64_t now, struct error *e)
{
	struct dsn_in in = {
		.reporting_mta = q->s.hostname, .to = j->mail_from, .envid = j->envid,
		.arrival = j->created, .ret_hdrs = j->ret_hdrs, .utf8 = j->smtputf8,
		.original = original->data, .original_len = original->len, .rcpts = dsns, .nrcpts = n,
	};
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	struct error ce;
	if (dsn_compose(&in, &out, &ce) != 0) {
		/* nothing to retry: the entries themselves are unusable */
		struct log_line *l = log_begin(LOG_ERROR, "queue", "DSN not composed");
		log_int(l, "id", j->msg);
		log_error_value(l, &ce);
		log_end(l);
		buf_free(&out);
		return 0;
	}
	sqlite3_stmt *st;
	int r = queue_db_prepare(q, "INSERT INTO dsn_pending (msg, account, rcpt_to, action, body,"
	                         " created, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, e);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, j->msg);
		sqlite3_bind_text(st, 2, j->account, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, j->mail_from, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, dsn_action_name(dsns[0].action), -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 5, out.data != NULL ? out.data : "", out.len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		sqlite3_bind_int64(st, 7, now);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : queue_db_error(q, e, "storing a DSN");
		sqlite3_finalize(st);
	}
	buf_free(&out);
	return r;
}

/* Stores the DSNs the entries call for, one per action so that each has
 * one subject. Returns 0, or -1 with e. */
static int store_dsns(struct queue *q, const struct job *j, const struct dsn_rcpt *dsns, size_t n,
                      const struct buf *original, int64_t now, struct error *e)
{
	if (n == 0)
		return 0;
	if (j->account == NULL) {
		/* DSNs go through the store only: nowhere to put this one */
		struct log_line *l = log_begin(LOG_ERROR, "queue", "DSN not delivered");
		log_int(l, "id", j->msg);
		log_str(l, "to", j->mail_from);
		log_str(l, "error", "the sender has no account here");
		log_end(l);
		return 0;
	}
	for (enum dsn_action a = DSN_FAILED; a <= DSN_RELAYED; a++) {
		struct dsn_rcpt *sel = arena_alloc(j->a, n * sizeof(*sel));
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (dsns[i].action == a)
				sel[k++] = dsns[i];
		if (k > 0 && store_dsn(q, j, sel, k, original, now, e) != 0)
			return -1;
	}
	return 0;
}

/* The results of j could not be recorded (the transaction was rolled
 * back): its recipients go back to the queue for a later attempt rather
 * than stay "delivering" until the next start. One that was delivered may
 * be sent again; none is lost. */
static void requeue_unrecorded(struct queue *q, const struct job *j, int64_t now)
{
	for (size_t i = 0; i < j->n; i++) {
		const struct job_rcpt *r = &j->rcpts[i];
		sqlite3_stmt *st;
		struct error e;
		if (queue_db_prepare(q, "UPDATE rcpt SET state = 'queued', attempts = ?,"
		                     " next_attempt = ? WHERE id = ? AND state = 'delivering'", &st,
		                     &e) != 0)
			return;
		sqlite3_bind_int(st, 1, (int)r->attempts + 1);
		sqlite3_bind_int64(st, 2, now + queue_retry_delay(r->attempts + 1, q->s.first_retry_s,
		                                                  q->s.max_retry_s));
		sqlite3_bind_int64(st, 3, r->id);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_msgf(LOG_ERROR, "queue", "requeueing recipient %lld: %s", (long long)r->id,
			         sqlite3_errmsg(q->db));
		sqlite3_finalize(st);
	}
}

/* Records every result of j and the DSNs they call for in one
 * transaction. Returns 0, or -1 when nothing was recorded (the recipients
 * are queued again). mu held. */
static int record_all(struct queue *q, struct job *j, const struct buf *original)
{
	int64_t now = (int64_t)time(NULL);
	struct error e;
	struct dsn_rcpt *dsns = arena_alloc(j->a, j->n * sizeof(*dsns));
	const char **states = arena_alloc(j->a, j->n * sizeof(*states));
	size_t ndsn = 0;
	if (queue_db_exec(q, "BEGIN IMMEDIATE", &e) != 0)
		goto failed;
	for (size_t i = 0; i < j->n; i++) {
		struct job_rcpt *r = &j->rcpts[i];
		const struct smtpclient_result *res = &j->results[i].result;
		unsigned attempts = r->attempts + 1;
		const char *state = QUEUE_QUEUED;
		int64_t next = now + queue_retry_delay(attempts, q->s.first_retry_s, q->s.max_retry_s);
		bool delay_now = false;
		if (res->status == SMTPCLIENT_DELIVERED)
			state = QUEUE_DELIVERED;
		else if (res->status == SMTPCLIENT_PERMFAIL || now >= j->created + q->s.max_age_s)
			state = QUEUE_FAILED;
		else if (!r->delay_notified && now >= j->created + q->s.delay_notice_s &&
		         wants(r->notify, SMTPCLIENT_NOTIFY_DELAY))
			delay_now = true;
		if (record(q, r->id, state, attempts, next, r->delay_notified || delay_now, res, &e) != 0)
			goto rollback;
		states[i] = state;
		if (dsn_entry(q, j, i, state, delay_now, &dsns[ndsn]))
			ndsn++;
	}
	if (store_dsns(q, j, dsns, ndsn, original, now, &e) != 0 ||
	    queue_db_exec(q, "COMMIT", &e) != 0)
		goto rollback;
	for (size_t i = 0; i < j->n; i++)
		log_result(j, i, states[i], j->rcpts[i].attempts + 1);
	queue_msg_finish(q, j->msg);
	return 0;
rollback:
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
failed:;
	struct log_line *l = log_begin(LOG_ERROR, "queue", "delivery results not recorded");
	log_int(l, "id", j->msg);
	log_error_value(l, &e);
	log_end(l);
	requeue_unrecorded(q, j, now);
	return -1;
}

/* A DSN waiting in dsn_pending. */
struct pending_dsn {
	int64_t id, msg, created;
	char *account, *rcpt_to, *action;
	struct buf body;
};

/* Takes the next due pending DSN: its next attempt is moved on first, so
 * a failed delivery (or a crash during it) leaves it for a later try. One
 * older than max_age is given up. Returns true with p filled. mu held. */
static bool claim_dsn(struct queue *q, int64_t now, struct arena *a, struct pending_dsn *p)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT id, msg, account, rcpt_to, action, body, created, attempts"
	                     " FROM dsn_pending WHERE next_attempt <= ? ORDER BY next_attempt, id"
	                     " LIMIT 1", &st, &e) != 0)
		return false;
	sqlite3_bind_int64(st, 1, now);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	unsigned attempts = 0;
	if (found) {
		p->id = sqlite3_column_int64(st, 0);
		p->msg = sqlite3_column_int64(st, 1);
		p->account = col_dup(a, st, 2);
		p->rcpt_to = col_dup(a, st, 3);
		p->action = col_dup(a, st, 4);
		buf_append(&p->body, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5));
		p->created = sqlite3_column_int64(st, 6);
		attempts = (unsigned)sqlite3_column_int(st, 7) + 1;
	}
	sqlite3_finalize(st);
	if (!found)
		return false;
	bool expired = now >= p->created + q->s.max_age_s;
	if (queue_db_prepare(q, expired ? "DELETE FROM dsn_pending WHERE id = ?3" :
	                     "UPDATE dsn_pending SET attempts = ?1, next_attempt = ?2 WHERE id = ?3",
	                     &st, &e) != 0)
		return false;
	sqlite3_bind_int(st, 1, (int)attempts);
	sqlite3_bind_int64(st, 2, now + queue_retry_delay(attempts, q->s.first_retry_s,
	                                                  q->s.max_retry_s));
	sqlite3_bind_int64(st, 3, p->id);
	bool updated = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (expired) {
		struct log_line *l = log_begin(LOG_ERROR, "queue", "DSN given up");
		log_int(l, "id", p->msg);
		log_str(l, "to", p->rcpt_to);
		log_str(l, "action", p->action);
		log_end(l);
	}
	return updated && !expired;
}

static void remove_dsn(struct queue *q, int64_t id)
{
	sqlite3_stmt *st;
	struct error e;
	pthread_mutex_lock(&q->mu);
	if (queue_db_prepare(q, "DELETE FROM dsn_pending WHERE id = ?", &st, &e) == 0) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_msgf(LOG_ERROR, "queue", "removing a delivered DSN: %s", sqlite3_errmsg(q->db));
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&q->mu);
}

/* Delivers the due pending DSNs into their senders' accounts (mu not
 * held); each is removed once delivered, else tried again after
 * queue_retry_delay. */
static void deliver_pending_dsns(struct queue *q)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	for (;;) {
		struct pending_dsn p = {0};
		buf_init(&p.body, BUF_UNBOUNDED);
		arena_reset(a);
		pthread_mutex_lock(&q->mu);
		bool claimed = !q->stopping && claim_dsn(q, (int64_t)time(NULL), a, &p);
		pthread_mutex_unlock(&q->mu);
		if (!claimed) {
			buf_free(&p.body);
			break;
		}
		struct error e;
		int r = queue_local_deliver(q->s.data_dir, p.account, p.rcpt_to, p.body.data, p.body.len,
		                            &e);
		struct log_line *l = log_begin(r == 0 ? LOG_INFO : LOG_ERROR, "queue",
		                               r == 0 ? "DSN delivered" : "DSN not delivered, kept");
		log_int(l, "id", p.msg);
		log_str(l, "to", p.rcpt_to);
		log_str(l, "action", p.action);
		if (r != 0)
			log_error_value(l, &e);
		log_end(l);
		if (r == 0)
			remove_dsn(q, p.id);
		buf_free(&p.body);
	}
	arena_free(&a);
}

/* Whether a pending DSN is due. mu held. */
static bool dsn_due(struct queue *q, int64_t now)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT 1 FROM dsn_pending WHERE next_attempt <= ? LIMIT 1", &st,
	                     &e) != 0)
		return false;
	sqlite3_bind_int64(st, 1, now);
	bool due = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return due;
}

/* Whether recording j's results may call for a DSN (then the message is
 * read first: recording may remove it from the queue). */
static bool may_notify(const struct job *j)
{
	if (j->mail_from == NULL || j->mail_from[0] == '\0')
		return false;
	for (size_t i = 0; i < j->n; i++)
		if (j->results[i].result.status != SMTPCLIENT_DELIVERED ||
		    (j->rcpts[i].notify & SMTPCLIENT_NOTIFY_SUCCESS))
			return true;
	return false;
}

/* The start of the message for DSNs: whole up to DSN_FULL_MAX, else one
 * byte more (dsn.c then returns the header only). */
static void read_original(struct queue *q, const struct job *j, struct buf *out)
{
	char path[PATH_MAX];
	queue_msg_path(q, j->file, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size_t want = DSN_FULL_MAX + 1;
	while (out->len < want) {
		char *p = buf_reserve(out, want - out->len);
		ssize_t r = p != NULL ? read(fd, p, want - out->len) : -1;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_commit(out, (size_t)r);
	}
	close(fd);
}

/* Records j's results with the DSNs they call for, then delivers those. */
static void finish_job(struct queue *q, struct job *j)
{
	struct buf original;
	buf_init(&original, BUF_UNBOUNDED);
	if (may_notify(j))
		read_original(q, j, &original);
	pthread_mutex_lock(&q->mu);
	bool recorded = record_all(q, j, &original) == 0;
	active_remove(q, j->domain);
	q->wakeups++;   /* the domain has room again */
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	buf_free(&original);
	if (recorded)
		deliver_pending_dsns(q);
}

/*
 * The loop.
 */

/* The earliest next_attempt of a queued recipient, or 0. mu held. */
static int64_t next_due(struct queue *q)
{
	sqlite3_stmt *st;
	struct error e;
	if (queue_db_prepare(q, "SELECT min(t) FROM (SELECT min(next_attempt) AS t FROM rcpt"
	                     " WHERE state = 'queued' UNION ALL SELECT min(next_attempt)"
	                     " FROM dsn_pending)", &st, &e) != 0)
		return 0;
	int64_t t = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return t;
}

static void wait_for_work(struct queue *q, unsigned seen)
{
	int64_t now = (int64_t)time(NULL), due = next_due(q);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += due > now && due - now < IDLE_WAIT_S ? (time_t)(due - now) : IDLE_WAIT_S;
	if (due > 0 && due <= now)
		until.tv_sec = until.tv_sec - IDLE_WAIT_S + 1;  /* due but no room: look again soon */
	while (!q->stopping && q->wakeups == seen &&
	       pthread_cond_timedwait(&q->cv, &q->mu, &until) != ETIMEDOUT)
		;
}

struct worker_arg {
	struct queue *q;
	unsigned index;
};

static void take_outgoing(struct queue *q)
{
	struct error e;
	if (queue_take_outgoing(q, &e) < 0) {
		struct log_line *l = log_begin(LOG_ERROR, "queue", "taking outgoing reports failed");
		log_error_value(l, &e);
		log_end(l);
	}
}

void *queue_worker_main(void *arg)
{
	struct queue *q = arg;
	pthread_mutex_lock(&q->mu);
	bool first = q->nthreads == 0 || pthread_equal(pthread_self(), q->threads[0]);
	int64_t outgoing_at = 0;
	unsigned outgoing_seen = q->wakeups - 1;
	while (!q->stopping) {
		int64_t now = (int64_t)time(NULL);
		if (first && q->s.take_outgoing &&
		    (now - outgoing_at >= IDLE_WAIT_S || outgoing_seen != q->wakeups)) {
			outgoing_at = now;
			outgoing_seen = q->wakeups;
			pthread_mutex_unlock(&q->mu);
			take_outgoing(q);
			pthread_mutex_lock(&q->mu);
		}
		if (dsn_due(q, now)) {
			pthread_mutex_unlock(&q->mu);
			deliver_pending_dsns(q);
			pthread_mutex_lock(&q->mu);
		}
		unsigned seen = q->wakeups;
		struct job j;
		if (!take_job(q, &j)) {
			wait_for_work(q, seen);
			continue;
		}
		pthread_mutex_unlock(&q->mu);
		attempt(q, &j);
		finish_job(q, &j);
		arena_free(&j.a);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int queue_start(struct queue *q, struct error *e)
{
	if (q->s.deliver == NULL) {
		log_msgf(LOG_WARN, "queue", "no delivery function: queued mail waits");
		return 0;
	}
	pthread_mutex_lock(&q->mu);
	q->threads = calloc(q->s.workers, sizeof(*q->threads));
	if (q->threads == NULL)
		abort();
	int r = 0;
	for (unsigned i = 0; i < q->s.workers && r == 0; i++) {
		int err = pthread_create(&q->threads[i], NULL, queue_worker_main, q);
		if (err != 0)
			r = error_errno(e, err, "cannot start queue worker %u", i);
		else
			q->nthreads++;
	}
	pthread_mutex_unlock(&q->mu);
	return r;
}

void queue_close(struct queue **qp)
{
	struct queue *q = *qp;
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	size_t n = q->nthreads;
	pthread_mutex_unlock(&q->mu);
	for (size_t i = 0; i < n; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	globaldb_close(&q->globaldb);
	if (q->db != NULL)
		sqlite3_close(q->db);
	if (q->lock_fd >= 0)
		close(q->lock_fd);   /* releases the flock */
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
	*qp = NULL;
}

/*
 * DMARC reports waiting in tern.db.
 */

long queue_take_outgoing(struct queue *q, struct error *e)
{
	if (queue_globaldb(q, e) == NULL)
		return -1;
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct globaldb_outgoing *list;
	size_t n;
	long taken = 0;
	if (globaldb_outgoing_list(q->globaldb, GLOBALDB_OUTGOING_WAITING, true, a, &list, &n, e) != 0) {
		arena_free(&a);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct globaldb_outgoing *o = &list[i];
		struct queue_rcpt_in *rcpts = arena_alloc(a, (o->nrcpts + 1) * sizeof(*rcpts));
		for (size_t k = 0; k < o->nrcpts; k++)
			rcpts[k] = (struct queue_rcpt_in){.address = o->rcpts[k]};
		/* composed and DKIM-signed already (reports_dmarc_compose_due) */
		struct queue_msg_in m = {.mail_from = o->mail_from, .subject = o->subject, .kind = o->kind,
		                         .rcpts = rcpts, .nrcpts = o->nrcpts, .data = o->data,
		                         .len = o->len};
		bool queued = queue_add(q, &m, NULL, e) == 0;
		if (!queued) {
			if (e->kind != ERR_INVALID && e->kind != ERR_LIMIT) {
				arena_free(&a);
				return -1;
			}
			/* it will never fit: marked, so that it does not block the others */
			struct log_line *l = log_begin(LOG_ERROR, "queue", "outgoing message refused");
			log_int(l, "outgoing", o->id);
			log_error_value(l, e);
			log_end(l);
		}
		if (globaldb_outgoing_set_status(q->globaldb, o->id, queued ? GLOBALDB_OUTGOING_QUEUED
		                                 : GLOBALDB_OUTGOING_REFUSED, e) != 0) {
			arena_free(&a);
			return -1;
		}
		taken += queued;
	}
	arena_free(&a);
	if (taken > 0)
		log_msgf(LOG_INFO, "queue", "%ld reports taken into the queue", taken);
	return taken;
}
