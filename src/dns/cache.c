/*
 * cache.c: answers kept by (name, type) until their TTL runs out.
 *
 * An entry holds the answer packet as libunbound gave it, its RCODE and
 * DNSSEC state; a hit is parsed again with every TTL reduced by the time
 * spent here (RFC 1035 §3.2.1: TTL is the time the record may be cached, so
 * what we hand on is what is left). Negative answers are kept for their
 * RFC 2308 §5 TTL. What is stored, and for how long, is decided in dns.c.
 *
 * The number of entries is bounded; when full, the least recently used entry
 * goes. Expired entries are dropped when met. All functions take the cache's
 * mutex, so one cache serves every thread.
 */
#include "dns/internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Most hash buckets; beyond this, chains grow instead of the table. */
#define CACHE_BUCKETS_MAX (1u << 16)

struct entry {
	struct entry *hnext;         /* hash chain */
	struct entry *prev, *next;   /* LRU list: after the sentinel is the most recent */
	uint64_t hash;
	char *name;                  /* lower case */
	uint16_t type;
	int64_t stored_ms, expires_ms;
	uint8_t *pkt;
	size_t len;
	int rcode;
	enum dns_security security;
};

struct dns_cache {
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t nbuckets;             /* a power of two */
	size_t count, max;
	struct entry lru;            /* sentinel */
};

/* FNV-1a over the lower-cased name and the type. */
static uint64_t key_hash(const char *name, uint16_t type)
{
	uint64_t h = 14695981039346656037u;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ (uint64_t)tolower(*p)) * 1099511628211u;
	return (h ^ type) * 1099511628211u;
}

struct dns_cache *dns_cache_new(size_t max_entries)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	c->max = max_entries > 0 ? max_entries : 1;
	c->nbuckets = 16;
	while (c->nbuckets < c->max && c->nbuckets < CACHE_BUCKETS_MAX)
		c->nbuckets *= 2;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL)
		abort();
	c->lru.next = c->lru.prev = &c->lru;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void entry_free(struct entry *e)
{
	free(e->name);
	free(e->pkt);
	free(e);
}

/* Takes e out of the hash chain and the LRU list and frees it. */
static void drop(struct dns_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	c->count--;
	entry_free(e);
}

static void lru_front(struct dns_cache *c, struct entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

void dns_cache_free(struct dns_cache **cp)
{
	struct dns_cache *c = *cp;
	if (c == NULL)
		return;
	while (c->lru.next != &c->lru)
		drop(c, c->lru.next);
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	free(c);
	*cp = NULL;
}

static struct entry *find(struct dns_cache *c, uint64_t hash, const char *name, uint16_t type)
{
	for (struct entry *e = c->buckets[hash & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hash && e->type == type && strcasecmp(e->name, name) == 0)
			return e;
	return NULL;
}

bool dns_cache_get(struct dns_cache *c, const char *name, uint16_t type, int64_t now_ms,
                   struct dns_cached *out)
{
	uint64_t h = key_hash(name, type);
	bool hit = false;

	pthread_mutex_lock(&c->mu);
	struct entry *e = find(c, h, name, type);
	if (e != NULL && now_ms >= e->expires_ms) {
		drop(c, e);
		e = NULL;
	}
	if (e != NULL) {
		out->pkt = malloc(e->len > 0 ? e->len : 1);
		if (out->pkt == NULL)
			abort();
		memcpy(out->pkt, e->pkt, e->len);
		out->len = e->len;
		out->rcode = e->rcode;
		out->security = e->security;
		out->age = now_ms > e->stored_ms ? (uint32_t)((now_ms - e->stored_ms) / 1000) : 0;
		e->prev->next = e->next;
		e->next->prev = e->prev;
		lru_front(c, e);
		hit = true;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

static struct entry *entry_new(const char *name, uint16_t type, uint64_t hash,
                               const uint8_t *pkt, size_t len)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (e == NULL || (e->name = strdup(name)) == NULL || (e->pkt = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	for (char *p = e->name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	memcpy(e->pkt, pkt, len);
	e->len = len;
	e->type = type;
	e->hash = hash;
	return e;
}

void dns_cache_put(struct dns_cache *c, const char *name, uint16_t type, int64_t now_ms,
                   uint32_t ttl, const uint8_t *pkt, size_t len, int rcode,
                   enum dns_security security)
{
	uint64_t h = key_hash(name, type);
	struct entry *e = ttl > 0 ? entry_new(name, type, h, pkt, len) : NULL;

	pthread_mutex_lock(&c->mu);
	struct entry *old = find(c, h, name, type);
	if (old != NULL)
		drop(c, old);
	if (e != NULL) {
		if (c->count == c->max)
			drop(c, c->lru.prev);
		e->stored_ms = now_ms;
		e->expires_ms = now_ms + (int64_t)ttl * 1000;
		e->rcode = rcode;
		e->security = security;
		e->hnext = c->buckets[h & (c->nbuckets - 1)];
		c->buckets[h & (c->nbuckets - 1)] = e;
		lru_front(c, e);
		c->count++;
	}
	pthread_mutex_unlock(&c->mu);
}

size_t dns_cache_count(struct dns_cache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->count;
	pthread_mutex_unlock(&c->mu);
	return n;
}
