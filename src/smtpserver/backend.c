/*
 * backend.c: what the SMTP server does with recipients and messages: local
 * accounts from the configuration, delivery into the store, the submission
 * rules, and the localserve behaviour.
 *
 * Every call takes the current configuration snapshot; a recipient keeps
 * its account's name (not a pointer into a snapshot), so a reload between
 * RCPT and the end of DATA is harmless: an account that went away fails the
 * delivery with a temporary error.
 *
 * Email authentication (SPF, DKIM, DMARC) and the junk filter plug in at
 * deliver_one's added headers and mailbox choice; until they exist the
 * Authentication-Results header says "none" (RFC 8601 §2.2).
 */
#include "smtpserver/backend.h"
#include "smtpserver/authcheck.h"
#include "smtpserver/recipient.h"

#include "authres/authres.h"

#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "message/message.h"
#include "queue/queue.h"
#include "reports/reports.h"
#include "store/globaldb.h"
#include "store/store.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Index text kept per message (as import does). */
#define INDEX_TEXT_MAX (256 * 1024)

/* What a recipient resolved to, kept in the transaction's arena. */
struct rcpt_data {
	const char *account;
	const char *mailbox;         /* fixed mailbox, or NULL: the destination decides */
	const char *dest_address;    /* destination key, to find it again at delivery */
	bool remote;                 /* another domain's: goes into the outbound queue */
};

/*
 * Accounts and logins.
 */

static const struct config_account *account_named(const struct config *cfg, const char *name)
{
	return name != NULL ? config_find_account(cfg, name) : NULL;
}

/* The account a login name means: an account's name, or one of its addresses. */
static const struct config_account *login_account(const struct config *cfg, const char *login,
                                                  struct arena *a)
{
	const struct config_account *acc = config_find_account(cfg, login);
	if (acc != NULL)
		return acc;
	struct smtp_address addr;
	struct smtp_rcpt_target t;
	struct error e;
	if (smtp_address_parse(login, strlen(login), SMTP_UTF8 | SMTP_LIBERAL, a, &addr, &e) != 0 ||
	    smtp_rcpt_resolve(cfg, &addr, a, &t, &e) != 0 || t.kind != SMTP_RCPT_LOCAL ||
	    t.dest == NULL)
		return NULL;
	return t.account;
}

static bool login_account_hook(void *ctx, const char *login, char *out, size_t size)
{
	struct config *cfg = config_acquire();
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	const struct config_account *acc = login_account(cfg, login, a);
	if (acc != NULL)
		snprintf(out, size, "%s", acc->name);
	arena_free(&a);
	config_release(&cfg);
	return acc != NULL;
}

static int auth_lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	struct smtp_backend *b = ctx;
	struct config *cfg = config_acquire();
	struct arena *a = arena_new(4096, ARENA_SECRET);
	const struct config_account *acc = login_account(cfg, username, a);
	int r = 0;
	if (acc != NULL) {
		struct store_account *st = NULL;
		const char *line;
		struct error e;
		if (store_open(b->data_dir, acc->name, &st, &e) != 0 ||
		    store_credentials_get(st, a, &line, &e) != 0)
			r = e.kind == ERR_NOTFOUND ? 0 : -1;  /* no password set: no login */
		else
			r = sasl_credentials_decode(line, strlen(line), creds_r, &e) == 0 ? 1 : -1;
		if (r < 0) {
			struct log_line *l = log_begin(LOG_ERROR, "smtpserver", "credentials unavailable");
			log_str(l, "account", acc->name);
			log_error_value(l, &e);
			log_end(l);
		}
		store_close(&st);
	}
	arena_free(&a);
	config_release(&cfg);
	return r;
}

/*
 * MAIL FROM (submission): the sender must be one of the user's addresses.
 */

/* Whether addr belongs to the account user logged in as. */
static bool owns_address(const struct config *cfg, const char *user, const char *local,
                         const char *domain, struct arena *a)
{
	const struct config_account *acc = login_account(cfg, user, a);
	struct smtp_address addr = {.local = local, .local_len = strlen(local), .local_raw = local,
	                            .domain = domain};
	struct smtp_rcpt_target t;
	struct error e;
	return acc != NULL && smtp_rcpt_resolve(cfg, &addr, a, &t, &e) == 0 &&
	       t.kind == SMTP_RCPT_LOCAL && t.dest != NULL && t.account == acc;
}

