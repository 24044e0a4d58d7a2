/*
 * summary.c: what the store keeps about a message besides its bytes, from
 * one parse: Subject, From, Message-ID and Date for searching and
 * threading, the text to index (addresses and the decoded text of text
 * parts, bounded), and the layout of the part tree (layout.c): with it,
 * FETCH of BODYSTRUCTURE, ENVELOPE or BODY[section] rebuilds the tree with
 * message_parse_layout, reading only header blocks, instead of parsing the
 * whole message again. The layout is a few dozen bytes where the IMAP
 * texts were hundreds; the store keeps one per message.
 */
#include "message/message.h"

#include <stdio.h>
#include <string.h>

/* Room for one layout: MESSAGE_MAX_PARTS parts of at most 6 varints of 10
 * bytes each fit with room to spare. */
#define SUMMARY_STRUCTURE_MAX (1024 * 1024)

static const char *const address_fields[] = {"From", "Sender", "Reply-To", "To", "Cc", "Bcc"};

/* "Name <addr>" of the first From address, or the address alone. */
static const char *first_from(struct arena *a, const struct message_headers *h)
{
	const char *v = message_header_get(a, h, "From");
	if (v == NULL)
		return NULL;
	struct message_address_list list;
	message_address_parse(a, v, strlen(v), MESSAGE_ADDRESS_IDNA_UNICODE, &list);
	for (size_t i = 0; i < list.count; i++) {
		const struct message_address *ad = &list.items[i];
		if (ad->address == NULL)
			continue;
		return ad->name != NULL ? arena_printf(a, "%s <%s>", ad->name, ad->address)
		                        : ad->address;
	}
	return NULL;
}

/* Every address and display name of the address fields, space-separated. */
static void addresses_text(struct arena *a, const struct message_headers *h, struct buf *out)
{
	for (size_t f = 0; f < sizeof(address_fields) / sizeof(address_fields[0]); f++) {
		const char *v = message_header_get(a, h, address_fields[f]);
		if (v == NULL)
			continue;
		struct message_address_list list;
		message_address_parse(a, v, strlen(v), MESSAGE_ADDRESS_IDNA_UNICODE, &list);
		for (size_t i = 0; i < list.count; i++) {
			const struct message_address *ad = &list.items[i];
			if (ad->name != NULL)
				buf_appendf(out, "%s ", ad->name);
			if (ad->address != NULL)
				buf_appendf(out, "%s ", ad->address);
		}
	}
}

static bool is_text_part(const struct message_part *p)
{
	return p->n_children == 0 && !(p->flags & MESSAGE_PART_MESSAGE) &&
	       p->content_type.type != NULL && strcmp(p->content_type.type, "text") == 0;
}

static bool is_subtype(const struct message_part *p, const char *type, const char *subtype)
{
	return p->content_type.type != NULL && strcmp(p->content_type.type, type) == 0 &&
	       p->content_type.subtype != NULL && strcmp(p->content_type.subtype, subtype) == 0;
}

/* An HTML part whose multipart/alternative parent also has a plain text
 * version (RFC 2046 §5.1.4): the plain one is indexed instead. */
static bool has_plain_alternative(const struct message_part *p)
{
	if (p->parent == NULL || !is_subtype(p->parent, "multipart", "alternative"))
		return false;
	for (const struct message_part *c = p->parent->children; c != NULL; c = c->next)
		if (is_subtype(c, "text", "plain"))
			return true;
	return false;
}

/* Appends html to out without its tags, comments and entities (each becomes
 * a space): the words are what the index wants. */
static int strip_html(const char *html, size_t n, struct buf *out)
{
	bool in_tag = false, in_entity = false;
	for (size_t i = 0; i < n; i++) {
		char c = html[i];
		if (in_tag) {
			in_tag = c != '>';
			continue;
		}
		if (in_entity) {
			in_entity = c != ';' && c != ' ' && c != '<';
			if (in_entity)
				continue;
		}
		if (c == '<' || c == '&') {
			in_tag = c == '<';
			in_entity = c == '&';
			c = ' ';
		}
		if (buf_append_char(out, c) != 0)
			return -1;
	}
	return 0;
}

/* Appends the decoded text of part p (tags removed for HTML). */
static int part_text(const struct message *m, const struct message_part *p, struct buf *out)
{
	if (!is_subtype(p, "text", "html"))
		return message_part_text(m, p, out) < 0 ? -1 : 0;
	struct buf html;
	buf_init(&html, buf_room(out) * 2 + 1);
	int r = message_part_text(m, p, &html) < 0 ? -1 : 0;
	if (strip_html(html.data, html.len, out) != 0)
		r = -1;
	buf_free(&html);
	return r;
}

/* The decoded text of the text parts, in order, as far as out has room. */
static void body_text(const struct message *m, struct buf *out)
{
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p)) {
		if (!is_text_part(p) || (is_subtype(p, "text", "html") && has_plain_alternative(p)))
			continue;
		if (part_text(m, p, out) != 0)
			return;  /* full: the index keeps what fits */
		buf_append_char(out, '\n');
	}
}

static void structure(struct arena *a, const struct message *m, struct message_summary *s)
{
	struct buf layout;
	buf_init(&layout, SUMMARY_STRUCTURE_MAX);
	if (message_layout_encode(m, &layout) == 0) {
		void *blob = arena_alloc(a, layout.len);
		memcpy(blob, layout.data, layout.len);
		s->structure = blob;
		s->structure_len = layout.len;
	}
	buf_free(&layout);
}

void message_summarize(struct arena *a, const struct message *m, bool complete,
                       size_t text_max, struct message_summary *s)
{
	memset(s, 0, sizeof(*s));
	const struct message_headers *h = &m->root->headers;
	s->subject = message_subject(a, h);
	s->from = first_from(a, h);
	const char *id = message_header_get(a, h, "Message-ID");
	const char **ids;
	if (id != NULL && message_msgid_parse(a, id, strlen(id), &ids) > 0)
		s->message_id = ids[0];
	const char *date = message_header_get(a, h, "Date");
	struct message_date d;
	if (date != NULL && message_date_parse(date, strlen(date), &d) == 0)
		s->date = (int64_t)d.time;
	struct buf text;
	buf_init(&text, text_max);
	addresses_text(a, h, &text);
	s->addresses = arena_strndup(a, text.data, text.len);
	buf_reset(&text);
	if (complete) {
		body_text(m, &text);
		s->body = arena_strndup(a, text.data, text.len);
		structure(a, m, s);
	}
	buf_free(&text);
}
