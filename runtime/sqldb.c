/*
** runtime/sqldb.c: SQLite databases on worker threads (see sqldb.h).
**
** Owns: the per-runtime list of databases (rt->sqldb), each database's
** worker thread, connection and job queue, and the trip of a finished job
** back to its process: worker -> shard_post to the process's shard ->
** proc_ext_post -> deliver in the process's step.
**
** Invariants:
** - Only a database's worker touches its connection (opened there, on the
**   first job, so a slow disk never holds a shard).
** - A job is in exactly one place: the queue, the worker's hands, the
**   posted list (on its way to a shard), the process's pext queue, or
**   freed. The posted list exists for shutdown: the engine drops tasks it
**   never ran, and sqldb_free frees them.
** - While a job waits or runs for a process, the process is pinned to its
**   shard (proc_io_begin) and referenced (proc_ref), so the task posted
**   back finds it, alive or P_DONE, on the thread that owns it.
** - db->mu guards the queue, the span owner, the posted list and
**   `stopping`; never held across SQLite calls.
*/
#include "runtime/sqldb.h"

#include <pthread.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/common.h"
#include "runtime/log.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

struct sqldb {
	struct sqldb *next;             /* rt's list */
	struct rt *rt;
	const struct reg_entry *e;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sqljob *head, *tail;     /* queued */
	struct sqljob *posted;          /* on the way to a shard (_next) */
	uint64_t owner;                 /* span owner, 0 when free */
	int stopping;
	atomic_int in_use;
	atomic_uint_fast64_t waited;    /* jobs that found the span taken */
	/* Worker only. */
	sqlite3 *conn;
	int opened;                     /* open was tried */
	int open_rc;
	char *open_err;
	_Atomic(sqlite3 *) live;        /* conn once open, for interrupt */
};

struct sqlstate {
	pthread_mutex_t mu;
	struct sqldb *dbs;
};

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t next_token = 1;

/* {==== Values and results ====} */

void sqlv_free(struct sqlv *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if (v[i].type == SQLV_TEXT || v[i].type == SQLV_BLOB)
			free(v[i].s);
	free(v);
}

