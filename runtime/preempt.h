/*
** runtime/preempt.h: preemption of processes that do not yield.
**
** A Lua count hook that is always on makes Lua about twice as slow, so the
** hook is armed only when a slice has run out: a watchdog thread samples
** each shard twice a slice (scheduler.slice, 2 ms by default); if the
** same resume is still running at the next sample, it signals that shard's
** thread, whose handler arms a count hook on the running coroutine
** (lua_sethook is safe to call from a signal handler on the thread running
** the state). The hook yields; the process queues behind the shard's other
** ready work (shard_yield). A resume thus runs at most one slice.
**
** The watchdog sleeps on a condition variable while no shard runs Lua, so
** an idle runtime has no periodic wake-ups.
**
** Shutdown (preempt_halt): once the stop timeout has passed, code that
** cannot yield (a chunk's top level, a C boundary such as a sort
** comparator) is not left to the runaway limit: the next hook raises a
** "process terminated" error in it, and keeps raising one at every
** instruction, so a pcall around the loop cannot swallow it. Code that can
** yield yields as before and meets its TERMINATE message in the mailbox.
*/
#ifndef RUNTIME_PREEMPT_H
#define RUNTIME_PREEMPT_H

#include <lua.h>
#include <stdint.h>

/* Start the watchdog for n shards, sampling every slice_ns / 2. A resume that
** cannot yield (a chunk's top level, a C boundary) and runs past
** runaway_ns ends its process with an error. Both come from struct conf
** (scheduler.slice, scheduler.runaway_limit). Call once before the shards
** start. */
void preempt_init(int nshards, int64_t slice_ns, int64_t runaway_ns);

/* From any thread, once shutdown's stop timeout has passed: every resume
** that runs on past its slice from now on ends its process with an error
** (see the file comment) instead of waiting for the runaway limit. Code
** stuck inside one C call (no Lua instruction runs) is out of reach: the
** runtime abandons it (runtime/rt.c). */
void preempt_halt(void);

/* Stop and join the watchdog. */
void preempt_shutdown(void);

/* On shard i's thread, once, before it runs any process. */
void preempt_register(int shard);

/* Around every lua_resume of a process coroutine on shard `shard`, and
** around running a process's chunk at start (co is then its main state). */
void preempt_enter(int shard, lua_State *co);
void preempt_leave(void);

/* On shard i's thread at the end of each turn of its loop, before it may
** sleep: it ran no Lua since, so the watchdog may park. */
void preempt_idle(int shard);

/* True (and cleared) if the last resume on this thread ended because its
** slice ran out. */
int preempt_took(void);

/* For a count hook of another purpose (runtime/proc.c's memory check):
** a hook it sets replaces the one preemption armed, so before re-arming
** itself it asks preempt_due() whether the watchdog signalled the running
** resume since the last call, and if so arms preempt_hook instead. */
int preempt_due(void);
void preempt_hook(lua_State *L, lua_Debug *ar);

#endif
