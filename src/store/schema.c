/*
 * schema.c: the account database schema and its automatic upgrades.
 *
 * schema_version holds one row, the version applied. Each entry of
 * migrations[] brings the database from version i to i+1 in one transaction;
 * a database newer than this program is refused. To change the schema, append
 * a migration; never edit one that has shipped.
 *
 * Tables (version 1):
 *  account       one row: counters (next UIDVALIDITY, modseq, next content id)
 *                and totals for quota (kept by triggers)
 *  mailbox       name, UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, special-use bits,
 *                \Noselect, counts and size (kept by triggers)
 *  subscription  subscribed names (RFC 9051 §6.3.7)
 *  credentials   one row: the encoded password-derived keys (src/sasl/), never
 *                the password itself
 *  content       one row per message file (message_id is looked up through
 *                message_id_hash, an index a third the size of one on the text):
 *                size, INTERNALDATE, added headers,
 *                parsed structure, envelope fields, delivery metadata. Copies
 *                share a row; its reference count is the number of message
 *                rows naming it (index message_content), so it cannot drift.
 *  message       mailbox, UID, modseq, flags (bits), keywords (text: sorted,
 *                space-separated atoms), SAVEDATE
 *  expunged      (mailbox, UID, modseq) for QRESYNC VANISHED (RFC 7162 §3.2.10)
 *  fts_addresses, fts_body
 *                FTS5 indexes (rowid = content id), contentless and without
 *                positions (detail=none): the smallest index that finds the
 *                messages holding every word of a query (see fts.c); the
 *                subject is searched in content.subject
 *
 * Version 2: fts_body keeps trigrams (tokenize='trigram case_sensitive 0'),
 * so it answers substring searches (RFC 9051 §6.4.4) with a superset, and
 * content.body_indexed says the body text was indexed whole (fts.c). The
 * upgrade indexes again, one message at a time, the files small enough for
 * the index to vouch for (STORE_FTS_WHOLE_FILE_MAX), parsed as delivery
 * parses them (message_summarize); the others are always candidates.
 *
 * Version 3: mailbox.recent_first, the lowest UID that no IMAP session has
 * claimed as \Recent yet (RFC 3501 §2.3.2, store_mailbox_claim_recent). The
 * upgrade starts it at UIDNEXT: messages stored before are not recent.
 *
 * Version 4: header_text, per content row (deleted with it) the texts of
 * the header block as IMAP shows it (added headers, then the file's header;
 * store/summary.c): ENVELOPE and the search headers, for FETCH ENVELOPE and
 * SEARCH FROM/TO/CC/BCC/SUBJECT without reading the file. A table of its
 * own keeps content rows small for the listings that do not want them.
 * Messages stored before have no row, and IMAP reads their files as before.
 */
#include "store/internal.h"

#include "message/message.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char schema_v1[] =
	"CREATE TABLE account ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" next_uidvalidity INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" next_content_id INTEGER NOT NULL,"
	" messages INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE mailbox ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL UNIQUE,"
	" uidnext INTEGER NOT NULL DEFAULT 1,"
	" highestmodseq INTEGER NOT NULL,"
	" special_use INTEGER NOT NULL DEFAULT 0,"
	" noselect INTEGER NOT NULL DEFAULT 0,"
	" messages INTEGER NOT NULL DEFAULT 0,"
	" unseen INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID;"
	"CREATE TABLE credentials ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" line TEXT NOT NULL,"
	" changed INTEGER NOT NULL);"
	"CREATE TABLE content ("
	" id INTEGER PRIMARY KEY,"
	" file_size INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" received INTEGER NOT NULL,"
	" added_headers TEXT NOT NULL DEFAULT '',"
	" structure BLOB,"
	" message_id TEXT, message_id_hash INTEGER, subject TEXT, from_addr TEXT, date INTEGER,"
	" remote_ip TEXT, ehlo TEXT, mail_from TEXT, rcpt_to TEXT,"
	" tls TEXT, spf TEXT, dkim TEXT, dmarc TEXT);"
	"CREATE TABLE message ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mailbox_id INTEGER NOT NULL REFERENCES mailbox(id),"
	" uid INTEGER NOT NULL,"
	" content_id INTEGER NOT NULL REFERENCES content(id),"
	" modseq INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT NOT NULL DEFAULT '',"
	" saved INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" UNIQUE (mailbox_id, uid));"
	"CREATE INDEX message_content ON message(content_id);"
	"CREATE INDEX message_modseq ON message(mailbox_id, modseq);"
	"CREATE INDEX content_message_id ON content(message_id_hash);"
	"CREATE TABLE expunged ("
	" mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE VIRTUAL TABLE fts_addresses USING fts5(text, content='', detail=none, columnsize=0);"
	"CREATE VIRTUAL TABLE fts_body USING fts5(text, content='', detail=none, columnsize=0);"
	/* Counts kept by triggers: they change in the same statement as the rows. */
	"CREATE TRIGGER message_ins AFTER INSERT ON message BEGIN"
	" UPDATE mailbox SET messages = messages + 1, bytes = bytes + NEW.size,"
	"  unseen = unseen + ((NEW.flags & 1) = 0) WHERE id = NEW.mailbox_id;"
	" UPDATE account SET messages = messages + 1, bytes = bytes + NEW.size;"
	"END;"
	"CREATE TRIGGER message_del AFTER DELETE ON message BEGIN"
	" UPDATE mailbox SET messages = messages - 1, bytes = bytes - OLD.size,"
	"  unseen = unseen - ((OLD.flags & 1) = 0) WHERE id = OLD.mailbox_id;"
	" UPDATE account SET messages = messages - 1, bytes = bytes - OLD.size;"
	"END;"
	"CREATE TRIGGER message_upd AFTER UPDATE OF flags, mailbox_id ON message BEGIN"
	" UPDATE mailbox SET messages = messages - 1, bytes = bytes - OLD.size,"
	"  unseen = unseen - ((OLD.flags & 1) = 0) WHERE id = OLD.mailbox_id;"
	" UPDATE mailbox SET messages = messages + 1, bytes = bytes + NEW.size,"
	"  unseen = unseen + ((NEW.flags & 1) = 0) WHERE id = NEW.mailbox_id;"
	"END;";

