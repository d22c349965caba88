/*
** bench/tick_floor.c: the least a tick can cost when every process is a
** Lua state of its own, at N processes.
**
** A tick of bench/mass_spawn.sh's workers wakes one process among N, in an
** order no cache can predict (each worker has its own interval), and runs
** it for one step: the timer fires, the select hands the coroutine its
** result, the worker sends, the spawner receives. Past a few thousand
** processes their memory no longer fits any cache, so each step starts by
** faulting its own state back in: that, not the work, is what a tick
** costs at 100,000.
**
** This program keeps only that part. N bare states (lua_newstate over the
** runtime's slab allocator, runtime/slab.h, with only the coroutine
** library), each with a coroutine whose loop does what a worker's select
** loop must: make the select result table, look at it, yield. The
** collectors run as the runtime sets them for long-lived processes
** (generational, minor collections every 10 %, runtime/luagc.h). Then
** ROUNDS passes over all N in a fresh random order each pass, one resume
** each; the first two passes are warm-up (the collectors reach their
** steady state). No timer, no mailbox, no message, no scheduler: a
** runtime cannot go under this with one state per process.
**
** Output, one line (bench/mass_spawn.sh reads it):
**   tick floor N=<n>: <us> us per resume, <bytes> bytes of Lua heap per state
** Usage: tick_floor [N [ROUNDS]]. No assertions.
*/
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/common.h"
#include "runtime/luagc.h"
#include "runtime/slab.h"

#define WARMUP 2

static const char loop[] =
	"local ch = ...\n"
	"return coroutine.create(function()\n"
	"  local cases = {ch, ch}\n"
	"  local n = 0\n"
	"  while true do\n"
	"    local r = {value = n, channel = ch, ok = true}\n"
	"    if r.channel == cases[2] then n = n + 1 end\n"
	"    coroutine.yield(n)\n"
	"  end\n"
	"end)\n";

/* The runtime's heap allocator without its accounting (runtime/pmem.c). */
static void *slab_lalloc(void *ud, void *p, size_t osize, size_t nsize)
{
	(void)ud;
	if (p == NULL)
		osize = 0;
	if (nsize == 0) {
		if (p != NULL)
			slab_free(p, osize);
		return NULL;
	}
	return p == NULL ? slab_alloc(nsize) : slab_realloc(p, osize, nsize);
}

/* xorshift64: the same orders in every run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static lua_State *new_process(lua_State **co)
{
	lua_State *L = lua_newstate(slab_lalloc, NULL);
	if (L == NULL)
		return NULL;
	lua_gc(L, LUA_GCSTOP);
	luaL_requiref(L, "coroutine", luaopen_coroutine, 1);
	lua_pop(L, 1);
	if (luaL_loadstring(L, loop) != LUA_OK) {
		fprintf(stderr, "tick_floor: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	lua_newtable(L); /* the channel the select result names */
	lua_call(L, 1, 1);
	*co = lua_tothread(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, "co");
	lua_gc(L, LUA_GCRESTART);
	luagc_generational(L, 10, 100);
	return L;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000;
	int rounds = argc > 2 ? atoi(argv[2]) : 12;
	lua_State **L, **co;
	uint32_t *order;
	uint64_t seed = 0x9e3779b97f4a7c15u, ns = 0;
	long resumes = 0;
	double kb = 0;

	if (n < 1 || rounds <= WARMUP) {
		fprintf(stderr, "usage: tick_floor [N >= 1 [ROUNDS > %d]]\n", WARMUP);
		return 2;
	}
	L = xmalloc(sizeof *L * (size_t)n);
	co = xmalloc(sizeof *co * (size_t)n);
	order = xmalloc(sizeof *order * (size_t)n);
	for (int i = 0; i < n; i++) {
		if ((L[i] = new_process(&co[i])) == NULL) {
			fprintf(stderr, "tick_floor: out of memory at %d states\n", i);
			return 1;
		}
		order[i] = (uint32_t)i;
	}
	for (int r = 0; r < rounds; r++) {
		for (int i = n - 1; i > 0; i--) {
			int j = (int)(rnd(&seed) % (uint64_t)(i + 1));
			uint32_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		uint64_t t0 = common_now_ns();
		for (int i = 0; i < n; i++) {
			int nres;
			lua_State *c = co[order[i]];
			if (lua_resume(c, L[order[i]], 0, &nres) != LUA_YIELD) {
				fprintf(stderr, "tick_floor: %s\n", lua_tostring(c, -1));
				return 1;
			}
			lua_pop(c, nres);
		}
		if (r >= WARMUP) {
			ns += common_now_ns() - t0;
			resumes += n;
		}
	}
	for (int i = 0; i < n; i++)
		kb += lua_gc(L[i], LUA_GCCOUNT) + lua_gc(L[i], LUA_GCCOUNTB) / 1024.0;
	printf("tick floor N=%d: %.2f us per resume, %.0f bytes of Lua heap per state\n",
	       n, (double)ns / 1e3 / (double)resumes, kb * 1024 / n);
	for (int i = 0; i < n; i++)
		lua_close(L[i]);
	free(L);
	free(co);
	free(order);
	return 0;
}
