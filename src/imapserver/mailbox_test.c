/*
 * mailbox_test.c: LIST (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258,
 * LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154), LSUB, STATUS, CREATE,
 * DELETE, RENAME, SUBSCRIBE, NAMESPACE and GETQUOTA/GETQUOTAROOT/SETQUOTA
 * (mailbox.c, quota.c), byte for byte over a socketpair.
 */
#include "imapserver/cmdtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void ok(struct cmdtest *t, const char *line)
{
	const char *out = cmdtest_run(t, line);
	if (strstr(out, " OK ") == NULL)
		fail_msg("%s -> %s", line, out);
}

/* The mailboxes of RFC 5258 §5's examples: INBOX, Fruit with Apple and
 * Banana, Tofu, Vegetable with Broccoli and Corn; subscribed INBOX,
 * Fruit/Banana, Fruit/Peach (which no longer exists), Vegetable and
 * Vegetable/Broccoli. tern's default mailboxes other than INBOX go. */
static void rfc5258_mailboxes(struct cmdtest *t)
{
	const char *gone[] = { "Archive", "Drafts", "Junk", "Sent", "Trash" };
	for (size_t i = 0; i < 5; i++) {
		char line[64];
		snprintf(line, sizeof(line), "A DELETE %s", gone[i]);
		ok(t, line);
		snprintf(line, sizeof(line), "A UNSUBSCRIBE %s", gone[i]);
		ok(t, line);
	}
	const char *cmds[] = {
		"A CREATE Fruit", "A CREATE Fruit/Apple", "A CREATE Fruit/Banana",
		"A CREATE Fruit/Peach", "A CREATE Tofu", "A CREATE Vegetable",
		"A CREATE Vegetable/Broccoli", "A CREATE Vegetable/Corn", "A SUBSCRIBE INBOX",
		"A SUBSCRIBE Fruit/Banana", "A SUBSCRIBE Fruit/Peach", "A SUBSCRIBE Vegetable",
		"A SUBSCRIBE Vegetable/Broccoli", "A DELETE Fruit/Peach",
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		ok(t, cmds[i]);
}

static void test_list_defaults(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A1 LIST \"\" *"),
		"* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n"
		"* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"
		"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		"* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
		"* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
		"A1 OK LIST completed\r\n");
}

/* RFC 9051 §6.3.9: LIST "" "" gives the delimiter. */
static void test_list_delimiter(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A101 LIST \"\" \"\""),
		"* LIST (\\Noselect) \"/\" \"\"\r\nA101 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A102 LIST Fruit \"\""),
		"* LIST (\\Noselect) \"/\" \"\"\r\nA102 OK LIST completed\r\n");
}

/* RFC 9051 §6.3.9: "%" stops at the delimiter, "*" does not; the reference
 * is prefixed; INBOX matches in any case. */
static void test_list_wildcards(void **state)
{
	struct cmdtest *t = *state;
	rfc5258_mailboxes(t);
	assert_string_equal(cmdtest_run(t, "A1 LIST \"\" %"),
		"* LIST (\\HasChildren) \"/\" Fruit\r\n"
		"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		"* LIST (\\HasNoChildren) \"/\" Tofu\r\n"
		"* LIST (\\HasChildren) \"/\" Vegetable\r\n"
		"A1 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 LIST Fruit/ %"),
		"* LIST (\\HasNoChildren) \"/\" Fruit/Apple\r\n"
		"* LIST (\\HasNoChildren) \"/\" Fruit/Banana\r\n"
		"A2 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A3 LIST \"\" *o*"),
		"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		"* LIST (\\HasNoChildren) \"/\" Tofu\r\n"
		"* LIST (\\HasNoChildren) \"/\" Vegetable/Broccoli\r\n"
		"* LIST (\\HasNoChildren) \"/\" Vegetable/Corn\r\n"
		"A3 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A4 LIST \"\" inB%"),
		"* LIST (\\HasNoChildren) \"/\" INBOX\r\nA4 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A5 LIST \"\" nothing*"), "A5 OK LIST completed\r\n");
}

