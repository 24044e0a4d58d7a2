/*
 * param.c: Content-Type (RFC 2045 §5.1) and Content-Disposition (RFC 2183
 * §2) values with their parameters, including RFC 2231 continuations,
 * charsets and languages.
 *
 * Liberal where real mail is broken, as the mime-corpus vectors show:
 * parameters without the ";" before them, spaces around "/" and "=",
 * unquoted values holding RFC 2047 encoded words, quoted values holding
 * them too (RFC 2047 §5 forbids it; senders do it), and gaps in continuation
 * numbers. What cannot be read is skipped up to the next ";".
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

/* Most raw parameter pieces (continuation sections included) read from one
 * value: bounds the quadratic assembly below. */
#define PARAM_MAX_PIECES (MESSAGE_MAX_PARAMS * 4)

/* A parameter as written: name*section* = value. */
struct piece {
	const char *name;   /* lowercased base name */
	long section;       /* -1 without a section number */
	bool encoded;       /* RFC 2231 §4: trailing "*" */
	const char *value;  /* unquoted */
	size_t len;
	bool quoted;
};

/* RFC 2045 §5.1: tspecials, plus space and controls, end a token. Liberal:
 * "/" ends only the type, so subtypes like "plain/format" stay whole. */
static bool token_end(unsigned char c, bool is_type)
{
	return c <= ' ' || c == ';' || c == '(' || c == '"' || (is_type && c == '/');
}

static const char *token(const char *p, const char *end, bool is_type)
{
	while (p < end && !token_end((unsigned char)*p, is_type))
		p++;
	return p;
}

/*
 * RFC 2045 §5.1:
 *   content := "Content-Type" ":" type "/" subtype *(";" parameter)
 * RFC 2183 §2:
 *   disposition := "Content-Disposition" ":" disposition-type *(";" disposition-parm)
 * Reads the type and subtype; returns where the parameters start.
 */
static const char *parse_type(struct arena *a, const char *p, const char *end,
	struct message_content_type *ct)
{
	p = lex_skip_cfws(p, end, NULL);
	const char *t = p;
	p = token(p, end, true);
	if (p == t)
		return NULL;
	ct->type = lex_lowerdup(a, t, (size_t)(p - t));
	p = lex_skip_cfws(p, end, NULL);
	if (p < end && *p == '/') {
		p = lex_skip_cfws(p + 1, end, NULL);
		const char *s = p;
		p = token(p, end, false);
		if (p > s)
			ct->subtype = lex_lowerdup(a, s, (size_t)(p - s));
	}
	return p;
}

/* An unquoted value: a token, or encoded words separated by spaces (seen
 * in the wild as name==?utf-8?b?...?= =?utf-8?b?...?=.jpeg). */
static const char *unquoted_value(const char *p, const char *end)
{
	const char *v = p;
	p = token(p, end, false);
	while (p - v >= 2 && memmem(v, (size_t)(p - v), "?=", 2) != NULL) {
		const char *q = lex_skip_space(p, end);
		if (end - q < 2 || q[0] != '=' || q[1] != '?')
			break;
		p = token(q, end, false);
	}
	return p;
}

/*
 * RFC 2231 §3, §4:
 *   parameter := regular-parameter / extended-parameter
 *   regular-parameter-name := attribute [section]    ; section := "*" number
 *   extended-parameter := (extended-initial-name "=" extended-initial-value) /
 *                         (extended-other-names "=" extended-other-values)
 *   extended-initial-name := attribute [initial-section] "*"
 * Splits name*N* into its base, section and encoded flag. Returns false for
 * names that fit none of these (such as "1*2*").
 */
