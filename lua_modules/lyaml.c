/*
** lua_modules/lyaml.c: require("yaml") with the original runtime's API,
** encode(table) and decode(string), each returning `value, nil` or
** `nil, err`, never raising on bad input.
**
** encode: the argument must be a table (else INVALID "table expected").
** A table with #t > 0 is a sequence of t[1..#t] (other keys are dropped,
** as the original's conversion does), any other table a mapping with its
** keys as strings, sorted, as Go's YAML encoder writes maps; the empty
** table is "{}". Values that YAML cannot hold are refused before anything
** is written, with an INTERNAL error wrapped "encode failed" that names
** the place: a cycle ("cycle at a.b"), a function, thread or userdata
** ("cannot encode function at a.1"); error objects are written as their
** messages. The emitter is the payload codec's (lpayload_to_yaml), so a
** yaml.encode and a YAML payload are the same bytes.
**
** decode: the argument must be a non-empty string (INVALID "string
** expected", "input cannot be empty"). libfyaml parses it (YAML 1.2 core
** schema; only the first document; aliases resolved); malformed YAML is an
** INTERNAL error (wrap context "decode failed") whose message starts with
** the line:col of the fault ("2:4: error: ..."). A stream with no
** document (only comments) decodes to nil, nil.
**
** Thread affinity: none; the module has no state.
*/
#include "lua_modules/lyaml.h"

#include <lauxlib.h>
#include <string.h>

#include "lua_modules/json.h"
#include "lua_modules/lazylib.h"
#include "lua_modules/payload.h"
#include "runtime/errors.h"

/*
** Push the dotted path of the keys on the walk so far: path is a table
** {k1, k2, ...} of depth entries. [-0, +1, m]
*/
static void push_path(lua_State *L, int path, int depth)
{
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (int i = 1; i <= depth; i++) {
		lua_rawgeti(L, path, i);
		if (i > 1)
			luaL_addchar(&b, '.');
		luaL_addvalue(&b);
	}
	if (depth == 0)
		luaL_addstring(&b, "the top level");
	luaL_pushresult(&b);
}

/*
** Walk the table at idx (absolute) as the emitter will, refusing what it
** cannot write. `open` (absolute) is a set of the tables on the current
** path, so a table met again below itself is a cycle, while a table
** shared by two branches is written twice, as the original does. Returns
** 0, or pushes the message and returns -1. [-0, +(0|1), m]
*/
static int check(lua_State *L, int idx, int open, int path, int depth)
{
	lua_Unsigned n = lua_rawlen(L, idx);
	int r = 0;

	if (depth >= JSON_MAXDEPTH) {
		push_path(L, path, depth);
		lua_pushfstring(L, "tables nested deeper than %d at %s", JSON_MAXDEPTH,
				lua_tostring(L, -1));
		lua_remove(L, -2);
		return -1;
	}
	luaL_checkstack(L, 6, "yaml nesting");
	lua_pushvalue(L, idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, open);
	lua_pushnil(L);
	while (r == 0 && lua_next(L, idx)) {
		int t = lua_type(L, -1);
		/* Only the elements 1..#t of a sequence are written. */
		if (n > 0 && !(lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1
			       && (lua_Unsigned)lua_tointeger(L, -2) <= n)) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		if (lua_type(L, -1) != LUA_TSTRING) {
			luaL_tolstring(L, -1, NULL);
			lua_remove(L, -2);
		}
		lua_rawseti(L, path, depth + 1);
		if (t == LUA_TTABLE) {
			lua_pushvalue(L, -1);
			if (lua_rawget(L, open) != LUA_TNIL) {
				lua_pop(L, 1);
				push_path(L, path, depth + 1);
				lua_pushfstring(L, "cycle at %s", lua_tostring(L, -1));
				lua_remove(L, -2);
				r = -1;
				break;
			}
			lua_pop(L, 1);
			r = check(L, lua_absindex(L, -1), open, path, depth + 1);
			if (r != 0)
				break;
		} else if (t == LUA_TFUNCTION || t == LUA_TTHREAD || t == LUA_TLIGHTUSERDATA
			   || (t == LUA_TUSERDATA && !errors_is_error(L, -1))) {
			push_path(L, path, depth + 1);
			lua_pushfstring(L, "cannot encode %s at %s", lua_typename(L, t),
					lua_tostring(L, -1));
			lua_remove(L, -2);
			r = -1;
			break;
		}
		lua_pop(L, 1);
	}
	if (r != 0) {
		/* message on top; below it the value and key of the walk */
		lua_replace(L, -3);
		lua_pop(L, 1);
		return r;
	}
	lua_pushvalue(L, idx);
	lua_pushnil(L);
	lua_rawset(L, open);
	lua_pushnil(L);
	lua_rawseti(L, path, depth + 1);
	return 0;
}

/* yaml.encode(table) -> string, nil | nil, err. [-0, +2, m] */
static int y_encode(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TTABLE)
		return errors_ret(L, ERRORS_INVALID, "table expected");
	lua_settop(L, 1);
	lua_newtable(L);	/* 2: tables open on the path */
	lua_newtable(L);	/* 3: keys of the path */
	if (check(L, 1, 2, 3, 0) != 0 || lpayload_to_yaml(L, 1) != 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "encode failed", "%s",
					  lua_tostring(L, -1));
	lua_pushnil(L);
	return 2;
}

/* yaml.decode(string) -> value, nil | nil, err. [-0, +2, m] */
static int y_decode(lua_State *L)
{
	size_t n;
	const char *s;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "string expected");
	s = lua_tolstring(L, 1, &n);
	if (n == 0)
		return errors_ret(L, ERRORS_INVALID, "input cannot be empty");
	if (lpayload_from_yaml(L, s, n) != 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "decode failed", "%s",
					  lua_tostring(L, -1));
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg funcs[] = {
	{"encode", y_encode},
	{"decode", y_decode},
	{NULL, NULL}
};

int luaopen_yaml(lua_State *L)
{
	lazylib_new(L, funcs);
	return 1;
}
