/*
** lua_modules/logger.c: the Lua `logger` module and the structured `print`.
**
** A Logger is either the module table itself (the root, which has no fields
** and no name) or a child: a zero-byte userdata with metatable LOGGER_META
** (__index = the module table) and two user values,
**
**   1  its `with` fields: a table of string keys, or nil
**   2  its dotted name ("a.b"), or nil
**
** Both are fixed when the child is made (with/named copy, never mutate), so
** children can share their parent's table.
**
** The module table is a lazy table (lazylib.h): a process that logs with
** `info` holds that one method, not the module's six closures. Methods
** have no upvalues; the `self` check compares against the module table
** kept in the registry under &root_key (a pointer key, no string lookup)
** and the child metatable, which is made with the first child.
**
** A log call formats its record straight into the thread's log buffer
** (runtime/log.h), with no Lua allocation of its own. Values that need Lua
** code to print (tostring of userdata and of tables with __tostring) may
** raise or even log themselves, so the formatting runs inside lua_pcall:
** on error the half-built record is aborted with log_abort and the error is
** re-raised; a nested log call just nests a record (log.h supports that).
**
** Thread affinity: none beyond the lua_State's; the log buffer is the
** calling thread's.
*/
#include "lua_modules/logger.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "engine/common.h"
#include "runtime/errors.h"
#include "lua_modules/lazylib.h"
#include "runtime/log.h"

enum { UV_FIELDS = 1, UV_NAME = 2 };

/* Registry key of the module table. */
static const char root_key = 0;

/* Shared by a log method and the protected emit() it calls. */
struct emit {
	enum log_level level;
	int child;		/* self is a child userdata */
	struct log_rec *r;	/* open record, for log_abort on error */
	char location[96];	/* "file.lua:line" of the Lua caller, or "" */
};

/* The automatic `location` field (spec 8): base name of the calling Lua
** function's source file and its current line; "" when the caller is not
** a Lua function from a source file (level 1 is the function that called
** the C function). Like `pid`, it is added only in a process. */
static void where(lua_State *L, char *buf, size_t size)
{
	lua_Debug ar;
	const char *src, *slash;

	buf[0] = '\0';
	if (!lua_getstack(L, 1, &ar) || !lua_getinfo(L, "Sl", &ar) ||
	    ar.currentline <= 0)
		return;
	if (ar.source[0] != '@')
		return;		/* a chunk from a string: no file to name */
	src = ar.source + 1;
	slash = strrchr(src, '/');
	if (slash)
		src = slash + 1;
	/* By hand: snprintf cost as much as the rest of a log record. */
	char digits[12];
	int nd = 0;
	unsigned line = (unsigned)ar.currentline;
	size_t sl = strlen(src);
	do {
		digits[nd++] = (char)('0' + line % 10);
		line /= 10;
	} while (line && nd < (int)sizeof(digits));
	if (sl + 1 + (size_t)nd + 1 > size)
		sl = size - 2 - (size_t)nd;
	memcpy(buf, src, sl);
	buf[sl++] = ':';
	while (nd > 0)
		buf[sl++] = digits[--nd];
	buf[sl] = '\0';
}

/* {==================================================================
** Values
** =================================================================== */

static void put_value(lua_State *L, struct log_rec *r, const char *key,
		      int idx, int depth, const void **anc);

/* tostring(v) as a string field: __tostring, __name or the default. */
static void put_tostring(lua_State *L, struct log_rec *r, const char *key,
			 int idx)
{
	size_t len;
	const char *s = luaL_tolstring(L, idx, &len);

	log_field_str(r, key, s, len);
	lua_pop(L, 1);
}

