/*
** test/fuzz/erase_fuzz.c: libFuzzer driver for runtime/erase.c.
**
** The input is a Lua source. The eraser must never crash or read outside
** it (the source sits in a buffer of exactly its size, so ASan sees any
** overrun), and:
**   - on success the output keeps every whitespace byte, changes other
**     bytes only to ' ' or ';', and erasing it again changes nothing;
**   - on failure the position is inside the source and the message is a
**     terminated string;
**   - when Lua 5.4 itself compiles the input (plain Lua), the eraser leaves
**     it byte for byte alone, unless the name `as` occurs, the one plain
**     form the dialect reads differently (spec/typed-lua.md 4.13).
**
** Build and run: test/fuzz/run.sh [seconds] erase.
*/
#include "runtime/erase.h"

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* One state for the whole run, made before the first input so the leak
** checker does not count it. */
static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	L = luaL_newstate();
	return 0;
}

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "erase_fuzz: %s\n", what);
		abort();
	}
}

static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *src = malloc(n ? n : 1), *out = malloc(n ? n : 1);
	struct erase_err err;
	int rc;

	memcpy(src, d, n);
	rc = erase_source(src, n, out, &err);
	check(memcmp(src, d, n) == 0, "the source was written to");
	if (rc >= 0) {
		char *again = malloc(n ? n : 1);
		int changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (out[i] == src[i])
				continue;
			changed = 1;
			check(!space(src[i]), "a whitespace byte changed");
			check(out[i] == ' ' || out[i] == ';', "a byte became something else than ' ' or ';'");
		}
		check(rc == changed, "return value and output disagree");
		check(erase_source(out, n, again, &err) == 0 && memcmp(out, again, n) == 0,
		      "erasing the output changed it");
		free(again);
	} else {
		check(err.line >= 1 && err.col >= 1, "error position below 1:1");
		check(memchr(err.msg, '\0', sizeof(err.msg)) != NULL, "message not terminated");
	}
	if (luaL_loadbufferx(L, src, n, "=fuzz", "t") == LUA_OK &&
	    memmem(src, n, "as", 2) == NULL)
		check(rc == 0 && memcmp(out, src, n) == 0, "plain Lua that Lua compiles was not left alone");
	lua_settop(L, 0);
	free(src);
	free(out);
	return 0;
}
