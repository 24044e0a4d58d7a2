/*
 * schema_static.c: the table of tern.conf, the static configuration.
 *
 * One row per field; walk.c parses by it and describe.c prints it. Relative
 * paths are resolved against the directory of tern.conf. Fields here need a
 * restart to take effect for listeners; log levels apply on reload.
 */
#include "config/config.h"
#include "config/schema.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };

/* ---- Listeners.NAME.TLS.KeyCerts[] ---- */

static const struct schema_field keycert_fields[] = {
	{ .name = "CertFile", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_keycert, cert_file),
	  .flags = SCHEMA_REQUIRED, .check = schema_check_file,
	  .doc = "PEM file with the certificate chain, leaf first; relative to this file's directory.",
	  .example = "tls/mail.example.com.crt" },
	{ .name = "KeyFile", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_keycert, key_file),
	  .flags = SCHEMA_REQUIRED, .check = schema_check_file,
	  .doc = "PEM file with the private key of CertFile; relative to this file's directory.",
	  .example = "tls/mail.example.com.key" },
};

static const struct schema keycert_schema = {
	.name = "certificate and key", .size = sizeof(struct config_keycert),
	.fields = SCHEMA_FIELDS(keycert_fields),
};

/* ---- Listeners.NAME.TLS: its fields live in struct config_listener ---- */

static const struct schema_field tls_fields[] = {
	{ .name = "KeyCerts", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_listener, keycerts),
	  .count_offset = offsetof(struct config_listener, nkeycerts),
	  .sub = &keycert_schema, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Certificates with their keys; the first is used when SNI matches none.",
	  .example = "" },
	{ .name = "MinVersion", .type = SCHEMA_ENUM,
	  .offset = offsetof(struct config_listener, tls_min_version),
	  .def = "TLSv1.2", .allowed = tls_versions,
	  .doc = "Oldest TLS version offered to clients." },
};

static const struct schema tls_schema = {
	.name = "TLS settings", .size = 0,
	.fields = SCHEMA_FIELDS(tls_fields),
};

/* ---- Listeners.NAME.SMTP, .Submission, .Submissions ---- */

#define SERVICE_FIELDS(what, port_def) \
	{ .name = "Enabled", .type = SCHEMA_BOOL, \
	  .offset = offsetof(struct config_service, enabled), .def = "false", \
	  .doc = "Run " what " on this listener's IPs." }, \
	{ .name = "Port", .type = SCHEMA_INT, \
	  .offset = offsetof(struct config_service, port), .def = port_def, .min = 1, .max = 65535, \
	  .doc = "TCP port of " what "." }

static const struct schema_field smtp_service_fields[] = {
	SERVICE_FIELDS("SMTP for receiving mail from other servers (RFC 5321)", "25"),
};
static const struct schema_field submission_service_fields[] = {
	SERVICE_FIELDS("message submission with STARTTLS (RFC 6409)", "587"),
};
static const struct schema_field submissions_service_fields[] = {
	SERVICE_FIELDS("message submission over implicit TLS (RFC 8314)", "465"),
};

static const struct schema_field imap_service_fields[] = {
	SERVICE_FIELDS("IMAP with STARTTLS (RFC 9051)", "143"),
};
static const struct schema_field imaps_service_fields[] = {
	SERVICE_FIELDS("IMAP over implicit TLS (RFC 8314)", "993"),
};

static const struct schema smtp_service_schema = {
	.name = "SMTP service", .size = sizeof(struct config_service),
	.fields = SCHEMA_FIELDS(smtp_service_fields),
};
static const struct schema submission_service_schema = {
	.name = "submission service", .size = sizeof(struct config_service),
	.fields = SCHEMA_FIELDS(submission_service_fields),
};
static const struct schema submissions_service_schema = {
	.name = "submissions service", .size = sizeof(struct config_service),
	.fields = SCHEMA_FIELDS(submissions_service_fields),
};
static const struct schema imap_service_schema = {
	.name = "IMAP service", .size = sizeof(struct config_service),
	.fields = SCHEMA_FIELDS(imap_service_fields),
};
static const struct schema imaps_service_schema = {
	.name = "IMAPS service", .size = sizeof(struct config_service),
	.fields = SCHEMA_FIELDS(imaps_service_fields),
};

