/*
 * spf.c: `tern spf check DOMAIN IP`, one RFC 7208 check_host() through
 * tern's own resolver (src/spf/ over src/dns/), printed for people and for
 * tests: the result, the mechanism that matched or the problem, the
 * explanation of a fail, and the Received-SPF header the server would add.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "dns/dns.h"
#include "spf/spf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"Evaluates the SPF record of DOMAIN for a client at IP (RFC 7208 check_host())\n"
	"and prints, one per line:\n"
	"\n"
	"  result: fail\n"
	"  mechanism: -all               the directive that matched, if one did\n"
	"  problem: ...                  why: temperror, permerror, none\n"
	"  explanation: ...              a fail's exp= text, when the domain has one\n"
	"  lookups: 3                    DNS-querying terms used (10 allowed)\n"
	"  Received-SPF: fail (...) ...  the header field (RFC 7208 §9.1)\n"
	"  Authentication-Results: spf=fail smtp.mailfrom=...  (RFC 8601 resinfo)\n"
	"\n"
	"-sender is the MAIL FROM address (for the %{s} %{l} %{o} macros); empty or\n"
	"absent means the null path <>, and then the sender is postmaster@HELO.\n"
	"-helo is the HELO/EHLO name (%{h}); -receiver our host name (%{r}, default\n"
	"this host's name). The resolver is tern's own: -server, -trust-anchor and\n"
	"-timeout as for `tern dns lookup`.\n"
	"\n"
	"Exit status: 0 when the check was evaluated, whatever its result (also\n"
	"none, temperror and permerror); 1 when it could not be run (resolver set-up\n"
	"failed); 2 bad usage (including an IP that is not an address).\n";

static void print_line(const char *key, const char *value)
{
	if (value == NULL)
		return;
	printf("%s: ", key);
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
	putchar('\n');
}

/* The header with its CRLFs as plain newlines, for a terminal. */
static void print_header(const char *h)
{
	for (const char *p = h; *p != '\0'; p++)
		if (*p != '\r')
			putchar(*p);
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct cmd_resolver_opts o = {0};
	const char *helo = NULL, *sender = NULL, *receiver = NULL;
	struct flag flags[CMD_RESOLVER_FLAGS + 3];
	size_t nflags = cmd_resolver_flags(&o, flags);
	flags[nflags++] = (struct flag){"helo", FLAG_STRING, &helo, "HELO/EHLO name of the client"};
	flags[nflags++] = (struct flag){"sender", FLAG_STRING, &sender,
	                                "MAIL FROM address; empty: the null path"};
	flags[nflags++] = (struct flag){"receiver", FLAG_STRING, &receiver,
	                                "our host name for %{r} and Received-SPF"};
	if (cmd_parse_flags(&cmd_spf_check, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 2)
		return cmd_usage(&cmd_spf_check, flags, nflags);
	unsigned char addr[16];
	if (inet_pton(AF_INET, argv[1], addr) != 1 && inet_pton(AF_INET6, argv[1], addr) != 1) {
		fprintf(stderr, "tern %s: not an IP address: %s\n", cmd_spf_check.name, argv[1]);
		return cmd_usage(&cmd_spf_check, flags, nflags);
	}
	char host[256];
	if (receiver == NULL && gethostname(host, sizeof(host) - 1) == 0) {
		host[sizeof(host) - 1] = '\0';
		receiver = host;
	}
	struct config *cfg;
	struct dns_resolver *res;
	int code = cmd_resolver_open(&cmd_spf_check, ctx, &o, &res, &cfg);
	if (code == CMD_USAGE)
		return cmd_usage(&cmd_spf_check, flags, nflags);
	if (code != CMD_OK)
		return code;

	struct spf_request rq = {.ip = argv[1], .helo = helo, .mail_from = sender,
	                         .receiver = receiver};
	struct spf_outcome out;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	spf_check_host(res, &rq, argv[0], a, &out);
	print_line("result", spf_result_name(out.result));
	print_line("mechanism", out.mechanism);
	print_line("problem", out.problem);
	print_line("explanation", out.explanation);
	printf("lookups: %u\n", out.lookups);
	struct buf h;
	buf_init(&h, BUF_UNBOUNDED);
	spf_received_header(&h, &rq, &out, SPF_ID_MAILFROM);
	print_header(h.data);
	printf("Authentication-Results: %s\n", spf_authres(a, &out, SPF_ID_MAILFROM));
	buf_free(&h);
	arena_free(&a);
	dns_resolver_free(&res);
	config_release(&cfg);
	return CMD_OK;
}

const struct cmd cmd_spf_check = {
	.name = "spf check",
	.args = "[-helo NAME] [-sender ADDR] [-receiver NAME] [-server IP[@PORT]] "
	        "[-trust-anchor FILE] [-timeout SECONDS] DOMAIN IP",
	.summary = "evaluate a domain's SPF record for a client IP (RFC 7208)",
	.help = help,
	.run = run,
};
