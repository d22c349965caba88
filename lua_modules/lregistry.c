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
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"
#include "events.h"
#include "runtime/errors.h"
#include "security.h"
#include "runtime/live.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/reg_lua.h"

#define VERSION_META "registry.Version"
#define SNAPSHOT_META "registry.Snapshot"
#define CHANGES_META "registry.Changes"
#define HISTORY_META "registry.History"


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

/* Whether the caller may read e (registry.get on its id): the listings
** (find, snapshot:entries / namespace / find) leave out what it may not,
** as the original's. act: security_active(L), asked once per listing so
** that a process with no context pays one test per call, not per entry. */
static int visible(lua_State *L, int act, const struct reg_entry *e)
{
	return !act || security_allowed(L, "registry.get", e->id);
}

/* The original's registry.get check on one id: nil and a PermissionDenied
** error when denied (returns 2), else 0. */
static int deny_get(lua_State *L, const char *id)
{
	return security_check(L, "registry.get", id, "not allowed to access entry: %s", id);
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
	const struct reg_entry *e;
	int r;
	if ((r = deny_get(L, id)))
		return r;
	e = reg_find(live_registry(proc_of(L)->rt), id);
	if (e == NULL)
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

static int matches(lua_State *L, int fi, const struct reg_entry *e)
{
	lua_pushnil(L);
	while (lua_next(L, fi)) {
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
	int act = security_active(L);
	if (!lua_istable(L, 1))
		return errors_ret(L, ERRORS_INVALID, "filter criteria table required");
	reg = live_registry(proc_of(L)->rt);
	lua_newtable(L);
	while ((e = reg_next(reg, e)) != NULL) {
		if (!matches(L, 1, e) || !visible(L, act, e))
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

/* {====================================================================
** The write side: snapshots, change sets, history
** ===================================================================== */

/* A snapshot: one version, read without locks (versions never change). */
struct snap {
	const struct live_version *v;
};

/* A change set against the snapshot's version. Uservalue 1 is the list
** of {kind, entry} tables :ops() returns. */
struct changes {
	const struct live_version *base;
	struct reg_changes *c;
};

static const struct live_version *check_version(lua_State *L, int i)
{
	return *(const struct live_version **)luaL_checkudata(L, i, VERSION_META);
}

static void push_snapshot(lua_State *L, const struct live_version *v)
{
	struct snap *s = lua_newuserdatauv(L, sizeof(*s), 0);
	s->v = v;
	luaL_setmetatable(L, SNAPSHOT_META);
}

static const struct registry *snap_reg(lua_State *L)
{
	return ((struct snap *)luaL_checkudata(L, 1, SNAPSHOT_META))->v->reg;
}

/* snapshot:entries() -> entries, nil [-0, +2, m] */
static int s_entries(lua_State *L)
{
	const struct registry *reg = snap_reg(L);
	const struct reg_entry *e = NULL;
	lua_Integer n = 0;
	int act = security_active(L);
	lua_createtable(L, (int)reg_count(reg), 0);
	while ((e = reg_next(reg, e)) != NULL)
		if (visible(L, act, e)) {
			push_entry(L, e);
			lua_seti(L, -2, ++n);
		}
	lua_pushnil(L);
	return 2;
}

/* snapshot:get(id) -> entry | nil, err (NOT_FOUND) [-0, +2, m] */
static int s_get(lua_State *L)
{
	const struct registry *reg = snap_reg(L);
	const char *id = luaL_checkstring(L, 2);
	const struct reg_entry *e;
	int r;
	if ((r = deny_get(L, id)))
		return r;
	e = reg_find(reg, id);
	if (e == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "entry not found: %s", id);
	push_entry(L, e);
	lua_pushnil(L);
	return 2;
}

/* snapshot:namespace(ns) -> entries [-0, +1, m] */
static int s_namespace(lua_State *L)
{
	const struct registry *reg = snap_reg(L);
	const char *ns = luaL_checkstring(L, 2);
	const struct reg_entry *e = NULL;
	lua_Integer n = 0;
	int act = security_active(L);
	lua_newtable(L);
	while ((e = reg_next(reg, e)) != NULL)
		if (!strcmp(e->ns, ns) && visible(L, act, e)) {
			push_entry(L, e);
			lua_seti(L, -2, ++n);
		}
	return 1;
}

/* snapshot:find(filter) -> entries [-0, +1, m] */
static int s_find(lua_State *L)
{
	const struct registry *reg = snap_reg(L);
	const struct reg_entry *e = NULL;
	lua_Integer n = 0;
	int act = security_active(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_newtable(L);
	while ((e = reg_next(reg, e)) != NULL) {
		if (!matches(L, 2, e) || !visible(L, act, e))
			continue;
		push_entry(L, e);
		lua_seti(L, 3, ++n);
	}
	return 1;
}

static int s_version(lua_State *L)
{
	push_version(L, ((struct snap *)luaL_checkudata(L, 1, SNAPSHOT_META))->v);
	return 1;
}

/* snapshot:changes() -> Changes [-0, +1, m] */
static int s_changes(lua_State *L)
{
	struct snap *s = luaL_checkudata(L, 1, SNAPSHOT_META);
	struct changes *ch = lua_newuserdatauv(L, sizeof(*ch), 1);
	ch->base = s->v;
	ch->c = NULL;
	luaL_setmetatable(L, CHANGES_META);
	proc_note_finalizer(L);
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
	ch->c = reg_changes_new();
	return 1;
}

static struct changes *check_changes(lua_State *L)
{
	return luaL_checkudata(L, 1, CHANGES_META);
}

static int c_gc(lua_State *L)
{
	struct changes *ch = luaL_checkudata(L, 1, CHANGES_META);
	reg_changes_free(ch->c);
	ch->c = NULL;
	return 0;
}

/* The Lua value at i as a value of c; NULL (with an error message pushed)
** for what an entry cannot hold (functions, userdata, cycles). A table
** with keys 1..n only is a sequence, any other a mapping of its string
** keys. [-0, +0 | +1 on error, m] */
static struct reg_value *to_value(lua_State *L, struct reg_changes *c, int i, int depth,
				  const char *what)
{
	i = lua_absindex(L, i);
	if (depth > 32) {
		lua_pushfstring(L, "%s: nested too deeply", what);
		return NULL;
	}
	switch (lua_type(L, i)) {
	case LUA_TNIL: return reg_cv_null(c);
	case LUA_TBOOLEAN: return reg_cv_bool(c, lua_toboolean(L, i));
	case LUA_TNUMBER:
		if (lua_isinteger(L, i))
			return reg_cv_int(c, lua_tointeger(L, i));
		return reg_cv_float(c, lua_tonumber(L, i));
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, i, &len);
		return reg_cv_str(c, s, len);
	}
	case LUA_TTABLE: {
		lua_Integer n = (lua_Integer)lua_rawlen(L, i), keys = 0;
		struct reg_value *v;
		size_t k = 0;
		lua_pushnil(L);
		while (lua_next(L, i)) {
			keys++;
			lua_pop(L, 1);
		}
		if (keys > 0 && keys == n) {
			v = reg_cv_seq(c, (size_t)n);
			for (lua_Integer j = 1; j <= n; j++) {
				lua_rawgeti(L, i, j);
				v->items[j - 1] = to_value(L, c, -1, depth + 1, what);
				if (v->items[j - 1] == NULL) {
					lua_remove(L, -2);
					return NULL;
				}
				lua_pop(L, 1);
			}
			return v;
		}
		v = reg_cv_map(c, (size_t)keys);
		lua_pushnil(L);
		while (lua_next(L, i)) {
			if (lua_type(L, -2) != LUA_TSTRING) {
				lua_pop(L, 2);
				lua_pushfstring(L, "%s: keys must be strings", what);
				return NULL;
			}
			size_t len;
			const char *key = lua_tolstring(L, -2, &len);
			v->keys[k] = reg_cv_key(c, key, len);
			v->items[k] = to_value(L, c, -1, depth + 1, what);
			if (v->items[k] == NULL) {
				lua_remove(L, -2);
				lua_remove(L, -2);
				return NULL;
			}
			k++;
			lua_pop(L, 1);
		}
		v->n = k;
		return v;
	}
	default:
		lua_pushfstring(L, "%s: a %s cannot be stored in an entry", what,
				luaL_typename(L, i));
		return NULL;
	}
}

/* The id of the entry table at i ("ns:name" string or {ns, name}) pushed
** as a string; 0 when there is none. [-0, +(0|1), m] */
static int push_id(lua_State *L, int i)
{
	i = lua_absindex(L, i);
	if (lua_type(L, i) == LUA_TSTRING) {
		lua_pushvalue(L, i);
		return 1;
	}
	if (lua_type(L, i) == LUA_TTABLE) {
		lua_getfield(L, i, "ns");
		lua_getfield(L, i, "name");
		if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
			lua_pushfstring(L, "%s:%s", lua_tostring(L, -2), lua_tostring(L, -1));
			lua_replace(L, -3);
			lua_pop(L, 1);
			return 1;
		}
		lua_pop(L, 2);
	}
	return 0;
}

/* Record op in the :ops() list: {kind = "entry.*", entry = e} with e the
** normalized entry at ei (or {id = id} for a delete). [-0, +0, m] */
static void note_op(lua_State *L, const char *kind, int ei)
{
	lua_getiuservalue(L, 1, 1);
	lua_createtable(L, 0, 2);
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "kind");
	lua_pushvalue(L, ei);
	lua_setfield(L, -2, "entry");
	lua_seti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
}

/* changes:create(entry) / :update(entry) -> changes | nil, err (INVALID)
** [-0, +(1|2), m] */
static int add_entry(lua_State *L, enum reg_op op)
{
	struct changes *ch = check_changes(L);
	struct reg_value *meta = NULL, *data = NULL;
	const struct reg_entry *old;
	const char *id, *kind;
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_getfield(L, 2, "id");
	if (!push_id(L, lua_gettop(L)))
		return errors_ret(L, ERRORS_INVALID, "entry must have valid id field");
	id = lua_tostring(L, -1);
	if (lua_getfield(L, 2, "kind") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
		return errors_ret(L, ERRORS_INVALID, "%s: entry must have kind field", id);
	kind = lua_tostring(L, -1);
	old = reg_find(ch->base->reg, id);
	if (op == REG_OP_UPDATE && old && strcmp(old->kind, kind) != 0)
		return errors_ret(L, ERRORS_INVALID, "%s: cannot change the kind of an "
				  "entry from %s to %s", id, old->kind, kind);
	lua_getfield(L, 2, "meta");
	if (!lua_isnil(L, -1)) {
		if (!lua_istable(L, -1))
			return errors_ret(L, ERRORS_INVALID, "%s: meta must be a table", id);
		if ((meta = to_value(L, ch->c, -1, 0, "meta")) == NULL)
			return errors_ret(L, ERRORS_INVALID, "%s: %s", id, lua_tostring(L, -1));
	}
	lua_getfield(L, 2, "data");
	if (!lua_isnil(L, -1)) {
		if (!lua_istable(L, -1))
			return errors_ret(L, ERRORS_INVALID, "%s: data must be a table of "
					  "the kind's fields", id);
		if ((data = to_value(L, ch->c, -1, 0, "data")) == NULL)
			return errors_ret(L, ERRORS_INVALID, "%s: %s", id, lua_tostring(L, -1));
	}
	/* stack: 3 id-field 4 id 5 kind 6 meta 7 data */
	reg_changes_add(ch->c, op, id, kind, meta, data);
	lua_createtable(L, 0, 4);
	lua_pushvalue(L, 4);
	lua_setfield(L, -2, "id");
	lua_pushvalue(L, 5);
	lua_setfield(L, -2, "kind");
	if (lua_isnil(L, 6))
		lua_newtable(L);
	else
		lua_pushvalue(L, 6);
	lua_setfield(L, -2, "meta");
	lua_pushvalue(L, 7);
	lua_setfield(L, -2, "data");
	note_op(L, op == REG_OP_CREATE ? "entry.create" : "entry.update", lua_gettop(L));
	lua_pushvalue(L, 1);
	return 1;
}

static int c_create(lua_State *L) { return add_entry(L, REG_OP_CREATE); }
static int c_update(lua_State *L) { return add_entry(L, REG_OP_UPDATE); }

/* One delete for the id-like value at i: a string, {ns, name}, an entry
** with id, or a list of these (nested). Returns 0 or -1 (invalid). */
static int add_delete(lua_State *L, struct changes *ch, int i, int depth)
{
	i = lua_absindex(L, i);
	if (lua_type(L, i) == LUA_TTABLE && depth < 8) {
		lua_getfield(L, i, "id");
		if (!lua_isnil(L, -1)) {
			int rc = add_delete(L, ch, -1, depth + 1);
			lua_pop(L, 1);
			return rc;
		}
		lua_pop(L, 1);
		if (lua_rawlen(L, i) > 0) {
			for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, i); j++) {
				lua_rawgeti(L, i, j);
				int rc = add_delete(L, ch, -1, depth + 1);
				lua_pop(L, 1);
				if (rc < 0)
					return rc;
			}
			return 0;
		}
	}
	if (!push_id(L, i))
		return -1;
	/* Duplicates are ignored, as the original's bulk delete does. */
	lua_getiuservalue(L, 1, 1);
	for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, -1); j++) {
		lua_rawgeti(L, -1, j);
		lua_getfield(L, -1, "kind");
		lua_getfield(L, -2, "entry");
		lua_getfield(L, -1, "id");
		int dup = !strcmp(lua_tostring(L, -3), "entry.delete") &&
			  lua_rawequal(L, -1, -6);
		lua_pop(L, 4);
		if (dup) {
			lua_pop(L, 2);
			return 0;
		}
	}
	lua_pop(L, 1);
	reg_changes_add(ch->c, REG_OP_DELETE, lua_tostring(L, -1), NULL, NULL, NULL);
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "id");
	note_op(L, "entry.delete", lua_gettop(L));
	lua_pop(L, 2);
	return 0;
}

