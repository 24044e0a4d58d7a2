/*
 * signature.c: the DKIM-Signature header field, RFC 6376 §3.5.
 *
 * Required tags: v, a, b, bh, d, h, s. Optional: c, i, l, q, t, x, z.
 * Unknown tags are ignored (§3.2: "Unrecognized tags MUST be ignored").
 * Everything that makes the signature unusable is an error here, and so a
 * permerror for the verifier (§6.1.1); an unknown algorithm parses so that
 * the verifier can name it in its reason.
 */
#include "dkim/dkim.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool tag_is(const struct dkim_tag *t, const char *name)
{
	return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

/* The value with all FWS removed (for d=, s=, a=, c=, q=, h= pieces). */
static char *strip_fws(struct arena *a, const char *s, size_t n)
{
	char *out = arena_alloc(a, n + 1), *o = out;
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			*o++ = s[i];
	*o = '\0';
	return out;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* 1*12DIGIT (§3.5 l=, t=, x=: "unsigned decimal integer", at most 12
 * digits for t= and x=, 76 for l=; we take up to 18 so it fits in 64 bits). */
static int parse_number(const char *s, uint64_t *v_r)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* sig-c-tag = %x63 [FWS] "=" [FWS] sig-c-tag-alg ["/" sig-c-tag-alg] */
static int parse_canon(const char *s, struct dkim_signature *sig)
{
	const char *slash = strchr(s, '/');
	size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);
	const char *body = slash != NULL ? slash + 1 : "simple";
	if (hl == 6 && strncasecmp(s, "simple", 6) == 0)
		sig->header_canon = DKIM_CANON_SIMPLE;
	else if (hl == 7 && strncasecmp(s, "relaxed", 7) == 0)
		sig->header_canon = DKIM_CANON_RELAXED;
	else
		return -1;
	if (strcasecmp(body, "simple") == 0)
		sig->body_canon = DKIM_CANON_SIMPLE;
	else if (strcasecmp(body, "relaxed") == 0)
		sig->body_canon = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* sig-h-tag = %x68 [FWS] "=" [FWS] hdr-name *( [FWS] ":" [FWS] hdr-name ) */
static int parse_h(struct arena *a, const char *s, struct dkim_signature *sig)
{
	size_t n = strlen(s), count = 1;
	for (size_t i = 0; i < n; i++)
		count += s[i] == ':';
	if (count > DKIM_MAX_SIGNED_HEADERS)
		return -1;
	sig->headers = arena_alloc(a, count * sizeof(*sig->headers));
	sig->nheaders = 0;
	for (const char *p = s;;) {
		size_t len = strcspn(p, ":");
		if (len == 0)
			return -1;
		/* field-name = 1*ftext, ftext = %d33-57 / %d59-126 (RFC 5322 §3.6.8) */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126)
				return -1;
		sig->headers[sig->nheaders++] = arena_strndup(a, p, len);
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	return 0;
}

/* Whether identity's domain (after the last '@') is domain or a subdomain of
 * it (§3.5 i=: "The domain part of the address MUST be the same as, or a
 * subdomain of, the value of the "d=" tag"). */
static bool identity_in_domain(const char *identity, const char *domain)
{
	const char *at = strrchr(identity, '@');
	if (at == NULL)
		return false;
	const char *idom = at + 1;
	size_t il = strlen(idom), dl = strlen(domain);
	if (il == dl)
		return strcasecmp(idom, domain) == 0;
	return il > dl && idom[il - dl - 1] == '.' && strcasecmp(idom + il - dl, domain) == 0;
}

/* A domain as in §3.5 d= (domain-name = sub-domain 1*("." sub-domain)),
 * or a selector (§3.1: sub-domain *("." sub-domain)); letters, digits,
 * hyphens and underscores, no empty labels. U-labels (8-bit) are accepted
 * and looked up as given. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c < 0x80)
			return false;
	}
	return true;
}

int dkim_signature_parse(struct arena *a, const char *value, size_t n,
                         struct dkim_signature *sig_r, const char **error_r)
{
	struct dkim_tag *tags;
	size_t ntags;
	struct dkim_signature sig = {
		.header_canon = DKIM_CANON_SIMPLE, .body_canon = DKIM_CANON_SIMPLE,
		.query = "dns/txt",
	};
	bool seen_b = false, seen_bh = false;

	memset(sig_r, 0, sizeof(*sig_r));
	if (dkim_taglist_parse(a, value, n, &tags, &ntags, error_r) < 0)
		return -1;
	for (size_t i = 0; i < ntags; i++) {
		const struct dkim_tag *t = &tags[i];
		char *v = strip_fws(a, t->value, t->value_len);
		/* d= and s= are names: no FWS inside them */
		char *raw = arena_strndup(a, t->value, t->value_len);
		uint64_t num;
		if (tag_is(t, "v")) {
			/* §3.5 v=: "MUST have the value "1"" */
			if (strcmp(v, "1") != 0) {
				*error_r = arena_printf(a, "unsupported version v=%s", v);
				return -1;
			}
			sig.version = 1;
		} else if (tag_is(t, "a")) {
			lower(v);
			sig.algorithm = v;
			if (strcmp(v, "rsa-sha256") == 0)
				sig.alg = DKIM_ALG_RSA_SHA256;
			else if (strcmp(v, "ed25519-sha256") == 0)   /* RFC 8463 §3 */
				sig.alg = DKIM_ALG_ED25519_SHA256;
			else if (strcmp(v, "rsa-sha1") == 0)
				sig.alg = DKIM_ALG_RSA_SHA1;
			else
				sig.alg = DKIM_ALG_UNKNOWN;
		} else if (tag_is(t, "b")) {
			unsigned char *d;
			char *text;
			long len = dkim_base64_decode(a, t->value, t->value_len, &d, &text);
			if (len <= 0) {
				*error_r = "b= is not base64";
				return -1;
			}
			sig.b = d;
			sig.b_len = (size_t)len;
			sig.b_text = text;
			sig.b_value_start = t->value_off;
			sig.b_value_end = t->value_off + t->value_len;
			seen_b = true;
		} else if (tag_is(t, "bh")) {
			unsigned char *d;
			long len = dkim_base64_decode(a, t->value, t->value_len, &d, NULL);
			if (len <= 0) {
				*error_r = "bh= is not base64";
				return -1;
			}
			sig.bh = d;
			sig.bh_len = (size_t)len;
			seen_bh = true;
		} else if (tag_is(t, "c")) {
			if (parse_canon(v, &sig) < 0) {
				*error_r = arena_printf(a, "unknown canonicalization c=%s", v);
				return -1;
			}
		} else if (tag_is(t, "d")) {
			v = raw;
			lower(v);
			if (!name_ok(v)) {
				*error_r = "d= is not a domain name";
				return -1;
			}
			sig.domain = v;
		} else if (tag_is(t, "h")) {
			if (parse_h(a, v, &sig) < 0) {
				*error_r = "h= is not a list of header names";
				return -1;
			}
		} else if (tag_is(t, "i")) {
			/* §3.5 i=: [ Local-part ] "@" domain-name; dkim-quoted-printable
			 * in the local-part is kept as written. */
			if (strchr(v, '@') == NULL) {
				*error_r = "i= has no \"@\"";
				return -1;
			}
			sig.identity = v;
		} else if (tag_is(t, "l")) {
			if (parse_number(v, &num) < 0) {
				*error_r = "l= is not a number";
				return -1;
			}
			sig.has_length = true;
			sig.length = num;
		} else if (tag_is(t, "q")) {
			/* sig-q-tag-method *(":" ...); only dns/txt is defined (§3.5) */
			bool dns = false;
			for (char *p = v; *p != '\0';) {
				size_t len = strcspn(p, ":");
				dns = dns || (len == 7 && strncasecmp(p, "dns/txt", 7) == 0);
				p += len + (p[len] == ':');
			}
			if (!dns) {
				*error_r = arena_printf(a, "unsupported query method q=%s", v);
				return -1;
			}
			sig.query = v;
		} else if (tag_is(t, "s")) {
			v = raw;
			lower(v);
			if (!name_ok(v)) {
				*error_r = "s= is not a selector";
				return -1;
			}
			sig.selector = v;
		} else if (tag_is(t, "t") || tag_is(t, "x")) {
			if (parse_number(v, &num) < 0 || num > INT64_MAX / 2) {
				*error_r = arena_printf(a, "%.*s= is not a number", (int)t->name_len,
				                        t->name);
				return -1;
			}
			if (tag_is(t, "t")) {
				sig.has_timestamp = true;
				sig.timestamp = (int64_t)num;
			} else {
				sig.has_expiration = true;
				sig.expiration = (int64_t)num;
			}
		} else if (tag_is(t, "z")) {
			sig.copied_headers = arena_strndup(a, t->value, t->value_len);
		}
	}

	/* §6.1.1: "If any tag listed as "required" in Section 3.5 is omitted
	 * from the DKIM-Signature header field, the Verifier MUST ignore the
	 * DKIM-Signature header field and return PERMFAIL". */
	const char *missing = sig.version == 0 ? "v" : sig.algorithm == NULL ? "a"
		: !seen_b ? "b" : !seen_bh ? "bh" : sig.domain == NULL ? "d"
		: sig.headers == NULL ? "h" : sig.selector == NULL ? "s" : NULL;
	if (missing != NULL) {
		*error_r = arena_printf(a, "missing required tag %s=", missing);
		return -1;
	}
	/* §5.4: "The From header field MUST be signed". */
	bool from = false;
	for (size_t i = 0; i < sig.nheaders; i++)
		from = from || strcasecmp(sig.headers[i], "from") == 0;
	if (!from) {
		*error_r = "From is not signed (h= lacks from)";
		return -1;
	}
	if (sig.identity == NULL) {
		sig.identity = arena_printf(a, "@%s", sig.domain);
	} else if (!identity_in_domain(sig.identity, sig.domain)) {
		/* §6.1.1: "the Verifier MUST ... return PERMFAIL (domain mismatch)" */
		*error_r = arena_printf(a, "i= domain not within d=%s", sig.domain);
		return -1;
	}
	/* §3.5 x=: "the "x=" tag MUST be greater than the value of the "t=" tag" */
	if (sig.has_timestamp && sig.has_expiration && sig.expiration <= sig.timestamp) {
		*error_r = "x= is not after t=";
		return -1;
	}
	*sig_r = sig;
	return 0;
}
