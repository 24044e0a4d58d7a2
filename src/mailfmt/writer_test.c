/* writer_test.c: unit tests for the writer (writer.c, archive_write.c):
 * exact output bytes, line endings and quoting across chunk boundaries,
 * archives read back, and the errors. */
#include "mailfmt/internal.h"
#include "mailfmt/testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>
#include <cmocka.h>

static struct tmsg msgs[TMSG_MAX];

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	char tmp[4096];
	size_t k;
	while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, k);
	fclose(f);
	*n = b.len;
	return buf_steal(&b);
}

static void assert_file(const char *dir, const char *rel, const char *want)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	size_t n;
	char *got = slurp(path, &n);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(got, want, n);
	free(got);
}

/* Writes one message, one byte per write when bytewise. */
static void write_msg(struct mailfmt_writer *w, const char *mailbox, unsigned flags,
                      const char *const *kw, size_t nkw, int64_t received, const char *data,
                      bool bytewise)
{
	struct error e;
	if (mailfmt_writer_begin(w, mailbox, flags, kw, nkw, received, &e) < 0)
		fail_msg("begin: %s", e.msg);
	size_t n = strlen(data);
	if (bytewise) {
		for (size_t i = 0; i < n; i++)
			assert_int_equal(mailfmt_writer_write(w, data + i, 1, &e), 0);
	} else {
		assert_int_equal(mailfmt_writer_write(w, data, n, &e), 0);
	}
	assert_int_equal(mailfmt_writer_end(w, &e), 0);
}

static const char *const kw1[] = {"work", "$Junk", "bad kw"};
static const char *const msg1 = "Subject: a\r\n\r\nFrom me\r\n>From you\r\n>>From x\r\n"
                                ">Fro\r\n\r\nlone\rcr\r\nend";

static void test_mbox_bytes(void **state)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		char *dir = t_tmpdir();
		struct mailfmt_writer *w;
		struct error e;
		assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, dir, &w, &e), 0);
		write_msg(w, "Inbox", MAILFMT_SEEN | MAILFMT_FLAGGED, kw1, 3, 10, msg1, bytewise);
		write_msg(w, "Inbox", 0, NULL, 0, 0, "", bytewise);
		write_msg(w, "a/b", MAILFMT_ANSWERED | MAILFMT_DRAFT | MAILFMT_DELETED, NULL, 0,
		          1030069973, "x\r\n", bytewise);
		assert_int_equal(mailfmt_writer_close(&w, &e), 0);
		assert_null(w);
		assert_file(dir, "Inbox.mbox",
		            "From MAILER-DAEMON Thu Jan  1 00:00:10 1970\nSubject: a\nStatus: RO\n"
		            "X-Status: F\nX-Keywords: work $Junk\n\n>From me\n>>From you\n>>>From x\n"
		            ">Fro\n\nlone\rcr\nend\n\n"
		            "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n\n");
		/* no empty line ends the header: added lines go at its top */
		assert_file(dir, "a/b.mbox",
		            "From MAILER-DAEMON Fri Aug 23 02:32:53 2002\nX-Status: ATD\nx\n\n");
		int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
		assert_int_equal(n, 3);
		assert_string_equal(msgs[0].mailbox, "Inbox");
		assert_string_equal(msgs[0].data.data, "Subject: a\r\nStatus: RO\r\nX-Status: F\r\n"
		                                       "X-Keywords: work $Junk\r\n\r\nFrom me\r\n"
		                                       ">From you\r\n>>From x\r\n>Fro\r\n\r\n"
		                                       "lone\rcr\r\nend\r\n");
		assert_int_equal(msgs[0].flags, MAILFMT_SEEN | MAILFMT_FLAGGED);
		assert_int_equal(msgs[0].nkw, 2);
		assert_int_equal(msgs[0].received, 10);
		assert_int_equal(msgs[1].data.len, 0);
		assert_string_equal(msgs[2].mailbox, "a/b");
		assert_int_equal(msgs[2].flags, MAILFMT_ANSWERED | MAILFMT_DRAFT | MAILFMT_DELETED);
		assert_int_equal(msgs[2].received, 1030069973);
		t_free_all(msgs, n);
		t_rmrf(dir);
	}
}

