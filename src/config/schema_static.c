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
	{ .name = "Listeners", .type = SCHEMA_MAP,
	  .offset = offsetof(struct config_static, listeners),
	  .count_offset = offsetof(struct config_static, nlisteners),
	  .sub = &listener_schema,
	  .doc = "Sets of IPs to listen on, with their TLS settings and limits.",
	  .example = "public" },
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
	return 0;
}

/* The port of service k (0..2) of l, or 0 if it is not enabled. */
static int service_port(const struct config_listener *l, int k)
{
	const struct config_service *svc[] = {&l->smtp, &l->submission, &l->submissions};
	return svc[k]->enabled ? svc[k]->port : 0;
}

/* No two enabled services may listen on the same IP and port. */
static int check_ports(const char *name, const struct config_static *st, struct error *err)
{
	for (size_t a = 0; a < st->nlisteners; a++)
		for (size_t b = a; b < st->nlisteners; b++)
			for (int ka = 0; ka < 3; ka++)
				for (int kb = a == b ? ka + 1 : 0; kb < 3; kb++) {
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

int schema_static_finish(void *root, const char *name, struct error *err)
{
	struct config_static *st = root;
	for (size_t i = 0; i < st->nlisteners; i++) {
		if (st->listeners[i].hostname == NULL)
			st->listeners[i].hostname = st->hostname;
		if (check_submission_tls(name, &st->listeners[i], err) != 0)
			return -1;
	}
	return check_ports(name, st, err);
}
