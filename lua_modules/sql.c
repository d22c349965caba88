/*
** lua_modules/sql.c: require("sql"), the original runtime's SQL module
** (rt:runtime/lua/modules/sql, docs:lua/storage/sql.md) over SQLite.
**
** sql.get(id) gives a DB handle for a db.sql.sqlite entry (a
** db.sql.postgres entry gets the handles of sqlpg.c); db:query,
** :execute, :prepare and :begin, statements and transactions (with
** savepoints) all block the calling coroutine and run on the database's
** worker thread (runtime/sqldb.h), so the shard keeps running the other
** processes meanwhile. Parameters are converted to C values here, before
** the job leaves, and rows to Lua tables in the process's step, after it
** comes back: no Lua value crosses a thread.
**
** Values: Lua integers bind as INTEGER, floats as REAL, strings as TEXT,
** booleans as 1/0, nil and sql.NULL as NULL; sql.as.int/float/text/binary
** force a type (binary binds a BLOB). Rows come back as tables keyed by
** column name: INTEGER as an integer, REAL as a float, TEXT and BLOB as
** strings, NULL as an absent key, a BOOLEAN column as a boolean.
**
** Errors come back as `nil, err` (never raised): bad arguments, released
** handles, closed statements and finished transactions are INVALID;
** SQLite's own errors carry a kind from their code (syntax and missing
** tables INVALID, constraints CONFLICT, a locked database UNAVAILABLE and
** retryable) and details {sqlite_code, sqlite_extended_code}, as the
** original's cgo build adds.
**
** Thread affinity: the process's thread; the job run() functions run on
** the database worker and touch only the job.
*/
#include "lua_modules/modules.h"

#include <lauxlib.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/errors.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/rt.h"
#include "runtime/sqldb.h"
#include "lua_modules/security.h"
#include "sql_int.h"

#define DB_META    "wippy.sql.DB"
#define STMT_META  "wippy.sql.Statement"
#define TX_META    "wippy.sql.Transaction"
#define VALUE_META "wippy.sql.Value"

/* A DB handle: one acquisition of a database resource. */
struct ldb {
	struct sqldb *db;
	int released;
};

/* A prepared statement. st lives on the worker's connection: only jobs
** touch it. owner is the transaction it belongs to (0: the database's). */
struct lstmt {
	struct sqldb *db;
	sqlite3_stmt *st;
	uint64_t owner;
	int closed;
};

/* A transaction: the span of the connection it holds has its token. */
struct ltx {
	struct sqldb *db;
	uint64_t token;
	int done;
};

/* sql.as.* values and sql.NULL; TEXT and BLOB keep their bytes in the
** userdata's user value (a Lua string), so no finalizer is needed. */
struct lvalue {
	int type;               /* enum sqlv_type */
	int64_t i;
	double f;
};

/* {==== Errors ====} */

static const char *kind_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_ERROR: case SQLITE_RANGE: case SQLITE_MISMATCH:
	case SQLITE_MISUSE: case SQLITE_TOOBIG:
		return ERRORS_INVALID;
	case SQLITE_CONSTRAINT:
		return ERRORS_CONFLICT;
	case SQLITE_BUSY: case SQLITE_LOCKED:
		return ERRORS_UNAVAILABLE;
	case SQLITE_INTERRUPT:
		return ERRORS_CANCELED;
	case SQLITE_CANTOPEN: case SQLITE_IOERR: case SQLITE_FULL:
	case SQLITE_READONLY: case SQLITE_CORRUPT: case SQLITE_NOTADB:
	case SQLITE_PERM: case SQLITE_NOMEM:
		return ERRORS_INTERNAL;
	default:
		return ERRORS_UNKNOWN;
	}
}

/* Push nil and the error of a failed job: "op: message", with SQLite's
** codes in details. Returns 2. [-0, +2, m] */
static int push_sql_error(lua_State *L, const char *op, const struct sqlres *r)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", op, r->err ? r->err : "unknown error");
	lua_pushstring(L, kind_of(r->rc));
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, r->rc);
	lua_setfield(L, -2, "sqlite_code");
	lua_pushinteger(L, r->xrc);
	lua_setfield(L, -2, "sqlite_extended_code");
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	errors_create(L, (r->rc == SQLITE_BUSY || r->rc == SQLITE_LOCKED)
		      ? ERRORS_RETRY_YES : ERRORS_RETRY_NO);
	return 2;
}