/* ---- Listeners.NAME ---- */

static const struct schema_field listener_fields[] = {
	{ .name = "IPs", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_listener, ips),
	  .count_offset = offsetof(struct config_listener, nips),
	  .flags = SCHEMA_REQUIRED, .min = 1, .check = schema_check_ip,
	  .doc = "IP addresses to listen on; 0.0.0.0 and :: mean all of IPv4 or IPv6.",
	  .example = "0.0.0.0" },
	{ .name = "Hostname", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_listener, hostname),
	  .check = schema_check_domain,
	  .doc = "Name this listener gives in greetings; default: the global Hostname.",
	  .example = "mail.example.com" },
	{ .name = "TLS", .type = SCHEMA_STRUCT, .offset = 0, .sub = &tls_schema,
	  .doc = "TLS for this listener; without KeyCerts, no TLS is offered." },
	{ .name = "MaxConnections", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_listener, max_connections),
	  .def = "1000", .min = 1, .max = 100000,
	  .doc = "Most connections open at once on this listener." },
	{ .name = "MaxConnectionsPerIP", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_listener, max_connections_per_ip),
	  .def = "20", .min = 1, .max = 10000,
	  .doc = "Most connections open at once from one IPv4 address or IPv6 /64." },
	{ .name = "SMTP", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_listener, smtp), .sub = &smtp_service_schema,
	  .doc = "Receiving mail from other mail servers (port 25)." },
	{ .name = "Submission", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_listener, submission), .sub = &submission_service_schema,
	  .doc = "Mail submission by users' mail programs with STARTTLS (port 587)." },
	{ .name = "Submissions", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_listener, submissions), .sub = &submissions_service_schema,
	  .doc = "Mail submission over implicit TLS (port 465); needs TLS.KeyCerts." },
	{ .name = "IMAP", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_listener, imap), .sub = &imap_service_schema,
	  .doc = "IMAP mail access with STARTTLS (port 143); needs TLS.KeyCerts." },
	{ .name = "IMAPS", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_listener, imaps), .sub = &imaps_service_schema,
	  .doc = "IMAP mail access over implicit TLS (port 993); needs TLS.KeyCerts." },
	{ .name = "SMTPMaxMessageSize", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_listener, smtp_max_message_size),
	  .def = "52428800", .min = 1024, .max = 2147483647,
	  .doc = "Largest message accepted by SMTP and submission, in bytes (advertised as SIZE)." },
	{ .name = "SMTPMaxRecipients", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_listener, smtp_max_recipients),
	  .def = "1000", .min = 100, .max = 100000,
	  .doc = "Most recipients of one SMTP transaction (RFC 5321 §4.5.3.1.8 asks for at least 100)." },
};

static const struct schema listener_schema = {
	.name = "listener", .key_name = "listener name", .size = sizeof(struct config_listener),
	.key_offset = offsetof(struct config_listener, name),
	.fields = SCHEMA_FIELDS(listener_fields),
};

/* ---- Resolver ---- */

