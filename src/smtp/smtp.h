/*
 * smtp.h: RFC 5321 protocol pieces shared by tern's SMTP server and client:
 * addresses and paths (§4.1.2, RFC 6531 §3.3), command lines (§4.1.1 with
 * the ESMTP parameters of RFC 1870, 3461, 6152, 6531, 8689, 3030, 4954),
 * replies (§4.2, enhanced codes RFC 2034/3463) and the DATA reader (§4.5.2,
 * §4.1.1.4 with SMTP smuggling protection).
 *
 * Nothing here decides policy or talks to a socket except the DATA reader,
 * which reads through core/conn.h. Parsers take a pointer and a length and
 * never read past it or rely on a NUL; results live in a caller's arena.
 */
#ifndef TERN_SMTP_SMTP_H
#define TERN_SMTP_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct conn;
struct error;

/*
 * Limits (RFC 5321 §4.5.3.1). Each is the RFC's minimum that every
 * implementation must accept; tern accepts exactly that much by default.
 */

/* §4.5.3.1.1: local part, as written (quotes and backslashes count). */
#define SMTP_LOCAL_PART_MAX 64
/* With SMTP_LIBERAL: §4.5.3.1 asks servers to accept longer local parts
 * where they can ("be liberal"), and long SRS/VERP local parts exist; tern
 * then allows this many, which still leaves room for a domain in a path. */
#define SMTP_LOCAL_PART_LIBERAL_MAX 128
/* §4.5.3.1.2: domain. */
#define SMTP_DOMAIN_MAX 255
/* RFC 1035 §2.3.4: one label of a domain. */
#define SMTP_LABEL_MAX 63
/* §4.5.3.1.3: reverse-path or forward-path, "<" and ">" included. */
#define SMTP_PATH_MAX 256
/* A Mailbox must fit in a path: SMTP_PATH_MAX less "<" and ">". */
#define SMTP_MAILBOX_MAX (SMTP_PATH_MAX - 2)
/* §4.5.3.1.4: command line, CRLF included. */
#define SMTP_COMMAND_LINE_MAX 512
/* With SMTPUTF8 or several ESMTP parameters a MAIL/RCPT line may be longer:
 * RFC 5321 §4.5.3.1.4 lets each extension raise the limit (RFC 1870 adds 26
 * for SIZE, RFC 3461 §5 adds 100+500 for ORCPT/ENVID, RFC 4954 §5 500 for
 * AUTH=; §4 lets an AUTH line with its initial response be longer still).
 * tern accepts MAIL, RCPT and AUTH lines up to this (CRLF included) when the
 * caller passes SMTP_EXTENDED; other commands stay at 512. */
#define SMTP_COMMAND_LINE_EXTENDED_MAX 2048
/* §4.5.3.1.5: reply line, CRLF included. */
#define SMTP_REPLY_LINE_MAX 512
/* Longest reply line, CRLF included, that the parser accepts: §4.5.3.1.5
 * sets 512, but §4.5.3.1 asks receivers to accept longer lines, and servers
 * send them (long final replies to DATA carry queue ids and hashes). */
#define SMTP_REPLY_PARSE_LINE_MAX 4096
/* RFC 1870: SIZE values above this are refused as syntax (no 20-digit sizes). */
#define SMTP_SIZE_VALUE_MAX UINT64_C(999999999999999)
/* RFC 3030: BDAT chunk sizes above this are refused as syntax. */
#define SMTP_BDAT_SIZE_MAX UINT64_C(999999999999999)
/* RFC 3461 §4.2 (ORCPT) and §4.4 (ENVID): decoded xtext values. */
#define SMTP_ORCPT_MAX 500
#define SMTP_ENVID_MAX 100

