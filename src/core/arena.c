/*
 * arena.c: see arena.h. @UNSAFE: pointer arithmetic on blocks.
 *
 * Blocks form a singly linked list, newest first. An allocation larger than a
 * quarter of the block size gets a block of its own, so big allocations do not
 * waste the rest of the current block.
 */
#include "core/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
	struct block *next;
	size_t size;   /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char mem[];
};

struct arena {
	struct block *head;
	struct block *first;  /* the block made with the arena, kept by reset */
	size_t block_size;
	size_t handed_out;
	enum arena_flags flags;
};

static struct block *block_new(size_t size)
{
	if (size > SIZE_MAX - sizeof(struct block))
		abort();
	struct block *b = malloc(sizeof(*b) + size);
	if (b == NULL)
		abort();
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void block_free(struct arena *a, struct block *b)
{
	if (a->flags & ARENA_SECRET)
		explicit_bzero(b->mem, b->size);
	free(b);
}

struct arena *arena_new(size_t block_size, enum arena_flags flags)
{
	struct arena *a = calloc(1, sizeof(*a));
	if (a == NULL)
		abort();
	a->block_size = block_size < 256 ? 256 : block_size;
	a->flags = flags;
	a->head = block_new(a->block_size);
	a->first = a->head;
	return a;
}

void arena_reset(struct arena *a)
{
	struct block *b = a->head;
	while (b != NULL) {
		struct block *next = b->next;
		if (b != a->first)
			block_free(a, b);
		b = next;
	}
	b = a->first;
	if (a->flags & ARENA_SECRET)
		explicit_bzero(b->mem, b->used);
	b->used = 0;
	b->next = NULL;
	a->head = b;
	a->handed_out = 0;
}

void arena_free(struct arena **ap)
{
	struct arena *a = *ap;
	if (a == NULL)
		return;
	while (a->head != NULL) {
		struct block *next = a->head->next;
		block_free(a, a->head);
		a->head = next;
	}
	free(a);
	*ap = NULL;
}

static size_t align_up(size_t n)
{
	size_t al = alignof(max_align_t);
	if (n > SIZE_MAX - al)
		abort();
	return (n + al - 1) & ~(al - 1);
}

void *arena_alloc(struct arena *a, size_t n)
{
	size_t need = align_up(n == 0 ? 1 : n);
	struct block *b = a->head;
	if (b->size - b->used < need) {
		if (need > a->block_size / 4) {
			/* Own block, linked behind the head so the head keeps its room. */
			struct block *big = block_new(need);
			big->used = need;
			big->next = b->next;
			b->next = big;
			a->handed_out += need;
			memset(big->mem, 0, need);
			return big->mem;
		}
		b = block_new(a->block_size);
		b->next = a->head;
		a->head = b;
	}
	void *p = b->mem + b->used;
	b->used += need;
	a->handed_out += need;
	memset(p, 0, need);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	if (fmt == NULL)
		abort();  /* also tells gcc -O3 with UBSan that fmt is not NULL below */
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return arena_strdup(a, "");
	char *p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

size_t arena_used(const struct arena *a)
{
	return a->handed_out;
}

void *arena_grow(struct arena *a, void *v, size_t n, size_t *cap, size_t size, size_t first)
{
	if (n < *cap)
		return v;
	size_t c = *cap > 0 ? *cap * 2 : first;
	void *nv = arena_alloc(a, c * size);
	if (n > 0)
		memcpy(nv, v, n * size);
	*cap = c;
	return nv;
}
