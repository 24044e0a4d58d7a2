/* recipient_test.c: resolving RCPT TO addresses against domains.conf. */
#include "smtpserver/recipient.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/error.h"
#include "smtp/smtp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Account order matters: "first" is the first account of the file; "bob"
 * is the first account whose Domain is example.test; "alice" holds most
 * addresses, so exact matches must search past the first accounts. */
static const char conf[] =
	"Domains:\n"
	"  example.test:\n"
	"    LocalpartCatchallSeparator: \"+\"\n"
	"  cs.test:\n"
	"    LocalpartCaseSensitive: true\n"
	"  catch.test:\n"
	"    LocalpartCatchallSeparator: \"+\"\n"
	"  multi.test:\n"
	"    LocalpartCatchallSeparator: \"+-\"\n"
	"  plain.test: {}\n"
	"  xn--bcher-kva.example: {}\n"
	"Accounts:\n"
	"  first:\n"
	"    Domain: plain.test\n"
	"    Destinations:\n"
	"      someone@plain.test: {}\n"
	"  bob:\n"
	"    Domain: example.test\n"
	"    Destinations:\n"
	"      bob@example.test: {}\n"
	"      a+b@example.test: {}\n"
	"      bob@catch.test: {}\n"
	"  alice:\n"
	"    Domain: example.test\n"
	"    Destinations:\n"
	"      alice@example.test: {}\n"
	"      a@example.test: {}\n"
	"      j\xc3\xb6s\xc3\xa9@example.test: {}\n"
	"      Carol@cs.test: {}\n"
	"      a@multi.test: {}\n"
	"      a@plain.test: {}\n"
	"  catcher:\n"
	"    Domain: catch.test\n"
	"    Destinations:\n"
	"      \"@catch.test\": {}\n"
	"  boss:\n"
	"    Domain: example.test\n"
	"    Destinations:\n"
	"      postmaster@example.test: {}\n"
	"  cs:\n"
	"    Domain: cs.test\n"
	"    Destinations:\n"
	"      dave@cs.test: {}\n"
	"  books:\n"
	"    Domain: xn--bcher-kva.example\n"
	"    Destinations:\n"
	"      info@xn--bcher-kva.example: {}\n";

struct fixture {
	struct config *cfg;
	struct arena *a;
	struct smtp_rcpt_target t;
	struct error err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	if (config_parse_dynamic_mem("domains.conf", conf, strlen(conf), &f->cfg, &f->err) != 0) {
		print_error("%s\n", f->err.msg);
		free(f);
		return -1;
	}
	f->a = arena_new(4096, ARENA_PLAIN);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	config_release(&f->cfg);
	arena_free(&f->a);
	free(f);
	return 0;
}

static void check_str(const char *text, const char *what, const char *got, const char *want)
{
	if ((got == NULL) != (want == NULL) || (got != NULL && strcmp(got, want) != 0))
		fail_msg("%s: %s is %s, want %s", text, what, got != NULL ? got : "NULL",
		         want != NULL ? want : "NULL");
}

/* Checks the result in f->t for the address text. */
static void check_target(const struct fixture *f, const char *text, enum smtp_rcpt_kind kind,
                         const char *account, const char *dest, const char *address)
{
	const struct smtp_rcpt_target *t = &f->t;
	if (t->kind != kind)
		fail_msg("%s: kind %d, want %d", text, (int)t->kind, (int)kind);
	check_str(text, "account", t->account != NULL ? t->account->name : NULL, account);
	check_str(text, "destination", t->dest != NULL ? t->dest->address : NULL, dest);
	check_str(text, "address", t->address, address);
}

/* Resolves text, a Mailbox as RCPT TO gives it (with SMTPUTF8), and checks
 * the result. */
static void expect(struct fixture *f, const char *text, enum smtp_rcpt_kind kind,
                   const char *account, const char *dest, const char *address)
{
	struct smtp_address addr;
	if (smtp_address_parse(text, strlen(text), SMTP_UTF8, f->a, &addr, &f->err) != 0)
		fail_msg("%s: %s", text, f->err.msg);
	if (smtp_rcpt_resolve(f->cfg, &addr, f->a, &f->t, &f->err) != 0)
		fail_msg("%s: %s", text, f->err.msg);
	check_target(f, text, kind, account, dest, address);
}

#define LOCAL SMTP_RCPT_LOCAL
#define UNKNOWN SMTP_RCPT_UNKNOWN
#define FOREIGN SMTP_RCPT_FOREIGN

static void test_exact(void **state)
{
	struct fixture *f = *state;
	expect(f, "alice@example.test", LOCAL, "alice", "alice@example.test", "alice@example.test");
	expect(f, "bob@example.test", LOCAL, "bob", "bob@example.test", "bob@example.test");
	assert_string_equal(f->t.domain, "example.test");
	/* A quoted local part that needs no quotes is the same address. */
	expect(f, "\"alice\"@example.test", LOCAL, "alice", "alice@example.test",
	       "alice@example.test");
	expect(f, "\"a b\"@example.test", UNKNOWN, NULL, NULL, "\"a b\"@example.test");
}

