/* message_test.c: flags and modseq, UNCHANGEDSINCE, expunge and VANISHED,
 * copy/move, full-text search, delivery from a descriptor, listing. */
#include "store/store.h"
#include "store/testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

struct collected {
	size_t n;
	uint32_t uids[1024];
	uint64_t modseq[1024];
	unsigned flags[1024];
	char keywords[8][64];
	size_t stop_after;
};

static int collect(void *ctx, const struct store_msginfo *m)
{
	struct collected *c = ctx;
	if (c->n < 8)
		snprintf(c->keywords[c->n], sizeof(c->keywords[0]), "%s", m->keywords);
	c->modseq[c->n] = m->modseq;
	c->flags[c->n] = m->flags;
	c->uids[c->n++] = m->uid;
	return c->stop_after != 0 && c->n >= c->stop_after;
}

static void list(struct store_account *a, int64_t mbox, const struct store_uidrange *r, size_t n,
                 uint64_t since, struct collected *c)
{
	struct error err;
	memset(c, 0, offsetof(struct collected, stop_after));
	assert_int_equal(store_msg_list(a, mbox, r, n, since, collect, c, &err), 0);
}

static void test_flags_modseq(void **state)
{
	struct fixture *f = *state;
	struct error err;
	for (int i = 0; i < 3; i++)
		put(f->acct, "Inbox", "m", 0);
	struct store_mailbox mb = mbox_status(f->acct, "Inbox");
	assert_int_equal(mb.unseen, 3);
	struct store_uidrange r = {1, 2};
	uint64_t ms;
	/* RFC 7162 §3.1: a flag change gives a new, higher modseq */
	assert_int_equal(store_flags_update(f->acct, mb.id, &r, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN,
	                                    "$Forwarded Work", 0, NULL, &ms, &err), 0);
	assert_true(ms > mb.highestmodseq);
	struct store_mailbox mb2 = mbox_status(f->acct, "Inbox");
	assert_int_equal(mb2.highestmodseq, ms);
	assert_int_equal(mb2.unseen, 1);
	struct collected c;
	list(f->acct, mb.id, NULL, 0, mb.highestmodseq, &c);  /* CHANGEDSINCE */
	assert_int_equal(c.n, 2);
	assert_int_equal(c.modseq[0], ms);
	assert_string_equal(c.keywords[0], "$Forwarded Work");
	/* the same change again changes nothing: no new modseq */
	assert_int_equal(store_flags_update(f->acct, mb.id, &r, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN,
	                                    "Work", 0, NULL, &ms, &err), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(store_flags_update(f->acct, mb.id, &r, 1, STORE_FLAGS_REMOVE, 0, "Work",
	                                    0, NULL, &ms, &err), 0);
	assert_true(ms > mb2.highestmodseq);
	assert_int_equal(store_flags_update(f->acct, mb.id, NULL, 0, STORE_FLAGS_SET,
	                                    STORE_FLAG_FLAGGED, "b a a", 0, NULL, &ms, &err), 0);
	list(f->acct, mb.id, NULL, 0, 0, &c);
	assert_int_equal(c.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c.flags[i], STORE_FLAG_FLAGGED);
		assert_string_equal(c.keywords[i], "a b");
	}
	assert_int_equal(mbox_status(f->acct, "Inbox").unseen, 3);
	struct store_uidrange three = {3, 3};
	assert_int_equal(store_flags_update(f->acct, mb.id, &three, 1, STORE_FLAGS_SET, 0,
	                                    "c $Junk", 0, NULL, &ms, &err), 0);
	struct arena *ar = arena_new(1024, ARENA_PLAIN);
	const char *kws;
	assert_int_equal(store_mailbox_keywords(f->acct, mb.id, ar, &kws, &err), 0);
	assert_true(strcmp(kws, "a b $Junk c") == 0 || strcmp(kws, "$Junk c a b") == 0);
	arena_free(&ar);
	const char *bad[] = {"a(b", "\\Seen", "x]", "q\"", "*"};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(store_flags_update(f->acct, mb.id, NULL, 0, STORE_FLAGS_ADD, 0, bad[i],
		                                    0, NULL, NULL, &err), -1);
		assert_int_equal(err.kind, ERR_INVALID);
	}
	assert_int_equal(store_flags_update(f->acct, 9999, NULL, 0, STORE_FLAGS_ADD, 0, NULL, 0,
	                                    NULL, NULL, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
}

static void test_keyword_limits(void **state)
{
	struct fixture *f = *state;
	struct error err;
	put(f->acct, "Inbox", "m", 0);
	int64_t inbox = mbox_id(f->acct, "Inbox");
	char kw[STORE_KEYWORD_MAX + 2];
	memset(kw, 'k', sizeof(kw));
	kw[STORE_KEYWORD_MAX] = '\0';  /* at the limit */
	assert_int_equal(store_flags_update(f->acct, inbox, NULL, 0, STORE_FLAGS_ADD, 0, kw, 0,
	                                    NULL, NULL, &err), 0);
	kw[STORE_KEYWORD_MAX] = 'k';
	kw[STORE_KEYWORD_MAX + 1] = '\0';  /* one past */
	assert_int_equal(store_flags_update(f->acct, inbox, NULL, 0, STORE_FLAGS_ADD, 0, kw, 0,
	                                    NULL, NULL, &err), -1);
	assert_int_equal(err.kind, ERR_INVALID);
	char many[STORE_KEYWORDS_MAX * 6 + 8] = "";
	for (int i = 0; i < STORE_KEYWORDS_MAX - 1; i++)  /* plus the long one: at the limit */
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "k%d ", i);
	assert_int_equal(store_flags_update(f->acct, inbox, NULL, 0, STORE_FLAGS_ADD, 0, many, 0,
	                                    NULL, NULL, &err), 0);
	assert_int_equal(store_flags_update(f->acct, inbox, NULL, 0, STORE_FLAGS_ADD, 0, "one-more",
	                                    0, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "keywords"));
	/* search terms: at and one past the limit */
	const char *terms[STORE_SEARCH_TERMS_MAX + 1];
	for (int i = 0; i <= STORE_SEARCH_TERMS_MAX; i++)
		terms[i] = "m";
	struct store_uids u = {0};
	assert_int_equal(store_search(f->acct, inbox, STORE_SEARCH_ANY, terms,
	                              STORE_SEARCH_TERMS_MAX, &u, &err), 0);
	assert_int_equal(store_search(f->acct, inbox, STORE_SEARCH_ANY, terms,
	                              STORE_SEARCH_TERMS_MAX + 1, &u, &err), -1);
	store_uids_free(&u);
}

