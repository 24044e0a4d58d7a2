/*
 * parser.c: the part tree of a message (RFC 5322 §2.1 header and body;
 * RFC 2045 §5-§8 MIME header fields; RFC 2046 §5.1 multipart, §5.2
 * message/rfc822; RFC 6532 §3.7 message/global).
 *
 * parse_part() reads one header block, interprets its MIME fields and then
 * either splits a multipart body at its boundary lines or parses the body of
 * a message/rfc822 part as an embedded message, recursing with depth + 1.
 * Recursion is bounded by limits.max_depth and the tree size by
 * limits.max_parts; past either, the rest of a part is opaque body and the
 * part carries MESSAGE_PART_LIMIT. part_header_parse(), the header half of
 * parse_part(), is shared with layout.c, which rebuilds a tree from its
 * layout and the header blocks alone.
 *
 * Work: each multipart level searches its own body for its boundary with
 * memmem, so parsing costs at most (depth + 1) passes over the message:
 * milliseconds for real mail, about 2.4 s for an adversarial 8 MB message
 * of 100 nested multiparts over 2 million "--b" lines (measured, -O2). A
 * single pass matching lines against a stack of open boundaries would make
 * it linear; not done yet.
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

struct parse_ctx {
	struct arena *a;
	const char *data;
	struct message_limits limits;
	size_t n_parts;
	bool limit_hit;
};

static void parse_part(struct parse_ctx *c, struct message_part *p, size_t start, size_t end,
	bool digest_child);

struct message_limits message_limits_default(void)
{
	struct message_limits l = {
		.max_depth = MESSAGE_MAX_DEPTH,
		.max_parts = MESSAGE_MAX_PARTS,
		.max_header_bytes = MESSAGE_MAX_HEADER_BYTES,
	};
	return l;
}

static struct message_part *part_new(struct parse_ctx *c, struct message_part *parent)
{
	struct message_part *p = arena_alloc(c->a, sizeof(*p));
	p->parent = parent;
	p->depth = parent == NULL ? 0 : parent->depth + 1;
	c->n_parts++;
	return p;
}

/* Appends child as the last child of p (tail kept by the caller). */
static void part_link(struct message_part *p, struct message_part **tail, struct message_part *child)
{
	if (*tail == NULL)
		p->children = child;
	else
		(*tail)->next = child;
	*tail = child;
	p->n_children++;
}

/* Whether another part may be made below p; marks p when not. */
static bool may_descend(struct parse_ctx *c, struct message_part *p)
{
	if (p->depth + 1 <= c->limits.max_depth && c->n_parts < c->limits.max_parts)
		return true;
	p->flags |= MESSAGE_PART_LIMIT;
	c->limit_hit = true;
	return false;
}

/* IMAP body-fld-lines (RFC 3501 §7.4.2, RFC 9051 §7.5.2: "the size of the
 * body in text lines") is the number of line endings, as Dovecot counts it:
 * a last line without one is not counted. That line is usual in a MIME part,
 * since the CRLF before a delimiter belongs to the delimiter (RFC 2046
 * §5.1.1). */
static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;
	const char *end = p + n;
	for (const char *q = p; q < end; q++) {
		q = memchr(q, '\n', (size_t)(end - q));
		if (q == NULL)
			break;
		lines++;
	}
	return lines;
}

/* RFC 3282 §2: Content-Language = Language-List, comma-separated tags. */
static void parse_languages(struct arena *a, struct message_part *p, const char *v, size_t n)
{
	const char *end = v + n;
	size_t max = n / 2 + 1;
	p->languages = arena_alloc(a, max * sizeof(char *));
	while (v < end && p->n_languages < max) {
		v = lex_skip_cfws(v, end, NULL);
		const char *t = v;
		while (v < end && *v != ',' && *v != '(' && !lex_is_space((unsigned char)*v))
			v++;
		if (v > t)
			p->languages[p->n_languages++] = arena_strndup(a, t, (size_t)(v - t));
		v = lex_skip_cfws(v, end, NULL);
		if (v < end && *v == ',')
			v++;
		else if (v < end && v == t)
			v++;
	}
}

/* Unfolded value of the first field name of p, or NULL. */
static const char *field(struct arena *a, const struct message_part *p, const char *name)
{
	return message_header_get(a, &p->headers, name);
}

/* RFC 2045 §5.2: without a usable Content-Type, text/plain; charset=us-ascii.
 * RFC 2046 §5.1.5: in a multipart/digest, message/rfc822. */
