/*
** runtime/proc.h: processes. A process is its own lua_State with its own
** counting allocator, running Lua threads ("coroutines") on one shard at a
** time. This header is the contract between the process core and the Lua
** modules (process, channel, time, io) that block and wake coroutines.
**
** Threads: everything taking a `struct proc *` that is not marked "any
** thread" runs on the thread currently running that process, inside the
** process's protected step (so Lua errors raised there end the process,
** never the runtime).
**
** Blocking: a module function running in a coroutine parks it with
** proc_block(), which yields. Whoever later completes the wait pushes the
** call's return values onto the coroutine's stack and calls proc_ready().
** External completions (timers, I/O) arrive outside Lua, on the shard; they
** queue a struct pext with proc_ext_post() and its deliver() runs inside the
** next protected step, where it may touch Lua.
**
** Received messages: the step moves what arrives in the mailbox to the
** process's two message lists (user messages, events); whoever hands them
** to Lua (the channel module's subscriptions) registers a pump with
** proc_set_pump and takes them with mlist_take. The process core never
** names that module: it only calls the pump, and only while one is set.
*/
#ifndef RUNTIME_PROC_H
#define RUNTIME_PROC_H

#include <lua.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "engine/wheel.h"
#include "arena.h"
#include "mailbox.h"

struct rt;
struct host;
struct reg_entry;
struct proc;
struct exit_wait;
struct fcall;

/* {==== Coroutines ====} */

enum coro_state { CO_READY, CO_RUNNING, CO_BLOCKED, CO_DEAD };

#define CORO_WAIT_WORDS 15

/* A scheduled Lua thread of a process. Lives in a full userdata anchored in
** the Lua registry while alive, so lua_close() frees it with the state. */
struct coro {
	lua_State *L;
	struct proc *p;
	struct coro *next_ready;
	int ref;            /* registry ref of this userdata */
	uint8_t state;      /* enum coro_state */
	uint8_t ext;        /* blocked on something outside the process
	                    ** (message, event, timer, I/O): not a deadlock */
	uint8_t is_main;
	int nargs;          /* values pushed for the next resume */
	struct wheel_timer sleep; /* time.sleep */
	/* Room for the record of the wait in progress, for the module that
	** blocks the coroutine: channel.c keeps a wait of up to two cases
	** here instead of allocating one per wait (a select per tick, a
	** receive per message). Free again once the wait is completed. */
	void *wait_space[CORO_WAIT_WORDS];
	/* Calls (proc_call): called in the step when the coroutine ends, with
	** status LUA_OK and its nres results, or an error status and the error
	** value, on co->L. */
	void (*done)(lua_State *L, struct coro *co, int status, int nres);
	void *ctx;
};

/* The coroutine running L, or raises "blocking call outside a process
** coroutine" if L is not one the scheduler runs (a manual coroutine),
** or if L cannot yield here (a metamethod, a C callback). Callers that
** link wait records call it first. */
struct coro *proc_coro(lua_State *L);

/* Whether th is a live coroutine the scheduler runs (main or spawned),
** which only the scheduler may resume, and nothing may close. */
int proc_owns_thread(lua_State *th);

/* Park the current coroutine; `ext` says whether it waits on something
** outside the process. Use as `return proc_block(L, ext, k, ctx);` from a
** lua_CFunction. The values pushed before proc_ready() become its results,
** or the arguments of the continuation k (NULL: returned as they are). */
int proc_block(lua_State *L, int ext, lua_KFunction k, lua_KContext ctx);

/* Make a blocked coroutine runnable; it resumes with the values pushed on
** co->L since it blocked (nargs of them). */
void proc_ready(struct coro *co, int nargs);

/* Start fn (at the top of L's stack, popped) as a new coroutine of the
** current process: coroutine.spawn. Pushes the thread. */
void proc_spawn_coro(lua_State *L);

/* {==== External completions ====} */

struct pext {
	struct pext *next;
	void (*deliver)(lua_State *L, struct pext *x); /* in the protected step */
	int queued;
};

/* Queue x for delivery and wake p. Shard thread of p only (timer and I/O
** callbacks). */
void proc_ext_post(struct proc *p, struct pext *x);

/* Remove x from p's delivery queue if queued (its owner is being freed). */
void proc_ext_cancel(struct proc *p, struct pext *x);

/* The wheel expiry for a wait of at least ms from now. The shard's clock
** (shard_now_ms) is cached at the top of its turn, which may have begun
** long ago, and counts whole milliseconds: a fresh reading plus one keeps
** a sleep from ending early (time.sleep(d) waits at least d). */
static inline uint64_t proc_deadline_ms(uint64_t ms)
{
	return common_now_ms() + ms + 1;
}

