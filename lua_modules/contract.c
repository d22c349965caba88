/*
** lua_modules/contract.c: require("contract"), interfaces (the
** original's runtime/lua/modules/contract) over contract.definition and
** contract.binding entries (runtime/reg_kinds.c checks them at load).
**
**   contract.get(id) -> Contract | nil, err
**   contract.open(binding_id[?k=v&...], values?, options?) -> Instance | nil, err
**   contract.find_implementations(id) -> {binding ids} | nil, err
**   contract.is(instance, contract_id) -> boolean
**   Contract:id() :methods() :method(name) :implementations()
**            :open(binding_id?, values?) :with_context(t) :with_actor(a)
**            :with_scope(s) :with_options(t)
**   Instance:<method>(...) -> value, nil | nil, err   (through funcs)
**   Instance:<method>_async(...) -> Future
**
** An Instance is the binding it was opened on, plus the values its
** methods' functions see through ctx (query arguments of the binding id,
** below the Contract's with_context values, below the values table given
** to open), plus the actor and scope of the Contract it came from. Its
** methods are those of the contracts the binding implements; each call
** runs the function the binding maps the method to with the call's
** arguments, through funcs_invoke. A method a contract defines but the
** binding does not map fails with NOT_FOUND when called.
**
** Entries are looked up in the registry version current at each call;
** the objects hold entry pointers, which stay valid for the runtime's
** life (runtime/live.h).
*/
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "funcs.h"
#include "lazylib.h"
#include "modules.h"
#include "security.h"
#include "runtime/errors.h"
#include "runtime/live.h"
#include "runtime/proc.h"
#include "runtime/reg_lua.h"
#include "runtime/registry.h"

#define CONTRACT_META "contract.Contract"
#define INSTANCE_META "contract.Instance"

/* User values of both objects. */
enum { UV_VALUES = 1, UV_ACTOR, UV_SCOPE, UV_OPTIONS, UV_N = UV_OPTIONS };

struct wrapper {
	const struct reg_entry *def;      /* a contract.definition */
	uint8_t has_actor, has_scope, has_options;
};

struct instance {
	const struct reg_entry *binding;  /* a contract.binding */
	uint8_t has_actor, has_scope, has_options;
};

static struct registry *current(lua_State *L)
{
	return live_registry(proc_of(L)->rt);
}

/* {==== Lookups ====} */

/* The entry id of kind k, or pushes nil, err and returns NULL. */
static const struct reg_entry *find_kind(lua_State *L, const char *id, enum reg_kind k,
					 const char *what)
{
	const struct reg_entry *e = reg_find(current(L), id);
	if (e == NULL) {
		errors_ret(L, ERRORS_NOT_FOUND, "%s not found: %s", what, id);
		return NULL;
	}
	if (e->k != k) {
		errors_ret(L, ERRORS_INVALID, "entry %s is not a %s (kind %s)", id,
			   k == REG_K_CONTRACT_BINDING ? "contract.binding" :
			   "contract.definition", e->kind);
		return NULL;
	}
	return e;
}

/* Push the ids of the bindings implementing contract id, file order. */
static void push_implementations(lua_State *L, const char *id)
{
	struct registry *reg = current(L);
	const struct reg_entry *e = NULL;
	int n = 0;
	lua_newtable(L);
	while ((e = reg_next_kind(reg, "contract.binding", e)) != NULL)
		for (size_t i = 0; i < e->u.binding.ncontracts; i++)
			if (!strcmp(e->u.binding.contracts[i].contract, id)) {
				lua_pushstring(L, e->id);
				lua_rawseti(L, -2, ++n);
				break;
			}
}

/* The default binding of contract id, or NULL. */
static const struct reg_entry *default_binding(lua_State *L, const char *id)
{
	struct registry *reg = current(L);
	const struct reg_entry *e = NULL;
	while ((e = reg_next_kind(reg, "contract.binding", e)) != NULL)
		for (size_t i = 0; i < e->u.binding.ncontracts; i++)
			if (e->u.binding.contracts[i].is_default &&
			    !strcmp(e->u.binding.contracts[i].contract, id))
				return e;
	return NULL;
}

