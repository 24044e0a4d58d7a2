/*
 * fuzz_smtp_data.c: libFuzzer target for the DATA reader of src/smtp/data.c
 * (smtp_data_read), the code that decides where a message ends.
 *
 * The input is pre-written into a pipe (as fuzz_linereader.c does) and read
 * with a small conn line limit, so long lines take the reader's other path.
 * Checks: when the reader says it is synced, the input consumed ends in
 * CRLF "." CRLF and no earlier CRLF "." CRLF exists after the start (the true
 * end-of-data was found, not a smuggled one); an accepted message has only
 * CRLF line endings and no NUL; the size limit holds.
 */
#include "smtp/smtp.h"

#include "core/buf.h"
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

/* Small, so that lines over the limit are common. */
#define FUZZ_LINE_MAX 64
/* Small, so that the size limit is reached often. */
#define FUZZ_MSG_MAX 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Offset just past the first end-of-data in data, counting the DATA
 * command's CRLF as preceding the start; 0 if none. */
static size_t true_end(const uint8_t *data, size_t size)
{
	if (size >= 3 && memcmp(data, ".\r\n", 3) == 0)
		return 3;
	for (size_t i = 0; i + 5 <= size; i++)
		if (memcmp(data + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = pipe_with(data, &size);
	struct error e;
	struct conn *c = conn_new(fd, FUZZ_LINE_MAX, &e);
	check(c != NULL);
	struct buf msg;
	buf_init(&msg, 1 << 20);
	struct smtp_data_result res;
	int rc = smtp_data_read(c, FUZZ_MSG_MAX, smtp_data_sink_buf, &msg, &res, &e);
	size_t end = true_end(data, size);
	struct conn_stats st;
	conn_stats(c, &st);
	if (res.synced) {
		check(end > 0);
		check(st.bytes_in - conn_in_pending(c) == end);
	} else {
		check(rc == -1 && e.kind == ERR_CLOSED && end == 0);
	}
	if (rc == 0) {
		check(msg.len <= FUZZ_MSG_MAX && msg.len == res.size);
		check(memchr(msg.data, '\0', msg.len) == NULL);
		for (size_t i = 0; i < msg.len; i++) {
			if (msg.data[i] == '\n')
				check(i > 0 && msg.data[i - 1] == '\r');
			if (msg.data[i] == '\r')
				check(i + 1 < msg.len && msg.data[i + 1] == '\n');
		}
	} else {
		check(res.hint.code >= 400 && res.hint.code <= 554);
	}
	buf_free(&msg);
	conn_free(&c);
	return 0;
}
