/*
** runtime/rt.h: the runtime object, i.e. what one `wippy run` (or `wippy
** test`) owns: the registry, env, engine, hosts, the compiled code cache,
** the pid table and names, the shutdown state and the supervisor hook;
** and its lifecycle, implemented in runtime/rt.c: rt_boot, rt_start,
** rt_begin_shutdown, rt_wait, rt_free.
**
** Built once at boot before any shard starts and read-only afterwards,
** except the fields marked otherwise (atomics and the locked tables).
** rt.c owns the object and the hosts; codes belong to code.c, the pid
** table and names to ptable.c and proc.c, httpd to httpd.c. The supervisor
** (runtime/service.c) sits above: the rt knows it only through struct
** rt_supervisor, and names neither its type nor its calls.
*/
#ifndef RUNTIME_RT_H
#define RUNTIME_RT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "terminal.h"

struct registry;
struct reg_entry;
struct env;
struct engine;
struct proc;
struct rt;
struct metrics;
struct rstats;

/* rt->stopping: shutdown only moves forward. proc.c refuses to spawn past
** RT_CANCELLING. */
enum rt_stopping {
	RT_RUNNING = 0,
	RT_CANCELLING = 1,     /* CANCEL sent to every process */
	RT_TERMINATING = 2,    /* the grace ran out: TERMINATE sent */
};

/* A process.host or terminal.host: a scheduling domain over shards. */
struct host {
	const struct reg_entry *entry;
	const char *id;
	int first, n;          /* shards [first, first + n) */
	atomic_uint rr;        /* round-robin placement */
	int terminal;
};

/* Compiled bytecode of one Lua entry (process, function or library). */
struct code {
	const struct reg_entry *entry;
	char *bc;
	size_t len;
	/* Bytes the last process of this entry allocated, when it ran to its
	** end in its first step; 0 when it lived on (or none ended yet). Read
	** and written by any shard, relaxed: it is only a sizing hint. */
	atomic_uint arena_hint;
};

#define PT_STRIPES 64

struct pt_stripe {
	pthread_mutex_t lock;
	struct proc **slots;   /* open addressing by pid, power of two */
	uint32_t cap, n, tomb;
} __attribute__((aligned(64)));

struct rt {
	struct registry *reg;
	struct env *env;
	struct engine *engine;
	struct host *hosts;
	int nhosts;
	struct code *codes;    /* sorted by entry pointer */
	int ncodes;
	size_t proc_mem_limit; /* bytes per process, 0 = none */
	struct conf conf;      /* the knobs this run was booted with */

	atomic_uint_fast64_t next_pid;
	atomic_long nprocs;
	struct pt_stripe pt[PT_STRIPES];

	pthread_rwlock_t names_lock;
	struct name_ent *names; /* open addressing, guarded by names_lock */
	uint32_t names_cap, names_n;

	/* Shutdown and exit status: written by the terminal process's exit,
	** the signal handler and the supervisor (atomics). */
	atomic_int stopping;    /* enum rt_stopping */
	atomic_int exit_code;
	int64_t stop_timeout_ns;
	int stop_timeout_set;   /* given by a config file or a flag */

	/* The shutdown poller (runtime/rt.c). It runs on the thread in
	** rt_wait, not on a shard, so that a shard held by code that cannot
	** yield delays neither the signals nor the stop timeout. */
	struct rt_stopper {
		/* When the stop timeout ends (ms, common_now_ms), set by
		** rt_begin_shutdown right after it moved `stopping`; 0 until
		** then. */
		atomic_uint_fast64_t deadline_ms;
		int sig_fd;             /* signalfd for SIGINT and SIGTERM */
		int wake_fd;            /* eventfd: shutdown began, a shard ended */
		atomic_int shards_up;   /* shards past on_start */
		atomic_int shards_down; /* shards that left their loop */
		/* Only the thread in rt_wait touches the rest. */
		int signals;            /* SIGINT/SIGTERM received */
		int supervisor_done;
		int engine_stopped;
		int abandoned;          /* survivors were logged as abandoned */
		uint64_t abandoned_ms;  /* when (common_now_ms) */
		long last_count;        /* lowest process count seen, 0: none yet */
		uint64_t progress_ms;   /* when the count last fell */
	} stopper;
	sigset_t sigmask;       /* SIGINT, SIGTERM: blocked while the rt lives */

	/* The supervisor of process.service entries, once service_start_all
	** set it (release; the poller reads it with acquire), else NULL. */
	_Atomic(struct rt_supervisor *) supervisor;

	void *httpd;            /* runtime/httpd.c state, or NULL */
	/* Made on first use at run time, freed by rt_free: the registry's
	** versions (runtime/live.c), the code of the entries they added
	** (code.c) and the event bus (runtime/evbus.c). */
	_Atomic(void *) live;
	_Atomic(void *) codes_more;
	_Atomic(void *) evbus;
	_Atomic(void *) fcalls; /* runtime/fcall.c: pools of function states */
	_Atomic(void *) queues; /* runtime/queue.c: queues and consumers */
	_Atomic(void *) hclient; /* runtime/hclient.c: per-shard libcurl state */
	void *sqldb;            /* runtime/sqldb.c state, or NULL */
	void *pgdb;             /* runtime/pgdb.c state, or NULL */
	struct metrics *metrics; /* runtime/metrics.c: the metrics module's store */
	struct rstats *rstats;  /* runtime/rstats.c: per-shard runtime figures */
	void *memstore;         /* runtime/memstore.c state, or NULL */
	void *nodes;            /* runtime/node.c: node name, remote pids */
	_Atomic(void *) cluster; /* runtime/cluster.c, or NULL: not in a cluster */

	/* Terminal host: stdin reader and the CLI arguments for io.args(). */
	struct term_in term_in;
	char **args;
	int nargs;
};

