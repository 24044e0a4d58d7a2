/*
 * corpus_test.c: src/message against test data written by others, found
 * through $TERN_EXTERNAL_TESTS (set by src/message/meson.build to
 * ../shared/external-tests):
 *
 *   mime-corpus/{rfc,malformed,legacy}/X.eml  every message parses; where
 *       X.json (mail-parser's own parse) exists, what maps onto our model is
 *       compared: the part tree (number and nesting of parts, embedded
 *       messages), content types, and of each message header the decoded
 *       subject, From and To addresses and the Message-ID.
 *   mime-corpus/{address,date,content_type}.json  header value vectors.
 *   mime-gmime/encodings  base64 and quoted-printable files against their
 *       decoded forms, whole and fed in small pieces.
 *   mime-gmime/filters  X.<charset>.txt converted to UTF-8 against X.utf-8.txt.
 *   spam-corpus-train/{ham,spam}  every message parses and decodes.
 *
 * Where our reading differs from mail-parser's on purpose, the case is
 * listed in known_differences[] with the reason; any other difference fails.
 * A missing directory fails the test with a message: never a silent skip.
 */
#include "message/message.h"

#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/test_external.h"

/* ---- known differences from mail-parser, each with its reason ---- */

#define NESTED_PREFIX "RFC 2046 §5.1.1: a delimiter is the boundary plus only " \
	"transport padding; mail-parser also takes a line it merely starts (\"--ab\" for " \
	"boundary a), so boundaries that are prefixes of each other split differently"
#define NESTED_SAME "RFC 2046 §5.1.2: an outer boundary ends an inner multipart, so " \
	"the outer body is split first; mail-parser lets the innermost open multipart claim " \
	"every line, ignoring outer (or equal) boundaries inside it"
#define EMPTY_LAST "a delimiter line at the very end opens one more (empty) part, " \
	"which we keep and mail-parser drops"
#define OFFSETS "the part ends where our reading of the boundaries above (see the " \
	":shape and :text entries of the same message) ends it"
#define TWO_TYPES "the inner part's header has no empty line before its first " \
	"delimiter; we take its first Content-Type (multipart), mail-parser the last (text/plain)"

