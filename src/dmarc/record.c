/*
 * record.c: the DMARC record, RFC 7489 §6.3 (tags) and §6.4 (ABNF), with
 * np= and psd= of DMARCbis.
 *
 *   record = "v" *WSP "=" *WSP "DMARC1" *( *WSP ";" *WSP tag ) [ *WSP ";" ] *WSP
 *   tag    = name *WSP "=" *WSP value
 *
 * v=DMARC1 must be the first tag (§6.3); "DMARC1" is written in %x form in
 * the ABNF, so it is case-sensitive; tag names and keyword values are ABNF
 * quoted strings, so they are not. Unknown tags are ignored (§6.3). A known
 * tag with a bad value, a tag given twice, or a part that is no tag at all is
 * a syntax error: the record is ignored (§6.6.3; see dmarc.h), except for
 * the p=/sp= rule of §6.6.3 step 6 (act as p=none when rua= is usable).
 * Empty parts (";;") are skipped: WSP-only parts harm no one.
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool eq_ci(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "?";
}

const char *dmarc_align_name(enum dmarc_align a)
{
	return a == DMARC_ALIGN_STRICT ? "s" : "r";
}

static int parse_policy(const char *v, size_t n, enum dmarc_policy *p)
{
	if (eq_ci(v, n, "none"))
		*p = DMARC_POLICY_NONE;
	else if (eq_ci(v, n, "quarantine"))
		*p = DMARC_POLICY_QUARANTINE;
	else if (eq_ci(v, n, "reject"))
		*p = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

static int parse_align(const char *v, size_t n, enum dmarc_align *al)
{
	if (eq_ci(v, n, "r"))
		*al = DMARC_ALIGN_RELAXED;
	else if (eq_ci(v, n, "s"))
		*al = DMARC_ALIGN_STRICT;
	else
		return -1;
	return 0;
}

/* 1*DIGIT into a value no greater than max. */
static int parse_uint(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	if (n == 0)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(v[i]))
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
		if (x > max)
			return -1;
	}
	*out = x;
	return 0;
}

/* §6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ] */
int dmarc_size_parse(const char *s, size_t len, uint64_t *bytes_r)
{
	unsigned shift = 0;
	if (len > 0 && is_alpha(s[len - 1])) {
		switch (s[len - 1] | 0x20) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		default: return -1;
		}
		len--;
	}
	uint64_t x;
	if (parse_uint(s, len, UINT64_MAX >> 41, &x) < 0)
		return -1;
	*bytes_r = x << shift;
	return 0;
}

