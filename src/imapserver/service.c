/*
 * service.c: see service.h. One entry per (listener, service, IP); the
 * services of one listener share its TLS certificates and its connection
 * limit (MaxConnections, MaxConnectionsPerIP), as the SMTP services do.
 */
#include "imapserver/service.h"

#include "config/config.h"
#include "core/clock.h"
#include "core/conn.h"
#include "core/connlimit.h"
#include "core/error.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The line a refused connection gets (RFC 9051 §7.1.5). */
#define BUSY_REPLY "* BYE too many connections, try again later\r\n"

struct entry {
	struct imapsrv_settings settings;
	int fd;
	struct listener *listener;
	struct connlimit *limit;      /* borrowed from the listener's group */
	const char *name;             /* "imap", "imaps" */
};

struct imap_services {
	struct tls_server **tls;      /* per config listener, may be NULL */
	struct connlimit **connlimits;
	size_t nlisteners;
	struct entry *entries;
	size_t n, cap;
	bool localserve;
};

/* A session that went idle in IDLE parks (listener_park) until its socket
 * or its change notifier is readable; then it runs on in a new thread. */
struct running {
	struct conn *c;
	struct imapsrv_session *s;
};

static enum imapsrv_wake wake_of(enum listener_wake w)
{
	switch (w) {
	case LISTENER_WAKE_READY:
	case LISTENER_WAKE_UNPARKED:
		return IMAPSRV_WAKE_READY;
	case LISTENER_WAKE_TIMEOUT:
		return IMAPSRV_WAKE_TIMEOUT;
	case LISTENER_WAKE_STOP:
		break;
	}
	return IMAPSRV_WAKE_STOP;
}

static void resume(void *ctx, const struct listener_conn *lc, enum listener_wake why);

/* Runs the session until it ends or parks; may_park false (parking just
 * failed) keeps it in this thread. */
static void run(struct running *r, const struct listener_conn *lc, enum imapsrv_wake why,
                bool may_park)
{
	struct imapsrv_park park;
	if (imapsrv_session_continue(r->s, why, may_park ? &park : NULL) == 1) {
		listener_park(lc, park.fds, park.nfds, park.timeout_ms, resume, r);
		return;
	}
	imapsrv_session_free(&r->s);
	conn_free(&r->c);
	free(r);
}

static void resume(void *ctx, const struct listener_conn *lc, enum listener_wake why)
{
	run(ctx, lc, wake_of(why), why != LISTENER_WAKE_UNPARKED);
}

static void handle(void *ctx, const struct listener_conn *lc)
{
	struct entry *en = ctx;
	struct error e;
	struct conn *c = conn_new(lc->fd, IMAP_LINE_MAX_DEFAULT, &e);
	if (c == NULL)
		return;
	struct running *r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->c = c;
	r->s = imapsrv_session_new(c, (const struct sockaddr *)&lc->peer, lc->cancel_fd,
	                           &en->settings);
	run(r, lc, IMAPSRV_WAKE_START, true);
}

static struct entry *add_entry(struct imap_services *s)
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

static void settings_init(struct imapsrv_settings *set, const struct config *cfg,
                          const struct config_listener *l, struct tls_server *tls, bool implicit,
                          const struct imap_services_opts *o)
{
	*set = (struct imapsrv_settings){
		.hostname = l->hostname,
		.version = o->version,
		.data_dir = cfg->st.data_dir,
		.tls = tls,
		.implicit_tls = implicit,
		/* localserve listens on loopback only: plaintext logins there, as
		 * mox localserve allows, so that test tools need no TLS. */
		.plaintext_login = o->localserve,
		.auth_lookup = o->auth_lookup,
		.login_account = o->login_account,
		.login_ctx = o->login_ctx,
		.guard = o->guard,
		.sasl_secret = o->sasl_secret,
		.sasl_secret_len = o->sasl_secret_len,
		.cfg = cfg,
	};
	imap_limits_default(&set->limits);
}

