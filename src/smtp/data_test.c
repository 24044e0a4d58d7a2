/*
 * data_test.c: the DATA reader (data.c) over a socketpair: plain and
 * dot-stuffed messages, the size limit at and one past it, input one byte
 * at a time, lines longer than the conn's line limit, and the SMTP smuggling
 * vectors of ../shared/external-tests/smtp-smuggling/vectors.tsv (via
 * $TERN_EXTERNAL_TESTS).
 *
 * Each smuggling vector is sent as
 *     "Subject: x\r\n\r\nbody" VECTOR "MAIL FROM:<x@example.org>\r\n"
 *     "RCPT TO:<y@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n" "QUIT\r\n"
 * and must be refused (ERR_INVALID, synced) with "QUIT" the next line on the
 * conn: the reader went on to the true CRLF "." CRLF, so the smuggled
 * transaction was swallowed as data of the refused message. Outcomes:
 *     lflf, crcr, crlf, lfcr, lfcrlf, crlflf, crcrlf, crlfcr
 *         500 5.5.2 (bare CR or LF), synced;
 *     nullbefore, nullafter
 *         554 5.6.0 (NUL in data), synced.
 * No vector leads to a closed connection: only end of input does.
 */
#include "smtp/smtp.h"

#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/test_external.h"

struct feed {
	int fd;
	const char *p;
	size_t n;
	bool bytewise;
};

static void *writer(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;
	while (off < f->n) {
		size_t k = f->bytewise ? 1 : f->n - off;
		ssize_t w = write(f->fd, f->p + off, k);
		if (w <= 0)
			break;
		off += (size_t)w;
		if (f->bytewise)
			usleep(20);
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

struct run {
	int rc;
	struct error e;
	struct smtp_data_result res;
	struct buf msg;
	char next[64];  /* the line after the data, or "" */
};

/* Feeds input through a socketpair into smtp_data_read with a conn line
 * limit of 512 (as for commands), then reads one more line. */
static void run(const char *in, size_t n, uint64_t max, bool bytewise, struct run *r)
{
	int sv[2];
	pthread_t t;
	struct error e;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct conn *c = conn_new(sv[0], SMTP_COMMAND_LINE_MAX, &e);
	assert_non_null(c);
	struct feed f = { sv[1], in, n, bytewise };
	assert_int_equal(pthread_create(&t, NULL, writer, &f), 0);
	memset(r, 0, sizeof(*r));
	buf_init(&r->msg, 1 << 20);
	r->rc = smtp_data_read(c, max, smtp_data_sink_buf, &r->msg, &r->res, &r->e);
	struct conn_line line;
	if (r->res.synced && conn_read_line(c, &line, &e) == 0)
		snprintf(r->next, sizeof(r->next), "%.*s", (int)line.len, line.data);
	pthread_join(t, NULL);
	close(sv[1]);
	conn_free(&c);
}

static void run_str(const char *in, uint64_t max, struct run *r)
{
	run(in, strlen(in), max, false, r);
}

static void test_plain(void **state)
{
	struct run r;
	run_str("Subject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n", 0, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.synced);
	assert_string_equal(r.msg.data, "Subject: hi\r\n\r\nHello\r\n");
	assert_int_equal(r.res.size, 22);
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
	/* empty message: the DATA command's CRLF is the CRLF before the dot */
	run_str(".\r\nQUIT\r\n", 0, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.msg.len, 0);
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
}

static void test_dots(void **state)
{
	struct run r;
	/* RFC 5321 §4.5.2: a leading dot is removed; ".." is a line of one dot */
	run_str("..a\r\n..\r\nb.\r\n...\r\n .\r\n.\r\nQUIT\r\n", 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.msg.data, ".a\r\n.\r\nb.\r\n..\r\n .\r\n");
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
}

static void test_size(void **state)
{
	struct run r;
	run_str("abc\r\n.\r\nQUIT\r\n", 5, &r);   /* exactly at the limit */
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.msg.data, "abc\r\n");
	buf_free(&r.msg);
	run_str("abc\r\nmore\r\n.\r\nQUIT\r\n", 4, &r);   /* past it */
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.e.kind, ERR_LIMIT);
	assert_int_equal(r.res.hint.code, 552);
	assert_string_equal(r.res.hint.enhanced, "5.3.4");
	assert_true(r.res.synced);
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
	run_str("abcd\r\n.\r\nQUIT\r\n", 5, &r);   /* one past: the LF is byte 6 */
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.e.kind, ERR_LIMIT);
	buf_free(&r.msg);
}

static void test_bytewise(void **state)
{
	struct run r;
	const char *in = "From: a\r\n\r\n..x\r\nline\r\n.\r\nQUIT\r\n";
	run(in, strlen(in), 0, true, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.msg.data, "From: a\r\n\r\n.x\r\nline\r\n");
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
	in = "a\nb\r\n.\r\nQUIT\r\n";
	run(in, strlen(in), 0, true, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.e.kind, ERR_INVALID);
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
}

