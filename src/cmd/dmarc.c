/*
 * dmarc.c: `tern dmarc lookup DOMAIN`, DMARC policy discovery (src/dmarc/)
 * through tern's own resolver: where the record was found, its tags with
 * the defaults filled in, and the Organizational Domain.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "core/arena.h"
#include "dmarc/dmarc.h"
#include "dns/dns.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
	"Finds the DMARC policy that applies to mail From DOMAIN, as the server\n"
	"would: by default with the DMARCbis DNS tree walk (_dmarc.DOMAIN, then\n"
	"its parents, at most 8 names); with -rfc7489 as RFC 7489 §6.6.3 does\n"
	"(_dmarc.DOMAIN, then _dmarc.ORGDOMAIN). Prints the name the record was\n"
	"found at and whether that is the Organizational Domain, the record, each\n"
	"tag with its value (\"(default)\" when not in the record), and the\n"
	"Organizational Domain (RFC 7489 §3.2, from the Public Suffix List; with\n"
	"-orgdomain-treewalk, the DMARCbis tree walk). Records set aside (bad\n"
	"syntax, several at one name) are listed as notes.\n"
	"\n"
	"Exit status: 0 a policy was found; 1 none, a temporary DNS failure\n"
	"(temperror) or an unusable domain; 2 bad usage.\n";

static const char *dflt(const struct dmarc_record *r, unsigned tag)
{
	return (r->tags & tag) ? "" : " (default)";
}

static void print_uris(const char *tag, const struct dmarc_uri *u, size_t n, bool present)
{
	if (n == 0) {
		printf("%s=%s\n", tag, present ? " (no usable URI)" : " (default: none)");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		printf("%s=%s", tag, u[i].uri);
		if (u[i].max_size != 0)
			printf(" (at most %" PRIu64 " bytes)", u[i].max_size);
		printf("\n");
	}
}

static void print_record(const struct dmarc_record *r)
{
	printf("p=%s%s%s\n", dmarc_policy_name(r->p), dflt(r, DMARC_TAG_P),
	       r->p_defaulted ? " (bad or missing p= with rua=: none, RFC 7489 §6.6.3)" : "");
	printf("sp=%s%s\n", dmarc_policy_name(r->sp), dflt(r, DMARC_TAG_SP));
	printf("np=%s%s\n", dmarc_policy_name(r->np), dflt(r, DMARC_TAG_NP));
	printf("adkim=%s%s\n", dmarc_align_name(r->adkim), dflt(r, DMARC_TAG_ADKIM));
	printf("aspf=%s%s\n", dmarc_align_name(r->aspf), dflt(r, DMARC_TAG_ASPF));
	printf("pct=%u%s\n", r->pct, dflt(r, DMARC_TAG_PCT));
	print_uris("rua", r->rua, r->nrua, r->tags & DMARC_TAG_RUA);
	print_uris("ruf", r->ruf, r->nruf, r->tags & DMARC_TAG_RUF);
	if (r->nbad_uris > 0)
		printf("unusable report URIs: %zu\n", r->nbad_uris);
	char fo[16] = "";
	if (r->fo & DMARC_FO_0)
		strcat(fo, ":0");
	if (r->fo & DMARC_FO_1)
		strcat(fo, ":1");
	if (r->fo & DMARC_FO_D)
		strcat(fo, ":d");
	if (r->fo & DMARC_FO_S)
		strcat(fo, ":s");
	printf("fo=%s%s\n", fo + 1, dflt(r, DMARC_TAG_FO));
	printf("rf=%s%s%s\n", (r->rf & DMARC_RF_AFRF) ? "afrf" : "",
	       (r->rf & DMARC_RF_OTHER) ? ((r->rf & DMARC_RF_AFRF) ? ":(unknown)" : "(unknown)") : "",
	       dflt(r, DMARC_TAG_RF));
	printf("ri=%" PRIu32 "%s\n", r->ri, dflt(r, DMARC_TAG_RI));
	printf("psd=%s%s\n", r->psd == DMARC_PSD_YES ? "y" : r->psd == DMARC_PSD_NO ? "n" : "u",
	       dflt(r, DMARC_TAG_PSD));
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct cmd_resolver_opts ro = {0};
	struct flag flags[CMD_RESOLVER_FLAGS + 2];
	bool rfc7489 = false, org_treewalk = false;
	size_t nflags = cmd_resolver_flags(&ro, flags);
	flags[nflags++] = (struct flag){"rfc7489", FLAG_BOOL, &rfc7489,
	                                "RFC 7489 discovery: the domain, then its Organizational Domain"};
	flags[nflags++] = (struct flag){"orgdomain-treewalk", FLAG_BOOL, &org_treewalk,
	                                "Organizational Domain by the DMARCbis tree walk, not the PSL"};

	if (cmd_parse_flags(&cmd_dmarc_lookup, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_dmarc_lookup, flags, nflags);

	struct config *cfg;
	struct dns_resolver *res;
	int code = cmd_resolver_open(&cmd_dmarc_lookup, ctx, &ro, &res, &cfg);
	if (code == CMD_USAGE)
		return cmd_usage(&cmd_dmarc_lookup, flags, nflags);
	if (code != CMD_OK)
		return code;

	struct dmarc_options o = {
		.discovery = rfc7489 ? DMARC_DISCOVERY_RFC7489 : DMARC_DISCOVERY_TREEWALK,
		.orgdomain = org_treewalk ? DMARC_ORGDOMAIN_TREEWALK : DMARC_ORGDOMAIN_PSL,
	};
	struct dmarc_dns dns = dmarc_dns_resolver(res);
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	struct dmarc_discovery d;
	dmarc_discover(&o, &dns, argv[0], a, &d);

	printf("domain: %s\n", d.domain);
	if (d.org_domain != NULL)
		printf("organizational domain: %s (%s)\n", d.org_domain,
		       org_treewalk ? "DMARCbis tree walk" : "public suffix list, RFC 7489 section 3.2");
	for (size_t i = 0; i < d.nnotes; i++)
		printf("note: %s\n", d.notes[i].text);
	int status = CMD_OK;
	switch (d.status) {
	case DMARC_DISC_FOUND:
		printf("record: %s (%s)\n", d.record_name,
		       d.at_domain ? "the domain itself"
		       : d.at_org_domain ? "from the organizational domain"
		       : "from a parent domain");
		printf("text: %s\n", d.record_text);
		print_record(&d.record);
		break;
	case DMARC_DISC_NONE:
		printf("record: none\n");
		status = cmd_fail(&cmd_dmarc_lookup, "%s: no DMARC policy: %s", d.domain, d.reason);
		break;
	case DMARC_DISC_TEMPERROR:
		printf("record: temperror\n");
		status = cmd_fail(&cmd_dmarc_lookup, "%s: temporary failure (temperror): %s", d.domain,
		                  d.reason);
		break;
	case DMARC_DISC_PERMERROR:
		printf("record: permerror\n");
		status = cmd_fail(&cmd_dmarc_lookup, "%s: %s", d.domain, d.reason);
		break;
	}
	fflush(stdout);
	arena_free(&a);
	dns_resolver_free(&res);
	config_release(&cfg);
	return status;
}

const struct cmd cmd_dmarc_lookup = {
	.name = "dmarc lookup",
	.args = "[-server IP[@PORT]] [-trust-anchor FILE] [-timeout SECONDS] [-rfc7489] "
	        "[-orgdomain-treewalk] DOMAIN",
	.summary = "find the DMARC policy of a domain and its organizational domain",
	.help = help,
	.run = run,
};