/* Writes msg as message after message of an mbox, once per cut in [cut0,
 * cut1), in pieces: whole (cut 0), one byte at a time (cut 1), or in two at
 * byte cut - 2. Returns the file. */
static char *mbox_of_cuts(unsigned flags, const char *const *kw, size_t nkw, const char *msg,
                          size_t msglen, size_t cut0, size_t cut1, size_t *n_r)
{
	char *dir = t_tmpdir();
	struct mailfmt_writer *w;
	struct error e;
	assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, dir, &w, &e), 0);
	for (size_t cut = cut0; cut < cut1; cut++) {
		assert_int_equal(mailfmt_writer_begin(w, "Inbox", flags, kw, nkw, 0, &e), 0);
		if (cut == 1) {
			for (size_t i = 0; i < msglen; i++)
				assert_int_equal(mailfmt_writer_write(w, msg + i, 1, &e), 0);
		} else {
			size_t k = cut == 0 ? msglen : cut - 2;
			assert_int_equal(mailfmt_writer_write(w, msg, k, &e), 0);
			assert_int_equal(mailfmt_writer_write(w, msg + k, msglen - k, &e), 0);
		}
		assert_int_equal(mailfmt_writer_end(w, &e), 0);
	}
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	char path[1024];
	snprintf(path, sizeof(path), "%s/Inbox.mbox", dir);
	char *got = slurp(path, n_r);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
	return got;
}

static char *mbox_of(unsigned flags, const char *const *kw, size_t nkw, const char *msg,
                     size_t msglen, size_t cut, size_t *n_r)
{
	return mbox_of_cuts(flags, kw, nkw, msg, msglen, cut, cut + 1, n_r);
}

/* Writes msg with flags and keywords, whole, byte by byte and cut at every
 * place: the file must be the From line, want (LF endings), an empty line.
 * Then reads it back: want with CRLF, the same flags and keywords. */
