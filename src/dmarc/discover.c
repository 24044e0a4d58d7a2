/*
 * discover.c: finding the DMARC policy of a domain in DNS.
 *
 * RFC 7489 §6.6.3 (DMARC_DISCOVERY_RFC7489):
 *   1. TXT at _dmarc.FROMDOMAIN; 2. keep records starting with v=DMARC1;
 *   3. if none are left, TXT at _dmarc.ORGDOMAIN (§3.2, the PSL);
 *   4. keep DMARC records; 5. several or none: no DMARC processing;
 *   6. bad p=/sp= with a usable rua=: act as p=none (record.c).
 *
 * DMARCbis, draft-ietf-dmarc-dmarcbis-41 §4.10 "DNS Tree Walk"
 * (DMARC_DISCOVERY_TREEWALK, the default; dmarc.h says why):
 *   ask _dmarc.DOMAIN; while there is no valid record, shorten the name (to
 *   seven labels when it has eight or more, else by its leftmost label) and
 *   ask again, down to the top-level domain: at most 8 queries. The first
 *   valid record is the policy. Its §4.10.2 "Identifying the Organizational
 *   Domain" walks the same names: a record with psd=n makes its name the
 *   Organizational Domain, one with psd=y the name one label below it, and
 *   otherwise the highest name with a record is it (the domain itself when
 *   none has one): dmarc_org_domain_treewalk.
 *
 * Both: a name where TXT fails temporarily (SERVFAIL, timeout) or is DNSSEC
 * bogus makes the result temperror, since a policy may be hidden there
 * (§6.6.3 leaves DNS errors to the receiver; temperror is RFC 7489 §11.2's
 * word for it). Two or more DMARC records at a name: no policy (step 5).
 * A single bad record is ignored as if absent and the search goes on
 * (dmarc.h: DMARCbis "valid DMARC record"; RFC 7489 step 3 would stop).
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"

#include <string.h>

/* ---- struct dmarc_dns over tern's resolver ---- */

static enum dns_status resolver_txt(void *arg, const char *name, struct arena *a,
                                    struct dmarc_txt **txts_r, size_t *n_r, const char **why_r)
{
	struct dns_resolver *res = arg;
	struct dns_result *r;
	enum dns_status st = dns_lookup_txt(res, name, &r);
	*txts_r = NULL;
	*n_r = 0;
	*why_r = NULL;
	if (r->why_bogus != NULL)
		*why_r = arena_strdup(a, r->why_bogus);
	else if (r->error != NULL)
		*why_r = arena_strdup(a, r->error);
	if (st == DNS_OK && r->nrrs > 0) {
		struct dmarc_txt *t = arena_alloc(a, r->nrrs * sizeof(*t));
		size_t n = 0;
		for (size_t i = 0; i < r->nrrs; i++) {
			if (r->rrs[i].type != DNS_TYPE_TXT)
				continue;
			char *copy = arena_alloc(a, r->rrs[i].u.txt.len + 1);
			memcpy(copy, r->rrs[i].u.txt.text, r->rrs[i].u.txt.len);
			t[n].text = copy;
			t[n].len = r->rrs[i].u.txt.len;
			n++;
		}
		*txts_r = t;
		*n_r = n;
	}
	dns_result_free(&r);
	return st;
}

struct dmarc_dns dmarc_dns_resolver(struct dns_resolver *res)
{
	return (struct dmarc_dns){resolver_txt, res};
}

/* ---- one name ---- */

enum at {
	AT_NONE,       /* no (valid) DMARC record here */
	AT_FOUND,
	AT_MULTIPLE,
	AT_TEMP,
};

static void note(struct dmarc_discovery *d, const char *name, const char *text)
{
	if (d != NULL && d->nnotes < DMARC_NOTES_MAX)
		d->notes[d->nnotes++] = (struct dmarc_note){name, text};
}

/* Asks _dmarc.domain. FOUND: *rec and *text_r set. TEMP, MULTIPLE: *why_r. */
static enum at at_name(const struct dmarc_dns *dns, const char *domain, struct arena *a,
                       struct dmarc_discovery *d, struct dmarc_record *rec, const char **text_r,
                       const char **why_r)
{
	const char *qname = arena_printf(a, "_dmarc.%s", domain);
	struct dmarc_txt *txts;
	size_t n;
	const char *why = NULL;
	if (d != NULL)
		d->nqueries++;
	enum dns_status st = dns->txt(dns->arg, qname, a, &txts, &n, &why);
	switch (st) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
	case DNS_INVALID:   /* _dmarc. made the name too long: nothing can be there */
		return AT_NONE;
	case DNS_TEMPFAIL:
	case DNS_BOGUS:
		*why_r = arena_printf(a, "%s: DNS %s%s%s", qname, dns_status_name(st),
		                      why != NULL ? ": " : "", why != NULL ? why : "");
		return AT_TEMP;
	}
	size_t ndmarc = 0, nvalid = 0;
	const char *bad = NULL;
	for (size_t i = 0; i < n; i++) {
		struct dmarc_record r;
		struct error err;
		switch (dmarc_record_parse(txts[i].text, txts[i].len, a, &r, &err)) {
		case DMARC_PARSE_NOT_DMARC:
			break;
		case DMARC_PARSE_INVALID:
			ndmarc++;
			bad = arena_printf(a, "record ignored: %s", err.msg);
			break;
		case DMARC_PARSE_OK:
			ndmarc++;
			nvalid++;
			*rec = r;
			*text_r = arena_strndup(a, txts[i].text, txts[i].len);
			break;
		}
	}
	if (ndmarc > 1) {
		*why_r = arena_printf(a, "%s: %zu DMARC records (RFC 7489 §6.6.3: none applies)", qname,
		                      ndmarc);
		note(d, qname, *why_r);
		return AT_MULTIPLE;
	}
	if (nvalid == 1)
		return AT_FOUND;
	if (bad != NULL)
		note(d, qname, bad);
	return AT_NONE;
}

