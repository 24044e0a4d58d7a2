/*
 * search_test.c: SEARCH and UID SEARCH (search.c) over messages delivered
 * into a temporary store: flags, sets, dates, rev1 and rev2 answers,
 * ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MODSEQ (RFC 7162 §3.1.5),
 * BADCHARSET, and substring search in decoded bodies and headers.
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

/* 14-Nov-2023 22:13:20 UTC, then a day apart */
#define T0 1700000000

/* Five messages: 1 \Seen, 2 $Important, 3 \Seen \Flagged, 4 \Deleted,
 * 5 \Answered; received a day apart from 14-Nov-2023. */
static void five(void)
{
	static const unsigned flags[] = {STORE_FLAG_SEEN, 0, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED,
	                                 STORE_FLAG_DELETED, STORE_FLAG_ANSWERED};
	for (int i = 0; i < 5; i++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "From: Sender %d <s%d@example.com>\nSubject: message %d\n\nbody %d\n", i + 1,
		         i + 1, i + 1, i + 1);
		sfx_deliver(F, text, flags[i], i == 1 ? "$Important" : NULL, T0 + i * 86400);
	}
}

static void test_flags(void **state)
{
	five();
	RUN("a SEARCH SEEN", "* SEARCH 1 3\r\na OK");
	RUN("a SEARCH ALL", "* SEARCH 1 2 3 4 5\r\na OK");
	RUN("a SEARCH UNSEEN NOT DELETED", "* SEARCH 2 5\r\na OK");
	RUN("a SEARCH OR FLAGGED DELETED", "* SEARCH 3 4\r\na OK");
	RUN("a SEARCH OR (SEEN FLAGGED) OR ANSWERED DRAFT", "* SEARCH 3 5\r\na OK");
	RUN("a SEARCH NOT (OR SEEN DELETED)", "* SEARCH 2 5\r\na OK");
	RUN("a SEARCH UNANSWERED UNFLAGGED UNDELETED UNDRAFT", "* SEARCH 1 2\r\na OK");
	RUN("a SEARCH KEYWORD $Important", "* SEARCH 2\r\na OK");
	RUN("a SEARCH UNKEYWORD $Important SEEN", "* SEARCH 1 3\r\na OK");
	RUN("a SEARCH DRAFT", "* SEARCH\r\na OK");
}

static void test_sets_and_view(void **state)
{
	five();
	RUN("a SEARCH 2:4 NOT SEEN", "* SEARCH 2 4\r\na OK");
	RUN("a SEARCH 4:*", "* SEARCH 4 5\r\na OK");
	RUN("a SEARCH UID 2,5", "* SEARCH 2 5\r\na OK");
	/* numbers beyond the view match nothing */
	RUN("a SEARCH 9", "* SEARCH\r\na OK");
	RUN("a SEARCH 4:9", "* SEARCH 4 5\r\na OK");
	RUN("a SEARCH 9:4,1", "* SEARCH 1 4 5\r\na OK");
	/* message 1 leaves the view: sequence numbers shift, UIDs do not */
	imapsrv_view_remove(&F->sel, 1);
	RUN("a SEARCH SEEN", "* SEARCH 2\r\na OK");
	RUN("a UID SEARCH SEEN", "* SEARCH 3\r\na OK");
	RUN("a UID SEARCH 1", "* SEARCH 2\r\na OK");
	RUN("a UID SEARCH UID 1:3", "* SEARCH 2 3\r\na OK");
	RUN("a SEARCH UID 1:*", "* SEARCH 1 2 3 4\r\na OK");
}

static void test_empty_mailbox(void **state)
{
	RUN("a SEARCH ALL", "* SEARCH\r\na OK");
	RUN("a SEARCH 1:*", "* SEARCH\r\na OK");
	F->s.out.rev2 = true;
	RUN("a SEARCH RETURN (COUNT MIN) ALL", "* ESEARCH (TAG \"a\") COUNT 0\r\na OK");
}

