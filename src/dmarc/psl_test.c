/*
 * psl_test.c: the Public Suffix List lookup, against the list's own test
 * suite (tests/test_psl.txt in checkPublicSuffix() form and tests/tests.txt
 * in "input expected" form) run on the snapshot of the list they were
 * written for, both in $TERN_EXTERNAL_TESTS/dmarc-psl; plus a small list of
 * our own for the sections, exceptions and the RFC 7489 §3.2 Organizational
 * Domain.
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/test_external.h"

static struct dmarc_psl *snapshot(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/dmarc-psl/public_suffix_list.dat", test_external_dir());
	struct dmarc_psl *psl;
	struct error err;
	if (dmarc_psl_load(path, &psl, &err) < 0)
		fail_msg("%s", err.msg);
	return psl;
}

/* One case: input (NULL for null) and expected (NULL for null). */
static int check_case(const struct dmarc_psl *psl, const char *in, const char *want, int line,
                      const char *file)
{
	struct arena *a = arena_new(1024, ARENA_PLAIN);
	const char *got = in != NULL ? dmarc_psl_registrable(psl, in, DMARC_PSL_ALL, a) : NULL;
	int bad = 0;
	if ((got == NULL) != (want == NULL) || (got != NULL && strcmp(got, want) != 0)) {
		print_error("%s:%d: %s: got %s, want %s\n", file, line, in ? in : "null",
		            got ? got : "null", want ? want : "null");
		bad = 1;
	}
	arena_free(&a);
	return bad;
}

/* checkPublicSuffix('in', 'out'); or null for either. */
static char *js_arg(char **p)
{
	char *s = *p;
	while (*s == ' ' || *s == ',' || *s == '(')
		s++;
	if (strncmp(s, "null", 4) == 0) {
		*p = s + 4;
		return NULL;
	}
	if (*s != '\'')
		fail_msg("bad test line near %s", s);
	char *e = strchr(s + 1, '\'');
	if (e == NULL)
		fail_msg("bad test line near %s", s);
	*e = '\0';
	*p = e + 1;
	return s + 1;
}

