/*
** lua_modules/errors.h: structured error values and the global `errors`.
**
** An error object is a full userdata whose metatable is registered once per
** lua_State under the registry name "wippy.error" (ERRORS_META). It carries
** a message, a kind (a string such as "NOT_FOUND"; "UNKNOWN" by default), a
** retryable flag, optional details (a Lua table), an optional stack
** traceback string and an optional wrapped cause (another error object).
** Lua code sees it through `errors.new/wrap/is/unwrap/call_stack` and the
** methods err:message() / :kind() / :retryable() / :details() / :stack().
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

#define ERRORS_META "wippy.error"

/* The kinds of the spec (section 3), as the strings err:kind() returns. */
#define ERRORS_UNKNOWN           "UNKNOWN"
#define ERRORS_INVALID           "INVALID"
#define ERRORS_NOT_FOUND         "NOT_FOUND"
#define ERRORS_ALREADY_EXISTS    "ALREADY_EXISTS"
#define ERRORS_PERMISSION_DENIED "PERMISSION_DENIED"
#define ERRORS_TIMEOUT           "TIMEOUT"
#define ERRORS_CANCELED          "CANCELED"
#define ERRORS_UNAVAILABLE       "UNAVAILABLE"
#define ERRORS_INTERNAL          "INTERNAL"
#define ERRORS_CONFLICT          "CONFLICT"
#define ERRORS_RATE_LIMITED      "RATE_LIMITED"

/*
** Open the module: create the error metatable if this state lacks it, build
** the `errors` table (functions plus one string constant per kind), store
** it in the global `errors` and leave it on the stack. Returns 1; usable
** with luaL_requiref. [-0, +1, m]
*/
int errors_luaopen(lua_State *L);

/*
** Push a new error object with the given kind (NULL means "UNKNOWN") and a
** message formatted like lua_pushfstring (%s %d %I %f %p %c %U %%), no
** stack traceback and not retryable. Raises only memory errors. [-0, +1, m]
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
** stay valid while it is reachable. errors_stack returns NULL when the
** error has no traceback. None of them allocates. [-0, +0, -]
*/
const char *errors_message(lua_State *L, int idx, size_t *len);
const char *errors_kind(lua_State *L, int idx, size_t *len);
const char *errors_stack(lua_State *L, int idx, size_t *len);
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
** bottom to top: message (string), kind (string, or nil for "UNKNOWN"),
** details (table or nil), stack (string or nil), cause (error or nil). Pops
** the five values and pushes the error. Parts of the wrong type are
** treated as nil (a non-string message as ""). [-5, +1, m]
*/
void errors_create(lua_State *L, int retryable);

#endif
