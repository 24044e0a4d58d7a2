/*
 * imap_load.c: IMAP load generator and test-mailbox writer for
 * bench/imap_bench.sh. Plain TCP (no TLS), LOGIN with user and password.
 *
 *   imap_load gen -msgs N [-seed S] -mbox FILE -maildir DIR
 *   imap_load fetchall [conn] [-c C] [-rounds R]
 *   imap_load body     [conn] [-c C] [-n COUNT]
 *   imap_load search   [conn] [-c C] [-n COUNT] -kind from|subject|body|since
 *   imap_load idle     [conn] [-idle N] [-inflight P] [-hold SECS] [-setup SECS]
 *                      [-ready FILE]
 *     conn: [-host H] [-port P] [-user U] [-pass W] [-msgs N] [-seed S]
 *
 * gen writes the same N messages (fixed seed: 2-50 KiB, a quarter of them
 * multipart) as one mbox (LF line ends, "From " lines carrying the internal
 * date) and as maildir files (DIR/cur, LF line ends, Dovecot's ",S=,W="
 * sizes in the names, mtime = internal date). Every message has a sender
 * token "sNNNx" (200 senders), a subject token "qNNNq" (500), a body token
 * "zNNNNz" (1000) in its text part, and an internal date at 12:00-12:23 UTC
 * of day i/24 after 2024-01-01. The load modes regenerate the same
 * messages from -msgs and -seed, so they know what every answer must hold.
 *
 * Load modes log in once per connection (not timed), SELECT INBOX and check
 * that it EXISTS with -msgs messages, then time the work:
 *   fetchall: each of C connections runs R rounds of SELECT INBOX and
 *     FETCH 1:* (FLAGS ENVELOPE); every round must return one FETCH per
 *     message.
 *   body: COUNT fetches in all of UID FETCH u BODY.PEEK[] for random u;
 *     each must return one literal of the message's size (CRLF form).
 *   search: COUNT searches of one kind with random terms (SEARCH FROM sNNNx,
 *     SUBJECT qNNNq, BODY zNNNNz, SINCE d-Mon-yyyy); result counts that
 *     differ from the generated mailbox are counted and reported.
 *   idle: N connections (epoll, at most P logging in at once) log in,
 *     SELECT INBOX and IDLE. Once all idle, prints "idle: ready" and creates
 *     the -ready file, holds them until SIGTERM/SIGUSR1 or -hold seconds,
 *     then ends IDLE and logs out; connections the server dropped are counted.
 *     Not all idle within -setup seconds (default 1800) is a failure.
 *
 * Responses are parsed as IMAP (RFC 9051 §2.2, §4.3): a response goes on
 * past lines ending in a literal {n} or {n+}, whose n bytes are counted, not
 * scanned for line ends. Every tagged reply must be OK; the first failure
 * stops the run with the command and the reply on stderr, exit status 1.
 * Success prints one line of key=value figures, exit status 0.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "loadutil.h"

#define MAX_THREADS 256
#define RBUF_SIZE (256 * 1024)
#define RESP_MAX (64u * 1024 * 1024)
#define IO_TIMEOUT_S 300
#define SENDERS 200
#define SUBJECTS 500
#define BODY_TOKENS 1000
#define MSG_PER_DAY 24
#define BASE_DATE 1704110400L /* 2024-01-01 12:00:00 UTC */
#define MSG_MIN 2048
#define MSG_MAX (50 * 1024)

static const char *opt_host = "127.0.0.1";
static const char *opt_port = "143";
static const char *opt_user = "bench";
static const char *opt_pass = "bench";
static const char *opt_mbox, *opt_maildir, *opt_kind = "from", *opt_ready;
static long opt_conc = 4, opt_rounds = 5, opt_count = 2000, opt_msgs = 10000, opt_seed = 1;
/* Logins in flight at once: each costs the server a password hash, and
 * servers throttle logins per address. */
static long opt_idle = 5000, opt_inflight = 8, opt_hold = 30, opt_setup = 1800;


static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL) {
		fprintf(stderr, "imap_load: out of memory\n");
		exit(2);
	}
	return p;
}

/* ---- the generated mailbox ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t msg_rng(long i)
{
	uint64_t s = (uint64_t)opt_seed * 0x100000001B3ULL + (uint64_t)i * 0x9E3779B97F4A7C15ULL;
	splitmix(&s);
	return s;
}

/* What the load modes need to know of message i (0-based, UID i+1). */
struct msg_meta {
	unsigned sender, subject, token;
	time_t date;
	size_t crlf_size;   /* as IMAP sends it: BODY[] and RFC822.SIZE */
};

static const char *const words[] = {
	"account", "balance", "meeting", "project", "report", "summary", "quarter", "budget",
	"review", "planning", "schedule", "office", "window", "garden", "river", "mountain",
	"coffee", "paper", "letter", "number", "system", "network", "server", "client",
	"message", "delivery", "storage", "archive", "folder", "picture", "travel", "weather",
	"morning", "evening", "weekend", "holiday", "ticket", "invoice", "payment", "order",
	"the", "and", "for", "with", "from", "about", "into", "over", "after", "before",
	"green", "blue", "quick", "slow", "bright", "quiet", "early", "late", "simple", "clear",
	"question", "answer", "reason", "result",
};
#define NWORDS (sizeof words / sizeof words[0])

