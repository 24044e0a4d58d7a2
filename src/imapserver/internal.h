/*
 * internal.h: the IMAP server's session state and the contract between its
 * files: session.c (states, the command table, ENABLE; auth.c, idle.c and
 * compress.c: logins, IDLE, COMPRESS; selected.c: SELECT and updates), the
 * command files (mailbox.c, message.c, append.c, quota.c), fetch.c and
 * search.c (SEARCH, SORT, THREAD).
 *
 * A command handler writes its untagged responses to the connection and
 * fills a struct imapsrv_result with the tagged completion; session.c writes
 * the tagged line. Handlers return 0, or -1 when the connection is broken
 * (then nothing more is written).
 */
#ifndef TERN_IMAPSERVER_INTERNAL_H
#define TERN_IMAPSERVER_INTERNAL_H

#include "core/buf.h"
#include "core/error.h"
#include "core/ratelimit.h"
#include "core/tls.h"
#include "imap/imap.h"
#include "imapserver/imapserver.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct conn;
struct imapsrv_settings;

/* RFC 9051 §3. */
enum imapsrv_state {
	IMAPSRV_NOT_AUTHENTICATED,
	IMAPSRV_AUTHENTICATED,
	IMAPSRV_SELECTED,
	IMAPSRV_LOGOUT,
};

/*
 * The selected mailbox as this session sees it (RFC 9051 §2.3.1.2): message
 * sequence number i+1 is uids[i]; uids ascend. The view changes only when
 * session.c reports updates (EXISTS, EXPUNGE/VANISHED), never in the middle
 * of a command's answer.
 */
struct imapsrv_selected {
	struct store_account *acct;
	int64_t mailbox_id;
	const char *name;            /* tern's UTF-8 form, malloc'd */
	bool readonly;               /* EXAMINE */
	uint32_t uidvalidity;
	uint32_t uidnext;            /* as last reported */
	uint64_t highestmodseq;      /* as last reported */
	uint32_t *uids;              /* malloc'd; NULL while packed */
	size_t n, cap;
	/* While the session is parked the UIDs are kept as runs of
	 * consecutive ones (imapsrv_view_pack), usually a few for thousands of
	 * messages; malloc'd. */
	struct store_uidrange *packed;
	size_t n_packed;
	/* \Recent for IMAP4rev1 sessions (RFC 3501 §2.3.2): the UIDs this
	 * session was first to see (store_mailbox_claim_recent; with EXAMINE
	 * the unclaimed ones, not taken), as ascending ranges; malloc'd. */
	struct store_uidrange *recent;
	size_t n_recent, cap_recent;
	/* RFC 5182 SEARCHRES: the saved result, as UIDs (ascending), so that
	 * expunges remove from it by themselves (§2.1). */
	struct store_uids saved;
	/* Flags last reported per message are not kept: FETCH FLAGS updates are
	 * found by modseq (changes with modseq > highestmodseq). */
	/* session.c: the store notified a change not yet looked at; expunges
	 * seen but not yet reported (they wait for a command that may carry
	 * them); the modseq up to which expunges were reported. */
	bool dirty;
	bool expunge_pending;
	uint64_t expunge_modseq;
};

/* Where and how responses are written. */
struct imapsrv_out {
	struct conn *c;
	unsigned imap_flags;         /* IMAP_UTF8 (rev2 or UTF8=ACCEPT), IMAP_LITERAL_PLUS */
	bool rev2;                   /* ENABLE IMAP4rev2 */
	bool condstore;              /* CONDSTORE enabled (RFC 7162 §3.1): FETCH gets MODSEQ */
	bool qresync;                /* QRESYNC enabled: VANISHED instead of EXPUNGE */
};

/* The tagged completion of a command. */
struct imapsrv_result {
	const char *status;          /* "OK", "NO", "BAD" */
	const char *code;            /* response code without brackets, or NULL */
	char text[512];
};

