/*
** lua_modules/lregistry.c: require("registry"), the read side of the
** original's registry module over the running registry's current version
** (runtime/live.h): parse_id, get, find, current_version, versions.
**
** Entries are Lua tables in the original's shape: {id, kind, meta, data},
** data being the entry's fields other than name, kind and meta. Reads take
** the current version with one atomic load and never lock.
** Permission checks (registry.get on the entry id) belong here, before an
** entry is pushed: see the marked place in push_visible().
*/
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"
#include "runtime/errors.h"
#include "runtime/live.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/reg_lua.h"

#define VERSION_META "registry.Version"


/* The entry as {id, kind, meta, data}. [-0, +1, m] */
static void push_entry(lua_State *L, const struct reg_entry *e)
{
	const struct reg_value *d = e->data;
	lua_createtable(L, 0, 4);
	lua_pushstring(L, e->id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, e->kind);
	lua_setfield(L, -2, "kind");
	if (e->meta)
		reg_value_push(L, e->meta);
	else
		lua_newtable(L);
	lua_setfield(L, -2, "meta");
	lua_newtable(L);
	for (size_t i = 0; d && d->type == REG_MAP && i < d->n; i++) {
		const char *k = d->keys[i];
		if (!strcmp(k, "name") || !strcmp(k, "kind") || !strcmp(k, "meta"))
			continue;
		reg_value_push(L, d->items[i]);
		lua_setfield(L, -2, k);
	}
	lua_setfield(L, -2, "data");
}

/* Whether the caller may read e: the place for the security check
** (registry.get on e->id) when policies are enforced. */
static int visible(lua_State *L, const struct reg_entry *e)
{
	(void)L;
	(void)e;
	return 1;
}

/* parse_id(s) -> {ns, name}: split at the first ':'; no ':' gives ns "". */
static int l_parse_id(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	const char *c = memchr(s, ':', len);
	lua_createtable(L, 0, 2);
	lua_pushlstring(L, s, c ? (size_t)(c - s) : 0);
	lua_setfield(L, -2, "ns");
	lua_pushstring(L, c ? c + 1 : s);
	lua_setfield(L, -2, "name");
	return 1;
}

/* get(id) -> entry | nil, err (NOT_FOUND). */
static int l_get(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	const struct reg_entry *e = reg_find(live_registry(proc_of(L)->rt), id);
	if (e == NULL || !visible(L, e))
		return errors_ret(L, ERRORS_NOT_FOUND, "entry not found: %s", id);
	push_entry(L, e);
	lua_pushnil(L);
	return 2;
}

/* A meta value equal to the filter value at vi (strings, numbers,
** booleans; a list filter: every item among the entry's list). */
static int meta_eq(lua_State *L, const struct reg_value *m, int vi)
{
	if (m == NULL)
		return 0;
	switch (lua_type(L, vi)) {
	case LUA_TSTRING: return m->type == REG_STR && !strcmp(m->str, lua_tostring(L, vi));
	case LUA_TBOOLEAN: return m->type == REG_BOOL && m->b == lua_toboolean(L, vi);
	case LUA_TNUMBER:
		if (m->type == REG_INT) return (lua_Number)m->i == lua_tonumber(L, vi);
		if (m->type == REG_FLOAT) return m->f == lua_tonumber(L, vi);
		return 0;
	case LUA_TTABLE:
		if (m->type != REG_SEQ) return 0;
		for (lua_Integer i = 1; lua_geti(L, vi, i) == LUA_TSTRING; i++) {
			int found = 0;
			for (size_t j = 0; j < m->n && !found; j++)
				found = m->items[j]->str && !strcmp(m->items[j]->str, lua_tostring(L, -1));
			lua_pop(L, 1);
			if (!found) return 0;
		}
		lua_pop(L, 1);
		return 1;
	default: return 0;
	}
}

/* Whether e matches every key of the filter table at 1: ".kind", ".ns",
** ".name", ".id" (exact, or with one '*' as prefix/suffix glob), the
** deprecated bare kind/ns/name/id/namespace, "meta.K" equality and the
** "~ * ^ $" operators on meta strings (regex is matched as contains). */
static int glob(const char *pat, const char *s)
{
	const char *st = strchr(pat, '*');
	size_t pl, sl = strlen(s);
	if (st == NULL)
		return !strcmp(pat, s);
	pl = (size_t)(st - pat);
	return sl >= pl + strlen(st + 1) && !strncmp(s, pat, pl) &&
	       !strcmp(s + sl - strlen(st + 1), st + 1);
}

