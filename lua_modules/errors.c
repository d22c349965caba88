/*
** lua_modules/errors.c: the global `errors`, the Lua library that makes
** and inspects error objects (errors.new/wrap/is/unwrap/call_stack and one
** string constant per kind), and the string library's coercion of error
** arguments. The error object itself (its layout, constructor, accessors
** and methods) is runtime/errors.c, a floor below: this file reads and
** makes errors only through runtime/errors.h and never touches their user
** values.
**
** Semantics follow the original runtime's go-lua Error: errors.wrap(e, ctx)
** keeps e's message, kind, retryable flag and details and holds ctx apart,
** and the context shows in the message of a later wrap ("ctx: message",
** the Go Error() text). An error made from Lua captures the stack from
** level 0 (the errors function itself).
**
** Thread affinity: none; everything lives inside the given lua_State. The
** string library wrappers' table of originals is written once at boot.
*/
#include "lua_modules/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/errors.h"

static const struct {
	const char *name, *kind;
} kinds[] = {
	{"UNKNOWN", ERRORS_UNKNOWN},
	{"INVALID", ERRORS_INVALID},
	{"NOT_FOUND", ERRORS_NOT_FOUND},
	{"ALREADY_EXISTS", ERRORS_ALREADY_EXISTS},
	{"PERMISSION_DENIED", ERRORS_PERMISSION_DENIED},
	{"TIMEOUT", ERRORS_TIMEOUT},
	{"CANCELED", ERRORS_CANCELED},
	{"UNAVAILABLE", ERRORS_UNAVAILABLE},
	{"INTERNAL", ERRORS_INTERNAL},
	{"CONFLICT", ERRORS_CONFLICT},
	{"RATE_LIMITED", ERRORS_RATE_LIMITED},
};


/*
** Push the Go Error() text of the error at idx: "context: message", or the
** message when it was never wrapped. [-0, +1, m]
*/
static void pushtext(lua_State *L, int idx)
{
	size_t len;
	const char *ctx = errors_context(L, idx, &len);

	if (ctx) {
		lua_pushlstring(L, ctx, len);
		lua_pushliteral(L, ": ");
		errors_push_message(L, idx);
		lua_concat(L, 3);
	} else {
		errors_push_message(L, idx);
	}
}

/* {======================================================================
** The `errors` table
** ======================================================================= */

