/*
 * header.c: header blocks (RFC 5322 §2.2, §3.6): splitting into fields,
 * unfolding, lookup by name, and decoding of unstructured values.
 *
 * Fields point into the message; nothing is copied until a caller asks for
 * an unfolded or decoded value. A header block ends at the first empty line
 * (§2.1), at the end of the input, or at MESSAGE_MAX_HEADER_BYTES.
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

/* End of the line starting at p: after its LF, or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	return lf == NULL ? end : lf + 1;
}

/* Length of the line ending at the end of [p, e): 2 for CRLF, 1 for LF, 0. */
static size_t eol_len(const char *p, const char *e)
{
	if (e > p && e[-1] == '\n')
		return e - 1 > p && e[-2] == '\r' ? 2 : 1;
	return 0;
}

/* RFC 5322 §2.1: the empty line ending the header (CRLF, or a bare LF). */
static bool is_empty_line(const char *p, const char *e)
{
	return (e - p == 1 && p[0] == '\n') || (e - p == 2 && p[0] == '\r' && p[1] == '\n');
}

/*
 * RFC 5322 §3.6.8, with §4.5's obsolete WSP before the colon:
 *   field-name = 1*ftext
 *   ftext      = %d33-57 / %d59-126    ; printable US-ASCII except ":"
 *   obs-optional = field-name *WSP ":" unstructured CRLF
 * Liberal: 8-bit bytes are accepted in names (they do no harm and occur).
 */
static void field_fill(struct message_header *f, const char *base, const char *p, const char *e)
{
	size_t content = (size_t)(e - p) - eol_len(p, e);
	const char *colon = memchr(p, ':', content);
	f->offset = (size_t)(p - base);
	f->size = (size_t)(e - p);
	f->name = p;
	f->broken = colon == NULL || colon == p;
	size_t n = colon == NULL ? 0 : (size_t)(colon - p);
	while (n > 0 && lex_is_wsp((unsigned char)p[n - 1]))
		n--;
	for (size_t i = 0; i < n && !f->broken; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			f->broken = true;
	if (f->broken) {
		f->name_len = (size_t)(e - p) - eol_len(p, e);
		f->value = p + f->name_len;
		f->value_len = 0;
		return;
	}
	f->name_len = n;
	f->value = colon + 1;
	f->value_len = (size_t)(p + content - f->value);
}

/* One pass over the block: counts fields, and fills them if fields is not NULL. */
static size_t headers_scan(const char *data, size_t size, size_t max_bytes,
	struct message_header *fields, size_t *count_r, unsigned *flags_r)
{
	const char *p = data, *end = data + size, *field = NULL;
	size_t count = 0;
	unsigned flags = 0;
	for (;;) {
		if (p >= end) {
			flags |= MESSAGE_PART_NO_BODY;
			break;
		}
		const char *e = line_end(p, end);
		if (is_empty_line(p, e)) {
			p = e;
			break;
		}
		if ((size_t)(e - data) > max_bytes) {
			flags |= MESSAGE_PART_HEADER_TRUNCATED;
			break;
		}
		/* RFC 5322 §2.2.3: a line starting with WSP continues the field */
		if (!(field != NULL && lex_is_wsp((unsigned char)*p))) {
			if (fields != NULL && field != NULL)
				field_fill(&fields[count - 1], data, field, p);
			field = p;
			count++;
		}
		p = e;
	}
	const char *stop = (flags & MESSAGE_PART_NO_BODY) ? end :
		(flags & MESSAGE_PART_HEADER_TRUNCATED) ? p : p - eol_len(data, p);
	if (fields != NULL && field != NULL)
		field_fill(&fields[count - 1], data, field, stop < field ? field : stop);
	*count_r = count;
	*flags_r = flags;
	return (size_t)(p - data);
}

size_t message_headers_parse(struct arena *a, const char *data, size_t size,
	size_t max_bytes, struct message_headers *headers_r, unsigned *flags_r)
{
	size_t count;
	unsigned flags;
	headers_scan(data, size, max_bytes, NULL, &count, &flags);
	headers_r->fields = arena_alloc(a, count * sizeof(struct message_header));
	size_t used = headers_scan(data, size, max_bytes, headers_r->fields, &count, &flags);
	headers_r->count = count;
	for (size_t i = 0; i < count; i++)
		if (headers_r->fields[i].broken)
			flags |= MESSAGE_PART_BROKEN_HEADER;
	*flags_r = flags;
	return used;
}

bool message_header_is(const struct message_header *f, const char *name)
{
	return !f->broken && lex_eq(f->name, f->name_len, name);
}

const struct message_header *message_header_find(const struct message_headers *h,
	const char *name, const struct message_header *after)
{
	size_t i = after == NULL ? 0 : (size_t)(after - h->fields) + 1;
	for (; i < h->count; i++)
		if (message_header_is(&h->fields[i], name))
			return &h->fields[i];
	return NULL;
}

/* RFC 5322 §2.2.3: "Unfolding is accomplished by simply removing any CRLF
 * that is immediately followed by WSP." Bare CR and LF are removed too. */
char *message_header_unfold(struct arena *a, const char *value, size_t n, size_t *len_r)
{
	while (n > 0 && lex_is_space((unsigned char)value[0])) {
		value++;
		n--;
	}
	while (n > 0 && lex_is_space((unsigned char)value[n - 1]))
		n--;
	char *s = arena_alloc(a, n + 1);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		if (value[i] != '\r' && value[i] != '\n')
			s[len++] = value[i];
	s[len] = '\0';
	if (len_r != NULL)
		*len_r = len;
	return s;
}

const char *message_header_get(struct arena *a, const struct message_headers *h,
	const char *name)
{
	const struct message_header *f = message_header_find(h, name, NULL);
	return f == NULL ? NULL : message_header_unfold(a, f->value, f->value_len, NULL);
}

char *message_decode_text(struct arena *a, const char *s, size_t n, size_t *len_r)
{
	size_t len;
	char *unfolded = message_header_unfold(a, s, n, &len);
	struct buf out;
	/* RFC 2047 output: at most 3 bytes (U+FFFD) per input byte, or what
	 * iconv makes of one byte; 8 per byte is generous for both */
	buf_init(&out, len * 8 + 16);
	/* on the (theoretical) overflow, out holds whole units up to the cut */
	(void)rfc2047_decode(unfolded, unfolded + len, &out);
	char *r = lex_bufdup(a, &out);
	if (len_r != NULL)
		*len_r = out.len;
	buf_free(&out);
	return r;
}

const char *message_subject(struct arena *a, const struct message_headers *h)
{
	const struct message_header *f = message_header_find(h, "subject", NULL);
	return f == NULL ? NULL : message_decode_text(a, f->value, f->value_len, NULL);
}

bool message_header_complete(const char *p, size_t n, size_t from)
{
	for (size_t i = from; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return true;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return true;
	}
	return false;
}