void sqlres_free(struct sqlres *r)
{
	for (int i = 0; i < r->ncols; i++)
		free(r->cols[i]);
	free(r->cols);
	sqlv_free(r->cells, r->nrows * (size_t)r->ncols);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

static void reset_rows(struct sqlres *r)
{
	for (int i = 0; i < r->ncols; i++)
		free(r->cols[i]);
	free(r->cols);
	sqlv_free(r->cells, r->nrows * (size_t)r->ncols);
	r->cols = NULL;
	r->cells = NULL;
	r->ncols = 0;
	r->nrows = r->cap = 0;
}

void sqldb_set_error(sqlite3 *c, int rc, struct sqlres *r)
{
	free(r->err);
	r->rc = rc & 0xff;
	r->xrc = c ? sqlite3_extended_errcode(c) : rc;
	r->err = xstrdup(c ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
}

static char *copy_bytes(const void *p, size_t n)
{
	char *s = xmalloc(n + 1);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* The value of column i of the current row. A column declared BOOLEAN
** that holds an integer reads as a boolean, as the original's driver
** (mattn/go-sqlite3) returns it. */
static void take_column(sqlite3_stmt *st, int i, struct sqlv *v)
{
	const char *decl;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		v->type = SQLV_INT;
		v->i = sqlite3_column_int64(st, i);
		decl = sqlite3_column_decltype(st, i);
		if (decl && !strcasecmp(decl, "boolean")) {
			v->type = SQLV_BOOL;
			v->i = v->i > 0;
		}
		break;
	case SQLITE_FLOAT:
		v->type = SQLV_FLOAT;
		v->f = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
		v->type = SQLV_TEXT;
		v->len = (size_t)sqlite3_column_bytes(st, i);
		v->s = copy_bytes(sqlite3_column_text(st, i), v->len);
		break;
	case SQLITE_BLOB:
		v->type = SQLV_BLOB;
		v->len = (size_t)sqlite3_column_bytes(st, i);
		v->s = copy_bytes(sqlite3_column_blob(st, i), v->len);
		break;
	default:
		v->type = SQLV_NULL;
	}
}

static int bind_all(sqlite3 *c, sqlite3_stmt *st, const struct sqlv *p,
		    size_t n, struct sqlres *r)
{
	int want = sqlite3_bind_parameter_count(st), rc = SQLITE_OK;

	/* database/sql's own check, with its wording. */
	if ((size_t)want != n) {
		char msg[96];
		snprintf(msg, sizeof(msg), "sql: expected %d arguments, got %zu", want, n);
		free(r->err);
		r->rc = r->xrc = SQLITE_RANGE;
		r->err = xstrdup(msg);
		return SQLITE_RANGE;
	}
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		int k = (int)i + 1;
		switch (p[i].type) {
		case SQLV_INT:
		case SQLV_BOOL:
			rc = sqlite3_bind_int64(st, k, p[i].i);
			break;
		case SQLV_FLOAT:
			rc = sqlite3_bind_double(st, k, p[i].f);
			break;
		case SQLV_TEXT:
			rc = sqlite3_bind_text64(st, k, p[i].s, p[i].len,
						 SQLITE_TRANSIENT, SQLITE_UTF8);
			break;
		case SQLV_BLOB:	/* an empty blob is a blob, not NULL */
			rc = p[i].len ? sqlite3_bind_blob64(st, k, p[i].s, p[i].len,
							    SQLITE_TRANSIENT)
				      : sqlite3_bind_zeroblob(st, k, 0);
			break;
		default:
			rc = sqlite3_bind_null(st, k);
		}
	}
	if (rc != SQLITE_OK)
		sqldb_set_error(c, rc, r);
	return rc;
}

int sqldb_run_stmt(sqlite3 *c, sqlite3_stmt *st, const struct sqlv *params,
		   size_t n, struct sqlres *r)
{
	int rc, ncols;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (bind_all(c, st, params, n, r) != SQLITE_OK)
		return r->rc;
	ncols = sqlite3_column_count(st);
	if (ncols > 0) {
		reset_rows(r);
		r->ncols = ncols;
		r->cols = xcalloc((size_t)ncols, sizeof(char *));
		for (int i = 0; i < ncols; i++) {
			const char *name = sqlite3_column_name(st, i);
			r->cols[i] = xstrdup(name ? name : "");
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nrows == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 16;
			r->cells = xrealloc(r->cells, r->cap * (size_t)ncols * sizeof(struct sqlv));
		}
		struct sqlv *row = r->cells + r->nrows * (size_t)ncols;
		memset(row, 0, (size_t)ncols * sizeof(*row));
		for (int i = 0; i < ncols; i++)
			take_column(st, i, &row[i]);
		r->nrows++;
	}
	if (rc != SQLITE_DONE) {
		sqldb_set_error(c, rc, r);
		sqlite3_reset(st);
		return r->rc;
	}
	r->changes = sqlite3_changes64(c);
	r->last_id = sqlite3_last_insert_rowid(c);
	sqlite3_reset(st);
	return 0;
}

/*
** Several statements in one string run in turn, as the original's driver
** does; parameters go to the first statement that takes any. The rows are
** those of the last statement that returns columns.
*/
int sqldb_run_sql(sqlite3 *c, const char *sql, const struct sqlv *params,
		  size_t n, struct sqlres *r)
{
	const char *tail = sql;
	int rc, ran = 0;

	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		const char *next = NULL;

		rc = sqlite3_prepare_v2(c, tail, -1, &st, &next);
		if (rc != SQLITE_OK) {
			sqldb_set_error(c, rc, r);
			return r->rc;
		}
		tail = next;
		if (st == NULL)		/* whitespace or a comment */
			continue;
		size_t k = sqlite3_bind_parameter_count(st) > 0 || !tail || !*tail ? n : 0;
		rc = sqldb_run_stmt(c, st, params, k, r);
		if (k)
			params = NULL, n = 0;
		sqlite3_finalize(st);
		ran = 1;
		if (rc != 0)
			return rc;
	}
	if (!ran && n > 0)	/* parameters for an empty statement */
		return bind_all(c, NULL, params, n, r), r->rc;
	return 0;
}

/* }==================================================================== */

/* {==== The worker ====} */

static void open_conn(struct sqldb *db)
{
	const char *file = db->e->u.db.file;
	char *uri = NULL;
	int rc;

	db->opened = 1;
	if (strcmp(file, ":memory:") != 0) {
		size_t n = strlen(file) + 16;
		uri = xmalloc(n);
		snprintf(uri, n, "file:%s?mode=rwc", file);
	}
	rc = sqlite3_open_v2(uri ? uri : ":memory:", &db->conn,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	free(uri);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db->conn, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		const char *msg = db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc);
		size_t n = strlen(msg) + strlen(file) + 40;
		db->open_err = xmalloc(n);
		snprintf(db->open_err, n, "failed to open database %s: %s", file, msg);
		db->open_rc = rc;
		log_printf(LOG_LEVEL_ERROR, NULL, "sql: %s: %s", db->e->id, db->open_err);
		sqlite3_close(db->conn);
		db->conn = NULL;
		return;
	}
	/* The original's driver waits 5 s on a locked file before SQLITE_BUSY. */
	sqlite3_busy_timeout(db->conn, 5000);
	atomic_store(&db->live, db->conn);
}

/* The first queued job allowed to run: any while the connection is free,
** else only the span owner's. db->mu held. */
static struct sqljob *take(struct sqldb *db)
{
	struct sqljob **pp;