/*
** The supervisor as the runtime sees it: runtime/service.c embeds one in
** its own state and hands it over with rt_set_supervisor(), so that the
** runtime drives the services' shutdown without knowing service.c (which
** depends on rt.c, never the reverse).
*/
/* One service as system.supervisor reports it (the original's fields). */
struct rt_service_state {
	const char *id;
	const char *status;   /* "idle" "starting" "running" "backoff" "exited"
	                      ** "failed" "stopping" "stopped" */
	const char *desired;  /* "running" or "stopped" */
	int retry_count;      /* failed starts so far */
	uint64_t started_ms;  /* CLOCK_MONOTONIC ms of the last start, or 0 */
	uint64_t updated_ms;  /* CLOCK_MONOTONIC ms of the last change of
	                      ** status, or 0 (never changed) */
	const char *details;  /* what that change said (a failure's error,
	                      ** why it stopped), or NULL; the supervisor's,
	                      ** valid during the callback only */
};

struct rt_supervisor {
	/* On the thread in rt_wait, at every tick of the shutdown poller from
	** the first one (right after shutdown began) until it returns 1: move
	** the services' ordered stop on. Returns 1 once no service is left to
	** stop. */
	int (*stop_tick)(struct rt_supervisor *sv, uint64_t now_ms);
	/* From any thread: call fn once per service, in start order, with a
	** snapshot taken under the supervisor's lock (the strings are static,
	** the registry's, or the supervisor's: copy them in fn). id NULL: every service; else only that one.
	** Returns how many it reported. */
	int (*states)(struct rt_supervisor *sv, const char *id,
		      void (*fn)(void *arg, const struct rt_service_state *st), void *arg);
	/* After the engine stopped, from rt_free: free the supervisor. */
	void (*destroy)(struct rt_supervisor *sv);
	/* A registry version replaced old with new (runtime/live.c, on the
	** thread that applied it, one apply at a time): start the services
	** new has and old had not, stop those it lost, restart the changed. */
	void (*apply)(struct rt_supervisor *sv, const struct registry *old,
		      const struct registry *new);
};

/* What rt_boot takes from the command line. */
struct rt_opts {
	const struct conf *conf; /* the knobs (runtime/conf.h); copied */
	char **args;             /* for io.args(); must outlive the rt */
	int nargs;
};

/* Read the lock file (a missing one means src ./src) and load the
** registry into *out and its env into *env (env_load; env may be NULL
** when only the registry is wanted). Prints the errors and returns -1 when
** it has any; the caller frees *out with reg_free and *env with
** env_destroy. */
int rt_load_registry(const char *lock, struct registry **out, struct env **env);

/* Load, validate and compile the app in the current directory, and create
** the engine (not started), its hosts and the HTTP listeners. Returns the
** runtime, or NULL when any step failed: the error was printed and
** everything built so far freed. */
struct rt *rt_boot(const struct rt_opts *o);

/* Start the shards and the HTTP listeners. Returns 0, or -1 (printed)
** with the engine stopped again; rt_free still has to be called. */
int rt_start(struct rt *rt);

/* Begin shutdown, from any thread: every process gets a CANCEL event,
** the supervisor stops the services in order, and after grace_ns what is
** left is terminated; the engine stops once no process is left. What is
** still alive RT_ABANDON_MS after that (longer while processes still end,
** see RT_ABANDON_MAX_MS) is abandoned: logged by pid and entry, and the
** runtime exits without it (see rt_wait). A second call
** stops the engine at once. */
void rt_begin_shutdown(struct rt *rt, const char *reason, int64_t grace_ns);

/* Hand the supervisor to rt (once, by service_start_all): rt_free destroys
** it. Any thread. */
void rt_set_supervisor(struct rt *rt, struct rt_supervisor *sv);

/* After the stop timeout: what is left after this long is abandoned, and
** the shards that can still end are given RT_EXIT_WAIT_MS more. Together
** under a second past the stop timeout when what is left is stuck. While
** processes still end (the count falls), the abandon waits until none
** ended for RT_ABANDON_MS, but never past RT_ABANDON_MAX_MS after the
** stop timeout: a mass of workers that all honour their TERMINATE gets
** to finish, and a runtime that keeps spawning still ends. */
#define RT_ABANDON_MS 500
#define RT_ABANDON_MAX_MS 5000
#define RT_EXIT_WAIT_MS 300

/* Block until the engine stopped, handling SIGINT and SIGTERM meanwhile
** (they are blocked in every thread and read here, so a busy shard does
** not delay them): the first begins shutdown with the stop timeout, a
** second exits at once with 128 + its number (130 for a second Ctrl+C).
** Returns the exit code (rt->exit_code), 1 instead of 0 when processes
** were abandoned. Does not return (it calls _exit after flushing the log)
** when a shard is still held RT_EXIT_WAIT_MS after the abandon: such a
** shard cannot be joined. */
int rt_wait(struct rt *rt);

/* Free the runtime: after rt_wait, after a failed rt_start, or instead of
** rt_start. Processes still alive after a forced stop live on shards that
** no longer run; then nothing is freed and the OS takes it back. */
void rt_free(struct rt *rt);

/* The host with that id, or NULL. Any thread (hosts are read-only). */
struct host *rt_host(struct rt *rt, const char *id);

/* pid table (runtime/ptable.c). */
void pt_init(struct rt *rt);
void pt_destroy(struct rt *rt);
void pt_insert(struct rt *rt, struct proc *p);
void pt_remove(struct rt *rt, struct proc *p);
/* Calls fn for each live process with a reference held; any thread. */
void pt_each(struct rt *rt, void (*fn)(struct proc *p, void *arg), void *arg);

#endif
