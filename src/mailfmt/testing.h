/*
 * testing.h: small helpers shared by the unit tests of src/mailfmt/ (files
 * in a temporary directory, whole messages read into memory). Only the tests
 * include it: holding a message whole is fine for test data only.
 */
#ifndef TERN_MAILFMT_TESTING_H
#define TERN_MAILFMT_TESTING_H

#include "mailfmt/mailfmt.h"

#include "core/buf.h"
#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A message as read whole by a test. */
struct tmsg {
	char mailbox[MAILFMT_MAILBOX_NAME_MAX + 1];
	unsigned flags;
	size_t nkw;
	char kw[MAILFMT_KEYWORDS_MAX][MAILFMT_KEYWORD_LEN_MAX + 1];
	int64_t received;
	struct buf data;
};

#define TMSG_MAX 512

static inline void t_write_file(const char *path, const void *data, size_t n)
{
	struct error e;
	char *copy = strdup(path);
	char *slash = strrchr(copy, '/');
	*slash = '\0';
	if (file_mkdir_all(copy, 0700, &e) < 0)
		abort();
	free(copy);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0)
		abort();
}

static inline void t_write_str(const char *path, const char *s)
{
	t_write_file(path, s, strlen(s));
}

static inline char *t_tmpdir(void)
{
	char *d = strdup("/tmp/ternmailfmtXXXXXX");
	if (mkdtemp(d) == NULL)
		abort();
	return d;
}

static inline void t_rmrf(char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		abort();
	free(dir);
}

/* Reads the current message whole with reads of chunk bytes. Returns 0/-1. */
static inline int t_read_body(struct mailfmt_reader *r, struct buf *b, size_t chunk,
                              struct error *e)
{
	char tmp[8192];
	if (chunk > sizeof(tmp))
		chunk = sizeof(tmp);
	for (;;) {
		ssize_t n = mailfmt_reader_read(r, tmp, chunk, e);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (buf_append(b, tmp, (size_t)n) < 0)
			abort();
	}
}

/* Reads all messages of path into out (up to TMSG_MAX). Returns the count
 * or -1 with e set. Free with t_free_all. */
static inline int t_read_all_opts(enum mailfmt_kind kind, const char *path,
                                  const struct mailfmt_reader_opts *opts, size_t chunk,
                                  struct tmsg *out, struct error *e)
{
	struct mailfmt_reader *r;
	if (mailfmt_reader_open(kind, path, opts, &r, e) < 0)
		return -1;
	int n = 0;
	for (;;) {
		struct mailfmt_msg m;
		int ret = mailfmt_reader_next(r, &m, e);
		if (ret <= 0) {
			mailfmt_reader_free(&r);
			return ret < 0 ? -1 : n;
		}
		if (n == TMSG_MAX)
			abort();
		struct tmsg *t = &out[n++];
		memset(t, 0, sizeof(*t) - sizeof(t->data));
		snprintf(t->mailbox, sizeof(t->mailbox), "%s", m.mailbox);
		t->flags = m.flags;
		t->received = m.received;
		t->nkw = m.nkeywords;
		for (size_t i = 0; i < m.nkeywords; i++)
			snprintf(t->kw[i], sizeof(t->kw[i]), "%s", m.keywords[i]);
		buf_init(&t->data, BUF_UNBOUNDED);
		if (t_read_body(r, &t->data, chunk, e) < 0) {
			mailfmt_reader_free(&r);
			return -1;
		}
	}
}

static inline int t_read_all(enum mailfmt_kind kind, const char *path, struct tmsg *out,
                             struct error *e)
{
	return t_read_all_opts(kind, path, NULL, 8192, out, e);
}

static inline void t_free_all(struct tmsg *m, int n)
{
	for (int i = 0; i < n; i++)
		buf_free(&m[i].data);
}

/* Compares bytes after turning every CRLF into LF in both. */
static inline bool t_same_modulo_crlf(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;
	for (;;) {
		if (i < an && a[i] == '\r' && i + 1 < an && a[i + 1] == '\n')
			i++;
		if (j < bn && b[j] == '\r' && j + 1 < bn && b[j + 1] == '\n')
			j++;
		if (i == an || j == bn)
			return i == an && j == bn;
		if (a[i++] != b[j++])
			return false;
	}
}

#endif
