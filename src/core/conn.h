/*
 * conn.h: one network connection with deadlines: a file descriptor, an
 * optional TLS session, a bounded input buffer and an output buffer.
 *
 * Protocol code reads like the RFC: read a line, act, write a reply, flush.
 * Every call that may block waits in poll() against a deadline, so a peer
 * that stalls or trickles cannot hold a thread (Postfix smtp_stream.c idea):
 *
 *   - idle timeout: each operation (one line, one read, one flush, one
 *     handshake) must finish within idle_ms of its start;
 *   - transfer: for bulk data (SMTP DATA, IMAP APPEND), between
 *     conn_transfer_begin and conn_transfer_end the deadline is
 *     start + base + bytes moved / min_rate, never beyond start + max, and
 *     no single wait may last longer than idle_ms without a byte moving.
 *
 * Lines are bounded: the input buffer never holds more than line_max +
 * CONN_READ_CHUNK bytes, whatever the peer sends.
 *
 * TLS: implicit (conn_tls_accept, conn_tls_connect) or upgraded from plain
 * text (conn_starttls_server, conn_starttls_client, RFC 3207). Either way
 * the SSL talks to the fd through a BIO of conn.c that sends with
 * MSG_NOSIGNAL, so a peer that goes away never raises SIGPIPE; the process's
 * SIGPIPE disposition is left alone. (A conn on a pipe instead of a socket
 * writes with write(2) and can raise SIGPIPE; pipes are for reading, as the
 * fuzzer does.)
 *
 * A conn belongs to one thread at a time. Errors: ERR_TIMEOUT (deadline, the
 * message names the operation and the time), ERR_CLOSED (peer closed),
 * ERR_LIMIT (line too long), ERR_TLS, ERR_IO, ERR_REFUSED (STARTTLS with
 * pipelined input).
 */
#ifndef TERN_CORE_CONN_H
#define TERN_CORE_CONN_H

#include "core/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct error;

/* Bytes asked of the kernel (or TLS) per read into the input buffer; also
 * the slack above line_max that the buffer may hold. */
#define CONN_READ_CHUNK 4096

/* Default idle timeout: RFC 5321 §4.5.3.2.7, a server waits 5 minutes for
 * the next command. */
#define CONN_IDLE_DEFAULT_MS (5 * 60 * 1000)

/* Output is sent once this much is buffered, without waiting for a flush. */
#define CONN_OUT_FLUSH_AT 16384

/* Largest single conn_printf result. */
#define CONN_PRINTF_MAX 65536

/* Longest line_max accepted by conn_new: larger is a caller bug. */
#define CONN_LINE_MAX_LIMIT (16 * 1024 * 1024)

/* Longest remote address string, "[v6]:port" included. */
#define CONN_ADDR_MAX 64

struct conn;

/* Makes a conn on fd (a connected socket; a pipe works for reading), which
 * it owns from now on, also on failure. line_max (1..CONN_LINE_MAX_LIMIT)
 * is the longest line conn_read_line accepts, terminator included (SMTP
 * commands: 512, RFC 5321 §4.5.3.1.4). The fd is made non-blocking; the idle
 * timeout starts at CONN_IDLE_DEFAULT_MS. Returns the conn (free with
 * conn_free), or NULL with e set. */
struct conn *conn_new(int fd, size_t line_max, struct error *e);

/* Closes the connection and frees *c (NULL allowed), sets *c to NULL. A TLS
 * session gets a close_notify if it can be sent without waiting. Unflushed
 * output is discarded. */
void conn_free(struct conn **c);

/* Makes every later wait for the peer also watch fd (not owned): once fd is
 * readable, the wait fails with ERR_SHUTDOWN, so that a server can end
 * sessions that sit waiting for a command. -1 turns it off (as after
 * conn_new); a protocol turns it off while a transfer must be allowed to
 * finish (SMTP DATA). Input already buffered is returned without waiting. */
void conn_set_cancel_fd(struct conn *c, int fd);

/* Sets the idle timeout in milliseconds (> 0) for the following operations. */
void conn_set_idle_timeout(struct conn *c, unsigned idle_ms);

/* Starts a transfer deadline now: base_ms plus one second per min_rate
 * bytes read or written (0: no growth), capped at max_ms from now. Lasts
 * until conn_transfer_end. */
