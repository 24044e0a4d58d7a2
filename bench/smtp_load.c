/*
 * smtp_load.c: SMTP load generator for bench/smtp_bench.sh.
 *
 *   smtp_load [-host H] [-port P] [-c CONC] [-s SIZE] [-n COUNT]
 *             [-from ADDR] [-to ADDR[,ADDR...]]... [-ehlo NAME]
 *
 * CONC threads each open one connection to H:P (default 127.0.0.1:25), say
 * EHLO once and then run transactions back to back on it (MAIL FROM, RCPT TO
 * for every -to address, DATA, the message, "."), with no RSET between them,
 * until COUNT messages have been sent in all; then QUIT. Messages are valid
 * RFC 5322 messages of exactly SIZE bytes (Date, From, To, Subject and a
 * unique Message-ID, then a body of lines of at most 78 characters, some of
 * which begin with "." so dot-stuffing is exercised), unless SIZE is smaller
 * than the header, which is then sent with a one-line body.
 *
 * Every reply code is checked (220 greeting, 250 EHLO/MAIL, 250/251 RCPT,
 * 354 DATA, 250 after the data, 221 QUIT). The first unexpected reply stops
 * the run: the command and the server's reply go to stderr and the exit
 * status is 1. Otherwise it prints one line and exits 0:
 *   smtp_load: N messages of S bytes, C connections: T s, R msg/s
 * where T runs from the first connect to the last QUIT reply.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "loadutil.h"

#define MAX_RCPTS 64
#define MAX_THREADS 1024
#define LINE_MAX_LEN 78
#define REPLY_MAX 4096
#define IO_TIMEOUT_S 120

static const char *opt_host = "127.0.0.1";
static const char *opt_port = "25";
static const char *opt_from = "bench@example.test";
static const char *opt_ehlo = "load.example.test";
static const char *rcpts[MAX_RCPTS];
static int nrcpts;
static long opt_conc = 10, opt_size = 4096, opt_count = 2000;

static atomic_long next_msg;   /* messages claimed by threads */
static atomic_long delivered;  /* messages that got 250 after the data */
static char *body;             /* dot-stuffed body in wire form, ends in CRLF */
static size_t body_len;        /* its length as sent */
static size_t body_msg_len;    /* its length in the message (before stuffing) */

struct conn {
	int fd;
	int id;
	char buf[REPLY_MAX];
	size_t len;          /* bytes in buf */
	char reply[REPLY_MAX];
};

static int send_all(struct conn *c, const char *p, size_t n, const char *what)
{
	return load_send(c->fd, c->id, p, n, what);
}

/* Reads one reply, all its lines, into c->reply (lines joined by " | ") and
 * returns its code, or -1 on a broken connection or malformed reply. */
static int read_reply(struct conn *c, const char *cmd)
{
	size_t rlen = 0;
	c->reply[0] = '\0';
	for (;;) {
		char *eol = memchr(c->buf, '\n', c->len);
		if (eol == NULL) {
			if (c->len == sizeof c->buf) {
				load_fail("connection %d: after %s: reply line too long", c->id, cmd);
				return -1;
			}
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				load_fail("connection %d: after %s: %s%s%s", c->id, cmd,
				     r == 0 ? "connection closed by server" :
				     (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out waiting for reply" :
				     strerror(errno),
				     rlen ? "; partial reply: " : "", c->reply);
				return -1;
			}
			c->len += (size_t)r;
			continue;
		}
		size_t n = (size_t)(eol - c->buf) + 1;
		size_t l = n - 1;
		if (l > 0 && c->buf[l - 1] == '\r')
			l--;
		if (rlen > 0 && rlen + 3 < sizeof c->reply) {
			memcpy(c->reply + rlen, " | ", 3);
			rlen += 3;
		}
		size_t cp = l < sizeof c->reply - 1 - rlen ? l : sizeof c->reply - 1 - rlen;
		memcpy(c->reply + rlen, c->buf, cp);
		rlen += cp;
		c->reply[rlen] = '\0';
		bool ok = l >= 3 && c->buf[0] >= '2' && c->buf[0] <= '5' &&
			  c->buf[1] >= '0' && c->buf[1] <= '9' && c->buf[2] >= '0' && c->buf[2] <= '9' &&
			  (l == 3 || c->buf[3] == ' ' || c->buf[3] == '-');
		bool last = l == 3 || (l > 3 && c->buf[3] == ' ');
		int code = ok ? (c->buf[0] - '0') * 100 + (c->buf[1] - '0') * 10 + (c->buf[2] - '0') : -1;
		memmove(c->buf, c->buf + n, c->len - n);
		c->len -= n;
		if (!ok) {
			load_fail("connection %d: after %s: malformed reply: %s", c->id, cmd, c->reply);
			return -1;
		}
		if (last)
			return code;
	}
}