static const struct {
	const char *where;   /* "file:what" as reported below */
	const char *reason;
} known_differences[] = {
	{ "rfc/008.eml.2:shape", "a message/rfc822 part in base64: RFC 2046 §5.2.1 allows only "
		"7bit/8bit/binary; we keep it opaque (parts point into the message, which has no "
		"decoded copy), mail-parser decodes and parses it" },
	{ "malformed/000.eml:shape", EMPTY_LAST " (and four delimiters in a row give four parts; "
		"mail-parser gives up and reports none)" },
	{ "malformed/001.eml:shape", NESTED_PREFIX },
	{ "malformed/001.eml.1:shape", NESTED_PREFIX },
	{ "malformed/003.eml:shape", NESTED_SAME },
	{ "malformed/003.eml.1:shape", NESTED_SAME },
	{ "malformed/004.eml:shape", NESTED_PREFIX },
	{ "malformed/005.eml.1:shape", NESTED_PREFIX },
	{ "malformed/007.eml:shape", NESTED_PREFIX },
	{ "malformed/008.eml:shape", NESTED_PREFIX },
	{ "malformed/008.eml.1:shape", NESTED_PREFIX },
	{ "malformed/009.eml:shape", NESTED_SAME },
	{ "malformed/011.eml:shape", NESTED_SAME },
	{ "malformed/012.eml:shape", NESTED_SAME },
	{ "malformed/013.eml:shape", NESTED_SAME },
	{ "malformed/013.eml.2:shape", NESTED_SAME },
	{ "malformed/014.eml:shape", EMPTY_LAST },
	{ "malformed/016.eml:shape", NESTED_PREFIX },
	{ "malformed/016.eml.1.1:shape", NESTED_PREFIX },
	{ "malformed/019.eml:shape", "boundaries are case-sensitive (RFC 2046 §5.1.1 compares "
		"octets); mail-parser matches \"--Boundary42\" to boundary42" },
	{ "malformed/019.eml.5:shape", "as malformed/019.eml:shape" },
	{ "malformed/020.eml.1:shape", TWO_TYPES },
	{ "malformed/021.eml.1:shape", TWO_TYPES },
	{ "malformed/022.eml.2:shape", "a message/rfc822 body that is one line of text: we parse "
		"it as a message with a broken header and an empty body, mail-parser as text" },
	{ "malformed/007.eml.1:text", NESTED_PREFIX },
	{ "malformed/009.eml.1.2:text", NESTED_SAME },
	{ "malformed/011.eml.1.2:text", NESTED_SAME },
	{ "malformed/012.eml.1.2.msg:text", NESTED_SAME },
	{ "malformed/019.eml.3:text", "an 8-bit byte in a us-ascii part: we make it U+FFFD, "
		"mail-parser reads it as Latin-1" },
	{ "malformed/001.eml.1:offsets", OFFSETS },
	{ "malformed/003.eml.1:offsets", OFFSETS },
	{ "malformed/005.eml.1:offsets", OFFSETS },
	{ "malformed/007.eml.1:offsets", OFFSETS },
	{ "malformed/008.eml.1:offsets", OFFSETS },
	{ "malformed/009.eml.1:offsets", OFFSETS },
	{ "malformed/009.eml.1.2:offsets", OFFSETS },
	{ "malformed/011.eml.1:offsets", OFFSETS },
	{ "malformed/011.eml.1.2:offsets", OFFSETS },
	{ "malformed/012.eml.1:offsets", OFFSETS },
	{ "malformed/012.eml.1.2:offsets", OFFSETS },
	{ "malformed/012.eml.1.2.msg:offsets", OFFSETS },
	{ "malformed/013.eml.2:offsets", OFFSETS },
	{ "malformed/016.eml.1:offsets", OFFSETS },
	{ "malformed/016.eml.1.1:offsets", OFFSETS },
	{ "malformed/019.eml.4:offsets", OFFSETS },
	{ "malformed/019.eml.5:offsets", OFFSETS },
	{ "malformed/022.eml.2:offsets", OFFSETS },
	{ "address.json:9", "RFC 5322 §2.2.3 unfolds before lexing, so \"\\\" + fold quotes the "
		"folding space and the next \")\" closes the comment; mail-parser lets it quote the \")\"" },
	{ "address.json:10", "RFC 5322 §3.4 group = display-name \":\" [group-list] \";\" [CFWS]: "
		"the comment after \";\" belongs to the group; mail-parser makes it an address" },
	{ "address.json:11", "RFC 5322 §3.4 group-list = mailbox-list / CFWS: a group holding only "
		"a comment is empty (as IMAP ENVELOPE shows it); mail-parser makes the comment a member" },
	{ "rfc/000.eml.5.msg:from", "RFC 5322 §3.4, §4.4: a field holding only a comment has no "
		"address (Dovecot's ENVELOPE shows NIL); mail-parser makes the comment a name" },
	{ "rfc/000.eml.5.msg:to", "as rfc/000.eml.5.msg:from" },
	{ "address.json:13", "RFC 5322 §4.4 obs-domain: CFWS around the dots is not part of the "
		"domain; we drop it, mail-parser keeps \"test  . example\"" },
	{ "address.json:14", "as address.json:13" },
	{ "address.json:30", "a bare LF followed by text cannot occur inside a header value (it "
		"ends the field); the vector feeds two lines, we read them unfolded as one" },
	{ "address.json:31", "as address.json:30" },
	{ "date.json:12", "numbers without a time of day (\"4 8 15 16 23 42\") are no date for us "
		"(RFC 5322 §3.3 needs hour \":\" minute); mail-parser guesses one" },
	{ "date.json:14", "as address.json:30: the vector's bare LF would end the field, leaving an "
		"unclosed comment; unfolded, the comment closes and the date is valid" },
	{ "content_type.json:31", "RFC 2231 §4.1: only the first section carries charset'language'; "
		"later sections with their own \"iso-8859-1'\" prefix keep it as text" },
	{ "content_type.json:34", "RFC 2047 §6.2: space between adjacent encoded words is dropped; "
		"mail-parser keeps it inside quoted strings (where RFC 2047 §5 allows no words at all)" },
	{ "content_type.json:55", "an unterminated quoted string at the end of the value: we read "
		"the value unfolded and trimmed, so its trailing spaces go" },
	{ "content_type.json:56", "as content_type.json:55" },
	{ "content_type.json:61", "parameter names that fit neither attribute nor RFC 2231 "
		"name*N[*] (\"3**\", \"*5**6*\", \"15*x***fff*\") are dropped; mail-parser salvages "
		"them in its own way" },
};

static size_t n_compared, n_mismatch, n_known;
/* The message being compared has both CRLF and bare LF: neither of
 * mail-parser's files (LF or CRLF throughout) has its offsets. */
static bool mixed_line_ends;

#define N_KNOWN (sizeof(known_differences) / sizeof(known_differences[0]))
static bool known_used[N_KNOWN];

