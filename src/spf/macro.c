/*
 * macro.c: RFC 7208 §7, macros: syntax checks of macro-strings and
 * domain-specs, and their expansion.
 *
 *   domain-spec      = macro-string domain-end
 *   domain-end       = ( "." toplabel [ "." ] ) / macro-expand
 *   toplabel         = ( *alphanum ALPHA *alphanum ) /
 *                      ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 *   explain-string   = *( macro-string / SP )
 *   macro-string     = *( macro-expand / macro-literal )
 *   macro-expand     = ( "%{" macro-letter transformers *delimiter "}" )
 *                      / "%%" / "%_" / "%-"
 *   macro-literal    = %x21-24 / %x26-7E
 *   macro-letter     = "s" / "l" / "o" / "d" / "i" / "p" / "h" /
 *                      "c" / "r" / "t" / "v"
 *   transformers     = *DIGIT [ "r" ]
 *   delimiter        = "." / "-" / "+" / "," / "/" / "_" / "="
 *
 * Letters are case-insensitive; an uppercase letter is URL-escaped after
 * expansion (§7.3). Expansion needs no DNS except %{p}, which the caller
 * provides through spf_macro_ctx.ptr_name.
 */
#include "spf/internal.h"

#include "core/arena.h"
#include "core/buf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A macro-expand, parsed. */
struct macro {
	char letter;          /* lowercase */
	bool upper;           /* URL-escape the result (§7.3) */
	unsigned digits;      /* 0: keep all parts */
	bool reverse;
	char delims[8];       /* NUL-terminated; empty: "." */
	size_t len;           /* bytes of the macro-expand in the input */
};

/* Keep at most this many right-hand parts; more digits than that mean
 * "all" anyway, and saturating avoids overflow on absurd numbers. */
#define MACRO_DIGITS_CAP 1000

static bool letter_allowed(char c, enum spf_macro_mode mode)
{
	if (strchr("slodiphv", c) != NULL)
		return true;
	/* §7.1: "The following macro letters are allowed only in "exp" text:
	 * c, r, t". Unknown modifiers are never expanded: any letter. */
	return strchr("crt", c) != NULL && mode != SPF_MACRO_DOMAIN;
}

/* Parses the macro-expand "%{...}" at s[0..len) (s[0] == '%', s[1] == '{').
 * Returns 0 with *m, or -1 with *error_r. */
static int parse_braced(const char *s, size_t len, enum spf_macro_mode mode, struct macro *m,
                        const char **error_r)
{
	size_t i = 2;

	memset(m, 0, sizeof(*m));
	if (i >= len || !isalpha((unsigned char)s[i])) {
		*error_r = "macro: %{ not followed by a letter";
		return -1;
	}
	m->letter = (char)tolower((unsigned char)s[i]);
	m->upper = isupper((unsigned char)s[i]) != 0;
	if (!letter_allowed(m->letter, mode)) {
		*error_r = strchr("crt", m->letter) != NULL
			? "macro: %{c}, %{r} and %{t} are allowed only in explanations (RFC 7208 §7.1)"
			: "macro: unknown macro letter";
		return -1;
	}
	i++;
	bool have_digits = false;
	while (i < len && isdigit((unsigned char)s[i])) {
		have_digits = true;
		if (m->digits < MACRO_DIGITS_CAP)
			m->digits = m->digits * 10 + (unsigned)(s[i] - '0');
		i++;
	}
	/* §7.3: "If a DIGIT is specified, the value MUST be nonzero." */
	if (have_digits && m->digits == 0) {
		*error_r = "macro: transformer digit 0";
		return -1;
	}
	if (i < len && (s[i] == 'r' || s[i] == 'R')) {
		m->reverse = true;
		i++;
	}
	size_t nd = 0;
	while (i < len && strchr(".-+,/_=", s[i]) != NULL && s[i] != '\0') {
		if (nd + 1 < sizeof(m->delims) && strchr(m->delims, s[i]) == NULL)
			m->delims[nd++] = s[i];
		i++;
	}
	if (i >= len || s[i] != '}') {
		*error_r = "macro: bad transformer or delimiter, or no closing }";
		return -1;
	}
	m->len = i + 1;
	return 0;
}

