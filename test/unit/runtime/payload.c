/*
** test/unit/runtime/payload.c: values copied between two lua_States.
**
** A sender state runs a chunk whose results are encoded; a separate
** receiver state decodes them into the global table `got` (with got.n) and
** runs a chunk that must return true. Then the refusals (cycles, depth),
** every truncation of a sample buffer, byte-flip corruption, and a
** fail-the-Nth-allocation loop on the receiving state. Run under ASan so
** that over-reads and leaks fail the test.
*/
#include "runtime/payload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_modules/errors.h"
#include "runtime/errors.h"
#include "tap.h"

static lua_State *S, *R;        /* sender, receiver */

static lua_State *newstate(void)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	luaL_requiref(L, "errors", errors_luaopen, 1);
	lua_settop(L, 0);
	return L;
}

/* Run `code` in the sender and encode all its results into *p. */
static int encode_chunk(const char *code, struct payload *p)
{
	int r;

	lua_settop(S, 0);
	if (luaL_dostring(S, code) != LUA_OK) {
		printf("# sender: %s\n", lua_tostring(S, -1));
		lua_settop(S, 0);
		return -1000;
	}
	r = payload_encode(S, 1, lua_gettop(S), p);
	lua_settop(S, 0);
	return r;
}

/* lua_CFunction: decode the payload (light userdata 1) into global got. */
static int decode_got(lua_State *L)
{
	const struct payload *p = lua_touserdata(L, 1);
	int n, i;

	lua_settop(L, 0);
	n = payload_decode(L, p);
	if (n < 0)
		return luaL_error(L, "decode: %s", payload_strerror(n));
	lua_createtable(L, n, 1);
	for (i = n; i >= 1; i--) {
		lua_insert(L, -2);
		lua_rawseti(L, -2, i);
	}
	lua_pushinteger(L, n);
	lua_setfield(L, -2, "n");
	lua_setglobal(L, "got");
	return 0;
}

