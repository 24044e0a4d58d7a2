/*
 * write.c: the server's side of RFC 9051 §4.3 and §7: strings in the form a
 * client can always read back (atom, quoted, literal, literal8), mailbox
 * names in the session's encoding, and status responses (§7.1).
 */
#include "imap/imap.h"
#include "imap/internal.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <string.h>
#include <strings.h>

/* ASTRING-CHAR (§9): ATOM-CHAR / resp-specials ("]"). */
static bool astring_char(unsigned char c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	return strchr("(){ %*\"\\", c) == NULL;
}

enum imap_string_form imap_string_form(const char *p, size_t n, bool astring, unsigned flags)
{
	if (memchr(p, '\0', n) != NULL)
		return IMAP_FORM_LITERAL8;
	if (astring && n > 0 && !(n == 3 && strncasecmp(p, "NIL", 3) == 0)) {
		size_t i = 0;
		while (i < n && astring_char((unsigned char)p[i]))
			i++;
		if (i == n)
			return IMAP_FORM_ATOM;
	}
	if (n > IMAP_QUOTED_MAX)
		return IMAP_FORM_LITERAL;
	bool eight = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r' || c == '\n')
			return IMAP_FORM_LITERAL;
		if (c >= 0x80)
			eight = true;
	}
	/* RFC 9051 §4.3: quoted strings may hold UTF-8 only after UTF8=ACCEPT /
	 * in rev2; a literal is always safe. */
	if (eight && (!(flags & IMAP_UTF8) || !imap_utf8_valid(p, n)))
		return IMAP_FORM_LITERAL;
	return IMAP_FORM_QUOTED;
}

static int write_form(struct buf *out, const char *p, size_t n, enum imap_string_form f)
{
	switch (f) {
	case IMAP_FORM_ATOM:
		return buf_append(out, p, n);
	case IMAP_FORM_QUOTED: {
		size_t mark = out->len;
		int rc = buf_append_char(out, '"');
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (p[i] == '"' || p[i] == '\\')
				rc = buf_append_char(out, '\\');
			if (rc == 0)
				rc = buf_append_char(out, p[i]);
		}
		if (rc == 0)
			rc = buf_append_char(out, '"');
		if (rc < 0)
			buf_truncate(out, mark);
		return rc;
	}
	case IMAP_FORM_LITERAL:
	case IMAP_FORM_LITERAL8: {
		size_t mark = out->len;
		if (buf_appendf(out, "%s{%zu}\r\n", f == IMAP_FORM_LITERAL8 ? "~" : "", n) < 0 ||
				buf_append(out, p, n) < 0) {
			buf_truncate(out, mark);
			return -1;
		}
		return 0;
	}
	}
	return -1;
}

int imap_write_astring(struct buf *out, const char *p, size_t n, unsigned flags)
{
	return write_form(out, p, n, imap_string_form(p, n, true, flags));
}

int imap_write_string(struct buf *out, const char *p, size_t n, unsigned flags)
{
	return write_form(out, p, n, imap_string_form(p, n, false, flags));
}

int imap_write_nstring(struct buf *out, const char *p, size_t n, unsigned flags)
{
	if (p == NULL)
		return buf_append_str(out, "NIL");
	return imap_write_string(out, p, n, flags);
}

int imap_write_mailbox(struct buf *out, const char *name, unsigned flags)
{
	if (flags & IMAP_UTF8)
		return imap_write_astring(out, name, strlen(name), flags);
	struct arena *a = arena_new(256, ARENA_PLAIN);
	const char *enc;
	struct error e;
	int rc;
	if (imap_mutf7_encode(name, strlen(name), a, &enc, &e) < 0)
		rc = -1;  /* tern's names are valid UTF-8; refuse to write garbage */
	else
		rc = imap_write_astring(out, enc, strlen(enc), flags);
	arena_free(&a);
	return rc;
}

int imap_write_atom_list(struct buf *out, const char *const *items, size_t n)
{
	size_t mark = out->len;
	int rc = buf_append_char(out, '(');
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i > 0)
			rc = buf_append_char(out, ' ');
		if (rc == 0)
			rc = buf_append_str(out, items[i]);
	}
	if (rc == 0)
		rc = buf_append_char(out, ')');
	if (rc < 0)
		buf_truncate(out, mark);
	return rc;
}

static int seqnum(struct buf *out, uint32_t v)
{
	return v == 0 ? buf_append_char(out, '*') : buf_appendf(out, "%u", v);
}

int imap_write_seqset(struct buf *out, const struct imap_seqset *set)
{
	if (set->saved)
		return buf_append_char(out, '$');
	size_t mark = out->len;
	int rc = 0;
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		if (i > 0)
			rc = buf_append_char(out, ',');
		if (rc == 0)
			rc = seqnum(out, set->r[i].first);
		if (rc == 0 && set->r[i].last != set->r[i].first)
			rc = buf_append_char(out, ':') < 0 ? -1 : seqnum(out, set->r[i].last);
	}
	if (rc < 0)
		buf_truncate(out, mark);
	return rc;
}

/* text = 1*TEXT-CHAR (§9): control bytes become spaces. */
static int append_text(struct buf *out, const char *t)
{
	for (; *t; t++) {
		unsigned char c = (unsigned char)*t;
		if (buf_append_char(out, (c < 0x20 || c == 0x7f) ? ' ' : (char)c) < 0)
			return -1;
	}
	return 0;
}

int imap_write_status(struct buf *out, const char *tag, const char *status,
	const char *code, const char *text)
{
	size_t mark = out->len;
	int rc = buf_appendf(out, "%s %s ", tag != NULL ? tag : "*", status);
	if (rc == 0 && code != NULL && *code != '\0') {
		rc = buf_append_char(out, '[');
		for (const char *q = code; rc == 0 && *q; q++) {
			unsigned char c = (unsigned char)*q;
			/* resp-text-code: no "]" and no control bytes inside. */
			rc = buf_append_char(out, (c < 0x20 || c == 0x7f || c == ']') ? ' ' : (char)c);
		}
		if (rc == 0)
			rc = buf_append_str(out, "] ");
	}
	if (rc == 0)
		rc = append_text(out, text != NULL && *text != '\0' ? text : status);
	if (rc == 0)
		rc = buf_append(out, "\r\n", 2);
	if (rc < 0)
		buf_truncate(out, mark);
	return rc;
}
