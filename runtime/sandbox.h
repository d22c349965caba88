/*
** runtime/sandbox.h: building a process's Lua state: the allow-listed
** globals (spec 3), `require` limited to the entry's modules and imports,
** and loading an entry's cached bytecode.
*/
#ifndef RUNTIME_SANDBOX_H
#define RUNTIME_SANDBOX_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct code;
struct reg_entry;
struct rt;
struct proc;

/* Collect the standard libraries' functions for lazy tables. Call once at
** boot before any process starts. */
void sandbox_harvest(void);

/* Open the globals of the process running on L; `require` answers for
** that process's entry. [-0, +0, e] */
void sandbox_open(lua_State *L);

/* Run entry's chunk and push the function its `method` names (or the
** function the chunk returns). `code` is entry's compiled code when the
** caller has it (rt_code), else NULL to look it up. Raises a Lua error
** naming the entry when there is no code or the chunk does not provide
** the method. [-0, +1, e] */
void sandbox_load_entry(lua_State *L, const struct reg_entry *entry,
			const struct code *code);

/* 1 when require(name) can be answered for an entry that lists name in
** its modules: one of the loadable modules or a global library (string,
** errors, process, channel, ...); else 0. Reads the sandbox's own tables,
** so a module added there is known here. Any thread. */
int sandbox_provides(const char *name);

/* Compile every Lua entry of the registry once (process.lua,
** function.lua, library.lua) into rt->codes. Returns the number of
** entries that failed (each reported on stderr with file:line). */
int sandbox_compile_all(struct rt *rt);
void sandbox_free_codes(struct rt *rt);

/* time.sleep support, implemented in proc.c. */
int proc_sleep(lua_State *L, uint64_t ms);
void proc_timer_fired(struct proc *p);

#endif