static bool is_known(const char *where)
{
	for (size_t i = 0; i < N_KNOWN; i++) {
		if (strcmp(known_differences[i].where, where) == 0) {
			known_used[i] = true;
			return true;
		}
	}
	return false;
}

/* Records one comparison; prints and counts it when it differs. */
static void check(bool same, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void check(bool same, const char *where, const char *fmt, ...)
{
	n_compared++;
	if (same)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (is_known(where)) {
		n_known++;
		return;
	}
	n_mismatch++;
	print_message("# MISMATCH %s: %s\n", where, msg);
}

/* ---- files ---- */

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);  /* test data of our own choosing */
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(&b, tmp, n), 0);
	fclose(f);
	*len_r = b.len;
	return buf_steal(&b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir ending in suffix; fails if dir cannot be read. */
static size_t list_dir(const char *dir, const char *suffix, char ***names_r)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot read directory %s", dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	size_t sl = strlen(suffix);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(char *));
		assert_non_null(names);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_str);
	*names_r = names;
	return n;
}

static void free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- walking a parsed message: invariants and every decoder ---- */

static size_t n_parts_walked;

static void walk_part(struct arena *a, const struct message *m, const struct message_part *p)
{
	n_parts_walked++;
	assert_true(p->header_offset + p->header_size == p->body_offset);
	assert_true(p->body_offset + p->body_size <= m->size);
	if (p->parent != NULL) {
		assert_true(p->header_offset >= p->parent->body_offset);
		assert_true(p->body_offset + p->body_size <=
			p->parent->body_offset + p->parent->body_size);
	}
	for (size_t i = 0; i < p->headers.count; i++) {
		const struct message_header *f = &p->headers.fields[i];
		assert_true(f->offset >= p->header_offset && f->offset + f->size <= p->body_offset);
		(void)message_decode_text(a, f->value, f->value_len, NULL);
	}
	struct buf out;
	buf_init(&out, 64 * 1024 * 1024);
	assert_true(message_part_text(m, p, &out) >= 0);
	buf_free(&out);
	if (p->parent == NULL || (p->parent->flags & MESSAGE_PART_MESSAGE)) {
		struct message_envelope env;
		message_envelope(a, p, &env);
		buf_init(&out, 64 * 1024 * 1024);
		assert_int_equal(message_imap_envelope(a, p, &out), 0);
		assert_int_equal(message_imap_bodystructure(a, p, true, &out), 0);
		assert_true(memchr(out.data, '\0', out.len) == NULL);
		buf_free(&out);
	}
}

static void walk(struct arena *a, const struct message *m)
{
	size_t n = 0;
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p), n++)
		walk_part(a, m, p);
	assert_int_equal(n, m->n_parts);
}

/* ---- comparing with mail-parser's JSON ---- */

