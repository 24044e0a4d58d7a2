/*
 * decode.c: Content-Transfer-Encoding (RFC 2045 §6): base64 and
 * quoted-printable decoding as a streaming filter, and the text of a part
 * as UTF-8.
 *
 * The decoder takes spans of any size, split anywhere, and keeps the few
 * bytes whose meaning depends on what follows (a base64 quantum, a QP
 * escape, QP trailing whitespace). Output goes to a caller's buf whose
 * maximum bounds the work; decoding is liberal and never fails on content.
 */
#include "message/message.h"
#include "message/internal.h"

#include "core/base64.h"

#include <string.h>

enum qp_state {
	QP_TEXT = 0,
	QP_EQ,       /* after "=" */
	QP_EQ_HEX,   /* after "=" and one hex digit (in pending[0]) */
	QP_EQ_CR,    /* after "=" CR */
	QP_EQ_WS,    /* after "=" and whitespace (held) */
};

static const struct {
	const char *name;
	enum message_encoding encoding;
} encodings[] = {
	{ "7bit", MESSAGE_ENC_7BIT },
	{ "8bit", MESSAGE_ENC_8BIT },
	{ "binary", MESSAGE_ENC_BINARY },
	{ "quoted-printable", MESSAGE_ENC_QP },
	{ "base64", MESSAGE_ENC_BASE64 },
};

/* RFC 2045 §6.1: mechanism := "7bit" / "8bit" / "binary" /
 * "quoted-printable" / "base64" / ietf-token / x-token (case-insensitive) */
enum message_encoding message_encoding_parse(const char *s, size_t n)
{
	while (n > 0 && lex_is_space((unsigned char)*s))
		s++, n--;
	while (n > 0 && lex_is_space((unsigned char)s[n - 1]))
		n--;
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++)
		if (lex_eq(s, n, encodings[i].name))
			return encodings[i].encoding;
	return MESSAGE_ENC_UNKNOWN;
}

void message_decoder_init(struct message_decoder *d, enum message_encoding encoding)
{
	memset(d, 0, sizeof(*d));
	d->encoding = encoding;
}

/* Writes the bytes of a partial quantum (2 or 3 sextets), as "=" padding
 * or the end of the input calls for. */
static int b64_flush(struct message_decoder *d, struct buf *out)
{
	const unsigned char *s = d->pending;
	unsigned char o[2] = { (unsigned char)(s[0] << 2 | s[1] >> 4),
		(unsigned char)(s[1] << 4 | s[2] >> 2) };
	size_t n = d->n_pending >= 2 ? d->n_pending - 1 : 0;  /* one sextet makes no byte */
	d->n_pending = 0;
	return buf_append(out, o, n);
}

/* RFC 2045 §6.8: "Any characters outside of the base64 alphabet are to be
 * ignored"; "=" ends a quantum early. */
static int b64_feed(struct message_decoder *d, const char *in, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int v = base64_value(c);
		if (v < 0) {
			if (c == '=' && d->n_pending > 0 && b64_flush(d, out) < 0)
				return -1;
			if (c != '=' && !lex_is_space(c))
				d->invalid = true;
			continue;
		}
		d->pending[d->n_pending++] = (unsigned char)v;
		if (d->n_pending < 4)
			continue;
		const unsigned char *s = d->pending;
		unsigned char o[3] = { (unsigned char)(s[0] << 2 | s[1] >> 4),
			(unsigned char)(s[1] << 4 | s[2] >> 2), (unsigned char)(s[2] << 6 | s[3]) };
		d->n_pending = 0;
		if (buf_append(out, o, 3) < 0)
			return -1;
	}
	return 0;
}

static int qp_flush_hold(struct message_decoder *d, struct buf *out)
{
	int r = buf_append(out, d->qp_hold, d->n_qp_hold);
	d->n_qp_hold = 0;
	return r;
}

static int qp_hold(struct message_decoder *d, char c, struct buf *out)
{
	if (d->n_qp_hold == sizeof(d->qp_hold) && qp_flush_hold(d, out) < 0)
		return -1;
	d->qp_hold[d->n_qp_hold++] = c;
	return 0;
}

/* One byte in the text state. */
static int qp_text(struct message_decoder *d, char c, struct buf *out)
{
	if (c == '=') {
		d->state = QP_EQ;
		return 0;
	}
	if (lex_is_wsp((unsigned char)c))
		return qp_hold(d, c, out);
	if (c == '\r' || c == '\n')
		d->n_qp_hold = 0;  /* §6.7 (3): trailing whitespace is deleted */
	else if (qp_flush_hold(d, out) < 0)
		return -1;
	return buf_append_char(out, c);
}

/* Writes an escape that turned out not to be one, as written (§6.7 note 1). */
static int qp_literal(struct message_decoder *d, struct buf *out)
{
	char lit[2] = { '=', (char)d->pending[0] };
	size_t n = d->state == QP_EQ_HEX ? 2 : 1;
	d->state = QP_TEXT;
	if (qp_flush_hold(d, out) < 0)
		return -1;
	return buf_append(out, lit, n);
}

