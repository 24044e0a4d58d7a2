/*
 * plain.c: the server side of PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login-00), the two mechanisms that send the password
 * itself. server.c offers them only over TLS.
 *
 * The password is checked against the stored argon2id hash (or, for
 * accounts that have only SCRAM keys, by recomputing them; see
 * sasl_password_verify). An unknown user, or one with nothing to check
 * against, costs one verification of a dummy argon2id hash, so that the
 * answer comes after about the same time. The password is read in place
 * from the caller's buffer and never copied.
 */
#include "sasl/internal.h"

#include <string.h>

/* Checks user and password; records the result. authzid may be NULL. */
static enum sasl_step_result check_password(struct sasl_server *s, const char *user,
	const char *authzid, const unsigned char *pw, size_t pwlen)
{
	struct sasl_credentials c;
	int found = sasl_server_lookup(s, user, &c);
	if (found < 0)
		return SASL_STEP_FAIL;
	int ok = 0;
	if (found == 1 && (c.argon2[0] != '\0' || c.scram_sha256.present || c.scram_sha1.present))
		ok = sasl_password_verify(&c, (const char *)pw, pwlen);
	else {
		sasl_server_set_unknown(s);
		sasl_dummy_verify((const char *)pw, pwlen);
	}
	sasl_credentials_clear(&c);
	if (!ok)
		return sasl_server_fail(s, SASL_FAIL_CREDENTIALS, "wrong user name or password");
	/* RFC 4616 §2: an authzid other than the authcid asks to act as someone
	 * else; tern allows no such proxying. Checked after the password so that
	 * it reveals nothing to a client that does not know it. */
	if (authzid != NULL && strcmp(authzid, user) != 0)
		return sasl_server_fail(s, SASL_FAIL_AUTHZ, "authorization identity not allowed");
	return sasl_server_success(s, user);
}

/* Copies a name field (1..SASL_USERNAME_MAX bytes of UTF-8, no NUL) into
 * dst. Returns 0 or -1. */
static int name_field(const unsigned char *p, size_t n, char dst[SASL_USERNAME_MAX + 1])
{
	if (n == 0 || n > SASL_USERNAME_MAX || !sasl_utf8_valid(p, n))
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* RFC 4616 §2:
 *   message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 *   authcid   = 1*SAFE ; MUST accept up to 255 octets
 *   authzid   = 1*SAFE ; MUST accept up to 255 octets
 *   passwd    = 1*SAFE ; MUST accept up to 255 octets
 *   UTF8NUL   = %x00
 *   SAFE      = UTF1 / UTF2 / UTF3 / UTF4 ; any UTF-8 character except NUL
 * Limits: names up to SASL_USERNAME_MAX, passwords up to SASL_PASSWORD_MAX. */
static enum sasl_step_result plain_message(struct sasl_server *s, const unsigned char *in,
	size_t len)
{
	char authzid[SASL_USERNAME_MAX + 1], authcid[SASL_USERNAME_MAX + 1];
	const unsigned char *nul1 = memchr(in, '\0', len);
	const unsigned char *nul2 = NULL;
	if (nul1 != NULL)
		nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - in));
	if (nul2 == NULL)
		return sasl_server_fail(s, SASL_FAIL_MALFORMED, "PLAIN message needs two NULs");
	size_t zlen = (size_t)(nul1 - in), clen = (size_t)(nul2 - nul1 - 1);
	const unsigned char *pw = nul2 + 1;
	size_t pwlen = len - (size_t)(pw - in);
	if ((zlen > 0 && name_field(in, zlen, authzid) != 0) ||
	    name_field(nul1 + 1, clen, authcid) != 0 || pwlen == 0 || pwlen > SASL_PASSWORD_MAX ||
	    !sasl_utf8_valid(pw, pwlen))
		return sasl_server_fail(s, SASL_FAIL_MALFORMED, "PLAIN message is malformed");
	return check_password(s, authcid, zlen > 0 ? authzid : NULL, pw, pwlen);
}

struct plain_state {
	int step;
};

static enum sasl_step_result plain_step(struct sasl_server *s, const unsigned char *in, size_t len)
{
	struct plain_state *st = sasl_server_state(s, sizeof(*st));
	if (in == NULL && st->step == 0) {
		/* RFC 4616 §2: without an initial response the server sends an
		 * empty challenge. */
		st->step = 1;
		return SASL_STEP_CONTINUE;
	}
	return plain_message(s, in, len);
}

const struct sasl_server_mech sasl_mech_plain = {
	.name = "PLAIN",
	.needs_tls = true,
	.step = plain_step,
};

/* LOGIN (draft-murchison-sasl-login-00 §2): the server asks for the user
 * name, then the password, and the client answers each with the bare value.
 * The draft's prompts are "User Name" and "Password"; it permits
 * "Username:" and "Password:" instead, which some deployed clients require
 * and most servers send. An initial response, sent by some clients, is
 * taken as the user name. */
struct login_state {
	int step;
	char user[SASL_USERNAME_MAX + 1];
};

static enum sasl_step_result login_user(struct sasl_server *s, struct login_state *st,
	const unsigned char *in, size_t len)
{
	if (name_field(in, len, st->user) != 0)
		return sasl_server_fail(s, SASL_FAIL_MALFORMED, "LOGIN user name is malformed");
	st->step = 2;
	sasl_server_reply(s, "Password:", 9);
	return SASL_STEP_CONTINUE;
}

static enum sasl_step_result login_step(struct sasl_server *s, const unsigned char *in, size_t len)
{
	struct login_state *st = sasl_server_state(s, sizeof(*st));
	if (st->step == 0 && in == NULL) {
		st->step = 1;
		sasl_server_reply(s, "Username:", 9);
		return SASL_STEP_CONTINUE;
	}
	if (st->step < 2)
		return login_user(s, st, in, len);
	if (len == 0 || len > SASL_PASSWORD_MAX || !sasl_utf8_valid(in, len))
		return sasl_server_fail(s, SASL_FAIL_MALFORMED, "LOGIN password is malformed");
	return check_password(s, st->user, NULL, in, len);
}

const struct sasl_server_mech sasl_mech_login = {
	.name = "LOGIN",
	.needs_tls = true,
	.step = login_step,
};
