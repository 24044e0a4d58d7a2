/*
 * evaluate.c: the DMARC verdict for one message (RFC 7489 §6.6.2, §3.1),
 * the disposition (§6.6.4, sp=/np= for subdomains) and the
 * Authentication-Results text (RFC 8601 §2.7, method "dmarc" of RFC 7489
 * §11.2).
 *
 * Identifier alignment (§3.1): DKIM (§3.1.1) is aligned when a signature
 * that passed has d= equal to the From domain (adkim=s) or sharing its
 * Organizational Domain (adkim=r); SPF (§3.1.2) likewise for the domain SPF
 * authenticated (MAIL FROM, or the HELO domain when MAIL FROM was null:
 * §3.1.2 allows that domain as the RFC5321.MailFrom identity per RFC 7208
 * §2.4). DMARC passes when one aligned identifier passed (§4.2).
 *
 * Which policy (RFC 7489 §6.3 sp, DMARCbis np): the record at the From
 * domain itself gives p=; a record found above it (the Organizational
 * Domain, or any name of the tree walk) gives sp=, or np= when the From
 * domain does not exist. sp defaults to p and np to sp (record.c).
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE: return "none";
	case DMARC_RESULT_PASS: return "pass";
	case DMARC_RESULT_FAIL: return "fail";
	case DMARC_RESULT_TEMPERROR: return "temperror";
	case DMARC_RESULT_PERMERROR: return "permerror";
	}
	return "?";
}

const char *dmarc_auth_name(enum dmarc_auth r)
{
	switch (r) {
	case DMARC_AUTH_NONE: return "none";
	case DMARC_AUTH_PASS: return "pass";
	case DMARC_AUTH_FAIL: return "fail";
	case DMARC_AUTH_SOFTFAIL: return "softfail";
	case DMARC_AUTH_NEUTRAL: return "neutral";
	case DMARC_AUTH_POLICY: return "policy";
	case DMARC_AUTH_TEMPERROR: return "temperror";
	case DMARC_AUTH_PERMERROR: return "permerror";
	}
	return "?";
}

bool dmarc_aligned(enum dmarc_align mode, const char *a, const char *org_a, const char *b,
                   const char *org_b)
{
	if (a == NULL || b == NULL)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	if (mode == DMARC_ALIGN_STRICT || org_a == NULL || org_b == NULL)
		return false;
	return strcmp(org_a, org_b) == 0;
}

/* The Organizational Domain of the normalised name per the options; NULL
 * when it cannot be told (then only strict equality aligns). */
static const char *org_of(const struct dmarc_options *o, const struct dmarc_dns *dns,
                          const struct dmarc_discovery *d, const char *name, struct arena *a)
{
	if (name == NULL)
		return NULL;
	if (d->org_domain != NULL && strcmp(name, d->domain) == 0)
		return d->org_domain;
	if (o->orgdomain == DMARC_ORGDOMAIN_TREEWALK) {
		const char *org, *why;
		if (dns == NULL || dmarc_org_domain_treewalk(dns, name, a, &org, &why) < 0)
			return NULL;
		return org;
	}
	const struct dmarc_psl *psl = o->psl != NULL ? o->psl : dmarc_psl_default(NULL);
	return psl != NULL ? dmarc_org_domain(psl, name, a) : NULL;
}

static unsigned default_rand100(void *arg)
{
	return arc4random_uniform(100);
}

void dmarc_evaluate(const struct dmarc_options *o, const struct dmarc_dns *dns,
                    const struct dmarc_discovery *d, const struct dmarc_input *in,
                    struct arena *a, struct dmarc_eval *ev)
{
	static const struct dmarc_options defaults;
	if (o == NULL)
		o = &defaults;
	memset(ev, 0, sizeof(*ev));
	ev->discovery = *d;
	ev->from_domain = d->domain;
	ev->org_domain = d->org_domain;
	ev->spf = in->spf;
	ev->spf_scope = in->spf_scope;
	ev->spf_domain = dmarc_domain_normalize(in->spf_domain, a);
	if (ev->spf_domain == NULL && in->spf_domain != NULL)
		ev->spf_domain = arena_strdup(a, in->spf_domain);
	for (size_t i = 0; i < in->ndkim && ev->ndkim < DMARC_DKIM_MAX; i++) {
		struct dmarc_dkim_eval *k = &ev->dkim[ev->ndkim++];
		k->domain = dmarc_domain_normalize(in->dkim[i].domain, a);
		if (k->domain == NULL)
			k->domain = in->dkim[i].domain != NULL ? arena_strdup(a, in->dkim[i].domain) : "";
		k->selector = in->dkim[i].selector;
		k->result = in->dkim[i].result;
	}

	switch (d->status) {
	case DMARC_DISC_FOUND:
		break;
	case DMARC_DISC_NONE:
		ev->result = DMARC_RESULT_NONE;
		ev->reason = d->reason;
		return;
	case DMARC_DISC_TEMPERROR:
		ev->result = DMARC_RESULT_TEMPERROR;
		ev->reason = d->reason;
		return;
	case DMARC_DISC_PERMERROR:
		ev->result = DMARC_RESULT_PERMERROR;
		ev->reason = d->reason;
		return;
	}

