/*
** test/unit/engine/shard.c: shards post to each other exactly once, sleep
** and wake, fire timers, spill to the global queue, and stop on SIGTERM.
*/
#include "engine/shard.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "engine/common.h"
#include "tap.h"

#define NSH 4
#define PER 2000 /* tasks from each shard to each other shard */

struct ptask {
	struct task t;
	int from, to;
	atomic_int runs;
	atomic_int wrong_shard;
};

static struct engine *E;
static struct ptask *all; /* [NSH][NSH][PER] */
static atomic_long done;
static long total;

static void ptask_run(struct task *t)
{
	struct ptask *p = container_of(t, struct ptask, t);
	if (shard_id(shard_self()) != p->to)
		atomic_fetch_add(&p->wrong_shard, 1);
	atomic_fetch_add(&p->runs, 1);
	if (atomic_fetch_add(&done, 1) + 1 == total)
		engine_stop(E);
}

struct seed {
	struct task t;
	int shard;
};

static void seed_run(struct task *t)
{
	struct seed *sd = container_of(t, struct seed, t);
	int from = sd->shard;
	for (int k = 0; k < PER; k++)
		for (int to = 0; to < NSH; to++) {
			if (to == from)
				continue;
			struct ptask *p = &all[(from * NSH + to) * PER + k];
			shard_post(engine_shard(E, to), &p->t);
		}
}

static void test_all_to_all(enum engine_wake wake, const char *name)
{
	struct engine_config cfg = { .nshards = NSH, .wake = wake };
	struct seed seeds[NSH];
	long bad = 0, wrong = 0;

	E = engine_create(&cfg);
	all = xcalloc(NSH * NSH * PER, sizeof(*all));
	total = (long)NSH * (NSH - 1) * PER;
	atomic_store(&done, 0);
	for (int f = 0; f < NSH; f++)
		for (int to = 0; to < NSH; to++)
			for (int k = 0; k < PER; k++) {
				struct ptask *p = &all[(f * NSH + to) * PER + k];
				p->t.run = ptask_run;
				p->t.flags = TASK_PINNED; /* stay on the target */
				p->from = f;
				p->to = to;
			}
	ok(engine_start(E) == 0, "%s: engine starts %d shards", name, NSH);
	for (int i = 0; i < NSH; i++) {
		seeds[i].t.run = seed_run;
		seeds[i].t.flags = TASK_PINNED;
		seeds[i].shard = i;
		shard_post(engine_shard(E, i), &seeds[i].t);
	}
	engine_wait(E);
	for (int f = 0; f < NSH; f++)
		for (int to = 0; to < NSH; to++)
			for (int k = 0; to != f && k < PER; k++) {
				struct ptask *p = &all[(f * NSH + to) * PER + k];
				if (atomic_load(&p->runs) != 1)
					bad++;
				wrong += atomic_load(&p->wrong_shard);
			}
	ok(atomic_load(&done) == total, "%s: %ld tasks ran", name, total);
	ok(bad == 0, "%s: every task ran exactly once (%ld did not)", name, bad);
	ok(wrong == 0, "%s: every task ran on its target shard", name);
	engine_destroy(E);
	free(all);
}

/* {==== Sleeping shards wake on a post ====} */

static atomic_int flag;

static void flag_run(struct task *t)
{
	(void)t;
	atomic_store(&flag, 1);
}

static int wait_until(int (*cond)(void *), void *arg)
{
	for (int i = 0; i < 10000; i++) { /* up to 10 s: only a hang fails */
		if (cond(arg))
			return 1;
		usleep(1000);
	}
	return 0;
}

static int is_sleeping(void *s) { return shard_is_sleeping(s); }
static int flag_set(void *unused) { return atomic_load(&flag); }

struct relay {
	struct task t;
	struct task inner;
};

static void relay_run(struct task *t)
{
	struct relay *r = container_of(t, struct relay, t);
	shard_post(engine_shard(E, 1), &r->inner);
}