/* INBOX's children show as INBOX/...; REMOTE (RFC 5258 §3.1) adds
 * nothing as there are no remote mailboxes; patterns are bounded. */
static void test_list_inbox_children(void **state)
{
	struct cmdtest *t = *state;
	ok(t, "A CREATE inbox/Lists");
	assert_string_equal(cmdtest_run(t, "A1 LIST (REMOTE) \"\" inbox*"),
		"* LIST (\\HasChildren) \"/\" INBOX\r\n"
		"* LIST (\\HasNoChildren) \"/\" INBOX/Lists\r\n"
		"A1 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 LIST INBOX/ %"),
		"* LIST (\\HasNoChildren) \"/\" INBOX/Lists\r\nA2 OK LIST completed\r\n");
	char line[2 * STORE_MAILBOX_NAME_MAX + 64];
	snprintf(line, sizeof(line), "A3 LIST \"\" \"%0*d\"", 2 * STORE_MAILBOX_NAME_MAX + 1, 0);
	assert_string_equal(cmdtest_run(t, line), "A3 BAD LIST pattern longer than 2000 bytes\r\n");
}

static void test_list_match(void **state)
{
	(void)state;
	assert_true(imapsrv_list_match("*", "a/b/c"));
	assert_true(imapsrv_list_match("%", "abc"));
	assert_false(imapsrv_list_match("%", "a/b"));
	assert_true(imapsrv_list_match("a/%/c", "a/b/c"));
	assert_true(imapsrv_list_match("a*c", "a/b/c"));
	assert_false(imapsrv_list_match("a%c", "a/b/c"));
	assert_true(imapsrv_list_match("inbox", "INBOX"));
	assert_true(imapsrv_list_match("Inbox/x", "INBOX/x"));
	assert_false(imapsrv_list_match("inbox/X", "INBOX/x"));
	assert_false(imapsrv_list_match("tofu", "Tofu"));
	assert_true(imapsrv_list_match("**%%*", "x"));
	assert_true(imapsrv_list_match("", ""));
	assert_false(imapsrv_list_match("", "x"));
}

/* Runs of wildcards count as one: a 2000-byte pattern of "*" then "Q"
 * costs a few steps per name character, not 2000. */
static void test_list_match_wildcard_runs(void **state)
{
	(void)state;
	char pat[2001], name[1001];
	memset(pat, '*', 1999);
	strcpy(pat + 1999, "Q");
	memset(name, 'n', 999);
	strcpy(name + 999, "Q");
	uint64_t work = 0;
	assert_true(imapsrv_list_match_work(pat, name, &work));
	assert_true(work <= 3 * 1000);
	name[999] = 'n';
	work = 0;
	assert_false(imapsrv_list_match_work(pat, name, &work));
	assert_true(work <= 3 * 1000);
	/* A run holding "*" crosses "/"; a run of "%" alone does not. */
	assert_true(imapsrv_list_match_work("a%*%b", "a/x/b", &work));
	assert_false(imapsrv_list_match_work("a%%%b", "a/x/b", &work));
	assert_true(imapsrv_list_match_work("a%%%b", "axyb", &work));
	/* A final "*" stops the walk once reached. */
	work = 0;
	assert_true(imapsrv_list_match_work("n*", name, &work));
	assert_true(work <= 3);
}

/* Patterns whose matching would cost more than tern's bound answer NO
 * [LIMIT] before any LIST response is sent. */
