/*
 * mailbox.c: the mailbox hierarchy (RFC 9051 §5.1, §6.3): names with '/' as
 * separator, create with missing parents, delete, rename with children,
 * subscriptions, RFC 6154 special-use attributes, status.
 *
 * Invariant: every parent of a mailbox exists as a mailbox, possibly
 * \Noselect (a name kept only because it has children). CREATE and RENAME
 * create missing parents as ordinary mailboxes; DELETE of a mailbox with
 * children keeps it as \Noselect; a \Noselect name left without children is
 * removed. INBOX is matched in any case and stored as "Inbox" (RFC 9051 §5.1).
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool inbox_prefix(const char *name)
{
	return strncasecmp(name, "inbox", 5) == 0 && (name[5] == '\0' || name[5] == '/');
}

/* Whether s is well-formed UTF-8 (RFC 3629 §4), no overlongs or surrogates.
 * RFC 9051 §5.1: mailbox names are UTF-8 (the IMAP layer decodes modified
 * UTF-7 for older clients). */
static bool utf8_valid(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned c = *s++;
		int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 :
		           (c & 0xf8) == 0xf0 ? 3 : -1;
		if (more < 0)
			return false;
		unsigned cp = more == 0 ? c : c & (0x3fu >> more);
		for (int i = 0; i < more; i++, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*s & 0x3fu);
		}
		static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

static int check_name_chars(const char *name, struct error *err)
{
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return error_set(err, ERR_INVALID, "control character in mailbox name");
		/* RFC 9051 §6.3.9: '*' and '%' are LIST wildcards; a name holding
		 * them could not be listed exactly. */
		if (*p == '*' || *p == '%')
			return error_set(err, ERR_INVALID, "wildcard in mailbox name");
		if (*p == '/' && (p == (const unsigned char *)name || p[1] == '/' || p[1] == '\0'))
			return error_set(err, ERR_INVALID, "empty component in mailbox name");
	}
	return 0;
}

int store_mailbox_name_canon(const char *name, struct buf *out, struct error *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_MAILBOX_NAME_MAX)
		return error_set(err, ERR_INVALID, "mailbox name empty or longer than %d bytes",
		                 STORE_MAILBOX_NAME_MAX);
	if (check_name_chars(name, err) != 0)
		return -1;
	if (!utf8_valid((const unsigned char *)name))
		return error_set(err, ERR_INVALID, "mailbox name is not UTF-8");
	buf_reset(out);
	if (inbox_prefix(name)) {
		/* RFC 9051 §5.1: INBOX is case-insensitive. */
		buf_append_str(out, "Inbox");
		name += 5;
	}
	if (buf_append_str(out, name) != 0)
		return error_set(err, ERR_INVALID, "mailbox name too long");
	return 0;
}

static int canon(const char *name, struct buf *out, struct error *err)
{
	buf_init(out, STORE_MAILBOX_NAME_MAX);
	if (store_mailbox_name_canon(name, out, err) == 0)
		return 0;
	buf_free(out);
	return -1;
}

/* Runs sql binding ?1 = text s; see db_get for returns. */
static int get_by_text(struct store_account *a, struct error *err, int64_t *out, const char *sql,
                       const char *s)
{
	sqlite3_stmt *st;
	if (db_prepare(a, sql, &st, err) != 0)
		return -1;
	db_bind_text(st, 1, s);
	int r = db_step(a, st, err);
	if (r == 1)
		*out = sqlite3_column_int64(st, 0);
	db_finish(a, st);
	return r;
}

/* Runs sql binding ?1 = t1, ?2 = t2 (if not NULL) else ?2 = i. */
static int run_text2(struct store_account *a, struct error *err, const char *sql, const char *t1,
                     const char *t2, int64_t i)
{
	sqlite3_stmt *st;
	if (db_prepare(a, sql, &st, err) != 0)
		return -1;
	db_bind_text(st, 1, t1);
	if (t2 != NULL)
		db_bind_text(st, 2, t2);
	else
		sqlite3_bind_int64(st, 2, i);
	return db_run_stmt(a, st, err);
}