/* }==================================================================== */

/* {==== Parameters: Lua -> C, on the process's thread ====} */

/*
** Convert the parameter table at idx (nil or absent: none) into *out.
** Returns the count, or -1 with `nil, err` pushed (INVALID): not a table,
** keys that are not positions 1..n, or a value SQL cannot take. Holes are
** NULL, as the original keeps nil slots up to the table's largest index.
** [-0, +0 or +2, m]
*/
long sql__check_params(lua_State *L, int idx, struct sqlv **out)
{
	lua_Integer maxn = 0;
	struct sqlv *v;

	*out = NULL;
	if (lua_isnoneornil(L, idx))
		return 0;
	if (!lua_istable(L, idx)) {
		errors_ret(L, ERRORS_INVALID, "check params: parameters must be a "
			   "table, got %s", luaL_typename(L, idx));
		return -1;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    lua_tointeger(L, -1) > 65536) {
			lua_pop(L, 1);
			errors_ret(L, ERRORS_INVALID, "check params: only positional "
				   "parameters (array-like tables) are supported");
			return -1;
		}
		if (lua_tointeger(L, -1) > maxn)
			maxn = lua_tointeger(L, -1);
	}
	if (maxn == 0)
		return 0;
	v = xcalloc((size_t)maxn, sizeof(*v));
	for (lua_Integer i = 1; i <= maxn; i++) {
		struct sqlv *p = &v[i - 1];
		const char *s;
		size_t len;
		struct lvalue *lv;

		switch (lua_rawgeti(L, idx, i)) {
		case LUA_TNIL:
			p->type = SQLV_NULL;
			break;
		case LUA_TBOOLEAN:	/* 1/0 on SQLite, true/false on Postgres */
			p->type = SQLV_BOOL;
			p->i = lua_toboolean(L, -1);
			break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, -1)) {
				p->type = SQLV_INT;
				p->i = lua_tointeger(L, -1);
			} else {
				p->type = SQLV_FLOAT;
				p->f = lua_tonumber(L, -1);
			}
			break;
		case LUA_TSTRING:
			s = lua_tolstring(L, -1, &len);
			p->type = SQLV_TEXT;
			p->len = len;
			p->s = xmalloc(len + 1);
			memcpy(p->s, s, len + 1);
			break;
		case LUA_TUSERDATA:
			if ((lv = luaL_testudata(L, -1, VALUE_META)) != NULL) {
				p->type = lv->type;
				p->i = lv->i;
				if (lv->type == SQLV_FLOAT)
					p->f = lv->f;
				if (lv->type == SQLV_TEXT || lv->type == SQLV_BLOB) {
					lua_getiuservalue(L, -1, 1);
					s = lua_tolstring(L, -1, &len);
					p->len = len;
					p->s = xmalloc(len + 1);
					memcpy(p->s, s ? s : "", len);
					p->s[len] = '\0';
					lua_pop(L, 1);
				}
				break;
			}
			/* fall through */
		default:
			sqlv_free(v, (size_t)maxn);
			errors_ret(L, ERRORS_INVALID, "check params: unsupported "
				   "parameter type %s at position %d",
				   luaL_typename(L, -1), (int)i);
			lua_remove(L, -3);	/* the value */
			return -1;
		}
		lua_pop(L, 1);
	}
	*out = v;
	return (long)maxn;
}

/* }==================================================================== */

/* {==== Jobs ====} */

enum op { OP_ROWS, OP_EXEC, OP_PREPARE, OP_ST_ROWS, OP_ST_EXEC, OP_ST_CLOSE,
	  OP_BEGIN, OP_COMMIT, OP_ROLLBACK, OP_SAVEPOINT, OP_FINALIZE };

enum result { R_ROWS, R_EXEC, R_TRUE, R_STMT, R_TX, R_NONE };

struct ljob {
	struct sqljob j;
	enum op op;
	enum result result;
	const char *opname;     /* error prefix, as the original's */
	char *sql;
	struct sqlv *params;
	size_t n;
	sqlite3_stmt *st;       /* statement ops; prepare's result */
	uint64_t token;         /* begin: the new transaction */
	int ref;                /* registry ref for the result (a tx) */
	struct lstmt *target;   /* stmt close: marks it closed */
};

