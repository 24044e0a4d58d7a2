/*
 * listener.c: see listener.h.
 *
 * Each session thread works on a dup of the accepted socket; the listener
 * keeps the original descriptor until the thread ends, so that a forced
 * shutdown(2) after the grace period reaches the right socket even if the
 * session already closed its copy and the number was reused.
 */
#include "core/listener.h"

#include "core/connlimit.h"
#include "core/error.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct session {
	struct listener *l;
	struct listener_conn lc;
	int keep_fd;              /* the listener's own copy of the socket */
	struct session *prev, *next;
};

struct listener {
	int fd;
	struct listener_opts opts;
	char *name;
	int cancel[2];            /* pipe: written once to stop everything */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct session *sessions; /* running, under mu */
	size_t active;
	bool shut;
};

int listener_bind(const char *ip, int port, struct error *e)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	bool v6 = strchr(ip, ':') != NULL;
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		len = sizeof(*a);
		if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
			return error_set(e, ERR_INVALID, "listen on [%s]:%d: not an IPv6 address", ip, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		len = sizeof(*a);
		if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
			return error_set(e, ERR_INVALID, "listen on %s:%d: not an IPv4 address", ip, port);
	}
	char where[INET6_ADDRSTRLEN + 16];
	snprintf(where, sizeof(where), v6 ? "[%s]:%d" : "%s:%d", ip, port);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		error_errno(e, err, "listen on %s", where);
		errno = err;
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 512) != 0) {
		int err = errno;
		close(fd);
		error_errno(e, err, "listen on %s", where);
		errno = err;
		return -1;
	}
	return fd;
}

static void session_unlink(struct listener *l, struct session *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		l->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
}

static void *session_main(void *arg)
{
	struct session *s = arg;
	struct listener *l = s->l;
	l->opts.handler(l->opts.ctx, &s->lc);
	pthread_mutex_lock(&l->mu);
	session_unlink(l, s);
	close(s->keep_fd);
	if (l->opts.limit != NULL)
		connlimit_release(l->opts.limit, (struct sockaddr *)&s->lc.peer);
	l->active--;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	free(s);
	return NULL;
}

/* Tells a refused peer why, without waiting for it, and closes. */
static void refuse(struct listener *l, int fd, enum connlimit_verdict why)
{
	if (l->opts.busy_reply != NULL) {
		ssize_t r = send(fd, l->opts.busy_reply, strlen(l->opts.busy_reply),
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)r;
	}
	close(fd);
	struct log_line *ll = log_begin(LOG_INFO, l->name, "connection refused");
	log_str(ll, "reason", why == CONNLIMIT_TOTAL ? "listener full" : "too many from this address");
	log_end(ll);
}

static int spawn(struct listener *l, struct session *s)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LISTENER_STACK_SIZE);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	pthread_mutex_lock(&l->mu);
	int r = pthread_create(&t, &attr, session_main, s);
	if (r == 0) {
		s->next = l->sessions;
		if (s->next != NULL)
			s->next->prev = s;
		l->sessions = s;
		l->active++;
	}
	pthread_mutex_unlock(&l->mu);
	pthread_attr_destroy(&attr);
	return r;
}

static void accepted(struct listener *l, int fd, const struct sockaddr_storage *peer,
                     socklen_t peer_len)
{
	enum connlimit_verdict v = l->opts.limit != NULL
		? connlimit_acquire(l->opts.limit, (const struct sockaddr *)peer) : CONNLIMIT_OK;
	if (v != CONNLIMIT_OK) {
		refuse(l, fd, v);
		return;
	}
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->l = l;
	s->keep_fd = fd;
	s->lc.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	s->lc.peer = *peer;
	s->lc.peer_len = peer_len;
	s->lc.cancel_fd = l->cancel[0];
	if (s->lc.fd < 0 || spawn(l, s) != 0) {
		log_msgf(LOG_ERROR, l->name, "cannot start a connection thread: %s", strerror(errno));
		if (s->lc.fd >= 0)
			close(s->lc.fd);
		close(fd);
		if (l->opts.limit != NULL)
			connlimit_release(l->opts.limit, (const struct sockaddr *)peer);
		free(s);
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *accept_main(void *arg)
{
	struct listener *l = arg;
	for (;;) {
		struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->cancel[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			pause_ms(100);
		if (p[1].revents != 0)
			return NULL;
		if (p[0].revents == 0)
			continue;
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (fd >= 0) {
			accepted(l, fd, &peer, len);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_msgf(LOG_ERROR, l->name, "accept: %s", strerror(errno));
			pause_ms(100);  /* out of resources: let sessions end */
		}
	}
}

struct listener *listener_start(int fd, const struct listener_opts *opts, struct error *e)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		abort();
	l->fd = fd;
	l->opts = *opts;
	l->name = strdup(opts->name);
	if (l->name == NULL)
		abort();
	l->opts.name = l->name;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (pipe2(l->cancel, O_CLOEXEC) != 0) {
		error_errno(e, errno, "%s: pipe", opts->name);
		goto fail;
	}
	int r = pthread_create(&l->thread, NULL, accept_main, l);
	if (r == 0)
		return l;
	error_errno(e, r, "%s: cannot start the accept thread", opts->name);
	close(l->cancel[0]);
	close(l->cancel[1]);
fail:
	close(fd);
	free(l->name);
	free(l);
	return NULL;
}

void listener_shutdown(struct listener *l)
{
	pthread_mutex_lock(&l->mu);
	bool first = !l->shut;
	l->shut = true;
	pthread_mutex_unlock(&l->mu);
	if (!first)
		return;
	ssize_t r = write(l->cancel[1], "x", 1);
	(void)r;
	pthread_join(l->thread, NULL);
	close(l->fd);
}

size_t listener_active(struct listener *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->active;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Waits until no session runs or deadline (CLOCK_REALTIME) passes; with mu held. */
static void wait_sessions(struct listener *l, const struct timespec *deadline)
{
	while (l->active > 0) {
		if (pthread_cond_timedwait(&l->cv, &l->mu, deadline) == ETIMEDOUT)
			return;
	}
}

void listener_free(struct listener **lp, unsigned grace_ms)
{
	struct listener *l = *lp;
	if (l == NULL)
		return;
	listener_shutdown(l);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += grace_ms / 1000;
	deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->mu);
	wait_sessions(l, &deadline);
	if (l->active > 0)
		log_msgf(LOG_WARN, l->name, "%zu sessions still running after %u ms: closing them",
		         l->active, grace_ms);
	for (struct session *s = l->sessions; s != NULL; s = s->next)
		shutdown(s->keep_fd, SHUT_RDWR);
	while (l->active > 0)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
	close(l->cancel[0]);
	close(l->cancel[1]);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->name);
	free(l);
	*lp = NULL;
}
