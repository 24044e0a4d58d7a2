/*
 * config.h: tern's configuration, loaded into an immutable snapshot.
 *
 * Two YAML files: tern.conf (static: paths, listeners, TLS, resolver; a change
 * needs a restart for listeners) and domains.conf beside it (dynamic: domains,
 * accounts, destinations; reloaded on SIGHUP or `tern config reload`).
 *
 * Both files are parsed by the schema tables in schema_static.c and
 * schema_dynamic.c: one row per field (name, type, default, bounds, required,
 * one-line doc). The same tables drive validation and `tern config
 * describe-static|describe-dynamic`.
 *
 * A struct config is immutable after config_load returns. Threads take a
 * reference with config_acquire() and keep it for the unit of work they run
 * (a connection keeps the snapshot it started with); a reload builds a new
 * snapshot and swaps the current pointer. Memory of a snapshot lives in one
 * arena and is freed when the last reference is released.
 */
#ifndef TERN_CONFIG_CONFIG_H
#define TERN_CONFIG_CONFIG_H

#include "core/error.h"
#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- tern.conf ---- */

struct config_keycert {
	const char *cert_file;   /* PEM chain, leaf first; absolute after load */
	const char *key_file;    /* PEM private key; absolute after load */
};

/* One mail service of a listener (like mox's SMTP, Submission, Submissions). */
struct config_service {
	bool enabled;
	int port;
};

struct config_listener {
	const char *name;                 /* map key under Listeners */
	const char **ips;                 /* IPs to listen on; "0.0.0.0", "::" allowed */
	size_t nips;
	const char *hostname;             /* defaults to the global Hostname */
	struct config_keycert *keycerts;  /* TLS.KeyCerts; first is the default for SNI */
	size_t nkeycerts;
	const char *tls_min_version;      /* TLS.MinVersion: "TLSv1.2" (default) or "TLSv1.3" */
	int max_connections;              /* all connections on this listener */
	int max_connections_per_ip;       /* per IPv4 address or IPv6 /64 */
	struct config_service smtp;       /* RFC 5321 receiving, port 25 */
	struct config_service submission; /* RFC 6409 with STARTTLS, port 587 */
	struct config_service submissions;/* RFC 8314 implicit TLS, port 465 */
	struct config_service imap;       /* RFC 9051 with STARTTLS, port 143 */
	struct config_service imaps;      /* RFC 8314 implicit TLS, port 993 */
	int smtp_max_message_size;        /* bytes, SMTP SIZE (RFC 1870) */
	int smtp_max_recipients;          /* RCPT commands per transaction */
};

struct config_pkg_level {
	const char *pkg;
	enum log_level level;
};

struct config_resolver {
	const char **upstreams;           /* "IP" or "IP@PORT"; none: /etc/resolv.conf */
	size_t nupstreams;
	const char *trust_anchor_file;    /* DS/DNSKEY lines; NULL: DNSSEC root anchor of the system */
	bool dnssec;                      /* validate DNSSEC (default); false: every answer insecure */
	int cache_entries;                /* answers kept in tern's own cache */
};

/* The outbound queue (src/queue/queue.h). */
struct config_queue {
	int workers;                      /* delivery threads */
	int per_domain;                   /* attempts to one domain at a time */
	int first_retry;                  /* seconds after the first temporary failure; doubles */
	int max_retry;                    /* seconds, the longest wait between attempts */
	int max_age_hours;                /* then a temporary failure is a failure */
	int delay_notice_hours;           /* then a delay DSN is sent */
	int max_age_seconds;              /* when set, instead of max_age_hours (tests) */
	const char *ca_file;              /* extra trust anchors for smarthosts and MTA-STS */
};

/* Credentials for a smarthost (RFC 4954 AUTH). */
struct config_transport_auth {
	const char *username;             /* NULL: no AUTH */
	const char *password;             /* or password_file */
	const char *password_file;        /* absolute after load; read at each delivery */
};

/* One way of a transport to reach its smarthost: Submissions (RFC 8314
 * implicit TLS, port 465), Submission (RFC 6409 with STARTTLS, 587) or SMTP
 * (25). Not used when host is NULL. */
struct config_transport_smtp {
	const char *host;                 /* smarthost name or IP */
	int port;                         /* 0: the kind's port */
	struct config_transport_auth auth;
	bool no_starttls;                 /* Submission and SMTP: plain text only */
};

