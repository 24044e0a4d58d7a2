/*
 * command.c: one SMTP command line (RFC 5321 §4.1.1, syntax §4.1.2), without
 * its CRLF, into a verb and its arguments, with a suggested reply when the
 * line is refused. Session state (which verb is allowed when) is the
 * server's business; this file only reads syntax.
 *
 * Deviations, all toward what deployed clients send:
 *   - A space after "MAIL FROM:" / "RCPT TO:" is accepted, as Postfix and mox
 *     do (RFC 5321 §4.1.1.2 has none; some clients send one). SMTP_STRICT
 *     refuses it.
 *   - Verbs and the "FROM:"/"TO:" keywords are case-insensitive (§2.4).
 *   - Several spaces between parameters are accepted (§4.1.1 asks for one,
 *     but nothing is ambiguous about more).
 */
#include "smtp/smtp.h"
#include "smtp/internal.h"

#include "core/arena.h"
#include "core/error.h"

#include <string.h>
#include <strings.h>

struct cp {
	const char *start, *p, *end;
	unsigned flags;
	struct arena *a;
	struct smtp_command *cmd;
	struct smtp_reply_hint *hint;
	struct error *e;
};

static int refuse(struct cp *s, int code, const char *enh, const char *text)
{
	if (s->hint != NULL)
		*s->hint = (struct smtp_reply_hint){ code, enh, text };
	return -1;
}

/* 501 5.5.4: syntax error in parameters or arguments (RFC 3463 §3.6). */
static int bad_syntax(struct cp *s, const char *what)
{
	error_set(s->e, ERR_INVALID, "%s: at offset %zu: expected %s", smtp_verb_name(s->cmd->verb),
		(size_t)(s->p - s->start), what);
	return refuse(s, 501, "5.5.4", "Syntax error in parameters or arguments");
}

static bool at_end(const struct cp *s)
{
	return s->p == s->end;
}

/* SP: exactly one required; more are skipped (see the deviations above). */
static bool take_sp(struct cp *s)
{
	if (at_end(s) || *s->p != ' ')
		return false;
	while (!at_end(s) && *s->p == ' ')
		s->p++;
	return true;
}

static const char *rest(struct cp *s)
{
	const char *r = arena_strndup(s->a, s->p, (size_t)(s->end - s->p));
	s->p = s->end;
	return r;
}

static int no_args(struct cp *s)
{
	return at_end(s) ? 0 : bad_syntax(s, "end of line (no arguments)");
}

/* String = Atom / Quoted-string (§4.1.2); taken as given, control bytes refused. */
static int opt_string(struct cp *s)
{
	if (at_end(s))
		return 0;
	if (!take_sp(s))
		return bad_syntax(s, "SP");
	for (const char *q = s->p; q < s->end; q++)
		if ((unsigned char)*q < 32 || *q == 127)
			return bad_syntax(s, "no control characters");
	s->cmd->arg = rest(s);
	return 0;
}

static int req_string(struct cp *s)
{
	if (at_end(s))
		return bad_syntax(s, "an argument");
	return opt_string(s);
}

/* ehlo = "EHLO" SP ( Domain / address-literal ); helo = "HELO" SP Domain */
static int parse_helo_arg(struct cp *s, bool literal_ok)
{
	struct error sub;
	if (!take_sp(s) || at_end(s))
		return bad_syntax(s, "SP and a domain");
	const char *arg = s->p;
	size_t len = (size_t)(s->end - s->p);
	if (*arg == '[' && literal_ok) {
		/* Reuse the Mailbox parser for the literal: "x@" + literal. */
		char tmp[80];
		struct smtp_address addr;
		if (len > sizeof(tmp) - 2)
			return bad_syntax(s, "an address literal");
		memcpy(tmp, "x@", 2);
		memcpy(tmp + 2, arg, len);
		if (smtp_address_parse(tmp, len + 2, 0, s->a, &addr, &sub) < 0)
			return bad_syntax(s, "an IPv4 or IPv6 address literal");
		s->cmd->arg_literal = true;
	} else if (smtp_domain_check(arg, len, s->flags & SMTP_UTF8, &sub) < 0) {
		return bad_syntax(s, "a domain");
	}
	s->cmd->arg = rest(s);
	return 0;
}