/* Does the contract.definition with that id define method name? */
static const struct reg_contract_method *def_method(lua_State *L, const char *id,
						    const char *name)
{
	const struct reg_entry *d = reg_find(current(L), id);
	if (d == NULL || d->k != REG_K_CONTRACT_DEFINITION)
		return NULL;
	for (size_t i = 0; i < d->u.contract.nmethods; i++)
		if (!strcmp(d->u.contract.methods[i].name, name))
			return &d->u.contract.methods[i];
	return NULL;
}

/* }==== */

/* {==== Values ====} */

/* Decode one %-escaped query component s[0..len) into a pushed string
** ('+' is a space), or return 0 for a bad escape. [-0, +(0|1), m] */
static int push_unescaped(lua_State *L, const char *s, size_t len)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			char hex[3] = {0};
			char *end;
			if (i + 2 >= len)
				return (luaL_pushresult(&b), lua_pop(L, 1), 0);
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			c = (char)strtol(hex, &end, 16);
			if (end != hex + 2)
				return (luaL_pushresult(&b), lua_pop(L, 1), 0);
			i += 2;
		}
		luaL_addchar(&b, c);
	}
	luaL_pushresult(&b);
	return 1;
}

/* The query value at top, typed as the original does: true, false, an
** integer, a number, else the string. [-1, +1, m] */
static void type_value(lua_State *L)
{
	const char *s = lua_tostring(L, -1);
	if (!strcmp(s, "true") || !strcmp(s, "false")) {
		int b = s[0] == 't';
		lua_pop(L, 1);
		lua_pushboolean(L, b);
	} else if (lua_stringtonumber(L, s) != 0) {
		lua_remove(L, -2);
	}
}

/*
** Split "ns:name?k=v&..." at top into the id (pushed) and a table of the
** query's values (pushed after it; the first value of a repeated key
** wins). Returns 0, or pushes nil, err instead and returns -1.
*/
static int parse_binding_id(lua_State *L, int idx)
{
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	const char *q = memchr(s, '?', len);
	int t;
	lua_pushlstring(L, s, q ? (size_t)(q - s) : len);
	lua_newtable(L);
	t = lua_gettop(L);
	if (q == NULL)
		return 0;
	for (const char *p = q + 1, *end = s + len; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (stop > p) {
			if (!push_unescaped(L, p, (size_t)((eq ? eq : stop) - p)) ||
			    !(eq ? push_unescaped(L, eq + 1, (size_t)(stop - eq - 1))
				 : (lua_pushliteral(L, ""), 1))) {
				lua_settop(L, t - 2);
				errors_ret(L, ERRORS_INVALID, "parse binding ID failed: "
					   "bad escape in %s", s);
				return -1;
			}
			type_value(L);
			if (lua_getfield(L, t, lua_tostring(L, -2)) == LUA_TNIL) {
				lua_pop(L, 1);
				lua_rawset(L, t);
			} else {
				lua_pop(L, 3);
			}
		}
		p = stop + 1;
	}
	return 0;
}

/* Copy the string keys of the table at from into the table at to. */
static void merge_into(lua_State *L, int to, int from)
{
	to = lua_absindex(L, to);
	from = lua_absindex(L, from);
	lua_pushnil(L);
	while (lua_next(L, from)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, to);
	}
}

/* }==== */

/* {==== Instances ====} */