static void test_case_insensitive(void **state)
{
	struct fixture *f = *state;
	expect(f, "ALICE@EXAMPLE.TEST", LOCAL, "alice", "alice@example.test", "alice@example.test");
	assert_string_equal(f->t.domain, "example.test");
	expect(f, "cArol@example.test", UNKNOWN, NULL, NULL, "carol@example.test");
}

static void test_case_sensitive(void **state)
{
	struct fixture *f = *state;
	expect(f, "Carol@cs.test", LOCAL, "alice", "Carol@cs.test", "Carol@cs.test");
	expect(f, "Carol@CS.Test", LOCAL, "alice", "Carol@cs.test", "Carol@cs.test");
	expect(f, "carol@cs.test", UNKNOWN, NULL, NULL, "carol@cs.test");
	expect(f, "CAROL@cs.test", UNKNOWN, NULL, NULL, "CAROL@cs.test");
}

static void test_separator(void **state)
{
	struct fixture *f = *state;
	expect(f, "a+tag@example.test", LOCAL, "alice", "a@example.test", "a+tag@example.test");
	expect(f, "A+Tag@example.test", LOCAL, "alice", "a@example.test", "a+tag@example.test");
	expect(f, "a+@example.test", LOCAL, "alice", "a@example.test", "a+@example.test");
	/* Exact first; otherwise cut at the first separator, not the last. */
	expect(f, "a+b@example.test", LOCAL, "bob", "a+b@example.test", "a+b@example.test");
	expect(f, "a+b+c@example.test", LOCAL, "alice", "a@example.test", "a+b+c@example.test");
	/* Nothing before the separator, another character, no separator configured. */
	expect(f, "+a@example.test", UNKNOWN, NULL, NULL, "+a@example.test");
	expect(f, "a-tag@example.test", UNKNOWN, NULL, NULL, "a-tag@example.test");
	expect(f, "a+tag@plain.test", UNKNOWN, NULL, NULL, "a+tag@plain.test");
}

/* A separator of several characters is one string, not a set. */
static void test_separator_string(void **state)
{
	struct fixture *f = *state;
	expect(f, "a+-x@multi.test", LOCAL, "alice", "a@multi.test", "a+-x@multi.test");
	expect(f, "a+x@multi.test", UNKNOWN, NULL, NULL, "a+x@multi.test");
	expect(f, "a-x@multi.test", UNKNOWN, NULL, NULL, "a-x@multi.test");
}

static void test_catchall(void **state)
{
	struct fixture *f = *state;
	expect(f, "anyone@catch.test", LOCAL, "catcher", "@catch.test", "anyone@catch.test");
	/* The catch-all of catch.test is not one of example.test. */
	expect(f, "anyone@example.test", UNKNOWN, NULL, NULL, "anyone@example.test");
}

/* Exact address and separator cut come before the catch-all, and the
 * catch-all before the postmaster rule. */
static void test_catchall_precedence(void **state)
{
	struct fixture *f = *state;
	expect(f, "BOB@catch.test", LOCAL, "bob", "bob@catch.test", "bob@catch.test");
	expect(f, "bob+x@catch.test", LOCAL, "bob", "bob@catch.test", "bob+x@catch.test");
	expect(f, "postmaster@catch.test", LOCAL, "catcher", "@catch.test",
	       "postmaster@catch.test");
}

static void test_postmaster(void **state)
{
	struct fixture *f = *state;
	/* A configured destination wins over the rule ("bob" is the first
	 * account of example.test). */
	expect(f, "PostMaster@example.test", LOCAL, "boss", "postmaster@example.test",
	       "postmaster@example.test");
	/* The first account of the domain, any case even where local parts
	 * are case-sensitive ("first" is the first account of the file). */
	expect(f, "POSTMASTER@cs.test", LOCAL, "cs", NULL, "POSTMASTER@cs.test");
	/* No account has Domain multi.test: the first account of the file. */
	expect(f, "postmaster@multi.test", LOCAL, "first", NULL, "postmaster@multi.test");
	expect(f, "postmaster+x@multi.test", UNKNOWN, NULL, NULL, "postmaster+x@multi.test");
}

/* RCPT TO:<Postmaster>, as smtp/command.c gives it. */
static void expect_bare_postmaster(struct fixture *f, const char *hostname, const char *account,
                                   const char *dest, const char *address)
{
	struct smtp_address addr = {
		.local = "Postmaster", .local_len = 10, .local_raw = "Postmaster", .domain = "",
	};
	f->cfg->st.hostname = hostname;
	if (smtp_rcpt_resolve(f->cfg, &addr, f->a, &f->t, &f->err) != 0)
		fail_msg("<Postmaster> with %s: %s", hostname != NULL ? hostname : "no hostname", f->err.msg);
	check_target(f, "<Postmaster>", LOCAL, account, dest, address);
}

