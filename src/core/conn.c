/*
 * conn.c: see conn.h. Deadlined reads and writes over plain TCP or TLS, a
 * bounded line reader, and the STARTTLS upgrade (RFC 3207).
 *
 * @UNSAFE: pointer arithmetic on the input buffer; reviewed twice.
 *
 * Layers, bottom up:
 *   raw_read/raw_write   read(2)/send(2) on the fd, never blocking;
 *   the conn BIO         lets OpenSSL use raw_read/raw_write;
 *   wire_some            one non-empty transfer, plain or TLS, waiting in
 *                        poll() for the event the transfer needs, against
 *                        the deadline of the current operation;
 *   transfer_some        the same through the DEFLATE layer when compression
 *                        is on (conn_compress_start, IMAP COMPRESS RFC 4978);
 *   the public calls     lines, exact reads, buffered output, handshakes.
 *
 * Invariants: in.data[in_start..in.len) is received input not yet returned;
 * in.len never passes line_max + CONN_READ_CHUNK (the buf's maximum); after
 * a public write call returns, out.len < CONN_OUT_FLUSH_AT.
 */
#include "core/conn.h"
#include "core/clock.h"

#include "core/buf.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <zlib.h>

struct conn {
	int fd;
	bool is_socket;
	bool eof;          /* read(2) returned 0 */
	int io_errno;      /* errno of the last failed read(2)/send(2) */

	SSL *ssl;          /* NULL: plain text */
	bool tls_up;       /* handshake finished */
	bool tls_broken;   /* fatal TLS error: no more TLS I/O, no close_notify */

	struct buf in;
	size_t in_start;   /* bytes at the front of in already returned */
	bool secret_in;    /* input may hold passwords: consumed bytes are wiped */
	size_t line_max;
	size_t in_peak;
	struct buf out;

	int cancel_fd;     /* readable: waits end with ERR_SHUTDOWN; -1: none */
	unsigned idle_ms;
	const char *op;    /* current operation, for timeout messages */
	int64_t op_start;

	bool xfer;         /* a transfer deadline is active */
	int64_t xfer_start;
	int64_t xfer_progress;  /* last time a byte moved */
	unsigned xfer_base_ms, xfer_rate, xfer_max_ms;
	uint64_t xfer_bytes;

	/* DEFLATE (RFC 1951) both ways once conn_compress_start ran. */
	z_stream *zin, *zout;
	unsigned char *zin_buf;     /* compressed input read but not yet inflated */
	bool zin_more;              /* inflate filled its output: it may hold more */

	uint64_t bytes_in, bytes_out;
	char remote[CONN_ADDR_MAX];
	char remote_ip[INET6_ADDRSTRLEN];
};


static void op_begin(struct conn *c, const char *op)
{
	c->op = op;
	c->op_start = clock_mono_ms();
}

/* Counts n bytes moved; progress for the transfer deadline. */
static void moved(struct conn *c, size_t n, bool in)
{
	if (in)
		c->bytes_in += n;
	else
		c->bytes_out += n;
	if (c->xfer) {
		c->xfer_bytes += n;
		c->xfer_progress = clock_mono_ms();
	}
}

/*
 * Raw I/O and the BIO that gives it to OpenSSL.
 */

