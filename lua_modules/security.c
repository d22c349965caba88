/*
** lua_modules/security.c: require("security"), the Actor and Scope of the
** original's security module (runtime/lua/modules/security: module.go,
** actor.go, scope.go, utils.go) and the running process's own pair.
**
**   security.new_actor(id, meta?) -> Actor     Actor:id() Actor:meta()
**   security.new_scope(policies?) -> Scope     Scope:policies() :contains()
**   security.actor() -> Actor | nil            :with() :without() :evaluate()
**   security.scope() -> Scope | nil
**
** An Actor is a userdata with two user values: its id (a string) and its
** meta, a private table that nobody outside this file ever sees: it is
** normalised at new_actor the way the original turns a Lua table into Go
** metadata (string keys only; strings, numbers, booleans and tables of the
** same kept, everything else dropped), and :meta() returns a deep copy,
** as the original builds a new table on every call.
**
** A Scope is a userdata whose one user value is its array of policies.
** This runtime has no policies yet (no security.policy, no policy
** entries evaluated), so every Scope that can exist is empty, and its
** methods answer exactly as the original's do for an empty scope:
** policies() is {}, contains() false, without() an equal scope,
** evaluate() "undefined", and with() refuses its argument ("Policy
** expected": no value is a Policy). new_scope refuses a non-empty table
** with an Invalid error instead of dropping its entries.
**
** Not here: security.can, policy, named_scope, token_store, and the
** permission checks the original makes before creating actors and scopes
** (security.actor.create, security.scope.create): there is no policy
** engine to ask.
**
** The process's own pair lives encoded in struct proc (p->sec, written by
** proc_spawn from the spawner's security_encode); security.actor() and
** security.scope() decode it on each call, so processes never share an
** Actor or Scope object. Encoded form: {actor = {id = s, meta = t},
** scope = {policies = {}}}, either key absent when not set.
*/
#include "security.h"

#include <lauxlib.h>

#include "lazylib.h"
#include "runtime/errors.h"
#include "runtime/payload.h"
#include "runtime/proc.h"

/* How deep a meta table may nest: the encoded context wraps it in two
** more tables, and the payload codec refuses past PAYLOAD_MAXDEPTH. A
** cyclic meta stops here too (the original recurses without end). */
#define META_MAXDEPTH (PAYLOAD_MAXDEPTH - 4)

enum { AV_ID = 1, AV_META, AV_N = AV_META };
enum { SV_POLICIES = 1, SV_N = SV_POLICIES };

static void actor_meta(lua_State *L);
static void scope_meta(lua_State *L);

/* {==== Metadata tables ====} */

/* Push a normalised copy of the table at idx: string keys only; strings,
** numbers and booleans as they are, tables normalised in turn, other
** values dropped (the original's luaTableToMetadata / toGoValue). Raises
** an Invalid error past META_MAXDEPTH. [-0, +1, e] */
static void normalise(lua_State *L, int idx, int depth)
{
	idx = lua_absindex(L, idx);
	if (depth > META_MAXDEPTH) {
		errors_push(L, ERRORS_INVALID,
			    "security.new_actor: meta is nested too deeply (or cyclic)");
		lua_error(L);
	}
	luaL_checkstack(L, 4, "meta nesting");
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		int t = lua_type(L, -1);
		if (lua_type(L, -2) != LUA_TSTRING ||
		    (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN &&
		     t != LUA_TTABLE)) {
			lua_pop(L, 1);
			continue;
		}
		if (t == LUA_TTABLE) {
			normalise(L, -1, depth + 1);
			lua_remove(L, -2);
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
}

/* Push a deep copy of the table at idx, a tree as normalise leaves it.
** [-0, +1, m] */
static void copy_tree(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 4, "meta nesting");
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -1) == LUA_TTABLE) {
			copy_tree(L, -1);
			lua_remove(L, -2);
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
}

/* {==== Actor ====} */

/* Push a new Actor from the id and the (private, already normalised)
** meta table on top of the stack, which it takes. [-2, +1, m] */
static void push_actor(lua_State *L)
{
	lua_newuserdatauv(L, 0, AV_N);
	lua_insert(L, -3);
	lua_setiuservalue(L, -3, AV_META);
	lua_setiuservalue(L, -2, AV_ID);
	actor_meta(L);
	lua_setmetatable(L, -2);
}

/* The Actor argument at idx, or raises as the original's checkActor:
** "userdata expected" for a non-userdata, "Actor expected" for another
** userdata. [-0, +0, v] */
static void check_actor(lua_State *L, int idx)
{
	luaL_checktype(L, idx, LUA_TUSERDATA);
	if (!security_is_actor(L, idx))
		luaL_argerror(L, idx, "Actor expected");
}

