/*
** bench/mpsc.c: throughput of the MPSC ring (engine/mpsc.c) against a
** pthread_mutex-protected array queue doing the same transfer in the same
** run.
**
** Cases: 1 and 2 producers into one consumer, pushing one item per call
** (mpsc_push) or 32 per call (mpsc_push_batch). The consumer pops up to
** POP_MAX per call in every case. The mutex queue mirrors each case: one
** item per lock for single pushes, up to 32 per lock for batches, up to
** POP_MAX per lock for pops. Both queues have the same capacity and both
** sides back off the same way (producer: sched_yield when full; consumer:
** spin with a pause, then yield, when empty).
**
** Threads are pinned where the machine allows: the consumer on the last
** allowed CPU, producers round-robin over the others (so on 2 CPUs every
** producer shares CPU 0 and the consumer has CPU 1 to itself).
**
** Each run moves at most MSGS items and stops early at RUN_MS, so the
** whole program stays within a few seconds; the rate is items consumed over
** the consumer's wall time. The machine is shared and small, so each case
** runs REPS times, mutex and ring runs interleaved, and the medians are
** compared. Output, one line per case:
**   mpsc <case> <N> msgs/s  (ratio vs mutex queue X.XX)
** No assertions: this measures, tests live in test/unit/engine/mpsc.c.
*/
#include "engine/mpsc.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

#define CAP      1024
#define BATCH    32
#define POP_MAX  256
#define MSGS     20000000u
#define RUN_MS   250
#define REPS     3

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* {==== the baseline: a mutex around a circular array ================= */

struct mutexq {
	pthread_mutex_t mu;
	size_t head, count, mask;
	void **buf;
};

static struct mutexq *mutexq_create(size_t cap)
{
	struct mutexq *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->mu, NULL);
	q->mask = cap - 1; /* cap is a power of two */
	q->buf = xmalloc(cap * sizeof(void *));
	return q;
}

static void mutexq_destroy(struct mutexq *q)
{
	pthread_mutex_destroy(&q->mu);
	free(q->buf);
	free(q);
}

/* Push up to n items under one lock; returns how many fitted. */
static size_t mutexq_push_batch(struct mutexq *q, void *const *items, size_t n)
{
	size_t i, room;

	pthread_mutex_lock(&q->mu);
	room = q->mask + 1 - q->count;
	if (n > room)
		n = room;
	for (i = 0; i < n; i++)
		q->buf[(q->head + q->count + i) & q->mask] = items[i];
	q->count += n;
	pthread_mutex_unlock(&q->mu);
	return n;
}

static size_t mutexq_pop_batch(struct mutexq *q, void **out, size_t max)
{
	size_t i, n;

	pthread_mutex_lock(&q->mu);
	n = q->count < max ? q->count : max;
	for (i = 0; i < n; i++)
		out[i] = q->buf[(q->head + i) & q->mask];
	q->head = (q->head + n) & q->mask;
	q->count -= n;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* }==== */

/* {==== the harness ================================================== */

enum kind { MPSC, MUTEX };

struct run {
	enum kind kind;
	struct mpsc *mq;
	struct mutexq *lq;
	size_t batch;          /* items per push call: 1 or BATCH */
	unsigned nprod;
	uint64_t per_prod;     /* items each producer offers at most */
	pthread_barrier_t go;  /* all threads start together */
	atomic_int stop;       /* set by the consumer at the deadline */
	atomic_uint finished;  /* producers done pushing */
};

struct worker {
	struct run *r;
	pthread_t th;
	int cpu;               /* -1: not pinned */
	uint64_t pushed;
};

static int ncpus, cpus[CPU_SETSIZE];

static void pin(pthread_t th, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: a container may forbid it; the numbers still mean
	** something, just noisier. */
	(void)pthread_setaffinity_np(th, sizeof(set), &set);
}

static size_t push_some(struct run *r, void *const *items, size_t n)
{
	if (r->kind == MUTEX)
		return mutexq_push_batch(r->lq, items, n);
	if (n == 1)
		return mpsc_push(r->mq, items[0]) == 0;
	return mpsc_push_batch(r->mq, items, n);
}

static void *producer_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	void *buf[BATCH];
	uint64_t seq = 0;
	size_t i, n, k;

	pin(pthread_self(), w->cpu);
	pthread_barrier_wait(&r->go);
	while (seq < r->per_prod &&
	    !atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		n = r->batch;
		if (n > r->per_prod - seq)
			n = (size_t)(r->per_prod - seq);
		for (i = 0; i < n; i++)
			buf[i] = (void *)(uintptr_t)(seq + i + 1);
		for (i = 0; i < n; i += k) {
			k = push_some(r, buf + i, n - i);
			if (k == 0)
				sched_yield(); /* full: let the consumer run */
		}
		seq += n;
	}
	w->pushed = seq;
	atomic_fetch_add(&r->finished, 1);
	return NULL;
}