static ssize_t raw_read(struct conn *c, void *p, size_t n)
{
	ssize_t r;
	do
		r = read(c->fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		c->eof = true;
	if (r < 0)
		c->io_errno = errno;
	return r;
}

/* MSG_NOSIGNAL: a peer that has gone away gives EPIPE, never SIGPIPE. */
static ssize_t raw_write(struct conn *c, const void *p, size_t n)
{
	ssize_t r;
	do
		r = c->is_socket ? send(c->fd, p, n, MSG_NOSIGNAL) : write(c->fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		c->io_errno = errno;
	return r;
}

static bool would_block(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK;
}

static int bio_read(BIO *b, char *p, int n)
{
	struct conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t r = raw_read(c, p, (size_t)n);
	if (r < 0 && would_block(c->io_errno))
		BIO_set_retry_read(b);
	return (int)r;
}

static int bio_write(BIO *b, const char *p, int n)
{
	struct conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t r = raw_write(c, p, (size_t)n);
	if (r < 0 && would_block(c->io_errno))
		BIO_set_retry_write(b);
	return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	const struct conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:  /* lets OpenSSL tell a peer's close from an error */
		return c != NULL && c->eof;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tern conn");
	if (m == NULL || BIO_meth_set_read(m, bio_read) != 1 ||
	    BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_ctrl(m, bio_ctrl) != 1 ||
	    BIO_meth_set_create(m, bio_create) != 1)
		abort();
	bio_method = m;
}

/*
 * Deadlines.
 */

enum expiry { EXPIRY_IDLE, EXPIRY_STALL, EXPIRY_RATE, EXPIRY_MAX };

/* When the current operation must end, and why. */
static int64_t deadline(const struct conn *c, enum expiry *why_r)
{
	if (!c->xfer) {
		*why_r = EXPIRY_IDLE;
		return c->op_start + c->idle_ms;
	}
	int64_t cap = c->xfer_start + c->xfer_max_ms;
	int64_t d = cap;
	*why_r = EXPIRY_MAX;
	if (c->xfer_rate > 0) {
		/* Postfix smtpd_min_data_rate: each min_rate bytes earn a second. */
		uint64_t earned = c->xfer_bytes / c->xfer_rate * 1000 +
			c->xfer_bytes % c->xfer_rate * 1000 / c->xfer_rate;
		int64_t grown = c->xfer_start + c->xfer_base_ms +
			(int64_t)(earned < INT32_MAX ? earned : INT32_MAX);
		if (grown < d) {
			d = grown;
			*why_r = EXPIRY_RATE;
		}
	}
	int64_t last = c->xfer_progress > c->op_start ? c->xfer_progress : c->op_start;
	if (last + c->idle_ms < d) {
		d = last + c->idle_ms;
		*why_r = EXPIRY_STALL;
	}
	return d;
}

static int timeout_error(const struct conn *c, enum expiry why, struct error *e)
{
	switch (why) {
	case EXPIRY_IDLE:
		return error_set(e, ERR_TIMEOUT, "%s timed out after %u ms", c->op, c->idle_ms);
	case EXPIRY_STALL:
		return error_set(e, ERR_TIMEOUT, "%s timed out: nothing moved for %u ms",
			c->op, c->idle_ms);
	case EXPIRY_RATE:
		return error_set(e, ERR_TIMEOUT, "%s timed out: slower than %u bytes/s (%llu bytes in %lld ms)",
			c->op, c->xfer_rate, (unsigned long long)c->xfer_bytes,
			(long long)(clock_mono_ms() - c->xfer_start));
	case EXPIRY_MAX:
		break;
	}
	return error_set(e, ERR_TIMEOUT, "%s timed out: transfer limit of %u ms reached",
		c->op, c->xfer_max_ms);
}

/* Waits until the fd is ready for events or the deadline passes. */
static int conn_wait(struct conn *c, short events, struct error *e)
{
	for (;;) {
		enum expiry why;
		int64_t left = deadline(c, &why) - clock_mono_ms();
		if (left <= 0)
			return timeout_error(c, why, e);
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = events },
			{ .fd = c->cancel_fd, .events = POLLIN },
		};
		int r = poll(p, c->cancel_fd >= 0 ? 2 : 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0 && c->cancel_fd >= 0 && p[1].revents != 0)
			return error_set(e, ERR_SHUTDOWN, "%s: the server is shutting down", c->op);
		if (r > 0)
			return 0;  /* ready, or POLLHUP/POLLERR: the next transfer tells */
		if (r < 0 && errno != EINTR)
			return error_errno(e, errno, "%s: poll", c->op);
	}
}

/*
 * One transfer, plain or TLS. Steps return bytes moved (> 0), 0 when they
 * must wait for *ev_r, or -1 with e set.
 */

static int io_error(const struct conn *c, int err, struct error *e)
{
	if (err == EPIPE || err == ECONNRESET)
		return error_set(e, ERR_CLOSED, "%s: peer closed the connection (%s)", c->op, strerror(err));
	return error_errno(e, err, "%s", c->op);
}

