/*
** lua_modules/security.c: require("security") (the original's
** runtime/lua/modules/security: module.go, actor.go, scope.go, policy.go,
** utils.go), the running process's actor and scope, and the permission
** check every check site calls (the original's IsAllowed).
**
**   security.new_actor(id, meta?) -> Actor     Actor:id() :meta()
**   security.new_scope(policies?) -> Scope     Scope:policies() :contains()
**   security.actor() / scope() -> the process's (or nil)
**                                              :with() :without() :evaluate()
**   security.can(action, resource, meta?) -> boolean
**   security.policy(id) -> Policy | nil, err   Policy:id() :evaluate()
**   security.named_scope(id) -> Scope | nil, err
**
** An Actor is a userdata with two user values: its id (a string) and its
** meta, a private table that nobody outside this file ever sees: it is
** normalised at new_actor the way the original turns a Lua table into Go
** metadata (string keys only; strings, numbers, booleans and tables of the
** same kept, everything else dropped), and :meta() returns a deep copy,
** as the original builds a new table on every call.
**
** A Policy is a userdata holding a compiled policy of the registry's
** policy table (runtime/policy.h; alive until exit) and its id. A Scope is
** a userdata whose one user value is an array of policy ids: scopes travel
** between processes encoded, so they name policies rather than hold them,
** and each evaluation resolves the ids against the current registry
** version (an id that no longer exists drops out).
**
** The process's own pair lives encoded in struct proc (p->sec, written by
** proc_spawn from the spawner's security_encode, or by the supervisor from
** lifecycle.security); security.actor() and security.scope() decode it on
** each call, so processes never share an Actor or Scope object. Encoded
** form: {actor = {id = s, meta = t}, scope = {policies = {ids}}}, either
** key absent when not set. For the checks it is compiled once per
** distinct context and registry version, shared (runtime/polctx.h), and
** each process keeps its answers beside it (struct own), so that a check
** allocates nothing.
**
** security.token_store(id) and its TokenStore are lua_modules/security_token.c.
*/
#include "security.h"

#include <lauxlib.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "lazylib.h"
#include "runtime/errors.h"
#include "runtime/httpd.h"
#include "runtime/live.h"
#include "runtime/payload.h"
#include "runtime/policy.h"
#include "runtime/polctx.h"
#include "runtime/proc.h"
#include "runtime/rt.h"

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

/* {==== Values for the engine ====} */

/* How many values one conversion copies at most: a table that holds
** itself twice would otherwise take 2^depth steps. */
#define PVAL_BUDGET 20000

/* Fill *out with an owned policy_val copy of the Lua value at idx: tables
** with only keys 1..n become lists, others maps of their string keys;
** functions, userdata and the like become null. Never raises (it reads
** with rawget / lua_next only); what lies past META_MAXDEPTH, or past
** *budget values, is null. [-0, +0, m] */
static void to_pval_b(lua_State *L, int idx, struct policy_val *out, int depth,
		      size_t *budget)
{
	size_t len, n, i;
	const char *s;

	idx = lua_absindex(L, idx);
	memset(out, 0, sizeof(*out));
	if (*budget == 0)
		return;
	--*budget;
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		out->type = PV_BOOL;
		out->b = lua_toboolean(L, idx);
		return;
	case LUA_TNUMBER:
		out->type = PV_NUM;
		out->num = lua_tonumber(L, idx);
		return;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		out->type = PV_STR;
		out->str = xstrdup(s);
		out->len = len;
		return;
	case LUA_TTABLE:
		break;
	default:
		return;
	}
	if (depth > META_MAXDEPTH || !lua_checkstack(L, 4))
		return;
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		n++;
		lua_pop(L, 1);
	}
	len = lua_rawlen(L, idx);
	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	if (n > 0 && len == n) {
		out->type = PV_ARR;
		out->n = n;
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i + 1);
			to_pval_b(L, -1, &out->items[i], depth + 1, budget);
			lua_pop(L, 1);
		}
		return;
	}
	out->type = PV_MAP;
	out->keys = xcalloc(n ? n : 1, sizeof(char *));
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) == LUA_TSTRING && out->n < n) {
			out->keys[out->n] = xstrdup(lua_tostring(L, -2));
			to_pval_b(L, -1, &out->items[out->n], depth + 1, budget);
			out->n++;
		}
		lua_pop(L, 1);
	}
}