/* changes:delete(id | {ns, name} | entry | list) -> changes | nil, err */
static int c_delete(lua_State *L)
{
	struct changes *ch = check_changes(L);
	if (add_delete(L, ch, 2, 0) < 0)
		return errors_ret(L, ERRORS_INVALID, "invalid ID format");
	lua_pushvalue(L, 1);
	return 1;
}

/* changes:ops() -> a copy of the operation list [-0, +1, m] */
static int c_ops(lua_State *L)
{
	check_changes(L);
	lua_getiuservalue(L, 1, 1);
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	lua_createtable(L, (int)n, 0);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, i);
		lua_seti(L, -2, i);
	}
	return 1;
}

/* The kinds the original applies without sending events (its internal
** dispatch): registry.entry and the ns.* bookkeeping kinds. */
static int silent_kind(const char *kind)
{
	return !strcmp(kind, "registry.entry") || !strncmp(kind, "ns.", 3);
}

/* Publish what one apply did on the bus, as the original's bus runner
** does: registry.begin, then entry.create/update/delete (path: the entry
** id, data: the entry) and entry.accept for each requested change, then
** registry.commit. [-0, +0, m] */
static void publish(lua_State *L, const struct live_diff *d)
{
	static _Atomic unsigned long long tx;
	char path[64];
	unsigned long long n = ++tx;

	snprintf(path, sizeof(path), "registry.tx/%llu/registry.begin", n);
	events_publish(L, "registry", "registry.begin", path, 0);
	for (size_t i = 0; i < d->n; i++) {
		const struct live_change *c = &d->v[i];
		const struct reg_entry *e = c->new ? c->new : c->old;
		if (!c->requested || silent_kind(e->kind))
			continue;
		push_entry(L, e);
		events_publish(L, "registry", c->op == REG_OP_CREATE ? "entry.create" :
			       c->op == REG_OP_UPDATE ? "entry.update" : "entry.delete",
			       e->id, -1);
		lua_pop(L, 1);
		events_publish(L, "registry", "entry.accept", e->id, 0);
	}
	snprintf(path, sizeof(path), "registry.tx/%llu/registry.commit", n);
	events_publish(L, "registry", "registry.commit", path, 0);
}