static const struct schema_field resolver_fields[] = {
	{ .name = "Upstreams", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_resolver, upstreams),
	  .count_offset = offsetof(struct config_resolver, nupstreams),
	  .check = schema_check_upstream, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "DNS servers to ask, as IP or IP@PORT; none: the servers of /etc/resolv.conf.",
	  .example = "127.0.0.1@53" },
	{ .name = "TrustAnchorFile", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_resolver, trust_anchor_file),
	  .check = schema_check_file, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "DS or DNSKEY lines for DNSSEC; none: the system's root trust anchor.",
	  .example = "root.key" },
	{ .name = "DNSSEC", .type = SCHEMA_BOOL,
	  .offset = offsetof(struct config_resolver, dnssec), .def = "true",
	  .doc = "Validate DNSSEC. Set false only if the upstreams strip DNSSEC records (then "
	         "every answer would be bogus): all answers are then insecure and DANE is off." },
	{ .name = "CacheEntries", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_resolver, cache_entries),
	  .def = "4096", .min = 0, .max = 1000000,
	  .doc = "DNS answers kept in tern's own cache; 0 disables it." },
};

static const struct schema resolver_schema = {
	.name = "resolver settings", .size = sizeof(struct config_resolver),
	.fields = SCHEMA_FIELDS(resolver_fields),
};

/* ---- Queue ---- */

static const struct schema_field queue_fields[] = {
	{ .name = "Workers", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, workers), .def = "4", .min = 1, .max = 64,
	  .doc = "Threads delivering queued mail." },
	{ .name = "ConcurrentPerDomain", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, per_domain), .def = "2", .min = 1, .max = 64,
	  .doc = "Delivery attempts to one destination domain at a time." },
	{ .name = "FirstRetrySeconds", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, first_retry), .def = "450", .min = 1,
	  .max = 86400,
	  .doc = "Wait after the first temporary failure; each later wait doubles. Small values "
	         "are for testing." },
	{ .name = "MaxRetrySeconds", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, max_retry), .def = "14400", .min = 1,
	  .max = 86400, .doc = "Longest wait between two attempts." },
	{ .name = "MaxAgeHours", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, max_age_hours), .def = "120", .min = 1,
	  .max = 720,
	  .doc = "How long temporary failures are retried before the sender gets a failure "
	         "notice (RFC 5321 §4.5.4.1: at least 4-5 days)." },
	{ .name = "DelayNoticeHours", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, delay_notice_hours), .def = "4", .min = 1,
	  .max = 720, .doc = "After this long undelivered, the sender gets one delay notice." },
	{ .name = "MaxAgeSeconds", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_queue, max_age_seconds), .def = "0", .min = 0,
	  .max = 720 * 3600, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "When not 0, used instead of MaxAgeHours; small values are for testing." },
	{ .name = "CAFile", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_queue, ca_file), .check = schema_check_file,
	  .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "PEM certificates trusted besides the system's when verifying smarthosts and "
	         "MTA-STS policy servers (a private CA).", .example = "ca.pem" },
};

static const struct schema queue_schema = {
	.name = "queue settings", .size = sizeof(struct config_queue),
	.fields = SCHEMA_FIELDS(queue_fields),
};

/* ---- Transports ---- */

/* "host:port" (or "[IPv6]:port") with port 1..65535. */
static const char *check_host_port(const struct schema_env *env, const char *in,
                                   const char **out_r)
{
	const char *colon = strrchr(in, ':');
	if (colon == NULL || colon == in || colon[1] == '\0')
		return arena_printf(env->arena, "%s is not host:port", schema_quote(env->arena, in));
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return arena_printf(env->arena, "%s: the port must be 1..65535",
		                    schema_quote(env->arena, in));
	*out_r = in;
	return NULL;
}

/* A route's domain: a domain name, or ".domain" for its subdomains. */
static const char *check_route_domain(const struct schema_env *env, const char *in,
                                      const char **out_r)
{
	const char *name = in[0] == '.' ? in + 1 : in;
	const char *out;
	const char *problem = schema_check_domain(env, name, &out);
	if (problem != NULL)
		return problem;
	*out_r = in[0] == '.' ? arena_printf(env->arena, ".%s", out) : out;
	return NULL;
}

