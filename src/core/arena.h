/*
 * arena.h: one allocation pool per unit of work (a command, a message, a DNS
 * evaluation). Allocate as often as needed, free everything at once.
 *
 * An arena made with ARENA_SECRET overwrites its memory with zeros when it is
 * reset or freed: use it for passwords, SASL exchanges and keys.
 * An arena is not thread-safe; each unit of work owns its own.
 */
#ifndef TERN_CORE_ARENA_H
#define TERN_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

enum arena_flags {
	ARENA_PLAIN = 0,
	ARENA_SECRET = 1,  /* zero memory on reset and free */
};

/* Creates an arena whose blocks are at least block_size bytes. Aborts when
 * memory runs out (as every allocation below does). */
struct arena *arena_new(size_t block_size, enum arena_flags flags);

/* Frees the arena and everything allocated in it; sets *a to NULL. */
void arena_free(struct arena **a);

/* Frees everything allocated in a, keeping the first block for reuse. */
void arena_reset(struct arena *a);

/* n bytes aligned for any type, zero-filled. n may be 0. */
void *arena_alloc(struct arena *a, size_t n);

/* Room for one more element in an arena array v of n elements of size
 * bytes and capacity *cap: when n reaches *cap, a new array of twice the
 * capacity (first when it was 0) is allocated and the elements copied (the
 * old memory stays in the arena). Returns the array to use. */
void *arena_grow(struct arena *a, void *v, size_t n, size_t *cap, size_t size, size_t first);

/* Copies of strings and bytes, NUL-terminated. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Total bytes handed out since creation or the last reset (for limits and tests). */
size_t arena_used(const struct arena *a);

#endif