static void content_type(struct arena *a, struct message_part *p, bool digest_child)
{
	const struct message_header *f = message_header_find(&p->headers, "content-type", NULL);
	struct message_content_type ct;
	if (f != NULL && message_content_type_parse(a, f->value, f->value_len, &ct) == 1 &&
			ct.subtype != NULL) {
		p->content_type = ct;
	} else {
		p->flags |= MESSAGE_PART_DEFAULT_TYPE;
		p->content_type.type = digest_child ? "message" : "text";
		p->content_type.subtype = digest_child ? "rfc822" : "plain";
	}
	p->charset = message_param_get(&p->content_type, "charset");
	p->boundary = message_param_get(&p->content_type, "boundary");
}

/* The MIME fields of p (RFC 2045 §5-§8, RFC 2183, RFC 3282, RFC 2557, RFC 1864). */
static void mime_fields(struct arena *a, struct message_part *p, bool digest_child)
{
	content_type(a, p, digest_child);
	const char *v = field(a, p, "content-transfer-encoding");
	size_t n = v == NULL ? 0 : strlen(v);
	/* RFC 2045 §6.1: "7BIT" is the default */
	p->encoding = v == NULL ? MESSAGE_ENC_7BIT : message_encoding_parse(v, n);
	p->encoding_name = v == NULL ? "7bit" : lex_lowerdup(a, v, n);
	p->id = field(a, p, "content-id");
	p->description = field(a, p, "content-description");
	p->md5 = field(a, p, "content-md5");
	p->location = field(a, p, "content-location");
	const struct message_header *f = message_header_find(&p->headers, "content-disposition", NULL);
	if (f != NULL)
		(void)message_content_type_parse(a, f->value, f->value_len, &p->disposition);
	f = message_header_find(&p->headers, "content-language", NULL);
	if (f != NULL)
		parse_languages(a, p, f->value, f->value_len);
}

void part_header_parse(struct arena *a, const char *data, struct message_part *p, size_t start,
	size_t end, size_t max_header_bytes, bool digest_child)
{
	unsigned flags;
	p->header_offset = start;
	p->header_size = message_headers_parse(a, data + start, end - start, max_header_bytes,
		&p->headers, &flags);
	for (size_t i = 0; i < p->headers.count; i++)
		p->headers.fields[i].offset += start;
	p->flags |= flags;
	p->body_offset = start + p->header_size;
	p->body_size = end - p->body_offset;
	mime_fields(a, p, digest_child);
}

/*
 * RFC 2046 §5.1.1:
 *   dash-boundary := "--" boundary
 *   delimiter := CRLF dash-boundary
 *   close-delimiter := delimiter "--"
 *   multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
 *                     body-part *encapsulation close-delimiter transport-padding
 *                     [CRLF epilogue]
 *   transport-padding := *LWSP-char
 * Liberal: bare LF for CRLF, and a line may end right after the boundary
 * at the end of the data.
 */
bool delimiter_at(const char *data, size_t body_start, size_t at, size_t end,
	const char *dash_boundary, size_t dlen, struct delimiter *d)
{
	if (at < body_start || at > end || end - at < dlen ||
			memcmp(data + at, dash_boundary, dlen) != 0)
		return false;
	if (at != body_start && data[at - 1] != '\n')
		return false;  /* not at the start of a line */
	size_t q = at + dlen;
	d->close = end - q >= 2 && data[q] == '-' && data[q + 1] == '-';
	if (d->close)
		q += 2;
	while (q < end && lex_is_wsp((unsigned char)data[q]))
		q++;  /* transport-padding */
	if (q < end && data[q] == '\r' && q + 1 < end && data[q + 1] == '\n')
		q += 2;
	else if (q < end && data[q] == '\n')
		q++;
	else if (q < end)
		return false;  /* the boundary is only a prefix of this line */
	d->next_start = q;
	d->part_end = at;
	if (at > body_start && data[at - 1] == '\n')
		d->part_end -= at - 1 > body_start && data[at - 2] == '\r' ? 2 : 1;
	return true;
}

bool delimiter_find(const char *data, size_t body_start, size_t from, size_t end,
	const char *dash_boundary, size_t dlen, struct delimiter *d)
{
	while (from < end) {
		const char *hit = memmem(data + from, end - from, dash_boundary, dlen);
		if (hit == NULL)
			return false;
		size_t at = (size_t)(hit - data);
		from = at + 1;
		if (delimiter_at(data, body_start, at, end, dash_boundary, dlen, d))
			return true;
	}
	return false;
}

