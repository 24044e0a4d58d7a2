/* memory_test.c: reading a 200 MB mbox (generated to a temporary file,
 * never held in memory) keeps the peak resident size within a few MB
 * (RSS_GROWTH_MAX_KB):
 * many ordinary messages, one 40 MB message, one 8 MB line, a header of 1 MB.
 * Also a 20 MB message written to a maildir in a tar.gz archive. */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <cmocka.h>

#define TOTAL_BYTES (200u << 20)
/* Allowed growth of the peak resident size while reading, in KiB. */
#define RSS_GROWTH_MAX_KB (4 * 1024)

/* Peak resident size of this process image: VmHWM, because getrusage's
 * ru_maxrss keeps the peak of the image before exec (the test runner's). */
static long max_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	if (kb < 0) {
		struct rusage ru;
		assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
		kb = ru.ru_maxrss;
	}
	return kb;
}

/* Appends n bytes of text lines (LF) to f, every 40th line "From ". */
static void put_lines(FILE *f, size_t n, size_t line_len)
{
	static char line[128];
	size_t i = 0;
	while (n > 0) {
		size_t k = line_len < n ? line_len : n;
		memset(line, 'a' + (char)(i % 26), k);
		if (i % 40 == 39 && k > 6)
			memcpy(line, ">From ", 6);
		line[k - 1] = '\n';
		assert_int_equal(fwrite(line, 1, k, f), k);
		n -= k;
		i++;
	}
}

static void put_long_line(FILE *f, size_t n)
{
	static char chunk[4096];
	memset(chunk, 'L', sizeof(chunk));
	for (; n > sizeof(chunk); n -= sizeof(chunk))
		assert_int_equal(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
	fputs("\n", f);
}

/* Writes the mbox and returns its message count. */
static int generate(const char *path)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	int count = 0;
	for (long written = 0; written < (long)TOTAL_BYTES; written = ftell(f), count++) {
		fprintf(f, "From x Thu Jan  1 00:00:00 1970\nSubject: %d\nStatus: R\n", count);
		if (count == 10)
			put_lines(f, 1 << 20, 100);  /* a 1 MB header */
		fputs("\n", f);
		if (count == 20)
			put_lines(f, 40u << 20, 77);
		else if (count == 30)
			put_long_line(f, 8u << 20);
		else
			put_lines(f, 100 * 1024, 77);
		fputs("\n", f);
	}
	assert_int_equal(fclose(f), 0);
	return count;
}

static void test_big_mbox(void **state)
{
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/big.mbox", dir);
	int count = generate(path);
	struct mailfmt_reader *r;
	struct error e;
	/* warm up: one message through every code path before measuring */
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, path, NULL, &r, &e), 0);
	struct mailfmt_msg m;
	static char buf[64 * 1024];
	assert_int_equal(mailfmt_reader_next(r, &m, &e), 1);
	while (mailfmt_reader_read(r, buf, sizeof(buf), &e) > 0)
		;
	long before = max_rss_kb();
	int n = 1;
	uint64_t bytes = 0;
	int ret;
	while ((ret = mailfmt_reader_next(r, &m, &e)) == 1) {
		assert_int_equal(m.flags, MAILFMT_SEEN);
		n++;
		ssize_t k;
		while ((k = mailfmt_reader_read(r, buf, sizeof(buf), &e)) > 0)
			bytes += (uint64_t)k;
		assert_int_equal(k, 0);
	}
	assert_int_equal(ret, 0);
	long after = max_rss_kb();
	assert_int_equal(n, count);
	assert_true(bytes > TOTAL_BYTES);  /* CRLF makes it grow */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(mailfmt_reader_offset(r), (uint64_t)st.st_size);
	mailfmt_reader_free(&r);
	print_message("# mbox: %d messages, %llu bytes out, peak RSS %ld KiB -> %ld KiB\n", n,
	              (unsigned long long)bytes, before, after);
	assert_true(after - before < RSS_GROWTH_MAX_KB);
	t_rmrf(dir);
}

static void test_big_message_tgz(void **state)
{
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/out.tgz", dir);
	struct mailfmt_writer *w;
	struct error e;
	static char chunk[64 * 1024];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'x';
	long before = max_rss_kb();
	assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_TGZ, path, &w, &e), 0);
	assert_int_equal(mailfmt_writer_begin(w, "Inbox", 0, NULL, 0, 1, &e), 0);
	for (int i = 0; i < 320; i++)
		assert_int_equal(mailfmt_writer_write(w, chunk, sizeof(chunk), &e), 0);
	assert_int_equal(mailfmt_writer_end(w, &e), 0);
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	struct mailfmt_reader *r;
	assert_int_equal(mailfmt_reader_open(MAILFMT_AUTO, path, NULL, &r, &e), 0);
	struct mailfmt_msg m;
	assert_int_equal(mailfmt_reader_next(r, &m, &e), 1);
	uint64_t bytes = 0;
	ssize_t k;
	while ((k = mailfmt_reader_read(r, chunk, sizeof(chunk), &e)) > 0)
		bytes += (uint64_t)k;
	assert_int_equal(bytes, 320u * sizeof(chunk));
	assert_int_equal(mailfmt_reader_next(r, &m, &e), 0);
	mailfmt_reader_free(&r);
	long after = max_rss_kb();
	print_message("# tgz: 20 MB message, peak RSS %ld KiB -> %ld KiB\n", before, after);
	assert_true(after - before < RSS_GROWTH_MAX_KB);
	t_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_mbox),
		cmocka_unit_test(test_big_message_tgz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
