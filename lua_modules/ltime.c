/*
** lua_modules/ltime.c: the bindings of the Lua `time` module: the Time and
** Location userdata plumbing, the Time methods, the module functions
** (now, unix, date, parse, parse_duration, fixed_zone, load_location) and
** the registration of the three metatables.
**
** Invariants:
**  - A Time is {sec, nsec, loc}: unix seconds, 0 <= nsec < 1e9, and a
**    pointer to an immutable struct loc. UTC and Local point at the static
**    loc_utc/loc_local; every other location lives inside a Location
**    userdata, which the Time keeps alive through its user value 1.
**  - Location userdata are immutable after construction; their zone
**    tables sit in the same block as the header (Lua never moves full
**    userdata), so pointers into them stay valid while the block lives.
**  - Nothing here allocates outside the Lua allocator, keeps C globals
**    that change, or yields.
** Layouts are timefmt.c's, zones timezone.c's, the Duration type
** duration.c's; the calendar and the duration text are runtime/gotime.c's.
** This file may not read zoneinfo or walk a layout itself.
*/
#include "lua_modules/ltime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua_modules/ltime_impl.h"
#include "runtime/errors.h"
#include "runtime/gotime.h"

/* {==================================================================
** Userdata plumbing
** =================================================================== */


static void createmetas(lua_State *L);

/* The Time metatable is also registered under the address of this static,
** for pushtime: every tick of a ticker makes a Time, and finding the
** metatable by name (luaL_getmetatable) costs an interned-string lookup
** and a strcmp that a light userdata key does not. */
static const char time_meta_key;

/*
** Set the metatable `name` on the value on top of the stack, creating all
** three on first use. The lazy creation lets the runtime push Times and
** Durations (timer channels) into a state that never required `time`.
*/
void setmeta(lua_State *L, const char *name)
{
	if (luaL_getmetatable(L, name) == LUA_TNIL) {
		lua_pop(L, 1);
		createmeta_named(L, name);
		luaL_getmetatable(L, name);
	}
	lua_setmetatable(L, -2);
}

void time_push_time_meta(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &time_meta_key) == LUA_TNIL) {
		lua_pop(L, 1);
		createmeta_named(L, TIME_TIME_META);
		lua_rawgetp(L, LUA_REGISTRYINDEX, &time_meta_key);
	}
}

static void settimemeta(lua_State *L)
{
	time_push_time_meta(L);
	lua_setmetatable(L, -2);
}

struct loc *newloc(lua_State *L, size_t extra)
{
	struct loc *l = lua_newuserdatauv(L, sizeof *l + extra, 0);
	memset(l, 0, sizeof *l + extra);
	setmeta(L, TIME_LOCATION_META);
	return l;
}

int64_t *checkdur(lua_State *L, int i)
{
	return luaL_checkudata(L, i, TIME_DURATION_META);
}

struct tval *checktime(lua_State *L, int i)
{
	return luaL_checkudata(L, i, TIME_TIME_META);
}

struct loc *checkloc(lua_State *L, int i)
{
	return luaL_checkudata(L, i, TIME_LOCATION_META);
}

int is_static(const struct loc *l)
{
	return l->kind == LOC_UTC || l->kind == LOC_LOCAL;
}

/*
** Push a Time for sec + nsec (nsec may be any value; it is normalised) in
** location loc. `anchor` is 0 for the static locations, else the stack
** index of the Location userdata that holds loc, or of a Time whose user
** value does; the new Time keeps that Location alive. pushtime_mt takes
** the Time metatable at stack index mt instead of looking it up (mt 0:
** look it up).
*/
static struct tval *pushtime_mt(lua_State *L, int64_t sec, int64_t nsec,
				const struct loc *loc, int anchor, int mt)
{
	struct tval *t;

	anchor = anchor ? lua_absindex(L, anchor) : 0;
	mt = mt ? lua_absindex(L, mt) : 0;
	if (is_static(loc))
		loc = loc->kind == LOC_UTC ? &loc_utc : &loc_local;
	sec += gotime_floordiv(nsec, NS_PER_SEC);
	nsec = gotime_floormod(nsec, NS_PER_SEC);
	/* Only a Time in a Location userdata has a user value to keep it:
	** one in UTC or Local (every ticker tick) is 16 bytes smaller. */
	t = lua_newuserdatauv(L, sizeof *t, is_static(loc) ? 0 : 1);
	t->sec = sec;
	t->nsec = (int32_t)nsec;
	t->loc = loc;
	if (mt) {
		lua_pushvalue(L, mt);
		lua_setmetatable(L, -2);
	} else {
		settimemeta(L);
	}
	if (!is_static(loc) && anchor) {
		if (luaL_testudata(L, anchor, TIME_TIME_META))
			lua_getiuservalue(L, anchor, 1);
		else
			lua_pushvalue(L, anchor);
		lua_setiuservalue(L, -2, 1);
	}
	return t;
}

