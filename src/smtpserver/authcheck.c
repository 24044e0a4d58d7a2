/*
 * authcheck.c: see authcheck.h. Each method adds its resinfo (RFC 8601
 * §2.7) to the list in the order a reader wants them: iprev, then the
 * sender's SPF, DKIM and DMARC as they are added.
 */
#include "smtpserver/authcheck.h"

#include "core/arena.h"
#include "core/buf.h"
#include "arc/arc.h"
#include "dkim/dkim.h"
#include "dmarc/dmarc.h"
#include "message/message.h"
#include "spf/spf.h"

#include <string.h>
#include <time.h>

static struct authres_method *add_method(struct authcheck *out, const char *method,
                                         const char *result)
{
	if (out->n == AUTHCHECK_METHODS_MAX)
		return NULL;
	struct authres_method *m = &out->methods[out->n++];
	memset(m, 0, sizeof(*m));
	m->method = method;
	m->result = result;
	return m;
}

/* RFC 8601 §3: iprev, with the address as policy.iprev (§2.7.3). */
static void check_iprev(struct dns_resolver *res, const struct smtpserver_txn *t, struct arena *a,
                        struct authcheck *out)
{
	struct iprev_outcome io;
	iprev_check(res, t->remote_ip, a, &io);
	struct authres_method *m = add_method(out, "iprev", iprev_result_name(io.result));
	if (m == NULL)
		return;
	const char **props = arena_alloc(a, sizeof(char *));
	props[0] = arena_printf(a, "policy.iprev=%s", t->remote_ip);
	m->props = props;
	m->nprops = 1;
	m->comment = io.host;
	if (io.result != IPREV_PASS)
		m->reason = io.reason;
}

/* RFC 7208: SPF of the MAIL FROM identity, or of the HELO name for the
 * null path (§2.4), with its Received-SPF field (§9.1). */
static void check_spf(struct dns_resolver *res, const struct smtpserver_txn *t, struct arena *a,
                      struct authcheck *out, struct spf_outcome *o_r)
{
	const struct smtp_address *f = &t->mail_from.addr;
	struct spf_request rq = {
		.ip = t->remote_ip,
		.helo = t->ehlo,
		.mail_from = t->mail_from.null ? NULL : arena_printf(a, "%s@%s", f->local, f->domain),
		.receiver = t->hostname,
	};
	struct spf_outcome o;
	spf_verify(res, &rq, a, &o, NULL);
	*o_r = o;
	out->spf = spf_result_name(o.result);
	struct authres_method *m = add_method(out, "spf", out->spf);
	if (m == NULL)
		return;
	const char **props = arena_alloc(a, sizeof(char *));
	props[0] = rq.mail_from != NULL ? arena_printf(a, "smtp.mailfrom=%s", rq.mail_from)
	                                : arena_printf(a, "smtp.helo=%s", t->ehlo != NULL ? t->ehlo : "");
	m->props = props;
	m->nprops = 1;
	if (o.result == SPF_TEMPERROR || o.result == SPF_PERMERROR)
		m->reason = o.problem;
	struct buf h;
	buf_init(&h, 4096);
	if (spf_received_header(&h, &rq, &o, SPF_ID_MAILFROM) == 0)
		out->received_spf = arena_strdup(a, h.data);
	buf_free(&h);
}

static enum dmarc_auth dmarc_auth_of_dkim(enum dkim_status s)
{
	switch (s) {
	case DKIM_PASS: return DMARC_AUTH_PASS;
	case DKIM_FAIL: return DMARC_AUTH_FAIL;
	case DKIM_NEUTRAL: return DMARC_AUTH_NEUTRAL;
	case DKIM_TEMPERROR: return DMARC_AUTH_TEMPERROR;
	case DKIM_POLICY: return DMARC_AUTH_POLICY;
	case DKIM_PERMERROR: break;
	}
	return DMARC_AUTH_PERMERROR;
}

/* RFC 6376: every DKIM-Signature (up to DKIM_MAX_SIGNATURES) verified; one
 * dkim resinfo each (RFC 8601 §2.7.1), "dkim=none" when there is none. The
 * results go to DMARC in dk_r. */
