/*
 * serve.c: `tern serve`, and the server life cycle (serve.h) it shares with
 * `tern localserve`.
 *
 * Signals: SIGHUP, SIGTERM and SIGINT are blocked in every thread (threads
 * inherit the mask of the main thread, which sets it before starting any) and
 * the main thread takes them with sigwait(), so no handler runs inside library
 * code. SIGPIPE is ignored: writes to a closed peer return EPIPE instead.
 */
#include "cmd/cmd.h"
#include "cmd/serve.h"

#include "core/file.h"
#include "core/log.h"
#include "core/loginguard.h"
#include "core/privdrop.h"
#include "ctl/ctl.h"
#include "dns/dns.h"
#include "queue/queue.h"
#include "imapserver/service.h"
#include "smtpserver/service.h"
#include "tern_version.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int ctl_ping(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	buf_appendf(out, "pong %s pid %ld", TERN_VERSION, (long)getpid());
	return 0;
}

static int ctl_reload(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	if (config_reload(err) != 0) {
		struct log_line *l = log_begin(LOG_ERROR, "serve", "config reload failed");
		log_error_value(l, err);
		log_end(l);
		return -1;
	}
	struct config *cfg = config_acquire();
	buf_appendf(out, "config reloaded: %zu domains, %zu accounts", cfg->dyn.ndomains,
	            cfg->dyn.naccounts);
	struct log_line *l = log_begin(LOG_INFO, "serve", "config reloaded");
	log_uint(l, "domains", cfg->dyn.ndomains);
	log_uint(l, "accounts", cfg->dyn.naccounts);
	log_end(l);
	config_release(&cfg);
	return 0;
}

static int ctl_stop(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	buf_append_str(out, "stopping");
	kill(getpid(), SIGTERM);
	return 0;
}

static const struct ctl_command server_ctl_commands[] = {
	{"ping", 0, 0, ctl_ping},
	{"reload", 0, 0, ctl_reload},
	{"stop", 0, 0, ctl_stop},
};

#define SERVER_CTL_COMMANDS (sizeof(server_ctl_commands) / sizeof(server_ctl_commands[0]))

/* Everything the control socket answers: the server's own commands and
 * those of the modules that change state (accounts, ...). */
#define QUEUE_CTL_COMMANDS_MAX 8
static struct ctl_command ctl_commands[SERVER_CTL_COMMANDS + ACCOUNT_CTL_COMMANDS +
                                       QUEUE_CTL_COMMANDS_MAX];

static size_t collect_ctl_commands(void)
{
	size_t n = 0;
	for (size_t i = 0; i < SERVER_CTL_COMMANDS; i++)
		ctl_commands[n++] = server_ctl_commands[i];
	for (size_t i = 0; i < ACCOUNT_CTL_COMMANDS; i++)
		ctl_commands[n++] = account_ctl_commands[i];
	const struct ctl_command *queue_cmds;
	size_t nq = queue_ctl_commands(&queue_cmds);
	for (size_t i = 0; i < nq && i < QUEUE_CTL_COMMANDS_MAX; i++)
		ctl_commands[n++] = queue_cmds[i];
	return n;
}

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void reload_on_hup(void)
{
	struct error err;
	struct buf out;
	buf_init(&out, 1024);
	ctl_reload(NULL, 0, NULL, &out, &err);
	buf_free(&out);
}

/* Waits for signals until one asks to stop. Returns the signal. */
static int wait_for_stop(const sigset_t *set)
{
	for (;;) {
		int sig;
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload_on_hup();
			continue;
		}
		return sig;
	}
}

int serve_become_user(const struct config *cfg, bool own_config, struct error *err)
{
	const char *data_dir = cfg->st.data_dir;
	if (file_mkdir_all(data_dir, 0750, err) != 0)
		return -1;
	if (privdrop_is_root() && strcmp(cfg->st.user, "root") == 0)
		log_msgf(LOG_WARN, "serve", "running as root: User is root in %s", cfg->static_path);
	/* The server rewrites domains.conf (account changes): it needs the file
	 * and its directory, for the atomic replace. tern.conf stays root's. */
	char *dyn_dir = strdup(cfg->dynamic_path);
	if (dyn_dir == NULL)
		abort();
	const char *own[] = {data_dir, cfg->dynamic_path, dirname(dyn_dir)};
	int r = privdrop_to_user(cfg->st.user, own, own_config ? 3 : 1, err);
	free(dyn_dir);
	return r;
}