struct tval *pushtime(lua_State *L, int64_t sec, int64_t nsec,
		      const struct loc *loc, int anchor)
{
	return pushtime_mt(L, sec, nsec, loc, anchor, 0);
}

/*
** Read the optional Location argument at i: returns its loc (resolved to
** the static UTC/Local) or dflt when the argument is absent or nil.
*/
const struct loc *optloc(lua_State *L, int i, const struct loc *dflt)
{
	const struct loc *l;

	if (lua_isnoneornil(L, i))
		return dflt;
	l = checkloc(L, i);
	if (l->kind == LOC_UTC)
		return &loc_utc;
	if (l->kind == LOC_LOCAL)
		return &loc_local;
	return l;
}

/*
** Push nil and an error object of the given kind with message msg (a
** string that may be on the stack; it is copied first). Returns 2.
*/
int ret_error(lua_State *L, const char *kind, const char *msg)
{
	return errors_ret(L, kind, "%s", msg);
}

/* }================================================================== */

/* {==================================================================
** Time methods
** =================================================================== */

/*
** Wall clock fields of t in its own location. Every accessor recomputes
** them (a zone lookup plus integer calendar math, well under a
** microsecond) rather than caching, which keeps a Time 24 bytes.
*/
static void time_civil(const struct tval *t, struct gotime_civil *c)
{
	struct zinfo z;
	loc_lookup(t->loc, t->sec, &z);
	gotime_civil_of(t->sec + z.off, c);
}

/*
** Go's Date: normalise every field (month 13 is January next year, hour
** 25 is 1am tomorrow, ...) then resolve the wall time in loc. Raises a
** Lua error when the year leaves +-1e11. Returns the unix second and
** stores the normalised nanosecond.
*/
static int64_t date_unix(lua_State *L, int64_t y, int64_t mo, int64_t d,
			 int64_t h, int64_t mi, int64_t s, int64_t ns,
			 const struct loc *loc, int32_t *nsec_out)
{
	__int128 yy, secs;
	int64_t m0;

	m0 = gotime_floormod(mo - 1, 12);
	yy = (__int128)y + gotime_floordiv(mo - 1, 12);
	if (yy > MAX_YEAR || yy < -MAX_YEAR)
		luaL_error(L, "time: year out of range");
	secs = (__int128)gotime_days_from_civil((int64_t)yy, (int)m0 + 1, 1);
	secs = (secs + (__int128)d - 1) * SECS_PER_DAY + (__int128)h * 3600 +
	       (__int128)mi * 60 + s + gotime_floordiv(ns, NS_PER_SEC);
	if (secs > MAX_SEC || secs < -MAX_SEC)
		luaL_error(L, "time: date out of range");
	*nsec_out = (int32_t)gotime_floormod(ns, NS_PER_SEC);
	return loc_unix(loc, (int64_t)secs);
}

/* r = t + d nanoseconds, saturating at +-MAX_SEC. */
static void add_ns(struct tval *r, const struct tval *t, int64_t d)
{
	int64_t dsec = d / NS_PER_SEC, nsec = t->nsec + d % NS_PER_SEC;

	if (nsec >= NS_PER_SEC)
		dsec++, nsec -= NS_PER_SEC;
	else if (nsec < 0)
		dsec--, nsec += NS_PER_SEC;
	r->sec = t->sec + dsec;         /* both within +-2^62: no overflow */
	if (r->sec > MAX_SEC || r->sec < -MAX_SEC)
		r->sec = r->sec > 0 ? MAX_SEC : -MAX_SEC;
	r->nsec = (int32_t)nsec;
}

