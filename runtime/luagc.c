/*
** runtime/luagc.c: the Lua collector: its generational mode entered with
** the first minor collection due (luagc.h), and its work counted without
** patching Lua.
**
** Lua's collector runs from inside the interpreter: an allocation that
** puts the state in debt calls luaC_step (one incremental step, or in
** generational mode one minor or major collection), lua_gc(LUA_GCSTEP)
** calls it too, and collectgarbage(), lua_gc(LUA_GCCOLLECT) and an
** emergency collection on a failed allocation call luaC_fullgc. Neither
** is part of Lua's API, and the hooks Lua offers see none of it.
**
** Lua is linked statically from Debian's liblua5.4.a (Makefile), whose
** objects call both functions through the symbol table: the link wraps
** them (ld --wrap=luaC_step --wrap=luaC_fullgc, with -u so that this
** object is pulled from libruntime.a), and every call in the library
** reaches __wrap_* here first, then the real function. The signatures are
** lgc.h's in 5.4 (void (lua_State *), void (lua_State *, int)).
**
** What a step pays: one call and proc_gc_work's check of the state's
** allocator; a step itself marks or sweeps a few KB, so that is noise.
**
** With LUA_STATIC=0 (the shared liblua5.4.so, whose internal symbols are
** not exported, so nothing can be wrapped) the Makefile defines nothing,
** nothing is wrapped, and the scrape leaves the figures out rather than
** show zeros.
*/
#include "runtime/luagc.h"

void luagc_generational(lua_State *L, int minormul, int majormul)
{
	lua_gc(L, LUA_GCGEN, minormul, majormul);
	lua_gc(L, LUA_GCSTEP, 0);
}

#ifdef WIPPY_LUA_GC_WRAP

void __real_luaC_step(lua_State *L);
void __real_luaC_fullgc(lua_State *L, int isemergency);
void __wrap_luaC_step(lua_State *L);
void __wrap_luaC_fullgc(lua_State *L, int isemergency);

/* In proc.c. Weak: a program that links Lua but no process (a bench, a
** unit test of a Lua module) has no proc.o, and counts nothing. */
void proc_gc_work(lua_State *L, int full) __attribute__((weak));

void __wrap_luaC_step(lua_State *L)
{
	if (proc_gc_work)
		proc_gc_work(L, 0);
	__real_luaC_step(L);
}

void __wrap_luaC_fullgc(lua_State *L, int isemergency)
{
	if (proc_gc_work)
		proc_gc_work(L, 1);
	__real_luaC_fullgc(L, isemergency);
}

#endif
