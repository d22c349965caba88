/*
** test/unit/lua_modules/errors.c: the error object and the `errors` table.
**
** Each check is a Lua chunk that must return true; the C API is checked
** directly against the same objects.
*/
#include "lua_modules/errors.h"
#include "runtime/errors.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

/* Run chunk `code`; ok if it runs and returns true. */
static void check(lua_State *L, const char *name, const char *code)
{
	int r = luaL_dostring(L, code);
	int good = r == LUA_OK && lua_toboolean(L, -1);

	ok(good, "%s", name);
	if (!good)
		printf("# %s\n", r == LUA_OK ? "returned false" : lua_tostring(L, -1));
	lua_settop(L, 0);
}

/* A C function returning nil, err the way modules do. */
static int c_fail(lua_State *L)
{
	return errors_ret(L, ERRORS_NOT_FOUND, "no such key %s (%d)",
			  luaL_checkstring(L, 1), 42);
}

static void test_lua_api(lua_State *L)
{
	check(L, "kind constants are the original's strings",
	      "return errors.NOT_FOUND == 'NotFound' and errors.UNKNOWN == '' and "
	      "errors.INVALID == 'Invalid' and "
	      "errors.ALREADY_EXISTS == 'AlreadyExists' and "
	      "errors.PERMISSION_DENIED == 'PermissionDenied' and "
	      "errors.TIMEOUT == 'Timeout' and errors.CANCELED == 'Canceled' and "
	      "errors.UNAVAILABLE == 'Unavailable' and "
	      "errors.INTERNAL == 'Internal' and errors.CONFLICT == 'Conflict' "
	      "and errors.RATE_LIMITED == 'RateLimited'");
	check(L, "new(string) defaults",
	      "local e = errors.new('boom') return e:message() == 'boom' and "
	      "e:kind() == '' and e:retryable() == nil and "
	      "e:details() == nil and type(e:stack()) == 'string'");
	check(L, "new(table) keeps every field, details as a copy",
	      "local d = {id = 7, sub = {a = 1, [2] = 'x'}, [1] = 'gone'} "
	      "local e = errors.new{message = 'gone', "
	      "kind = errors.NOT_FOUND, retryable = false, details = d} "
	      "local got = e:details() "
	      "return e:message() == 'gone' and e:kind() == 'NotFound' and "
	      "e:retryable() == false and got ~= d and got.id == 7 and "
	      "got[1] == nil and got.sub.a == 1 and got.sub[2] == nil and "
	      "e:details() ~= got");
	check(L, "new(table) ignores odd kind/retryable/details",
	      "local e = errors.new{message = 'm', kind = 5, retryable = 1, "
	      "details = 'x'} return e:kind() == '' and e:retryable() == nil "
	      "and e:details() == nil");
	check(L, "empty details are nil",
	      "return errors.new{message = 'm', details = {}}:details() == nil and "
	      "errors.new{message = 'm', details = {1}}:details() == nil");
	check(L, "new(table) accepts a custom kind",
	      "return errors.new{message='x', kind='MY_KIND'}:kind() == 'MY_KIND'");
	check(L, "new rejects bad arguments",
	      "local function msg(...) local ok, e = pcall(errors.new, ...) "
	      "return not ok and e end "
	      "return msg():find('expected string or table') and "
	      "msg(true):find('expected string or table') and "
	      "msg(3):find('expected string or table') and "
	      "msg(errors.new('e')):find('expected string or table') and "
	      "msg({}):find('message field is required') and "
	      "msg({message = {}}):find('message must be a string')");
	check(L, "details cycles are refused",
	      "local t = {} t.t = t local ok, e = pcall(errors.new, "
	      "{message = 'm', details = t}) return not ok and "
	      "e:find('nested too deeply') ~= nil");
	check(L, "tostring gives the message",
	      "return tostring(errors.new('hello')) == 'hello'");
	check(L, "concatenation uses the message",
	      "local e = errors.new('b') return 'a: ' .. e == 'a: b' and e .. '!' == 'b!'");
	check(L, "error() with an error object keeps it",
	      "local e = errors.new{message='m', kind=errors.CONFLICT} "
	      "local okk, got = pcall(error, e) return not okk and got == e and "
	      "errors.is(got, errors.CONFLICT)");
	check(L, "stack lists source:line (name) frames",
	      "local function maker() return errors.new('s') end "
	      "local s = maker():stack() return s:find('^  %[C%]:%-1 %(new%)\\n') "
	      "~= nil and s:find('\\n  [^\\n]+:%d+ %(maker%)\\n') ~= nil");
	check(L, "wrap keeps message/kind/retryable/details, context apart",
	      "local e = errors.new{message='inner', "
	      "kind=errors.UNAVAILABLE, retryable=true, details={k = 1}} "
	      "local w = errors.wrap(e, 'ctx') return w:message() == 'inner' "
	      "and tostring(w) == 'inner' and w:kind() == 'Unavailable' and "
	      "w:retryable() == true and w:details().k == 1 and "
	      "w:stack():find('^ctx\\n') ~= nil and errors.unwrap(w) == e");
	check(L, "wrap of a wrap takes the inner Go error text",
	      "local e = errors.new{message='x', kind=errors.NOT_FOUND} "
	      "local w = errors.wrap(errors.wrap(e, 'b'), 'a') "
	      "return w:message() == 'b: x' and errors.is(w, errors.NOT_FOUND) "
	      "and not errors.is(w, errors.INVALID) and "
	      "w:stack():find('^a\\n.*\\nb\\n') ~= nil");
	check(L, "wrap refuses what is not a string or an error",
	      "local e = errors.new('q') return not pcall(errors.wrap, nil, 'c') "
	      "and not pcall(errors.wrap, e) and not pcall(errors.wrap, e, 1) "
	      "and not pcall(errors.wrap, {}, 'c')");
	check(L, "wrap of a string makes an unknown-kind error",
	      "local w = errors.wrap('plain', 'ctx') return w:message() == "
	      "'plain' and w:kind() == errors.UNKNOWN and w:retryable() == nil "
	      "and errors.unwrap(w) == nil");
	check(L, "is() on non-errors is false, a missing kind raises",
	      "return errors.is('NotFound', 'NotFound') == false and "
	      "errors.is(nil, 'X') == false and errors.is({}, 'X') == false and "
	      "not pcall(errors.is, errors.new('a')) and "
	      "not pcall(errors.is, errors.new('a'), {})");
	check(L, "is() reads an error kind argument as its message",
	      "local e = errors.new{message='m', kind='Timeout'} "
	      "return errors.is(e, errors.new('Timeout')) and "
	      "not errors.is(e, e)");
	check(L, "call_stack returns thread and frames",
	      "local function deep() return errors.new('s') end "
	      "local cs = errors.call_stack(deep()) local f = cs.frames "
	      "return cs.thread:find('^0x') and f[1].level == 0 and "
	      "f[1].type == 'C' and f[1].name == 'new' and f[1].line == -1 and "
	      "f[2].level == 1 and f[2].name == 'deep' and f[2].type == 'Lua' and "
	      "f[2].line > 0 and type(f[2].source) == 'string'");
	check(L, "call_stack of a non-error is nil",
	      "return errors.call_stack('x') == nil and errors.call_stack() == nil");
	check(L, "methods answer non-errors with empty values",
	      "local e = errors.new('x') return e.message({}) == '' and "
	      "e.kind('x') == '' and e.retryable(1) == nil and "
	      "e.details() == nil and e.stack(2) == ''");
	check(L, "C errors_ret gives nil, err",
	      "local v, e = c_fail('k') return v == nil and e:kind() == "
	      "'NotFound' and e:message() == 'no such key k (42)' and "
	      "e:stack() == '' and e:retryable() == false and "
	      "errors.call_stack(e) == nil and errors.is(e, errors.NOT_FOUND)");
}

