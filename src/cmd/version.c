/*
 * version.c: `tern version`, the version of tern and of the libraries it runs with.
 */
#include "cmd/cmd.h"
#include "tern_version.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <unbound.h>
#include <yaml.h>

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_version, ctx, argc, argv) != 0)
		return CMD_USAGE;
	printf("tern %s\n", TERN_VERSION);
	printf("openssl %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	printf("libunbound %s\n", ub_version());
	printf("libyaml %s\n", yaml_get_version_string());
	return CMD_OK;
}

const struct cmd cmd_version = {
	.name = "version",
	.args = "",
	.summary = "print the version of tern and its libraries",
	.help = NULL,
	.run = run,
};
