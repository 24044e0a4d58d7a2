/*
 * store.h: per-account storage of mailboxes and messages.
 *
 * Layout (DESIGN.md "Storage"):
 *   DATA/accounts/NAME/index.db      SQLite (WAL, synchronous=FULL, foreign keys)
 *   DATA/accounts/NAME/msg/DIR/ID    one file per message, DIR = ID / 1000,
 *                                    written once and never modified
 *   DATA/accounts/NAME/orphans/      files moved aside by store_verify
 *
 * Threads: store_open returns one shared, reference-counted account object per
 * account directory in this process, whoever asks for it. All of its database
 * work runs on one SQLite connection behind one mutex, held only for the
 * statements themselves: message files are written and callbacks are called
 * without it, so a slow IMAP client never blocks a delivery. Any function here
 * may be called from any thread, and callbacks may call back into the store.
 *
 * Identifiers: a mailbox is named by its id (from store_mailbox_status or
 * store_mailbox_list) in message calls; ids are never reused, so a deleted
 * mailbox gives ERR_NOTFOUND rather than another mailbox. A message is named by
 * (mailbox id, UID), RFC 9051 §2.3.1.1. Message files are shared by copies: the
 * file belongs to a "content" row and lives until no message refers to it.
 *
 * Errors: every int function returns 0 or -1 with err filled. ERR_NOTFOUND: no
 * such mailbox/message; ERR_INVALID: bad name, flag, state; ERR_LIMIT: the
 * account quota, and only that (message "quota exceeded: N of M bytes used");
 * ERR_TEMP: database busy past the timeout; ERR_IO: disk or database failure.
 *
 * Change notification: same-process changes wake subscribers (store_sub_*).
 * Changes made by another process (the CLI while the server runs) are not seen
 * by this notifier: such commands go through the server's control socket.
 */
#ifndef TERN_STORE_STORE_H
#define TERN_STORE_STORE_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store_account;

/* Longest account name (one path component). */
#define STORE_ACCOUNT_NAME_MAX 255
/* Longest mailbox name in bytes (UTF-8, '/' separated); IMAP clients never
 * need more, and it keeps paths in logs readable. */
#define STORE_MAILBOX_NAME_MAX 1000
/* Most mailboxes per account: a LIST answer stays bounded. */
#define STORE_MAILBOXES_MAX 10000
/* Longest keyword, and most keywords on one message. */
#define STORE_KEYWORD_MAX 100
#define STORE_KEYWORDS_MAX 64
/* Most search terms in one store_search call. */
#define STORE_SEARCH_TERMS_MAX 32
/* SQLite busy timeout in milliseconds (another process holds the write lock). */
#define STORE_BUSY_TIMEOUT_MS 10000

/* ---- accounts ---- */

/* Opens (creating directories, database and default mailboxes on first use)
 * the store of account `name` under data_dir. Schema upgrades run here.
 * Returns 0 and a reference in *acct_r (release with store_close), or -1.
 * The same object is shared by all openers in this process. */
int store_open(const char *data_dir, const char *name, struct store_account **acct_r,
               struct error *err);

/* Drops one reference and sets *acct to NULL; the last one closes the
 * database. All subscribers (store_sub_new) must have been freed before. */
void store_close(struct store_account **acct);

/* Sets the quota from configuration: most bytes and most messages, 0 meaning
 * unlimited. Enforced at delivery, append and copy (not at move). */
void store_set_quota(struct store_account *acct, uint64_t max_bytes, uint64_t max_messages);

struct store_usage {
	uint64_t bytes;      /* sum of message sizes, copies counted each */
	uint64_t messages;
};

/* Current totals of the account. */
int store_usage(struct store_account *acct, struct store_usage *u, struct error *err);

/* Whether err is the quota error (for SMTP 452/552, IMAP [OVERQUOTA]). */
bool store_error_is_quota(const struct error *err);

/* The limits last given to store_set_quota (0: unlimited), for RFC 9208
 * GETQUOTA (count.c). */
