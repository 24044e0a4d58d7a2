/* corpus_test.c: round trips over real messages from the shared external
 * test data (TERN_EXTERNAL_TESTS, set by meson): the first 200 ham messages
 * of the SpamAssassin corpus as message files, written as mbox, read back,
 * written as maildir (and as archives), read back, compared; and GMime's
 * test mbox split at the offsets its expected output gives. A missing
 * directory fails the test. */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define HAM_COUNT 200

static struct tmsg orig[TMSG_MAX], via_mbox[TMSG_MAX], via_maildir[TMSG_MAX];

static const char *root(void)
{
	const char *r = getenv("TERN_EXTERNAL_TESTS");
	if (r == NULL)
		fail_msg("TERN_EXTERNAL_TESTS is not set");
	DIR *d = opendir(r);
	if (d == NULL)
		fail_msg("external tests directory %s is missing", r);
	closedir(d);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies the first HAM_COUNT files (by name) of the ham directory to dst. */
static void copy_ham(const char *dst)
{
	char src[1024];
	snprintf(src, sizeof(src), "%s/spam-corpus-train/ham", root());
	DIR *d = opendir(src);
	if (d == NULL)
		fail_msg("missing %s", src);
	char *names[4096];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && n < 4096)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	assert_true(n >= HAM_COUNT);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i < HAM_COUNT) {
			char from[2048], to[2048];
			snprintf(from, sizeof(from), "%s/%s", src, names[i]);
			snprintf(to, sizeof(to), "%s/%s", dst, names[i]);
			size_t len;
			FILE *f = fopen(from, "rb");
			assert_non_null(f);
			static char data[4 << 20];
			len = fread(data, 1, sizeof(data), f);
			fclose(f);
			t_write_file(to, data, len);
		}
		free(names[i]);
	}
}

static void write_all(enum mailfmt_kind kind, enum mailfmt_archive ar, const char *dest,
                      const struct tmsg *m, int n)
{
	struct mailfmt_writer *w;
	struct error e;
	assert_int_equal(mailfmt_writer_open(kind, ar, dest, &w, &e), 0);
	for (int i = 0; i < n; i++) {
		const char *kw[MAILFMT_KEYWORDS_MAX];
		for (size_t k = 0; k < m[i].nkw; k++)
			kw[k] = m[i].kw[k];
		if (mailfmt_writer_begin(w, m[i].mailbox, m[i].flags, kw, m[i].nkw, m[i].received,
		                         &e) < 0)
			fail_msg("begin: %s", e.msg);
		/* odd chunk sizes, so that CRLFs and "From " are cut */
		size_t off = 0, chunk = 1;
		while (off < m[i].data.len) {
			size_t k = m[i].data.len - off < chunk ? m[i].data.len - off : chunk;
			assert_int_equal(mailfmt_writer_write(w, m[i].data.data + off, k, &e), 0);
			off += k;
			chunk = chunk * 3 % 997 + 1;
		}
		assert_int_equal(mailfmt_writer_end(w, &e), 0);
	}
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
}

static void assert_same(const struct tmsg *a, const struct tmsg *b, int n)
{
	for (int i = 0; i < n; i++) {
		assert_string_equal(a[i].mailbox, b[i].mailbox);
		assert_int_equal(a[i].flags, b[i].flags);
		assert_int_equal(a[i].received, b[i].received);
		assert_int_equal(a[i].nkw, b[i].nkw);
		assert_int_equal(a[i].data.len, b[i].data.len);
		assert_memory_equal(a[i].data.data, b[i].data.data, a[i].data.len);
	}
}

static int read_back(enum mailfmt_kind kind, const char *path, struct tmsg *out)
{
	struct error e;
	int n = t_read_all_opts(kind, path, NULL, 1000, out, &e);
	if (n < 0)
		fail_msg("reading %s: %s", path, e.msg);
	return n;
}

