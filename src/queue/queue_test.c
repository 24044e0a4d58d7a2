/*
 * queue_test.c: the outbound queue with a scripted delivery function: the
 * retry schedule, durable enqueue and recovery after a crash, results and
 * DSNs per recipient (kept until delivered), results that cannot be
 * recorded, local failures, hold/release/drop/kick, the per-domain limit, and
 * DMARC reports taken from tern.db.
 */
#include "queue/internal.h"

#include "core/arena.h"
#include "store/globaldb.h"
#include "store/store.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* What the scripted delivery saw. */
struct script {
	pthread_mutex_t mu;
	unsigned calls;
	unsigned sleep_ms;
	unsigned running[4], max_running[4];   /* per domain index: a.example, b.example, ... */
	unsigned max_total, total;
	char last_from[256];
};

static struct script script = {.mu = PTHREAD_MUTEX_INITIALIZER};

static unsigned domain_index(const char *d)
{
	return d[0] >= 'a' && d[0] <= 'c' ? (unsigned)(d[0] - 'a') : 3;
}

/* Local part "perm..." gets 550 5.1.1, "temp..." 451 4.4.1, else 250. */
static int scripted_deliver(void *ctx, const struct smtpclient_route *route,
                            const struct smtpclient_message *msg, struct smtpclient_rcpt *rcpts,
                            size_t nrcpts, struct smtpclient_tls_report *tls, struct error *e)
{
	unsigned di = domain_index(route->domain);
	pthread_mutex_lock(&script.mu);
	script.calls++;
	snprintf(script.last_from, sizeof(script.last_from), "%s", msg->mail_from);
	if (++script.running[di] > script.max_running[di])
		script.max_running[di] = script.running[di];
	if (++script.total > script.max_total)
		script.max_total = script.total;
	pthread_mutex_unlock(&script.mu);
	if (script.sleep_ms > 0)
		usleep(script.sleep_ms * 1000);
	for (size_t i = 0; i < nrcpts; i++) {
		struct smtpclient_result *r = &rcpts[i].result;
		snprintf(r->remote_mta, sizeof(r->remote_mta), "mx.%s", route->domain);
		if (strncmp(rcpts[i].address, "perm", 4) == 0)
			*r = (struct smtpclient_result){.status = SMTPCLIENT_PERMFAIL, .code = 550,
				.enhanced = "5.1.1", .text = "no such user", .remote_mta = "mx.remote"};
		else if (strncmp(rcpts[i].address, "temp", 4) == 0 ||
		         strncmp(rcpts[i].address, "local", 5) == 0)
			*r = (struct smtpclient_result){.status = SMTPCLIENT_TEMPFAIL, .code = 451,
				.enhanced = "4.4.1", .text = "try later", .remote_mta = "mx.remote"};
		else
			*r = (struct smtpclient_result){.status = SMTPCLIENT_DELIVERED, .code = 250,
				.enhanced = "2.0.0", .text = "ok", .remote_mta = "mx.remote"};
	}
	pthread_mutex_lock(&script.mu);
	script.running[di]--;
	script.total--;
	pthread_mutex_unlock(&script.mu);
	/* "local...": a local failure after the others got their results */
	for (size_t i = 0; i < nrcpts; i++)
		if (strncmp(rcpts[i].address, "local", 5) == 0)
			return error_set(e, ERR_IO, "injected local failure");
	return 0;
}

struct fx {
	char dir[64];
	struct queue_settings s;
	struct queue *q;
	struct arena *a;
};

