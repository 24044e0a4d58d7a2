/*
 * scram_test.c: SCRAM server and client: the RFC 5802 §5 and RFC 7677 §3
 * examples byte for byte (nonces injected through the test hooks), -PLUS
 * with tls-exporter (RFC 9266), the RFC 5802 §6 downgrade rule, authzid,
 * malformed messages, and unknown users that look like known ones until the
 * proof fails.
 */
#include "sasl/internal.h"

#include "core/error.h"
#include "core/tls.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

/* One user, "user", whose credentials are made once per test run. */
static struct sasl_credentials user_creds;
static int lookups;

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	lookups++;
	if (ctx != NULL)
		return -1;   /* simulate an unavailable store */
	if (strcmp(username, "user") != 0)
		return 0;
	*creds_r = user_creds;
	return 1;
}

/* Credentials as in the RFC examples: password "pencil", fixed salt, 4096. */
static void make_creds(const char *salt_b64, unsigned parts)
{
	unsigned char salt[64];
	long n = base64_decode(salt, sizeof(salt), salt_b64, strlen(salt_b64));
	assert_true(n > 0);
	assert_int_equal(sasl_credentials_derive_with("pencil", 6, parts, crypto_pwhash_OPSLIMIT_MIN,
		crypto_pwhash_MEMLIMIT_MIN, salt, (size_t)n, 4096, 4096, &user_creds, NULL), 0);
}

static const unsigned char cb_good[TLS_EXPORTER_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char cb_other[TLS_EXPORTER_LEN] = "fedcba9876543210fedcba9876543210";

static struct sasl_server *server(const char *mech, const unsigned char *cb, bool plus_advertised)
{
	struct sasl_server_opts o = {
		.lookup = lookup, .tls_active = true, .cb_exporter = cb,
		.plus_advertised = plus_advertised, .hostname = "mx.example",
	};
	struct sasl_server *s = sasl_server_new(mech, &o);
	assert_non_null(s);
	return s;
}

/* Steps the server with a string; returns the step result and the output. */
static int sstep(struct sasl_server *s, const char *in, const char **out, bool *done)
{
	const unsigned char *o;
	size_t olen;
	int r = sasl_server_step(s, (const unsigned char *)in, strlen(in), &o, &olen, done);
	static char copy[SASL_MSG_MAX + 1];
	memcpy(copy, o, olen);
	copy[olen] = '\0';
	*out = copy;
	return r;
}

static void rfc_exchange(const char *mech, const char *salt, const char *cnonce,
	const char *snonce, const char *const msgs[4])
{
	const char *out;
	bool done;
	make_creds(salt, SASL_CRED_SCRAM_SHA1 | SASL_CRED_SCRAM_SHA256);
	/* server side */
	struct sasl_server *s = server(mech, NULL, false);
	sasl_server_set_nonce(s, snonce);
	assert_int_equal(sstep(s, msgs[0], &out, &done), 0);
	assert_false(done);
	assert_string_equal(out, msgs[1]);
	assert_int_equal(sstep(s, msgs[2], &out, &done), 0);
	assert_true(done);
	assert_string_equal(out, msgs[3]);
	assert_string_equal(sasl_server_username(s), "user");
	sasl_server_free(&s);
	assert_null(s);
	/* client side */
	struct sasl_client_opts co = {.username = "user", .password = "pencil"};
	struct sasl_client *c = sasl_client_new(mech, &co);
	assert_non_null(c);
	sasl_client_set_nonce(c, cnonce);
	const unsigned char *o;
	size_t olen;
	assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &done), 0);
	assert_memory_equal(o, msgs[0], strlen(msgs[0]));
	assert_int_equal(olen, strlen(msgs[0]));
	assert_int_equal(sasl_client_step(c, (const unsigned char *)msgs[1], strlen(msgs[1]), &o, &olen, &done), 0);
	assert_int_equal(olen, strlen(msgs[2]));
	assert_memory_equal(o, msgs[2], olen);
	assert_false(done);
	assert_int_equal(sasl_client_step(c, (const unsigned char *)msgs[3], strlen(msgs[3]), &o, &olen, &done), 0);
	assert_true(done);
	assert_int_equal(olen, 0);
	sasl_client_free(&c);
}

