/*
 * session_test.c: the IMAP session end to end over a socketpair: a server
 * thread runs imapsrv_session_run on one end, the test speaks IMAP on the
 * other (with TLS through src/core's client where needed): greeting and
 * capabilities, LOGINDISABLED, STARTTLS, SCRAM-SHA-256-PLUS with the
 * tls-exporter binding (RFC 9266), the plaintext-login setting, tighter
 * limits before login, timeouts, SELECT's answers and shutdown.
 */
#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "core/base64.h"
#include "core/conn.h"
#include "core/error.h"
#include "core/tls.h"
#include "sasl/sasl.h"
#include "store/store.h"

#include <pthread.h>
#include <poll.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define PASSWORD "correct horse"

struct fixture {
	char dir[64];
	char cert[96], key[96];
	struct imapsrv_settings set;
	struct tls_server *tls;
	struct tls_client *tlsc;
	struct sasl_credentials creds;
	int cancel[2];
	int server_fd;
	pthread_t thread;
	bool running;
	bool parking;                /* the server parks IDLE as the services do */
	_Atomic int parks;           /* how often it parked */
	struct conn *c;              /* the client's end */
};

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	struct fixture *f = ctx;
	if (strcmp(username, "alice") != 0 && strcmp(username, "alice@example.test") != 0)
		return 0;
	*creds_r = f->creds;
	return 1;
}

static bool login_account(void *ctx, const char *login, char *out, size_t size)
{
	if (strcmp(login, "alice") != 0 && strcmp(login, "alice@example.test") != 0)
		return false;
	snprintf(out, size, "alice");
	return true;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error e;
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/tern-imapsession-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cert, sizeof(f->cert), "%s/c.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/k.pem", f->dir);
	const char *names[] = {"mail.example.test"};
	assert_int_equal(tls_selfsigned_write(names, 1, f->cert, f->key, &e), 0);
	struct tls_cert_files pair = {f->cert, f->key};
	f->tls = tls_server_new(&pair, 1, TLS_MIN_V1_2, &e);
	assert_non_null(f->tls);
	struct tls_client_opts co = {.verify = TLS_VERIFY_NONE};
	f->tlsc = tls_client_new(&co, &e);
	assert_non_null(f->tlsc);
	assert_int_equal(sasl_credentials_derive(PASSWORD, strlen(PASSWORD),
	                                         SASL_CRED_ARGON2 | SASL_CRED_SCRAM_SHA256,
	                                         &f->creds, &e), 0);
	f->set = (struct imapsrv_settings){
		.hostname = "mail.example.test", .version = "test", .data_dir = f->dir,
		.tls = f->tls, .auth_lookup = lookup, .login_account = login_account, .login_ctx = f,
	};
	imap_limits_default(&f->set.limits);
	assert_int_equal(pipe(f->cancel), 0);
	*state = f;
	return 0;
}

/* What the listener does for a parked session, in the same thread: wait
 * for its descriptors, its time or the cancel pipe, then continue it. */
static void run_parking(struct fixture *f, struct conn *c)
{
	struct imapsrv_session *s = imapsrv_session_new(c, NULL, f->cancel[0], &f->set);
	enum imapsrv_wake why = IMAPSRV_WAKE_START;
	struct imapsrv_park park;
	while (imapsrv_session_continue(s, why, &park) == 1) {
		f->parks++;
		assert_int_equal(park.nfds, 2);
		struct pollfd p[3] = {{.fd = park.fds[0], .events = POLLIN},
		                      {.fd = park.fds[1], .events = POLLIN},
		                      {.fd = f->cancel[0], .events = POLLIN}};
		int r = poll(p, 3, (int)park.timeout_ms);
		why = r == 0 ? IMAPSRV_WAKE_TIMEOUT : p[2].revents != 0 ? IMAPSRV_WAKE_STOP
		                                                         : IMAPSRV_WAKE_READY;
	}
	imapsrv_session_free(&s);
}

static void *server_main(void *arg)
{
	struct fixture *f = arg;
	struct error e;
	struct conn *c = conn_new(f->server_fd, IMAP_LINE_MAX_DEFAULT, &e);
	if (c != NULL && f->parking)
		run_parking(f, c);
	else if (c != NULL)
		imapsrv_session_run(c, NULL, f->cancel[0], &f->set);
	conn_free(&c);
	return NULL;
}

