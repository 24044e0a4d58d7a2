/*
 * read_test.c: the command reader (read.c) over a socketpair: synchronizing
 * literals with the continuation callback, LITERAL+ and the LITERAL- limit,
 * literal8 with NUL bytes, refused literals and lines, and that after every
 * refusal the next command is read in step.
 */
#include "imap/imap.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

struct env {
	int peer;                    /* the client's end */
	struct conn *c;
	struct arena *a;
	struct buf scratch;
	struct imap_limits lim;
	struct imap_command cmd;
	struct imap_refusal ref;
	struct error e;
	int conts;                   /* continuation callbacks */
	uint64_t last_cont;
};

static struct env *open_env(size_t line_max)
{
	struct env *v = calloc(1, sizeof *v);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	v->peer = sv[1];
	v->c = conn_new(sv[0], line_max, &v->e);
	assert_non_null(v->c);
	conn_set_idle_timeout(v->c, 2000);
	v->a = arena_new(4096, ARENA_PLAIN);
	buf_init(&v->scratch, BUF_UNBOUNDED);
	imap_limits_default(&v->lim);
	return v;
}

static void close_env(struct env *v)
{
	conn_free(&v->c);
	close(v->peer);
	arena_free(&v->a);
	buf_free(&v->scratch);
	free(v);
}

static void send_raw(struct env *v, const void *p, size_t n)
{
	const char *q = p;
	while (n > 0) {
		ssize_t k = write(v->peer, q, n);
		assert_true(k > 0);
		q += k;
		n -= (size_t)k;
	}
}

static void send_str(struct env *v, const char *s)
{
	send_raw(v, s, strlen(s));
}

static int cont(void *ctx, uint64_t size, struct error *e)
{
	struct env *v = ctx;
	v->conts++;
	v->last_cont = size;
	if (conn_write(v->c, "+ Ready\r\n", 9, e) < 0)
		return -1;
	return conn_flush(v->c, e);
}

static int rd(struct env *v, unsigned flags)
{
	return imap_read_command(v->c, &v->lim, flags, cont, v, &v->scratch, v->a, &v->cmd,
		&v->ref, &v->e);
}

static void expect(struct env *v, unsigned flags, enum imap_cmd cmd, const char *tag)
{
	if (rd(v, flags) < 0)
		fail_msg("read: %s", v->e.msg);
	assert_int_equal(v->cmd.cmd, cmd);
	assert_string_equal(v->cmd.tag, tag);
}

static void expect_refused(struct env *v, unsigned flags, const char *tag, bool sync_refused)
{
	if (rd(v, flags) == 0)
		fail_msg("accepted %s", imap_cmd_name(v->cmd.cmd));
	assert_false(v->ref.fatal);
	assert_int_equal(v->ref.literal_refused, sync_refused);
	if (tag == NULL)
		assert_null(v->ref.tag);
	else
		assert_string_equal(v->ref.tag, tag);
}

static void test_sync_literal(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	send_str(v, "a1 LOGIN {5}\r\nsmith {6}\r\nsesame\r\na2 NOOP\r\n");
	expect(v, 0, IMAP_CMD_LOGIN, "a1");
	assert_string_equal(v->cmd.user, "smith");
	assert_string_equal(v->cmd.password, "sesame");
	assert_int_equal(v->conts, 2);
	assert_int_equal(v->last_cont, 6);
	char got[64] = { 0 };
	ssize_t n = read(v->peer, got, sizeof got - 1);
	assert_int_equal(n, 18);
	assert_string_equal(got, "+ Ready\r\n+ Ready\r\n");
	expect(v, 0, IMAP_CMD_NOOP, "a2");
	close_env(v);
}

