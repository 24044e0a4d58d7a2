/*
 * aggregate_eval.c: struct dmarc_eval (src/dmarc) to struct
 * globaldb_dmarc_eval, see aggregate_eval.h.
 */
#include "reports/aggregate_eval.h"

#include "core/arena.h"
#include "dmarc/dmarc.h"

#include <string.h>

static const char *fo_text(unsigned fo, struct arena *a)
{
	char b[16] = "";
	static const struct { unsigned bit; const char *s; } opts[] = {
		{DMARC_FO_0, "0"}, {DMARC_FO_1, "1"}, {DMARC_FO_D, "d"}, {DMARC_FO_S, "s"}};
	for (size_t i = 0; i < 4; i++) {
		if (fo & opts[i].bit) {
			if (b[0] != '\0')
				strcat(b, ":");
			strcat(b, opts[i].s);
		}
	}
	return b[0] != '\0' ? arena_strdup(a, b) : NULL;
}

/* DKIMResultType of Appendix C has no softfail. */
static const char *dkim_result(enum dmarc_auth r)
{
	return r == DMARC_AUTH_SOFTFAIL ? "fail" : dmarc_auth_name(r);
}

/* SPFResultType has no policy. */
static const char *spf_result(enum dmarc_auth r)
{
	return r == DMARC_AUTH_POLICY ? "neutral" : dmarc_auth_name(r);
}

int reports_dmarc_eval_from(const struct dmarc_eval *ev, const char *source_ip,
                            const char *envelope_from, const char *envelope_to, int64_t now,
                            struct arena *a, struct globaldb_dmarc_eval *out)
{
	memset(out, 0, sizeof(*out));
	const struct dmarc_discovery *d = &ev->discovery;
	if (d->status != DMARC_DISC_FOUND || d->record_domain == NULL || source_ip == NULL ||
	    ev->from_domain == NULL)
		return -1;
	const struct dmarc_record *rec = &d->record;
	struct globaldb_dmarc_rua *rua = arena_alloc(a, (rec->nrua + 1) * sizeof(*rua));
	for (size_t i = 0; i < rec->nrua; i++)
		if (rec->rua[i].mailto != NULL)
			rua[out->nrua++] = (struct globaldb_dmarc_rua){rec->rua[i].mailto,
			                                               rec->rua[i].max_size};
	if (out->nrua == 0)
		return -1;
	out->rua = rua;
	out->evaluated = now;
	out->policy_domain = d->record_domain;
	out->p = dmarc_policy_name(rec->p);
	out->sp = dmarc_policy_name(rec->sp);
	out->np = (rec->tags & DMARC_TAG_NP) ? dmarc_policy_name(rec->np) : NULL;
	out->adkim = dmarc_align_name(rec->adkim);
	out->aspf = dmarc_align_name(rec->aspf);
	out->fo = fo_text(rec->fo, a);
	out->pct = (int)rec->pct;
	out->ri = rec->ri;
	out->source_ip = source_ip;
	out->header_from = ev->from_domain;
	out->envelope_from = envelope_from;
	out->envelope_to = envelope_to;
	out->disposition = dmarc_policy_name(ev->disposition);
	out->dkim = ev->dkim_aligned ? "pass" : "fail";
	out->spf = ev->spf_aligned ? "pass" : "fail";
	if (ev->sampled_out) {
		struct globaldb_dmarc_reason *r = arena_alloc(a, sizeof(*r));
		*r = (struct globaldb_dmarc_reason){"sampled_out", NULL};
		out->reasons = r;
		out->nreasons = 1;
	}
	struct globaldb_dmarc_dkim *dk = arena_alloc(a, (ev->ndkim + 1) * sizeof(*dk));
	for (size_t i = 0; i < ev->ndkim; i++)
		dk[i] = (struct globaldb_dmarc_dkim){ev->dkim[i].domain, ev->dkim[i].selector,
		                                     dkim_result(ev->dkim[i].result)};
	out->dkim_results = dk;
	out->ndkim = ev->ndkim;
	struct globaldb_dmarc_spf *sf = arena_alloc(a, sizeof(*sf));
	sf[0] = (struct globaldb_dmarc_spf){
		ev->spf_domain != NULL ? ev->spf_domain : ev->from_domain,
		ev->spf_scope == DMARC_SPF_HELO ? "helo" : "mfrom", spf_result(ev->spf)};
	out->spf_results = sf;
	out->nspf = 1;
	return 0;
}