static void job_run(struct sqljob *sj, sqlite3 *c)
{
	struct ljob *j = container_of(sj, struct ljob, j);
	struct sqlres *r = &j->j.res;
	int rc;

	switch (j->op) {
	case OP_ROWS:
	case OP_EXEC:
	case OP_SAVEPOINT:
		sqldb_run_sql(c, j->sql, j->params, j->n, r);
		break;
	case OP_PREPARE:
		rc = sqlite3_prepare_v2(c, j->sql, -1, &j->st, NULL);
		if (rc != SQLITE_OK)
			sqldb_set_error(c, rc, r);
		else if (j->st == NULL) {
			r->rc = r->xrc = SQLITE_MISUSE;
			r->err = xstrdup("empty statement");
		}
		break;
	case OP_ST_ROWS:
	case OP_ST_EXEC:
		sqldb_run_stmt(c, j->st, j->params, j->n, r);
		break;
	case OP_ST_CLOSE:
	case OP_FINALIZE:
		sqlite3_finalize(j->st);
		j->st = NULL;
		break;
	case OP_BEGIN:
		sqldb_run_sql(c, "BEGIN", NULL, 0, r);
		break;
	case OP_COMMIT:
		if (sqldb_run_sql(c, "COMMIT", NULL, 0, r) != 0 &&
		    !sqlite3_get_autocommit(c))
			sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		break;
	case OP_ROLLBACK:
		if (!sqlite3_get_autocommit(c))
			sqldb_run_sql(c, "ROLLBACK", NULL, 0, r);
		break;
	}
}

static void finalize_later(struct sqldb *db, sqlite3_stmt *st);
static void rollback_later(struct sqldb *db, uint64_t token);

/* Free a job; what it made for a process that never got it is undone on
** the worker (a prepared statement finalized, a begun transaction rolled
** back). */
static void job_drop(struct sqljob *sj)
{
	struct ljob *j = container_of(sj, struct ljob, j);

	if (j->result == R_STMT && j->st)
		finalize_later(j->j._db, j->st);
	if (j->result == R_TX && j->j.res.rc == 0 && j->token)
		rollback_later(j->j._db, j->token);
	sqlres_free(&j->j.res);
	sqlv_free(j->params, j->n);
	free(j->sql);
	free(j);
}

static struct ljob *job_new(enum op op, enum result res, const char *opname)
{
	struct ljob *j = xcalloc(1, sizeof(*j));
	j->op = op;
	j->result = res;
	j->opname = opname;
	j->ref = LUA_NOREF;
	j->j.run = job_run;
	j->j.drop = job_drop;
	return j;
}

static void finalize_later(struct sqldb *db, sqlite3_stmt *st)
{
	struct ljob *j = job_new(OP_FINALIZE, R_NONE, "finalize");
	j->st = st;
	sqldb_post(db, &j->j);
}

static void rollback_later(struct sqldb *db, uint64_t token)
{
	struct ljob *j = job_new(OP_ROLLBACK, R_NONE, "rollback");
	j->j.owner = token;
	j->j.flags = SQLJ_ENDS;
	sqldb_post(db, &j->j);
}

static void push_value(lua_State *L, const struct sqlv *v)
{
	switch (v->type) {
	case SQLV_INT:   lua_pushinteger(L, v->i); break;
	case SQLV_BOOL:  lua_pushboolean(L, (int)v->i); break;
	case SQLV_FLOAT: lua_pushnumber(L, v->f); break;
	case SQLV_TEXT:
	case SQLV_BLOB:  lua_pushlstring(L, v->s, v->len); break;
	default:         lua_pushnil(L);
	}
}

static void tx_meta(lua_State *L);
static void stmt_meta(lua_State *L);

