/*
** lua_modules/udata.h: userdata type checks by metatable identity.
**
** luaL_checkudata finds the expected metatable by its name, which costs
** an API string lookup (luaS_new: a hash and a strcmp of the name) on
** every method call: about a tenth of a message's hop around a ring of
** processes (bench/messages.sh, perf). A module that checks its objects
** often also keeps its metatable in the registry under a light userdata
** key, the address of a static of its own, and compares metatables by
** identity.
*/
#ifndef LUA_MODULES_UDATA_H
#define LUA_MODULES_UDATA_H

#include <lauxlib.h>

/* Also key the metatable on top of the stack by key. [-0, +0, m] */
static inline void udata_register(lua_State *L, const void *key)
{
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
	lua_rawgetp(L, LUA_REGISTRYINDEX, key);
	same = lua_rawequal(L, -1, -2);
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
