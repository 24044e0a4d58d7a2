/*
 * ratelimit.h: counts events per key (a remote address, an account) in a
 * sliding window, to throttle failed logins and protocol errors.
 *
 * The count is the sliding-window estimate: the events of the current window
 * plus those of the previous window weighted by how much of it still lies
 * within the last window_s seconds. Memory is fixed: at most max_keys keys
 * are tracked; when the table is full, the key that saw an event least
 * recently is forgotten. Thread-safe.
 */
#ifndef TERN_CORE_RATELIMIT_H
#define TERN_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest key; longer keys are cut. */
#define RATELIMIT_KEY_MAX 96

struct ratelimit;

/* A limiter allowing max events per window_s seconds per key. */
struct ratelimit *ratelimit_new(unsigned window_s, unsigned max, size_t max_keys);
void ratelimit_free(struct ratelimit **rl);

/* Whether key has had fewer than max events in the last window. */
bool ratelimit_ok(struct ratelimit *rl, const char *key);

/* Records n events for key. */
void ratelimit_add(struct ratelimit *rl, const char *key, unsigned n);

/* ratelimit_ok and, if it holds, ratelimit_add of one event, as one step:
 * callers running at once cannot all pass the check before any counts. */
bool ratelimit_take(struct ratelimit *rl, const char *key);

/* Takes back up to n events recorded for key (an attempt counted in
 * advance by ratelimit_take that turned out not to count). */
void ratelimit_refund(struct ratelimit *rl, const char *key, unsigned n);

/* Forgets key (e.g. after a successful login). */
void ratelimit_reset(struct ratelimit *rl, const char *key);

/* For tests: the clock in seconds; NULL restores the real one. */
void ratelimit_set_clock(struct ratelimit *rl, int64_t (*now)(void));

/* The key for a remote address: the IPv4 address, or the IPv6 /64 (one host
 * usually holds a whole /64), IPv4-mapped IPv6 counting as IPv4. */
void ratelimit_addr_key(const struct sockaddr *sa, char out[RATELIMIT_KEY_MAX]);

#endif
