/*
** lua_modules/sqlpg.c: the sql module's handles on db.sql.postgres
** entries (the original's lib/pq driver under database/sql), over
** runtime/pgdb.h: DB, Statement and Transaction with the same methods and
** results as the SQLite ones of sql.c.
**
** Every call parks only its coroutine: the job goes to a connection of
** the caller's shard, driven from the ring, and the rows come back as
** libpq results that are turned into Lua tables in the process's step.
**
** As the original: `?` placeholders become $1, $2... (outside quotes,
** comments, dollar quotes and the jsonb operators ?| ?&), so code written
** for SQLite runs unchanged; $n works as well. A query without parameters
** goes through the simple protocol (several statements allowed), one with
** parameters through the extended one. Values come back as lib/pq decodes
** them and the module converts them: int2/4/8 integers, float4/8 floats,
** bool booleans, bytea its bytes, timestamps/dates/times in Go's
** time.Time String() form ("2024-01-02 03:04:05 +0000 UTC"), everything
** else (numeric, json, jsonb, uuid, text...) its text; NULL an absent key.
** execute gives {last_insert_id = 0 (lib/pq has none), rows_affected}.
**
** Errors: "op: pq: message" with a kind from the SQLSTATE (constraints
** CONFLICT, syntax and missing objects INVALID, permissions and
** authentication PERMISSION_DENIED, connection failures UNAVAILABLE and
** retryable, ...) and details {sqlstate, detail, constraint, table,
** column, schema} where the server gives them.
**
** Thread affinity: the process's thread.
*/
#include "lua_modules/sql_int.h"

#include <lauxlib.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/errors.h"
#include "runtime/pgdb.h"
#include "runtime/proc.h"
#include "runtime/registry.h"

#define PGDB_META   "wippy.sql.PgDB"
#define PGSTMT_META "wippy.sql.PgStatement"
#define PGTX_META   "wippy.sql.PgTransaction"

struct lpgdb {
	struct pgdb *db;
	int released;
};

/* A statement: its text, checked by the server at prepare. Each run
** goes to a connection of the pool (or the transaction's), which
** prepares it as a named statement the first time it sees the text
** (runtime/pgdb.h, PGJ_STMT). in_tx: it belongs to the transaction
** whose handle is the user value. */
struct lpgstmt {
	struct pgdb *db;
	char *sql;
	int in_tx;
	int closed;
};

struct lpgtx {
	struct pgdb *db;
	struct pgtx *tx;
	struct proc *p;
	int done;
};

/* {==== Placeholders ====} */

/* End of a dollar-quoted string starting at q[i] == '$', or 0. */
static size_t dollar_end(const char *q, size_t n, size_t i)
{
	size_t j = i + 1;
	while (j < n && (q[j] == '_' || (q[j] >= 'a' && q[j] <= 'z') ||
			 (q[j] >= 'A' && q[j] <= 'Z') || (q[j] >= '0' && q[j] <= '9')))
		j++;
	if (j >= n || q[j] != '$')
		return 0;
	size_t tl = j - i + 1;
	for (size_t k = j + 1; k + tl <= n; k++)
		if (memcmp(q + k, q + i, tl) == 0)
			return k + tl;
	return 0;
}