static void test_wake(enum engine_wake wake, const char *name)
{
	struct engine_config cfg = { .nshards = 2, .wake = wake };
	struct task t = { .run = flag_run };
	struct relay r = { .t = { .run = relay_run }, .inner = { .run = flag_run } };

	E = engine_create(&cfg);
	ok(engine_start(E) == 0, "%s: engine starts", name);
	ok(wait_until(is_sleeping, engine_shard(E, 1)), "%s: idle shard goes to sleep", name);
	atomic_store(&flag, 0);
	shard_post(engine_shard(E, 1), &t);
	ok(wait_until(flag_set, NULL), "%s: a post from another thread wakes it", name);

	ok(wait_until(is_sleeping, engine_shard(E, 1)), "%s: it sleeps again", name);
	ok(wait_until(is_sleeping, engine_shard(E, 0)), "%s: shard 0 sleeps too", name);
	atomic_store(&flag, 0);
	shard_post(engine_shard(E, 0), &r.t); /* shard 0 posts to sleeping shard 1 */
	ok(wait_until(flag_set, NULL), "%s: a post from another shard wakes it", name);

	/* An idle engine does not spin: few turns over a quiet 300 ms. */
	struct shard_stats a, b;
	wait_until(is_sleeping, engine_shard(E, 1));
	shard_get_stats(engine_shard(E, 1), &a);
	usleep(300000);
	shard_get_stats(engine_shard(E, 1), &b);
	ok(b.turns - a.turns <= 3, "%s: idle shard took %llu turns in 300 ms", name,
	   (unsigned long long)(b.turns - a.turns));
	engine_stop(E);
	engine_wait(E);
	engine_destroy(E);
}

/* {==== Timers ====} */

struct ttask {
	struct task t;
	struct wheel_timer w;
	uint64_t armed_ns, fired_ns;
	int fires, early;
};

static void timer_cb(struct wheel_timer *w)
{
	struct ttask *tt = container_of(w, struct ttask, w);
	tt->fired_ns = common_now_ns();
	if (common_now_ms() < w->expire)
		tt->early++;
	if (++tt->fires == 3)
		engine_stop(E);
	else
		shard_timer_add(w, common_now_ms() + 20);
}

static void timer_start(struct task *t)
{
	struct ttask *tt = container_of(t, struct ttask, t);
	wheel_timer_init(&tt->w, timer_cb);
	tt->armed_ns = common_now_ns();
	shard_timer_add(&tt->w, common_now_ms() + 50);
}

static void test_timers(void)
{
	struct engine_config cfg = { .nshards = 1 };
	struct ttask tt = { .t = { .run = timer_start, .flags = TASK_PINNED } };
	E = engine_create(&cfg);
	engine_start(E);
	shard_post(engine_shard(E, 0), &tt.t);
	engine_wait(E);
	ok(tt.fires == 3, "a timer re-armed from its callback fired 3 times");
	ok(tt.early == 0, "timers never fire before their deadline");
	ok(tt.fired_ns - tt.armed_ns >= 87u * 1000000u,
	   "three timers of 50+20+20 ms took %.1f ms (1 ms resolution each)",
	   (double)(tt.fired_ns - tt.armed_ns) / 1e6);
	engine_destroy(E);
}

/* {==== Spill and take ====} */

#define NSPILL 20000
static struct ptask *sp;
static atomic_long spill_done;

static void spill_task(struct task *t)
{
	struct ptask *p = container_of(t, struct ptask, t);
	volatile unsigned x = 0;
	for (int i = 0; i < 2000; i++) /* some work so a queue builds up */
		x += (unsigned)i;
	p->to = shard_id(shard_self());
	atomic_fetch_add(&p->runs, 1);
	if (atomic_fetch_add(&spill_done, 1) + 1 == NSPILL)
		engine_stop(E);
}

static void spill_seed(struct task *t)
{
	for (int i = 0; i < NSPILL; i++)
		shard_schedule(&sp[i].t);
}

static void test_spill(void)
{
	struct engine_config cfg = { .nshards = 2 };
	struct task seed = { .run = spill_seed, .flags = TASK_PINNED };
	long once = 0, pinned_moved = 0, moved = 0;
	struct shard_stats s0, s1;

	sp = xcalloc(NSPILL, sizeof(*sp));
	for (int i = 0; i < NSPILL; i++) {
		sp[i].t.run = spill_task;
		sp[i].t.flags = (i % 2) ? TASK_PINNED : 0;
	}
	E = engine_create(&cfg);
	engine_start(E);
	shard_post(engine_shard(E, 0), &seed);
	engine_wait(E);
	for (int i = 0; i < NSPILL; i++) {
		once += atomic_load(&sp[i].runs) == 1;
		if (sp[i].to != 0) {
			moved++;
			if (sp[i].t.flags & TASK_PINNED)
				pinned_moved++;
		}
	}
	shard_get_stats(engine_shard(E, 0), &s0);
	shard_get_stats(engine_shard(E, 1), &s1);
	ok(once == NSPILL, "spill: every task ran exactly once");
	ok(s0.spilled > 0, "spill: the overloaded shard spilled %llu tasks",
	   (unsigned long long)s0.spilled);
	ok(moved > 0 && moved == (long)s1.taken, "spill: the idle shard took and ran %ld (took %llu, shard 0 took %llu)", moved, (unsigned long long)s1.taken, (unsigned long long)s0.taken);
	ok(pinned_moved == 0, "spill: pinned tasks never move");
	engine_destroy(E);
	free(sp);
}

