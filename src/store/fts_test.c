/* fts_test.c: the trigram body index (fts.c): substring candidates never
 * miss a message holding the text, the index rules messages out, what it
 * cannot vouch for is always a candidate, and the upgrade from the word
 * index of schema version 1 indexes existing messages again. */
#include "store/store.h"
#include "store/testutil.h"

#include "message/message.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>

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

/* Delivers a raw message as SMTP delivery and APPEND do: parsed, summarized. */
static uint32_t deliver_raw(struct store_account *acct, const char *raw)
{
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	struct message *m = message_parse(a, raw, strlen(raw), NULL);
	struct message_summary sum;
	message_summarize(a, m, true, STORE_FTS_TEXT_MIN, &sum);
	struct store_delivery d = {0};
	store_delivery_summary(&d, &sum);
	struct store_delivered res;
	struct error err;
	if (store_deliver(acct, &d, raw, strlen(raw), &res, &err) != 0)
		fail_msg("deliver: %s", err.msg);
	arena_free(&a);
	return res.uid;
}

static uint32_t deliver_body(struct store_account *acct, const char *charset, const char *body)
{
	char *raw;
	if (asprintf(&raw, "From: a@example.org\r\nSubject: s\r\nContent-Type: text/plain;"
	             " charset=%s\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", charset,
	             body) < 0)
		abort();
	uint32_t uid = deliver_raw(acct, raw);
	free(raw);
	return uid;
}

static bool has_uid(const struct store_uids *u, uint32_t uid)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->v[i] == uid)
			return true;
	return false;
}

static size_t candidates(struct store_account *a, const char *text, struct store_uids *u)
{
	struct error err;
	u->n = 0;
	if (store_search_substring(a, mbox_id(a, "Inbox"), text, u, &err) != 0)
		fail_msg("search %s: %s", text, err.msg);
	return u->n;
}

static void test_substring(void **state)
{
	struct fixture *f = *state;
	uint32_t a = deliver_body(f->acct, "us-ascii", "asdfghjkl zxcvbnm");
	uint32_t b = deliver_body(f->acct, "us-ascii", "qwertyuiop zxcvbnm");
	uint32_t c = deliver_body(f->acct, "utf-8", "Ärger über Öl, ΣΟΦΙΑ и Москва");
	struct store_uids u = {0};
	/* RFC 9051 §6.4.4: a substring inside a word, in any case */
	assert_int_equal(candidates(f->acct, "sdfghjk", &u), 1);
	assert_int_equal(u.v[0], a);
	assert_int_equal(candidates(f->acct, "XCVBN", &u), 2);
	assert_int_equal(candidates(f->acct, "ERTYUI", &u), 1);
	assert_int_equal(u.v[0], b);
	assert_int_equal(candidates(f->acct, "nothing here", &u), 0);
	/* non-ASCII letters fold too */
	assert_int_equal(candidates(f->acct, "äRGER", &u), 1);
	assert_int_equal(u.v[0], c);
	assert_int_equal(candidates(f->acct, "σοφια", &u), 1);
	assert_int_equal(candidates(f->acct, "МОСКВ", &u), 1);
	/* FTS5 syntax is text */
	const char *hostile[] = {"\"zxc", "NEAR(zxcv", "zxc*", "-zxcvb", "a\"\"b", "\"\"\"", "(((",
	                         "zxcvbnm OR qwe", "text:zxc", "^zxc"};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		candidates(f->acct, hostile[i], &u);
	assert_int_equal(candidates(f->acct, "NEAR(zxcv", &u), 0);
	store_uids_free(&u);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	deliver_body(f->acct, "us-ascii", "hello");
	struct store_uids u = {0};
	struct error err;
	int64_t inbox = mbox_id(f->acct, "Inbox");
	const char *bad[] = {"", "ab", "é", "\xc3", "ab\xff", "\xc0\xafxyz", "\xed\xa0\x80zz"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_search_substring(f->acct, inbox, bad[i], &u, &err), -1);
		assert_int_equal(err.kind, ERR_INVALID);
	}
	assert_int_equal(u.n, 0);
	/* three characters of two bytes each are enough */
	assert_int_equal(store_search_substring(f->acct, inbox, "éèê", &u, &err), 0);
	store_uids_free(&u);
}

/* What the index cannot vouch for is always a candidate. */
static void test_unvouched(void **state)
{
	struct fixture *f = *state;
	struct error err;
	struct store_delivery none = {.subject = "no body text given"};
	struct store_delivered res;
	const char *raw = "Subject: x\r\n\r\nunique words\r\n";
	assert_int_equal(store_deliver(f->acct, &none, raw, strlen(raw), &res, &err), 0);
	uint32_t no_text = res.uid;
	/* a file larger than the index vouches for */
	size_t big = STORE_FTS_WHOLE_FILE_MAX + 100;
	char *large = malloc(big + 1);
	memset(large, 'x', big);
	memcpy(large, "Subject: big\r\n\r\n", 16);
	large[big] = '\0';
	uint32_t large_uid = deliver_raw(f->acct, large);
	free(large);
	uint32_t plain = deliver_body(f->acct, "us-ascii", "ordinary");
	struct store_uids u = {0};
	assert_int_equal(candidates(f->acct, "qqqzzz", &u), 2);
	assert_true(has_uid(&u, no_text));
	assert_true(has_uid(&u, large_uid));
	assert_false(has_uid(&u, plain));
	assert_int_equal(candidates(f->acct, "rdinar", &u), 3);
	store_uids_free(&u);
}

