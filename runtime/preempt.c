/*
** runtime/preempt.c: see preempt.h.
**
** Shared state per shard: in_lua and epoch, written by the shard with
** relaxed atomics and read by the watchdog. The shard thread's running
** state is thread-local, read only by the signal handler on that thread.
** in_lua says the shard ran Lua in its current turn of the loop, not that
** a resume is under way now: it is set by the turn's first resume and
** cleared by preempt_idle at the turn's end, so the resumes in between
** pay no fence. Between resumes the epoch does not move, and a sample
** that finds it unchanged signals a thread that runs no Lua: the handler
** sees `running` NULL and arms nothing.
**
** Idle: while samples find no shard in Lua, the watchdog's sleeps double
** from its period up to IDLE_SLEEP_MAX_NS, and only after IDLE_PARK_NS of
** it does it park. A shard whose turn finds the watchdog parked must wake
** it (a futex wake, and a context switch, on the shard's own path), which
** on timer-driven work such as 10,000 ticking workers, whose shards idle
** a few milliseconds at a time, happened on a large share of turns (4 %
** of the CPU in futex wakes, 10 % in the watchdog; perf). The price of the
** backoff: a resume that starts during a long sleep is first sampled up
** to IDLE_SLEEP_MAX_NS late, so right after an idle stretch a runaway is
** preempted within that plus a slice instead of within a slice.
**
** Parking (a Dekker pair, seq_cst): the watchdog sets `parked`, then looks
** at every in_lua; a shard sets in_lua, then looks at `parked`. Either the
** watchdog sees the shard running, or the shard sees the watchdog parked
** and signals the condition variable.
*/
#include "preempt.h"

#include <lauxlib.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "errors.h"
#include "log.h"

#define PREEMPT_SIGNAL SIGURG
#define IDLE_SLEEP_MAX_NS (8L * 1000000)     /* see "Idle" above */
#define IDLE_PARK_NS      (1000L * 1000000)

struct slot {
	atomic_uint_fast64_t epoch;
	atomic_int in_lua;
	atomic_int registered;
	pthread_t th;
	uint64_t seen;      /* watchdog only */
} __attribute__((aligned(64)));

static struct slot *slots;
static int nslots;
static pthread_t wd_thread;
static atomic_int wd_stop, parked;
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
/* Set by preempt_init before the watchdog and the shards start. */
static long slice_ns;
static long period_ns;          /* the watchdog's sampling period */
static int kill_periods;        /* signals before a runaway is ended */
static atomic_int halting;      /* preempt_halt() was called */

static __thread lua_State *volatile running;
static __thread int marked;    /* this shard's in_lua is 1: see preempt_idle */
static __thread volatile sig_atomic_t took;
static __thread volatile sig_atomic_t overdue; /* slices of this resume */
static __thread volatile sig_atomic_t due;     /* a signal since preempt_due */

void preempt_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	/* A shard kept busy never reaches its before-sleep flush, so its log
	** records (this process's, and those of the others it runs between
	** slices) would wait for a full buffer: flush them here, at most once
	** a slice per spinner, and cheap when there is nothing. */
	log_flush();
	if (lua_isyieldable(L)) {
		lua_sethook(L, NULL, 0, 0);
		took = 1;
		lua_yield(L, 0);
	}
	/* Shutdown has run out of time: end it now. The hook stays armed at
	** every instruction, so a pcall in the loop that catches this error
	** meets the next one at its first instruction outside. */
	if (atomic_load_explicit(&halting, memory_order_relaxed)) {
		lua_sethook(L, preempt_hook, LUA_MASKCOUNT, 1);
		errors_push(L, ERRORS_CANCELED, "process terminated: the runtime is stopping");
		lua_error(L);
	}
	/* Inside a C boundary (a metamethod called from C, a sort
	** comparator) or a chunk's top level: no yield is possible. Past
	** kill_slices the process is ended with an error; that costs
	** one runaway process, where waiting would cost the whole shard. */
	if (overdue >= kill_periods) {
		lua_sethook(L, NULL, 0, 0);
		/* lua_pushfstring knows %d, not %ld. */
		luaL_error(L, "process ran %d ms without a point where it could "
			   "yield (runaway loop?)", (int)((kill_periods * period_ns) / 1000000));
	}
	lua_sethook(L, preempt_hook, LUA_MASKCOUNT, 1000);
}

static void on_signal(int sig)
{
	lua_State *L = running;
	(void)sig;
	if (L) {
		overdue++;
		due = 1;
		lua_sethook(L, preempt_hook, LUA_MASKCOUNT, 1);
	}
}

