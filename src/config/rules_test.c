/* rules_test.c: rulesets of domains.conf: parsing, errors, evaluation, and
 * surviving a rewrite of the file by the schema (emit). */
#include "config/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char rules_conf[] =
	"Domains:\n"
	"  example.com: {}\n"
	"Accounts:\n"
	"  alice:\n"
	"    Domain: example.com\n"
	"    Destinations:\n"
	"      alice@example.com:\n"
	"        Mailbox: Inbox\n"
	"        Rulesets:\n"
	"          - HeadersRegexp:\n"
	"              List-Id: \"<tern-dev\\\\.lists\\\\.example\\\\.org>\"\n"
	"            Mailbox: Lists/tern\n"
	"          - SMTPMailFromRegexp: \"@bank\\\\.example$\"\n"
	"            HeadersRegexp:\n"
	"              subject: statement\n"
	"            Mailbox: Bank\n";

static struct config *load(const char *text, struct error *err)
{
	struct config *cfg = NULL;
	if (config_parse_dynamic_mem("domains.conf", text, strlen(text), &cfg, err) != 0)
		return NULL;
	return cfg;
}

static const char *choose(const struct config *cfg, const char *from, const char *hname,
                          const char *hvalue)
{
	const struct config_destination *d = &cfg->dyn.accounts[0].destinations[0];
	const char *names[] = {"From", hname};
	const char *values[] = {"someone@example.net", hvalue};
	return config_destination_mailbox(d, from, hname != NULL ? 2 : 1, names, values);
}

static void test_evaluation(void **state)
{
	struct error err;
	struct config *cfg = load(rules_conf, &err);
	if (cfg == NULL)
		fail_msg("%s", err.msg);
	const struct config_destination *d = &cfg->dyn.accounts[0].destinations[0];
	assert_int_equal(d->nrulesets, 2);
	assert_string_equal(d->rulesets[0].headers[0].header, "list-id");
	assert_string_equal(choose(cfg, "x@y", "LIST-ID", "Tern <tern-dev.lists.example.org>"),
	                    "Lists/tern");
	assert_string_equal(choose(cfg, "x@y", "List-Id", "<other.lists.example.org>"), "Inbox");
	assert_string_equal(choose(cfg, "alerts@bank.example", "Subject", "Your STATEMENT"), "Bank");
	assert_string_equal(choose(cfg, "alerts@bank.example", "Subject", "hello"), "Inbox");
	assert_string_equal(choose(cfg, NULL, "Subject", "statement"), "Inbox");
	assert_string_equal(choose(cfg, "alerts@bank.example", NULL, NULL), "Inbox");
	config_release(&cfg);
}

static void test_errors(void **state)
{
	struct error err;
	char bad[sizeof(rules_conf) + 64];
	snprintf(bad, sizeof(bad), "%s", rules_conf);
	char *p = strstr(bad, "subject: statement");
	memcpy(p, "subject: \"(st\"    ", 18);
	assert_null(load(bad, &err));
	assert_string_equal(err.msg, "domains.conf:15:24: Accounts.alice.Destinations."
	                             "alice@example.com.Rulesets[1].HeadersRegexp.subject: \"(st\" "
	                             "is not a valid regular expression: Unmatched ( or \\(");
	snprintf(bad, sizeof(bad), "%s", rules_conf);
	p = strstr(bad, "            Mailbox: Bank\n");
	*p = '\0';
	assert_null(load(bad, &err));
	if (strstr(err.msg, "Mailbox") == NULL || strstr(err.msg, "required") == NULL)
		fail_msg("%s", err.msg);
	snprintf(bad, sizeof(bad), "%s", rules_conf);
	p = strstr(bad, "subject: statement");
	memcpy(p, "sub jec", 7);  /* the key becomes "sub jec" */
	assert_null(load(bad, &err));
	if (strstr(err.msg, "\"sub jec\" is not a header field name") == NULL)
		fail_msg("%s", err.msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evaluation),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
