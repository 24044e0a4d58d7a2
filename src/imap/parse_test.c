/*
 * parse_test.c: IMAP command parsing (parse.c): the command examples of
 * RFC 9051 §6 (each line parses to the expected form), the extension
 * examples (RFC 7162, 5258, 5819, 6154, 5256, 9208, 2971, 4978, 8508,
 * 3516, 6855), rev1 forms of RFC 3501, and refusals.
 */
#include "imap/imap.h"

#include "core/arena.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static struct arena *A;
static struct imap_command C;
static struct error E;

static int setup(void **state)
{
	A = arena_new(4096, ARENA_PLAIN);
	return 0;
}

static int teardown(void **state)
{
	arena_free(&A);
	return 0;
}

static void okf(const char *line, unsigned flags, enum imap_cmd cmd)
{
	if (imap_command_parse(line, strlen(line), flags, 0, 0, A, &C, &E) < 0)
		fail_msg("%s: %s", line, E.msg);
	if (C.cmd != cmd)
		fail_msg("%s: got %s", line, imap_cmd_name(C.cmd));
}

static void ok(const char *line, enum imap_cmd cmd)
{
	okf(line, 0, cmd);
}

static void refused(const char *line, unsigned flags)
{
	if (imap_command_parse(line, strlen(line), flags, 0, 0, A, &C, &E) == 0)
		fail_msg("%s: accepted", line);
}

/* RFC 9051 §6.1, §6.2 */
static void test_any_state(void **state)
{
	ok("abcd CAPABILITY", IMAP_CMD_CAPABILITY);
	assert_string_equal(C.tag, "abcd");
	ok("a002 NOOP", IMAP_CMD_NOOP);
	ok("A023 LOGOUT", IMAP_CMD_LOGOUT);
	ok("a002 STARTTLS", IMAP_CMD_STARTTLS);
	ok("a004 LOGIN joe password", IMAP_CMD_LOGIN);
	ok("a001 LOGIN SMITH SESAME", IMAP_CMD_LOGIN);
	assert_string_equal(C.user, "SMITH");
	assert_string_equal(C.password, "SESAME");
	ok("A001 AUTHENTICATE GSSAPI", IMAP_CMD_AUTHENTICATE);
	assert_string_equal(C.mech, "GSSAPI");
	assert_null(C.initial);
	/* RFC 4959 §3 SASL-IR */
	ok("a002 authenticate plain AGZyZWQAdGVzdA==", IMAP_CMD_AUTHENTICATE);
	assert_string_equal(C.mech, "PLAIN");
	assert_string_equal(C.initial, "AGZyZWQAdGVzdA==");
	ok("a003 AUTHENTICATE EXTERNAL =", IMAP_CMD_AUTHENTICATE);
	assert_string_equal(C.initial, "");
	ok("a LOGIN {5}\r\nsmith \"se\\\"same\"", IMAP_CMD_LOGIN);
	assert_string_equal(C.user, "smith");
	assert_string_equal(C.password, "se\"same");
	ok("t2 ENABLE CONDSTORE X-GOOD-IDEA", IMAP_CMD_ENABLE);
	assert_int_equal(C.n_words, 2);
	assert_string_equal(C.words[1], "X-GOOD-IDEA");
	ok("a UNAUTHENTICATE", IMAP_CMD_UNAUTHENTICATE);
	ok("a COMPRESS DEFLATE", IMAP_CMD_COMPRESS);
	assert_string_equal(C.mech, "DEFLATE");
	/* RFC 2971 §3.1 */
	ok("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
		IMAP_CMD_ID);
	assert_int_equal(C.n_words, 3);
	assert_string_equal(C.values[2], "Pink Floyd Music Limited");
	ok("a023 ID NIL", IMAP_CMD_ID);
	assert_true(C.id_nil);
	ok("a ID (\"os\" NIL)", IMAP_CMD_ID);
	assert_null(C.values[0]);
	/* RFC 2971 §3.3: 30 pairs of 30-octet fields and 1024-octet values
	 * pass; a 31st pair, a longer field or a longer value is refused */
	{
		char line[40000];
		size_t n = (size_t)snprintf(line, sizeof(line), "a ID (");
		for (int i = 0; i < 31; i++) {
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\"%029d%c\" \"", i ? " " : "",
				i, 'x');
			memset(line + n, 'v', 1024);
			n += 1024;
			line[n++] = '"';
			if (i == 29) {
				memcpy(line + n, ")", 2);
				ok(line, IMAP_CMD_ID);
				assert_int_equal(C.n_words, 30);
				assert_int_equal(strlen(C.values[29]), 1024);
			}
		}
		memcpy(line + n, ")", 2);
		refused(line, 0);
		assert_string_equal(E.msg, "ID: more than 30 field-value pairs");
	}
	refused("a ID (\"a234567890123456789012345678901\" NIL)", 0);
	assert_string_equal(E.msg, "ID: field longer than 30 octets");
	{
		char line[1200];
		size_t n = (size_t)snprintf(line, sizeof(line), "a ID (\"os\" {1025}\r\n");
		memset(line + n, 'v', 1025);
		memcpy(line + n + 1025, ")", 2);
		refused(line, 0);
		assert_string_equal(E.msg, "ID: value longer than 1024 octets");
	}
}