/* Timers owned by a process: pinned to its shard while any is pending. */
void proc_timer_add(struct proc *p, struct wheel_timer *t, uint64_t expire_ms);
void proc_timer_cancel(struct proc *p, struct wheel_timer *t);

/* Mark the process on L as holding an object with a __gc metamethod: its
** state then always ends with lua_close, which runs the finalizer. Every
** C module that sets a metatable with __gc calls this. [-0, +0, -] */
void proc_note_finalizer(lua_State *L);

/* Count an outstanding I/O on p's ring: p stays on this shard until done. */
void proc_io_begin(struct proc *p);
void proc_io_end(struct proc *p);

/* {==== The process ====} */

/* P_UPGRADE: process.upgrade() was called; the step ended and the task
** replaces the Lua state (see proc_upgrade). */
enum proc_state { P_INIT, P_LIVE, P_DONE, P_UPGRADE };

struct plink { uint64_t *v; uint32_t n, cap; };

struct proc {
	struct task task;
	atomic_int refs;
	atomic_int scheduled;          /* 1 while queued or running */
	_Atomic(struct shard *) shard; /* where to post it */
	/* 1 when the process last went idle with nothing pending on its
	** shard (no timer, I/O or pool): a waker may then run it on its own
	** shard instead (proc_notify). Written by the owner before the
	** release of `scheduled`, read by a waker after winning it. */
	_Atomic uint8_t movable;
	struct mbox mbox;
	uint64_t pid;
	struct rt *rt;
	struct host *host;
	const struct reg_entry *entry;
	char pidstr[96];
	uint32_t pidlen;
	/* For a scrape's busiest processes (rstats_scrape with top): written
	** by the owner once a step with relaxed stores, read from anywhere. */
	_Atomic uint64_t st_steps;     /* steps run */
	_Atomic uint64_t st_heap;      /* the Lua heap at the last step's end */

	/* Owner thread only from here on. */
	lua_State *L;
	struct coro *cur;              /* coroutine being resumed */
	/* The allocator's (pmem_alloc, runtime/pmem.c), together on one cache line. */
	size_t mem_used, mem_limit, mem_peak;
	size_t mem_acct;               /* mem_used as counted in rt->rstats */
	struct arena arena;            /* first-step memory (see pmem_alloc), or empty */
	struct region *region;         /* small blocks past REGION_AFTER, or NULL */
	size_t first_bytes;            /* allocated in the first step */
	uint32_t nsteps;               /* steps run: first step, GC mode switch */
	uint8_t arena_only;            /* nothing ever came from the slab */
	uint8_t finalizers;            /* an object with __gc may exist */
	uint8_t region_tried;          /* region_new was called (maybe failed) */
	uint8_t mem_over, mem_cycles;  /* past the limit: see pmem_overdraw */
	uint8_t mem_hard;              /* failed at the limit: it is hard now */
	struct code *code;             /* the entry's compiled code and hints */
	uint8_t state;                 /* enum proc_state */
	uint8_t trap_links;
	uint8_t upgradable;            /* process.set_options{upgradable}: kept
	                               ** and reported, nothing reads it yet */
	uint8_t failed_kill;           /* a fatal notice arrived: end now */
	uint8_t is_terminal;
	uint8_t supervised;            /* run by a process.service: shutdown's
	                               ** CANCEL comes from the supervisor */
	uint8_t pooled;                /* function state serving calls */
	uint8_t sliced;                /* the last step ended on a spent slice */
	uint8_t gc_big;                /* the heap grew big: incremental GC */
	uint8_t mbox_warned;           /* its queue passed process.mailbox_warn */
	int fn_ref;                    /* pooled: the entry's function */
	void *call_ctx;                /* pooled: context of the running call */
	struct fcall *fcall;           /* pooled: the funcs call it runs
	                               ** (runtime/fcall.h), or NULL */
	struct coro *free_calls;       /* pooled: finished call threads to reuse */
	struct coro *main;             /* &main_co once started */
	/* Also what L's extraspace names, so that proc_of finds p from the
	** main thread as from any coroutine: its L is never L itself (NULL
	** until the main coroutine is made, then that thread's), so nothing
	** takes L for a coroutine the scheduler runs. */
	struct coro main_co;
	struct coro *ready_head, *ready_tail;
	int ncoros, nblocked, nblocked_ext;
	int ntimers, nio;
	struct pext *ext_head, *ext_tail;
	struct payload args;           /* spawn arguments, until started */
	struct payload ctx;            /* context values (ctx module): one
	                               ** string-keyed table, or empty; read
	                               ** only, for the process's life */
	struct payload sec;            /* security context (security module):
	                               ** one table {actor = {id, meta},
	                               ** scope = {policies}}, either key
	                               ** optional, or empty; read only */
	uint32_t sec_gen;              /* bumped by proc_sec_changed whenever
	                               ** sec is replaced or emptied: the
	                               ** security module's compiled copy is
	                               ** kept while it is unchanged */
	void *sec_cache;               /* that compiled copy: owned by
	                               ** lua_modules/security.c, which
	                               ** anchors it in L and clears this
	                               ** when L frees it; opaque here */
	const struct reg_entry *upgrade_to; /* P_UPGRADE: the new definition */
	char *upgrade_err;             /* P_UPGRADE failed before it began */
	const char *upgrade_kind;      /* its error kind (static) */
	uint64_t parent;               /* spawner pid (for links at spawn) */

