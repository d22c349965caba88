/*
** test/unit/lua_modules/json.c: json.encode / json.decode and the C API.
**
** Most checks are Lua chunks that must return true. The C-level checks
** cover json_encode_value into a luaL_Buffer, decoding input that ends at a
** PROT_NONE guard page (the parser must never read past its end), and a
** fail-the-Nth-allocation loop for both directions.
*/
#include "lua_modules/json.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_modules/errors.h"
#include "runtime/errors.h"
#include "tap.h"

/* Run chunk `code`; ok only if it returns true itself (the helpers
** below return a string that describes a mismatch). */
static void check(lua_State *L, const char *name, const char *code)
{
	int r = luaL_dostring(L, code);
	int good = r == LUA_OK && lua_isboolean(L, -1) && lua_toboolean(L, -1);

	ok(good, "%s", name);
	if (!good)
		printf("# %s\n", r == LUA_OK ? (lua_isstring(L, -1) ?
		       lua_tostring(L, -1) : "returned false") : lua_tostring(L, -1));
	lua_settop(L, 0);
}

/* Helpers defined in Lua for the checks below. */
static const char prelude[] =
	"json = require('json')\n"
	"function enc_is(v, want)\n"
	"  local s, err = json.encode(v)\n"
	"  if s ~= want then error('encode ' .. tostring(s) .. ' / ' .. tostring(err) .. ', want ' .. want, 0) end\n"
	"  return true\n"
	"end\n"
	"function enc_fails(v, frag)\n"
	"  local s, err = json.encode(v)\n"
	"  if s ~= nil or err == nil then error('encoded ' .. tostring(s), 0) end\n"
	"  if err:kind() ~= errors.INTERNAL then error('kind ' .. err:kind(), 0) end\n"
	"  if not err:message():find(frag, 1, true) then error(err:message(), 0) end\n"
	"  return true\n"
	"end\n"
	"function dec_fails(s, kind, frag)\n"
	"  local v, err = json.decode(s)\n"
	"  if v ~= nil or err == nil or err:kind() ~= kind then error('decoded ' .. tostring(v), 0) end\n"
	"  if frag and not err:message():find(frag, 1, true) then error(err:message(), 0) end\n"
	"  return true\n"
	"end\n"
	"function deq(a, b)\n"
	"  if type(a) ~= type(b) then return false end\n"
	"  if type(a) ~= 'table' then return a == b and math.type(a) == math.type(b) end\n"
	"  for k, v in pairs(a) do if not deq(v, b[k]) then return false end end\n"
	"  for k in pairs(b) do if a[k] == nil then return false end end\n"
	"  return true\n"
	"end\n"
	"function roundtrip(v) local s = assert(json.encode(v)) "
	"  local back, err = json.decode(s) return deq(v, back) or s end\n";

