/*
 * ehlo.c: the service extensions a server announces in its EHLO reply
 * (RFC 5321 §4.1.1.1, one keyword per line after the first), and xtext
 * (RFC 3461 §4) for the DSN parameters the client sends.
 */
#include "smtpclient/internal.h"

#include "core/buf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether the keyword at the start of line is kw (case-insensitive, §2.4);
 * *params_r points after it and the spaces that follow. */
static bool keyword_is(const char *line, const char *kw, const char **params_r)
{
	size_t n = strlen(kw);
	if (strncasecmp(line, kw, n) != 0 || (line[n] != '\0' && line[n] != ' ' && line[n] != '='))
		return false;
	const char *p = line + n;
	while (*p == ' ' || *p == '=')
		p++;
	*params_r = p;
	return true;
}

/* RFC 4954 §3: AUTH mechanism names separated by spaces. */
static void auth_mechanisms(const char *p, struct ehlo_ext *ext)
{
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
			ext->auth_plain = true;
		else if (n == 11 && strncasecmp(p, "SCRAM-SHA-1", 11) == 0)
			ext->auth_scram_sha1 = true;
		else if (n == 13 && strncasecmp(p, "SCRAM-SHA-256", 13) == 0)
			ext->auth_scram_sha256 = true;
		else if (n == 16 && strncasecmp(p, "SCRAM-SHA-1-PLUS", 16) == 0)
			ext->auth_scram_sha1_plus = true;
		else if (n == 18 && strncasecmp(p, "SCRAM-SHA-256-PLUS", 18) == 0)
			ext->auth_scram_sha256_plus = true;
		p += n;
		while (*p == ' ')
			p++;
	}
}

/* RFC 1870 §4: "SIZE" [SP number]; 0 or no number: no fixed limit. */
static uint64_t size_value(const char *p)
{
	uint64_t v = 0;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return *p == '\0' || *p == ' ' ? v : 0;
}

void ehlo_ext_parse(const char *const *lines, size_t n, struct ehlo_ext *ext)
{
	memset(ext, 0, sizeof(*ext));
	ext->esmtp = true;
	for (size_t i = 1; i < n; i++) {
		const char *l = lines[i], *params;
		if (keyword_is(l, "STARTTLS", &params))
			ext->starttls = true;
		else if (keyword_is(l, "PIPELINING", &params))
			ext->pipelining = true;
		else if (keyword_is(l, "SIZE", &params)) {
			ext->size = true;
			ext->size_max = size_value(params);
		} else if (keyword_is(l, "8BITMIME", &params))
			ext->eightbitmime = true;
		else if (keyword_is(l, "SMTPUTF8", &params))
			ext->smtputf8 = true;
		else if (keyword_is(l, "CHUNKING", &params))
			ext->chunking = true;
		else if (keyword_is(l, "DSN", &params))
			ext->dsn = true;
		else if (keyword_is(l, "REQUIRETLS", &params))
			ext->requiretls = true;
		else if (keyword_is(l, "AUTH", &params))
			auth_mechanisms(params, ext);
	}
}

int xtext_append(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int r;
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
			r = buf_appendf(b, "+%02X", *p);
		else
			r = buf_append_char(b, (char)*p);
		if (r < 0)
			return -1;
	}
	return 0;
}
