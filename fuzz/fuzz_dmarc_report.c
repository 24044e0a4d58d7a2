/*
 * fuzz_dmarc_report.c: libFuzzer target for src/reports/dmarc.c: every input
 * is parsed as a DMARC aggregate report document (XML through libxml2's
 * streaming reader), and a parsed report is formatted as text and JSON.
 * Seeds: corpus/dmarc_report/.
 */
#include "reports/reports.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct report r = {.kind = REPORT_DMARC};
	struct error e;
	if (reports_dmarc_parse((const char *)data, size, a, &r.dmarc, &e) == 0) {
		struct buf out;
		buf_init(&out, BUF_UNBOUNDED);
		(void)reports_format_text(&r, &out);
		(void)reports_format_json(&r, &out);
		buf_free(&out);
	}
	arena_free(&a);
	return 0;
}