static void test_list_match_bounded(void **state)
{
	struct cmdtest *t = *state;
	char name[1001];
	memset(name, 'a', 990);
	for (int i = 0; i < 4; i++) {
		snprintf(name + 990, sizeof(name) - 990, "%d", i);
		char line[1100];
		snprintf(line, sizeof(line), "A CREATE %s", name);
		ok(t, line);
	}
	/* "*a" 1000 times needs 1000 "a": each pattern walks every name whole. */
	struct buf cmd;
	buf_init(&cmd, BUF_UNBOUNDED);
	buf_append_str(&cmd, "A1 LIST \"\" (");
	for (int p = 0; p < 10; p++) {
		buf_append_str(&cmd, p ? " \"" : "\"");
		for (int i = 0; i < 1000; i++)
			buf_append_str(&cmd, "*a");
		buf_append_str(&cmd, "\"");
	}
	buf_append_str(&cmd, ")");
	buf_append(&cmd, "", 1);
	assert_string_equal(cmdtest_run(t, cmd.data),
		"A1 NO [LIMIT] LIST patterns too costly to match against 10 mailboxes: use fewer "
		"wildcards\r\n");
	buf_free(&cmd);
	/* One such pattern stays within the bound. */
	memset(name, 0, sizeof(name));
	strcpy(name, "A2 LIST \"\" \"");
	for (int i = 0; i < 400; i++)
		strcat(name, "*a");
	strcat(name, "*\"");
	const char *out = cmdtest_run(t, name);
	assert_non_null(strstr(out, "A2 OK LIST completed\r\n"));
	assert_non_null(strstr(out, "* LIST (\\HasNoChildren) \"/\" aaaa"));
}

/* After RFC 5258 §5 example 3: SUBSCRIBED lists subscriptions, including
 * one whose mailbox is gone (\NonExistent); tern sorts names bytewise with
 * INBOX as "Inbox". */
static void test_list_subscribed(void **state)
{
	struct cmdtest *t = *state;
	rfc5258_mailboxes(t);
	assert_string_equal(cmdtest_run(t, "A02 LIST (SUBSCRIBED) \"\" *"),
		"* LIST (\\Subscribed \\HasNoChildren) \"/\" Fruit/Banana\r\n"
		"* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" Fruit/Peach\r\n"
		"* LIST (\\Subscribed \\HasNoChildren) \"/\" INBOX\r\n"
		"* LIST (\\Subscribed \\HasChildren) \"/\" Vegetable\r\n"
		"* LIST (\\Subscribed \\HasNoChildren) \"/\" Vegetable/Broccoli\r\n"
		"A02 OK LIST completed\r\n");
	/* RFC 5258 §5 example 4: RETURN (SUBSCRIBED) marks the subscribed ones. */
	assert_string_equal(cmdtest_run(t, "A03 LIST () \"\" % RETURN (SUBSCRIBED CHILDREN)"),
		"* LIST (\\HasChildren) \"/\" Fruit\r\n"
		"* LIST (\\Subscribed \\HasNoChildren) \"/\" INBOX\r\n"
		"* LIST (\\HasNoChildren) \"/\" Tofu\r\n"
		"* LIST (\\Subscribed \\HasChildren) \"/\" Vegetable\r\n"
		"A03 OK LIST completed\r\n");
	/* RFC 5258 §5 example 6: RECURSIVEMATCH shows Fruit for its subscribed
	 * children, with CHILDINFO. */
	assert_string_equal(cmdtest_run(t, "A04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %"),
		"* LIST (\\HasChildren) \"/\" Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
		"* LIST (\\Subscribed \\HasNoChildren) \"/\" INBOX\r\n"
		"* LIST (\\Subscribed \\HasChildren) \"/\" Vegetable (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
		"A04 OK LIST completed\r\n");
	/* Multiple patterns (RFC 5258 §3): each name once. */
	assert_string_equal(cmdtest_run(t, "A05 LIST \"\" (Fruit/* Tofu Fruit/Apple)"),
		"* LIST (\\HasNoChildren) \"/\" Fruit/Apple\r\n"
		"* LIST (\\HasNoChildren) \"/\" Fruit/Banana\r\n"
		"* LIST (\\HasNoChildren) \"/\" Tofu\r\n"
		"A05 OK LIST completed\r\n");
}

/* LSUB (RFC 3501 §6.3.9): an unsubscribed parent that "%" stops at is
 * \Noselect; with "*" it is not shown. */
