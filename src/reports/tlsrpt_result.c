/*
 * tlsrpt_result.c: recording the TLS result of one outbound delivery
 * attempt (smtpclient.h, struct smtpclient_tls_report) for the daily TLS
 * reports (RFC 8460 §4.3), see tlsrpt_out.h.
 */
#include "reports/tlsrpt_out.h"

#include "smtpclient/smtpclient.h"

#include <string.h>

/* §4.3: policy-type "tlsa" (DANE, RFC 7672), "sts" (MTA-STS, RFC 8461),
 * "no-policy-found". */
static const char *policy_type(enum smtpclient_policy p)
{
	switch (p) {
	case SMTPCLIENT_POLICY_DANE: return "tlsa";
	case SMTPCLIENT_POLICY_MTASTS: return "sts";
	case SMTPCLIENT_POLICY_NONE: break;
	}
	return "no-policy-found";
}

/* Records one session: a success when TLS was established without a
 * failure. */
static int record_session(struct globaldb *db, const char *domain, enum smtpclient_policy policy,
                          bool tls, const char *failure, const char *mx_host, const char *ip,
                          const char *sending_ip, const char *info, const char *strings,
                          int64_t now, struct error *e)
{
	/* §4.3.2.1: a session that stayed in plain text is not a successful TLS
	 * session; the MX did not offer (or refused) STARTTLS */
	if (failure == NULL && !tls)
		failure = "starttls-not-supported";
	struct globaldb_tlsrpt_session s = {
		.policy_domain = domain, .when = now, .policy_type = policy_type(policy),
		.policy_strings = strings[0] != '\0' ? strings : NULL,
		.mx_host = mx_host[0] != '\0' ? mx_host : NULL, .result_type = failure,
		.receiving_ip = ip[0] != '\0' ? ip : NULL,
		/* §4.4: failure details; a successful session has none */
		.sending_mta_ip = failure != NULL && sending_ip[0] != '\0' ? sending_ip : NULL,
		.additional_info = failure != NULL && info[0] != '\0' ? info : NULL};
	return globaldb_tlsrpt_result_add(db, &s, e);
}

int reports_tlsrpt_record_attempt(struct globaldb *db, const char *domain,
                                  const struct smtpclient_tls_report *t, int64_t now,
                                  struct error *e)
{
	/* §4.3: every session of the attempt (earlier MX hosts' too) */
	for (size_t i = 0; i < t->nsessions; i++) {
		const struct smtpclient_tls_session *ts = &t->sessions[i];
		if (record_session(db, domain, ts->policy, ts->tls, ts->failure, ts->mx_host, ts->ip,
		                   ts->sending_ip, ts->additional_info, ts->policy_strings, now,
		                   e) != 0)
			return -1;
	}
	if (t->nsessions > 0)
		return 1;
	/* no session: a failure of the policy itself (§4.3.2.2), if any; with
	 * neither, no session reached the TLS step: nothing to say */
	if (t->mx_host[0] == '\0' && t->failure == NULL)
		return 0;
	if (record_session(db, domain, t->policy, t->tls, t->failure, t->mx_host, t->ip,
	                   t->sending_ip, t->additional_info, "", now, e) != 0)
		return -1;
	return 1;
}