/* A table as a JSON array (keys exactly 1..n, including the empty table,
** like json.encode) or object (string keys, and numbers written as
** strings; other keys are skipped). */
static void put_table(lua_State *L, struct log_rec *r, const char *key,
		      int idx, int depth, const void **anc)
{
	const void *p = lua_topointer(L, idx);
	lua_Unsigned n = lua_rawlen(L, idx), count = 0, i;
	int d;

	for (d = 0; d < depth; d++) {
		if (anc[d] == p) {
			log_field_str(r, key, "<cycle>", 7);
			return;
		}
	}
	if (depth >= LOGGER_MAX_DEPTH) {
		log_field_str(r, key, "<max depth>", 11);
		return;
	}
	anc[depth] = p;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (++count > n) {
			lua_pop(L, 1);
			break;
		}
	}
	if (count == n) {
		log_arr_begin(r, key);
		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			put_value(L, r, NULL, lua_gettop(L), depth + 1, anc);
			lua_pop(L, 1);
		}
		log_arr_end(r);
		return;
	}
	log_obj_begin(r, key);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		char kb[48];
		const char *k = NULL;

		switch (lua_type(L, -2)) {
		case LUA_TSTRING:
			k = lua_tostring(L, -2);	/* a string: no conversion */
			break;
		case LUA_TNUMBER:
			/* Formatted by hand: lua_tostring would turn the key
			** into a string in place and break lua_next. */
			if (lua_isinteger(L, -2))
				snprintf(kb, sizeof kb, LUA_INTEGER_FMT,
					 (LUAI_UACINT)lua_tointeger(L, -2));
			else
				snprintf(kb, sizeof kb, "%.14g",
					 (double)lua_tonumber(L, -2));
			k = kb;
			break;
		}
		if (k != NULL)
			put_value(L, r, k, lua_gettop(L), depth + 1, anc);
		lua_pop(L, 1);
	}
	log_obj_end(r);
}

/* One value as field `key` (NULL inside arrays). `idx` is absolute. */
static void put_value(lua_State *L, struct log_rec *r, const char *key,
		      int idx, int depth, const void **anc)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		log_field_null(r, key);
		break;
	case LUA_TBOOLEAN:
		log_field_bool(r, key, lua_toboolean(L, idx));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			log_field_int(r, key, (int64_t)lua_tointeger(L, idx));
		else
			log_field_num(r, key, (double)lua_tonumber(L, idx));
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);

		log_field_str(r, key, s, len);
		break;
	}
	case LUA_TTABLE:
		/* A table that knows how to print itself is printed so. */
		if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
			lua_pop(L, 1);
			put_tostring(L, r, key, idx);
		} else {
			put_table(L, r, key, idx, depth, anc);
		}
		break;
	case LUA_TUSERDATA:
		/* Error objects (ERROR_META userdata, also under the key
		** "error") print as their message, which is what their
		** __tostring returns; any other userdata prints as tostring()
		** would. So one path serves both. */
		put_tostring(L, r, key, idx);
		break;
	default:		/* functions, threads, light userdata */
		put_tostring(L, r, key, idx);
		break;
	}
}

/* Is the string key at `kidx` present in the table at `tidx`? */
static int has_key(lua_State *L, int tidx, int kidx)
{
	int found;

	if (tidx == 0 || !lua_istable(L, tidx))
		return 0;
	lua_pushvalue(L, kidx);
	found = lua_rawget(L, tidx) != LUA_TNIL;
	lua_pop(L, 1);
	return found;
}

/* The automatic fields a caller's fields may already hold. */
enum { SEEN_LOGGER = 1, SEEN_PID = 2, SEEN_LOCATION = 4 };

static unsigned auto_key(const char *k, size_t len)
{
	switch (len) {
	case 3: return memcmp(k, "pid", 3) == 0 ? SEEN_PID : 0;
	case 6: return memcmp(k, "logger", 6) == 0 ? SEEN_LOGGER : 0;
	case 8: return memcmp(k, "location", 8) == 0 ? SEEN_LOCATION : 0;
	}
	return 0;
}

/* The string-keyed fields of the table at `t`, skipping keys that the
** table at `skip` (if a table) already wrote. Adds to *seen the automatic
** fields written. */
static void put_fields(lua_State *L, struct log_rec *r, int t, int skip,
		       unsigned *seen)
{
	const void *anc[LOGGER_MAX_DEPTH];

	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING &&
		    !has_key(L, skip, lua_gettop(L) - 1)) {
			size_t len;
			const char *k = lua_tolstring(L, -2, &len);

			*seen |= auto_key(k, len);
			put_value(L, r, k, lua_gettop(L), 0, anc);
		}
		lua_pop(L, 1);
	}
}

/* The `pid` string from the registry, pushed (nil when unset). */
static int push_pid(lua_State *L)
{
	return lua_getfield(L, LUA_REGISTRYINDEX, LOGGER_PID_KEY);
}

