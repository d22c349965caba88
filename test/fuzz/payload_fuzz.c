/*
** test/fuzz/payload_fuzz.c: libFuzzer driver for runtime/payload.c.
**
** Owns nothing but itself; it drives the codec through its header only.
**
** Each input is used twice:
**   - as a recipe (below) for Lua values built in a lua_State: encoding
**     them must succeed, unless the recipe made a cycle or nested deeper
**     than PAYLOAD_MAXDEPTH (then -ELOOP or -EMLINK and nothing else), and
**     decoding the encoding must give values deep-equal to the originals
**     (number subtypes, float bits, error parts and all);
**   - as a raw encoded buffer (first byte: the value count): decoding it
**     must never crash or read outside it (the buffer is a malloc of its
**     exact size, so ASan sees an overrun), and when it decodes, encoding
**     the result and decoding again gives deep-equal values.
** Decoding runs under lua_pcall, as the header asks (it may raise memory
** errors only).
**
** Build and run: test/fuzz/run.sh [seconds] payload.
*/
#include "runtime/payload.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "payload_fuzz"
#include "test/fuzz/fuzz_lua.h"

/* {==== The recipe: fuzz bytes -> Lua values ====} */

struct recipe {
	const uint8_t *p, *end;
	int maxdepth;		/* deepest table/error nesting built */
	int cyclic;		/* a table was stored inside itself */
};

static unsigned byte(struct recipe *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

static uint64_t word(struct recipe *r)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | byte(r);
	return v;
}

static void push_str(struct recipe *r)
{
	size_t len = byte(r);

	if (len > (size_t)(r->end - r->p))
		len = (size_t)(r->end - r->p);
	lua_pushlstring(L, (const char *)r->p, len);
	r->p += len;
}

/* A key: string, integer, float or boolean (nil and NaN cannot be keys,
** and table keys could not be looked up in the copy). */
static void push_key(struct recipe *r)
{
	double f;
	uint64_t u;

	switch (byte(r) % 5) {
	case 0:
		push_str(r);
		break;
	case 1:
		lua_pushinteger(L, (int8_t)byte(r));
		break;
	case 2:
		lua_pushinteger(L, (lua_Integer)word(r));
		break;
	case 3:
		u = word(r);
		memcpy(&f, &u, sizeof f);
		if (f != f)
			f = 0.5;
		lua_pushnumber(L, f);
		break;
	default:
		lua_pushboolean(L, byte(r) & 1);
		break;
	}
}

static void build(struct recipe *r, int depth);

/* t[k] = v with the key and the value on top; nil values are no-ops. */
static void store(void)
{
	lua_rawset(L, -3);
}

static void build_table(struct recipe *r, int depth)
{
	unsigned narr = byte(r) % 12, nhash = byte(r) % 12;

	luaL_checkstack(L, 8, "recipe");
	if (depth > r->maxdepth)
		r->maxdepth = depth;
	lua_createtable(L, (int)narr, (int)nhash);
	for (unsigned i = 1; i <= narr; i++) {
		build(r, depth + 1);
		lua_rawseti(L, -2, i);
	}
	for (unsigned i = 0; i < nhash && r->p < r->end; i++) {
		push_key(r);
		if (byte(r) == 0xC7) {	/* rare: the table inside itself */
			lua_pushvalue(L, -2);
			r->cyclic = 1;
		} else {
			build(r, depth + 1);
		}
		store();
	}
}

/* An error object from its six parts, as the decoder builds one. */
static void build_error(struct recipe *r, int depth)
{
	int retry = byte(r) % 3;
	unsigned flags = depth > 80 ? 0 : byte(r);

	luaL_checkstack(L, 8, "recipe");
	if (depth > r->maxdepth)
		r->maxdepth = depth;
	push_str(r);					/* message */
	if (flags & 1)
		push_str(r);				/* kind */
	else
		lua_pushnil(L);
	if (flags & 2)
		build_table(r, depth + 1);		/* details */
	else
		lua_pushnil(L);
	lua_pushnil(L);					/* stack */
	if (flags & 4)
		build_error(r, depth + 1);		/* cause */
	else
		lua_pushnil(L);
	if (flags & 8)
		push_str(r);				/* context */
	else
		lua_pushnil(L);
	errors_create(L, retry);
}