/*
** Push a new Instance of binding b: values = the table at vals (taken),
** actor, scope and options from the Contract at wi (0: none). Checks
** context_required. Returns 1, or pushes nil, err and returns 2.
*/
static int push_instance(lua_State *L, const struct reg_entry *b, int vals, int wi)
{
	struct instance *in;
	vals = lua_absindex(L, vals);
	for (size_t i = 0; i < b->u.binding.ncontracts; i++) {
		const struct reg_bound_contract *bc = &b->u.binding.contracts[i];
		for (size_t j = 0; j < bc->ncontext_required; j++) {
			int absent = lua_getfield(L, vals, bc->context_required[j]) == LUA_TNIL;
			lua_pop(L, 1);
			if (absent)
				return errors_ret(L, ERRORS_INVALID, "binding %s requires context "
						  "value \"%s\"", b->id, bc->context_required[j]);
		}
	}
	in = lua_newuserdatauv(L, sizeof(*in), UV_N);
	memset(in, 0, sizeof(*in));
	in->binding = b;
	if (wi) {
		struct wrapper *w = lua_touserdata(L, wi);
		in->has_actor = w->has_actor;
		in->has_scope = w->has_scope;
		in->has_options = w->has_options;
		for (int u = UV_ACTOR; u <= UV_N; u++) {
			lua_getiuservalue(L, wi, u);
			lua_setiuservalue(L, -2, u);
		}
	}
	lua_pushvalue(L, vals);
	lua_setiuservalue(L, -2, UV_VALUES);
	luaL_setmetatable(L, INSTANCE_META);
	lua_pushnil(L);
	return 2;
}

/* instance:<method>(...): upvalue 1 the method name, 2 async. */
static int call_method(lua_State *L)
{
	struct instance *in = luaL_checkudata(L, 1, INSTANCE_META);
	const char *name = lua_tostring(L, lua_upvalueindex(1));
	int async = lua_toboolean(L, lua_upvalueindex(2));
	int top = lua_gettop(L), vals, ai, si;
	const char *func = NULL;

	for (size_t i = 0; i < in->binding->u.binding.ncontracts && !func; i++) {
		const struct reg_bound_contract *bc = &in->binding->u.binding.contracts[i];
		for (size_t j = 0; j < bc->nmethods; j++)
			if (!strcmp(bc->methods[j].name, name)) {
				func = bc->methods[j].func;
				break;
			}
	}
	if (func == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "method %s is not implemented by "
				  "binding %s", name, in->binding->id);
	lua_getiuservalue(L, 1, UV_VALUES);
	vals = lua_gettop(L);
	lua_getiuservalue(L, 1, UV_ACTOR);
	ai = in->has_actor ? lua_gettop(L) : 0;
	lua_getiuservalue(L, 1, UV_SCOPE);
	si = in->has_scope ? lua_gettop(L) : 0;
	return funcs_invoke(L, func, 2, top - 1, vals, ai, si, async);
}

/* instance.<key>: a method of a contract the binding implements (with
** "_async" for its async form), else nil. [-0, +1, m] */
static int instance_index(lua_State *L)
{
	struct instance *in = luaL_checkudata(L, 1, INSTANCE_META);
	size_t len;
	const char *key = luaL_checklstring(L, 2, &len);
	int async = len > 6 && !strcmp(key + len - 6, "_async");

	lua_pushlstring(L, key, async ? len - 6 : len);
	for (size_t i = 0; i < in->binding->u.binding.ncontracts; i++)
		if (def_method(L, in->binding->u.binding.contracts[i].contract,
			       lua_tostring(L, -1))) {
			lua_pushboolean(L, async);
			lua_pushcclosure(L, call_method, 2);
			return 1;
		}
	lua_pushnil(L);
	return 1;
}

static int instance_tostring(lua_State *L)
{
	struct instance *in = luaL_checkudata(L, 1, INSTANCE_META);
	lua_pushfstring(L, "contract.Instance: %s", in->binding->id);
	return 1;
}

/* }==== */

/* {==== Module functions ====} */

/* contract.get(id) -> Contract, nil | nil, err [-0, +2, m] */
static int m_get(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	const struct reg_entry *d = find_kind(L, id, REG_K_CONTRACT_DEFINITION, "contract");
	struct wrapper *w;
	if (d == NULL)
		return 2;
	w = lua_newuserdatauv(L, sizeof(*w), UV_N);
	memset(w, 0, sizeof(*w));
	w->def = d;
	luaL_setmetatable(L, CONTRACT_META);
	lua_pushnil(L);
	return 2;
}

