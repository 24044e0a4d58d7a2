/*
 * fuzz_dkim_key.c: libFuzzer target for src/dkim/'s parser of DKIM key
 * records from DNS (dkim_key_parse, RFC 6376 §3.6.1, RFC 8463 §4), and of
 * the public key bytes they carry (verification with OpenSSL of a fixed
 * signature: it must fail or refuse, never crash).
 *
 * Checks: a parsed record has p= (revoked exactly when it decoded empty);
 * an error comes with a reason.
 */
#include "dkim/internal.h"

#include "core/arena.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dkim_key key;
	const char *why = NULL;
	if (dkim_key_parse(a, (const char *)data, size, &key, &why) == 0) {
		check(key.revoked == (key.pubkey_len == 0));
		check(key.pubkey != NULL || key.revoked);
		if (!key.revoked && key.type != DKIM_KEY_UNKNOWN) {
			static const unsigned char sig[64] = {1};
			unsigned bits;
			check(dkim_crypto_verify(key.type, DKIM_HASH_SHA256, key.pubkey,
			                         key.pubkey_len, "x", 1, sig, sizeof(sig), &bits) !=
			      DKIM_CRYPTO_OK);
		}
	} else {
		check(why != NULL);
	}
	arena_free(&a);
	return 0;
}
