/*
 * log.c: see log.h.
 *
 * Per-package levels live in a small table behind a mutex; max_level (atomic)
 * is the most verbose level in force anywhere, so disabled lines cost one load.
 */
#include "core/log.h"

#include "core/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {
	"error", "warn", "info", "debug", "trace", "traceauth", "tracedata",
};
#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

struct pkg_level {
	char name[LOG_PKG_NAME_MAX + 1];
	enum log_level level;
};

static pthread_mutex_t levels_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pkg_level pkg_levels[LOG_PKG_MAX];
static size_t pkg_level_count;
static _Atomic int default_level = LOG_INFO;
static _Atomic int max_level = LOG_INFO;
static _Atomic int out_fd = 2;

struct log_line {
	char text[LOG_LINE_MAX];
	size_t len;
	bool cut;
	bool active;
};

/* The line being built by this thread, allocated by log_begin and freed by
 * log_end: a thread-local array would be zeroed, and so resident, in every
 * thread (one per connection) whether it logs or not. */
static _Thread_local struct log_line *tl_line;

int log_level_parse(const char *s, enum log_level *level_r)
{
	for (size_t i = 0; i < LEVEL_COUNT; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return (size_t)level < LEVEL_COUNT ? level_names[level] : "unknown";
}

/* Called with levels_lock held. */
static void recompute_max(void)
{
	int m = atomic_load(&default_level);
	for (size_t i = 0; i < pkg_level_count; i++)
		if ((int)pkg_levels[i].level > m)
			m = (int)pkg_levels[i].level;
	atomic_store(&max_level, m);
}

void log_set_default_level(enum log_level level)
{
	pthread_mutex_lock(&levels_lock);
	atomic_store(&default_level, (int)level);
	recompute_max();
	pthread_mutex_unlock(&levels_lock);
}

int log_set_pkg_levels(size_t n, const char *const pkgs[], const enum log_level levels[])
{
	if (n > LOG_PKG_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strlen(pkgs[i]) > LOG_PKG_NAME_MAX || (size_t)levels[i] >= LEVEL_COUNT)
			return -1;
	pthread_mutex_lock(&levels_lock);
	for (size_t i = 0; i < n; i++) {
		strcpy(pkg_levels[i].name, pkgs[i]);
		pkg_levels[i].level = levels[i];
	}
	pkg_level_count = n;
	recompute_max();
	pthread_mutex_unlock(&levels_lock);
	return 0;
}

bool log_enabled(enum log_level level, const char *pkg)
{
	if ((int)level > atomic_load(&max_level))
		return false;
	int want = atomic_load(&default_level);
	pthread_mutex_lock(&levels_lock);
	for (size_t i = 0; i < pkg_level_count; i++) {
		if (strcmp(pkg_levels[i].name, pkg) == 0) {
			want = (int)pkg_levels[i].level;
			break;
		}
	}
	pthread_mutex_unlock(&levels_lock);
	return (int)level <= want;
}

void log_set_fd(int fd)
{
	atomic_store(&out_fd, fd);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if invalid.
 * RFC 3629 §4: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool needs_quotes(const unsigned char *v, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] == '=' || v[i] == '"' || v[i] == '\\' || v[i] >= 0x7f)
			return true;
	return false;
}

/* Small writer that never overflows dst and remembers whether it had to cut. */
struct out {
	char *dst;
	size_t size, len;
	bool cut;
};

static void out_bytes(struct out *o, const char *s, size_t n)
{
	if (o->cut || o->len + n + 1 > o->size) {
		o->cut = true;
		return;
	}
	memcpy(o->dst + o->len, s, n);
	o->len += n;
}

static void escape_into(struct out *o, const char *value, size_t n)
{
	const unsigned char *v = (const unsigned char *)value;
	if (!needs_quotes(v, n)) {
		out_bytes(o, value, n);
		return;
	}
	out_bytes(o, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = v[i];
		char tmp[8];
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			out_bytes(o, tmp, 2);
		} else if (c == '\n') {
			out_bytes(o, "\\n", 2);
		} else if (c == '\r') {
			out_bytes(o, "\\r", 2);
		} else if (c == '\t') {
			out_bytes(o, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			out_bytes(o, tmp, 4);
		} else if (c >= 0x80) {
			size_t len = utf8_seq_len(v + i, n - i);
			if (len == 0) {
				snprintf(tmp, sizeof(tmp), "\\x%02x", c);
				out_bytes(o, tmp, 4);
			} else {
				out_bytes(o, value + i, len);
				i += len;
				continue;
			}
		} else {
			out_bytes(o, value + i, 1);
		}
		i++;
	}
	out_bytes(o, "\"", 1);
}

