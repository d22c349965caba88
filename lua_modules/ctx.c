/*
** lua_modules/ctx.c: require("ctx"), the context values of the running
** process: ctx.get(key) and ctx.all().
**
** The values come from the spawner: process.with_context(...):spawn()
** sets them, a plain process.spawn passes the spawner's own on (the
** original's values key is inheritable), and they stay fixed for the
** process's life. They live encoded in struct proc (p->ctx, one table,
** empty when there are none) and are decoded on every read, so each call
** returns fresh copies: nothing a caller does to a returned table changes
** what the next call sees, as in the original, whose values are Go data.
*/
#include <lauxlib.h>

#include "runtime/errors.h"
#include "lazylib.h"
#include "modules.h"
#include "runtime/payload.h"
#include "runtime/proc.h"

/* Push the context table (a new empty one when there is none). Returns 0
** after pushing nil, err if the stored values cannot be decoded. */
static int push_values(lua_State *L)
{
	struct proc *p = proc_of(L);
	int top = lua_gettop(L);
	if (p->ctx.len == 0) {
		lua_newtable(L);
		return 1;
	}
	if (payload_decode(L, &p->ctx) == 1 && lua_istable(L, -1))
		return 1;
	lua_settop(L, top);
	errors_ret(L, ERRORS_INTERNAL, "context values are corrupt");
	return 0;
}

/* ctx.get(key) -> value, nil | nil, err (INVALID for an empty key,
** NOT_FOUND for a key with no value). [-0, +2, e] */
static int c_get(lua_State *L)
{
	size_t len;
	const char *key = luaL_checklstring(L, 1, &len);
	if (len == 0)
		return errors_ret(L, ERRORS_INVALID, "empty key");
	lua_settop(L, 1);
	if (!push_values(L))
		return 2;
	if (lua_getfield(L, 2, key) == LUA_TNIL)
		return errors_ret(L, ERRORS_NOT_FOUND, "key not found: %s", key);
	lua_pushnil(L);
	return 2;
}

/* ctx.all() -> table, nil: every value, a new table per call. [-0, +2, m] */
static int c_all(lua_State *L)
{
	if (!push_values(L))
		return 2;
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg funcs[] = {
	{"get", c_get},
	{"all", c_all},
	{NULL, NULL}
};

int luaopen_ctx(lua_State *L)
{
	lazylib_new(L, funcs);
	return 1;
}
