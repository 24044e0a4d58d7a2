/*
 * quickstart.h: what `tern quickstart` (quickstart.c) knows of the new
 * installation, and the texts it gives the admin to publish or install
 * (quickstart_records.c): the zone-file fragment, the MTA-STS policy and
 * the systemd unit.
 */
#ifndef TERN_CMD_QUICKSTART_H
#define TERN_CMD_QUICKSTART_H

#include "cmd/newconfig.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>

/* Most IPs to listen on and publish. */
#define QS_IPS_MAX 16
/* RFC 5321 §4.5.3.1.1, §4.5.3.1.2. */
#define LOCALPART_MAX 64
#define DOMAIN_MAX 253

/* The services of the listener, in tern.conf order: SMTP, Submissions,
 * Submission, IMAPS, IMAP. */
#define QS_NSERVICES 5
extern const struct newconfig_service quickstart_services[QS_NSERVICES];

struct quickstart {
	char localpart[LOCALPART_MAX + 1];
	char domain[DOMAIN_MAX + 1];       /* lower case */
	char email[LOCALPART_MAX + DOMAIN_MAX + 2];
	const char *account;
	char hostname[DOMAIN_MAX + 3];     /* lower case, no final dot */
	const char *user;
	char ips[QS_IPS_MAX][INET6_ADDRSTRLEN];
	size_t nips;
	char dir[PATH_MAX];                /* absolute */
	char confdir[PATH_MAX];            /* dir/config */
	char date[16];                     /* YYYYMMDD, UTC */
	char stamp[32];                    /* YYYYMMDDTHHMMSS, the MTA-STS policy id */
	char sel_ed25519[20], sel_rsa[20];
	char dkim_ed25519[PATH_MAX], dkim_rsa[PATH_MAX];  /* relative to confdir */
	char *txt_ed25519, *txt_rsa;       /* DKIM TXT records */
	char password[32];
};

/* The zone-file fragment for the domain ($ORIGIN DOMAIN.), malloc'd. */
char *quickstart_zone_text(const struct quickstart *q);

/* The MTA-STS policy (RFC 8461 §3.2), malloc'd. */
char *quickstart_mta_sts_policy(const struct quickstart *q);

/* The systemd unit running exe serve with q's configuration, malloc'd. */
char *quickstart_systemd_unit(const struct quickstart *q, const char *exe);

#endif
