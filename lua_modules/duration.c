/*
** lua_modules/duration.c: the Duration userdata of the `time` module, an
** int64 count of nanoseconds (Go's time.Duration): reading duration
** arguments (numbers, Go duration strings, Durations), its methods and
** its arithmetic. The text forms are runtime/gotime.c's; this file may not
** parse or print durations itself.
*/
#include "lua_modules/ltime.h"

#include <errno.h>

#include "lua_modules/ltime_impl.h"
#include "runtime/gotime.h"

/* {==================================================================
** Durations
** =================================================================== */

/*
** Read a duration without raising; NULL or a Go-style error reason.
** Strings are never coerced to numbers: "1000" is a missing unit, as in
** Go, not 1000 ns.
*/
const char *dur_read(lua_State *L, int idx, int64_t *out)
{
	const char *why;
	int64_t *d;

	switch (lua_type(L, idx)) {
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			*out = lua_tointeger(L, idx);
		} else {
			lua_Number n = lua_tonumber(L, idx);
			/* 2^63 as a double; NaN fails both comparisons */
			if (!(n > -9223372036854775808.0 &&
			      n < 9223372036854775808.0))
				return "duration out of range";
			*out = (int64_t)n;
		}
		return NULL;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		return gotime_parse_duration(s, len, out, &why) < 0 ? why : NULL;
	}
	case LUA_TUSERDATA:
		if ((d = luaL_testudata(L, idx, TIME_DURATION_META)) != NULL) {
			*out = *d;
			return NULL;
		}
		break;
	}
	return "duration expected (number, string or Duration)";
}

int64_t time_check_duration(lua_State *L, int idx)
{
	int64_t v = 0;
	const char *why = dur_read(L, idx, &v);

	if (why != NULL) {
		if (lua_type(L, idx) == LUA_TSTRING)
			luaL_argerror(L, idx, lua_pushfstring(L,
				"time: %s \"%s\"", why, lua_tostring(L, idx)));
		luaL_argerror(L, idx, why);
	}
	return v;
}

int time_opt_duration(lua_State *L, int idx, int64_t *out)
{
	return dur_read(L, idx, out) == NULL ? 0 : -EINVAL;
}

void time_push_duration(lua_State *L, int64_t ns)
{
	int64_t *d = lua_newuserdatauv(L, sizeof *d, 0);
	*d = ns;
	setmeta(L, TIME_DURATION_META);
}


/* Go's float conversion: whole units plus the remainder as a fraction. */
static lua_Number dur_float(int64_t d, int64_t unit)
{
	return (lua_Number)(d / unit) + (lua_Number)(d % unit) / (lua_Number)unit;
}

/* d:hours() -> float  [-0, +1, -] */
static int d_hours(lua_State *L)
{
	lua_pushnumber(L, dur_float(*checkdur(L, 1), 3600 * NS_PER_SEC));
	return 1;
}

/* d:minutes() -> float  [-0, +1, -] */
static int d_minutes(lua_State *L)
{
	lua_pushnumber(L, dur_float(*checkdur(L, 1), 60 * NS_PER_SEC));
	return 1;
}

/* d:seconds() -> float  [-0, +1, -] */
static int d_seconds(lua_State *L)
{
	lua_pushnumber(L, dur_float(*checkdur(L, 1), NS_PER_SEC));
	return 1;
}

/* d:milliseconds() -> integer  [-0, +1, -] */
static int d_milliseconds(lua_State *L)
{
	lua_pushinteger(L, *checkdur(L, 1) / 1000000);
	return 1;
}

/* d:microseconds() -> integer  [-0, +1, -] */
static int d_microseconds(lua_State *L)
{
	lua_pushinteger(L, *checkdur(L, 1) / 1000);
	return 1;
}

/* d:nanoseconds() -> integer  [-0, +1, -] */
static int d_nanoseconds(lua_State *L)
{
	lua_pushinteger(L, *checkdur(L, 1));
	return 1;
}

/* tostring(d) -> "1h30m0s"  [-0, +1, m] */
static int d_tostring(lua_State *L)
{
	char buf[GOTIME_DURATION_BUF];
	lua_pushstring(L, gotime_format_duration(*checkdur(L, 1), buf));
	return 1;
}

/* Metamethods take any duration-like operand, so `d < 5 * SECOND` works. */

/* d1 == d2; false (never an error) against a non-duration  [-0, +1, -] */
static int d_eq(lua_State *L)
{
	int64_t a, b;
	lua_pushboolean(L, dur_read(L, 1, &a) == NULL &&
			   dur_read(L, 2, &b) == NULL && a == b);
	return 1;
}

/* d1 < d2  [-0, +1, v] */
static int d_lt(lua_State *L)
{
	lua_pushboolean(L, time_check_duration(L, 1) < time_check_duration(L, 2));
	return 1;
}

/* d1 <= d2  [-0, +1, v] */
static int d_le(lua_State *L)
{
	lua_pushboolean(L, time_check_duration(L, 1) <= time_check_duration(L, 2));
	return 1;
}

/* d1 + d2 (wraps on overflow, as Go does)  [-0, +1, m] */
static int d_add(lua_State *L)
{
	uint64_t a = (uint64_t)time_check_duration(L, 1);
	uint64_t b = (uint64_t)time_check_duration(L, 2);
	time_push_duration(L, (int64_t)(a + b));
	return 1;
}

/* d1 - d2  [-0, +1, m] */
static int d_sub(lua_State *L)
{
	uint64_t a = (uint64_t)time_check_duration(L, 1);
	uint64_t b = (uint64_t)time_check_duration(L, 2);
	time_push_duration(L, (int64_t)(a - b));
	return 1;
}

/* -d  [-0, +1, m] */
static int d_unm(lua_State *L)
{
	time_push_duration(L, (int64_t)(0 - (uint64_t)*checkdur(L, 1)));
	return 1;
}

/* The Duration metatable and its methods, registered by ltime.c. */
const luaL_Reg dur_meta[] = {
	{ "__tostring", d_tostring },
	{ "__eq", d_eq },
	{ "__lt", d_lt },
	{ "__le", d_le },
	{ "__add", d_add },
	{ "__sub", d_sub },
	{ "__unm", d_unm },
	{ "__index", NULL },    /* placeholder, set to dur_methods */
	{ NULL, NULL }
};

const luaL_Reg dur_methods[] = {
	{ "hours", d_hours },
	{ "minutes", d_minutes },
	{ "seconds", d_seconds },
	{ "milliseconds", d_milliseconds },
	{ "microseconds", d_microseconds },
	{ "nanoseconds", d_nanoseconds },
	{ "string", d_tostring },
	{ NULL, NULL }
};

/* }================================================================== */