struct out {
	char *p;
	size_t len, cap;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		while (o->len + n + 1 > o->cap)
			o->cap = o->cap ? o->cap * 2 : 65536;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL) {
			fprintf(stderr, "imap_load: out of memory\n");
			exit(2);
		}
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		abort();
	out_put(o, tmp, (size_t)n);
}

/* Text lines of words (at most 72 characters each) until about n bytes;
 * with a token, it is on the second line. */
static void gen_text(struct out *o, uint64_t *r, size_t n, const char *token)
{
	size_t start = o->len;
	int line = 0;
	while (o->len - start < n) {
		size_t col = 0;
		if (line == 1 && token != NULL) {
			out_printf(o, "%s", token);
			col = strlen(token);
		}
		for (;;) {
			const char *w = words[splitmix(r) % NWORDS];
			size_t wl = strlen(w);
			if (col + wl + 1 > 72)
				break;
			if (col > 0)
				out_put(o, " ", 1);
			out_put(o, w, wl);
			col += wl + (col > 0);
		}
		out_put(o, ".\n", 2);
		line++;
	}
}

static void gen_base64(struct out *o, uint64_t *r, size_t raw)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t groups = (raw + 2) / 3;
	for (size_t g = 0; g < groups; g++) {
		uint64_t v = splitmix(r);
		char q[4] = {b64[v & 63], b64[(v >> 6) & 63], b64[(v >> 12) & 63], b64[(v >> 18) & 63]};
		out_put(o, q, 4);
		if ((g + 1) % 19 == 0 || g + 1 == groups)
			out_put(o, "\n", 1);
	}
}

/* Message i in LF form into o (reset first); fills m. */
static void gen_message(long i, struct out *o, struct msg_meta *m)
{
	uint64_t r = msg_rng(i);
	o->len = 0;
	m->sender = (unsigned)(splitmix(&r) % SENDERS);
	m->subject = (unsigned)(splitmix(&r) % SUBJECTS);
	m->token = (unsigned)(splitmix(&r) % BODY_TOKENS);
	size_t size = MSG_MIN + splitmix(&r) % (MSG_MAX - MSG_MIN + 1);
	unsigned kind = (unsigned)(splitmix(&r) % 8); /* 0: mixed, 1: alternative, else plain */
	m->date = BASE_DATE + (time_t)(i / MSG_PER_DAY) * 86400 + (time_t)(i % MSG_PER_DAY) * 60;
	struct tm tm;
	gmtime_r(&m->date, &tm);
	char date[64], token[16];
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(token, sizeof token, "z%04uz", m->token);
	out_printf(o, "Date: %s\n", date);
	out_printf(o, "From: Sender %03u <s%03ux@senders.example>\n", m->sender, m->sender);
	out_printf(o, "To: Bench User <bench@example.test>\n");
	out_printf(o, "Subject: Report q%03uq about %s and %s\n", m->subject,
		   words[splitmix(&r) % NWORDS], words[splitmix(&r) % NWORDS]);
	out_printf(o, "Message-ID: <%ld.%ld@bench.example.test>\n", i, opt_seed);
	out_printf(o, "MIME-Version: 1.0\n");
	size_t left = size > o->len + 400 ? size - o->len - 400 : 200;
	if (kind == 0) {
		out_printf(o, "Content-Type: multipart/mixed; boundary=\"=b%ld\"\n\n", i);
		out_printf(o, "This is a multi-part message in MIME format.\n\n--=b%ld\n", i);
		out_printf(o, "Content-Type: text/plain; charset=us-ascii\n\n");
		gen_text(o, &r, left / 2, token);
		out_printf(o, "\n--=b%ld\nContent-Type: application/octet-stream; name=\"data%ld.bin\"\n"
			   "Content-Transfer-Encoding: base64\n"
			   "Content-Disposition: attachment; filename=\"data%ld.bin\"\n\n", i, i, i);
		gen_base64(o, &r, left / 2 * 3 / 4);
		out_printf(o, "\n--=b%ld--\n", i);
	} else if (kind == 1) {
		out_printf(o, "Content-Type: multipart/alternative; boundary=\"=a%ld\"\n\n", i);
		out_printf(o, "--=a%ld\nContent-Type: text/plain; charset=us-ascii\n\n", i);
		uint64_t r2 = r;
		gen_text(o, &r, left / 2, token);
		out_printf(o, "\n--=a%ld\nContent-Type: text/html; charset=us-ascii\n\n"
			   "<html><body><p>\n", i);
		gen_text(o, &r2, left / 2, token);
		out_printf(o, "</p></body></html>\n\n--=a%ld--\n", i);
	} else {
		out_printf(o, "Content-Type: text/plain; charset=us-ascii\n\n");
		gen_text(o, &r, left, token);
	}
	size_t lines = 0;
	for (size_t k = 0; k < o->len; k++)
		lines += o->p[k] == '\n';
	m->crlf_size = o->len + lines;
}