static const char *kind_of(int rc)
{
	switch (rc) {
	case -ENOENT: return ERRORS_NOT_FOUND;
	case -EEXIST: return ERRORS_ALREADY_EXISTS;
	case -ESTALE: return ERRORS_CONFLICT;
	case -ECANCELED: return ERRORS_CANCELED;
	default: return ERRORS_INVALID;
	}
}

/* changes:apply() -> Version | nil, err [-0, +2, m] */
static int c_apply(lua_State *L)
{
	struct changes *ch = check_changes(L);
	const struct live_version *v;
	struct live_diff d;
	char *msg = NULL;
	int rc;

	if (ch->c == NULL || reg_changes_count(ch->c) == 0)
		return errors_ret(L, ERRORS_INVALID, "no changes to apply");
	if ((rc = security_check(L, "registry.apply", "",
				 "not allowed to apply registry changes")))
		return rc;
	rc = live_apply(proc_of(L)->rt, ch->base, ch->c, &v, &d, &msg);
	if (rc < 0) {
		lua_pushstring(L, msg ? msg : "apply failed");
		free(msg);
		/* one line per problem: drop the final newline */
		size_t len;
		const char *m = lua_tolstring(L, -1, &len);
		while (len > 0 && m[len - 1] == '\n')
			len--;
		return errors_ret(L, kind_of(rc), "%s", lua_pushlstring(L, m, len));
	}
	free(msg);
	publish(L, &d);
	live_diff_free(&d);
	push_version(L, v);
	lua_pushnil(L);
	return 2;
}