static void mail_hook(void *ctx, const struct smtpserver_txn *t, struct smtpserver_reply *reply)
{
	struct smtp_backend *b = ctx;
	if (t->mode == SMTPSERVER_RECEIVE || b->localserve || t->mail_from.null)
		return;
	struct config *cfg = config_acquire();
	const struct smtp_address *f = &t->mail_from.addr;
	if (!owns_address(cfg, t->user, f->local, f->domain, t->arena))
		smtpserver_reply_set(reply, 550, "5.7.1", "Not allowed to send as <%s@%s>: not an address of "
		                     "your account", f->local_raw, f->domain);
	config_release(&cfg);
}

/*
 * RCPT TO.
 */

static bool localpart_starts(const struct smtp_address *a, const char *word)
{
	return strncasecmp(a->local, word, strlen(word)) == 0;
}

/* localserve: every recipient reaches the one account, except the local
 * parts that ask for an error, so applications can test their handling. */
static void rcpt_localserve(struct smtp_backend *b, const struct config *cfg,
                            const struct smtpserver_txn *t, struct smtpserver_rcpt *r,
                            struct smtpserver_reply *reply)
{
	if (localpart_starts(&r->path.addr, "temperror")) {
		smtpserver_reply_set(reply, 451, "4.0.0", "Temporary error, as asked for by the recipient "
		                     "address (localserve)");
		return;
	}
	if (localpart_starts(&r->path.addr, "permerror")) {
		smtpserver_reply_set(reply, 550, "5.0.0", "Permanent error, as asked for by the recipient "
		                     "address (localserve)");
		return;
	}
	struct rcpt_data *d = arena_alloc(t->arena, sizeof(*d));
	d->account = cfg->dyn.naccounts > 0 ? cfg->dyn.accounts[0].name : NULL;
	d->mailbox = "Inbox";
	d->dest_address = NULL;
	r->data = d;
	if (d->account == NULL)
		smtpserver_reply_set(reply, 451, "4.3.0", "No account configured");
}

/* Whether acc can take a message of size bytes now; if not, sets reply:
 * 552 5.2.2 when it could never fit (RFC 3463: mailbox full, permanent),
 * else 452 4.2.2. */
static bool quota_allows(struct smtp_backend *b, const struct config_account *acc, uint64_t size,
                         struct smtpserver_reply *reply)
{
	uint64_t max_bytes = config_account_quota_bytes(acc);
	uint64_t max_msgs = (uint64_t)acc->quota_messages;
	if (max_bytes == 0 && max_msgs == 0)
		return true;
	if (max_bytes > 0 && size > max_bytes) {
		smtpserver_reply_set(reply, 552, "5.2.2", "Message larger than the recipient's quota");
		return false;
	}
	struct store_account *st = NULL;
	struct store_usage u = {0, 0};
	struct error e;
	if (store_open(b->data_dir, acc->name, &st, &e) == 0)
		store_usage(st, &u, &e);
	store_close(&st);
	if ((max_bytes > 0 && u.bytes + size > max_bytes) || (max_msgs > 0 && u.messages >= max_msgs)) {
		smtpserver_reply_set(reply, 452, "4.2.2", "Recipient's mailbox is full");
		return false;
	}
	return true;
}