/* Actor:id() -> string [-0, +1, v] */
static int a_id(lua_State *L)
{
	check_actor(L, 1);
	lua_getiuservalue(L, 1, AV_ID);
	return 1;
}

/* Actor:meta() -> table: a new copy on every call. [-0, +1, m] */
static int a_meta(lua_State *L)
{
	check_actor(L, 1);
	lua_getiuservalue(L, 1, AV_META);
	copy_tree(L, -1);
	return 1;
}

static const luaL_Reg actor_methods[] = {
	{"id", a_id},
	{"meta", a_meta},
	{NULL, NULL}
};

static void actor_meta(lua_State *L)
{
	if (luaL_newmetatable(L, SECURITY_ACTOR_META)) {
		lazylib_methods(L, actor_methods);
		lua_setfield(L, -2, "__index");
	}
}

int security_is_actor(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, SECURITY_ACTOR_META) != NULL;
}

/* {==== Scope ====} */

/* Push a new Scope over the policies array on top (which it takes).
** [-1, +1, m] */
static void push_scope(lua_State *L)
{
	lua_newuserdatauv(L, 0, SV_N);
	lua_insert(L, -2);
	lua_setiuservalue(L, -2, SV_POLICIES);
	scope_meta(L);
	lua_setmetatable(L, -2);
}

static void check_scope(lua_State *L, int idx)
{
	luaL_checktype(L, idx, LUA_TUSERDATA);
	if (!security_is_scope(L, idx))
		luaL_argerror(L, idx, "Scope expected");
}

/* Check a policy reference at 2 as the original's contains/without do: a
** policy id string, an {ns=, name=} table or a Policy object (of which
** none exists here). Raises on anything else. [-0, +0, v] */
static void check_policy_ref(lua_State *L)
{
	switch (lua_type(L, 2)) {
	case LUA_TSTRING:
		return;
	case LUA_TUSERDATA:
		luaL_argerror(L, 2, "Policy or policy ID string expected");
		return;
	case LUA_TTABLE: {
		int ns = lua_getfield(L, 2, "ns"), name = lua_getfield(L, 2, "name");
		lua_pop(L, 2);
		if (ns == LUA_TNIL || name == LUA_TNIL)
			luaL_argerror(L, 2, "ID table must have ns and name fields");
		return;
	}
	default:
		luaL_argerror(L, 2, "Policy ID expected as string, table, or policy object");
	}
}

/* Scope:policies() -> array of the scope's policies (a new table; empty,
** as every scope is here). [-0, +1, m] */
static int s_policies(lua_State *L)
{
	check_scope(L, 1);
	lua_getiuservalue(L, 1, SV_POLICIES);
	copy_tree(L, -1);
	return 1;
}

/* Scope:contains(policy) -> boolean: false, no scope holds a policy. */
static int s_contains(lua_State *L)
{
	check_scope(L, 1);
	check_policy_ref(L);
	lua_pushboolean(L, 0);
	return 1;
}

/* Scope:with(policy) -> Scope: needs a Policy object, and no value is one
** until policies exist, so it always raises as the original does for a
** non-Policy. [-0, +0, v] */
static int s_with(lua_State *L)
{
	check_scope(L, 1);
	luaL_checktype(L, 2, LUA_TUSERDATA);
	return luaL_argerror(L, 2, "Policy expected");
}

/* Scope:without(policy) -> Scope with the same policies (it holds none to
** remove). [-0, +1, m] */
static int s_without(lua_State *L)
{
	check_scope(L, 1);
	check_policy_ref(L);
	lua_getiuservalue(L, 1, SV_POLICIES);
	copy_tree(L, -1);
	lua_remove(L, -2);
	push_scope(L);
	return 1;
}

/* Scope:evaluate(actor, action, resource, meta?) -> "allow" | "deny" |
** "undefined": a scope with no policies decides nothing. [-0, +1, v] */
static int s_evaluate(lua_State *L)
{
	check_scope(L, 1);
	check_actor(L, 2);
	luaL_checkstring(L, 3);
	luaL_checkstring(L, 4);
	if (!lua_isnoneornil(L, 5))
		luaL_checktype(L, 5, LUA_TTABLE);
	lua_pushliteral(L, "undefined");
	return 1;
}

static const luaL_Reg scope_methods[] = {
	{"policies", s_policies},
	{"contains", s_contains},
	{"with", s_with},
	{"without", s_without},
	{"evaluate", s_evaluate},
	{NULL, NULL}
};

