/*
** runtime/preempt.h: preemption of processes that do not yield.
**
** A Lua count hook that is always on makes Lua about twice as slow, so the
** hook is armed only when a slice has run out: a watchdog thread samples
** each shard every PREEMPT_SLICE_MS; if the same resume is still running
** at the next sample, it signals that shard's thread, whose handler arms a
** count hook on the running coroutine (lua_sethook is safe to call from a
** signal handler on the thread running the state). The hook yields; the
** process goes to the back of the run queue.
**
** The watchdog sleeps on a condition variable while no shard runs Lua, so
** an idle runtime has no periodic wake-ups.
*/
#ifndef RUNTIME_PREEMPT_H
#define RUNTIME_PREEMPT_H

#include <lua.h>

#define PREEMPT_SLICE_MS 10

/* A resume that cannot yield (a chunk's top level, a C boundary) and runs
** this many slices (5 s) ends its process with an error. */
#define PREEMPT_KILL_SLICES 500

/* Start the watchdog for n shards. Call once before the shards start. */
void preempt_init(int nshards);

/* Stop and join the watchdog. */
void preempt_shutdown(void);

/* On shard i's thread, once, before it runs any process. */
void preempt_register(int shard);

/* Around every lua_resume of a process coroutine on shard `shard`, and
** around running a process's chunk at start (co is then its main state). */
void preempt_enter(int shard, lua_State *co);
void preempt_leave(int shard);

/* True (and cleared) if the last resume on this thread ended because its
** slice ran out. */
int preempt_took(void);

#endif
