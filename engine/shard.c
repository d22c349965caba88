/*
** engine/shard.c: the engine, its shards and their event loop.
**
** Each shard runs shard_loop() on its own thread and is the only thread that
** touches its ring, run queue, wheel and pending lists. Other threads reach
** a shard only through its MPSC inbox (shard_post), its `sleeping` flag and
** its eventfd. The global queue is shared by all shards under a mutex: it is
** used only to spill an overloaded shard and to feed an idle one, never on
** the per-message path, so a lock there costs nothing that matters.
**
** Sleep/wake protocol (a Dekker pair, both sides seq_cst):
**   producer: push to inbox;  fence;  if sleeping and xchg(sleeping, 0): wake
**   consumer: sleeping = 1;   fence;  if inbox non-empty: sleeping = 0, loop
**                                     else: sleep in io_uring_enter
** Either the consumer sees the item, or the producer sees sleeping == 1 and
** wakes it; the exchange makes exactly one producer pay for the wake-up.
** A spurious wake-up (both happen) costs one empty turn.
**
** Wake-up method: ENGINE_WAKE_AUTO picks the eventfd. bench/wake measures
** both on this machine (2 cores, kernel 6.x): waking a shard that is fully
** asleep costs the same (p50 6.1 us either way), but handing a stream of
** work to a shard that keeps falling asleep runs about 4x faster with the
** eventfd (4.6 M vs 1.1 M tasks/s in batches of 16): a MSG_RING wake-up
** queues task work that makes the kernel wake the target from the sender's
** submit, which slows the sender and lets the target sleep again sooner.
** The eventfd also works from any thread (the main thread, tests).
*/
#include "shard.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common.h"
#include "mpsc.h"
#include "ring.h"
#include "ud.h"

#define INBOX_CAP    65536 /* items; a full inbox spills to pending lists */
#define REAP_BATCH   256
#define DRAIN_BATCH  256
#define RING_ENTRIES 1024

/* A FIFO of tasks linked through task->_next. */
struct tqueue {
	struct task *head, *tail;
	uint64_t len;
};

struct shard {
	/* Written by other threads: keep apart from the owner's hot fields. */
	_Alignas(CACHELINE) atomic_int sleeping;
	int efd;                     /* eventfd: wake-ups from any thread */
	int ring_fd;                 /* published after the ring exists */
	struct mpsc *inbox;

	_Alignas(CACHELINE) struct engine *e;
	int id;
	pthread_t thread;
	struct ring *ring;
	struct tqueue runq;
	struct tqueue yieldq;        /* tasks that spent a time slice */
	struct tqueue *pending;      /* [nshards]: posts that met a full inbox */
	uint64_t npending;
	struct wheel wheel;
	uint64_t now_ms;
	uint64_t events_ms;          /* now_ms of the last ring_submit_events */
	uint64_t armed_ms;           /* deadline of the kernel timeout or NEVER */
	uint64_t efd_buf;            /* target of the eventfd read */
	int sfd;                     /* signalfd on shard 0, else -1 */
	struct signalfd_siginfo siginfo;
	int start_rc;

	struct {
		atomic_uint_fast64_t turns, tasks_run, wakeups_sent, sleeps,
			spilled, taken;
		/* For the metrics endpoint: posts to other shards, SQEs
		** submitted, CQEs reaped; and the run queue and the wheel's
		** size as of the last turn's end (gauges published once a
		** turn, so that another thread never reads the live ones). */
		atomic_uint_fast64_t posts, submitted, completed, runq, timers;
	} st;
	uint64_t spun_at;            /* st.tasks_run at the last spin */
	unsigned spin_skip, spin_backoff; /* see spin() */
};

struct engine {
	struct engine_config cfg;
	int n;
	enum engine_wake wake;
	atomic_int stop;
	struct shard **shards;
	sigset_t sigmask;

	/* Global queue: spill target and idle feed, see file comment. */
	pthread_mutex_t gq_lock;
	struct tqueue gq;
	atomic_uint_fast64_t gq_len; /* readable without the lock */

