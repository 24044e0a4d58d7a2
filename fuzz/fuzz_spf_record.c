/*
 * fuzz_spf_record.c: libFuzzer target for src/spf/'s parsers of untrusted
 * DNS text: SPF records (spf_record_parse, RFC 7208 §4.6, §5, §6), and the
 * macro language (§7) of domain-specs and explanation strings, expanded
 * without DNS (%{p} is "unknown"). It includes spf/internal.h, as the
 * module's own test harness, to reach the macro functions.
 *
 * The input is the record; the first byte also picks IPv4 or IPv6. Checks:
 * a parsed record's domain-specs pass spf_domain_spec_check and expand;
 * cidr lengths are in range; an explanation string that checks also
 * expands; the Received-SPF field built from the input's text has no bare
 * CR or LF other than its folds and never ends a line with text over 998
 * octets.
 */
#include "spf/internal.h"

#include "core/arena.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void expand_spec(struct arena *a, const char *spec, const struct spf_macro_ctx *ctx)
{
	const char *why;
	if (spec == NULL)
		return;
	check(spf_domain_spec_check(spec, strlen(spec), &why) == 0);
	char *t = spf_macro_expand(a, spec, SPF_MACRO_DOMAIN, ctx, &why);
	check(t != NULL);
	spf_name_truncate(t);
	check(strlen(t) <= 253 || strchr(t, '.') == NULL);
	(void)spf_domain_valid(t);
}

static void check_header(const char *text)
{
	struct spf_request rq = {.ip = "192.0.2.1", .helo = text, .mail_from = text,
	                         .receiver = "mx.example.org"};
	struct spf_outcome o = {.result = SPF_PERMERROR, .domain = text, .sender = text,
	                        .mechanism = text, .problem = text};
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	check(spf_received_header(&b, &rq, &o, SPF_ID_MAILFROM) == 0);
	for (size_t i = 0; i < b.len; i++) {
		if (b.data[i] == '\r')
			check(i + 1 < b.len && b.data[i + 1] == '\n');
		if (b.data[i] == '\n')
			check(i > 0 && b.data[i - 1] == '\r' && (i + 1 == b.len || b.data[i + 1] == '\t'));
	}
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct spf_record *rec;
	const char *why;
	struct spf_macro_ctx ctx = {
		.sender = "strong-bad@email.example.com", .local = "strong-bad",
		.sender_dom = "email.example.com", .domain = "email.example.com",
		.helo = "mx.example.org", .client = "192.0.2.3", .now = 1,
		.ipv6 = size > 0 && (data[0] & 1),
	};
	memset(ctx.ip, 0x5a, sizeof(ctx.ip));

	if (spf_record_parse(a, (const char *)data, size, &rec, &why) == 0) {
		for (size_t i = 0; i < rec->nmechs; i++) {
			const struct spf_mechanism *m = &rec->mechs[i];
			check(m->cidr4 >= 0 && m->cidr4 <= 32);
			check(m->cidr6 >= 0 && m->cidr6 <= 128);
			check(m->text != NULL && m->text[0] != '\0');
			expand_spec(a, m->domain_spec, &ctx);
		}
		expand_spec(a, rec->redirect, &ctx);
		expand_spec(a, rec->exp, &ctx);
	} else {
		check(why != NULL);
	}
	/* the same bytes as an explanation string (§6.2) */
	char *text = arena_strndup(a, (const char *)data, size);
	if (memchr(data, '\0', size) == NULL &&
	    spf_macro_check(text, size, SPF_MACRO_EXP, &why) == 0)
		check(spf_macro_expand(a, text, SPF_MACRO_EXP, &ctx, &why) != NULL);
	check_header(text);
	arena_free(&a);
	return 0;
}
