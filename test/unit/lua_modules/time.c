/*
** test/unit/lua_modules/time.c: the non-blocking `time` module against
** Go's time package. Expected strings are what Go prints for the same
** calls (many come straight from Go's own format/parse/duration tests).
** Local is pinned with TZ to a POSIX rule so no check depends on the
** machine's zone; IANA checks skip themselves if zoneinfo is missing.
*/
/* timezone.c for its statics (tz_parse, rule_lookup, zone_build); the
** other files of the module come from the archive. */
#include "lua_modules/timezone.c"
#include "lua_modules/ltime.h"

#include <lualib.h>
#include <unistd.h>

#include "engine/common.h"
#include "tap.h"

static lua_State *L;

/* Evaluate a Lua expression list; join results with "|" as tostring. */
static const char *eval(const char *expr)
{
	static char out[512];
	char code[2048];
	int i, top;

	lua_settop(L, 0);
	snprintf(code, sizeof code, "return %s", expr);
	if (luaL_loadstring(L, code) != LUA_OK ||
	    lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
		snprintf(out, sizeof out, "ERROR: %s", lua_tostring(L, -1));
		return out;
	}
	out[0] = 0;
	top = lua_gettop(L);
	for (i = 1; i <= top; i++) {
		size_t n = strlen(out);
		snprintf(out + n, sizeof out - n, "%s%s", i > 1 ? "|" : "",
			 luaL_tolstring(L, i, NULL));
		lua_pop(L, 1);
	}
	return out;
}

#define is(expr, want) do {                                             \
	const char *got_ = eval(expr);                                  \
	ok(strcmp(got_, (want)) == 0, "%s == %s (got %s)", (expr),      \
	   (want), got_);                                               \
} while (0)

/* The expression must raise an error whose message contains `frag`. */
#define raises(expr, frag) do {                                         \
	const char *got_ = eval(expr);                                  \
	ok(strncmp(got_, "ERROR:", 6) == 0 && strstr(got_, (frag)),     \
	   "%s raises '%s' (got %s)", (expr), (frag), got_);           \
} while (0)

static void run(const char *chunk)
{
	if (luaL_dostring(L, chunk) != LUA_OK) {
		printf("# setup chunk failed: %s\n", lua_tostring(L, -1));
		exit(1);
	}
}

static void test_duration_lua(void)
{
	static const struct { const char *v, *s; } str[] = {
		{ "0", "0s" }, { "1", "1ns" }, { "1100", "1.1\xc2\xb5s" },
		{ "2200000", "2.2ms" }, { "3300000000", "3.3s" },
		{ "245000000000", "4m5s" }, { "245001000000", "4m5.001s" },
		{ "18367001000000", "5h6m7.001s" },
		{ "480000000001", "8m0.000000001s" },
		{ "math.maxinteger", "2562047h47m16.854775807s" },
		{ "math.mininteger", "-2562047h47m16.854775808s" },
		{ "'1h30m'", "1h30m0s" }, { "'1.5s'", "1.5s" },
		{ "'300ms'", "300ms" }, { "'-2m'", "-2m0s" },
		{ "'2us'", "2\xc2\xb5s" }, { "'-1ns'", "-1ns" },
		{ "'100h'", "100h0m0s" }, { "'1h0.5s'", "1h0m0.5s" },
		{ "'999999999ns'", "999.999999ms" }, { "'1000ms'", "1s" },
		{ "1.9", "1ns" }, { "-1.9", "-1ns" },
	};
	char expr[128];
	size_t i;

	for (i = 0; i < countof(str); i++) {
		snprintf(expr, sizeof expr, "tostring(time.parse_duration(%s))",
			 str[i].v);
		is(expr, str[i].s);
	}
	/* Go: floats for hours/minutes/seconds, integers below. */
	is("D'1h30m':hours()", "1.5");
	is("D'1h30m':minutes()", "90.0");
	is("D'-1m':minutes()", "-1.0");
	is("D'1500ms':seconds()", "1.5");
	is("D'1.5s':milliseconds()", "1500");
	is("D'1.5ms':microseconds()", "1500");
	is("D'1.5us':nanoseconds()", "1500");
	is("D'-1.9ms':milliseconds()", "-1");      /* truncates like Go */
	is("math.type(D'1h':hours())", "float");
	is("math.type(D'1h':milliseconds())", "integer");
	is("D'1h':seconds() == 3600", "true");
	/* Operators. */
	is("D'1m' + D'30s'", "1m30s");
	is("D'1m' - D'90s'", "-30s");
	is("-D'1m'", "-1m0s");
	is("D'1m' + '1s'", "1m1s");
	is("D'1m' == D'60s', D'1m' == D'61s'", "true|false");
	is("D'1m' < D'61s', D'1m' <= D'60s', D'2m' < D'1m'", "true|true|false");
	is("D'1s' < 2 * time.SECOND", "true");
	is("D'1s' == time.now()", "false");
	is("getmetatable(D'1s').__name", "wippy.time.Duration");
	/* Constants. */
	is("time.NANOSECOND, time.MICROSECOND, time.MILLISECOND",
	   "1|1000|1000000");
	is("time.SECOND, time.MINUTE, time.HOUR",
	   "1000000000|60000000000|3600000000000");
	is("math.type(time.HOUR)", "integer");
	is("time.JANUARY, time.DECEMBER, time.SUNDAY, time.SATURDAY",
	   "1|12|0|6");
	is("time.RFC3339, time.DATE_ONLY, time.TIME_ONLY, time.DATE_TIME",
	   "2006-01-02T15:04:05Z07:00|2006-01-02|15:04:05|2006-01-02 15:04:05");
	is("time.RFC3339NANO, time.KITCHEN",
	   "2006-01-02T15:04:05.999999999Z07:00|3:04PM");
	/* Errors: nil + message, never a raise, from parse_duration. */
	is("time.parse_duration('1d')",
	   "nil|time: unknown unit \"1d\"");
	is("time.parse_duration('3')",
	   "nil|time: missing unit in duration \"3\"");
	is("time.parse_duration('')", "nil|time: invalid duration \"\"");
	is("time.parse_duration({})",
	   "nil|duration expected (number, string or Duration)");
	is("time.parse_duration(0/0)", "nil|duration out of range");
	is("time.parse_duration(D'5s')", "5s");
	raises("time.now():add('1x')", "unknown unit");
	raises("time.now():add({})", "duration expected");
	raises("time.now():add(1e300)", "out of range");
}

