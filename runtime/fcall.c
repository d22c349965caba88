/*
** runtime/fcall.c: calls of function.lua entries from processes. See
** fcall.h for the contract.
**
** Owns: the per-shard pools of pooled function states (struct fcalls, made
** on first use and hung on rt->fcalls) and the call records in flight.
**
** Pools: one open-addressing table per shard, keyed by entry pointer, of
** slots holding that entry's idle states on that shard. Only the shard's
** own thread reads or writes its table, so there are no locks: a call
** takes a state from the caller's shard, which is where the state stays
** (pooled states are pinned) and where the caller stays until the reply
** (proc_io_begin pins it). A replaced entry (a registry change) has a new
** pointer and so a new slot; the old slot's idle states serve nobody and
** go at shutdown.
**
** Life of a call: fcall_start (caller's step) posts `start` to the
** callee; start_call (callee's step) installs the call's context and
** security pair on the state and runs the entry's function as a new
** coroutine (proc_call); call_done (callee's step, when that coroutine
** ends) encodes the result, returns the state to its slot and posts
** `reply` to the caller; deliver_reply (caller's step) unpins the caller
** and hands over to the module's on_reply. A pooled state that dies
** during a call (memory limit, terminate) ends the call with its error
** from state_exit.
*/
#include "fcall.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "errors.h"
#include "registry.h"
#include "rt.h"

/* Idle states kept per entry and shard: enough for the calls a burst
** keeps in flight at once; past it a returning state is terminated, so a
** burst does not leave its peak of states behind. */
#define POOL_IDLE 32

/* One entry's idle states on one shard. */
struct slot {
	const struct reg_entry *entry;
	struct shard_pools *sp;
	struct proc **idle;
	uint32_t n, cap;
};

struct shard_pools {
	struct slot **v;             /* open addressing, NULL = empty */
	uint32_t n, cap;             /* cap a power of two */
	struct task stop;            /* fcall_stop, on this shard */
	struct fcalls *fc;
};

struct fcalls {
	struct rt *rt;
	int nshards;
	struct host host;            /* pids of pooled states: {wippy:funcs|..} */
	struct shard_pools *sp;      /* [nshards] */
};

static void stop_shard(struct task *t);

static struct fcalls *fcalls_of(struct rt *rt)
{
	struct fcalls *fc = atomic_load_explicit((_Atomic(struct fcalls *) *)&rt->fcalls,
						 memory_order_acquire);
	void *none = NULL;
	if (fc)
		return fc;
	fc = xcalloc(1, sizeof(*fc));
	fc->rt = rt;
	fc->nshards = engine_nshards(rt->engine);
	fc->host.id = "wippy:funcs";
	fc->host.first = 0;
	fc->host.n = fc->nshards;
	fc->sp = xcalloc((size_t)fc->nshards, sizeof(*fc->sp));
	for (int i = 0; i < fc->nshards; i++) {
		fc->sp[i].fc = fc;
		fc->sp[i].stop.run = stop_shard;
		fc->sp[i].stop.flags = TASK_PINNED;
	}
	/* Two shards may race to make it: the loser frees its own. */
	if (!atomic_compare_exchange_strong(&rt->fcalls, &none, fc)) {
		free(fc->sp);
		free(fc);
		fc = none;
	}
	return fc;
}

/* {==== Pools (shard thread only) ====} */

static uint32_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

static void sp_grow(struct shard_pools *sp)
{
	uint32_t ncap = sp->cap ? sp->cap * 2 : 16;
	struct slot **nv = xcalloc(ncap, sizeof(*nv));
	for (uint32_t i = 0; i < sp->cap; i++) {
		struct slot *s = sp->v[i];
		uint32_t h;
		if (s == NULL)
			continue;
		for (h = hash_ptr(s->entry) & (ncap - 1); nv[h]; h = (h + 1) & (ncap - 1))
			;
		nv[h] = s;
	}
	free(sp->v);
	sp->v = nv;
	sp->cap = ncap;
}

/* The slot of e on this shard, made on first use. */
static struct slot *slot_get(struct shard_pools *sp, const struct reg_entry *e)
{
	uint32_t h;
	if (sp->n * 2 >= sp->cap)
		sp_grow(sp);
	for (h = hash_ptr(e) & (sp->cap - 1); sp->v[h]; h = (h + 1) & (sp->cap - 1))
		if (sp->v[h]->entry == e)
			return sp->v[h];
	struct slot *s = xcalloc(1, sizeof(*s));
	s->entry = e;
	s->sp = sp;
	sp->v[h] = s;
	sp->n++;
	return s;
}

static void terminate(struct proc *p)
{
	proc_terminate(p);
	proc_unref(p);
}

/* A state whose call ended goes back to its slot, or is terminated. */
static void slot_put(struct slot *s, struct proc *p)
{
	struct rt *rt = s->sp->fc->rt;
	if (atomic_load(&rt->stopping) || s->n >= POOL_IDLE) {
		terminate(p);
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->idle = xrealloc(s->idle, s->cap * sizeof(*s->idle));
	}
	s->idle[s->n++] = p;
}

