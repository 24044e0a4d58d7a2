/*
 * dmarcout.c: `tern dmarc composereports` and `tern dmarc outgoing`:
 * outgoing DMARC aggregate reports (src/reports/aggregate.h) from the
 * evaluations recorded in DATA/tern.db, and the composed messages waiting
 * for the outbound queue.
 */
#include "cmd/cmd.h"
#include "cmd/reportcmd.h"

#include "config/config.h"
#include "core/arena.h"
#include "dns/dns.h"
#include "reports/aggregate.h"
#include "store/globaldb.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int compose_run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_dmarc_composereports;
	long now = 0;
	const char *from = NULL;
	struct flag flags[2 + CMD_RESOLVER_FLAGS] = {
		{"now", FLAG_INT, &now, "the time, seconds since the epoch (default: now)"},
		{"from", FLAG_STRING, &from, "reporting address (default postmaster@HOSTNAME)"},
	};
	struct dns_resolver *res;
	struct config *rcfg;
	int r = reportcmd_compose_args(c, ctx, flags, 2, &now, argc, argv, &res, &rcfg);
	if (r != CMD_OK)
		return r;
	struct config *cfg;
	struct globaldb *db;
	struct error err;
	r = reportcmd_open(c, ctx, &cfg, &db);
	if (r != CMD_OK)
		goto out;
	char fromb[1100];
	struct reports_sender s = reportcmd_sender(cfg, from, fromb, sizeof(fromb));
	struct reports_compose_stats st = {0};
	if (reports_dmarc_compose_due_with(db, reports_dmarc_verify_dns, res, &s,
	                                   now > 0 ? (int64_t)now : (int64_t)time(NULL), &st,
	                                   &err) != 0) {
		r = cmd_fail(c, "%s", err.msg);
		goto out;
	}
	printf("composed %u reports, %u periods without destination, %u postponed\n", st.composed,
	       st.no_destination, st.postponed);
out:
	reportcmd_close(&cfg, &db);
	reportcmd_resolver_close(&res, &rcfg);
	return r;
}

static int outgoing_run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_dmarc_outgoing;
	bool raw = false;
	long id = 0;
	const struct flag flags[] = {
		{"message", FLAG_INT, &id, "print the stored message of this id instead"},
		{"all", FLAG_BOOL, &raw, "list every status, not only waiting-for-queue"},
	};
	if (cmd_parse_flags(c, ctx, flags, 2, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0)
		return cmd_usage(c, flags, 2);
	struct config *cfg;
	struct globaldb *db;
	int r = reportcmd_open(c, ctx, &cfg, &db);
	if (r != CMD_OK)
		return r;
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct globaldb_outgoing *l;
	size_t n;
	struct error err;
	if (globaldb_outgoing_list(db, raw || id > 0 ? NULL : GLOBALDB_OUTGOING_WAITING, id > 0, a,
	                           &l, &n, &err) != 0) {
		r = cmd_fail(c, "%s", err.msg);
	} else if (id > 0) {
		size_t i = 0;
		while (i < n && l[i].id != id)
			i++;
		if (i == n)
			r = cmd_fail(c, "no outgoing message %ld", id);
		else
			fwrite(l[i].data, 1, l[i].len, stdout);
	} else {
		for (size_t i = 0; i < n; i++) {
			char t[32];
			time_t ct = (time_t)l[i].created;
			struct tm tm;
			gmtime_r(&ct, &tm);
			strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("id=%" PRId64 " created=%s size=%zu status=%s\n", l[i].id, t, l[i].len,
			       l[i].status);
			printf("  to:");
			for (size_t k = 0; k < l[i].nrcpts; k++)
				printf(" %s", l[i].rcpts[k]);
			printf("\n  subject: %s\n", l[i].subject != NULL ? l[i].subject : "");
		}
	}
	arena_free(&a);
	reportcmd_close(&cfg, &db);
	return r;
}

const struct cmd cmd_dmarc_composereports = {
	.name = "dmarc composereports",
	.args = "[-now UNIXTIME] [-from ADDRESS] [-server IP[@PORT]] [-trust-anchor FILE] "
	        "[-timeout SECONDS]",
	.summary = "compose the DMARC aggregate reports whose period has ended",
	.help = "Composes outgoing DMARC aggregate reports (RFC 7489 §7.2) from the\n"
	        "evaluations the server recorded in DATA/tern.db (DataDir of -config): for\n"
	        "each policy domain, every report period (the domain's ri=, default one day,\n"
	        "aligned to UTC midnight) that ended before -now. Each report is gzip'ed\n"
	        "Appendix C XML in a message From the reporting address (-from, default\n"
	        "postmaster@Hostname) To the rua= mailto: destinations; destinations whose\n"
	        "!size limit is too small, or that are external and not authorized by a\n"
	        "v=DMARC1 TXT record at POLICYDOMAIN._report._dmarc.RUADOMAIN (RFC 7489\n"
	        "§7.1, checked with the resolver: Resolver section of the config file,\n"
	        "-server, -trust-anchor), are dropped and logged. The messages wait in\n"
	        "tern.db with status waiting-for-queue (see tern dmarc outgoing); the\n"
	        "evaluations reported are deleted. Running it again composes nothing new.\n"
	        "The server does the same periodically.",
	.run = compose_run,
};

const struct cmd cmd_dmarc_outgoing = {
	.name = "dmarc outgoing",
	.args = "[-all] [-message ID]",
	.summary = "list composed DMARC aggregate reports waiting to be sent",
	.help = "Lists the messages in DATA/tern.db waiting for the outbound queue (with\n"
	        "-all, whatever their status): id, creation time (UTC), size in bytes,\n"
	        "status, recipients and subject. -message ID prints that stored message.",
	.run = outgoing_run,
};