static void build(struct recipe *r, int depth)
{
	double f;
	uint64_t u;

	luaL_checkstack(L, 8, "recipe");
	if (depth > 80 || r->p == r->end) {
		lua_pushinteger(L, depth);
		return;
	}
	switch (byte(r) % 10) {
	case 0:
		lua_pushnil(L);
		break;
	case 1:
		lua_pushboolean(L, 0);
		break;
	case 2:
		lua_pushboolean(L, 1);
		break;
	case 3:
		lua_pushinteger(L, (int8_t)byte(r));
		break;
	case 4:
		lua_pushinteger(L, (lua_Integer)word(r));
		break;
	case 5:
		u = word(r);
		memcpy(&f, &u, sizeof f);
		lua_pushnumber(L, f);
		break;
	case 6:
		push_str(r);
		break;
	case 7:
	case 8:
		build_table(r, depth + 1);
		break;
	default:
		build_error(r, depth + 1);
		break;
	}
}

/* }==== */

/* {==== Deep equality ====} */

static int same(int a, int b, int depth);

static int same_str(const char *x, size_t nx, const char *y, size_t ny)
{
	if (x == NULL || y == NULL)
		return x == y;
	return nx == ny && memcmp(x, y, nx) == 0;
}

/* Every key of table a maps to an equal value in b, and b has no more.
** A table or error key (a raw buffer can make one) has a copy of its own
** as the key in b, which a lookup cannot find: such keys are counted, not
** compared. */
static int same_table(int a, int b, int depth)
{
	size_t na = 0, nb = 0, oa = 0, ob = 0;
	int ok = 1;

	lua_pushnil(L);
	while (ok && lua_next(L, a)) {
		na++;
		if (lua_type(L, -2) == LUA_TTABLE || lua_type(L, -2) == LUA_TUSERDATA) {
			oa++;
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_rawget(L, b);
		ok = same(lua_gettop(L) - 1, lua_gettop(L), depth + 1);
		lua_pop(L, 2);
	}
	if (!ok) {
		lua_pop(L, 1);
		return 0;
	}
	lua_pushnil(L);
	while (lua_next(L, b)) {
		nb++;
		ob += lua_type(L, -2) == LUA_TTABLE || lua_type(L, -2) == LUA_TUSERDATA;
		lua_pop(L, 1);
	}
	return na == nb && oa == ob;
}

static int same_error(int a, int b, int depth)
{
	const char *x, *y;
	size_t nx = 0, ny = 0;
	int ok;

	x = errors_message(L, a, &nx), y = errors_message(L, b, &ny);
	if (!same_str(x, nx, y, ny))
		return 0;
	x = errors_kind(L, a, &nx), y = errors_kind(L, b, &ny);
	if (!same_str(x, nx, y, ny))
		return 0;
	x = errors_stack(L, a, &nx), y = errors_stack(L, b, &ny);
	if (!same_str(x, nx, y, ny))
		return 0;
	x = errors_context(L, a, &nx), y = errors_context(L, b, &ny);
	if (!same_str(x, nx, y, ny))
		return 0;
	if (errors_retryable(L, a) != errors_retryable(L, b))
		return 0;
	errors_push_details(L, a);
	errors_push_details(L, b);
	ok = same(lua_gettop(L) - 1, lua_gettop(L), depth + 1);
	lua_pop(L, 2);
	if (!ok)
		return 0;
	errors_push_cause(L, a);
	errors_push_cause(L, b);
	ok = same(lua_gettop(L) - 1, lua_gettop(L), depth + 1);
	lua_pop(L, 2);
	return ok;
}

static int same(int a, int b, int depth)
{
	int t = lua_type(L, a);
	double x, y;

	luaL_checkstack(L, 6, "compare");
	check(depth < 200, "comparison nested too deep (a cycle came back?)");
	if (t != lua_type(L, b))
		return 0;
	switch (t) {
	case LUA_TNIL:
		return 1;
	case LUA_TBOOLEAN:
		return lua_toboolean(L, a) == lua_toboolean(L, b);
	case LUA_TNUMBER:
		if (lua_isinteger(L, a) != lua_isinteger(L, b))
			return 0;
		if (lua_isinteger(L, a))
			return lua_tointeger(L, a) == lua_tointeger(L, b);
		x = lua_tonumber(L, a), y = lua_tonumber(L, b);
		return memcmp(&x, &y, sizeof x) == 0;
	case LUA_TSTRING: {
		size_t nx, ny;
		const char *sx = lua_tolstring(L, a, &nx), *sy = lua_tolstring(L, b, &ny);

		return same_str(sx, nx, sy, ny);
	}
	case LUA_TTABLE:
		return same_table(a, b, depth);
	case LUA_TUSERDATA:
		check(errors_is_error(L, a) && errors_is_error(L, b),
		      "a userdata that is not an error came out");
		return same_error(a, b, depth);
	default:
		return 0;
	}
}

/* }==== */

/* lua_CFunction: decode payload (light userdata 1); push the values and
** then their count, or only the negative errno. */
static int decode(lua_State *S)
{
	const struct payload *p = lua_touserdata(S, 1);
	int n;

	lua_settop(S, 0);
	n = payload_decode(S, p);
	if (n < 0) {
		lua_pushinteger(S, n);
		return 1;
	}
	luaL_checkstack(S, 1, "count");
	lua_pushinteger(S, n);
	return n + 1;
}

/* Decode p in protected mode: returns the count (its values pushed), a
** negative errno (nothing pushed), or -1000 for a Lua error. */
static int pdecode(const struct payload *p)
{
	int top = lua_gettop(L), n;

	lua_pushcfunction(L, decode);
	lua_pushlightuserdata(L, (void *)p);
	if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
		lua_settop(L, top);
		return -1000;
	}
	n = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	check(n < 0 ? lua_gettop(L) == top : lua_gettop(L) == top + n,
	      "decode pushed another number of values than it returned");
	return n;
}

