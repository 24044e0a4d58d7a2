/*
 * value_test.c: tests of structured header values: address lists
 * (address.c) with the examples of RFC 5322 Appendix A first, IDNA, dates
 * (date.c), message ids (msgid.c), and Content-Type/Content-Disposition
 * with the examples of RFC 2045 and RFC 2231 (param.c); then malformed
 * values and the limits (MESSAGE_MAX_ADDRESSES, MESSAGE_MAX_PARAMS,
 * MESSAGE_MAX_PARAM_SECTION) at and one past their value.
 */
#include "message/message.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct arena *arena;

static int setup(void **state)
{
	arena = arena_new(4096, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&arena);
	return 0;
}

static struct message_address_list addrs(const char *s, unsigned flags)
{
	struct message_address_list l;
	message_address_parse(arena, s, strlen(s), flags, &l);
	return l;
}

static void assert_mailbox(const struct message_address *m, const char *name, const char *local,
	const char *domain)
{
	assert_int_equal(m->kind, MESSAGE_ADDRESS_MAILBOX);
	if (name == NULL)
		assert_null(m->name);
	else
		assert_string_equal(m->name, name);
	if (local == NULL)
		assert_null(m->local);
	else
		assert_string_equal(m->local, local);
	if (domain == NULL)
		assert_null(m->domain);
	else
		assert_string_equal(m->domain, domain);
}

/* ---- addresses ---- */

/* RFC 5322 A.1.1, A.1.2: addressing, with quoted display names. */
static void test_rfc5322_a1(void **state)
{
	struct message_address_list l = addrs("John Doe <jdoe@machine.example>", 0);
	assert_int_equal(l.count, 1);
	assert_mailbox(&l.items[0], "John Doe", "jdoe", "machine.example");
	assert_string_equal(l.items[0].address, "jdoe@machine.example");
	l = addrs("\"Joe Q. Public\" <john.q.public@example.com>", 0);
	assert_mailbox(&l.items[0], "Joe Q. Public", "john.q.public", "example.com");
	l = addrs("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", 0);
	assert_int_equal(l.count, 3);
	assert_mailbox(&l.items[1], NULL, "jdoe", "example.org");
	assert_mailbox(&l.items[2], "Who?", "one", "y.test");
	l = addrs("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", 0);
	assert_int_equal(l.count, 2);
	assert_mailbox(&l.items[0], NULL, "boss", "nil.test");
	assert_mailbox(&l.items[1], "Giant; \"Big\" Box", "sysservices", "example.net");
	assert_string_equal(l.items[1].name_raw, "Giant; \"Big\" Box");
}

/* RFC 5322 A.1.3: groups, the shape of IMAP's group markers. */
static void test_rfc5322_a1_3_groups(void **state)
{
	struct message_address_list l = addrs(
		"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", 0);
	assert_int_equal(l.count, 5);
	assert_int_equal(l.items[0].kind, MESSAGE_ADDRESS_GROUP_START);
	assert_string_equal(l.items[0].name, "A Group");
	assert_mailbox(&l.items[1], "Ed Jones", "c", "a.test");
	assert_mailbox(&l.items[2], NULL, "joe", "where.test");
	assert_mailbox(&l.items[3], "John", "jdoe", "one.test");
	assert_int_equal(l.items[4].kind, MESSAGE_ADDRESS_GROUP_END);
	l = addrs("Undisclosed recipients:;", 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.items[0].name, "Undisclosed recipients");
	assert_int_equal(l.items[1].kind, MESSAGE_ADDRESS_GROUP_END);
	l = addrs("G: a@b.test", 0);  /* liberal: no ";" */
	assert_int_equal(l.count, 3);
	assert_int_equal(l.items[2].kind, MESSAGE_ADDRESS_GROUP_END);
}

/* RFC 5322 §3.4: group-list = mailbox-list / CFWS / obs-group-list, and
 * group = display-name ":" [group-list] ";" [CFWS]: comments alone are no
 * member, nor is the comment after the ";" an address. */
