/*
 * dsn.c: composing delivery status notifications (dsn.h).
 *
 * RFC 3464 §2: a DSN is a multipart/report (RFC 6522) with
 * report-type=delivery-status, whose first part is for humans, second the
 * machine-readable message/delivery-status, third (optional) the original
 * message or its header. RFC 3461 §6.2 says which Action each event gets.
 *
 * Text from remote servers (reply text, host names) goes into header-like
 * lines: control characters are replaced and the length is bounded, so a
 * remote reply can never add lines or fields of its own.
 */
#include "queue/dsn.h"

#include "message/message.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *dsn_action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED: return "failed";
	case DSN_DELAYED: return "delayed";
	case DSN_DELIVERED: return "delivered";
	case DSN_RELAYED: return "relayed";
	case DSN_EXPANDED: return "expanded";
	}
	return "failed";
}

/* Appends s with control characters (CR, LF, ...) as spaces, at most max
 * bytes, so that remote text stays on its line. A text cut at max loses
 * the whole of its last UTF-8 character (RFC 3629 §3: continuation bytes
 * are 10xxxxxx), never a part of it. ascii: bytes above 0x7f become '?',
 * for message/delivery-status, whose registration says "7bit" encoding
 * MUST be used (RFC 3464 §2.1); UTF-8 is for RFC 6533's global type. */
static void append_clean(struct buf *out, const char *s, size_t max, bool ascii)
{
	if (s == NULL)
		return;
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, max);
	if (p[n] != '\0')
		while (n > 0 && (p[n] & 0xc0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		else if (ascii && c > 0x7f)
			c = '?';
		buf_append_char(out, (char)c);
	}
}

static void append_date(struct buf *out, const char *name, int64_t t)
{
	char date[MESSAGE_DATE_MAX];
	buf_appendf(out, "%s: %s\r\n", name, message_date_format((time_t)t, date));
}

/* The status of r: its enhanced code, or the class of its reply code
 * (RFC 3464 §2.3.4: Status is required). */
static void status_of(const struct dsn_rcpt *r, char out[16])
{
	if (r->status != NULL && r->status[0] != '\0') {
		snprintf(out, 16, "%s", r->status);
		return;
	}
	int cls = r->code >= 200 && r->code < 600 ? r->code / 100 : 0;
	if (cls == 0)
		cls = r->action == DSN_FAILED ? 5 : r->action == DSN_DELAYED ? 4 : 2;
	snprintf(out, 16, "%d.0.0", cls);
}

/* The address type of RFC 3464 §2.3.2 (RFC 6533 §3: utf-8 when the
 * address is not all ASCII). */
static const char *addr_type(const char *addr)
{
	for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
		if (*p >= 0x80)
			return "utf-8";
	return "rfc822";
}

static const char *subject_of(const struct dsn_in *d)
{
	enum dsn_action a = d->rcpts[0].action;
	for (size_t i = 1; i < d->nrcpts; i++)
		if (d->rcpts[i].action != a)
			return "Delivery Status Notification";
	switch (a) {
	case DSN_FAILED: return "Delivery Status Notification (Failure)";
	case DSN_DELAYED: return "Delivery Status Notification (Delay)";
	default: return "Delivery Status Notification (Success)";
	}
}

static void human_part(const struct dsn_in *d, struct buf *out)
{
	buf_append_str(out, "Content-Type: text/plain; charset=utf-8\r\n"
	               "Content-Transfer-Encoding: 8bit\r\n\r\n");
	buf_appendf(out, "This is the mail system at %s, about your message", d->reporting_mta);
	if (d->arrival > 0) {
		char date[MESSAGE_DATE_MAX];
		buf_appendf(out, " of %s", message_date_format((time_t)d->arrival, date));
	}
	buf_append_str(out, ".\r\n\r\n");
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct dsn_rcpt *r = &d->rcpts[i];
		buf_append_str(out, "<");
		append_clean(out, r->address, 320, false);
		switch (r->action) {
		case DSN_FAILED:
			buf_append_str(out, ">: delivery failed for good; the message was not delivered.\r\n");
			break;
		case DSN_DELAYED:
			buf_append_str(out, ">: not delivered yet; delivery will be tried again");
			if (r->will_retry_until > 0) {
				char date[MESSAGE_DATE_MAX];
				buf_appendf(out, " until %s",
				            message_date_format((time_t)r->will_retry_until, date));
			}
			buf_append_str(out, ". You need not send it again.\r\n");
			break;
		case DSN_DELIVERED:
			buf_append_str(out, ">: delivered.\r\n");
			break;
		case DSN_RELAYED:
		case DSN_EXPANDED:
			buf_append_str(out, ">: handed on to the recipient's mail server, which may not "
			               "send further notifications.\r\n");
			break;
		}
		if (r->code > 0 || (r->text != NULL && r->text[0] != '\0')) {
			buf_append_str(out, "    ");
			if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
				append_clean(out, r->remote_mta, 255, false);
				buf_append_str(out, " said: ");
			}
			if (r->code > 0)
				buf_appendf(out, "%d ", r->code);
			append_clean(out, r->text, DSN_TEXT_MAX, false);
			buf_append_str(out, "\r\n");
		}
	}
}

