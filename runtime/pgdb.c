/*
** runtime/pgdb.c: PostgreSQL connections driven from the rings (pgdb.h).
**
** Owns: the per-runtime list of databases (rt->pgdb), each database's
** connection string and its pools (one per shard), the connections with
** their net_watch on PQsocket, the jobs waiting for a connection, and the
** transactions holding one.
**
** Invariants:
** - A pool, its connections, their jobs and transactions are touched only
**   by the pool's shard thread (pools[shard_id]); nothing here locks but
**   the list of databases and the stats counters (atomics).
** - A connection is CONNECTING, IDLE (in the pool, or owned by a
**   transaction with nothing to run) or BUSY (k->job is running): one job
**   at a time, the next ones wait in the pool's queue or, for a
**   transaction, in the connection's own queue.
** - A job is in exactly one place: a queue, a connection's hands, the
**   process's pext queue, or freed. While it waits or runs for a process
**   the process is pinned to the shard and referenced.
** - A watch is allocated apart from its connection and freed in its
**   on_stopped, so a connection can go at once while a poll is still in
**   flight; libpq may change the socket while it connects (another
**   address), which replaces the watch the same way.
*/
#include "runtime/pgdb.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/net.h"
#include "engine/shard.h"
#include "runtime/env.h"
#include "runtime/errors.h"
#include "runtime/log.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

/* Named statements a connection keeps (PGJ_STMT); past them a statement
** runs unnamed, parsed each time, so the server's memory stays bounded. */
#define PG_STMT_CACHE 64

/* pool.max_open 0 means "no limit" in database/sql; a server has one
** (max_connections, 100 by default), so each shard opens at most this
** many then, and jobs queue for them. */
#define PG_DEFAULT_PER_SHARD 10

enum pc_state { PC_CONNECTING, PC_IDLE, PC_BUSY };

struct pgwatch {
	struct net_watch w;
	struct pgconn *k;       /* NULL once the watch is stopped */
};

struct pgconn {
	struct pgconn *next;    /* the pool's list */
	struct pgpool *pool;
	PGconn *c;
	struct pgwatch *pw;     /* NULL while no socket */
	int fd;
	enum pc_state state;
	int flushing;           /* PQflush said 1: wait for POLLOUT too */
	int fresh;              /* no job ran on it yet */
	int counted;            /* counted in db->in_use */
	int cancel_sent;        /* a cancel of the running job is on its way:
	                        ** the connection is closed after the job, never
	                        ** reused (the cancel could hit the next one) */
	uint64_t born_ms;
	struct pgjob *job;      /* BUSY: the running one */
	struct pgtx *tx;        /* owner, or NULL when in the pool */
	struct pgjob *qhead, *qtail; /* the transaction's queued jobs */
	char *stmts[PG_STMT_CACHE];  /* texts prepared as "w<i>" on it */
	int nstmts;
	struct wheel_timer connect_timer; /* connect_timeout, while CONNECTING */
};

struct pgtx {
	struct pgconn *k;       /* NULL once the connection broke */
	struct pgdb *db;
	int ending;             /* a PGJ_ENDS job was sent or queued */
};

struct pgpool {
	struct pgdb *db;
	struct pgconn *conns;
	int nconns, cap;
	int idle_cap;           /* idle connections kept; 0: no limit but cap */
	struct pgjob *qhead, *qtail; /* waiting for a connection */
};

struct pgdb {
	struct pgdb *next;
	struct rt *rt;
	const struct reg_entry *e;
	char *conninfo;
	int connect_timeout_ms;         /* the conninfo's connect_timeout; 0: none */
	int max_open;
	int64_t max_lifetime_ms;
	int nshards;
	struct pgpool *pools;   /* nshards of them */
	atomic_int open, in_use;
	atomic_uint_fast64_t waited;
	atomic_uint_fast64_t idle_closed, lifetime_closed;
	atomic_int stopping;
};

/* The running jobs of one process (a userdata in its registry). */
struct pgtrack {
	struct pgjob *head;
};

#define TRACK_KEY "wippy.pgdb.track"

struct pgstate {
	pthread_mutex_t mu;
	struct pgdb *dbs;
};

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;

static void conn_run(struct pgconn *k, struct pgjob *j);
static void conn_next(struct pgconn *k);

/* {==== Connection strings ====} */

/* Append key='value' (libpq's quoting: \ and ' escaped) to b. */
static void kv(char **b, size_t *len, size_t *cap, const char *k, const char *v)
{
	size_t need = *len + strlen(k) + 2 * strlen(v) + 8;
	if (need > *cap) {
		*cap = need * 2;
		*b = xrealloc(*b, *cap);
	}
	char *o = *b + *len;
	if (*len)
		*o++ = ' ';
	o += sprintf(o, "%s='", k);
	for (; *v; v++) {
		if (*v == '\\' || *v == '\'')
			*o++ = '\\';
		*o++ = *v;
	}
	*o++ = '\'';
	*o = '\0';
	*len = (size_t)(o - *b);
}

/* prefix followed by a (NULL: nothing), malloc'd. */
static char *fmt_err(const char *prefix, const char *a)
{
	size_t n = strlen(prefix) + (a ? strlen(a) : 0) + 1;
	char *s = xmalloc(n);
	snprintf(s, n, "%s%s", prefix, a ? a : "");
	return s;
}

/* A field, or the value of its *_env variable when that is given (the
** original reads the env registry when the database is added). */
static char *field(struct rt *rt, const struct reg_entry *e, const char *val,
		   const char *envkey)
{
	const char *name = reg_value_str(e->data, envkey);
	char *out = NULL;
	if (name && *name && rt->env && env_get(rt->env, name, &out) == 0)
		return out;
	return xstrdup(val ? val : "");
}

