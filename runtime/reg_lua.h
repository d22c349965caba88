/*
** runtime/reg_lua.h: registry values as Lua values, for the runtime's and
** the modules' code that hands entries to Lua (service inputs, the
** registry module). Kept apart from registry.h, which knows no Lua.
*/
#ifndef RUNTIME_REG_LUA_H
#define RUNTIME_REG_LUA_H

#include <lua.h>

struct reg_value;

/* Push v as a Lua value: scalars by type, sequences as lists, mappings as
** string-keyed tables; NULL as nil. [-0, +1, m] */
void reg_value_push(lua_State *L, const struct reg_value *v);

#endif