void conn_transfer_begin(struct conn *c, unsigned base_ms, unsigned min_rate, unsigned max_ms);

/* Ends the transfer deadline; operations use the idle timeout again. */
void conn_transfer_end(struct conn *c);

/*
 * Reading.
 */

/* One line as returned by conn_read_line. */
struct conn_line {
	char *data;   /* the line without its terminator, NUL-terminated; points into
	               * the conn's buffer, valid until the next call on the conn */
	size_t len;   /* bytes in data, terminator excluded; data may hold NULs */
	bool crlf;    /* ended in CRLF; false: ended in a bare LF */
};

/* Reads the next line: bytes up to and including the first LF. A CR before
 * that LF is part of the terminator (crlf is set); a CR anywhere else is
 * data. Returns 0 with line_r filled, or -1 with e set:
 *   ERR_LIMIT  the line, terminator included, is longer than line_max:
 *              "line too long: more than N bytes"; nothing is consumed, so
 *              call conn_skip_line to drop it (and reply, as SMTP's 500) or
 *              close; calling conn_read_line again gives the same error;
 *   ERR_CLOSED the peer closed (a partial last line is dropped);
 *   ERR_TIMEOUT, ERR_TLS, ERR_IO. */
int conn_read_line(struct conn *c, struct conn_line *line_r, struct error *e);

/* Discards input up to and including the next LF, reading as needed, with the
 * memory bound of conn_read_line. Returns 0, or -1 with e set (ERR_CLOSED,
 * ERR_TIMEOUT, ...). */
int conn_skip_line(struct conn *c, struct error *e);

/* Reads 1..n bytes into p: buffered input first, else what arrives next.
 * Returns the count, or -1 with e set (ERR_CLOSED at end of input). */
ssize_t conn_read(struct conn *c, void *p, size_t n, struct error *e);

/* Reads exactly n bytes into p. Returns 0, or -1 with e set; on ERR_CLOSED
 * the bytes before the end are lost. */
int conn_read_exact(struct conn *c, void *p, size_t n, struct error *e);

/* Marks the input as possibly holding passwords (a protocol's state before
 * login) or no longer: while on, input the caller has consumed is
 * overwritten with zeros before the buffer's memory is reused or freed,
 * and turning it off wipes what was consumed since. */
void conn_set_secret_input(struct conn *c, bool on);

/* The input buffered (after reading more when none is), left in place:
 * *p_r gets the bytes, valid until the next call on the conn, and their
 * count (> 0) is returned, or -1 with e set as conn_read. For scanning
 * input in chunks without reading past a point; take bytes with
 * conn_consume. */
ssize_t conn_peek(struct conn *c, const char **p_r, struct error *e);

/* Consumes the first n of the bytes conn_peek returned (n no more than it
 * returned). */
void conn_consume(struct conn *c, size_t n);

/* Bytes received and buffered but not yet returned to the caller. A protocol
 * checks this to refuse pipelining where it is not allowed. */
size_t conn_in_pending(const struct conn *c);

/* Whether input may be available without waiting for the fd: buffered here,
 * in the TLS session, or in the decompressor. Check it before poll() on
 * conn_fd (IMAP IDLE). */
bool conn_in_buffered(const struct conn *c);

/* Frees the input and output buffers while they hold nothing (a connection
 * that waits long, as in IMAP IDLE); they are made again when needed. Lines
 * returned before are no longer valid. */
void conn_release_buffers(struct conn *c);

/*
 * Writing. Output is buffered; conn_flush sends it. Replies to pipelined
 * commands are written one by one and flushed once (RFC 2920 PIPELINING).
 */

/* Appends n bytes to the output, sending when CONN_OUT_FLUSH_AT is reached.
 * Returns 0, or -1 with e set (a send failed: ERR_TIMEOUT, ERR_CLOSED, ...). */
int conn_write(struct conn *c, const void *p, size_t n, struct error *e);

/* conn_write of a formatted string; -1 with ERR_LIMIT if it is longer than
 * CONN_PRINTF_MAX. */
