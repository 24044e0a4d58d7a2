/*
 * dmarcout.c: `tern dmarc composereports` and `tern dmarc outgoing`:
 * outgoing DMARC aggregate reports (src/reports/aggregate.h) from the
 * evaluations recorded in DATA/tern.db, and the composed messages waiting
 * for the outbound queue.
 */
#include "cmd/cmd.h"

#include "config/config.h"
#include "core/arena.h"
#include "dkim/dkim.h"
#include "dns/dns.h"
#include "reports/aggregate.h"
#include "store/globaldb.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* DKIM-signs a report (RFC 7489 §7.2.1.1) with the DKIM.Sign selectors of
 * its From domain, as the server does; unsigned when it has none. */
static int sign_report(void *arg, const char *from_domain, const char *msg, size_t len,
                       struct buf *hdr, struct error *err)
{
	return dkim_sign_for(arg, from_domain, msg, len, hdr, err);
}

static int compose_run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_dmarc_composereports;
	long now = 0;
	const char *from = NULL;
	struct cmd_resolver_opts ro = {0};
	struct flag flags[2 + CMD_RESOLVER_FLAGS] = {
		{"now", FLAG_INT, &now, "the time, seconds since the epoch (default: now)"},
		{"from", FLAG_STRING, &from, "reporting address (default postmaster@HOSTNAME)"},
	};
	size_t nflags = 2 + cmd_resolver_flags(&ro, flags + 2);
	if (cmd_parse_flags(c, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0 || now < 0)
		return cmd_usage(c, flags, nflags);
	struct dns_resolver *res;
	struct config *rcfg;
	int code = cmd_resolver_open(c, ctx, &ro, &res, &rcfg);
	if (code == CMD_USAGE)
		return cmd_usage(c, flags, nflags);
	if (code != CMD_OK)
		return code;
	struct config *cfg = NULL;
	struct error err;
	struct globaldb *db = NULL;
	int r = CMD_OK;
	if (config_load(ctx->config_path, &cfg, &err) != 0) {
		r = cmd_fail(c, "%s", err.msg);
		goto out;
	}
	if (globaldb_open(cfg->st.data_dir, &db, &err) != 0) {
		r = cmd_fail(c, "%s", err.msg);
		goto out;
	}
	char fromb[1100];
	if (from == NULL) {
		snprintf(fromb, sizeof(fromb), "postmaster@%s", cfg->st.hostname);
		from = fromb;
	}
	struct reports_sender s = {.org_name = cfg->st.hostname, .from = from,
	                           .hostname = cfg->st.hostname, .sign = sign_report, .sign_arg = cfg};
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
	globaldb_close(&db);
	config_release(&cfg);
	dns_resolver_free(&res);
	config_release(&rcfg);
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
	struct error err;
	if (config_load(ctx->config_path, &cfg, &err) != 0)
		return cmd_fail(c, "%s", err.msg);
	struct globaldb *db;
	if (globaldb_open(cfg->st.data_dir, &db, &err) != 0) {
		config_release(&cfg);
		return cmd_fail(c, "%s", err.msg);
	}
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct globaldb_outgoing *l;
	size_t n;
	int r = CMD_OK;
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
	globaldb_close(&db);
	config_release(&cfg);
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
