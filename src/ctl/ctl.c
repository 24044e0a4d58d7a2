/*
 * ctl.c: see ctl.h. The server runs one thread that accepts and answers one
 * request at a time; requests are rare and short (admin commands).
 */
#include "ctl/ctl.h"

#include "core/conn.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_GREETING "tern-ctl 1"
/* Longest header line ("error 16777216"), terminator included. */
#define CTL_HEADER_MAX 64

struct ctl_server {
	int listen_fd;
	int wake_fds[2];     /* written to by ctl_server_stop */
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ctl_command *cmds;
	size_t ncmds;
	void *arg;
};

int ctl_socket_path(const char *data_dir, char *out, size_t size, struct error *err)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n = snprintf(out, size, "%s/ctl", data_dir);
	if (n < 0 || (size_t)n >= size || (size_t)n >= max)
		return error_set(err, ERR_LIMIT,
		                 "control socket path %s/ctl is longer than %zu bytes; "
		                 "use a shorter data directory", data_dir, max - 1);
	return 0;
}

/* Reads a header line "WORD NUMBER" (or just "NUMBER") of at most
 * CTL_HEADER_MAX bytes into out. */
static int read_header(struct conn *c, char *out, size_t size, struct error *err)
{
	struct conn_line line;
	if (conn_read_line(c, &line, err) != 0)
		return -1;
	if (line.len >= size || memchr(line.data, '\0', line.len) != NULL)
		return error_set(err, ERR_INVALID, "bad control message header");
	memcpy(out, line.data, line.len + 1);
	return 0;
}

/* Parses a decimal count of at most max from s (whole string). */
static int parse_count(const char *s, size_t max, size_t *n_r)
{
	if (*s < '0' || *s > '9')
		return -1;
	size_t n = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (size_t)(*s - '0');
		if (n > max)
			return -1;
	}
	if (*s != '\0')
		return -1;
	*n_r = n;
	return 0;
}

/* Reads "PREFIX COUNT\n" and checks prefix and bound. */
static int expect_header(struct conn *c, const char *prefix, size_t max, size_t *n_r,
                         struct error *err)
{
	char line[CTL_HEADER_MAX];
	if (read_header(c, line, sizeof(line), err) != 0)
		return -1;
	size_t plen = strlen(prefix);
	if (strncmp(line, prefix, plen) != 0 || parse_count(line + plen, max, n_r) != 0)
		return error_set(err, ERR_INVALID, "bad control message header");
	return 0;
}

static int send_blob(struct conn *c, const char *prefix, const char *data, size_t n,
                     struct error *err)
{
	if (conn_printf(c, err, "%s%zu\n", prefix, n) != 0 || conn_write(c, data, n, err) != 0)
		return -1;
	return 0;
}

/* A conn for the control socket on fd (owned from now on), or NULL. */
static struct conn *ctl_conn(int fd, struct error *err)
{
	struct conn *c = conn_new(fd, CTL_HEADER_MAX, err);
	if (c != NULL)
		conn_set_idle_timeout(c, CTL_TIMEOUT_MS);
	return c;
}

/* ---- server ---- */

static const struct ctl_command *find_command(const struct ctl_server *s, const char *name)
{
	for (size_t i = 0; i < s->ncmds; i++)
		if (strcmp(s->cmds[i].name, name) == 0)
			return &s->cmds[i];
	return NULL;
}

/* Reads the request into argv (malloc'd strings). Returns argc or -1. */
static int read_request(struct conn *c, char **argv, struct error *err)
{
	size_t argc;
	if (expect_header(c, "call ", CTL_ARGS_MAX, &argc, err) != 0)
		return -1;
	if (argc == 0)
		return error_set(err, ERR_INVALID, "empty request");
	for (size_t i = 0; i < argc; i++) {
		size_t len;
		if (expect_header(c, "", CTL_ARG_MAX, &len, err) != 0)
			return -1;
		argv[i] = calloc(1, len + 1);
		if (argv[i] == NULL)
			abort();
		if (conn_read_exact(c, argv[i], len, err) != 0)
			return -1;
		if (strlen(argv[i]) != len)
			return error_set(err, ERR_INVALID, "NUL byte in argument");
	}
	return (int)argc;
}

