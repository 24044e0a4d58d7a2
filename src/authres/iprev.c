/*
 * iprev.c: RFC 8601 §3 "iprev": the client's address maps to a name (PTR)
 * that maps back to the address (A or AAAA). The check needs no name from
 * the client, so it cannot be steered; mail servers use it as a weak signal.
 */
#include "authres/authres.h"

#include "core/arena.h"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <string.h>

const char *iprev_result_name(enum iprev_result r)
{
	static const char *const names[] = {"pass", "fail", "temperror", "permerror"};
	return (unsigned)r < 4 ? names[r] : "permerror";
}

static bool is_v6(const char *ip)
{
	return strchr(ip, ':') != NULL;
}

/* Whether name's A (or AAAA) records hold the address. Sets *temp on DNS
 * trouble. */
static bool leads_back(struct dns_resolver *res, const char *name, const char *ip,
                       const unsigned char *addr, bool *temp)
{
	struct dns_result *r = NULL;
	enum dns_status st = is_v6(ip) ? dns_lookup_aaaa(res, name, &r) : dns_lookup_a(res, name, &r);
	bool found = false;
	if (st == DNS_TEMPFAIL || st == DNS_BOGUS)
		*temp = true;
	for (size_t i = 0; st == DNS_OK && i < r->nrrs && !found; i++) {
		const struct dns_rr *rr = &r->rrs[i];
		if (rr->type == DNS_TYPE_A && !is_v6(ip))
			found = memcmp(&rr->u.a, addr, 4) == 0;
		else if (rr->type == DNS_TYPE_AAAA && is_v6(ip))
			found = memcmp(&rr->u.aaaa, addr, 16) == 0;
	}
	dns_result_free(&r);
	return found;
}

void iprev_check(struct dns_resolver *res, const char *ip, struct arena *a,
                 struct iprev_outcome *out)
{
	unsigned char addr[16];
	*out = (struct iprev_outcome){IPREV_PERMERROR, NULL, "not an IP address"};
	if (inet_pton(is_v6(ip) ? AF_INET6 : AF_INET, ip, addr) != 1)
		return;
	struct dns_result *r = NULL;
	enum dns_status st = dns_lookup_ptr(res, ip, &r);
	if (st == DNS_NXDOMAIN || st == DNS_NODATA) {
		*out = (struct iprev_outcome){IPREV_FAIL, NULL, "no PTR record"};
	} else if (st != DNS_OK) {
		*out = (struct iprev_outcome){IPREV_TEMPERROR, NULL, "PTR lookup failed"};
	} else {
		bool temp = false;
		*out = (struct iprev_outcome){IPREV_FAIL, NULL, "no PTR name leads back to the address"};
		for (size_t i = 0; i < r->nrrs && i < IPREV_NAMES_MAX; i++) {
			const char *name = r->rrs[i].u.target;
			if (r->rrs[i].type != DNS_TYPE_PTR || !leads_back(res, name, ip, addr, &temp))
				continue;
			size_t n = strlen(name);
			out->result = IPREV_PASS;
			out->host = arena_strndup(a, name, n > 0 && name[n - 1] == '.' ? n - 1 : n);
			out->reason = "PTR name leads back to the address";
			break;
		}
		if (out->result == IPREV_FAIL && temp)
			*out = (struct iprev_outcome){IPREV_TEMPERROR, NULL, "forward lookup failed"};
	}
	dns_result_free(&r);
}
