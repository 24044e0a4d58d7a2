/*
 * loadutil.h: what the load generators (smtp_load.c, imap_load.c) share:
 * the first failure reported and the run stopped, a monotonic clock,
 * numeric options, and blocking TCP connections to the target address.
 */
#ifndef TERN_BENCH_LOADUTIL_H
#define TERN_BENCH_LOADUTIL_H

#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

extern const char *load_name;          /* the program, first word of every message */
extern atomic_bool load_stop;          /* set by the first load_fail */
extern struct addrinfo *load_target;   /* set by load_resolve */

/* Prints the first failure of the run to stderr and sets load_stop; later
 * ones (often consequences of the first) are left out. */
void load_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds on the monotonic clock. */
double load_now(void);

/* The decimal value s of option flag, at least min; exits 2 otherwise. */
long load_number(const char *flag, const char *s, long min);

/* One "-name value" option: a string (str), a number of at least min
 * (num), or a function given the value (fn). */
struct load_flag {
	const char *name;            /* with its "-" */
	const char **str;
	long *num;
	long min;
	void (*fn)(char *value);
};

#define LOAD_STR(n, p) {.name = (n), .str = (p)}
#define LOAD_NUM(n, p, m) {.name = (n), .num = (p), .min = (m)}
#define LOAD_FN(n, f) {.name = (n), .fn = (f)}

/* Parses argv[from..argc) as flags of the table; returns false on an
 * unknown flag or a missing value (the caller prints its usage). */
bool load_flags(int argc, char **argv, int from, const struct load_flag *flags, size_t n);

/* Resolves host and port into load_target: 0, or 1 after printing why. */
int load_resolve(const char *host, const char *port);

/* A blocking connection to load_target (no Nagle delay, send and receive
 * timeouts of timeout_s seconds) for connection id: its descriptor, or -1
 * after load_fail. */
int load_connect(int id, int timeout_s);

/* Sends the n bytes at p on fd, connection id, whole (what: what they are,
 * for the failure message): 0, or -1 after load_fail. */
int load_send(int fd, int id, const char *p, size_t n, const char *what);

#endif