static void script_reset(void)
{
	pthread_mutex_lock(&script.mu);
	script.calls = script.sleep_ms = script.max_total = script.total = 0;
	memset(script.running, 0, sizeof(script.running));
	memset(script.max_running, 0, sizeof(script.max_running));
	pthread_mutex_unlock(&script.mu);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ternqueueXXXXXX");
	if (mkdtemp(f->dir) == NULL)
		abort();
	f->s = (struct queue_settings){.data_dir = f->dir, .hostname = "mail.test.example",
		.deliver = scripted_deliver, .workers = 4, .per_domain_max = 2};
	f->a = arena_new(4096, ARENA_PLAIN);
	script_reset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	queue_close(&f->q);
	arena_free(&f->a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		abort();
	free(f);
	return 0;
}

static void open_queue(struct fx *f, bool start)
{
	struct error e;
	if (queue_open(&f->s, &f->q, &e) != 0)
		fail_msg("queue_open: %s", e.msg);
	if (start && queue_start(f->q, &e) != 0)
		fail_msg("queue_start: %s", e.msg);
}

static const char msg_text[] = "From: <me@here.example>\r\nTo: <x@a.example>\r\n"
                               "Subject: hello\r\n\r\nHello there.\r\n";

static int64_t add(struct fx *f, const char *from, const char *account,
                   const struct queue_rcpt_in *rcpts, size_t n, bool hold)
{
	struct queue_msg_in m = {.mail_from = from, .account = account, .subject = "hello",
		.rcpts = rcpts, .nrcpts = n, .prefix = "Received: test\r\n", .prefix_len = 16,
		.data = msg_text, .len = sizeof(msg_text) - 1, .hold = hold};
	int64_t id;
	struct error e;
	if (queue_add(f->q, &m, &id, &e) != 0)
		fail_msg("queue_add: %s", e.msg);
	return id;
}

static size_t msg_files(struct fx *f)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/queue/msg", f->dir);
	DIR *d = opendir(path);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static struct queue_msg_info *list(struct fx *f, size_t *n)
{
	struct queue_msg_info *l;
	struct error e;
	arena_reset(f->a);
	if (queue_list(f->q, f->a, &l, n, &e) != 0)
		fail_msg("queue_list: %s", e.msg);
	return l;
}

/* Waits up to 5 s for the queue to hold want messages. */
static void wait_messages(struct fx *f, size_t want)
{
	size_t n = 0;
	for (int i = 0; i < 500; i++) {
		list(f, &n);
		if (n == want)
			return;
		usleep(10000);
	}
	fail_msg("queue holds %zu messages, expected %zu", n, want);
}

/* Waits until recipient k of the only message has a state other than queued. */
static const struct queue_rcpt_info *wait_attempted(struct fx *f, size_t k)
{
	for (int i = 0; i < 500; i++) {
		size_t n;
		struct queue_msg_info *l = list(f, &n);
		if (n == 1 && l[0].nrcpts > k && l[0].rcpts[k].attempts > 0 &&
		    strcmp(l[0].rcpts[k].state, QUEUE_DELIVERING) != 0)
			return &l[0].rcpts[k];
		usleep(10000);
	}
	fail_msg("recipient %zu was not attempted", k);
	abort();
}

static uint64_t inbox_messages(struct fx *f, const char *account)
{
	struct store_account *st = NULL;
	struct store_usage u = {0, 0};
	struct error e;
	if (store_open(f->dir, account, &st, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	if (store_usage(st, &u, &e) != 0)
		fail_msg("store_usage: %s", e.msg);
	store_close(&st);
	return u.messages;
}

/* DSNs are sent after the results are recorded: waits up to 5 s for them. */
static uint64_t wait_inbox(struct fx *f, const char *account, uint64_t want)
{
	uint64_t n = 0;
	for (int i = 0; i < 500 && (n = inbox_messages(f, account)) < want; i++)
		usleep(10000);
	usleep(100000);   /* and a little more, to see any that should not come */
	return inbox_messages(f, account);
}

static void test_retry_schedule(void **state)
{
	assert_int_equal(queue_retry_delay(1, 450, 14400), 450);
	assert_int_equal(queue_retry_delay(2, 450, 14400), 900);
	assert_int_equal(queue_retry_delay(3, 450, 14400), 1800);
	assert_int_equal(queue_retry_delay(4, 450, 14400), 3600);
	assert_int_equal(queue_retry_delay(5, 450, 14400), 7200);
	assert_int_equal(queue_retry_delay(6, 450, 14400), 14400);
	assert_int_equal(queue_retry_delay(7, 450, 14400), 14400);
	assert_int_equal(queue_retry_delay(1000, 450, 14400), 14400);
	assert_int_equal(queue_retry_delay(0, 450, 14400), 450);
	assert_int_equal(queue_retry_delay(1, 0, 0), QUEUE_FIRST_RETRY_S);
	assert_int_equal(queue_retry_delay(3, 1, 3), 3);  /* the cap, not a power of two */
}

static void test_delivered_leaves_queue(void **state)
{
	struct fx *f = *state;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "x@a.example"}, {.address = "y@a.example"},
	                            {.address = "z@b.example"}};
	add(f, "me@here.example", "me", r, 3, false);
	wait_messages(f, 0);
	assert_int_equal(msg_files(f), 0);
	assert_int_equal(script.calls, 2);   /* one attempt per domain */
	assert_string_equal(script.last_from, "me@here.example");
}

static void test_add_is_durable_and_signed_file_kept(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct queue_rcpt_in r[] = {{.address = "x@A.Example", .notify = SMTPCLIENT_NOTIFY_FAILURE,
	                             .orcpt = "rfc822;x@A.Example"}};
	int64_t id = add(f, "me@here.example", "me", r, 1, false);
	assert_int_equal(msg_files(f), 1);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	struct error e;
	assert_int_equal(queue_dump(f->q, id, &b, &e), 0);
	assert_int_equal(b.len, 16 + sizeof(msg_text) - 1);
	assert_memory_equal(b.data, "Received: test\r\nFrom:", 21);
	buf_free(&b);
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].nrcpts, 1);
	assert_string_equal(l[0].rcpts[0].state, QUEUE_QUEUED);
	assert_string_equal(l[0].subject, "hello");
	/* a queue opened again (a restart) has it still */
	queue_close(&f->q);
	open_queue(f, false);
	list(f, &n);
	assert_int_equal(n, 1);
	assert_int_equal(queue_dump(f->q, 999, &b, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
}

static void test_bad_input(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct queue_rcpt_in r[] = {{.address = "nodomain"}};
	struct queue_msg_in m = {.mail_from = "", .rcpts = r, .nrcpts = 1, .data = "x", .len = 1};
	struct error e;
	assert_int_equal(queue_add(f->q, &m, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	m.nrcpts = 0;
	assert_int_equal(queue_add(f->q, &m, NULL, &e), -1);
	m.nrcpts = QUEUE_RCPTS_MAX + 1;
	assert_int_equal(queue_add(f->q, &m, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_int_equal(msg_files(f), 0);
}

/* A crash during an attempt leaves "delivering"; opening queues it again
 * and removes files without rows. */
static void test_restart_recovery(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct queue_rcpt_in r[] = {{.address = "x@a.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	struct error e;
	pthread_mutex_lock(&f->q->mu);
	assert_int_equal(queue_db_exec(f->q, "UPDATE rcpt SET state = 'delivering'", &e), 0);
	pthread_mutex_unlock(&f->q->mu);
	queue_close(&f->q);
	char orphan[PATH_MAX];
	snprintf(orphan, sizeof(orphan), "%s/queue/msg/.tmp-123-abc", f->dir);
	FILE *fp = fopen(orphan, "w");
	assert_non_null(fp);
	fclose(fp);
	open_queue(f, false);
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].rcpts[0].state, QUEUE_QUEUED);
	assert_int_equal(msg_files(f), 1);   /* the orphan went away */
	assert_int_equal(queue_start(f->q, &e), 0);
	wait_messages(f, 0);
	assert_int_equal(script.calls, 1);
}

static void test_permfail_sends_dsn(void **state)
{
	struct fx *f = *state;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "perm@a.example"}, {.address = "ok@a.example"}};
	add(f, "me@here.example", "me", r, 2, false);
	wait_messages(f, 0);
	assert_int_equal(wait_inbox(f, "me", 1), 1);
}

static void test_notify_never_and_null_sender(void **state)
{
	struct fx *f = *state;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "perm@a.example", .notify = SMTPCLIENT_NOTIFY_NEVER}};
	add(f, "me@here.example", "me", r, 1, false);
	struct queue_rcpt_in r2[] = {{.address = "perm@a.example"}};
	add(f, "", "me", r2, 1, false);
	struct queue_rcpt_in r3[] = {{.address = "ok@a.example", .notify = SMTPCLIENT_NOTIFY_SUCCESS}};
	add(f, "me@here.example", "me", r3, 1, false);
	wait_messages(f, 0);
	/* only the success notice (relayed) */
	assert_int_equal(wait_inbox(f, "me", 1), 1);
}

static void test_tempfail_retried_later(void **state)
{
	struct fx *f = *state;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "temp@a.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	int64_t before = (int64_t)time(NULL);
	const struct queue_rcpt_info *ri = wait_attempted(f, 0);
	assert_string_equal(ri->state, QUEUE_QUEUED);
	assert_int_equal(ri->attempts, 1);
	assert_int_equal(ri->code, 451);
	assert_string_equal(ri->enhanced, "4.4.1");
	assert_string_equal(ri->text, "try later");
	assert_true(ri->next_attempt >= before + QUEUE_FIRST_RETRY_S);
	assert_true(ri->next_attempt <= (int64_t)time(NULL) + QUEUE_FIRST_RETRY_S);
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	queue_list_format(l, n, &out);
	assert_non_null(strstr(out.data, "<temp@a.example> queued attempts 1 next "));
	assert_non_null(strstr(out.data, "last 451 4.4.1 try later from mx.remote"));
	buf_free(&out);
	assert_int_equal(inbox_messages(f, "me"), 0);  /* no delay notice yet */
}

static void test_max_age_fails(void **state)
{
	struct fx *f = *state;
	f->s.max_age_s = 2;
	f->s.first_retry_s = 1;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "temp@a.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	wait_messages(f, 0);
	assert_true(script.calls >= 1);   /* usually 2-3: seconds are whole here */
	assert_int_equal(wait_inbox(f, "me", 1), 1);
}

/* One delay notice (RFC 3461 §6.2.3.2) once delay_notice has passed, not
 * one per attempt. */
static void test_delay_dsn_once(void **state)
{
	struct fx *f = *state;
	f->s.delay_notice_s = 1;
	f->s.first_retry_s = 1;
	f->s.max_retry_s = 1;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "temp@a.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	struct queue_rcpt_in never[] = {{.address = "temp@b.example",
	                                 .notify = SMTPCLIENT_NOTIFY_FAILURE}};
	add(f, "me@here.example", "me", never, 1, false);
	for (int i = 0; i < 600 && script.calls < 6; i++)
		usleep(10000);
	assert_true(script.calls >= 6);   /* at least 3 attempts each */
	/* the first message's notice only: the second asked for failures alone */
	assert_int_equal(wait_inbox(f, "me", 1), 1);
}

