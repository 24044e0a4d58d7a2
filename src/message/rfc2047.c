/*
 * rfc2047.c: encoded words (RFC 2047) in unstructured text and phrases.
 *
 * Decoding is liberal in the ways real mail needs: words are recognised even
 * when glued to other text, encoded text may hold spaces, and bytes of
 * adjacent words in the same charset are joined before conversion, so a
 * multibyte character split across two words (as many encoders do) comes
 * out whole. A word whose charset or encoding is unknown is kept as written
 * (§6.3 allows showing it as is). Text outside words passes through as
 * UTF-8 (RFC 6532), with invalid bytes replaced.
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

/* Longest charset label in an encoded word; longer means not a word. */
#define RFC2047_CHARSET_MAX 64

/* A recognised encoded word. */
struct eword {
	const char *start, *end;        /* the whole word, "=?" to "?=" */
	char charset[RFC2047_CHARSET_MAX];
	char encoding;                  /* 'b' or 'q' */
	const char *text, *text_end;
};

/*
 * RFC 2047 §2:
 *   encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
 *   charset = token    ; RFC 2231 §5 adds "*" language
 *   encoding = token   ; "B" or "Q" (§4)
 * Liberal: encoded-text may contain spaces; its length is not limited to the
 * 75 characters of §2 (long words are common).
 */
static bool eword_parse(const char *p, const char *end, struct eword *w)
{
	if (end - p < 8 || p[0] != '=' || p[1] != '?')
		return false;
	const char *q = p + 2;
	size_t n = 0;
	while (q < end && *q != '?' && !lex_is_space((unsigned char)*q) && n < RFC2047_CHARSET_MAX - 1)
		w->charset[n++] = *q++;
	if (n == 0 || q >= end || *q != '?')
		return false;
	w->charset[n] = '\0';
	char *star = strchr(w->charset, '*');  /* RFC 2231 §5: charset*language */
	if (star != NULL)
		*star = '\0';
	if (end - q < 4 || q[2] != '?')
		return false;
	w->encoding = (char)lex_lower((unsigned char)q[1]);
	if (w->encoding != 'b' && w->encoding != 'q')
		return false;
	w->text = q + 3;
	for (q = w->text; q + 1 < end; q++) {
		if (q[0] == '?' && q[1] == '=') {
			w->text_end = q;
			w->start = p;
			w->end = q + 2;
			return true;
		}
		if (q[0] == '\r' || q[0] == '\n')
			return false;
	}
	return false;
}

/* RFC 2047 §4.2: "Q" is quoted-printable with "_" for space, liberal about
 * bad escapes (kept as written). */
static int q_decode(const char *p, const char *end, struct buf *out)
{
	for (; p < end; p++) {
		char c = *p;
		if (c == '_') {
			c = ' ';  /* §4.2 (2) */
		} else if (c == '=' && end - p >= 3 && lex_hex((unsigned char)p[1]) >= 0 &&
				lex_hex((unsigned char)p[2]) >= 0) {
			c = (char)(lex_hex((unsigned char)p[1]) * 16 + lex_hex((unsigned char)p[2]));
			p += 2;  /* §4.2 (1) */
		}
		if (buf_append_char(out, c) < 0)
			return -1;
	}
	return 0;
}

/* Decoder state: raw bytes of consecutive words in one charset. */
struct pending {
	struct buf raw;
	char charset[RFC2047_CHARSET_MAX];
};

static int flush(struct pending *pd, struct buf *out)
{
	if (pd->raw.len == 0)
		return 0;
	int r = message_charset_to_utf8(pd->charset, pd->raw.data, pd->raw.len, out);
	buf_reset(&pd->raw);
	return r < 0 ? -1 : 0;
}

static int add_word(struct pending *pd, const struct eword *w, struct buf *out)
{
	if (pd->raw.len > 0 && !lex_eq(w->charset, strlen(w->charset), pd->charset) &&
			flush(pd, out) < 0)
		return -1;
	strcpy(pd->charset, w->charset);
	if (w->encoding == 'q')
		return q_decode(w->text, w->text_end, &pd->raw);
	/* §4.1: "B" is base64 */
	return message_decode(MESSAGE_ENC_BASE64, w->text, (size_t)(w->text_end - w->text), &pd->raw);
}

static bool all_space(const char *p, const char *end)
{
	return lex_skip_space(p, end) == end;
}

int rfc2047_decode(const char *p, const char *end, struct buf *out)
{
	struct pending pd;
	buf_init(&pd.raw, (size_t)(end - p) + 16);
	pd.charset[0] = '\0';
	const char *text = p;        /* start of text not yet written */
	bool after_word = false;
	int r = 0;
	while (r == 0 && p < end) {
		const char *at = memmem(p, (size_t)(end - p), "=?", 2);
		struct eword w;
		if (at == NULL)
			break;
		if (!eword_parse(at, end, &w) || !charset_is_known(w.charset)) {
			p = at + 2;
			continue;
		}
		/* §6.2: whitespace between adjacent encoded words is dropped */
		if (!(after_word && all_space(text, at))) {
			if (flush(&pd, out) < 0 || lex_append_utf8(out, text, (size_t)(at - text)) < 0)
				r = -1;
		}
		if (r == 0)
			r = add_word(&pd, &w, out);
		p = text = w.end;
		after_word = true;
	}
	if (r == 0 && flush(&pd, out) < 0)
		r = -1;
	if (r == 0)
		r = lex_append_utf8(out, text, (size_t)(end - text));
	buf_free(&pd.raw);
	return r;
}
