/*
** runtime/service.c: the supervisor of process.service entries (spec 1.3,
** 1.4).
**
** Owns: struct supervisor (one per runtime, made by service_start_all and
** handed to the rt as its struct rt_supervisor hooks) and the records of
** the services. May not touch: the rt's shutdown state other than reading
** rt->stopping (the rt's poller calls stop_tick; this file runs no poller
** of its own), a process's fields past its pid and exit status, or any Lua
** module (it builds `input:` values with the plain Lua API).
**
** Each service has one record, in start order (every service after the
** services it requires). All records are guarded by the supervisor's
** mutex: supervisor events (a start, an exit, a restart timer, a shutdown
** tick) are rare and come from whichever shard ran the process, so a lock
** is simpler than handing records between threads, and it is never held
** across anything that blocks. Lock order: the supervisor lock, then the pid table's
** stripe locks (proc_spawn, proc_send); never the other way round.
**
** Start: a service starts once every service it requires is up. "Up"
** means its process ran its first step and is still alive (main reached its
** first blocking point: a name registered at the top of main is visible),
** or that it exited cleanly. Services that an auto_start service requires
** are started with it even when they are not auto_start themselves.
**
** Policy: a clean exit is final (Exited). An error exit is retried after
** initial_delay * backoff_factor^(attempt-1), capped at max_delay, times
** 1 +/- jitter; max_attempts 0 retries forever, otherwise the service gives
** up after max_attempts retries and logs the last error. A run longer than
** stable_threshold resets the attempt count.
**
** Shutdown: from the moment rt->stopping leaves RT_RUNNING nothing is
** started or restarted, and the rt's shutdown poller calls stop_tick on
** the thread in rt_wait (not a shard) until it reports every service
** stopped. Services stop in reverse dependency order. A service is sent a
** CANCEL event (reason "service stopping") once every service that
** requires it has stopped; one that is still alive after its
** stop_timeout is terminated. Services independent of each other stop in
** parallel. The runtime's own shutdown CANCEL broadcast does not reach
** supervised processes (proc.c drops it for them), so this order holds
** whatever else is being stopped at the same time.
*/
#include "service.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "evbus.h"
#include "live.h"
#include "log.h"
#include "payload.h"
#include "policy.h"
#include "proc.h"
#include "registry.h"
#include "reg_lua.h"
#include "rt.h"

#define TERMINATE_WAIT_MS 1000   /* after a terminate, wait this long at most */

enum run_phase {
	SV_IDLE,        /* not started (waiting for what it requires) */
	SV_STARTING,    /* spawned; its first step has not run yet */
	SV_RUNNING,
	SV_BACKOFF,     /* failed; a restart timer is armed */
	SV_EXITED,      /* clean exit: final */
	SV_GAVE_UP,     /* failed past max_attempts: final */
};

enum stop_phase {
	ST_NONE,        /* shutdown has not reached it */
	ST_CANCELLED,   /* CANCEL sent, waiting until stop_deadline */
	ST_TERMINATED,  /* terminate sent, waiting until stop_deadline */
	ST_DONE,        /* no process left */
};

struct supervisor;

struct service {
	struct supervisor *sv;
	const struct reg_entry *e;
	struct service **requires;  /* the process.service entries it requires */
	size_t nrequires;
	struct wheel_timer restart;
	struct payload input;       /* encoded `input:` list, copied per start */
	struct payload sec;         /* lifecycle.security as the security
	                            ** module's context, or empty */
	uint64_t pid;               /* the live incarnation, or 0 */
	uint64_t started_ms;
	uint64_t updated_ms;        /* CLOCK_MONOTONIC ms of the last change of
	                            ** state (system.supervisor's last_update) */
	char *details;              /* what that change said (the error of a
	                            ** failure, why it stopped), or NULL */
	uint64_t stop_deadline_ms;
	int attempts;
	uint8_t wanted;             /* auto_start, or required by a wanted one */
	uint8_t up;                 /* has been up (see the file comment) */
	uint8_t phase;              /* enum run_phase */
	uint8_t stop;               /* enum stop_phase */
	uint8_t removed;            /* gone from the registry: never restarts */
	uint8_t restart_now;        /* changed in the registry: start again as
	                            ** soon as the old incarnation exits */
	struct wheel_timer kill;    /* removed or changed: terminate after
	                            ** stop_timeout if still alive */
	uint64_t kill_pid;
};

