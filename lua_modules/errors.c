/*
** lua_modules/errors.c: the error object type and the global `errors`.
**
** An error object is a full userdata holding only its retryable flag; its
** strings and tables live in six user values so that the garbage collector
** owns them (no __gc is needed):
**
**   1 message  string, always present ("" at worst)
**   2 kind     string, always present ("" is the unknown kind)
**   3 details  table with string keys, or nil (never an empty table)
**   4 stack    the captured Lua stack in transport form (below), or nil
**   5 cause    the wrapped error object or nil
**   6 context  the wrap context string or nil
**
** Error objects are immutable after creation, which is what lets the
** accessors hand out string pointers anchored by the object itself. The
** details table is a private copy: errors.new copies the caller's table and
** err:details() hands out a fresh copy each time, as the original (which
** keeps details as a Go map) does, so no caller can change an error.
**
** Semantics follow the original runtime's go-lua Error: message() and
** tostring() are the message alone; errors.wrap(e, ctx) keeps e's message,
** kind, retryable flag and details and holds ctx apart, and the context
** shows in the message of a later wrap ("ctx: message", the Go Error()
** text) and in err:stack(), which lists each error of the chain as its
** context line and its frames.
**
** The stack is captured from level 0 (the errors function itself) when an
** error is made from Lua, at most MAXFRAMES frames. Its transport form is
** a string, so the payload codec can carry it between processes: the
** thread id ("0x..."), then one line per frame:
**
**   LEVEL \t LINE \t WHAT \t NAME \t SOURCE \n
**
** SOURCE is last because it is the only field that may hold a tab.
**
** The metatable is registered under the name ERRORS_META (so luaL_checkudata
** works) and also under the address of meta_key, which gives
** errors_is_error an identity test that neither allocates nor raises. It is
** created lazily by the first error made in a state, so C modules may report
** errors even in a state where errors_luaopen was never called.
**
** Thread affinity: none; everything lives inside the given lua_State. The
** string library wrappers' table of originals is written once at boot.
*/
#include "lua_modules/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

enum {
	UV_MESSAGE = 1,
	UV_KIND,
	UV_DETAILS,
	UV_STACK,
	UV_CAUSE,
	UV_CONTEXT,
	UV_COUNT = UV_CONTEXT
};

#define MAXFRAMES 64            /* frames captured per error */
#define MAXDETAILDEPTH 32       /* nested tables in details */

struct error {
	int retryable;          /* ERRORS_RETRY_* */
};

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

/* Its address is the allocation-free registry key of the metatable. */
static const char meta_key = 0;

static void createmeta(lua_State *L);

/* Push the error metatable, creating it on first use. [-0, +1, m] */
static void pushmeta(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &meta_key) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	createmeta(L);
}

/* Push user value `uv` of the error at idx. [-0, +1, -] */
static int getuv(lua_State *L, int idx, int uv)
{
	return lua_getiuservalue(L, idx, uv);
}

/*
** Push the captured stack of the running thread, from level 0 (the C
** function running now) outwards, in transport form. [-0, +1, m]
*/
static void pushstack(lua_State *L)
{
	luaL_Buffer b;
	lua_Debug ar;
	int level;

	luaL_buffinit(L, &b);
	lua_pushfstring(L, "%p\n", (void *)L);
	luaL_addvalue(&b);
	for (level = 0; level < MAXFRAMES && lua_getstack(L, level, &ar);
	     level++) {
		lua_getinfo(L, "Sln", &ar);
		lua_pushfstring(L, "%d\t%d\t%s\t%s\t%s\n", level, ar.currentline,
				ar.what, ar.name ? ar.name : "", ar.short_src);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
}

/* {======================================================================
** C API
** ======================================================================= */

int errors_is_error(lua_State *L, int idx)
{
	int r;

	if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
		return 0;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &meta_key);
	r = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return r;
}

