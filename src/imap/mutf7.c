/*
 * mutf7.c: modified UTF-7 mailbox names (RFC 3501 §5.1.3; RFC 9051 §5.1 and
 * Appendix A keep it for clients that did not enable UTF8=ACCEPT), and the
 * mailbox form tern keeps: UTF-8, "INBOX" upper case (RFC 9051 §5.1).
 */
#include "imap/imap.h"
#include "imap/internal.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <string.h>
#include <strings.h>

/* RFC 3501 §5.1.3: modified BASE64 uses "," instead of "/". */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	const char *q = c ? strchr(b64, c) : NULL;
	return q ? (int)(q - b64) : -1;
}

static void put_utf8(struct buf *out, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp; n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
	}
	buf_append(out, u, n);
}

int imap_mutf7_decode(const char *p, size_t n, struct arena *a, const char **out_r,
	struct error *e)
{
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);  /* bounded by n: output <= 2 * input */
	size_t i = 0;
	bool after_run = false;
	while (i < n) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c > 0x7e) {
			buf_free(&out);
			return error_set(e, ERR_INVALID, "byte 0x%02x at offset %zu is not modified UTF-7", c, i);
		}
		if (c != '&') {
			buf_append_char(&out, (char)c);
			i++;
			after_run = false;
			continue;
		}
		i++;
		if (i < n && p[i] == '-') {
			buf_append_char(&out, '&');
			i++;
			after_run = false;
			continue;
		}
		if (after_run) {
			buf_free(&out);
			return error_set(e, ERR_INVALID, "adjacent encoded runs at offset %zu", i - 1);
		}
		uint32_t bits = 0, hi = 0;
		int nbits = 0;
		size_t units = 0;
		for (;;) {
			if (i >= n) {
				buf_free(&out);
				return error_set(e, ERR_INVALID, "unterminated \"&\" run");
			}
			if (p[i] == '-') {
				i++;
				break;
			}
			int v = b64val((unsigned char)p[i]);
			if (v < 0) {
				buf_free(&out);
				return error_set(e, ERR_INVALID, "bad base64 char at offset %zu", i);
			}
			i++;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				nbits -= 16;
				uint32_t u = (bits >> nbits) & 0xffff;
				units++;
				if (hi) {
					if (u < 0xdc00 || u > 0xdfff)
						goto bad16;
					put_utf8(&out, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
					hi = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					hi = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					goto bad16;
				} else if (u >= 0x20 && u <= 0x7e) {
					buf_free(&out);
					return error_set(e, ERR_INVALID, "printable ASCII encoded in \"&\" run");
				} else {
					put_utf8(&out, u);
				}
			}
		}
		if (units == 0 || hi || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0) {
bad16:
			buf_free(&out);
			return error_set(e, ERR_INVALID, "bad modified UTF-7 \"&\" run before offset %zu", i);
		}
		after_run = true;
	}
	*out_r = arena_strndup(a, out.data, out.len);
	buf_free(&out);
	return 0;
}

/* Decodes one UTF-8 sequence at p[*i]; -1 if invalid. */
static int32_t utf8_next(const unsigned char *p, size_t n, size_t *i)
{
	unsigned char c = p[*i];
	uint32_t cp;
	size_t k;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f; k = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f; k = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07; k = 3;
	} else {
		return -1;
	}
	for (size_t j = 1; j <= k; j++) {
		if (*i + j >= n || (p[*i + j] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[*i + j] & 0x3f);
	}
	if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
			(cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += k + 1;
	return (int32_t)cp;
}

static bool utf8_valid(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n)
		if (utf8_next((const unsigned char *)p, n, &i) < 0)
			return false;
	return true;
}

static void flush_run(struct buf *out, uint32_t *bits, int *nbits)
{
	if (*nbits > 0)
		buf_append_char(out, b64[(*bits << (6 - *nbits)) & 0x3f]);
	buf_append_char(out, '-');
	*bits = 0;
	*nbits = 0;
}

int imap_mutf7_encode(const char *p, size_t n, struct arena *a, const char **out_r,
	struct error *e)
{
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);
	size_t i = 0;
	bool in_run = false;
	uint32_t bits = 0;
	int nbits = 0;
	while (i < n) {
		size_t at = i;
		int32_t cp = utf8_next((const unsigned char *)p, n, &i);
		if (cp < 0) {
			buf_free(&out);
			return error_set(e, ERR_INVALID, "invalid UTF-8 at offset %zu", at);
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			if (in_run) {
				flush_run(&out, &bits, &nbits);
				in_run = false;
			}
			buf_append_str(&out, cp == '&' ? "&-" : (char[]){ (char)cp, 0 });
			continue;
		}
		if (!in_run) {
			buf_append_char(&out, '&');
			in_run = true;
		}
		uint32_t units[2];
		int nu = 1;
		if (cp >= 0x10000) {
			units[0] = 0xd800 + (((uint32_t)cp - 0x10000) >> 10);
			units[1] = 0xdc00 + (((uint32_t)cp - 0x10000) & 0x3ff);
			nu = 2;
		} else {
			units[0] = (uint32_t)cp;
		}
		for (int u = 0; u < nu; u++) {
			bits = (bits << 16) | units[u];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				buf_append_char(&out, b64[(bits >> nbits) & 0x3f]);
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (in_run)
		flush_run(&out, &bits, &nbits);
	*out_r = arena_strndup(a, out.data, out.len);
	buf_free(&out);
	return 0;
}

int imap_mailbox_decode(const char *p, size_t n, unsigned flags, struct arena *a,
	const char **out_r, struct error *e)
{
	if (n == 5 && strncasecmp(p, "INBOX", 5) == 0) {
		*out_r = "INBOX";
		return 0;
	}
	if (memchr(p, '\0', n) != NULL)
		return error_set(e, ERR_INVALID, "NUL in mailbox name");
	if (flags & IMAP_UTF8) {
		if (!utf8_valid(p, n))
			return error_set(e, ERR_INVALID, "mailbox name is not valid UTF-8");
		*out_r = arena_strndup(a, p, n);
		return 0;
	}
	return imap_mutf7_decode(p, n, a, out_r, e);
}

bool imap_utf8_valid(const char *p, size_t n)
{
	return utf8_valid(p, n);
}
