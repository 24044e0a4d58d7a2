/*
 * schema_dynamic.c: the table of domains.conf, the dynamic configuration.
 *
 * Domains come before Accounts in the table, so the checks of accounts can
 * look up domains already parsed (walk.c fills fields in table order).
 * Destination addresses are unique across all accounts, compared ignoring
 * case (SCHEMA_UNIQUE_ACROSS), so that no address can deliver to two places.
 */
#include "config/config.h"
#include "config/schema.h"

#include <ctype.h>
#include <regex.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* RFC 5321 §4.5.3.1.1: a local-part is at most 64 octets. */
#define LOCALPART_MAX 64
/* Account names become directory names under DataDir/accounts/. */
#define ACCOUNT_NAME_MAX 64
/* Longest catch-all separator, e.g. "+" or "-". */
#define SEPARATOR_MAX 8

static const char *configured_domain(const struct schema_env *env, const char *name)
{
	const struct config_dynamic *dyn = env->root;
	for (size_t i = 0; i < dyn->ndomains; i++)
		if (strcasecmp(dyn->domains[i].name, name) == 0)
			return dyn->domains[i].name;
	return NULL;
}

/* Letters, digits, '.', '-' and '_'; no leading '.' or '-', no "..": the
 * name is used as a directory name and must not escape its parent. */
static const char *check_account_name(const struct schema_env *env, const char *in,
                                      const char **out_r)
{
	size_t n = strlen(in);
	bool ok = n >= 1 && n <= ACCOUNT_NAME_MAX && in[0] != '.' && in[0] != '-' &&
	          strstr(in, "..") == NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)in[i]) || strchr(".-_", in[i]) != NULL;
	if (!ok)
		return arena_printf(env->arena, "%s is not a valid account name (1..%d of "
		                    "letters, digits, '.', '-', '_'; no leading '.' or '-', no \"..\")",
		                    schema_quote(env->arena, in), ACCOUNT_NAME_MAX);
	*out_r = in;
	return NULL;
}

static const char *check_known_domain(const struct schema_env *env, const char *in,
                                      const char **out_r)
{
	const char *name = configured_domain(env, in);
	if (name == NULL)
		return arena_printf(env->arena, "unknown domain %s (not in Domains)",
		                    schema_quote(env->arena, in));
	*out_r = name;
	return NULL;
}

/* Printable, no space and no '@': a dot-atom or anything a quoted local-part
 * would need quotes for is refused, which RFC 5321 §4.1.2 discourages anyway.
 * Bytes of 0x80 and above are allowed for SMTPUTF8 (RFC 6531). */
static bool localpart_valid(const char *s, size_t n)
{
	if (n > LOCALPART_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == '@' || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* "localpart@domain", or "@domain" for a catch-all; the domain must be
 * configured. Stored with the domain in lower case. */
static const char *check_destination(const struct schema_env *env, const char *in,
                                     const char **out_r)
{
	const char *at = strrchr(in, '@');
	if (at == NULL || !localpart_valid(in, (size_t)(at - in)))
		return arena_printf(env->arena, "%s is not an address (localpart@domain "
		                    "or @domain)", schema_quote(env->arena, in));
	if (!schema_domain_valid(at + 1))
		return arena_printf(env->arena, "%s: %s is not a valid domain name",
		                    schema_quote(env->arena, in), schema_quote(env->arena, at + 1));
	const char *domain = configured_domain(env, at + 1);
	if (domain == NULL)
		return arena_printf(env->arena, "%s: unknown domain %s (not in Domains)",
		                    schema_quote(env->arena, in), schema_quote(env->arena, at + 1));
	*out_r = arena_printf(env->arena, "%.*s@%s", (int)(at - in), in, domain);
	return NULL;
}

static const char *check_separator(const struct schema_env *env, const char *in,
                                   const char **out_r)
{
	size_t n = strlen(in);
	bool ok = n >= 1 && n <= SEPARATOR_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = ispunct((unsigned char)in[i]) && in[i] != '@' && in[i] != '"' && in[i] != '\\';
	if (!ok)
		return arena_printf(env->arena, "%s is not a separator (1..%d punctuation "
		                    "characters other than @, \" and \\)",
		                    schema_quote(env->arena, in), SEPARATOR_MAX);
	*out_r = in;
	return NULL;
}

/* ---- Domains.DOMAIN.DKIM ---- */

/* A selector (RFC 6376 §3.1): dot-separated labels of letters, digits, '-'
 * and '_', as they appear in SELECTOR._domainkey.DOMAIN. */
static const char *check_dkim_selector(const struct schema_env *env, const char *in,
                                       const char **out_r)
{
	size_t n = strlen(in);
	bool ok = n >= 1 && n <= 63 && in[0] != '.' && in[n - 1] != '.' && strstr(in, "..") == NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)in[i]) || strchr(".-_", in[i]) != NULL;
	if (!ok)
		return arena_printf(env->arena, "%s is not a DKIM selector (labels of letters, "
		                    "digits, '-' and '_')", schema_quote(env->arena, in));
	*out_r = in;
	return NULL;
}