/* Whether libpq takes k as a connection keyword. */
static int known_keyword(const char *k)
{
	PQconninfoOption *o = PQconndefaults(), *i;
	int found = 0;
	for (i = o; i && i->keyword; i++)
		if (!strcmp(i->keyword, k))
			found = 1;
	PQconninfoFree(o);
	return found;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* The conninfo of e, or NULL with *err set. */
static char *build_conninfo(struct rt *rt, const struct reg_entry *e, char **err)
{
	const struct reg_db *d = &e->u.db;
	char *host, *port, *db, *user, *pass, *b = NULL;
	size_t len = 0, cap = 0;
	long portn;

	*err = NULL;
	if (d->dsn && *d->dsn)
		return xstrdup(d->dsn);
	host = field(rt, e, d->host, "host_env");
	db = field(rt, e, d->database, "database_env");
	user = field(rt, e, d->username, "username_env");
	pass = field(rt, e, d->password, "password_env");
	port = NULL;
	if (reg_value_str(e->data, "port_env")) {
		char *end;
		port = field(rt, e, NULL, "port_env");
		portn = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || portn <= 0 || portn > 65535) {
			*err = fmt_err("invalid port value from env: ", port);
			goto out;
		}
	} else {
		portn = d->port;
	}
	/* validateDSNFields, in its order and words. */
	if (*host == '\0')
		*err = fmt_err("invalid connection config: host is empty", NULL);
	else if (portn <= 0)
		*err = fmt_err("invalid connection config: port is invalid: 0", NULL);
	else if (*user == '\0')
		*err = fmt_err("invalid connection config: username is empty", NULL);
	else if (*db == '\0')
		*err = fmt_err("invalid connection config: database is empty", NULL);
	if (*err)
		goto out;
	char pbuf[16];
	snprintf(pbuf, sizeof pbuf, "%ld", portn);
	kv(&b, &len, &cap, "host", host);
	kv(&b, &len, &cap, "port", pbuf);
	kv(&b, &len, &cap, "user", user);
	kv(&b, &len, &cap, "password", pass);
	kv(&b, &len, &cap, "dbname", db);
	if (d->options && d->options->type == REG_MAP && d->options->n) {
		size_t n = d->options->n;
		const char ***keys = xmalloc(n * sizeof(*keys));
		for (size_t i = 0; i < n; i++)
			keys[i] = &d->options->keys[i];
		char *rt_opts = NULL;
		size_t rlen = 0, rcap = 0;
		qsort(keys, n, sizeof(*keys), cmp_keys);
		for (size_t i = 0; i < n; i++) {
			size_t at = (size_t)(keys[i] - d->options->keys);
			const char *v = d->options->items[at]->str;
			if (known_keyword(*keys[i])) {
				kv(&b, &len, &cap, *keys[i], v ? v : "");
				continue;
			}
			/* lib/pq sends keys it does not know as run-time
			** parameters (search_path, TimeZone...); libpq refuses
			** them, so they travel in its options as -c key=value. */
			size_t need = rlen + strlen(*keys[i]) + 2 * strlen(v ? v : "") + 8;
			if (need > rcap)
				rt_opts = xrealloc(rt_opts, rcap = need * 2);
			rlen += (size_t)sprintf(rt_opts + rlen, "%s-c %s=", rlen ? " " : "", *keys[i]);
			for (const char *c = v ? v : ""; *c; c++) {
				if (*c == ' ' || *c == '\\')
					rt_opts[rlen++] = '\\';
				rt_opts[rlen++] = *c;
			}
			rt_opts[rlen] = '\0';
		}
		if (rt_opts)
			kv(&b, &len, &cap, "options", rt_opts);
		free(rt_opts);
		free(keys);
	}
out:
	free(host), free(port), free(db), free(user), free(pass);
	if (*err) {
		free(b);
		return NULL;
	}
	return b;
}

/* }==================================================================== */

/* {==== Errors ====} */

/* The first line of a libpq message, without its trailing newline. */
static char *first_line(const char *m)
{
	const char *nl;
	size_t n;
	if (m == NULL || *m == '\0')
		m = "unknown error";
	nl = strchr(m, '\n');
	n = nl ? (size_t)(nl - m) : strlen(m);
	char *s = xmalloc(n + 1);
	memcpy(s, m, n);
	s[n] = '\0';
	return s;
}

/* The kind of a server error, from its SQLSTATE class. */
static void kind_of_state(const char *st, const char **kind, int *retry)
{
	*retry = ERRORS_RETRY_NO;
	if (!strcmp(st, "40001") || !strcmp(st, "40P01")) {
		*kind = ERRORS_CONFLICT;	/* serialization failure, deadlock */
		*retry = ERRORS_RETRY_YES;
	} else if (!strncmp(st, "23", 2)) {
		*kind = ERRORS_CONFLICT;	/* integrity constraints */
	} else if (!strcmp(st, "42501") || !strncmp(st, "28", 2)) {
		*kind = ERRORS_PERMISSION_DENIED;
	} else if (!strcmp(st, "57014")) {
		*kind = ERRORS_CANCELED;	/* query_canceled */
	} else if (!strncmp(st, "08", 2) && strcmp(st, "08P01") != 0) {
		*kind = ERRORS_UNAVAILABLE;
		*retry = ERRORS_RETRY_YES;
	} else if (!strncmp(st, "53", 2) || !strncmp(st, "57", 2)) {
		*kind = ERRORS_UNAVAILABLE;	/* resources, shutdown */
		*retry = ERRORS_RETRY_YES;
	} else if (!strncmp(st, "42", 2) || !strncmp(st, "22", 2) ||
		   !strncmp(st, "0A", 2) || !strncmp(st, "25", 2) ||
		   !strncmp(st, "26", 2) || !strncmp(st, "2B", 2) ||
		   !strncmp(st, "3B", 2) || !strncmp(st, "3D", 2) ||
		   !strncmp(st, "3F", 2) || !strncmp(st, "34", 2) ||
		   !strcmp(st, "08P01")) {
		*kind = ERRORS_INVALID;
	} else if (!strncmp(st, "XX", 2) || !strncmp(st, "58", 2)) {
		*kind = ERRORS_INTERNAL;
	} else {
		*kind = ERRORS_UNKNOWN;
	}
}

