/*
** runtime/reg_lua.c: registry values as Lua values (see reg_lua.h).
*/
#include "reg_lua.h"

#include "registry.h"

void reg_value_push(lua_State *L, const struct reg_value *v)
{
	switch (v ? v->type : REG_NULL) {
	case REG_NULL: lua_pushnil(L); break;
	case REG_BOOL: lua_pushboolean(L, v->b); break;
	case REG_INT: lua_pushinteger(L, v->i); break;
	case REG_FLOAT: lua_pushnumber(L, v->f); break;
	case REG_STR: lua_pushstring(L, v->str); break;
	case REG_SEQ:
		lua_createtable(L, (int)v->n, 0);
		for (size_t i = 0; i < v->n; i++) {
			reg_value_push(L, v->items[i]);
			lua_seti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case REG_MAP:
		lua_createtable(L, 0, (int)v->n);
		for (size_t i = 0; i < v->n; i++) {
			reg_value_push(L, v->items[i]);
			lua_setfield(L, -2, v->keys[i]);
		}
		break;
	}
}