	/* Start-up handshake: each shard reports its ring creation. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	int started;
};

static __thread struct shard *self;

/* Owner-only counters read by other threads: a relaxed load and store pair
** instead of an atomic add, since there is a single writer. */
static inline void stat_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* {==== Task queues ====} */

static void tq_push(struct tqueue *q, struct task *t)
{
	t->_next = NULL;
	if (q->tail)
		q->tail->_next = t;
	else
		q->head = t;
	q->tail = t;
	q->len++;
}

static struct task *tq_pop(struct tqueue *q)
{
	struct task *t = q->head;
	if (t) {
		q->head = t->_next;
		if (q->head == NULL)
			q->tail = NULL;
		q->len--;
		t->_next = NULL;
	}
	return t;
}

/* {==== Wake-ups ====} */

static void wake_eventfd(struct shard *to)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
	ssize_t rc = write(to->efd, &one, sizeof(one));
	(void)rc;
}

static void wake(struct shard *to)
{
	struct shard *me = self;
	if (me && me->e->wake == ENGINE_WAKE_MSG_RING && me->ring) {
		if (ring_msg(me->ring, ud_make_int(UD_NONE, 0), to->ring_fd,
			     ud_make_int(UD_WAKE, 1), 0) == 0 &&
		    ring_submit(me->ring) >= 0) {
			stat_add(&me->st.wakeups_sent, 1);
			return;
		}
	}
	wake_eventfd(to);
	if (me)
		stat_add(&me->st.wakeups_sent, 1);
}

