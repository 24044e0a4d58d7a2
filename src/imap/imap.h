/*
 * imap.h: IMAP syntax shared by tern's IMAP server (and later a client):
 * the command grammar of RFC 9051 §9 (IMAP4rev2) and RFC 3501 §9
 * (IMAP4rev1) with the extensions the server offers, the command reader
 * (lines and literals from a struct conn, RFC 9051 §4.3, §7.5; LITERAL+ and
 * LITERAL- RFC 7888; literal8 RFC 3516), modified UTF-7 mailbox names
 * (RFC 3501 §5.1.3) and the response writer (RFC 9051 §7, §4.3).
 *
 * Nothing here decides policy or state (which command is allowed when):
 * that is the server's business. Parsed forms live in a caller's arena;
 * parsers never read past the length they are given nor rely on a NUL.
 */
#ifndef TERN_IMAP_IMAP_H
#define TERN_IMAP_IMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct conn;
struct error;

/*
 * Limits. RFC 9051 §4 sets no line length; RFC 7162 §4 asks servers to
 * accept command lines of at least 8192 octets. One line of 64 KiB (the
 * default of Dovecot's imap_max_line_length) holds the largest ID command
 * RFC 2971 §3.3 allows, about 31 800 octets quoted (twice that if every
 * character were escaped), and long UID sets; the conn's buffer grows to
 * it only for such lines.
 */
#define IMAP_LINE_MAX_DEFAULT (64 * 1024)
#define IMAP_COMMAND_MAX_DEFAULT (64 * 1024)   /* one command, literals included */
#define IMAP_ARGS_MAX_DEFAULT 1000             /* values in one command */
#define IMAP_DEPTH_MAX_DEFAULT 32              /* parenthesis / search nesting */
/* RFC 2971 §3.3: at most 30 field-value pairs, fields of at most 30
 * octets, values of at most 1024; the parser refuses more. */
#define IMAP_ID_PAIRS_MAX 30
#define IMAP_ID_FIELD_MAX 30
#define IMAP_ID_VALUE_MAX 1024
/* A command limit before login that still lets the largest ID through. */
#define IMAP_PREAUTH_COMMAND_MAX (64 * 1024)
#define IMAP_APPEND_MAX_DEFAULT (50u * 1024 * 1024)
/* RFC 7888 §4: LITERAL- allows non-synchronizing literals of at most 4096 octets. */
#define IMAP_LITERAL_MINUS_MAX 4096
/* Strings written quoted by the response writer at most this long. */
#define IMAP_QUOTED_MAX 1024

/* Parser and reader flags. */
enum imap_flags {
	IMAP_UTF8 = 1 << 0,          /* rev2 or ENABLE UTF8=ACCEPT (RFC 9051 §6.3.1,
	                              * RFC 6855): mailbox names and quoted strings
	                              * are UTF-8; otherwise names are modified UTF-7 */
	IMAP_LITERAL_PLUS = 1 << 1,  /* LITERAL+ advertised: {n+} of any size (to the
	                              * limits); without it {n+} is LITERAL- (RFC 7888
	                              * §5, part of rev2): at most 4096 octets.
	                              * RFC 7888 §3 and RFC 9051 §9 spell both
	                              * "{n+}"; there is no "{n-}" on the wire */
};

/*
 * Values.
 */

/* A sequence set (RFC 9051 §9 sequence-set): ranges; 0 stands for "*". */
struct imap_seq_range {
	uint32_t first, last;        /* as written: first may be above last */
};

struct imap_seqset {
	bool saved;                  /* "$": the saved search result (RFC 5182) */
	size_t n;
	struct imap_seq_range *r;
};

struct imap_date {
	int year, month, day;        /* month 1..12 */
};

/* date-time (RFC 9051 §9): "dd-Mon-yyyy hh:mm:ss +zzzz". */
struct imap_datetime {
	struct imap_date date;
	int hour, min, sec;
	int zone_min;                /* offset east of UTC in minutes */
};

/* A string value: bytes may hold NUL only when from a literal8. */
struct imap_string {
	const char *p;               /* NUL-terminated copy */
	size_t n;
};

/*
 * SEARCH keys (RFC 9051 §6.4.4, §9 search-key; MODSEQ RFC 7162 §3.1.5;
 * SAVEDBEFORE/ON/SINCE and SAVEDATESUPPORTED RFC 8514; OLDER/YOUNGER
 * RFC 5032).
 */
