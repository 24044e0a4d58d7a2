/*
 * mbox_read.c: splits an mbox stream into messages, in bounded memory.
 *
 * Format (RFC 4155 and the mboxrd/mboxo conventions; there is no standard
 * grammar):
 *   mbox    = *garbage *(from-line message [blank-line])
 *   from-line = "From " sender SP asctime-date [...] LF
 * A line starting "From " begins a message when it is the first "From "
 * line of the file or follows an empty line; that empty line is the
 * separator and is not part of either message. The text before the first
 * "From " line is skipped (leniency: some tools write a banner there). A
 * "From " line right after a non-empty line is message text (mboxrd writers
 * quote it anyway). Content-Length headers are left in the message and never
 * used to split: they are often wrong after a mailbox was edited.
 *
 * Unquoting: mboxrd removes one '>' from lines matching /^>+From /; mboxo
 * removes it only from /^>From /. Lines are handled in pieces of at most
 * FMT_CHUNK bytes, so a quoted line whose '>' run is longer than that keeps
 * its quoting (a theoretical case).
 *
 * Flags: Status, X-Status and X-Keywords in the searched part of the header
 * (internal.h, flags.c) give the flags and keywords of the message. These
 * lines stay in the message: what is stored is the source message, apart
 * from line endings (CRLF) and From-unquoting. The writer keeps them when
 * they still agree with the flags (writer.c), so an unchanged message
 * comes back byte for byte.
 *
 * Memory: one line buffer (FMT_CHUNK), the message header while it is
 * searched for the flag headers (MAILFMT_MBOX_HEADER_SCAN_MAX), and the
 * converted output of one piece. Nothing depends on the message or file size.
 */
#include "mailfmt/internal.h"

#include "core/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OUT_MAX (MAILFMT_MBOX_HEADER_SCAN_MAX + 2 * FMT_CHUNK + 16)

struct mbox_rd {
	struct linerd lr;
	enum mailfmt_mbox_variant variant;
	bool split_any;    /* any "From " line starts a message */
	bool started;      /* the first "From " line was found */
	bool at_from;      /* a "From " line was read: a message follows */
	bool eof;
	bool in_msg;       /* a message was returned by next */
	bool msg_ended;    /* its last byte is in out */
	bool pending_blank;/* an empty line held back: separator or text? */
	bool bol;          /* the next piece starts a line */
	bool prev_cr;
	int64_t next_received;
	struct buf out;
	size_t out_off;
};

struct mbox_rd *mbox_rd_new(struct fmt_src *src, const struct mailfmt_reader_opts *opts)
{
	struct mbox_rd *m = calloc(1, sizeof(*m));
	if (m == NULL)
		abort();
	m->lr.src = src;
	m->variant = opts->mbox_variant;
	m->split_any = opts->mbox_split_any_from;
	m->bol = true;
	buf_init(&m->out, OUT_MAX);
	return m;
}

void mbox_rd_free(struct mbox_rd **mp)
{
	struct mbox_rd *m = *mp;
	if (m == NULL)
		return;
	buf_free(&m->out);
	free(m);
	*mp = NULL;
}

static bool is_from(const char *p, size_t n)
{
	return n >= 5 && memcmp(p, "From ", 5) == 0;
}

static bool is_blank(const char *p, size_t n, bool complete)
{
	return complete && (n == 1 || (n == 2 && p[0] == '\r'));
}

/* How many leading bytes to drop to unquote a line: 1 or 0. */
static size_t unquote_skip(const struct mbox_rd *m, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] == '>')
		i++;
	if (i == 0 || !is_from(p + i, n - i))
		return 0;
	if (m->variant == MAILFMT_MBOXO && i != 1)
		return 0;
	return 1;
}

/* Appends a piece to out with bare LF made CRLF. */
static void emit(struct mbox_rd *m, const char *p, size_t n)
{
	char *dst = buf_reserve(&m->out, 2 * n);
	if (dst == NULL)
		abort();  /* OUT_MAX covers the header scan plus one piece */
	buf_commit(&m->out, crlf_to_crlf(&m->prev_cr, p, n, dst));
}

static void emit_line(struct mbox_rd *m, const char *p, size_t n, bool complete)
{
	if (m->bol) {
		size_t skip = unquote_skip(m, p, n);
		p += skip;
		n -= skip;
	}
	emit(m, p, n);
	m->bol = complete;
}

static void emit_pending_blank(struct mbox_rd *m)
{
	if (m->pending_blank)
		emit(m, "\r\n", 2);
	m->pending_blank = false;
}

