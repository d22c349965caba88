/*
** test/unit/lua_modules/udata.c: the registry slots of lua_modules/udata.h.
**
** Before udata_init nothing is reserved and nothing is written; after it,
** a fresh state's slots sit where udata_slot says, hold their mark until a
** module stores its metatable, and later refs never land on them. A state
** that reserved nothing keeps its own refs at those indices untouched,
** and a table there that lacks the module's mark is not taken for the
** metatable.
*/
#include "lua_modules/udata.h"

#include <lualib.h>
#include <string.h>

#include "tap.h"

static const char key_a, key_b;

static int call_reserve(lua_State *L)
{
	udata_reserve(L);
	return 0;
}

/* A metatable marked with key, as udata_register leaves it. [-0, +1] */
static void new_marked(lua_State *L, const void *key)
{
	lua_createtable(L, 1, 0);
	udata_register(L, key);
}

int main(void)
{
	lua_State *L = luaL_newstate();

	/* {==== Before udata_init ====} */
	udata_reserve(L);
	ok(lua_gettop(L) == 0, "reserve before init leaves the stack alone");
	new_marked(L, &key_a);
	udata_set_slot(L, UDATA_MESSAGE);
	ok(lua_gettop(L) == 1, "set_slot before init writes nothing");
	ok(!udata_push_slot(L, UDATA_MESSAGE, &key_a), "no slot before init");
	lua_close(L);

	/* {==== Reserved ====} */
	udata_init();
	int distinct = 1;
	for (int i = 0; i < UDATA_NSLOTS; i++) {
		distinct &= udata_slot[i] > 0;
		for (int j = 0; j < i; j++)
			distinct &= udata_slot[i] != udata_slot[j];
	}
	ok(distinct, "udata_init gives %d distinct positive indices", UDATA_NSLOTS);

	L = luaL_newstate();
	udata_reserve(L);
	ok(lua_gettop(L) == 0, "reserve is balanced");
	int marked = 1;
	for (int i = 0; i < UDATA_NSLOTS; i++) {
		marked &= lua_rawgeti(L, LUA_REGISTRYINDEX, udata_slot[i]) == LUA_TLIGHTUSERDATA &&
			  lua_touserdata(L, -1) == (void *)&udata_slot[i];
		lua_pop(L, 1);
	}
	ok(marked, "every slot holds its reservation mark");
	ok(!udata_push_slot(L, UDATA_MESSAGE, &key_a), "an empty slot is no metatable");
	lua_pop(L, 1);

	new_marked(L, &key_a);
	const void *mt = lua_topointer(L, -1);
	udata_set_slot(L, UDATA_MESSAGE);
	ok(lua_gettop(L) == 1, "set_slot keeps the metatable on the stack");
	lua_pop(L, 1);
	ok(udata_push_slot(L, UDATA_MESSAGE, &key_a) && lua_topointer(L, -1) == mt,
	   "the slot gives back the same metatable");
	lua_pop(L, 1);
	ok(!udata_push_slot(L, UDATA_MESSAGE, &key_b), "a slot is trusted only with its key");
	lua_pop(L, 1);
	new_marked(L, &key_b);
	udata_set_slot(L, UDATA_MESSAGE);
	lua_pop(L, 1);
	ok(udata_push_slot(L, UDATA_MESSAGE, &key_a) && lua_topointer(L, -1) == mt,
	   "a filled slot is never overwritten");
	lua_pop(L, 1);

	int clash = 0;
	for (int k = 0; k < 64; k++) {
		lua_pushinteger(L, k);
		int r = luaL_ref(L, LUA_REGISTRYINDEX);
		for (int i = 0; i < UDATA_NSLOTS; i++)
			clash |= r == udata_slot[i];
	}
	ok(!clash, "later refs never land on a slot");
	lua_close(L);

	/* {==== A state that reserved nothing ====} */
	L = luaL_newstate();
	for (int i = 0; i < UDATA_NSLOTS + 2; i++) {
		lua_createtable(L, 0, 0); /* unmarked tables where the slots would be */
		(void)luaL_ref(L, LUA_REGISTRYINDEX);
	}
	ok(!udata_push_slot(L, UDATA_MESSAGE, &key_a), "an unmarked table in place is no metatable");
	lua_pop(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, udata_slot[UDATA_MESSAGE]);
	const void *theirs = lua_topointer(L, -1);
	lua_pop(L, 1);
	new_marked(L, &key_a);
	udata_set_slot(L, UDATA_MESSAGE);
	lua_pop(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, udata_slot[UDATA_MESSAGE]);
	ok(lua_topointer(L, -1) == theirs, "set_slot leaves another's ref alone");
	lua_pop(L, 1);

	/* A luaL_ref taken before udata_reserve shifts the slots: caught. */
	lua_close(L);
	L = luaL_newstate();
	lua_pushboolean(L, 1);
	(void)luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcfunction(L, call_reserve);
	ok(lua_pcall(L, 0, 0, 0) != LUA_OK && strstr(lua_tostring(L, -1), "registry slot"),
	   "reserving after another ref raises");
	lua_close(L);
	return tap_done();
}
