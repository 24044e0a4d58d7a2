/*
 * recipient.c: resolving an RCPT TO address to an account and destination.
 *
 * Facts of src/config this relies on:
 *   - Domains keys are stored lower case without a trailing dot and hold
 *     only letters, digits and '-' (schema_check_domain), so IDNs are
 *     configured as A-labels;
 *   - Destinations keys are "localpart@domain" or "@domain" with the domain
 *     replaced by the configured name (lower case) and the local part kept
 *     as written, case included (check_destination in schema_dynamic.c);
 *   - an account's Domain is the configured name (check_known_domain);
 *   - destination keys are unique across accounts ignoring case, so a
 *     case-sensitive domain cannot have both Alice@ and alice@.
 */
#include "smtpserver/recipient.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/error.h"
#include "message/message.h"
#include "smtp/smtp.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* ASCII only, whatever the locale: bytes of UTF-8 characters stay as they are. */
static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void lower_ascii(char *s)
{
	for (; *s != '\0'; s++)
		*s = ascii_lower(*s);
}

static bool has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Rule 3: local parts compare exactly, or ignoring the case of ASCII letters
 * (RFC 5321 §2.4 leaves the case of local parts to the receiving domain).
 * Limitation: UTF-8 local parts (RFC 6531) are compared byte for byte, so
 * "JÖRG" and "jörg" differ even when the domain is case-insensitive; doing
 * better needs Unicode case folding and normalization. */
