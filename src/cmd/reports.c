/*
 * reports.c: `tern dmarc parsereportmsg [-json] FILE` and `tern tlsrpt
 * parsereportmsg [-json] FILE`: find the DMARC aggregate report (RFC 7489
 * §7.2) or SMTP TLS report (RFC 8460) in a message file and print it,
 * readable or as JSON. Exit 1 when the message holds no report of that kind.
 */
#include "cmd/cmd.h"

#include "core/arena.h"
#include "core/buf.h"
#include "reports/reports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Largest message file read: a report message is far smaller. */
#define PARSEREPORT_FILE_MAX (64u * 1024 * 1024)

static int parsereportmsg(const struct cmd *c, enum report_kind want, struct cmd_ctx *ctx,
                          int argc, char **argv)
{
	bool json = false;
	const struct flag flags[] = {
		{"json", FLAG_BOOL, &json, "print the report as JSON"},
	};
	if (cmd_parse_flags(c, ctx, flags, 1, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(c, flags, 1);
	const char *what = want == REPORT_DMARC ? "a DMARC aggregate report" : "an SMTP TLS report";
	struct buf in;
	buf_init(&in, PARSEREPORT_FILE_MAX);
	int r = cmd_read_file(c, argv[0], &in, PARSEREPORT_FILE_MAX);
	if (r != CMD_OK) {
		buf_free(&in);
		return r;
	}
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct report rep;
	struct error err;
	if (reports_parse_message(in.data, in.len, a, &rep, &err) != 0) {
		r = cmd_fail(c, "%s: not %s message: %s", argv[0], what, err.msg);
	} else if (rep.kind != want) {
		r = cmd_fail(c, "%s: not %s message: it holds %s (see tern %s parsereportmsg)",
		             argv[0], what, rep.kind == REPORT_DMARC ? "a DMARC aggregate report"
		                                                      : "an SMTP TLS report",
		             reports_kind_name(rep.kind));
	} else {
		struct buf out;
		buf_init(&out, BUF_UNBOUNDED);  /* our own output */
		if (json)
			reports_format_json(&rep, &out);
		else
			reports_format_text(&rep, &out);
		fwrite(out.data, 1, out.len, stdout);
		buf_free(&out);
		if (fflush(stdout) != 0)
			r = cmd_fail(c, "writing output: %s", strerror(errno));
	}
	arena_free(&a);
	buf_free(&in);
	return r;
}

static int run_dmarc(struct cmd_ctx *ctx, int argc, char **argv)
{
	return parsereportmsg(&cmd_dmarc_parsereportmsg, REPORT_DMARC, ctx, argc, argv);
}

static int run_tlsrpt(struct cmd_ctx *ctx, int argc, char **argv)
{
	return parsereportmsg(&cmd_tlsrpt_parsereportmsg, REPORT_TLSRPT, ctx, argc, argv);
}

const struct cmd cmd_dmarc_parsereportmsg = {
	.name = "dmarc parsereportmsg",
	.args = "[-json] FILE",
	.summary = "print the DMARC aggregate report in a report message",
	.help = "Reads FILE (\"-\" for standard input), a message as received (RFC 5322), finds\n"
	        "its DMARC aggregate report (RFC 7489 section 7.2: an XML attachment, plain,\n"
	        "gzip or zip), and prints the report: metadata, the published policy, and\n"
	        "each record with its evaluated policy and authentication results. With\n"
	        "-json, prints it as JSON. Exits 1 when the message holds no DMARC aggregate\n"
	        "report or the report is malformed; the reason is printed.",
	.run = run_dmarc,
};

const struct cmd cmd_tlsrpt_parsereportmsg = {
	.name = "tlsrpt parsereportmsg",
	.args = "[-json] FILE",
	.summary = "print the SMTP TLS report in a report message",
	.help = "Reads FILE (\"-\" for standard input), a message as received (RFC 5322), finds\n"
	        "its SMTP TLS report (RFC 8460: application/tlsrpt+gzip or\n"
	        "application/tlsrpt+json), and prints the report: organization, period, and\n"
	        "each policy with its session counts and failure details. With -json, prints\n"
	        "it as JSON. Exits 1 when the message holds no TLS report or the report is\n"
	        "malformed; the reason is printed.",
	.run = run_tlsrpt,
};
