/*
 * clock.h: the monotonic clock in milliseconds, and absolute deadlines for
 * pthread_cond_timedwait.
 */
#ifndef TERN_CORE_CLOCK_H
#define TERN_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_mono_ms(void);

/* The time ms milliseconds from now on clock clk (CLOCK_MONOTONIC, or
 * CLOCK_REALTIME for a condition variable with the default clock). */
struct timespec clock_deadline(clockid_t clk, unsigned ms);

#endif
