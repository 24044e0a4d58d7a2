/* arena_test.c: unit tests for arena.c. */
#include "core/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_alloc_aligned_zeroed(void **state)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	for (int i = 1; i < 300; i++) {
		unsigned char *p = arena_alloc(a, (size_t)i);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		for (int j = 0; j < i; j++)
			assert_int_equal(p[j], 0);
		memset(p, 0xab, (size_t)i);
	}
	arena_free(&a);
	assert_null(a);
}

static void test_strings(void **state)
{
	struct arena *a = arena_new(0, ARENA_PLAIN);
	assert_string_equal(arena_strdup(a, "abc"), "abc");
	assert_string_equal(arena_strndup(a, "abcdef", 2), "ab");
	assert_string_equal(arena_printf(a, "%s=%d", "x", 7), "x=7");
	arena_free(&a);
}

static void test_big_and_reset(void **state)
{
	struct arena *a = arena_new(512, ARENA_SECRET);
	char *big = arena_alloc(a, 100000);  /* own block */
	memset(big, 1, 100000);
	char *small = arena_alloc(a, 10);
	memcpy(small, "secret", 7);
	assert_true(arena_used(a) >= 100010);
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	char *again = arena_alloc(a, 10);
	assert_int_equal(again[0], 0);
	arena_reset(a);
	/* big allocation first: the kept block must still be the arena's own. */
	arena_alloc(a, 100000);
	arena_reset(a);
	assert_non_null(arena_alloc(a, 16));
	arena_free(&a);
}

static void test_grow(void **state)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	int *v = NULL;
	size_t n = 0, cap = 0;
	for (int i = 0; i < 1000; i++) {
		v = arena_grow(a, v, n, &cap, sizeof(*v), 4);
		assert_true(n < cap);
		v[n++] = i;
	}
	assert_int_equal(cap, 1024);  /* 4, 8, ... doubling */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(v[i], i);  /* kept across every move */
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_aligned_zeroed),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_big_and_reset),
		cmocka_unit_test(test_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
