/*
** lua_modules/linit.c: the globals a process sees and its `require` (the
** name is Lua's, whose linit.c keeps the table of library openers).
**
** Allow-list (spec 3): base functions minus load/loadfile/dofile/
** collectgarbage/rawlen, and `print` going to the logger; string, table,
** math, coroutine (+ spawn), a restricted os, errors, process, channel,
** payload and the primitive type values. Everything else comes from
** `require`, which only hands out the modules the entry lists in
** `modules:` and the libraries in `imports:` (listing the globals
** `process`/`channel` there is accepted, as old apps do).
**
** main() calls linit_init once; it hands linit_open to the runtime
** (code_set_libs), which opens it in every new process state.
*/
#include "linit.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "channel.h"
#include "crypto.h"
#include "engine/common.h"
#include "errors.h"
#include "hash.h"
#include "json.h"
#include "lazylib.h"
#include "logger.h"
#include "lyaml.h"
#include "ltype.h"
#include "modules.h"
#include "payload.h"
#include "security.h"
#include "udata.h"
#include "funcs.h"
#include "runtime/code.h"
#include "runtime/cluster.h"
#include "runtime/httpd.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "events.h"
#include "runtime/rt.h"

/* {==== Globals ====} */

/* The modules `require` may hand out, by name. */
static const luaL_Reg loadable[] = {
	{"time", luaopen_time},
	{"logger", luaopen_logger},
	{"json", luaopen_json},
	{"env", luaopen_env},
	{"io", luaopen_wio},
	{"http", luaopen_http},
	{"uuid", luaopen_uuid},
	{"ctx", luaopen_ctx},
	{"security", luaopen_security},
	{"registry", luaopen_registry},
	{"events", luaopen_events},
	{"hash", luaopen_hash},
	{"base64", luaopen_base64},
	{"crypto", luaopen_crypto},
	{"yaml", luaopen_yaml},
	{"funcs", luaopen_funcs},
	{"contract", luaopen_contract},
	{"queue", luaopen_queue},
	{"sql", luaopen_sql},
	{"store", luaopen_store},
	{"http_client", luaopen_http_client},
	{"metrics", luaopen_metrics},
	{"system", luaopen_system},
	{"pg", luaopen_pg},
	{NULL, NULL}
};

static int listed(const struct reg_entry *e, const char *name)
{
	for (size_t i = 0; i < e->u.lua.nmodules; i++)
		if (strcmp(e->u.lua.modules[i], name) == 0)
			return 1;
	return 0;
}

static const struct reg_entry *find_import(const struct reg_entry *e, const char *name)
{
	for (size_t i = 0; i < e->u.lua.nimports; i++)
		if (strcmp(e->u.lua.imports[i].name, name) == 0)
			return e->u.lua.imports[i].entry;
	return NULL;
}

static int is_global_lib(const char *name);

/* require(name): listed modules, imports and the always-there globals of
** the running process's entry. [-0, +1, e] */
static int sb_require(lua_State *L)
{
	const struct reg_entry *e = proc_of(L)->entry;
	const char *name = luaL_checkstring(L, 1);
	const struct reg_entry *lib;

	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	/* The global libraries (string, math, ..., process, channel,
	** errors): old apps list some in modules: and require them. */
	if (is_global_lib(name)) {
		lua_getglobal(L, name);
		return 1;
	}
	lib = find_import(e, name);
	if (lib) {
		code_load_entry(L, lib, NULL);
	} else if (listed(e, name)) {
		const luaL_Reg *r;
		for (r = loadable; r->name; r++)
			if (strcmp(r->name, name) == 0)
				break;
		if (r->name == NULL)
			return luaL_error(L, "module '%s' not found", name);
		r->func(L);
	} else {
		return luaL_error(L, "module '%s' not found (not listed in the "
				  "modules of %s)", name, e->id);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

/* {==== Lazy standard libraries ====}
**
** Libraries are opened on first use, and their tables are filled one name
** at a time (lazylib.h): a process that never touches `math` does not pay
** for its 27 functions, and one that calls string.format holds one slot.
** This is what keeps an idle process near the bare lua_newstate cost
** (DESIGN.md: spawn must be cheap).
**
** Lua's standard libraries keep their luaL_Reg lists private, so the boot
** harvests them once from a scratch state: every function without
** upvalues (all but math.random/randomseed) is a plain lua_CFunction that
** any state can use. The lists are immutable after linit_harvest().
*/

struct harvest {
	luaL_Reg *base, *string, *table, *coroutine, *os, *math;
};

static struct harvest libs;

static const char *const removed_base[] = {
	"load", "loadstring", "loadfile", "dofile", "collectgarbage", "rawlen",
	"require", "print", "setmetatable", NULL
};

/* Lua's own setmetatable, called by the sandbox's. */
static lua_CFunction base_setmetatable;

/* setmetatable(t, mt): Lua's, telling the process when mt has a __gc
** (a finalizer must run when the process ends: proc_note_finalizer).
** Lua marks an object for finalization only if __gc is there when the
** metatable is set, so this is the one place to look. [-0, +1, e] */
static int sb_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			proc_note_finalizer(L);
		lua_pop(L, 1);
	}
	return base_setmetatable(L);
}

