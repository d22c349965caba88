/*
** lua_modules/udata.c: the registry slots of udata.h.
*/
#include "udata.h"

#include <lauxlib.h>
#include <lualib.h>

#include "lazylib.h"

int udata_slot[UDATA_NSLOTS];

static void reserve(lua_State *L, int *out)
{
	for (int i = 0; i < UDATA_NSLOTS; i++) {
		lua_pushlightuserdata(L, &udata_slot[i]);
		out[i] = luaL_ref(L, LUA_REGISTRYINDEX);
	}
}

void udata_init(void)
{
	lua_State *L = luaL_newstate();
	if (L == NULL)
		return; /* no slots: every module uses its light userdata key */
	reserve(L, udata_slot);
	lua_close(L);
}

void udata_reserve(lua_State *L)
{
	int got[UDATA_NSLOTS];
	if (udata_slot[0] == 0)
		return;
	reserve(L, got);
	for (int i = 0; i < UDATA_NSLOTS; i++)
		if (got[i] != udata_slot[i])
			luaL_error(L, "udata: registry slot %d is at %d, not %d (a luaL_ref "
				   "ran before udata_reserve)", i, got[i], udata_slot[i]);
}

void udata_make_meta(lua_State *L, int s, const void *key, const char *tname,
		     const luaL_Reg *methods, lua_CFunction tostring)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TNIL) {
		lua_pop(L, 1);
		if (udata_newmetatable(L, tname, 1, 2)) {
			lazylib_method_table(L, methods);
			lua_setfield(L, -2, "__index");
			lua_pushcfunction(L, tostring);
			lua_setfield(L, -2, "__tostring");
		}
		udata_register(L, key);
	}
	udata_set_slot(L, s);
}