/* registry.snapshot() -> Snapshot, nil [-0, +2, m] */
static int l_snapshot(lua_State *L)
{
	push_snapshot(L, live_current(proc_of(L)->rt));
	lua_pushnil(L);
	return 2;
}

/* The version with the id at i, or an error pushed (INVALID, NOT_FOUND). */
static const struct live_version *version_arg(lua_State *L, int i, int *nret)
{
	lua_Integer id;
	const struct live_version *v;
	if (!lua_isinteger(L, i) && !(lua_isnumber(L, i) && lua_tonumber(L, i) ==
				      floor(lua_tonumber(L, i)))) {
		*nret = errors_ret(L, ERRORS_INVALID, "version id must be an integer");
		return NULL;
	}
	id = (lua_Integer)lua_tonumber(L, i);
	if (id <= 0) {
		*nret = errors_ret(L, ERRORS_INVALID, "invalid version ID");
		return NULL;
	}
	if ((v = live_find(proc_of(L)->rt, (uint64_t)id)) == NULL)
		*nret = errors_ret(L, ERRORS_NOT_FOUND, "version not found: %I", id);
	return v;
}

/* registry.snapshot_at(id) -> Snapshot | nil, err */
static int l_snapshot_at(lua_State *L)
{
	int n;
	const struct live_version *v = version_arg(L, 1, &n);
	if (v == NULL)
		return n;
	push_snapshot(L, v);
	lua_pushnil(L);
	return 2;
}

