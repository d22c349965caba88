/*
** lua_modules/sql_int.h: what sql.c shares with its Postgres handles
** (sqlpg.c): the parameter conversion, the savepoint name check and the
** entry point sql.get calls for a db.sql.postgres entry. Internal to the
** sql module.
*/
#ifndef LUA_MODULES_SQL_INT_H
#define LUA_MODULES_SQL_INT_H

#include <lauxlib.h>
#include <lua.h>

#include "runtime/sqldb.h"

struct reg_entry;

/* The parameter table at idx into *out (see sql.c): the count, or -1
** with `nil, err` pushed (INVALID). Booleans come out as SQLV_BOOL.
** [-0, +0 or +2, m] */
long sql__check_params(lua_State *L, int idx, struct sqlv **out);

/* The savepoint name at idx (letters, digits and _), or NULL with
** `nil, err` pushed (INVALID). [-0, +0 or +2, m] */
const char *sql__savepoint_name(lua_State *L, int idx);

/* The isolation name of db:begin's options at idx (NULL: none given, or
** "default"), or sets *bad with `nil, err` pushed. [-0, +0 or +2, m] */
const char *sql__isolation(lua_State *L, int idx, int *bad);

/* Push the metatable `name`, made on first use with methods as __index
** and gc / tostr (NULL: none) as __gc / __tostring. [-0, +1, m] */
void sql__meta(lua_State *L, const char *name, const luaL_Reg *methods,
	       lua_CFunction gc, lua_CFunction tostr);

/* sql.get for a db.sql.postgres entry: pushes DB, nil or nil, err.
** [-0, +2, m] */
int sqlpg_get(lua_State *L, const struct reg_entry *e);

/* Create the Postgres handles' metatables (from luaopen_sql). [-0, +0, m] */
void sqlpg_open(lua_State *L);

#endif