/* Kept out of the harvested math list: random and randomseed share their
** generator state through an upvalue, so they come from luaopen_math. */
static const char *const removed_math[] = { "random", "randomseed", NULL };

static const char *const removed_os[] = {
	"execute", "exit", "remove", "rename", "tmpname", "getenv",
	"setlocale", NULL
};

static int is_removed(const char *const *names, const char *k)
{
	for (; names && *names; names++)
		if (strcmp(*names, k) == 0)
			return 1;
	return 0;
}

/* coroutine.spawn(fn) [-0, +1, e] */
static int co_spawn(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	proc_spawn_coro(L);
	return 1;
}

/* Lua's coroutine.resume and coroutine.close, called by the sandbox's. */
static lua_CFunction co_resume_lua, co_close_lua;

/* coroutine.resume(co, ...): Lua's, except on a coroutine the scheduler
** runs. Such a coroutine is suspended in a wait whose record sits on its
** stack; resuming it by hand would leave the record linked while the
** stack moves on. Refused the way Lua refuses a dead coroutine: false and
** a message. [-0, +(1|n), e] */
static int co_resume(lua_State *L)
{
	lua_State *th = lua_tothread(L, 1);
	if (th != NULL && proc_owns_thread(th)) {
		lua_pushboolean(L, 0);
		lua_pushliteral(L, "cannot resume a coroutine the scheduler runs");
		return 2;
	}
	return co_resume_lua(L);
}

/* coroutine.close(co): Lua's, except on a coroutine the scheduler runs,
** which raises as closing a running coroutine does. [-0, +(1|2), e] */
static int co_close(lua_State *L)
{
	lua_State *th = lua_tothread(L, 1);
	if (th != NULL && proc_owns_thread(th))
		return luaL_error(L, "cannot close a coroutine the scheduler runs");
	return co_close_lua(L);
}

/* The upvalue-free C functions of the table on top of T, minus `removed`,
** plus `extra` (NULL-terminated lists). Pops the table. */
static luaL_Reg *collect(lua_State *T, const char *const *removed,
			 const luaL_Reg *extra)
{
	size_t n = 0, cap = 64;
	luaL_Reg *out = xcalloc(cap, sizeof(*out));
	lua_pushnil(T);
	while (lua_next(T, -2)) {
		lua_CFunction f = lua_tocfunction(T, -1);
		int upvalues = f && lua_getupvalue(T, -1, 1) != NULL;
		if (upvalues)
			lua_pop(T, 1);	/* lua_getupvalue pushed it */
		if (lua_type(T, -2) == LUA_TSTRING && f && !upvalues &&
		    !is_removed(removed, lua_tostring(T, -2))) {
			if (n + 2 >= cap)
				out = xrealloc(out, (cap *= 2) * sizeof(*out));
			out[n].name = xstrdup(lua_tostring(T, -2));
			out[n].func = f;
			n++;
		}
		lua_pop(T, 1);
	}
	for (; extra && extra->name; extra++) {
		if (n + 2 >= cap)
			out = xrealloc(out, (cap *= 2) * sizeof(*out));
		out[n].name = xstrdup(extra->name);
		out[n].func = extra->func;
		n++;
	}
	out[n].name = NULL;
	out[n].func = NULL;
	lua_pop(T, 1);
	return out;
}