struct supervisor {
	struct rt_supervisor base;  /* the hooks the rt calls; first member */
	struct rt *rt;
	pthread_mutex_t lock;
	struct service **services;  /* start order; each record is its own
	                            ** block (callbacks hold it) and lives
	                            ** until destroy, even once removed */
	size_t n, cap;
};

static void start(struct service *s);

/* Shutdown has begun: nothing starts or restarts any more. */
static int stopping(const struct supervisor *sv)
{
	return atomic_load(&sv->rt->stopping) != RT_RUNNING;
}

/* {==== Start and restart ====} */

static int deps_up(const struct service *s)
{
	for (size_t i = 0; i < s->nrequires; i++)
		if (!s->requires[i]->up)
			return 0;
	return 1;
}

/* Start every wanted service that is idle and whose requirements are up.
** Caller holds the lock. Services are in start order, so one pass starts
** a whole chain whose members come up synchronously. */
static void start_ready(struct supervisor *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		struct service *s = sv->services[i];
		if (s->wanted && s->phase == SV_IDLE && deps_up(s))
			start(s);
	}
}

/* s's state changed: note when, and what was said about it (copied; NULL:
** nothing), replacing the last change's details as the original's status
** does. Caller holds the lock. */
static void changed(struct service *s, const char *details)
{
	s->updated_ms = common_now_ms();
	free(s->details);
	s->details = details ? xstrdup(details) : NULL;
}

/* Publish s's new status on the event bus as the original's supervisor
** does on every state change: system "supervisor", kind
** "service.update", path the service id, data {status, desired,
** retry_count, details, last_update, started_at}. Caller holds the lock
** (the lock order allows the bus's lock and then the pid table's after
** it). A scratch state encodes the table: state changes are rare. */
static void notify(struct service *s, const char *status, const char *details)
{
	struct payload pl;
	lua_State *L = luaL_newstate();

	changed(s, details);
	if (L == NULL)
		return;
	lua_createtable(L, 0, 4);
	lua_pushstring(L, "supervisor");
	lua_setfield(L, -2, "system");
	lua_pushstring(L, "service.update");
	lua_setfield(L, -2, "kind");
	lua_pushstring(L, s->e->id);
	lua_setfield(L, -2, "path");
	lua_createtable(L, 0, 6);
	lua_pushstring(L, status);
	lua_setfield(L, -2, "status");
	lua_pushstring(L, s->wanted && !s->removed ? "running" : "stopped");
	lua_setfield(L, -2, "desired");
	lua_pushinteger(L, s->attempts);
	lua_setfield(L, -2, "retry_count");
	if (details) {
		lua_pushstring(L, details);
		lua_setfield(L, -2, "details");
	}
	lua_pushinteger(L, (lua_Integer)time(NULL));
	lua_setfield(L, -2, "last_update");
	lua_pushinteger(L, (lua_Integer)(s->started_ms / 1000));
	lua_setfield(L, -2, "started_at");
	lua_setfield(L, -2, "data");
	if (payload_encode(L, 1, 1, &pl) == 0) {
		evbus_send(s->sv->rt, 0, "supervisor", "service.update", &pl);
		payload_free(&pl);
	}
	lua_close(L);
}

static void service_started(struct proc *p, void *arg)
{
	struct service *s = arg;
	struct supervisor *sv = s->sv;
	pthread_mutex_lock(&sv->lock);
	if (s->pid == p->pid && s->phase == SV_STARTING) {
		s->phase = SV_RUNNING;
		notify(s, "running", NULL);
		if (!s->up) {
			s->up = 1;
			if (!stopping(sv))
				start_ready(sv);
		}
	}
	pthread_mutex_unlock(&sv->lock);
}

static void restart_fired(struct wheel_timer *t)
{
	struct service *s = container_of(t, struct service, restart);
	struct supervisor *sv = s->sv;
	pthread_mutex_lock(&sv->lock);
	if (s->phase == SV_BACKOFF) {
		s->phase = SV_IDLE;
		if (!stopping(sv))
			start(s);
	}
	pthread_mutex_unlock(&sv->lock);
}