static void stop_shard(struct task *t)
{
	struct shard_pools *sp = container_of(t, struct shard_pools, stop);
	for (uint32_t i = 0; i < sp->cap; i++) {
		struct slot *s = sp->v[i];
		while (s && s->n)
			terminate(s->idle[--s->n]);
	}
}

/* }==== */

/* {==== The callee side (the pooled state's step) ====} */

static void call_finish(struct fcall *c);

/* Someone still waits for c's result. */
static int wanted(const struct fcall *c)
{
	return c->caller != NULL || c->cb != NULL;
}

/* End c with an error of that kind and message, kept as C text: this
** also runs where Lua cannot (a state that is being dropped). The caller
** side makes the error object (fcall_push_result). */
static void fail_with(struct fcall *c, const char *kind, const char *msg)
{
	payload_free(&c->result);
	free(c->err_msg);
	c->err_msg = xstrdup(msg);
	c->err_kind = kind;
	c->failed = 1;
}

/* Encode the outcome of the call's coroutine: its first result, or its
** error (a raised value or a second result that is a string or an error
** object, the convention process results follow too). [-0, +0, m] */
static void encode_outcome(lua_State *co, struct fcall *c, int status, int nres)
{
	int base = lua_gettop(co) - nres + 1, rc;
	if (status == LUA_OK && nres >= 2 &&
	    (lua_type(co, base + 1) == LUA_TSTRING || errors_is_error(co, base + 1))) {
		status = LUA_ERRRUN;
		base = base + 1;
		nres = 1;
	}
	if (status != LUA_OK) {
		if (!errors_is_error(co, base)) {
			const char *msg = lua_tostring(co, base);
			errors_push(co, ERRORS_UNKNOWN, "%s", msg ? msg : luaL_typename(co, base));
			lua_replace(co, base);
		}
		rc = payload_encode(co, base, 1, &c->result);
		c->failed = 1;
	} else {
		rc = payload_encode(co, base, nres > 0 ? 1 : 0, &c->result);
	}
	if (rc < 0)
		fail_with(c, ERRORS_INTERNAL, c->failed ?
			  "cannot pass the function's error back" :
			  "cannot pass the function's result back (functions, threads and "
			  "userdata do not cross)");
}

/* proc_call's completion: in the callee's step. */
static void call_done(lua_State *L, struct coro *co, int status, int nres)
{
	struct fcall *c = co->ctx;
	struct proc *p = c->callee;
	(void)L;
	if (wanted(c))
		encode_outcome(co->L, c, status, nres);
	/* The state is free again, with no trace of this call's context. */
	payload_free(&p->ctx);
	payload_free(&p->sec);
	proc_sec_changed(p);
	p->fcall = NULL;
	c->callee = NULL;
	slot_put(p->on_exit_arg, p);
	call_finish(c);
}

/* In the callee's step: begin the call. */
static void start_call(lua_State *L, struct pext *x)
{
	struct fcall *c = container_of(x, struct fcall, start);
	struct proc *p = c->callee;
	struct coro *co;
	int n;

	if (!wanted(c)) {             /* nobody waits any more: skip it */
		p->fcall = NULL;
		c->callee = NULL;
		slot_put(p->on_exit_arg, p);
		call_finish(c);
		return;
	}
	n = payload_decode(L, &c->args);
	if (n < 0) {
		fail_with(c, ERRORS_INTERNAL, payload_strerror(n));
		p->fcall = NULL;
		c->callee = NULL;
		slot_put(p->on_exit_arg, p);
		call_finish(c);
		return;
	}
	payload_free(&p->ctx);
	payload_free(&p->sec);
	p->ctx = c->ctx;
	p->sec = c->sec;
	proc_sec_changed(p);
	memset(&c->ctx, 0, sizeof(c->ctx));
	memset(&c->sec, 0, sizeof(c->sec));
	co = proc_call(L, p, call_done, c);
	lua_xmove(L, co->L, n);
	co->nargs = n;
}

/* A pooled state ended: idle in its slot (forget it), or during a call
** (which ends with the state's error). Runs on the state's shard. */
static void state_exit(struct proc *p, void *arg)
{
	struct slot *s = arg;
	struct fcall *c = p->fcall;
	if (c) {
		p->fcall = NULL;
		c->callee = NULL;
		if (wanted(c))
			fail_with(c, ERRORS_INTERNAL,
				  p->exit_msg ? p->exit_msg : "function state failed");
		call_finish(c);
		proc_unref(p);
		return;
	}
	for (uint32_t i = 0; i < s->n; i++)
		if (s->idle[i] == p) {
			s->idle[i] = s->idle[--s->n];
			proc_unref(p);
			return;
		}
}

/* }==== */

/* {==== The caller side ====} */

static void deliver_reply(lua_State *L, struct pext *x)
{
	struct fcall *c = container_of(x, struct fcall, reply);
	proc_io_end(c->caller);
	c->on_reply(L, c);   /* may free c (fcall_detach) */
}

