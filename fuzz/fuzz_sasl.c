/*
 * fuzz_sasl.c: libFuzzer target for src/sasl/: arbitrary client messages fed
 * to each server mechanism (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/-256 and
 * -PLUS) with fixed credentials, and arbitrary stored-credential lines fed to
 * the strict decoder.
 *
 * Input: byte 0 picks the target (low three bits: 0-6 a mechanism in the
 * order of `mechs` below, 7 the credentials decoder, checked to be canonical:
 * encoding what it accepts gives the same bytes); bit 0x80 starts the
 * exchange without an initial response; bit 0x40 fuzzes the client instead
 * (PLAIN and the SCRAM mechanisms; the input holds server messages, client
 * nonce "fyko+d2lbbFgONRv9qkxdawL"). The rest is split at '\n' into at
 * most MAX_MSGS messages. The server nonce is fixed to
 * "3rfcNHYJY1ZVvWVs7j" and the CRAM-MD5 challenge to the RFC 2195 one, so
 * that the seeds (RFC 5802 §5 and RFC 2195 exchanges) reach success.
 * Users: "user"/"pencil" (SCRAM salt QSXCR+Q6sek8bf92, 4096 rounds) and
 * "tim"/"tanstaaftanstaaf". Dictionary: sasl.dict; seeds: corpus/sasl/.
 */
#include "sasl/internal.h"

#include "core/arena.h"
#include "core/error.h"
#include "core/tls.h"

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 4

static const char *const mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
	"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS",
};

static struct sasl_credentials user_creds, tim_creds;
static const unsigned char cb[TLS_EXPORTER_LEN] = "0123456789abcdef0123456789abcdef";

static void init_once(void)
{
	static bool done;
	static const unsigned char salt[12] = {0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a, 0xb1, 0xe9,
		0x3c, 0x6d, 0xff, 0x76};   /* "QSXCR+Q6sek8bf92" */
	if (done)
		return;
	sasl_dummy_set_cost(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
	if (sasl_credentials_derive_with("pencil", 6, SASL_CRED_ALL, crypto_pwhash_OPSLIMIT_MIN,
	        crypto_pwhash_MEMLIMIT_MIN, salt, sizeof(salt), 4096, 4096, &user_creds, NULL) != 0 ||
	    sasl_credentials_derive_with("tanstaaftanstaaf", 16, SASL_CRED_ALL,
	        crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN, NULL, 0, 0, 0, &tim_creds,
	        NULL) != 0)
		abort();
	done = true;
}

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	if (strcmp(username, "user") == 0)
		*creds_r = user_creds;
	else if (strcmp(username, "tim") == 0)
		*creds_r = tim_creds;
	else
		return strcmp(username, "down") == 0 ? -1 : 0;
	return 1;
}

static void touch(const unsigned char *p, size_t n)
{
	/* Make the sanitizers read every byte the server produced. */
	volatile unsigned char x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	(void)x;
}

static void run_server(const char *mech, bool no_ir, const uint8_t *p, size_t n)
{
	struct sasl_server_opts o = {.lookup = lookup, .tls_active = true, .cb_exporter = cb,
		.plus_advertised = true, .hostname = "postoffice.reston.mci.net"};
	struct sasl_server *s = sasl_server_new(mech, &o);
	if (s == NULL)
		abort();
	sasl_server_set_nonce(s, strcmp(mech, "CRAM-MD5") == 0 ?
		"<1896.697170952@postoffice.reston.mci.net>" : "3rfcNHYJY1ZVvWVs7j");
	const unsigned char *out;
	size_t outlen;
	bool done = false;
	int r = 0;
	if (no_ir) {
		r = sasl_server_step(s, NULL, 0, &out, &outlen, &done);
		touch(out, outlen);
	}
	const uint8_t *end = p + n;
	for (int i = 0; i < MAX_MSGS && r == 0 && !done; i++) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nl == NULL ? end : nl;
		r = sasl_server_step(s, p, (size_t)(stop - p), &out, &outlen, &done);
		touch(out, outlen);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	const char *u = sasl_server_username(s);
	if (done && (u == NULL || sasl_server_failure(s) != SASL_FAIL_NONE))
		abort();
	if (r != 0 && (u != NULL || sasl_server_failure(s) == SASL_FAIL_NONE))
		abort();
	touch((const unsigned char *)sasl_server_failure_text(s), strlen(sasl_server_failure_text(s)));
	sasl_server_free(&s);
}

/* Whether some "i=" in p is followed by more than four digits: such a
 * count makes the client run up to SASL_SCRAM_ITER_MAX PBKDF2 rounds, which
 * is correct but would slow the fuzzer to a crawl. */
static bool costly(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++) {
		if (p[i] != 'i' || p[i + 1] != '=')
			continue;
		size_t d = 0;
		while (i + 2 + d < n && p[i + 2 + d] >= '0' && p[i + 2 + d] <= '9')
			d++;
		if (d > 4)
			return true;
	}
	return false;
}

/* The client side: server messages, split at '\n', fed to a client. */
static void run_client(const char *mech, const uint8_t *p, size_t n)
{
	struct sasl_client_opts o = {.username = "user", .password = "pencil", .cb_exporter = cb};
	struct sasl_client *c = sasl_client_new(mech, &o);
	if (c == NULL || costly(p, n)) {
		sasl_client_free(&c);
		return;
	}
	sasl_client_set_nonce(c, "fyko+d2lbbFgONRv9qkxdawL");
	const unsigned char *out;
	size_t outlen;
	bool done = false;
	int r = sasl_client_step(c, NULL, 0, &out, &outlen, &done);
	const uint8_t *end = p + n;
	for (int i = 0; i < MAX_MSGS && r == 0 && !done; i++) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nl == NULL ? end : nl;
		touch(out, outlen);
		r = sasl_client_step(c, p, (size_t)(stop - p), &out, &outlen, &done);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	touch((const unsigned char *)sasl_client_error(c), strlen(sasl_client_error(c)));
	sasl_client_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	init_once();
	unsigned which = data[0] & 7;
	if (which == 7) {
		/* The decoder is canonical: what it accepts, encode gives back
		 * byte for byte. (No verification: a valid line may ask for 1 GiB.) */
		struct sasl_credentials c;
		struct error e;
		if (sasl_credentials_decode((const char *)data + 1, size - 1, &c, &e) == 0) {
			struct arena *a = arena_new(1024, ARENA_SECRET);
			const char *line = sasl_credentials_encode(&c, a);
			if (line == NULL || strlen(line) != size - 1 || memcmp(line, data + 1, size - 1) != 0)
				abort();
			arena_free(&a);
		}
		return 0;
	}
	if (data[0] & 0x40)
		run_client(mechs[which], data + 1, size - 1);
	else
		run_server(mechs[which], (data[0] & 0x80) != 0, data + 1, size - 1);
	return 0;
}