	for (pp = &db->head; *pp; pp = &(*pp)->_next) {
		struct sqljob *j = *pp;
		if (db->owner == 0 || j->owner == db->owner) {
			*pp = j->_next;
			if (db->tail == j) {
				struct sqljob *t = db->head;
				while (t && t->_next)
					t = t->_next;
				db->tail = t;
			}
			j->_next = NULL;
			return j;
		}
	}
	if (db->head)
		atomic_fetch_add_explicit(&db->waited, 1, memory_order_relaxed);
	return NULL;
}

/* Give a job up without delivering it. */
static void discard(struct sqljob *j)
{
	struct proc *p = j->_p;
	j->drop(j);
	if (p)
		proc_unref(p);
}

static void back_on_shard(struct task *t);

static void *worker(void *arg)
{
	struct sqldb *db = arg;
	struct sqljob *j;

	pthread_mutex_lock(&db->mu);
	for (;;) {
		if (db->stopping)
			break;
		if ((j = take(db)) == NULL) {
			pthread_cond_wait(&db->cv, &db->mu);
			continue;
		}
		atomic_store(&db->in_use, 1);
		pthread_mutex_unlock(&db->mu);
		if (!db->opened)
			open_conn(db);
		if (db->conn == NULL) {
			j->res.rc = j->res.xrc = db->open_rc ? db->open_rc : SQLITE_CANTOPEN;
			j->res.err = xstrdup(db->open_err ? db->open_err : "database is not open");
		} else {
			j->run(j, db->conn);
		}
		pthread_mutex_lock(&db->mu);
		atomic_store(&db->in_use, 0);
		if ((j->flags & SQLJ_BEGINS) && j->res.rc == 0)
			db->owner = j->owner;
		if ((j->flags & SQLJ_ENDS) && db->owner == j->owner)
			db->owner = 0;
		if (j->_p == NULL || db->stopping) {
			pthread_mutex_unlock(&db->mu);
			discard(j);
			pthread_mutex_lock(&db->mu);
			continue;
		}
		/* The process is pinned: its shard does not change until the
		** task runs there. */
		j->_next = db->posted;
		db->posted = j;
		j->_task.run = back_on_shard;
		j->_task.flags = TASK_PINNED;
		shard_post(atomic_load(&j->_p->shard), &j->_task);
	}
	/* Stopping: what is still queued never runs. */
	while ((j = db->head) != NULL) {
		db->head = j->_next;
		pthread_mutex_unlock(&db->mu);
		discard(j);
		pthread_mutex_lock(&db->mu);
	}
	db->tail = NULL;
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

/* }==================================================================== */

/* {==== Back on the process's shard ====} */

struct resume_call {
	int (*push)(lua_State *L, void *arg);
	void *arg;
};

static int resume_protected(lua_State *L)
{
	struct resume_call *rc = lua_touserdata(L, 1);
	lua_pop(L, 1);
	return rc->push(L, rc->arg);
}

void sqldb_resume(lua_State *L, struct coro *co,
		  int (*push)(lua_State *L, void *arg), void *arg)
{
	struct resume_call rc = { push, arg };
	int base = lua_gettop(L), n;

	lua_pushcfunction(L, resume_protected);
	lua_pushlightuserdata(L, &rc);
	if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);	/* nil, the error */
	}
	n = lua_gettop(L) - base;
	if (co->state == CO_BLOCKED && lua_checkstack(co->L, n)) {
		lua_xmove(L, co->L, n);
		proc_ready(co, n);
	} else {
		lua_settop(L, base);
	}
}

static int push_job(lua_State *L, void *arg)
{
	struct sqljob *j = arg;
	return j->deliver(L, j);
}

/* In the process's step: push the results and wake the coroutine. */
static void ext_deliver(lua_State *L, struct pext *x)
{
	struct sqljob *j = container_of(x, struct sqljob, _ext);
	struct proc *p = j->_p;

	sqldb_resume(L, j->_co, push_job, j);
	j->drop(j);
	proc_unref(p);
}

static void back_on_shard(struct task *t)
{
	struct sqljob *j = container_of(t, struct sqljob, _task);
	struct sqldb *db = j->_db;
	struct proc *p = j->_p;
	struct sqljob **pp;

	pthread_mutex_lock(&db->mu);
	for (pp = &db->posted; *pp && *pp != j; pp = &(*pp)->_next)
		;
	if (*pp)
		*pp = j->_next;
	pthread_mutex_unlock(&db->mu);
	proc_io_end(p);
	if (p->state == P_DONE || p->L == NULL) {
		discard(j);	/* the process ended while we worked */
		return;
	}
	j->_ext.deliver = ext_deliver;
	proc_ext_post(p, &j->_ext);
}

/* }==================================================================== */