static void test_long_lines(void **state)
{
	struct run r;
	size_t n = 5000;
	char *in = malloc(n + 32);
	memset(in, 'x', n);
	in[0] = '.';  /* stuffed */
	in[3000] = '\r';  /* a bare CR far past the conn's line limit */
	memcpy(in + n, "\r\n.\r\nQUIT\r\n", 11);
	run(in, n + 11, 0, false, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.e.kind, ERR_INVALID);
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
	in[3000] = 'x';
	run(in, n + 11, 0, false, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.msg.len, n - 1 + 2);
	assert_string_equal(r.next, "QUIT");
	buf_free(&r.msg);
	free(in);
}

static void test_closed(void **state)
{
	struct run r;
	run_str("abc\r\n", 0, &r);
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.e.kind, ERR_CLOSED);
	assert_false(r.res.synced);
	assert_int_equal(r.res.hint.code, 421);
	buf_free(&r.msg);
	run_str("abc\r\n.\r", 0, &r);   /* "\r\n.\r" then close: not an end */
	assert_int_equal(r.e.kind, ERR_CLOSED);
	buf_free(&r.msg);
}

static int failing_sink(void *ctx, const char *p, size_t n, struct error *e)
{
	return error_set(e, ERR_IO, "disk full");
}

static void test_sink_error(void **state)
{
	int sv[2];
	struct error e;
	struct smtp_data_result res;
	const char in[] = "abc\r\n.\r\nQUIT\r\n";
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], in, sizeof(in) - 1), (ssize_t)sizeof(in) - 1);
	struct conn *c = conn_new(sv[0], SMTP_COMMAND_LINE_MAX, &e);
	assert_non_null(c);
	assert_int_equal(smtp_data_read(c, 0, failing_sink, NULL, &res, &e), -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_string_equal(e.msg, "disk full");
	assert_true(res.synced);
	assert_int_equal(res.hint.code, 451);
	struct conn_line line;
	assert_int_equal(conn_read_line(c, &line, &e), 0);
	assert_string_equal(line.data, "QUIT");
	close(sv[1]);
	conn_free(&c);
}

/* \r \n \xHH escapes of vectors.tsv to bytes. */
static size_t unescape(const char *s, size_t n, char *o)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'r') {
			o[k++] = '\r';
			i++;
		} else if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'n') {
			o[k++] = '\n';
			i++;
		} else if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x') {
			char hex[3] = { s[i + 2], s[i + 3], 0 };
			o[k++] = (char)strtoul(hex, NULL, 16);
			i += 3;
		} else {
			o[k++] = s[i];
		}
	}
	return k;
}

static void test_smuggling(void **state)
{
	const char *d = test_external_dir();
	char path[4096];
	snprintf(path, sizeof(path), "%s/smtp-smuggling/vectors.tsv", d);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	char line[1024];
	int count = 0;
	static const char head[] = "Subject: x\r\n\r\nbody";
	static const char tail[] = "MAIL FROM:<x@example.org>\r\nRCPT TO:<y@example.org>\r\n"
		"DATA\r\nsmuggled\r\n.\r\nQUIT\r\n";
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char *tab1 = strchr(line, '\t');
		assert_non_null(tab1);
		char *tab2 = strchr(tab1 + 1, '\t');
		size_t vlen = tab2 != NULL ? (size_t)(tab2 - tab1 - 1) : strcspn(tab1 + 1, "\n");
		char in[2048];
		size_t n = 0;
		memcpy(in, head, sizeof(head) - 1);
		n += sizeof(head) - 1;
		n += unescape(tab1 + 1, vlen, in + n);
		memcpy(in + n, tail, sizeof(tail) - 1);
		n += sizeof(tail) - 1;
		*tab1 = '\0';
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct run r;
			run(in, n, 0, bytewise, &r);
			if (r.rc != -1 || r.e.kind != ERR_INVALID || !r.res.synced || strcmp(r.next, "QUIT") != 0)
				fail_msg("vector %s: rc %d (%s), synced %d, next line \"%s\"", line, r.rc, r.e.msg,
					r.res.synced, r.next);
			bool nul = strncmp(line, "null", 4) == 0;
			assert_int_equal(r.res.hint.code, nul ? 554 : 500);
			if (!nul)
				assert_non_null(strstr(r.res.hint.text, "smuggling"));
			buf_free(&r.msg);
		}
		print_message("# smuggling vector %s: refused, synced at the true end of data\n", line);
		count++;
	}
	fclose(f);
	assert_int_equal(count, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_dots),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_bytewise),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_closed),
		cmocka_unit_test(test_sink_error),
		cmocka_unit_test(test_smuggling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
