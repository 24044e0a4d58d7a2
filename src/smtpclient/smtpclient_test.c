/*
 * smtpclient_test.c: the parts of the SMTP client that need no network:
 * EHLO keywords (ehlo.c), xtext, the MX order with null MX (mx.c), and
 * reading replies (session.c) from a socket pair.
 */
#include "smtpclient/internal.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/conn.h"
#include "dns/dns.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static void test_ehlo(void **state)
{
	const char *lines[] = {
		"mx.example.org greets you", "PIPELINING", "SIZE 10240000", "8bitmime",
		"SMTPUTF8", "CHUNKING", "DSN", "STARTTLS", "REQUIRETLS",
		"AUTH PLAIN SCRAM-SHA-256 LOGIN", "ENHANCEDSTATUSCODES",
	};
	struct ehlo_ext x;
	ehlo_ext_parse(lines, sizeof(lines) / sizeof(lines[0]), &x);
	assert_true(x.esmtp && x.pipelining && x.size && x.eightbitmime && x.smtputf8);
	assert_true(x.chunking && x.dsn && x.starttls && x.requiretls);
	assert_int_equal(x.size_max, 10240000);
	assert_true(x.auth_plain && x.auth_scram_sha256);
	assert_false(x.auth_scram_sha1 || x.auth_scram_sha256_plus);
	const char *plus[] = { "x", "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256" };
	ehlo_ext_parse(plus, 2, &x);
	assert_true(x.auth_scram_sha256_plus && x.auth_scram_sha1_plus && x.auth_scram_sha256);
	assert_false(x.auth_scram_sha1 || x.auth_plain);

	/* keywords must match whole: "SIZEX", "STARTTLSX", greeting line skipped */
	const char *other[] = { "STARTTLS", "SIZEX 5", "STARTTLSX", "SIZE", "AUTH=PLAIN" };
	ehlo_ext_parse(other, 5, &x);
	assert_false(x.starttls);
	assert_true(x.size);
	assert_int_equal(x.size_max, 0);
	assert_true(x.auth_plain);   /* the old "AUTH=" form */

	/* a SIZE that overflows counts as no limit */
	const char *big[] = { "x", "SIZE 99999999999999999999999" };
	ehlo_ext_parse(big, 2, &x);
	assert_int_equal(x.size_max, 0);
}

static void test_xtext(void **state)
{
	struct buf b;
	buf_init(&b, 1024);
	assert_int_equal(xtext_append(&b, "a+b=c d\x01\xc3\xa9"), 0);
	assert_string_equal(b.data, "a+2Bb+3Dc+20d+01+C3+A9");
	buf_free(&b);
}

static unsigned seq_rnd_values[64];
static size_t seq_rnd_pos;

static unsigned seq_rnd(unsigned bound)
{
	return seq_rnd_values[seq_rnd_pos++ % 64] % bound;
}

static unsigned zero_rnd(unsigned bound)
{
	return 0;
}

static void test_mx_order(void **state)
{
	struct dns_mx mx[] = {
		{ 20, "b1." }, { 10, "a1." }, { 20, "b2." }, { 30, "c1." }, { 10, "a2." },
	};
	struct mx_host out[SMTPCLIENT_MX_MAX];
	size_t n;
	assert_int_equal(mx_order(mx, 5, zero_rnd, out, SMTPCLIENT_MX_MAX, &n), MX_ORDER_OK);
	assert_int_equal(n, 5);
	assert_int_equal(out[0].preference, 10);
	assert_int_equal(out[1].preference, 10);
	assert_int_equal(out[2].preference, 20);
	assert_int_equal(out[3].preference, 20);
	assert_string_equal(out[4].name, "c1.");

	/* equal preferences come in both orders over many shuffles */
	bool a1_first = false, a2_first = false;
	for (unsigned i = 0; i < 64; i++)
		seq_rnd_values[i] = i / 2;
	for (int round = 0; round < 32; round++) {
		mx_order(mx, 5, seq_rnd, out, SMTPCLIENT_MX_MAX, &n);
		assert_int_equal(out[0].preference, 10);
		assert_int_equal(out[4].preference, 30);
		if (strcmp(out[0].name, "a1.") == 0)
			a1_first = true;
		else
			a2_first = true;
	}
	assert_true(a1_first && a2_first);
	for (int round = 0; round < 100; round++) {
		mx_order(mx, 5, mx_random, out, SMTPCLIENT_MX_MAX, &n);
		assert_int_equal(out[0].preference, 10);
		assert_int_equal(out[2].preference, 20);
	}

	/* RFC 7505: one MX "." is a null MX; "." beside others is skipped */
	struct dns_mx null_mx[] = { { 0, "." } };
	assert_int_equal(mx_order(null_mx, 1, zero_rnd, out, SMTPCLIENT_MX_MAX, &n), MX_ORDER_NULL_MX);
	assert_int_equal(n, 0);
	struct dns_mx mixed[] = { { 0, "." }, { 10, "mx." } };
	assert_int_equal(mx_order(mixed, 2, zero_rnd, out, SMTPCLIENT_MX_MAX, &n), MX_ORDER_OK);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].name, "mx.");
	assert_int_equal(mx_order(mx, 0, zero_rnd, out, SMTPCLIENT_MX_MAX, &n), MX_ORDER_EMPTY);

	/* at most max hosts */
	assert_int_equal(mx_order(mx, 5, zero_rnd, out, 2, &n), MX_ORDER_OK);
	assert_int_equal(n, 2);
}