/* RFC 9051 §6.3 */
static void test_authenticated(void **state)
{
	ok("A142 SELECT INBOX", IMAP_CMD_SELECT);
	assert_string_equal(C.mailbox, "INBOX");
	ok("A142 SELECT inbox", IMAP_CMD_SELECT);
	assert_string_equal(C.mailbox, "INBOX");
	ok("A932 EXAMINE blurdybloop", IMAP_CMD_EXAMINE);
	/* RFC 7162 §3.1.8, §3.2.5.2 */
	ok("a SELECT INBOX (CONDSTORE)", IMAP_CMD_SELECT);
	assert_true(C.select.condstore);
	ok("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
		IMAP_CMD_SELECT);
	assert_true(C.select.qresync);
	assert_int_equal(C.select.uidvalidity, 67890007);
	assert_int_equal(C.select.modseq, UINT64_C(20050715194045000));
	assert_int_equal(C.select.known_uids.n, 3);
	ok("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 "
		"(1:10,20:30 2:5,7:11)))", IMAP_CMD_SELECT);
	assert_int_equal(C.select.match_seq.n, 2);
	assert_int_equal(C.select.match_uid.r[1].last, 11);
	ok("A003 CREATE owatagusiam/", IMAP_CMD_CREATE);
	ok("A004 CREATE owatagusiam/blurdybloop", IMAP_CMD_CREATE);
	/* RFC 6154 §5.2 */
	ok("t1 CREATE \"Important Messages\" (USE (\\Important))", IMAP_CMD_CREATE);
	assert_string_equal(C.mailbox, "Important Messages");
	assert_int_equal(C.n_use, 1);
	assert_string_equal(C.use[0], "\\Important");
	ok("A683 DELETE blurdybloop", IMAP_CMD_DELETE);
	ok("A685 DELETE foo/bar", IMAP_CMD_DELETE);
	ok("A683 RENAME blurdybloop sarasoop", IMAP_CMD_RENAME);
	assert_string_equal(C.mailbox2, "sarasoop");
	ok("Z433 RENAME INBOX old-mail", IMAP_CMD_RENAME);
	ok("A002 SUBSCRIBE #news.comp.mail.mime", IMAP_CMD_SUBSCRIBE);
	assert_string_equal(C.mailbox, "#news.comp.mail.mime");
	ok("A002 UNSUBSCRIBE #news.comp.mail.mime", IMAP_CMD_UNSUBSCRIBE);
	ok("A101 LIST \"\" \"\"", IMAP_CMD_LIST);
	assert_false(C.list.extended);
	ok("A102 LIST #news.comp.mail.misc \"\"", IMAP_CMD_LIST);
	ok("A103 LIST /usr/staff/jones \"\"", IMAP_CMD_LIST);
	ok("A202 LIST ~/Mail/ %", IMAP_CMD_LIST);
	assert_string_equal(C.list.patterns[0], "%");
	ok("A682 LIST \"\" *", IMAP_CMD_LIST);
	ok("A02 LIST (SUBSCRIBED) \"\" \"*\"", IMAP_CMD_LIST);
	assert_int_equal(C.list.select, IMAP_LS_SUBSCRIBED);
	ok("A03 LIST () \"\" \"%\" RETURN (CHILDREN)", IMAP_CMD_LIST);
	assert_int_equal(C.list.ret, IMAP_LR_CHILDREN);
	ok("A04 LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)", IMAP_CMD_LIST);
	ok("A05 LIST (REMOTE SUBSCRIBED) \"\" \"*\"", IMAP_CMD_LIST);
	ok("A06 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"", IMAP_CMD_LIST);
	ok("C04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)", IMAP_CMD_LIST);
	ok("D01 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")", IMAP_CMD_LIST);
	assert_int_equal(C.list.n_patterns, 3);
	assert_string_equal(C.list.patterns[2], "Sent/%");
	/* RFC 5819 §3 */
	ok("A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))", IMAP_CMD_LIST);
	assert_int_equal(C.list.status_items, IMAP_ST_MESSAGES | IMAP_ST_UNSEEN);
	/* RFC 6154 §5.1 */
	ok("t1 LIST (SPECIAL-USE) \"\" \"*\"", IMAP_CMD_LIST);
	ok("t3 LIST \"\" \"%\" RETURN (SPECIAL-USE)", IMAP_CMD_LIST);
	refused("A LIST (RECURSIVEMATCH) \"\" \"%\"", 0);
	ok("A002 LSUB \"#news.\" \"comp.mail.*\"", IMAP_CMD_LSUB);
	ok("A001 NAMESPACE", IMAP_CMD_NAMESPACE);
	ok("A042 STATUS blurdybloop (UIDNEXT MESSAGES)", IMAP_CMD_STATUS);
	assert_int_equal(C.status_items, IMAP_ST_UIDNEXT | IMAP_ST_MESSAGES);
	ok("A STATUS INBOX (SIZE HIGHESTMODSEQ APPENDLIMIT DELETED RECENT UIDVALIDITY UNSEEN)",
		IMAP_CMD_STATUS);
	ok("A001 IDLE", IMAP_CMD_IDLE);
	/* RFC 9208 §4 */
	ok("G0001 GETQUOTA \"!partition/sda4\"", IMAP_CMD_GETQUOTA);
	assert_string_equal(C.name, "!partition/sda4");
	ok("G0002 GETQUOTAROOT INBOX", IMAP_CMD_GETQUOTAROOT);
	ok("S0000 SETQUOTA \"User quota\" (STORAGE 510)", IMAP_CMD_SETQUOTA);
	assert_int_equal(C.n_quota, 1);
	assert_int_equal(C.quota[0].limit, 510);
	ok("S0001 SETQUOTA \"User quota\" ()", IMAP_CMD_SETQUOTA);
}

/* RFC 9051 §6.3.12 APPEND; RFC 3502, RFC 3516, RFC 6855 */
static void test_append(void **state)
{
	const char *msg = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
		"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
		"Subject: afternoon meeting\r\n"
		"To: mooch@owatagu.siam.edu.example\r\n"
		"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
		"\r\n"
		"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
	char line[1024];
	snprintf(line, sizeof line, "A003 APPEND saved-messages (\\Seen) {%zu}\r\n%s",
		strlen(msg), msg);
	ok(line, IMAP_CMD_APPEND);
	assert_string_equal(C.mailbox, "saved-messages");
	assert_int_equal(C.n_msgs, 1);
	assert_int_equal(C.msgs[0].n_flags, 1);
	assert_int_equal(C.msgs[0].size, strlen(msg));
	assert_memory_equal(C.msgs[0].data, msg, strlen(msg));
	ok("a APPEND INBOX (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" {3}\r\nabc"
		" {2+}\r\nde", IMAP_CMD_APPEND);
	assert_int_equal(C.n_msgs, 2);
	assert_true(C.msgs[0].has_date);
	assert_int_equal(C.msgs[0].date.zone_min, -480);
	assert_int_equal(C.msgs[0].date.date.month, 2);
	assert_int_equal(C.msgs[1].size, 2);
	static const char bin[] = "a APPEND INBOX ~{5}\r\na\0b\0c";
	if (imap_command_parse(bin, sizeof bin - 1, 0, 0, 0, A, &C, &E) < 0)
		fail_msg("%s", E.msg);
	assert_true(C.msgs[0].binary);
	assert_memory_equal(C.msgs[0].data, "a\0b\0c", 5);
	ok("a APPEND INBOX UTF8 (~{3}\r\nxyz)", IMAP_CMD_APPEND);
	assert_true(C.msgs[0].utf8);
	/* RFC 8508 §3 */
	ok("B00 REPLACE 3 Drafts (\\Seen \\Draft) {3}\r\nabc", IMAP_CMD_REPLACE);
	ok("B01 UID REPLACE 35 Drafts {3}\r\nabc", IMAP_CMD_REPLACE);
	assert_true(C.uid);
	assert_int_equal(C.set.r[0].first, 35);
	/* RFC 8508 §6: seq-number, so "*" (kept as 0) */
	ok("B02 REPLACE * Drafts {3}\r\nabc", IMAP_CMD_REPLACE);
	assert_int_equal(C.set.r[0].first, 0);
	ok("B03 UID REPLACE * Drafts {3}\r\nabc", IMAP_CMD_REPLACE);
	assert_int_equal(C.set.r[0].first, 0);
	refused("B04 REPLACE 0 Drafts {3}\r\nabc", 0);
	refused("a APPEND INBOX {3}\r\na\0c", 0);        /* NUL needs literal8 */
	refused("a LOGIN ~{3}\r\nabc x", 0);             /* literal8 only in APPEND */
	refused("a APPEND INBOX (\\Seen)", 0);
}

/* RFC 9051 §6.4 */
static void test_selected(void **state)
{
	ok("A341 CLOSE", IMAP_CMD_CLOSE);
	ok("A342 UNSELECT", IMAP_CMD_UNSELECT);
	ok("A202 EXPUNGE", IMAP_CMD_EXPUNGE);
	ok("A202 UID EXPUNGE 3000:3002", IMAP_CMD_EXPUNGE);
	assert_true(C.uid);
	assert_int_equal(C.set.r[0].first, 3000);
	ok("a CHECK", IMAP_CMD_CHECK);

	ok("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
		IMAP_CMD_SEARCH);
	assert_true(C.search.esearch);
	assert_int_equal(C.search.ret, IMAP_SR_MIN | IMAP_SR_COUNT);
	assert_int_equal(C.search.key->n, 3);
	assert_int_equal(C.search.key->list[1]->kind, IMAP_SK_SINCE);
	assert_int_equal(C.search.key->list[1]->date.year, 1994);
	assert_int_equal(C.search.key->list[2]->kind, IMAP_SK_NOT);
	assert_string_equal(C.search.key->list[2]->a->str, "Smith");
	ok("A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", IMAP_CMD_SEARCH);
	assert_true(C.search.esearch);
	assert_int_equal(C.search.ret, 0);
	ok("A284 SEARCH TEXT \"string not in mailbox\"", IMAP_CMD_SEARCH);
	ok("A285 SEARCH CHARSET UTF-8 TEXT {12}\r\n\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
		IMAP_CMD_SEARCH);
	assert_string_equal(C.search.charset, "UTF-8");
	ok("A286 SEARCH CHARSET US-ASCII TEXT \"abc\"", IMAP_CMD_SEARCH);
	ok("A301 SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM \"Smith\" UID 100:*",
		IMAP_CMD_SEARCH);
	assert_int_equal(C.search.key->list[2]->set.r[0].last, 0);
	ok("A290 FETCH $ (UID FLAGS)", IMAP_CMD_FETCH);
	assert_true(C.fetch.set.saved);
	ok("a SEARCH OR (SEEN FLAGGED) (NOT (KEYWORD $Junk OLD)) 1:3,5,*", IMAP_CMD_SEARCH);
	assert_int_equal(C.search.key->list[0]->kind, IMAP_SK_OR);
	assert_int_equal(C.search.key->list[1]->kind, IMAP_SK_SEQSET);
	ok("a SEARCH ALL ANSWERED BCC x BEFORE 1-Jan-2000 BODY y CC z DELETED DRAFT FLAGGED "
		"FROM a HEADER Message-ID \"<x@y>\" KEYWORD k LARGER 10 NEW OLD ON \"1-Jan-2000\" "
		"RECENT SEEN SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 "
		"SINCE 1-Jan-2000 SMALLER 5 SUBJECT s TEXT t TO u UID 1:* UNANSWERED UNDELETED "
		"UNDRAFT UNFLAGGED UNKEYWORD k UNSEEN", IMAP_CMD_SEARCH);
	assert_int_equal(C.search.key->n, 33);
	/* RFC 7162 §3.1.5, RFC 8514, RFC 5032 */
	ok("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338", IMAP_CMD_SEARCH);
	assert_string_equal(C.search.key->list[0]->str, "/flags/\\draft");
	assert_int_equal(C.search.key->list[0]->num, 620162338);
	ok("a SEARCH MODSEQ 720162338", IMAP_CMD_SEARCH);
	ok("a SEARCH SAVEDBEFORE 1-Jan-2020 SAVEDON 1-Jan-2020 SAVEDSINCE 1-Jan-2020 "
		"SAVEDATESUPPORTED OLDER 3600 YOUNGER 60", IMAP_CMD_SEARCH);
	assert_int_equal(C.search.key->list[4]->kind, IMAP_SK_OLDER);

	ok("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])", IMAP_CMD_FETCH);
	assert_int_equal(C.fetch.n_atts, 2);
	assert_int_equal(C.fetch.atts[1].kind, IMAP_FA_BODY_SECTION);
	assert_int_equal(C.fetch.atts[1].text, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(C.fetch.atts[1].n_fields, 2);
	assert_string_equal(C.fetch.atts[1].fields[1], "FROM");
	ok("a FETCH 1 (BODY.PEEK[1.2.MIME]<0.100> BINARY[1]<5.10> BINARY.PEEK[2] "
		"BINARY.SIZE[1] BODY[] BODY[TEXT] BODY[3.HEADER.FIELDS.NOT (X)] BODY "
		"BODYSTRUCTURE ENVELOPE INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE "
		"RFC822.TEXT UID MODSEQ SAVEDATE PREVIEW (LAZY))", IMAP_CMD_FETCH);
	assert_int_equal(C.fetch.n_atts, 19);
	assert_true(C.fetch.atts[0].peek);
	assert_string_equal(C.fetch.atts[0].part, "1.2");
	assert_int_equal(C.fetch.atts[0].text, IMAP_SECTION_MIME);
	assert_int_equal(C.fetch.atts[0].count, 100);
	assert_int_equal(C.fetch.atts[1].kind, IMAP_FA_BINARY);
	assert_int_equal(C.fetch.atts[1].offset, 5);
	assert_int_equal(C.fetch.atts[3].kind, IMAP_FA_BINARY_SIZE);
	assert_int_equal(C.fetch.atts[6].text, IMAP_SECTION_HEADER_FIELDS_NOT);
	assert_string_equal(C.fetch.atts[6].part, "3");
	assert_int_equal(C.fetch.atts[7].kind, IMAP_FA_BODY);
	assert_true(C.fetch.atts[18].lazy);
	ok("a FETCH 1:* FAST", IMAP_CMD_FETCH);
	assert_true(C.fetch.macro_fast);
	assert_int_equal(C.fetch.n_atts, 3);
	ok("a FETCH 1 ALL", IMAP_CMD_FETCH);
	assert_true(C.fetch.macro_all);
	assert_int_equal(C.fetch.n_atts, 4);
	ok("a FETCH 1 FULL", IMAP_CMD_FETCH);
	assert_true(C.fetch.macro_full);
	assert_int_equal(C.fetch.n_atts, 5);
	ok("A999 UID FETCH 4827313:4828442 FLAGS", IMAP_CMD_FETCH);
	assert_true(C.uid);
	/* RFC 7162 §3.1.4.2, §3.2.6 */
	ok("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)", IMAP_CMD_FETCH);
	assert_int_equal(C.fetch.changedsince, 12345);
	ok("s101 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)", IMAP_CMD_FETCH);
	assert_true(C.fetch.vanished);
	refused("s102 FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)", 0);
	refused("a FETCH 1 BODY[MIME]", 0);
	refused("a FETCH 1 (FLAGS", 0);

	ok("A003 STORE 2:4 +FLAGS (\\Deleted)", IMAP_CMD_STORE);
	assert_int_equal(C.store.mode, IMAP_STORE_ADD);
	assert_string_equal(C.store.flags[0], "\\Deleted");
	ok("a STORE 1 -FLAGS.SILENT \\Seen $Junk", IMAP_CMD_STORE);
	assert_true(C.store.silent);
	assert_int_equal(C.store.n_flags, 2);
	ok("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)", IMAP_CMD_STORE);
	assert_int_equal(C.store.unchangedsince, 320162338);
	ok("a STORE 1 FLAGS ()", IMAP_CMD_STORE);
	assert_int_equal(C.store.mode, IMAP_STORE_SET);
	ok("A003 COPY 2:4 MEETING", IMAP_CMD_COPY);
	assert_string_equal(C.mailbox, "MEETING");
	ok("a UID MOVE 42:69 foo", IMAP_CMD_MOVE);
	assert_int_equal(C.set.r[0].last, 69);
	ok("A UID COPY 1,3:* Trash", IMAP_CMD_COPY);

	/* RFC 5256 §3, §4 */
	ok("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", IMAP_CMD_SORT);
	assert_string_equal(C.sort[0].key, "SUBJECT");
	ok("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL", IMAP_CMD_SORT);
	assert_true(C.sort[1].reverse);
	ok("A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"", IMAP_CMD_SORT);
	ok("a UID SORT (REVERSE ARRIVAL) UTF-8 ALL", IMAP_CMD_SORT);
	ok("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000", IMAP_CMD_THREAD);
	assert_string_equal(C.thread_alg, "ORDEREDSUBJECT");
	ok("A284 THREAD REFERENCES US-ASCII TEXT \"gewp\"", IMAP_CMD_THREAD);
	refused("a THREAD FOO UTF-8 ALL", 0);
}

static void test_refusals(void **state)
{
	refused("", 0);
	refused("a", 0);
	refused("a+ NOOP", 0);
	refused("a NOOP extra", 0);
	refused("a FROB", 0);
	refused("a UID SELECT INBOX", 0);
	refused("a  NOOP", 0);
	refused("a SEARCH", 0);
	refused("a SEARCH NOT", 0);
	refused("a FETCH 0 FLAGS", 0);
	refused("a FETCH 1 FLAGS (CHANGEDSINCE 99999999999999999999)", 0);
	refused("a SEARCH SINCE 1-Foo-2000", 0);
	refused("a LOGIN \"a\rb\" c", 0);
	refused("a LOGIN \"\xc3\xa9\" c", 0);
	okf("a LOGIN \"\xc3\xa9\" c", IMAP_UTF8, IMAP_CMD_LOGIN);
	/* Nesting and argument limits are ERR_LIMIT. */
	char deep[400];
	strcpy(deep, "a SEARCH ");
	for (int i = 0; i < 40; i++)
		strcat(deep, "(");
	strcat(deep, "ALL");
	for (int i = 0; i < 40; i++)
		strcat(deep, ")");
	refused(deep, 0);
	assert_int_equal(E.kind, ERR_LIMIT);
	char many[8000] = "a SEARCH";
	for (int i = 0; i < 1100; i++)
		strcat(many, " ALL");
	refused(many, 0);
	assert_int_equal(E.kind, ERR_LIMIT);
	char nots[8000] = "a SEARCH";
	for (int i = 0; i < 100; i++)
		strcat(nots, " NOT");
	strcat(nots, " ALL");
	refused(nots, 0);
	assert_int_equal(E.kind, ERR_LIMIT);
}

/* RFC 3501 §5.1.3 and mailbox names with UTF8=ACCEPT. */
static void test_mailbox_names(void **state)
{
	ok("a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-", IMAP_CMD_SELECT);
	assert_string_equal(C.mailbox, "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	assert_int_equal(C.undecodable, 0);
	/* not modified UTF-7: kept as sent and marked, for a NO (RFC 3501
	 * §5.1.3: no mailbox can have such a name) */
	ok("a SELECT &U,BTFw", IMAP_CMD_SELECT);
	assert_string_equal(C.mailbox, "&U,BTFw");
	assert_string_equal(C.select.mailbox, "&U,BTFw");
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX);
	ok("a SELECT \"&AGE-\"", IMAP_CMD_SELECT);      /* "a" encoded */
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX);
	ok("a SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}", IMAP_CMD_SELECT);
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX);
	okf("a SELECT {2}\r\n\xc3\x28", IMAP_UTF8, IMAP_CMD_SELECT);  /* not UTF-8 */
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX);
	refused("a SELECT {3}\r\na\0b", 0);  /* a NUL stays an error */
	ok("a RENAME a &-x", IMAP_CMD_RENAME);
	assert_int_equal(C.undecodable, 0);
	ok("a RENAME &Jjo a", IMAP_CMD_RENAME);
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX);
	ok("a RENAME a &Jjo", IMAP_CMD_RENAME);
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX2);
	/* LIST: a pattern that cannot match is left out */
	ok("a LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*", IMAP_CMD_LIST);
	assert_int_equal(C.list.n_patterns, 0);
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_PATTERN);
	ok("a LIST \"\" (&Jjo INBOX)", IMAP_CMD_LIST);
	assert_int_equal(C.list.n_patterns, 1);
	assert_string_equal(C.list.patterns[0], "INBOX");
	ok("a LIST &Jjo *", IMAP_CMD_LIST);
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_REFERENCE);
	ok("a COPY 1 &Jjo", IMAP_CMD_COPY);
	assert_int_equal(C.undecodable, IMAP_UNDECODABLE_MAILBOX);
	okf("a SELECT \"\xe5\x8f\xb0\"", IMAP_UTF8, IMAP_CMD_SELECT);
	assert_string_equal(C.mailbox, "\xe5\x8f\xb0");
	okf("a SELECT &U,BTFw-", IMAP_UTF8, IMAP_CMD_SELECT);
	assert_string_equal(C.mailbox, "&U,BTFw-");  /* taken as is (RFC 6855 §3) */
	ok("a CREATE Tom&-Jerry", IMAP_CMD_CREATE);
	assert_string_equal(C.mailbox, "Tom&Jerry");
	ok("a LIST \"\" &U,BTFw-/%", IMAP_CMD_LIST);
	assert_string_equal(C.list.patterns[0], "\xe5\x8f\xb0\xe5\x8c\x97/%");
}

