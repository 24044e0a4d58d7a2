/*
 * header.c: reporting SPF results: result names (RFC 7208 §2.6), the
 * Received-SPF header field (§9.1) and the RFC 8601 §2.7.2 "spf" method of
 * Authentication-Results.
 *
 *   header-field     = "Received-SPF:" [CFWS] result FWS [comment FWS]
 *                      [ key-value-list ] CRLF
 *   key-value-list   = key-value-pair *( ";" [CFWS] key-value-pair ) [";"]
 *   key-value-pair   = key [CFWS] "=" ( dot-atom / quoted-string )
 *   key              = "client-ip" / "envelope-from" / "helo" /
 *                      "problem" / "receiver" / "identity" /
 *                      "mechanism" / name
 */
#include "spf/internal.h"

#include "core/arena.h"
#include "core/buf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Fold before a token that would pass this column (RFC 5322 §2.1.1: lines
 * SHOULD be at most 78 characters). */
#define HEADER_FOLD_COL 76

static const char *const names[] = {
	[SPF_NONE] = "none", [SPF_NEUTRAL] = "neutral", [SPF_PASS] = "pass",
	[SPF_FAIL] = "fail", [SPF_SOFTFAIL] = "softfail", [SPF_TEMPERROR] = "temperror",
	[SPF_PERMERROR] = "permerror",
};

const char *spf_result_name(enum spf_result r)
{
	if ((size_t)r < sizeof(names) / sizeof(names[0]) && names[r] != NULL)
		return names[r];
	return "permerror";
}

int spf_result_parse(const char *s, enum spf_result *r_r)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i]) == 0) {
			*r_r = (enum spf_result)i;
			return 0;
		}
	return -1;
}

/* RFC 5322 §3.2.3 atext */
static bool atext(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_dot_atom(const char *s)
{
	if (s[0] == '\0' || s[0] == '.')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
			return false;
		if (*p != '.' && !atext((unsigned char)*p))
			return false;
	}
	return true;
}

/* s as dot-atom, or as a quoted-string; control characters and non-ASCII
 * (which could break the header) become "?". */
static void append_value(struct buf *b, const char *s)
{
	if (is_dot_atom(s)) {
		buf_append_str(b, s);
		return;
	}
	buf_append_char(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_char(b, '\\');
		buf_append_char(b, *p < 0x20 || *p > 0x7e ? '?' : (char)*p);
	}
	buf_append_char(b, '"');
}

/* Appends token t (no CRLF in it) to the header in b, folding before it
 * when the line would get too long. *col is the current column. */
static void put(struct buf *b, size_t *col, const char *t, bool space)
{
	size_t n = strlen(t);
	if (space && *col + 1 + n > HEADER_FOLD_COL) {
		buf_append_str(b, "\r\n\t");
		*col = 8;
	} else if (space) {
		buf_append_char(b, ' ');
		(*col)++;
	}
	buf_append_str(b, t);
	*col += n;
}

/* A comment: "(" text ")", with "(", ")", "\\" in text quoted (RFC 5322
 * §3.2.2), folded between words. */
static void comment_words(struct buf *out, size_t *col, const char *text)
{
	struct buf w;
	bool first = true;

	buf_init(&w, BUF_UNBOUNDED);
	buf_append_char(&w, '(');
	for (const unsigned char *p = (const unsigned char *)text;; p++) {
		if (*p == '\0' || (*p == ' ' && w.len > 0 && !(first && w.len == 1))) {
			if (*p == '\0')
				buf_append_char(&w, ')');
			put(out, col, w.data, true);
			first = false;
			buf_reset(&w);
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == ' ')
			continue;
		if (*p == '(' || *p == ')' || *p == '\\')
			buf_append_char(&w, '\\');
		buf_append_char(&w, *p < 0x20 || *p > 0x7e ? '?' : (char)*p);
	}
	buf_free(&w);
}

