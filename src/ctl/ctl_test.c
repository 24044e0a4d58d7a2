/* ctl_test.c: the control socket, server and client in one process. */
#include "ctl/ctl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

static int handle_echo(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	(*(int *)arg)++;
	for (int i = 1; i < argc; i++)
		buf_appendf(out, "%s%s", i > 1 ? " " : "", argv[i]);
	return 0;
}

static int handle_fail(void *arg, int argc, char **argv, struct buf *out, struct error *err)
{
	return error_set(err, ERR_INVALID, "failing on purpose: %s", argv[1]);
}

static const struct ctl_command commands[] = {
	{"echo", 0, 3, handle_echo},
	{"fail", 1, 1, handle_fail},
};

static char dir[] = "/tmp/ternctlXXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	return rmdir(dir);
}

static void test_call_roundtrip(void **state)
{
	int calls = 0;
	struct error err;
	struct ctl_server *s = ctl_server_start(dir, commands, 2, &calls, &err);
	assert_non_null(s);
	struct buf out;
	buf_init(&out, 1024);
	const char *args[] = {"echo", "hello", "wide world"};
	assert_int_equal(ctl_call(dir, 3, args, &out, &err), 1);
	assert_string_equal(out.data, "hello wide world");
	assert_int_equal(calls, 1);

	const char *fail[] = {"fail", "x"};
	assert_int_equal(ctl_call(dir, 2, fail, &out, &err), -1);
	assert_string_equal(err.msg, "failing on purpose: x");

	const char *unknown[] = {"frobnicate"};
	assert_int_equal(ctl_call(dir, 1, unknown, &out, &err), -1);
	assert_string_equal(err.msg, "unknown control command \"frobnicate\"");

	const char *toomany[] = {"fail", "a", "b"};
	assert_int_equal(ctl_call(dir, 3, toomany, &out, &err), -1);
	assert_string_equal(err.msg, "wrong number of arguments for \"fail\"");

	/* A second server on the same directory is refused. */
	struct ctl_server *s2 = ctl_server_start(dir, commands, 2, &calls, &err);
	assert_null(s2);
	assert_non_null(strstr(err.msg, "already running"));

	ctl_server_stop(&s);
	assert_null(s);
	assert_int_equal(ctl_call(dir, 3, args, &out, &err), 0);  /* nobody runs */
	buf_free(&out);
}

static void test_stale_socket_replaced(void **state)
{
	char path[256];
	struct error err;
	assert_int_equal(ctl_socket_path(dir, path, sizeof(path), &err), 0);
	/* Leave a socket file behind with nobody listening. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	struct buf out;
	buf_init(&out, 1024);
	const char *args[] = {"echo"};
	assert_int_equal(ctl_call(dir, 1, args, &out, &err), 0);
	int calls = 0;
	struct ctl_server *s = ctl_server_start(dir, commands, 2, &calls, &err);
	assert_non_null(s);
	assert_int_equal(ctl_call(dir, 1, args, &out, &err), 1);
	ctl_server_stop(&s);
	buf_free(&out);
}

static void test_garbage_request(void **state)
{
	int calls = 0;
	struct error err;
	struct ctl_server *s = ctl_server_start(dir, commands, 2, &calls, &err);
	char path[256];
	ctl_socket_path(dir, path, sizeof(path), &err);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	const char bad[] = "call 99999\n";
	assert_int_equal(write(fd, bad, sizeof(bad) - 1), (ssize_t)sizeof(bad) - 1);
	char reply[64];
	ssize_t n = read(fd, reply, sizeof(reply));
	assert_int_equal(n, 11);  /* the greeting, then the server hangs up */
	assert_int_equal(read(fd, reply, sizeof(reply)), 0);
	close(fd);
	assert_int_equal(calls, 0);
	/* The server still answers afterwards. */
	struct buf out;
	buf_init(&out, 64);
	const char *args[] = {"echo", "still"};
	assert_int_equal(ctl_call(dir, 2, args, &out, &err), 1);
	assert_string_equal(out.data, "still");
	buf_free(&out);
	ctl_server_stop(&s);
}

static void test_path_too_long(void **state)
{
	char longdir[200];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	char path[300];
	struct error err;
	assert_int_equal(ctl_socket_path(longdir, path, sizeof(path), &err), -1);
	assert_non_null(strstr(err.msg, "use a shorter data directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_roundtrip),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test(test_garbage_request),
		cmocka_unit_test(test_path_too_long),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
