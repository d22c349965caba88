/*
** lua_modules/ltime.h: the non-blocking half of the Lua `time` module.
**
** Owns three userdata types, each with a metatable registered once per
** lua_State under the names below:
**   Duration  an int64 count of nanoseconds (Go's time.Duration);
**   Time      unix seconds + nanoseconds + a Location (Go's time.Time);
**   Location  UTC, Local (the process TZ through libc), a fixed zone
**             (name + offset) or an IANA zone read from the system
**             zoneinfo files (TZif, including the POSIX rule footer).
** Everything here is pure computation on one lua_State: no global state,
** no yields, so any shard thread may call it on the state it runs.
** The implementation is four files sharing lua_modules/ltime_impl.h:
** ltime.c (bindings), duration.c, timefmt.c (Go layouts) and timezone.c.
** The name is not time.h so that it cannot be taken for <time.h>.
** The blocking calls (sleep, after, timer, ticker) live in timer.c, which builds them from time_check_duration() and
** time_push_time() and adds them to the table time_luaopen_base() returns.
*/
#ifndef LUA_MODULES_LTIME_H
#define LUA_MODULES_LTIME_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#define TIME_DURATION_META "wippy.time.Duration"
#define TIME_TIME_META     "wippy.time.Time"
#define TIME_LOCATION_META "wippy.time.Location"

/*
** Read a duration argument: a number of nanoseconds (floats are truncated
** toward zero), a Go duration string, or a Duration object. Raises a Lua
** argument error naming idx for anything else, for a bad string, or for a
** number outside int64. [-0, +0, v]
*/
int64_t time_check_duration(lua_State *L, int idx);

/*
** Same as time_check_duration but never raises: returns 0 and stores the
** value in *out, or returns -EINVAL (out untouched) so the caller can
** answer `nil, err` with an INVALID error. [-0, +0, -]
*/
int time_opt_duration(lua_State *L, int idx, int64_t *out);

/* Push a new Duration object holding ns. [-0, +1, m] */
void time_push_duration(lua_State *L, int64_t ns);

/*
** Push a new Time object for unix_ns nanoseconds since 1970-01-01 UTC,
** in the Local location (as Go's time.Now() is). This is the value timer,
** ticker and after channels deliver. [-0, +1, m]
*/
void time_push_time(lua_State *L, int64_t unix_ns);

/* Push the Time metatable, for time_push_time_mt. [-0, +1, m] */
void time_push_time_meta(lua_State *L);

/* time_push_time with the Time metatable at mt (time_push_time_meta's,
** kept by the caller): no registry lookup, which a ticker's delivery
** into a cold process state pays as a cache miss. [-0, +1, m] */
void time_push_time_mt(lua_State *L, int64_t unix_ns, int mt);

/* Wall clock (CLOCK_REALTIME) in nanoseconds since the unix epoch. */
int64_t time_now_unix_ns(void);

/*
** Build the module table: functions now/unix/date/parse/parse_duration/
** fixed_zone/load_location, the locations `utc` and `localtz`, the unit,
** layout, month and weekday constants. Registers the three metatables if
** this state lacks them. Leaves the table on the stack and returns 1; the
** runtime adds sleep/after/timer/ticker to it before handing it to Lua.
** [-0, +1, m]
*/
int time_luaopen_base(lua_State *L);

#endif
