/*
 * mx.c: the order in which MX hosts are tried (RFC 5321 §5.1): lowest
 * preference first, hosts of equal preference in random order so that load
 * spreads; a null MX (RFC 7505) means the domain takes no mail.
 */
#include "smtpclient/internal.h"

#include "dns/dns.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

unsigned mx_random(unsigned bound)
{
	uint32_t x;
	if (bound <= 1 || RAND_bytes((unsigned char *)&x, sizeof(x)) != 1)
		return 0;
	return x % bound;
}

static int by_preference(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;
	return (int)x->preference - (int)y->preference;
}

enum mx_order_result mx_order(const struct dns_mx *mx, size_t n, unsigned (*rnd)(unsigned bound),
	struct mx_host *out, size_t max, size_t *n_r)
{
	*n_r = 0;
	/* RFC 7505 §3: a single MX with an empty host ("." in presentation form)
	 * says the domain accepts no mail (§4: do not try to deliver). */
	if (n == 1 && strcmp(mx[0].host, ".") == 0)
		return MX_ORDER_NULL_MX;
	struct mx_host *all = calloc(n ? n : 1, sizeof(*all));
	if (all == NULL)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(mx[i].host, ".") == 0)   /* RFC 7505 §3: "." must not be beside others; skip it */
			continue;
		all[k].name = mx[i].host;
		all[k].preference = mx[i].preference;
		k++;
	}
	qsort(all, k, sizeof(all[0]), by_preference);
	/* §5.1: "randomize" among equal preferences: Fisher-Yates per run. */
	for (size_t start = 0; start < k;) {
		size_t end = start;
		while (end < k && all[end].preference == all[start].preference)
			end++;
		for (size_t left = end - start; left > 1; left--) {
			size_t i = start + left - 1, j = start + rnd((unsigned)left);
			struct mx_host t = all[i];
			all[i] = all[j];
			all[j] = t;
		}
		start = end;
	}
	if (k > max)
		k = max;
	memcpy(out, all, k * sizeof(*out));
	free(all);
	*n_r = k;
	return k == 0 ? MX_ORDER_EMPTY : MX_ORDER_OK;
}