/*
** The six parts sit at top-5..top. The new userdata is made first (all
** its user values start as nil) and filled from the parts, then moved down
** over the first part and the rest dropped.
*/
void errors_create(lua_State *L, int retryable)
{
	int base = lua_absindex(L, -6);
	struct error *e = lua_newuserdatauv(L, sizeof *e, UV_COUNT);

	e->retryable = retryable == ERRORS_RETRY_NO ||
		       retryable == ERRORS_RETRY_YES ? retryable
						     : ERRORS_RETRY_UNSET;
	pushmeta(L);
	lua_setmetatable(L, -2);
	if (lua_type(L, base) == LUA_TSTRING)
		lua_pushvalue(L, base);
	else
		lua_pushliteral(L, "");
	lua_setiuservalue(L, -2, UV_MESSAGE);
	if (lua_type(L, base + 1) == LUA_TSTRING)
		lua_pushvalue(L, base + 1);
	else
		lua_pushliteral(L, ERRORS_UNKNOWN);
	lua_setiuservalue(L, -2, UV_KIND);
	if (lua_type(L, base + 2) == LUA_TTABLE) {
		lua_pushvalue(L, base + 2);
		lua_setiuservalue(L, -2, UV_DETAILS);
	}
	if (lua_type(L, base + 3) == LUA_TSTRING) {
		lua_pushvalue(L, base + 3);
		lua_setiuservalue(L, -2, UV_STACK);
	}
	if (errors_is_error(L, base + 4)) {
		lua_pushvalue(L, base + 4);
		lua_setiuservalue(L, -2, UV_CAUSE);
	}
	if (lua_type(L, base + 5) == LUA_TSTRING) {
		lua_pushvalue(L, base + 5);
		lua_setiuservalue(L, -2, UV_CONTEXT);
	}
	lua_replace(L, base);
	lua_settop(L, base);
}

static void pushv(lua_State *L, const char *kind, const char *fmt, va_list ap)
{
	lua_pushvfstring(L, fmt, ap);
	lua_pushstring(L, kind ? kind : ERRORS_UNKNOWN);
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	errors_create(L, ERRORS_RETRY_NO);
}

/*
** Errors made from C carry no stack: C modules return them on ordinary
** control paths (timeouts, closed channels), where capturing the stack
** per call would cost more than the call.
*/
void errors_push(lua_State *L, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pushv(L, kind, fmt, ap);
	va_end(ap);
}

int errors_ret(lua_State *L, const char *kind, const char *fmt, ...)
{
	va_list ap;

	lua_pushnil(L);
	va_start(ap, fmt);
	pushv(L, kind, fmt, ap);
	va_end(ap);
	return 2;
}

/*
** The strings are anchored by the error's user values, and Lua 5.4 never
** moves a string, so the pointer outlives the pop below for as long as the
** (immutable) error object is reachable.
*/
static const char *uvstring(lua_State *L, int idx, int uv, size_t *len)
{
	const char *s = NULL;

	if (getuv(L, idx, uv) == LUA_TSTRING)
		s = lua_tolstring(L, -1, len);
	else if (len)
		*len = 0;
	lua_pop(L, 1);
	return s;
}

const char *errors_message(lua_State *L, int idx, size_t *len)
{
	const char *s = uvstring(L, idx, UV_MESSAGE, len);

	return s ? s : "";
}

const char *errors_kind(lua_State *L, int idx, size_t *len)
{
	const char *s = uvstring(L, idx, UV_KIND, len);

	return s ? s : ERRORS_UNKNOWN;
}

const char *errors_stack(lua_State *L, int idx, size_t *len)
{
	return uvstring(L, idx, UV_STACK, len);
}

const char *errors_context(lua_State *L, int idx, size_t *len)
{
	return uvstring(L, idx, UV_CONTEXT, len);
}

int errors_retryable(lua_State *L, int idx)
{
	struct error *e = lua_touserdata(L, idx);

	return e ? e->retryable : ERRORS_RETRY_UNSET;
}

int errors_push_details(lua_State *L, int idx)
{
	return getuv(L, idx, UV_DETAILS);
}

int errors_push_cause(lua_State *L, int idx)
{
	return getuv(L, idx, UV_CAUSE);
}

/* }====================================================================== */

/* {======================================================================
** Details and the Go error text
** ======================================================================= */

/*
** Push a copy of the table at idx holding only its string keys, the way
** the original turns details into a Go map and back: strings, numbers and
** booleans are kept, tables are copied the same way, an error becomes its
** message and any other value its tostring text. Raises on tables nested
** past MAXDETAILDEPTH (which is also how a cycle ends). Returns the number
** of keys copied. [-0, +1, e]
*/
static int copydetails(lua_State *L, int idx, int depth)
{
	int n = 0;

	if (depth > MAXDETAILDEPTH)
		luaL_error(L, "error details nested too deeply");
	luaL_checkstack(L, 4, "error details");
	idx = lua_absindex(L, idx);
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 1);
			continue;
		}
		switch (lua_type(L, -1)) {
		case LUA_TSTRING:
		case LUA_TNUMBER:
		case LUA_TBOOLEAN:
			break;
		case LUA_TTABLE:
			copydetails(L, -1, depth + 1);
			lua_remove(L, -2);
			break;
		default:
			if (errors_is_error(L, -1))
				getuv(L, -1, UV_MESSAGE);
			else
				luaL_tolstring(L, -1, NULL);
			lua_remove(L, -2);
			break;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
		n++;
	}
	return n;
}

