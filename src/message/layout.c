/*
 * layout.c: the part tree of a message as a few dozen bytes, and the tree
 * rebuilt from those bytes and the message without scanning bodies.
 *
 * message_parse finds two kinds of facts. What a header block says (fields,
 * content types, encodings, ids) is cheap to read again: a header is a few
 * KiB at a known offset. What the body scan finds (where boundaries split a
 * multipart, how many lines a body has) costs a pass over the whole message
 * per nesting level. The layout keeps only the second kind; rebuilding reads
 * each header block at its recorded offset with the parser's own code
 * (part_header_parse) and takes the rest from the layout.
 *
 * Format, version 2 (every number an unsigned LEB128 varint, at most 10
 * bytes, no overlong forms):
 *
 *   layout  = version n_parts part{n_parts} check
 *   version = %x02                   (one byte, not a varint)
 *   part    = flags n_children header_delta header_size body_size body_lines
 *   check   = CRC-8 (polynomial 0x07, initial 0) of every byte before it
 *
 * Parts come in pre-order (the order of message_part_next). flags are the
 * enum message_part_flags bits. header_delta is where the part's header
 * starts, counted from the start of its parent's body for a first child and
 * from the end of the previous sibling's body otherwise (0 for the root and
 * for an embedded message), so it stays as small as a delimiter line. The
 * body starts where the header ends (header_offset + header_size ==
 * body_offset in every tree of message_parse), so it has no field. A plain
 * one-part message comes out in about 10 bytes, the two-part example of RFC
 * 2046 §5.1.1 in 25; spam-corpus-train averages 12.5 bytes a message.
 *
 * Rebuilding trusts nothing: every range must lie inside the message and
 * its parent's body (the root and an embedded message exactly fill theirs,
 * siblings follow in order), counts stay within the limits and the record
 * count, the header read again must have the recorded size and header
 * flags, the tree shape must agree with what each header says (a multipart
 * iff its Content-Type makes one, one child iff an embedded message, the
 * LIMIT flag where the parse would have set it), the parts of a multipart
 * must start and end at its delimiter lines (looked at where the layout
 * puts them; only the preamble is searched, as the parser does to find the
 * first), line counts must fit their bodies, and no byte may be left over.
 * Any doubt gives NULL, and the caller parses the message instead.
 *
 * What cannot be checked without the body scan the layout saves: that no
 * other delimiter line lies inside a part, and that a line count is right.
 * The check byte catches any single changed byte (a line count, say); a
 * layout of other bytes with the same header sizes and delimiter places
 * would still pass. And a layout records what this parser found: whenever
 * message_parse would split or count differently, LAYOUT_VERSION must
 * change, so that old layouts are refused and their messages parsed again.
 *
 * Version 1 is still read: it differs only in body_lines, which counted a
 * last line without line ending as a line. Such a line is seen from the
 * body's last byte, so a version 1 count is converted, not refused (stored
 * messages keep their layouts).
 */
#include "message/message.h"
#include "message/internal.h"

#include <stdint.h>
#include <string.h>

#define LAYOUT_VERSION 2
/* The version whose body_lines counted a last line without line ending. */
#define LAYOUT_VERSION_PARTIAL_LINES 1
/* A varint holds at most 64 bits: ceil(64 / 7) bytes. */
#define LAYOUT_VARINT_MAX 10

/* Every flag the parser sets. */
#define LAYOUT_FLAGS_ALL 0xffu
/* The flags part_header_parse sets from the header alone. */
#define LAYOUT_HEADER_FLAGS (MESSAGE_PART_HEADER_TRUNCATED | MESSAGE_PART_NO_BODY | \
	MESSAGE_PART_BROKEN_HEADER | MESSAGE_PART_DEFAULT_TYPE)

/* CRC-8 with polynomial x^8 + x^2 + x + 1: detects every burst error of up
 * to 8 bits, so every single changed byte. */
static unsigned char crc8(const unsigned char *p, size_t n)
{
	unsigned crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x80) ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
	}
	return (unsigned char)crc;
}

/* ---- encoding ---- */

struct layout_out {
	struct buf *b;
	size_t n_parts;     /* parts written */
	bool bad;           /* full, or a tree message_parse cannot make */
};