/* sql with `?` rewritten to $n as the original's normalizePlaceholders
** does for Postgres. Returns a malloc'd string. */
static char *dollar_placeholders(const char *q, size_t n)
{
	size_t cap = n + 16, o = 0, i = 0;
	int idx = 1;
	char *b = xmalloc(cap);

#define PUT(c) do { if (o + 12 >= cap) b = xrealloc(b, cap *= 2); b[o++] = (c); } while (0)
	while (i < n) {
		char c = q[i];
		if (c == '\'' || c == '"') {
			PUT(c);
			for (i++; i < n; i++) {
				PUT(q[i]);
				if (q[i] == c) {
					if (i + 1 < n && q[i + 1] == c) {
						PUT(q[++i]);
						continue;
					}
					break;
				}
			}
			i++;
		} else if (c == '-' && i + 1 < n && q[i + 1] == '-') {
			while (i < n && q[i] != '\n')
				PUT(q[i++]);
		} else if (c == '/' && i + 1 < n && q[i + 1] == '*') {
			PUT(q[i++]);
			PUT(q[i++]);
			while (i < n && !(q[i] == '*' && i + 1 < n && q[i + 1] == '/'))
				PUT(q[i++]);
			if (i < n) {
				PUT(q[i++]);
				PUT(q[i++]);
			}
		} else if (c == '$' && dollar_end(q, n, i)) {
			size_t e = dollar_end(q, n, i);
			while (i < e)
				PUT(q[i++]);
		} else if (c == '?' && !(i + 1 < n && (q[i + 1] == '|' || q[i + 1] == '&'))) {
			char num[16];
			int l = snprintf(num, sizeof num, "$%d", idx++);
			for (int k = 0; k < l; k++)
				PUT(num[k]);
			i++;
		} else {
			PUT(c);
			i++;
		}
	}
#undef PUT
	b[o] = '\0';
	return b;
}

/* }==================================================================== */

/* {==== Results into Lua ====} */

/* Go's time.Time String() of a Postgres timestamp/date/time text, or
** NULL when s is not one (infinity, BC): then the text is used as is.
** named: the zone name Go would print for a zero offset ("UTC" when the
** session's location is UTC), else the offset form. */
static int go_time(luaL_Buffer *B, const char *s, int has_date, int has_time,
		   int has_zone, int utc_named)
{
	int Y = 0, M = 1, D = 1, h = 0, m = 0, sec = 0, off = 0, k = 0;
	char frac[10] = "";
	const char *p = s;

	if (has_date) {
		if (sscanf(p, "%4d-%2d-%2d%n", &Y, &M, &D, &k) != 3 || k != 10)
			return 0;
		p += k;
		if (has_time) {
			if (*p != ' ')
				return 0;
			p++;
		}
	}
	if (has_time) {
		if (sscanf(p, "%2d:%2d:%2d%n", &h, &m, &sec, &k) != 3 || k != 8)
			return 0;
		p += k;
		if (*p == '.') {
			int nf = 0;
			p++;
			while (*p >= '0' && *p <= '9') {
				if (nf < 9)
					frac[nf++] = *p;
				p++;
			}
			frac[nf] = '\0';
			while (nf > 0 && frac[nf - 1] == '0')
				frac[--nf] = '\0';
		}
	}
	if (has_zone && (*p == '+' || *p == '-')) {
		int sign = *p == '-' ? -1 : 1, oh = 0, om = 0, os = 0;
		p++;
		if (sscanf(p, "%2d", &oh) != 1)
			return 0;
		p += 2;
		if (*p == ':') {
			sscanf(p + 1, "%2d", &om);
			p += 3;
			if (*p == ':') {
				sscanf(p + 1, "%2d", &os);
				p += 3;
			}
		}
		off = sign * (oh * 3600 + om * 60 + os);
	}
	if (*p != '\0')
		return 0;	/* " BC", "infinity", ... */
	char out[96], zone[16];
	int a = off < 0 ? -off : off;
	snprintf(zone, sizeof zone, "%c%02d%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
	snprintf(out, sizeof out, "%04d-%02d-%02d %02d:%02d:%02d%s%s %s %s",
		 Y, M, D, h, m, sec, frac[0] ? "." : "", frac, zone,
		 off == 0 && utc_named ? "UTC" : zone);
	luaL_addstring(B, out);
	return 1;
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Push the value of row r, column c of res as lib/pq + the module give
** it (see the file comment). [-0, +1, m] */
static void push_cell(lua_State *L, const PGresult *res, int r, int c, int tz_utc)
{
	const char *v = PQgetvalue(res, r, c);
	int len = PQgetlength(res, r, c);
	luaL_Buffer B;

	switch (PQftype(res, c)) {
	case 16:	/* bool */
		lua_pushboolean(L, v[0] == 't');
		return;
	case 20: case 21: case 23:	/* int8, int2, int4 */
		lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10));
		return;
	case 700: case 701:	/* float4, float8 */
		lua_pushnumber(L, strtod(v, NULL));
		return;
	case 17:	/* bytea: hex (\x...) or, from old servers, escape form */
		luaL_buffinit(L, &B);
		if (len >= 2 && v[0] == '\\' && v[1] == 'x') {
			for (int i = 2; i + 1 < len; i += 2)
				luaL_addchar(&B, (char)(hexv(v[i]) << 4 | hexv(v[i + 1])));
		} else {
			size_t n = 0;
			unsigned char *u = PQunescapeBytea((const unsigned char *)v, &n);
			if (u) {
				luaL_addlstring(&B, (const char *)u, n);
				PQfreemem(u);
			}
		}
		luaL_pushresult(&B);
		return;
	case 1184:	/* timestamptz: in the session's location */
	case 1114:	/* timestamp */
	case 1082:	/* date */
	case 1083:	/* time */
	case 1266: {	/* timetz */
		int t = (int)PQftype(res, c), ok;
		luaL_buffinit(L, &B);
		ok = go_time(&B, v, t != 1083 && t != 1266, t != 1082,
			     t == 1184 || t == 1266,
			     t == 1083 || (t == 1184 && tz_utc) || t == 1266);
		if (!ok)
			luaL_addlstring(&B, v, (size_t)len);
		luaL_pushresult(&B);
		return;
	}
	default:
		lua_pushlstring(L, v, (size_t)len);
	}
}