static void test_duration_c_api(void)
{
	int64_t v = 0;

	lua_settop(L, 0);
	lua_pushinteger(L, 7);
	lua_pushnumber(L, 2.9);
	lua_pushliteral(L, "1ms");
	time_push_duration(L, -5);
	lua_pushboolean(L, 1);
	lua_pushliteral(L, "bogus");
	ok(time_opt_duration(L, 1, &v) == 0 && v == 7, "opt: integer");
	ok(time_opt_duration(L, 2, &v) == 0 && v == 2, "opt: float truncates");
	ok(time_opt_duration(L, 3, &v) == 0 && v == 1000000, "opt: string");
	ok(time_opt_duration(L, 4, &v) == 0 && v == -5, "opt: Duration");
	v = 99;
	ok(time_opt_duration(L, 5, &v) == -EINVAL && v == 99, "opt: boolean");
	ok(time_opt_duration(L, 6, &v) == -EINVAL && v == 99, "opt: bad str");
	ok(time_opt_duration(L, 7, &v) == -EINVAL, "opt: none");
	lua_settop(L, 0);

	time_push_time(L, 1265346057012345600LL);
	lua_setglobal(L, "pushed");
	is("pushed:unix(), pushed:nanosecond(), pushed:location()",
	   "1265346057|12345600|Local");
	time_push_time(L, -1);
	lua_setglobal(L, "pushed");
	is("pushed:unix(), pushed:nanosecond()", "-1|999999999");
	ok(time_now_unix_ns() > 1600000000LL * NS_PER_SEC,
	   "time_now_unix_ns is the wall clock");
}