	/* Received, not yet consumed: user messages and events, in order. */
	struct mlist msgs;             /* user messages (inbox / listen) */
	struct mlist events;           /* EXIT, LINK_DOWN, CANCEL */
	/* A message taken from those lists while its Lua object is made:
	** freed with the process if the allocation raised. */
	struct msg *held;
	/* The subscription pump (proc_set_pump): NULL while nothing in the
	** process subscribes to its messages. pump_data belongs to whoever
	** set it and lives in the Lua state: both go when the state does. */
	void (*pump)(lua_State *L, struct proc *p, void *data);
	void *pump_data;

	struct exit_wait *exit_waits;  /* coroutines in process.exec */
	struct plink monitors;         /* pids monitoring me */
	struct plink links;            /* pids linked with me */
	char **names; uint32_t nnames; /* registered names, auto-released */

	/* Exit: set when main returns or the process fails. */
	int exit_error;                /* result is an error */
	struct payload result;         /* {value=...} or {error=...} */
	char *exit_msg;                /* error text for logs, malloc'd */

	/* Observers in C: supervisor, terminal host. on_exit is called on
	** exit from the process's thread after monitors are notified;
	** on_start once, after the first step that leaves the process alive
	** (main ran to its first blocking point). Both get on_exit_arg. */
	void (*on_exit)(struct proc *p, void *arg);
	void (*on_start)(struct proc *p, void *arg);
	void *on_exit_arg;
};

/* The process owning L (any thread of its state). */
/* p->sec was replaced or emptied: every writer of p->sec calls this, so
** that a check never runs on the compiled form of an earlier context (a
** pooled state serves calls with different actors). Owner thread. */
static inline void proc_sec_changed(struct proc *p) { p->sec_gen++; }

static inline struct proc *proc_of(lua_State *L)
{
	return (*(struct coro **)lua_getextraspace(L))->p;
}

/* Spawn options. */
struct spawn_opts {
	const struct reg_entry *entry; /* process.lua */
	struct host *host;
	uint64_t monitor_by;           /* pid that monitors the child, or 0 */
	uint64_t link_with;            /* pid linked with the child, or 0 */
	int terminal;                  /* runs on the terminal host */
	int pooled;                    /* a function.lua state for proc_call;
	                               ** stays on its first shard */
	struct shard *shard;           /* start here (NULL: host round robin) */
	int supervised;                /* a service's process (see struct proc) */
	const struct payload *ctx;     /* context values, copied (NULL: none) */
	const struct payload *sec;     /* security context, copied (NULL: none) */
	const char *name;              /* register the child under this name
	                               ** before it runs (spawn-or-signal) */
	uint64_t *name_holder;         /* name taken: set to its holder's pid */
	void (*on_exit)(struct proc *p, void *arg);
	void (*on_start)(struct proc *p, void *arg);
	void *on_exit_arg;
};

/* Create a process that will run entry's method with the encoded args (the
** payload is moved into the process). Any thread. Returns the new process
** with one reference held for the caller (proc_unref it), or NULL and sets
** *err to a static message. The process starts on a shard of its host.
** With o->name the child holds that name before any of its code runs; if
** a live process already holds it, nothing is spawned: NULL, *err set and
** *o->name_holder (when given) set to the holder's pid. */
struct proc *proc_spawn(struct rt *rt, const struct spawn_opts *o,
			struct payload *args, const char **err);