/* The callee side is done with c: hand it back, or free it. */
static void call_finish(struct fcall *c)
{
	c->inflight = 0;
	c->done = 1;
	if (c->cb) {
		c->cb(c);
		return;
	}
	if (c->caller == NULL) {
		fcall_detach(c);
		return;
	}
	c->reply.deliver = deliver_reply;
	proc_ext_post(c->caller, &c->reply);
}

struct fcall *fcall_new(struct proc *caller, const struct reg_entry *entry)
{
	struct fcall *c = xcalloc(1, sizeof(*c));
	c->rt = caller->rt;
	c->caller = caller;
	c->entry = entry;
	c->depth = (caller->fcall ? ((struct fcall *)caller->fcall)->depth : 0) + 1;
	return c;
}

struct fcall *fcall_new_c(struct rt *rt, const struct reg_entry *entry,
			  void (*cb)(struct fcall *c), void *ud)
{
	struct fcall *c = xcalloc(1, sizeof(*c));
	c->rt = rt;
	c->entry = entry;
	c->cb = cb;
	c->ud = ud;
	c->depth = 1;
	return c;
}

int fcall_start(struct fcall *c, const char **kind, const char **err)
{
	struct rt *rt = c->rt;
	struct fcalls *fc;
	struct shard *sh = shard_self();
	struct slot *s;
	struct proc *p;

	if (atomic_load(&rt->stopping)) {
		*kind = ERRORS_CANCELED;
		*err = "the runtime is shutting down";
		return -1;
	}
	if (c->depth > FCALL_MAX_DEPTH) {
		*kind = ERRORS_INTERNAL;
		*err = "function calls nested too deeply";
		return -1;
	}
	fc = fcalls_of(rt);
	s = slot_get(&fc->sp[shard_id(sh)], c->entry);
	if (s->n) {
		p = s->idle[--s->n];
	} else {
		struct spawn_opts o;
		struct payload none;
		memset(&o, 0, sizeof(o));
		memset(&none, 0, sizeof(none));
		o.entry = c->entry;
		o.host = &fc->host;
		o.pooled = 1;
		o.shard = sh;
		o.on_exit = state_exit;
		o.on_exit_arg = s;
		p = proc_spawn(rt, &o, &none, err);
		if (p == NULL) {
			*kind = ERRORS_INTERNAL;
			return -1;
		}
	}
	c->callee = p;
	c->inflight = 1;
	p->fcall = c;
	/* The caller stays on this shard until the reply is delivered, and
	** counts as waiting on something outside (no deadlock report). */
	if (c->caller)
		proc_io_begin(c->caller);
	c->start.deliver = start_call;
	proc_ext_post(p, &c->start);
	return 0;
}

void fcall_detach(struct fcall *c)
{
	if (c->caller) {
		struct proc *caller = c->caller;
		c->caller = NULL;
		if (c->inflight) {
			proc_io_end(caller);
			/* Nobody will read what the function does now: stop it
			** (its state goes; state_exit then frees c). One not yet
			** started is skipped by start_call instead. */
			if (c->callee && !c->start.queued) {
				proc_terminate(c->callee);
			}
			return;              /* call_finish frees it */
		}
		if (c->reply.queued) {   /* posted, not yet delivered */
			proc_ext_cancel(caller, &c->reply);
			proc_io_end(caller);
		}
	} else if (c->inflight) {
		c->cb = NULL;            /* a C caller letting go mid-call */
		return;
	}
	payload_free(&c->args);
	payload_free(&c->ctx);
	payload_free(&c->sec);
	payload_free(&c->result);
	free(c->err_msg);
	free(c);
}

int fcall_push_result(lua_State *L, struct fcall *c)
{
	int n;
	if (c->err_msg) {
		errors_push(L, c->err_kind, "%s", c->err_msg);
		return -1;
	}
	n = payload_decode(L, &c->result);
	if (n < 0) {
		errors_push(L, ERRORS_INTERNAL, "cannot decode the call's result: %s",
			    payload_strerror(n));
		return -1;
	}
	if (c->failed) {
		if (n == 0) {
			errors_push(L, ERRORS_INTERNAL, "the function failed");
			return -1;
		}
		lua_settop(L, lua_gettop(L) - n + 1);
		return -1;
	}
	return n;
}

struct fcall *fcall_current(struct proc *p)
{
	return p->fcall;
}

void fcall_stop(struct rt *rt)
{
	struct fcalls *fc = atomic_load_explicit((_Atomic(struct fcalls *) *)&rt->fcalls,
						 memory_order_acquire);
	for (int i = 0; fc && i < fc->nshards; i++)
		shard_post(engine_shard(rt->engine, i), &fc->sp[i].stop);
}

void fcall_free(struct rt *rt)
{
	struct fcalls *fc = atomic_load(&rt->fcalls);
	if (fc == NULL)
		return;
	for (int i = 0; i < fc->nshards; i++) {
		struct shard_pools *sp = &fc->sp[i];
		for (uint32_t j = 0; j < sp->cap; j++)
			if (sp->v[j]) {
				free(sp->v[j]->idle);
				free(sp->v[j]);
			}
		free(sp->v);
	}
	free(fc->sp);
	free(fc);
	rt->fcalls = NULL;
}

/* }==== */