enum imap_search_kind {
	IMAP_SK_AND = 0,             /* list: "(" key *(SP key) ")" and the top level */
	IMAP_SK_ALL, IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT, IMAP_SK_FLAGGED,
	IMAP_SK_NEW, IMAP_SK_OLD, IMAP_SK_RECENT, IMAP_SK_SEEN,
	IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED, IMAP_SK_UNDRAFT, IMAP_SK_UNFLAGGED,
	IMAP_SK_UNSEEN, IMAP_SK_SAVEDATESUPPORTED,
	/* str */
	IMAP_SK_BCC, IMAP_SK_BODY, IMAP_SK_CC, IMAP_SK_FROM, IMAP_SK_SUBJECT, IMAP_SK_TEXT,
	IMAP_SK_TO, IMAP_SK_KEYWORD, IMAP_SK_UNKEYWORD,
	IMAP_SK_HEADER,              /* str (field name), str2 */
	/* date */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE, IMAP_SK_SENTBEFORE, IMAP_SK_SENTON,
	IMAP_SK_SENTSINCE, IMAP_SK_SAVEDBEFORE, IMAP_SK_SAVEDON, IMAP_SK_SAVEDSINCE,
	/* num */
	IMAP_SK_LARGER, IMAP_SK_SMALLER, IMAP_SK_OLDER, IMAP_SK_YOUNGER,
	IMAP_SK_MODSEQ,              /* num; str = entry name or NULL, str2 = "priv"/"shared"/"all" */
	/* set */
	IMAP_SK_UID, IMAP_SK_SEQSET,
	/* children */
	IMAP_SK_NOT,                 /* a */
	IMAP_SK_OR,                  /* a, b */
};

struct imap_search_key {
	enum imap_search_kind kind;
	const char *str, *str2;
	uint64_t num;
	struct imap_date date;
	struct imap_seqset set;
	struct imap_search_key *a, *b;
	struct imap_search_key **list;   /* AND */
	size_t n;
};

/* RFC 4731 ESEARCH return options, RFC 5182 SAVE. */
enum imap_search_return {
	IMAP_SR_MIN = 1 << 0, IMAP_SR_MAX = 1 << 1, IMAP_SR_ALL = 1 << 2,
	IMAP_SR_COUNT = 1 << 3, IMAP_SR_SAVE = 1 << 4,
};

struct imap_search {
	bool esearch;                /* RETURN (...) was given (even empty) */
	unsigned ret;                /* enum imap_search_return bits */
	const char *charset;         /* NULL if absent */
	struct imap_search_key *key; /* IMAP_SK_AND of the top-level keys */
};

/*
 * FETCH (RFC 9051 §6.4.5, §9 fetch-att; BINARY RFC 3516 §4.2; MODSEQ and
 * CHANGEDSINCE/VANISHED RFC 7162 §3.1.4, §3.2.6; SAVEDATE RFC 8514;
 * PREVIEW RFC 8970).
 */
enum imap_fetch_kind {
	IMAP_FA_ENVELOPE = 0, IMAP_FA_FLAGS, IMAP_FA_INTERNALDATE, IMAP_FA_RFC822,
	IMAP_FA_RFC822_HEADER, IMAP_FA_RFC822_SIZE, IMAP_FA_RFC822_TEXT, IMAP_FA_BODY,
	IMAP_FA_BODYSTRUCTURE, IMAP_FA_UID, IMAP_FA_BODY_SECTION, IMAP_FA_BINARY,
	IMAP_FA_BINARY_SIZE, IMAP_FA_MODSEQ, IMAP_FA_SAVEDATE, IMAP_FA_PREVIEW,
	IMAP_FA_EMAILID, IMAP_FA_THREADID,
};

/* Same order as enum message_section_kind of message/message.h. */
enum imap_section_text {
	IMAP_SECTION_NONE = 0, IMAP_SECTION_HEADER, IMAP_SECTION_TEXT, IMAP_SECTION_MIME,
	IMAP_SECTION_HEADER_FIELDS, IMAP_SECTION_HEADER_FIELDS_NOT,
};

struct imap_fetch_att {
	enum imap_fetch_kind kind;
	bool peek;                   /* BODY.PEEK[...] / BINARY.PEEK[...] */
	const char *part;            /* section-part "1.2.3" ("" for none) */
	enum imap_section_text text;
	const char **fields;         /* HEADER.FIELDS[.NOT] names as written */
	size_t n_fields;
	bool partial;                /* <offset.count> */
	uint32_t offset, count;
	bool lazy;                   /* PREVIEW (LAZY) */
};

