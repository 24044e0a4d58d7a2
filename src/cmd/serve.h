/*
 * serve.h: the life of a running server, shared by `tern serve` and
 * `tern localserve`: take the configuration, prepare the data directory, drop
 * privileges, start the services, answer the control socket, reload on SIGHUP,
 * stop on SIGTERM/SIGINT or `tern stop`.
 */
#ifndef TERN_CMD_SERVE_H
#define TERN_CMD_SERVE_H

#include "config/config.h"
#include "ctl/ctl.h"

#include <stdbool.h>
#include <sys/types.h>

struct serve_opts {
	bool drop_privileges;    /* false for localserve: it runs as the invoking user */
	const char *who;         /* "serve" or "localserve", for messages */
	bool localserve;         /* every message to the one account (smtpserver/backend.h) */
	bool pedantic;           /* protocol syntax checked strictly */
};

/* Creates the data directory and, when running as root, hands it to the
 * configured User and becomes that user for good, so that what a command
 * writes there belongs to the server's user (import does this too). With
 * own_config, domains.conf and its directory are handed over as well (the
 * server rewrites them). Returns 0, or -1 with err set. */
int serve_become_user(const struct config *cfg, bool own_config, struct error *err);

/* For commands that write the data directory while they must still read
 * files as root (import, setaccountpassword): creates the data directory
 * owned by the server's user and, when root, makes this thread create and
 * access files as that user (privdrop_fs_as; switch to 0, 0 to read as root).
 * The user's ids go to *uid_r and *gid_r. Returns 0, or -1 with err set. */
int serve_as_data_owner(const struct config *cfg, uid_t *uid_r, gid_t *gid_r, struct error *err);

/* Stores the keys derived from password pw (n bytes) as the credentials of
 * account (password.c). Returns 0, or -1 with err set. */
int account_password_store(const struct config *cfg, const char *account, const char *pw,
                           size_t n, struct error *err);

/* Runs until asked to stop. Takes over the reference to cfg. Returns a process
 * exit code (CMD_OK, or CMD_FAIL with the reason on stderr). */
int serve_run(struct config *cfg, const struct serve_opts *opts);

/* Runs a change (argv[0] names the control command) through the running
 * server's control socket, or, when no server runs, by calling local (the
 * same handler the server would run) with the configuration loaded here.
 * Prints the reply. Returns a process exit code. */
int serve_ctl_or_local(const struct cmd *c, const char *config_path, int argc,
                       const char **argv, const struct ctl_command *local);

/* Control commands that change accounts (account.c), also served by serve. */
#define ACCOUNT_CTL_COMMANDS 3
extern const struct ctl_command account_ctl_commands[ACCOUNT_CTL_COMMANDS];

/* Asks the server of cfg over its control socket to run command (with no
 * arguments), printing its reply. For `tern stop`, `tern config reload`. */
int serve_ctl_simple(const struct cmd *c, const char *config_path, const char *command);

#endif