static void to_pval(lua_State *L, int idx, struct policy_val *out, int depth)
{
	size_t budget = PVAL_BUDGET;

	to_pval_b(L, idx, out, depth, &budget);
}

/* The policy table of the registry the running process sees now. */
static const struct policy_table *cur_table(lua_State *L)
{
	return policy_table_of(live_registry(proc_of(L)->rt));
}

/* {==== Policy ====} */

/* A Policy userdata: the compiled policy (alive until exit, as its
** table), its id in user value 1. */
struct lpolicy {
	const struct policy *p;
};

static void policy_meta(lua_State *L);

static void push_policy(lua_State *L, const struct policy *p)
{
	struct lpolicy *lp = lua_newuserdatauv(L, sizeof(*lp), 1);
	lp->p = p;
	lua_pushstring(L, policy_id(p));
	lua_setiuservalue(L, -2, 1);
	policy_meta(L);
	lua_setmetatable(L, -2);
}

static const struct policy *check_policy(lua_State *L, int idx)
{
	struct lpolicy *lp;

	luaL_checktype(L, idx, LUA_TUSERDATA);
	lp = luaL_testudata(L, idx, SECURITY_POLICY_META);
	if (lp == NULL)
		luaL_argerror(L, idx, "Policy expected");
	return lp->p;
}

/* The request arguments at a (actor), a+1 (action), a+2 (resource), a+3
** (meta?) of an evaluate call, checked; then the engine's view of the
** actor, with its meta and the call meta converted into *am / *cm (owned:
** clear both). [-0, +0, v] */
static void eval_args(lua_State *L, int a, struct policy_actor *actor,
		      struct policy_val *am, struct policy_val *cm)
{
	check_actor(L, a);
	luaL_checkstring(L, a + 1);
	luaL_checkstring(L, a + 2);
	if (!lua_isnoneornil(L, a + 3))
		luaL_checktype(L, a + 3, LUA_TTABLE);
	lua_getiuservalue(L, a, AV_ID);
	actor->id = lua_tostring(L, -1);   /* the userdata keeps it alive */
	lua_pop(L, 1);
	lua_getiuservalue(L, a, AV_META);
	to_pval(L, -1, am, 1);
	lua_pop(L, 1);
	actor->meta = am;
	to_pval(L, a + 3, cm, 1);
}

/* policy:id() -> "ns:name" */
static int p_id(lua_State *L)
{
	check_policy(L, 1);
	lua_getiuservalue(L, 1, 1);
	return 1;
}

/* policy:evaluate(actor, action, resource, meta?) -> "allow" | "deny" |
** "undefined" */
static int p_evaluate(lua_State *L)
{
	const struct policy *p = check_policy(L, 1);
	struct policy_actor actor;
	struct policy_val am, cm;
	enum policy_result r;

	eval_args(L, 2, &actor, &am, &cm);
	r = policy_eval(p, &actor, lua_tostring(L, 3), lua_tostring(L, 4),
			cm.type == PV_MAP ? &cm : NULL);
	policy_val_clear(&am);
	policy_val_clear(&cm);
	lua_pushstring(L, policy_result_name(r));
	return 1;
}

static const luaL_Reg policy_methods[] = {
	{"id", p_id},
	{"evaluate", p_evaluate},
	{NULL, NULL}
};

static void policy_meta(lua_State *L)
{
	if (luaL_newmetatable(L, SECURITY_POLICY_META)) {
		lazylib_methods(L, policy_methods);
		lua_setfield(L, -2, "__index");
	}
}

/* {==== Scope ====} */

/* Push a new Scope over the array of policy ids on top (which it takes).
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

/* Push the policy id a reference at idx names, as the original's
** contains/without take it: an id string, an {ns=, name=} table or a
** Policy. Raises on anything else. [-0, +1, v] */
static void push_policy_ref(lua_State *L, int idx)
{
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		lua_pushvalue(L, idx);
		return;
	case LUA_TUSERDATA:
		if (luaL_testudata(L, idx, SECURITY_POLICY_META) == NULL)
			luaL_argerror(L, idx, "Policy or policy ID string expected");
		lua_getiuservalue(L, idx, 1);
		return;
	case LUA_TTABLE: {
		int ns = lua_getfield(L, idx, "ns"), name = lua_getfield(L, idx, "name");
		if (ns == LUA_TNIL || name == LUA_TNIL)
			luaL_argerror(L, idx, "ID table must have ns and name fields");
		lua_pushfstring(L, "%s:%s", lua_tostring(L, -2), lua_tostring(L, -1));
		lua_replace(L, -3);
		lua_pop(L, 1);
		return;
	}
	default:
		luaL_argerror(L, idx, "Policy ID expected as string, table, or policy object");
	}
}

