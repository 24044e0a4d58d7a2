/*
 * address.c: address lists (RFC 5322 §3.4 and the obsolete forms of §4.4),
 * with RFC 2047 display names, RFC 6532 UTF-8, and IDNA domains through
 * libidn2 (RFC 5891) when asked.
 *
 * The reader is a liberal tokenizer rather than a strict grammar, because
 * address headers are where real mail is most broken: a display name may
 * hold "@" or be an encoded word inside quotes, commas may be doubled, a
 * group may lack its ";", a mailbox may be only a name. What it finds is
 * one item per mailbox or group marker; what is not an address becomes a
 * name-only item rather than an error. Comments are kept as readers show
 * them: as the name when there is no other, else in parentheses after it.
 */
#include "message/message.h"
#include "message/internal.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

/* Reading state of one list. Bufs are bounded by the value's length. */
struct addr_ctx {
	struct arena *a;
	const char *p, *end;
	unsigned flags;
	struct message_address_list *list;
	size_t max_items;
	bool in_group;
	struct buf phrase;    /* words of the display name, unquoted, space-separated */
	struct buf comments;  /* comment text, space-separated */
	struct buf inner;     /* the address as written: route, local part, domain */
};

/* RFC 5322 §3.2.3: specials, which end atoms (the "." is kept in atoms,
 * as obs-phrase and dot-atom both allow it). */
static bool is_special(unsigned char c)
{
	return c == '(' || c == ')' || c == '<' || c == '>' || c == '@' || c == ',' ||
		c == ';' || c == ':' || c == '"' || lex_is_space(c);
}

/* An atom, or a domain literal "[...]" (RFC 5322 §3.4.1), taken whole. */
static const char *atom(const char *p, const char *end)
{
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (close != NULL)
			return close + 1;
	}
	while (p < end && !is_special((unsigned char)*p))
		p++;
	return p;
}

static void add_comment(struct addr_ctx *c)
{
	if (c->comments.len > 0)
		(void)buf_append_char(&c->comments, ' ');
	size_t before = c->comments.len;
	c->p = lex_comment(c->p, c->end, &c->comments);
	if (c->comments.len == before && before > 0)
		buf_truncate(&c->comments, before - 1);
}

/*
 * RFC 5322 §3.2.5 and §4.1:
 *   phrase     = 1*word / obs-phrase
 *   obs-phrase = word *(word / "." / CFWS)
 *   word       = atom / quoted-string
 * Reads words and comments up to a special that is not part of a phrase.
 */
static void read_phrase(struct addr_ctx *c)
{
	for (;;) {
		c->p = lex_skip_space(c->p, c->end);
		if (c->p >= c->end)
			return;
		char ch = *c->p;
		if (ch == '(') {
			add_comment(c);
			continue;
		}
		if (ch == ')') {  /* stray: skip */
			c->p++;
			continue;
		}
		if (ch == '<' || ch == '>' || ch == '@' || ch == ',' || ch == ';' || ch == ':')
			return;
		if (c->phrase.len > 0)
			(void)buf_append_char(&c->phrase, ' ');
		if (ch == '"') {
			const char *q = c->p;
			c->p = lex_quoted(c->p, c->end, &c->phrase);
			(void)buf_append(&c->inner, q, (size_t)(c->p - q));
		} else {
			const char *q = c->p;
			c->p = atom(c->p, c->end);
			(void)buf_append(&c->phrase, q, (size_t)(c->p - q));
			(void)buf_append(&c->inner, q, (size_t)(c->p - q));
		}
	}
}

/* RFC 5322 §3.4.1: domain = dot-atom / domain-literal / obs-domain. Reads
 * atoms, dots and literals (comments aside) until a list delimiter. */
static void read_domain(struct addr_ctx *c, struct buf *out)
{
	for (;;) {
		c->p = lex_skip_space(c->p, c->end);
		if (c->p >= c->end)
			return;
		char ch = *c->p;
		if (ch == '(') {
			add_comment(c);
		} else if (ch == ',' || ch == ';' || ch == '<' || ch == '>' || ch == ':' || ch == '"' ||
				ch == '@') {
			return;
		} else {
			const char *q = c->p;
			c->p = atom(c->p, c->end);
			if (c->p == q)
				c->p++;
			(void)buf_append(out, q, (size_t)(c->p - q));
		}
	}
}

/*
 * RFC 5322 §3.4 and §4.4:
 *   angle-addr     = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
 *   obs-angle-addr = [CFWS] "<" obs-route addr-spec ">" [CFWS]
 *   obs-route      = obs-domain-list ":"
 * Takes what is between the brackets as written, comments and spaces
 * removed (quoted strings kept whole); the split comes later.
 */
