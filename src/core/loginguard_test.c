/*
 * loginguard_test.c: failed logins counted per address before the password
 * check (attempts made at once on many connections), given back on success;
 * attempts beyond the budget wait for running ones instead of failing.
 */
#include "core/loginguard.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* Attempts started together: LOGINGUARD_FAILS_PER_IP run at once, the
 * others wait for them; when those all fail, the waiting ones are refused
 * (the budget is spent), never more than the limit checked. */
struct parallel {
	struct loginguard *g;
	bool succeed;
};

static void *attempt_thread(void *arg)
{
	struct parallel *p = arg;
	if (!loginguard_attempt(p->g, "192.0.2.1"))
		return NULL;
	usleep(20000);  /* the password check */
	if (p->succeed)
		loginguard_attempt_succeeded(p->g, "192.0.2.1", "alice");
	else
		loginguard_attempt_failed(p->g, "192.0.2.1", "alice");
	return p;
}

static int run_parallel(struct parallel *p)
{
	pthread_t t[3 * LOGINGUARD_FAILS_PER_IP];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		assert_int_equal(pthread_create(&t[i], NULL, attempt_thread, p), 0);
	int started = 0;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		started += r != NULL;
	}
	return started;
}

static void test_parallel_failures(void **state)
{
	struct parallel p = {.g = loginguard_new(), .succeed = false};
	p.g->fail_delay_ms = 0;
	assert_int_equal(run_parallel(&p), LOGINGUARD_FAILS_PER_IP);
	assert_false(loginguard_address_ok(p.g, "192.0.2.1"));
	assert_true(loginguard_address_ok(p.g, "192.0.2.2"));
	loginguard_free(&p.g);
}

/* Many clients behind one address logging in at once all get through. */
static void test_parallel_successes_wait(void **state)
{
	struct parallel p = {.g = loginguard_new(), .succeed = true};
	assert_int_equal(run_parallel(&p), 3 * LOGINGUARD_FAILS_PER_IP);
	assert_true(loginguard_address_ok(p.g, "192.0.2.1"));
	loginguard_free(&p.g);
}

/* A wait has an end: attempts that never finish make the next one fail
 * after attempt_wait_ms; abandoned attempts stay failures. */
static void test_wait_ends(void **state)
{
	struct loginguard *g = loginguard_new();
	g->attempt_wait_ms = 200;
	for (int i = 0; i < LOGINGUARD_FAILS_PER_IP; i++)
		assert_true(loginguard_attempt(g, "192.0.2.1"));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_false(loginguard_attempt(g, "192.0.2.1"));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 190);
	for (int i = 0; i < LOGINGUARD_FAILS_PER_IP; i++)
		loginguard_attempt_abandoned(g, "192.0.2.1");
	assert_false(loginguard_attempt(g, "192.0.2.1"));  /* at once: nothing runs */
	assert_int_equal(g->n_running, 0);
	loginguard_free(&g);
}

/* Stopping the server ends the waits at once. */
static void *stop_later(void *arg)
{
	usleep(100000);
	loginguard_stop(arg);
	return NULL;
}

static void test_stop_ends_waits(void **state)
{
	struct loginguard *g = loginguard_new();
	for (int i = 0; i < LOGINGUARD_FAILS_PER_IP; i++)
		assert_true(loginguard_attempt(g, "192.0.2.1"));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, stop_later, g), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_false(loginguard_attempt(g, "192.0.2.1"));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);  /* not the 20 s wait */
	pthread_join(t, NULL);
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
		loginguard_attempt_failed(g, "192.0.2.1", "alice");
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
		cmocka_unit_test(test_parallel_failures),
		cmocka_unit_test(test_parallel_successes_wait),
		cmocka_unit_test(test_wait_ends),
		cmocka_unit_test(test_stop_ends_waits),
		cmocka_unit_test(test_success_refunds),
		cmocka_unit_test(test_void_refunds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
