/*
 * layout_test.c: message_layout_encode and message_parse_layout (layout.c).
 *
 * Every tree is compared field by field with message_parse's tree of the
 * same bytes (offsets, sizes, lines, flags, shape, header fields, content
 * types and parameters, encodings, ids, dispositions, languages) and by
 * the IMAP BODYSTRUCTURE, BODY and ENVELOPE strings both give. First the
 * RFC 2046 §5.1.1 example and messages that reach each parser flag and
 * limit; then damaged layouts: every truncation, every byte changed (with
 * the check byte left, and recomputed so the checks behind it are reached),
 * every number of the layout set to hostile values, hand-made layouts that
 * point past the message, miscount parts or carry trailing bytes, and
 * layouts read under smaller limits or against other bytes. None may
 * crash, the damaged ones must give NULL, and any tree that comes back
 * must lie within its message.
 *
 * Then the external corpora through $TERN_EXTERNAL_TESTS (set by
 * src/message/meson.build, as for corpus_test.c): every message of
 * mime-corpus/{rfc,malformed,legacy} and spam-corpus-train/{ham,spam} is
 * rebuilt from its layout and compared, and the mime-corpus layouts are
 * also truncated and changed byte by byte. The average layout size over
 * spam-corpus-train is printed beside the IMAP texts it replaces. A
 * missing directory fails the test.
 */
#include "message/message.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "core/test_external.h"

static struct arena *arena;
/* What is being compared, for failure messages. */
static const char *current = "";

static int setup(void **state)
{
	arena = arena_new(64 * 1024, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&arena);
	return 0;
}

/* ---- comparing two trees ---- */

#define SAME(cond, what) do { \
	if (!(cond)) \
		fail_msg("%s: part %zu: %s differs", current, index, what); \
} while (0)

static bool str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool ct_same(const struct message_content_type *a, const struct message_content_type *b)
{
	if (!str_same(a->type, b->type) || !str_same(a->subtype, b->subtype) ||
			a->n_params != b->n_params)
		return false;
	for (size_t i = 0; i < a->n_params; i++)
		if (!str_same(a->params[i].name, b->params[i].name) ||
				!str_same(a->params[i].value, b->params[i].value) ||
				!str_same(a->params[i].language, b->params[i].language))
			return false;
	return true;
}

static bool headers_same(const struct message_headers *a, const struct message_headers *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct message_header *x = &a->fields[i], *y = &b->fields[i];
		if (x->name != y->name || x->name_len != y->name_len || x->value != y->value ||
				x->value_len != y->value_len || x->offset != y->offset || x->size != y->size ||
				x->broken != y->broken)
			return false;
	}
	return true;
}

static bool languages_same(const struct message_part *a, const struct message_part *b)
{
	if (a->n_languages != b->n_languages)
		return false;
	for (size_t i = 0; i < a->n_languages; i++)
		if (!str_same(a->languages[i], b->languages[i]))
			return false;
	return true;
}

static void part_same(const struct message_part *a, const struct message_part *b, size_t index)
{
	SAME(a->header_offset == b->header_offset, "header_offset");
	SAME(a->header_size == b->header_size, "header_size");
	SAME(a->body_offset == b->body_offset, "body_offset");
	SAME(a->body_size == b->body_size, "body_size");
	SAME(a->body_lines == b->body_lines, "body_lines");
	SAME(a->flags == b->flags, "flags");
	SAME(a->depth == b->depth, "depth");
	SAME(a->n_children == b->n_children, "n_children");
	SAME((a->parent == NULL) == (b->parent == NULL), "parent");
	SAME((a->next == NULL) == (b->next == NULL), "next");
	SAME(headers_same(&a->headers, &b->headers), "headers");
	SAME(ct_same(&a->content_type, &b->content_type), "content_type");
	SAME(str_same(a->charset, b->charset), "charset");
	SAME(str_same(a->boundary, b->boundary), "boundary");
	SAME(a->encoding == b->encoding, "encoding");
	SAME(str_same(a->encoding_name, b->encoding_name), "encoding_name");
	SAME(str_same(a->id, b->id), "id");
	SAME(str_same(a->description, b->description), "description");
	SAME(str_same(a->md5, b->md5), "md5");
	SAME(ct_same(&a->disposition, &b->disposition), "disposition");
	SAME(languages_same(a, b), "languages");
	SAME(str_same(a->location, b->location), "location");
}

/* The IMAP text of p: ENVELOPE, BODYSTRUCTURE and BODY. */
static char *imap_text(const struct message_part *p)
{
	struct buf b;
	buf_init(&b, 64 * 1024 * 1024);
	assert_int_equal(message_imap_envelope(arena, p, &b), 0);
	assert_int_equal(buf_append_char(&b, '\n'), 0);
	assert_int_equal(message_imap_bodystructure(arena, p, true, &b), 0);
	assert_int_equal(buf_append_char(&b, '\n'), 0);
	assert_int_equal(message_imap_bodystructure(arena, p, false, &b), 0);
	return buf_steal(&b);
}