/* Feeds text to session_read_reply through a socket pair; returns its
 * result. The lines live in an arena freed here: x (if not NULL) gets them
 * parsed as EHLO keywords first. */
static int reply_of_ehlo(const char *text, struct reply *r, struct error *e, struct ehlo_ext *x)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], text, strlen(text)), (ssize_t)strlen(text));
	close(sv[1]);
	struct smtpclient_opts o = { .command_timeout_ms = 2000 };
	struct attempt a = { .o = &o };
	struct session s = { .a = &a, .arena = arena_new(4096, ARENA_PLAIN),
		.reply_arena = arena_new(4096, ARENA_PLAIN) };
	s.c = conn_new(sv[0], REPLY_LINE_MAX, e);
	assert_non_null(s.c);
	int ret = session_read_reply(&s, 2000, r, e);
	if (ret == 0 && x != NULL)
		ehlo_ext_parse(r->lines, r->nlines, x);
	r->nlines = 0;   /* the lines are gone with the arena */
	conn_free(&s.c);
	arena_free(&s.reply_arena);
	arena_free(&s.arena);
	return ret;
}

static int reply_of(const char *text, struct reply *r, struct error *e)
{
	return reply_of_ehlo(text, r, e, NULL);
}

static void test_replies(void **state)
{
	struct reply r;
	struct error e;
	/* multi-line: texts joined, enhanced code kept once (RFC 2034 §4) */
	assert_int_equal(reply_of("550-5.1.1 no such user\r\n550 5.1.1 here\r\n", &r, &e), 0);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
	assert_string_equal(r.text, "no such user; here");
	/* EHLO lines keep their texts for ehlo_ext_parse */
	struct ehlo_ext x;
	assert_int_equal(reply_of_ehlo("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n", &r,
		&e, &x), 0);
	assert_true(x.pipelining && x.size);
	assert_int_equal(x.size_max, 10);
	/* no enhanced code, bare LF accepted */
	assert_int_equal(reply_of("220 mx ESMTP ready\n", &r, &e), 0);
	assert_string_equal(r.enhanced, "");
	assert_string_equal(r.text, "mx ESMTP ready");
	/* an enhanced code of another class than the reply is text */
	assert_int_equal(reply_of("250 5.0.0 odd\r\n", &r, &e), 0);
	assert_string_equal(r.enhanced, "");
	/* errors: codes differ between lines, no code, the connection ends */
	assert_int_equal(reply_of("250-a\r\n251 b\r\n", &r, &e), -1);
	assert_int_equal(reply_of("hello\r\n", &r, &e), -1);
	assert_int_equal(reply_of("250-a\r\n", &r, &e), -1);
	assert_int_equal(e.kind, ERR_CLOSED);
}

/* RFC 8460 §4.4 policy strings: TLSA records in presentation form, the
 * MTA-STS policy's lines; whole lines only. */
