/*
 * aggregate_verify.c: RFC 7489 §7.1, verifying external destinations of
 * aggregate reports, with the Public Suffix List of dmarc/dmarc.h.
 */
#include "core/arena.h"
#include "dmarc/dmarc.h"
#include "dns/dns.h"
#include "reports/aggregate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Whether a TXT record is "v=DMARC1" followed by nothing, ';' or space. */
static bool is_dmarc1(const char *t, size_t n)
{
	while (n > 0 && (*t == ' ' || *t == '\t')) {
		t++;
		n--;
	}
	if (n < 8 || strncasecmp(t, "v=DMARC1", 8) != 0)
		return false;
	return n == 8 || t[8] == ';' || t[8] == ' ' || t[8] == '\t';
}

int reports_dmarc_verify_dns(void *arg, const char *policy_domain, const char *rua_domain,
                             char *why, size_t whysize)
{
	struct dns_resolver *res = arg;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct error err;
	int ret = 0;
	const struct dmarc_psl *psl = dmarc_psl_default(&err);
	const char *pd = dmarc_domain_normalize(policy_domain, a);
	const char *rd = dmarc_domain_normalize(rua_domain, a);
	if (pd == NULL || rd == NULL) {
		snprintf(why, whysize, "unusable domain name");
		goto out;
	}
	if (psl != NULL) {
		const char *po = dmarc_org_domain(psl, pd, a), *ro = dmarc_org_domain(psl, rd, a);
		if (po != NULL && ro != NULL && strcmp(po, ro) == 0) {
			ret = 1;
			goto out;
		}
	} else if (strcmp(pd, rd) == 0) {
		ret = 1;
		goto out;
	}
	if (res == NULL) {
		snprintf(why, whysize, "external destination and no resolver to verify it");
		goto out;
	}
	char *name = arena_printf(a, "%s._report._dmarc.%s", pd, rd);
	struct dns_result *r = NULL;
	enum dns_status st = dns_lookup_txt(res, name, &r);
	if (st == DNS_OK) {
		for (size_t i = 0; i < r->nrrs && ret == 0; i++)
			if (is_dmarc1(r->rrs[i].u.txt.text, r->rrs[i].u.txt.len))
				ret = 1;
		if (ret == 0)
			snprintf(why, whysize, "external destination not authorized: no v=DMARC1 "
			         "record at %s", name);
	} else if (st == DNS_TEMPFAIL) {
		snprintf(why, whysize, "looking up %s: %s", name,
		         r != NULL && r->error != NULL ? r->error : "temporary failure");
		ret = -1;
	} else {
		snprintf(why, whysize, "external destination not authorized: %s at %s",
		         st == DNS_NXDOMAIN ? "no such name" : st == DNS_NODATA ? "no TXT record" :
		         st == DNS_BOGUS ? "DNSSEC bogus" : "invalid name", name);
	}
	dns_result_free(&r);
out:
	arena_free(&a);
	return ret;
}
