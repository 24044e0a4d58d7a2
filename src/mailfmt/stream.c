/*
 * stream.c: byte sources, the bounded line reader and the line-ending
 * filters of src/mailfmt/.
 *
 * @UNSAFE: pointer arithmetic and memcpy over the line buffer; every index
 * stays within [0, FMT_CHUNK).
 *
 * Line endings: tern stores CRLF (RFC 5322 §2.3). Reading turns a bare LF
 * into CRLF and leaves a lone CR alone (as mox does: inventing a line break
 * for a CR would change a message that may be signed). Writing turns CRLF
 * into LF and leaves a lone CR alone, so a round trip gives the same bytes.
 */
#include "mailfmt/internal.h"

#include <string.h>

ssize_t fmt_src_read(struct fmt_src *src, void *buf, size_t n, struct error *err)
{
	ssize_t r = src->read(src->ctx, buf, n, err);
	if (r > 0)
		src->consumed += (uint64_t)r;
	return r;
}

size_t crlf_to_crlf(bool *prev_cr, const char *in, size_t n, char *out)
{
	size_t o = 0;
	bool cr = *prev_cr;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && !cr)
			out[o++] = '\r';
		out[o++] = in[i];
		cr = in[i] == '\r';
	}
	*prev_cr = cr;
	return o;
}

size_t crlf_to_lf(bool *held_cr, const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (*held_cr) {
			*held_cr = false;
			if (in[i] != '\n')
				out[o++] = '\r';
		}
		if (in[i] == '\r')
			*held_cr = true;
		else
			out[o++] = in[i];
	}
	return o;
}

/* Moves the unread bytes to the front and reads more. Returns bytes added,
 * 0 at the end of input, -1 on error. */
static ssize_t linerd_fill(struct linerd *lr, struct error *err)
{
	if (lr->eof)
		return 0;
	if (lr->start > 0) {
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
	}
	ssize_t r = fmt_src_read(lr->src, lr->buf + lr->end, sizeof(lr->buf) - lr->end, err);
	if (r < 0)
		return -1;
	if (r == 0)
		lr->eof = true;
	lr->end += (size_t)r;
	return r;
}

static void linerd_take(struct linerd *lr, size_t len, const char **p, size_t *n)
{
	*p = lr->buf + lr->start;
	*n = len;
	lr->start += len;
}

int linerd_next(struct linerd *lr, const char **p, size_t *n, bool *complete,
                struct error *err)
{
	for (;;) {
		size_t avail = lr->end - lr->start;
		const char *lf = memchr(lr->buf + lr->start, '\n', avail);
		if (lf != NULL) {
			*complete = true;
			linerd_take(lr, (size_t)(lf - (lr->buf + lr->start)) + 1, p, n);
			return 1;
		}
		if (avail == sizeof(lr->buf) || (lr->eof && avail > 0)) {
			*complete = false;
			linerd_take(lr, avail, p, n);
			return 1;
		}
		ssize_t r = linerd_fill(lr, err);
		if (r < 0)
			return -1;
		if (r == 0 && lr->end == lr->start)
			return 0;
	}
}

void plain_rd_init(struct plain_rd *p, struct fmt_src *src)
{
	p->src = src;
	p->prev_cr = false;
	p->off = 0;
	p->len = 0;
}

ssize_t plain_rd_read(struct plain_rd *p, char *buf, size_t size, struct error *err)
{
	if (p->off == p->len) {
		char in[FMT_CHUNK / 4];  /* converted size fits out */
		ssize_t r = fmt_src_read(p->src, in, sizeof(in), err);
		if (r <= 0)
			return r;
		p->len = crlf_to_crlf(&p->prev_cr, in, (size_t)r, p->out);
		p->off = 0;
	}
	size_t n = p->len - p->off;
	if (n > size)
		n = size;
	memcpy(buf, p->out + p->off, n);
	p->off += n;
	return (ssize_t)n;
}