/*
** errors.new(msg) / errors.new({message, kind, retryable, details})
** -> error, with the stack captured here. The table form needs a string
** message; a kind that is not a string, a retryable that is not a boolean
** and details that are not a table are ignored, as in the original, and
** details without string keys give none. Fields are read raw.
** [-0, +1, e]
*/
static int l_new(lua_State *L)
{
	int retryable = ERRORS_RETRY_UNSET;

	switch (lua_type(L, 1)) {
	case LUA_TSTRING:
		lua_settop(L, 1);
		lua_pushnil(L);             /* kind */
		lua_pushnil(L);             /* details */
		break;
	case LUA_TTABLE:
		lua_settop(L, 1);
		lua_pushliteral(L, "message");
		switch (lua_rawget(L, 1)) {
		case LUA_TSTRING:
			break;
		case LUA_TNIL:
			return luaL_argerror(L, 1, "message field is required");
		default:
			return luaL_argerror(L, 1, "message must be a string");
		}
		lua_pushliteral(L, "kind");
		if (lua_rawget(L, 1) != LUA_TSTRING) {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
		lua_pushliteral(L, "retryable");
		if (lua_rawget(L, 1) == LUA_TBOOLEAN)
			retryable = lua_toboolean(L, -1) ? ERRORS_RETRY_YES
							 : ERRORS_RETRY_NO;
		lua_pop(L, 1);
		lua_pushliteral(L, "details");
		if (lua_rawget(L, 1) == LUA_TTABLE &&
		    errors_copy_details(L, -1) > 0) {
			lua_remove(L, -2);
		} else {
			lua_settop(L, 3);
			lua_pushnil(L);
		}
		lua_remove(L, 1);
		break;
	default:
		return luaL_argerror(L, 1, "expected string or table");
	}
	errors_push_stack(L);
	lua_pushnil(L);                     /* cause */
	lua_pushnil(L);                     /* context */
	errors_create(L, retryable);
	return 1;
}

/*
** errors.wrap(err, ctx) -> a new error with its own stack that keeps
** err's message, kind, retryable flag and details, holds ctx as its
** context and err as its cause. err may be a string (the message of an
** unknown-kind error); ctx a string or an error (its message). When err
** was itself wrapped, the new message is err's "context: message" text,
** as the original's Go error chain gives. Anything else raises.
** [-0, +1, e]
*/
static int l_wrap(lua_State *L)
{
	int retryable = ERRORS_RETRY_UNSET, iserr;

	luaL_checkany(L, 1);
	luaL_checkany(L, 2);
	lua_settop(L, 2);
	iserr = errors_is_error(L, 1);
	if (!iserr && lua_type(L, 1) != LUA_TSTRING)
		return luaL_argerror(L, 1, "expected string or error object");
	if (errors_is_error(L, 2))
		errors_push_message(L, 2);
	else if (lua_type(L, 2) == LUA_TSTRING)
		lua_pushvalue(L, 2);
	else
		return luaL_argerror(L, 2, "expected string or error object");
	lua_replace(L, 2);                      /* 2: context */
	if (iserr) {
		retryable = errors_retryable(L, 1);
		pushtext(L, 1);                 /* 3: message */
		errors_push_kind(L, 1);         /* 4 */
		errors_push_details(L, 1);      /* 5 */
		errors_push_stack(L);                   /* 6 */
		lua_pushvalue(L, 1);            /* 7: cause */
	} else {
		lua_pushvalue(L, 1);
		lua_pushnil(L);
		lua_pushnil(L);
		errors_push_stack(L);
		lua_pushnil(L);
	}
	lua_pushvalue(L, 2);                    /* 8: context */
	errors_create(L, retryable);
	return 1;
}

/*
** errors.is(err, kind) -> boolean: err is an error of that kind. A kind
** given as an error reads as its message (the string coercion the
** original applies); a missing or non-string kind raises. A non-error err
** is never matched. [-0, +1, e]
*/
static int l_is(lua_State *L)
{
	luaL_checkany(L, 1);
	if (errors_is_error(L, 2)) {
		errors_push_message(L, 2);
		lua_replace(L, 2);
	}
	luaL_checkstring(L, 2);
	if (!errors_is_error(L, 1)) {
		lua_pushboolean(L, 0);
		return 1;
	}
	errors_push_kind(L, 1);
	lua_pushboolean(L, lua_rawequal(L, -1, 2));
	return 1;
}

/* errors.unwrap(err) -> the wrapped cause or nil.  [-0, +1, -] */
static int l_unwrap(lua_State *L)
{
	if (errors_is_error(L, 1))
		errors_push_cause(L, 1);
	else
		lua_pushnil(L);
	return 1;
}

/* Parse a decimal (maybe negative) field of a frame line. */
static lua_Integer field_int(const char *s, const char *end)
{
	lua_Integer v = 0;
	int neg = s < end && *s == '-';

	for (s += neg; s < end && *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return neg ? -v : v;
}

/*
** errors.call_stack(err) -> {thread = "0x...", frames = {{level, source,
** line, name, type}, ...}} or nil: the stack captured where err was made
** (level 0 is the errors function itself). Errors made by C modules and
** non-errors give nil. [-0, +1, m]
*/
static int l_call_stack(lua_State *L)
{
	struct errors_frame fr;
	const char *s, *nl;
	size_t len, pos = 0;
	lua_Integer n = 0;

	if (!errors_is_error(L, 1) || !(s = errors_stack(L, 1, &len)) ||
	    !(nl = memchr(s, '\n', len)) || nl + 1 >= s + len) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 2);
	lua_pushlstring(L, s, (size_t)(nl - s));
	lua_setfield(L, -2, "thread");
	lua_newtable(L);
	while (errors_next_frame(s, len, &pos, &fr)) {
		lua_createtable(L, 0, 5);
		lua_pushinteger(L, field_int(fr.level, fr.line));
		lua_setfield(L, -2, "level");
		lua_pushinteger(L, field_int(fr.line, fr.type));
		lua_setfield(L, -2, "line");
		lua_pushlstring(L, fr.type, (size_t)(fr.name - 1 - fr.type));
		lua_setfield(L, -2, "type");
		lua_pushlstring(L, fr.name, (size_t)(fr.source - 1 - fr.name));
		lua_setfield(L, -2, "name");
		lua_pushlstring(L, fr.source, (size_t)(fr.end - fr.source));
		lua_setfield(L, -2, "source");
		lua_rawseti(L, -2, ++n);
	}
	lua_setfield(L, -2, "frames");
	return 1;
}

static const luaL_Reg funcs[] = {
	{"new", l_new},
	{"wrap", l_wrap},
	{"is", l_is},
	{"unwrap", l_unwrap},
	{"call_stack", l_call_stack},
	{NULL, NULL}
};

int errors_luaopen(lua_State *L)
{
	size_t i;

	errors_register(L);
	lua_createtable(L, 0, (int)(countof(funcs) + countof(kinds)));
	luaL_setfuncs(L, funcs, 0);
	for (i = 0; i < countof(kinds); i++) {
		lua_pushstring(L, kinds[i].kind);
		lua_setfield(L, -2, kinds[i].name);
	}
	lua_pushvalue(L, -1);
	lua_setglobal(L, "errors");
	return 1;
}

/* }====================================================================== */

/* {======================================================================
** String library coercion
** ======================================================================= */

/*
** Each wrapper replaces its error arguments by their messages and then
** calls the original C function directly, in the same frame: no extra
** Lua call, and the original's argument errors and debug name stay. A
** non-error argument costs one type test. The originals are recorded
** once, at boot, before any state runs (errors_wrap_strlib).
*/
#define NWRAP 24

static lua_CFunction strorig[NWRAP];

static void coerce(lua_State *L)
{
	int i, n = lua_gettop(L);

	for (i = 1; i <= n; i++) {
		if (lua_type(L, i) == LUA_TUSERDATA && errors_is_error(L, i)) {
			luaL_checkstack(L, 1, NULL);
			errors_push_message(L, i);
			lua_replace(L, i);
		}
	}
}

#define WRAP(i) static int sw##i(lua_State *L) { coerce(L); return strorig[i](L); }
WRAP(0) WRAP(1) WRAP(2) WRAP(3) WRAP(4) WRAP(5) WRAP(6) WRAP(7)
WRAP(8) WRAP(9) WRAP(10) WRAP(11) WRAP(12) WRAP(13) WRAP(14) WRAP(15)
WRAP(16) WRAP(17) WRAP(18) WRAP(19) WRAP(20) WRAP(21) WRAP(22) WRAP(23)
#undef WRAP

static const lua_CFunction strwrap[NWRAP] = {
	sw0, sw1, sw2, sw3, sw4, sw5, sw6, sw7, sw8, sw9, sw10, sw11,
	sw12, sw13, sw14, sw15, sw16, sw17, sw18, sw19, sw20, sw21, sw22, sw23,
};

void errors_wrap_strlib(luaL_Reg *list)
{
	int i;

	for (i = 0; list[i].name; i++) {
		if (i >= NWRAP) {
			fprintf(stderr, "errors_wrap_strlib: more than %d functions\n",
				NWRAP);
			abort();
		}
		strorig[i] = list[i].func;
		list[i].func = strwrap[i];
	}
}

/* }====================================================================== */