static void imap_same(const struct message_part *a, const struct message_part *b, size_t index)
{
	char *x = imap_text(a), *y = imap_text(b);
	SAME(strcmp(x, y) == 0, "IMAP ENVELOPE/BODYSTRUCTURE");
	free(x);
	free(y);
}

static void tree_same(const struct message *a, const struct message *b)
{
	size_t index = 0;
	/* the same bytes, or both empty (NULL data becomes a "" of each file) */
	SAME(a->size == b->size && (a->data == b->data || a->size == 0), "data");
	SAME(a->n_parts == b->n_parts, "n_parts");
	SAME(a->limit_hit == b->limit_hit, "limit_hit");
	const struct message_part *p = a->root, *q = b->root;
	for (; p != NULL && q != NULL; p = message_part_next(p), q = message_part_next(q), index++) {
		part_same(p, q, index);
		if (p->parent == NULL || (p->parent->flags & MESSAGE_PART_MESSAGE))
			imap_same(p, q, index);
	}
	SAME(p == NULL && q == NULL, "part count");
}

/* Whatever message_parse_layout returns lies within its message. */
static void tree_bounded(const struct message *m)
{
	size_t n = 0;
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p), n++) {
		assert_true(p->header_offset + p->header_size == p->body_offset);
		assert_true(p->body_offset + p->body_size <= m->size);
		assert_true(p->body_lines <= p->body_size);
		if (p->parent != NULL)
			assert_true(p->header_offset >= p->parent->body_offset &&
				p->body_offset + p->body_size <= p->parent->body_offset + p->parent->body_size);
	}
	assert_int_equal(n, m->n_parts);
}

/* ---- round trips ---- */

/* Encodes the layout of message_parse's tree of data into *out (its own
 * buffer, freed by the caller). */
static struct message *encode(const char *data, size_t len, const struct message_limits *l,
	struct buf *out)
{
	struct message *m = message_parse(arena, data, len, l);
	buf_init(out, 1024 * 1024);
	assert_int_equal(message_layout_encode(m, out), 0);
	return m;
}

/* Parses data both ways and compares; returns the layout's size. */
static size_t roundtrip(const char *data, size_t len, const struct message_limits *l)
{
	struct buf lay;
	struct message *m = encode(data, len, l, &lay);
	struct message *r = message_parse_layout(arena, data, len, lay.data, lay.len, l);
	if (r == NULL)
		fail_msg("%s: layout of %zu bytes rejected", current, lay.len);
	tree_same(m, r);
	size_t n = lay.len;
	buf_free(&lay);
	return n;
}

static size_t roundtrip_str(const char *s)
{
	current = s;
	return roundtrip(s, strlen(s), NULL);
}

/* ---- the format, written independently of layout.c ---- */

static unsigned char spec_crc8(const unsigned char *p, size_t n)
{
	unsigned crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = ((crc << 1) ^ ((crc & 0x80) ? 0x07 : 0)) & 0xff;
	}
	return (unsigned char)crc;
}

/* The version message_layout_encode writes. */
#define LAYOUT_TEST_VERSION 2

