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
** these run on the caller's shard without parking. A store.sql store keeps
** its entries in a table of its db.sql.sqlite database (the entry names
** the table and its key, payload and expiry columns; the table is the
** app's to create, as in the original): each call is a job on the
** database's worker (runtime/sqldb.h) and parks only its coroutine.
** Values go in as JSON text, as the original's transcoder writes them, and
** expiry as UTC "YYYY-MM-DD HH:MM:SS.fffffffff+00:00" text, the form Go's
** SQLite driver gives a time.Time, so rows stay readable by both.
**
** Thread affinity: the process's thread; job run() on the worker.
*/
#include "lua_modules/modules.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "lua_modules/json.h"
#include "runtime/errors.h"
#include "runtime/memstore.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/rt.h"
#include "runtime/sqldb.h"
#include "lua_modules/security.h"

#define STORE_META "wippy.store.Store"

/* One handle: a memory store, or an SQL one (e a store.sql entry, db its
** database). Both NULL once released. */
struct lstore {
	struct memstore *s;
	const struct reg_entry *e;
	struct sqldb *db;
	int unchecked;  /* the runtime's own (a token store's): no key checks */
};

/* A key operation's permission check (raises when denied), but for a
** Store the runtime opened for itself. */
static void key_check(lua_State *L, const struct lstore *ls, const char *action,
		      const char *key, const char *what)
{
	if (!ls->unchecked)
		security_require(L, action, key, "not allowed to %s: %s", what, key);
}

/* The live store at 1 and its key at 2, or NULL with `nil, err` pushed. */
static struct lstore *checkkey(lua_State *L, const char **key, size_t *len)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_META);

	if (ls->s == NULL && ls->db == NULL) {
		errors_ret(L, ERRORS_INVALID, "store is released");
		return NULL;
	}
	*key = luaL_checklstring(L, 2, len);
	if (*len == 0) {
		errors_ret(L, ERRORS_INVALID, "key is required");
		return NULL;
	}
	return ls;
}

/* {==== store.sql: jobs on the database worker ====} */

enum sop { S_GET, S_SET, S_HAS, S_DELETE };

struct sjob {
	struct sqljob j;
	enum sop op;
	char *sql, *sql2;       /* set: UPDATE, then INSERT when it changed nothing */
	struct sqlv params[3];
	size_t n, n2;
	struct sqlv params2[3];
};

static void text_param(struct sqlv *v, const char *s, size_t len)
{
	v->type = SQLV_TEXT;
	v->len = len;
	v->s = xmalloc(len + 1);
	memcpy(v->s, s, len);
	v->s[len] = '\0';
}

static void copy_param(struct sqlv *dst, const struct sqlv *src)
{
	*dst = *src;
	if (src->type == SQLV_TEXT || src->type == SQLV_BLOB)
		text_param(dst, src->s, src->len);
}

