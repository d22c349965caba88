/*
** lua_modules/funcs.c: require("funcs"), calls of function.lua entries
** (the original's runtime/lua/modules/funcs and modules/future).
**
**   funcs.call(id, ...) -> value, nil | nil, err     (blocks the caller)
**   funcs.async(id, ...) -> Future | nil, err
**   funcs.new() -> Executor
**   Executor:with_context(t) :with_actor(a) :with_scope(s) :with_options(t)
**            -> a new Executor (the receiver is never changed)
**   Executor:call(id, ...)  Executor:async(id, ...)
**   Future:response() / :channel() -> Channel (the same one each time)
**   Future:is_complete() :is_canceled() :result() :error() :cancel()
**
** The call itself is runtime/fcall.c's: it runs on a pooled state of the
** entry on the caller's shard. What crosses is encoded like a message:
** arguments, the results (the first value), errors with their kind.
**
** What the callee sees: ctx.get/all give the caller's own context values
** with the executor's with_context values over them; security.actor() and
** security.scope() give the caller's pair, or the executor's with_actor /
** with_scope over it (the original's buildMergedContextPairs).
**
** A result follows the convention of process results: a function that
** returns a string or an error object as its second value failed with it.
** funcs.call returns the first value alone (the original passes one
** payload back). A Future delivers a Payload over that value (nil stays
** nil) on its channel and from result(); a failed call delivers its
** error object.
**
** Ownership: each call record belongs to one Lua object on the caller's
** side, a funcs.Call userdata on the blocked coroutine's stack or the
** Future; their __gc detaches it (fcall_detach), so a caller that ends
** mid-call never sees its reply. A Future in flight is anchored in the
** registry, so a program that keeps only its channel still gets the value.
*/
#include <lauxlib.h>
#include <string.h>

#include "funcs.h"

#include "channel.h"
#include "lazylib.h"
#include "modules.h"
#include "payload.h"
#include "security.h"
#include "runtime/errors.h"
#include "runtime/fcall.h"
#include "runtime/live.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/registry.h"

#define EXEC_META   "funcs.Executor"

#define WAIT_META   "funcs.Call"

/* Executor user values. */
enum { EV_VALUES = 1, EV_ACTOR, EV_SCOPE, EV_OPTIONS, EV_N = EV_OPTIONS };

struct exec {
	uint8_t has_actor, has_scope, has_options;
};

/* A funcs.call in flight: lives on the blocked coroutine's stack. */
struct cwait {
	struct fcall *c;
	struct coro *co;
};

/* Future user values. */
enum { FV_CHAN = 1, FV_RESULT, FV_N = FV_RESULT };

struct future {
	struct fcall *c;            /* in flight, or NULL */
	int ref;                    /* registry anchor while in flight */
	uint8_t complete, canceled, failed;
};

/* {==== Building a call ====} */

/* Push a deep copy of the string-keyed entries of the table at idx over
** those of the table at base (0: none), copied through the payload codec
** so that the caller changing its table later changes nothing here.
** Raises an argument error for values that cannot cross. [-0, +1, e] */
static void merge_values(lua_State *L, int base, int idx, int arg)
{
	struct payload pl;
	int rc;
	idx = lua_absindex(L, idx);
	lua_newtable(L);
	if (base) {
		lua_pushnil(L);
		while (lua_next(L, base)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, -4);
		}
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
	rc = payload_encode(L, -1, 1, &pl);
	if (rc < 0)
		luaL_argerror(L, arg, lua_pushfstring(L, "values cannot be passed: %s",
						     payload_strerror(rc)));
	lua_pop(L, 1);
	rc = payload_decode(L, &pl);
	payload_free(&pl);
	if (rc != 1)
		luaL_error(L, "cannot copy the values: %s", payload_strerror(rc));
}

/* The callee's context values: the caller's, with the executor's values
** (table at vals, 0 for none) over them. Returns 0 or a payload error. */
static int encode_ctx(lua_State *L, struct proc *p, int vals, struct payload *out)
{
	int top = lua_gettop(L), rc;
	if (p->ctx.len == 0 && vals == 0)
		return 0;
	if (p->ctx.len == 0 || payload_decode(L, &p->ctx) != 1 || !lua_istable(L, -1)) {
		lua_settop(L, top);
		lua_newtable(L);
	}
	if (vals) {
		lua_pushnil(L);
		while (lua_next(L, vals)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, -4);
		}
	}
	rc = payload_encode(L, -1, 1, out);
	lua_settop(L, top);
	return rc;
}