/* Lua's string functions wrapped by errors_wrap_strlib, as the sandbox
** does; errors convert, other values go through untouched. */
static void test_strlib(lua_State *L)
{
	static luaL_Reg list[32];
	int n = 0, i;

	luaL_requiref(L, "string", luaopen_string, 0);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		if (lua_tocfunction(L, -1) && lua_getupvalue(L, -1, 1) == NULL &&
		    n < 31) {
			list[n].name = strdup(lua_tostring(L, -2));
			list[n].func = lua_tocfunction(L, -1);
			n++;
		} else if (lua_tocfunction(L, -1)) {
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	errors_wrap_strlib(list);
	lua_newtable(L);
	luaL_setfuncs(L, list, 0);
	lua_setglobal(L, "wstring");
	lua_settop(L, 0);
	check(L, "wrapped string functions read errors as their message",
	      "local e = errors.new('not found here') "
	      "return wstring.find(e, 'found', 1, true) == 5 and "
	      "wstring.len(e) == 14 and wstring.upper(e) == 'NOT FOUND HERE' and "
	      "wstring.rep('ab', 2, errors.new('-')) == 'ab-ab' and "
	      "wstring.format('%s', e) == 'not found here'");
	check(L, "wrapped functions keep their own argument errors",
	      "local ok, m = pcall(function() return wstring.find({}, 'x') end) "
	      "return not ok and m:find(\"bad argument #1 to 'find'\") ~= nil");
	for (i = 0; i < n; i++)
		free((void *)list[i].name);
}

static void test_c_api(lua_State *L)
{
	size_t len;
	const char *s;

	errors_push(L, NULL, "plain %s", "msg");
	ok(errors_is_error(L, -1), "errors_push makes an error");
	s = errors_message(L, -1, &len);
	ok(len == 9 && strcmp(s, "plain msg") == 0, "errors_message");
	s = errors_kind(L, -1, &len);
	ok(strcmp(s, "") == 0 && len == 0, "NULL kind is the unknown kind");
	ok(errors_stack(L, -1, &len) == NULL && len == 0, "no stack from C");
	ok(errors_context(L, -1, &len) == NULL && len == 0, "no context from C");
	ok(errors_retryable(L, -1) == ERRORS_RETRY_NO, "not retryable");
	ok(errors_push_details(L, -1) == LUA_TNIL, "no details");
	lua_pop(L, 1);
	ok(errors_push_cause(L, -1) == LUA_TNIL, "no cause");
	lua_pop(L, 1);
	ok(lua_gettop(L) == 1, "accessors keep the stack balanced");

	/* errors_create from parts, with the first error as the cause */
	lua_pushliteral(L, "outer");
	lua_pushliteral(L, ERRORS_RATE_LIMITED);
	lua_newtable(L);
	lua_pushinteger(L, 3);
	lua_setfield(L, -2, "n");
	lua_pushliteral(L, "stack text");
	lua_pushvalue(L, 1);
	lua_pushliteral(L, "while testing");
	errors_create(L, ERRORS_RETRY_YES);
	ok(lua_gettop(L) == 2 && errors_is_error(L, 2), "errors_create pops 6 pushes 1");
	ok(strcmp(errors_kind(L, 2, NULL), "RateLimited") == 0, "kind from parts");
	ok(errors_retryable(L, 2) == ERRORS_RETRY_YES, "retryable from parts");
	ok(strcmp(errors_stack(L, 2, NULL), "stack text") == 0, "stack from parts");
	ok(strcmp(errors_context(L, 2, NULL), "while testing") == 0,
	   "context from parts");
	ok(errors_push_details(L, 2) == LUA_TTABLE &&
	   lua_getfield(L, -1, "n") == LUA_TNUMBER && lua_tointeger(L, -1) == 3,
	   "details from parts");
	lua_pop(L, 2);
	ok(errors_push_cause(L, 2) == LUA_TUSERDATA && lua_rawequal(L, -1, 1),
	   "cause from parts");
	lua_pop(L, 1);

	/* wrong-typed parts read as absent */
	lua_pushinteger(L, 1);
	lua_pushboolean(L, 1);
	lua_pushliteral(L, "not a table");
	lua_pushinteger(L, 2);
	lua_pushliteral(L, "not an error");
	lua_pushboolean(L, 0);
	errors_create(L, 7);
	ok(strcmp(errors_message(L, -1, NULL), "") == 0 &&
	   strcmp(errors_kind(L, -1, NULL), "") == 0 &&
	   errors_stack(L, -1, NULL) == NULL &&
	   errors_context(L, -1, NULL) == NULL, "bad parts become defaults");
	ok(errors_retryable(L, -1) == ERRORS_RETRY_UNSET,
	   "an out-of-range retryable is unset");
	ok(errors_push_details(L, -1) == LUA_TNIL, "bad details dropped");
	lua_pop(L, 1);
	ok(errors_push_cause(L, -1) == LUA_TNIL, "bad cause dropped");
	lua_settop(L, 0);

	lua_newuserdatauv(L, 8, 0);
	ok(!errors_is_error(L, -1), "plain userdata is not an error");
	lua_pushinteger(L, 1);
	ok(!errors_is_error(L, -1), "a number is not an error");
	ok(!errors_is_error(L, 10), "an empty slot is not an error");
	lua_settop(L, 0);
}

/* Errors made in a state where errors_luaopen never ran. */
static void test_without_module(void)
{
	lua_State *L = luaL_newstate();

	errors_push(L, ERRORS_TIMEOUT, "late");
	ok(errors_is_error(L, -1), "metatable created lazily");
	ok(luaL_testudata(L, -1, ERRORS_META) != NULL, "registered under its name");
	ok(strcmp(luaL_tolstring(L, -1, NULL), "late") == 0, "__tostring works");
	lua_close(L);
}

int main(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	luaL_requiref(L, "errors", errors_luaopen, 0);
	ok(lua_istable(L, -1), "errors_luaopen returns the table");
	lua_getglobal(L, "errors");
	ok(lua_rawequal(L, -1, -2), "global errors is set");
	lua_settop(L, 0);
	lua_register(L, "c_fail", c_fail);

	test_lua_api(L);
	test_c_api(L);
	test_strlib(L);
	test_without_module();
	lua_close(L);
	return tap_done();
}