/* The default mailboxes of a new account and their RFC 6154 attributes. */
static const struct {
	const char *name;
	unsigned special;
} default_mailboxes[] = {
	{"Inbox", 0},
	{"Sent", STORE_SPECIAL_SENT},
	{"Drafts", STORE_SPECIAL_DRAFTS},
	{"Archive", STORE_SPECIAL_ARCHIVE},
	{"Trash", STORE_SPECIAL_TRASH},
	{"Junk", STORE_SPECIAL_JUNK},
};

static int init_v1(struct store_account *a, struct error *err)
{
	if (db_exec(a, schema_v1, err) != 0)
		return -1;
	/* RFC 9051 §2.3.1.1: UIDVALIDITY values must not repeat for a name;
	 * a counter seeded by the clock keeps them unique even if the account
	 * is deleted and made again. */
	int64_t seed = (int64_t)time(NULL) & 0x7fffffff;
	if (db_run(a, err, "INSERT INTO account (id, next_uidvalidity, modseq, next_content_id)"
	           " VALUES (1, ?, 1, 1)", 1, seed) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++) {
		int64_t id;
		if (mbox_insert(a, default_mailboxes[i].name, default_mailboxes[i].special, &id,
		                err) != 0)
			return -1;
		if (db_run(a, err, "INSERT INTO subscription (name) SELECT name FROM mailbox"
		           " WHERE id = ?", 1, id) != 0)
			return -1;
	}
	return 0;
}

/* Reads the file of content id into b (at most STORE_FTS_WHOLE_FILE_MAX
 * bytes: larger files are not asked for). 1 read, 0 missing, -1 error. */
