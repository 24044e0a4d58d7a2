/*
 * message.c: finding the report in a report message. DMARC aggregate reports
 * (RFC 7489 §7.2.1.1) come as application/gzip or application/zip (older
 * reporters: application/x-gzip, application/octet-stream, text/xml, a bare
 * .xml), TLS reports (RFC 8460 §5.3) as application/tlsrpt+gzip or
 * application/tlsrpt+json (some send application/tlsrpt or
 * application/json). Labels are hints only: what a candidate part holds is
 * decided by its bytes (gzip and zip magic numbers, then '<' or '{').
 */
#include "reports/internal.h"

#include "message/message.h"

#include <string.h>
#include <strings.h>

/* Most candidate parts tried in one message. */
#define CANDIDATES_MAX 8

static bool ends_with(const char *s, const char *suffix)
{
	if (s == NULL)
		return false;
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static const char *part_filename(const struct message_part *p)
{
	const char *f = NULL;
	if (p->disposition.type != NULL)
		f = message_param_get(&p->disposition, "filename");
	if (f == NULL)
		f = message_param_get(&p->content_type, "name");
	return f;
}

/* Whether part p looks like a report attachment. */
static bool candidate(const struct message_part *p)
{
	if (p->flags & (MESSAGE_PART_MULTIPART | MESSAGE_PART_MESSAGE))
		return false;
	const char *t = p->content_type.type, *s = p->content_type.subtype;
	if (t == NULL || s == NULL)
		return false;
	static const char *const app[] = {
		"xml", "gzip", "x-gzip", "zip", "x-zip", "x-zip-compressed",
		"tlsrpt+json", "tlsrpt+gzip", "tlsrpt", "json",
	};
	if (strcmp(t, "application") == 0)
		for (size_t i = 0; i < sizeof(app) / sizeof(app[0]); i++)
			if (strcmp(s, app[i]) == 0)
				return true;
	if (strcmp(t, "text") == 0 && strcmp(s, "xml") == 0)
		return true;
	const char *f = part_filename(p);
	return ends_with(f, ".xml") || ends_with(f, ".gz") || ends_with(f, ".zip") ||
	       ends_with(f, ".json");
}

static const char *skip_ws(const char *s, size_t n, size_t *left)
{
	size_t i = 0;
	/* a UTF-8 byte order mark, then white space */
	if (n >= 3 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb &&
	    (unsigned char)s[2] == 0xbf)
		i = 3;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	*left = n - i;
	return s + i;
}

/* Decodes, unpacks and parses one candidate part into out. */
static int try_part(const struct message *m, const struct message_part *p, struct arena *a,
                    struct report *out, struct error *err)
{
	struct buf raw, doc;
	/* The attachment as sent is at most the size of its encoded body. */
	buf_init(&raw, p->body_size + 16);
	buf_init(&doc, REPORTS_DOC_MAX);
	int ret = -1;
	if (message_decode(p->encoding, m->data + p->body_offset, p->body_size, &raw) != 0) {
		error_set(err, ERR_LIMIT, "attachment: cannot decode");
		goto done;
	}
	const unsigned char *u = (const unsigned char *)raw.data;
	out->packing = REPORT_PLAIN;
	if (raw.len >= 2 && u[0] == 0x1f && u[1] == 0x8b) {
		out->packing = REPORT_GZIP;
		if (reports_gunzip(raw.data, raw.len, REPORTS_DOC_MAX, &doc, err) != 0)
			goto done;
	} else if (raw.len >= 4 && memcmp(u, "PK\003\004", 4) == 0) {
		out->packing = REPORT_ZIP;
		if (reports_unzip(raw.data, raw.len, REPORTS_DOC_MAX, &doc, err) != 0)
			goto done;
	} else if (buf_append(&doc, raw.data, raw.len) != 0) {
		error_set(err, ERR_LIMIT, "attachment: larger than %u bytes", REPORTS_DOC_MAX);
		goto done;
	}
	size_t left;
	const char *start = skip_ws(doc.data, doc.len, &left);
	char *d = arena_alloc(a, doc.len + 1);
	memcpy(d, doc.data, doc.len);
	out->doc = d;
	out->doc_len = doc.len;
	const char *dstart = d + (start - doc.data);
	if (left > 0 && *start == '<') {
		out->kind = REPORT_DMARC;
		ret = reports_dmarc_parse(dstart, left, a, &out->dmarc, err);
	} else if (left > 0 && *start == '{') {
		out->kind = REPORT_TLSRPT;
		ret = reports_tlsrpt_parse(dstart, left, a, &out->tlsrpt, err);
	} else {
		error_set(err, ERR_INVALID, "attachment is neither XML nor JSON");
	}
	if (ret == 0) {
		char *r = arena_alloc(a, raw.len + 1);
		memcpy(r, raw.data, raw.len);
		out->raw = r;
		out->raw_len = raw.len;
	}
done:
	buf_free(&raw);
	buf_free(&doc);
	return ret;
}

int reports_parse_message(const char *data, size_t len, struct arena *a, struct report *out,
                          struct error *err)
{
	memset(out, 0, sizeof(*out));
	struct message *m = message_parse(a, data, len, NULL);
	struct error first;
	error_clear(&first);
	int tried = 0;
	for (const struct message_part *p = m->root; p != NULL && tried < CANDIDATES_MAX;
	     p = message_part_next(p)) {
		if (!candidate(p))
			continue;
		tried++;
		struct error e;
		memset(out, 0, sizeof(*out));
		if (try_part(m, p, a, out, &e) == 0) {
			out->filename = part_filename(p);
			out->content_type = arena_printf(a, "%s/%s", p->content_type.type,
			                                 p->content_type.subtype);
			return 0;
		}
		if (tried == 1) {
			const char *f = part_filename(p);
			first = e;
			if (f != NULL)
				error_prefix(&first, "%.100s", f);
		}
	}
	memset(out, 0, sizeof(*out));
	if (tried == 0)
		return error_set(err, ERR_NOTFOUND, "no report attachment (xml, gzip, zip or "
		                 "tlsrpt) in the message");
	if (err != NULL)
		*err = first;
	return -1;
}