static int decode_into(lua_State *L, const struct payload *p)
{
	int r;

	lua_pushcfunction(L, decode_got);
	lua_pushlightuserdata(L, (void *)p);
	r = lua_pcall(L, 1, 0, 0);
	if (r != LUA_OK) {
		printf("# receiver: %s\n", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return r;
}

/* Send the results of `send` from S to R and check them with `check`. */
static void xfer(const char *name, const char *send, const char *check)
{
	struct payload p;
	int r = encode_chunk(send, &p), good = 0;

	if (r == 0) {
		if (decode_into(R, &p) == LUA_OK) {
			int lr = luaL_dostring(R, check);

			good = lr == LUA_OK && lua_toboolean(R, -1);
			if (lr != LUA_OK)
				printf("# check: %s\n", lua_tostring(R, -1));
		}
		payload_free(&p);
	} else {
		printf("# encode: %s\n", payload_strerror(r));
	}
	lua_settop(R, 0);
	ok(good, "%s", name);
}

static void refused(const char *name, const char *send, int want)
{
	struct payload p;
	int r = encode_chunk(send, &p);

	ok(r == want, "%s (%s)", name, payload_strerror(r));
	if (r == 0)
		payload_free(&p);
}

static const char deq[] =
	"function deq(a, b)\n"
	"  if type(a) ~= type(b) then return false end\n"
	"  if type(a) ~= 'table' then return a == b and math.type(a) == math.type(b) end\n"
	"  for k, v in pairs(a) do if type(k) ~= 'table' and not deq(v, b[k]) then return false end end\n"
	"  for k in pairs(b) do if type(k) ~= 'table' and a[k] == nil then return false end end\n"
	"  return true\n"
	"end\n";

static void test_roundtrips(void)
{
	xfer("scalars", "return nil, true, false, 0, -1, math.maxinteger, "
	     "math.mininteger, 1.5, -0.0, math.huge, 0/0, '', 'hello', 'a\\0b'",
	     "return got.n == 14 and got[1] == nil and got[2] == true and "
	     "got[3] == false and math.type(got[4]) == 'integer' and got[4] == 0 "
	     "and got[5] == -1 and got[6] == math.maxinteger and "
	     "got[7] == math.mininteger and math.type(got[8]) == 'float' and "
	     "got[8] == 1.5 and 1/got[9] == -math.huge and got[10] == math.huge "
	     "and got[11] ~= got[11] and got[12] == '' and got[13] == 'hello' "
	     "and got[14] == 'a\\0b' and #got[14] == 3");
	xfer("integers of every size",
	     "local t = {} for i = 0, 63 do t[#t+1] = 1 << i t[#t+1] = -(1 << i) "
	     "t[#t+1] = (1 << i) - 1 end return t",
	     "for i = 0, 63 do if got[1][3*i+1] ~= 1 << i or got[1][3*i+2] ~= -(1 << i) "
	     "or got[1][3*i+3] ~= (1 << i) - 1 then return false end end "
	     "return #got[1] == 192");
	xfer("long string", "return string.rep('xyz', 100000)",
	     "return got[1] == string.rep('xyz', 100000)");
	xfer("no values", "return", "return got.n == 0");
	xfer("nested tables with every key type",
	     "return {1, 2, {a = {b = {c = 'd'}}}, [10] = 5, [-1] = 'neg', "
	     "[0] = 'zero', [1.5] = 'f', [true] = 'b', x = {}, [math.maxinteger] = 'max'}",
	     "local t = got[1] return t[1] == 1 and t[2] == 2 and t[3].a.b.c == 'd' "
	     "and t[10] == 5 and t[-1] == 'neg' and t[0] == 'zero' and t[1.5] == 'f' "
	     "and t[true] == 'b' and next(t.x) == nil and t[math.maxinteger] == 'max' "
	     "and #t == 3");
	xfer("holes survive", "return {1, nil, 3, nil, nil, 6}",
	     "local t = got[1] return t[1] == 1 and t[2] == nil and t[3] == 3 "
	     "and t[6] == 6");
	xfer("big array and hash", "local t = {} for i = 1, 10000 do t[i] = i "
	     "t['k' .. i] = {i} end return t",
	     "local t = got[1] for i = 1, 10000 do if t[i] ~= i or t['k' .. i][1] ~= i "
	     "then return false end end return #t == 10000");
	xfer("array built backwards",
	     "local t = {} for i = 50, 1, -1 do t[i] = i * 2 end t.x = 'y' return t",
	     "local t = got[1] for i = 1, 50 do if t[i] ~= i * 2 then return false end "
	     "end return #t == 50 and t.x == 'y'");
	xfer("table keys are copied", "return {[{1, 2}] = 'tk'}",
	     "local k, v = next(got[1]) return type(k) == 'table' and k[2] == 2 "
	     "and v == 'tk' and next(got[1], k) == nil");
	xfer("a shared table is copied twice", "local s = {1} return {s, s}, s",
	     "return got[1][1] ~= got[1][2] and got[1][1][1] == 1 and "
	     "got[1][2][1] == 1 and got[2] ~= got[1][1]");
	xfer("metatables are dropped",
	     "return setmetatable({a = 1}, {__index = function() return 9 end})",
	     "return getmetatable(got[1]) == nil and got[1].a == 1 and got[1].b == nil");
	xfer("functions, threads and userdata become nil",
	     "return print, io.stdout, coroutine.create(print), "
	     "{f = print, 1, [print] = 2, u = io.stdout}",
	     "local t = got[4] return got.n == 4 and got[1] == nil and got[2] == nil "
	     "and got[3] == nil and t.f == nil and t.u == nil and t[1] == 1 and "
	     "next(t, next(t)) == nil");
	xfer("error objects keep every field",
	     "return errors.new{message = 'gone', kind = errors.NOT_FOUND, "
	     "retryable = true, details = {id = 7, sub = {k = 'v'}}}",
	     "local e = got[1] return errors.is(e, errors.NOT_FOUND) and "
	     "e:message() == 'gone' and e:kind() == 'NotFound' and e:retryable() "
	     "and e:details().id == 7 and e:details().sub.k == 'v' and "
	     "e:stack():find('(new)', 1, true) ~= nil and "
	     "errors.call_stack(e).frames[1].name == 'new' "
	     "and tostring(e) == 'gone'");
	xfer("error stack text is preserved",
	     "local e = errors.new('s') return e, e:stack()",
	     "return got[1]:stack() == got[2]");
	xfer("wrapped errors keep their chain",
	     "local inner = errors.new{message = 'disk', kind = errors.UNAVAILABLE} "
	     "return errors.wrap(errors.wrap(inner, 'save'), 'request')",
	     "local e = got[1] return e:message() == 'save: disk' and "
	     "e:stack():find('^request\\n') ~= nil and "
	     "errors.is(e, errors.UNAVAILABLE) and "
	     "errors.unwrap(errors.unwrap(e)):message() == 'disk' and "
	     "errors.unwrap(errors.unwrap(errors.unwrap(e))) == nil");
	xfer("errors inside tables, C-made errors without stack",
	     "local v, e = errors.new{message='x', kind=errors.TIMEOUT} "
	     "return {err = v, list = {v, v}}",
	     "local t = got[1] return t.err:kind() == 'Timeout' and "
	     "t.list[1]:message() == 'x' and t.list[1] ~= t.list[2]");
	xfer("custom kinds survive", "return errors.new{message='m', kind='MINE'}",
	     "return got[1]:kind() == 'MINE' and got[1]:retryable() == nil and "
	     "got[1]:details() == nil");
	xfer("the three retryable states survive",
	     "return errors.new{message='f', retryable=false}, "
	     "errors.new{message='t', retryable=true}, errors.new('u')",
	     "return got[1]:retryable() == false and got[2]:retryable() == true "
	     "and got[3]:retryable() == nil");
	xfer("nesting depth 64 is accepted",
	     "local t = {} for i = 2, 64 do t = {t} end return t",
	     "local t, d = got[1], 1 while t[1] do t = t[1] d = d + 1 end return d == 64");
}

static void test_refusals(void)
{
	struct payload p;

	refused("direct cycle", "local t = {} t.self = t return t", -ELOOP);
	refused("indirect cycle", "local a, b = {}, {} a.b = b b.a = a return 1, a",
		-ELOOP);
	refused("cycle through a key", "local t = {} t[t] = 1 return t", -ELOOP);
	/* An error's details are a copy made at creation, so a cycle can
	** only pass beside an error, not through it. */
	refused("cycle beside an error",
		"local t = {e = errors.new{message = 'x', details = {k = 1}}} "
		"t.t = t return t", -ELOOP);
	refused("nesting depth 65",
		"local t = {} for i = 2, 65 do t = {t} end return t", -EMLINK);
	ok(encode_chunk("return 1", &p) == 0 && p.len <= PAYLOAD_INLINE &&
	   p.nvalues == 1, "a number is stored inline");
	payload_free(&p);
	ok(encode_chunk("return 'short message'", &p) == 0 && p.len <= PAYLOAD_INLINE,
	   "a short string is stored inline (%u bytes)", p.len);
	payload_free(&p);
	ok(encode_chunk("return {x = 1, y = 2}", &p) == 0 && p.len <= PAYLOAD_INLINE,
	   "a tiny table is stored inline (%u bytes)", p.len);
	payload_free(&p);
	ok(encode_chunk("return string.rep('a', 5000)", &p) == 0 && p.len > 5000,
	   "a large string goes to the heap");
	payload_free(&p);
	payload_free(&p);
	ok(p.len == 0 && p.nvalues == 0, "payload_free is idempotent");
}

/* A payload holding a copy of len bytes, heap blocks sized exactly. */
static void mkpayload(struct payload *p, const uint8_t *b, uint32_t len,
		      uint32_t nvalues)
{
	p->len = len;
	p->nvalues = nvalues;
	if (len <= PAYLOAD_INLINE) {
		memcpy(p->_u.inl, b, len);
	} else {
		p->_u.heap = malloc(len);
		memcpy(p->_u.heap, b, len);
	}
}

static const char sample[] =
	"return 42, -7, 2.5, 'str', {1, 2, {x = 'y', [3.5] = true}}, "
	"errors.wrap(errors.new{message = 'm', kind = errors.INVALID, "
	"details = {k = 'v'}}, 'ctx'), false, nil, 1 << 40";

static void test_corruption(void)
{
	struct payload p, q;
	uint8_t *bytes;
	uint32_t len, cut, i;
	int all = 1, balanced = 1, n;
	unsigned seed = 12345;

	if (encode_chunk(sample, &p) != 0) {
		ok(0, "encode the sample");
		return;
	}
	len = p.len;
	bytes = malloc(len);
	memcpy(bytes, payload_data(&p), len);
	lua_settop(R, 0);
	n = payload_decode(R, &p);
	ok(n == 9 && lua_gettop(R) == 9, "sample decodes to 9 values");
	lua_settop(R, 0);

	for (cut = 0; cut < len; cut++) {
		mkpayload(&q, bytes, cut, p.nvalues);
		n = payload_decode(R, &q);
		if (n != -EINVAL)
			all = 0;
		if (lua_gettop(R) != 0)
			balanced = 0;
		lua_settop(R, 0);
		payload_free(&q);
	}
	ok(all, "every truncation (%u lengths) is rejected", len);
	ok(balanced, "a rejected buffer leaves the stack unchanged");

	mkpayload(&q, bytes, len, p.nvalues + 1);
	ok(payload_decode(R, &q) == -EINVAL && lua_gettop(R) == 0,
	   "a missing value is rejected");
	payload_free(&q);
	mkpayload(&q, bytes, len, p.nvalues - 1);
	ok(payload_decode(R, &q) == -EINVAL && lua_gettop(R) == 0,
	   "trailing bytes are rejected");
	payload_free(&q);
	mkpayload(&q, bytes, 3, 4);
	ok(payload_decode(R, &q) == -EINVAL, "more values than bytes is rejected");
	payload_free(&q);
	{
		/* A table claiming 2^32-1 elements in a 9-byte buffer. */
		uint8_t big[9] = {6, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};

		mkpayload(&q, big, sizeof big, 1);
		ok(payload_decode(R, &q) == -EINVAL, "an impossible count is rejected");
		payload_free(&q);
	}
	{
		/* A string length of 2^63 and an 11-byte varint. */
		uint8_t s1[] = {5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
		uint8_t s2[] = {3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};

		mkpayload(&q, s1, sizeof s1, 1);
		ok(payload_decode(R, &q) == -EINVAL, "a huge string length is rejected");
		payload_free(&q);
		mkpayload(&q, s2, sizeof s2, 1);
		ok(payload_decode(R, &q) == -EINVAL, "an overlong varint is rejected");
		payload_free(&q);
	}
	{
		/* Nesting of 65 one-element tables, deeper than any encoder makes. */
		uint8_t deep[65 * 9 + 1];

		for (i = 0; i < 65; i++) {
			uint32_t cnt[2] = {1, 0};

			deep[i * 9] = 6;
			memcpy(deep + i * 9 + 1, cnt, sizeof cnt);
		}
		deep[65 * 9] = 0;
		mkpayload(&q, deep, sizeof deep, 1);
		ok(payload_decode(R, &q) == -EINVAL && lua_gettop(R) == 0,
		   "nesting past the limit is rejected");
		payload_free(&q);
	}

	/* Byte flips: any outcome but a crash, leak or unbalanced stack. */
	balanced = 1;
	for (i = 0; i < 20000; i++) {
		uint8_t *c = malloc(len);
		int k;

		memcpy(c, bytes, len);
		for (k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			c[(seed >> 8) % len] = (uint8_t)(seed >> 20);
		}
		mkpayload(&q, c, len, p.nvalues);
		lua_settop(R, 0);
		lua_pushcfunction(R, decode_got);
		lua_pushlightuserdata(R, &q);
		n = lua_pcall(R, 1, 0, 0);
		if (n != LUA_OK && n != LUA_ERRRUN)
			balanced = 0;
		lua_settop(R, 0);
		payload_free(&q);
		free(c);
	}
	ok(balanced, "20000 corrupted buffers decode or fail cleanly");
	free(bytes);
	payload_free(&p);
}

/* {======================================================================
** Fail-the-Nth-allocation loop on the receiving state
** ======================================================================= */

static long alloc_left = -1;

static void *failalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	/* Fail every growth from the Nth on, emergency GC retries included. */
	if (alloc_left >= 0 && (ptr == NULL || nsize > osize)) {
		if (alloc_left == 0)
			return NULL;
		alloc_left--;
	}
	return realloc(ptr, nsize);
}

static void test_oom(void)
{
	struct payload p;
	long nth;
	int done = 0, bad = 0, memerrs = 0;

	if (encode_chunk(sample, &p) != 0) {
		ok(0, "encode the sample");
		return;
	}
	for (nth = 0; nth < 100000 && !done; nth++) {
		lua_State *L = lua_newstate(failalloc, NULL);
		int r;

		if (!L)
			break;
		lua_pushcfunction(L, decode_got);
		lua_pushlightuserdata(L, &p);
		alloc_left = nth;
		r = lua_pcall(L, 1, 0, 0);
		alloc_left = -1;
		if (r == LUA_OK) {
			done = lua_getglobal(L, "got") == LUA_TTABLE &&
			       lua_getfield(L, -1, "n") == LUA_TNUMBER &&
			       lua_tointeger(L, -1) == 9;
			bad += !done;
		} else if (r == LUA_ERRMEM) {
			memerrs++;
		} else {
			printf("# nth %ld: status %d: %s\n", nth, r, lua_tostring(L, -1));
			bad++;
		}
		lua_close(L);
	}
	ok(done && bad == 0 && memerrs > 10,
	   "decode under failing allocations: %d memory errors, then success",
	   memerrs);
	payload_free(&p);
}

/* }====================================================================== */

int main(void)
{
	S = newstate();
	R = newstate();
	if (luaL_dostring(R, deq) != LUA_OK)
		return 1;
	test_roundtrips();
	test_refusals();
	test_corruption();
	test_oom();
	lua_close(S);
	lua_close(R);
	return tap_done();
}