static void check_mbox(unsigned flags, const char *const *kw, size_t nkw, const char *msg,
                       const char *want)
{
	struct buf file;
	buf_init(&file, BUF_UNBOUNDED);
	buf_appendf(&file, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n%s\n", want);
	size_t msglen = strlen(msg);
	size_t cuts = msglen < 300 ? msglen + 3 : 2, n;
	char *got = mbox_of_cuts(flags, kw, nkw, msg, msglen, 0, cuts, &n);
	for (size_t cut = 0; cut < cuts; cut++) {
		const char *p = got + cut * file.len;
		if (n < (cut + 1) * file.len || memcmp(p, file.data, file.len) != 0)
			fail_msg("cut %zu: got\n%.*s\nwant\n%s", cut,
			         (int)(n > cut * file.len ? n - cut * file.len : 0), p, file.data);
	}
	assert_int_equal(n, cuts * file.len);
	free(got);
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/in.mbox", dir);
	t_write_file(path, file.data, file.len);
	struct error e;
	assert_int_equal(t_read_all(MAILFMT_MBOX, path, msgs, &e), 1);
	size_t wl = strlen(want);
	assert_true(t_same_modulo_crlf(msgs[0].data.data, msgs[0].data.len, want, wl));
	assert_int_equal(msgs[0].flags, flags);
	assert_int_equal(msgs[0].nkw, nkw);
	for (size_t i = 0; i < nkw; i++)
		assert_true(strcasecmp(msgs[0].kw[i], kw[i]) == 0 ||
		            (nkw == 2 && strcasecmp(msgs[0].kw[1 - i], kw[i]) == 0));
	t_free_all(msgs, 1);
	t_rmrf(dir);
	buf_free(&file);
}

static const char *const kw_ab[] = {"a", "b"};
static const char *const kw_c[] = {"c"};

static void test_mbox_flag_headers_kept(void **state)
{
	/* empty values, with spaces, no flags: as they are (a real mbox) */
	check_mbox(0, NULL, 0, "Subject: x\r\nX-Status: \r\nX-Keywords:    \r\nTo: y\r\n\r\nb\r\n",
	           "Subject: x\nX-Status: \nX-Keywords:    \nTo: y\n\nb\n");
	check_mbox(MAILFMT_SEEN, NULL, 0, "Status: RO\r\nSubject: x\r\n\r\nb\r\n",
	           "Status: RO\nSubject: x\n\nb\n");
	/* order, case, separators and folding do not matter */
	check_mbox(MAILFMT_SEEN | MAILFMT_FLAGGED | MAILFMT_ANSWERED, kw_ab, 2,
	           "status: OR\r\nX-STATUS: FA\r\nx-keywords: B,\r\n\tA\r\n\r\nb\r\n",
	           "status: OR\nX-STATUS: FA\nx-keywords: B,\n\tA\n\nb\n");
	/* what several lines of one name say together */
	check_mbox(MAILFMT_SEEN, kw_ab, 2, "Status: O\r\nX-Keywords: a\r\nStatus: R\r\n"
	           "X-Keywords: b\r\n\r\n", "Status: O\nX-Keywords: a\nStatus: R\nX-Keywords: b\n\n");
	/* a message of only a last line without line ending */
	check_mbox(MAILFMT_SEEN, NULL, 0, "Status: R", "Status: R\n");
	check_mbox(0, NULL, 0, "", "");
}

static void test_mbox_flag_headers_replaced(void **state)
{
	/* \Seen removed: the Status line changes where it is, nothing else */
	check_mbox(0, NULL, 0, "A: 1\r\nStatus: RO\r\nB: 2\r\n\r\nStatus: R\r\n",
	           "A: 1\nStatus: O\nB: 2\n\nStatus: R\n");
	check_mbox(MAILFMT_DELETED, NULL, 0, "X-Status: F\r\nA: 1\r\n\r\nb\r\n",
	           "X-Status: D\nA: 1\n\nb\n");
	check_mbox(0, NULL, 0, "X-Status: F\r\nA: 1\r\n\r\nb\r\n", "X-Status: \nA: 1\n\nb\n");
	/* keywords changed: the folded X-Keywords field is replaced whole */
	check_mbox(0, kw_c, 1, "A: 1\r\nX-Keywords: a,\r\n\tb\r\nTo: t\r\n\r\nb\r\n",
	           "A: 1\nX-Keywords: c\nTo: t\n\nb\n");
	check_mbox(0, NULL, 0, "X-Keywords: a\r\n\r\n", "X-Keywords: \n\n");
	/* several lines that do not agree: the first replaced, the others dropped */
	check_mbox(0, NULL, 0, "Status: O\r\nA: 1\r\nstatus: R\r\n \r\nB: 2\r\n\r\n",
	           "Status: O\nA: 1\nB: 2\n\n");
}

static void test_mbox_flag_headers_added(void **state)
{
	static const char *const kw3[] = {"$Junk", "work", "$Forwarded"};
	/* before the empty line that ends the header */
	check_mbox(MAILFMT_SEEN | MAILFMT_DRAFT, kw3, 3, "A: 1\r\n b\r\n\r\nbody\r\n",
	           "A: 1\n b\nStatus: RO\nX-Status: T\nX-Keywords: $Junk work $Forwarded\n\nbody\n");
	/* only the missing ones; nothing for no flags */
	check_mbox(MAILFMT_SEEN | MAILFMT_FLAGGED, NULL, 0, "X-Status: F\r\n\r\n",
	           "X-Status: F\nStatus: RO\n\n");
	check_mbox(0, NULL, 0, "A: 1\r\n\r\n", "A: 1\n\n");
	/* no empty line: at the top, before the first field */
	check_mbox(MAILFMT_SEEN, NULL, 0, "A: 1\r\nB: 2", "Status: RO\nA: 1\nB: 2\n");
	check_mbox(MAILFMT_SEEN, NULL, 0, " x\r\nA: 1\r\n", " x\nStatus: RO\nA: 1\n");
	check_mbox(MAILFMT_SEEN, NULL, 0, " x", " x\nStatus: RO\n");
	check_mbox(MAILFMT_FLAGGED, kw_c, 1, "", "X-Status: F\nX-Keywords: c\n");
	check_mbox(MAILFMT_SEEN, NULL, 0, "\r\nStatus: R\r\n", "Status: RO\n\nStatus: R\n");
}

static void test_mbox_keywords_folded(void **state)
{
	char names[MAILFMT_KEYWORDS_MAX][40];
	const char *kw[MAILFMT_KEYWORDS_MAX];
	for (int i = 0; i < MAILFMT_KEYWORDS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "keyword-number-%d", i);
		kw[i] = names[i];
	}
	size_t n;
	char *got = mbox_of(0, kw, MAILFMT_KEYWORDS_MAX, "A: 1\r\n", 6, 0, &n);
	/* every line within 78 characters */
	for (const char *p = got, *end = got + n; p < end; ) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(lf);
		assert_true(lf - p <= 78);
		p = lf + 1;
	}
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/in.mbox", dir);
	t_write_file(path, got, n);
	struct error e;
	assert_int_equal(t_read_all(MAILFMT_MBOX, path, msgs, &e), 1);
	assert_int_equal(msgs[0].nkw, MAILFMT_KEYWORDS_MAX);
	assert_string_equal(msgs[0].kw[MAILFMT_KEYWORDS_MAX - 1], "keyword-number-63");
	/* written again with the same keywords: unchanged */
	size_t n2;
	char *again = mbox_of(0, kw, MAILFMT_KEYWORDS_MAX, msgs[0].data.data, msgs[0].data.len, 1,
	                      &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(again, got, n);
	t_free_all(msgs, 1);
	t_rmrf(dir);
	free(again);
	free(got);
}