/* For random substrings of indexed texts, the candidates hold the message. */
static void test_property(void **state)
{
	struct fixture *f = *state;
	static const char *const pieces[] = {"a", "b", "c", "d", "e", " ", "\"", "*", "é", "É",
	                                     "ß", "ω", "Ω", "Ж", "ж", "€", "中", "😀", "-", "q"};
	const size_t np = sizeof(pieces) / sizeof(pieces[0]);
	enum { MESSAGES = 30, TEXT = 300, PROBES = 40 };
	srand(12345);
	char *texts[MESSAGES];
	uint32_t uids[MESSAGES];
	for (int i = 0; i < MESSAGES; i++) {
		struct buf t;
		buf_init(&t, BUF_UNBOUNDED);
		for (int k = 0; k < TEXT; k++)
			buf_append_str(&t, pieces[(size_t)rand() % np]);
		buf_append_char(&t, '\0');
		texts[i] = strdup(t.data);
		buf_free(&t);
		uids[i] = deliver_body(f->acct, "utf-8", texts[i]);
	}
	struct store_uids u = {0};
	size_t ruled_out = 0;
	for (int i = 0; i < MESSAGES; i++) {
		const char *t = texts[i];
		size_t n = strlen(t);
		for (int p = 0; p < PROBES; p++) {
			/* a substring starting and ending on character boundaries */
			size_t a = (size_t)rand() % n, len = 3 + (size_t)rand() % 25;
			while (a > 0 && ((unsigned char)t[a] & 0xc0) == 0x80)
				a--;
			size_t b = a, chars = 0;
			while (b < n && chars < len) {
				b++;
				while (b < n && ((unsigned char)t[b] & 0xc0) == 0x80)
					b++;
				chars++;
			}
			if (chars < 3)
				continue;
			char needle[256];
			size_t nl = b - a < sizeof(needle) - 1 ? b - a : 0;
			if (nl == 0)
				continue;
			memcpy(needle, t + a, nl);
			needle[nl] = '\0';
			/* change ASCII case: the search ignores it */
			for (size_t k = 0; k < nl; k++)
				if (needle[k] >= 'a' && needle[k] <= 'e' && (rand() & 1))
					needle[k] = (char)(needle[k] - 32);
			candidates(f->acct, needle, &u);
			if (!has_uid(&u, uids[i]))
				fail_msg("substring \"%s\" of message %u not a candidate", needle, uids[i]);
			ruled_out += MESSAGES - u.n;
		}
	}
	assert_true(ruled_out > 0);  /* the index does rule messages out */
	for (int i = 0; i < MESSAGES; i++)
		free(texts[i]);
	store_uids_free(&u);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* An account of schema version 1 (the word index, as tern made it) is
 * upgraded: its messages are found by substring afterwards. */
static void test_upgrade(void **state)
{
	struct fixture *f = *state;
	uint32_t a = deliver_body(f->acct, "us-ascii", "asdfghjkl zxcvbnm");
	uint32_t b = deliver_body(f->acct, "utf-8", "Grüße aus Köln");
	/* a file just below the size the index vouches for, read whole */
	size_t n = STORE_FTS_WHOLE_FILE_MAX - 200;
	char *large = malloc(n + 1);
	memset(large, 'y', n);
	memcpy(large + n - 12, " endmarker\r\n", 12);
	large[n] = '\0';
	uint32_t l = deliver_body(f->acct, "us-ascii", large);
	free(large);
	store_close(&f->acct);
	char path[256];
	snprintf(path, sizeof(path), "%s/accounts/alice/index.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "BEGIN;"
	         "DROP TABLE fts_body;"
	         "CREATE VIRTUAL TABLE fts_body USING fts5(text, content='', detail=none,"
	         " columnsize=0);"
	         "INSERT INTO fts_body (rowid, text) SELECT id, 'asdfghjkl zxcvbnm' FROM content;"
	         "ALTER TABLE content DROP COLUMN body_indexed;"
	         "UPDATE schema_version SET version = 1;"
	         "COMMIT;");
	sqlite3_close(db);
	struct error err;
	assert_int_equal(store_open(f->dir, "alice", &f->acct, &err), 0);
	struct store_uids u = {0};
	assert_int_equal(candidates(f->acct, "SDFGH", &u), 1);
	assert_int_equal(u.v[0], a);
	assert_int_equal(candidates(f->acct, "RÜßE", &u), 1);
	assert_int_equal(u.v[0], b);
	assert_int_equal(candidates(f->acct, "nowhere", &u), 0);
	assert_int_equal(candidates(f->acct, "endmarke", &u), 1);
	assert_int_equal(u.v[0], l);
	/* new deliveries go on into the new index */
	uint32_t c = deliver_body(f->acct, "us-ascii", "after the upgrade");
	assert_int_equal(candidates(f->acct, "upgrad", &u), 1);
	assert_int_equal(u.v[0], c);
	store_uids_free(&u);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_true(query_int(db, "SELECT version FROM schema_version") >= 2);
	assert_int_equal(query_int(db, "SELECT count(*) FROM content WHERE body_indexed = 1"), 4);
	sqlite3_close(db);
	/* the database is still sound */
	struct store_verify_opts vo = {0};
	struct store_verify_report rep;
	assert_int_equal(store_verify(f->acct, &vo, &rep, &err), 0);
	assert_true(rep.db_ok);
	store_verify_report_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_substring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unvouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
