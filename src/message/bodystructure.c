/*
 * bodystructure.c: ENVELOPE, BODY and BODYSTRUCTURE of RFC 9051 §7.5.2
 * written as IMAP syntax from the data of imap.c and the part tree.
 *
 * Strings are quoted unless they are long or hold 8-bit text, which
 * IMAP4rev1 clients cannot take quoted: those are sent as literals (UTF-8
 * may be quoted for a client that enabled it). NUL, CR and LF never appear
 * in a value: header values are unfolded, and NUL bytes end a value because
 * IMAP's CHAR8 excludes them (RFC 9051 §9).
 * A multipart that has no parts (no delimiter was found) is written with
 * one empty text/plain part, because the grammar needs at least one.
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

/* Longest string written quoted; longer ones are literals (the same bound
 * as the IMAP writer's). */
#define QUOTED_MAX 1024

/* RFC 9051 §9: string = quoted / literal; nstring = string / nil. A string
 * is quoted unless it holds CR or LF (TEXT-CHAR excludes them), is longer
 * than QUOTED_MAX, or holds 8-bit bytes that may not be quoted: only valid
 * UTF-8, and only when utf8 says the client enabled UTF-8 (RFC 9051 §4.3,
 * RFC 6855 §3). A literal is always readable. */
static int imap_nstring_as(struct buf *out, const char *s, bool utf8)
{
	if (s == NULL)
		return buf_append_str(out, "NIL");
	size_t n = strlen(s);
	bool quotable = n <= QUOTED_MAX, eight = false;
	for (size_t i = 0; i < n && quotable; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n')
			quotable = false;
		eight |= c >= 0x80;
	}
	if (quotable && eight)
		quotable = utf8 && lex_utf8_valid(s, n);
	if (!quotable) {
		/* literal = "{" number "}" CRLF *CHAR8 */
		int r = buf_appendf(out, "{%zu}\r\n", n);
		return r < 0 ? -1 : buf_append(out, s, n);
	}
	int r = buf_append_char(out, '"');
	for (const char *p = s; r == 0 && *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')  /* quoted-specials */
			r = buf_append_char(out, '\\');
		if (r == 0)
			r = buf_append_char(out, *p);
	}
	return r < 0 ? -1 : buf_append_char(out, '"');
}

static int imap_nstring(struct buf *out, const char *s)
{
	return imap_nstring_as(out, s, false);
}

/* A string that must not be NIL. */
static int imap_string(struct buf *out, const char *s)
{
	return imap_nstring(out, s != NULL ? s : "");
}

/* RFC 9051 §7.5.2: address = "(" addr-name SP addr-adl SP addr-mailbox SP
 * addr-host ")"; a group is (NIL NIL name NIL) ... (NIL NIL NIL NIL). A
 * mailbox without local part or domain gets placeholders, because a NIL
 * host would make it a group marker. A bare word ("From: root") is most
 * likely a local part without domain: (NIL NIL "root" "MISSING_DOMAIN"),
 * while words ("To: name only") are a display name without address:
 * ("name only" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"), both as Dovecot
 * shows them. */
static int imap_address(struct buf *out, const struct message_address *m, bool utf8)
{
	int r = buf_append_char(out, '(');
	if (m->kind == MESSAGE_ADDRESS_GROUP_START) {
		r |= buf_append_str(out, "NIL NIL ");
		r |= imap_nstring_as(out, m->name_raw != NULL ? m->name_raw : "", utf8);
		return r | buf_append_str(out, " NIL)");
	}
	if (m->kind == MESSAGE_ADDRESS_GROUP_END)
		return r | buf_append_str(out, "NIL NIL NIL NIL)");
	if (m->local == NULL && m->domain == NULL && m->name_raw != NULL &&
			strchr(m->name_raw, ' ') == NULL) {
		r |= buf_append_str(out, "NIL NIL ");
		r |= imap_nstring_as(out, m->name_raw, utf8);
		return r | buf_append_str(out, " \"MISSING_DOMAIN\")");
	}
	r |= imap_nstring_as(out, m->name_raw, utf8);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring_as(out, m->route, utf8);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring_as(out, m->local != NULL && *m->local != '\0' ? m->local :
	                     "MISSING_MAILBOX", utf8);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring_as(out, m->domain != NULL && *m->domain != '\0' ? m->domain :
	                     "MISSING_DOMAIN", utf8);
	return r | buf_append_char(out, ')');
}

static int imap_address_list(struct buf *out, const struct message_address_list *l, bool utf8)
{
	if (l->count == 0)
		return buf_append_str(out, "NIL");
	int r = buf_append_char(out, '(');
	for (size_t i = 0; i < l->count; i++)
		r |= imap_address(out, &l->items[i], utf8);
	return r | buf_append_char(out, ')');
}

int message_imap_envelope_as(struct arena *a, const struct message_part *p, unsigned flags,
	struct buf *out)
{
	bool utf8 = (flags & MESSAGE_IMAP_UTF8) != 0;
	struct message_envelope env;
	message_envelope(a, p, &env);
	const struct message_address_list *lists[] = { &env.from, &env.sender, &env.reply_to,
		&env.to, &env.cc, &env.bcc };
	int r = buf_append_char(out, '(');
	r |= imap_nstring_as(out, env.date, utf8);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring_as(out, env.subject, utf8);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		r |= buf_append_char(out, ' ');
		r |= imap_address_list(out, lists[i], utf8);
	}
	r |= buf_append_char(out, ' ');
	r |= imap_nstring_as(out, env.in_reply_to, utf8);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring_as(out, env.message_id, utf8);
	return r | buf_append_char(out, ')') ? -1 : 0;
}