int serve_as_data_owner(const struct config *cfg, uid_t *uid_r, gid_t *gid_r, struct error *err)
{
	*uid_r = getuid();
	*gid_r = getgid();
	if (file_mkdir_all(cfg->st.data_dir, 0750, err) != 0)
		return -1;
	if (!privdrop_is_root())
		return 0;
	if (privdrop_lookup(cfg->st.user, uid_r, gid_r, err) != 0)
		return -1;
	if (chown(cfg->st.data_dir, *uid_r, *gid_r) != 0)
		return error_errno(err, errno, "chown %s", cfg->st.data_dir);
	privdrop_fs_as(*uid_r, *gid_r);
	return 0;
}

static int prepare(struct config *cfg, const struct serve_opts *opts, struct error *err)
{
	if (!opts->drop_privileges)
		return file_mkdir_all(cfg->st.data_dir, 0750, err);
	return serve_become_user(cfg, true, err);
}

/* Sessions receiving a message when the server stops get this long to finish. */
#define STOP_GRACE_MS 10000

/* The resolver of the Resolver section (SPF, DKIM, DMARC, iprev). */
static int open_resolver(const struct config *cfg, struct dns_resolver **res_r, struct error *err)
{
	const struct config_resolver *r = &cfg->st.resolver;
	struct dns_resolver_config rc = {
		.upstreams = (const char *const *)r->upstreams,
		.nupstreams = r->nupstreams,
		.trust_anchor_file = r->trust_anchor_file,
		.no_dnssec = !r->dnssec,
		.cache_entries = r->cache_entries,
	};
	return dns_resolver_new(&rc, res_r, err);
}

/* Opens the resolver and binds the mail services (as root, for ports below
 * 1024), then prepares the data directory and drops privileges, then starts
 * accepting. */
/* The IMAP services check logins as submission does, with the same
 * throttling (guard). */
static int bind_imap(struct config *cfg, const struct serve_opts *opts, struct smtp_services *smtp,
                     struct loginguard *guard, struct imap_services **imap, struct error *err)
{
	struct smtp_services_login login;
	smtp_services_login(smtp, &login);
	struct imap_services_opts io = {
		.localserve = opts->localserve, .version = TERN_VERSION,
		.auth_lookup = login.lookup, .login_account = login.account, .login_ctx = login.ctx,
		.guard = guard, .sasl_secret = login.secret, .sasl_secret_len = login.secret_len,
	};
	return imap_services_bind(cfg, &io, imap, err);
}

/* The outbound queue (not in localserve, where all mail stays local). */
static struct queue *outbound;
static struct smtpclient_opts outbound_client;

static int deliver_smtp(void *ctx, const struct smtpclient_route *route,
                        const struct smtpclient_message *msg, struct smtpclient_rcpt *rcpts,
                        size_t nrcpts, struct smtpclient_tls_report *tls, struct error *e)
{
	return smtpclient_deliver(&outbound_client, route, msg, rcpts, nrcpts, tls, e);
}

/* Opens the queue (after privileges are dropped: its files are the
 * server user's), starts its workers and hands it to submission. */