/* rows[i][column] = value; NULL columns absent. [-0, +1, m] */
static void push_rows(lua_State *L, const PGresult *res, int tz_utc)
{
	int nr = res ? PQntuples(res) : 0, nc = res ? PQnfields(res) : 0;

	lua_createtable(L, nr, 0);
	for (int r = 0; r < nr; r++) {
		lua_createtable(L, 0, nc);
		for (int c = 0; c < nc; c++) {
			if (PQgetisnull(res, r, c))
				continue;
			push_cell(L, res, r, c, tz_utc);
			lua_setfield(L, -2, PQfname(res, c));
		}
		lua_rawseti(L, -2, r + 1);
	}
}

/* }==================================================================== */

/* {==== Jobs ====} */

enum result { R_ROWS, R_EXEC, R_TRUE, R_STMT, R_TX };

struct ljob {
	struct pgjob j;
	enum result result;
	const char *opname;
	int ref;                /* prepare in a tx: the tx handle */
	int in_tx;
	int read_only;
};

static void set_detail(lua_State *L, const PGresult *r, int code, const char *key)
{
	const char *v = r ? PQresultErrorField(r, code) : NULL;
	if (v) {
		lua_pushstring(L, v);
		lua_setfield(L, -2, key);
	}
}

/* nil, "op: pq: ..." with its kind and details. [-0, +2, m] */
static int push_pg_error(lua_State *L, const char *op, const struct pgjob *j)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", op, j->err);
	if (j->err_kind && *j->err_kind)
		lua_pushstring(L, j->err_kind);
	else
		lua_pushnil(L);
	lua_createtable(L, 0, 6);
	if (j->sqlstate[0]) {
		lua_pushstring(L, j->sqlstate);
		lua_setfield(L, -2, "sqlstate");
	}
	set_detail(L, j->err_res, PG_DIAG_MESSAGE_DETAIL, "detail");
	set_detail(L, j->err_res, PG_DIAG_CONSTRAINT_NAME, "constraint");
	set_detail(L, j->err_res, PG_DIAG_TABLE_NAME, "table");
	set_detail(L, j->err_res, PG_DIAG_COLUMN_NAME, "column");
	set_detail(L, j->err_res, PG_DIAG_SCHEMA_NAME, "schema");
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	errors_create(L, j->err_retry);
	return 2;
}