int message_imap_envelope(struct arena *a, const struct message_part *p, struct buf *out)
{
	return message_imap_envelope_as(a, p, 0, out);
}

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / nil;
 * text parts without parameters get RFC 2045 §5.2's charset us-ascii. */
static int imap_params(struct buf *out, const struct message_content_type *ct, bool text)
{
	if (ct->n_params == 0)
		return buf_append_str(out, text ? "(\"charset\" \"us-ascii\")" : "NIL");
	int r = buf_append_char(out, '(');
	for (size_t i = 0; i < ct->n_params; i++) {
		if (i > 0)
			r |= buf_append_char(out, ' ');
		r |= imap_string(out, ct->params[i].name);
		r |= buf_append_char(out, ' ');
		r |= imap_string(out, ct->params[i].value);
	}
	return r | buf_append_char(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int imap_ext_common(struct buf *out, const struct message_part *p)
{
	int r = 0;
	if (p->disposition.type == NULL) {
		r |= buf_append_str(out, "NIL");
	} else {
		r |= buf_append_char(out, '(');
		r |= imap_string(out, p->disposition.type);
		r |= buf_append_char(out, ' ');
		r |= imap_params(out, &p->disposition, false);
		r |= buf_append_char(out, ')');
	}
	r |= buf_append_char(out, ' ');
	if (p->n_languages == 0) {
		r |= buf_append_str(out, "NIL");
	} else {
		r |= buf_append_char(out, '(');
		for (size_t i = 0; i < p->n_languages; i++) {
			if (i > 0)
				r |= buf_append_char(out, ' ');
			r |= imap_string(out, p->languages[i]);
		}
		r |= buf_append_char(out, ')');
	}
	r |= buf_append_char(out, ' ');
	return r | imap_nstring(out, p->location);
}

static int imap_body(struct arena *a, const struct message_part *p, bool extended,
	struct buf *out);

/* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart] */
static int imap_multipart(struct arena *a, const struct message_part *p, bool extended,
	struct buf *out)
{
	int r = 0;
	if (p->children == NULL)
		r |= buf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
			"\"7bit\" 0 0)");
	for (const struct message_part *c = p->children; c != NULL; c = c->next)
		r |= imap_body(a, c, extended, out);
	r |= buf_append_char(out, ' ');
	r |= imap_string(out, p->content_type.subtype);
	if (extended) {
		r |= buf_append_char(out, ' ');
		r |= imap_params(out, &p->content_type, false);
		r |= buf_append_char(out, ' ');
		r |= imap_ext_common(out, p);
	}
	return r;
}

/* body-type-1part: basic, msg or text, with body-fields and extensions */
static int imap_single(struct arena *a, const struct message_part *p, bool extended,
	struct buf *out)
{
	bool text = strcmp(p->content_type.type, "text") == 0;
	int r = imap_string(out, p->content_type.type);
	r |= buf_append_char(out, ' ');
	r |= imap_string(out, p->content_type.subtype);
	r |= buf_append_char(out, ' ');
	/* body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
	 * body-fld-enc SP body-fld-octets */
	r |= imap_params(out, &p->content_type, text);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring(out, p->id);
	r |= buf_append_char(out, ' ');
	r |= imap_nstring(out, p->description);
	r |= buf_append_char(out, ' ');
	r |= imap_string(out, p->encoding_name);
	r |= buf_appendf(out, " %zu", p->body_size);
	if ((p->flags & MESSAGE_PART_MESSAGE) && p->children != NULL) {
		/* body-type-msg: SP envelope SP body SP body-fld-lines */
		r |= buf_append_char(out, ' ');
		r |= message_imap_envelope(a, p->children, out);
		r |= buf_append_char(out, ' ');
		r |= imap_body(a, p->children, extended, out);
	} else if (strcmp(p->content_type.type, "message") == 0 && message_part_has_lines(p)) {
		/* media-message whose body was not parsed (encoded, or past a
		 * limit): the grammar still needs an envelope and a body */
		r |= buf_append_str(out, " (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
			"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	}
	if (message_part_has_lines(p))
		r |= buf_appendf(out, " %zu", p->body_lines);
	if (extended) {
		/* body-ext-1part = body-fld-md5 SP body-fld-dsp SP body-fld-lang SP body-fld-loc */
		r |= buf_append_char(out, ' ');
		r |= imap_nstring(out, p->md5);
		r |= buf_append_char(out, ' ');
		r |= imap_ext_common(out, p);
	}
	return r;
}

static int imap_body(struct arena *a, const struct message_part *p, bool extended,
	struct buf *out)
{
	int r = buf_append_char(out, '(');
	if (p->flags & MESSAGE_PART_MULTIPART)
		r |= imap_multipart(a, p, extended, out);
	else
		r |= imap_single(a, p, extended, out);
	return r | buf_append_char(out, ')');
}

int message_imap_bodystructure(struct arena *a, const struct message_part *p, bool extended,
	struct buf *out)
{
	return imap_body(a, p, extended, out) < 0 ? -1 : 0;
}