static void test_unchangedsince(void **state)
{
	struct fixture *f = *state;
	struct error err;
	for (int i = 0; i < 3; i++)
		put(f->acct, "Inbox", "m", 0);
	int64_t inbox = mbox_id(f->acct, "Inbox");
	uint64_t before = mbox_status(f->acct, "Inbox").highestmodseq, ms;
	struct store_uidrange two = {2, 2};
	assert_int_equal(store_flags_update(f->acct, inbox, &two, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_ANSWERED, NULL, 0, NULL, &ms, &err), 0);
	/* RFC 7162 §3.1.3: UID 2 changed after `before`: it fails, 1 and 3 change */
	struct store_uids failed = {0};
	assert_int_equal(store_flags_update(f->acct, inbox, NULL, 0, STORE_FLAGS_ADD,
	                                    STORE_FLAG_SEEN, NULL, before, &failed, &ms, &err), 0);
	assert_int_equal(failed.n, 1);
	assert_int_equal(failed.v[0], 2);
	struct collected c;
	list(f->acct, inbox, NULL, 0, 0, &c);
	assert_int_equal(c.flags[0], STORE_FLAG_SEEN);
	assert_int_equal(c.flags[1], STORE_FLAG_ANSWERED);
	assert_int_equal(c.flags[2], STORE_FLAG_SEEN);
	store_uids_free(&failed);
}

