/*
** lua_modules/ltype.h: type names used as values: `string(x)`,
** `integer(x)`, `integer:is(x)` (spec/typed-lua.md 6.3).
*/
#ifndef LUA_MODULES_LTYPE_H
#define LUA_MODULES_LTYPE_H

#include <lua.h>

/* The globals `integer`, `number`, `boolean`, `any`, `unknown`, `never`:
** each pushes a new type value (callable: T(v) returns v or raises
** "expected T, got X"; methods is, kind, name). [-0, +1, m] */
int ltype_open_integer(lua_State *L);
int ltype_open_number(lua_State *L);
int ltype_open_boolean(lua_State *L);
int ltype_open_any(lua_State *L);
int ltype_open_unknown(lua_State *L);
int ltype_open_never(lua_State *L);

/* Make the string library table at idx callable as the `string` type:
** string(v) returns v if it is a string, else raises. Sets __call on its
** metatable (made if it has none); adds no field. [-0, +0, m] */
void ltype_callable_string(lua_State *L, int idx);

#endif
