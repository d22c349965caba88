/*
** bench/wake.c: cross-shard wake-up latency and post throughput of the real
** engine (engine/shard.c), eventfd against IORING_OP_MSG_RING, in one run.
**
** Latency: an engine with 2 pinned shards. A ping task on shard 0 waits
** until shard 1 is asleep in the kernel (its `sleeping` flag is up and its
** sleep counter has moved past the value it had when it last ran), stamps
** t_post and posts a pong task to shard 1. The pong records
** common_now_ns() - t_post and posts the ping back. So every sample is a
** full wake-up of a sleeping shard: the sender's wake call (a write(2) to
** the eventfd, or a MSG_RING SQE plus io_uring_enter), the kernel waking
** the target's thread out of io_uring_enter, and the target's turn up to
** running the task. The two methods run in alternating rounds of ROUND
** samples (a fresh engine per round) so a noisy neighbour on this shared
** machine hits both alike; the first WARMUP samples of each round are
** dropped. Output, in microseconds:
**   wake eventfd p50 X us p99 Y us p999 Z us
**   wake msg_ring p50 X us p99 Y us p999 Z us
**
** Throughput: a producer task on shard 0 posts TPUT_N pinned tasks to
** shard 1, BATCH per run, rescheduling itself between batches so shard 0
** keeps turning (and flushing what met a full inbox). The time runs from
** the first post to the last task run on shard 1. Two cases:
**   window W   at most W tasks in flight (posted, not yet run): with W equal
**              to the batch, shard 1 runs dry and sleeps after each batch,
**              so every batch pays a wake-up and the method matters;
**   unpaced    post as fast as shard 0 can; shard 1 never sleeps, so this
**              measures the inbox and run-queue path under a long backlog.
** The number of wake-ups shard 0 sent is printed beside the rate:
**   wake eventfd throughput batch B window W N tasks/s (K wake-ups ...)
**
** The last line compares the medians (ratio msg_ring / eventfd: below 1
** means MSG_RING is faster). No assertions: the engine's correctness is
** tested in test/unit/engine/.
*/
#include "engine/shard.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

#define ROUNDS   4        /* per method, alternating */
#define ROUND    5000     /* samples per round: 20,000 per method */
#define WARMUP   50       /* dropped at the start of each round */
#define SPIN_NS  1000000000ull /* give up waiting for sleep after 1 s */
#define TPUT_N   1000000u
#define TPUT_REPS 3

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static const char *method_name(enum engine_wake w)
{
	return w == ENGINE_WAKE_MSG_RING ? "msg_ring" : "eventfd";
}

static struct engine *start_engine(enum engine_wake wake)
{
	struct engine_config cfg;
	struct engine *e;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nshards = 2;
	cfg.pin = 1;
	cfg.wake = wake;
	e = engine_create(&cfg);
	rc = engine_start(e);
	if (rc < 0) {
		fprintf(stderr, "bench/wake: engine_start: %s\n", strerror(-rc));
		exit(1);
	}
	return e;
}

/* {==== Latency: ping-pong with the target asleep ==================== */

struct pingpong {
	struct task ping, pong;     /* ping runs on shard 0, pong on shard 1 */
	struct engine *e;
	struct shard *s1;
	uint64_t t_post;            /* written by ping, read by pong: the post
	                            ** through the inbox orders it */
	uint64_t s1_sleeps;         /* shard 1's sleep count when pong ran */
	unsigned i, n;
	uint64_t *samples;          /* [n], written on shard 1 */
	unsigned sent;              /* ping's own count (shard 0) */
	uint64_t *post_ns;          /* [n] time spent in shard_post, shard 0 */
	unsigned not_asleep;        /* posts made after giving up waiting */
};

static struct pingpong pp;

static void ping_run(struct task *t)
{
	struct shard_stats st;
	uint64_t t0;

	(void)t;
	if (pp.i == pp.n) {
		engine_stop(pp.e);
		return;
	}
	/* Wait for shard 1 to go to sleep again after its last pong. The
	** counter moves right before it enters the kernel; the flag stays up
	** while it sleeps. Either alone could be stale by one turn. */
	t0 = common_now_ns();
	for (;;) {
		shard_get_stats(pp.s1, &st);
		if (st.sleeps > pp.s1_sleeps && shard_is_sleeping(pp.s1))
			break;
		if (common_now_ns() - t0 > SPIN_NS) {
			pp.not_asleep++;
			break;
		}
		cpu_relax();
	}
	pp.t_post = t0 = common_now_ns();
	shard_post(pp.s1, &pp.pong);
	/* The sender's share: push, fence, and the wake call itself. The
	** pong may already be running; it touches none of ping's fields. */
	pp.post_ns[pp.sent++] = common_now_ns() - t0;
}

