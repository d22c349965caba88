/*
** runtime/proc.c: the process core: spawn, the per-process scheduler of
** coroutines, message intake, exit and notification of monitors and links.
**
** Life of a process:
**   proc_spawn (any thread)  -> in the pid table, task posted to a shard
**   P_INIT on its shard      -> lua_State created, code loaded, main coroutine
**   P_LIVE                   -> steps: take messages, deliver completions,
**                               resume ready coroutines
**   P_DONE                   -> out of the pid table, monitors and links
**                               told, state dropped (lua_close, or its
**                               arena freed whole: pmem_drop_state), last
**                               reference frees it
**   P_UPGRADE (from P_LIVE)  -> process.upgrade: state dropped, then P_INIT with
**                               the new entry; the struct, pid, mailbox,
**                               queues, monitors, links and names stay
**
** Scheduling flag (skynet's "in global queue" flag): `scheduled` is 1 while
** the process is queued or running. A sender pushes to the mailbox, then
** exchanges scheduled to 1 and posts the task only if it was 0. The process,
** when it runs out of work, stores 0 and then re-checks its mailbox (both
** seq_cst): a message pushed in between is seen by one side or the other.
**
** What it does not know: the Lua forms of messages and the channels that
** deliver them. A subscription module registers a pump (proc_set_pump) and
** this file only calls it; an exit waiter brings its own push function.
**
** A process's memory (its allocator, limit, first-step arena and the
** dropping of its state) is runtime/pmem.c's.
**
** Every step runs under lua_pcall on the main state. Anything fatal (a
** coroutine error, a TERMINATE, a linked failure, out of memory) raises a
** Lua error there and the process ends with it; the runtime goes on.
*/
#include "proc.h"

#include <errno.h>
#include <inttypes.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "runtime/errors.h"
#include "cluster.h"
#include "node.h"
#include "log.h"
#include "registry.h"
#include "rt.h"
#include "code.h"
#include "preempt.h"
#include "rstats.h"
#include "luagc.h"
#include "pmem.h"

#define STEP_RESUMES 128
#define GEN_AFTER_STEPS 8  /* steps before a process goes generational */
#define GC_BIG_HEAP (32u << 20) /* heaps past this collect incrementally */
#define SPAWN_LOCAL_MAX 64 /* spawn on the caller's shard below this queue */   /* coroutine resumes per step before yielding */
#define CORO_META "wippy.coro"

static void proc_task(struct task *t);

/* {==== Pids ====} */

int proc_format_pid(char *buf, size_t size, const char *host, uint64_t pid)
{
	/* By hand: snprintf was a tenth of an empty process's spawn. Same
	** output as "{%s|0x%05" PRIx64 "}", truncated to size like snprintf
	** (the length returned is the untruncated one). */
	char hex[16];
	int nh = 0;
	size_t hl = strlen(host), n, i = 0;

	do {
		hex[nh++] = "0123456789abcdef"[pid & 15];
		pid >>= 4;
	} while (pid);
	while (nh < 5)
		hex[nh++] = '0';
	n = 1 + hl + 3 + (size_t)nh + 1;
	if (size == 0)
		return (int)n;
#define PUT(c) do { char c_ = (c); if (i + 1 < size) buf[i] = c_; i++; } while (0)
	PUT('{');
	for (size_t k = 0; k < hl; k++)
		PUT(host[k]);
	PUT('|'); PUT('0'); PUT('x');
	while (nh > 0)
		PUT(hex[--nh]);
	PUT('}');
#undef PUT
	buf[i < size ? i : size - 1] = '\0';
	return (int)n;
}

uint64_t proc_parse_pid(const char *s, size_t len)
{
	/* {host|0x1f} or {node@host|0x1f}; ParsePID also accepts a middle
	** part ({host|name|0x1f}) and drops it: take the last '|'. */
	if (len < 6 || s[0] != '{' || s[len - 1] != '}')
		return 0;
	/* From the end: the number is short, the host may not be. */
	const char *bar = NULL;
	for (size_t i = len - 2; i > 0; i--)
		if (s[i] == '|') {
			bar = s + i;
			break;
		}
	if (bar == NULL || bar[1] != '0' || (bar[2] != 'x' && bar[2] != 'X'))
		return 0;
	uint64_t v = 0;
	const char *q = bar + 3;
	if (q >= s + len - 1)
		return 0;
	for (; q < s + len - 1; q++) {
		int d;
		if (*q >= '0' && *q <= '9') d = *q - '0';
		else if (*q >= 'a' && *q <= 'f') d = *q - 'a' + 10;
		else if (*q >= 'A' && *q <= 'F') d = *q - 'A' + 10;
		else return 0;
		if (v >> 60)
			return 0;
		v = v * 16 + (uint64_t)d;
	}
	return v;
}

/* {==== Links, monitors and names ====} */

/* A set of pids, as a small unordered array: a process has few links and
** monitors, and a linear scan of them is cheaper than any index. */
static void plink_add(struct plink *l, uint64_t pid)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i] == pid)
			return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof(uint64_t));
	}
	l->v[l->n++] = pid;
}

static void plink_del(struct plink *l, uint64_t pid)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i] == pid) {
			l->v[i] = l->v[--l->n];
			return;
		}
}