/* The callee's security pair: the caller's own, with the Actor at ai and
** the Scope at si (0: none) over it. */
static int encode_sec(lua_State *L, int ai, int si, struct payload *out)
{
	int top = lua_gettop(L), rc;
	security_push_own(L);               /* actor, scope */
	if (ai) {
		lua_pushvalue(L, ai);
		lua_replace(L, top + 1);
	}
	if (si) {
		lua_pushvalue(L, si);
		lua_replace(L, top + 2);
	}
	rc = security_encode(L, top + 1, top + 2, out);
	lua_settop(L, top);
	return rc;
}

static void call_reply(lua_State *L, struct fcall *c);
static void future_reply(lua_State *L, struct fcall *c);

/* Push a new Future with its channel. [-0, +1, m] */
static struct future *push_future(lua_State *L)
{
	struct future *f = lua_newuserdatauv(L, sizeof(*f), FV_N);
	memset(f, 0, sizeof(*f));
	f->ref = LUA_NOREF;
	luaL_setmetatable(L, FUTURE_META);
	proc_note_finalizer(L);
	chan_push_new(L, 1);
	lua_setiuservalue(L, -2, FV_CHAN);
	return f;
}

/* Complete the Future at fi with the value on top (popped): the error
** object when failed, else the result. [-1, +0, m] */
static void future_complete(lua_State *L, int fi, struct future *f, int failed)
{
	int v = lua_gettop(L);
	f->complete = 1;
	f->failed = (uint8_t)failed;
	if (!failed && !lua_isnil(L, v)) {
		lpayload_push_value(L, v);
		lua_replace(L, v);
	}
	lua_pushvalue(L, v);
	lua_setiuservalue(L, fi, FV_RESULT);
	lua_getiuservalue(L, fi, FV_CHAN);
	lua_pushvalue(L, v);
	chan_offer(L, -2);
	lua_settop(L, v - 1);
}

static void register_metas(lua_State *L);

int funcs_invoke(lua_State *L, const char *target, int first, int nargs,
		 int vals, int ai, int si, int async)
{
	struct proc *p = proc_of(L);
	const char *kind = NULL, *err = NULL;
	const struct reg_entry *e;
	struct fcall *c;
	struct coro *co;
	int owner, rc;

	co = proc_coro(L);                  /* raises outside a process coroutine */
	register_metas(L);
	first = lua_absindex(L, first);
	vals = vals ? lua_absindex(L, vals) : 0;
	ai = ai ? lua_absindex(L, ai) : 0;
	si = si ? lua_absindex(L, si) : 0;
	e = reg_find(live_registry(p->rt), target);

	/* The owner first: from here on an error cannot leak the record. */
	c = fcall_new(p, e);
	if (async) {
		struct future *f = push_future(L);
		f->c = c;
		c->ud = f;
		c->on_reply = future_reply;
	} else {
		struct cwait *w = lua_newuserdatauv(L, sizeof(*w), 0);
		w->c = c;
		w->co = co;
		luaL_setmetatable(L, WAIT_META);
		proc_note_finalizer(L);
		c->ud = w;
		c->on_reply = call_reply;
	}
	owner = lua_gettop(L);

	if (e == NULL) {
		kind = ERRORS_NOT_FOUND;
		lua_pushfstring(L, "function not found: %s", target);
	} else if (e->k != REG_K_FUNCTION_LUA) {
		kind = ERRORS_INVALID;
		lua_pushfstring(L, "entry %s is not a function (kind %s)", target, e->kind);
	} else if ((rc = payload_encode(L, first, nargs, &c->args)) < 0) {
		kind = ERRORS_INVALID;
		lua_pushfstring(L, "cannot pass the arguments: %s", payload_strerror(rc));
	} else if ((rc = encode_ctx(L, p, vals, &c->ctx)) < 0 ||
		   (rc = encode_sec(L, ai, si, &c->sec)) < 0) {
		kind = ERRORS_INVALID;
		lua_pushfstring(L, "cannot pass the context: %s", payload_strerror(rc));
	} else if (fcall_start(c, &kind, &err) < 0) {
		lua_pushstring(L, err);
	} else {
		lua_settop(L, owner);
		if (!async)
			return proc_block(L, 1, NULL, 0);
		lua_pushvalue(L, owner);
		((struct future *)lua_touserdata(L, owner))->ref =
			luaL_ref(L, LUA_REGISTRYINDEX);
		return 1;
	}
	/* Not started: the message is on top. */
	if (async) {
		struct future *f = lua_touserdata(L, owner);
		f->c = NULL;
		/* A missing or wrong target fails the Future, as the
		** original's dispatcher does; bad arguments fail the call. */
		if (e == NULL || e->k != REG_K_FUNCTION_LUA) {
			errors_push(L, kind, "%s", lua_tostring(L, -1));
			lua_remove(L, -2);
			fcall_detach(c);
			future_complete(L, owner, f, 1);
			lua_settop(L, owner);
			return 1;
		}
	} else {
		((struct cwait *)lua_touserdata(L, owner))->c = NULL;
	}
	fcall_detach(c);
	return errors_ret(L, kind, "%s", lua_tostring(L, -1));
}

