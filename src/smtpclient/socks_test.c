/*
 * socks_test.c: socks5_connect (RFC 1928, RFC 1929) against a tiny SOCKS5
 * server on the other end of a socket pair: it checks the bytes the client
 * sends and answers as scripted per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtpclient/socks.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct proxy {
	int fd;
	/* script */
	unsigned char method;          /* the method chosen */
	const char *user, *password;   /* expected (RFC 1929) */
	unsigned char rep;             /* CONNECT reply code */
	unsigned char bnd_atyp;        /* address type of the reply */
	bool silent;                   /* never answer the greeting */
	/* seen */
	unsigned char atyp;
	char dst[256];
	int port;
	bool auth_ok;
	char error[128];
};

static int rd(int fd, unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

#define FAIL(px, ...) do { snprintf((px)->error, sizeof((px)->error), __VA_ARGS__); \
	return NULL; } while (0)

static void *proxy_main(void *arg)
{
	struct proxy *px = arg;
	unsigned char b[600];
	if (rd(px->fd, b, 2) < 0 || b[0] != 5)
		FAIL(px, "greeting");
	if (rd(px->fd, b + 2, b[1]) < 0)
		FAIL(px, "methods");
	if (px->silent) {
		rd(px->fd, b, 1);   /* until the client gives up */
		return NULL;
	}
	unsigned char choice[2] = {5, px->method};
	if (write(px->fd, choice, 2) != 2 || px->method == 0xff)
		return NULL;
	if (px->method == 2) {
		unsigned char ulen, plen;
		char u[256] = "", p[256] = "";
		if (rd(px->fd, b, 2) < 0 || b[0] != 1)
			FAIL(px, "auth version");
		ulen = b[1];
		if (rd(px->fd, (unsigned char *)u, ulen) < 0 || rd(px->fd, &plen, 1) < 0 ||
		    rd(px->fd, (unsigned char *)p, plen) < 0)
			FAIL(px, "auth");
		px->auth_ok = strcmp(u, px->user) == 0 && strcmp(p, px->password) == 0;
		unsigned char st[2] = {1, px->auth_ok ? 0 : 1};
		if (write(px->fd, st, 2) != 2 || !px->auth_ok)
			return NULL;
	}
	if (rd(px->fd, b, 4) < 0 || b[0] != 5 || b[1] != 1 || b[2] != 0)
		FAIL(px, "request");
	px->atyp = b[3];
	if (px->atyp == 1) {
		rd(px->fd, b, 4);
		snprintf(px->dst, sizeof(px->dst), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	} else if (px->atyp == 4) {
		rd(px->fd, b, 16);
		snprintf(px->dst, sizeof(px->dst), "v6:%02x%02x..%02x", b[0], b[1], b[15]);
	} else {
		unsigned char len;
		rd(px->fd, &len, 1);
		rd(px->fd, (unsigned char *)px->dst, len);
		px->dst[len] = '\0';
	}
	rd(px->fd, b, 2);
	px->port = b[0] << 8 | b[1];
	unsigned char rep[32] = {5, px->rep, 0, px->bnd_atyp ? px->bnd_atyp : 1};
	size_t n = 4;
	if (rep[3] == 3) {
		rep[n++] = 5;
		memcpy(rep + n, "proxy", 5);
		n += 5;
	} else {
		n += rep[3] == 4 ? 16 : 4;
	}
	n += 2;
	/* then the remote host's first bytes, which the client must leave */
	memcpy(rep + n, "220 ", 4);
	n += 4;
	if (write(px->fd, rep, n) != (ssize_t)n)
		FAIL(px, "reply");
	return NULL;
}

struct run {
	int client;
	pthread_t t;
};

static void start(struct run *r, struct proxy *px)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->client = sv[0];
	px->fd = sv[1];
	assert_int_equal(pthread_create(&r->t, NULL, proxy_main, px), 0);
}

static void finish(struct run *r, struct proxy *px)
{
	shutdown(r->client, SHUT_RDWR);
	pthread_join(r->t, NULL);
	close(r->client);
	close(px->fd);
	assert_string_equal(px->error, "");
}

