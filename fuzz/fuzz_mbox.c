/*
 * fuzz_mbox.c: libFuzzer target for the mbox reader of src/mailfmt/
 * (mbox_read.c through the public reader API), the code that splits
 * untrusted mailbox files on import.
 *
 * The first input byte chooses the options (mboxrd or mboxo unquoting,
 * split after an empty line or at any "From " line) and the read size; the
 * rest is written to a memfd and read as an mbox file. Each message is
 * checked: flags and keywords within their limits and valid, every LF of
 * the output preceded by CR (bare LF becomes CRLF), output no larger than
 * twice the input; at the end all input was consumed.
 *
 * Then the messages are exported as an mbox (with the flags and keywords
 * read) and imported again: the same flags and keywords, and the same bytes
 * apart from the documented exceptions (a last line ending added, CRs right
 * before a line ending). A message whose flag headers agree with its flags,
 * as every message just read, is written unchanged. Messages with a CR
 * before a CRLF are checked for flags only: such a line reads back shorter,
 * and "\r\r\n" reads back as an empty line, which can end the header.
 * Then once more with other flags and keywords: the flag headers are
 * replaced or added, and read back as the flags written.
 */
#include "mailfmt/mailfmt.h"

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static int memfd_with(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_mbox", MFD_CLOEXEC);
	check(fd >= 0);
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		check(n > 0);
		off += (size_t)n;
	}
	return fd;
}

static void check_msg(const struct mailfmt_msg *m)
{
	check(strcmp(m->mailbox, "Inbox") == 0);
	check((m->flags & ~0x1fu) == 0);
	check(m->nkeywords <= MAILFMT_KEYWORDS_MAX);
	for (size_t i = 0; i < m->nkeywords; i++)
		check(mailfmt_keyword_valid(m->keywords[i], strlen(m->keywords[i])));
}

/* A message as read, kept for the round trip. */
struct held {
	unsigned flags;
	size_t nkw;
	char *kw[MAILFMT_KEYWORDS_MAX];
	struct buf data;
};

#define HELD_MAX 256
static struct held held[HELD_MAX];

/* Reads the message in chunks of size chunk into b; returns the bytes read. */
static size_t read_msg(struct mailfmt_reader *r, size_t chunk, struct buf *b)
{
	char buf[256];
	size_t total = 0;
	char prev = '\0';
	for (;;) {
		struct error e;
		ssize_t n = mailfmt_reader_read(r, buf, chunk, &e);
		check(n >= 0);
		if (n == 0)
			return total;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n')
				check(prev == '\r');
			prev = buf[i];
		}
		if (b != NULL)
			check(buf_append(b, buf, (size_t)n) == 0);
		total += (size_t)n;
	}
}

/* The bytes with every CR right before an LF removed, and a last line
 * ending added when missing. */
static void normalize(const struct buf *in, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < in->len; i++) {
		if (in->data[i] == '\n')
			while (out->len > 0 && out->data[out->len - 1] == '\r')
				buf_truncate(out, out->len - 1);
		check(buf_append_char(out, in->data[i]) == 0);
	}
	if (out->len > 0 && out->data[out->len - 1] != '\n') {
		while (out->len > 0 && out->data[out->len - 1] == '\r')
			buf_truncate(out, out->len - 1);
		check(buf_append_char(out, '\n') == 0);
	}
}

static bool kw_same(const struct held *h, const struct mailfmt_msg *m)
{
	if (h->nkw != m->nkeywords)
		return false;
	for (size_t i = 0; i < h->nkw; i++) {
		size_t j = 0;
		while (j < m->nkeywords && strcasecmp(h->kw[i], m->keywords[j]) != 0)
			j++;
		if (j == m->nkeywords)
			return false;
	}
	return true;
}

static char export_path[128];

static void export_dir_remove(void)
{
	(void)rmdir(export_path);
}