static void test_checkpublicsuffix_js(void **state)
{
	struct dmarc_psl *psl = snapshot();
	char path[4096];
	snprintf(path, sizeof(path), "%s/dmarc-psl/tests/test_psl.txt", test_external_dir());
	size_t len;
	char *text = test_read_file(path, &len);
	int ncases = 0, nbad = 0, line = 0;
	for (char *s = text, *nl; s != NULL && *s != '\0'; s = nl) {
		nl = strchr(s, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		line++;
		if (strncmp(s, "checkPublicSuffix(", 18) != 0)
			continue;   /* comments, including the commented-out cases */
		char *p = s + 17;
		char *in = js_arg(&p);
		char *want = js_arg(&p);
		ncases++;
		nbad += check_case(psl, in, want, line, "test_psl.txt");
	}
	print_message("test_psl.txt: %d cases, %d failed\n", ncases, nbad);
	assert_true(ncases >= 70);
	assert_int_equal(nbad, 0);
	free(text);
	dmarc_psl_free(&psl);
}

static void test_tests_txt(void **state)
{
	struct dmarc_psl *psl = snapshot();
	char path[4096];
	snprintf(path, sizeof(path), "%s/dmarc-psl/tests/tests.txt", test_external_dir());
	size_t len;
	char *text = test_read_file(path, &len);
	int ncases = 0, nbad = 0, line = 0;
	for (char *s = text, *nl; s != NULL && *s != '\0'; s = nl) {
		nl = strchr(s, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		line++;
		if (s[0] == '\0' || strncmp(s, "//", 2) == 0)
			continue;
		char *sp = strchr(s, ' ');
		if (sp == NULL)
			fail_msg("tests.txt:%d: no expected value", line);
		*sp = '\0';
		const char *in = strcmp(s, "null") == 0 ? NULL : s;
		const char *want = strcmp(sp + 1, "null") == 0 ? NULL : sp + 1;
		ncases++;
		nbad += check_case(psl, in, want, line, "tests.txt");
	}
	print_message("tests.txt: %d cases, %d failed\n", ncases, nbad);
	assert_true(ncases >= 70);
	assert_int_equal(nbad, 0);
	free(text);
	dmarc_psl_free(&psl);
}

static const char small_list[] =
	"// ===BEGIN ICANN DOMAINS===\n"
	"com\n"
	"uk\n"
	"co.uk\n"
	"*.ck\n"
	"!www.ck\n"
	"公司.cn\n"
	"cn\n"
	"// ===END ICANN DOMAINS===\n"
	"// ===BEGIN PRIVATE DOMAINS===\n"
	"github.io\n"
	"blogspot.com   // trailing text is no part of the rule\n"
	"// ===END PRIVATE DOMAINS===\n";

static void test_sections_and_org_domain(void **state)
{
	struct dmarc_psl *psl;
	struct error err;
	assert_int_equal(dmarc_psl_parse(small_list, strlen(small_list), &psl, &err), 0);
	assert_int_equal(dmarc_psl_nrules(psl), 9);
	struct arena *a = arena_new(1024, ARENA_PLAIN);

	/* private entries count only when asked for */
	assert_string_equal(dmarc_psl_registrable(psl, "alice.blogspot.com", DMARC_PSL_ALL, a),
	                    "alice.blogspot.com");
	assert_string_equal(dmarc_psl_registrable(psl, "alice.blogspot.com", DMARC_PSL_ICANN, a),
	                    "blogspot.com");
	assert_null(dmarc_psl_registrable(psl, "github.io", DMARC_PSL_ALL, a));
	/* no rule for io: the implicit "*" rule */
	assert_string_equal(dmarc_psl_registrable(psl, "x.github.io", DMARC_PSL_ICANN, a), "github.io");

	/* RFC 7489 §3.2: DMARC uses both sections */
	assert_string_equal(dmarc_org_domain(psl, "mail.sub.example.co.uk", a), "example.co.uk");
	assert_string_equal(dmarc_org_domain(psl, "MAIL.Example.COM.", a), "example.com");
	assert_string_equal(dmarc_org_domain(psl, "a.alice.github.io", a), "alice.github.io");
	assert_string_equal(dmarc_org_domain(psl, "co.uk", a), "co.uk");   /* a PSD is its own */
	assert_string_equal(dmarc_org_domain(psl, "x.y.ck", a), "x.y.ck");
	assert_string_equal(dmarc_org_domain(psl, "a.www.ck", a), "www.ck");
	/* U-labels come back as A-labels from dmarc_org_domain ... */
	assert_string_equal(dmarc_org_domain(psl, "www.食狮.公司.cn", a), "xn--85x722f.xn--55qx5d.cn");
	/* ... and in their own form from dmarc_psl_registrable */
	assert_string_equal(dmarc_psl_registrable(psl, "www.食狮.公司.cn", DMARC_PSL_ALL, a), "食狮.公司.cn");
	assert_null(dmarc_org_domain(psl, "a..example.com", a));
	assert_null(dmarc_org_domain(psl, ".example.com", a));
	assert_null(dmarc_org_domain(psl, "", a));

	arena_free(&a);
	dmarc_psl_free(&psl);
}

static void test_empty_list(void **state)
{
	struct dmarc_psl *psl = NULL;
	struct error err;
	assert_int_equal(dmarc_psl_parse("// nothing\n", 11, &psl, &err), -1);
	assert_null(psl);
	assert_int_equal(dmarc_psl_load("/nonexistent/psl.dat", &psl, &err), -1);
}

static void test_default_list(void **state)
{
	/* the installed list, loaded once however often it is asked for */
	struct error err;
	const struct dmarc_psl *p1 = dmarc_psl_default(&err);
	if (p1 == NULL)
		fail_msg("%s (install Debian's publicsuffix)", err.msg);
	assert_ptr_equal(dmarc_psl_default(&err), p1);
	assert_true(dmarc_psl_nrules(p1) > 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpublicsuffix_js),
		cmocka_unit_test(test_tests_txt),
		cmocka_unit_test(test_sections_and_org_domain),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_default_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