/* Parser flags. */
enum smtp_flags {
	SMTP_UTF8 = 1 << 0,       /* RFC 6531 §3.3: UTF-8 in local part and domain */
	SMTP_LIBERAL = 1 << 1,    /* local part up to SMTP_LOCAL_PART_LIBERAL_MAX */
	SMTP_STRICT = 1 << 2,     /* commands: no space after "FROM:"/"TO:" */
	SMTP_EXTENDED = 1 << 3,   /* commands: MAIL/RCPT up to SMTP_COMMAND_LINE_EXTENDED_MAX */
};

/*
 * Addresses.
 */

struct smtp_address {
	const char *local;      /* local part with quotes and quoted-pairs undone */
	size_t local_len;       /* may hold no NUL: RFC 5321 allows none */
	const char *local_raw;  /* local part as written (Dot-string or Quoted-string) */
	const char *domain;     /* Domain, or the address-literal with its brackets */
	bool literal;           /* domain is an address-literal "[...]" */
	bool quoted;            /* local part was a Quoted-string */
};

struct smtp_path {
	bool null;              /* "<>": the null reverse-path, addr is empty */
	struct smtp_address addr;
};

/* Parses a whole Mailbox (RFC 5321 §4.1.2) from [p, p+len): nothing may
 * follow it; at most SMTP_MAILBOX_MAX octets. flags: SMTP_UTF8, SMTP_LIBERAL. Strings are NUL-terminated
 * copies in arena a. Returns 0, or -1 with e set (ERR_INVALID: "at offset N:
 * expected ...", ERR_LIMIT: a named limit passed). */
int smtp_address_parse(const char *p, size_t len, unsigned flags, struct arena *a,
	struct smtp_address *addr_r, struct error *e);

/* Parses a Path or the null path "<>" starting at *pp (before end); on success
 * *pp points after ">". A source route (A-d-l ":") is parsed and dropped
 * (RFC 5321 §4.1.2, Appendix C). Returns 0, or -1 with e set as above;
 * offsets count from *pp. */
int smtp_path_parse(const char **pp, const char *end, unsigned flags, struct arena *a,
	struct smtp_path *path_r, struct error *e);

/* Whether [p, p+len) is a Domain (LDH labels; with SMTP_UTF8 also U-labels).
 * Returns 0, or -1 with e set. */
int smtp_domain_check(const char *p, size_t len, unsigned flags, struct error *e);

/*
 * Replies the server may send when a command is refused; also used by the
 * DATA reader. Static strings.
 */
struct smtp_reply_hint {
	int code;               /* 500, 501, 555, ... */
	const char *enhanced;   /* "5.5.4" (RFC 3463), never NULL when code != 0 */
	const char *text;
};

/*
 * Command lines.
 */