static void rcpt_hook(void *ctx, const struct smtpserver_txn *t, struct smtpserver_rcpt *r,
                      struct smtpserver_reply *reply)
{
	struct smtp_backend *b = ctx;
	struct config *cfg = config_acquire();
	struct smtp_rcpt_target target;
	struct error e;
	const struct smtp_address *a = &r->path.addr;
	if (b->localserve) {
		rcpt_localserve(b, cfg, t, r, reply);
	} else if (smtp_rcpt_resolve(cfg, a, t->arena, &target, &e) != 0) {
		smtpserver_reply_set(reply, 553, "5.1.3", "Bad recipient domain: %s", e.msg);
	} else if (target.kind == SMTP_RCPT_UNKNOWN) {
		smtpserver_reply_set(reply, 550, "5.1.1", "No such recipient here: <%s>", target.address);
	} else if (target.kind == SMTP_RCPT_FOREIGN && t->mode == SMTPSERVER_RECEIVE) {
		smtpserver_reply_set(reply, 550, "5.7.1", "Relaying denied: %s is not a domain of this server",
		                     target.domain);
	} else if (target.kind == SMTP_RCPT_FOREIGN && b->queue == NULL) {
		smtpserver_reply_set(reply, 451, "4.3.0", "Delivery to other domains (%s) is not available: "
		                     "this tern runs no outbound queue", target.domain);
	} else if (target.kind == SMTP_RCPT_FOREIGN) {
		/* submission by an authenticated user (RFC 6409 §4.3): relayed */
		struct rcpt_data *d = arena_alloc(t->arena, sizeof(*d));
		*d = (struct rcpt_data){.remote = true};
		r->data = d;
	} else if (!quota_allows(b, target.account, 1, reply)) {
		smtpserver_reply_set(reply, 452, "4.2.2", "Mailbox of <%s> is full", target.address);
	} else {
		struct rcpt_data *d = arena_alloc(t->arena, sizeof(*d));
		d->account = arena_strdup(t->arena, target.account->name);
		d->mailbox = target.dest == NULL ? "Inbox" : NULL;
		d->dest_address = target.dest != NULL ? arena_strdup(t->arena, target.dest->address) : NULL;
		r->data = d;
	}
	config_release(&cfg);
}

/*
 * Delivery.
 */

/* The parsed start of the message: header fields for rulesets and checks. */
struct parsed {
	struct message *m;
	struct message_summary sum;
	size_t nh;
	const char **names, **values;
	bool complete;
	const char *head;
	size_t head_len;
};

static void parse_message(struct smtpserver_spool *msg, struct arena *a, struct parsed *p)
{
	p->head = smtpserver_spool_head(msg, &p->head_len, &p->complete);
	p->m = message_parse(a, p->head, p->head_len, NULL);
	message_summarize(a, p->m, p->complete, INDEX_TEXT_MAX, &p->sum);
	const struct message_headers *h = &p->m->root->headers;
	p->names = arena_alloc(a, (h->count + 1) * sizeof(char *));
	p->values = arena_alloc(a, (h->count + 1) * sizeof(char *));
	p->nh = 0;
	for (size_t i = 0; i < h->count; i++) {
		const struct message_header *f = &h->fields[i];
		if (f->broken)
			continue;
		p->names[p->nh] = arena_strndup(a, f->name, f->name_len);
		p->values[p->nh] = message_header_unfold(a, f->value, f->value_len, NULL);
		p->nh++;
	}
}

/* RFC 6409 §8.1.1, §8.3: a submission server may add Date and Message-ID. */
static void add_submission_headers(struct smtp_backend *b, const struct smtpserver_txn *t,
                                   struct parsed *p, struct buf *added, struct arena *a)
{
	const struct message_headers *h = &p->m->root->headers;
	if (message_header_find(h, "Date", NULL) == NULL) {
		char date[MESSAGE_DATE_MAX];
		buf_appendf(added, "Date: %s\r\n", message_date_format(time(NULL), date));
	}
	if (message_header_find(h, "Message-ID", NULL) == NULL) {
		unsigned char raw[12];
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			abort();
		char id[sizeof(raw) * 2 + 1];
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(id + 2 * i, 3, "%02x", raw[i]);
		p->sum.message_id = arena_printf(a, "<%s@%s>", id, t->hostname);
		buf_appendf(added, "Message-ID: %s\r\n", p->sum.message_id);
	}
}

/* Submission: every From address must be the user's (RFC 6409 §8 lets a
 * server check it). Returns true if the message may go, else sets reply. */
