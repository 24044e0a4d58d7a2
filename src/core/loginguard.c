/*
 * loginguard.c: see loginguard.h.
 */
#include "core/loginguard.h"

#include "core/ratelimit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
	return g;
}

void loginguard_free(struct loginguard **gp)
{
	struct loginguard *g = *gp;
	if (g == NULL)
		return;
	ratelimit_free(&g->fail_ip);
	ratelimit_free(&g->fail_account);
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

void loginguard_failed(struct loginguard *g, const char *ip_key, const char *account_key)
{
	ratelimit_add(g->fail_ip, ip_key, 1);
	if (account_key[0] != '\0')
		ratelimit_add(g->fail_account, account_key, 1);
	pause_ms(g->fail_delay_ms);
}

void loginguard_succeeded(struct loginguard *g, const char *account_key)
{
	if (account_key[0] != '\0')
		ratelimit_reset(g->fail_account, account_key);
}

bool loginguard_attempt(struct loginguard *g, const char *ip_key)
{
	return ratelimit_take(g->fail_ip, ip_key);
}

void loginguard_attempt_failed(struct loginguard *g, const char *account_key)
{
	if (account_key[0] != '\0')
		ratelimit_add(g->fail_account, account_key, 1);
	pause_ms(g->fail_delay_ms);
}

void loginguard_attempt_succeeded(struct loginguard *g, const char *ip_key,
                                  const char *account_key)
{
	loginguard_attempt_void(g, ip_key);
	loginguard_succeeded(g, account_key);
}

void loginguard_attempt_void(struct loginguard *g, const char *ip_key)
{
	ratelimit_refund(g->fail_ip, ip_key, 1);
}