struct imap_fetch {
	struct imap_seqset set;
	bool macro_all, macro_fast, macro_full; /* given as a macro (atts expanded) */
	struct imap_fetch_att *atts;
	size_t n_atts;
	bool has_changedsince;
	uint64_t changedsince;
	bool vanished;
};

enum imap_store_mode { IMAP_STORE_SET = 0, IMAP_STORE_ADD, IMAP_STORE_REMOVE };

struct imap_store {
	struct imap_seqset set;
	bool has_unchangedsince;
	uint64_t unchangedsince;
	enum imap_store_mode mode;
	bool silent;
	const char **flags;          /* as written ("\\Seen", "$Junk") */
	size_t n_flags;
};

/* SELECT/EXAMINE parameters (RFC 7162 §3.1.8, §3.2.5). */
struct imap_select {
	const char *mailbox;
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset known_uids;      /* n == 0 when absent */
	struct imap_seqset match_seq, match_uid; /* seq-match-data; n == 0 when absent */
};

/* STATUS items (RFC 9051 §6.3.11; HIGHESTMODSEQ RFC 7162; APPENDLIMIT RFC 7889). */
enum imap_status_item {
	IMAP_ST_MESSAGES = 1 << 0, IMAP_ST_UIDNEXT = 1 << 1, IMAP_ST_UIDVALIDITY = 1 << 2,
	IMAP_ST_UNSEEN = 1 << 3, IMAP_ST_DELETED = 1 << 4, IMAP_ST_SIZE = 1 << 5,
	IMAP_ST_RECENT = 1 << 6, IMAP_ST_HIGHESTMODSEQ = 1 << 7, IMAP_ST_APPENDLIMIT = 1 << 8,
};

/* Which mailbox arguments of a command were kept undecoded. */
enum imap_undecodable {
	IMAP_UNDECODABLE_MAILBOX = 1 << 0,    /* mailbox (select.mailbox too) */
	IMAP_UNDECODABLE_MAILBOX2 = 1 << 1,   /* RENAME's new name */
	IMAP_UNDECODABLE_REFERENCE = 1 << 2,  /* LIST's reference */
	IMAP_UNDECODABLE_PATTERN = 1 << 3,    /* a LIST pattern, left out */
};

/* LIST (RFC 9051 §6.3.9; LIST-EXTENDED RFC 5258 §3; LIST-STATUS RFC 5819). */
enum imap_list_select {
	IMAP_LS_SUBSCRIBED = 1 << 0, IMAP_LS_REMOTE = 1 << 1, IMAP_LS_RECURSIVEMATCH = 1 << 2,
	IMAP_LS_SPECIAL_USE = 1 << 3,
};
enum imap_list_return {
	IMAP_LR_SUBSCRIBED = 1 << 0, IMAP_LR_CHILDREN = 1 << 1, IMAP_LR_SPECIAL_USE = 1 << 2,
	IMAP_LR_STATUS = 1 << 3, IMAP_LR_MYRIGHTS = 1 << 4,
};

struct imap_list {
	bool extended;               /* selection or return options or a pattern list */
	unsigned select;             /* enum imap_list_select bits */
	unsigned ret;                /* enum imap_list_return bits */
	unsigned status_items;       /* with IMAP_LR_STATUS */
	const char *reference;       /* decoded like a mailbox name */
	const char **patterns;
	size_t n_patterns;
};

/* One message of APPEND (MULTIAPPEND RFC 3502; UTF8 RFC 6855 §4; literal8
 * RFC 3516 §4.4). data points into the reader's buffer (valid until the next
 * imap_read_command) or into the parsed input. */
struct imap_append_msg {
	const char **flags;
	size_t n_flags;
	bool has_date;
	struct imap_datetime date;
	const char *data;
	size_t size;
	bool binary;                 /* literal8 */
	bool utf8;                   /* UTF8 (~{n}) */
};

struct imap_sort_crit {
	bool reverse;
	const char *key;             /* upper case: ARRIVAL CC DATE FROM SIZE SUBJECT TO
	                              * DISPLAYFROM DISPLAYTO (RFC 5256 §3, RFC 5957) */
};

struct imap_quota_res {
	const char *name;            /* upper case: STORAGE MESSAGE ... (RFC 9208 §5) */
	uint64_t limit;
};