/* Layout bytes: version, then nums as varints, then the check byte. */
static size_t spec_layout(unsigned char version, const uint64_t *nums, size_t n,
	unsigned char *out)
{
	size_t len = 0;
	out[len++] = version;
	for (size_t i = 0; i < n; i++) {
		uint64_t v = nums[i];
		do {
			out[len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v != 0);
	}
	out[len] = spec_crc8(out, len);
	return len + 1;
}

/* The numbers of a well-formed layout; returns how many. */
static size_t spec_numbers(const unsigned char *l, size_t len, uint64_t *nums, size_t max)
{
	size_t n = 0;
	assert_int_equal(l[0], LAYOUT_TEST_VERSION);
	assert_int_equal(spec_crc8(l, len - 1), l[len - 1]);
	for (size_t i = 1; i < len - 1; n++) {
		assert_true(n < max);
		uint64_t v = 0;
		for (unsigned shift = 0;; shift += 7) {
			v |= (uint64_t)(l[i] & 0x7f) << shift;
			if ((l[i++] & 0x80) == 0)
				break;
		}
		nums[n] = v;
	}
	return n;
}

static struct message *parse_bytes(const char *data, size_t len, const unsigned char *l,
	size_t llen)
{
	return message_parse_layout(arena, data, len, l, llen, NULL);
}

/* ---- damaged layouts ---- */

/* Every shorter prefix, every byte changed with the old check byte, and
 * bytes appended: all NULL (the format and the check byte guarantee it). */
static void damage_bytes(const char *data, size_t len, const unsigned char *l, size_t llen)
{
	unsigned char *d = malloc(llen + 2);
	assert_non_null(d);
	for (size_t n = 0; n < llen; n++)
		if (parse_bytes(data, len, l, n) != NULL)
			fail_msg("%s: layout cut to %zu of %zu bytes accepted", current, n, llen);
	for (size_t i = 0; i < llen; i++) {
		static const unsigned char xors[] = { 1, 2, 4, 8, 16, 32, 64, 128, 0x55, 0xff };
		for (size_t x = 0; x < sizeof(xors); x++) {
			memcpy(d, l, llen);
			d[i] ^= xors[x];
			if (parse_bytes(data, len, d, llen) != NULL)
				fail_msg("%s: byte %zu ^ %#x accepted", current, i, xors[x]);
		}
	}
	memcpy(d, l, llen);
	for (unsigned g = 0; g < 256; g++) {
		d[llen] = (unsigned char)g;
		assert_null(parse_bytes(data, len, d, llen + 1));
	}
	free(d);
}

/* Every byte changed and the check byte made right again, so that what
 * lies behind it is tested: never a crash, never a tree outside the
 * message. Returns how many were accepted (a changed line count, say). */
static size_t damage_resealed(const char *data, size_t len, const unsigned char *l, size_t llen)
{
	static const unsigned char values[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
	unsigned char *d = malloc(llen);
	assert_non_null(d);
	size_t accepted = 0;
	for (size_t i = 1; i + 1 < llen; i++) {
		for (size_t v = 0; v < sizeof(values); v++) {
			memcpy(d, l, llen);
			if (d[i] == values[v])
				continue;
			d[i] = values[v];
			d[llen - 1] = spec_crc8(d, llen - 1);
			struct message *m = parse_bytes(data, len, d, llen);
			if (m != NULL) {
				tree_bounded(m);
				accepted++;
			}
		}
	}
	free(d);
	return accepted;
}

#define MAX_NUMS 4096

/* Every number of the layout set to hostile values, resealed: no crash,
 * nothing outside the message. Every number but a line count one more or
 * one less: refused (a line count needs the body scan to check). */
static void damage_numbers(const char *data, size_t len, const unsigned char *l, size_t llen)
{
	static uint64_t nums[MAX_NUMS], mut[MAX_NUMS];
	static unsigned char out[MAX_NUMS * 10 + 2];
	size_t n = spec_numbers(l, llen, nums, MAX_NUMS);
	const uint64_t hostile[] = { 0, 1, 2, len, len + 1, (uint64_t)len * 2, UINT32_MAX,
		UINT64_MAX, UINT64_MAX - len, MESSAGE_MAX_PARTS + 1 };
	for (size_t i = 0; i < n; i++) {
		for (size_t h = 0; h < sizeof(hostile) / sizeof(hostile[0]); h++) {
			memcpy(mut, nums, n * sizeof(uint64_t));
			mut[i] = hostile[h];
			size_t olen = spec_layout(LAYOUT_TEST_VERSION, mut, n, out);
			struct message *m = parse_bytes(data, len, out, olen);
			if (m != NULL)
				tree_bounded(m);
			/* an offset, size, line or part count larger than the
			 * message is never a valid one */
			bool flags = i > 0 && (i - 1) % 6 == 0;
			if (!flags && hostile[h] > len && hostile[h] != nums[i] && m != NULL)
				fail_msg("%s: number %zu set to %llu accepted", current, i,
					(unsigned long long)hostile[h]);
		}
		bool lines = i > 0 && (i - 1) % 6 == 5;
		for (int step = -1; step <= 1 && !lines; step += 2) {
			if (step < 0 && nums[i] == 0)
				continue;
			memcpy(mut, nums, n * sizeof(uint64_t));
			mut[i] = nums[i] + (uint64_t)(int64_t)step;
			size_t olen = spec_layout(LAYOUT_TEST_VERSION, mut, n, out);
			if (parse_bytes(data, len, out, olen) != NULL)
				fail_msg("%s: number %zu %+d accepted", current, i, step);
		}
	}
}

static void damage_all(const char *data, size_t len)
{
	struct buf lay;
	(void)encode(data, len, NULL, &lay);
	const unsigned char *l = (const unsigned char *)lay.data;
	damage_bytes(data, len, l, lay.len);
	(void)damage_resealed(data, len, l, lay.len);
	damage_numbers(data, len, l, lay.len);
	buf_free(&lay);
}

/* ---- messages ---- */

static const char simple[] =
	"From: a@example.com\r\n"
	"Subject: x\r\n"
	"\r\n"
	"body\r\n";

/* RFC 2046 §5.1.1 */
static const char rfc2046[] =
	"From: Nathaniel Borenstein <nsb@bellcore.com>\r\n"
	"To: Ned Freed <ned@innosoft.com>\r\n"
	"Date: Sun, 21 Mar 1993 23:56:48 -0800 (PST)\r\n"
	"Subject: Sample message\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-type: multipart/mixed; boundary=\"simple boundary\"\r\n"
	"\r\n"
	"This is the preamble.  It is to be ignored, though it\r\n"
	"is a handy place for composition agents to include an\r\n"
	"explanatory note to non-MIME conformant readers.\r\n"
	"\r\n"
	"--simple boundary\r\n"
	"\r\n"
	"This is implicitly typed plain US-ASCII text.\r\n"
	"It does NOT end with a linebreak.\r\n"
	"--simple boundary\r\n"
	"Content-type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"This is explicitly typed plain US-ASCII text.\r\n"
	"It DOES end with a linebreak.\r\n"
	"\r\n"
	"--simple boundary--\r\n"
	"\r\n"
	"This is the epilogue.  It is also to be ignored.\r\n";

static const char nested[] =
	"Subject: outer\n"
	"Content-Type: multipart/mixed; boundary=outer\n"
	"\n"
	"--outer\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: Quoted-Printable\n"
	"Content-ID: <part1@x>\n"
	"Content-Description: first\n"
	"Content-Disposition: inline; filename*=utf-8''a%20b.txt\n"
	"Content-Language: en, de (German)\n"
	"Content-Location: http://x.example/a\n"
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	"\n"
	"one=\n"
	"\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"From: a@b.example\n"
	"Content-Type: multipart/alternative; boundary=\"in\"\n"
	"\n"
	"--in\n"
	"\n"
	"plain\n"
	"--in\n"
	"Content-Type: text/html\n"
	"\n"
	"<b>html</b>\n"
	"--in--\n"
	"--outer\n"
	"Content-Type: multipart/digest; boundary=d\n"
	"\n"
	"--d\n"
	"\n"
	"Subject: digested\n"
	"\n"
	"x\n"
	"--d\n"
	"Content-Type: text/plain\n"
	"\n"
	"typed\n"
	"--d--\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"U3ViamVjdDogeAoKeAo=\n"
	"--outer\n"
	"--outer\n"
	"Content-Type: multipart/mixed; boundary=open\n"
	"\n"
	"--open\n"
	"\n"
	"never closed\n";

/* Each reaches a flag or a corner of the parser. */
static const char *const odd[] = {
	"",
	"\r\n",
	"\n\n\n",
	"Subject: no body",
	"Subject: no body\r\n",
	"not a header line\r\nSubject: x\r\n\r\nbody",
	"Subject: x\r\n\r\nno final line end",
	"Content-Type: multipart/mixed\r\n\r\n--\r\n",
	"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\nno delimiter at all\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
	"Content-Type: message/rfc822\r\n\r\n",
	"Content-Type: message/global\r\n\r\nSubject: g\r\n\r\nx",
	"Content-Type: message/rfc822\r\n\r\none line of text",
	"Content-Type: text\r\n\r\nno subtype",
	"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822;"
		"\r\n\r\n--b--\r\n",
	"Content-Transfer-Encoding: x-unknown\r\nContent-Language: (c)\r\n\r\n\0\0\0",
};

/* A chain of message/rfc822 parts `depth` deep. */
static char *rfc822_chain(unsigned depth)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	for (unsigned i = 0; i < depth; i++)
		buf_append_str(&b, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&b, "Subject: bottom\r\n\r\nx\r\n");
	char *s = arena_strdup(arena, b.data);
	buf_free(&b);
	return s;
}

/* A multipart with `children` parts. */
static char *many_parts(unsigned children)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (unsigned i = 0; i < children; i++)
		buf_append_str(&b, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
	buf_append_str(&b, "--b--\r\n");
	char *s = arena_strdup(arena, b.data);
	buf_free(&b);
	return s;
}

/* ---- tests ---- */

static void test_sizes(void **state)
{
	size_t n = roundtrip_str(simple);
	print_message("# simple message: %zu bytes of layout\n", n);
	assert_true(n <= 12);
	n = roundtrip_str(rfc2046);
	print_message("# RFC 2046 example: %zu bytes of layout\n", n);
	assert_true(n <= 30);
	n = roundtrip_str(nested);
	print_message("# nested example (%zu parts): %zu bytes of layout\n",
		message_parse(arena, nested, strlen(nested), NULL)->n_parts, n);
	assert_true(n <= 100);
}

static void test_odd_messages(void **state)
{
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		(void)roundtrip_str(odd[i]);
	current = "the last odd message, with its NUL bytes";
	(void)roundtrip(odd[17], strlen(odd[17]) + 3, NULL);
	/* no data at all, as message_parse takes it */
	struct buf lay;
	struct message *m = encode(NULL, 0, NULL, &lay);
	struct message *r = message_parse_layout(arena, NULL, 0, lay.data, lay.len, NULL);
	assert_non_null(r);
	current = "NULL data";
	tree_same(m, r);
	buf_free(&lay);
}

/* Every prefix of the nested example is a message of its own. */
static void test_every_prefix(void **state)
{
	static char where[64];
	current = where;
	for (size_t n = 0; n <= strlen(nested); n++) {
		snprintf(where, sizeof(where), "nested prefix %zu", n);
		(void)roundtrip(nested, n, NULL);
	}
}

static void test_limits(void **state)
{
	current = "depth at the limit";
	(void)roundtrip(rfc822_chain(MESSAGE_MAX_DEPTH), strlen(rfc822_chain(MESSAGE_MAX_DEPTH)), NULL);
	current = "depth past the limit";
	const char *deep = rfc822_chain(MESSAGE_MAX_DEPTH + 1);
	(void)roundtrip(deep, strlen(deep), NULL);
	current = "parts past the limit";
	const char *wide = many_parts(MESSAGE_MAX_PARTS);
	size_t n = roundtrip(wide, strlen(wide), NULL);
	print_message("# %u parts: %zu bytes of layout\n", MESSAGE_MAX_PARTS, n);
	struct message_limits l = message_limits_default();
	l.max_parts = 3;
	l.max_depth = 2;
	current = "nested, 3 parts, depth 2";
	(void)roundtrip(nested, strlen(nested), &l);
	l = message_limits_default();
	l.max_header_bytes = 20;
	current = "nested, headers of 20 bytes";
	(void)roundtrip(nested, strlen(nested), &l);
}

/* A layout made under one set of limits is refused under smaller ones:
 * message_parse would have given another tree. */
static void test_smaller_limits(void **state)
{
	struct buf lay;
	(void)encode(nested, strlen(nested), NULL, &lay);
	struct message_limits l = message_limits_default();
	l.max_parts = 3;
	assert_null(message_parse_layout(arena, nested, strlen(nested), lay.data, lay.len, &l));
	l = message_limits_default();
	l.max_depth = 1;
	assert_null(message_parse_layout(arena, nested, strlen(nested), lay.data, lay.len, &l));
	l = message_limits_default();
	l.max_header_bytes = 20;
	assert_null(message_parse_layout(arena, nested, strlen(nested), lay.data, lay.len, &l));
	buf_free(&lay);
}

/* A layout read against bytes it was not made from. */
static void test_other_bytes(void **state)
{
	struct buf lay;
	(void)encode(nested, strlen(nested), NULL, &lay);
	assert_null(parse_bytes(rfc2046, strlen(rfc2046), (const unsigned char *)lay.data, lay.len));
	assert_null(parse_bytes(nested, strlen(nested) - 1, (const unsigned char *)lay.data,
		lay.len));
	char *changed = arena_strdup(arena, nested);
	changed[3] = 'X';  /* "SubXect": a header of the same size, still accepted */
	assert_non_null(parse_bytes(changed, strlen(changed), (const unsigned char *)lay.data,
		lay.len));
	changed = arena_printf(arena, "X-New: 1\n%s", nested);
	assert_null(parse_bytes(changed, strlen(changed), (const unsigned char *)lay.data, lay.len));
	/* a delimiter line moved by one byte, the size kept: the split is
	 * looked at where the layout puts it */
	changed = arena_strdup(arena, nested);
	char *second = strstr(strstr(changed, "--outer\n") + 1, "--outer\n");
	memcpy(second - 1, "--outer\n\n", 9);   /* "\n\n--outer\n" becomes "\n--outer\n\n" */
	assert_null(parse_bytes(changed, strlen(changed), (const unsigned char *)lay.data, lay.len));
	changed = arena_strdup(arena, nested);
	second = strstr(strstr(changed, "--outer\n") + 1, "--outer\n");
	second[6] = 'R';   /* "--outeR": no longer a delimiter */
	assert_null(parse_bytes(changed, strlen(changed), (const unsigned char *)lay.data, lay.len));
	buf_free(&lay);
}

static void test_damaged(void **state)
{
	current = "simple";
	damage_all(simple, strlen(simple));
	current = "RFC 2046";
	damage_all(rfc2046, strlen(rfc2046));
	current = "nested";
	damage_all(nested, strlen(nested));
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		current = odd[i];
		damage_all(odd[i], strlen(odd[i]));
	}
	current = "deep chain";
	const char *deep = rfc822_chain(MESSAGE_MAX_DEPTH + 1);
	damage_all(deep, strlen(deep));
}

