/*
 * aggregate_eval.h: one evaluated message as recorded for outgoing DMARC
 * aggregate reports (RFC 7489 §7.2), and the bridge from src/dmarc's
 * struct dmarc_eval.
 *
 * The SMTP server fills a struct globaldb_dmarc_eval from the struct
 * dmarc_eval of a received message with reports_dmarc_eval_from and hands it
 * to globaldb_dmarc_eval_add (store/globaldb.h).
 */
#ifndef TERN_REPORTS_AGGREGATE_EVAL_H
#define TERN_REPORTS_AGGREGATE_EVAL_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct dmarc_eval;

/* A mailto: destination of rua= (RFC 7489 §6.2): the address, and the
 * !size limit in bytes (0: none). */
struct globaldb_dmarc_rua {
	const char *address;
	uint64_t max_size;
};

/* auth_results/dkim, auth_results/spf and policy_evaluated/reason of
 * Appendix C. Strings as they go into the report; NULL when absent. */
struct globaldb_dmarc_dkim {
	const char *domain, *selector, *result;
};
struct globaldb_dmarc_spf {
	const char *domain, *scope, *result;   /* scope "mfrom", "helo" or NULL */
};
struct globaldb_dmarc_reason {
	const char *type, *comment;
};

struct globaldb_dmarc_eval {
	int64_t evaluated;               /* seconds since the epoch; 0: now */
	/* The policy that applied: where the record was found (Appendix C
	 * policy_published/domain), its tags as report strings. */
	const char *policy_domain;
	const char *p, *sp, *np;         /* "none", "quarantine", "reject"; sp, np may be NULL */
	const char *adkim, *aspf;        /* "r", "s" */
	const char *fo;                  /* "0", "1:d", ...; NULL: absent */
	int pct;                         /* 0..100 */
	uint32_t ri;                     /* seconds; 0: 86400 */
	const struct globaldb_dmarc_rua *rua;   /* mailto destinations */
	size_t nrua;
	/* The message. */
	const char *source_ip;
	const char *header_from;         /* RFC5322.From domain */
	const char *envelope_from;       /* RFC5321.MailFrom domain; may be NULL */
	const char *envelope_to;         /* RFC5321.RcptTo domain (ours); may be NULL */
	const char *disposition;         /* "none", "quarantine", "reject": as applied */
	const char *dkim, *spf;          /* policy_evaluated: "pass" (aligned pass) or "fail" */
	const struct globaldb_dmarc_reason *reasons;
	size_t nreasons;
	const struct globaldb_dmarc_dkim *dkim_results;
	size_t ndkim;
	const struct globaldb_dmarc_spf *spf_results;
	size_t nspf;
};

/* Fills *out from ev (dmarc_check's result) and the message's source IP,
 * MAIL FROM domain and RCPT TO domain (either may be NULL), evaluated at
 * now; strings point into ev or a. The disposition is ev->disposition, the
 * one DMARC asked for; a server that applies another (local policy) sets
 * out->disposition and adds a reason afterwards. pct= sampling adds the
 * reason "sampled_out". Returns 0, or -1 when there is nothing to report:
 * no record was found, or its rua= has no mailto: destination. */
int reports_dmarc_eval_from(const struct dmarc_eval *ev, const char *source_ip,
                            const char *envelope_from, const char *envelope_to, int64_t now,
                            struct arena *a, struct globaldb_dmarc_eval *out);

#endif
