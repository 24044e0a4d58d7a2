/*
 * fuzz_tlsrpt_record.c: libFuzzer target for the SMTP TLS Reporting TXT
 * record parser (reports_tlsrpt_record_parse, RFC 8460 §3).
 *
 * Checks: a parsed record has 1..TLSRPT_RUA_MAX destinations, each a
 * mailto: URI with an address holding "@" or an https: URI, within
 * TLSRPT_URI_MAX; a record the parser accepts starts with "v=TLSRPTv1";
 * a refusal always says why.
 */
#include "reports/tlsrpt_out.h"

#include "core/arena.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > TLSRPT_RECORD_MAX + 16)
		return 0;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct tlsrpt_record r;
	struct error err;
	error_clear(&err);
	const char *txt = (const char *)data;
	if (reports_tlsrpt_record_parse(txt, size, a, &r, &err) == 0) {
		check(size >= 10 && memcmp(txt, "v=TLSRPTv1", 10) == 0);
		check(r.nrua >= 1 && r.nrua <= TLSRPT_RUA_MAX);
		for (size_t i = 0; i < r.nrua; i++) {
			const struct tlsrpt_rua *u = &r.rua[i];
			check(u->uri != NULL && strlen(u->uri) <= TLSRPT_URI_MAX);
			if (u->scheme == TLSRPT_MAILTO)
				check(strncasecmp(u->uri, "mailto:", 7) == 0 && u->address != NULL &&
				      strchr(u->address, '@') != NULL);
			else
				check(strncasecmp(u->uri, "https://", 8) == 0);
		}
	} else {
		check(err.msg[0] != '\0');
	}
	(void)reports_tlsrpt_record_is_tlsrpt(txt, size);
	arena_free(&a);
	return 0;
}
