/*
 * parser_test.c: tests of the part tree (parser.c) and of what IMAP takes
 * from it (imap.c): the RFC 5322 Appendix A message and the RFC 2046 §5.1.1
 * multipart example first, then nesting, message/rfc822, digests, boundary
 * rules, missing close delimiters, line endings, every prefix of a
 * message, the limits (depth, parts, header bytes) at and one past their
 * value, ENVELOPE data and section lookup with its errors.
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
	arena = arena_new(64 * 1024, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&arena);
	return 0;
}

static struct message *parse(const char *s)
{
	return message_parse(arena, s, strlen(s), NULL);
}

static void assert_body(const struct message *m, const struct message_part *p, const char *want)
{
	if (p->body_size != strlen(want) || memcmp(m->data + p->body_offset, want, p->body_size) != 0)
		fail_msg("body \"%.*s\", want \"%s\"", (int)p->body_size, m->data + p->body_offset, want);
}

static void assert_type(const struct message_part *p, const char *type, const char *subtype)
{
	assert_string_equal(p->content_type.type, type);
	assert_string_equal(p->content_type.subtype, subtype);
}

/* Bounds every part keeps, whatever the input. */
static void check_invariants(const struct message *m)
{
	size_t n = 0;
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p), n++) {
		assert_true(p->header_offset + p->header_size == p->body_offset);
		assert_true(p->body_offset + p->body_size <= m->size);
		if (p->parent != NULL)
			assert_true(p->header_offset >= p->parent->body_offset &&
				p->body_offset + p->body_size <= p->parent->body_offset + p->parent->body_size);
	}
	assert_int_equal(n, m->n_parts);
}

/* RFC 5322 A.1.1 */
static const char a11[] =
	"From: John Doe <jdoe@machine.example>\r\n"
	"To: Mary Smith <mary@example.net>\r\n"
	"Subject: Saying Hello\r\n"
	"Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
	"Message-ID: <1234@local.machine.example>\r\n"
	"\r\n"
	"This is a message just to say hello.\r\n"
	"So, \"Hello\".\r\n";

static void test_rfc5322_a11(void **state)
{
	struct message *m = parse(a11);
	const struct message_part *r = m->root;
	assert_int_equal(m->n_parts, 1);
	assert_int_equal(r->headers.count, 5);
	assert_int_equal(r->header_offset, 0);
	assert_int_equal(r->body_offset, strlen(a11) - 52);
	assert_body(m, r, "This is a message just to say hello.\r\nSo, \"Hello\".\r\n");
	assert_int_equal(r->body_lines, 2);
	assert_type(r, "text", "plain");
	assert_true(r->flags & MESSAGE_PART_DEFAULT_TYPE);
	assert_int_equal(r->encoding, MESSAGE_ENC_7BIT);
	assert_string_equal(r->encoding_name, "7bit");
	assert_true(message_part_has_lines(r));
	struct message_envelope env;
	message_envelope(arena, r, &env);
	assert_string_equal(env.date, "Fri, 21 Nov 1997 09:55:06 -0600");
	assert_string_equal(env.subject, "Saying Hello");
	assert_string_equal(env.message_id, "<1234@local.machine.example>");
	assert_null(env.in_reply_to);
	assert_int_equal(env.from.count, 1);
	assert_string_equal(env.from.items[0].local, "jdoe");
	/* RFC 9051 §7.5.2: sender and reply-to default to from */
	assert_ptr_equal(env.sender.items, env.from.items);
	assert_ptr_equal(env.reply_to.items, env.from.items);
	assert_int_equal(env.cc.count, 0);
	check_invariants(m);
}

/* RFC 2046 §5.1.1 example: preamble, an implicitly typed part whose last
 * line has no line break (the CRLF before the delimiter belongs to it), an
 * explicitly typed one, and an epilogue. */