static void test_group_cfws(void **state)
{
	struct message_address_list l = addrs("group:;, group2: (foo) ;", 0);
	assert_int_equal(l.count, 4);
	assert_int_equal(l.items[0].kind, MESSAGE_ADDRESS_GROUP_START);
	assert_string_equal(l.items[0].name, "group");
	assert_int_equal(l.items[1].kind, MESSAGE_ADDRESS_GROUP_END);
	assert_int_equal(l.items[2].kind, MESSAGE_ADDRESS_GROUP_START);
	assert_string_equal(l.items[2].name, "group2");
	assert_int_equal(l.items[3].kind, MESSAGE_ADDRESS_GROUP_END);
	l = addrs("G: a@b.test (x); (the end), c@d.test", 0);
	assert_int_equal(l.count, 4);
	assert_mailbox(&l.items[1], "x", "a", "b.test");
	assert_int_equal(l.items[2].kind, MESSAGE_ADDRESS_GROUP_END);
	assert_mailbox(&l.items[3], NULL, "c", "d.test");
	/* §4.4 obs-addr-list: "," [address / CFWS] */
	l = addrs("\"Q\" <x@y.test>, (only a comment)", 0);
	assert_int_equal(l.count, 1);
	l = addrs("(only a comment)", 0);
	assert_int_equal(l.count, 0);
	/* a bare word is still kept, as a name */
	l = addrs("root", 0);
	assert_int_equal(l.count, 1);
	assert_mailbox(&l.items[0], "root", NULL, NULL);
}

