/*
 * internal.h: pieces shared by the files of src/message; never included
 * from outside this directory.
 *
 * The lexer here reads the lexical tokens of RFC 5322 §3.2 (comments,
 * quoted strings, atoms) over an unfolded value with an explicit end
 * pointer. Every function returns a position in [p, end]; none reads past
 * end or relies on a NUL.
 */
#ifndef TERN_MESSAGE_INTERNAL_H
#define TERN_MESSAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"

static inline bool lex_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* WSP, CR and LF: what may separate tokens in a header value. */
static inline bool lex_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline unsigned char lex_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Skips spaces. */
const char *lex_skip_space(const char *p, const char *end);

/* p at '(': returns the position after the matching ')' (or end). If text is
 * not NULL the comment's content (escapes removed, nested parentheses kept)
 * is appended to it. */
const char *lex_comment(const char *p, const char *end, struct buf *text);

/* Skips spaces and comments (CFWS). If comments is not NULL, each comment's
 * text is appended to it, separated by a space. */
const char *lex_skip_cfws(const char *p, const char *end, struct buf *comments);

/* p at '"': returns the position after the closing quote (or end), appending
 * the content with quoted-pairs resolved and CR/LF dropped to out. */
const char *lex_quoted(const char *p, const char *end, struct buf *out);

/* ASCII case-insensitive comparison of n bytes against NUL-terminated s. */
bool lex_eq(const char *p, size_t n, const char *s);

/* Copy of [p, p+n) lowercased, NUL-terminated, in a. */
char *lex_lowerdup(struct arena *a, const char *p, size_t n);

/* Copy of the buffer's content in a (NUL-terminated). */
char *lex_bufdup(struct arena *a, const struct buf *b);

/* Appends U+FFFD. */
int lex_append_replacement(struct buf *out);

/* Whether the n bytes at p are valid UTF-8 (no overlong forms, surrogates
 * or code points past U+10FFFF). */
bool lex_utf8_valid(const char *p, size_t n);

/* Appends n bytes that should be UTF-8: valid sequences pass, each invalid
 * byte becomes U+FFFD. Returns 0, or -1 if out is full. */
int lex_append_utf8(struct buf *out, const char *p, size_t n);

/* RFC 2047 decoding of [p, end) appended to out as UTF-8 (see
 * message_decode_text). Returns 0, or -1 if out is full. */
int rfc2047_decode(const char *p, const char *end, struct buf *out);

/* Whether message_charset_to_utf8 can convert from charset. */
bool charset_is_known(const char *charset);

/* Value of one hex digit, or -1. */
int lex_hex(unsigned char c);

/* ---- parts (parser.c), shared with layout.c ---- */

struct message_part;

/* Reads the header block of p from data[start, end), where [start, end) is
 * the whole part, as message_parse does: sets header_offset, header_size,
 * headers (offsets in the message), body_offset, body_size, the header's
 * flags (HEADER_TRUNCATED, NO_BODY, BROKEN_HEADER, DEFAULT_TYPE) and the MIME
 * fields. digest_child: p is a part of a multipart/digest (RFC 2046 §5.1.5).
 * Leaves body_lines, children and the body flags alone. */
void part_header_parse(struct arena *a, const char *data, struct message_part *p, size_t start,
	size_t end, size_t max_header_bytes, bool digest_child);

/* A delimiter line (RFC 2046 §5.1.1) in a multipart body. */
struct delimiter {
	size_t part_end;    /* where the preceding part ends: before the CRLF
	                       that belongs to the delimiter */
	size_t next_start;  /* after the delimiter line */
	bool close;
};

/* Whether a delimiter line of dash_boundary ("--" boundary, dlen bytes)
 * starts at `at` in the body [body_start, end) of data; fills *d if so. */
bool delimiter_at(const char *data, size_t body_start, size_t at, size_t end,
	const char *dash_boundary, size_t dlen, struct delimiter *d);

/* The first delimiter line starting in [from, end) of the body
 * [body_start, end): true and *d filled, or false if there is none. */
bool delimiter_find(const char *data, size_t body_start, size_t from, size_t end,
	const char *dash_boundary, size_t dlen, struct delimiter *d);

/* Whether p's header makes it a multipart with a usable boundary. */
bool part_is_multipart(const struct message_part *p);

/* Whether p's header makes it an embedded message that may be parsed:
 * message/rfc822 or message/global in 7bit, 8bit or binary. */
bool part_is_message(const struct message_part *p);

#endif