static void test_dates_sizes(void **state)
{
	five();
	RUN("a SEARCH ON 16-Nov-2023", "* SEARCH 3\r\na OK");
	RUN("a SEARCH SINCE 17-Nov-2023", "* SEARCH 4 5\r\na OK");
	RUN("a SEARCH BEFORE 15-Nov-2023", "* SEARCH 1\r\na OK");
	RUN("a SEARCH SAVEDATESUPPORTED", "* SEARCH 1 2 3 4 5\r\na OK");
	RUN("a SEARCH SAVEDBEFORE 1-Jan-2000", "* SEARCH\r\na OK");
	RUN("a SEARCH SAVEDSINCE 1-Jan-2000", "* SEARCH 1 2 3 4 5\r\na OK");
	RUN("a SEARCH OLDER 3600", "* SEARCH 1 2 3 4 5\r\na OK");
	RUN("a SEARCH YOUNGER 3600", "* SEARCH\r\na OK");
	RUN("a SEARCH LARGER 10000", "* SEARCH\r\na OK");
	RUN("a SEARCH SMALLER 10000", "* SEARCH 1 2 3 4 5\r\na OK");
	RUN("a SEARCH LARGER 1 SMALLER 2", "* SEARCH\r\na OK");
	/* SENT*: the date as written in Date:, in its own zone */
	sfx_mail(F, "a@example.com", "late", "Mon, 1 Jan 2024 23:30:00 -0500", NULL, "x\n");
	sfx_mail(F, "a@example.com", "no date", NULL, NULL, "x\n");
	RUN("a SEARCH SENTON 1-Jan-2024", "* SEARCH 6\r\na OK");
	RUN("a SEARCH SENTON 2-Jan-2024", "* SEARCH\r\na OK");
	RUN("a SEARCH SENTBEFORE 2-Jan-2024 SENTSINCE 1-Jan-2024", "* SEARCH 6\r\na OK");
	/* without Date: the INTERNALDATE (now) */
	RUN("a SEARCH SENTSINCE 1-Jan-2025", "* SEARCH 7\r\na OK");
}

static void test_recent(void **state)
{
	five();
	F->sel.recent = &(struct store_uidrange){4, UINT32_MAX};
	F->sel.n_recent = 1;
	RUN("a SEARCH RECENT", "* SEARCH 4 5\r\na OK");
	RUN("a SEARCH NEW", "* SEARCH 4 5\r\na OK");
	RUN("a SEARCH OLD", "* SEARCH 1 2 3\r\na OK");
	F->sel.n_recent = 0;
	RUN("a SEARCH RECENT", "* SEARCH\r\na OK");
}

/* RFC 9051 §6.4.4: rev2 always answers ESEARCH; RFC 4731 §3.1 forms. */
static void test_esearch(void **state)
{
	five();
	RUN("a SEARCH RETURN (MIN MAX COUNT) UNSEEN",
	    "* ESEARCH (TAG \"a\") MIN 2 MAX 5 COUNT 3\r\na OK");
	RUN("a SEARCH RETURN () SEEN", "* ESEARCH (TAG \"a\") ALL 1,3\r\na OK");
	F->s.out.rev2 = true;
	RUN("a SEARCH SEEN", "* ESEARCH (TAG \"a\") ALL 1,3\r\na OK");
	RUN("A282 SEARCH RETURN (MIN COUNT) NOT SEEN", "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"
	    "A282 OK");
	RUN("a UID SEARCH RETURN (ALL) ALL", "* ESEARCH (TAG \"a\") UID ALL 1:5\r\na OK");
	RUN("a UID SEARCH RETURN (MAX) DRAFT", "* ESEARCH (TAG \"a\") UID\r\na OK");
	RUN("a SEARCH DRAFT", "* ESEARCH (TAG \"a\")\r\na OK");
	imapsrv_view_remove(&F->sel, 2);
	RUN("a SEARCH RETURN (ALL COUNT) NOT DELETED", "* ESEARCH (TAG \"a\") COUNT 3 ALL 1:2,4\r\n"
	    "a OK");
}