static void test_format(void)
{
	static const struct { const char *lay, *want; } fmt[] = {
		{ "time.ANSIC", "Wed Feb  4 21:00:57 2009" },
		{ "time.UNIX_DATE", "Wed Feb  4 21:00:57 PST 2009" },
		{ "time.RUBY_DATE", "Wed Feb 04 21:00:57 -0800 2009" },
		{ "time.RFC822", "04 Feb 09 21:00 PST" },
		{ "time.RFC822Z", "04 Feb 09 21:00 -0800" },
		{ "time.RFC850", "Wednesday, 04-Feb-09 21:00:57 PST" },
		{ "time.RFC1123", "Wed, 04 Feb 2009 21:00:57 PST" },
		{ "time.RFC1123Z", "Wed, 04 Feb 2009 21:00:57 -0800" },
		{ "time.RFC3339", "2009-02-04T21:00:57-08:00" },
		{ "time.RFC3339NANO", "2009-02-04T21:00:57.0123456-08:00" },
		{ "time.KITCHEN", "9:00PM" },
		{ "'3pm'", "9pm" }, { "'3PM'", "9PM" },
		{ "'06 01 02'", "09 02 04" },
		{ "'Hi Janet, the Month is January'",
		  "Hi Janet, the Month is February" },
		{ "time.STAMP", "Feb  4 21:00:57" },
		{ "time.STAMP_MILLI", "Feb  4 21:00:57.012" },
		{ "time.STAMP_MICRO", "Feb  4 21:00:57.012345" },
		{ "time.STAMP_NANO", "Feb  4 21:00:57.012345600" },
		{ "time.DATE_TIME", "2009-02-04 21:00:57" },
		{ "time.DATE_ONLY", "2009-02-04" },
		{ "time.TIME_ONLY", "21:00:57" },
		{ "'Jan  2 002 __2 2'", "Feb  4 035  35 4" },
		{ "'2006 6 06 _6 __6 ___6'", "2009 6 09 _6 __6 ___6" },
		{ "'Jan January 1 01 _1'", "Feb February 2 02 _2" },
		{ "'2 02 _2 __2'", "4 04  4  35" },
		{ "'Mon Monday'", "Wed Wednesday" },
		{ "'15 3 03 _3'", "21 9 09 _9" },
		{ "'4 04 _4'", "0 00 _0" },
		{ "'5 05 _5'", "57 57 _57" },
		{ "'MST -0700 -07:00 -07 -070000 -07:00:00'",
		  "PST -0800 -08:00 -08 -080000 -08:00:00" },
		{ "'Z07:00 Z0700 Z07 Z070000 Z07:00:00'",
		  "-08:00 -0800 -08 -080000 -08:00:00" },
		{ "'.0 .00 .000 .000000 .000000000'",
		  ".0 .01 .012 .012345 .012345600" },
		{ "'.9 .99 .999 .999999 .999999999'",
		  " .01 .012 .012345 .0123456" },
		{ "'05,000 05,999'", "57,012 57,012" },
		{ "'.00x .0001'", ".01x .0002" },     /* digits after: not a fraction */
		{ "'_2006'", "_2009" },
		{ "'Monthly Janus'", "Monthly Janus" },
		{ "''", "" },
		{ "'no verbs here!'", "no verbs here!" },
	};
	char expr[256];
	size_t i;

	run("T = time.date(2009, 2, 4, 21, 0, 57, 12345600, "
	    "time.fixed_zone('PST', -8 * 3600))");
	for (i = 0; i < countof(fmt); i++) {
		snprintf(expr, sizeof expr, "T:format(%s)", fmt[i].lay);
		is(expr, fmt[i].want);
	}
	is("tostring(T)", "2009-02-04 21:00:57.0123456 -0800 PST");
	is("T:format_rfc3339()", "2009-02-04T21:00:57-08:00");
	is("T:utc():format_rfc3339()", "2009-02-05T05:00:57Z");
	is("tostring(T:utc())", "2009-02-05 05:00:57.0123456 +0000 UTC");
	is("T:utc():format('Z07:00 Z0700 Z07 Z070000 -0700')",
	   "Z Z Z Z +0000");
	/* Single digits and the 12-hour clock at midnight and noon. */
	is("time.date(2001, 2, 3, 4, 5, 6, 700000000, time.utc)"
	   ":format('3:4:5 .9')", "4:5:6 .7");
	is("time.date(2001, 2, 3, 0, 5, 6, 0, time.utc):format('3 03 PM pm')",
	   "12 12 AM am");
	is("time.date(2001, 2, 3, 12, 5, 6, 0, time.utc):format('3 03 PM')",
	   "12 12 PM");
	is("time.date(2001, 2, 3, 0, 0, 0, 0, time.utc):format('.999 .000')",
	   " .000");
	/* Odd offsets: seconds, and a nameless zone prints its offset. */
	is("time.date(2001, 2, 3, 0, 0, 0, 0, time.fixed_zone('X', 19815))"
	   ":format('-07:00:00 Z070000 -0700 MST')",
	   "+05:30:15 +053015 +0530 X");
	is("time.date(2001, 2, 3, 0, 0, 0, 0, time.fixed_zone('', -12600))"
	   ":format('MST Z07:00')", "-0330 -03:30");
	is("tostring(time.date(1, 1, 1, 0, 0, 0, 0, time.utc))",
	   "0001-01-01 00:00:00 +0000 UTC");
	is("time.date(-1, 1, 1, 0, 0, 0, 0, time.utc):format('2006 06')",
	   "-0001 -01");
	is("time.date(12345, 1, 1, 0, 0, 0, 0, time.utc):format('2006')",
	   "12345");
	raises("T:format()", "string expected");
}

