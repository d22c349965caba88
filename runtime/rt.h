/*
** runtime/rt.h: the runtime, i.e. what one `wippy run` owns: the registry,
** env, engine, hosts, the compiled code cache, the pid table and names.
**
** Built once at boot before any shard starts and read-only afterwards,
** except the fields marked otherwise (atomics and the locked tables).
*/
#ifndef RUNTIME_RT_H
#define RUNTIME_RT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "terminal.h"

struct registry;
struct reg_entry;
struct env;
struct engine;
struct proc;

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

	atomic_uint_fast64_t next_pid;
	atomic_long nprocs;
	struct pt_stripe pt[PT_STRIPES];

	pthread_rwlock_t names_lock;
	struct name_ent *names; /* open addressing, guarded by names_lock */
	uint32_t names_cap, names_n;

	/* Shutdown and exit status: written by the terminal process's exit,
	** the signal handler and the supervisor (atomics). */
	atomic_int stopping;
	atomic_int exit_code;
	int64_t stop_timeout_ns;
	int stop_timeout_set;   /* given on the command line */

	void *httpd;            /* runtime/httpd.c state, or NULL */

	/* Terminal host: stdin reader and the CLI arguments for io.args(). */
	struct term_in term_in;
	char **args;
	int nargs;
};

struct host *rt_host(struct rt *rt, const char *id);

/* pid table (runtime/ptable.c). */
void pt_init(struct rt *rt);
void pt_destroy(struct rt *rt);
void pt_insert(struct rt *rt, struct proc *p);
void pt_remove(struct rt *rt, struct proc *p);
/* Calls fn for each live process with a reference held; any thread. */
void pt_each(struct rt *rt, void (*fn)(struct proc *p, void *arg), void *arg);

#endif