static ssize_t plain_step(struct conn *c, void *p, size_t n, bool in, short *ev_r,
	struct error *e)
{
	ssize_t r = in ? raw_read(c, p, n) : raw_write(c, p, n);
	if (r > 0)
		return r;
	if (r == 0 && in)
		return error_set(e, ERR_CLOSED, "%s: peer closed the connection", c->op);
	if (r == 0 || would_block(c->io_errno)) {
		*ev_r = in ? POLLIN : POLLOUT;
		return 0;
	}
	return io_error(c, c->io_errno, e);
}

/* A fatal TLS error: the peer's close, a failed verification, or other. */
static int tls_fatal(struct conn *c, struct error *e)
{
	c->tls_broken = true;
	unsigned long last = ERR_peek_last_error();
	/* OpenSSL 3 reports a close without close_notify as this error. */
	if (ERR_GET_LIB(last) == ERR_LIB_SSL &&
	    ERR_GET_REASON(last) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return error_set(e, ERR_CLOSED, "%s: peer closed the connection", c->op);
	}
	char text[ERROR_MSG_MAX];
	tls_error_text(text, sizeof(text));
	long v = SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK)
		return error_set(e, ERR_TLS, "%s: certificate verification failed: %s (%s)",
			c->op, X509_verify_cert_error_string(v), text);
	return error_set(e, ERR_TLS, "%s: %s", c->op, text);
}

/* Interprets the result r of an SSL call. TLS may need to write during a
 * read and read during a write: WANT_READ/WANT_WRITE say which. */
static ssize_t tls_result(struct conn *c, int r, short *ev_r, struct error *e)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*ev_r = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*ev_r = POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return error_set(e, ERR_CLOSED, "%s: peer closed the TLS session", c->op);
	case SSL_ERROR_SYSCALL:
		c->tls_broken = true;
		ERR_clear_error();
		if (c->eof || c->io_errno == 0)
			return error_set(e, ERR_CLOSED, "%s: peer closed the connection", c->op);
		return io_error(c, c->io_errno, e);
	default:
		return tls_fatal(c, e);
	}
}

static ssize_t tls_step(struct conn *c, void *p, size_t n, bool in, short *ev_r,
	struct error *e)
{
	if (!c->tls_up || c->tls_broken)
		return error_set(e, ERR_TLS, "%s: no usable TLS session", c->op);
	int k = n > INT_MAX ? INT_MAX : (int)n;
	ERR_clear_error();
	c->io_errno = 0;
	int r = in ? SSL_read(c->ssl, p, k) : SSL_write(c->ssl, p, k);
	if (r > 0)
		return r;
	return tls_result(c, r, ev_r, e);
}

/* Moves 1..n bytes (reads into p, or writes from p) on the wire, waiting
 * as needed. */
static ssize_t wire_some(struct conn *c, void *p, size_t n, bool in, struct error *e)
{
	for (;;) {
		short ev = 0;
		ssize_t r = c->ssl != NULL ? tls_step(c, p, n, in, &ev, e)
				: plain_step(c, p, n, in, &ev, e);
		if (r > 0) {
			moved(c, (size_t)r, in);
			return r;
		}
		if (r < 0 || conn_wait(c, ev, e) < 0)
			return -1;
	}
}

/*
 * The DEFLATE layer (RFC 4978 §4: raw deflate both ways, each burst of
 * output flushed with Z_SYNC_FLUSH so that the peer can decode all of it).
 */

/* Output window and memory level: 2^12 bytes and level 5 keep deflate's
 * state near 32 KiB per connection (the default needs 256 KiB); inflate
 * needs the full 2^15 window, as the peer may use it. */
#define ZOUT_WINDOW_BITS 12
#define ZOUT_MEM_LEVEL 5

/* Input may inflate to at most ZIN_RATIO_MAX times the compressed bytes
 * taken, plus ZIN_ALLOWANCE: real IMAP traffic stays far below, while a
 * DEFLATE stream can reach about 1000:1 and so make the server work a
 * thousand times what the peer sends. */
