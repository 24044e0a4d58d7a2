/*
 * tls_test.c: unit tests for tls.c and the TLS side of conn.c: self-signed
 * certificates, loading errors, SNI selection (RFC 6066 §3), verification,
 * implicit TLS and STARTTLS in both directions (RFC 3207) including the
 * command injection case (§4.2), stalls during and after the handshake, and
 * the tls-exporter channel binding (RFC 9266).
 *
 * Each test runs a real handshake over a socketpair, the server side in a
 * thread. Certificates are made by tls_selfsigned_write in a temporary
 * directory.
 */
#include "core/conn.h"
#include "core/tls.h"

#include "core/error.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zlib.h>

/* Certificates made once for all tests. */
enum { CERT_MAIL, CERT_OTHER, CERT_WILD, CERT_EXACT, CERT_COUNT };
static const char *const cert_names[CERT_COUNT] = {
	"mail.example.org", "other.example.net", "*.wild.example.com", "exact.wild.example.com",
};

struct fixture {
	char dir[64];
	char cert[CERT_COUNT][128];
	char key[CERT_COUNT][128];
	X509 *x509[CERT_COUNT];
	char garbage[128];
};
static struct fixture fx;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static int setup_certs(void **state)
{
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/tern-tls-test-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	for (int i = 0; i < CERT_COUNT; i++) {
		snprintf(fx.cert[i], sizeof(fx.cert[i]), "%s/cert%d.pem", fx.dir, i);
		snprintf(fx.key[i], sizeof(fx.key[i]), "%s/key%d.pem", fx.dir, i);
		struct error e;
		const char *names[] = { cert_names[i] };
		if (tls_selfsigned_write(names, 1, fx.cert[i], fx.key[i], &e) < 0) {
			fprintf(stderr, "setup: %s\n", e.msg);
			return -1;
		}
		fx.x509[i] = read_cert(fx.cert[i]);
		if (fx.x509[i] == NULL)
			return -1;
	}
	snprintf(fx.garbage, sizeof(fx.garbage), "%s/garbage.pem", fx.dir);
	FILE *f = fopen(fx.garbage, "w");
	if (f == NULL)
		return -1;
	fputs("this is not a certificate\n", f);
	fclose(f);
	return 0;
}

static int teardown_certs(void **state)
{
	for (int i = 0; i < CERT_COUNT; i++) {
		X509_free(fx.x509[i]);
		unlink(fx.cert[i]);
		unlink(fx.key[i]);
	}
	unlink(fx.garbage);
	rmdir(fx.dir);
	return 0;
}

static struct tls_server *server_new(enum tls_min_version v)
{
	/* CERT_MAIL is the default; the wildcard comes before the exact name to
	 * show that an exact match wins over an earlier wildcard. */
	const struct tls_cert_files pairs[] = {
		{ fx.cert[CERT_MAIL], fx.key[CERT_MAIL] },
		{ fx.cert[CERT_WILD], fx.key[CERT_WILD] },
		{ fx.cert[CERT_EXACT], fx.key[CERT_EXACT] },
		{ fx.cert[CERT_OTHER], fx.key[CERT_OTHER] },
	};
	struct error e;
	struct tls_server *s = tls_server_new(pairs, 4, v, &e);
	if (s == NULL)
		fail_msg("tls_server_new: %s", e.msg);
	return s;
}

static struct tls_client *client_new(enum tls_verify verify, const char *ca_file)
{
	struct tls_client_opts o = { .verify = verify, .ca_file = ca_file };
	struct error e;
	struct tls_client *c = tls_client_new(&o, &e);
	if (c == NULL)
		fail_msg("tls_client_new: %s", e.msg);
	return c;
}

static struct conn *conn_on(int fd, unsigned idle_ms)
{
	struct error e;
	struct conn *c = conn_new(fd, 512, &e);
	assert_non_null(c);
	conn_set_idle_timeout(c, idle_ms);
	return c;
}

/*
 * The server side, run in a thread: TLS (implicit or STARTTLS), then read
 * one line and answer it.
 */