/* A header of filler lines of exactly size bytes (CRLF), then tail. */
static char *filler_header(size_t size, const char *tail)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	for (size_t i = 0; i < size / 64; i++) {
		buf_append_str(&b, "X-Filler: 0123456789012345678901234567890123456789012345678901");
		for (size_t k = 0; i == 0 && k < size % 64; k++)
			buf_append_char(&b, 'x');
		buf_append_str(&b, "\r\n");
	}
	assert_int_equal(b.len, size);
	buf_append_str(&b, tail);
	return buf_steal(&b);
}

/* Writes msg with flags (whole and byte by byte): the file must hold want
 * (CRLF, written with LF). Reads it back with the flags written. */
static void check_big(unsigned flags, const char *msg, const char *want)
{
	struct buf file;
	buf_init(&file, BUF_UNBOUNDED);
	buf_append_str(&file, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
	for (const char *p = want; *p != '\0'; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			buf_append_char(&file, *p);
	buf_append_str(&file, "\n");
	for (size_t cut = 0; cut < 2; cut++) {
		size_t n;
		char *got = mbox_of(flags, NULL, 0, msg, strlen(msg), cut, &n);
		assert_int_equal(n, file.len);
		assert_memory_equal(got, file.data, n);
		char *dir = t_tmpdir();
		char path[512];
		snprintf(path, sizeof(path), "%s/in.mbox", dir);
		t_write_file(path, got, n);
		struct error e;
		assert_int_equal(t_read_all(MAILFMT_MBOX, path, msgs, &e), 1);
		assert_int_equal(msgs[0].flags, flags);
		t_free_all(msgs, 1);
		t_rmrf(dir);
		free(got);
	}
	buf_free(&file);
}

static void test_mbox_header_scan_limit(void **state)
{
	size_t max = MAILFMT_MBOX_HEADER_SCAN_MAX;
	/* Status starting at the limit is searched: it agrees, or is replaced */
	char *m = filler_header(max, "Status: RO\r\n\r\nb\r\n");
	check_big(MAILFMT_SEEN, m, m);
	char *o = filler_header(max, "Status: O\r\n\r\nb\r\n");
	check_big(0, m, o);
	free(m);
	free(o);
	/* one byte later it is body: no change for no flags; for \Seen a line
	 * is added at the top, as the header does not end in the searched part */
	m = filler_header(max + 1, "Status: R\r\n\r\nb\r\n");
	check_big(0, m, m);
	struct buf want;
	buf_init(&want, BUF_UNBOUNDED);
	buf_appendf(&want, "Status: RO\r\n%s", m);
	check_big(MAILFMT_SEEN, m, want.data);
	free(m);
	/* a line longer than MBOX_HDR_LINE_MAX with its CRLF ends the search */
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "A: 1\r\nX-Long: ");
	while (b.len < 6 + MBOX_HDR_LINE_MAX - 1)
		buf_append_char(&b, 'l');
	buf_append_str(&b, "\r\nStatus: R\r\n\r\nb\r\n");
	check_big(0, b.data, b.data);
	buf_reset(&want);
	buf_appendf(&want, "Status: RO\r\n%s", b.data);
	check_big(MAILFMT_SEEN, b.data, want.data);
	/* one byte shorter it is searched */
	buf_reset(&b);
	buf_append_str(&b, "A: 1\r\nX-Long: ");
	while (b.len < 6 + MBOX_HDR_LINE_MAX - 2)
		buf_append_char(&b, 'l');
	buf_append_str(&b, "\r\nStatus: R\r\n\r\nb\r\n");
	check_big(MAILFMT_SEEN, b.data, b.data);
	buf_free(&b);
	buf_free(&want);
}

static void host(char *dst, size_t n)
{
	assert_int_equal(gethostname(dst, n), 0);
	assert_null(strpbrk(dst, "/:"));  /* the test expects no escaping */
}

static void test_maildir_bytes(void **state)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		char *dir = t_tmpdir();
		struct mailfmt_writer *w;
		struct error e;
		assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, dir, &w,
		                                     &e), 0);
		static const char *const kw[] = {"$Forwarded", "work", "$Junk"};
		write_msg(w, "Inbox", MAILFMT_SEEN | MAILFMT_ANSWERED, kw, 3, 1700000000,
		          "A: 1\r\n\r\nFrom x\r\nlone\rcr\r", bytewise);
		static const char *const kw2[] = {"$junk"};
		write_msg(w, "Inbox", MAILFMT_DRAFT, kw2, 1, 1700000001, "B: 2\r\n", bytewise);
		write_msg(w, "Lists/tern", 0, NULL, 0, 1700000002, "C: 3\r\n", bytewise);
		assert_int_equal(mailfmt_writer_close(&w, &e), 0);
		char h[256], rel[512];
		host(h, sizeof(h));
		snprintf(rel, sizeof(rel), "Inbox/cur/1700000000.%d_1.%s:2,PRSab", (int)getpid(), h);
		assert_file(dir, rel, "A: 1\n\nFrom x\nlone\rcr\r");
		snprintf(rel, sizeof(rel), "Inbox/cur/1700000001.%d_2.%s:2,Db", (int)getpid(), h);
		assert_file(dir, rel, "B: 2\n");
		snprintf(rel, sizeof(rel), "Lists/tern/cur/1700000002.%d_3.%s:2,", (int)getpid(), h);
		assert_file(dir, rel, "C: 3\n");
		assert_file(dir, "Inbox/dovecot-keywords", "0 work\n1 $Junk\n");
		int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
		assert_int_equal(n, 3);
		assert_string_equal(msgs[0].data.data, "A: 1\r\n\r\nFrom x\r\nlone\rcr\r");
		assert_int_equal(msgs[0].flags, MAILFMT_SEEN | MAILFMT_ANSWERED);
		assert_int_equal(msgs[0].received, 1700000000);
		assert_int_equal(msgs[0].nkw, 3);
		assert_string_equal(msgs[0].kw[0], "$Forwarded");
		assert_string_equal(msgs[0].kw[1], "work");
		assert_string_equal(msgs[0].kw[2], "$Junk");
		assert_string_equal(msgs[2].mailbox, "Lists/tern");
		t_free_all(msgs, n);
		t_rmrf(dir);
	}
}