/* }================================================================== */

/* {==================================================================
** Methods
** =================================================================== */

/* Check that argument 1 is a Logger; returns 1 for a child, 0 for the
** module table itself. Raises a clear error for `logger.info("x")`. */
static int checkself(lua_State *L, const char *method)
{
	int t = lua_type(L, 1);

	if (t == LUA_TTABLE) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &root_key);
		int root = lua_rawequal(L, 1, -1);
		lua_pop(L, 1);
		if (root)
			return 0;
	} else if (t == LUA_TUSERDATA && luaL_testudata(L, 1, LOGGER_META)) {
		return 1;
	}
	return luaL_error(L, "logger.%s: self is a %s, not a Logger "
			  "(call it with ':' as logger:%s(...))", method,
			  luaL_typename(L, 1), method);
}

/* The protected half of a log call. Stack: self, msg, fields, struct emit.
** [-0, +0, e] */
static int emit(lua_State *L)
{
	struct emit *e = lua_touserdata(L, 4);
	const char *msg;
	size_t len;
	struct log_rec *r;
	unsigned seen = 0;

	luaL_checkstack(L, 3 * LOGGER_MAX_DEPTH + 16, "logger fields");
	if (e->child) {
		lua_getiuservalue(L, 1, UV_FIELDS);	/* 5 */
		lua_getiuservalue(L, 1, UV_NAME);	/* 6 */
	} else {
		lua_pushnil(L);
		lua_pushnil(L);
	}
	push_pid(L);					/* 7 */

	msg = lua_tolstring(L, 2, &len);
	r = e->r = log_begin(e->level, msg, len);
	if (lua_istable(L, 3))
		put_fields(L, r, 3, 0, &seen);
	if (lua_istable(L, 5))
		put_fields(L, r, 5, 3, &seen);
	/* The automatic fields, unless the caller's fields have them. */
	if (lua_type(L, 6) == LUA_TSTRING && !(seen & SEEN_LOGGER)) {
		msg = lua_tolstring(L, 6, &len);
		log_field_str(r, "logger", msg, len);
	}
	if (lua_type(L, 7) == LUA_TSTRING && !(seen & SEEN_PID)) {
		msg = lua_tolstring(L, 7, &len);
		log_field_str(r, "pid", msg, len);
	}
	if (e->location[0] && lua_type(L, 7) == LUA_TSTRING &&
	    !(seen & SEEN_LOCATION))
		log_field_str(r, "location", e->location, strlen(e->location));
	e->r = NULL;
	log_end(r);
	return 0;
}

/* logger:<level>(msg [, fields]). [-0, +0, e] */
static int logat(lua_State *L, enum log_level level, const char *method)
{
	struct emit e;
	int t;

	e.child = checkself(L, method);
	e.level = level;
	e.r = NULL;
	t = lua_type(L, 3);
	if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TTABLE)
		return luaL_typeerror(L, 3, "table");
	if (!log_enabled(level))
		return 0;
	luaL_checklstring(L, 2, NULL);	/* a number becomes a string here */
	where(L, e.location, sizeof(e.location));
	lua_settop(L, 3);
	lua_pushcfunction(L, emit);
	lua_insert(L, 1);
	lua_pushlightuserdata(L, &e);
	if (lua_pcall(L, 4, 0, 0) != LUA_OK) {
		if (e.r != NULL)
			log_abort(e.r);
		return lua_error(L);
	}
	return 0;
}

static int l_debug(lua_State *L) { return logat(L, LOG_LEVEL_DEBUG, "debug"); }	/* [-0, +0, e] */
static int l_info(lua_State *L) { return logat(L, LOG_LEVEL_INFO, "info"); }		/* [-0, +0, e] */
static int l_warn(lua_State *L) { return logat(L, LOG_LEVEL_WARN, "warn"); }		/* [-0, +0, e] */
static int l_error(lua_State *L) { return logat(L, LOG_LEVEL_ERROR, "error"); }	/* [-0, +0, e] */

static int l_tostring(lua_State *L);

/* Push a new child Logger with no user values set; the first one makes
** the child metatable (__index = the module table). [-0, +1, m] */
static void newchild(lua_State *L)
{
	lua_newuserdatauv(L, 0, 2);
	if (luaL_newmetatable(L, LOGGER_META)) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &root_key);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_setmetatable(L, -2);
}