/* Record the server's error r in j (the first one wins); takes r. */
static void set_server_error(struct pgjob *j, PGresult *r)
{
	const char *st, *msg;
	if (j->err) {
		PQclear(r);
		return;
	}
	st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL) {
		char *l = first_line(PQresultErrorMessage(r));
		j->err = fmt_err("pq: ", l);
		free(l);
	} else {
		j->err = fmt_err("pq: ", msg);
	}
	snprintf(j->sqlstate, sizeof j->sqlstate, "%s", st ? st : "");
	kind_of_state(j->sqlstate, &j->err_kind, &j->err_retry);
	j->err_res = r;
}

/* A failure of the connection (not of the statement). */
static void set_conn_error(struct pgjob *j, const char *msg)
{
	char *l;
	if (j->err)
		return;
	l = first_line(msg);
	j->err = l;
	j->sqlstate[0] = '\0';
	j->err_retry = ERRORS_RETRY_YES;
	j->err_kind = ERRORS_UNAVAILABLE;
	if (strstr(l, "authentication failed") || strstr(l, "no pg_hba.conf entry")) {
		j->err_kind = ERRORS_PERMISSION_DENIED;
		j->err_retry = ERRORS_RETRY_NO;
	} else if (strstr(l, "does not exist")) {
		j->err_kind = ERRORS_NOT_FOUND;	/* database or role */
		j->err_retry = ERRORS_RETRY_NO;
	}
}

/* }==================================================================== */

/* {==== Jobs back to their processes ====} */

static int push_job(lua_State *L, void *arg)
{
	struct pgjob *j = arg;
	return j->deliver(L, j);
}

/* In the process's step: push the results and wake the coroutine. */
static void ext_deliver(lua_State *L, struct pext *x)
{
	struct pgjob *j = container_of(x, struct pgjob, _ext);
	struct proc *p = j->_p;

	sqldb_resume(L, j->_co, push_job, j);
	j->drop(j);
	proc_unref(p);
}

static void untrack(struct pgjob *j)
{
	struct pgtrack *t = j->_track;
	if (t == NULL)
		return;
	if (j->_tprev)
		j->_tprev->_tnext = j->_tnext;
	else
		t->head = j->_tnext;
	if (j->_tnext)
		j->_tnext->_tprev = j->_tprev;
	j->_track = NULL;
	j->_tnext = j->_tprev = NULL;
}

/* Free a job nobody will get; what it made is undone. */
static void discard(struct pgjob *j)
{
	struct proc *p = j->_p;
	untrack(j);
	if (j->tx_out) {
		struct pgtx *tx = j->tx_out;
		j->tx_out = NULL;
		pgdb_tx_abandon(tx, NULL);
	}
	j->drop(j);
	if (p)
		proc_unref(p);
}

/* The job is over: to its process, on this shard (it is pinned here). */
static void finish(struct pgjob *j)
{
	struct proc *p = j->_p;

	j->_k = NULL;
	untrack(j);
	if (p == NULL || atomic_load(&j->_db->stopping)) {
		discard(j);
		return;
	}
	proc_io_end(p);
	if (p->state == P_DONE || p->L == NULL) {
		discard(j);	/* the process ended while we worked */
		return;
	}
	j->_ext.deliver = ext_deliver;
	proc_ext_post(p, &j->_ext);
}

static void fail(struct pgjob *j, const char *msg)
{
	set_conn_error(j, msg);
	finish(j);
}

/* }==================================================================== */

/* {==== Connections ====} */

static void noticer(void *arg, const char *msg)
{
	(void)arg, (void)msg;	/* NOTICEs are not errors: dropped */
}

static void watch_stopped(struct net_watch *w)
{
	free(container_of(w, struct pgwatch, w));
}

static void on_ready(struct net_watch *w, int rev);

static void want(struct pgconn *k, unsigned ev)
{
	if (k->pw)
		(void)net_watch_want(&k->pw->w, ev);
}

/* Watch PQsocket, replacing the watch when the socket changed. */
static void watch_socket(struct pgconn *k)
{
	int fd = PQsocket(k->c);
	if (k->pw && k->fd == fd)
		return;
	if (k->pw) {
		k->pw->k = NULL;
		net_watch_stop(&k->pw->w);
		k->pw = NULL;
	}
	k->fd = fd;
	if (fd < 0)
		return;
	k->pw = xcalloc(1, sizeof(*k->pw));
	net_watch_init(&k->pw->w, fd, on_ready);
	k->pw->w.on_stopped = watch_stopped;
	k->pw->k = k;
}

