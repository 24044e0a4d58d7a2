/*
 * conn_test.c: unit tests for conn.c over socketpairs, loopback TCP and
 * pipes: line splitting and limits, deadlines (idle, minimum data rate,
 * maximum), buffered output, and the peer's close. TLS is in tls_test.c.
 */
#include "core/conn.h"

#include "core/error.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A conn on one end of a socketpair; *peer_r is the other end. */
static struct conn *conn_pair(size_t line_max, int *peer_r)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct error e;
	struct conn *c = conn_new(sv[0], line_max, &e);
	assert_non_null(c);
	*peer_r = sv[1];
	return c;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* A peer thread that sends data in chunks with a pause after each, repeating
 * it `times` times, and stops at the first failed send (the conn closed). */
struct feeder {
	int fd;
	const char *data;
	size_t len;
	size_t chunk;
	unsigned pause_us;
	size_t times;
	bool close_after;
	pthread_t thread;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	for (size_t t = 0; t < f->times; t++) {
		for (size_t off = 0; off < f->len;) {
			size_t n = f->len - off < f->chunk ? f->len - off : f->chunk;
			ssize_t r = send(f->fd, f->data + off, n, MSG_NOSIGNAL);
			if (r <= 0)
				return NULL;
			off += (size_t)r;
			if (f->pause_us > 0)
				usleep(f->pause_us);
		}
	}
	if (f->close_after)
		shutdown(f->fd, SHUT_WR);
	return NULL;
}

static void feeder_start(struct feeder *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, feed, f), 0);
}

static void feeder_join(struct feeder *f)
{
	assert_int_equal(pthread_join(f->thread, NULL), 0);
}

static void expect_line(struct conn *c, const char *want, bool crlf)
{
	struct conn_line line;
	struct error e;
	if (conn_read_line(c, &line, &e) < 0)
		fail_msg("read line: %s", e.msg);
	assert_string_equal(line.data, want);
	assert_int_equal(line.len, strlen(want));
	assert_int_equal(line.crlf, crlf);
}

static void test_crlf_and_bare_lf(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	send_str(peer, "HELO a\r\nNOOP\nx\ry\r\n\r\n");
	expect_line(c, "HELO a", true);
	expect_line(c, "NOOP", false);
	expect_line(c, "x\ry", true);  /* a CR inside a line is data */
	expect_line(c, "", true);
	assert_int_equal(conn_in_pending(c), 0);
	struct conn_stats st;
	conn_stats(c, &st);
	assert_int_equal(st.bytes_in, 20);
	conn_free(&c);
	assert_null(c);
	close(peer);
}

static void test_pipelined_lines(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	char all[2000] = "";
	for (int i = 0; i < 100; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "RCPT %02d\r\n", i);
	send_str(peer, all);
	for (int i = 0; i < 100; i++) {
		char want[16];
		snprintf(want, sizeof(want), "RCPT %02d", i);
		expect_line(c, want, true);
		assert_int_equal(conn_in_pending(c), (size_t)(99 - i) * 9);
	}
	conn_free(&c);
	close(peer);
}

static void test_one_byte_at_a_time(void **state)
{
	int peer;
	struct conn *c = conn_pair(64, &peer);
	static const char text[] = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\nDATA\r\n";
	struct feeder f = { .fd = peer, .data = text, .len = sizeof(text) - 1, .chunk = 1,
		.pause_us = 300, .times = 1 };
	feeder_start(&f);
	expect_line(c, "MAIL FROM:<a@b>", true);
	expect_line(c, "RCPT TO:<c@d>", false);
	expect_line(c, "DATA", true);
	feeder_join(&f);
	conn_free(&c);
	close(peer);
}