static struct msg_meta *meta;

static void load_meta(void)
{
	struct out o = {0};
	meta = xmalloc((size_t)opt_msgs * sizeof *meta);
	for (long i = 0; i < opt_msgs; i++)
		gen_message(i, &o, &meta[i]);
	free(o.p);
}

static int write_file(const char *path, const char *p, size_t n, time_t mtime)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "imap_load: writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct timeval tv[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	return utimes(path, tv);
}

static int cmd_gen(void)
{
	if (opt_mbox == NULL || opt_maildir == NULL) {
		fprintf(stderr, "imap_load gen: -mbox and -maildir are needed\n");
		return 2;
	}
	char path[4096];
	const char *sub[] = {"", "/cur", "/new", "/tmp"};
	for (int k = 0; k < 4; k++) {
		snprintf(path, sizeof path, "%s%s", opt_maildir, sub[k]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "imap_load: mkdir %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	FILE *mb = fopen(opt_mbox, "w");
	if (mb == NULL) {
		fprintf(stderr, "imap_load: %s: %s\n", opt_mbox, strerror(errno));
		return 1;
	}
	struct out o = {0};
	struct msg_meta m;
	size_t total = 0;
	for (long i = 0; i < opt_msgs; i++) {
		gen_message(i, &o, &m);
		char from[128];
		struct tm tm;
		gmtime_r(&m.date, &tm);
		strftime(from, sizeof from, "From bench@example.test %a %b %e %H:%M:%S %Y\n", &tm);
		fputs(from, mb);
		fwrite(o.p, 1, o.len, mb);
		fputc('\n', mb);
		/* Dovecot's maildir names: time, unique part, sizes (S= as
		 * stored, W= with CRLF), info. New files sort by time, so UIDs
		 * follow i as in the mbox. */
		snprintf(path, sizeof path, "%s/cur/%ld.M%ldP%ld.bench,S=%zu,W=%zu:2,", opt_maildir,
			 (long)m.date, i, opt_seed, o.len, m.crlf_size);
		if (write_file(path, o.p, o.len, m.date) != 0)
			return 1;
		total += m.crlf_size;
	}
	free(o.p);
	if (fclose(mb) != 0) {
		fprintf(stderr, "imap_load: %s: %s\n", opt_mbox, strerror(errno));
		return 1;
	}
	printf("imap_load gen: msgs=%ld bytes=%zu\n", opt_msgs, total);
	return 0;
}

/* ---- a blocking IMAP client connection ---- */

struct client {
	int fd, id;
	unsigned tagn;
	char *rbuf;
	size_t roff, rlen;
	struct out resp;      /* the current response without literal contents */
	size_t lit_bytes;     /* literal bytes in it */
	unsigned lits;        /* literals in it */
	char last_cmd[256];
};

static int fill(struct client *c)
{
	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			load_fail("connection %d: after %s: %s", c->id, c->last_cmd,
			     r == 0 ? "connection closed by server" :
			     (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out waiting for a response" :
			     strerror(errno));
			return -1;
		}
		c->rlen += (size_t)r;
		return 0;
	}
}

/* The n of a line (LF excluded) that ends in a literal {n} or {n+}, or -1. */
static long literal_size(const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n < 3 || p[n - 1] != '}')
		return -1;
	size_t e = n - 1;
	if (p[e - 1] == '+')
		e--;
	size_t b = e;
	while (b > 0 && p[b - 1] >= '0' && p[b - 1] <= '9')
		b--;
	if (b == e || b == 0 || p[b - 1] != '{' || e - b > 12)
		return -1;
	long v = 0;
	for (size_t k = b; k < e; k++)
		v = v * 10 + (p[k] - '0');
	return v;
}

/* Reads one whole response into c->resp (CRLF removed, literal contents
 * skipped and counted). */
static int read_response(struct client *c)
{
	c->resp.len = 0;
	c->lit_bytes = 0;
	c->lits = 0;
	out_put(&c->resp, "", 0);
	for (;;) {
		/* one line */
		size_t start = c->resp.len;
		for (;;) {
			char *lf = memchr(c->rbuf + c->roff, '\n', c->rlen - c->roff);
			size_t take = lf ? (size_t)(lf - (c->rbuf + c->roff)) + 1 : c->rlen - c->roff;
			if (c->resp.len + take > RESP_MAX) {
				load_fail("connection %d: after %s: response longer than %u bytes", c->id,
				     c->last_cmd, RESP_MAX);
				return -1;
			}
			out_put(&c->resp, c->rbuf + c->roff, take);
			c->roff += take;
			if (lf)
				break;
			if (fill(c) != 0)
				return -1;
		}
		long lit = literal_size(c->resp.p + start, c->resp.len - start - 1);
		if (lit < 0)
			break;
		c->lits++;
		c->lit_bytes += (size_t)lit;
		size_t need = (size_t)lit;
		while (need > 0) {
			if (c->roff == c->rlen && fill(c) != 0)
				return -1;
			size_t take = c->rlen - c->roff < need ? c->rlen - c->roff : need;
			c->roff += take;
			need -= take;
		}
	}
	while (c->resp.len > 0 && (c->resp.p[c->resp.len - 1] == '\n' || c->resp.p[c->resp.len - 1] == '\r'))
		c->resp.p[--c->resp.len] = '\0';
	return 0;
}

