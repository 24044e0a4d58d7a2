/*
 * loginguard.c: see loginguard.h.
 */
#include "core/loginguard.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/ratelimit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Attempts running from one address. */
struct loginguard_running {
	char ip_key[RATELIMIT_KEY_MAX];
	unsigned n;
};

bool loginguard_key(loginguard_account_fn *account_fn, void *ctx, const char *login, char *key,
                    size_t size)
{
	if (account_fn != NULL && account_fn(ctx, login, key, size))
		return true;
	snprintf(key, size, "?%s", login);
	for (char *p = key; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return false;
}

struct loginguard *loginguard_new(void)
{
	struct loginguard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		abort();
	g->fail_ip = ratelimit_new(LOGINGUARD_WINDOW_S, LOGINGUARD_FAILS_PER_IP, LOGINGUARD_TRACKED);
	g->fail_account = ratelimit_new(LOGINGUARD_WINDOW_S, LOGINGUARD_FAILS_PER_ACCOUNT,
	                                LOGINGUARD_TRACKED);
	g->fail_delay_ms = LOGINGUARD_FAIL_DELAY_MS;
	g->account_delay_ms = LOGINGUARD_ACCOUNT_DELAY_MS;
	g->attempt_wait_ms = LOGINGUARD_ATTEMPT_WAIT_MS;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->ended, &ca);
	pthread_condattr_destroy(&ca);
	return g;
}

void loginguard_free(struct loginguard **gp)
{
	struct loginguard *g = *gp;
	if (g == NULL)
		return;
	ratelimit_free(&g->fail_ip);
	ratelimit_free(&g->fail_account);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->ended);
	free(g->running);
	free(g);
	*gp = NULL;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

bool loginguard_address_ok(struct loginguard *g, const char *ip_key)
{
	return ratelimit_ok(g->fail_ip, ip_key);
}

bool loginguard_account_wait(struct loginguard *g, const char *account_key)
{
	if (account_key[0] == '\0' || ratelimit_ok(g->fail_account, account_key))
		return false;
	pause_ms(g->account_delay_ms);
	return true;
}

void loginguard_succeeded(struct loginguard *g, const char *account_key)
{
	if (account_key[0] != '\0')
		ratelimit_reset(g->fail_account, account_key);
}

/* The running attempts of ip_key (created with n 0 when add); with mu held. */
static struct loginguard_running *running_of(struct loginguard *g, const char *ip_key, bool add)
{
	for (size_t i = 0; i < g->n_running; i++)
		if (strcmp(g->running[i].ip_key, ip_key) == 0)
			return &g->running[i];
	if (!add)
		return NULL;
	if (g->n_running == g->cap_running) {
		g->cap_running = g->cap_running == 0 ? 16 : g->cap_running * 2;
		g->running = realloc(g->running, g->cap_running * sizeof(*g->running));
		if (g->running == NULL)
			abort();
	}
	struct loginguard_running *r = &g->running[g->n_running++];
	snprintf(r->ip_key, sizeof(r->ip_key), "%s", ip_key);
	r->n = 0;
	return r;
}

bool loginguard_attempt(struct loginguard *g, const char *ip_key)
{
	struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, g->attempt_wait_ms);
	bool ok = false;
	pthread_mutex_lock(&g->mu);
	for (;;) {
		if (ratelimit_take(g->fail_ip, ip_key)) {
			running_of(g, ip_key, true)->n++;
			ok = true;
			break;
		}
		struct loginguard_running *r = running_of(g, ip_key, false);
		if (r == NULL || r->n == 0 || g->stopping)  /* the budget is spent on failures */
			break;
		if (pthread_cond_timedwait(&g->ended, &g->mu, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&g->mu);
	return ok;
}

/* One attempt of ip_key ended; refund gives its count back. */
static void attempt_end(struct loginguard *g, const char *ip_key, bool refund)
{
	pthread_mutex_lock(&g->mu);
	if (refund)
		ratelimit_refund(g->fail_ip, ip_key, 1);
	struct loginguard_running *r = running_of(g, ip_key, false);
	if (r != NULL && r->n > 0 && --r->n == 0)
		*r = g->running[--g->n_running];
	pthread_cond_broadcast(&g->ended);
	pthread_mutex_unlock(&g->mu);
}

void loginguard_attempt_failed(struct loginguard *g, const char *ip_key,
                               const char *account_key)
{
	attempt_end(g, ip_key, false);
	if (account_key[0] != '\0')
		ratelimit_add(g->fail_account, account_key, 1);
	pause_ms(g->fail_delay_ms);
}

void loginguard_attempt_succeeded(struct loginguard *g, const char *ip_key,
                                  const char *account_key)
{
	attempt_end(g, ip_key, true);
	loginguard_succeeded(g, account_key);
}

void loginguard_attempt_void(struct loginguard *g, const char *ip_key)
{
	attempt_end(g, ip_key, true);
}

void loginguard_attempt_abandoned(struct loginguard *g, const char *ip_key)
{
	attempt_end(g, ip_key, false);
}

void loginguard_stop(struct loginguard *g)
{
	pthread_mutex_lock(&g->mu);
	g->stopping = true;
	pthread_cond_broadcast(&g->ended);
	pthread_mutex_unlock(&g->mu);
}

void loginguard_names_set(struct loginguard *g, loginguard_account_fn *account_fn, void *ctx,
                          const char *username, struct loginguard_names *n)
{
	snprintf(n->user, sizeof(n->user), "%s", username);
	n->known = loginguard_key(account_fn, ctx, username, n->key, sizeof(n->key));
	if (g != NULL)
		n->slowed = loginguard_account_wait(g, n->key);
}

void loginguard_log(const char *pkg, const char *remote, const char *mechanism,
                    const struct loginguard_names *n, const char *reason, bool unknown_user)
{
	bool ok = reason == NULL;
	struct log_line *l = log_begin(ok ? LOG_INFO : LOG_WARN, pkg,
	                               ok ? "authenticated" : "authentication failed");
	log_str(l, "remote", remote);
	log_str(l, "mechanism", mechanism);
	log_str(l, "user", n->user);
	log_bool(l, "account_slowed", n->slowed);
	if (!ok) {
		log_str(l, "reason", reason);
		log_bool(l, "unknown_user", unknown_user);
	}
	log_end(l);
}