/* t:add(d) -> Time  [-0, +1, m] */
static int t_add(lua_State *L)
{
	struct tval *t = checktime(L, 1), r;
	add_ns(&r, t, time_check_duration(L, 2));
	pushtime(L, r.sec, r.nsec, t->loc, 1);
	return 1;
}

/* t:sub(u) -> Duration, clamped to the int64 range  [-0, +1, m] */
static int t_sub(lua_State *L)
{
	struct tval *t = checktime(L, 1), *u = checktime(L, 2);
	__int128 d = ((__int128)t->sec - u->sec) * NS_PER_SEC +
		     (t->nsec - u->nsec);

	if (d > INT64_MAX)
		d = INT64_MAX;
	else if (d < INT64_MIN)
		d = INT64_MIN;
	time_push_duration(L, (int64_t)d);
	return 1;
}

/* t:add_date(years, months, days) -> Time  [-0, +1, m] */
static int t_add_date(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	lua_Integer y = luaL_checkinteger(L, 2), m = luaL_checkinteger(L, 3);
	lua_Integer d = luaL_checkinteger(L, 4);
	struct gotime_civil c;
	int32_t ns;
	int64_t sec;

	time_civil(t, &c);
	if (y > MAX_YEAR || y < -MAX_YEAR || m > MAX_YEAR || m < -MAX_YEAR ||
	    d > MAX_YEAR || d < -MAX_YEAR)
		luaL_error(L, "time: date out of range");
	sec = date_unix(L, c.year + y, c.mon + m, c.day + d, c.hour, c.min,
			c.sec, t->nsec, t->loc, &ns);
	pushtime(L, sec, ns, t->loc, 1);
	return 1;
}

static int cmp_time(const struct tval *a, const struct tval *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return a->nsec < b->nsec ? -1 : a->nsec > b->nsec;
}

/* t:before(u) -> boolean  [-0, +1, -] */
static int t_before(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) < 0);
	return 1;
}

/* t:after(u) -> boolean  [-0, +1, -] */
static int t_after(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) > 0);
	return 1;
}

/* t:equal(u): same instant, whatever the locations  [-0, +1, -] */
static int t_equal(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) == 0);
	return 1;
}

/*
** t:is_zero() -> boolean: t is Go's zero Time, 0001-01-01 00:00:00 UTC
** (whatever its location), as time.date(1, 1, 1, 0, 0, 0, 0, time.utc)
** gives.  [-0, +1, -]
*/
static int t_is_zero(lua_State *L)
{
	struct tval *t = checktime(L, 1);

	lua_pushboolean(L, t->sec == -ABS_TO_UNIX && t->nsec == 0);
	return 1;
}

/* t == u: same instant; false (never an error) for a non-Time  [-0, +1, -] */
static int t_eq(lua_State *L)
{
	struct tval *a = luaL_testudata(L, 1, TIME_TIME_META);
	struct tval *b = luaL_testudata(L, 2, TIME_TIME_META);
	lua_pushboolean(L, a && b && cmp_time(a, b) == 0);
	return 1;
}

/* t <= u  [-0, +1, -] */
static int t_le(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) <= 0);
	return 1;
}

/* t:format(layout) -> string  [-0, +1, m] */
static int t_format(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	size_t n;
	const char *lay = luaL_checklstring(L, 2, &n);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	format_time(&b, t, lay, n);
	luaL_pushresult(&b);
	return 1;
}

static void push_formatted(lua_State *L, const struct tval *t, const char *lay)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	format_time(&b, t, lay, strlen(lay));
	luaL_pushresult(&b);
}

/* t:format_rfc3339() -> string  [-0, +1, m] */
static int t_format_rfc3339(lua_State *L)
{
	push_formatted(L, checktime(L, 1), "2006-01-02T15:04:05Z07:00");
	return 1;
}

/* tostring(t): Go's Time.String (no monotonic reading)  [-0, +1, m] */
static int t_tostring(lua_State *L)
{
	push_formatted(L, checktime(L, 1),
		       "2006-01-02 15:04:05.999999999 -0700 MST");
	return 1;
}