/* Index (1-based) of id in the id array at idx, or 0. */
static lua_Integer find_id(lua_State *L, int idx, const char *id)
{
	lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);

	for (i = 1; i <= n; i++) {
		int same;
		lua_rawgeti(L, idx, i);
		same = strcmp(lua_tostring(L, -1), id) == 0;
		lua_pop(L, 1);
		if (same)
			return i;
	}
	return 0;
}

/* scope:policies() -> array of Policy objects (the ids the current
** registry still has). [-0, +1, m] */
static int s_policies(lua_State *L)
{
	const struct policy_table *t;
	lua_Integer i, n, k = 0;

	check_scope(L, 1);
	t = cur_table(L);
	lua_getiuservalue(L, 1, SV_POLICIES);
	n = (lua_Integer)lua_rawlen(L, -1);
	lua_createtable(L, (int)n, 0);
	for (i = 1; i <= n; i++) {
		const struct policy *p;
		lua_rawgeti(L, -2, i);
		p = policy_find(t, lua_tostring(L, -1));
		lua_pop(L, 1);
		if (p != NULL) {
			push_policy(L, p);
			lua_rawseti(L, -2, ++k);
		}
	}
	return 1;
}

/* scope:contains(policy_or_id) -> boolean */
static int s_contains(lua_State *L)
{
	check_scope(L, 1);
	push_policy_ref(L, 2);
	lua_getiuservalue(L, 1, SV_POLICIES);
	lua_pushboolean(L, find_id(L, -1, lua_tostring(L, -2)) != 0);
	return 1;
}

/* Push a copy of the scope at 1's id array. [-0, +1, m] */
static void copy_ids(lua_State *L)
{
	lua_getiuservalue(L, 1, SV_POLICIES);
	copy_tree(L, -1);
	lua_remove(L, -2);
}

/* scope:with(policy) -> a new Scope with it (once). [-0, +1, v] */
static int s_with(lua_State *L)
{
	check_scope(L, 1);
	check_policy(L, 2);
	copy_ids(L);
	lua_getiuservalue(L, 2, 1);
	if (find_id(L, -2, lua_tostring(L, -1)) == 0)
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	else
		lua_pop(L, 1);
	push_scope(L);
	return 1;
}

/* scope:without(policy_or_id) -> a new Scope without it. [-0, +1, v] */
static int s_without(lua_State *L)
{
	lua_Integer i, n, k = 0;
	const char *id;

	check_scope(L, 1);
	push_policy_ref(L, 2);
	id = lua_tostring(L, -1);
	lua_getiuservalue(L, 1, SV_POLICIES);
	n = (lua_Integer)lua_rawlen(L, -1);
	lua_createtable(L, (int)n, 0);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, i);
		if (strcmp(lua_tostring(L, -1), id) == 0)
			lua_pop(L, 1);
		else
			lua_rawseti(L, -2, ++k);
	}
	push_scope(L);
	return 1;
}

/* Resolve the id array at idx against t into ps (n slots; the rest of
** the ids are ignored past it). Returns how many were filled. */
static size_t resolve(lua_State *L, int idx, const struct policy_table *t,
		      const struct policy **ps, size_t n)
{
	size_t i, len = lua_rawlen(L, idx), k = 0;

	for (i = 1; i <= len && k < n; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i);
		ps[k] = policy_find(t, lua_tostring(L, -1));
		k += ps[k] != NULL;
		lua_pop(L, 1);
	}
	return k;
}

