/*
** runtime/errors.c: the error object: its layout, its constructor, the
** accessors C code reads it through and the methods Lua code reads it
** through. The `errors` library (errors.new and friends) is
** lua_modules/errors.c, a floor above; nothing here may include
** lua_modules/ or need a process runtime.
**
** An error object is a full userdata holding only its retryable flag; its
** strings and tables live in six user values so that the garbage collector
** owns them (no __gc is needed):
**
**   1 message  string, always present ("" at worst)
**   2 kind     string, always present ("" is the unknown kind)
**   3 details  table with string keys, or nil (never an empty table)
**   4 stack    the captured Lua stack in transport form, or nil
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
** tostring() are the message alone, and err:stack() lists each error of a
** wrap chain as its context line and its frames.
**
** The metatable is registered under the name ERRORS_META (so luaL_checkudata
** works) and also under the address of meta_key, which gives
** errors_is_error an identity test that neither allocates nor raises. It is
** created lazily by the first error made in a state, so C code may report
** errors even in a state where the `errors` library was never opened.
**
** Thread affinity: none; everything lives inside the given lua_State.
*/
#include "runtime/errors.h"

#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>

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

void errors_register(lua_State *L)
{
	pushmeta(L);
	lua_pop(L, 1);
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

int errors_ret_wrapped(lua_State *L, const char *kind, const char *ctx, const char *fmt, ...)
{
	va_list ap;

	lua_pushnil(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushstring(L, kind ? kind : ERRORS_UNKNOWN);
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushstring(L, ctx);
	errors_create(L, ERRORS_RETRY_NO);
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

void errors_push_message(lua_State *L, int idx)
{
	if (getuv(L, idx, UV_MESSAGE) != LUA_TSTRING) {
		lua_pop(L, 1);
		lua_pushliteral(L, "");
	}
}

void errors_push_kind(lua_State *L, int idx)
{
	if (getuv(L, idx, UV_KIND) != LUA_TSTRING) {
		lua_pop(L, 1);
		lua_pushliteral(L, ERRORS_UNKNOWN);
	}
}

/* One line per frame, as the transport form in runtime/errors.h says. */
void errors_push_stack(lua_State *L)
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

/* }====================================================================== */

/* {======================================================================
** Details
** ======================================================================= */

/* errors_copy_details, with the nesting depth so far. [-0, +1, e] */
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

int errors_copy_details(lua_State *L, int idx)
{
	return copydetails(L, idx, 0);
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

int errors_next_frame(const char *s, size_t len, size_t *pos, struct errors_frame *fr)
{
	const char *end = s + len, *p, *nl, *f[5];
	int i;

	if (*pos == 0) {                        /* skip the thread id */
		nl = memchr(s, '\n', len);
		*pos = nl ? (size_t)(nl + 1 - s) : len;
	}
	for (p = s + *pos; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*pos = (size_t)(nl - s) + (nl < end);
		f[0] = p;
		for (i = 1; i < 5; i++) {
			f[i] = memchr(f[i - 1], '\t', (size_t)(nl - f[i - 1]));
			if (!f[i])
				break;
			f[i]++;
		}
		if (i < 5)
			continue;               /* not a frame line */
		*fr = (struct errors_frame){ f[0], f[1], f[2], f[3], f[4], nl };
		return 1;
	}
	*pos = len;
	return 0;
}

/*
** Add the frames of one transport-form stack as "  source:line (name)"
** lines. [-0, +0, m]
*/
static void addframes(luaL_Buffer *b, const char *s, size_t len)
{
	struct errors_frame fr;
	size_t pos = 0;

	while (errors_next_frame(s, len, &pos, &fr)) {
		luaL_addstring(b, "  ");
		luaL_addlstring(b, fr.source, (size_t)(fr.end - fr.source));
		luaL_addchar(b, ':');
		luaL_addlstring(b, fr.line, (size_t)(fr.type - 1 - fr.line));
		luaL_addstring(b, " (");
		luaL_addlstring(b, fr.name, (size_t)(fr.source - 1 - fr.name));
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