static int start_queue(const struct config *cfg, const struct serve_opts *opts,
                       struct dns_resolver *res, struct smtp_services *smtp, struct error *err)
{
	if (opts->localserve)
		return 0;
	const struct config_queue *c = &cfg->st.queue;
	/* MTA-STS policies (RFC 8461 §5.1) are cached in DATA/mtasts */
	static char mtasts_dir[PATH_MAX];
	snprintf(mtasts_dir, sizeof(mtasts_dir), "%s/mtasts", cfg->st.data_dir);
	outbound_client = (struct smtpclient_opts){.ehlo_name = cfg->st.hostname, .resolver = res,
		.mtasts_cache_dir = mtasts_dir, .ca_file = c->ca_file};
	struct queue_settings s = {
		.data_dir = cfg->st.data_dir, .hostname = cfg->st.hostname,
		.workers = (unsigned)c->workers, .per_domain_max = (unsigned)c->per_domain,
		.first_retry_s = (unsigned)c->first_retry, .max_retry_s = (unsigned)c->max_retry,
		.max_age_s = c->max_age_seconds > 0 ? (unsigned)c->max_age_seconds
		             : (unsigned)c->max_age_hours * 3600,
		.delay_notice_s = (unsigned)c->delay_notice_hours * 3600,
		.deliver = deliver_smtp, .take_outgoing = true, .routes = true,
	};
	if (queue_open(&s, &outbound, err) != 0 || queue_start(outbound, err) != 0)
		return error_prefix(err, "queue");
	queue_cmd_set_running(outbound);
	smtp_services_set_queue(smtp, outbound);
	return 0;
}

/* After the SMTP services stopped (no more submissions): waits for the
 * attempts in flight and closes the queue. */
static void stop_queue(void)
{
	queue_cmd_set_running(NULL);
	queue_close(&outbound);
}

static int start_services(struct config *cfg, const struct serve_opts *opts,
                          struct dns_resolver **res, struct smtp_services **smtp,
                          struct imap_services **imap, struct loginguard *guard,
                          struct ctl_server **ctl, struct error *err)
{
	if (open_resolver(cfg, res, err) != 0)
		return error_prefix(err, "resolver");
	struct smtp_services_opts so = {.localserve = opts->localserve, .pedantic = opts->pedantic,
	                                .resolver = *res, .guard = guard};
	if (smtp_services_bind(cfg, &so, smtp, err) != 0 ||
	    bind_imap(cfg, opts, *smtp, guard, imap, err) != 0)
		return -1;
	if (prepare(cfg, opts, err) != 0)
		return -1;
	*ctl = ctl_server_start(cfg->st.data_dir, ctl_commands, collect_ctl_commands(), NULL, err);
	if (*ctl == NULL)
		return -1;
	if (start_queue(cfg, opts, *res, *smtp, err) != 0 || smtp_services_start(*smtp, err) != 0)
		return -1;
	return imap_services_start(*imap, err);
}

int serve_run(struct config *cfg, const struct serve_opts *opts)
{
	sigset_t set;
	block_signals(&set);
	config_set_current(config_ref(cfg));
	struct error err;
	error_clear(&err);
	struct ctl_server *ctl = NULL;
	struct smtp_services *smtp = NULL;
	struct imap_services *imap = NULL;
	struct loginguard *guard = loginguard_new();  /* shared by SMTP and IMAP logins */
	struct dns_resolver *res = NULL;
	if (start_services(cfg, opts, &res, &smtp, &imap, guard, &ctl, &err) != 0) {
		fprintf(stderr, "tern %s: %s\n", opts->who, err.msg);
		imap_services_stop(&imap, 0);
		smtp_services_stop(&smtp, 0);
		stop_queue();
		loginguard_free(&guard);
		ctl_server_stop(&ctl);
		dns_resolver_free(&res);
		config_release(&cfg);
		return CMD_FAIL;
	}
	struct log_line *l = log_begin(LOG_INFO, "serve", "started");
	log_str(l, "version", TERN_VERSION);
	log_str(l, "config", cfg->static_path);
	log_str(l, "datadir", cfg->st.data_dir);
	log_uint(l, "smtp_listeners", smtp_services_count(smtp));
	log_uint(l, "imap_listeners", imap_services_count(imap));
	log_int(l, "pid", (long long)getpid());
	log_end(l);

	int sig = wait_for_stop(&set);
	l = log_begin(LOG_INFO, "serve", "stopping");
	log_str(l, "signal", strsignal(sig));
	log_end(l);
	loginguard_stop(guard);
	imap_services_stop(&imap, STOP_GRACE_MS);
	smtp_services_stop(&smtp, STOP_GRACE_MS);
	stop_queue();
	loginguard_free(&guard);
	ctl_server_stop(&ctl);
	dns_resolver_free(&res);
	config_release(&cfg);
	log_msgf(LOG_INFO, "serve", "stopped");
	return CMD_OK;
}

