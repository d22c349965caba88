/*
** lua_modules/errors.c: the error object type and the global `errors`.
**
** An error object is a full userdata holding only its retryable flag; its
** strings and tables live in five user values so that the garbage collector
** owns them (no __gc is needed):
**
**   1 message  string, always present ("" at worst)
**   2 kind     string, always present ("UNKNOWN" by default)
**   3 details  table or nil
**   4 stack    string (a luaL_traceback) or nil
**   5 cause    the wrapped error object or nil
**
** Error objects are immutable after creation, which is what lets the
** accessors hand out string pointers anchored by the object itself.
**
** The metatable is registered under the name ERRORS_META (so luaL_checkudata
** works) and also under the address of meta_key, which gives
** errors_is_error an identity test that neither allocates nor raises. It is
** created lazily by the first error made in a state, so C modules may report
** errors even in a state where errors_luaopen was never called.
**
** Kinds are open strings: the eleven of the spec are exported as constants,
** and errors.new({kind = "X"}) accepts any other string unchanged.
**
** Thread affinity: none; everything lives inside the given lua_State.
*/
#include "lua_modules/errors.h"

#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>

#include "engine/common.h"

enum {
	UV_MESSAGE = 1,
	UV_KIND,
	UV_DETAILS,
	UV_STACK,
	UV_CAUSE,
	UV_COUNT = UV_CAUSE
};

struct error {
	int retryable;
};

static const char *const kind_names[] = {
	ERRORS_UNKNOWN, ERRORS_INVALID, ERRORS_NOT_FOUND, ERRORS_ALREADY_EXISTS,
	ERRORS_PERMISSION_DENIED, ERRORS_TIMEOUT, ERRORS_CANCELED,
	ERRORS_UNAVAILABLE, ERRORS_INTERNAL, ERRORS_CONFLICT, ERRORS_RATE_LIMITED,
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

static struct error *checkerror(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, ERRORS_META);
}

/* Push user value `uv` of the error at idx. [-0, +1, -] */
static int getuv(lua_State *L, int idx, int uv)
{
	return lua_getiuservalue(L, idx, uv);
}

