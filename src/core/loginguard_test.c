/*
 * loginguard_test.c: failed logins counted per address before the password
 * check (attempts made at once on many connections), given back on success.
 */
#include "core/loginguard.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Attempts started together all pass the address check only while they
 * stay within the limit: the check counts them at once. */
static void *attempt_thread(void *arg)
{
	struct loginguard *g = arg;
	return loginguard_attempt(g, "192.0.2.1") ? g : NULL;
}

static void test_parallel_attempts(void **state)
{
	struct loginguard *g = loginguard_new();
	g->fail_delay_ms = 0;
	pthread_t t[3 * LOGINGUARD_FAILS_PER_IP];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		assert_int_equal(pthread_create(&t[i], NULL, attempt_thread, g), 0);
	int started = 0;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		started += r != NULL;
	}
	assert_int_equal(started, LOGINGUARD_FAILS_PER_IP);
	assert_false(loginguard_address_ok(g, "192.0.2.1"));
	assert_true(loginguard_address_ok(g, "192.0.2.2"));
	loginguard_free(&g);
}

/* A success gives its count back: successful logins never lock out an
 * address; failures keep theirs. */
static void test_success_refunds(void **state)
{
	struct loginguard *g = loginguard_new();
	g->fail_delay_ms = 0;
	for (int i = 0; i < 3 * LOGINGUARD_FAILS_PER_IP; i++) {
		assert_true(loginguard_attempt(g, "192.0.2.1"));
		loginguard_attempt_succeeded(g, "192.0.2.1", "alice");
	}
	for (int i = 0; i < LOGINGUARD_FAILS_PER_IP; i++) {
		assert_true(loginguard_attempt(g, "192.0.2.1"));
		loginguard_attempt_failed(g, "alice");
	}
	assert_false(loginguard_attempt(g, "192.0.2.1"));
	loginguard_free(&g);
}

/* An attempt that checked no password gives its count back too. */
static void test_void_refunds(void **state)
{
	struct loginguard *g = loginguard_new();
	for (int i = 0; i < 3 * LOGINGUARD_FAILS_PER_IP; i++) {
		assert_true(loginguard_attempt(g, "192.0.2.1"));
		loginguard_attempt_void(g, "192.0.2.1");
	}
	assert_true(loginguard_address_ok(g, "192.0.2.1"));
	loginguard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_attempts),
		cmocka_unit_test(test_success_refunds),
		cmocka_unit_test(test_void_refunds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