/* Keep db->in_use right: a connection is in use while it runs or waits
** to run a job, or a transaction holds it. */
static void account(struct pgconn *k)
{
	int busy = k->job != NULL || k->tx != NULL;
	if (busy != k->counted) {
		atomic_fetch_add(&k->pool->db->in_use, busy ? 1 : -1);
		k->counted = busy;
	}
}

/* A job of a transaction is over: so is the transaction. */
static void end_tx_of(struct pgjob *j)
{
	if (j->tx && (j->flags & PGJ_ENDS)) {
		if (j->tx->k)
			j->tx->k->tx = NULL;
		free(j->tx);
		j->tx = NULL;
	}
}

/* Unlink k from its pool, close it, free it. Its running job and queued
** transaction jobs must have been handed off already. */
static void conn_free(struct pgconn *k)
{
	struct pgpool *pool = k->pool;
	struct pgconn **pp;

	for (pp = &pool->conns; *pp && *pp != k; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = k->next;
	pool->nconns--;
	atomic_fetch_sub(&pool->db->open, 1);
	if (k->pw) {
		k->pw->k = NULL;
		net_watch_stop(&k->pw->w);
	}
	k->job = NULL;
	k->tx = NULL;
	account(k);
	if (wheel_is_active(&k->connect_timer))
		shard_timer_cancel(&k->connect_timer);
	PQfinish(k->c);
	for (int i = 0; i < k->nstmts; i++)
		free(k->stmts[i]);
	free(k);
}

/* Jobs of the pool waiting for a connection: one more may start now. */
static void pool_kick(struct pgpool *pool);

/* Whether j failed only because the connection it was sent on had died
** while idle (nothing of it ran): database/sql retries such a job
** (driver.ErrBadConn) on a fresh connection, once. */
static int may_retry(const struct pgjob *j)
{
	return j->_reused && !j->_retried && j->tx == NULL && j->ncmds == 0 &&
	       !(j->flags & PGJ_BEGINS) && j->rows == NULL;
}

/* Put j back at the head of the pool's queue with its results reset. */
static void retry(struct pgpool *pool, struct pgjob *j)
{
	free(j->err);
	j->err = NULL;
	j->err_kind = NULL;
	j->sqlstate[0] = '\0';
	if (j->err_res)
		PQclear(j->err_res);
	j->err_res = NULL;
	j->affected = 0;
	j->_phase = 0;
	j->_retried = 1;
	j->_next = pool->qhead;
	pool->qhead = j;
	if (pool->qtail == NULL)
		pool->qtail = j;
}

/* The connection broke (or must not be reused): its job fails with msg
** (or goes back to the pool once, when it was sent on a connection that
** had been idle: the server may have closed it meanwhile, and
** database/sql retries such a job on a fresh one), its transaction loses
** it, and the pool may open another. */
static void conn_broken(struct pgconn *k, const char *msg)
{
	struct pgpool *pool = k->pool;
	struct pgjob *j = k->job, *q;
	char *m = first_line(msg ? msg : PQerrorMessage(k->c));

	k->job = NULL;
	if (k->tx) {
		k->tx->k = NULL;
		while ((q = k->qhead) != NULL) {
			k->qhead = q->_next;
			end_tx_of(q);
			fail(q, m);
		}
		k->qtail = NULL;
	}
	if (j) {
		if (may_retry(j)) {
			j->_k = NULL;
			retry(pool, j);
		} else {
			end_tx_of(j);
			fail(j, m);
		}
	}
	free(m);
	conn_free(k);
	pool_kick(pool);
}

/* libpq's asynchronous connect does not enforce connect_timeout (only
** its blocking one does): the shard's wheel does, as lib/pq's dialer. */
static void connect_expired(struct wheel_timer *t)
{
	struct pgconn *k = container_of(t, struct pgconn, connect_timer);
	if (k->state == PC_CONNECTING)
		conn_broken(k, "timeout expired");
}

/* A new connection for pool, started; NULL (and *msg) when libpq
** refuses at once. */
static struct pgconn *conn_open(struct pgpool *pool, char **msg)
{
	struct pgconn *k;
	PGconn *c = PQconnectStart(pool->db->conninfo);

	if (c == NULL) {
		*msg = xstrdup("out of memory");
		return NULL;
	}
	if (PQstatus(c) == CONNECTION_BAD) {
		*msg = first_line(PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	if (PQsocket(c) < 0) {	/* nothing to watch: cannot go on */
		*msg = first_line(PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, noticer, NULL);
	k = xcalloc(1, sizeof(*k));
	k->pool = pool;
	k->c = c;
	k->fd = -1;
	k->state = PC_CONNECTING;
	k->fresh = 1;
	k->born_ms = common_now_ms();
	k->next = pool->conns;
	pool->conns = k;
	pool->nconns++;
	atomic_fetch_add(&pool->db->open, 1);
	watch_socket(k);
	/* PQconnectPoll's contract: begin as if it had said WRITING. */
	want(k, POLLOUT);
	wheel_timer_init(&k->connect_timer, connect_expired);
	if (pool->db->connect_timeout_ms > 0)
		shard_timer_add(&k->connect_timer, common_now_ms() + (uint64_t)pool->db->connect_timeout_ms);
	return k;
}

static void connect_step(struct pgconn *k)
{
	switch (PQconnectPoll(k->c)) {
	case PGRES_POLLING_READING:
		watch_socket(k);
		if (k->pw == NULL)
			break;	/* no socket to wait on: broken */
		want(k, POLLIN);
		return;
	case PGRES_POLLING_WRITING:
		watch_socket(k);
		if (k->pw == NULL)
			break;
		want(k, POLLOUT);
		return;
	case PGRES_POLLING_OK:
		if (wheel_is_active(&k->connect_timer))
			shard_timer_cancel(&k->connect_timer);
		watch_socket(k);
		if (PQsetnonblocking(k->c, 1) != 0) {
			conn_broken(k, NULL);
			return;
		}
		k->state = PC_IDLE;
		if (k->job) {	/* the job that opened it */
			struct pgjob *j = k->job;
			k->job = NULL;
			conn_run(k, j);
		} else {
			conn_next(k);
		}
		return;
	default:
		break;
	}
	conn_broken(k, NULL);
}

/* Take one result of the running job. Returns 1 when the connection
** is gone (freed) because of it, else 0. */
static int absorb(struct pgconn *k, struct pgjob *j, PGresult *r)
{
	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
		j->ncmds++;
		j->affected = atoll(PQcmdTuples(r));
		if (j->rows == NULL && !j->err) {
			j->rows = r;
			return 0;
		}
		break;
	case PGRES_COMMAND_OK:
		j->ncmds++;
		j->affected = atoll(PQcmdTuples(r));
		break;
	case PGRES_EMPTY_QUERY:
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		/* Not a protocol the module speaks: the connection is left in
		** a state only closing ends. */
		set_conn_error(j, "COPY is not supported");
		j->err_kind = ERRORS_INVALID;
		j->err_retry = ERRORS_RETRY_NO;
		j->_retried = 1;	/* no second try on a fresh connection */
		PQclear(r);
		conn_broken(k, "COPY is not supported");
		return 1;
	default:
		set_server_error(j, r);
		return 0;
	}
	PQclear(r);
	return 0;
}

/* The running job got its last result. */
static void job_done(struct pgconn *k)
{
	struct pgjob *j = k->job;
	const char *tz = PQparameterStatus(k->c, "TimeZone");
	int ended = 0;

	/* The server ended the session under the job (pg_terminate_backend,
	** a restart): FATAL 57P0x, then the connection closes. */
	if (j->err && may_retry(j) && (PQstatus(k->c) == CONNECTION_BAD ||
	    !strncmp(j->sqlstate, "57P0", 4))) {
		conn_broken(k, NULL);
		return;
	}
	if (j->_phase == 1 && !j->err) {	/* prepared: now run it */
		k->stmts[k->nstmts++] = xstrdup(j->sql);
		j->_phase = 0;
		k->job = NULL;
		k->state = PC_IDLE;
		conn_run(k, j);
		return;
	}
	k->job = NULL;
	k->fresh = 0;
	k->state = PC_IDLE;
	j->tz_utc = tz && (!strcmp(tz, "UTC") || !strcmp(tz, "Etc/UTC") ||
			   !strcmp(tz, "GMT") || !strcmp(tz, "Etc/GMT"));
	if (j->kind == PGJ_COMMIT && j->_retried == 2 && !j->err) {
		/* COMMIT of a failed transaction: lib/pq rolls back and says so. */
		j->err = xstrdup("pq: Could not complete operation in a failed transaction");
		j->err_kind = ERRORS_INVALID;
		j->err_retry = ERRORS_RETRY_NO;
	}
	if ((j->flags & PGJ_BEGINS) && !j->err) {
		struct pgtx *tx = xcalloc(1, sizeof(*tx));
		tx->k = k;
		tx->db = k->pool->db;
		k->tx = tx;
		j->tx_out = tx;
	} else if ((j->flags & PGJ_ENDS) && j->tx) {
		end_tx_of(j);
		ended = 1;
	}
	account(k);
	finish(j);
	if (k->cancel_sent) {
		conn_broken(k, "connection closed after a cancel");
		return;
	}
	if (ended && PQtransactionStatus(k->c) != PQTRANS_IDLE) {
		conn_broken(k, "transaction did not end");
		return;
	}
	conn_next(k);
}

static void io_step(struct pgconn *k, int rev)
{
	PGconn *c = k->c;

	if (k->flushing && (rev & (POLLOUT | POLLERR | POLLHUP))) {
		int r = PQflush(c);
		if (r < 0) {
			conn_broken(k, NULL);
			return;
		}
		k->flushing = r == 1;
	}
	if (rev & (POLLIN | POLLERR | POLLHUP)) {
		if (!PQconsumeInput(c)) {
			conn_broken(k, NULL);
			return;
		}
		if (k->flushing) {
			int r = PQflush(c);
			if (r < 0) {
				conn_broken(k, NULL);
				return;
			}
			k->flushing = r == 1;
		}
	}
	while (!PQisBusy(c)) {
		PGresult *r = PQgetResult(c);
		if (r == NULL) {
			job_done(k);
			return;
		}
		if (absorb(k, k->job, r))
			return;	/* k is gone */
	}
	if (PQstatus(c) == CONNECTION_BAD) {
		conn_broken(k, NULL);
		return;
	}
	want(k, POLLIN | (k->flushing ? POLLOUT : 0));
}

static void on_ready(struct net_watch *w, int rev)
{
	struct pgwatch *pw = container_of(w, struct pgwatch, w);
	struct pgconn *k = pw->k;

	if (k == NULL)
		return;
	if (rev < 0) {
		conn_broken(k, "poll on the connection failed");
		return;
	}
	switch (k->state) {
	case PC_CONNECTING:
		connect_step(k);
		break;
	case PC_BUSY:
		io_step(k, rev);
		break;
	case PC_IDLE:
		/* The server spoke unasked: a notice, a parameter change, or
		** the end (it closed the connection). */
		if (!PQconsumeInput(k->c) || PQstatus(k->c) == CONNECTION_BAD) {
			struct pgpool *pool = k->pool;
			if (k->tx)
				k->tx->k = NULL;
			conn_free(k);
			pool_kick(pool);
			return;
		}
		while (PQisBusy(k->c) == 0) {
			PGresult *r = PQgetResult(k->c);
			if (r == NULL)
				break;
			PQclear(r);
		}
		break;
	}
}

/* Send j on k (IDLE, connected). */
static void conn_run(struct pgconn *k, struct pgjob *j)
{
	const char **vals = NULL;
	int *lens = NULL, *fmts = NULL, ok;
	char (*num)[32] = NULL;
	char name[16];
	const char *stmt = NULL;

	k->job = j;
	j->_k = k;
	account(k);
	if (k->state == PC_CONNECTING)	/* runs once connected */
		return;
	k->state = PC_BUSY;
	j->_reused = !k->fresh;
	switch (j->kind) {
	case PGJ_SIMPLE:
		ok = PQsendQuery(k->c, j->sql);
		break;
	case PGJ_COMMIT:
		if (PQtransactionStatus(k->c) == PQTRANS_INERROR) {
			j->_retried = 2;
			ok = PQsendQuery(k->c, "ROLLBACK");
		} else {
			ok = PQsendQuery(k->c, "COMMIT");
		}
		break;
	case PGJ_PREPARE:
		ok = PQsendPrepare(k->c, "", j->sql, 0, NULL);
		break;
	case PGJ_STMT: {
		int i;
		for (i = 0; i < k->nstmts && strcmp(k->stmts[i], j->sql); i++)
			;
		if (i == k->nstmts && i < PG_STMT_CACHE) {
			snprintf(name, sizeof name, "w%d", i);
			j->_phase = 1;
			ok = PQsendPrepare(k->c, name, j->sql, 0, NULL);
			break;
		}
		if (i < k->nstmts) {
			snprintf(name, sizeof name, "w%d", i);
			stmt = name;
		}
	}
		/* fall through */
	default:
		vals = xcalloc(j->n + 1, sizeof(*vals));
		lens = xcalloc(j->n + 1, sizeof(*lens));
		fmts = xcalloc(j->n + 1, sizeof(*fmts));
		num = xcalloc(j->n + 1, sizeof(*num));
		for (size_t i = 0; i < j->n; i++) {
			const struct sqlv *v = &j->params[i];
			switch (v->type) {
			case SQLV_INT:
				snprintf(num[i], sizeof num[i], "%lld", (long long)v->i);
				vals[i] = num[i];
				break;
			case SQLV_BOOL:
				vals[i] = v->i ? "true" : "false";
				break;
			case SQLV_FLOAT: {
				/* The shortest text that reads back the same
				** (Go's FormatFloat(f, 'f', -1, 64) in spirit). */
				for (int p = 15; p <= 17; p++) {
					snprintf(num[i], sizeof num[i], "%.*g", p, v->f);
					if (strtod(num[i], NULL) == v->f)
						break;
				}
				vals[i] = num[i];
				break;
			}
			case SQLV_TEXT:
				vals[i] = v->s;
				lens[i] = (int)v->len;
				/* Text with a NUL cannot travel as text. */
				fmts[i] = memchr(v->s, 0, v->len) != NULL;
				break;
			case SQLV_BLOB:
				vals[i] = v->s;
				lens[i] = (int)v->len;
				fmts[i] = 1;	/* bytes as they are: bytea's binary form */
				break;
			default:
				vals[i] = NULL;
			}
		}
		ok = stmt ? PQsendQueryPrepared(k->c, stmt, (int)j->n, vals, lens, fmts, 0)
			  : PQsendQueryParams(k->c, j->sql, (int)j->n, NULL, vals, lens, fmts, 0);
		free(vals), free(lens), free(fmts), free(num);
	}
	if (!ok) {
		if (PQstatus(k->c) == CONNECTION_BAD) {
			conn_broken(k, NULL);
			return;
		}
		/* Refused before sending (too many parameters, ...). */
		k->job = NULL;
		k->state = PC_IDLE;
		account(k);
		set_conn_error(j, PQerrorMessage(k->c));
		j->err_kind = ERRORS_INVALID;
		j->err_retry = ERRORS_RETRY_NO;
		finish(j);
		conn_next(k);
		return;
	}
	int r = PQflush(k->c);
	if (r < 0) {
		conn_broken(k, NULL);
		return;
	}
	k->flushing = r == 1;
	want(k, POLLIN | (k->flushing ? POLLOUT : 0));
}

/* k is IDLE: run what waits for it, or rest (and watch for the server
** closing it). A connection past its lifetime is closed instead. */
static void conn_next(struct pgconn *k)
{
	struct pgpool *pool = k->pool;
	struct pgjob *j;

	if (k->tx) {
		if ((j = k->qhead) != NULL) {
			k->qhead = j->_next;
			if (k->qhead == NULL)
				k->qtail = NULL;
			conn_run(k, j);
		} else {
			want(k, POLLIN);
		}
		return;
	}
	if (pool->db->max_lifetime_ms > 0 &&
	    common_now_ms() - k->born_ms > (uint64_t)pool->db->max_lifetime_ms) {
		atomic_fetch_add(&pool->db->lifetime_closed, 1);
		conn_free(k);
		pool_kick(pool);
		return;
	}
	if ((j = pool->qhead) != NULL) {
		pool->qhead = j->_next;
		if (pool->qhead == NULL)
			pool->qtail = NULL;
		conn_run(k, j);
		return;
	}
	if (pool->idle_cap > 0) {	/* pool.max_idle: keep no more resting */
		int idle = 0;
		for (struct pgconn *o = pool->conns; o; o = o->next)
			idle += o != k && o->state == PC_IDLE && o->tx == NULL;
		if (idle >= pool->idle_cap) {
			atomic_fetch_add(&pool->db->idle_closed, 1);
			conn_free(k);
			return;
		}
	}
	want(k, POLLIN);
}

/* Give j a connection of pool: an idle one, a new one, or a place in the
** queue. */
static void pool_take(struct pgpool *pool, struct pgjob *j)
{
	struct pgconn *k;
	char *msg = NULL;

	for (k = pool->conns; k; k = k->next)
		if (k->state == PC_IDLE && k->tx == NULL) {
			if (!j->_retried) {
				conn_run(k, j);
				return;
			}
			if (pool->nconns >= pool->cap) {
				/* A retry wants a fresh connection: make room. The
				** idle ones may be as dead as the one it left. */
				conn_free(k);
				break;
			}
		}
	if (pool->nconns < pool->cap) {
		if ((k = conn_open(pool, &msg)) == NULL) {
			fail(j, msg);
			free(msg);
			return;
		}
		conn_run(k, j);	/* waits for the connection */
		return;
	}
	atomic_fetch_add(&pool->db->waited, 1);
	j->_next = NULL;
	if (pool->qtail)
		pool->qtail->_next = j;
	else
		pool->qhead = j;
	pool->qtail = j;
}

static void pool_kick(struct pgpool *pool)
{
	struct pgjob *j;

	while ((j = pool->qhead) != NULL && pool->nconns < pool->cap) {
		pool->qhead = j->_next;
		if (pool->qhead == NULL)
			pool->qtail = NULL;
		pool_take(pool, j);
	}
}

/* Run j: on its transaction's connection, or the pool's. */
static void dispatch(struct pgdb *db, struct pgjob *j)
{
	struct pgtx *tx = j->tx;
	struct pgconn *k;

	j->_db = db;
	j->_next = NULL;
	if (atomic_load(&db->stopping)) {
		discard(j);
		return;
	}
	if (tx == NULL) {
		pool_take(&db->pools[shard_id(shard_self())], j);
		return;
	}
	if (j->flags & PGJ_ENDS)
		tx->ending = 1;
	if ((k = tx->k) == NULL) {	/* its connection broke */
		end_tx_of(j);
		fail(j, "driver: bad connection");
		return;
	}
	if (k->state == PC_IDLE && k->qhead == NULL) {
		conn_run(k, j);
		return;
	}
	if (k->qtail)
		k->qtail->_next = j;
	else
		k->qhead = j;
	k->qtail = j;
}

/* }==================================================================== */

/* {==== Transactions ====} */

void pgdb_tx_adopt(struct pgtx *tx, struct proc *p)
{
	(void)tx;
	proc_io_begin(p);	/* the connection lives on this shard */
}

void pgdb_tx_unpin(struct pgtx *tx, struct proc *p)
{
	(void)tx;
	proc_io_end(p);
}

static void drop_rollback(struct pgjob *j)
{
	if (j->rows)
		PQclear(j->rows);
	if (j->err_res)
		PQclear(j->err_res);
	free(j->err);
	free(j->sql);
	free(j);
}

/* Ask the server to cancel the query k runs. PQcancel connects and
** waits, so a short-lived thread does it, never the shard. */
static void *cancel_thread(void *arg)
{
	PGcancel *cn = arg;
	char buf[256];
	(void)PQcancel(cn, buf, sizeof buf);
	PQfreeCancel(cn);
	return NULL;
}

static void request_cancel(struct pgconn *k)
{
	PGcancel *cn;
	pthread_t th;
	pthread_attr_t a;

	if (k->cancel_sent || (cn = PQgetCancel(k->c)) == NULL)
		return;
	k->cancel_sent = 1;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, cancel_thread, cn) != 0)
		PQfreeCancel(cn);
	pthread_attr_destroy(&a);
}

void pgdb_tx_abandon(struct pgtx *tx, struct proc *p)
{
	struct pgjob *j;

	if (p)
		proc_io_end(p);
	if (tx->ending)
		return;	/* an end is on its way and frees it */
	if (tx->k == NULL || atomic_load(&tx->db->stopping)) {
		if (tx->k)
			tx->k->tx = NULL;
		free(tx);
		return;
	}
	if (tx->k->state == PC_BUSY)
		request_cancel(tx->k);
	j = xcalloc(1, sizeof(*j));
	j->kind = PGJ_SIMPLE;
	j->sql = xstrdup("ROLLBACK");
	j->flags = PGJ_ENDS;
	j->tx = tx;
	j->drop = drop_rollback;
	dispatch(tx->db, j);
}

/* }==================================================================== */

/* {==== Databases of a runtime ====} */

/* connect_timeout of a conninfo in ms (libpq's reading: whole seconds,
** below 2 counts as 2), or 0. */
static int connect_timeout_of(const char *ci)
{
	PQconninfoOption *o = PQconninfoParse(ci, NULL), *i;
	int ms = 0;
	for (i = o; i && i->keyword; i++)
		if (!strcmp(i->keyword, "connect_timeout") && i->val && atoi(i->val) > 0)
			ms = (atoi(i->val) < 2 ? 2 : atoi(i->val)) * 1000;
	PQconninfoFree(o);
	return ms;
}

static struct pgstate *state_of(struct rt *rt)
{
	struct pgstate *s;

	pthread_mutex_lock(&state_mu);
	if ((s = rt->pgdb) == NULL) {
		s = xcalloc(1, sizeof(*s));
		pthread_mutex_init(&s->mu, NULL);
		rt->pgdb = s;
	}
	pthread_mutex_unlock(&state_mu);
	return s;
}

struct pgdb *pgdb_get(struct rt *rt, const struct reg_entry *e, char **err)
{
	struct pgstate *s = state_of(rt);
	struct pgdb *db;

	*err = NULL;
	pthread_mutex_lock(&s->mu);
	for (db = s->dbs; db && db->e != e; db = db->next)
		;
	if (db == NULL) {
		char *ci = build_conninfo(rt, e, err);
		if (ci == NULL) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		db = xcalloc(1, sizeof(*db));
		db->rt = rt;
		db->e = e;
		db->conninfo = ci;
		db->connect_timeout_ms = connect_timeout_of(ci);
		db->max_open = e->u.db.max_open;
		db->max_lifetime_ms = e->u.db.max_lifetime / 1000000;
		db->nshards = engine_nshards(rt->engine);
		db->pools = xcalloc((size_t)db->nshards, sizeof(*db->pools));
		for (int i = 0; i < db->nshards; i++) {
			db->pools[i].db = db;
			db->pools[i].cap = db->max_open > 0
				? (db->max_open + db->nshards - 1) / db->nshards
				: PG_DEFAULT_PER_SHARD;
			db->pools[i].idle_cap = e->u.db.max_idle > 0
				? (e->u.db.max_idle + db->nshards - 1) / db->nshards : 0;
		}
		db->next = s->dbs;
		s->dbs = db;
	}
	pthread_mutex_unlock(&s->mu);
	return db;
}

const struct reg_entry *pgdb_entry(const struct pgdb *db)
{
	return db->e;
}

/* The process's state closes: cancel what it still runs in the server.
** The jobs themselves finish (their results read) and are dropped. */
static int track_gc(lua_State *L)
{
	struct pgtrack *t = lua_touserdata(L, 1);
	struct pgjob *j;

	while ((j = t->head) != NULL) {
		t->head = j->_tnext;
		j->_track = NULL;
		j->_tnext = j->_tprev = NULL;
		if (j->_k && j->_k->job == j && j->_k->state == PC_BUSY &&
		    !atomic_load(&j->_db->stopping))
			request_cancel(j->_k);
	}
	return 0;
}

void pgdb_track_open(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, TRACK_KEY) != LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	struct pgtrack *t = lua_newuserdatauv(L, sizeof(*t), 0);
	t->head = NULL;
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, track_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	proc_note_finalizer(L);
	lua_setfield(L, LUA_REGISTRYINDEX, TRACK_KEY);
}