static void test_time_arith(void)
{
	run("U = time.utc; P = time.fixed_zone('PST', -8 * 3600)");
	is("time.date(2010, 2, 4, 21, 0, 57, 0, U):unix()", "1265317257");
	is("time.unix(1265317257, 0):utc():format(time.RFC3339)",
	   "2010-02-04T21:00:57Z");
	is("time.unix(0, -1):utc():format(time.RFC3339NANO)",
	   "1969-12-31T23:59:59.999999999Z");
	is("time.unix(0, 1500000000):unix(), time.unix(0, 1500000000):nanosecond()",
	   "1|500000000");
	is("time.date(2010, 2, 4, 21, 0, 57, 5, P):unix_nano()",
	   "1265346057000000005");
	is("time.date(2010, 2, 4, 21, 0, 57, 5e8, P):unix_milli()",
	   "1265346057500");
	/* add / sub */
	is("time.date(2024, 1, 1, 0, 0, 0, 0, U):add(D'36h'):format(time.DATE_TIME)",
	   "2024-01-02 12:00:00");
	is("time.date(2024, 1, 1, 0, 0, 0, 0, U):add(-1):format(time.RFC3339NANO)",
	   "2023-12-31T23:59:59.999999999Z");
	is("time.date(2024, 1, 1, 0, 0, 0, 0, U):add('-1.5s'):format('05.000')",
	   "58.500");
	is("time.date(2024, 1, 1, 0, 0, 1, 0, U):sub(time.date(2024, 1, 1, 0, 0, 0, 0, U))",
	   "1s");
	is("time.date(2024, 1, 1, 0, 0, 0, 0, U):sub(time.date(2024, 1, 2, 1, 0, 0, 5, U))",
	   "-25h0m0.000000005s");
	is("getmetatable(time.now():sub(time.now())).__name",
	   "wippy.time.Duration");
	is("time.date(3000, 1, 1, 0, 0, 0, 0, U):sub(time.date(1, 1, 1, 0, 0, 0, 0, U))",
	   "2562047h47m16.854775807s");
	is("time.date(1, 1, 1, 0, 0, 0, 0, U):sub(time.date(3000, 1, 1, 0, 0, 0, 0, U))",
	   "-2562047h47m16.854775808s");
	is("time.date(2024, 1, 1, 9, 0, 0, 0, P):sub(time.date(2024, 1, 1, 17, 0, 0, 0, U))",
	   "0s");
	/* Comparisons are by instant, whatever the location. */
	run("A = time.date(2024, 1, 1, 9, 0, 0, 0, P); "
	    "B = time.date(2024, 1, 1, 17, 0, 0, 0, U); "
	    "C = B:add(1)");
	is("A == B, A:equal(B), A ~= C, A < C, C <= A, A <= B",
	   "true|true|true|true|false|true");
	is("A:before(C), A:after(C), C:after(A), A:before(B)",
	   "true|false|true|false");
	is("A == D'1s', A == 5", "false|false");
	raises("A < 5", "Time expected");
	raises("A:sub(D'1s')", "Time expected");
	/* date normalisation, like Go's Date. */
	is("time.date(2023, 13, 1, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2024-01-01");
	is("time.date(2024, 0, 1, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2023-12-01");
	is("time.date(2024, -13, 1, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2022-11-01");
	is("time.date(2024, 2, 30, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2024-03-01");
	is("time.date(2023, 2, 29, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2023-03-01");
	is("time.date(2024, 1, 0, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2023-12-31");
	is("time.date(2024, 1, 1, 25, 61, 61, 1500000000, U):format(time.DATE_TIME .. '.999')",
	   "2024-01-02 02:02:02.5");
	is("time.date(2024, 1, 1, -1, 0, 0, -1, U):format(time.RFC3339NANO)",
	   "2023-12-31T22:59:59.999999999Z");
	is("time.date(2024, 3, 1, 0, 0, 0, 0, U):format(time.DATE_ONLY)",
	   "2024-03-01");
	is("time.date(2024, 1, 1):location()", "Local");
	raises("time.date(1e15, 1, 1)", "out of range");
	raises("time.date(2024)", "number expected");
	/* add_date */
	run("E = time.date(2011, 1, 1, 10, 30, 0, 7, U)");
	is("E:add_date(1, 1, 1):format(time.RFC3339NANO)",
	   "2012-02-02T10:30:00.000000007Z");
	is("E:add_date(0, 0, -1):format(time.DATE_ONLY)", "2010-12-31");
	is("time.date(2011, 1, 31, 0, 0, 0, 0, U):add_date(0, 1, 0):format(time.DATE_ONLY)",
	   "2011-03-03");
	is("time.date(2012, 1, 31, 0, 0, 0, 0, U):add_date(0, 1, 0):format(time.DATE_ONLY)",
	   "2012-03-02");
	is("time.date(2012, 2, 29, 0, 0, 0, 0, U):add_date(1, 0, 0):format(time.DATE_ONLY)",
	   "2013-03-01");
	is("time.date(2012, 2, 29, 12, 0, 0, 0, P):add_date(0, 0, 1):format(time.RFC3339)",
	   "2012-03-01T12:00:00-08:00");
	/* Parts. */
	run("W = time.date(2009, 2, 4, 21, 0, 57, 12345600, P)");
	is("W:year(), W:month(), W:day(), W:hour(), W:minute(), W:second(), W:nanosecond()",
	   "2009|2|4|21|0|57|12345600");
	is("W:weekday(), W:year_day()", "3|35");
	is("W:date()", "2009|2|4");
	is("W:clock()", "21|0|57");
	is("W:zone()", "PST|-28800");
	is("W:utc():day(), W:utc():weekday(), W:utc():hour()", "5|4|5");
	is("time.date(2024, 12, 31, 0, 0, 0, 0, U):year_day()", "366");
	is("time.date(2024, 12, 31, 0, 0, 0, 0, U):weekday()", "2");
	is("time.date(1970, 1, 1, 0, 0, 0, 0, U):weekday()", "4");
	is("time.date(2000, 2, 29, 0, 0, 0, 0, U):weekday()", "2");
	is("time.date(1969, 12, 31, 23, 59, 59, 0, U):weekday()", "3");
	is("time.date(1600, 3, 1, 0, 0, 0, 0, U):format('Monday 2006-01-02 002')",
	   "Wednesday 1600-03-01 061");
	/* Locations. */
	is("tostring(time.utc), tostring(time.localtz), tostring(P)",
	   "UTC|Local|PST");
	is("W:location(), W:utc():location(), W:in_local():location()",
	   "PST|UTC|Local");
	is("W:in_location(time.utc):format(time.RFC3339)",
	   "2009-02-05T05:00:57Z");
	is("W:in_location(time.fixed_zone('IST', 19800)):format(time.RFC3339 .. ' MST')",
	   "2009-02-05T10:30:57+05:30 IST");
	is("W:in_location(time.localtz) == W", "true");
	raises("W:in_location('UTC')", "wippy.time.Location expected");
	raises("time.fixed_zone('X', 1e9)", "offset out of range");
	/* The fixed zone outlives every reference but the Time's. */
	run("do local z = time.fixed_zone('KEEP', 3600); "
	    "K = time.date(2020, 1, 1, 0, 0, 0, 0, z) end; collectgarbage(); "
	    "collectgarbage()");
	is("K:format('MST -0700'), K:add(1):location()", "KEEP +0100|KEEP");
}