/* In the step (sqldb.h): the coroutine's results. [-0, +1|2, m] */
static int job_deliver(lua_State *L, struct sqljob *sj)
{
	struct ljob *j = container_of(sj, struct ljob, j);
	struct sqlres *r = &j->j.res;

	if (r->rc != 0) {
		if (j->ref != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, j->ref);
		j->ref = LUA_NOREF;
		return push_sql_error(L, j->opname, r);
	}
	switch (j->result) {
	case R_ROWS:
		lua_createtable(L, (int)r->nrows, 0);
		for (size_t i = 0; i < r->nrows; i++) {
			const struct sqlv *row = r->cells + i * (size_t)r->ncols;
			lua_createtable(L, 0, r->ncols);
			for (int c = 0; c < r->ncols; c++) {
				if (row[c].type == SQLV_NULL)
					continue;
				push_value(L, &row[c]);
				lua_setfield(L, -2, r->cols[c]);
			}
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case R_EXEC:
		lua_createtable(L, 0, 2);
		lua_pushinteger(L, r->last_id);
		lua_setfield(L, -2, "last_insert_id");
		lua_pushinteger(L, r->changes);
		lua_setfield(L, -2, "rows_affected");
		break;
	case R_STMT: {
		struct lstmt *s = lua_newuserdatauv(L, sizeof(*s), 1);
		memset(s, 0, sizeof(*s));
		s->db = j->j._db;
		s->owner = j->j.owner;
		s->st = j->st;
		j->st = NULL;	/* the userdata owns it now */
		proc_note_finalizer(L);
		stmt_meta(L);
		lua_setmetatable(L, -2);
		if (j->ref != LUA_NOREF) {	/* the transaction it belongs to */
			lua_rawgeti(L, LUA_REGISTRYINDEX, j->ref);
			lua_setiuservalue(L, -2, 1);
			luaL_unref(L, LUA_REGISTRYINDEX, j->ref);
			j->ref = LUA_NOREF;
		}
		break;
	}
	case R_TX: {
		struct ltx *t = lua_newuserdatauv(L, sizeof(*t), 0);
		t->db = j->j._db;
		t->token = j->token;
		t->done = 0;
		j->token = 0;	/* the userdata owns the span now */
		proc_note_finalizer(L);
		tx_meta(L);
		lua_setmetatable(L, -2);
		break;
	}
	default:
		lua_pushboolean(L, 1);
	}
	lua_pushnil(L);
	return 2;
}

/* Queue a job for the running coroutine. The job is freed on any error. */
static int submit(lua_State *L, struct sqldb *db, struct ljob *j)
{
	j->j.deliver = job_deliver;
	return sqldb_wait(L, db, &j->j);
}

/* }==================================================================== */

/* {==== sql.get and the DB handle ====} */

void sql__meta(lua_State *L, const char *name, const luaL_Reg *methods,
	       lua_CFunction gc, lua_CFunction tostr)
{
	if (luaL_newmetatable(L, name)) {
		lua_newtable(L);	/* luaL_newlib needs an array, not a pointer */
		luaL_setfuncs(L, methods, 0);
		lua_setfield(L, -2, "__index");
		if (gc) {
			lua_pushcfunction(L, gc);
			lua_setfield(L, -2, "__gc");
		}
		if (tostr) {
			lua_pushcfunction(L, tostr);
			lua_setfield(L, -2, "__tostring");
		}
	}
}

static struct ldb *checkdb(lua_State *L)
{
	return luaL_checkudata(L, 1, DB_META);
}

/* A live handle, or NULL with `nil, err` pushed. */
static struct sqldb *live_db(lua_State *L, struct ldb *d)
{
	if (d->released) {
		errors_ret(L, ERRORS_INVALID, "database resource is released");
		return NULL;
	}
	return d->db;
}

/* sql.get(id) -> DB, nil | nil, err. [-0, +2, m] */
static int sql_get(lua_State *L)
{
	struct proc *p = proc_of(L);
	const char *id = luaL_checkstring(L, 1);
	const struct reg_entry *e;
	struct ldb *d;
	int r;

	if (id[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "resource id is required");
	/* The original's check, before the resource is looked up: nil, err. */
	if ((r = security_check(L, "db.get", id, "not allowed to access database: %s", id)))
		return r;
	e = reg_find(p->rt->reg, id);
	if (e == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "acquire resource: resource "
				  "not found: %s", id);
	if (e->k == REG_K_DB_POSTGRES)
		return sqlpg_get(L, e);
	if (e->k != REG_K_DB_SQLITE)
		return errors_ret(L, ERRORS_INVALID, "resource is not a database: %s", id);
	d = lua_newuserdatauv(L, sizeof(*d), 0);
	d->db = sqldb_get(p->rt, e);
	d->released = 0;
	luaL_setmetatable(L, DB_META);	/* made in luaopen_sql */
	lua_pushnil(L);
	return 2;
}

static int db_type(lua_State *L)
{
	checkdb(L);
	lua_pushliteral(L, "sqlite");
	lua_pushnil(L);
	return 2;
}

/* A query or execute job from (sql, params) at 2 and 3. Returns NULL with
** `nil, err` pushed on bad arguments. */
static struct ljob *sql_job(lua_State *L, enum op op, enum result res,
			    const char *opname, uint64_t owner)
{
	const char *sql = luaL_checkstring(L, 2);
	struct sqlv *params;
	long n;
	struct ljob *j;

	proc_coro(L);	/* raises before anything is allocated */
	if ((n = sql__check_params(L, 3, &params)) < 0)
		return NULL;
	j = job_new(op, res, opname);
	j->sql = xstrdup(sql);
	j->params = params;
	j->n = (size_t)n;
	j->j.owner = owner;
	return j;
}

static int db_query(lua_State *L)
{
	struct sqldb *db = live_db(L, checkdb(L));
	struct ljob *j;

	if (db == NULL)
		return 2;
	if ((j = sql_job(L, OP_ROWS, R_ROWS, "query", 0)) == NULL)
		return 2;
	return submit(L, db, j);
}

static int db_execute(lua_State *L)
{
	struct sqldb *db = live_db(L, checkdb(L));
	struct ljob *j;

	if (db == NULL)
		return 2;
	if ((j = sql_job(L, OP_EXEC, R_EXEC, "execute", 0)) == NULL)
		return 2;
	return submit(L, db, j);
}

/* prepare on the database (owner 0) or in a transaction (txidx > 0). */
static int prepare_on(lua_State *L, struct sqldb *db, uint64_t owner, int txidx)
{
	const char *sql = luaL_checkstring(L, 2);
	struct ljob *j;

	proc_coro(L);
	j = job_new(OP_PREPARE, R_STMT, txidx > 0 ? "tx prepare" : "prepare");
	j->sql = xstrdup(sql);
	j->j.owner = owner;
	if (txidx > 0) {
		lua_pushvalue(L, txidx);
		j->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	return submit(L, db, j);
}

static int db_prepare(lua_State *L)
{
	struct sqldb *db = live_db(L, checkdb(L));

	if (db == NULL)
		return 2;
	return prepare_on(L, db, 0, 0);
}

static const char *const isolations[] = { "default", "read_uncommitted",
	"read_committed", "write_committed", "repeatable_read", "serializable", NULL };

const char *sql__isolation(lua_State *L, int idx, int *bad)
{
	const char *iso = NULL;

	*bad = 0;
	if (lua_istable(L, idx) && lua_getfield(L, idx, "isolation") == LUA_TSTRING) {
		int i;
		iso = lua_tostring(L, -1);
		for (i = 0; isolations[i] && strcmp(isolations[i], iso); i++)
			;
		lua_pop(L, 1);
		if (isolations[i] == NULL) {
			*bad = 1;
			errors_ret(L, ERRORS_INVALID, "invalid isolation level: %s", iso);
			return NULL;
		}
		return i == 0 ? NULL : isolations[i];	/* strings of the table */
	}
	if (lua_istable(L, idx))
		lua_pop(L, 1);
	return NULL;
}

/* db:begin([{isolation, read_only}]): SQLite has one isolation level
** (serializable) and no read-only transactions; the options are checked
** as the original checks them and otherwise have no effect. */
static int db_begin(lua_State *L)
{
	struct sqldb *db = live_db(L, checkdb(L));
	struct ljob *j;

	int bad;

	if (db == NULL)
		return 2;
	(void)sql__isolation(L, 2, &bad);
	if (bad)
		return 2;
	proc_coro(L);
	j = job_new(OP_BEGIN, R_TX, "begin");
	j->token = sqldb_token();
	j->j.owner = j->token;
	j->j.flags = SQLJ_BEGINS;
	return submit(L, db, j);
}

static int db_release(lua_State *L)
{
	struct ldb *d = checkdb(L);
	d->released = 1;
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

static int db_stats(lua_State *L)
{
	struct sqldb *db = live_db(L, checkdb(L));
	struct sqldb_stats st;

	if (db == NULL)
		return 2;
	sqldb_get_stats(db, &st);
	lua_createtable(L, 0, 9);
	lua_pushinteger(L, 1);
	lua_setfield(L, -2, "max_open_connections");
	lua_pushinteger(L, st.open);
	lua_setfield(L, -2, "open_connections");
	lua_pushinteger(L, st.open && st.in_use);
	lua_setfield(L, -2, "in_use");
	lua_pushinteger(L, st.open && !st.in_use);
	lua_setfield(L, -2, "idle");
	lua_pushinteger(L, (lua_Integer)st.waited);
	lua_setfield(L, -2, "wait_count");
	lua_pushliteral(L, "0s");
	lua_setfield(L, -2, "wait_duration");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "max_idle_closed");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "max_idle_time_closed");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "max_lifetime_closed");
	lua_pushnil(L);
	return 2;
}

static int db_tostring(lua_State *L)
{
	struct ldb *d = checkdb(L);
	lua_pushfstring(L, "sql.DB(%s)", sqldb_entry(d->db)->id);
	return 1;
}

static const luaL_Reg db_methods[] = {
	{"type", db_type}, {"query", db_query}, {"execute", db_execute},
	{"prepare", db_prepare}, {"begin", db_begin}, {"release", db_release},
	{"stats", db_stats}, {NULL, NULL}
};

static void db_meta(lua_State *L)
{
	sql__meta(L, DB_META, db_methods, NULL, db_tostring);
}

/* }==================================================================== */

/* {==== Statements ====} */

/* A statement that can run, or NULL with `nil, err` pushed: not closed,
** and if it belongs to a transaction, that one still active. */
static struct lstmt *live_stmt(lua_State *L)
{
	struct lstmt *s = luaL_checkudata(L, 1, STMT_META);
	struct ltx *t;

	if (!s->closed && lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA &&
	    (t = lua_touserdata(L, -1)) != NULL && t->done)
		s->closed = 1;	/* database/sql closes a tx's statements with it */
	lua_pop(L, 1);
	if (s->closed) {
		errors_ret(L, ERRORS_INVALID, "statement is closed");
		return NULL;
	}
	return s;
}

static int stmt_run(lua_State *L, enum op op, enum result res, const char *opname)
{
	struct lstmt *s = live_stmt(L);
	struct sqlv *params;
	long n;
	struct ljob *j;

	if (s == NULL)
		return 2;
	proc_coro(L);
	if ((n = sql__check_params(L, 2, &params)) < 0)
		return 2;
	j = job_new(op, res, opname);
	j->st = s->st;
	j->params = params;
	j->n = (size_t)n;
	j->j.owner = s->owner;
	return submit(L, s->db, j);
}

static int stmt_query(lua_State *L)
{
	return stmt_run(L, OP_ST_ROWS, R_ROWS, "stmt query");
}

static int stmt_execute(lua_State *L)
{
	return stmt_run(L, OP_ST_EXEC, R_EXEC, "stmt execute");
}

/* stmt:close(): true. The statement is closed from now on, whatever the
** finalize job reports. */
static int stmt_close(lua_State *L)
{
	struct lstmt *s = live_stmt(L);
	struct ljob *j;

	if (s == NULL)
		return 2;
	proc_coro(L);
	j = job_new(OP_ST_CLOSE, R_TRUE, "stmt close");
	j->st = s->st;
	j->j.owner = s->owner;
	s->st = NULL;
	s->closed = 1;
	return submit(L, s->db, j);
}

static int stmt_gc(lua_State *L)
{
	struct lstmt *s = lua_touserdata(L, 1);
	if (s && s->st) {
		finalize_later(s->db, s->st);
		s->st = NULL;
	}
	if (s)
		s->closed = 1;
	return 0;
}

static void stmt_meta(lua_State *L)
{
	static const luaL_Reg m[] = {
		{"query", stmt_query}, {"execute", stmt_execute},
		{"close", stmt_close}, {NULL, NULL}
	};
	sql__meta(L, STMT_META, m, stmt_gc, NULL);
}

/* }==================================================================== */

/* {==== Transactions ====} */

static struct ltx *live_tx(lua_State *L)
{
	struct ltx *t = luaL_checkudata(L, 1, TX_META);
	if (t->done) {
		errors_ret(L, ERRORS_INVALID, "transaction is not active");
		return NULL;
	}
	return t;
}

static int tx_db_type(lua_State *L)
{
	if (live_tx(L) == NULL)
		return 2;
	lua_pushliteral(L, "sqlite");
	lua_pushnil(L);
	return 2;
}

static int tx_query(lua_State *L)
{
	struct ltx *t = live_tx(L);
	struct ljob *j;

	if (t == NULL)
		return 2;
	if ((j = sql_job(L, OP_ROWS, R_ROWS, "tx query", t->token)) == NULL)
		return 2;
	return submit(L, t->db, j);
}

static int tx_execute(lua_State *L)
{
	struct ltx *t = live_tx(L);
	struct ljob *j;

	if (t == NULL)
		return 2;
	if ((j = sql_job(L, OP_EXEC, R_EXEC, "tx execute", t->token)) == NULL)
		return 2;
	return submit(L, t->db, j);
}

static int tx_prepare(lua_State *L)
{
	struct ltx *t = live_tx(L);

	if (t == NULL)
		return 2;
	return prepare_on(L, t->db, t->token, 1);
}

/* commit / rollback: the transaction is over from now on, and so is its
** span of the connection (SQLJ_ENDS). */
static int tx_end(lua_State *L, enum op op, const char *opname)
{
	struct ltx *t = live_tx(L);
	struct ljob *j;

	if (t == NULL)
		return 2;
	proc_coro(L);
	j = job_new(op, R_TRUE, opname);
	j->j.owner = t->token;
	j->j.flags = SQLJ_ENDS;
	t->done = 1;
	return submit(L, t->db, j);
}

static int tx_commit(lua_State *L)   { return tx_end(L, OP_COMMIT, "tx commit"); }
static int tx_rollback(lua_State *L) { return tx_end(L, OP_ROLLBACK, "tx rollback"); }

/* Savepoint names go into the SQL text: letters, digits and _ only. */
const char *sql__savepoint_name(lua_State *L, int idx)
{
	size_t len;
	const char *name = luaL_checklstring(L, idx, &len);

	if (len == 0) {
		errors_ret(L, ERRORS_INVALID, "savepoint name is required");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_')) {
			errors_ret(L, ERRORS_INVALID, "savepoint name can only "
				   "contain alphanumeric characters and underscores");
			return NULL;
		}
	}
	return name;
}

