/* connlimit_test.c: unit tests for connlimit.c, at each limit and one past. */
#include "core/connlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_per_ip(void **state)
{
	struct connlimit *cl = connlimit_new(100, 2, 32, 64);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_OK);
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_OK);   /* at the limit */
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_PER_IP); /* one past */
	assert_int_equal(connlimit_acquire(cl, SA(b)), CONNLIMIT_OK);
	assert_int_equal(connlimit_count(cl, SA(a)), 2);
	assert_int_equal(connlimit_total(cl), 3);
	connlimit_release(cl, SA(a));
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_OK);
	connlimit_release(cl, SA(a));
	connlimit_release(cl, SA(a));
	connlimit_release(cl, SA(b));
	assert_int_equal(connlimit_total(cl), 0);
	assert_int_equal(connlimit_count(cl, SA(a)), 0);
	connlimit_free(&cl);
	assert_null(cl);
}

static void test_total(void **state)
{
	struct connlimit *cl = connlimit_new(2, 10, 32, 64);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("198.51.100.7"),
	                        c = addr("203.0.113.9");
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_OK);
	assert_int_equal(connlimit_acquire(cl, SA(b)), CONNLIMIT_OK);
	assert_int_equal(connlimit_acquire(cl, SA(c)), CONNLIMIT_TOTAL);
	assert_int_equal(connlimit_count(cl, SA(c)), 0);
	connlimit_release(cl, SA(b));
	assert_int_equal(connlimit_acquire(cl, SA(c)), CONNLIMIT_OK);
	connlimit_free(&cl);  /* frees counters still held */
}

static void test_ipv6_subnet_and_mapped(void **state)
{
	struct connlimit *cl = connlimit_new(100, 1, 32, 64);
	struct sockaddr_storage a = addr("2001:db8:1:2::1"), b = addr("2001:db8:1:2:ffff::9"),
	                        c = addr("2001:db8:1:3::1");
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_OK);
	assert_int_equal(connlimit_acquire(cl, SA(b)), CONNLIMIT_PER_IP);  /* same /64 */
	assert_int_equal(connlimit_acquire(cl, SA(c)), CONNLIMIT_OK);
	struct sockaddr_storage v4 = addr("192.0.2.5"), mapped = addr("::ffff:192.0.2.5");
	assert_int_equal(connlimit_acquire(cl, SA(v4)), CONNLIMIT_OK);
	assert_int_equal(connlimit_acquire(cl, SA(mapped)), CONNLIMIT_PER_IP);
	connlimit_free(&cl);
}

static void test_v4_prefix(void **state)
{
	struct connlimit *cl = connlimit_new(100, 1, 24, 64);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.200"),
	                        c = addr("192.0.3.1");
	assert_int_equal(connlimit_acquire(cl, SA(a)), CONNLIMIT_OK);
	assert_int_equal(connlimit_acquire(cl, SA(b)), CONNLIMIT_PER_IP);
	assert_int_equal(connlimit_acquire(cl, SA(c)), CONNLIMIT_OK);
	connlimit_free(&cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_ip),
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_ipv6_subnet_and_mapped),
		cmocka_unit_test(test_v4_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
