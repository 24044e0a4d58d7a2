/*
 * smtpclient.h: delivering one message to one destination domain over SMTP
 * (RFC 5321), as the outbound queue (src/queue/) uses it: MX lookup (RFC
 * 5321 §5.1, null MX RFC 7505, implicit MX), hosts and addresses tried in
 * order (IPv6 and IPv4), EHLO/HELO, STARTTLS (RFC 3207), PIPELINING (RFC
 * 2920), SIZE (RFC 1870), 8BITMIME/SMTPUTF8 (RFC 6152, RFC 6531), CHUNKING
 * (RFC 3030), DSN parameters (RFC 3461), REQUIRETLS (RFC 8689), and the
 * transport security policy: DANE (RFC 7672) when the TLSA records are
 * DNSSEC-secure, else MTA-STS (RFC 8461), else opportunistic TLS.
 *
 * One call makes one delivery attempt for a set of recipients of one domain
 * and tells, per recipient, what happened. It blocks (deadlines per RFC 5321
 * §4.5.3.2); the queue runs it in its worker threads.
 */
#ifndef TERN_SMTPCLIENT_SMTPCLIENT_H
#define TERN_SMTPCLIENT_SMTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dns_resolver;
struct error;

/* The outcome class of one recipient (or of the whole attempt). */
enum smtpclient_status {
	SMTPCLIENT_DELIVERED = 0,   /* 2xx after the data */
	SMTPCLIENT_TEMPFAIL,        /* try again later (4xx, network, DNS temporary) */
	SMTPCLIENT_PERMFAIL,        /* 5xx, null MX, policy (REQUIRETLS, DANE/MTA-STS
	                               enforce failures are TEMPFAIL per RFC 7672 §2.2,
	                               RFC 8461 §4; REQUIRETLS is PERMFAIL, RFC 8689 §4.2) */
};

/* A reply or local decision, carried into DSNs (RFC 3464 §2.3.4
 * Diagnostic-Code, §2.3.6 Remote-MTA) and logs. */
struct smtpclient_result {
	enum smtpclient_status status;
	int code;                   /* SMTP reply code, 0 when no server said it */
	char enhanced[16];          /* "5.1.1" (RFC 3463), "" when none; local
	                               decisions set one too ("5.7.10" REQUIRETLS) */
	char text[512];             /* the reply text (lines joined with "; ") or
	                               the local reason */
	char remote_mta[256];       /* host name of the MX that answered, "" if none */
	char remote_ip[64];
	bool dsn_passed;            /* the server offered DSN, so NOTIFY/ORCPT went on with
	                               the recipient (RFC 3461 §5.2.1); false after a 2xx:
	                               a "relayed" DSN is due for NOTIFY=SUCCESS (§5.2.2) */
};

/* RFC 3461 NOTIFY bits. */
enum smtpclient_notify {
	SMTPCLIENT_NOTIFY_SUCCESS = 1 << 0,
	SMTPCLIENT_NOTIFY_FAILURE = 1 << 1,
	SMTPCLIENT_NOTIFY_DELAY = 1 << 2,
	SMTPCLIENT_NOTIFY_NEVER = 1 << 3,
};

struct smtpclient_rcpt {
	const char *address;        /* forward-path, A-label domain (or UTF-8 with smtputf8) */
	unsigned notify;            /* 0: not given */
	const char *orcpt;          /* ORCPT "addr-type;address" with the address
	                               xtext-decoded ("rfc822;a@b"; encoded when
	                               sent), or NULL */
	struct smtpclient_result result;  /* filled by the attempt */
};

/* TLS results of the attempt, for TLSRPT (RFC 8460 §4.3 result types). */
enum smtpclient_policy { SMTPCLIENT_POLICY_NONE, SMTPCLIENT_POLICY_DANE,
	SMTPCLIENT_POLICY_MTASTS };

/* One session of an attempt (or one MX host not used because of its
 * policy), as RFC 8460 §4.3 counts them. */
struct smtpclient_tls_session {
	enum smtpclient_policy policy;
	bool tls;                   /* a TLS session was established */
	const char *failure;        /* result-type, NULL for success */
	char mx_host[256];
	char ip[64];
	char sending_ip[64];        /* our address, "" when unknown */
	char additional_info[256];  /* why it failed, "" if none */
	char policy_strings[1024];  /* §4.4 policy-string, '\n' between: the host's TLSA
	                               records in presentation form, or the MTA-STS
	                               policy's lines; "" when none (complete lines
	                               only: what does not fit is left out) */
};

