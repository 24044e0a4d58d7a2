/*
 * date.c: dates (RFC 5322 §3.3) with the obsolete forms of §4.3.
 *
 * The reader collects the numbers and names of the value, comments and
 * folding aside, and fits them to day month year hour:minute[:second] zone.
 * Liberal like mail readers: the day of week is optional and not checked, a
 * month may be a number when the day comes first ("20 11 79"), two- and
 * three-digit years follow §4.3, and a missing zone means +0000.
 */
#include "message/message.h"
#include "message/internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Most tokens looked at: a valid date has at most 8 (day-of-week, day,
 * month, year, time, zone, and slack for obsolete forms). */
#define DATE_MAX_TOKENS 16

struct date_tok {
	const char *p;
	size_t n;
	bool digits;
};

static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
	"aug", "sep", "oct", "nov", "dec" };

/* RFC 5322 §4.3 obs-zone, in minutes east of UTC. Military zones are
 * given as unknown (-0000) as §4.3 says, because RFC 822 had their signs
 * backwards. */
static const struct {
	const char *name;
	int minutes;
} zones[] = {
	{ "ut", 0 }, { "utc", 0 }, { "gmt", 0 }, { "z", 0 },
	{ "edt", -4 * 60 }, { "est", -5 * 60 }, { "cdt", -5 * 60 }, { "cst", -6 * 60 },
	{ "mdt", -6 * 60 }, { "mst", -7 * 60 }, { "pdt", -7 * 60 }, { "pst", -8 * 60 },
};

/* Splits into tokens: digit runs, letter runs, ":" joined times, signed
 * zones. Comments and punctuation separate. */
static size_t tokenize(const char *p, const char *end, struct date_tok *t)
{
	size_t n = 0;
	while (p < end && n < DATE_MAX_TOKENS) {
		unsigned char c = (unsigned char)*p;
		if (c == '(') {
			p = lex_comment(p, end, NULL);
			continue;
		}
		bool digit = c >= '0' && c <= '9';
		bool alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
		bool sign = (c == '+' || c == '-') && end - p > 1 && p[1] >= '0' && p[1] <= '9';
		if (!digit && !alpha && !sign) {
			p++;
			continue;
		}
		const char *s = p++;
		while (p < end && (digit || sign ? ((*p >= '0' && *p <= '9') || (*p == ':' && !sign)) :
				(((unsigned char)*p | 0x20) >= 'a' && ((unsigned char)*p | 0x20) <= 'z')))
			p++;
		t[n++] = (struct date_tok){ s, (size_t)(p - s), digit || sign };
	}
	return n;
}

static int month_of(const struct date_tok *t)
{
	if (t->n < 3)
		return 0;
	for (int i = 0; i < 12; i++)
		if (lex_eq(t->p, 3, months[i]))
			return i + 1;
	return 0;
}

/* Reads up to max digits of t as a number; -1 if t is not all digits. */
static int number(const char *p, size_t n)
{
	int v = 0;
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* RFC 5322 §3.3 time-of-day = hour ":" minute [ ":" second ] */
static bool parse_time(const struct date_tok *t, struct message_date *d)
{
	const char *c1 = memchr(t->p, ':', t->n);
	if (c1 == NULL)
		return false;
	const char *end = t->p + t->n;
	const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	d->hour = number(t->p, (size_t)(c1 - t->p));
	d->minute = number(c1 + 1, (size_t)((c2 != NULL ? c2 : end) - c1 - 1));
	d->second = c2 != NULL ? number(c2 + 1, (size_t)(end - c2 - 1)) : 0;
	return d->hour >= 0 && d->hour <= 23 && d->minute >= 0 && d->minute <= 59 &&
		d->second >= 0 && d->second <= 60;  /* 60: leap second */
}

/* RFC 5322 §3.3 zone = ( "+" / "-" ) 4DIGIT; §4.3 obs-zone */
static void parse_zone(const struct date_tok *t, struct message_date *d)
{
	d->zone_minutes = 0;
	d->zone_unknown = false;
	if (t == NULL)
		return;
	if (t->digits && (t->p[0] == '+' || t->p[0] == '-')) {
		int v = number(t->p + 1, t->n - 1);
		if (v >= 0 && t->n == 5) {
			d->zone_minutes = (v / 100) * 60 + v % 100;
			if (t->p[0] == '-')
				d->zone_minutes = -d->zone_minutes;
			d->zone_unknown = t->p[0] == '-' && v == 0;  /* §3.3: -0000 */
		}
		return;
	}
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (lex_eq(t->p, t->n, zones[i].name)) {
			d->zone_minutes = zones[i].minutes;
			return;
		}
	}
	d->zone_unknown = true;  /* §4.3: military and unknown zones */
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long days_from_civil(long long y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static const int month_days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

/* RFC 5322 §4.3: obs-year = [CFWS] 2*DIGIT [CFWS]: two digits below 50
 * are 20xx, other two- and three-digit years add 1900. */
static int full_year(const struct date_tok *t)
{
	int y = number(t->p, t->n);
	if (y < 0)
		return -1;
	if (t->n <= 2)
		return y < 50 ? y + 2000 : y + 1900;
	if (t->n == 3)
		return y + 1900;
	return y;
}

/*
 * RFC 5322 §3.3:
 *   date-time = [ day-of-week "," ] date time [CFWS]
 *   date      = day month year
 *   time      = time-of-day zone
 * Finds the day, month, year among the tokens before the time token.
 */
static bool fit_date(const struct date_tok *t, size_t time_at, struct message_date *d)
{
	size_t i = 0;
	while (i < time_at && !t[i].digits)
		i++;  /* day-of-week and other words */
	if (time_at - i < 2)
		return false;
	d->day = number(t[i].p, t[i].n);
	const struct date_tok *mt = &t[i + 1], *yt;
	d->month = mt->digits ? number(mt->p, mt->n) : month_of(mt);
	size_t yi = i + 2;
	while (yi < time_at && !t[yi].digits)
		yi++;
	if (yi >= time_at)
		return false;
	yt = &t[yi];
	d->year = full_year(yt);
	return d->day >= 1 && d->month >= 1 && d->month <= 12 && d->year >= 0 &&
		d->day <= month_days[d->month - 1];
}

int message_date_parse(const char *s, size_t n, struct message_date *date_r)
{
	struct date_tok t[DATE_MAX_TOKENS];
	/* RFC 5322 §3.6.7: in a Received value the date-time follows the last ";" */
	const char *semi = memrchr(s, ';', n);
	if (semi != NULL) {
		n -= (size_t)(semi + 1 - s);
		s = semi + 1;
	}
	size_t count = tokenize(s, s + n, t);
	size_t time_at = 0;
	while (time_at < count && !(t[time_at].digits && memchr(t[time_at].p, ':', t[time_at].n)))
		time_at++;
	memset(date_r, 0, sizeof(*date_r));
	if (time_at == count || !fit_date(t, time_at, date_r) || !parse_time(&t[time_at], date_r))
		return -1;
	parse_zone(time_at + 1 < count ? &t[time_at + 1] : NULL, date_r);
	long long days = days_from_civil(date_r->year, date_r->month, date_r->day);
	date_r->time = (time_t)(days * 86400 + date_r->hour * 3600 + date_r->minute * 60 +
		date_r->second - date_r->zone_minutes * 60);
	return 0;
}

char *message_date_format(time_t t, char out[MESSAGE_DATE_MAX])
{
	static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, MESSAGE_DATE_MAX, "%s, %d %s %04d %02d:%02d:%02d +0000", day_names[tm.tm_wday],
	         tm.tm_mday, month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return out;
}
