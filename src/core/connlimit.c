/*
 * connlimit.c: see connlimit.h. A chained hash table of per-network counters,
 * holding only networks with at least one open connection, behind one mutex.
 */
#include "core/connlimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct netkey {
	uint8_t family;     /* 4 or 6 */
	uint8_t bytes[16];  /* masked address */
};

struct node {
	struct node *next;
	struct netkey key;
	unsigned count;
};

struct connlimit {
	pthread_mutex_t lock;
	unsigned max_total, max_per_ip, v4_prefix, v6_prefix;
	unsigned total;
	struct node *buckets[BUCKETS];
};

struct connlimit *connlimit_new(unsigned max_total, unsigned max_per_ip,
                                unsigned v4_prefix, unsigned v6_prefix)
{
	struct connlimit *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		abort();
	pthread_mutex_init(&cl->lock, NULL);
	cl->max_total = max_total < 1 ? 1 : max_total;
	cl->max_per_ip = max_per_ip < 1 ? 1 : max_per_ip;
	cl->v4_prefix = v4_prefix < 1 || v4_prefix > 32 ? 32 : v4_prefix;
	cl->v6_prefix = v6_prefix < 1 || v6_prefix > 128 ? 64 : v6_prefix;
	return cl;
}

void connlimit_free(struct connlimit **clp)
{
	struct connlimit *cl = *clp;
	if (cl == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (cl->buckets[i] != NULL) {
			struct node *n = cl->buckets[i];
			cl->buckets[i] = n->next;
			free(n);
		}
	}
	pthread_mutex_destroy(&cl->lock);
	free(cl);
	*clp = NULL;
}

static void mask_bytes(uint8_t *b, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		if (bits >= 8)
			continue;
		b[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void make_key(const struct connlimit *cl, const struct sockaddr *sa, struct netkey *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		k->family = 4;
		memcpy(k->bytes, &in->sin_addr, 4);
		mask_bytes(k->bytes, 4, cl->v4_prefix);
		return;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (memcmp(in6->sin6_addr.s6_addr, v4mapped_prefix, 12) == 0) {
			k->family = 4;
			memcpy(k->bytes, in6->sin6_addr.s6_addr + 12, 4);
			mask_bytes(k->bytes, 4, cl->v4_prefix);
			return;
		}
		k->family = 6;
		memcpy(k->bytes, in6->sin6_addr.s6_addr, 16);
		mask_bytes(k->bytes, 16, cl->v6_prefix);
	}
	/* Other families (unix sockets) all share key family 0. */
}

static size_t key_hash(const struct netkey *k)
{
	uint64_t h = 1469598103934665603ull;  /* FNV-1a */
	h = (h ^ k->family) * 1099511628211ull;
	for (size_t i = 0; i < sizeof(k->bytes); i++)
		h = (h ^ k->bytes[i]) * 1099511628211ull;
	return (size_t)(h % BUCKETS);
}

/* The link that points at the node for k, or at the NULL ending its chain. Lock held. */
static struct node **find(struct connlimit *cl, const struct netkey *k)
{
	struct node **pp = &cl->buckets[key_hash(k)];
	while (*pp != NULL && memcmp(&(*pp)->key, k, sizeof(*k)) != 0)
		pp = &(*pp)->next;
	return pp;
}

enum connlimit_verdict connlimit_acquire(struct connlimit *cl, const struct sockaddr *sa)
{
	struct netkey k;
	make_key(cl, sa, &k);
	enum connlimit_verdict v = CONNLIMIT_OK;
	pthread_mutex_lock(&cl->lock);
	struct node **pp = find(cl, &k);
	if (cl->total >= cl->max_total) {
		v = CONNLIMIT_TOTAL;
	} else if (*pp != NULL && (*pp)->count >= cl->max_per_ip) {
		v = CONNLIMIT_PER_IP;
	} else {
		if (*pp == NULL) {
			*pp = calloc(1, sizeof(**pp));
			if (*pp == NULL)
				abort();
			(*pp)->key = k;
		}
		(*pp)->count++;
		cl->total++;
	}
	pthread_mutex_unlock(&cl->lock);
	return v;
}

void connlimit_release(struct connlimit *cl, const struct sockaddr *sa)
{
	struct netkey k;
	make_key(cl, sa, &k);
	pthread_mutex_lock(&cl->lock);
	struct node **pp = find(cl, &k);
	if (*pp == NULL || cl->total == 0)
		abort();  /* release without acquire: a broken invariant */
	cl->total--;
	if (--(*pp)->count == 0) {
		struct node *n = *pp;
		*pp = n->next;
		free(n);
	}
	pthread_mutex_unlock(&cl->lock);
}

unsigned connlimit_total(struct connlimit *cl)
{
	pthread_mutex_lock(&cl->lock);
	unsigned t = cl->total;
	pthread_mutex_unlock(&cl->lock);
	return t;
}

unsigned connlimit_count(struct connlimit *cl, const struct sockaddr *sa)
{
	struct netkey k;
	make_key(cl, sa, &k);
	pthread_mutex_lock(&cl->lock);
	struct node **pp = find(cl, &k);
	unsigned c = *pp != NULL ? (*pp)->count : 0;
	pthread_mutex_unlock(&cl->lock);
	return c;
}