/* Consumes a "From " line (first piece p, n): its date and the rest of it. */
static int take_from_line(struct mbox_rd *m, const char *p, size_t n, bool complete,
                          struct error *err)
{
	m->next_received = mbox_from_date(p, n);
	m->at_from = true;
	while (!complete) {
		int r = linerd_next(&m->lr, &p, &n, &complete, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
	}
	m->bol = true;
	return 0;
}

/* Skips text before the first "From " line. Returns 1 found, 0 none, -1. */
static int find_first_from(struct mbox_rd *m, struct error *err)
{
	for (;;) {
		const char *p;
		size_t n;
		bool complete;
		int r = linerd_next(&m->lr, &p, &n, &complete, err);
		if (r <= 0)
			return r;
		bool at_bol = m->bol;
		m->bol = complete;
		if (at_bol && is_from(p, n))
			return take_from_line(m, p, n, complete, err) < 0 ? -1 : 1;
	}
}

/* ---- header scan: the flag headers ---- */

/* Reads the header of the message after a "From " line into out, taking
 * flags from the flag headers of its searched part (internal.h). Every
 * line is kept in the message as it is. */
static int header_scan(struct mbox_rd *m, struct arena *a, struct mailfmt_msg *msg,
                       struct error *err)
{
	struct flagscan fs;
	flagscan_init(&fs, a);
	for (;;) {
		const char *p;
		size_t n;
		bool complete;
		int r = linerd_next(&m->lr, &p, &n, &complete, err);
		if (r < 0) {
			flagscan_free(&fs);
			return -1;
		}
		if (r == 0) {
			m->eof = true;
			m->msg_ended = true;
			break;
		}
		if (m->split_any && m->bol && is_from(p, n)) {
			m->msg_ended = true;  /* a message of only a header */
			if (take_from_line(m, p, n, complete, err) < 0) {
				flagscan_free(&fs);
				return -1;
			}
			break;
		}
		/* the last bytes of the input, without a line ending */
		bool last = !complete && m->lr.eof && m->lr.start == m->lr.end;
		if (!complete && !last) {
			emit_line(m, p, n, false);  /* a long line: stop searching */
			break;
		}
		if (is_blank(p, n, complete)) {
			m->pending_blank = true;  /* the header/body separator, or a message separator */
			break;
		}
		size_t off = m->out.len;
		emit_line(m, p, n, complete);
		/* the line as stored, without its CRLF (a last line: without a
		 * lone CR, which the writer makes the CR of a CRLF) */
		const char *line = m->out.data + off;
		size_t len = m->out.len - off;
		if (complete)
			len -= 2;
		else if (len > 0 && line[len - 1] == '\r')
			len--;
		if (!mbox_hdr_searched(off, len + 2))
			break;
		(void)flagscan_line(&fs, line, len);
	}
	flagscan_end(&fs);
	msg->flags = fs.status | fs.xstatus;
	msg->nkeywords = fs.kw->n;
	msg->keywords = fs.kw->kw;
	if (fs.kw->dropped > 0) {
		struct log_line *l = log_begin(LOG_WARN, "mailfmt", "import: keywords dropped");
		log_uint(l, "count", fs.kw->dropped);
		log_uint(l, "offset", m->lr.src->consumed);
		log_end(l);
	}
	flagscan_free(&fs);
	return 0;
}

/* ---- body ---- */

/* Produces the next piece of the body into out, or ends the message. */
static int body_step(struct mbox_rd *m, struct error *err)
{
	const char *p;
	size_t n;
	bool complete;
	int r = linerd_next(&m->lr, &p, &n, &complete, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		m->eof = true;
		m->msg_ended = true;  /* a blank line before the end is a separator */
		m->pending_blank = false;
		return 0;
	}
	if (!m->bol) {
		emit_line(m, p, n, complete);
		return 0;
	}
	if ((m->pending_blank || m->split_any) && is_from(p, n)) {
		m->pending_blank = false;
		m->msg_ended = true;
		return take_from_line(m, p, n, complete, err);
	}
	if (is_blank(p, n, complete)) {
		emit_pending_blank(m);
		m->pending_blank = true;
		return 0;
	}
	emit_pending_blank(m);
	emit_line(m, p, n, complete);
	return 0;
}

ssize_t mbox_rd_read(struct mbox_rd *m, char *dst, size_t size, struct error *err)
{
	if (!m->in_msg)
		return 0;
	while (m->out_off == m->out.len) {
		buf_reset(&m->out);
		m->out_off = 0;
		if (m->msg_ended)
			return 0;
		if (body_step(m, err) < 0)
			return -1;
	}
	size_t n = m->out.len - m->out_off;
	if (n > size)
		n = size;
	memcpy(dst, m->out.data + m->out_off, n);
	m->out_off += n;
	return (ssize_t)n;
}

/* Skips what is left of the current message. */
static int skip_rest(struct mbox_rd *m, struct error *err)
{
	char tmp[4096];
	ssize_t r;
	while ((r = mbox_rd_read(m, tmp, sizeof(tmp), err)) > 0)
		;
	return r < 0 ? -1 : 0;
}

int mbox_rd_next(struct mbox_rd *m, struct arena *a, struct mailfmt_msg *msg,
                 struct error *err)
{
	if (m->in_msg && skip_rest(m, err) < 0)
		return -1;
	m->in_msg = false;
	if (!m->started) {
		m->started = true;
		int r = find_first_from(m, err);
		if (r <= 0)
			return r;
	}
	if (!m->at_from || m->eof)
		return 0;
	m->at_from = false;
	m->msg_ended = false;
	m->pending_blank = false;
	m->prev_cr = false;
	m->bol = true;
	buf_reset(&m->out);
	m->out_off = 0;
	msg->flags = 0;
	msg->received = m->next_received;
	if (header_scan(m, a, msg, err) < 0)
		return -1;
	m->in_msg = true;
	return 1;
}