/*
** The common body of call and async: the target at ti, the arguments
** after it, the executor at ei (0 for the module functions).
*/
static int do_call(lua_State *L, int ti, int ei, int async)
{
	size_t len;
	const char *target = luaL_checklstring(L, ti, &len);
	const char *colon = strchr(target, ':');
	struct exec *x = ei ? lua_touserdata(L, ei) : NULL;
	int top = lua_gettop(L), vals = 0, ai = 0, si = 0;

	if (len == 0)
		return errors_ret(L, ERRORS_INVALID, "function ID required");
	if (colon == NULL || colon == target)
		return errors_ret(L, ERRORS_INVALID, "namespace required in function ID");
	if (colon[1] == '\0')
		return errors_ret(L, ERRORS_INVALID, "name required in function ID");
	/* The caller's own actor and scope decide, as in the original (the
	** executor's apply to the callee). */
	int denied = security_check(L, "funcs.call", target, "not allowed: %s", target);
	if (denied)
		return denied;
	if (x) {
		lua_getiuservalue(L, ei, EV_VALUES);
		vals = lua_istable(L, -1) ? lua_gettop(L) : 0;
		lua_getiuservalue(L, ei, EV_ACTOR);
		ai = x->has_actor ? lua_gettop(L) : 0;
		lua_getiuservalue(L, ei, EV_SCOPE);
		si = x->has_scope ? lua_gettop(L) : 0;
	}
	return funcs_invoke(L, target, ti + 1, top - ti, vals, ai, si, async);
}

/* The reply of a funcs.call, in the caller's step: wake the coroutine
** with value, nil or nil, err. */
static void call_reply(lua_State *L, struct fcall *c)
{
	struct cwait *w = c->ud;
	struct coro *co = w->co;
	int n = fcall_push_result(L, c);
	if (n < 0) {
		lua_pushnil(L);
		lua_insert(L, -2);
	} else {
		if (n == 0)
			lua_pushnil(L);
		lua_pushnil(L);
	}
	lua_xmove(L, co->L, 2);
	w->c = NULL;
	fcall_detach(c);
	proc_ready(co, 2);
}

/* The reply of an async call, in the caller's step. */
static void future_reply(lua_State *L, struct fcall *c)
{
	struct future *f = c->ud;
	int fi, n;
	lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
	fi = lua_gettop(L);
	luaL_unref(L, LUA_REGISTRYINDEX, f->ref);
	f->ref = LUA_NOREF;
	f->c = NULL;
	if (!f->canceled) {
		n = fcall_push_result(L, c);
		if (n == 0)
			lua_pushnil(L);
		future_complete(L, fi, f, n < 0);
	}
	lua_settop(L, fi - 1);
	fcall_detach(c);
}