static bool from_allowed(const struct config *cfg, const struct smtpserver_txn *t,
                         const struct parsed *p, struct arena *a, struct smtpserver_reply *reply)
{
	const struct message_header *f = message_header_find(&p->m->root->headers, "From", NULL);
	if (f == NULL) {
		smtpserver_reply_set(reply, 550, "5.6.0", "Message has no From header (RFC 5322 §3.6)");
		return false;
	}
	if (message_header_find(&p->m->root->headers, "From", f) != NULL) {
		/* a reader might show the second one: RFC 5322 §3.6 allows one */
		smtpserver_reply_set(reply, 550, "5.6.0", "Message has more than one From header");
		return false;
	}
	size_t n;
	char *v = message_header_unfold(a, f->value, f->value_len, &n);
	struct message_address_list list;
	message_address_parse(a, v, n, MESSAGE_ADDRESS_IDNA_ASCII, &list);
	size_t mailboxes = 0;
	for (size_t i = 0; i < list.count; i++) {
		const struct message_address *ad = &list.items[i];
		if (ad->kind != MESSAGE_ADDRESS_MAILBOX || ad->local == NULL)
			continue;
		mailboxes++;
		if (ad->domain == NULL || !owns_address(cfg, t->user, ad->local, ad->domain, a)) {
			smtpserver_reply_set(reply, 550, "5.7.1", "From address %s is not an address of your "
			                     "account", ad->address != NULL ? ad->address : ad->local);
			return false;
		}
	}
	if (mailboxes == 0)
		smtpserver_reply_set(reply, 550, "5.6.0", "From header holds no address");
	return mailboxes > 0;
}

/* The destination d was resolved to, or NULL. */
static const struct config_destination *destination_of(const struct config_account *acc,
                                                       const struct rcpt_data *d)
{
	for (size_t i = 0; d->dest_address != NULL && i < acc->ndestinations; i++)
		if (strcmp(acc->destinations[i].address, d->dest_address) == 0)
			return &acc->destinations[i];
	return NULL;
}

/* The mailbox for r: fixed, or by the destination's rulesets. */
static const char *choose_mailbox(const struct config *cfg, const struct config_account *acc,
                                  const struct rcpt_data *d, const struct smtpserver_txn *t,
                                  const struct parsed *p)
{
	const struct config_destination *dest = destination_of(acc, d);
	if (d->mailbox != NULL || dest == NULL)
		return d->mailbox != NULL ? d->mailbox : "Inbox";
	const char *from = NULL;
	if (!t->mail_from.null)
		from = arena_printf(t->arena, "%s@%s", t->mail_from.addr.local, t->mail_from.addr.domain);
	return config_destination_mailbox(dest, from, p->nh, p->names, p->values);
}

struct delivery_job {
	const char *force_mailbox;    /* every copy goes there (Junk), or NULL */
	const char *spf, *dkim, *dmarc;
	struct smtp_backend *b;
	const struct smtpserver_txn *t;
	struct smtpserver_spool *msg;
	struct parsed *p;
	const char *added;
};

/* Delivers the message to one account and mailbox. Returns 0, or -1 with e. */
static int deliver_one(struct delivery_job *j, const struct config_account *acc,
                       const char *mailbox, const char *rcpt_to, struct error *e)
{
	const struct smtpserver_txn *t = j->t;
	struct store_account *st = NULL;
	if (store_open(j->b->data_dir, acc->name, &st, e) != 0)
		return -1;
	store_set_quota(st, config_account_quota_bytes(acc), (uint64_t)acc->quota_messages);
	struct store_delivery d = {
		.mailbox = mailbox,
		.added_headers = j->added,
		.remote_ip = t->remote_ip,
		.ehlo = t->ehlo,
		.mail_from = t->mail_from.null ? "" : arena_printf(t->arena, "%s@%s",
		             t->mail_from.addr.local_raw, t->mail_from.addr.domain),
		.rcpt_to = rcpt_to,
		.tls = t->tls,
		.spf = j->spf,
		.dkim = j->dkim,
		.dmarc = j->dmarc,
	};
	store_delivery_summary(&d, &j->p->sum);
	struct store_delivered res;
	int r;
	if (j->p->complete) {
		r = store_deliver(st, &d, j->p->head, j->p->head_len, &res, e);
	} else {
		smtpserver_spool_rewind(j->msg);
		r = store_deliver_stream(st, &d, smtpserver_spool_read, j->msg, &res, e);
	}
	if (r != 0 && e->kind == ERR_NOTFOUND && strcmp(mailbox, "Inbox") != 0) {
		/* a ruleset names a mailbox that does not exist: create it */
		struct error e2;
		unsigned special = strcmp(mailbox, "Junk") == 0 ? STORE_SPECIAL_JUNK : 0;  /* RFC 6154 */
		if (store_mailbox_create(st, mailbox, special, &e2) == 0)
			r = deliver_one(j, acc, mailbox, rcpt_to, e);
	}
	store_close(&st);
	return r;
}