static const char rfc2046[] =
	"From: Nathaniel Borenstein <nsb@bellcore.com>\r\n"
	"To: Ned Freed <ned@innosoft.com>\r\n"
	"Date: Sun, 21 Mar 1993 23:56:48 -0800 (PST)\r\n"
	"Subject: Sample message\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-type: multipart/mixed; boundary=\"simple boundary\"\r\n"
	"\r\n"
	"This is the preamble.  It is to be ignored, though it\r\n"
	"is a handy place for composition agents to include an\r\n"
	"explanatory note to non-MIME conformant readers.\r\n"
	"\r\n"
	"--simple boundary\r\n"
	"\r\n"
	"This is implicitly typed plain US-ASCII text.\r\n"
	"It does NOT end with a linebreak.\r\n"
	"--simple boundary\r\n"
	"Content-type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"This is explicitly typed plain US-ASCII text.\r\n"
	"It DOES end with a linebreak.\r\n"
	"\r\n"
	"--simple boundary--\r\n"
	"\r\n"
	"This is the epilogue.  It is also to be ignored.\r\n";

static void test_rfc2046_example(void **state)
{
	struct message *m = parse(rfc2046);
	const struct message_part *r = m->root, *p1 = r->children, *p2 = p1->next;
	assert_int_equal(m->n_parts, 3);
	assert_true(r->flags & MESSAGE_PART_MULTIPART);
	assert_false(r->flags & MESSAGE_PART_NO_END_BOUNDARY);
	assert_string_equal(r->boundary, "simple boundary");
	assert_int_equal(r->n_children, 2);
	assert_body(m, p1, "This is implicitly typed plain US-ASCII text.\r\n"
		"It does NOT end with a linebreak.");
	assert_int_equal(p1->header_size, 2);
	assert_int_equal(p1->body_lines, 1);  /* line endings: the last line has none */
	assert_true(p1->flags & MESSAGE_PART_DEFAULT_TYPE);
	assert_body(m, p2, "This is explicitly typed plain US-ASCII text.\r\n"
		"It DOES end with a linebreak.\r\n");
	assert_string_equal(p2->charset, "us-ascii");
	assert_int_equal(p2->body_lines, 2);
	assert_null(p2->next);
	check_invariants(m);
}

static const char nested[] =
	"Subject: outer\n"
	"Content-Type: multipart/mixed; boundary=outer\n"
	"\n"
	"--outer\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: Quoted-Printable\n"
	"Content-ID: <part1@x>\n"
	"Content-Description: first\n"
	"Content-Disposition: inline; filename=a.txt\n"
	"Content-Language: en, de (German)\n"
	"Content-Location: http://x.example/a\n"
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	"\n"
	"one=\n"
	"\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"From: a@b.example\n"
	"Content-Type: multipart/alternative; boundary=\"in\"\n"
	"\n"
	"--in\n"
	"\n"
	"plain\n"
	"--in\n"
	"Content-Type: text/html\n"
	"\n"
	"<b>html</b>\n"
	"--in--\n"
	"--outer\n"
	"Content-Type: multipart/digest; boundary=d\n"
	"\n"
	"--d\n"
	"\n"
	"Subject: digested\n"
	"\n"
	"x\n"
	"--d--\n"
	"--outer--\n";