static void test_encode(lua_State *L)
{
	check(L, "scalars", "return enc_is(nil, 'null') and enc_is(true, 'true') "
	      "and enc_is(false, 'false') and enc_is(42, '42') and enc_is(-7, '-7') "
	      "and enc_is(math.mininteger, '-9223372036854775808') and "
	      "enc_is(math.maxinteger, '9223372036854775807')");
	check(L, "top-level floats: shortest digits, Go's exponent rule",
	      "return enc_is(0.1, '0.1') and enc_is(1.5, '1.5') and "
	      "enc_is(1/3, '0.3333333333333333') and enc_is(2.0, '2') and "
	      "enc_is(1e300, '1e+300') and enc_is(-0.0, '-0') and "
	      "enc_is(1e20, '100000000000000000000') and enc_is(1e21, '1e+21') and "
	      "enc_is(123456.789, '123456.789') and enc_is(1e-6, '0.000001') and "
	      "enc_is(1.25e-7, '1.25e-7') and enc_is(1e-10, '1e-10') and "
	      "enc_is(5e-324, '5e-324') and enc_is(-1.5e22, '-1.5e+22')");
	check(L, "floats in tables: integers when integral, never an exponent",
	      "return enc_is({2.0}, '[2]') and enc_is({-0.0}, '[0]') and "
	      "enc_is({1e20}, '[100000000000000000000]') and "
	      "enc_is({1e-7}, '[0.0000001]') and enc_is({x = 0.5}, '{\"x\":0.5}') and "
	      "enc_is({2^63}, '[-9223372036854775808]') and "
	      "enc_is({-2^63}, '[-9223372036854775808]') and "
	      "enc_is({2^64}, '[18446744073709552000]') and "
	      "enc_is({5e-324}, '[0.' .. string.rep('0', 323) .. '5]') and "
	      "enc_is({1/0}, '[null]')");
	check(L, "inf and nan become null",
	      "return enc_is(math.huge, 'null') and enc_is(-math.huge, 'null') "
	      "and enc_is(0/0, 'null')");
	check(L, "string escapes",
	      "return enc_is('a\"b\\\\c\\n\\r\\t\\b\\f', '\"a\\\\\"b\\\\\\\\c\\\\n\\\\r\\\\t\\\\b\\\\f\"') "
	      "and enc_is('\\0\\1\\31\\127', '\"\\\\u0000\\\\u0001\\\\u001f\\127\"') "
	      "and enc_is('a/b', '\"a/b\"')");
	check(L, "valid UTF-8 passes through",
	      "return enc_is('h\\u{e9}llo \\u{4e16} \\u{1f600}', "
	      "'\"h\\u{e9}llo \\u{4e16} \\u{1f600}\"')");
	check(L, "invalid UTF-8 becomes U+FFFD",
	      "return enc_is('a\\255b', '\"a\\\\ufffdb\"') and "
	      "enc_is('\\xc3', '\"\\\\ufffd\"') and "
	      "enc_is('\\xed\\xa0\\x80', '\"\\\\ufffd\\\\ufffd\\\\ufffd\"') and "
	      "enc_is('\\xc0\\xaf', '\"\\\\ufffd\\\\ufffd\"')");
	check(L, "empty table is [], one emptied of hash keys {}",
	      "local o = {k = 1} o.k = nil local h = {} h[10] = 1 h[10] = nil "
	      "return enc_is({}, '[]') and enc_is(o, '{}') and enc_is(h, '{}') and "
	      "enc_is({{}}, '[[]]')");
	check(L, "arrays", "return enc_is({1, 'a', true, {}}, '[1,\"a\",true,[]]')");
	check(L, "array built backwards (keys in the hash part)",
	      "local t = {} for i = 20, 1, -1 do t[i] = i end "
	      "return enc_is(t, '[' .. table.concat(t, ',') .. ']')");
	check(L, "objects have sorted keys",
	      "return enc_is({b = 1, a = 2, c = {d = false}}, "
	      "'{\"a\":2,\"b\":1,\"c\":{\"d\":false}}')");
	check(L, "object with many keys (sorted past the local key array)",
	      "local t, parts = {}, {} for i = 1, 40 do t[string.format('k%02d', i)] = i "
	      "parts[#parts + 1] = string.format('\"k%02d\":%d', i, i) end "
	      "return enc_is(t, '{' .. table.concat(parts, ',') .. '}')");
	check(L, "keys are escaped", "return enc_is({['a\"b'] = 1}, '{\"a\\\\\"b\":1}')");
	check(L, "error objects encode as their Go error text",
	      "return enc_is({e = errors.new('bad thing')}, '{\"e\":\"bad thing\"}') "
	      "and enc_is(errors.wrap('m', 'ctx'), '\"ctx: m\"')");
	check(L, "metatables are ignored",
	      "return enc_is(setmetatable({}, {__index = function() return 1 end}), '[]')");
	check(L, "large output grows past the scratch buffer",
	      "local t = {} for i = 1, 5000 do t[i] = 'item' .. i end "
	      "local s = json.encode(t) return #s > 40000 and deq(json.decode(s), t)");
	check(L, "long string",
	      "local s = string.rep('x\"', 100000) return deq(json.decode(json.encode(s)), s)");
	check(L, "mixed keys fail", "return enc_fails({1, 2, a = 3}, 'mixed') and "
	      "enc_fails({a = 1, b = 2, [1] = 3}, 'mixed') and "
	      "enc_fails({a = 1, [2.5] = 3}, 'key')");
	check(L, "sparse array fails", "return enc_fails({1, nil, 3}, 'sparse') "
	      "and enc_fails({[2] = 1}, 'sparse')");
	check(L, "bad keys fail", "return enc_fails({[1.5] = 1}, 'key') and "
	      "enc_fails({[0] = 1}, 'key') and enc_fails({[true] = 1}, 'key')");
	check(L, "cycle fails", "local t = {} t.self = t return enc_fails(t, 'recursively nested')");
	check(L, "indirect cycle fails",
	      "local a, b = {}, {} a[1] = b b[1] = a return enc_fails(a, 'recursively nested')");
	check(L, "shared (acyclic) tables are fine",
	      "local s = {1} return enc_is({s, s}, '[[1],[1]]')");
	check(L, "depth 128 encodes, 129 fails",
	      "local function nest(n) local t = {} for i = 2, n do t = {t} end return t end "
	      "return json.encode(nest(128)) == string.rep('[', 128) .. string.rep(']', 128) "
	      "and enc_fails(nest(129), 'maximum nesting depth')");
	check(L, "functions, threads, userdata are null",
	      "return enc_is(print, 'null') and "
	      "enc_is(coroutine.create(print), 'null') and "
	      "enc_is({io.stdout, 1}, '[null,1]') and enc_is({f = print}, '{\"f\":null}')");
	check(L, "encode failure leaves the stack clean",
	      "for i = 1, 1000 do json.encode({1, nil, 3}) end return true");
}

