/*
** lua_modules/envmod.c: require("env") (spec 8): get, set, get_all over the
** runtime's env variables (runtime/env.c, which is thread-safe).
*/
#include <lauxlib.h>
#include <stdlib.h>

#include "runtime/errors.h"
#include "modules.h"
#include "runtime/env.h"
#include "runtime/proc.h"
#include "runtime/rt.h"
#include "security.h"

static const char *kind_of(int rc)
{
	switch (rc) {
	case ENV_NOT_FOUND: return ERRORS_NOT_FOUND;
	case ENV_INVALID: return ERRORS_INVALID;
	case ENV_PERMISSION_DENIED: return ERRORS_PERMISSION_DENIED;
	default: return ERRORS_INTERNAL;
	}
}

/* The permission check of env.get / env.set: raises a PermissionDenied
** error when denied, as the original's env module does. [-0, +0, e] */
static void deny_unless(lua_State *L, const char *action, const char *key,
			const char *fmt)
{
	if (!security_allowed(L, action, key)) {
		errors_push(L, ERRORS_PERMISSION_DENIED, fmt, key);
		lua_error(L);
	}
}

/* env.get(key) -> string | nil, err; raises when not allowed.
** [-0, +(1|2), e] */
static int e_get(lua_State *L)
{
	const char *key = luaL_checkstring(L, 1);
	char *v = NULL;
	int rc;
	deny_unless(L, "env.get", key, "not allowed to access environment variable: %s");
	rc = env_get(proc_of(L)->rt->env, key, &v);
	if (rc < 0)
		return errors_ret(L, kind_of(rc), "env %s: %s", key, env_strerror(rc));
	lua_pushstring(L, v);
	free(v);
	return 1;
}

/* env.set(key, value) -> true | nil, err [-0, +(1|2), m] */
static int e_set(lua_State *L)
{
	const char *key = luaL_checkstring(L, 1);
	const char *val = luaL_checkstring(L, 2);
	int rc;
	deny_unless(L, "env.set", key, "not allowed to set environment variable: %s");
	rc = env_set(proc_of(L)->rt->env, key, val);
	if (rc < 0)
		return errors_ret(L, kind_of(rc), "env %s: %s", key, env_strerror(rc));
	lua_pushboolean(L, 1);
	return 1;
}

/* Collect into a C list first: the callback runs under the env lock and
** must not raise (a Lua memory error would leave the lock held). */
struct kv { char *k, *v; };
struct kvs { struct kv *a; size_t n, cap; };

static int collect(void *ud, const char *k, const char *v)
{
	struct kvs *s = ud;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->a = xrealloc(s->a, s->cap * sizeof(*s->a));
	}
	s->a[s->n].k = xstrdup(k);
	s->a[s->n].v = xstrdup(v);
	s->n++;
	return 0;
}

/* env.get_all() -> table [-0, +1, m] */
static int e_get_all(lua_State *L)
{
	struct kvs s = {0};
	env_get_all(proc_of(L)->rt->env, collect, &s);
	lua_createtable(L, 0, (int)s.n);
	for (size_t i = 0; i < s.n; i++) {
		if (!security_allowed(L, "env.get", s.a[i].k))
			continue;	/* only what env.get would give, as the original */
		lua_pushstring(L, s.a[i].v);
		lua_setfield(L, -2, s.a[i].k);
	}
	for (size_t i = 0; i < s.n; i++) {
		free(s.a[i].k);
		free(s.a[i].v);
	}
	free(s.a);
	return 1;
}

int luaopen_env(lua_State *L)
{
	static const luaL_Reg f[] = {
		{"get", e_get}, {"set", e_set}, {"get_all", e_get_all}, {NULL, NULL}
	};
	luaL_newlib(L, f);
	return 1;
}