int pgdb_wait(lua_State *L, struct pgdb *db, struct pgjob *j)
{
	struct coro *co = proc_coro(L);	/* raises outside a process coroutine */
	struct proc *p = co->p;

	struct pgtrack *t;

	lua_getfield(L, LUA_REGISTRYINDEX, TRACK_KEY);	/* made by sql.get */
	t = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (t) {
		j->_track = t;
		j->_tnext = t->head;
		j->_tprev = NULL;
		if (t->head)
			t->head->_tprev = j;
		t->head = j;
	}
	j->_p = p;
	j->_co = co;
	proc_ref(p);
	proc_io_begin(p);
	dispatch(db, j);
	return proc_block(L, 1, NULL, 0);
}

void pgdb_get_stats(struct pgdb *db, struct pgdb_stats *out)
{
	out->max_open = db->max_open;
	out->open = atomic_load(&db->open);
	out->in_use = atomic_load(&db->in_use);
	out->waited = atomic_load(&db->waited);
	out->idle_closed = atomic_load(&db->idle_closed);
	out->lifetime_closed = atomic_load(&db->lifetime_closed);
}

void pgdb_stop(struct rt *rt)
{
	struct pgstate *s = rt->pgdb;
	struct pgdb *db;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	for (db = s->dbs; db; db = db->next)
		atomic_store(&db->stopping, 1);
	pthread_mutex_unlock(&s->mu);
}

