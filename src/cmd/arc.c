/*
 * arc.c: the ARC commands (src/arc/, RFC 8617):
 *
 *   tern arc verify [resolver flags] FILE   the chain's result, per instance
 *   tern arc sign -domain D -selector S -key FILE -authserv-id ID
 *                 [-ar TEXT] [-headers A:B] [-t SECONDS] MSGFILE
 *                                           the new ARC set, to prepend
 */
#include "arc/arc.h"
#include "cmd/cmd.h"
#include "config/config.h"
#include "dns/dns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest message these commands read: far past real mail. */
#define ARC_CMD_FILE_MAX (256u * 1024 * 1024)

static void print_result(struct arena *a, const struct arc_result *r)
{
	printf("%s\n  %s\n", arc_result_authres(a, r, NULL), r->reason);
	for (size_t k = 0; k < r->ninstances; k++) {
		const struct arc_instance *in = &r->instances[k];
		printf("  i=%u authserv-id=%s seal d=%s s=%s cv=%s ams d=%s%s\n", in->i,
		       in->authserv_id != NULL ? in->authserv_id : "?",
		       in->seal_domain != NULL ? in->seal_domain : "?",
		       in->seal_selector != NULL ? in->seal_selector : "?", arc_status_name(in->cv),
		       in->ams_domain != NULL ? in->ams_domain : "?", in->ams_pass ? " (ams pass)" : "");
	}
}

