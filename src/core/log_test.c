/* log_test.c: unit tests for log.c: format, escaping, levels per package. */
#include "core/log.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* Captures what the logger writes through a pipe. */
static int pipe_fds[2];

static int setup(void **state)
{
	if (pipe(pipe_fds) != 0)
		return -1;
	log_set_fd(pipe_fds[1]);
	log_set_default_level(LOG_INFO);
	log_set_pkg_levels(0, NULL, NULL);
	return 0;
}

static int teardown(void **state)
{
	log_set_fd(2);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

static char captured[LOG_LINE_MAX * 2];

static const char *capture(void)
{
	ssize_t n = read(pipe_fds[0], captured, sizeof(captured) - 1);
	captured[n > 0 ? n : 0] = '\0';
	return captured;
}

static void test_line_format(void **state)
{
	struct log_line *l = log_begin(LOG_INFO, "smtpserver", "delivered");
	log_str(l, "rcpt", "a@b.example");
	log_int(l, "size", 1234);
	log_bool(l, "tls", true);
	log_end(l);
	const char *s = capture();
	assert_int_equal(strncmp(s, "time=", 5), 0);
	assert_int_equal(s[15], 'T');
	assert_non_null(strstr(s, "Z level=info pkg=smtpserver msg=delivered rcpt=a@b.example "
	                          "size=1234 tls=true\n"));
}

static void test_escaping(void **state)
{
	struct log_line *l = log_begin(LOG_WARN, "smtp", "bad command");
	log_str(l, "line", "MAIL FROM:<x>\r\nkey=forged \"q\" \\");
	log_strn(l, "bin", "\x01\xff\xc3\xa9", 4);
	log_str(l, "empty", "");
	log_end(l);
	const char *s = capture();
	assert_non_null(strstr(s, "msg=\"bad command\" "
	                          "line=\"MAIL FROM:<x>\\r\\nkey=forged \\\"q\\\" \\\\\" "
	                          "bin=\"\\x01\\xff\xc3\xa9\" empty=\"\"\n"));
	/* Exactly one line: no raw newline inside. */
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
	/* A key from the network cannot end the line or forge a pair. */
	l = log_begin(LOG_WARN, "imap", "id");
	log_str(l, "x\r\ntime=0 level=error msg=forged a", "v");
	log_str(l, "", "w");
	log_str(l, "os.name-2", "y");
	log_end(l);
	s = capture();
	assert_non_null(strstr(s, "msg=id x__time_0_level_error_msg_forged_a=v _=w os.name-2=y\n"));
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
}

static void test_levels_per_package(void **state)
{
	const char *pkgs[] = {"dns"};
	enum log_level levels[] = {LOG_DEBUG};
	assert_int_equal(log_set_pkg_levels(1, pkgs, levels), 0);
	assert_true(log_enabled(LOG_DEBUG, "dns"));
	assert_false(log_enabled(LOG_TRACE, "dns"));
	assert_false(log_enabled(LOG_DEBUG, "smtp"));
	assert_true(log_enabled(LOG_INFO, "smtp"));
	assert_null(log_begin(LOG_DEBUG, "smtp", "x"));
	log_str(NULL, "k", "v");   /* disabled lines are no-ops */
	log_end(NULL);
	log_set_default_level(LOG_ERROR);
	assert_false(log_enabled(LOG_WARN, "smtp"));
	assert_true(log_enabled(LOG_DEBUG, "dns"));
	log_set_default_level(LOG_INFO);
	log_set_pkg_levels(0, NULL, NULL);
	assert_false(log_enabled(LOG_DEBUG, "dns"));
}

static void test_level_names(void **state)
{
	enum log_level l;
	assert_int_equal(log_level_parse("traceauth", &l), 0);
	assert_int_equal(l, LOG_TRACEAUTH);
	assert_string_equal(log_level_name(LOG_WARN), "warn");
	assert_int_equal(log_level_parse("verbose", &l), -1);
	char longname[LOG_PKG_NAME_MAX + 2];
	memset(longname, 'p', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *pkgs[] = {longname};
	enum log_level levels[] = {LOG_DEBUG};
	assert_int_equal(log_set_pkg_levels(1, pkgs, levels), -1);
}

static void test_long_line_cut(void **state)
{
	static char big[LOG_LINE_MAX * 2];
	memset(big, 'a', sizeof(big) - 1);
	struct log_line *l = log_begin(LOG_ERROR, "x", "big");
	log_str(l, "small", "kept");
	log_str(l, "huge", big);
	log_end(l);
	const char *s = capture();
	assert_true(strlen(s) <= LOG_LINE_MAX);
	assert_non_null(strstr(s, "small=kept truncated=true\n"));
}

static void test_error_value(void **state)
{
	struct error e;
	error_set(&e, ERR_TIMEOUT, "read timed out after %d ms", 200);
	struct log_line *l = log_begin(LOG_INFO, "core", "closed");
	log_error_value(l, &e);
	log_end(l);
	assert_non_null(strstr(capture(), "err=\"read timed out after 200 ms\" errkind=timeout\n"));
}

static void test_escape_function(void **state)
{
	char out[8];
	assert_int_equal(log_escape(out, sizeof(out), "abc", 3), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(log_escape(out, sizeof(out), "a b c d e", 9), sizeof(out));
}

static void test_error_helpers(void **state)
{
	struct error e;
	char longmsg[ERROR_MSG_MAX * 2];
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	assert_int_equal(error_set(&e, ERR_INVALID, "%s", longmsg), -1);
	assert_int_equal(strlen(e.msg), ERROR_MSG_MAX - 1);
	assert_string_equal(e.msg + ERROR_MSG_MAX - 4, "...");
	error_set(&e, ERR_LIMIT, "line too long");
	error_prefix(&e, "smtp %s", "session");
	assert_string_equal(e.msg, "smtp session: line too long");
	assert_int_equal(e.kind, ERR_LIMIT);
	error_errno(&e, 2, "open %s", "x.conf");
	assert_string_equal(e.msg, "open x.conf: No such file or directory");
	assert_string_equal(error_kind_name(e.kind), "io");
	error_clear(&e);
	assert_int_equal(e.kind, ERR_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_levels_per_package),
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_long_line_cut),
		cmocka_unit_test(test_error_value),
		cmocka_unit_test(test_escape_function),
		cmocka_unit_test(test_error_helpers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