static void test_round_truncate(void)
{
	static const struct { const char *d, *round; } rt[] = {
		{ "1", "12:15:30.918273645" }, { "'1us'", "12:15:30.918274" },
		{ "'1ms'", "12:15:30.918" }, { "'1s'", "12:15:31" },
		{ "'2s'", "12:15:30" }, { "'1m'", "12:16:00" },
		{ "'10m'", "12:20:00" }, { "'1h'", "12:00:00" },
		{ "0", "12:15:30.918273645" }, { "-5", "12:15:30.918273645" },
	};
	static const struct { const char *d, *trunc; } tr[] = {
		{ "1", "12:15:30.918273645" }, { "'1us'", "12:15:30.918273" },
		{ "'1ms'", "12:15:30.918" }, { "'1s'", "12:15:30" },
		{ "'2s'", "12:15:30" }, { "'1m'", "12:15:00" },
		{ "'10m'", "12:10:00" }, { "0", "12:15:30.918273645" },
	};
	char expr[160];
	size_t i;

	/* Go's ExampleTime_Round uses year 0 (before the zero time). */
	run("R = time.date(0, 0, 0, 12, 15, 30, 918273645, time.utc)");
	for (i = 0; i < countof(rt); i++) {
		snprintf(expr, sizeof expr,
			 "R:round(D(%s)):format('15:04:05.999999999')", rt[i].d);
		is(expr, rt[i].round);
	}
	is("R:format(time.DATE_ONLY)", "-0001-11-30");
	/* ExampleTime_Truncate, which also parses an unasked-for fraction. */
	run("Tr = time.parse('2006 Jan 02 15:04:05', "
	    "'2012 Dec 07 12:15:30.918273645')");
	for (i = 0; i < countof(tr); i++) {
		snprintf(expr, sizeof expr,
			 "Tr:truncate(D(%s)):format('15:04:05.999999999')",
			 tr[i].d);
		is(expr, tr[i].trunc);
	}
	is("Tr:truncate(time.HOUR * 24):format(time.RFC3339)",
	   "2012-12-07T00:00:00Z");
	is("time.date(2012, 12, 7, 12, 0, 0, 0, time.fixed_zone('X', 3600))"
	   ":truncate(D'24h'):format(time.RFC3339)", "2012-12-07T01:00:00+01:00");
	is("time.unix(-1, 500000000):round(D'1s'):unix()", "0");
	is("time.unix(-2, 400000000):round(D'1s'):unix()", "-2");
	is("time.unix(-1, 1):truncate(D'1s'):unix()", "-1");
}