static int tx_savepoint_op(lua_State *L, const char *verb)
{
	struct ltx *t = live_tx(L);
	const char *name;
	struct ljob *j;

	if (t == NULL)
		return 2;
	if ((name = sql__savepoint_name(L, 2)) == NULL)
		return 2;
	proc_coro(L);
	j = job_new(OP_SAVEPOINT, R_TRUE, "savepoint");
	lua_pushfstring(L, "%s %s", verb, name);
	j->sql = xstrdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	j->j.owner = t->token;
	return submit(L, t->db, j);
}

static int tx_savepoint(lua_State *L)   { return tx_savepoint_op(L, "SAVEPOINT"); }
static int tx_rollback_to(lua_State *L) { return tx_savepoint_op(L, "ROLLBACK TO SAVEPOINT"); }
static int tx_release(lua_State *L)     { return tx_savepoint_op(L, "RELEASE SAVEPOINT"); }

/* A transaction dropped while active is rolled back, as the original's
** resource cleanup does at the end of the unit of work. */
static int tx_gc(lua_State *L)
{
	struct ltx *t = lua_touserdata(L, 1);
	if (t && !t->done && t->token) {
		t->done = 1;
		rollback_later(t->db, t->token);
	}
	return 0;
}

static void tx_meta(lua_State *L)
{
	static const luaL_Reg m[] = {
		{"db_type", tx_db_type}, {"query", tx_query}, {"execute", tx_execute},
		{"prepare", tx_prepare}, {"commit", tx_commit}, {"rollback", tx_rollback},
		{"savepoint", tx_savepoint}, {"rollback_to", tx_rollback_to},
		{"release", tx_release}, {NULL, NULL}
	};
	sql__meta(L, TX_META, m, tx_gc, NULL);
}

