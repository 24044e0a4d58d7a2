/*
 * sort_test.c: SORT and UID SORT (sort.c, RFC 5256 §3, RFC 5957) and the
 * base subject extraction of RFC 5256 §2.1, over messages delivered into a
 * temporary store.
 */
#include "imapserver/search_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static struct sfx *F;

static int setup(void **state)
{
	F = sfx_new();
	return 0;
}

static int teardown(void **state)
{
	sfx_free(F);
	return 0;
}

#define RUN(line, want) assert_string_equal(sfx_run(F, line), want)

static void base(const char *subject, const char *want, bool want_reply)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	bool reply = !want_reply;
	const char *got = imapsrv_base_subject(a, subject, &reply);
	if (strcmp(got, want) != 0 || reply != want_reply)
		fail_msg("base subject of \"%s\": \"%s\" (reply %d), want \"%s\" (reply %d)", subject,
		         got, reply, want, want_reply);
	arena_free(&a);
}

/* RFC 5256 §2.1 steps (1)-(6). */
static void test_base_subject(void **state)
{
	base("hello", "hello", false);
	base("Re: hello", "hello", true);
	base("RE: Re: re:hello", "hello", true);
	base("Fw: hello", "hello", true);
	base("FWD: hello", "hello", true);
	base("Fwd:hello", "hello", true);
	base("Re [list]: hello", "hello", true);            /* blob inside subj-refwd */
	base("[list] Re: hello", "hello", true);            /* blobs before subj-refwd */
	base("[list] hello", "hello", false);               /* step (4) */
	base("[a] [b] c", "c", false);                      /* (4) repeated by (5) */
	base("Re: [a] Re: [b] c", "c", true);
	base("[list]", "[list]", false);                    /* (4) keeps a lone blob */
	base("Re: [list]", "[list]", true);
	base("hello (fwd)", "hello", true);                 /* step (2) */
	base("hello (FWD) (fwd)  ", "hello", true);
	base("  hello  world \t again ", "hello world again", false);  /* step (1) */
	base("[fwd: hello]", "hello", true);                /* step (6) */
	base("Re: [Fwd: Re: hello] (fwd)", "hello", true);
	base("Re: Re: [fwd: [list] Re: hello] (fwd)", "hello", true);
	base("[fwd: [fwd: hi]]", "hi", true);
	base("Rex: hello", "Rex: hello", false);            /* not a subj-refwd */
	base("Re hello", "Re hello", false);
	base("", "", false);
	base("Re:", "", true);
	base("Caf\xc3\xa9 cr\xc3\xa8me", "Caf\xc3\xa9 cr\xc3\xa8me", false);
}

static void five(void)
{
	/* subject, from, date, body size differs */
	sfx_mail(F, "Zed <zed@example.com>", "Re: beta", "Tue, 2 Jan 2024 10:00:00 +0000", NULL,
	         "short\n");
	sfx_mail(F, "\"Adam\" <adam@example.com>", "alpha", "Thu, 4 Jan 2024 10:00:00 +0000",
	         "Cc: carol@example.com\n", "a much longer body than the others have\n");
	sfx_mail(F, "mike@example.com", "[list] Beta", "Mon, 1 Jan 2024 10:00:00 +0000",
	         "Cc: Bea <bea@example.com>\n", "mid size body\n");
	sfx_mail(F, "=?UTF-8?Q?=C3=89mile?= <emile@example.com>", "Fwd: Alpha",
	         "Wed, 3 Jan 2024 23:00:00 -0300", NULL, "x\n");
	sfx_mail(F, NULL, NULL, NULL, NULL, "no header fields but To\n");
}

static void test_sort(void **state)
{
	five();
	/* base subjects: beta, alpha, beta, alpha, "" */
	RUN("a SORT (SUBJECT) UTF-8 ALL", "* SORT 5 2 4 1 3\r\na OK");
	RUN("a SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 1 3 2 4 5\r\na OK");
	/* DATE: 3 (1 Jan), 1 (2 Jan), 4 (4 Jan 02:00 UTC), 2 (4 Jan 10:00),
	 * 5 (no Date: its INTERNALDATE, now) */
	RUN("a SORT (DATE) UTF-8 ALL", "* SORT 3 1 4 2 5\r\na OK");
	RUN("a SORT (SUBJECT DATE) UTF-8 ALL", "* SORT 5 4 2 3 1\r\na OK");
	RUN("a SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 5 2 4 1 3\r\na OK");
	/* FROM: addr-mailbox (local part): "" adam emile mike zed */
	RUN("a SORT (FROM) UTF-8 ALL", "* SORT 5 2 4 3 1\r\na OK");
	/* CC: "" for 1 4 5, then bea, carol */
	RUN("a SORT (CC) UTF-8 ALL", "* SORT 1 4 5 3 2\r\na OK");
	RUN("a SORT (TO ARRIVAL) UTF-8 ALL", "* SORT 1 2 3 4 5\r\na OK");
	RUN("a SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 5 4 3 2 1\r\na OK");
	/* RFC 5957: display names (address when there is none): "", Adam,
	 * Émile, mike@example.com, Zed */
	RUN("a SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 5 2 4 3 1\r\na OK");
	RUN("a SORT (SIZE) UTF-8 NOT SUBJECT alpha", "* SORT 5 1 3\r\na OK");
	RUN("a SORT (REVERSE SIZE) UTF-8 SUBJECT alpha", "* SORT 2 4\r\na OK");
	RUN("a SORT (SUBJECT) US-ASCII DRAFT", "* SORT\r\na OK");
	RUN("a SORT (SUBJECT) KOI8-R ALL", "a NO [BADCHARSET (UTF-8 US-ASCII)]");
}

static void test_uid_sort(void **state)
{
	five();
	imapsrv_view_remove(&F->sel, 2);
	RUN("a SORT (SUBJECT) UTF-8 ALL", "* SORT 4 3 1 2\r\na OK");
	RUN("a UID SORT (SUBJECT) UTF-8 ALL", "* SORT 5 4 1 3\r\na OK");
	RUN("a UID SORT (DATE) UTF-8 UID 3:4", "* SORT 3 4\r\na OK");
	F->s.out.rev2 = true;
	RUN("a UID SORT (REVERSE DATE) UTF-8 ALL", "* SORT 5 4 1 3\r\na OK");
}

/* RFC 5957 §3.1: a display name longer than tern's sort key is cut to
 * the key (on a UTF-8 boundary), not dropped: it sorts by its start. */
static void test_display_long(void **state)
{
	char from[800];
	/* "Zed" then 300 "z", and "É" then 300 "é" (raw UTF-8): both past the key */
	snprintf(from, sizeof(from), "\"Zed%0300d\" <z@example.org>", 0);
	memset(from + 4, 'z', 300);
	sfx_mail(F, "\"Adam\" <a@example.org>", "s", NULL, NULL, "x\n");
	sfx_mail(F, from, "s", NULL, NULL, "x\n");
	sfx_mail(F, "\"Mia\" <m@example.org>", "s", NULL, NULL, "x\n");
	char *p = stpcpy(from, "\"\xc3\x89");
	for (int i = 0; i < 300; i++)
		p = stpcpy(p, "\xc3\xa9");
	strcpy(p, "\" <e@example.org>");
	sfx_mail(F, from, "s", NULL, NULL, "x\n");
	/* Adam, Émile-like (sorts as E), Mia, Zed... */
	RUN("a SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 1 4 3 2\r\na OK");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test_setup_teardown(test_sort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_sort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_display_long, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