static void pong_run(struct task *t)
{
	struct shard_stats st;
	uint64_t now = common_now_ns();

	(void)t;
	pp.samples[pp.i++] = now - pp.t_post;
	shard_get_stats(shard_self(), &st);
	pp.s1_sleeps = st.sleeps;
	shard_post(engine_shard(pp.e, 0), &pp.ping);
}

/* One round of n ping-pongs; appends the samples after warm-up to out. */
static size_t latency_round(enum engine_wake wake, uint64_t *out,
			    uint64_t *post_out, unsigned n, unsigned *not_asleep)
{
	struct engine *e = start_engine(wake);
	size_t kept;

	memset(&pp, 0, sizeof(pp));
	pp.e = e;
	pp.s1 = engine_shard(e, 1);
	pp.n = n;
	pp.samples = xmalloc(n * sizeof(uint64_t));
	pp.post_ns = xmalloc(n * sizeof(uint64_t));
	pp.ping.run = ping_run;
	pp.ping.flags = TASK_PINNED;
	pp.pong.run = pong_run;
	pp.pong.flags = TASK_PINNED;
	shard_post(engine_shard(e, 0), &pp.ping);
	engine_wait(e);
	engine_destroy(e);
	kept = pp.i > WARMUP ? pp.i - WARMUP : 0;
	memcpy(out, pp.samples + (pp.i - kept), kept * sizeof(uint64_t));
	memcpy(post_out, pp.post_ns + (pp.i - kept), kept * sizeof(uint64_t));
	*not_asleep += pp.not_asleep;
	free(pp.samples);
	free(pp.post_ns);
	return kept;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, p in [0, 1]. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n);

	if (k >= n)
		k = n - 1;
	return (double)v[k] / 1000.0;
}

/* }==== */

/* {==== Throughput: batched posts ==================================== */

struct tput {
	struct task producer;       /* on shard 0 */
	struct task *tasks;         /* [TPUT_N], each posted once to shard 1 */
	struct engine *e;
	unsigned batch, window;     /* window 0: unpaced */
	unsigned next;              /* producer side */
	atomic_uint done;           /* written by shard 1, read by shard 0 */
	uint64_t t0, t1;
};

static struct tput tp;

static void consume_run(struct task *t)
{
	/* Single writer: a relaxed load and store, released for the
	** producer's window check. */
	unsigned d = atomic_load_explicit(&tp.done, memory_order_relaxed) + 1;

	(void)t;
	atomic_store_explicit(&tp.done, d, memory_order_release);
	if (d == TPUT_N) {
		tp.t1 = common_now_ns();
		engine_stop(tp.e);
	}
}

static void produce_run(struct task *t)
{
	struct shard *s1 = engine_shard(tp.e, 1);
	unsigned end = tp.next + tp.batch;

	if (tp.next == 0)
		tp.t0 = common_now_ns();
	if (end > TPUT_N)
		end = TPUT_N;
	if (tp.window && end - atomic_load_explicit(&tp.done,
			memory_order_acquire) > tp.window) {
		shard_schedule(t); /* window full: try again next turn */
		return;
	}
	for (; tp.next < end; tp.next++)
		shard_post(s1, &tp.tasks[tp.next]);
	if (tp.next < TPUT_N)
		shard_schedule(t); /* next batch on the next turn */
}