/* Delivery to the recipients' MX hosts through a SOCKS5 proxy (RFC 1928). */
struct config_transport_socks {
	const char *address;              /* "host:port" of the proxy; NULL: not used */
	const char **remote_ips;          /* the proxy's outgoing addresses (for SPF) */
	size_t nremote_ips;
	const char *remote_hostname;      /* EHLO name, the name of those addresses */
	const char *username, *password;  /* RFC 1929; NULL: no authentication */
};

/* A named way out for outbound mail other than direct delivery (Routes). */
struct config_transport {
	const char *name;                 /* map key */
	struct config_transport_smtp submissions, submission, smtp;
	struct config_transport_socks socks;
};

/* Which transport delivers a message's recipients of one domain: the first
 * route whose conditions all hold. */
struct config_route {
	const char **from_domains;        /* MAIL FROM domain; ".d" also matches under d; none: any */
	size_t nfrom_domains;
	const char **to_domains;          /* recipient domain, likewise */
	size_t nto_domains;
	int minimum_attempts;             /* attempts made before the route applies */
	const char *transport;            /* a name in Transports; "" or NULL: direct delivery */
};

struct config_static {
	const char *data_dir;             /* absolute after load (relative paths are to the config dir) */
	const char *hostname;             /* the host's fully qualified name */
	const char *user;                 /* unprivileged user to run as */
	enum log_level log_level;
	struct config_pkg_level *pkg_log_levels;
	size_t npkg_log_levels;
	struct config_resolver resolver;
	struct config_queue queue;
	struct config_listener *listeners;
	size_t nlisteners;
	struct config_transport *transports;
	size_t ntransports;
	struct config_route *routes;
	size_t nroutes;
};

/* ---- domains.conf ---- */

/* A DKIM key of a domain (RFC 6376), published at NAME._domainkey.DOMAIN. */
struct config_dkim_selector {
	const char *name;                 /* map key: the selector */
	const char *private_key_file;     /* PEM, PKCS#8 or PKCS#1; absolute after load */
	const char *algorithm;            /* "rsa-sha256", "ed25519-sha256"; NULL: from the key */
};

struct config_dkim {
	struct config_dkim_selector *selectors;
	size_t nselectors;
	const char **sign;                /* selectors to sign outgoing mail with, each in selectors */
	size_t nsign;
};

struct config_domain {
	const char *name;                 /* map key: the domain, lower case, A-labels */
	const char *description;
	const char *localpart_catchall_separator;  /* e.g. "+": a+tag@ goes to a@; NULL: none */
	bool localpart_case_sensitive;
	struct config_dkim dkim;          /* DKIM keys and signing */
	struct config_route *routes;      /* for mail from this domain, before tern.conf's Routes */
	size_t nroutes;
};

struct config_header_regexp {
	const char *header;               /* map key: a header field name, lower case */
	const char *regexp;               /* POSIX extended, case-insensitive */
};

/* A rule choosing the mailbox of a delivery, like mox's rulesets: every
 * condition given must hold. */
struct config_ruleset {
	const char *smtp_mail_from_regexp;        /* the SMTP MAIL FROM address; NULL: any */
	struct config_header_regexp *headers;     /* each header present and matching */
	size_t nheaders;
	const char *mailbox;                      /* where matching messages go */
};

struct config_destination {
	const char *address;              /* map key: full address, or "@domain" for a catch-all */
	const char *mailbox;              /* default "Inbox" */
	const char *full_name;            /* display name for this address; may be NULL */
	struct config_ruleset *rulesets;  /* tried in order; the first that matches wins */
	size_t nrulesets;
	const char *reports;              /* "dmarc" or "tlsrpt": a report address; NULL: none */
};

struct config_account {
	const char *name;                 /* map key */
	const char *domain;               /* must be a configured domain */
	const char *description;
	const char *full_name;
	int quota_mb;                     /* most megabytes of mail; 0: no limit */
	int quota_messages;               /* most messages; 0: no limit */
	struct config_destination *destinations;
	size_t ndestinations;
	struct config_route *routes;      /* for this account's mail, before its domain's */
	size_t nroutes;
};

struct config_dynamic {
	struct config_domain *domains;
	size_t ndomains;
	struct config_account *accounts;
	size_t naccounts;
};

/* ---- limits ---- */

/* Largest file read, in bytes: far beyond any real configuration, small
 * enough that pointing -config at a log or a disk image fails at once. */
#define CONFIG_FILE_MAX (16u * 1024 * 1024)
/* Deepest YAML nesting accepted. The schema is 6 levels deep; anything much
 * deeper is not a tern configuration and only costs the parser memory. */
