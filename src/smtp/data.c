/*
 * data.c: the message after DATA (RFC 5321 §4.1.1.4, §4.5.2), read from a
 * conn, dot-stuffing undone, passed on with CRLF line endings.
 *
 * SMTP smuggling protection (RFC 5321 §4.1.1.4: "the mail data is terminated
 * by a line containing only a period, that is, the character sequence
 * <CRLF>.<CRLF>"; §2.3.8: CR and LF "MUST only occur together as CRLF"):
 *   - only CRLF "." CRLF ends the data; "\n.\n", "\r.\r", "\n.\r\n",
 *     "\r\n.\n", "\r\n.\r" and the like are data;
 *   - a bare CR or bare LF anywhere makes the message invalid (500 5.5.2), as
 *     mox smtp/data.go does; a NUL too (554 5.6.0: RFC 5321 §4.5.2 /
 *     RFC 2045 §2.7-2.8 allow no NUL in 7bit or 8bit text, and BINARYMIME
 *     needs BDAT, RFC 3030 §3);
 *   - after such an error the reader still consumes input up to the true
 *     end-of-data line, so the next command is read where the client thinks
 *     it starts and nothing hidden in the data is taken as a command.
 * The oversize error (552 5.3.4) also consumes to the end.
 *
 * Input is read line by line (conn_read_line), never past the end-of-data
 * line, so pipelined commands after it stay in the conn.
 */
#include "smtp/smtp.h"

#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

enum dstate {
	D_LINE_START,   /* after CRLF (or the DATA command's CRLF) */
	D_DOT,          /* line start, then "." */
	D_DOT_CR,       /* line start, ".", CR: LF ends the data */
	D_MID,          /* inside a line */
	D_CR,           /* a CR inside a line: LF must follow */
	D_END,
};

/* Output is gathered in this many bytes before going to the sink. */
#define DATA_OUT_CHUNK 8192

struct dr {
	enum dstate st;
	uint64_t max, size;
	smtp_data_sink *sink;
	void *ctx;
	struct error *e;
	struct smtp_data_result *res;
	bool failed;               /* an error is recorded: stop emitting */
	char out[DATA_OUT_CHUNK];
	size_t out_len;
};

static void fail(struct dr *d, enum error_kind kind, int code, const char *enh, const char *text,
	const char *msg)
{
	if (d->failed)
		return;  /* the first error is the one reported */
	d->failed = true;
	error_set(d->e, kind, "%s", msg);
	d->res->hint = (struct smtp_reply_hint){ code, enh, text };
}

static void flush_out(struct dr *d)
{
	if (d->out_len > 0 && !d->failed && d->sink(d->ctx, d->out, d->out_len, d->e) < 0) {
		d->failed = true;
		d->res->hint = (struct smtp_reply_hint){ 451, "4.3.0", "Error storing message" };
	}
	d->out_len = 0;
}

static void emit(struct dr *d, char c)
{
	if (d->failed)
		return;
	if (d->max != 0 && d->size >= d->max) {
		fail(d, ERR_LIMIT, 552, "5.3.4", "Message too big",
			"message larger than the maximum size");  /* RFC 1870 §6.1 */
		return;
	}
	d->size++;
	d->out[d->out_len++] = c;
	if (d->out_len == sizeof(d->out))
		flush_out(d);
}

static void bare(struct dr *d, const char *which)
{
	fail(d, ERR_INVALID, 500, "5.5.2",
		"Bare CR or LF in message data not accepted (SMTP smuggling protection)", which);
}

/* A byte inside a line. */
static void mid(struct dr *d, char c)
{
	if (c == '\r') {
		d->st = D_CR;
		return;
	}
	d->st = D_MID;
	if (c == '\n')
		bare(d, "bare LF in message data");  /* RFC 5321 §2.3.8 */
	else if (c == '\0')
		fail(d, ERR_INVALID, 554, "5.6.0", "NUL in message data not accepted", "NUL in message data");
	else
		emit(d, c);
}

static void step(struct dr *d, char c)
{
	switch (d->st) {
	case D_LINE_START:
		if (c == '.')
			d->st = D_DOT;
		else
			mid(d, c);
		break;
	case D_DOT:
		if (c == '\r')
			d->st = D_DOT_CR;
		else
			mid(d, c);  /* RFC 5321 §4.5.2: the leading dot is dropped */
		break;
	case D_DOT_CR:
		if (c == '\n') {
			d->st = D_END;  /* CRLF "." CRLF: RFC 5321 §4.1.1.4 */
		} else {
			bare(d, "bare CR in message data");
			mid(d, c);
		}
		break;
	case D_CR:
		if (c == '\n') {
			emit(d, '\r');
			emit(d, '\n');
			d->st = D_LINE_START;
		} else {
			bare(d, "bare CR in message data");
			mid(d, c);
		}
		break;
	case D_MID:
	case D_END:
		mid(d, c);
		break;
	}
}

static void feed(struct dr *d, const char *p, size_t n)
{
	for (size_t i = 0; i < n && d->st != D_END; i++)
		step(d, p[i]);
}

/* One line (or, when the line passes the conn's line_max, its first bytes,
 * which hold no LF) into the state machine. Returns 0, or -1 (e set). */
static int read_some(struct conn *c, struct dr *d, struct error *e)
{
	struct conn_line line;
	if (conn_read_line(c, &line, e) == 0) {
		feed(d, line.data, line.len);
		feed(d, line.crlf ? "\r\n" : "\n", line.crlf ? 2 : 1);
		return 0;
	}
	if (e->kind != ERR_LIMIT)
		return -1;
	/* conn_read_line found no LF in the first line_max buffered bytes, so
	 * reading at most that many takes only those bytes. */
	struct conn_stats st;
	char tmp[4096];
	conn_stats(c, &st);
	size_t line_max = st.in_buf_bound - CONN_READ_CHUNK;
	ssize_t n = conn_read(c, tmp, line_max < sizeof(tmp) ? line_max : sizeof(tmp), e);
	if (n < 0)
		return -1;
	feed(d, tmp, (size_t)n);
	return 0;
}

int smtp_data_read(struct conn *c, uint64_t max_size, smtp_data_sink *sink, void *ctx,
	struct smtp_data_result *result_r, struct error *e)
{
	struct dr *d = calloc(1, sizeof(*d));
	struct error io;
	int ret = 0;
	if (d == NULL)
		abort();
	*d = (struct dr){ .st = D_LINE_START, .max = max_size, .sink = sink, .ctx = ctx,
		.e = e, .res = result_r };
	memset(result_r, 0, sizeof(*result_r));
	error_clear(e);
	while (d->st != D_END) {
		if (read_some(c, d, &io) < 0) {
			*e = io;
			result_r->hint = (struct smtp_reply_hint){ 421, "4.4.2", "Connection lost or timed out during data" };
			ret = -1;
			break;
		}
	}
	if (ret == 0) {
		flush_out(d);
		result_r->synced = true;
		ret = d->failed ? -1 : 0;
	}
	result_r->size = d->size;
	free(d);
	return ret;
}

int smtp_data_sink_buf(void *ctx, const char *p, size_t n, struct error *e)
{
	if (buf_append(ctx, p, n) < 0)
		return error_set(e, ERR_LIMIT, "message buffer full");
	return 0;
}