/* Starts the session with the settings as they are now. */
static void start(struct fixture *f)
{
	int sv[2];
	struct error e;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->server_fd = sv[0];
	f->c = conn_new(sv[1], 65536, &e);
	assert_non_null(f->c);
	conn_set_idle_timeout(f->c, 10000);
	assert_int_equal(pthread_create(&f->thread, NULL, server_main, f), 0);
	f->running = true;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	conn_free(&f->c);
	if (f->running)
		pthread_join(f->thread, NULL);
	close(f->cancel[0]);
	close(f->cancel[1]);
	tls_server_free(&f->tls);
	tls_client_free(&f->tlsc);
	sasl_credentials_clear(&f->creds);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void sendf(struct fixture *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sendf(struct fixture *f, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	struct error e;
	assert_int_equal(conn_write(f->c, line, strlen(line), &e), 0);
	assert_int_equal(conn_write(f->c, "\r\n", 2, &e), 0);
	assert_int_equal(conn_flush(f->c, &e), 0);
}

/* The next line, without CRLF, in a static buffer. */
static const char *line(struct fixture *f)
{
	static char text[65536];
	struct conn_line l;
	struct error e;
	if (conn_read_line(f->c, &l, &e) != 0)
		fail_msg("reading a line: %s", e.msg);
	snprintf(text, sizeof(text), "%s", l.data);
	return text;
}

static void expect(struct fixture *f, const char *want)
{
	assert_string_equal(line(f), want);
}

static bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word))
		if ((p == text || p[-1] == ' ' || p[-1] == '[') &&
		    (p[n] == ' ' || p[n] == ']' || p[n] == '\0'))
			return true;
	return false;
}

static void closed(struct fixture *f)
{
	struct conn_line l;
	struct error e;
	assert_int_not_equal(conn_read_line(f->c, &l, &e), 0);
	assert_int_equal(e.kind, ERR_CLOSED);
}

static void starttls(struct fixture *f)
{
	struct error e;
	sendf(f, "t STARTTLS");
	expect(f, "t OK Begin TLS negotiation now");
	assert_int_equal(conn_tls_connect(f->c, f->tlsc, NULL, &e), 0);
}

/* RFC 9051 §7.1.1 greeting; §6.2.3 LOGINDISABLED before TLS. */
static void test_greeting_and_logindisabled(void **state)
{
	struct fixture *f = *state;
	start(f);
	const char *g = line(f);
	assert_true(strncmp(g, "* OK [CAPABILITY IMAP4rev2 IMAP4rev1 ", 37) == 0);
	assert_true(has_word(g, "STARTTLS"));
	assert_true(has_word(g, "LOGINDISABLED"));
	assert_false(has_word(g, "AUTH=PLAIN"));
	assert_true(has_word(g, "AUTH=SCRAM-SHA-256"));
	assert_false(has_word(g, "AUTH=SCRAM-SHA-256-PLUS"));
	assert_true(strstr(g, "] tern ready") != NULL);
	sendf(f, "a LOGIN alice \"" PASSWORD "\"");
	expect(f, "a NO [PRIVACYREQUIRED] LOGIN needs TLS: use STARTTLS first");
	starttls(f);
	sendf(f, "c CAPABILITY");
	const char *caps = line(f);
	assert_false(has_word(caps, "STARTTLS"));
	assert_false(has_word(caps, "LOGINDISABLED"));
	assert_true(has_word(caps, "AUTH=PLAIN"));
	assert_true(has_word(caps, "AUTH=SCRAM-SHA-256-PLUS"));
	expect(f, "c OK CAPABILITY completed");
	sendf(f, "a LOGIN alice \"" PASSWORD "\"");
	const char *ok = line(f);
	assert_true(strncmp(ok, "a OK [CAPABILITY ", 17) == 0);
	assert_true(has_word(ok, "COMPRESS=DEFLATE"));
	assert_false(has_word(ok, "AUTH=PLAIN"));
	sendf(f, "z LOGOUT");
	expect(f, "* BYE mail.example.test logging out");
	expect(f, "z OK LOGOUT completed");
	closed(f);
}

/* Sends one SASL message as an AUTHENTICATE continuation answer. */
static void send_b64(struct fixture *f, const unsigned char *p, size_t n)
{
	char b64[BASE64_ENCODED_LEN(SASL_MSG_MAX) + 1];
	b64[base64_encode(b64, p, n)] = '\0';
	sendf(f, "%s", b64);
}

