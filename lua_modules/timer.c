/*
** lua_modules/timer.c: the blocking half of the time module: sleep, after,
** timer and ticker (spec 7), on the shard's timer wheel.
**
** A timer object is a userdata holding a wheel timer and a channel
** (uservalue 1). While armed it is anchored in the Lua registry, so a
** `time.after(...)` whose object is dropped still fires once. The wheel
** callback runs on the shard outside Lua: it only queues the timer for the
** process's next protected step, which sends the Time value.
*/
#include <lauxlib.h>
#include <string.h>

#include "channel.h"
#include "runtime/errors.h"
#include "lazylib.h"
#include "modules.h"
#include "runtime/proc.h"
#include "ltime.h"

#define TIMER_META "wippy.time.Timer"

enum { T_AFTER, T_TIMER, T_TICKER };

struct ltimer {
	struct wheel_timer wt;
	struct pext ext;
	struct proc *p;
	uint64_t period_ms;
	int ref;           /* registry anchor while armed or queued */
	uint8_t kind;
	uint8_t fired;
};

static uint64_t to_ms(int64_t ns)
{
	uint64_t ms = (uint64_t)ns / 1000000u;
	return ((uint64_t)ns % 1000000u) ? ms + 1 : ms;
}

static void unanchor(lua_State *L, struct ltimer *t)
{
	if (t->ref != LUA_NOREF) {
		luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
		t->ref = LUA_NOREF;
	}
}

static void deliver(lua_State *L, struct pext *x)
{
	struct ltimer *t = container_of(x, struct ltimer, ext);
	if (t->ref == LUA_NOREF)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
	lua_getiuservalue(L, -1, 1);
	lua_getiuservalue(L, -2, 2);
	time_push_time_mt(L, time_now_unix_ns(), -1);
	lua_remove(L, -2);
	chan_offer(L, -2);
	lua_pop(L, 2);
	if (t->kind != T_TICKER)
		unanchor(L, t);
}

/* Wheel callback, on the process's shard. */
static void fired(struct wheel_timer *w)
{
	struct ltimer *t = container_of(w, struct ltimer, wt);
	proc_timer_fired(t->p);
	t->fired = 1;
	if (t->kind == T_TICKER) {
		/* Next tick one period after this deadline; if the process fell
		** behind, skip missed ticks rather than burst (Go drops them). */
		uint64_t now = shard_now_ms(shard_self());
		uint64_t next = w->expire + t->period_ms;
		if (next <= now)
			next = now + t->period_ms;
		proc_timer_add(t->p, w, next);
	}
	proc_ext_post(t->p, &t->ext);
}

/* __gc of all three timer metatables (so no luaL_testudata here). */
static int t_gc(lua_State *L)
{
	struct ltimer *t = lua_touserdata(L, 1);
	if (t && t->p) {
		proc_timer_cancel(t->p, &t->wt);
		proc_ext_cancel(t->p, &t->ext);
		t->p = NULL;
	}
	return 0;
}

static void arm(lua_State *L, int idx, struct ltimer *t, uint64_t ms)
{
	if (t->ref == LUA_NOREF) {
		lua_pushvalue(L, idx);
		t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	t->fired = 0;
	proc_timer_add(t->p, &t->wt, proc_deadline_ms(ms));
}

static void timer_meta(lua_State *L, const char *name);

/* A new timer of kind with a fresh channel of size 1. [-0, +1, m] */
static struct ltimer *new_timer(lua_State *L, int kind, int64_t ns,
			       const char *meta)
{
	/* User values: 1 the channel, 2 the Time metatable (deliver). */
	struct ltimer *t = lua_newuserdatauv(L, sizeof(*t), 2);
	memset(t, 0, sizeof(*t));
	t->ref = LUA_NOREF;
	t->kind = (uint8_t)kind;
	t->p = proc_of(L);
	proc_note_finalizer(L);
	t->period_ms = to_ms(ns);
	wheel_timer_init(&t->wt, fired);
	t->ext.deliver = deliver;
	timer_meta(L, meta);
	lua_setmetatable(L, -2);
	chan_push_new(L, 1);
	lua_setiuservalue(L, -2, 1);
	time_push_time_meta(L);
	lua_setiuservalue(L, -2, 2);
	arm(L, lua_gettop(L), t, t->period_ms);
	return t;
}

/* Duration argument for after/timer/ticker: must be > 0. */
static int positive(lua_State *L, int idx, int64_t *ns)
{
	if (time_opt_duration(L, idx, ns) < 0)
		return errors_ret(L, ERRORS_INVALID, "invalid duration");
	if (*ns <= 0)
		return errors_ret(L, ERRORS_INVALID, "duration must be positive");
	return 0;
}

/* time.sleep(d) [-0, +0, e] */
static int tm_sleep(lua_State *L)
{
	int64_t ns = time_check_duration(L, 1);
	if (ns <= 0)
		return 0;
	lua_settop(L, 0);
	return proc_sleep(L, to_ms(ns));
}

/* A timer object of `kind` for the duration at index 1, or nil, err.
** [-0, +(1|2), m] */
static int make(lua_State *L, int kind, const char *meta)
{
	int64_t ns;
	int r = positive(L, 1, &ns);
	if (r)
		return r;
	new_timer(L, kind, ns, meta);
	return 1;
}

/* time.after(d) -> channel, err: the channel of a one-shot timer. */
static int tm_after(lua_State *L)
{
	int r = make(L, T_AFTER, TIMER_META);
	if (r == 1)
		lua_getiuservalue(L, -1, 1);
	return r;
}

/* time.timer(d) / time.ticker(d) -> object, err [-0, +(1|2), m] */
static int tm_timer(lua_State *L) { return make(L, T_TIMER, "wippy.time.TimerObj"); }
static int tm_ticker(lua_State *L) { return make(L, T_TICKER, "wippy.time.TickerObj"); }

/* t:channel() / t:response() [-0, +1, -] */
static int to_channel(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TUSERDATA);
	lua_getiuservalue(L, 1, 1);
	return 1;
}