/* RFC 5802 §5 */
static void test_rfc5802_example(void **state)
{
	static const char *const msgs[4] = {
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	};
	rfc_exchange("SCRAM-SHA-1", "QSXCR+Q6sek8bf92", "fyko+d2lbbFgONRv9qkxdawL",
		"3rfcNHYJY1ZVvWVs7j", msgs);
}

/* RFC 7677 §3 */
static void test_rfc7677_example(void **state)
{
	static const char *const msgs[4] = {
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	};
	rfc_exchange("scram-sha-256", "W22ZaJ0SNY7soEsUEjb6gQ==", "rOprNGfwEbeRWgbNEkqO",
		"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", msgs);
}

/* Runs a whole client-server exchange. Returns the server's last result;
 * *client_ok says whether the client accepted the server's end. */
static int round_trip(const char *smech, const char *cmech, const struct sasl_client_opts *co,
	const unsigned char *server_cb, bool plus_adv, struct sasl_server **s_r, bool *client_ok)
{
	struct sasl_server *s = server(smech, server_cb, plus_adv);
	struct sasl_client *c = sasl_client_new(cmech, co);
	assert_non_null(c);
	const unsigned char *o, *so;
	size_t olen, solen;
	bool cdone = false, sdone = false;
	int r = 0;
	*client_ok = false;
	assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &cdone), 0);
	while (r == 0 && !sdone) {
		r = sasl_server_step(s, o, olen, &so, &solen, &sdone);
		if (r != 0 || cdone)
			break;
		if (sasl_client_step(c, so, solen, &o, &olen, &cdone) != 0)
			break;
	}
	if (r == 0 && sdone && !cdone && solen > 0)
		*client_ok = sasl_client_step(c, so, solen, &o, &olen, &cdone) == 0 && cdone;
	else
		*client_ok = cdone;
	sasl_client_free(&c);
	*s_r = s;
	return r;
}

static void test_round_trips(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA1 | SASL_CRED_SCRAM_SHA256);
	const char *mechs[] = {"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"};
	for (size_t i = 0; i < 4; i++) {
		struct sasl_client_opts co = {.username = "user", .password = "pencil",
			.cb_exporter = i >= 2 ? cb_good : NULL};
		struct sasl_server *s;
		bool cok;
		assert_int_equal(round_trip(mechs[i], mechs[i], &co, cb_good, true, &s, &cok), 0);
		assert_true(cok);
		assert_string_equal(sasl_server_username(s), "user");
		assert_int_equal(sasl_server_failure(s), SASL_FAIL_NONE);
		sasl_server_free(&s);
		/* wrong password: invalid-proof, and the client does not finish */
		co.password = "pencil2";
		assert_int_equal(round_trip(mechs[i], mechs[i], &co, cb_good, true, &s, &cok), -1);
		assert_false(cok);
		assert_int_equal(sasl_server_failure(s), SASL_FAIL_CREDENTIALS);
		assert_null(sasl_server_username(s));
		sasl_server_free(&s);
	}
}

static void test_plus_binding_mismatch(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA256);
	struct sasl_client_opts co = {.username = "user", .password = "pencil", .cb_exporter = cb_other};
	struct sasl_server *s;
	bool cok;
	assert_int_equal(round_trip("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS", &co, cb_good, true, &s, &cok), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_CHANNEL);
	sasl_server_free(&s);
}

/* RFC 5802 §6: "y" while the server advertised -PLUS is a downgrade. */
static void test_downgrade_y(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA256);
	struct sasl_client_opts co = {.username = "user", .password = "pencil", .cb_exporter = cb_good};
	struct sasl_server *s;
	bool cok;
	assert_int_equal(round_trip("SCRAM-SHA-256", "SCRAM-SHA-256", &co, cb_good, true, &s, &cok), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_CHANNEL);
	sasl_server_free(&s);
	/* the same "y" is fine when the server offered no -PLUS */
	assert_int_equal(round_trip("SCRAM-SHA-256", "SCRAM-SHA-256", &co, NULL, false, &s, &cok), 0);
	assert_true(cok);
	sasl_server_free(&s);
	/* the e= answer */
	const char *out;
	bool done;
	s = server("SCRAM-SHA-256", cb_good, true);
	assert_int_equal(sstep(s, "y,,n=user,r=abc", &out, &done), -1);
	assert_string_equal(out, "e=server-does-support-channel-binding");
	sasl_server_free(&s);
}

