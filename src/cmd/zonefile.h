/*
 * zonefile.h: DNS records written as zone-file text (RFC 1035 §5), for the
 * records `tern quickstart` asks an admin to publish.
 *
 * Names are written relative to an origin when they are within it ("@" for
 * the origin itself) and absolute (with the final dot) otherwise.
 */
#ifndef TERN_CMD_ZONEFILE_H
#define TERN_CMD_ZONEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Longest character-string of a TXT record (RFC 1035 §3.3: one length octet). */
#define ZONEFILE_TXT_STRING_MAX 255

/* Longest reverse name: 32 nibbles with dots and "ip6.arpa.". */
#define ZONEFILE_REVERSE_MAX 80

/* Whether name (no final dot, any case) is origin or below it. */
bool zonefile_in_zone(const char *name, const char *origin);

/* The owner field for name in a zone of origin: "@", the part before
 * ".origin", or "name." when name is outside the zone. In buf (size >= 256). */
const char *zonefile_owner(const char *name, const char *origin, char *buf, size_t size);

/* Writes one record line: owner, class IN, type and data. */
void zonefile_record(FILE *f, const char *owner, const char *type, const char *data);

/* Writes a TXT record for text, cut into character-strings of at most
 * ZONEFILE_TXT_STRING_MAX bytes (a receiver joins them without a separator:
 * RFC 7208 §3.3, RFC 6376 §3.6.2.2); '"' and '\' are escaped. More than one
 * string is written over several lines in parentheses. */
void zonefile_txt(FILE *f, const char *owner, const char *text);

/* The name of ip's PTR record, in-addr.arpa. (RFC 1035 §3.5) or ip6.arpa.
 * (RFC 3596 §2.5), with the final dot, in out (size >= ZONEFILE_REVERSE_MAX).
 * Returns 0, or -1 when ip is not an IPv4 or IPv6 address. */
int zonefile_reverse_name(const char *ip, char *out, size_t size);

#endif