enum smtp_verb {
	SMTP_VERB_NONE = 0,
	SMTP_VERB_EHLO, SMTP_VERB_HELO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
	SMTP_VERB_DATA, SMTP_VERB_BDAT, SMTP_VERB_RSET, SMTP_VERB_NOOP,
	SMTP_VERB_QUIT, SMTP_VERB_VRFY, SMTP_VERB_EXPN, SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS, SMTP_VERB_AUTH,
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

/* RFC 3461 §4.1 NOTIFY bits. */
enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

struct smtp_mail_params {
	bool has_size;
	uint64_t size;          /* RFC 1870 */
	enum smtp_body body;    /* RFC 6152, RFC 3030 */
	bool smtputf8;          /* RFC 6531 §3.4 */
	bool requiretls;        /* RFC 8689 §4.1 */
	enum smtp_ret ret;      /* RFC 3461 §4.3 */
	const char *envid;      /* RFC 3461 §4.4, xtext decoded; NULL if absent */
	const char *auth;       /* RFC 4954 §5 AUTH=, xtext decoded ("<>" kept); NULL if absent */
};

struct smtp_rcpt_params {
	unsigned notify;        /* enum smtp_notify bits; 0 if absent */
	const char *orcpt_type; /* RFC 3461 §4.2 addr-type ("rfc822"); NULL if absent */
	const char *orcpt;      /* xtext decoded address */
};

struct smtp_command {
	enum smtp_verb verb;
	const char *arg;        /* EHLO/HELO: domain or literal; VRFY/EXPN/HELP/NOOP:
	                         * the string or NULL; AUTH: mechanism (upper case) */
	bool arg_literal;       /* EHLO/HELO argument is an address-literal */
	const char *auth_initial; /* AUTH initial response or NULL */
	struct smtp_path path;  /* MAIL reverse-path, RCPT forward-path */
	struct smtp_mail_params mail;
	struct smtp_rcpt_params rcpt;
	uint64_t bdat_size;     /* RFC 3030 */
	bool bdat_last;
};

/* The verb's name in upper case ("EHLO"), "?" for an unknown value. */
const char *smtp_verb_name(enum smtp_verb verb);

/* Parses one command line without its CRLF, [line, line+len). flags:
 * SMTP_STRICT, SMTP_UTF8 (addresses may hold UTF-8 when the line asks for
 * SMTPUTF8 or this flag is given), SMTP_LIBERAL, SMTP_EXTENDED. Strings go
 * to arena a. "RCPT TO:<Postmaster>" (§4.1.1.3) gives local part
 * "Postmaster" and domain "". Returns 0 with cmd_r filled, or -1 with e set
 * (ERR_INVALID, ERR_LIMIT) and hint_r (if not NULL) holding the reply to send:
 *   500 5.5.2  unknown command, or line over the limit;
 *   501 5.5.4  bad arguments or parameter values, a parameter given twice;
 *   501 5.1.7 / 5.1.3  bad reverse-path / forward-path syntax;
 *   553 5.6.7  non-ASCII address without SMTPUTF8 (RFC 6531 §3.6.1);
 *   555 5.5.4  unknown MAIL/RCPT parameter (RFC 5321 §4.1.1.11).
 * The error message names the verb, the offset or the parameter. */
int smtp_command_parse(const char *line, size_t len, unsigned flags, struct arena *a,
	struct smtp_command *cmd_r, struct smtp_reply_hint *hint_r, struct error *e);

/* Decodes RFC 3461 §4 xtext ("+" HEXCHAR HEXCHAR for 0x00-0x20, "+", "=" and
 * 0x7F..) from [p, p+len) into an arena string of at most max bytes.
 * Returns 0, or -1 with e set (bad hex, a char that must be encoded, too long). */
int smtp_xtext_decode(const char *p, size_t len, size_t max, struct arena *a,
	const char **out_r, struct error *e);

/*
 * Replies.
 */

/* Appends a reply to out: every line starts with code (200..599), then "-"
 * (more lines follow) or " " (last line), then the enhanced code and a space
 * if enhanced is not NULL, then the text. lines[0..n) are the texts (n == 0:
 * one line with no text). Control bytes in a text (CR, LF, NUL, ...) become
 * '?'; a text too long for one SMTP_REPLY_LINE_MAX line is wrapped at a space
 * where possible, else cut, into further lines. Returns 0, or -1 with e set
 * (ERR_INVALID for a bad code or enhanced code, ERR_LIMIT if out is full). */
int smtp_reply_format(struct buf *out, int code, const char *enhanced,
	const char *const *lines, size_t n, struct error *e);

struct smtp_reply {
	int code;
	char enhanced[16];      /* "2.1.0", or "" when the reply has none */
	const char **lines;     /* texts, enhanced code removed from each */
	size_t n;
};

/* Parses one reply line [p, p+len) without CRLF into its code, whether more
 * lines follow (a "-" separator) and the text. Returns 0, or -1 with e set. */
int smtp_reply_parse_line(const char *p, size_t len, int *code_r, bool *more_r,
	const char **text_r, size_t *text_len_r, struct error *e);

/* Parses a reply at the start of [p, p+len): lines ending in CRLF (a bare LF
 * is accepted from servers, RFC 5321 §4.5.3.1.5 does not require refusing
 * it). Returns the bytes used (> 0) with reply_r filled from arena a, 0 if
 * the input ends before the last line, or -1 with e set (bad code, codes
 * differing between lines, a line over SMTP_REPLY_PARSE_LINE_MAX). The enhanced
 * code is taken when every line starts with the same one and its class
 * matches the code's first digit (RFC 2034 §4). */
long smtp_reply_parse(const char *p, size_t len, struct arena *a,
	struct smtp_reply *reply_r, struct error *e);

/*
 * DATA (RFC 5321 §4.1.1.4, §4.5.2).
 */

/* Receives message bytes (CRLF line endings, dots unstuffed). Returns 0, or
 * -1 with e set: the reader stops calling it, consumes to end-of-data and
 * returns that error. */
typedef int smtp_data_sink(void *ctx, const char *p, size_t n, struct error *e);

struct smtp_data_result {
	uint64_t size;           /* message bytes passed to the sink */
	bool synced;             /* the end-of-data line was read: the session may go on */
	struct smtp_reply_hint hint; /* reply to send after a failure */
};

/* Reads the message after "354" from c up to the end-of-data line CRLF "."
 * CRLF (only that sequence ends it; the CRLF before the dot is the last CRLF
 * of the message, or the one ending the DATA command for an empty message),
 * undoes dot-stuffing and passes the rest to sink. Returns 0 (synced), or -1
 * with e set and result_r->hint filled:
 *   ERR_INVALID  a bare CR or LF or a NUL in the data (500 5.5.2, SMTP
 *                smuggling protection; NUL: 554 5.6.0); input was consumed to
 *                the true end-of-data, synced is true;
 *   ERR_LIMIT    more than max_size bytes (552 5.3.4), synced;
 *   sink errors  whatever the sink set, synced;
 *   ERR_CLOSED, ERR_TIMEOUT, ERR_IO, ERR_TLS: synced is false, the connection
 *                must be closed (421 4.4.2 hint).
 * max_size 0 means no limit. */
int smtp_data_read(struct conn *c, uint64_t max_size, smtp_data_sink *sink, void *ctx,
	struct smtp_data_result *result_r, struct error *e);

/*
 * BDAT (RFC 3030 §2, §3): chunks of exactly the announced size, no
 * dot-stuffing. tern takes only CRLF line endings and no NUL in them, as in
 * DATA, so every stored message is valid RFC 5322 text (BINARYMIME is not
 * offered); a CR at the end of one chunk may be followed by the LF at the
 * start of the next.
 */
struct smtp_bdat {
	uint64_t max, size;
	bool cr_pending;          /* the last byte was a CR */
	bool failed;              /* a data error was found: later bytes are dropped */
	struct smtp_reply_hint hint;  /* reply for the failure */
	char msg[160];            /* what was wrong, for logs */
};

/* Starts a message of at most max_size bytes (0: no limit). */
void smtp_bdat_begin(struct smtp_bdat *b, uint64_t max_size);

/* Reads exactly n bytes (one chunk) from c and passes them to sink unless
 * the message already failed. Returns 0 when the chunk was consumed (even if
 * the message failed: see b->failed, b->hint, b->msg), or -1 with e set on a
 * connection error (ERR_CLOSED, ERR_TIMEOUT, ...: the session must end). */
int smtp_bdat_chunk(struct smtp_bdat *b, struct conn *c, uint64_t n, smtp_data_sink *sink,
	void *ctx, struct error *e);

/* After the LAST chunk: checks the message does not end in a bare CR.
 * Returns 0, or -1 with b->failed set. */
int smtp_bdat_end(struct smtp_bdat *b);

/* A sink that appends to the struct buf given as ctx (ERR_LIMIT when full). */
int smtp_data_sink_buf(void *ctx, const char *p, size_t n, struct error *e);

#endif
