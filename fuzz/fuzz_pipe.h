/*
 * fuzz_pipe.h: what the fuzz targets that read through a conn share: an
 * abort on a broken invariant (libFuzzer reports it), and the input written
 * into a pipe so a conn can read it with no socket and no writer thread.
 */
#ifndef TERN_FUZZ_PIPE_H
#define TERN_FUZZ_PIPE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* Writes data into a new pipe and returns its read end; *size is cut to what
 * the pipe holds. */
static int pipe_with(const uint8_t *data, size_t *size)
{
	int p[2];
	check(pipe2(p, O_CLOEXEC) == 0);
	int cap = fcntl(p[1], F_GETPIPE_SZ);
	check(cap > 0);
	if (*size > (size_t)cap)
		*size = (size_t)cap;
	size_t off = 0;
	while (off < *size) {
		ssize_t n = write(p[1], data + off, *size - off);
		check(n > 0);
		off += (size_t)n;
	}
	close(p[1]);
	return p[0];
}

#endif
