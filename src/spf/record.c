/*
 * record.c: RFC 7208 §4.5 (selecting records) and §4.6, §5, §6, §12 ABNF:
 * parsing a whole SPF record into mechanisms and modifiers, without DNS.
 *
 *   record           = version terms *SP
 *   version          = "v=spf1"
 *   terms            = *( 1*SP ( directive / modifier ) )
 *   directive        = [ qualifier ] mechanism
 *   qualifier        = "+" / "-" / "?" / "~"
 *   mechanism        = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
 *   all              = "all"
 *   include          = "include"  ":" domain-spec
 *   a                = "a"      [ ":" domain-spec ] [ dual-cidr-length ]
 *   mx               = "mx"     [ ":" domain-spec ] [ dual-cidr-length ]
 *   ptr              = "ptr"    [ ":" domain-spec ]
 *   ip4              = "ip4"      ":" ip4-network   [ ip4-cidr-length ]
 *   ip6              = "ip6"      ":" ip6-network   [ ip6-cidr-length ]
 *   exists           = "exists"   ":" domain-spec
 *   ip4-cidr-length  = "/" ("0" / %x31-39 0*1DIGIT) ; value range 0-32
 *   ip6-cidr-length  = "/" ("0" / %x31-39 0*2DIGIT) ; value range 0-128
 *   dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
 *   ip4-network      = qnum "." qnum "." qnum "." qnum
 *   qnum             = DIGIT / %x31-39 DIGIT / "1" 2DIGIT
 *                      / "2" %x30-34 DIGIT / "25" %x30-35
 *   modifier         = redirect / explanation / unknown-modifier
 *   redirect         = "redirect" "=" domain-spec
 *   explanation      = "exp" "=" domain-spec
 *   unknown-modifier = name "=" macro-string
 *   name             = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 *
 * Names are case-insensitive (§4.6.1, RFC 5234). A term whose name is
 * followed by "=" is a modifier, anything else a directive: so
 * "redirect:x" is an unknown mechanism, not an unknown modifier, and
 * "exp=" with a bad domain-spec is an error, not an unknown modifier
 * (the test suite's reading of §6, the erratum to §6.2 for "exp=").
 */
#include "spf/internal.h"

#include "core/arena.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Terms in one record. Each costs at least two bytes, so the record length
 * bounds them already; this bounds the array. */
#define RECORD_TERMS_MAX (SPF_RECORD_MAX / 2)

struct parser {
	struct arena *a;
	const char *err;
	struct spf_mechanism *mechs;
	size_t nmechs;
	struct spf_record *rec;
};

bool spf_record_is_spf(const char *text, size_t len)
{
	/* §4.5: "v=spf1" (case-insensitive) followed by SP or the end */
	return len >= 6 && strncasecmp(text, "v=spf1", 6) == 0 && (len == 6 || text[6] == ' ');
}

static int fail(struct parser *p, const char *term, size_t len, const char *why)
{
	p->err = arena_printf(p->a, "%s: \"%.*s\"", why, (int)(len > 80 ? 80 : len), term);
	return -1;
}

/* ip4-cidr-length / ip6-cidr-length digits s[0..len): returns the value or -1. */
static int cidr_value(const char *s, size_t len, int max)
{
	size_t maxdigits = max == 32 ? 2 : 3;
	if (len == 0 || len > maxdigits || (s[0] == '0' && len > 1))
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Length of the run of digits that ends s[0..len). */
static size_t trailing_digits(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && isdigit((unsigned char)s[len - 1 - n]))
		n++;
	return n;
}

/* Takes a dual-cidr-length off the end of s[0..*len) into m. Returns 0 or -1
 * (a cidr that is there but out of range or malformed). */
static int take_dual_cidr(const char *s, size_t *len, struct spf_mechanism *m)
{
	size_t n = *len, d = trailing_digits(s, n);

	m->cidr4 = 32;
	m->cidr6 = 128;
	if (d > 0 && n >= d + 2 && s[n - d - 1] == '/' && s[n - d - 2] == '/') {
		if ((m->cidr6 = cidr_value(s + n - d, d, 128)) < 0)
			return -1;
		n -= d + 2;
		d = trailing_digits(s, n);
	}
	if (d > 0 && n >= d + 1 && s[n - d - 1] == '/') {
		if ((m->cidr4 = cidr_value(s + n - d, d, 32)) < 0)
			return -1;
		n -= d + 1;
	}
	*len = n;
	return 0;
}