/* After publishing work for `to`, wake it if it sleeps. */
static void wake_if_sleeping(struct shard *to)
{
	/* Pairs with the fence in shard_loop() before it checks the inbox:
	** our push is ordered before this load of `sleeping`. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&to->sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&to->sleeping, 0, memory_order_acq_rel))
		wake(to);
}

static void arm_eventfd(struct shard *s)
{
	if (ring_read(s->ring, ud_make_int(UD_WAKE, 0), s->efd, &s->efd_buf,
		      sizeof(s->efd_buf), 0) < 0)
		fprintf(stderr, "wippy: shard %d: cannot arm wake-up read\n", s->id);
}

static void arm_signalfd(struct shard *s)
{
	if (ring_read(s->ring, ud_make_int(UD_SIGNAL, 0), s->sfd, &s->siginfo,
		      sizeof(s->siginfo), 0) < 0)
		fprintf(stderr, "wippy: shard %d: cannot arm signal read\n", s->id);
}

/* {==== Posting ====} */

/* Push what this shard holds back for `to`, oldest first, until the inbox is
** full again. Keeps per-sender order: new posts queue behind these. */
static void flush_pending(struct shard *s, int to_id)
{
	struct tqueue *q = &s->pending[to_id];
	struct shard *to = s->e->shards[to_id];
	int pushed = 0;

	while (q->head) {
		if (mpsc_push(to->inbox, q->head) < 0)
			break;
		tq_pop(q);
		s->npending--;
		pushed = 1;
	}
	/* Wake even if nothing fit: a full inbox means the target has work. */
	if (pushed || q->head)
		wake_if_sleeping(to);
}

void shard_post(struct shard *to, struct task *t)
{
	struct shard *me = self;

	if (me == to) {
		tq_push(&me->runq, t);
		return;
	}
	if (me && me->e == to->e) {
		struct tqueue *q = &me->pending[to->id];
		stat_add(&me->st.posts, 1);
		if (q->head == NULL && mpsc_push(to->inbox, t) == 0) {
			wake_if_sleeping(to);
			return;
		}
		tq_push(q, t);
		me->npending++;
		flush_pending(me, to->id);
		return;
	}
	/* Off-shard threads have nowhere to hold items: wait for room. */
	while (mpsc_push(to->inbox, t) < 0) {
		wake_if_sleeping(to);
		sched_yield();
	}
	wake_if_sleeping(to);
}

void shard_schedule(struct task *t)
{
	tq_push(&self->runq, t);
}

void shard_yield(struct task *t)
{
	tq_push(&self->yieldq, t);
}

/* {==== Timers ====} */

void shard_timer_add(struct wheel_timer *t, uint64_t expire_ms)
{
	wheel_add(&self->wheel, t, expire_ms);
}

void shard_timer_cancel(struct wheel_timer *t)
{
	wheel_cancel(&self->wheel, t);
}

/* Keep one kernel timeout armed no later than the wheel's next deadline.
** A later deadline (the earliest timer was cancelled) leaves the armed one
** alone: it fires early once, the wheel fires nothing, and we re-arm. */
static void arm_timer(struct shard *s)
{
	uint64_t next = wheel_next(&s->wheel);
	if (next == WHEEL_NEVER || next >= s->armed_ms)
		return;
	if (s->armed_ms == WHEEL_NEVER) {
		if (ring_timeout(s->ring, ud_make_int(UD_TIMER, 0), next * 1000000u) == 0)
			s->armed_ms = next;
	} else {
		/* If the armed timeout already fired, the update fails with
		** -ENOENT (ignored) and reaping its -ETIME re-arms next turn. */
		if (ring_timeout_update(s->ring, ud_make_int(UD_NONE, 0),
					ud_make_int(UD_TIMER, 0), next * 1000000u) == 0)
			s->armed_ms = next;
	}
}

/* {==== Global queue ====} */

/* Move some of the surplus of an overloaded run queue to the global queue,
** keeping pinned tasks here, and wake a sleeping shard to take it.
** Bounded work per turn: keep the first 2 * budget tasks (they run next
** here anyway), examine at most `budget` after them, and leave the rest of
** the list as it is (reached through the tail pointer, never walked). A
** queue of thousands of pinned tasks costs 3 * budget steps, not a walk of
** the whole queue every turn. */
static void spill(struct shard *s)
{
	struct engine *e = s->e;
	uint64_t budget = e->cfg.budget;
	struct tqueue out = {0};
	struct task **link, *t;
	uint64_t examined = 0;

	if (e->n < 2 || s->runq.len <= 4 * budget)
		return;
	link = &s->runq.head;
	for (uint64_t i = 0; i < 2 * budget; i++)
		link = &(*link)->_next;
	/* *link is the first task examined; unlink unpinned ones in place. */
	while (*link && examined < budget) {
		t = *link;
		examined++;
		if (t->flags & TASK_PINNED) {
			link = &t->_next;
			continue;
		}
		*link = t->_next;
		if (s->runq.tail == t)
			s->runq.tail = container_of(link, struct task, _next);
		s->runq.len--;
		tq_push(&out, t);
	}
	if (out.len == 0)
		return;
	pthread_mutex_lock(&e->gq_lock);
	if (e->gq.tail)
		e->gq.tail->_next = out.head;
	else
		e->gq.head = out.head;
	e->gq.tail = out.tail;
	e->gq.len += out.len;
	atomic_store_explicit(&e->gq_len, e->gq.len, memory_order_release);
	pthread_mutex_unlock(&e->gq_lock);
	stat_add(&s->st.spilled, out.len);
	for (int i = 0; i < e->n; i++)
		if (e->shards[i] != s && atomic_load(&e->shards[i]->sleeping)) {
			wake_if_sleeping(e->shards[i]);
			break;
		}
}

/* Take a fair share of the global queue into an empty run queue. */
static void take(struct shard *s)
{
	struct engine *e = s->e;
	uint64_t n;

	if (atomic_load_explicit(&e->gq_len, memory_order_acquire) == 0)
		return;
	pthread_mutex_lock(&e->gq_lock);
	n = e->gq.len / (uint64_t)e->n + 1;
	if (n > e->cfg.budget)
		n = e->cfg.budget;
	while (n-- > 0 && e->gq.head) {
		struct task *t = tq_pop(&e->gq);
		tq_push(&s->runq, t);
		stat_add(&s->st.taken, 1);
	}
	atomic_store_explicit(&e->gq_len, e->gq.len, memory_order_release);
	pthread_mutex_unlock(&e->gq_lock);
}

/* {==== The loop ====} */

static void dispatch(struct shard *s, const struct ring_cqe *c)
{
	switch (ud_op(c->ud)) {
	case UD_NONE:
		break;
	case UD_WAKE:
		/* Only the eventfd read needs re-arming; a MSG_RING wake-up is a
		** bare CQE. The inbox is drained right after the reap anyway. */
		if (ud_int(c->ud) == 0)
			arm_eventfd(s);
		break;
	case UD_TIMER:
		/* -ETIME: fired; -ECANCELED: removed at teardown. */
		s->armed_ms = WHEEL_NEVER;
		break;
	case UD_SIGNAL:
		if (c->res == (int)sizeof(s->siginfo)) {
			int signo = (int)s->siginfo.ssi_signo;
			if (s->e->cfg.on_signal)
				s->e->cfg.on_signal(s->e, signo, s->e->cfg.arg);
			else
				engine_stop(s->e);
		}
		if (c->res > 0 || c->res == -EINTR || c->res == -EAGAIN)
			arm_signalfd(s);
		break;
	case UD_IO: {
		struct engine_io *io = ud_ptr(c->ud);
		io->done(io, c->res, c->flags);
		break;
	}
	default:
		common_assert_fail("completion with unknown user_data op",
				   __FILE__, __LINE__);
	}
}

static void drain_inbox(struct shard *s)
{
	void *items[DRAIN_BATCH];
	size_t n;
	do {
		n = mpsc_pop_batch(s->inbox, items, DRAIN_BATCH);
		for (size_t i = 0; i < n; i++)
			tq_push(&s->runq, items[i]);
	} while (n == DRAIN_BATCH);
}

/* One turn's share of the run queues, bounded in tasks (cfg.budget) and in
** time (cfg.turn_ns), so that completions and timers are looked at again
** soon whatever the tasks do.
**
** Tasks that spent a whole time slice (shard_yield) run after the others:
** a request woken by I/O waits for at most the slice that is running when
** it arrives, not for every busy process ahead of it. At least one of them
** runs per turn, so a stream of fresh work cannot starve them; more run
** while the turn has time left, each going to the back when it yields
** again. Tasks queued while running run in the same turn while its
** budget and time last. */
static void run_tasks(struct shard *s)
{
	uint64_t budget = s->e->cfg.budget, ran = 0, n;
	/* Tasks queued by the turn's own tasks run in it too, up to the
	** budget: a chain of messages on one shard (a ring, a ping-pong, a
	** reply) hands over one task at a time, and a turn per hand-over cost
	** a reap, a clock read, the inbox, the wheel and the stats each
	** time. The budget and turn_ns still bound the turn: I/O is reaped
	** again after at most `budget` tasks. The turn's deadline is read
	** only when a check needs it: from the start when the turn begins
	** with more than 8 tasks or a yielder waits, else from the eighth
	** task on (so a turn of a few tasks reads no clock at all). */
	uint64_t end = 0;
	if (s->runq.len > 8 || s->yieldq.len > 1)
		end = common_now_ns() + s->e->cfg.turn_ns;

	while (ran < budget && s->runq.head) {
		struct task *t = tq_pop(&s->runq);
		t->run(t);
		/* A clock read costs ~20 ns against ~1 us or more per task;
		** every eighth keeps it out of the profile. */
		if ((++ran & 7) == 0) {
			uint64_t now = common_now_ns();
			if (end == 0)
				end = now + s->e->cfg.turn_ns;
			else if (now >= end)
				break;
		}
	}
	n = s->yieldq.len;
	for (uint64_t i = 0; i < n; i++) {
		if (i > 0 && common_now_ns() >= end)
			break;
		struct task *t = tq_pop(&s->yieldq);
		t->run(t);
		ran++;
	}
	stat_add(&s->st.tasks_run, ran);
}

/* Poll for work from other shards for up to ns; true if some came.
** Spinning pays only where work comes from other shards (a chain of
** messages); where it comes from timers and sockets a spin is CPU for
** nothing. So a spin that finds nothing makes the next ones be skipped,
** 1, 2, 4 ... up to SPIN_SKIP_MAX sleeps, and one that finds work halves
** the skip. A failed spin costs the whole ns, a found one saves a wake-up
** of a few microseconds, so spinning must keep paying more often than
** not: with a reset on every find, work from another shard now and then
** (ticks of a shard's workers sent to a spawner on the other) kept both
** shards polling before most sleeps, 11 % of the CPU (10,000 ticking
** workers on two shards; a chain that keeps finding work never skips). */
#define SPIN_SKIP_MAX 64

static bool spin_worth(struct shard *s)
{
	if (s->spin_skip == 0)
		return true;
	s->spin_skip--;
	return false;
}

static bool spin(struct shard *s, uint64_t ns)
{
	struct engine *e = s->e;
	uint64_t end = common_now_ns() + ns;

	s->spun_at = atomic_load_explicit(&s->st.tasks_run, memory_order_relaxed);
	do {
		for (int i = 0; i < 64; i++) {
			if (!mpsc_empty(s->inbox) ||
			    atomic_load_explicit(&e->gq_len, memory_order_relaxed) ||
			    atomic_load_explicit(&e->stop, memory_order_relaxed)) {
				s->spin_backoff /= 2;
				return true;
			}
			common_pause();
		}
	} while (common_now_ns() < end);
	s->spin_backoff = s->spin_backoff ? s->spin_backoff * 2 : 1;
	if (s->spin_backoff > SPIN_SKIP_MAX)
		s->spin_backoff = SPIN_SKIP_MAX;
	s->spin_skip = s->spin_backoff;
	return false;
}

/* rc of a ring submit: SQEs taken by the kernel, or a negative errno. */
static inline void submitted(struct shard *s, int rc)
{
	if (rc > 0)
		stat_add(&s->st.submitted, (uint64_t)rc);
}

static void shard_loop(struct shard *s)
{
	struct engine *e = s->e;
	struct ring_cqe cqes[REAP_BATCH];

	while (!atomic_load_explicit(&e->stop, memory_order_acquire)) {
		unsigned n;
		s->now_ms = common_now_ms();
		do {
			n = ring_reap(s->ring, cqes, REAP_BATCH);
			stat_add(&s->st.completed, n);
			for (unsigned i = 0; i < n; i++)
				dispatch(s, &cqes[i]);
		} while (n == REAP_BATCH);
		drain_inbox(s);
		wheel_run(&s->wheel, s->now_ms);
		run_tasks(s);
		if (s->npending)
			for (int i = 0; i < e->n; i++)
				if (s->pending[i].head)
					flush_pending(s, i);
		if (s->runq.len)
			spill(s);
		else
			take(s);
		if (e->cfg.before_sleep)
			e->cfg.before_sleep(s, e->cfg.arg);
		arm_timer(s);
		stat_add(&s->st.turns, 1);
		atomic_store_explicit(&s->st.runq, s->runq.len + s->yieldq.len,
				      memory_order_relaxed);
		atomic_store_explicit(&s->st.timers, s->wheel.count, memory_order_relaxed);

		if (s->runq.len || s->yieldq.len || s->npending) {
			/* Still busy: completions are posted only when we ask
			** (DEFER_TASKRUN), so ask once per millisecond; more often
			** would be a syscall per turn for nothing. */
			if (s->now_ms != s->events_ms) {
				s->events_ms = s->now_ms;
				submitted(s, ring_submit_events(s->ring));
			} else {
				submitted(s, ring_submit(s->ring));
			}
			continue;
		}
		/* A shard that just ran work is likely to get more from another
		** shard within microseconds (a reply, the next hop of a ring):
		** waiting for it in the kernel costs the sender a wake-up and us
		** its latency, both several microseconds. So poll the inbox a
		** little first, once per stretch of work: an idle shard spins
		** once and then sleeps. I/O completions are not seen while
		** polling, which bounds what spin_ns may cost them. */
		if (e->cfg.spin_ns && s->spun_at !=
		    atomic_load_explicit(&s->st.tasks_run, memory_order_relaxed) &&
		    spin_worth(s) && spin(s, e->cfg.spin_ns))
			continue;
		atomic_store_explicit(&s->sleeping, 1, memory_order_seq_cst);
		/* Pairs with the fence in wake_if_sleeping(): either we see the
		** producer's item here, or it sees sleeping == 1 and wakes us. */
		atomic_thread_fence(memory_order_seq_cst);
		if (!mpsc_empty(s->inbox) ||
		    atomic_load_explicit(&e->stop, memory_order_acquire) ||
		    atomic_load_explicit(&e->gq_len, memory_order_acquire)) {
			atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
			submitted(s, ring_submit(s->ring));
			continue;
		}
		stat_add(&s->st.sleeps, 1);
		submitted(s, ring_wait(s->ring));
		atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
	}
}

static void report_start(struct shard *s, int rc)
{
	struct engine *e = s->e;
	pthread_mutex_lock(&e->start_lock);
	s->start_rc = rc;
	e->started++;
	pthread_cond_broadcast(&e->start_cond);
	pthread_mutex_unlock(&e->start_lock);
}

static void *shard_main(void *arg)
{
	struct shard *s = arg;
	struct engine *e = s->e;
	int rc;

	self = s;
	if (e->cfg.pin) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)(s->id % (ncpu > 0 ? ncpu : 1)), &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	rc = ring_create(&s->ring, RING_ENTRIES);
	if (rc == 0) {
		s->ring_fd = ring_fd(s->ring);
		arm_eventfd(s);
		if (s->sfd >= 0)
			arm_signalfd(s);
		rc = ring_submit(s->ring);
		rc = rc < 0 ? rc : 0;
	}
	report_start(s, rc);
	if (rc < 0)
		return NULL;
	/* Wait until every shard has a ring: MSG_RING targets need ring_fd. */
	pthread_mutex_lock(&e->start_lock);
	while (e->started < e->n)
		pthread_cond_wait(&e->start_cond, &e->start_lock);
	pthread_mutex_unlock(&e->start_lock);

	if (!atomic_load(&e->stop)) {
		if (e->cfg.on_start)
			e->cfg.on_start(s, e->cfg.arg);
		shard_loop(s);
		if (e->cfg.on_exit)
			e->cfg.on_exit(s, e->cfg.arg);
	}
	self = NULL;
	return NULL;
}

