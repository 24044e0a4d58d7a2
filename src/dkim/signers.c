/*
 * signers.c: the signers a configured domain signs with (Domains.D.DKIM in
 * domains.conf): one per selector of DKIM.Sign, its key loaded. Shared by
 * `tern dkim sign` and the server (reports now, the outbound queue later).
 */
#include "dkim/dkim.h"

#include "config/config.h"

#include <string.h>

static const struct config_dkim_selector *selector_named(const struct config_domain *d,
                                                         const char *name)
{
	for (size_t k = 0; k < d->dkim.nselectors; k++)
		if (strcmp(d->dkim.selectors[k].name, name) == 0)
			return &d->dkim.selectors[k];
	return NULL;
}

void dkim_signers_free(struct dkim_signer *s, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++) {
		struct dkim_private_key *k = (struct dkim_private_key *)s[i].key;
		dkim_private_key_free(&k);
		s[i].key = NULL;
	}
}

int dkim_signers_for_domain(const struct config_domain *d, struct arena *a,
                            struct dkim_signer **signers_r, size_t *n_r, struct error *err)
{
	*signers_r = NULL;
	*n_r = 0;
	if (d->dkim.nsign == 0)
		return error_set(err, ERR_NOTFOUND, "domain %s has no DKIM.Sign selectors", d->name);
	struct dkim_signer *s = arena_alloc(a, d->dkim.nsign * sizeof(*s));
	*signers_r = s;
	for (size_t i = 0; i < d->dkim.nsign; i++) {
		const struct config_dkim_selector *sel = selector_named(d, d->dkim.sign[i]);
		struct dkim_private_key *key = NULL;
		if (sel == NULL)  /* config checks Sign against Selectors */
			return error_set(err, ERR_INVALID, "unknown selector %s", d->dkim.sign[i]);
		if (dkim_private_key_load(sel->private_key_file, &key, err) < 0)
			return -1;
		s[i] = (struct dkim_signer){.domain = arena_strdup(a, d->name),
		                            .selector = arena_strdup(a, sel->name), .key = key};
		*n_r = i + 1;
		if (sel->algorithm != NULL && strcmp(sel->algorithm, dkim_private_key_algorithm(key)) != 0)
			return error_set(err, ERR_INVALID, "selector %s: Algorithm %s does not fit its %s key",
			                 sel->name, sel->algorithm, dkim_private_key_algorithm(key));
	}
	return 0;
}

int dkim_sign_for(const struct config *cfg, const char *domain, const char *msg, size_t len,
                  struct buf *out, struct error *err)
{
	const struct config_domain *d = NULL;
	for (const char *p = domain; p != NULL && d == NULL;) {
		d = config_find_domain(cfg, p);
		p = strchr(p, '.');
		p = p != NULL ? p + 1 : NULL;
	}
	if (d == NULL || d->dkim.nsign == 0)
		return 0;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dkim_signer *signers = NULL;
	size_t n = 0;
	int r = dkim_signers_for_domain(d, a, &signers, &n, err);
	if (r == 0)
		r = dkim_sign(msg, len, signers, n, 0, out, err);
	dkim_signers_free(signers, n);
	arena_free(&a);
	return r;
}