/* registry.apply_version(v) -> true | false, err [-0, +2, m] */
static int l_apply_version(lua_State *L)
{
	const struct live_version **u = luaL_testudata(L, 1, VERSION_META);
	struct live_diff d;
	int rc;
	/* The original checks first and answers nil (not false) when denied. */
	if ((rc = security_check(L, "registry.apply_version", "",
				 "registry version change is not allowed")))
		return rc;
	if (u == NULL) {
		lua_pushboolean(L, 0);
		errors_push(L, ERRORS_INVALID, "expected version object");
		return 2;
	}
	rc = live_select(proc_of(L)->rt, *u, &d);
	if (rc < 0) {
		lua_pushboolean(L, 0);
		errors_push(L, kind_of(rc), "the runtime is shutting down");
		return 2;
	}
	publish(L, &d);
	live_diff_free(&d);
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

/* registry.history() -> History, nil */
static int l_history(lua_State *L)
{
	lua_newuserdatauv(L, 1, 0);
	luaL_setmetatable(L, HISTORY_META);
	lua_pushnil(L);
	return 2;
}

static int h_versions(lua_State *L)
{
	luaL_checkudata(L, 1, HISTORY_META);
	return l_versions(L);
}

static int h_get_version(lua_State *L)
{
	int n;
	luaL_checkudata(L, 1, HISTORY_META);
	const struct live_version *v = version_arg(L, 2, &n);
	if (v == NULL)
		return n;
	push_version(L, v);
	lua_pushnil(L);
	return 2;
}

static int h_snapshot_at(lua_State *L)
{
	luaL_checkudata(L, 1, HISTORY_META);
	if (luaL_testudata(L, 2, VERSION_META) == NULL)
		return errors_ret(L, ERRORS_INVALID, "expected version object");
	push_snapshot(L, check_version(L, 2));
	lua_pushnil(L);
	return 2;
}

/* Deep equality of two Lua values (tables by contents). */
static int deep_eq(lua_State *L, int a, int b, int depth)
{
	a = lua_absindex(L, a);
	b = lua_absindex(L, b);
	if (lua_type(L, a) != LUA_TTABLE || lua_type(L, b) != LUA_TTABLE)
		return lua_rawequal(L, a, b) ||
		       (lua_type(L, a) == LUA_TNUMBER && lua_type(L, b) == LUA_TNUMBER &&
			lua_tonumber(L, a) == lua_tonumber(L, b));
	if (depth > 32)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		int x = pass ? b : a, y = pass ? a : b;
		lua_pushnil(L);
		while (lua_next(L, x)) {
			lua_pushvalue(L, -2);
			lua_rawget(L, y);
			int eq = pass ? !lua_isnil(L, -1) : deep_eq(L, -1, -2, depth + 1);
			lua_pop(L, 2);
			if (!eq) {
				lua_pop(L, 1);
				return 0;
			}
		}
	}
	return 1;
}

