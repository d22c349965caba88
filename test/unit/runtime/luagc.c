/*
** test/unit/runtime/luagc.c: entering generational mode the way a process
** does after its first steps (incremental with pause 200, the collector
** stopped through the first step), then many steps of short-lived garbage
** in a coroutine, as a ticking worker makes: a select result and a value
** per step. From the switch on, the heap stays within a quarter above
** what the switch left, and minor collections come every few steps; the
** first collection does not wait for the heap to nearly double.
*/
#include "runtime/luagc.h"

#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

static const char worker[] =
	"local cases = {{}, {}}\n"
	"return coroutine.create(function()\n"
	"  while true do\n"
	"    local r = {value = setmetatable({n = 1}, {}), channel = cases[2], ok = true}\n"
	"    coroutine.yield(r)\n"
	"  end\n"
	"end)\n";

static int heap(lua_State *L)
{
	return lua_gc(L, LUA_GCCOUNT) * 1024 + lua_gc(L, LUA_GCCOUNTB);
}

int main(void)
{
	lua_State *L = luaL_newstate();
	lua_gc(L, LUA_GCSTOP);
	luaL_openlibs(L);
	int loaded = luaL_loadstring(L, worker) == LUA_OK && lua_pcall(L, 0, 1, 0) == LUA_OK;
	ok(loaded, "the worker chunk runs");
	if (!loaded)
		return tap_done();
	lua_State *co = lua_tothread(L, -1);
	lua_gc(L, LUA_GCINC, 200, 100, 0);

	int base = 0, peak = 0, drops = 0, prev = 0, first_drop = 0;
	for (int i = 1; i <= 200; i++) {
		int n;
		if (lua_resume(co, L, 0, &n) != LUA_YIELD) {
			ok(0, "step %d: %s", i, lua_tostring(co, -1));
			return tap_done();
		}
		lua_pop(co, n);
		if (i == 1)
			lua_gc(L, LUA_GCRESTART);
		if (i == 8) {
			luagc_generational(L, 10, 100);
			ok(lua_gc(L, LUA_GCISRUNNING) == 1, "the collector runs");
			base = prev = heap(L);
			continue;
		}
		if (i > 8) {
			int h = heap(L);
			if (h > peak)
				peak = h;
			if (h < prev) {
				drops++;
				if (!first_drop)
					first_drop = i;
			}
			prev = h;
		}
	}
	printf("# heap after the switch %d B, peak %d B, first collection at step %d, "
	       "%d collections\n", base, peak, first_drop, drops);
	ok(peak <= base + base / 4, "the heap stays within a quarter above the switch's (%d <= %d)",
	   peak, base + base / 4);
	ok(first_drop > 0 && first_drop <= 8 + 40, "the first minor collection within 40 steps (%d)",
	   first_drop - 8);
	ok(drops >= 10, "minor collections keep coming (%d in 192 steps)", drops);
	lua_close(L);
	return tap_done();
}
