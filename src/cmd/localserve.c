/*
 * localserve.c: `tern localserve`, a local instance for developers who test
 * their application's email: loopback only, runs as the invoking user, its own
 * directory holding a generated configuration (DIR/config) and data (DIR/data).
 *
 * The first run writes DIR/config/tern.conf, domains.conf and a self-signed
 * certificate for localhost; later runs reuse them, so DIR/config/tern.conf
 * works with every other command through -config.
 */
#include "cmd/cmd.h"
#include "cmd/newconfig.h"
#include "cmd/serve.h"

#include "core/file.h"
#include "core/arena.h"
#include "core/tls.h"
#include "store/store.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The account's password, printed at start (as mox localserve does, a known
 * one: the instance listens on loopback only). */
#define LOCALSERVE_ACCOUNT "tern"
#define LOCALSERVE_PASSWORD "terntern"

static const char domains_conf[] =
	"# Written by tern localserve: one account, tern@localhost.\n"
	"Domains:\n"
	"  localhost:\n"
	"    Description: local test domain\n"
	"Accounts:\n"
	"  tern:\n"
	"    Domain: localhost\n"
	"    FullName: tern localserve\n"
	"    Destinations:\n"
	"      tern@localhost:\n"
	"        Mailbox: Inbox\n";

static const char *current_user(void)
{
	struct passwd *pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_name : "root";
}

/* The listener of localserve: loopback, mox localserve's ports. */
static const char *const local_ips[] = {"127.0.0.1", "::1"};
static const struct newconfig_service local_services[] = {
	{"SMTP", 1025},
	{"Submission", 1587},
	{"Submissions", 1465},
	{"IMAP", 1143},
	{"IMAPS", 1993},
};

/* Writes the configuration of a fresh localserve directory. */
static int write_fresh_config(const char *confdir, struct error *err)
{
	char path[PATH_MAX + 32], cert[PATH_MAX + 32], key[PATH_MAX + 32];
	snprintf(cert, sizeof(cert), "%s/localhost.crt", confdir);
	snprintf(key, sizeof(key), "%s/localhost.key", confdir);
	const char *const names[] = {"localhost"};
	if (tls_selfsigned_write(names, 1, cert, key, err) != 0)
		return -1;
	const struct newconfig nc = {
		.comment = "# Written by tern localserve: loopback only, for testing applications.\n",
		.hostname = "localhost",
		.user = current_user(),
		.listener = "local",
		.ips = local_ips,
		.nips = 2,
		.cert_file = "localhost.crt",
		.key_file = "localhost.key",
		.services = local_services,
		.nservices = sizeof(local_services) / sizeof(local_services[0]),
	};
	char *conf = newconfig_static_text(&nc);
	snprintf(path, sizeof(path), "%s/domains.conf", confdir);
	int r = newconfig_write(path, domains_conf, err);
	snprintf(path, sizeof(path), "%s/tern.conf", confdir);
	if (r == 0)
		r = newconfig_write(path, conf, err);
	free(conf);
	return r;
}

/* Sets the account's password unless it has one (a fresh data directory). */
static int ensure_password(const struct config *cfg, struct error *err)
{
	struct store_account *acct = NULL;
	struct arena *a = arena_new(4096, ARENA_SECRET);
	const char *line;
	int r = store_open(cfg->st.data_dir, LOCALSERVE_ACCOUNT, &acct, err);
	if (r == 0 && store_credentials_get(acct, a, &line, err) != 0)
		r = err->kind == ERR_NOTFOUND ? 1 : -1;
	store_close(&acct);
	arena_free(&a);
	if (r == 1)
		r = account_password_store(cfg, LOCALSERVE_ACCOUNT, LOCALSERVE_PASSWORD,
		                           strlen(LOCALSERVE_PASSWORD), err);
	return r;
}