static void test_expunge_vanished(void **state)
{
	struct fixture *f = *state;
	struct error err;
	for (int i = 0; i < 5; i++)
		put(f->acct, "Inbox", "m", i % 2 == 0 ? STORE_FLAG_DELETED : 0);  /* 1 3 5 */
	int64_t inbox = mbox_id(f->acct, "Inbox");
	uint64_t before = mbox_status(f->acct, "Inbox").highestmodseq;
	/* UID EXPUNGE (RFC 9051 §6.4.9): only \Deleted messages inside the set */
	struct store_uidrange set[] = {{2, 3}};
	struct store_uids ex = {0};
	assert_int_equal(store_expunge(f->acct, inbox, set, 1, &ex, &err), 0);
	assert_int_equal(ex.n, 1);
	assert_int_equal(ex.v[0], 3);
	uint64_t mid = mbox_status(f->acct, "Inbox").highestmodseq;
	assert_true(mid > before);
	assert_int_equal(store_expunge(f->acct, inbox, NULL, 0, &ex, &err), 0);
	assert_int_equal(ex.n, 3);
	assert_int_equal(ex.v[1], 1);
	assert_int_equal(ex.v[2], 5);
	store_uids_free(&ex);
	/* RFC 7162 §3.2.10: VANISHED (EARLIER) by modseq */
	struct store_uids v = {0};
	assert_int_equal(store_vanished(f->acct, inbox, before, &v, &err), 0);
	assert_int_equal(v.n, 3);
	store_uids_free(&v);
	assert_int_equal(store_vanished(f->acct, inbox, mid, &v, &err), 0);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.v[0], 1);
	store_uids_free(&v);
	struct store_mailbox mb = mbox_status(f->acct, "Inbox");
	assert_int_equal(mb.messages, 2);
	assert_int_equal(mb.uidnext, 6);
	/* nothing to expunge: no new modseq */
	assert_int_equal(store_expunge(f->acct, inbox, NULL, 0, NULL, &err), 0);
	assert_int_equal(mbox_status(f->acct, "Inbox").highestmodseq, mb.highestmodseq);
}

static int count_files(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test $(find %s/accounts/alice/msg -type f | wc -l) -eq", dir);
	for (int n = 0; n < 100; n++) {
		char c2[300];
		snprintf(c2, sizeof(c2), "%s %d", cmd, n);
		if (system(c2) == 0)
			return n;
	}
	return -1;
}

static void test_copy_move(void **state)
{
	struct fixture *f = *state;
	struct error err;
	put(f->acct, "Inbox", "a", STORE_FLAG_SEEN);
	put(f->acct, "Inbox", "b", 0);
	int64_t inbox = mbox_id(f->acct, "Inbox"), arch = mbox_id(f->acct, "Archive");
	int64_t trash = mbox_id(f->acct, "Trash");
	put(f->acct, "Archive", "z", 0);
	struct store_uids su = {0}, du = {0};
	uint32_t uv;
	assert_int_equal(store_copy(f->acct, inbox, NULL, 0, arch, &su, &du, &uv, &err), 0);
	/* RFC 4315 COPYUID: pairs of source and new UIDs */
	assert_int_equal(su.n, 2);
	assert_int_equal(du.v[0], 2);
	assert_int_equal(du.v[1], 3);
	assert_int_equal(uv, mbox_status(f->acct, "Archive").uidvalidity);
	assert_int_equal(count_files(f->dir), 3);  /* copies share files */
	struct collected c;
	list(f->acct, arch, NULL, 0, 0, &c);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.flags[1], STORE_FLAG_SEEN);
	/* RFC 6851: MOVE gives new UIDs and expunges the source */
	uint64_t before = mbox_status(f->acct, "Inbox").highestmodseq;
	store_uids_free(&su);
	store_uids_free(&du);
	struct store_uidrange one = {1, 1};
	assert_int_equal(store_move(f->acct, inbox, &one, 1, trash, &su, &du, &uv, &err), 0);
	assert_int_equal(du.n, 1);
	assert_int_equal(du.v[0], 1);
	struct store_uids v = {0};
	assert_int_equal(store_vanished(f->acct, inbox, before, &v, &err), 0);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.v[0], 1);
	assert_int_equal(mbox_status(f->acct, "Inbox").messages, 1);
	assert_int_equal(mbox_status(f->acct, "Trash").messages, 1);
	assert_int_equal(store_move(f->acct, trash, NULL, 0, trash, NULL, NULL, NULL, &err), -1);
	/* the file goes with its last message only */
	assert_int_equal(store_flags_update(f->acct, trash, NULL, 0, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &err), 0);
	assert_int_equal(store_expunge(f->acct, trash, NULL, 0, NULL, &err), 0);
	assert_int_equal(count_files(f->dir), 3);
	assert_int_equal(store_flags_update(f->acct, arch, NULL, 0, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &err), 0);
	assert_int_equal(store_expunge(f->acct, arch, NULL, 0, NULL, &err), 0);
	assert_int_equal(count_files(f->dir), 1);
	store_uids_free(&su);
	store_uids_free(&du);
	store_uids_free(&v);
}