static void test_line_limit_exact(void **state)
{
	int peer;
	struct conn *c = conn_pair(16, &peer);
	/* 14 + CRLF = 16: at the limit; 15 + LF = 16: at the limit; 15 + CRLF: one past. */
	send_str(peer, "abcdefghijklmn\r\nabcdefghijklmno\nabcdefghijklmno\r\nok\r\n");
	expect_line(c, "abcdefghijklmn", true);
	expect_line(c, "abcdefghijklmno", false);
	struct conn_line line;
	struct error e;
	assert_int_equal(conn_read_line(c, &line, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_string_equal(e.msg, "line too long: more than 16 bytes");
	assert_int_equal(conn_read_line(c, &line, &e), -1);  /* same again until skipped */
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_int_equal(conn_skip_line(c, &e), 0);
	expect_line(c, "ok", true);
	conn_free(&c);
	close(peer);
}

/* Ten megabytes without a newline: the reader stops at the limit with bounded
 * memory, and can skip to the next line as an SMTP server replying 500 does. */
static void test_overlong_line(void **state)
{
	int peer;
	struct conn *c = conn_pair(1000, &peer);
	size_t big = 10 * 1024 * 1024;
	char *data = malloc(big + 8);
	assert_non_null(data);
	memset(data, 'a', big);
	memcpy(data + big, "\r\nQUIT\r\n", 8);
	struct feeder f = { .fd = peer, .data = data, .len = big + 8, .chunk = 65536, .times = 1 };
	feeder_start(&f);

	struct conn_line line;
	struct error e;
	assert_int_equal(conn_read_line(c, &line, &e), -1);
	assert_int_equal(e.kind, ERR_LIMIT);
	assert_string_equal(e.msg, "line too long: more than 1000 bytes");
	struct conn_stats st;
	conn_stats(c, &st);
	assert_int_equal(st.in_buf_bound, 1000 + CONN_READ_CHUNK);
	assert_true(st.in_buf_peak <= st.in_buf_bound);

	assert_int_equal(conn_skip_line(c, &e), 0);
	expect_line(c, "QUIT", true);
	conn_stats(c, &st);
	assert_true(st.in_buf_peak <= st.in_buf_bound);
	assert_int_equal(st.bytes_in, big + 8);
	feeder_join(&f);
	free(data);
	conn_free(&c);
	close(peer);
}

/* A peer that sends half a line and then nothing. */
static void test_stall_plain(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	conn_set_idle_timeout(c, 200);
	send_str(peer, "HELO ha");
	struct conn_line line;
	struct error e;
	int64_t t0 = now_ms();
	assert_int_equal(conn_read_line(c, &line, &e), -1);
	int64_t took = now_ms() - t0;
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_string_equal(e.msg, "read line timed out after 200 ms");
	assert_true(took >= 195 && took < 1000);
	/* The half line stays; the rest of it completes the line. */
	send_str(peer, "lf\r\n");
	expect_line(c, "HELO half", true);
	conn_free(&c);
	close(peer);
}

static void test_read_exact_and_some(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	struct error e;
	send_str(peer, "BDAT 5\r\n12345xyz");
	expect_line(c, "BDAT 5", true);
	char chunk[16] = "";
	assert_int_equal(conn_read_exact(c, chunk, 5, &e), 0);  /* from the buffer */
	assert_memory_equal(chunk, "12345", 5);
	assert_int_equal(conn_read(c, chunk, sizeof(chunk), &e), 3);
	assert_memory_equal(chunk, "xyz", 3);
	static const char slow[] = "abcdefgh";
	struct feeder f = { .fd = peer, .data = slow, .len = 8, .chunk = 1, .pause_us = 500,
		.times = 1 };
	feeder_start(&f);
	assert_int_equal(conn_read_exact(c, chunk, 8, &e), 0);  /* across many reads */
	assert_memory_equal(chunk, "abcdefgh", 8);
	feeder_join(&f);
	assert_int_equal(conn_read(c, chunk, 0, &e), 0);
	conn_free(&c);
	close(peer);
}

static void test_write_and_flush(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	struct error e;
	assert_int_equal(conn_write(c, "250-first\r\n", 11, &e), 0);
	assert_int_equal(conn_printf(c, &e, "250 %s\r\n", "second"), 0);
	char got[64];
	/* Nothing is sent before the flush: replies to pipelined commands go together. */
	assert_int_equal(recv(peer, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(conn_flush(c, &e), 0);
	ssize_t n = recv(peer, got, sizeof(got), 0);
	assert_int_equal(n, 23);
	assert_memory_equal(got, "250-first\r\n250 second\r\n", 23);
	struct conn_stats st;
	conn_stats(c, &st);
	assert_int_equal(st.bytes_out, 23);
	assert_int_equal(conn_flush(c, &e), 0);  /* nothing left: no-op */
	conn_free(&c);
	close(peer);
}

/* A reader thread that counts what arrives until the end. */
struct sink {
	int fd;
	size_t got;
	pthread_t thread;
};

static void *sink_run(void *arg)
{
	struct sink *s = arg;
	char tmp[65536];
	ssize_t n;
	while ((n = recv(s->fd, tmp, sizeof(tmp), 0)) > 0)
		s->got += (size_t)n;
	return NULL;
}

static void test_large_write(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	struct sink s = { .fd = peer };
	assert_int_equal(pthread_create(&s.thread, NULL, sink_run, &s), 0);
	size_t big = 1024 * 1024;
	char *data = calloc(1, big);
	assert_non_null(data);
	struct error e;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(conn_write(c, "0123456789", 10, &e), 0);
	assert_int_equal(conn_write(c, data, big, &e), 0);
	assert_int_equal(conn_printf(c, &e, "%s", "end"), 0);
	assert_int_equal(conn_flush(c, &e), 0);
	conn_free(&c);
	assert_int_equal(pthread_join(s.thread, NULL), 0);
	assert_int_equal(s.got, 10000 + big + 3);
	free(data);
	close(peer);
}

/* A peer that never reads: the flush times out instead of blocking. */
static void test_write_timeout(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	conn_set_idle_timeout(c, 200);
	size_t big = 8 * 1024 * 1024;
	char *data = calloc(1, big);
	assert_non_null(data);
	struct error e;
	int64_t t0 = now_ms();
	assert_int_equal(conn_write(c, data, big, &e), -1);
	int64_t took = now_ms() - t0;
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_string_equal(e.msg, "write timed out after 200 ms");
	assert_true(took >= 195 && took < 1000);
	free(data);
	conn_free(&c);
	close(peer);
}

static void test_peer_close(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	send_str(peer, "QUIT\r\npartial");
	close(peer);
	expect_line(c, "QUIT", true);
	struct conn_line line;
	struct error e;
	assert_int_equal(conn_read_line(c, &line, &e), -1);
	assert_int_equal(e.kind, ERR_CLOSED);
	char tmp[8];
	assert_int_equal(conn_read(c, tmp, sizeof(tmp), &e), 7);  /* the partial line is still there */
	assert_int_equal(conn_read(c, tmp, sizeof(tmp), &e), -1);
	assert_int_equal(e.kind, ERR_CLOSED);
	/* Writing to a closed peer is ERR_CLOSED, and no SIGPIPE kills the test. */
	assert_int_equal(conn_write(c, "x\r\n", 3, &e), 0);
	assert_int_equal(conn_flush(c, &e), -1);
	assert_int_equal(e.kind, ERR_CLOSED);
	conn_free(&c);
}

/* Reads lines until an error; returns how long it took, e holds the error. */
static int64_t read_until_error(struct conn *c, struct error *e)
{
	int64_t t0 = now_ms();
	struct conn_line line;
	while (conn_read_line(c, &line, e) == 0)
		if (strcmp(line.data, "END") == 0)
			break;
	return now_ms() - t0;
}

/* 50 bytes/s against a minimum of 1000 bytes/s: cut off soon after the base. */
static void test_rate_too_slow(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	conn_set_idle_timeout(c, 2000);
	struct feeder f = { .fd = peer, .data = "x", .len = 1, .chunk = 1, .pause_us = 20000,
		.times = 150 };
	feeder_start(&f);
	conn_transfer_begin(c, 200, 1000, 5000);
	struct error e;
	int64_t took = read_until_error(c, &e);
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_non_null(strstr(e.msg, "read line timed out: slower than 1000 bytes/s"));
	assert_true(took >= 195 && took < 1000);
	conn_free(&c);  /* the feeder's next send fails and it stops */
	feeder_join(&f);
	close(peer);
}

/* 5000 bytes/s against a minimum of 1000: lives well past the 200 ms base. */
static void test_rate_fast_enough(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	conn_set_idle_timeout(c, 500);
	char line[101];
	memset(line, 'y', 98);
	memcpy(line + 98, "\r\n", 3);
	struct feeder f = { .fd = peer, .data = line, .len = 100, .chunk = 100, .pause_us = 20000,
		.times = 35 };
	feeder_start(&f);
	conn_transfer_begin(c, 200, 1000, 5000);
	struct error e;
	struct conn_line l;
	int64_t t0 = now_ms();
	for (int i = 0; i < 35; i++)
		if (conn_read_line(c, &l, &e) < 0)
			fail_msg("line %d after %lld ms: %s", i, (long long)(now_ms() - t0), e.msg);
	assert_true(now_ms() - t0 >= 600);
	conn_transfer_end(c);
	feeder_join(&f);
	conn_free(&c);
	close(peer);
}

/* Fast enough, but the transfer has a total limit. */
static void test_rate_max_total(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	conn_set_idle_timeout(c, 500);
	char line[101];
	memset(line, 'z', 98);
	memcpy(line + 98, "\r\n", 3);
	struct feeder f = { .fd = peer, .data = line, .len = 100, .chunk = 100, .pause_us = 20000,
		.times = 60 };
	feeder_start(&f);
	conn_transfer_begin(c, 200, 1000, 400);
	struct error e;
	int64_t took = read_until_error(c, &e);
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_string_equal(e.msg, "read line timed out: transfer limit of 400 ms reached");
	assert_true(took >= 395 && took < 1000);
	conn_free(&c);
	feeder_join(&f);
	close(peer);
}

/* A fast start earns credit, but a stall still ends at the idle timeout. */
static void test_rate_stall(void **state)
{
	int peer;
	struct conn *c = conn_pair(8192, &peer);
	conn_set_idle_timeout(c, 300);
	conn_transfer_begin(c, 200, 1000, 5000);
	char burst[4001];
	memset(burst, 'w', 4000);
	burst[4000] = '\0';
	send_str(peer, burst);  /* 4 s of credit at 1000 bytes/s */
	struct error e;
	int64_t took = read_until_error(c, &e);
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_string_equal(e.msg, "read line timed out: nothing moved for 300 ms");
	assert_true(took >= 295 && took < 1000);
	conn_free(&c);
	close(peer);
}

static void test_remote_loopback(void **state)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct sockaddr_in local;
	socklen_t llen = sizeof(local);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &llen), 0);
	int sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	struct error e;
	struct conn *c = conn_new(sfd, 512, &e);
	assert_non_null(c);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(local.sin_port));
	assert_string_equal(conn_remote(c), want);
	assert_string_equal(conn_remote_ip(c), "127.0.0.1");
	assert_int_equal(conn_fd(c), sfd);
	assert_false(conn_tls_active(c));
	send_str(cfd, "EHLO tcp\r\n");
	expect_line(c, "EHLO tcp", true);
	conn_free(&c);
	close(cfd);
	close(lfd);

	int peer;
	c = conn_pair(512, &peer);
	assert_string_equal(conn_remote(c), "unix");
	assert_string_equal(conn_remote_ip(c), "");
	conn_free(&c);
	close(peer);
}

