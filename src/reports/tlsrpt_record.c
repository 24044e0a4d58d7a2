/*
 * tlsrpt_record.c: the "_smtp._tls" TXT record of SMTP TLS Reporting
 * (RFC 8460 §3), see tlsrpt_out.h. A pure parser: cursor and end, no NUL
 * relied on, every value bounded.
 *
 * RFC 8460 §3:
 *   tlsrpt-record     = tlsrpt-version 1*(field-delim tlsrpt-field)
 *                       [field-delim]
 *   field-delim       = *WSP ";" *WSP
 *   tlsrpt-field      = tlsrpt-rua /        ; Note 1
 *                       tlsrpt-extension
 *   tlsrpt-version    = %s"v=TLSRPTv1"
 *   tlsrpt-rua        = %s"rua="
 *                       tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *   tlsrpt-uri        = URI
 *   tlsrpt-extension  = tlsrpt-ext-name "=" tlsrpt-ext-value
 *   tlsrpt-ext-name   = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   tlsrpt-ext-value  = 1*(%x21-3A / %x3C / %x3E-7E)
 * Note 1: the rua field is required; a record with more than one is
 * refused. A URI is taken as the run of characters up to "," ";" or
 * whitespace (a URI holds none of them unencoded in practice; RFC 3986
 * allows "," and ";" as sub-delims, which this reads as separators, as
 * other implementations do).
 */
#include "reports/tlsrpt_out.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VERSION_TAG "v=TLSRPTv1"

