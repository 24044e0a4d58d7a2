/*
 * local.c: delivering the queue's DSNs to the sender's account through the
 * store (no SMTP), with the summary the store keeps for search and IMAP.
 */
#include "queue/internal.h"

#include "config/config.h"
#include "core/arena.h"
#include "message/message.h"
#include "store/store.h"

#include <string.h>

/* Index text kept per DSN (as the SMTP server keeps per message). */
#define DSN_INDEX_TEXT_MAX (256 * 1024)

/* The quota of account in the current configuration, if it has one. */
static void set_quota(struct store_account *st, const char *account)
{
	struct config *cfg = config_acquire();
	const struct config_account *acc = cfg != NULL ? config_find_account(cfg, account) : NULL;
	if (acc != NULL)
		store_set_quota(st, config_account_quota_bytes(acc), (uint64_t)acc->quota_messages);
	config_release(&cfg);
}

int queue_local_deliver(const char *data_dir, const char *account, const char *rcpt_to,
                        const char *msg, size_t len, struct error *e)
{
	struct store_account *st = NULL;
	if (store_open(data_dir, account, &st, e) != 0)
		return -1;
	set_quota(st, account);
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct message *m = message_parse(a, msg, len, NULL);
	struct message_summary sum;
	message_summarize(a, m, true, DSN_INDEX_TEXT_MAX, &sum);
	struct store_delivery d = {.mailbox = "Inbox", .mail_from = "", .rcpt_to = rcpt_to};
	store_delivery_summary(&d, &sum);
	struct store_delivered res;
	int r = store_deliver(st, &d, msg, len, &res, e);
	arena_free(&a);
	store_close(&st);
	return r;
}