static void add_child(struct parse_ctx *c, struct message_part *p, struct message_part **tail,
	size_t start, size_t end)
{
	struct message_part *child = part_new(c, p);
	part_link(p, tail, child);
	bool digest = strcmp(p->content_type.subtype, "digest") == 0;
	parse_part(c, child, start, end < start ? start : end, digest);
}

/* Splits the body of multipart p into its parts (RFC 2046 §5.1). A missing
 * close delimiter is accepted: the last part runs to the end of the body. */
static void parse_multipart(struct parse_ctx *c, struct message_part *p)
{
	size_t blen = strlen(p->boundary);
	char *dash = arena_alloc(c->a, blen + 3);
	dash[0] = dash[1] = '-';
	memcpy(dash + 2, p->boundary, blen);
	size_t body_end = p->body_offset + p->body_size, pos = p->body_offset;
	struct message_part *tail = NULL;
	struct delimiter d;
	bool in_part = false;
	size_t part_start = 0;
	while (delimiter_find(c->data, p->body_offset, pos, body_end, dash, blen + 2, &d)) {
		if (in_part) {
			if (!may_descend(c, p))
				return;
			add_child(c, p, &tail, part_start, d.part_end);
		}
		if (d.close)
			return;
		in_part = true;
		part_start = pos = d.next_start;
	}
	p->flags |= MESSAGE_PART_NO_END_BOUNDARY;
	if (in_part && may_descend(c, p))
		add_child(c, p, &tail, part_start, body_end);
}

bool part_is_multipart(const struct message_part *p)
{
	return strcmp(p->content_type.type, "multipart") == 0 && p->boundary != NULL &&
		p->boundary[0] != '\0' && strlen(p->boundary) <= MESSAGE_MAX_BOUNDARY;
}

/* RFC 2046 §5.2.1: only 7bit, 8bit or binary; an encoded message would
 * need decoding first and stays opaque (RFC 6532 §3.5 relaxes this for
 * message/global, which we do not decode either). */
bool part_is_message(const struct message_part *p)
{
	const struct message_content_type *ct = &p->content_type;
	return strcmp(ct->type, "message") == 0 &&
		(strcmp(ct->subtype, "rfc822") == 0 || strcmp(ct->subtype, "global") == 0) &&
		p->encoding <= MESSAGE_ENC_BINARY;
}

/* Which body p has: multipart, embedded message, or opaque. */
static void parse_body(struct parse_ctx *c, struct message_part *p)
{
	if (part_is_multipart(p)) {
		p->flags |= MESSAGE_PART_MULTIPART;
		parse_multipart(c, p);
		return;
	}
	if (part_is_message(p) && may_descend(c, p)) {
		p->flags |= MESSAGE_PART_MESSAGE;
		struct message_part *tail = NULL, *child = part_new(c, p);
		part_link(p, &tail, child);
		parse_part(c, child, p->body_offset, p->body_offset + p->body_size, false);
	}
}

static void parse_part(struct parse_ctx *c, struct message_part *p, size_t start, size_t end,
	bool digest_child)
{
	part_header_parse(c->a, c->data, p, start, end, c->limits.max_header_bytes, digest_child);
	p->body_lines = count_lines(c->data + p->body_offset, p->body_size);
	if (p->flags & MESSAGE_PART_HEADER_TRUNCATED) {
		/* the header did not fit: its MIME fields may be incomplete, so the
		 * body is not split */
		p->flags |= MESSAGE_PART_LIMIT;
		c->limit_hit = true;
		return;
	}
	parse_body(c, p);
}

struct message *message_parse(struct arena *a, const char *data, size_t size,
	const struct message_limits *limits)
{
	struct parse_ctx c = {
		.a = a,
		.data = data,
		.limits = limits != NULL ? *limits : message_limits_default(),
	};
	struct message *m = arena_alloc(a, sizeof(*m));
	if (data == NULL)
		data = "", size = 0, c.data = data;
	m->data = data;
	m->size = size;
	m->root = part_new(&c, NULL);
	parse_part(&c, m->root, 0, size, false);
	m->n_parts = c.n_parts;
	m->limit_hit = c.limit_hit;
	return m;
}

const struct message_part *message_part_next(const struct message_part *p)
{
	if (p->children != NULL)
		return p->children;
	for (; p != NULL; p = p->parent)
		if (p->next != NULL)
			return p->next;
	return NULL;
}