void store_get_quota(struct store_account *acct, uint64_t *max_bytes_r, uint64_t *max_messages_r);

/* Stores the account's credentials line (src/sasl/ sasl_credentials_encode:
 * keys derived from the password, never the password), replacing any. */
int store_credentials_set(struct store_account *acct, const char *line, struct error *err);

/* The credentials line, in arena. ERR_NOTFOUND when no password was set. */
int store_credentials_get(struct store_account *acct, struct arena *arena, const char **line_r,
                          struct error *err);

/* ---- mailboxes (RFC 9051 §6.3) ---- */

/* RFC 6154 special-use attributes, as a bit set. */
enum store_special_use {
	STORE_SPECIAL_SENT = 1 << 0,
	STORE_SPECIAL_DRAFTS = 1 << 1,
	STORE_SPECIAL_ARCHIVE = 1 << 2,
	STORE_SPECIAL_TRASH = 1 << 3,
	STORE_SPECIAL_JUNK = 1 << 4,
};

struct store_mailbox {
	int64_t id;
	const char *name;        /* canonical: "Inbox" for any case of INBOX */
	unsigned special_use;    /* enum store_special_use bits */
	bool noselect;           /* \Noselect: holds children only, no messages */
	bool subscribed;
	uint32_t uidvalidity;    /* RFC 9051 §2.3.1.1 */
	uint32_t uidnext;
	uint64_t highestmodseq;  /* RFC 7162 §3.1.1 */
	uint64_t messages;
	uint64_t unseen;
	uint64_t size;
};

/* Creates mailbox `name` and any missing parents (RFC 9051 §6.3.4). Creating
 * an existing \Noselect name makes it selectable. special_use may be 0.
 * ERR_INVALID for a bad name or one that exists; ERR_LIMIT is not used. */
int store_mailbox_create(struct store_account *acct, const char *name, unsigned special_use,
                         struct error *err);

/* Deletes mailbox `name` (RFC 9051 §6.3.5): its messages are expunged. With
 * children it stays as a \Noselect name; a \Noselect name with children and
 * INBOX cannot be deleted (ERR_INVALID). A \Noselect parent left without
 * children goes too. */
int store_mailbox_delete(struct store_account *acct, const char *name, struct error *err);

/* Renames `from` and its children to `to` (RFC 9051 §6.3.6), creating missing
 * parents of `to`. Renaming INBOX moves its messages to a new mailbox `to` and
 * leaves INBOX empty; INBOX's children stay. UIDVALIDITY of a renamed mailbox
 * is kept; subscriptions follow the rename. */
int store_mailbox_rename(struct store_account *acct, const char *from, const char *to,
                         struct error *err);

/* RFC 9051 §6.3.7, §6.3.8: subscriptions are names and may outlive mailboxes. */
int store_mailbox_subscribe(struct store_account *acct, const char *name, bool subscribe,
                            struct error *err);

/* Replaces the special-use attributes of mailbox `name` (RFC 6154 §2). */
int store_mailbox_set_special_use(struct store_account *acct, const char *name,
                                  unsigned special_use, struct error *err);

/* All mailboxes sorted by name, allocated in arena (at most
 * STORE_MAILBOXES_MAX), in *list_r / *n_r. Subscribed names without a
 * mailbox are not listed (see store_subscriptions). */
int store_mailbox_list(struct store_account *acct, struct arena *arena,
                       struct store_mailbox **list_r, size_t *n_r, struct error *err);

/* Subscribed names sorted, allocated in arena. */
int store_subscriptions(struct store_account *acct, struct arena *arena,
                        const char ***names_r, size_t *n_r, struct error *err);

/* Status of one mailbox by name (STATUS, SELECT). mb->name is allocated in
 * arena. ERR_NOTFOUND if there is none. */
int store_mailbox_status(struct store_account *acct, const char *name, struct arena *arena,
                         struct store_mailbox *mb, struct error *err);

