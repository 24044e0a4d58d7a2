/*
 * util.c: small helpers of src/reports/: arena arrays, integers, RFC 3339
 * date-times.
 */
#include "reports/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *rpt_push(struct arena *a, void **v, size_t *n, size_t *cap, size_t size)
{
	if (*n >= *cap) {
		size_t ncap = *cap == 0 ? 8 : *cap * 2;
		void *nv = arena_alloc(a, ncap * size);
		if (*n > 0)
			memcpy(nv, *v, *n * size);
		*v = nv;
		*cap = ncap;
	}
	char *e = (char *)*v + *n * size;
	memset(e, 0, size);
	(*n)++;
	return e;
}

int rpt_parse_int(const char *s, int64_t min, int64_t max, int64_t *v_r)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (*s != '-' && !isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	if (*end != '\0' || v < min || v > max)
		return -1;
	*v_r = v;
	return 0;
}

static int digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

int reports_parse_datetime(const char *s, int64_t *t_r)
{
	/* RFC 3339 §5.6: date-fullyear "-" date-month "-" date-mday "T"
	 * time-hour ":" time-minute ":" time-second [time-secfrac] time-offset */
	int Y, M, D, h, m, sec;
	const char *p = s;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
	                .tm_hour = h, .tm_min = m, .tm_sec = sec};
	time_t t = timegm(&tm);
	*t_r = (int64_t)t - (int64_t)off * 60;
	return 0;
}

const char *reports_kind_name(enum report_kind kind)
{
	switch (kind) {
	case REPORT_DMARC:
		return "dmarc";
	case REPORT_TLSRPT:
		return "tlsrpt";
	case REPORT_NONE:
		break;
	}
	return "none";
}