void linit_harvest(void)
{
	static const char *const removed_co[] = {"resume", "close", NULL};
	static const luaL_Reg co_extra[] = {
		{"spawn", co_spawn}, {"resume", co_resume}, {"close", co_close},
		{NULL, NULL}
	};
	lua_State *T;
	if (libs.base)
		return;
	T = luaL_newstate();
	luaopen_base(T);
	lua_getfield(T, -1, "setmetatable");
	base_setmetatable = lua_tocfunction(T, -1);
	lua_pop(T, 1);
	libs.base = collect(T, removed_base, NULL);
	luaopen_string(T);
	libs.string = collect(T, NULL, NULL);
	errors_wrap_strlib(libs.string);	/* error objects read as strings */
	luaopen_table(T);
	libs.table = collect(T, NULL, NULL);
	luaopen_coroutine(T);
	lua_getfield(T, -1, "resume");
	co_resume_lua = lua_tocfunction(T, -1);
	lua_getfield(T, -2, "close");
	co_close_lua = lua_tocfunction(T, -1);
	lua_pop(T, 2);
	libs.coroutine = collect(T, removed_co, co_extra);
	luaopen_os(T);
	libs.os = collect(T, removed_os, NULL);
	luaopen_math(T);
	libs.math = collect(T, removed_math, NULL);
	lua_close(T);
}

static int open_lazy(lua_State *L, const luaL_Reg *funcs)
{
	lazylib_new(L, funcs);
	return 1;
}

/* string is also the `string` type value: string(v) validates. */
static int open_string(lua_State *L)
{
	open_lazy(L, libs.string);
	ltype_callable_string(L, -1);
	return 1;
}

static int open_table(lua_State *L) { return open_lazy(L, libs.table); }
static int open_coroutine(lua_State *L) { return open_lazy(L, libs.coroutine); }
/* os is the original's table: clock, date, difftime, time and
** platform = "wippy" (the rest of Lua's os is removed above). */
static int os_platform(lua_State *L) { lua_pushliteral(L, "wippy"); return 1; }
static const luaL_Reg os_makers[] = {{"platform", os_platform}, {NULL, NULL}};
static int open_os(lua_State *L) { lazylib_new2(L, libs.os, os_makers); return 1; }
static int open_errors(lua_State *L) { return errors_luaopen(L); }

/* math's constants and its generator, made on first use. Stack: the lazy
** table, the name. [-0, +1, m] */
static int math_pi(lua_State *L) { lua_pushnumber(L, (lua_Number)3.141592653589793238462643383279502884); return 1; }
static int math_huge(lua_State *L) { lua_pushnumber(L, (lua_Number)HUGE_VAL); return 1; }
static int math_maxint(lua_State *L) { lua_pushinteger(L, LUA_MAXINTEGER); return 1; }
static int math_minint(lua_State *L) { lua_pushinteger(L, LUA_MININTEGER); return 1; }

/* random or randomseed: opens the real library once for its seeded
** generator and stores both functions, which share it. */
static int math_random(lua_State *L)
{
	luaopen_math(L);
	lua_getfield(L, -1, "random");
	lua_setfield(L, 1, "random");
	lua_getfield(L, -1, "randomseed");
	lua_setfield(L, 1, "randomseed");
	lua_pop(L, 1);
	lua_pushvalue(L, 2);
	lua_rawget(L, 1);
	return 1;
}

static const luaL_Reg math_makers[] = {
	{"pi", math_pi},
	{"huge", math_huge},
	{"maxinteger", math_maxint},
	{"mininteger", math_minint},
	{"random", math_random},
	{"randomseed", math_random},
	{NULL, NULL}
};

/* Opening the whole of math costs a process 27 closures and interned
** names; a lazy table pays for the names it is asked for. */
static int open_math(lua_State *L)
{
	lazylib_new2(L, libs.math, math_makers);
	return 1;
}