static int parse_ehlo(struct cp *s)
{
	return parse_helo_arg(s, true);
}

static int parse_helo(struct cp *s)
{
	return parse_helo_arg(s, false);
}

static bool parse_number(struct cp *s, uint64_t max, uint64_t *v_r)
{
	const char *d = s->p;
	uint64_t v = 0;
	while (!at_end(s) && *s->p >= '0' && *s->p <= '9') {
		v = v * 10 + (uint64_t)(*s->p - '0');
		if (v > max)
			return false;
		s->p++;
	}
	*v_r = v;
	return s->p > d;
}

/* RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ];
 * chunk-size = 1*DIGIT; end-marker = "LAST" */
static int parse_bdat(struct cp *s)
{
	if (!take_sp(s) || !parse_number(s, SMTP_BDAT_SIZE_MAX, &s->cmd->bdat_size))
		return bad_syntax(s, "SP and a chunk size");
	if (at_end(s))
		return 0;
	if (!take_sp(s) || s->end - s->p != 4 || strncasecmp(s->p, "LAST", 4) != 0)
		return bad_syntax(s, "SP LAST or end of line");
	s->p = s->end;
	s->cmd->bdat_last = true;
	return 0;
}

/* RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response];
 * sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_") (RFC 4422 §3.1);
 * initial-response = base64 / "=" */
static int parse_auth(struct cp *s)
{
	if (!take_sp(s))
		return bad_syntax(s, "SP and a mechanism");
	const char *m = s->p;
	while (!at_end(s) && *s->p != ' ') {
		char c = *s->p;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
			|| c == '-' || c == '_'))
			return bad_syntax(s, "a SASL mechanism name");
		s->p++;
	}
	size_t n = (size_t)(s->p - m);
	if (n == 0 || n > 20)
		return bad_syntax(s, "a SASL mechanism name of 1 to 20 characters");
	char *mech = arena_strndup(s->a, m, n);
	for (char *c = mech; *c != '\0'; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	s->cmd->arg = mech;
	if (at_end(s))
		return 0;
	if (!take_sp(s) || at_end(s))
		return bad_syntax(s, "SP and an initial response");
	for (const char *q = s->p; q < s->end; q++)
		if (!(((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') || (*q >= '0' && *q <= '9')
			|| *q == '+' || *q == '/' || *q == '='))
			return bad_syntax(s, "base64 or \"=\" as initial response");
	s->cmd->auth_initial = rest(s);
	return 0;
}

/* MAIL and RCPT, below with their parameter tables. */
static int parse_mail(struct cp *s);
static int parse_rcpt(struct cp *s);

struct verb_row {
	const char *name;
	enum smtp_verb verb;
	int (*parse)(struct cp *s);
};

/* The commands of RFC 5321 §4.1.1 and the extensions tern speaks. */
static const struct verb_row verbs[] = {
	{ "EHLO", SMTP_VERB_EHLO, parse_ehlo },         /* §4.1.1.1 */
	{ "HELO", SMTP_VERB_HELO, parse_helo },         /* §4.1.1.1 */
	{ "MAIL", SMTP_VERB_MAIL, parse_mail },         /* §4.1.1.2 */
	{ "RCPT", SMTP_VERB_RCPT, parse_rcpt },         /* §4.1.1.3 */
	{ "DATA", SMTP_VERB_DATA, no_args },            /* §4.1.1.4 */
	{ "BDAT", SMTP_VERB_BDAT, parse_bdat },         /* RFC 3030 §2 */
	{ "RSET", SMTP_VERB_RSET, no_args },            /* §4.1.1.5 */
	{ "NOOP", SMTP_VERB_NOOP, opt_string },         /* §4.1.1.9 */
	{ "QUIT", SMTP_VERB_QUIT, no_args },            /* §4.1.1.10 */
	{ "VRFY", SMTP_VERB_VRFY, req_string },         /* §4.1.1.6 */
	{ "EXPN", SMTP_VERB_EXPN, req_string },         /* §4.1.1.7 */
	{ "HELP", SMTP_VERB_HELP, opt_string },         /* §4.1.1.8 */
	{ "STARTTLS", SMTP_VERB_STARTTLS, no_args },    /* RFC 3207 §4 */
	{ "AUTH", SMTP_VERB_AUTH, parse_auth },         /* RFC 4954 §4 */
};

const char *smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "?";
}

int smtp_command_parse(const char *line, size_t len, unsigned flags, struct arena *a,
	struct smtp_command *cmd_r, struct smtp_reply_hint *hint_r, struct error *e)
{
	struct cp s = { line, line, line + len, flags, a, cmd_r, hint_r, e };
	memset(cmd_r, 0, sizeof(*cmd_r));
	if (hint_r != NULL)
		*hint_r = (struct smtp_reply_hint){ 0, NULL, NULL };
	const char *v = s.p;
	while (!at_end(&s) && *s.p != ' ')
		s.p++;
	size_t vlen = (size_t)(s.p - v);
	const struct verb_row *row = NULL;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]) && row == NULL; i++)
		if (strlen(verbs[i].name) == vlen && strncasecmp(verbs[i].name, v, vlen) == 0)
			row = &verbs[i];
	bool ext = row != NULL && (flags & SMTP_EXTENDED)
		&& (row->verb == SMTP_VERB_MAIL || row->verb == SMTP_VERB_RCPT
			|| row->verb == SMTP_VERB_AUTH);
	size_t max = ext ? SMTP_COMMAND_LINE_EXTENDED_MAX : SMTP_COMMAND_LINE_MAX;
	if (len + 2 > max) {  /* §4.5.3.1.4: CRLF counts */
		error_set(e, ERR_LIMIT, "command line longer than %zu octets", max);
		return refuse(&s, 500, "5.5.2", "Line too long");
	}
	if (row == NULL) {
		error_set(e, ERR_INVALID, "unknown command");
		return refuse(&s, 500, "5.5.2", "Unknown command");
	}
	cmd_r->verb = row->verb;
	return row->parse(&s);
}

