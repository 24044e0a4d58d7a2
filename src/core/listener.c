/*
 * listener.c: see listener.h.
 *
 * Each session thread works on a dup of the accepted socket; the listener
 * keeps the original descriptor until the thread ends, so that a forced
 * shutdown(2) after the grace period reaches the right socket even if the
 * session already closed its copy and the number was reused.
 *
 * Parked sessions (listener_park) have no thread: their descriptors are in
 * the listener's epoll set, watched by its park thread (started with the
 * first park), which also wakes them when their time is up (checked once a
 * second) or the listener stops, and gives the heap pages their threads
 * freed back to the system.
 */
#include "core/listener.h"

#include "core/clock.h"
#include "core/connlimit.h"
#include "core/error.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct session {
	struct listener *l;
	struct listener_conn lc;
	int keep_fd;              /* the listener's own copy of the socket */
	struct session *prev, *next;
	/* Parking. Set by listener_park in the session's own thread: */
	bool park_asked;
	int park_fds[LISTENER_PARK_FDS_MAX];
	size_t npark;
	unsigned park_timeout_ms;
	listener_resume_fn *resume;
	void *resume_ctx;
	/* under l->mu while parked: */
	bool parked;              /* its fds are in the epoll set */
	int64_t park_deadline;    /* CLOCK_MONOTONIC ms */
	enum listener_wake why;   /* for the resume thread */
	bool resuming;            /* the thread runs resume, not the handler */
	struct session *wake_next;
};

struct listener {
	int fd;
	struct listener_opts opts;
	char *name;
	int cancel[2];            /* pipe: written once to stop everything */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct session *sessions; /* running or parked, under mu */
	size_t active;
	bool shut;
	/* parking, under mu */
	int epfd;                 /* -1 until the first park */
	int park_quit;            /* eventfd: ends the park thread */
	pthread_t park_thread;
	bool park_running;
	size_t parked;
	struct session *retry;    /* woken, but no thread could be started yet */
	bool trim_due;
	int64_t trim_at;
};

/* How often the park thread looks for parked sessions whose time is up. */
#define PARK_SCAN_MS 1000
/* Heap trims after parks: at most one per this many milliseconds. */
#define PARK_TRIM_MS 1000


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

bool listener_no_ipv6(const char *ip, int err)
{
	return strchr(ip, ':') != NULL && (err == EADDRNOTAVAIL || err == EAFNOSUPPORT);
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

static int park(struct listener *l, struct session *s);

/* The session is over: its connection slot and the listener's copy of the
 * socket go. */
static void session_end(struct listener *l, struct session *s)
{
	pthread_mutex_lock(&l->mu);
	session_unlink(l, s);
	close(s->keep_fd);
	if (l->opts.limit != NULL)
		connlimit_release(l->opts.limit, (struct sockaddr *)&s->lc.peer);
	l->active--;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	free(s);
}

static void *session_main(void *arg)
{
	struct session *s = arg;
	struct listener *l = s->l;
	if (s->resuming)
		s->resume(s->resume_ctx, &s->lc, s->why);
	else
		l->opts.handler(l->opts.ctx, &s->lc);
	while (s->park_asked) {
		s->park_asked = false;
		int r = park(l, s);
		if (r == 0)
			return NULL;  /* the park thread owns it now */
		s->resume(s->resume_ctx, &s->lc, r == 1 ? LISTENER_WAKE_STOP : LISTENER_WAKE_UNPARKED);
	}
	session_end(l, s);
	return NULL;
}

static int start_thread(struct session *s)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LISTENER_STACK_SIZE);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int r = pthread_create(&t, &attr, session_main, s);
	pthread_attr_destroy(&attr);
	return r;
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
	pthread_mutex_lock(&l->mu);
	int r = start_thread(s);
	if (r == 0) {
		s->next = l->sessions;
		if (s->next != NULL)
			s->next->prev = s;
		l->sessions = s;
		l->active++;
	}
	pthread_mutex_unlock(&l->mu);
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