static int matches(lua_State *L, const struct reg_entry *e)
{
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		int ok = 1;
		if (k == NULL) {
			ok = 1;
		} else if (k[0] == '.' || !strcmp(k, "kind") || !strcmp(k, "ns") ||
			   !strcmp(k, "namespace") || !strcmp(k, "name") || !strcmp(k, "id")) {
			const char *f = k[0] == '.' ? k + 1 : k;
			const char *have = !strcmp(f, "kind") ? e->kind : !strcmp(f, "name") ? e->name
					 : !strcmp(f, "id") ? e->id
					 : (!strcmp(f, "ns") || !strcmp(f, "namespace")) ? e->ns : NULL;
			ok = have == NULL || v == NULL || glob(v, have);
		} else {
			char op = strchr("~*^$", k[0]) ? k[0] : 0;
			const char *f = op ? k + 1 : k;
			if (strncmp(f, "meta.", 5) == 0) {
				const struct reg_value *m = reg_value_get(e->meta, f + 5);
				if (op == 0)
					ok = meta_eq(L, m, lua_gettop(L));
				else if (v == NULL || m == NULL || m->type != REG_STR)
					ok = 0;
				else if (op == '^')
					ok = !strncmp(m->str, v, strlen(v));
				else if (op == '$')
					ok = strlen(m->str) >= strlen(v) &&
					     !strcmp(m->str + strlen(m->str) - strlen(v), v);
				else
					ok = strstr(m->str, v) != NULL;
			}
		}
		lua_pop(L, 1);
		if (!ok) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return 1;
}

/* find(filter) -> entries | nil, err (INVALID when filter is no table). */
static int l_find(lua_State *L)
{
	const struct registry *reg;
	const struct reg_entry *e = NULL;
	lua_Integer n = 0;
	if (!lua_istable(L, 1))
		return errors_ret(L, ERRORS_INVALID, "filter criteria table required");
	reg = live_registry(proc_of(L)->rt);
	lua_newtable(L);
	while ((e = reg_next(reg, e)) != NULL) {
		if (!visible(L, e) || !matches(L, e))
			continue;
		push_entry(L, e);
		lua_seti(L, 2, ++n);
	}
	lua_pushnil(L);
	return 2;
}

static int v_id(lua_State *L)
{
	const struct live_version **v = luaL_checkudata(L, 1, VERSION_META);
	lua_pushinteger(L, (lua_Integer)(*v)->id);
	return 1;
}

static void push_version(lua_State *L, const struct live_version *v)
{
	const struct live_version **u = lua_newuserdatauv(L, sizeof(*u), 0);
	*u = v;
	luaL_setmetatable(L, VERSION_META);
}

static int v_previous(lua_State *L)
{
	const struct live_version **v = luaL_checkudata(L, 1, VERSION_META);
	if ((*v)->prev)
		push_version(L, (*v)->prev);
	else
		lua_pushnil(L);
	return 1;
}

static int v_string(lua_State *L)
{
	const struct live_version **v = luaL_checkudata(L, 1, VERSION_META);
	lua_pushfstring(L, "%I", (lua_Integer)(*v)->id);
	return 1;
}

static int l_current_version(lua_State *L)
{
	push_version(L, live_current(proc_of(L)->rt));
	lua_pushnil(L);
	return 2;
}

static int l_versions(lua_State *L)
{
	const struct live_version **all;
	size_t n = live_versions(proc_of(L)->rt, &all);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		push_version(L, all[i]);
		lua_seti(L, -2, (lua_Integer)i + 1);
	}
	free(all);
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg version_methods[] = {
	{"id", v_id}, {"previous", v_previous}, {"string", v_string}, {NULL, NULL}
};

static const luaL_Reg funcs[] = {
	{"parse_id", l_parse_id}, {"get", l_get}, {"find", l_find},
	{"current_version", l_current_version}, {"versions", l_versions},
	{NULL, NULL}
};

int luaopen_registry(lua_State *L)
{
	if (luaL_newmetatable(L, VERSION_META)) {
		luaL_newlib(L, version_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, v_string);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
