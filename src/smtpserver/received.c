/*
 * received.c: the trace header a server adds (RFC 5321 §4.4):
 *
 *   Received: from EHLO ([IP])
 *   	by HOSTNAME (tern) with PROTOCOL id ID
 *   	for <RCPT> tls CIPHER;
 *   	DATE
 *
 * PROTOCOL is the RFC 3848 / RFC 6531 §3.7.3 keyword; "for" names the
 * recipient only when there is one (RFC 5321 §7.2: no recipient lists in
 * trace headers); the "tls" clause is RFC 8314 §7.4's. The client's IP is an
 * address-literal (RFC 5321 §4.1.3); reverse DNS is not looked up here.
 */
#include "smtpserver/internal.h"

#include "core/buf.h"
#include "message/message.h"

#include <string.h>

const char *received_protocol(const struct smtpserver_txn *t)
{
	if (!t->esmtp)
		return "SMTP";
	static const char *const esmtp[2][2] = {{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}};
	static const char *const utf8[2][2] = {{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}};
	bool s = t->tls != NULL, a = t->user != NULL;
	return t->mail.smtputf8 ? utf8[s][a] : esmtp[s][a];
}

static void ip_literal(struct buf *out, const char *ip)
{
	if (strchr(ip, ':') != NULL)
		buf_appendf(out, "[IPv6:%s]", ip);  /* RFC 5321 §4.1.3 */
	else
		buf_appendf(out, "[%s]", ip);
}

int received_header(struct buf *out, const struct smtpserver_txn *t, const char *id, time_t now)
{
	char date[MESSAGE_DATE_MAX];
	buf_appendf(out, "Received: from %s (", t->ehlo != NULL ? t->ehlo : "unknown");
	ip_literal(out, t->remote_ip[0] != '\0' ? t->remote_ip : "127.0.0.1");
	buf_appendf(out, ")\r\n\tby %s (tern) with %s id %s", t->hostname, received_protocol(t), id);
	const char *tls = t->tls != NULL ? strchr(t->tls, ' ') : NULL;
	if (t->nrcpts == 1 || tls != NULL)
		buf_append_str(out, "\r\n\t");
	if (t->nrcpts == 1) {
		const struct smtp_address *a = &t->rcpts[0].path.addr;
		buf_appendf(out, "for <%s%s%s>", a->local_raw, a->domain[0] != '\0' ? "@" : "", a->domain);
	}
	if (tls != NULL)
		buf_appendf(out, "%stls %s", t->nrcpts == 1 ? " " : "", tls + 1);
	return buf_appendf(out, ";\r\n\t%s\r\n", message_date_format(now, date));
}