/*
 * MAIL and RCPT with their ESMTP parameters.
 *
 *   Mail-parameters = esmtp-param *(SP esmtp-param)
 *   esmtp-param     = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword   = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value     = 1*(%d33-60 / %d62-126)   ; RFC 6531 §3.3: =/ UTF8-non-ascii
 */

struct param_row {
	const char *name;
	int (*parse)(struct cp *s, const char *v, size_t vlen);  /* v NULL: no "=value" */
};

static int bad_value(struct cp *s, const char *name, const char *what)
{
	error_set(s->e, ERR_INVALID, "%s parameter %s: expected %s", smtp_verb_name(s->cmd->verb), name, what);
	return refuse(s, 501, "5.5.4", "Syntax error in parameters or arguments");
}

static bool value_is(const char *v, size_t vlen, const char *word)
{
	return v != NULL && strlen(word) == vlen && strncasecmp(v, word, vlen) == 0;
}

/* RFC 1870 §3: size-param = "SIZE=" size-value; size-value = 1*20DIGIT */
static int p_size(struct cp *s, const char *v, size_t vlen)
{
	if (v == NULL)  /* SIZE needs a value (and NULL + 0 is undefined) */
		return bad_value(s, "SIZE", "digits");
	struct cp sub = *s;
	sub.p = v;
	sub.end = v + vlen;
	if (!parse_number(&sub, SMTP_SIZE_VALUE_MAX, &s->cmd->mail.size) || sub.p != sub.end)
		return bad_value(s, "SIZE", "digits");
	s->cmd->mail.has_size = true;
	return 0;
}