#define CONFIG_DEPTH_MAX 32
/* Most YAML nodes in one file, counted again for every use of an alias (so
 * that "billion laughs" aliases cannot expand without bound). About 100000
 * accounts with a few destinations each. */
#define CONFIG_NODES_MAX 1000000

/* ---- the snapshot ---- */

struct config {
	const char *static_path;          /* as given to config_load */
	const char *dynamic_path;         /* domains.conf beside static_path */
	struct config_static st;
	struct config_dynamic dyn;
	struct config_private *priv_;     /* private: arena and reference count */
};

/* Loads static_path and the domains.conf beside it, validates both (including
 * references between them) and returns a new snapshot with one reference.
 * On error returns -1 and sets err to "FILE:LINE:COL: Path.To.Field: problem"
 * (the first problem found; FILE as given, or domains.conf beside it). The
 * path is left out for YAML syntax errors and keys at the top level; a file
 * that cannot be read gives "FILE: problem", e.g. "FILE: cannot open: No such
 * file or directory". Limits: CONFIG_FILE_MAX, CONFIG_DEPTH_MAX,
 * CONFIG_NODES_MAX. */
int config_load(const char *static_path, struct config **cfg_r, struct error *err);

/* Drops one reference; frees the snapshot with the last. Sets *cfg to NULL. */
void config_release(struct config **cfg);

/* Takes another reference on cfg and returns it. */
struct config *config_ref(struct config *cfg);

/* The process-wide current snapshot: config_set_current takes over the
 * caller's reference; config_acquire returns a new reference (NULL if none). */
void config_set_current(struct config *cfg);
struct config *config_acquire(void);

/* Loads the files of the current snapshot anew and makes the result current.
 * On error the current snapshot stays and -1 is returned with err set. */
int config_reload(struct error *err);

/* Parse one file's text from memory, for tests and fuzzing: name is used in
 * messages and its directory (relative to the working directory) resolves
 * relative paths. Returns 0 and a new snapshot with one reference that holds
 * only that file's part (the other part is empty), or -1 with err set as by
 * config_load. No other file is read, except that tern.conf's TLS and trust
 * anchor files must exist. */
int config_parse_static_mem(const char *name, const char *data, size_t len,
                            struct config **cfg_r, struct error *err);
int config_parse_dynamic_mem(const char *name, const char *data, size_t len,
                             struct config **cfg_r, struct error *err);

/* Rewrites domains.conf of cfg with account `name` added, receiving mail for
 * `address` (the account's Domain is the address's domain, which must be
 * configured), or with account `name` removed. The new file is checked as a
 * load would check it before it atomically replaces the old one; comments in
 * the old file are not kept. Returns 0, or -1 with err set (nothing written).
 * The caller reloads. Only one writer at a time: a running server does it. */
int config_account_add(const struct config *cfg, const char *name, const char *address,
                       struct error *err);
int config_account_remove(const struct config *cfg, const char *name, struct error *err);

/* The mailbox for a message delivered to dest: the Mailbox of the first of
 * its rulesets whose conditions all hold (SMTPMailFromRegexp against
 * mail_from, which may be NULL; every HeadersRegexp against some header of
 * that name among the n (name, unfolded value) pairs), else the
 * destination's own Mailbox. The result lives in the snapshot. */
const char *config_destination_mailbox(const struct config_destination *dest,
                                       const char *mail_from, size_t n,
                                       const char *const *names, const char *const *values);

/* The account's QuotaMB in bytes (10^6 bytes a megabyte); 0: no limit. */
uint64_t config_account_quota_bytes(const struct config_account *acc);

/* Lookups in a snapshot; NULL if absent. Domain names compare case-insensitively. */
const struct config_domain *config_find_domain(const struct config *cfg, const char *name);
const struct config_account *config_find_account(const struct config *cfg, const char *name);

/* Print to f an example tern.conf (static) or domains.conf (dynamic) with
 * every field: a doc line, its type, bounds or allowed values, default and
 * whether it is required, then the default or an example value. Fields whose
 * example would name files that must exist are printed commented out. The
 * output loads without error when written to tern.conf and domains.conf. */
void config_describe_static(FILE *f);
void config_describe_dynamic(FILE *f);

struct tls_server;
/* The TLS server of listener l from its key/certificate pairs (NULL in *out
 * when it has none). Returns 0, or -1 with e naming the listener. */
int config_listener_tls(const struct config_listener *l, struct tls_server **out,
                        struct error *e);

#endif