/* scope:evaluate(actor, action, resource, meta?) -> "allow" | "deny" |
** "undefined": any deny wins, else any allow. [-0, +1, v] */
static int s_evaluate(lua_State *L)
{
	struct policy_actor actor;
	struct policy_val am, cm;
	enum policy_result r;
	const struct policy **ps;
	size_t n;

	check_scope(L, 1);
	lua_settop(L, 5);
	eval_args(L, 2, &actor, &am, &cm);
	lua_getiuservalue(L, 1, SV_POLICIES);
	n = lua_rawlen(L, -1);
	ps = xcalloc(n ? n : 1, sizeof(*ps));
	n = resolve(L, -1, cur_table(L), ps, n);
	r = policy_eval_set(ps, n, &actor, lua_tostring(L, 3), lua_tostring(L, 4),
			    cm.type == PV_MAP ? &cm : NULL);
	free(ps);
	policy_val_clear(&am);
	policy_val_clear(&cm);
	lua_pushstring(L, policy_result_name(r));
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

void security_push_pair(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	actor_from(L, idx);
	scope_from(L, idx);
}

void security_push_normalised(lua_State *L, int idx)
{
	normalise(L, idx, 1);
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

/* {==== Checks: the original's IsAllowed ====} */

/*
** The running process's context compiled for the engine, a userdata
** anchored in its Lua registry and pointed to by p->sec_cache, so that a
** check after the first allocates nothing and looks nothing up. The
** compiled context itself (the actor's id and meta as a policy_val, the
** scope's policies resolved against the registry version) is shared by
** every process with the same encoded context (runtime/polctx.h): a
** fresh process finds it by one hash lookup of its bytes, and only the
** first of them decodes and resolves. Rebuilt when the version or
** p->sec_gen changes. The check sites name their actions with string
** literals, so `memo` keeps, per literal (by address), the context's
** list of the policies that have that action: a check then runs only
** the policies that can answer it, without matching their actions again.
**
** A memo also remembers answers. With the actor and the policies fixed,
** and meta either none or the caller's pid (fixed for the process too),
** the same resource gets the same answer: `last` keeps the last one by
** resource text, and `pids` the local processes an operation on which was
** allowed, by pid. Local pids are never reused (runtime/proc.c counts them
** up from 1), so a pid stands for its pid string, and a send to a peer
** already allowed costs one load and compare. `pids` is direct-mapped:
** OWN_PIDS slots inside the memo, and when an allowed target would evict
** another, a heap table twice the size, up to OWN_PIDS_MAX, so that a
** process that talks to a few hundred peers still asks each only once
** (growth allocates, but only on the path that has just evaluated). Pids
** handed out together are consecutive, and pid ^ (pid >> 4) maps any
** aligned run of 2^k of them onto distinct slots of a 2^k table.
*/
#define OWN_MEMO 8
#define OWN_PIDS 16             /* a power of two */
#define OWN_PIDS_MAX 1024       /* likewise: 8 KiB per action at most */

struct own_memo {
	const char *action;         /* a check site's literal, or NULL */
	const struct policy *const *ps; /* the context's list for action */
	size_t n;
	int ps_owned;               /* ps is this memo's (polctx_acted) */
	char last[96];
	size_t last_len;            /* 0: none (resources are never empty here) */
	int last_ok, last_pid;
	uint64_t *pids;             /* allowed targets, direct-mapped; 0: none */
	uint64_t pids_mask;         /* slots - 1 */
	uint64_t pids_in[OWN_PIDS]; /* pids until a conflict grows it */
};

struct own {
	struct proc *p;             /* whose p->sec_cache points here */
	const struct registry *reg; /* the version it was built for */
	uint32_t gen;               /* p->sec_gen it was built from */
	uint32_t len;               /* p->sec.len then */
	const struct polctx *c;     /* the compiled context (runtime/polctx.h) */
	struct polctx *mine;        /* c when it could not be interned */
	int has_gc;                 /* own_gc is set: o holds heap memory */
	struct own_memo memo[OWN_MEMO];
	unsigned next_memo;
};

static const char own_key = 'o';

static void memo_free(struct own_memo *m)
{
	if (m->ps_owned)
		free((void *)m->ps);
	if (m->pids != m->pids_in)
		free(m->pids);
}

static void own_clear(struct own *o)
{
	struct proc *p = o->p;
	int has_gc = o->has_gc;

	for (int i = 0; i < OWN_MEMO; i++)
		memo_free(&o->memo[i]);
	polctx_free(o->mine);
	memset(o, 0, sizeof(*o));
	o->p = p;
	o->has_gc = has_gc;
}

static int own_gc(lua_State *L)
{
	struct own *o = lua_touserdata(L, 1);

	if (o->p != NULL && o->p->sec_cache == o)
		o->p->sec_cache = NULL;
	o->p = NULL;
	own_clear(o);
	return 0;
}

/* The own record starts without a finalizer: with a shared context and
** memos in place it holds no heap memory, and a process without a
** finalizer ends without lua_close (proc_note_finalizer). Called before
** o first takes heap memory of its own. [-0, +0, m] */
static void own_hold(lua_State *L, struct own *o)
{
	if (o->has_gc)
		return;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &own_key);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, own_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);
	proc_note_finalizer(L);   /* own_gc must run when the state goes */
	o->has_gc = 1;
}

