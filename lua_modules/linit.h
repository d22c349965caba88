/*
** lua_modules/linit.h: the globals and `require` of a process state.
*/
#ifndef LUA_MODULES_LINIT_H
#define LUA_MODULES_LINIT_H

#include <lua.h>

/* Collect the standard libraries' functions for the lazy tables and hand
** linit_open to the runtime (code_set_libs). Once, in main(), before any
** process starts. */
void linit_init(void);

/* The standard library lists only (linit_init calls it); for tests. */
void linit_harvest(void);

/* Open the globals of the process running on L; `require` answers for
** that process's entry. [-0, +0, e] */
void linit_open(lua_State *L);

/* Whether require(name) can be answered by a built-in module or library
** (not by an entry's imports). */
int linit_provides(const char *name);

#endif
