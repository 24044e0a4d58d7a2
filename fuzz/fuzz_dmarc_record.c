/*
 * fuzz_dmarc_record.c: libFuzzer target for the DMARC record parser
 * (dmarc_record_parse, RFC 7489 §6.3/§6.4), report size limits
 * (dmarc_size_parse), and, with a tiny built-in Public Suffix List, the
 * Organizational Domain and registrable-domain lookups on the same bytes
 * read as a domain name (RFC 7489 §3.2, libidn2 for U-labels).
 *
 * Checks: a parsed record's values are within their ranges and defaults
 * are consistent (sp from p, np from sp); every kept URI has a scheme and
 * mailto URIs an address with an "@"; an Organizational Domain is a suffix
 * of the normalised name.
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static struct dmarc_psl *psl;

static const char psl_text[] =
	"// ===BEGIN ICANN DOMAINS===\ncom\nuk\nco.uk\n*.ck\n!www.ck\n公司.cn\ncn\n"
	"// ===END ICANN DOMAINS===\n// ===BEGIN PRIVATE DOMAINS===\ngithub.io\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (psl == NULL) {
		struct error err;
		if (dmarc_psl_parse(psl_text, strlen(psl_text), &psl, &err) < 0)
			abort();
	}
	if (size > DMARC_RECORD_MAX)
		return 0;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_record r;
	struct error err;
	enum dmarc_parse pr = dmarc_record_parse((const char *)data, size, a, &r, &err);
	if (pr == DMARC_PARSE_OK) {
		check(r.p <= DMARC_POLICY_REJECT && r.sp <= DMARC_POLICY_REJECT && r.np <= DMARC_POLICY_REJECT);
		check(r.pct <= 100);
		check(r.nrua <= DMARC_URIS_MAX && r.nruf <= DMARC_URIS_MAX);
		check((r.tags & DMARC_TAG_SP) || r.sp == r.p);
		check((r.tags & DMARC_TAG_NP) || r.np == r.sp);
		check(r.fo != 0 && r.rf != 0);
		for (size_t i = 0; i < r.nrua + r.nruf; i++) {
			const struct dmarc_uri *u = i < r.nrua ? &r.rua[i] : &r.ruf[i - r.nrua];
			check(u->scheme != NULL && u->scheme[0] != '\0' && u->uri != NULL);
			check(strncasecmp(u->uri, u->scheme, strlen(u->scheme)) == 0);
			check(u->mailto == NULL || strchr(u->mailto, '@') != NULL);
		}
	} else {
		check(err.msg[0] != '\0');
	}
	uint64_t bytes;
	(void)dmarc_size_parse((const char *)data, size, &bytes);

	/* the same bytes as a domain name */
	char *name = arena_strndup(a, (const char *)data, size > 300 ? 300 : size);
	const char *norm = dmarc_domain_normalize(name, a);
	const char *org = dmarc_org_domain(psl, name, a);
	check((norm == NULL) == (org == NULL));
	if (org != NULL) {
		size_t nl = strlen(norm), ol = strlen(org);
		check(ol <= nl && strcmp(norm + nl - ol, org) == 0);
		check(ol == nl || norm[nl - ol - 1] == '.');
	}
	(void)dmarc_psl_registrable(psl, name, DMARC_PSL_ALL, a);
	arena_free(&a);
	return 0;
}