/* A Sign item names a selector of the same domain: the domain being parsed
 * is the last one of Domains (walk.c bumps the count first), and Selectors
 * comes before Sign in the table. */
static const char *check_dkim_sign(const struct schema_env *env, const char *in,
                                   const char **out_r)
{
	const struct config_dynamic *dyn = env->root;
	const struct config_dkim *dkim = &dyn->domains[dyn->ndomains - 1].dkim;
	for (size_t i = 0; i < dkim->nselectors; i++)
		if (strcmp(dkim->selectors[i].name, in) == 0) {
			*out_r = dkim->selectors[i].name;
			return NULL;
		}
	return arena_printf(env->arena, "unknown selector %s (not in DKIM.Selectors)",
	                    schema_quote(env->arena, in));
}

static const char *const dkim_algorithms[] = { "rsa-sha256", "ed25519-sha256", NULL };

static const struct schema_field dkim_selector_fields[] = {
	{ .name = "PrivateKeyFile", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_dkim_selector, private_key_file),
	  .flags = SCHEMA_REQUIRED, .check = schema_check_file,
	  .doc = "PEM private key (PKCS#8), RSA or Ed25519; relative to the config directory.",
	  .example = "dkim/2024a._domainkey.example.com.ed25519.pem" },
	{ .name = "Algorithm", .type = SCHEMA_ENUM,
	  .offset = offsetof(struct config_dkim_selector, algorithm), .allowed = dkim_algorithms,
	  .doc = "Signing algorithm; by default the one the key is for.",
	  .example = "ed25519-sha256" },
};

static const struct schema dkim_selector_schema = {
	.name = "DKIM selector", .key_name = "selector",
	.size = sizeof(struct config_dkim_selector),
	.key_offset = offsetof(struct config_dkim_selector, name),
	.fields = SCHEMA_FIELDS(dkim_selector_fields),
};

static const struct schema_field dkim_fields[] = {
	{ .name = "Selectors", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_dkim, selectors),
	  .count_offset = offsetof(struct config_dkim, nselectors),
	  .sub = &dkim_selector_schema, .check = check_dkim_selector, .max = 32,
	  .doc = "Keys, by selector: each is published at SELECTOR._domainkey.DOMAIN.",
	  .example = "2024a" },
	{ .name = "Sign", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_dkim, sign),
	  .count_offset = offsetof(struct config_dkim, nsign),
	  .check = check_dkim_sign, .max = 8,
	  .doc = "Selectors that sign outgoing mail, one DKIM-Signature each.",
	  .example = "2024a" },
};

static const struct schema dkim_schema = {
	.name = "DKIM settings", .size = sizeof(struct config_dkim),
	.fields = SCHEMA_FIELDS(dkim_fields),
};

/* ---- Domains.DOMAIN ---- */