static void job_drop(struct pgjob *pj)
{
	struct ljob *j = container_of(pj, struct ljob, j);
	if (pj->tx_out) {	/* begun, never handed to Lua */
		pgdb_tx_abandon(pj->tx_out, NULL);
		pj->tx_out = NULL;
	}
	if (pj->rows)
		PQclear(pj->rows);
	if (pj->err_res)
		PQclear(pj->err_res);
	free(pj->err);
	free(pj->sql);
	sqlv_free(pj->params, pj->n);
	free(j);
}

static void pgtx_meta(lua_State *L);
static void pgstmt_meta(lua_State *L);

/* In the step: the coroutine's results. [-0, +2, m] */
static int job_deliver(lua_State *L, struct pgjob *pj)
{
	struct ljob *j = container_of(pj, struct ljob, j);

	if (pj->err) {
		if (j->ref != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, j->ref);
		j->ref = LUA_NOREF;
		return push_pg_error(L, j->opname, pj);
	}
	switch (j->result) {
	case R_ROWS:
		push_rows(L, pj->rows, pj->tz_utc);
		break;
	case R_EXEC:
		lua_createtable(L, 0, 2);
		lua_pushinteger(L, 0);	/* lib/pq: LastInsertId is not supported */
		lua_setfield(L, -2, "last_insert_id");
		lua_pushinteger(L, pj->affected);
		lua_setfield(L, -2, "rows_affected");
		break;
	case R_STMT: {
		struct lpgstmt *s = lua_newuserdatauv(L, sizeof(*s), 1);
		s->db = pj->_db;
		s->sql = pj->sql;
		pj->sql = NULL;	/* the statement owns it now */
		s->in_tx = j->in_tx;
		s->closed = 0;
		proc_note_finalizer(L);
		pgstmt_meta(L);
		lua_setmetatable(L, -2);
		if (j->ref != LUA_NOREF) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, j->ref);
			lua_setiuservalue(L, -2, 1);
			luaL_unref(L, LUA_REGISTRYINDEX, j->ref);
			j->ref = LUA_NOREF;
		}
		break;
	}
	case R_TX: {
		struct lpgtx *t = lua_newuserdatauv(L, sizeof(*t), 0);
		t->db = pj->_db;
		t->tx = NULL;
		t->p = proc_of(L);
		t->done = 1;	/* inert until it holds the transaction */
		proc_note_finalizer(L);
		pgtx_meta(L);
		lua_setmetatable(L, -2);
		t->tx = pj->tx_out;
		pj->tx_out = NULL;	/* the handle owns it now */
		t->done = 0;
		pgdb_tx_adopt(t->tx, t->p);
		break;
	}
	default:
		lua_pushboolean(L, 1);
	}
	lua_pushnil(L);
	return 2;
}

static struct ljob *job_new(enum pgj_kind kind, enum result res, const char *opname)
{
	struct ljob *j = xcalloc(1, sizeof(*j));
	j->j.kind = kind;
	j->j.deliver = job_deliver;
	j->j.drop = job_drop;
	j->result = res;
	j->opname = opname;
	j->ref = LUA_NOREF;
	return j;
}

/* A query/execute job from (sql, params) at 2 and 3, or NULL with
** `nil, err` pushed. */
static struct ljob *sql_job(lua_State *L, enum result res, const char *opname)
{
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	struct sqlv *params;
	long n;
	struct ljob *j;

	proc_coro(L);	/* raises before anything is allocated */
	if ((n = sql__check_params(L, 3, &params)) < 0)
		return NULL;
	j = job_new(n > 0 ? PGJ_PARAMS : PGJ_SIMPLE, res, opname);
	j->j.sql = dollar_placeholders(sql, len);
	j->j.params = params;
	j->j.n = (size_t)n;
	return j;
}

/* }==================================================================== */

/* {==== DB ====} */

