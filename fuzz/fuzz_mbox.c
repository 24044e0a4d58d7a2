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
 */
#include "mailfmt/mailfmt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Reads the message in chunks of size chunk; returns the bytes read. */
static size_t read_msg(struct mailfmt_reader *r, size_t chunk)
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
		total += (size_t)n;
	}
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
	size_t out = 0;
	struct mailfmt_msg m;
	int ret;
	while ((ret = mailfmt_reader_next(r, &m, &e)) == 1) {
		check_msg(&m);
		out += read_msg(r, chunk);
	}
	check(ret == 0);
	check(out <= 2 * size);
	check(mailfmt_reader_offset(r) == size);
	mailfmt_reader_free(&r);
	close(fd);
	return 0;
}