int mbox_lookup(struct store_account *a, const char *canon_name, int64_t *id, struct error *err)
{
	int r = get_by_text(a, err, id, "SELECT id FROM mailbox WHERE name = ?1", canon_name);
	if (r == 0)
		return error_set(err, ERR_NOTFOUND, "no mailbox %s", canon_name);
	return r < 0 ? -1 : 0;
}

static bool mbox_exists(struct store_account *a, const char *canon_name, struct error *err)
{
	int64_t id;
	return get_by_text(a, err, &id, "SELECT id FROM mailbox WHERE name = ?1", canon_name) == 1;
}

static int has_children(struct store_account *a, const char *canon_name, struct error *err)
{
	int64_t n = 0;
	if (get_by_text(a, err, &n, "SELECT count(*) FROM mailbox"
	                " WHERE substr(name, 1, length(?1) + 1) = ?1 || '/'", canon_name) < 0)
		return -1;
	return n > 0;
}

int mbox_insert(struct store_account *a, const char *canon_name, unsigned special, int64_t *id,
                struct error *err)
{
	int64_t count = 0, uidvalidity = 0;
	uint64_t modseq;
	if (db_get(a, err, &count, "SELECT count(*) FROM mailbox", 0) < 0)
		return -1;
	if (count >= STORE_MAILBOXES_MAX)
		return error_set(err, ERR_INVALID, "too many mailboxes (at most %d)",
		                 STORE_MAILBOXES_MAX);
	if (db_get(a, err, &uidvalidity, "UPDATE account SET next_uidvalidity ="
	           " next_uidvalidity + 1 RETURNING next_uidvalidity - 1", 0) != 1)
		return error_set(err, ERR_IO, "account row missing");
	if (uidvalidity <= 0 || uidvalidity > UINT32_MAX)
		return error_set(err, ERR_INVALID, "UIDVALIDITY values exhausted");
	if (db_next_modseq(a, &modseq, err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (db_prepare(a, "INSERT INTO mailbox (name, uidvalidity, highestmodseq, special_use)"
	               " VALUES (?1, ?2, ?3, ?4) RETURNING id", &st, err) != 0)
		return -1;
	db_bind_text(st, 1, canon_name);
	sqlite3_bind_int64(st, 2, uidvalidity);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	sqlite3_bind_int64(st, 4, special & 0x1f);
	int r = db_step(a, st, err);
	if (r == 1)
		*id = sqlite3_column_int64(st, 0);
	db_finish(a, st);
	return r == 1 ? 0 : -1;
}

/* Creates the missing parents of canon_name (RFC 9051 §6.3.4). */
static int create_parents(struct store_account *a, const char *canon_name, struct error *err)
{
	char *p = strdup(canon_name);
	if (p == NULL)
		abort();
	int r = 0;
	for (char *s = strchr(p, '/'); s != NULL && r == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		int64_t id;
		if (!mbox_exists(a, p, err))
			r = mbox_insert(a, p, 0, &id, err);
		*s = '/';
	}
	free(p);
	return r;
}

static int create_txn(struct store_account *a, const char *name, unsigned special,
                      struct error *err)
{
	int64_t id, noselect = 0;
	if (create_parents(a, name, err) != 0)
		return -1;
	int r = get_by_text(a, err, &noselect, "SELECT noselect FROM mailbox WHERE name = ?1", name);
	if (r < 0)
		return -1;
	if (r == 1 && !noselect)
		return error_set(err, ERR_INVALID, "mailbox %s already exists", name);
	if (r == 1)
		return run_text2(a, err, "UPDATE mailbox SET noselect = 0, special_use = ?2"
		                 " WHERE name = ?1", name, NULL, special & 0x1f);
	return mbox_insert(a, name, special, &id, err);
}

/* Runs fn(a, name, arg) in a transaction under the lock; notifies on success. */
typedef int txn_fn(struct store_account *a, const char *name, const void *arg,
                   struct id_list *freed, struct error *err);

static int in_txn(struct store_account *a, const char *name, txn_fn *fn, const void *arg,
                  struct error *err)
{
	struct buf c;
	if (canon(name, &c, err) != 0)
		return -1;
	struct id_list freed = {0};
	store_lock(a);
	int r = db_begin(a, err);
	if (r == 0 && (r = fn(a, c.data, arg, &freed, err)) != 0)
		db_rollback(a);
	if (r == 0)
		r = db_commit(a, err);
	store_unlock(a);
	if (r == 0)
		msg_unlink_files(a, &freed);
	id_list_free(&freed);
	buf_free(&c);
	if (r == 0)
		notify_change(a, 0);
	return r;
}

static int create_fn(struct store_account *a, const char *name, const void *arg,
                     struct id_list *freed, struct error *err)
{
	return create_txn(a, name, *(const unsigned *)arg, err);
}

int store_mailbox_create(struct store_account *a, const char *name, unsigned special_use,
                         struct error *err)
{
	return in_txn(a, name, create_fn, &special_use, err);
}

/* Expunges every message of mailbox id (it is going away or \Noselect). */
static int purge(struct store_account *a, int64_t id, struct id_list *freed, struct error *err)
{
	uint64_t modseq;
	if (db_next_modseq(a, &modseq, err) != 0)
		return -1;
	struct msg_batch *b = rows_batch_new();
	int r;
	do {
		r = rows_load(a, id, 0, UINT32_MAX, 0, ROWS_ALL, b, err);
		for (size_t i = 0; i < b->n && r == 0; i++)
			r = msg_remove(a, id, &b->rows[i], modseq, freed, err);
	} while (r == 0 && b->n == STORE_BATCH);
	rows_batch_free(&b);
	if (r == 0)
		r = mbox_set_modseq(a, id, modseq, err);
	return r;
}

/* Removes \Noselect ancestors of name that have no children left. */
static int prune_parents(struct store_account *a, const char *name, struct error *err)
{
	char *p = strdup(name);
	if (p == NULL)
		abort();
	int r = 0;
	for (char *s = strrchr(p, '/'); s != NULL && r == 0; s = strrchr(p, '/')) {
		*s = '\0';
		int64_t noselect = 0;
		if (get_by_text(a, err, &noselect, "SELECT noselect FROM mailbox WHERE name = ?1",
		                p) != 1 || !noselect)
			break;
		r = has_children(a, p, err);
		if (r == 0)
			r = run_text2(a, err, "DELETE FROM mailbox WHERE name = ?1",
			              p, NULL, 1);
		else if (r == 1)
			break;
	}
	free(p);
	return r < 0 ? -1 : 0;
}

static int delete_fn(struct store_account *a, const char *name, const void *arg,
                     struct id_list *freed, struct error *err)
{
	int64_t id, noselect = 0;
	if (strcmp(name, "Inbox") == 0)  /* RFC 9051 §6.3.5 */
		return error_set(err, ERR_INVALID, "INBOX cannot be deleted");
	if (mbox_lookup(a, name, &id, err) != 0 ||
	    db_get(a, err, &noselect, "SELECT noselect FROM mailbox WHERE id = ?", 1, id) != 1)
		return -1;
	int children = has_children(a, name, err);
	if (children < 0)
		return -1;
	/* RFC 9051 §6.3.5: a \Noselect name with inferiors cannot be deleted. */
	if (children && noselect)
		return error_set(err, ERR_INVALID, "mailbox %s has children and no messages", name);
	if (purge(a, id, freed, err) != 0)
		return -1;
	/* With children the name stays, as \Noselect (RFC 3501 §6.3.4 behaviour,
	 * allowed by RFC 9051 §6.3.5). */
	if (children)
		return db_run(a, err, "UPDATE mailbox SET noselect = 1, special_use = 0 WHERE id = ?",
		              1, id);
	if (db_run(a, err, "DELETE FROM mailbox WHERE id = ?", 1, id) != 0)
		return -1;
	return prune_parents(a, name, err);
}

int store_mailbox_delete(struct store_account *a, const char *name, struct error *err)
{
	return in_txn(a, name, delete_fn, NULL, err);
}

/* RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox and
 * leaves INBOX in place, empty; its children are not renamed. */
static int rename_inbox(struct store_account *a, int64_t inbox, const char *to,
                        struct error *err)
{
	int64_t dst;
	uint64_t modseq;
	if (mbox_insert(a, to, 0, &dst, err) != 0 || db_next_modseq(a, &modseq, err) != 0)
		return -1;
	int64_t ms = (int64_t)modseq;
	/* The messages vanish from INBOX (RFC 7162 §3.2.10) and keep their UIDs
	 * in the new mailbox, which has its own new UIDVALIDITY. */
	if (db_run(a, err, "INSERT INTO expunged (mailbox_id, uid, modseq)"
	           " SELECT mailbox_id, uid, ? FROM message WHERE mailbox_id = ?", 2, ms, inbox) != 0 ||
	    db_run(a, err, "UPDATE message SET mailbox_id = ?, modseq = ? WHERE mailbox_id = ?",
	           3, dst, ms, inbox) != 0 ||
	    db_run(a, err, "UPDATE mailbox SET uidnext = (SELECT uidnext FROM mailbox WHERE id = ?),"
	           " highestmodseq = ? WHERE id = ?", 3, inbox, ms, dst) != 0)
		return -1;
	return mbox_set_modseq(a, inbox, modseq, err);
}

static int rename_tree(struct store_account *a, const char *from, const char *to,
                       struct error *err)
{
	if (run_text2(a, err, "UPDATE mailbox SET name = ?2 || substr(name, length(?1) + 1)"
	              " WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '/'",
	              from, to, 0) != 0)
		return -1;
	/* Subscriptions follow; an existing subscription of a new name is kept. */
	if (run_text2(a, err, "UPDATE OR REPLACE subscription"
	              " SET name = ?2 || substr(name, length(?1) + 1)"
	              " WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '/'",
	              from, to, 0) != 0)
		return -1;
	return prune_parents(a, from, err);
}

static int rename_fn(struct store_account *a, const char *from, const void *arg,
                     struct id_list *freed, struct error *err)
{
	const char *to = arg;
	int64_t id;
	size_t n = strlen(from);
	if (mbox_lookup(a, from, &id, err) != 0)
		return -1;
	if (mbox_exists(a, to, err))
		return error_set(err, ERR_INVALID, "mailbox %s already exists", to);
	bool inbox = strcmp(from, "Inbox") == 0;
	/* A mailbox cannot move below itself; INBOX can, its children stay. */
	if (strcmp(to, "Inbox") == 0 || (!inbox && strncmp(to, from, n) == 0 && to[n] == '/'))
		return error_set(err, ERR_INVALID, "cannot rename %s to %s", from, to);
	if (create_parents(a, to, err) != 0)
		return -1;
	if (inbox)
		return rename_inbox(a, id, to, err);
	return rename_tree(a, from, to, err);
}

int store_mailbox_rename(struct store_account *a, const char *from, const char *to,
                         struct error *err)
{
	struct buf c;
	if (canon(to, &c, err) != 0)
		return -1;
	int r = in_txn(a, from, rename_fn, c.data, err);
	buf_free(&c);
	return r;
}

static int subscribe_fn(struct store_account *a, const char *name, const void *arg,
                        struct id_list *freed, struct error *err)
{
	if (*(const bool *)arg)
		return run_text2(a, err, "INSERT OR IGNORE INTO subscription (name) VALUES (?1)",
		                 name, NULL, 0);
	return run_text2(a, err, "DELETE FROM subscription WHERE name = ?1",
	                 name, NULL, 0);
}

int store_mailbox_subscribe(struct store_account *a, const char *name, bool subscribe,
                            struct error *err)
{
	return in_txn(a, name, subscribe_fn, &subscribe, err);
}

static int special_fn(struct store_account *a, const char *name, const void *arg,
                      struct id_list *freed, struct error *err)
{
	int64_t id;
	if (mbox_lookup(a, name, &id, err) != 0)
		return -1;
	return db_run(a, err, "UPDATE mailbox SET special_use = ? WHERE id = ?", 2,
	              (int64_t)(*(const unsigned *)arg & 0x1f), id);
}

int store_mailbox_set_special_use(struct store_account *a, const char *name, unsigned special_use,
                                  struct error *err)
{
	return in_txn(a, name, special_fn, &special_use, err);
}

int mbox_take_uid(struct store_account *a, int64_t mbox, uint64_t modseq, uint32_t *uid,
                  uint32_t *uidvalidity, struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare(a, "SELECT uidnext, uidvalidity, noselect FROM mailbox WHERE id = ?", &st,
	               err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, mbox);
	int r = db_step(a, st, err);
	int64_t next = sqlite3_column_int64(st, 0), noselect = sqlite3_column_int64(st, 2);
	*uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
	db_finish(a, st);
	if (r <= 0)
		return r == 0 ? error_set(err, ERR_NOTFOUND, "mailbox does not exist") : -1;
	if (noselect)
		return error_set(err, ERR_INVALID, "mailbox is \\Noselect");
	/* RFC 9051 §2.3.1.1: UIDs are 32-bit and never reused. */
	if (next > UINT32_MAX)
		return error_set(err, ERR_INVALID, "mailbox UIDs exhausted");
	*uid = (uint32_t)next;
	return db_run(a, err, "UPDATE mailbox SET uidnext = uidnext + 1, highestmodseq = ?"
	              " WHERE id = ?", 2, (int64_t)modseq, mbox);
}

int mbox_set_modseq(struct store_account *a, int64_t mbox, uint64_t modseq, struct error *err)
{
	return db_run(a, err, "UPDATE mailbox SET highestmodseq = ? WHERE id = ?", 2,
	              (int64_t)modseq, mbox);
}

#define MAILBOX_COLUMNS \
	"SELECT id, name, special_use, noselect, uidvalidity, uidnext, highestmodseq," \
	" messages, unseen, bytes, name IN (SELECT name FROM subscription) FROM mailbox"

static void mailbox_from_row(sqlite3_stmt *st, struct arena *arena, struct store_mailbox *mb)
{
	mb->id = sqlite3_column_int64(st, 0);
	mb->name = arena != NULL ? db_col_text(st, 1, arena, true) : NULL;
	mb->special_use = (unsigned)sqlite3_column_int64(st, 2);
	mb->noselect = sqlite3_column_int64(st, 3) != 0;
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 4);
	mb->uidnext = (uint32_t)sqlite3_column_int64(st, 5);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(st, 6);
	mb->messages = (uint64_t)sqlite3_column_int64(st, 7);
	mb->unseen = (uint64_t)sqlite3_column_int64(st, 8);
	mb->size = (uint64_t)sqlite3_column_int64(st, 9);
	mb->subscribed = sqlite3_column_int64(st, 10) != 0;
}

int store_mailbox_status(struct store_account *a, const char *name, struct arena *arena,
                         struct store_mailbox *mb, struct error *err)
{
	struct buf c;
	if (canon(name, &c, err) != 0)
		return -1;
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_prepare(a, MAILBOX_COLUMNS " WHERE name = ?1", &st, err);
	if (r == 0) {
		db_bind_text(st, 1, c.data);
		r = db_step(a, st, err);
		if (r == 1)
			mailbox_from_row(st, arena, mb);
		else if (r == 0)
			r = error_set(err, ERR_NOTFOUND, "no mailbox %s", c.data);
		db_finish(a, st);
	}
	store_unlock(a);
	buf_free(&c);
	return r < 0 ? -1 : 0;
}

static int list_rows(struct store_account *a, sqlite3_stmt *st, struct arena *arena,
                     struct store_mailbox *list, size_t *n, struct error *err)
{
	int r;
	*n = 0;
	while (*n < STORE_MAILBOXES_MAX && (r = db_step(a, st, err)) == 1)
		mailbox_from_row(st, arena, &list[(*n)++]);
	return r < 0 ? -1 : 0;
}

int store_mailbox_list(struct store_account *a, struct arena *arena,
                       struct store_mailbox **list_r, size_t *n_r, struct error *err)
{
	int64_t count = 0;
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_get(a, err, &count, "SELECT count(*) FROM mailbox", 0) < 0 ? -1 : 0;
	if (r == 0 && count > STORE_MAILBOXES_MAX)
		count = STORE_MAILBOXES_MAX;
	struct store_mailbox *list = arena_alloc(arena, sizeof(*list) * (size_t)(count + 1));
	if (r == 0)
		r = db_prepare(a, MAILBOX_COLUMNS " ORDER BY name LIMIT ?", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, count);
		r = list_rows(a, st, arena, list, n_r, err);
		db_finish(a, st);
	}
	store_unlock(a);
	*list_r = list;
	return r;
}