/* One element of a macro-string at s[0..len): returns the bytes it takes,
 * with *m->letter 0 for a literal or an escape ("%%", "%_", "%-"), or -1. */
static long next_element(const char *s, size_t len, enum spf_macro_mode mode, struct macro *m,
                         const char **error_r)
{
	unsigned char c = (unsigned char)s[0];

	memset(m, 0, sizeof(*m));
	if (c != '%') {
		if ((c >= 0x21 && c <= 0x7e) || (c == ' ' && mode == SPF_MACRO_EXP))
			return 1;
		*error_r = c >= 0x80 ? "non-ASCII character (RFC 7208 §3.1)"
		                     : "space or control character in a macro-string";
		return -1;
	}
	if (len >= 2 && (s[1] == '%' || s[1] == '_' || s[1] == '-'))
		return 2;
	if (len >= 2 && s[1] == '{') {
		if (parse_braced(s, len, mode, m, error_r) < 0)
			return -1;
		return (long)m->len;
	}
	/* §7.1: "A '%' character not at the beginning of a macro-expand is a
	 * syntax error". */
	*error_r = "macro: % not followed by {, %, _ or -";
	return -1;
}

int spf_macro_check(const char *s, size_t len, enum spf_macro_mode mode, const char **error_r)
{
	struct macro m;
	for (size_t i = 0; i < len;) {
		long n = next_element(s + i, len - i, mode, &m, error_r);
		if (n < 0)
			return -1;
		i += (size_t)n;
	}
	return 0;
}

static bool toplabel_valid(const char *s, size_t len)
{
	bool alpha = false, dash = false;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '-')
			dash = true;
		else if (isalpha(c))
			alpha = true;
		else if (!isdigit(c))
			return false;
	}
	/* first alternative: alphanumerics with a letter; second: a dash
	 * inside, alphanumerics at both ends */
	if (!dash)
		return alpha;
	return s[0] != '-' && s[len - 1] != '-';
}

int spf_domain_spec_check(const char *s, size_t len, const char **error_r)
{
	struct macro m;
	size_t lit = 0;      /* start of the trailing run of literals */
	bool last_macro = false;

	if (len == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	for (size_t i = 0; i < len;) {
		long n = next_element(s + i, len - i, SPF_MACRO_DOMAIN, &m, error_r);
		if (n < 0)
			return -1;
		i += (size_t)n;
		last_macro = s[i - (size_t)n] == '%';
		if (last_macro)
			lit = i;
	}
	if (last_macro)
		return 0;
	/* domain-end = "." toplabel [ "." ], in the trailing literals */
	size_t end = len;
	if (end > lit && s[end - 1] == '.')
		end--;
	size_t dot = end;
	while (dot > lit && s[dot - 1] != '.')
		dot--;
	if (dot == lit || !toplabel_valid(s + dot, end - dot)) {
		*error_r = "domain-spec does not end in \".\" and a valid top label (RFC 7208 §7.1)";
		return -1;
	}
	return 0;
}

/* §7.3: the value of a letter before transformation. */
static const char *letter_value(struct arena *a, char letter, const struct spf_macro_ctx *ctx)
{
	switch (letter) {
	case 's': return ctx->sender;
	case 'l': return ctx->local;
	case 'o': return ctx->sender_dom;
	case 'd': return ctx->domain;
	case 'h': return ctx->helo;
	case 'c': return ctx->client;
	case 'r': return ctx->receiver != NULL ? ctx->receiver : "unknown";
	case 'v': return ctx->ipv6 ? "ip6" : "in-addr";
	case 't': return arena_printf(a, "%lld", ctx->now);
	case 'p':
		return ctx->ptr_name != NULL ? ctx->ptr_name(ctx->ptr_arg, ctx->domain) : "unknown";
	case 'i':
		if (!ctx->ipv6)
			return arena_printf(a, "%u.%u.%u.%u", ctx->ip[0], ctx->ip[1], ctx->ip[2],
			                    ctx->ip[3]);
		/* §7.3: IPv6 "i" is the dot-format of 32 nibbles, as in ip6.arpa
		 * but not reversed */
		char *o = arena_alloc(a, 16 * 4 + 1);   /* "x.y." per byte, NUL */
		for (int k = 0; k < 16; k++)
			snprintf(o + k * 4, 5, "%x.%x.", ctx->ip[k] >> 4, ctx->ip[k] & 15);
		o[63] = '\0';
		return o;
	}
	return "";
}

/* §7.3 transformers: split on the delimiters, reverse, keep the right-hand
 * parts, join with ".". */
static void transform(struct buf *out, const char *v, const struct macro *m)
{
	const char *delims = m->delims[0] != '\0' ? m->delims : ".";
	size_t n = 1;
	for (const char *p = v; *p != '\0'; p++)
		if (strchr(delims, *p) != NULL)
			n++;
	const char **start = calloc(n, sizeof(*start));
	size_t *plen = calloc(n, sizeof(*plen));
	if (start == NULL || plen == NULL)
		abort();
	size_t k = 0;
	start[0] = v;
	for (const char *p = v;; p++) {
		if (*p == '\0' || strchr(delims, *p) != NULL) {
			plen[k] = (size_t)(p - start[k]);
			if (*p == '\0')
				break;
			start[++k] = p + 1;
		}
	}
	size_t first = m->digits != 0 && m->digits < n ? n - m->digits : 0;
	for (size_t j = first; j < n; j++) {
		size_t idx = m->reverse ? n - 1 - j : j;
		if (j > first)
			buf_append_char(out, '.');
		buf_append(out, start[idx], plen[idx]);
	}
	free(start);
	free(plen);
}

static void url_escape(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* RFC 3986 §2.3 unreserved */
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			buf_append_char(out, (char)c);
		else
			buf_appendf(out, "%%%02X", c);
	}
}

