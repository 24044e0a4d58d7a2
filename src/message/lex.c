/*
 * lex.c: the lexical tokens of RFC 5322 §3.2 shared by the structured
 * header parsers (addresses, dates, message ids, content types), and UTF-8
 * hygiene for decoded text. See internal.h.
 */
#include "message/internal.h"

#include <string.h>

const char *lex_skip_space(const char *p, const char *end)
{
	while (p < end && lex_is_space((unsigned char)*p))
		p++;
	return p;
}

/*
 * RFC 5322 §3.2.2:
 *   comment  = "(" *([FWS] ccontent) [FWS] ")"
 *   ccontent = ctext / quoted-pair / comment
 * Liberal: an unclosed comment runs to the end of the value.
 */
const char *lex_comment(const char *p, const char *end, struct buf *text)
{
	unsigned depth = 0;
	for (; p < end; p++) {
		char c = *p;
		if (c == '\\' && p + 1 < end) {
			p++;  /* RFC 5322 §3.2.1: quoted-pair */
			if (text != NULL)
				(void)buf_append_char(text, *p);
			continue;
		}
		if (c == '(') {
			depth++;
			if (depth == 1 || text == NULL)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				return p + 1;
		} else if (c == '\r' || c == '\n') {
			continue;
		}
		if (text != NULL && depth > 0)
			(void)buf_append_char(text, c);
	}
	return end;
}

/* RFC 5322 §3.2.2: CFWS = (1*([FWS] comment) [FWS]) / FWS */
const char *lex_skip_cfws(const char *p, const char *end, struct buf *comments)
{
	for (;;) {
		p = lex_skip_space(p, end);
		if (p >= end || *p != '(')
			return p;
		if (comments != NULL && comments->len > 0)
			(void)buf_append_char(comments, ' ');
		p = lex_comment(p, end, comments);
	}
}

/*
 * RFC 5322 §3.2.4:
 *   quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
 *   qcontent      = qtext / quoted-pair
 * Folding inside is removed (CR and LF dropped, the WSP kept, §3.2.4).
 * Liberal: an unclosed quoted string runs to the end of the value.
 */
const char *lex_quoted(const char *p, const char *end, struct buf *out)
{
	for (p++; p < end; p++) {
		char c = *p;
		if (c == '"')
			return p + 1;
		if (c == '\\' && p + 1 < end)
			c = *++p;
		else if (c == '\r' || c == '\n')
			continue;
		(void)buf_append_char(out, c);
	}
	return end;
}

bool lex_eq(const char *p, size_t n, const char *s)
{
	size_t i = 0;
	for (; i < n && s[i] != '\0'; i++)
		if (lex_lower((unsigned char)p[i]) != lex_lower((unsigned char)s[i]))
			return false;
	return i == n && s[i] == '\0';
}

char *lex_lowerdup(struct arena *a, const char *p, size_t n)
{
	char *s = arena_strndup(a, p, n);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)lex_lower((unsigned char)s[i]);
	return s;
}

char *lex_bufdup(struct arena *a, const struct buf *b)
{
	char *s = arena_alloc(a, b->len + 1);
	memcpy(s, b->data, b->len);
	return s;
}

int lex_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lex_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int lex_append_replacement(struct buf *out)
{
	return buf_append(out, "\xEF\xBF\xBD", 3);
}

/* Length of the valid UTF-8 sequence at p (RFC 3629 §4), or 0. */
static size_t utf8_seq_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;  /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F;  /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;  /* nothing past U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

bool lex_utf8_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p, *end = s + n;
	while (s < end) {
		size_t len = utf8_seq_len(s, end);
		if (len == 0)
			return false;
		s += len;
	}
	return true;
}

int lex_append_utf8(struct buf *out, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p, *end = s + n;
	const unsigned char *run = s;
	while (s < end) {
		size_t len = utf8_seq_len(s, end);
		if (len > 0) {
			s += len;
			continue;
		}
		if (buf_append(out, run, (size_t)(s - run)) < 0 || lex_append_replacement(out) < 0)
			return -1;
		run = ++s;
	}
	return buf_append(out, run, (size_t)(s - run));
}