/* Copy the string-keyed entries of the table at `from` into the table at
** `to` (both absolute indexes). [-0, +0, m] */
static void copy_fields(lua_State *L, int from, int to)
{
	lua_pushnil(L);
	while (lua_next(L, from) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, to);
		} else {
			lua_pop(L, 1);
		}
	}
}

/* logger:with(fields): a child whose fields are the parent's plus these
** (these win). [-0, +1, m] */
static int l_with(lua_State *L)
{
	int child = checkself(L, "with");

	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	newchild(L);					/* 3 */
	lua_newtable(L);				/* 4 */
	if (child && lua_getiuservalue(L, 1, UV_FIELDS) == LUA_TTABLE)
		copy_fields(L, 5, 4);
	lua_settop(L, 4);
	if (lua_istable(L, 2))
		copy_fields(L, 2, 4);
	lua_pushnil(L);
	if (lua_next(L, 4) != 0) {
		lua_pop(L, 2);
		lua_pushvalue(L, 4);
	} else {
		lua_pushnil(L);			/* no fields: store nil */
	}
	lua_setiuservalue(L, 3, UV_FIELDS);
	if (child) {
		lua_getiuservalue(L, 1, UV_NAME);
		lua_setiuservalue(L, 3, UV_NAME);
	}
	lua_settop(L, 3);
	return 1;
}

/* logger:named(name): a child named parent.name (or name), same fields.
** [-0, +1, m] */
static int l_named(lua_State *L)
{
	int child = checkself(L, "named");
	size_t len;

	luaL_checklstring(L, 2, &len);
	if (len == 0)
		return luaL_error(L, "name cannot be empty");
	lua_settop(L, 2);
	newchild(L);					/* 3 */
	if (child) {
		lua_getiuservalue(L, 1, UV_FIELDS);
		lua_setiuservalue(L, 3, UV_FIELDS);
		if (lua_getiuservalue(L, 1, UV_NAME) == LUA_TSTRING) {
			lua_pushliteral(L, ".");
			lua_pushvalue(L, 2);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushvalue(L, 2);
		}
	} else {
		lua_pushvalue(L, 2);
	}
	lua_setiuservalue(L, 3, UV_NAME);
	return 1;
}

/* __tostring of a child: "Logger" or "Logger(a.b)". [-0, +1, m] */
static int l_tostring(lua_State *L)
{
	if (lua_getiuservalue(L, 1, UV_NAME) == LUA_TSTRING)
		lua_pushfstring(L, "Logger(%s)", lua_tostring(L, -1));
	else
		lua_pushliteral(L, "Logger");
	return 1;
}

static const luaL_Reg methods[] = {
	{"debug", l_debug},
	{"info", l_info},
	{"warn", l_warn},
	{"error", l_error},
	{"with", l_with},
	{"named", l_named},
	{NULL, NULL}
};

/* }================================================================== */

int luaopen_logger(lua_State *L)
{
	lazylib_new(L, methods);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &root_key);
	return 1;
}

int logger_print(lua_State *L)
{
	int n = lua_gettop(L), i;
	luaL_Buffer b;
	struct log_rec *r;
	char loc[96];

	if (!log_enabled(LOG_LEVEL_INFO))
		return 0;
	/* Everything that can raise happens before the record opens. */
	luaL_buffinit(L, &b);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, ' ');
		if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
			luaL_tolstring(L, i, NULL);
			luaL_addvalue(&b);
		} else if (errors_is_error(L, i)) {
			luaL_addstring(&b, errors_message(L, i, NULL));
		}
		/* anything else prints as "": go-lua's ToString */
	}
	push_pid(L);
	where(L, loc, sizeof(loc));
	r = log_begin(LOG_LEVEL_INFO, luaL_buffaddr(&b), luaL_bufflen(&b));
	if (lua_type(L, -1) == LUA_TSTRING) {
		size_t len;
		const char *pid = lua_tolstring(L, -1, &len);

		log_field_str(r, "pid", pid, len);
		if (loc[0])
			log_field_str(r, "location", loc, strlen(loc));
	}
	log_end(r);
	return 0;
}
