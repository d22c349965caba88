/*
** runtime/gotime.c: Go duration text and civil-date arithmetic.
**
** Owns the one duration parser of the runtime (flags, the `time` module)
** and the one days <-> date conversion (log timestamps, the `time`
** module). Pure integer code: it may not include Lua, allocate, or call
** libc's time functions. The parser is exact to the nanosecond: every
** element accumulates in uint64, and only the fractional part of a unit
** goes through a double, which is exact for any fraction of an hour.
*/
#include "runtime/gotime.h"

#include <errno.h>
#include <string.h>

/* {==================================================================
** Durations
** =================================================================== */

/*
** Go's ParseDuration. Returns NULL on success or the Go error text prefix
** ("invalid duration", "missing unit in duration", "unknown unit").
*/
static const char *dur_parse(const char *s, size_t len, int64_t *out)
{
	static const struct { const char *u; uint64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "\xce\xbcs", 1000 }, { "ms", 1000000 },
		{ "s", 1000000000ULL }, { "m", 60000000000ULL },
		{ "h", 3600000000000ULL },
	};
	const uint64_t lim = 1ULL << 63;
	const char *p = s, *e = s + len;
	uint64_t d = 0;
	int neg = 0;

	/*
	 * Grammar: [-+]?([0-9]*(\.[0-9]*)?unit)+ or a lone "0". The magnitude
	 * accumulates unsigned up to 2^63 so that "-9223372036854775808ns"
	 * (INT64_MIN) parses while its positive twin overflows.
	 */
	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (e - p == 1 && *p == '0') {
		*out = 0;
		return NULL;
	}
	if (p == e)
		return "invalid duration";
	while (p < e) {
		uint64_t v = 0, f = 0, unit = 0;
		double scale = 1;
		int pre = 0, post = 0, of = 0;
		const char *u;
		size_t i;

		if (!(*p == '.' || (*p >= '0' && *p <= '9')))
			return "invalid duration";
		for (; p < e && *p >= '0' && *p <= '9'; p++, pre = 1) {
			if (v > lim / 10)
				return "invalid duration";
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > lim)
				return "invalid duration";
		}
		if (p < e && *p == '.') {
			/* Fraction digits past int64 precision are ignored. */
			for (p++; p < e && *p >= '0' && *p <= '9'; p++) {
				uint64_t y;
				post = 1;
				if (of)
					continue;
				if (f > (lim - 1) / 10) {
					of = 1;
					continue;
				}
				y = f * 10 + (uint64_t)(*p - '0');
				if (y > lim) {
					of = 1;
					continue;
				}
				f = y;
				scale *= 10;
			}
		}
		if (!pre && !post)
			return "invalid duration";
		for (u = p; p < e && *p != '.' && !(*p >= '0' && *p <= '9'); p++)
			;
		if (p == u)
			return "missing unit in duration";
		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (strlen(units[i].u) == (size_t)(p - u) &&
			    memcmp(units[i].u, u, (size_t)(p - u)) == 0)
				unit = units[i].ns;
		if (unit == 0)
			return "unknown unit";
		if (v > lim / unit)
			return "invalid duration";
		v *= unit;
		if (f > 0) {
			/* double keeps a fraction of an hour exact to the ns */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > lim)
				return "invalid duration";
		}
		if (v > lim - d)
			return "invalid duration";
		d += v;
	}
	if (neg) {
		*out = (int64_t)(0 - d);        /* d == 2^63 gives INT64_MIN */
		return NULL;
	}
	if (d > lim - 1)
		return "invalid duration";
	*out = (int64_t)d;
	return NULL;
}

int gotime_parse_duration(const char *s, size_t len, int64_t *ns,
			  const char **why)
{
	const char *w = dur_parse(s, len, ns);

	if (w == NULL)
		return 0;
	if (why)
		*why = w;
	return -EINVAL;
}

/* Go's fmtFrac: write v's prec low digits as ".ddd" minus trailing zeros. */
static char *fmt_frac(char *w, uint64_t *v, int prec)
{
	int i, print = 0;

	for (i = 0; i < prec; i++) {
		int digit = (int)(*v % 10);
		print = print || digit != 0;
		if (print)
			*--w = (char)('0' + digit);
		*v /= 10;
	}
	if (print)
		*--w = '.';
	return w;
}

static char *fmt_int(char *w, uint64_t v)
{
	do
		*--w = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return w;
}

/* Go's Duration.String, written backwards from the end of buf. */
const char *gotime_format_duration(int64_t d, char buf[GOTIME_DURATION_BUF])
{
	char *w = buf + GOTIME_DURATION_BUF - 1;
	uint64_t u = d < 0 ? 0 - (uint64_t)d : (uint64_t)d;

	*w = 0;
	if (u < (uint64_t)GOTIME_NS_PER_SEC) {
		int prec;
		*--w = 's';
		if (u == 0) {
			*--w = '0';
			return w;
		} else if (u < 1000) {
			prec = 0;
			*--w = 'n';
		} else if (u < 1000000) {
			prec = 3;
			w -= 2;
			memcpy(w, "\xc2\xb5", 2);       /* U+00B5 micro sign */
		} else {
			prec = 6;
			*--w = 'm';
		}
		w = fmt_frac(w, &u, prec);
		w = fmt_int(w, u);
	} else {
		*--w = 's';
		w = fmt_frac(w, &u, 9);
		w = fmt_int(w, u % 60);
		u /= 60;
		if (u > 0) {
			*--w = 'm';
			w = fmt_int(w, u % 60);
			u /= 60;
			if (u > 0) {
				*--w = 'h';
				w = fmt_int(w, u);
			}
		}
	}
	if (d < 0)
		*--w = '-';
	return w;
}

/* }================================================================== */

/* {==================================================================
** Civil dates (proleptic Gregorian, days since 1970-01-01)
** =================================================================== */

int gotime_is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int gotime_days_in(int m, int64_t y)
{
	static const unsigned char dm[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	return m == 2 && gotime_is_leap(y) ? 29 : dm[m - 1];
}

/* H. Hinnant's days_from_civil: eras of 400 years, March-based years. */
int64_t gotime_days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* H. Hinnant's civil_from_days, the inverse of the above. */
void gotime_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void gotime_civil_of(int64_t local, struct gotime_civil *c)
{
	int64_t days = gotime_floordiv(local, GOTIME_SECS_PER_DAY);
	int rem = (int)(local - days * GOTIME_SECS_PER_DAY);

	c->hour = rem / 3600;
	c->min = rem / 60 % 60;
	c->sec = rem % 60;
	c->wday = (int)gotime_floormod(days + 4, 7);     /* 1970-01-01 was a Thursday */
	gotime_civil_from_days(days, &c->year, &c->mon, &c->day);
	c->yday = (int)(days - gotime_days_from_civil(c->year, 1, 1)) + 1;
}

/* }================================================================== */