static void scope_meta(lua_State *L)
{
	if (luaL_newmetatable(L, SECURITY_SCOPE_META)) {
		lazylib_methods(L, scope_methods);
		lua_setfield(L, -2, "__index");
	}
}

int security_is_scope(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, SECURITY_SCOPE_META) != NULL;
}

/* {==== The process's context ====} */

/* Push the decoded context table of the running process, or nothing and
** return 0 when it has none. [-0, +(0|1), m] */
static int push_context(lua_State *L)
{
	struct proc *p = proc_of(L);
	int top = lua_gettop(L);
	if (p->sec.len == 0)
		return 0;
	if (payload_decode(L, &p->sec) == 1 && lua_istable(L, -1))
		return 1;
	lua_settop(L, top);
	return 0;
}

/* From the context table at idx, push its Actor or nil. [-0, +1, m] */
static void actor_from(lua_State *L, int idx)
{
	if (lua_getfield(L, idx, "actor") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_pushnil(L);
		return;
	}
	lua_getfield(L, -1, "id");
	if (lua_getfield(L, -2, "meta") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	push_actor(L);
	lua_remove(L, -2);
}

/* From the context table at idx, push its Scope or nil. [-0, +1, m] */
static void scope_from(lua_State *L, int idx)
{
	if (lua_getfield(L, idx, "scope") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_pushnil(L);
		return;
	}
	if (lua_getfield(L, -1, "policies") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	push_scope(L);
	lua_remove(L, -2);
}

void security_push_own(lua_State *L)
{
	if (!push_context(L)) {
		lua_pushnil(L);
		lua_pushnil(L);
		return;
	}
	actor_from(L, -1);
	scope_from(L, -2);
	lua_remove(L, -3);
}

int security_encode(lua_State *L, int ai, int si, struct payload *out)
{
	int rc;
	ai = lua_absindex(L, ai);
	si = lua_absindex(L, si);
	if (lua_isnil(L, ai) && lua_isnil(L, si))
		return 0;
	lua_createtable(L, 0, 2);
	if (!lua_isnil(L, ai)) {
		lua_createtable(L, 0, 2);
		lua_getiuservalue(L, ai, AV_ID);
		lua_setfield(L, -2, "id");
		lua_getiuservalue(L, ai, AV_META);
		lua_setfield(L, -2, "meta");
		lua_setfield(L, -2, "actor");
	}
	if (!lua_isnil(L, si)) {
		lua_createtable(L, 0, 1);
		lua_getiuservalue(L, si, SV_POLICIES);
		lua_setfield(L, -2, "policies");
		lua_setfield(L, -2, "scope");
	}
	rc = payload_encode(L, -1, 1, out);
	lua_pop(L, 1);
	return rc;
}

/* {==== Module functions ====} */

/* security.new_actor(id, meta?) -> Actor. id: a string (numbers are
** converted, as everywhere in Lua's API); meta: a table or nil.
** [-0, +1, e] */
static int m_new_actor(lua_State *L)
{
	luaL_checkstring(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_pushstring(L, lua_tostring(L, 1));   /* a number becomes its string */
	if (lua_istable(L, 2))
		normalise(L, 2, 1);
	else
		lua_newtable(L);
	push_actor(L);
	return 1;
}

/* security.new_scope(policies?) -> Scope: an empty scope. policies, when
** given, must be a table; one with any entry is refused, since this
** runtime has no policies to put in a scope. [-0, +1, e] */
static int m_new_scope(lua_State *L)
{
	if (lua_gettop(L) >= 1) {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_pushnil(L);
		if (lua_next(L, 1)) {
			errors_push(L, ERRORS_INVALID,
				    "security.new_scope: policies are not supported yet");
			return lua_error(L);
		}
	}
	lua_newtable(L);
	push_scope(L);
	return 1;
}

/* security.actor() -> Actor | nil: the running process's. [-0, +1, m] */
static int m_actor(lua_State *L)
{
	security_push_own(L);
	lua_pop(L, 1);
	return 1;
}

/* security.scope() -> Scope | nil: the running process's. [-0, +1, m] */
static int m_scope(lua_State *L)
{
	security_push_own(L);
	return 1;
}

static const luaL_Reg funcs[] = {
	{"new_actor", m_new_actor},
	{"new_scope", m_new_scope},
	{"actor", m_actor},
	{"scope", m_scope},
	{NULL, NULL}
};

int luaopen_security(lua_State *L)
{
	lazylib_new(L, funcs);
	return 1;
}
