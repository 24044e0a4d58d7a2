/*
 * write_test.c: the response writer (write.c): the atom / quoted / literal /
 * literal8 decision, NIL, mailbox names per session encoding, sequence sets
 * and status responses; and that what is written parses back.
 */
#include "imap/imap.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static struct buf B;

static int setup(void **state)
{
	buf_init(&B, 1 << 20);
	return 0;
}

static int teardown(void **state)
{
	buf_free(&B);
	return 0;
}

static void astr(const char *in, unsigned flags, const char *want)
{
	buf_reset(&B);
	assert_int_equal(imap_write_astring(&B, in, strlen(in), flags), 0);
	assert_string_equal(B.data, want);
}

static void test_forms(void **state)
{
	assert_int_equal(imap_string_form("INBOX", 5, true, 0), IMAP_FORM_ATOM);
	assert_int_equal(imap_string_form("INBOX", 5, false, 0), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form("a]b", 3, true, 0), IMAP_FORM_ATOM);
	assert_int_equal(imap_string_form("", 0, true, 0), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form("nil", 3, true, 0), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form("a b", 3, true, 0), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form("a%", 2, true, 0), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form("a\r\nb", 4, true, 0), IMAP_FORM_LITERAL);
	assert_int_equal(imap_string_form("\xc3\xa9", 2, true, 0), IMAP_FORM_LITERAL);
	assert_int_equal(imap_string_form("\xc3\xa9", 2, true, IMAP_UTF8), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form("\xc3", 1, true, IMAP_UTF8), IMAP_FORM_LITERAL);
	assert_int_equal(imap_string_form("a\0b", 3, false, 0), IMAP_FORM_LITERAL8);
	char longs[IMAP_QUOTED_MAX + 1];
	memset(longs, ' ', sizeof longs);
	assert_int_equal(imap_string_form(longs, IMAP_QUOTED_MAX, false, 0), IMAP_FORM_QUOTED);
	assert_int_equal(imap_string_form(longs, IMAP_QUOTED_MAX + 1, false, 0), IMAP_FORM_LITERAL);

	astr("INBOX", 0, "INBOX");
	astr("say \"hi\" \\o/", 0, "\"say \\\"hi\\\" \\\\o/\"");
	astr("two\r\nlines", 0, "{10}\r\ntwo\r\nlines");
	buf_reset(&B);
	assert_int_equal(imap_write_string(&B, "a\0b", 3, 0), 0);
	assert_int_equal(B.len, 9);
	assert_memory_equal(B.data, "~{3}\r\na\0b", 9);
	buf_reset(&B);
	assert_int_equal(imap_write_nstring(&B, NULL, 0, 0), 0);
	assert_int_equal(imap_write_nstring(&B, "NIL", 3, 0), 0);
	assert_string_equal(B.data, "NIL\"NIL\"");
}

static void test_mailbox(void **state)
{
	const char *name = "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
	buf_reset(&B);
	assert_int_equal(imap_write_mailbox(&B, name, 0), 0);
	assert_string_equal(B.data, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	buf_reset(&B);
	assert_int_equal(imap_write_mailbox(&B, name, IMAP_UTF8), 0);
	char want[128];
	snprintf(want, sizeof want, "\"%s\"", name);
	assert_string_equal(B.data, want);
	buf_reset(&B);
	assert_int_equal(imap_write_mailbox(&B, "Tom & Jerry", 0), 0);
	assert_string_equal(B.data, "\"Tom &- Jerry\"");
}

static void test_roundtrip(void **state)
{
	/* Whatever the writer writes, the parser reads back as the same bytes. */
	const char *samples[] = { "plain", "with space", "q\"uote", "back\\slash", "",
		"cr\rlf\n", "]", "NIL", "{5}", "\xc3\xa9t\xc3\xa9" };
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		buf_reset(&B);
		buf_append_str(&B, "t LOGIN ");
		assert_int_equal(imap_write_astring(&B, samples[i], strlen(samples[i]), IMAP_UTF8), 0);
		buf_append_str(&B, " x");
		struct imap_command c;
		struct error e;
		if (imap_command_parse(B.data, B.len, IMAP_UTF8, 0, 0, a, &c, &e) < 0)
			fail_msg("%s: %s", B.data, e.msg);
		assert_string_equal(c.user, samples[i]);
	}
	arena_free(&a);
}

static void test_status_and_lists(void **state)
{
	buf_reset(&B);
	assert_int_equal(imap_write_status(&B, "a1", "OK", "READ-WRITE", "SELECT completed"), 0);
	assert_string_equal(B.data, "a1 OK [READ-WRITE] SELECT completed\r\n");
	buf_reset(&B);
	assert_int_equal(imap_write_status(&B, NULL, "BAD", NULL, "evil\r\ntext"), 0);
	assert_string_equal(B.data, "* BAD evil  text\r\n");
	buf_reset(&B);
	assert_int_equal(imap_write_status(&B, "b", "NO", "x]y", ""), 0);
	assert_string_equal(B.data, "b NO [x y] NO\r\n");
	buf_reset(&B);
	const char *flags[] = { "\\Seen", "$Junk" };
	assert_int_equal(imap_write_atom_list(&B, flags, 2), 0);
	assert_int_equal(imap_write_atom_list(&B, flags, 0), 0);
	assert_string_equal(B.data, "(\\Seen $Junk)()");
	buf_reset(&B);
	struct imap_seq_range r[] = { { 1, 1 }, { 3, 0 }, { 7, 9 } };
	struct imap_seqset set = { false, 3, r };
	assert_int_equal(imap_write_seqset(&B, &set), 0);
	assert_string_equal(B.data, "1,3:*,7:9");
	/* Full buffer: -1 and nothing half-written. */
	struct buf small;
	buf_init(&small, 8);
	assert_int_equal(imap_write_status(&small, "a1", "OK", NULL, "long text here"), -1);
	assert_int_equal(small.len, 0);
	buf_free(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_lists, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
