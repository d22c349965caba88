/*
** test/fuzz/fuzz_lua.h: what the drivers that run Lua share (payload_fuzz.c,
** json_fuzz.c): libFuzzer's entry points, one state made before the first
** input (so the leak checker does not count it; each input leaves its stack
** empty), and check(), which aborts with the driver's name. Include it once,
** after defining FUZZ_NAME.
*/
#ifndef TEST_FUZZ_FUZZ_LUA_H
#define TEST_FUZZ_FUZZ_LUA_H

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/errors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	L = luaL_newstate();
	errors_register(L);
	return 0;
}

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, FUZZ_NAME ": %s\n", what);
		abort();
	}
}

#endif