/* t:unix() -> integer seconds  [-0, +1, -] */
static int t_unix(lua_State *L)
{
	lua_pushinteger(L, checktime(L, 1)->sec);
	return 1;
}

/* t:unix_nano() -> integer (wraps outside 1678..2262, like Go)  [-0, +1, -] */
static int t_unix_nano(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	lua_pushinteger(L, (lua_Integer)((uint64_t)t->sec * NS_PER_SEC +
					 (uint64_t)t->nsec));
	return 1;
}

/* t:unix_milli() -> integer  [-0, +1, -] */
static int t_unix_milli(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	lua_pushinteger(L, (lua_Integer)((uint64_t)t->sec * 1000 +
					 (uint64_t)(t->nsec / 1000000)));
	return 1;
}

/* The calendar accessors: one integer of the wall clock.  [-0, +1, -] */
#define FIELD_GETTER(fname, expr)                       \
	static int fname(lua_State *L)                  \
	{                                               \
		struct gotime_civil c;                         \
		time_civil(checktime(L, 1), &c);        \
		lua_pushinteger(L, (expr));             \
		return 1;                               \
	}
FIELD_GETTER(t_year, c.year)
FIELD_GETTER(t_month, c.mon)
FIELD_GETTER(t_day, c.day)
FIELD_GETTER(t_hour, c.hour)
FIELD_GETTER(t_minute, c.min)
FIELD_GETTER(t_second, c.sec)
FIELD_GETTER(t_weekday, c.wday)
FIELD_GETTER(t_year_day, c.yday)

/* t:nanosecond() -> integer 0..999999999  [-0, +1, -] */
static int t_nanosecond(lua_State *L)
{
	lua_pushinteger(L, checktime(L, 1)->nsec);
	return 1;
}

/* t:date() -> year, month, day  [-0, +3, -] */
static int t_date(lua_State *L)
{
	struct gotime_civil c;
	time_civil(checktime(L, 1), &c);
	lua_pushinteger(L, c.year);
	lua_pushinteger(L, c.mon);
	lua_pushinteger(L, c.day);
	return 3;
}

/* t:clock() -> hour, minute, second  [-0, +3, -] */
static int t_clock(lua_State *L)
{
	struct gotime_civil c;
	time_civil(checktime(L, 1), &c);
	lua_pushinteger(L, c.hour);
	lua_pushinteger(L, c.min);
	lua_pushinteger(L, c.sec);
	return 3;
}

/* t:zone() -> abbreviation, offset seconds east of UTC  [-0, +2, m] */
static int t_zone(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	struct zinfo z;
	loc_lookup(t->loc, t->sec, &z);
	lua_pushstring(L, z.abbr);
	lua_pushinteger(L, z.off);
	return 2;
}

/* t:utc() -> Time  [-0, +1, m] */
static int t_utc(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	pushtime(L, t->sec, t->nsec, &loc_utc, 0);
	return 1;
}

/* t:in_local() -> Time  [-0, +1, m] */
static int t_in_local(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	pushtime(L, t->sec, t->nsec, &loc_local, 0);
	return 1;
}

/* t:in_location(loc) -> Time  [-0, +1, m] */
static int t_in_location(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	checkloc(L, 2);
	pushtime(L, t->sec, t->nsec, optloc(L, 2, NULL), 2);
	return 1;
}

/* t:location() -> Location  [-0, +1, m] */
static int t_location(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	if (is_static(t->loc)) {
		struct loc *l = newloc(L, 0);
		*l = *t->loc;
	} else {
		lua_getiuservalue(L, 1, 1);
	}
	return 1;
}

/*
** Go's div remainder: (t - zero time) mod d, in [0, d). Go measures from
** 0001-01-01 UTC, not from 1970, so rounding to durations that do not
** divide a day (7s, 13m) lands where Go's does; 128-bit arithmetic keeps
** the nanosecond count exact for every representable time.
*/
static int64_t time_rem(const struct tval *t, int64_t d)
{
	__int128 abs = ((__int128)t->sec + ABS_TO_UNIX) * NS_PER_SEC + t->nsec;
	__int128 r = abs % d;
	if (r < 0)
		r += d;
	return (int64_t)r;
}