static void test_decode(lua_State *L)
{
	check(L, "scalars", "return json.decode('true') == true and "
	      "json.decode('false') == false and json.decode(' null ') == nil and "
	      "select('#', json.decode('null')) == 2 and json.decode('\"x\"') == 'x'");
	check(L, "integers stay integers",
	      "return math.type(json.decode('42')) == 'integer' and "
	      "json.decode('-9223372036854775808') == math.mininteger and "
	      "json.decode('9223372036854775807') == math.maxinteger and "
	      "math.type(json.decode('0')) == 'integer'");
	check(L, "integers past int64 become floats",
	      "local v = json.decode('9223372036854775808') "
	      "return math.type(v) == 'float' and v == 2^63 and "
	      "math.type(json.decode('-9223372036854775809')) == 'float'");
	check(L, "floats", "return json.decode('1.5') == 1.5 and "
	      "json.decode('-2.5e3') == -2500.0 and math.type(json.decode('1e2')) == 'float' "
	      "and json.decode('0.1') == 0.1 and json.decode('1E-2') == 0.01");
	check(L, "1e400 is inf, -0 keeps its sign",
	      "local z = json.decode('-0') return json.decode('1e400') == math.huge "
	      "and json.decode('-1e400') == -math.huge and math.type(z) == 'float' "
	      "and z == 0 and 1/z == -math.huge");
	check(L, "escapes", "return json.decode('\"a\\\\\"b\\\\\\\\c\\\\/d\\\\n\\\\t\\\\r\\\\b\\\\f\"')"
	      " == 'a\"b\\\\c/d\\n\\t\\r\\b\\f'");
	check(L, "\\u escapes and surrogate pairs",
	      "return json.decode('\"\\\\u0041\\\\u00e9\\\\u4E16\"') == 'A\\u{e9}\\u{4e16}' "
	      "and json.decode('\"\\\\ud83d\\\\ude00\"') == '\\u{1f600}' "
	      "and json.decode('\"\\\\u0000\"') == '\\0'");
	check(L, "lone surrogates become U+FFFD",
	      "return json.decode('\"\\\\ud83dx\"') == '\\u{fffd}x' and "
	      "json.decode('\"\\\\ude00\"') == '\\u{fffd}' and "
	      "json.decode('\"\\\\ud83d\\\\u0041\"') == '\\u{fffd}A'");
	check(L, "raw UTF-8 passes through",
	      "return json.decode('\"\\u{1f600} \\u{e9}\"') == '\\u{1f600} \\u{e9}'");
	check(L, "arrays are 1-based", "local t = json.decode(' [ 1 , \"b\" , [ ] , { } ] ') "
	      "return #t == 4 and t[1] == 1 and t[2] == 'b' and next(t[3]) == nil "
	      "and next(t[4]) == nil");
	check(L, "null in arrays leaves a hole and keeps the length",
	      "local t = json.decode('[1,null,3]') local u = json.decode('[null,null,null,null,5]') "
	      "return t[1] == 1 and t[2] == nil and t[3] == 3 and #t == 3 "
	      "and #u == 5 and u[5] == 5");
	check(L, "long arrays with nulls keep their length",
	      "local parts = {} for i = 1, 100 do parts[i] = i % 7 == 0 and 'null' or "
	      "tostring(i) end local t = json.decode('[' .. table.concat(parts, ',') .. ']') "
	      "for i = 1, 100 do if t[i] ~= (i % 7 ~= 0 and i or nil) then return false end end "
	      "return #t == 100");
	check(L, "objects past one batch, duplicates across batches",
	      "local parts = {} for i = 1, 70 do parts[i] = string.format('\"k%d\":%d', i, i) end "
	      "parts[71] = '\"k1\":\"last\"' parts[72] = '\"k2\":null' "
	      "local t = json.decode('{' .. table.concat(parts, ',') .. '}') "
	      "local n = 0 for _ in pairs(t) do n = n + 1 end "
	      "return n == 69 and t.k1 == 'last' and t.k2 == nil and t.k70 == 70");
	check(L, "null object members are absent",
	      "local t = json.decode('{\"a\":null,\"b\":1}') return t.a == nil and t.b == 1");
	check(L, "objects, duplicate keys keep the last",
	      "local t = json.decode('{\"a\":1,\"a\":2,\"\":{\"x\":[true]}}') "
	      "return t.a == 2 and t[''].x[1] == true");
	check(L, "nested depth 128 decodes, 129 fails",
	      "local ok128 = json.decode(string.rep('[', 128) .. string.rep(']', 128)) "
	      "return type(ok128) == 'table' and dec_fails(string.rep('[', 129) .. "
	      "string.rep(']', 129), errors.INTERNAL, 'deeper than 128 levels') "
	      "and dec_fails(string.rep('{\"a\":', 129) .. '1' .. string.rep('}', 129), "
	      "errors.INTERNAL, 'deeper')");
	check(L, "round trips",
	      "return roundtrip({1, 2.5, 'x', true, {a = {b = {c = 'd'}}}}) and "
	      "roundtrip({name = 'n', list = {1, 2, 3}, empty = {}, "
	      "s = 'quote\" back\\\\ \\1 \\u{1f600}'}) and roundtrip(math.maxinteger) "
	      "and roundtrip(0.1) and roundtrip(1e-300) and roundtrip(123456789.123)");
	check(L, "empty string and non-strings are INVALID",
	      "return dec_fails('', errors.INVALID, 'empty') and "
	      "dec_fails(nil, errors.INVALID) and dec_fails(12, errors.INVALID) and "
	      "dec_fails({}, errors.INVALID)");
	check(L, "bad JSON is INTERNAL with a position",
	      "return dec_fails('[1,2', errors.INTERNAL, 'end of input at position 5') "
	      "and dec_fails('{\"a\" 1}', errors.INTERNAL, \"'1' at position 6\") "
	      "and dec_fails('[1,]', errors.INTERNAL, \"']' at position 4\") "
	      "and dec_fails('tru', errors.INTERNAL, \"invalid literal 't' at position 1\") "
	      "and dec_fails('nulx', errors.INTERNAL, 'literal') "
	      "and dec_fails('01', errors.INTERNAL, \"after the value '1' at position 2\") "
	      "and dec_fails('1 2', errors.INTERNAL, 'position 3') "
	      "and dec_fails('-', errors.INTERNAL, 'invalid number at position 2') "
	      "and dec_fails('1.', errors.INTERNAL, 'invalid number') "
	      "and dec_fails('1e', errors.INTERNAL, 'invalid number') "
	      "and dec_fails('.5', errors.INTERNAL, \"'.' at position 1\") "
	      "and dec_fails('+1', errors.INTERNAL, 'position 1') "
	      "and dec_fails('\"abc', errors.INTERNAL, 'unterminated string') "
	      "and dec_fails('\"a\\\\', errors.INTERNAL, 'unterminated') "
	      "and dec_fails('\"a\\nb\"', errors.INTERNAL, 'control character in string at position 3') "
	      "and dec_fails('\"\\\\x\"', errors.INTERNAL, 'invalid escape') "
	      "and dec_fails('\"\\\\u12\"', errors.INTERNAL, 'invalid \\\\u escape') "
	      "and dec_fails('\"\\\\u12g4\"', errors.INTERNAL, 'invalid \\\\u escape') "
	      "and dec_fails('{1:2}', errors.INTERNAL, \"'1' at position 2\") "
	      "and dec_fails('{\"a\":1,}', errors.INTERNAL, \"'}' at position 8\") "
	      "and dec_fails('   ', errors.INTERNAL, 'end of input') "
	      "and dec_fails('[1 2]', errors.INTERNAL, 'position 4') "
	      "and dec_fails('NaN', errors.INTERNAL, 'position 1') "
	      "and dec_fails('{\"a\":1', errors.INTERNAL, 'end of input')");
}