static int dispatch(struct ctl_server *s, int argc, char **argv, struct buf *out,
                    struct error *err)
{
	const struct ctl_command *c = find_command(s, argv[0]);
	if (c == NULL)
		return error_set(err, ERR_INVALID, "unknown control command \"%s\"", argv[0]);
	if (argc - 1 < c->min_args || argc - 1 > c->max_args)
		return error_set(err, ERR_INVALID, "wrong number of arguments for \"%s\"", c->name);
	return c->handle(s->arg, argc, argv, out, err);
}

static void serve_one(struct ctl_server *s, int fd)
{
	char *argv[CTL_ARGS_MAX] = {0};
	struct error err;
	struct buf out;
	buf_init(&out, CTL_REPLY_MAX);
	error_clear(&err);
	struct conn *c = ctl_conn(fd, &err);
	if (c == NULL || conn_write(c, CTL_GREETING "\n", strlen(CTL_GREETING) + 1, &err) != 0 ||
	    conn_flush(c, &err) != 0)
		goto done;
	int argc = read_request(c, argv, &err);
	if (argc < 0) {
		struct log_line *l = log_begin(LOG_WARN, "ctl", "bad request");
		log_error_value(l, &err);
		log_end(l);
		goto done;
	}
	struct log_line *l = log_begin(LOG_INFO, "ctl", "request");
	log_str(l, "cmd", argv[0]);
	log_end(l);
	int r = dispatch(s, argc, argv, &out, &err) == 0
		? send_blob(c, "ok ", out.data, out.len, &err)
		: send_blob(c, "error ", err.msg, strlen(err.msg), &err);
	if (r == 0)
		conn_flush(c, &err);
done:
	for (int i = 0; i < CTL_ARGS_MAX; i++)
		free(argv[i]);
	buf_free(&out);
	conn_free(&c);
}

static void *server_thread(void *p)
{
	struct ctl_server *s = p;
	for (;;) {
		struct pollfd pfd[2] = {{s->listen_fd, POLLIN, 0}, {s->wake_fds[0], POLLIN, 0}};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents != 0)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(s, fd);
	}
	return NULL;
}

static int connect_unix(const char *path, int *fd_r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* Removes a socket file nobody listens on; fails if a server answers. */
static int clear_stale(const char *path, struct error *err)
{
	int fd;
	if (connect_unix(path, &fd) == 0) {
		close(fd);
		return error_set(err, ERR_REFUSED, "a server is already running (control socket %s)",
		                 path);
	}
	if (errno != ENOENT && unlink(path) != 0 && errno != ENOENT)
		return error_errno(err, errno, "removing stale control socket %s", path);
	return 0;
}

static int bind_socket(struct ctl_server *s, struct error *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, s->path, strlen(s->path) + 1);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return error_errno(err, errno, "control socket");
	mode_t old = umask(0177);  /* the socket is for its owner alone */
	int r = bind(s->listen_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r != 0)
		return error_errno(err, errno, "binding control socket %s", s->path);
	if (listen(s->listen_fd, 16) != 0)
		return error_errno(err, errno, "listening on control socket %s", s->path);
	return 0;
}

struct ctl_server *ctl_server_start(const char *data_dir, const struct ctl_command *cmds,
                                    size_t ncmds, void *arg, struct error *err)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->listen_fd = s->wake_fds[0] = s->wake_fds[1] = -1;
	s->cmds = cmds;
	s->ncmds = ncmds;
	s->arg = arg;
	if (ctl_socket_path(data_dir, s->path, sizeof(s->path), err) != 0 ||
	    clear_stale(s->path, err) != 0 || bind_socket(s, err) != 0)
		goto fail;
	if (pipe2(s->wake_fds, O_CLOEXEC) != 0) {
		error_errno(err, errno, "pipe");
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, server_thread, s) != 0) {
		error_set(err, ERR_IO, "cannot start control socket thread");
		goto fail;
	}
	return s;
