/*
 * dns.c: `tern dns lookup TYPE NAME`, one lookup through tern's own resolver
 * (src/dns/), printed the way zone files write records, followed by the
 * DNSSEC state of the answer. It shows what the mail server itself would
 * see: the same upstreams and trust anchors, read from the Resolver section
 * of the config file when that file exists.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "dns/dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"Looks up NAME with tern's resolver and prints the records one per line in\n"
	"zone-file form, CNAMEs followed first, then the DNSSEC state:\n"
	"\n"
	"  example.test. 300 IN MX 10 mx1.example.test.\n"
	"  dnssec: secure\n"
	"\n"
	"TYPE is A, AAAA, MX, TXT, TLSA, PTR, CNAME, NS, SOA, SRV, CAA, another type\n"
	"name, or a number. For PTR, NAME may be an IPv4 or IPv6 address; it is\n"
	"turned into its in-addr.arpa or ip6.arpa name.\n"
	"\n"
	"Upstream servers and trust anchors come from the Resolver section of the\n"
	"config file if it exists, else from /etc/resolv.conf and the system's\n"
	"DNSSEC root key; -server and -trust-anchor override them.\n"
	"\n"
	"Exit status: 0 records found; 1 no such name, no records of the type,\n"
	"temporary failure or DNSSEC validation failure; 2 bad usage.\n";

size_t cmd_resolver_flags(struct cmd_resolver_opts *o, struct flag *flags)
{
	flags[0] = (struct flag){"server", FLAG_STRING, &o->server,
	                         "send all queries to IP or IP@PORT"};
	flags[1] = (struct flag){"trust-anchor", FLAG_STRING, &o->trust_anchor,
	                         "file of DNSSEC trust anchors (DS or DNSKEY lines)"};
	flags[2] = (struct flag){"timeout", FLAG_INT, &o->timeout_s,
	                         "seconds to wait for an answer (default 10)"};
	return CMD_RESOLVER_FLAGS;
}

/* Resolver settings: the config file's when it exists, then the flags. On
 * error prints it and returns -1. *cfg_r is kept for its strings. */
static int resolver_settings(const struct cmd *c, struct cmd_ctx *ctx,
                             const struct cmd_resolver_opts *o, struct config **cfg_r,
                             struct dns_resolver_config *rc)
{
	struct error err;

	memset(rc, 0, sizeof(*rc));
	*cfg_r = NULL;
	if (ctx->config_path != NULL && access(ctx->config_path, F_OK) == 0) {
		if (config_load(ctx->config_path, cfg_r, &err) < 0) {
			cmd_fail(c, "%s", err.msg);
			return -1;
		}
		const struct config_resolver *r = &(*cfg_r)->st.resolver;
		rc->upstreams = (const char *const *)r->upstreams;
		rc->nupstreams = r->nupstreams;
		rc->trust_anchor_file = r->trust_anchor_file;
		rc->no_dnssec = !r->dnssec;
	}
	if (o->server != NULL) {
		rc->upstreams = &o->server;
		rc->nupstreams = 1;
	}
	if (o->trust_anchor != NULL)
		rc->trust_anchor_file = o->trust_anchor;
	rc->timeout_ms = (int)o->timeout_s * 1000;
	return 0;
}

int cmd_resolver_open(const struct cmd *c, struct cmd_ctx *ctx, const struct cmd_resolver_opts *o,
                      struct dns_resolver **res_r, struct config **cfg_r)
{
	if (o->timeout_s < 0 || o->timeout_s > 3600) {
		fprintf(stderr, "tern %s: -timeout must be 0..3600 seconds\n", c->name);
		return CMD_USAGE;
	}
	struct dns_resolver_config rc;
	struct error err;
	if (resolver_settings(c, ctx, o, cfg_r, &rc) < 0)
		return CMD_FAIL;
	if (dns_resolver_new(&rc, res_r, &err) < 0) {
		config_release(cfg_r);
		return cmd_fail(c, "%s", err.msg);
	}
	return CMD_OK;
}

static void print_answer(const struct dns_result *r)
{
	for (size_t i = 0; i < r->nchain; i++)
		printf("%s\n", r->chain[i].text);
	for (size_t i = 0; i < r->nrrs; i++)
		printf("%s\n", r->rrs[i].text);
	if (r->status == DNS_TEMPFAIL || r->status == DNS_INVALID)
		return;
	if (r->security == DNS_SEC_BOGUS)
		printf("dnssec: bogus (%s)\n", r->why_bogus != NULL ? r->why_bogus : "no reason given");
	else
		printf("dnssec: %s\n", dns_security_name(r->security));
}

/* Prints why there are no records; returns the exit status. */
static int report(const struct dns_result *r)
{
	char tb[16];
	const char *type = dns_type_name(r->qtype, tb, sizeof(tb));
	const char *name = r->canonical;

	switch (r->status) {
	case DNS_OK:
		return CMD_OK;
	case DNS_NXDOMAIN:
		return cmd_fail(&cmd_dns_lookup, "%s: no such domain (NXDOMAIN)", name);
	case DNS_NODATA:
		return cmd_fail(&cmd_dns_lookup, "%s: no %s records (NODATA)", name, type);
	case DNS_TEMPFAIL:
		return cmd_fail(&cmd_dns_lookup, "%s %s: temporary failure (TEMPFAIL): %s", r->qname,
		                type, r->error != NULL ? r->error : "unknown");
	case DNS_BOGUS:
		return cmd_fail(&cmd_dns_lookup, "%s %s: DNSSEC validation failed (BOGUS): %s",
		                r->qname, type, r->why_bogus != NULL ? r->why_bogus : "no reason given");
	case DNS_INVALID:
		fprintf(stderr, "tern %s: %s: %s\n", cmd_dns_lookup.name, r->qname, r->error);
		return CMD_USAGE;
	}
	return CMD_FAIL;
}

static enum dns_status lookup(struct dns_resolver *res, uint16_t type, const char *name,
                              struct dns_result **r)
{
	unsigned char addr[16];
	if (type == DNS_TYPE_PTR &&
	    (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1))
		return dns_lookup_ptr(res, name, r);
	return dns_lookup(res, name, type, r);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct cmd_resolver_opts o = {0};
	struct flag flags[CMD_RESOLVER_FLAGS];
	size_t nflags = cmd_resolver_flags(&o, flags);
	uint16_t type;

	if (cmd_parse_flags(&cmd_dns_lookup, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 2)
		return cmd_usage(&cmd_dns_lookup, flags, nflags);
	if (dns_type_parse(argv[0], &type) < 0) {
		fprintf(stderr, "tern %s: unknown record type %s\n", cmd_dns_lookup.name, argv[0]);
		return cmd_usage(&cmd_dns_lookup, flags, nflags);
	}
	struct config *cfg;
	struct dns_resolver *res;
	int code = cmd_resolver_open(&cmd_dns_lookup, ctx, &o, &res, &cfg);
	if (code == CMD_USAGE)
		return cmd_usage(&cmd_dns_lookup, flags, nflags);
	if (code != CMD_OK)
		return code;
	struct dns_result *r;
	lookup(res, type, argv[1], &r);
	print_answer(r);
	fflush(stdout);
	int status = report(r);
	dns_result_free(&r);
	dns_resolver_free(&res);
	config_release(&cfg);
	return status;
}

const struct cmd cmd_dns_lookup = {
	.name = "dns lookup",
	.args = "[-server IP[@PORT]] [-trust-anchor FILE] [-timeout SECONDS] TYPE NAME",
	.summary = "look up DNS records with tern's resolver and show their DNSSEC state",
	.help = help,
	.run = run,
};