static bool piece_name(struct arena *a, const char *p, size_t n, struct piece *pc)
{
	const char *star = memchr(p, '*', n);
	pc->section = -1;
	pc->encoded = false;
	if (star == NULL || star == p) {
		pc->name = lex_lowerdup(a, p, n);
		return star == NULL;
	}
	pc->name = lex_lowerdup(a, p, (size_t)(star - p));
	const char *s = star + 1, *end = p + n;
	if (s < end && *s >= '0' && *s <= '9') {
		long sec = 0;
		for (; s < end && *s >= '0' && *s <= '9'; s++)
			if ((sec = sec * 10 + (*s - '0')) > MESSAGE_MAX_PARAM_SECTION)
				return false;
		pc->section = sec;
		if (s < end && *s == '*') {
			pc->encoded = true;
			s++;
		}
	} else {
		pc->encoded = true;  /* "name*": one encoded value */
	}
	return s == end;
}

/* Reads one "attribute = value" at p; returns the position after it. Fills
 * *pc and returns with pc->name NULL when nothing usable was there. */
static const char *parse_piece(struct arena *a, const char *p, const char *end, struct piece *pc)
{
	pc->name = NULL;
	const char *n = p;
	while (p < end && *p != '=' && *p != ';' && !lex_is_space((unsigned char)*p) && *p != '(' && *p != '"')
		p++;
	size_t nlen = (size_t)(p - n);
	p = lex_skip_cfws(p, end, NULL);
	if (p >= end || *p != '=')
		return p > n ? p : p + 1;  /* no "=": skip the word */
	p = lex_skip_cfws(p + 1, end, NULL);
	struct buf v;
	buf_init(&v, (size_t)(end - p) + 1);
	const char *v_start = p;
	pc->quoted = p < end && *p == '"';
	if (pc->quoted) {
		p = lex_quoted(p, end, &v);
	} else {
		p = unquoted_value(p, end);
		(void)buf_append(&v, v_start, (size_t)(p - v_start));
	}
	if (nlen > 0 && (v.len > 0 || pc->quoted) && piece_name(a, n, nlen, pc)) {
		pc->value = lex_bufdup(a, &v);
		pc->len = v.len;
	} else {
		pc->name = NULL;
	}
	buf_free(&v);
	return p;
}

/* RFC 2231 §4: extended-initial-value := [charset] "'" [language] "'" extended-other-values */
static const char *initial_value(struct arena *a, const struct piece *pc,
	const char **charset_r, const char **language_r, size_t *len_r)
{
	const char *q1 = memchr(pc->value, '\'', pc->len);
	const char *q2 = q1 == NULL ? NULL : memchr(q1 + 1, '\'', pc->len - (size_t)(q1 + 1 - pc->value));
	if (q2 == NULL) {
		*len_r = pc->len;
		return pc->value;
	}
	*charset_r = arena_strndup(a, pc->value, (size_t)(q1 - pc->value));
	if (q2 > q1 + 1)
		*language_r = arena_strndup(a, q1 + 1, (size_t)(q2 - q1 - 1));
	*len_r = pc->len - (size_t)(q2 + 1 - pc->value);
	return q2 + 1;
}

/* RFC 2231 §4: extended-other-values := *(ext-octet / attribute-char),
 * ext-octet := "%" 2(DIGIT / "A"-"F"). Bad escapes are kept as written. */
static void percent_decode(const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n && lex_hex((unsigned char)p[i + 1]) >= 0 && lex_hex((unsigned char)p[i + 2]) >= 0) {
			(void)buf_append_char(out, (char)(lex_hex((unsigned char)p[i + 1]) * 16 +
				lex_hex((unsigned char)p[i + 2])));
			i += 2;
		} else {
			(void)buf_append_char(out, p[i]);
		}
	}
}

/* The piece of name with the lowest section number above `after` that
 * belongs to the RFC 2231 form (encoded or sectioned), or NULL. */
static const struct piece *next_piece(const struct piece *pcs, size_t n, const char *name,
	long after)
{
	const struct piece *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct piece *pc = &pcs[i];
		if (strcmp(pc->name, name) != 0 || !(pc->encoded || pc->section >= 0) ||
				pc->section <= after)
			continue;
		if (best == NULL || pc->section < best->section)
			best = pc;
	}
	return best;
}

/* RFC 2231 §3: joins the sections of name in number order (gaps allowed),
 * decoding the encoded ones, then converts from the charset named first. */
