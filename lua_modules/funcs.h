/*
** lua_modules/funcs.h: require("funcs") (funcs.c), and the call it makes,
** for the modules that call function.lua entries on behalf of their own
** objects (contract methods, queue consumers).
*/
#ifndef LUA_MODULES_FUNCS_H
#define LUA_MODULES_FUNCS_H

#include <lua.h>

#define FUTURE_META "Future"

/* require("funcs"): call, async, new. [-0, +1, m] */
int luaopen_funcs(lua_State *L);

/*
** Call the function.lua entry with full id target from the running
** process coroutine, with the nargs values from index first as its
** arguments. The callee's context values are the caller's with the table
** at vals over them (0: none); its actor and scope are the caller's, or
** the Actor at ai / the Scope at si (0: none). Use as `return
** funcs_invoke(...)`: a sync call blocks and returns value, nil or nil,
** err; an async one returns a Future (failed at once for a missing or
** non-function target) or nil, err. Raises outside a process coroutine.
*/
int funcs_invoke(lua_State *L, const char *target, int first, int nargs,
		 int vals, int ai, int si, int async);

#endif
