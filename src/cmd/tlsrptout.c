/*
 * tlsrptout.c: `tern tlsrpt composereports` and `tern tlsrpt results`:
 * outgoing SMTP TLS reports (RFC 8460, src/reports/tlsrpt_out.h) from the
 * TLS results the outbound queue recorded in DATA/tern.db.
 */
#include "cmd/cmd.h"
#include "cmd/reportcmd.h"

#include "config/config.h"
#include "core/arena.h"
#include "dns/dns.h"
#include "reports/tlsrpt_out.h"
#include "store/globaldb.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* "YYYY-MM-DD" as its UTC midnight; -1 when it is not a date. */
static int64_t parse_date(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0' || strlen(s) != 10)
		return -1;
	return (int64_t)timegm(&tm);
}

static void fmt_day(int64_t t, char *b, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(b, n, "%Y-%m-%d", &tm);
}

struct compose_args {
	long now;
	const char *date, *from, *ca_file;
};

static int compose_with(const struct cmd *c, struct cmd_ctx *ctx, const struct compose_args *ca,
                        struct dns_resolver *res)
{
	int64_t now = ca->now > 0 ? (int64_t)ca->now : (int64_t)time(NULL);
	int64_t day = 0;
	if (ca->date != NULL && (day = parse_date(ca->date)) < 0)
		return cmd_fail(c, "-date %s: not a date YYYY-MM-DD", ca->date);
	if (day != 0 && day + 86400 > now)
		return cmd_fail(c, "-date %s: the day has not ended (RFC 8460 §4.1: whole UTC days)",
		                ca->date);
	struct config *cfg;
	struct globaldb *db;
	struct error err;
	int r = reportcmd_open(c, ctx, &cfg, &db);
	if (r != CMD_OK)
		return r;
	char fromb[1100];
	/* RFC 8460 §5.3: the report is DKIM-signed as the server signs. */
	struct reports_sender s = reportcmd_sender(cfg, ca->from, fromb, sizeof(fromb));
	struct reports_tlsrpt_https https = {.resolver = res, .ca_file = ca->ca_file};
	struct reports_tlsrpt_io io = {reports_tlsrpt_lookup_dns, reports_tlsrpt_post_https, res,
	                               &https};
	struct reports_tlsrpt_stats st = {0};
	if (reports_tlsrpt_compose_due(db, &io, &s, now, day, &st, &err) != 0) {
		r = cmd_fail(c, "%s", err.msg);
		goto out;
	}
	printf("composed %u reports, %u days without a report, %u postponed; https: %u posted, "
	       "%u failed\n", st.composed, st.no_destination, st.postponed, st.posted,
	       st.post_failed);
out:
	reportcmd_close(&cfg, &db);
	return r;
}

static int compose_run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_tlsrpt_composereports;
	struct compose_args ca = {0};
	struct flag flags[4 + CMD_RESOLVER_FLAGS] = {
		{"date", FLAG_STRING, &ca.date, "compose only this day, YYYY-MM-DD (UTC)"},
		{"now", FLAG_INT, &ca.now, "the time, seconds since the epoch (default: now)"},
		{"from", FLAG_STRING, &ca.from, "reporting address (default postmaster@HOSTNAME)"},
		{"ca-file", FLAG_STRING, &ca.ca_file, "CA certificates for https destinations "
		 "(default: the system's)"},
	};
	struct dns_resolver *res;
	struct config *rcfg;
	int r = reportcmd_compose_args(c, ctx, flags, 4, &ca.now, argc, argv, &res, &rcfg);
	if (r != CMD_OK)
		return r;
	r = compose_with(c, ctx, &ca, res);
	reportcmd_resolver_close(&res, &rcfg);
	return r;
}

static void print_result(const struct globaldb_tlsrpt_result *r)
{
	char day[16];
	fmt_day(r->day, day, sizeof(day));
	printf("%s %s policy=%s mx=%s successful=%" PRId64 " failed=%" PRId64 "\n", day,
	       r->policy_domain, r->policy_type, r->mx_host[0] != '\0' ? r->mx_host : "-",
	       r->successful, r->failed);
	if (r->policy_strings[0] != '\0')
		printf("  policy-string: %s\n", r->policy_strings);
	for (size_t i = 0; i < r->nfailures; i++) {
		const struct globaldb_tlsrpt_failure *f = &r->failures[i];
		printf("  failure %s count=%" PRId64, f->result_type, f->count);
		if (f->receiving_mx_hostname != NULL)
			printf(" receiving-mx-hostname=%s", f->receiving_mx_hostname);
		if (f->receiving_ip != NULL)
			printf(" receiving-ip=%s", f->receiving_ip);
		if (f->sending_mta_ip != NULL)
			printf(" sending-mta-ip=%s", f->sending_mta_ip);
		if (f->additional_info != NULL)
			printf(" additional-information=%s", f->additional_info);
		printf("\n");
	}
}