/* Most distinct keywords reported for one mailbox by store_mailbox_keywords. */
#define STORE_MAILBOX_KEYWORDS_MAX 256

/* The keywords used by messages of the mailbox, space-separated, in the arena
 * (for the FLAGS and PERMANENTFLAGS answers of SELECT, RFC 9051 §7.3.5). At
 * most STORE_MAILBOX_KEYWORDS_MAX are listed; more are left out. Reads every
 * distinct keyword set of the mailbox. */
int store_mailbox_keywords(struct store_account *acct, int64_t mailbox_id, struct arena *arena,
                           const char **keywords_r, struct error *err);

/* How many messages of the mailbox have \Deleted (RFC 9051 §6.3.11 STATUS
 * DELETED; count.c). */
int store_mailbox_count_deleted(struct store_account *acct, int64_t mailbox_id, uint64_t *n_r,
                                struct error *err);

/* \Recent (RFC 3501 §2.3.2): the messages of the mailbox no session has
 * claimed yet are [*first_r, *end_r) (end is UIDNEXT); with claim, they are
 * this caller's from now on and no later call returns them. One
 * transaction: two sessions never claim the same UID. ERR_NOTFOUND if the
 * mailbox is gone. */
int store_mailbox_claim_recent(struct store_account *acct, int64_t mailbox_id, bool claim,
                               uint32_t *first_r, uint32_t *end_r, struct error *err);

/* The canonical form of a mailbox name into out ("inbox/x" -> "Inbox/x").
 * Returns 0, or -1 (ERR_INVALID) if the name is not valid: empty, longer than
 * STORE_MAILBOX_NAME_MAX, control characters, empty components. */
int store_mailbox_name_canon(const char *name, struct buf *out, struct error *err);

/* ---- messages ---- */

/* System flags, RFC 9051 §2.3.2. */
enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
};
#define STORE_FLAGS_ALL 0x1f

/* A closed UID interval; last may be UINT32_MAX for "*" (RFC 9051 §6.4.9). */
struct store_uidrange {
	uint32_t first;
	uint32_t last;
};

/* A growable list of UIDs (malloc'd); free with store_uids_free. */
struct store_uids {
	uint32_t *v;
	size_t n;
	size_t cap_;
};
void store_uids_free(struct store_uids *u);

/* What is stored with a new message. Every pointer may be NULL. Keywords are
 * space-separated atoms (RFC 9051 §2.3.2 flag-keyword), kept as given (case
 * included), sorted and without duplicates. */
struct store_delivery {
	const char *mailbox;          /* name, e.g. "Inbox"; NULL means Inbox */
	unsigned flags;               /* enum store_flag bits */
	const char *keywords;
	int64_t received;             /* INTERNALDATE, unix seconds; 0 = now */
	const void *structure;        /* parsed structure, opaque bytes */
	size_t structure_len;
	const char *message_id, *subject, *from;  /* for search and threading */
	int64_t date;                 /* Date: header, unix seconds; 0 = none */
	/* Headers added on delivery (Received, Authentication-Results): each line
	 * ends in CRLF; readers send them before the file. */
	const char *added_headers;
	/* Delivery metadata. */
	const char *remote_ip, *ehlo, *mail_from, *rcpt_to, *tls, *spf, *dkim, *dmarc;
	/* Text to index (extracted by the caller: message_summarize with a
	 * text_max of at least STORE_FTS_TEXT_MIN). fts_body NULL: the body was
	 * not extracted, and body searches always read this message. */
	const char *fts_addresses, *fts_body;
};

struct store_delivered {
	int64_t id;            /* message id, unique in the account */
	int64_t content_id;    /* names the file */
	int64_t mailbox_id;
	uint32_t uidvalidity;
	uint32_t uid;
	uint64_t modseq;
	uint64_t size;         /* added headers + file */
};

/* Stores a message from memory durably: the file is written, fsynced and
 * renamed into place, its directory fsynced, then the row committed; 0 only
 * then. On failure nothing is stored (the file is removed). ERR_NOTFOUND if
 * the mailbox does not exist (IMAP [TRYCREATE]), ERR_INVALID if it is
 * \Noselect, ERR_LIMIT over quota. Serves SMTP delivery and IMAP APPEND. */
