/*
** lua_modules/security.h: the Actor and Scope values of require("security")
** as the process module sees them, so a Spawner can hold them and hand
** them to a child (lua_modules/security.c owns them).
**
** A process's security context travels encoded (struct proc's `sec`, one
** payload table), never as shared Lua objects: the spawner encodes it with
** security_encode, the child decodes it on each security.actor() /
** security.scope() call.
*/
#ifndef LUA_MODULES_SECURITY_H
#define LUA_MODULES_SECURITY_H

#include <lua.h>

struct payload;

/* Metatable names, as the original's type names. */
#define SECURITY_ACTOR_META "security.Actor"
#define SECURITY_SCOPE_META "security.Scope"

/* require("security"): new_actor new_scope actor scope. [-0, +1, m] */
int luaopen_security(lua_State *L);

/* 1 if the value at idx is an Actor (resp. a Scope), else 0. Never
** raises. [-0, +0, -] */
int security_is_actor(lua_State *L, int idx);
int security_is_scope(lua_State *L, int idx);

/* Push the running process's Actor and then its Scope (nil for each it
** does not have): fresh objects decoded from its context. A context that
** cannot be decoded reads as none (it was written by security_encode, so
** that cannot happen short of memory corruption). [-0, +2, m] */
void security_push_own(lua_State *L);

/* Encode the Actor at slot ai and the Scope at slot si (either may hold
** nil: left out) into *out, which the caller then owns; with both nil,
** *out is left empty. Returns 0, or a negative errno from payload_encode
** with *out untouched. [-0, +0, m] */
int security_encode(lua_State *L, int ai, int si, struct payload *out);

#endif