/* Compile the context table on top of L against t. [-0, +0, m] */
static struct polctx *ctx_compile(lua_State *L, const struct policy_table *t)
{
	struct polctx *c = xcalloc(1, sizeof(*c));
	int top = lua_gettop(L);

	if (lua_getfield(L, top, "actor") == LUA_TTABLE) {
		c->has_actor = 1;
		lua_getfield(L, -1, "id");
		c->actor_id = xstrdup(lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
		lua_pop(L, 1);
		lua_getfield(L, -1, "meta");
		to_pval(L, -1, &c->meta, 1);
		lua_pop(L, 1);
	}
	lua_settop(L, top);
	if (lua_getfield(L, top, "scope") == LUA_TTABLE) {
		c->has_scope = 1;
		if (lua_getfield(L, -1, "policies") == LUA_TTABLE) {
			size_t n = lua_rawlen(L, -1);
			c->ps = xcalloc(n ? n : 1, sizeof(*c->ps));
			c->n = resolve(L, -1, t, c->ps, n);
		}
	}
	lua_settop(L, top);
	return c;
}

/* The compiled form of the encoded context sec against t: the interned
** one, compiled and interned first if nobody had these bytes yet. Past
** the cap it is the caller's, also left in *mine to free; a context that
** does not decode is one with neither actor nor scope. [-0, +0, m] */
static const struct polctx *ctx_for(lua_State *L, const struct policy_table *t,
				    const struct payload *sec, struct polctx **mine)
{
	static const struct polctx none;
	const uint8_t *key = payload_data(sec);
	const struct polctx *r;
	struct polctx *c;
	int top = lua_gettop(L);

	*mine = NULL;
	if ((r = polctx_find(t, key, sec->len)) != NULL)
		return r;
	if (sec->len == 0 || payload_decode(L, sec) != 1 || !lua_istable(L, -1)) {
		lua_settop(L, top);
		return &none;
	}
	c = ctx_compile(L, t);
	lua_settop(L, top);
	if ((r = polctx_intern(t, key, sec->len, c)) == NULL)
		r = *mine = c;
	return r;
}

/* Fill o from the process's context. [-0, +0, m] */
static void own_build(lua_State *L, struct own *o, const struct registry *reg)
{
	struct proc *p = proc_of(L);

	own_clear(o);
	o->reg = reg;
	o->len = p->sec.len;
	o->gen = p->sec_gen;
	o->c = ctx_for(L, policy_table_of(reg), &p->sec, &o->mine);
	if (o->mine != NULL)
		own_hold(L, o);
}

/* The actor of a context that has one, for the engine. */
static struct policy_actor ctx_actor(const struct polctx *c)
{
	struct policy_actor a = {
		.id = c->actor_id,
		.meta = c->meta.type == PV_MAP ? &c->meta : NULL,
	};
	return a;
}

/* The process's compiled context, current. [-0, +0, m] */
static struct own *own_get(lua_State *L)
{
	struct proc *p = proc_of(L);
	const struct registry *reg = live_registry(p->rt);
	struct own *o = p->sec_cache;

	if (o == NULL) {
		o = lua_newuserdatauv(L, sizeof(*o), 0);
		memset(o, 0, sizeof(*o));
		lua_rawsetp(L, LUA_REGISTRYINDEX, &own_key);
		o->p = p;
		p->sec_cache = o;
		own_build(L, o, reg);
		return o;
	}
	/* Every writer of p->sec bumps sec_gen (proc_sec_changed): the
	** generation, not a compare of the encoded bytes, says it changed. */
	if (o->reg != reg || o->gen != p->sec_gen || o->len != p->sec.len)
		own_build(L, o, reg);
	return o;
}

/* The memo of the literal action: the scope's policies that have it,
** made on first use. */
static struct own_memo *memo_of(lua_State *L, struct own *o, const char *action)
{
	struct own_memo *m;
	int i;

