/*
** runtime/pgdb.h: PostgreSQL databases of the registry (db.sql.postgres),
** driven through libpq's asynchronous API from the shards' rings.
**
** A shard never blocks in libpq (DESIGN.md). Each database has one pool of
** connections per shard, opened lazily (PQconnectStart/PQconnectPoll),
** made non-blocking, and watched with net_watch (engine/net.h) on
** PQsocket: a query is sent (PQsendQuery, PQsendQueryParams,
** PQsendPrepare, PQflush) and its results collected (PQconsumeInput,
** PQisBusy, PQgetResult) from readiness callbacks on the shard that sent
** it. Why a pool per shard rather than one per database: the query and
** its completion then stay on the caller's shard, with no thread hand-off
** and no lock on the hot path; the process is pinned to the shard while
** its job is in flight (proc_io_begin), exactly as for a timer.
**
** Transactions: a job with PGJ_BEGINS that succeeds hands its connection
** to a struct pgtx, which keeps it out of the pool until a PGJ_ENDS job of
** the same transaction ran, or the transaction is abandoned (its Lua
** handle collected: rolled back, with a cancel request for a query still
** running). The process holding a transaction stays pinned to the shard
** of its connection.
**
** A process that ends while its job runs loses nothing and leaks nothing:
** the job holds a reference on the process, the connection finishes the
** job (its results are read to the end, so the connection stays usable)
** and the job is dropped instead of delivered.
**
** Thread affinity: everything on the shard thread of the calling process
** (pgdb_get and pgdb_get_stats from any thread); deliver() runs in the
** process's protected step, drop() on a shard or at runtime teardown.
*/
#ifndef RUNTIME_PGDB_H
#define RUNTIME_PGDB_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "proc.h"
#include "sqldb.h"

struct rt;
struct reg_entry;
struct pgdb;
struct pgconn;
struct pgtrack;
typedef struct pg_result PGresult;

/* What a job sends. */
enum pgj_kind {
	PGJ_SIMPLE,     /* sql with no parameters: the simple query protocol,
	                ** several statements allowed (lib/pq's simpleQuery) */
	PGJ_PARAMS,     /* sql with params: one statement (extended protocol) */
	PGJ_PREPARE,    /* parse sql as the unnamed statement: the check of
	                ** db:prepare; nothing runs */
	PGJ_COMMIT,     /* COMMIT, or ROLLBACK and an error in a failed tx */
	PGJ_STMT,       /* sql with params (maybe none) as a named statement of
	                ** the connection, prepared on it first when it is not
	                ** yet (stmt:query/execute: parsed once per connection) */
};

#define PGJ_BEGINS 1u   /* on success the connection goes to a new pgtx */
#define PGJ_ENDS   2u   /* afterwards the transaction is over (freed) */

/* A transaction's hold on one connection (private to pgdb.c). */
struct pgtx;

struct pgjob {
	/* Set by the caller. */
	int (*deliver)(lua_State *L, struct pgjob *j); /* in a protected call:
	                                ** push the coroutine's results */
	void (*drop)(struct pgjob *j);  /* free the job (after deliver, or
	                                ** instead of it) */
	enum pgj_kind kind;
	unsigned flags;                 /* PGJ_* */
	char *sql;                      /* owned (malloc'd), freed by drop */
	struct sqlv *params;            /* owned, n of them */
	size_t n;
	struct pgtx *tx;                /* run on this transaction's
	                                ** connection; NULL: the pool's */
	/* Results, valid in deliver() and drop(). */
	PGresult *rows;                 /* the first result with rows, or NULL */
	int64_t affected;               /* rows of the last command tag */
	int ncmds;                      /* results that completed */
	char *err;                      /* NULL: success; else "pq: ..." */
	const char *err_kind;           /* ERRORS_* of the error */
	int err_retry;                  /* ERRORS_RETRY_* */
	char sqlstate[6];               /* "" when the error is not the server's */
	PGresult *err_res;              /* the server's error result (fields) */
	int tz_utc;                     /* session TimeZone is UTC */
	struct pgtx *tx_out;            /* PGJ_BEGINS that succeeded */
	/* Private. */
	struct pgjob *_next;
	struct pgdb *_db;
	struct proc *_p;                /* NULL: nobody waits */
	struct coro *_co;
	struct pext _ext;
	int _reused;                    /* sent on a connection that was idle */
	int _phase;                     /* PGJ_STMT: 1 while preparing */
	struct pgconn *_k;              /* the connection running it, or NULL */
	struct pgtrack *_track;         /* its process's running jobs, or NULL */
	struct pgjob *_tnext, *_tprev;
	int _retried;
};

/* The database of entry e (a db.sql.postgres), made on first use with its
** connection string (from dsn, or the fields, their *_env variables read
** now, and options). Any thread. Returns NULL and sets *err (malloc'd, the
** caller frees it) when the fields cannot make one: the original's
** "invalid connection config: host is empty" and friends (INVALID). */
struct pgdb *pgdb_get(struct rt *rt, const struct reg_entry *e, char **err);

const struct reg_entry *pgdb_entry(const struct pgdb *db);

/* Give the process running L the record of its running jobs, once (from
** sql.get, before any job): when its state closes (the process ended or
** was terminated) the queries it still has running in the server are
** cancelled, so a connection is not held by a dead process's long query.
** [-0, +0, m] */
void pgdb_track_open(lua_State *L);

/* Send j on db from the coroutine running L and park it: use as
** `return pgdb_wait(L, db, j);`. j->deliver runs later in the process's
** step and what it pushes becomes the coroutine's results; then j->drop
** frees it (also when the process is gone). [-0, +0, e] */
int pgdb_wait(lua_State *L, struct pgdb *db, struct pgjob *j);

/* Take a transaction handed out by a PGJ_BEGINS job (j->tx_out) into the
** process p: p stays pinned to the connection's shard until the tx ends.
** Call from deliver(). */
void pgdb_tx_adopt(struct pgtx *tx, struct proc *p);

/* The process p lets go of tx without a commit or rollback (its handle is
** collected, or the job that made it is dropped): a query still running
** on it is cancelled, the transaction rolled back, the connection goes
** back to the pool. p may be NULL (never adopted). Shard of tx. */
void pgdb_tx_abandon(struct pgtx *tx, struct proc *p);

/* Release p's pin on tx before a PGJ_ENDS job is sent (the job's own pin
** covers the rest). */
void pgdb_tx_unpin(struct pgtx *tx, struct proc *p);

/* Counters for db:stats() across shards: connections open, in use by a
** job or a transaction, jobs that waited for a connection, connections
** closed past pool.max_idle or pool.max_lifetime. Any thread,
** approximate. max_open is the entry's pool.max_open. */
struct pgdb_stats {
	int max_open, open, in_use;
	uint64_t waited, idle_closed, lifetime_closed;
};
void pgdb_get_stats(struct pgdb *db, struct pgdb_stats *out);

/* Runtime shutdown, as sqldb: pgdb_stop before the engine is destroyed
** (new jobs are dropped), pgdb_free after it (connections closed, jobs
** still queued or running dropped). */
void pgdb_stop(struct rt *rt);
void pgdb_free(struct rt *rt);

#endif
