/*
** test/unit/lua_modules/errors.c: the error object and the `errors` table.
**
** Each check is a Lua chunk that must return true; the C API is checked
** directly against the same objects.
*/
#include "lua_modules/errors.h"

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
	check(L, "kind constants", "return errors.NOT_FOUND == 'NOT_FOUND' and "
	      "errors.UNKNOWN == 'UNKNOWN' and errors.INVALID == 'INVALID' and "
	      "errors.ALREADY_EXISTS == 'ALREADY_EXISTS' and "
	      "errors.PERMISSION_DENIED == 'PERMISSION_DENIED' and "
	      "errors.TIMEOUT == 'TIMEOUT' and errors.CANCELED == 'CANCELED' and "
	      "errors.UNAVAILABLE == 'UNAVAILABLE' and "
	      "errors.INTERNAL == 'INTERNAL' and errors.CONFLICT == 'CONFLICT' "
	      "and errors.RATE_LIMITED == 'RATE_LIMITED'");
	check(L, "new(string) defaults",
	      "local e = errors.new('boom') return e:message() == 'boom' and "
	      "e:kind() == errors.UNKNOWN and e:retryable() == false and "
	      "e:details() == nil and type(e:stack()) == 'string'");
	check(L, "new(table) keeps every field",
	      "local d = {id = 7} local e = errors.new{message = 'gone', "
	      "kind = errors.NOT_FOUND, retryable = true, details = d} "
	      "return e:message() == 'gone' and e:kind() == 'NOT_FOUND' and "
	      "e:retryable() == true and e:details() == d and e:details().id == 7");
	check(L, "new(table) with only a kind",
	      "local e = errors.new{kind = errors.TIMEOUT} "
	      "return e:message() == '' and e:kind() == 'TIMEOUT'");
	check(L, "new(table) accepts a custom kind",
	      "return errors.new{message='x', kind='MY_KIND'}:kind() == 'MY_KIND'");
	check(L, "new(err) returns the same error",
	      "local e = errors.new('a') return errors.new(e) == e");
	check(L, "new rejects bad arguments",
	      "return not pcall(errors.new) "
	      "and not pcall(errors.new, {kind = 5}) and "
	      "not pcall(errors.new, {details = 'x'}) and not pcall(errors.new, true)");
	check(L, "tostring gives the message",
	      "return tostring(errors.new('hello')) == 'hello'");
	check(L, "concatenation uses the message",
	      "local e = errors.new('b') return 'a: ' .. e == 'a: b' and e .. '!' == 'b!'");
	check(L, "error() with an error object keeps it",
	      "local e = errors.new{message='m', kind=errors.CONFLICT} "
	      "local okk, got = pcall(error, e) return not okk and got == e and "
	      "errors.is(got, errors.CONFLICT)");
	check(L, "stack names the creating function",
	      "local function maker() return errors.new('s') end "
	      "local s = maker():stack() return s:find('maker') ~= nil");
	check(L, "wrap prefixes the message and keeps kind/retryable/details",
	      "local d = {} local e = errors.new{message='inner', "
	      "kind=errors.UNAVAILABLE, retryable=true, details=d} "
	      "local w = errors.wrap(e, 'ctx') return w:message() == 'ctx: inner' "
	      "and w:kind() == 'UNAVAILABLE' and w:retryable() and w:details() == d "
	      "and w:stack() == e:stack() and errors.unwrap(w) == e");
	check(L, "wrap of a wrap",
	      "local e = errors.new{message='x', kind=errors.NOT_FOUND} "
	      "local w = errors.wrap(errors.wrap(e, 'b'), 'a') "
	      "return w:message() == 'a: b: x' and errors.is(w, errors.NOT_FOUND) "
	      "and errors.is(w, e) and not errors.is(w, errors.INVALID)");
	check(L, "wrap(nil) is nil, wrap(err) without context is err",
	      "local e = errors.new('q') return errors.wrap(nil, 'ctx') == nil and "
	      "errors.wrap(e) == e");
	check(L, "wrap of a string makes an UNKNOWN error",
	      "local w = errors.wrap('plain', 'ctx') return w:message() == "
	      "'ctx: plain' and w:kind() == errors.UNKNOWN and errors.unwrap(w) == nil");
	check(L, "is() on non-errors is false",
	      "return errors.is('NOT_FOUND', 'NOT_FOUND') == false and "
	      "errors.is(nil, 'X') == false and errors.is({}, 'X') == false");
	check(L, "is() by identity does not match a different error",
	      "return not errors.is(errors.new('a'), errors.new('a'))");
	check(L, "call_stack returns frames",
	      "local function deep() return errors.new('s') end "
	      "local f = errors.call_stack(deep()) local found = false "
	      "for _, fr in ipairs(f) do if fr.name:find('deep') and "
	      "type(fr.line) == 'number' and type(fr.source) == 'string' then "
	      "found = true end end return #f >= 2 and found");
	check(L, "call_stack of a non-error is nil",
	      "return errors.call_stack('x') == nil");
	check(L, "methods reject non-errors",
	      "local e = errors.new('x') return not pcall(e.message, {}) and "
	      "not pcall(e.kind, 'x')");
	check(L, "C errors_ret gives nil, err",
	      "local v, e = c_fail('k') return v == nil and e:kind() == "
	      "'NOT_FOUND' and e:message() == 'no such key k (42)' and "
	      "e:stack() == nil and errors.is(e, errors.NOT_FOUND)");
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
	ok(strcmp(s, "UNKNOWN") == 0 && len == 7, "NULL kind is UNKNOWN");
	ok(errors_stack(L, -1, &len) == NULL && len == 0, "no stack from C");
	ok(errors_retryable(L, -1) == 0, "not retryable");
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
	errors_create(L, 1);
	ok(lua_gettop(L) == 2 && errors_is_error(L, 2), "errors_create pops 5 pushes 1");
	ok(strcmp(errors_kind(L, 2, NULL), "RATE_LIMITED") == 0, "kind from parts");
	ok(errors_retryable(L, 2) == 1, "retryable from parts");
	ok(strcmp(errors_stack(L, 2, NULL), "stack text") == 0, "stack from parts");
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
	errors_create(L, 0);
	ok(strcmp(errors_message(L, -1, NULL), "") == 0 &&
	   strcmp(errors_kind(L, -1, NULL), "UNKNOWN") == 0 &&
	   errors_stack(L, -1, NULL) == NULL, "bad parts become defaults");
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
	test_without_module();
	lua_close(L);
	return tap_done();
}