static const struct schema_field domain_fields[] = {
	{ .name = "Description", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_domain, description),
	  .doc = "Free text for admins.", .example = "Example Inc." },
	{ .name = "LocalpartCatchallSeparator", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_domain, localpart_catchall_separator),
	  .check = check_separator,
	  .doc = "Separator of an address tag: with \"+\", alice+tag@ is delivered as alice@.",
	  .example = "+" },
	{ .name = "LocalpartCaseSensitive", .type = SCHEMA_BOOL,
	  .offset = offsetof(struct config_domain, localpart_case_sensitive), .def = "false",
	  .doc = "Whether Alice@ and alice@ are different addresses." },
	{ .name = "DKIM", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_domain, dkim), .sub = &dkim_schema,
	  .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "DKIM signing keys (RFC 6376); `tern dkim gened25519` makes one." },
	{ .name = "Routes", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_domain, routes),
	  .count_offset = offsetof(struct config_domain, nroutes),
	  .sub = &schema_route_dynamic, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Routes for mail from this domain, tried before tern.conf's Routes." },
};

static const struct schema domain_schema = {
	.name = "domain", .key_name = "domain name", .size = sizeof(struct config_domain),
	.key_offset = offsetof(struct config_domain, name),
	.fields = SCHEMA_FIELDS(domain_fields),
};

/* ---- Accounts.NAME.Destinations.ADDRESS.Rulesets[] ---- */

/* A POSIX extended regular expression (as config_ruleset_mailbox uses it). */
static const char *check_regexp(const struct schema_env *env, const char *in, const char **out_r)
{
	regex_t re;
	int r = regcomp(&re, in, REG_EXTENDED | REG_ICASE | REG_NOSUB);
	if (r != 0) {
		char msg[128];
		regerror(r, &re, msg, sizeof(msg));
		return arena_printf(env->arena, "%s is not a valid regular expression: %s",
		                    schema_quote(env->arena, in), msg);
	}
	regfree(&re);
	*out_r = in;
	return NULL;
}

/* A header field name (RFC 5322 §3.6.8 ftext), stored lower case. */
static const char *check_header_name(const struct schema_env *env, const char *in,
                                     const char **out_r)
{
	char *low = arena_strdup(env->arena, in);
	for (char *p = low; *p != '\0'; p++) {
		if (*p < 33 || *p > 126 || *p == ':')
			return arena_printf(env->arena, "%s is not a header field name",
			                    schema_quote(env->arena, in));
		*p = (char)tolower((unsigned char)*p);
	}
	*out_r = low;
	return low[0] != '\0' ? NULL : "empty header field name";
}

static const struct schema_field header_regexp_fields[] = {
	{ .name = "Regexp", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_header_regexp, regexp), .flags = SCHEMA_REQUIRED,
	  .check = check_regexp,
	  .doc = "POSIX extended regular expression the header's value must match, ignoring case.",
	  .example = "^list-name\\." },
};

static const struct schema header_regexp_schema = {
	.name = "regular expression", .key_name = "header field name",
	.size = sizeof(struct config_header_regexp),
	.key_offset = offsetof(struct config_header_regexp, header), .scalar_value = true,
	.fields = SCHEMA_FIELDS(header_regexp_fields),
};

static const struct schema_field ruleset_fields[] = {
	{ .name = "SMTPMailFromRegexp", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_ruleset, smtp_mail_from_regexp), .check = check_regexp,
	  .doc = "Regular expression the SMTP MAIL FROM address must match.",
	  .example = "@lists\\.example\\.org$" },
	{ .name = "HeadersRegexp", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_ruleset, headers),
	  .count_offset = offsetof(struct config_ruleset, nheaders),
	  .sub = &header_regexp_schema, .check = check_header_name, .max = 32,
	  .doc = "Headers that must be present with a value matching a regular expression.",
	  .example = "list-id" },
	{ .name = "Mailbox", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_ruleset, mailbox), .flags = SCHEMA_REQUIRED,
	  .doc = "Mailbox for messages that match.", .example = "Lists" },
};

static const struct schema ruleset_schema = {
	.name = "ruleset", .size = sizeof(struct config_ruleset),
	.fields = SCHEMA_FIELDS(ruleset_fields),
};

