/*
 * seal.c: adding an ARC set to a message, RFC 8617 §5.1.
 *
 *   AAR  "i=N; authserv-id; results" (§4.1.1), one result per line
 *   AMS  a DKIM-style signature (§4.1.2): relaxed/relaxed, h= as given,
 *        with i= in place of DKIM's identity, no v=
 *   AS   the seal (§4.1.3, §5.1.1): cv= the status of the incoming chain,
 *        over AAR, AMS, AS of every instance in order, relaxed, its own
 *        b= empty and without final CRLF
 *
 * Field format: the one the ValiMail suite fixes so that outputs can be
 * compared (tags in alphabetical order, lower case, "; " between them, no
 * trailing ";"). Lines fold only in the space after a ";" (which relaxed
 * canonicalization maps back to one space), and inside b= only where a
 * line would pass 998 octets (RFC 5322 §2.1.1): a fold inside a value of a
 * set would change the data the next seal signs.
 */
#include "arc/arc.h"

#include "core/base64.h"
#include "message/message.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#define FOLD_COLUMN 78
#define LINE_MAX_OCTETS 998

/* Appends name ":" and the items joined by "; ", folding before an item
 * that would pass FOLD_COLUMN; values longer than a line are split. */
static void put_field(struct buf *out, const char *name, const char *const *items, size_t n)
{
	buf_append_str(out, name);
	buf_append_char(out, ':');
	size_t col = strlen(name) + 1;
	for (size_t k = 0; k < n; k++) {
		size_t len = strlen(items[k]);
		bool last = k + 1 == n;
		if (k > 0 && col + 1 + len + !last > FOLD_COLUMN) {
			buf_append(out, "\r\n\t", 3);
			col = 8;
		} else {
			buf_append_char(out, ' ');
			col++;
		}
		for (size_t i = 0; i < len;) {
			size_t room = LINE_MAX_OCTETS - 2 - col;
			size_t take = len - i < room ? len - i : room;
			buf_append(out, items[k] + i, take);
			col += take;
			i += take;
			if (i < len) {
				buf_append(out, "\r\n\t", 3);
				col = 8;
			}
		}
		if (!last) {
			buf_append_char(out, ';');
			col++;
		}
	}
	buf_append(out, "\r\n", 2);
}

static size_t count_fields(const struct message_headers *h, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < h->count; i++)
		c += !h->fields[i].broken && message_header_is(&h->fields[i], name);
	return c;
}

static char *lower(struct arena *a, const char *s)
{
	char *d = arena_strdup(a, s);
	for (char *p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return d;
}

/* Splits an Authentication-Results value into its items at ";" outside
 * comments and quoted strings; the items are unfolded, WSP runs as one SP. */
static size_t split_results(struct arena *a, const char *v, size_t n, const char **items,
                            size_t max)
{
	size_t count = 0, start = 0;
	int depth = 0;
	bool quote = false;
	for (size_t k = 0; k <= n; k++) {
		char c = k < n ? v[k] : ';';
		if (quote) {
			if (c == '\\' && k + 1 < n)
				k++;
			else if (c == '"')
				quote = false;
			if (k < n)
				continue;
		} else if (c == '"' && depth == 0) {
			quote = true;
			continue;
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && depth > 0) {
			depth--;
		} else if (c == '\\' && depth > 0 && k + 1 < n) {
			k++;
		}
		if (c != ';' || (depth > 0 && k < n))
			continue;
		/* one item: collapse whitespace */
		struct buf b;
		buf_init(&b, BUF_UNBOUNDED);   /* bounded by v */
		bool sp = false;
		for (size_t i = start; i < k && i < n; i++) {
			char ch = v[i];
			if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
				sp = b.len > 0;
				continue;
			}
			if (sp)
				buf_append_char(&b, ' ');
			sp = false;
			buf_append_char(&b, ch);
		}
		if (b.len > 0 && count < max)
			items[count++] = arena_strndup(a, b.data, b.len);
		buf_free(&b);
		start = k + 1;
	}
	return count;
}

