/*
 * authcheck.c: see authcheck.h. Each method adds its resinfo (RFC 8601
 * §2.7) to the list in the order a reader wants them: iprev, then the
 * sender's SPF, DKIM and DMARC as they are added.
 */
#include "smtpserver/authcheck.h"

#include "core/arena.h"
#include "core/buf.h"

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

void authcheck_run(struct dns_resolver *res, const struct smtpserver_txn *t,
                   const struct message *m, struct smtpserver_spool *msg, struct arena *a,
                   struct authcheck *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = AUTHCHECK_ACCEPT;
	if (res == NULL)
		return;
	check_iprev(res, t, a, out);
}

int authcheck_header(struct buf *added, const char *authserv_id, const struct authcheck *out)
{
	return authres_format(added, authserv_id, out->methods, out->n);
}