/* Delay before restart number `attempt` (1-based), in ms. */
static uint64_t backoff_ms(const struct reg_lifecycle *lc, int attempt)
{
	double delay = (double)lc->restart.initial_delay *
		       pow(lc->restart.backoff_factor, attempt - 1);
	if (lc->restart.max_delay > 0 && delay > (double)lc->restart.max_delay)
		delay = (double)lc->restart.max_delay;
	if (lc->restart.jitter > 0)
		delay *= 1.0 + lc->restart.jitter * (2.0 * drand48() - 1.0);
	return delay > 0 ? (uint64_t)(delay / 1e6) : 0;
}

/* s's process ended: on the process's shard thread. */
static void service_exited(struct proc *p, void *arg)
{
	struct service *s = arg;
	struct supervisor *sv = s->sv;
	const struct reg_lifecycle *lc = &s->e->lifecycle;
	const char *why = p->exit_msg ? p->exit_msg : "error";
	uint64_t now = common_now_ms();

	pthread_mutex_lock(&sv->lock);
	if (s->pid != p->pid)
		goto out;
	s->pid = 0;
	if (stopping(sv)) {
		s->stop = ST_DONE;
		s->phase = p->exit_error ? SV_GAVE_UP : SV_EXITED;
		changed(s, p->exit_error ? why : NULL);
		goto out;
	}
	if (s->removed) {
		log_printf(LOG_LEVEL_INFO, NULL, "service %s stopped (removed from the registry)",
			   s->e->id);
		s->phase = SV_EXITED;
		notify(s, "stopped", NULL);
		goto out;
	}
	if (s->restart_now) {
		s->restart_now = 0;
		s->attempts = 0;
		s->phase = SV_IDLE;
		notify(s, "stopped", "changed in the registry");
		log_printf(LOG_LEVEL_INFO, NULL, "service %s restarting (changed in the registry)",
			   s->e->id);
		if (s->wanted && deps_up(s))
			start(s);
		goto out;
	}
	if (!p->exit_error) {
		log_printf(LOG_LEVEL_INFO, NULL, "service %s exited", s->e->id);
		s->phase = SV_EXITED;
		notify(s, "exited", NULL);
		if (!s->up) {
			s->up = 1;
			start_ready(sv);
		}
		goto out;
	}
	if ((int64_t)(now - s->started_ms) * 1000000 >= lc->stable_threshold)
		s->attempts = 0;
	s->attempts++;
	if (lc->restart.max_attempts > 0 && s->attempts > lc->restart.max_attempts) {
		log_printf(LOG_LEVEL_ERROR, NULL, "service %s gave up after %d attempts: %s",
			   s->e->id, s->attempts - 1, why);
		s->phase = SV_GAVE_UP;
		notify(s, "failed", why);
		goto out;
	}
	uint64_t ms = backoff_ms(lc, s->attempts);
	log_printf(LOG_LEVEL_WARN, NULL, "service %s failed, restarting in %llu ms "
		   "(attempt %d): %s", s->e->id, (unsigned long long)ms, s->attempts, why);
	s->phase = SV_BACKOFF;
	notify(s, "failed", why);
	/* On this shard's wheel: the callback runs here, under the lock. */
	wheel_timer_init(&s->restart, restart_fired);
	shard_timer_add(&s->restart, proc_deadline_ms(ms));
out:
	pthread_mutex_unlock(&sv->lock);
}

/* Spawn the next incarnation of s with its input arguments. Caller holds
** the lock. */
static void start(struct service *s)
{
	struct rt *rt = s->sv->rt;
	struct spawn_opts o;
	struct payload args;
	const char *err = NULL;
	struct host *h = rt_host(rt, s->e->u.service.host->id);

	memset(&o, 0, sizeof(o));
	o.entry = s->e->u.service.process;
	o.host = h;
	o.supervised = 1;
	o.on_exit = service_exited;
	o.on_start = service_started;
	o.on_exit_arg = s;
	o.sec = &s->sec;
	payload_copy(&args, &s->input);
	s->started_ms = common_now_ms();
	s->phase = SV_STARTING;
	struct proc *p = proc_spawn(rt, &o, &args, &err);
	if (p == NULL) {
		payload_free(&args);
		s->phase = SV_GAVE_UP;
		changed(s, err);
		log_printf(LOG_LEVEL_ERROR, NULL, "service %s: cannot start: %s", s->e->id, err);
		return;
	}
	/* p cannot have exited yet: its exit callback takes this lock. */
	s->pid = p->pid;
	notify(s, "starting", NULL);
	log_printf(LOG_LEVEL_DEBUG, NULL, "service %s started as %s", s->e->id, p->pidstr);
	proc_unref(p);
}