/* t:round(d) -> Time, halfway rounds up; d <= 0 returns t  [-0, +1, m] */
static int t_round(lua_State *L)
{
	struct tval *t = checktime(L, 1), r = *t;
	int64_t d = time_check_duration(L, 2), rem;

	if (d > 0) {
		rem = time_rem(t, d);
		if ((uint64_t)rem + (uint64_t)rem < (uint64_t)d)
			add_ns(&r, t, -rem);
		else
			add_ns(&r, t, d - rem);
	}
	pushtime(L, r.sec, r.nsec, t->loc, 1);
	return 1;
}

/* t:truncate(d) -> Time; d <= 0 returns t  [-0, +1, m] */
static int t_truncate(lua_State *L)
{
	struct tval *t = checktime(L, 1), r = *t;
	int64_t d = time_check_duration(L, 2);

	if (d > 0)
		add_ns(&r, t, -time_rem(t, d));
	pushtime(L, r.sec, r.nsec, t->loc, 1);
	return 1;
}

/* t < u  [-0, +1, -] */
static int t_lt(lua_State *L)
{
	return t_before(L);
}

/* tostring(loc) / loc:string() -> name  [-0, +1, m] */
static int l_tostring(lua_State *L)
{
	lua_pushstring(L, checkloc(L, 1)->name);
	return 1;
}

/* }================================================================== */

/* {==================================================================
** Module functions
** =================================================================== */

int64_t time_now_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

void time_push_time(lua_State *L, int64_t unix_ns)
{
	pushtime(L, gotime_floordiv(unix_ns, NS_PER_SEC), gotime_floormod(unix_ns, NS_PER_SEC),
		 &loc_local, 0);
}

void time_push_time_mt(lua_State *L, int64_t unix_ns, int mt)
{
	pushtime_mt(L, gotime_floordiv(unix_ns, NS_PER_SEC), gotime_floormod(unix_ns, NS_PER_SEC),
		    &loc_local, 0, mt);
}

/* time.now() -> Time in Local  [-0, +1, m] */
static int m_now(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pushtime(L, ts.tv_sec, ts.tv_nsec, &loc_local, 0);
	return 1;
}

/* time.unix(sec [, nsec]) -> Time in Local; nsec may be out of range  [-0, +1, m] */
static int m_unix(lua_State *L)
{
	lua_Integer sec = luaL_checkinteger(L, 1);
	lua_Integer nsec = luaL_optinteger(L, 2, 0);
	luaL_argcheck(L, sec >= -MAX_SEC && sec <= MAX_SEC, 1, "out of range");
	pushtime(L, sec, nsec, &loc_local, 0);
	return 1;
}

/*
** time.date(y, mo, d, h, mi, s, ns [, loc]) -> Time. Fields normalise as
** in Go; loc defaults to Local (Go requires one; Local matches now()).
** [-0, +1, v]
*/
static int m_date(lua_State *L)
{
	lua_Integer f[7];
	const struct loc *loc;
	int32_t ns;
	int64_t sec;
	int i;

	for (i = 0; i < 7; i++)
		f[i] = i < 3 ? luaL_checkinteger(L, i + 1)
			     : luaL_optinteger(L, i + 1, 0);
	loc = optloc(L, 8, &loc_local);
	sec = date_unix(L, f[0], f[1], f[2], f[3], f[4], f[5], f[6], loc, &ns);
	pushtime(L, sec, ns, loc, is_static(loc) ? 0 : 8);
	return 1;
}

