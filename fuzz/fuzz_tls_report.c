/*
 * fuzz_tls_report.c: libFuzzer target for src/reports/tlsrpt.c: every input
 * is parsed as an SMTP TLS report (RFC 8460 JSON, jansson), and a parsed
 * report is formatted as text and JSON. Seeds: corpus/tls_report/.
 */
#include "reports/reports.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct report r = {.kind = REPORT_TLSRPT};
	struct error e;
	if (reports_tlsrpt_parse((const char *)data, size, a, &r.tlsrpt, &e) == 0) {
		struct buf out;
		buf_init(&out, BUF_UNBOUNDED);
		(void)reports_format_text(&r, &out);
		(void)reports_format_json(&r, &out);
		buf_free(&out);
	}
	arena_free(&a);
	return 0;
}