static void test_policy_strings(void **state)
{
	unsigned char d1[] = {0x1f, 0x85, 0x0a}, d2[] = {0xab};
	struct dane_host dh = {.n = 2};
	dh.tlsa[0] = (struct dane_tlsa){.usage = 3, .selector = 1, .mtype = 1, .data = d1, .len = 3};
	dh.tlsa[1] = (struct dane_tlsa){.usage = 2, .selector = 0, .mtype = 2, .data = d2, .len = 1};
	char out[64];
	smtpclient_policy_strings(SMTPCLIENT_POLICY_DANE, &dh, NULL, out, sizeof(out));
	assert_string_equal(out, "3 1 1 1F850A\n2 0 2 AB");
	smtpclient_policy_strings(SMTPCLIENT_POLICY_DANE, &dh, NULL, out, 16);
	assert_string_equal(out, "3 1 1 1F850A");   /* the second line does not fit */
	struct mtasts_policy sts = {.mode = MTASTS_MODE_TESTING, .max_age = 86400, .nmx = 2};
	snprintf(sts.mx[0], sizeof(sts.mx[0]), "*.example.net");
	snprintf(sts.mx[1], sizeof(sts.mx[1]), "mx.example.org");
	char big[128];
	smtpclient_policy_strings(SMTPCLIENT_POLICY_MTASTS, NULL, &sts, big, sizeof(big));
	assert_string_equal(big, "version: STSv1\nmode: testing\nmx: *.example.net\n"
		"mx: mx.example.org\nmax_age: 86400");
	smtpclient_policy_strings(SMTPCLIENT_POLICY_MTASTS, NULL, &sts, big, 40);
	assert_string_equal(big, "version: STSv1\nmode: testing");   /* in order, whole lines */
	smtpclient_policy_strings(SMTPCLIENT_POLICY_NONE, &dh, &sts, out, sizeof(out));
	assert_string_equal(out, "");
}

/* Lines over 512 octets (a long final reply to DATA) are read whole; only
 * lines over REPLY_LINE_MAX fail. */
static void test_long_reply_lines(void **state)
{
	struct reply r;
	struct error e;
	char line[700];
	memcpy(line, "250 2.0.0 ", 10);
	memset(line + 10, 'q', 600);
	memcpy(line + 610, "\r\n", 3);
	assert_int_equal(reply_of(line, &r, &e), 0);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enhanced, "2.0.0");
	assert_int_equal(r.text[0], 'q');

	char *huge = malloc(REPLY_LINE_MAX + 16);
	assert_non_null(huge);
	memcpy(huge, "250 ", 4);
	memset(huge + 4, 'q', REPLY_LINE_MAX);
	memcpy(huge + 4 + REPLY_LINE_MAX, "\r\n", 3);
	assert_int_equal(reply_of(huge, &r, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	free(huge);
}

/* Many long replies in one session use the memory of one reply. */
static void test_reply_memory_bounded(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct error e;
	struct smtpclient_opts o = { .command_timeout_ms = 2000 };
	struct attempt a = { .o = &o };
	struct session s = { .a = &a, .arena = arena_new(4096, ARENA_PLAIN),
		.reply_arena = arena_new(4096, ARENA_PLAIN) };
	s.c = conn_new(sv[0], REPLY_LINE_MAX, &e);
	assert_non_null(s.c);
	char text[64 * 80 + 1] = "";
	for (int i = 0; i < 63; i++)
		strcat(text, "550-5.1.1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
	strcat(text, "550 5.1.1 end\r\n");
	size_t first = 0;
	for (int i = 0; i < 500; i++) {
		struct reply r;
		assert_int_equal(write(sv[1], text, strlen(text)), (ssize_t)strlen(text));
		assert_int_equal(session_read_reply(&s, 2000, &r, &e), 0);
		assert_int_equal(r.nlines, 64);
		assert_string_equal(r.lines[63], "end");
		if (i == 0)
			first = arena_used(s.reply_arena);
		assert_int_equal(arena_used(s.reply_arena), first);
	}
	assert_int_equal(arena_used(s.arena), 0);
	close(sv[1]);
	conn_free(&s.c);
	arena_free(&s.reply_arena);
	arena_free(&s.arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_long_reply_lines),
		cmocka_unit_test(test_policy_strings),
		cmocka_unit_test(test_reply_memory_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