int conn_printf(struct conn *c, struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends all buffered output, waiting against the deadline. Returns 0, or -1
 * with e set. */
int conn_flush(struct conn *c, struct error *e);

/*
 * TLS. All four run the handshake under the idle timeout (or the transfer
 * deadline). On failure the conn is unusable except for conn_free.
 */

/* Implicit TLS as a server (ports 465 and 993: RFC 8314 §3). Returns 0, or
 * -1 with e set (ERR_TLS, ERR_TIMEOUT, ERR_CLOSED, ...). */
int conn_tls_accept(struct conn *c, struct tls_server *server, struct error *e);

/* STARTTLS as a server, after the "ready to start TLS" reply has been
 * flushed. RFC 3207 §4.2: if the client sent anything after the STARTTLS
 * command, those bytes are discarded and the upgrade is refused: -1 with
 * ERR_REFUSED; the conn stays plain text and the caller should close it.
 * Otherwise as conn_tls_accept. */
int conn_starttls_server(struct conn *c, struct tls_server *server, struct error *e);

/* Implicit TLS as a client to host (SNI, and the name verified when the
 * context verifies; see tls_client_ssl_new). Returns 0, or -1 with e set; a
 * certificate that does not verify is ERR_TLS with OpenSSL's reason. */
int conn_tls_connect(struct conn *c, struct tls_client *client, const char *host,
	struct error *e);

/* STARTTLS as a client, after the server's 220 reply. Plain-text bytes the
 * server sent after its reply are refused as in conn_starttls_server.
 * Otherwise as conn_tls_connect. */
int conn_starttls_client(struct conn *c, struct tls_client *client, const char *host,
	struct error *e);

/* STARTTLS as a client with an SSL the caller made and set up (from
 * tls_client_ssl_new, then DANE records or other per-connection settings);
 * the conn owns ssl from now on, also on failure. Otherwise as
 * conn_starttls_client. */
int conn_starttls_client_ssl(struct conn *c, struct ssl_st *ssl, struct error *e);

/*
 * Compression (IMAP COMPRESS=DEFLATE, RFC 4978): from now on both
 * directions are raw DEFLATE (RFC 1951) streams above TLS; input already
 * buffered is taken as compressed. Flush the reply that announces it first.
 * Returns 0, or -1 with e set (already active, out of memory). Compressed
 * input that does not inflate fails reads with ERR_INVALID, as does input
 * that inflates to more than 100 times the compressed bytes past the first
 * MiB (a decompression bomb).
 */
int conn_compress_start(struct conn *c, struct error *e);

/* Whether compression is active. */
bool conn_compressed(const struct conn *c);

/* Whether a TLS session is established. */
bool conn_tls_active(const struct conn *c);

/* Version and cipher of the session (see tls_describe). Returns false, and
 * leaves desc_r alone, when no TLS is active. */
bool conn_tls_describe(const struct conn *c, struct tls_desc *desc_r);

/* On a server conn: the server name the client asked for (SNI), or NULL if
 * none or no TLS. Valid while the conn lives. */
const char *conn_tls_sni(const struct conn *c);

/* The tls-exporter channel binding (RFC 9266) of the session. Returns 0, or
 * -1 with e set (no TLS, or see tls_exporter). */
int conn_tls_exporter(struct conn *c, unsigned char cb_r[TLS_EXPORTER_LEN], struct error *e);

/* The SSL of the session, borrowed (peer certificate checks, DANE), or NULL. */
struct ssl_st *conn_ssl(struct conn *c);

/*
 * Facts for logs and limits.
 */

/* The peer as "192.0.2.1:25", "[2001:db8::1]:25", "unix" or "-" (not a
 * socket). Valid while the conn lives. */
const char *conn_remote(const struct conn *c);

/* The peer's IP address alone ("192.0.2.1", "2001:db8::1"), or "" if it is
 * not an IP socket. Valid while the conn lives. */
const char *conn_remote_ip(const struct conn *c);

/* The file descriptor, borrowed (for poll() together with other events,
 * such as IMAP IDLE). */
int conn_fd(const struct conn *c);

struct conn_stats {
	uint64_t bytes_in;      /* application bytes read from the peer */
	uint64_t bytes_out;     /* application bytes sent to the peer */
	size_t in_buf_peak;     /* most bytes the input buffer ever held */
	size_t in_buf_bound;    /* line_max + CONN_READ_CHUNK: the peak never passes it */
};

/* Fills stats_r. */
void conn_stats(const struct conn *c, struct conn_stats *stats_r);

#endif
