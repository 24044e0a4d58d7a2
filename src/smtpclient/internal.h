/*
 * internal.h: the parts of the SMTP client shared by its files: EHLO
 * keywords and xtext (ehlo.c), the MX host list (mx.c), DANE (dane.c), and
 * the state of one delivery attempt (client.c) and of its SMTP sessions
 * (session.c).
 */
#ifndef TERN_SMTPCLIENT_INTERNAL_H
#define TERN_SMTPCLIENT_INTERNAL_H

#include "smtpclient/smtpclient.h"

#include "core/error.h"
#include "mtasts/mtasts.h"
#include "smtp/smtp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct buf;
struct conn;
struct dns_mx;
struct dns_result;
struct ssl_st;
struct tls_client;

/* What the server offers in its EHLO reply (RFC 5321 §4.1.1.1). */
struct ehlo_ext {
	bool esmtp;             /* EHLO succeeded (else HELO: nothing below) */
	bool starttls;          /* RFC 3207 */
	bool pipelining;        /* RFC 2920 */
	bool size;              /* RFC 1870 */
	uint64_t size_max;      /* SIZE value, 0: not declared */
	bool eightbitmime;      /* RFC 6152 */
	bool smtputf8;          /* RFC 6531 */
	bool chunking;          /* RFC 3030 */
	bool dsn;               /* RFC 3461 */
	bool requiretls;        /* RFC 8689 */
	bool auth_plain, auth_scram_sha1, auth_scram_sha256;  /* RFC 4954 */
	bool auth_scram_sha1_plus, auth_scram_sha256_plus;   /* RFC 5802 channel binding */
};

/* Reads the keyword lines of an EHLO reply: lines[0] is the greeting line
 * (skipped), each later line is "KEYWORD [params]" (§4.1.1.1). */
void ehlo_ext_parse(const char *const *lines, size_t n, struct ehlo_ext *ext);

/* Appends s as RFC 3461 §4 xtext ("+XX" for "+", "=", and bytes outside
 * 33..126). Returns 0, or -1 if b is full. */
int xtext_append(struct buf *b, const char *s);

/* One MX host to try, in order. */
struct mx_host {
	const char *name;       /* presentation form without the final dot */
	uint16_t preference;
};

/* Most MX hosts tried per attempt (RFC 5321 §5.1 lets a client limit them). */
#define SMTPCLIENT_MX_MAX 16

enum mx_order_result { MX_ORDER_OK, MX_ORDER_NULL_MX, MX_ORDER_EMPTY };

/* Orders MX records for delivery (RFC 5321 §5.1): by preference, equal
 * preferences shuffled with rnd (called with a bound, returns 0..bound-1).
 * A null MX (RFC 7505 §3: a single record with host ".") gives
 * MX_ORDER_NULL_MX; "." among other records is skipped. Names point into
 * the records. Returns the count in *n_r (at most max). */
enum mx_order_result mx_order(const struct dns_mx *mx, size_t n, unsigned (*rnd)(unsigned bound),
	struct mx_host *out, size_t max, size_t *n_r);

/* Shuffled order for equal preferences: random_r-free uniform pick. */
unsigned mx_random(unsigned bound);

/* DANE (RFC 7672) for one MX host. */
struct dane_tlsa {
	uint8_t usage, selector, mtype;
	unsigned char *data;
	size_t len;
};

#define DANE_TLSA_MAX 32

struct dane_host {
	char base[256];         /* the TLSA base domain: the host name or, for a host that
	                           is a CNAME, its expanded name (RFC 7672 §2.2.2) */
	bool secure_rrset;      /* a DNSSEC-secure TLSA RRset exists (usable or not) */
	size_t n;               /* usable records (usage 2 or 3, selector 0/1, mtype 0/1/2) */
	struct dane_tlsa tlsa[DANE_TLSA_MAX];
};

enum dane_lookup_result {
	DANE_NONE,              /* no secure TLSA: DANE does not apply */
	DANE_FOUND,             /* dh filled (secure RRset; maybe no usable record) */
	DANE_LOOKUP_FAILED,     /* TLSA lookup failed or bogus: the host must not be used
	                           (RFC 7672 §2.2) */
};

/* The RFC 8460 §4.4 policy strings of a session under policy into out
 * ('\n' between): dh's TLSA records ("3 1 1 HEX") for DANE, the lines of
 * sts for MTA-STS, else "". Whole lines only. */
struct mtasts_policy;
void smtpclient_policy_strings(enum smtpclient_policy policy, const struct dane_host *dh,
	const struct mtasts_policy *sts, char *out, size_t size);

/* Looks up "_25._tcp.HOST" TLSA (RFC 7672 §2.2). Call only when the MX
 * RRset and the host's address records were DNSSEC-secure. */
enum dane_lookup_result dane_lookup(struct dns_resolver *res, const char *host,
	struct dane_host *dh, char *why, size_t whysize);

/* Frees the record data of dh. */
void dane_host_free(struct dane_host *dh);

/* Prepares ssl (from a context with SSL_CTX_dane_enable) for DANE: base
 * domain and SNI host, the extra reference identifier domain (RFC 7672
 * §3.2.2), no name checks for DANE-EE (§3.1.1), the usable records. Returns
 * 0, or -1 if OpenSSL refused all records. */
int dane_ssl_setup(struct ssl_st *ssl, const char *host, const char *domain,
	const struct dane_host *dh);

/*
 * One delivery attempt (client.c) and its SMTP sessions (session.c).
 */

