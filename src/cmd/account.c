/*
 * account.c: `tern account add|rm|list`.
 *
 * Changes go through the running server's control socket when one runs, so
 * that it rewrites domains.conf and reloads while its sessions go on; when
 * none runs the command makes the same change itself. Both paths run the same
 * handlers (account_ctl_commands, also served by serve.c).
 */
#include "cmd/cmd.h"
#include "cmd/serve.h"

#include "config/config.h"
#include "ctl/ctl.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>

/* One writer of domains.conf at a time within this process. */
static pthread_mutex_t change_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs change on the current snapshot, then reloads. */
static int change_config(int (*change)(const struct config *, char **, struct error *),
                         char **args, struct error *err)
{
	pthread_mutex_lock(&change_lock);
	struct config *cfg = config_acquire();
	int r = cfg != NULL ? change(cfg, args, err) : error_set(err, ERR_INVALID, "no configuration");
	config_release(&cfg);
	if (r == 0)
		r = config_reload(err);
	pthread_mutex_unlock(&change_lock);
	return r;
}

static int do_add(const struct config *cfg, char **args, struct error *err)
{
	return config_account_add(cfg, args[0], args[1], err);
}

static int do_remove(const struct config *cfg, char **args, struct error *err)
{
	return config_account_remove(cfg, args[0], err);
}

static int ctl_account_add(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	if (change_config(do_add, argv + 1, err) != 0)
		return -1;
	buf_appendf(out, "account %s added with address %s", argv[1], argv[2]);
	return 0;
}

static int ctl_account_remove(void *arg, int argc, char **argv, struct buf *out,
                              struct error *err)
{
	if (change_config(do_remove, argv + 1, err) != 0)
		return -1;
	struct config *cfg = config_acquire();
	buf_appendf(out, "account %s removed from %s; its data stays in %s/accounts/%s",
	            argv[1], cfg->dynamic_path, cfg->st.data_dir, argv[1]);
	config_release(&cfg);
	return 0;
}

/* Another process (import) changed the account's store: wake its watchers. */
static int ctl_account_changed(void *arg, int argc, char **argv, struct buf *out,
                               struct error *err)
{
	struct config *cfg = config_acquire();
	struct store_account *acct = NULL;
	int r = config_find_account(cfg, argv[1]) == NULL
		? error_set(err, ERR_NOTFOUND, "no account \"%s\"", argv[1])
		: store_open(cfg->st.data_dir, argv[1], &acct, err);
	if (r == 0) {
		store_notify_outside_change(acct);
		buf_appendf(out, "sessions of account %s told of the change", argv[1]);
	}
	store_close(&acct);
	config_release(&cfg);
	return r;
}

const struct ctl_command account_ctl_commands[ACCOUNT_CTL_COMMANDS] = {
	{"account-add", 2, 2, ctl_account_add},
	{"account-rm", 1, 1, ctl_account_remove},
	{"account-changed", 1, 1, ctl_account_changed},
};

static int run_add(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(&cmd_account_add, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 2)
		return cmd_usage(&cmd_account_add, NULL, 0);
	const char *args[] = {"account-add", argv[0], argv[1]};
	return serve_ctl_or_local(&cmd_account_add, ctx->config_path, 3, args,
	                          &account_ctl_commands[0]);
}

const struct cmd cmd_account_add = {
	.name = "account add",
	.args = "NAME ADDRESS",
	.summary = "add an account receiving mail for ADDRESS",
	.help = "Adds account NAME to domains.conf with one address, ADDRESS, whose domain must\n"
	        "already be configured. Set its password with \"tern setaccountpassword NAME\".\n"
	        "With a server running, the server makes the change and reloads; otherwise\n"
	        "the file is changed directly. domains.conf is written anew: comments in it\n"
	        "are not kept.",
	.run = run_add,
};

static int run_rm(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_parse_flags(&cmd_account_rm, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 1)
		return cmd_usage(&cmd_account_rm, NULL, 0);
	const char *args[] = {"account-rm", argv[0]};
	return serve_ctl_or_local(&cmd_account_rm, ctx->config_path, 2, args,
	                          &account_ctl_commands[1]);
}

const struct cmd cmd_account_rm = {
	.name = "account rm",
	.args = "NAME",
	.summary = "remove an account from domains.conf (its mail is kept on disk)",
	.help = "Removes account NAME and its addresses from domains.conf. Its messages are\n"
	        "not deleted: they stay in DATADIR/accounts/NAME until removed by hand.",
	.run = run_rm,
};

static int run_list(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_account_list, ctx, argc, argv) != 0)
		return CMD_USAGE;
	struct config *cfg;
	struct error err;
	if (config_load(ctx->config_path, &cfg, &err) != 0)
		return cmd_fail(&cmd_account_list, "%s", err.msg);
	for (size_t i = 0; i < cfg->dyn.naccounts; i++) {
		const struct config_account *a = &cfg->dyn.accounts[i];
		printf("%s", a->name);
		for (size_t j = 0; j < a->ndestinations; j++)
			printf("%s%s", j == 0 ? "\t" : " ", a->destinations[j].address);
		printf("\n");
	}
	config_release(&cfg);
	return CMD_OK;
}

const struct cmd cmd_account_list = {
	.name = "account list",
	.args = "",
	.summary = "list the accounts and their addresses",
	.help = "Prints one line per account of domains.conf: its name, a tab, and its\n"
	        "addresses separated by spaces.",
	.run = run_list,
};
