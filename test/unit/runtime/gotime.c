/*
** test/unit/runtime/gotime.c: Go duration text and civil dates. Expected
** values are what Go's time package gives (many of the duration strings
** come from Go's own ParseDuration tests); dates are checked against
** known days and by a round trip over a wide range.
*/
#include "runtime/gotime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/common.h"
#include "tap.h"

static void test_parse_duration(void)
{
	static const struct { const char *s; int64_t ns; } good[] = {
		{ "0", 0 }, { "5s", 5000000000LL }, { "30s", 30000000000LL },
		{ "1478s", 1478000000000LL }, { "-5s", -5000000000LL },
		{ "+5s", 5000000000LL }, { "-0", 0 }, { "+0", 0 },
		{ "5.0s", 5000000000LL }, { "5.6s", 5600000000LL },
		{ "5.s", 5000000000LL }, { ".5s", 500000000LL },
		{ "1.004s", 1004000000LL }, { "100.00100s", 100001000000LL },
		{ "10ns", 10 }, { "11us", 11000 }, { "12\xc2\xb5s", 12000 },
		{ "12\xce\xbcs", 12000 }, { "13ms", 13000000 },
		{ "15m", 900000000000LL }, { "16h", 57600000000000LL },
		{ "3h30m", 12600000000000LL }, { "10.5s4m", 250500000000LL },
		{ "-2m3.4s", -123400000000LL }, { "2us", 2000 },
		{ "1h2m3s4ms5us6ns", 3723004005006LL },
		{ "39h9m14.425s", 140954425000000LL },
		{ "52763797000ns", 52763797000LL },
		{ "0.3333333333333333333h", 1200000000000LL },
		{ "9007199254740993ns", 9007199254740993LL },
		{ "9223372036854775807ns", INT64_MAX },
		{ "9223372036854775.807us", INT64_MAX },
		{ "9223372036.854775807s", INT64_MAX },
		{ "9223372036854ms775807ns", INT64_MAX },
		{ "-9223372036854775808ns", INT64_MIN },
		{ "-9223372036854775807ns", INT64_MIN + 1 },
		{ "0.100000000000000000000h", 360000000000LL },
		{ "0.830103483285477580700h", 2988372539827LL },
		{ "1h30m45s500ms", 5445500000000LL },
	};
	static const char *const bad[] = {
		"", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "1.5", "5s3",
		"\x85\x85", "\xff\xff", "hello \xff\xff world", "1sm", "1 s",
		"9223372036854775808ns", "9223372036854775.808us",
		"9223372036854ms775808ns", "-9223372036854775809ns",
		"2562048h", "99999999999999999999s",
	};
	size_t i;

	for (i = 0; i < countof(good); i++) {
		int64_t ns = -1;
		int rc = gotime_parse_duration(good[i].s, strlen(good[i].s), &ns, NULL);
		ok(rc == 0 && ns == good[i].ns, "parse_duration(\"%s\") = %lld "
		   "(rc %d, got %lld)", good[i].s, (long long)good[i].ns, rc,
		   (long long)ns);
	}
	for (i = 0; i < countof(bad); i++) {
		int64_t ns = 42;
		int rc = gotime_parse_duration(bad[i], strlen(bad[i]), &ns, NULL);
		ok(rc == -EINVAL && ns == 42, "parse_duration(\"%s\") fails",
		   bad[i]);
	}
	/* Length is honoured: no reading past len, embedded NUL rejected. */
	{
		int64_t ns = 0;
		ok(gotime_parse_duration("5s7", 2, &ns, NULL) == 0 && ns == 5000000000LL,
		   "parse_duration respects len");
		ok(gotime_parse_duration("5s\0", 3, &ns, NULL) == -EINVAL,
		   "embedded NUL is not a unit");
	}
}

static void test_why(void)
{
	static const struct { const char *s, *why; } cases[] = {
		{ "", "invalid duration" }, { "1d", "unknown unit" },
		{ "3", "missing unit in duration" },
		{ "1.5", "missing unit in duration" },
		{ "99999999999999999999s", "invalid duration" },
	};
	size_t i;

	for (i = 0; i < countof(cases); i++) {
		const char *why = NULL;
		int64_t ns;
		int rc = gotime_parse_duration(cases[i].s, strlen(cases[i].s),
					       &ns, &why);
		ok(rc == -EINVAL && why && strcmp(why, cases[i].why) == 0,
		   "\"%s\": %s (got %s)", cases[i].s, cases[i].why,
		   why ? why : "none");
	}
}