/* {==== Building the records ====} */


/* Push "ns:name" for id, in ns when it has none. [-0, +1, m] */
static void push_full_id(lua_State *L, const char *id, const char *ns)
{
	if (strchr(id, ':'))
		lua_pushstring(L, id);
	else
		lua_pushfstring(L, "%s:%s", ns, id);
}

/*
** lifecycle.security as the context the security module reads (lua_
** modules/security.c: {actor = {id, meta}, scope = {policies = {ids}}}):
** the actor as written, the scope the listed policies plus every policy
** of the listed groups, as the registry has them now (the original's
** WithSecurityConfig). A block with neither actor nor policies/groups
** gives no context. Encoded into s->sec (emptied first).
*/
static int encode_security(struct service *s)
{
	const struct reg_value *sec = reg_value_get(s->e->data, "lifecycle.security");
	const struct reg_value *a, *ps, *gs;
	const struct policy_table *t;
	const char *ns = s->e->ns;
	lua_State *L;
	int rc, k = 0;

	payload_free(&s->sec);
	memset(&s->sec, 0, sizeof(s->sec));
	if (sec == NULL || sec->type != REG_MAP)
		return 0;
	a = reg_value_get(sec, "actor");
	ps = reg_value_get(sec, "policies");
	gs = reg_value_get(sec, "groups");
	if ((a == NULL || a->type != REG_MAP) && (ps == NULL || ps->type != REG_SEQ) &&
	    (gs == NULL || gs->type != REG_SEQ))
		return 0;
	L = luaL_newstate();
	lua_newtable(L);
	if (a != NULL && a->type == REG_MAP) {
		const struct reg_value *id = reg_value_get(a, "id");
		const struct reg_value *meta = reg_value_get(a, "meta");
		lua_newtable(L);
		lua_pushstring(L, id && id->str ? id->str : "");
		lua_setfield(L, -2, "id");
		if (meta != NULL && meta->type == REG_MAP)
			reg_value_push(L, meta);
		else
			lua_newtable(L);
		lua_setfield(L, -2, "meta");
		lua_setfield(L, -2, "actor");
	}
	if ((ps && ps->type == REG_SEQ) || (gs && gs->type == REG_SEQ)) {
		lua_newtable(L);
		lua_newtable(L);
		for (size_t i = 0; ps && ps->type == REG_SEQ && i < ps->n; i++) {
			if (ps->items[i]->type != REG_STR)
				continue;
			push_full_id(L, ps->items[i]->str, ns);
			lua_rawseti(L, -2, ++k);
		}
		t = policy_table_of(live_registry(s->sv->rt));
		for (size_t i = 0; gs && gs->type == REG_SEQ && i < gs->n; i++) {
			const struct policy *const *g;
			size_t n;
			if (gs->items[i]->type != REG_STR)
				continue;
			push_full_id(L, gs->items[i]->str, ns);
			g = policy_group(t, lua_tostring(L, -1), &n);
			lua_pop(L, 1);
			if (g == NULL)
				log_printf(LOG_LEVEL_WARN, NULL, "service %s: policy group %s "
					   "has no policies", s->e->id, gs->items[i]->str);
			for (size_t j = 0; j < n; j++) {
				lua_pushstring(L, policy_id(g[j]));
				lua_rawseti(L, -2, ++k);
			}
		}
		lua_setfield(L, -2, "policies");
		lua_setfield(L, -2, "scope");
	}
	rc = payload_encode(L, 1, 1, &s->sec);
	lua_close(L);
	return rc;
}

/* Encode the `input:` list once: each item is one argument of the
** process's method (a single non-list value is one argument); and the
** security context with it. */
static int encode_input(struct service *s)
{
	const struct reg_value *in = s->e->u.service.input;
	lua_State *L;
	int n = 0, rc;
	memset(&s->input, 0, sizeof(s->input));
	if (encode_security(s) < 0)
		return -1;
	if (in == NULL)
		return 0;
	L = luaL_newstate();
	if (in->type == REG_SEQ) {
		for (size_t i = 0; i < in->n; i++)
			reg_value_push(L, in->items[i]);
		n = (int)in->n;
	} else {
		reg_value_push(L, in);
		n = 1;
	}
	rc = payload_encode(L, 1, n, &s->input);
	lua_close(L);
	return rc;
}

