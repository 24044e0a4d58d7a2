/*
 * rules.c: choosing the mailbox of a delivery by a destination's rulesets
 * (domains.conf Accounts.NAME.Destinations.ADDRESS.Rulesets).
 *
 * Regular expressions are POSIX extended, matched ignoring case; they were
 * checked when the configuration loaded. They are compiled per evaluation:
 * a delivery evaluates a handful, and the snapshot then needs no compiled
 * state to free.
 */
#include "config/config.h"

#include <regex.h>
#include <stdbool.h>
#include <strings.h>

static bool matches(const char *regexp, const char *value)
{
	regex_t re;
	if (regcomp(&re, regexp, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
		return false;  /* cannot happen: checked at load */
	bool m = regexec(&re, value, 0, NULL, 0) == 0;
	regfree(&re);
	return m;
}

/* Whether some header named name has a value matching regexp. */
static bool header_matches(const struct config_header_regexp *h, size_t n,
                           const char *const *names, const char *const *values)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(names[i], h->header) == 0 && matches(h->regexp, values[i]))
			return true;
	return false;
}

static bool ruleset_matches(const struct config_ruleset *rs, const char *mail_from, size_t n,
                            const char *const *names, const char *const *values)
{
	if (rs->smtp_mail_from_regexp != NULL &&
	    (mail_from == NULL || !matches(rs->smtp_mail_from_regexp, mail_from)))
		return false;
	for (size_t i = 0; i < rs->nheaders; i++)
		if (!header_matches(&rs->headers[i], n, names, values))
			return false;
	return true;
}

const char *config_destination_mailbox(const struct config_destination *dest,
                                       const char *mail_from, size_t n,
                                       const char *const *names, const char *const *values)
{
	for (size_t i = 0; i < dest->nrulesets; i++)
		if (ruleset_matches(&dest->rulesets[i], mail_from, n, names, values))
			return dest->rulesets[i].mailbox;
	return dest->mailbox != NULL ? dest->mailbox : "Inbox";
}