static int read_content(struct store_account *a, int64_t id, struct buf *b, struct error *err)
{
	char path[STORE_PATH_MAX];
	if (account_content_path(a, id, "", path, sizeof(path), err) != 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : error_errno(err, errno, "opening %s", path);
	buf_reset(b);
	int r = 1;
	for (;;) {
		size_t want = buf_room(b) < 16384 ? buf_room(b) : 16384;
		char *dst = want > 0 ? buf_reserve(b, want) : NULL;
		if (dst == NULL) {
			r = error_set(err, ERR_INVALID, "%s is larger than its row says", path);
			break;
		}
		ssize_t n = read(fd, dst, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				r = error_errno(err, errno, "reading %s", path);
			break;
		}
		buf_commit(b, (size_t)n);
	}
	close(fd);
	return r;
}

/* Indexes the body text of one message file again, as delivery does. */
static int reindex_one(struct store_account *a, int64_t id, struct buf *file,
                       struct arena *arena, struct error *err)
{
	int r = read_content(a, id, file, err);
	if (r <= 0)
		return r;  /* a missing file stays unindexed: always a candidate */
	struct message *m = message_parse(arena, file->len > 0 ? file->data : "", file->len, NULL);
	struct message_summary sum;
	message_summarize(arena, m, true, STORE_FTS_TEXT_MIN, &sum);
	struct store_delivery d = {.fts_body = sum.body};
	r = fts_index(a, id, &d, err);
	arena_reset(arena);
	return r;
}

/* Version 2: the body index by trigrams (see the top of this file). */
static int upgrade_v2(struct store_account *a, struct error *err)
{
	int64_t has_column = 0;
	if (db_get(a, err, &has_column, "SELECT count(*) FROM pragma_table_info('content')"
	           " WHERE name = 'body_indexed'", 0) < 0)
		return -1;
	if (db_exec(a, "DROP TABLE fts_body;"
	            "CREATE VIRTUAL TABLE fts_body USING fts5(text, content='', detail=none,"
	            " columnsize=0, tokenize='trigram case_sensitive 0');", err) != 0)
		return -1;
	/* a database marked older than it is (restored by hand) has it already */
	if (db_exec(a, has_column != 0 ? "UPDATE content SET body_indexed = 0"
	            : "ALTER TABLE content ADD COLUMN body_indexed INTEGER NOT NULL DEFAULT 0",
	            err) != 0)
		return -1;
	struct buf file;
	buf_init(&file, STORE_FTS_WHOLE_FILE_MAX + 1);
	struct arena *arena = arena_new(64 * 1024, ARENA_PLAIN);
	int64_t after = 0;
	int r = 0;
	for (;;) {
		/* one id at a time: rows of content change as the walk goes */
		int64_t id;
		int got = db_get(a, err, &id, "SELECT id FROM content WHERE id > ? AND file_size <= ?"
		                 " ORDER BY id LIMIT 1", 2, after, (int64_t)STORE_FTS_WHOLE_FILE_MAX);
		if (got <= 0) {
			r = got;
			break;
		}
		if ((r = reindex_one(a, id, &file, arena, err)) < 0)
			break;
		after = id;
	}
	arena_free(&arena);
	buf_free(&file);
	return r < 0 ? -1 : 0;
}

/* Version 3: who saw a message first, for \Recent (see the top of this file). */
static int upgrade_v3(struct store_account *a, struct error *err)
{
	int64_t has_column = 0;
	if (db_get(a, err, &has_column, "SELECT count(*) FROM pragma_table_info('mailbox')"
	           " WHERE name = 'recent_first'", 0) < 0)
		return -1;
	/* a database marked older than it is (restored by hand) has it already */
	if (has_column == 0 &&
	    db_exec(a, "ALTER TABLE mailbox ADD COLUMN recent_first INTEGER NOT NULL DEFAULT 1",
	            err) != 0)
		return -1;
	return db_exec(a, "UPDATE mailbox SET recent_first = uidnext", err);
}

/* Version 4: header texts (see the top of this file). */
static int upgrade_v4(struct store_account *a, struct error *err)
{
	return db_exec(a, "CREATE TABLE IF NOT EXISTS header_text ("
	               " content_id INTEGER PRIMARY KEY REFERENCES content(id) ON DELETE CASCADE,"
	               " envelope BLOB, search_headers BLOB)", err);
}

typedef int migration_fn(struct store_account *a, struct error *err);

static migration_fn *const migrations[] = {
	init_v1,     /* 0 -> 1 */
	upgrade_v2,  /* 1 -> 2 */
	upgrade_v3,  /* 2 -> 3 */
	upgrade_v4,  /* 3 -> 4 */
};
#define SCHEMA_VERSION ((int64_t)(sizeof(migrations) / sizeof(migrations[0])))

static int current_version(struct store_account *a, int64_t *v, struct error *err)
{
	if (db_exec(a, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
	            err) != 0)
		return -1;
	int r = db_get(a, err, v, "SELECT version FROM schema_version", 0);
	if (r == 0) {
		*v = 0;
		return db_run(a, err, "INSERT INTO schema_version (version) VALUES (0)", 0);
	}
	return r < 0 ? -1 : 0;
}

static int upgrade_step(struct store_account *a, struct error *err)
{
	int64_t v;
	if (current_version(a, &v, err) != 0)
		return -1;
	if (v > SCHEMA_VERSION)
		return error_set(err, ERR_INVALID, "database schema version %lld is newer than "
		                 "this tern (%lld)", (long long)v, (long long)SCHEMA_VERSION);
	if (v == SCHEMA_VERSION)
		return 1;
	if (migrations[v](a, err) != 0) {
		error_prefix(err, "upgrading schema to version %lld", (long long)v + 1);
		return -1;
	}
	if (db_run(a, err, "UPDATE schema_version SET version = ?", 1, v + 1) != 0)
		return -1;
	return 0;
}

int schema_upgrade(struct store_account *a, struct error *err)
{
	for (;;) {
		/* Each step in its own transaction: another process upgrading at
		 * the same time waits, then sees the new version. */
		if (db_begin(a, err) != 0)
			return -1;
		int r = upgrade_step(a, err);
		if (r < 0) {
			db_rollback(a);
			return -1;
		}
		if (db_commit(a, err) != 0)
			return -1;
		if (r == 1)
			return 0;
	}
}