/* RFC 3464 §2.2 per-message fields and §2.3 per-recipient fields. */
static void status_part(const struct dsn_in *d, struct buf *out)
{
	bool ascii = !d->utf8;
	buf_appendf(out, "Content-Type: message/%sdelivery-status\r\n\r\n", d->utf8 ? "global-" : "");
	buf_append_str(out, "Reporting-MTA: dns; ");
	append_clean(out, d->reporting_mta, 255, ascii);
	buf_append_str(out, "\r\n");
	if (d->envid != NULL) {
		buf_append_str(out, "Original-Envelope-Id: ");
		append_clean(out, d->envid, 100, ascii);   /* RFC 3461 §4.4: at most 100 characters */
		buf_append_str(out, "\r\n");
	}
	if (d->arrival > 0)
		append_date(out, "Arrival-Date", d->arrival);
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct dsn_rcpt *r = &d->rcpts[i];
		char status[16];
		status_of(r, status);
		buf_append_str(out, "\r\n");
		if (r->orcpt != NULL && r->orcpt[0] != '\0') {
			buf_append_str(out, "Original-Recipient: ");
			append_clean(out, r->orcpt, 500, ascii);
			buf_append_str(out, "\r\n");
		}
		buf_appendf(out, "Final-Recipient: %s; ", addr_type(r->address));
		append_clean(out, r->address, 500, ascii);
		buf_appendf(out, "\r\nAction: %s\r\nStatus: %s\r\n", dsn_action_name(r->action), status);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			buf_append_str(out, "Remote-MTA: dns; ");
			append_clean(out, r->remote_mta, 255, ascii);
			buf_append_str(out, "\r\n");
		}
		if (r->code > 0) {
			/* RFC 3464 §2.3.6: the SMTP reply, code and text */
			buf_appendf(out, "Diagnostic-Code: smtp; %d ", r->code);
			if (r->status != NULL && r->status[0] != '\0')
				buf_appendf(out, "%s ", status);
			append_clean(out, r->text, DSN_TEXT_MAX, ascii);
			buf_append_str(out, "\r\n");
		} else if (r->text != NULL && r->text[0] != '\0') {
			buf_append_str(out, "X-Tern-Diagnostic: ");
			append_clean(out, r->text, DSN_TEXT_MAX, ascii);
			buf_append_str(out, "\r\n");
		}
		if (r->last_attempt > 0)
			append_date(out, "Last-Attempt-Date", r->last_attempt);
		if (r->will_retry_until > 0)
			append_date(out, "Will-Retry-Until", r->will_retry_until);
	}
}

/* The end of the original's header (the empty line included), or len. */
static size_t header_end(const char *m, size_t len)
{
	/* RFC 5322 §2.1: the header may be empty, the body starting at once */
	if (len >= 1 && m[0] == '\n')
		return 1;
	if (len >= 2 && m[0] == '\r' && m[1] == '\n')
		return 2;
	for (size_t i = 0; i + 1 < len; i++) {
		if (m[i] == '\n' && m[i + 1] == '\n')
			return i + 2;
		if (m[i] == '\n' && i + 2 < len && m[i + 1] == '\r' && m[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* RFC 3464 §2.1, RFC 3462 §2: the whole message when RET allows it and it
 * is not too large (and only for failures: delays and successes carry the
 * header, RFC 3461 §4.3 leaves the choice to us when RET is absent). */
static void original_part(const struct dsn_in *d, struct buf *out)
{
	bool any_failed = false;
	for (size_t i = 0; i < d->nrcpts; i++)
		any_failed |= d->rcpts[i].action == DSN_FAILED;
	bool full = any_failed && !d->ret_hdrs && d->original_len <= DSN_FULL_MAX;
	size_t n = full ? d->original_len : header_end(d->original, d->original_len);
	if (full)
		buf_appendf(out, "Content-Type: message/%s\r\n", d->utf8 ? "global" : "rfc822");
	else
		buf_appendf(out, "Content-Type: %s\r\n",
		            d->utf8 ? "message/global-headers" : "text/rfc822-headers");
	buf_append_str(out, "Content-Transfer-Encoding: 8bit\r\n\r\n");
	buf_append(out, d->original, n);
	if (n > 0 && d->original[n - 1] != '\n')
		buf_append_str(out, "\r\n");
}

static void random_token(char *out, size_t bytes)
{
	unsigned char raw[32];
	if (bytes > sizeof(raw) || RAND_bytes(raw, (int)bytes) != 1)
		abort();
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

int dsn_compose(const struct dsn_in *d, struct buf *out, struct error *e)
{
	if (d->nrcpts == 0)
		return error_set(e, ERR_INVALID, "a DSN needs at least one recipient");
	char boundary[2 * 12 + 1], id[2 * 12 + 1];
	random_token(boundary, 12);
	random_token(id, 12);
	int64_t now = d->now > 0 ? d->now : (int64_t)time(NULL);
	buf_appendf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", d->reporting_mta);
	buf_append_str(out, "To: <");
	append_clean(out, d->to, 500, false);
	buf_appendf(out, ">\r\nSubject: %s\r\n", subject_of(d));
	append_date(out, "Date", now);
	buf_appendf(out, "Message-ID: <dsn-%s@%s>\r\n", id, d->reporting_mta);
	/* RFC 3834 §5: no automatic answers to this */
	buf_append_str(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	/* RFC 6522 §3 */
	buf_appendf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	            "\tboundary=\"%s\"\r\n\r\n", boundary);
	buf_append_str(out, "This is a MIME-formatted delivery status notification.\r\n");
	buf_appendf(out, "\r\n--%s\r\n", boundary);
	human_part(d, out);
	buf_appendf(out, "\r\n--%s\r\n", boundary);
	status_part(d, out);
	if (d->original != NULL && d->original_len > 0) {
		buf_appendf(out, "\r\n--%s\r\n", boundary);
		original_part(d, out);
	}
	buf_appendf(out, "\r\n--%s--\r\n", boundary);
	return 0;
}