/* RFC 5321 §4.5.3.2 timeouts. */
#define T_CONNECT_MS      (30 * 1000)        /* not in the RFC; Postfix's default */
#define T_GREETING_MS     (5 * 60 * 1000)    /* §4.5.3.2.1 */
#define T_MAIL_MS         (5 * 60 * 1000)    /* §4.5.3.2.2 */
#define T_RCPT_MS         (5 * 60 * 1000)    /* §4.5.3.2.3 */
#define T_DATA_INIT_MS    (2 * 60 * 1000)    /* §4.5.3.2.4 */
#define T_DATA_BLOCK_MS   (3 * 60 * 1000)    /* §4.5.3.2.5 */
#define T_DATA_END_MS     (10 * 60 * 1000)   /* §4.5.3.2.6 */
#define T_OTHER_MS        (5 * 60 * 1000)    /* EHLO, STARTTLS, AUTH, QUIT */

/* Longest reply line read, CRLF included (§4.5.3.1.5 says 512; servers send
 * longer): what the reply parser accepts. */
#define REPLY_LINE_MAX SMTP_REPLY_PARSE_LINE_MAX
/* Most lines of one reply. */
#define REPLY_LINES_MAX 100
/* Bytes of the message read and sent at a time; also the BDAT chunk size. */
#define CHUNK_SIZE (256 * 1024)

enum host_security {
	SEC_NONE,               /* plain text (route tls NONE) */
	SEC_OPPORTUNISTIC,      /* TLS if offered, not verified (RFC 7435) */
	SEC_ENCRYPT,            /* TLS required, not verified (RFC 7672 §2.2: unusable TLSA) */
	SEC_DANE,               /* TLS required, DANE-verified */
	SEC_STS_ENFORCE,        /* TLS required, PKIX-verified (RFC 8461 §5) */
	SEC_STS_TESTING,        /* TLS if offered, PKIX checked and only reported */
	SEC_PKIX,               /* smarthost: TLS required, PKIX-verified */
};

struct attempt {
	const struct smtpclient_opts *o;
	const struct smtpclient_route *route;
	const struct smtpclient_message *msg;
	struct smtpclient_rcpt *rcpts;
	size_t n;
	bool *answered;                 /* per recipient: a server gave its result */
	struct smtpclient_tls_report *tls;
	struct smtpclient_result last;  /* for recipients no server answered */
	unsigned hosts_tried;
	unsigned requiretls_refusals;   /* hosts not used because of REQUIRETLS */
	bool requiretls_refused_here;   /* the current host's server refused it */
	bool mx_secure;                 /* the MX RRset (or implicit MX) was DNSSEC-secure */
	enum mtasts_mode sts_mode;      /* MTASTS_MODE_NONE when no policy applies */
	struct mtasts_policy *sts;
	const char *policy_failure;     /* RFC 8460 result of the policy itself (fetch
	                                   error) */
	const char *host_failure;       /* RFC 8460 result of the current host against
	                                   the policy (not listed in a testing policy),
	                                   NULL: none; set per host */
	struct tls_client *tls_opportunistic, *tls_pkix, *tls_dane;
	struct error err;               /* a local failure: every recipient TEMPFAIL */
	bool local_failure;
};

struct reply {
	int code;
	char enhanced[16];
	char text[512];
	const char *lines[REPLY_LINES_MAX];  /* for EHLO: texts, in arena */
	size_t nlines;
};

struct session {
	struct attempt *a;
	struct conn *c;
	struct arena *arena;
	struct arena *reply_arena;      /* the last reply's lines: reset per reply */
	const char *host;               /* MX host or smarthost name */
	char ip[64];
	char local_ip[64];              /* our end of the connection, "" if unknown */
	enum host_security sec;
	const struct dane_host *dane;
	struct ehlo_ext ext;
	bool verified;                  /* TLS with DANE or PKIX verified */
	bool message_unreadable;        /* reading msg->fd failed: a local failure */
};

/* How a session ended for the host loop. */
enum session_end {
	SESSION_DONE,                   /* recipients answered (or failed for good) */
	SESSION_NEXT,                   /* try the next address or host */
};

/* Fills r; fmt gives the text. */
void smtpclient_result_set(struct smtpclient_result *r, enum smtpclient_status st, int code,
	const char *enhanced, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sets the last failure: the fallback for recipients no server answers
 * (s may be NULL). */
void attempt_last_failure(struct attempt *a, const struct session *s, enum smtpclient_status st,
	int code, const char *enhanced, const char *text);

/* Sets the result of every recipient not answered yet. */
void attempt_fail_unanswered(struct attempt *a, enum smtpclient_status st, const char *enhanced,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A session step failed: records why and leaves the host for the next one. */
enum session_end session_next_host(struct session *s, enum smtpclient_status st, int code,
	const char *enhanced, const char *text);

/* Records the TLS outcome for TLSRPT (RFC 8460 §4.3), without details. */
void session_report_tls(struct session *s, bool tls, const char *failure);

/* Adds why the session's TLS failed, for additional-information (RFC
 * 8460 §4.4), to what session_report_tls recorded last. */
void session_report_tls_info(struct session *s, const char *why);

/* Reads one reply (§4.2: lines "NNN-text", the last "NNN text") within
 * timeout_ms: the code, the enhanced code of RFC 2034 §4 (when every line
 * has the same), the lines' texts joined with "; " into text, and the lines
 * themselves (in s->reply_arena, valid until the next reply is read: the
 * arena is reset first, so memory stays bounded by one reply however many
 * replies a session reads). Returns 0, or -1 with e set (a malformed line,
 * codes that differ, more than REPLY_LINES_MAX lines, the connection). */
int session_read_reply(struct session *s, unsigned timeout_ms, struct reply *r, struct error *e);

/* One connection (s->c open, s->host, s->ip, s->sec set) from greeting to
 * QUIT (session.c). */
enum session_end session_run(struct session *s);

#endif