static bool localpart_equal(const char *a, size_t an, const char *b, size_t bn,
                            bool case_sensitive)
{
	if (an != bn)
		return false;
	if (case_sensitive)
		return memcmp(a, b, an) == 0;
	for (size_t i = 0; i < an; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

/* RFC 5321 §4.5.1: every domain we take mail for has "postmaster", whose
 * local part is matched without regard to case. */
static bool is_postmaster(const char *local, size_t n)
{
	return localpart_equal(local, n, "postmaster", 10, false);
}

/* RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain; smtp/command.c
 * gives local part "Postmaster" and domain "". */
static bool is_bare_postmaster(const struct smtp_address *addr)
{
	return !addr->literal && addr->domain[0] == '\0' && is_postmaster(addr->local, addr->local_len);
}

/* Rule 2: <Postmaster> goes to the domain of our host name (the name
 * itself, then each parent), else to the first configured domain. */
static const struct config_domain *bare_postmaster_domain(const struct config *cfg)
{
	for (const char *h = cfg->st.hostname; h != NULL && *h != '\0'; ) {
		const struct config_domain *d = config_find_domain(cfg, h);
		if (d != NULL)
			return d;
		const char *dot = strchr(h, '.');
		h = dot != NULL ? dot + 1 : NULL;
	}
	return cfg->dyn.ndomains > 0 ? &cfg->dyn.domains[0] : NULL;
}

/* Rule 1: domains compare ignoring case (RFC 5321 §2.4); a domain with
 * UTF-8 (RFC 6531 §3.2, U-labels) becomes A-labels (RFC 5890) as the
 * configured domains are. An address-literal is only lowered. */
static const char *lookup_domain(struct arena *a, const struct smtp_address *addr,
                                 struct error *e)
{
	const char *d = addr->domain;
	if (!addr->literal && has_8bit(d)) {
		d = message_domain_idna(a, addr->domain, true);
		if (d == NULL) {
			error_set(e, ERR_INVALID, "recipient domain \"%s\" cannot be converted to "
			          "A-labels: not a valid internationalized domain name (IDNA 2008)",
			          addr->domain);
			return NULL;
		}
	}
	char *low = arena_strdup(a, d);
	lower_ascii(low);
	return low;
}

/* RFC 5322 §3.2.3 atext, plus UTF-8 bytes (RFC 6531 §3.3). */
static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 §4.1.2 Dot-string: a local part that needs no quotes. */
static bool is_dot_string(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' ? s[i - 1] == '.' : !is_atext((unsigned char)s[i]))
			return false;
	return true;
}

/* Rule 5: the whole local part as given (unquoted when it needs no quotes,
 * so "alice"@ and alice@ log alike), folded when the domain is
 * case-insensitive, "@" and the domain. */
static const char *canonical_address(struct arena *a, const struct smtp_address *addr,
                                     const char *domain, bool fold)
{
	char *local = is_dot_string(addr->local, addr->local_len) || addr->local_raw == NULL ?
		arena_strndup(a, addr->local, addr->local_len) : arena_strdup(a, addr->local_raw);
	if (fold)
		lower_ascii(local);
	if (domain[0] == '\0')
		return local;
	return arena_printf(a, "%s@%s", local, domain);
}

/* The destination "local@dom" ("@dom" when n is 0) of any account. */
static bool find_destination(const struct config *cfg, const struct config_domain *dom,
                             const char *local, size_t n, struct smtp_rcpt_target *t)
{
	for (size_t i = 0; i < cfg->dyn.naccounts; i++) {
		const struct config_account *acc = &cfg->dyn.accounts[i];
		for (size_t j = 0; j < acc->ndestinations; j++) {
			const char *key = acc->destinations[j].address;
			const char *at = strrchr(key, '@');
			if (at == NULL || strcmp(at + 1, dom->name) != 0 ||
			    !localpart_equal(key, (size_t)(at - key), local, n,
			                     dom->localpart_case_sensitive))
				continue;
			t->account = acc;
			t->dest = &acc->destinations[j];
			return true;
		}
	}
	return false;
}

/* Rule 4, separator: where the first occurrence of sep starts in the local
 * part, or 0 if there is none (or nothing before it). The configured
 * separator ("+", or several characters like "+-") is one string, as its
 * doc in schema_dynamic.c says: with "+", alice+tag@ is delivered as alice@. */
static size_t separator_at(const char *sep, const char *local, size_t n)
{
	size_t sn = sep != NULL ? strlen(sep) : 0;
	for (size_t i = 1; sn > 0 && i + sn <= n; i++)
		if (memcmp(local + i, sep, sn) == 0)
			return i;
	return 0;
}

/* Rule 4, postmaster: the first account whose Domain is dom, else the
 * first account; no destination. */
static bool find_postmaster_account(const struct config *cfg, const struct config_domain *dom,
                                    struct smtp_rcpt_target *t)
{
	if (cfg->dyn.naccounts == 0)
		return false;
	t->account = &cfg->dyn.accounts[0];
	for (size_t i = 0; i < cfg->dyn.naccounts; i++)
		if (strcmp(cfg->dyn.accounts[i].domain, dom->name) == 0) {
			t->account = &cfg->dyn.accounts[i];
			break;
		}
	t->dest = NULL;
	return true;
}

/* Rule 4: exact address, local part cut at the separator, catch-all,
 * postmaster, else unknown. */
static void resolve_in_domain(const struct config *cfg, const struct config_domain *dom,
                              const char *local, size_t n, struct smtp_rcpt_target *t)
{
	size_t cut = separator_at(dom->localpart_catchall_separator, local, n);
	t->kind = SMTP_RCPT_LOCAL;
	if (find_destination(cfg, dom, local, n, t) ||
	    (cut > 0 && find_destination(cfg, dom, local, cut, t)) ||
	    find_destination(cfg, dom, "", 0, t) ||
	    (is_postmaster(local, n) && find_postmaster_account(cfg, dom, t)))
		return;
	t->kind = SMTP_RCPT_UNKNOWN;
}

int smtp_rcpt_resolve(const struct config *cfg, const struct smtp_address *addr, struct arena *a,
                      struct smtp_rcpt_target *t_r, struct error *e)
{
	*t_r = (struct smtp_rcpt_target){ .kind = SMTP_RCPT_FOREIGN };
	const struct config_domain *dom = NULL;
	bool bare = is_bare_postmaster(addr);
	if (bare) {
		dom = bare_postmaster_domain(cfg);
		t_r->domain = arena_strdup(a, dom != NULL ? dom->name : "");
	} else {
		t_r->domain = lookup_domain(a, addr, e);
		if (t_r->domain == NULL)
			return -1;
		/* Rule 1: an address-literal is never one of our domains here. */
		if (!addr->literal)
			dom = config_find_domain(cfg, t_r->domain);
	}
	t_r->address = canonical_address(a, addr, t_r->domain,
	                                 dom != NULL && !dom->localpart_case_sensitive);
	if (dom != NULL)
		resolve_in_domain(cfg, dom, addr->local, addr->local_len, t_r);
	else if (bare)
		t_r->kind = SMTP_RCPT_UNKNOWN;  /* no domain configured at all */
	return 0;
}
