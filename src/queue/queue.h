/*
 * queue.h: the outbound queue: messages for other domains, kept durably in
 * DATA/queue/ (queue.db, SQLite in WAL mode with synchronous=FULL, and one
 * file per message in queue/msg/) until each recipient is delivered or has
 * failed for good, with delivery status notifications (DSNs, RFC 3464) to
 * the sender.
 *
 * Invariants:
 *  - A message is in the queue once its file is written, fsynced, renamed
 *    into queue/msg/ and that directory fsynced, and then its rows are
 *    committed; queue_add returns 0 only then (the 250 of submission).
 *  - Every recipient row is in one state: queued (waiting for its next
 *    attempt), held (not tried until released), delivering (an attempt runs
 *    now), delivered, failed. A message leaves the queue (rows and file)
 *    when none of its recipients is queued, held or delivering.
 *  - On open, recipients left "delivering" by a crash are queued again: an
 *    attempt cut off by a crash is made again (at least once).
 *  - Workers take due recipients grouped by (message, domain), at most
 *    per_domain_max attempts to one domain at a time, and call the delivery
 *    function (smtpclient_deliver in tern serve; tests put in their own).
 *  - Retries (queue_retry_delay): first_retry after the first temporary
 *    failure, doubling, at most max_retry apart, until max_age after the
 *    message was queued; then the recipient fails.
 *
 * Every function may be called from any thread.
 */
#ifndef TERN_QUEUE_QUEUE_H
#define TERN_QUEUE_QUEUE_H

#include "core/buf.h"
#include "core/error.h"
#include "smtpclient/smtpclient.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue;

/* Makes one delivery attempt, as smtpclient_deliver does (smtpclient.h),
 * for recipients of one domain. */
typedef int queue_deliver_fn(void *ctx, const struct smtpclient_route *route,
                             const struct smtpclient_message *msg, struct smtpclient_rcpt *rcpts,
                             size_t nrcpts, struct smtpclient_tls_report *tls, struct error *e);

/* Defaults (tern.conf Queue section). */
#define QUEUE_WORKERS_DEFAULT 4
#define QUEUE_PER_DOMAIN_DEFAULT 2
#define QUEUE_FIRST_RETRY_S (450)            /* 7.5 minutes */
#define QUEUE_MAX_RETRY_S (4 * 3600)
#define QUEUE_MAX_AGE_S (5 * 24 * 3600)      /* RFC 5321 §4.5.4.1: at least 4-5 days */
#define QUEUE_DELAY_NOTICE_S (4 * 3600)
/* Largest message taken into the queue. */
#define QUEUE_MESSAGE_MAX ((uint64_t)256 * 1024 * 1024)
/* Recipients of one message (RFC 5321 §4.5.3.1.8 asks for at least 100). */
#define QUEUE_RCPTS_MAX 1000
/* Most rows one list call shows. */
#define QUEUE_LIST_MAX 10000

struct queue_settings {
	const char *data_dir;         /* the queue lives in data_dir/queue */
	const char *hostname;         /* ours: Reporting-MTA, DSN From, EHLO */
	unsigned workers;             /* 0: QUEUE_WORKERS_DEFAULT */
	unsigned per_domain_max;      /* 0: QUEUE_PER_DOMAIN_DEFAULT */
	unsigned first_retry_s;       /* 0: QUEUE_FIRST_RETRY_S */
	unsigned max_retry_s;         /* 0: QUEUE_MAX_RETRY_S */
	unsigned max_age_s;           /* 0: QUEUE_MAX_AGE_S */
	unsigned delay_notice_s;      /* 0: QUEUE_DELAY_NOTICE_S */
	queue_deliver_fn *deliver;    /* NULL: queue_start starts no workers */
	void *deliver_ctx;
	/* Where DATA/tern.db's outgoing messages (DMARC reports) are taken
	 * from; false: not looked at. */
	bool take_outgoing;
	/* Deliver by the Routes and Transports of the current configuration
	 * (config_acquire); false: always directly to the MX hosts. */
	bool routes;
};

/* The delay after the attempts-th failed attempt (1: the first) until the
 * next: first, doubling each time, never more than max. */
unsigned queue_retry_delay(unsigned attempts, unsigned first, unsigned max);

