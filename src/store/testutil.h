/*
 * testutil.h: fixtures shared by the store's unit tests: a fresh data
 * directory per test and one-line deliveries. Test code only.
 */
#ifndef TERN_STORE_TESTUTIL_H
#define TERN_STORE_TESTUTIL_H

#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct store_account *acct;
};

static inline struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		abort();
	snprintf(f->dir, sizeof(f->dir), "/tmp/ternstoreXXXXXX");
	if (mkdtemp(f->dir) == NULL)
		abort();
	struct error err;
	if (store_open(f->dir, "alice", &f->acct, &err) != 0) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		abort();
	}
	return f;
}

/* Closes and reopens the account, as a restart does. */
static inline void fixture_reopen(struct fixture *f)
{
	struct error err;
	store_close(&f->acct);
	if (store_open(f->dir, "alice", &f->acct, &err) != 0)
		abort();
}

static inline void fixture_free(struct fixture *f)
{
	char cmd[128];
	store_close(&f->acct);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		abort();
	free(f);
}

/* Delivers text to mailbox with flags; returns the UID (aborts on failure). */
static inline uint32_t put(struct store_account *a, const char *mailbox, const char *text,
                           unsigned flags)
{
	struct store_delivery d = {.mailbox = mailbox, .flags = flags, .subject = text};
	struct store_delivered res;
	struct error err;
	if (store_deliver(a, &d, text, strlen(text), &res, &err) != 0) {
		fprintf(stderr, "deliver: %s\n", err.msg);
		abort();
	}
	return res.uid;
}

static inline int64_t mbox_id(struct store_account *a, const char *name)
{
	struct store_mailbox mb;
	struct error err;
	if (store_mailbox_status(a, name, NULL, &mb, &err) != 0)
		return -1;
	return mb.id;
}

static inline struct store_mailbox mbox_status(struct store_account *a, const char *name)
{
	struct store_mailbox mb;
	struct error err;
	memset(&mb, 0, sizeof(mb));
	if (store_mailbox_status(a, name, NULL, &mb, &err) != 0)
		mb.id = -1;
	return mb;
}

#endif