static void print_usage_notes(const char *confpath)
{
	printf("tern localserve: loopback only; every message submitted, and every message\n"
	       "received on port 1025 whatever its recipients, goes to account %s.\n"
	       "  SMTP         127.0.0.1:1025 (no authentication)\n"
	       "  submission   127.0.0.1:1587 (STARTTLS) and 127.0.0.1:1465 (TLS)\n"
	       "  IMAP         127.0.0.1:1143 (STARTTLS; plain-text login allowed here)\n"
	       "               and 127.0.0.1:1993 (TLS)\n"
	       "               user %s@localhost (or %s), password %s\n"
	       "  recipients starting with \"temperror\" get 451, \"permerror\" 550\n"
	       "  the certificate is self-signed: let your client accept it\n"
	       "HTTP is not in this version yet. Stop with Ctrl-C or:\n"
	       "  tern -config %s stop\n",
	       LOCALSERVE_ACCOUNT, LOCALSERVE_ACCOUNT, LOCALSERVE_ACCOUNT, LOCALSERVE_PASSWORD,
	       confpath);
}

static void default_dir(char *out, size_t size)
{
	const char *home = getenv("HOME");
	snprintf(out, size, "%s/.config/tern-localserve", home != NULL ? home : ".");
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *dir = NULL;
	bool pedantic = false;
	const struct flag flags[] = {
		{"dir", FLAG_STRING, &dir, "directory for config and data (default ~/.config/tern-localserve)"},
		{"pedantic", FLAG_BOOL, &pedantic, "strict protocol syntax, where tern is normally liberal"},
	};
	if (cmd_parse_flags(&cmd_localserve, ctx, flags, 2, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0)
		return cmd_usage(&cmd_localserve, flags, 2);
	char dirbuf[PATH_MAX], confdir[PATH_MAX], confpath[PATH_MAX + 32];
	if (dir == NULL) {
		default_dir(dirbuf, sizeof(dirbuf));
		dir = dirbuf;
	}
	if (strlen(dir) > PATH_MAX - 16)
		return cmd_fail(&cmd_localserve, "directory name too long: %s", dir);
	snprintf(confdir, sizeof(confdir), "%s/config", dir);
	snprintf(confpath, sizeof(confpath), "%s/tern.conf", confdir);
	struct error err;
	if (!file_exists(confpath)) {
		if (file_mkdir_all(confdir, 0750, &err) != 0 || write_fresh_config(confdir, &err) != 0)
			return cmd_fail(&cmd_localserve, "%s", err.msg);
		printf("tern localserve: wrote a new configuration in %s\n", confdir);
	}
	struct config *cfg;
	if (config_load(confpath, &cfg, &err) != 0)
		return cmd_fail(&cmd_localserve, "%s", err.msg);
	if (ensure_password(cfg, &err) != 0) {
		config_release(&cfg);
		return cmd_fail(&cmd_localserve, "%s", err.msg);
	}
	printf("tern localserve: config %s, data %s\n", confpath, cfg->st.data_dir);
	print_usage_notes(confpath);
	fflush(stdout);
	struct serve_opts opts = {.drop_privileges = false, .who = "localserve", .localserve = true,
	                          .pedantic = pedantic};
	return serve_run(cfg, &opts);
}

const struct cmd cmd_localserve = {
	.name = "localserve",
	.args = "[-dir DIR]",
	.summary = "run a local test instance for developing applications that send email",
	.help = "Runs tern on loopback as the invoking user, with its configuration and data in\n"
	        "DIR (default ~/.config/tern-localserve). The first run writes DIR/config/tern.conf\n"
	        "and domains.conf (domain localhost, account \"tern\" with address tern@localhost)\n"
	        "and a self-signed certificate for localhost; use -config DIR/config/tern.conf with\n"
	        "other commands to work on this instance.\n"
	        "It listens on 127.0.0.1 and ::1: SMTP on port 1025, submission on 1587\n"
	        "(STARTTLS) and 1465 (TLS), IMAP on 1143 (STARTTLS) and 1993 (TLS), as mox\n"
	        "localserve does; on 1143 IMAP logins work without TLS too (loopback only).\n"
	        "Log in as tern@localhost with password terntern. Every submitted message, and every message received\n"
	        "on port 1025 whatever its recipients, is delivered to account tern;\n"
	        "recipients whose local part starts with \"temperror\" get 451 and \"permerror\"\n"
	        "550, to test an application's error handling. -pedantic refuses syntax that\n"
	        "tern otherwise accepts (bare LF line ends, a space after \"MAIL FROM:\").\n"
	        "HTTP is not in this version yet.",
	.run = run,
};
