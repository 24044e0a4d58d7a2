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
#include "cmd/serve.h"

#include "core/file.h"
#include "core/tls.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The mox-compatible ports a complete localserve listens on. */
static const char localserve_ports[] =
	"SMTP 1025, submission 1587, submissions 1465, IMAP 1143, IMAPS 1993, "
	"HTTP 1080, HTTPS 1443";

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

static int write_config_file(const char *path, const char *text, struct error *err)
{
	return file_write_atomic(path, text, strlen(text), 0640, err);
}

/* Writes the configuration of a fresh localserve directory. */
static int write_fresh_config(const char *confdir, struct error *err)
{
	char path[PATH_MAX + 32], cert[PATH_MAX + 32], key[PATH_MAX + 32];
	snprintf(cert, sizeof(cert), "%s/localhost.crt", confdir);
	snprintf(key, sizeof(key), "%s/localhost.key", confdir);
	const char *const names[] = {"localhost"};
	if (tls_selfsigned_write(names, 1, cert, key, err) != 0)
		return -1;
	char *conf = NULL;
	if (asprintf(&conf,
	             "# Written by tern localserve: loopback only, for testing applications.\n"
	             "DataDir: ../data\n"
	             "Hostname: localhost\n"
	             "User: %s\n"
	             "LogLevel: info\n"
	             "Listeners:\n"
	             "  local:\n"
	             "    IPs:\n"
	             "      - 127.0.0.1\n"
	             "      - ::1\n"
	             "    TLS:\n"
	             "      KeyCerts:\n"
	             "        - CertFile: localhost.crt\n"
	             "          KeyFile: localhost.key\n",
	             current_user()) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/domains.conf", confdir);
	int r = write_config_file(path, domains_conf, err);
	snprintf(path, sizeof(path), "%s/tern.conf", confdir);
	if (r == 0)
		r = write_config_file(path, conf, err);
	free(conf);
	return r;
}

static void default_dir(char *out, size_t size)
{
	const char *home = getenv("HOME");
	snprintf(out, size, "%s/.config/tern-localserve", home != NULL ? home : ".");
}

static int run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *dir = NULL;
	const struct flag flags[] = {
		{"dir", FLAG_STRING, &dir, "directory for config and data (default ~/.config/tern-localserve)"},
	};
	if (cmd_parse_flags(&cmd_localserve, ctx, flags, 1, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc != 0)
		return cmd_usage(&cmd_localserve, flags, 1);
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
	printf("tern localserve: config %s, data %s\n", confpath, cfg->st.data_dir);
	printf("tern localserve: NOTE: this version of tern has no SMTP, IMAP or HTTP server yet,\n"
	       "so nothing listens on the localserve ports (%s).\n"
	       "Only the control socket runs; stop with Ctrl-C or: tern -config %s stop\n",
	       localserve_ports, confpath);
	fflush(stdout);
	struct serve_opts opts = {.drop_privileges = false, .who = "localserve"};
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
	        "This version has no SMTP, IMAP or HTTP server yet: it runs the control socket and\n"
	        "configuration handling only, and says so when it starts.",
	.run = run,
};
