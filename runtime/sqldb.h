/*
** runtime/sqldb.h: SQLite databases of the registry (db.sql.sqlite), each
** served by its own worker thread, and the way a process waits for them.
**
** A shard never blocks in SQLite (DESIGN.md): a database is one
** connection (the original forces max_open = 1 for SQLite) owned by one
** pthread, started on the database's first use and joined at runtime
** shutdown. Work reaches it as jobs: a job's run() executes on that thread
** with the connection, then the job goes back to the process that asked,
** on the process's shard, where deliver() pushes the results into Lua.
** The worker thread is also what serialises the connection, so nothing
** here locks around SQLite itself.
**
** Transactions: a job may open an exclusive span on the connection (begin
** a transaction) under an owner token; until a job of the same owner
** closes it, only that owner's jobs run and everyone else's wait in the
** queue, in order, as database/sql callers wait for the pool's one
** connection while a transaction holds it.
**
** A process that ends (or is terminated) while its job runs loses
** nothing: the job holds a reference on the process, the worker finishes
** the job, and on the shard the result is dropped (drop()) instead of
** delivered. No Lua runs off the process's thread: run() sees only C
** values (struct sqlv, struct sqlres).
**
** Thread affinity: sqldb_get, sqldb_wait and sqldb_post from a process's
** thread (sqldb_post from any thread); run() on the worker; deliver() in
** the process's protected step; drop() on the worker or a shard.
*/
#ifndef RUNTIME_SQLDB_H
#define RUNTIME_SQLDB_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/shard.h"
#include "proc.h"

struct rt;
struct reg_entry;
struct sqldb;
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

/* {==== Values and results ====} */

/* SQLV_BOOL only in results: an integer in a column declared BOOLEAN. */
enum sqlv_type { SQLV_NULL, SQLV_INT, SQLV_FLOAT, SQLV_TEXT, SQLV_BLOB, SQLV_BOOL };

/* One SQL value. TEXT and BLOB own s (malloc'd, len bytes, NUL after). */
struct sqlv {
	uint8_t type;           /* enum sqlv_type */
	size_t len;
	union { int64_t i; double f; char *s; };
};

/* Free the strings of n values and the array itself. NULL is a no-op. */
void sqlv_free(struct sqlv *v, size_t n);

/* What a job produced: rows of ncols values (cells, row-major) with
** their column names, or, for statements without rows, the changes and
** the last rowid; or an error (rc != 0: SQLite's primary code, with the
** extended one and the message, malloc'd). */
struct sqlres {
	int rc, xrc;
	char *err;
	int ncols;
	char **cols;
	struct sqlv *cells;
	size_t nrows, cap;
	int64_t changes, last_id;
};

void sqlres_free(struct sqlres *r);

/* Bind n values to st (1-based), step it to the end collecting its rows
** (or its changes) into r, and reset it. Worker thread. Returns r->rc. */
int sqldb_run_stmt(sqlite3 *c, sqlite3_stmt *st, const struct sqlv *params,
		   size_t n, struct sqlres *r);

/* Prepare sql and run it as above, then finalize it. Worker thread. */
int sqldb_run_sql(sqlite3 *c, const char *sql, const struct sqlv *params,
		  size_t n, struct sqlres *r);

/* Record c's current error in r (rc, extended code, message). */
void sqldb_set_error(sqlite3 *c, int rc, struct sqlres *r);

/* {==== Jobs ====} */

/* Span flags of a job (see the file comment). */
#define SQLJ_BEGINS 1u  /* on success, the connection belongs to owner */
#define SQLJ_ENDS   2u  /* afterwards (success or not), it is free again */

struct sqljob {
	/* Set by the caller. */
	void (*run)(struct sqljob *j, sqlite3 *c);   /* worker */
	int (*deliver)(lua_State *L, struct sqljob *j); /* in a protected
	                                 ** call on the step's state: push the
	                                 ** waiting coroutine's results, return
	                                 ** how many */
	void (*drop)(struct sqljob *j);  /* free the job (never delivered) */
	uint64_t owner;                 /* transaction token, 0 for none */
	unsigned flags;                 /* SQLJ_* */
	struct sqlres res;              /* run() fills it */
	/* Private. */
	struct sqljob *_next;
	struct sqldb *_db;
	struct proc *_p;                /* NULL: nobody waits (fire and forget) */
	struct coro *_co;
	struct task _task;
	struct pext _ext;
	int _ok;                        /* run() returned and the span rule
	                                ** applies: res.rc == 0 */
};

/* The database of entry e (a db.sql.sqlite), created with its worker on
** first use. Any thread. Never NULL: opening happens on the worker, and a
** database that cannot open fails each job with the open error. */
struct sqldb *sqldb_get(struct rt *rt, const struct reg_entry *e);

/* The entry a database serves. */
const struct reg_entry *sqldb_entry(const struct sqldb *db);

/* Queue j on db for the coroutine running L and park it: use as
** `return sqldb_wait(L, db, j);` from a lua_CFunction. j->deliver later
** runs in the process's step; what it pushes becomes the coroutine's
** results (a memory error there becomes `nil, err`). Then, as whenever
** the process is gone, j->drop frees the job. [-0, +0, e] */
int sqldb_wait(lua_State *L, struct sqldb *db, struct sqljob *j);

/* Queue j on db with nobody waiting: after run() it is dropped. Any
** thread (finalizers: a transaction left open is rolled back this way). */
void sqldb_post(struct sqldb *db, struct sqljob *j);

/* Counters for db:stats(): jobs waiting (in queue, not running), and
** whether the connection is open and whether a job or a transaction
** holds it. Any thread, approximate. */
struct sqldb_stats { int open, in_use; uint64_t waited; };
void sqldb_get_stats(struct sqldb *db, struct sqldb_stats *out);

/* In a pext's deliver (the process's step, on its main state L): run
** push(L, arg) protected, and move what it pushed to the blocked
** coroutine co as the results of its call, then make co ready. A Lua
** error there becomes `nil, err`; when co no longer waits the values are
** dropped. Shared with runtime/pgdb.c. */
void sqldb_resume(lua_State *L, struct coro *co,
		  int (*push)(lua_State *L, void *arg), void *arg);

/* A fresh transaction token (never 0). Any thread. */
uint64_t sqldb_token(void);

/* Runtime shutdown, from rt's teardown: sqldb_stop before the engine is
** destroyed (no job is posted back any more, the workers finish what they
** run and end, queued jobs are dropped), sqldb_free after it (jobs posted
** to shards that never ran them are freed, the connections closed). */
void sqldb_stop(struct rt *rt);
void sqldb_free(struct rt *rt);

#endif
