/*
 * route_test.c: choosing a route (route.c) from tern.conf's Routes and
 * Transports: the first match by MAIL FROM domain, recipient domain
 * (".d" for subdomains) and attempts made; what each transport kind puts
 * into the SMTP client's route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/arena.h"
#include "queue/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char conf_text[] =
	"Hostname: mail.example.com\n"
	"Transports:\n"
	"  tls465:\n"
	"    Submissions: {Host: smtp.example.net, Auth: {Username: u, Password: p}}\n"
	"  plain587:\n"
	"    Submission: {Host: 192.0.2.5, NoSTARTTLS: true}\n"
	"  smtp25:\n"
	"    SMTP: {Host: relay.example.net, Port: 2525, Auth: {Username: f, PasswordFile: PWFILE}}\n"
	"  proxy:\n"
	"    Socks: {Address: \"[2001:db8::1]:1080\", RemoteHostname: out.example.com,\n"
	"            Username: su, Password: sp}\n"
	"Routes:\n"
	"  - FromDomain: [example.com]\n"
	"    ToDomain: [.example.net]\n"
	"    Transport: tls465\n"
	"  - ToDomain: [example.net]\n"
	"    Transport: plain587\n"
	"  - FromDomain: [other.example]\n"
	"    Transport: \"\"\n"
	"  - MinimumAttempts: 2\n"
	"    Transport: smtp25\n"
	"  - ToDomain: [proxied.example]\n"
	"    Transport: proxy\n";

struct fixture {
	struct config *cfg;
	char pwfile[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->pwfile, sizeof(f->pwfile), "/tmp/tern-route-test-%ld", (long)getpid());
	FILE *pw = fopen(f->pwfile, "w");
	assert_non_null(pw);
	fputs("from-file\nignored second line\n", pw);
	fclose(pw);
	size_t len = strlen(conf_text) + strlen(f->pwfile);
	char *text = malloc(len + 1);
	const char *mark = strstr(conf_text, "PWFILE");
	snprintf(text, len + 1, "%.*s%s%s", (int)(mark - conf_text), conf_text, f->pwfile,
	         mark + strlen("PWFILE"));
	struct error e;
	if (config_parse_static_mem("tern.conf", text, strlen(text), &f->cfg, &e) != 0)
		fail_msg("%s", e.msg);
	free(text);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	config_release(&f->cfg);
	unlink(f->pwfile);
	free(f);
	return 0;
}

static const char *transport_of(const struct config *cfg, const char *from, const char *to,
                                unsigned attempts)
{
	const struct config_route *r = queue_route_find(cfg, NULL, from, to, attempts);
	return r == NULL ? NULL : r->transport;
}

static void test_first_match(void **state)
{
	struct fixture *f = *state;
	/* ".example.net": subdomains only */
	assert_string_equal(transport_of(f->cfg, "a@example.com", "mx.example.net", 0), "tls465");
	assert_string_equal(transport_of(f->cfg, "a@EXAMPLE.com", "Sub.Example.NET", 0), "tls465");
	assert_string_equal(transport_of(f->cfg, "a@example.com", "example.net", 0), "plain587");
	/* the from domain of route 1 does not match */
	assert_null(transport_of(f->cfg, "b@example.org", "mx.example.net", 0));
	assert_null(transport_of(f->cfg, "b@example.org", "mx.example.net", 1));
	assert_string_equal(transport_of(f->cfg, "b@example.org", "mx.example.net", 2), "smtp25");
	/* a direct route ends the search before the later ones */
	assert_string_equal(transport_of(f->cfg, "c@other.example", "x.example", 5), "");
	/* the null sender matches only routes without FromDomain */
	assert_string_equal(transport_of(f->cfg, "", "example.net", 0), "plain587");
	assert_null(transport_of(f->cfg, NULL, "unrouted.example", 0));
	assert_string_equal(transport_of(f->cfg, "", "proxied.example", 0), "proxy");
}