/*
** Push the Go Error() text of the error at idx: "context: message", or the
** message when it was never wrapped. [-0, +1, m]
*/
static void pushtext(lua_State *L, int idx)
{
	if (getuv(L, idx, UV_CONTEXT) == LUA_TSTRING) {
		lua_pushliteral(L, ": ");
		getuv(L, idx, UV_MESSAGE);
		lua_concat(L, 3);
	} else {
		lua_pop(L, 1);
		getuv(L, idx, UV_MESSAGE);
	}
}

/* }====================================================================== */

/* {======================================================================
** Methods and metamethods
** ======================================================================= */

/*
** The methods answer for any receiver, as the original's do: a value
** that is not an error gets the empty answer ("" or nil) rather than an
** argument error.
*/

/* err:message() -> string  [-0, +1, -] */
static int e_message(lua_State *L)
{
	if (errors_is_error(L, 1))
		getuv(L, 1, UV_MESSAGE);
	else
		lua_pushliteral(L, "");
	return 1;
}

/* err:kind() -> string  [-0, +1, -] */
static int e_kind(lua_State *L)
{
	if (errors_is_error(L, 1))
		getuv(L, 1, UV_KIND);
	else
		lua_pushliteral(L, ERRORS_UNKNOWN);
	return 1;
}

/* err:retryable() -> boolean | nil (unset)  [-0, +1, -] */
static int e_retryable(lua_State *L)
{
	int r = errors_is_error(L, 1) ? errors_retryable(L, 1)
				      : ERRORS_RETRY_UNSET;

	if (r == ERRORS_RETRY_UNSET)
		lua_pushnil(L);
	else
		lua_pushboolean(L, r == ERRORS_RETRY_YES);
	return 1;
}

/* err:details() -> a fresh copy of the details, or nil  [-0, +1, e] */
static int e_details(lua_State *L)
{
	if (!errors_is_error(L, 1) || getuv(L, 1, UV_DETAILS) != LUA_TTABLE) {
		lua_pushnil(L);
		return 1;
	}
	copydetails(L, -1, 0);
	return 1;
}

/*
** Add the frames of one transport-form stack as "  source:line (name)"
** lines. [-0, +0, m]
*/
static void addframes(luaL_Buffer *b, const char *s, size_t len)
{
	const char *end = s + len, *nl, *f[5];
	int i;

	nl = memchr(s, '\n', len);
	s = nl ? nl + 1 : end;                  /* skip the thread id */
	for (; s < end; s = nl + 1) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			nl = end;
		f[0] = s;
		for (i = 1; i < 5; i++) {
			f[i] = memchr(f[i - 1], '\t', (size_t)(nl - f[i - 1]));
			if (!f[i])
				break;
			f[i]++;
		}
		if (i < 5)
			continue;               /* not a frame line */
		luaL_addstring(b, "  ");
		luaL_addlstring(b, f[4], (size_t)(nl - f[4]));
		luaL_addchar(b, ':');
		luaL_addlstring(b, f[1], (size_t)(f[2] - 1 - f[1]));
		luaL_addstring(b, " (");
		luaL_addlstring(b, f[3], (size_t)(f[4] - 1 - f[3]));
		luaL_addstring(b, ")\n");
	}
}

/*
** err:stack() -> string: for the error and each error it wraps, its
** context line (when wrapped) and its frames. "" when none of them
** captured a stack (errors made by C modules).  [-0, +1, m]
*/
static int e_stack(lua_State *L)
{
	luaL_Buffer b;
	const char *s;
	size_t len;
	int depth = 0;

	if (!errors_is_error(L, 1)) {
		lua_pushliteral(L, "");
		return 1;
	}
	lua_settop(L, 1);
	lua_pushvalue(L, 1);                    /* 2: current error */
	luaL_buffinit(L, &b);                   /* may take slot 3 */
	/* Each wrap is a new object, so the chain is finite and acyclic;
	** the depth bound only guards against a corrupt decoded chain. */
	while (errors_is_error(L, 2) && depth++ < 1000) {
		if ((s = errors_context(L, 2, &len)) != NULL) {
			luaL_addlstring(&b, s, len);
			luaL_addchar(&b, '\n');
		}
		if ((s = errors_stack(L, 2, &len)) != NULL)
			addframes(&b, s, len);
		getuv(L, 2, UV_CAUSE);
		lua_replace(L, 2);
	}
	luaL_pushresult(&b);
	return 1;
}