static void test_ipv4_no_auth(void **state)
{
	struct proxy px = {.method = 0};
	struct run r;
	start(&r, &px);
	char why[256] = "";
	assert_int_equal(socks5_connect(r.client, "192.0.2.25", 25, NULL, NULL, 2000, why,
		sizeof(why)), 0);
	/* nothing past the reply was taken */
	char next[4];
	assert_int_equal(read(r.client, next, 4), 4);
	assert_memory_equal(next, "220 ", 4);
	finish(&r, &px);
	assert_int_equal(px.atyp, 1);
	assert_string_equal(px.dst, "192.0.2.25");
	assert_int_equal(px.port, 25);
}

static void test_ipv6_and_domain(void **state)
{
	struct proxy px = {.method = 0, .bnd_atyp = 4};
	struct run r;
	start(&r, &px);
	char why[256] = "";
	assert_int_equal(socks5_connect(r.client, "2001:db8::19", 2525, NULL, NULL, 2000, why,
		sizeof(why)), 0);
	finish(&r, &px);
	assert_int_equal(px.atyp, 4);
	assert_string_equal(px.dst, "v6:2001..19");
	assert_int_equal(px.port, 2525);

	struct proxy pd = {.method = 0, .bnd_atyp = 3};
	start(&r, &pd);
	assert_int_equal(socks5_connect(r.client, "mx.example.net", 25, NULL, NULL, 2000, why,
		sizeof(why)), 0);
	finish(&r, &pd);
	assert_int_equal(pd.atyp, 3);
	assert_string_equal(pd.dst, "mx.example.net");
}

static void test_userpass(void **state)
{
	struct proxy px = {.method = 2, .user = "relay", .password = "s3cret"};
	struct run r;
	start(&r, &px);
	char why[256] = "";
	assert_int_equal(socks5_connect(r.client, "192.0.2.1", 25, "relay", "s3cret", 2000, why,
		sizeof(why)), 0);
	finish(&r, &px);
	assert_true(px.auth_ok);

	struct proxy bad = {.method = 2, .user = "relay", .password = "other"};
	start(&r, &bad);
	assert_int_equal(socks5_connect(r.client, "192.0.2.1", 25, "relay", "s3cret", 2000, why,
		sizeof(why)), -1);
	finish(&r, &bad);
	assert_non_null(strstr(why, "refused the user name and password"));
}

static void test_refusals(void **state)
{
	char why[256] = "";
	struct run r;
	/* §3: X'FF' no acceptable methods */
	struct proxy none = {.method = 0xff};
	start(&r, &none);
	assert_int_equal(socks5_connect(r.client, "192.0.2.1", 25, NULL, NULL, 2000, why,
		sizeof(why)), -1);
	finish(&r, &none);
	assert_non_null(strstr(why, "no offered authentication method"));
	/* §6: connection refused */
	struct proxy refused = {.method = 0, .rep = 5};
	start(&r, &refused);
	assert_int_equal(socks5_connect(r.client, "192.0.2.1", 25, NULL, NULL, 2000, why,
		sizeof(why)), -1);
	finish(&r, &refused);
	assert_string_equal(why, "SOCKS proxy: connection refused (RFC 1928 reply 5)");
	/* a proxy that says nothing: the deadline */
	struct proxy silent = {.silent = true};
	start(&r, &silent);
	assert_int_equal(socks5_connect(r.client, "192.0.2.1", 25, NULL, NULL, 200, why,
		sizeof(why)), -1);
	finish(&r, &silent);
	assert_string_equal(why, "SOCKS proxy: timeout");
	/* bad arguments are refused before anything is sent */
	assert_int_equal(socks5_connect(-1, "192.0.2.1", 0, NULL, NULL, 200, why, sizeof(why)), -1);
	assert_int_equal(socks5_connect(-1, "192.0.2.1", 25, "u", "", 200, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "RFC 1929"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_no_auth),
		cmocka_unit_test(test_ipv6_and_domain),
		cmocka_unit_test(test_userpass),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