/* {==== Engine ====} */

struct engine *engine_create(const struct engine_config *cfg)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	e->cfg = *cfg;
	e->n = cfg->nshards > 0 ? cfg->nshards : (ncpu > 0 ? (int)ncpu : 1);
	if (e->cfg.budget == 0)
		e->cfg.budget = 256;
	if (e->cfg.turn_ns == 0)
		e->cfg.turn_ns = 1000000;
	e->wake = cfg->wake == ENGINE_WAKE_AUTO ? ENGINE_WAKE_EVENTFD : cfg->wake;
	pthread_mutex_init(&e->gq_lock, NULL);
	pthread_mutex_init(&e->start_lock, NULL);
	pthread_cond_init(&e->start_cond, NULL);
	e->shards = xcalloc((size_t)e->n, sizeof(*e->shards));

	sigemptyset(&e->sigmask);
	if (cfg->signals) {
		sigaddset(&e->sigmask, SIGINT);
		sigaddset(&e->sigmask, SIGTERM);
		/* Threads created later inherit the mask, so the signals are
		** only ever delivered through the signalfd. */
		pthread_sigmask(SIG_BLOCK, &e->sigmask, NULL);
	}
	for (int i = 0; i < e->n; i++) {
		struct shard *s = aligned_alloc(CACHELINE,
			(sizeof(struct shard) + CACHELINE - 1) & ~(size_t)(CACHELINE - 1));
		if (s == NULL)
			xmalloc(SIZE_MAX); /* aborts with file:line */
		memset(s, 0, sizeof(*s));
		s->e = e;
		s->id = i;
		s->inbox = mpsc_create(INBOX_CAP);
		s->pending = xcalloc((size_t)e->n, sizeof(*s->pending));
		s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->efd < 0) {
			perror("wippy: eventfd");
			abort();
		}
		s->sfd = -1;
		if (i == 0 && cfg->signals)
			s->sfd = signalfd(-1, &e->sigmask, SFD_CLOEXEC | SFD_NONBLOCK);
		s->armed_ms = WHEEL_NEVER;
		wheel_init(&s->wheel, common_now_ms());
		e->shards[i] = s;
	}
	return e;
}

