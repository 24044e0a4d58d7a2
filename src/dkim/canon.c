/*
 * canon.c: canonicalization, RFC 6376 §3.4, and the body hash of §3.7.
 *
 * Line endings: bare LF counts as CRLF (messages stored with LF endings are
 * signed and verified as their CRLF form on the wire); a CR not followed by
 * LF is data.
 *
 * The body hash streams: the state is a few flags and a count of empty lines
 * held back (they are dropped if nothing follows them, §3.4.3 and §3.4.4),
 * so memory does not depend on the body.
 */
#include "dkim/dkim.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* §3.4.1 simple: the field unchanged, line endings as CRLF.
 * §3.4.2 relaxed: name lower case, unfolded, WSP runs as one SP, no WSP at
 * the end of the value or around the colon. */
int dkim_canon_header(enum dkim_canon c, const char *field, size_t n, bool final_crlf,
                      struct buf *out)
{
	size_t start = out->len;
	/* the field's own final line ending is replaced by ours */
	if (n > 0 && field[n - 1] == '\n')
		n--;
	if (n > 0 && field[n - 1] == '\r')
		n--;
	if (c == DKIM_CANON_SIMPLE) {
		for (size_t i = 0; i < n; i++) {
			if (field[i] == '\n' && (i == 0 || field[i - 1] != '\r')) {
				if (buf_append(out, "\r\n", 2) < 0)
					goto full;
			} else if (buf_append_char(out, field[i]) < 0) {
				goto full;
			}
		}
	} else {
		const char *colon = memchr(field, ':', n);
		size_t nl = colon != NULL ? (size_t)(colon - field) : n;
		size_t ne = nl;
		while (ne > 0 && is_wsp(field[ne - 1]))
			ne--;
		for (size_t i = 0; i < ne; i++)
			if (field[i] != '\r' && field[i] != '\n' &&   /* not a field name; unfold anyway */
			    buf_append_char(out, (char)tolower((unsigned char)field[i])) < 0)
				goto full;
		if (buf_append_char(out, ':') < 0)
			goto full;
		bool space = false, any = false;
		for (size_t i = nl + 1; i < n; i++) {
			char ch = field[i];
			if (ch == '\r' || ch == '\n')
				continue;   /* unfold: §3.4.2 "Unfold all header field continuation lines" */
			if (is_wsp(ch)) {
				space = true;
				continue;
			}
			if (space && any && buf_append_char(out, ' ') < 0)
				goto full;
			space = false;
			any = true;
			if (buf_append_char(out, ch) < 0)
				goto full;
		}
	}
	if (final_crlf && buf_append(out, "\r\n", 2) < 0)
		goto full;
	return 0;
full:
	buf_truncate(out, start);
	return -1;
}

/* Canonical bytes are gathered in a small buffer before hashing. */
#define BODY_CHUNK 4096

struct dkim_body_hash {
	EVP_MD_CTX *md;
	enum dkim_canon canon;
	int64_t limit;          /* -1: none */
	uint64_t total;         /* canonical bytes produced */
	uint64_t empty_lines;   /* held back: empty lines not yet known to be inside */
	bool line_start;        /* nothing of the current line produced yet */
	bool wsp;               /* relaxed: WSP seen and not yet produced */
	bool cr;                /* a CR seen, waiting for its LF */
	size_t nchunk;
	char chunk[BODY_CHUNK];
};

static void flush(struct dkim_body_hash *bh)
{
	if (bh->nchunk > 0)
		EVP_DigestUpdate(bh->md, bh->chunk, bh->nchunk);
	bh->nchunk = 0;
}

/* Produces canonical bytes: counted always, hashed up to the limit. */
static void emit(struct dkim_body_hash *bh, const char *p, size_t n)
{
	size_t hashed = n;
	if (bh->limit >= 0) {
		uint64_t left = bh->total >= (uint64_t)bh->limit ? 0 : (uint64_t)bh->limit - bh->total;
		if (hashed > left)
			hashed = (size_t)left;
	}
	bh->total += n;
	while (hashed > 0) {
		size_t k = BODY_CHUNK - bh->nchunk;
		if (k > hashed)
			k = hashed;
		memcpy(bh->chunk + bh->nchunk, p, k);
		bh->nchunk += k;
		p += k;
		hashed -= k;
		if (bh->nchunk == BODY_CHUNK)
			flush(bh);
	}
}

static void line_end(struct dkim_body_hash *bh)
{
	if (bh->line_start) {
		bh->empty_lines++;      /* §3.4.3/§3.4.4: maybe a trailing empty line */
	} else {
		emit(bh, "\r\n", 2);
	}
	bh->line_start = true;
	bh->wsp = false;
}

static void data_byte(struct dkim_body_hash *bh, char c)
{
	if (bh->canon == DKIM_CANON_RELAXED && is_wsp(c)) {
		/* §3.4.4 a: WSP at the end of a line is ignored, runs become one SP */
		bh->wsp = true;
		return;
	}
	for (; bh->empty_lines > 0; bh->empty_lines--)
		emit(bh, "\r\n", 2);
	if (bh->wsp) {
		emit(bh, " ", 1);
		bh->wsp = false;
	}
	emit(bh, &c, 1);
	bh->line_start = false;
}

struct dkim_body_hash *dkim_body_hash_new(enum dkim_canon c, enum dkim_hash h, int64_t limit)
{
	struct dkim_body_hash *bh = calloc(1, sizeof(*bh));
	if (bh == NULL)
		abort();
	bh->md = EVP_MD_CTX_new();
	if (bh->md == NULL ||
	    EVP_DigestInit_ex(bh->md, h == DKIM_HASH_SHA1 ? EVP_sha1() : EVP_sha256(), NULL) != 1)
		abort();
	bh->canon = c;
	bh->limit = limit;
	bh->line_start = true;
	return bh;
}

void dkim_body_hash_feed(struct dkim_body_hash *bh, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];
		if (bh->cr) {
			bh->cr = false;
			if (c == '\n') {
				line_end(bh);
				continue;
			}
			data_byte(bh, '\r');
		}
		if (c == '\r')
			bh->cr = true;
		else if (c == '\n')
			line_end(bh);       /* bare LF read as CRLF */
		else
			data_byte(bh, c);
	}
}

void dkim_body_hash_finish(struct dkim_body_hash *bh, unsigned char out[64], size_t *len_r,
                           uint64_t *canon_len_r)
{
	if (bh->cr) {
		bh->cr = false;
		data_byte(bh, '\r');
	}
	/* A last line without its line ending gets one (§3.4.3, §3.4.4). Held
	 * empty lines and trailing WSP are dropped. */
	if (!bh->line_start)
		emit(bh, "\r\n", 2);
	/* §3.4.3: "If there is no body or no trailing CRLF on the message body,
	 * a CRLF is added" — for simple, an empty body is one CRLF; for relaxed
	 * it stays empty (§3.4.4, errata 1384). */
	if (bh->total == 0 && bh->canon == DKIM_CANON_SIMPLE)
		emit(bh, "\r\n", 2);
	flush(bh);
	unsigned int len = 0;
	EVP_DigestFinal_ex(bh->md, out, &len);
	*len_r = len;
	if (canon_len_r != NULL)
		*canon_len_r = bh->total;
}

void dkim_body_hash_free(struct dkim_body_hash **bh)
{
	if (*bh == NULL)
		return;
	EVP_MD_CTX_free((*bh)->md);
	free(*bh);
	*bh = NULL;
}