static void test_format_duration(void)
{
	static const struct { int64_t d; const char *s; } cases[] = {
		{ 0, "0s" }, { 1, "1ns" }, { 1100, "1.1\xc2\xb5s" },
		{ 2200000, "2.2ms" }, { 3300000000LL, "3.3s" },
		{ 4 * 60000000000LL + 5000000000LL, "4m5s" },
		{ 4 * 60000000000LL + 5001000000LL, "4m5.001s" },
		{ 5 * 3600000000000LL + 6 * 60000000000LL + 7001000000LL,
		  "5h6m7.001s" },
		{ 8 * 60000000000LL + 1, "8m0.000000001s" },
		{ INT64_MAX, "2562047h47m16.854775807s" },
		{ INT64_MIN, "-2562047h47m16.854775808s" },
		{ -1500000, "-1.5ms" },
	};
	char buf[GOTIME_DURATION_BUF];
	size_t i;

	for (i = 0; i < countof(cases); i++) {
		const char *s = gotime_format_duration(cases[i].d, buf);
		ok(strcmp(s, cases[i].s) == 0, "format %lld = %s (got %s)",
		   (long long)cases[i].d, cases[i].s, s);
	}
}

static void test_civil(void)
{
	static const struct { int64_t y; int m, d; int64_t days; } known[] = {
		{ 1970, 1, 1, 0 }, { 1969, 12, 31, -1 }, { 2000, 3, 1, 11017 },
		{ 2024, 2, 29, 19782 }, { 1, 1, 1, -719162 },
		{ 0, 3, 1, -719468 }, { -1, 12, 31, -719529 },
	};
	struct gotime_civil c;
	int64_t days, y;
	int m, d, bad = 0;
	size_t i;

	for (i = 0; i < countof(known); i++) {
		days = gotime_days_from_civil(known[i].y, known[i].m, known[i].d);
		gotime_civil_from_days(known[i].days, &y, &m, &d);
		ok(days == known[i].days && y == known[i].y && m == known[i].m &&
		   d == known[i].d, "%lld-%02d-%02d is day %lld (got %lld)",
		   (long long)known[i].y, known[i].m, known[i].d,
		   (long long)known[i].days, (long long)days);
	}
	/* Round trip over +-1.5 million days (about 8,000 years). */
	for (days = -1500000; days <= 1500000; days++) {
		gotime_civil_from_days(days, &y, &m, &d);
		if (m < 1 || m > 12 || d < 1 || d > gotime_days_in(m, y) ||
		    gotime_days_from_civil(y, m, d) != days)
			bad++;
	}
	ok(bad == 0, "days <-> dates round trip (%d bad)", bad);
	ok(gotime_is_leap(2000) && gotime_is_leap(2024) &&
	   !gotime_is_leap(1900) && !gotime_is_leap(2023), "leap years");
	ok(gotime_days_in(2, 2024) == 29 && gotime_days_in(2, 2100) == 28 &&
	   gotime_days_in(12, 2023) == 31, "days in month");
	/* Go's reference time in UTC: Monday 2006-01-02 22:04:05. */
	gotime_civil_of(1136239445, &c);
	ok(c.year == 2006 && c.mon == 1 && c.day == 2 && c.hour == 22 &&
	   c.min == 4 && c.sec == 5 && c.wday == 1 && c.yday == 2,
	   "civil_of breaks a unix second down");
	gotime_civil_of(-1, &c);
	ok(c.year == 1969 && c.mon == 12 && c.day == 31 && c.hour == 23 &&
	   c.min == 59 && c.sec == 59 && c.wday == 3 && c.yday == 365,
	   "civil_of before the epoch");
	ok(gotime_floordiv(-7, 2) == -4 && gotime_floormod(-7, 2) == 1 &&
	   gotime_floordiv(7, 2) == 3 && gotime_floormod(7, -2) == -1,
	   "floor division");
}

int main(void)
{
	test_parse_duration();
	test_why();
	test_format_duration();
	test_civil();
	return tap_done();
}
