/*
 * fuzz_dkim_signature.c: libFuzzer target for src/dkim/'s parser of the
 * DKIM-Signature tag-list (dkim_signature_parse, RFC 6376 §3.2, §3.5), and
 * the canonicalization of the same bytes as a header field (§3.4.2).
 *
 * Checks: a parsed signature has every required tag, v=1, From in h=, at
 * most DKIM_MAX_SIGNED_HEADERS names, an i= inside d=, and b='s value span
 * within the input; canonicalization is deterministic, relaxed output has no
 * bare CR or LF except its final CRLF, and the body hash of the bytes is the
 * same fed at once or byte by byte.
 */
#include "dkim/dkim.h"

#include "core/arena.h"
#include "core/buf.h"

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
	const char *s = (const char *)data;
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dkim_signature sig;
	const char *why = NULL;
	if (dkim_signature_parse(a, s, size, &sig, &why) == 0) {
		check(sig.version == 1 && sig.algorithm != NULL && sig.domain != NULL &&
		      sig.selector != NULL && sig.b != NULL && sig.bh != NULL);
		check(sig.nheaders >= 1 && sig.nheaders <= DKIM_MAX_SIGNED_HEADERS);
		bool from = false;
		for (size_t i = 0; i < sig.nheaders; i++)
			from = from || strcasecmp(sig.headers[i], "from") == 0;
		check(from);
		check(sig.identity != NULL && strchr(sig.identity, '@') != NULL);
		check(sig.b_value_start <= sig.b_value_end && sig.b_value_end <= size);
		check(!sig.has_timestamp || !sig.has_expiration || sig.expiration > sig.timestamp);
	} else {
		check(why != NULL);
	}

	struct buf c1, c2;
	buf_init(&c1, 4 * size + 16);
	buf_init(&c2, 4 * size + 16);
	check(dkim_canon_header(DKIM_CANON_RELAXED, s, size, true, &c1) == 0);
	check(dkim_canon_header(DKIM_CANON_RELAXED, s, size, true, &c2) == 0);
	check(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);
	for (size_t i = 0; i + 2 < c1.len; i++)
		check(c1.data[i] != '\r' && c1.data[i] != '\n');
	buf_reset(&c2);
	check(dkim_canon_header(DKIM_CANON_SIMPLE, s, size, false, &c2) == 0);
	buf_free(&c1);
	buf_free(&c2);

	unsigned char d1[64], d2[64];
	size_t l1, l2;
	uint64_t n1, n2;
	enum dkim_canon c = size > 0 && (data[0] & 1) ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	int64_t limit = size > 1 ? (int64_t)data[1] - 1 : -1;
	struct dkim_body_hash *bh = dkim_body_hash_new(c, DKIM_HASH_SHA256, limit);
	dkim_body_hash_feed(bh, s, size);
	dkim_body_hash_finish(bh, d1, &l1, &n1);
	dkim_body_hash_free(&bh);
	bh = dkim_body_hash_new(c, DKIM_HASH_SHA256, limit);
	for (size_t i = 0; i < size; i++)
		dkim_body_hash_feed(bh, s + i, 1);
	dkim_body_hash_finish(bh, d2, &l2, &n2);
	dkim_body_hash_free(&bh);
	check(l1 == 32 && l2 == 32 && n1 == n2 && memcmp(d1, d2, 32) == 0);
	check(n1 <= 2 * size + 2);
	arena_free(&a);
	return 0;
}
