/*
 * zonefile.c: DNS records as zone-file text (zonefile.h).
 */
#include "cmd/zonefile.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Width of the owner column, so that most records line up. */
#define OWNER_WIDTH 24

bool zonefile_in_zone(const char *name, const char *origin)
{
	size_t n = strlen(name), o = strlen(origin);
	if (n == o)
		return strcasecmp(name, origin) == 0;
	return n > o && name[n - o - 1] == '.' && strcasecmp(name + n - o, origin) == 0;
}

const char *zonefile_owner(const char *name, const char *origin, char *buf, size_t size)
{
	size_t n = strlen(name), o = strlen(origin);
	if (!zonefile_in_zone(name, origin))
		snprintf(buf, size, "%s.", name);
	else if (n == o)
		snprintf(buf, size, "@");
	else
		snprintf(buf, size, "%.*s", (int)(n - o - 1), name);
	return buf;
}

void zonefile_record(FILE *f, const char *owner, const char *type, const char *data)
{
	fprintf(f, "%-*s IN %-5s %s\n", OWNER_WIDTH, owner, type, data);
}

/* Writes s[0..n) as one quoted character-string (RFC 1035 §5.1). */
static void quoted(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

void zonefile_txt(FILE *f, const char *owner, const char *text)
{
	size_t n = strlen(text);
	if (n <= ZONEFILE_TXT_STRING_MAX) {
		fprintf(f, "%-*s IN %-5s ", OWNER_WIDTH, owner, "TXT");
		quoted(f, text, n);
		fputc('\n', f);
		return;
	}
	fprintf(f, "%-*s IN %-5s (\n", OWNER_WIDTH, owner, "TXT");
	for (size_t off = 0; off < n; off += ZONEFILE_TXT_STRING_MAX) {
		size_t len = n - off < ZONEFILE_TXT_STRING_MAX ? n - off : ZONEFILE_TXT_STRING_MAX;
		fprintf(f, "%*s", OWNER_WIDTH + 4, "");
		quoted(f, text + off, len);
		fputc('\n', f);
	}
	fprintf(f, "%*s)\n", OWNER_WIDTH + 4, "");
}

int zonefile_reverse_name(const char *ip, char *out, size_t size)
{
	unsigned char a[16];
	static const char hex[] = "0123456789abcdef";
	if (size < ZONEFILE_REVERSE_MAX)
		return -1;
	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, size, "%u.%u.%u.%u.in-addr.arpa.", a[3], a[2], a[1], a[0]);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	char *p = out;
	for (int i = 15; i >= 0; i--) {
		*p++ = hex[a[i] & 0xf];
		*p++ = '.';
		*p++ = hex[a[i] >> 4];
		*p++ = '.';
	}
	strcpy(p, "ip6.arpa.");
	return 0;
}