/* Routes come after Transports in the file's table: the name must be there. */
static const char *check_route_transport(const struct schema_env *env, const char *in,
                                         const char **out_r)
{
	const struct config_static *st = env->root;
	*out_r = in;
	if (in[0] == '\0')
		return NULL;
	for (size_t i = 0; i < st->ntransports; i++)
		if (strcmp(st->transports[i].name, in) == 0)
			return NULL;
	return arena_printf(env->arena, "no transport %s in Transports",
	                    schema_quote(env->arena, in));
}

static const struct schema_field transport_auth_fields[] = {
	{ .name = "Username", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_auth, username),
	  .doc = "User name for AUTH at the smarthost.", .example = "relay-user" },
	{ .name = "Password", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_auth, password), .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Its password; or PasswordFile.", .example = "secret" },
	{ .name = "PasswordFile", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_auth, password_file),
	  .check = schema_check_file, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "File whose first line is the password, read at each delivery.",
	  .example = "relay.password" },
};

static const struct schema transport_auth_schema = {
	.name = "smarthost credentials", .size = sizeof(struct config_transport_auth),
	.fields = SCHEMA_FIELDS(transport_auth_fields),
};

static const struct schema_field transport_smtp_fields[] = {
	{ .name = "Host", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_smtp, host),
	  .doc = "The smarthost's name (its certificate is verified for it) or IP.",
	  .example = "smtp.example.net" },
	{ .name = "Port", .type = SCHEMA_INT,
	  .offset = offsetof(struct config_transport_smtp, port), .def = "0", .min = 0,
	  .max = 65535, .doc = "0: 465 for Submissions, 587 for Submission, 25 for SMTP." },
	{ .name = "Auth", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_transport_smtp, auth), .sub = &transport_auth_schema,
	  .doc = "Credentials (RFC 4954 AUTH, SCRAM or PLAIN inside TLS); none: no AUTH." },
	{ .name = "NoSTARTTLS", .type = SCHEMA_BOOL,
	  .offset = offsetof(struct config_transport_smtp, no_starttls), .def = "false",
	  .doc = "Submission and SMTP: never use STARTTLS (plain text; AUTH is then refused)." },
};

static const struct schema transport_smtp_schema = {
	.name = "smarthost", .size = sizeof(struct config_transport_smtp),
	.fields = SCHEMA_FIELDS(transport_smtp_fields),
};

static const struct schema_field transport_socks_fields[] = {
	{ .name = "Address", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_socks, address), .check = check_host_port,
	  .doc = "host:port of the SOCKS5 proxy (RFC 1928).", .example = "127.0.0.1:1080" },
	{ .name = "RemoteIPs", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_transport_socks, remote_ips),
	  .count_offset = offsetof(struct config_transport_socks, nremote_ips),
	  .check = schema_check_ip, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Addresses the proxy connects from (the SPF records must list them).",
	  .example = "192.0.2.25" },
	{ .name = "RemoteHostname", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_socks, remote_hostname),
	  .check = schema_check_domain, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Name of those addresses, said in EHLO; none: Hostname.",
	  .example = "out.example.com" },
	{ .name = "Username", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_socks, username), .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "User name at the proxy (RFC 1929); none: no authentication.", .example = "u" },
	{ .name = "Password", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_transport_socks, password), .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Password at the proxy.", .example = "p" },
};

static const struct schema transport_socks_schema = {
	.name = "SOCKS5 proxy", .size = sizeof(struct config_transport_socks),
	.fields = SCHEMA_FIELDS(transport_socks_fields),
};

static const struct schema_field transport_fields[] = {
	{ .name = "Submissions", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_transport, submissions), .sub = &transport_smtp_schema,
	  .doc = "Smarthost with implicit TLS (RFC 8314), certificate verified." },
	{ .name = "Submission", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_transport, submission), .sub = &transport_smtp_schema,
	  .doc = "Smarthost with STARTTLS required and the certificate verified (RFC 6409)." },
	{ .name = "SMTP", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_transport, smtp), .sub = &transport_smtp_schema,
	  .doc = "Smarthost over SMTP, STARTTLS when offered, not verified." },
	{ .name = "Socks", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_transport, socks), .sub = &transport_socks_schema,
	  .doc = "Direct delivery to the MX hosts, connecting through a SOCKS5 proxy." },
};