static void delivery_failed(const char *account, const struct error *e,
                            struct smtpserver_reply *reply, uint64_t size, uint64_t quota_bytes)
{
	struct log_line *l = log_begin(LOG_ERROR, "smtpserver", "delivery failed");
	log_str(l, "account", account);
	log_error_value(l, e);
	log_end(l);
	if (!store_error_is_quota(e))
		smtpserver_reply_set(reply, 451, "4.3.0", "Error storing the message, try again later");
	else if (quota_bytes > 0 && size > quota_bytes)  /* can never fit */
		smtpserver_reply_set(reply, 552, "5.2.2", "Message larger than the recipient's quota");
	else
		smtpserver_reply_set(reply, 452, "4.2.2", "Recipient's mailbox is full");
}

/* One copy per account and mailbox: the targets of t's recipients. */
struct target {
	const struct config_account *acc;
	const char *mailbox;
	const char *rcpt_to;
	const struct config_destination *dest;
};

/* Fills targets (one per distinct account and mailbox); returns how many, or
 * -1 with reply set when a recipient's account went away. */
static long collect_targets(struct delivery_job *j, const struct config *cfg,
                            struct target *targets, struct smtpserver_reply *reply)
{
	const struct smtpserver_txn *t = j->t;
	size_t n = 0;
	for (size_t i = 0; i < t->nrcpts; i++) {
		const struct rcpt_data *d = t->rcpts[i].data;
		if (d->remote)
			continue;
		const struct config_account *acc = account_named(cfg, d->account);
		if (acc == NULL) {
			smtpserver_reply_set(reply, 451, "4.3.0", "Recipient account was removed, try again later");
			return -1;
		}
		const char *mailbox = j->force_mailbox != NULL ? j->force_mailbox
		                                               : choose_mailbox(cfg, acc, d, t, j->p);
		bool dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = targets[k].acc == acc && strcmp(targets[k].mailbox, mailbox) == 0;
		if (dup)
			continue;
		const struct smtp_address *a = &t->rcpts[i].path.addr;
		targets[n++] = (struct target){acc, mailbox,
			arena_printf(t->arena, "%s@%s", a->local_raw, a->domain), destination_of(acc, d)};
	}
	return (long)n;
}