/* §9.1's comment texts. */
static void comment_text(struct buf *t, const struct spf_request *rq, const struct spf_outcome *o)
{
	const char *recv = rq->receiver != NULL ? rq->receiver : "unknown";
	const char *ip = rq->ip != NULL ? rq->ip : "unknown";
	const char *who = o->sender != NULL ? o->sender : o->domain;

	buf_appendf(t, "%s: ", recv);
	switch (o->result) {
	case SPF_PASS:
		buf_appendf(t, "domain of %s designates %s as permitted sender", who, ip);
		break;
	case SPF_FAIL:
		buf_appendf(t, "domain of %s does not designate %s as permitted sender", who, ip);
		break;
	case SPF_SOFTFAIL:
		buf_appendf(t, "domain of transitioning %s does not designate %s as permitted sender",
		            who, ip);
		break;
	case SPF_NEUTRAL:
		buf_appendf(t, "%s is neither permitted nor denied by domain of %s", ip, who);
		break;
	case SPF_NONE:
		buf_appendf(t, "domain of %s does not publish an SPF record", who);
		break;
	case SPF_TEMPERROR:
		buf_appendf(t, "error in processing during lookup of %s", who);
		break;
	case SPF_PERMERROR:
		buf_appendf(t, "domain of %s has an SPF record that cannot be used", who);
		break;
	}
}

static void key_value(struct buf *b, size_t *col, const char *key, const char *value)
{
	struct buf kv;
	buf_init(&kv, BUF_UNBOUNDED);
	buf_appendf(&kv, "%s=", key);
	append_value(&kv, value);
	buf_append_char(&kv, ';');
	put(b, col, kv.data, true);
	buf_free(&kv);
}

int spf_received_header(struct buf *out, const struct spf_request *rq,
                        const struct spf_outcome *o, enum spf_identity id)
{
	struct buf h, t;
	size_t col = 0;

	buf_init(&h, BUF_UNBOUNDED);
	buf_init(&t, BUF_UNBOUNDED);
	put(&h, &col, "Received-SPF:", false);
	put(&h, &col, spf_result_name(o->result), true);
	comment_text(&t, rq, o);
	comment_words(&h, &col, t.data);
	if (rq->receiver != NULL)
		key_value(&h, &col, "receiver", rq->receiver);
	if (rq->ip != NULL)
		key_value(&h, &col, "client-ip", rq->ip);
	key_value(&h, &col, "envelope-from", rq->mail_from != NULL ? rq->mail_from : "");
	if (rq->helo != NULL && rq->helo[0] != '\0')
		key_value(&h, &col, "helo", rq->helo);
	if (o->problem != NULL && (o->result == SPF_PERMERROR || o->result == SPF_TEMPERROR))
		key_value(&h, &col, "problem", o->problem);
	if (o->mechanism != NULL)
		key_value(&h, &col, "mechanism", o->mechanism);
	key_value(&h, &col, "identity", id == SPF_ID_HELO ? "helo" : "mailfrom");
	buf_append_str(&h, "\r\n");
	int r = buf_append(out, h.data, h.len);
	buf_free(&h);
	buf_free(&t);
	return r;
}

/* RFC 8601 §2.2 pvalue: [ [ local-part ] "@" ] domain-name, else a
 * quoted-string. */
static void append_pvalue(struct buf *b, const char *s)
{
	const char *at = strrchr(s, '@');
	if (at != NULL && at[1] != '\0' && is_dot_atom(at + 1)) {
		char *local = strndup(s, (size_t)(at - s));
		if (local == NULL)
			abort();
		bool ok = local[0] == '\0' || is_dot_atom(local);
		free(local);
		if (ok) {
			buf_append_str(b, s);
			return;
		}
	}
	append_value(b, s);
}

const char *spf_authres(struct arena *a, const struct spf_outcome *o, enum spf_identity id)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	/* RFC 8601 §2.7.2: ptype "smtp", property "mailfrom" or "helo" */
	buf_appendf(&b, "spf=%s %s=", spf_result_name(o->result),
	            id == SPF_ID_HELO ? "smtp.helo" : "smtp.mailfrom");
	append_pvalue(&b, id == SPF_ID_HELO ? o->domain : (o->sender != NULL ? o->sender : o->domain));
	char *r = arena_strndup(a, b.data, b.len);
	buf_free(&b);
	return r;
}