static void test_lsub(void **state)
{
	struct cmdtest *t = *state;
	rfc5258_mailboxes(t);
	assert_string_equal(cmdtest_run(t, "A1 LSUB \"\" %"),
		"* LSUB (\\Noselect) \"/\" Fruit\r\n"
		"* LSUB () \"/\" INBOX\r\n"
		"* LSUB () \"/\" Vegetable\r\n"
		"A1 OK LSUB completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 LSUB \"\" Fruit/*"),
		"* LSUB () \"/\" Fruit/Banana\r\n"
		"* LSUB (\\Noselect) \"/\" Fruit/Peach\r\n"
		"A2 OK LSUB completed\r\n");
	t->s.out.rev2 = true;
	assert_string_equal(cmdtest_run(t, "A3 LSUB \"\" *"),
		"A3 BAD LSUB is not part of IMAP4rev2: use LIST (SUBSCRIBED)\r\n");
}

/* RFC 6154 §5.3: the SPECIAL-USE selection; CREATE with USE (§3). */
static void test_special_use(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A1 CREATE MySent (USE (\\Sent))"),
		"A1 OK CREATE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 CREATE Everything (USE (\\All))"),
		"A2 NO [USEATTR] \\All is not a special use tern offers\r\n");
	assert_string_equal(cmdtest_run(t, "A3 LIST (SPECIAL-USE) \"\" *S*"),
		"* LIST (\\HasNoChildren \\Sent) \"/\" MySent\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
		"A3 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A4 LIST \"\" Everything"), "A4 OK LIST completed\r\n");
}

/* RFC 5819 §2: a STATUS after each selectable mailbox's LIST line. */
static void test_list_status(void **state)
{
	struct cmdtest *t = *state;
	cmdtest_put(t, "Inbox", "Subject: a\r\n\r\nx\r\n", STORE_FLAG_SEEN, NULL);
	cmdtest_put(t, "Inbox", "Subject: b\r\n\r\ny\r\n", 0, NULL);
	ok(t, "A CREATE Tofu/Soft");
	ok(t, "A DELETE Tofu");
	assert_string_equal(cmdtest_run(t, "A1 LIST \"\" (INBOX Tofu*) RETURN (STATUS (MESSAGES UNSEEN))"),
		"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		"* STATUS INBOX (MESSAGES 2 UNSEEN 1)\r\n"
		"* LIST (\\Noselect \\HasChildren) \"/\" Tofu\r\n"
		"* LIST (\\HasNoChildren) \"/\" Tofu/Soft\r\n"
		"* STATUS Tofu/Soft (MESSAGES 0 UNSEEN 0)\r\n"
		"A1 OK LIST completed\r\n");
}

/* Modified UTF-7 for IMAP4rev1 sessions, UTF-8 for rev2 (RFC 9051 §5.1.3,
 * RFC 3501 §5.1.3 example). */
static void test_list_mutf7(void **state)
{
	struct cmdtest *t = *state;
	ok(t, "A CREATE \"Entw&APw-rfe\"");
	assert_string_equal(cmdtest_run(t, "A1 LIST \"\" Entw*"),
		"* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe\r\nA1 OK LIST completed\r\n");
	t->s.out.imap_flags = IMAP_UTF8;
	t->s.out.rev2 = true;
	assert_string_equal(cmdtest_run(t, "A2 LIST \"\" Entw*"),
		"* LIST (\\HasNoChildren) \"/\" \"Entw\xc3\xbcrfe\"\r\nA2 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A3 STATUS \"Entw\xc3\xbcrfe\" (MESSAGES)"),
		"* STATUS \"Entw\xc3\xbcrfe\" (MESSAGES 0)\r\nA3 OK STATUS completed\r\n");
}

/* RFC 3501 §5.1.3: a name that is not valid modified UTF-7 names no
 * mailbox. It is NO, not BAD: NONEXISTENT where a name is looked up,
 * CANNOT where one would be made; LIST patterns of it match nothing. The
 * same bytes as a UTF-8 name (made after ENABLE UTF8=ACCEPT) are another
 * mailbox, shown to a rev1 client as "&-Jjo". */
