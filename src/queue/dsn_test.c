/*
 * dsn_test.c: DSNs composed by dsn.c, parsed back with src/message: the
 * RFC 3464 structure, the per-message and per-recipient fields, the
 * original (whole or header only), RFC 6533 types, and remote text that
 * tries to add lines of its own.
 */
#include "queue/dsn.h"

#include "core/arena.h"
#include "message/message.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char original[] = "From: <me@here.example>\r\nTo: <perm@a.example>\r\n"
                               "Subject: hi\r\n\r\nThe body text.\r\n";

struct parsed {
	struct arena *a;
	struct buf out;
	struct message *m;
	const struct message_part *human, *status, *orig;
};

static void compose(struct parsed *p, const struct dsn_in *in)
{
	buf_init(&p->out, BUF_UNBOUNDED);
	struct error e;
	if (dsn_compose(in, &p->out, &e) != 0)
		fail_msg("dsn_compose: %s", e.msg);
	p->a = arena_new(8192, ARENA_PLAIN);
	p->m = message_parse(p->a, p->out.data, p->out.len, NULL);
	const struct message_part *root = p->m->root;
	assert_string_equal(root->content_type.type, "multipart");
	assert_string_equal(root->content_type.subtype, "report");
	assert_string_equal(message_param_get(&root->content_type, "report-type"), "delivery-status");
	p->human = root->children;
	assert_non_null(p->human);
	p->status = p->human->next;
	assert_non_null(p->status);
	p->orig = p->status->next;
}

static void done(struct parsed *p)
{
	buf_free(&p->out);
	arena_free(&p->a);
}

/* The body of part as a NUL-terminated string. */
static char *body(struct parsed *p, const struct message_part *part)
{
	return arena_strndup(p->a, p->out.data + part->body_offset, part->body_size);
}

static char *header(struct parsed *p, const char *name)
{
	const struct message_header *h = message_header_find(&p->m->root->headers, name, NULL);
	assert_non_null(h);
	return message_header_unfold(p->a, h->value, h->value_len, NULL);
}