static size_t check_dkim(struct dns_resolver *res, const char *data, size_t len, struct arena *a,
                         struct authcheck *out, struct dmarc_dkim_input *dk_r)
{
	struct dkim_verification v = {0};
	if (data != NULL && len > 0) {
		struct dkim_verify_opts o = {.lookup = dkim_dns_lookup, .lookup_ctx = res};
		dkim_verify(a, data, len, &o, &v);
	}
	if (v.n == 0) {
		add_method(out, "dkim", "none");
		out->dkim = "none";
		return 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < v.n && n < DMARC_DKIM_MAX; i++) {
		const struct dkim_result *r = &v.results[i];
		struct authres_method *m = add_method(out, "dkim", dkim_status_name(r->status));
		if (m == NULL)
			break;
		const char **props = arena_alloc(a, 4 * sizeof(char *));
		size_t np = 0;
		if (r->domain != NULL)
			props[np++] = arena_printf(a, "header.d=%s", r->domain);
		if (r->selector != NULL)
			props[np++] = arena_printf(a, "header.s=%s", r->selector);
		if (r->algorithm != NULL)
			props[np++] = arena_printf(a, "header.a=%s", r->algorithm);
		if (r->b_prefix != NULL)
			props[np++] = arena_printf(a, "header.b=%s", r->b_prefix);  /* RFC 6008 */
		m->props = props;
		m->nprops = np;
		if (r->status != DKIM_PASS)
			m->reason = r->reason;
		else if (r->body_length_limited)
			m->comment = "l= leaves part of the body unsigned";  /* RFC 6376 §8.2 */
		if (out->dkim == NULL || r->status == DKIM_PASS)
			out->dkim = dkim_status_name(r->status);
		if (r->domain != NULL)
			dk_r[n++] = (struct dmarc_dkim_input){r->domain, r->selector,
			                                      dmarc_auth_of_dkim(r->status)};
	}
	return n;
}

/* RFC 8617 §5.2: the ARC chain, recorded as the arc method with
 * header.oldest-pass and smtp.remote-ip (§10.1); the result is kept for the
 * junk filter's trusted forwarders. */
static void check_arc(struct dns_resolver *res, const struct smtpserver_txn *t, const char *data,
                      size_t len, struct arena *a, struct authcheck *out)
{
	out->arc = arena_alloc(a, sizeof(*out->arc));
	memset(out->arc, 0, sizeof(*out->arc));
	if (data == NULL)
		return;
	struct arc_verify_opts o = {.lookup = dkim_dns_lookup, .lookup_ctx = res};
	arc_verify(a, data, len, &o, out->arc);
	struct authres_method *m = add_method(out, "arc", arc_status_name(out->arc->status));
	if (m == NULL || out->arc->status == ARC_NONE)
		return;
	const char **props = arena_alloc(a, 2 * sizeof(char *));
	size_t n = 0;
	if (out->arc->status == ARC_PASS)
		props[n++] = arena_printf(a, "header.oldest-pass=%u", out->arc->oldest_pass);
	props[n++] = arena_printf(a, "smtp.remote-ip=%s", t->remote_ip);
	m->props = props;
	m->nprops = n;
	m->comment = arena_printf(a, "i=%u", out->arc->n);
	if (out->arc->status == ARC_FAIL)
		m->reason = out->arc->reason;
}

/* The RFC5322.From domain DMARC is about, or NULL when the message has none
 * or several From addresses (RFC 7489 §6.6.1: it cannot be evaluated). */
static const char *from_domain(const struct message *m, struct arena *a)
{
	const struct message_header *f = message_header_find(&m->root->headers, "From", NULL);
	if (f == NULL || message_header_find(&m->root->headers, "From", f) != NULL)
		return NULL;
	size_t n;
	char *v = message_header_unfold(a, f->value, f->value_len, &n);
	struct message_address_list list;
	message_address_parse(a, v, n, MESSAGE_ADDRESS_IDNA_ASCII, &list);
	const char *domain = NULL;
	for (size_t i = 0; i < list.count; i++) {
		const struct message_address *ad = &list.items[i];
		if (ad->kind != MESSAGE_ADDRESS_MAILBOX || ad->domain == NULL)
			continue;
		if (domain != NULL)
			return NULL;
		domain = ad->domain;
	}
	return domain;
}

static enum dmarc_auth dmarc_auth_of_spf(enum spf_result r)
{
	switch (r) {
	case SPF_PASS: return DMARC_AUTH_PASS;
	case SPF_FAIL: return DMARC_AUTH_FAIL;
	case SPF_SOFTFAIL: return DMARC_AUTH_SOFTFAIL;
	case SPF_NEUTRAL: return DMARC_AUTH_NEUTRAL;
	case SPF_TEMPERROR: return DMARC_AUTH_TEMPERROR;
	case SPF_PERMERROR: return DMARC_AUTH_PERMERROR;
	case SPF_NONE: break;
	}
	return DMARC_AUTH_NONE;
}