/* RFC 3501 §7.4.2 body-fld-lines counts line endings (as Dovecot does): a
 * last line without one is no line. Version 1 layouts counted it; they are
 * still read, their count converted from the body's last byte. */
static void test_line_counts(void **state)
{
	const char *d = "Subject: x\r\n\r\na\r\nb";  /* header 14, body 4 */
	size_t len = strlen(d);
	struct message *m = message_parse(arena, d, len, NULL);
	assert_int_equal(m->root->body_size, 4);
	assert_int_equal(m->root->body_lines, 1);
	struct buf lay;
	buf_init(&lay, 256);
	assert_int_equal(message_layout_encode(m, &lay), 0);
	assert_int_equal((unsigned char)lay.data[0], LAYOUT_TEST_VERSION);
	buf_free(&lay);
	const uint64_t def = MESSAGE_PART_DEFAULT_TYPE;
	unsigned char l[64];
	const uint64_t v1[] = { 1, def, 0, 0, 14, 4, 2 };
	struct message *old = parse_bytes(d, len, l, spec_layout(1, v1, 7, l));
	assert_non_null(old);
	assert_int_equal(old->root->body_lines, 1);
	const uint64_t v2[] = { 1, def, 0, 0, 14, 4, 1 };
	struct message *cur = parse_bytes(d, len, l, spec_layout(2, v2, 7, l));
	assert_non_null(cur);
	assert_int_equal(cur->root->body_lines, 1);
	/* a part's last line before a delimiter: its CRLF is the delimiter's
	 * (RFC 2046 §5.1.1) */
	m = message_parse(arena, rfc2046, strlen(rfc2046), NULL);
	assert_int_equal(m->root->children->body_lines, 1);        /* "does NOT end" */
	assert_int_equal(m->root->children->next->body_lines, 2);  /* "DOES end" */
	const char *one = "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
		"--x\r\n\r\nonly\r\n--x--\r\n";
	m = message_parse(arena, one, strlen(one), NULL);
	assert_int_equal(m->root->children->body_size, 4);
	assert_int_equal(m->root->children->body_lines, 0);
}

