/*
** runtime/boot.c: building, starting, stopping and freeing a runtime
** (struct rt). Shared by `wippy run` and `wippy test`.
**
** Shutdown: rt_begin_shutdown() (any thread) sends every live process a
** CANCEL event, then a poller on shard 0 stops the engine once no process
** is left, or terminates what is left when the grace period ends (and
** stops the engine regardless two seconds later).
*/
#include "boot.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "env.h"
#include "httpd.h"
#include "log.h"
#include "preempt.h"
#include "proc.h"
#include "registry.h"
#include "rt.h"
#include "code.h"
#include "service.h"

/* {==== Hosts ====} */

struct host *rt_host(struct rt *rt, const char *id)
{
	for (int i = 0; i < rt->nhosts; i++)
		if (strcmp(rt->hosts[i].id, id) == 0)
			return &rt->hosts[i];
	return NULL;
}

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

/* {==== Shutdown ====} */

enum { RUNNING = 0, CANCELLING = 1, TERMINATING = 2 };

struct stopper {
	struct task t;
	struct wheel_timer w;
	struct rt *rt;
	uint64_t deadline_ms, hard_ms;
	int armed;
};

static struct stopper stopper;

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

/* Polls every 20 ms while shutting down: stop when nothing is left, or
** terminate what is left once the stop timeout passed. */
static void stopper_tick(struct wheel_timer *w)
{
	struct stopper *s = container_of(w, struct stopper, w);
	struct rt *rt = s->rt;
	uint64_t now = common_now_ms();

	if (proc_count(rt) == 0 || now >= s->hard_ms) {
		engine_stop(rt->engine);
		return;
	}
	if (now >= s->deadline_ms &&
	    atomic_exchange(&rt->stopping, TERMINATING) == CANCELLING) {
		log_printf(LOG_LEVEL_WARN, NULL, "stop timeout: terminating %ld processes",
			   proc_count(rt));
		pt_each(rt, terminate_one, NULL);
	}
	shard_timer_add(w, shard_now_ms(shard_self()) + 20);
}

static void stopper_run(struct task *t)
{
	struct stopper *s = container_of(t, struct stopper, t);
	wheel_timer_init(&s->w, stopper_tick);
	shard_timer_add(&s->w, shard_now_ms(shard_self()) + 1);
}

/* Begin shutdown: any thread. A second call forces an immediate stop.
** grace_ns bounds the wait for processes to end after their CANCEL. */
void rt_begin_shutdown(struct rt *rt, const char *reason, int64_t grace_ns)
{
	int was = atomic_exchange(&rt->stopping, CANCELLING);
	if (was != RUNNING) {
		if (was == CANCELLING)
			atomic_store(&rt->stopping, was);
		engine_stop(rt->engine);
		return;
	}
	service_stop_all(rt);
	httpd_stop(rt);
	log_printf(LOG_LEVEL_DEBUG, NULL, "shutting down: %s", reason);
	pt_each(rt, cancel_one, (void *)reason);
	stopper.rt = rt;
	stopper.deadline_ms = common_now_ms() + (uint64_t)(grace_ns / 1000000);
	stopper.hard_ms = stopper.deadline_ms + 2000;
	stopper.t.run = stopper_run;
	stopper.t.flags = TASK_PINNED;
	shard_post(engine_shard(rt->engine, 0), &stopper.t);
}

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

/* Log each line of a warning list once, at WARN. */
static void log_lines(const struct reg_error *w)
{
	const char *p = w->msg;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		log_warn("%.*s", len, p);
		p += len + (nl != NULL);
	}
}

/* What `wippy lint` warns about, said once at boot: entries of kinds this
** runtime ignores, and modules: names require will not find. */
static void warn_registry(const struct registry *reg)
{
	struct reg_error mods;

	log_lines(reg_warnings(reg));
	reg_check_modules(reg, code_provides, &mods);
	log_lines(&mods);
	reg_error_free(&mods);
}

struct rt *rt_boot(const struct boot_opts *o)
{
	struct registry *reg;
	struct env *env;
	struct rt *rt;

	if (rt_load_registry("wippy.lock", &reg, &env) < 0)
		return NULL;
	warn_registry(reg);
	rt = xcalloc(1, sizeof(*rt));
	rt->reg = reg;
	rt->stop_timeout_ns = o->stop_timeout_ns ? o->stop_timeout_ns : 10000000000LL;
	rt->stop_timeout_set = o->stop_timeout_set;
	rt->proc_mem_limit = o->proc_mem_limit;
	rt->args = o->args;
	rt->nargs = o->nargs;
	pt_init(rt);
	if (code_compile_all(rt) > 0) {
		fprintf(stderr, "wippy: Lua sources failed to compile; nothing started\n");
		code_free_all(rt);
		pt_destroy(rt);
		env_destroy(env);
		reg_free(reg);
		free(rt);
		return NULL;
	}
	rt->env = env;

	struct engine_config cfg = {
		.nshards = o->nshards, .pin = 1, .signals = 1,
		.on_signal = on_signal, .before_sleep = before_sleep,
		.on_start = on_shard_start, .on_exit = on_shard_exit, .arg = rt,
	};
	rt->engine = engine_create(&cfg);
	build_hosts(rt, engine_nshards(rt->engine));
	if (httpd_init(rt) < 0)
		return NULL;
	log_flush(); /* this thread's boot records, before the shards log */
	return rt;
}

int rt_start(struct rt *rt)
{
	preempt_init(engine_nshards(rt->engine));
	if (engine_start(rt->engine) < 0) {
		fprintf(stderr, "wippy: cannot start the engine (io_uring unavailable?)\n");
		return -1;
	}
	httpd_start(rt);
	return 0;
}

int rt_wait_and_free(struct rt *rt)
{
	int code;
	engine_wait(rt->engine);
	preempt_shutdown();
	log_flush();
	code = atomic_load(&rt->exit_code);
	/* Processes still alive at a forced stop are left to the OS: their
	** states live on shards that no longer run. */
	if (proc_count(rt) == 0) {
		engine_destroy(rt->engine);
		httpd_free(rt);
		service_free_all(rt);
		env_destroy(rt->env);
		code_free_all(rt);
		pt_destroy(rt);
		free(rt->hosts);
		free(rt->term_in.buf);
		reg_free(rt->reg);
		free(rt);
	}
	return code;
}