/* contract.open(binding_id, values?, options?) [-0, +2, m] */
static int m_open(lua_State *L)
{
	const struct reg_entry *b;
	int t;
	lua_settop(L, 3);
	if (!lua_isnil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	if (parse_binding_id(L, 1) < 0)
		return 2;
	t = lua_gettop(L);                       /* 4: id, 5: query values */
	if ((b = find_kind(L, lua_tostring(L, t - 1), REG_K_CONTRACT_BINDING, "binding")) == NULL)
		return 2;
	if (lua_istable(L, 2))
		merge_into(L, t, 2);
	return push_instance(L, b, t, 0);
}

/* contract.find_implementations(id) -> {ids}, nil | nil, err [-0, +2, m] */
static int m_find_implementations(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	if (find_kind(L, id, REG_K_CONTRACT_DEFINITION, "contract") == NULL)
		return 2;
	push_implementations(L, id);
	lua_pushnil(L);
	return 2;
}

/* contract.is(instance, id) -> boolean: raises unless instance is a
** userdata; false for any that is not an Instance. [-0, +1, m] */
static int m_is(lua_State *L)
{
	struct instance *in;
	const char *id;
	luaL_checktype(L, 1, LUA_TUSERDATA);
	id = luaL_checkstring(L, 2);
	in = luaL_testudata(L, 1, INSTANCE_META);
	lua_pushboolean(L, 0);
	for (size_t i = 0; in && i < in->binding->u.binding.ncontracts; i++)
		if (!strcmp(in->binding->u.binding.contracts[i].contract, id)) {
			lua_pushboolean(L, 1);
			break;
		}
	return 1;
}

/* }==== */

/* {==== Contract methods ====} */

static struct wrapper *check_wrapper(lua_State *L)
{
	return luaL_checkudata(L, 1, CONTRACT_META);
}

static int c_id(lua_State *L)
{
	lua_pushstring(L, check_wrapper(L)->def->id);
	return 1;
}

/* Push one method's table: name, description, the schemas when any. */
static void push_method(lua_State *L, const struct reg_contract_method *m)
{
	const struct reg_value *sch[2] = { m->input_schemas, m->output_schemas };
	static const char *const key[2] = { "input_schemas", "output_schemas" };
	lua_createtable(L, 0, 4);
	lua_pushstring(L, m->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, m->description);
	lua_setfield(L, -2, "description");
	for (int k = 0; k < 2; k++) {
		if (sch[k] == NULL || sch[k]->n == 0)
			continue;
		lua_createtable(L, (int)sch[k]->n, 0);
		for (size_t i = 0; i < sch[k]->n; i++) {
			lua_createtable(L, 0, 2);
			lua_pushstring(L, reg_value_text(sch[k]->items[i], "format"));
			lua_setfield(L, -2, "format");
			reg_value_push(L, reg_value_get(sch[k]->items[i], "definition"));
			lua_setfield(L, -2, "definition");
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, key[k]);
	}
}

static int c_methods(lua_State *L)
{
	const struct reg_contract_def *d = &check_wrapper(L)->def->u.contract;
	lua_createtable(L, (int)d->nmethods, 0);
	for (size_t i = 0; i < d->nmethods; i++) {
		push_method(L, &d->methods[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int c_method(lua_State *L)
{
	struct wrapper *w = check_wrapper(L);
	const char *name = luaL_checkstring(L, 2);
	const struct reg_contract_def *d = &w->def->u.contract;
	for (size_t i = 0; i < d->nmethods; i++)
		if (!strcmp(d->methods[i].name, name)) {
			push_method(L, &d->methods[i]);
			lua_pushnil(L);
			return 2;
		}
	return errors_ret(L, ERRORS_NOT_FOUND, "method %s not found in contract %s",
			  name, w->def->id);
}

static int c_implementations(lua_State *L)
{
	push_implementations(L, check_wrapper(L)->def->id);
	lua_pushnil(L);
	return 2;
}

/* contract:open(binding_id?, values?): the default binding when the id is
** nil; values: query arguments < with_context values < the table.
** [-0, +2, m] */
static int c_open(lua_State *L)
{
	struct wrapper *w = check_wrapper(L);
	const struct reg_entry *b;
	int t;
	lua_settop(L, 3);
	if (!lua_isnil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	if (lua_isnil(L, 2)) {
		if ((b = default_binding(L, w->def->id)) == NULL)
			return errors_ret(L, ERRORS_NOT_FOUND, "no default binding for "
					  "contract %s", w->def->id);
		lua_pushstring(L, b->id);
		lua_newtable(L);
		t = lua_gettop(L);
	} else {
		if (parse_binding_id(L, 2) < 0)
			return 2;
		t = lua_gettop(L);
		if ((b = find_kind(L, lua_tostring(L, t - 1), REG_K_CONTRACT_BINDING,
				   "binding")) == NULL)
			return 2;
	}
	lua_getiuservalue(L, 1, UV_VALUES);
	if (lua_istable(L, -1))
		merge_into(L, t, -1);
	lua_pop(L, 1);
	if (lua_istable(L, 3))
		merge_into(L, t, 3);
	return push_instance(L, b, t, 1);
}

/* Push a copy of the Contract at 1. */
static struct wrapper *copy_wrapper(lua_State *L)
{
	struct wrapper *w = lua_newuserdatauv(L, sizeof(*w), UV_N);
	*w = *(struct wrapper *)lua_touserdata(L, 1);
	for (int u = 1; u <= UV_N; u++) {
		lua_getiuservalue(L, 1, u);
		lua_setiuservalue(L, -2, u);
	}
	luaL_setmetatable(L, CONTRACT_META);
	return w;
}

static int c_with_context(lua_State *L)
{
	check_wrapper(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_newtable(L);
	lua_getiuservalue(L, 1, UV_VALUES);
	if (lua_istable(L, -1))
		merge_into(L, 3, -1);
	lua_pop(L, 1);
	merge_into(L, 3, 2);
	copy_wrapper(L);
	lua_insert(L, -2);
	lua_setiuservalue(L, -2, UV_VALUES);
	return 1;
}

static int with_sec(lua_State *L, int uv, int (*is)(lua_State *, int),
		    const char *nilmsg, const char *want)
{
	struct wrapper *w;
	check_wrapper(L);
	if (lua_isnoneornil(L, 2))
		return luaL_argerror(L, 2, nilmsg);
	if (!is(L, 2))
		return luaL_argerror(L, 2, want);
	w = copy_wrapper(L);
	if (uv == UV_ACTOR)
		w->has_actor = 1;
	else
		w->has_scope = 1;
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, uv);
	return 1;
}

static int c_with_actor(lua_State *L)
{
	return with_sec(L, UV_ACTOR, security_is_actor, "actor cannot be nil", "Actor expected");
}

static int c_with_scope(lua_State *L)
{
	return with_sec(L, UV_SCOPE, security_is_scope, "scope cannot be nil", "Scope expected");
}

/* with_options(t): kept with the instances it opens; no option changes a
** call here (the original's retry interceptor is not implemented). */
static int c_with_options(lua_State *L)
{
	struct wrapper *w;
	check_wrapper(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	w = copy_wrapper(L);
	w->has_options = 1;
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, UV_OPTIONS);
	return 1;
}

static int c_tostring(lua_State *L)
{
	lua_pushfstring(L, "contract.Contract: %s", check_wrapper(L)->def->id);
	return 1;
}

/* }==== */

static const luaL_Reg funcs[] = {
	{"get", m_get},
	{"open", m_open},
	{"find_implementations", m_find_implementations},
	{"is", m_is},
	{NULL, NULL}
};

static const luaL_Reg contract_methods[] = {
	{"id", c_id},
	{"methods", c_methods},
	{"method", c_method},
	{"implementations", c_implementations},
	{"open", c_open},
	{"with_context", c_with_context},
	{"with_actor", c_with_actor},
	{"with_scope", c_with_scope},
	{"with_options", c_with_options},
	{NULL, NULL}
};

int luaopen_contract(lua_State *L)
{
	if (luaL_newmetatable(L, CONTRACT_META)) {
		lazylib_methods(L, contract_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, c_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	if (luaL_newmetatable(L, INSTANCE_META)) {
		lua_pushcfunction(L, instance_index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, instance_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 2);
	lazylib_new(L, funcs);
	return 1;
}
