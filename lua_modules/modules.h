/*
** lua_modules/modules.h: entry points of the modules the sandbox hands out
** that have no header of their own.
*/
#ifndef LUA_MODULES_MODULES_H
#define LUA_MODULES_MODULES_H

#include <lua.h>

/* The global `process` table (spec 4). [-0, +1, m] */
int luaopen_process(lua_State *L);

/* require("time"): time_luaopen_base() plus sleep/after/timer/ticker. */
int luaopen_time(lua_State *L);

/* require("env"): get/set/get_all over the runtime's env (spec 8). */
int luaopen_env(lua_State *L);

/* require("io"): the terminal module (spec 8); not Lua's standard io. */
int luaopen_wio(lua_State *L);

/* require("http"): request/response of the running endpoint call. */
int luaopen_http(lua_State *L);

/* require("ctx"): get/all over the running process's context values. */
int luaopen_ctx(lua_State *L);

/* require("metrics"): counter_inc/add, gauge_set/inc/dec, histogram
** (lua_modules/lmetrics.c). */
int luaopen_metrics(lua_State *L);

/* require("system"): memory, hosts.list, runtime.cpu_count, process
** (lua_modules/system.c). */
int luaopen_system(lua_State *L);
int luaopen_pg(lua_State *L);

/* require("uuid"): v1 v3 v4 v5 v7 validate version variant parse format. */
int luaopen_uuid(lua_State *L);

/* require("registry"): parse_id get find current_version versions over
** the running registry (lregistry.c). */
int luaopen_registry(lua_State *L);

/* require("contract"): get/open/find_implementations/is over
** contract.definition and contract.binding entries (contract.c). */
int luaopen_contract(lua_State *L);

/* require("queue"): publish/message/info over runtime/queue.h (lqueue.c). */
int luaopen_queue(lua_State *L);

/* require("http_client"): get post put delete head patch request
** request_batch encode_uri decode_uri over runtime/hclient.h. */
int luaopen_http_client(lua_State *L);
/* require("sql"): get, as.*, type/isolation constants; DB, Statement and
** Transaction handles over runtime/sqldb.h (sql.c) and, for Postgres,
** runtime/pgdb.h (sqlpg.c). */
int luaopen_sql(lua_State *L);

/* require("store"): get; Store get/set/has/delete/release over
** store.memory entries (store.c, runtime/memstore.h). */
int luaopen_store(lua_State *L);
/* store.get(id) without its permission check, for the runtime's own use
** (a token store's backing store, which the original reaches without the
** Lua module): a Store whose key operations are not checked either.
** [-0, +(1|2), m] */
int store_open_unchecked(lua_State *L, const char *id);

#endif