/* Runs local in this process with cfg made current; prints its reply. */
static int run_local(const struct cmd *c, struct config *cfg, int argc, const char **argv,
                     const struct ctl_command *local, struct buf *out)
{
	struct error err;
	config_set_current(config_ref(cfg));
	if (local->handle(NULL, argc, (char **)argv, out, &err) != 0)
		return cmd_fail(c, "%s", err.msg);
	printf("%s\n", out->data);
	return CMD_OK;
}

int serve_ctl_or_local(const struct cmd *c, const char *config_path, int argc,
                       const char **argv, const struct ctl_command *local)
{
	struct config *cfg;
	struct error err;
	if (config_load(config_path, &cfg, &err) != 0)
		return cmd_fail(c, "%s", err.msg);
	struct buf out;
	buf_init(&out, CTL_REPLY_MAX);
	int r = ctl_call(cfg->st.data_dir, argc, argv, &out, &err);
	int code = CMD_OK;
	if (r == 0 && local != NULL)
		code = run_local(c, cfg, argc, argv, local, &out);
	else if (r == 0)
		code = cmd_fail(c, "no server is running (no control socket in %s)", cfg->st.data_dir);
	else if (r < 0)
		code = cmd_fail(c, "%s", err.msg);
	else
		printf("%s\n", out.data);
	buf_free(&out);
	config_release(&cfg);
	return code;
}

int serve_ctl_simple(const struct cmd *c, const char *config_path, const char *command)
{
	const char *argv[] = {command};
	return serve_ctl_or_local(c, config_path, 1, argv, NULL);
}

static int run_serve(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_serve, ctx, argc, argv) != 0)
		return CMD_USAGE;
	struct config *cfg;
	struct error err;
	if (config_load(ctx->config_path, &cfg, &err) != 0)
		return cmd_fail(&cmd_serve, "%s", err.msg);
	struct serve_opts opts = {.drop_privileges = true, .who = "serve"};
	return serve_run(cfg, &opts);
}

const struct cmd cmd_serve = {
	.name = "serve",
	.args = "",
	.summary = "run the server",
	.help = "Runs the server with the configuration in -config (tern.conf, and domains.conf\n"
	        "beside it). Started as root, tern creates the data directory, hands it to the\n"
	        "User of tern.conf and drops to that user for good before it reads anything\n"
	        "from the network. SIGHUP (or \"tern config reload\") reloads the configuration;\n"
	        "SIGTERM, SIGINT or \"tern stop\" stop the server.\n"
	        "The control socket DATADIR/ctl takes commands from the tern command line.\n"
	        "Runs the SMTP services each listener enables (SMTP on port 25 for mail from\n"
	        "other servers, Submission on 587 and Submissions on 465 for users' mail\n"
	        "programs). Submitted mail for other domains goes through the outbound queue\n"
	        "(DATA/queue, \"tern queue list\") to the domains' MX hosts with DANE or MTA-STS\n"
	        "(policies cached in DATA/mtasts), or the way the Routes of tern.conf and\n"
	        "domains.conf name; there is no HTTP server yet.",
	.run = run_serve,
};

static int run_stop(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_stop, ctx, argc, argv) != 0)
		return CMD_USAGE;
	return serve_ctl_simple(&cmd_stop, ctx->config_path, "stop");
}

const struct cmd cmd_stop = {
	.name = "stop",
	.args = "",
	.summary = "stop the running server",
	.help = "Asks the server running with this configuration to stop, over its control\n"
	        "socket. Fails when no server is running.",
	.run = run_stop,
};

static int run_reload(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_no_args(&cmd_config_reload, ctx, argc, argv) != 0)
		return CMD_USAGE;
	return serve_ctl_simple(&cmd_config_reload, ctx->config_path, "reload");
}

const struct cmd cmd_config_reload = {
	.name = "config reload",
	.args = "",
	.summary = "make the running server load its configuration again",
	.help = "Asks the running server to load tern.conf and domains.conf again (as SIGHUP\n"
	        "does). When the new files have an error, the server keeps the configuration\n"
	        "it has, and the error is printed here. Changes to listeners need a restart.",
	.run = run_reload,
};