static void test_apply(void **state)
{
	struct fixture *f = *state;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct error e;
	struct smtpclient_route r = {.domain = "example.net"};
	assert_int_equal(queue_route_apply(f->cfg, queue_route_find(f->cfg, NULL, "a@example.com",
	                 "mx.example.net", 0), &r, a, &e), 0);
	assert_string_equal(r.host, "smtp.example.net");
	assert_int_equal(r.port, 465);
	assert_int_equal(r.tls, SMTPCLIENT_TLS_IMPLICIT);
	assert_string_equal(r.auth_user, "u");
	assert_string_equal(r.auth_password, "p");

	r = (struct smtpclient_route){.domain = "example.net"};
	assert_int_equal(queue_route_apply(f->cfg, queue_route_find(f->cfg, NULL, "", "example.net", 0),
	                 &r, a, &e), 0);
	assert_string_equal(r.host, "192.0.2.5");
	assert_int_equal(r.port, 587);
	assert_int_equal(r.tls, SMTPCLIENT_TLS_NONE);
	assert_null(r.auth_user);

	r = (struct smtpclient_route){.domain = "x.example"};
	assert_int_equal(queue_route_apply(f->cfg, queue_route_find(f->cfg, NULL, "", "x.example", 3),
	                 &r, a, &e), 0);
	assert_string_equal(r.host, "relay.example.net");
	assert_int_equal(r.port, 2525);
	assert_int_equal(r.tls, SMTPCLIENT_TLS_OPPORTUNISTIC);
	assert_string_equal(r.auth_password, "from-file");

	r = (struct smtpclient_route){.domain = "proxied.example"};
	assert_int_equal(queue_route_apply(f->cfg, queue_route_find(f->cfg, NULL, "", "proxied.example",
	                 0), &r, a, &e), 0);
	assert_null(r.host);
	assert_string_equal(r.socks_proxy, "[2001:db8::1]:1080");
	assert_string_equal(r.socks_user, "su");
	assert_string_equal(r.socks_password, "sp");
	assert_string_equal(r.ehlo_name, "out.example.com");

	/* direct: nothing set */
	r = (struct smtpclient_route){.domain = "x.example"};
	assert_int_equal(queue_route_apply(f->cfg, NULL, &r, a, &e), 0);
	assert_null(r.host);
	assert_null(r.socks_proxy);

	/* a password file gone at delivery time: an error naming it */
	unlink(f->pwfile);
	r = (struct smtpclient_route){.domain = "x.example"};
	assert_int_equal(queue_route_apply(f->cfg, queue_route_find(f->cfg, NULL, "", "x.example", 3),
	                 &r, a, &e), -1);
	assert_non_null(strstr(e.msg, f->pwfile));
	arena_free(&a);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* domains.conf's routes: the account's first, then the sender domain's,
 * then tern.conf's; a Transport tern.conf lacks is refused at load. */
static void test_account_and_domain_routes(void **state)
{
	char dir[] = "/tmp/tern-route-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_file(dir, "tern.conf", "Hostname: mail.example.com\nDataDir: data\n"
	           "Transports:\n  t1: {SMTP: {Host: one.example}}\n"
	           "  t2: {SMTP: {Host: two.example}}\n  t3: {SMTP: {Host: three.example}}\n"
	           "Routes:\n  - Transport: t3\n");
	write_file(dir, "domains.conf", "Domains:\n  example.com:\n    Routes:\n"
	           "      - ToDomain: [example.net]\n        Transport: t2\n"
	           "  example.org: {}\n"
	           "Accounts:\n  alice:\n    Domain: example.com\n    Routes:\n"
	           "      - ToDomain: [example.net, example.info]\n        MinimumAttempts: 1\n"
	           "        Transport: t1\n"
	           "  bob:\n    Domain: example.org\n");
	char path[256];
	snprintf(path, sizeof(path), "%s/tern.conf", dir);
	struct config *cfg;
	struct error e;
	if (config_load(path, &cfg, &e) != 0)
		fail_msg("%s", e.msg);
	const struct config_route *r;
	r = queue_route_find(cfg, "alice", "alice@example.com", "example.net", 1);
	assert_string_equal(r->transport, "t1");
	r = queue_route_find(cfg, "alice", "alice@example.com", "example.net", 0);
	assert_string_equal(r->transport, "t2");
	r = queue_route_find(cfg, "bob", "bob@example.org", "example.net", 1);
	assert_string_equal(r->transport, "t3");
	r = queue_route_find(cfg, NULL, "x@example.com", "example.net", 0);
	assert_string_equal(r->transport, "t2");
	config_release(&cfg);

	write_file(dir, "domains.conf", "Domains:\n  example.com: {}\n"
	           "Accounts:\n  alice:\n    Domain: example.com\n    Routes:\n"
	           "      - Transport: nope\n");
	assert_int_equal(config_load(path, &cfg, &e), -1);
	assert_non_null(strstr(e.msg, "domains.conf: Accounts.alice.Routes[0].Transport: no "
	                       "transport \"nope\" in "));
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_account_and_domain_routes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