static void test_maildir_keyword_limit(void **state)
{
	char *dir = t_tmpdir();
	struct mailfmt_writer *w;
	struct error e;
	assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, dir, &w, &e), 0);
	char names[27][8];
	const char *kw[27];
	for (int i = 0; i < 27; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		kw[i] = names[i];
	}
	write_msg(w, "Inbox", 0, kw, 27, 5, "x\r\n", false);  /* the 27th is dropped */
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	int n = t_read_all(MAILFMT_AUTO, dir, msgs, &e);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].nkw, 26);
	assert_string_equal(msgs[0].kw[25], "k25");
	t_free_all(msgs, n);
	t_rmrf(dir);
}

static void test_errors(void **state)
{
	char *dir = t_tmpdir();
	struct mailfmt_writer *w;
	struct error e;
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/out", dir);
	assert_int_equal(mailfmt_writer_open(MAILFMT_FILES, MAILFMT_ARCHIVE_NONE, sub, &w, &e), -1);
	assert_int_equal(mailfmt_writer_open(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_NONE, sub, &w, &e), 0);
	static const char *const bad[] = {"", "/a", "a/", "a//b", "a/./b", "../x", ".hidden",
	                                  "a/cur", "tmp", "a\nb"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mailfmt_writer_begin(w, bad[i], 0, NULL, 0, 0, &e), -1);
		assert_int_equal(e.kind, ERR_INVALID);
	}
	char longname[MAILFMT_MAILBOX_NAME_MAX + 2];
	/* levels of 63 bytes: a file name holds at most 255 */
	for (size_t i = 0; i < sizeof(longname) - 1; i++)
		longname[i] = i % 64 == 62 ? '/' : 'n';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(mailfmt_writer_begin(w, longname, 0, NULL, 0, 0, &e), -1);
	longname[MAILFMT_MAILBOX_NAME_MAX] = '\0';
	assert_int_equal(mailfmt_writer_write(w, "x", 1, &e), -1);  /* no message open */
	write_msg(w, longname, 0, NULL, 0, 0, "x", false);
	write_msg(w, "A", 0, NULL, 0, 0, "x", false);
	write_msg(w, "B", 0, NULL, 0, 0, "x", false);
	assert_int_equal(mailfmt_writer_begin(w, "A", 0, NULL, 0, 0, &e), -1);
	assert_non_null(strstr(e.msg, "already written"));
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	/* not empty now */
	assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, sub, &w, &e), -1);
	assert_non_null(strstr(e.msg, "not empty"));
	/* an archive that exists */
	snprintf(sub, sizeof(sub), "%s/out/x.zip", dir);
	t_write_str(sub, "");
	assert_int_equal(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_ZIP, sub, &w, &e), -1);
	t_rmrf(dir);
}