static struct ltimer *any_timer(lua_State *L)
{
	struct ltimer *t = lua_touserdata(L, 1);
	if (t == NULL || (!luaL_testudata(L, 1, "wippy.time.TimerObj") &&
			  !luaL_testudata(L, 1, "wippy.time.TickerObj")))
		luaL_typeerror(L, 1, "Timer");
	return t;
}

/* t:stop() -> true if it stopped before firing [-0, +1, -] */
static int to_stop(lua_State *L)
{
	struct ltimer *t = any_timer(L);
	int was = t->p && wheel_is_active(&t->wt) && (t->kind == T_TICKER || !t->fired);
	if (t->p) {
		proc_timer_cancel(t->p, &t->wt);
		proc_ext_cancel(t->p, &t->ext);
	}
	unanchor(L, t);
	lua_pushboolean(L, was);
	return 1;
}

/* t:reset(d) [-0, +1, e] */
static int to_reset(lua_State *L)
{
	struct ltimer *t = any_timer(L);
	int64_t ns;
	int r = positive(L, 2, &ns);
	if (r)
		return r;
	if (t->p == NULL)
		return luaL_error(L, "timer is closed");
	proc_timer_cancel(t->p, &t->wt);
	proc_ext_cancel(t->p, &t->ext);
	t->period_ms = to_ms(ns);
	arm(L, 1, t, t->period_ms);
	lua_pushboolean(L, 1);
	return 1;
}

/* Push the metatable `name` (one of the three timer kinds), creating it on
** first use so a process pays only for the kinds it uses. [-0, +1, m] */
static void timer_meta(lua_State *L, const char *name)
{
	static const luaL_Reg tm[] = {
		{"channel", to_channel}, {"response", to_channel},
		{"stop", to_stop}, {"reset", to_reset}, {NULL, NULL}
	};
	if (luaL_newmetatable(L, name)) {
		lazylib_methods(L, tm);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, t_gc);
		lua_setfield(L, -2, "__gc");
	}
}

static const struct { const char *k; lua_Integer v; } units[] = {
	{"NANOSECOND", 1}, {"MICROSECOND", 1000}, {"MILLISECOND", 1000000},
	{"SECOND", 1000000000}, {"MINUTE", 60000000000LL},
	{"HOUR", 3600000000000LL},
};

static const luaL_Reg blocking[] = {
	{"sleep", tm_sleep}, {"after", tm_after},
	{"timer", tm_timer}, {"ticker", tm_ticker}, {NULL, NULL}
};

/* Upvalue 1: a function of the base table that reports failures as
** nil, "message". Calls it and turns such a failure into nil and a
** structured error (spec 3: every module returns `nil, err` with a kind):
** NOT_FOUND for an unknown time zone, INVALID for everything else (bad
** durations, layouts, values). [-?, +?, e] */
static int structured(lua_State *L)
{
	int n = lua_gettop(L), nres;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	nres = lua_gettop(L);
	if (nres == 2 && lua_isnil(L, 1) && lua_type(L, 2) == LUA_TSTRING) {
		const char *msg = lua_tostring(L, 2);
		errors_push(L, strstr(msg, "unknown time zone") ? ERRORS_NOT_FOUND :
			    ERRORS_INVALID, "%s", msg);
		lua_replace(L, 2);
	}
	return nres;
}

/* The base functions that can fail with nil, err. */
static const char *const failing[] = {"parse_duration", "parse", "load_location", NULL};

/* __index of the module table: the blocking calls one by one; any other
** name fills in the rest of the module (formatting, parsing, zones,
** constants) at once and answers. [-0, +1, m] */
static int fill_rest(lua_State *L)
{
	const char *k = lua_tostring(L, 2);
	for (size_t i = 0; k && i < countof(units); i++)
		if (strcmp(units[i].k, k) == 0) {
			lua_pushinteger(L, units[i].v);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, -2);
			lua_rawset(L, 1);
			return 1;
		}
	const luaL_Reg *r = k ? lazylib_find(blocking, k) : NULL;
	if (r) {
		lua_pushcfunction(L, r->func);
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, 1);
		return 1;
	}
	time_luaopen_base(L);
	luaL_setfuncs(L, blocking, 0);
	for (const char *const *f = failing; *f; f++) {
		if (lua_getfield(L, -1, *f) == LUA_TFUNCTION) {
			lua_pushcclosure(L, structured, 1);
			lua_setfield(L, -2, *f);
		} else {
			lua_pop(L, 1);
		}
	}
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pushvalue(L, -2);
		if (lua_rawget(L, 1) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, 1);
		} else {
			lua_pop(L, 2);
		}
	}
	lua_pushnil(L);
	lua_setmetatable(L, 1);
	lua_pushvalue(L, 2);
	lua_rawget(L, 1);
	return 1;
}

/* __pairs: the whole module first, then a plain iteration. [-0, +3, m] */
static int fill_pairs(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_pushliteral(L, "");		/* no such name: fills everything */
	fill_rest(L);
	lua_settop(L, 1);
	lua_pushcfunction(L, lazylib_next);
	lua_insert(L, 1);
	lua_pushnil(L);
	return 3;
}

/* require("time"): the blocking calls and unit constants at once, the rest
** of the module on first use of any other field. [-0, +1, m] */
int luaopen_time(lua_State *L)
{
	lua_createtable(L, 0, 4);
	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, fill_rest);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, fill_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_setmetatable(L, -2);
	return 1;
}