char *arc_collect_authres(struct arena *a, const char *msg, size_t size,
                          const char *authserv_id)
{
	struct message_headers h;
	unsigned flags = 0;
	message_headers_parse(a, msg, size, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	struct buf out;
	buf_init(&out, MESSAGE_MAX_HEADER_BYTES);
	enum { MAX_ITEMS = 256 };
	const char **items = arena_alloc(a, MAX_ITEMS * sizeof(*items));
	for (const struct message_header *f = message_header_find(&h, "Authentication-Results", NULL);
	     f != NULL; f = message_header_find(&h, "Authentication-Results", f)) {
		size_t n = split_results(a, f->value, f->value_len, items, MAX_ITEMS);
		if (n == 0)
			continue;
		/* the first item is "authserv-id [version]" */
		const char *id = items[0];
		size_t idlen = strcspn(id, " (");
		if (idlen != strlen(authserv_id) || strncasecmp(id, authserv_id, idlen) != 0)
			continue;
		for (size_t k = 1; k < n; k++) {
			if (strcmp(items[k], "none") == 0)
				continue;
			if (out.len > 0)
				buf_append(&out, ";\r\n\t", 4);
			buf_append_str(&out, items[k]);
		}
	}
	char *s = arena_strndup(a, out.data != NULL ? out.data : "", out.len);
	buf_free(&out);
	return s;
}

int arc_seal(const char *msg, size_t size, const struct arc_result *chain,
             const struct arc_sealer *s, const char *authserv_id, const char *authres,
             int64_t now, struct buf *out, struct error *err)
{
	if (chain->last_cv_fail)
		return 1;
	if (chain->n >= ARC_MAX_INSTANCES)
		return error_set(err, ERR_LIMIT, "the chain already has %d ARC sets",
		                 ARC_MAX_INSTANCES);
	if (chain->status == ARC_FAIL && chain->n == 0)
		return error_set(err, ERR_INVALID, "the chain's structure is broken");
	if (authserv_id == NULL || authserv_id[0] == '\0' || strpbrk(authserv_id, " \t\r\n;") != NULL)
		return error_set(err, ERR_INVALID, "bad authserv-id");
	if (now == 0)
		now = (int64_t)time(NULL);
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	int ret = -1;
	unsigned i = chain->n + 1;
	enum arc_status cv = chain->n == 0 ? ARC_NONE
	                     : chain->status == ARC_PASS ? ARC_PASS : ARC_FAIL;
	const char *alg = dkim_private_key_algorithm(s->key);
	struct buf aar, ams, as, data;
	buf_init(&aar, BUF_UNBOUNDED);   /* bounded by authres, which the caller holds */
	buf_init(&ams, BUF_UNBOUNDED);
	buf_init(&as, BUF_UNBOUNDED);
	buf_init(&data, MESSAGE_MAX_HEADER_BYTES + 2 * DKIM_MAX_TAGLIST_BYTES);
	struct buf hdr;
	buf_init(&hdr, BUF_UNBOUNDED);   /* bounded by the header block */

	/* AAR: the results, one per line (they are already ";\r\n\t"-joined
	 * when they come from arc_collect_authres) */
	buf_appendf(&aar, "ARC-Authentication-Results: i=%u; %s;", i, authserv_id);
	if (authres == NULL || authres[0] == '\0')
		buf_append_str(&aar, " none");
	else if (strchr("\r\n", authres[0]) == NULL)
		buf_appendf(&aar, "\r\n\t%s", authres);
	else
		buf_append_str(&aar, authres);
	buf_append(&aar, "\r\n", 2);

	/* header block seen by the AMS: the new AAR on top */
	struct message_headers h;
	unsigned flags = 0;
	size_t body_off = message_headers_parse(a, msg, size, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	buf_append(&hdr, aar.data, aar.len);
	buf_append(&hdr, msg, body_off);
	struct message_headers h2;
	message_headers_parse(a, hdr.data, hdr.len, MESSAGE_MAX_HEADER_BYTES + aar.len, &h2, &flags);

	/* h= */
	const char **names = arena_alloc(a, DKIM_MAX_SIGNED_HEADERS * sizeof(*names));
	size_t nnames = 0;
	bool custom = s->headers != NULL;
	size_t nwant = custom ? s->nheaders : 0;
	if (!custom)
		while (dkim_default_headers[nwant] != NULL)
			nwant++;
	const char *const *want = custom ? s->headers : dkim_default_headers;
	for (size_t k = 0; k < nwant; k++) {
		if (strcasecmp(want[k], "ARC-Seal") == 0) {
			error_set(err, ERR_INVALID, "h= must not include ARC-Seal");
			goto out;
		}
		size_t c = custom ? 1 : count_fields(&h, want[k]);
		for (size_t j = 0; j < c; j++) {
			if (nnames == DKIM_MAX_SIGNED_HEADERS) {
				error_set(err, ERR_LIMIT, "too many header fields to sign");
				goto out;
			}
			names[nnames++] = lower(a, want[k]);
		}
	}
	struct buf hl;
	buf_init(&hl, BUF_UNBOUNDED);   /* bounded by the names above */
	buf_append_str(&hl, "h=");
	for (size_t k = 0; k < nnames; k++)
		buf_appendf(&hl, "%s%s", k > 0 ? ":" : "", names[k]);
	const char *htag = arena_strndup(a, hl.data, hl.len);
	buf_free(&hl);

	/* body hash, relaxed */
	struct dkim_body_hash *bh = dkim_body_hash_new(DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -1);
	dkim_body_hash_feed(bh, msg + body_off, size - body_off);
	unsigned char digest[64];
	size_t dlen;
	dkim_body_hash_finish(bh, digest, &dlen, NULL);
	dkim_body_hash_free(&bh);

	const char *d = lower(a, s->domain), *sel = lower(a, s->selector);
	const char *ams_items[] = {
		arena_printf(a, "a=%s", alg), "b=",
		arena_printf(a, "bh=%s", base64_arena(a, digest, dlen)), "c=relaxed/relaxed",
		arena_printf(a, "d=%s", d), htag, arena_printf(a, "i=%u", i),
		arena_printf(a, "s=%s", sel), arena_printf(a, "t=%lld", (long long)now),
	};
	enum { NAMS = sizeof(ams_items) / sizeof(ams_items[0]) };
	put_field(&ams, "ARC-Message-Signature", ams_items, NAMS);
	if (dkim_hash_headers(hdr.data, &h2, names, nnames, DKIM_CANON_RELAXED, &data) < 0 ||
	    dkim_canon_header(DKIM_CANON_RELAXED, ams.data, ams.len, false, &data) < 0) {
		error_set(err, ERR_LIMIT, "header too large to sign");
		goto out;
	}
	unsigned char *sig;
	size_t siglen;
	if (dkim_crypto_sign(s->key, data.data, data.len, a, &sig, &siglen, err) < 0)
		goto out;
	ams_items[1] = arena_printf(a, "b=%s", base64_arena(a, sig, siglen));
	buf_reset(&ams);
	put_field(&ams, "ARC-Message-Signature", ams_items, NAMS);

	/* AS over the sets 1..i */
	buf_reset(&data);
	struct arc_set *sets = arena_alloc(a, (ARC_MAX_INSTANCES + 1) * sizeof(*sets));
	struct arc_result tmp;
	memset(&tmp, 0, sizeof(tmp));
	if (chain->n > 0 && (arc_collect(a, &h, sets, &tmp) < 0 || tmp.n != chain->n)) {
		error_set(err, ERR_INVALID, "the chain's structure is broken");
		goto out;
	}
	/* With cv=fail the seal covers its own set only: what the ValiMail
	 * suite's signer (dkimpy) does and expects byte for byte
	 * (i1_base_fail, i2_base_fail). Verifiers never check such a seal:
	 * cv=fail on the most recent seal fails the chain (§5.2 step 2). */
	for (unsigned j = cv == ARC_FAIL ? i : 1; j < i; j++) {
		const struct message_header *fs[3] = {sets[j].aar, sets[j].ams, sets[j].as};
		for (int k = 0; k < 3; k++)
			if (dkim_canon_header(DKIM_CANON_RELAXED, msg + fs[k]->offset, fs[k]->size, true,
			                      &data) < 0) {
				error_set(err, ERR_LIMIT, "chain too large to seal");
				goto out;
			}
	}
	const char *as_items[] = {
		arena_printf(a, "a=%s", alg), "b=", arena_printf(a, "cv=%s", arc_status_name(cv)),
		arena_printf(a, "d=%s", d), arena_printf(a, "i=%u", i), arena_printf(a, "s=%s", sel),
		arena_printf(a, "t=%lld", (long long)now),
	};
	enum { NAS = sizeof(as_items) / sizeof(as_items[0]) };
	put_field(&as, "ARC-Seal", as_items, NAS);
	if (dkim_canon_header(DKIM_CANON_RELAXED, aar.data, aar.len, true, &data) < 0 ||
	    dkim_canon_header(DKIM_CANON_RELAXED, ams.data, ams.len, true, &data) < 0 ||
	    dkim_canon_header(DKIM_CANON_RELAXED, as.data, as.len, false, &data) < 0) {
		error_set(err, ERR_LIMIT, "chain too large to seal");
		goto out;
	}
	if (dkim_crypto_sign(s->key, data.data, data.len, a, &sig, &siglen, err) < 0)
		goto out;
	as_items[1] = arena_printf(a, "b=%s", base64_arena(a, sig, siglen));
	buf_reset(&as);
	put_field(&as, "ARC-Seal", as_items, NAS);

	if (buf_append(out, as.data, as.len) < 0 || buf_append(out, ams.data, ams.len) < 0 ||
	    buf_append(out, aar.data, aar.len) < 0) {
		error_set(err, ERR_LIMIT, "ARC set does not fit");
		goto out;
	}
	ret = 0;
out:
	buf_free(&aar);
	buf_free(&ams);
	buf_free(&as);
	buf_free(&data);
	buf_free(&hdr);
	arena_free(&a);
	return ret;
}
