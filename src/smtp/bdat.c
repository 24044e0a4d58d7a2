/*
 * bdat.c: BDAT chunks (RFC 3030 §2): exactly the announced number of bytes,
 * read whatever happens to the message, so the session stays in step with
 * the client. Line endings are checked as for DATA (RFC 5321 §2.3.8: CR and
 * LF only together as CRLF; RFC 5322 §2.3) and NUL is refused (no
 * BINARYMIME, RFC 3030 §3).
 */
#include "smtp/smtp.h"

#include "core/conn.h"
#include "core/error.h"

#include <string.h>

void smtp_bdat_begin(struct smtp_bdat *b, uint64_t max_size)
{
	memset(b, 0, sizeof(*b));
	b->max = max_size;
}

static void bdat_fail(struct smtp_bdat *b, int code, const char *enh, const char *text,
	const char *msg)
{
	if (b->failed)
		return;
	b->failed = true;
	b->hint = (struct smtp_reply_hint){ code, enh, text };
	size_t n = strnlen(msg, sizeof(b->msg) - 1);
	memcpy(b->msg, msg, n);
	b->msg[n] = '\0';
}

static void bare(struct smtp_bdat *b, const char *msg)
{
	bdat_fail(b, 500, "5.5.2", "Bare CR or LF in message data not accepted", msg);
}

/* Checks p[0..n) for bare CR, bare LF and NUL, carrying a final CR over. */
static void check(struct smtp_bdat *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !b->failed; i++) {
		char c = p[i];
		if (b->cr_pending && c != '\n')
			bare(b, "bare CR in message data");
		else if (!b->cr_pending && c == '\n')
			bare(b, "bare LF in message data");
		else if (c == '\0')
			bdat_fail(b, 554, "5.6.0", "NUL in message data not accepted", "NUL in message data");
		b->cr_pending = c == '\r';
	}
}

int smtp_bdat_chunk(struct smtp_bdat *b, struct conn *c, uint64_t n, smtp_data_sink *sink,
	void *ctx, struct error *e)
{
	char tmp[8192];
	while (n > 0) {
		ssize_t got = conn_read(c, tmp, n < sizeof(tmp) ? (size_t)n : sizeof(tmp), e);
		if (got < 0)
			return -1;
		n -= (uint64_t)got;
		if (b->failed)
			continue;
		if (b->max != 0 && b->size + (uint64_t)got > b->max) {
			/* RFC 3030 §4: 552 for a message over the SIZE limit */
			bdat_fail(b, 552, "5.3.4", "Message too big", "message larger than the maximum size");
			continue;
		}
		check(b, tmp, (size_t)got);
		b->size += (uint64_t)got;
		struct error se;
		if (!b->failed && sink(ctx, tmp, (size_t)got, &se) < 0)
			bdat_fail(b, 451, "4.3.0", "Error storing message", se.msg);
	}
	return 0;
}

int smtp_bdat_end(struct smtp_bdat *b)
{
	if (!b->failed && b->cr_pending)
		bare(b, "bare CR at the end of message data");
	return b->failed ? -1 : 0;
}