/* Push the string form of any value, errors by message. [-0, +1, e] */
static void tostr(lua_State *L, int idx)
{
	if (errors_is_error(L, idx))
		getuv(L, idx, UV_MESSAGE);
	else
		luaL_tolstring(L, idx, NULL);
}

/* "x" .. err and err .. "x" concatenate the message.  [-0, +1, e] */
static int e_concat(lua_State *L)
{
	tostr(L, 1);
	tostr(L, 2);
	lua_concat(L, 2);
	return 1;
}

static const luaL_Reg meth[] = {
	{"message", e_message},
	{"kind", e_kind},
	{"retryable", e_retryable},
	{"details", e_details},
	{"stack", e_stack},
	{NULL, NULL}
};

static const luaL_Reg metameth[] = {
	{"__index", NULL},       /* placeholder, set to the method table */
	{"__tostring", e_message},
	{"__concat", e_concat},
	{NULL, NULL}
};

/*
** luaL_newmetatable reuses a table already registered under the name (for
** instance when only the name survived), so the two registry entries always
** point at the same table. [-0, +1, m]
*/
static void createmeta(lua_State *L)
{
	luaL_newmetatable(L, ERRORS_META);
	luaL_setfuncs(L, metameth, 0);
	luaL_newlibtable(L, meth);
	luaL_setfuncs(L, meth, 0);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &meta_key);
}

/* }====================================================================== */

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
		    copydetails(L, -1, 0) > 0) {
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
	pushstack(L);
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
		getuv(L, 2, UV_MESSAGE);
	else if (lua_type(L, 2) == LUA_TSTRING)
		lua_pushvalue(L, 2);
	else
		return luaL_argerror(L, 2, "expected string or error object");
	lua_replace(L, 2);                      /* 2: context */
	if (iserr) {
		retryable = errors_retryable(L, 1);
		pushtext(L, 1);                 /* 3: message */
		getuv(L, 1, UV_KIND);           /* 4 */
		getuv(L, 1, UV_DETAILS);        /* 5 */
		pushstack(L);                   /* 6 */
		lua_pushvalue(L, 1);            /* 7: cause */
	} else {
		lua_pushvalue(L, 1);
		lua_pushnil(L);
		lua_pushnil(L);
		pushstack(L);
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
		getuv(L, 2, UV_MESSAGE);
		lua_replace(L, 2);
	}
	luaL_checkstring(L, 2);
	if (!errors_is_error(L, 1)) {
		lua_pushboolean(L, 0);
		return 1;
	}
	getuv(L, 1, UV_KIND);
	lua_pushboolean(L, lua_rawequal(L, -1, 2));
	return 1;
}

/* errors.unwrap(err) -> the wrapped cause or nil.  [-0, +1, -] */
static int l_unwrap(lua_State *L)
{
	if (errors_is_error(L, 1))
		getuv(L, 1, UV_CAUSE);
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
	const char *s, *end, *nl, *f[5];
	size_t len;
	lua_Integer n = 0;
	int i;

	if (!errors_is_error(L, 1) || !(s = errors_stack(L, 1, &len)) ||
	    !(nl = memchr(s, '\n', len)) || nl + 1 >= s + len) {
		lua_pushnil(L);
		return 1;
	}
	end = s + len;
	lua_createtable(L, 0, 2);
	lua_pushlstring(L, s, (size_t)(nl - s));
	lua_setfield(L, -2, "thread");
	lua_newtable(L);
	for (s = nl + 1; s < end; s = nl + 1) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			nl = end;
		f[0] = s;
		for (i = 1; i < 5; i++) {
			f[i] = memchr(f[i - 1], '\t', (size_t)(nl - f[i - 1]));
			if (!f[i])
				break;
			f[i]++;
		}
		if (i < 5)
			continue;
		lua_createtable(L, 0, 5);
		lua_pushinteger(L, field_int(f[0], f[1]));
		lua_setfield(L, -2, "level");
		lua_pushinteger(L, field_int(f[1], f[2]));
		lua_setfield(L, -2, "line");
		lua_pushlstring(L, f[2], (size_t)(f[3] - 1 - f[2]));
		lua_setfield(L, -2, "type");
		lua_pushlstring(L, f[3], (size_t)(f[4] - 1 - f[3]));
		lua_setfield(L, -2, "name");
		lua_pushlstring(L, f[4], (size_t)(nl - f[4]));
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

	pushmeta(L);
	lua_pop(L, 1);
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
			getuv(L, i, UV_MESSAGE);
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
