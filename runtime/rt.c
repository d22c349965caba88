/*
** runtime/rt.c: the runtime object (struct rt) and its lifecycle: boot
** (load, compile, create the engine, hosts and listeners), start, shutdown,
** wait, free. Shared by `wippy run` and `wippy test`.
**
** Owns: the struct rt allocation, its hosts, the engine's callbacks
** (signals, shard start and exit), and the one shutdown poller. May not
** touch: the supervisor's state (runtime/service.c hands over a struct
** rt_supervisor and rt.c calls only its two hooks), the HTTP server's state
** (only the httpd_* calls), any Lua module (lua_modules/ is above this
** floor), or a process's fields (it sends messages through the mailbox).
**
** Shutdown: rt_begin_shutdown() (any thread) stops the listeners, sends
** every live process a CANCEL event (proc.c drops it for services, whose
** order is the supervisor's), and posts the poller to shard 0. The poller
** ticks every STOP_TICK_MS: it moves the supervisor's ordered stop on,
** stops the engine once no process is left, terminates what is left when
** the grace period ends, and stops the engine regardless HARD_STOP_MS
** later.
*/
#include "rt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "code.h"
#include "engine/common.h"
#include "engine/shard.h"
#include "env.h"
#include "httpd.h"
#include "log.h"
#include "preempt.h"
#include "proc.h"
#include "registry.h"

#define STOP_TICK_MS 10     /* shutdown poll period */
#define HARD_STOP_MS 2000   /* after the grace: stop whatever is left */

/* {==== Hosts ====} */

struct host *rt_host(struct rt *rt, const char *id)
{
	for (int i = 0; i < rt->nhosts; i++)
		if (strcmp(rt->hosts[i].id, id) == 0)
			return &rt->hosts[i];
	return NULL;
}

/* One host per process.host and terminal.host entry, plus wippy:tests. */
static void build_hosts(struct rt *rt, int nshards)
{
	const struct reg_entry *e = NULL;
	int n = 0;
	while ((e = reg_next(rt->reg, e)) != NULL)
		if (e->k == REG_K_PROCESS_HOST || e->k == REG_K_TERMINAL_HOST)
			n++;
	rt->hosts = xcalloc((size_t)n + 2, sizeof(*rt->hosts));
	while ((e = reg_next(rt->reg, e)) != NULL) {
		struct host *h;
		if (e->k != REG_K_PROCESS_HOST && e->k != REG_K_TERMINAL_HOST)
			continue;
		h = &rt->hosts[rt->nhosts++];
		h->entry = e;
		h->id = e->id;
		h->first = 0;
		h->terminal = e->k == REG_K_TERMINAL_HOST;
		/* workers caps how many shards the host uses (DESIGN.md). */
		h->n = nshards;
		if (e->k == REG_K_PROCESS_HOST && e->u.host.workers > 0 &&
		    e->u.host.workers < nshards)
			h->n = e->u.host.workers;
		if (h->terminal)
			h->n = 1;
	}
	/* A host of our own for `wippy test` processes, over every shard. Its
	** id has no namespace a registry entry could use. */
	struct host *t = &rt->hosts[rt->nhosts++];
	t->id = "wippy:tests";
	t->first = 0;
	t->n = nshards;
}

/* {==== Shutdown ====} */

static void cancel_one(struct proc *p, void *arg)
{
	const char *reason = arg;
	struct msg *m = msg_new(MSG_CANCEL, 0, reason);
	m->at = (double)time(NULL);
	mbox_push(&p->mbox, m);
	proc_notify(p);
}

static void terminate_one(struct proc *p, void *arg)
{
	(void)arg;
	mbox_push(&p->mbox, msg_new(MSG_TERMINATE, 0, NULL));
	proc_notify(p);
}

/* The one shutdown poller, on shard 0: the supervisor's ordered stop,
** then the end of the engine once nothing is left, or the terminate once
** the stop timeout passed. */
static void stopper_tick(struct wheel_timer *w)
{
	struct rt_stopper *s = container_of(w, struct rt_stopper, w);
	struct rt *rt = container_of(s, struct rt, stopper);
	struct rt_supervisor *sv;
	uint64_t now = common_now_ms();

	sv = atomic_load_explicit(&rt->supervisor, memory_order_acquire);
	if (sv && !s->supervisor_done)
		s->supervisor_done = sv->stop_tick(sv, now);
	if (proc_count(rt) == 0 || now >= s->hard_ms) {
		engine_stop(rt->engine);
		return;
	}
	if (now >= s->deadline_ms &&
	    atomic_exchange(&rt->stopping, RT_TERMINATING) == RT_CANCELLING) {
		log_printf(LOG_LEVEL_WARN, NULL, "stop timeout: terminating %ld processes",
			   proc_count(rt));
		pt_each(rt, terminate_one, NULL);
	}
	shard_timer_add(w, shard_now_ms(shard_self()) + STOP_TICK_MS);
}

static void stopper_run(struct task *t)
{
	struct rt_stopper *s = container_of(t, struct rt_stopper, t);
	wheel_timer_init(&s->w, stopper_tick);
	stopper_tick(&s->w);
}

void rt_begin_shutdown(struct rt *rt, const char *reason, int64_t grace_ns)
{
	int was = RT_RUNNING;
	if (!atomic_compare_exchange_strong(&rt->stopping, &was, RT_CANCELLING)) {
		engine_stop(rt->engine);
		return;
	}
	/* From here on the supervisor restarts nothing: it reads rt->stopping. */
	httpd_stop(rt);
	log_printf(LOG_LEVEL_DEBUG, NULL, "shutting down: %s", reason);
	pt_each(rt, cancel_one, (void *)reason);
	rt->stopper.deadline_ms = common_now_ms() + (uint64_t)(grace_ns / 1000000);
	rt->stopper.hard_ms = rt->stopper.deadline_ms + HARD_STOP_MS;
	rt->stopper.t.run = stopper_run;
	rt->stopper.t.flags = TASK_PINNED;
	shard_post(engine_shard(rt->engine, 0), &rt->stopper.t);
}