/* RFC 5182 §2.1, §2.4. */
static void test_searchres(void **state)
{
	five();
	RUN("a SEARCH RETURN (SAVE) SEEN", "a OK");
	assert_int_equal(F->sel.saved.n, 2);
	RUN("b SEARCH $ FLAGGED", "* SEARCH 3\r\nb OK");
	RUN("c UID SEARCH UID $", "* SEARCH 1 3\r\nc OK");
	RUN("d SEARCH OR $ 5", "* SEARCH 1 3 5\r\nd OK");
	/* with MIN alone, "$" holds the minimum only */
	RUN("e SEARCH RETURN (SAVE MIN) UNSEEN", "* ESEARCH (TAG \"e\") MIN 2\r\ne OK");
	assert_int_equal(F->sel.saved.n, 1);
	assert_int_equal(F->sel.saved.v[0], 2);
	RUN("f SEARCH RETURN (SAVE MIN MAX) UNSEEN", "* ESEARCH (TAG \"f\") MIN 2 MAX 5\r\nf OK");
	assert_int_equal(F->sel.saved.n, 2);
	RUN("g SEARCH RETURN (SAVE MIN COUNT) UNSEEN", "* ESEARCH (TAG \"g\") MIN 2 COUNT 3\r\ng OK");
	assert_int_equal(F->sel.saved.n, 3);
	/* a failed SAVE search empties "$" */
	RUN("h SEARCH RETURN (SAVE) CHARSET KOI8-R SEEN", "h NO [BADCHARSET (UTF-8 US-ASCII)]");
	assert_int_equal(F->sel.saved.n, 0);
	RUN("i SEARCH $", "* SEARCH\r\ni OK");
}

static void test_badcharset(void **state)
{
	five();
	RUN("a SEARCH CHARSET ISO-8859-2 TEXT x", "a NO [BADCHARSET (UTF-8 US-ASCII)]");
	RUN("a SEARCH CHARSET us-ascii SEEN", "* SEARCH 1 3\r\na OK");
	RUN("a SEARCH CHARSET UTF-8 SEEN", "* SEARCH 1 3\r\na OK");
}

static int max_modseq_cb(void *ctx, const struct store_msginfo *m)
{
	uint64_t *max = ctx;
	if (m->modseq > *max)
		*max = m->modseq;
	return 0;
}

/* The highest modseq of the messages with UIDs first..last. */
static unsigned long long max_modseq(uint32_t first, uint32_t last)
{
	struct store_uidrange r = {first, last};
	uint64_t max = 0;
	struct error e;
	assert_int_equal(store_msg_list(F->acct, F->sel.mailbox_id, &r, 1, 0, max_modseq_cb, &max,
	                                &e), 0);
	return (unsigned long long)max;
}

static void test_modseq(void **state)
{
	five();
	struct store_mailbox mb;
	struct error e;
	assert_int_equal(store_mailbox_status(F->acct, "Inbox", F->a, &mb, &e), 0);
	F->sel.highestmodseq = mb.highestmodseq;
	char want[256];
	snprintf(want, sizeof(want),
	         "* OK [HIGHESTMODSEQ %llu] Highest\r\n* SEARCH 1 3 (MODSEQ %llu)\r\na OK",
	         (unsigned long long)mb.highestmodseq, max_modseq(1, 3));
	RUN("a SEARCH MODSEQ 1 SEEN", want);
	assert_true(F->s.out.condstore);
	RUN("a SEARCH MODSEQ 1 DRAFT", "* SEARCH\r\na OK");
	RUN("a SEARCH MODSEQ \"/flags/\\\\draft\" all 1 DRAFT", "* SEARCH\r\na OK");
	F->s.out.rev2 = true;
	snprintf(want, sizeof(want), "* ESEARCH (TAG \"a\") ALL 1:5 MODSEQ %llu\r\na OK",
	         max_modseq(1, 5));
	RUN("a SEARCH MODSEQ 1", want);
	/* MIN alone: the modseq of that message (RFC 4731 §3.2) */
	snprintf(want, sizeof(want), "* ESEARCH (TAG \"a\") MIN 2 MODSEQ %llu\r\na OK",
	         max_modseq(2, 2));
	RUN("a SEARCH RETURN (MIN) MODSEQ 1 UNSEEN", want);
	RUN("a SEARCH MODSEQ 99999", "* ESEARCH (TAG \"a\")\r\na OK");
}

static const char base64_mail[] =
	"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\n"
	"To: bob@example.org\n"
	"Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\n"
	"X-Mailer: tern test\n"
	"MIME-Version: 1.0\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	/* "Grüße aus Köln, the secret word is xylophone.\n" */
	"R3LDvMOfZSBhdXMgS8O2bG4sIHRoZSBzZWNyZXQgd29yZCBpcyB4eWxvcGhvbmUuCg==\n";

