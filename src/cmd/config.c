/*
 * config.c: `tern config test`, `tern config describe-static` and
 * `tern config describe-dynamic`.
 *
 * `config test` loads tern.conf and the domains.conf beside it as `serve`
 * would and reports the first problem as "FILE:LINE:COL: Field.Path: problem"
 * on stderr (exit 1), or "config OK" with counts (exit 0). The describe
 * commands print an example file with every field documented, generated from
 * the same schema tables that parse the files.
 */
#include "cmd/cmd.h"
#include "config/config.h"

#include <stdio.h>

static int run_test(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_config_test, ctx, argc, argv) != 0)
		return CMD_USAGE;
	struct config *cfg;
	struct error err;
	if (config_load(ctx->config_path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return CMD_FAIL;
	}
	printf("config OK: %zu domains, %zu accounts, %zu listeners\n",
	       cfg->dyn.ndomains, cfg->dyn.naccounts, cfg->st.nlisteners);
	config_release(&cfg);
	return CMD_OK;
}

static int describe(const struct cmd *c, void (*print)(FILE *), struct cmd_ctx *ctx,
                    int argc, char **argv)
{
	if (cmd_no_args(c, ctx, argc, argv) != 0)
		return CMD_USAGE;
	print(stdout);
	if (fflush(stdout) != 0)
		return cmd_fail(c, "cannot write the output");
	return CMD_OK;
}

static int run_describe_static(struct cmd_ctx *ctx, int argc, char **argv)
{
	return describe(&cmd_config_describe_static, config_describe_static, ctx, argc, argv);
}

static int run_describe_dynamic(struct cmd_ctx *ctx, int argc, char **argv)
{
	return describe(&cmd_config_describe_dynamic, config_describe_dynamic, ctx, argc, argv);
}

const struct cmd cmd_config_test = {
	.name = "config test",
	.args = "",
	.summary = "check tern.conf and domains.conf and report the first problem",
	.help = "Loads the configuration file given with -config (default config/tern.conf)\n"
	        "and domains.conf in the same directory, and checks every field: types,\n"
	        "ranges, references between them, and that TLS files exist. Prints\n"
	        "\"config OK\" with counts, or the first problem as\n"
	        "FILE:LINE:COL: Field.Path: problem and exits 1.",
	.run = run_test,
};

const struct cmd cmd_config_describe_static = {
	.name = "config describe-static",
	.args = "",
	.summary = "print an example tern.conf with every field documented",
	.help = "Prints tern.conf with each field, its type, default and bounds, and an\n"
	        "example value. The output is a valid tern.conf.",
	.run = run_describe_static,
};

const struct cmd cmd_config_describe_dynamic = {
	.name = "config describe-dynamic",
	.args = "",
	.summary = "print an example domains.conf with every field documented",
	.help = "Prints domains.conf with each field, its type, default and bounds, and an\n"
	        "example value. The output is a valid domains.conf.",
	.run = run_describe_dynamic,
};