/* Returns tasks/s; *wakeups gets the wake-ups shard 0 sent and *sleeps the
** times shard 1 went to sleep in the kernel. */
static double tput_run(enum engine_wake wake, unsigned batch, unsigned window,
		       uint64_t *wakeups, uint64_t *sleeps)
{
	struct engine *e = start_engine(wake);
	struct shard_stats st;

	memset(&tp, 0, sizeof(tp));
	tp.e = e;
	tp.batch = batch;
	tp.window = window;
	tp.tasks = xcalloc(TPUT_N, sizeof(struct task));
	for (unsigned i = 0; i < TPUT_N; i++) {
		tp.tasks[i].run = consume_run;
		tp.tasks[i].flags = TASK_PINNED; /* never stolen back to shard 0 */
	}
	tp.producer.run = produce_run;
	tp.producer.flags = TASK_PINNED;
	shard_post(engine_shard(e, 0), &tp.producer);
	engine_wait(e);
	shard_get_stats(engine_shard(e, 0), &st);
	*wakeups = st.wakeups_sent;
	shard_get_stats(engine_shard(e, 1), &st);
	*sleeps = st.sleeps;
	engine_destroy(e);
	free(tp.tasks);
	return (double)TPUT_N * 1e9 / (double)(tp.t1 - tp.t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* }==== */

int main(void)
{
	static const enum engine_wake methods[2] = {
		ENGINE_WAKE_EVENTFD, ENGINE_WAKE_MSG_RING };
	static const struct { unsigned batch, window, reps; } cases[] = {
		{ 16, 16, TPUT_REPS },  /* a wake-up per batch */
		{ 256, 0, 1 },          /* unpaced backlog */
	};
	uint64_t *lat[2], *post[2];
	size_t nlat[2] = { 0, 0 };
	unsigned not_asleep[2] = { 0, 0 };
	double p50[2], tput_med[countof(cases)][2];

	printf("# 2 shards pinned to cpus 0 and 1; latency: %d rounds x %d "
	       "ping-pongs per method (alternating), first %d of each dropped\n",
	       ROUNDS, ROUND, WARMUP);
	for (int m = 0; m < 2; m++) {
		lat[m] = xmalloc((size_t)ROUNDS * ROUND * sizeof(uint64_t));
		post[m] = xmalloc((size_t)ROUNDS * ROUND * sizeof(uint64_t));
	}
	for (int r = 0; r < ROUNDS; r++)
		for (int m = 0; m < 2; m++)
			nlat[m] += latency_round(methods[m], lat[m] + nlat[m],
						 post[m] + nlat[m], ROUND,
						 &not_asleep[m]);
	for (int m = 0; m < 2; m++) {
		qsort(lat[m], nlat[m], sizeof(uint64_t), cmp_u64);
		p50[m] = pct_us(lat[m], nlat[m], 0.50);
		printf("wake %s p50 %.1f us p99 %.1f us p999 %.1f us  "
		       "(n %zu, min %.1f us, max %.1f us)\n",
		       method_name(methods[m]), p50[m],
		       pct_us(lat[m], nlat[m], 0.99),
		       pct_us(lat[m], nlat[m], 0.999), nlat[m],
		       pct_us(lat[m], nlat[m], 0.0),
		       pct_us(lat[m], nlat[m], 1.0));
		qsort(post[m], nlat[m], sizeof(uint64_t), cmp_u64);
		printf("wake %s sender shard_post p50 %.1f us p99 %.1f us\n",
		       method_name(methods[m]), pct_us(post[m], nlat[m], 0.50),
		       pct_us(post[m], nlat[m], 0.99));
		if (not_asleep[m])
			printf("# %s: %u posts went out before shard 1 was seen "
			       "asleep\n", method_name(methods[m]), not_asleep[m]);
		free(lat[m]);
		free(post[m]);
	}
	fflush(stdout);

	for (size_t c = 0; c < countof(cases); c++) {
		double v[2][TPUT_REPS];
		uint64_t w[2][TPUT_REPS], sl[2][TPUT_REPS];
		unsigned reps = cases[c].reps;
		char win[32];

		if (cases[c].window)
			snprintf(win, sizeof(win), "window %u", cases[c].window);
		else
			snprintf(win, sizeof(win), "unpaced");
		for (unsigned r = 0; r < reps; r++)
			for (int m = 0; m < 2; m++)
				v[m][r] = tput_run(methods[m], cases[c].batch,
						   cases[c].window, &w[m][r],
						   &sl[m][r]);
		for (int m = 0; m < 2; m++) {
			uint64_t wsum = 0, ssum = 0;
			for (unsigned r = 0; r < reps; r++) {
				wsum += w[m][r];
				ssum += sl[m][r];
			}
			qsort(v[m], reps, sizeof(double), cmp_double);
			tput_med[c][m] = v[m][reps / 2];
			printf("wake %s throughput batch %u %s %.0f tasks/s "
			       "(%llu wake-ups, %llu sleeps of shard 1 per %u "
			       "tasks, median of %u)\n",
			       method_name(methods[m]), cases[c].batch, win,
			       tput_med[c][m], (unsigned long long)(wsum / reps),
			       (unsigned long long)(ssum / reps), TPUT_N, reps);
		}
		fflush(stdout);
	}

	printf("wake ratio msg_ring/eventfd: latency p50 %.2f", p50[1] / p50[0]);
	for (size_t c = 0; c < countof(cases); c++)
		printf(", throughput batch %u %s %.2f", cases[c].batch,
		       cases[c].window ? "windowed" : "unpaced",
		       tput_med[c][1] / tput_med[c][0]);
	printf("  (latency < 1 or throughput > 1: msg_ring faster)\n");
	return 0;
}