static void test_text(void **state)
{
	five();
	sfx_deliver(F, base64_mail, 0, NULL, 0);
	RUN("a SEARCH BODY xylophone", "* SEARCH 6\r\na OK");
	RUN("a SEARCH BODY XyLoPhOnE", "* SEARCH 6\r\na OK");
	RUN("a SEARCH BODY \"secret word\"", "* SEARCH 6\r\na OK");
	RUN("a SEARCH BODY \"word secret\"", "* SEARCH\r\na OK");
	/* the encoded form is not the text */
	RUN("a SEARCH BODY R3LDvMOf", "* SEARCH\r\na OK");
	RUN("a SEARCH BODY \"body 3\"", "* SEARCH 3\r\na OK");
	RUN("a SEARCH BODY body", "* SEARCH 1 2 3 4 5\r\na OK");
	/* UTF-8 strings, as literals in a rev1 session */
	RUN("a SEARCH CHARSET UTF-8 BODY {5}\r\nk\xc3\xb6ln", "* SEARCH 6\r\na OK");
	RUN("a SEARCH CHARSET UTF-8 BODY {5}\r\nK\xc3\x96LN", "* SEARCH 6\r\na OK");
	RUN("a SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncaf\xc3\xa9", "* SEARCH 6\r\na OK");
	RUN("a SEARCH CHARSET UTF-8 SUBJECT {12}\r\nCAF\xc3\x89 CR\xc3\x88ME", "* SEARCH 6\r\na OK");
	RUN("a SEARCH SUBJECT =?ISO", "* SEARCH\r\na OK");
	RUN("a SEARCH CHARSET UTF-8 FROM {5}\r\nj\xc3\xbcrg", "* SEARCH 6\r\na OK");
	/* TEXT: header and body */
	RUN("a SEARCH TEXT xylophone", "* SEARCH 6\r\na OK");
	RUN("a SEARCH TEXT \"tern test\"", "* SEARCH 6\r\na OK");
	RUN("a SEARCH TEXT x-mailer", "* SEARCH 6\r\na OK");
	RUN("a SEARCH TEXT \"message 2\"", "* SEARCH 2\r\na OK");
	/* in rev2, quoted strings are UTF-8 */
	F->s.out.rev2 = true;
	RUN("a SEARCH BODY \"gr\xc3\xbc\xc3\x9f\x65\"", "* ESEARCH (TAG \"a\") ALL 6\r\na OK");
}

static void test_headers(void **state)
{
	five();
	sfx_deliver(F, base64_mail, 0, NULL, 0);
	RUN("a SEARCH HEADER X-Mailer \"\"", "* SEARCH 6\r\na OK");
	RUN("a SEARCH HEADER x-mailer TERN", "* SEARCH 6\r\na OK");
	RUN("a SEARCH HEADER X-Mailer other", "* SEARCH\r\na OK");
	RUN("a SEARCH HEADER Subject \"message\"", "* SEARCH 1 2 3 4 5\r\na OK");
	RUN("a SEARCH FROM s3@example", "* SEARCH 3\r\na OK");
	RUN("a SEARCH FROM \"sender 4\"", "* SEARCH 4\r\na OK");
	RUN("a SEARCH TO bob", "* SEARCH 6\r\na OK");
	RUN("a SEARCH CC bob", "* SEARCH\r\na OK");
	RUN("a SEARCH BCC bob", "* SEARCH\r\na OK");
	RUN("a SEARCH SUBJECT \"MESSAGE 5\"", "* SEARCH 5\r\na OK");
	RUN("a SEARCH SUBJECT \"\"", "* SEARCH 1 2 3 4 5 6\r\na OK");
	RUN("a SEARCH SEEN SUBJECT message", "* SEARCH 1 3\r\na OK");
}

/* Cost: flags decide without reading messages. A message whose file is
 * gone would fail a search that opened it. */
