/*
 * verify.c: validating an ARC chain, RFC 8617 §5.2.
 *
 *   1-3  collect the sets and check the structure (chain.c); the most
 *        recent AS with cv=fail fails the chain; cv=none only for i=1,
 *        cv=pass for every later instance (§5.2 step 3, §4.1.3)
 *   4    the AMS of the most recent instance verifies like a DKIM
 *        signature (§4.1.2: same syntax and semantics, i= the instance;
 *        h= must not name ARC-Seal; l= is refused here)
 *   5    oldest-pass: older AMSs are checked downwards until one fails
 *   6    every AS verifies over the ARC sets up to its own (§5.1.1: relaxed
 *        header canonicalization; AAR, AMS, AS of each instance in order,
 *        its own b= empty and without final CRLF)
 */
#include "arc/arc.h"

#include "message/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Bounds on the canonical data of one AMS or AS (headers of the message
 * and, for a seal, up to 50 sets). */
#define ARC_DATA_MAX (MESSAGE_MAX_HEADER_BYTES + 2 * DKIM_MAX_TAGLIST_BYTES)

struct arc_sig {
	const struct message_header *f;
	enum dkim_key_type keytype;
	const unsigned char *b;
	size_t b_len;
	const unsigned char *bh;
	size_t bh_len;
	enum dkim_canon hc, bc;
	const char *d, *s;
	const char **names;
	size_t nnames;
	enum arc_status cv;
	size_t b_start, b_end;          /* b='s value in f->value */
};

static const char *tagstr(struct arena *a, const struct dkim_tag *t)
{
	return arena_strndup(a, t->value, t->value_len);
}

static bool digits(const struct dkim_tag *t)
{
	if (t->value_len == 0 || t->value_len > 18)
		return false;
	for (size_t k = 0; k < t->value_len; k++)
		if (t->value[k] < '0' || t->value[k] > '9')
			return false;
	return true;
}

