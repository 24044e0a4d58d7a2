/*
 * count.c: counts the IMAP server asks for beyond a mailbox's kept totals:
 * messages with \Deleted (RFC 9051 §6.3.11 STATUS DELETED), and the quota
 * limits set from configuration (RFC 9208 GETQUOTA answers them).
 */
#include "store/internal.h"

int store_mailbox_count_deleted(struct store_account *a, int64_t mailbox_id, uint64_t *n_r,
                                struct error *err)
{
	int64_t n = 0;
	store_lock(a);
	int r = db_get(a, err, &n, "SELECT count(*) FROM message WHERE mailbox_id = ? AND"
	               " (flags & 8) != 0", 1, mailbox_id);
	store_unlock(a);
	if (r < 0)
		return -1;
	*n_r = (uint64_t)n;
	return 0;
}

void store_get_quota(struct store_account *a, uint64_t *max_bytes_r, uint64_t *max_messages_r)
{
	store_lock(a);
	*max_bytes_r = a->quota_bytes;
	*max_messages_r = a->quota_messages;
	store_unlock(a);
}