/* Whether domain is one of ours or below one. */
static bool our_domain(const struct config *cfg, const char *domain)
{
	for (const char *d = domain; d != NULL && *d != '\0';) {
		if (config_find_domain(cfg, d) != NULL)
			return true;
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return false;
}

/* Whether a parsed report is of the kind the address takes and about one
 * of our domains (else anyone could fill tern.db, or shadow a real
 * report's id with a forged one). */
static bool report_is_ours(const struct config *cfg, const struct report *r, const char *kind)
{
	if (strcmp(kind, "dmarc") == 0)
		return r->kind == REPORT_DMARC && our_domain(cfg, r->dmarc.domain);
	if (r->kind != REPORT_TLSRPT)
		return false;
	for (size_t i = 0; i < r->tlsrpt.n_policies; i++)
		if (our_domain(cfg, r->tlsrpt.policies[i].policy_domain))
			return true;
	return false;
}

/* A message to a report address: parsed and, if it is a report for one of
 * our domains, kept in tern.db. It was delivered as mail already; whatever
 * goes wrong here is only logged. */
static void keep_report(struct delivery_job *j, const struct config *cfg, const struct target *tg)
{
	struct globaldb *db = j->b->globaldb;
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	size_t len = 0;
	struct report r;
	struct error e;
	const char *data = db != NULL && smtpserver_spool_size(j->msg) <= REPORTS_DOC_MAX
		? smtpserver_spool_load(j->msg, &len, &e) : NULL;
	struct log_line *l = log_begin(LOG_INFO, "smtpserver", "report message");
	log_str(l, "kind", tg->dest->reports);
	log_str(l, "account", tg->acc->name);
	if (data == NULL) {
		log_str(l, "result", "not kept: no report database, or too large");
	} else if (reports_parse_message(data, len, a, &r, &e) != 0) {
		log_str(l, "result", "not a report");
		log_error_value(l, &e);
	} else if (!report_is_ours(cfg, &r, tg->dest->reports)) {
		log_str(l, "result", "not a report of this kind about our domains");
	} else {
		struct globaldb_report_source src = {tg->acc->name, tg->mailbox, 0};
		int added = globaldb_report_add(db, &r, &src, NULL, &e);
		log_str(l, "result", added == 1 ? "kept" : added == 0 ? "already kept" : "error");
		if (added < 0)
			log_error_value(l, &e);
	}
	log_end(l);
	arena_free(&a);
}

/* Delivers to every recipient, the same account and mailbox getting one
 * copy. One reply covers the whole transaction (RFC 5321 §3.3), so every
 * recipient is checked (account, quota) before anything is stored; a
 * failure after that (an I/O error, a race for the last bit of quota) gives
 * 451 even if some copies were stored: the sender tries again, and a
 * duplicate is better than a silently lost message. Recipients of other
 * domains are not among them: they go into the outbound queue after. */
static void deliver_all(struct delivery_job *j, const struct config *cfg,
                        struct smtpserver_reply *reply)
{
	struct target *targets = arena_alloc(j->t->arena, j->t->nrcpts * sizeof(*targets));
	long n = collect_targets(j, cfg, targets, reply);
	uint64_t size = smtpserver_spool_size(j->msg);
	for (long i = 0; i < n; i++)
		if (!quota_allows(j->b, targets[i].acc, size, reply))
			return;
	for (long i = 0; i < n; i++) {
		struct error e;
		if (deliver_one(j, targets[i].acc, targets[i].mailbox, targets[i].rcpt_to, &e) != 0) {
			delivery_failed(targets[i].acc->name, &e, reply, size,
			                config_account_quota_bytes(targets[i].acc));
			if (i > 0)
				smtpserver_reply_set(reply, 451, "4.3.0", "Error storing the message for some "
				                     "recipients, try again later");
			return;
		}
	}
	if (n > 0)
		smtpserver_reply_set(reply, 250, "2.0.0", "Message accepted");
	for (long i = 0; i < n; i++)
		if (targets[i].dest != NULL && targets[i].dest->reports != NULL)
			keep_report(j, cfg, &targets[i]);
}

/* RFC 8601 §5: Authentication-Results fields that claim our authserv-id
 * were written by someone else (we add ours only now) and are removed, so
 * that readers trusting our results are not fooled. Returns 0, or -1 with
 * reply set. */
static int remove_forged_results(const struct smtpserver_txn *t, struct smtpserver_spool *msg,
                                 struct arena *a, struct smtpserver_reply *reply)
{
	size_t len;
	bool complete;
	const char *head = smtpserver_spool_head(msg, &len, &complete);
	struct message_headers h;
	unsigned flags;
	message_headers_parse(a, head, len, MESSAGE_MAX_HEADER_BYTES, &h, &flags);
	struct smtpserver_range *r = arena_alloc(a, (h.count + 1) * sizeof(*r));
	size_t n = 0;
	for (const struct message_header *f = message_header_find(&h, "Authentication-Results", NULL);
	     f != NULL; f = message_header_find(&h, "Authentication-Results", f)) {
		size_t vlen;
		const char *v = message_header_unfold(a, f->value, f->value_len, &vlen);
		if (authres_is_ours(v, vlen, t->hostname))
			r[n++] = (struct smtpserver_range){f->offset, f->size};
	}
	struct error e;
	if (n == 0 || smtpserver_spool_remove(msg, r, n, &e) == 0) {
		if (n > 0)
			log_msgf(LOG_INFO, "smtpserver", "removed %zu Authentication-Results fields claiming to be "
			         "ours", n);
		return 0;
	}
	smtpserver_reply_set(reply, 451, "4.3.0", "Error preparing the message, try again later");
	return -1;
}

/* Every DMARC evaluation of a domain that asks for aggregate reports is
 * recorded for them (RFC 7489 §7.2), whatever happens to the message. */
static void record_dmarc_eval(struct smtp_backend *b, const struct authcheck *ac)
{
	struct error e;
	if (!ac->have_report_eval || b->globaldb == NULL ||
	    globaldb_dmarc_eval_add(b->globaldb, &ac->report_eval, &e) == 0)
		return;
	struct log_line *l = log_begin(LOG_ERROR, "smtpserver", "recording a DMARC evaluation failed");
	log_error_value(l, &e);
	log_end(l);
}

/*
 * Submission to other domains: the outbound queue.
 */

static size_t count_remote(const struct smtpserver_txn *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nrcpts; i++)
		n += ((const struct rcpt_data *)t->rcpts[i].data)->remote;
	return n;
}

