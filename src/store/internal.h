/*
 * internal.h: shared internals of src/store/. Never included outside it.
 *
 * Invariants:
 *  - a->db is used only with a->lock held (store_lock/store_unlock);
 *  - the lock is never held while a message file is written or a caller's
 *    callback runs;
 *  - notifications (notify_change) are sent after the lock is released.
 */
#ifndef TERN_STORE_INTERNAL_H
#define TERN_STORE_INTERNAL_H

#include "store/store.h"
#include "message/message.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

/* Longest path built under the account directory. */
#define STORE_PATH_MAX 1024
/* Content ids reserved at once, so most deliveries need no extra commit. */
#define STORE_ID_BLOCK 32
/* Messages read per batch when walking a mailbox. */
#define STORE_BATCH 256
/* Read-only connections per account (store_reader). */
#define STORE_READERS 3
/* Files per msg/ subdirectory: DIR = id / STORE_DIR_FILES. */
#define STORE_DIR_FILES 1000

/* Prepared statements kept per account, keyed by the address of their SQL
 * text (always a string literal in src/store/). */
#define STORE_STMT_CACHE 64

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
	bool busy;
};

struct store_account {
	struct store_account *next;    /* registry list */
	int refs;                      /* registry lock */
	char *dir;                     /* DATA/accounts/NAME */
	sqlite3 *db;
	struct stmt_slot stmts[STORE_STMT_CACHE];
	pthread_mutex_t lock;
	int64_t id_next, id_end;       /* reserved content ids [next, end) */
	uint64_t quota_bytes, quota_messages;
	pthread_mutex_t notify_lock;
	struct store_sub *subs;
	uint64_t change_seq;
	/* Connections that only read, for listings (store_reader): in WAL
	 * mode they run beside each other and beside the writer, so sessions
	 * searching one account use every core. Opened on first use; each is
	 * a store_account of its own (db, stmts, lock) without a registry
	 * entry. */
	struct store_account *readers[STORE_READERS];
	pthread_mutex_t readers_lock;  /* opening them */
	int64_t readers_retry_ms;      /* after a failed open: not before then */
};

/* The indexed stand-in for a Message-ID (FNV-1a; lookups compare the text too). */
int64_t store_message_id_hash(const char *message_id);

/* Whether deliveries fsync (see store_set_durable). */
bool store_durable(void);

void store_lock(struct store_account *a);
void store_unlock(struct store_account *a);

/* A connection for read-only statements, locked for the caller: a free
 * reader of a, else a itself (store_lock) when they are all busy or cannot
 * be opened. Give it back with store_reader_release. */
struct store_account *store_reader(struct store_account *a);
void store_reader_release(struct store_account *r);

/* ---- db.c: SQLite helpers ---- */
int db_fail(struct store_account *a, struct error *err, const char *what);
/* A prepared statement for sql, which must be a string literal (statements
 * are cached by its address). Release it with db_finish. */
int db_prepare(struct store_account *a, const char *sql, sqlite3_stmt **st, struct error *err);
/* Resets a statement back into the cache (or finalizes an uncached one). */
void db_finish(struct store_account *a, sqlite3_stmt *st);

/* As db_prepare for SQL built at run time: db_prepare caches statements by
 * the address of their text, which must therefore be a string literal.
 * db_finish finalizes a statement prepared here. */
int db_prepare_uncached(struct store_account *a, const char *sql, sqlite3_stmt **st,
                        struct error *err);
/* Finalizes every cached statement (before closing the database). */
void db_cache_free(struct store_account *a);
/* Static SQL only (no user data). */
int db_exec(struct store_account *a, const char *sql, struct error *err);
int db_begin(struct store_account *a, struct error *err);
int db_commit(struct store_account *a, struct error *err);
void db_rollback(struct store_account *a);
/* Steps st once: 1 row, 0 done, -1 error. Does not finalize. */
int db_step(struct store_account *a, sqlite3_stmt *st, struct error *err);
/* Steps st to completion and finalizes it. */
int db_run_stmt(struct store_account *a, sqlite3_stmt *st, struct error *err);
/* Runs sql with n int64 parameters. */
int db_run(struct store_account *a, struct error *err, const char *sql, int n, ...);
/* Runs sql with n int64 parameters; *out = first column of the first row.
 * Returns 1 (row), 0 (none), -1. */
int db_get(struct store_account *a, struct error *err, int64_t *out, const char *sql, int n, ...);
void db_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copies a text column into the arena ("" for NULL when empty_for_null). */
const char *db_col_text(sqlite3_stmt *st, int i, struct arena *arena, bool empty_for_null);
/* Next account modseq (RFC 7162: strictly increasing), inside a transaction. */
int db_next_modseq(struct store_account *a, uint64_t *modseq, struct error *err);

/* ---- schema.c ---- */
int schema_upgrade(struct store_account *a, struct error *err);

/* ---- account.c ---- */
/* Formats a path into out (STORE_PATH_MAX bytes). Returns 0, or -1 if it
 * does not fit (out then holds an empty string). */
