/*
 * fuzz_imap_session.c: libFuzzer target for a whole IMAP server session
 * (src/imapserver) with no network: the input is what a client sends,
 * through one end of a socketpair; a thread writes it and reads the
 * responses. The session starts PREAUTH (RFC 9051 §7.1.4) as an account
 * made once per process in a temporary data directory, with messages in
 * INBOX and Archive, so inputs reach SELECT, FETCH, STORE, SEARCH, APPEND,
 * COPY, MOVE, EXPUNGE, IDLE... at once. The store is made again every
 * FUZZ_STORE_RUNS inputs so that what the inputs append and delete does
 * not pile up.
 *
 * Checks, besides the sanitizers: the responses are well-formed lines:
 * every line ends in CRLF, no bare CR or LF and no NUL outside literals,
 * and a line ending in a literal announcement "{N}" (or "~{N}") is followed
 * by exactly N bytes before the line goes on. After "tag OK DEFLATE
 * active" (COMPRESS, RFC 4978) the responses are inflated and checked the
 * same way.
 */
#include "imapserver/imapserver.h"

#include "core/conn.h"
#include "core/error.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#define FUZZ_ACCOUNT "fuzz"
#define FUZZ_STORE_RUNS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static const char *const messages[] = {
	("From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: hello\r\n"
	 "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\n"
	 "Hello Bob,\r\nhow are you?\r\n"),
	("From: bob@example.test\r\nTo: alice@example.test\r\nSubject: Re: hello\r\n"
	 "In-Reply-To: <1@example.test>\r\nMessage-ID: <2@example.test>\r\n"
	 "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	 "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfine, th\xc3\xa4nks\r\n"
	 "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
	 "\r\nAAECAwQFBgcICQ==\r\n--b--\r\n"),
	("Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: message/rfc822\r\n\r\n"
	 "Subject: inner\r\nFrom: c@example.test\r\n\r\ninner body\r\n"),
};

static char data_dir[64];
static unsigned runs;

static void store_make(void)
{
	if (data_dir[0] != '\0') {
		char cmd[96];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
		check(system(cmd) == 0);
	}
	snprintf(data_dir, sizeof(data_dir), "/tmp/tern-fuzz-imap-XXXXXX");
	check(mkdtemp(data_dir) != NULL);
	struct store_account *acct;
	struct error e;
	check(store_open(data_dir, FUZZ_ACCOUNT, &acct, &e) == 0);
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		struct store_delivery d = {
			.mailbox = i == 2 ? "Archive" : "Inbox",
			.flags = i == 0 ? STORE_FLAG_SEEN : 0,
			.keywords = i == 1 ? "$Work" : NULL,
		};
		struct store_delivered res;
		check(store_deliver(acct, &d, messages[i], strlen(messages[i]), &res, &e) == 0);
	}
	store_close(&acct);
}

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	return 0;
}

static bool login_account(void *ctx, const char *login, char *out, size_t size)
{
	return false;
}

/* The response checker: a state machine over the bytes as they come. */
struct lines {
	uint64_t literal;            /* bytes of a literal still to come */
	char tail[24];               /* the end of the current line */
	size_t tail_len;
	bool cr;                     /* the last byte was CR */
	bool deflate;                /* the line that starts COMPRESS was seen */
};

static bool ends_with(const struct lines *l, const char *s)
{
	size_t n = strlen(s);
	return l->tail_len >= n && memcmp(l->tail + l->tail_len - n, s, n) == 0;
}

/* The size announced by a line that ends in "{N}" (tail without CRLF), or -1. */
static int64_t announced(const struct lines *l)
{
	size_t n = l->tail_len;
	if (n < 3 || l->tail[n - 1] != '}')
		return -1;
	size_t i = n - 1;
	while (i > 0 && l->tail[i - 1] >= '0' && l->tail[i - 1] <= '9')
		i--;
	if (i == 0 || i == n - 1 || l->tail[i - 1] != '{' || n - 1 - i > 19)
		return -1;
	return strtoll(l->tail + i, NULL, 10);
}