/* result helpers (session.c) */
void imapsrv_result_set(struct imapsrv_result *r, const char *status, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct imapsrv_session {
	struct conn *c;
	const struct imapsrv_settings *set;
	enum imapsrv_state state;
	struct imapsrv_out out;
	bool utf8_accept;            /* ENABLE UTF8=ACCEPT */
	char account[STORE_ACCOUNT_NAME_MAX + 1];
	struct store_account *acct;  /* AUTHENTICATED and SELECTED */
	struct store_sub *sub;
	struct imapsrv_selected *sel;   /* SELECTED only */
	struct arena *cmd_arena;     /* reset after each command */
	struct buf wbuf;             /* response scratch for handlers */
	/* session.c, auth.c, idle.c, compress.c */
	const char *remote_ip;
	char ip_key[RATELIMIT_KEY_MAX];  /* ratelimit_addr_key */
	int cancel_fd;
	bool have_cb;                /* cb holds the tls-exporter binding */
	unsigned char cb[TLS_EXPORTER_LEN];
	bool compressed;             /* COMPRESS DEFLATE is active */
	unsigned bad_count;
	struct buf rbuf;             /* the command reader's scratch */
	struct {                     /* idle.c: an IDLE in progress (RFC 2177) */
		char *tag;               /* malloc'd, for the tagged completion;
		                          * NULL when no IDLE is in progress */
		int64_t deadline;        /* CLOCK_MONOTONIC ms: autologout */
	} idle;
};

/* ---- selected.c: sequence sets and the view ---- */

/* Resolves a sequence set against the view into UID ranges (ascending,
 * merged), in the arena: with uid_mode the numbers are UIDs ("*" is the
 * largest UID in use, RFC 9051 §6.4.9; UIDs not in the view are simply not
 * matched by callers that walk the view); otherwise message sequence
 * numbers, which must be 1..n ("*" is n) or the command gets BAD (RFC 9051
 * §9 seq-number). "$" resolves to the saved result. Returns 0 with *ranges_r
 * and *n_r (possibly 0), or -1 with e set (ERR_INVALID "message sequence
 * number N out of range" or "no messages"). */
int imapsrv_seqset_ranges(const struct imapsrv_selected *sel, const struct imap_seqset *set,
                          bool uid_mode, struct arena *a, struct store_uidrange **ranges_r,
                          size_t *n_r, struct error *e);

/* The positions in the view of the UIDs within r: [*lo_r, returned). */
size_t imapsrv_view_span(const struct imapsrv_selected *sel, const struct store_uidrange *r,
                         size_t *lo_r);
/* How many of the view's UIDs are within ranges r[0..n) (ascending, merged,
 * as imapsrv_seqset_ranges gives them). */
size_t imapsrv_view_count(const struct imapsrv_selected *sel, const struct store_uidrange *r,
                          size_t n);

/* The message sequence number of uid in the view, 0 if not present. */
uint32_t imapsrv_seq_of(const struct imapsrv_selected *sel, uint32_t uid);

/* Whether uid is in the ranges (ranges as imapsrv_seqset_ranges returns). */
bool imapsrv_ranges_has(const struct store_uidrange *r, size_t n, uint32_t uid);

/* Appends a UID set in compact form ("1:3,7") to out. */
void imapsrv_write_uidset(struct buf *out, const uint32_t *uids, size_t n);

/* Removes uid from the view and the saved result (an EXPUNGE was reported). */
void imapsrv_view_remove(struct imapsrv_selected *sel, uint32_t uid);
/* The same for uids[0..n) (ascending), in one pass over the view. */
void imapsrv_view_remove_many(struct imapsrv_selected *sel, const uint32_t *uids, size_t n);

/* Appends uid (above every UID present) to the view. Returns 0 or -1 (ENOMEM). */
int imapsrv_view_append(struct imapsrv_selected *sel, uint32_t uid);

void imapsrv_selected_free(struct imapsrv_selected **sel);

/* Packs the view's UIDs into runs when that takes less memory (a session
 * about to park), and unpacks them (before anything else looks at the
 * view). Unpacking returns 0, or -1 when memory is short (the view stays
 * packed). */
void imapsrv_view_pack(struct imapsrv_selected *sel);
int imapsrv_view_unpack(struct imapsrv_selected *sel);

/* Adds the UIDs [first, end) to the recent ones (above every UID there).
 * Past IMAPSRV_RECENT_RANGES_MAX ranges the oldest are forgotten. */
void imapsrv_recent_add(struct imapsrv_selected *sel, uint32_t first, uint32_t end);
#define IMAPSRV_RECENT_RANGES_MAX 256

/* STATUS RECENT (RFC 3501 §6.3.10): the messages of the mailbox that no
 * session has claimed yet, plus those recent in this session when it has
 * the mailbox selected. Returns 0, or -1 with e set. */
int imapsrv_status_recent(struct imapsrv_session *s, int64_t mailbox_id, uint64_t *n_r,
                          struct error *e);

/* ---- selected.c: updates ---- */

/* Sends pending untagged updates for the selected mailbox (RFC 9051 §7.4.1,
 * §5.2): new messages (EXISTS, and RECENT for rev1), flag changes (FETCH
 * FLAGS, with UID when uid_cmd, MODSEQ when condstore) and, when
 * allow_expunge, expunges (EXPUNGE, or VANISHED with QRESYNC). RFC 9051
 * §7.4.1: no EXPUNGE during FETCH, STORE and SEARCH (allow_expunge false
 * there); UID versions may carry them. Returns 0, or -1 on a broken
 * connection. */
int imapsrv_sync(struct imapsrv_session *s, bool allow_expunge, bool uid_cmd);

/* ---- command handlers ---- */

typedef int imapsrv_cmd_fn(struct imapsrv_session *s, const struct imap_command *cmd,
                           struct imapsrv_result *r);

/* mailbox.c: LIST, LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, NAMESPACE. */
imapsrv_cmd_fn imapsrv_cmd_list, imapsrv_cmd_lsub, imapsrv_cmd_status, imapsrv_cmd_create,
	imapsrv_cmd_delete, imapsrv_cmd_rename, imapsrv_cmd_subscribe, imapsrv_cmd_unsubscribe,
	imapsrv_cmd_namespace;
/* mailbox.c: helpers shared by the command files. */
/* Sets r to NO with the RFC 5530 code for a store error (NONEXISTENT,
 * OVERQUOTA, LIMIT, UNAVAILABLE, CANNOT, SERVERBUG) and e's message. */
void imapsrv_result_store_error(struct imapsrv_result *r, const struct error *e);
/* Whether the mailbox argument `bit` (enum imap_undecodable) of cmd was not
 * valid modified UTF-7 (or UTF-8): no mailbox has such a name (RFC 3501
 * §5.1.3), so r is set to NO with code ("NONEXISTENT" where a name is
 * looked up, "CANNOT" where one would be made) and true returned. */
bool imapsrv_name_undecodable(const struct imapsrv_session *s, const struct imap_command *cmd,
                              unsigned bit, const char *code, struct imapsrv_result *r);
/* A name in tern's form as IMAP shows it: "Inbox..." becomes "INBOX..."
 * (RFC 9051 §5.1); in arena a when changed, else name itself. */
const char *imapsrv_mailbox_shown(struct arena *a, const char *name);
/* Whether a LIST pattern ("*", "%", RFC 9051 §6.3.9) matches a shown name. */
bool imapsrv_list_match(const char *pattern, const char *name);
/* The same, adding to *work the matching steps taken (runs of wildcards
 * count as one). */
bool imapsrv_list_match_work(const char *pattern, const char *name, uint64_t *work);
/* append.c: for the reader's continuation callback (imap_continue_fn),
 * with the command read so far: 1 with e set (ERR_NOTFOUND) when it is an
 * APPEND or REPLACE whose first literal is its first message and whose
 * mailbox does not exist, so that the client is told before it sends the
 * message; 0 otherwise (the command's handler judges). */
int imapsrv_append_literal_check(struct imapsrv_session *s, const char *so_far, size_t len,
                                 struct error *e);
/* The APPENDLIMIT in force (RFC 7889): the settings' append_max. */
uint64_t imapsrv_append_limit(const struct imapsrv_session *s);

/* message.c: helpers shared by the command files. */
/* Splits flags as written (STORE, APPEND) into system flag bits and a
 * space-separated keyword list in arena a. -1 with e set (ERR_INVALID) for
 * \Recent, an unknown \ flag, or a keyword past the store's limits. */
int imapsrv_parse_flags(const char *const *in, size_t n, struct arena *a, unsigned *flags_r,
                        const char **keywords_r, struct error *e);
/* Reports the expunge of uids (ascending) that are in the view, as EXPUNGE
 * responses or, with QRESYNC, one VANISHED (RFC 7162 §3.2.10), and takes
 * them out of the view. Returns 0, or -1 on a broken connection. */
int imapsrv_report_expunged(struct imapsrv_session *s, const uint32_t *uids, size_t n);

/* message.c: STORE, COPY, MOVE, EXPUNGE and UID EXPUNGE. */
imapsrv_cmd_fn imapsrv_cmd_store, imapsrv_cmd_copy, imapsrv_cmd_move, imapsrv_cmd_expunge;
/* append.c: APPEND (MULTIAPPEND), REPLACE. */
imapsrv_cmd_fn imapsrv_cmd_append, imapsrv_cmd_replace;
/* quota.c: GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208). */
imapsrv_cmd_fn imapsrv_cmd_getquota, imapsrv_cmd_getquotaroot, imapsrv_cmd_setquota;
/* fetch.c: FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162
 * CHANGEDSINCE/VANISHED, RFC 8514 SAVEDATE, RFC 8970 PREVIEW). Sets \Seen
 * for non-PEEK BODY[...]/BINARY[...] unless read-only, and then includes
 * FLAGS in that message's answer (RFC 9051 §6.4.5). */
imapsrv_cmd_fn imapsrv_cmd_fetch;
/* search.c: SEARCH (ESEARCH, SEARCHRES), SORT (RFC 5256, ESORT not
 * offered), THREAD (ORDEREDSUBJECT, REFERENCES). */
imapsrv_cmd_fn imapsrv_cmd_search, imapsrv_cmd_sort, imapsrv_cmd_thread;

/* search.c: the UIDs (ascending) of the view's messages matching key,
 * appended to out. *max_modseq_r (may be NULL) gets the highest modseq of
 * the matches (RFC 7162 §3.1.5), 0 if none. */
int imapsrv_search_eval(struct imapsrv_session *s, const struct imap_search_key *key,
                        struct store_uids *out, uint64_t *max_modseq_r, struct error *e);

/* search.c, shared by sort.c and thread.c. */
struct message_headers;
/* The header block of (selected mailbox, uid): the added headers, then the
 * file's header (at most MESSAGE_MAX_HEADER_BYTES), parsed into arena a. */
int imapsrv_msg_header(struct imapsrv_session *s, uint32_t uid, struct arena *a,
                       struct message_headers *h, struct error *e);
/* Days since 1970-01-01 of a civil date. */
int64_t imapsrv_days_from_civil(int y, int m, int d);
/* Appends s folded for case-insensitive matching (ASCII and the two-byte
 * UTF-8 letters of Latin, Greek, Cyrillic). Returns 0, or -1 if out is full. */
int imapsrv_casefold(const char *s, size_t n, struct buf *out);
/* Whether key uses MODSEQ (RFC 7162 §3.1.5). */
bool imapsrv_search_uses_modseq(const struct imap_search_key *key);
/* MODSEQ enables CONDSTORE (RFC 7162 §3.1): sets it, with HIGHESTMODSEQ. */
int imapsrv_search_enable_condstore(struct imapsrv_session *s);
/* 0 if the charset of sr is UTF-8, US-ASCII or absent; else fills r with
 * NO [BADCHARSET (UTF-8 US-ASCII)] and returns -1 (RFC 9051 §6.4.4). */
int imapsrv_check_charset(const struct imap_search *sr, struct imapsrv_result *r);
/* Fills r for a failed evaluation: BAD for ERR_INVALID, else NO. */
void imapsrv_search_failed(const struct error *e, struct imapsrv_result *r);
/* Writes "* WORD n n n[ (MODSEQ m)]" CRLF: UIDs, or their sequence numbers. */
int imapsrv_write_search(struct imapsrv_session *s, const char *word, const struct store_uids *res,
                         bool uid, bool modseq, uint64_t max_modseq);

/* sort.c, shared by thread.c: the base subject of a decoded subject (RFC
 * 5256 §2.1) in arena a; *reply_r (may be NULL) tells whether the
 * extraction removed a reply or forward marker. */
const char *imapsrv_base_subject(struct arena *a, const char *subject, bool *reply_r);

/* Writes buf to the connection (no flush); -1 on a broken connection. */
int imapsrv_send(struct imapsrv_session *s, const struct buf *b);

/* ---- session.c: shared pieces ---- */

/* Appends the flag list "(\Seen kw ...)" of a message: system flags,
 * keywords (space-separated), and \Recent when recent (IMAP4rev1 sessions,
 * RFC 3501 §2.3.2). */
void imapsrv_write_flags(struct buf *out, unsigned flags, const char *keywords, bool recent);

/* Whether uid counts as \Recent in this session (rev1 only). */
bool imapsrv_is_recent(const struct imapsrv_session *s, uint32_t uid);

/* Appends the capability list of the session's current state (without
 * "CAPABILITY "): one table in session.c. */
void imapsrv_capabilities(const struct imapsrv_session *s, struct buf *out);

/* The command arena's first block (arena_reset frees the others after
 * each command), and how large the response and reader buffers may stay
 * between commands. */
#define IMAPSRV_ARENA_BLOCK 4096
#define IMAPSRV_KEEP_BYTES (64 * 1024)

/* APPEND octets all sessions of a process may hold at once (read and not
 * yet stored, imap_append_budget); a command alone may exceed it within
 * its own limits. */
#define IMAPSRV_APPEND_BUDGET ((uint64_t)256 << 20)

/* Frees the buffers a waiting session does not need: with waiting (IDLE)
 * the response and reader buffers and the connection's empty buffers;
 * otherwise only response and reader buffers grown past
 * IMAPSRV_KEEP_BYTES. */
void imapsrv_release_memory(struct imapsrv_session *s, bool waiting);

/* After a successful login of account (auth.c): opens its store, enters
 * AUTHENTICATED. Returns 0, or -1 with r filled (NO [UNAVAILABLE]). */
int imapsrv_login_done(struct imapsrv_session *s, const char *account, struct imapsrv_result *r);

/* Leaves the selected mailbox, if any (no expunge). */
void imapsrv_unselect(struct imapsrv_session *s);

/* Writes a status response (tag NULL: untagged) and flushes; -1 on a
 * broken connection. */
int imapsrv_send_status(struct imapsrv_session *s, const char *tag, const char *status,
                        const char *code, const char *text);

/* idle.c: IDLE (imapsrv_cmd_idle starts it and answers later, s->idle).
 * While s->idle.tag is set, the session loop calls one of: */
/* The blocking wait: one event (a change, the client's line, the cancel fd,
 * the timeout) handled. Returns 0, or -1 when the session ends. */
int imapsrv_idle_wait(struct imapsrv_session *s);
/* Whether the session can park now (nothing buffered from the client):
 * then its memory is released and park filled. */
bool imapsrv_idle_park(struct imapsrv_session *s, struct imapsrv_park *park);
/* Handles a wake of a parked (or buffered) IDLE: sends the changes, reads
 * DONE and answers, or says BYE. Returns 0, or -1 when the session ends. */
int imapsrv_idle_wake(struct imapsrv_session *s, enum imapsrv_wake why);
/* Ends the IDLE state (frees the tag). */
void imapsrv_idle_clear(struct imapsrv_session *s);

/* Session-level commands: session.c (CAPABILITY, NOOP, CHECK, LOGOUT,
 * STARTTLS, ENABLE, ID, UNAUTHENTICATE, SELECT, EXAMINE, CLOSE, UNSELECT),
 * auth.c (LOGIN, AUTHENTICATE), idle.c (IDLE), compress.c (COMPRESS). */
imapsrv_cmd_fn imapsrv_cmd_login, imapsrv_cmd_authenticate, imapsrv_cmd_idle,
	imapsrv_cmd_compress;
/* selected.c: SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3; CONDSTORE and
 * QRESYNC parameters RFC 7162 §3.1.8, §3.2.5), CLOSE (§6.4.1) and UNSELECT
 * (RFC 3691). */
imapsrv_cmd_fn imapsrv_cmd_select, imapsrv_cmd_close;

#endif
