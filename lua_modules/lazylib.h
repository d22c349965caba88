/*
** lua_modules/lazylib.h: module and method tables filled on first use.
**
** A process pays Lua memory for every table slot and interned name it
** holds, and most processes use a handful of a module's functions. A lazy
** table starts empty; its metatable's __index finds the name in the static
** luaL_Reg list, stores the (light, allocation-free) C function in the
** table and returns it. After first use a lookup is a plain table hit.
*/
#ifndef LUA_MODULES_LAZYLIB_H
#define LUA_MODULES_LAZYLIB_H

#include <lauxlib.h>

/* Push a new lazy table over funcs (a static, NULL-terminated list of
** functions without upvalues). [-0, +1, m] */
void lazylib_new(lua_State *L, const luaL_Reg *funcs);

#endif
