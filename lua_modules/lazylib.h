/*
** lua_modules/lazylib.h: module and method tables filled on first use.
**
** A process pays Lua memory for every table slot and interned name it
** holds, and most processes use a handful of a module's functions. A lazy
** table starts empty; its metatable's __index finds the name in the static
** luaL_Reg list, stores the (light, allocation-free) C function in the
** table and returns it. After first use a lookup is a plain table hit.
** `pairs` fills in every name first, so iterating (copying a library,
** listing a module) sees all of it; a bare `next` sees only what is there.
*/
#ifndef LUA_MODULES_LAZYLIB_H
#define LUA_MODULES_LAZYLIB_H

#include <lauxlib.h>

/* next(t, k) as a C function: the iterator a __pairs returns after it
** has filled its table. [-1, +(2|1), e] */
int lazylib_next(lua_State *L);

/* The entry of funcs named k (compared first byte first), or NULL. */
const luaL_Reg *lazylib_find(const luaL_Reg *funcs, const char *k);

/* Push a new lazy table over funcs (a static, NULL-terminated list of
** functions without upvalues). [-0, +1, m] */
void lazylib_new(lua_State *L, const luaL_Reg *funcs);

/* Same, plus `makers`: for these names the function is called (no
** arguments) on first use and the value it returns is stored instead, for
** sub-tables and constants (process.registry, process.event). */
void lazylib_new2(lua_State *L, const luaL_Reg *funcs, const luaL_Reg *makers);

/* Push an __index function for a metatable whose methods are funcs: it
** answers each lookup from the static list, storing nothing. One closure
** per metatable instead of a method table plus its lazy metatable; a
** method lookup costs a short scan of the list. [-0, +1, m] */
void lazylib_methods(lua_State *L, const luaL_Reg *funcs);

/* Push a plain table of funcs, for the __index of objects whose methods
** run once per message (Message, Payload): there a lookup through
** lazylib_methods' function is a C call of its own, a tenth of a
** ping-pong's hop. Costs the table in each state that makes one such
** object. [-0, +1, m] */
void lazylib_method_table(lua_State *L, const luaL_Reg *funcs);

#endif
