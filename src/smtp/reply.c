/*
 * reply.c: SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034,
 * RFC 3463): formatting for the server, parsing for the client.
 *
 *   Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
 *                    Reply-code [ SP textstring ] CRLF
 *   Reply-code     = %x32-35 %x30-35 %x30-39
 *   textstring     = 1*(%d09 / %d32-126)
 *   status-code    = class "." subject "." detail   (RFC 3463 §2, RFC 2034 §4)
 *   class          = "2" / "4" / "5"; subject, detail = 1*3digit
 *
 * Formatting never emits CR or LF from a text: control bytes become '?', and
 * every line, CRLF included, fits in SMTP_REPLY_LINE_MAX (§4.5.3.1.5).
 * Parsing accepts lines up to SMTP_REPLY_PARSE_LINE_MAX: §4.5.3.1 asks
 * for tolerance of longer lines than one sends.
 */
#include "smtp/smtp.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <string.h>

/* RFC 3463 §2: class "." subject "." detail, 1-3 digits each, class 2/4/5. */
static bool enhanced_ok(const char *p, size_t len, size_t *used_r)
{
	size_t i = 0;
	for (int part = 0; part < 3; part++) {
		size_t d = 0;
		while (i < len && p[i] >= '0' && p[i] <= '9' && d < 3) {
			i++;
			d++;
		}
		if (d == 0 || (part == 0 && (d != 1 || (p[0] != '2' && p[0] != '4' && p[0] != '5'))))
			return false;
		if (part < 2) {
			if (i == len || p[i] != '.')
				return false;
			i++;
		}
	}
	if (i < len && p[i] >= '0' && p[i] <= '9')
		return false;
	*used_r = i;
	return true;
}

/* Appends one line: code, sep, enhanced code, then text bytes with control
 * bytes replaced. */
static int emit_line(struct buf *out, int code, char sep, const char *enh, const char *t, size_t n)
{
	size_t before = out->len;
	if (buf_appendf(out, "%d%c", code, sep) < 0)
		return -1;
	if (enh != NULL && (buf_append_str(out, enh) < 0 || buf_append_char(out, ' ') < 0))
		goto full;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		/* §4.2: textstring = 1*(%d09 / %d32-126); bytes >= 128 are kept for
		 * SMTPUTF8 replies (RFC 6531 §3.7.4.2). */
		if (buf_append_char(out, (c < 32 && c != '\t') || c == 127 ? '?' : (char)c) < 0)
			goto full;
	}
	if (buf_append(out, "\r\n", 2) < 0)
		goto full;
	return 0;
full:
	buf_truncate(out, before);
	return -1;
}

/* Bytes of t that fit on one line of room bytes: up to the last space if the
 * text is longer, else a hard cut. Always >= 1 for a non-empty t. */
static size_t wrap_at(const char *t, size_t n, size_t room)
{
	if (n <= room)
		return n;
	for (size_t i = room; i > room / 2; i--)
		if (t[i] == ' ')
			return i;
	return room;
}

int smtp_reply_format(struct buf *out, int code, const char *enhanced,
	const char *const *lines, size_t n, struct error *e)
{
	size_t used;
	if (code < 200 || code > 599)
		return error_set(e, ERR_INVALID, "reply code %d out of range", code);
	if (enhanced != NULL && (!enhanced_ok(enhanced, strlen(enhanced), &used)
		|| used != strlen(enhanced) || enhanced[0] != '0' + code / 100))
		return error_set(e, ERR_INVALID, "bad enhanced status code for %d", code);
	size_t before = out->len;
	/* "250-" + enhanced + " " + text + CRLF within SMTP_REPLY_LINE_MAX */
	size_t room = SMTP_REPLY_LINE_MAX - 4 - 2 - (enhanced != NULL ? strlen(enhanced) + 1 : 0);
	static const char *const empty[] = { "" };
	if (n == 0) {
		lines = empty;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *t = lines[i];
		size_t len = strlen(t);
		do {
			size_t k = wrap_at(t, len, room);
			bool last = i + 1 == n && k == len;
			if (emit_line(out, code, last ? ' ' : '-', enhanced, t, k) < 0) {
				buf_truncate(out, before);
				return error_set(e, ERR_LIMIT, "reply does not fit in the output buffer");
			}
			if (k < len && t[k] == ' ')
				k++;
			t += k;
			len -= k;
		} while (len > 0);
	}
	return 0;
}