/* RFC 3461 §4.1 NOTIFY bits as the queue keeps them. */
static unsigned queue_notify(unsigned n)
{
	return (n & SMTP_NOTIFY_NEVER ? SMTPCLIENT_NOTIFY_NEVER : 0) |
	       (n & SMTP_NOTIFY_SUCCESS ? SMTPCLIENT_NOTIFY_SUCCESS : 0) |
	       (n & SMTP_NOTIFY_FAILURE ? SMTPCLIENT_NOTIFY_FAILURE : 0) |
	       (n & SMTP_NOTIFY_DELAY ? SMTPCLIENT_NOTIFY_DELAY : 0);
}

/* The domain of the From address (from_allowed made sure there is one and
 * that it is the user's), to DKIM-sign for. */
static const char *from_domain(const struct parsed *p, struct arena *a)
{
	const struct message_header *f = message_header_find(&p->m->root->headers, "From", NULL);
	if (f == NULL)
		return NULL;
	size_t n;
	char *v = message_header_unfold(a, f->value, f->value_len, &n);
	struct message_address_list list;
	message_address_parse(a, v, n, MESSAGE_ADDRESS_IDNA_ASCII, &list);
	for (size_t i = 0; i < list.count; i++)
		if (list.items[i].kind == MESSAGE_ADDRESS_MAILBOX && list.items[i].domain != NULL)
			return list.items[i].domain;
	return NULL;
}

static void queue_failed(const struct error *e, struct smtpserver_reply *reply)
{
	struct log_line *l = log_begin(LOG_ERROR, "smtpserver", "queueing failed");
	log_error_value(l, e);
	log_end(l);
	if (e->kind == ERR_LIMIT)
		smtpserver_reply_set(reply, 552, "5.3.4", "Message too big for the outbound queue");
	else
		smtpserver_reply_set(reply, 451, "4.3.0", "Error queueing the message, try again later");
}

/* Puts the message for t's remote recipients into the outbound queue,
 * durably (queue_add returns once the file and rows are on disk), DKIM-signed
 * for its From domain. On failure sets reply. */
