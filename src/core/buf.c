/*
 * buf.c: see buf.h. @UNSAFE: raw memory moves live here, reviewed twice.
 */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char empty_buf[1];

void buf_init(struct buf *b, size_t max)
{
	b->data = empty_buf;
	b->len = 0;
	b->cap_ = 0;
	b->max_ = max;
}

void buf_free(struct buf *b)
{
	if (b->cap_ > 0)
		free(b->data);
	b->data = empty_buf;
	b->len = 0;
	b->cap_ = 0;
}

void buf_free_secret(struct buf *b)
{
	if (b->cap_ > 0)
		explicit_bzero(b->data, b->cap_);
	buf_free(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->cap_ > 0)
		b->data[0] = '\0';
}

/* Grows the allocation so that `need` bytes plus a NUL fit. */
static void grow(struct buf *b, size_t need)
{
	if (need + 1 <= b->cap_)
		return;
	size_t cap = b->cap_ < 64 ? 64 : b->cap_;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
	char *p = b->cap_ > 0 ? realloc(b->data, cap) : malloc(cap);
	if (p == NULL)
		abort();
	if (b->cap_ == 0)
		p[0] = '\0';
	b->data = p;
	b->cap_ = cap;
}

char *buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max_ || b->len > b->max_ - n)
		return NULL;
	grow(b, b->len + n);
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap_ && !(n == 0 && b->cap_ == 0))
		abort();
	b->len += n;
	if (b->cap_ > 0)
		b->data[b->len] = '\0';
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	char *dst = buf_reserve(b, n);
	if (dst == NULL)
		return -1;
	memcpy(dst, p, n);
	buf_commit(b, n);
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_appendvf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	char *dst = buf_reserve(b, (size_t)n);
	if (dst == NULL)
		return -1;
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	buf_commit(b, (size_t)n);
	return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_appendvf(b, fmt, ap);
	va_end(ap);
	return r;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		abort();
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_truncate(struct buf *b, size_t n)
{
	if (n > b->len)
		abort();
	if (b->cap_ == 0)
		return;
	b->len = n;
	b->data[n] = '\0';
}

size_t buf_room(const struct buf *b)
{
	return b->max_ - b->len;
}

size_t buf_allocated(const struct buf *b)
{
	return b->cap_;
}

char *buf_steal(struct buf *b)
{
	char *s;
	if (b->cap_ == 0) {
		s = strdup("");
		if (s == NULL)
			abort();
	} else {
		s = b->data;
	}
	b->data = empty_buf;
	b->len = 0;
	b->cap_ = 0;
	return s;
}