static void test_failure(void **state)
{
	struct dsn_rcpt r[] = {{.address = "perm@a.example", .orcpt = "rfc822;Perm@a.example",
		.action = DSN_FAILED, .status = "5.1.1", .code = 550, .text = "no such user",
		.remote_mta = "mx.a.example", .last_attempt = 1700000100}};
	struct dsn_in in = {.reporting_mta = "mail.here.example", .to = "me@here.example",
		.envid = "env-1", .arrival = 1700000000, .now = 1700000200, .original = original,
		.original_len = sizeof(original) - 1, .rcpts = r, .nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	assert_string_equal(header(&p, "Subject"), "Delivery Status Notification (Failure)");
	assert_string_equal(header(&p, "To"), "<me@here.example>");
	assert_string_equal(header(&p, "Auto-Submitted"), "auto-replied");
	assert_non_null(strstr(header(&p, "From"), "MAILER-DAEMON@mail.here.example"));
	assert_string_equal(p.human->content_type.type, "text");
	assert_non_null(strstr(body(&p, p.human), "<perm@a.example>: delivery failed"));
	assert_non_null(strstr(body(&p, p.human), "mx.a.example said: 550 no such user"));
	assert_string_equal(p.status->content_type.type, "message");
	assert_string_equal(p.status->content_type.subtype, "delivery-status");
	const char *s = body(&p, p.status);
	assert_non_null(strstr(s, "Reporting-MTA: dns; mail.here.example\r\n"));
	assert_non_null(strstr(s, "Original-Envelope-Id: env-1\r\n"));
	assert_non_null(strstr(s, "Arrival-Date: "));
	assert_non_null(strstr(s, "\r\n\r\nOriginal-Recipient: rfc822;Perm@a.example\r\n"
	                          "Final-Recipient: rfc822; perm@a.example\r\n"
	                          "Action: failed\r\nStatus: 5.1.1\r\n"
	                          "Remote-MTA: dns; mx.a.example\r\n"
	                          "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
	                          "Last-Attempt-Date: "));
	assert_null(strstr(s, "Will-Retry-Until"));
	/* the whole original, as message/rfc822 */
	assert_non_null(p.orig);
	assert_string_equal(p.orig->content_type.type, "message");
	assert_string_equal(p.orig->content_type.subtype, "rfc822");
	assert_non_null(strstr(body(&p, p.orig), "The body text."));
	assert_null(p.orig->next);
	done(&p);
}

static void test_delay_headers_only(void **state)
{
	struct dsn_rcpt r[] = {
		{.address = "temp@a.example", .action = DSN_DELAYED, .status = "4.4.1", .code = 451,
		 .text = "later", .will_retry_until = 1700400000, .last_attempt = 1700000100},
		{.address = "temp2@a.example", .action = DSN_DELAYED, .code = 421, .text = "busy"},
	};
	struct dsn_in in = {.reporting_mta = "mail.here.example", .to = "me@here.example",
		.arrival = 1700000000, .original = original, .original_len = sizeof(original) - 1,
		.rcpts = r, .nrcpts = 2};
	struct parsed p;
	compose(&p, &in);
	assert_string_equal(header(&p, "Subject"), "Delivery Status Notification (Delay)");
	const char *s = body(&p, p.status);
	assert_non_null(strstr(s, "Action: delayed\r\nStatus: 4.4.1\r\n"));
	assert_non_null(strstr(s, "Will-Retry-Until: "));
	/* no enhanced code: the class of the reply */
	assert_non_null(strstr(s, "Final-Recipient: rfc822; temp2@a.example\r\nAction: delayed\r\n"
	                          "Status: 4.0.0\r\nDiagnostic-Code: smtp; 421 busy\r\n"));
	assert_null(strstr(s, "Original-Envelope-Id"));
	assert_string_equal(p.orig->content_type.type, "text");
	assert_string_equal(p.orig->content_type.subtype, "rfc822-headers");
	const char *o = body(&p, p.orig);
	assert_non_null(strstr(o, "Subject: hi\r\n"));
	assert_null(strstr(o, "The body text."));
	assert_non_null(strstr(body(&p, p.human), "You need not send it again."));
	done(&p);
}

static void test_ret_hdrs_and_relayed(void **state)
{
	struct dsn_rcpt r[] = {{.address = "ok@a.example", .action = DSN_RELAYED, .code = 250,
	                        .status = "2.0.0", .text = "queued as 1"}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example", .ret_hdrs = true,
		.original = original, .original_len = sizeof(original) - 1, .rcpts = r, .nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	assert_string_equal(header(&p, "Subject"), "Delivery Status Notification (Success)");
	assert_non_null(strstr(body(&p, p.status), "Action: relayed\r\nStatus: 2.0.0\r\n"));
	assert_string_equal(p.orig->content_type.subtype, "rfc822-headers");
	done(&p);
}

static void test_failed_ret_hdrs(void **state)
{
	struct dsn_rcpt r[] = {{.address = "perm@a.example", .action = DSN_FAILED, .code = 550}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example", .ret_hdrs = true,
		.original = original, .original_len = sizeof(original) - 1, .rcpts = r, .nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	assert_string_equal(p.orig->content_type.subtype, "rfc822-headers");
	assert_non_null(strstr(body(&p, p.status), "Status: 5.0.0\r\n"));
	done(&p);
}

/* Remote reply text cannot start lines or fields of its own. */
static void test_remote_text_cleaned(void **state)
{
	struct dsn_rcpt r[] = {{.address = "perm@a.example", .action = DSN_FAILED, .code = 550,
		.status = "5.7.1", .text = "no\r\nAction: delivered\r\n\r\n--x", .remote_mta = "mx\r\nX: y"}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example", .rcpts = r,
		.nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	const char *s = body(&p, p.status);
	assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 5.7.1 no  Action: delivered    --x\r\n"));
	assert_null(strstr(s, "\r\nAction: delivered"));
	assert_null(strstr(s, "\r\nX: y"));
	assert_null(p.orig);   /* no original given */
	done(&p);
}

/* Without RFC 6533, message/delivery-status is US-ASCII: 8-bit reply text
 * becomes '?' there; the human part keeps it. */
static void test_status_part_ascii(void **state)
{
	struct dsn_rcpt r[] = {{.address = "perm@a.example", .action = DSN_FAILED, .code = 550,
		.status = "5.1.1", .text = "Benutzer unbekannt: j\xc3\xbcrgen", .remote_mta = "mx.a.example"}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example", .rcpts = r,
		.nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	const char *s = body(&p, p.status);
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
		assert_true(*c < 0x80);
	assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 5.1.1 Benutzer unbekannt: j??rgen\r\n"));
	assert_non_null(strstr(body(&p, p.human), "j\xc3\xbcrgen"));
	done(&p);
}

/* A text cut at DSN_TEXT_MAX loses its last character whole, never half. */
static void test_cut_on_character(void **state)
{
	char text[DSN_TEXT_MAX + 2];
	memset(text, 'a', DSN_TEXT_MAX - 1);
	memcpy(text + DSN_TEXT_MAX - 1, "\xc3\xbc", 3);   /* "ü" across the limit */
	struct dsn_rcpt r[] = {{.address = "perm@a.example", .action = DSN_FAILED, .code = 550,
		.text = text}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example", .utf8 = true,
		.rcpts = r, .nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	const char *s = body(&p, p.status);
	const char *d = strstr(s, "Diagnostic-Code: smtp; 550 ");
	assert_non_null(d);
	d += strlen("Diagnostic-Code: smtp; 550 ");
	assert_int_equal(strcspn(d, "\r"), DSN_TEXT_MAX - 1);
	assert_null(strchr(s, '\xc3'));
	done(&p);
}

/* An original with an empty header: the headers part is empty, not the
 * body up to its first blank line. */
static void test_original_empty_header(void **state)
{
	static const char orig[] = "\r\nfirst body line\r\n\r\nsecond paragraph\r\n";
	struct dsn_rcpt r[] = {{.address = "late@a.example", .action = DSN_DELAYED, .code = 451}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example",
		.original = orig, .original_len = sizeof(orig) - 1, .rcpts = r, .nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	assert_non_null(p.orig);
	assert_string_equal(p.orig->content_type.subtype, "rfc822-headers");
	assert_null(strstr(body(&p, p.orig), "first body line"));
	done(&p);
}

static void test_utf8(void **state)
{
	struct dsn_rcpt r[] = {{.address = "jürgen@a.example", .action = DSN_FAILED, .code = 550,
	                        .status = "5.1.1"}};
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example", .utf8 = true,
		.original = original, .original_len = sizeof(original) - 1, .rcpts = r, .nrcpts = 1};
	struct parsed p;
	compose(&p, &in);
	assert_string_equal(p.status->content_type.subtype, "global-delivery-status");
	assert_non_null(strstr(body(&p, p.status), "Final-Recipient: utf-8; jürgen@a.example\r\n"));
	assert_string_equal(p.orig->content_type.subtype, "global");
	done(&p);
}

static void test_no_recipients(void **state)
{
	struct dsn_in in = {.reporting_mta = "h.example", .to = "me@here.example"};
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	struct error e;
	assert_int_equal(dsn_compose(&in, &out, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_delay_headers_only),
		cmocka_unit_test(test_ret_hdrs_and_relayed),
		cmocka_unit_test(test_failed_ret_hdrs),
		cmocka_unit_test(test_remote_text_cleaned),
		cmocka_unit_test(test_status_part_ascii),
		cmocka_unit_test(test_cut_on_character),
		cmocka_unit_test(test_original_empty_header),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_no_recipients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