static void read_angle(struct addr_ctx *c)
{
	buf_reset(&c->inner);
	c->p++;
	while (c->p < c->end && *c->p != '>') {
		char ch = *c->p;
		if (ch == '(') {
			add_comment(c);
		} else if (ch == '"') {
			struct buf tmp;
			const char *q = c->p;
			buf_init(&tmp, (size_t)(c->end - q));
			c->p = lex_quoted(c->p, c->end, &tmp);
			(void)buf_append(&c->inner, q, (size_t)(c->p - q));
			buf_free(&tmp);
		} else if (lex_is_space((unsigned char)ch)) {
			c->p++;
		} else {
			(void)buf_append_char(&c->inner, ch);
			c->p++;
		}
	}
	if (c->p < c->end)
		c->p++;  /* ">" */
}

/* The local part unquoted (RFC 5322 §3.4.1 local-part = dot-atom /
 * quoted-string / obs-local-part). */
static const char *unquote_local(struct arena *a, const char *s, size_t n)
{
	if (memchr(s, '"', n) == NULL)
		return arena_strndup(a, s, n);
	struct buf out;
	buf_init(&out, n + 1);
	for (const char *p = s, *end = s + n; p < end;) {
		if (*p == '"')
			p = lex_quoted(p, end, &out);
		else
			(void)buf_append_char(&out, *p++);
	}
	char *r = lex_bufdup(a, &out);
	buf_free(&out);
	return r;
}

static bool has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* RFC 5890 §2.3.2.1: A-labels start with "xn--" (any case). */
static bool has_alabel(const char *s)
{
	for (const char *p = s; *p != '\0'; p++)
		if ((p == s || p[-1] == '.') && lex_eq(p, strnlen(p, 4), "xn--"))
			return true;
	return false;
}

const char *message_domain_idna(struct arena *a, const char *domain, bool to_ascii)
{
	char *out = NULL;
	int r = to_ascii ?
		idn2_lookup_u8((const uint8_t *)domain, (uint8_t **)&out, IDN2_NONTRANSITIONAL) :
		idn2_to_unicode_8z8z(domain, &out, 0);
	if (r != IDN2_OK || out == NULL) {
		idn2_free(out);
		return NULL;
	}
	const char *s = arena_strdup(a, out);
	idn2_free(out);
	return s;
}

/* IDNA conversion of d as the flags ask, or d itself. */
static const char *convert_domain(struct addr_ctx *c, const char *d)
{
	const char *conv = NULL;
	if ((c->flags & MESSAGE_ADDRESS_IDNA_ASCII) && has_8bit(d))
		conv = message_domain_idna(c->a, d, true);
	else if ((c->flags & MESSAGE_ADDRESS_IDNA_UNICODE) && has_alabel(d))
		conv = message_domain_idna(c->a, d, false);
	return conv != NULL ? conv : d;
}

/* Splits "[route:]local@domain" into m. */
static void split_address(struct addr_ctx *c, const char *s, size_t n, struct message_address *m)
{
	const char *spec = s, *end = s + n;
	if (n > 0 && s[0] == '@') {  /* RFC 5322 §4.4: obs-route */
		const char *colon = memchr(s, ':', n);
		if (colon != NULL) {
			m->route = arena_strndup(c->a, s, (size_t)(colon - s));
			spec = colon + 1;
		}
	}
	size_t rest = (size_t)(end - spec), at = rest;
	for (size_t i = 0; i < rest; i++)
		if (spec[i] == '@')
			at = i;  /* the last "@": the local part may be quoted and hold one */
	m->local = unquote_local(c->a, spec, at);
	if (at < rest) {
		m->domain = convert_domain(c, arena_strndup(c->a, spec + at + 1, rest - at - 1));
		m->address = arena_printf(c->a, "%.*s%s", (int)(spec + at + 1 - s), s, m->domain);
	} else {
		m->address = arena_strndup(c->a, s, n);
	}
}

static struct message_address *push(struct addr_ctx *c, enum message_address_kind kind)
{
	if (c->list->count >= c->max_items) {
		c->list->truncated = true;
		return NULL;
	}
	struct message_address *m = &c->list->items[c->list->count++];
	m->kind = kind;
	return m;
}

/* RFC 2047 §5 (3): encoded words in a phrase (and, liberally, in quoted
 * strings and comments), kept unstripped: quoted spaces are the sender's. */
static const char *decode_words(struct arena *a, const struct buf *b)
{
	struct buf out;
	buf_init(&out, b->len * 8 + 16);
	(void)rfc2047_decode(b->data, b->data + b->len, &out);
	const char *r = lex_bufdup(a, &out);
	buf_free(&out);
	return r;
}

/* Sets the names of m from the phrase and comments read (see the top). */
static void set_names(struct addr_ctx *c, struct message_address *m, bool phrase_is_name)
{
	const char *phrase = phrase_is_name && c->phrase.len > 0 ?
		decode_words(c->a, &c->phrase) : NULL;
	const char *comments = c->comments.len > 0 ? decode_words(c->a, &c->comments) : NULL;
	if (phrase_is_name && c->phrase.len > 0)
		m->name_raw = lex_bufdup(c->a, &c->phrase);
	else if (comments != NULL)
		m->name_raw = lex_bufdup(c->a, &c->comments);
	if (phrase != NULL && comments != NULL)
		m->name = arena_printf(c->a, "%s (%s)", phrase, comments);
	else
		m->name = phrase != NULL ? phrase : comments;
}