static void expect_first_fails(const char *mech, const unsigned char *cb, const char *msg,
	enum sasl_failure kind, const char *err)
{
	const char *out;
	bool done;
	struct sasl_server *s = server(mech, cb, cb != NULL);
	assert_int_equal(sstep(s, msg, &out, &done), -1);
	assert_int_equal(sasl_server_failure(s), kind);
	if (err != NULL)
		assert_string_equal(out, err);
	assert_null(sasl_server_username(s));
	/* a failed exchange takes nothing more */
	assert_int_equal(sstep(s, "c=biws", &out, &done), -1);
	sasl_server_free(&s);
}

static void test_channel_binding_types(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA256);
	expect_first_fails("SCRAM-SHA-256-PLUS", cb_good, "p=tls-unique,,n=user,r=abc",
		SASL_FAIL_CHANNEL, "e=unsupported-channel-binding-type");
	expect_first_fails("SCRAM-SHA-256-PLUS", cb_good, "p=tls-server-end-point,,n=user,r=abc",
		SASL_FAIL_CHANNEL, "e=unsupported-channel-binding-type");
	expect_first_fails("SCRAM-SHA-256-PLUS", cb_good, "n,,n=user,r=abc", SASL_FAIL_CHANNEL, NULL);
	expect_first_fails("SCRAM-SHA-256", cb_good, "p=tls-exporter,,n=user,r=abc",
		SASL_FAIL_CHANNEL, "e=channel-binding-not-supported");
	expect_first_fails("SCRAM-SHA-256-PLUS", cb_good, "p=tls_exporter,,n=user,r=abc",
		SASL_FAIL_MALFORMED, "e=invalid-encoding");
	/* no -PLUS without a binding, none without TLS */
	struct sasl_server_opts o = {.lookup = lookup, .tls_active = true};
	assert_null(sasl_server_new("SCRAM-SHA-256-PLUS", &o));
	o.cb_exporter = cb_good;
	o.tls_active = false;
	assert_null(sasl_server_new("SCRAM-SHA-1-PLUS", &o));
	assert_null(sasl_server_new("SCRAM-SHA-512", &o));
}

