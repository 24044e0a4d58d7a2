/*
 * authcheck.c: see authcheck.h. Each method adds its resinfo (RFC 8601
 * §2.7) to the list in the order a reader wants them: iprev, then the
 * sender's SPF, DKIM and DMARC as they are added.
 */
#include "smtpserver/authcheck.h"

#include "core/arena.h"
#include "core/buf.h"
#include "spf/spf.h"

#include <string.h>

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
                      struct authcheck *out)
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

void authcheck_run(struct dns_resolver *res, const struct smtpserver_txn *t,
                   const struct message *m, struct smtpserver_spool *msg, struct arena *a,
                   struct authcheck *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = AUTHCHECK_ACCEPT;
	if (res == NULL)
		return;
	check_iprev(res, t, a, out);
	check_spf(res, t, a, out);
}

int authcheck_header(struct buf *added, const char *authserv_id, const struct authcheck *out)
{
	if (out->received_spf != NULL)
		buf_append_str(added, out->received_spf);
	return authres_format(added, authserv_id, out->methods, out->n);
}