	for (i = 0; i < OWN_MEMO; i++)
		if (o->memo[i].action == action)
			return &o->memo[i];
	m = &o->memo[o->next_memo++ % OWN_MEMO];
	memo_free(m);
	memset(m, 0, sizeof(*m));
	m->action = action;
	m->pids = m->pids_in;
	m->pids_mask = OWN_PIDS - 1;
	m->ps = polctx_acted(o->c, action, &m->n, &m->ps_owned);
	if (m->ps_owned)
		own_hold(L, o);
	return m;
}

static inline uint64_t pid_slot(uint64_t pid, uint64_t mask)
{
	return (pid ^ (pid >> 4)) & mask;
}

/* Remember that an operation on the local process `pid` is allowed; a
** slot held by another target grows the table first, while it may. On no
** memory the new answer just takes the slot. */
static void memo_remember(lua_State *L, struct own *o, struct own_memo *m,
			  uint64_t pid)
{
	uint64_t old = m->pids[pid_slot(pid, m->pids_mask)];

	if (old != 0 && old != pid && m->pids_mask + 1 < OWN_PIDS_MAX) {
		own_hold(L, o);
		uint64_t mask = m->pids_mask * 2 + 1;
		uint64_t *t = calloc(mask + 1, sizeof(*t));
		if (t != NULL) {
			for (uint64_t i = 0; i <= m->pids_mask; i++)
				if (m->pids[i] != 0)
					t[pid_slot(m->pids[i], mask)] = m->pids[i];
			if (m->pids != m->pids_in)
				free(m->pids);
			m->pids = t;
			m->pids_mask = mask;
		}
	}
	m->pids[pid_slot(pid, m->pids_mask)] = pid;
}

/* The check. literal: action is a C string literal (memoised), and
** meta is NULL or (pid) the caller's pid map, so the answer can be kept
** per resource; key: the local process whose pid string resource is, or
** 0, to remember an allowed answer under. */
static int allowed(lua_State *L, const char *action, const char *resource,
		   const struct policy_val *meta, int literal, int pid, uint64_t key)
{
	struct proc *p = proc_of(L);
	/* No context at all (the common case): neither actor nor scope, so
	** nothing to build or look up. It also keeps such a process free of
	** the own userdata's finalizer (see proc_note_finalizer). */
	if (p->sec.len == 0)
		return !p->rt->conf.security_strict;
	struct own *o = own_get(L);
	struct policy_actor a;

	if (o->c->has_actor && o->c->has_scope) {
		a = ctx_actor(o->c);
		if (literal) {
			struct own_memo *m = memo_of(L, o, action);
			size_t len = strlen(resource);
			int ok;

			if (m->last_len == len && m->last_pid == pid && len > 0 &&
			    memcmp(m->last, resource, len) == 0)
				return m->last_ok;
			ok = policy_eval_set_acted(m->ps, m->n, &a, action, resource, meta) ==
			     POLICY_ALLOW;
			if (len > 0 && len < sizeof(m->last)) {
				memcpy(m->last, resource, len);
				m->last_len = len;
				m->last_ok = ok;
				m->last_pid = pid;
			}
			if (ok && key != 0 && pid)
				memo_remember(L, o, m, key);
			return ok;
		}
		return policy_eval_set(o->c->ps, o->c->n, &a, action, resource, meta) ==
		       POLICY_ALLOW;
	}
	return !p->rt->conf.security_strict;
}

int security_proc_allowed(lua_State *L, const char *action, uint64_t to)
{
	struct proc *p = proc_of(L);
	struct own *o = p->sec_cache;

	if (p->sec.len == 0)
		return !p->rt->conf.security_strict;
	/* Only a current context's memo: anything else is a miss, and the
	** full check that follows rebuilds it. */
	if (o == NULL || o->gen != p->sec_gen || o->len != p->sec.len ||
	    o->reg != live_registry(p->rt) || to == 0)
		return 0;
	for (int i = 0; i < OWN_MEMO; i++)
		if (o->memo[i].action == action)
			return o->memo[i].pids[pid_slot(to, o->memo[i].pids_mask)] == to;
	return 0;
}

int security_active(lua_State *L)
{
	struct proc *p = proc_of(L);
	return p->sec.len != 0 || p->rt->conf.security_strict;
}

int security_denied(lua_State *L, const char *action, const char *resource)
{
	if (proc_of(L)->sec.len == 0)
		return 0;
	struct own *o = own_get(L);
	struct policy_actor a;
	const struct own_memo *m;

	if (!o->c->has_actor || !o->c->has_scope)
		return 0;
	a = ctx_actor(o->c);
	m = memo_of(L, o, action);
	return policy_eval_set_acted(m->ps, m->n, &a, action, resource, NULL) == POLICY_DENY;
}

struct remote_check {
	struct rt *rt;
	const struct payload *sec;
	const char *from, *to;
	int ok;
};

/* Protected part of security_remote_send: decode, resolve, evaluate. */
static int remote_check(lua_State *L)
{
	struct remote_check *rc = lua_touserdata(L, 1);
	struct polctx *mine;
	const struct polctx *c;

	rc->ok = !rc->rt->conf.security_strict;
	c = ctx_for(L, policy_table_of(live_registry(rc->rt)), rc->sec, &mine);
	if (c->has_actor && c->has_scope) {
		static const char *const keys[] = { "pid" };
		struct policy_val pid = { .type = PV_STR, .str = rc->from, .len = strlen(rc->from) };
		struct policy_val meta = { .type = PV_MAP, .n = 1, .items = &pid,
					   .keys = (const char **)keys };
		struct policy_actor a = ctx_actor(c);
		rc->ok = policy_eval_set(c->ps, c->n, &a, "process.send", rc->to, &meta) == POLICY_ALLOW;
	}
	polctx_free(mine);
	return 0;
}

int security_remote_send(struct rt *rt, lua_State *L, const struct payload *sec,
			 const char *from, const char *to)
{
	struct remote_check rc = { .rt = rt, .sec = sec, .from = from, .to = to, .ok = 0 };
	int top = lua_gettop(L);
	lua_pushcfunction(L, remote_check);
	lua_pushlightuserdata(L, &rc);
	/* A context that cannot be read (out of memory) is a denial. */
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		rc.ok = 0;
	lua_settop(L, top);
	return rc.ok;
}

int security_allowed_meta(lua_State *L, const char *action, const char *resource,
			  const struct policy_val *meta)
{
	return allowed(L, action, resource, meta, 0, 0, 0);
}

int security_allowed(lua_State *L, const char *action, const char *resource)
{
	return allowed(L, action, resource, NULL, 1, 0, 0);
}

/* The denial of a check site: nil and a PermissionDenied error. */
static int deny(lua_State *L, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return errors_ret(L, ERRORS_PERMISSION_DENIED, "%s", msg);
}

int security_check(lua_State *L, const char *action, const char *resource,
		   const char *fmt, ...)
{
	va_list ap;
	int r;

	if (security_allowed(L, action, resource))
		return 0;
	va_start(ap, fmt);
	r = deny(L, fmt, ap);
	va_end(ap);
	return r;
}

int security_require(lua_State *L, const char *action, const char *resource,
		     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (security_allowed(L, action, resource))
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errors_push(L, ERRORS_PERMISSION_DENIED, "%s", msg);
	return lua_error(L);
}

int security_firewall(lua_State *L, const char *action, const char *resource)
{
	struct policy_actor a;
	struct own *o;

	if (proc_of(L)->sec.len == 0)
		return HTTPD_FW_NO_ACTOR;
	o = own_get(L);
	if (!o->c->has_actor || o->c->actor_id == NULL || o->c->actor_id[0] == '\0')
		return HTTPD_FW_NO_ACTOR;
	if (!o->c->has_scope)
		return HTTPD_FW_NO_SCOPE;
	a = ctx_actor(o->c);
	return policy_eval_set(o->c->ps, o->c->n, &a, action, resource, NULL) == POLICY_ALLOW ?
	       HTTPD_FW_ALLOW : HTTPD_FW_DENY;
}

/* security_check_pid and security_check_proc: key as for allowed. */
static int check_pid(lua_State *L, const char *action, const char *resource,
		     uint64_t key, const char *fmt, va_list ap)
{
	struct proc *p = proc_of(L);
	static const char *const keys[] = { "pid" };
	struct policy_val pid = { .type = PV_STR, .str = p->pidstr, .len = p->pidlen };
	struct policy_val meta = { .type = PV_MAP, .n = 1, .items = &pid,
				   .keys = (const char **)keys };

	if (allowed(L, action, resource, &meta, 1, 1, key))
		return 0;
	return deny(L, fmt, ap);
}

int security_check_pid(lua_State *L, const char *action, const char *resource,
		       const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = check_pid(L, action, resource, 0, fmt, ap);
	va_end(ap);
	return r;
}

int security_check_proc(lua_State *L, const char *action, uint64_t to,
			const char *resource, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = check_pid(L, action, resource, to, fmt, ap);
	va_end(ap);
	return r;
}

/* {==== Module functions ====} */

/* security.new_actor(id, meta?) -> Actor. id: a string (numbers are
** converted, as everywhere in Lua's API); meta: a table or nil. Needs
** security.actor.create on the id, else raises as the original.
** [-0, +1, e] */
static int m_new_actor(lua_State *L)
{
	luaL_checkstring(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	if (!security_allowed(L, "security.actor.create", lua_tostring(L, 1))) {
		errors_push(L, ERRORS_PERMISSION_DENIED, "not allowed to create actor with ID: %s",
			    lua_tostring(L, 1));
		return lua_error(L);
	}
	lua_pushstring(L, lua_tostring(L, 1));   /* a number becomes its string */
	if (lua_istable(L, 2))
		normalise(L, 2, 1);
	else
		lua_newtable(L);
	push_actor(L);
	return 1;
}

/* security.new_scope(policies?) -> Scope with the Policy objects of the
** array (other values are skipped, as the original does). Needs
** security.scope.create on "custom", else raises. [-0, +1, e] */
static int m_new_scope(lua_State *L)
{
	lua_Integer i, n, k = 0;

	if (lua_gettop(L) >= 1)
		luaL_checktype(L, 1, LUA_TTABLE);
	if (!security_allowed(L, "security.scope.create", "custom")) {
		errors_push(L, ERRORS_PERMISSION_DENIED, "not allowed to create custom scopes");
		return lua_error(L);
	}
	lua_newtable(L);
	n = lua_istable(L, 1) ? (lua_Integer)lua_rawlen(L, 1) : 0;
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 1, i);
		if (luaL_testudata(L, -1, SECURITY_POLICY_META)) {
			lua_getiuservalue(L, -1, 1);
			if (find_id(L, -3, lua_tostring(L, -1)) == 0)
				lua_rawseti(L, -3, ++k);
			else
				lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
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

/* security.can(action, resource, meta?) -> boolean: whether the running
** process may (its actor and scope, or the strict-mode default when it
** lacks either). [-0, +1, v] */
static int m_can(lua_State *L)
{
	struct policy_val cm;
	int ok;

	luaL_checkstring(L, 1);
	luaL_checkstring(L, 2);
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	to_pval(L, 3, &cm, 1);
	ok = security_allowed_meta(L, lua_tostring(L, 1), lua_tostring(L, 2),
				   cm.type == PV_MAP ? &cm : NULL);
	policy_val_clear(&cm);
	lua_pushboolean(L, ok);
	return 1;
}

/* security.policy(id) -> Policy | nil, err: a security.policy entry.
** Needs security.policy.get on the id. [-0, +(1|2), v] */
static int m_policy(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	const struct policy *p;

	if (!security_allowed(L, "security.policy.get", id))
		return errors_ret(L, ERRORS_PERMISSION_DENIED, "not allowed to access policy: %s", id);
	p = policy_find(cur_table(L), id);
	if (p == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "policy not found: %s", id);
	push_policy(L, p);
	return 1;
}

/* security.named_scope(group) -> Scope | nil, err: the policies whose
** `groups` name the group. Needs security.policy_group.get on it.
** [-0, +(1|2), v] */
static int m_named_scope(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	const struct policy *const *ps;
	size_t n;

	if (!security_allowed(L, "security.policy_group.get", id))
		return errors_ret(L, ERRORS_PERMISSION_DENIED,
				  "not allowed to access policy group: %s", id);
	ps = policy_group(cur_table(L), id, &n);
	if (ps == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "policy group not found: %s", id);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, policy_id(ps[i]));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	push_scope(L);
	return 1;
}

static const luaL_Reg funcs[] = {
	{"new_actor", m_new_actor},
	{"new_scope", m_new_scope},
	{"actor", m_actor},
	{"scope", m_scope},
	{"can", m_can},
	{"policy", m_policy},
	{"named_scope", m_named_scope},
	{"token_store", security_token_store},
	{NULL, NULL}
};

int luaopen_security(lua_State *L)
{
	lazylib_new(L, funcs);
	return 1;
}