static void test_literal_plus_minus(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	/* LITERAL+ / LITERAL- within 4096: no continuation. */
	send_str(v, "a1 LOGIN {5+}\r\nsmith sesame\r\n");
	expect(v, 0, IMAP_CMD_LOGIN, "a1");
	assert_int_equal(v->conts, 0);
	/* LITERAL-: exactly 4096 octets is fine ... */
	char *big = malloc(5000);
	memset(big, 'x', 5000);
	send_str(v, "a1b SEARCH TEXT {4096+}\r\n");
	send_raw(v, big, 4096);
	send_str(v, "\r\n");
	expect(v, 0, IMAP_CMD_SEARCH, "a1b");
	assert_int_equal(v->conts, 0);
	/* ... 4097 octets refused with TOOBIG, the bytes dropped, in step. */
	send_str(v, "a2 SEARCH TEXT {4097+}\r\n");
	send_raw(v, big, 4097);
	send_str(v, " SUBJECT {3+}\r\nabc\r\na3 NOOP\r\n");
	expect_refused(v, 0, "a2", false);
	assert_string_equal(v->ref.code, "TOOBIG");
	assert_int_equal(v->e.kind, ERR_LIMIT);
	expect(v, 0, IMAP_CMD_NOOP, "a3");
	/* With LITERAL+ the same is accepted. */
	send_str(v, "a4 SEARCH TEXT {4097+}\r\n");
	send_raw(v, big, 4097);
	send_str(v, "\r\n");
	expect(v, IMAP_LITERAL_PLUS, IMAP_CMD_SEARCH, "a4");
	assert_int_equal(strlen(v->cmd.search.key->list[0]->str), 4097);
	free(big);
	close_env(v);
}

static void test_binary_literal(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	static const char in1[] = "a1 APPEND INBOX (\\Seen) ~{6}\r\nab\0\0cd\r\na2 NOOP\r\n";
	send_raw(v, in1, sizeof in1 - 1);
	expect(v, 0, IMAP_CMD_APPEND, "a1");
	assert_int_equal(v->conts, 1);
	assert_true(v->cmd.msgs[0].binary);
	assert_int_equal(v->cmd.msgs[0].size, 6);
	assert_memory_equal(v->cmd.msgs[0].data, "ab\0\0cd", 6);
	expect(v, 0, IMAP_CMD_NOOP, "a2");
	/* NUL in an ordinary literal: BAD, in step. */
	static const char in2[] = "a3 APPEND INBOX {3+}\r\na\0b\r\na4 NOOP\r\n";
	send_raw(v, in2, sizeof in2 - 1);
	expect_refused(v, 0, "a3", false);
	expect(v, 0, IMAP_CMD_NOOP, "a4");
	close_env(v);
}

static void test_too_large_refused(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	v->lim.command_max = 1000;
	v->lim.append_max = 100;
	/* The client waits for "+": it never sends the literal. */
	send_str(v, "a1 LOGIN {999999}\r\na2 NOOP\r\n");
	expect_refused(v, 0, "a1", true);
	assert_string_equal(v->ref.code, "TOOBIG");
	assert_int_equal(v->conts, 0);
	expect(v, 0, IMAP_CMD_NOOP, "a2");
	/* APPEND uses append_max, not command_max. */
	send_str(v, "a3 APPEND INBOX {101}\r\na4 APPEND INBOX {100+}\r\n");
	expect_refused(v, 0, "a3", true);
	char msg[100];
	memset(msg, 'm', sizeof msg);
	send_raw(v, msg, sizeof msg);
	send_str(v, "\r\n");
	expect(v, IMAP_LITERAL_PLUS, IMAP_CMD_APPEND, "a4");
	assert_int_equal(v->cmd.msgs[0].size, 100);
	/* 64-bit overflow in the size. */
	send_str(v, "a5 LOGIN {99999999999999999999999}\r\na6 NOOP\r\n");
	expect_refused(v, 0, "a5", true);
	expect(v, 0, IMAP_CMD_NOOP, "a6");
	/* Too many literals. */
	v->lim.args_max = 2;
	send_str(v, "a7 LOGIN {1+}\r\na {1+}\r\nb {1+}\r\nc\r\na8 NOOP\r\n");
	expect_refused(v, 0, "a7", false);
	assert_string_equal(v->ref.code, "LIMIT");
	expect(v, 0, IMAP_CMD_NOOP, "a8");
	close_env(v);
}