/* Opens (creating) data_dir/queue with settings s (copied; the strings must
 * outlive the queue) and queues again what a crash left "delivering".
 * Starts no thread. The queue is locked (flock on data_dir/queue/lock)
 * until closed: while another process has it open, this fails with
 * ERR_TEMP. Returns 0, or -1 with e. */
int queue_open(const struct queue_settings *s, struct queue **q_r, struct error *e);

/* Starts the worker threads (none without a deliver function). */
int queue_start(struct queue *q, struct error *e);

/* Stops the workers (attempts in flight finish first) and frees *q. */
void queue_close(struct queue **q);

/* One recipient of a message being queued. */
struct queue_rcpt_in {
	const char *address;          /* local@domain, domain in A-labels unless smtputf8 */
	unsigned notify;              /* SMTPCLIENT_NOTIFY_* bits, 0: not given */
	const char *orcpt;            /* "rfc822;addr" as received, or NULL */
};

struct queue_msg_in {
	const char *mail_from;        /* "" for the null reverse-path */
	const char *envid;            /* RFC 3461 ENVID, or NULL */
	bool ret_hdrs, smtputf8, eightbit, requiretls;
	const char *account;          /* the sender's account (DSNs go there), or NULL */
	const char *sign_domain;      /* DKIM-sign for this From domain (dkim_sign_for), or NULL */
	const char *subject;          /* for queue lists, or NULL */
	const char *kind;             /* "mail" (NULL), "dsn", "dmarc" */
	const struct queue_rcpt_in *rcpts;
	size_t nrcpts;
	/* The message: prefix (header fields added on the way, CRLF lines) and
	 * then data. */
	const char *prefix;
	size_t prefix_len;
	const char *data;
	size_t len;
	bool hold;                    /* queue its recipients held */
};

/* Queues m durably (see the invariants) and wakes a worker. Returns 0 with
 * *id_r (may be NULL) the message's id, or -1 with e (ERR_LIMIT: too large
 * or too many recipients; ERR_INVALID: a bad recipient address; ERR_IO). */
int queue_add(struct queue *q, const struct queue_msg_in *m, int64_t *id_r, struct error *e);

/* Recipient states. */
#define QUEUE_QUEUED "queued"
#define QUEUE_HELD "held"
#define QUEUE_DELIVERING "delivering"
#define QUEUE_DELIVERED "delivered"
#define QUEUE_FAILED "failed"

/* A message and its recipients as listed. */
struct queue_rcpt_info {
	int64_t id;
	const char *address, *state;
	unsigned attempts;
	int64_t next_attempt, last_attempt;   /* seconds; 0: none */
	int code;                             /* last result, 0: none */
	const char *enhanced, *text, *remote_mta;
};

struct queue_msg_info {
	int64_t id;
	int64_t created;
	const char *mail_from, *account, *subject, *kind;
	uint64_t size;
	struct queue_rcpt_info *rcpts;
	size_t nrcpts;
};

/* Messages in the queue, oldest first (at most QUEUE_LIST_MAX), in a. */
struct arena;
int queue_list(struct queue *q, struct arena *a, struct queue_msg_info **list_r, size_t *n_r,
               struct error *e);

/* Writes list as text: one block per message, one line per recipient. */
void queue_list_format(const struct queue_msg_info *list, size_t n, struct buf *out);

/* Hold, release, drop (remove with its file, no DSN) or kick (try now) the
 * message id (0: every message). Returns the number of recipients changed,
 * or -1 with e (ERR_NOTFOUND when id is not in the queue). Kick also makes
 * the workers look at tern.db's outgoing messages at once. */
long queue_hold(struct queue *q, int64_t id, struct error *e);
long queue_release(struct queue *q, int64_t id, struct error *e);
long queue_drop(struct queue *q, int64_t id, struct error *e);
long queue_kick(struct queue *q, int64_t id, struct error *e);

/* Appends message id as queued (the signed file) to out. */
int queue_dump(struct queue *q, int64_t id, struct buf *out, struct error *e);

/* Takes waiting messages of tern.db's outgoing table (DMARC reports) into
 * the queue and marks them queued there. Returns how many, or -1 with e.
 * The workers call it; exposed for tests. */
long queue_take_outgoing(struct queue *q, struct error *e);

#endif