/* Copies a parsed message's summary (src/message message_summarize: search
 * fields, index text, part layout) into d; the strings stay the summary's
 * (summary.c). */
struct message_summary;
void store_delivery_summary(struct store_delivery *d, const struct message_summary *s);

int store_deliver(struct store_account *acct, const struct store_delivery *d, const void *data,
                  size_t len, struct store_delivered *res, struct error *err);

/* As store_deliver, reading the message from fd until end of file through a
 * fixed buffer (memory use does not grow with the message). */
int store_deliver_fd(struct store_account *acct, const struct store_delivery *d, int fd,
                     struct store_delivered *res, struct error *err);

/* Reads up to n bytes of a message being delivered into buf. Returns the
 * count, 0 at the end of the message, or -1 with err set (the delivery then
 * fails and nothing is stored). */
typedef ssize_t store_read_fn(void *ctx, void *buf, size_t n, struct error *err);

/* As store_deliver_fd, reading through read (e.g. an mbox being imported). */
int store_deliver_stream(struct store_account *acct, const struct store_delivery *d,
                         store_read_fn *read, void *ctx, struct store_delivered *res,
                         struct error *err);

/* One message as listed. Pointers live until the callback returns. */
struct store_msginfo {
	int64_t id;
	int64_t content_id;
	uint32_t uid;
	uint64_t modseq;       /* RFC 7162 §3.1 */
	unsigned flags;
	const char *keywords;  /* space-separated, "" if none */
	int64_t received;      /* INTERNALDATE */
	int64_t saved;         /* RFC 8514 SAVEDATE */
	uint64_t size;         /* RFC822.SIZE: added headers + file */
	/* Only when asked for (store_msg_list_want), else NULL; NULL also for a
	 * message stored before they were kept. Both are computed at delivery
	 * from the added headers followed by the file's header block. */
	const char *envelope;  /* ENVELOPE (RFC 9051 §7.5.2) as written by
	                          message_imap_envelope_as with MESSAGE_IMAP_UTF8 */
	size_t envelope_len;
	const char *search_headers;  /* records for SEARCH FROM etc.: see
	                                store_search_headers_next */
	size_t search_headers_len;
	const void *structure;  /* the parsed structure given at delivery */
	size_t structure_len;
};

/* Called once per message; return 0 to go on, anything else to stop. */
typedef int store_msg_cb(void *ctx, const struct store_msginfo *m);

/* Calls cb for each message of a mailbox in ascending UID order, limited to
 * the UID ranges (any order, may overlap; NULL/0 = all) and to messages with
 * modseq > changedsince (0 = any; RFC 7162 §3.1.4 CHANGEDSINCE). Rows are read
 * in small batches without holding locks during cb, so memory stays bounded;
 * a message changed during the walk may be seen in either state. */
int store_msg_list(struct store_account *acct, int64_t mailbox_id,
                   const struct store_uidrange *ranges, size_t nranges, uint64_t changedsince,
                   store_msg_cb *cb, void *ctx, struct error *err);

/* What store_msg_list_want reads besides struct store_msginfo's fixed fields. */
enum store_list_want {
	STORE_LIST_ENVELOPE = 1 << 0,        /* envelope */
	STORE_LIST_SEARCH_HEADERS = 1 << 1,  /* search_headers */
	STORE_LIST_STRUCTURE = 1 << 2,       /* structure */
};

/* As store_msg_list, also reading the fields of want (enum store_list_want)
 * in the same batched queries. */
int store_msg_list_want(struct store_account *acct, int64_t mailbox_id,
                        const struct store_uidrange *ranges, size_t nranges,
                        uint64_t changedsince, unsigned want, store_msg_cb *cb, void *ctx,
                        struct error *err);