static void test_cheap_first(void **state)
{
	five();
	char path[256];
	snprintf(path, sizeof(path), "rm -f %s/accounts/alice/msg/0/2", F->dir);
	assert_int_equal(system(path), 0);
	/* message 2 is unseen: SEEN rules it out before SUBJECT reads a file */
	RUN("a SEARCH SUBJECT message SEEN", "* SEARCH 1 3\r\na OK");
	/* UNSEEN, the cheaper side of OR, decides for message 2 */
	RUN("a SEARCH OR SUBJECT nothing UNSEEN", "* SEARCH 2 4 5\r\na OK");
	/* SUBJECT is answered from the stored search headers, without the file */
	RUN("a SEARCH SUBJECT message", "* SEARCH 1 2 3 4 5\r\na OK");
	/* and a search that must read message 2 fails */
	RUN("a SEARCH HEADER Subject message", "a NO [SERVERBUG]");
}

/* BODY and TEXT through the store's trigram index: the same answers as a
 * scan, whatever the index cannot vouch for, and under NOT and OR. */
static void test_index(void **state)
{
	sfx_mail(F, "a@example.org", "plain", NULL, NULL, "asdfghjkl zxcvbnm\n");
	sfx_mail(F, "b@example.org", "html", NULL,
	         "Content-Type: text/html; charset=utf-8\n",
	         "<p>Gr\xc3\xbc\xc3\x9f <b>QWERTY</b>&amp;uiop</p>\n");
	sfx_mail(F, "c@example.org", "alternative", NULL,
	         "Content-Type: multipart/alternative; boundary=b\n",
	         "--b\nContent-Type: text/plain\n\nalphabet soup\n"
	         "--b\nContent-Type: text/html\n\n<i>alphabet soup</i>\n--b--\n");
	/* larger than the index vouches for: always read */
	struct buf big;
	buf_init(&big, BUF_UNBOUNDED);
	buf_append_str(&big, "From: d@example.org\nSubject: big\n\n");
	while (big.len < STORE_FTS_WHOLE_FILE_MAX + 1000)
		buf_append_str(&big, "filler filler filler filler filler filler filler\n");
	buf_append_str(&big, "needle at the end\n");
	buf_append_char(&big, '\0');
	sfx_deliver(F, big.data, 0, NULL, T0);
	buf_free(&big);
	/* stored without body text (as for a message too large to parse whole) */
	const char *raw = "From: e@example.org\r\nSubject: bare\r\n\r\nasdfghjkl bare\r\n";
	struct store_delivery d = {.subject = "bare"};
	struct store_delivered res;
	struct error e;
	assert_int_equal(store_deliver(F->acct, &d, raw, strlen(raw), &res, &e), 0);
	assert_int_equal(imapsrv_view_append(&F->sel, res.uid), 0);

	RUN("a SEARCH BODY sdfghjk", "* SEARCH 1 5\r\na OK");
	RUN("a SEARCH BODY qwerty", "* SEARCH 2\r\na OK");
	RUN("a SEARCH CHARSET UTF-8 BODY {6}\r\ngr\xc3\x9c\xc3\x9f", "* SEARCH 2\r\na OK");
	RUN("a SEARCH BODY \"et sou\"", "* SEARCH 3\r\na OK");
	RUN("a SEARCH BODY needle", "* SEARCH 4\r\na OK");
	RUN("a SEARCH BODY nowhere", "* SEARCH\r\na OK");
	RUN("a SEARCH BODY xcv BODY sdf", "* SEARCH 1\r\na OK");
	RUN("a SEARCH NOT BODY sdfghjk", "* SEARCH 2 3 4\r\na OK");
	RUN("a SEARCH OR BODY qwerty BODY needle", "* SEARCH 2 4\r\na OK");
	RUN("a SEARCH NOT (BODY asdf BODY bare)", "* SEARCH 1 2 3 4\r\na OK");
	/* TEXT: the header too, which the index does not hold */
	RUN("a SEARCH TEXT alternative", "* SEARCH 3\r\na OK");
	RUN("a SEARCH TEXT zxcvb", "* SEARCH 1\r\na OK");
	/* shorter than a trigram: read */
	RUN("a SEARCH BODY so", "* SEARCH 3\r\na OK");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sets_and_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_mailbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dates_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esearch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_searchres, setup, teardown),
		cmocka_unit_test_setup_teardown(test_badcharset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modseq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cheap_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