/* Sends a command line (without CRLF) and checks the reply code against
 * want1 or want2 (0: none). */
static int command(struct conn *c, const char *line, int want1, int want2)
{
	char out[1024];
	int n = snprintf(out, sizeof out, "%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof out) {
		load_fail("command too long: %s", line);
		return -1;
	}
	if (send_all(c, out, (size_t)n, line) != 0)
		return -1;
	int code = read_reply(c, line);
	if (code < 0)
		return -1;
	if (code != want1 && code != want2) {
		load_fail("connection %d: unexpected reply to %s: %s", c->id, line, c->reply);
		return -1;
	}
	return 0;
}

/* Writes the header of message seq of connection id into out and returns
 * its length. Every field has a fixed width so all headers are as long. */
static size_t make_header(char *out, size_t cap, int id, long seq)
{
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	int n = snprintf(out, cap,
			 "Date: %s\r\n"
			 "From: <%s>\r\n"
			 "To: <%s>%s\r\n"
			 "Subject: smtp_load message %04d.%010ld\r\n"
			 "Message-ID: <%08lx.%04d.%010ld@%s>\r\n"
			 "\r\n",
			 date, opt_from, rcpts[0], nrcpts > 1 ? ", undisclosed-recipients:;" : "",
			 id, seq, (unsigned long)getpid() & 0xffffffffUL, id, seq, opt_ehlo);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "smtp_load: header too long\n");
		exit(2);
	}
	return (size_t)n;
}

/* Builds the body so that header + body is opt_size bytes: lines of at most
 * 78 characters plus CRLF; every 16th line starts with "." (and a line of
 * just "." appears too), which the wire form doubles. */
static void make_body(size_t header_len)
{
	size_t want = opt_size > (long)header_len + 2 ? (size_t)opt_size - header_len : 2;
	char *msg = malloc(want + 1);
	if (msg == NULL)
		abort();
	static const char text[] = "The quick brown fox jumps over the lazy dog; pack my box with "
				   "five dozen liquor jugs. ";
	size_t pos = 0;
	long line = 0;
	while (pos < want) {
		size_t left = want - pos;    /* bytes still to fill, CRLF included */
		size_t len = LINE_MAX_LEN;   /* line text length */
		if (left < 2)
			break;
		if (left - 2 <= LINE_MAX_LEN)
			len = left - 2;
		else if (left - 2 - LINE_MAX_LEN < 2)
			len = LINE_MAX_LEN - 2; /* leave room for a last line */
		for (size_t i = 0; i < len; i++)
			msg[pos + i] = text[(line * 7 + (long)i) % (long)(sizeof text - 1)];
		if (len >= 1 && (line == 3 || line % 16 == 5))
			msg[pos] = '.';
		if (len >= 1 && line == 3)
			len = 1; /* a line of just "." */
		pos += len;
		msg[pos++] = '\r';
		msg[pos++] = '\n';
		line++;
	}
	/* A tail of fewer than 2 bytes cannot be a line; pad the last line. */
	while (pos < want) {
		memmove(msg + pos - 1, msg + pos - 2, 2);
		msg[pos - 2] = 'x';
		pos++;
	}
	body_msg_len = pos;
	/* Wire form: a "." at the start of a line is doubled. */
	body = malloc(2 * pos + 1);
	if (body == NULL)
		abort();
	size_t w = 0;
	bool bol = true;
	for (size_t i = 0; i < pos; i++) {
		if (bol && msg[i] == '.')
			body[w++] = '.';
		body[w++] = msg[i];
		bol = msg[i] == '\n';
	}
	body_len = w;
	free(msg);
}