static void test_c_api(lua_State *L)
{
	luaL_Buffer b;
	const char *err;
	long pg = sysconf(_SC_PAGESIZE);
	char *map;
	static const char doc[] = "{\"k\":[1,2.5,\"\\u00e9\"]}";

	lua_settop(L, 0);
	luaL_buffinit(L, &b);
	luaL_addstring(&b, "prefix ");
	lua_createtable(L, 0, 1);
	lua_pushinteger(L, 9);
	lua_setfield(L, -2, "n");
	lua_insert(L, 1);                       /* table below the buffer */
	err = json_encode_value(L, 1, &b);
	luaL_addstring(&b, " suffix");
	ok(err == NULL, "json_encode_value succeeds");
	luaL_pushresult(&b);
	ok(strcmp(lua_tostring(L, -1), "prefix {\"n\":9} suffix") == 0,
	   "json_encode_value appends to a luaL_Buffer");
	lua_settop(L, 0);

	(void)luaL_dostring(L, "return {1, nil, 3}");  /* sparse: fails */
	luaL_buffinit(L, &b);
	err = json_encode_value(L, 1, &b);
	ok(err && strstr(err, "sparse"), "json_encode_value reports errors");
	luaL_pushresult(&b);
	ok(lua_gettop(L) == 2 && lua_rawlen(L, -1) == 0, "buffer untouched on error");
	lua_settop(L, 0);

	ok(json_encode_push(L, 0 + 1) == 1 && strcmp(lua_tostring(L, -1), "null") == 0,
	   "json_encode_push of an empty slot is null");
	lua_settop(L, 0);

	/* Input ending exactly at a PROT_NONE page: no read past the end. */
	map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map != MAP_FAILED && mprotect(map + pg, (size_t)pg, PROT_NONE) == 0) {
		size_t n = sizeof doc - 1, cut;
		char *at = map + pg - n;
		int good = 1;

		memcpy(at, doc, n);
		ok(json_decode_push(L, at, n) == 1 && lua_istable(L, -1),
		   "decode at a guard page");
		lua_settop(L, 0);
		/* Every prefix ending at the guard page: fails cleanly. */
		for (cut = 1; cut < n; cut++) {
			memmove(map + pg - cut, doc, cut);
			if (json_decode_push(L, map + pg - cut, cut) != 2 ||
			    !errors_is_error(L, -1))
				good = 0;
			lua_settop(L, 0);
		}
		ok(good, "every truncation at a guard page is an error");
		memcpy(map + pg - 3, "-12", 3);
		ok(json_decode_push(L, map + pg - 3, 3) == 1 &&
		   lua_tointeger(L, -1) == -12, "number ending at a guard page");
		memcpy(map + pg - 4, "1e-5", 4);
		ok(json_decode_push(L, map + pg - 4, 4) == 1 &&
		   lua_tonumber(L, -1) == 1e-5, "float ending at a guard page");
		lua_settop(L, 0);
		munmap(map, (size_t)pg * 2);
	} else {
		ok(0, "mmap guard page");
	}
}