static const struct schema transport_schema = {
	.name = "transport", .key_name = "transport name", .size = sizeof(struct config_transport),
	.key_offset = offsetof(struct config_transport, name),
	.fields = SCHEMA_FIELDS(transport_fields),
};

/* ---- Routes ---- */

/* The conditions of a route, in both files. */
#define ROUTE_CONDITION_FIELDS \
	{ .name = "FromDomain", .type = SCHEMA_LIST, \
	  .offset = offsetof(struct config_route, from_domains), \
	  .count_offset = offsetof(struct config_route, nfrom_domains), \
	  .check = check_route_domain, \
	  .doc = "The route applies to these MAIL FROM domains (\".d\": subdomains of d); none: " \
	         "any.", .example = "example.com" }, \
	{ .name = "ToDomain", .type = SCHEMA_LIST, \
	  .offset = offsetof(struct config_route, to_domains), \
	  .count_offset = offsetof(struct config_route, nto_domains), \
	  .check = check_route_domain, \
	  .doc = "... and to recipients in these domains; none: any.", .example = "example.net" }, \
	{ .name = "MinimumAttempts", .type = SCHEMA_INT, \
	  .offset = offsetof(struct config_route, minimum_attempts), .def = "0", .min = 0, \
	  .max = 1000, .doc = "... once this many attempts were made (a fallback route)." }

static const struct schema_field route_fields[] = {
	ROUTE_CONDITION_FIELDS,
	{ .name = "Transport", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_route, transport), .flags = SCHEMA_REQUIRED,
	  .check = check_route_transport,
	  .doc = "Name of the transport in Transports; \"\": direct delivery to the MX hosts.",
	  .example = "" },
};

static const struct schema route_schema = {
	.name = "route", .size = sizeof(struct config_route),
	.fields = SCHEMA_FIELDS(route_fields),
};

/* domains.conf's routes: tern.conf is not at hand while domains.conf is
 * parsed alone, so config_load checks their Transport names afterwards. */
static const struct schema_field route_dynamic_fields[] = {
	ROUTE_CONDITION_FIELDS,
	{ .name = "Transport", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_route, transport), .flags = SCHEMA_REQUIRED,
	  .doc = "Name of the transport in tern.conf's Transports; \"\": direct delivery.",
	  .example = "" },
};

const struct schema schema_route_dynamic = {
	.name = "route", .size = sizeof(struct config_route),
	.fields = SCHEMA_FIELDS(route_dynamic_fields),
};

/* ---- PackageLogLevels.PKG: a scalar, stored as struct config_pkg_level ---- */

static const struct schema_field pkg_level_fields[] = {
	{ .name = "Level", .type = SCHEMA_LOGLEVEL,
	  .offset = offsetof(struct config_pkg_level, level), .flags = SCHEMA_REQUIRED,
	  .doc = "Log level of this package.", .example = "debug" },
};

static const struct schema pkg_level_schema = {
	.name = "log level", .key_name = "package", .size = sizeof(struct config_pkg_level),
	.key_offset = offsetof(struct config_pkg_level, pkg), .scalar_value = true,
	.fields = SCHEMA_FIELDS(pkg_level_fields),
};

/* ---- the file ---- */