/* RFC 5322 A.5: white space, comments and other oddities. */
static void test_rfc5322_a5(void **state)
{
	struct message_address_list l = addrs(
		"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 0);
	assert_int_equal(l.count, 1);
	assert_mailbox(&l.items[0], "Pete (A nice ) chap his account his host)", "pete", "silly.test");
	assert_string_equal(l.items[0].name_raw, "Pete");
	l = addrs("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
		"         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)", 0);
	assert_int_equal(l.items[0].kind, MESSAGE_ADDRESS_GROUP_START);
	assert_string_equal(l.items[0].name, "A Group (Some people)");
	assert_mailbox(&l.items[1], "Chris Jones (Chris's host.)", "c", "public.example");
	assert_mailbox(&l.items[2], NULL, "joe", "example.org");
	assert_mailbox(&l.items[3], "John (my dear friend)", "jdoe", "one.test");
	assert_int_equal(l.items[4].kind, MESSAGE_ADDRESS_GROUP_END);
}

/* RFC 5322 A.6.1-A.6.3: obsolete forms. */
static void test_rfc5322_a6_obsolete(void **state)
{
	struct message_address_list l = addrs("Joe Q. Public <john.q.public@example.com>", 0);
	assert_mailbox(&l.items[0], "Joe Q. Public", "john.q.public", "example.com");
	l = addrs("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example", 0);
	assert_int_equal(l.count, 2);
	assert_mailbox(&l.items[0], "Mary Smith", "mary", "example.net");
	assert_string_equal(l.items[0].route, "@node.test");
	assert_string_equal(l.items[0].address, "@node.test:mary@example.net");
	assert_mailbox(&l.items[1], NULL, "jdoe", "test.example");
	l = addrs("John Doe <jdoe@machine(comment).  example>", 0);
	assert_mailbox(&l.items[0], "John Doe (comment)", "jdoe", "machine.example");
	l = addrs("Mary Smith\r\n \r\n <mary@example.net>", 0);
	assert_mailbox(&l.items[0], "Mary Smith", "mary", "example.net");
}

static void test_address_odd_forms(void **state)
{
	struct message_address_list l = addrs("\"a b\"@example.com", 0);
	assert_mailbox(&l.items[0], NULL, "a b", "example.com");
	assert_string_equal(l.items[0].address, "\"a b\"@example.com");
	l = addrs("jdoe@example.org (John Doe)", 0);
	assert_mailbox(&l.items[0], "John Doe", "jdoe", "example.org");
	l = addrs("Whomever", 0);
	assert_mailbox(&l.items[0], "Whomever", NULL, NULL);
	l = addrs("phil@example.com <phil@example.com>", 0);
	assert_mailbox(&l.items[0], "phil@example.com", "phil", "example.com");
	l = addrs("<a@b.com> =?utf-8?q?Doe?=", 0);
	assert_mailbox(&l.items[0], "Doe", "a", "b.com");
	l = addrs("j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0);  /* RFC 6532 */
	assert_mailbox(&l.items[0], NULL, "j\xc3\xb6rg", "b\xc3\xbc" "cher.example");
	l = addrs("", 0);
	assert_int_equal(l.count, 0);
	l = addrs(" , ,; : > ) <", 0);  /* debris: no crash, nothing useful */
	assert_false(l.truncated);
	l = addrs("<unclosed@example.com", 0);
	assert_mailbox(&l.items[0], NULL, "unclosed", "example.com");
	l = addrs("\"unclosed <a@b>", 0);
	assert_int_equal(l.count, 1);
}

static void test_idna(void **state)
{
	struct message_address_list l = addrs("x@b\xc3\xbc" "cher.example", MESSAGE_ADDRESS_IDNA_ASCII);
	assert_string_equal(l.items[0].domain, "xn--bcher-kva.example");
	assert_string_equal(l.items[0].address, "x@xn--bcher-kva.example");
	l = addrs("x@XN--bcher-kva.example", MESSAGE_ADDRESS_IDNA_UNICODE);
	assert_string_equal(l.items[0].domain, "b\xc3\xbc" "cher.example");
	l = addrs("x@xn--zz-invalid-.example", MESSAGE_ADDRESS_IDNA_UNICODE);
	assert_string_equal(l.items[0].domain, "xn--zz-invalid-.example");  /* kept */
	assert_null(message_domain_idna(arena, "a..b\xff", true));
	assert_string_equal(message_domain_idna(arena, "example.com", true), "example.com");
}

/* MESSAGE_MAX_ADDRESSES items are kept; one more sets truncated. */
static void test_address_limit(void **state)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	for (int i = 0; i < MESSAGE_MAX_ADDRESSES; i++)
		buf_appendf(&b, "a%d@x.test,", i);
	struct message_address_list l;
	message_address_parse(arena, b.data, b.len, 0, &l);
	assert_int_equal(l.count, MESSAGE_MAX_ADDRESSES);
	assert_false(l.truncated);
	buf_append_str(&b, "one@more.test");
	message_address_parse(arena, b.data, b.len, 0, &l);
	assert_int_equal(l.count, MESSAGE_MAX_ADDRESSES);
	assert_true(l.truncated);
	buf_free(&b);
}

/* ---- dates ---- */

static struct message_date date(const char *s, int expect)
{
	struct message_date d;
	assert_int_equal(message_date_parse(s, strlen(s), &d), expect);
	return d;
}

static void test_dates_rfc5322(void **state)
{
	struct message_date d = date("Fri, 21 Nov 1997 09:55:06 -0600", 0);  /* A.1.1 */
	assert_int_equal(d.year, 1997);
	assert_int_equal(d.month, 11);
	assert_int_equal(d.day, 21);
	assert_int_equal(d.hour, 9);
	assert_int_equal(d.zone_minutes, -360);
	assert_int_equal(d.time, 880127706);
	d = date("Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
		"               -0330 (Newfoundland Time)", 0);  /* A.5 */
	assert_int_equal(d.year, 1969);
	assert_int_equal(d.second, 0);
	assert_int_equal(d.zone_minutes, -210);
	assert_int_equal(d.time, -27723480);  /* 1969-02-14T03:02:00Z */
	d = date("21 Nov 97 09:55:06 GMT", 0);  /* A.6.2 */
	assert_int_equal(d.year, 1997);
	assert_int_equal(d.zone_minutes, 0);
	d = date("Tue, 1 Jul 2003 10:52:37 +0200", 0);
	assert_int_equal(d.time, 1057049557);
}

static void test_dates_obsolete(void **state)
{
	struct message_date d = date("1 Jan 49 00:00:00 EST", 0);  /* RFC 5322 §4.3 */
	assert_int_equal(d.year, 2049);
	assert_int_equal(d.zone_minutes, -300);
	d = date("1 Jan 50 00:00 PDT", 0);
	assert_int_equal(d.year, 1950);
	assert_int_equal(d.zone_minutes, -420);
	d = date("1 Jan 103 00:00 +0000", 0);
	assert_int_equal(d.year, 2003);
	d = date("1 Jan 2000 00:00 A", 0);  /* military: unknown */
	assert_true(d.zone_unknown);
	assert_int_equal(d.zone_minutes, 0);
	d = date("1 Jan 2000 00:00 -0000", 0);
	assert_true(d.zone_unknown);
	d = date("1 Jan 2000 00:00", 0);  /* no zone */
	assert_false(d.zone_unknown);
	d = date("from a by b; Mon, 10 Oct 2022 10:31:15 -0700 (PDT)", 0);  /* Received */
	assert_int_equal(d.day, 10);
	d = date("31 Dec 1999 23:59:60 +0000", 0);  /* leap second */
	assert_int_equal(d.second, 60);
}

static void test_dates_invalid(void **state)
{
	static const char *const bad[] = {
		"", "Monday", "32 Jan 2000 00:00 +0000", "30 Feb 2000 00:00 +0000", "1 Foo 2000 00:00",
		"1 Jan 2000", "1 Jan 2000 24:00 +0000", "1 Jan 2000 12:60 +0000", "Jan 2000 12:00",
		"1 Jan 2000 (12:00 +0000)", "1 Jan 99999999999 00:00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct message_date d;
		if (message_date_parse(bad[i], strlen(bad[i]), &d) != -1)
			fail_msg("\"%s\" parsed", bad[i]);
	}
}

/* ---- message ids ---- */

static void test_msgids(void **state)
{
	const char **ids;
	const char *s = "<1234@local.machine.example> <3456@example.net>";  /* RFC 5322 A.1.3 */
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 2);
	assert_string_equal(ids[0], "1234@local.machine.example");
	assert_string_equal(ids[1], "3456@example.net");
	s = "Your message of \"Mon, 1 Jan\" <a@b> (comment <x@y>)";  /* §4.5.4 obs-phrase */
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 1);
	assert_string_equal(ids[0], "a@b");
	s = "< spaced @ id >";
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 1);
	assert_string_equal(ids[0], "spaced@id");
	s = "bare@id";
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 1);
	assert_string_equal(ids[0], "bare@id");
	s = "two words";
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 0);
	s = "<unclosed@id";
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 1);
	s = "<>";
	assert_int_equal(message_msgid_parse(arena, s, strlen(s), &ids), 0);
}