static void test_undecodable_names(void **state)
{
	struct cmdtest *t = *state;
	t->s.out.imap_flags = IMAP_UTF8;
	ok(t, "A CREATE &Jjo");
	t->s.out.imap_flags = 0;
	const char *none = " NO [NONEXISTENT] no such mailbox: the mailbox name is not valid "
		"modified UTF-7\r\n";
	const char *cannot = " NO [CANNOT] invalid name: the mailbox name is not valid "
		"modified UTF-7\r\n";
	char want[256];
	struct { const char *cmd; const char *answer; } cases[] = {
		{ "A1 STATUS &Jjo (MESSAGES)", none },
		{ "A1 DELETE &Jjo", none },
		{ "A1 RENAME &Jjo Other", none },
		{ "A1 RENAME Trash &Jjo", cannot },
		{ "A1 CREATE &Jjo", cannot },
		{ "A1 CREATE !#$&'+,-.0123456789:;<=>?@^_`|[}", cannot },
		{ "A1 SUBSCRIBE &Jjo", cannot },
		{ "A1 UNSUBSCRIBE &Jjo", none },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "A1%s", cases[i].answer);
		assert_string_equal(cmdtest_run(t, cases[i].cmd), want);
	}
	assert_string_equal(cmdtest_run(t, "A2 LIST \"\" &Jjo*"), "A2 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 LIST &Jjo *"), "A2 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*"),
		"A2 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A3 LIST \"\" (&Jjo &-Jjo)"),
		"* LIST (\\HasNoChildren) \"/\" &-Jjo\r\nA3 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A4 STATUS &-Jjo (MESSAGES)"),
		"* STATUS &-Jjo (MESSAGES 0)\r\nA4 OK STATUS completed\r\n");
	/* with UTF-8 enabled, bytes that are not UTF-8 are refused alike */
	t->s.out.imap_flags = IMAP_UTF8;
	assert_string_equal(cmdtest_run_raw(t, "A5 STATUS {2}\r\n\xc3\x28 (MESSAGES)", 28),
		"A5 NO [NONEXISTENT] no such mailbox: the mailbox name is not valid UTF-8\r\n");
}

static void test_status(void **state)
{
	struct cmdtest *t = *state;
	cmdtest_put(t, "Inbox", "Subject: a\r\n\r\nx\r\n", STORE_FLAG_SEEN | STORE_FLAG_DELETED, NULL);
	cmdtest_put(t, "Inbox", "Subject: b\r\n\r\nyy\r\n", 0, NULL);
	struct store_mailbox mb = cmdtest_status(t, "Inbox");
	char want[512];
	snprintf(want, sizeof(want),
	         "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY %u UNSEEN 1 DELETED 1 SIZE %llu "
	         "RECENT 2 HIGHESTMODSEQ %llu APPENDLIMIT %u)\r\nA1 OK STATUS completed\r\n",
	         mb.uidvalidity, (unsigned long long)mb.size, (unsigned long long)mb.highestmodseq,
	         IMAP_APPEND_MAX_DEFAULT);
	assert_int_equal(mb.size, 35);
	assert_string_equal(cmdtest_run(t, "A1 STATUS inbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN "
	                                   "DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)"), want);
	assert_string_equal(cmdtest_run(t, "A2 STATUS Nope (MESSAGES)"),
		"A2 NO [NONEXISTENT] no mailbox Nope\r\n");
	ok(t, "A CREATE a/b");
	assert_string_equal(cmdtest_run(t, "A3 DELETE a"), "A3 OK DELETE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A4 STATUS a (MESSAGES)"),
		"A4 NO [NONEXISTENT] a cannot hold messages\r\n");
}

