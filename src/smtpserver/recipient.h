/*
 * recipient.h: which account and destination an RCPT TO address reaches.
 *
 * Resolution uses only the configuration snapshot given (domains.conf:
 * Domains and Accounts.NAME.Destinations, tern.conf: Hostname); it keeps no
 * state and logs nothing. Whether a FOREIGN address may be relayed is the
 * caller's decision (submission with authentication, say).
 */
#ifndef TERN_SMTPSERVER_RECIPIENT_H
#define TERN_SMTPSERVER_RECIPIENT_H

struct arena;
struct config;
struct config_account;
struct config_destination;
struct error;
struct smtp_address;

enum smtp_rcpt_kind {
	SMTP_RCPT_LOCAL,       /* one of our accounts takes it */
	SMTP_RCPT_UNKNOWN,     /* our domain, but no such address: 550 5.1.1 */
	SMTP_RCPT_FOREIGN,     /* not a domain of ours (relay question; caller decides) */
};

struct smtp_rcpt_target {
	enum smtp_rcpt_kind kind;
	const struct config_account *account;       /* LOCAL */
	const struct config_destination *dest;      /* LOCAL; NULL when reached by the postmaster rule without a destination */
	const char *address;   /* canonical address in arena: localpart (folded when the domain is case-insensitive) @ A-label domain */
	const char *domain;    /* A-label, lower case, in arena */
};

/*
 * Resolves addr (as parsed from RCPT TO; "<Postmaster>" is local part
 * "Postmaster" with domain "") against cfg. In order:
 *   - an address-literal domain, or a domain not in Domains: FOREIGN;
 *   - the exact address among all accounts' destinations;
 *   - with the domain's LocalpartCatchallSeparator, the local part cut
 *     before the first occurrence of that whole string ("a+tag" -> "a");
 *   - the domain's catch-all destination "@domain";
 *   - "postmaster" (any case): the first account whose Domain is this
 *     domain, else the first account (dest NULL);
 *   - else UNKNOWN.
 * Local parts compare ignoring ASCII case unless the domain has
 * LocalpartCaseSensitive; bytes of UTF-8 characters always compare exactly.
 * The canonical address keeps the whole local part as given (unquoted when
 * it needs no quotes), folded to lower case when the domain is
 * case-insensitive; for FOREIGN it is not folded.
 *
 * Returns 0 with *t_r filled (strings in a), or -1 with e set to
 * ERR_INVALID when the domain holds UTF-8 that IDNA cannot convert to
 * A-labels.
 */
int smtp_rcpt_resolve(const struct config *cfg, const struct smtp_address *addr, struct arena *a,
                      struct smtp_rcpt_target *t_r, struct error *e);

#endif