int sqlpg_get(lua_State *L, const struct reg_entry *e)
{
	struct proc *p = proc_of(L);
	char *err = NULL;
	struct pgdb *db = pgdb_get(p->rt, e, &err);
	struct lpgdb *d;

	if (db == NULL) {
		lua_pushfstring(L, "%s", err);
		free(err);
		return errors_ret(L, ERRORS_INVALID, "acquire resource: %s: %s",
				  e->id, lua_tostring(L, -1));
	}
	pgdb_track_open(L);
	d = lua_newuserdatauv(L, sizeof(*d), 0);
	d->db = db;
	d->released = 0;
	luaL_setmetatable(L, PGDB_META);
	lua_pushnil(L);
	return 2;
}

static struct pgdb *live_db(lua_State *L)
{
	struct lpgdb *d = luaL_checkudata(L, 1, PGDB_META);
	if (d->released) {
		errors_ret(L, ERRORS_INVALID, "database resource is released");
		return NULL;
	}
	return d->db;
}

static int db_type(lua_State *L)
{
	luaL_checkudata(L, 1, PGDB_META);
	lua_pushliteral(L, "postgres");
	lua_pushnil(L);
	return 2;
}

static int db_run(lua_State *L, enum result res, const char *op)
{
	struct pgdb *db = live_db(L);
	struct ljob *j;

	if (db == NULL || (j = sql_job(L, res, op)) == NULL)
		return 2;
	return pgdb_wait(L, db, &j->j);
}

static int db_query(lua_State *L)   { return db_run(L, R_ROWS, "query"); }
static int db_execute(lua_State *L) { return db_run(L, R_EXEC, "execute"); }

static int prepare_on(lua_State *L, struct pgdb *db, struct pgtx *tx, int txidx)
{
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	struct ljob *j;

	proc_coro(L);
	j = job_new(PGJ_PREPARE, R_STMT, txidx ? "tx prepare" : "prepare");
	j->j.sql = dollar_placeholders(sql, len);
	j->j.tx = tx;
	if (txidx) {
		lua_pushvalue(L, txidx);
		j->ref = luaL_ref(L, LUA_REGISTRYINDEX);
		j->in_tx = 1;
	}
	return pgdb_wait(L, db, &j->j);
}

static int db_prepare(lua_State *L)
{
	struct pgdb *db = live_db(L);
	if (db == NULL)
		return 2;
	return prepare_on(L, db, NULL, 0);
}

/* db:begin([{isolation, read_only}]): BEGIN with database/sql's levels
** (write_committed has no Postgres name: lib/pq refuses it too). */
static int db_begin(lua_State *L)
{
	struct pgdb *db = live_db(L);
	const char *iso;
	int bad, ro = 0;
	struct ljob *j;
	luaL_Buffer B;

	if (db == NULL)
		return 2;
	iso = sql__isolation(L, 2, &bad);
	if (bad)
		return 2;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "read_only");
		ro = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	if (iso && !strcmp(iso, "write_committed"))
		return errors_ret(L, ERRORS_INVALID, "begin: pq: isolation level not "
				  "supported: Write Committed");
	proc_coro(L);
	luaL_buffinit(L, &B);
	luaL_addstring(&B, "BEGIN");
	if (iso) {
		luaL_addstring(&B, " ISOLATION LEVEL ");
		for (const char *c = iso; *c; c++)
			luaL_addchar(&B, *c == '_' ? ' ' : (char)(*c - 32));
	}
	if (ro)
		luaL_addstring(&B, " READ ONLY");
	luaL_pushresult(&B);
	j = job_new(PGJ_SIMPLE, R_TX, "begin");
	j->j.sql = xstrdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	j->j.flags = PGJ_BEGINS;
	return pgdb_wait(L, db, &j->j);
}

