/*
 * newconfig.h: tern.conf for a new instance, as `tern localserve` and
 * `tern quickstart` write it: one listener on some IPs, a certificate and
 * key, and the mail services it runs, each on a port.
 */
#ifndef TERN_CMD_NEWCONFIG_H
#define TERN_CMD_NEWCONFIG_H

#include "core/error.h"

#include <stddef.h>

/* One service of the listener: its key in tern.conf ("SMTP", "IMAPS", ...)
 * and its port. */
struct newconfig_service {
	const char *key;
	int port;
};

struct newconfig {
	const char *comment;      /* first lines, each starting with "# " and ending in "\n" */
	const char *hostname;
	const char *user;         /* User: the server drops to */
	const char *listener;     /* name under Listeners */
	const char *const *ips;
	size_t nips;
	const char *cert_file;    /* PEM files, relative to the config directory */
	const char *key_file;
	const struct newconfig_service *services;
	size_t nservices;
};

/* The text of tern.conf for c (DataDir ../data), malloc'd. */
char *newconfig_static_text(const struct newconfig *c);

/* Writes text to path, mode 0640, replacing what is there atomically.
 * Returns 0, or -1 with err set. */
int newconfig_write(const char *path, const char *text, struct error *err);

#endif
