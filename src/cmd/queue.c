/*
 * queue.c: `tern queue list|hold|release|drop|kick|dump`.
 *
 * With a server running, the commands go through its control socket and
 * act on its queue (so workers see the change at once); when none runs
 * they open DATA/queue/queue.db themselves. Both paths run the same
 * handlers (queue_ctl_commands, also served by serve.c).
 */
#include "cmd/cmd.h"
#include "cmd/serve.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/file.h"
#include "ctl/ctl.h"
#include "queue/queue.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The running server's queue, or NULL (then handlers open one). */
static struct queue *running;
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;

void queue_cmd_set_running(struct queue *q)
{
	pthread_mutex_lock(&running_lock);
	running = q;
	pthread_mutex_unlock(&running_lock);
}

/* The queue to act on: the server's, or the one in the data directory of
 * the current configuration (*opened_r: close it after). Returns NULL with
 * err set when there is none (ERR_NOTFOUND: no queue was ever made). */
static struct queue *acquire(bool *opened_r, struct error *err)
{
	*opened_r = false;
	pthread_mutex_lock(&running_lock);
	struct queue *q = running;
	pthread_mutex_unlock(&running_lock);
	if (q != NULL)
		return q;
	struct config *cfg = config_acquire();
	if (cfg == NULL) {
		error_set(err, ERR_INVALID, "no configuration");
		return NULL;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/queue/queue.db", cfg->st.data_dir);
	uid_t uid;
	gid_t gid;
	if (!file_exists(path)) {
		error_set(err, ERR_NOTFOUND, "no queue in %s", cfg->st.data_dir);
	} else if (serve_as_data_owner(cfg, &uid, &gid, err) == 0) {
		struct queue_settings s = {.data_dir = cfg->st.data_dir, .hostname = cfg->st.hostname};
		if (queue_open(&s, &q, err) == 0)
			*opened_r = true;
	}
	config_release(&cfg);
	return q;
}

static void release(struct queue **q, bool opened)
{
	if (opened)
		queue_close(q);
	*q = NULL;
}

/* Parses a message id argument: a number, or "all" (0). */
static int parse_id(const char *s, int64_t *id_r, struct error *err)
{
	if (strcmp(s, "all") == 0) {
		*id_r = 0;
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0)
		return error_set(err, ERR_INVALID, "bad message id \"%s\": expected a number or \"all\"", s);
	*id_r = v;
	return 0;
}

static int ctl_queue_list(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	bool opened;
	struct queue *q = acquire(&opened, err);
	if (q == NULL && err->kind == ERR_NOTFOUND) {
		buf_append_str(out, "queue is empty");
		return 0;
	}
	if (q == NULL)
		return -1;
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct queue_msg_info *list;
	size_t n;
	int r = queue_list(q, a, &list, &n, err);
	if (r == 0) {
		queue_list_format(list, n, out);
		if (out->len > 0 && out->data[out->len - 1] == '\n')
			buf_truncate(out, out->len - 1);
	}
	arena_free(&a);
	release(&q, opened);
	return r;
}

typedef long queue_op(struct queue *q, int64_t id, struct error *e);

static int run_op(queue_op *op, const char *done, char **argv, struct buf *out, struct error *err)
{
	int64_t id = 0;
	if (parse_id(argv[1], &id, err) != 0)
		return -1;
	bool opened;
	struct queue *q = acquire(&opened, err);
	if (q == NULL)
		return -1;
	long n = op(q, id, err);
	release(&q, opened);
	if (n < 0)
		return -1;
	buf_appendf(out, "%ld recipients %s", n, done);
	return 0;
}

static int ctl_queue_hold(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	return run_op(queue_hold, "held", argv, out, err);
}

static int ctl_queue_release(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	return run_op(queue_release, "released", argv, out, err);
}

static int ctl_queue_drop(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	return run_op(queue_drop, "dropped", argv, out, err);
}

static int ctl_queue_kick(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	char *args[] = {argv[0], argc > 1 ? argv[1] : "all"};
	int r = run_op(queue_kick, "to be tried now", args, out, err);
	pthread_mutex_lock(&running_lock);
	bool live = running != NULL;
	pthread_mutex_unlock(&running_lock);
	if (r == 0 && !live)
		buf_append_str(out, " (when the server runs)");
	return r;
}

static int ctl_queue_dump(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	int64_t id = 0;
	if (parse_id(argv[1], &id, err) != 0)
		return -1;
	if (id == 0)
		return error_set(err, ERR_INVALID, "dump takes one message id");
	bool opened;
	struct queue *q = acquire(&opened, err);
	if (q == NULL)
		return -1;
	int r = queue_dump(q, id, out, err);
	release(&q, opened);
	return r;
}

static const struct ctl_command commands[] = {
	{"queue-list", 0, 0, ctl_queue_list},
	{"queue-hold", 1, 1, ctl_queue_hold},
	{"queue-release", 1, 1, ctl_queue_release},
	{"queue-drop", 1, 1, ctl_queue_drop},
	{"queue-kick", 0, 1, ctl_queue_kick},
	{"queue-dump", 1, 1, ctl_queue_dump},
};

size_t queue_ctl_commands(const struct ctl_command **cmds_r)
{
	*cmds_r = commands;
	return sizeof(commands) / sizeof(commands[0]);
}

/* Runs control command index ci with the command line's arguments. */
static int run(const struct cmd *c, struct cmd_ctx *ctx, int argc, char **argv, size_t ci)
{
	if (cmd_parse_flags(c, ctx, NULL, 0, &argc, &argv) != 0)
		return CMD_USAGE;
	if (argc < commands[ci].min_args || argc > commands[ci].max_args)
		return cmd_usage(c, NULL, 0);
	const char *args[2] = {commands[ci].name, argc > 0 ? argv[0] : NULL};
	return serve_ctl_or_local(c, ctx->config_path, 1 + argc, args, &commands[ci]);
}

static int run_list(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run(&cmd_queue_list, ctx, argc, argv, 0);
}

static int run_hold(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run(&cmd_queue_hold, ctx, argc, argv, 1);
}

static int run_release(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run(&cmd_queue_release, ctx, argc, argv, 2);
}

static int run_drop(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run(&cmd_queue_drop, ctx, argc, argv, 3);
}

static int run_kick(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run(&cmd_queue_kick, ctx, argc, argv, 4);
}

static int run_dump(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run(&cmd_queue_dump, ctx, argc, argv, 5);
}

const struct cmd cmd_queue_list = {
	.name = "queue list",
	.args = "",
	.summary = "list the messages in the outbound queue",
	.help = "Prints each message in the outbound queue (DATA/queue): its id, kind (mail,\n"
	        "dmarc report), sender, size, when it was queued and subject, then one line\n"
	        "per recipient: address, state (queued, held, delivering, delivered,\n"
	        "failed), attempts, the next attempt (UTC) and the last result (SMTP code,\n"
	        "enhanced code, text, the remote host that said it).",
	.run = run_list,
};

const struct cmd cmd_queue_hold = {
	.name = "queue hold",
	.args = "ID|all",
	.summary = "keep a queued message from being delivered",
	.help = "Holds the queued recipients of message ID (\"all\": of every message): they\n"
	        "are not tried until released. An attempt already running finishes.",
	.run = run_hold,
};

const struct cmd cmd_queue_release = {
	.name = "queue release",
	.args = "ID|all",
	.summary = "let a held message be delivered, now",
	.help = "Releases the held recipients of message ID (\"all\": of every message) and\n"
	        "tries them now.",
	.run = run_release,
};

const struct cmd cmd_queue_drop = {
	.name = "queue drop",
	.args = "ID|all",
	.summary = "remove a message from the queue without a notice",
	.help = "Removes the queued and held recipients of message ID (\"all\": of every\n"
	        "message) and, when nothing else is left to do, the message. The sender gets\n"
	        "no delivery status notification.",
	.run = run_drop,
};

const struct cmd cmd_queue_kick = {
	.name = "queue kick",
	.args = "[ID|all]",
	.summary = "try queued messages now instead of at their next retry",
	.help = "Makes the queued recipients of message ID (default: all) due now and wakes\n"
	        "the delivery workers. Held recipients stay held.",
	.run = run_kick,
};

const struct cmd cmd_queue_dump = {
	.name = "queue dump",
	.args = "ID",
	.summary = "print a queued message as it will be sent",
	.help = "Prints message ID as stored in the queue: with the header fields added on\n"
	        "submission (Received, Date, Message-ID) and its DKIM signatures.",
	.run = run_dump,
};