/*
 * Parking.
 */

/* Markers in the epoll set for the listener's own descriptors. */
static char mark_cancel, mark_quit;

/* Takes s out of the epoll set and queues it on *wake to resume for why;
 * with mu held. */
static void unpark(struct listener *l, struct session *s, enum listener_wake why,
                   struct session **wake)
{
	if (!s->parked)
		return;  /* a second event of the same batch */
	for (size_t i = 0; i < s->npark; i++)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->park_fds[i], NULL);
	s->parked = false;
	l->parked--;
	s->why = why;
	s->resuming = true;
	s->wake_next = *wake;
	*wake = s;
}

/* Wakes the parked sessions that are out of time, or all of them when the
 * listener stops; with mu held. */
static void unpark_due(struct listener *l, int64_t now, bool stop, struct session **wake)
{
	for (struct session *s = l->sessions; s != NULL; s = s->next) {
		if (s->parked && stop)
			unpark(l, s, LISTENER_WAKE_STOP, wake);
		else if (s->parked && now >= s->park_deadline)
			unpark(l, s, LISTENER_WAKE_TIMEOUT, wake);
	}
}

/* Starts the resume threads of the sessions on wake; those that cannot have
 * one yet go to l->retry, for the next round. */
static void start_resumes(struct listener *l, struct session *wake)
{
	while (wake != NULL) {
		struct session *s = wake;
		wake = s->wake_next;
		int r = start_thread(s);
		if (r == 0)
			continue;
		log_msgf(LOG_ERROR, l->name, "cannot resume a parked session: %s", strerror(r));
		pthread_mutex_lock(&l->mu);
		s->wake_next = l->retry;
		l->retry = s;
		pthread_mutex_unlock(&l->mu);
	}
}

/* Gives the heap pages freed by sessions that parked back to the system,
 * once parking has been quiet for PARK_TRIM_MS: the threads that ended
 * leave holes in the heap that stay resident until trimmed. */
static void trim_if_due(struct listener *l, int64_t now)
{
	pthread_mutex_lock(&l->mu);
	bool due = l->trim_due && now >= l->trim_at;
	if (due)
		l->trim_due = false;
	pthread_mutex_unlock(&l->mu);
	if (due)
		malloc_trim(0);
}

static void *park_main(void *arg)
{
	struct listener *l = arg;
	int64_t next_scan = clock_mono_ms() + PARK_SCAN_MS;
	bool stopping = false;
	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(l->epfd, ev, 64, l->retry != NULL ? 100 : PARK_SCAN_MS);
		if (n < 0) {
			if (errno != EINTR)
				pause_ms(100);
			n = 0;
		}
		int64_t now = clock_mono_ms();
		bool quit = false, stop = false;
		struct session *wake = NULL;
		pthread_mutex_lock(&l->mu);
		wake = l->retry;
		l->retry = NULL;
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			if (p == &mark_quit)
				quit = true;
			else if (p == &mark_cancel)
				stop = true;
			else
				unpark(l, p, LISTENER_WAKE_READY, &wake);
		}
		if (stop && !stopping) {  /* the pipe stays readable: watch it once */
			stopping = true;
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->cancel[0], NULL);
		}
		if (stop || now >= next_scan) {
			unpark_due(l, now, stop, &wake);
			next_scan = now + PARK_SCAN_MS;
		}
		pthread_mutex_unlock(&l->mu);
		start_resumes(l, wake);
		trim_if_due(l, now);
		if (quit)
			return NULL;
	}
}