static void test_parse(void)
{
	/* layout, value, expected RFC3339NANO + " MST" of the result */
	static const struct { const char *lay, *val, *want; } ps[] = {
		{ "time.ANSIC", "'Thu Feb  4 21:00:57 2010'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "time.UNIX_DATE", "'Thu Feb  4 21:00:57 PST 2010'",
		  "2010-02-04T21:00:57Z PST" },
		{ "time.RFC3339", "'2010-02-04T21:00:57-08:00'",
		  "2010-02-04T21:00:57-08:00 -0800" },
		{ "'2006-01-02 15:04:05-07'", "'2010-02-04 21:00:57-08'",
		  "2010-02-04T21:00:57-08:00 -0800" },
		{ "time.ANSIC", "'Thu Feb  4 21:00:57.0 2010'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "time.RFC3339", "'2010-02-04T21:00:57.012345678-08:00'",
		  "2010-02-04T21:00:57.012345678-08:00 -0800" },
		{ "time.RFC3339", "'2010-02-04T21:00:57Z'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "time.ANSIC", "'Thu      Feb     4     21:00:57     2010'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "time.ANSIC", "'THU FEB 4 21:00:57 2010'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "time.STAMP_MILLI", "'Feb  4 21:00:57.012'",
		  "0000-02-04T21:00:57.012Z UTC" },
		{ "'2006.01.02.15.04.05.0'", "'2010.02.04.21.00.57.0'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "'Hi Janet, the Month is January: Jan _2 15:04:05 2006'",
		  "'Hi Janet, the Month is February: Feb  4 21:00:57 2010'",
		  "2010-02-04T21:00:57Z UTC" },
		/* Go reads the wall clock as UTC for a GMT+h zone (sic). */
		{ "time.UNIX_DATE", "'Fri Feb  5 05:00:57 GMT-8 2010'",
		  "2010-02-04T21:00:57-08:00 GMT-8" },
		{ "'2006-01-02 15:04:05.9999 -0700 MST'",
		  "'2010-02-04 21:00:57 -0800 PST'",
		  "2010-02-04T21:00:57-08:00 PST" },
		{ "'2006-01-02 15:04:05.999999999 -0700 MST'",
		  "'2010-02-04 21:00:57.0123 -0800 PST'",
		  "2010-02-04T21:00:57.0123-08:00 PST" },
		{ "'2006-01-02 002 15:04:05'", "'2010-02-04 035 21:00:57'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "'2006-002 15:04:05'", "'2010-035 21:00:57'",
		  "2010-02-04T21:00:57Z UTC" },
		{ "time.KITCHEN", "'12:30AM'", "0000-01-01T00:30:00Z UTC" },
		{ "time.KITCHEN", "'3:04PM'", "0000-01-01T15:04:00Z UTC" },
		{ "'02 Jan 06 15:04'", "'04 Feb 70 15:04'",
		  "1970-02-04T15:04:00Z UTC" },
		{ "'02 Jan 06 15:04'", "'04 Feb 68 15:04'",
		  "2068-02-04T15:04:00Z UTC" },
		{ "'2006-01-02T15:04:05Z07:00:00'",
		  "'2010-02-04T21:00:57+05:30:15'",
		  "2010-02-04T21:00:57+05:30 +0530" },
		{ "time.DATE_ONLY", "'2024-02-29'", "2024-02-29T00:00:00Z UTC" },
		{ "time.RFC1123", "'Mon, 02 Jan 2006 15:04:05 UTC'",
		  "2006-01-02T15:04:05Z UTC" },
	};
	static const struct { const char *lay, *val, *frag; } bad[] = {
		{ "time.RFC3339", "'garbage'",
		  "cannot parse \"garbage\" as \"2006\"" },
		{ "time.RFC3339", "'2010-02-04T21:00:57'",
		  "cannot parse \"\" as \"Z07:00\"" },
		{ "time.DATE_ONLY", "'2023-02-29'", "day out of range" },
		{ "time.DATE_ONLY", "'2023-13-01'", "month out of range" },
		{ "time.DATE_ONLY", "'2023-01-01 extra'", "extra text" },
		{ "time.TIME_ONLY", "'24:00:00'", "hour out of range" },
		{ "time.TIME_ONLY", "'23:60:00'", "minute out of range" },
		{ "time.TIME_ONLY", "'23:59:60'", "second out of range" },
		{ "time.STAMP_MILLI", "'Feb  4 21:00:57.01'", "cannot parse" },
		{ "time.ANSIC", "'Thx Feb  4 21:00:57 2010'", "cannot parse" },
		{ "time.KITCHEN", "'3:04XM'", "cannot parse" },
		{ "'2006-002'", "'2023-366'", "day-of-year out of range" },
		{ "'2006-002 01-02'", "'2024-035 01-04'", "does not match" },
		{ "time.UNIX_DATE", "'Thu Feb  4 21:00:57 P 2010'", "cannot parse" },
		{ "time.RFC3339", "'2010-02-04T21:00:57*08:00'", "cannot parse" },
	};
	char expr[512];
	size_t i;

	run("function P3(t) return t:format(time.RFC3339NANO .. ' MST') end");
	for (i = 0; i < countof(ps); i++) {
		snprintf(expr, sizeof expr, "P3(assert(time.parse(%s, %s)))",
			 ps[i].lay, ps[i].val);
		is(expr, ps[i].want);
	}
	for (i = 0; i < countof(bad); i++) {
		const char *got;
		snprintf(expr, sizeof expr, "time.parse(%s, %s)", bad[i].lay,
			 bad[i].val);
		got = eval(expr);
		ok(strncmp(got, "nil|parsing time ", 17) == 0 &&
		   strstr(got, bad[i].frag) != NULL,
		   "%s fails with '%s' (got %s)", expr, bad[i].frag, got);
	}
	/* Round trips through every layout constant. */
	run("RT = time.date(2009, 2, 4, 21, 0, 57, 12345600, time.utc)");
	{
		static const char *const lays[] = {
			"RFC3339", "RFC3339NANO", "RFC1123", "RFC1123Z",
			"RFC850", "RFC822", "RFC822Z", "ANSIC", "UNIX_DATE",
			"RUBY_DATE", "DATE_TIME", "STAMP_NANO", "LAYOUT",
		};
		for (i = 0; i < countof(lays); i++) {
			snprintf(expr, sizeof expr,
				 "(function() local s = RT:format(time.%s); "
				 "local t = assert(time.parse(time.%s, s)); "
				 "return t:format(time.%s) == s end)()",
				 lays[i], lays[i], lays[i]);
			is(expr, "true");
		}
	}
	is("time.parse(time.RFC3339NANO, RT:format(time.RFC3339NANO)) == RT",
	   "true");
	/* parse with a location: values without a zone are read in it. */
	is("P3(time.parse(time.DATE_TIME, '2024-01-01 10:00:00', "
	   "time.fixed_zone('CET', 3600)))", "2024-01-01T10:00:00+01:00 CET");
	is("P3(time.parse('2006-01-02 15:04 MST', '2024-01-01 10:00 CET', "
	   "time.fixed_zone('CET', 3600)))", "2024-01-01T10:00:00+01:00 CET");
	is("P3(time.parse(time.RFC3339, '2024-01-01T10:00:00+01:00', "
	   "time.fixed_zone('CET', 3600)))", "2024-01-01T10:00:00+01:00 CET");
	raises("time.parse(time.RFC3339)", "string expected");
}

