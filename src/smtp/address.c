/*
 * address.c: RFC 5321 §4.1.2 mailboxes and paths, with the RFC 6531 §3.3
 * UTF-8 extension when SMTP_UTF8 is given.
 *
 *   Path           = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l          = At-domain *( "," At-domain )
 *   At-domain      = "@" Domain
 *   Mailbox        = Local-part "@" ( Domain / address-literal )
 *   Local-part     = Dot-string / Quoted-string
 *   Dot-string     = Atom *("."  Atom)
 *   Atom           = 1*atext
 *   Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
 *   QcontentSMTP   = qtextSMTP / quoted-pairSMTP
 *   quoted-pairSMTP = %d92 %d32-126
 *   qtextSMTP      = %d32-33 / %d35-91 / %d93-126
 *   Domain         = sub-domain *("." sub-domain)
 *   sub-domain     = Let-dig [Ldh-str]
 *   Ldh-str        = *( ALPHA / DIGIT / "-" ) Let-dig
 *   address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                     General-address-literal ) "]"
 * RFC 6531 §3.3: sub-domain =/ U-label; atext =/ UTF8-non-ascii;
 *   qtextSMTP =/ UTF8-non-ascii.
 *
 * Deliberate choices:
 *   - U-labels are checked as well-formed UTF-8 with LDH rules at the ASCII
 *     edges, not against IDNA2008 tables (that is for whoever resolves them).
 *   - General-address-literal is refused: no tag other than "IPv6" is
 *     registered (RFC 5321 §4.1.3), so no server can deliver to one.
 *   - IPv4 literals are checked with inet_pton, which refuses leading zeros
 *     ("[192.0.2.01]") that Snum = 1*3DIGIT would allow: no real sender
 *     writes them, and they read as octal elsewhere.
 *   - Limits (§4.5.3.1) are enforced on the text as written: SMTP_LOCAL_PART_MAX
 *     (64, or SMTP_LOCAL_PART_LIBERAL_MAX with SMTP_LIBERAL), SMTP_DOMAIN_MAX,
 *     SMTP_LABEL_MAX, SMTP_PATH_MAX.
 */
#include "smtp/smtp.h"
#include "smtp/internal.h"

#include "core/arena.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <string.h>

struct ap {
	const char *start, *p, *end;
	unsigned flags;
	struct error *e;
};

static int expected(struct ap *s, const char *what)
{
	return error_set(s->e, ERR_INVALID, "at offset %zu: expected %s", (size_t)(s->p - s->start), what);
}