/* Runs SCRAM-SHA-256-PLUS with binding cb; returns the tagged line. */
static const char *scram_plus(struct fixture *f, const unsigned char *cb)
{
	struct sasl_client_opts o = {.username = "alice", .password = PASSWORD, .cb_exporter = cb};
	struct sasl_client *sc = sasl_client_new("SCRAM-SHA-256-PLUS", &o);
	assert_non_null(sc);
	const unsigned char *out;
	size_t outlen;
	bool done;
	assert_int_equal(sasl_client_step(sc, NULL, 0, &out, &outlen, &done), 0);
	char b64[BASE64_ENCODED_LEN(SASL_MSG_MAX) + 1];
	b64[base64_encode(b64, out, outlen)] = '\0';
	sendf(f, "p AUTHENTICATE SCRAM-SHA-256-PLUS %s", b64);  /* SASL-IR, RFC 4959 */
	const char *l;
	while ((l = line(f))[0] == '+') {
		unsigned char in[SASL_MSG_MAX];
		long n = base64_decode(in, sizeof(in), l + 2, strlen(l + 2));
		assert_true(n >= 0);
		if (done) {
			sendf(f, "%s", "");
			continue;
		}
		if (sasl_client_step(sc, in, (size_t)n, &out, &outlen, &done) != 0) {
			sendf(f, "*");
			continue;
		}
		if (done && outlen == 0)
			sendf(f, "%s", "");
		else
			send_b64(f, out, outlen);
	}
	sasl_client_free(&sc);
	return l;
}

/* RFC 5802 §6, RFC 9266: SCRAM-PLUS binds to the TLS session. */
static void test_scram_plus(void **state)
{
	struct fixture *f = *state;
	struct error e;
	start(f);
	line(f);
	starttls(f);
	unsigned char cb[TLS_EXPORTER_LEN];
	assert_int_equal(conn_tls_exporter(f->c, cb, &e), 0);
	unsigned char wrong[TLS_EXPORTER_LEN];
	memcpy(wrong, cb, sizeof(wrong));
	wrong[0] ^= 1;
	assert_string_equal(scram_plus(f, wrong), "p NO [AUTHENTICATIONFAILED] invalid credentials");
	const char *ok = scram_plus(f, cb);
	assert_true(strncmp(ok, "p OK [CAPABILITY ", 17) == 0);
	assert_true(strstr(ok, "] AUTHENTICATE completed") != NULL);
}

/* localserve: plaintext logins on loopback, no LOGINDISABLED. */
static void test_plaintext_login_setting(void **state)
{
	struct fixture *f = *state;
	f->set.plaintext_login = true;
	start(f);
	const char *g = line(f);
	assert_false(has_word(g, "LOGINDISABLED"));
	assert_true(has_word(g, "AUTH=PLAIN"));
	sendf(f, "a LOGIN alice@example.test \"" PASSWORD "\"");
	assert_true(strncmp(line(f), "a OK [CAPABILITY ", 17) == 0);
}

/* Before login a command is at most 64 KiB: a larger literal is refused
 * before the client sends it (no "+"), and the session goes on. */
static void test_preauth_limits(void **state)
{
	struct fixture *f = *state;
	f->set.plaintext_login = true;
	start(f);
	line(f);
	sendf(f, "a LOGIN alice {70000}");
	const char *l = line(f);
	assert_true(strncmp(l, "a BAD [TOOBIG] ", 15) == 0);
	sendf(f, "b NOOP");
	expect(f, "b OK NOOP completed");
	sendf(f, "c LOGIN alice {13}");
	expect(f, "+ Ready");
	sendf(f, PASSWORD);
	assert_true(strncmp(line(f), "c OK [CAPABILITY ", 17) == 0);
}

/* RFC 9051 §5.4: an idle session is logged out with BYE. */
static void test_preauth_timeout(void **state)
{
	struct fixture *f = *state;
	f->set.preauth_idle_ms = 200;
	start(f);
	line(f);
	expect(f, "* BYE autologout: idle for too long");
	closed(f);
}

/* The server's shutdown reaches a session waiting for a command. */
static void test_shutdown_bye(void **state)
{
	struct fixture *f = *state;
	start(f);
	line(f);
	assert_int_equal(write(f->cancel[1], "x", 1), 1);
	expect(f, "* BYE server shutting down");
	closed(f);
}