/* Rows of table in queue.db. */
static long long count_rows(struct fx *f, const char *sql)
{
	sqlite3_stmt *st;
	struct error e;
	pthread_mutex_lock(&f->q->mu);
	if (queue_db_prepare(f->q, sql, &st, &e) != 0)
		fail_msg("%s", e.msg);
	long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&f->q->mu);
	return n;
}

/* A DSN whose local delivery fails stays in dsn_pending, is retried, and
 * survives a restart until it is in the sender's mailbox. */
static void test_dsn_kept_until_delivered(void **state)
{
	struct fx *f = *state;
	f->s.first_retry_s = 1;
	f->s.max_retry_s = 1;
	/* a file where the account's directory goes: the store cannot open it */
	char blocker[PATH_MAX];
	snprintf(blocker, sizeof(blocker), "%s/accounts", f->dir);
	assert_int_equal(mkdir(blocker, 0700), 0);
	snprintf(blocker, sizeof(blocker), "%s/accounts/me", f->dir);
	FILE *fp = fopen(blocker, "w");
	assert_non_null(fp);
	fclose(fp);
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "perm@a.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	wait_messages(f, 0);
	const char *count = "SELECT count(*) FROM dsn_pending";
	assert_int_equal(count_rows(f, count), 1);
	for (int i = 0; i < 300 && count_rows(f, "SELECT max(attempts) FROM dsn_pending") < 2; i++)
		usleep(10000);
	assert_true(count_rows(f, "SELECT max(attempts) FROM dsn_pending") >= 2);   /* retried */
	assert_int_equal(count_rows(f, count), 1);
	/* the process ends with the DSN undelivered; the next one delivers it */
	queue_close(&f->q);
	assert_int_equal(unlink(blocker), 0);
	open_queue(f, true);
	assert_int_equal(wait_inbox(f, "me", 1), 1);
	for (int i = 0; i < 300 && count_rows(f, count) > 0; i++)
		usleep(10000);
	assert_int_equal(count_rows(f, count), 0);
}

