/* corpus_test.c: round trips over real messages from the shared external
 * test data (TERN_EXTERNAL_TESTS, set by meson): the first 200 ham messages
 * of the SpamAssassin corpus as message files, written as mbox, read back,
 * written as maildir (and as archives), read back, compared; all 2075 ham
 * messages through mbox twice (files -> mbox -> read -> mbox -> read), each
 * compared byte for byte (apart from line endings) with its file, and each
 * file that starts with "From " read as an mbox itself, then through mbox
 * twice, unchanged; and GMime's test mbox split at the offsets its expected
 * output gives. A missing directory fails the test. */
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

/* ---- the whole ham corpus through mbox: byte for byte ---- */

/* Messages per batch (the test holds a batch in memory, three times). */
#define BATCH 480

/* The ham directory and its file names, sorted. Returns the count. */
static size_t ham_list(char *dir, size_t dirsize, char ***names_r)
{
	snprintf(dir, dirsize, "%s/spam-corpus-train/ham", root());
	DIR *d = opendir(dir);
	if (d == NULL)
		fail_msg("missing %s", dir);
	size_t n = 0, cap = 4096;
	char **names = malloc(cap * sizeof(*names));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap)
			names = realloc(names, (cap *= 2) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	*names_r = names;
	return n;
}

static char *slurp(const char *path, size_t *n_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	char tmp[65536];
	size_t k;
	while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, k);
	fclose(f);
	*n_r = b.len;
	return buf_steal(&b);
}

/* Appends p[0..n) to b with one '>' removed from lines matching /^>+From /
 * (mboxrd unquoting). */
static void unquote(struct buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; ) {
		const char *lf = memchr(p + i, '\n', n - i);
		size_t len = lf != NULL ? (size_t)(lf - (p + i)) + 1 : n - i;
		size_t gt = 0;
		while (gt < len && p[i + gt] == '>')
			gt++;
		size_t skip = gt > 0 && len - gt >= 5 && memcmp(p + i + gt, "From ", 5) == 0;
		buf_append(b, p + i + skip, len - skip);
		i += len;
	}
}

/* Writes m[0..n) as mbox into dir/name and reads it back into out. */
static void through_mbox(const char *dir, const char *name, const struct tmsg *m, int n,
                         struct tmsg *out)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_all(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, path, m, n);
	assert_int_equal(read_back(MAILFMT_AUTO, path, out), n);
}

/* Messages seen with flag headers of their own (hard_ham has X-Status and
 * X-Keywords lines with empty values). */
static int with_flag_headers;

/* files -> mbox -> read -> mbox -> read: every message as its file. */
static void ham_files_batch(const char *src, char **names, size_t count)
{
	char *dir = t_tmpdir();
	char files[512];
	snprintf(files, sizeof(files), "%s/files", dir);
	for (size_t i = 0; i < count; i++) {
		char from[2048], to[1024];
		snprintf(from, sizeof(from), "%s/%s", src, names[i]);
		snprintf(to, sizeof(to), "%s/%05zu", files, i);  /* read in this order */
		size_t len;
		char *data = slurp(from, &len);
		t_write_file(to, data, len);
		free(data);
	}
	int n = read_back(MAILFMT_FILES, files, orig);
	assert_int_equal(n, (int)count);
	through_mbox(dir, "mbox1", orig, n, via_mbox);
	assert_same(orig, via_mbox, n);
	through_mbox(dir, "mbox2", via_mbox, n, via_maildir);
	assert_same(orig, via_maildir, n);
	for (int i = 0; i < n; i++) {
		char from[2048];
		snprintf(from, sizeof(from), "%s/%s", src, names[i]);
		size_t len;
		char *data = slurp(from, &len);
		if (!t_same_modulo_crlf(via_maildir[i].data.data, via_maildir[i].data.len, data, len))
			fail_msg("%s changed on its way through mbox", names[i]);
		if (memmem(data, len, "\nX-Status: ", 11) != NULL)
			with_flag_headers++;
		free(data);
	}
	t_free_all(orig, n);
	t_free_all(via_mbox, n);
	t_free_all(via_maildir, n);
	t_rmrf(dir);
}

/* Each file starting "From " read as an mbox, then through mbox twice: the
 * same messages, and a file of one message gives its text after the "From "
 * line (less a last empty line, the mbox separator). */
static int ham_mbox_batch(const char *src, char **names, size_t count)
{
	int n = 0, files = 0;
	for (size_t i = 0; i < count; i++) {
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s", src, names[i]);
		size_t len;
		char *data = slurp(path, &len);
		if (len < 5 || memcmp(data, "From ", 5) != 0) {
			free(data);
			continue;
		}
		files++;
		struct error e;
		int k = t_read_all_opts(MAILFMT_MBOX, path, NULL, 1000, orig + n, &e);
		if (k < 1)
			fail_msg("%s: read as mbox: %d", names[i], k);
		if (k == 1) {
			const char *lf = memchr(data, '\n', len);
			size_t skip = (size_t)(lf + 1 - data), want = len - skip;
			if (want >= 2 && memcmp(data + len - 2, "\n\n", 2) == 0)
				want--;  /* a last empty line is an mbox separator */
			struct buf text;
			buf_init(&text, BUF_UNBOUNDED);
			unquote(&text, data + skip, want);
			if (!t_same_modulo_crlf(orig[n].data.data, orig[n].data.len, text.data, text.len))
				fail_msg("%s read as an mbox is not its text", names[i]);
			buf_free(&text);
		}
		n += k;
		free(data);
	}
	char *dir = t_tmpdir();
	through_mbox(dir, "mbox1", orig, n, via_mbox);
	assert_same(orig, via_mbox, n);
	through_mbox(dir, "mbox2", via_mbox, n, via_maildir);
	assert_same(orig, via_maildir, n);
	t_free_all(orig, n);
	t_free_all(via_mbox, n);
	t_free_all(via_maildir, n);
	t_rmrf(dir);
	return files;
}

static void test_ham_mbox_identity(void **state)
{
	char src[1024];
	char **names;
	size_t count = ham_list(src, sizeof(src), &names);
	assert_true(count >= 2000);
	for (size_t i = 0; i < count; i += BATCH)
		ham_files_batch(src, names + i, count - i < BATCH ? count - i : BATCH);
	/* a file may hold more than one message ("From " after an empty line) */
	int as_mbox = 0;
	for (size_t i = 0; i < count; i += BATCH / 4)
		as_mbox += ham_mbox_batch(src, names + i, count - i < BATCH / 4 ? count - i : BATCH / 4);
	print_message("# ham: %zu files through mbox, %d of them read as mbox files\n", count,
	              as_mbox);
	assert_true(as_mbox > (int)count / 2);
	assert_true(with_flag_headers >= 10);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
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
		cmocka_unit_test(test_ham_mbox_identity),
		cmocka_unit_test(test_gmime_mbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
