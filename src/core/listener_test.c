/* listener_test.c: accept loop, connection limit refusal, shutdown ending a
 * session that waits for input, and bind errors. */
#include "core/conn.h"
#include "core/connlimit.h"
#include "core/error.h"
#include "core/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
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
		cmocka_unit_test(test_bind_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