/* }==================================================================== */

/* {==== sql.as and sql.NULL ====} */

/* A typed value; for TEXT/BLOB the string at the top is popped into its
** user value. [-(0|1), +1, m] */
static struct lvalue *new_value(lua_State *L, int type, int with_string)
{
	struct lvalue *v = lua_newuserdatauv(L, sizeof(*v), 1);
	memset(v, 0, sizeof(*v));
	v->type = type;
	luaL_setmetatable(L, VALUE_META);
	if (with_string) {
		lua_insert(L, -2);
		lua_setiuservalue(L, -2, 1);
	}
	return v;
}

/* The original's casts: a value of another Lua type gives the type's
** zero (0, 0.0, "") and binary of a non-string gives NULL. */
static int as_int(lua_State *L)
{
	lua_Integer i = 0;
	if (lua_type(L, 1) == LUA_TNUMBER)
		i = lua_isinteger(L, 1) ? lua_tointeger(L, 1)
					: (lua_Integer)lua_tonumber(L, 1);
	new_value(L, SQLV_INT, 0)->i = i;
	return 1;
}

static int as_float(lua_State *L)
{
	double f = lua_type(L, 1) == LUA_TNUMBER ? lua_tonumber(L, 1) : 0.0;
	new_value(L, SQLV_FLOAT, 0)->f = f;
	return 1;
}

