/*
 * config_test.c: tests of src/config: full and minimal files, defaults,
 * relative paths, every kind of error with its exact FILE:LINE:COL message,
 * the named limits at and past their value, snapshots and reload, and the
 * describe output loaded back.
 */
#include "config/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- helpers ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	strcpy(tmpdir, "/tmp/tern-config-test-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(tmp_path(name), "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static struct config *parse_static(const char *text)
{
	struct config *cfg = NULL;
	struct error err = { 0 };
	if (config_parse_static_mem("tern.conf", text, strlen(text), &cfg, &err) < 0)
		fail_msg("unexpected error: %s", err.msg);
	return cfg;
}

static struct config *parse_dynamic(const char *text)
{
	struct config *cfg = NULL;
	struct error err = { 0 };
	if (config_parse_dynamic_mem("domains.conf", text, strlen(text), &cfg, &err) < 0)
		fail_msg("unexpected error: %s", err.msg);
	return cfg;
}

static void expect_error_len(bool dynamic, const char *text, size_t len, const char *want)
{
	struct config *cfg = NULL;
	struct error err = { 0 };
	int r = dynamic
		? config_parse_dynamic_mem("domains.conf", text, len, &cfg, &err)
		: config_parse_static_mem("tern.conf", text, len, &cfg, &err);
	assert_int_equal(r, -1);
	assert_null(cfg);
	assert_string_equal(err.msg, want);
}

static void expect_error(bool dynamic, const char *text, const char *want)
{
	expect_error_len(dynamic, text, strlen(text), want);
}

