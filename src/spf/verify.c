/*
 * verify.c: which identities of an SMTP session SPF checks, RFC 7208 §2.3
 * (HELO) and §2.4 (MAIL FROM).
 *
 * §2.3: the HELO check "can only be performed when the "HELO" string is a
 * valid, multi-label domain name". §2.4: "When the reverse-path is null,
 * this document defines the "MAIL FROM" identity to be the mailbox composed
 * of the local-part "postmaster" and the "HELO" identity", which is exactly
 * what the HELO check evaluates, so the result is shared.
 */
#include "spf/internal.h"

#include "core/arena.h"

#include <string.h>

static void helo_check(struct dns_resolver *res, const struct spf_request *rq, struct arena *a,
                       struct spf_outcome *out)
{
	struct spf_request hr = *rq;
	hr.mail_from = NULL;   /* sender is postmaster@HELO */
	if (rq->helo == NULL || !spf_domain_valid(rq->helo)) {
		memset(out, 0, sizeof(*out));
		out->result = SPF_NONE;
		out->domain = arena_strdup(a, rq->helo != NULL ? rq->helo : "");
		out->problem = "HELO is not a multi-label domain name (RFC 7208 §2.3)";
		return;
	}
	spf_check_host(res, &hr, rq->helo, a, out);
}

void spf_verify(struct dns_resolver *res, const struct spf_request *rq, struct arena *a,
                struct spf_outcome *mailfrom_r, struct spf_outcome *helo_r)
{
	bool null_path = rq->mail_from == NULL || rq->mail_from[0] == '\0';
	struct spf_outcome helo;

	if (helo_r != NULL || (mailfrom_r != NULL && null_path))
		helo_check(res, rq, a, &helo);
	if (helo_r != NULL)
		*helo_r = helo;
	if (mailfrom_r == NULL)
		return;
	if (null_path) {
		*mailfrom_r = helo;
		return;
	}
	const char *at = strrchr(rq->mail_from, '@');
	spf_check_host(res, rq, at != NULL ? at + 1 : rq->mail_from, a, mailfrom_r);
}
