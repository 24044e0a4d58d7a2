/* buf_test.c: unit tests for buf.c, including the limit exactly at and one past. */
#include "core/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_empty_is_string(void **state)
{
	struct buf b;
	buf_init(&b, 16);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_reset(&b);
	buf_free(&b);
}

static void test_append_and_limit(void **state)
{
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "abcd"), 0);
	assert_int_equal(buf_append_str(&b, "efgh"), 0);  /* exactly at the limit */
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "abcdefgh");
	assert_int_equal(buf_append_char(&b, 'x'), -1);   /* one past */
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "abcdefgh");
	assert_int_equal(buf_room(&b), 0);
	buf_free(&b);
}

static void test_appendf(void **state)
{
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_appendf(&b, "%d-%s", 42, "ab"), 0);
	assert_string_equal(b.data, "42-ab");
	assert_int_equal(buf_appendf(&b, "%s", "123456"), -1);
	assert_string_equal(b.data, "42-ab");
	buf_free(&b);
}

static void test_consume_truncate(void **state)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "hello world");
	buf_consume(&b, 6);
	assert_string_equal(b.data, "world");
	buf_truncate(&b, 3);
	assert_string_equal(b.data, "wor");
	buf_consume(&b, 3);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void test_grow_large(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char chunk[1000];
	memset(chunk, 'z', sizeof(chunk));
	for (int i = 0; i < 1048; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 1048000);
	assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), -1);
	assert_int_equal(b.data[b.len], '\0');
	buf_free_secret(&b);
	assert_int_equal(b.len, 0);
}

static void test_reserve_commit_steal(void **state)
{
	struct buf b;
	buf_init(&b, 100);
	char *p = buf_reserve(&b, 5);
	assert_non_null(p);
	memcpy(p, "abc", 3);
	buf_commit(&b, 3);
	assert_string_equal(b.data, "abc");
	assert_null(buf_reserve(&b, 98));
	char *s = buf_steal(&b);
	assert_string_equal(s, "abc");
	free(s);
	assert_int_equal(b.len, 0);
	s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_string),
		cmocka_unit_test(test_append_and_limit),
		cmocka_unit_test(test_appendf),
		cmocka_unit_test(test_consume_truncate),
		cmocka_unit_test(test_grow_large),
		cmocka_unit_test(test_reserve_commit_steal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
