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
** floor), or a process's fields (it sends messages through the mailbox,
** and reads only the pid and entry of one it abandons).
**
** Shutdown: rt_begin_shutdown() (any thread) stops the listeners, sends
** every live process a CANCEL event (proc.c drops it for services, whose
** order is the supervisor's), sets the deadline and wakes the thread in
** rt_wait, which runs the poller: every STOP_TICK_MS it moves the
** supervisor's ordered stop on, stops the engine once no process is left,
** terminates what is left when the stop timeout ends (a TERMINATE message,
** and preempt_halt for code that cannot yield), abandons what is still
** alive RT_ABANDON_MS later (logged by pid and entry, exit code 1), and
** exits without joining the shards still held RT_EXIT_WAIT_MS after that.
** While processes are still ending, the abandon waits until none ended
** for RT_ABANDON_MS, up to RT_ABANDON_MAX_MS past the stop timeout. So
** the runtime ends within the stop timeout plus 0.8 s when what is left
** is stuck, and within it plus 5.3 s whatever its processes do.
**
** Signals: SIGINT and SIGTERM are blocked in every thread from rt_boot on
** and read from a signalfd by the rt_wait thread, not by a shard: a shard
** held by code that cannot yield (a chunk's top level, a C boundary) must
** not keep the signal from being seen. A second one exits at once.
** SIGHUP is read there too: it reloads the http services' TLS
** certificates (httpd_reload) and stops nothing.
*/
#include "rt.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "code.h"
#include "engine/common.h"
#include "engine/shard.h"
#include "env.h"
#include "httpd.h"
#include "live.h"
#include "evbus.h"
#include "fcall.h"
#include "hclient.h"
#include "queue.h"
#include "pgdb.h"
#include "sqldb.h"
#include "memstore.h"
#include "cluster.h"
#include "node.h"
#include "metrics.h"
#include "rstats.h"
#include "log.h"
#include "preempt.h"
#include "reaper.h"
#include "proc.h"
#include "registry.h"

#define STOP_TICK_MS 10     /* shutdown poll period */

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

/* Wake the thread in rt_wait: shutdown began, or a shard ended. */
static void wake(struct rt *rt)
{
	uint64_t one = 1;
	/* EAGAIN only when the counter is full: it is awake anyway. */
	if (write(rt->stopper.wake_fd, &one, sizeof(one)) < 0)
		(void)0;
}

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
	proc_terminate(p);
}

/* Log a process that outlived the stop timeout by RT_ABANDON_MS. Reads
** only its pid string and entry, which do not change while it runs (an
** upgrade swaps the entry pointer, and either is a valid registry entry).
** At a large population (a million processes, most of them only queued
** behind their shard's TERMINATEs) a line each would be most of the
** shutdown: the first ABANDON_LOGGED are logged, and then their number. */
#define ABANDON_LOGGED 32

static void abandon_one(struct proc *p, void *arg)
{
	static const char msg[] = "abandoned process: it did not stop within the stop timeout";
	long *n = arg;
	if ((*n)++ >= ABANDON_LOGGED)
		return;
	struct log_rec *r = log_begin(LOG_LEVEL_WARN, msg, sizeof(msg) - 1);
	const char *entry = p->entry ? p->entry->id : "?";
	log_field_str(r, "pid", p->pidstr, p->pidlen);
	log_field_str(r, "entry", entry, strlen(entry));
	log_end(r);
}

/* Flush what can be flushed and leave now: the shards still held cannot
** be joined, and nothing may be freed under them. */
static void exit_now(int code)
{
	log_flush();
	fflush(stdout);
	_exit(code);
}

/* One tick of the shutdown poller, on the thread in rt_wait: the
** supervisor's ordered stop, the end of the engine once nothing is left,
** the terminate once the stop timeout passed, and the abandon after. */
static void stop_tick(struct rt *rt, uint64_t now)
{
	struct rt_stopper *s = &rt->stopper;
	uint64_t deadline = atomic_load(&s->deadline_ms);
	struct rt_supervisor *sv;

	if (deadline == 0)
		return; /* rt_begin_shutdown is between its two steps */
	sv = atomic_load_explicit(&rt->supervisor, memory_order_acquire);
	if (sv && !s->supervisor_done)
		s->supervisor_done = sv->stop_tick(sv, now);
	long left = proc_count(rt);
	if (left == 0 && !s->abandoned) {
		if (!s->engine_stopped)
			engine_stop(rt->engine);
		s->engine_stopped = 1;
		return;
	}
	if (now >= deadline &&
	    atomic_exchange(&rt->stopping, RT_TERMINATING) == RT_CANCELLING) {
		log_printf(LOG_LEVEL_WARN, NULL, "stop timeout: terminating %ld processes",
			   left);
		pt_each(rt, terminate_one, NULL);
		/* Code that cannot yield never reads its TERMINATE: the
		** preemption hook ends it instead. */
		preempt_halt();
	}
	/* Abandon only what stopped ending: while the count still falls,
	** the survivors are in the queue to exit (a hundred thousand
	** workers take a second or more to end), not stuck. */
	if (s->last_count == 0 || left < s->last_count) {
		s->last_count = left;
		s->progress_ms = now;
	}
	if (now >= deadline + RT_ABANDON_MS && !s->abandoned &&
	    (now >= s->progress_ms + RT_ABANDON_MS ||
	     now >= deadline + RT_ABANDON_MAX_MS)) {
		long n = 0;
		s->abandoned = 1;
		s->abandoned_ms = now;
		pt_each(rt, abandon_one, &n);
		if (n > ABANDON_LOGGED)
			log_printf(LOG_LEVEL_WARN, NULL, "abandoned %ld more processes "
				   "(%ld in all)", n - ABANDON_LOGGED, n);
		if (atomic_load(&rt->exit_code) == 0)
			atomic_store(&rt->exit_code, 1);
		engine_stop(rt->engine);
		s->engine_stopped = 1;
	}
	if (s->abandoned && now >= s->abandoned_ms + RT_EXIT_WAIT_MS) {
		log_printf(LOG_LEVEL_WARN, NULL, "%d of %d shards still held: exiting without them",
			   engine_nshards(rt->engine) - atomic_load(&s->shards_down),
			   engine_nshards(rt->engine));
		exit_now(atomic_load(&rt->exit_code));
	}
}

void rt_begin_shutdown(struct rt *rt, const char *reason, int64_t grace_ns)
{
	int was = RT_RUNNING;
	if (!atomic_compare_exchange_strong(&rt->stopping, &was, RT_CANCELLING)) {
		engine_stop(rt->engine);
		return;
	}
	/* The stop timeout counts from here, not from after the CANCELs:
	** sending a million of them takes a second. */
	uint64_t deadline = common_now_ms() + (uint64_t)(grace_ns / 1000000);
	/* From here on the supervisor restarts nothing: it reads rt->stopping. */
	httpd_stop(rt);
	fcall_stop(rt);
	log_printf(LOG_LEVEL_DEBUG, NULL, "shutting down: %s", reason);
	pt_each(rt, cancel_one, (void *)reason);
	atomic_store(&rt->stopper.deadline_ms, deadline);
	wake(rt);
}

void rt_set_supervisor(struct rt *rt, struct rt_supervisor *sv)
{
	atomic_store_explicit(&rt->supervisor, sv, memory_order_release);
}

/* SIGINT or SIGTERM, read from the signalfd by the thread in rt_wait. */
static void on_signals(struct rt *rt)
{
	struct signalfd_siginfo si;

	while (read(rt->stopper.sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int signo = (int)si.ssi_signo;
		if (signo == SIGHUP) {  /* reload what can be: TLS certificates */
			log_printf(LOG_LEVEL_INFO, NULL, "received SIGHUP, reloading");
			httpd_reload(rt);
			continue;
		}
		const char *name = signo == SIGINT ? "SIGINT" : "SIGTERM";
		if (rt->stopper.signals++ > 0) {
			/* Ctrl+C twice: the user does not want to wait. */
			log_printf(LOG_LEVEL_WARN, NULL, "received %s again: exiting now", name);
			exit_now(128 + signo);
		}
		log_printf(LOG_LEVEL_INFO, NULL, "received %s, stopping", name);
		log_flush();
		rt_begin_shutdown(rt, "scheduler shutdown", rt->stop_timeout_ns);
	}
}

/* {==== Engine callbacks ====} */

static void before_sleep(struct shard *s, void *arg)
{
	(void)arg;
	preempt_idle(shard_id(s));
	log_flush();
}

static void on_shard_start(struct shard *s, void *arg)
{
	struct rt *rt = arg;
	preempt_register(shard_id(s));
	atomic_fetch_add(&rt->stopper.shards_up, 1);
	wake(rt);
}

/* Every shard that ran on_shard_start comes here when its loop ends
** (rt_start waits for all of them to start, so none skips both). */
static void on_shard_exit(struct shard *s, void *arg)
{
	struct rt *rt = arg;
	(void)s;
	log_thread_exit();
	atomic_fetch_add(&rt->stopper.shards_down, 1);
	wake(rt);
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
	sqldb_stop(rt);
	pgdb_stop(rt);
	if (rt->engine)
		engine_destroy(rt->engine);
	reaper_drain(); /* the states of big processes that ended */
	sqldb_free(rt);
	pgdb_free(rt);
	memstore_free(rt);
	httpd_free(rt);
	free(rt->hosts);
	env_destroy(rt->env);
	live_free(rt);
	evbus_free(rt);
	fcall_free(rt);
	metrics_destroy(rt->metrics);
	rstats_destroy(rt->rstats);
	hclient_destroy(rt);
	queue_free(rt);
	code_free_all(rt);
	pt_destroy(rt);
	node_free(rt);
	term_free(&rt->term_in);
	reg_free(rt->reg);
	if (rt->stopper.sig_fd >= 0)
		close(rt->stopper.sig_fd);
	if (rt->stopper.wake_fd >= 0)
		close(rt->stopper.wake_fd);
	/* A signal from now on has its default effect. */
	pthread_sigmask(SIG_UNBLOCK, &rt->sigmask, NULL);
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
	/* SIGINT and SIGTERM are blocked here, before any thread exists, so
	** that every thread inherits the mask and they are only ever read
	** from the signalfd, by rt_wait. */
	sigemptyset(&rt->sigmask);
	sigaddset(&rt->sigmask, SIGINT);
	sigaddset(&rt->sigmask, SIGTERM);
	sigaddset(&rt->sigmask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &rt->sigmask, NULL);
	rt->stopper.sig_fd = signalfd(-1, &rt->sigmask, SFD_CLOEXEC | SFD_NONBLOCK);
	rt->stopper.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->stopper.sig_fd < 0 || rt->stopper.wake_fd < 0) {
		perror("wippy: signalfd/eventfd");
		goto err;
	}
	rt->reg = reg;
	rt->env = env;
	rt->conf = *o->conf;
	rt->stop_timeout_ns = rt->conf.stop_timeout_ns;
	rt->stop_timeout_set = conf_given(&rt->conf, "shutdown.timeout");
	rt->proc_mem_limit = (size_t)rt->conf.proc_mem_bytes;
	rt->args = o->args;
	rt->nargs = o->nargs;
	pt_init(rt);
	if (node_init(rt) < 0)
		goto err;
	if (code_compile_all(rt) > 0) {
		fprintf(stderr, "wippy: Lua sources failed to compile; nothing started\n");
		goto err;
	}

	struct engine_config cfg = {
		.nshards = (int)rt->conf.shards, .pin = 1, .signals = 0,
		.spin_ns = (uint64_t)rt->conf.spin_ns,
		.before_sleep = before_sleep,
		.on_start = on_shard_start, .on_exit = on_shard_exit, .arg = rt,
	};
	rt->engine = engine_create(&cfg);
	rt->metrics = metrics_create(NULL);
	rt->rstats = rstats_create(rt->engine);
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
	/* Every shard past on_start before anything can stop the engine: a
	** shard that saw the stop first would skip on_start and on_exit both,
	** and rt_wait would wait for its on_exit. */
	while (atomic_load(&rt->stopper.shards_up) < engine_nshards(rt->engine)) {
		struct pollfd fd = { .fd = rt->stopper.wake_fd, .events = POLLIN };
		uint64_t n;
		if (poll(&fd, 1, 100) > 0 && read(rt->stopper.wake_fd, &n, sizeof(n)) < 0)
			(void)0;
	}
	if (cluster_start(rt) < 0) {
		engine_stop(rt->engine);
		engine_wait(rt->engine);
		return -1;
	}
	httpd_start(rt);
	queue_start(rt);
	log_debug("engine started: %d shards", engine_nshards(rt->engine));
	return 0;
}

int rt_wait(struct rt *rt)
{
	struct rt_stopper *s = &rt->stopper;
	int n = engine_nshards(rt->engine);

	/* No periodic wake-up while running: the poll sleeps until a signal,
	** the start of shutdown (wake) or the end of a shard; then it ticks
	** every STOP_TICK_MS until every shard has ended. */
	while (atomic_load(&s->shards_down) < n) {
		struct pollfd fds[2] = {
			{ .fd = s->sig_fd, .events = POLLIN },
			{ .fd = s->wake_fd, .events = POLLIN },
		};
		int stopping = atomic_load(&rt->stopping) != RT_RUNNING;
		uint64_t v;

		if (poll(fds, 2, stopping ? STOP_TICK_MS : -1) < 0 && errno != EINTR)
			break; /* cannot happen with valid fds: join instead */
		if (fds[0].revents & POLLIN)
			on_signals(rt);
		if ((fds[1].revents & POLLIN) && read(s->wake_fd, &v, sizeof(v)) < 0)
			(void)0;
		if (atomic_load(&rt->stopping) != RT_RUNNING)
			stop_tick(rt, common_now_ms());
		log_flush();
	}
	cluster_stop(rt); /* every shard has ended: nothing sends any more */
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