static void plink_free(struct plink *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void proc_link_add(struct proc *p, uint64_t pid) { plink_add(&p->links, pid); }
void proc_link_del(struct proc *p, uint64_t pid) { plink_del(&p->links, pid); }

int proc_name_register(struct proc *p, const char *name)
{
	if (names_register(p->rt, name, p->pid) < 0)
		return -EEXIST;
	for (uint32_t i = 0; i < p->nnames; i++)
		if (strcmp(p->names[i], name) == 0)
			return 0;
	p->names = xrealloc(p->names, (p->nnames + 1) * sizeof(char *));
	p->names[p->nnames++] = xstrdup(name);
	return 0;
}

void proc_name_forget(struct proc *p, const char *name)
{
	for (uint32_t i = 0; i < p->nnames; i++)
		if (strcmp(p->names[i], name) == 0) {
			free(p->names[i]);
			p->names[i] = p->names[--p->nnames];
			return;
		}
}

/* Release every name p registered for itself (its exit). */
static void names_release(struct proc *p)
{
	for (uint32_t i = 0; i < p->nnames; i++) {
		names_unregister(p->rt, p->names[i], p->pid);
		free(p->names[i]);
	}
	free(p->names);
	p->names = NULL;
	p->nnames = 0;
}

/* {==== References and wake-ups ====} */

void proc_ref(struct proc *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void proc_unref(struct proc *p)
{
	/* acq_rel: the last owner sees every write of the others. */
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct msg *m;
	/* Messages that raced with the exit (the process had finished, the
	** result is final). A MONITOR that arrived too late still deserves
	** its EXIT notice, and a LINK its LINK_DOWN if, and only if, the exit
	** was an error (spec 4.7), both with the real result. */
	while ((m = mbox_pop(&p->mbox)) != NULL) {
		if (m->kind == MSG_MONITOR || (m->kind == MSG_LINK && p->exit_error)) {
			struct msg *r = msg_new(m->kind == MSG_MONITOR ? MSG_EXIT : MSG_LINK_DOWN,
						p->pid, NULL);
			r->from_host = p->host->id;
			r->at = (double)time(NULL);
			/* an empty result (never started) decodes as
			** {error = "process not found"} */
			payload_copy(&r->payload, &p->result);
			proc_send(p->rt, m->from, r);
		}
		msg_free(m);
	}
	payload_free(&p->result);
	payload_free(&p->args);
	payload_free(&p->ctx);
	payload_free(&p->sec);
	free(p->exit_msg);
	free(p->upgrade_err);
	free(p);
}

/* Wake-up placement. A process that sends and then waits (the next hop
** of a ring, a ping-pong, a call and its reply) hands the CPU to the one
** it woke; running that one on the waker's shard costs a queue push where
** posting it to its own shard costs an inbox push and often a wake-up
** (about 2.5 times a local hop: a ring of 1,000 placed round robin over
** two shards ran slower there than on one). A producer that goes on
** running must not pull its consumer onto its own core, though: moving
** on every wake-up made one sender to 64 sinks on two shards 1.7 times
** slower. So a wake-up made during a step, of a process that went idle
** with nothing pending on its shard (movable), is held until the step
** ends: if the waker then waits or ends, the woken one runs here next;
** if the waker runs on, or the step wakes a second such process (a
** fan-out), it goes to its own shard as it would have. Per shard thread;
** wake-ups from outside a step (timers, I/O, other threads) post at
** once. */
#define WAKE_LOCAL_MAX 8        /* only onto a run queue shorter than this */

static _Thread_local struct proc *wake_from; /* the process in its step */
static _Thread_local struct proc *wake_held; /* woken by it, not yet posted */
static _Thread_local int wake_spread;        /* it woke two: post at once */

static void wake_post_home(struct proc *p)
{
	shard_post(atomic_load_explicit(&p->shard, memory_order_acquire), &p->task);
}

/* The step ended: post the held process here when the waker stopped
** (stops) and this shard is not busy, else to its own shard. */
static void wake_release(int stops)
{
	struct proc *q = wake_held;
	struct shard *here = shard_self();

	wake_held = NULL;
	if (stops && shard_runq_len(here) < WAKE_LOCAL_MAX)
		shard_post(here, &q->task);
	else
		wake_post_home(q);
}

void proc_notify(struct proc *p)
{
	struct shard *to, *here;
	if (atomic_exchange_explicit(&p->scheduled, 1, memory_order_seq_cst) != 0)
		return;
	to = atomic_load_explicit(&p->shard, memory_order_acquire);
	if (wake_from != NULL && !wake_spread && (here = shard_self()) != to &&
	    atomic_load_explicit(&p->movable, memory_order_acquire) &&
	    shard_engine(here) == p->rt->engine &&
	    shard_id(here) >= p->host->first &&
	    shard_id(here) < p->host->first + p->host->n) {
		if (wake_held == NULL) {
			wake_held = p;
			return;
		}
		wake_post_home(wake_held);
		wake_held = NULL;
		wake_spread = 1;
	}
	shard_post(to, &p->task);
}

void proc_terminate(struct proc *p)
{
	mbox_push(&p->mbox, msg_new(MSG_TERMINATE, 0, NULL));
	proc_notify(p);
}

int proc_send(struct rt *rt, uint64_t to, struct msg *m)
{
	/* The only cost of the cluster on the local path: one test. */
	if (__builtin_expect(pid_is_remote(to), 0))
		return cluster_send(rt, to, m);
	struct proc *p = proc_find(rt, to);
	if (p == NULL) {
		msg_free(m);
		return -ESRCH;
	}
	mbox_push(&p->mbox, m);
	proc_notify(p);
	proc_unref(p);
	rstats_sent(rt->rstats);
	return 0;
}

/* {==== Spawn ====} */

struct proc *proc_spawn(struct rt *rt, const struct spawn_opts *o,
			struct payload *args, const char **err)
{
	struct host *h = o->host;
	struct proc *p;
	unsigned slot;

	if (atomic_load_explicit(&rt->stopping, memory_order_relaxed) > 1) {
		*err = "runtime is stopping";
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	atomic_init(&p->refs, 2); /* the pid table's and the caller's */
	atomic_init(&p->scheduled, 1);
	mbox_init(&p->mbox);
	p->task.run = proc_task;
	p->rt = rt;
	p->host = h;
	p->entry = o->entry;
	p->mem_limit = rt->proc_mem_limit;
	/* A process.host's own limit wins over the runtime's (-1: none given;
	** the terminal and HTTP hosts have no such field). */
	if (h->entry && h->entry->k == REG_K_PROCESS_HOST &&
	    h->entry->u.host.max_memory >= 0)
		p->mem_limit = (size_t)h->entry->u.host.max_memory;
	p->is_terminal = (uint8_t)o->terminal;
	p->pooled = (uint8_t)o->pooled;
	if (p->pooled)
		p->task.flags |= TASK_PINNED;
	p->supervised = (uint8_t)(o->supervised != 0);
	p->on_exit = o->on_exit;
	p->on_start = o->on_start;
	p->on_exit_arg = o->on_exit_arg;
	p->main_co.p = p;
	p->pid = atomic_fetch_add_explicit(&rt->next_pid, 1, memory_order_relaxed) + 1;
	p->pidlen = (uint32_t)node_format_pid(rt, p->pidstr, sizeof(p->pidstr), h->id, p->pid);
	if (args) {
		p->args = *args;
		memset(args, 0, sizeof(*args));
	}
	if (o->ctx && o->ctx->len > 0)
		payload_copy(&p->ctx, o->ctx);
	if (o->sec && o->sec->len > 0) {
		payload_copy(&p->sec, o->sec);
		proc_sec_changed(p);
	}
	if (o->monitor_by)
		plink_add(&p->monitors, o->monitor_by);
	if (o->link_with)
		plink_add(&p->links, o->link_with);
	/* Placement: on the spawner's own shard while it is not busy (the
	** child's start, messages and exit stay on one thread and its cache,
	** with no cross-shard post or wake-up; an HTTP handler's worker runs
	** beside its connection), round robin over the host once the local
	** run queue is long, so a mass spawner spreads its children. Idle
	** shards also take spilled work from the global queue. */
	struct shard *here = shard_self();
	slot = atomic_fetch_add_explicit(&h->rr, 1, memory_order_relaxed);
	if (o->shard)
		atomic_init(&p->shard, o->shard);
	else if (here && shard_engine(here) == rt->engine &&
		 shard_id(here) >= h->first && shard_id(here) < h->first + h->n &&
		 shard_runq_len(here) < SPAWN_LOCAL_MAX)
		atomic_init(&p->shard, here);
	else
		atomic_init(&p->shard, engine_shard(rt->engine, h->first + (int)(slot % (unsigned)h->n)));
	pt_insert(rt, p);
	/* Released with the process, like a name it registers itself. Its
	** list is the owner's, and until the task is posted that is us. */
	if (o->name && proc_name_register(p, o->name) < 0) {
		/* Taken: the child never ran and nothing else has seen it
		** except through the pid table (a send to it is freed with
		** it; `scheduled` is still 1, so a send never posts its task).
		** Both references go. */
		pt_remove(rt, p);
		if (o->name_holder)
			*o->name_holder = names_lookup(rt, o->name);
		*err = "name already registered";
		proc_unref(p);
		proc_unref(p);
		return NULL;
	}
	if (!p->pooled)
		rstats_spawned(rt->rstats);
	shard_post(atomic_load(&p->shard), &p->task);
	return p;
}

/* {==== Coroutines ====} */

static int coro_gc(lua_State *L)
{
	struct coro *co = lua_touserdata(L, 1);
	if (co && wheel_is_active(&co->sleep))
		proc_timer_cancel(co->p, &co->sleep);
	return 0;
}

static void ready_push(struct proc *p, struct coro *co)
{
	co->state = CO_READY;
	co->next_ready = NULL;
	if (p->ready_tail)
		p->ready_tail->next_ready = co;
	else
		p->ready_head = co;
	p->ready_tail = co;
}

/* New coroutine running the function on top of L (popped). A spawned
** coroutine lives in a userdata (its __gc cancels a pending sleep) that
** anchors the thread and is anchored in the registry. The main coroutine
** is embedded in struct proc and only its thread is anchored: every
** process has one, so it must not cost a userdata and a metatable. */
static struct coro *coro_new(struct proc *p, lua_State *L, int is_main)
{
	struct coro *co;
	if (is_main) {
		co = &p->main_co;
		memset(co, 0, sizeof(*co));
		co->p = p;
		co->L = lua_newthread(L);
		co->is_main = 1;
		*(struct coro **)lua_getextraspace(co->L) = co;
		lua_rotate(L, -2, 1);              /* fn on top */
		lua_xmove(L, co->L, 1);            /* thread: fn */
		co->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the thread */
		p->ncoros++;
		return co;
	}
	co = lua_newuserdatauv(L, sizeof(*co), 1);
	memset(co, 0, sizeof(*co));
	co->p = p;
	p->finalizers = 1;	/* coro_gc below: see proc_note_finalizer */
	co->ref = LUA_NOREF;
	if (luaL_newmetatable(L, CORO_META)) {
		lua_pushcfunction(L, coro_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	co->L = lua_newthread(L);
	*(struct coro **)lua_getextraspace(co->L) = co;
	lua_setiuservalue(L, -2, 1);            /* coro.uv = thread */
	lua_rotate(L, -2, 1);                   /* fn on top */
	lua_xmove(L, co->L, 1);                 /* thread: fn */
	co->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the coro */
	p->ncoros++;
	return co;
}

static void coro_release(struct proc *p, struct coro *co)
{
	co->state = CO_DEAD;
	if (wheel_is_active(&co->sleep))
		proc_timer_cancel(p, &co->sleep);
	luaL_unref(p->L, LUA_REGISTRYINDEX, co->ref);
	co->ref = LUA_NOREF;
	p->ncoros--;
}

struct coro *proc_coro(lua_State *L)
{
	struct coro *co = *(struct coro **)lua_getextraspace(L);
	if (co == NULL || co->L != L || co->state != CO_RUNNING)
		luaL_error(L, "blocking call outside a process coroutine "
			      "(not allowed inside coroutine.create/wrap)");
	/* Checked here, before the caller links any wait record, and not
	** left to lua_yieldk: a yield that raises would strand the record. */
	if (!lua_isyieldable(L))
		luaL_error(L, "blocking call where the coroutine cannot yield "
			      "(inside a metamethod or a C callback such as "
			      "table.sort's comparator)");
	return co;
}

int proc_owns_thread(lua_State *th)
{
	struct coro *co = *(struct coro **)lua_getextraspace(th);
	return co != NULL && co->L == th && co->state != CO_DEAD;
}

int proc_block(lua_State *L, int ext, lua_KFunction k, lua_KContext ctx)
{
	struct coro *co = proc_coro(L);
	co->state = CO_BLOCKED;
	co->ext = (uint8_t)ext;
	co->nargs = 0;
	co->p->nblocked++;
	co->p->nblocked_ext += ext != 0;
	return lua_yieldk(L, 0, ctx, k);
}

void proc_ready(struct coro *co, int nargs)
{
	struct proc *p = co->p;
	if (co->state != CO_BLOCKED)
		return;
	p->nblocked--;
	p->nblocked_ext -= co->ext;
	co->ext = 0;
	co->nargs = nargs;
	ready_push(p, co);
}

void proc_spawn_coro(lua_State *L)
{
	struct proc *p = proc_of(L);
	struct coro *co;
	luaL_checktype(L, -1, LUA_TFUNCTION);
	co = coro_new(p, L, 0);
	co->nargs = 0;
	ready_push(p, co);
	lua_pushthread(co->L);
	lua_xmove(co->L, L, 1);
}

/* {==== External completions and timers ====} */

void proc_ext_post(struct proc *p, struct pext *x)
{
	if (x->queued)
		return;
	x->queued = 1;
	x->next = NULL;
	if (p->ext_tail)
		p->ext_tail->next = x;
	else
		p->ext_head = x;
	p->ext_tail = x;
	proc_notify(p);
}

void proc_ext_cancel(struct proc *p, struct pext *x)
{
	struct pext **pp = &p->ext_head, *prev = NULL;
	if (!x->queued)
		return;
	for (; *pp; prev = *pp, pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			if (p->ext_tail == x)
				p->ext_tail = prev;
			break;
		}
	x->queued = 0;
}

/* Pinning: while any timer or I/O of p is pending on this shard's wheel or
** ring, p must not move to another shard (the callback runs here). */
static void update_pin(struct proc *p)
{
	if (p->ntimers || p->nio || p->pooled) {
		p->task.flags |= TASK_PINNED;
		atomic_store_explicit(&p->movable, 0, memory_order_relaxed);
	} else {
		p->task.flags &= ~TASK_PINNED;
	}
}

void proc_timer_add(struct proc *p, struct wheel_timer *t, uint64_t expire_ms)
{
	if (!wheel_is_active(t))
		p->ntimers++;
	shard_timer_add(t, expire_ms);
	update_pin(p);
}

void proc_timer_cancel(struct proc *p, struct wheel_timer *t)
{
	if (wheel_is_active(t)) {
		shard_timer_cancel(t);
		p->ntimers--;
		update_pin(p);
	}
}

/* A timer that fired: the wheel already unlinked it. */
static void timer_fired(struct proc *p)
{
	p->ntimers--;
	update_pin(p);
}

void proc_io_begin(struct proc *p) { p->nio++; update_pin(p); }
void proc_io_end(struct proc *p) { p->nio--; update_pin(p); }

/* time.sleep's timer lives in the coroutine. */
static void sleep_fired(struct wheel_timer *t)
{
	struct coro *co = container_of(t, struct coro, sleep);
	timer_fired(co->p);
	proc_ready(co, 0);
	proc_notify(co->p);
}

/* Exposed to the time module through proc.h. */
int proc_sleep(lua_State *L, uint64_t ms)
{
	struct coro *co = proc_coro(L);
	wheel_timer_init(&co->sleep, sleep_fired);
	proc_timer_add(co->p, &co->sleep, proc_deadline_ms(ms));
	return proc_block(L, 1, NULL, 0);
}

void proc_timer_fired(struct proc *p) { timer_fired(p); }

/* {==== Messages in ====} */

void proc_set_pump(struct proc *p, void (*fn)(lua_State *L, struct proc *p, void *data),
		   void *data)
{
	p->pump = fn;
	p->pump_data = data;
}

/* A coroutine waiting in proc_wait_exit: a userdata on its own stack, so
** it lives exactly as long as the wait. */
struct exit_wait {
	struct exit_wait *next;
	uint64_t pid;
	struct coro *co;
	void (*push)(lua_State *L, struct msg *m); /* the EXIT's Lua form */
};

int proc_wait_exit(lua_State *L, uint64_t pid,
		   void (*push)(lua_State *L, struct msg *m), lua_KFunction k)
{
	struct coro *co = proc_coro(L);
	struct exit_wait *w = lua_newuserdatauv(L, sizeof(*w), 0);
	w->pid = pid;
	w->co = co;
	w->push = push;
	w->next = co->p->exit_waits;
	co->p->exit_waits = w;
	return proc_block(L, 1, k, 0);
}

/* Hand the EXIT m to the coroutine waiting for it, if any: 1 if taken
** (m is consumed). [-0, +0, m] */
static int exit_to_waiter(lua_State *L, struct proc *p, struct msg *m)
{
	for (struct exit_wait **pp = &p->exit_waits; *pp; pp = &(*pp)->next) {
		struct exit_wait *w = *pp;
		if (w->pid != m->from)
			continue;
		*pp = w->next;
		w->push(L, m);
		lua_xmove(L, w->co->L, 1);
		proc_ready(w->co, 1);
		return 1;
	}
	return 0;
}

/* Take one message from the mailbox into the process. Runs in the step. */
static void intake(lua_State *L, struct proc *p, struct msg *m)
{
	switch (m->kind) {
	case MSG_USER:
		mlist_append(&p->msgs, m);
		return;
	case MSG_CANCEL:
		/* A service hears shutdown from its supervisor, which stops
		** services in reverse dependency order (spec 1.3); the
		** runtime's broadcast (from no process) is not for it. */
		if (p->supervised && m->from == 0 && !(m->flags & MSGF_SUPERVISOR))
			break;
		mlist_append(&p->events, m);
		return;
	case MSG_EXIT:
		if (p->exit_waits && exit_to_waiter(L, p, m))
			return;
		mlist_append(&p->events, m);
		return;
	case MSG_LINK_DOWN:
		plink_del(&p->links, m->from);
		if (p->trap_links) {
			mlist_append(&p->events, m);
			return;
		}
		msg_free(m);
		errors_push(L, ERRORS_CANCELED, "linked process failed");
		lua_error(L);
		return;
	case MSG_TERMINATE:
		msg_free(m);
		errors_push(L, ERRORS_CANCELED, "process terminated");
		lua_error(L);
		return;
	case MSG_MONITOR:   plink_add(&p->monitors, m->from); break;
	case MSG_UNMONITOR: plink_del(&p->monitors, m->from); break;
	case MSG_LINK:      plink_add(&p->links, m->from); break;
	case MSG_UNLINK:    plink_del(&p->links, m->from); break;
	}
	msg_free(m);
}

/* {==== Start, step, exit ====} */

/* Start: [-0, +0, e]. Runs under pcall with p as light userdata. */
static int start_protected(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 1);
	struct coro *co;
	int nargs;

	code_open_libs(L);
	/* The entry's function: its chunk returns a table of functions or a
	** function (spec 1.4, extractMethod). */
	code_load_entry(L, p->entry, p->code);
	if (p->pooled) {
		/* A pooled function state: no main; each call is a coroutine
		** of the function kept here (proc_call). */
		p->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		payload_free(&p->args);
		return 0;
	}
	co = coro_new(p, L, 1);
	p->main = co;
	nargs = payload_decode(co->L, &p->args);
	if (nargs < 0)
		luaL_error(L, "cannot decode spawn arguments: %s", payload_strerror(nargs));
	payload_free(&p->args);
	co->nargs = nargs;
	ready_push(p, co);
	return 0;
}

/* The exit result of a finished main: [-0, +0, e]. Main's return values
** are on co->L. A second value that is a string or an error object makes
** the result an error (spec 4.9). */
static void set_result(lua_State *L, struct proc *p, lua_State *co, int nres)
{
	int base = lua_gettop(co) - nres + 1;
	lua_createtable(L, 0, 1);
	if (nres >= 2 && (lua_type(co, base + 1) == LUA_TSTRING ||
			  errors_is_error(co, base + 1))) {
		lua_pushvalue(co, base + 1);
		lua_xmove(co, L, 1);
		lua_setfield(L, -2, "error");
		p->exit_error = 1;
	} else if (nres >= 1) {
		lua_pushvalue(co, base);
		lua_xmove(co, L, 1);
		lua_setfield(L, -2, "value");
	}
	lua_settop(co, base - 1);
}

/* Turn the error value on top of L into an error object with the stack of
** the failed coroutine, then raise it in the step. */
static int raise_from(lua_State *L, lua_State *co)
{
	lua_xmove(co, L, 1);
	if (!errors_is_error(L, -1)) {
		const char *msg = lua_tostring(L, -1);
		luaL_traceback(L, co, NULL, 0);
		errors_push(L, ERRORS_UNKNOWN, "%s", msg ? msg : luaL_typename(L, -2));
		/* keep the traceback in the object's stack field */
		lua_insert(L, -2);
		lua_setfield(L, LUA_REGISTRYINDEX, "wippy.last_stack");
		lua_remove(L, -2);
	}
	return lua_error(L);
}

/* Messages waiting to be taken count toward the memory limit: a process
** that is sent more than it receives fails with a memory error its
** monitors see, instead of growing the runtime without bound. A long
** queue is logged once, before it gets there. */
static void check_queue(lua_State *L, struct proc *p)
{
	size_t queued = p->msgs.bytes + p->events.bytes;
	if (!p->mbox_warned && p->msgs.n >= (uint64_t)p->rt->conf.mailbox_warn) {
		p->mbox_warned = 1;
		log_printf(LOG_LEVEL_WARN, NULL, "process %s (%s) has %llu messages queued",
			   p->pidstr, p->entry ? p->entry->id : "?",
			   (unsigned long long)p->msgs.n);
	}
	/* Past the limit with nothing queued is pmem_check's to judge, and
	** while it does, the limit is the overdraft's (pmem_overdraw). */
	size_t limit = p->mem_over ? pmem_ceiling(p) : p->mem_limit;
	if (p->mem_limit && queued && p->mem_used + queued > limit) {
		/* lua_pushfstring knows %d and %I (lua_Integer), not %llu. */
		lua_Integer n = (lua_Integer)p->msgs.n, b = (lua_Integer)queued;
		mlist_clear(&p->msgs); /* what overflowed is dropped with it */
		luaL_error(L, "not enough memory: %I queued messages (%I bytes) "
			   "and the heap pass the process's memory limit", n, b);
	}
}

static int step_protected(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 1);
	struct msg *m;
	int budget = STEP_RESUMES;
	int shard = shard_id(shard_self());

	p->sliced = 0;
	lua_settop(L, 0);
	while ((m = mbox_pop(&p->mbox)) != NULL)
		intake(L, p, m);
	rstats_mbox(p->rt->rstats, p->msgs.n);
	check_queue(L, p);
	while (p->ext_head) {
		struct pext *x = p->ext_head;
		p->ext_head = x->next;
		if (p->ext_head == NULL)
			p->ext_tail = NULL;
		x->queued = 0;
		x->deliver(L, x);
	}
	if (p->pump)
		p->pump(L, p, p->pump_data);

	while (p->ready_head && budget-- > 0 && p->state == P_LIVE) {
		struct coro *co = p->ready_head;
		int nres = 0, st;
		p->ready_head = co->next_ready;
		if (p->ready_head == NULL)
			p->ready_tail = NULL;
		co->state = CO_RUNNING;
		p->cur = co;
		if (p->mem_over) /* the check goes on in this coroutine */
			lua_sethook(co->L, pmem_hook, LUA_MASKCOUNT, PMEM_CHECK_EVERY);
		preempt_enter(shard, co->L);
		st = lua_resume(co->L, L, co->nargs, &nres);
		preempt_leave();
		p->cur = NULL;
		co->nargs = 0;
		if (st == LUA_YIELD) {
			lua_pop(co->L, nres);
			if (p->state == P_UPGRADE)
				break; /* the whole state goes: see proc_task */
			if (co->state == CO_RUNNING) /* a plain yield: run again later */
				ready_push(p, co);
			if (preempt_took()) {
				p->sliced = 1; /* see proc_task */
				break;
			}
		} else if (co->done) {
			/* A call (proc_call): its end, good or bad, is the
			** caller's business; the state lives on. */
			co->done(L, co, st, st == LUA_OK ? nres : 1);
			if (st == LUA_OK && p->pooled) {
				/* A thread that returned is as good as new: keep it
				** for the next call (no allocation per request). */
				lua_settop(co->L, 0);
				co->state = CO_DEAD;
				co->done = NULL;
				co->ctx = NULL;
				co->next_ready = p->free_calls;
				p->free_calls = co;
				p->ncoros--;
			} else {
				coro_release(p, co);
			}
		} else if (st == LUA_OK) {
			if (co->is_main) {
				set_result(L, p, co->L, nres);
				lua_setfield(L, LUA_REGISTRYINDEX, "wippy.result");
				p->state = P_DONE;
			}
			coro_release(p, co);
		} else {
			return raise_from(L, co->L);
		}
	}
	/* Deadlock (spec 4.9): every coroutine blocked, nothing pending that
	** could wake one, and no subscription a message could arrive on (no
** pump). */
	if (p->state == P_LIVE && p->ready_head == NULL && p->ncoros > 0 &&
	    p->nblocked == p->ncoros && p->nblocked_ext == 0 &&
	    p->ntimers == 0 && p->nio == 0 && p->pump == NULL) {
		errors_push(L, ERRORS_INTERNAL,
			    "all coroutines blocked with no pending operations");
		lua_error(L);
	}
	return 0;
}

/* Error value on top of L -> the process's error result. */
/* fail_with_top's Lua half: (error value, p) -> the exit message and the
** result {error = value}. [-0, +0, m] */
static int record_failure(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 2);
	const char *msg = luaL_tolstring(L, 1, NULL);

	free(p->exit_msg);
	p->exit_msg = xstrdup(msg ? msg : "error");
	lua_pop(L, 1);
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "error");
	lua_setfield(L, LUA_REGISTRYINDEX, "wippy.result");
	return 0;
}

/* End p with the error value on top of L (popped). Lua may raise here
** (out of memory, a __tostring that fails), and nothing outside would
** catch it, so the work runs protected; a process that failed at its
** memory limit is also let past it, since recording why takes a little
** memory and the limit no longer protects anything. If even that fails,
** the message is kept in C. */
static void fail_with_top(lua_State *L, struct proc *p)
{
	p->exit_error = 1;
	p->state = P_DONE;
	p->mem_limit = 0;
	int st = LUA_ERRMEM;
	if (lua_checkstack(L, 3)) {
		lua_pushcfunction(L, record_failure);
		lua_insert(L, -2);
		lua_pushlightuserdata(L, p);
		st = lua_pcall(L, 2, 0, 0);
		if (st == LUA_OK)
			return;
	}
	lua_pop(L, 1);
	if (p->exit_msg == NULL)
		p->exit_msg = xstrdup(st == LUA_ERRMEM ? "not enough memory" :
				      "the error could not be turned into text");
}

static int encode_result(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, "wippy.result");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 0);
	}
	if (p->exit_error && p->exit_msg == NULL) {
		lua_getfield(L, -1, "error");
		p->exit_msg = xstrdup(luaL_tolstring(L, -1, NULL));
		lua_pop(L, 2);
	}
	int rc = payload_encode(L, lua_gettop(L), 1, &p->result);
	if (rc < 0)
		luaL_error(L, "cannot encode the exit result: %s", payload_strerror(rc));
	return 0;
}