static void print_sent(const struct globaldb_tlsrpt_out *o)
{
	char day[16];
	fmt_day(o->begin, day, sizeof(day));
	printf("%s %s report-id=%s gzip=%zu outgoing=%" PRId64 "\n", day, o->domain,
	       o->report_id[0] != '\0' ? o->report_id : "-", o->gzlen, o->outgoing);
	for (size_t i = 0; i < o->nposts; i++)
		printf("  post %s %s attempts=%u%s%s\n", o->posts[i].uri, o->posts[i].status,
		       o->posts[i].attempts, o->posts[i].detail != NULL ? ": " : "",
		       o->posts[i].detail != NULL ? o->posts[i].detail : "");
	if (o->note != NULL)
		printf("  note: %s\n", o->note);
}

static int results_run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd *c = &cmd_tlsrpt_results;
	const char *domain = NULL;
	bool sent = false;
	const struct flag flags[] = {
		{"domain", FLAG_STRING, &domain, "only this policy domain"},
		{"sent", FLAG_BOOL, &sent, "list the composed reports instead"},
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
	struct error err;
	size_t n;
	if (sent) {
		struct globaldb_tlsrpt_out *l;
		if (globaldb_tlsrpt_out_list(db, a, &l, &n, &err) != 0)
			r = cmd_fail(c, "%s", err.msg);
		for (size_t i = 0; r == CMD_OK && i < n; i++)
			if (domain == NULL || strcasecmp(domain, l[i].domain) == 0)
				print_sent(&l[i]);
	} else {
		struct globaldb_tlsrpt_result *l;
		if (globaldb_tlsrpt_results(db, domain, 0, a, &l, &n, &err) != 0)
			r = cmd_fail(c, "%s", err.msg);
		for (size_t i = 0; r == CMD_OK && i < n; i++)
			print_result(&l[i]);
	}
	arena_free(&a);
	reportcmd_close(&cfg, &db);
	return r;
}

const struct cmd cmd_tlsrpt_composereports = {
	.name = "tlsrpt composereports",
	.args = "[-date YYYY-MM-DD] [-now UNIXTIME] [-from ADDRESS] [-ca-file FILE] "
	        "[-server IP[@PORT]] [-trust-anchor FILE] [-timeout SECONDS]",
	.summary = "compose and send the SMTP TLS reports of the days that have ended",
	.help = "Composes outgoing SMTP TLS reports (RFC 8460) from the TLS results of\n"
	        "outbound deliveries that the queue recorded in DATA/tern.db (DataDir of\n"
	        "-config): one report per recipient domain and UTC day, for every day\n"
	        "before the one holding -now (with -date, that day only). The report goes\n"
	        "to the rua= destinations of the domain's \"_smtp._tls\" TXT record (looked\n"
	        "up with the resolver: Resolver section of the config file, -server,\n"
	        "-trust-anchor): mailto: as a DKIM-signed message From the reporting\n"
	        "address (-from, default postmaster@Hostname) waiting in tern.db for the\n"
	        "outbound queue (see tern dmarc outgoing -all), https: POSTed at once as\n"
	        "application/tlsrpt+gzip (a failed POST is tried again by later runs for\n"
	        "24 hours). A domain without a record gets no report. The\n"
	        "results reported are deleted; running it again composes nothing new. The\n"
	        "server does the same after each UTC midnight.",
	.run = compose_run,
};

const struct cmd cmd_tlsrpt_results = {
	.name = "tlsrpt results",
	.args = "[-domain DOMAIN] [-sent]",
	.summary = "show the recorded TLS results of outbound deliveries",
	.help = "Lists the TLS results of outbound delivery attempts recorded in\n"
	        "DATA/tern.db and not yet reported (RFC 8460): per day (UTC), recipient\n"
	        "domain, policy type and MX host, the successful and failed session counts\n"
	        "and the failure details. -sent lists the composed reports instead: report\n"
	        "id, gzip size, the outgoing message id (0: none), https posts and notes.",
	.run = results_run,
};
