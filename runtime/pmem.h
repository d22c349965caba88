/*
** runtime/pmem.h: a process's memory, for runtime/proc.c only: the Lua
** allocator of its state, the memory limit and its overdraft, the
** first-step arena's sizing, and dropping the state. The fields are
** struct proc's (proc.h: "The allocator's"); the shard that runs the
** process is the only caller, except pmem_drop_state on the thread that
** ends it.
*/
#ifndef RUNTIME_PMEM_H
#define RUNTIME_PMEM_H

#include <lua.h>
#include <stddef.h>

#include "proc.h"

#define PMEM_CHECK_EVERY 100 /* instructions between checks past the limit */

/* The process's lua_Alloc, with the struct proc as ud. */
void *pmem_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* The limit plus the overdraft: how far the heap may go while pmem_check
** judges. */
static inline size_t pmem_ceiling(const struct proc *p)
{
	return p->mem_limit + p->mem_limit / 8;
}

/* Count hook of a process past its limit: collects in bounded steps and
** fails the process if its heap stays past the limit. */
void pmem_hook(lua_State *L, lua_Debug *ar);

/* The arena size for a new state of p (0: none), and what p's state
** teaches the next process of its entry. */
size_t pmem_arena_size(const struct proc *p);
void pmem_arena_learn(struct proc *p);

/* Drop p's Lua state (lua_close, the arena whole, or the reaper) and
** reset its memory figures. */
void pmem_drop_state(struct proc *p);

#endif