/* {======================================================================
** Fail-the-Nth-allocation loop
** ======================================================================= */

static long alloc_left = -1;    /* allocations until failures start; <0: never */

static void *failalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	/* Fail every growth from the Nth on (emergency GC retries fail too). */
	if (alloc_left >= 0 && (ptr == NULL || nsize > osize)) {
		if (alloc_left == 0)
			return NULL;
		alloc_left--;
	}
	return realloc(ptr, nsize);
}

static const char oomdoc[] =
	"[{\"a\":[1,2,3,4,5],\"z\":null,\"long key that is longer than forty bytes....\":"
	"\"esc\\n\\u00e9\\ud83d\\ude00\"},2.5,-7,true,false,"
	"{\"b\":{\"c\":{\"d\":\"x\"}}},\"" "a long plain string with no escapes at all, "
	"longer than forty bytes\"]";

/*
** lua_checkstack fails (rather than raising) when growing the stack runs
** out of memory; the codec then returns its "out of Lua stack space" error,
** which is an acceptable outcome here. Anything else is a bug.
*/
static int stackfail(lua_State *L)
{
	if (errors_is_error(L, -1) &&
	    strstr(errors_message(L, -1, NULL), "out of Lua stack space"))
		return luaL_error(L, "stack");
	return luaL_error(L, "codec failed: %s", errors_message(L, -1, NULL));
}