static const char *jstr(const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The value object of header name in a JSON part, or NULL. */
static const json_t *jheader(const json_t *part, const char *name)
{
	size_t i;
	const json_t *h;
	json_array_foreach(json_object_get(part, "headers"), i, h) {
		const json_t *n = json_object_get(h, "name");
		if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
			return json_object_get(h, "value");
	}
	return NULL;
}

/* Appends "name|address\n" for every mailbox and "group:name\n" for every
 * named group of a mail-parser Address value. */
static void flatten_json_addresses(const json_t *v, struct buf *out)
{
	const json_t *list = json_object_get(v, "List"), *groups = json_object_get(v, "Group");
	size_t i, j;
	const json_t *e, *g;
	json_array_foreach(list, i, e)
		buf_appendf(out, "%s|%s\n", jstr(e, "name") ? jstr(e, "name") : "-",
			jstr(e, "address") ? jstr(e, "address") : "-");
	json_array_foreach(groups, i, g) {
		if (jstr(g, "name") != NULL)
			buf_appendf(out, "group:%s\n", jstr(g, "name"));
		json_array_foreach(json_object_get(g, "addresses"), j, e)
			buf_appendf(out, "%s|%s\n", jstr(e, "name") ? jstr(e, "name") : "-",
				jstr(e, "address") ? jstr(e, "address") : "-");
	}
}

static void flatten_addresses(const struct message_address_list *l, struct buf *out)
{
	for (size_t i = 0; i < l->count; i++) {
		const struct message_address *m = &l->items[i];
		if (m->kind == MESSAGE_ADDRESS_GROUP_START)
			buf_appendf(out, "group:%s\n", m->name ? m->name : "-");
		else if (m->kind == MESSAGE_ADDRESS_MAILBOX)
			buf_appendf(out, "%s|%s\n", m->name ? m->name : "-", m->address ? m->address : "-");
	}
}

static void compare_addresses(struct arena *a, const char *where, const json_t *expected,
	const char *s, size_t n)
{
	struct buf want, got;
	buf_init(&want, BUF_UNBOUNDED);
	buf_init(&got, BUF_UNBOUNDED);
	flatten_json_addresses(expected, &want);
	struct message_address_list l;
	message_address_parse(a, s, n, MESSAGE_ADDRESS_PLAIN, &l);
	flatten_addresses(&l, &got);
	check(strcmp(want.data, got.data) == 0, where, "addresses: want\n%s  got\n%s", want.data,
		got.data);
	buf_free(&want);
	buf_free(&got);
}

static void compare_part(struct arena *a, const struct message *m, const struct message_part *p,
	const json_t *parts, size_t index, const char *where);

/* The header fields of a message (the root, or an embedded one). */
static void compare_message_header(struct arena *a, const struct message_part *p,
	const json_t *jp, const char *where)
{
	char w[512];
	const json_t *v = jheader(jp, "subject");
	if (json_is_string(json_object_get(v, "Text"))) {
		const char *got = message_subject(a, &p->headers);
		const char *want = json_string_value(json_object_get(v, "Text"));
		snprintf(w, sizeof(w), "%s:subject", where);
		check(got != NULL && strcmp(got, want) == 0, w, "subject: want \"%s\" got \"%s\"",
			want, got ? got : "(null)");
	}
	static const char *const addr_fields[] = { "from", "to" };
	for (size_t i = 0; i < 2; i++) {
		v = json_object_get(jheader(jp, addr_fields[i]), "Address");
		const struct message_header *f = message_header_find(&p->headers, addr_fields[i], NULL);
		if (v == NULL || f == NULL)
			continue;
		snprintf(w, sizeof(w), "%s:%s", where, addr_fields[i]);
		compare_addresses(a, w, v, f->value, f->value_len);
	}
	v = jheader(jp, "message_id");
	if (json_is_string(json_object_get(v, "Text"))) {
		const struct message_header *f = message_header_find(&p->headers, "message-id", NULL);
		const char **ids;
		size_t n = f == NULL ? 0 : message_msgid_parse(a, f->value, f->value_len, &ids);
		const char *want = json_string_value(json_object_get(v, "Text"));
		snprintf(w, sizeof(w), "%s:message-id", where);
		check(n > 0 && strcmp(ids[0], want) == 0, w, "message-id: want %s got %s", want,
			n > 0 ? ids[0] : "(none)");
	}
}

static void compare_type(const struct message_part *p, const json_t *jp, const char *where)
{
	const json_t *ct = json_object_get(jheader(jp, "content_type"), "ContentType");
	const char *type = jstr(ct, "c_type"), *subtype = jstr(ct, "c_subtype");
	if (type == NULL || subtype == NULL)
		return;
	char w[512];
	snprintf(w, sizeof(w), "%s:type", where);
	check(strcasecmp(type, p->content_type.type) == 0 &&
		strcasecmp(subtype, p->content_type.subtype) == 0, w,
		"content type: want %s/%s got %s/%s", type, subtype, p->content_type.type,
		p->content_type.subtype);
}

/* Compares the message in JSON object jm ({"parts": [...]}) with root. */
static void compare_message(struct arena *a, const struct message *m,
	const struct message_part *root, const json_t *jm, const char *where)
{
	const json_t *parts = json_object_get(jm, "parts");
	assert_true(json_array_size(parts) > 0);
	compare_message_header(a, root, json_array_get(parts, 0), where);
	compare_part(a, m, root, parts, 0, where);
}

static void crlf_to_lf(struct buf *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->len; i++)
		if (!(b->data[i] == '\r' && i + 1 < b->len && b->data[i + 1] == '\n'))
			b->data[n++] = b->data[i];
	buf_truncate(b, n);
}

/* The decoded text of a text part ("Text" or "Html" bodies). */
static void compare_text(const struct message *m, const struct message_part *p,
	const json_t *body, const char *where)
{
	const json_t *t = json_object_get(body, "Text");
	if (t == NULL)
		t = json_object_get(body, "Html");
	if (!json_is_string(t))
		return;
	struct buf out;
	buf_init(&out, 64 * 1024 * 1024);
	(void)message_part_text(m, p, &out);
	/* mail-parser turns CRLF in the message into LF (but not in decoded
	 * base64); we keep the message's line ends: compare with LF on both sides */
	struct buf want;
	buf_init(&want, BUF_UNBOUNDED);
	(void)buf_append(&want, json_string_value(t), json_string_length(t));
	crlf_to_lf(&out);
	crlf_to_lf(&want);
	char w[512];
	snprintf(w, sizeof(w), "%s:text", where);
	check(out.len == want.len && memcmp(out.data, want.data, out.len) == 0,
		w, "text: want %zu bytes \"%.60s\" got %zu \"%.60s\"", want.len, want.data, out.len,
		out.data);
	buf_free(&out);
	buf_free(&want);
}

