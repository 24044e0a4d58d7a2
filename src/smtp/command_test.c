/*
 * command_test.c: SMTP command lines (command.c): every verb, MAIL/RCPT
 * parameters, suggested replies, the line limit exactly at and one past it.
 */
#include "smtp/smtp.h"

#include "core/arena.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct arena *A;
static struct smtp_command C;
static struct smtp_reply_hint H;
static struct error E;

static int setup(void **state)
{
	A = arena_new(4096, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&A);
	return 0;
}

static int cmd(const char *line, unsigned flags)
{
	return smtp_command_parse(line, strlen(line), flags, A, &C, &H, &E);
}

static void ok(const char *line, unsigned flags, enum smtp_verb verb)
{
	if (cmd(line, flags) < 0)
		fail_msg("%s: %s", line, E.msg);
	assert_int_equal(C.verb, verb);
}

static void refused(const char *line, unsigned flags, int code, const char *enh)
{
	if (cmd(line, flags) == 0)
		fail_msg("%s: accepted", line);
	if (H.code != code || strcmp(H.enhanced, enh) != 0)
		fail_msg("%s: got %d %s (%s), want %d %s", line, H.code, H.enhanced, E.msg, code, enh);
}

static void test_verbs(void **state)
{
	ok("EHLO mail.example.com", 0, SMTP_VERB_EHLO);
	assert_string_equal(C.arg, "mail.example.com");
	ok("ehlo [192.0.2.1]", 0, SMTP_VERB_EHLO);
	assert_true(C.arg_literal);
	ok("EHLO [IPv6:2001:db8::1]", 0, SMTP_VERB_EHLO);
	refused("HELO [192.0.2.1]", 0, 501, "5.5.4");
	ok("HeLo example", 0, SMTP_VERB_HELO);
	refused("EHLO", 0, 501, "5.5.4");
	refused("EHLO bad_host", 0, 501, "5.5.4");
	ok("DATA", 0, SMTP_VERB_DATA);
	refused("DATA x", 0, 501, "5.5.4");
	ok("rset", 0, SMTP_VERB_RSET);
	ok("QUIT", 0, SMTP_VERB_QUIT);
	ok("STARTTLS", 0, SMTP_VERB_STARTTLS);
	ok("NOOP", 0, SMTP_VERB_NOOP);
	assert_null(C.arg);
	ok("NOOP hello there", 0, SMTP_VERB_NOOP);
	assert_string_equal(C.arg, "hello there");
	ok("HELP", 0, SMTP_VERB_HELP);
	ok("VRFY postmaster", 0, SMTP_VERB_VRFY);
	refused("VRFY", 0, 501, "5.5.4");
	ok("EXPN list", 0, SMTP_VERB_EXPN);
	refused("NOOP a\tb", 0, 501, "5.5.4");
	refused("FOO", 0, 500, "5.5.2");
	refused("", 0, 500, "5.5.2");
	refused("EHLOX a", 0, 500, "5.5.2");
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
}