/*
** Push a traceback of the caller of the running C function, the stack an
** error created from Lua reports. [-0, +1, m]
*/
static void pushtraceback(lua_State *L)
{
	luaL_traceback(L, L, NULL, 1);
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
** The five parts sit at top-4..top. The new userdata is made first (all
** its user values start as nil) and filled from the parts, then moved down
** over the first part and the rest dropped.
*/
void errors_create(lua_State *L, int retryable)
{
	int base = lua_absindex(L, -5);
	struct error *e = lua_newuserdatauv(L, sizeof *e, UV_COUNT);

	e->retryable = retryable != 0;
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
	errors_create(L, 0);
}

/*
** Errors made from C carry no traceback: C modules return them on ordinary
** control paths (timeouts, closed channels), where a traceback per call
** would cost more than the call.
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

	if (!s) {
		s = ERRORS_UNKNOWN;
		if (len)
			*len = strlen(s);
	}
	return s;
}

const char *errors_stack(lua_State *L, int idx, size_t *len)
{
	return uvstring(L, idx, UV_STACK, len);
}

int errors_retryable(lua_State *L, int idx)
{
	struct error *e = lua_touserdata(L, idx);

	return e ? e->retryable : 0;
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
** Methods and metamethods
** ======================================================================= */

/* err:message() -> string  [-0, +1, -] */
static int e_message(lua_State *L)
{
	checkerror(L, 1);
	getuv(L, 1, UV_MESSAGE);
	return 1;
}

/* err:kind() -> string  [-0, +1, -] */
static int e_kind(lua_State *L)
{
	checkerror(L, 1);
	getuv(L, 1, UV_KIND);
	return 1;
}

/* err:retryable() -> boolean  [-0, +1, -] */
static int e_retryable(lua_State *L)
{
	lua_pushboolean(L, checkerror(L, 1)->retryable);
	return 1;
}

/* err:details() -> table | nil  [-0, +1, -] */
static int e_details(lua_State *L)
{
	checkerror(L, 1);
	getuv(L, 1, UV_DETAILS);
	return 1;
}

/* err:stack() -> string | nil  [-0, +1, -] */
static int e_stack(lua_State *L)
{
	checkerror(L, 1);
	getuv(L, 1, UV_STACK);
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
** -> error. An error passed in is returned as is.  [-0, +1, m]
*/
static int l_new(lua_State *L)
{
	int retryable = 0;

	switch (lua_type(L, 1)) {
	case LUA_TSTRING:
	case LUA_TNUMBER:
		lua_settop(L, 1);
		lua_tostring(L, 1);
		lua_pushnil(L);             /* kind */
		lua_pushnil(L);             /* details */
		break;
	case LUA_TTABLE:
		lua_settop(L, 1);
		lua_getfield(L, 1, "message");
		if (!lua_isstring(L, 2)) {
			lua_pop(L, 1);
			lua_pushliteral(L, "");
		}
		lua_tostring(L, 2);
		if (lua_getfield(L, 1, "kind") != LUA_TSTRING &&
		    !lua_isnil(L, 3))
			return luaL_error(L, "errors.new: kind must be a string");
		lua_getfield(L, 1, "retryable");
		retryable = lua_toboolean(L, -1);
		lua_pop(L, 1);
		if (lua_getfield(L, 1, "details") != LUA_TTABLE &&
		    !lua_isnil(L, 4))
			return luaL_error(L, "errors.new: details must be a table");
		lua_remove(L, 1);
		break;
	case LUA_TUSERDATA:
		if (errors_is_error(L, 1)) {
			lua_settop(L, 1);
			return 1;
		}
		/* fall through */
	default:
		return luaL_typeerror(L, 1, "string or table");
	}
	pushtraceback(L);
	lua_pushnil(L);                     /* cause */
	errors_create(L, retryable);
	return 1;
}

/*
** errors.wrap(err, ctx) -> error whose message is "ctx: <err message>",
** with err's kind, retryable flag, details and stack, and err as its cause.
** A non-error err (a string, say) becomes an UNKNOWN error with a fresh
** stack. wrap(nil, ...) is nil and a nil ctx returns err unchanged, so
** `return nil, errors.wrap(err, "...")` is safe on every path.  [-0, +1, m]
*/
static int l_wrap(lua_State *L)
{
	const char *ctx;
	int retryable = 0;

	if (lua_isnoneornil(L, 1)) {
		lua_pushnil(L);
		return 1;
	}
	ctx = luaL_optstring(L, 2, NULL);
	lua_settop(L, 2);
	if (!ctx) {
		lua_settop(L, 1);
		return 1;
	}
	lua_pushfstring(L, "%s: ", ctx);        /* 3 */
	tostr(L, 1);                            /* 4 */
	lua_concat(L, 2);                       /* 3: message */
	if (errors_is_error(L, 1)) {
		retryable = errors_retryable(L, 1);
		getuv(L, 1, UV_KIND);
		getuv(L, 1, UV_DETAILS);
		if (getuv(L, 1, UV_STACK) != LUA_TSTRING) {
			lua_pop(L, 1);
			pushtraceback(L);
		}
		lua_pushvalue(L, 1);            /* cause */
	} else {
		lua_pushnil(L);
		lua_pushnil(L);
		pushtraceback(L);
		lua_pushnil(L);
	}
	errors_create(L, retryable);
	return 1;
}

/*
** errors.is(err, target) -> boolean. A string target matches the kind of
** err or of any error it wraps; an error target matches by identity along
** the chain. Anything that is not an error object is never matched.
** [-0, +1, -]
*/
static int l_is(lua_State *L)
{
	int found = 0, bykind = lua_type(L, 2) == LUA_TSTRING;

	lua_settop(L, 2);
	lua_pushvalue(L, 1);
	while (!found && errors_is_error(L, -1)) {
		if (bykind) {
			getuv(L, -1, UV_KIND);
			found = lua_rawequal(L, -1, 2);
			lua_pop(L, 1);
		} else {
			found = lua_rawequal(L, -1, 2);
		}
		getuv(L, -1, UV_CAUSE);
		lua_remove(L, -2);
	}
	lua_pushboolean(L, found);
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

/*
** Parse one traceback line "\tSRC:LINE: in WHAT" (LINE may be absent) into
** a frame table {source, line, name}. Lines of another shape ("(...tail
** calls...)", "...(skipping N levels)") return 0 and push nothing.
** [-0, +(0|1), m]
*/
static int pushframe(lua_State *L, const char *s, size_t n)
{
	const char *in = NULL, *colon, *p;
	size_t i;

	for (i = 0; i + 5 <= n; i++) {
		if (memcmp(s + i, ": in ", 5) == 0) {
			in = s + i;
			break;
		}
	}
	if (!in)
		return 0;
	lua_createtable(L, 0, 3);
	lua_pushlstring(L, in + 5, (size_t)(s + n - in - 5));
	lua_setfield(L, -2, "name");
	/* A trailing ":digits" before ": in " is the line number. */
	colon = NULL;
	for (p = in; p > s; p--) {
		if (p[-1] == ':') {
			colon = p - 1;
			break;
		}
		if (p[-1] < '0' || p[-1] > '9')
			break;
	}
	if (colon && colon + 1 < in) {
		lua_Integer line = 0;

		for (p = colon + 1; p < in; p++)
			line = line * 10 + (*p - '0');
		lua_pushinteger(L, line);
		lua_setfield(L, -2, "line");
		in = colon;
	}
	lua_pushlstring(L, s, (size_t)(in - s));
	lua_setfield(L, -2, "source");
	return 1;
}

/*
** errors.call_stack(err) -> {{source=, line=, name=}, ...} or nil: the
** frames, innermost first, of the stack captured when err (or the error it
** wraps) was created from Lua. Errors made by C modules have none.
** [-0, +1, m]
*/
static int l_call_stack(lua_State *L)
{
	const char *s, *end, *nl;
	size_t len;
	lua_Integer n = 0;

	if (!errors_is_error(L, 1) || !(s = errors_stack(L, 1, &len))) {
		lua_pushnil(L);
		return 1;
	}
	end = s + len;
	lua_newtable(L);
	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			nl = end;
		if (*s == '\t' && pushframe(L, s + 1, (size_t)(nl - s - 1)))
			lua_rawseti(L, -2, ++n);
		s = nl + 1;
	}
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
	lua_createtable(L, 0, (int)(countof(funcs) + countof(kind_names)));
	luaL_setfuncs(L, funcs, 0);
	for (i = 0; i < countof(kind_names); i++) {
		lua_pushstring(L, kind_names[i]);
		lua_setfield(L, -2, kind_names[i]);
	}
	lua_pushvalue(L, -1);
	lua_setglobal(L, "errors");
	return 1;
}

/* }====================================================================== */