/* The verdict of a failed DMARC check (RFC 7489 §6.6.4, §10.3): reject is
 * a 550 5.7.1 before the message is stored, quarantine the Junk mailbox. */
static void apply_disposition(const struct dmarc_eval *ev, struct authcheck *out)
{
	if (ev->result != DMARC_RESULT_FAIL)
		return;
	if (ev->disposition == DMARC_POLICY_REJECT) {
		out->verdict = AUTHCHECK_REJECT;
		smtpserver_reply_set(&out->reply, 550, "5.7.1", "DMARC policy of %s says reject: %s",
		                     ev->from_domain, ev->reason != NULL ? ev->reason : "not aligned");
	} else if (ev->disposition == DMARC_POLICY_QUARANTINE) {
		out->verdict = AUTHCHECK_JUNK;
	}
}

/* RFC 7489 §6.6: DMARC of the From domain from the SPF and DKIM results. */
static void check_dmarc(struct dns_resolver *res, const struct smtpserver_txn *t,
                        const struct message *m, const struct spf_outcome *spf,
                        const struct dmarc_dkim_input *dk, size_t ndk, struct arena *a,
                        struct authcheck *out)
{
	const char *from = from_domain(m, a);
	if (from == NULL) {
		struct authres_method *am = add_method(out, "dmarc", "permerror");
		if (am != NULL)
			am->reason = "no single From address";
		out->dmarc = "permerror";
		return;
	}
	struct dmarc_input in = {
		.from_domain = from,
		.spf = dmarc_auth_of_spf(spf->result),
		.spf_domain = spf->domain,
		.spf_scope = t->mail_from.null ? DMARC_SPF_HELO : DMARC_SPF_MFROM,
		.dkim = dk,
		.ndkim = ndk,
	};
	struct dmarc_options o = {0};
	struct dmarc_dns dns = dmarc_dns_resolver(res);
	dmarc_check(&o, &dns, &in, a, &out->dmarc_eval);
	const struct dmarc_eval *ev = &out->dmarc_eval;
	out->dmarc = dmarc_result_name(ev->result);
	out->have_dmarc = true;
	struct authres_method *am = add_method(out, "dmarc", out->dmarc);
	if (am != NULL) {
		const char **props = arena_alloc(a, sizeof(char *));
		props[0] = arena_printf(a, "header.from=%s", from);
		am->props = props;
		am->nprops = 1;
		if (ev->policy_tag != NULL)  /* RFC 7489 §11.2 style comment */
			am->comment = arena_printf(a, "p=%s dis=%s", dmarc_policy_name(ev->policy),
			                           dmarc_policy_name(ev->disposition));
	}
	apply_disposition(ev, out);
	const char *to = t->nrcpts > 0 ? t->rcpts[0].path.addr.domain : NULL;
	out->have_report_eval = reports_dmarc_eval_from(ev, t->remote_ip, spf->domain, to, time(NULL),
	                                                a, &out->report_eval) == 0;
}

void authcheck_run(struct dns_resolver *res, const struct smtpserver_txn *t,
                   const struct message *m, struct smtpserver_spool *msg, struct arena *a,
                   struct authcheck *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = AUTHCHECK_ACCEPT;
	if (res == NULL)
		return;
	check_iprev(res, t, a, out);
	struct spf_outcome spf;
	check_spf(res, t, a, out, &spf);
	size_t len;
	struct error e;
	const char *data = smtpserver_spool_load(msg, &len, &e);
	if (data == NULL) {
		/* DKIM and DMARC cannot be decided now: the sender tries again
		 * rather than have a policy applied on half the facts */
		out->verdict = AUTHCHECK_REJECT;
		smtpserver_reply_set(&out->reply, 451, "4.3.0", "Cannot check the message now, try again "
		                     "later (%s)", e.msg);
		return;
	}
	struct dmarc_dkim_input dk[DMARC_DKIM_MAX];
	size_t ndk = check_dkim(res, data, len, a, out, dk);
	check_arc(res, t, data, len, a, out);
	check_dmarc(res, t, m, &spf, dk, ndk, a, out);
}

int authcheck_header(struct buf *added, const char *authserv_id, const struct authcheck *out)
{
	if (out->received_spf != NULL)
		buf_append_str(added, out->received_spf);
	return authres_format(added, authserv_id, out->methods, out->n);
}
