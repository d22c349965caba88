/*
** lua_modules/ltype.c: type names used as values (spec/typed-lua.md 6.3).
**
** In the original, `string(x)`, `integer(x)` and `Point:is(v)` compile to a
** type value: calling one validates its argument and returns it unchanged
** (no conversion: `string(42)` is an error, `integer(3.0)` passes), and
** `T:is(v)` answers `v, nil` or `nil, "expected T, got X"`. Erasing the
** annotations leaves these as plain calls, so the runtime supplies the
** values: the primitive types as globals (`integer`, `number`, `boolean`,
** `any`, `unknown`, `never`), each a small userdata with methods `is`,
** `kind` and `name`, and `string`, which is the string library, callable
** through a `__call` on its (lazy) metatable. The library gets no `is`
** field: string values index it, and `("x"):is` must stay nil.
**
** Messages follow the original's ltype.go: "expected integer, got number"
** (Lua's type name of the value), "type T expects at least 1 argument",
** "type T validation expects 1 value, got N".
*/
#include "ltype.h"

#include <lauxlib.h>
#include <math.h>

#include "lazylib.h"

#define TYPE_META "wippy.type"

enum tkind { T_STRING, T_INTEGER, T_NUMBER, T_BOOLEAN, T_ANY, T_UNKNOWN, T_NEVER };

static const char *const tnames[] = {
	"string", "integer", "number", "boolean", "any", "unknown", "never"
};

static int matches(lua_State *L, enum tkind k, int i)
{
	switch (k) {
	case T_STRING: return lua_type(L, i) == LUA_TSTRING;
	case T_NUMBER: return lua_type(L, i) == LUA_TNUMBER;
	case T_BOOLEAN: return lua_type(L, i) == LUA_TBOOLEAN;
	case T_ANY: case T_UNKNOWN: return 1;
	case T_NEVER: return 0;
	case T_INTEGER:
		if (lua_isinteger(L, i))
			return 1;
		if (lua_type(L, i) == LUA_TNUMBER) {
			lua_Number n = lua_tonumber(L, i);
			return isfinite(n) && n == floor(n);
		}
		return 0;
	}
	return 0;
}

/* T(v): the arguments start at index `first`. [-0, +1, v] */
static int validate(lua_State *L, enum tkind k, int first)
{
	int nargs = lua_gettop(L) - first + 1;
	if (nargs < 1)
		return luaL_error(L, "type %s expects at least 1 argument", tnames[k]);
	if (nargs != 1)
		return luaL_error(L, "type %s validation expects 1 value, got %d", tnames[k], nargs);
	if (!matches(L, k, first))
		return luaL_error(L, "expected %s, got %s", tnames[k], luaL_typename(L, first));
	lua_pushvalue(L, first);
	return 1;
}

static enum tkind check_type(lua_State *L, int i)
{
	return (enum tkind)*(unsigned char *)luaL_checkudata(L, i, TYPE_META);
}

/* __call(self, v) */
static int type_call(lua_State *L)
{
	return validate(L, check_type(L, 1), 2);
}

/* T:is(v) -> v, nil | nil, message. (The original also takes T.is(v):
** its methods are closures over T; these are shared C functions, so only
** the method-call form knows its type.) */
static int type_is(lua_State *L)
{
	enum tkind k = check_type(L, 1);
	int i = 2;
	luaL_checkany(L, 2);
	if (matches(L, k, i)) {
		lua_pushvalue(L, i);
		lua_pushnil(L);
	} else {
		lua_pushnil(L);
		lua_pushfstring(L, "expected %s, got %s", tnames[k], luaL_typename(L, i));
	}
	return 2;
}

/* T:kind() and T:name() are the same for the primitives. */
static int type_name(lua_State *L)
{
	lua_pushstring(L, tnames[check_type(L, 1)]);
	return 1;
}

static const luaL_Reg type_methods[] = {
	{"is", type_is},
	{"kind", type_name},
	{"name", type_name},
	{NULL, NULL}
};

static int type_tostring(lua_State *L)
{
	return type_name(L);
}

static int push_type(lua_State *L, enum tkind k)
{
	unsigned char *u = lua_newuserdatauv(L, 1, 0);
	*u = (unsigned char)k;
	if (luaL_newmetatable(L, TYPE_META)) {
		lua_pushcfunction(L, type_call);
		lua_setfield(L, -2, "__call");
		lua_pushcfunction(L, type_tostring);
		lua_setfield(L, -2, "__tostring");
		lazylib_methods(L, type_methods);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, "type");
		lua_setfield(L, -2, "__name");
	}
	lua_setmetatable(L, -2);
	return 1;
}

int ltype_open_integer(lua_State *L) { return push_type(L, T_INTEGER); }
int ltype_open_number(lua_State *L) { return push_type(L, T_NUMBER); }
int ltype_open_boolean(lua_State *L) { return push_type(L, T_BOOLEAN); }
int ltype_open_any(lua_State *L) { return push_type(L, T_ANY); }
int ltype_open_unknown(lua_State *L) { return push_type(L, T_UNKNOWN); }
int ltype_open_never(lua_State *L) { return push_type(L, T_NEVER); }

/* __call of the string library: (string, v). */
static int string_call(lua_State *L)
{
	return validate(L, T_STRING, 2);
}

void ltype_callable_string(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	if (!lua_getmetatable(L, idx)) {
		lua_createtable(L, 0, 1);
		lua_pushvalue(L, -1);
		lua_setmetatable(L, idx);
	}
	lua_pushcfunction(L, string_call);
	lua_setfield(L, -2, "__call");
	lua_pop(L, 1);
}
