/*
 * notify.c: change notification within the process. Each account object
 * (one per account, see account.c) keeps its subscribers; a change bumps the
 * account's change counter, notes the mailbox in every subscriber and makes
 * each subscriber's eventfd readable, for poll() in IMAP IDLE (RFC 2177) or a
 * webmail event stream. Subscribers then re-query what they show (by modseq,
 * RFC 7162 CHANGEDSINCE). Changes from other processes are not seen here: the
 * CLI sends them through the server's control socket.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct store_sub {
	struct store_sub *next;
	struct store_account *acct;
	int fd;
	struct store_changes pending;   /* seq unused here */
};

int store_sub_new(struct store_account *a, struct store_sub **sub_r, struct error *err)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "eventfd");
	struct store_sub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->acct = a;
	s->fd = fd;
	pthread_mutex_lock(&a->notify_lock);
	s->next = a->subs;
	a->subs = s;
	pthread_mutex_unlock(&a->notify_lock);
	*sub_r = s;
	return 0;
}

int store_sub_fd(const struct store_sub *sub)
{
	return sub->fd;
}

static void note(struct store_changes *c, int64_t mailbox_id)
{
	if (mailbox_id == 0) {
		c->mailboxes_changed = true;
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (c->mailbox_ids[i] == mailbox_id)
			return;
	}
	if (c->n == STORE_CHANGES_MAX)
		c->all = true;
	else
		c->mailbox_ids[c->n++] = mailbox_id;
}

void notify_change(struct store_account *a, int64_t mailbox_id)
{
	uint64_t one = 1;
	pthread_mutex_lock(&a->notify_lock);
	a->change_seq++;
	for (struct store_sub *s = a->subs; s != NULL; s = s->next) {
		note(&s->pending, mailbox_id);
		/* Cannot fail usefully: a full counter is still readable. */
		ssize_t w = write(s->fd, &one, sizeof(one));
		(void)w;
	}
	pthread_mutex_unlock(&a->notify_lock);
}

void store_notify_outside_change(struct store_account *a)
{
	uint64_t one = 1;
	pthread_mutex_lock(&a->notify_lock);
	a->change_seq++;
	for (struct store_sub *s = a->subs; s != NULL; s = s->next) {
		s->pending.all = true;
		s->pending.mailboxes_changed = true;
		ssize_t w = write(s->fd, &one, sizeof(one));
		(void)w;
	}
	pthread_mutex_unlock(&a->notify_lock);
}

void store_sub_read(struct store_sub *sub, struct store_changes *ch)
{
	struct store_account *a = sub->acct;
	uint64_t v;
	pthread_mutex_lock(&a->notify_lock);
	ssize_t r = read(sub->fd, &v, sizeof(v));  /* drains: eventfd resets to 0 */
	(void)r;
	*ch = sub->pending;
	ch->seq = a->change_seq;
	memset(&sub->pending, 0, sizeof(sub->pending));
	pthread_mutex_unlock(&a->notify_lock);
}

void store_sub_free(struct store_sub **subp)
{
	struct store_sub *sub = *subp;
	if (sub == NULL)
		return;
	*subp = NULL;
	struct store_account *a = sub->acct;
	pthread_mutex_lock(&a->notify_lock);
	struct store_sub **pp = &a->subs;
	while (*pp != sub)
		pp = &(*pp)->next;
	*pp = sub->next;
	pthread_mutex_unlock(&a->notify_lock);
	close(sub->fd);
	free(sub);
}