/* {==== Databases of a runtime ====} */

static struct sqlstate *state_of(struct rt *rt)
{
	struct sqlstate *s;

	pthread_mutex_lock(&state_mu);
	if ((s = rt->sqldb) == NULL) {
		s = xcalloc(1, sizeof(*s));
		pthread_mutex_init(&s->mu, NULL);
		rt->sqldb = s;
	}
	pthread_mutex_unlock(&state_mu);
	return s;
}

struct sqldb *sqldb_get(struct rt *rt, const struct reg_entry *e)
{
	struct sqlstate *s = state_of(rt);
	struct sqldb *db;

	pthread_mutex_lock(&s->mu);
	for (db = s->dbs; db && db->e != e; db = db->next)
		;
	if (db == NULL) {
		db = xcalloc(1, sizeof(*db));
		db->rt = rt;
		db->e = e;
		pthread_mutex_init(&db->mu, NULL);
		pthread_cond_init(&db->cv, NULL);
		if (pthread_create(&db->th, NULL, worker, db) != 0)
			abort();	/* no thread for a database: as xmalloc's out of memory */
		db->next = s->dbs;
		s->dbs = db;
	}
	pthread_mutex_unlock(&s->mu);
	return db;
}

const struct reg_entry *sqldb_entry(const struct sqldb *db)
{
	return db->e;
}

static void enqueue(struct sqldb *db, struct sqljob *j)
{
	j->_db = db;
	j->_next = NULL;
	pthread_mutex_lock(&db->mu);
	if (db->stopping) {
		pthread_mutex_unlock(&db->mu);
		discard(j);
		return;
	}
	if (db->tail)
		db->tail->_next = j;
	else
		db->head = j;
	db->tail = j;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

int sqldb_wait(lua_State *L, struct sqldb *db, struct sqljob *j)
{
	struct coro *co = proc_coro(L);	/* raises outside a process coroutine */
	struct proc *p = co->p;

	j->_p = p;
	j->_co = co;
	proc_ref(p);
	proc_io_begin(p);
	enqueue(db, j);
	return proc_block(L, 1, NULL, 0);
}

void sqldb_post(struct sqldb *db, struct sqljob *j)
{
	j->_p = NULL;
	j->_co = NULL;
	enqueue(db, j);
}

void sqldb_get_stats(struct sqldb *db, struct sqldb_stats *out)
{
	pthread_mutex_lock(&db->mu);
	out->open = atomic_load(&db->live) != NULL;
	out->in_use = atomic_load(&db->in_use) || db->owner != 0;
	out->waited = atomic_load(&db->waited);
	pthread_mutex_unlock(&db->mu);
}

uint64_t sqldb_token(void)
{
	return atomic_fetch_add(&next_token, 1);
}

void sqldb_stop(struct rt *rt)
{
	struct sqlstate *s = rt->sqldb;
	struct sqldb *db;

	if (s == NULL)
		return;
	for (db = s->dbs; db; db = db->next) {
		sqlite3 *c;
		pthread_mutex_lock(&db->mu);
		db->stopping = 1;
		pthread_cond_signal(&db->cv);
		pthread_mutex_unlock(&db->mu);
		if ((c = atomic_load(&db->live)) != NULL)
			sqlite3_interrupt(c);	/* a long query ends early */
	}
	for (db = s->dbs; db; db = db->next)
		pthread_join(db->th, NULL);
}

void sqldb_free(struct rt *rt)
{
	struct sqlstate *s = rt->sqldb;
	struct sqldb *db, *next;

	if (s == NULL)
		return;
	for (db = s->dbs; db; db = next) {
		struct sqljob *j;
		next = db->next;
		while ((j = db->posted) != NULL) {
			db->posted = j->_next;
			discard(j);
		}
		if (db->conn) {
			sqlite3_stmt *st;
			/* Statements of processes that are gone: their finalize
			** jobs were dropped at stop. */
			while ((st = sqlite3_next_stmt(db->conn, NULL)) != NULL)
				sqlite3_finalize(st);
			/* sqldb_stop's sqlite3_interrupt stays pending until a
			** statement starts with none active, and a pending one
			** fails the checkpoint that sqlite3_close runs in WAL
			** mode: the -wal and -shm files then stay behind. One
			** statement clears it. */
			(void)sqlite3_exec(db->conn, "SELECT 1", NULL, NULL, NULL);
			int rc = sqlite3_close(db->conn);
			if (rc != SQLITE_OK)
				log_printf(LOG_LEVEL_WARN, NULL, "sql: %s: close: %s",
					   db->e->id, sqlite3_errstr(rc));
		}
		free(db->open_err);
		pthread_mutex_destroy(&db->mu);
		pthread_cond_destroy(&db->cv);
		free(db);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
	rt->sqldb = NULL;
}

/* }==================================================================== */