/* Teardown: the rings are gone, nothing completes any more. */
static void drop_queue(struct pgjob *j)
{
	while (j) {
		struct pgjob *next = j->_next;
		end_tx_of(j);
		discard(j);
		j = next;
	}
}

void pgdb_free(struct rt *rt)
{
	struct pgstate *s = rt->pgdb;
	struct pgdb *db, *next;

	if (s == NULL)
		return;
	for (db = s->dbs; db; db = next) {
		next = db->next;
		for (int i = 0; i < db->nshards; i++) {
			struct pgpool *pool = &db->pools[i];
			struct pgconn *k, *kn;
			drop_queue(pool->qhead);
			for (k = pool->conns; k; k = kn) {
				kn = k->next;
				drop_queue(k->qhead);
				if (k->job)
					drop_queue(k->job);
				/* A transaction still held: its Lua handle is gone
				** with its process by now. */
				if (k->tx)
					k->tx->k = NULL;
				/* A query still running would go on in the server
				** after we hang up (the backend notices only when it
				** next writes): cancel it. The shards are gone, so
				** waiting here holds nobody up. */
				if (k->state == PC_BUSY) {
					PGcancel *cn = PQgetCancel(k->c);
					char buf[256];
					if (cn) {
						(void)PQcancel(cn, buf, sizeof buf);
						PQfreeCancel(cn);
					}
				}
				free(k->pw);	/* its poll died with the ring */
				PQfinish(k->c);
				free(k);
			}
		}
		free(db->pools);
		free(db->conninfo);
		free(db);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
	rt->pgdb = NULL;
}

/* }==================================================================== */