static void test_create(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A1 CREATE owatagusiam/"), "A1 OK CREATE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 CREATE owatagusiam/blurdybloop"),
		"A2 OK CREATE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A3 CREATE owatagusiam"),
		"A3 NO [ALREADYEXISTS] Mailbox owatagusiam already exists\r\n");
	assert_string_equal(cmdtest_run(t, "A4 CREATE inbox"),
		"A4 NO [ALREADYEXISTS] Mailbox INBOX already exists\r\n");
	assert_string_equal(cmdtest_run(t, "A5 CREATE a//b"),
		"A5 NO [CANNOT] empty component in mailbox name\r\n");
	/* Parents are created as needed, as mailboxes (RFC 9051 §6.3.4). */
	assert_string_equal(cmdtest_run(t, "A6 CREATE x/y/z"), "A6 OK CREATE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A7 LIST \"\" x*"),
		"* LIST (\\HasChildren) \"/\" x\r\n"
		"* LIST (\\HasChildren) \"/\" x/y\r\n"
		"* LIST (\\HasNoChildren) \"/\" x/y/z\r\n"
		"A7 OK LIST completed\r\n");
	/* Creating a \Noselect name (left by DELETE) makes it a mailbox again. */
	ok(t, "A DELETE x/y");
	assert_string_equal(cmdtest_run(t, "A8 LIST \"\" x/y"),
		"* LIST (\\Noselect \\HasChildren) \"/\" x/y\r\nA8 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A9 CREATE x/y"), "A9 OK CREATE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A10 LIST \"\" x/y"),
		"* LIST (\\HasChildren) \"/\" x/y\r\nA10 OK LIST completed\r\n");
}

static void test_delete(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A1 DELETE INBOX"),
		"A1 NO [CANNOT] INBOX cannot be deleted (RFC 9051 §6.3.5)\r\n");
	assert_string_equal(cmdtest_run(t, "A2 DELETE nope"),
		"A2 NO [NONEXISTENT] no mailbox nope\r\n");
	ok(t, "A CREATE foo/bar");
	/* RFC 9051 §6.3.5 example: a mailbox with children becomes \Noselect,
	 * and then cannot be deleted while it has them. */
	assert_string_equal(cmdtest_run(t, "A3 DELETE foo"), "A3 OK DELETE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A4 DELETE foo"),
		"A4 NO [HASCHILDREN] mailbox foo has children and no messages\r\n");
	assert_string_equal(cmdtest_run(t, "A5 DELETE foo/bar"), "A5 OK DELETE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A6 LIST \"\" foo*"), "A6 OK LIST completed\r\n");
	/* Deleting the selected mailbox leaves the Selected state. */
	ok(t, "A CREATE sel");
	cmdtest_put(t, "sel", "Subject: x\r\n\r\nx\r\n", 0, NULL);
	cmdtest_select(t, "sel", false);
	assert_string_equal(cmdtest_run(t, "A7 DELETE sel"),
		"* OK [CLOSED] The selected mailbox was deleted\r\nA7 OK DELETE completed\r\n");
	assert_null(t->s.sel);
	assert_int_equal(t->s.state, IMAPSRV_AUTHENTICATED);
}

static void test_rename(void **state)
{
	struct cmdtest *t = *state;
	ok(t, "A CREATE blurdybloop");
	ok(t, "A CREATE foo/bar/zap");
	/* RFC 9051 §6.3.6 example. */
	assert_string_equal(cmdtest_run(t, "A683 RENAME blurdybloop sarasoop"),
		"A683 OK RENAME completed\r\n");
	assert_string_equal(cmdtest_run(t, "A684 RENAME foo zowie"), "A684 OK RENAME completed\r\n");
	assert_string_equal(cmdtest_run(t, "A685 LIST \"\" zowie*"),
		"* LIST (\\HasChildren) \"/\" zowie\r\n"
		"* LIST (\\HasChildren) \"/\" zowie/bar\r\n"
		"* LIST (\\HasNoChildren) \"/\" zowie/bar/zap\r\n"
		"A685 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A686 LIST \"\" foo*"), "A686 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A1 RENAME nope x"), "A1 NO [NONEXISTENT] no mailbox nope\r\n");
	assert_string_equal(cmdtest_run(t, "A2 RENAME sarasoop zowie"),
		"A2 NO [ALREADYEXISTS] Mailbox zowie already exists\r\n");
	/* Renaming INBOX moves its messages and leaves it empty. */
	cmdtest_put(t, "Inbox", "Subject: x\r\n\r\nx\r\n", 0, NULL);
	assert_string_equal(cmdtest_run(t, "A3 RENAME INBOX old-mail"), "A3 OK RENAME completed\r\n");
	assert_int_equal(cmdtest_status(t, "Inbox").messages, 0);
	assert_int_equal(cmdtest_status(t, "old-mail").messages, 1);
	/* The selected mailbox follows a rename of its parent. */
	cmdtest_select(t, "zowie/bar/zap", false);
	ok(t, "A RENAME zowie/bar zowie/baz");
	assert_string_equal(t->s.sel->name, "zowie/baz/zap");
}

