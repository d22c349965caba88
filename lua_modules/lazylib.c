/*
** lua_modules/lazylib.c: see lazylib.h. The metatable for one luaL_Reg
** list is shared by every lazy table over it in a state (kept in the
** registry under the list's address).
*/
#include "lazylib.h"

#include <string.h>

/* __index(t, k): upvalue 1 is the luaL_Reg list. [-0, +1, m] */
static int lazy_index(lua_State *L)
{
	const luaL_Reg *r = lua_touserdata(L, lua_upvalueindex(1));
	const char *k;
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	k = lua_tostring(L, 2);
	for (; r->name; r++)
		if (r->func && strcmp(r->name, k) == 0) {
			lua_pushcfunction(L, r->func);
			lua_pushvalue(L, 2);
			lua_pushvalue(L, -2);
			lua_rawset(L, 1);
			return 1;
		}
	return 0;
}

void lazylib_new(lua_State *L, const luaL_Reg *funcs)
{
	lua_newtable(L);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, funcs) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 1);
		lua_pushlightuserdata(L, (void *)funcs);
		lua_pushcclosure(L, lazy_index, 1);
		lua_setfield(L, -2, "__index");
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, funcs);
	}
	lua_setmetatable(L, -2);
}