#define ZIN_RATIO_MAX 100
#define ZIN_ALLOWANCE (1024 * 1024)
/* Most bytes one inflate call makes, so the ratio is checked often. */
#define ZIN_STEP (16 * CONN_READ_CHUNK)

static bool inflate_ratio_exceeded(const z_stream *z)
{
	return z->total_out > ZIN_ALLOWANCE &&
		(uint64_t)z->total_out - ZIN_ALLOWANCE > (uint64_t)z->total_in * ZIN_RATIO_MAX;
}

/* Inflates 1..n bytes into p, reading compressed input as needed. */
static ssize_t inflate_some(struct conn *c, void *p, size_t n, struct error *e)
{
	z_stream *z = c->zin;
	for (;;) {
		if (inflate_ratio_exceeded(z))
			return error_set(e, ERR_INVALID, "%s: compressed input inflates to more than %d "
			                 "times its size", c->op, ZIN_RATIO_MAX);
		unsigned step = n > ZIN_STEP ? ZIN_STEP : (unsigned)n;
		z->next_out = p;
		z->avail_out = step;
		int zr = inflate(z, Z_SYNC_FLUSH);
		size_t got = step - z->avail_out;
		c->zin_more = z->avail_out == 0;
		if (zr == Z_STREAM_END)
			return error_set(e, ERR_CLOSED, "%s: the peer ended its compressed stream", c->op);
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return error_set(e, ERR_INVALID, "%s: compressed input is corrupt (%s)", c->op,
			                 z->msg != NULL ? z->msg : "inflate failed");
		if (got > 0)
			return (ssize_t)got;
		if (z->avail_in > 0)
			continue;
		ssize_t r = wire_some(c, c->zin_buf, CONN_READ_CHUNK, true, e);
		if (r < 0)
			return -1;
		z->next_in = c->zin_buf;
		z->avail_in = (unsigned)r;
	}
}

static ssize_t transfer_some(struct conn *c, void *p, size_t n, bool in, struct error *e)
{
	if (in && c->zin != NULL)
		return inflate_some(c, p, n, e);
	return wire_some(c, p, n, in, e);
}

