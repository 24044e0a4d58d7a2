/*
 * sign.c: making DKIM-Signature fields, RFC 6376 §5.
 *
 * Always relaxed/relaxed (§3.4.2, §3.4.4: survives the whitespace changes
 * that relays make), a= from the key (rsa-sha256, or ed25519-sha256 of RFC
 * 8463), t= the signing time, no l= (§8.2: content after l= is unsigned).
 *
 * Header set (§5.4.1 recommends From, Reply-To, Subject, Date, To, Cc,
 * Resent-*, In-Reply-To, References, List-*; §5.4 adds the MIME fields):
 * dkim_default_headers, each listed as often as it occurs. The fields of
 * dkim_oversign_headers are listed once more than they occur, so that a
 * field of that name added later breaks the signature (§8.15, "oversigning";
 * mox and rspamd do the same). Fields absent from the message are not
 * listed, except oversigned ones.
 */
#include "dkim/internal.h"

#include "core/base64.h"

#include <string.h>
#include <strings.h>
#include <time.h>

const char *const dkim_default_headers[] = {
	"From", "To", "Cc", "Bcc", "Reply-To", "References", "In-Reply-To", "Subject", "Date",
	"Message-ID", "Content-Type", "MIME-Version", "Content-Transfer-Encoding", "Sender",
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc",
	"Resent-Message-ID", "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Subscribe", "List-Post", "List-Owner", "List-Archive", "Autocrypt", NULL,
};

const char *const dkim_oversign_headers[] = {
	"From", "Subject", "Date", "To", "Cc", "Reply-To", "Message-ID", "In-Reply-To",
	"References", "Content-Type", NULL,
};

/* Longest line of the field we write (RFC 5322 §2.1.1 recommends 78). */
#define FOLD_COLUMN 78

struct folder {
	struct buf *out;
	size_t col;
};

/* Appends tok, preceded by a space (sep) or nothing, folding first when the
 * line would pass FOLD_COLUMN. */
static void put(struct folder *f, const char *tok, size_t n, bool sep)
{
	if (f->col + n + (sep ? 1 : 0) > FOLD_COLUMN && f->col > 1) {
		buf_append(f->out, "\r\n ", 3);
		f->col = 1;
	} else if (sep) {
		buf_append_char(f->out, ' ');
		f->col++;
	}
	buf_append(f->out, tok, n);
	f->col += n;
}

static void puts_tok(struct folder *f, const char *tok)
{
	put(f, tok, strlen(tok), true);
}

static size_t count_fields(const struct message_headers *h, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < h->count; i++)
		c += !h->fields[i].broken && h->fields[i].name_len == strlen(name) &&
		     strncasecmp(h->fields[i].name, name, h->fields[i].name_len) == 0;
	return c;
}

static bool oversigned(const char *name)
{
	for (size_t i = 0; dkim_oversign_headers[i] != NULL; i++)
		if (strcasecmp(dkim_oversign_headers[i], name) == 0)
			return true;
	return false;
}

static int sign_one(struct arena *a, const char *msg, const struct message_headers *h,
                    const char *bh64, const struct dkim_signer *s, int64_t now,
                    struct buf *out, struct error *err)
{
	/* h=: the names in the order given, repeated as described above */
	const char *const *want = s->headers != NULL ? s->headers : dkim_default_headers;
	size_t nwant = 0;
	if (s->headers != NULL)
		nwant = s->nheaders;
	else
		while (dkim_default_headers[nwant] != NULL)
			nwant++;
	const char **names = arena_alloc(a, DKIM_MAX_SIGNED_HEADERS * sizeof(*names));
	size_t nnames = 0;
	for (size_t i = 0; i < nwant; i++) {
		size_t c = count_fields(h, want[i]) + (oversigned(want[i]) ? 1 : 0);
		for (size_t k = 0; k < c; k++) {
			if (nnames == DKIM_MAX_SIGNED_HEADERS)
				return error_set(err, ERR_LIMIT, "more than %d header fields to sign",
				                 DKIM_MAX_SIGNED_HEADERS);
			names[nnames++] = want[i];
		}
	}

