/*
 * cmd.h: the subcommands of the tern binary.
 *
 * Each subcommand is one `struct cmd` in its own file under src/cmd/, listed in
 * the table in src/main.c. A command's name may have several words
 * ("config test"); the dispatcher picks the longest name that matches the
 * arguments and hands the rest to run().
 *
 * Exit codes: 0 success, 1 failure (a message on stderr says what and where),
 * 2 bad usage (usage printed on stderr).
 */
#ifndef TERN_CMD_CMD_H
#define TERN_CMD_CMD_H

#include <stdbool.h>
#include <stddef.h>

/* What every command gets: the global flags. */
struct cmd_ctx {
	const char *config_path;   /* -config FILE; default "config/tern.conf" */
};

struct cmd {
	const char *name;      /* "version", "config test", ... */
	const char *args;      /* synopsis of flags and arguments after the name */
	const char *summary;   /* one line for `tern help` */
	const char *help;      /* full text for `tern help NAME`; may be NULL */
	/* argv[0] is the first argument after the name; flags not yet parsed. */
	int (*run)(struct cmd_ctx *ctx, int argc, char **argv);
};

#define CMD_OK 0
#define CMD_FAIL 1
#define CMD_USAGE 2

enum flag_type { FLAG_BOOL, FLAG_STRING, FLAG_INT };

/* One command-line flag, written -name VALUE, -name=VALUE or --name... A bool
 * flag takes no value (-name or -name=true/false). */
struct flag {
	const char *name;
	enum flag_type type;
	void *target;          /* bool *, const char **, or long * */
	const char *help;
};

/* Parses leading flags of argv for command c (the global -config is accepted
 * too and stored in ctx). On success, *argc_r and *argv_r point at the
 * remaining arguments and 0 is returned. On an unknown flag or a missing or bad
 * value, prints the problem and c's usage on stderr and returns CMD_USAGE. */
int cmd_parse_flags(const struct cmd *c, struct cmd_ctx *ctx, const struct flag *flags,
                    size_t nflags, int *argc_r, char ***argv_r);

/* For commands that take no flags of their own and no arguments: parses the
 * global flags and returns 0, or prints usage and returns CMD_USAGE. */
int cmd_no_args(const struct cmd *c, struct cmd_ctx *ctx, int argc, char **argv);

/* Prints "usage: tern NAME ARGS" and the flags to stderr; returns CMD_USAGE. */
int cmd_usage(const struct cmd *c, const struct flag *flags, size_t nflags);

/* Reads path ("-": standard input) into out, which was made with maximum
 * max (named in the message when the file is larger). Returns CMD_OK, or
 * CMD_FAIL after printing why. */
struct buf;
int cmd_read_file(const struct cmd *c, const char *path, struct buf *out, size_t max);

/* Prints "tern NAME: message" to stderr; returns CMD_FAIL. */
int cmd_fail(const struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The table of all commands, NULL-terminated (src/main.c). */
extern const struct cmd *const cmd_table[];

/* DNS resolver options shared by the commands that look things up
 * (dns.c): -server, -trust-anchor, -timeout. */
struct config;
struct dns_resolver;
struct cmd_resolver_opts {
	const char *server;
	const char *trust_anchor;
	long timeout_s;
};
#define CMD_RESOLVER_FLAGS 3

/* Fills flags[0..CMD_RESOLVER_FLAGS) bound to o; returns their count. */
size_t cmd_resolver_flags(struct cmd_resolver_opts *o, struct flag *flags);

/* A resolver as the server would have it (the Resolver section of the
 * config file when that exists), with o's flags overriding. Returns CMD_OK
 * with *res_r and *cfg_r (may be NULL; release after the resolver), or a
 * process exit code after printing the problem (CMD_USAGE: bad -timeout). */
int cmd_resolver_open(const struct cmd *c, struct cmd_ctx *ctx, const struct cmd_resolver_opts *o,
                      struct dns_resolver **res_r, struct config **cfg_r);

/* The commands, one per file. */
extern const struct cmd cmd_help;
extern const struct cmd cmd_version;
extern const struct cmd cmd_config_test;
extern const struct cmd cmd_config_describe_static;
extern const struct cmd cmd_config_describe_dynamic;
extern const struct cmd cmd_config_reload;
extern const struct cmd cmd_dns_lookup;
extern const struct cmd cmd_dmarc_lookup;
extern const struct cmd cmd_spf_check;
extern const struct cmd cmd_dkim_gened25519, cmd_dkim_genrsa, cmd_dkim_txt, cmd_dkim_verify, cmd_dkim_sign;
extern const struct cmd cmd_arc_verify, cmd_arc_sign;
extern const struct cmd cmd_serve;
extern const struct cmd cmd_stop;
extern const struct cmd cmd_localserve;
extern const struct cmd cmd_quickstart;
extern const struct cmd cmd_account_add;
extern const struct cmd cmd_account_rm;
extern const struct cmd cmd_account_list;
extern const struct cmd cmd_backup;
extern const struct cmd cmd_verifydata;
extern const struct cmd cmd_import;
extern const struct cmd cmd_export;
extern const struct cmd cmd_setaccountpassword;
extern const struct cmd cmd_account_checkpassword;
extern const struct cmd cmd_dmarc_parsereportmsg;
extern const struct cmd cmd_dmarc_composereports, cmd_dmarc_outgoing;
extern const struct cmd cmd_tlsrpt_parsereportmsg;
extern const struct cmd cmd_tlsrpt_composereports, cmd_tlsrpt_results;
extern const struct cmd cmd_queue_list, cmd_queue_hold, cmd_queue_release, cmd_queue_drop,
	cmd_queue_kick, cmd_queue_dump;

/* The outbound queue's control commands (queue.c), served by serve.c:
 * points *cmds_r at them and returns how many. */
struct ctl_command;
size_t queue_ctl_commands(const struct ctl_command **cmds_r);
/* The running server's queue, which the control commands act on (NULL when
 * it stops). */
struct queue;
void queue_cmd_set_running(struct queue *q);

#endif