static void test_bare_postmaster(void **state)
{
	struct fixture *f = *state;
	expect_bare_postmaster(f, "cs.test", "cs", NULL, "Postmaster@cs.test");
	expect_bare_postmaster(f, "mx.in.cs.test", "cs", NULL, "Postmaster@cs.test");
	assert_string_equal(f->t.domain, "cs.test");
	/* Not ours: the first configured domain, example.test. */
	expect_bare_postmaster(f, "mx.elsewhere.test", "boss", "postmaster@example.test",
	                       "postmaster@example.test");
	expect_bare_postmaster(f, NULL, "boss", "postmaster@example.test",
	                       "postmaster@example.test");
	f->cfg->st.hostname = NULL;
}

static void test_idna(void **state)
{
	struct fixture *f = *state;
	expect(f, "info@b\xc3\xbc" "cher.example", LOCAL, "books", "info@xn--bcher-kva.example",
	       "info@xn--bcher-kva.example");
	assert_string_equal(f->t.domain, "xn--bcher-kva.example");
	expect(f, "Info@B\xc3\x9c" "CHER.EXAMPLE", LOCAL, "books", "info@xn--bcher-kva.example",
	       "info@xn--bcher-kva.example");
	expect(f, "info@XN--BCHER-KVA.example", LOCAL, "books", "info@xn--bcher-kva.example",
	       "info@xn--bcher-kva.example");
}

static void test_idna_invalid(void **state)
{
	struct fixture *f = *state;
	/* U+2603 SNOWMAN is DISALLOWED in IDNA 2008 (RFC 5892). */
	const char *text = "info@\xe2\x98\x83.example";
	struct smtp_address addr;
	if (smtp_address_parse(text, strlen(text), SMTP_UTF8, f->a, &addr, &f->err) != 0)
		fail_msg("%s: %s", text, f->err.msg);
	assert_int_equal(smtp_rcpt_resolve(f->cfg, &addr, f->a, &f->t, &f->err), -1);
	assert_int_equal(f->err.kind, ERR_INVALID);
	if (strstr(f->err.msg, "\xe2\x98\x83.example") == NULL ||
	    strstr(f->err.msg, "A-labels") == NULL)
		fail_msg("%s", f->err.msg);
}

static void test_utf8_localpart(void **state)
{
	struct fixture *f = *state;
	const char *dest = "j\xc3\xb6s\xc3\xa9@example.test";
	expect(f, "j\xc3\xb6s\xc3\xa9@example.test", LOCAL, "alice", dest, dest);
	/* ASCII letters fold; the UTF-8 bytes compare exactly (a limitation). */
	expect(f, "J\xc3\xb6s\xc3\xa9@example.test", LOCAL, "alice", dest, dest);
	expect(f, "j\xc3\x96s\xc3\xa9@example.test", UNKNOWN, NULL, NULL,
	       "j\xc3\x96s\xc3\xa9@example.test");
}

static void test_literal(void **state)
{
	struct fixture *f = *state;
	expect(f, "alice@[192.0.2.1]", FOREIGN, NULL, NULL, "alice@[192.0.2.1]");
	assert_string_equal(f->t.domain, "[192.0.2.1]");
	/* Configuration cannot name a literal, so pretend one domain's name
	 * were the literal: it must still not be taken as ours. */
	const char *saved = f->cfg->dyn.domains[4].name;
	assert_string_equal(saved, "plain.test");
	f->cfg->dyn.domains[4].name = "[192.0.2.1]";
	expect(f, "alice@[192.0.2.1]", FOREIGN, NULL, NULL, "alice@[192.0.2.1]");
	f->cfg->dyn.domains[4].name = saved;
}

static void test_foreign(void **state)
{
	struct fixture *f = *state;
	/* Not folded: the local part belongs to the other domain. */
	expect(f, "Alice@Elsewhere.TEST", FOREIGN, NULL, NULL, "Alice@elsewhere.test");
	assert_string_equal(f->t.domain, "elsewhere.test");
	/* Neither subdomains nor parents of our domains are ours. */
	expect(f, "alice@sub.example.test", FOREIGN, NULL, NULL, "alice@sub.example.test");
	expect(f, "alice@test", FOREIGN, NULL, NULL, "alice@test");
}

static void test_unknown(void **state)
{
	struct fixture *f = *state;
	expect(f, "NoBody@example.test", UNKNOWN, NULL, NULL, "nobody@example.test");
	assert_string_equal(f->t.domain, "example.test");
	expect(f, "someone@example.test", UNKNOWN, NULL, NULL, "someone@example.test");
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_exact),
		TEST(test_case_insensitive),
		TEST(test_case_sensitive),
		TEST(test_separator),
		TEST(test_separator_string),
		TEST(test_catchall),
		TEST(test_catchall_precedence),
		TEST(test_postmaster),
		TEST(test_bare_postmaster),
		TEST(test_idna),
		TEST(test_idna_invalid),
		TEST(test_utf8_localpart),
		TEST(test_literal),
		TEST(test_foreign),
		TEST(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