/* The entries of the list at i, normalized and indexed by id, into a new
** table {list = {...}, by = {[id] = entry}} at the top; entries without id
** or kind are skipped, as the original skips what it cannot convert. */
static void delta_side(lua_State *L, int i)
{
	lua_Integer n = 0;
	lua_createtable(L, 0, 2);
	lua_newtable(L);   /* list */
	lua_newtable(L);   /* by */
	for (lua_Integer j = 1; lua_rawgeti(L, i, j) != LUA_TNIL; j++) {
		int e = lua_gettop(L);
		if (lua_istable(L, e)) {
			lua_getfield(L, e, "id");
			int ok = push_id(L, -1);
			lua_remove(L, -1 - ok);
			if (ok && lua_getfield(L, e, "kind") == LUA_TSTRING) {
				lua_createtable(L, 0, 4);
				lua_pushvalue(L, -3);
				lua_setfield(L, -2, "id");
				lua_pushvalue(L, -2);
				lua_setfield(L, -2, "kind");
				if (lua_getfield(L, e, "meta") != LUA_TTABLE) {
					lua_pop(L, 1);
					lua_newtable(L);
				}
				lua_setfield(L, -2, "meta");
				lua_getfield(L, e, "data");
				lua_setfield(L, -2, "data");
				/* stack: e id kind norm */
				lua_pushvalue(L, -1);
				lua_seti(L, e - 2, ++n);
				lua_pushvalue(L, -3);
				lua_insert(L, -2);
				lua_rawset(L, e - 1);
				lua_pop(L, 2);
			} else {
				lua_pop(L, ok + (ok ? 1 : 0));
			}
		}
		lua_settop(L, e - 1);
	}
	lua_pop(L, 1);
	lua_setfield(L, -3, "by");
	lua_setfield(L, -2, "list");
}

static void delta_op(lua_State *L, int out, const char *kind, int ei)
{
	ei = lua_absindex(L, ei);
	lua_createtable(L, 0, 2);
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "kind");
	lua_pushvalue(L, ei);
	lua_setfield(L, -2, "entry");
	lua_seti(L, out, (lua_Integer)lua_rawlen(L, out) + 1);
}