static struct service *find(struct supervisor *sv, const struct reg_entry *e)
{
	for (size_t i = 0; i < sv->n; i++)
		if (sv->services[i]->e == e)
			return sv->services[i];
	return NULL;
}

static int stop_tick(struct rt_supervisor *base, uint64_t now_ms);
/* system.supervisor's view (rt_supervisor.states). */
static int states(struct rt_supervisor *base, const char *id,
		  void (*fn)(void *arg, const struct rt_service_state *st), void *arg)
{
	static const char *const phase_name[] = {
		[SV_IDLE] = "idle", [SV_STARTING] = "starting", [SV_RUNNING] = "running",
		[SV_BACKOFF] = "backoff", [SV_EXITED] = "exited", [SV_GAVE_UP] = "failed",
	};
	struct supervisor *sv = (struct supervisor *)base;
	struct rt_service_state st;
	int n = 0;

	pthread_mutex_lock(&sv->lock);
	for (size_t i = 0; i < sv->n; i++) {
		struct service *s = sv->services[i];
		if (id && strcmp(id, s->e->id) != 0)
			continue;
		st.id = s->e->id;
		st.status = s->stop == ST_NONE ? phase_name[s->phase]
			  : s->stop == ST_DONE ? "stopped" : "stopping";
		st.desired = s->wanted && !s->removed && !stopping(sv) ? "running" : "stopped";
		st.retry_count = s->attempts;
		st.started_ms = s->started_ms;
		st.updated_ms = s->updated_ms;
		st.details = s->details;
		fn(arg, &st);
		n++;
	}
	pthread_mutex_unlock(&sv->lock);
	return n;
}

static void destroy(struct rt_supervisor *base);
static void apply(struct rt_supervisor *base, const struct registry *old,
		  const struct registry *new);

int service_start_all(struct rt *rt)
{
	struct reg_entry **order = NULL;
	size_t n = 0;
	struct reg_error err = {0};
	struct supervisor *sv;

	if (reg_service_order(rt->reg, &order, &n, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg ? err.msg : "service order error");
		reg_error_free(&err);
		return -1;
	}
	sv = xcalloc(1, sizeof(*sv));
	sv->base.stop_tick = stop_tick;
	sv->base.states = states;
	sv->base.destroy = destroy;
	sv->base.apply = apply;
	sv->rt = rt;
	pthread_mutex_init(&sv->lock, NULL);
	sv->cap = n + 1;
	sv->services = xcalloc(sv->cap, sizeof(*sv->services));
	for (size_t i = 0; i < n; i++) {
		struct reg_entry *e = order[i];
		if (e->k != REG_K_PROCESS_SERVICE)
			continue;
		struct service *s = sv->services[sv->n++] = xcalloc(1, sizeof(*s));
		s->sv = sv;
		s->e = e;
		if (encode_input(s) < 0) {
			fprintf(stderr, "%s: cannot encode input\n", e->id);
			free(order);
			destroy(&sv->base);
			return -1;
		}
	}
	free(order);
	/* Requirements among services (others, hosts say, are always up). A
	** required service comes earlier in the order, so it is found. */
	for (size_t i = 0; i < sv->n; i++) {
		struct service *s = sv->services[i];
		const struct reg_lifecycle *lc = &s->e->lifecycle;
		s->requires = xcalloc(lc->nrequires + 1, sizeof(*s->requires));
		for (size_t j = 0; j < lc->nrequires; j++) {
			struct service *d = find(sv, lc->requires[j]);
			if (d)
				s->requires[s->nrequires++] = d;
		}
	}
	/* Wanted: auto_start, or required by something wanted (walk from the
	** end: dependents come after what they require). */
	for (size_t i = sv->n; i-- > 0;) {
		struct service *s = sv->services[i];
		if (s->e->lifecycle.auto_start)
			s->wanted = 1;
		if (s->wanted)
			for (size_t j = 0; j < s->nrequires; j++)
				s->requires[j]->wanted = 1;
	}
	srand48((long)common_now_ns());
	/* Handed over before anything starts, so that a shutdown beginning
	** from here on finds every service it must stop. */
	rt_set_supervisor(rt, &sv->base);
	pthread_mutex_lock(&sv->lock);
	if (!stopping(sv))
		start_ready(sv);
	pthread_mutex_unlock(&sv->lock);
	return 0;
}