/* Now (or now + ttl_ms) as Go's driver writes a UTC time.Time. */
static void utc_text(char *buf, size_t size, uint64_t plus_ms)
{
	struct timespec ts;
	struct tm tm;
	char day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(plus_ms / 1000);
	ts.tv_nsec += (long)(plus_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09ld+00:00", day, ts.tv_nsec);
}

static void sjob_run(struct sqljob *sj, sqlite3 *c)
{
	struct sjob *j = container_of(sj, struct sjob, j);

	if (sqldb_run_sql(c, j->sql, j->params, j->n, &sj->res) != 0)
		return;
	if (j->sql2 && sj->res.changes == 0)
		sqldb_run_sql(c, j->sql2, j->params2, j->n2, &sj->res);
}

static void sjob_drop(struct sqljob *sj)
{
	struct sjob *j = container_of(sj, struct sjob, j);

	sqlres_free(&sj->res);
	for (size_t i = 0; i < 3; i++) {
		if (j->params[i].type == SQLV_TEXT || j->params[i].type == SQLV_BLOB)
			free(j->params[i].s);
		if (j->params2[i].type == SQLV_TEXT || j->params2[i].type == SQLV_BLOB)
			free(j->params2[i].s);
	}
	free(j->sql);
	free(j->sql2);
	free(j);
}

static const char *const opnames[] = { "store get", "store set", "store has", "store delete" };

/* In the step: the call's results. [-0, +2, m] */
static int sjob_deliver(lua_State *L, struct sqljob *sj)
{
	struct sjob *j = container_of(sj, struct sjob, j);
	const struct sqlres *r = &sj->res;

	if (r->rc != 0) {
		if (j->op == S_HAS)
			lua_pushboolean(L, 0);
		else
			lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", opnames[j->op], r->err ? r->err : "error");
		lua_pushstring(L, r->rc == SQLITE_BUSY || r->rc == SQLITE_LOCKED
			       ? ERRORS_UNAVAILABLE : ERRORS_INTERNAL);
		lua_pushnil(L);
		lua_pushnil(L);
		lua_pushnil(L);
		lua_pushnil(L);
		errors_create(L, ERRORS_RETRY_NO);
		return 2;
	}
	switch (j->op) {
	case S_GET:
		if (r->nrows == 0)
			return errors_ret(L, ERRORS_NOT_FOUND, "store get: key not found");
		if (r->cells[0].type != SQLV_TEXT && r->cells[0].type != SQLV_BLOB)
			return errors_ret(L, ERRORS_INTERNAL, "store get: payload is not JSON text");
		if (json_decode_push(L, r->cells[0].s, r->cells[0].len) == 2)
			return 2;
		break;
	case S_HAS:
		lua_pushboolean(L, r->nrows > 0);
		break;
	case S_DELETE:
		lua_pushboolean(L, r->changes > 0);
		break;
	default:
		lua_pushboolean(L, 1);
	}
	lua_pushnil(L);
	return 2;
}

static struct sjob *sjob_new(struct lstore *ls, enum sop op, const char *key, size_t len)
{
	const struct reg_store *st = &ls->e->u.store;
	struct sjob *j = xcalloc(1, sizeof(*j));
	char now[64];
	char *q = NULL;
	size_t qn = 0;
	FILE *f = open_memstream(&q, &qn);

	j->op = op;
	j->j.run = sjob_run;
	j->j.drop = sjob_drop;
	j->j.deliver = sjob_deliver;
	utc_text(now, sizeof(now), 0);
	switch (op) {
	case S_GET:
	case S_HAS:
		fprintf(f, "SELECT %s FROM %s WHERE %s = ? AND (%s IS NULL OR %s > ?)",
			op == S_GET ? st->payload_column : "1", st->table_name,
			st->id_column, st->expire_column, st->expire_column);
		text_param(&j->params[0], key, len);
		text_param(&j->params[1], now, strlen(now));
		j->n = 2;
		break;
	case S_DELETE:
		fprintf(f, "DELETE FROM %s WHERE %s = ?", st->table_name, st->id_column);
		text_param(&j->params[0], key, len);
		j->n = 1;
		break;
	case S_SET:
		fprintf(f, "UPDATE %s SET %s = ?, %s = ? WHERE %s = ?", st->table_name,
			st->payload_column, st->expire_column, st->id_column);
		break;
	}
	fclose(f);
	j->sql = q;
	return j;
}

/* }==================================================================== */

/* Open the store id as store.get does; checked: make the store.get
** check (raises when denied). [-0, +1|2, e] */
static int open_store(lua_State *L, const char *id, int checked)
{
	struct proc *p = proc_of(L);
	const struct reg_entry *e;
	struct lstore *ls;

	if (id[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "resource id is required");
	/* The original raises on its store checks (RaiseError). */
	if (checked)
		security_require(L, "store.get", id, "not allowed to access store: %s", id);
	e = reg_find(p->rt->reg, id);
	if (e == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "failed to acquire resource: "
				  "resource not found: %s", id);
	if (e->k != REG_K_STORE_MEMORY && e->k != REG_K_STORE_SQL)
		return errors_ret(L, ERRORS_INVALID, "resource is not a store: %s", id);
	if (e->k == REG_K_STORE_SQL && e->u.store.database->k != REG_K_DB_SQLITE)
		return errors_ret(L, ERRORS_UNAVAILABLE, "failed to acquire resource: "
				  "store.sql over %s is not supported by this runtime yet: %s",
				  e->u.store.database->kind, id);
	ls = lua_newuserdatauv(L, sizeof(*ls), 0);
	memset(ls, 0, sizeof(*ls));
	ls->unchecked = !checked;
	if (e->k == REG_K_STORE_SQL) {
		ls->e = e;
		ls->db = sqldb_get(p->rt, e->u.store.database);
	} else {
		ls->s = memstore_get(p->rt, e);
	}
	luaL_setmetatable(L, STORE_META);
	return 1;
}

/* store.get(id) -> Store | nil, err. [-0, +1|2, e] */
static int store_get(lua_State *L)
{
	return open_store(L, luaL_checkstring(L, 1), 1);
}

int store_open_unchecked(lua_State *L, const char *id)
{
	luaopen_store(L);       /* the Store metatable */
	lua_pop(L, 1);
	return open_store(L, id, 0);
}

/* s:get(key) -> value, nil | nil, err. [-0, +2, m] */
static int s_get(lua_State *L)
{
	const char *key;
	size_t len;
	struct lstore *ls = checkkey(L, &key, &len);
	struct payload v = {0};
	int n;

	if (ls == NULL)
		return 2;
	key_check(L, ls, "store.key.get", key, "read key");
	if (ls->db) {
		proc_coro(L);
		return sqldb_wait(L, ls->db, &sjob_new(ls, S_GET, key, len)->j);
	}
	if (memstore_lookup(ls->s, key, len, &v) != 0)
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

/* store.sql set: UPDATE the row, or INSERT it when there was none (the
** original's exists-then-write, in one job so nothing runs between). */
static int sql_set(lua_State *L, struct lstore *ls, const char *key, size_t len,
		   uint64_t ttl_ms)
{
	const struct reg_store *st = &ls->e->u.store;
	const char *json;
	size_t jlen;
	struct sjob *j;
	char exp[64];
	char *q = NULL;
	size_t qn = 0;
	FILE *f;

	proc_coro(L);
	if (json_encode_push(L, 3) == 2) {
		lua_remove(L, -2);
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	json = lua_tolstring(L, -1, &jlen);
	j = sjob_new(ls, S_SET, key, len);
	text_param(&j->params[0], json, jlen);
	if (ttl_ms) {
		utc_text(exp, sizeof(exp), ttl_ms);
		text_param(&j->params[1], exp, strlen(exp));
	} else {
		j->params[1].type = SQLV_NULL;
	}
	text_param(&j->params[2], key, len);
	j->n = 3;
	lua_pop(L, 1);
	f = open_memstream(&q, &qn);
	fprintf(f, "INSERT INTO %s (%s, %s, %s) VALUES (?, ?, ?)", st->table_name,
		st->id_column, st->payload_column, st->expire_column);
	fclose(f);
	j->sql2 = q;
	copy_param(&j->params2[0], &j->params[2]);
	copy_param(&j->params2[1], &j->params[0]);
	copy_param(&j->params2[2], &j->params[1]);
	j->n2 = 3;
	return sqldb_wait(L, ls->db, &j->j);
}

/* s:set(key, value [, ttl]) -> true, nil | nil, err. ttl in seconds (a
** number; 0 or less: none). [-0, +2, m] */
static int s_set(lua_State *L)
{
	const char *key;
	size_t len;
	struct lstore *ls = checkkey(L, &key, &len);
	struct payload v;
	uint64_t ttl_ms = 0;
	int rc;

	if (ls == NULL)
		return 2;
	key_check(L, ls, "store.key.set", key, "write key");
	if (lua_isnoneornil(L, 3))
		return errors_ret(L, ERRORS_INVALID, "value is required");
	if (lua_gettop(L) >= 4) {
		lua_Number ttl = luaL_checknumber(L, 4);
		if (ttl > 0)
			ttl_ms = ttl * 1000 < 1 ? 1 : (uint64_t)ceil(ttl * 1000);
	}
	if (ls->db)
		return sql_set(L, ls, key, len, ttl_ms);
	if ((rc = payload_encode(L, 3, 1, &v)) < 0)
		return errors_ret(L, ERRORS_INTERNAL, "failed to transcode: %s",
				  payload_strerror(rc));
	if (memstore_set(ls->s, key, len, &v, ttl_ms) == -ENOSPC) {
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

/* s:has(key) -> boolean, nil and s:delete(key) -> true | false, nil:
** op (S_HAS, S_DELETE) on a database's worker, or on the memory store.
** [-0, +2, m] */
static int key_op(lua_State *L, int op)
{
	const char *key;
	size_t len;
	struct lstore *ls = checkkey(L, &key, &len);

	if (ls == NULL)
		return 2;
	if (op == S_HAS)
		key_check(L, ls, "store.key.has", key, "check key existence");
	else
		key_check(L, ls, "store.key.delete", key, "delete key");
	if (ls->db) {
		proc_coro(L);
		return sqldb_wait(L, ls->db, &sjob_new(ls, op, key, len)->j);
	}
	lua_pushboolean(L, op == S_HAS ? memstore_has(ls->s, key, len) :
			   memstore_delete(ls->s, key, len) == 0);
	lua_pushnil(L);
	return 2;
}

static int s_has(lua_State *L) { return key_op(L, S_HAS); }
static int s_delete(lua_State *L) { return key_op(L, S_DELETE); }

/* s:release() -> true. Idempotent. [-0, +1, -] */
static int s_release(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_META);
	ls->s = NULL;
	ls->db = NULL;
	lua_pushboolean(L, 1);
	return 1;
}

static int s_tostring(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_META);
	lua_pushstring(L, ls->s || ls->db ? "store.Store{}" : "store.Store{released}");
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
