/*
 * internal.h: helpers shared by the files of src/reports/. Never included
 * outside it.
 */
#ifndef TERN_REPORTS_INTERNAL_H
#define TERN_REPORTS_INTERNAL_H

#include "reports/reports.h"

/* Makes room for one more element in an arena array of *n elements of size
 * bytes with capacity *cap (doubling); returns the new element, zeroed.
 * The old block stays in the arena (at most as much again is wasted). */
void *rpt_push(struct arena *a, void **v, size_t *n, size_t *cap, size_t size);

/* Parses a decimal integer in [min, max] from s (surrounding whitespace
 * allowed). Returns 0 or -1. */
int rpt_parse_int(const char *s, int64_t min, int64_t max, int64_t *v_r);

#endif