/* Any readable fd works: a pipe, as the fuzzer uses. */
static void test_pipe_source(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "a\nb\r\nc", 6), 6);
	close(p[1]);
	struct error e;
	struct conn *c = conn_new(p[0], 8, &e);
	assert_non_null(c);
	assert_string_equal(conn_remote(c), "-");
	expect_line(c, "a", false);
	expect_line(c, "b", true);
	struct conn_line line;
	assert_int_equal(conn_read_line(c, &line, &e), -1);
	assert_int_equal(e.kind, ERR_CLOSED);
	conn_free(&c);
}

/* conn_peek shows buffered input without taking it; conn_consume takes
 * part of it and the rest stays for the next read. */
static void test_peek_consume(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	struct error e;
	send_str(peer, "abc\ndef\n");
	const char *p;
	ssize_t n = conn_peek(c, &p, &e);
	assert_int_equal(n, 8);
	assert_memory_equal(p, "abc\ndef\n", 8);
	conn_consume(c, 4);
	assert_int_equal(conn_peek(c, &p, &e), 4);
	expect_line(c, "def", false);
	send_str(peer, "ghi\n");
	assert_int_equal(conn_peek(c, &p, &e), 4);  /* reads when nothing is buffered */
	assert_memory_equal(p, "ghi\n", 4);
	conn_consume(c, 4);
	assert_int_equal(conn_in_pending(c), 0);
	conn_free(&c);
	close(peer);
}