/* ---- content types ---- */

static struct message_content_type ctype(const char *s, int expect)
{
	struct message_content_type ct;
	assert_int_equal(message_content_type_parse(arena, s, strlen(s), &ct), expect);
	return ct;
}

/* RFC 2045 §5.1 examples and case rules. */
static void test_content_type_rfc2045(void **state)
{
	struct message_content_type ct = ctype("text/plain; charset=us-ascii (Plain text)", 1);
	assert_string_equal(ct.type, "text");
	assert_string_equal(ct.subtype, "plain");
	assert_int_equal(ct.n_params, 1);
	assert_string_equal(message_param_get(&ct, "CHARSET"), "us-ascii");
	ct = ctype("Text/HTML; Charset=\"UTF-8\"", 1);
	assert_string_equal(ct.type, "text");
	assert_string_equal(ct.subtype, "html");
	assert_string_equal(ct.params[0].name, "charset");
	assert_string_equal(ct.params[0].value, "UTF-8");
	ct = ctype("multipart/mixed; boundary=\"simple boundary\"; boundary=second", 1);
	assert_string_equal(message_param_get(&ct, "boundary"), "simple boundary");
	assert_int_equal(ct.n_params, 1);
	ct = ctype("attachment; filename=genome.jpeg;\r\n modification-date=\"Wed, 12 Feb 1997 16:29:51 -0500\"", 1);
	assert_string_equal(ct.type, "attachment");  /* RFC 2183 §2 */
	assert_null(ct.subtype);
	assert_string_equal(message_param_get(&ct, "modification-date"), "Wed, 12 Feb 1997 16:29:51 -0500");
	ctype("", 0);
	ctype(" ; charset=x", 0);
	ctype("/plain", 0);
}