static uint32_t put_text(struct store_account *a, const char *subject, const char *body)
{
	struct store_delivery d = {.subject = subject, .from = "Alice <alice@example.org>",
	                           .fts_body = body};
	struct store_delivered res;
	struct error err;
	assert_int_equal(store_deliver(a, &d, body, strlen(body), &res, &err), 0);
	return res.uid;
}

static size_t search(struct store_account *a, enum store_search_field field, const char *term,
                     struct store_uids *out)
{
	struct error err;
	const char *terms[] = {term};
	out->n = 0;
	int r = store_search(a, mbox_id(a, "Inbox"), field, terms, 1, out, &err);
	if (r != 0)
		fail_msg("search %s: %s", term, err.msg);
	return out->n;
}

static void test_fts(void **state)
{
	struct fixture *f = *state;
	struct error err;
	put_text(f->acct, "Quarterly report", "numbers attached, see the \"NEAR(\" clause");
	put_text(f->acct, "Lunch", "pizza or sushi? -not tonight* ok");
	put_text(f->acct, "Re: report", "the report looks fine");
	int64_t inbox = mbox_id(f->acct, "Inbox");
	struct store_uids u = {0};
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "report", &u), 2);
	assert_int_equal(u.v[0], 1);
	assert_int_equal(u.v[1], 3);
	assert_int_equal(search(f->acct, STORE_SEARCH_SUBJECT, "lunch", &u), 1);
	assert_int_equal(search(f->acct, STORE_SEARCH_BODY, "lunch", &u), 0);
	assert_int_equal(search(f->acct, STORE_SEARCH_ADDRESSES, "alice", &u), 3);
	const char *two[] = {"report", "fine"};
	u.n = 0;
	assert_int_equal(store_search(f->acct, inbox, STORE_SEARCH_ANY, two, 2, &u, &err), 0);
	assert_int_equal(u.n, 1);
	/* hostile input is searched as text, never as FTS5 syntax */
	const char *hostile[] = {"\"", "NEAR(", "NEAR(report fine)", "*", "-", "report*", "-not",
	                         "a OR b", "subject:lunch", "^x", "\"report\" OR \"lunch",
	                         "(((", "report AND", "{subject}: x", "'; DROP TABLE message; --"};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const char *t[] = {hostile[i]};
		/* either searched as words, or refused for having none */
		if (store_search(f->acct, inbox, STORE_SEARCH_ANY, t, 1, &u, &err) != 0)
			assert_string_equal(err.msg, "empty search terms");
	}
	const char *wordless[] = {"\"", "*", "-", "((("};
	for (size_t i = 0; i < sizeof(wordless) / sizeof(wordless[0]); i++) {
		const char *t[] = {wordless[i]};
		assert_int_equal(store_search(f->acct, inbox, STORE_SEARCH_ANY, t, 1, &u, &err), -1);
		assert_int_equal(err.kind, ERR_INVALID);
	}
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "NEAR(", &u), 1);
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "report OR lunch", &u), 0);
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "-not", &u), 1);
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "tonight*", &u), 1);
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "report*", &u), 2);
	const char *empty[] = {""};
	assert_int_equal(store_search(f->acct, inbox, STORE_SEARCH_ANY, empty, 1, &u, &err), -1);
	assert_int_equal(store_search(f->acct, inbox, STORE_SEARCH_ANY, empty, 0, &u, &err), -1);
	/* the index follows expunge */
	struct store_uidrange one = {1, 1};
	assert_int_equal(store_flags_update(f->acct, inbox, &one, 1, STORE_FLAGS_ADD,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &err), 0);
	assert_int_equal(store_expunge(f->acct, inbox, NULL, 0, NULL, &err), 0);
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "report", &u), 1);
	assert_int_equal(search(f->acct, STORE_SEARCH_ANY, "quarterly", &u), 0);
	store_uids_free(&u);
}