/* {==== Shutdown ====} */

/* Whether a service that requires s has not stopped yet. */
static int dependents_left(const struct supervisor *sv, const struct service *s)
{
	for (size_t i = 0; i < sv->n; i++) {
		const struct service *d = sv->services[i];
		if (d->stop == ST_DONE)
			continue;
		for (size_t j = 0; j < d->nrequires; j++)
			if (d->requires[j] == s)
				return 1;
	}
	return 0;
}

static void stop_send(struct service *s, enum msg_kind kind)
{
	struct msg *m = msg_new(kind, 0, kind == MSG_CANCEL ? "service stopping" : NULL);
	m->flags = MSGF_SUPERVISOR;
	m->at = (double)time(NULL);
	/* -ESRCH: it is exiting; its exit callback marks it done. */
	proc_send(s->sv->rt, s->pid, m);
}

/* One pass over the services, dependents first. Returns 1 when every
** service has stopped. Caller holds the lock. */
static int stop_pass(struct supervisor *sv, uint64_t now)
{
	int done = 1;
	for (size_t i = sv->n; i-- > 0;) {
		struct service *s = sv->services[i];
		switch (s->stop) {
		case ST_NONE:
			if (s->pid == 0) {
				s->stop = ST_DONE;
				break;
			}
			done = 0;
			if (dependents_left(sv, s))
				break;
			log_printf(LOG_LEVEL_DEBUG, NULL, "service %s: stopping", s->e->id);
			s->stop = ST_CANCELLED;
			changed(s, "shutdown");
			s->stop_deadline_ms = now + (uint64_t)(s->e->lifecycle.stop_timeout / 1000000);
			stop_send(s, MSG_CANCEL);
			break;
		case ST_CANCELLED:
			done = 0;
			if (now < s->stop_deadline_ms)
				break;
			log_printf(LOG_LEVEL_WARN, NULL, "service %s did not stop within "
				   "its stop_timeout: terminating", s->e->id);
			s->stop = ST_TERMINATED;
			changed(s, "did not stop within its stop_timeout: terminated");
			s->stop_deadline_ms = now + TERMINATE_WAIT_MS;
			stop_send(s, MSG_TERMINATE);
			break;
		case ST_TERMINATED:
			if (now >= s->stop_deadline_ms)
				s->stop = ST_DONE; /* its dependencies go on */
			else
				done = 0;
			break;
		case ST_DONE:
			break;
		}
	}
	return done;
}

/* The rt's hook: on the thread in rt_wait, at each tick of the shutdown
** poller until it returns 1 (every service stopped). */
static int stop_tick(struct rt_supervisor *base, uint64_t now_ms)
{
	struct supervisor *sv = container_of(base, struct supervisor, base);
	int done;
	pthread_mutex_lock(&sv->lock);
	done = stop_pass(sv, now_ms);
	pthread_mutex_unlock(&sv->lock);
	if (done && sv->n > 0)
		log_printf(LOG_LEVEL_DEBUG, NULL, "services stopped");
	return done;
}

/* The rt's hook, after the engine stopped (or a failed start): free the
** records. */
static void destroy(struct rt_supervisor *base)
{
	struct supervisor *sv = container_of(base, struct supervisor, base);
	for (size_t i = 0; i < sv->n; i++) {
		payload_free(&sv->services[i]->input);
		payload_free(&sv->services[i]->sec);
		free(sv->services[i]->requires);
		free(sv->services[i]->details);
		free(sv->services[i]);
	}
	free(sv->services);
	pthread_mutex_destroy(&sv->lock);
	free(sv);
}

/* {==== Registry changes at run time ====}
**
** As the original's process.service manager does on the registry's
** entry.create, entry.update and entry.delete: a new service is
** registered and started when it is auto_start (as at boot); a removed
** one is sent CANCEL ("service removed") and terminated if still alive
** after its stop_timeout, never restarted; a changed one (its entry, or
** the process or host it runs, changed) is stopped the same way and
** started again from its new entry as soon as the old incarnation exits.
** Requirements are those of the new entry, among services that exist. */

