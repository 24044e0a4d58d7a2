/*
 * log.h: structured logging, one logfmt line per meaningful event.
 *
 *   time=2026-11-25T17:30:00.123Z level=info pkg=smtpserver msg="delivered" cid=1f rcpt=a@b.example
 *
 * Keys are chosen by the program (bytes other than letters, digits, "_",
 * "-" and "." become "_", should a key come from outside); values are escaped (quotes, backslashes,
 * control bytes and invalid UTF-8 become \", \\, \n, \xHH), so text from the
 * network can never forge a second line or a key. Each line is written with a
 * single write(2), so lines from threads never interleave.
 *
 * Levels, most to least severe: error, warn, info, debug, trace, traceauth,
 * tracedata. The trace levels show protocol traffic; traceauth adds
 * authentication exchanges and tracedata adds message data, so that a trace
 * never reveals a password unless asked for by name. Each package ("smtp",
 * "dns", ...) may have its own level; others use the default.
 *
 * Usage:
 *   struct log_line *l = log_begin(LOG_INFO, "dns", "lookup done");
 *   log_str(l, "name", name); log_int(l, "ttl", ttl); log_end(l);
 * All log_* calls accept a NULL line (level disabled) and then do nothing.
 */
#ifndef TERN_CORE_LOG_H
#define TERN_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

struct error;

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
	LOG_TRACE,
	LOG_TRACEAUTH,
	LOG_TRACEDATA,
};

/* Longest line written, newline included; longer lines are cut and end in
 * ` truncated=true`. */
#define LOG_LINE_MAX 8192
/* Most packages that can have their own level. */
#define LOG_PKG_MAX 64
/* Longest package name. */
#define LOG_PKG_NAME_MAX 32

/* Parses "error".."tracedata". Returns 0, or -1 if s names no level. */
int log_level_parse(const char *s, enum log_level *level_r);
const char *log_level_name(enum log_level level);

/* Level for packages without their own. Default: info. */
void log_set_default_level(enum log_level level);

/* Replaces all per-package levels at once (as a config reload does).
 * Returns 0, or -1 if n > LOG_PKG_MAX or a name is too long (nothing changed). */
int log_set_pkg_levels(size_t n, const char *const pkgs[], const enum log_level levels[]);

/* Whether a line at level for pkg would be written. */
bool log_enabled(enum log_level level, const char *pkg);

/* Where lines go (default: 2, stderr). The fd is not closed by the logger. */
void log_set_fd(int fd);

struct log_line;

/* Starts a line, or returns NULL if the level is disabled for pkg. The line is
 * thread-local: finish it with log_end before starting another on this thread. */
struct log_line *log_begin(enum log_level level, const char *pkg, const char *msg);
void log_str(struct log_line *l, const char *key, const char *value);
void log_strn(struct log_line *l, const char *key, const char *value, size_t n);
void log_int(struct log_line *l, const char *key, long long value);
void log_uint(struct log_line *l, const char *key, unsigned long long value);
void log_bool(struct log_line *l, const char *key, bool value);
/* Adds err="message" errkind=kind. */
void log_error_value(struct log_line *l, const struct error *e);
void log_end(struct log_line *l);

/* One-call form for lines with only a message. */
void log_msgf(enum log_level level, const char *pkg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends value to dst escaped as a logfmt value (quoted when needed); writes at
 * most dstsize-1 bytes and a NUL. Returns the length written, or dstsize if it
 * was cut. Exposed for tests and for other line-oriented outputs. */
size_t log_escape(char *dst, size_t dstsize, const char *value, size_t n);

#endif
