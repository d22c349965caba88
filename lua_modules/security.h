/*
** lua_modules/security.h: the Actor and Scope values of require("security")
** as the process module sees them, so a Spawner can hold them and hand
** them to a child, and the permission checks other modules make at their
** check sites (lua_modules/security.c owns them).
**
** A process's security context travels encoded (struct proc's `sec`, one
** payload table), never as shared Lua objects: the spawner encodes it with
** security_encode, the child decodes it on each security.actor() /
** security.scope() call.
*/
#ifndef LUA_MODULES_SECURITY_H
#define LUA_MODULES_SECURITY_H

#include <stdint.h>

#include <lua.h>

struct payload;
struct rt;
struct policy_val;

/* Metatable names, as the original's type names. */
#define SECURITY_ACTOR_META "security.Actor"
#define SECURITY_SCOPE_META "security.Scope"
#define SECURITY_POLICY_META "security.Policy"

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

/* From a table shaped as the encoded context ({actor = {id, meta},
** scope = {policies}}, either key optional) at idx, push a new Actor and
** then a new Scope (nil for each it lacks). [-0, +2, m] */
void security_push_pair(lua_State *L, int idx);

/* Push a copy of the table at idx normalised as an Actor's meta (string
** keys; strings, numbers, booleans and such tables). Raises an Invalid
** error on nesting too deep. [-0, +1, e] */
void security_push_normalised(lua_State *L, int idx);

/* security.token_store(id) -> TokenStore (lua_modules/security_token.c).
** [-0, +(1|2), e] */
int security_token_store(lua_State *L);

/* token_auth's validation on the handler's process, for
** httpd_set_token_auth (runtime/httpd.h): fn(handler, token, store_id).
** [-3, +n, e] */
int security_token_auth(lua_State *L);

/* Encode the Actor at slot ai and the Scope at slot si (either may hold
** nil: left out) into *out, which the caller then owns; with both nil,
** *out is left empty. Returns 0, or a negative errno from payload_encode
** with *out untouched. [-0, +0, m] */
int security_encode(lua_State *L, int ai, int si, struct payload *out);

/*
** The original's IsAllowed for the running process: with both an actor
** and a scope, whether the scope's policies ALLOW action on resource
** (any deny wins; nothing matching is a deny); lacking either, allowed
** unless security.strict_mode is on. meta (NULL: none) is what conditions
** on meta.* read. The process's context is compiled on first use and kept
** (no allocation after that). Never raises. [-0, +0, m]
*/
int security_allowed_meta(lua_State *L, const char *action, const char *resource,
			  const struct policy_val *meta);

/* Whether a check on L's process can deny anything: it has an actor or
** a scope, or strict mode is on. A check site whose resource costs work
** to build (a name resolved to its pid string) asks first. */
int security_active(lua_State *L);

/* As security_allowed_meta with no meta, for check sites: action must be
** a string literal (or any string that lives and keeps its text for the
** process's life), as its address keys a per-process memo of the
** policies that have that action. security_check and security_check_pid
** take the same kind of action. */
int security_allowed(lua_State *L, const char *action, const char *resource);

/* The original's IsDenied (process.upgrade's check): 1 only when the
** process has an actor and a scope and a policy of the scope DENIES;
** undefined and no context pass, strict mode or not. action: a literal,
** as for security_allowed. [-0, +0, m] */
int security_denied(lua_State *L, const char *action, const char *resource);

/*
** A check site: 0 when allowed (nothing pushed); else push nil and a
** PermissionDenied error with the message fmt and return 2, so that a
** lua_CFunction can `if ((r = security_check(...))) return r;`.
** [-0, +(0|2), m]
*/
int security_check(lua_State *L, const char *action, const char *resource,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* As security_check, with meta {pid = the caller's pid string}, as the
** original's process module passes to every check it makes. */
int security_check_pid(lua_State *L, const char *action, const char *resource,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
** The checks of an operation on a process (process.send, link, monitor,
** ...). security_check_proc is security_check_pid with resource the pid
** string of the local process `to` (a remote one's, or the text the caller
** gave for a pid that is gone, with to = 0); an allowed answer is then
** remembered under `to`. security_proc_allowed answers 1 when such an
** answer for action and `to` is remembered and still holds (or when L's
** process has no context and strict mode is off), else 0: a site asks it
** first and builds the resource only when it says 0. action: a literal,
** as for security_allowed. [-0, +0, -] and [-0, +(0|2), m]
*/
int security_proc_allowed(lua_State *L, const char *action, uint64_t to);
int security_check_proc(lua_State *L, const char *action, uint64_t to,
			const char *resource, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* As security_check, but a denial raises the PermissionDenied error (the
** original's RaiseError sites: store's). [-0, +0, e] */
int security_require(lua_State *L, const char *action, const char *resource,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
** The HTTP firewalls' check for httpd_set_firewall (the original's
** scope.Evaluate, not IsAllowed: strict mode plays no part):
** HTTPD_FW_NO_ACTOR when L's process has no actor or one with an empty
** id, HTTPD_FW_NO_SCOPE when it has no scope, else HTTPD_FW_ALLOW or
** HTTPD_FW_DENY. action and resource may be any strings (no memo).
** [-0, +0, m]
*/
int security_firewall(lua_State *L, const char *action, const char *resource);

/*
** The receiving node's check of a message from another node
** (cluster_set_send_check, runtime/cluster.h): whether the sender, with
** the security context sec (its struct proc's, carried over the wire;
** empty: none) and pid string from, may process.send to the local pid
** string to, as a local send is checked: with an actor and a scope, the
** scope's policies (ids, resolved in this node's current registry) must
** ALLOW it, with meta {pid = from}; lacking either, allowed unless
** security.strict_mode is on here. L is a scratch state of the caller's
** thread. Never raises. [-0, +0, -]
*/
int security_remote_send(struct rt *rt, lua_State *L, const struct payload *sec,
			 const char *from, const char *to);

#endif