/* When the results cannot be recorded, the transaction is rolled back,
 * no DSN goes out, and the recipients are queued again (not left
 * "delivering"). */
static void test_unrecorded_results_requeued(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct error e;
	pthread_mutex_lock(&f->q->mu);
	assert_int_equal(queue_db_exec(f->q, "CREATE TEMP TRIGGER refuse BEFORE UPDATE OF state ON"
	                               " rcpt WHEN NEW.state = 'delivered' BEGIN"
	                               " SELECT RAISE(ABORT, 'refused by the test'); END", &e), 0);
	pthread_mutex_unlock(&f->q->mu);
	assert_int_equal(queue_start(f->q, &e), 0);
	struct queue_rcpt_in r[] = {{.address = "perm@a.example"}, {.address = "ok@a.example"}};
	add(f, "me@here.example", "me", r, 2, false);
	const struct queue_rcpt_info *ri = wait_attempted(f, 0);
	assert_string_equal(ri->state, QUEUE_QUEUED);
	assert_int_equal(ri->attempts, 1);
	ri = wait_attempted(f, 1);
	assert_string_equal(ri->state, QUEUE_QUEUED);
	assert_true(ri->next_attempt > (int64_t)time(NULL));
	assert_int_equal(count_rows(f, "SELECT count(*) FROM dsn_pending"), 0);
	usleep(200000);
	assert_int_equal(inbox_messages(f, "me"), 0);
}