/* Local is TZ=EST5EDT,M3.2.0,M11.1.0 for the whole run (see main). */
static void test_local(void)
{
	is("time.unix(0):format('2006-01-02 15:04:05 -0700 MST')",
	   "1969-12-31 19:00:00 -0500 EST");
	is("tostring(time.unix(1720108800))",
	   "2024-07-04 12:00:00 -0400 EDT");
	is("time.date(2024, 7, 4, 12, 0, 0, 0):unix()", "1720108800");
	is("time.date(2024, 1, 4, 12, 0, 0, 0, time.localtz):format('MST')",
	   "EST");
	is("time.now():location()", "Local");
	/* An offset that matches Local at that instant gives Local. */
	is("time.parse(time.RFC3339, '2010-02-04T21:00:57-05:00'):location()",
	   "Local");
	is("time.parse(time.RFC3339, '2010-07-04T21:00:57-05:00'):location()",
	   "");
	is("time.parse(time.UNIX_DATE, 'Thu Feb  4 21:00:57 EST 2010'):location()",
	   "Local");
	is("time.parse(time.UNIX_DATE, 'Thu Feb  4 21:00:57 EST 2010'):unix()",
	   "1265335257");
	is("time.load_location('Local'):string(), time.load_location('UTC'):string()",
	   "Local|UTC");
	is("time.load_location('')", "nil|empty location name");
	is("select(2, time.load_location('')):kind()", "Invalid");
	is("select(2, time.load_location('Nowhere/Zone')):kind()", "NotFound");
	is("time.date(1, 1, 1, 0, 0, 0, 0, time.utc):is_zero(), "
	   "time.unix(0):is_zero(), "
	   "time.date(1, 1, 1, 0, 0, 0, 1, time.utc):is_zero(), "
	   "time.date(1, 1, 1, 5, 0, 0, 0, time.fixed_zone('X', 5 * 3600)):is_zero()",
	   "true|false|false|true");
	is("pcall(time.unix(0).is_zero, 5)", "false|bad argument #1 to '?' "
	   "(wippy.time.Time expected, got number)");
	is("time.unix(0):in_location(time.load_location('Local')):hour()", "19");
	is("time.unix(0):in_location(time.load_location('UTC')):hour()", "0");
}

