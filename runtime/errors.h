/*
** runtime/errors.h: the error value, a Lua userdata every floor can make
** and read.
**
** An error object is a full userdata whose metatable is registered once per
** lua_State under the registry name "wippy.error" (ERRORS_META). It carries
** a message, a kind (one of the strings below, "" when unknown), a
** three-state retryable flag (unset, true, false), optional details (a
** table with string keys), an optional captured Lua stack, an optional
** wrapped cause (another error object) and an optional wrap context.
** Lua code reads it through the methods err:message() / :kind() /
** :retryable() / :details() / :stack(), which the metatable made here
** carries; the `errors` library that makes errors from Lua
** (errors.new/wrap/is/unwrap/call_stack) is lua_modules/errors.h. The kinds
** and the semantics follow the original runtime's go-lua Error type (kinds
** are its CamelCase strings, Unknown is "").
**
** The captured stack has a transport form, a string, so the payload codec
** can carry it between processes: the thread id ("0x..."), then one line
** per frame
**
**   LEVEL \t LINE \t WHAT \t NAME \t SOURCE \n
**
** with SOURCE last because it is the only field that may hold a tab.
**
** C code reports failures in the `return nil, err` convention with
** errors_ret(); the payload codec reads and rebuilds errors through the
** accessors and errors_create(). None of these functions needs a process
** runtime; they work on any lua_State.
*/
#ifndef RUNTIME_ERRORS_H
#define RUNTIME_ERRORS_H

#include <stddef.h>

#include <lua.h>

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
** Same, with the wrap context ctx (errors_context; err:message() and
** tostring stay the message, JSON shows "ctx: message"), as the
** original's WrapErrorWithLua makes for failures of a library it calls.
** [-0, +2, m]
*/
int errors_ret_wrapped(lua_State *L, const char *kind, const char *ctx, const char *fmt, ...);

/*
** Return 1 if the value at idx is an error object, else 0. Never allocates
** and never raises, so encoders may call it unprotected. [-0, +0, -]
*/
int errors_is_error(lua_State *L, int idx);

/*
** Register the error metatable in this state if it lacks it, so
** luaL_checkudata(L, i, ERRORS_META) works before the first error is
** made. Errors made here register it themselves. [-0, +0, m]
*/
void errors_register(lua_State *L);

/*
** Accessors for the error object at idx (the caller has checked it with
** errors_is_error). The returned strings belong to the error object and
** stay valid while it is reachable. errors_stack returns the captured
** stack in its transport form (above) or NULL when there is none;
** errors_context returns the wrap context or NULL. errors_retryable
** returns one of ERRORS_RETRY_*. None of them allocates. [-0, +0, -]
*/
const char *errors_message(lua_State *L, int idx, size_t *len);
const char *errors_kind(lua_State *L, int idx, size_t *len);
const char *errors_stack(lua_State *L, int idx, size_t *len);
const char *errors_context(lua_State *L, int idx, size_t *len);
int errors_retryable(lua_State *L, int idx);

/*
** Push the message (a string, "" at worst) or the kind (a string) of the
** error at idx, the very string the error holds, so nothing is copied.
** [-0, +1, -]
*/
void errors_push_message(lua_State *L, int idx);
void errors_push_kind(lua_State *L, int idx);

/*
** Push the details table of the error at idx (or nil) and return its type
** (LUA_TTABLE or LUA_TNIL). The table is the error's own: callers handing
** it to Lua code must copy it (errors_copy_details). errors_push_cause does
** the same for the wrapped cause (an error object or nil; returns
** LUA_TUSERDATA or LUA_TNIL). [-0, +1, -]
*/
int errors_push_details(lua_State *L, int idx);
int errors_push_cause(lua_State *L, int idx);

/*
** Push a copy of the table at idx holding only its string keys, the way
** the original turns details into a Go map and back: strings, numbers and
** booleans are kept, tables are copied the same way, an error becomes its
** message and any other value its tostring text. Raises on tables nested
** too deeply (which is also how a cycle ends). Returns the number of keys
** copied. [-0, +1, e]
*/
int errors_copy_details(lua_State *L, int idx);

/*
** Push the stack of the running thread, from level 0 (the C function
** running now) outwards, in transport form, for errors_create. At most 64
** frames are kept. [-0, +1, m]
*/
void errors_push_stack(lua_State *L);

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
** The frames of a transport-form stack (errors_stack): the first line is
** the thread id, then one line per frame, "level\tline\ttype\tname\tsource".
** Start with *pos = 0; each call fills fr with the next frame's fields (each
** field runs up to the tab before the next; source up to end) and returns
** 1, or returns 0 when none is left. Lines that are not frames are
** skipped. Pure.
*/
struct errors_frame { const char *level, *line, *type, *name, *source, *end; };
int errors_next_frame(const char *s, size_t len, size_t *pos, struct errors_frame *fr);

#endif
