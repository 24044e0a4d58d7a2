/*
 * thread_test.c: THREAD and UID THREAD (thread.c, RFC 5256 §3, §4) with
 * ORDEREDSUBJECT and REFERENCES over messages delivered into a temporary
 * store: references and In-Reply-To, dummies pruned and kept, grouping by
 * base subject, duplicate Message-IDs, loops, and a long reply chain.
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

static void mail(const char *id, const char *refs, const char *subject, const char *date)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "Message-ID: <%s>\n%s", id, refs != NULL ? refs : "");
	sfx_mail(F, "a@example.com", subject, date, extra, "text\n");
}

/* Ten messages:
 *  1 hello; 2 and 4 answer 1; 3 answers 2 (References: 1 2)
 *  5 and 6 answer a message that is not there
 *  7 answers (In-Reply-To) one that is not there; 9 has its subject
 *  8 "Re: hello" without references, the oldest
 *  10 repeats the Message-ID of 1 */
static void ten(void)
{
	mail("1@x", NULL, "hello", "Mon, 1 Jan 2024 10:00:00 +0000");
	mail("2@x", "References: <1@x>\n", "Re: hello", "Tue, 2 Jan 2024 10:00:00 +0000");
	mail("3@x", "References: <1@x>\n <2@x>\n", "Re: hello", "Wed, 3 Jan 2024 10:00:00 +0000");
	mail("4@x", "In-Reply-To: <1@x>\n", "Re: hello", "Thu, 4 Jan 2024 10:00:00 +0000");
	mail("5@x", "References: <missing@x>\n", "other", "Fri, 5 Jan 2024 10:00:00 +0000");
	mail("6@x", "References: <missing@x>\n", "Re: other", "Sat, 6 Jan 2024 10:00:00 +0000");
	mail("7@x", "In-Reply-To: <nine@x> (sent before)\n", "lonely",
	     "Sun, 7 Jan 2024 10:00:00 +0000");
	mail("8@x", NULL, "Re: hello", "Sun, 31 Dec 2023 10:00:00 +0000");
	mail("9@x", NULL, "lonely", "Mon, 8 Jan 2024 10:00:00 +0000");
	mail("1@x", NULL, "dup", "Tue, 9 Jan 2024 10:00:00 +0000");
}

static void test_references(void **state)
{
	ten();
	RUN("a THREAD REFERENCES UTF-8 ALL",
	    "* THREAD (1 (8)(2 3)(4))((5)(6))((7)(9))(10)\r\na OK");
	/* only the matches are threaded */
	RUN("a THREAD REFERENCES US-ASCII NOT SUBJECT hello",
	    "* THREAD ((5)(6))((7)(9))(10)\r\na OK");
	RUN("a THREAD REFERENCES UTF-8 2:3", "* THREAD (2 3)\r\na OK");
	RUN("a THREAD REFERENCES UTF-8 DRAFT", "* THREAD\r\na OK");
	RUN("a THREAD REFERENCES ISO-8859-1 ALL", "a NO [BADCHARSET (UTF-8 US-ASCII)]");
}

static void test_uid_thread(void **state)
{
	ten();
	imapsrv_view_remove(&F->sel, 1);
	/* without 1, message 10 is the first with its Message-ID and becomes
	 * the parent of 2 and 4 */
	RUN("a UID THREAD REFERENCES UTF-8 ALL",
	    "* THREAD (8)((5)(6))((7)(9))(10 (2 3)(4))\r\na OK");
	RUN("a THREAD REFERENCES UTF-8 ALL",
	    "* THREAD (7)((4)(5))((6)(8))(9 (1 2)(3))\r\na OK");
}

static void test_orderedsubject(void **state)
{
	ten();
	RUN("a THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (8 (1)(2)(3)(4))(5 6)(7 9)(10)\r\na OK");
	RUN("a UID THREAD ORDEREDSUBJECT UTF-8 UID 1,2,10", "* THREAD (1 2)(10)\r\na OK");
}

/* Loops are refused; a missing message between two known ones leaves its
 * children with the known one. */
static void test_loops_and_gaps(void **state)
{
	mail("a@x", "References: <b@x>\n", "loop", "Mon, 1 Jan 2024 10:00:00 +0000");
	mail("b@x", "References: <a@x>\n", "loop two", "Tue, 2 Jan 2024 10:00:00 +0000");
	mail("r@x", NULL, "root", "Wed, 3 Jan 2024 10:00:00 +0000");
	mail("x1@x", "References: <r@x> <gap@x>\n", "Re: root", "Thu, 4 Jan 2024 10:00:00 +0000");
	mail("x2@x", "References: <r@x> <gap@x>\n", "Re: root", "Fri, 5 Jan 2024 10:00:00 +0000");
	mail("self@x", "References: <self@x>\n", "self", "Sat, 6 Jan 2024 10:00:00 +0000");
	RUN("a THREAD REFERENCES UTF-8 ALL", "* THREAD (2 1)(3 (4)(5))(6)\r\na OK");
}

/* A chain of replies far longer than any stack of recursive calls. */
static void test_long_chain(void **state)
{
	enum { N = 3000 };
	struct buf want;
	buf_init(&want, BUF_UNBOUNDED);
	buf_append_str(&want, "* THREAD (");
	for (int i = 1; i <= N; i++) {
		char id[32], refs[64], date[64];
		snprintf(id, sizeof(id), "c%d@x", i);
		snprintf(refs, sizeof(refs), "In-Reply-To: <c%d@x>\n", i - 1);
		snprintf(date, sizeof(date), "Mon, 1 Jan 2024 %02d:%02d:%02d +0000", i / 3600,
		         i / 60 % 60, i % 60);
		mail(id, i > 1 ? refs : NULL, i > 1 ? "Re: chain" : "chain", date);
		buf_appendf(&want, i > 1 ? " %d" : "%d", i);
	}
	buf_append_str(&want, ")\r\na OK");
	RUN("a THREAD REFERENCES UTF-8 ALL", want.data);
	buf_free(&want);
}

int main(void)
{
	store_set_durable(false);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orderedsubject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loops_and_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_chain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