static void test_zones(void)
{
	if (access("/usr/share/zoneinfo/America/New_York", R_OK) != 0 ||
	    getenv("ZONEINFO") != NULL) {
		ok(1, "# SKIP no system zoneinfo");
		return;
	}
	run("NY = assert(time.load_location('America/New_York')); "
	    "SY = assert(time.load_location('Australia/Sydney')); "
	    "BE = assert(time.load_location('Europe/Berlin'))");
	is("tostring(NY), tostring(SY)", "America/New_York|Australia/Sydney");
	is("time.date(2024, 7, 4, 12, 0, 0, 0, NY):format('MST -0700')",
	   "EDT -0400");
	is("time.date(2024, 1, 4, 12, 0, 0, 0, NY):format('MST -0700')",
	   "EST -0500");
	is("time.unix(1720108800):in_location(NY):format(time.DATE_TIME)",
	   "2024-07-04 12:00:00");
	/* Far past the table: answered by the TZ footer rule. */
	is("time.date(2250, 7, 4, 12, 0, 0, 0, NY):format('MST -0700')",
	   "EDT -0400");
	is("time.date(2250, 12, 4, 12, 0, 0, 0, NY):format('MST -0700')",
	   "EST -0500");
	is("time.date(2250, 1, 15, 12, 0, 0, 0, SY):format('MST -0700')",
	   "AEDT +1100");
	is("time.date(2250, 7, 15, 12, 0, 0, 0, SY):format('MST -0700')",
	   "AEST +1000");
	is("time.date(2250, 3, 31, 12, 0, 0, 0, BE):format('MST')", "CEST");
	is("time.date(2250, 3, 24, 12, 0, 0, 0, BE):format('MST')", "CET");
	/* Before any transition: local mean time. */
	is("time.date(1800, 1, 1, 0, 0, 0, 0, NY):format('-07:00:00')",
	   "-04:56:02");
	/* Switch days: 2024-03-10 07:00 UTC and 2024-11-03 06:00 UTC. */
	is("time.unix(1710053999):in_location(NY):format('15:04:05 MST')",
	   "01:59:59 EST");
	is("time.unix(1710054000):in_location(NY):format('15:04:05 MST')",
	   "03:00:00 EDT");
	is("time.unix(1730613600):in_location(NY):format('15:04:05 MST')",
	   "01:00:00 EST");
	is("time.parse('2006-01-02 15:04 MST', '2024-07-04 12:00 EDT', NY):unix()",
	   "1720108800");
	is("time.date(2024, 1, 31, 12, 0, 0, 0, NY):add_date(0, 6, 0):format(time.RFC3339)",
	   "2024-07-31T12:00:00-04:00");
	is("time.load_location('Nowhere/Zone')",
	   "nil|unknown time zone Nowhere/Zone");
	is("time.load_location('../../etc/passwd')",
	   "nil|unknown time zone ../../etc/passwd");
	is("time.load_location('/etc/passwd')",
	   "nil|unknown time zone /etc/passwd");
	is("time.load_location('America')", "nil|unknown time zone America");
	is("select('#', time.load_location('zone.tab'))", "2");
}

/* The POSIX TZ footer parser on its own, with rules no file may carry. */
static void test_tz_rules(void)
{
	struct tzrule r;
	struct zinfo z;

	ok(tz_parse("CET-1CEST,M3.5.0,M10.5.0/3", "CET-1CEST,M3.5.0,M10.5.0/3" +
		    26, &r) == 0 && r.stdoff == 3600 && r.dstoff == 7200 &&
	   r.end.time == 3 * 3600, "tz_parse CET rule");
	rule_lookup(&r, 1719835200, &z);        /* 2024-07-01 12:00 UTC */
	ok(z.off == 7200 && strcmp(z.abbr, "CEST") == 0, "CET rule in July");
	rule_lookup(&r, 1711846799, &z);        /* 2024-03-31 00:59:59 UTC */
	ok(z.off == 3600, "CET rule 1s before the switch");
	rule_lookup(&r, 1711846800, &z);        /* 2024-03-31 01:00:00 UTC */
	ok(z.off == 7200, "CET rule at the switch");
	ok(tz_parse("<+0330>-3:30", "<+0330>-3:30" + 12, &r) == 0 &&
	   r.stdoff == 12600 && !r.has_dst && strcmp(r.std, "+0330") == 0,
	   "tz_parse quoted name, minutes");
	ok(tz_parse("XST5XDT,J60/1,300", "XST5XDT,J60/1,300" + 17, &r) == 0 &&
	   r.start.kind == 'J' && r.start.day == 60 && r.end.kind == 'N',
	   "tz_parse Julian rules");
	ok(tz_parse("X5", "X5" + 2, &r) != 0, "tz_parse short name fails");
	ok(tz_parse("CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M13.5.0,M10.5.0" +
		    25, &r) != 0, "tz_parse bad month fails");
	ok(zone_build(L, "x", (const unsigned char *)"TZif2", 5) == -EINVAL,
	   "zone_build rejects a truncated file");
}

/* The runtime may push Times into a state that never opened the module. */
static void test_fresh_state(void)
{
	lua_State *F = luaL_newstate();

	time_push_time(F, 0);
	time_push_duration(F, 1500000000);
	ok(strcmp(luaL_tolstring(F, 1, NULL),
		  "1969-12-31 19:00:00 -0500 EST") == 0,
	   "time_push_time works before time_luaopen_base");
	ok(strcmp(luaL_tolstring(F, 2, NULL), "1.5s") == 0,
	   "time_push_duration works before time_luaopen_base");
	lua_close(F);
}

int main(void)
{
	/* Local = US Eastern by rule, independent of /etc/localtime. */
	setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
	tzset();

	L = luaL_newstate();
	luaL_openlibs(L);
	time_luaopen_base(L);
	lua_setglobal(L, "time");
	run("function D(v) return assert(time.parse_duration(v)) end");

	test_duration_lua();
	test_duration_c_api();
	test_format();
	test_time_arith();
	test_round_truncate();
	test_parse();
	test_local();
	test_zones();
	test_tz_rules();
	test_fresh_state();

	lua_close(L);
	return tap_done();
}
