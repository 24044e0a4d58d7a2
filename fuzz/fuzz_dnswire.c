/*
 * fuzz_dnswire.c: libFuzzer target for src/dns/wire.c and result.c: every
 * input is parsed as a DNS message (RFC 1035 §4.1, compressed names §4.1.4),
 * each record's rdata is parsed into its struct and presentation text, and
 * the message is turned into a result as an answer to its own question (CNAME
 * chasing, sorting, RFC 2308 negative TTLs). Dictionary: dnswire.dict; seeds:
 * corpus/dnswire/.
 */
#include "dns/internal.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_rr(const struct dns_rr *rr)
{
	/* Make the sanitizers read every string the parser produced. */
	volatile size_t n = strlen(rr->name) + strlen(rr->text);
	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dns_msg m;
	const char *why;

	if (dns_msg_parse(a, data, size, &m, &why) == 0) {
		struct dns_wire_rr *sections[] = {m.an, m.ns, m.ar};
		size_t counts[] = {m.nan, m.nns, m.nar};
		for (size_t s = 0; s < 3; s++)
			for (size_t i = 0; i < counts[s]; i++) {
				struct dns_rr rr;
				if (dns_rr_parse(a, data, size, &sections[s][i], sections[s][i].ttl, &rr,
				                 &why) == 0)
					touch_rr(&rr);
			}
		if (m.qname != NULL) {
			struct dns_result *r = dns_result_new(m.qname, m.qtype, DNS_TEMPFAIL, NULL);
			if (dns_result_from_packet(r, data, size, m.rcode, DNS_SEC_INSECURE, 1, &why) == 0) {
				for (size_t i = 0; i < r->nchain; i++)
					touch_rr(&r->chain[i]);
				for (size_t i = 0; i < r->nrrs; i++)
					touch_rr(&r->rrs[i]);
			}
			dns_result_free(&r);
		}
	}
	arena_free(&a);
	return 0;
}