int smtp_reply_parse_line(const char *p, size_t len, int *code_r, bool *more_r,
	const char **text_r, size_t *text_len_r, struct error *e)
{
	/* Reply-code = %x32-35 %x30-35 %x30-39 */
	if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5' || p[2] < '0' || p[2] > '9')
		return error_set(e, ERR_INVALID, "reply line: expected a three-digit reply code");
	if (len > 3 && p[3] != ' ' && p[3] != '-')
		return error_set(e, ERR_INVALID, "reply line: expected SP or \"-\" after the code");
	if (len + 2 > SMTP_REPLY_PARSE_LINE_MAX)
		return error_set(e, ERR_LIMIT, "reply line longer than %d octets", SMTP_REPLY_PARSE_LINE_MAX);
	*code_r = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	*more_r = len > 3 && p[3] == '-';
	*text_r = len > 4 ? p + 4 : p + len;
	*text_len_r = len > 4 ? len - 4 : 0;
	return 0;
}

/* Strips the enhanced code (RFC 2034 §4) from every line if all share it. */
static void take_enhanced(struct smtp_reply *r, struct arena *a)
{
	size_t used = 0;
	const char *first = r->lines[0];
	if (!enhanced_ok(first, strlen(first), &used) || first[0] != '0' + r->code / 100
		|| (first[used] != ' ' && first[used] != '\0') || used >= sizeof(r->enhanced))
		return;
	for (size_t i = 1; i < r->n; i++)
		if (strncmp(r->lines[i], first, used) != 0
			|| (r->lines[i][used] != ' ' && r->lines[i][used] != '\0'))
			return;
	memcpy(r->enhanced, first, used);
	r->enhanced[used] = '\0';
	for (size_t i = 0; i < r->n; i++)
		r->lines[i] = arena_strdup(a, r->lines[i] + used + (r->lines[i][used] == ' '));
}

long smtp_reply_parse(const char *p, size_t len, struct arena *a,
	struct smtp_reply *reply_r, struct error *e)
{
	size_t pos = 0, nlines = 0, cap = 4;
	memset(reply_r, 0, sizeof(*reply_r));
	reply_r->lines = arena_alloc(a, cap * sizeof(char *));
	for (;;) {
		const char *lf = memchr(p + pos, '\n', len - pos);
		if (lf == NULL)
			return len - pos + 2 > SMTP_REPLY_PARSE_LINE_MAX
				? error_set(e, ERR_LIMIT, "reply line longer than %d octets",
					SMTP_REPLY_PARSE_LINE_MAX)
				: 0;
		size_t n = (size_t)(lf - (p + pos));
		if (n > 0 && p[pos + n - 1] == '\r')
			n--;
		int code;
		bool more;
		const char *t;
		size_t tlen;
		if (smtp_reply_parse_line(p + pos, n, &code, &more, &t, &tlen, e) < 0)
			return -1;
		if (nlines > 0 && code != reply_r->code)
			return error_set(e, ERR_INVALID, "reply line %zu: code %d differs from %d", nlines + 1,
				code, reply_r->code);
		reply_r->code = code;
		if (nlines == cap) {
			const char **grown = arena_alloc(a, 2 * cap * sizeof(char *));
			memcpy(grown, reply_r->lines, cap * sizeof(char *));
			reply_r->lines = grown;
			cap *= 2;
		}
		reply_r->lines[nlines++] = arena_strndup(a, t, tlen);
		pos = (size_t)(lf - p) + 1;
		if (!more)
			break;
	}
	reply_r->n = nlines;
	take_enhanced(reply_r, a);
	return (long)pos;
}
