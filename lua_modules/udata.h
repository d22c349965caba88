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

/* luaL_newmetatable(L, tname), its table made with narr array slots, at
** least 1 for udata_register's mark: set later into a table with no array
** part, the mark lands in the hash part, and every check then hashes
** (luaH_getint's hash walk was 5.7 % of a ping-pong's CPU, perf), while
** an array slot is one bounds check. [-0, +1, m] */
static inline int udata_newmetatable(lua_State *L, const char *tname, int narr, int nrec)
{
	if (luaL_getmetatable(L, tname) != LUA_TNIL)
		return 0;
	lua_pop(L, 1);
	lua_createtable(L, narr > 1 ? narr : 1, nrec + 1);
	lua_pushstring(L, tname);
	lua_setfield(L, -2, "__name");
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, tname);
	return 1;
}

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

/*
** Slots. The hottest metatables, those of the two objects made per
** message received (Message, Payload), are also kept in the registry's
** array part, at indices that every state reserves in the same order as
** its first act (udata_reserve, from linit_open): making an object then
** reads an array slot instead of hashing a light userdata key into the
** registry (lua_rawgetp: 4.5 % of a ring of processes' CPU, perf; with
** the slots, a one-shard ping-pong went from 1.45 to 1.55 M msgs/s, the
** medians of 8 runs). A reserved slot holds a light userdata of
** udata_slot's own until its module makes the metatable. A state that
** reserved nothing (no linit_open: a unit test's) falls back to the light
** userdata key: a slot is written only while it holds that mark, and
** trusted only when it holds a table marked with the module's key
** (udata_register's mark at index 1).
**
** Two slots only: each is registry array room in every state, and two
** more (Time, channel: made per tick, per channel) grew a ticking worker
** by 147 bytes (bench/scaling.sh, 100k) for no tick cost measurable.
*/
enum { UDATA_MESSAGE, UDATA_PAYLOAD, UDATA_NSLOTS };

/* The registry index of each slot, the same in every state; 0 before
** udata_init. */
extern int udata_slot[UDATA_NSLOTS];

/* Once, before any state runs: finds the indices on a scratch state. */
void udata_init(void);

/* First thing in a fresh state (nothing else has used luaL_ref on it):
** reserve the slots; raises if they are not at udata_slot's indices.
** A no-op before udata_init. [-0, +0, e] */
void udata_reserve(lua_State *L);

/* Push slot s's metatable (marked with key) and return 1, or push
** something else and return 0. [-0, +1, -] */
static inline int udata_push_slot(lua_State *L, int s, const void *key)
{
	int mine;
	if (lua_rawgeti(L, LUA_REGISTRYINDEX, udata_slot[s]) != LUA_TTABLE)
		return 0;
	mine = lua_rawgeti(L, -1, 1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == key;
	lua_pop(L, 1);
	return mine;
}

/* Keep the metatable on top of the stack in slot s, if this state
** reserved it. [-0, +0, m] */
static inline void udata_set_slot(lua_State *L, int s)
{
	int reserved;
	if (udata_slot[s] <= 0)
		return;
	reserved = lua_rawgeti(L, LUA_REGISTRYINDEX, udata_slot[s]) == LUA_TLIGHTUSERDATA &&
		   lua_touserdata(L, -1) == (void *)&udata_slot[s];
	lua_pop(L, 1);
	if (reserved) {
		lua_pushvalue(L, -1);
		lua_rawseti(L, LUA_REGISTRYINDEX, udata_slot[s]);
	}
}

/* The metatable of a slot's type, made on first use: methods as its
** __index table, tostring as __tostring, marked and registered under key
** and kept in slot s. [-0, +1, m] */
void udata_make_meta(lua_State *L, int s, const void *key, const char *tname,
		     const luaL_Reg *methods, lua_CFunction tostring);

static inline void udata_push_meta(lua_State *L, int s, const void *key, const char *tname,
				   const luaL_Reg *methods, lua_CFunction tostring)
{
	if (udata_push_slot(L, s, key))
		return;
	lua_pop(L, 1);
	udata_make_meta(L, s, key, tname, methods, tostring);
}

#endif