static int wait_gc(lua_State *L)
{
	struct cwait *w = lua_touserdata(L, 1);
	if (w->c) {
		fcall_detach(w->c);
		w->c = NULL;
	}
	return 0;
}

/* }==== */

/* {==== Module functions ====} */

/* funcs.call(id, ...) [-0, +2, e] */
static int m_call(lua_State *L) { return do_call(L, 1, 0, 0); }

/* funcs.async(id, ...) [-0, +(1|2), e] */
static int m_async(lua_State *L) { return do_call(L, 1, 0, 1); }

/* Push a new Executor, a copy of the one at from (0: empty). [-0, +1, m] */
static struct exec *push_exec(lua_State *L, int from)
{
	struct exec *x = lua_newuserdatauv(L, sizeof(*x), EV_N);
	memset(x, 0, sizeof(*x));
	if (from) {
		*x = *(struct exec *)lua_touserdata(L, from);
		for (int i = 1; i <= EV_N; i++) {
			lua_getiuservalue(L, from, i);
			lua_setiuservalue(L, -2, i);
		}
	}
	luaL_setmetatable(L, EXEC_META);
	return x;
}

/* funcs.new() -> Executor [-0, +1, m] */
static int m_new(lua_State *L)
{
	push_exec(L, 0);
	return 1;
}

static struct exec *check_exec(lua_State *L)
{
	return luaL_checkudata(L, 1, EXEC_META);
}

/* exec:with_context(t) -> Executor: t's string keys over the values it
** has. [-0, +1, e] */
static int e_with_context(lua_State *L)
{
	check_exec(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_getiuservalue(L, 1, EV_VALUES);
	merge_values(L, lua_istable(L, 3) ? 3 : 0, 2, 2);
	push_exec(L, 1);
	lua_insert(L, -2);
	lua_setiuservalue(L, -2, EV_VALUES);
	return 1;
}

/* with_actor / with_scope: the value at 2 must be an Actor / a Scope.
** [-0, +1, e] */
static int with_sec(lua_State *L, int uv, int (*is)(lua_State *, int),
		    const char *nilmsg, const char *want)
{
	struct exec *x;
	check_exec(L);
	if (lua_isnoneornil(L, 2))
		return luaL_argerror(L, 2, nilmsg);
	if (!is(L, 2))
		return luaL_argerror(L, 2, want);
	x = push_exec(L, 1);
	if (uv == EV_ACTOR)
		x->has_actor = 1;
	else
		x->has_scope = 1;
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, uv);
	return 1;
}

static int e_with_actor(lua_State *L)
{
	return with_sec(L, EV_ACTOR, security_is_actor, "actor cannot be nil", "Actor expected");
}

static int e_with_scope(lua_State *L)
{
	return with_sec(L, EV_SCOPE, security_is_scope, "scope cannot be nil", "Scope expected");
}