static void test_deliver_fd(void **state)
{
	struct fixture *f = *state;
	struct error err;
	char path[128];
	snprintf(path, sizeof(path), "%s/in.eml", f->dir);
	FILE *o = fopen(path, "w");
	size_t total = 0;
	for (int i = 0; total < 3 * 1024 * 1024; i++)
		total += (size_t)fprintf(o, "line %d of a long message body\r\n", i);
	fclose(o);
	int fd = open(path, O_RDONLY);
	const char *hdr = "Received: from x by y\r\nAuthentication-Results: y; spf=pass\r\n";
	unsigned char blob[] = {0, 1, 2, 255};
	struct store_delivery d = {.mailbox = "Drafts", .flags = STORE_FLAG_DRAFT,
	                           .keywords = "$MDNSent", .received = 1700000000,
	                           .added_headers = hdr, .structure = blob, .structure_len = 4,
	                           .message_id = "<1@x>", .remote_ip = "192.0.2.1",
	                           .spf = "pass", .date = 1699999999};
	struct store_delivered res;
	assert_int_equal(store_deliver_fd(f->acct, &d, fd, &res, &err), 0);
	close(fd);
	assert_int_equal(res.size, total + strlen(hdr));
	struct arena *ar = arena_new(4096, ARENA_PLAIN);
	struct store_msgfile mf;
	assert_int_equal(store_msg_open(f->acct, res.mailbox_id, res.uid, ar, &mf, &err), 0);
	assert_int_equal(mf.file_size, total);
	assert_string_equal(mf.prefix, hdr);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cmp -s %s /proc/%d/fd/%d", path, (int)getpid(), mf.fd);
	assert_int_equal(system(cmd), 0);
	close(mf.fd);
	struct store_msgdetail md;
	assert_int_equal(store_msg_get(f->acct, res.mailbox_id, res.uid, ar, &md, &err), 0);
	assert_int_equal(md.info.received, 1700000000);
	assert_int_equal(md.info.flags, STORE_FLAG_DRAFT);
	assert_string_equal(md.info.keywords, "$MDNSent");
	assert_int_equal(md.structure_len, 4);
	assert_memory_equal(md.structure, blob, 4);
	assert_string_equal(md.message_id, "<1@x>");
	assert_string_equal(md.spf, "pass");
	assert_null(md.dkim);
	assert_int_equal(md.date, 1699999999);
	struct store_msgref refs[2];
	size_t nrefs;
	assert_int_equal(store_find_message_id(f->acct, "<1@x>", refs, 2, &nrefs, &err), 0);
	assert_int_equal(nrefs, 1);
	assert_int_equal(refs[0].mailbox_id, res.mailbox_id);
	assert_int_equal(refs[0].uid, res.uid);
	assert_int_equal(store_find_message_id(f->acct, "<2@x>", refs, 2, &nrefs, &err), 0);
	assert_int_equal(nrefs, 0);
	assert_int_equal(store_msg_get(f->acct, res.mailbox_id, 99, ar, &md, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
	/* bad input to delivery */
	struct store_delivery bad = {.added_headers = "X: no crlf"};
	assert_int_equal(store_deliver(f->acct, &bad, "x", 1, &res, &err), -1);
	struct store_delivery nobox = {.mailbox = "Nope"};
	assert_int_equal(store_deliver(f->acct, &nobox, "x", 1, &res, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);  /* IMAP [TRYCREATE] */
	assert_int_equal(count_files(f->dir), 1);
	arena_free(&ar);
}

static void test_open_survives_expunge(void **state)
{
	struct fixture *f = *state;
	struct error err;
	put(f->acct, "Inbox", "keep reading me", STORE_FLAG_DELETED);
	int64_t inbox = mbox_id(f->acct, "Inbox");
	struct arena *ar = arena_new(1024, ARENA_PLAIN);
	struct store_msgfile mf;
	assert_int_equal(store_msg_open(f->acct, inbox, 1, ar, &mf, &err), 0);
	assert_int_equal(store_expunge(f->acct, inbox, NULL, 0, NULL, &err), 0);
	assert_int_equal(count_files(f->dir), 0);
	char got[32] = {0};
	assert_int_equal(read(mf.fd, got, sizeof(got)), 15);  /* the fd still reads */
	assert_string_equal(got, "keep reading me");
	close(mf.fd);
	assert_int_equal(store_msg_open(f->acct, inbox, 1, ar, &mf, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
	/* a deleted mailbox's id is never reused: calls on it fail */
	assert_int_equal(store_mailbox_create(f->acct, "gone", 0, &err), 0);
	int64_t gone = mbox_id(f->acct, "gone");
	assert_int_equal(store_mailbox_delete(f->acct, "gone", &err), 0);
	assert_int_equal(store_mailbox_create(f->acct, "gone", 0, &err), 0);
	assert_int_not_equal(mbox_id(f->acct, "gone"), gone);
	assert_int_equal(store_expunge(f->acct, gone, NULL, 0, NULL, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
	assert_int_equal(store_copy(f->acct, inbox, NULL, 0, gone, NULL, NULL, NULL, &err), -1);
	assert_int_equal(err.kind, ERR_NOTFOUND);
	/* names are data, never SQL */
	const char *odd = "x'; DROP TABLE mailbox; --";
	assert_int_equal(store_mailbox_create(f->acct, odd, 0, &err), 0);
	assert_int_equal(store_mailbox_rename(f->acct, odd, "y\"); DELETE FROM message; --",
	                                      &err), 0);
	assert_true(mbox_id(f->acct, "y\"); DELETE FROM message; --") > 0);
	assert_true(mbox_id(f->acct, "Inbox") > 0);
	arena_free(&ar);
}

static void test_list_batches(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 600; i++)
		put(f->acct, "Junk", "spam", 0);
	int64_t junk = mbox_id(f->acct, "Junk");
	struct collected *c = calloc(1, sizeof(*c));
	list(f->acct, junk, NULL, 0, 0, c);
	assert_int_equal(c->n, 600);
	for (size_t i = 0; i < 600; i++)
		assert_int_equal(c->uids[i], i + 1);
	struct store_uidrange r[] = {{590, 700}, {5, 3}, {4, 10}, {300, 300}};
	list(f->acct, junk, r, 4, 0, c);
	assert_int_equal(c->n, 8 + 1 + 11);
	assert_int_equal(c->uids[0], 3);
	assert_int_equal(c->uids[8], 300);
	assert_int_equal(c->uids[19], 600);
	memset(c, 0, sizeof(*c));
	c->stop_after = 300;
	struct error err;
	assert_int_equal(store_msg_list(f->acct, junk, NULL, 0, 0, collect, c, &err), 0);
	assert_int_equal(c->n, 300);
	assert_int_equal(store_msg_list(f->acct, 4242, NULL, 0, 0, collect, c, &err), -1);
	free(c);
}

static void *deliverer(void *arg)
{
	struct store_account *a = arg;
	for (int i = 0; i < 50; i++)
		put(a, "Inbox", "concurrent", 0);
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, deliverer, f->acct), 0);
	struct collected *c = calloc(1, sizeof(*c));
	for (int i = 0; i < 10; i++)
		list(f->acct, mbox_id(f->acct, "Inbox"), NULL, 0, 0, c);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	list(f->acct, mbox_id(f->acct, "Inbox"), NULL, 0, 0, c);
	assert_int_equal(c->n, 200);
	assert_int_equal(c->uids[199], 200);
	assert_int_equal(mbox_status(f->acct, "Inbox").uidnext, 201);
	free(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_flags_modseq),
		T(test_keyword_limits),
		T(test_unchangedsince),
		T(test_expunge_vanished),
		T(test_copy_move),
		T(test_fts),
		T(test_deliver_fd),
		T(test_open_survives_expunge),
		T(test_list_batches),
		T(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