/* RFC 6152 §2 (7BIT, 8BITMIME), RFC 3030 §3 (BINARYMIME) */
static int p_body(struct cp *s, const char *v, size_t vlen)
{
	static const struct { const char *w; enum smtp_body b; } bodies[] = {
		{ "7BIT", SMTP_BODY_7BIT }, { "8BITMIME", SMTP_BODY_8BITMIME },
		{ "BINARYMIME", SMTP_BODY_BINARYMIME },
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		if (value_is(v, vlen, bodies[i].w)) {
			s->cmd->mail.body = bodies[i].b;
			return 0;
		}
	return bad_value(s, "BODY", "7BIT, 8BITMIME or BINARYMIME");
}

/* RFC 6531 §3.4: "SMTPUTF8" with no value */
static int p_smtputf8(struct cp *s, const char *v, size_t vlen)
{
	if (v != NULL)
		return bad_value(s, "SMTPUTF8", "no value");
	s->cmd->mail.smtputf8 = true;
	return 0;
}

/* RFC 8689 §4.1: "REQUIRETLS" with no value */
static int p_requiretls(struct cp *s, const char *v, size_t vlen)
{
	if (v != NULL)
		return bad_value(s, "REQUIRETLS", "no value");
	s->cmd->mail.requiretls = true;
	return 0;
}

/* RFC 3461 §4.3: ret-value = "FULL" / "HDRS" */
static int p_ret(struct cp *s, const char *v, size_t vlen)
{
	if (value_is(v, vlen, "FULL"))
		s->cmd->mail.ret = SMTP_RET_FULL;
	else if (value_is(v, vlen, "HDRS"))
		s->cmd->mail.ret = SMTP_RET_HDRS;
	else
		return bad_value(s, "RET", "FULL or HDRS");
	return 0;
}

/* RFC 3461 §4.4: envid-parameter = "ENVID=" xtext */
static int p_envid(struct cp *s, const char *v, size_t vlen)
{
	struct error sub;
	if (v == NULL || smtp_xtext_decode(v, vlen, SMTP_ENVID_MAX, s->a, &s->cmd->mail.envid, &sub) < 0)
		return bad_value(s, "ENVID", "xtext of at most 100 octets");
	return 0;
}

/* RFC 4954 §5: auth-param = "AUTH=" xtext, "<>" for an unknown identity */
static int p_auth(struct cp *s, const char *v, size_t vlen)
{
	struct error sub;
	if (v == NULL || smtp_xtext_decode(v, vlen, SMTP_PATH_MAX, s->a, &s->cmd->mail.auth, &sub) < 0)
		return bad_value(s, "AUTH", "xtext or <>");
	return 0;
}

/* RFC 3461 §4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element;
 * notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"; NEVER stands alone. */
static int p_notify(struct cp *s, const char *v, size_t vlen)
{
	static const struct { const char *w; unsigned bit; } words[] = {
		{ "NEVER", SMTP_NOTIFY_NEVER }, { "SUCCESS", SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", SMTP_NOTIFY_FAILURE }, { "DELAY", SMTP_NOTIFY_DELAY },
	};
	if (v == NULL)  /* NOTIFY needs a value (and NULL + 0 is undefined) */
		return bad_value(s, "NOTIFY", "NEVER or a list of SUCCESS, FAILURE, DELAY");
	const char *end = v + vlen;
	unsigned bits = 0;
	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		size_t n = (size_t)((comma != NULL ? comma : end) - v);
		unsigned bit = 0;
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (value_is(v, n, words[i].w))
				bit = words[i].bit;
		if (bit == 0 || (bits & bit))
			return bad_value(s, "NOTIFY", "NEVER or a list of SUCCESS, FAILURE, DELAY");
		bits |= bit;
		v = comma != NULL ? comma + 1 : end;
		if (comma != NULL && v == end)
			return bad_value(s, "NOTIFY", "a word after \",\"");
	}
	if (bits == 0 || ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER))
		return bad_value(s, "NOTIFY", "NEVER alone or a list of SUCCESS, FAILURE, DELAY");
	s->cmd->rcpt.notify = bits;
	return 0;
}

/* RFC 3461 §4.2: orcpt-parameter = "ORCPT=" original-recipient-address;
 * original-recipient-address = addr-type ";" xtext; addr-type = atom */