/* Run one case; returns consumed items per second. */
static double run_case(enum kind kind, unsigned nprod, size_t batch)
{
	struct run r = { .kind = kind, .batch = batch, .nprod = nprod,
		.per_prod = MSGS / nprod };
	struct worker w[2];
	void *out[POP_MAX];
	uint64_t got = 0, sum = 0, t0, t1, pushed = 0, check = 1 << 16;
	unsigned i, idle = 0;
	size_t n, j;

	if (kind == MPSC)
		r.mq = mpsc_create(CAP);
	else
		r.lq = mutexq_create(CAP);
	pthread_barrier_init(&r.go, NULL, nprod + 1);
	pin(pthread_self(), ncpus > 1 ? cpus[ncpus - 1] : -1);
	for (i = 0; i < nprod; i++) {
		w[i] = (struct worker){ .r = &r,
			.cpu = ncpus > 1 ? cpus[i % (ncpus - 1)] : -1 };
		pthread_create(&w[i].th, NULL, producer_main, &w[i]);
	}
	pthread_barrier_wait(&r.go);
	t0 = common_now_ns();
	for (;;) {
		n = kind == MPSC ? mpsc_pop_batch(r.mq, out, POP_MAX)
			: mutexq_pop_batch(r.lq, out, POP_MAX);
		if (n) {
			for (j = 0; j < n; j++)
				sum += (uintptr_t)out[j];
			got += n;
			idle = 0;
			if (unlikely(got >= check)) {
				/* Deadline check while busy: once per 64K items. */
				check += 1 << 16;
				if ((common_now_ns() - t0) / 1000000 > RUN_MS)
					atomic_store(&r.stop, 1);
			}
			continue;
		}
		/* Empty. Check the deadline and completion only here, off
		** the hot path; "finished" is read before a final pop so
		** nothing pushed before it is left behind. */
		if (atomic_load(&r.finished) == nprod) {
			n = kind == MPSC ? mpsc_pop_batch(r.mq, out, POP_MAX)
				: mutexq_pop_batch(r.lq, out, POP_MAX);
			got += n;
			if (n == 0)
				break;
			continue;
		}
		if ((++idle & 63) == 0) {
			if ((common_now_ns() - t0) / 1000000 > RUN_MS)
				atomic_store(&r.stop, 1);
			sched_yield();
		} else {
			cpu_relax();
		}
	}
	t1 = common_now_ns();
	for (i = 0; i < nprod; i++) {
		pthread_join(w[i].th, NULL);
		pushed += w[i].pushed;
	}
	if (pushed != got)
		fprintf(stderr, "bench/mpsc: pushed %llu but consumed %llu\n",
			(unsigned long long)pushed, (unsigned long long)got);
	(void)sum;
	pthread_barrier_destroy(&r.go);
	if (kind == MPSC)
		mpsc_destroy(r.mq);
	else
		mutexq_destroy(r.lq);
	return (double)got * 1e9 / (double)(t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* }==== */

int main(void)
{
	static const struct { const char *name; unsigned nprod; size_t batch; }
	cases[] = {
		{ "1p-push",     1, 1 },
		{ "1p-batch32",  1, BATCH },
		{ "2p-push",     2, 1 },
		{ "2p-batch32",  2, BATCH },
	};
	cpu_set_t set;
	size_t c;
	int i;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpus++] = i;
	if (ncpus > 1)
		printf("# ring %d, pop %d per call, median of %d; "
			"consumer on cpu %d, "
			"producers on cpu%s %d%s\n", CAP, POP_MAX, REPS,
			cpus[ncpus - 1], ncpus > 2 ? "s" : "", cpus[0],
			ncpus > 2 ? ".." : "");
	else
		printf("# one cpu: threads not pinned\n");
	for (c = 0; c < countof(cases); c++) {
		double lock, ring, l[REPS], m[REPS];

		for (i = 0; i < REPS; i++) {
			l[i] = run_case(MUTEX, cases[c].nprod, cases[c].batch);
			m[i] = run_case(MPSC, cases[c].nprod, cases[c].batch);
		}
		lock = median(l, REPS);
		ring = median(m, REPS);

		printf("mpsc %s %.0f msgs/s  (ratio vs mutex queue %.2f)\n",
			cases[c].name, ring, ring / lock);
		fflush(stdout);
	}
	return 0;
}