/*
** time.parse(layout, value [, loc]) -> Time | nil, err. Without loc this
** is Go's time.Parse (no zone in the value: UTC; a zone matching Local:
** Local); with loc it is ParseInLocation. [-0, +(1|2), m]
**
** Zone resolution, in Go's order:
**   "Z" or "UTC" in the value          -> UTC;
**   a numeric offset (maybe with name) -> `local` if it had exactly that
**                                         offset (and name) then, else a
**                                         new fixed zone named by the
**                                         abbreviation ("" if none);
**   an abbreviation alone              -> `local` if it knows the name,
**                                         else a fixed zone of offset 0
**                                         (GMT+h: h hours) whose wall
**                                         clock is read as UTC;
**   nothing                            -> the default location.
*/
static int m_parse(lua_State *L)
{
	size_t ln, vn;
	const char *lay = luaL_checklstring(L, 1, &ln);
	const char *val = luaL_checklstring(L, 2, &vn);
	const struct loc *dflt = optloc(L, 3, &loc_utc);
	const struct loc *local = optloc(L, 3, &loc_local);
	int anchor = lua_isnoneornil(L, 3) || is_static(dflt) ? 0 : 3;
	struct pstate ps;
	const char *msg;
	int64_t sec;
	int32_t ns;
	struct zinfo z;

	if ((msg = parse_fields(L, lay, ln, val, vn, &ps)) != NULL)
		return ret_error(L, ERRORS_INVALID, msg);
	if (ps.is_utc) {
		sec = date_unix(L, ps.year, ps.month, ps.day, ps.hour, ps.min,
				ps.sec, ps.nsec, &loc_utc, &ns);
		pushtime(L, sec, ns, &loc_utc, 0);
		return 1;
	}
	if (ps.has_zoff || ps.zname[0]) {
		int32_t off = ps.has_zoff ? ps.zoff : 0;
		struct loc *fz;
		size_t nl;
		sec = date_unix(L, ps.year, ps.month, ps.day, ps.hour, ps.min,
				ps.sec, ps.nsec, &loc_utc, &ns);
		if (ps.has_zoff) {
			/* Use local if it really had that offset then. */
			loc_lookup(local, sec - off, &z);
			if (z.off == off && (!ps.zname[0] ||
					     strcmp(z.abbr, ps.zname) == 0)) {
				pushtime(L, sec - off, ns, local, anchor);
				return 1;
			}
		} else {
			if (loc_find_name(local, ps.zname, sec, &off)) {
				pushtime(L, sec - off, ns, local, anchor);
				return 1;
			}
			/*
			 * Unknown abbreviation: a fake zone with offset 0, or
			 * GMT+h's. Go does not shift the instant here, so the
			 * wall clock was read as UTC; keep that quirk.
			 */
			off = 0;
			if (strncmp(ps.zname, "GMT", 3) == 0 && ps.zname[3])
				off = (int32_t)strtol(ps.zname + 3, NULL, 10) * 3600;
		}
		nl = strlen(ps.zname);
		fz = newloc(L, nl + 1);
		memcpy(fz + 1, ps.zname, nl + 1);
		fz->kind = LOC_FIXED;
		fz->off = off;
		fz->name = (const char *)(fz + 1);
		pushtime(L, ps.has_zoff ? sec - off : sec, ns, fz, -1);
		lua_remove(L, -2);
		return 1;
	}
	sec = date_unix(L, ps.year, ps.month, ps.day, ps.hour, ps.min, ps.sec,
			ps.nsec, dflt, &ns);
	pushtime(L, sec, ns, dflt, anchor);
	return 1;
}

/* time.parse_duration(v) -> Duration | nil, err  [-0, +(1|2), m] */
static int m_parse_duration(lua_State *L)
{
	int64_t d;
	const char *why = dur_read(L, 1, &d);

	if (why != NULL) {
		if (lua_type(L, 1) == LUA_TSTRING)
			why = lua_pushfstring(L, "time: %s \"%s\"", why,
					      lua_tostring(L, 1));
		return ret_error(L, ERRORS_INVALID, why);
	}
	time_push_duration(L, d);
	return 1;
}

/* time.fixed_zone(name, offset_seconds) -> Location  [-0, +1, m] */
static int m_fixed_zone(lua_State *L)
{
	size_t n;
	const char *name = luaL_checklstring(L, 1, &n);
	lua_Integer off = luaL_checkinteger(L, 2);
	struct loc *l;

	luaL_argcheck(L, off > -7 * 86400 && off < 7 * 86400, 2,
		      "offset out of range");
	l = newloc(L, n + 1);
	memcpy(l + 1, name, n);
	l->kind = LOC_FIXED;
	l->off = (int32_t)off;
	l->name = (const char *)(l + 1);
	return 1;
}

