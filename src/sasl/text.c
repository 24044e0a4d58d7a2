/*
 * text.c: UTF-8 validation (RFC 3629 §4) for SASL messages and stored
 * credentials; their strict base64 is core/base64.h.
 * @UNSAFE: indexes into caller buffers; every index is checked against its
 * length here.
 * */
#include "sasl/internal.h"

#include "core/arena.h"

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
