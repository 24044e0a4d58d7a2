/*
 * reportcmd.c: the configuration, DATA/tern.db and sender of the commands on
 * outgoing reports (see reportcmd.h).
 */
#include "cmd/reportcmd.h"

#include "dkim/dkim.h"
#include "dns/dns.h"

#include <stdio.h>

int reportcmd_compose_args(const struct cmd *c, struct cmd_ctx *ctx, struct flag *flags,
                           size_t n, const long *now, int argc, char **argv,
                           struct dns_resolver **res_r, struct config **rcfg_r)
{
	struct cmd_resolver_opts ro = {0};
	size_t nflags = n + cmd_resolver_flags(&ro, flags + n);
	if (cmd_parse_flags(c, ctx, flags, nflags, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0 || *now < 0)
		return cmd_usage(c, flags, nflags);
	int code = cmd_resolver_open(c, ctx, &ro, res_r, rcfg_r);
	return code == CMD_USAGE ? cmd_usage(c, flags, nflags) : code;
}

void reportcmd_resolver_close(struct dns_resolver **res, struct config **rcfg)
{
	dns_resolver_free(res);
	config_release(rcfg);
}

int reportcmd_open(const struct cmd *c, struct cmd_ctx *ctx, struct config **cfg_r,
                   struct globaldb **db_r)
{
	*cfg_r = NULL;
	*db_r = NULL;
	struct error err;
	if (config_load(ctx->config_path, cfg_r, &err) != 0)
		return cmd_fail(c, "%s", err.msg);
	if (globaldb_open((*cfg_r)->st.data_dir, db_r, &err) != 0) {
		config_release(cfg_r);
		return cmd_fail(c, "%s", err.msg);
	}
	return CMD_OK;
}

void reportcmd_close(struct config **cfg, struct globaldb **db)
{
	globaldb_close(db);
	config_release(cfg);
}

static int sign_report(void *arg, const char *from_domain, const char *msg, size_t len,
                       struct buf *hdr, struct error *err)
{
	return dkim_sign_for(arg, from_domain, msg, len, hdr, err);
}

struct reports_sender reportcmd_sender(struct config *cfg, const char *from, char *fromb,
                                       size_t n)
{
	if (from == NULL) {
		snprintf(fromb, n, "postmaster@%s", cfg->st.hostname);
		from = fromb;
	}
	return (struct reports_sender){.org_name = cfg->st.hostname, .from = from,
	                               .hostname = cfg->st.hostname, .sign = sign_report,
	                               .sign_arg = cfg};
}
