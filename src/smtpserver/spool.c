/*
 * spool.c: the message of one transaction while it arrives. Up to
 * SMTPSERVER_SPOOL_MEM bytes stay in memory; a larger message goes to an
 * unlinked temporary file (O_TMPFILE) in the spool directory, so memory per
 * connection stays bounded and nothing is left behind after a crash.
 */
#include "smtpserver/internal.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct smtpserver_spool {
	struct buf mem;
	char *loaded;         /* the whole message read back (smtpserver_spool_load), or NULL */
	int fd;               /* -1 while the message fits in mem */
	const char *dir;
	uint64_t size, max;
	uint64_t rpos;        /* read position */
};

struct smtpserver_spool *spool_new(const char *dir, uint64_t max_size)
{
	struct smtpserver_spool *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	buf_init(&s->mem, SMTPSERVER_SPOOL_MEM);
	s->fd = -1;
	s->dir = dir;
	s->max = max_size;
	return s;
}

/* A message buffer larger than this is freed between transactions, so an
 * idle connection does not keep a megabyte. */
#define SPOOL_KEEP 65536

/*
 * Whole messages in memory. Checks that need the whole message at once
 * (DKIM, ARC, report parsing) load a spooled one back; all sessions together
 * hold at most SPOOL_LOAD_BUDGET bytes that way, so memory stays bounded
 * however many large messages arrive at once: a session waits its turn, and
 * after SPOOL_LOAD_WAIT_S gives up (the caller then treats the check as a
 * temporary error).
 */
#define SPOOL_LOAD_BUDGET (256u * 1024 * 1024)
#define SPOOL_LOAD_WAIT_S 30

static pthread_mutex_t budget_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_cv = PTHREAD_COND_INITIALIZER;
static uint64_t budget_used;

static int budget_acquire(uint64_t n, struct error *e)
{
	if (n > SPOOL_LOAD_BUDGET)
		return error_set(e, ERR_LIMIT, "message of %llu bytes is larger than the memory for checks",
		                 (unsigned long long)n);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SPOOL_LOAD_WAIT_S;
	pthread_mutex_lock(&budget_mu);
	int r = 0;
	while (r == 0 && budget_used + n > SPOOL_LOAD_BUDGET)
		r = pthread_cond_timedwait(&budget_cv, &budget_mu, &until);
	if (r == 0)
		budget_used += n;
	pthread_mutex_unlock(&budget_mu);
	if (r != 0)
		return error_set(e, ERR_TEMP, "too many large messages are being checked at once");
	return 0;
}

static void budget_release(uint64_t n)
{
	pthread_mutex_lock(&budget_mu);
	budget_used -= n;
	pthread_cond_broadcast(&budget_cv);
	pthread_mutex_unlock(&budget_mu);
}

void spool_reset(struct smtpserver_spool *s)
{
	if (s->loaded != NULL) {
		free(s->loaded);
		s->loaded = NULL;
		budget_release(s->size);
	}
	if (s->mem.len > SPOOL_KEEP)
		buf_free(&s->mem);
	buf_reset(&s->mem);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->size = 0;
	s->rpos = 0;
}

void spool_free(struct smtpserver_spool **sp)
{
	struct smtpserver_spool *s = *sp;
	if (s == NULL)
		return;
	spool_reset(s);
	buf_free(&s->mem);
	free(s);
	*sp = NULL;
}

static int write_all(int fd, const char *p, size_t n, struct error *e)
{
	return file_write_all(fd, p, n) == 0 ? 0 : error_errno(e, errno, "spool: write");
}

/* Moves what is in memory to a new temporary file. */
static int spill(struct smtpserver_spool *s, struct error *e)
{
	if (s->dir == NULL)
		return error_set(e, ERR_LIMIT, "spool: message larger than %d bytes and no spool directory",
		                 SMTPSERVER_SPOOL_MEM);
	s->fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* a file system without O_TMPFILE: a named file, unlinked at once */
		char path[4096];
		snprintf(path, sizeof(path), "%s/spool-XXXXXX", s->dir);
		s->fd = mkostemp(path, O_CLOEXEC);
		if (s->fd >= 0)
			unlink(path);
	}
	if (s->fd < 0)
		return error_errno(e, errno, "spool: temporary file in %s", s->dir);
	return write_all(s->fd, s->mem.data, s->mem.len, e);
}

int spool_sink(void *ctx, const char *p, size_t n, struct error *e)
{
	struct smtpserver_spool *s = ctx;
	if (s->fd < 0 && buf_append(&s->mem, p, n) == 0) {
		s->size += n;
		return 0;
	}
	if (s->fd < 0 && spill(s, e) != 0)
		return -1;
	if (write_all(s->fd, p, n, e) != 0)
		return -1;
	s->size += n;
	return 0;
}