static void *watchdog(void *arg)
{
	long sleep_ns = period_ns;
	uint64_t idle_since = 0;
	(void)arg;
	while (!atomic_load(&wd_stop)) {
		struct timespec ts = { sleep_ns / 1000000000L, sleep_ns % 1000000000L };
		int any = 0;
		nanosleep(&ts, NULL);
		for (int i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];
			uint64_t e;
			if (!atomic_load_explicit(&s->in_lua, memory_order_relaxed))
				continue;
			any = 1;
			e = atomic_load_explicit(&s->epoch, memory_order_relaxed);
			if (e == s->seen && atomic_load(&s->registered))
				pthread_kill(s->th, PREEMPT_SIGNAL);
			s->seen = e;
		}
		if (any) {
			sleep_ns = period_ns;
			idle_since = 0;
			continue;
		}
		uint64_t now = common_now_ns();
		if (idle_since == 0)
			idle_since = now;
		if (now - idle_since < (uint64_t)IDLE_PARK_NS) {
			sleep_ns = sleep_ns * 2 < IDLE_SLEEP_MAX_NS ? sleep_ns * 2 : IDLE_SLEEP_MAX_NS;
			if (sleep_ns < period_ns)
				sleep_ns = period_ns;
			continue;
		}
		pthread_mutex_lock(&wd_lock);
		atomic_store(&parked, 1);
		atomic_thread_fence(memory_order_seq_cst);
		for (;;) {
			int busy = 0;
			for (int i = 0; i < nslots; i++)
				busy |= atomic_load(&slots[i].in_lua);
			if (busy || atomic_load(&wd_stop))
				break;
			pthread_cond_wait(&wd_cond, &wd_lock);
		}
		atomic_store(&parked, 0);
		pthread_mutex_unlock(&wd_lock);
		sleep_ns = period_ns;
		idle_since = 0;
	}
	return NULL;
}

void preempt_init(int nshards, int64_t slice, int64_t runaway)
{
	struct sigaction sa;
	/* A resume is signalled at the second sample that finds it still
	** running, so sampling twice a slice preempts it after between half
	** a slice and a slice: a slice is an upper bound. */
	slice_ns = (long)slice;
	period_ns = slice_ns / 2 > 0 ? slice_ns / 2 : 1;
	kill_periods = (int)(runaway / period_ns);
	atomic_store(&halting, 0);
	if (kill_periods < 1)
		kill_periods = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(PREEMPT_SIGNAL, &sa, NULL);
	nslots = nshards;
	slots = aligned_alloc(64, sizeof(*slots) * (size_t)nshards);
	if (slots == NULL)
		xmalloc(SIZE_MAX);
	memset(slots, 0, sizeof(*slots) * (size_t)nshards);
	atomic_store(&wd_stop, 0);
	if (pthread_create(&wd_thread, NULL, watchdog, NULL) != 0)
		abort();
}

void preempt_halt(void)
{
	/* Relaxed is enough: the hook that reads it runs after the watchdog's
	** next signal, itself at least a slice away. */
	atomic_store_explicit(&halting, 1, memory_order_relaxed);
}

void preempt_shutdown(void)
{
	if (slots == NULL)
		return;
	atomic_store(&wd_stop, 1);
	pthread_mutex_lock(&wd_lock);
	pthread_cond_signal(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
	pthread_join(wd_thread, NULL);
	free(slots);
	slots = NULL;
}

void preempt_register(int shard)
{
	slots[shard].th = pthread_self();
	atomic_store(&slots[shard].registered, 1);
}

void preempt_enter(int shard, lua_State *co)
{
	struct slot *s = &slots[shard];
	running = co;
	overdue = 0;
	due = 0;
	atomic_store_explicit(&s->epoch,
		atomic_load_explicit(&s->epoch, memory_order_relaxed) + 1,
		memory_order_relaxed);
	if (marked)
		return;
	/* The first resume of the shard's turn: the seq_cst store drains the
	** store buffer, which at one per resume was 3% of a ring's CPU. */
	marked = 1;
	atomic_store_explicit(&s->in_lua, 1, memory_order_seq_cst);
	/* Pairs with the watchdog's parked/in_lua check, see file comment. */
	if (atomic_load_explicit(&parked, memory_order_seq_cst)) {
		pthread_mutex_lock(&wd_lock);
		pthread_cond_signal(&wd_cond);
		pthread_mutex_unlock(&wd_lock);
	}
}

void preempt_idle(int shard)
{
	if (!marked)
		return;
	marked = 0;
	atomic_store_explicit(&slots[shard].in_lua, 0, memory_order_relaxed);
}

void preempt_leave(void)
{
	lua_State *L = running;
	/* running first: a signal from here on arms nothing. Then clear a
	** preemption hook still armed on the state that ran: the resume is
	** over, so its slice is. Left on, it costs every later resume of that
	** state a trip through the hook machinery at each instruction and
	** return, and coroutines created from the state inherit it: a hook
	** armed while a process's main chunk ran (where it cannot yield) used
	** to stay on its whole life, under every coroutine it started (a
	** ping-pong ran 18% of its resumes hooked). The memory check's own
	** hook (runtime/proc.c) is left alone. After preempt_halt any hook a
	** signal armed is cleared too: it would raise at every instruction of
	** the exit path's own Lua calls (the error's text, the exit result). */
	running = NULL;
	if (L == NULL)
		return;
	lua_Hook h = lua_gethook(L);
	if (h == preempt_hook ||
	    (h != NULL && atomic_load_explicit(&halting, memory_order_relaxed)))
		lua_sethook(L, NULL, 0, 0);
}

int preempt_due(void)
{
	int d = due;
	due = 0;
	return d;
}

int preempt_took(void)
{
	int t = took;
	took = 0;
	return t;
}