static char *cwd_join(const char *rel)
{
	static char buf[1024];
	char *cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	snprintf(buf, sizeof(buf), "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, rel);
	free(cwd);
	return buf;
}

/* ---- tern.conf ---- */

static void test_static_full(void **state)
{
	write_file("c.pem", "cert\n");
	write_file("k.pem", "key\n");
	write_file("root.key", "anchor\n");
	write_file("tern.conf",
		"DataDir: /var/lib/tern/./data/../data\n"
		"Hostname: Mail.Example.COM.\n"
		"User: mail\n"
		"LogLevel: warn\n"
		"PackageLogLevels:\n"
		"  smtpserver: debug\n"
		"  dns: trace\n"
		"Resolver:\n"
		"  Upstreams: [\"192.0.2.1\", \"2001:db8::1@5353\"]\n"
		"  TrustAnchorFile: root.key\n"
		"  CacheEntries: 0\n"
		"Listeners:\n"
		"  public:\n"
		"    IPs:\n"
		"      - 0.0.0.0\n"
		"      - \"::\"\n"
		"    Hostname: mx.example.com\n"
		"    TLS:\n"
		"      KeyCerts:\n"
		"        - CertFile: c.pem\n"
		"          KeyFile: ./sub/../k.pem\n"
		"      MinVersion: TLSv1.3\n"
		"    MaxConnections: 100000\n"
		"    MaxConnectionsPerIP: 1\n"
		"  internal:\n"
		"    IPs: [127.0.0.1]\n");
	write_file("domains.conf", "");
	struct config *cfg;
	struct error err;
	if (config_load(tmp_path("tern.conf"), &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	const struct config_static *st = &cfg->st;
	assert_string_equal(cfg->dynamic_path, tmp_path("domains.conf"));
	assert_string_equal(st->data_dir, "/var/lib/tern/data");
	assert_string_equal(st->hostname, "mail.example.com");
	assert_string_equal(st->user, "mail");
	assert_int_equal(st->log_level, LOG_WARN);
	assert_int_equal(st->npkg_log_levels, 2);
	assert_string_equal(st->pkg_log_levels[0].pkg, "smtpserver");
	assert_int_equal(st->pkg_log_levels[0].level, LOG_DEBUG);
	assert_string_equal(st->pkg_log_levels[1].pkg, "dns");
	assert_int_equal(st->pkg_log_levels[1].level, LOG_TRACE);
	assert_int_equal(st->resolver.nupstreams, 2);
	assert_string_equal(st->resolver.upstreams[1], "2001:db8::1@5353");
	assert_string_equal(st->resolver.trust_anchor_file, tmp_path("root.key"));
	assert_int_equal(st->resolver.cache_entries, 0);
	assert_int_equal(st->nlisteners, 2);
	const struct config_listener *l = &st->listeners[0];
	assert_string_equal(l->name, "public");
	assert_int_equal(l->nips, 2);
	assert_string_equal(l->ips[1], "::");
	assert_string_equal(l->hostname, "mx.example.com");
	assert_int_equal(l->nkeycerts, 1);
	assert_string_equal(l->keycerts[0].cert_file, tmp_path("c.pem"));
	assert_string_equal(l->keycerts[0].key_file, tmp_path("k.pem"));
	assert_string_equal(l->tls_min_version, "TLSv1.3");
	assert_int_equal(l->max_connections, 100000);
	assert_int_equal(l->max_connections_per_ip, 1);
	l = &st->listeners[1];
	assert_string_equal(l->name, "internal");
	assert_string_equal(l->hostname, "mail.example.com");
	assert_int_equal(l->nkeycerts, 0);
	config_release(&cfg);
	assert_null(cfg);
}

static void test_static_defaults(void **state)
{
	struct config *cfg = parse_static(
		"Hostname: mail.example.com\n"
		"Listeners:\n"
		"  l:\n"
		"    IPs: [\"::1\"]\n"
		"    TLS:\n"
		"Resolver: ~\n");
	const struct config_static *st = &cfg->st;
	char *cwd = getcwd(NULL, 0);
	char want[1024];
	/* "../data" relative to the directory of "tern.conf", the working directory. */
	char *slash = strrchr(cwd, '/');
	snprintf(want, sizeof(want), "%.*s/data", (int)(slash - cwd), cwd);
	if (slash == cwd)
		strcpy(want, "/data");
	free(cwd);
	assert_string_equal(st->data_dir, want);
	assert_string_equal(st->user, "tern");
	assert_int_equal(st->log_level, LOG_INFO);
	assert_int_equal(st->npkg_log_levels, 0);
	assert_int_equal(st->resolver.nupstreams, 0);
	assert_null(st->resolver.trust_anchor_file);
	assert_int_equal(st->resolver.cache_entries, 4096);
	const struct config_listener *l = &st->listeners[0];
	assert_string_equal(l->hostname, "mail.example.com");
	assert_string_equal(l->tls_min_version, "TLSv1.2");
	assert_int_equal(l->max_connections, 1000);
	assert_int_equal(l->max_connections_per_ip, 20);
	config_release(&cfg);
}

static void test_relative_paths(void **state)
{
	struct config *cfg = parse_static("Hostname: h\nDataDir: x/./y/../z\n");
	assert_string_equal(cfg->st.data_dir, cwd_join("x/z"));
	config_release(&cfg);
	cfg = parse_static("Hostname: h\nDataDir: /../../a//b/\n");
	assert_string_equal(cfg->st.data_dir, "/a/b");
	config_release(&cfg);
	struct error err;
	assert_int_equal(config_parse_static_mem("sub/dir/tern.conf", "Hostname: h\n", 12, &cfg, &err), 0);
	assert_string_equal(cfg->st.data_dir, cwd_join("sub/data"));
	assert_string_equal(cfg->dynamic_path, "sub/dir/domains.conf");
	config_release(&cfg);
}

/* ---- domains.conf ---- */

static const char dynamic_full[] =
	"Domains:\n"
	"  Example.COM:\n"
	"    Description: the example\n"
	"    LocalpartCatchallSeparator: +\n"
	"    LocalpartCaseSensitive: true\n"
	"  other.example:\n"
	"Accounts:\n"
	"  alice:\n"
	"    Domain: EXAMPLE.com\n"
	"    FullName: Alice\n"
	"    Description: first\n"
	"    Destinations:\n"
	"      alice@Example.Com:\n"
	"      \"@other.example\":\n"
	"        Mailbox: Catchall\n"
	"        FullName: Alice C\n"
	"  bob_2.x-y:\n"
	"    Domain: other.example\n";

static void test_dynamic_full(void **state)
{
	struct config *cfg = parse_dynamic(dynamic_full);
	const struct config_dynamic *d = &cfg->dyn;
	assert_int_equal(d->ndomains, 2);
	assert_string_equal(d->domains[0].name, "example.com");
	assert_string_equal(d->domains[0].description, "the example");
	assert_string_equal(d->domains[0].localpart_catchall_separator, "+");
	assert_true(d->domains[0].localpart_case_sensitive);
	assert_false(d->domains[1].localpart_case_sensitive);
	assert_null(d->domains[1].description);
	assert_int_equal(d->naccounts, 2);
	const struct config_account *a = &d->accounts[0];
	assert_string_equal(a->name, "alice");
	assert_string_equal(a->domain, "example.com");
	assert_string_equal(a->full_name, "Alice");
	assert_int_equal(a->ndestinations, 2);
	assert_string_equal(a->destinations[0].address, "alice@example.com");
	assert_string_equal(a->destinations[0].mailbox, "Inbox");
	assert_null(a->destinations[0].full_name);
	assert_string_equal(a->destinations[1].address, "@other.example");
	assert_string_equal(a->destinations[1].mailbox, "Catchall");
	assert_int_equal(d->accounts[1].ndestinations, 0);
	assert_ptr_equal(config_find_domain(cfg, "EXAMPLE.com."), &d->domains[0]);
	assert_null(config_find_domain(cfg, "example.org"));
	assert_ptr_equal(config_find_account(cfg, "bob_2.x-y"), &d->accounts[1]);
	assert_null(config_find_account(cfg, "Alice"));
	config_release(&cfg);
}

static void test_dynamic_empty(void **state)
{
	static const char *const empties[] = { "", "# nothing\n", "~\n", "---\n", "Domains:\nAccounts:\n" };
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		struct config *cfg = parse_dynamic(empties[i]);
		assert_int_equal(cfg->dyn.ndomains, 0);
		assert_int_equal(cfg->dyn.naccounts, 0);
		config_release(&cfg);
	}
}

/* ---- errors ---- */

struct error_case {
	bool dynamic;
	const char *text;
	const char *want;
};

static const struct error_case error_cases[] = {
	/* YAML syntax, with libyaml's problem and position */
	{ false, "Hostname: a: b\n", "tern.conf:1:12: mapping values are not allowed in this context" },
	{ false, "Hostname: [a\n", "tern.conf:2:1: did not find expected ',' or ']' (while parsing a flow sequence)" },
	{ false, "Hostname: \"x\n", "tern.conf:2:1: found unexpected end of stream (while scanning a quoted scalar)" },
	{ false, "Hostname: h\n---\nHostname: h\n", "tern.conf:2:1: more than one YAML document" },
	/* the top of the document */
	{ false, "- a\n", "tern.conf:1:1: expected a mapping at the top, got a list" },
	{ true, "just text\n", "domains.conf:1:1: expected a mapping at the top, got a scalar" },
	/* unknown keys, with and without a suggestion */
	{ false, "Hostnam: x\n", "tern.conf:1:1: unknown key \"Hostnam\" (did you mean \"Hostname\"?)" },
	{ false, "hostname: x\n", "tern.conf:1:1: unknown key \"hostname\" (did you mean \"Hostname\"?)" },
	{ false, "Hostname: h\nColour: x\n", "tern.conf:2:1: unknown key \"Colour\"" },
	{ true, "Domains: {example.com: }\nAccounts:\n  alice:\n    Domain: example.com\n    Destnations: {}\n",
	  "domains.conf:5:5: Accounts.alice: unknown key \"Destnations\" (did you mean \"Destinations\"?)" },
	{ false, "Hostname: h\n[a]: b\n", "tern.conf:2:1: expected a scalar, got a list" },
	/* wrong types */
	{ false, "Hostname: [a]\n", "tern.conf:1:11: Hostname: expected a scalar, got a list" },
	{ false, "Hostname: h\nListeners: [a]\n", "tern.conf:2:12: Listeners: expected a mapping, got a list" },
	{ false, "Hostname: h\nListeners:\n  pub:\n    IPs: 1.2.3.4\n",
	  "tern.conf:4:10: Listeners.pub.IPs: expected a list, got a scalar" },
	{ false, "Hostname: h\nResolver: 3\n", "tern.conf:2:11: Resolver: expected a mapping, got a scalar" },
	{ false, "Hostname: h\nResolver:\n  CacheEntries: abc\n",
	  "tern.conf:3:17: Resolver.CacheEntries: \"abc\" is not an integer" },
	{ false, "Hostname: h\nResolver:\n  CacheEntries: 1.5\n",
	  "tern.conf:3:17: Resolver.CacheEntries: \"1.5\" is not an integer" },
	{ true, "Domains:\n  example.com:\n    LocalpartCaseSensitive: yes\n",
	  "domains.conf:3:29: Domains.example.com.LocalpartCaseSensitive: \"yes\" is not a bool (true or false)" },
	{ false, "Hostname: \"a\\0b\"\n", "tern.conf:1:11: Hostname: value contains a NUL byte" },
	/* required fields: at the mapping that lacks them */
	{ false, "", "tern.conf:1:1: Hostname: required field missing" },
	{ false, "User: x\n", "tern.conf:1:1: Hostname: required field missing" },
	{ false, "Hostname: h\nListeners:\n  pub:\n    Hostname: y\n",
	  "tern.conf:4:5: Listeners.pub.IPs: required field missing" },
	{ false, "Hostname: h\nListeners:\n  pub:\n",
	  "tern.conf:3:3: Listeners.pub.IPs: required field missing" },
	{ false, "Hostname: h\nListeners:\n  p: {IPs: [\"::\"], TLS: {KeyCerts: [{KeyFile: k}]}}\n",
	  "tern.conf:3:37: Listeners.p.TLS.KeyCerts[0].CertFile: required field missing" },
	{ true, "Domains: {example.com: }\nAccounts:\n  alice:\n    FullName: A\n",
	  "domains.conf:4:5: Accounts.alice.Domain: required field missing" },
	{ false, "Hostname: h\nPackageLogLevels: {smtp: }\n",
	  "tern.conf:2:26: PackageLogLevels.smtp: required field missing" },
	/* integer bounds: one past each end */
	{ false, "Hostname: h\nResolver:\n  CacheEntries: 1000001\n",
	  "tern.conf:3:17: Resolver.CacheEntries: 1000001 is out of range 0..1000000" },
	{ false, "Hostname: h\nResolver:\n  CacheEntries: -1\n",
	  "tern.conf:3:17: Resolver.CacheEntries: -1 is out of range 0..1000000" },
	{ false, "Hostname: h\nListeners: {p: {IPs: [\"::\"], MaxConnections: 0}}\n",
	  "tern.conf:2:46: Listeners.p.MaxConnections: 0 is out of range 1..100000" },
	{ false, "Hostname: h\nListeners: {p: {IPs: [\"::\"], MaxConnectionsPerIP: 10001}}\n",
	  "tern.conf:2:51: Listeners.p.MaxConnectionsPerIP: 10001 is out of range 1..10000" },
	{ false, "Hostname: h\nResolver:\n  CacheEntries: 99999999999999999999\n",
	  "tern.conf:3:17: Resolver.CacheEntries: 99999999999999999999 is out of range 0..1000000" },
	/* enums */
	{ false, "Hostname: h\nLogLevel: verbose\n",
	  "tern.conf:2:11: LogLevel: \"verbose\" is not one of error, warn, info, debug, trace, traceauth, tracedata" },
	{ false, "Hostname: h\nListeners: {p: {IPs: [\"::\"], TLS: {MinVersion: TLSv1.1}}}\n",
	  "tern.conf:2:48: Listeners.p.TLS.MinVersion: \"TLSv1.1\" is not one of TLSv1.2, TLSv1.3" },
	{ false, "Hostname: h\nPackageLogLevels: {smtp: loud}\n",
	  "tern.conf:2:26: PackageLogLevels.smtp: \"loud\" is not one of error, warn, info, debug, trace, traceauth, tracedata" },
	/* duplicate keys */
	{ false, "Hostname: x\nHostname: y\n", "tern.conf:2:1: duplicate key \"Hostname\" (first at line 1)" },
	{ false, "Hostname: h\nListeners:\n  a: {IPs: [\"::\"]}\n  a: {IPs: [\"::\"]}\n",
	  "tern.conf:4:3: Listeners: duplicate key \"a\" (first at line 3)" },
	{ true, "Domains:\n  example.com:\n  EXAMPLE.com.:\n",
	  "domains.conf:3:3: Domains: duplicate key \"example.com\" (first at line 2)" },
	/* references */
	{ true, "Domains: {example.com: }\nAccounts:\n  alice:\n    Domain: exmple.com\n",
	  "domains.conf:4:13: Accounts.alice.Domain: unknown domain \"exmple.com\" (not in Domains)" },
	{ true, "Domains: {example.com: }\nAccounts:\n  alice:\n    Domain: example.com\n    Destinations:\n      alice@example.org:\n",
	  "domains.conf:6:7: Accounts.alice.Destinations: \"alice@example.org\": unknown domain \"example.org\" (not in Domains)" },
	{ true, "Accounts:\n  alice:\n    Domain: example.com\nDomains: {example.com: }\n", NULL },
	/* invalid values */
	{ false, "Hostname: h\nListeners: {a: {IPs: [\"1.2.3\", \"::\"]}}\n",
	  "tern.conf:2:23: Listeners.a.IPs[0]: \"1.2.3\" is not a valid IP address" },
	{ false, "Hostname: h\nResolver: {Upstreams: [1.1.1.1@0]}\n",
	  "tern.conf:2:24: Resolver.Upstreams[0]: \"0\" is not a valid port (1..65535)" },
	{ false, "Hostname: h\nResolver: {Upstreams: [1.1.1.1@65536]}\n",
	  "tern.conf:2:24: Resolver.Upstreams[0]: \"65536\" is not a valid port (1..65535)" },
	{ false, "Hostname: h\nResolver: {Upstreams: [\"1.1.1@53\"]}\n",
	  "tern.conf:2:24: Resolver.Upstreams[0]: \"1.1.1\" is not a valid IP address" },
	{ false, "Hostname: -x.com\n", "tern.conf:1:11: Hostname: \"-x.com\" is not a valid domain name" },
	{ false, "Hostname: a..b\n", "tern.conf:1:11: Hostname: \"a..b\" is not a valid domain name" },
	{ false, "Hostname: 192.0.2.1\n", "tern.conf:1:11: Hostname: \"192.0.2.1\" is not a valid domain name" },
	{ false, "Hostname: h\nListeners: {a: {IPs: []}}\n", "tern.conf:2:22: Listeners.a.IPs: needs at least 1 item" },
	{ false, "Hostname: h\nListeners: {a: {IPs: [~]}}\n", "tern.conf:2:23: Listeners.a.IPs[0]: empty list item" },
	{ false, "Hostname: h\nPackageLogLevels: {Smtp: info}\n",
	  "tern.conf:2:20: PackageLogLevels: \"Smtp\" is not a package name (1..32 of a-z, 0-9, _ and -)" },
	{ false, "Hostname: h\nListeners:\n  p:\n    IPs: [\"::\"]\n    TLS:\n      KeyCerts:\n        - CertFile: /nonexistent/c.pem\n          KeyFile: k\n",
	  "tern.conf:7:21: Listeners.p.TLS.KeyCerts[0].CertFile: \"/nonexistent/c.pem\": No such file or directory" },
	{ true, "Domains: {\"exa mple.com\": }\n", "domains.conf:1:11: Domains: \"exa mple.com\" is not a valid domain name" },
	{ true, "Domains: {example.com: {LocalpartCatchallSeparator: a}}\n",
	  "domains.conf:1:53: Domains.example.com.LocalpartCatchallSeparator: \"a\" is not a separator (1..8 punctuation characters other than @, \" and \\)" },
	{ true, "Domains: {example.com: }\nAccounts:\n  ../etc:\n    Domain: example.com\n",
	  "domains.conf:3:3: Accounts: \"../etc\" is not a valid account name (1..64 of letters, digits, '.', '-', '_'; no leading '.' or '-', no \"..\")" },
	{ true, "Domains: {example.com: }\nAccounts:\n  a/b:\n    Domain: example.com\n",
	  "domains.conf:3:3: Accounts: \"a/b\" is not a valid account name (1..64 of letters, digits, '.', '-', '_'; no leading '.' or '-', no \"..\")" },
	{ true, "Domains: {example.com: }\nAccounts:\n  .hidden:\n    Domain: example.com\n",
	  "domains.conf:3:3: Accounts: \".hidden\" is not a valid account name (1..64 of letters, digits, '.', '-', '_'; no leading '.' or '-', no \"..\")" },
	{ true, "Domains: {example.com: }\nAccounts:\n  a:\n    Domain: example.com\n    Destinations: {\"a b@example.com\": }\n",
	  "domains.conf:5:20: Accounts.a.Destinations: \"a b@example.com\" is not an address (localpart@domain or @domain)" },
	{ true, "Domains: {example.com: }\nAccounts:\n  a:\n    Domain: example.com\n    Destinations: {alice: }\n",
	  "domains.conf:5:20: Accounts.a.Destinations: \"alice\" is not an address (localpart@domain or @domain)" },
	/* the same address twice */
	{ true, "Domains: {example.com: }\nAccounts:\n  alice:\n    Domain: example.com\n"
	        "    Destinations:\n      alice@example.com:\n"
	        "  bob:\n    Domain: example.com\n    Destinations:\n      bob@example.com:\n      Alice@EXAMPLE.com:\n",
	  "domains.conf:11:7: Accounts.bob.Destinations: \"Alice@example.com\" is already used at Accounts.alice.Destinations (line 6)" },
	{ true, "Domains: {example.com: }\nAccounts:\n  alice:\n    Domain: example.com\n"
	        "    Destinations:\n      alice@example.com:\n      alice@Example.com:\n",
	  "domains.conf:7:7: Accounts.alice.Destinations: duplicate key \"alice@example.com\" (first at line 6)" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		if (c->want == NULL) {
			struct config *cfg = c->dynamic ? parse_dynamic(c->text) : parse_static(c->text);
			config_release(&cfg);
			continue;
		}
		expect_error(c->dynamic, c->text, c->want);
	}
}

static void test_account_name_limit(void **state)
{
	char text[256], name[70];
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(text, sizeof(text), "Domains: {example.com: }\nAccounts: {%s: {Domain: example.com}}\n", name);
	struct config *cfg = parse_dynamic(text);
	config_release(&cfg);
	strcat(name, "a");
	snprintf(text, sizeof(text), "Domains: {example.com: }\nAccounts: {%s: {Domain: example.com}}\n", name);
	expect_error(true, text, "domains.conf:2:12: Accounts: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" "
	             "is not a valid account name (1..64 of letters, digits, '.', '-', '_'; no leading '.' or '-', no \"..\")");
}

static void test_reader_error(void **state)
{
	/* Invalid UTF-8: libyaml gives a byte offset; the message has line and column. */
	static const char text[] = "Hostname: h\nUser: \xff\n";
	expect_error_len(false, text, sizeof(text) - 1,
	                 "tern.conf:2:7: invalid leading UTF-8 octet");
}

/* ---- limits ---- */

static char *nested(size_t depth)
{
	char *s = malloc(2 * depth + 32);
	strcpy(s, "Hostname: ");
	size_t n = strlen(s);
	for (size_t i = 0; i < depth - 1; i++)
		s[n++] = '[';
	for (size_t i = 0; i < depth - 1; i++)
		s[n++] = ']';
	s[n++] = '\n';
	s[n] = '\0';
	return s;
}

static void test_depth_limit(void **state)
{
	/* The top mapping is one level; Hostname's value adds the rest. */
	char *at = nested(CONFIG_DEPTH_MAX);
	expect_error(false, at, "tern.conf:1:11: Hostname: expected a scalar, got a list");
	free(at);
	char *past = nested(CONFIG_DEPTH_MAX + 1);
	char want[128];
	snprintf(want, sizeof(want), "tern.conf:1:%d: nested deeper than %d levels",
	         11 + CONFIG_DEPTH_MAX - 1, CONFIG_DEPTH_MAX);
	expect_error(false, past, want);
	free(past);
}

/* A list of n upstreams: with the top mapping, two keys and two containers,
 * the file has n + 5 nodes. */
static char *upstreams(size_t n)
{
	char *s = malloc(5 * n + 64);
	char *p = s + sprintf(s, "Hostname: h\nResolver: {Upstreams: [");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "\"::\",");
	strcpy(p - 1, "]}\n");
	return s;
}

static void test_nodes_limit(void **state)
{
	/* Hostname and its value are 2 more nodes: 7 besides the list items. */
	char *at = upstreams(CONFIG_NODES_MAX - 7);
	struct config *cfg = parse_static(at);
	assert_int_equal(cfg->st.resolver.nupstreams, CONFIG_NODES_MAX - 7);
	config_release(&cfg);
	free(at);
	char *past = upstreams(CONFIG_NODES_MAX - 6);
	char want[128];
	snprintf(want, sizeof(want), "tern.conf:2:%d: more than %d values",
	         24 + 5 * (CONFIG_NODES_MAX - 7), CONFIG_NODES_MAX);
	expect_error(false, past, want);
	free(past);
}

static void test_alias_limit(void **state)
{
	/* 1000 IPs, reused by 1001 listeners through an alias: a small file that
	 * expands past CONFIG_NODES_MAX. */
	size_t ips = 1000, listeners = CONFIG_NODES_MAX / ips + 1;
	char *s = malloc(ips * 8 + listeners * 32 + 128);
	char *p = s + sprintf(s, "Hostname: h\nListeners:\n  l0: &l\n    IPs: [");
	for (size_t i = 0; i < ips; i++)
		p += sprintf(p, "\"::\",");
	p += sprintf(p - 1, "]\n") - 1;
	for (size_t i = 1; i < listeners; i++)
		p += sprintf(p, "  l%zu: *l\n", i);
	struct config *cfg = NULL;
	struct error err;
	assert_int_equal(config_parse_static_mem("tern.conf", s, strlen(s), &cfg, &err), -1);
	assert_non_null(strstr(err.msg, ": more than 1000000 values (aliases included)"));
	assert_memory_equal(err.msg, "tern.conf:", 10);
	free(s);
}

static void test_file_limit(void **state)
{
	char *big = malloc(CONFIG_FILE_MAX + 2);
	memset(big, '#', CONFIG_FILE_MAX + 1);
	memcpy(big, "Hostname: h\n#", 13);
	big[CONFIG_FILE_MAX + 1] = '\0';
	write_file("domains.conf", "");
	write_file("tern.conf", big);
	struct config *cfg;
	struct error err;
	assert_int_equal(config_load(tmp_path("tern.conf"), &cfg, &err), -1);
	char want[512];
	snprintf(want, sizeof(want), "%s: larger than %u bytes (CONFIG_FILE_MAX)",
	         tmp_path("tern.conf"), CONFIG_FILE_MAX);
	assert_string_equal(err.msg, want);
	big[CONFIG_FILE_MAX] = '\0';
	write_file("tern.conf", big);
	assert_int_equal(config_load(tmp_path("tern.conf"), &cfg, &err), 0);
	config_release(&cfg);
	free(big);
}

static void test_missing_files(void **state)
{
	struct config *cfg;
	struct error err;
	char want[512];
	assert_int_equal(config_load(tmp_path("none/tern.conf"), &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
	         tmp_path("none/tern.conf"));
	assert_string_equal(err.msg, want);
	write_file("tern.conf", "Hostname: h\n");
	unlink(tmp_path("domains.conf"));
	assert_int_equal(config_load(tmp_path("tern.conf"), &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
	         tmp_path("domains.conf"));
	assert_string_equal(err.msg, want);
	/* Errors in domains.conf name domains.conf. */
	write_file("domains.conf", "Domains:\n  Example: [\n");
	assert_int_equal(config_load(tmp_path("tern.conf"), &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s:3:1: did not find expected node content "
	         "(while parsing a flow node)", tmp_path("domains.conf"));
	assert_string_equal(err.msg, want);
}

/* ---- snapshots ---- */

static void test_snapshot_refs(void **state)
{
	write_file("tern.conf", "Hostname: one.example\n");
	write_file("domains.conf", "");
	struct config *cfg, *extra;
	struct error err;
	assert_int_equal(config_load(tmp_path("tern.conf"), &cfg, &err), 0);
	extra = config_ref(cfg);
	assert_ptr_equal(extra, cfg);
	config_release(&cfg);
	assert_null(cfg);
	/* Still usable through the other reference (ASan would see a free). */
	assert_string_equal(extra->st.hostname, "one.example");
	config_release(&extra);
	config_release(&extra);   /* NULL: no effect */
}

static void test_current_and_reload(void **state)
{
	struct error err;
	assert_null(config_acquire());
	assert_int_equal(config_reload(&err), -1);
	write_file("tern.conf", "Hostname: one.example\nPackageLogLevels: {smtpserver: debug}\n");
	write_file("domains.conf", "Domains: {example.com: }\n");
	struct config *cfg;
	assert_int_equal(config_load(tmp_path("tern.conf"), &cfg, &err), 0);
	config_set_current(cfg);
	assert_true(log_enabled(LOG_DEBUG, "smtpserver"));
	assert_false(log_enabled(LOG_DEBUG, "dns"));

	struct config *held = config_acquire();
	assert_ptr_equal(held, cfg);

	/* A broken file keeps the running snapshot. */
	write_file("domains.conf", "Domains: {example.com: }\nAccounts: {x: {Domain: nope.example}}\n");
	assert_int_equal(config_reload(&err), -1);
	char want[512];
	snprintf(want, sizeof(want), "%s:2:24: Accounts.x.Domain: unknown domain "
	         "\"nope.example\" (not in Domains)", tmp_path("domains.conf"));
	assert_string_equal(err.msg, want);
	struct config *now = config_acquire();
	assert_ptr_equal(now, cfg);
	config_release(&now);

	/* A good file replaces it; the old one lives while referenced. */
	write_file("tern.conf", "Hostname: two.example\n");
	write_file("domains.conf", "");
	assert_int_equal(config_reload(&err), 0);
	now = config_acquire();
	assert_ptr_not_equal(now, held);
	assert_string_equal(now->st.hostname, "two.example");
	assert_string_equal(held->st.hostname, "one.example");
	assert_false(log_enabled(LOG_DEBUG, "smtpserver"));
	config_release(&held);
	config_release(&now);
	config_set_current(NULL);
	assert_null(config_acquire());
}

/* ---- describe ---- */

static void test_describe_loads(void **state)
{
	FILE *f = fopen(tmp_path("tern.conf"), "w");
	assert_non_null(f);
	config_describe_static(f);
	assert_int_equal(fclose(f), 0);
	f = fopen(tmp_path("domains.conf"), "w");
	assert_non_null(f);
	config_describe_dynamic(f);
	assert_int_equal(fclose(f), 0);
	struct config *cfg;
	struct error err;
	if (config_load(tmp_path("tern.conf"), &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->st.nlisteners, 1);
	assert_int_equal(cfg->dyn.ndomains, 1);
	assert_int_equal(cfg->dyn.naccounts, 1);
	assert_string_equal(cfg->dyn.accounts[0].domain, cfg->dyn.domains[0].name);
	assert_int_equal(cfg->st.npkg_log_levels, 1);
	config_release(&cfg);
}

static void test_describe_documents(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_describe_static(f);
	fclose(f);
	assert_non_null(strstr(text, "# (integer 0..1000000; default 4096)\n  CacheEntries: 4096\n"));
	assert_non_null(strstr(text, "# (string; required)\nHostname: mail.example.com\n"));
	assert_non_null(strstr(text, "# (one of TLSv1.2, TLSv1.3; default TLSv1.2)\n"));
	assert_non_null(strstr(text, "Listeners:\n  public:\n"));
	assert_non_null(strstr(text, "      #KeyCerts:\n"));
	free(text);
	f = open_memstream(&text, &len);
	config_describe_dynamic(f);
	fclose(f);
	assert_non_null(strstr(text, "Accounts:\n  alice:\n"));
	assert_non_null(strstr(text, "      alice@example.com:\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_full),
		cmocka_unit_test(test_static_defaults),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_dynamic_full),
		cmocka_unit_test(test_dynamic_empty),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_account_name_limit),
		cmocka_unit_test(test_reader_error),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_nodes_limit),
		cmocka_unit_test(test_alias_limit),
		cmocka_unit_test(test_file_limit),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_snapshot_refs),
		cmocka_unit_test(test_current_and_reload),
		cmocka_unit_test(test_describe_loads),
		cmocka_unit_test(test_describe_documents),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