static void kill_fired(struct wheel_timer *t)
{
	struct service *s = container_of(t, struct service, kill);
	struct supervisor *sv = s->sv;
	pthread_mutex_lock(&sv->lock);
	if (s->pid != 0 && s->pid == s->kill_pid) {
		log_printf(LOG_LEVEL_WARN, NULL, "service %s did not stop within its "
			   "stop_timeout: terminating", s->e->id);
		stop_send(s, MSG_TERMINATE);
	}
	pthread_mutex_unlock(&sv->lock);
}

/* Ask the live incarnation of s to stop (caller holds the lock; on a
** shard thread: the kill timer goes on its wheel). */
static void stop_live(struct service *s, const char *reason)
{
	struct msg *m = msg_new(MSG_CANCEL, 0, reason);
	m->flags = MSGF_SUPERVISOR;
	m->at = (double)time(NULL);
	proc_send(s->sv->rt, s->pid, m);
	notify(s, "stopping", reason);
	s->kill_pid = s->pid;
	wheel_timer_init(&s->kill, kill_fired);
	shard_timer_add(&s->kill, proc_deadline_ms((uint64_t)(s->e->lifecycle.stop_timeout / 1000000)));
}

static struct service *find_id(struct supervisor *sv, const char *id)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!sv->services[i]->removed && !strcmp(sv->services[i]->e->id, id))
			return sv->services[i];
	return NULL;
}

/* Recompute s's requirements from its entry. */
static void link_requires(struct supervisor *sv, struct service *s)
{
	const struct reg_lifecycle *lc = &s->e->lifecycle;
	free(s->requires);
	s->nrequires = 0;
	s->requires = xcalloc(lc->nrequires + 1, sizeof(*s->requires));
	for (size_t j = 0; j < lc->nrequires; j++) {
		struct service *d = find_id(sv, lc->requires[j]->id);
		if (d)
			s->requires[s->nrequires++] = d;
	}
}

static void apply(struct rt_supervisor *base, const struct registry *old,
		  const struct registry *new)
{
	struct supervisor *sv = container_of(base, struct supervisor, base);
	const struct reg_entry *e = NULL;

	pthread_mutex_lock(&sv->lock);
	if (stopping(sv))
		goto out;
	/* Removed. */
	for (size_t i = 0; i < sv->n; i++) {
		struct service *s = sv->services[i];
		if (s->removed || reg_find(new, s->e->id) != NULL)
			continue;
		s->removed = 1;
		s->wanted = 0;
		if (s->pid != 0)
			stop_live(s, "service removed");
		else if (s->phase == SV_BACKOFF) {
			s->phase = SV_EXITED; /* its restart timer finds it so */
			changed(s, "service removed");
		}
	}
	/* Created and changed, in the new order (services after what they
	** require, which the new registry checked). */
	while ((e = reg_next(new, e)) != NULL) {
		struct service *s;
		if (e->k != REG_K_PROCESS_SERVICE)
			continue;
		s = find_id(sv, e->id);
		if (s != NULL && s->e == e)
			continue;
		if (s == NULL) {
			if (sv->n == sv->cap) {
				sv->cap *= 2;
				sv->services = xrealloc(sv->services, sv->cap * sizeof(*sv->services));
			}
			s = sv->services[sv->n++] = xcalloc(1, sizeof(*s));
			s->sv = sv;
			s->e = e;
			log_printf(LOG_LEVEL_INFO, NULL, "service %s registered", e->id);
		} else {
			payload_free(&s->input);
			s->e = e;
			s->attempts = 0;
			if (s->pid != 0) {
				s->restart_now = 1;
				stop_live(s, "service updated");
			} else if (s->phase != SV_BACKOFF) {
				s->phase = SV_IDLE;
			}
		}
		if (encode_input(s) < 0)
			log_printf(LOG_LEVEL_ERROR, NULL, "service %s: cannot encode input", e->id);
		link_requires(sv, s);
		s->wanted = e->lifecycle.auto_start;
	}
	for (size_t i = sv->n; i-- > 0;) {
		struct service *s = sv->services[i];
		if (s->wanted)
			for (size_t j = 0; j < s->nrequires; j++)
				s->requires[j]->wanted = 1;
	}
	(void)old;
	start_ready(sv);
out:
	pthread_mutex_unlock(&sv->lock);
}