static const struct schema_field static_fields[] = {
	{ .name = "DataDir", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_static, data_dir),
	  .def = "../data", .check = schema_check_path,
	  .doc = "Directory of all data (databases, queue, messages); relative to this file's directory." },
	{ .name = "Hostname", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_static, hostname),
	  .flags = SCHEMA_REQUIRED, .check = schema_check_domain,
	  .doc = "Fully qualified name of this host, used in greetings and Received headers.",
	  .example = "mail.example.com" },
	{ .name = "User", .type = SCHEMA_STRING,
	  .offset = offsetof(struct config_static, user), .def = "tern",
	  .doc = "Unprivileged user the server runs as after opening its ports." },
	{ .name = "LogLevel", .type = SCHEMA_LOGLEVEL,
	  .offset = offsetof(struct config_static, log_level), .def = "info",
	  .doc = "Log level of packages not named in PackageLogLevels." },
	{ .name = "PackageLogLevels", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_static, pkg_log_levels),
	  .count_offset = offsetof(struct config_static, npkg_log_levels),
	  .max = LOG_PKG_MAX, .sub = &pkg_level_schema, .check = schema_check_pkg,
	  .doc = "Log levels of single packages, e.g. smtpserver: debug.",
	  .example = "smtpserver" },
	{ .name = "Resolver", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_static, resolver), .sub = &resolver_schema,
	  .doc = "DNS resolver (libunbound) with DNSSEC validation." },
	{ .name = "Queue", .type = SCHEMA_STRUCT,
	  .offset = offsetof(struct config_static, queue), .sub = &queue_schema,
	  .doc = "Outbound queue: delivery threads and the retry schedule." },
	{ .name = "Listeners", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_static, listeners),
	  .count_offset = offsetof(struct config_static, nlisteners),
	  .sub = &listener_schema,
	  .doc = "Sets of IPs to listen on, with their TLS settings and limits.",
	  .example = "public" },
	{ .name = "Transports", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_static, transports),
	  .count_offset = offsetof(struct config_static, ntransports),
	  .sub = &transport_schema, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Ways out for outbound mail besides direct delivery: smarthosts and SOCKS5 "
	         "proxies, used by Routes.", .example = "relay" },
	{ .name = "Routes", .type = SCHEMA_LIST,
	  .offset = offsetof(struct config_static, routes),
	  .count_offset = offsetof(struct config_static, nroutes),
	  .sub = &route_schema, .flags = SCHEMA_EXAMPLE_OFF,
	  .doc = "Which transport delivers which mail: the first matching route; none matches: "
	         "direct delivery." },
};

const struct schema schema_static = {
	.name = "tern.conf", .size = sizeof(struct config_static),
	.fields = SCHEMA_FIELDS(static_fields),
};

/* Submission and Submissions offer AUTH, which tern offers only over TLS
 * (RFC 8314 §3.3): a listener that enables them needs certificates. */
static int check_submission_tls(const char *name, const struct config_listener *l,
                                struct error *err)
{
	if (l->nkeycerts > 0)
		return 0;
	if (l->submission.enabled)
		return error_set(err, ERR_INVALID, "%s: Listeners.%s.Submission: needs TLS.KeyCerts "
		                 "(authentication is only offered over TLS)", name, l->name);
	if (l->submissions.enabled)
		return error_set(err, ERR_INVALID, "%s: Listeners.%s.Submissions: needs TLS.KeyCerts "
		                 "(implicit TLS)", name, l->name);
	/* RFC 9051 §11.1, RFC 8314 §3.3: logins only inside TLS. */
	if (l->imap.enabled)
		return error_set(err, ERR_INVALID, "%s: Listeners.%s.IMAP: needs TLS.KeyCerts "
		                 "(authentication is only offered over TLS)", name, l->name);
	if (l->imaps.enabled)
		return error_set(err, ERR_INVALID, "%s: Listeners.%s.IMAPS: needs TLS.KeyCerts "
		                 "(implicit TLS)", name, l->name);
	return 0;
}

#define SERVICES_PER_LISTENER 5

/* The port of service k (0..SERVICES_PER_LISTENER-1) of l, or 0 if it is not enabled. */
static int service_port(const struct config_listener *l, int k)
{
	const struct config_service *svc[SERVICES_PER_LISTENER] = {
		&l->smtp, &l->submission, &l->submissions, &l->imap, &l->imaps};
	return svc[k]->enabled ? svc[k]->port : 0;
}