static void test_malformed_first(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA256);
	static const struct {
		const char *msg;
		const char *err;
	} cases[] = {
		{"", "e=invalid-encoding"},
		{"n", "e=invalid-encoding"},
		{"n,", "e=invalid-encoding"},
		{"x,,n=user,r=abc", "e=invalid-encoding"},
		{"n,b=x,n=user,r=abc", "e=invalid-encoding"},
		{"n,a=,n=user,r=abc", "e=invalid-encoding"},
		{"n,,m=ext,n=user,r=abc", "e=extensions-not-supported"},
		{"n,,r=abc,n=user", "e=invalid-username-encoding"},
		{"n,,n=,r=abc", "e=invalid-encoding"},
		{"n,,n=us=2Der=3,r=abc", "e=invalid-username-encoding"},
		{"n,,n=us=2cer,r=abc", "e=invalid-username-encoding"},
		{"n,,n=user", "e=invalid-encoding"},
		{"n,,n=user,", "e=invalid-encoding"},
		{"n,,n=user,r=", "e=invalid-encoding"},
		{"n,,n=user,r=a b", "e=invalid-encoding"},
		{"n,,n=user,s=abc", "e=invalid-encoding"},
		{"n,,n=user,r=abc,", "e=invalid-encoding"},
		{"n,,n=user,r=abc,1=x", "e=invalid-encoding"},
		{"n,,n=user,r=abc,x", "e=invalid-encoding"},
		{"n,,n=\xff\xfe,r=abc", "e=invalid-encoding"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_first_fails("SCRAM-SHA-256", NULL, cases[i].msg, SASL_FAIL_MALFORMED, cases[i].err);
	/* a NUL inside */
	struct sasl_server *s = server("SCRAM-SHA-256", NULL, false);
	const unsigned char *o;
	size_t olen;
	bool done;
	assert_int_equal(sasl_server_step(s, (const unsigned char *)"n,,n=us\0er,r=abc", 16, &o, &olen, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
	/* too long: exactly at the limit is parsed, one past is refused */
	static char big[SASL_MSG_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "n,,n=user,r=", 12);
	s = server("SCRAM-SHA-256", NULL, false);
	assert_int_equal(sasl_server_step(s, (const unsigned char *)big, SASL_MSG_MAX, &o, &olen, &done), 0);
	sasl_server_free(&s);
	s = server("SCRAM-SHA-256", NULL, false);
	assert_int_equal(sasl_server_step(s, (const unsigned char *)big, SASL_MSG_MAX + 1, &o, &olen, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
}

/* Starts an exchange for "user" up to the server-first-message. */
static struct sasl_server *first_done(const char *first, const char **sf)
{
	bool done;
	struct sasl_server *s = server("SCRAM-SHA-1", NULL, false);
	sasl_server_set_nonce(s, "3rfcNHYJY1ZVvWVs7j");
	assert_int_equal(sstep(s, first, sf, &done), 0);
	return s;
}

static void test_malformed_final(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA1);
	static const struct {
		const char *msg;
		enum sasl_failure kind;
		const char *err;
	} cases[] = {
		{"", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4T", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=AAAA", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tt=", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_MALFORMED, "e=other-error"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_MALFORMED, "e=other-error"},
		{"c=biw,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_CHANNEL, "e=channel-bindings-dont-match"},
		{"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_MALFORMED, "e=invalid-encoding"},
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", SASL_FAIL_CREDENTIALS, "e=invalid-proof"},
		/* an extension changes AuthMessage: the RFC proof no longer fits */
		{"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,x=y,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL_CREDENTIALS, "e=invalid-proof"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *sf, *out;
		bool done;
		struct sasl_server *s = first_done("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &sf);
		assert_int_equal(sstep(s, cases[i].msg, &out, &done), -1);
		assert_int_equal(sasl_server_failure(s), cases[i].kind);
		assert_string_equal(out, cases[i].err);
		sasl_server_free(&s);
	}
}

/* A NUL inside the final message, and a final message one past the limit. */
static void test_final_nul_and_limit(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA1);
	static const char fin[] =
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,x=\0,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
	const char *sf;
	const unsigned char *o;
	size_t olen;
	bool done;
	struct sasl_server *s = first_done("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &sf);
	assert_int_equal(sasl_server_step(s, (const unsigned char *)fin, sizeof(fin) - 1, &o, &olen, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
	static char big[SASL_MSG_MAX + 1];
	memset(big, 'a', sizeof(big));
	s = first_done("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &sf);
	assert_int_equal(sasl_server_step(s, (const unsigned char *)big, sizeof(big), &o, &olen, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
	/* the client bounds server messages the same way */
	struct sasl_client_opts co = {.username = "user", .password = "pencil"};
	struct sasl_client *c = sasl_client_new("SCRAM-SHA-1", &co);
	assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &done), 0);
	assert_int_equal(sasl_client_step(c, (const unsigned char *)big, sizeof(big), &o, &olen, &done), -1);
	sasl_client_free(&c);
	/* a short fake-salt secret is refused */
	struct sasl_server_opts so = {.lookup = lookup, .secret = (const unsigned char *)"short",
		.secret_len = SASL_SECRET_MIN - 1};
	assert_null(sasl_server_new("SCRAM-SHA-1", &so));
	so.secret = (const unsigned char *)"sixteen bytes!!!";
	so.secret_len = SASL_SECRET_MIN;
	s = sasl_server_new("SCRAM-SHA-1", &so);
	assert_non_null(s);
	sasl_server_free(&s);
}

/* Authorization identity: equal to the user is fine, another is refused
 * after the proof. */
static void test_authzid(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA256);
	struct sasl_client_opts co = {.username = "user", .password = "pencil", .authzid = "user"};
	struct sasl_server *s;
	bool cok;
	assert_int_equal(round_trip("SCRAM-SHA-256", "SCRAM-SHA-256", &co, NULL, false, &s, &cok), 0);
	assert_true(cok);
	sasl_server_free(&s);
	co.authzid = "admin,x=y";
	assert_int_equal(round_trip("SCRAM-SHA-256", "SCRAM-SHA-256", &co, NULL, false, &s, &cok), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_AUTHZ);
	sasl_server_free(&s);
}

/* An unknown user gets a server-first-message of the same shape (the fake
 * salt is stable per name and secret, the iteration count the default),
 * and fails only at the proof with the same e=invalid-proof. */
static void test_unknown_user(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA1);
	static const unsigned char secret[32] = "a server secret of 32 bytes.....";
	struct sasl_server_opts o = {.lookup = lookup, .tls_active = true, .secret = secret,
		.secret_len = sizeof(secret)};
	const char *out;
	bool done;
	char first[2][256];
	for (int i = 0; i < 2; i++) {
		struct sasl_server *s = sasl_server_new("SCRAM-SHA-1", &o);
		sasl_server_set_nonce(s, "3rfcNHYJY1ZVvWVs7j");
		assert_int_equal(sstep(s, "n,,n=nobody,r=fyko+d2lbbFgONRv9qkxdawL", &out, &done), 0);
		assert_false(done);
		assert_non_null(strstr(out, ",i=4096"));
		assert_int_equal(strlen(out), strlen("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096") + 8);
		strcpy(first[i], out);
		assert_true(sasl_server_user_unknown(s));
		assert_int_equal(sstep(s, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &out, &done), -1);
		assert_string_equal(out, "e=invalid-proof");
		assert_int_equal(sasl_server_failure(s), SASL_FAIL_CREDENTIALS);
		sasl_server_free(&s);
	}
	assert_string_equal(first[0], first[1]);   /* same salt each time */
	/* a user without keys for this hash looks unknown too */
	struct sasl_server *s = sasl_server_new("SCRAM-SHA-256", &o);
	assert_int_equal(sstep(s, "n,,n=user,r=abc", &out, &done), 0);
	assert_non_null(strstr(out, ",i=15000"));
	assert_true(sasl_server_user_unknown(s));
	sasl_server_free(&s);
	/* the store failing is a temporary failure */
	o.lookup_ctx = (void *)1;
	s = sasl_server_new("SCRAM-SHA-256", &o);
	assert_int_equal(sstep(s, "n,,n=user,r=abc", &out, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_TEMP);
	sasl_server_free(&s);
}

/* Without an initial response the server sends an empty challenge first;
 * "*" from the client aborts. */
static void test_no_initial_response_and_abort(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA1);
	struct sasl_server *s = server("SCRAM-SHA-1", NULL, false);
	const unsigned char *o;
	size_t olen;
	bool done;
	assert_int_equal(sasl_server_step(s, NULL, 0, &o, &olen, &done), 0);
	assert_int_equal(olen, 0);
	assert_false(done);
	assert_int_equal(sasl_server_step(s, NULL, 0, &o, &olen, &done), -1);   /* NULL only first */
	sasl_server_free(&s);
	s = server("SCRAM-SHA-1", NULL, false);
	const char *out;
	assert_int_equal(sstep(s, "n,,n=user,r=abc", &out, &done), 0);
	sasl_server_abort(s);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_ABORTED);
	assert_int_equal(sstep(s, "c=biws", &out, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_ABORTED);
	sasl_server_free(&s);
	sasl_server_free(&s);   /* NULL is fine */
}

/* The client refuses bad server messages. */
static void test_client_refuses(void **state)
{
	static const char *const bad_first[] = {
		"", "r=other,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko,s=QSXCR+Q6sek8bf92,i=4096",   /* not longer than ours */
		"r=fykoX,s=QSXCR+Q6sek8bf92,i=4095",   /* below the floor */
		"r=fykoX,s=QSXCR+Q6sek8bf92,i=1000001",
		"r=fykoX,s=QSXCR+Q6sek8bf9,i=4096",
		"r=fykoX,s=QSXCR+Q6sek8bf92", "m=x,r=fykoX,s=QSXCR+Q6sek8bf92,i=4096",
		"e=other-error",
	};
	struct sasl_client_opts co = {.username = "user", .password = "pencil"};
	const unsigned char *o;
	size_t olen;
	bool done;
	for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
		struct sasl_client *c = sasl_client_new("SCRAM-SHA-1", &co);
		sasl_client_set_nonce(c, "fyko");
		assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &done), 0);
		assert_int_equal(sasl_client_step(c, (const unsigned char *)bad_first[i], strlen(bad_first[i]), &o, &olen, &done), -1);
		assert_string_not_equal(sasl_client_error(c), "");
		sasl_client_free(&c);
	}
	/* a wrong server signature */
	struct sasl_client *c = sasl_client_new("SCRAM-SHA-1", &co);
	sasl_client_set_nonce(c, "fyko+d2lbbFgONRv9qkxdawL");
	const char *sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
	assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &done), 0);
	assert_int_equal(sasl_client_step(c, (const unsigned char *)sf, strlen(sf), &o, &olen, &done), 0);
	assert_int_equal(sasl_client_step(c, (const unsigned char *)"v=rmF9pqV8S7suAoZWja4dJRkFsKA=", 30, &o, &olen, &done), -1);
	sasl_client_free(&c);
	/* construction */
	assert_null(sasl_client_new("CRAM-MD5", &co));
	assert_null(sasl_client_new("SCRAM-SHA-256-PLUS", &co));
	co.password = "";
	assert_null(sasl_client_new("SCRAM-SHA-256", &co));
}

/* A user name with "," and "=" is escaped by the client and unescaped by
 * the server (RFC 5802 §5.1). */
static int lookup_odd(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	if (strcmp(username, "a,b=c") != 0)
		return 0;
	*creds_r = user_creds;
	return 1;
}

static void test_saslname_escapes(void **state)
{
	make_creds("QSXCR+Q6sek8bf92", SASL_CRED_SCRAM_SHA256);
	struct sasl_server_opts o = {.lookup = lookup_odd, .tls_active = false};
	struct sasl_server *s = sasl_server_new("SCRAM-SHA-256", &o);
	struct sasl_client_opts co = {.username = "a,b=c", .password = "pencil"};
	struct sasl_client *c = sasl_client_new("SCRAM-SHA-256", &co);
	const unsigned char *o1, *o2;
	size_t l1, l2;
	bool d1, d2;
	assert_int_equal(sasl_client_step(c, NULL, 0, &o1, &l1, &d1), 0);
	assert_non_null(memmem(o1, l1, "n=a=2Cb=3Dc,", 12));
	assert_int_equal(sasl_server_step(s, o1, l1, &o2, &l2, &d2), 0);
	assert_int_equal(sasl_client_step(c, o2, l2, &o1, &l1, &d1), 0);
	assert_int_equal(sasl_server_step(s, o1, l1, &o2, &l2, &d2), 0);
	assert_true(d2);
	assert_string_equal(sasl_server_username(s), "a,b=c");
	assert_int_equal(sasl_client_step(c, o2, l2, &o1, &l1, &d1), 0);
	assert_true(d1);
	sasl_client_free(&c);
	sasl_server_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5802_example),
		cmocka_unit_test(test_rfc7677_example),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_plus_binding_mismatch),
		cmocka_unit_test(test_downgrade_y),
		cmocka_unit_test(test_channel_binding_types),
		cmocka_unit_test(test_malformed_first),
		cmocka_unit_test(test_malformed_final),
		cmocka_unit_test(test_final_nul_and_limit),
		cmocka_unit_test(test_authzid),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_no_initial_response_and_abort),
		cmocka_unit_test(test_client_refuses),
		cmocka_unit_test(test_saslname_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
