/* count_test.c: STATUS DELETED counts and the quota getter (count.c), and
 * the summary mapping of deliveries (summary.c). */
#include "store/store.h"
#include "store/testutil.h"

#include "message/message.h"

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

static void test_count_deleted(void **state)
{
	struct fixture *f = *state;
	struct error err;
	uint64_t n = 99;
	int64_t inbox = mbox_id(f->acct, "Inbox");
	assert_int_equal(store_mailbox_count_deleted(f->acct, inbox, &n, &err), 0);
	assert_int_equal(n, 0);
	put(f->acct, "Inbox", "a", STORE_FLAG_DELETED);
	put(f->acct, "Inbox", "b", STORE_FLAG_SEEN);
	uint32_t c = put(f->acct, "Inbox", "c", STORE_FLAG_DELETED | STORE_FLAG_SEEN);
	assert_int_equal(store_mailbox_count_deleted(f->acct, inbox, &n, &err), 0);
	assert_int_equal(n, 2);
	struct store_uidrange r = {c, c};
	assert_int_equal(store_flags_update(f->acct, inbox, &r, 1, STORE_FLAGS_REMOVE,
	                                    STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &err), 0);
	assert_int_equal(store_mailbox_count_deleted(f->acct, inbox, &n, &err), 0);
	assert_int_equal(n, 1);
	/* Other mailboxes are not counted. */
	assert_int_equal(store_mailbox_create(f->acct, "Other", 0, &err), 0);
	put(f->acct, "Other", "d", STORE_FLAG_DELETED);
	assert_int_equal(store_mailbox_count_deleted(f->acct, inbox, &n, &err), 0);
	assert_int_equal(n, 1);
}

static void test_get_quota(void **state)
{
	struct fixture *f = *state;
	uint64_t b = 1, m = 1;
	store_get_quota(f->acct, &b, &m);
	assert_int_equal(b, 0);
	assert_int_equal(m, 0);
	store_set_quota(f->acct, 1048576, 10);
	store_get_quota(f->acct, &b, &m);
	assert_int_equal(b, 1048576);
	assert_int_equal(m, 10);
}

static void test_delivery_summary(void **state)
{
	(void)state;
	struct message_summary s = {
		.subject = "Hi", .from = "A <a@x>", .message_id = "<1@x>", .date = 7,
		.addresses = "a@x", .body = "text", .structure = "L", .structure_len = 1,
	};
	struct store_delivery d = {.mailbox = "Inbox"};
	store_delivery_summary(&d, &s);
	assert_string_equal(d.subject, "Hi");
	assert_string_equal(d.from, "A <a@x>");
	assert_string_equal(d.message_id, "<1@x>");
	assert_int_equal(d.date, 7);
	assert_string_equal(d.fts_addresses, "a@x");
	assert_string_equal(d.fts_body, "text");
	assert_int_equal(d.structure_len, 1);
	assert_string_equal(d.mailbox, "Inbox");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_count_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_quota, setup, teardown),
		cmocka_unit_test(test_delivery_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
