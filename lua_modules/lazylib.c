/*
** lua_modules/lazylib.c: see lazylib.h. The metatable for one luaL_Reg
** list is shared by every lazy table over it in a state (kept in the
** registry under the list's address).
*/
#include "lazylib.h"

#include <string.h>

const luaL_Reg *lazylib_find(const luaL_Reg *r, const char *k)
{
	for (; r && r->name; r++)
		if (r->name[0] == k[0] && strcmp(r->name, k) == 0)
			return r;
	return NULL;
}

/* __index(t, k): upvalue 1 is the luaL_Reg list of functions, upvalue 2
** the list of makers (or NULL). [-0, +1, m] */
static int lazy_index(lua_State *L)
{
	const luaL_Reg *r = lua_touserdata(L, lua_upvalueindex(1));
	const luaL_Reg *m = lua_touserdata(L, lua_upvalueindex(2));
	const char *k;
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	k = lua_tostring(L, 2);
	if ((r = lazylib_find(r, k)) != NULL && r->func) {
		lua_pushcfunction(L, r->func);
	} else if ((m = lazylib_find(m, k)) != NULL) {
		lua_settop(L, 2);
		m->func(L);
		lua_settop(L, 3);
	} else {
		return 0;
	}
	lua_pushvalue(L, 2);
	lua_pushvalue(L, -2);
	lua_rawset(L, 1);
	return 1;
}

void lazylib_new2(lua_State *L, const luaL_Reg *funcs, const luaL_Reg *makers)
{
	lua_newtable(L);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, funcs) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 1);
		lua_pushlightuserdata(L, (void *)funcs);
		lua_pushlightuserdata(L, (void *)makers);
		lua_pushcclosure(L, lazy_index, 2);
		lua_setfield(L, -2, "__index");
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, funcs);
	}
	lua_setmetatable(L, -2);
}

void lazylib_new(lua_State *L, const luaL_Reg *funcs)
{
	lazylib_new2(L, funcs, NULL);
}

/* __index(obj, k) of a metatable: upvalue 1 is the method list. */
static int method_index(lua_State *L)
{
	const luaL_Reg *r = lua_touserdata(L, lua_upvalueindex(1));
	const char *k = lua_tostring(L, 2);
	if (k == NULL || lua_type(L, 2) != LUA_TSTRING ||
	    (r = lazylib_find(r, k)) == NULL || r->func == NULL)
		return 0;
	lua_pushcfunction(L, r->func);
	return 1;
}

void lazylib_methods(lua_State *L, const luaL_Reg *funcs)
{
	lua_pushlightuserdata(L, (void *)funcs);
	lua_pushcclosure(L, method_index, 1);
}