static int db_release(lua_State *L)
{
	struct lpgdb *d = luaL_checkudata(L, 1, PGDB_META);
	d->released = 1;
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

static int db_stats(lua_State *L)
{
	struct pgdb *db = live_db(L);
	struct pgdb_stats st;

	if (db == NULL)
		return 2;
	pgdb_get_stats(db, &st);
	lua_createtable(L, 0, 9);
	lua_pushinteger(L, st.max_open);
	lua_setfield(L, -2, "max_open_connections");
	lua_pushinteger(L, st.open);
	lua_setfield(L, -2, "open_connections");
	lua_pushinteger(L, st.in_use);
	lua_setfield(L, -2, "in_use");
	lua_pushinteger(L, st.open > st.in_use ? st.open - st.in_use : 0);
	lua_setfield(L, -2, "idle");
	lua_pushinteger(L, (lua_Integer)st.waited);
	lua_setfield(L, -2, "wait_count");
	lua_pushliteral(L, "0s");
	lua_setfield(L, -2, "wait_duration");
	lua_pushinteger(L, (lua_Integer)st.idle_closed);
	lua_setfield(L, -2, "max_idle_closed");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "max_idle_time_closed");
	lua_pushinteger(L, (lua_Integer)st.lifetime_closed);
	lua_setfield(L, -2, "max_lifetime_closed");
	lua_pushnil(L);
	return 2;
}

static int db_tostring(lua_State *L)
{
	struct lpgdb *d = luaL_checkudata(L, 1, PGDB_META);
	lua_pushfstring(L, "sql.DB(%s)", pgdb_entry(d->db)->id);
	return 1;
}

/* }==================================================================== */

/* {==== Statements ====} */

static struct lpgtx *stmt_tx(lua_State *L)
{
	struct lpgtx *t = NULL;
	if (lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA)
		t = luaL_testudata(L, -1, PGTX_META);
	lua_pop(L, 1);
	return t;
}

static struct lpgstmt *live_stmt(lua_State *L, struct lpgtx **tx)
{
	struct lpgstmt *s = luaL_checkudata(L, 1, PGSTMT_META);
	struct lpgtx *t = stmt_tx(L);

	if (!s->closed && s->in_tx && (t == NULL || t->done))
		s->closed = 1;	/* database/sql closes a tx's statements with it */
	if (s->closed) {
		errors_ret(L, ERRORS_INVALID, "statement is closed");
		return NULL;
	}
	*tx = t;
	return s;
}

static int stmt_run(lua_State *L, enum result res, const char *op)
{
	struct lpgtx *t;
	struct lpgstmt *s = live_stmt(L, &t);
	struct sqlv *params;
	long n;
	struct ljob *j;

	if (s == NULL)
		return 2;
	proc_coro(L);
	if ((n = sql__check_params(L, 2, &params)) < 0)
		return 2;
	/* A named statement on the connection, parsed there once. */
	j = job_new(PGJ_STMT, res, op);
	j->j.sql = xstrdup(s->sql);
	j->j.params = params;
	j->j.n = (size_t)n;
	j->j.tx = t ? t->tx : NULL;
	return pgdb_wait(L, s->db, &j->j);
}

static int stmt_query(lua_State *L)   { return stmt_run(L, R_ROWS, "stmt query"); }
static int stmt_execute(lua_State *L) { return stmt_run(L, R_EXEC, "stmt execute"); }