static void test_bad_syntax_in_step(void **state)
{
	struct env *v = open_env(256);
	send_str(v, "a1 FETCH 1 (FLAGS\r\na2 NOOP\r\n* BAD\r\na3 FROB {3}\r\nabc\r\na4 NOOP\r\n");
	expect_refused(v, 0, "a1", false);
	assert_int_equal(v->e.kind, ERR_INVALID);
	expect(v, 0, IMAP_CMD_NOOP, "a2");
	expect_refused(v, 0, NULL, false);
	expect_refused(v, 0, "a3", false);
	expect(v, 0, IMAP_CMD_NOOP, "a4");
	/* A line over line_max announcing a LITERAL+ literal: both dropped. */
	char line[1200];
	memset(line, 'x', sizeof line);
	memcpy(line, "a5 LOGIN ", 9);
	memcpy(line + sizeof line - 6, " {3+}", 5);
	line[sizeof line - 1] = '\0';
	send_str(v, line);
	send_str(v, "\r\nabc more\r\na6 NOOP\r\n");
	expect_refused(v, 0, "a5", false);
	assert_string_equal(v->e.msg, "command line too long");
	expect(v, 0, IMAP_CMD_NOOP, "a6");
	/* Command total over command_max. */
	v->lim.command_max = 100;
	send_str(v, "a7 LOGIN {60+}\r\n");
	char sixty[60];
	memset(sixty, 'y', sizeof sixty);
	send_raw(v, sixty, 60);
	send_str(v, " {60+}\r\n");
	send_raw(v, sixty, 60);
	send_str(v, "\r\na8 NOOP\r\n");
	expect_refused(v, 0, "a7", false);
	expect(v, 0, IMAP_CMD_NOOP, "a8");
	close_env(v);
}

static int cont_fail(void *ctx, uint64_t size, struct error *e)
{
	return error_set(e, ERR_CLOSED, "peer gone");
}

static void test_fatal(void **state)
{
	/* A refused non-synchronizing literal larger than skip_max: fatal. */
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	v->lim.command_max = 50;
	v->lim.skip_max = 10;
	send_str(v, "a1 LOGIN {60+}\r\n");
	assert_int_equal(rd(v, IMAP_LITERAL_PLUS), -1);
	assert_true(v->ref.fatal);
	assert_int_equal(v->e.kind, ERR_LIMIT);
	close_env(v);
	/* The continuation callback fails: fatal with its error. */
	v = open_env(IMAP_LINE_MAX_DEFAULT);
	send_str(v, "a1 LOGIN {3}\r\nabc x\r\n");
	assert_int_equal(imap_read_command(v->c, &v->lim, 0, cont_fail, v, &v->scratch, v->a,
		&v->cmd, &v->ref, &v->e), -1);
	assert_true(v->ref.fatal);
	assert_string_equal(v->e.msg, "peer gone");
	close_env(v);
}

static void test_idle_and_sasl(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	send_str(v, "a1 IDLE\r\ndone\r\nfoo\r\ndGVzdA==\r\n");
	expect(v, 0, IMAP_CMD_IDLE, "a1");
	assert_int_equal(imap_read_idle_done(v->c, &v->e), 0);
	assert_int_equal(imap_read_idle_done(v->c, &v->e), -1);
	assert_int_equal(v->e.kind, ERR_INVALID);
	const char *line;
	assert_int_equal(imap_read_sasl_line(v->c, v->a, &line, &v->e), 0);
	assert_string_equal(line, "dGVzdA==");
	close(v->peer);
	v->peer = -1;
	assert_int_equal(rd(v, 0), -1);
	assert_true(v->ref.fatal);
	assert_int_equal(v->e.kind, ERR_CLOSED);
	close_env(v);
}

/* APPEND literals are reserved from a shared budget before they are read:
 * one that does not fit is refused with NO [LIMIT] (a synchronizing one
 * before "+"), the command's earlier reservations are given back, and a
 * command that was read holds its octets until released. */