static void put_varint(struct layout_out *o, uint64_t v)
{
	unsigned char tmp[LAYOUT_VARINT_MAX];
	size_t n = 0;
	do {
		tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	if (!o->bad && buf_append(o->b, tmp, n) < 0)
		o->bad = true;
}

/* Writes p and its subtree; base is where p's header_delta counts from. */
static void encode_part(struct layout_out *o, const struct message_part *p, size_t base)
{
	if (p->header_offset < base || p->header_offset + p->header_size != p->body_offset ||
			(p->flags & ~LAYOUT_FLAGS_ALL) != 0) {
		o->bad = true;
		return;
	}
	o->n_parts++;
	put_varint(o, p->flags);
	put_varint(o, p->n_children);
	put_varint(o, p->header_offset - base);
	put_varint(o, p->header_size);
	put_varint(o, p->body_size);
	put_varint(o, p->body_lines);
	size_t pos = p->body_offset, n = 0;
	for (const struct message_part *c = p->children; c != NULL && !o->bad; c = c->next, n++) {
		encode_part(o, c, pos);
		pos = c->body_offset + c->body_size;
	}
	if (n != p->n_children)
		o->bad = true;
}

int message_layout_encode(const struct message *m, struct buf *out)
{
	size_t start = out->len;
	struct layout_out o = { .b = out };
	unsigned char version = LAYOUT_VERSION;
	if (buf_append(out, &version, 1) < 0)
		return -1;
	put_varint(&o, m->n_parts);
	encode_part(&o, m->root, 0);
	if (!o.bad && o.n_parts != m->n_parts)
		o.bad = true;
	unsigned char check = crc8((const unsigned char *)out->data + start, out->len - start);
	if (o.bad || buf_append(out, &check, 1) < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

/* ---- decoding ---- */

struct layout_in {
	const unsigned char *p, *end;
	bool bad;
};

/* The next varint as a size_t; on a short, overlong or too large one, sets
 * bad and returns 0. */
static size_t get_varint(struct layout_in *in)
{
	uint64_t v = 0;
	for (unsigned shift = 0; !in->bad && in->p < in->end && shift < 64; shift += 7) {
		unsigned char c = *in->p++;
		if (shift == 63 && c > 1)
			break;  /* past 64 bits */
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			if (c == 0 && shift > 0)
				break;  /* overlong form */
#if SIZE_MAX < UINT64_MAX
			if (v > SIZE_MAX)
				break;
#endif
			return (size_t)v;
		}
	}
	in->bad = true;
	return 0;
}

/* One part as the layout gives it. */
struct record {
	size_t flags, n_children, header_delta, header_size, body_size, body_lines;
};

static bool read_record(struct layout_in *in, struct record *r)
{
	r->flags = get_varint(in);
	r->n_children = get_varint(in);
	r->header_delta = get_varint(in);
	r->header_size = get_varint(in);
	r->body_size = get_varint(in);
	r->body_lines = get_varint(in);
	return !in->bad && (r->flags & ~(size_t)LAYOUT_FLAGS_ALL) == 0;
}

/* The part's range [*start_r, *end_r) inside [lo, hi); exact: it must fill
 * [lo, hi) (the root, an embedded message). Every sum is checked before it
 * is made, so nothing wraps. */
static bool place(const struct record *r, size_t lo, size_t hi, bool exact, size_t *start_r,
	size_t *end_r)
{
	if (r->header_delta > hi - lo)
		return false;
	size_t start = lo + r->header_delta;
	if (r->header_size > hi - start || r->body_size > hi - start - r->header_size)
		return false;
	size_t end = start + r->header_size + r->body_size;
	if (exact && (start != lo || end != hi))
		return false;
	*start_r = start;
	*end_r = end;
	return true;
}

/* Whether the body flags and child count of p (its header already read,
 * flags from the layout) are those message_parse gives a part with this
 * header; see parse_part and parse_body in parser.c. */
static bool shape_ok(const struct message_part *p, size_t n_children)
{
	unsigned f = p->flags;
	if (f & MESSAGE_PART_HEADER_TRUNCATED)
		return (f & MESSAGE_PART_LIMIT) && n_children == 0 && !(f & (MESSAGE_PART_MULTIPART |
			MESSAGE_PART_MESSAGE | MESSAGE_PART_NO_END_BOUNDARY));
	if (part_is_multipart(p) != ((f & MESSAGE_PART_MULTIPART) != 0))
		return false;
	if (f & MESSAGE_PART_MULTIPART)
		return !(f & MESSAGE_PART_MESSAGE);
	if (f & MESSAGE_PART_NO_END_BOUNDARY)
		return false;
	if (f & MESSAGE_PART_MESSAGE)
		return part_is_message(p) && n_children == 1 && !(f & MESSAGE_PART_LIMIT);
	/* a leaf: LIMIT exactly when a message type could not descend */
	return n_children == 0 && part_is_message(p) == ((f & MESSAGE_PART_LIMIT) != 0);
}

/* The delimiter line that ends child ch of multipart p (dash: "--"
 * boundary, dlen bytes): it starts where ch ends or after the line ending
 * it takes from ch (at most two bytes). */
static bool delimiter_after(const char *data, const struct message_part *p,
	const struct message_part *ch, const char *dash, size_t dlen, struct delimiter *d)
{
	size_t end = ch->body_offset + ch->body_size, pend = p->body_offset + p->body_size;
	for (size_t at = end; at <= end + 2 && at <= pend; at++) {
		if (!delimiter_at(data, p->body_offset, at, pend, dash, dlen, d))
			continue;
		/* parse_multipart: a part ending before it starts is empty */
		size_t part_end = d->part_end < ch->header_offset ? ch->header_offset : d->part_end;
		if (part_end == end)
			return true;
	}
	return false;
}

/* Whether the children of multipart p lie between its delimiter lines as
 * parse_multipart puts them: the first one right after the first delimiter
 * of the body (found by searching the preamble), each one up to the next
 * delimiter, the last one up to the close delimiter, the end of the body
 * (NO_END_BOUNDARY) or, where LIMIT stopped the parse, another delimiter.
 * Only the preamble is searched; what lies inside a child is not. */
static bool splits_ok(struct arena *a, const char *data, const struct message_part *p)
{
	size_t blen = strlen(p->boundary), dlen = blen + 2;
	char *dash = arena_alloc(a, dlen + 1);
	dash[0] = dash[1] = '-';
	memcpy(dash + 2, p->boundary, blen);
	size_t bs = p->body_offset, be = bs + p->body_size;
	bool limit = (p->flags & MESSAGE_PART_LIMIT) != 0;
	bool no_end = (p->flags & MESSAGE_PART_NO_END_BOUNDARY) != 0;
	struct delimiter d;
	if (!delimiter_find(data, bs, bs, be, dash, dlen, &d))
		return p->n_children == 0 && no_end && !limit;
	if (p->n_children == 0)
		return d.close ? !limit && !no_end : limit;
	const struct message_part *ch = p->children;
	if (d.close || d.next_start != ch->header_offset)
		return false;
	for (; ch->next != NULL; ch = ch->next)
		if (!delimiter_after(data, p, ch, dash, dlen, &d) || d.close ||
				d.next_start != ch->next->header_offset)
			return false;
	if (limit)
		return delimiter_after(data, p, ch, dash, dlen, &d) && !d.close;
	if (no_end)
		return ch->body_offset + ch->body_size == be;
	return delimiter_after(data, p, ch, dash, dlen, &d) && d.close;
}

struct build_ctx {
	struct arena *a;
	const char *data;
	struct message_limits limits;
	struct layout_in in;
	unsigned version;   /* of the layout read */
	size_t n_declared;  /* parts the layout announces */
	size_t n_parts;     /* parts made so far */
	bool limit_hit;
};

static struct message_part *part_new(struct build_ctx *c, struct message_part *parent)
{
	struct message_part *p = arena_alloc(c->a, sizeof(*p));
	p->parent = parent;
	p->depth = parent == NULL ? 0 : parent->depth + 1;
	c->n_parts++;
	return p;
}

static bool build_part(struct build_ctx *c, struct message_part *p, size_t lo, size_t hi,
	bool exact, bool digest_child);

/* Makes the n children of p that follow in the layout. Recursion is
 * bounded by limits.max_depth, the number of parts by the record count. */
static bool build_children(struct build_ctx *c, struct message_part *p, size_t n)
{
	if (n > c->n_declared - c->n_parts || (n > 0 && p->depth + 1 > c->limits.max_depth))
		return false;
	bool multipart = (p->flags & MESSAGE_PART_MULTIPART) != 0;
	bool digest = multipart && strcmp(p->content_type.subtype, "digest") == 0;
	size_t pos = p->body_offset, end = p->body_offset + p->body_size;
	struct message_part *tail = NULL;
	for (size_t i = 0; i < n; i++) {
		struct message_part *child = part_new(c, p);
		if (tail == NULL)
			p->children = child;
		else
			tail->next = child;
		tail = child;
		p->n_children++;
		if (!build_part(c, child, pos, end, !multipart, digest))
			return false;
		pos = child->body_offset + child->body_size;
	}
	return true;
}

/* The line count of r's body, which ends at end: at most one line ending
 * a byte. A version 1 count took a last line without line ending as one
 * more (so a body of n bytes had 1 to n lines): that line is taken off. */
static bool lines_ok(const struct build_ctx *c, const struct record *r, size_t end,
	size_t *lines_r)
{
	size_t lines = r->body_lines;
	if (c->version == LAYOUT_VERSION_PARTIAL_LINES && r->body_size > 0) {
		if (lines == 0)
			return false;
		if (c->data[end - 1] != '\n')
			lines--;
	}
	*lines_r = lines;
	return lines <= r->body_size;
}

/* Reads the next record into p, which must lie in [lo, hi) (fill it when
 * exact), reads its header from the message, checks both agree, then makes
 * its children. */
static bool build_part(struct build_ctx *c, struct message_part *p, size_t lo, size_t hi,
	bool exact, bool digest_child)
{
	struct record r;
	size_t start, end;
	if (!read_record(&c->in, &r) || !place(&r, lo, hi, exact, &start, &end))
		return false;
	part_header_parse(c->a, c->data, p, start, end, c->limits.max_header_bytes, digest_child);
	if (p->header_size != r.header_size ||
			(p->flags & LAYOUT_HEADER_FLAGS) != (r.flags & LAYOUT_HEADER_FLAGS))
		return false;
	p->flags = (unsigned)r.flags;
	if (!lines_ok(c, &r, end, &p->body_lines))
		return false;
	if (!shape_ok(p, r.n_children))
		return false;
	if (p->flags & MESSAGE_PART_LIMIT)
		c->limit_hit = true;
	if (!build_children(c, p, r.n_children))
		return false;
	return !(p->flags & MESSAGE_PART_MULTIPART) || splits_ok(c->a, c->data, p);
}

/* The record stream between the version byte and the check byte, if the
 * layout is whole and of a version we read. */
static bool layout_open(const void *layout, size_t len, struct layout_in *in_r,
	unsigned *version_r)
{
	const unsigned char *l = layout;
	if (l == NULL || len < 2 || (l[0] != LAYOUT_VERSION && l[0] != LAYOUT_VERSION_PARTIAL_LINES) ||
			crc8(l, len - 1) != l[len - 1])
		return false;
	*version_r = l[0];
	in_r->p = l + 1;
	in_r->end = l + len - 1;
	in_r->bad = false;
	return true;
}

struct message *message_parse_layout(struct arena *a, const char *data, size_t size,
	const void *layout, size_t len, const struct message_limits *limits)
{
	struct build_ctx c = {
		.a = a,
		.data = data,
		.limits = limits != NULL ? *limits : message_limits_default(),
	};
	if (data == NULL)
		data = "", size = 0, c.data = data;
	if (!layout_open(layout, len, &c.in, &c.version))
		return NULL;
	c.n_declared = get_varint(&c.in);
	if (c.in.bad || c.n_declared == 0 || c.n_declared > c.limits.max_parts)
		return NULL;
	struct message *m = arena_alloc(a, sizeof(*m));
	m->data = data;
	m->size = size;
	m->root = part_new(&c, NULL);
	if (!build_part(&c, m->root, 0, size, true, false) || c.n_parts != c.n_declared ||
			c.in.p != c.in.end)
		return NULL;
	m->n_parts = c.n_parts;
	m->limit_hit = c.limit_hit;
	return m;
}
