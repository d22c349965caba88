/*
** bench/wheel.c: timer wheel insert, cancel and expiry rates against a
** binary min-heap holding the same timers.
**
** 1M timers with random deadlines up to an hour ahead. Each phase is timed
** on its own, best of ROUNDS, and printed as ops/s with the heap's rate
** and the ratio wheel/heap (> 1 means the wheel is faster):
**   insert  wheel_add                vs heap push (sift-up)
**   cancel  wheel_cancel, random order vs heap remove-at-index
**   expire  wheel_run, clock += 1 ms until all fired
**           vs heap pop-min while min <= now, same clock steps
** plus the wheel driven the way the shard drives it (jump to wheel_next()).
** The heap is a fair baseline: an array of {deadline, node} pairs so that
** comparisons never chase pointers, and a back-index in the node for O(log n)
** removal.
*/
#include "engine/wheel.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/common.h"

#define N      1000000u
#define SPAN   (3600u * 1000u)          /* deadlines within an hour */
#define ROUNDS 3
#define START  1000000007ull

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static uint64_t fired;                  /* keeps the callbacks observable */

static void on_fire(struct wheel_timer *t)
{
	fired += t->expire & 1;
	fired += 1u << 1;
}

/* {====================================================================
** Baseline: binary min-heap
** ===================================================================== */

struct hnode {
	uint64_t expire;
	uint32_t idx;                   /* position in the heap array */
};

struct hent {
	uint64_t expire;
	struct hnode *node;
};

struct heap {
	struct hent *a;
	uint32_t n;
};

static inline void hset(struct heap *h, uint32_t i, struct hent e)
{
	h->a[i] = e;
	e.node->idx = i;
}

static void sift_up(struct heap *h, uint32_t i, struct hent e)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (h->a[p].expire <= e.expire)
			break;
		hset(h, i, h->a[p]);
		i = p;
	}
	hset(h, i, e);
}

static void sift_down(struct heap *h, uint32_t i, struct hent e)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1].expire < h->a[c].expire)
			c++;
		if (e.expire <= h->a[c].expire)
			break;
		hset(h, i, h->a[c]);
		i = c;
	}
	hset(h, i, e);
}

static void heap_push(struct heap *h, struct hnode *x)
{
	struct hent e = { x->expire, x };

	sift_up(h, h->n++, e);
}

static struct hnode *heap_pop(struct heap *h)
{
	struct hnode *top = h->a[0].node;
	struct hent last = h->a[--h->n];

	if (h->n)
		sift_down(h, 0, last);
	return top;
}

static void heap_remove(struct heap *h, struct hnode *x)
{
	uint32_t i = x->idx;
	struct hent last = h->a[--h->n];

	if (i == h->n)
		return;
	if (i > 0 && last.expire < h->a[(i - 1) / 2].expire)
		sift_up(h, i, last);
	else
		sift_down(h, i, last);
}

/* }==================================================================== */

static double secs(uint64_t t0)
{
	return (double)(common_now_ns() - t0) / 1e9;
}

static void report(const char *what, double wheel_s, const char *hwhat,
		   double heap_s)
{
	double wr = N / wheel_s, hr = N / heap_s;

	printf("wheel %-7s %6.1fM ops/s (heap %s %6.1fM ops/s, ratio %.2f)\n",
	       what, wr / 1e6, hwhat, hr / 1e6, wr / hr);
}

int main(void)
{
	struct wheel *w = xmalloc(sizeof *w);
	struct wheel_timer *t = xcalloc(N, sizeof *t);
	struct hnode *hn = xcalloc(N, sizeof *hn);
	struct heap h = { xmalloc(N * sizeof(struct hent)), 0 };
	uint64_t *dl = xmalloc(N * sizeof *dl);
	uint32_t *perm = xmalloc(N * sizeof *perm);
	double best[7] = { 1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9 };
	uint64_t now, t0, runs = 0, wakes = 0, popped = 0, stepped = 0;
	uint32_t i, r;

	for (i = 0; i < N; i++) {
		dl[i] = START + 1 + rnd() % SPAN;
		perm[i] = i;
		wheel_timer_init(&t[i], on_fire);
		hn[i].expire = dl[i];
	}
	for (i = N - 1; i > 0; i--) {           /* Fisher-Yates */
		uint32_t j = rnd() % (i + 1), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}

	for (r = 0; r < ROUNDS; r++) {
		double s;

		/* Wheel: insert, cancel, insert again, expire in 1 ms steps. */
		wheel_init(w, START);
		t0 = common_now_ns();
		for (i = 0; i < N; i++)
			wheel_add(w, &t[i], dl[i]);
		if ((s = secs(t0)) < best[0]) best[0] = s;
		t0 = common_now_ns();
		for (i = 0; i < N; i++)
			wheel_cancel(w, &t[perm[i]]);
		if ((s = secs(t0)) < best[1]) best[1] = s;
		for (i = 0; i < N; i++)
			wheel_add(w, &t[i], dl[i]);
		fired = 0;
		runs = 0;
		t0 = common_now_ns();
		for (now = START; w->count; runs++)
			wheel_run(w, ++now);
		if ((s = secs(t0)) < best[2]) best[2] = s;
		stepped = fired;

		/* Wheel driven by wheel_next(), as the shard does. */
		wheel_init(w, START);
		for (i = 0; i < N; i++)
			wheel_add(w, &t[i], dl[i]);
		wakes = 0;
		t0 = common_now_ns();
		while ((now = wheel_next(w)) != WHEEL_NEVER) {
			wheel_run(w, now);
			wakes++;
		}
		if ((s = secs(t0)) < best[3]) best[3] = s;

		/* Heap: push, remove, push again, pop-min in 1 ms steps. */
		h.n = 0;
		t0 = common_now_ns();
		for (i = 0; i < N; i++)
			heap_push(&h, &hn[i]);
		if ((s = secs(t0)) < best[4]) best[4] = s;
		t0 = common_now_ns();
		for (i = 0; i < N; i++)
			heap_remove(&h, &hn[perm[i]]);
		if ((s = secs(t0)) < best[5]) best[5] = s;
		for (i = 0; i < N; i++)
			heap_push(&h, &hn[i]);
		popped = 0;
		t0 = common_now_ns();
		for (now = START; h.n; ) {
			now++;
			while (h.n && h.a[0].expire <= now) {
				popped += heap_pop(&h)->expire & 1;
				popped += 2;
			}
		}
		if ((s = secs(t0)) < best[6]) best[6] = s;
	}

	printf("# %u timers, deadlines uniform over %u ms, best of %d rounds\n",
	       N, SPAN, ROUNDS);
	report("insert", best[0], "push", best[4]);
	report("cancel", best[1], "remove", best[5]);
	report("expire", best[2], "pop-min", best[6]);
	printf("# expire: %llu wheel_run calls of 1 ms; next-driven: %llu "
	       "wake-ups, %.1fM timers/s\n", (unsigned long long)runs,
	       (unsigned long long)wakes, N / best[3] / 1e6);
	if (stepped != popped)    /* both sides fired the same timers */
		printf("# mismatch: wheel %llu heap %llu\n",
		       (unsigned long long)stepped, (unsigned long long)popped);
	free(perm);
	free(dl);
	free(h.a);
	free(hn);
	free(t);
	free(w);
	return 0;
}
