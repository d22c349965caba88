/*
** runtime/luagc.h: what the runtime asks of the Lua collector beyond
** lua_gc, over Debian's Lua 5.4.4 as it behaves.
*/
#ifndef WIPPY_LUAGC_H
#define WIPPY_LUAGC_H

#include <lua.h>

/* Switch L from incremental to generational mode: minor collections after
** minormul % growth, a major one past majormul % (lua_gc's LUA_GCGEN),
** with the first minor collection due after minormul % more allocation.
**
** lua_gc(LUA_GCGEN) alone runs the full collection that enters the mode
** but leaves the collector's debt as the last incremental cycle set it:
** the first minor collection then waits until the heap has grown by the
** incremental pause (77-83 % with pause 200, measured on 5.4.4), and a
** long-lived process keeps that garbage until it has run for that long
** (a mass-spawn worker on a 3 s ticker: about 100 s at 20 KB instead of
** 14). One basic step right after the switch is a minor collection over
** an empty young generation, and it sets the next one's due. [-0, +0, m] */
void luagc_generational(lua_State *L, int minormul, int majormul);

#endif