char *spf_macro_expand(struct arena *a, const char *s, enum spf_macro_mode mode,
                       const struct spf_macro_ctx *ctx, const char **error_r)
{
	struct buf out, part;
	struct macro m;
	size_t len = strlen(s);

	buf_init(&out, BUF_UNBOUNDED);
	buf_init(&part, BUF_UNBOUNDED);
	for (size_t i = 0; i < len;) {
		long n = next_element(s + i, len - i, mode, &m, error_r);
		if (n < 0) {
			buf_free(&out);
			buf_free(&part);
			return NULL;
		}
		if (s[i] != '%') {
			buf_append_char(&out, s[i]);
		} else if (m.letter == 0) {
			/* §7.1: "%%" is "%", "%_" a space, "%-" a URL-encoded space */
			buf_append_str(&out, s[i + 1] == '%' ? "%" : s[i + 1] == '_' ? " " : "%20");
		} else {
			const char *v = letter_value(a, m.letter, ctx);
			buf_reset(&part);
			if (m.digits != 0 || m.reverse || m.delims[0] != '\0')
				transform(&part, v != NULL ? v : "", &m);
			else
				buf_append_str(&part, v != NULL ? v : "");
			if (m.upper)
				url_escape(&out, part.data, part.len);
			else
				buf_append(&out, part.data, part.len);
		}
		i += (size_t)n;
	}
	char *r = arena_strndup(a, out.data, out.len);
	buf_free(&out);
	buf_free(&part);
	return r;
}

void spf_name_truncate(char *s)
{
	size_t len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	/* §7.3: "if the expanded domain name exceeds 253 characters ... the
	 * left side is truncated to fit, by removing successive domain labels
	 * (and their following dots)" */
	char *p = s;
	while (len > 253) {
		char *dot = strchr(p, '.');
		if (dot == NULL)
			break;
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	if (p != s)
		memmove(s, p, len + 1);
}

static bool name_valid(const char *name, bool any_octet)
{
	size_t len = strlen(name), label = 0, labels = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || name[0] == '[')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!any_octet && (c < 0x21 || c > 0x7e))
			return false;
		if (c == '.') {
			if (label == 0)
				return false;
			labels++;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
	}
	if (label == 0)
		return false;
	return labels + 1 >= 2;
}

bool spf_domain_valid(const char *name)
{
	return name_valid(name, false);
}

bool spf_target_valid(const char *name)
{
	return name_valid(name, true);
}