/* Start a call of a pooled process's function (spawned with o.pooled) as
** a new coroutine; done() runs in the step when it ends. Runs inside p's
** step (from a pext delivery), so L is p's main state. [-0, +0, m] */
struct coro *proc_call(lua_State *L, struct proc *p,
		       void (*done)(lua_State *L, struct coro *co, int status, int nres),
		       void *ctx);

/* Find a live process by pid number with a reference, or NULL. Any thread. */
struct proc *proc_find(struct rt *rt, uint64_t pid);
void proc_ref(struct proc *p);
void proc_unref(struct proc *p);

/* Deliver m to the process with pid `to` and wake it. Any thread. Returns 0,
** or -ESRCH (no such process: m is freed). A remote pid (runtime/node.h)
** goes to runtime/cluster.c: 0 once queued for its node, or
** -EHOSTUNREACH (not in a cluster, or its node is unknown or down) or
** -ENOTCONN (the cluster's server is unreachable); m is freed. */
int proc_send(struct rt *rt, uint64_t to, struct msg *m);

/* Schedule p if it is not queued or running. Any thread. */
void proc_notify(struct proc *p);

/* Queue a TERMINATE for p and wake it: it ends at its next step, with
** "process terminated" (a CANCELED error). Any thread. */
void proc_terminate(struct proc *p);

/* process.upgrade: replace the calling process's code with entry e (a
** process.lua entry), started with args (moved into the process). The
** pid, mailbox (queued messages and events), monitors, links, registered
** names and options stay; the Lua state, its coroutines, subscriptions
** and timers go. If e is NULL the upgrade fails: the process ends with an
** error of that kind (an errors.h kind) and message, as it does when the
** new code fails to load. Call from a process coroutine, as `return
** proc_upgrade(...)`: it yields and never returns to its caller, even
** through a pcall. */
int proc_upgrade(lua_State *L, const struct reg_entry *e, struct payload *args,
		 const char *kind, const char *err);

/* Park the calling coroutine until the EXIT notice of pid arrives (the
** caller must monitor pid). That EXIT goes to this coroutine instead of
** process.events(): push(L, m) turns it into its Lua form (and takes m),
** which becomes the one value passed to k. Use as `return
** proc_wait_exit(L, pid, push, k);`. */
int proc_wait_exit(lua_State *L, uint64_t pid,
		   void (*push)(lua_State *L, struct msg *m), lua_KFunction k);

/* Register fn as p's subscription pump, or clear it (fn NULL). While set,
** each step calls fn(L, p, data) after taking in the mailbox, to hand
** queued messages and events to coroutines waiting for them; and since a
** message could then still wake a blocked coroutine, the step does not
** report a deadlock. data stays p->pump_data after fn is cleared, for its
** owner to find again; both are reset when the Lua state is dropped
** (exit, upgrade). Owner thread only. */
void proc_set_pump(struct proc *p, void (*fn)(lua_State *L, struct proc *p, void *data),
		   void *data);

/* {==== Links and names of a process (owner thread only) ====} */

/* Add pid to p's links (no duplicate) or remove it. Only the list: the
** caller sends the LINK / UNLINK notice to pid. */
void proc_link_add(struct proc *p, uint64_t pid);
void proc_link_del(struct proc *p, uint64_t pid);

/* Register name for p in the name registry and remember it, so that it is
** released when p exits. 0 (also when p already holds it), or -EEXIST if
** a live process holds it. */
int proc_name_register(struct proc *p, const char *name);

/* Forget name in p's own list, if there (the registry entry is the
** caller's: names_unregister). */
void proc_name_forget(struct proc *p, const char *name);


/* Pid <-> string: "{host|0x00004}". proc_parse_pid returns 0 on a string
** that is not a pid. */
uint64_t proc_parse_pid(const char *s, size_t len);
int proc_format_pid(char *buf, size_t size, const char *host, uint64_t pid);

/* {==== Name registry (any thread) ====} */

/* 0, or -EEXIST if held by another live pid (a name whose holder has
** exited is taken over). */
int names_register(struct rt *rt, const char *name, uint64_t pid);
/* pid or 0. */
uint64_t names_lookup(struct rt *rt, const char *name);
/* 1 if removed. */
int names_unregister(struct rt *rt, const char *name, uint64_t pid_or_0);

/* Live processes (any thread, approximate). */
long proc_count(struct rt *rt);

/* time.sleep support for lua_modules/timer.c: park the running thread for
** ms (yields; [-0, +0, e]), and resume it when its timer fires. */
int proc_sleep(lua_State *L, uint64_t ms);
void proc_timer_fired(struct proc *p);

#endif