static void test_mutf7_roundtrip(void **state)
{
	const char *enc = "~peter/mail/&U,BTFw-/&ZeVnLIqe-", *dec, *back;
	assert_int_equal(imap_mutf7_decode(enc, strlen(enc), A, &dec, &E), 0);
	assert_int_equal(imap_mutf7_encode(dec, strlen(dec), A, &back, &E), 0);
	assert_string_equal(back, enc);
	const char *samples[] = { "", "INBOX", "a&b", "&", "\xc3\xa9t\xc3\xa9",
		"\xf0\x9f\x98\x80 smile", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "x\x7fy",
		"\xc3\xa9\xc3\xa9\xc3\xa9" };
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		const char *e1, *d1;
		assert_int_equal(imap_mutf7_encode(samples[i], strlen(samples[i]), A, &e1, &E), 0);
		for (const char *q = e1; *q; q++)
			assert_true(*q >= 0x20 && *q <= 0x7e);
		if (imap_mutf7_decode(e1, strlen(e1), A, &d1, &E) < 0)
			fail_msg("%s: %s", e1, E.msg);
		assert_string_equal(d1, samples[i]);
	}
	assert_int_equal(imap_mutf7_encode("&", 1, A, &back, &E), 0);
	assert_string_equal(back, "&-");
	assert_int_equal(imap_mutf7_encode("\xff", 1, A, &back, &E), -1);
	assert_int_equal(imap_mutf7_decode("&ZeVnLIqe-&U,BTFw-", 18, A, &dec, &E), -1);
	assert_int_equal(imap_mutf7_decode("&2D3-", 5, A, &dec, &E), -1);   /* lone surrogate */
	assert_int_equal(imap_mutf7_decode("\xc3\xa9", 2, A, &dec, &E), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_any_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutf7_roundtrip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
