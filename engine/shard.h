/*
** engine/shard.h: shards, the engine that owns them, and tasks.
**
** A shard is one thread (pinned to a CPU when asked) that owns an io_uring
** ring, a local run queue of tasks, a timer wheel and an MPSC inbox. Its loop:
** reap completions in a batch, drain the inbox, fire due timers, run ready
** tasks under a budget, submit once, and sleep in the kernel when there is
** nothing to do. An idle shard uses no CPU: no polling and no periodic tick.
**
** A task is the unit of runnable work (a process embeds one). It is on at
** most one queue at a time; whoever queues it gives it up until it runs.
** Tasks without TASK_PINNED may be moved to another shard through the global
** queue when this one is overloaded; the runtime pins a task while anything
** on its shard (a timer, an I/O) still refers to it.
**
** Thread affinity: functions named shard_* without a shard argument act on
** the calling thread's shard and must be called on a shard thread. Those
** marked "any thread" may be called from anywhere.
*/
#ifndef ENGINE_SHARD_H
#define ENGINE_SHARD_H

#include <stdint.h>

#include "wheel.h"

struct shard;  /* opaque */
struct engine; /* opaque */
struct ring;

#define TASK_PINNED (1u << 0) /* never moved to another shard */

struct task {
	struct task *_next;          /* run queue link */
	void (*run)(struct task *t); /* called on the shard that dequeues it */
	uint32_t flags;              /* TASK_* */
};

/* A completion handler for I/O the runtime issues on a shard's ring with
** ud_make(UD_IO, io). done() runs on that shard. */
struct engine_io {
	void (*done)(struct engine_io *io, int res, uint32_t flags);
};

/* How a shard wakes another one that sleeps in the kernel. */
enum engine_wake {
	ENGINE_WAKE_AUTO = 0, /* the measured default, see shard.c */
	ENGINE_WAKE_EVENTFD,  /* write(2) to the target's eventfd */
	ENGINE_WAKE_MSG_RING, /* IORING_OP_MSG_RING from the sender's ring */
};

struct engine_config {
	int nshards;           /* <= 0: one per online CPU */
	int pin;               /* pin shard i to CPU i % ncpu */
	int signals;           /* handle SIGINT/SIGTERM via signalfd on shard 0 */
	enum engine_wake wake;
	unsigned budget;       /* tasks run per turn before reaping again; 0: 256 */
	uint64_t turn_ns;      /* and time: no new task after this; 0: 1 ms */
	/* After a turn that ran tasks, poll the inbox this long before
	** sleeping (see shard_loop); 0: sleep at once. */
	uint64_t spin_ns;
	/* Called on shard 0 when SIGINT/SIGTERM arrives. NULL: engine_stop(). */
	void (*on_signal)(struct engine *e, int signo, void *arg);
	/* Called on every shard at the end of each turn, before it submits and
	** possibly sleeps (redis' beforesleep): flush logs, batch sends. */
	void (*before_sleep)(struct shard *s, void *arg);
	/* Called on each shard thread once before its loop starts / after it
	** ends (set up and tear down per-shard runtime state). */
	void (*on_start)(struct shard *s, void *arg);
	void (*on_exit)(struct shard *s, void *arg);
	void *arg;
};

/* Create an engine and its shards (rings are created on the shard threads).
** Blocks SIGINT/SIGTERM in the calling thread when cfg->signals so that every
** thread created afterwards inherits the mask. Never returns NULL. */
struct engine *engine_create(const struct engine_config *cfg);

/* Start every shard thread. Returns 0 or a negative errno (a ring could not
** be created: the error of the first shard that failed, and no shard runs). */
int engine_start(struct engine *e);

/* Ask every shard to leave its loop. Any thread, any number of times. */
void engine_stop(struct engine *e);

/* Wait for every shard thread to end. */
void engine_wait(struct engine *e);

/* Free the engine. Shards must have ended (engine_wait). Tasks still queued
** are dropped without being run: their owners free them. */
void engine_destroy(struct engine *e);

int engine_nshards(const struct engine *e);
struct shard *engine_shard(struct engine *e, int i);

/* The calling thread's shard, or NULL off a shard thread. */
struct shard *shard_self(void);
int shard_id(const struct shard *s);
struct engine *shard_engine(const struct shard *s);
struct ring *shard_ring(struct shard *s);
/* Milliseconds of CLOCK_MONOTONIC cached at the top of the current turn. */
uint64_t shard_now_ms(const struct shard *s);

/* Queue t on shard `to`. Any thread. On the target's own thread this is a
** local run queue push; otherwise t goes through the target's inbox and a
** sleeping target is woken. The caller gives t up until t->run is called. */
void shard_post(struct shard *to, struct task *t);

/* Queue t on the calling thread's shard. Shard thread only. */
void shard_schedule(struct task *t);

/* Queue t, which has just spent a whole time slice, behind the tasks that
** are ready for any other reason (see run_tasks in shard.c). Shard thread
** only. */
void shard_yield(struct task *t);

/* Timers on the calling thread's shard: thin wrappers over the wheel that
** keep the kernel timeout armed for the earliest deadline. */
void shard_timer_add(struct wheel_timer *t, uint64_t expire_ms);
void shard_timer_cancel(struct wheel_timer *t);

/* Tasks in the calling shard's run queue (s must be the calling thread's
** shard). */
uint64_t shard_runq_len(const struct shard *s);

/* Counters for tests and benchmarks; any thread, values are approximate. */
struct shard_stats {
	uint64_t turns, tasks_run, wakeups_sent, sleeps, spilled, taken;
	uint64_t posts;            /* tasks posted to other shards */
	uint64_t submitted;        /* SQEs the kernel took */
	uint64_t completed;        /* CQEs reaped */
	uint64_t runq, timers;     /* as of the end of the last turn */
};
void shard_get_stats(const struct shard *s, struct shard_stats *out);
/* True while s is asleep in the kernel (or about to be). Any thread. */
int shard_is_sleeping(const struct shard *s);

#endif