static void test_append_budget(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	struct imap_append_budget budget = { .max = 100 };
	v->lim.append_budget = &budget;
	atomic_store(&budget.used, 30);  /* held by another session */
	send_str(v, "a1 APPEND INBOX {60+}\r\n");
	char msg[61];
	memset(msg, 'x', 60);
	send_raw(v, msg, 60);
	send_str(v, " {60+}\r\n");
	send_raw(v, msg, 60);
	send_str(v, "\r\na2 NOOP\r\n");
	expect_refused(v, IMAP_LITERAL_PLUS, "a1", false);
	assert_true(v->ref.no);
	assert_string_equal(v->ref.code, "LIMIT");
	assert_int_equal(atomic_load(&budget.used), 30);  /* the first 60 given back */
	expect(v, IMAP_LITERAL_PLUS, IMAP_CMD_NOOP, "a2");
	atomic_store(&budget.used, 0);
	/* One that fits is held by the command until released. */
	send_str(v, "a3 APPEND INBOX {60}\r\n");
	send_raw(v, msg, 60);
	send_str(v, "\r\n");
	expect(v, 0, IMAP_CMD_APPEND, "a3");
	assert_int_equal(v->cmd.append_held, 60);
	assert_int_equal(atomic_load(&budget.used), 60);
	uint64_t held = v->cmd.append_held;
	/* Meanwhile a synchronizing literal that does not fit gets no "+". */
	v->conts = 0;
	send_str(v, "a4 APPEND INBOX {41}\r\n");
	expect_refused(v, 0, "a4", true);
	assert_true(v->ref.no);
	assert_int_equal(v->conts, 0);
	imap_append_budget_release(&budget, held);
	assert_int_equal(atomic_load(&budget.used), 0);
	/* A command alone in the budget may pass it: 3 x 60 > 100. */
	send_str(v, "a6 APPEND INBOX {60+}\r\n");
	send_raw(v, msg, 60);
	send_str(v, " {60+}\r\n");
	send_raw(v, msg, 60);
	send_str(v, " {60+}\r\n");
	send_raw(v, msg, 60);
	send_str(v, "\r\n");
	expect(v, IMAP_LITERAL_PLUS, IMAP_CMD_APPEND, "a6");
	assert_int_equal(v->cmd.n_msgs, 3);
	assert_int_equal(atomic_load(&budget.used), 180);
	imap_append_budget_release(&budget, v->cmd.append_held);
	/* Other commands' literals are not counted. */
	send_str(v, "a5 LOGIN {5}\r\nsmith {6}\r\nsesame\r\n");
	expect(v, 0, IMAP_CMD_LOGIN, "a5");
	assert_int_equal(v->cmd.append_held, 0);
	assert_int_equal(atomic_load(&budget.used), 0);
	close_env(v);
}

/* The continuation callback may refuse a synchronizing literal: NO, no
 * "+", and the client sends nothing more of the command. */
static int cont_refuse(void *ctx, uint64_t size, struct error *e)
{
	struct env *v = ctx;
	v->conts++;
	error_set(e, ERR_NOTFOUND, "Mailbox Nowhere does not exist");
	return 1;
}

static void test_cont_refuses(void **state)
{
	struct env *v = open_env(IMAP_LINE_MAX_DEFAULT);
	send_str(v, "a1 APPEND Nowhere {60}\r\na2 NOOP\r\n");
	assert_int_equal(imap_read_command(v->c, &v->lim, 0, cont_refuse, v, &v->scratch, v->a,
		&v->cmd, &v->ref, &v->e), -1);
	assert_false(v->ref.fatal);
	assert_true(v->ref.literal_refused);
	assert_true(v->ref.no);
	assert_string_equal(v->ref.code, "TRYCREATE");
	assert_string_equal(v->ref.tag, "a1");
	assert_string_equal(v->e.msg, "Mailbox Nowhere does not exist");
	assert_int_equal(v->conts, 1);
	expect(v, 0, IMAP_CMD_NOOP, "a2");
	close_env(v);
}

/* A line over line_max is skipped in chunks up to its LF and no further:
 * the literal it announces is dropped and the next command read in step,
 * also when the line arrives in many pieces. */
static void test_long_line_skipped(void **state)
{
	struct env *v = open_env(1024);
	size_t n = 100 * 1024;
	char *line = malloc(n);
	memset(line, 'y', n);
	memcpy(line, "a1 NOOP ", 8);
	for (size_t off = 0; off < n; off += 4000)
		send_raw(v, line + off, n - off < 4000 ? n - off : 4000);
	send_str(v, " {5+}\r\nhello\r\na2 NOOP\r\n");
	expect_refused(v, IMAP_LITERAL_PLUS, "a1", false);
	assert_string_equal(v->ref.code, "TOOBIG");
	expect(v, IMAP_LITERAL_PLUS, IMAP_CMD_NOOP, "a2");
	free(line);
	close_env(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_literal),
		cmocka_unit_test(test_literal_plus_minus),
		cmocka_unit_test(test_binary_literal),
		cmocka_unit_test(test_too_large_refused),
		cmocka_unit_test(test_bad_syntax_in_step),
		cmocka_unit_test(test_fatal),
		cmocka_unit_test(test_idle_and_sasl),
		cmocka_unit_test(test_append_budget),
		cmocka_unit_test(test_long_line_skipped),
		cmocka_unit_test(test_cont_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
