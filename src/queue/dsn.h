/*
 * dsn.h: delivery status notifications (RFC 3464) as the queue sends them:
 * a multipart/report (RFC 6522) with a human-readable part, a
 * message/delivery-status part, and the original message
 * (message/rfc822) or its header (text/rfc822-headers). Messages with UTF-8
 * addresses use the RFC 6533 types (message/global-delivery-status,
 * message/global, message/global-headers) and "utf-8" address types.
 */
#ifndef TERN_QUEUE_DSN_H
#define TERN_QUEUE_DSN_H

#include "core/buf.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Originals larger than this go back as their header only. */
#define DSN_FULL_MAX (1024 * 1024)
/* Longest diagnostic text put in a DSN (the rest is cut off). */
#define DSN_TEXT_MAX 400

/* RFC 3464 §2.3.3 Action values. */
enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED, DSN_RELAYED, DSN_EXPANDED };

struct dsn_rcpt {
	const char *address;          /* Final-Recipient */
	const char *orcpt;            /* Original-Recipient "type;addr", or NULL */
	enum dsn_action action;
	const char *status;           /* "5.1.1"; NULL or "": from code (x.0.0) */
	int code;                     /* SMTP reply code, 0: none (local decision) */
	const char *text;             /* reply text or local reason, or NULL */
	const char *remote_mta;       /* host name, or NULL/"" */
	int64_t last_attempt;         /* 0: none */
	int64_t will_retry_until;     /* 0: none (failed, delivered) */
};

struct dsn_in {
	const char *reporting_mta;    /* our host name */
	const char *to;               /* the original sender (reverse-path) */
	const char *envid;            /* RFC 3461 ENVID, or NULL */
	int64_t arrival;              /* when the message was queued */
	int64_t now;                  /* Date of the DSN; 0: now */
	bool ret_hdrs;                /* RET=HDRS: never the full message */
	bool utf8;                    /* RFC 6533 types */
	const char *original;         /* the message as queued */
	size_t original_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/* The Action name of a ("failed"). */
const char *dsn_action_name(enum dsn_action a);

/* Writes the DSN message (CRLF lines) to out. Returns 0, or -1 with e
 * (ERR_INVALID: no recipients). */
int dsn_compose(const struct dsn_in *d, struct buf *out, struct error *e);

#endif