static int wire_send_all(struct conn *c, const unsigned char *p, size_t n, struct error *e)
{
	while (n > 0) {
		ssize_t r = wire_some(c, (void *)p, n, false, e);
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Compresses and sends n bytes (in pieces zlib's unsigned counts hold),
 * then a sync flush. */
static int deflate_send(struct conn *c, const char *p, size_t n, struct error *e)
{
	z_stream *z = c->zout;
	unsigned char tmp[CONN_READ_CHUNK];
	do {
		size_t piece = n < (1u << 30) ? n : (1u << 30);
		z->next_in = (unsigned char *)p;
		z->avail_in = (unsigned)piece;
		p += piece;
		n -= piece;
		do {
			z->next_out = tmp;
			z->avail_out = sizeof(tmp);
			if (deflate(z, n == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH) == Z_STREAM_ERROR)
				return error_set(e, ERR_IO, "%s: deflate failed", c->op);
			if (wire_send_all(c, tmp, sizeof(tmp) - z->avail_out, e) < 0)
				return -1;
		} while (z->avail_out == 0 || z->avail_in > 0);
	} while (n > 0);
	return 0;
}

static void compress_free(struct conn *c)
{
	if (c->zin != NULL) {
		inflateEnd(c->zin);
		free(c->zin);
		c->zin = NULL;
	}
	if (c->zout != NULL) {
		deflateEnd(c->zout);
		free(c->zout);
		c->zout = NULL;
	}
	free(c->zin_buf);
	c->zin_buf = NULL;
}

int conn_compress_start(struct conn *c, struct error *e)
{
	if (c->zin != NULL)
		return error_set(e, ERR_INVALID, "compression is already active");
	c->zin = calloc(1, sizeof(*c->zin));
	c->zout = calloc(1, sizeof(*c->zout));
	c->zin_buf = malloc(c->line_max + CONN_READ_CHUNK);  /* holds what c->in may hold */
	if (c->zin == NULL || c->zout == NULL || c->zin_buf == NULL)
		abort();
	if (inflateInit2(c->zin, -15) != Z_OK ||
	    deflateInit2(c->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -ZOUT_WINDOW_BITS,
	                 ZOUT_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		compress_free(c);
		return error_set(e, ERR_IO, "cannot start compression: out of memory");
	}
	/* Input already received after the command that started compression
	 * is compressed data (RFC 4978 §3). */
	size_t pending = c->in.len - c->in_start;
	memcpy(c->zin_buf, c->in.data + c->in_start, pending);
	c->zin->next_in = c->zin_buf;
	c->zin->avail_in = (unsigned)pending;
	c->in_start = c->in.len;
	return 0;
}

bool conn_compressed(const struct conn *c)
{
	return c->zin != NULL;
}

bool conn_in_buffered(const struct conn *c)
{
	if (c->in.len > c->in_start)
		return true;
	if (c->zin != NULL && (c->zin->avail_in > 0 || c->zin_more))
		return true;
	return c->ssl != NULL && c->tls_up && !c->tls_broken && SSL_has_pending(c->ssl) == 1;
}

void conn_release_buffers(struct conn *c)
{
	if (c->in.len == c->in_start && c->secret_in) {
		buf_free_secret(&c->in);
		c->in_start = 0;
	} else if (c->in.len == c->in_start) {
		buf_free(&c->in);
		c->in_start = 0;
	}
	if (c->out.len == 0)
		buf_free(&c->out);
}

/*
 * Creating and freeing.
 */

static void remote_init(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	snprintf(c->remote, sizeof(c->remote), "-");
	if (!c->is_socket || getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, c->remote_ip, sizeof(c->remote_ip));
		snprintf(c->remote, sizeof(c->remote), "%s:%u", c->remote_ip, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, c->remote_ip, sizeof(c->remote_ip));
		snprintf(c->remote, sizeof(c->remote), "[%s]:%u", c->remote_ip, ntohs(a->sin6_port));
	} else if (ss.ss_family == AF_UNIX) {
		snprintf(c->remote, sizeof(c->remote), "unix");
	}
}

struct conn *conn_new(int fd, size_t line_max, struct error *e)
{
	if (line_max == 0 || line_max > CONN_LINE_MAX_LIMIT) {
		close(fd);
		error_set(e, ERR_INVALID, "connection: line limit %zu out of range 1..%d",
			line_max, CONN_LINE_MAX_LIMIT);
		return NULL;
	}
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fstat(fd, &st) < 0) {
		error_errno(e, errno, "connection: fd %d", fd);
		close(fd);
		return NULL;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	c->fd = fd;
	c->is_socket = S_ISSOCK(st.st_mode);
	/* The conn buffers output and flushes whole replies itself; Nagle's
	 * algorithm would hold a reply's last small segment until the peer's
	 * delayed ACK (about 40 ms a command). Fails harmlessly on non-TCP. */
	if (c->is_socket)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	c->line_max = line_max;
	buf_init(&c->in, line_max + CONN_READ_CHUNK);
	buf_init(&c->out, CONN_OUT_FLUSH_AT + CONN_PRINTF_MAX);
	c->idle_ms = CONN_IDLE_DEFAULT_MS;
	c->cancel_fd = -1;
	op_begin(c, "connection");
	remote_init(c);
	return c;
}

void conn_free(struct conn **cp)
{
	struct conn *c = *cp;
	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		if (c->tls_up && !c->tls_broken)
			SSL_shutdown(c->ssl);  /* one try at close_notify; never waits */
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	compress_free(c);
	close(c->fd);
	if (c->secret_in)
		buf_free_secret(&c->in);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	*cp = NULL;
}

void conn_set_cancel_fd(struct conn *c, int fd)
{
	c->cancel_fd = fd;
}

void conn_set_idle_timeout(struct conn *c, unsigned idle_ms)
{
	c->idle_ms = idle_ms > 0 ? idle_ms : 1;
}

void conn_transfer_begin(struct conn *c, unsigned base_ms, unsigned min_rate, unsigned max_ms)
{
	c->xfer = true;
	c->xfer_start = clock_mono_ms();
	c->xfer_progress = c->xfer_start;
	c->xfer_base_ms = base_ms;
	c->xfer_rate = min_rate;
	c->xfer_max_ms = max_ms;
	c->xfer_bytes = 0;
}

void conn_transfer_end(struct conn *c)
{
	c->xfer = false;
}

/*
 * Reading.
 */

/* Reads more input into the buffer, after dropping what was returned. The
 * caller makes sure there is room: fewer than line_max bytes are pending. */
static int fill_in(struct conn *c, struct error *e)
{
	if (c->in_start > 0 && c->secret_in) {
		/* the consumed bytes, and the copies the move leaves behind */
		size_t old_len = c->in.len;
		explicit_bzero(c->in.data, c->in_start);
		buf_consume(&c->in, c->in_start);
		explicit_bzero(c->in.data + c->in.len, old_len - c->in.len);
		c->in_start = 0;
	} else if (c->in_start > 0) {
		buf_consume(&c->in, c->in_start);
		c->in_start = 0;
	}
	/* Secret input gets the whole buffer at once: growing it would leave
	 * copies in memory given back to the allocator. */
	if (c->secret_in && buf_reserve(&c->in, buf_room(&c->in)) == NULL)
		abort();
	size_t room = buf_room(&c->in);
	size_t want = room < CONN_READ_CHUNK ? room : CONN_READ_CHUNK;
	char *p = want > 0 ? buf_reserve(&c->in, want) : NULL;
	if (p == NULL)
		abort();  /* broken invariant: the line limit is checked first */
	ssize_t r = transfer_some(c, p, want, true, e);
	if (r < 0)
		return -1;
	buf_commit(&c->in, (size_t)r);
	if (c->in.len > c->in_peak)
		c->in_peak = c->in.len;
	return 0;
}

/* Returns the line in start[0..lf] and consumes it. RFC 5321 §2.3.8: lines
 * end in CRLF; a bare LF also ends one here, flagged, for the protocol to judge. */
static int line_take(struct conn *c, char *start, const char *lf, struct conn_line *line_r)
{
	size_t total = (size_t)(lf - start) + 1;
	bool crlf = total >= 2 && lf[-1] == '\r';
	size_t len = total - 1 - (crlf ? 1 : 0);
	start[len] = '\0';  /* over the terminator, already consumed */
	c->in_start += total;
	line_r->data = start;
	line_r->len = len;
	line_r->crlf = crlf;
	return 0;
}

int conn_read_line(struct conn *c, struct conn_line *line_r, struct error *e)
{
	op_begin(c, "read line");
	size_t scanned = 0;  /* bytes after in_start known to hold no LF */
	for (;;) {
		char *start = c->in.data + c->in_start;
		size_t avail = c->in.len - c->in_start;
		size_t limit = avail < c->line_max ? avail : c->line_max;
		const char *lf = memchr(start + scanned, '\n', limit - scanned);
		if (lf != NULL)
			return line_take(c, start, lf, line_r);
		if (avail >= c->line_max)
			return error_set(e, ERR_LIMIT, "line too long: more than %zu bytes", c->line_max);
		scanned = limit;
		if (fill_in(c, e) < 0)
			return -1;
	}
}

int conn_skip_line(struct conn *c, struct error *e)
{
	op_begin(c, "skip line");
	for (;;) {
		const char *start = c->in.data + c->in_start;
		const char *lf = memchr(start, '\n', c->in.len - c->in_start);
		if (lf != NULL) {
			c->in_start += (size_t)(lf - start) + 1;
			return 0;
		}
		c->in_start = c->in.len;  /* all of it belongs to the skipped line */
		if (fill_in(c, e) < 0)
			return -1;
	}
}

/* conn_read without starting a new operation. */
static ssize_t read_avail(struct conn *c, void *p, size_t n, struct error *e)
{
	size_t avail = c->in.len - c->in_start;
	if (avail == 0)
		return transfer_some(c, p, n, true, e);
	size_t k = avail < n ? avail : n;
	memcpy(p, c->in.data + c->in_start, k);
	c->in_start += k;
	return (ssize_t)k;
}

ssize_t conn_read(struct conn *c, void *p, size_t n, struct error *e)
{
	if (n == 0)
		return 0;
	op_begin(c, "read");
	return read_avail(c, p, n, e);
}

int conn_read_exact(struct conn *c, void *p, size_t n, struct error *e)
{
	op_begin(c, "read");
	char *dst = p;
	while (n > 0) {
		ssize_t r = read_avail(c, dst, n, e);
		if (r < 0)
			return -1;
		dst += r;
		n -= (size_t)r;
	}
	return 0;
}

void conn_set_secret_input(struct conn *c, bool on)
{
	if (!on && c->secret_in && c->in_start > 0)
		explicit_bzero(c->in.data, c->in_start);
	c->secret_in = on;
}

ssize_t conn_peek(struct conn *c, const char **p_r, struct error *e)
{
	op_begin(c, "read");
	if (c->in.len == c->in_start && fill_in(c, e) < 0)
		return -1;
	*p_r = c->in.data + c->in_start;
	return (ssize_t)(c->in.len - c->in_start);
}

void conn_consume(struct conn *c, size_t n)
{
	if (n > c->in.len - c->in_start)
		abort();
	c->in_start += n;
}

size_t conn_in_pending(const struct conn *c)
{
	return c->in.len - c->in_start;
}

/*
 * Writing.
 */

static int send_all(struct conn *c, const char *p, size_t n, struct error *e)
{
	if (c->zout != NULL)
		return deflate_send(c, p, n, e);
	while (n > 0) {
		ssize_t r = transfer_some(c, (void *)p, n, false, e);
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Sends the output buffer. On failure it is kept: the conn is then only fit
 * for conn_free. */
static int flush_out(struct conn *c, struct error *e)
{
	if (send_all(c, c->out.data, c->out.len, e) < 0)
		return -1;
	buf_reset(&c->out);
	return 0;
}

int conn_flush(struct conn *c, struct error *e)
{
	if (c->out.len == 0)
		return 0;
	op_begin(c, "write");
	return flush_out(c, e);
}

int conn_write(struct conn *c, const void *p, size_t n, struct error *e)
{
	if (n < CONN_OUT_FLUSH_AT - c->out.len) {  /* no overflow: out.len < CONN_OUT_FLUSH_AT */
		if (buf_append(&c->out, p, n) < 0)
			abort();  /* within the buffer's maximum by the invariant */
		return 0;
	}
	op_begin(c, "write");
	if (flush_out(c, e) < 0)
		return -1;
	if (n >= CONN_OUT_FLUSH_AT)
		return send_all(c, p, n, e);  /* large: straight from the caller */
	if (buf_append(&c->out, p, n) < 0)
		abort();
	return 0;
}

int conn_printf(struct conn *c, struct error *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || n > CONN_PRINTF_MAX)
		return error_set(e, ERR_LIMIT, "formatted output of %d bytes, limit %d", n, CONN_PRINTF_MAX);
	va_start(ap, fmt);
	int r = buf_appendvf(&c->out, fmt, ap);  /* fits: out.len < CONN_OUT_FLUSH_AT */
	va_end(ap);
	if (r < 0)
		abort();
	if (c->out.len < CONN_OUT_FLUSH_AT)
		return 0;
	op_begin(c, "write");
	return flush_out(c, e);
}

/*
 * TLS.
 */

/* Runs the handshake of ssl (owned from now on) over c. */
static int handshake(struct conn *c, SSL *ssl, struct error *e)
{
	pthread_once(&bio_once, bio_method_init);
	BIO *bio = BIO_new(bio_method);
	if (bio == NULL) {
		SSL_free(ssl);
		return error_set(e, ERR_TLS, "TLS handshake: cannot make a BIO");
	}
	BIO_set_data(bio, c);
	SSL_set_bio(ssl, bio, bio);
	c->ssl = ssl;
	op_begin(c, "TLS handshake");
	for (;;) {
		ERR_clear_error();
		c->io_errno = 0;
		int r = SSL_do_handshake(ssl);
		if (r == 1) {
			c->tls_up = true;
			return 0;
		}
		short ev = 0;
		if (tls_result(c, r, &ev, e) < 0 || conn_wait(c, ev, e) < 0)
			return -1;
	}
}

/* Checks that c can start TLS and sends any buffered plain-text output. */
static int tls_prepare(struct conn *c, struct error *e)
{
	if (c->ssl != NULL)
		return error_set(e, ERR_INVALID, "TLS already started on this connection");
	op_begin(c, "write");
	return flush_out(c, e);
}

/* RFC 3207 §4.2: discard anything pipelined after STARTTLS (CVE-2011-0411),
 * also input still held compressed or inflated in the DEFLATE layer. */
static int refuse_pipelined(struct conn *c, const char *side, struct error *e)
{
	if (!conn_in_buffered(c))
		return 0;
	size_t pending = conn_in_pending(c);
	c->in_start = c->in.len;
	if (c->zin != NULL) {
		pending += c->zin->avail_in;
		c->zin->avail_in = 0;
		c->zin_more = false;
	}
	return error_set(e, ERR_REFUSED,
		"STARTTLS: %s sent %zu bytes of plain text after the command; discarded, "
		"TLS refused (RFC 3207 §4.2)", side, pending);
}

int conn_tls_accept(struct conn *c, struct tls_server *server, struct error *e)
{
	if (tls_prepare(c, e) < 0)
		return -1;
	SSL *ssl = tls_server_ssl_new(server, e);
	if (ssl == NULL)
		return -1;
	SSL_set_accept_state(ssl);
	return handshake(c, ssl, e);
}

int conn_starttls_server(struct conn *c, struct tls_server *server, struct error *e)
{
	if (refuse_pipelined(c, "client", e) < 0)
		return -1;
	return conn_tls_accept(c, server, e);
}

int conn_tls_connect(struct conn *c, struct tls_client *client, const char *host,
	struct error *e)
{
	if (tls_prepare(c, e) < 0)
		return -1;
	SSL *ssl = tls_client_ssl_new(client, host, e);
	if (ssl == NULL)
		return -1;
	SSL_set_connect_state(ssl);
	return handshake(c, ssl, e);
}

int conn_starttls_client(struct conn *c, struct tls_client *client, const char *host,
	struct error *e)
{
	if (refuse_pipelined(c, "server", e) < 0)
		return -1;
	return conn_tls_connect(c, client, host, e);
}

int conn_starttls_client_ssl(struct conn *c, struct ssl_st *ssl, struct error *e)
{
	if (refuse_pipelined(c, "server", e) < 0 || tls_prepare(c, e) < 0) {
		SSL_free(ssl);
		return -1;
	}
	SSL_set_connect_state(ssl);
	return handshake(c, ssl, e);
}

bool conn_tls_active(const struct conn *c)
{
	return c->ssl != NULL && c->tls_up && !c->tls_broken;
}

bool conn_tls_describe(const struct conn *c, struct tls_desc *desc_r)
{
	if (!conn_tls_active(c))
		return false;
	tls_describe(c->ssl, desc_r);
	return true;
}

const char *conn_tls_sni(const struct conn *c)
{
	if (c->ssl == NULL || !c->tls_up)
		return NULL;
	return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
}

int conn_tls_exporter(struct conn *c, unsigned char cb_r[TLS_EXPORTER_LEN], struct error *e)
{
	if (!conn_tls_active(c))
		return error_set(e, ERR_TLS, "tls-exporter: no TLS session");
	return tls_exporter(c->ssl, cb_r, e);
}

struct ssl_st *conn_ssl(struct conn *c)
{
	return c->ssl;
}

/*
 * Facts.
 */

const char *conn_remote(const struct conn *c)
{
	return c->remote;
}

const char *conn_remote_ip(const struct conn *c)
{
	return c->remote_ip;
}

int conn_fd(const struct conn *c)
{
	return c->fd;
}

void conn_stats(const struct conn *c, struct conn_stats *stats_r)
{
	stats_r->bytes_in = c->bytes_in;
	stats_r->bytes_out = c->bytes_out;
	stats_r->in_buf_peak = c->in_peak;
	stats_r->in_buf_bound = c->line_max + CONN_READ_CHUNK;
}