static const char *export_dir(void)
{
	if (export_path[0] == '\0') {
		/* tmpfs where there is one: the writer syncs what it writes */
		snprintf(export_path, sizeof(export_path), "%s/fuzz_mbox.XXXXXX",
		         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		check(mkdtemp(export_path) != NULL);
		check(atexit(export_dir_remove) == 0);
	}
	return export_path;
}

/* Other flags and keywords for held message i: some flags toggled, the
 * last keyword dropped or one added. */
static void change(struct held *h, size_t i)
{
	h->flags ^= (unsigned)(i * 7 + 1) & 0x1fu;
	if (h->nkw > 0)
		free(h->kw[--h->nkw]);
	else
		h->kw[h->nkw++] = strdup(i % 2 == 0 ? "$Fuzz" : "fuzz");
}

/* Writes held[0..n) as an mbox, reads it back and compares: all of it, or
 * only flags and keywords when !same_bytes. */
static void round_trip(size_t n, bool same_bytes)
{
	if (n == 0)
		return;
	const char *dir = export_dir();
	struct mailfmt_writer *w;
	struct error e;
	check(mailfmt_writer_open(MAILFMT_MBOX, MAILFMT_ARCHIVE_NONE, dir, &w, &e) == 0);
	for (size_t i = 0; i < n; i++) {
		check(mailfmt_writer_begin(w, "Inbox", held[i].flags, (const char *const *)held[i].kw,
		                           held[i].nkw, 0, &e) == 0);
		check(mailfmt_writer_write(w, held[i].data.data, held[i].data.len, &e) == 0);
		check(mailfmt_writer_end(w, &e) == 0);
	}
	check(mailfmt_writer_close(&w, &e) == 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/Inbox.mbox", dir);
	struct mailfmt_reader *r;
	check(mailfmt_reader_open(MAILFMT_MBOX, path, NULL, &r, &e) == 0);
	struct buf got, a, b;
	buf_init(&got, BUF_UNBOUNDED);
	buf_init(&a, BUF_UNBOUNDED);
	buf_init(&b, BUF_UNBOUNDED);
	struct mailfmt_msg m;
	size_t i = 0;
	for (; mailfmt_reader_next(r, &m, &e) == 1; i++) {
		check(i < n);
		check(m.flags == held[i].flags);
		check(kw_same(&held[i], &m));
		buf_reset(&got);
		(void)read_msg(r, 64, &got);
		if (!same_bytes || memmem(held[i].data.data, held[i].data.len, "\r\r\n", 3) != NULL)
			continue;
		normalize(&held[i].data, &a);
		normalize(&got, &b);
		check(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	}
	check(i == n);
	mailfmt_reader_free(&r);
	buf_free(&got);
	buf_free(&a);
	buf_free(&b);
	check(unlink(path) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct mailfmt_reader_opts opts = {
		.mbox_variant = (data[0] & 1) ? MAILFMT_MBOXO : MAILFMT_MBOXRD,
		.mbox_split_any_from = (data[0] & 2) != 0,
	};
	size_t chunk = (size_t)(data[0] >> 2) * 4 + 1;
	data++;
	size--;
	int fd = memfd_with(data, size);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct mailfmt_reader *r;
	struct error e;
	check(mailfmt_reader_open(MAILFMT_MBOX, path, &opts, &r, &e) == 0);
	size_t out = 0, nheld = 0;
	struct mailfmt_msg m;
	int ret;
	while ((ret = mailfmt_reader_next(r, &m, &e)) == 1) {
		check_msg(&m);
		struct held *h = nheld < HELD_MAX ? &held[nheld++] : NULL;
		if (h != NULL) {
			h->flags = m.flags;
			h->nkw = m.nkeywords;
			for (size_t i = 0; i < m.nkeywords; i++)
				h->kw[i] = strdup(m.keywords[i]);
			buf_init(&h->data, BUF_UNBOUNDED);
		}
		out += read_msg(r, chunk, h != NULL ? &h->data : NULL);
	}
	check(ret == 0);
	check(out <= 2 * size);
	check(mailfmt_reader_offset(r) == size);
	mailfmt_reader_free(&r);
	close(fd);
	round_trip(nheld, true);
	for (size_t i = 0; i < nheld; i++)
		change(&held[i], i);
	round_trip(nheld, false);
	for (size_t i = 0; i < nheld; i++) {
		for (size_t k = 0; k < held[i].nkw; k++)
			free(held[i].kw[k]);
		buf_free(&held[i].data);
	}
	return 0;
}