static void test_bdat_auth(void **state)
{
	ok("BDAT 1000", 0, SMTP_VERB_BDAT);
	assert_int_equal(C.bdat_size, 1000);
	assert_false(C.bdat_last);
	ok("BDAT 0 LAST", 0, SMTP_VERB_BDAT);
	assert_true(C.bdat_last);
	refused("BDAT", 0, 501, "5.5.4");
	refused("BDAT x", 0, 501, "5.5.4");
	refused("BDAT 10 FIRST", 0, 501, "5.5.4");
	refused("BDAT 99999999999999999999", 0, 501, "5.5.4");
	ok("AUTH plain", 0, SMTP_VERB_AUTH);
	assert_string_equal(C.arg, "PLAIN");
	assert_null(C.auth_initial);
	ok("AUTH PLAIN AHRlc3QAdGVzdA==", 0, SMTP_VERB_AUTH);
	assert_string_equal(C.auth_initial, "AHRlc3QAdGVzdA==");
	ok("AUTH EXTERNAL =", 0, SMTP_VERB_AUTH);
	refused("AUTH", 0, 501, "5.5.4");
	refused("AUTH PL@IN", 0, 501, "5.5.4");
	refused("AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 501, "5.5.4");
	refused("AUTH PLAIN a b", 0, 501, "5.5.4");
}

static void test_mail(void **state)
{
	ok("MAIL FROM:<a@b.example>", 0, SMTP_VERB_MAIL);
	assert_string_equal(C.path.addr.local, "a");
	ok("mail from:<>", 0, SMTP_VERB_MAIL);
	assert_true(C.path.null);
	ok("MAIL FROM: <a@b.example>", 0, SMTP_VERB_MAIL);         /* liberal */
	refused("MAIL FROM: <a@b.example>", SMTP_STRICT, 501, "5.1.7");
	refused("MAIL FROM:a@b.example", 0, 501, "5.1.7");
	refused("MAIL TO:<a@b.example>", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example>x", 0, 501, "5.5.4");
	ok("MAIL FROM:<a@b.example> SIZE=1000 BODY=8bitmime SMTPUTF8 REQUIRETLS RET=HDRS ENVID=QQ+2Bx AUTH=<>",
		0, SMTP_VERB_MAIL);
	assert_true(C.mail.has_size);
	assert_int_equal(C.mail.size, 1000);
	assert_int_equal(C.mail.body, SMTP_BODY_8BITMIME);
	assert_true(C.mail.smtputf8);
	assert_true(C.mail.requiretls);
	assert_int_equal(C.mail.ret, SMTP_RET_HDRS);
	assert_string_equal(C.mail.envid, "QQ+x");
	assert_string_equal(C.mail.auth, "<>");
	ok("MAIL FROM:<a@b.example> BODY=BINARYMIME RET=full", 0, SMTP_VERB_MAIL);
	assert_int_equal(C.mail.body, SMTP_BODY_BINARYMIME);
	assert_int_equal(C.mail.ret, SMTP_RET_FULL);
	refused("MAIL FROM:<a@b.example> SIZE=x", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> SIZE", 0, 501, "5.5.4");  /* no value at all */
	refused("MAIL FROM:<a@b.example> SIZE=", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> SIZE", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> SIZE=99999999999999999999", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> BODY=9BIT", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> SMTPUTF8=yes", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> RET=ALL", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> ENVID=a+2b", 0, 501, "5.5.4");  /* lower-case hex */
	refused("MAIL FROM:<a@b.example> ENVID=a+4", 0, 501, "5.5.4");
	refused("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, 501, "5.5.4");
	assert_non_null(strstr(E.msg, "SIZE given twice"));
	refused("MAIL FROM:<a@b.example> FOO=bar", 0, 555, "5.5.4");
	assert_non_null(strstr(E.msg, "FOO"));
	refused("MAIL FROM:<a@b.example> NOTIFY=NEVER", 0, 555, "5.5.4");
	/* RFC 6531: UTF-8 paths need SMTPUTF8 on the line or the flag */
	refused("MAIL FROM:<j\xc3\xb6rg@b.example>", 0, 553, "5.6.7");
	ok("MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", 0, SMTP_VERB_MAIL);
	ok("MAIL FROM:<j\xc3\xb6rg@b.example>", SMTP_UTF8, SMTP_VERB_MAIL);
	char *env100 = arena_alloc(A, 101);
	memset(env100, 'e', 100);
	ok(arena_printf(A, "MAIL FROM:<> ENVID=%s", env100), 0, SMTP_VERB_MAIL);
	refused(arena_printf(A, "MAIL FROM:<> ENVID=%se", env100), 0, 501, "5.5.4");
}

static void test_rcpt(void **state)
{
	ok("RCPT TO:<a@b.example>", 0, SMTP_VERB_RCPT);
	ok("RCPT TO:<Postmaster>", 0, SMTP_VERB_RCPT);
	assert_string_equal(C.path.addr.local, "Postmaster");
	ok("rcpt to: <postmaster> NOTIFY=NEVER", 0, SMTP_VERB_RCPT);
	assert_int_equal(C.rcpt.notify, SMTP_NOTIFY_NEVER);
	refused("RCPT TO:<>", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b", 0, 501, "5.1.3");
	ok("RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a+2Bb@c.example", 0, SMTP_VERB_RCPT);
	assert_int_equal(C.rcpt.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
	assert_string_equal(C.rcpt.orcpt_type, "rfc822");
	assert_string_equal(C.rcpt.orcpt, "a+b@c.example");
	refused("RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", 0, 501, "5.5.4");  /* RFC 3461 §4.1 */
	refused("RCPT TO:<a@b.example> NOTIFY=SUCCESS,SUCCESS", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b.example> NOTIFY=SUCCESS,", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b.example> NOTIFY=", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b.example> NOTIFY", 0, 501, "5.5.4");  /* no value at all */
	refused("RCPT TO:<a@b.example> NOTIFY=sometimes", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b.example> ORCPT=a@b", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b.example> ORCPT=rfc822;", 0, 501, "5.5.4");
	refused("RCPT TO:<a@b.example> SIZE=10", 0, 555, "5.5.4");
	refused("RCPT TO:<j\xc3\xb6rg@b.example>", 0, 553, "5.6.7");
	ok("RCPT TO:<j\xc3\xb6rg@b.example>", SMTP_UTF8, SMTP_VERB_RCPT);
}

static void test_line_limit(void **state)
{
	/* SMTP_COMMAND_LINE_MAX counts CRLF: 510 octets of text fit, 511 do not. */
	char *s = arena_alloc(A, 3000);
	memcpy(s, "NOOP ", 5);
	memset(s + 5, 'x', SMTP_COMMAND_LINE_MAX - 2 - 5);
	ok(s, 0, SMTP_VERB_NOOP);
	s[SMTP_COMMAND_LINE_MAX - 2] = 'x';
	refused(s, 0, 500, "5.5.2");
	assert_int_equal(E.kind, ERR_LIMIT);
	/* SMTP_EXTENDED raises it for MAIL/RCPT only */
	char l63[64], big[201];
	memset(l63, 'l', 63);
	l63[63] = '\0';
	memset(big, 'a', 200);
	big[200] = '\0';
	char *m = arena_printf(A, "MAIL FROM:<%.64s@%s.%s.%.61s> ENVID=%.100s AUTH=%s", big, l63, l63, big,
		big, big);
	assert_true(strlen(m) + 2 > SMTP_COMMAND_LINE_MAX);
	assert_true(strlen(m) + 2 <= SMTP_COMMAND_LINE_EXTENDED_MAX);
	refused(m, 0, 500, "5.5.2");
	ok(m, SMTP_EXTENDED, SMTP_VERB_MAIL);
	refused(s, SMTP_EXTENDED, 500, "5.5.2");
}

static void test_xtext(void **state)
{
	const char *out;
	struct error e;
	assert_int_equal(smtp_xtext_decode("a+3Db", 5, 10, A, &out, &e), 0);
	assert_string_equal(out, "a=b");
	assert_int_equal(smtp_xtext_decode("a=b", 3, 10, A, &out, &e), -1);
	assert_int_equal(smtp_xtext_decode("a b", 3, 10, A, &out, &e), -1);
	assert_int_equal(smtp_xtext_decode("+00", 3, 10, A, &out, &e), -1);
	assert_int_equal(smtp_xtext_decode("+4", 2, 10, A, &out, &e), -1);
	assert_int_equal(smtp_xtext_decode("abc", 3, 2, A, &out, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verbs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bdat_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcpt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xtext, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
