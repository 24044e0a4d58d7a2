/*
 * authres.c: the Authentication-Results header field (RFC 8601 §2.2):
 *
 *   Authentication-Results: mail.example.org;
 *   	spf=pass smtp.mailfrom=example.com;
 *   	dkim=pass header.d=example.com header.s=sel
 *
 * and recognising fields that claim our authserv-id (§5).
 */
#include "authres/authres.h"

#include "core/buf.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define FOLD_AT 78

/* RFC 2045 §5.1 token characters: printable ASCII except SP and tspecials. */
static bool is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL)
			return false;
	}
	return true;
}

/* value = token / quoted-string (RFC 8601 §2.2 via RFC 2045). A property
 * value may also be an address ("user@domain", §2.3), written as is. */
static void append_value(struct buf *b, const char *v, bool address_ok)
{
	if (is_token(v) || (address_ok && strchr(v, '@') != NULL && strpbrk(v, " \t\";()\\") == NULL)) {
		buf_append_str(b, v);
		return;
	}
	buf_append_char(b, '"');
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			buf_append_char(b, '\\');
		if ((unsigned char)*v >= ' ')
			buf_append_char(b, *v);
	}
	buf_append_char(b, '"');
}

/* Appends item, starting a continuation line first if the current line would
 * pass FOLD_AT. */
static void append_folded(struct buf *out, size_t *col, const char *item, size_t n)
{
	if (*col + 1 + n > FOLD_AT) {
		buf_append_str(out, "\r\n\t");
		*col = 8;
	} else {
		buf_append_char(out, ' ');
		(*col)++;
	}
	buf_append(out, item, n);
	*col += n;
}

/* Word i of resinfo m into w: "method=result (comment)", then
 * "reason=...", then the properties. Returns false past the last word. */
static bool method_word(const struct authres_method *m, size_t i, struct buf *w)
{
	buf_reset(w);
	if (i == 0) {
		buf_appendf(w, "%s=%s", m->method, m->result);
		if (m->comment != NULL)
			buf_appendf(w, " (%s)", m->comment);
		return true;
	}
	if (m->reason != NULL && i == 1) {
		buf_append_str(w, "reason=");
		append_value(w, m->reason, false);
		return true;
	}
	size_t p = i - 1 - (m->reason != NULL);
	if (p >= m->nprops)
		return false;
	const char *eq = strchr(m->props[p], '=');
	if (eq == NULL)
		eq = m->props[p] + strlen(m->props[p]) - 1;
	buf_append(w, m->props[p], (size_t)(eq + 1 - m->props[p]));
	append_value(w, eq + 1, true);
	return true;
}

/* Appends the words of one resinfo; the last gets a ";" if more follow. */
static void append_method(struct buf *out, size_t *col, const struct authres_method *m, bool more)
{
	struct buf w;
	buf_init(&w, 4096);
	size_t nwords = 1 + (m->reason != NULL) + m->nprops;
	for (size_t i = 0; i < nwords && method_word(m, i, &w); i++) {
		if (i + 1 == nwords && more)
			buf_append_char(&w, ';');
		append_folded(out, col, w.data, w.len);
	}
	buf_free(&w);
}

int authres_format(struct buf *out, const char *authserv_id, const struct authres_method *m,
                   size_t n)
{
	size_t before = out->len;
	buf_appendf(out, "Authentication-Results: %s;", authserv_id);
	size_t col = out->len - before;
	if (n == 0)
		append_folded(out, &col, "none", 4);  /* §2.2: no method was applied */
	for (size_t i = 0; i < n; i++)
		append_method(out, &col, &m[i], i + 1 < n);
	return buf_append_str(out, "\r\n");
}

/* Skips CFWS (comments may nest, RFC 5322 §3.2.2). */
static const char *skip_cfws(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		if (*p == '\\' && depth > 0 && p + 1 < end)
			p += 2;
		else if (*p == '(')
			depth++, p++;
		else if (*p == ')' && depth > 0)
			depth--, p++;
		else if (depth > 0 || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		else
			break;
	}
	return p;
}

bool authres_is_ours(const char *value, size_t len, const char *authserv_id)
{
	const char *end = value + len;
	const char *p = skip_cfws(value, end);
	const char *id = p;
	while (p < end && *p != ';' && *p != ' ' && *p != '\t' && *p != '(')
		p++;
	size_t n = (size_t)(p - id);
	if (n >= 2 && id[0] == '"' && id[n - 1] == '"')  /* a quoted authserv-id */
		id++, n -= 2;
	return n == strlen(authserv_id) && strncasecmp(id, authserv_id, n) == 0;
}
