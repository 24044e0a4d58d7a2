/*
 * keywords.c: message keywords (RFC 9051 §2.3.2 flag-keyword = atom) kept
 * as one text column: sorted, unique, separated by single spaces. Keywords
 * are stored as given; comparison is exact (byte-wise).
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

struct kwlist {
	size_t n;
	const char *w[STORE_KEYWORDS_MAX];
	size_t len[STORE_KEYWORDS_MAX];
};

/* RFC 9051 §9: ATOM-CHAR is any CHAR except atom-specials:
 * "(" / ")" / "{" / SP / CTL / "%" / "*" / DQUOTE / "\" / "]". */
static bool atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

static int kw_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c != 0 ? c : (an > bn) - (an < bn);
}

/* Inserts word into l in order, skipping duplicates. */
static int kw_insert(struct kwlist *l, const char *w, size_t n, struct error *err)
{
	size_t i = 0;
	while (i < l->n && kw_cmp(l->w[i], l->len[i], w, n) < 0)
		i++;
	if (i < l->n && kw_cmp(l->w[i], l->len[i], w, n) == 0)
		return 0;
	if (l->n == STORE_KEYWORDS_MAX)
		return error_set(err, ERR_INVALID, "more than %d keywords", STORE_KEYWORDS_MAX);
	memmove(&l->w[i + 1], &l->w[i], (l->n - i) * sizeof(l->w[0]));
	memmove(&l->len[i + 1], &l->len[i], (l->n - i) * sizeof(l->len[0]));
	l->w[i] = w;
	l->len[i] = n;
	l->n++;
	return 0;
}

static int kw_parse(const char *s, struct kwlist *l, struct error *err)
{
	l->n = 0;
	while (s != NULL && *s != '\0') {
		if (*s == ' ') {
			s++;
			continue;
		}
		size_t n = 0;
		while (s[n] != '\0' && s[n] != ' ') {
			if (!atom_char((unsigned char)s[n]))
				return error_set(err, ERR_INVALID, "invalid character in keyword");
			n++;
		}
		if (n > STORE_KEYWORD_MAX)
			return error_set(err, ERR_INVALID, "keyword longer than %d bytes",
			                 STORE_KEYWORD_MAX);
		if (kw_insert(l, s, n, err) != 0)
			return -1;
		s += n;
	}
	return 0;
}

static bool kw_has(const struct kwlist *l, const char *w, size_t n)
{
	for (size_t i = 0; i < l->n; i++) {
		if (kw_cmp(l->w[i], l->len[i], w, n) == 0)
			return true;
	}
	return false;
}

static void kw_join(const struct kwlist *l, const struct kwlist *skip, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < l->n; i++) {
		if (skip != NULL && kw_has(skip, l->w[i], l->len[i]))
			continue;
		if (out->len > 0)
			buf_append_char(out, ' ');
		buf_append(out, l->w[i], l->len[i]);
	}
}

int keywords_canon(const char *in, struct buf *out, struct error *err)
{
	struct kwlist *l = malloc(sizeof(*l));
	if (l == NULL)
		abort();
	int r = kw_parse(in, l, err);
	if (r == 0)
		kw_join(l, NULL, out);
	free(l);
	return r;
}

int keywords_apply(const char *old, const char *kw, enum store_flag_op op, struct buf *out,
                   struct error *err)
{
	struct kwlist *l = malloc(2 * sizeof(*l)), *k = l + 1;
	if (l == NULL)
		abort();
	int r = kw_parse(op == STORE_FLAGS_SET ? kw : old, l, err);
	if (r == 0)
		r = kw_parse(kw, k, err);
	for (size_t i = 0; r == 0 && op == STORE_FLAGS_ADD && i < k->n; i++)
		r = kw_insert(l, k->w[i], k->len[i], err);
	if (r == 0)
		kw_join(l, op == STORE_FLAGS_REMOVE ? k : NULL, out);
	free(l);
	return r;
}

/* Whether the word w (n bytes) is one of the space-separated words of acc. */
static bool has_word(const struct buf *acc, const char *w, size_t n)
{
	const char *p = acc->data, *end = acc->data + acc->len;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t len = sp != NULL ? (size_t)(sp - p) : (size_t)(end - p);
		if (kw_cmp(p, len, w, n) == 0)
			return true;
		p += len + 1;
	}
	return false;
}

size_t keywords_union(struct buf *acc, size_t count, const char *kw, size_t max)
{
	while (*kw != '\0' && count < max) {
		size_t n = strcspn(kw, " ");
		if (n > 0 && !has_word(acc, kw, n)) {
			if ((acc->len > 0 && buf_append_char(acc, ' ') != 0) ||
			    buf_append(acc, kw, n) != 0)
				break;
			count++;
		}
		kw += n + (kw[n] == ' ');
	}
	return count;
}
