/* listener_test.c: accept loop, connection limit refusal, shutdown ending a
 * session that waits for input, parking (resumed by input, by its timeout
 * and by shutdown, without a thread meanwhile), and bind errors. */
#include "core/conn.h"
#include "core/connlimit.h"
#include "core/error.h"
#include "core/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum error_kind last_kind;

/* Echoes lines until the peer closes or the listener stops. */
static void echo(void *ctx, const struct listener_conn *lc)
{
	struct error e;
	struct conn *c = conn_new(lc->fd, 512, &e);
	conn_set_cancel_fd(c, lc->cancel_fd);
	struct conn_line line;
	while (conn_read_line(c, &line, &e) == 0) {
		conn_printf(c, &e, "echo %s\r\n", line.data);
		conn_flush(c, &e);
	}
	pthread_mutex_lock(&mu);
	last_kind = e.kind;
	pthread_mutex_unlock(&mu);
	conn_free(&c);
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void read_some(int fd, char *out, size_t size)
{
	ssize_t n = read(fd, out, size - 1);
	assert_true(n > 0);
	out[n] = 0;
}

static void test_echo_limit_and_shutdown(void **state)
{
	struct error e;
	int fd = listener_bind("127.0.0.1", 0, &e);
	assert_true(fd >= 0);
	int port = port_of(fd);
	struct connlimit *cl = connlimit_new(10, 1, 32, 64);
	struct listener_opts o = {.name = "test", .limit = cl, .busy_reply = "421 busy\r\n",
	                          .handler = echo};
	struct listener *l = listener_start(fd, &o, &e);
	assert_non_null(l);

	int a = dial(port);
	assert_int_equal(write(a, "hi\r\n", 4), 4);
	char buf[128];
	read_some(a, buf, sizeof(buf));
	assert_string_equal(buf, "echo hi\r\n");
	assert_int_equal(listener_active(l), 1);

	int b = dial(port);  /* a second one from the same address: refused */
	read_some(b, buf, sizeof(buf));
	assert_string_equal(buf, "421 busy\r\n");
	close(b);

	listener_free(&l, 5000);  /* a waits for a line: cancelled at once */
	assert_null(l);
	pthread_mutex_lock(&mu);
	assert_int_equal(last_kind, ERR_SHUTDOWN);
	pthread_mutex_unlock(&mu);
	assert_int_equal(connlimit_total(cl), 0);
	close(a);
	connlimit_free(&cl);
}

/*
 * Parking: the handler answers "parked" and parks on its socket; the
 * resume function says why it runs and what line came, then ends.
 */

struct parker {
	unsigned timeout_ms;
	struct conn *c;
};

static void resumed(void *ctx, const struct listener_conn *lc, enum listener_wake why)
{
	struct conn *c = ctx;
	struct error e;
	static const char *const names[] = {"ready", "timeout", "stop", "unparked"};
	struct conn_line line;
	if (why == LISTENER_WAKE_READY && conn_read_line(c, &line, &e) == 0)
		conn_printf(c, &e, "%s %s\r\n", names[why], line.data);
	else
		conn_printf(c, &e, "%s\r\n", names[why]);
	conn_flush(c, &e);
	(void)lc;
	conn_free(&c);
}

static void parks(void *ctx, const struct listener_conn *lc)
{
	const struct parker *p = ctx;
	struct error e;
	struct conn *c = conn_new(lc->fd, 512, &e);
	conn_printf(c, &e, "parked\r\n");
	conn_flush(c, &e);
	int fd = lc->fd;
	listener_park(lc, &fd, 1, p->timeout_ms, resumed, c);
}

static struct listener *start_parker(struct parker *p, int *port)
{
	struct error e;
	int fd = listener_bind("127.0.0.1", 0, &e);
	assert_true(fd >= 0);
	*port = port_of(fd);
	struct listener_opts o = {.name = "park", .handler = parks, .ctx = p};
	struct listener *l = listener_start(fd, &o, &e);
	assert_non_null(l);
	return l;
}

static void wait_parked(struct listener *l, size_t n)
{
	for (int i = 0; i < 500 && listener_parked(l) != n; i++)
		usleep(10000);
	assert_int_equal(listener_parked(l), n);
}

static int threads_now(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Threads:", 8) == 0)
			n = atoi(line + 8);
	if (f != NULL)
		fclose(f);
	return n;
}

static void test_park_resumes_on_input(void **state)
{
	struct parker p = {.timeout_ms = 60000};
	int port;
	struct listener *l = start_parker(&p, &port);
	enum { N = 20 };
	int fds[N];
	char buf[128];
	for (int i = 0; i < N; i++) {
		fds[i] = dial(port);
		read_some(fds[i], buf, sizeof(buf));
		assert_string_equal(buf, "parked\r\n");
	}
	wait_parked(l, N);
	assert_int_equal(listener_active(l), N);
	/* no thread per parked session: the accept and park threads remain */
	for (int i = 0; i < 100 && threads_now() > 3; i++)
		usleep(10000);
	assert_int_equal(threads_now(), 3);
	for (int i = 0; i < N; i++) {
		char line[32];
		int len = snprintf(line, sizeof(line), "hello %d\r\n", i);
		assert_int_equal(write(fds[i], line, (size_t)len), len);
		read_some(fds[i], buf, sizeof(buf));
		snprintf(line, sizeof(line), "ready hello %d\r\n", i);
		assert_string_equal(buf, line);
		close(fds[i]);
	}
	wait_parked(l, 0);
	listener_free(&l, 5000);
}

static void test_park_timeout_and_stop(void **state)
{
	struct parker p = {.timeout_ms = 100};
	int port;
	struct listener *l = start_parker(&p, &port);
	char buf[128];
	int a = dial(port);
	read_some(a, buf, sizeof(buf));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	read_some(a, buf, sizeof(buf));  /* the time is looked at once a second */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(buf, "timeout\r\n");
	assert_true(t1.tv_sec - t0.tv_sec <= 3);
	close(a);

	p.timeout_ms = 60000;
	int b = dial(port);
	read_some(b, buf, sizeof(buf));
	wait_parked(l, 1);
	listener_free(&l, 5000);  /* the parked session resumes to stop */
	read_some(b, buf, sizeof(buf));
	assert_string_equal(buf, "stop\r\n");
	close(b);
}

static void test_bind_errors(void **state)
{
	struct error e;
	assert_int_equal(listener_bind("300.1.1.1", 25, &e), -1);
	assert_string_equal(e.msg, "listen on 300.1.1.1:25: not an IPv4 address");
	int fd = listener_bind("127.0.0.1", 0, &e);
	int port = port_of(fd);
	assert_int_equal(listener_bind("127.0.0.1", port, &e), -1);
	assert_non_null(strstr(e.msg, "Address already in use"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_limit_and_shutdown),
		cmocka_unit_test(test_park_resumes_on_input),
		cmocka_unit_test(test_park_timeout_and_stop),
		cmocka_unit_test(test_bind_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