static bool qnum(const char **p, const char *end, uint8_t *out)
{
	const char *s = *p;
	size_t n = 0;
	while (s + n < end && n < 4 && isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	if (v > 255)
		return false;
	*out = (uint8_t)v;
	*p = s + n;
	return true;
}

static bool ip4_network(const char *s, size_t len, uint8_t *addr)
{
	const char *p = s, *end = s + len;
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (p >= end || *p != '.')
				return false;
			p++;
		}
		if (!qnum(&p, end, &addr[i]))
			return false;
	}
	return p == end;
}

/* "ip4:" / "ip6:" arg: network [ "/" cidr ] */
static int parse_ip(struct parser *p, struct spf_mechanism *m, const char *arg, size_t len,
                    const char *term, size_t tlen)
{
	const char *slash = memchr(arg, '/', len);
	size_t nlen = slash != NULL ? (size_t)(slash - arg) : len;
	bool v6 = m->kind == SPF_MECH_IP6;

	m->cidr4 = 32;
	m->cidr6 = 128;
	if (slash != NULL) {
		int v = cidr_value(slash + 1, len - nlen - 1, v6 ? 128 : 32);
		if (v < 0)
			return fail(p, term, tlen, v6 ? "bad ip6-cidr-length" : "bad ip4-cidr-length");
		if (v6)
			m->cidr6 = v;
		else
			m->cidr4 = v;
	}
	if (!v6) {
		if (!ip4_network(arg, nlen, m->addr))
			return fail(p, term, tlen, "bad ip4-network (RFC 7208 §5.6)");
		return 0;
	}
	char tmp[INET6_ADDRSTRLEN + 1];
	if (nlen == 0 || nlen >= sizeof(tmp))
		return fail(p, term, tlen, "bad ip6-network (RFC 7208 §5.6)");
	memcpy(tmp, arg, nlen);
	tmp[nlen] = '\0';
	if (inet_pton(AF_INET6, tmp, m->addr) != 1)
		return fail(p, term, tlen, "bad ip6-network (RFC 7208 §5.6)");
	return 0;
}

static const struct {
	const char *name;
	enum spf_mech_kind kind;
} mech_names[] = {
	{"all", SPF_MECH_ALL}, {"include", SPF_MECH_INCLUDE}, {"a", SPF_MECH_A},
	{"mx", SPF_MECH_MX}, {"ptr", SPF_MECH_PTR}, {"ip4", SPF_MECH_IP4},
	{"ip6", SPF_MECH_IP6}, {"exists", SPF_MECH_EXISTS},
};

/* The domain-spec of a mechanism, checked, in the arena. */
static int domain_spec(struct parser *p, const char *s, size_t len, const char **out,
                       const char *term, size_t tlen)
{
	const char *why;
	if (spf_domain_spec_check(s, len, &why) < 0)
		return fail(p, term, tlen, why);
	*out = arena_strndup(p->a, s, len);
	return 0;
}