static int hexval(char c)
{
	if (is_digit(c))
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One URI of rua=/ruf= (whitespace already trimmed). RFC 3986 §3.1 scheme;
 * for mailto (RFC 6068) the address before any "?", %-decoded. -1 when
 * unusable. */
static int parse_uri(const char *s, size_t n, struct arena *a, struct dmarc_uri *u)
{
	memset(u, 0, sizeof(*u));
	/* §6.2: a "!" in the URI itself must be %-encoded, so the first one starts the size. */
	const char *bang = memchr(s, '!', n);
	size_t ulen = bang != NULL ? (size_t)(bang - s) : n;
	if (bang != NULL && dmarc_size_parse(bang + 1, n - ulen - 1, &u->max_size) < 0)
		return -1;
	if (ulen == 0 || !is_alpha(s[0]))
		return -1;
	size_t i = 1;
	while (i < ulen && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i == ulen || s[i] != ':' || i + 1 == ulen)
		return -1;
	for (size_t j = 0; j < ulen; j++) {
		unsigned char c = (unsigned char)s[j];
		if (c <= ' ' || c >= 0x7f || c == ';' || c == ',')
			return -1;   /* not a URI character here (RFC 3986 §2) */
	}
	char *scheme = arena_strndup(a, s, i);
	for (char *p = scheme; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	u->scheme = scheme;
	u->uri = arena_strndup(a, s, ulen);
	if (strcmp(scheme, "mailto") == 0) {
		const char *addr = s + i + 1;
		const char *q = memchr(addr, '?', ulen - i - 1);
		size_t alen = q != NULL ? (size_t)(q - addr) : ulen - i - 1;
		char *out = arena_alloc(a, alen + 1), *o = out;
		for (size_t j = 0; j < alen; j++) {
			if (addr[j] == '%') {
				int h1 = j + 2 < alen ? hexval(addr[j + 1]) : -1;
				int h2 = h1 >= 0 ? hexval(addr[j + 2]) : -1;
				if (h1 < 0 || h2 < 0)
					return -1;
				char c = (char)(h1 * 16 + h2);
				if (c == '\0')
					return -1;
				*o++ = c;
				j += 2;
			} else {
				*o++ = addr[j];
			}
		}
		*o = '\0';
		const char *at = strrchr(out, '@');
		if (at == NULL || at == out || at[1] == '\0' || strchr(out, ',') != NULL)
			return -1;   /* one addr-spec (RFC 6068 §2) */
		u->mailto = out;
	}
	return 0;
}

/* rua=/ruf=: a comma-separated list of URIs (§6.3). Unusable URIs are
 * dropped and counted: §6.6.3 step 6 speaks of "at least one syntactically
 * valid reporting URI", so one bad URI does not spoil the record. */
static void parse_uris(const char *v, size_t n, struct arena *a, const struct dmarc_uri **out,
                       size_t *nout, size_t *nbad)
{
	struct dmarc_uri *list = arena_alloc(a, DMARC_URIS_MAX * sizeof(*list));
	size_t cnt = 0;
	const char *p = v, *end = v + n;
	while (p <= end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c != NULL ? c : end;
		const char *s = p, *t = e;
		while (s < t && is_wsp(*s))
			s++;
		while (t > s && is_wsp(t[-1]))
			t--;
		struct dmarc_uri u;
		if (parse_uri(s, (size_t)(t - s), a, &u) < 0 || cnt == DMARC_URIS_MAX)
			(*nbad)++;
		else
			list[cnt++] = u;
		if (c == NULL)
			break;
		p = c + 1;
	}
	*out = list;
	*nout = cnt;
}

/* fo=: 0 / 1 / d / s separated by ":" (§6.3). */
static int parse_fo(const char *v, size_t n, unsigned *fo)
{
	unsigned x = 0;
	const char *p = v, *end = v + n;
	for (;;) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		const char *e = c != NULL ? c : end, *s = p;
		while (s < e && is_wsp(*s))
			s++;
		while (e > s && is_wsp(e[-1]))
			e--;
		if (e - s != 1)
			return -1;
		switch (*s | 0x20) {
		case '0': x |= DMARC_FO_0; break;
		case '1': x |= DMARC_FO_1; break;
		case 'd': x |= DMARC_FO_D; break;
		case 's': x |= DMARC_FO_S; break;
		default: return -1;
		}
		if (c == NULL)
			break;
		p = c + 1;
	}
	*fo = x;
	return 0;
}

/* rf=: Format *(*WSP ":" *WSP Format), Format = keyword (§6.4). */
static int parse_rf(const char *v, size_t n, unsigned *rf)
{
	unsigned x = 0;
	const char *p = v, *end = v + n;
	for (;;) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		const char *e = c != NULL ? c : end, *s = p;
		while (s < e && is_wsp(*s))
			s++;
		while (e > s && is_wsp(e[-1]))
			e--;
		if (s == e || !is_alpha(*s))
			return -1;
		for (const char *q = s; q < e; q++)
			if (!is_alpha(*q) && !is_digit(*q) && *q != '-')
				return -1;
		x |= eq_ci(s, (size_t)(e - s), "afrf") ? DMARC_RF_AFRF : DMARC_RF_OTHER;
		if (c == NULL)
			break;
		p = c + 1;
	}
	*rf = x;
	return 0;
}

enum dmarc_parse dmarc_record_parse(const char *text, size_t len, struct arena *a,
                                    struct dmarc_record *rec, struct error *err)
{
	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	rec->fo = DMARC_FO_0;
	rec->rf = DMARC_RF_AFRF;
	rec->ri = 86400;

	/* §6.6.3 step 2 / §6.3: must start with v=DMARC1. Leading WSP is allowed
	 * by nothing, but some publish it; the ABNF has none, so we refuse. */
	const char *p = text, *end = text + len;
	if (len < 1 || p[0] != 'v')
		goto not_dmarc;
	p++;
	while (p < end && is_wsp(*p))
		p++;
	if (p == end || *p != '=')
		goto not_dmarc;
	p++;
	while (p < end && is_wsp(*p))
		p++;
	if ((size_t)(end - p) < 6 || memcmp(p, "DMARC1", 6) != 0)
		goto not_dmarc;
	p += 6;
	{
		const char *q = p;
		while (q < end && is_wsp(*q))
			q++;
		if (q != end && *q != ';')
			goto not_dmarc;   /* "v=DMARC10" and the like */
	}
	if (memchr(text, '\0', len) != NULL) {
		error_set(err, ERR_INVALID, "NUL byte in record");
		return DMARC_PARSE_INVALID;
	}

