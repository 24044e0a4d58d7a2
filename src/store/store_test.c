/* store_test.c: accounts, schema, mailboxes, UIDs, quotas, notifier, verify. */
#include "store/internal.h"
#include "store/store.h"
#include "store/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

static int setup(void **state)
{
	*state = fixture_new();
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

static void test_open_defaults(void **state)
{
	struct fixture *f = *state;
	struct arena *ar = arena_new(4096, ARENA_PLAIN);
	struct store_mailbox *list;
	size_t n;
	struct error err;
	assert_int_equal(store_mailbox_list(f->acct, ar, &list, &n, &err), 0);
	assert_int_equal(n, 6);
	const char *names[] = {"Archive", "Drafts", "Inbox", "Junk", "Sent", "Trash"};
	unsigned special[] = {STORE_SPECIAL_ARCHIVE, STORE_SPECIAL_DRAFTS, 0, STORE_SPECIAL_JUNK,
	                      STORE_SPECIAL_SENT, STORE_SPECIAL_TRASH};
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(list[i].name, names[i]);
		assert_int_equal(list[i].special_use, special[i]);
		assert_true(list[i].subscribed);
		assert_false(list[i].noselect);
		assert_int_equal(list[i].uidnext, 1);
		assert_true(list[i].uidvalidity > 0);
		/* RFC 9051 §2.3.1.1: UIDVALIDITY differs between mailboxes here */
		if (i > 0)
			assert_int_not_equal(list[i].uidvalidity, list[i - 1].uidvalidity);
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/accounts/alice/msg", f->dir);
	assert_true(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", f->dir);
	assert_true(access(path, F_OK) == 0);
	arena_free(&ar);
}

static void test_open_shared_and_names(void **state)
{
	struct fixture *f = *state;
	struct store_account *b;
	struct error err;
	assert_int_equal(store_open(f->dir, "alice", &b, &err), 0);
	assert_ptr_equal(b, f->acct);  /* one object per account in the process */
	store_close(&b);
	char other[96];
	snprintf(other, sizeof(other), "%s/./", f->dir);
	assert_int_equal(store_open(other, "alice", &b, &err), 0);
	assert_ptr_equal(b, f->acct);
	store_close(&b);
	assert_null(b);
	const char *bad[] = {"", ".", "..", "a/b", "a\nb"};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(store_open(f->dir, bad[i], &b, &err), -1);
		assert_int_equal(err.kind, ERR_INVALID);
	}
}

static void set_schema_version(const char *dir, int v)
{
	char path[128], sql[64];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", v);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void sql(const char *dir, const char *text)
{
	char path[128];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_verify_counts(void **state)
{
	struct fixture *f = *state;
	struct error err;
	put(f->acct, "Inbox", "one", 0);
	put(f->acct, "Inbox", "two", STORE_FLAG_SEEN);
	store_close(&f->acct);
	sql(f->dir, "UPDATE mailbox SET messages = 7, uidnext = 2 WHERE name = 'Inbox'");
	assert_int_equal(store_open(f->dir, "alice", &f->acct, &err), 0);
	struct store_verify_report rep;
	struct store_verify_opts check = {0}, fix = {.fix = true};
	assert_int_equal(store_verify(f->acct, &check, &rep, &err), 0);
	assert_false(store_verify_ok(&rep));
	assert_int_equal(rep.bad_counts, 1);
	assert_non_null(strstr(rep.text.data, "mailbox Inbox"));
	store_verify_report_free(&rep);
	assert_int_equal(store_verify(f->acct, &fix, &rep, &err), 0);
	assert_int_equal(rep.fixed_counts, 1);
	assert_true(store_verify_ok(&rep));
	store_verify_report_free(&rep);
	struct store_mailbox mb = mbox_status(f->acct, "Inbox");
	assert_int_equal(mb.messages, 2);
	assert_int_equal(mb.unseen, 1);
	assert_int_equal(mb.uidnext, 3);
	assert_int_equal(put(f->acct, "Inbox", "three", 0), 3);
	/* a message row whose content row is gone */
	store_close(&f->acct);
	sql(f->dir, "PRAGMA foreign_keys = OFF; DELETE FROM content WHERE id ="
	    " (SELECT content_id FROM message WHERE uid = 1)");
	assert_int_equal(store_open(f->dir, "alice", &f->acct, &err), 0);
	assert_int_equal(store_verify(f->acct, &check, &rep, &err), 0);
	assert_false(rep.db_ok);
	assert_non_null(strstr(rep.text.data, "refers to a missing row in content"));
	store_verify_report_free(&rep);
}

static void test_schema_version(void **state)
{
	struct fixture *f = *state;
	struct error err;
	uint32_t uv = mbox_status(f->acct, "Inbox").uidvalidity;
	store_close(&f->acct);
	set_schema_version(f->dir, 99);
	assert_int_equal(store_open(f->dir, "alice", &f->acct, &err), -1);
	assert_non_null(strstr(err.msg, "newer than this tern"));
	set_schema_version(f->dir, 1);
	assert_int_equal(store_open(f->dir, "alice", &f->acct, &err), 0);
	assert_int_equal(mbox_status(f->acct, "INBOX").uidvalidity, uv);
}

static void test_mailbox_names(void **state)
{
	struct error err;
	struct buf b;
	buf_init(&b, STORE_MAILBOX_NAME_MAX);
	assert_int_equal(store_mailbox_name_canon("inBOX/x", &b, &err), 0);
	assert_string_equal(b.data, "Inbox/x");
	assert_int_equal(store_mailbox_name_canon("Inboxes", &b, &err), 0);
	assert_string_equal(b.data, "Inboxes");
	assert_int_equal(store_mailbox_name_canon("Entw\xc3\xbcrfe/\xe2\x82\xac", &b, &err), 0);
	const char *bad[] = {"", "/a", "a/", "a//b", "a*", "b%", "tab\there", "\xc3", "\xc0\xaf",
	                     "\xed\xa0\x80", "\xff"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_mailbox_name_canon(bad[i], &b, &err), -1);
		assert_int_equal(err.kind, ERR_INVALID);
	}
	char *longname = malloc(STORE_MAILBOX_NAME_MAX + 2);
	memset(longname, 'x', STORE_MAILBOX_NAME_MAX + 1);
	longname[STORE_MAILBOX_NAME_MAX] = '\0';
	assert_int_equal(store_mailbox_name_canon(longname, &b, &err), 0);  /* at the limit */
	longname[STORE_MAILBOX_NAME_MAX] = 'x';
	longname[STORE_MAILBOX_NAME_MAX + 1] = '\0';
	assert_int_equal(store_mailbox_name_canon(longname, &b, &err), -1);  /* one past */
	free(longname);
	buf_free(&b);
}

static void test_create_parents(void **state)
{
	struct fixture *f = *state;
	struct error err;
	/* RFC 9051 §6.3.4: missing superior names are created */
	assert_int_equal(store_mailbox_create(f->acct, "a/b/c", 0, &err), 0);
	assert_true(mbox_id(f->acct, "a") > 0);
	assert_true(mbox_id(f->acct, "a/b") > 0);
	assert_false(mbox_status(f->acct, "a/b").noselect);
	assert_int_equal(store_mailbox_create(f->acct, "a/b", 0, &err), -1);
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(store_mailbox_create(f->acct, "INBOX", 0, &err), -1);
	assert_int_equal(store_mailbox_create(f->acct, "inbox/sub", 0, &err), 0);
	assert_true(mbox_id(f->acct, "INBOX/sub") > 0);
	assert_int_equal(store_mailbox_create(f->acct, "Mine", STORE_SPECIAL_ARCHIVE, &err), 0);
	assert_int_equal(mbox_status(f->acct, "Mine").special_use, STORE_SPECIAL_ARCHIVE);
	assert_int_equal(store_mailbox_set_special_use(f->acct, "Mine", STORE_SPECIAL_JUNK, &err), 0);
	assert_int_equal(mbox_status(f->acct, "Mine").special_use, STORE_SPECIAL_JUNK);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct error err;
	assert_int_equal(store_mailbox_create(f->acct, "p/q", 0, &err), 0);
	put(f->acct, "p", "in p", 0);
	put(f->acct, "p/q", "in q", 0);
	/* RFC 9051 §6.3.5: INBOX cannot be deleted */
	assert_int_equal(store_mailbox_delete(f->acct, "inbox", &err), -1);
	/* with children: messages go, the name stays as \Noselect */
	assert_int_equal(store_mailbox_delete(f->acct, "p", &err), 0);
	struct store_mailbox mb = mbox_status(f->acct, "p");
	assert_true(mb.noselect);
	assert_int_equal(mb.messages, 0);
	assert_int_equal(store_mailbox_delete(f->acct, "p", &err), -1);
	assert_int_equal(err.kind, ERR_INVALID);
	/* delivering into a \Noselect mailbox fails */
	struct store_delivery d = {.mailbox = "p"};
	struct store_delivered res;
	assert_int_equal(store_deliver(f->acct, &d, "x", 1, &res, &err), -1);
	assert_int_equal(err.kind, ERR_INVALID);
	/* the last child goes: the \Noselect parent goes too */
	assert_int_equal(store_mailbox_delete(f->acct, "p/q", &err), 0);
	assert_int_equal(mbox_id(f->acct, "p"), -1);
	assert_int_equal(mbox_id(f->acct, "p/q"), -1);
	/* creating a \Noselect name makes it selectable */
	assert_int_equal(store_mailbox_create(f->acct, "r/s", 0, &err), 0);
	assert_int_equal(store_mailbox_delete(f->acct, "r", &err), 0);
	assert_int_equal(store_mailbox_create(f->acct, "r", 0, &err), 0);
	assert_false(mbox_status(f->acct, "r").noselect);
	assert_int_equal(store_mailbox_delete(f->acct, "nosuch", &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
	struct store_usage u;
	assert_int_equal(store_usage(f->acct, &u, &err), 0);
	assert_int_equal(u.messages, 0);
}

static void test_rename_children(void **state)
{
	struct fixture *f = *state;
	struct error err;
	assert_int_equal(store_mailbox_create(f->acct, "a/b/c", 0, &err), 0);
	assert_int_equal(store_mailbox_subscribe(f->acct, "a/b", true, &err), 0);
	put(f->acct, "a/b", "msg", 0);
	uint32_t uv = mbox_status(f->acct, "a/b").uidvalidity;
	/* RFC 9051 §6.3.6: inferior names are renamed too */
	assert_int_equal(store_mailbox_rename(f->acct, "a", "x/y", &err), 0);
	assert_int_equal(mbox_id(f->acct, "a"), -1);
	assert_int_equal(mbox_id(f->acct, "a/b/c"), -1);
	assert_true(mbox_id(f->acct, "x") > 0);
	assert_true(mbox_id(f->acct, "x/y/b/c") > 0);
	struct store_mailbox mb = mbox_status(f->acct, "x/y/b");
	assert_int_equal(mb.uidvalidity, uv);
	assert_int_equal(mb.messages, 1);
	assert_true(mb.subscribed);
	assert_int_equal(store_mailbox_rename(f->acct, "x", "x/z", &err), -1);
	assert_int_equal(store_mailbox_rename(f->acct, "x", "Sent", &err), -1);
	assert_int_equal(store_mailbox_rename(f->acct, "nosuch", "q", &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
	/* a name made new gets a new UIDVALIDITY */
	assert_int_equal(store_mailbox_create(f->acct, "a/b", 0, &err), 0);
	assert_int_not_equal(mbox_status(f->acct, "a/b").uidvalidity, uv);
}

static void test_rename_inbox(void **state)
{
	struct fixture *f = *state;
	struct error err;
	assert_int_equal(store_mailbox_create(f->acct, "Inbox/child", 0, &err), 0);
	put(f->acct, "Inbox", "one", 0);
	put(f->acct, "Inbox", "two", STORE_FLAG_SEEN);
	struct store_mailbox in = mbox_status(f->acct, "Inbox");
	/* RFC 9051 §6.3.6: INBOX's messages move; INBOX stays, empty */
	assert_int_equal(store_mailbox_rename(f->acct, "INBOX", "Inbox/old", &err), 0);
	struct store_mailbox in2 = mbox_status(f->acct, "Inbox");
	struct store_mailbox old = mbox_status(f->acct, "Inbox/old");
	assert_int_equal(in2.messages, 0);
	assert_int_equal(in2.uidvalidity, in.uidvalidity);
	assert_int_equal(in2.uidnext, 3);
	assert_true(in2.highestmodseq > in.highestmodseq);
	assert_int_equal(old.messages, 2);
	assert_int_equal(old.unseen, 1);
	assert_int_not_equal(old.uidvalidity, in.uidvalidity);
	assert_true(mbox_id(f->acct, "Inbox/child") > 0);
	struct store_uids v = {0};
	assert_int_equal(store_vanished(f->acct, in.id, in.highestmodseq, &v, &err), 0);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.v[0], 1);
	assert_int_equal(v.v[1], 2);
	store_uids_free(&v);
	assert_int_equal(put(f->acct, "Inbox", "three", 0), 3);  /* UIDs never reused */
}

static void test_uids_across_restart(void **state)
{
	struct fixture *f = *state;
	struct error err;
	for (uint32_t i = 1; i <= 3; i++)
		assert_int_equal(put(f->acct, "Inbox", "m", 0), i);
	struct store_mailbox mb = mbox_status(f->acct, "Inbox");
	struct store_uidrange r = {2, 3};
	assert_int_equal(store_flags_update(f->acct, mb.id, &r, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &err), 0);
	assert_int_equal(store_expunge(f->acct, mb.id, NULL, 0, NULL, &err), 0);
	fixture_reopen(f);
	struct store_mailbox mb2 = mbox_status(f->acct, "Inbox");
	assert_int_equal(mb2.uidvalidity, mb.uidvalidity);
	assert_int_equal(mb2.uidnext, 4);
	assert_int_equal(mb2.messages, 1);
	assert_true(mb2.highestmodseq > mb.highestmodseq);
	assert_int_equal(put(f->acct, "Inbox", "m", 0), 4);
	assert_int_equal(mbox_status(f->acct, "Inbox").uidnext, 5);
}

/* RFC 3501 §2.3.2: each new message is recent in exactly one claimer;
 * looking without claiming (EXAMINE) takes nothing. */
static void test_claim_recent(void **state)
{
	struct fixture *f = *state;
	struct error err;
	int64_t id = mbox_status(f->acct, "Inbox").id;
	uint32_t first, end;
	assert_int_equal(store_mailbox_claim_recent(f->acct, id, true, &first, &end, &err), 0);
	assert_int_equal(first, 1);
	assert_int_equal(end, 1);
	put(f->acct, "Inbox", "one", 0);
	put(f->acct, "Inbox", "two", 0);
	assert_int_equal(store_mailbox_claim_recent(f->acct, id, false, &first, &end, &err), 0);
	assert_int_equal(first, 1);
	assert_int_equal(end, 3);
	assert_int_equal(store_mailbox_claim_recent(f->acct, id, true, &first, &end, &err), 0);
	assert_int_equal(first, 1);
	assert_int_equal(end, 3);
	assert_int_equal(store_mailbox_claim_recent(f->acct, id, true, &first, &end, &err), 0);
	assert_int_equal(first, 3);
	assert_int_equal(end, 3);
	put(f->acct, "Inbox", "three", 0);
	fixture_reopen(f);  /* kept in the database */
	assert_int_equal(store_mailbox_claim_recent(f->acct, id, true, &first, &end, &err), 0);
	assert_int_equal(first, 3);
	assert_int_equal(end, 4);
	assert_int_equal(store_mailbox_claim_recent(f->acct, 9999, true, &first, &end, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
}

static void test_subscriptions(void **state)
{
	struct fixture *f = *state;
	struct error err;
	struct arena *ar = arena_new(1024, ARENA_PLAIN);
	const char **names;
	size_t n;
	/* RFC 9051 §6.3.7: a name may be subscribed without a mailbox */
	assert_int_equal(store_mailbox_subscribe(f->acct, "ghost", true, &err), 0);
	assert_int_equal(store_mailbox_subscribe(f->acct, "Junk", false, &err), 0);
	assert_int_equal(store_subscriptions(f->acct, ar, &names, &n, &err), 0);
	assert_int_equal(n, 6);
	assert_string_equal(names[5], "ghost");  /* byte order */
	assert_false(mbox_status(f->acct, "Junk").subscribed);
	arena_free(&ar);
}

static void test_quota(void **state)
{
	struct fixture *f = *state;
	struct error err;
	struct store_delivery d = {0};
	struct store_delivered res;
	put(f->acct, "Inbox", "0123456789", 0);  /* 10 bytes */
	store_set_quota(f->acct, 25, 0);
	/* exactly at the limit: 10 + 15 = 25 */
	assert_int_equal(store_deliver(f->acct, &d, "012345678901234", 15, &res, &err), 0);
	/* one past */
	assert_int_equal(store_deliver(f->acct, &d, "x", 1, &res, &err), -1);
	assert_int_equal(err.kind, ERR_LIMIT);
	assert_true(store_error_is_quota(&err));
	assert_string_equal(err.msg, "quota exceeded: 25 of 25 bytes used");
	store_set_quota(f->acct, 26, 0);
	int64_t inbox = mbox_id(f->acct, "Inbox"), sent = mbox_id(f->acct, "Sent");
	struct store_uidrange all = {1, UINT32_MAX};
	assert_int_equal(store_copy(f->acct, inbox, &all, 1, sent, NULL, NULL, NULL, &err), -1);
	assert_true(store_error_is_quota(&err));
	assert_string_equal(err.msg, "quota exceeded: 50 of 26 bytes would be used");
	assert_int_equal(mbox_status(f->acct, "Sent").messages, 0);
	/* move does not add usage */
	assert_int_equal(store_move(f->acct, inbox, &all, 1, sent, NULL, NULL, NULL, &err), 0);
	store_set_quota(f->acct, 0, 3);
	assert_int_equal(store_deliver(f->acct, &d, "x", 1, &res, &err), 0);   /* 3rd: at */
	assert_int_equal(store_deliver(f->acct, &d, "y", 1, &res, &err), -1);  /* 4th: past */
	assert_true(store_error_is_quota(&err));
	assert_string_equal(err.msg, "quota exceeded: 3 of 3 messages");
	store_set_quota(f->acct, 0, 0);
	assert_int_equal(store_deliver(f->acct, &d, "y", 1, &res, &err), 0);
	/* a streamed message is stopped as soon as it passes the quota */
	store_set_quota(f->acct, 40, 0);
	int fd = open("/dev/zero", O_RDONLY);
	assert_int_equal(store_deliver_fd(f->acct, &d, fd, &res, &err), -1);
	close(fd);
	assert_true(store_error_is_quota(&err));
	struct store_verify_report rep;
	struct store_verify_opts opts = {0};
	assert_int_equal(store_verify(f->acct, &opts, &rep, &err), 0);
	assert_true(store_verify_ok(&rep));
	assert_int_equal(rep.orphans, 0);  /* refused deliveries leave no file */
	store_verify_report_free(&rep);
}

static void *waiter(void *arg)
{
	struct store_sub *sub = arg;
	struct pollfd p = {.fd = store_sub_fd(sub), .events = POLLIN};
	return (void *)(intptr_t)poll(&p, 1, 5000);
}

static void test_notifier(void **state)
{
	struct fixture *f = *state;
	struct error err;
	struct store_sub *sub;
	struct store_changes ch;
	assert_int_equal(store_sub_new(f->acct, &sub, &err), 0);
	struct pollfd p = {.fd = store_sub_fd(sub), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, waiter, sub), 0);
	usleep(20000);
	put(f->acct, "Sent", "x", 0);
	void *ret;
	pthread_join(t, &ret);
	assert_int_equal((intptr_t)ret, 1);  /* woken, not timed out */
	store_sub_read(sub, &ch);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.mailbox_ids[0], mbox_id(f->acct, "Sent"));
	assert_false(ch.mailboxes_changed);
	uint64_t seq = ch.seq;
	assert_int_equal(poll(&p, 1, 0), 0);  /* read clears it */
	assert_int_equal(store_mailbox_create(f->acct, "new", 0, &err), 0);
	assert_int_equal(poll(&p, 1, 0), 1);
	store_sub_read(sub, &ch);
	assert_true(ch.mailboxes_changed);
	assert_int_equal(ch.seq, seq + 1);
	/* A change made by another process, announced to this one. */
	store_notify_outside_change(f->acct);
	assert_int_equal(poll(&p, 1, 0), 1);
	store_sub_read(sub, &ch);
	assert_true(ch.all);
	assert_true(ch.mailboxes_changed);
	assert_int_equal(ch.seq, seq + 2);
	store_sub_free(&sub);
	assert_null(sub);
}

static void test_verify(void **state)
{
	struct fixture *f = *state;
	struct error err;
	put(f->acct, "Inbox", "first message", 0);
	put(f->acct, "Inbox", "second message", 0);
	struct store_verify_report rep;
	struct store_verify_opts opts = {.fix = true, .min_orphan_age = 0};
	assert_int_equal(store_verify(f->acct, &opts, &rep, &err), 0);
	assert_true(store_verify_ok(&rep));
	assert_int_equal(rep.messages, 2);
	assert_int_equal(rep.files, 2);
	assert_int_equal(rep.orphans, 0);
	store_verify_report_free(&rep);

	char path[256];
	struct store_msgfile mf;
	struct arena *ar = arena_new(1024, ARENA_PLAIN);
	int64_t inbox = mbox_id(f->acct, "Inbox");
	assert_int_equal(store_msg_open(f->acct, inbox, 1, ar, &mf, &err), 0);
	close(mf.fd);
	struct store_msgdetail md;
	assert_int_equal(store_msg_get(f->acct, inbox, 1, ar, &md, &err), 0);
	snprintf(path, sizeof(path), "%s/accounts/alice/msg/0/%lld", f->dir,
	         (long long)md.info.content_id);
	assert_int_equal(truncate(path, 3), 0);
	snprintf(path, sizeof(path), "%s/accounts/alice/msg/0/999", f->dir);
	FILE *o = fopen(path, "w");
	fputs("orphan", o);
	fclose(o);
	snprintf(path, sizeof(path), "%s/accounts/alice/msg/0/5.tmp", f->dir);
	o = fopen(path, "w");
	fclose(o);
	struct store_verify_opts keep = {.fix = true, .min_orphan_age = 3600};
	assert_int_equal(store_verify(f->acct, &keep, &rep, &err), 0);
	assert_false(store_verify_ok(&rep));
	assert_int_equal(rep.bad_size, 1);
	assert_int_equal(rep.orphans, 2);
	assert_int_equal(rep.moved, 0);  /* too young: may be in flight */
	store_verify_report_free(&rep);
	assert_int_equal(store_verify(f->acct, &opts, &rep, &err), 0);
	assert_int_equal(rep.moved, 2);
	assert_non_null(strstr(rep.text.data, "moved to"));
	store_verify_report_free(&rep);
	snprintf(path, sizeof(path), "%s/accounts/alice/orphans/0-999", f->dir);
	assert_true(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/accounts/alice/msg/0/%lld", f->dir,
	         (long long)md.info.content_id);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_verify(f->acct, &opts, &rep, &err), 0);
	assert_int_equal(rep.missing, 1);
	assert_int_equal(rep.orphans, 0);
	store_verify_report_free(&rep);
	arena_free(&ar);
}

/* ---- header texts: ENVELOPE and search headers kept at delivery ---- */

struct listed {
	char envelope[1024];
	char search[1024];
	size_t search_len;
	bool has_envelope, has_search;
};

static int keep_texts(void *ctx, const struct store_msginfo *m)
{
	struct listed *l = ctx;
	l->has_envelope = m->envelope != NULL;
	l->has_search = m->search_headers != NULL;
	if (m->envelope != NULL)
		snprintf(l->envelope, sizeof(l->envelope), "%.*s", (int)m->envelope_len, m->envelope);
	if (m->search_headers != NULL) {
		assert_true(m->search_headers_len < sizeof(l->search));
		memcpy(l->search, m->search_headers, m->search_headers_len);
		l->search_len = m->search_headers_len;
	}
	return 0;
}

static struct listed list_texts(struct fixture *f, unsigned want)
{
	struct listed l = {0};
	struct error err;
	assert_int_equal(store_msg_list_want(f->acct, mbox_id(f->acct, "Inbox"), NULL, 0, 0, want,
	                                     keep_texts, &l, &err), 0);
	return l;
}

static void test_header_texts(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n"
	                          "To: a@example.org, Group: b@example.org;\r\n"
	                          "Subject: hi\r\n\tthere\r\nSubject: second\r\n\r\nbody\r\n";
	/* the added headers come first: their Date and Message-ID are the
	 * ENVELOPE's; its strings are raw (RFC 9051 §7.5.2), the search texts
	 * decoded */
	struct store_delivery d = {.added_headers = "Received: x\r\nDate: Thu, 26 Nov 2026 "
	                           "01:02:03 +0000\r\nMessage-ID: <m@x>\r\n"};
	struct store_delivered res;
	struct error err;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], msg, strlen(msg)), (ssize_t)strlen(msg));
	close(fds[1]);
	assert_int_equal(store_deliver_fd(f->acct, &d, fds[0], &res, &err), 0);
	close(fds[0]);
	struct listed l = list_texts(f, STORE_LIST_ENVELOPE | STORE_LIST_SEARCH_HEADERS);
	assert_true(l.has_envelope);
	assert_string_equal(l.envelope, "(\"Thu, 26 Nov 2026 01:02:03 +0000\" \"hi\tthere\" "
	                    "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.com\")) "
	                    "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.com\")) "
	                    "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.com\")) "
	                    "((NIL NIL \"a\" \"example.org\")(NIL NIL \"Group\" NIL)"
	                    "(NIL NIL \"b\" \"example.org\")(NIL NIL NIL NIL)) NIL NIL NIL "
	                    "\"<m@x>\")");
	/* records: each address, then the decoded value; both Subject fields */
	static const char *const want[][2] = {
		{"f", "J\xc3\xb6rg <j@example.com>"}, {"f", "J\xc3\xb6rg <j@example.com>"},
		{"t", " <a@example.org>"}, {"t", "Group <>"}, {"t", " <b@example.org>"},
		{"t", " <>"}, {"t", "a@example.org, Group: b@example.org;"},
		{"s", "hi\tthere"}, {"s", "second"},
	};
	assert_true(l.has_search);
	struct store_search_text t;
	size_t pos = 0, i = 0;
	int r;
	while ((r = store_search_headers_next(l.search, l.search_len, &pos, &t)) == 1) {
		assert_true(i < sizeof(want) / sizeof(want[0]));
		assert_int_equal(t.field, want[i][0][0]);
		assert_int_equal(t.len, strlen(want[i][1]));
		assert_memory_equal(t.text, want[i][1], t.len);
		i++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(i, sizeof(want) / sizeof(want[0]));
	/* not asked for: not read */
	l = list_texts(f, 0);
	assert_false(l.has_envelope);
	assert_false(l.has_search);
}

static void test_search_headers_malformed(void **state)
{
	(void)state;
	struct store_search_text t;
	static const char *const bad[] = {"f", "f:", "fx:a", "f5:abc", "f1a", "f99999999999:a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t pos = 0;
		assert_int_equal(store_search_headers_next(bad[i], strlen(bad[i]), &pos, &t), -1);
	}
	size_t pos = 0;
	assert_int_equal(store_search_headers_next("s0:t2:ab", 8, &pos, &t), 1);
	assert_int_equal(t.len, 0);
	assert_int_equal(store_search_headers_next("s0:t2:ab", 8, &pos, &t), 1);
	assert_int_equal(t.field, 't');
	assert_memory_equal(t.text, "ab", 2);
	assert_int_equal(store_search_headers_next("s0:t2:ab", 8, &pos, &t), 0);
}

/* Version 4 adds the table; messages stored before have no texts. */
static void test_header_texts_upgrade(void **state)
{
	struct fixture *f = *state;
	put(f->acct, "Inbox", "Subject: old\r\n\r\nx\r\n", 0);
	store_close(&f->acct);
	sql(f->dir, "DROP TABLE header_text; UPDATE schema_version SET version = 3");
	fixture_reopen(f);
	struct listed l = list_texts(f, STORE_LIST_ENVELOPE | STORE_LIST_SEARCH_HEADERS);
	assert_false(l.has_envelope);
	assert_false(l.has_search);
	put(f->acct, "Inbox", "Subject: new\r\n\r\nx\r\n", 0);
	l = list_texts(f, STORE_LIST_ENVELOPE | STORE_LIST_SEARCH_HEADERS);
	assert_true(l.has_envelope);
	assert_non_null(strstr(l.envelope, "\"new\""));
	assert_int_equal(l.search_len, 6);
	assert_memory_equal(l.search, "s3:new", 6);
	/* the texts go with the content row */
	struct error err;
	assert_int_equal(store_flags_update(f->acct, mbox_id(f->acct, "Inbox"), NULL, 0,
	                                    STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, NULL,
	                                    NULL, &err), 0);
	assert_int_equal(store_expunge(f->acct, mbox_id(f->acct, "Inbox"), NULL, 0, NULL, &err), 0);
	store_close(&f->acct);
	sqlite3 *db;
	char path[128];
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM header_text", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	fixture_reopen(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* Listings read on connections of their own, beside each other and the
 * writer; when all are busy the writer's connection serves. They cannot
 * write. */
static void test_readers(void **state)
{
	struct fixture *f = *state;
	struct store_account *r[STORE_READERS + 1];
	for (size_t i = 0; i < STORE_READERS; i++) {
		r[i] = store_reader(f->acct);
		assert_ptr_not_equal(r[i], f->acct);
		for (size_t j = 0; j < i; j++)
			assert_ptr_not_equal(r[i], r[j]);
	}
	r[STORE_READERS] = store_reader(f->acct);
	assert_ptr_equal(r[STORE_READERS], f->acct);
	struct error err;
	assert_int_equal(db_exec(r[0], "DELETE FROM mailbox", &err), -1);
	for (size_t i = 0; i <= STORE_READERS; i++)
		store_reader_release(r[i]);
	struct store_account *again = store_reader(f->acct);
	assert_ptr_equal(again, r[0]);
	store_reader_release(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_defaults),
		T(test_open_shared_and_names),
		T(test_schema_version),
		T(test_claim_recent),
		T(test_mailbox_names),
		T(test_create_parents),
		T(test_delete),
		T(test_rename_children),
		T(test_rename_inbox),
		T(test_uids_across_restart),
		T(test_subscriptions),
		T(test_quota),
		T(test_notifier),
		T(test_verify),
		T(test_verify_counts),
		T(test_header_texts),
		T(test_search_headers_malformed),
		T(test_header_texts_upgrade),
		T(test_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