/* Search headers: for each From, To, Cc, Bcc and Subject field of the
 * header (added headers first), the texts SEARCH FROM, TO, CC, BCC and
 * SUBJECT compare (RFC 9051 §6.4.4), one record each: for an address field
 * each address as "name <address>" (message_address_parse, plain), then for
 * every field its unfolded value decoded (message_decode_text). A field
 * present gives at least one record. Encoded as records of a field letter
 * ('f', 't', 'c', 'b', 's'), the text's length in decimal, ':' and the text
 * (any bytes). */
struct store_search_text {
	char field;
	const char *text;
	size_t len;
};

/* Reads the record at *pos of the search headers [blob, blob + n) into t and
 * moves *pos past it. Returns 1, 0 at the end, -1 if the bytes are not
 * records (t is then unset). */
int store_search_headers_next(const char *blob, size_t n, size_t *pos,
                              struct store_search_text *t);

/* Everything stored about one message, allocated in the arena. */
struct store_msgdetail {
	struct store_msginfo info;
	const void *structure;
	size_t structure_len;
	const char *message_id, *subject, *from;
	int64_t date;
	const char *added_headers;
	const char *remote_ip, *ehlo, *mail_from, *rcpt_to, *tls, *spf, *dkim, *dmarc;
};

/* Details of (mailbox, uid). ERR_NOTFOUND if absent. NULL fields were not given. */
int store_msg_get(struct store_account *acct, int64_t mailbox_id, uint32_t uid,
                  struct arena *arena, struct store_msgdetail *d, struct error *err);

/* Where a message is. */
struct store_msgref {
	int64_t mailbox_id;
	uint32_t uid;
};

/* Messages whose stored Message-ID equals message_id exactly (as given at
 * delivery, e.g. "<a@b>"), for threading and duplicate checks: up to max of
 * them in out, lowest message id first; *n_r gets how many. */
int store_find_message_id(struct store_account *acct, const char *message_id,
                          struct store_msgref *out, size_t max, size_t *n_r, struct error *err);

/* An open message: send prefix (prefix_len bytes), then file_size bytes of fd. */
struct store_msgfile {
	int fd;               /* read-only; the caller closes it (mmap as it likes) */
	uint64_t file_size;
	const char *prefix;   /* the added headers, in the arena */
	size_t prefix_len;
};

/* Opens the file of (mailbox, uid) for reading. The fd stays valid even if the
 * message is expunged meanwhile. ERR_NOTFOUND if absent. */
int store_msg_open(struct store_account *acct, int64_t mailbox_id, uint32_t uid,
                   struct arena *arena, struct store_msgfile *f, struct error *err);

enum store_flag_op {
	STORE_FLAGS_SET,     /* FLAGS */
	STORE_FLAGS_ADD,     /* +FLAGS */
	STORE_FLAGS_REMOVE,  /* -FLAGS */
};

/* Changes flags and keywords of the messages in ranges (RFC 9051 §6.4.6). A
 * message whose flags change gets a new modseq (one per call, shared by all
 * messages changed). With unchangedsince > 0, messages whose modseq is greater
 * are left alone and their UIDs appended to *failed (RFC 7162 §3.1.3); failed
 * may be NULL otherwise. *modseq_r (may be NULL) gets the new modseq, or 0 if
 * nothing changed. */
int store_flags_update(struct store_account *acct, int64_t mailbox_id,
                       const struct store_uidrange *ranges, size_t nranges,
                       enum store_flag_op op, unsigned flags, const char *keywords,
                       uint64_t unchangedsince, struct store_uids *failed, uint64_t *modseq_r,
                       struct error *err);

/* Expunges (RFC 9051 §6.4.3, UID EXPUNGE §6.4.9) messages with \Deleted in
 * ranges (NULL/0 = the whole mailbox). Expunged UIDs are appended to
 * *expunged (may be NULL) and recorded with the new modseq for VANISHED (RFC
 * 7162 §3.2.10). A file is deleted when its last message goes. */