struct server_job {
	int fd;
	struct tls_server *tls;
	bool starttls;
	unsigned idle_ms;
	/* results */
	int rc;
	struct error e;
	int64_t took_ms;
	char line[128];
	char sni[128];
	char version[32];
	unsigned char cb[TLS_EXPORTER_LEN];
	struct conn_stats stats;
	pthread_t thread;
};

static int server_upgrade(struct conn *c, struct server_job *j)
{
	if (!j->starttls)
		return conn_tls_accept(c, j->tls, &j->e);
	struct conn_line line;
	if (conn_read_line(c, &line, &j->e) < 0)
		return -1;
	if (strcmp(line.data, "STARTTLS") != 0)
		return error_set(&j->e, ERR_INVALID, "expected STARTTLS, got %s", line.data);
	if (conn_printf(c, &j->e, "220 2.0.0 ready\r\n") < 0 || conn_flush(c, &j->e) < 0)
		return -1;
	return conn_starttls_server(c, j->tls, &j->e);
}

static int server_talk(struct conn *c, struct server_job *j)
{
	struct tls_desc d;
	assert_true(conn_tls_describe(c, &d));
	snprintf(j->version, sizeof(j->version), "%s", d.version);
	const char *sni = conn_tls_sni(c);
	snprintf(j->sni, sizeof(j->sni), "%s", sni != NULL ? sni : "");
	if (conn_tls_exporter(c, j->cb, &j->e) < 0)
		return -1;
	struct conn_line line;
	if (conn_read_line(c, &line, &j->e) < 0)
		return -1;
	snprintf(j->line, sizeof(j->line), "%s", line.data);
	if (conn_printf(c, &j->e, "250 %s\r\n", line.data) < 0)
		return -1;
	return conn_flush(c, &j->e);
}

static void *server_run(void *arg)
{
	struct server_job *j = arg;
	struct conn *c = conn_on(j->fd, j->idle_ms);
	int64_t t0 = now_ms();
	j->rc = server_upgrade(c, j);
	if (j->rc == 0)
		j->rc = server_talk(c, j);
	j->took_ms = now_ms() - t0;
	conn_stats(c, &j->stats);
	conn_free(&c);
	return NULL;
}

/* Starts a server thread on one end of a new socketpair; returns the other. */
static int server_start(struct server_job *j, struct tls_server *tls, bool starttls)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	j->fd = sv[0];
	j->tls = tls;
	j->starttls = starttls;
	if (j->idle_ms == 0)
		j->idle_ms = 2000;
	assert_int_equal(pthread_create(&j->thread, NULL, server_run, j), 0);
	return sv[1];
}

static void server_join(struct server_job *j)
{
	assert_int_equal(pthread_join(j->thread, NULL), 0);
}

/* The client side: one command over TLS, checking the answer. */
static void client_talk(struct conn *c, const char *cmd)
{
	struct error e;
	assert_int_equal(conn_printf(c, &e, "%s\r\n", cmd), 0);
	assert_int_equal(conn_flush(c, &e), 0);
	struct conn_line line;
	if (conn_read_line(c, &line, &e) < 0)
		fail_msg("client read: %s", e.msg);
	char want[160];
	snprintf(want, sizeof(want), "250 %s", cmd);
	assert_string_equal(line.data, want);
}

/*
 * Tests.
 */

