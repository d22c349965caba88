/*
** lua_modules/errors.h: the global `errors` and the string library's
** reading of error objects as their messages.
**
** The error object these work on, with its kinds, accessors and the
** errors_ret() convention C modules report failures in, is
** runtime/errors.h; this header is only the Lua-facing library:
** errors.new/wrap/is/unwrap/call_stack and errors.<KIND> constants.
*/
#ifndef LUA_MODULES_ERRORS_H
#define LUA_MODULES_ERRORS_H

#include <lua.h>
#include <lauxlib.h>

/*
** Open the module: register the error metatable if this state lacks it,
** build the `errors` table (functions plus one string constant per kind),
** store it in the global `errors` and leave it on the stack. Returns 1;
** usable with luaL_requiref. [-0, +1, m]
*/
int errors_luaopen(lua_State *L);

/*
** Make the string library functions in `funcs` (a NULL-terminated list of
** harvested lstrlib functions) accept error objects wherever they take a
** string, by reading such an argument as its message, as the original's
** string library does (string.find(err, "x"), ("x"):rep(2, err)). Rewrites
** the list in place, once, at boot, before any state uses it; the
** replacement functions run the originals in the same call frame, so
** argument errors still name the original function. Aborts if the list
** is longer than the wrappers available.
*/
void errors_wrap_strlib(luaL_Reg *funcs);

#endif