int store_expunge(struct store_account *acct, int64_t mailbox_id,
                  const struct store_uidrange *ranges, size_t nranges,
                  struct store_uids *expunged, struct error *err);

/* Copies the messages in ranges to dst (RFC 9051 §6.4.7) sharing their
 * files; appends source and new UIDs pairwise to src_uids/dst_uids (either may
 * be NULL) for COPYUID (RFC 4315 §3). Quota applies. */
int store_copy(struct store_account *acct, int64_t src_mailbox, const struct store_uidrange *ranges,
               size_t nranges, int64_t dst_mailbox, struct store_uids *src_uids,
               struct store_uids *dst_uids, uint32_t *dst_uidvalidity_r, struct error *err);

/* Moves messages (RFC 6851 §3.3): new UIDs in dst, the source UIDs expunged
 * and recorded for VANISHED. dst must differ from src. Quota does not apply. */
int store_move(struct store_account *acct, int64_t src_mailbox, const struct store_uidrange *ranges,
               size_t nranges, int64_t dst_mailbox, struct store_uids *src_uids,
               struct store_uids *dst_uids, uint32_t *dst_uidvalidity_r, struct error *err);

/* UIDs expunged from the mailbox with modseq > since (RFC 7162 §3.2.10
 * VANISHED (EARLIER)), ascending, appended to *out. */
int store_vanished(struct store_account *acct, int64_t mailbox_id, uint64_t since,
                   struct store_uids *out, struct error *err);

/* ---- full-text search (FTS5) ---- */

enum store_search_field {
	STORE_SEARCH_ANY,
	STORE_SEARCH_SUBJECT,
	STORE_SEARCH_ADDRESSES,
	STORE_SEARCH_BODY,
};

/* UIDs (ascending) of messages in the mailbox whose field (any field for
 * STORE_SEARCH_ANY) holds every word of every term. Words are what the
 * index's tokenizer sees (case-insensitive; split at ASCII punctuation and
 * spaces); there are no phrases. In the body, which is indexed by trigrams
 * (see store_search_substring), a word is looked up as its trigrams, so a
 * message holding them elsewhere than in that word is found too, and a word
 * of fewer than three characters cannot be looked up there: a term made only
 * of such words matches no body. IMAP SEARCH therefore checks candidates
 * against the messages. Every word is quoted, so no user text is ever FTS5
 * syntax. Terms: 1..STORE_SEARCH_TERMS_MAX. */
int store_search(struct store_account *acct, int64_t mailbox_id, enum store_search_field field,
                 const char *const *terms, size_t nterms, struct store_uids *out,
                 struct error *err);

/* The body index (fts_body) keeps trigrams (FTS5's trigram tokenizer, case
 * folded) of the body text given at delivery, so it can rule out messages for
 * substrings as well as words. A caller gives at least STORE_FTS_TEXT_MIN
 * bytes of room for that text (message_summarize's text_max): decoded text is
 * at most four bytes per byte of the file (three per byte for charset
 * conversion, a newline per part), so the text of a message file of at most
 * STORE_FTS_WHOLE_FILE_MAX bytes is never cut. The index therefore vouches
 * only for such messages whose body text was given (fts_body not NULL): every
 * other message is always a candidate. */
#define STORE_FTS_TEXT_MIN (256 * 1024)
#define STORE_FTS_WHOLE_FILE_MAX ((STORE_FTS_TEXT_MIN - 64) / 4)
/* Fewest characters (code points) a substring search can look up. */
#define STORE_FTS_SUBSTRING_MIN 3

/* Candidates for a case-insensitive substring search of the body text
 * (RFC 9051 §6.4.4 BODY): the UIDs (ascending) of the mailbox's messages that
 * may hold `text` in the body text given at delivery, appended to *out. A
 * superset: the index is asked for messages holding every trigram of text
 * (not their order), and messages it cannot vouch for (see
 * STORE_FTS_WHOLE_FILE_MAX) are all included, so the caller checks each
 * candidate against the message. Case folding is SQLite's (Unicode simple
 * lower case), which agrees with any folding that maps a character only to
 * its own lower case. ERR_INVALID when text is not valid UTF-8 or has fewer
 * than STORE_FTS_SUBSTRING_MIN characters: the index cannot answer, scan
 * instead. Every trigram is a quoted FTS5 string: no user text is syntax. */