static const luaL_Reg lazy_globals[] = {
	{LUA_STRLIBNAME, open_string},
	{LUA_TABLIBNAME, open_table},
	{LUA_MATHLIBNAME, open_math},
	{LUA_COLIBNAME, open_coroutine},
	{LUA_OSLIBNAME, open_os},
	{"errors", open_errors},
	/* type names as values (lua_modules/ltype.c) */
	{"integer", ltype_open_integer},
	{"number", ltype_open_number},
	{"boolean", ltype_open_boolean},
	{"any", ltype_open_any},
	{"unknown", ltype_open_unknown},
	{"never", ltype_open_never},
	{"process", luaopen_process},
	{"channel", luaopen_channel},
	{"payload", luaopen_payload},
	{NULL, NULL}
};

/* Globals of the sandbox's own, beside the harvested base functions. */
static const luaL_Reg own_globals[] = {
	{"print", logger_print},
	{"require", sb_require},
	{"setmetatable", sb_setmetatable},
	{"subscribe", chan_subscribe},
	{"unsubscribe", chan_unsubscribe},
	{NULL, NULL}
};

static int is_global_lib(const char *name)
{
	return lazylib_find(lazy_globals, name) != NULL;
}

int linit_provides(const char *name)
{
	if (is_global_lib(name))
		return 1;
	for (const luaL_Reg *r = loadable; r->name; r++)
		if (strcmp(r->name, name) == 0)
			return 1;
	return 0;
}

/* _G's __index: (t, k) -> a base function, a library or _G itself, made
** now and stored in _G, or nil. [-0, +1, e] */
static int global_index(lua_State *L)
{
	const luaL_Reg *r;
	const char *k = lua_tostring(L, 2);
	if (k == NULL || lua_type(L, 2) != LUA_TSTRING)
		return 0;
	if (k[0] == '_' && strcmp(k, "_VERSION") == 0) {
		lua_pushliteral(L, LUA_VERSION);
		return 1;
	}
	if (k[0] == '_' && strcmp(k, LUA_GNAME) == 0) {
		lua_pushvalue(L, 1);
	} else if ((r = lazylib_find(libs.base, k)) != NULL ||
		   (r = lazylib_find(own_globals, k)) != NULL) {
		lua_pushcfunction(L, r->func);
	} else if ((r = lazylib_find(lazy_globals, k)) != NULL) {
		/* No package.loaded entry: require hands these out from _G
		** (sb_require). */
		lua_pushcfunction(L, r->func);
		lua_call(L, 0, 1);
	} else {
		return 0;
	}
	lua_pushvalue(L, 2);
	lua_pushvalue(L, -2);
	lua_rawset(L, 1);
	return 1;
}

/* The string metatable's __index until the string library exists: makes
** it, installs it as the real __index, and answers. [-0, +1, m] */
static int string_index(lua_State *L)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	if (lua_getmetatable(L, 1)) {
		lua_pushvalue(L, -2);
		lua_setfield(L, -2, "__index");
		lua_pop(L, 1);
	}
	lua_getfield(L, -1, luaL_checkstring(L, 2));
	return 1;
}

void linit_open(lua_State *L)
{
	udata_reserve(L); /* first: before anything takes a registry ref */
	/* _G, print and require come through global_index like the rest;
	** a _G with room for the first few saves their rehashes. */
	lua_createtable(L, 0, 4);
	lua_pushvalue(L, -1);
	lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, global_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);

	/* "s":upper() before anyone named `string`. */
	lua_pushliteral(L, "");
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, string_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);

	/* The logger's automatic pid field. */
	lua_pushlstring(L, proc_of(L)->pidstr, proc_of(L)->pidlen);
	lua_setfield(L, LUA_REGISTRYINDEX, "wippy.pid");
}


static const struct code_libs linit_libs = { linit_open, linit_provides };

void linit_init(void)
{
	udata_init();
	linit_harvest();
	code_set_libs(&linit_libs);
	httpd_set_token_auth(security_token_auth);
	httpd_set_firewall(security_firewall);
	cluster_set_send_check(security_remote_send);
}