/* exec:with_options(t) -> Executor: t's string keys replace the options
** (kept and passed along; no option changes a call here). [-0, +1, e] */
static int e_with_options(lua_State *L)
{
	struct exec *x;
	check_exec(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	merge_values(L, 0, 2, 2);
	x = push_exec(L, 1);
	x->has_options = 1;
	lua_insert(L, -2);
	lua_setiuservalue(L, -2, EV_OPTIONS);
	return 1;
}

static int e_call(lua_State *L)
{
	check_exec(L);
	return do_call(L, 2, 1, 0);
}

static int e_async(lua_State *L)
{
	check_exec(L);
	return do_call(L, 2, 1, 1);
}

static int e_tostring(lua_State *L)
{
	lua_pushfstring(L, "funcs.Executor: %p", lua_touserdata(L, 1));
	return 1;
}

/* }==== */

/* {==== Future ====} */

static struct future *check_future(lua_State *L)
{
	return luaL_checkudata(L, 1, FUTURE_META);
}

/* future:response() / :channel() -> Channel [-0, +1, -] */
static int f_response(lua_State *L)
{
	check_future(L);
	lua_getiuservalue(L, 1, FV_CHAN);
	return 1;
}

static int f_is_complete(lua_State *L)
{
	lua_pushboolean(L, check_future(L)->complete);
	return 1;
}

static int f_is_canceled(lua_State *L)
{
	lua_pushboolean(L, check_future(L)->canceled);
	return 1;
}

/* future:result() -> value, nil | nil, err | nil, nil (not complete).
** A canceled future answers a CANCELED error. [-0, +2, m] */
static int f_result(lua_State *L)
{
	struct future *f = check_future(L);
	if (f->canceled)
		return errors_ret(L, ERRORS_CANCELED, "canceled");
	if (!f->complete) {
		lua_pushnil(L);
		lua_pushnil(L);
		return 2;
	}
	if (f->failed) {
		lua_pushnil(L);
		lua_getiuservalue(L, 1, FV_RESULT);
		return 2;
	}
	lua_getiuservalue(L, 1, FV_RESULT);
	lua_pushnil(L);
	return 2;
}

/* future:error() -> err, true | nil, false. The error is an INTERNAL one
** wrapping the call's ("async call failed"), as the original's is.
** [-0, +2, m] */
static int f_error(lua_State *L)
{
	struct future *f = check_future(L);
	if (!f->complete || !f->failed || f->canceled) {
		lua_pushnil(L);
		lua_pushboolean(L, 0);
		return 2;
	}
	lua_getiuservalue(L, 1, FV_RESULT);        /* the cause */
	errors_push_message(L, -1);                /* message */
	lua_pushstring(L, ERRORS_INTERNAL);        /* kind */
	lua_pushnil(L);                            /* details */
	lua_pushnil(L);                            /* stack */
	lua_pushvalue(L, -5);                      /* cause */
	lua_pushstring(L, "async call failed");    /* context */
	errors_create(L, ERRORS_RETRY_NO);
	lua_remove(L, -2);
	lua_pushboolean(L, 1);
	return 2;
}

/* future:cancel() -> true. Best effort, as in the original: the future is
** marked canceled and completes, its channel closes unless the value was
** already in, and a result that comes later is dropped; a function already
** running runs to its end. [-0, +1, m] */
static int f_cancel(lua_State *L)
{
	struct future *f = check_future(L);
	if (!f->canceled && !f->complete) {
		lua_getiuservalue(L, 1, FV_CHAN);
		lua_getfield(L, -1, "close");
		lua_insert(L, -2);
		lua_call(L, 1, 0);
		f->complete = 1;
	}
	f->canceled = 1;
	lua_pushboolean(L, 1);
	return 1;
}

static int f_gc(lua_State *L)
{
	struct future *f = lua_touserdata(L, 1);
	if (f->c) {
		fcall_detach(f->c);
		f->c = NULL;
	}
	return 0;
}

static int f_tostring(lua_State *L)
{
	lua_pushfstring(L, "Future: %p", lua_touserdata(L, 1));
	return 1;
}

/* }==== */

static const luaL_Reg funcs[] = {
	{"call", m_call},
	{"async", m_async},
	{"new", m_new},
	{NULL, NULL}
};

static const luaL_Reg exec_methods[] = {
	{"with_context", e_with_context},
	{"with_actor", e_with_actor},
	{"with_scope", e_with_scope},
	{"with_options", e_with_options},
	{"call", e_call},
	{"async", e_async},
	{NULL, NULL}
};

static const luaL_Reg future_methods[] = {
	{"response", f_response},
	{"channel", f_response},
	{"is_complete", f_is_complete},
	{"is_canceled", f_is_canceled},
	{"result", f_result},
	{"error", f_error},
	{"cancel", f_cancel},
	{NULL, NULL}
};

/* The metatables of this file's objects, made once per state: by
** luaopen_funcs, or by the first funcs_invoke of a module that calls
** through this one without funcs ever being required. [-0, +0, m] */
static void register_metas(lua_State *L)
{
	if (luaL_newmetatable(L, EXEC_META)) {
		lazylib_methods(L, exec_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, e_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	if (luaL_newmetatable(L, FUTURE_META)) {
		lazylib_methods(L, future_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, f_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, f_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	if (luaL_newmetatable(L, WAIT_META)) {
		lua_pushcfunction(L, wait_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 3);
}

int luaopen_funcs(lua_State *L)
{
	register_metas(L);
	lazylib_new(L, funcs);
	return 1;
}