static void test_ham_round_trip(void **state)
{
	char *dir = t_tmpdir();
	char files[512], mbox[512], maildir[512], zip[512], tgz[512];
	snprintf(files, sizeof(files), "%s/files", dir);
	snprintf(mbox, sizeof(mbox), "%s/mbox", dir);
	snprintf(maildir, sizeof(maildir), "%s/maildir", dir);
	snprintf(zip, sizeof(zip), "%s/out.zip", dir);
	snprintf(tgz, sizeof(tgz), "%s/out.tgz", dir);
	copy_ham(files);
	int n = read_back(MAILFMT_FILES, files, orig);
	assert_int_equal(n, HAM_COUNT);
	/* Each ham file starts with its own "From " line: mbox quoting is used. */
	assert_memory_equal(orig[0].data.data, "From ", 5);

	write_all(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, mbox, orig, n);
	assert_int_equal(read_back(MAILFMT_AUTO, mbox, via_mbox), n);
	assert_same(orig, via_mbox, n);

	write_all(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, maildir, via_mbox, n);
	assert_int_equal(read_back(MAILFMT_AUTO, maildir, via_maildir), n);
	assert_same(via_mbox, via_maildir, n);
	t_free_all(via_maildir, n);

	write_all(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_ZIP, zip, orig, n);
	assert_int_equal(read_back(MAILFMT_AUTO, zip, via_maildir), n);
	assert_same(orig, via_maildir, n);
	t_free_all(via_maildir, n);

	write_all(MAILFMT_MBOX, MAILFMT_ARCHIVE_TGZ, tgz, orig, n);
	assert_int_equal(read_back(MAILFMT_AUTO, tgz, via_maildir), n);
	assert_same(orig, via_maildir, n);

	/* a ham file read as an mbox: the message after its "From " line */
	char one[1024];
	snprintf(one, sizeof(one), "%s/%s", files, "easy_ham.00001.7c53336b37003a9286aba55d2945844c");
	buf_free(&via_mbox[1].data);  /* reused below */
	assert_int_equal(read_back(MAILFMT_AUTO, one, via_mbox + 1), 1);
	const char *lf = memchr(orig[0].data.data, '\n', orig[0].data.len);
	size_t skip = (size_t)(lf + 1 - orig[0].data.data);
	size_t want = orig[0].data.len - skip;
	if (want >= 4 && memcmp(orig[0].data.data + orig[0].data.len - 4, "\r\n\r\n", 4) == 0)
		want -= 2;  /* a last empty line is an mbox separator */
	assert_int_equal(via_mbox[1].data.len, want);
	assert_memory_equal(via_mbox[1].data.data, orig[0].data.data + skip, want);
	assert_int_equal(via_mbox[1].received, 1030019783);  /* Thu Aug 22 12:36:23 2002 */
	buf_free(&via_mbox[1].data);

	t_free_all(orig, n);
	t_free_all(via_mbox, n);
	t_free_all(via_maildir, n);
	t_rmrf(dir);
}

/* GMime's test mbox: three messages at the offsets its expected output lists. */
static void test_gmime_mbox(void **state)
{
	const char *top = root();
	
	char path[1024];
	snprintf(path, sizeof(path), "%s/mime-gmime/mbox/input/substring.mbox", top);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("missing %s", path);
	static char in[4096];
	size_t len = fread(in, 1, sizeof(in), f);
	fclose(f);
	static const size_t off[] = {0, 526, 1029, 1535};  /* "message offsets" */
	assert_int_equal(len, off[3]);
	struct error e;
	struct mailfmt_reader_opts o = {.mbox_split_any_from = true};
	int n = t_read_all_opts(MAILFMT_AUTO, path, &o, 8192, orig, &e);
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++) {
		const char *start = (const char *)memchr(in + off[i], '\n', off[i + 1] - off[i]) + 1;
		size_t want = (size_t)(in + off[i + 1] - start);
		assert_true(t_same_modulo_crlf(orig[i].data.data, orig[i].data.len, start, want));
		assert_int_equal(orig[i].received, -1);  /* "From - " has no date */
	}
	t_free_all(orig, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ham_round_trip),
		cmocka_unit_test(test_gmime_mbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
