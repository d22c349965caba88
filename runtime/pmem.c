/*
** runtime/pmem.c: a process's memory (contract in pmem.h).
**
** Where its blocks come from: during the first step, the arena sized from
** the last process of its entry (arena.h); then the shard's slab, and past
** REGION_AFTER the process's own region (region.h); large blocks from
** malloc through the slab. What it may use: its memory limit, with an
** overdraft of an eighth while the collector is given the chance to get
** back under it. How it ends: dropped whole when it lived in its arena
** with no finalizer, by the reaper when big, else with lua_close.
*/
#include "pmem.h"

#include <lauxlib.h>
#include <malloc.h>
#include <stdbool.h>
#include <string.h>

#include "engine/common.h"
#include "arena.h"
#include "preempt.h"
#include "reaper.h"
#include "region.h"
#include "rstats.h"
#include "rt.h"
#include "slab.h"

#define REGION_MAX (64ull << 30) /* address space of an unlimited region */
#define TRIM_AFTER (8u << 20)    /* a state past this gives malloc's back */

/* Small blocks go to p's region once it has one (region.h), and to the
** shard's slab before that and when the region is full; larger ones to
** malloc, through the slab. The region is made here, on the first small
** allocation past REGION_AFTER, spanning the memory limit. */
static void *heap_alloc(struct proc *p, size_t n)
{
#ifndef SLAB_BYPASS
	if (n <= SLAB_MAX && p->mem_used >= REGION_AFTER) {
		if (p->region == NULL && !p->region_tried) {
			p->region_tried = 1;
			size_t span = p->mem_limit && p->mem_limit < REGION_MAX ?
				      p->mem_limit : REGION_MAX;
			p->region = region_new(span);
		}
		void *q = p->region ? region_alloc(p->region, n) : NULL;
		if (q != NULL)
			return q;
	}
#endif
	return slab_alloc(n);
}

static void heap_free(struct proc *p, void *ptr, size_t n)
{
	if (p->region && region_owns(p->region, ptr))
		region_put(p->region, ptr, n);
	else
		slab_free(ptr, n);
}

static void *heap_realloc(struct proc *p, void *ptr, size_t o, size_t n)
{
	if (p->region == NULL && p->mem_used < REGION_AFTER)
		return slab_realloc(ptr, o, n);
	if (o > SLAB_MAX && n > SLAB_MAX)
		return slab_realloc(ptr, o, n);
	if (slab_same_class(o, n))
		return ptr;
	void *q = heap_alloc(p, n);
	if (q == NULL)
		return NULL;
	memcpy(q, ptr, o < n ? o : n);
	heap_free(p, ptr, o);
	return q;
}

/*
** Past the memory limit. Refusing the block makes Lua collect the whole
** heap at once, in emergency, before it raises: for a 256 MB heap that is
** ~190 ms in which nothing else on the shard runs (bench/fairness.sh's
** hog). Instead the process may go past its limit by up to an eighth
** while pmem_check runs the collector to the end of its cycles in bounded
** steps, from a count hook. If after MEM_CYCLES cycles the heap is still
** past the limit the process fails with a memory error; if not, it goes
** on. Past the eighth the block is refused, and Lua's own emergency
** collection decides. Once it has failed so (mem_hard), what is left of
** the eighth serves the error's way out (its message, a traceback), which
** must not meet the emergency collection either; a process that catches
** the error and goes on meets it at the eighth. Nothing is collected here:
** the allocator may not run the collector.
*/
#define MEM_CHECK_NS 250000 /* collector work per check */
#define MEM_CYCLES 2


static int pmem_overdraw(struct proc *p, size_t d)
{
	if (p->L == NULL || p->mem_used + d > pmem_ceiling(p))
		return 0;
	if (!p->mem_over && !p->mem_hard) {
		p->mem_over = 1;
		p->mem_cycles = 0;
		lua_sethook(p->cur ? p->cur->L : p->L, pmem_hook, LUA_MASKCOUNT, 1);
	}
	return 1;
}

/* One bounded step of the collector for a process past its limit (see
** pmem_overdraw), from its count hook or the preemption hook. */
static void pmem_check(lua_State *L)
{
	struct proc *p = proc_of(L);

	if (!p->mem_over)
		return;
	/* A generational major collection is one step over the whole heap. */
	if (!p->gc_big) {
		p->gc_big = 1;
		lua_gc(L, LUA_GCINC, 200, 100, 0);
	}
	/* Basic steps (as if nothing was allocated: the debt the process ran
	** up past its limit would make one step pay all of it) for up to
	** MEM_CHECK_NS, or to the end of a cycle. */
	uint64_t end = common_now_ns() + MEM_CHECK_NS;
	int done;
	while (!(done = lua_gc(L, LUA_GCSTEP, 0)) && common_now_ns() < end)
		;
	if (!done || ++p->mem_cycles < MEM_CYCLES)
		return;
	p->mem_over = 0;
	if (p->mem_used > p->mem_limit) {
		p->mem_hard = 1;
		lua_sethook(L, NULL, 0, 0);
		lua_Integer used = (lua_Integer)p->mem_used, lim = (lua_Integer)p->mem_limit;
		luaL_error(L, "not enough memory: the heap (%I bytes) stays past "
			   "the process's memory limit (%I bytes)", used, lim);
	}
}