static int stmt_close(lua_State *L)
{
	struct lpgtx *t;
	struct lpgstmt *s = live_stmt(L, &t);

	if (s == NULL)
		return 2;
	s->closed = 1;
	free(s->sql);
	s->sql = NULL;
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

static int stmt_gc(lua_State *L)
{
	struct lpgstmt *s = lua_touserdata(L, 1);
	if (s) {
		free(s->sql);
		s->sql = NULL;
		s->closed = 1;
	}
	return 0;
}

static void pgstmt_meta(lua_State *L)
{
	static const luaL_Reg m[] = {
		{"query", stmt_query}, {"execute", stmt_execute},
		{"close", stmt_close}, {NULL, NULL}
	};
	sql__meta(L, PGSTMT_META, m, stmt_gc, NULL);
}

/* }==================================================================== */

/* {==== Transactions ====} */

static struct lpgtx *live_tx(lua_State *L)
{
	struct lpgtx *t = luaL_checkudata(L, 1, PGTX_META);
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
	lua_pushliteral(L, "postgres");
	lua_pushnil(L);
	return 2;
}

static int tx_run(lua_State *L, enum result res, const char *op)
{
	struct lpgtx *t = live_tx(L);
	struct ljob *j;

	if (t == NULL || (j = sql_job(L, res, op)) == NULL)
		return 2;
	j->j.tx = t->tx;
	return pgdb_wait(L, t->db, &j->j);
}

static int tx_query(lua_State *L)   { return tx_run(L, R_ROWS, "tx query"); }
static int tx_execute(lua_State *L) { return tx_run(L, R_EXEC, "tx execute"); }

static int tx_prepare(lua_State *L)
{
	struct lpgtx *t = live_tx(L);
	if (t == NULL)
		return 2;
	return prepare_on(L, t->db, t->tx, 1);
}

/* commit / rollback: the handle is done from now on, and the job ends
** the transaction (and its pin: the job's own covers the rest). */
static int tx_end(lua_State *L, int commit)
{
	struct lpgtx *t = live_tx(L);
	struct ljob *j;

	if (t == NULL)
		return 2;
	proc_coro(L);
	j = job_new(commit ? PGJ_COMMIT : PGJ_SIMPLE, R_TRUE,
		    commit ? "tx commit" : "tx rollback");
	j->j.sql = xstrdup(commit ? "COMMIT" : "ROLLBACK");
	j->j.flags = PGJ_ENDS;
	j->j.tx = t->tx;
	t->done = 1;
	t->tx = NULL;
	pgdb_tx_unpin(j->j.tx, t->p);
	return pgdb_wait(L, t->db, &j->j);
}

static int tx_commit(lua_State *L)   { return tx_end(L, 1); }
static int tx_rollback(lua_State *L) { return tx_end(L, 0); }

static int tx_savepoint_op(lua_State *L, const char *verb)
{
	struct lpgtx *t = live_tx(L);
	const char *name;
	struct ljob *j;

	if (t == NULL || (name = sql__savepoint_name(L, 2)) == NULL)
		return 2;
	proc_coro(L);
	j = job_new(PGJ_SIMPLE, R_TRUE, "savepoint");
	lua_pushfstring(L, "%s %s", verb, name);
	j->j.sql = xstrdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	j->j.tx = t->tx;
	return pgdb_wait(L, t->db, &j->j);
}

static int tx_savepoint(lua_State *L)   { return tx_savepoint_op(L, "SAVEPOINT"); }
static int tx_rollback_to(lua_State *L) { return tx_savepoint_op(L, "ROLLBACK TO SAVEPOINT"); }
static int tx_release(lua_State *L)     { return tx_savepoint_op(L, "RELEASE SAVEPOINT"); }

/* Collected while active (its process ended, or it was dropped): rolled
** back, its running query cancelled, the connection back in the pool. */
static int tx_gc(lua_State *L)
{
	struct lpgtx *t = lua_touserdata(L, 1);
	if (t && !t->done && t->tx) {
		t->done = 1;
		pgdb_tx_abandon(t->tx, t->p);
		t->tx = NULL;
	}
	return 0;
}

static void pgtx_meta(lua_State *L)
{
	static const luaL_Reg m[] = {
		{"db_type", tx_db_type}, {"query", tx_query}, {"execute", tx_execute},
		{"prepare", tx_prepare}, {"commit", tx_commit}, {"rollback", tx_rollback},
		{"savepoint", tx_savepoint}, {"rollback_to", tx_rollback_to},
		{"release", tx_release}, {NULL, NULL}
	};
	sql__meta(L, PGTX_META, m, tx_gc, NULL);
}

/* }==================================================================== */

void sqlpg_open(lua_State *L)
{
	static const luaL_Reg db_methods[] = {
		{"type", db_type}, {"query", db_query}, {"execute", db_execute},
		{"prepare", db_prepare}, {"begin", db_begin}, {"release", db_release},
		{"stats", db_stats}, {NULL, NULL}
	};
	sql__meta(L, PGDB_META, db_methods, NULL, db_tostring);
	pgtx_meta(L);
	pgstmt_meta(L);
	lua_pop(L, 3);
}