static void assemble(struct arena *a, const struct piece *pcs, size_t n, const char *name,
	struct message_param *out)
{
	const char *charset = NULL;
	struct buf raw, utf8;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += pcs[i].len;
	buf_init(&raw, total + 1);
	for (const struct piece *pc = next_piece(pcs, n, name, -2); pc != NULL;
			pc = next_piece(pcs, n, name, pc->section)) {
		const char *v = pc->value;
		size_t len = pc->len;
		if (pc->encoded && pc->section <= 0)
			v = initial_value(a, pc, &charset, &out->language, &len);
		if (pc->encoded)
			percent_decode(v, len, &raw);
		else
			(void)buf_append(&raw, v, len);
	}
	buf_init(&utf8, raw.len * 8 + 16);
	(void)message_charset_to_utf8(charset != NULL && *charset != '\0' ? charset : "utf-8",
		raw.data, raw.len, &utf8);
	out->value = lex_bufdup(a, &utf8);
	buf_free(&raw);
	buf_free(&utf8);
}

/* A regular parameter: the value as written, RFC 2047 words decoded. */
static void simple_value(struct arena *a, const struct piece *pc, struct message_param *out)
{
	struct buf utf8;
	buf_init(&utf8, pc->len * 8 + 16);
	(void)rfc2047_decode(pc->value, pc->value + pc->len, &utf8);
	out->value = lex_bufdup(a, &utf8);
	buf_free(&utf8);
}

static bool has_param(const struct message_content_type *ct, const char *name)
{
	for (size_t i = 0; i < ct->n_params; i++)
		if (strcmp(ct->params[i].name, name) == 0)
			return true;
	return false;
}

/* Turns the pieces into parameters, one per base name in order of first
 * appearance; an RFC 2231 form wins over a regular one of the same name. */
static void build_params(struct arena *a, const struct piece *pcs, size_t n,
	struct message_content_type *ct)
{
	ct->params = arena_alloc(a, (n < MESSAGE_MAX_PARAMS ? n : MESSAGE_MAX_PARAMS) *
		sizeof(struct message_param));
	for (size_t i = 0; i < n && ct->n_params < MESSAGE_MAX_PARAMS; i++) {
		if (has_param(ct, pcs[i].name))
			continue;
		bool extended = false;
		for (size_t j = i; j < n; j++)
			if (strcmp(pcs[j].name, pcs[i].name) == 0 && (pcs[j].encoded || pcs[j].section >= 0))
				extended = true;
		struct message_param *pm = &ct->params[ct->n_params++];
		pm->name = pcs[i].name;
		if (extended)
			assemble(a, pcs, n, pcs[i].name, pm);
		else
			simple_value(a, &pcs[i], pm);
	}
}

int message_content_type_parse(struct arena *a, const char *s, size_t n,
	struct message_content_type *ct_r)
{
	memset(ct_r, 0, sizeof(*ct_r));
	size_t len;
	const char *u = message_header_unfold(a, s, n, &len);
	const char *end = u + len;
	const char *p = parse_type(a, u, end, ct_r);
	if (p == NULL)
		return 0;
	/* each piece has its own "=": count them to size the array */
	size_t max = 0;
	for (const char *q = p; q < end && max < PARAM_MAX_PIECES; q++)
		max += *q == '=';
	struct piece *pcs = arena_alloc(a, max * sizeof(*pcs));
	size_t count = 0;
	while (p < end && count < max) {
		p = lex_skip_cfws(p, end, NULL);
		if (p < end && *p == ';') {
			p++;
			continue;
		}
		if (p >= end)
			break;
		p = parse_piece(a, p, end, &pcs[count]);
		if (pcs[count].name != NULL)
			count++;
	}
	build_params(a, pcs, count, ct_r);
	return 1;
}

const char *message_param_get(const struct message_content_type *ct, const char *name)
{
	for (size_t i = 0; i < ct->n_params; i++)
		if (lex_eq(ct->params[i].name, strlen(ct->params[i].name), name))
			return ct->params[i].value;
	return NULL;
}