size_t log_escape(char *dst, size_t dstsize, const char *value, size_t n)
{
	struct out o = {dst, dstsize, 0, false};
	if (dstsize == 0)
		return 0;
	escape_into(&o, value, n);
	dst[o.len] = '\0';
	return o.cut ? dstsize : o.len;
}

/* Room kept at the end of every line for " truncated=true\n". */
#define TAIL_RESERVE 32

static void line_raw(struct log_line *l, const char *s, size_t n)
{
	struct out o = {l->text, sizeof(l->text) - TAIL_RESERVE, l->len, l->cut};
	out_bytes(&o, s, n);
	l->len = o.len;
	l->cut = o.cut;
}

/* Writes a key: letters, digits, "_", "-" and "." pass, any other byte
 * becomes "_" (and an empty key is "_"), so that a key that came from
 * the network (an IMAP ID field name) cannot hold "=", a space or a line
 * break. */
static void key_into(struct out *o, const char *key)
{
	if (key[0] == '\0')
		out_bytes(o, "_", 1);
	for (const char *p = key; *p != '\0'; p++) {
		char c = *p;
		bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		out_bytes(o, token ? p : "_", 1);
	}
}

static void line_kv(struct log_line *l, const char *key, const char *value, size_t n)
{
	if (l == NULL)
		return;
	size_t before = l->len;
	struct out o = {l->text, sizeof(l->text) - TAIL_RESERVE, l->len, false};
	out_bytes(&o, " ", 1);
	key_into(&o, key);
	out_bytes(&o, "=", 1);
	escape_into(&o, value, n);
	if (o.cut) {
		/* Drop the partial pair rather than leave a broken quote. */
		l->len = before;
		l->cut = true;
		return;
	}
	l->len = o.len;
}

struct log_line *log_begin(enum log_level level, const char *pkg, const char *msg)
{
	if (!log_enabled(level, pkg))
		return NULL;
	if (tl_line == NULL && (tl_line = malloc(sizeof(*tl_line))) == NULL)
		return NULL;
	struct log_line *l = tl_line;
	l->len = 0;
	l->cut = false;
	l->active = true;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char head[96];
	int n = snprintf(head, sizeof(head), "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, log_level_name(level));
	line_raw(l, head, (size_t)n);
	line_kv(l, "pkg", pkg, strlen(pkg));
	line_kv(l, "msg", msg, strlen(msg));
	return l;
}

void log_str(struct log_line *l, const char *key, const char *value)
{
	if (l != NULL)
		line_kv(l, key, value != NULL ? value : "", value != NULL ? strlen(value) : 0);
}

void log_strn(struct log_line *l, const char *key, const char *value, size_t n)
{
	line_kv(l, key, value, n);
}

void log_int(struct log_line *l, const char *key, long long value)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", value);
	line_kv(l, key, tmp, (size_t)n);
}

void log_uint(struct log_line *l, const char *key, unsigned long long value)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%llu", value);
	line_kv(l, key, tmp, (size_t)n);
}

void log_bool(struct log_line *l, const char *key, bool value)
{
	line_kv(l, key, value ? "true" : "false", value ? 4 : 5);
}

void log_error_value(struct log_line *l, const struct error *e)
{
	if (l == NULL || e == NULL)
		return;
	log_str(l, "err", e->msg);
	log_str(l, "errkind", error_kind_name(e->kind));
}

void log_end(struct log_line *l)
{
	if (l == NULL || l != tl_line || !l->active)
		return;
	if (l->cut) {
		static const char tail[] = " truncated=true";
		memcpy(l->text + l->len, tail, sizeof(tail) - 1);
		l->len += sizeof(tail) - 1;
	}
	l->text[l->len++] = '\n';
	int fd = atomic_load(&out_fd);
	size_t off = 0;
	while (off < l->len) {
		ssize_t w = write(fd, l->text + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;  /* nowhere left to report a failing log */
		off += (size_t)w;
	}
	free(tl_line);
	tl_line = NULL;
}

void log_msgf(enum log_level level, const char *pkg, const char *fmt, ...)
{
	if (!log_enabled(level, pkg))
		return;
	char msg[LOG_LINE_MAX / 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_end(log_begin(level, pkg, msg));
}
