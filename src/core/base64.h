/*
 * base64.h: base64 (RFC 4648 §4). The decoder here is strict: whole
 * 4-character groups, "=" padding only at the end, zero pad bits, no
 * whitespace; what SASL (RFC 5802 §7) and stored credentials need, failing
 * closed. Lenient, streaming decoding of MIME bodies (RFC 2045 §6.8) lives
 * in src/message/ and uses base64_value.
 */
#ifndef TERN_CORE_BASE64_H
#define TERN_CORE_BASE64_H

#include "core/arena.h"

#include <stddef.h>

/* Bytes base64 needs for n input bytes, without the NUL. */
#define BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Encodes n bytes into dst (BASE64_ENCODED_LEN(n) + 1 bytes, NUL-terminated).
 * Returns the length written, without the NUL. */
size_t base64_encode(char *dst, const unsigned char *src, size_t n);

/* Decodes canonical padded base64 into dst (at most dstmax bytes). Returns the
 * length, or -1 if the text is not canonical base64 or does not fit. */
long base64_decode(unsigned char *dst, size_t dstmax, const char *src, size_t n);

/* base64_encode into a new string in a. */
char *base64_arena(struct arena *a, const unsigned char *src, size_t n);

/* The 6-bit value of a base64 character, or -1 for one outside the alphabet. */
int base64_value(unsigned char c);

struct buf;
/* Appends n bytes at data as a MIME base64 body (RFC 2045 §6.8): lines of
 * 76 characters, each ended by CRLF. */
void base64_append_lines(struct buf *out, const void *data, size_t n);

#endif