static void compare_part(struct arena *a, const struct message *m, const struct message_part *p,
	const json_t *parts, size_t index, const char *where)
{
	const json_t *jp = json_array_get(parts, index);
	const json_t *body = json_object_get(jp, "body");
	const json_t *multi = json_object_get(body, "Multipart");
	const json_t *msg = json_object_get(body, "Message");
	char w[512];
	compare_type(p, jp, where);
	snprintf(w, sizeof(w), "%s:offsets", where);
	if (!mixed_line_ends)
		check((size_t)json_integer_value(json_object_get(jp, "offset_header")) == p->header_offset &&
		(size_t)json_integer_value(json_object_get(jp, "offset_body")) == p->body_offset &&
		(size_t)json_integer_value(json_object_get(jp, "offset_end")) == p->body_offset + p->body_size,
		w, "offsets: want header %lld body %lld end %lld, got %zu %zu %zu",
		json_integer_value(json_object_get(jp, "offset_header")),
		json_integer_value(json_object_get(jp, "offset_body")),
		json_integer_value(json_object_get(jp, "offset_end")), p->header_offset, p->body_offset,
		p->body_offset + p->body_size);
	snprintf(w, sizeof(w), "%s:shape", where);
	if (multi != NULL) {
		check(p->n_children == json_array_size(multi), w, "multipart with %zu parts, got %zu",
			json_array_size(multi), p->n_children);
		const struct message_part *c = p->children;
		for (size_t i = 0; i < json_array_size(multi) && c != NULL; i++, c = c->next) {
			snprintf(w, sizeof(w), "%s.%zu", where, i + 1);
			compare_part(a, m, c, parts, (size_t)json_integer_value(json_array_get(multi, i)), w);
		}
	} else if (msg != NULL) {
		check((p->flags & MESSAGE_PART_MESSAGE) && p->children != NULL, w,
			"embedded message expected, got %zu children", p->n_children);
		if (p->children != NULL) {
			snprintf(w, sizeof(w), "%s.msg", where);
			compare_message(a, m, p->children, msg, w);
		}
	} else {
		check(p->n_children == 0, w, "leaf expected, got %zu children", p->n_children);
		compare_text(m, p, body, where);
	}
}

static size_t n_messages, n_json, n_mixed;

static void corpus_file(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	size_t len;
	char *data = read_file(path, &len);
	if (data == NULL)
		fail_msg("cannot read %s", path);
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct message *m = message_parse(a, data, len, NULL);
	walk(a, m);
	n_messages++;
	/* X.json is mail-parser's reading of X.eml with LF line ends, and
	 * X.crlf.json with CRLF: take the one that fits the file as stored */
	size_t plen = strlen(path);
	char *jpath = malloc(plen + 8);
	assert_non_null(jpath);
	bool crlf = memmem(data, len, "\r\n", 2) != NULL;
	mixed_line_ends = false;
	for (size_t i = 0; crlf && i < len && !mixed_line_ends; i++)
		mixed_line_ends = data[i] == '\n' && (i == 0 || data[i - 1] != '\r');
	n_mixed += mixed_line_ends;
	snprintf(jpath, plen + 8, "%.*s%s", (int)(plen - 4), path, crlf ? ".crlf.json" : ".json");
	json_error_t jerr;
	json_t *j = json_load_file(jpath, 0, &jerr);
	if (j == NULL && crlf) {
		snprintf(jpath, plen + 8, "%.*s.json", (int)(plen - 4), path);
		j = json_load_file(jpath, 0, &jerr);
	}
	if (j != NULL) {
		n_json++;
		const char *slash = strrchr(dir, '/');
		char where[256];
		snprintf(where, sizeof(where), "%s/%s", slash ? slash + 1 : dir, name);
		compare_message(a, m, m->root, j, where);
		json_decref(j);
	}
	free(jpath);
	arena_free(&a);
	free(data);
	free(path);
}