static size_t count_labels(const char *s)
{
	size_t n = 1;
	for (; *s != '\0'; s++)
		if (*s == '.')
			n++;
	return n;
}

/* The last k labels of the normalised name s. */
static const char *last_labels(const char *s, size_t k)
{
	size_t n = count_labels(s);
	while (n > k) {
		s = strchr(s, '.') + 1;
		n--;
	}
	return s;
}

/* The names of a DMARCbis tree walk from domain, at most DMARC_TREEWALK_MAX. */
static size_t walk_names(const char *domain, const char **names)
{
	size_t n = 0, labels = count_labels(domain);
	const char *cur = domain;
	while (n < DMARC_TREEWALK_MAX) {
		names[n++] = cur;
		if (labels == 1)
			break;
		labels = labels >= 8 ? 7 : labels - 1;
		cur = last_labels(cur, labels);
	}
	return n;
}

int dmarc_org_domain_treewalk(const struct dmarc_dns *dns, const char *domain, struct arena *a,
                              const char **org_r, const char **why_r)
{
	const char *dom = dmarc_domain_normalize(domain, a);
	if (dom == NULL) {
		*why_r = "not a domain name";
		return -1;
	}
	const char *names[DMARC_TREEWALK_MAX];
	size_t n = walk_names(dom, names);
	const char *top = NULL;
	for (size_t i = 0; i < n; i++) {
		struct dmarc_record rec;
		const char *text, *why = NULL;
		switch (at_name(dns, names[i], a, NULL, &rec, &text, &why)) {
		case AT_TEMP:
			*why_r = why;
			return -1;
		case AT_NONE:
		case AT_MULTIPLE:
			continue;
		case AT_FOUND:
			break;
		}
		if (rec.psd == DMARC_PSD_NO) {
			*org_r = names[i];
			return 0;
		}
		if (rec.psd == DMARC_PSD_YES) {
			/* the name below the PSD; a PSD asking for itself is its own */
			*org_r = i == 0 ? names[0] : last_labels(dom, count_labels(names[i]) + 1);
			return 0;
		}
		top = names[i];
	}
	*org_r = top != NULL ? top : dom;
	return 0;
}

void dmarc_discover(const struct dmarc_options *o, const struct dmarc_dns *dns,
                    const char *from_domain, struct arena *a, struct dmarc_discovery *d)
{
	static const struct dmarc_options defaults;
	if (o == NULL)
		o = &defaults;
	memset(d, 0, sizeof(*d));
	d->domain = dmarc_domain_normalize(from_domain, a);
	if (d->domain == NULL) {
		d->domain = from_domain != NULL ? arena_strdup(a, from_domain) : "";
		d->status = DMARC_DISC_PERMERROR;
		d->reason = "From domain is not a domain name";
		return;
	}

	/* The Organizational Domain: needed for RFC 7489 discovery, for
	 * at_org_domain, and by evaluation. */
	if (o->orgdomain == DMARC_ORGDOMAIN_TREEWALK) {
		const char *why;
		if (dmarc_org_domain_treewalk(dns, d->domain, a, &d->org_domain, &why) < 0) {
			d->status = DMARC_DISC_TEMPERROR;
			d->reason = why;
			return;
		}
	} else {
		struct error err;
		const struct dmarc_psl *psl = o->psl != NULL ? o->psl : dmarc_psl_default(&err);
		if (psl == NULL) {
			d->status = DMARC_DISC_PERMERROR;
			d->reason = arena_printf(a, "public suffix list: %s", err.msg);
			return;
		}
		d->org_domain = dmarc_org_domain(psl, d->domain, a);
	}

	const char *names[DMARC_TREEWALK_MAX];
	size_t n;
	if (o->discovery == DMARC_DISCOVERY_RFC7489) {
		n = 0;
		names[n++] = d->domain;
		if (strcmp(d->org_domain, d->domain) != 0)
			names[n++] = d->org_domain;
	} else {
		n = walk_names(d->domain, names);
	}

	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		switch (at_name(dns, names[i], a, d, &d->record, &d->record_text, &why)) {
		case AT_NONE:
			continue;
		case AT_TEMP:
			d->status = DMARC_DISC_TEMPERROR;
			d->reason = why;
			return;
		case AT_MULTIPLE:
			d->status = DMARC_DISC_NONE;
			d->reason = why;
			return;
		case AT_FOUND:
			break;
		}
		d->status = DMARC_DISC_FOUND;
		d->record_domain = names[i];
		d->record_name = arena_printf(a, "_dmarc.%s", names[i]);
		d->at_domain = i == 0;
		d->at_org_domain = !d->at_domain && strcmp(names[i], d->org_domain) == 0;
		if (!d->at_domain && (d->record.tags & DMARC_TAG_NP)) {
			/* DMARCbis np=: the domain does not exist, i.e. NXDOMAIN,
			 * which is the same for every type (RFC 8020). A failure to
			 * tell counts as existing, the milder sp= then applies. */
			struct dmarc_txt *t;
			size_t nt;
			const char *w;
			d->nqueries++;
			if (dns->txt(dns->arg, d->domain, a, &t, &nt, &w) == DNS_NXDOMAIN)
				d->domain_nonexistent = true;
		}
		return;
	}
	d->status = DMARC_DISC_NONE;
	if (d->reason == NULL)
		d->reason = d->nnotes > 0 ? d->notes[d->nnotes - 1].text : "no DMARC record";
}
