/*
 * base64.c: base64 (RFC 4648 §4), see base64.h. @UNSAFE: indexes into
 * caller buffers; every index is checked against its length here.
 */
#include "core/base64.h"

#include "core/buf.h"

#include <stdbool.h>

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

/* RFC 4648 §4 Table 1 (the RFC 2045 §6.8 alphabet). */
int base64_value(unsigned char c)
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
			if ((v[k] = base64_value((unsigned char)src[i + k])) < 0)
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

void base64_append_lines(struct buf *out, const void *data, size_t n)
{
	const unsigned char *p = data;
	char line[80];
	for (size_t off = 0; off < n; off += 57) {  /* 57 octets: 76 characters */
		size_t k = n - off < 57 ? n - off : 57;
		size_t m = base64_encode(line, p + off, k);
		buf_append(out, line, m);
		buf_append_str(out, "\r\n");
	}
}
