/*
 * fuzz_layout.c: libFuzzer target for the part layout (src/message/layout.c).
 *
 * Input: one byte E, then (E & 0x0f) edits of two bytes each (position,
 * new value), then the message. With E & 0x40 the parse uses small limits
 * (depth 3, 6 parts, 64 header bytes) so that short inputs reach them. The
 * message is parsed, its layout encoded
 * and rebuilt: the rebuilt tree must equal the parsed one (offsets, sizes,
 * lines, flags, shape, BODYSTRUCTURE). Then the edits are applied to the
 * layout (position modulo its length) and, unless E has bit 0x80, the check
 * byte is recomputed so that the validation behind it is reached. A
 * damaged layout may be refused; one that is accepted must give a tree
 * inside the message, which is then walked as IMAP would (BODYSTRUCTURE,
 * ENVELOPE, sections, body text). Seeds: corpus/layout/.
 */
#include "message/message.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Most bytes of IMAP text or body text built per part. */
#define FUZZ_OUT_MAX (1024 * 1024)
/* Room for a layout: MESSAGE_MAX_PARTS parts of six 10-byte varints. */
#define FUZZ_LAYOUT_MAX (MESSAGE_MAX_PARTS * 60 + 32)

/* The format's check byte (layout.c): CRC-8, polynomial 0x07. */
static unsigned char crc8(const unsigned char *p, size_t n)
{
	unsigned crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = ((crc << 1) ^ ((crc & 0x80) ? 0x07 : 0)) & 0xff;
	}
	return (unsigned char)crc;
}

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void bodystructure(struct arena *a, const struct message_part *p, struct buf *out)
{
	buf_init(out, FUZZ_OUT_MAX);
	(void)message_imap_bodystructure(a, p, true, out);
}

/* The rebuilt tree r equals the parsed tree m. */
static void same(struct arena *a, const struct message *m, const struct message *r)
{
	check(r != NULL && r->n_parts == m->n_parts && r->limit_hit == m->limit_hit);
	const struct message_part *p = m->root, *q = r->root;
	for (; p != NULL && q != NULL; p = message_part_next(p), q = message_part_next(q))
		check(p->header_offset == q->header_offset && p->header_size == q->header_size &&
			p->body_offset == q->body_offset && p->body_size == q->body_size &&
			p->body_lines == q->body_lines && p->flags == q->flags &&
			p->depth == q->depth && p->n_children == q->n_children &&
			p->headers.count == q->headers.count && p->encoding == q->encoding);
	check(p == NULL && q == NULL);
	struct buf x, y;
	bodystructure(a, m->root, &x);
	bodystructure(a, r->root, &y);
	check(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
	buf_free(&x);
	buf_free(&y);
}

/* An accepted tree lies inside its message; IMAP may use all of it. */
static void walk(struct arena *a, const struct message *m)
{
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p)) {
		check(p->header_offset + p->header_size == p->body_offset &&
			p->body_offset + p->body_size <= m->size && p->body_lines <= p->body_size);
		if (p->parent != NULL)
			check(p->header_offset >= p->parent->body_offset &&
				p->body_offset + p->body_size <=
				p->parent->body_offset + p->parent->body_size);
		struct buf out;
		buf_init(&out, FUZZ_OUT_MAX);
		(void)message_part_text(m, p, &out);
		if (p->parent == NULL || (p->parent->flags & MESSAGE_PART_MESSAGE)) {
			(void)message_imap_envelope(a, p, &out);
			(void)message_imap_bodystructure(a, p, false, &out);
		}
		buf_free(&out);
	}
	struct message_section sec;
	(void)message_section(a, m, "1.1", 3, MESSAGE_SECTION_MIME, NULL, 0, &sec);
	(void)message_section(a, m, "2", 1, MESSAGE_SECTION_TEXT, NULL, 0, &sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned e = data[0];
	size_t n_edits = e & 0x0f, skip = 1 + 2 * n_edits;
	if (size < skip)
		return 0;
	const uint8_t *edits = data + 1;
	const char *msg = (const char *)data + skip;
	size_t len = size - skip;

	struct message_limits small = { .max_depth = 3, .max_parts = 6, .max_header_bytes = 64 };
	const struct message_limits *lim = (e & 0x40) ? &small : NULL;
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct message *m = message_parse(a, msg, len, lim);
	struct buf lay;
	buf_init(&lay, FUZZ_LAYOUT_MAX);
	check(message_layout_encode(m, &lay) == 0);
	same(a, m, message_parse_layout(a, msg, len, lay.data, lay.len, lim));

	unsigned char *l = (unsigned char *)lay.data;
	for (size_t i = 0; i < n_edits; i++)
		l[edits[2 * i] % lay.len] = edits[2 * i + 1];
	if (!(e & 0x80) && lay.len > 1)
		l[lay.len - 1] = crc8(l, lay.len - 1);
	struct message *r = message_parse_layout(a, msg, len, l, lay.len, lim);
	if (r != NULL)
		walk(a, r);
	buf_free(&lay);
	arena_free(&a);
	return 0;
}
