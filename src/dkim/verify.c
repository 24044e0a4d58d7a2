/*
 * verify.c: verifying the DKIM-Signature fields of a message, RFC 6376 §6,
 * with the results named as in RFC 8601 §2.7.1.
 *
 * For each signature, top to bottom, up to a limit:
 *   §6.1.1  parse and validate the field (signature.c): permerror
 *           a= rsa-sha1 (RFC 8301 §3.1): policy; unknown a=: permerror
 *           x= passed, t= in the future: permerror
 *   §6.1.2  get the key at SELECTOR._domainkey.DOMAIN: no record permerror,
 *           DNS failure or DNSSEC bogus temperror; revoked, wrong type,
 *           hash or service, t=s with a subdomain i=: permerror
 *   §6.1.3  compare the body hash: fail; l= beyond the body: permerror
 *           verify the signature over the header hash: fail, or policy for
 *           an RSA key under 1024 bits (RFC 8301 §3.2)
 *
 * The body is read once whatever the number of signatures: one streaming
 * hash per distinct (canonicalization, hash, l=).
 */
#include "dkim/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *dkim_status_name(enum dkim_status s)
{
	switch (s) {
	case DKIM_PASS: return "pass";
	case DKIM_FAIL: return "fail";
	case DKIM_NEUTRAL: return "neutral";
	case DKIM_TEMPERROR: return "temperror";
	case DKIM_PERMERROR: return "permerror";
	case DKIM_POLICY: return "policy";
	}
	return "permerror";
}

int dkim_hash_headers(const char *msg, const struct message_headers *h,
                      const char *const *names, size_t nnames, enum dkim_canon c,
                      struct buf *out)
{
	for (size_t i = 0; i < nnames; i++) {
		/* how many times this name was used before in h= */
		size_t used = 0;
		for (size_t j = 0; j < i; j++)
			used += strcasecmp(names[j], names[i]) == 0;
		/* §5.4.2: "the first instance of the header field is the last one
		 * in the header block"; skip the ones already taken. */
		const struct message_header *found = NULL;
		for (size_t k = h->count; k-- > 0;) {
			const struct message_header *f = &h->fields[k];
			if (f->broken || f->name_len != strlen(names[i]) ||
			    strncasecmp(f->name, names[i], f->name_len) != 0)
				continue;
			if (used == 0) {
				found = f;
				break;
			}
			used--;
		}
		if (found != NULL &&
		    dkim_canon_header(c, msg + found->offset, found->size, true, out) < 0)
			return -1;
	}
	return 0;
}

/* ---- lookup through src/dns ---- */

void dkim_dns_lookup(void *ctx, struct arena *a, const char *name, struct dkim_txt_answer *ans_r)
{
	struct dns_result *r = NULL;
	memset(ans_r, 0, sizeof(*ans_r));
	ans_r->status = dns_lookup_txt(ctx, name, &r);
	if (r->status == DNS_BOGUS)
		ans_r->error = arena_strdup(a, r->why_bogus != NULL ? r->why_bogus : "DNSSEC bogus");
	else if (r->error != NULL)
		ans_r->error = arena_strdup(a, r->error);
	if (r->status == DNS_OK && r->nrrs > 0) {
		const char **texts = arena_alloc(a, r->nrrs * sizeof(*texts));
		size_t *lens = arena_alloc(a, r->nrrs * sizeof(*lens));
		size_t n = 0;
		for (size_t i = 0; i < r->nrrs; i++) {
			if (r->rrs[i].type != DNS_TYPE_TXT)
				continue;
			texts[n] = arena_strndup(a, r->rrs[i].u.txt.text, r->rrs[i].u.txt.len);
			lens[n++] = r->rrs[i].u.txt.len;
		}
		ans_r->texts = texts;
		ans_r->lens = lens;
		ans_r->n = n;
		if (n == 0)
			ans_r->status = DNS_NODATA;
	}
	dns_result_free(&r);
}

/* ---- one signature ---- */

struct body_job {
	enum dkim_canon canon;
	enum dkim_hash hash;
	int64_t limit;
	struct dkim_body_hash *bh;
	unsigned char digest[64];
	size_t digest_len;
	uint64_t canon_len;
};

#define MAX_JOBS DKIM_MAX_SIGNATURES

/* Fills the Authentication-Results fields from a tag-list that may not be a
 * valid signature. */