const char *smtpserver_spool_head(const struct smtpserver_spool *s, size_t *len_r,
                                  bool *complete_r)
{
	*len_r = s->mem.len;
	*complete_r = s->fd < 0;
	return s->mem.data;
}

uint64_t smtpserver_spool_size(const struct smtpserver_spool *s)
{
	return s->size;
}

void smtpserver_spool_rewind(struct smtpserver_spool *s)
{
	s->rpos = 0;
}

ssize_t smtpserver_spool_read(void *ctx, void *buf, size_t n, struct error *e)
{
	struct smtpserver_spool *s = ctx;
	if (s->rpos >= s->size)
		return 0;
	if (n > s->size - s->rpos)
		n = (size_t)(s->size - s->rpos);
	if (s->fd < 0) {
		memcpy(buf, s->mem.data + s->rpos, n);
		s->rpos += n;
		return (ssize_t)n;
	}
	ssize_t r;
	do
		r = pread(s->fd, buf, n, (off_t)s->rpos);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return error_errno(e, errno, "spool: read");
	if (r == 0)
		return error_set(e, ERR_IO, "spool: temporary file shorter than expected");
	s->rpos += (uint64_t)r;
	return r;
}

/* Copies the spool file to a new one without the ranges; then reloads the
 * head from it. */
static int remove_in_file(struct smtpserver_spool *s, const struct smtpserver_range *r, size_t n,
                          struct error *e)
{
	int old = s->fd;
	uint64_t size = s->size;
	s->fd = -1;
	buf_reset(&s->mem);
	s->size = 0;
	if (spill(s, e) != 0) {
		s->fd = old;
		return -1;
	}
	char tmp[8192];
	uint64_t pos = 0;
	size_t k = 0;
	while (pos < size) {
		uint64_t stop = k < n ? r[k].offset : size;
		while (pos < stop) {
			size_t want = stop - pos < sizeof(tmp) ? (size_t)(stop - pos) : sizeof(tmp);
			ssize_t got = pread(old, tmp, want, (off_t)pos);
			if (got <= 0) {
				close(old);
				return error_errno(e, got < 0 ? errno : EIO, "spool: read");
			}
			if (write_all(s->fd, tmp, (size_t)got, e) != 0) {
				close(old);
				return -1;
			}
			if (s->mem.len < SMTPSERVER_SPOOL_MEM)
				buf_append(&s->mem, tmp, (size_t)got < SMTPSERVER_SPOOL_MEM - s->mem.len
				           ? (size_t)got : SMTPSERVER_SPOOL_MEM - s->mem.len);
			pos += (uint64_t)got;
			s->size += (uint64_t)got;
		}
		if (k < n) {
			pos = r[k].offset + r[k].size;
			k++;
		}
	}
	close(old);
	return 0;
}

int smtpserver_spool_remove(struct smtpserver_spool *s, const struct smtpserver_range *r,
                            size_t n, struct error *e)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].offset + r[i].size > s->mem.len || (i > 0 && r[i].offset < r[i - 1].offset + r[i - 1].size))
			return error_set(e, ERR_INVALID, "spool: range %zu out of order or past the head", i);
	if (s->fd >= 0)
		return remove_in_file(s, r, n, e);
	size_t out = 0, pos = 0;
	for (size_t i = 0; i <= n; i++) {
		size_t stop = i < n ? (size_t)r[i].offset : s->mem.len;
		memmove(s->mem.data + out, s->mem.data + pos, stop - pos);
		out += stop - pos;
		if (i < n)
			pos = (size_t)(r[i].offset + r[i].size);
	}
	buf_truncate(&s->mem, out);
	s->size = out;
	return 0;
}

const char *smtpserver_spool_load(struct smtpserver_spool *s, size_t *len_r, struct error *e)
{
	*len_r = (size_t)s->size;
	if (s->fd < 0)
		return s->mem.data;
	if (s->loaded != NULL)
		return s->loaded;
	if (budget_acquire(s->size, e) != 0)
		return NULL;
	char *buf = malloc((size_t)s->size + 1);
	if (buf == NULL)
		abort();
	uint64_t pos = s->rpos;
	s->rpos = 0;
	size_t got = 0;
	for (ssize_t n; got < s->size &&
	     (n = smtpserver_spool_read(s, buf + got, (size_t)s->size - got, e)) > 0;)
		got += (size_t)n;
	s->rpos = pos;
	if (got != s->size) {
		free(buf);
		budget_release(s->size);
		return NULL;
	}
	buf[got] = '\0';
	s->loaded = buf;
	return buf;
}