int store_search_substring(struct store_account *acct, int64_t mailbox_id, const char *text,
                           struct store_uids *out, struct error *err);

/* ---- change notification ---- */

/* Most mailbox ids remembered per subscriber between reads; more sets `all`. */
#define STORE_CHANGES_MAX 32

struct store_changes {
	uint64_t seq;                     /* account change counter, grows by one per change */
	bool all;                         /* too many to list: re-check every mailbox */
	bool mailboxes_changed;           /* created, deleted, renamed or subscribed */
	size_t n;
	int64_t mailbox_ids[STORE_CHANGES_MAX];  /* mailboxes whose messages changed */
};

struct store_sub;

/* Subscribes to changes of the account. Returns 0 and *sub_r, or -1. */
int store_sub_new(struct store_account *acct, struct store_sub **sub_r, struct error *err);

/* A descriptor that becomes readable (POLLIN) when a change happened since
 * the last store_sub_read. Owned by the subscription. */
int store_sub_fd(const struct store_sub *sub);

/* What changed since the last read; clears the readable state. */
void store_sub_read(struct store_sub *sub, struct store_changes *ch);

/* Tells every subscriber that the account changed in ways this process did
 * not see (another process wrote it, e.g. `tern import`): all mailboxes and
 * the mailbox list are to be checked again. The running server calls it when
 * a command says so over the control socket. */
void store_notify_outside_change(struct store_account *acct);

/* Unsubscribes and frees; sets *sub to NULL. */
void store_sub_free(struct store_sub **sub);

/* Durability is on by default: message files and their directories are
 * fsynced and SQLite commits with synchronous=FULL before a delivery
 * returns. store_set_durable(false), for the whole process and before any
 * store_open, turns both off; it exists only so that benchmarks can measure
 * what durability costs, and is never used by the server. */
void store_set_durable(bool on);

/* ---- backup (tern backup) ---- */

/* Copies the SQLite database at src_path to dst_path (which must not exist)
 * with SQLite's online backup: a consistent snapshot even while other
 * connections write. Returns 0, or -1 with err set. */
int store_db_backup(const char *src_path, const char *dst_path, struct error *err);

/* ---- verification (tern verifydata) ---- */

struct store_verify_opts {
	bool fix;                 /* move orphans to DATA/accounts/NAME/orphans/ */
	int64_t min_orphan_age;   /* seconds: younger files may be in-flight deliveries
	                             and are reported but never moved */
};

struct store_verify_report {
	bool db_ok;               /* integrity_check and FTS5 integrity-check passed */
	uint64_t messages;        /* message rows checked */
	uint64_t files;           /* content rows checked */
	uint64_t missing;         /* files absent */
	uint64_t bad_size;        /* files whose size differs from the row */
	uint64_t orphans;         /* files with no row (including temporary files) */
	uint64_t moved;           /* orphans moved aside */
	uint64_t bad_counts;      /* mailboxes whose counts or UIDNEXT were wrong, not fixed */
	uint64_t fixed_counts;    /* ... and fixed (opts->fix) */
	struct buf text;          /* one line per finding; free with store_verify_report_free */
};

/* Checks the account: database integrity and foreign keys, each content
 * row's file and size, orphan files, each mailbox's counts and UIDNEXT (above
 * every UID in it; with opts->fix they are recomputed). Returns 0 when the check ran (problems are in the report), -1
 * if it could not run. */
int store_verify(struct store_account *acct, const struct store_verify_opts *opts,
                 struct store_verify_report *rep, struct error *err);

/* Whether the report shows no problem (orphans are not corruption). */
bool store_verify_ok(const struct store_verify_report *rep);

void store_verify_report_free(struct store_verify_report *rep);

#endif