/* Checks n bytes; returns how many were plain text (the rest, after the
 * line that starts COMPRESS, is compressed). */
static size_t lines_feed(struct lines *l, const char *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (l->deflate)
			return k;
		if (l->literal > 0) {
			l->literal--;
			continue;
		}
		char c = p[k];
		if (l->cr) {
			check(c == '\n');  /* no bare CR */
			int64_t lit = announced(l);
			if (lit > 0)
				l->literal = (uint64_t)lit;
			l->deflate = ends_with(l, " OK DEFLATE active");
			l->cr = false;
			l->tail_len = 0;
			continue;
		}
		check(c != '\n' && c != '\0');  /* no bare LF, no NUL in a line */
		if (c == '\r') {
			l->cr = true;
			continue;
		}
		if (l->tail_len == sizeof(l->tail)) {
			memmove(l->tail, l->tail + 1, sizeof(l->tail) - 1);
			l->tail_len--;
		}
		l->tail[l->tail_len++] = c;
	}
	return n;
}

struct feeder {
	int fd;
	const uint8_t *data;
	size_t size;
	struct lines lines;
};

/* Sends the input, then reads and checks the responses until the session
 * closes. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	size_t off = 0;
	while (off < f->size) {
		ssize_t n = send(f->fd, f->data + off, f->size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(f->fd, SHUT_WR);
	char buf[16384], out[16384];
	ssize_t n;
	z_stream z = {0};
	bool inflating = false;
	while ((n = read(f->fd, buf, sizeof(buf))) > 0) {
		size_t plain = inflating ? 0 : lines_feed(&f->lines, buf, (size_t)n);
		if (plain == (size_t)n)
			continue;
		if (!inflating) {
			check(inflateInit2(&z, -15) == Z_OK);  /* RFC 4978 §4: raw DEFLATE */
			inflating = true;
		}
		z.next_in = (unsigned char *)buf + plain;
		z.avail_in = (unsigned)((size_t)n - plain);
		do {  /* until the input is used and inflate holds nothing more */
			z.next_out = (unsigned char *)out;
			z.avail_out = sizeof(out);
			int zr = inflate(&z, Z_SYNC_FLUSH);
			check(zr == Z_OK || zr == Z_BUF_ERROR);
			f->lines.deflate = false;
			lines_feed(&f->lines, out, sizeof(out) - z.avail_out);
			check(!f->lines.deflate);  /* COMPRESS once only */
			if (zr == Z_BUF_ERROR)
				break;
		} while (z.avail_in > 0 || z.avail_out == 0);
	}
	if (inflating)
		inflateEnd(&z);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (runs++ % FUZZ_STORE_RUNS == 0)
		store_make();
	int sv[2];
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct feeder f = {.fd = sv[1], .data = data, .size = size};
	pthread_t t;
	check(pthread_create(&t, NULL, feed, &f) == 0);
	struct imapsrv_settings set = {
		.hostname = "mail.example.test",
		.version = "fuzz",
		.data_dir = data_dir,
		.plaintext_login = true,
		.idle_ms = 2000,
		.preauth_idle_ms = 2000,
		.idle_cmd_ms = 2000,
		.auth_lookup = lookup,
		.login_account = login_account,
		.preauth_account = FUZZ_ACCOUNT,
	};
	imap_limits_default(&set.limits);
	set.limits.append_max = 65536;
	set.limits.append_total_max = 262144;
	struct error e;
	struct conn *c = conn_new(sv[0], IMAP_LINE_MAX_DEFAULT, &e);
	check(c != NULL);
	imapsrv_session_run(c, NULL, -1, &set);
	conn_free(&c);
	pthread_join(t, NULL);
	close(sv[1]);
	/* the session ended: the responses ended on a whole line */
	check(f.lines.literal == 0 && !f.lines.cr && f.lines.tail_len == 0);
	return 0;
}