static void notify_all(struct proc *p, struct plink *l, enum msg_kind kind)
{
	for (uint32_t i = 0; i < l->n; i++) {
		struct msg *m = msg_new(kind, p->pid, NULL);
		m->from_host = p->host->id;
		m->at = (double)time(NULL);
		payload_copy(&m->payload, &p->result);
		proc_send(p->rt, l->v[i], m);
	}
}

/* Dispose of a finished process: on its shard, once. */
static void finish(struct proc *p)
{
	struct rt *rt = p->rt;

	pt_remove(rt, p);
	names_release(p);
	if (__builtin_expect(atomic_load_explicit(&rt->cluster, memory_order_relaxed) != NULL, 0))
		cluster_proc_exit(rt, p->pid);
	if (!p->pooled)
		rstats_exited(rt->rstats);
	rstats_heap(rt->rstats, -(int64_t)p->mem_acct);
	p->mem_acct = 0;

	if (p->L) {
		lua_settop(p->L, 0);
		lua_pushcfunction(p->L, encode_result);
		lua_pushlightuserdata(p->L, p);
		if (lua_pcall(p->L, 1, 0, 0) != LUA_OK) {
			payload_free(&p->result);
			lua_pop(p->L, 1);
		}
	}
	if (p->exit_error && p->exit_msg && !p->is_terminal)
		log_printf(LOG_LEVEL_DEBUG, NULL, "process %s failed: %s", p->pidstr, p->exit_msg);
	notify_all(p, &p->monitors, MSG_EXIT);
	if (p->exit_error)
		notify_all(p, &p->links, MSG_LINK_DOWN);
	if (p->on_exit)
		p->on_exit(p, p->on_exit_arg);
	/* A read in flight outlives us. Only the terminal process touches the
	** reader, so others must not even look (another shard owns it). */
	if (p->is_terminal)
		term_forget(&rt->term_in, p);
	/* The main coroutine has no __gc: cancel its sleep here. */
	if (p->main && wheel_is_active(&p->main->sleep))
		proc_timer_cancel(p, &p->main->sleep);
	if (p->L) {
		pmem_arena_learn(p);
		pmem_drop_state(p); /* __gc cancels the timers still armed */
	}
	p->pump = NULL;
	p->pump_data = NULL;
	mlist_clear(&p->msgs);
	mlist_clear(&p->events);
	msg_free(p->held);
	p->held = NULL;
	plink_free(&p->monitors);
	plink_free(&p->links);
	proc_unref(p); /* the pid table's reference */
}

