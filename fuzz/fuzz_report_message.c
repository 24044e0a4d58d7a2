/*
 * fuzz_report_message.c: libFuzzer target for src/reports/message.c and
 * unpack.c: every input is a message searched for a report (MIME parts,
 * base64/QP, gzip and zip through zlib and libarchive, then XML or JSON).
 * Seeds: corpus/report_message/ (messages with plain, gzip and zip reports).
 */
#include "reports/reports.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct report r;
	struct error e;
	if (reports_parse_message((const char *)data, size, a, &r, &e) == 0) {
		/* the document is NUL-terminated and the raw copy readable */
		if (r.doc[r.doc_len] != '\0')
			__builtin_trap();
		volatile char c = r.raw_len > 0 ? r.raw[r.raw_len - 1] : 0;
		(void)c;
		struct buf out;
		buf_init(&out, BUF_UNBOUNDED);
		(void)reports_format_text(&r, &out);
		(void)reports_format_json(&r, &out);
		buf_free(&out);
	}
	arena_free(&a);
	return 0;
}