static int oom_body(lua_State *L)
{
	size_t n;
	const char *s;

	if (json_decode_push(L, oomdoc, sizeof oomdoc - 1) != 1)
		return stackfail(L);
	lua_setglobal(L, "v");
	lua_getglobal(L, "v");
	if (json_encode_push(L, -1) != 1)
		return stackfail(L);
	s = lua_tolstring(L, -1, &n);
	lua_pushboolean(L, n > 100 && s[0] == '[');
	return 1;
}

static void test_oom(void)
{
	long nth;
	int done = 0, bad = 0, memerrs = 0;

	for (nth = 0; nth < 100000 && !done; nth++) {
		lua_State *L = lua_newstate(failalloc, NULL);
		int r;

		if (!L)
			break;
		lua_pushcfunction(L, oom_body);
		alloc_left = nth;
		r = lua_pcall(L, 0, 1, 0);
		alloc_left = -1;
		if (r == LUA_OK)
			done = lua_toboolean(L, -1), bad += !done;
		else if (r == LUA_ERRMEM || (r == LUA_ERRRUN &&
			 strcmp(lua_tostring(L, -1), "stack") == 0))
			memerrs++;
		else {
			if (!bad)
				printf("# nth %ld: status %d: %s\n", nth, r,
				       lua_tostring(L, -1));
			bad++;
		}
		lua_close(L);
	}
	ok(done && bad == 0 && memerrs > 10,
	   "decode+encode under failing allocations: %d memory errors, then success",
	   memerrs);
}

/* }====================================================================== */

int main(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	luaL_requiref(L, "errors", errors_luaopen, 1);
	luaL_requiref(L, "json", luaopen_json, 0);
	lua_settop(L, 0);
	if (luaL_dostring(L, prelude) != LUA_OK) {
		printf("# prelude: %s\n", lua_tostring(L, -1));
		return 1;
	}
	test_encode(L);
	test_decode(L);
	test_c_api(L);
	lua_close(L);
	test_oom();
	return tap_done();
}