/* A message big enough to cross every internal chunk. */
static char *big_message(void)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_append_str(&b, "Subject: big\r\n\r\n");
	for (int i = 0; b.len < 3 * FMT_CHUNK + 77; i++)
		buf_appendf(&b, "%sline %d of a long message\r\n", i % 50 == 0 ? "From " : "", i);
	buf_append_str(&b, "\r\n");
	return buf_steal(&b);
}

static void archive_round_trip(enum mailfmt_kind kind, enum mailfmt_archive ar,
                               const char *name)
{
	char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *big = big_message();
	struct mailfmt_writer *w;
	struct error e;
	assert_int_equal(mailfmt_writer_open(kind, ar, path, &w, &e), 0);
	write_msg(w, "Inbox", MAILFMT_SEEN, kw1, 2, 1700000000, "A: 1\r\n\r\nFrom x\r\n", false);
	write_msg(w, "Inbox", MAILFMT_FLAGGED, NULL, 0, 1700000001, big, false);
	write_msg(w, "Sent/2024", 0, kw1 + 1, 1, 1700000002, "B: 2\r\n", true);
	assert_int_equal(mailfmt_writer_close(&w, &e), 0);
	int n = t_read_all(MAILFMT_AUTO, path, msgs, &e);
	if (n < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(n, 3);
	assert_string_equal(msgs[0].mailbox, "Inbox");
	if (kind == MAILFMT_MBOX)
		assert_string_equal(msgs[0].data.data, "A: 1\r\nStatus: RO\r\n"
		                                       "X-Keywords: work $Junk\r\n\r\nFrom x\r\n");
	else
		assert_string_equal(msgs[0].data.data, "A: 1\r\n\r\nFrom x\r\n");
	assert_int_equal(msgs[0].flags, MAILFMT_SEEN);
	assert_int_equal(msgs[0].nkw, 2);
	assert_string_equal(msgs[0].kw[1], "$Junk");
	assert_int_equal(msgs[0].received, 1700000000);
	/* mbox: the X-Status line for \Flagged is added at the end of the header */
	size_t add = kind == MAILFMT_MBOX ? strlen("X-Status: F\r\n") : 0;
	size_t hdr = strlen("Subject: big\r\n");
	assert_int_equal(msgs[1].data.len, strlen(big) + add);
	assert_memory_equal(msgs[1].data.data, big, hdr);
	assert_memory_equal(msgs[1].data.data + hdr, "X-Status: F\r\n", add);
	assert_memory_equal(msgs[1].data.data + hdr + add, big + hdr, strlen(big) - hdr);
	assert_int_equal(msgs[1].flags, MAILFMT_FLAGGED);
	assert_string_equal(msgs[2].mailbox, "Sent/2024");
	assert_int_equal(msgs[2].nkw, 1);
	assert_string_equal(msgs[2].kw[0], "$Junk");
	t_free_all(msgs, n);
	free(big);
	t_rmrf(dir);
}

static void test_archives(void **state)
{
	archive_round_trip(MAILFMT_MBOX, MAILFMT_ARCHIVE_ZIP, "out.zip");
	archive_round_trip(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_ZIP, "out.zip");
	archive_round_trip(MAILFMT_MBOX, MAILFMT_ARCHIVE_TGZ, "out.tgz");
	archive_round_trip(MAILFMT_MAILDIR, MAILFMT_ARCHIVE_TGZ, "out.tar.gz");
}

static void test_crlf_filters(void **state)
{
	/* Every split of a tricky input gives the same result. */
	const char *in = "a\r\nb\rc\n\r\r\nd\r";
	size_t n = strlen(in);
	for (size_t cut = 0; cut <= n; cut++) {
		char out[64];
		bool held = false;
		size_t o = crlf_to_lf(&held, in, cut, out);
		o += crlf_to_lf(&held, in + cut, n - cut, out + o);
		if (held)
			out[o++] = '\r';
		assert_int_equal(o, strlen("a\nb\rc\n\r\nd\r"));
		assert_memory_equal(out, "a\nb\rc\n\r\nd\r", o);
		bool prev = false;
		o = crlf_to_crlf(&prev, in, cut, out);
		o += crlf_to_crlf(&prev, in + cut, n - cut, out + o);
		assert_int_equal(o, strlen("a\r\nb\rc\r\n\r\r\nd\r"));
		assert_memory_equal(out, "a\r\nb\rc\r\n\r\r\nd\r", o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mbox_bytes),
		cmocka_unit_test(test_mbox_flag_headers_kept),
		cmocka_unit_test(test_mbox_flag_headers_replaced),
		cmocka_unit_test(test_mbox_flag_headers_added),
		cmocka_unit_test(test_mbox_keywords_folded),
		cmocka_unit_test(test_mbox_header_scan_limit),
		cmocka_unit_test(test_maildir_bytes),
		cmocka_unit_test(test_maildir_keyword_limit),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_archives),
		cmocka_unit_test(test_crlf_filters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