	struct buf field;
	buf_init(&field, BUF_UNBOUNDED);   /* our own output, bounded by the names above */
	struct folder f = {.out = &field, .col = 0};
	buf_append_str(&field, "DKIM-Signature:");
	f.col = field.len;
	puts_tok(&f, "v=1;");
	puts_tok(&f, arena_printf(a, "a=%s;", dkim_private_key_algorithm(s->key)));
	puts_tok(&f, "c=relaxed/relaxed;");
	puts_tok(&f, arena_printf(a, "d=%s;", s->domain));
	puts_tok(&f, arena_printf(a, "s=%s;", s->selector));
	puts_tok(&f, arena_printf(a, "t=%lld;", (long long)now));
	if (s->expiration_seconds > 0)
		puts_tok(&f, arena_printf(a, "x=%lld;", (long long)(now + s->expiration_seconds)));
	for (size_t i = 0; i < nnames; i++) {
		const char *tok = arena_printf(a, "%s%s%s", i == 0 ? "h=" : "", names[i],
		                               i + 1 < nnames ? ":" : ";");
		/* sig-h-tag allows FWS around ':', so the list folds between names */
		put(&f, tok, strlen(tok), i == 0);
	}
	puts_tok(&f, arena_printf(a, "bh=%s;", bh64));
	puts_tok(&f, "b=");

	/* §3.7: the header hash covers the signed fields, then this field with
	 * an empty b= and without its final CRLF. */
	struct buf data;
	buf_init(&data, DKIM_HEADER_DATA_MAX);
	if (dkim_hash_headers(msg, h, names, nnames, DKIM_CANON_RELAXED, &data) < 0 ||
	    dkim_canon_header(DKIM_CANON_RELAXED, field.data, field.len, false, &data) < 0) {
		buf_free(&data);
		buf_free(&field);
		return error_set(err, ERR_LIMIT, "header too large to sign");
	}
	unsigned char *sig;
	size_t siglen;
	int r = dkim_crypto_sign(s->key, data.data, data.len, a, &sig, &siglen, err);
	buf_free(&data);
	if (r < 0) {
		buf_free(&field);
		return -1;
	}
	/* b= folded: as much of the value as fits on each line */
	const char *b64 = base64_arena(a, sig, siglen);
	size_t n = strlen(b64);
	for (size_t i = 0; i < n;) {
		size_t room = f.col < FOLD_COLUMN ? FOLD_COLUMN - f.col : 0;
		if (room == 0) {
			buf_append(&field, "\r\n ", 3);
			f.col = 1;
			continue;
		}
		size_t k = n - i < room ? n - i : room;
		buf_append(&field, b64 + i, k);
		f.col += k;
		i += k;
	}
	buf_append(&field, "\r\n", 2);
	r = buf_append(out, field.data, field.len);
	buf_free(&field);
	return r < 0 ? error_set(err, ERR_LIMIT, "signature does not fit") : 0;
}

int dkim_sign(const char *msg, size_t size, const struct dkim_signer *signers, size_t nsigners,
              int64_t now, struct buf *out, struct error *err)
{
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	struct message_headers h;
	unsigned flags = 0;
	int ret = -1;
	size_t body = message_headers_parse(a, msg, size, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	if (now == 0)
		now = (int64_t)time(NULL);
	/* §5.4: "The From header field MUST be signed" — so it must exist. */
	if (message_header_find(&h, "From", NULL) == NULL) {
		error_set(err, ERR_INVALID, "message has no From header field");
		goto out;
	}
	struct dkim_body_hash *bh = dkim_body_hash_new(DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -1);
	dkim_body_hash_feed(bh, msg + body, size - body);
	unsigned char digest[64];
	size_t dlen;
	dkim_body_hash_finish(bh, digest, &dlen, NULL);
	dkim_body_hash_free(&bh);
	const char *bh64 = base64_arena(a, digest, dlen);
	size_t start = out->len;
	for (size_t i = 0; i < nsigners; i++) {
		if (sign_one(a, msg, &h, bh64, &signers[i], now, out, err) < 0) {
			error_prefix(err, "%s._domainkey.%s", signers[i].selector, signers[i].domain);
			buf_truncate(out, start);
			goto out;
		}
	}
	ret = 0;
out:
	arena_free(&a);
	return ret;
}