/* ---- Accounts.NAME.Destinations.ADDRESS ---- */

static const char *const report_kinds[] = { "dmarc", "tlsrpt", NULL };

static const struct schema_field destination_fields[] = {
	{ .name = "Mailbox", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_destination, mailbox), .def = "Inbox",
	  .doc = "Mailbox that messages to this address are delivered to." },
	{ .name = "FullName", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_destination, full_name),
	  .doc = "Display name used when sending from this address.",
	  .example = "Alice Example" },
	{ .name = "Rulesets", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_destination, rulesets),
	  .count_offset = offsetof(struct config_destination, nrulesets),
	  .sub = &ruleset_schema, .max = 100,
	  .doc = "Rules choosing another mailbox by sender or headers; the first that matches wins." },
	{ .name = "Reports", .type = SCHEMA_ENUM,
	  .offset = offsetof(struct config_destination, reports), .allowed = report_kinds,
	  .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "This is the address that receives DMARC aggregate reports (dmarc, the rua= of "
	         "our DMARC records) or SMTP TLS reports (tlsrpt, RFC 8460) for our domains: "
	         "they are parsed and kept for the admin pages, and delivered as mail too.",
	  .example = "dmarc" },
};

static const struct schema destination_schema = {
	.name = "destination", .key_name = "address", .size = sizeof(struct config_destination),
	.key_offset = offsetof(struct config_destination, address),
	.fields = SCHEMA_FIELDS(destination_fields),
};

/* ---- Accounts.NAME ---- */

static const struct schema_field account_fields[] = {
	{ .name = "Domain", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_account, domain),
	  .flags = SCHEMA_REQUIRED, .check = check_known_domain,
	  .doc = "Default domain of the account; one of Domains.",
	  .example = "example.com" },
	{ .name = "Description", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_account, description),
	  .doc = "Free text for admins.", .example = "Alice's account" },
	{ .name = "FullName", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_account, full_name),
	  .doc = "Display name used when sending.", .example = "Alice Example" },
	{ .name = "QuotaMB", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_account, quota_mb),
	  .def = "0", .min = 0, .max = 100000000,
	  .doc = "Most megabytes (10^6 bytes) of mail the account may hold; 0: no limit." },
	{ .name = "QuotaMessages", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_account, quota_messages),
	  .def = "0", .min = 0, .max = 1000000000,
	  .doc = "Most messages the account may hold; 0: no limit." },
	{ .name = "Destinations", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_account, destinations),
	  .count_offset = offsetof(struct config_account, ndestinations),
	  .sub = &destination_schema, .check = check_destination,
	  .flags = SCHEMA_UNIQUE_ACROSS,
	  .doc = "Addresses delivered to this account: localpart@domain, or @domain for all others.",
	  .example = "alice@example.com" },
	{ .name = "Routes", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_account, routes),
	  .count_offset = offsetof(struct config_account, nroutes),
	  .sub = &schema_route_dynamic, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Routes for this account's mail, tried before its domain's and tern.conf's." },
};

static const struct schema account_schema = {
	.name = "account", .key_name = "account name", .size = sizeof(struct config_account),
	.key_offset = offsetof(struct config_account, name),
	.fields = SCHEMA_FIELDS(account_fields),
};

/* ---- the file ---- */

static const struct schema_field dynamic_fields[] = {
	{ .name = "Domains", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_dynamic, domains),
	  .count_offset = offsetof(struct config_dynamic, ndomains),
	  .sub = &domain_schema, .check = schema_check_domain,
	  .doc = "Domains tern receives mail for.", .example = "example.com" },
	{ .name = "Accounts", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_dynamic, accounts),
	  .count_offset = offsetof(struct config_dynamic, naccounts),
	  .sub = &account_schema, .check = check_account_name,
	  .doc = "Accounts, each with its own mailboxes and addresses.", .example = "alice" },
};

const struct schema schema_dynamic = {
	.name = "domains.conf", .size = sizeof(struct config_dynamic),
	.fields = SCHEMA_FIELDS(dynamic_fields),
};