/* A local failure after some recipients got final results keeps those:
 * only the others are tried again. */
static void test_local_failure_keeps_final_results(void **state)
{
	struct fx *f = *state;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "ok@a.example"}, {.address = "perm@a.example"},
	                            {.address = "local@a.example"}};
	add(f, "me@here.example", "me", r, 3, false);
	const struct queue_rcpt_info *ri = wait_attempted(f, 2);
	assert_string_equal(ri->state, QUEUE_QUEUED);
	assert_string_equal(ri->text, "injected local failure");
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].rcpts[0].state, QUEUE_DELIVERED);
	assert_string_equal(l[0].rcpts[1].state, QUEUE_FAILED);
	assert_int_equal(l[0].rcpts[1].code, 550);
	assert_int_equal(wait_inbox(f, "me", 1), 1);   /* the failure DSN */
}

/* Opening finishes every message with nothing left to do, not a batch. */
static void test_recovery_finishes_all(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct queue_rcpt_in r[] = {{.address = "x@a.example"}};
	struct error e;
	pthread_mutex_lock(&f->q->mu);
	assert_int_equal(queue_db_exec(f->q, "PRAGMA synchronous = OFF", &e), 0);
	pthread_mutex_unlock(&f->q->mu);
	for (int i = 0; i < 600; i++)
		add(f, "me@here.example", "me", r, 1, false);
	pthread_mutex_lock(&f->q->mu);
	assert_int_equal(queue_db_exec(f->q, "UPDATE rcpt SET state = 'delivered'", &e), 0);
	pthread_mutex_unlock(&f->q->mu);
	queue_close(&f->q);
	open_queue(f, false);
	size_t n;
	list(f, &n);
	assert_int_equal(n, 0);
	assert_int_equal(msg_files(f), 0);
}

