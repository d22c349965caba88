/*
** lua_modules/logger.h: the Lua `logger` module (require("logger")) and the
** `print` that goes to structured logging (spec sections 3 and 8).
**
** Lua sees:
**
**   logger:debug(msg [, fields])   also :info, :warn, :error; return nothing
**   logger:with(fields)            child Logger carrying extra fields
**   logger:named(name)             child Logger with field logger = "a.b"
**
** The module table is itself the root Logger. Methods must be called with
** ':' (the logger is argument 1); `logger.info("x")` raises an error that
** says so. Records go to runtime/log.h, formatted straight into the log
** buffer; a call whose level is disabled does nothing but check `self`.
**
** Field order in a record: the call's fields, then the logger's `with`
** fields, then `logger` (the name), then `pid`. A key appears once: call
** fields override `with` fields, which override the automatic ones.
*/
#ifndef LUA_MODULES_LOGGER_H
#define LUA_MODULES_LOGGER_H

#include <lua.h>

/* Registry key (LUA_REGISTRYINDEX) of the process's PID string. The
** runtime sets it before opening modules; when it is not a string, records
** get no `pid` field. */
#define LOGGER_PID_KEY "wippy.pid"

/* Registry name of the metatable of child Loggers. */
#define LOGGER_META "wippy.logger"

/* Nested tables in fields are written this many levels deep; deeper ones
** (and cycles) are written as the strings "<max depth>" / "<cycle>". */
#define LOGGER_MAX_DEPTH 16

/*
** Open the module: create the child metatable (once per state) and return
** the root Logger table. Returns 1; for luaL_requiref / package.preload.
** [-0, +1, m]
*/
int luaopen_logger(lua_State *L);

/*
** The global `print`, as the original's: strings and numbers print as
** themselves, error objects as their message, anything else (nil,
** booleans, tables, functions) as "" (go-lua's ToString), joined with
** single spaces; logs the result at INFO with the `pid` and `location`
** fields. Returns 0. [-0, +0, m]
*/
int logger_print(lua_State *L);

#endif