static int send_all(struct client *c, const char *p, size_t n)
{
	return load_send(c->fd, c->id, p, n, c->last_cmd);
}

typedef int untagged_fn(struct client *c, void *ctx);

static void shorten(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s);
	if (n < cap) {
		memcpy(out, s, n + 1);
		return;
	}
	snprintf(out, cap, "%.*s...", (int)(cap - 4), s);
}

/* Sends "TAG command" and reads responses up to the tagged one, giving each
 * untagged one to fn; the tagged reply must be OK. */
static int command(struct client *c, untagged_fn *fn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int command(struct client *c, untagged_fn *fn, void *ctx, const char *fmt, ...)
{
	char line[1024], tag[16];
	snprintf(tag, sizeof tag, "t%u", ++c->tagn);
	int n = snprintf(line, sizeof line, "%s ", tag);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	shorten(line, c->last_cmd, sizeof c->last_cmd);
	if (n < 0 || (size_t)n + 2 >= sizeof line) {
		load_fail("command too long");
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	if (send_all(c, line, (size_t)n + 2) != 0)
		return -1;
	size_t tl = strlen(tag);
	for (;;) {
		if (read_response(c) != 0)
			return -1;
		const char *p = c->resp.p;
		if (strncmp(p, tag, tl) == 0 && p[tl] == ' ') {
			if (strncmp(p + tl + 1, "OK", 2) == 0)
				return 0;
			char s[512];
			shorten(p, s, sizeof s);
			load_fail("connection %d: %s: %s", c->id, c->last_cmd, s);
			return -1;
		}
		if (p[0] == '*' && p[1] == ' ') {
			if (strncmp(p + 2, "BYE", 3) == 0 && strstr(c->last_cmd, " LOGOUT") == NULL) {
				load_fail("connection %d: after %s: %s", c->id, c->last_cmd, p);
				return -1;
			}
			if (fn != NULL && fn(c, ctx) != 0)
				return -1;
			continue;
		}
		char s[512];
		shorten(p, s, sizeof s);
		load_fail("connection %d: after %s: unexpected response: %s", c->id, c->last_cmd, s);
		return -1;
	}
}

static int on_exists(struct client *c, void *ctx)
{
	long *exists = ctx;
	char *end;
	long n = strtol(c->resp.p + 2, &end, 10);
	if (end != c->resp.p + 2 && strcmp(end, " EXISTS") == 0)
		*exists = n;
	return 0;
}

static int select_inbox(struct client *c)
{
	long exists = -1;
	if (command(c, on_exists, &exists, "SELECT INBOX") != 0)
		return -1;
	if (exists != opt_msgs) {
		load_fail("connection %d: SELECT INBOX: %ld messages, expected %ld", c->id, exists, opt_msgs);
		return -1;
	}
	return 0;
}

static int client_open(struct client *c, int id)
{
	memset(c, 0, sizeof *c);
	c->id = id;
	c->rbuf = xmalloc(RBUF_SIZE);
	snprintf(c->last_cmd, sizeof c->last_cmd, "the greeting");
	c->fd = load_connect(id, IO_TIMEOUT_S);
	if (c->fd < 0)
		return -1;
	if (read_response(c) != 0)
		return -1;
	if (strncmp(c->resp.p, "* OK", 4) != 0) {
		load_fail("connection %d: greeting: %s", id, c->resp.p);
		return -1;
	}
	if (command(c, NULL, NULL, "LOGIN \"%s\" \"%s\"", opt_user, opt_pass) != 0)
		return -1;
	return select_inbox(c);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		if (!atomic_load(&load_stop))
			command(c, NULL, NULL, "LOGOUT");
		close(c->fd);
	}
	free(c->rbuf);
	free(c->resp.p);
}

/* ---- the timed workloads (one thread per connection) ---- */

enum kind { K_FROM, K_SUBJECT, K_BODY, K_SINCE };
static enum kind search_kind;

struct worker {
	pthread_t tid;
	int id;
	pthread_barrier_t *ready;
	long rounds, fetched, ops, mismatches;
	uint64_t bytes;
	char first_mismatch[320];
};

static atomic_long ops_claimed;

static bool is_fetch(const char *p)
{
	/* "* n FETCH (" */
	p += 2;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return strncmp(p, " FETCH ", 7) == 0;
}

static int on_fetch_count(struct client *c, void *ctx)
{
	long *n = ctx;
	if (is_fetch(c->resp.p))
		(*n)++;
	return 0;
}

static void run_fetchall(struct client *c, struct worker *w)
{
	for (long r = 0; r < opt_rounds && !atomic_load(&load_stop); r++) {
		if (select_inbox(c) != 0)
			return;
		long n = 0;
		if (command(c, on_fetch_count, &n, "FETCH 1:* (FLAGS ENVELOPE)") != 0)
			return;
		if (n != opt_msgs) {
			load_fail("connection %d: FETCH 1:* (FLAGS ENVELOPE): %ld FETCH responses, expected %ld",
			     c->id, n, opt_msgs);
			return;
		}
		w->rounds++;
		w->fetched += n;
	}
}

struct body_result {
	long fetches;
	size_t bytes;
	unsigned lits;
};

static int on_body(struct client *c, void *ctx)
{
	struct body_result *b = ctx;
	if (!is_fetch(c->resp.p))
		return 0;
	b->fetches++;
	b->bytes += c->lit_bytes;
	b->lits += c->lits;
	return 0;
}

static void run_body(struct client *c, struct worker *w, uint64_t *rng)
{
	while (!atomic_load(&load_stop) && atomic_fetch_add(&ops_claimed, 1) < opt_count) {
		long i = (long)(splitmix(rng) % (uint64_t)opt_msgs);
		struct body_result b = {0};
		if (command(c, on_body, &b, "UID FETCH %ld BODY.PEEK[]", i + 1) != 0)
			return;
		if (b.fetches != 1 || b.lits != 1 || b.bytes != meta[i].crlf_size) {
			load_fail("connection %d: UID FETCH %ld BODY.PEEK[]: %ld FETCH responses, %u literals, "
			     "%zu bytes; expected 1, 1, %zu", c->id, i + 1, b.fetches, b.lits, b.bytes,
			     meta[i].crlf_size);
			return;
		}
		w->ops++;
		w->bytes += b.bytes;
	}
}

static int on_search(struct client *c, void *ctx)
{
	long *n = ctx;
	const char *p = c->resp.p + 2;
	if (strncmp(p, "SEARCH", 6) != 0 || (p[6] != '\0' && p[6] != ' '))
		return 0;
	long k = 0;
	for (p += 6; *p; p++)
		if (*p >= '0' && *p <= '9' && (p[-1] == ' '))
			k++;
	*n = k;
	return 0;
}

static long expected_matches(enum kind k, unsigned term)
{
	long n = 0;
	for (long i = 0; i < opt_msgs; i++) {
		const struct msg_meta *m = &meta[i];
		switch (k) {
		case K_FROM: n += m->sender == term; break;
		case K_SUBJECT: n += m->subject == term; break;
		case K_BODY: n += m->token == term; break;
		case K_SINCE: n += (m->date - BASE_DATE) / 86400 >= (time_t)term; break;
		}
	}
	return n;
}

static void run_search(struct client *c, struct worker *w, uint64_t *rng)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	long days = (opt_msgs + MSG_PER_DAY - 1) / MSG_PER_DAY;
	while (!atomic_load(&load_stop) && atomic_fetch_add(&ops_claimed, 1) < opt_count) {
		long got = -1;
		unsigned term;
		int r;
		switch (search_kind) {
		case K_FROM:
			term = (unsigned)(splitmix(rng) % SENDERS);
			r = command(c, on_search, &got, "SEARCH FROM s%03ux", term);
			break;
		case K_SUBJECT:
			term = (unsigned)(splitmix(rng) % SUBJECTS);
			r = command(c, on_search, &got, "SEARCH SUBJECT q%03uq", term);
			break;
		case K_BODY:
			term = (unsigned)(splitmix(rng) % BODY_TOKENS);
			r = command(c, on_search, &got, "SEARCH BODY z%04uz", term);
			break;
		default: {
			term = (unsigned)(splitmix(rng) % (uint64_t)days);
			time_t t = BASE_DATE + (time_t)term * 86400;
			struct tm tm;
			gmtime_r(&t, &tm);
			r = command(c, on_search, &got, "SEARCH SINCE %d-%s-%d", tm.tm_mday, mon[tm.tm_mon],
				    tm.tm_year + 1900);
			break;
		}
		}
		if (r != 0)
			return;
		if (got < 0) {
			load_fail("connection %d: %s: no SEARCH response", c->id, c->last_cmd);
			return;
		}
		long want = expected_matches(search_kind, term);
		if (got != want) {
			if (w->mismatches++ == 0)
				snprintf(w->first_mismatch, sizeof w->first_mismatch,
					 "%.200s: %ld matches, expected %ld", c->last_cmd, got, want);
		}
		w->ops++;
	}
}

