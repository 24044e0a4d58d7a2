/*
 * parse.c: the MTA-STS TXT record (RFC 8461 §3.1), the policy file (§3.2)
 * and MX host matching (§4.1).
 */
#include "mtasts/mtasts.h"

#include "core/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

bool mtasts_record_is_sts(const char *txt, size_t len)
{
	static const char v[] = "v=STSv1";
	size_t n = sizeof(v) - 1;
	if (len < n || memcmp(txt, v, n) != 0)
		return false;
	/* §3.1: the version field comes first and is followed by ";" (optional
	 * spaces before it), or ends the record. */
	size_t i = n;
	while (i < len && is_wsp(txt[i]))
		i++;
	return i == len || txt[i] == ';';
}

static bool id_valid(const char *p, size_t len)
{
	if (len == 0 || len > MTASTS_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]))
			return false;
	return true;
}

int mtasts_record_parse(const char *txt, size_t len, struct mtasts_record *r, struct error *e)
{
	memset(r, 0, sizeof(*r));
	if (!mtasts_record_is_sts(txt, len))
		return error_set(e, ERR_INVALID, "MTA-STS record does not start with v=STSv1 (RFC 8461 §3.1)");
	bool have_id = false;
	size_t i = 0;
	while (i < len) {
		/* sts-field-delim = *WSP ";" *WSP; the record may end in one */
		while (i < len && (is_wsp(txt[i]) || txt[i] == ';'))
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && txt[i] != ';')
			i++;
		size_t end = i;
		while (end > start && is_wsp(txt[end - 1]))
			end--;
		const char *eq = memchr(txt + start, '=', end - start);
		if (eq == NULL)
			return error_set(e, ERR_INVALID, "MTA-STS record: field without \"=\" (RFC 8461 §3.1)");
		size_t klen = (size_t)(eq - (txt + start));
		const char *val = eq + 1;
		size_t vlen = (size_t)(txt + end - val);
		if (klen == 2 && memcmp(txt + start, "id", 2) == 0) {
			if (have_id)
				return error_set(e, ERR_INVALID, "MTA-STS record: id given twice");
			if (!id_valid(val, vlen))
				return error_set(e, ERR_INVALID,
					"MTA-STS record: id must be 1 to 32 letters and digits (RFC 8461 §3.1)");
			memcpy(r->id, val, vlen);
			r->id[vlen] = '\0';
			have_id = true;
		}
		/* v= was checked above; other extension fields are ignored (§3.1) */
	}
	if (!have_id)
		return error_set(e, ERR_INVALID, "MTA-STS record: no id field (RFC 8461 §3.1)");
	return 0;
}

static int mode_parse(const char *v, size_t n, enum mtasts_mode *m)
{
	if (n == 7 && memcmp(v, "enforce", 7) == 0)
		*m = MTASTS_MODE_ENFORCE;
	else if (n == 7 && memcmp(v, "testing", 7) == 0)
		*m = MTASTS_MODE_TESTING;
	else if (n == 4 && memcmp(v, "none", 4) == 0)
		*m = MTASTS_MODE_NONE;
	else
		return -1;
	return 0;
}

/* §3.2: max_age = 1*10(DIGIT), at most 31557600. */
static int max_age_parse(const char *v, size_t n, uint32_t *out)
{
	if (n == 0 || n > 10)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > MTASTS_MAX_AGE_MAX)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

/* §3.2: mx = ["*."] Domain; letters, digits, hyphens and dots. */
static int mx_pattern_add(struct mtasts_policy *p, const char *v, size_t n, struct error *e)
{
	if (p->nmx == MTASTS_MX_MAX)
		return error_set(e, ERR_LIMIT, "MTA-STS policy: more than %d mx lines", MTASTS_MX_MAX);
	if (n > 0 && v[n - 1] == '.')
		n--;
	size_t start = n >= 2 && v[0] == '*' && v[1] == '.' ? 2 : 0;
	if (n == start || n > MTASTS_MX_PATTERN_MAX)
		return error_set(e, ERR_INVALID, "MTA-STS policy: bad mx pattern");
	for (size_t i = start; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!isalnum(c) && c != '-' && c != '.')
			return error_set(e, ERR_INVALID, "MTA-STS policy: bad character in mx pattern");
		if (c == '.' && (i == start || v[i - 1] == '.'))
			return error_set(e, ERR_INVALID, "MTA-STS policy: empty label in mx pattern");
	}
	char *dst = p->mx[p->nmx++];
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)v[i]);
	dst[n] = '\0';
	return 0;
}

int mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p, struct error *e)
{
	memset(p, 0, sizeof(*p));
	bool have_version = false, have_mode = false, have_age = false;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl == NULL ? len : (size_t)(nl - text);
		size_t next = nl == NULL ? len : end + 1;
		if (end > i && text[end - 1] == '\r')
			end--;
		const char *line = text + i;
		size_t llen = end - i;
		i = next;
		if (llen == 0)
			continue;
		const char *colon = memchr(line, ':', llen);
		if (colon == NULL)
			return error_set(e, ERR_INVALID, "MTA-STS policy: line without \":\" (RFC 8461 §3.2)");
		size_t klen = (size_t)(colon - line);
		const char *v = colon + 1;
		size_t vlen = llen - klen - 1;
		while (vlen > 0 && is_wsp(*v)) {
			v++;
			vlen--;
		}
		while (vlen > 0 && is_wsp(v[vlen - 1]))
			vlen--;
		if (klen == 7 && memcmp(line, "version", 7) == 0) {
			if (vlen != 5 || memcmp(v, "STSv1", 5) != 0)
				return error_set(e, ERR_INVALID, "MTA-STS policy: version is not STSv1");
			have_version = true;
		} else if (klen == 4 && memcmp(line, "mode", 4) == 0) {
			if (mode_parse(v, vlen, &p->mode) < 0)
				return error_set(e, ERR_INVALID,
					"MTA-STS policy: mode must be enforce, testing or none");
			have_mode = true;
		} else if (klen == 7 && memcmp(line, "max_age", 7) == 0) {
			if (max_age_parse(v, vlen, &p->max_age) < 0)
				return error_set(e, ERR_INVALID,
					"MTA-STS policy: max_age must be 0..31557600 (RFC 8461 §3.2)");
			have_age = true;
		} else if (klen == 2 && memcmp(line, "mx", 2) == 0) {
			if (mx_pattern_add(p, v, vlen, e) < 0)
				return -1;
		}
		/* other keys: extensions, ignored (§3.2) */
	}
	if (!have_version)
		return error_set(e, ERR_INVALID, "MTA-STS policy: no version");
	if (!have_mode)
		return error_set(e, ERR_INVALID, "MTA-STS policy: no mode");
	if (!have_age)
		return error_set(e, ERR_INVALID, "MTA-STS policy: no max_age");
	if (p->mode != MTASTS_MODE_NONE && p->nmx == 0)
		return error_set(e, ERR_INVALID, "MTA-STS policy: no mx in mode %s", mtasts_mode_name(p->mode));
	return 0;
}

bool mtasts_pattern_match(const char *pattern, const char *host)
{
	size_t hlen = strlen(host);
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	size_t plen = strlen(pattern);
	if (plen > 0 && pattern[plen - 1] == '.')
		plen--;
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* §4.1: the wildcard matches exactly one label, the leftmost. */
		const char *dot = memchr(host, '.', hlen);
		if (dot == NULL || dot == host)
			return false;
		size_t rest = hlen - (size_t)(dot - host);   /* ".example.com" */
		return rest == plen - 1 && strncasecmp(dot, pattern + 1, rest) == 0;
	}
	return hlen == plen && strncasecmp(host, pattern, hlen) == 0;
}

bool mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->nmx; i++)
		if (mtasts_pattern_match(p->mx[i], host))
			return true;
	return false;
}

const char *mtasts_mode_name(enum mtasts_mode mode)
{
	switch (mode) {
	case MTASTS_MODE_ENFORCE: return "enforce";
	case MTASTS_MODE_TESTING: return "testing";
	case MTASTS_MODE_NONE: return "none";
	}
	return "?";
}