static int as_text(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER)
		lua_pushstring(L, lua_tostring(L, 1));
	else
		lua_pushliteral(L, "");
	new_value(L, SQLV_TEXT, 1);
	return 1;
}

static int as_binary(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TSTRING) {
		new_value(L, SQLV_NULL, 0);
		return 1;
	}
	lua_pushvalue(L, 1);
	new_value(L, SQLV_BLOB, 1);
	return 1;
}

static int as_null(lua_State *L)
{
	new_value(L, SQLV_NULL, 0);
	return 1;
}

static int value_tostring(lua_State *L)
{
	static const char *const names[] = { "null", "int", "float", "text", "binary", "bool" };
	struct lvalue *v = luaL_checkudata(L, 1, VALUE_META);
	lua_pushfstring(L, "sql.%s", names[v->type]);
	return 1;
}

/* }==================================================================== */

static void set_consts(lua_State *L, const char *field, const char *const *kv)
{
	lua_newtable(L);
	for (; kv[0]; kv += 2) {
		lua_pushstring(L, kv[1]);
		lua_setfield(L, -2, kv[0]);
	}
	lua_setfield(L, -2, field);
}

int luaopen_sql(lua_State *L)
{
	static const luaL_Reg funcs[] = { {"get", sql_get}, {NULL, NULL} };
	static const luaL_Reg as[] = {
		{"int", as_int}, {"float", as_float}, {"text", as_text},
		{"binary", as_binary}, {"null", as_null}, {NULL, NULL}
	};
	/* Upper-case keys only, as the original's tables. */
	static const char *const types[] = { "POSTGRES", "postgres", "MYSQL", "mysql",
		"SQLITE", "sqlite", "MSSQL", "mssql", "ORACLE", "oracle",
		"UNKNOWN", "unknown", NULL };
	static const char *const iso[] = { "DEFAULT", "default",
		"READ_UNCOMMITTED", "read_uncommitted", "READ_COMMITTED", "read_committed",
		"WRITE_COMMITTED", "write_committed", "REPEATABLE_READ", "repeatable_read",
		"SERIALIZABLE", "serializable", NULL };

	if (luaL_newmetatable(L, VALUE_META)) {
		lua_pushcfunction(L, value_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	tx_meta(L);
	stmt_meta(L);
	db_meta(L);
	lua_pop(L, 3);
	sqlpg_open(L);
	luaL_newlib(L, funcs);
	set_consts(L, "type", types);
	set_consts(L, "isolation", iso);
	luaL_newlib(L, as);
	lua_setfield(L, -2, "as");
	new_value(L, SQLV_NULL, 0);
	lua_setfield(L, -2, "NULL");
	return 1;
}