int engine_start(struct engine *e)
{
	int rc = 0;
	for (int i = 0; i < e->n; i++) {
		int err = pthread_create(&e->shards[i]->thread, NULL, shard_main,
					 e->shards[i]);
		if (err) {
			fprintf(stderr, "wippy: cannot start shard %d: %s\n", i, strerror(err));
			abort();
		}
	}
	pthread_mutex_lock(&e->start_lock);
	while (e->started < e->n)
		pthread_cond_wait(&e->start_cond, &e->start_lock);
	for (int i = 0; i < e->n; i++)
		if (e->shards[i]->start_rc < 0 && rc == 0)
			rc = e->shards[i]->start_rc;
	if (rc < 0)
		atomic_store(&e->stop, 1);
	pthread_mutex_unlock(&e->start_lock);
	if (rc < 0)
		engine_wait(e);
	return rc;
}

void engine_stop(struct engine *e)
{
	atomic_store_explicit(&e->stop, 1, memory_order_release);
	for (int i = 0; i < e->n; i++)
		wake_eventfd(e->shards[i]);
}

void engine_wait(struct engine *e)
{
	for (int i = 0; i < e->n; i++) {
		if (e->shards[i]->thread) {
			pthread_join(e->shards[i]->thread, NULL);
			e->shards[i]->thread = 0;
		}
	}
}