void pmem_hook(lua_State *L, lua_Debug *ar)
{
	struct proc *p = proc_of(L);

	pmem_check(L);
	if (preempt_due()) /* the slice ran out while it collected */
		preempt_hook(L, ar);
	else
		lua_sethook(L, p->mem_over ? pmem_hook : NULL, LUA_MASKCOUNT,
			    PMEM_CHECK_EVERY);
}

/* The process's lua_Alloc: counts bytes and refuses past the limit, which
** makes Lua raise a memory error that ends only this process.
**
** Blocks come from heap_alloc, or during the first step (nsteps is 0)
** from the process's arena when it has one (see pmem_arena_size below). An
** arena block is never freed on its own: freeing it does nothing and
** shrinking it keeps it in place; growing it moves it. Once the heap has
** handed out one block (the arena was full, or the first step is over) the
** state is no longer all in the arena and must be closed with lua_close. */
void *pmem_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct proc *p = ud;
	void *q;

	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		if (!arena_owns(&p->arena, ptr))
			heap_free(p, ptr, osize);
		else
			arena_forget(&p->arena, ptr, osize);
		p->mem_used -= osize;
		return NULL;
	}
	if (p->mem_limit && nsize > osize &&
	    p->mem_used + (nsize - osize) > p->mem_limit &&
	    !pmem_overdraw(p, nsize - osize))
		return NULL;
	if (ptr != NULL && !arena_owns(&p->arena, ptr)) {
		q = heap_realloc(p, ptr, osize, nsize);
	} else if (ptr != NULL && nsize <= osize) {
		q = ptr;
		arena_forget(&p->arena, (char *)ptr + nsize, osize - nsize);
	} else {
		q = p->nsteps == 0 ? arena_alloc(&p->arena, nsize) : NULL;
		if (q == NULL) {
			q = heap_alloc(p, nsize);
			p->arena_only = 0;
		}
		if (q != NULL && ptr != NULL) {
			memcpy(q, ptr, osize);
			arena_forget(&p->arena, ptr, osize);
		}
	}
	if (q == NULL)
		return NULL;
	if (p->nsteps == 0 && nsize > osize)
		p->first_bytes += nsize - osize;
	p->mem_used += nsize - osize;
	if (p->mem_used > p->mem_peak)
		p->mem_peak = p->mem_used;
	return q;
}

/* The collector did work in L (runtime/luagc.c: a step, full != 0 a full
** collection): counted on the calling shard when L is a process's state
** (its allocator is pmem_alloc; the runtime's other states, the loader's and
** the cluster's, are not counted). A collection is the state's owner's
** work, so this runs on the shard that runs p, or on the thread closing
** it. */
void proc_gc_work(lua_State *L, int full);

void proc_gc_work(lua_State *L, int full)
{
	void *ud;
	if (lua_getallocf(L, &ud) == pmem_alloc)
		rstats_gc(((struct proc *)ud)->rt->rstats, full);
}

/* The arena for a new state of p: as large as the last process of its
** entry needed, if that one ran to its end in its first step (so this one
** likely will, and is then dropped whole); none otherwise, nor for pooled
** states. */
#define ARENA_MAX (256 * 1024)
#define ARENA_SLACK 1024

size_t pmem_arena_size(const struct proc *p)
{
	if (p->pooled || p->code == NULL)
		return 0;
	size_t hint = atomic_load_explicit(&p->code->arena_hint, memory_order_relaxed);
	/* Under AddressSanitizer each block also takes a red zone. */
	return hint ? hint * (ARENA_REDZONE ? 4 : 1) + ARENA_SLACK : 0;
}

/* Record how p's state went for the next process of its entry. */
void pmem_arena_learn(struct proc *p)
{
	size_t hint = 0;
	if (p->code == NULL || p->pooled)
		return;
	if (p->nsteps <= 1 && p->first_bytes <= ARENA_MAX)
		hint = p->first_bytes;
	if (atomic_load_explicit(&p->code->arena_hint, memory_order_relaxed) != hint)
		atomic_store_explicit(&p->code->arena_hint, (unsigned)hint,
				      memory_order_relaxed);
}

/* Drop p's Lua state: at once when all of it is in the arena and nothing
** in it has a finalizer to run; by the reaper when it is big and has none
** (reaper.h); with lua_close otherwise. */
void pmem_drop_state(struct proc *p)
{
	/* A big state's large blocks go back to malloc, which keeps what is
	** not at the top of its heaps: its free pages are handed back too. */
	bool trim = p->mem_peak >= TRIM_AFTER;

	if (p->region && !p->finalizers &&
	    reaper_close(p->L, p->region, &p->arena, trim)) {
		p->region = NULL; /* the reaper's now, with L and the arena */
		trim = false;
	} else if (p->arena.base == NULL || !p->arena_only || p->finalizers) {
		lua_close(p->L);
	}
	p->L = NULL;
	p->sec_cache = NULL;	/* it lived in L */
	arena_release(&p->arena);
	region_free(p->region);
	p->region = NULL;
	p->region_tried = 0;
	if (trim)
		malloc_trim(0);
	p->mem_peak = p->mem_used = 0;
	p->mem_over = p->mem_hard = 0;
}

void proc_note_finalizer(lua_State *L)
{
	proc_of(L)->finalizers = 1;
}