/*
** time.load_location(name) -> Location | nil, err. "UTC" gives UTC,
** "Local" gives Local, anything else is read from the zoneinfo database.
** "" is an Invalid error, as in the original (Go itself would read it as
** UTC); a zone the database lacks is NotFound. [-0, +(1|2), m]
*/
static int m_load_location(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	struct loc *l;
	int rc;

	if (name[0] == 0)
		return ret_error(L, ERRORS_INVALID, "empty location name");
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Local") == 0) {
		l = newloc(L, 0);
		*l = strcmp(name, "Local") == 0 ? loc_local : loc_utc;
		return 1;
	}
	if ((rc = zone_load(L, name)) == 0)
		return 1;
	if (rc == -ENOENT)
		return ret_error(L, ERRORS_NOT_FOUND, lua_pushfstring(L,
			"unknown time zone %s", name));
	return ret_error(L, ERRORS_INVALID, lua_pushfstring(L,
		"malformed time zone information for %s", name));
}

/* }================================================================== */

/* {==================================================================
** Registration
** =================================================================== */

static const luaL_Reg time_meta[] = {
	{ "__tostring", t_tostring },
	{ "__eq", t_eq },
	{ "__lt", t_lt },
	{ "__le", t_le },
	{ "__index", NULL },
	{ NULL, NULL }
};

static const luaL_Reg time_methods[] = {
	{ "add", t_add },
	{ "sub", t_sub },
	{ "add_date", t_add_date },
	{ "before", t_before },
	{ "after", t_after },
	{ "equal", t_equal },
	{ "is_zero", t_is_zero },
	{ "format", t_format },
	{ "format_rfc3339", t_format_rfc3339 },
	{ "string", t_tostring },
	{ "unix", t_unix },
	{ "unix_nano", t_unix_nano },
	{ "unix_milli", t_unix_milli },
	{ "year", t_year },
	{ "month", t_month },
	{ "day", t_day },
	{ "hour", t_hour },
	{ "minute", t_minute },
	{ "second", t_second },
	{ "nanosecond", t_nanosecond },
	{ "weekday", t_weekday },
	{ "year_day", t_year_day },
	{ "date", t_date },
	{ "clock", t_clock },
	{ "zone", t_zone },
	{ "utc", t_utc },
	{ "in_local", t_in_local },
	{ "in_location", t_in_location },
	{ "location", t_location },
	{ "round", t_round },
	{ "truncate", t_truncate },
	{ NULL, NULL }
};

static const luaL_Reg loc_meta[] = {
	{ "__tostring", l_tostring },
	{ "__index", NULL },
	{ NULL, NULL }
};

static const luaL_Reg loc_methods[] = {
	{ "string", l_tostring },
	{ NULL, NULL }
};

static const luaL_Reg funcs[] = {
	{ "now", m_now },
	{ "unix", m_unix },
	{ "date", m_date },
	{ "parse", m_parse },
	{ "parse_duration", m_parse_duration },
	{ "fixed_zone", m_fixed_zone },
	{ "load_location", m_load_location },
	{ NULL, NULL }
};

/*
** __index of a metatable whose method table is not built yet: builds it
** (upvalue 1: the luaL_Reg list, upvalue 2: the metatable), installs it as
** the real __index and answers the lookup. A process that only passes Time
** values along (a ticker's ticks) never pays for ~40 methods.
** [-0, +1, m]
*/
static int lazy_index(lua_State *L)
{
	const luaL_Reg *methods = lua_touserdata(L, lua_upvalueindex(1));
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_pushvalue(L, -1);
	lua_setfield(L, lua_upvalueindex(2), "__index");
	lua_pushvalue(L, 2);
	lua_rawget(L, -2);
	return 1;
}

static void createmeta(lua_State *L, const char *name, const luaL_Reg *meta,
		       const luaL_Reg *methods)
{
	if (!luaL_newmetatable(L, name)) {
		lua_pop(L, 1);
		return;
	}
	luaL_setfuncs(L, meta, 0);
	lua_pushlightuserdata(L, (void *)methods);
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, lazy_index, 2);
	lua_setfield(L, -2, "__index");
	if (methods == time_methods) {
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &time_meta_key);
	}
	lua_pop(L, 1);
}

