/*
 * service.c: see service.h. One entry per (listener, service, IP); the
 * services of one listener share its TLS certificates and its connection
 * limit (MaxConnections, MaxConnectionsPerIP).
 */
#include "smtpserver/service.h"
#include "smtpserver/backend.h"

#include "config/config.h"
#include "core/clock.h"
#include "core/conn.h"
#include "core/connlimit.h"
#include "core/error.h"
#include "core/file.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/loginguard.h"
#include "core/ratelimit.h"
#include "core/tls.h"
#include "dkim/dkim.h"
#include "dmarc/dmarc.h"
#include "reports/aggregate.h"
#include "reports/tlsrpt_out.h"
#include "store/globaldb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Protocol errors per remote address in ERRORS_WINDOW_S (failed logins:
 * core/loginguard.h). */
#define ERRORS_PER_IP 200
#define ERRORS_WINDOW_S 600
#define TRACKED_ADDRESSES 65536

/* The line a refused connection gets. */
#define BUSY_REPLY "421 4.7.0 Too many connections, try again later\r\n"

struct entry {
	struct smtp_services *owner;
	struct smtpserver_settings settings;
	int fd;
	struct listener *listener;
	struct connlimit *limit;      /* borrowed from the listener's group */
	const char *name;             /* "smtp", "submission", "submissions" */
};

/* Outgoing DMARC aggregate reports are composed this often (RFC 7489 §7.2:
 * periods are whole hours at least). */
#define REPORTS_EVERY_S 3600

struct smtp_services {
	struct smtp_backend backend;
	struct smtpserver_limits limits;
	struct tls_server **tls;      /* per config listener, may be NULL */
	struct connlimit **connlimits;
	size_t nlisteners;
	struct entry *entries;
	size_t n, cap;
	char spool_dir[PATH_MAX];
	unsigned char secret[32];
	bool pedantic;
	struct loginguard *own_guard; /* when no shared one was given */
	/* the thread composing DMARC aggregate reports */
	pthread_t reporter;
	bool reporter_running, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char report_from[300];
	const char *hostname;
	struct dns_resolver *resolver;
};

static void handle(void *ctx, const struct listener_conn *lc)
{
	struct entry *en = ctx;
	struct error e;
	/* RFC 4954 §4: AUTH lines may be up to 12288 octets */
	struct conn *c = conn_new(lc->fd, 12288, &e);
	if (c == NULL)
		return;
	smtpserver_session(c, (const struct sockaddr *)&lc->peer, lc->cancel_fd, &en->settings);
	conn_free(&c);
}

static struct entry *add_entry(struct smtp_services *s)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 8 : s->cap * 2;
		s->entries = realloc(s->entries, s->cap * sizeof(*s->entries));
		if (s->entries == NULL)
			abort();
	}
	struct entry *en = &s->entries[s->n++];
	memset(en, 0, sizeof(*en));
	en->fd = -1;
	return en;
}

/* Binds one service of listener index li on all its IPs. */
static int bind_service(struct smtp_services *s, const struct config *cfg, size_t li,
                        const struct config_service *svc, enum smtpserver_mode mode,
                        const char *name, struct error *e)
{
	const struct config_listener *l = &cfg->st.listeners[li];
	if (!svc->enabled)
		return 0;
	if (mode != SMTPSERVER_RECEIVE && s->tls[li] == NULL)
		return error_set(e, ERR_INVALID, "listener %s: %s needs TLS.KeyCerts (AUTH is only "
		                 "offered over TLS)", l->name, name);
	for (size_t i = 0; i < l->nips; i++) {
		struct entry *en = add_entry(s);
		en->name = name;
		en->limit = s->connlimits[li];
		en->settings = (struct smtpserver_settings){
			.mode = mode,
			.hostname = l->hostname,
			.tls = s->tls[li],
			.max_message_size = (uint64_t)l->smtp_max_message_size,
			.max_recipients = (unsigned)l->smtp_max_recipients,
			.pedantic = s->pedantic,
			.spool_dir = s->spool_dir,
			.backend = &s->backend.ops,
			.limits = &s->limits,
			.sasl_secret = s->secret,
			.sasl_secret_len = sizeof(s->secret),
		};
		en->fd = listener_bind(l->ips[i], svc->port, e);
		if (en->fd < 0 && s->backend.localserve && listener_no_ipv6(l->ips[i], errno)) {
			s->n--;  /* localserve on a host without IPv6 loopback: IPv4 only */
			log_msgf(LOG_WARN, name, "no IPv6 here: not listening on [%s]:%d", l->ips[i], svc->port);
			continue;
		}
		if (en->fd < 0)
			return error_prefix(e, "listener %s, %s", l->name, name);
	}
	return 0;
}

