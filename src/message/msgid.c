/*
 * msgid.c: message identifiers (RFC 5322 §3.6.4) in Message-ID,
 * In-Reply-To and References, with the obsolete forms of §4.5.4.
 */
#include "message/message.h"
#include "message/internal.h"

#include <string.h>

/* Appends the id at p ("<" seen) to ids; returns the position after ">". */
static const char *read_id(struct arena *a, const char *p, const char *end,
	const char **ids, size_t *count)
{
	struct buf id;
	buf_init(&id, (size_t)(end - p));
	for (p++; p < end && *p != '>'; ) {
		if (*p == '(') {
			p = lex_comment(p, end, NULL);
		} else if (*p == '"') {  /* §4.5.4 obs-id-left may be a quoted string */
			const char *q = p;
			struct buf tmp;
			buf_init(&tmp, (size_t)(end - p));
			p = lex_quoted(p, end, &tmp);
			(void)buf_append(&id, q, (size_t)(p - q));
			buf_free(&tmp);
		} else {
			if (!lex_is_space((unsigned char)*p))
				(void)buf_append_char(&id, *p);
			p++;
		}
	}
	if (id.len > 0)
		ids[(*count)++] = lex_bufdup(a, &id);
	buf_free(&id);
	return p < end ? p + 1 : p;
}

/*
 * RFC 5322 §3.6.4:
 *   msg-id      = [CFWS] "<" id-left "@" id-right ">" [CFWS]
 *   in-reply-to = "In-Reply-To:" 1*msg-id CRLF
 *   references  = "References:" 1*msg-id CRLF
 * §4.5.4: obs-in-reply-to = "In-Reply-To:" *(phrase / msg-id) CRLF
 * Liberal: words outside brackets are skipped as obs-phrase; a value with
 * no brackets at all is taken as one id when it is a single word.
 */
size_t message_msgid_parse(struct arena *a, const char *s, size_t n, const char ***ids_r)
{
	size_t len, count = 0;
	const char *u = message_header_unfold(a, s, n, &len), *p = u, *end = u + len;
	const char **ids = arena_alloc(a, (len / 2 + 1) * sizeof(char *));
	struct buf skip;
	buf_init(&skip, 0);  /* takes nothing: quoted words are only skipped */
	while (p < end) {
		if (*p == '(')
			p = lex_comment(p, end, NULL);
		else if (*p == '"')
			p = lex_quoted(p, end, &skip);
		else if (*p == '<')
			p = read_id(a, p, end, ids, &count);
		else
			p++;
	}
	if (count == 0 && memchr(u, '<', len) == NULL) {
		p = lex_skip_cfws(u, end, NULL);
		const char *w = p;
		while (p < end && !lex_is_space((unsigned char)*p) && *p != '(')
			p++;
		if (p > w && lex_skip_cfws(p, end, NULL) == end)
			ids[count++] = arena_strndup(a, w, (size_t)(p - w));
	}
	*ids_r = ids;
	return count;
}
