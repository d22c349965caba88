/*
** lua_modules/errors.h: structured error values and the global `errors`.
**
** An error object is a full userdata whose metatable is registered once per
** lua_State under the registry name "wippy.error" (ERRORS_META). It carries
** a message, a kind (one of the strings below, "" when unknown), a
** three-state retryable flag (unset, true, false), optional details (a
** table with string keys), an optional captured Lua stack, an optional
** wrapped cause (another error object) and an optional wrap context.
** Lua code sees it through `errors.new/wrap/is/unwrap/call_stack` and the
** methods err:message() / :kind() / :retryable() / :details() / :stack().
** The kinds and the semantics follow the original runtime's go-lua Error
** type (kinds are its CamelCase strings, Unknown is "").
**
** C modules report failures in the `return nil, err` convention with
** errors_ret(); the payload codec reads and rebuilds errors through the
** accessors and errors_create(). None of these functions needs a process
** runtime; they work on any lua_State.
*/
#ifndef LUA_MODULES_ERRORS_H
#define LUA_MODULES_ERRORS_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

#define ERRORS_META "wippy.error"

/*
** The kinds, as the strings err:kind() returns and errors.<NAME> holds
** (errors.NOT_FOUND == "NotFound"): the original runtime's values.
*/
#define ERRORS_UNKNOWN           ""
#define ERRORS_INVALID           "Invalid"
#define ERRORS_NOT_FOUND         "NotFound"
#define ERRORS_ALREADY_EXISTS    "AlreadyExists"
#define ERRORS_PERMISSION_DENIED "PermissionDenied"
#define ERRORS_TIMEOUT           "Timeout"
#define ERRORS_CANCELED          "Canceled"
#define ERRORS_UNAVAILABLE       "Unavailable"
#define ERRORS_INTERNAL          "Internal"
#define ERRORS_CONFLICT          "Conflict"
#define ERRORS_RATE_LIMITED      "RateLimited"

/* The retryable flag: err:retryable() is false, true or nil (unset). */
#define ERRORS_RETRY_NO    0
#define ERRORS_RETRY_YES   1
#define ERRORS_RETRY_UNSET 2

/*
** Open the module: create the error metatable if this state lacks it, build
** the `errors` table (functions plus one string constant per kind), store
** it in the global `errors` and leave it on the stack. Returns 1; usable
** with luaL_requiref. [-0, +1, m]
*/
int errors_luaopen(lua_State *L);

/*
** Push a new error object with the given kind (NULL means ERRORS_UNKNOWN)
** and a message formatted like lua_pushfstring (%s %d %I %f %p %c %U %%),
** no captured stack and retryable false. Raises only memory errors.
** [-0, +1, m]
*/
void errors_push(lua_State *L, const char *kind, const char *fmt, ...);

/*
** Push nil and a new error object (as errors_push) and return 2, so a
** lua_CFunction can end with `return errors_ret(L, ERRORS_INVALID, ...)`.
** [-0, +2, m]
*/
int errors_ret(lua_State *L, const char *kind, const char *fmt, ...);

/*
** Return 1 if the value at idx is an error object, else 0. Never allocates
** and never raises, so encoders may call it unprotected. [-0, +0, -]
*/
int errors_is_error(lua_State *L, int idx);

/*
** Accessors for the error object at idx (the caller has checked it with
** errors_is_error). The returned strings belong to the error object and
** stay valid while it is reachable. errors_stack returns the captured
** stack in its opaque transport form (for the payload codec; err:stack()
** renders it) or NULL when there is none; errors_context returns the wrap
** context or NULL. errors_retryable returns one of ERRORS_RETRY_*. None of
** them allocates. [-0, +0, -]
*/
const char *errors_message(lua_State *L, int idx, size_t *len);
const char *errors_kind(lua_State *L, int idx, size_t *len);
const char *errors_stack(lua_State *L, int idx, size_t *len);
const char *errors_context(lua_State *L, int idx, size_t *len);
int errors_retryable(lua_State *L, int idx);

/*
** Push the details table of the error at idx (or nil) and return its type
** (LUA_TTABLE or LUA_TNIL). errors_push_cause does the same for the wrapped
** cause (an error object or nil; returns LUA_TUSERDATA or LUA_TNIL).
** [-0, +1, -]
*/
int errors_push_details(lua_State *L, int idx);
int errors_push_cause(lua_State *L, int idx);

/*
** Build an error object from parts on the stack, for decoders. Expects, from
** bottom to top: message (string), kind (string, or nil for ERRORS_UNKNOWN),
** details (table or nil), stack (a string from errors_stack, or nil), cause
** (error or nil), context (string or nil). Pops the six values and pushes
** the error; the details table is used as is. Parts of the wrong type are
** treated as nil (a non-string message as ""); a retryable value other
** than ERRORS_RETRY_NO/YES means unset. [-6, +1, m]
*/
void errors_create(lua_State *L, int retryable);

/*
** Make the string library functions in `funcs` (a NULL-terminated list of
** harvested lstrlib functions) accept error objects wherever they take a
** string, by reading such an argument as its message, as the original's
** string library does (string.find(err, "x"), ("x"):rep(2, err)). Rewrites
** the list in place, once, at boot, before any state uses it; the
** replacement functions run the originals in the same call frame, so
** argument errors still name the original function. Aborts if the list
** is longer than the wrappers available.
*/
void errors_wrap_strlib(luaL_Reg *funcs);

#endif