/* Layouts written by hand for simple: 41 bytes, header 35, body 6, 1 line. */
static void test_handmade(void **state)
{
	const char *d = simple;
	size_t len = strlen(simple);
	const struct message_part *root = message_parse(arena, d, len, NULL)->root;
	assert_int_equal(len, 41);
	assert_int_equal(root->header_size, 35);
	assert_int_equal(root->flags, MESSAGE_PART_DEFAULT_TYPE);
	unsigned char l[128];
	const uint64_t def = MESSAGE_PART_DEFAULT_TYPE;
	const uint64_t good[] = { 1, def, 0, 0, 35, 6, 1 };
	assert_non_null(parse_bytes(d, len, l, spec_layout(2, good, 7, l)));
	assert_non_null(parse_bytes(d, len, l, spec_layout(1, good, 7, l)));
	static const struct {
		const char *what;
		uint64_t nums[8];
		size_t n;
		unsigned char version;
	} bad[] = {
		{ "version 3", { 1, def, 0, 0, 35, 6, 1 }, 7, 3 },
		{ "version 0", { 1, def, 0, 0, 35, 6, 1 }, 7, 0 },
		{ "no parts", { 0 }, 1, 1 },
		{ "two parts announced, one given", { 2, def, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "a child announced, none given", { 1, def, 1, 0, 35, 6, 1 }, 7, 1 },
		{ "past the parts limit", { MESSAGE_MAX_PARTS + 1, def, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "body past the end", { 1, def, 0, 0, 35, 7, 1 }, 7, 1 },
		{ "body short of the end", { 1, def, 0, 0, 35, 5, 1 }, 7, 1 },
		{ "root not at 0", { 1, def, 0, 1, 35, 6, 1 }, 7, 1 },
		{ "header size wrong", { 1, def, 0, 0, 34, 7, 1 }, 7, 1 },
		{ "header past the end", { 1, def, 0, 0, 42, 0, 0 }, 7, 1 },
		{ "offset wraps", { 1, def, 0, UINT64_MAX, 35, 6, 1 }, 7, 1 },
		{ "size wraps", { 1, def, 0, 0, 35, UINT64_MAX - 34, 1 }, 7, 1 },
		{ "more lines than bytes", { 1, def, 0, 0, 35, 6, 7 }, 7, 1 },
		{ "no line in a body (version 1)", { 1, def, 0, 0, 35, 6, 0 }, 7, 1 },
		{ "more lines than bytes (version 2)", { 1, def, 0, 0, 35, 6, 7 }, 7, 2 },
		{ "header flag missing", { 1, 0, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "header flag added", { 1, def | MESSAGE_PART_NO_BODY, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "multipart flag", { 1, def | MESSAGE_PART_MULTIPART, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "message flag", { 1, def | MESSAGE_PART_MESSAGE, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "limit flag", { 1, def | MESSAGE_PART_LIMIT, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "no end boundary flag", { 1, def | MESSAGE_PART_NO_END_BOUNDARY, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "unknown flag", { 1, def | 0x100, 0, 0, 35, 6, 1 }, 7, 1 },
		{ "trailing number", { 1, def, 0, 0, 35, 6, 1, 0 }, 8, 1 },
		{ "record cut", { 1, def, 0, 0, 35, 6 }, 6, 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = spec_layout(bad[i].version, bad[i].nums, bad[i].n, l);
		if (parse_bytes(d, len, l, n) != NULL)
			fail_msg("hand-made layout accepted: %s", bad[i].what);
	}
	/* varints: overlong, past 64 bits, never ending */
	size_t n = spec_layout(LAYOUT_TEST_VERSION, good, 7, l);
	if (n != 10)
		fail_msg("the good layout is %zu bytes, not 10", n);
	unsigned char v[128] = { LAYOUT_TEST_VERSION, 0x81, 0x00 };   /* 1 written in two bytes */
	memcpy(v + 3, l + 2, n - 3);
	v[n] = spec_crc8(v, n);
	assert_null(parse_bytes(d, len, v, n + 1));
	memset(v + 1, 0xff, 10);
	v[11] = 0x01;       /* 11 bytes: past 64 bits */
	v[12] = spec_crc8(v, 12);
	assert_null(parse_bytes(d, len, v, 13));
	v[10] = 0x02;       /* 10 bytes, 65 bits */
	v[11] = spec_crc8(v, 11);
	assert_null(parse_bytes(d, len, v, 12));
	memset(v + 1, 0x80, 20);
	v[21] = spec_crc8(v, 21);
	assert_null(parse_bytes(d, len, v, 22));
	/* nothing at all */
	assert_null(parse_bytes(d, len, NULL, 0));
	assert_null(parse_bytes(d, len, l, 0));
	assert_null(parse_bytes(d, len, l, 1));
}

/* Sibling and child ranges of the RFC 2046 example moved outside their
 * parent, one number at a time. (Siblings cannot overlap: each starts at a
 * distance from the end of the one before.) */
static void test_handmade_tree(void **state)
{
	struct buf lay;
	const char *d = rfc2046;
	size_t len = strlen(d);
	(void)encode(d, len, NULL, &lay);
	uint64_t nums[32], mut[32];
	unsigned char out[512];
	size_t n = spec_numbers((const unsigned char *)lay.data, lay.len, nums, 32);
	assert_int_equal(n, 1 + 3 * 6);
	assert_int_equal(nums[0], 3);
	assert_int_equal(nums[2], 2);    /* root: two children */
	const size_t c1 = 7, c2 = 13;    /* first numbers of the children */
	struct { size_t at; uint64_t value; const char *what; } bad[] = {
		{ 0, 2, "two parts announced, three given" },
		{ 0, 4, "four parts announced, three given" },
		{ 2, 1, "one child announced" },
		{ 2, 3, "three children announced" },
		{ c1 + 2, nums[5] + 1, "first child starts past the parent's body" },
		{ c2 + 2, len, "second child starts past the end" },
		{ c2 + 4, nums[5], "second child ends past the parent's body" },
		{ c1 + 4, nums[5], "first child longer than the parent's body" },
		{ c1 + 4, nums[c1 + 4] - 1, "first child one byte short of its delimiter" },
		{ c1 + 4, nums[c1 + 4] + 1, "first child one byte into its delimiter" },
		{ c2 + 2, nums[c2 + 2] - 1, "second child one byte before its start" },
		{ c2 + 4, nums[c2 + 4] - 2, "second child short of the close delimiter" },
		{ 1, nums[1] | MESSAGE_PART_NO_END_BOUNDARY, "no close delimiter claimed" },
		{ 1, nums[1] | MESSAGE_PART_LIMIT, "a limit claimed" },
		{ c1 + 1, 1, "a leaf with a child" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(mut, nums, sizeof(nums));
		mut[bad[i].at] = bad[i].value;
		size_t olen = spec_layout(LAYOUT_TEST_VERSION, mut, n, out);
		if (parse_bytes(d, len, out, olen) != NULL)
			fail_msg("hand-made tree accepted: %s", bad[i].what);
	}
	buf_free(&lay);
}

static void test_encode_full(void **state)
{
	struct message *m = message_parse(arena, nested, strlen(nested), NULL);
	struct buf b;
	buf_init(&b, 1024);
	assert_int_equal(message_layout_encode(m, &b), 0);
	size_t need = b.len;
	for (size_t max = 0; max < need; max++) {
		buf_free(&b);
		buf_init(&b, max);
		assert_int_equal(buf_append(&b, "x", max > 0 ? 1 : 0), 0);
		assert_int_equal(message_layout_encode(m, &b), -1);
		assert_int_equal(b.len, max > 0 ? 1 : 0);   /* out as it was */
	}
	/* appended after what out held */
	buf_free(&b);
	buf_init(&b, 1024);
	assert_int_equal(buf_append_str(&b, "prefix"), 0);
	assert_int_equal(message_layout_encode(m, &b), 0);
	assert_int_equal(b.len, 6 + need);
	assert_non_null(message_parse_layout(arena, nested, strlen(nested), b.data + 6, need, NULL));
	buf_free(&b);
}

/* ---- the external corpora ---- */

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
	size_t n = 0, sl = strlen(suffix);
	struct dirent *e;
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

struct corpus_stats {
	size_t messages, parts, message_bytes, layout_bytes, imap_bytes, accepted_resealed;
	double parse_s, layout_s;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rebuilds one file from its layout and compares; damage: also break the
 * layout every way damage_* knows. */
static void corpus_file(const char *dir, const char *name, bool damage, struct corpus_stats *st)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	current = path;
	size_t len;
	char *data = test_read_file(path, &len);
	arena_reset(arena);
	double t0 = now();
	struct message *m = message_parse(arena, data, len, NULL);
	double t1 = now();
	struct buf lay;
	buf_init(&lay, 1024 * 1024);
	assert_int_equal(message_layout_encode(m, &lay), 0);
	double t2 = now();
	struct message *r = message_parse_layout(arena, data, len, lay.data, lay.len, NULL);
	double t3 = now();
	if (r == NULL)
		fail_msg("%s: layout of %zu bytes rejected", path, lay.len);
	tree_same(m, r);
	char *imap = imap_text(m->root);
	st->imap_bytes += strlen(imap) - strlen(strrchr(imap, '\n'));  /* ENVELOPE + BODYSTRUCTURE */
	free(imap);
	if (damage) {
		const unsigned char *l = (const unsigned char *)lay.data;
		damage_bytes(data, len, l, lay.len);
		st->accepted_resealed += damage_resealed(data, len, l, lay.len);
		damage_numbers(data, len, l, lay.len);
	}
	st->messages++;
	st->parts += m->n_parts;
	st->message_bytes += len;
	st->layout_bytes += lay.len;
	st->parse_s += t1 - t0;
	st->layout_s += t3 - t2;
	buf_free(&lay);
	free(data);
}

static void corpus_dirs(const char *base, const char *const *dirs, size_t n_dirs,
	const char *suffix, bool damage, struct corpus_stats *st)
{
	for (size_t d = 0; d < n_dirs; d++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/%s/%s", test_external_dir(), base, dirs[d]);
		char **names;
		size_t n = list_dir(dir, suffix, &names);
		assert_true(n > 0);
		for (size_t i = 0; i < n; i++) {
			corpus_file(dir, names[i], damage, st);
			free(names[i]);
		}
		free(names);
	}
}

static void print_stats(const char *what, const struct corpus_stats *st)
{
	print_message("# %s: %zu messages, %zu parts, all rebuilt equal; layout %.1f bytes per "
		"message on average (%zu in all, %.3f%% of the %zu message bytes; the ENVELOPE and "
		"BODYSTRUCTURE texts were %.1f bytes per message); parse %.1f ms, rebuild %.1f ms\n",
		what, st->messages, st->parts, (double)st->layout_bytes / (double)st->messages,
		st->layout_bytes, 100.0 * (double)st->layout_bytes / (double)st->message_bytes,
		st->message_bytes, (double)st->imap_bytes / (double)st->messages,
		st->parse_s * 1e3, st->layout_s * 1e3);
}

static void test_mime_corpus(void **state)
{
	static const char *const dirs[] = { "rfc", "malformed", "legacy" };
	struct corpus_stats st = { 0 };
	corpus_dirs("mime-corpus", dirs, 3, ".eml", true, &st);
	print_stats("mime-corpus", &st);
	print_message("# mime-corpus: every layout cut and changed byte by byte refused; "
		"%zu resealed changes accepted (line counts and the like), each within its message\n",
		st.accepted_resealed);
}

static void test_spam_corpus(void **state)
{
	static const char *const dirs[] = { "ham", "spam" };
	struct corpus_stats st = { 0 };
	corpus_dirs("spam-corpus-train", dirs, 2, "", false, &st);
	print_stats("spam-corpus-train", &st);
	assert_true(st.layout_bytes / st.messages < 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smaller_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handmade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handmade_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mime_corpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spam_corpus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