/* {==== Spent slices and the turn's time ====}
**
** Two "spinners" burn 3 ms of the clock per run and go back with
** shard_yield, as a preempted process does; a timer schedules a fresh task
** every 5 ms. Order, not time, is checked: timers fire before the turn's
** tasks run, so a fresh task must run before any spinner that was queued
** when it was (with shard_schedule for both, one spinner would be ahead
** of it). Each spinner run passes the 1 ms turn budget by construction, so
** a turn runs one of them and then looks at completions again; and both
** keep running (no starvation by fresh work). */

#define NFRESH 40
struct spinner { struct task t; int runs; };
static struct spinner spinners[2];
static struct wheel_timer fresh_timer;
static struct task fresh;
static int spin_runs, spins_at_post, spins_between, nfresh, fresh_queued;

static void spin_run(struct task *t)
{
	struct spinner *me = container_of(t, struct spinner, t);
	uint64_t until = common_now_ns() + 3000000;
	while (common_now_ns() < until)
		;
	me->runs++;
	spin_runs++;
	if (nfresh < NFRESH)
		shard_yield(t);
}

static void fresh_run(struct task *t)
{
	spins_between += spin_runs - spins_at_post;
	fresh_queued = 0;
	if (++nfresh == NFRESH)
		engine_stop(E);
}

static void fresh_fire(struct wheel_timer *w)
{
	if (!fresh_queued) {
		fresh_queued = 1;
		spins_at_post = spin_runs;
		shard_schedule(&fresh);
	}
	shard_timer_add(w, shard_now_ms(shard_self()) + 5);
}

static void yield_seed(struct task *t)
{
	for (int i = 0; i < 2; i++)
		shard_yield(&spinners[i].t);
	wheel_timer_init(&fresh_timer, fresh_fire);
	shard_timer_add(&fresh_timer, shard_now_ms(shard_self()) + 5);
}

static void test_yield(void)
{
	struct engine_config cfg = { .nshards = 1, .turn_ns = 1000000 };
	struct task seed = { .run = yield_seed, .flags = TASK_PINNED };
	struct shard_stats st;
	for (int i = 0; i < 2; i++)
		spinners[i].t = (struct task){ .run = spin_run, .flags = TASK_PINNED };
	fresh = (struct task){ .run = fresh_run, .flags = TASK_PINNED };
	E = engine_create(&cfg);
	engine_start(E);
	shard_post(engine_shard(E, 0), &seed);
	engine_wait(E);
	shard_get_stats(engine_shard(E, 0), &st);
	ok(nfresh == NFRESH, "yield: %d fresh tasks ran next to two spinners", nfresh);
	ok(spins_between == 0, "yield: no spinner ran between a fresh task's queueing and its run (%d did)",
	   spins_between);
	ok(spinners[0].runs > 3 && spinners[1].runs > 3,
	   "yield: both spinners kept running (%d and %d runs)", spinners[0].runs, spinners[1].runs);
	ok((uint64_t)spin_runs <= st.turns,
	   "yield: one over-budget spinner per turn (%d runs in %llu turns)",
	   spin_runs, (unsigned long long)st.turns);
	engine_destroy(E);
}

/* {==== SIGTERM ====} */

static atomic_int got_signo;

static void on_sig(struct engine *e, int signo, void *arg)
{
	atomic_store(&got_signo, signo);
	engine_stop(e);
}

static void test_sigterm(void)
{
	struct engine_config cfg = { .nshards = 2, .signals = 1, .on_signal = on_sig };
	E = engine_create(&cfg);
	ok(engine_start(E) == 0, "signals: engine starts");
	wait_until(is_sleeping, engine_shard(E, 0));
	kill(getpid(), SIGTERM);
	engine_wait(E); /* a hang here is the failure; the runner times out */
	ok(atomic_load(&got_signo) == SIGTERM, "SIGTERM arrives as a completion and stops every shard");
	engine_destroy(E);

	cfg.on_signal = NULL; /* default: stop */
	E = engine_create(&cfg);
	engine_start(E);
	kill(getpid(), SIGINT);
	engine_wait(E);
	ok(1, "SIGINT stops every shard by default");
	engine_destroy(E);
}

int main(void)
{
	test_all_to_all(ENGINE_WAKE_EVENTFD, "eventfd");
	test_all_to_all(ENGINE_WAKE_MSG_RING, "msg_ring");
	test_wake(ENGINE_WAKE_EVENTFD, "eventfd");
	test_wake(ENGINE_WAKE_MSG_RING, "msg_ring");
	test_timers();
	test_spill();
	test_yield();
	test_sigterm();
	return tap_done();
}
