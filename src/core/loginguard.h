/*
 * loginguard.h: the throttling of failed logins that every service taking
 * passwords (SMTP submission, IMAP) shares, so that a guesser gains nothing
 * by switching protocols:
 *
 *   - per remote address (IPv4, or IPv6 /64): after LOGINGUARD_FAILS_PER_IP
 *     failures in LOGINGUARD_WINDOW_S seconds, logins from there are refused
 *     until the window slides on;
 *   - per account (whichever login name or address names it): after
 *     LOGINGUARD_FAILS_PER_ACCOUNT failures, every login to it waits
 *     account_delay_ms before its password is checked. A delay, not a
 *     refusal, so that nobody can lock a user out by failing in the user's
 *     name;
 *   - every failure waits fail_delay_ms before its reply.
 *
 * The argon2id verifications themselves are bounded process-wide in
 * src/sasl (SASL_ARGON2_CONCURRENT). Thread-safe.
 */
#ifndef TERN_CORE_LOGINGUARD_H
#define TERN_CORE_LOGINGUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define LOGINGUARD_FAILS_PER_IP 10
#define LOGINGUARD_FAILS_PER_ACCOUNT 20
#define LOGINGUARD_WINDOW_S 300
/* Keys tracked by each limiter (the least recent forgotten first). */
#define LOGINGUARD_TRACKED 65536
/* Milliseconds a failed login waits before its reply. */
#define LOGINGUARD_FAIL_DELAY_MS 1000
/* Milliseconds every login to an account with many recent failures waits. */
#define LOGINGUARD_ACCOUNT_DELAY_MS 5000
/* Milliseconds an attempt waits for other attempts from its address to
 * end when they hold what is left of its budget (loginguard_attempt). */
#define LOGINGUARD_ATTEMPT_WAIT_MS 20000

struct ratelimit;
struct loginguard_running;

struct loginguard {
	struct ratelimit *fail_ip;       /* failed logins per remote address */
	struct ratelimit *fail_account;  /* per account, or "?name" for unknown names */
	unsigned fail_delay_ms;
	unsigned account_delay_ms;
	unsigned attempt_wait_ms;
	/* attempts started and not ended, per address */
	pthread_mutex_t mu;
	pthread_cond_t ended;
	struct loginguard_running *running;
	size_t n_running, cap_running;
	bool stopping;                   /* loginguard_stop */
};

/* Which account a login name means (the services' configuration lookup):
 * writes its name to out and returns true, or false if there is none. */
typedef bool loginguard_account_fn(void *ctx, const char *login, char *out, size_t size);

/* Longest login name (SASL_USERNAME_MAX). */
#define LOGINGUARD_NAME_MAX 256

/* The names of one login attempt, as the services log and throttle it. */
struct loginguard_names {
	char user[LOGINGUARD_NAME_MAX + 1];  /* as given */
	char key[LOGINGUARD_NAME_MAX + 2];   /* loginguard_key: the account, or "?name" */
	bool known;                          /* key names an account */
	bool slowed;                         /* loginguard_account_wait waited */
};

/* At the password lookup of a login (inside the SASL lookup callback):
 * records the name and its key and, with a guard (may be NULL), waits when
 * the account has had too many recent failures. */
void loginguard_names_set(struct loginguard *g, loginguard_account_fn *account_fn, void *ctx,
                          const char *username, struct loginguard_names *n);

/* Logs a login's outcome for pkg ("imapserver", "smtpserver"): success
 * when reason is NULL, else the failure with its reason. */
void loginguard_log(const char *pkg, const char *remote, const char *mechanism,
                    const struct loginguard_names *n, const char *reason, bool unknown_user);

/* The throttling key of a login name: the account it means (found with
 * account_fn, which may be NULL), so that every spelling and address of an
 * account counts together; else "?" and the name in lower case. Returns
 * whether an account was found. */
bool loginguard_key(loginguard_account_fn *account_fn, void *ctx, const char *login, char *key,
                    size_t size);

/* A guard with the policy above. Free with loginguard_free. */
struct loginguard *loginguard_new(void);
void loginguard_free(struct loginguard **g);

/* Whether the remote address (ratelimit_addr_key form) may try to log in. */
bool loginguard_address_ok(struct loginguard *g, const char *ip_key);

/* Before a password is checked: waits account_delay_ms when the account has
 * had too many recent failures. Returns whether it waited (for logs). */
bool loginguard_account_wait(struct loginguard *g, const char *account_key);

/* Forgets the account's failures after a successful login. */
void loginguard_succeeded(struct loginguard *g, const char *account_key);

/*
 * A login attempt is counted in advance, for logins checked at once on many
 * connections: checking the address and counting only the failures would
 * let every attempt started before the first failure through.
 */

/* Starts a login from the remote address: counts the attempt as a failure
 * of the address now (until it ends otherwise) and returns true, or returns
 * false (nothing counted: refuse it) when the address has had
 * LOGINGUARD_FAILS_PER_IP failures. When what is left of the address's
 * budget is held by attempts still running (many clients behind one
 * address logging in at once), it waits for one of them to end, up to
 * attempt_wait_ms, rather than refusing. Every attempt started must be
 * ended by exactly one of the calls below. */
bool loginguard_attempt(struct loginguard *g, const char *ip_key);

/* The attempt failed: records it for the account (account_key may be "")
 * and waits fail_delay_ms; the address was counted when it started. */
void loginguard_attempt_failed(struct loginguard *g, const char *ip_key,
                               const char *account_key);

/* The attempt succeeded: gives back the address's count and forgets the
 * account's failures. */
void loginguard_attempt_succeeded(struct loginguard *g, const char *ip_key,
                                  const char *account_key);

/* The attempt ended without a password found wrong (cancelled, malformed,
 * refused before the check): gives back the address's count. */
void loginguard_attempt_void(struct loginguard *g, const char *ip_key);

/* The connection dropped in the middle of the attempt: it stays counted
 * as a failure. */
void loginguard_attempt_abandoned(struct loginguard *g, const char *ip_key);

/* The server stops: attempts waiting in loginguard_attempt give up (false)
 * at once, so that they do not hold up the shutdown. */
void loginguard_stop(struct loginguard *g);

#endif
