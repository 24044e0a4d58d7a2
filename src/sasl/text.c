/*
 * text.c: the text encodings SASL messages and stored credentials use:
 * strict base64 (RFC 4648 §4) and UTF-8 validation (RFC 3629 §4).
 * @UNSAFE: indexes into caller buffers; every index is checked against its
 * length here.
 *
 * The decoder is strict on purpose: RFC 5802 §7 defines base64 as whole
 * 4-character groups with "=" padding only at the end, and stored
 * credentials must fail closed, so whitespace, missing padding and non-zero
 * pad bits are all errors.
 */
#include "sasl/internal.h"

#include "core/arena.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(char *dst, const unsigned char *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)src[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)src[i + 1] << 8;
		if (i + 2 < n)
			v |= src[i + 2];
		dst[o++] = b64chars[(v >> 18) & 63];
		dst[o++] = b64chars[(v >> 12) & 63];
		dst[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		dst[o++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	dst[o] = '\0';
	return o;
}

char *base64_arena(struct arena *a, const unsigned char *src, size_t n)
{
	char *s = arena_alloc(a, BASE64_ENCODED_LEN(n) + 1);
	base64_encode(s, src, n);
	return s;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* base64 = *base64-4 [base64-3 / base64-2]   (RFC 5802 §7)
 * base64-4 = 4base64-char; base64-3 = 3base64-char "="; base64-2 = 2base64-char "==" */
long base64_decode(unsigned char *dst, size_t dstmax, const char *src, size_t n)
{
	if (n % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int pad = 0;
		if (last && src[i + 3] == '=')
			pad = src[i + 2] == '=' ? 2 : 1;
		int v[4] = {0, 0, 0, 0};
		for (int k = 0; k < 4 - pad; k++)
			if ((v[k] = b64val(src[i + k])) < 0)
				return -1;
		if ((pad == 2 && (v[1] & 15) != 0) || (pad == 1 && (v[2] & 3) != 0))
			return -1;  /* non-canonical: pad bits must be zero */
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		size_t nb = 3 - (size_t)pad;
		if (o + nb > dstmax)
			return -1;
		unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
		for (size_t k = 0; k < nb; k++)
			dst[o++] = bytes[k];
	}
	return (long)o;
}

/* RFC 3629 §4:
 * UTF8-char = UTF8-1 / UTF8-2 / UTF8-3 / UTF8-4
 * UTF8-2 = %xC2-DF UTF8-tail
 * UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *          %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 * UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *          %xF4 %x80-8F 2( UTF8-tail )
 * NUL (UTF8-1 %x00) is refused too: no SASL field here may hold it. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool sasl_utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t k = utf8_char(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}
