/*
** lua_modules/lazylib.c: see lazylib.h. Each lazy table has its own small
** metatable: a state opens each library once, so sharing one through the
** registry would only cost a registry slot (and its rehashes).
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

int lazylib_next(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
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

/* __pairs(t): fill in every name not yet there, then iterate t as a
** plain table, so copying a library with pairs sees all of it. A plain
** function (no closure to allocate per table): the lists come from the
** upvalues of t's __index. [-0, +3, m] */
static int lazy_pairs(lua_State *L)
{
	const luaL_Reg *r, *m;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (!lua_getmetatable(L, 1) || lua_getfield(L, 2, "__index") != LUA_TFUNCTION ||
	    lua_tocfunction(L, 3) != lazy_index)
		return luaL_error(L, "__pairs: not a lazy table");
	lua_getupvalue(L, 3, 1);
	lua_getupvalue(L, 3, 2);
	r = lua_touserdata(L, 4);
	m = lua_touserdata(L, 5);
	lua_settop(L, 1);
	for (; r && r->name; r++) {
		if (r->func == NULL)
			continue;
		lua_pushstring(L, r->name);
		if (lua_rawget(L, 1) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_pushstring(L, r->name);
			lua_pushcfunction(L, r->func);
			lua_rawset(L, 1);
		}
		lua_settop(L, 1);
	}
	for (; m && m->name; m++) {
		lua_pushstring(L, m->name);
		if (lua_rawget(L, 1) == LUA_TNIL) {
			lua_settop(L, 1);
			lua_pushstring(L, m->name);
			m->func(L);
			lua_settop(L, 3);
			lua_rawset(L, 1);
		}
		lua_settop(L, 1);
	}
	lua_pushcfunction(L, lazylib_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

void lazylib_new2(lua_State *L, const luaL_Reg *funcs, const luaL_Reg *makers)
{
	lua_newtable(L);
	lua_createtable(L, 0, 2);
	lua_pushlightuserdata(L, (void *)funcs);
	lua_pushlightuserdata(L, (void *)makers);
	lua_pushcclosure(L, lazy_index, 2);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, lazy_pairs);
	lua_setfield(L, -2, "__pairs");
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

void lazylib_method_table(lua_State *L, const luaL_Reg *funcs)
{
	int n = 0;
	while (funcs[n].name)
		n++;
	lua_createtable(L, 0, n);
	luaL_setfuncs(L, funcs, 0);
}
