/*
 * buf.h: a growable, bounded byte buffer.
 *
 * A buf carries its length and is always NUL-terminated after `len` bytes, so
 * `data` can be handed to C string functions when the content has no NUL.
 * Every buf has a maximum size chosen by its owner (the limit for what it
 * holds: a protocol line, a header block); appending past it fails with -1 and
 * leaves the buffer unchanged. Growth and capacity are private.
 *
 * Read `data` and `len`; change them only through these functions.
 */
#ifndef TERN_CORE_BUF_H
#define TERN_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;     /* len bytes, then a NUL; never NULL after buf_init */
	size_t len;
	size_t cap_;    /* private: allocated bytes, including the NUL */
	size_t max_;    /* private: largest len allowed */
};

/* BUF_UNBOUNDED as max: only memory bounds the buffer. Use it only for data
 * the program itself produces, never for bytes from the network. */
#define BUF_UNBOUNDED ((size_t)-1)

/* Initialises b as empty with the given maximum length. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Frees the memory of b and leaves it empty (still usable). */
void buf_free(struct buf *b);

/* Frees the memory of b after overwriting it with zeros (for secrets). */
void buf_free_secret(struct buf *b);

/* Empties b, keeping its memory. */
void buf_reset(struct buf *b);

/* Appends n bytes. Returns 0, or -1 if len would pass the maximum (b unchanged).
 * Aborts if memory runs out. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_appendvf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Shortens b to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);

/* Room left before the maximum. */
size_t buf_room(const struct buf *b);

/* Bytes allocated for the contents (0 after buf_init or buf_free). */
size_t buf_allocated(const struct buf *b);

/* Makes sure `n` more bytes fit in memory and returns where they would go, for
 * readers that fill the buffer directly; then call buf_commit(b, filled).
 * Returns NULL if n passes the maximum. */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

/* Takes the memory out of b as a NUL-terminated malloc'd string (caller frees)
 * and leaves b empty. */
char *buf_steal(struct buf *b);

#endif
