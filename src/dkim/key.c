/*
 * key.c: DKIM key records in DNS, RFC 6376 §3.6.1 (and RFC 8463 §4 for
 * k=ed25519).
 *
 *   v= "DKIM1", optional, but if present the first tag
 *   h= acceptable hash algorithms, colon-separated (default: all)
 *   k= key type (default "rsa")
 *   n= notes
 *   p= public key data, base64; empty: the key was revoked
 *   s= service types, colon-separated, "*" or "email" (default "*")
 *   t= flags, colon-separated: y (testing), s (no subdomains in i=)
 *
 * Unknown tags, hash names, services and flags are ignored, as §3.6.1
 * requires of verifiers. Whether the key type fits the signature and the key
 * bytes decode is the verifier's business (verify.c, crypto.c).
 */
#include "dkim/dkim.h"

#include <string.h>
#include <strings.h>

static bool tag_is(const struct dkim_tag *t, const char *name)
{
	return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

/* Whether the colon-separated list s holds want (FWS around items ignored). */
static bool list_has(const char *s, size_t n, const char *want)
{
	size_t wl = strlen(want);
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != ':')
			j++;
		size_t b = i, e = j;
		while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n'))
			b++;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' ||
		                 s[e - 1] == '\n'))
			e--;
		if (e - b == wl && strncasecmp(s + b, want, wl) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

int dkim_key_parse(struct arena *a, const char *txt, size_t n, struct dkim_key *key_r,
                   const char **error_r)
{
	struct dkim_tag *tags;
	size_t ntags;
	struct dkim_key key = {
		.type = DKIM_KEY_RSA, .type_name = "rsa",
		.hash_sha256 = true, .hash_sha1 = true, .service_email = true,
	};
	bool seen_p = false;

	memset(key_r, 0, sizeof(*key_r));
	if (dkim_taglist_parse(a, txt, n, &tags, &ntags, error_r) < 0)
		return -1;
	for (size_t i = 0; i < ntags; i++) {
		const struct dkim_tag *t = &tags[i];
		if (tag_is(t, "v")) {
			/* §3.6.1 v=: "If specified, this tag MUST be set to "DKIM1"
			 * ... and MUST be the first tag in the record." */
			if (i != 0) {
				*error_r = "v= is not the first tag";
				return -1;
			}
			if (t->value_len != 5 || memcmp(t->value, "DKIM1", 5) != 0) {
				*error_r = "unsupported version (v= is not DKIM1)";
				return -1;
			}
		} else if (tag_is(t, "h")) {
			key.hash_sha256 = list_has(t->value, t->value_len, "sha256");
			key.hash_sha1 = list_has(t->value, t->value_len, "sha1");
		} else if (tag_is(t, "k")) {
			key.type_name = arena_strndup(a, t->value, t->value_len);
			if (strcasecmp(key.type_name, "rsa") == 0)
				key.type = DKIM_KEY_RSA;
			else if (strcasecmp(key.type_name, "ed25519") == 0)
				key.type = DKIM_KEY_ED25519;
			else
				key.type = DKIM_KEY_UNKNOWN;
		} else if (tag_is(t, "n")) {
			key.notes = arena_strndup(a, t->value, t->value_len);
		} else if (tag_is(t, "p")) {
			seen_p = true;
			unsigned char *d;
			long len = dkim_base64_decode(a, t->value, t->value_len, &d, NULL);
			if (len < 0) {
				*error_r = "p= is not base64";
				return -1;
			}
			key.pubkey = d;
			key.pubkey_len = (size_t)len;
			key.revoked = len == 0;
		} else if (tag_is(t, "s")) {
			key.service_email = list_has(t->value, t->value_len, "*") ||
			                    list_has(t->value, t->value_len, "email");
		} else if (tag_is(t, "t")) {
			key.testing = list_has(t->value, t->value_len, "y");
			key.strict = list_has(t->value, t->value_len, "s");
		}
	}
	if (!seen_p) {
		*error_r = "no p= in key record";
		return -1;
	}
	*key_r = key;
	return 0;
}