/* Sessions kept per attempt; later ones are counted in sessions_dropped. */
#define SMTPCLIENT_TLS_SESSIONS_MAX 32

struct smtpclient_tls_report {
	/* every session of the attempt, in order (the fields below the
	 * policy repeat the last one) */
	struct smtpclient_tls_session sessions[SMTPCLIENT_TLS_SESSIONS_MAX];
	size_t nsessions;
	unsigned sessions_dropped;
	enum smtpclient_policy policy;
	bool tls;                   /* a TLS session was established */
	const char *failure;        /* RFC 8460 §4.3 result-type ("starttls-not-supported",
	                               "certificate-expired", "validation-failure",
	                               "dane-required", "sts-policy-invalid",
	                               "tlsa-invalid", ...) or NULL for success */
	char mx_host[256];
	char ip[64];
	char sending_ip[64];        /* our address in that session (§4.4 sending-mta-ip),
	                               "" when unknown */
	char additional_info[256];  /* why the session failed (the TLS error, the
	                               server's refusal of STARTTLS), "" if none */
};

struct smtpclient_message {
	const char *mail_from;      /* reverse-path, "" for the null sender */
	const char *envid;          /* RFC 3461 ENVID, xtext-decoded (encoded when sent), or NULL */
	bool ret_hdrs;              /* RET=HDRS (else FULL or not given) */
	bool smtputf8;              /* needs SMTPUTF8 (UTF-8 addresses or headers) */
	bool eightbit;              /* 8-bit body: BODY=8BITMIME */
	bool requiretls;            /* RFC 8689: MAIL FROM ... REQUIRETLS */
	int fd;                     /* the message (CRLF lines, already DKIM-signed), read
	                               with pread from offset 0 */
	uint64_t size;
};

/* Where to deliver: the recipients' domain via its MX hosts, or a fixed
 * smarthost (transports, RFC 6409 submission to a relay). */
struct smtpclient_route {
	const char *domain;         /* recipient domain (A-label) when host is NULL */
	const char *host;           /* smarthost name or IP, NULL: MX lookup */
	int port;                   /* 0: 25 */
	/* smarthost TLS: REQUIRED and IMPLICIT verify the certificate for host
	 * (PKIX, system CAs plus opts->ca_file); MX routes ignore this */
	enum { SMTPCLIENT_TLS_OPPORTUNISTIC, SMTPCLIENT_TLS_STARTTLS_REQUIRED,
	       SMTPCLIENT_TLS_IMPLICIT, SMTPCLIENT_TLS_NONE } tls;
	const char *auth_user, *auth_password;  /* smarthost AUTH (RFC 4954): SCRAM, with
	                                           channel binding when offered, or PLAIN
	                                           inside TLS; NULL: none */
	/* Connections go through this SOCKS5 proxy (RFC 1928), "host:port", and
	 * ask it for the host's IP address; NULL: direct connections. */
	const char *socks_proxy;
	const char *socks_user, *socks_password;  /* RFC 1929; NULL: no authentication */
	const char *ehlo_name;      /* instead of opts->ehlo_name (the proxy's name), or NULL */
};

struct smtpclient_opts {
	const char *ehlo_name;      /* our host name */
	struct dns_resolver *resolver;
	const char *ca_file;        /* extra trust anchors for PKIX (tests), or NULL */
	const char *mtasts_cache_dir;  /* where MTA-STS policies are cached, NULL: no MTA-STS */
	unsigned connect_timeout_ms, command_timeout_ms;  /* 0: RFC 5321 §4.5.3.2 values */
	bool prefer_ipv4;           /* try A before AAAA addresses (default AAAA first) */
	int mx_port;                /* port of MX hosts, 0: 25 (other values only for tests) */
	int mtasts_https_port;      /* port of the MTA-STS policy server, 0: 443 (tests) */
};

/* Makes one delivery attempt of msg to rcpts (all in route->domain, or all
 * for the smarthost). Fills every rcpts[i].result and *tls (may be NULL).
 * Returns 0 when the attempt ran (look at the results), -1 with e set only
 * for a local failure (out of memory, unreadable message) in which case
 * every recipient is TEMPFAIL. */
int smtpclient_deliver(const struct smtpclient_opts *opts, const struct smtpclient_route *route,
                       const struct smtpclient_message *msg, struct smtpclient_rcpt *rcpts,
                       size_t nrcpts, struct smtpclient_tls_report *tls, struct error *e);

#endif
