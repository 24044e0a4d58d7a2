/* zonefile_test.c: zone-file text: owner names relative to the origin, TXT
 * records cut into 255-byte strings with escapes, reverse names. */
#include "cmd/zonefile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* What write wrote, as a malloc'd string. Not inlined: gcc then takes the
 * result for a pointer to the local that open_memstream filled. */
__attribute__((noinline)) static char *text_of(void (*write)(FILE *, const char *, const char *), const char *owner,
                     const char *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	write(f, owner, arg);
	fclose(f);
	return text;
}

static void test_owner(void **state)
{
	char buf[256];
	assert_string_equal(zonefile_owner("example.com", "example.com", buf, sizeof(buf)), "@");
	assert_string_equal(zonefile_owner("mail.example.com", "example.com", buf, sizeof(buf)),
	                    "mail");
	assert_string_equal(zonefile_owner("a.b.Example.COM", "example.com", buf, sizeof(buf)),
	                    "a.b");
	/* a suffix that is not at a label boundary is another zone */
	assert_string_equal(zonefile_owner("mail.notexample.com", "example.com", buf, sizeof(buf)),
	                    "mail.notexample.com.");
	assert_string_equal(zonefile_owner("com", "example.com", buf, sizeof(buf)), "com.");
	assert_true(zonefile_in_zone("x.example.com", "example.com"));
	assert_false(zonefile_in_zone("xexample.com", "example.com"));
}

static void test_txt_short(void **state)
{
	char *t = text_of(zonefile_txt, "_dmarc", "v=DMARC1; say \"hi\" \\ there");
	assert_non_null(strstr(t, "_dmarc "));
	assert_non_null(strstr(t, " IN TXT   \"v=DMARC1; say \\\"hi\\\" \\\\ there\"\n"));
	assert_null(strchr(t, '('));
	free(t);
}

/* A text of 600 bytes: three strings of 255, 255 and 90 bytes. */
static void test_txt_split(void **state)
{
	char text[601];
	for (size_t i = 0; i < 600; i++)
		text[i] = (char)('a' + i % 26);
	text[600] = '\0';
	char *t = text_of(zonefile_txt, "sel._domainkey", text);
	assert_non_null(strstr(t, " IN TXT   (\n"));
	size_t lens[4], n = 0, joined = 0;
	char all[601];
	for (const char *p = strchr(t, '"'); p != NULL && n < 4; p = strchr(p + 1, '"')) {
		const char *end = strchr(p + 1, '"');
		assert_non_null(end);
		lens[n++] = (size_t)(end - p - 1);
		memcpy(all + joined, p + 1, (size_t)(end - p - 1));
		joined += (size_t)(end - p - 1);
		p = end;
	}
	assert_int_equal(n, 3);
	assert_int_equal(lens[0], 255);
	assert_int_equal(lens[1], 255);
	assert_int_equal(lens[2], 90);
	all[joined] = '\0';
	assert_string_equal(all, text);
	assert_non_null(strstr(t, ")\n"));
	free(t);
}

static void test_txt_exactly_255(void **state)
{
	char text[256];
	memset(text, 'x', 255);
	text[255] = '\0';
	char *t = text_of(zonefile_txt, "@", text);
	assert_null(strchr(t, '('));
	free(t);
}

static void test_reverse(void **state)
{
	char out[ZONEFILE_REVERSE_MAX];
	assert_int_equal(zonefile_reverse_name("198.51.100.10", out, sizeof(out)), 0);
	assert_string_equal(out, "10.100.51.198.in-addr.arpa.");
	assert_int_equal(zonefile_reverse_name("2001:db8::567:89ab", out, sizeof(out)), 0);
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	                         "ip6.arpa.");
	assert_int_equal(zonefile_reverse_name("mail.example.com", out, sizeof(out)), -1);
	assert_int_equal(zonefile_reverse_name("1.2.3.4", out, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_txt_short),
		cmocka_unit_test(test_txt_split),
		cmocka_unit_test(test_txt_exactly_255),
		cmocka_unit_test(test_reverse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