static void test_selfsigned(void **state)
{
	struct stat st;
	assert_int_equal(stat(fx.key[CERT_MAIL], &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	X509 *x = fx.x509[CERT_MAIL];
	assert_int_equal(X509_check_host(x, "mail.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "MAIL.Example.ORG", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other.example.org", 0, 0, NULL), 0);
	time_t in9y = time(NULL) + (time_t)9 * 365 * 86400;
	assert_true(X509_cmp_time(X509_get0_notAfter(x), &in9y) > 0);
	assert_true(X509_cmp_time(X509_get0_notBefore(x), NULL) < 0);
	EVP_PKEY *pub = X509_get0_pubkey(x);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	assert_int_equal(X509_verify(x, pub), 1);  /* self-signed */
	assert_int_not_equal(X509_cmp(fx.x509[CERT_MAIL], fx.x509[CERT_OTHER]), 0);

	/* Several names, one of them an IP address. */
	char cert[160], key[160];
	snprintf(cert, sizeof(cert), "%s/multi.pem", fx.dir);
	snprintf(key, sizeof(key), "%s/multi.key", fx.dir);
	const char *names[] = { "localhost", "mail.localhost", "127.0.0.1" };
	struct error e;
	assert_int_equal(tls_selfsigned_write(names, 3, cert, key, &e), 0);
	X509 *m = read_cert(cert);
	assert_non_null(m);
	assert_int_equal(X509_check_host(m, "mail.localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(m, "127.0.0.1", 0), 1);
	X509_free(m);
	unlink(cert);
	unlink(key);

	const char *bad[] = { "bad name,DNS:evil.example" };
	assert_int_equal(tls_selfsigned_write(bad, 1, cert, key, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(tls_selfsigned_write(names, 1, "/nonexistent/dir/c.pem",
		"/nonexistent/dir/k.pem", &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/dir/k.pem"));
}

static void expect_server_error(const struct tls_cert_files *pairs, size_t n,
	const char *needle1, const char *needle2)
{
	struct error e;
	assert_null(tls_server_new(pairs, n, TLS_MIN_V1_2, &e));
	if (strstr(e.msg, needle1) == NULL || (needle2 != NULL && strstr(e.msg, needle2) == NULL))
		fail_msg("unexpected message: %s", e.msg);
}

static void test_bad_files(void **state)
{
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/missing.pem", fx.dir);
	struct tls_cert_files p = { missing, fx.key[CERT_MAIL] };
	expect_server_error(&p, 1, missing, "cannot open");
	p = (struct tls_cert_files){ fx.garbage, fx.key[CERT_MAIL] };
	expect_server_error(&p, 1, fx.garbage, NULL);
	p = (struct tls_cert_files){ fx.cert[CERT_MAIL], missing };
	expect_server_error(&p, 1, missing, "TLS key");
	p = (struct tls_cert_files){ fx.cert[CERT_MAIL], fx.garbage };
	expect_server_error(&p, 1, fx.garbage, "TLS key");
	/* A key that does not belong to its certificate, in the second pair. */
	struct tls_cert_files two[] = {
		{ fx.cert[CERT_MAIL], fx.key[CERT_MAIL] },
		{ fx.cert[CERT_MAIL], fx.key[CERT_OTHER] },
	};
	expect_server_error(two, 2, "does not match", fx.key[CERT_OTHER]);
	expect_server_error(two, 0, "want 1 to", NULL);

	struct tls_client_opts o = { .verify = TLS_VERIFY_CAFILE, .ca_file = missing };
	struct error e;
	assert_null(tls_client_new(&o, &e));
	assert_non_null(strstr(e.msg, missing));
	o.ca_file = NULL;
	assert_null(tls_client_new(&o, &e));
	assert_int_equal(e.kind, ERR_INVALID);
}

/* Implicit TLS with a verified certificate; both ends agree on the channel binding. */
static void test_implicit_tls(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cli = client_new(TLS_VERIFY_CAFILE, fx.cert[CERT_MAIL]);
	struct server_job j = { 0 };
	int fd = server_start(&j, srv, false);
	struct conn *c = conn_on(fd, 2000);
	struct error e;
	if (conn_tls_connect(c, cli, "mail.example.org", &e) < 0)
		fail_msg("connect: %s", e.msg);
	assert_true(conn_tls_active(c));
	client_talk(c, "EHLO client.example");
	unsigned char cb[TLS_EXPORTER_LEN];
	assert_int_equal(conn_tls_exporter(c, cb, &e), 0);
	struct tls_desc d;
	assert_true(conn_tls_describe(c, &d));
	assert_string_equal(d.version, "TLSv1.3");
	assert_non_null(d.cipher);
	server_join(&j);
	if (j.rc < 0)
		fail_msg("server: %s", j.e.msg);
	assert_string_equal(j.line, "EHLO client.example");
	assert_string_equal(j.sni, "mail.example.org");
	assert_memory_equal(cb, j.cb, TLS_EXPORTER_LEN);
	unsigned char zero[TLS_EXPORTER_LEN] = { 0 };
	assert_memory_not_equal(cb, zero, TLS_EXPORTER_LEN);
	struct conn_stats st;
	conn_stats(c, &st);
	assert_int_equal(st.bytes_out, strlen("EHLO client.example\r\n"));
	conn_free(&c);
	tls_client_free(&cli);
	tls_server_free(&srv);
	assert_null(srv);
}

/* RFC 3207: plain text first, then the upgrade on both sides. */
static void test_starttls(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cli = client_new(TLS_VERIFY_CAFILE, fx.cert[CERT_OTHER]);
	struct server_job j = { 0 };
	int fd = server_start(&j, srv, true);
	struct conn *c = conn_on(fd, 2000);
	struct error e;
	assert_int_equal(conn_printf(c, &e, "STARTTLS\r\n"), 0);
	assert_int_equal(conn_flush(c, &e), 0);
	struct conn_line line;
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_string_equal(line.data, "220 2.0.0 ready");
	assert_false(conn_tls_active(c));
	if (conn_starttls_client(c, cli, "other.example.net", &e) < 0)
		fail_msg("starttls: %s", e.msg);
	assert_true(conn_tls_active(c));
	client_talk(c, "EHLO after.example");
	server_join(&j);
	if (j.rc < 0)
		fail_msg("server: %s", j.e.msg);
	assert_string_equal(j.line, "EHLO after.example");
	assert_string_equal(j.sni, "other.example.net");
	conn_free(&c);
	tls_client_free(&cli);
	tls_server_free(&srv);
}

/* RFC 3207 §4.2, CVE-2011-0411: "STARTTLS\r\nNOOP\r\n" in one packet. */
static void test_starttls_injection(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct conn *c = conn_on(sv[0], 2000);
	assert_int_equal(send(sv[1], "STARTTLS\r\nNOOP\r\n", 16, 0), 16);
	struct conn_line line;
	struct error e;
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_string_equal(line.data, "STARTTLS");
	assert_int_equal(conn_in_pending(c), 6);
	assert_int_equal(conn_starttls_server(c, srv, &e), -1);
	assert_int_equal(e.kind, ERR_REFUSED);
	assert_non_null(strstr(e.msg, "6 bytes of plain text"));
	assert_int_equal(conn_in_pending(c), 0);  /* discarded, never read as TLS input */
	assert_false(conn_tls_active(c));
	conn_free(&c);
	close(sv[1]);

	/* The same from a server injecting after its 220 reply. */
	struct tls_client *cli = client_new(TLS_VERIFY_NONE, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = conn_on(sv[0], 2000);
	assert_int_equal(send(sv[1], "220 go\r\n250 fake\r\n", 18, 0), 18);
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_int_equal(conn_starttls_client(c, cli, "mail.example.org", &e), -1);
	assert_int_equal(e.kind, ERR_REFUSED);
	conn_free(&c);
	close(sv[1]);
	tls_client_free(&cli);
	tls_server_free(&srv);
}

/* Connects with SNI host (NULL: none) and returns which fixture cert came back. */
static int sni_probe(struct tls_server *srv, struct tls_client *cli, const char *host,
	char *sni_r, size_t sni_size)
{
	struct server_job j = { 0 };
	int fd = server_start(&j, srv, false);
	struct conn *c = conn_on(fd, 2000);
	struct error e;
	if (conn_tls_connect(c, cli, host, &e) < 0)
		fail_msg("connect to %s: %s", host ? host : "(no SNI)", e.msg);
	X509 *peer = SSL_get0_peer_certificate(conn_ssl(c));
	assert_non_null(peer);
	int which = -1;
	for (int i = 0; i < CERT_COUNT; i++)
		if (X509_cmp(peer, fx.x509[i]) == 0)
			which = i;
	client_talk(c, "NOOP");
	server_join(&j);
	if (j.rc < 0)
		fail_msg("server: %s", j.e.msg);
	snprintf(sni_r, sni_size, "%s", j.sni);
	conn_free(&c);
	return which;
}

static void test_sni(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cli = client_new(TLS_VERIFY_NONE, NULL);
	static const struct { const char *host; int cert; } cases[] = {
		{ "mail.example.org", CERT_MAIL },
		{ "other.example.net", CERT_OTHER },
		{ "OTHER.Example.NET", CERT_OTHER },         /* case-insensitive */
		{ "a.wild.example.com", CERT_WILD },
		{ "exact.wild.example.com", CERT_EXACT },    /* exact beats an earlier wildcard */
		{ "b.a.wild.example.com", CERT_MAIL },       /* a wildcard is one label */
		{ "wild.example.com", CERT_MAIL },
		{ "unknown.example", CERT_MAIL },            /* the default */
		{ NULL, CERT_MAIL },                         /* no SNI: the default */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char sni[128];
		int got = sni_probe(srv, cli, cases[i].host, sni, sizeof(sni));
		if (got != cases[i].cert)
			fail_msg("%s: got cert %d, want %d", cases[i].host ? cases[i].host : "(none)",
				got, cases[i].cert);
		assert_string_equal(sni, cases[i].host ? cases[i].host : "");
	}
	tls_client_free(&cli);
	tls_server_free(&srv);
}

static void test_verify_failures(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cafile = client_new(TLS_VERIFY_CAFILE, fx.cert[CERT_MAIL]);
	struct tls_client *system = client_new(TLS_VERIFY_SYSTEM, NULL);
	struct {
		struct tls_client *cli;
		const char *host;
		const char *reason;
	} cases[] = {
		{ cafile, "wrong.example.org", "hostname mismatch" },
		{ system, "mail.example.org", "self-signed" },
	};
	for (size_t i = 0; i < 2; i++) {
		struct server_job j = { 0 };
		int fd = server_start(&j, srv, false);
		struct conn *c = conn_on(fd, 2000);
		struct error e;
		assert_int_equal(conn_tls_connect(c, cases[i].cli, cases[i].host, &e), -1);
		assert_int_equal(e.kind, ERR_TLS);
		if (strstr(e.msg, "certificate verification failed") == NULL ||
		    strstr(e.msg, cases[i].reason) == NULL)
			fail_msg("unexpected message: %s", e.msg);
		assert_false(conn_tls_active(c));
		/* The conn is unusable afterwards, and says so. */
		assert_int_equal(conn_write(c, "x", 1, &e), 0);
		assert_int_equal(conn_flush(c, &e), -1);
		conn_free(&c);
		server_join(&j);
		assert_int_equal(j.rc, -1);
	}
	struct error e;
	assert_null(tls_client_ssl_new(cafile, NULL, &e));  /* verifying needs a name */
	assert_int_equal(e.kind, ERR_INVALID);
	tls_client_free(&cafile);
	tls_client_free(&system);
	tls_server_free(&srv);
}

/* Handshake done, then half a line and nothing more. */
static void test_stall_after_handshake(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cli = client_new(TLS_VERIFY_NONE, NULL);
	struct server_job j = { .idle_ms = 200 };
	int fd = server_start(&j, srv, false);
	struct conn *c = conn_on(fd, 2000);
	struct error e;
	assert_int_equal(conn_tls_connect(c, cli, "mail.example.org", &e), 0);
	assert_int_equal(conn_write(c, "HELO ha", 7, &e), 0);
	assert_int_equal(conn_flush(c, &e), 0);
	server_join(&j);  /* the client stays connected and silent meanwhile */
	assert_int_equal(j.rc, -1);
	assert_int_equal(j.e.kind, ERR_TIMEOUT);
	assert_string_equal(j.e.msg, "read line timed out after 200 ms");
	assert_true(j.took_ms >= 195 && j.took_ms < 1500);
	conn_free(&c);
	tls_client_free(&cli);
	tls_server_free(&srv);
}

/* A TLS client that sends 4 MB without a line end: the server's line read
 * fails with a clear error and its buffer stays within line_max + one read. */
static void test_overlong_line_over_tls(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cli = client_new(TLS_VERIFY_NONE, NULL);
	struct server_job j = { .idle_ms = 5000 };
	int fd = server_start(&j, srv, false);
	struct conn *c = conn_on(fd, 5000);
	struct error e;
	assert_int_equal(conn_tls_connect(c, cli, "mail.example.org", &e), 0);
	static char chunk[65536];
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 64; i++)
		if (conn_write(c, chunk, sizeof(chunk), &e) < 0)
			break;  /* the server may hang up before all is sent */
	conn_flush(c, &e);
	server_join(&j);
	assert_int_equal(j.rc, -1);
	assert_int_equal(j.e.kind, ERR_LIMIT);
	assert_string_equal(j.e.msg, "line too long: more than 512 bytes");
	assert_true(j.stats.in_buf_peak <= j.stats.in_buf_bound);
	assert_int_equal(j.stats.in_buf_bound, 512 + CONN_READ_CHUNK);
	conn_free(&c);
	tls_client_free(&cli);
	tls_server_free(&srv);
}

/* A client that starts a TLS record and stops; a server that never answers. */
static void test_stall_during_handshake(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct conn *c = conn_on(sv[0], 200);
	assert_int_equal(send(sv[1], "\x16\x03\x01\x01\x00", 5, 0), 5);  /* a ClientHello header */
	struct error e;
	int64_t t0 = now_ms();
	assert_int_equal(conn_tls_accept(c, srv, &e), -1);
	int64_t took = now_ms() - t0;
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_string_equal(e.msg, "TLS handshake timed out after 200 ms");
	assert_true(took >= 195 && took < 1000);
	conn_free(&c);
	close(sv[1]);

	struct tls_client *cli = client_new(TLS_VERIFY_NONE, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = conn_on(sv[0], 200);
	t0 = now_ms();
	assert_int_equal(conn_tls_connect(c, cli, "mail.example.org", &e), -1);
	took = now_ms() - t0;
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_true(took >= 195 && took < 1000);
	conn_free(&c);
	close(sv[1]);
	tls_client_free(&cli);
	tls_server_free(&srv);
}

/* The peer closes after the handshake: with close_notify, and without. */
static void test_tls_peer_close(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	struct tls_client *cli = client_new(TLS_VERIFY_NONE, NULL);
	for (int abrupt = 0; abrupt < 2; abrupt++) {
		struct server_job j = { 0 };
		int fd = server_start(&j, srv, false);
		struct conn *c = conn_on(fd, 2000);
		struct error e;
		assert_int_equal(conn_tls_connect(c, cli, "mail.example.org", &e), 0);
		if (abrupt)
			shutdown(conn_fd(c), SHUT_RDWR);
		conn_free(&c);
		server_join(&j);
		assert_int_equal(j.rc, -1);
		if (j.e.kind != ERR_CLOSED)
			fail_msg("abrupt=%d: %s", abrupt, j.e.msg);
	}
	tls_client_free(&cli);
	tls_server_free(&srv);
}

/* A TLS 1.2 peer (OpenSSL directly, blocking): the version floor holds, and
 * the tls-exporter agrees with the peer's own computation (RFC 9266 §2). */
struct raw_client {
	int fd;
	bool ok;
	unsigned char cb[TLS_EXPORTER_LEN];
	pthread_t thread;
};

static void *raw_client_run(void *arg)
{
	struct raw_client *r = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, r->fd);
	static const char label[] = "EXPORTER-Channel-Binding";
	r->ok = SSL_connect(ssl) == 1 &&
		SSL_export_keying_material(ssl, r->cb, sizeof(r->cb), label, sizeof(label) - 1,
			(const unsigned char *)"", 0, 1) == 1;
	if (r->ok)
		SSL_write(ssl, "NOOP\r\n", 6);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

static void test_tls12_peer(void **state)
{
	for (int floor = 0; floor < 2; floor++) {
		struct tls_server *srv = server_new(floor ? TLS_MIN_V1_3 : TLS_MIN_V1_2);
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		struct raw_client r = { .fd = sv[1] };
		assert_int_equal(pthread_create(&r.thread, NULL, raw_client_run, &r), 0);
		struct conn *c = conn_on(sv[0], 2000);
		struct error e;
		int rc = conn_tls_accept(c, srv, &e);
		if (floor) {
			assert_int_equal(rc, -1);
			assert_int_equal(e.kind, ERR_TLS);
		} else {
			if (rc < 0)
				fail_msg("accept: %s", e.msg);
			struct tls_desc d;
			assert_true(conn_tls_describe(c, &d));
			assert_string_equal(d.version, "TLSv1.2");
			unsigned char cb[TLS_EXPORTER_LEN];
			assert_int_equal(conn_tls_exporter(c, cb, &e), 0);
			struct conn_line line;
			assert_int_equal(conn_read_line(c, &line, &e), 0);
			assert_string_equal(line.data, "NOOP");
			assert_int_equal(pthread_join(r.thread, NULL), 0);
			assert_true(r.ok);
			assert_memory_equal(cb, r.cb, TLS_EXPORTER_LEN);
		}
		conn_free(&c);
		if (floor)
			assert_int_equal(pthread_join(r.thread, NULL), 0);
		close(sv[1]);
		tls_server_free(&srv);
	}
}

/* n bytes as one raw DEFLATE burst (RFC 1951, sync-flushed) into out. */
static size_t deflate_burst(const char *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)n;
	z.next_out = out;
	z.avail_out = (unsigned)cap;
	assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(z.avail_in, 0);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	return len;
}

/* RFC 3207 §4.2 with COMPRESS (RFC 4978) on: a command pipelined after
 * STARTTLS that is still compressed, not yet inflated into the line
 * buffer, is refused all the same. The STARTTLS line ends exactly where the
 * first inflated chunk (CONN_READ_CHUNK bytes) does. */
static void test_starttls_injection_compressed(void **state)
{
	struct tls_server *srv = server_new(TLS_MIN_V1_2);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct error e;
	struct conn *c = conn_new(sv[0], 8192, &e);
	assert_non_null(c);
	conn_set_idle_timeout(c, 2000);
	assert_int_equal(conn_compress_start(c, &e), 0);
	char plain[CONN_READ_CHUNK + 16];
	memset(plain, 'x', CONN_READ_CHUNK);
	memcpy(plain + CONN_READ_CHUNK - 12, "\r\nSTARTTLS\r\n", 12);
	memcpy(plain + CONN_READ_CHUNK, "NOOP\r\n", 6);
	unsigned char wire[8192];
	size_t n = deflate_burst(plain, CONN_READ_CHUNK + 6, wire, sizeof(wire));
	assert_int_equal(send(sv[1], wire, n, 0), (ssize_t)n);
	struct conn_line line;
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_int_equal(line.len, CONN_READ_CHUNK - 12);
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_string_equal(line.data, "STARTTLS");
	assert_int_equal(conn_in_pending(c), 0);
	assert_true(conn_in_buffered(c));
	assert_int_equal(conn_starttls_server(c, srv, &e), -1);
	assert_int_equal(e.kind, ERR_REFUSED);
	assert_false(conn_in_buffered(c));  /* discarded, never read as TLS input */
	assert_false(conn_tls_active(c));
	conn_free(&c);
	close(sv[1]);
	tls_server_free(&srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selfsigned),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_injection_compressed),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_verify_failures),
		cmocka_unit_test(test_stall_after_handshake),
		cmocka_unit_test(test_stall_during_handshake),
		cmocka_unit_test(test_overlong_line_over_tls),
		cmocka_unit_test(test_tls_peer_close),
		cmocka_unit_test(test_tls12_peer),
	};
	return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