static void test_nested(void **state)
{
	struct message *m = parse(nested);
	const struct message_part *r = m->root;
	check_invariants(m);
	assert_int_equal(m->n_parts, 9);
	assert_int_equal(r->n_children, 3);
	const struct message_part *p1 = r->children, *p2 = p1->next, *p3 = p2->next;
	assert_int_equal(p1->encoding, MESSAGE_ENC_QP);
	assert_string_equal(p1->encoding_name, "quoted-printable");
	assert_string_equal(p1->id, "<part1@x>");
	assert_string_equal(p1->description, "first");
	assert_string_equal(p1->disposition.type, "inline");
	assert_string_equal(message_param_get(&p1->disposition, "filename"), "a.txt");
	assert_int_equal(p1->n_languages, 2);
	assert_string_equal(p1->languages[0], "en");
	assert_string_equal(p1->languages[1], "de");
	assert_string_equal(p1->location, "http://x.example/a");
	assert_string_equal(p1->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
	assert_body(m, p1, "one=\n");
	/* message/rfc822: the embedded message is the only child */
	assert_true(p2->flags & MESSAGE_PART_MESSAGE);
	assert_true(message_part_has_lines(p2));
	assert_int_equal(p2->n_children, 1);
	const struct message_part *em = p2->children;
	assert_string_equal(message_subject(arena, &em->headers), "inner");
	assert_int_equal(em->n_children, 2);
	assert_body(m, em->children, "plain");
	assert_type(em->children->next, "text", "html");
	/* RFC 2046 §5.1.5: parts of a digest default to message/rfc822 */
	assert_type(p3->children, "message", "rfc822");
	assert_true(p3->children->flags & MESSAGE_PART_MESSAGE);
	assert_string_equal(message_subject(arena, &p3->children->children->headers), "digested");
	/* depth-first order */
	const struct message_part *order[] = { r, p1, p2, em, em->children, em->children->next, p3,
		p3->children, p3->children->children };
	const struct message_part *p = r;
	for (size_t i = 0; i < 9; i++, p = message_part_next(p))
		assert_ptr_equal(p, order[i]);
	assert_null(p);
}

static void test_sections(void **state)
{
	struct message *m = parse(nested);
	const struct message_part *r = m->root, *p2 = r->children->next, *em = p2->children;
	assert_ptr_equal(message_section_part(m, "", 0), r);
	assert_ptr_equal(message_section_part(m, "1", 1), r->children);
	assert_ptr_equal(message_section_part(m, "2", 1), p2);
	assert_ptr_equal(message_section_part(m, "2.1", 3), em->children);
	assert_ptr_equal(message_section_part(m, "2.2", 3), em->children->next);
	assert_ptr_equal(message_section_part(m, "3.1", 3), r->children->next->next->children);
	/* 3.1 is a message/rfc822 whose message is not multipart: 3.1.1 is its body */
	assert_ptr_equal(message_section_part(m, "3.1.1", 5), r->children->next->next->children->children);
	static const char *const bad[] = { "0", "4", "1.1", "2.3", "1.", ".1", "a", "01", "2..1",
		"99999999999999999999", "3.1.2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (message_section_part(m, bad[i], strlen(bad[i])) != NULL)
			fail_msg("section \"%s\" found", bad[i]);

	struct message_section sec;
	assert_int_equal(message_section(arena, m, "", 0, MESSAGE_SECTION_BODY, NULL, 0, &sec), 0);
	assert_int_equal(sec.size, m->size);
	assert_int_equal(message_section(arena, m, "", 0, MESSAGE_SECTION_HEADER, NULL, 0, &sec), 0);
	assert_int_equal(sec.offset, 0);
	assert_int_equal(sec.size, r->header_size);
	assert_int_equal(message_section(arena, m, "", 0, MESSAGE_SECTION_TEXT, NULL, 0, &sec), 0);
	assert_int_equal(sec.offset, r->body_offset);
	assert_int_equal(message_section(arena, m, "", 0, MESSAGE_SECTION_MIME, NULL, 0, &sec), -1);
	assert_int_equal(message_section(arena, m, "2", 1, MESSAGE_SECTION_MIME, NULL, 0, &sec), 0);
	assert_memory_equal(sec.data, "Content-Type: message/rfc822\n\n", sec.size);
	assert_int_equal(message_section(arena, m, "2", 1, MESSAGE_SECTION_HEADER, NULL, 0, &sec), 0);
	assert_int_equal(sec.offset, em->header_offset);
	assert_int_equal(message_section(arena, m, "2", 1, MESSAGE_SECTION_TEXT, NULL, 0, &sec), 0);
	assert_int_equal(sec.offset, em->body_offset);
	assert_int_equal(message_section(arena, m, "2", 1, MESSAGE_SECTION_BODY, NULL, 0, &sec), 0);
	assert_int_equal(sec.offset, em->header_offset);  /* the whole embedded message */
	assert_int_equal(message_section(arena, m, "1", 1, MESSAGE_SECTION_HEADER, NULL, 0, &sec), -1);
	assert_int_equal(message_section(arena, m, "9", 1, MESSAGE_SECTION_BODY, NULL, 0, &sec), -1);

	const char *names[] = { "FROM", "subject", "x-none" };
	assert_int_equal(message_section(arena, m, "2", 1, MESSAGE_SECTION_HEADER_FIELDS, names, 3,
		&sec), 0);
	assert_true(sec.built);
	assert_int_equal(sec.size, strlen("Subject: inner\r\nFrom: a@b.example\r\n\r\n"));
	assert_memory_equal(sec.data, "Subject: inner\r\nFrom: a@b.example\r\n\r\n", sec.size);
	assert_int_equal(message_section(arena, m, "", 0, MESSAGE_SECTION_HEADER_FIELDS_NOT, names, 3,
		&sec), 0);
	assert_memory_equal(sec.data,
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n", sec.size);
	assert_int_equal(message_section(arena, m, "", 0, MESSAGE_SECTION_HEADER_FIELDS, NULL, 0,
		&sec), 0);
	assert_int_equal(sec.size, 2);
}

/* A non-multipart message: "1" is its body (RFC 9051 §6.4.5). */
static void test_section_single(void **state)
{
	struct message *m = parse(a11);
	assert_ptr_equal(message_section_part(m, "1", 1), m->root);
	assert_null(message_section_part(m, "2", 1));
	assert_null(message_section_part(m, "1.1", 3));
}

static void test_boundary_rules(void **state)
{
	/* transport padding after the delimiter; LF only; no close delimiter */
	struct message *m = parse("Content-Type: multipart/mixed; boundary=b\n\n--b \t\n\na\n--b\n\nb");
	assert_int_equal(m->root->n_children, 2);
	assert_true(m->root->flags & MESSAGE_PART_NO_END_BOUNDARY);
	assert_body(m, m->root->children, "a");
	assert_body(m, m->root->children->next, "b");
	/* a boundary that only starts a line is no delimiter; case matters */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--bb\n--B\n--b--\n");
	assert_int_equal(m->root->n_children, 1);
	assert_body(m, m->root->children, "--bb\n--B");
	/* not at the start of a line */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx--b\n--b--");
	assert_body(m, m->root->children, "x--b");
	assert_false(m->root->flags & MESSAGE_PART_NO_END_BOUNDARY);
	/* no delimiter at all, and no boundary parameter */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\njust text\n");
	assert_int_equal(m->root->n_children, 0);
	m = parse("Content-Type: multipart/mixed\n\n--b\n\nx\n");
	assert_int_equal(m->root->n_children, 0);
	assert_false(m->root->flags & MESSAGE_PART_MULTIPART);
	/* an empty part between two delimiters, and a delimiter at the end */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nx\n--b");
	assert_int_equal(m->root->n_children, 3);
	assert_int_equal(m->root->children->body_size, 0);
	/* the longest boundary accepted, and one past it */
	char bound[MESSAGE_MAX_BOUNDARY + 2];
	memset(bound, 'x', sizeof(bound) - 1);
	bound[MESSAGE_MAX_BOUNDARY] = '\0';
	char *msg = arena_printf(arena, "Content-Type: multipart/mixed; boundary=%s\n\n--%s\n\na\n--%s--\n",
		bound, bound, bound);
	assert_int_equal(parse(msg)->root->n_children, 1);
	bound[MESSAGE_MAX_BOUNDARY] = 'x';
	bound[MESSAGE_MAX_BOUNDARY + 1] = '\0';
	msg = arena_printf(arena, "Content-Type: multipart/mixed; boundary=%s\n\n--%s\n\na\n--%s--\n",
		bound, bound, bound);
	assert_int_equal(parse(msg)->root->n_children, 0);
}

/* RFC 2046 §5.1.2: an outer delimiter ends an inner multipart that lacks
 * its close delimiter. */
static void test_outer_boundary_ends_inner(void **state)
{
	struct message *m = parse("Content-Type: multipart/mixed; boundary=o\n\n--o\n"
		"Content-Type: multipart/mixed; boundary=i\n\n--i\n\nin\n--o\n\nnext\n--o--\n");
	check_invariants(m);
	assert_int_equal(m->root->n_children, 2);
	const struct message_part *inner = m->root->children;
	assert_int_equal(inner->n_children, 1);
	assert_true(inner->flags & MESSAGE_PART_NO_END_BOUNDARY);
	assert_body(m, inner->children, "in");
	assert_body(m, inner->next, "next");
}

static void test_message_rfc822_encoded(void **state)
{
	/* RFC 2046 §5.2.1: only 7bit, 8bit, binary: base64 stays opaque */
	struct message *m = parse("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
		"U3ViamVjdDogeA0KDQp5\n");
	assert_int_equal(m->n_parts, 1);
	assert_false(m->root->flags & MESSAGE_PART_MESSAGE);
	m = parse("Content-Type: message/global\n\nSubject: x\n\ny");
	assert_int_equal(m->n_parts, 2);
	assert_body(m, m->root->children, "y");
}

static void test_odd_inputs(void **state)
{
	struct message *m = message_parse(arena, NULL, 0, NULL);
	assert_int_equal(m->n_parts, 1);
	assert_int_equal(m->root->body_size, 0);
	assert_true(m->root->flags & MESSAGE_PART_NO_BODY);
	m = parse("no header at all");
	assert_true(m->root->flags & MESSAGE_PART_BROKEN_HEADER);
	assert_int_equal(m->root->body_size, 0);
	const char bin[] = "Subject: a\0b\n\n\0\xff\n\0";
	m = message_parse(arena, bin, sizeof(bin) - 1, NULL);
	assert_int_equal(m->root->body_size, 4);
	assert_int_equal(m->root->body_lines, 1);
	m = parse("Content-Type: text/\n\nx");  /* no subtype: default */
	assert_type(m->root, "text", "plain");
	m = parse("Content-Type: image/png\nContent-Transfer-Encoding: x-uue\n\nx");
	assert_int_equal(m->root->encoding, MESSAGE_ENC_UNKNOWN);
	assert_string_equal(m->root->encoding_name, "x-uue");
	assert_false(message_part_has_lines(m->root));
}

/* Every prefix of a nested message parses within bounds. */
static void test_every_prefix(void **state)
{
	size_t n = strlen(nested);
	for (size_t i = 0; i <= n; i++) {
		struct arena *a = arena_new(4096, ARENA_PLAIN);
		char *copy = malloc(i + 1);
		memcpy(copy, nested, i);
		struct message *m = message_parse(a, copy, i, NULL);
		check_invariants(m);
		free(copy);
		arena_free(&a);
	}
}

/* A chain of `levels` message/rfc822 parts. */
static char *rfc822_chain(unsigned levels)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	for (unsigned i = 0; i < levels; i++)
		buf_append_str(&b, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&b, "Subject: bottom\r\n\r\nbody\r\n");
	char *s = arena_strdup(arena, b.data);
	buf_free(&b);
	return s;
}

static void test_depth_limit(void **state)
{
	struct message *m = parse(rfc822_chain(MESSAGE_MAX_DEPTH));
	assert_int_equal(m->n_parts, MESSAGE_MAX_DEPTH + 1);
	assert_false(m->limit_hit);
	const struct message_part *p = m->root;
	while (p->children != NULL)
		p = p->children;
	assert_int_equal(p->depth, MESSAGE_MAX_DEPTH);
	assert_string_equal(message_subject(arena, &p->headers), "bottom");

	m = parse(rfc822_chain(MESSAGE_MAX_DEPTH + 1));
	assert_int_equal(m->n_parts, MESSAGE_MAX_DEPTH + 1);
	assert_true(m->limit_hit);
	for (p = m->root; p->children != NULL; p = p->children)
		;
	assert_int_equal(p->depth, MESSAGE_MAX_DEPTH);
	assert_true(p->flags & MESSAGE_PART_LIMIT);
	check_invariants(m);
}

/* A multipart with `children` parts. */
static char *many_parts(unsigned children)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (unsigned i = 0; i < children; i++)
		buf_append_str(&b, "--b\r\n\r\nx\r\n");
	buf_append_str(&b, "--b--\r\n");
	char *s = arena_strdup(arena, b.data);
	buf_free(&b);
	return s;
}

static void test_parts_limit(void **state)
{
	struct message *m = parse(many_parts(MESSAGE_MAX_PARTS - 1));
	assert_int_equal(m->n_parts, MESSAGE_MAX_PARTS);
	assert_false(m->limit_hit);
	m = parse(many_parts(MESSAGE_MAX_PARTS));
	assert_int_equal(m->n_parts, MESSAGE_MAX_PARTS);
	assert_true(m->limit_hit);
	assert_true(m->root->flags & MESSAGE_PART_LIMIT);
	assert_int_equal(m->root->n_children, MESSAGE_MAX_PARTS - 1);
	check_invariants(m);
	/* smaller limits through struct message_limits */
	struct message_limits l = message_limits_default();
	l.max_parts = 3;
	m = message_parse(arena, nested, strlen(nested), &l);
	assert_int_equal(m->n_parts, 3);
	check_invariants(m);
}

static void test_header_bytes_limit(void **state)
{
	const char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
	struct message_limits l = message_limits_default();
	l.max_header_bytes = 43;  /* exactly the fields (the empty line is not counted) */
	struct message *m = message_parse(arena, msg, strlen(msg), &l);
	assert_int_equal(m->root->n_children, 1);
	assert_false(m->limit_hit);
	l.max_header_bytes = 42;
	m = message_parse(arena, msg, strlen(msg), &l);
	assert_int_equal(m->root->n_children, 0);
	assert_true(m->root->flags & MESSAGE_PART_HEADER_TRUNCATED);
	assert_true(m->root->flags & MESSAGE_PART_LIMIT);
	check_invariants(m);
}

static const char *bodystructure(const struct message_part *p, bool extended)
{
	struct buf b;
	buf_init(&b, 64 * 1024);
	assert_int_equal(message_imap_bodystructure(arena, p, extended, &b), 0);
	const char *s = arena_strdup(arena, b.data);
	buf_free(&b);
	return s;
}

/* RFC 9051 §7.5.2 syntax of ENVELOPE, BODY and BODYSTRUCTURE. */
static void test_imap_strings(void **state)
{
	struct message *m = parse(a11);
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(message_imap_envelope(arena, m->root, &b), 0);
	assert_string_equal(b.data, "(\"Fri, 21 Nov 1997 09:55:06 -0600\" \"Saying Hello\" "
		"((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
		"((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
		"((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
		"((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
		"\"<1234@local.machine.example>\")");
	buf_free(&b);
	assert_string_equal(bodystructure(m->root, true),
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 52 2 NIL NIL NIL NIL)");
	m = parse(rfc2046);
	assert_string_equal(bodystructure(m->root, false),
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 80 1)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 78 2) \"mixed\")");
	m = parse("To: G:a@b.c;, \"x\\\"y\" <j\xc3\xb6@d>, name only\r\n"
		"Content-Type: message/rfc822\r\nContent-Language: en\r\n\r\nSubject: s\r\n\r\nb\r\n");
	buf_init(&b, 4096);
	assert_int_equal(message_imap_envelope(arena, m->root, &b), 0);
	assert_non_null(strstr(b.data, "((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL NIL NIL)"
		"(\"x\\\"y\" NIL {3}\r\nj\xc3\xb6 \"d\")(\"name only\" NIL \"MISSING_MAILBOX\" "
		"\"MISSING_DOMAIN\"))"));
	buf_free(&b);
	/* a bare word is a local part without domain, words are a name
	 * without address, a group of only a comment is empty (Dovecot's
	 * forms); UTF-8 is quoted only when the client enabled it */
	{
		struct message *bare = parse("From: root\r\nTo: name only\r\nCc: group:;, group2: (foo) ;\r\n"
			"Subject: caf\xc3\xa9\r\n\r\n");
		buf_init(&b, 4096);
		assert_int_equal(message_imap_envelope(arena, bare->root, &b), 0);
		assert_string_equal(b.data, "(NIL {5}\r\ncaf\xc3\xa9 ((NIL NIL \"root\" \"MISSING_DOMAIN\")) "
			"((NIL NIL \"root\" \"MISSING_DOMAIN\")) ((NIL NIL \"root\" \"MISSING_DOMAIN\")) "
			"((\"name only\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) "
			"((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) "
			"NIL NIL NIL)");
		buf_reset(&b);
		assert_int_equal(message_imap_envelope_as(arena, bare->root, MESSAGE_IMAP_UTF8, &b), 0);
		assert_non_null(strstr(b.data, "(NIL \"caf\xc3\xa9\" ((NIL NIL \"root\""));
		buf_free(&b);
	}
	assert_string_equal(bodystructure(m->root, true),
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 "
		"(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL) "
		"3 NIL NIL (\"en\") NIL)");
	/* a multipart without parts, and an unparsed message/rfc822 */
	m = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\nno parts\r\n");
	assert_string_equal(bodystructure(m->root, false),
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")");
	m = parse("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3U=\r\n");
	assert_string_equal(bodystructure(m->root, false),
		"(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 6 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 1)");
	/* the output maximum */
	buf_init(&b, 10);
	assert_int_equal(message_imap_bodystructure(arena, m->root, true, &b), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rfc5322_a11, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rfc2046_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_section_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boundary_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outer_boundary_ends_inner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_rfc822_encoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parts_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_bytes_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_strings, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