enum imap_cmd {
	IMAP_CMD_NONE = 0,
	IMAP_CMD_CAPABILITY, IMAP_CMD_NOOP, IMAP_CMD_LOGOUT, IMAP_CMD_STARTTLS,
	IMAP_CMD_AUTHENTICATE, IMAP_CMD_LOGIN, IMAP_CMD_ENABLE, IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE, IMAP_CMD_CREATE, IMAP_CMD_DELETE, IMAP_CMD_RENAME,
	IMAP_CMD_SUBSCRIBE, IMAP_CMD_UNSUBSCRIBE, IMAP_CMD_LIST, IMAP_CMD_LSUB,
	IMAP_CMD_NAMESPACE, IMAP_CMD_STATUS, IMAP_CMD_APPEND, IMAP_CMD_IDLE, IMAP_CMD_CHECK,
	IMAP_CMD_CLOSE, IMAP_CMD_UNSELECT, IMAP_CMD_EXPUNGE, IMAP_CMD_SEARCH,
	IMAP_CMD_FETCH, IMAP_CMD_STORE, IMAP_CMD_COPY, IMAP_CMD_MOVE, IMAP_CMD_SORT,
	IMAP_CMD_THREAD, IMAP_CMD_GETQUOTA, IMAP_CMD_GETQUOTAROOT, IMAP_CMD_SETQUOTA,
	IMAP_CMD_ID, IMAP_CMD_COMPRESS, IMAP_CMD_UNAUTHENTICATE, IMAP_CMD_REPLACE,
};

/* One parsed command. Fields beyond tag/cmd/uid are set per command as
 * noted; everything else is zero. */
struct imap_command {
	const char *tag;
	enum imap_cmd cmd;
	bool uid;                    /* UID FETCH/STORE/COPY/MOVE/SEARCH/SORT/THREAD/
	                              * EXPUNGE/REPLACE */
	/* AUTHENTICATE: mech (upper case), initial (NULL if absent, "" for "=").
	 * LOGIN: user, password. COMPRESS: mech. SETQUOTA/GETQUOTA: name = root. */
	const char *mech, *initial;
	const char *user, *password;
	const char *name;
	/* SELECT/EXAMINE. */
	struct imap_select select;
	/* CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE, STATUS, APPEND, COPY, MOVE,
	 * GETQUOTAROOT, REPLACE: mailbox; RENAME: mailbox (old) and mailbox2 (new). */
	const char *mailbox, *mailbox2;
	/* Mailbox arguments that were not valid modified UTF-7 (with IMAP_UTF8:
	 * not UTF-8), kept as sent: no mailbox can have such a name (RFC 3501
	 * §5.1.3), so commands answer NO, not BAD. enum imap_undecodable bits;
	 * LIST patterns of that kind are left out of list.patterns. */
	unsigned undecodable;
	const char **use;            /* CREATE (USE (...)): special-use flags */
	size_t n_use;
	/* ENABLE: capabilities (upper case). ID: keys and values (NULL = NIL). */
	const char **words, **values;
	size_t n_words;
	bool id_nil;
	struct imap_list list;       /* LIST, LSUB */
	unsigned status_items;       /* STATUS */
	struct imap_append_msg *msgs; /* APPEND (n_msgs >= 1), REPLACE (1) */
	size_t n_msgs;
	struct imap_seqset set;      /* COPY, MOVE, UID EXPUNGE; REPLACE: one number */
	struct imap_search search;   /* SEARCH, SORT, THREAD */
	struct imap_sort_crit *sort; /* SORT */
	size_t n_sort;
	const char *thread_alg;      /* THREAD: upper case */
	struct imap_fetch fetch;     /* FETCH */
	struct imap_store store;     /* STORE */
	struct imap_quota_res *quota; /* SETQUOTA */
	size_t n_quota;
	/* Octets of APPEND literals reserved from imap_limits.append_budget by
	 * imap_read_command: give them back with imap_append_budget_release
	 * once the command has run (the data is dropped). */
	uint64_t append_held;
};

/* The command's name in upper case ("FETCH"), "?" for an unknown value. */
const char *imap_cmd_name(enum imap_cmd cmd);

/* Parses one complete command in wire form [p, p+len): tag SP command, with
 * any literals inline ("{5}" CRLF then 5 octets; the CRLF after the last
 * line excluded). flags: IMAP_UTF8. Strings go to arena a; APPEND data
 * points into [p, p+len). args_max and depth_max bound values and nesting
 * (0: the defaults). Returns 0 with cmd_r filled, or -1 with e set
 * (ERR_INVALID: "at offset N: expected ...", ERR_LIMIT) and, when the tag
 * could be read, cmd_r->tag set (else NULL: answer "* BAD"). */