static void test_subscribe_namespace(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A1 SUBSCRIBE #news.comp.mail.mime"),
		"A1 OK SUBSCRIBE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 LIST (SUBSCRIBED) \"\" #*"),
		"* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" #news.comp.mail.mime\r\n"
		"A2 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A3 UNSUBSCRIBE #news.comp.mail.mime"),
		"A3 OK UNSUBSCRIBE completed\r\n");
	assert_string_equal(cmdtest_run(t, "A4 LIST (SUBSCRIBED) \"\" #*"), "A4 OK LIST completed\r\n");
	assert_string_equal(cmdtest_run(t, "A5 NAMESPACE"),
		"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nA5 OK NAMESPACE completed\r\n");
}

/* RFC 9208 §4: one root "", limits from the configuration. */
static void test_quota(void **state)
{
	struct cmdtest *t = *state;
	assert_string_equal(cmdtest_run(t, "A1 GETQUOTAROOT INBOX"),
		"* QUOTAROOT INBOX\r\nA1 OK GETQUOTAROOT completed\r\n");
	assert_string_equal(cmdtest_run(t, "A2 GETQUOTA \"\""),
		"A2 NO [NONEXISTENT] No such quota root\r\n");
	store_set_quota(t->s.acct, 10 * 1024 * 1024, 0);
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cmdtest_put(t, "Inbox", big, 0, NULL);
	assert_string_equal(cmdtest_run(t, "A3 GETQUOTAROOT inbox"),
		"* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 2 10240)\r\n"
		"A3 OK GETQUOTAROOT completed\r\n");
	store_set_quota(t->s.acct, 10 * 1024 * 1024, 500);
	assert_string_equal(cmdtest_run(t, "A4 GETQUOTA \"\""),
		"* QUOTA \"\" (STORAGE 2 10240 MESSAGE 1 500)\r\nA4 OK GETQUOTA completed\r\n");
	assert_string_equal(cmdtest_run(t, "A5 GETQUOTA other"),
		"A5 NO [NONEXISTENT] No such quota root\r\n");
	assert_string_equal(cmdtest_run(t, "A6 SETQUOTA \"\" (STORAGE 512)"),
		"A6 NO [NOPERM] Quota limits are set in the configuration\r\n");
	assert_string_equal(cmdtest_run(t, "A7 GETQUOTAROOT nope"),
		"A7 NO [NONEXISTENT] no mailbox nope\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_defaults, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_list_delimiter, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_list_wildcards, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_list_inbox_children, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test(test_list_match),
		cmocka_unit_test(test_list_match_wildcard_runs),
		cmocka_unit_test_setup_teardown(test_list_match_bounded, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_list_subscribed, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_lsub, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_special_use, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_list_status, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_list_mutf7, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_undecodable_names, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_status, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_create, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_delete, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_rename, cmdtest_setup, cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_subscribe_namespace, cmdtest_setup,
		                                cmdtest_teardown),
		cmocka_unit_test_setup_teardown(test_quota, cmdtest_setup, cmdtest_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
