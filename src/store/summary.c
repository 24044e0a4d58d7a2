/*
 * summary.c: what a delivery stores from a parsed message's summary, the
 * one mapping shared by SMTP delivery, IMAP APPEND and `tern import`; and
 * what the store itself keeps from the header block as IMAP shows it (the
 * added headers followed by the file's header): the ENVELOPE text and the
 * search headers, so that FETCH ENVELOPE and SEARCH FROM/TO/CC/BCC/SUBJECT
 * are answered from the account database without reading the file.
 *
 * Both are made from the header block parsed exactly as the IMAP server
 * parses it when it reads the file (message_headers_parse with
 * MESSAGE_MAX_HEADER_BYTES over prefix + file), so they are the same bytes
 * the file would give.
 */
#include "store/internal.h"

#include "core/buf.h"

#include <stdio.h>
#include <string.h>

/* Largest ENVELOPE text and search headers kept; a header that gives more
 * (hundreds of addresses) is read from the file when asked. */
#define ENVELOPE_MAX (64 * 1024)
#define SEARCH_HEADERS_MAX (64 * 1024)

void store_delivery_summary(struct store_delivery *d, const struct message_summary *s)
{
	d->subject = s->subject;
	d->from = s->from;
	d->message_id = s->message_id;
	d->date = s->date;
	d->fts_addresses = s->addresses;
	d->fts_body = s->body;
	d->structure = s->structure;
	d->structure_len = s->structure_len;
}

/* The search headers' fields and their record letters. */
static const struct {
	const char *name;
	char letter;
	bool addresses;
} search_fields[] = {
	{"From", 'f', true}, {"To", 't', true}, {"Cc", 'c', true}, {"Bcc", 'b', true},
	{"Subject", 's', false},
};

static int put_record(struct buf *out, char letter, const char *text, size_t n)
{
	return buf_appendf(out, "%c%zu:", letter, n) | buf_append(out, text, n);
}

/* The records of one field: its addresses as "name <address>", then its
 * decoded value (the texts RFC 9051 §6.4.4 FROM etc. are matched against). */
static int field_records(struct arena *a, const struct message_header *f, char letter,
                         bool addresses, struct buf *out)
{
	size_t n;
	char *v = message_header_unfold(a, f->value, f->value_len, &n);
	int r = 0;
	if (addresses) {
		struct message_address_list list;
		message_address_parse(a, v, n, MESSAGE_ADDRESS_PLAIN, &list);
		for (size_t i = 0; i < list.count; i++) {
			const struct message_address *ad = &list.items[i];
			const char *text = arena_printf(a, "%s <%s>", ad->name != NULL ? ad->name : "",
			                                ad->address != NULL ? ad->address : "");
			r |= put_record(out, letter, text, strlen(text));
		}
	}
	char *d = message_decode_text(a, v, n, &n);
	return r | put_record(out, letter, d, n);
}

static int search_headers(struct arena *a, const struct message_headers *h, struct buf *out)
{
	for (size_t i = 0; i < sizeof(search_fields) / sizeof(search_fields[0]); i++) {
		const char *name = search_fields[i].name;
		for (const struct message_header *f = message_header_find(h, name, NULL); f != NULL;
		     f = message_header_find(h, name, f))
			if (field_records(a, f, search_fields[i].letter, search_fields[i].addresses,
			                  out) != 0)
				return -1;
	}
	return 0;
}

int store_search_headers_next(const char *blob, size_t n, size_t *pos,
                              struct store_search_text *t)
{
	size_t i = *pos;
	if (i >= n)
		return 0;
	char letter = blob[i++];
	size_t len = 0, digits = 0;
	for (; i < n && blob[i] >= '0' && blob[i] <= '9' && digits < 10; i++, digits++)
		len = len * 10 + (size_t)(blob[i] - '0');
	if (digits == 0 || i >= n || blob[i] != ':' || len > n - i - 1)
		return -1;
	i++;
	t->field = letter;
	t->text = blob + i;
	t->len = len;
	*pos = i + len;
	return 1;
}

/* A copy of b in the arena, or NULL for an empty or failed text. */
static const char *arena_copy(struct arena *a, const struct buf *b, bool ok, size_t *len_r)
{
	*len_r = 0;
	if (!ok)
		return NULL;
	char *c = arena_alloc(a, b->len + 1);
	if (b->len > 0)
		memcpy(c, b->data, b->len);
	c[b->len] = '\0';
	*len_r = b->len;
	return c;
}

void header_texts_compute(struct arena *a, const char *head, size_t n, struct header_texts *t)
{
	struct message_part root;
	unsigned flags;
	memset(&root, 0, sizeof(root));
	memset(t, 0, sizeof(*t));
	message_headers_parse(a, n > 0 ? head : "", n, MESSAGE_MAX_HEADER_BYTES, &root.headers,
	                      &flags);
	struct buf b;
	buf_init(&b, ENVELOPE_MAX);
	/* IMAP_UTF8 form: valid for every session when it is ASCII (fetch.c) */
	bool ok = message_imap_envelope_as(a, &root, MESSAGE_IMAP_UTF8, &b) == 0;
	t->envelope = arena_copy(a, &b, ok, &t->envelope_len);
	buf_free(&b);
	buf_init(&b, SEARCH_HEADERS_MAX);
	ok = search_headers(a, &root.headers, &b) == 0;
	/* a header without these fields keeps an empty text: nothing to read */
	t->search = arena_copy(a, &b, ok, &t->search_len);
	buf_free(&b);
}