static int p_orcpt(struct cp *s, const char *v, size_t vlen)
{
	struct error sub;
	const char *semi = v != NULL ? memchr(v, ';', vlen) : NULL;
	if (semi == NULL || semi == v)
		return bad_value(s, "ORCPT", "addr-type \";\" xtext");
	for (const char *q = v; q < semi; q++)
		if (!(((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') || (*q >= '0' && *q <= '9') || *q == '-'))
			return bad_value(s, "ORCPT", "an address type such as rfc822");
	s->cmd->rcpt.orcpt_type = arena_strndup(s->a, v, (size_t)(semi - v));
	size_t n = vlen - (size_t)(semi + 1 - v);
	if (n == 0 || smtp_xtext_decode(semi + 1, n, SMTP_ORCPT_MAX, s->a, &s->cmd->rcpt.orcpt, &sub) < 0)
		return bad_value(s, "ORCPT", "xtext of at most 500 octets");
	return 0;
}

static const struct param_row mail_params[] = {
	{ "SIZE", p_size }, { "BODY", p_body }, { "SMTPUTF8", p_smtputf8 },
	{ "REQUIRETLS", p_requiretls }, { "RET", p_ret }, { "ENVID", p_envid },
	{ "AUTH", p_auth },
};
static const struct param_row rcpt_params[] = {
	{ "NOTIFY", p_notify }, { "ORCPT", p_orcpt },
};

/* Bounded by the number of rows: at most 32 parameters are known. */
static int parse_params(struct cp *s, const struct param_row *rows, size_t nrows)
{
	unsigned seen = 0;
	while (!at_end(s)) {
		if (!take_sp(s))
			return bad_syntax(s, "SP before a parameter");
		if (at_end(s))
			break;  /* trailing spaces: harmless */
		const char *k = s->p;
		while (!at_end(s) && *s->p != ' ' && *s->p != '=')
			s->p++;
		size_t klen = (size_t)(s->p - k);
		const char *v = NULL;
		size_t vlen = 0;
		if (!at_end(s) && *s->p == '=') {
			v = ++s->p;
			while (!at_end(s) && *s->p != ' ')
				s->p++;
			vlen = (size_t)(s->p - v);
			for (size_t i = 0; i < vlen; i++) {
				size_t u = smtp_utf8_len(v + i, v + vlen);
				if (u > 0)
					i += u - 1;  /* RFC 6531 §3.3: esmtp-value =/ UTF8-non-ascii */
				else if ((unsigned char)v[i] < 33 || v[i] == '=' || (unsigned char)v[i] > 126)
					return bad_syntax(s, "an esmtp-value");
			}
			if (vlen == 0)
				return bad_syntax(s, "an esmtp-value after \"=\"");
		}
		size_t i = 0;
		while (i < nrows && !(strlen(rows[i].name) == klen && strncasecmp(rows[i].name, k, klen) == 0))
			i++;
		if (i == nrows) {
			error_set(s->e, ERR_INVALID, "unknown %s parameter %.*s", smtp_verb_name(s->cmd->verb),
				(int)(klen > 64 ? 64 : klen), k);
			return refuse(s, 555, "5.5.4", "Unsupported parameter");
		}
		if (seen & (1u << i)) {
			error_set(s->e, ERR_INVALID, "%s parameter %s given twice", smtp_verb_name(s->cmd->verb),
				rows[i].name);
			return refuse(s, 501, "5.5.4", "Parameter given twice");
		}
		seen |= 1u << i;
		if (rows[i].parse(s, v, vlen) < 0)
			return -1;
	}
	return 0;
}

static bool has_non_ascii(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return true;
	return false;
}

/* "FROM:" or "TO:", then the path. */
static int parse_path_arg(struct cp *s, const char *kw, const char *enh)
{
	size_t n = strlen(kw);
	if (!take_sp(s) || (size_t)(s->end - s->p) < n || strncasecmp(s->p, kw, n) != 0)
		return bad_syntax(s, kw);
	s->p += n;
	if (!at_end(s) && *s->p == ' ' && !(s->flags & SMTP_STRICT))
		take_sp(s);  /* see the deviations at the top */
	struct error sub;
	const char *at = s->p;
	if (smtp_path_parse(&s->p, s->end, s->flags | SMTP_UTF8, s->a, &s->cmd->path, &sub) < 0) {
		error_set(s->e, sub.kind, "%s: at offset %zu: bad path: %s", smtp_verb_name(s->cmd->verb),
			(size_t)(at - s->start), sub.msg);
		return refuse(s, 501, enh, "Bad address syntax");
	}
	return 0;
}

/* RFC 6531 §3.4: UTF-8 addresses only with SMTPUTF8; 553 5.6.7 (RFC 6531 §3.6). */
static int check_utf8(struct cp *s, bool allowed)
{
	const struct smtp_address *a = &s->cmd->path.addr;
	if (allowed || s->cmd->path.null || (!has_non_ascii(a->local_raw) && !has_non_ascii(a->domain)))
		return 0;
	error_set(s->e, ERR_INVALID, "%s: non-ASCII address without SMTPUTF8", smtp_verb_name(s->cmd->verb));
	return refuse(s, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
}

/* mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] (§4.1.1.2) */
static int parse_mail(struct cp *s)
{
	if (parse_path_arg(s, "FROM:", "5.1.7") < 0 || parse_params(s, mail_params,
		sizeof(mail_params) / sizeof(mail_params[0])) < 0)
		return -1;
	return check_utf8(s, (s->flags & SMTP_UTF8) || s->cmd->mail.smtputf8);
}

/* rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
 *        [SP Rcpt-parameters] (§4.1.1.3) */
static int parse_rcpt(struct cp *s)
{
	const char *after = s->p;
	if (parse_path_arg(s, "TO:", "5.1.3") < 0) {
		/* "<Postmaster>" without a domain is allowed for RCPT only. */
		struct cp t = *s;
		t.p = after;
		if (!take_sp(&t) || (size_t)(t.end - t.p) < 3 || strncasecmp(t.p, "TO:", 3) != 0)
			return -1;
		t.p += 3;
		if (!at_end(&t) && *t.p == ' ' && !(t.flags & SMTP_STRICT))
			take_sp(&t);
		if ((size_t)(t.end - t.p) < 12 || strncasecmp(t.p, "<Postmaster>", 12) != 0)
			return -1;
		memset(&s->cmd->path, 0, sizeof(s->cmd->path));
		s->cmd->path.addr.local = s->cmd->path.addr.local_raw = arena_strndup(s->a, t.p + 1, 10);
		s->cmd->path.addr.local_len = 10;
		s->cmd->path.addr.domain = "";
		s->p = t.p + 12;
		if (s->hint != NULL)
			*s->hint = (struct smtp_reply_hint){ 0, NULL, NULL };
		error_clear(s->e);
	} else if (s->cmd->path.null) {
		s->p = after;
		return bad_syntax(s, "a forward-path, not <>");
	}
	if (parse_params(s, rcpt_params, sizeof(rcpt_params) / sizeof(rcpt_params[0])) < 0)
		return -1;
	return check_utf8(s, s->flags & SMTP_UTF8);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3461 §4: xtext = *( xchar / hexchar ); xchar = any ASCII CHAR between
 * "!" (33) and "~" (126) inclusive, except "+" and "="; hexchar = "+" 2(HEXDIG
 * upper case). A decoded NUL is refused: the result is a C string. */
int smtp_xtext_decode(const char *p, size_t len, size_t max, struct arena *a,
	const char **out_r, struct error *e)
{
	char *out = arena_alloc(a, len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '+') {
			int hi = i + 2 < len ? hexval(p[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(p[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return error_set(e, ERR_INVALID, "xtext: at offset %zu: expected \"+\" and two upper-case hex digits", i);
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			out[n++] = (char)c;
		} else {
			return error_set(e, ERR_INVALID, "xtext: at offset %zu: character must be encoded", i);
		}
	}
	if (n > max)
		return error_set(e, ERR_LIMIT, "xtext: longer than %zu octets", max);
	out[n] = '\0';
	*out_r = out;
	return 0;
}