/* {==== Upgrade ====} */

/* raise_kind(p): raise p's upgrade error as an error object. [-0, +0, e] */
static int raise_kind(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 1);
	errors_push(L, p->upgrade_kind, "%s", p->upgrade_err);
	return lua_error(L);
}

int proc_upgrade(lua_State *L, const struct reg_entry *e, struct payload *args,
		 const char *kind, const char *err)
{
	struct coro *co = proc_coro(L);
	struct proc *p = co->p;

	if (p->pooled)
		return luaL_error(L, "process.upgrade: not in a function call");
	payload_free(&p->args);
	if (args) {
		p->args = *args;
		memset(args, 0, sizeof(*args));
	}
	p->upgrade_to = e;
	free(p->upgrade_err);
	p->upgrade_err = e ? NULL : xstrdup(err ? err : "upgrade failed");
	p->upgrade_kind = kind ? kind : ERRORS_INVALID;
	p->state = P_UPGRADE;
	/* A yield, not an error: nothing in the old code (a pcall, a
	** coroutine.wrap) can catch it. The step loop stops at P_UPGRADE. */
	return lua_yield(L, 0);
}

/* Drop p's Lua state and everything living in it, keeping the process:
** pid, mailbox and queues, monitors, links, names, options. Then p is
** P_INIT again with its new entry (or P_DONE with the upgrade's error). */
static void reload(struct proc *p)
{
	if (p->nio > 0) {
		/* A read in flight points into the state: it cannot go. */
		free(p->upgrade_err);
		p->upgrade_err = xstrdup("process.upgrade: I/O in flight");
		p->upgrade_kind = ERRORS_UNAVAILABLE;
	}
	if (p->upgrade_err) {
		p->state = P_LIVE;
		/* Everything that allocates runs protected, in raise_kind. */
		lua_pushcfunction(p->L, raise_kind);
		lua_pushlightuserdata(p->L, p);
		int st = lua_pcall(p->L, 1, 0, 0);
		free(p->upgrade_err);
		p->upgrade_err = NULL;
		if (st != LUA_OK)
			fail_with_top(p->L, p);
		return;
	}
	/* The main coroutine has no __gc: cancel its sleep here; lua_close
	** runs the other finalizers (coroutine sleeps, timers, their queued
	** completions), which unpin p and unlink themselves. */
	if (p->main && wheel_is_active(&p->main->sleep))
		proc_timer_cancel(p, &p->main->sleep);
	pmem_drop_state(p);
	p->cur = p->main = NULL;
	p->ready_head = p->ready_tail = NULL;
	p->ncoros = p->nblocked = p->nblocked_ext = 0;
	p->ext_head = p->ext_tail = NULL;
	p->pump = NULL;         /* its data lived in the state */
	p->pump_data = NULL;
	p->exit_waits = NULL;
	p->nsteps = 0;
	p->gc_big = 0;
	p->entry = p->upgrade_to;
	p->upgrade_to = NULL;
	p->state = P_INIT;
}