	const struct dmarc_record *r = &d->record;
	const char *from = d->domain, *from_org = d->org_domain;
	const char *aligned_by = NULL;

	/* §3.1.1 DKIM: any passing signature whose d= aligns. */
	for (size_t i = 0; i < ev->ndkim; i++) {
		struct dmarc_dkim_eval *k = &ev->dkim[i];
		const char *org = r->adkim == DMARC_ALIGN_RELAXED ? org_of(o, dns, d, k->domain, a) : NULL;
		k->aligned = dmarc_aligned(r->adkim, from, from_org, k->domain, org);
		if (k->aligned && k->result == DMARC_AUTH_PASS && !ev->dkim_aligned) {
			ev->dkim_aligned = true;
			aligned_by = arena_printf(a, "DKIM d=%s", k->domain);
		}
	}
	/* §3.1.2 SPF */
	if (ev->spf_domain != NULL) {
		const char *org = r->aspf == DMARC_ALIGN_RELAXED ? org_of(o, dns, d, ev->spf_domain, a) : NULL;
		ev->spf_domain_aligned = dmarc_aligned(r->aspf, from, from_org, ev->spf_domain, org);
		ev->spf_aligned = ev->spf_domain_aligned && in->spf == DMARC_AUTH_PASS;
		if (ev->spf_aligned && aligned_by == NULL)
			aligned_by = arena_printf(a, "SPF %s", ev->spf_domain);
	}

	if (d->at_domain) {
		ev->policy = r->p;
		ev->policy_tag = "p";
	} else if (d->domain_nonexistent) {
		ev->policy = r->np;
		ev->policy_tag = "np";
	} else {
		ev->policy = r->sp;
		ev->policy_tag = "sp";
	}

	if (ev->dkim_aligned || ev->spf_aligned) {
		ev->result = DMARC_RESULT_PASS;
		ev->disposition = DMARC_POLICY_NONE;
		ev->reason = arena_printf(a, "aligned %s passed", aligned_by);
		return;
	}
	ev->result = DMARC_RESULT_FAIL;
	ev->disposition = ev->policy;
	/* §6.6.4: apply the policy to pct% of failing mail; the rest gets the
	 * next milder one (reject -> quarantine, quarantine -> none). */
	if (ev->policy != DMARC_POLICY_NONE && r->pct < 100) {
		unsigned x = o->rand100 != NULL ? o->rand100(o->rand_arg) : default_rand100(NULL);
		if (x >= r->pct) {
			ev->sampled_out = true;
			ev->disposition = ev->policy == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE
			                                                    : DMARC_POLICY_NONE;
		}
	}
	size_t npass = 0;
	for (size_t i = 0; i < ev->ndkim; i++)
		npass += ev->dkim[i].result == DMARC_AUTH_PASS;
	ev->reason = arena_printf(a, "no aligned pass: SPF %s%s%s, %zu of %zu DKIM signatures passed%s%s",
	                          dmarc_auth_name(in->spf),
	                          ev->spf_domain != NULL && !ev->spf_domain_aligned ? " (not aligned)" : "",
	                          ev->spf_domain == NULL ? " (no domain)" : "", npass, ev->ndkim,
	                          ev->sampled_out ? "; policy lowered by pct=" : "",
	                          ev->sampled_out ? arena_printf(a, "%u", r->pct) : "");
}

void dmarc_check(const struct dmarc_options *o, const struct dmarc_dns *dns,
                 const struct dmarc_input *in, struct arena *a, struct dmarc_eval *ev)
{
	struct dmarc_discovery *d = arena_alloc(a, sizeof(*d));
	dmarc_discover(o, dns, in->from_domain, a, d);
	dmarc_evaluate(o, dns, d, in, a, ev);
}

const char *dmarc_authres(const struct dmarc_eval *ev, struct arena *a)
{
	const char *from = ev->from_domain != NULL && ev->from_domain[0] != '\0' ? ev->from_domain : NULL;
	const char *hf = from != NULL ? arena_printf(a, " header.from=%s", from) : "";
	if (ev->discovery.status != DMARC_DISC_FOUND)
		return arena_printf(a, "dmarc=%s%s", dmarc_result_name(ev->result), hf);
	const struct dmarc_record *r = &ev->discovery.record;
	const char *sub = "";
	if (ev->policy_tag != NULL && strcmp(ev->policy_tag, "p") != 0 && ev->policy != r->p)
		sub = arena_printf(a, " %s=%s", ev->policy_tag, dmarc_policy_name(ev->policy));
	return arena_printf(a, "dmarc=%s (p=%s%s dis=%s)%s", dmarc_result_name(ev->result),
	                    dmarc_policy_name(r->p), sub, dmarc_policy_name(ev->disposition), hf);
}