/* registry.build_delta(from, to) -> ops, nil | nil, err (INVALID):
** deletes (in from's order), then creates and updates (in to's order);
** an entry is updated when its kind, meta or data differ. */
static int l_build_delta(lua_State *L)
{
	if (!lua_istable(L, 1))
		return errors_ret(L, ERRORS_INVALID, "from_entries table required");
	if (!lua_istable(L, 2))
		return errors_ret(L, ERRORS_INVALID, "to_entries table required");
	lua_settop(L, 2);
	delta_side(L, 1);  /* 3 */
	delta_side(L, 2);  /* 4 */
	lua_newtable(L);   /* 5: out */
	lua_getfield(L, 3, "list");  /* 6 */
	lua_getfield(L, 4, "by");    /* 7 */
	for (lua_Integer j = 1; lua_rawgeti(L, 6, j) != LUA_TNIL; j++) {
		lua_getfield(L, -1, "id");
		if (lua_rawget(L, 7) == LUA_TNIL)
			delta_op(L, 5, "entry.delete", -2);
		lua_pop(L, 2);
	}
	lua_pop(L, 3);
	lua_getfield(L, 4, "list");  /* 6 */
	lua_getfield(L, 3, "by");    /* 7 */
	for (lua_Integer j = 1; lua_rawgeti(L, 6, j) != LUA_TNIL; j++) {
		lua_getfield(L, -1, "id");
		if (lua_rawget(L, 7) == LUA_TNIL)
			delta_op(L, 5, "entry.create", -2);
		else if (!deep_eq(L, -1, -2, 0))
			delta_op(L, 5, "entry.update", -2);
		lua_pop(L, 2);
	}
	lua_settop(L, 5);
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg version_methods[] = {
	{"id", v_id}, {"previous", v_previous}, {"string", v_string}, {NULL, NULL}
};

static const luaL_Reg snapshot_methods[] = {
	{"entries", s_entries}, {"get", s_get}, {"namespace", s_namespace},
	{"find", s_find}, {"changes", s_changes}, {"version", s_version},
	{NULL, NULL}
};

static const luaL_Reg changes_methods[] = {
	{"create", c_create}, {"update", c_update}, {"delete", c_delete},
	{"ops", c_ops}, {"apply", c_apply}, {NULL, NULL}
};

static const luaL_Reg history_methods[] = {
	{"versions", h_versions}, {"get_version", h_get_version},
	{"snapshot_at", h_snapshot_at}, {NULL, NULL}
};

static const luaL_Reg funcs[] = {
	{"parse_id", l_parse_id}, {"get", l_get}, {"find", l_find},
	{"current_version", l_current_version}, {"versions", l_versions},
	{"snapshot", l_snapshot}, {"snapshot_at", l_snapshot_at},
	{"history", l_history}, {"apply_version", l_apply_version},
	{"build_delta", l_build_delta},
	{NULL, NULL}
};

/* A metatable with methods as __index and an optional __gc. */
static void meta(lua_State *L, const char *name, const luaL_Reg *methods,
		 lua_CFunction gc, lua_CFunction str)
{
	if (luaL_newmetatable(L, name)) {
		lua_newtable(L);
		luaL_setfuncs(L, methods, 0);
		lua_setfield(L, -2, "__index");
		if (gc) {
			lua_pushcfunction(L, gc);
			lua_setfield(L, -2, "__gc");
		}
		if (str) {
			lua_pushcfunction(L, str);
			lua_setfield(L, -2, "__tostring");
		}
	}
	lua_pop(L, 1);
}

int luaopen_registry(lua_State *L)
{
	meta(L, VERSION_META, version_methods, NULL, v_string);
	meta(L, SNAPSHOT_META, snapshot_methods, NULL, NULL);
	meta(L, CHANGES_META, changes_methods, c_gc, NULL);
	meta(L, HISTORY_META, history_methods, NULL, NULL);
	luaL_newlib(L, funcs);
	return 1;
}