struct cursor {
	const char *p, *end;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* How much of the input at p to quote in an error: at most 40 bytes, never
 * past the end (the input is not NUL-terminated). */
static int quote_len(const char *p, const char *end)
{
	return end - p > 40 ? 40 : (int)(end - p);
}

static void skip_wsp(struct cursor *c)
{
	while (c->p < c->end && is_wsp(*c->p))
		c->p++;
}

bool reports_tlsrpt_record_is_tlsrpt(const char *txt, size_t len)
{
	/* §3: records that do not begin with "v=TLSRPTv1;" are discarded */
	size_t n = strlen(VERSION_TAG);
	return len > n && memcmp(txt, VERSION_TAG, n) == 0 && txt[n] == ';';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The address of a mailto: URI (RFC 6068 §2: to = addr-spec *("," addr-spec),
 * pct-encoded; hfields after "?" are dropped). One address only. */
static int mailto_address(const char *uri, size_t len, struct arena *a, const char **out,
                          struct error *e)
{
	const char *p = uri + strlen("mailto:"), *end = uri + len;
	const char *q = memchr(p, '?', (size_t)(end - p));
	if (q != NULL)
		end = q;
	char *addr = arena_alloc(a, (size_t)(end - p) + 1);
	size_t n = 0;
	for (; p < end; p++) {
		char c = *p;
		if (c == '%') {
			if (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
				return error_set(e, ERR_INVALID, "rua: bad %%-escape in \"%.200s\"", uri);
			c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		}
		if ((unsigned char)c <= 0x20 || c == 0x7f || c == ',' || c == '<' || c == '>')
			return error_set(e, ERR_INVALID, "rua: \"%.200s\" is not one mail address", uri);
		addr[n++] = c;
	}
	addr[n] = '\0';
	const char *at = strrchr(addr, '@');
	if (at == NULL || at == addr || at[1] == '\0' || strchr(at + 1, '.') == NULL)
		return error_set(e, ERR_INVALID, "rua: \"%.200s\" has no address local@domain", uri);
	*out = addr;
	return 0;
}

/* An https: URI: "https://" and a host. */
static int check_https(const char *uri, size_t len, struct error *e)
{
	size_t n = strlen("https://");
	if (len <= n || strncasecmp(uri, "https://", n) != 0 || uri[n] == '/')
		return error_set(e, ERR_INVALID, "rua: \"%.200s\" is not an https URI with a host",
		                 uri);
	return 0;
}

/* One tlsrpt-uri up to "," ";" or whitespace. */
static int parse_uri(struct cursor *c, struct arena *a, struct tlsrpt_record *r,
                     struct error *e)
{
	const char *s = c->p;
	while (c->p < c->end && *c->p != ',' && *c->p != ';' && !is_wsp(*c->p)) {
		if ((unsigned char)*c->p < 0x20 || *c->p == 0x7f)
			return error_set(e, ERR_INVALID, "rua: control character in a URI");
		c->p++;
	}
	size_t len = (size_t)(c->p - s);
	if (len == 0)
		return error_set(e, ERR_INVALID, "rua: empty URI");
	if (len > TLSRPT_URI_MAX)
		return error_set(e, ERR_LIMIT, "rua: URI longer than %d bytes", TLSRPT_URI_MAX);
	const char *colon = memchr(s, ':', len);
	if (colon == NULL || colon == s)
		return error_set(e, ERR_INVALID, "rua: \"%.*s\" has no scheme", (int)(len > 200 ? 200 :
		                 len), s);
	const char *uri = arena_strndup(a, s, len);
	struct tlsrpt_rua u = {.uri = uri};
	if (strncasecmp(uri, "mailto:", 7) == 0) {
		u.scheme = TLSRPT_MAILTO;
		if (mailto_address(uri, len, a, &u.address, e) != 0)
			return -1;
	} else if (strncasecmp(uri, "https:", 6) == 0) {
		u.scheme = TLSRPT_HTTPS;
		if (check_https(uri, len, e) != 0)
			return -1;
	} else {
		r->nignored++;   /* §3: only mailto and https are defined */
		return 0;
	}
	if (r->nrua >= TLSRPT_RUA_MAX)
		return error_set(e, ERR_LIMIT, "rua: more than %d URIs", TLSRPT_RUA_MAX);
	r->rua[r->nrua++] = u;
	return 0;
}

/* tlsrpt-rua value: tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri) */
static int parse_rua(struct cursor *c, struct arena *a, struct tlsrpt_record *r,
                     struct error *e)
{
	r->rua = arena_alloc(a, TLSRPT_RUA_MAX * sizeof(*r->rua));
	for (;;) {
		if (parse_uri(c, a, r, e) != 0)
			return -1;
		const char *save = c->p;
		skip_wsp(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			skip_wsp(c);
			continue;
		}
		c->p = save;
		break;
	}
	if (r->nrua == 0)
		return error_set(e, ERR_INVALID, "rua: no mailto: or https: URI");
	return 0;
}

/* tlsrpt-extension: checked, ignored (§3: unknown fields SHALL be ignored). */
static int parse_extension(struct cursor *c, struct error *e)
{
	const char *s = c->p;
	if (c->p >= c->end || !is_alnum(*c->p))
		return error_set(e, ERR_INVALID, "expected a field name at \"%.*s\"",
		                 quote_len(s, c->end), s);
	while (c->p < c->end && (is_alnum(*c->p) || *c->p == '_' || *c->p == '-' || *c->p == '.'))
		c->p++;
	if (c->p - s > 32)
		return error_set(e, ERR_INVALID, "field name \"%.*s\" longer than 32 characters",
		                 quote_len(s, c->end), s);
	if (c->p >= c->end || *c->p != '=')
		return error_set(e, ERR_INVALID, "field \"%.*s\": \"=\" expected", (int)(c->p - s), s);
	c->p++;
	const char *v = c->p;
	while (c->p < c->end && *c->p >= 0x21 && *c->p <= 0x7e && *c->p != '=' && *c->p != ';')
		c->p++;
	if (c->p == v)
		return error_set(e, ERR_INVALID, "field \"%.*s\": empty value", (int)(v - 1 - s), s);
	return 0;
}

int reports_tlsrpt_record_parse(const char *txt, size_t len, struct arena *a,
                                struct tlsrpt_record *r, struct error *e)
{
	memset(r, 0, sizeof(*r));
	if (len > TLSRPT_RECORD_MAX)
		return error_set(e, ERR_LIMIT, "TLSRPT record longer than %d bytes", TLSRPT_RECORD_MAX);
	struct cursor c = {txt, txt + len};
	size_t vn = strlen(VERSION_TAG);
	/* §3: v MUST be the first field; the tag is case-sensitive (%s) */
	if (len < vn || memcmp(txt, VERSION_TAG, vn) != 0 || (len > vn && txt[vn] != ';' &&
	                                                       !is_wsp(txt[vn])))
		return error_set(e, ERR_INVALID, "TLSRPT record does not start with " VERSION_TAG);
	c.p += vn;
	bool have_rua = false;
	for (;;) {
		skip_wsp(&c);
		if (c.p >= c.end)
			break;
		if (*c.p != ';')
			return error_set(e, ERR_INVALID, "TLSRPT record: \";\" expected at \"%.*s\"",
			                 quote_len(c.p, c.end), c.p);
		c.p++;
		skip_wsp(&c);
		if (c.p >= c.end)
			break;   /* a final field-delim */
		if (c.end - c.p >= 4 && memcmp(c.p, "rua=", 4) == 0) {
			if (have_rua)
				return error_set(e, ERR_INVALID, "TLSRPT record: rua given twice");
			have_rua = true;
			c.p += 4;
			if (parse_rua(&c, a, r, e) != 0)
				return error_prefix(e, "TLSRPT record");
		} else if (parse_extension(&c, e) != 0) {
			return error_prefix(e, "TLSRPT record");
		}
	}
	if (!have_rua)
		return error_set(e, ERR_INVALID, "TLSRPT record without rua");
	return 0;
}
