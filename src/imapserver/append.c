/*
 * append.c: APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), the
 * UTF8 data item (RFC 6855 §4), literal8 (BINARY, RFC 3516 §4.4) and
 * APPENDUID (UIDPLUS, RFC 4315 §3); and REPLACE / UID REPLACE (RFC 8508).
 *
 * Each message is parsed (src/message) for the summary the store keeps
 * (search fields, index text, part layout), as SMTP delivery does, and
 * stored as received: a literal8 message whose parts use
 * Content-Transfer-Encoding binary is kept byte for byte (RFC 3516 §4.4).
 *
 * MULTIAPPEND is all or nothing (RFC 3502 §3): every message is checked
 * before the first is stored, and if storing one fails, those already stored
 * are expunged again before the NO.
 */
#include "imapserver/internal.h"

#include "core/arena.h"
#include "message/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Index text kept per appended message, as for SMTP deliveries. */
#define APPEND_INDEX_TEXT_MAX (256 * 1024)

/* A message checked and ready to store. */
struct prepared {
	unsigned flags;
	const char *keywords;
	int64_t received;
};

/* date-time (RFC 9051 §9) as seconds since the epoch: the civil time
 * read as UTC, less the zone's offset east of UTC. */
static int64_t datetime_seconds(const struct imap_datetime *dt)
{
	struct tm tm = {
		.tm_year = dt->date.year - 1900, .tm_mon = dt->date.month - 1, .tm_mday = dt->date.day,
		.tm_hour = dt->hour, .tm_min = dt->min, .tm_sec = dt->sec,
	};
	return (int64_t)timegm(&tm) - (int64_t)dt->zone_min * 60;
}

/* Checks one message of the command; false with r set. */
static bool prepare(struct imapsrv_session *s, const struct imap_append_msg *m,
                    struct prepared *p, struct imapsrv_result *r)
{
	struct error e;
	if (imapsrv_parse_flags(m->flags, m->n_flags, s->cmd_arena, &p->flags, &p->keywords,
	                        &e) != 0) {
		imapsrv_result_set(r, "BAD", NULL, "%s", e.msg);
		return false;
	}
	/* RFC 6855 §4: the UTF8 data item belongs to sessions that enabled
	 * UTF8=ACCEPT (IMAP4rev2 accepts it too). */
	if (m->utf8 && !s->utf8_accept && !s->out.rev2) {
		imapsrv_result_set(r, "BAD", NULL, "APPEND UTF8 needs ENABLE UTF8=ACCEPT (RFC 6855 §4)");
		return false;
	}
	/* RFC 7889 §3.1: TOOBIG above the APPENDLIMIT. */
	if (m->size > imapsrv_append_limit(s)) {
		imapsrv_result_set(r, "NO", "TOOBIG", "Message larger than the APPENDLIMIT of %llu",
		                   (unsigned long long)imapsrv_append_limit(s));
		return false;
	}
	if (m->size == 0) {
		imapsrv_result_set(r, "NO", "CANNOT", "Empty message");
		return false;
	}
	p->received = m->has_date ? datetime_seconds(&m->date) : 0;
	if (m->has_date && p->received < 0) {
		imapsrv_result_set(r, "BAD", NULL, "date-time before 1970");
		return false;
	}
	return true;
}

/* Parses and stores one message. */
static int store_one(struct imapsrv_session *s, const char *mailbox,
                     const struct imap_append_msg *m, const struct prepared *p,
                     struct store_delivered *res, struct error *e)
{
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	struct message *msg = message_parse(a, m->data, m->size, NULL);
	struct message_summary sum;
	message_summarize(a, msg, true, APPEND_INDEX_TEXT_MAX, &sum);
	struct store_delivery d = {
		.mailbox = mailbox, .flags = p->flags, .keywords = p->keywords,
		.received = p->received,
	};
	store_delivery_summary(&d, &sum);
	int rc = store_deliver(s->acct, &d, m->data, m->size, res, e);
	arena_free(&a);
	return rc;
}

/* Expunges messages this command stored (MULTIAPPEND failed half way, RFC
 * 3502 §6.3.11: "none of the messages are appended"). */
static void undo(struct imapsrv_session *s, int64_t mailbox_id, const uint32_t *uids, size_t n)
{
	struct error e;
	for (size_t i = 0; i < n; i++) {
		struct store_uidrange r = { uids[i], uids[i] };
		if (store_flags_update(s->acct, mailbox_id, &r, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED,
		                       NULL, 0, NULL, NULL, &e) == 0)
			store_expunge(s->acct, mailbox_id, &r, 1, NULL, &e);
	}
}

/* The target mailbox's canonical name, or NULL with r set: TRYCREATE when
 * it does not exist (RFC 9051 §6.3.12). */
