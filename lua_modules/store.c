/*
** lua_modules/store.c: require("store"), the original runtime's key/value
** store module (rt:runtime/lua/modules/store) over store.memory entries
** (runtime/memstore.h).
**
** store.get(id) -> Store | nil, err; s:get(key) -> value | nil, err (a
** missing or expired key: NOT_FOUND "store get: key not found");
** s:set(key, value [, ttl seconds]) -> true; s:has(key) -> boolean;
** s:delete(key) -> true, or false when the key held nothing; s:release()
** -> true, after which every method fails with INVALID "store is
** released". Values are copied in and out (runtime/payload.h): tables
** deeply, functions and userdata (other than error objects) as nil.
**
** A memory store never blocks (its calls take a mutex and copy bytes), so
** these run on the caller's shard without parking. store.sql entries are
** found but refused at store.get (UNAVAILABLE) until they have a backend.
**
** Thread affinity: the process's thread.
*/
#include "lua_modules/modules.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "runtime/errors.h"
#include "runtime/memstore.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

#define STORE_META "wippy.store.Store"

struct lstore {
	struct memstore *s;     /* NULL once released */
};

/* The live store at 1 and its key at 2, or NULL with `nil, err` pushed. */
static struct memstore *checkkey(lua_State *L, const char **key, size_t *len)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_META);

	if (ls->s == NULL) {
		errors_ret(L, ERRORS_INVALID, "store is released");
		return NULL;
	}
	*key = luaL_checklstring(L, 2, len);
	if (*len == 0) {
		errors_ret(L, ERRORS_INVALID, "key is required");
		return NULL;
	}
	return ls->s;
}

/* store.get(id) -> Store | nil, err. [-0, +1|2, m] */
static int store_get(lua_State *L)
{
	struct proc *p = proc_of(L);
	const char *id = luaL_checkstring(L, 1);
	const struct reg_entry *e;
	struct lstore *ls;

	if (id[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "resource id is required");
	e = reg_find(p->rt->reg, id);
	if (e == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "failed to acquire resource: "
				  "resource not found: %s", id);
	if (e->k == REG_K_STORE_SQL)
		return errors_ret(L, ERRORS_UNAVAILABLE, "failed to acquire resource: "
				  "store.sql is not supported by this runtime yet: %s", id);
	if (e->k != REG_K_STORE_MEMORY)
		return errors_ret(L, ERRORS_INVALID, "resource is not a store: %s", id);
	ls = lua_newuserdatauv(L, sizeof(*ls), 0);
	ls->s = memstore_get(p->rt, e);
	luaL_setmetatable(L, STORE_META);
	return 1;
}

/* s:get(key) -> value, nil | nil, err. [-0, +2, m] */
static int s_get(lua_State *L)
{
	const char *key;
	size_t len;
	struct memstore *s = checkkey(L, &key, &len);
	struct payload v = {0};
	int n;

	if (s == NULL)
		return 2;
	if (memstore_lookup(s, key, len, &v) != 0)
		return errors_ret(L, ERRORS_NOT_FOUND, "store get: key not found");
	n = payload_decode(L, &v);
	payload_free(&v);
	if (n != 1) {
		if (n > 1)
			lua_pop(L, n);
		return errors_ret(L, ERRORS_INTERNAL, "store get: %s",
				  payload_strerror(n < 0 ? n : -EINVAL));
	}
	lua_pushnil(L);
	return 2;
}

/* s:set(key, value [, ttl]) -> true, nil | nil, err. ttl in seconds (a
** number; 0 or less: none). [-0, +2, m] */
static int s_set(lua_State *L)
{
	const char *key;
	size_t len;
	struct memstore *s = checkkey(L, &key, &len);
	struct payload v;
	uint64_t ttl_ms = 0;
	int rc;

	if (s == NULL)
		return 2;
	if (lua_isnoneornil(L, 3))
		return errors_ret(L, ERRORS_INVALID, "value is required");
	if (lua_gettop(L) >= 4) {
		lua_Number ttl = luaL_checknumber(L, 4);
		if (ttl > 0)
			ttl_ms = ttl * 1000 < 1 ? 1 : (uint64_t)ceil(ttl * 1000);
	}
	if ((rc = payload_encode(L, 3, 1, &v)) < 0)
		return errors_ret(L, ERRORS_INTERNAL, "failed to transcode: %s",
				  payload_strerror(rc));
	if (memstore_set(s, key, len, &v, ttl_ms) == -ENOSPC) {
		/* The original's ErrStoreFull: retryable. */
		lua_pushnil(L);
		lua_pushliteral(L, "store set: store is full");
		lua_pushstring(L, ERRORS_UNAVAILABLE);
		lua_pushnil(L);
		lua_pushnil(L);
		lua_pushnil(L);
		lua_pushnil(L);
		errors_create(L, ERRORS_RETRY_YES);
		return 2;
	}
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

/* s:has(key) -> boolean, nil. [-0, +2, m] */
static int s_has(lua_State *L)
{
	const char *key;
	size_t len;
	struct memstore *s = checkkey(L, &key, &len);

	if (s == NULL)
		return 2;
	lua_pushboolean(L, memstore_has(s, key, len));
	lua_pushnil(L);
	return 2;
}

/* s:delete(key) -> true | false, nil. [-0, +2, m] */
static int s_delete(lua_State *L)
{
	const char *key;
	size_t len;
	struct memstore *s = checkkey(L, &key, &len);

	if (s == NULL)
		return 2;
	lua_pushboolean(L, memstore_delete(s, key, len) == 0);
	lua_pushnil(L);
	return 2;
}

/* s:release() -> true. Idempotent. [-0, +1, -] */
static int s_release(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_META);
	ls->s = NULL;
	lua_pushboolean(L, 1);
	return 1;
}

static int s_tostring(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_META);
	lua_pushstring(L, ls->s ? "store.Store{}" : "store.Store{released}");
	return 1;
}

int luaopen_store(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"get", s_get}, {"set", s_set}, {"has", s_has},
		{"delete", s_delete}, {"release", s_release}, {NULL, NULL}
	};
	static const luaL_Reg funcs[] = { {"get", store_get}, {NULL, NULL} };

	if (luaL_newmetatable(L, STORE_META)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, s_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