static int bind_listener(struct smtp_services *s, const struct config *cfg, size_t li,
                         struct error *e)
{
	const struct config_listener *l = &cfg->st.listeners[li];
	if (!l->smtp.enabled && !l->submission.enabled && !l->submissions.enabled)
		return 0;
	if (config_listener_tls(l, &s->tls[li], e) != 0)
		return -1;
	s->connlimits[li] = connlimit_new((unsigned)l->max_connections,
	                                  (unsigned)l->max_connections_per_ip, 32, 64);
	if (bind_service(s, cfg, li, &l->smtp, SMTPSERVER_RECEIVE, "smtp", e) != 0 ||
	    bind_service(s, cfg, li, &l->submission, SMTPSERVER_SUBMISSION, "submission", e) != 0 ||
	    bind_service(s, cfg, li, &l->submissions, SMTPSERVER_SUBMISSIONS, "submissions", e) != 0)
		return -1;
	return 0;
}

int smtp_services_bind(const struct config *cfg, const struct smtp_services_opts *opts,
                       struct smtp_services **out, struct error *e)
{
	struct smtp_services *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	smtp_backend_init(&s->backend, cfg->st.data_dir, opts->localserve);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->hostname = cfg->st.hostname;
	s->resolver = opts->localserve ? NULL : opts->resolver;
	/* RFC 7489 §7.2: reports come from an address that can take replies */
	snprintf(s->report_from, sizeof(s->report_from), "postmaster@%s", cfg->st.hostname);
	s->backend.resolver = opts->localserve ? NULL : opts->resolver;
	s->pedantic = opts->pedantic;
	snprintf(s->spool_dir, sizeof(s->spool_dir), "%s/tmp", cfg->st.data_dir);
	s->nlisteners = cfg->st.nlisteners;
	s->tls = calloc(s->nlisteners + 1, sizeof(*s->tls));
	s->connlimits = calloc(s->nlisteners + 1, sizeof(*s->connlimits));
	if (s->tls == NULL || s->connlimits == NULL)
		abort();
	if (opts->guard == NULL)
		s->own_guard = loginguard_new();
	s->limits.logins = opts->guard != NULL ? opts->guard : s->own_guard;
	s->limits.errors_ip = ratelimit_new(ERRORS_WINDOW_S, ERRORS_PER_IP, TRACKED_ADDRESSES);
	for (size_t i = 0; i < s->nlisteners; i++) {
		if (bind_listener(s, cfg, i, e) != 0) {
			smtp_services_stop(&s, 0);
			return -1;
		}
	}
	*out = s;
	return 0;
}

/* The SCRAM fake-salt secret (sasl.h) must survive restarts: it lives in
 * DATADIR/sasl.secret, made on first use. */
static int load_secret(struct smtp_services *s, const char *data_dir, struct error *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/sasl.secret", data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, s->secret, sizeof(s->secret));
		close(fd);
		if (n == (ssize_t)sizeof(s->secret))
			return 0;
	}
	if (RAND_bytes(s->secret, sizeof(s->secret)) != 1)
		abort();
	return file_write_atomic(path, s->secret, sizeof(s->secret), 0600, e);
}

/* RFC 7489 §7.2.1.1: reports should be DKIM-signed; with the DKIM.Sign
 * selectors of the From domain (or the nearest configured parent) when it
 * has any, else they go unsigned. */
static int sign_report(void *arg, const char *from_domain, const char *msg, size_t len,
                       struct buf *hdr, struct error *err)
{
	struct config *cfg = config_acquire();
	int r = dkim_sign_for(cfg, from_domain, msg, len, hdr, err);
	config_release(&cfg);
	return r;
}

