/*
** runtime/code.h: the bytecode cache and loading an entry's code into a
** state; the hand-over of the Lua libraries from main() to the runtime.
*/
#ifndef RUNTIME_CODE_H
#define RUNTIME_CODE_H

#include <lua.h>

struct code;
struct reg_entry;
struct rt;

/* What the runtime opens in a new state, given by main() (the runtime
** names no library): open(L) sets up the globals and `require` of the
** process running on L [-0, +0, e]; provides(name) says whether require
** can answer `name` (for the modules: warnings). */
struct code_libs {
	void (*open)(lua_State *L);
	int (*provides)(const char *name);
};

/* Set the libraries; once, before the runtime starts. l must outlive it. */
void code_set_libs(const struct code_libs *l);

/* Open the libraries in L (the process's state). [-0, +0, e] */
void code_open_libs(lua_State *L);

/* Whether require(name) can be answered; 0 before code_set_libs. */
int code_provides(const char *name);

/* Compile every Lua entry of the registry once (process.lua,
** function.lua, library.lua; process.lua.bc bytecode) into rt->codes,
** erasing type annotations first. Returns the number of entries that
** failed, each reported on stderr with file:line:col. */
int code_compile_all(struct rt *rt);
void code_free_all(struct rt *rt);

/*
** Code for the Lua entries of a registry version made at run time
** (runtime/live.c): compile every Lua entry of reg that has no code yet
** into *out, a chain not yet visible to code_find. Returns 0, or -1 with
** *msg (malloc'd, "id: what") naming the first entry that failed; then
** nothing is kept. code_publish makes a chain visible (one caller at a
** time); code_discard frees one that never was.
*/
struct code_batch;
struct registry;
int code_compile_new(struct rt *rt, const struct registry *reg,
		     struct code_batch **out, char **msg);
void code_publish(struct rt *rt, struct code_batch *chain);
void code_discard(struct code_batch *chain);

/* Entry e's compiled code, or NULL. Any thread (rt->codes is read-only
** after code_compile_all). */
struct code *code_find(const struct rt *rt, const struct reg_entry *e);

/* Run entry's chunk and push the function its `method` names (or the
** function the chunk returns; a library's value). `c` is entry's code when
** the caller has it, else NULL to look it up. Raises a Lua error naming
** the entry when there is no code or the chunk does not provide the
** method. [-0, +1, e] */
void code_load_entry(lua_State *L, const struct reg_entry *e, const struct code *c);

#endif