/* One step of p. Returns 1 when p will not run again at once (it went
** idle or ended), 0 when it is queued again. */
static int proc_run(struct proc *p)
{
	lua_State *L;

	atomic_store_explicit(&p->shard, shard_self(), memory_order_release);
	if (p->state == P_INIT) {
		p->code = code_find(p->rt, p->entry);
		p->first_bytes = 0;
		p->finalizers = 0;
		p->arena_only = 1;
		/* An arena that cannot be had is none: the slab serves. */
		(void)arena_init(&p->arena, pmem_arena_size(p));
		p->L = lua_newstate(pmem_alloc, p);
		if (p->L == NULL) {
			arena_release(&p->arena);
			p->state = P_DONE;
			p->exit_error = 1;
			p->exit_msg = xstrdup("not enough memory for a new process");
			finish(p);
			return 1;
		}
		/* A reload's new state: main_co still names the old one's
		** main coroutine, closed with it. */
		p->main_co.L = NULL;
		*(struct coro **)lua_getextraspace(p->L) = &p->main_co;
		lua_gc(p->L, LUA_GCSTOP);
		lua_pushcfunction(p->L, start_protected);
		lua_pushlightuserdata(p->L, p);
		p->state = P_LIVE;
		/* The chunk's top level runs here, where nothing can yield: the
		** watchdog still ends it if it never returns. */
		preempt_enter(shard_id(shard_self()), p->L);
		int st = lua_pcall(p->L, 1, 0, 0);
		preempt_leave();
		if (st != LUA_OK)
			fail_with_top(p->L, p);
		/* Incremental at first: switching to generational mode runs a
		** full collection, which a short-lived process (one request,
		** one task) should never pay for (http-spawn: 32k -> 38k req/s).
		** Long-lived ones switch after GEN_AFTER_STEPS steps, below. */
		lua_gc(p->L, LUA_GCINC, 200, 100, 0);
	}
	L = p->L;
	if (p->state == P_LIVE) {
		lua_pushcfunction(L, step_protected);
		lua_pushlightuserdata(L, p);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK)
			fail_with_top(L, p);
		/* Generational for processes that live: their per-message
		** garbage (select results, decoded payloads, tick Times) dies
		** young, and minor collections every 10% of growth keep a
		** small heap small (mass-spawn worker RSS: 14.0 KB, against
		** 15.5 KB at the default 20% and 20.7 KB incremental), once
		** the first one is due (luagc.h). */
		/* The collector stays stopped through the first step: restarting
		** it sets the debt to zero, so the next allocation would start a
		** cycle over a heap that is all live, and a process that does its
		** work in one step (a task, a request) would pay for it only to
		** free everything at lua_close. That step's allocation is still
		** bounded: past the memory limit Lua collects in emergency, and a
		** long step is preempted, which ends it. The arena, if any,
		** serves only this first step (pmem_alloc: nsteps == 0). */
		if (++p->nsteps == 1 && p->state == P_LIVE)
			lua_gc(L, LUA_GCRESTART);
		if (p->nsteps == GEN_AFTER_STEPS && p->state == P_LIVE &&
		    p->mem_used < GC_BIG_HEAP) {
			/* Entering generational mode is a full collection
			** inside Lua that passes neither wrapped function (the
			** minor step after it passes luaC_step's, counted). */
			luagc_generational(L, 10, 100);
			rstats_gc(p->rt->rstats, 1);
		}
		/* A big heap collects incrementally for good: a generational
		** major collection marks the whole heap in one go, which no
		** hook can preempt (a 200 MB heap: 20-80 ms steps, measured
		** with bench/fairness.sh's hog), while incremental steps stay
		** small. The switch walks the heap once; switching back would
		** cost a full collection, so it is never done. */
		if (!p->gc_big && p->mem_used >= GC_BIG_HEAP && p->state == P_LIVE) {
			p->gc_big = 1;
			lua_gc(L, LUA_GCINC, 200, 100, 0);
		}
	}
	/* The heap as of this step's end, counted once a step, not per
	** allocation (runtime/rstats.h); finish() takes it back. */
	if (p->mem_used != p->mem_acct) {
		rstats_heap(p->rt->rstats, (int64_t)p->mem_used - (int64_t)p->mem_acct);
		p->mem_acct = p->mem_used;
		atomic_store_explicit(&p->st_heap, p->mem_used, memory_order_relaxed);
	}
	atomic_store_explicit(&p->st_steps,
		atomic_load_explicit(&p->st_steps, memory_order_relaxed) + 1,
		memory_order_relaxed);
	if (p->state == P_UPGRADE) {
		reload(p);
		if (p->state == P_INIT) {
			shard_schedule(&p->task); /* start the new code next turn */
			return 0;
		}
	}
	if (p->on_start && p->state == P_LIVE) {
		void (*cb)(struct proc *, void *) = p->on_start;
		p->on_start = NULL;
		cb(p, p->on_exit_arg);
	}
	if (p->state == P_DONE) {
		finish(p);  /* scheduled stays 1: nobody posts it again */
		return 1;
	}
	if (p->ready_head) { /* budget spent: let others run, come back */
		/* A spent slice queues behind the tasks woken by I/O, timers
		** and messages, so a busy process delays them by at most the
		** slice in progress (shard_yield). */
		if (p->sliced)
			shard_yield(&p->task);
		else
			shard_schedule(&p->task);
		p->sliced = 0;
		return 0;
	}
	/* A waker that wins `scheduled` from here on runs p on p->shard,
	** this one, until the very end below: the check of the mailbox still
	** reads p's consumer side. */
	atomic_store_explicit(&p->movable, 0, memory_order_relaxed);
	atomic_store_explicit(&p->scheduled, 0, memory_order_seq_cst);
	/* Pairs with proc_notify(): see the file comment. */
	if ((!mbox_empty(&p->mbox) || p->ext_head) &&
	    atomic_exchange_explicit(&p->scheduled, 1, memory_order_seq_cst) == 0) {
		shard_schedule(&p->task);
		return 0;
	}
	/* Only here, where this shard is done with p, may p become movable
	** (the release orders everything above before a waker that sees it);
	** never in a callback that unpins p (a timer fired), since p may
	** still be touched on this shard until it runs. Nothing touches p
	** after this store. */
	if (!(p->task.flags & TASK_PINNED))
		atomic_store_explicit(&p->movable, 1, memory_order_release);
	return 1;
}

static void proc_task(struct task *t)
{
	struct proc *p = container_of(t, struct proc, task);
	int stops;

	wake_from = p;
	stops = proc_run(p);
	wake_from = NULL;
	if (wake_held != NULL)
		wake_release(stops);
	wake_spread = 0;
}

/* {==== Calls into pooled function states ====} */

struct coro *proc_call(lua_State *L, struct proc *p,
		       void (*done)(lua_State *L, struct coro *co, int status, int nres),
		       void *ctx)
{
	struct coro *co = p->free_calls;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref);
	if (co) {
		p->free_calls = co->next_ready;
		lua_xmove(L, co->L, 1);
		p->ncoros++;
	} else {
		co = coro_new(p, L, 0);
	}
	co->done = done;
	co->ctx = ctx;
	co->nargs = 0;
	ready_push(p, co);
	return co;
}