static void deliver(struct fixture *f, unsigned flags)
{
	struct store_account *acct;
	struct error e;
	assert_int_equal(store_open(f->dir, "alice", &acct, &e), 0);
	static const char msg[] = "From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n";
	struct store_delivery d = {.mailbox = "Inbox", .flags = flags};
	struct store_delivered res;
	assert_int_equal(store_deliver(acct, &d, msg, sizeof(msg) - 1, &res, &e), 0);
	store_close(&acct);
}

/* RFC 3501 §6.3.1 (rev1) answers of SELECT; RFC 9051 §6.3.2 for rev2 with
 * CONDSTORE. */
/* Sends cmd and returns the RECENT count among its answers (-1: none), up
 * to the tagged line, which must be OK. */
static long recent_of(struct fixture *f, const char *cmd)
{
	long n = -1;
	sendf(f, "t %s", cmd);
	for (;;) {
		const char *l = line(f);
		if (strncmp(l, "t ", 2) == 0) {
			assert_true(strncmp(l, "t OK", 4) == 0);
			return n;
		}
		const char *r = strstr(l, " RECENT");
		if (strncmp(l, "* ", 2) == 0 && r != NULL && strcmp(r, " RECENT") == 0)
			n = strtol(l + 2, NULL, 10);
		else if ((r = strstr(l, "(RECENT ")) != NULL)
			n = strtol(r + 8, NULL, 10);
	}
}

/* RFC 3501 §2.3.2: recent in one session only, the first told; EXAMINE
 * and STATUS look without taking it (§6.3.2, §6.3.10). */
static void test_recent_once(void **state)
{
	struct fixture *f = *state;
	f->set.plaintext_login = true;
	deliver(f, 0);
	deliver(f, 0);
	start(f);
	line(f);
	sendf(f, "a LOGIN alice \"" PASSWORD "\"");
	line(f);
	assert_int_equal(recent_of(f, "STATUS INBOX (RECENT)"), 2);
	assert_int_equal(recent_of(f, "EXAMINE INBOX"), 2);
	assert_int_equal(recent_of(f, "FETCH 1 FLAGS"), -1);
	assert_int_equal(recent_of(f, "STATUS INBOX (RECENT)"), 2);
	assert_int_equal(recent_of(f, "SELECT INBOX"), 2);
	assert_int_equal(recent_of(f, "STATUS INBOX (RECENT)"), 2);
	assert_int_equal(recent_of(f, "SEARCH RECENT"), -1);
	deliver(f, 0);
	assert_int_equal(recent_of(f, "NOOP"), 3);
	assert_int_equal(recent_of(f, "SELECT INBOX"), 0);
	assert_int_equal(recent_of(f, "STATUS INBOX (RECENT)"), 0);
	deliver(f, 0);
	assert_int_equal(recent_of(f, "EXAMINE INBOX"), 1);
	assert_int_equal(recent_of(f, "SELECT INBOX"), 1);
	assert_int_equal(recent_of(f, "EXAMINE INBOX"), 0);
}

/* RFC 9051 §7.1.4: a connection authenticated already is greeted PREAUTH
 * and goes straight to the authenticated state. */
static void test_preauth_greeting(void **state)
{
	struct fixture *f = *state;
	deliver(f, 0);
	f->set.preauth_account = "alice";
	start(f);
	const char *g = line(f);
	assert_true(strncmp(g, "* PREAUTH [CAPABILITY IMAP4rev2 IMAP4rev1 ", 42) == 0);
	assert_false(has_word(g, "AUTH=PLAIN"));
	assert_true(has_word(g, "COMPRESS=DEFLATE"));
	sendf(f, "l LOGIN alice x");
	expect(f, "l BAD already authenticated");
	assert_int_equal(recent_of(f, "SELECT INBOX"), 1);
	sendf(f, "o LOGOUT");
	expect(f, "* BYE mail.example.test logging out");
	expect(f, "o OK LOGOUT completed");
}