static enum { M_FETCHALL, M_BODY, M_SEARCH } mode;

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct client c;
	uint64_t rng = (uint64_t)opt_seed * 7919 + (uint64_t)w->id * 104729 + 1;
	int r = client_open(&c, w->id);
	pthread_barrier_wait(w->ready);  /* logins done everywhere: timing starts */
	pthread_barrier_wait(w->ready);
	if (r == 0) {
		switch (mode) {
		case M_FETCHALL: run_fetchall(&c, w); break;
		case M_BODY: run_body(&c, w, &rng); break;
		case M_SEARCH: run_search(&c, w, &rng); break;
		}
	}
	client_close(&c);
	return NULL;
}

static int cmd_load(void)
{
	load_meta();
	long nthreads = opt_conc;
	struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
	pthread_barrier_t ready;
	pthread_barrier_init(&ready, NULL, (unsigned)nthreads + 1);
	for (long i = 0; i < nthreads; i++) {
		ws[i].id = (int)i;
		ws[i].ready = &ready;
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "imap_load: cannot start thread %ld\n", i);
			exit(1);
		}
	}
	pthread_barrier_wait(&ready);
	double start = load_now();
	pthread_barrier_wait(&ready);
	long rounds = 0, fetched = 0, ops = 0, mism = 0;
	uint64_t bytes = 0;
	const char *first = NULL;
	for (long i = 0; i < nthreads; i++) {
		pthread_join(ws[i].tid, NULL);
		rounds += ws[i].rounds;
		fetched += ws[i].fetched;
		ops += ws[i].ops;
		bytes += ws[i].bytes;
		mism += ws[i].mismatches;
		if (first == NULL && ws[i].mismatches)
			first = ws[i].first_mismatch;
	}
	double secs = load_now() - start;
	if (atomic_load(&load_stop))
		return 1;
	switch (mode) {
	case M_FETCHALL:
		printf("imap_load fetchall: conns=%ld rounds=%ld msgs=%ld secs=%.3f rounds_per_s=%.2f "
		       "msgs_per_s=%.1f\n", nthreads, rounds, fetched, secs, rounds / secs, fetched / secs);
		break;
	case M_BODY:
		printf("imap_load body: conns=%ld fetches=%ld bytes=%llu secs=%.3f fetches_per_s=%.1f "
		       "mb_per_s=%.2f\n", nthreads, ops, (unsigned long long)bytes, secs, ops / secs,
		       (double)bytes / 1e6 / secs);
		break;
	case M_SEARCH:
		printf("imap_load search: kind=%s conns=%ld searches=%ld secs=%.3f searches_per_s=%.2f "
		       "wrong_counts=%ld\n", opt_kind, nthreads, ops, secs, ops / secs, mism);
		if (first != NULL)
			fprintf(stderr, "imap_load search: %ld results differ from the mailbox, first: %s\n",
				mism, first);
		break;
	}
	free(ws);
	return 0;
}

