/*
** runtime/gotime.h: Go's durations and the proleptic Gregorian calendar,
** as pure functions on integers.
**
** A duration is an int64 count of nanoseconds, as Go's time.Duration; its
** text form is Go's ("1h30m45.5s", "1.5µs"), read by
** gotime_parse_duration and written by gotime_format_duration. A civil
** date is a year, a month 1..12 and a day 1..31, converted to and from a
** count of days since 1970-01-01 with H. Hinnant's algorithms, which hold
** for every year an int64 day count can reach.
**
** Everything here is a leaf: no Lua, no allocation, no global state, no
** libc time zone (gmtime_r would take glibc's lock), so any thread may
** call it, and both the runtime (flags, logs) and the `time` module
** (lua_modules/ltime.h) use it.
*/
#ifndef RUNTIME_GOTIME_H
#define RUNTIME_GOTIME_H

#include <stddef.h>
#include <stdint.h>

#define GOTIME_NS_PER_SEC   1000000000LL
#define GOTIME_SECS_PER_DAY 86400LL

/* Room gotime_format_duration needs, with its NUL ("-2562047h47m16.854775808s"). */
#define GOTIME_DURATION_BUF 32

/*
** Parse a Go duration string of len bytes ("1h30m45s500ms", "1.5s", "-2m",
** "2us", "2µs", "0"; units ns us µs μs ms s m h, an optional leading sign,
** fractions allowed on every element) into *ns, as Go's ParseDuration.
** Returns 0, or -EINVAL on a syntax error, a missing or unknown unit, or a
** value outside int64 nanoseconds (about +-292 years); *ns is untouched on
** error. When why is not NULL it receives, on error, Go's reason text
** ("invalid duration", "missing unit in duration", "unknown unit"), a
** static string.
*/
int gotime_parse_duration(const char *s, size_t len, int64_t *ns,
			  const char **why);

/*
** Write d as Go's Duration.String does ("1h0m0s", "1.5ms", "0s") into
** buf and return where the text starts (inside buf, NUL-terminated).
*/
const char *gotime_format_duration(int64_t d, char buf[GOTIME_DURATION_BUF]);

/* Floor division and its remainder (the sign of b), for b > 0 or < 0. */
static inline int64_t gotime_floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b) != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static inline int64_t gotime_floormod(int64_t a, int64_t b)
{
	return a - gotime_floordiv(a, b) * b;
}

/* 1 if y is a leap year of the proleptic Gregorian calendar, else 0. */
int gotime_is_leap(int64_t y);

/* Days in month m (1..12) of year y. */
int gotime_days_in(int m, int64_t y);

/* Days from 1970-01-01 to y-m-d, m in 1..12 (negative before 1970). */
int64_t gotime_days_from_civil(int64_t y, int m, int d);

/* The date `days` days after 1970-01-01 (before it when negative). */
void gotime_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* A broken-down wall clock reading. */
struct gotime_civil {
	int64_t year;
	int mon, day, hour, min, sec;   /* mon 1..12, day 1..31 */
	int wday;                       /* 0 = Sunday */
	int yday;                       /* 1..366 */
};

/*
** Break `local` (seconds since 1970-01-01 00:00 of the wall clock, that is
** a unix second plus the zone offset) down into *c.
*/
void gotime_civil_of(int64_t local, struct gotime_civil *c);

#endif