static void test_mime_corpus(void **state)
{
	static const char *const dirs[] = { "rfc", "malformed", "legacy" };
	const char *root = test_external_dir();
	char *base = path_join(root, "mime-corpus");
	for (size_t d = 0; d < 3; d++) {
		char *dir = path_join(base, dirs[d]);
		char **names;
		size_t n = list_dir(dir, ".eml", &names);
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++)
			corpus_file(dir, names[i]);
		free_list(names, n);
		free(dir);
	}
	free(base);
	print_message("# mime-corpus: %zu messages parsed, %zu parts walked, %zu with expected "
		"output (%zu with mixed line ends: offsets not compared); %zu comparisons, %zu known "
		"differences, %zu mismatches\n", n_messages, n_parts_walked, n_json, n_mixed,
		n_compared, n_known, n_mismatch);
	assert_int_equal(n_mismatch, 0);
}

/* ---- header value vectors ---- */

static json_t *load_vectors(const char *name)
{
	char *path = path_join(test_external_dir(), name);
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	if (j == NULL)
		fail_msg("cannot load %s: %s", path, jerr.text);
	free(path);
	return j;
}

static void test_address_vectors(void **state)
{
	json_t *j = load_vectors("mime-corpus/address.json");
	size_t i, before = n_mismatch;
	const json_t *v;
	json_array_foreach(j, i, v) {
		struct arena *a = arena_new(4096, ARENA_PLAIN);
		const json_t *h = json_object_get(v, "header");
		char where[64];
		snprintf(where, sizeof(where), "address.json:%zu", i);
		compare_addresses(a, where, json_object_get(v, "expected"), json_string_value(h),
			json_string_length(h));
		arena_free(&a);
	}
	print_message("# address.json: %zu vectors, %zu mismatches\n", json_array_size(j),
		n_mismatch - before);
	json_decref(j);
	assert_int_equal(n_mismatch, before);
}

static void test_date_vectors(void **state)
{
	json_t *j = load_vectors("mime-corpus/date.json");
	size_t i, before = n_mismatch;
	const json_t *v;
	json_array_foreach(j, i, v) {
		const char *h = jstr(v, "header");
		const json_t *e = json_object_get(v, "expected");
		struct message_date d;
		int r = message_date_parse(h, json_string_length(json_object_get(v, "header")), &d);
		char where[64];
		snprintf(where, sizeof(where), "date.json:%zu", i);
		if (json_is_null(e)) {
			check(r < 0, where, "\"%s\": no date expected", h);
			continue;
		}
		int tz = (int)(json_integer_value(json_object_get(e, "tz_hour")) * 60 +
			json_integer_value(json_object_get(e, "tz_minute")));
		if (json_is_true(json_object_get(e, "tz_before_gmt")))
			tz = -tz;
		check(r == 0 && d.year == json_integer_value(json_object_get(e, "year")) &&
			d.month == json_integer_value(json_object_get(e, "month")) &&
			d.day == json_integer_value(json_object_get(e, "day")) &&
			d.hour == json_integer_value(json_object_get(e, "hour")) &&
			d.minute == json_integer_value(json_object_get(e, "minute")) &&
			d.second == json_integer_value(json_object_get(e, "second")) &&
			d.zone_minutes == tz, where, "\"%s\": got r=%d %d-%d-%d %d:%d:%d %+d", h, r,
			d.year, d.month, d.day, d.hour, d.minute, d.second, d.zone_minutes);
	}
	print_message("# date.json: %zu vectors, %zu mismatches\n", json_array_size(j),
		n_mismatch - before);
	json_decref(j);
	assert_int_equal(n_mismatch, before);
}

/* "name=value\n" for each expected attribute, sorted, languages as
 * name-language as mail-parser writes them. */
static void ct_expected(const json_t *e, struct buf *out)
{
	buf_appendf(out, "%s/%s\n", jstr(e, "c_type"), jstr(e, "c_subtype") ? jstr(e, "c_subtype") : "-");
	size_t i;
	const json_t *p;
	json_array_foreach(json_object_get(e, "attributes"), i, p)
		buf_appendf(out, "%s=%s\n", json_string_value(json_array_get(p, 0)),
			json_string_value(json_array_get(p, 1)));
}

