/*
** runtime/reaper.h: big Lua states closed off the shards.
**
** lua_close walks every object of a state, and for a heap of a few
** hundred megabytes that is 150-300 ms (bench/fairness.sh's hog) in which
** its shard runs nothing else. A state that has a region (it grew past
** REGION_AFTER) and no finalizer to run is therefore handed to the reaper,
** one thread for the runtime, which closes it with an allocator of its
** own: blocks in the region or the arena are left to go with them, large
** ones go to free(), and the slab's are gathered and given back to the
** shards through the slab's spill (slab.h). Then the region is unmapped,
** the arena freed and malloc's free pages trimmed.
**
** No Lua code runs in the reaper: a state with a finalizer (p->finalizers,
** which also covers coroutines, timers and channels) is closed on its
** shard as before, since finalizers reach the shard's own structures.
*/
#ifndef RUNTIME_REAPER_H
#define RUNTIME_REAPER_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "region.h"

/* Take L (no finalizers: see above), its region r (may be NULL) and its
** arena a (moved out: a is empty afterwards); trim malloc after closing
** it when trim. False, with nothing taken, when no thread could be
** started: close L here then. Any thread. */
bool reaper_close(lua_State *L, struct region *r, struct arena *a, bool trim);

/* Wait until every state handed over so far is closed. */
void reaper_drain(void);

#endif