static void compose_reports(struct smtp_services *s)
{
	struct reports_sender sender = {.org_name = s->hostname, .from = s->report_from,
	                                .hostname = s->hostname, .sign = sign_report};
	struct error e;
	if (reports_dmarc_compose_due(s->backend.globaldb, s->resolver, &sender, time(NULL), &e) != 0) {
		struct log_line *l = log_begin(LOG_ERROR, "smtpserver", "composing DMARC reports failed");
		log_error_value(l, &e);
		log_end(l);
	}
	/* RFC 8460 §4.1: TLS reports of the UTC days that have ended */
	struct reports_tlsrpt_https https = {.resolver = s->resolver};
	struct reports_tlsrpt_io io = {reports_tlsrpt_lookup_dns, reports_tlsrpt_post_https,
	                               s->resolver, &https};
	if (reports_tlsrpt_compose_due(s->backend.globaldb, &io, &sender, time(NULL), 0, NULL,
	                               &e) != 0) {
		struct log_line *l = log_begin(LOG_ERROR, "smtpserver", "composing TLS reports failed");
		log_error_value(l, &e);
		log_end(l);
	}
}

/* Composes due DMARC aggregate reports now and every REPORTS_EVERY_S until
 * the services stop. */
static void *reporter_main(void *arg)
{
	struct smtp_services *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		pthread_mutex_unlock(&s->mu);
		compose_reports(s);
		pthread_mutex_lock(&s->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += REPORTS_EVERY_S;
		while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int start_reporter(struct smtp_services *s, struct error *e)
{
	if (s->backend.globaldb == NULL || s->resolver == NULL)
		return 0;
	int r = pthread_create(&s->reporter, NULL, reporter_main, s);
	if (r != 0)
		return error_errno(e, r, "cannot start the DMARC report thread");
	s->reporter_running = true;
	return 0;
}

static void stop_reporter(struct smtp_services *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->reporter_running)
		pthread_join(s->reporter, NULL);
	s->reporter_running = false;
}

void smtp_services_login(struct smtp_services *s, struct smtp_services_login *out)
{
	*out = (struct smtp_services_login){
		.lookup = s->backend.ops.auth_lookup,
		.account = s->backend.ops.login_account,
		.ctx = s->backend.ops.ctx,
		.secret = s->secret,
		.secret_len = sizeof(s->secret),
	};
}

int smtp_services_start(struct smtp_services *s, struct error *e)
{
	if (load_secret(s, s->backend.data_dir, e) != 0)  /* IMAP uses it too */
		return -1;
	if (s->n == 0)
		return 0;
	if (file_mkdir_all(s->spool_dir, 0700, e) != 0)
		return -1;
	if (!s->backend.localserve && globaldb_open(s->backend.data_dir, &s->backend.globaldb, e) != 0)
		return error_prefix(e, "tern.db");
	if (start_reporter(s, e) != 0)
		return -1;
	if (s->resolver != NULL && dmarc_psl_default(e) == NULL)  /* load it now, not at the first message */
		log_msgf(LOG_ERROR, "smtpserver", "DMARC cannot find organizational domains: %s", e->msg);
	for (size_t i = 0; i < s->n; i++) {
		struct entry *en = &s->entries[i];
		struct listener_opts o = {.name = en->name, .limit = en->limit, .busy_reply = BUSY_REPLY,
		                          .handler = handle, .ctx = en};
		en->listener = listener_start(en->fd, &o, e);
		en->fd = -1;
		if (en->listener == NULL)
			return -1;
	}
	return 0;
}

void smtp_services_set_queue(struct smtp_services *s, struct queue *q)
{
	if (s != NULL)
		s->backend.queue = q;
}

unsigned smtp_services_count(const struct smtp_services *s)
{
	return s != NULL ? (unsigned)s->n : 0;
}

void smtp_services_stop(struct smtp_services **sp, unsigned grace_ms)
{
	struct smtp_services *s = *sp;
	if (s == NULL)
		return;
	stop_reporter(s);
	for (size_t i = 0; i < s->n; i++)
		if (s->entries[i].listener != NULL)
			listener_shutdown(s->entries[i].listener);
	/* one grace period for all: sessions of every listener were told at once */
	int64_t deadline = clock_mono_ms() + grace_ms;
	for (size_t i = 0; i < s->n; i++) {
		listener_free_until(&s->entries[i].listener, deadline);
		if (s->entries[i].fd >= 0)
			close(s->entries[i].fd);
	}
	for (size_t i = 0; i < s->nlisteners; i++) {
		tls_server_free(&s->tls[i]);
		connlimit_free(&s->connlimits[i]);
	}
	globaldb_close(&s->backend.globaldb);
	loginguard_free(&s->own_guard);
	ratelimit_free(&s->limits.errors_ip);
	free(s->tls);
	free(s->connlimits);
	free(s->entries);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	*sp = NULL;
}
