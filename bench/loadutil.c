/*
 * loadutil.c: failure reporting, clock, options and connections of the load
 * generators (see loadutil.h).
 */
#include "loadutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *load_name = "load";
atomic_bool load_stop;
struct addrinfo *load_target;

static const char *target_host, *target_port;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

void load_fail(const char *fmt, ...)
{
	pthread_mutex_lock(&err_lock);
	if (!atomic_exchange(&load_stop, true)) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "%s: ", load_name);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	pthread_mutex_unlock(&err_lock);
}

double load_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long load_number(const char *flag, const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min) {
		fprintf(stderr, "%s: %s: bad value %s\n", load_name, flag, s);
		exit(2);
	}
	return v;
}

bool load_flags(int argc, char **argv, int from, const struct load_flag *flags, size_t n)
{
	for (int i = from; i < argc; i += 2) {
		if (i + 1 >= argc)
			return false;
		size_t k = 0;
		while (k < n && strcmp(argv[i], flags[k].name) != 0)
			k++;
		if (k == n)
			return false;
		const struct load_flag *f = &flags[k];
		if (f->str != NULL)
			*f->str = argv[i + 1];
		else if (f->num != NULL)
			*f->num = load_number(f->name, argv[i + 1], f->min);
		else
			f->fn(argv[i + 1]);
	}
	return true;
}

int load_resolve(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int gai = getaddrinfo(host, port, &hints, &load_target);
	if (gai != 0) {
		fprintf(stderr, "%s: %s port %s: %s\n", load_name, host, port, gai_strerror(gai));
		return 1;
	}
	target_host = host;
	target_port = port;
	return 0;
}

int load_connect(int id, int timeout_s)
{
	for (struct addrinfo *ai = load_target; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			int one = 1;
			struct timeval tv = {.tv_sec = timeout_s};
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
			return fd;
		}
		int e = errno;
		close(fd);
		errno = e;
	}
	load_fail("connection %d: connect to %s port %s: %s", id, target_host, target_port,
	          strerror(errno));
	return -1;
}

int load_send(int fd, int id, const char *p, size_t n, const char *what)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			load_fail("connection %d: sending %s: %s", id, what, strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