/* With secret input on, consumed input is wiped before the buffer is
 * reused, and when it is turned off: a password read in a line does not
 * stay in the conn's memory. (Reads the buffer through an old line
 * pointer: the buffer has its full size from the start in this mode.) */
static void test_secret_input_wiped(void **state)
{
	int peer;
	struct conn *c = conn_pair(512, &peer);
	conn_set_secret_input(c, true);
	struct conn_line line;
	struct error e;
	send_str(peer, "a LOGIN u sesame\r\n");
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	char *first = line.data;
	static const char zeros[18];
	send_str(peer, "b NOOP\r\n");
	expect_line(c, "b NOOP", true);  /* refilled: the first line was wiped */
	assert_memory_equal(first + 9, zeros, 9);
	assert_null(memmem(first, 512, "sesame", 6));
	send_str(peer, "c LOGIN v open-sesame\r\nd NOOP\r\n");
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	char *third = line.data;
	expect_line(c, "d NOOP", true);
	conn_set_secret_input(c, false);  /* wipes what was consumed */
	assert_null(memmem(first, 512, "sesame", 6));
	assert_memory_equal(third, zeros, 18);
	send_str(peer, "e NOOP\r\n");
	expect_line(c, "e NOOP", true);
	conn_free(&c);
	close(peer);
}

