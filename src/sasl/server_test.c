/*
 * server_test.c: PLAIN (RFC 4616 §4 examples), LOGIN, CRAM-MD5 (the RFC 2195
 * §2 example, which proves the precomputed-state approach), the advertised
 * mechanism lists, limits and the client for PLAIN.
 */
#include "sasl/internal.h"

#include "core/tls.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

/* Users "tim" (password "tanstaaftanstaaf") and "Kurt" ("xipj3plmq"). */
static struct sasl_credentials tim, kurt, kurt_scram_only;
static bool kurt_scram;

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	if (strcmp(username, "tim") == 0)
		*creds_r = tim;
	else if (strcmp(username, "Kurt") == 0)
		*creds_r = kurt_scram ? kurt_scram_only : kurt;
	else
		return 0;
	return 1;
}

static int setup(void **state)
{
	unsigned long long ops = crypto_pwhash_OPSLIMIT_MIN;
	size_t mem = crypto_pwhash_MEMLIMIT_MIN;
	if (sasl_credentials_derive_with("tanstaaftanstaaf", 16, SASL_CRED_ALL, ops, mem, NULL, 0,
	        0, 0, &tim, NULL) != 0 ||
	    sasl_credentials_derive_with("xipj3plmq", 9, SASL_CRED_ALL, ops, mem, NULL, 0, 0, 0, &kurt,
	        NULL) != 0 ||
	    sasl_credentials_derive_with("xipj3plmq", 9, SASL_CRED_SCRAM_SHA256, ops, mem, NULL, 0, 0,
	        0, &kurt_scram_only, NULL) != 0)
		return -1;
	return 0;
}

static struct sasl_server *server(const char *mech)
{
	struct sasl_server_opts o = {.lookup = lookup, .tls_active = true, .hostname = "postoffice.reston.mci.net"};
	struct sasl_server *s = sasl_server_new(mech, &o);
	assert_non_null(s);
	return s;
}

static int step(struct sasl_server *s, const void *in, size_t len, const char *want_out, bool *done)
{
	const unsigned char *o;
	size_t olen;
	int r = sasl_server_step(s, in, len, &o, &olen, done);
	if (want_out != NULL) {
		assert_int_equal(olen, strlen(want_out));
		assert_memory_equal(o, want_out, olen);
	}
	return r;
}

#define MSG(s) (s), sizeof(s) - 1

