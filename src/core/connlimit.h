/*
 * connlimit.h: bounds the number of open connections, in total and per remote
 * network (an IPv4 address, or an IPv6 /64 by default, since one IPv6 host
 * commonly holds a whole /64).
 *
 * A listener calls connlimit_acquire() right after accept(); when it returns
 * -1 the connection is answered with a short refusal and closed. Every
 * successful acquire is paired with one connlimit_release() for the same
 * address when the connection ends. Thread-safe.
 */
#ifndef TERN_CORE_CONNLIMIT_H
#define TERN_CORE_CONNLIMIT_H

#include <stdbool.h>
#include <sys/socket.h>

struct connlimit;

enum connlimit_verdict {
	CONNLIMIT_OK = 0,
	CONNLIMIT_TOTAL,    /* the listener is full */
	CONNLIMIT_PER_IP,   /* this remote network has too many connections */
};

/* Creates a limiter. max_total and max_per_ip are at least 1. v4_prefix
 * (1..32) and v6_prefix (1..128) say how remote addresses are grouped;
 * 32 and 64 are the usual choice. */
struct connlimit *connlimit_new(unsigned max_total, unsigned max_per_ip,
                                unsigned v4_prefix, unsigned v6_prefix);
void connlimit_free(struct connlimit **cl);

/* Counts a new connection from sa. Returns CONNLIMIT_OK (counted), or why it
 * was refused (not counted). IPv4-mapped IPv6 addresses count as IPv4. */
enum connlimit_verdict connlimit_acquire(struct connlimit *cl, const struct sockaddr *sa);

/* Uncounts a connection that was acquired with the same address. */
void connlimit_release(struct connlimit *cl, const struct sockaddr *sa);

/* Current counts, for metrics and tests. */
unsigned connlimit_total(struct connlimit *cl);
unsigned connlimit_count(struct connlimit *cl, const struct sockaddr *sa);

#endif