/* directive = [ qualifier ] mechanism (§4.6.2, §5) */
static int parse_directive(struct parser *p, const char *t, size_t len)
{
	struct spf_mechanism m = {.qualifier = SPF_PASS, .cidr4 = 32, .cidr6 = 128};
	size_t i = 0;

	m.text = arena_strndup(p->a, t, len);
	switch (t[0]) {
	case '+': m.qualifier = SPF_PASS; i++; break;
	case '-': m.qualifier = SPF_FAIL; i++; break;
	case '~': m.qualifier = SPF_SOFTFAIL; i++; break;
	case '?': m.qualifier = SPF_NEUTRAL; i++; break;
	}
	size_t n = 0;
	while (i + n < len && isalnum((unsigned char)t[i + n]))
		n++;
	size_t k;
	for (k = 0; k < sizeof(mech_names) / sizeof(mech_names[0]); k++)
		if (strlen(mech_names[k].name) == n && strncasecmp(t + i, mech_names[k].name, n) == 0)
			break;
	if (k == sizeof(mech_names) / sizeof(mech_names[0]))
		return fail(p, t, len, "unknown mechanism (RFC 7208 §4.6.1)");
	m.kind = mech_names[k].kind;
	const char *rest = t + i + n;
	size_t rlen = len - i - n;
	bool colon = rlen > 0 && rest[0] == ':';
	const char *arg = colon ? rest + 1 : rest;
	size_t alen = colon ? rlen - 1 : rlen;

	switch (m.kind) {
	case SPF_MECH_ALL:
		if (rlen != 0)
			return fail(p, t, len, "\"all\" takes no argument (RFC 7208 §5.1)");
		break;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		if (!colon)
			return fail(p, t, len, "mechanism needs \":\" and a domain-spec");
		if (domain_spec(p, arg, alen, &m.domain_spec, t, len) < 0)
			return -1;
		break;
	case SPF_MECH_PTR:
		if (rlen > 0 && !colon)
			return fail(p, t, len, "\"ptr\" takes only \":\" domain-spec (RFC 7208 §5.5)");
		if (colon && domain_spec(p, arg, alen, &m.domain_spec, t, len) < 0)
			return -1;
		break;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		if (rlen > 0 && !colon && rest[0] != '/')
			return fail(p, t, len, "unknown mechanism (RFC 7208 §4.6.1)");
		if (take_dual_cidr(arg, &alen, &m) < 0)
			return fail(p, t, len, "bad dual-cidr-length (RFC 7208 §5.6)");
		if (!colon && alen != 0)
			return fail(p, t, len, "bad dual-cidr-length (RFC 7208 §5.6)");
		if (colon && domain_spec(p, arg, alen, &m.domain_spec, t, len) < 0)
			return -1;
		break;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		if (!colon)
			return fail(p, t, len, "ip4/ip6 need \":\" and an address (RFC 7208 §5.6)");
		if (parse_ip(p, &m, arg, alen, t, len) < 0)
			return -1;
		break;
	}
	if (p->nmechs >= RECORD_TERMS_MAX)
		return fail(p, t, len, "too many terms");
	p->mechs[p->nmechs++] = m;
	return 0;
}

/* modifier = redirect / explanation / unknown-modifier (§6) */
static int parse_modifier(struct parser *p, const char *t, size_t len, size_t nlen)
{
	const char *val = t + nlen + 1;
	size_t vlen = len - nlen - 1;
	const char *why;

	if (!isalpha((unsigned char)t[0]))
		return fail(p, t, len, "modifier name must begin with a letter (RFC 7208 §12)");
	const char **slot = NULL;
	if (nlen == 8 && strncasecmp(t, "redirect", 8) == 0)
		slot = &p->rec->redirect;
	else if (nlen == 3 && strncasecmp(t, "exp", 3) == 0)
		slot = &p->rec->exp;
	if (slot == NULL) {
		/* §6: unknown modifiers are ignored, but must be well-formed */
		if (spf_macro_check(val, vlen, SPF_MACRO_UNKNOWN, &why) < 0)
			return fail(p, t, len, why);
		return 0;
	}
	/* §6: "These two modifiers MUST NOT appear in a record more than once
	 * each. If they do, then check_host() exits with a result of
	 * "permerror"." */
	if (*slot != NULL)
		return fail(p, t, len, "modifier appears twice (RFC 7208 §6)");
	return domain_spec(p, val, vlen, slot, t, len);
}

static int parse_term(struct parser *p, const char *t, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return fail(p, t, len, (unsigned char)t[i] >= 0x80
			                       ? "non-ASCII character (RFC 7208 §3.1)"
			                       : "control character in record (RFC 7208 §4.6.1)");
	/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=" */
	while (n < len && (isalnum((unsigned char)t[n]) || t[n] == '-' || t[n] == '_' || t[n] == '.'))
		n++;
	if (n < len && t[n] == '=')
		return parse_modifier(p, t, len, n);
	return parse_directive(p, t, len);
}

int spf_record_parse(struct arena *a, const char *text, size_t len, struct spf_record **rec_r,
                     const char **error_r)
{
	struct parser p = {.a = a};

	if (!spf_record_is_spf(text, len)) {
		*error_r = "not an SPF record: no \"v=spf1\" (RFC 7208 §4.5)";
		return -1;
	}
	if (len > SPF_RECORD_MAX) {
		*error_r = arena_printf(a, "record longer than %d bytes", SPF_RECORD_MAX);
		return -1;
	}
	p.rec = arena_alloc(a, sizeof(*p.rec));
	p.mechs = arena_alloc(a, sizeof(*p.mechs) * (len / 2 + 1));
	size_t i = 6;
	while (i < len) {
		if (text[i] == ' ') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && text[i] != ' ')
			i++;
		if (parse_term(&p, text + start, i - start) < 0) {
			*error_r = p.err;
			return -1;
		}
	}
	p.rec->mechs = p.mechs;
	p.rec->nmechs = p.nmechs;
	*rec_r = p.rec;
	return 0;
}
