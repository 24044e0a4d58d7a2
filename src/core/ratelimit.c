/*
 * ratelimit.c: see ratelimit.h. An open-addressing table with a short probe
 * sequence; the slot chosen for a new key is a free one, or the least
 * recently used one in the sequence. Keys come from the network, so slots
 * are chosen by a keyed hash (SipHash, libsodium's crypto_shorthash with a
 * random key per table): nobody can pick keys that push a victim's counter
 * out.
 */
#include "core/ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBES 16

struct slot {
	char key[RATELIMIT_KEY_MAX];
	int64_t window;         /* index of the current window; 0: free */
	int64_t last;           /* time of the last event */
	unsigned cur, prev;
};

struct ratelimit {
	pthread_mutex_t mu;
	unsigned window_s, max;
	size_t mask;
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	struct slot *slots;
	int64_t (*now)(void);
};

static int64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec + 1;  /* never 0 */
}

struct ratelimit *ratelimit_new(unsigned window_s, unsigned max, size_t max_keys)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	size_t n = PROBES;
	while (n < max_keys)
		n *= 2;
	if (rl == NULL || (rl->slots = calloc(n, sizeof(struct slot))) == NULL)
		abort();
	pthread_mutex_init(&rl->mu, NULL);
	rl->window_s = window_s > 0 ? window_s : 1;
	rl->max = max;
	rl->mask = n - 1;
	if (sodium_init() < 0)
		abort();
	crypto_shorthash_keygen(rl->hash_key);
	rl->now = real_now;
	return rl;
}

void ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl = *rlp;
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl->slots);
	free(rl);
	*rlp = NULL;
}

void ratelimit_set_clock(struct ratelimit *rl, int64_t (*now)(void))
{
	rl->now = now != NULL ? now : real_now;
}

static size_t hash(const struct ratelimit *rl, const char *key)
{
	unsigned char out[crypto_shorthash_BYTES];
	crypto_shorthash(out, (const unsigned char *)key, strlen(key), rl->hash_key);
	size_t h;
	memcpy(&h, out, sizeof(h));
	return h;
}

/* The slot of key, or NULL; with create, a slot made for it. */
static struct slot *find(struct ratelimit *rl, const char *key, bool create)
{
	size_t h = hash(rl, key);
	struct slot *victim = NULL;
	for (size_t i = 0; i < PROBES; i++) {
		struct slot *s = &rl->slots[(h + i) & rl->mask];
		if (s->window != 0 && strcmp(s->key, key) == 0)
			return s;
		if (victim == NULL || (victim->window != 0 && (s->window == 0 || s->last < victim->last)))
			victim = s;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	return victim;
}

/* Moves s to the window of now. */
static void advance(struct ratelimit *rl, struct slot *s, int64_t now)
{
	int64_t w = now / rl->window_s;
	if (s->window == w)
		return;
	s->prev = s->window == w - 1 ? s->cur : 0;
	s->cur = 0;
	s->window = w;
}

static double estimate(const struct ratelimit *rl, const struct slot *s, int64_t now)
{
	double into = (double)(now % rl->window_s) / rl->window_s;
	return s->cur + s->prev * (1.0 - into);
}

bool ratelimit_ok(struct ratelimit *rl, const char *key)
{
	pthread_mutex_lock(&rl->mu);
	int64_t now = rl->now();
	struct slot *s = find(rl, key, false);
	bool ok = true;
	if (s != NULL) {
		advance(rl, s, now);
		ok = estimate(rl, s, now) < rl->max;
	}
	pthread_mutex_unlock(&rl->mu);
	return ok;
}

void ratelimit_add(struct ratelimit *rl, const char *key, unsigned n)
{
	pthread_mutex_lock(&rl->mu);
	int64_t now = rl->now();
	struct slot *s = find(rl, key, true);
	advance(rl, s, now);
	s->cur += n;
	s->last = now;
	pthread_mutex_unlock(&rl->mu);
}

bool ratelimit_take(struct ratelimit *rl, const char *key)
{
	pthread_mutex_lock(&rl->mu);
	int64_t now = rl->now();
	struct slot *s = find(rl, key, true);
	advance(rl, s, now);
	bool ok = estimate(rl, s, now) < rl->max;
	if (ok) {
		s->cur++;
		s->last = now;
	}
	pthread_mutex_unlock(&rl->mu);
	return ok;
}

void ratelimit_refund(struct ratelimit *rl, const char *key, unsigned n)
{
	pthread_mutex_lock(&rl->mu);
	struct slot *s = find(rl, key, false);
	if (s != NULL) {
		advance(rl, s, rl->now());
		/* counted in this window, or in the previous one if it ended since */
		unsigned from_cur = n < s->cur ? n : s->cur;
		s->cur -= from_cur;
		n -= from_cur;
		s->prev -= n < s->prev ? n : s->prev;
	}
	pthread_mutex_unlock(&rl->mu);
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
	pthread_mutex_lock(&rl->mu);
	struct slot *s = find(rl, key, false);
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	pthread_mutex_unlock(&rl->mu);
}

void ratelimit_addr_key(const struct sockaddr *sa, char out[RATELIMIT_KEY_MAX])
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, RATELIMIT_KEY_MAX);
		return;
	}
	if (sa->sa_family != AF_INET6) {
		snprintf(out, RATELIMIT_KEY_MAX, "local");
		return;
	}
	struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		inet_ntop(AF_INET, &a.s6_addr[12], out, RATELIMIT_KEY_MAX);
		return;
	}
	memset(&a.s6_addr[8], 0, 8);
	inet_ntop(AF_INET6, &a, out, RATELIMIT_KEY_MAX - 4);
	strcat(out, "/64");
}