/* in as raw DEFLATE (RFC 1951) with a sync flush, malloc'd; *n_r its size. */
static unsigned char *deflate_all(const char *in, size_t n, size_t *n_r)
{
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, n) + 64;
	unsigned char *out = malloc(cap);
	assert_non_null(out);
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)n;
	z.next_out = out;
	z.avail_out = (unsigned)cap;
	assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
	*n_r = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* Reads until an error; returns the bytes read, *e the error. */
static size_t read_all(struct conn *c, struct error *e)
{
	static char chunk[65536];
	size_t total = 0;
	for (;;) {
		ssize_t r = conn_read(c, chunk, sizeof(chunk), e);
		if (r < 0)
			return total;
		total += (size_t)r;
	}
}

/* RFC 4978 input that inflates past 100:1 (after the first MiB) fails the
 * read: 16 MiB of one byte compress to about 16 KiB. Input that compresses
 * as text does reads whole. */
static void test_compress_ratio(void **state)
{
	enum { BOMB = 16 << 20, TEXT = 4 << 20 };
	char *plain = malloc(BOMB);
	assert_non_null(plain);
	memset(plain, 'x', BOMB);
	size_t n;
	unsigned char *wire = deflate_all(plain, BOMB, &n);
	int peer;
	struct conn *c = conn_pair(512, &peer);
	struct error e;
	assert_int_equal(conn_compress_start(c, &e), 0);
	struct feeder f = { .fd = peer, .data = (char *)wire, .len = n, .chunk = 65536,
		.times = 1, .close_after = true };
	feeder_start(&f);
	size_t got = read_all(c, &e);
	conn_free(&c);  /* ends the feeder's sends, if still sending */
	feeder_join(&f);
	close(peer);
	free(wire);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_non_null(strstr(e.msg, "inflates to more than 100 times"));
	assert_true(got >= (1 << 20) && got <= (1 << 20) + 100 * n + 65536);

	/* Text-like bytes: a few bits of entropy each, ratio far below 100. */
	uint32_t x = 1;
	for (size_t i = 0; i < TEXT; i++) {
		x = x * 1103515245 + 12345;
		plain[i] = (char)('a' + (x >> 16) % 16);
	}
	wire = deflate_all(plain, TEXT, &n);
	c = conn_pair(512, &peer);
	assert_int_equal(conn_compress_start(c, &e), 0);
	f = (struct feeder){ .fd = peer, .data = (char *)wire, .len = n, .chunk = 65536,
		.times = 1, .close_after = true };
	feeder_start(&f);
	got = read_all(c, &e);
	feeder_join(&f);
	assert_int_equal(e.kind, ERR_CLOSED);
	assert_int_equal(got, TEXT);
	conn_free(&c);
	close(peer);
	free(wire);
	free(plain);
}

static void test_bad_line_max(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct error e;
	assert_null(conn_new(sv[0], 0, &e));  /* closes sv[0] */
	assert_int_equal(e.kind, ERR_INVALID);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf_and_bare_lf),
		cmocka_unit_test(test_pipelined_lines),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_line_limit_exact),
		cmocka_unit_test(test_overlong_line),
		cmocka_unit_test(test_stall_plain),
		cmocka_unit_test(test_read_exact_and_some),
		cmocka_unit_test(test_write_and_flush),
		cmocka_unit_test(test_large_write),
		cmocka_unit_test(test_write_timeout),
		cmocka_unit_test(test_peer_close),
		cmocka_unit_test(test_rate_too_slow),
		cmocka_unit_test(test_rate_fast_enough),
		cmocka_unit_test(test_rate_max_total),
		cmocka_unit_test(test_rate_stall),
		cmocka_unit_test(test_remote_loopback),
		cmocka_unit_test(test_pipe_source),
		cmocka_unit_test(test_bad_line_max),
		cmocka_unit_test(test_peek_consume),
		cmocka_unit_test(test_secret_input_wiped),
		cmocka_unit_test(test_compress_ratio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