/* Register the metatable `name` only: a process that only receives ticks
** needs Time, not Duration or Location. [-0, +0, m] */
void createmeta_named(lua_State *L, const char *name)
{
	if (strcmp(name, TIME_DURATION_META) == 0)
		createmeta(L, TIME_DURATION_META, dur_meta, dur_methods);
	else if (strcmp(name, TIME_TIME_META) == 0)
		createmeta(L, TIME_TIME_META, time_meta, time_methods);
	else
		createmeta(L, TIME_LOCATION_META, loc_meta, loc_methods);
}

/* Register the three metatables (each only if missing). [-0, +0, m] */
static void createmetas(lua_State *L)
{
	createmeta(L, TIME_DURATION_META, dur_meta, dur_methods);
	createmeta(L, TIME_TIME_META, time_meta, time_methods);
	createmeta(L, TIME_LOCATION_META, loc_meta, loc_methods);
}

static const struct { const char *name; lua_Integer v; } int_consts[] = {
	{ "NANOSECOND", 1 },
	{ "MICROSECOND", 1000 },
	{ "MILLISECOND", 1000000 },
	{ "SECOND", NS_PER_SEC },
	{ "MINUTE", 60 * NS_PER_SEC },
	{ "HOUR", 3600 * NS_PER_SEC },
	{ "JANUARY", 1 }, { "FEBRUARY", 2 }, { "MARCH", 3 }, { "APRIL", 4 },
	{ "MAY", 5 }, { "JUNE", 6 }, { "JULY", 7 }, { "AUGUST", 8 },
	{ "SEPTEMBER", 9 }, { "OCTOBER", 10 }, { "NOVEMBER", 11 },
	{ "DECEMBER", 12 },
	{ "SUNDAY", 0 }, { "MONDAY", 1 }, { "TUESDAY", 2 }, { "WEDNESDAY", 3 },
	{ "THURSDAY", 4 }, { "FRIDAY", 5 }, { "SATURDAY", 6 },
};

/* Go's layout constants under the module's upper-snake names. */
static const struct { const char *name, *v; } str_consts[] = {
	{ "LAYOUT", "01/02 03:04:05PM '06 -0700" },
	{ "ANSIC", "Mon Jan _2 15:04:05 2006" },
	{ "UNIX_DATE", "Mon Jan _2 15:04:05 MST 2006" },
	{ "RUBY_DATE", "Mon Jan 02 15:04:05 -0700 2006" },
	{ "RFC822", "02 Jan 06 15:04 MST" },
	{ "RFC822Z", "02 Jan 06 15:04 -0700" },
	{ "RFC850", "Monday, 02-Jan-06 15:04:05 MST" },
	{ "RFC1123", "Mon, 02 Jan 2006 15:04:05 MST" },
	{ "RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700" },
	{ "RFC3339", "2006-01-02T15:04:05Z07:00" },
	{ "RFC3339NANO", "2006-01-02T15:04:05.999999999Z07:00" },
	{ "RFC3339_NANO", "2006-01-02T15:04:05.999999999Z07:00" },
	{ "KITCHEN", "3:04PM" },
	{ "STAMP", "Jan _2 15:04:05" },
	{ "STAMP_MILLI", "Jan _2 15:04:05.000" },
	{ "STAMP_MICRO", "Jan _2 15:04:05.000000" },
	{ "STAMP_NANO", "Jan _2 15:04:05.000000000" },
	{ "DATE_TIME", "2006-01-02 15:04:05" },
	{ "DATE_ONLY", "2006-01-02" },
	{ "TIME_ONLY", "15:04:05" },
};

int time_luaopen_base(lua_State *L)
{
	struct loc *l;
	size_t i;

	createmetas(L);
	luaL_newlib(L, funcs);
	for (i = 0; i < sizeof int_consts / sizeof int_consts[0]; i++) {
		lua_pushinteger(L, int_consts[i].v);
		lua_setfield(L, -2, int_consts[i].name);
	}
	for (i = 0; i < sizeof str_consts / sizeof str_consts[0]; i++) {
		lua_pushstring(L, str_consts[i].v);
		lua_setfield(L, -2, str_consts[i].name);
	}
	l = newloc(L, 0);
	*l = loc_utc;
	lua_setfield(L, -2, "utc");
	l = newloc(L, 0);
	*l = loc_local;
	lua_setfield(L, -2, "localtz");
	return 1;
}

/* }================================================================== */