static void ct_got(const struct message_content_type *ct, struct buf *out)
{
	buf_appendf(out, "%s/%s\n", ct->type, ct->subtype ? ct->subtype : "-");
	for (size_t i = 0; i < ct->n_params; i++) {
		if (ct->params[i].language != NULL)
			buf_appendf(out, "%s-language=%s\n", ct->params[i].name, ct->params[i].language);
		buf_appendf(out, "%s=%s\n", ct->params[i].name, ct->params[i].value);
	}
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines after the first, so parameter order does not matter. */
static void sort_lines(struct buf *b)
{
	char *lines[MESSAGE_MAX_PARAMS * 2 + 2];
	size_t n = 0;
	for (char *s = strtok(b->data, "\n"); s != NULL && n < sizeof(lines) / sizeof(lines[0]);
			s = strtok(NULL, "\n"))
		lines[n++] = strdup(s);
	if (n > 1)
		qsort(lines + 1, n - 1, sizeof(char *), cmp_line);
	buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		buf_appendf(b, "%s\n", lines[i]);
		free(lines[i]);
	}
}

static void test_content_type_vectors(void **state)
{
	json_t *j = load_vectors("mime-corpus/content_type.json");
	size_t i, before = n_mismatch;
	const json_t *v;
	json_array_foreach(j, i, v) {
		struct arena *a = arena_new(4096, ARENA_PLAIN);
		const char *h = jstr(v, "header");
		const json_t *e = json_object_get(v, "expected");
		struct message_content_type ct;
		int r = message_content_type_parse(a, h, json_string_length(json_object_get(v, "header")),
			&ct);
		char where[64];
		snprintf(where, sizeof(where), "content_type.json:%zu", i);
		if (json_is_null(e)) {
			check(r == 0, where, "\"%s\": no type expected, got %s", h, ct.type);
		} else {
			struct buf want, got;
			buf_init(&want, BUF_UNBOUNDED);
			buf_init(&got, BUF_UNBOUNDED);
			ct_expected(e, &want);
			if (r == 1)
				ct_got(&ct, &got);
			sort_lines(&want);
			sort_lines(&got);
			check(strcmp(want.data, got.data) == 0, where, "\"%s\": want\n%s  got\n%s", h,
				want.data, got.data);
			buf_free(&want);
			buf_free(&got);
		}
		arena_free(&a);
	}
	print_message("# content_type.json: %zu vectors, %zu mismatches\n", json_array_size(j),
		n_mismatch - before);
	json_decref(j);
	assert_int_equal(n_mismatch, before);
}

/* ---- mime-gmime ---- */

static char *read_data(const char *dir, const char *name, size_t *len_r)
{
	char *path = path_join(dir, name);
	char *d = read_file(path, len_r);
	if (d == NULL)
		fail_msg("cannot read %s", path);
	free(path);
	return d;
}

/* Decodes in whole and in pieces of 1..7 bytes; both must equal plain. */
static void check_decode(enum message_encoding enc, const char *in, size_t n,
	const char *plain, size_t plain_len, const char *what)
{
	struct buf out;
	buf_init(&out, plain_len + 1024);
	assert_int_equal(message_decode(enc, in, n, &out), 0);
	if (out.len != plain_len || memcmp(out.data, plain, plain_len) != 0)
		fail_msg("%s: decoded %zu bytes, want %zu", what, out.len, plain_len);
	buf_reset(&out);
	struct message_decoder d;
	message_decoder_init(&d, enc);
	for (size_t i = 0, step = 1; i < n; i += step, step = step % 7 + 1)
		assert_int_equal(message_decoder_feed(&d, in + i, step < n - i ? step : n - i, &out), 0);
	assert_int_equal(message_decoder_finish(&d, &out), 0);
	if (out.len != plain_len || memcmp(out.data, plain, plain_len) != 0)
		fail_msg("%s in pieces: decoded %zu bytes, want %zu", what, out.len, plain_len);
	buf_free(&out);
	n_compared++;
}

static void test_gmime_encodings(void **state)
{
	char *dir = path_join(test_external_dir(), "mime-gmime/encodings");
	size_t n1, n2;
	char *b64 = read_data(dir, "photo.b64", &n1), *jpg = read_data(dir, "photo.jpg", &n2);
	check_decode(MESSAGE_ENC_BASE64, b64, n1, jpg, n2, "photo.b64");
	free(b64);
	free(jpg);
	char *qp = read_data(dir, "wikipedia.qp", &n1), *txt = read_data(dir, "wikipedia.txt", &n2);
	check_decode(MESSAGE_ENC_QP, qp, n1, txt, n2, "wikipedia.qp");
	free(qp);
	free(txt);
	free(dir);
	print_message("# mime-gmime/encodings: 2 pairs decoded whole and in pieces, equal\n");
}

/* chinese.utf-8.txt holds kanji that Big5 lacks, which GMime's own
 * UTF-8 to Big5 test dropped: converting back gives the text without
 * them, so for this pair each character we produce must appear in order. */