int imap_command_parse(const char *p, size_t len, unsigned flags, size_t args_max,
	unsigned depth_max, struct arena *a, struct imap_command *cmd_r, struct error *e);

/*
 * Reading commands from a connection (RFC 9051 §2.2.1, §4.3, §7.5).
 */

/* Called before the reader reads the octets of a synchronizing literal
 * {size}: writes and flushes the continuation ("+ Ready" CRLF). Returns 0,
 * or -1 with e set (the reader then fails with that error, fatal), or 1
 * with e set to refuse the literal instead of "+" (the command is then
 * refused with NO, code TRYCREATE for ERR_NOTFOUND: an APPEND to a mailbox
 * that does not exist, RFC 9051 §6.3.12). The command so far, up to the
 * literal's announcement and its CRLF, is in the reader's scratch. */
typedef int imap_continue_fn(void *ctx, uint64_t size, struct error *e);

struct imap_limits {
	size_t command_max;          /* bytes of one command, literals included,
	                              * APPEND messages excluded */
	size_t args_max;
	unsigned depth_max;
	uint64_t append_max;         /* one APPEND message (APPENDLIMIT, RFC 7889) */
	uint64_t append_total_max;   /* all messages of one MULTIAPPEND */
	uint64_t skip_max;           /* a refused non-synchronizing literal up to this
	                              * is read and dropped; larger: fatal */
	/* A literal over IMAP_LITERAL_TRANSFER_MIN octets is read under a
	 * transfer deadline (conn_transfer_begin): base_ms + 1 s per min_rate
	 * octets, at most max_ms; the idle timeout still bounds each stall. */
	unsigned transfer_base_ms, transfer_min_rate, transfer_max_ms;
	/* Shared by the sessions of a process (NULL: none): APPEND literals
	 * are reserved from it before they are read. */
	struct imap_append_budget *append_budget;
};

#define IMAP_LITERAL_TRANSFER_MIN (64 * 1024)

/* A bound on the APPEND octets held at once by all the sessions that share
 * it: each literal is reserved before it is read (before "+" for a
 * synchronizing one) and given back when its command has run. A literal
 * that does not fit is refused with NO [LIMIT] (imap_refusal.no): a
 * shortage the client may retry, RFC 9051 §7.1.2. A command that is alone
 * in the budget is never refused by it (its own limits bound it). */
struct imap_append_budget {
	_Atomic uint64_t used;
	uint64_t max;
};

/* Gives back n octets reserved from b (NULL: nothing). */
void imap_append_budget_release(struct imap_append_budget *b, uint64_t n);

/* Fills l with the *_DEFAULT values (append_total_max 4 * append_max,
 * skip_max = append_max; transfers: 60 s + 1 s per 1024 octets, at most
 * 1 hour). */
void imap_limits_default(struct imap_limits *l);

/* Why a command was refused, for the reply. */
struct imap_refusal {
	const char *tag;             /* the tag, or NULL ("*") when it was unreadable */
	const char *code;            /* response code for the BAD: "TOOBIG",
	                              * "LIMIT", "PARSE", or NULL */
	bool fatal;                  /* the connection is out of step or broken: send
	                              * "* BYE" if possible, then close */
	bool literal_refused;        /* a synchronizing literal was refused before the
	                              * client sent it: send the BAD instead of "+" */
	bool no;                     /* answer NO, not BAD: the command was valid but
	                              * cannot be done (code "LIMIT": a shortage to
	                              * retry; "TRYCREATE": see imap_continue_fn) */
};

/* Reads one command from c, whose line_max bounds each line (use
 * IMAP_LINE_MAX_DEFAULT), and parses it (imap_command_parse). Synchronizing
 * literals call cont first; non-synchronizing ones ({n+}) are checked
 * against LITERAL- (IMAP_LITERAL_MINUS_MAX) unless flags has
 * IMAP_LITERAL_PLUS. In APPEND (and REPLACE) each literal is bounded by
 * append_max and all of them by append_total_max instead of command_max.
 * scratch is the reader's buffer, reused across commands (init it with
 * BUF_UNBOUNDED: the limits bound it); APPEND data points into it. It holds
 * the raw command, LOGIN passwords included: free it with buf_free_secret,
 * and give LOGIN/AUTHENTICATE an ARENA_SECRET arena (the caller knows the
 * state; the reader cannot tell before reading).
 *
 * Returns 0 with cmd_r filled; or -1 with e set and ref_r filled:
 *   ERR_INVALID, ERR_LIMIT  the command is refused (tagged BAD with e->msg as
 *               text), the whole command was consumed or, for a refused
 *               synchronizing literal, the client sends nothing more of it:
 *               the next read starts at the next command (unless fatal);
 *   ERR_CLOSED, ERR_TIMEOUT, ERR_IO, ERR_TLS, ERR_SHUTDOWN: fatal. */