/* ---- idle: many connections on one epoll ---- */

enum idle_state { S_CONNECT, S_GREETING, S_LOGIN, S_SELECT, S_IDLE_WAIT, S_IDLING, S_DONE,
		  S_LOGOUT, S_CLOSED };

struct iconn {
	int fd;
	enum idle_state st;
	char buf[8192];
	size_t len;
	size_t skip;          /* literal bytes still to pass over */
	bool in_literal_line; /* the current response continues after a literal */
	bool was_idle;        /* reached IDLE once: no longer logging in */
};

static volatile sig_atomic_t release;
static void on_signal(int sig)
{
	(void)sig;
	release = 1;
}

static int isend(struct iconn *c, const char *s)
{
	size_t n = strlen(s);
	ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
	return w == (ssize_t)n ? 0 : -1;  /* short commands into an empty socket buffer */
}

struct idle_stats {
	long idling, reached, dropped, closed_ok, in_flight, started, failed;
	char first_error[512];
};

static void idle_error(struct idle_stats *s, long i, const char *what, const char *line)
{
	s->failed++;
	if (s->first_error[0] == '\0')
		snprintf(s->first_error, sizeof s->first_error, "connection %ld: %s%s%.300s", i, what,
			 line ? ": " : "", line ? line : "");
}

/* Acts on one response line (CRLF removed) of connection i. Returns -1 when
 * the connection is to be closed. */
