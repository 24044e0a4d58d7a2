/*
 * taglist.c: the tag=value lists of RFC 6376 §3.2, used by DKIM-Signature
 * fields (§3.5) and key records (§3.6.1), and the base64 their values hold.
 *
 *   tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  =  ALPHA *ALNUMPUNC
 *   tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
 *   tval      =  1*VALCHAR
 *   VALCHAR   =  %x21-3A / %x3C-7E
 *   ALNUMPUNC =  ALPHA / DIGIT / "_"
 *
 * Lenient where real mail is: FWS may use a bare LF as well as CRLF, and
 * VALCHAR also takes bytes of 0x80 and above (UTF-8 in z= and n=, RFC 6532
 * mail); controls other than folding whitespace are refused. An empty
 * tag-spec (";;", or only whitespace) is refused as the grammar says, except
 * at the very end where "[;]" and trailing FWS are allowed.
 */
#include "dkim/dkim.h"

#include "core/base64.h"

#include <string.h>
#include <strings.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Skips FWS ([*WSP CRLF] 1*WSP, RFC 5322 §3.2.2; bare LF accepted). A line
 * break must be followed by WSP to be folding. */
static size_t skip_fws(const char *s, size_t n, size_t i)
{
	for (;;) {
		if (i < n && is_wsp(s[i])) {
			i++;
		} else if (i + 1 < n && s[i] == '\r' && s[i + 1] == '\n' && i + 2 < n &&
		           is_wsp(s[i + 2])) {
			i += 3;
		} else if (i < n && s[i] == '\n' && i + 1 < n && is_wsp(s[i + 1])) {
			i += 2;
		} else {
			return i;
		}
	}
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_valchar(unsigned char c)
{
	return (c >= 0x21 && c <= 0x3a) || (c >= 0x3c && c <= 0x7e) || c >= 0x80;
}

int dkim_taglist_parse(struct arena *a, const char *s, size_t n, struct dkim_tag **tags_r,
                       size_t *ntags_r, const char **error_r)
{
	if (n > DKIM_MAX_TAGLIST_BYTES) {
		*error_r = "tag-list too long";
		return -1;
	}
	struct dkim_tag *tags = arena_alloc(a, DKIM_MAX_TAGS * sizeof(*tags));
	size_t ntags = 0, i = 0;

	for (;;) {
		i = skip_fws(s, n, i);
		if (i == n && ntags > 0)
			break;          /* "[;]" then trailing FWS */
		/* tag-name = ALPHA *ALNUMPUNC */
		size_t ns = i;
		if (i >= n || !is_alpha(s[i])) {
			*error_r = i >= n ? "empty tag-list" : "tag name expected";
			return -1;
		}
		while (i < n && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			i++;
		size_t ne = i;
		i = skip_fws(s, n, i);
		if (i >= n || s[i] != '=') {
			*error_r = "\"=\" expected after tag name";
			return -1;
		}
		i = skip_fws(s, n, i + 1);
		/* tag-value: tvals separated by FWS, trailing FWS not part of it */
		size_t vs = i, ve = i;
		while (i < n && s[i] != ';') {
			if (is_valchar((unsigned char)s[i])) {
				i++;
				ve = i;
				continue;
			}
			size_t j = skip_fws(s, n, i);
			if (j == i) {
				*error_r = "invalid character in tag value";
				return -1;
			}
			i = j;
		}
		for (size_t k = 0; k < ntags; k++)
			if (tags[k].name_len == ne - ns && memcmp(tags[k].name, s + ns, ne - ns) == 0) {
				/* §3.2: duplicate tags make the whole tag-list invalid. */
				*error_r = arena_printf(a, "duplicate tag %.*s=", (int)(ne - ns), s + ns);
				return -1;
			}
		if (ntags == DKIM_MAX_TAGS) {
			*error_r = "too many tags";
			return -1;
		}
		tags[ntags++] = (struct dkim_tag){
			.name = s + ns, .name_len = ne - ns,
			.value = s + vs, .value_len = ve - vs, .value_off = vs,
		};
		if (i >= n)
			break;
		i++;            /* ';' */
	}
	*tags_r = tags;
	*ntags_r = ntags;
	return 0;
}

/* Base64 (RFC 4648 §4) with whitespace anywhere (§3.5 b=: "Whitespace is
 * ignored in this value"). Padding is required to be complete; nonzero
 * pad bits are tolerated, as other verifiers do. */
long dkim_base64_decode(struct arena *a, const char *s, size_t n, unsigned char **out_r,
                        char **text_r)
{
	char *text = arena_alloc(a, n + 1);
	size_t t = 0, pad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
		} else if (pad > 0 || base64_value(c) < 0) {
			return -1;
		}
		text[t++] = (char)c;
	}
	text[t] = '\0';
	if (t % 4 != 0 || pad > 2)
		return -1;
	unsigned char *out = arena_alloc(a, t / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < t; i += 4) {
		unsigned v = 0, k;
		for (k = 0; k < 4 && text[i + k] != '='; k++)
			v = v << 6 | (unsigned)base64_value((unsigned char)text[i + k]);
		if (k < 2)
			return -1;
		v <<= 6 * (4 - k);
		out[o++] = (unsigned char)(v >> 16);
		if (k > 2)
			out[o++] = (unsigned char)(v >> 8);
		if (k > 3)
			out[o++] = (unsigned char)v;
	}
	*out_r = out;
	if (text_r != NULL)
		*text_r = text;
	return (long)o;
}