static void test_select_answers(void **state)
{
	struct fixture *f = *state;
	f->set.plaintext_login = true;
	deliver(f, STORE_FLAG_SEEN);
	deliver(f, 0);
	deliver(f, 0);
	start(f);
	line(f);
	sendf(f, "a LOGIN alice \"" PASSWORD "\"");
	line(f);
	sendf(f, "s SELECT inbox");
	expect(f, "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)");
	expect(f, "* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft \\*)] "
	          "flags permitted");
	expect(f, "* 3 EXISTS");
	expect(f, "* 3 RECENT");  /* the first session to see them */
	expect(f, "* OK [UNSEEN 2] first unseen message");
	const char *l = line(f);
	assert_true(strncmp(l, "* OK [UIDVALIDITY ", 18) == 0);
	expect(f, "* OK [UIDNEXT 4] predicted next UID");
	expect(f, "s OK [READ-WRITE] SELECT completed");
	deliver(f, 0);
	sendf(f, "n NOOP");
	expect(f, "* 4 EXISTS");
	expect(f, "* 4 RECENT");
	expect(f, "n OK NOOP completed");
	sendf(f, "u UNSELECT");
	expect(f, "u OK UNSELECT completed");
	sendf(f, "e ENABLE IMAP4rev2");
	expect(f, "* ENABLED IMAP4rev2");
	expect(f, "e OK ENABLE completed");
	sendf(f, "x EXAMINE INBOX (CONDSTORE)");
	expect(f, "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)");
	expect(f, "* OK [PERMANENTFLAGS ()] read-only mailbox");
	expect(f, "* 4 EXISTS");
	expect(f, "* LIST () \"/\" INBOX");
	line(f);  /* UIDVALIDITY */
	expect(f, "* OK [UIDNEXT 5] predicted next UID");
	assert_true(strncmp(line(f), "* OK [HIGHESTMODSEQ ", 20) == 0);
	expect(f, "x OK [READ-ONLY] EXAMINE completed");
	sendf(f, "y SELECT Nonexistent");
	expect(f, "* OK [CLOSED] previous mailbox closed");
	expect(f, "y NO [NONEXISTENT] no such mailbox");
	sendf(f, "z CLOSE");
	expect(f, "z BAD no mailbox selected: SELECT or EXAMINE one first");
}

/* IDLE parked as the services park it (RFC 2177): a change and DONE wake
 * it, its time ends it with BYE (RFC 9051 §5.4), and so does shutdown. */
static void wait_parks(struct fixture *f, int n)
{
	for (int i = 0; i < 500 && f->parks < n; i++)
		usleep(10000);
	assert_int_equal(f->parks, n);
}

static void test_idle_parked(void **state)
{
	struct fixture *f = *state;
	f->set.plaintext_login = true;
	f->parking = true;
	deliver(f, 0);
	start(f);
	line(f);
	sendf(f, "a LOGIN alice \"" PASSWORD "\"");
	line(f);
	assert_int_equal(recent_of(f, "SELECT INBOX"), 1);
	sendf(f, "i IDLE");
	expect(f, "+ idling");
	wait_parks(f, 1);
	deliver(f, 0);
	expect(f, "* 2 EXISTS");
	expect(f, "* 2 RECENT");
	wait_parks(f, 2);
	sendf(f, "DONE");
	expect(f, "i OK IDLE terminated");
	sendf(f, "j IDLE");  /* DONE at once: answered without parking again */
	expect(f, "+ idling");
	sendf(f, "DONE");
	expect(f, "j OK IDLE terminated");
	sendf(f, "k IDLE");
	expect(f, "+ idling");
	sendf(f, "NOT DONE");
	expect(f, "k BAD expected DONE to end IDLE");
	sendf(f, "n NOOP");
	expect(f, "n OK NOOP completed");
	sendf(f, "l IDLE");
	expect(f, "+ idling");
	assert_int_equal(write(f->cancel[1], "x", 1), 1);
	expect(f, "* BYE server shutting down");
	closed(f);
}

static void test_idle_parked_timeout(void **state)
{
	struct fixture *f = *state;
	f->set.plaintext_login = true;
	f->set.idle_cmd_ms = 300;
	f->parking = true;
	start(f);
	line(f);
	sendf(f, "a LOGIN alice \"" PASSWORD "\"");
	line(f);
	sendf(f, "i IDLE");  /* no mailbox selected: IDLE waits all the same */
	expect(f, "+ idling");
	expect(f, "* BYE autologout: idle for too long");
	closed(f);
	assert_true(f->parks >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting_and_logindisabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_plus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_login_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preauth_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preauth_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_bye, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preauth_greeting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_parked_timeout, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