static void *worker(void *p)
{
	struct conn *c = p;
	char line[1200];
	char hdr[2048];
	char *data = NULL;
	c->fd = -1;
	c->fd = load_connect(c->id, IO_TIMEOUT_S);
	if (c->fd < 0)
		goto out;
	int code = read_reply(c, "the greeting");
	if (code < 0)
		goto out;
	if (code != 220) {
		load_fail("connection %d: unexpected greeting: %s", c->id, c->reply);
		goto out;
	}
	snprintf(line, sizeof line, "EHLO %s", opt_ehlo);
	if (command(c, line, 250, 0) != 0)
		goto out;
	data = malloc(sizeof hdr + body_len + 3);
	if (data == NULL)
		abort();
	while (!atomic_load(&load_stop)) {
		long seq = atomic_fetch_add(&next_msg, 1);
		if (seq >= opt_count)
			break;
		snprintf(line, sizeof line, "MAIL FROM:<%s>", opt_from);
		if (command(c, line, 250, 0) != 0)
			goto out;
		for (int i = 0; i < nrcpts; i++) {
			snprintf(line, sizeof line, "RCPT TO:<%s>", rcpts[i]);
			if (command(c, line, 250, 251) != 0)
				goto out;
		}
		if (command(c, "DATA", 354, 0) != 0)
			goto out;
		/* Header, body and the final "." in one write. */
		size_t n = make_header(data, sizeof hdr, c->id, seq);
		memcpy(data + n, body, body_len);
		n += body_len;
		memcpy(data + n, ".\r\n", 3);
		n += 3;
		if (send_all(c, data, n, "the message data") != 0)
			goto out;
		code = read_reply(c, "the message data");
		if (code < 0)
			goto out;
		if (code != 250) {
			load_fail("connection %d: unexpected reply to the end of data (message %ld): %s",
			     c->id, seq, c->reply);
			goto out;
		}
		atomic_fetch_add(&delivered, 1);
	}
	if (!atomic_load(&load_stop))
		command(c, "QUIT", 221, 0);
out:
	free(data);
	if (c->fd >= 0)
		close(c->fd);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: smtp_load [-host H] [-port P] [-c CONCURRENCY] [-s SIZE] [-n COUNT]\n"
			"                 [-from ADDR] [-to ADDR[,ADDR...]]... [-ehlo NAME]\n");
	exit(2);
}

static void add_rcpts(char *list)
{
	char *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		if (*t == '\0')
			continue;
		if (nrcpts == MAX_RCPTS) {
			fprintf(stderr, "smtp_load: more than %d recipients\n", MAX_RCPTS);
			exit(2);
		}
		rcpts[nrcpts++] = t;
	}
}

static void check_addr(const char *what, const char *a)
{
	if (strlen(a) > 256 || strpbrk(a, "<>\r\n ") != NULL) {
		fprintf(stderr, "smtp_load: bad %s address: %s\n", what, a);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	load_name = "smtp_load";
	const struct load_flag flags[] = {
		LOAD_STR("-host", &opt_host), LOAD_STR("-port", &opt_port),
		LOAD_STR("-from", &opt_from), LOAD_STR("-ehlo", &opt_ehlo),
		LOAD_NUM("-c", &opt_conc, 1), LOAD_NUM("-s", &opt_size, 1), LOAD_NUM("-n", &opt_count, 1),
		LOAD_FN("-to", add_rcpts),
	};
	if (!load_flags(argc, argv, 1, flags, sizeof(flags) / sizeof(flags[0])))
		usage();
	if (nrcpts == 0)
		rcpts[nrcpts++] = "bench@example.test";
	if (opt_conc > MAX_THREADS)
		opt_conc = MAX_THREADS;
	if (opt_conc > opt_count)
		opt_conc = opt_count;
	check_addr("-from", opt_from);
	for (int i = 0; i < nrcpts; i++)
		check_addr("-to", rcpts[i]);
	if (strlen(opt_ehlo) > 255 || strpbrk(opt_ehlo, "\r\n ") != NULL || *opt_ehlo == '\0') {
		fprintf(stderr, "smtp_load: bad -ehlo name\n");
		return 2;
	}

	if (load_resolve(opt_host, opt_port) != 0)
		return 1;

	char hdr[2048];
	make_body(make_header(hdr, sizeof hdr, 0, 0));

	struct conn *conns = calloc((size_t)opt_conc, sizeof *conns);
	pthread_t *tids = calloc((size_t)opt_conc, sizeof *tids);
	if (conns == NULL || tids == NULL)
		abort();
	double start = load_now();
	long started = 0;
	for (long i = 0; i < opt_conc; i++) {
		conns[i].id = (int)i;
		if (pthread_create(&tids[i], NULL, worker, &conns[i]) != 0) {
			load_fail("cannot start thread %ld", i);
			break;
		}
		started++;
	}
	for (long i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double secs = load_now() - start;
	freeaddrinfo(load_target);
	free(conns);
	free(tids);
	free(body);

	long done = atomic_load(&delivered);
	size_t msg_size = strlen(hdr) + body_msg_len;
	if (atomic_load(&load_stop) || done != opt_count) {
		fprintf(stderr, "smtp_load: failed after %ld of %ld messages (%.2f s)\n", done, opt_count,
			secs);
		return 1;
	}
	printf("smtp_load: %ld messages of %zu bytes, %ld connections: %.2f s, %.1f msg/s\n", done,
	       msg_size, opt_conc, secs, (double)done / secs);
	return 0;
}