/* Binds one service of listener index li on all its IPs. */
static int bind_service(struct imap_services *s, const struct config *cfg, size_t li,
                        const struct config_service *svc, bool implicit,
                        const struct imap_services_opts *o, struct error *e)
{
	const struct config_listener *l = &cfg->st.listeners[li];
	const char *name = implicit ? "imaps" : "imap";
	if (!svc->enabled)
		return 0;
	if (s->tls[li] == NULL)  /* config refuses this too */
		return error_set(e, ERR_INVALID, "listener %s: %s needs TLS.KeyCerts", l->name, name);
	for (size_t i = 0; i < l->nips; i++) {
		struct entry *en = add_entry(s);
		en->name = name;
		en->limit = s->connlimits[li];
		settings_init(&en->settings, cfg, l, s->tls[li], implicit, o);
		en->fd = listener_bind(l->ips[i], svc->port, e);
		if (en->fd < 0 && s->localserve && listener_no_ipv6(l->ips[i], errno)) {
			s->n--;
			log_msgf(LOG_WARN, name, "no IPv6 here: not listening on [%s]:%d", l->ips[i],
			         svc->port);
			continue;
		}
		if (en->fd < 0)
			return error_prefix(e, "listener %s, %s", l->name, name);
	}
	return 0;
}

static int bind_listener(struct imap_services *s, const struct config *cfg, size_t li,
                         const struct imap_services_opts *o, struct error *e)
{
	const struct config_listener *l = &cfg->st.listeners[li];
	if (!l->imap.enabled && !l->imaps.enabled)
		return 0;
	if (config_listener_tls(l, &s->tls[li], e) != 0)
		return -1;
	s->connlimits[li] = connlimit_new((unsigned)l->max_connections,
	                                  (unsigned)l->max_connections_per_ip, 32, 64);
	if (bind_service(s, cfg, li, &l->imap, false, o, e) != 0 ||
	    bind_service(s, cfg, li, &l->imaps, true, o, e) != 0)
		return -1;
	return 0;
}

int imap_services_bind(const struct config *cfg, const struct imap_services_opts *opts,
                       struct imap_services **out, struct error *e)
{
	struct imap_services *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->localserve = opts->localserve;
	s->nlisteners = cfg->st.nlisteners;
	s->tls = calloc(s->nlisteners + 1, sizeof(*s->tls));
	s->connlimits = calloc(s->nlisteners + 1, sizeof(*s->connlimits));
	if (s->tls == NULL || s->connlimits == NULL)
		abort();
	for (size_t i = 0; i < s->nlisteners; i++) {
		if (bind_listener(s, cfg, i, opts, e) != 0) {
			imap_services_stop(&s, 0);
			return -1;
		}
	}
	*out = s;
	return 0;
}

int imap_services_start(struct imap_services *s, struct error *e)
{
	for (size_t i = 0; s != NULL && i < s->n; i++) {
		struct entry *en = &s->entries[i];
		/* IMAPS clients expect a TLS handshake: a plain-text line would be
		 * noise to them, so refused connections are just closed there. */
		const char *busy = en->settings.implicit_tls ? NULL : BUSY_REPLY;
		struct listener_opts o = {.name = en->name, .limit = en->limit, .busy_reply = busy,
		                          .handler = handle, .ctx = en};
		en->listener = listener_start(en->fd, &o, e);
		en->fd = -1;
		if (en->listener == NULL)
			return -1;
	}
	return 0;
}

unsigned imap_services_count(const struct imap_services *s)
{
	return s != NULL ? (unsigned)s->n : 0;
}

void imap_services_stop(struct imap_services **sp, unsigned grace_ms)
{
	struct imap_services *s = *sp;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->entries[i].listener != NULL)
			listener_shutdown(s->entries[i].listener);
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
	free(s->tls);
	free(s->connlimits);
	free(s->entries);
	free(s);
	*sp = NULL;
}