/* No two enabled services may listen on the same IP and port. */
static int check_ports(const char *name, const struct config_static *st, struct error *err)
{
	for (size_t a = 0; a < st->nlisteners; a++)
		for (size_t b = a; b < st->nlisteners; b++)
			for (int ka = 0; ka < SERVICES_PER_LISTENER; ka++)
				for (int kb = a == b ? ka + 1 : 0; kb < SERVICES_PER_LISTENER; kb++) {
					const struct config_listener *la = &st->listeners[a], *lb = &st->listeners[b];
					int p = service_port(la, ka);
					if (p == 0 || p != service_port(lb, kb))
						continue;
					for (size_t i = 0; i < la->nips; i++)
						for (size_t j = 0; j < lb->nips; j++)
							if (strcmp(la->ips[i], lb->ips[j]) == 0)
								return error_set(err, ERR_INVALID, "%s: Listeners.%s and %s: two "
								                 "services on %s port %d", name, la->name,
								                 lb->name, la->ips[i], p);
				}
	return 0;
}

/* A transport uses exactly one way out; a smarthost with a user name needs
 * a password (or its file). */
static int check_transport(const char *name, const struct config_transport *t,
                           struct error *err)
{
	const struct config_transport_smtp *ways[] = {&t->submissions, &t->submission, &t->smtp};
	const char *way_names[] = {"Submissions", "Submission", "SMTP"};
	int n = t->socks.address != NULL;
	for (size_t i = 0; i < 3; i++) {
		const struct config_transport_smtp *w = ways[i];
		if (w->host == NULL) {
			if (w->port != 0 || w->auth.username != NULL || w->no_starttls)
				return error_set(err, ERR_INVALID, "%s: Transports.%s.%s: Host missing", name,
				                 t->name, way_names[i]);
			continue;
		}
		n++;
		const struct config_transport_auth *a = &w->auth;
		if (a->username != NULL && (a->password == NULL) == (a->password_file == NULL))
			return error_set(err, ERR_INVALID, "%s: Transports.%s.%s.Auth: needs one of "
			                 "Password or PasswordFile", name, t->name, way_names[i]);
		if (a->username == NULL && (a->password != NULL || a->password_file != NULL))
			return error_set(err, ERR_INVALID, "%s: Transports.%s.%s.Auth: Username missing",
			                 name, t->name, way_names[i]);
		if (i == 0 && w->no_starttls)
			return error_set(err, ERR_INVALID, "%s: Transports.%s.Submissions: NoSTARTTLS "
			                 "does not apply to implicit TLS", name, t->name);
	}
	if ((t->socks.username == NULL) != (t->socks.password == NULL))
		return error_set(err, ERR_INVALID, "%s: Transports.%s.Socks: Username and Password "
		                 "go together", name, t->name);
	if (t->socks.address == NULL && (t->socks.nremote_ips > 0 || t->socks.remote_hostname ||
	                                 t->socks.username))
		return error_set(err, ERR_INVALID, "%s: Transports.%s.Socks: Address missing", name,
		                 t->name);
	if (n != 1)
		return error_set(err, ERR_INVALID, "%s: Transports.%s: needs exactly one of "
		                 "Submissions, Submission, SMTP or Socks", name, t->name);
	return 0;
}

int schema_static_finish(void *root, const char *name, struct error *err)
{
	struct config_static *st = root;
	for (size_t i = 0; i < st->ntransports; i++)
		if (check_transport(name, &st->transports[i], err) != 0)
			return -1;
	for (size_t i = 0; i < st->nlisteners; i++) {
		if (st->listeners[i].hostname == NULL)
			st->listeners[i].hostname = st->hostname;
		if (check_submission_tls(name, &st->listeners[i], err) != 0)
			return -1;
	}
	return check_ports(name, st, err);
}