static void enqueue_remote(struct smtp_backend *b, const struct config *cfg,
                           const struct smtpserver_txn *t, const struct parsed *p,
                           struct smtpserver_spool *msg, const char *added, struct arena *a,
                           struct smtpserver_reply *reply)
{
	size_t len;
	struct error e;
	const char *data = smtpserver_spool_load(msg, &len, &e);
	if (data == NULL) {
		queue_failed(&e, reply);
		return;
	}
	struct queue_rcpt_in *rcpts = arena_alloc(a, t->nrcpts * sizeof(*rcpts));
	size_t n = 0;
	for (size_t i = 0; i < t->nrcpts; i++) {
		const struct smtpserver_rcpt *r = &t->rcpts[i];
		if (!((const struct rcpt_data *)r->data)->remote)
			continue;
		rcpts[n++] = (struct queue_rcpt_in){
			.address = arena_printf(a, "%s@%s", r->path.addr.local_raw, r->path.addr.domain),
			.notify = queue_notify(r->params.notify),
			.orcpt = r->params.orcpt_type == NULL ? NULL
			         : arena_printf(a, "%s;%s", r->params.orcpt_type, r->params.orcpt),
		};
	}
	const struct config_account *acc = t->user != NULL ? login_account(cfg, t->user, a) : NULL;
	struct queue_msg_in m = {
		.mail_from = t->mail_from.null ? "" : arena_printf(a, "%s@%s",
		             t->mail_from.addr.local_raw, t->mail_from.addr.domain),
		.envid = t->mail.envid,
		.ret_hdrs = t->mail.ret == SMTP_RET_HDRS,
		.smtputf8 = t->mail.smtputf8,
		.eightbit = t->mail.body == SMTP_BODY_8BITMIME || t->mail.body == SMTP_BODY_BINARYMIME,
		.requiretls = t->mail.requiretls,
		.account = acc != NULL ? acc->name : NULL,
		.sign_domain = from_domain(p, a),
		.subject = p->sum.subject,
		.rcpts = rcpts, .nrcpts = n,
		.prefix = added, .prefix_len = strlen(added),
		.data = data, .len = len,
	};
	if (queue_add(b->queue, &m, NULL, &e) != 0)
		queue_failed(&e, reply);
}

static void deliver_hook(void *ctx, const struct smtpserver_txn *t, const char *received,
                         struct smtpserver_spool *msg, struct smtpserver_reply *reply)
{
	struct smtp_backend *b = ctx;
	struct arena *a = arena_new(64 * 1024, ARENA_PLAIN);
	if (remove_forged_results(t, msg, a, reply) != 0) {
		arena_free(&a);
		return;
	}
	struct config *cfg = config_acquire();
	struct parsed p;
	parse_message(msg, a, &p);
	struct buf added;
	buf_init(&added, BUF_UNBOUNDED);
	buf_append_str(&added, received);
	bool ok = true;
	struct authcheck ac = {.verdict = AUTHCHECK_ACCEPT};
	if (t->mode == SMTPSERVER_RECEIVE) {
		authcheck_run(b->resolver, t, p.m, msg, a, &ac);
		authcheck_header(&added, t->hostname, &ac);
		record_dmarc_eval(b, &ac);
		if (ac.verdict == AUTHCHECK_REJECT) {
			*reply = ac.reply;
			ok = false;
		}
	} else if (!b->localserve) {
		ok = from_allowed(cfg, t, &p, a, reply);
	}
	if (ok && t->mode != SMTPSERVER_RECEIVE)
		add_submission_headers(b, t, &p, &added, a);
	if (ok) {
		char accepted[sizeof(reply->text)];
		snprintf(accepted, sizeof(accepted), "%s", reply->text);
		struct delivery_job j = {.b = b, .t = t, .msg = msg, .p = &p, .added = added.data,
		                         .force_mailbox = ac.verdict == AUTHCHECK_JUNK ? "Junk" : NULL,
		                         .spf = ac.spf, .dkim = ac.dkim, .dmarc = ac.dmarc};
		smtpserver_reply_set(reply, 451, "4.3.0", "No recipient could be delivered");
		size_t nremote = count_remote(t);
		if (nremote < t->nrcpts)
			deliver_all(&j, cfg, reply);
		else
			smtpserver_reply_set(reply, 250, "2.0.0", "Message accepted");
		if (nremote > 0 && reply->code == 250)
			enqueue_remote(b, cfg, t, &p, msg, added.data, a, reply);
		if (reply->code == 250)
			snprintf(reply->text, sizeof(reply->text), "%s", accepted);
	}
	buf_free(&added);
	arena_free(&a);
	config_release(&cfg);
}

void smtp_backend_init(struct smtp_backend *b, const char *data_dir, bool localserve)
{
	memset(b, 0, sizeof(*b));
	b->data_dir = data_dir;
	b->localserve = localserve;
	b->ops.mail = mail_hook;
	b->ops.rcpt = rcpt_hook;
	b->ops.deliver = deliver_hook;
	b->ops.auth_lookup = auth_lookup;
	b->ops.login_account = login_account_hook;
	b->ops.ctx = b;
}
