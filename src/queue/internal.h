/*
 * internal.h: what the files of src/queue/ share: the queue object, its
 * database helpers, and the workers' entry points. Not for other modules.
 */
#ifndef TERN_QUEUE_INTERNAL_H
#define TERN_QUEUE_INTERNAL_H

#include "queue/queue.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>

/* Destination domains whose attempts are counted at once (per_domain_max). */
#define QUEUE_ACTIVE_DOMAINS_MAX 256

struct active_domain {
	char name[256];
	unsigned n;
};

struct queue {
	struct queue_settings s;
	char dir[PATH_MAX];           /* data_dir/queue */
	char msg_dir[PATH_MAX];       /* data_dir/queue/msg */
	sqlite3 *db;
	int lock_fd;                  /* data_dir/queue/lock, flock()ed while open; -1: none */
	/* mu guards db, the fields below, and the active domains */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	unsigned wakeups;             /* bumped on enqueue and kick */
	pthread_t *threads;
	size_t nthreads;
	struct active_domain active[QUEUE_ACTIVE_DOMAINS_MAX];
	size_t nactive;
	struct globaldb *globaldb;    /* for take_outgoing; NULL: not opened */
};

/* Runs sql (no rows). Returns 0, or -1 with e. Called with mu held. */
int queue_db_exec(struct queue *q, const char *sql, struct error *e);
/* Prepares sql into *st. Returns 0, or -1 with e. */
int queue_db_prepare(struct queue *q, const char *sql, sqlite3_stmt **st, struct error *e);
/* Sets e from the database's last error; returns -1. */
int queue_db_error(struct queue *q, struct error *e, const char *what);

/* The path of message file name, into out. */
void queue_msg_path(const struct queue *q, const char *file, char *out, size_t size);

/* Reads the message file into out. Returns 0, or -1 with e. */
int queue_read_file(const struct queue *q, const char *file, struct buf *out, struct error *e);

/* Removes message id (rows and file) if none of its recipients is queued,
 * held or delivering. Called with mu held. */
void queue_msg_finish(struct queue *q, int64_t id);

/* The first route of cfg for recipients in domain of a message of account
 * (NULL: none) from mail_from ("" or NULL: the null sender) after attempts
 * attempts: the account's routes, its MAIL FROM domain's, tern.conf's; or
 * NULL (route.c). */
struct config;
struct config_route;
struct arena;
const struct config_route *queue_route_find(const struct config *cfg, const char *account,
                                            const char *mail_from, const char *domain,
                                            unsigned attempts);

/* Sets the fields of r for route's transport (nothing for direct delivery;
 * a password file is read into a). Returns 0, or -1 with e. */
int queue_route_apply(const struct config *cfg, const struct config_route *route,
                      struct smtpclient_route *r, struct arena *a, struct error *e);

/* The worker thread. */
void *queue_worker_main(void *arg);

/* Delivers msg (CRLF lines) into account's Inbox, as a DSN. Returns 0, or
 * -1 with e. */
int queue_local_deliver(const char *data_dir, const char *account, const char *rcpt_to,
                        const char *msg, size_t len, struct error *e);

#endif