/* Values at first..first+n-1 -> encode -> copy -> decode -> compare. */
static void round_trip(int first, int n, const char *what)
{
	struct payload p, q;
	int got, r;

	r = payload_encode(L, first, n, &p);
	check(r == 0, what);
	payload_copy(&q, &p);
	payload_free(&p);
	check(q.nvalues == (uint32_t)n, "nvalues is not the count encoded");
	got = pdecode(&q);
	payload_free(&q);
	check(got == n, "decoding an encoding failed");
	for (int i = 0; i < n; i++)
		check(same(first + i, first + n + i, 0), "the copy differs from the original");
	lua_settop(L, first + n - 1);
}

/* lua_CFunction for the recipe half (building may raise memory errors). */
static int recipe_half(lua_State *S)
{
	struct recipe r;
	struct payload p;
	int n, rc;

	(void)S;
	r.p = lua_touserdata(L, 1);
	r.end = r.p + lua_tointeger(L, 2);
	r.maxdepth = 0;
	r.cyclic = 0;
	lua_settop(L, 0);
	n = (int)(byte(&r) % 4);
	for (int i = 0; i < n; i++)
		build(&r, 0);
	if (r.cyclic || r.maxdepth > PAYLOAD_MAXDEPTH) {
		rc = payload_encode(L, 1, n, &p);
		if (rc == 0) {
			/* The cycle or the deep branch sat under a key the
			** recipe overwrote later: what is left is plain. */
			payload_free(&p);
			round_trip(1, n, "a value encoded once, not twice");
		} else {
			check(rc == -ELOOP || rc == -EMLINK, "unexpected encode error");
			check(rc != -ELOOP || r.cyclic, "-ELOOP without a cycle");
		}
	} else {
		round_trip(1, n, "encoding an acyclic, shallow value failed");
	}
	lua_settop(L, 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct payload p;
	int got;

	/* Half one: the input as a recipe. */
	lua_settop(L, 0);
	lua_pushcfunction(L, recipe_half);
	lua_pushlightuserdata(L, (void *)d);
	lua_pushinteger(L, (lua_Integer)n);
	check(lua_pcall(L, 2, 0, 0) == LUA_OK, lua_tostring(L, -1));

	/* Half two: the input as an encoded buffer, in a block of its size. */
	lua_settop(L, 0);
	if (n >= 1) {
		memset(&p, 0, sizeof p);
		p.nvalues = d[0] % 8;
		p.len = (uint32_t)(n - 1);
		if (p.len > PAYLOAD_INLINE) {
			p._u.heap = malloc(p.len);
			memcpy(p._u.heap, d + 1, p.len);
		} else {
			memcpy(p._u.inl, d + 1, p.len);
		}
		got = pdecode(&p);
		check(got >= 0 || got == -EINVAL || got == -ENOMEM,
		      "decode failed with an undocumented error");
		payload_free(&p);
		if (got > 0)
			round_trip(1, got, "re-encoding decoded values failed");
	}
	lua_settop(L, 0);
	lua_gc(L, LUA_GCSTEP, 0);
	return 0;
}