static const char *target(struct imapsrv_session *s, const struct imap_command *cmd,
                          struct imapsrv_result *r)
{
	const char *name = cmd->mailbox;
	struct store_mailbox mb;
	struct error e;
	/* a name that cannot exist: no TRYCREATE (RFC 9051 §6.3.12) */
	if (imapsrv_name_undecodable(s, cmd, IMAP_UNDECODABLE_MAILBOX, "NONEXISTENT", r))
		return NULL;
	if (store_mailbox_status(s->acct, name, s->cmd_arena, &mb, &e) != 0) {
		if (e.kind == ERR_NOTFOUND)
			imapsrv_result_set(r, "NO", "TRYCREATE", "Mailbox %s does not exist", name);
		else
			imapsrv_result_store_error(r, &e);
		return NULL;
	}
	if (mb.noselect) {
		imapsrv_result_set(r, "NO", "CANNOT", "Mailbox %s cannot hold messages", name);
		return NULL;
	}
	return mb.name;
}

/* The next space-separated word of [*p, end), advanced past it and one
 * space; NULL when there is none. */
static const char *next_word(const char **p, const char *end, size_t *n_r)
{
	const char *w = *p;
	const char *sp = memchr(w, ' ', (size_t)(end - w));
	if (sp == NULL || sp == w)
		return NULL;
	*n_r = (size_t)(sp - w);
	*p = sp + 1;
	return w;
}

/* The mailbox argument at p as sent (atom or quoted string, unescaped) in
 * arena a; NULL for a literal or anything else. */
static const char *mailbox_arg(const char *p, const char *end, struct arena *a, size_t *n_r)
{
	if (p < end && *p == '"') {
		char *out = arena_alloc(a, (size_t)(end - p));
		size_t n = 0;
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			out[n++] = *p;
		}
		*n_r = n;
		return p < end ? out : NULL;
	}
	const char *w = p;
	while (p < end && *p != ' ' && *p != '{' && *p != '(' && *p != '\r')
		p++;
	if (p == w || (p < end && *p != ' '))
		return NULL;
	*n_r = (size_t)(p - w);
	return w;
}

int imapsrv_append_literal_check(struct imapsrv_session *s, const char *so_far, size_t len,
                                 struct error *e)
{
	const char *end = so_far + len;
	/* only the first literal, announced on the command's first line */
	if (s->acct == NULL || len < 2 || memchr(so_far, '\n', len - 1) != NULL)
		return 0;
	const char *p = so_far;
	size_t n;
	const char *w;
	if (next_word(&p, end, &n) == NULL || (w = next_word(&p, end, &n)) == NULL)
		return 0;
	if (n == 3 && strncasecmp(w, "UID", 3) == 0 && (w = next_word(&p, end, &n)) == NULL)
		return 0;
	bool replace = n == 7 && strncasecmp(w, "REPLACE", 7) == 0;
	if (!replace && !(n == 6 && strncasecmp(w, "APPEND", 6) == 0))
		return 0;
	if (replace && next_word(&p, end, &n) == NULL)
		return 0;
	const char *arg = mailbox_arg(p, end, s->cmd_arena, &n);
	const char *name;
	struct error e2;
	if (arg == NULL || imap_mailbox_decode(arg, n, s->out.imap_flags, s->cmd_arena, &name,
	                                       &e2) != 0)
		return 0;  /* the command itself answers */
	struct store_mailbox mb;
	if (store_mailbox_status(s->acct, name, s->cmd_arena, &mb, &e2) == 0 ||
	    e2.kind != ERR_NOTFOUND)
		return 0;
	/* RFC 9051 §6.3.12: TRYCREATE, before the client sends the message. */
	error_set(e, ERR_NOTFOUND, "Mailbox %s does not exist", name);
	return 1;
}

/* Stores the command's messages; all or none. Fills uidvalidity and uids
 * (n_msgs of them) or r. */
static bool append_all(struct imapsrv_session *s, const struct imap_command *cmd,
                       const char *mailbox, uint32_t *uidvalidity_r, uint32_t *uids,
                       struct imapsrv_result *r)
{
	struct prepared *p = arena_alloc(s->cmd_arena, cmd->n_msgs * sizeof(*p));
	for (size_t i = 0; i < cmd->n_msgs; i++)
		if (!prepare(s, &cmd->msgs[i], &p[i], r))
			return false;
	struct store_delivered res = {0};
	struct error e;
	int64_t mailbox_id = 0;
	for (size_t i = 0; i < cmd->n_msgs; i++) {
		if (store_one(s, mailbox, &cmd->msgs[i], &p[i], &res, &e) != 0) {
			if (i > 0)
				undo(s, mailbox_id, uids, i);
			/* RFC 9208 §4.2: OVERQUOTA when over the quota. */
			imapsrv_result_store_error(r, &e);
			return false;
		}
		uids[i] = res.uid;
		mailbox_id = res.mailbox_id;
		*uidvalidity_r = res.uidvalidity;
	}
	return true;
}