fail:
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	if (s->wake_fds[0] >= 0) {
		close(s->wake_fds[0]);
		close(s->wake_fds[1]);
	}
	free(s);
	return NULL;
}

void ctl_server_stop(struct ctl_server **sp)
{
	struct ctl_server *s = *sp;
	if (s == NULL)
		return;
	if (write(s->wake_fds[1], "x", 1) != 1)
		abort();
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
	close(s->wake_fds[0]);
	close(s->wake_fds[1]);
	free(s);
	*sp = NULL;
}

/* ---- client ---- */

static int send_request(struct conn *c, int argc, const char *const *argv, struct error *err)
{
	if (conn_printf(c, err, "call %d\n", argc) != 0)
		return -1;
	for (int i = 0; i < argc; i++)
		if (send_blob(c, "", argv[i], strlen(argv[i]), err) != 0)
			return -1;
	return conn_flush(c, err);
}

/* Reads "ok N" or "error N" and the text. Returns 1 for ok, 0 for error. */
static int read_reply(struct conn *c, struct buf *out, struct error *err)
{
	char line[CTL_HEADER_MAX];
	if (read_header(c, line, sizeof(line), err) != 0)
		return -1;
	bool ok = strncmp(line, "ok ", 3) == 0;
	size_t n;
	if ((!ok && strncmp(line, "error ", 6) != 0) ||
	    parse_count(line + (ok ? 3 : 6), CTL_REPLY_MAX, &n) != 0)
		return error_set(err, ERR_INVALID, "bad reply from control socket");
	char *dst = buf_reserve(out, n);
	if (dst == NULL)
		return error_set(err, ERR_LIMIT, "control reply too large");
	if (conn_read_exact(c, dst, n, err) != 0)
		return -1;
	buf_commit(out, n);
	return ok ? 1 : 0;
}

/* The exchange on a connected control socket; see ctl_call. */
static int call_on(struct conn *c, int argc, const char *const *argv, struct buf *out,
                   struct error *err)
{
	char greeting[CTL_HEADER_MAX];
	if (read_header(c, greeting, sizeof(greeting), err) != 0)
		return -1;
	if (strcmp(greeting, CTL_GREETING) != 0)
		return error_set(err, ERR_INVALID, "control socket speaks \"%s\", want \"%s\"",
		                 greeting, CTL_GREETING);
	if (send_request(c, argc, argv, err) != 0)
		return -1;
	struct buf reply;
	buf_init(&reply, CTL_REPLY_MAX);
	int r = read_reply(c, &reply, err);
	if (r == 0)
		r = error_set(err, ERR_REFUSED, "%s", reply.data);
	else if (r == 1 && buf_append(out, reply.data, reply.len) != 0)
		r = error_set(err, ERR_LIMIT, "control reply too large for the caller");
	buf_free(&reply);
	return r;
}

int ctl_call(const char *data_dir, int argc, const char *const *argv, struct buf *out,
             struct error *err)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (argc < 1 || argc > CTL_ARGS_MAX)
		return error_set(err, ERR_INVALID, "bad control request");
	if (ctl_socket_path(data_dir, path, sizeof(path), err) != 0)
		return -1;
	int fd;
	if (connect_unix(path, &fd) != 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return 0;
		return error_errno(err, errno, "connecting to control socket %s", path);
	}
	struct conn *c = ctl_conn(fd, err);
	if (c == NULL)
		return -1;
	int r = call_on(c, argc, argv, out, err);
	conn_free(&c);
	return r;
}
