/*
 * quota.c: the QUOTA extension (RFC 9208): GETQUOTAROOT, GETQUOTA and
 * SETQUOTA. An account has one quota root, "", covering every mailbox; its
 * limits come from the configuration (store_set_quota) and are shown for
 * the resources that have one: STORAGE in units of 1024 octets (§5.1) and
 * MESSAGE (§5.2). Clients cannot change them (§4.1.3 lets SETQUOTA fail).
 */
#include "imapserver/internal.h"

#include "core/arena.h"

/* Appends the QUOTA response of the root (RFC 9208 §7.1), or nothing when
 * no limit is set. Returns whether there was one, -1 on a store error. */
static int append_quota(struct imapsrv_session *s, struct buf *b, struct error *e)
{
	uint64_t max_bytes, max_msgs;
	store_get_quota(s->acct, &max_bytes, &max_msgs);
	if (max_bytes == 0 && max_msgs == 0)
		return 0;
	struct store_usage u;
	if (store_usage(s->acct, &u, e) != 0)
		return -1;
	buf_append_str(b, "* QUOTA \"\" (");
	if (max_bytes != 0)
		buf_appendf(b, "STORAGE %llu %llu", (unsigned long long)(u.bytes / 1024),
		            (unsigned long long)(max_bytes / 1024));
	if (max_msgs != 0)
		buf_appendf(b, "%sMESSAGE %llu %llu", max_bytes != 0 ? " " : "",
		            (unsigned long long)u.messages, (unsigned long long)max_msgs);
	buf_append_str(b, ")\r\n");
	return 1;
}

int imapsrv_cmd_getquotaroot(struct imapsrv_session *s, const struct imap_command *cmd,
                             struct imapsrv_result *r)
{
	struct store_mailbox mb;
	struct error e;
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "NONEXISTENT", r))
		return 0;
	if (store_mailbox_status(s->acct, cmd->mailbox, s->cmd_arena, &mb, &e) != 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	struct buf *b = &s->wbuf;
	buf_reset(b);
	buf_append_str(b, "* QUOTAROOT ");
	imap_write_mailbox(b, imapsrv_mailbox_shown(s->cmd_arena, mb.name), s->out.imap_flags);
	size_t root_at = b->len;
	buf_append_str(b, " \"\"\r\n");
	int q = append_quota(s, b, &e);
	if (q < 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (q == 0) {
		/* RFC 9208 §4.3: a mailbox without a quota root lists none. */
		buf_truncate(b, root_at);
		buf_append_str(b, "\r\n");
	}
	if (imapsrv_send(s, b) != 0)
		return -1;
	imapsrv_result_set(r, "OK", NULL, "GETQUOTAROOT completed");
	return 0;
}

int imapsrv_cmd_getquota(struct imapsrv_session *s, const struct imap_command *cmd,
                         struct imapsrv_result *r)
{
	struct buf *b = &s->wbuf;
	struct error e;
	buf_reset(b);
	int q = cmd->name[0] == '\0' ? append_quota(s, b, &e) : 0;
	if (q < 0) {
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	if (q == 0) {
		/* RFC 9208 §4.2: a root that does not exist is refused. */
		imapsrv_result_set(r, "NO", "NONEXISTENT", "No such quota root");
		return 0;
	}
	if (imapsrv_send(s, b) != 0)
		return -1;
	imapsrv_result_set(r, "OK", NULL, "GETQUOTA completed");
	return 0;
}

int imapsrv_cmd_setquota(struct imapsrv_session *s, const struct imap_command *cmd,
                         struct imapsrv_result *r)
{
	(void)s;
	(void)cmd;
	/* RFC 9208 §4.1.3: a server may refuse; the limits are the
	 * configuration's (QuotaMB), not the client's. */
	imapsrv_result_set(r, "NO", "NOPERM", "Quota limits are set in the configuration");
	return 0;
}
