/*
 * fuzz_message.c: libFuzzer target for src/message: every input is parsed
 * as a message (part tree, RFC 2046 boundaries, message/rfc822 nesting);
 * then every part is walked, every header value decoded as text (RFC 2047)
 * and as an address list, date, msg-id list and content type, every body
 * decoded to UTF-8, ENVELOPE data built for the root and each embedded
 * message, BODYSTRUCTURE and ENVELOPE written as IMAP syntax, and every
 * section of every part looked up. Dictionary:
 * message.dict; seeds: corpus/message/.
 */
#include "message/message.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Most bytes a body is decoded into: keeps a run fast and memory small. */
#define FUZZ_BODY_MAX (1024 * 1024)

static void touch(const char *s)
{
	/* Make the sanitizers read every string the parser produced. */
	volatile size_t n = s == NULL ? 0 : strlen(s);
	(void)n;
}

static void values(struct arena *a, const struct message_header *f)
{
	struct message_address_list l;
	message_address_parse(a, f->value, f->value_len, MESSAGE_ADDRESS_IDNA_UNICODE, &l);
	for (size_t i = 0; i < l.count; i++) {
		touch(l.items[i].name);
		touch(l.items[i].address);
	}
	struct message_date d;
	(void)message_date_parse(f->value, f->value_len, &d);
	const char **ids;
	size_t n = message_msgid_parse(a, f->value, f->value_len, &ids);
	for (size_t i = 0; i < n; i++)
		touch(ids[i]);
	struct message_content_type ct;
	if (message_content_type_parse(a, f->value, f->value_len, &ct) == 1)
		for (size_t i = 0; i < ct.n_params; i++)
			touch(ct.params[i].value);
	touch(message_decode_text(a, f->value, f->value_len, NULL));
}

static void sections(struct arena *a, const struct message *m, const struct message_part *p)
{
	/* the part's own path, built from the parents */
	char path[64];
	size_t n = 0;
	for (const struct message_part *q = p; q->parent != NULL && n < 48; q = q->parent) {
		size_t idx = 1;
		for (const struct message_part *c = q->parent->children; c != q; c = c->next)
			idx++;
		char tmp[64];
		int k = snprintf(tmp, sizeof(tmp), "%zu%s%.*s", idx, n ? "." : "", (int)n, path);
		n = k > 0 && (size_t)k < sizeof(tmp) ? (size_t)k : 0;
		memcpy(path, tmp, n);
	}
	static const char *const names[] = { "subject", "from" };
	for (int kind = MESSAGE_SECTION_BODY; kind <= MESSAGE_SECTION_HEADER_FIELDS_NOT; kind++) {
		struct message_section sec;
		if (message_section(a, m, path, n, (enum message_section_kind)kind, names, 2, &sec) == 0) {
			volatile char c = sec.size > 0 ? sec.data[sec.size - 1] : 0;
			(void)c;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct message *m = message_parse(a, (const char *)data, size, NULL);
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p)) {
		/* the tree's bounds: a part lies inside the message and its parent */
		if (p->header_offset + p->header_size != p->body_offset ||
				p->body_offset + p->body_size > size ||
				(p->parent != NULL && p->body_offset + p->body_size >
				 p->parent->body_offset + p->parent->body_size))
			__builtin_trap();
		for (size_t i = 0; i < p->headers.count; i++)
			values(a, &p->headers.fields[i]);
		struct buf out;
		buf_init(&out, FUZZ_BODY_MAX);
		(void)message_part_text(m, p, &out);
		buf_free(&out);
		if (p->parent == NULL || (p->parent->flags & MESSAGE_PART_MESSAGE)) {
			struct message_envelope env;
			message_envelope(a, p, &env);
			touch(message_subject(a, &p->headers));
			buf_init(&out, FUZZ_BODY_MAX);
			(void)message_imap_envelope(a, p, &out);
			(void)message_imap_bodystructure(a, p, true, &out);
			buf_free(&out);
		}
		(void)message_part_has_lines(p);
		sections(a, m, p);
	}
	arena_free(&a);
	return 0;
}