size_t smtp_utf8_len(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t avail = (size_t)(end - p);
	size_t n;
	unsigned lo = 0x80, hi = 0xBF;
	if (avail == 0)
		return 0;
	if (u[0] >= 0xC2 && u[0] <= 0xDF)
		n = 2;
	else if (u[0] >= 0xE0 && u[0] <= 0xEF)
		n = 3;
	else if (u[0] >= 0xF0 && u[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	/* RFC 3629 §4: no overlongs, no surrogates, nothing past U+10FFFF. */
	if (u[0] == 0xE0)
		lo = 0xA0;
	else if (u[0] == 0xED)
		hi = 0x9F;
	else if (u[0] == 0xF0)
		lo = 0x90;
	else if (u[0] == 0xF4)
		hi = 0x8F;
	if (u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xBF)
			return 0;
	return n;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* atext (RFC 5322 §3.2.3, used by RFC 5321 §4.1.2). */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* One UTF-8 character when SMTP_UTF8 is on (RFC 6531 §3.3): its length, else 0. */
static size_t utf8_here(const struct ap *s)
{
	if (!(s->flags & SMTP_UTF8) || (unsigned char)*s->p < 0x80)
		return 0;
	return smtp_utf8_len(s->p, s->end);
}

/* Dot-string = Atom *("." Atom); Atom = 1*atext */
static int parse_dot_string(struct ap *s)
{
	for (;;) {
		const char *atom = s->p;
		while (s->p < s->end) {
			size_t u = utf8_here(s);
			if (u > 0)
				s->p += u;
			else if (is_atext((unsigned char)*s->p))
				s->p++;
			else
				break;
		}
		if (s->p == atom)
			return expected(s, "atext in local part");
		if (s->p == s->end || *s->p != '.')
			return 0;
		s->p++;
	}
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE */
static int parse_quoted_string(struct ap *s)
{
	s->p++;  /* DQUOTE */
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;
		size_t u = utf8_here(s);
		if (u > 0) {
			s->p += u;  /* RFC 6531 §3.3: qtextSMTP =/ UTF8-non-ascii */
		} else if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			s->p++;
			if (s->p == s->end || (unsigned char)*s->p < 32 || (unsigned char)*s->p > 126)
				return expected(s, "printable ASCII after backslash");
			s->p++;
		} else if (c >= 32 && c <= 126) {
			s->p++;  /* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
		} else {
			return expected(s, "qtextSMTP in quoted local part");
		}
	}
	if (s->p == s->end)
		return expected(s, "closing DQUOTE");
	s->p++;
	return 0;
}

/* sub-domain = Let-dig [Ldh-str]; RFC 6531: =/ U-label */
static int parse_sub_domain(struct ap *s)
{
	const char *label = s->p;
	bool last_hyphen = false;
	while (s->p < s->end) {
		size_t u = utf8_here(s);
		unsigned char c = (unsigned char)*s->p;
		if (u > 0) {
			s->p += u;
			last_hyphen = false;
		} else if (is_alnum(c) || (c == '-' && s->p > label)) {
			s->p++;
			last_hyphen = c == '-';
		} else {
			break;
		}
	}
	if (s->p == label)
		return expected(s, "letter or digit starting a domain label");
	if (last_hyphen)
		return expected(s, "letter or digit ending a domain label");
	if ((size_t)(s->p - label) > SMTP_LABEL_MAX)
		return error_set(s->e, ERR_LIMIT, "at offset %zu: domain label longer than %d octets",
			(size_t)(label - s->start), SMTP_LABEL_MAX);
	return 0;
}

/* Domain = sub-domain *("." sub-domain) */
static int parse_domain(struct ap *s)
{
	const char *start = s->p;
	for (;;) {
		if (parse_sub_domain(s) < 0)
			return -1;
		if (s->p == s->end || *s->p != '.')
			break;
		s->p++;  /* a trailing dot is refused: a label must follow */
	}
	if ((size_t)(s->p - start) > SMTP_DOMAIN_MAX)  /* §4.5.3.1.2 */
		return error_set(s->e, ERR_LIMIT, "at offset %zu: domain longer than %d octets",
			(size_t)(start - s->start), SMTP_DOMAIN_MAX);
	return 0;
}

/*
 * IPv6-comp (§4.1.3) requires "::" to stand for at least two groups, which
 * inet_pton does not check: count the explicit groups.
 *   IPv6-full = IPv6-hex 7(":" IPv6-hex)
 *   IPv6-comp = [IPv6-hex *5(":" IPv6-hex)] "::" [IPv6-hex *5(":" IPv6-hex)]
 *   IPv6v4-comp = [IPv6-hex *3(":" IPv6-hex)] "::" [IPv6-hex *3(":" IPv6-hex ":")] IPv4-address-literal
 */
static bool ipv6_groups_ok(const char *txt, size_t len)
{
	if (memmem(txt, len, "::", 2) == NULL)
		return true;
	size_t groups = 0;
	bool v4 = memchr(txt, '.', len) != NULL;
	for (size_t i = 0; i < len; i++)
		if (txt[i] != ':' && (i == 0 || txt[i - 1] == ':'))
			groups++;
	if (v4)
		groups--;  /* the IPv4 part counted as one */
	return groups <= (v4 ? 4 : 6);
}

/* address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                   General-address-literal ) "]" */
static int parse_address_literal(struct ap *s)
{
	s->p++;  /* "[" */
	const char *close = memchr(s->p, ']', (size_t)(s->end - s->p));
	char txt[64];
	unsigned char bin[16];
	if (close == NULL)
		return expected(s, "\"]\" closing the address literal");
	size_t len = (size_t)(close - s->p);
	if (len >= sizeof(txt))
		return expected(s, "IPv4 or IPv6 address literal");
	memcpy(txt, s->p, len);
	txt[len] = '\0';
	if (len > 5 && strncasecmp(txt, "IPv6:", 5) == 0) {
		/* IPv6-address-literal = "IPv6:" IPv6-addr */
		if (inet_pton(AF_INET6, txt + 5, bin) != 1 || !ipv6_groups_ok(txt + 5, len - 5))
			return expected(s, "IPv6 address after \"IPv6:\"");
	} else if (memchr(txt, ':', len) != NULL) {
		return expected(s, "IPv4 or IPv6 address literal (general literals are not supported)");
	} else if (inet_pton(AF_INET, txt, bin) != 1) {
		/* IPv4-address-literal = Snum 3("."  Snum); inet_pton takes only that form */
		return expected(s, "IPv4 address literal");
	}
	s->p = close + 1;
	return 0;
}

/* The unquoted form of a Quoted-string: quotes dropped, quoted-pairs undone. */
static char *unquote(struct arena *a, const char *raw, size_t len, size_t *len_r)
{
	char *out = arena_alloc(a, len + 1);
	size_t n = 0;
	for (size_t i = 1; i + 1 < len; i++) {
		if (raw[i] == '\\')
			i++;
		out[n++] = raw[i];
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ) */
static int parse_mailbox(struct ap *s, struct arena *a, struct smtp_address *r)
{
	const char *lp = s->p;
	memset(r, 0, sizeof(*r));
	if (s->p == s->end)
		return expected(s, "local part");
	r->quoted = *s->p == '"';
	if ((r->quoted ? parse_quoted_string(s) : parse_dot_string(s)) < 0)
		return -1;
	size_t lp_len = (size_t)(s->p - lp);
	size_t lp_max = (s->flags & SMTP_LIBERAL) ? SMTP_LOCAL_PART_LIBERAL_MAX : SMTP_LOCAL_PART_MAX;
	if (lp_len > lp_max)  /* §4.5.3.1.1, counted as written */
		return error_set(s->e, ERR_LIMIT, "local part longer than %zu octets", lp_max);
	if (s->p == s->end || *s->p != '@')
		return expected(s, "\"@\" after the local part");
	s->p++;
	const char *dom = s->p;
	r->literal = s->p < s->end && *s->p == '[';
	if ((r->literal ? parse_address_literal(s) : parse_domain(s)) < 0)
		return -1;
	r->local_raw = arena_strndup(a, lp, lp_len);
	if (r->quoted) {
		r->local = unquote(a, lp, lp_len, &r->local_len);
	} else {
		r->local = r->local_raw;
		r->local_len = lp_len;
	}
	r->domain = arena_strndup(a, dom, (size_t)(s->p - dom));
	return 0;
}

int smtp_address_parse(const char *p, size_t len, unsigned flags, struct arena *a,
	struct smtp_address *addr_r, struct error *e)
{
	struct ap s = { p, p, p + len, flags, e };
	if (parse_mailbox(&s, a, addr_r) < 0)
		return -1;
	if (s.p != s.end)
		return expected(&s, "end of address");
	if (len > SMTP_MAILBOX_MAX)  /* it must fit in a path, §4.5.3.1.3 */
		return error_set(e, ERR_LIMIT, "mailbox longer than %d octets", SMTP_MAILBOX_MAX);
	return 0;
}

/* A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain */
static int parse_adl(struct ap *s)
{
	for (;;) {
		s->p++;  /* "@" */
		if (parse_domain(s) < 0)
			return -1;
		if (s->p < s->end && *s->p == ':') {
			s->p++;
			return 0;
		}
		if (s->p == s->end || *s->p != ',' || s->p + 1 == s->end || *(s->p + 1) != '@')
			return expected(s, "\",@domain\" or \":\" in the source route");
		s->p++;
	}
}

int smtp_path_parse(const char **pp, const char *end, unsigned flags, struct arena *a,
	struct smtp_path *path_r, struct error *e)
{
	struct ap s = { *pp, *pp, end, flags, e };
	memset(path_r, 0, sizeof(*path_r));
	if (s.p == s.end || *s.p != '<')
		return expected(&s, "\"<\"");
	s.p++;
	if (s.p < s.end && *s.p == '>') {
		path_r->null = true;  /* §4.1.1.2: the null reverse-path "<>" */
		*pp = s.p + 1;
		return 0;
	}
	/* §4.1.2, Appendix C: a source route is accepted and ignored. */
	if (s.p < s.end && *s.p == '@' && parse_adl(&s) < 0)
		return -1;
	if (parse_mailbox(&s, a, &path_r->addr) < 0)
		return -1;
	if (s.p == s.end || *s.p != '>')
		return expected(&s, "\">\" closing the path");
	s.p++;
	if ((size_t)(s.p - s.start) > SMTP_PATH_MAX)  /* §4.5.3.1.3 */
		return error_set(e, ERR_LIMIT, "path longer than %d octets", SMTP_PATH_MAX);
	*pp = s.p;
	return 0;
}

int smtp_domain_check(const char *p, size_t len, unsigned flags, struct error *e)
{
	struct ap s = { p, p, p + len, flags, e };
	if (parse_domain(&s) < 0)
		return -1;
	if (s.p != s.end)
		return expected(&s, "end of domain");
	return 0;
}
