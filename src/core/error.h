/*
 * error.h: error values that carry a kind and a message.
 *
 * Functions that can fail return int (0 ok, -1 failure) and fill a caller-owned
 * struct error. The kind lets a caller react (a timeout is not a syntax error);
 * the message is for humans and logs. Messages longer than ERROR_MSG_MAX are cut
 * and end in "..." so that a cut is visible, never silent.
 */
#ifndef TERN_CORE_ERROR_H
#define TERN_CORE_ERROR_H

#include <stdarg.h>

enum error_kind {
	ERR_NONE = 0,
	ERR_INVALID,   /* bad input: syntax, value out of range */
	ERR_LIMIT,     /* a named limit was exceeded (line length, size, count) */
	ERR_IO,        /* system call failed; errno text is in the message */
	ERR_TIMEOUT,   /* a deadline passed */
	ERR_CLOSED,    /* the peer closed the connection */
	ERR_TLS,       /* TLS handshake or record layer failure */
	ERR_NOTFOUND,  /* a looked-up thing does not exist */
	ERR_TEMP,      /* temporary failure, retry later */
	ERR_REFUSED,   /* refused by policy (connection limit, permission) */
	ERR_SHUTDOWN,  /* the server is shutting down: the wait was cancelled */
};

/* Longest message kept, including the terminating NUL. */
#define ERROR_MSG_MAX 512

struct error {
	enum error_kind kind;
	char msg[ERROR_MSG_MAX];
};

/* Sets e (if not NULL) to kind and the formatted message. Always returns -1 so
 * that callers can write `return error_set(e, ERR_IO, "...")`. */
int error_set(struct error *e, enum error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int error_setv(struct error *e, enum error_kind kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Like error_set, with ": strerror(errnum)" appended. Returns -1. */
int error_errno(struct error *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts "prefix: " in front of the message already in e; kind is kept. Returns -1. */
int error_prefix(struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Resets e to ERR_NONE with an empty message. */
void error_clear(struct error *e);

/* The name of a kind, for logs: "invalid", "timeout", ... */
const char *error_kind_name(enum error_kind kind);

#endif