/* RFC 2231 §3, §4, §4.1 examples. */
static void test_content_type_rfc2231(void **state)
{
	struct message_content_type ct = ctype("message/external-body; access-type=URL;\r\n"
		" URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"", 1);
	assert_string_equal(message_param_get(&ct, "url"),
		"ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
	ct = ctype("application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", 1);
	assert_string_equal(message_param_get(&ct, "title"), "This is ***fun***");
	assert_string_equal(ct.params[0].language, "en-us");
	ct = ctype("application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
		" title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"", 1);
	assert_string_equal(message_param_get(&ct, "title"), "This is even more ***fun*** isn't it!");
	assert_string_equal(ct.params[0].language, "en");
	ct = ctype("text/plain; name*=iso-8859-1''caf%E9.txt; name=\"other\"", 1);
	assert_string_equal(message_param_get(&ct, "name"), "caf\xc3\xa9.txt");
	/* out of order sections and a gap; bad escapes kept */
	ct = ctype("a/b; n*2=c; n*0=a; n*5*=%zz", 1);
	assert_string_equal(message_param_get(&ct, "n"), "ac%zz");
	/* unknown charset: bytes kept, invalid UTF-8 replaced */
	ct = ctype("a/b; n*=x-nope''%41%FF", 1);
	assert_string_equal(message_param_get(&ct, "n"), "A\xef\xbf\xbd");
	/* RFC 2047 in a quoted value, seen in the wild */
	ct = ctype("image/png; name=\"=?utf-8?q?caf=C3=A9?=.png\"", 1);
	assert_string_equal(message_param_get(&ct, "name"), "caf\xc3\xa9.png");
}

/* MESSAGE_MAX_PARAM_SECTION is the highest section number; past it the
 * piece is dropped. MESSAGE_MAX_PARAMS parameters are kept, no more. */
static void test_content_type_limits(void **state)
{
	char s[128];
	snprintf(s, sizeof(s), "a/b; n*0=x; n*%d=y", MESSAGE_MAX_PARAM_SECTION);
	struct message_content_type ct = ctype(s, 1);
	assert_string_equal(message_param_get(&ct, "n"), "xy");
	snprintf(s, sizeof(s), "a/b; n*0=x; n*%d=y", MESSAGE_MAX_PARAM_SECTION + 1);
	ct = ctype(s, 1);
	assert_string_equal(message_param_get(&ct, "n"), "x");
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "a/b");
	for (int i = 0; i < MESSAGE_MAX_PARAMS; i++)
		buf_appendf(&b, "; p%d=%d", i, i);
	assert_int_equal(message_content_type_parse(arena, b.data, b.len, &ct), 1);
	assert_int_equal(ct.n_params, MESSAGE_MAX_PARAMS);
	buf_append_str(&b, "; extra=1");
	assert_int_equal(message_content_type_parse(arena, b.data, b.len, &ct), 1);
	assert_int_equal(ct.n_params, MESSAGE_MAX_PARAMS);
	assert_null(message_param_get(&ct, "extra"));
	buf_free(&b);
}

static void test_encoding_names(void **state)
{
	assert_int_equal(message_encoding_parse(" BASE64 ", 8), MESSAGE_ENC_BASE64);
	assert_int_equal(message_encoding_parse("Quoted-Printable", 16), MESSAGE_ENC_QP);
	assert_int_equal(message_encoding_parse("7bit", 4), MESSAGE_ENC_7BIT);
	assert_int_equal(message_encoding_parse("8BIT", 4), MESSAGE_ENC_8BIT);
	assert_int_equal(message_encoding_parse("binary", 6), MESSAGE_ENC_BINARY);
	assert_int_equal(message_encoding_parse("x-uuencode", 10), MESSAGE_ENC_UNKNOWN);
	assert_int_equal(message_encoding_parse("", 0), MESSAGE_ENC_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rfc5322_a1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc5322_a1_3_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_cfws, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc5322_a5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc5322_a6_obsolete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_odd_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idna, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dates_rfc5322, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dates_obsolete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dates_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msgids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_type_rfc2045, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_type_rfc2231, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_type_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encoding_names, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
