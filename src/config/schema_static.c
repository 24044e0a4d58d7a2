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

void schema_static_finish(void *root)
{
	struct config_static *st = root;
	for (size_t i = 0; i < st->nlisteners; i++)
		if (st->listeners[i].hostname == NULL)
			st->listeners[i].hostname = st->hostname;
}