/* A second opener (another process, e.g. `tern queue` beside a server)
 * is refused instead of recovering a queue in use. */
static void test_second_open_refused(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct queue_rcpt_in r[] = {{.address = "x@a.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	pthread_mutex_lock(&f->q->mu);
	struct error e;
	assert_int_equal(queue_db_exec(f->q, "UPDATE rcpt SET state = 'delivering'", &e), 0);
	pthread_mutex_unlock(&f->q->mu);
	struct queue *other = NULL;
	assert_int_equal(queue_open(&f->s, &other, &e), -1);
	assert_int_equal(e.kind, ERR_TEMP);
	assert_non_null(strstr(e.msg, "in use by another tern process"));
	assert_null(other);
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	assert_string_equal(l[0].rcpts[0].state, QUEUE_DELIVERING);   /* not recovered */
	queue_close(&f->q);
	open_queue(f, false);   /* free again once closed */
	l = list(f, &n);
	assert_string_equal(l[0].rcpts[0].state, QUEUE_QUEUED);
}

/* Texts from senders and remote servers are shown without control bytes. */
static void test_list_filters_control_bytes(void **state)
{
	struct fx *f = *state;
	open_queue(f, false);
	struct queue_rcpt_in r[] = {{.address = "x@a.example"}};
	struct queue_msg_in m = {.mail_from = "me@here.example", .account = "me",
		.subject = "\x1b]0;owned\x07hi\r", .rcpts = r, .nrcpts = 1, .data = msg_text,
		.len = sizeof(msg_text) - 1};
	struct error e;
	assert_int_equal(queue_add(f->q, &m, NULL, &e), 0);
	pthread_mutex_lock(&f->q->mu);
	assert_int_equal(queue_db_exec(f->q, "UPDATE rcpt SET code = 451, text = 'busy' || char(27)"
	                               " || '[2J' || char(13) || 'x', remote_mta = 'mx' || char(8)",
	                               &e), 0);
	pthread_mutex_unlock(&f->q->mu);
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	queue_list_format(l, n, &out);
	buf_append_char(&out, '\0');
	for (size_t i = 0; i + 1 < out.len; i++)
		if (out.data[i] != '\n' && ((unsigned char)out.data[i] < 32 || out.data[i] == 127))
			fail_msg("control byte %d at %zu in %s", out.data[i], i, out.data);
	assert_non_null(strstr(out.data, "subject ?]0;owned?hi?\n"));
	assert_non_null(strstr(out.data, "last 451  busy?[2J?x from mx?\n"));
	buf_free(&out);
}

static void test_hold_release_drop_kick(void **state)
{
	struct fx *f = *state;
	open_queue(f, true);
	struct queue_rcpt_in r[] = {{.address = "x@a.example"}, {.address = "y@a.example"}};
	int64_t id = add(f, "me@here.example", "me", r, 2, true);
	struct error e;
	usleep(100000);
	assert_int_equal(script.calls, 0);
	assert_int_equal(queue_hold(f->q, id, &e), 0);   /* held already */
	assert_int_equal(queue_release(f->q, 12345, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	assert_int_equal(queue_release(f->q, id, &e), 2);
	wait_messages(f, 0);
	assert_int_equal(script.calls, 1);

	struct queue_rcpt_in t[] = {{.address = "temp@a.example"}};
	id = add(f, "me@here.example", "me", t, 1, false);
	wait_attempted(f, 0);
	assert_int_equal(queue_kick(f->q, id, &e), 1);
	for (int i = 0; i < 500 && wait_attempted(f, 0)->attempts < 2; i++)
		usleep(10000);
	assert_int_equal(wait_attempted(f, 0)->attempts, 2);
	assert_int_equal(queue_hold(f->q, 0, &e), 1);
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	assert_string_equal(l[0].rcpts[0].state, QUEUE_HELD);
	assert_int_equal(queue_drop(f->q, id, &e), 1);
	wait_messages(f, 0);
	assert_int_equal(msg_files(f), 0);
	assert_int_equal(inbox_messages(f, "me"), 0);   /* drop sends no DSN */
}

static void test_per_domain_limit(void **state)
{
	struct fx *f = *state;
	script.sleep_ms = 150;
	open_queue(f, false);
	for (int i = 0; i < 6; i++) {
		struct queue_rcpt_in r[] = {{.address = "x@a.example"}};
		add(f, "me@here.example", "me", r, 1, false);
	}
	struct queue_rcpt_in r[] = {{.address = "x@b.example"}};
	add(f, "me@here.example", "me", r, 1, false);
	add(f, "me@here.example", "me", r, 1, false);
	struct error e;
	assert_int_equal(queue_start(f->q, &e), 0);
	wait_messages(f, 0);
	assert_int_equal(script.calls, 8);
	assert_int_equal(script.max_running[0], 2);
	assert_true(script.max_running[1] >= 1 && script.max_running[1] <= 2);
	assert_true(script.max_total <= 4);
	assert_true(script.max_total >= 3);   /* b.example ran beside a.example */
}

static void test_takes_outgoing_reports(void **state)
{
	struct fx *f = *state;
	struct globaldb *g;
	struct error e;
	assert_int_equal(globaldb_open(f->dir, &g, &e), 0);
	const char *rcpts[] = {"dmarc@c.example"};
	struct globaldb_outgoing o = {.kind = "dmarc", .mail_from = "postmaster@here.example",
		.rcpts = rcpts, .nrcpts = 1, .subject = "Report Domain: here.example",
		.data = msg_text, .len = sizeof(msg_text) - 1};
	int64_t oid;
	const char *bad_rcpts[] = {"no-domain"};
	struct globaldb_outgoing bad = o;
	bad.rcpts = bad_rcpts;
	int64_t bad_id;
	assert_int_equal(globaldb_outgoing_add(g, &bad, &bad_id, &e), 0);
	assert_int_equal(globaldb_outgoing_add(g, &o, &oid, &e), 0);
	open_queue(f, false);
	/* the bad one is marked refused and does not keep the good one back */
	assert_int_equal(queue_take_outgoing(f->q, &e), 1);
	assert_int_equal(queue_take_outgoing(f->q, &e), 0);   /* marked: not taken twice */
	size_t n;
	struct queue_msg_info *l = list(f, &n);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].kind, "dmarc");
	assert_string_equal(l[0].rcpts[0].address, "dmarc@c.example");
	struct globaldb_outgoing *ol;
	size_t on;
	assert_int_equal(globaldb_outgoing_list(g, GLOBALDB_OUTGOING_QUEUED, false, f->a, &ol, &on,
	                                        &e), 0);
	assert_int_equal(on, 1);
	assert_int_equal(ol[0].id, oid);
	assert_int_equal(globaldb_outgoing_list(g, GLOBALDB_OUTGOING_REFUSED, false, f->a, &ol, &on,
	                                        &e), 0);
	assert_int_equal(on, 1);
	assert_int_equal(ol[0].id, bad_id);
	globaldb_close(&g);
	assert_int_equal(queue_start(f->q, &e), 0);
	wait_messages(f, 0);
	assert_int_equal(script.calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_schedule),
		cmocka_unit_test_setup_teardown(test_delivered_leaves_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_is_durable_and_signed_file_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permfail_sends_dsn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_never_and_null_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tempfail_retried_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_age_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_dsn_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsn_kept_until_delivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrecorded_results_requeued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_failure_keeps_final_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_finishes_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_open_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters_control_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_release_drop_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_domain_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takes_outgoing_reports, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