static bool one_way(const char *name)
{
	return strcmp(name, "chinese.big5.txt") == 0;
}

static bool is_subsequence(const char *s, size_t n, const char *in, size_t in_n)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = ((unsigned char)s[i] >> 6) == 3 ? (((unsigned char)s[i] >> 4) == 0xF ? 4 :
			((unsigned char)s[i] >> 5) == 7 ? 3 : 2) : 1;
		while (j + len <= in_n && memcmp(in + j, s + i, len) != 0)
			j++;
		if (j + len > in_n)
			return false;
		j += len;
		i += len - 1;
	}
	return true;
}

static void test_gmime_charsets(void **state)
{
	char *dir = path_join(test_external_dir(), "mime-gmime/filters");
	char **names;
	size_t n = list_dir(dir, ".txt", &names), pairs = 0;
	for (size_t i = 0; i < n; i++) {
		/* X.<charset>.txt with X.utf-8.txt beside it */
		char *dot = strchr(names[i], '.');
		char *dot2 = dot == NULL ? NULL : strchr(dot + 1, '.');
		if (dot2 == NULL || strcmp(dot2, ".txt") != 0 || strncmp(dot + 1, "utf-8.", 6) == 0)
			continue;
		char utf8_name[256], charset[64];
		snprintf(utf8_name, sizeof(utf8_name), "%.*s.utf-8.txt", (int)(dot - names[i]), names[i]);
		snprintf(charset, sizeof(charset), "%.*s", (int)(dot2 - dot - 1), dot + 1);
		size_t n_in, n_want;
		char *p = path_join(dir, utf8_name);
		char *want = read_file(p, &n_want);
		free(p);
		if (want == NULL)
			continue;  /* french-fable.cp1252.txt has no UTF-8 form */
		char *in = read_data(dir, names[i], &n_in);
		struct buf out;
		buf_init(&out, n_in * 8);
		assert_int_equal(message_charset_to_utf8(charset, in, n_in, &out), 1);
		if (one_way(names[i]) && is_subsequence(out.data, out.len, want, n_want)) {
			pairs++;
			n_compared++;
		} else if (out.len != n_want || memcmp(out.data, want, n_want) != 0)
			fail_msg("%s: converted to %zu bytes, want %zu like %s", names[i], out.len, n_want,
				utf8_name);
		else {
			pairs++;
			n_compared++;
		}
		buf_free(&out);
		free(in);
		free(want);
	}
	free_list(names, n);
	free(dir);
	print_message("# mime-gmime/filters: %zu charset pairs converted, equal\n", pairs);
	assert_int_equal(pairs, 6);
}

/* ---- spam-corpus-train ---- */

static void test_spam_corpus(void **state)
{
	static const char *const dirs[] = { "ham", "spam" };
	char *base = path_join(test_external_dir(), "spam-corpus-train");
	size_t total = 0, limited = 0, walked_before = n_parts_walked;
	for (size_t d = 0; d < 2; d++) {
		char *dir = path_join(base, dirs[d]);
		char **names;
		size_t n = list_dir(dir, "", &names);
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++) {
			size_t len;
			char *data = read_data(dir, names[i], &len);
			struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
			struct message *m = message_parse(a, data, len, NULL);
			walk(a, m);
			limited += m->limit_hit;
			total++;
			arena_free(&a);
			free(data);
		}
		free_list(names, n);
		free(dir);
	}
	free(base);
	print_message("# spam-corpus-train: %zu messages parsed, %zu parts walked, %zu hit a limit\n",
		total, n_parts_walked - walked_before, limited);
	assert_int_equal(limited, 0);
}

/* Runs last: every listed difference must still occur, so the list
 * cannot hide a change in our reading or in the data. */
static void test_known_differences_used(void **state)
{
	size_t unused = 0;
	for (size_t i = 0; i < N_KNOWN; i++) {
		if (!known_used[i]) {
			print_message("# known difference no longer seen: %s\n", known_differences[i].where);
			unused++;
		}
	}
	print_message("# %zu known differences from mail-parser, each explained in corpus_test.c\n",
		N_KNOWN);
	assert_int_equal(unused, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_corpus),
		cmocka_unit_test(test_address_vectors),
		cmocka_unit_test(test_date_vectors),
		cmocka_unit_test(test_content_type_vectors),
		cmocka_unit_test(test_gmime_encodings),
		cmocka_unit_test(test_gmime_charsets),
		cmocka_unit_test(test_spam_corpus),
		cmocka_unit_test(test_known_differences_used),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
