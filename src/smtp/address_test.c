/*
 * address_test.c: RFC 5321 §4.1.2 mailboxes and paths (address.c), and the
 * isemail test set (../shared/external-tests/email-address-isemail/tests.xml,
 * via $TERN_EXTERNAL_TESTS).
 *
 * isemail categories mapped to "valid as an SMTP Mailbox":
 *   ISEMAIL_VALID_CATEGORY, ISEMAIL_DNSWARN (DNS only), ISEMAIL_RFC5321
 *       (valid for RFC 5321, unusual: quoted strings, literals, numeric TLD)
 *       -> valid;
 *   ISEMAIL_CFWS, ISEMAIL_DEPREC, ISEMAIL_RFC5322 (RFC 5322 only: comments,
 *       folding, obsolete forms, over-long parts), ISEMAIL_ERR -> invalid.
 * Every address where tern's answer differs must be listed in
 * known_disagreements[] with the reason; any other difference fails.
 */
#include "smtp/smtp.h"

#include "core/arena.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/test_external.h"

static struct arena *A;

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

static int parse(const char *s, unsigned flags, struct smtp_address *r, struct error *e)
{
	return smtp_address_parse(s, strlen(s), flags, A, r, e);
}

static void ok(const char *s, unsigned flags)
{
	struct smtp_address r;
	struct error e;
	if (parse(s, flags, &r, &e) < 0)
		fail_msg("%s: %s", s, e.msg);
}

static void bad(const char *s, unsigned flags, enum error_kind kind)
{
	struct smtp_address r;
	struct error e;
	if (parse(s, flags, &r, &e) == 0)
		fail_msg("%s: accepted", s);
	assert_int_equal(e.kind, kind);
}

static void test_mailbox(void **state)
{
	struct smtp_address r;
	struct error e;
	assert_int_equal(parse("Joe.Smith@example.com", 0, &r, &e), 0);
	assert_string_equal(r.local, "Joe.Smith");
	assert_string_equal(r.domain, "example.com");
	assert_false(r.literal);
	assert_int_equal(parse("\"a b\\\"c\"@example.com", 0, &r, &e), 0);
	assert_string_equal(r.local, "a b\"c");
	assert_int_equal(r.local_len, 5);
	assert_string_equal(r.local_raw, "\"a b\\\"c\"");
	assert_true(r.quoted);
	assert_int_equal(parse("x@[192.0.2.1]", 0, &r, &e), 0);
	assert_true(r.literal);
	assert_string_equal(r.domain, "[192.0.2.1]");
	ok("x@[IPv6:2001:db8::1]", 0);
	ok("x@[IPv6:::]", 0);
	ok("x@[IPv6:1:2:3:4:5:6:7:8]", 0);
	ok("x@[IPv6:1:2:3:4::192.0.2.1]", 0);
	bad("x@[IPv6:1:2:3:4:5:6::8]", 0, ERR_INVALID);   /* "::" for one group, §4.1.3 */
	bad("x@[1:2::3]", 0, ERR_INVALID);
	bad("x@[300.1.1.1]", 0, ERR_INVALID);
	bad("x@[tag:general]", 0, ERR_INVALID);
	bad("x@[192.0.2.1", 0, ERR_INVALID);
	bad("x@example.com.", 0, ERR_INVALID);
	bad("x@-example.com", 0, ERR_INVALID);
	bad("x@example-.com", 0, ERR_INVALID);
	bad("x..y@example.com", 0, ERR_INVALID);
	bad(".x@example.com", 0, ERR_INVALID);
	bad("x@", 0, ERR_INVALID);
	bad("@example.com", 0, ERR_INVALID);
	bad("x", 0, ERR_INVALID);
	bad("x@example.com ", 0, ERR_INVALID);
	bad("\"x\ty\"@example.com", 0, ERR_INVALID);
	assert_int_equal(parse("a b@c", 0, &r, &e), -1);
	assert_string_equal(e.msg, "at offset 1: expected \"@\" after the local part");
}

static void test_utf8(void **state)
{
	bad("j\xc3\xb6rg@example.com", 0, ERR_INVALID);
	ok("j\xc3\xb6rg@example.com", SMTP_UTF8);
	ok("x@b\xc3\xbc\x63her.example", SMTP_UTF8);
	ok("\"\xe2\x82\xac\"@example.com", SMTP_UTF8);
	bad("j\xc3@example.com", SMTP_UTF8, ERR_INVALID);        /* truncated */
	bad("j\xc0\xaf@example.com", SMTP_UTF8, ERR_INVALID);    /* overlong */
	bad("j\xed\xa0\x80@example.com", SMTP_UTF8, ERR_INVALID);/* surrogate */
}

static char *repeat(char c, size_t n)
{
	char *s = arena_alloc(A, n + 1);
	memset(s, c, n);
	return s;
}