/* One byte after "=": hex digits, a soft line break (§6.7 (5)), or neither. */
static int qp_escape(struct message_decoder *d, char c, struct buf *out)
{
	unsigned char u = (unsigned char)c;
	switch (d->state) {
	case QP_EQ:
		if (lex_hex(u) >= 0) {
			d->pending[0] = u;
			d->state = QP_EQ_HEX;
			return 0;
		}
		if (c == '\r' || c == '\n' || lex_is_wsp(u)) {
			d->state = c == '\r' ? QP_EQ_CR : c == '\n' ? QP_TEXT : QP_EQ_WS;
			return c == '\n' || c == '\r' ? qp_flush_hold(d, out) : qp_hold(d, c, out);
		}
		break;
	case QP_EQ_HEX:
		if (lex_hex(u) >= 0) {
			d->state = QP_TEXT;
			if (qp_flush_hold(d, out) < 0)
				return -1;
			return buf_append_char(out, (char)(lex_hex(d->pending[0]) * 16 + lex_hex(u)));
		}
		break;
	case QP_EQ_CR:
		d->state = QP_TEXT;
		return c == '\n' ? 0 : qp_text(d, c, out);
	case QP_EQ_WS:
		/* "=" then whitespace then a line end: padded soft line break */
		if (lex_is_wsp(u))
			return 0;
		if (c == '\r' || c == '\n') {
			d->state = c == '\r' ? QP_EQ_CR : QP_TEXT;
			d->n_qp_hold = 0;
			return 0;
		}
		d->state = QP_TEXT;
		if (buf_append_char(out, '=') < 0 || qp_flush_hold(d, out) < 0)
			return -1;
		return qp_text(d, c, out);
	}
	if (qp_literal(d, out) < 0)
		return -1;
	d->invalid = true;
	return qp_text(d, c, out);
}

/* RFC 2045 §6.7 rules (1)-(5), liberal as note 1 advises. */
static int qp_feed(struct message_decoder *d, const char *in, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		int r = d->state == QP_TEXT ? qp_text(d, in[i], out) : qp_escape(d, in[i], out);
		if (r < 0)
			return -1;
	}
	return 0;
}

int message_decoder_feed(struct message_decoder *d, const char *in, size_t n, struct buf *out)
{
	switch (d->encoding) {
	case MESSAGE_ENC_BASE64:
		return b64_feed(d, in, n, out);
	case MESSAGE_ENC_QP:
		return qp_feed(d, in, n, out);
	default:
		return buf_append(out, in, n);
	}
}

int message_decoder_finish(struct message_decoder *d, struct buf *out)
{
	if (d->encoding == MESSAGE_ENC_BASE64)
		return d->n_pending > 0 ? b64_flush(d, out) : 0;
	if (d->encoding != MESSAGE_ENC_QP)
		return 0;
	int r = 0;
	if (d->state == QP_EQ || d->state == QP_EQ_HEX)
		r = qp_literal(d, out);
	d->state = QP_TEXT;
	d->n_qp_hold = 0;  /* §6.7 (3): trailing whitespace of the last line */
	return r;
}

int message_decode(enum message_encoding encoding, const char *in, size_t n, struct buf *out)
{
	struct message_decoder d;
	message_decoder_init(&d, encoding);
	if (message_decoder_feed(&d, in, n, out) < 0)
		return -1;
	return message_decoder_finish(&d, out);
}

static bool is_text(const struct message_part *p)
{
	return p->content_type.type != NULL && strcmp(p->content_type.type, "text") == 0;
}

/* Decodes the body of p into raw. Liberal: a base64 body holding
 * characters outside the alphabet is most likely not base64 at all (a
 * mislabelled text part), so it is kept as written. */
static int decode_body(const struct message *m, const struct message_part *p, struct buf *raw)
{
	const char *body = m->data + p->body_offset;
	struct message_decoder d;
	message_decoder_init(&d, p->encoding);
	if (message_decoder_feed(&d, body, p->body_size, raw) < 0 ||
			message_decoder_finish(&d, raw) < 0)
		return -1;
	if (p->encoding == MESSAGE_ENC_BASE64 && d.invalid) {
		buf_reset(raw);
		return buf_append(raw, body, p->body_size);
	}
	return 0;
}

int message_part_text(const struct message *m, const struct message_part *p, struct buf *out)
{
	if (!is_text(p))
		return decode_body(m, p, out) < 0 ? -1 : 1;
	struct buf raw;
	buf_init(&raw, p->body_size);  /* decoding never grows the data */
	int r = decode_body(m, p, &raw);
	if (r == 0)
		r = message_charset_to_utf8(p->charset, raw.data, raw.len, out);
	buf_free(&raw);
	return r;
}
