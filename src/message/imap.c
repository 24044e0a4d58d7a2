/*
 * imap.c: the data IMAP takes from a message (RFC 9051 §7.5.2 ENVELOPE and
 * BODYSTRUCTURE) and section lookup for BODY[section] (RFC 9051 §6.4.5).
 *
 * Formatting as IMAP strings is the IMAP library's job; this file only
 * finds the values and byte ranges. Partial fetches (<start.len>) are cut
 * by the caller from the section returned here.
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

static void address_field(struct arena *a, const struct message_headers *h, const char *name,
	struct message_address_list *list)
{
	const struct message_header *f = message_header_find(h, name, NULL);
	memset(list, 0, sizeof(*list));
	if (f != NULL)
		(void)message_address_parse(a, f->value, f->value_len, MESSAGE_ADDRESS_PLAIN, list);
}

/* RFC 9051 §7.5.2: envelope = "(" env-date SP env-subject SP env-from SP
 * env-sender SP env-reply-to SP env-to SP env-cc SP env-bcc SP
 * env-in-reply-to SP env-message-id ")" */
void message_envelope(struct arena *a, const struct message_part *p,
	struct message_envelope *env_r)
{
	const struct message_headers *h = &p->headers;
	memset(env_r, 0, sizeof(*env_r));
	env_r->date = message_header_get(a, h, "date");
	env_r->subject = message_header_get(a, h, "subject");
	address_field(a, h, "from", &env_r->from);
	address_field(a, h, "sender", &env_r->sender);
	address_field(a, h, "reply-to", &env_r->reply_to);
	address_field(a, h, "to", &env_r->to);
	address_field(a, h, "cc", &env_r->cc);
	address_field(a, h, "bcc", &env_r->bcc);
	env_r->in_reply_to = message_header_get(a, h, "in-reply-to");
	env_r->message_id = message_header_get(a, h, "message-id");
	/* §7.5.2: "If the Sender or Reply-To lines are absent in the [RFC-5322]
	 * header, or are present but empty, the server sets the corresponding
	 * member of the envelope to be the same value as the from member" */
	if (env_r->sender.count == 0)
		env_r->sender = env_r->from;
	if (env_r->reply_to.count == 0)
		env_r->reply_to = env_r->from;
}

static bool type_is(const struct message_part *p, const char *type, const char *subtype)
{
	return strcmp(p->content_type.type, type) == 0 &&
		(subtype == NULL || strcmp(p->content_type.subtype, subtype) == 0);
}

bool message_part_has_lines(const struct message_part *p)
{
	/* §7.5.2 body-type-text carries body-fld-lines; body-type-msg too */
	return type_is(p, "text", NULL) || type_is(p, "message", "rfc822") ||
		type_is(p, "message", "global");
}

/* The n-th (1-based) subpart of cur for a section path, or NULL. *in_body
 * says whether cur was reached as the body of a non-multipart message
 * (then only an embedded message has subparts). */
static const struct message_part *subpart(const struct message_part *cur, unsigned long n,
	bool *in_body)
{
	const struct message_part *container = NULL;
	if (cur->parent == NULL && !*in_body)
		container = cur;  /* the top-level message */
	else if ((cur->flags & MESSAGE_PART_MESSAGE) && cur->children != NULL)
		container = cur->children;  /* §6.4.5: numbers count the embedded message's parts */
	*in_body = false;
	if (container != NULL && !(container->flags & MESSAGE_PART_MULTIPART)) {
		/* "1" of a non-multipart message is its body */
		*in_body = n == 1;
		return n == 1 ? container : NULL;
	}
	const struct message_part *p = container != NULL ? container : cur;
	if (!(p->flags & MESSAGE_PART_MULTIPART))
		return NULL;
	const struct message_part *c = p->children;
	for (unsigned long i = 1; c != NULL && i < n; i++)
		c = c->next;
	return c;
}

/* RFC 9051 §6.4.5: section-part = nz-number *("." nz-number) */
const struct message_part *message_section_part(const struct message *m, const char *path,
	size_t n)
{
	const struct message_part *p = m->root;
	const char *s = path, *end = path + n;
	bool in_body = false;
	while (s < end) {
		unsigned long v = 0;
		const char *start = s;
		for (; s < end && *s >= '0' && *s <= '9' && v < 100000000; s++)
			v = v * 10 + (unsigned long)(*s - '0');
		if (s == start || v == 0 || *start == '0')
			return NULL;
		if (s < end && (*s != '.' || s + 1 == end))
			return NULL;
		if (s < end)
			s++;
		p = subpart(p, v, &in_body);
		if (p == NULL)
			return NULL;
	}
	return p;
}

static void range(struct message_section *sec, const struct message *m, size_t off, size_t size)
{
	sec->data = m->data + off;
	sec->offset = off;
	sec->size = size;
	sec->built = false;
}

static bool name_listed(const struct message_header *f, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (message_header_is(f, names[i]))
			return true;
	return false;
}

/* HEADER.FIELDS and HEADER.FIELDS.NOT: the chosen fields, each with its
 * line endings made CRLF, then the empty line (§6.4.5). */
static void build_fields(struct arena *a, const struct message *m, const struct message_part *p,
	const char *const *names, size_t n_names, bool not, struct message_section *sec)
{
	struct buf b;
	buf_init(&b, p->header_size * 2 + 2);
	for (size_t i = 0; i < p->headers.count; i++) {
		const struct message_header *f = &p->headers.fields[i];
		if (f->broken || name_listed(f, names, n_names) == not)
			continue;
		const char *s = m->data + f->offset;
		for (size_t j = 0; j < f->size; j++) {
			if (s[j] == '\n' && (j == 0 || s[j - 1] != '\r'))
				(void)buf_append_char(&b, '\r');
			(void)buf_append_char(&b, s[j]);
		}
		if (f->size == 0 || s[f->size - 1] != '\n')
			(void)buf_append(&b, "\r\n", 2);
	}
	(void)buf_append(&b, "\r\n", 2);
	sec->size = b.len;
	sec->data = lex_bufdup(a, &b);
	sec->offset = 0;
	sec->built = true;
	buf_free(&b);
}

int message_section(struct arena *a, const struct message *m, const char *path,
	size_t path_len, enum message_section_kind kind, const char *const *names,
	size_t n_names, struct message_section *sec_r)
{
	const struct message_part *p = message_section_part(m, path, path_len);
	memset(sec_r, 0, sizeof(*sec_r));
	if (p == NULL)
		return -1;
	if (kind == MESSAGE_SECTION_BODY) {
		if (path_len == 0)
			range(sec_r, m, 0, m->size);
		else
			range(sec_r, m, p->body_offset, p->body_size);
		return 0;
	}
	if (kind == MESSAGE_SECTION_MIME) {
		if (path_len == 0)
			return -1;  /* §6.4.5: MIME needs a part number */
		range(sec_r, m, p->header_offset, p->header_size);
		return 0;
	}
	/* HEADER, TEXT, HEADER.FIELDS[.NOT]: of the root or of the message
	 * embedded in a message/rfc822 part */
	if (path_len > 0) {
		if (!(p->flags & MESSAGE_PART_MESSAGE) || p->children == NULL)
			return -1;
		p = p->children;
	}
	if (kind == MESSAGE_SECTION_HEADER)
		range(sec_r, m, p->header_offset, p->header_size);
	else if (kind == MESSAGE_SECTION_TEXT)
		range(sec_r, m, p->body_offset, p->body_size);
	else
		build_fields(a, m, p, names, n_names, kind == MESSAGE_SECTION_HEADER_FIELDS_NOT, sec_r);
	return 0;
}