static int idle_line(struct iconn *c, long i, const char *line, struct idle_stats *s)
{
	char cmd[512];
	bool ok_tag = line[0] == 'a' && strstr(line, " OK") == strchr(line, ' ');
	if (strncmp(line, "* BYE", 5) == 0 && c->st != S_LOGOUT) {
		if (c->st == S_IDLING) {
			s->idling--;
			s->dropped++;
			idle_error(s, i, "dropped while idling", line);
		} else {
			idle_error(s, i, "BYE", line);
		}
		return -1;
	}
	switch (c->st) {
	case S_GREETING:
		if (strncmp(line, "* OK", 4) != 0) {
			idle_error(s, i, "greeting", line);
			return -1;
		}
		snprintf(cmd, sizeof cmd, "a1 LOGIN \"%s\" \"%s\"\r\n", opt_user, opt_pass);
		c->st = S_LOGIN;
		return isend(c, cmd);
	case S_LOGIN:
	case S_SELECT:
	case S_DONE:
		if (line[0] == '*')
			return 0;
		if (!ok_tag) {
			idle_error(s, i, c->st == S_LOGIN ? "LOGIN" : c->st == S_SELECT ? "SELECT" : "DONE",
				   line);
			return -1;
		}
		if (c->st == S_LOGIN) {
			c->st = S_SELECT;
			return isend(c, "a2 SELECT INBOX\r\n");
		}
		if (c->st == S_SELECT) {
			c->st = S_IDLE_WAIT;
			return isend(c, "a3 IDLE\r\n");
		}
		c->st = S_LOGOUT;
		return isend(c, "a4 LOGOUT\r\n");
	case S_IDLE_WAIT:
		if (line[0] == '*')
			return 0;
		if (line[0] != '+') {
			idle_error(s, i, "IDLE", line);
			return -1;
		}
		c->st = S_IDLING;
		c->was_idle = true;
		s->idling++;
		s->reached++;
		s->in_flight--;
		return 0;
	case S_IDLING:
		return 0;  /* untagged news or keep-alives */
	case S_LOGOUT:
		if (line[0] == 'a') {
			s->closed_ok++;
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static int idle_read(struct iconn *c, long i, struct idle_stats *s)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (c->st == S_IDLING) {
				s->idling--;
				s->dropped++;
				idle_error(s, i, "closed by the server while idling", NULL);
			} else if (c->st == S_LOGOUT) {
				s->closed_ok++;
			} else {
				idle_error(s, i, r == 0 ? "closed by the server" : strerror(errno), NULL);
			}
			return -1;
		}
		c->len += (size_t)r;
		size_t off = 0;
		for (;;) {
			if (c->skip > 0) {
				size_t t = c->len - off < c->skip ? c->len - off : c->skip;
				off += t;
				c->skip -= t;
				if (c->skip > 0)
					break;
			}
			char *lf = memchr(c->buf + off, '\n', c->len - off);
			if (lf == NULL)
				break;
			size_t n = (size_t)(lf - (c->buf + off));
			long lit = literal_size(c->buf + off, n);
			bool cont = c->in_literal_line;
			c->in_literal_line = lit >= 0;
			if (lit >= 0)
				c->skip = (size_t)lit;
			if (n > 0 && c->buf[off + n - 1] == '\r')
				n--;
			c->buf[off + n] = '\0';
			if (!cont && idle_line(c, i, c->buf + off, s) != 0)
				return -1;
			off = (size_t)(lf - c->buf) + 1;
		}
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
		if (c->len == sizeof c->buf) {
			idle_error(s, i, "response line too long", NULL);
			return -1;
		}
	}
}

static int idle_connect(struct iconn *c, int ep, long i)
{
	struct addrinfo *ai = load_target;
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
		return -1;
	c->st = S_CONNECT;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u64 = (uint64_t)i};
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void idle_close(struct iconn *c, int ep, struct idle_stats *s)
{
	if (!c->was_idle && c->st != S_CLOSED)
		s->in_flight--;
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->st = S_CLOSED;
}

static void idle_event(struct iconn *c, int ep, long i, uint32_t evs, struct idle_stats *s)
{
	if (c->st == S_CONNECT) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			idle_error(s, i, "connect", strerror(err));
			idle_close(c, ep, s);
			return;
		}
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->st = S_GREETING;
		if (!(evs & EPOLLIN))
			return;
	}
	if (idle_read(c, i, s) != 0)
		idle_close(c, ep, s);
}

