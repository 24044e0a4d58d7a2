/* ratelimit_test.c: windows, sliding estimate, eviction, address keys. */
#include "core/ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static int64_t fake_now;
static int64_t clock_fake(void) { return fake_now; }

static struct ratelimit *make(unsigned window, unsigned max, size_t keys)
{
	struct ratelimit *rl = ratelimit_new(window, max, keys);
	fake_now = 1000 * window;  /* the start of a window */
	ratelimit_set_clock(rl, clock_fake);
	return rl;
}

static void test_limit_within_window(void **state)
{
	struct ratelimit *rl = make(60, 3, 16);
	assert_true(ratelimit_ok(rl, "1.2.3.4"));
	ratelimit_add(rl, "1.2.3.4", 2);
	assert_true(ratelimit_ok(rl, "1.2.3.4"));
	ratelimit_add(rl, "1.2.3.4", 1);
	assert_false(ratelimit_ok(rl, "1.2.3.4"));
	assert_true(ratelimit_ok(rl, "5.6.7.8"));  /* other keys are separate */
	ratelimit_reset(rl, "1.2.3.4");
	assert_true(ratelimit_ok(rl, "1.2.3.4"));
	ratelimit_free(&rl);
}

static void test_sliding_window(void **state)
{
	struct ratelimit *rl = make(60, 4, 16);
	ratelimit_add(rl, "k", 4);
	fake_now += 60;                 /* next window start: previous counts fully */
	assert_false(ratelimit_ok(rl, "k"));
	fake_now += 30;                 /* halfway: 4 * 0.5 = 2 */
	assert_true(ratelimit_ok(rl, "k"));
	ratelimit_add(rl, "k", 2);      /* 2 + 2 = 4 */
	assert_false(ratelimit_ok(rl, "k"));
	fake_now += 120;                /* two windows later: all forgotten */
	assert_true(ratelimit_ok(rl, "k"));
	ratelimit_free(&rl);
}

/* take checks and counts in one step; refund gives back, also after the
 * window moved on. */
static void test_take_refund(void **state)
{
	struct ratelimit *rl = make(60, 2, 16);
	assert_true(ratelimit_take(rl, "k"));
	assert_true(ratelimit_take(rl, "k"));
	assert_false(ratelimit_take(rl, "k"));  /* full: not counted */
	ratelimit_refund(rl, "k", 1);
	assert_true(ratelimit_ok(rl, "k"));
	assert_true(ratelimit_take(rl, "k"));
	assert_false(ratelimit_ok(rl, "k"));
	fake_now += 60;                         /* the 2 are now the previous window's */
	assert_false(ratelimit_ok(rl, "k"));
	ratelimit_refund(rl, "k", 1);
	assert_true(ratelimit_ok(rl, "k"));
	ratelimit_refund(rl, "k", 5);           /* never below nothing */
	assert_true(ratelimit_take(rl, "k"));
	assert_true(ratelimit_take(rl, "k"));
	assert_false(ratelimit_take(rl, "k"));
	ratelimit_refund(rl, "unknown", 1);
	ratelimit_free(&rl);
}

static void test_eviction_bounded(void **state)
{
	struct ratelimit *rl = make(60, 1, 16);
	char key[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		fake_now++;
		ratelimit_add(rl, key, 1);
	}
	/* The most recent key is remembered; memory stayed fixed (16 slots). */
	assert_false(ratelimit_ok(rl, "k9999"));
	ratelimit_free(&rl);
}

static void test_addr_key(void **state)
{
	char out[RATELIMIT_KEY_MAX];
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
	ratelimit_addr_key((struct sockaddr *)&v4, out);
	assert_string_equal(out, "192.0.2.7");
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &v6.sin6_addr);
	ratelimit_addr_key((struct sockaddr *)&v6, out);
	assert_string_equal(out, "2001:db8:1:2::/64");
	inet_pton(AF_INET6, "::ffff:198.51.100.1", &v6.sin6_addr);
	ratelimit_addr_key((struct sockaddr *)&v6, out);
	assert_string_equal(out, "198.51.100.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_within_window),
		cmocka_unit_test(test_sliding_window),
		cmocka_unit_test(test_eviction_bounded),
		cmocka_unit_test(test_take_refund),
		cmocka_unit_test(test_addr_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