/* RFC 4616 §4, first example: no authzid, under TLS. */
static void test_plain_rfc_examples(void **state)
{
	bool done;
	struct sasl_server *s = server("PLAIN");
	assert_int_equal(step(s, NULL, 0, "", &done), 0);   /* empty challenge */
	assert_false(done);
	assert_int_equal(step(s, MSG("\0tim\0tanstaaftanstaaf"), "", &done), 0);
	assert_true(done);
	assert_string_equal(sasl_server_username(s), "tim");
	sasl_server_free(&s);
	/* second example: Kurt asks to act as Ursel, with an initial response */
	s = server("plain");
	assert_int_equal(step(s, MSG("Ursel\0Kurt\0xipj3plmq"), "", &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_AUTHZ);
	assert_null(sasl_server_username(s));
	sasl_server_free(&s);
	/* authzid equal to authcid is fine */
	s = server("PLAIN");
	assert_int_equal(step(s, MSG("Kurt\0Kurt\0xipj3plmq"), "", &done), 0);
	assert_true(done);
	sasl_server_free(&s);
	/* a Kurt with SCRAM keys only is still checked (by recomputing them) */
	kurt_scram = true;
	s = server("PLAIN");
	assert_int_equal(step(s, MSG("\0Kurt\0xipj3plmq"), "", &done), 0);
	assert_true(done);
	sasl_server_free(&s);
	s = server("PLAIN");
	assert_int_equal(step(s, MSG("\0Kurt\0xipj3plmQ"), "", &done), -1);
	sasl_server_free(&s);
	kurt_scram = false;
}

static void test_plain_failures(void **state)
{
	static const struct {
		const char *msg;
		size_t len;
		enum sasl_failure kind;
	} cases[] = {
		{MSG("\0tim\0wrong"), SASL_FAIL_CREDENTIALS},
		{MSG("\0nobody\0tanstaaftanstaaf"), SASL_FAIL_CREDENTIALS},
		{MSG(""), SASL_FAIL_MALFORMED},
		{MSG("tim"), SASL_FAIL_MALFORMED},
		{MSG("\0tim"), SASL_FAIL_MALFORMED},
		{MSG("\0tim\0"), SASL_FAIL_MALFORMED},
		{MSG("\0\0tanstaaftanstaaf"), SASL_FAIL_MALFORMED},
		{MSG("\0tim\0tanstaaf\0tanstaaf"), SASL_FAIL_MALFORMED},
		{MSG("\0t\xffm\0tanstaaftanstaaf"), SASL_FAIL_MALFORMED},
		{MSG("\0tim\0tanstaaf\xc0\xaftanstaaf"), SASL_FAIL_MALFORMED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool done;
		struct sasl_server *s = server("PLAIN");
		assert_int_equal(step(s, cases[i].msg, cases[i].len, "", &done), -1);
		assert_int_equal(sasl_server_failure(s), cases[i].kind);
		assert_string_not_equal(sasl_server_failure_text(s), "");
		sasl_server_free(&s);
	}
	/* the unknown user was verified against the dummy hash */
	bool done;
	struct sasl_server *s = server("PLAIN");
	assert_int_equal(step(s, MSG("\0nobody\0x"), NULL, &done), -1);
	assert_true(sasl_server_user_unknown(s));
	sasl_server_free(&s);
}

/* User names: SASL_USERNAME_MAX bytes are parsed, one more is refused. */
static void test_plain_limits(void **state)
{
	char m[SASL_USERNAME_MAX + 16];
	bool done;
	memset(m, 'u', sizeof(m));
	m[0] = '\0';
	m[SASL_USERNAME_MAX + 1] = '\0';
	struct sasl_server *s = server("PLAIN");
	assert_int_equal(step(s, m, SASL_USERNAME_MAX + 3, NULL, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_CREDENTIALS);   /* parsed, unknown */
	sasl_server_free(&s);
	m[SASL_USERNAME_MAX + 1] = 'u';
	m[SASL_USERNAME_MAX + 2] = '\0';
	s = server("PLAIN");
	assert_int_equal(step(s, m, SASL_USERNAME_MAX + 4, NULL, &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
	/* nothing after the end */
	s = server("PLAIN");
	assert_int_equal(step(s, MSG("\0tim\0tanstaaftanstaaf"), NULL, &done), 0);
	assert_int_equal(step(s, MSG("\0tim\0tanstaaftanstaaf"), NULL, &done), -1);
	sasl_server_free(&s);
}

static void test_login(void **state)
{
	bool done;
	struct sasl_server *s = server("LOGIN");
	assert_int_equal(step(s, NULL, 0, "Username:", &done), 0);
	assert_int_equal(step(s, MSG("tim"), "Password:", &done), 0);
	assert_int_equal(step(s, MSG("tanstaaftanstaaf"), "", &done), 0);
	assert_true(done);
	assert_string_equal(sasl_server_username(s), "tim");
	sasl_server_free(&s);
	/* initial response is the user name */
	s = server("LOGIN");
	assert_int_equal(step(s, MSG("tim"), "Password:", &done), 0);
	assert_int_equal(step(s, MSG("tanstaaf"), "", &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_CREDENTIALS);
	sasl_server_free(&s);
	s = server("LOGIN");
	assert_int_equal(step(s, MSG(""), "", &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
	/* user name: SASL_USERNAME_MAX bytes pass, one more is malformed */
	char name[SASL_USERNAME_MAX + 1];
	memset(name, 'n', sizeof(name));
	s = server("LOGIN");
	assert_int_equal(step(s, name, SASL_USERNAME_MAX, "Password:", &done), 0);
	sasl_server_free(&s);
	s = server("LOGIN");
	assert_int_equal(step(s, name, SASL_USERNAME_MAX + 1, "", &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
	s = server("LOGIN");
	assert_int_equal(step(s, MSG("tim"), "Password:", &done), 0);
	assert_int_equal(step(s, MSG("tans\0taaf"), "", &done), -1);
	assert_int_equal(sasl_server_failure(s), SASL_FAIL_MALFORMED);
	sasl_server_free(&s);
}

/* RFC 2195 §2 example, from the stored states only. The challenge is
 * <1896.697170952@postoffice.reston.mci.net> (base64 in the RFC ends "uZXQ+",
 * ".net>"); with ".com" the digest would differ. */
static void test_cram_md5_rfc2195(void **state)
{
	static const char challenge[] = "<1896.697170952@postoffice.reston.mci.net>";
	unsigned char d[16];
	cram_md5_hmac(tim.cram_md5_ipad, tim.cram_md5_opad, challenge, strlen(challenge), d);
	static const unsigned char want[16] = {0xb9, 0x13, 0xa6, 0x02, 0xc7, 0xed, 0xa7, 0xa4,
		0x95, 0xb4, 0xe6, 0xe7, 0x33, 0x4d, 0x38, 0x90};
	assert_memory_equal(d, want, 16);
	bool done;
	struct sasl_server *s = server("CRAM-MD5");
	sasl_server_set_nonce(s, challenge);
	assert_int_equal(step(s, NULL, 0, challenge, &done), 0);
	assert_int_equal(step(s, MSG("tim b913a602c7eda7a495b4e6e7334d3890"), "", &done), 0);
	assert_true(done);
	assert_string_equal(sasl_server_username(s), "tim");
	sasl_server_free(&s);
	/* a password longer than 64 bytes is hashed first (RFC 2104 §2) */
	static const char longpw[] = "0123456789012345678901234567890123456789012345678901234567890123456789";
	unsigned char ip[16], op[16], ref[16];
	unsigned int rl;
	assert_int_equal(cram_md5_states(longpw, strlen(longpw), ip, op), 0);
	cram_md5_hmac(ip, op, "msg", 3, d);
	HMAC(EVP_md5(), longpw, (int)strlen(longpw), (const unsigned char *)"msg", 3, ref, &rl);
	assert_memory_equal(d, ref, 16);
}

static void test_cram_md5_failures(void **state)
{
	static const struct {
		const char *msg;
		size_t len;
		enum sasl_failure kind;
	} cases[] = {
		{MSG("tim b913a602c7eda7a495b4e6e7334d3891"), SASL_FAIL_CREDENTIALS},
		{MSG("nobody b913a602c7eda7a495b4e6e7334d3890"), SASL_FAIL_CREDENTIALS},
		{MSG("tim B913A602C7EDA7A495B4E6E7334D3890"), SASL_FAIL_MALFORMED},
		{MSG("tim b913a602c7eda7a495b4e6e7334d389"), SASL_FAIL_MALFORMED},
		{MSG("tim  b913a602c7eda7a495b4e6e7334d3890"), SASL_FAIL_CREDENTIALS},   /* user "tim " */
		{MSG(" b913a602c7eda7a495b4e6e7334d3890"), SASL_FAIL_MALFORMED},
		{MSG("timb913a602c7eda7a495b4e6e7334d3890"), SASL_FAIL_MALFORMED},
		{MSG(""), SASL_FAIL_MALFORMED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool done;
		struct sasl_server *s = server("CRAM-MD5");
		sasl_server_set_nonce(s, "<1896.697170952@postoffice.reston.mci.net>");
		assert_int_equal(step(s, NULL, 0, NULL, &done), 0);
		assert_int_equal(step(s, cases[i].msg, cases[i].len, "", &done), -1);
		assert_int_equal(sasl_server_failure(s), cases[i].kind);
		sasl_server_free(&s);
	}
	/* no initial response; a random challenge of the right form */
	bool done;
	struct sasl_server *s = server("CRAM-MD5");
	assert_int_equal(step(s, MSG("tim"), "", &done), -1);
	sasl_server_free(&s);
	s = server("CRAM-MD5");
	const unsigned char *o;
	size_t olen;
	assert_int_equal(sasl_server_step(s, NULL, 0, &o, &olen, &done), 0);
	assert_true(olen > 30 && o[0] == '<' && o[olen - 1] == '>');
	assert_non_null(memmem(o, olen, "@postoffice.reston.mci.net>", 27));
	sasl_server_free(&s);
	/* CRAM-MD5 needs a valid hostname */
	struct sasl_server_opts opts = {.lookup = lookup, .tls_active = true};
	assert_null(sasl_server_new("CRAM-MD5", &opts));
	opts.hostname = "bad host>";
	assert_null(sasl_server_new("CRAM-MD5", &opts));
}

static void test_mechanism_lists(void **state)
{
	assert_string_equal(sasl_mechanisms_list(false, false), "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5");
	assert_string_equal(sasl_mechanisms_list(false, true), "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5");
	assert_string_equal(sasl_mechanisms_list(true, false),
		"SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	assert_string_equal(sasl_mechanisms_list(true, true),
		"SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN");
	/* no plaintext mechanisms without TLS */
	struct sasl_server_opts o = {.lookup = lookup, .hostname = "h"};
	assert_null(sasl_server_new("PLAIN", &o));
	assert_null(sasl_server_new("LOGIN", &o));
	assert_null(sasl_server_new("GSSAPI", &o));
	struct sasl_server *s = sasl_server_new("cram-md5", &o);
	assert_non_null(s);
	assert_string_equal(sasl_server_mechanism(s), "CRAM-MD5");
	sasl_server_free(&s);
	o.lookup = NULL;
	assert_null(sasl_server_new("CRAM-MD5", &o));
}

static void test_plain_client(void **state)
{
	struct sasl_client_opts co = {.username = "Kurt", .password = "xipj3plmq", .authzid = "Ursel"};
	struct sasl_client *c = sasl_client_new("PLAIN", &co);
	const unsigned char *o;
	size_t olen;
	bool done;
	assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &done), 0);
	assert_true(done);
	assert_int_equal(olen, 20);
	assert_memory_equal(o, "Ursel\0Kurt\0xipj3plmq", 20);
	assert_int_equal(sasl_client_step(c, NULL, 0, &o, &olen, &done), -1);
	sasl_client_free(&c);
	co.authzid = NULL;
	c = sasl_client_new("PLAIN", &co);
	assert_int_equal(sasl_client_step(c, (const unsigned char *)"", 0, &o, &olen, &done), 0);
	bool sdone;
	struct sasl_server *s = server("PLAIN");
	assert_int_equal(step(s, o, olen, "", &sdone), 0);
	assert_true(sdone);
	assert_string_equal(sasl_server_username(s), "Kurt");
	sasl_server_free(&s);
	sasl_client_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_rfc_examples),
		cmocka_unit_test(test_plain_failures),
		cmocka_unit_test(test_plain_limits),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_cram_md5_rfc2195),
		cmocka_unit_test(test_cram_md5_failures),
		cmocka_unit_test(test_mechanism_lists),
		cmocka_unit_test(test_plain_client),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