static int run_verify(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_arc_verify;
	struct cmd_resolver_opts o = {0};
	struct flag flags[CMD_RESOLVER_FLAGS];
	size_t nflags = cmd_resolver_flags(&o, flags);
	if (cmd_parse_flags(c, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(c, flags, nflags);
	struct buf msg;
	buf_init(&msg, ARC_CMD_FILE_MAX);
	if (cmd_read_file(c, argv[0], &msg, ARC_CMD_FILE_MAX) != CMD_OK) {
		buf_free(&msg);
		return CMD_FAIL;
	}
	struct config *cfg;
	struct dns_resolver *res;
	int code = cmd_resolver_open(c, ctx, &o, &res, &cfg);
	if (code != CMD_OK) {
		buf_free(&msg);
		return code == CMD_USAGE ? cmd_usage(c, flags, nflags) : code;
	}
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	struct arc_verify_opts vo = {.lookup = dkim_dns_lookup, .lookup_ctx = res};
	struct arc_result r;
	arc_verify(a, msg.data != NULL ? msg.data : "", msg.len, &vo, &r);
	print_result(a, &r);
	fflush(stdout);
	int ret = r.status == ARC_PASS ? CMD_OK : CMD_FAIL;
	arena_free(&a);
	buf_free(&msg);
	dns_resolver_free(&res);
	config_release(&cfg);
	return ret;
}

static int run_sign(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_arc_sign;
	const char *domain = NULL, *selector = NULL, *keyfile = NULL, *authserv_id = NULL;
	const char *ar = NULL, *headers = NULL;
	long t = 0;
	struct cmd_resolver_opts o = {0};
	struct flag flags[7 + CMD_RESOLVER_FLAGS] = {
		{"domain", FLAG_STRING, &domain, "signing domain (d=)"},
		{"selector", FLAG_STRING, &selector, "selector (s=)"},
		{"key", FLAG_STRING, &keyfile, "PEM private key file, RSA or Ed25519"},
		{"authserv-id", FLAG_STRING, &authserv_id, "our authserv-id, for the AAR"},
		{"ar", FLAG_STRING, &ar, "our results (after \"authserv-id;\"); default: those of "
		                         "the message's Authentication-Results with our authserv-id"},
		{"headers", FLAG_STRING, &headers, "colon-separated header names for h= "
		                                   "(default: DKIM's set)"},
		{"t", FLAG_INT, &t, "signing time t= (default: now)"},
	};
	size_t nflags = 7 + cmd_resolver_flags(&o, flags + 7);
	if (cmd_parse_flags(c, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1 || domain == NULL || selector == NULL || keyfile == NULL ||
	    authserv_id == NULL || t < 0)
		return cmd_usage(c, flags, nflags);
	struct error err;
	struct dkim_private_key *key = NULL;
	if (dkim_private_key_load(keyfile, &key, &err) < 0)
		return cmd_fail(c, "%s", err.msg);
	struct buf msg;
	buf_init(&msg, ARC_CMD_FILE_MAX);
	if (cmd_read_file(c, argv[0], &msg, ARC_CMD_FILE_MAX) != CMD_OK) {
		buf_free(&msg);
		dkim_private_key_free(&key);
		return CMD_FAIL;
	}
	struct config *cfg;
	struct dns_resolver *res;
	int code = cmd_resolver_open(c, ctx, &o, &res, &cfg);
	if (code != CMD_OK) {
		buf_free(&msg);
		dkim_private_key_free(&key);
		return code == CMD_USAGE ? cmd_usage(c, flags, nflags) : code;
	}
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	const char *data = msg.data != NULL ? msg.data : "";
	struct arc_verify_opts vo = {.lookup = dkim_dns_lookup, .lookup_ctx = res};
	struct arc_result chain;
	arc_verify(a, data, msg.len, &vo, &chain);
	const char **names = NULL;
	size_t nnames = 0;
	if (headers != NULL) {
		char *hs = arena_strdup(a, headers);
		names = arena_alloc(a, DKIM_MAX_SIGNED_HEADERS * sizeof(*names));
		for (char *tok = strtok(hs, ":"); tok != NULL && nnames < DKIM_MAX_SIGNED_HEADERS;
		     tok = strtok(NULL, ":"))
			names[nnames++] = tok;
	}
	if (ar == NULL)
		ar = arc_collect_authres(a, data, msg.len, authserv_id);
	struct arc_sealer s = {.domain = domain, .selector = selector, .key = key,
	                       .headers = names, .nheaders = nnames};
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);   /* three fields of our own making */
	int r = arc_seal(data, msg.len, &chain, &s, authserv_id, ar, t, &out, &err);
	int ret = CMD_OK;
	if (r < 0)
		ret = cmd_fail(c, "%s", err.msg);
	else if (r == 1)
		fprintf(stderr, "tern %s: not sealed: the most recent ARC-Seal has cv=fail\n", c->name);
	else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		ret = cmd_fail(c, "writing: %s", strerror(errno));
	buf_free(&out);
	arena_free(&a);
	buf_free(&msg);
	dkim_private_key_free(&key);
	dns_resolver_free(&res);
	config_release(&cfg);
	return ret;
}

const struct cmd cmd_arc_verify = {
	.name = "arc verify",
	.args = "[-server IP[@PORT]] [-trust-anchor FILE] [-timeout SECONDS] FILE",
	.summary = "validate the ARC chain of a message",
	.help = "Validates the ARC chain (RFC 8617 §5.2) of the message in FILE (\"-\": stdin),\n"
	        "looking up keys with tern's resolver, and prints the Authentication-Results\n"
	        "text (arc=none, pass or fail), the reason, and per instance the AAR's\n"
	        "authserv-id and the seal's domain. Exit status: 0 on pass, 1 otherwise.\n",
	.run = run_verify,
};

const struct cmd cmd_arc_sign = {
	.name = "arc sign",
	.args = "-domain D -selector S -key FILE -authserv-id ID [-ar TEXT] [-headers A:B] "
	        "[-t SECONDS] [resolver flags] MSGFILE",
	.summary = "seal a message with a new ARC set",
	.help = "Validates the message's ARC chain, then prints the next ARC set\n"
	        "(ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results, RFC 8617\n"
	        "§5.1) to prepend to it. cv= is none, pass or fail after the chain; a chain\n"
	        "whose latest seal already says cv=fail is not extended.\n",
	.run = run_sign,
};