void engine_destroy(struct engine *e)
{
	for (int i = 0; i < e->n; i++) {
		struct shard *s = e->shards[i];
		ring_destroy(s->ring);
		mpsc_destroy(s->inbox);
		close(s->efd);
		if (s->sfd >= 0)
			close(s->sfd);
		free(s->pending);
		free(s);
	}
	if (e->cfg.signals)
		pthread_sigmask(SIG_UNBLOCK, &e->sigmask, NULL);
	pthread_mutex_destroy(&e->gq_lock);
	pthread_mutex_destroy(&e->start_lock);
	pthread_cond_destroy(&e->start_cond);
	free(e->shards);
	free(e);
}

int engine_nshards(const struct engine *e) { return e->n; }
struct shard *engine_shard(struct engine *e, int i) { return e->shards[i]; }

struct shard *shard_self(void) { return self; }
int shard_id(const struct shard *s) { return s->id; }
struct engine *shard_engine(const struct shard *s) { return s->e; }
struct ring *shard_ring(struct shard *s) { return s->ring; }
uint64_t shard_now_ms(const struct shard *s) { return s->now_ms; }

uint64_t shard_runq_len(const struct shard *s)
{
	return s->runq.len + s->yieldq.len;
}

int shard_is_sleeping(const struct shard *s)
{
	return atomic_load_explicit(&s->sleeping, memory_order_relaxed);
}

void shard_get_stats(const struct shard *s, struct shard_stats *o)
{
	o->turns = atomic_load_explicit(&s->st.turns, memory_order_relaxed);
	o->tasks_run = atomic_load_explicit(&s->st.tasks_run, memory_order_relaxed);
	o->wakeups_sent = atomic_load_explicit(&s->st.wakeups_sent, memory_order_relaxed);
	o->sleeps = atomic_load_explicit(&s->st.sleeps, memory_order_relaxed);
	o->spilled = atomic_load_explicit(&s->st.spilled, memory_order_relaxed);
	o->taken = atomic_load_explicit(&s->st.taken, memory_order_relaxed);
	o->posts = atomic_load_explicit(&s->st.posts, memory_order_relaxed);
	o->submitted = atomic_load_explicit(&s->st.submitted, memory_order_relaxed);
	o->completed = atomic_load_explicit(&s->st.completed, memory_order_relaxed);
	o->runq = atomic_load_explicit(&s->st.runq, memory_order_relaxed);
	o->timers = atomic_load_explicit(&s->st.timers, memory_order_relaxed);
}
