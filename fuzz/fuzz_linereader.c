/*
 * fuzz_linereader.c: libFuzzer target for the line reader of src/core/conn.c
 * (conn_read_line, conn_skip_line), the first code that sees every byte a
 * mail client sends.
 *
 * The input is pre-written into a pipe (conn reads any fd) and read back as
 * lines with a small line limit, so that the limit and the skip after it are
 * reached often. Each line is checked against the input itself: its bytes,
 * its terminator (CRLF or bare LF, RFC 5321 §2.3.8), its length against the
 * limit, and the memory bound of the input buffer.
 */
#include "core/conn.h"
#include "core/error.h"
#include "fuzz_pipe.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Small, so that over-long lines are common. */
#define FUZZ_LINE_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Checks a returned line against the input at *pos and moves past it. */
static void check_line(const uint8_t *data, size_t size, size_t *pos, const struct conn_line *l)
{
	size_t total = l->len + (l->crlf ? 2 : 1);
	check(total <= FUZZ_LINE_MAX);
	check(*pos + total <= size);
	check(memcmp(data + *pos, l->data, l->len) == 0);
	check(l->data[l->len] == '\0');
	check(memchr(l->data, '\n', l->len) == NULL);
	if (l->crlf)
		check(data[*pos + l->len] == '\r');
	else
		check(l->len == 0 || l->data[l->len - 1] != '\r');
	check(data[*pos + total - 1] == '\n');
	*pos += total;
}

/* After ERR_LIMIT: no LF within the limit; skip to past the next LF. */
static bool check_skip(struct conn *c, const uint8_t *data, size_t size, size_t *pos)
{
	size_t rest = size - *pos;
	check(rest >= FUZZ_LINE_MAX);
	check(memchr(data + *pos, '\n', FUZZ_LINE_MAX) == NULL);
	const uint8_t *lf = memchr(data + *pos, '\n', rest);
	struct error e;
	if (conn_skip_line(c, &e) < 0) {
		check(e.kind == ERR_CLOSED && lf == NULL);
		return false;
	}
	check(lf != NULL);
	*pos = (size_t)(lf - data) + 1;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = pipe_with(data, &size);
	struct error e;
	struct conn *c = conn_new(fd, FUZZ_LINE_MAX, &e);
	check(c != NULL);
	size_t pos = 0;
	for (;;) {
		struct conn_line line;
		if (conn_read_line(c, &line, &e) == 0) {
			check_line(data, size, &pos, &line);
			continue;
		}
		if (e.kind == ERR_LIMIT) {
			if (check_skip(c, data, size, &pos))
				continue;
			break;
		}
		/* End of input: what is left is a partial line within the limit. */
		check(e.kind == ERR_CLOSED);
		check(size - pos < FUZZ_LINE_MAX);
		check(memchr(data + pos, '\n', size - pos) == NULL);
		break;
	}
	struct conn_stats st;
	conn_stats(c, &st);
	check(st.bytes_in == size);
	check(st.in_buf_peak <= st.in_buf_bound);
	conn_free(&c);
	return 0;
}