static void reset_item(struct addr_ctx *c)
{
	buf_reset(&c->phrase);
	buf_reset(&c->comments);
	buf_reset(&c->inner);
}

/* Skips what follows an address up to the list delimiter, keeping words
 * as the name when there was none ("<a@b> (Name)", "<a@b> Name"). */
static void read_trailer(struct addr_ctx *c)
{
	size_t had = c->phrase.len, inner = c->inner.len;
	read_phrase(c);
	buf_truncate(&c->inner, inner);
	if (had == 0 && c->phrase.len > 0)
		return;
	if (c->phrase.len > had)
		buf_truncate(&c->phrase, had);
}

/*
 * RFC 5322 §3.4:
 *   mailbox   = name-addr / addr-spec
 *   name-addr = [display-name] angle-addr
 *   addr-spec = local-part "@" domain
 * Called with the phrase read and c->p at "<", "@", "," ";" or the end.
 */
static void read_mailbox(struct addr_ctx *c)
{
	if (c->p < c->end && *c->p == '@') {
		size_t local_len = c->inner.len;
		(void)buf_append_char(&c->inner, '@');
		c->p++;
		read_domain(c, &c->inner);
		const char *q = lex_skip_cfws(c->p, c->end, NULL);
		if (q < c->end && *q == '<') {
			/* it was a display name holding "@": "a@b <a@b>" */
			(void)buf_append(&c->phrase, c->inner.data + local_len, c->inner.len - local_len);
			c->p = q;
		}
	}
	bool angle = c->p < c->end && *c->p == '<';
	if (angle) {
		read_angle(c);
		read_trailer(c);
	}
	/* nothing but comments is CFWS, not an address: RFC 5322 §3.4
	 * group-list = mailbox-list / CFWS / obs-group-list ("G: (foo) ;" is an
	 * empty group), §4.4 obs-addr-list = ... *("," [address / CFWS]) */
	if (c->inner.len == 0 && c->phrase.len == 0)
		return;
	struct message_address *m = push(c, MESSAGE_ADDRESS_MAILBOX);
	if (m == NULL)
		return;
	bool has_at = memchr(c->inner.data, '@', c->inner.len) != NULL;
	/* a bare word with a comment ("NO (not allowed)") is an address named by
	 * the comment; a bare phrase alone is only a name */
	bool addr = angle || has_at || (c->phrase.len > 0 && c->comments.len > 0);
	set_names(c, m, angle || (!has_at && !addr));
	if (addr && c->inner.len > 0)
		split_address(c, c->inner.data, c->inner.len, m);
}

/*
 * RFC 5322 §3.4:
 *   address-list = (address *("," address)) / obs-addr-list
 *   address      = mailbox / group
 *   group        = display-name ":" [group-list] ";" [CFWS]
 *   obs-addr-list = *([CFWS] ",") address *("," [address / CFWS])
 */
static void read_list(struct addr_ctx *c)
{
	while (c->p < c->end && !c->list->truncated) {
		reset_item(c);
		read_phrase(c);
		char ch = c->p < c->end ? *c->p : '\0';
		if (ch == ':' && !c->in_group) {
			struct message_address *g = push(c, MESSAGE_ADDRESS_GROUP_START);
			if (g != NULL)
				set_names(c, g, true);
			c->in_group = true;
			c->p++;
			continue;
		}
		if (ch == ':' || ch == '>') {  /* stray: skip */
			c->p++;
			continue;
		}
		read_mailbox(c);
		c->p = lex_skip_cfws(c->p, c->end, NULL);
		if (c->p < c->end && *c->p == ';' && c->in_group) {
			/* group = display-name ":" [group-list] ";" [CFWS] */
			(void)push(c, MESSAGE_ADDRESS_GROUP_END);
			c->in_group = false;
			c->p = lex_skip_cfws(c->p + 1, c->end, NULL);
			continue;
		}
		if (c->p < c->end && (*c->p == ',' || *c->p == ';'))
			c->p++;
	}
	if (c->in_group)  /* liberal: a group without its ";" ends with the list */
		(void)push(c, MESSAGE_ADDRESS_GROUP_END);
}

size_t message_address_parse(struct arena *a, const char *s, size_t n, unsigned flags,
	struct message_address_list *list_r)
{
	size_t len;
	const char *u = message_header_unfold(a, s, n, &len);
	struct addr_ctx c = { .a = a, .p = u, .end = u + len, .flags = flags, .list = list_r };
	memset(list_r, 0, sizeof(*list_r));
	/* every item but a group end takes at least one byte; +1 for a closing end */
	c.max_items = len + 1 < MESSAGE_MAX_ADDRESSES ? len + 1 : MESSAGE_MAX_ADDRESSES;
	list_r->items = arena_alloc(a, c.max_items * sizeof(struct message_address));
	buf_init(&c.phrase, len + 2);
	buf_init(&c.comments, len + 2);
	buf_init(&c.inner, len + 2);
	read_list(&c);
	buf_free(&c.phrase);
	buf_free(&c.comments);
	buf_free(&c.inner);
	return list_r->count;
}