static void best_effort(struct arena *a, const struct message_header *f, struct dkim_result *r)
{
	struct dkim_tag *tags;
	size_t ntags;
	const char *why;
	if (dkim_taglist_parse(a, f->value, f->value_len, &tags, &ntags, &why) < 0)
		return;
	for (size_t i = 0; i < ntags; i++) {
		const char *v = arena_strndup(a, tags[i].value, tags[i].value_len);
		if (strchr(v, '\n') != NULL || strchr(v, '"') != NULL || strchr(v, '\\') != NULL)
			continue;
		if (tags[i].name_len == 1 && tags[i].name[0] == 'd')
			r->domain = v;
		else if (tags[i].name_len == 1 && tags[i].name[0] == 's')
			r->selector = v;
		else if (tags[i].name_len == 1 && tags[i].name[0] == 'a')
			r->algorithm = v;
		else if (tags[i].name_len == 1 && tags[i].name[0] == 'i')
			r->identity = v;
	}
}

static void set(struct dkim_result *r, enum dkim_status s, const char *reason)
{
	r->status = s;
	r->reason = reason;
}

/* Whether the domain of identity is exactly domain (t=s, §3.6.1). */
static bool identity_exact(const char *identity, const char *domain)
{
	const char *at = strrchr(identity, '@');
	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

static void check_key(struct arena *a, const struct dkim_verify_opts *o,
                      const struct dkim_signature *sig, struct dkim_result *r,
                      const struct dkim_key **key_r)
{
	char *name = arena_printf(a, "%s._domainkey.%s", sig->selector, sig->domain);
	struct dkim_txt_answer ans;
	memset(&ans, 0, sizeof(ans));
	o->lookup(o->lookup_ctx, a, name, &ans);
	*key_r = NULL;
	switch (ans.status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		set(r, DKIM_PERMERROR, arena_printf(a, "no key record at %s", name));
		return;
	case DNS_TEMPFAIL:
		set(r, DKIM_TEMPERROR, arena_printf(a, "key lookup at %s failed: %s", name,
		                                    ans.error != NULL ? ans.error : "temporary failure"));
		return;
	case DNS_BOGUS:
		/* a key we cannot trust now; the zone may be fixed later */
		set(r, DKIM_TEMPERROR, arena_printf(a, "key record at %s is DNSSEC bogus: %s", name,
		                                    ans.error != NULL ? ans.error : "no reason"));
		return;
	case DNS_INVALID:
		set(r, DKIM_PERMERROR, arena_printf(a, "%s is not a valid domain name", name));
		return;
	}
	/* §6.1.2 step 4: "If the query for the public key returns multiple key
	 * records, the Verifier can choose one of the key records": the first
	 * that parses. */
	const char *why = "no key record";
	for (size_t i = 0; i < ans.n; i++) {
		struct dkim_key *key = arena_alloc(a, sizeof(*key));
		if (dkim_key_parse(a, ans.texts[i], ans.lens[i], key, &why) == 0) {
			*key_r = key;
			break;
		}
	}
	const struct dkim_key *key = *key_r;
	if (key == NULL) {
		set(r, DKIM_PERMERROR, arena_printf(a, "bad key record at %s: %s", name, why));
		return;
	}
	r->key_testing = key->testing;
	bool ed = sig->alg == DKIM_ALG_ED25519_SHA256;
	if (key->revoked)
		set(r, DKIM_PERMERROR, "key revoked (empty p=)");
	else if (key->type == DKIM_KEY_UNKNOWN)
		set(r, DKIM_PERMERROR, arena_printf(a, "unknown key type k=%s", key->type_name));
	else if (key->type != (ed ? DKIM_KEY_ED25519 : DKIM_KEY_RSA))
		set(r, DKIM_PERMERROR, arena_printf(a, "key type k=%s does not fit a=%s",
		                                    key->type_name, sig->algorithm));
	else if (!key->hash_sha256)
		set(r, DKIM_PERMERROR, "key record does not allow sha256 (h=)");
	else if (!key->service_email)
		set(r, DKIM_PERMERROR, "key record is not for email (s=)");
	else if (key->strict && !identity_exact(sig->identity, sig->domain))
		set(r, DKIM_PERMERROR, "key has t=s but i= is a subdomain of d=");
	else
		return;
	*key_r = NULL;
}

/* The DKIM-Signature field itself with b='s value removed (§3.7: "with the
 * value of the "b=" tag (including all surrounding whitespace) deleted"),
 * canonicalized without its final CRLF. */
static int hash_sig_field(const char *msg, const struct message_header *f,
                          const struct dkim_signature *sig, struct buf *out)
{
	const char *field = msg + f->offset;
	size_t voff = (size_t)(f->value - field);
	size_t bs = voff + sig->b_value_start, be = voff + sig->b_value_end;
	struct buf tmp;
	buf_init(&tmp, f->size);
	if (buf_append(&tmp, field, bs) < 0 || buf_append(&tmp, field + be, f->size - be) < 0) {
		buf_free(&tmp);
		return -1;
	}
	int r = dkim_canon_header(sig->header_canon, tmp.data, tmp.len, false, out);
	buf_free(&tmp);
	return r;
}

static void verify_one(struct arena *a, const char *msg, const struct message_headers *h,
                       const struct message_header *f, const struct dkim_signature *sig,
                       const struct body_job *job, const struct dkim_verify_opts *o,
                       int64_t now, struct dkim_result *r)
{
	if (sig->alg == DKIM_ALG_UNKNOWN) {
		set(r, DKIM_PERMERROR, arena_printf(a, "unknown algorithm a=%s", sig->algorithm));
		return;
	}
	if (sig->alg == DKIM_ALG_RSA_SHA1) {
		/* RFC 8301 §3.1: "Verifiers MUST NOT consider signatures using
		 * SHA-1 to be valid" */
		set(r, DKIM_POLICY, "rsa-sha1 is not accepted (RFC 8301)");
		return;
	}
	if (sig->has_expiration && sig->expiration < now) {
		set(r, DKIM_PERMERROR, "signature expired (x=)");
		return;
	}
	if (sig->has_timestamp && sig->timestamp > now + DKIM_CLOCK_SKEW) {
		set(r, DKIM_PERMERROR, "signature timestamp t= is in the future");
		return;
	}
	const struct dkim_key *key;
	check_key(a, o, sig, r, &key);
	if (key == NULL)
		return;

	if (sig->has_length && sig->length > job->canon_len) {
		set(r, DKIM_PERMERROR, "l= is larger than the body");
		return;
	}
	r->body_length_limited = sig->has_length && sig->length < job->canon_len;
	if (sig->bh_len != job->digest_len || memcmp(sig->bh, job->digest, job->digest_len) != 0) {
		set(r, DKIM_FAIL, "body hash does not match (bh=)");
		return;
	}

	struct buf data;
	buf_init(&data, DKIM_HEADER_DATA_MAX);
	if (dkim_hash_headers(msg, h, sig->headers, sig->nheaders, sig->header_canon, &data) < 0 ||
	    hash_sig_field(msg, f, sig, &data) < 0) {
		buf_free(&data);
		set(r, DKIM_PERMERROR, "signed header data too large");
		return;
	}
	enum dkim_crypto_result cr = dkim_crypto_verify(
		key->type, DKIM_HASH_SHA256, key->pubkey, key->pubkey_len, data.data, data.len,
		sig->b, sig->b_len, &r->key_bits);
	buf_free(&data);
	switch (cr) {
	case DKIM_CRYPTO_OK:
		set(r, DKIM_PASS, key->testing ? "signature verified (key in testing mode, t=y)"
		                               : "signature verified");
		break;
	case DKIM_CRYPTO_BAD:
		set(r, DKIM_FAIL, "signature did not verify");
		break;
	case DKIM_CRYPTO_BADKEY:
		set(r, DKIM_PERMERROR, "p= holds no usable public key");
		break;
	case DKIM_CRYPTO_WEAKKEY:
		set(r, DKIM_POLICY, arena_printf(a, "RSA key of %u bits is too small (RFC 8301)",
		                                 r->key_bits));
		break;
	}
}

void dkim_verify(struct arena *a, const char *msg, size_t size, const struct dkim_verify_opts *o,
                 struct dkim_verification *v_r)
{
	struct message_headers h;
	unsigned flags = 0;
	size_t body = message_headers_parse(a, msg, size, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	unsigned max = o->max_signatures != 0 ? o->max_signatures : DKIM_MAX_SIGNATURES;
	if (max > DKIM_MAX_SIGNATURES)
		max = DKIM_MAX_SIGNATURES;
	int64_t now = o->now != 0 ? o->now : (int64_t)time(NULL);

	memset(v_r, 0, sizeof(*v_r));
	v_r->results = arena_alloc(a, max * sizeof(*v_r->results));
	const struct message_header *fields[DKIM_MAX_SIGNATURES];
	struct dkim_signature *sigs[DKIM_MAX_SIGNATURES];
	size_t jobidx[DKIM_MAX_SIGNATURES];
	struct body_job jobs[MAX_JOBS];
	size_t njobs = 0, n = 0;

	for (const struct message_header *f = message_header_find(&h, "DKIM-Signature", NULL);
	     f != NULL; f = message_header_find(&h, "DKIM-Signature", f)) {
		if (n == max) {
			v_r->skipped++;
			continue;
		}
		struct dkim_result *r = &v_r->results[n];
		struct dkim_signature *sig = arena_alloc(a, sizeof(*sig));
		const char *why = NULL;
		fields[n] = f;
		sigs[n] = NULL;
		r->reason = "";
		if (dkim_signature_parse(a, f->value, f->value_len, sig, &why) < 0) {
			best_effort(a, f, r);
			set(r, DKIM_PERMERROR, arena_printf(a, "bad signature field: %s", why));
			n++;
			continue;
		}
		sigs[n] = sig;
		r->sig = sig;
		r->domain = sig->domain;
		r->selector = sig->selector;
		r->algorithm = sig->algorithm;
		r->identity = sig->identity;
		r->b_prefix = arena_strndup(a, sig->b_text, 8);
		/* one body hash per distinct canonicalization and l= */
		int64_t limit = sig->has_length ? (int64_t)(sig->length > (uint64_t)INT64_MAX / 2
		                                            ? INT64_MAX / 2 : sig->length) : -1;
		enum dkim_hash hash = sig->alg == DKIM_ALG_RSA_SHA1 ? DKIM_HASH_SHA1 : DKIM_HASH_SHA256;
		size_t j;
		for (j = 0; j < njobs; j++)
			if (jobs[j].canon == sig->body_canon && jobs[j].hash == hash &&
			    jobs[j].limit == limit)
				break;
		if (j == njobs) {
			jobs[j] = (struct body_job){.canon = sig->body_canon, .hash = hash,
			                            .limit = limit};
			jobs[j].bh = dkim_body_hash_new(sig->body_canon, hash, limit);
			njobs++;
		}
		jobidx[n] = j;
		n++;
	}
	for (size_t j = 0; j < njobs; j++) {
		dkim_body_hash_feed(jobs[j].bh, msg + body, size - body);
		dkim_body_hash_finish(jobs[j].bh, jobs[j].digest, &jobs[j].digest_len,
		                      &jobs[j].canon_len);
		dkim_body_hash_free(&jobs[j].bh);
	}
	for (size_t i = 0; i < n; i++)
		if (sigs[i] != NULL)
			verify_one(a, msg, &h, fields[i], sigs[i], &jobs[jobidx[i]], o, now,
			           &v_r->results[i]);
	v_r->n = n;
}

/* ---- Authentication-Results ---- */

/* A pvalue (RFC 8601 §2.2): a token as is, else a quoted-string. */
static const char *pvalue(struct arena *a, const char *v)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?= \t";
	bool token = v[0] != '\0';
	for (const char *p = v; *p != '\0'; p++)
		if (strchr(tspecials, *p) != NULL || (unsigned char)*p < 0x21 ||
		    (unsigned char)*p > 0x7e)
			token = false;
	if (token)
		return v;
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);  /* bounded by v, which we hold */
	buf_append_char(&b, '"');
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_char(&b, '\\');
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			buf_append_char(&b, *p);
	}
	buf_append_char(&b, '"');
	char *s = arena_strndup(a, b.data, b.len);
	buf_free(&b);
	return s;
}

char *dkim_result_authres(struct arena *a, const struct dkim_result *r)
{
	char *s = arena_printf(a, "dkim=%s", dkim_status_name(r->status));
	/* RFC 8601 §2.2: resinfo = methodspec [ reasonspec ] [ 1*propspec ];
	 * a reason has spaces, so it is always a quoted-string. */
	if (r->status != DKIM_PASS && r->reason != NULL && r->reason[0] != '\0') {
		char *q = arena_strdup(a, pvalue(a, r->reason));
		if (q[0] != '"')
			q = arena_printf(a, "\"%s\"", q);
		s = arena_printf(a, "%s reason=%s", s, q);
	}
	if (r->domain != NULL)
		s = arena_printf(a, "%s header.d=%s", s, pvalue(a, r->domain));
	if (r->selector != NULL)
		s = arena_printf(a, "%s header.s=%s", s, pvalue(a, r->selector));
	if (r->algorithm != NULL)
		s = arena_printf(a, "%s header.a=%s", s, pvalue(a, r->algorithm));
	if (r->b_prefix != NULL)
		s = arena_printf(a, "%s header.b=%s", s, pvalue(a, r->b_prefix));
	return s;
}