void rt_set_supervisor(struct rt *rt, struct rt_supervisor *sv)
{
	atomic_store_explicit(&rt->supervisor, sv, memory_order_release);
}

/* {==== Engine callbacks ====} */

static void on_signal(struct engine *e, int signo, void *arg)
{
	(void)e;
	log_printf(LOG_LEVEL_INFO, NULL, "received %s, stopping",
		   signo == SIGINT ? "SIGINT" : "SIGTERM");
	struct rt *rt = arg;
	rt_begin_shutdown(rt, "scheduler shutdown", rt->stop_timeout_ns);
}

static void before_sleep(struct shard *s, void *arg)
{
	(void)s; (void)arg;
	log_flush();
}

static void on_shard_start(struct shard *s, void *arg)
{
	(void)arg;
	preempt_register(shard_id(s));
}

static void on_shard_exit(struct shard *s, void *arg)
{
	(void)s; (void)arg;
	log_thread_exit();
}

/* {==== Boot ====} */

int rt_load_registry(const char *lock, struct registry **out, struct env **env)
{
	char *src = NULL, *mods = NULL;
	struct reg_error err = {0};
	int rc = reg_lock_read(lock, &src, &mods);

	if (rc == -ENOENT) {
		src = xstrdup("./src");
	} else if (rc < 0) {
		fprintf(stderr, "wippy: %s: invalid lock file\n", lock);
		return -1;
	}
	env_load(src, out, env, &err);
	if (*out == NULL) {
		fprintf(stderr, "%s", err.msg ? err.msg : "wippy: cannot load registry\n");
		if (err.msg && err.msg[strlen(err.msg) - 1] != '\n')
			fputc('\n', stderr);
		fprintf(stderr, "wippy: registry has %d error%s\n", err.count,
			err.count == 1 ? "" : "s");
	}
	reg_error_free(&err);
	free(src);
	free(mods);
	return *out ? 0 : -1;
}

/* What `wippy lint` warns about, said once at boot: entries of kinds this
** runtime ignores, and modules: names require will not find. */
static void warn_registry(const struct registry *reg)
{
	struct reg_error mods;

	log_warn_lines(reg_warnings(reg)->msg);
	reg_check_modules(reg, code_provides, &mods);
	log_warn_lines(mods.msg);
	reg_error_free(&mods);
}

/* Free what rt_boot built, in reverse order; every step tolerates the
** later ones never having run (their fields are still zero). */
static void destroy(struct rt *rt)
{
	struct rt_supervisor *sv = atomic_load(&rt->supervisor);

	if (sv)
		sv->destroy(sv);
	/* The rings go first: nothing can complete any more, so httpd_free
	** may free the connections still open. */
	if (rt->engine)
		engine_destroy(rt->engine);
	httpd_free(rt);
	free(rt->hosts);
	env_destroy(rt->env);
	code_free_all(rt);
	pt_destroy(rt);
	term_free(&rt->term_in);
	reg_free(rt->reg);
	free(rt);
}

struct rt *rt_boot(const struct rt_opts *o)
{
	struct registry *reg;
	struct env *env;
	struct rt *rt;

	if (rt_load_registry("wippy.lock", &reg, &env) < 0)
		return NULL;
	warn_registry(reg);
	rt = xcalloc(1, sizeof(*rt));
	rt->reg = reg;
	rt->env = env;
	rt->conf = *o->conf;
	rt->stop_timeout_ns = rt->conf.stop_timeout_ns;
	rt->stop_timeout_set = conf_given(&rt->conf, "shutdown.timeout");
	rt->proc_mem_limit = (size_t)rt->conf.proc_mem_bytes;
	rt->args = o->args;
	rt->nargs = o->nargs;
	pt_init(rt);
	if (code_compile_all(rt) > 0) {
		fprintf(stderr, "wippy: Lua sources failed to compile; nothing started\n");
		goto err;
	}

	struct engine_config cfg = {
		.nshards = (int)rt->conf.shards, .pin = 1, .signals = 1,
		.on_signal = on_signal, .before_sleep = before_sleep,
		.on_start = on_shard_start, .on_exit = on_shard_exit, .arg = rt,
	};
	rt->engine = engine_create(&cfg);
	build_hosts(rt, engine_nshards(rt->engine));
	if (httpd_init(rt) < 0)
		goto err;
	log_flush(); /* this thread's boot records, before the shards log */
	return rt;
err:
	destroy(rt);
	log_flush();
	return NULL;
}

/* {==== Start, wait, free ====} */

int rt_start(struct rt *rt)
{
	preempt_init(engine_nshards(rt->engine), rt->conf.slice_ns, rt->conf.runaway_ns);
	if (engine_start(rt->engine) < 0) {
		fprintf(stderr, "wippy: cannot start the engine (io_uring unavailable?)\n");
		return -1;
	}
	httpd_start(rt);
	log_debug("engine started: %d shards", engine_nshards(rt->engine));
	return 0;
}

int rt_wait(struct rt *rt)
{
	engine_wait(rt->engine);
	preempt_shutdown();
	log_flush();
	return atomic_load(&rt->exit_code);
}

void rt_free(struct rt *rt)
{
	/* Both are no-ops when rt_wait ran or the engine never started. */
	engine_wait(rt->engine);
	preempt_shutdown();
	/* Processes still alive at a forced stop are left to the OS: their
	** states live on shards that no longer run. */
	if (proc_count(rt) == 0)
		destroy(rt);
}
