/*
** test/fuzz/json_fuzz.c: libFuzzer driver for the JSON codec
** (lua_modules/json.c), through its C entry points only.
**
** The input is JSON text, in a block of exactly its size (ASan sees any
** read past it; the decoder is told the length, no NUL). Then:
**   - decoding never crashes and returns 1 value, or nil and an error
**     object whose message names a position inside the input (or one past
**     its end: "at position N", 1 <= N <= len + 1);
**   - a decoded value encodes (or fails with an error object: sparse
**     arrays and mixed keys have no JSON form), and when it encodes, the
**     text decodes again, and so on: the third turn's text is a fixed
**     point (decoding and encoding it gives it back byte for byte), unless
**     a null became a hole in an array on the way (inf encodes as null,
**     and an array with a hole does not encode). Not the first turn's: an
**     invalid UTF-8 byte encodes as the escape \ufffd, which decodes to a
**     real U+FFFD, which encodes raw, as Go's encoder does; nor the
**     second's: {"k":null} decodes to an empty table that had a hash part,
**     written {}, and {} decodes to one that never had, written [] (the
**     original's rule for empty tables, lua_modules/json.h).
** Everything runs under lua_pcall; the codec raises only memory errors.
**
** Build and run: test/fuzz/run.sh [seconds] json.
*/
#include "lua_modules/json.h"

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "json_fuzz"
#include "test/fuzz/fuzz_lua.h"

/* The error object of a failed decode names a position in 1..len+1. */
static void check_decode_error(int idx, size_t len)
{
	size_t mlen;
	const char *msg, *at;
	long long pos;

	check(lua_isnil(L, idx - 1), "a failed decode did not return nil first");
	check(errors_is_error(L, idx), "a failed decode did not return an error object");
	lua_pushvalue(L, idx);
	msg = luaL_tolstring(L, -1, &mlen);
	if (len == 0) {
		lua_pop(L, 2);
		return;
	}
	at = strstr(msg, " at position ");
	check(at != NULL, "a decode error does not name its position");
	pos = strtoll(at + 13, NULL, 10);
	check(pos >= 1 && (size_t)pos <= len + 1, "a decode error's position is outside the input");
	lua_pop(L, 2);
}

/* lua_CFunction: the whole check on (light userdata buffer, length). */
static int run(lua_State *S)
{
	const char *src = lua_touserdata(S, 1);
	size_t len = (size_t)lua_tointeger(S, 2), n1 = 0, n2;
	const char *e1 = NULL, *e2;
	int r;

	lua_settop(S, 0);
	r = json_decode_push(S, src, len);
	if (r == 2) {
		check(lua_gettop(S) == 2, "decode returned 2 but pushed another count");
		check_decode_error(2, len);
		return 0;
	}
	check(r == 1 && lua_gettop(S) == 1, "decode returned neither 1 nor 2");
	if (json_encode_push(S, 1) == 2) {
		check(lua_isnil(S, -2) && errors_is_error(S, -1),
		      "a failed encode did not return nil, error");
		return 0;
	}
	for (int turn = 1; turn <= 3; turn++) {
		e1 = lua_tolstring(S, -1, &n1);
		check(e1 != NULL, "encode returned 1 but no string");
		r = json_decode_push(S, e1, n1);
		if (r == 2) {
			fprintf(stderr, "json_fuzz: encoded %.*s\n", (int)(n1 > 400 ? 400 : n1), e1);
			check(0, "the encoder's own output does not decode");
		}
		if (json_encode_push(S, -1) == 2) {
			/* inf and nan encode as null, which decodes to a hole:
			** an array with one has no JSON form (sparse). */
			check(memmem(e1, n1, "null", 4) != NULL,
			      "re-encoding the decoded encoding failed");
			return 0;
		}
	}
	e2 = lua_tolstring(S, -1, &n2);
	if (n1 != n2 || memcmp(e1, e2, n1) != 0) {
		fprintf(stderr, "json_fuzz: e2 %.*s\njson_fuzz: e3 %.*s\n",
			(int)(n1 > 400 ? 400 : n1), e1, (int)(n2 > 400 ? 400 : n2), e2);
		check(0, "decode -> encode is not stable after three turns");
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *src = malloc(n ? n : 1);

	memcpy(src, d, n);
	lua_settop(L, 0);
	lua_pushcfunction(L, run);
	lua_pushlightuserdata(L, src);
	lua_pushinteger(L, (lua_Integer)n);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK)
		check(0, lua_tostring(L, -1));
	check(memcmp(src, d, n) == 0, "the input was written to");
	lua_settop(L, 0);
	lua_gc(L, LUA_GCSTEP, 0);
	free(src);
	return 0;
}
