/*
 * charset.c: text in a MIME charset (RFC 2046 §4.1.2, RFC 2047 §2) to
 * UTF-8 with iconv(3).
 *
 * Names are matched case-insensitively after a short table of aliases that
 * real mail uses but glibc's iconv does not know, or knows as a smaller
 * charset than senders mean (gb2312 text is usually GBK/GB18030, a
 * ks_c_5601-1987 label means CP949). us-ascii and utf-8 are not converted
 * but checked, so that 8-bit bytes in a mislabelled part cannot produce
 * invalid UTF-8. Conversion never fails on content: invalid input becomes
 * U+FFFD.
 */
#include "message/message.h"
#include "message/internal.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

/* Longest charset name looked at; longer names are unknown charsets. */
#define CHARSET_NAME_MAX 64

static const struct {
	const char *label;
	const char *iconv_name;
} charset_aliases[] = {
	{ "us-ascii", "UTF-8" },          /* checked as UTF-8, see above */
	{ "ascii", "UTF-8" },
	{ "utf-8", "UTF-8" },
	{ "utf8", "UTF-8" },
	{ "x-unknown", "UTF-8" },
	{ "unknown-8bit", "UTF-8" },
	{ "gb2312", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "ks_c_5601-1987", "CP949" },
	{ "ks_c_5601", "CP949" },
	{ "iso-8859-8-i", "ISO-8859-8" },
	{ "x-sjis", "SHIFT_JIS" },
	{ "shift-jis", "SHIFT_JIS" },
	{ "x-mac-roman", "MACINTOSH" },
	{ "unicode-1-1-utf-7", "UTF-7" },
	{ "x-user-defined", "WINDOWS-1252" },
	{ "iso-8859-1", "WINDOWS-1252" },  /* what Latin-1 labelled mail holds */
	{ "latin1", "WINDOWS-1252" },
};

/* The iconv name for label (written to name, NUL-terminated), following the
 * alias table. Returns false if the label is empty or too long. */
static bool charset_name(const char *label, char name[CHARSET_NAME_MAX])
{
	size_t n = strlen(label);
	if (n == 0 || n >= CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < sizeof(charset_aliases) / sizeof(charset_aliases[0]); i++) {
		if (lex_eq(label, n, charset_aliases[i].label)) {
			strcpy(name, charset_aliases[i].iconv_name);
			return true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)label[i];
		/* only what charset names use (RFC 2978 §2.3): iconv interprets
		 * "//" suffixes, which a sender must not choose */
		if (!(c > ' ' && c < 0x7f && c != '/' && c != '\\'))
			return false;
		name[i] = (char)c;
	}
	name[n] = '\0';
	return true;
}

/* Runs cd over the input, appending UTF-8 to out. */
static int convert(iconv_t cd, const char *in, size_t n, struct buf *out)
{
	char *ip = (char *)in;  /* iconv's prototype lacks const */
	size_t left = n;
	while (left > 0) {
		char tmp[1024];
		char *op = tmp;
		size_t room = sizeof(tmp);
		size_t r = iconv(cd, &ip, &left, &op, &room);
		int err = r == (size_t)-1 ? errno : 0;
		if (buf_append(out, tmp, sizeof(tmp) - room) < 0)
			return -1;
		if (err == EILSEQ) {
			/* one bad byte: mark it and go on with the next */
			if (lex_append_replacement(out) < 0)
				return -1;
			ip++;
			left--;
		} else if (err == EINVAL) {
			/* a sequence cut by the end of the input */
			return lex_append_replacement(out);
		} else if (err != 0 && err != E2BIG) {
			return lex_append_replacement(out);
		}
	}
	char tmp[64];
	char *op = tmp;
	size_t room = sizeof(tmp);
	iconv(cd, NULL, NULL, &op, &room);  /* return to the initial shift state */
	return buf_append(out, tmp, sizeof(tmp) - room);
}

int message_charset_to_utf8(const char *charset, const char *in, size_t n, struct buf *out)
{
	char name[CHARSET_NAME_MAX];
	if (charset == NULL || *charset == '\0')
		charset = "us-ascii";  /* RFC 2045 §5.2 */
	if (!charset_name(charset, name))
		return lex_append_utf8(out, in, n) < 0 ? -1 : 0;
	if (strcmp(name, "UTF-8") == 0)
		return lex_append_utf8(out, in, n) < 0 ? -1 : 1;
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return lex_append_utf8(out, in, n) < 0 ? -1 : 0;
	int r = convert(cd, in, n, out);
	iconv_close(cd);
	return r < 0 ? -1 : 1;
}

bool charset_is_known(const char *charset)
{
	char name[CHARSET_NAME_MAX];
	if (!charset_name(charset, name))
		return false;
	if (strcmp(name, "UTF-8") == 0)
		return true;
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}