int store_subscriptions(struct store_account *a, struct arena *arena, const char ***names_r,
                        size_t *n_r, struct error *err)
{
	int64_t count = 0;
	sqlite3_stmt *st;
	*n_r = 0;
	store_lock(a);
	int r = db_get(a, err, &count, "SELECT count(*) FROM subscription", 0) < 0 ? -1 : 0;
	const char **names = arena_alloc(arena, sizeof(*names) * (size_t)(count + 1));
	if (r == 0)
		r = db_prepare(a, "SELECT name FROM subscription ORDER BY name LIMIT ?", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, count);
		while ((r = db_step(a, st, err)) == 1)
			names[(*n_r)++] = db_col_text(st, 0, arena, true);
		db_finish(a, st);
	}
	store_unlock(a);
	*names_r = names;
	return r < 0 ? -1 : 0;
}

/* RFC 3501 §2.3.2: a message is recent in the one session that is first
 * told of it. mailbox.recent_first is the lowest UID no session has claimed
 * yet; messages [recent_first, uidnext) are waiting for one. */
int store_mailbox_claim_recent(struct store_account *a, int64_t mailbox_id, bool claim,
                               uint32_t *first_r, uint32_t *end_r, struct error *err)
{
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_begin(a, err);
	if (r == 0)
		r = db_prepare(a, "SELECT recent_first, uidnext FROM mailbox WHERE id = ?", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, mailbox_id);
		r = db_step(a, st, err);
		int64_t first = sqlite3_column_int64(st, 0), end = sqlite3_column_int64(st, 1);
		db_finish(a, st);
		if (r == 0)
			r = error_set(err, ERR_NOTFOUND, "mailbox does not exist");
		if (r == 1) {
			/* recent_first never passes uidnext, even in a database
			 * whose uidnext was repaired (verify.c) */
			*first_r = (uint32_t)(first < end ? first : end);
			*end_r = (uint32_t)end;
			r = 0;
			if (claim && first < end)
				r = db_run(a, err, "UPDATE mailbox SET recent_first = ? WHERE id = ?", 2, end,
				           mailbox_id);
		}
	}
	if (r == 0)
		r = db_commit(a, err);
	else
		db_rollback(a);
	store_unlock(a);
	return r < 0 ? -1 : 0;
}