	bool p_bad = false, sp_bad = false;
	const char *bad = NULL;
	while (p < end) {
		/* here *p is ';' or WSP before it */
		while (p < end && (is_wsp(*p) || *p == ';'))
			p++;
		if (p == end)
			break;
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi != NULL ? semi : end;
		const char *t = e;
		while (t > p && is_wsp(t[-1]))
			t--;
		const char *name = p, *q = p;
		while (q < t && (is_alpha(*q) || is_digit(*q) || *q == '_'))
			q++;
		size_t nlen = (size_t)(q - name);
		while (q < t && is_wsp(*q))
			q++;
		if (nlen == 0 || !is_alpha(*name) || q == t || *q != '=') {
			error_set(err, ERR_INVALID, "not a tag: \"%.*s\"", (int)(t - p > 40 ? 40 : t - p), p);
			return DMARC_PARSE_INVALID;
		}
		q++;
		while (q < t && is_wsp(*q))
			q++;
		const char *v = q;
		size_t vlen = (size_t)(t - q);
		p = e;

		unsigned tag = 0;
		int rc = 0;
		uint64_t x;
		if (eq_ci(name, nlen, "v")) {
			error_set(err, ERR_INVALID, "v= given twice");
			return DMARC_PARSE_INVALID;
		} else if (eq_ci(name, nlen, "p")) {
			tag = DMARC_TAG_P;
			if (parse_policy(v, vlen, &rec->p) < 0)
				p_bad = true;
		} else if (eq_ci(name, nlen, "sp")) {
			tag = DMARC_TAG_SP;
			if (parse_policy(v, vlen, &rec->sp) < 0)
				sp_bad = true;
		} else if (eq_ci(name, nlen, "np")) {
			tag = DMARC_TAG_NP;
			rc = parse_policy(v, vlen, &rec->np);
		} else if (eq_ci(name, nlen, "adkim")) {
			tag = DMARC_TAG_ADKIM;
			rc = parse_align(v, vlen, &rec->adkim);
		} else if (eq_ci(name, nlen, "aspf")) {
			tag = DMARC_TAG_ASPF;
			rc = parse_align(v, vlen, &rec->aspf);
		} else if (eq_ci(name, nlen, "pct")) {
			tag = DMARC_TAG_PCT;
			/* §6.4: 1*3DIGIT, 0..100 */
			rc = vlen > 3 || parse_uint(v, vlen, 100, &x) < 0 ? -1 : 0;
			if (rc == 0)
				rec->pct = (unsigned)x;
		} else if (eq_ci(name, nlen, "rua")) {
			tag = DMARC_TAG_RUA;
			parse_uris(v, vlen, a, &rec->rua, &rec->nrua, &rec->nbad_uris);
		} else if (eq_ci(name, nlen, "ruf")) {
			tag = DMARC_TAG_RUF;
			parse_uris(v, vlen, a, &rec->ruf, &rec->nruf, &rec->nbad_uris);
		} else if (eq_ci(name, nlen, "fo")) {
			tag = DMARC_TAG_FO;
			rc = parse_fo(v, vlen, &rec->fo);
		} else if (eq_ci(name, nlen, "rf")) {
			tag = DMARC_TAG_RF;
			rc = parse_rf(v, vlen, &rec->rf);
		} else if (eq_ci(name, nlen, "ri")) {
			tag = DMARC_TAG_RI;
			rc = parse_uint(v, vlen, UINT32_MAX, &x);
			if (rc == 0)
				rec->ri = (uint32_t)x;
		} else if (eq_ci(name, nlen, "psd")) {
			tag = DMARC_TAG_PSD;
			if (eq_ci(v, vlen, "y"))
				rec->psd = DMARC_PSD_YES;
			else if (eq_ci(v, vlen, "n"))
				rec->psd = DMARC_PSD_NO;
			else if (eq_ci(v, vlen, "u"))
				rec->psd = DMARC_PSD_UNSET;
			else
				rc = -1;
		} else {
			continue;   /* §6.3: unknown tags MUST be ignored */
		}
		if (rec->tags & tag) {
			error_set(err, ERR_INVALID, "tag %.*s given twice", (int)nlen, name);
			return DMARC_PARSE_INVALID;
		}
		rec->tags |= tag;
		if (rc < 0 && bad == NULL)
			bad = arena_printf(a, "bad value for %.*s: \"%.*s\"", (int)nlen, name,
			                   (int)(vlen > 40 ? 40 : vlen), v);
	}
	if (bad != NULL) {
		error_set(err, ERR_INVALID, "%s", bad);
		return DMARC_PARSE_INVALID;
	}
	if (!(rec->tags & DMARC_TAG_P) || p_bad || sp_bad) {
		/* §6.6.3 step 6: with a usable rua=, act as if p=none was given */
		if (rec->nrua == 0) {
			error_set(err, ERR_INVALID, "%s", !(rec->tags & DMARC_TAG_P) ? "no p= tag"
			          : p_bad ? "bad value for p" : "bad value for sp");
			return DMARC_PARSE_INVALID;
		}
		rec->p = DMARC_POLICY_NONE;
		rec->tags &= ~(unsigned)(DMARC_TAG_P | DMARC_TAG_SP);
		rec->p_defaulted = true;
	}
	if (!(rec->tags & DMARC_TAG_SP))
		rec->sp = rec->p;
	if (!(rec->tags & DMARC_TAG_NP))
		rec->np = rec->sp;
	return DMARC_PARSE_OK;

not_dmarc:
	error_set(err, ERR_NOTFOUND, "not a DMARC record (no leading v=DMARC1)");
	return DMARC_PARSE_NOT_DMARC;
}