/* "APPENDUID uidvalidity uid-set" (RFC 4315 §3) in the arena. */
static const char *appenduid(struct imapsrv_session *s, uint32_t uidvalidity,
                             const uint32_t *uids, size_t n)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "APPENDUID %u ", uidvalidity);
	imapsrv_write_uidset(&b, uids, n);
	const char *out = arena_strdup(s->cmd_arena, b.data);
	buf_free(&b);
	return out;
}

int imapsrv_cmd_append(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	const char *mailbox = target(s, cmd, r);
	if (mailbox == NULL)
		return 0;
	uint32_t uidvalidity = 0;
	uint32_t *uids = arena_alloc(s->cmd_arena, cmd->n_msgs * sizeof(*uids));
	if (!append_all(s, cmd, mailbox, &uidvalidity, uids, r))
		return 0;
	/* RFC 4315 §3: the UIDs in the order of the messages, ascending. */
	imapsrv_result_set(r, "OK", appenduid(s, uidvalidity, uids, cmd->n_msgs),
	                   "APPEND completed");
	return 0;
}

/* The UID of REPLACE's message in the view, or 0 with r set. */
static uint32_t replaced_uid(struct imapsrv_session *s, const struct imap_command *cmd,
                             struct imapsrv_result *r)
{
	uint32_t n = cmd->set.r[0].first;
	if (n == 0) {
		/* RFC 8508 §6, RFC 9051 §9: "*" is the last message (by number
		 * or by UID alike); an empty mailbox has none. */
		if (s->sel->n == 0) {
			imapsrv_result_set(r, cmd->uid ? "NO" : "BAD", cmd->uid ? "NONEXISTENT" : NULL,
			                   "\"*\" names no message: the mailbox is empty");
			return 0;
		}
		return s->sel->uids[s->sel->n - 1];
	}
	if (!cmd->uid) {
		if (n == 0 || n > s->sel->n) {
			imapsrv_result_set(r, "BAD", NULL, "message sequence number %u out of range (1:%zu)",
			                   n, s->sel->n);
			return 0;
		}
		return s->sel->uids[n - 1];
	}
	if (imapsrv_seq_of(s->sel, n) == 0) {
		/* RFC 8508 §3.3: a UID that names no message is refused. */
		imapsrv_result_set(r, "NO", "NONEXISTENT", "No message with UID %u", n);
		return 0;
	}
	return n;
}

int imapsrv_cmd_replace(struct imapsrv_session *s, const struct imap_command *cmd,
                        struct imapsrv_result *r)
{
	if (s->sel->readonly) {
		/* RFC 8508 §3.3: REPLACE expunges, so not in a read-only mailbox. */
		imapsrv_result_set(r, "NO", "READ-ONLY", "The mailbox is read-only (EXAMINE)");
		return 0;
	}
	uint32_t old = replaced_uid(s, cmd, r);
	if (old == 0)
		return 0;
	const char *mailbox = target(s, cmd, r);
	if (mailbox == NULL)
		return 0;
	uint32_t uidvalidity = 0, uid = 0;
	if (!append_all(s, cmd, mailbox, &uidvalidity, &uid, r))
		return 0;
	/* RFC 8508 §3.3: APPENDUID in an untagged OK, then the expunge of the
	 * replaced message, then the tagged OK. Appending first means a failure
	 * never loses the old message. */
	buf_reset(&s->wbuf);
	buf_appendf(&s->wbuf, "* OK [%s] Replacement message appended\r\n",
	            appenduid(s, uidvalidity, &uid, 1));
	if (imapsrv_send(s, &s->wbuf) != 0)
		return -1;
	struct store_uidrange range = { old, old };
	struct store_uids gone = {0};
	struct error e;
	if (store_flags_update(s->acct, s->sel->mailbox_id, &range, 1, STORE_FLAGS_ADD,
	                       STORE_FLAG_DELETED, NULL, 0, NULL, NULL, &e) != 0 ||
	    store_expunge(s->acct, s->sel->mailbox_id, &range, 1, &gone, &e) != 0) {
		store_uids_free(&gone);
		imapsrv_result_store_error(r, &e);
		return 0;
	}
	int rc = imapsrv_report_expunged(s, gone.v, gone.n);
	store_uids_free(&gone);
	imapsrv_result_set(r, "OK", NULL, "%sREPLACE completed", cmd->uid ? "UID " : "");
	return rc;
}