static void test_limits(void **state)
{
	ok(arena_printf(A, "%s@x.example", repeat('a', SMTP_LOCAL_PART_MAX)), 0);
	bad(arena_printf(A, "%s@x.example", repeat('a', SMTP_LOCAL_PART_MAX + 1)), 0, ERR_LIMIT);
	ok(arena_printf(A, "%s@x.example", repeat('a', SMTP_LOCAL_PART_MAX + 1)), SMTP_LIBERAL);
	ok(arena_printf(A, "%s@x.example", repeat('a', SMTP_LOCAL_PART_LIBERAL_MAX)), SMTP_LIBERAL);
	bad(arena_printf(A, "%s@x.example", repeat('a', SMTP_LOCAL_PART_LIBERAL_MAX + 1)), SMTP_LIBERAL, ERR_LIMIT);
	ok(arena_printf(A, "x@%s.example", repeat('a', SMTP_LABEL_MAX)), 0);
	bad(arena_printf(A, "x@%s.example", repeat('a', SMTP_LABEL_MAX + 1)), 0, ERR_LIMIT);
	/* 4 labels of 63 plus 3 dots = 255 */
	char *l = repeat('a', 63);
	char *d255 = arena_printf(A, "%s.%s.%s.%s", l, l, l, l);
	assert_int_equal(strlen(d255), SMTP_DOMAIN_MAX);
	struct error e;
	assert_int_equal(smtp_domain_check(d255, strlen(d255), 0, &e), 0);
	char *d257 = arena_printf(A, "%s.b", d255);
	assert_int_equal(smtp_domain_check(d257, strlen(d257), 0, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	/* a 255-octet domain never fits in a mailbox (SMTP_MAILBOX_MAX) */
	bad(arena_printf(A, "x@%s", d255), 0, ERR_LIMIT);
	/* the whole mailbox: SMTP_MAILBOX_MAX (254) ok, 255 not */
	char *d189 = arena_printf(A, "%s.%s.%s", l, l, repeat('e', 61));
	ok(arena_printf(A, "%s@%s", repeat('b', 64), d189), 0);
	bad(arena_printf(A, "%s@%sx", repeat('b', 64), d189), 0, ERR_LIMIT);
}

static int path(const char *s, struct smtp_path *p, struct error *e)
{
	const char *c = s;
	int r = smtp_path_parse(&c, s + strlen(s), 0, A, p, e);
	if (r == 0 && *c != '\0')
		fail_msg("%s: stopped before the end", s);
	return r;
}

static void test_path(void **state)
{
	struct smtp_path p;
	struct error e;
	assert_int_equal(path("<>", &p, &e), 0);
	assert_true(p.null);
	assert_int_equal(path("<a@b.example>", &p, &e), 0);
	assert_false(p.null);
	assert_string_equal(p.addr.domain, "b.example");
	/* RFC 5321 §4.1.2 / Appendix C: the source route is dropped. */
	assert_int_equal(path("<@hosta.int,@jkl.org:userc@d.bar.org>", &p, &e), 0);
	assert_string_equal(p.addr.local, "userc");
	assert_string_equal(p.addr.domain, "d.bar.org");
	assert_int_equal(path("<@a:b@c>", &p, &e), 0);
	assert_int_equal(path("<@a,b@c>", &p, &e), -1);
	assert_int_equal(path("<@a;b@c>", &p, &e), -1);
	assert_int_equal(path("a@b", &p, &e), -1);
	assert_int_equal(path("<a@b", &p, &e), -1);
	assert_int_equal(path("<a@b >", &p, &e), -1);
	assert_int_equal(path("<", &p, &e), -1);
	assert_int_equal(path("", &p, &e), -1);
	/* §4.5.3.1.3: path of 256 with brackets ok, 257 not; a long route counts. */
	char *l = repeat('a', 63);
	char *route = arena_printf(A, "@%s.%s,@%s.%s", l, l, l, l);  /* 257 */
	assert_int_equal(path(arena_printf(A, "<%s:x@y>", route), &p, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	char *p256 = arena_printf(A, "<%s@%s.%s.%s>", repeat('b', 64), l, l, repeat('d', 61));
	assert_int_equal(strlen(p256), SMTP_PATH_MAX);
	assert_int_equal(path(p256, &p, &e), 0);
	char *p257 = arena_printf(A, "<%s@%s.%s.%s>", repeat('b', 64), l, l, repeat('d', 62));
	assert_int_equal(path(p257, &p, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
}

/*
 * isemail.
 */

struct known { int id; const char *why; };

/*
 * Addresses where tern and the isemail category disagree, and why tern is
 * right for an SMTP Mailbox (RFC 5321 §4.1.2). Today there are none: of the
 * 164 tests, 164 agree. The cases that agree only because of a deliberate
 * rule, for whoever changes one:
 *
 *   id   isemail                          tern    rule that makes it agree
 *   ---  -------------------------------  ------  ----------------------------------
 *   23   RFC5321_TLDNUMERIC (valid)       valid   LDH syntax only, "iana.123" is a Domain
 *   24   RFC5321_TLDNUMERIC (valid)       valid   "255.255.255.255" is LDH labels, not a literal
 *   166  RFC5321_TLD (valid)              valid   a one-label Domain is syntax-valid
 *   39   RFC5322_TOOLONG (invalid)        ERR_LIMIT  mailbox > SMTP_MAILBOX_MAX (254)
 *   40   RFC5322_TOOLONG (invalid)        ERR_LIMIT  mailbox > SMTP_MAILBOX_MAX (254)
 *   71   RFC5321_IPV6DEPRECATED (invalid) invalid "::" for one group: IPv6-comp allows at
 *                                                 most 6 explicit groups (§4.1.3)
 *   59,60 RFC5322_LOCAL_TOOLONG (invalid) ERR_LIMIT  quoted local part > 64 as written
 *
 * Add a row { id, "why" } here when a disagreement is deliberate.
 */
static const struct known known_disagreements[] = {
	{ 0, NULL },
};

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	o[0] = (char)(0xE0 | (cp >> 12));
	o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[2] = (char)(0x80 | (cp & 0x3F));
	return 3;
}

/* XML text to bytes: &amp; &lt; &gt; &quot; &apos; &#xN;. The test set
 * writes control character N as U+2400+N (see its header notes). */
static size_t xml_decode(const char *p, size_t n, char *o)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
	};
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool done = false;
		for (size_t j = 0; j < 5 && !done; j++) {
			size_t l = strlen(ents[j].ent);
			if (i + l <= n && memcmp(p + i, ents[j].ent, l) == 0) {
				o[k++] = ents[j].c;
				i += l - 1;
				done = true;
			}
		}
		if (!done && i + 3 < n && memcmp(p + i, "&#x", 3) == 0) {
			char *end;
			unsigned long cp = strtoul(p + i + 3, &end, 16);
			if (cp >= 0x2400 && cp < 0x2420)
				cp -= 0x2400;
			k += put_utf8(o + k, cp);
			i = (size_t)(end - p);  /* at ';' */
			done = true;
		}
		if (!done)
			o[k++] = p[i];
	}
	return k;
}

static const char *between(const char *p, const char *end, const char *open, const char *close, size_t *len_r)
{
	const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
	if (a == NULL)
		return NULL;
	a += strlen(open);
	const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (b == NULL)
		return NULL;
	*len_r = (size_t)(b - a);
	return a;
}

static bool category_valid(const char *c, size_t n)
{
	static const char *const valid[] = { "ISEMAIL_VALID_CATEGORY", "ISEMAIL_DNSWARN", "ISEMAIL_RFC5321" };
	for (size_t i = 0; i < 3; i++)
		if (strlen(valid[i]) == n && memcmp(valid[i], c, n) == 0)
			return true;
	return false;
}

static const char *known_why(int id)
{
	for (size_t i = 0; known_disagreements[i].why != NULL; i++)
		if (known_disagreements[i].id == id)
			return known_disagreements[i].why;
	return NULL;
}

static void test_isemail(void **state)
{
	char *path = arena_printf(A, "%s/email-address-isemail/tests.xml", test_external_dir());
	size_t len;
	char *xml = test_read_file(path, &len);
	const char *p = xml, *end = xml + len;
	int total = 0, agree = 0, explained = 0, unexplained = 0;
	for (;;) {
		const char *t = memmem(p, (size_t)(end - p), "<test id=\"", 10);
		if (t == NULL)
			break;
		const char *tend = memmem(t, (size_t)(end - t), "</test>", 7);
		assert_non_null(tend);
		int id = atoi(t + 10);
		size_t alen = 0, clen = 0;
		const char *addr = between(t, tend, "<address>", "</address>", &alen);
		const char *cat = between(t, tend, "<category>", "</category>", &clen);
		assert_non_null(cat);
		char *bytes = arena_alloc(A, alen + 1);
		size_t blen = addr != NULL ? xml_decode(addr, alen, bytes) : 0;
		struct smtp_address r;
		struct error e;
		bool want = category_valid(cat, clen);
		bool got = smtp_address_parse(bytes, blen, 0, A, &r, &e) == 0;
		total++;
		if (want == got) {
			agree++;
		} else if (known_why(id) != NULL) {
			explained++;
		} else {
			unexplained++;
			print_message("# isemail %d %.*s: expected %s, tern says %s (%s)\n", id, (int)clen, cat,
				want ? "valid" : "invalid", got ? "valid" : "invalid", got ? "" : e.msg);
		}
		p = tend;
	}
	free(xml);
	print_message("# isemail: %d tests, %d agree, %d explained disagreements, %d unexplained\n",
		total, agree, explained, unexplained);
	assert_true(total > 150);
	assert_int_equal(unexplained, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mailbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isemail, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
