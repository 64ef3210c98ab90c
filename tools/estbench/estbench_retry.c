/*
 * estbench_retry: what a device makes of a Retry-After header (RFC 9110
 * §10.2.3): delay-seconds, or an HTTP-date in any of the three forms a
 * recipient must accept (§5.6.7), turned into a wait in seconds, capped.
 * Pure: the caller gives the wall clock, so the unit test can too.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "estbench.h"

static const char *const day_names[7] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};
static const char *const day_names_long[7] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
	"Sunday"
};
static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/* Index of s in names (exact, case-sensitive: §5.6.7), or -1. */
static int
name_index(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12): the
 * civil-to-days arithmetic, so no timegm() and no TZ. */
static long long
days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Seconds since the epoch of the date, or -1 if a field is out of range. */
static long long
date_epoch(int year, int mon, int mday, int hh, int mm, int ss)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };

	if (year < 1900 || year > 9999 || mon < 0 || mon > 11 || mday < 1 ||
	    mday > mdays[mon] || hh > 23 || mm > 59 || ss > 60 ||
	    hh < 0 || mm < 0 || ss < 0)
		return -1;
	return days_from_civil(year, mon + 1, mday) * 86400 +
	    hh * 3600 + mm * 60 + ss;
}

/* The three HTTP-date forms; seconds since the epoch or -1. */
static long long
http_date(const char *v, time_t now)
{
	char day[16], mon[4];
	int mday, year, hh, mm, ss, end = -1, m;

	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (sscanf(v, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
	    day, &mday, mon, &year, &hh, &mm, &ss, &end) == 7 &&
	    end == (int)strlen(v) && name_index(day, day_names, 7) >= 0 &&
	    (m = name_index(mon, month_names, 12)) >= 0)
		return date_epoch(year, m, mday, hh, mm, ss);
	/* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
	end = -1;
	if (sscanf(v, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n",
	    day, &mday, mon, &year, &hh, &mm, &ss, &end) == 7 &&
	    end == (int)strlen(v) && name_index(day, day_names_long, 7) >= 0 &&
	    (m = name_index(mon, month_names, 12)) >= 0) {
		struct tm tm;
		int cur;

		gmtime_r(&now, &tm);
		cur = tm.tm_year + 1900;
		/* §5.6.7: a two-digit year more than 50 years ahead is the
		 * most recent past year with those digits. */
		year += cur - cur % 100;
		if (year > cur + 50)
			year -= 100;
		return date_epoch(year, m, mday, hh, mm, ss);
	}
	/* asctime-date: "Sun Nov  6 08:49:37 1994" */
	end = -1;
	if (sscanf(v, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n",
	    day, mon, &mday, &hh, &mm, &ss, &year, &end) == 7 &&
	    end == (int)strlen(v) && name_index(day, day_names, 7) >= 0 &&
	    (m = name_index(mon, month_names, 12)) >= 0)
		return date_epoch(year, m, mday, hh, mm, ss);
	return -1;
}

int
retry_after_parse(const char *v, time_t now, double cap, double *secs)
{
	double s = 0;
	long long when;
	size_t i;

	if (v == NULL || v[0] == '\0')
		return -1;
	if (strspn(v, "0123456789") == strlen(v)) {
		/* delay-seconds = 1*DIGIT: saturate, a huge one is capped */
		for (i = 0; v[i] != '\0' && s <= cap; i++)
			s = s * 10 + (v[i] - '0');
	} else if ((when = http_date(v, now)) >= 0)
		s = when > (long long)now ? (double)(when - (long long)now) : 0;
	else
		return -1;
	*secs = s < cap ? s : cap;
	return 0;
}
