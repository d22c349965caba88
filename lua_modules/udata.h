/*
** lua_modules/udata.h: userdata type checks by metatable identity.
**
** luaL_checkudata finds the expected metatable by its name, which costs
** an API string lookup (luaS_new: a hash and a strcmp of the name) on
** every method call: about a tenth of a message's hop around a ring of
** processes (bench/messages.sh, perf). A module that checks its objects
** often also keeps its metatable in the registry under a light userdata
** key, the address of a static of its own, for making objects, and marks
** the metatable with the same key at index 1 for checking them: a check
** then reads the metatable's array part instead of hashing into the
** registry (a tenth of a ping-pong's CPU went to those registry lookups).
** Lua code cannot make a light userdata, nor set a userdata's metatable,
** so no object outside the module can carry the mark.
*/
#ifndef LUA_MODULES_UDATA_H
#define LUA_MODULES_UDATA_H

#include <lauxlib.h>

/* Mark the metatable on top of the stack with key and register it under
** key. [-0, +0, m] */
static inline void udata_register(lua_State *L, const void *key)
{
	lua_pushlightuserdata(L, (void *)key);
	lua_rawseti(L, -2, 1);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* The userdata at i if its metatable is key's, else NULL. [-0, +0, -] */
static inline void *udata_test(lua_State *L, int i, const void *key)
{
	void *p = lua_touserdata(L, i);
	int same;

	if (p == NULL || !lua_getmetatable(L, i))
		return NULL;
	same = lua_rawgeti(L, -1, 1) == LUA_TLIGHTUSERDATA &&
	       lua_touserdata(L, -1) == key;
	lua_pop(L, 2);
	return same ? p : NULL;
}

/* As udata_test, raising luaL_checkudata's error (tname) on a mismatch. */
static inline void *udata_check(lua_State *L, int i, const void *key,
				const char *tname)
{
	void *p = udata_test(L, i, key);
	if (p == NULL)
		luaL_typeerror(L, i, tname);
	return p;
}

#endif
