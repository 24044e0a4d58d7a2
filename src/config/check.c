/*
 * check.c: value checks used by the schema tables of both files, and the
 * path helpers behind "relative to the config file's directory".
 *
 * Each check returns NULL and the value to store, or a problem that walk.c
 * puts after "FILE:LINE:COL: Field.Path: ". Problems quote the value with
 * schema_quote, so odd bytes from a file never reach a terminal raw.
 */
#include "config/schema.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 1035 §2.3.4: labels of at most 63 octets, names of at most 255 octets
 * on the wire, which is 253 characters in text without the trailing dot. */
#define DOMAIN_LABEL_MAX 63
#define DOMAIN_NAME_MAX 253
/* Longest value shown in a message before it is cut. */
#define QUOTE_MAX 64

char *schema_quote(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	size_t shown = n > QUOTE_MAX ? QUOTE_MAX : n;
	char *out = arena_alloc(a, shown * 4 + 8);
	char *o = out;
	*o++ = '"';
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = "0123456789abcdef"[c >> 4];
			*o++ = "0123456789abcdef"[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	strcpy(o, n > shown ? "...\"" : "\"");
	return out;
}

/* ---- domain names ---- */

/* RFC 1123 §2.1 LDH label: letters, digits and hyphens, no hyphen at
 * either end. A leading digit is allowed (RFC 1123 relaxed RFC 952). */
static bool label_valid(const char *s, size_t n)
{
	if (n == 0 || n > DOMAIN_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A trailing dot (the root) is accepted. International names must be given
 * as A-labels ("xn--..."): tern stores and compares the ASCII form. A last
 * label of only digits is refused, so an IP address is never taken for a name. */
bool schema_domain_valid(const char *s)
{
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > DOMAIN_NAME_MAX)
		return false;
	const char *label = s, *end = s + n;
	for (;;) {
		const char *dot = memchr(label, '.', (size_t)(end - label));
		const char *stop = dot != NULL ? dot : end;
		if (!label_valid(label, (size_t)(stop - label)))
			return false;
		if (dot == NULL)
			return !all_digits(label, (size_t)(stop - label));
		label = dot + 1;
	}
}

const char *schema_check_domain(const struct schema_env *env, const char *in,
                                const char **out_r)
{
	if (!schema_domain_valid(in))
		return arena_printf(env->arena, "%s is not a valid domain name",
		                    schema_quote(env->arena, in));
	size_t n = strlen(in);
	if (in[n - 1] == '.')
		n--;
	char *lower = arena_strndup(env->arena, in, n);
	for (char *p = lower; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	*out_r = lower;
	return NULL;
}

/* ---- addresses ---- */

static bool ip_valid(const char *s)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

const char *schema_check_ip(const struct schema_env *env, const char *in, const char **out_r)
{
	if (!ip_valid(in))
		return arena_printf(env->arena, "%s is not a valid IP address",
		                    schema_quote(env->arena, in));
	*out_r = in;
	return NULL;
}

/* A port of 1..65535 in decimal, no sign, no spaces. */
static bool port_valid(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 5 || !all_digits(s, strlen(s)))
		return false;
	long port = strtol(s, NULL, 10);
	return port >= 1 && port <= 65535;
}

/* "IP" or "IP@PORT", as unbound's forward-addr takes them. The last '@'
 * splits, so an IPv6 address needs no brackets. */
const char *schema_check_upstream(const struct schema_env *env, const char *in,
                                  const char **out_r)
{
	const char *at = strrchr(in, '@');
	char *ip = arena_strndup(env->arena, in, at != NULL ? (size_t)(at - in) : strlen(in));
	if (!ip_valid(ip))
		return arena_printf(env->arena, "%s is not a valid IP address",
		                    schema_quote(env->arena, ip));
	if (at != NULL && !port_valid(at + 1))
		return arena_printf(env->arena, "%s is not a valid port (1..65535)",
		                    schema_quote(env->arena, at + 1));
	*out_r = in;
	return NULL;
}

/* ---- paths ---- */

/* Appends segment seg (length n) to the path being built, handling "." and "..". */
static void path_push(const char **segs, size_t *nsegs, const char *seg, size_t n)
{
	if (n == 0 || (n == 1 && seg[0] == '.'))
		return;
	if (n == 2 && seg[0] == '.' && seg[1] == '.') {
		if (*nsegs > 0)
			(*nsegs)--;
		return;
	}
	segs[(*nsegs)++] = seg;
}

char *schema_path_join(struct arena *a, const char *dir, const char *path)
{
	const char *full = path[0] == '/' ? path : arena_printf(a, "%s/%s", dir, path);
	size_t len = strlen(full);
	const char **segs = arena_alloc(a, (len / 2 + 1) * sizeof(*segs));
	size_t nsegs = 0;
	for (const char *p = full; *p != '\0';) {
		size_t n = strcspn(p, "/");
		path_push(segs, &nsegs, p, n);
		p += n;
		p += *p == '/';
	}
	char *out = arena_alloc(a, len + 2), *o = out;
	for (size_t i = 0; i < nsegs; i++) {
		size_t n = strcspn(segs[i], "/");
		*o++ = '/';
		memcpy(o, segs[i], n);
		o += n;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

char *schema_dir_of(struct arena *a, const char *file)
{
	const char *slash = strrchr(file, '/');
	const char *dir = slash == NULL ? "." : slash == file ? "/"
		: arena_strndup(a, file, (size_t)(slash - file));
	if (dir[0] == '/')
		return schema_path_join(a, "/", dir);
	char *cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return NULL;
	char *abs = schema_path_join(a, cwd, dir);
	free(cwd);
	return abs;
}

const char *schema_check_path(const struct schema_env *env, const char *in, const char **out_r)
{
	*out_r = schema_path_join(env->arena, env->dir, in);
	return NULL;
}

const char *schema_check_file(const struct schema_env *env, const char *in, const char **out_r)
{
	const char *abs = schema_path_join(env->arena, env->dir, in);
	struct stat st;
	if (stat(abs, &st) < 0)
		return arena_printf(env->arena, "%s: %s", schema_quote(env->arena, abs),
		                    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return arena_printf(env->arena, "%s is not a regular file",
		                    schema_quote(env->arena, abs));
	*out_r = abs;
	return NULL;
}

/* ---- names ---- */

const char *schema_check_pkg(const struct schema_env *env, const char *in, const char **out_r)
{
	size_t n = strlen(in);
	bool ok = n >= 1 && n <= LOG_PKG_NAME_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = islower((unsigned char)in[i]) || isdigit((unsigned char)in[i]) ||
		     in[i] == '_' || in[i] == '-';
	if (!ok)
		return arena_printf(env->arena, "%s is not a package name "
		                    "(1..%d of a-z, 0-9, _ and -)",
		                    schema_quote(env->arena, in), LOG_PKG_NAME_MAX);
	*out_r = in;
	return NULL;
}
