/* error.c: see error.h. */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static void mark_cut(char *msg, int wanted)
{
	if (wanted >= ERROR_MSG_MAX)
		memcpy(msg + ERROR_MSG_MAX - 4, "...", 4);
}

int error_setv(struct error *e, enum error_kind kind, const char *fmt, va_list ap)
{
	if (e == NULL)
		return -1;
	e->kind = kind;
	int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (n < 0)
		e->msg[0] = '\0';
	mark_cut(e->msg, n);
	return -1;
}

int error_set(struct error *e, enum error_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(e, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int error_errno(struct error *e, int errnum, const char *fmt, ...)
{
	if (e == NULL)
		return -1;
	char head[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	return error_set(e, ERR_IO, "%s: %s", head, strerror(errnum));
}

int error_prefix(struct error *e, const char *fmt, ...)
{
	if (e == NULL)
		return -1;
	char head[ERROR_MSG_MAX], old[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	int n = snprintf(e->msg, sizeof(e->msg), "%s: %s", head, old);
	mark_cut(e->msg, n);
	return -1;
}

void error_clear(struct error *e)
{
	e->kind = ERR_NONE;
	e->msg[0] = '\0';
}

const char *error_kind_name(enum error_kind kind)
{
	static const char *const names[] = {
		[ERR_NONE] = "none", [ERR_INVALID] = "invalid", [ERR_LIMIT] = "limit",
		[ERR_IO] = "io", [ERR_TIMEOUT] = "timeout", [ERR_CLOSED] = "closed",
		[ERR_TLS] = "tls", [ERR_NOTFOUND] = "notfound", [ERR_TEMP] = "temporary",
		[ERR_REFUSED] = "refused",
		[ERR_SHUTDOWN] = "shutdown",
	};
	if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[kind];
}