/* Starts the park thread and its epoll set if not yet; with mu held. */
static int park_thread_start(struct listener *l)
{
	if (l->park_running)
		return 0;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->park_quit = eventfd(0, EFD_CLOEXEC);
	struct epoll_event q = {.events = EPOLLIN, .data.ptr = &mark_quit};
	struct epoll_event c = {.events = EPOLLIN, .data.ptr = &mark_cancel};
	if (l->epfd < 0 || l->park_quit < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->park_quit, &q) != 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->cancel[0], &c) != 0 ||
	    (errno = pthread_create(&l->park_thread, NULL, park_main, l)) != 0) {
		log_msgf(LOG_ERROR, l->name, "cannot start parking: %s", strerror(errno));
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->park_quit >= 0)
			close(l->park_quit);
		l->epfd = l->park_quit = -1;
		return -1;
	}
	l->park_running = true;
	return 0;
}

/* Puts s's descriptors in the epoll set. Returns 0, or, when it stays the
 * caller's, 1 (the listener stops) or -1 (epoll failed). */
static int park(struct listener *l, struct session *s)
{
	pthread_mutex_lock(&l->mu);
	int r = l->shut ? 1 : -1;
	if (!l->shut && park_thread_start(l) == 0) {
		size_t added = 0;
		for (; added < s->npark; added++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
			if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->park_fds[added], &ev) != 0) {
				log_msgf(LOG_ERROR, l->name, "cannot park a session: %s", strerror(errno));
				break;
			}
		}
		if (added == s->npark) {
			int64_t now = clock_mono_ms();
			s->parked = true;
			s->park_deadline = now + s->park_timeout_ms;
			l->parked++;
			if (!l->trim_due) {
				l->trim_due = true;
				l->trim_at = now + PARK_TRIM_MS;
			}
			r = 0;
		} else {
			while (added > 0)
				epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->park_fds[--added], NULL);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return r;
}

void listener_park(const struct listener_conn *lc, const int *fds, size_t nfds,
                   unsigned timeout_ms, listener_resume_fn *resume, void *ctx)
{
	struct session *s = (struct session *)((char *)lc - offsetof(struct session, lc));
	if (nfds > LISTENER_PARK_FDS_MAX)
		abort();
	memcpy(s->park_fds, fds, nfds * sizeof(*fds));
	s->npark = nfds;
	s->park_timeout_ms = timeout_ms;
	s->resume = resume;
	s->resume_ctx = ctx;
	s->park_asked = true;
}

size_t listener_parked(struct listener *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->parked;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Ends the park thread once no session is left; with mu held. */
static void park_thread_stop(struct listener *l)
{
	if (!l->park_running)
		return;
	uint64_t one = 1;
	ssize_t w = write(l->park_quit, &one, sizeof(one));
	(void)w;
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->park_thread, NULL);
	pthread_mutex_lock(&l->mu);
	l->park_running = false;
	close(l->epfd);
	close(l->park_quit);
	l->epfd = l->park_quit = -1;
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
	l->epfd = l->park_quit = -1;
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
	listener_free_until(lp, clock_mono_ms() + grace_ms);
}

void listener_free_until(struct listener **lp, int64_t deadline_ms)
{
	struct listener *l = *lp;
	if (l == NULL)
		return;
	listener_shutdown(l);
	int64_t left = deadline_ms - clock_mono_ms();
	unsigned grace_ms = left > 0 ? (unsigned)left : 0;
	struct timespec deadline = clock_deadline(CLOCK_REALTIME, grace_ms);
	pthread_mutex_lock(&l->mu);
	wait_sessions(l, &deadline);
	if (l->active > 0)
		log_msgf(LOG_WARN, l->name, "%zu sessions still running after %u ms: closing them",
		         l->active, grace_ms);
	for (struct session *s = l->sessions; s != NULL; s = s->next)
		shutdown(s->keep_fd, SHUT_RDWR);
	while (l->active > 0)
		pthread_cond_wait(&l->cv, &l->mu);
	park_thread_stop(l);
	pthread_mutex_unlock(&l->mu);
	close(l->cancel[0]);
	close(l->cancel[1]);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->name);
	free(l);
	*lp = NULL;
}
