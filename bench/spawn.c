/*
** bench/spawn.c: the cost floor of a process, a bare Lua state.
**
** DESIGN.md puts the floor of "one process = one lua_State" at about 5 KB
** and 3.5 us for an empty lua_newstate; the runtime's own spawn (measured
** end to end by bench/mass_spawn.sh) is compared against these numbers.
**
** Cases, each creating BATCH states back to back (the way a mass spawn
** does, so malloc cannot hand the same block back every time), then
** closing them all; best of ROUNDS per-op times:
**   bare       lua_newstate with a counting allocator: the floor.
**   bare-hot   lua_newstate + lua_close in a loop: malloc hands the same
**              warm blocks back each time, the best case (and likely how
**              the DESIGN.md figure was taken); the time is per pair.
**   openlibs   the same plus luaL_openlibs with the GC stopped during
**              setup (what a process would pay opening every library).
**   luaL       luaL_newstate + luaL_openlibs exactly as the stock
**              interpreter does it (libc allocator, GC running); its bytes
**              come from lua_gc(LUA_GCCOUNT/LUA_GCCOUNTB).
** The counting allocator records both the bytes Lua asked for (what a
** per-process limit would count) and malloc_usable_size() of each block
** (closer to what the process's RSS pays). Output, one line per case:
**   newstate bare N us/op, B bytes/state (heap H bytes, close C us/op)
** bench/mass_spawn.sh reads the `newstate bare` line. No assertions.
*/
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/common.h"

#define BATCH  2000
#define ROUNDS 5
#define HOT_N  20000

/* Bytes requested by Lua and bytes malloc actually handed out. */
struct counter {
	size_t bytes, heap;
};

/* A lua_Alloc that counts. Lua passes the old size, so no header is needed
** for the requested bytes; the heap figure asks malloc for each block. */
static void *count_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
	struct counter *c = ud;
	void *q;

	if (p == NULL)
		osize = 0; /* osize then encodes the object type, not a size */
	if (nsize == 0) {
		if (p) {
			c->heap -= malloc_usable_size(p);
			c->bytes -= osize;
			free(p);
		}
		return NULL;
	}
	if (p)
		c->heap -= malloc_usable_size(p);
	q = realloc(p, nsize);
	if (q == NULL) {
		if (p)
			c->heap += malloc_usable_size(p); /* p is intact */
		return NULL;
	}
	c->heap += malloc_usable_size(q);
	c->bytes += nsize - osize;
	return q;
}

enum kind { BARE, BARE_HOT, OPENLIBS, LUAL };

struct result {
	double create_us, close_us; /* best per-op over the rounds */
	double bytes, heap;         /* per state */
};

/* Create and close a state HOT_N times in a loop; create_us is per pair. */
static struct result run_hot(void)
{
	struct result r = { 1e30, 0, 0, 0 };
	struct counter c = { 0, 0 };

	for (int round = 0; round < ROUNDS; round++) {
		uint64_t t0 = common_now_ns();
		for (int i = 0; i < HOT_N; i++) {
			lua_State *L = lua_newstate(count_alloc, &c);
			if (L == NULL) {
				fprintf(stderr, "bench/spawn: out of memory\n");
				exit(1);
			}
			if (i == 0) {
				r.bytes = (double)c.bytes;
				r.heap = (double)c.heap;
			}
			lua_close(L);
		}
		t0 = common_now_ns() - t0;
		if ((double)t0 / HOT_N / 1e3 < r.create_us)
			r.create_us = (double)t0 / HOT_N / 1e3;
	}
	return r;
}

/* Create and close BATCH states of one kind, ROUNDS times. */
static struct result run(enum kind k)
{
	static lua_State *states[BATCH];
	struct result r = { 1e30, 1e30, 0, 0 };
	struct counter c;

	if (k == BARE_HOT)
		return run_hot();

	for (int round = 0; round < ROUNDS; round++) {
		uint64_t t0, t1, t2;
		size_t gcbytes = 0;

		c.bytes = c.heap = 0;
		t0 = common_now_ns();
		for (int i = 0; i < BATCH; i++) {
			lua_State *L;

			if (k == LUAL) {
				L = luaL_newstate();
				luaL_openlibs(L);
			} else {
				L = lua_newstate(count_alloc, &c);
				if (k == OPENLIBS) {
					lua_gc(L, LUA_GCSTOP);
					luaL_openlibs(L);
					lua_gc(L, LUA_GCRESTART);
				}
			}
			if (L == NULL) {
				fprintf(stderr, "bench/spawn: out of memory\n");
				exit(1);
			}
			states[i] = L;
		}
		t1 = common_now_ns();
		if (k == LUAL)
			for (int i = 0; i < BATCH; i++)
				gcbytes += (size_t)lua_gc(states[i], LUA_GCCOUNT) * 1024 +
					   (size_t)lua_gc(states[i], LUA_GCCOUNTB);
		else
			gcbytes = c.bytes;
		r.bytes = (double)gcbytes / BATCH;
		r.heap = (double)c.heap / BATCH;
		t2 = common_now_ns();
		for (int i = 0; i < BATCH; i++)
			lua_close(states[i]);
		t2 = common_now_ns() - t2;
		if ((double)(t1 - t0) / BATCH / 1e3 < r.create_us)
			r.create_us = (double)(t1 - t0) / BATCH / 1e3;
		if ((double)t2 / BATCH / 1e3 < r.close_us)
			r.close_us = (double)t2 / BATCH / 1e3;
		if (c.bytes != 0 && k != LUAL)
			fprintf(stderr, "bench/spawn: %zu bytes left after "
				"lua_close\n", c.bytes);
	}
	return r;
}

int main(void)
{
	static const struct { enum kind k; const char *name; } cases[] = {
		{ BARE,     "bare" },
		{ BARE_HOT, "bare-hot" },
		{ OPENLIBS, "openlibs" },
		{ LUAL,     "luaL_newstate+openlibs" },
	};
	struct result base = { 0, 0, 0, 0 };

	printf("# %d states created back to back, then closed; best of %d "
	       "rounds; %s\n", BATCH, ROUNDS, LUA_RELEASE);
	for (size_t i = 0; i < countof(cases); i++) {
		struct result r = run(cases[i].k);

		if (i == 0)
			base = r;
		printf("newstate %s %.2f us/op, %.0f bytes/state", cases[i].name,
		       r.create_us, r.bytes);
		if (cases[i].k == BARE_HOT)
			printf(" (heap %.0f bytes, newstate+close pair", r.heap);
		else if (cases[i].k != LUAL)
			printf(" (heap %.0f bytes, close %.2f us/op", r.heap,
			       r.close_us);
		else
			printf(" (close %.2f us/op", r.close_us);
		if (i > 0)
			printf(", ratio vs bare: time %.1f, bytes %.1f",
			       r.create_us / base.create_us, r.bytes / base.bytes);
		printf(")\n");
	}
	return 0;
}