static int parse_canon(const char *v, enum dkim_canon *h, enum dkim_canon *b)
{
	const char *slash = strchr(v, '/');
	size_t hl = slash != NULL ? (size_t)(slash - v) : strlen(v);
	if (hl == 6 && strncmp(v, "simple", 6) == 0)
		*h = DKIM_CANON_SIMPLE;
	else if (hl == 7 && strncmp(v, "relaxed", 7) == 0)
		*h = DKIM_CANON_RELAXED;
	else
		return -1;
	*b = DKIM_CANON_SIMPLE;
	if (slash == NULL)
		return 0;
	if (strcmp(slash + 1, "simple") == 0)
		*b = DKIM_CANON_SIMPLE;
	else if (strcmp(slash + 1, "relaxed") == 0)
		*b = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* Parses an AMS (seal false) or AS (seal true). Returns NULL on success,
 * else why. */
static const char *parse_sig(struct arena *a, const struct message_header *f, bool seal,
                             int64_t now, struct arc_sig *s)
{
	struct dkim_tag *tags;
	size_t ntags;
	const char *why;
	memset(s, 0, sizeof(*s));
	s->f = f;
	if (dkim_taglist_parse(a, f->value, f->value_len, &tags, &ntags, &why) < 0)
		return why;
	bool has_a = false, has_b = false, has_bh = false, has_h = false, has_cv = false;
	s->hc = s->bc = DKIM_CANON_SIMPLE;
	s->cv = ARC_FAIL;
	for (size_t k = 0; k < ntags; k++) {
		const struct dkim_tag *t = &tags[k];
		const char *v = tagstr(a, t);
		if (t->name_len != 1 && !(t->name_len == 2 && (strncmp(t->name, "bh", 2) == 0 ||
		                                               strncmp(t->name, "cv", 2) == 0)))
			continue;   /* unknown tags are ignored (RFC 6376 §3.2) */
		char c = t->name[0];
		if (t->name_len == 2 && c == 'b') {
			if (seal)
				continue;
			unsigned char *raw;
			long n = dkim_base64_decode(a, t->value, t->value_len, &raw, NULL);
			if (n <= 0)
				return "bad bh=";
			s->bh = raw;
			s->bh_len = (size_t)n;
			has_bh = true;
		} else if (t->name_len == 2) {   /* cv */
			if (!seal)
				continue;
			if (strcmp(v, "none") == 0)
				s->cv = ARC_NONE;
			else if (strcmp(v, "pass") == 0)
				s->cv = ARC_PASS;
			else if (strcmp(v, "fail") == 0)
				s->cv = ARC_FAIL;
			else
				return "bad cv=";
			has_cv = true;
		} else if (c == 'a') {
			if (strcmp(v, "rsa-sha256") == 0)
				s->keytype = DKIM_KEY_RSA;
			else if (strcmp(v, "ed25519-sha256") == 0)
				s->keytype = DKIM_KEY_ED25519;
			else
				return arena_printf(a, "unsupported a=%s", v);
			has_a = true;
		} else if (c == 'b') {
			unsigned char *raw;
			long n = dkim_base64_decode(a, t->value, t->value_len, &raw, NULL);
			if (n <= 0)
				return "bad b=";
			s->b = raw;
			s->b_len = (size_t)n;
			s->b_start = t->value_off;
			s->b_end = t->value_off + t->value_len;
			has_b = true;
		} else if (c == 'c') {
			if (seal)
				continue;
			if (parse_canon(v, &s->hc, &s->bc) < 0)
				return "bad c=";
		} else if (c == 'd') {
			if (v[0] == '\0')
				return "empty d=";
			s->d = v;
		} else if (c == 's') {
			if (v[0] == '\0')
				return "empty s=";
			s->s = v;
		} else if (c == 't') {
			if (!digits(t))
				return "bad t=";
		} else if (c == 'x') {
			if (seal)
				continue;
			if (!digits(t))
				return "bad x=";
			if (strtoll(v, NULL, 10) < now)
				return "signature expired (x=)";
		} else if (c == 'l') {
			if (!seal)
				return "l= is not accepted in an ARC-Message-Signature";
		} else if (c == 'h') {
			if (seal)
				return "h= is not allowed in an ARC-Seal (§4.1.3)";
			has_h = true;
			s->names = arena_alloc(a, DKIM_MAX_SIGNED_HEADERS * sizeof(*s->names));
			const char *p = t->value, *end = t->value + t->value_len;
			while (p <= end) {
				const char *colon = memchr(p, ':', (size_t)(end - p));
				const char *e = colon != NULL ? colon : end;
				const char *q = p;
				while (q < e && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
					q++;
				const char *r = e;
				while (r > q && (r[-1] == ' ' || r[-1] == '\t' || r[-1] == '\r' ||
				                 r[-1] == '\n'))
					r--;
				if (r > q) {
					if (s->nnames == DKIM_MAX_SIGNED_HEADERS)
						return "too many names in h=";
					const char *name = arena_strndup(a, q, (size_t)(r - q));
					if (strcasecmp(name, "ARC-Seal") == 0)
						return "h= includes ARC-Seal (§4.1.2)";
					s->names[s->nnames++] = name;
				}
				/* an empty name ("a::b") signs nothing; the suite's
				 * ams_fields_h_mis_hdr expects it accepted */
				if (colon == NULL)
					break;
				p = colon + 1;
			}
		}
	}
	if (!has_a || !has_b || s->d == NULL || s->s == NULL)
		return "missing required tag (a, b, d or s)";
	if (!seal && (!has_bh || !has_h))
		return "missing required tag (bh or h)";
	if (seal && !has_cv)
		return "missing cv=";
	return NULL;
}

/* Fetches and checks the key for s; NULL with *why_r when unusable. */
static const struct dkim_key *get_key(struct arena *a, const struct arc_verify_opts *o,
                                      const struct arc_sig *s, const char **why_r)
{
	char *name = arena_printf(a, "%s._domainkey.%s", s->s, s->d);
	struct dkim_txt_answer ans;
	memset(&ans, 0, sizeof(ans));
	o->lookup(o->lookup_ctx, a, name, &ans);
	if (ans.status != DNS_OK) {
		*why_r = arena_printf(a, "no usable key record at %s (%s)", name,
		                      ans.status == DNS_TEMPFAIL ? "temporary DNS failure"
		                      : ans.status == DNS_BOGUS ? "DNSSEC bogus" : "none found");
		return NULL;
	}
	const char *why = "no key record";
	for (size_t k = 0; k < ans.n; k++) {
		struct dkim_key *key = arena_alloc(a, sizeof(*key));
		if (dkim_key_parse(a, ans.texts[k], ans.lens[k], key, &why) != 0)
			continue;
		if (key->revoked)
			why = "key revoked";
		else if (key->type != s->keytype)
			why = "key type does not fit a=";
		else if (!key->hash_sha256)
			why = "key does not allow sha256";
		else
			return key;
	}
	*why_r = arena_printf(a, "key at %s: %s", name, why);
	return NULL;
}

/* The field with b='s value removed, canonicalized, without final CRLF. */
static int canon_without_b(const char *msg, const struct arc_sig *s, enum dkim_canon c,
                           struct buf *out)
{
	const struct message_header *f = s->f;
	const char *field = msg + f->offset;
	size_t voff = (size_t)(f->value - field);
	size_t bs = voff + s->b_start, be = voff + s->b_end;
	struct buf tmp;
	buf_init(&tmp, f->size);
	if (buf_append(&tmp, field, bs) < 0 || buf_append(&tmp, field + be, f->size - be) < 0) {
		buf_free(&tmp);
		return -1;
	}
	int r = dkim_canon_header(c, tmp.data, tmp.len, false, out);
	buf_free(&tmp);
	return r;
}

static const char *check_sig(struct arena *a, const struct arc_verify_opts *o,
                             const struct arc_sig *s, const struct buf *data)
{
	const char *why;
	const struct dkim_key *key = get_key(a, o, s, &why);
	if (key == NULL)
		return why;
	unsigned bits;
	switch (dkim_crypto_verify(key->type, DKIM_HASH_SHA256, key->pubkey, key->pubkey_len,
	                           data->data, data->len, s->b, s->b_len, &bits)) {
	case DKIM_CRYPTO_OK:
		return NULL;
	case DKIM_CRYPTO_BAD:
		return "signature did not verify";
	case DKIM_CRYPTO_BADKEY:
		return "p= holds no usable public key";
	case DKIM_CRYPTO_WEAKKEY:
		return arena_printf(a, "RSA key of %u bits is too small (RFC 8301)", bits);
	}
	return "signature did not verify";
}

struct body {
	bool done[2];
	unsigned char digest[2][64];
	size_t len[2];
};

static const char *verify_ams(struct arena *a, const char *msg, size_t size, size_t body_off,
                              const struct message_headers *h, const struct arc_verify_opts *o,
                              const struct arc_sig *s, struct body *body)
{
	int c = s->bc == DKIM_CANON_RELAXED;
	if (!body->done[c]) {
		struct dkim_body_hash *bh = dkim_body_hash_new(s->bc, DKIM_HASH_SHA256, -1);
		dkim_body_hash_feed(bh, msg + body_off, size - body_off);
		dkim_body_hash_finish(bh, body->digest[c], &body->len[c], NULL);
		dkim_body_hash_free(&bh);
		body->done[c] = true;
	}
	if (s->bh_len != body->len[c] || memcmp(s->bh, body->digest[c], s->bh_len) != 0)
		return "body hash does not match (bh=)";
	struct buf data;
	buf_init(&data, ARC_DATA_MAX);
	if (dkim_hash_headers(msg, h, s->names, s->nnames, s->hc, &data) < 0 ||
	    canon_without_b(msg, s, s->hc, &data) < 0) {
		buf_free(&data);
		return "signed header data too large";
	}
	const char *why = check_sig(a, o, s, &data);
	buf_free(&data);
	return why;
}

static const char *verify_as(struct arena *a, const char *msg, const struct arc_set *sets,
                             const struct arc_sig *seals, unsigned k,
                             const struct arc_verify_opts *o)
{
	struct buf data;
	buf_init(&data, ARC_DATA_MAX);
	int r = 0;
	for (unsigned j = 1; j <= k && r == 0; j++) {
		r = dkim_canon_header(DKIM_CANON_RELAXED, msg + sets[j].aar->offset, sets[j].aar->size,
		                      true, &data);
		if (r == 0)
			r = dkim_canon_header(DKIM_CANON_RELAXED, msg + sets[j].ams->offset,
			                      sets[j].ams->size, true, &data);
		if (r == 0 && j < k)
			r = dkim_canon_header(DKIM_CANON_RELAXED, msg + sets[j].as->offset,
			                      sets[j].as->size, true, &data);
	}
	if (r == 0)
		r = canon_without_b(msg, &seals[k], DKIM_CANON_RELAXED, &data);
	const char *why = r < 0 ? "sealed data too large" : check_sig(a, o, &seals[k], &data);
	buf_free(&data);
	return why;
}

static void fail(struct arc_result *r, const char *reason)
{
	r->status = ARC_FAIL;
	r->reason = reason;
}

void arc_verify(struct arena *a, const char *msg, size_t size, const struct arc_verify_opts *o,
                struct arc_result *r)
{
	memset(r, 0, sizeof(*r));
	r->reason = "";
	struct message_headers h;
	unsigned flags = 0;
	size_t body_off = message_headers_parse(a, msg, size, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	struct arc_set *sets = arena_alloc(a, (ARC_MAX_INSTANCES + 1) * sizeof(*sets));
	if (arc_collect(a, &h, sets, r) < 0 || r->n == 0)
		return;
	int64_t now = o->now != 0 ? o->now : (int64_t)time(NULL);
	unsigned n = r->n;
	struct arc_sig *seals = arena_alloc(a, (n + 1) * sizeof(*seals));
	struct arc_sig *ams = arena_alloc(a, (n + 1) * sizeof(*ams));
	const char **ams_why = arena_alloc(a, (n + 1) * sizeof(*ams_why));
	const char *seal_why = NULL;
	unsigned seal_bad = 0;
	for (unsigned i = 1; i <= n; i++) {
		struct arc_instance *in = &r->instances[i - 1];
		const char *why = parse_sig(a, sets[i].as, true, now, &seals[i]);
		if (why != NULL && seal_why == NULL) {
			seal_why = why;
			seal_bad = i;
		}
		in->seal_domain = seals[i].d;
		in->seal_selector = seals[i].s;
		in->cv = seals[i].cv;
		ams_why[i] = parse_sig(a, sets[i].ams, false, now, &ams[i]);
		in->ams_domain = ams[i].d;
	}
	/* §5.2 step 2: the most recent seal says the chain failed before us */
	if (seal_bad != n && seals[n].cv == ARC_FAIL) {
		r->last_cv_fail = true;
		return fail(r, arena_printf(a, "ARC-Seal i=%u has cv=fail", n));
	}
	if (seal_why != NULL)
		return fail(r, arena_printf(a, "ARC-Seal i=%u: %s", seal_bad, seal_why));
	for (unsigned i = 1; i <= n; i++) {
		enum arc_status want = i == 1 ? ARC_NONE : ARC_PASS;
		if (seals[i].cv != want)
			return fail(r, arena_printf(a, "ARC-Seal i=%u has cv=%s, not %s", i,
			                            arc_status_name(seals[i].cv), arc_status_name(want)));
	}
	/* §5.2 step 4 */
	struct body body;
	memset(&body, 0, sizeof(body));
	if (ams_why[n] == NULL)
		ams_why[n] = verify_ams(a, msg, size, body_off, &h, o, &ams[n], &body);
	if (ams_why[n] != NULL)
		return fail(r, arena_printf(a, "ARC-Message-Signature i=%u: %s", n, ams_why[n]));
	r->instances[n - 1].ams_pass = true;
	/* step 5 */
	r->oldest_pass = 0;
	for (unsigned i = n - 1; i >= 1; i--) {
		if (ams_why[i] == NULL)
			ams_why[i] = verify_ams(a, msg, size, body_off, &h, o, &ams[i], &body);
		if (ams_why[i] != NULL) {
			r->oldest_pass = i + 1;
			break;
		}
		r->instances[i - 1].ams_pass = true;
	}
	/* step 6 */
	for (unsigned i = n; i >= 1; i--) {
		const char *why = verify_as(a, msg, sets, seals, i, o);
		if (why != NULL)
			return fail(r, arena_printf(a, "ARC-Seal i=%u: %s", i, why));
	}
	r->status = ARC_PASS;
	r->reason = "chain verified";
}

/* A reason as a quoted-string (RFC 8601 §2.2). */
static char *quoted(struct arena *a, const char *s)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);   /* bounded by s */
	buf_append_char(&b, '"');
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_char(&b, '\\');
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			buf_append_char(&b, *p);
	}
	buf_append_char(&b, '"');
	char *q = arena_strndup(a, b.data, b.len);
	buf_free(&b);
	return q;
}

char *arc_result_authres(struct arena *a, const struct arc_result *r, const char *remote_ip)
{
	char *s = arena_printf(a, "arc=%s", arc_status_name(r->status));
	if (r->status == ARC_FAIL && r->reason != NULL && r->reason[0] != '\0')
		s = arena_printf(a, "%s reason=%s", s, quoted(a, r->reason));
	if (r->n > 0)
		s = arena_printf(a, "%s (i=%u)", s, r->n);
	if (r->status == ARC_PASS)
		s = arena_printf(a, "%s header.oldest-pass=%u", s, r->oldest_pass);
	if (remote_ip != NULL && remote_ip[0] != '\0')
		s = arena_printf(a, "%s smtp.remote-ip=%s", s, remote_ip);
	return s;
}