int store_path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int account_content_path(const struct store_account *a, int64_t id, const char *suffix,
                         char *out, size_t size, struct error *err);
/* Reserves one content id (never reused, even after a crash). */
int account_reserve_id(struct store_account *a, int64_t *id, struct error *err);
/* Quota check before writing a message of size bytes (0 if not known yet);
 * *room_r gets the bytes still allowed (UINT64_MAX if unlimited). */
int account_quota_precheck(struct store_account *a, uint64_t size, uint64_t *room_r,
                           struct error *err);
/* Quota check after rows were added, inside the transaction. */
int account_check_quota(struct store_account *a, struct error *err);

/* ---- mailbox.c ---- */
/* Mailbox id, uidvalidity, noselect of a canonical name; 0 found, -1 (ERR_NOTFOUND). */
int mbox_lookup(struct store_account *a, const char *canon, int64_t *id, struct error *err);
/* Inserts a mailbox inside a transaction. */
int mbox_insert(struct store_account *a, const char *canon, unsigned special, int64_t *id,
                struct error *err);
/* Takes the next UID of a selectable mailbox (RFC 9051 §2.3.1.1) and sets
 * its highestmodseq; inside a transaction. */
int mbox_take_uid(struct store_account *a, int64_t mbox, uint64_t modseq, uint32_t *uid,
                  uint32_t *uidvalidity, struct error *err);
int mbox_set_modseq(struct store_account *a, int64_t mbox, uint64_t modseq, struct error *err);

/* ---- keywords.c ---- */
/* Normalizes a space-separated keyword list into out (sorted, unique). */
int keywords_canon(const char *in, struct buf *out, struct error *err);
/* out = op(old, kw) for a flag store; both inputs canonical. */
int keywords_apply(const char *old, const char *kw, enum store_flag_op op, struct buf *out,
                   struct error *err);

/* Adds to acc (space-separated) the words of kw it lacks, up to max words
 * in acc; returns the word count of acc. */
size_t keywords_union(struct buf *acc, size_t count, const char *kw, size_t max);

/* ---- rows.c: batched walks over message rows ---- */
struct msg_row {
	struct store_msginfo info;
	int64_t mailbox_id;
};

struct msg_batch {
	struct arena *arena;
	unsigned want;        /* enum store_list_want: columns read besides the row */
	size_t n;
	struct msg_row rows[STORE_BATCH];
};

enum rows_filter {
	ROWS_ALL = 0,
	ROWS_DELETED = 1,   /* only \Deleted */
};

/* Loads into b (resetting it) up to STORE_BATCH rows with after < uid <= last
 * and modseq > changedsince, ascending. Lock held by the caller. */
int rows_load(struct store_account *a, int64_t mbox, uint32_t after, uint32_t last,
              uint64_t changedsince, enum rows_filter filter, struct msg_batch *b,
              struct error *err);
struct msg_batch *rows_batch_new(void);
void rows_batch_free(struct msg_batch **b);

/* ---- summary.c: what delivery keeps from the header ---- */

/* Bytes of the file's start that header_texts needs after the added
 * headers: the header block as the parser reads it at most. */
#define STORE_HEADER_CAPTURE_MAX (MESSAGE_MAX_HEADER_BYTES + 4)

/* The texts of a message's header kept beside its content row (table
 * header_text), in an arena; NULL when not computed (too large). */
struct header_texts {
	const char *envelope;
	size_t envelope_len;
	const char *search;
	size_t search_len;
};

/* Computes the texts from [head, head + n): the added headers followed by
 * the start of the file, as IMAP shows the message (fetch, search). */
void header_texts_compute(struct arena *a, const char *head, size_t n, struct header_texts *t);

/* A sorted, merged copy of ranges (NULL/0 means 1:*); caller frees. */
struct store_uidrange *ranges_normalize(const struct store_uidrange *r, size_t n, size_t *n_r);
void uids_push(struct store_uids *u, uint32_t uid);

/* A growable list of content ids (malloc'd). */
struct id_list {
	int64_t *v;
	size_t n, cap;
};
void id_list_push(struct id_list *l, int64_t id);
void id_list_free(struct id_list *l);

/* Removes message row r (and its content when unreferenced, collecting the
 * content id in *freed); records the expunge. Inside a transaction. */
int msg_remove(struct store_account *a, int64_t mbox, const struct msg_row *r, uint64_t modseq,
               struct id_list *freed, struct error *err);
/* Unlinks the files of freed content ids, after the commit; the lock need
 * not be held: once the rows are gone no reader can find the files, and
 * store_msg_open opens under the lock, so an fd obtained earlier stays valid. */
void msg_unlink_files(struct store_account *a, const struct id_list *freed);

/* ---- fts.c ---- */
int fts_index(struct store_account *a, int64_t content_id, const struct store_delivery *d,
              struct error *err);
int fts_delete(struct store_account *a, int64_t content_id, struct error *err);

/* ---- notify.c ---- */
/* mailbox_id 0: the mailbox list changed. */
void notify_change(struct store_account *a, int64_t mailbox_id);

#endif