int imap_read_command(struct conn *c, const struct imap_limits *lim, unsigned flags,
	imap_continue_fn *cont, void *ctx, struct buf *scratch, struct arena *a,
	struct imap_command *cmd_r, struct imap_refusal *ref_r, struct error *e);

/* During IDLE (RFC 2177, RFC 9051 §6.3.13): reads the next line; returns 0
 * for "DONE" (any case), or -1 with e set: ERR_INVALID for another line
 * (answer BAD), or a connection error. */
int imap_read_idle_done(struct conn *c, struct error *e);

/* During AUTHENTICATE (RFC 9051 §6.2.2): reads one client response line into
 * a (base64 as sent, or "*" for a cancel). Returns 0, or -1 with e set. */
int imap_read_sasl_line(struct conn *c, struct arena *a, const char **line_r,
	struct error *e);

/*
 * Mailbox names (RFC 3501 §5.1.3 modified UTF-7; RFC 9051 §5.1).
 */

/* Decodes modified UTF-7 [p, p+n) into UTF-8 in arena a. Refuses what the
 * RFC forbids: bytes outside 0x20-0x7e, "&" not followed by "-" or base64,
 * unpadded bits, encoded printable ASCII, non-shortest forms such as
 * "&AGE-", adjacent encoded runs, bad UTF-16. Returns 0, or -1 with e set. */
int imap_mutf7_decode(const char *p, size_t n, struct arena *a, const char **out_r,
	struct error *e);

/* Encodes UTF-8 [p, p+n) as modified UTF-7 into arena a. Returns 0, or -1
 * with e set (invalid UTF-8). */
int imap_mutf7_encode(const char *p, size_t n, struct arena *a, const char **out_r,
	struct error *e);

/* Turns a mailbox name as sent into tern's form: "INBOX" in any case becomes
 * "INBOX" (RFC 9051 §5.1); without IMAP_UTF8 the name is decoded from
 * modified UTF-7, with it checked as UTF-8. Returns 0, or -1 with e set. */
int imap_mailbox_decode(const char *p, size_t n, unsigned flags, struct arena *a,
	const char **out_r, struct error *e);

/*
 * Response writer (RFC 9051 §7, §9 response syntax). Appends to out; each
 * returns 0, or -1 if out would pass its maximum.
 */

/* What a string write chose (for tests): */
enum imap_string_form { IMAP_FORM_ATOM, IMAP_FORM_QUOTED, IMAP_FORM_LITERAL,
	IMAP_FORM_LITERAL8 };

/* The form imap_write_astring (astring true) or imap_write_string would
 * choose: an atom only for astrings made of ASTRING-CHARs that are not
 * "NIL"; quoted when 7-bit (UTF-8 too with IMAP_UTF8) without CR, LF or NUL
 * and at most IMAP_QUOTED_MAX bytes; else a literal; literal8 when the bytes
 * hold a NUL. */
enum imap_string_form imap_string_form(const char *p, size_t n, bool astring, unsigned flags);

int imap_write_astring(struct buf *out, const char *p, size_t n, unsigned flags);
int imap_write_string(struct buf *out, const char *p, size_t n, unsigned flags);
/* NIL for p == NULL. */
int imap_write_nstring(struct buf *out, const char *p, size_t n, unsigned flags);
/* A mailbox name in tern's UTF-8 form: modified UTF-7 unless IMAP_UTF8. */
int imap_write_mailbox(struct buf *out, const char *name, unsigned flags);
/* "(" items separated by SP ")", each written raw (flags, atoms). */
int imap_write_atom_list(struct buf *out, const char *const *items, size_t n);
int imap_write_seqset(struct buf *out, const struct imap_seqset *set);
/* A status response: tag (NULL: "*") SP status ("OK", "NO", "BAD", "BYE",
 * "PREAUTH") [SP "[" code "]"] SP text CRLF. CR, LF and other control bytes
 * in code or text become spaces; an empty text becomes the status word. */
int imap_write_status(struct buf *out, const char *tag, const char *status,
	const char *code, const char *text);

#endif