static int cmd_idle(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (long)rl.rlim_cur < opt_idle + 64) {
		fprintf(stderr, "imap_load idle: %ld connections need more than the fd limit %ld\n",
			opt_idle, (long)rl.rlim_cur);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGINT, on_signal);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct iconn *cs = calloc((size_t)opt_idle, sizeof *cs);
	struct epoll_event *evs = calloc(1024, sizeof *evs);
	if (ep < 0 || cs == NULL || evs == NULL)
		return 1;
	for (long i = 0; i < opt_idle; i++)
		cs[i].fd = -1;
	struct idle_stats s = {0};
	double t0 = load_now(), ready_at = 0, deadline = t0 + (double)opt_setup;
	double next_progress = t0 + 30;
	bool ready = false, ending = false;
	double end_deadline = 0;
	for (;;) {
		while (!ending && s.started < opt_idle && s.in_flight < opt_inflight && s.failed == 0) {
			long i = s.started++;
			s.in_flight++;
			if (idle_connect(&cs[i], ep, i) != 0) {
				idle_error(&s, i, "connect", strerror(errno));
				idle_close(&cs[i], ep, &s);
			}
		}
		if (!ready && !ending && s.idling == opt_idle) {
			ready = true;
			ready_at = load_now();
			printf("idle: ready, %ld connections idling after %.2f s\n", s.idling, ready_at - t0);
			fflush(stdout);
			if (opt_ready != NULL) {
				FILE *f = fopen(opt_ready, "w");
				if (f != NULL)
					fclose(f);
			}
		}
		if (!ready && !ending && load_now() >= next_progress) {
			fprintf(stderr, "idle: %ld of %ld idling after %.0f s\n", s.reached, opt_idle,
				load_now() - t0);
			next_progress += 30;
		}
		bool give_up = s.failed > 0 || load_now() > deadline;
		bool held = ready && (release || load_now() - ready_at >= (double)opt_hold);
		if (!ending && (give_up || held || release)) {
			ending = true;
			end_deadline = load_now() + 60;
			for (long i = 0; i < s.started; i++) {
				if (cs[i].st == S_IDLING) {
					cs[i].st = S_DONE;
					s.idling--;
					if (isend(&cs[i], "DONE\r\n") != 0)
						idle_close(&cs[i], ep, &s);
				} else if (cs[i].st != S_CLOSED && cs[i].st != S_LOGOUT) {
					idle_close(&cs[i], ep, &s);
				}
			}
		}
		if (ending) {
			bool open = false;
			for (long i = 0; i < s.started && !open; i++)
				open = cs[i].st != S_CLOSED;
			if (!open || load_now() > end_deadline)
				break;
		}
		int n = epoll_wait(ep, evs, 1024, 200);
		for (int k = 0; k < n; k++) {
			long i = (long)evs[k].data.u64;
			if (cs[i].st != S_CLOSED)
				idle_event(&cs[i], ep, i, evs[k].events, &s);
		}
	}
	double held_s = ready ? load_now() - ready_at : 0;
	for (long i = 0; i < s.started; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	free(cs);
	free(evs);
	close(ep);
	if (!ready) {
		fprintf(stderr, "imap_load idle: only %ld of %ld connections reached IDLE (%ld started, "
			"%.1f s)%s%s\n", s.reached, opt_idle, s.started, load_now() - t0,
			s.first_error[0] ? "; first error: " : "", s.first_error);
		return 1;
	}
	printf("imap_load idle: conns=%ld setup_secs=%.2f held_secs=%.1f dropped=%ld logged_out=%ld\n",
	       opt_idle, ready_at - t0, held_s, s.dropped, s.closed_ok);
	if (s.dropped > 0 || s.first_error[0]) {
		fprintf(stderr, "imap_load idle: %s\n", s.first_error);
		return 1;
	}
	return 0;
}

/* ---- command line ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: imap_load gen -msgs N [-seed S] -mbox FILE -maildir DIR\n"
		"       imap_load fetchall|body|search|idle [-host H] [-port P] [-user U] [-pass W]\n"
		"                 [-msgs N] [-seed S] [-c C] [-rounds R] [-n COUNT]\n"
		"                 [-kind from|subject|body|since] [-idle N] [-inflight P]\n"
		"                 [-hold SECS] [-setup SECS] [-ready FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	load_name = "imap_load";
	if (argc < 2)
		usage();
	const char *m = argv[1];
	const struct load_flag flags[] = {
		LOAD_STR("-host", &opt_host), LOAD_STR("-port", &opt_port),
		LOAD_STR("-user", &opt_user), LOAD_STR("-pass", &opt_pass),
		LOAD_STR("-kind", &opt_kind), LOAD_STR("-ready", &opt_ready),
		LOAD_STR("-mbox", &opt_mbox), LOAD_STR("-maildir", &opt_maildir),
		LOAD_NUM("-msgs", &opt_msgs, 1), LOAD_NUM("-seed", &opt_seed, 0),
		LOAD_NUM("-c", &opt_conc, 1), LOAD_NUM("-rounds", &opt_rounds, 1),
		LOAD_NUM("-n", &opt_count, 1), LOAD_NUM("-idle", &opt_idle, 1),
		LOAD_NUM("-inflight", &opt_inflight, 1), LOAD_NUM("-hold", &opt_hold, 0),
		LOAD_NUM("-setup", &opt_setup, 1),
	};
	if (!load_flags(argc, argv, 2, flags, sizeof(flags) / sizeof(flags[0])))
		usage();
	if (strpbrk(opt_user, "\"\\\r\n") || strpbrk(opt_pass, "\"\\\r\n")) {
		fprintf(stderr, "imap_load: user and password must not hold quotes, backslashes or line ends\n");
		return 2;
	}
	if (opt_conc > MAX_THREADS)
		opt_conc = MAX_THREADS;
	if (strcmp(m, "gen") == 0)
		return cmd_gen();
	if (load_resolve(opt_host, opt_port) != 0)
		return 1;
	if (strcmp(m, "idle") == 0)
		return cmd_idle();
	if (strcmp(m, "fetchall") == 0)
		mode = M_FETCHALL;
	else if (strcmp(m, "body") == 0)
		mode = M_BODY;
	else if (strcmp(m, "search") == 0) {
		mode = M_SEARCH;
		if (strcmp(opt_kind, "from") == 0)
			search_kind = K_FROM;
		else if (strcmp(opt_kind, "subject") == 0)
			search_kind = K_SUBJECT;
		else if (strcmp(opt_kind, "body") == 0)
			search_kind = K_BODY;
		else if (strcmp(opt_kind, "since") == 0)
			search_kind = K_SINCE;
		else
			usage();
	} else
		usage();
	return cmd_load();
}
