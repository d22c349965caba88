/*
** test/unit/engine/wheel.c: the timer wheel against a simulated clock.
**
** Everything is deterministic (a seeded xorshift generator, no real time).
** Every fired timer is checked by one callback against the contract in
** engine/wheel.h: it fires once, never before its deadline, never after
** the first wheel_run() whose now reached it ("floor": the deadline, or the
** wheel clock when it was armed with a deadline already behind), and within
** one run in (deadline, insertion) order. Includes the .c to reach the
** bitmaps and list heads.
*/
#include "engine/wheel.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define MS_MIN  (60u * 1000u)
#define MS_HOUR (60u * MS_MIN)
#define MS_DAY  (24ull * MS_HOUR)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* Uniform-enough integer in [lo, hi]. */
static uint64_t rnd_range(uint64_t lo, uint64_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

/* A test timer: the wheel link plus what the checker needs. */
struct tt {
	struct wheel_timer t;
	uint64_t floor;      /* must fire in the first run with now >= floor */
	uint64_t seq;        /* insertion number, for tie order */
	uint64_t armed_runs; /* runs completed when it was armed */
	uint32_t fired;
	uint8_t cancelled;
};

/* Checker state shared by the callbacks. */
static struct {
	uint64_t now;        /* now of the wheel_run in progress */
	uint64_t prev;       /* now of the previous wheel_run */
	int have_prev;
	uint64_t runs;       /* wheel_run() calls completed */
	uint64_t last_expire, last_seq;
	int have_last;       /* something fired already in this run */
	uint64_t seq;
	uint64_t fired, dup, early, late, order, cancelled;
} ck;

static void ck_reset(void)
{
	memset(&ck, 0, sizeof ck);
}

/* Arm x through wheel_add and record when it must fire. */
static void arm(struct wheel *w, struct tt *x, uint64_t expire)
{
	x->floor = expire > w->now ? expire : w->now;
	x->seq = ++ck.seq;
	x->armed_runs = ck.runs;
	wheel_add(w, &x->t, expire);
}

static void check_fire(struct tt *x)
{
	uint64_t e = x->t.expire;

	ck.fired++;
	if (x->fired++)
		ck.dup++;
	if (x->cancelled)
		ck.cancelled++;
	if (x->floor > ck.now)
		ck.early++;
	/* Late: a run completed after arming had reached the floor. */
	if (ck.have_prev && x->floor <= ck.prev && ck.runs > x->armed_runs)
		ck.late++;
	if (ck.have_last && (e < ck.last_expire ||
	    (e == ck.last_expire && x->seq < ck.last_seq)))
		ck.order++;
	ck.have_last = 1;
	ck.last_expire = e;
	ck.last_seq = x->seq;
}

static void on_fire(struct wheel_timer *t)
{
	check_fire(container_of(t, struct tt, t));
}

/* One checked wheel_run(). */
static uint64_t run_to(struct wheel *w, uint64_t now)
{
	uint64_t n;

	ck.now = now;
	ck.have_last = 0;
	n = wheel_run(w, now);
	ck.prev = now;
	ck.have_prev = 1;
	ck.runs++;
	return n;
}

/* A clock step: mostly small, sometimes minutes, rarely a day or two. */
static uint64_t rnd_step(void)
{
	uint64_t r = rnd() % 100000;

	if (r < 60000)
		return rnd_range(1, 16);
	if (r < 99500)
		return rnd_range(1, 3000);
	if (r < 99998)
		return rnd_range(3000, 10 * MS_MIN);
	return rnd_range(MS_HOUR, 2 * MS_DAY);
}

/* A deadline offset: 0 .. 4 h, denser in the first minute, 1% up to a
** week away. */
static uint64_t rnd_offset(void)
{
	uint64_t r = rnd() % 100;

	if (r < 1)
		return rnd_range(0, 7 * MS_DAY);
	if (r < 10)
		return rnd_range(0, MS_MIN);
	return rnd_range(0, 4 * MS_HOUR);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* {====================================================================
** Many random timers
** ===================================================================== */

/* n timers with random deadlines from `start`, all pending at once; the
** clock advances in random steps (plus two forced huge jumps) until every
** one fired. After each run wheel_next() must be after the run's now and
** not after the earliest pending deadline (the sorted deadline array gives
** it, since timers fire in deadline order). */
static void test_random(size_t n, uint64_t start, const char *name)
{
	struct wheel *w = xmalloc(sizeof *w);
	struct tt *x = xcalloc(n, sizeof *x);
	uint64_t *keys = xmalloc(n * sizeof *keys);
	uint64_t now = start, total = 0, runs = 0, bad_next = 0, bad_count = 0;
	uint64_t bad_ret = 0, nx;
	size_t i;

	ck_reset();
	wheel_init(w, start);
	ok(wheel_next(w) == WHEEL_NEVER, "%s: empty wheel: next is NEVER", name);
	for (i = 0; i < n; i++) {
		wheel_timer_init(&x[i].t, on_fire);
		keys[i] = start + rnd_offset();
		arm(w, &x[i], keys[i]);
	}
	ok(w->count == n, "%s: %zu timers pending at once", name, n);
	qsort(keys, n, sizeof *keys, cmp_u64);
	nx = wheel_next(w);
	ok(nx <= keys[0], "%s: next %llu <= earliest %llu", name,
	   (unsigned long long)nx, (unsigned long long)keys[0]);

	while (total < n) {
		uint64_t before = ck.fired, got;

		runs++;
		if (runs == 500)
			now += 3 * MS_HOUR;             /* forced huge jumps */
		else if (runs == 3000)
			now += 36 * MS_HOUR;
		else
			now += rnd_step();
		got = run_to(w, now);
		if (got != ck.fired - before)
			bad_ret++;
		total = ck.fired;
		if (w->count != n - total)
			bad_count++;
		nx = wheel_next(w);
		if (total < n ? (nx <= now || nx > keys[total]) : nx != WHEEL_NEVER)
			bad_next++;
		if (runs > 10000000)
			break;                          /* a stuck wheel */
	}
	ok(total == n, "%s: all %zu fired (%llu runs)", name, n,
	   (unsigned long long)runs);
	ok(ck.dup == 0, "%s: none fired twice (%llu)", name,
	   (unsigned long long)ck.dup);
	ok(ck.early == 0, "%s: none fired early (%llu)", name,
	   (unsigned long long)ck.early);
	ok(ck.late == 0, "%s: none fired late (%llu)", name,
	   (unsigned long long)ck.late);
	ok(ck.order == 0, "%s: deadline order within runs (%llu)", name,
	   (unsigned long long)ck.order);
	ok(bad_ret == 0, "%s: wheel_run returns fired count", name);
	ok(bad_count == 0, "%s: count tracks pending timers", name);
	ok(bad_next == 0, "%s: now < next <= earliest pending after each run "
	   "(%llu bad)", name, (unsigned long long)bad_next);
	ok(wheel_next(w) == WHEEL_NEVER, "%s: drained wheel: next is NEVER",
	   name);
	free(keys);
	free(x);
	free(w);
}

/* }==================================================================== */

/* {====================================================================
** Cancel and re-arm
** ===================================================================== */

/* Advance in random steps until the wheel is empty. */
static void drain(struct wheel *w, uint64_t *now)
{
	uint64_t guard = 0;

	while (wheel_next(w) != WHEEL_NEVER && guard++ < 10000000) {
		*now += rnd_step();
		run_to(w, *now);
	}
}

static void test_cancel_half(void)
{
	const size_t n = 500000;
	struct wheel *w = xmalloc(sizeof *w);
	struct tt *x = xcalloc(n, sizeof *x);
	uint64_t start = rnd() & ((1ull << 44) - 1), now = start;
	size_t i, cancelled = 0, bad_active = 0, missing = 0;

	ck_reset();
	wheel_init(w, start);
	for (i = 0; i < n; i++) {
		wheel_timer_init(&x[i].t, on_fire);
		arm(w, &x[i], start + rnd_offset());
	}
	for (i = 0; i < n; i++) {
		if (!(rnd() & 1))
			continue;
		wheel_cancel(w, &x[i].t);
		wheel_cancel(w, &x[i].t);       /* second cancel: no-op */
		x[i].cancelled = 1;
		cancelled++;
		if (wheel_is_active(&x[i].t))
			bad_active++;
	}
	ok(w->count == n - cancelled, "cancel: count %llu == %zu - %zu",
	   (unsigned long long)w->count, n, cancelled);
	ok(bad_active == 0, "cancel: cancelled timers are inactive");
	drain(w, &now);
	for (i = 0; i < n; i++)
		if (!x[i].cancelled && x[i].fired != 1)
			missing++;
	ok(ck.cancelled == 0, "cancel: no cancelled timer fired (%llu)",
	   (unsigned long long)ck.cancelled);
	ok(missing == 0 && ck.fired == n - cancelled,
	   "cancel: the other %zu fired once each", n - cancelled);
	ok(ck.early == 0 && ck.late == 0 && ck.order == 0 && ck.dup == 0,
	   "cancel: on time and in order");
	ok(w->count == 0 && wheel_next(w) == WHEEL_NEVER, "cancel: wheel empty");
	free(x);
	free(w);
}

/* Re-arm a third of pending timers (earlier, later, or already past the
** wheel clock); they must fire once, at the new deadline only. */
static void test_rearm(void)
{
	const size_t n = 200000;
	struct wheel *w = xmalloc(sizeof *w);
	struct tt *x = xcalloc(n, sizeof *x);
	uint64_t start = 77777, now = start;
	size_t i, moved = 0, wrong = 0;

	ck_reset();
	wheel_init(w, start);
	for (i = 0; i < n; i++) {
		wheel_timer_init(&x[i].t, on_fire);
		arm(w, &x[i], start + 1000 + rnd_offset());
	}
	now += 5000;
	run_to(w, now);
	for (i = 0; i < n; i++) {
		if (!wheel_is_active(&x[i].t) || rnd() % 3)
			continue;
		arm(w, &x[i], start + rnd_range(0, 4 * MS_HOUR));
		moved++;
	}
	ok(w->count == n - ck.fired, "rearm: moving keeps count");
	drain(w, &now);
	for (i = 0; i < n; i++)
		if (x[i].fired != 1)
			wrong++;
	ok(moved > n / 4 && wrong == 0,
	   "rearm: %zu moved, every timer fired exactly once", moved);
	ok(ck.early == 0 && ck.late == 0 && ck.order == 0,
	   "rearm: at the new deadline, in order (early %llu late %llu "
	   "order %llu)", (unsigned long long)ck.early,
	   (unsigned long long)ck.late, (unsigned long long)ck.order);
	free(x);
	free(w);
}

/* }==================================================================== */

/* {====================================================================
** Callbacks that touch the wheel
** ===================================================================== */

static struct wheel *cw;        /* the wheel the callbacks below act on */
static struct tt *cx;           /* their timers */
static int trace[64], ntrace;

static void record(struct wheel_timer *t)
{
	struct tt *x = container_of(t, struct tt, t);

	check_fire(x);
	if (ntrace < (int)countof(trace))
		trace[ntrace++] = (int)(x - cx);
}

/* Timer 0 cancels 1 (same deadline, on the ready list), 3 (later in the
** same run) and itself; timer 2 moves 4 (same batch) later. */
static void cb_canceller(struct wheel_timer *t)
{
	record(t);
	wheel_cancel(cw, &cx[1].t);
	wheel_cancel(cw, &cx[3].t);
	wheel_cancel(cw, t);
}

static void cb_mover(struct wheel_timer *t)
{
	record(t);
	arm(cw, &cx[4], 150);
}

static void test_cancel_in_callback(void)
{
	struct wheel w;
	struct tt x[5];
	int i;

	ck_reset();
	cw = &w;
	cx = x;
	ntrace = 0;
	memset(x, 0, sizeof x);
	wheel_init(&w, 0);
	wheel_timer_init(&x[0].t, cb_canceller);
	wheel_timer_init(&x[1].t, record);
	wheel_timer_init(&x[2].t, cb_mover);
	wheel_timer_init(&x[3].t, record);
	wheel_timer_init(&x[4].t, record);
	arm(&w, &x[0], 100);
	arm(&w, &x[1], 100);
	arm(&w, &x[2], 100);
	arm(&w, &x[3], 170);
	arm(&w, &x[4], 100);
	ok(run_to(&w, 120) == 2 && ntrace == 2 && trace[0] == 0 && trace[1] == 2,
	   "callback cancels a same-batch timer: it does not fire");
	ok(!wheel_is_active(&x[1].t) && !wheel_is_active(&x[3].t),
	   "cancelled from a callback: inactive");
	ok(wheel_is_active(&x[4].t) && x[4].fired == 0,
	   "callback moves a same-batch timer: not fired yet");
	ok(run_to(&w, 200) == 1 && ntrace == 3 && trace[2] == 4,
	   "moved timer fires at its new deadline; cancelled later one never");
	for (i = 0; i < 5; i++)
		if (x[i].fired > 1)
			break;
	ok(i == 5 && ck.early + ck.late + ck.order == 0 && w.count == 0 &&
	   wheel_next(&w) == WHEEL_NEVER, "cancel in callback: wheel empty");
}

/* Ticker: re-arms itself period ms after its own deadline, limit times. */
static int tick_limit, tick_bad;
static uint64_t tick_period;

static void cb_ticker(struct wheel_timer *t)
{
	struct tt *x = container_of(t, struct tt, t);

	check_fire(x);
	if (t->expire != x->floor)
		tick_bad++;
	if ((int)x->fired < tick_limit)
		arm(cw, x, t->expire + tick_period);
}

static void test_ticker(void)
{
	struct wheel w;
	struct tt x;
	uint64_t now;

	/* All 100 periods inside a single wheel_run(). */
	ck_reset();
	cw = &w;
	memset(&x, 0, sizeof x);
	wheel_init(&w, 1000);
	wheel_timer_init(&x.t, cb_ticker);
	tick_limit = 100;
	tick_period = 7;
	tick_bad = 0;
	arm(&w, &x, 1007);
	ok(run_to(&w, 1000 + 7 * 100 + 3) == 100 && x.fired == 100 &&
	   tick_bad == 0 && ck.order == 0 && ck.early == 0,
	   "ticker: re-armed in its own callback fires each period in one run");
	ok(!wheel_is_active(&x.t) && wheel_next(&w) == WHEEL_NEVER,
	   "ticker: stops when not re-armed");

	/* A 1 s ticker across an hour in random steps. */
	ck_reset();
	memset(&x, 0, sizeof x);
	wheel_init(&w, 5);
	wheel_timer_init(&x.t, cb_ticker);
	tick_limit = 3600;
	tick_period = 1000;
	arm(&w, &x, 1005);
	now = 5;
	while (x.fired < 3600 && now < 10 * MS_HOUR) {
		now += rnd_range(1, 2500);
		run_to(&w, now);
	}
	ok(x.fired == 3600 && tick_bad == 0 && ck.early == 0 && ck.late == 0,
	   "ticker: 1 s period over an hour of random steps");
	wheel_cancel(&w, &x.t);

	/* Re-armed into the past from its own callback: fires again at once,
	** in the same run. */
	ck_reset();
	memset(&x, 0, sizeof x);
	wheel_init(&w, 0);
	wheel_timer_init(&x.t, cb_ticker);
	tick_limit = 3;
	tick_period = 0;
	arm(&w, &x, 50);
	ok(run_to(&w, 60) == 3 && x.fired == 3 && !wheel_is_active(&x.t),
	   "re-armed at its own (past) deadline: fires again in the same run");
}

/* A timer added by a callback with a deadline inside the current run fires
** in that run, in place. */
static void cb_adder(struct wheel_timer *t)
{
	record(t);
	arm(cw, &cx[3], 150);
}

static void test_add_in_callback(void)
{
	struct wheel w;
	struct tt x[4];

	ck_reset();
	cw = &w;
	cx = x;
	ntrace = 0;
	memset(x, 0, sizeof x);
	wheel_init(&w, 0);
	wheel_timer_init(&x[0].t, cb_adder);
	wheel_timer_init(&x[1].t, record);
	wheel_timer_init(&x[2].t, record);
	wheel_timer_init(&x[3].t, record);
	arm(&w, &x[0], 100);
	arm(&w, &x[1], 120);
	arm(&w, &x[2], 180);
	ok(run_to(&w, 200) == 4 && ntrace == 4 && trace[0] == 0 &&
	   trace[1] == 1 && trace[2] == 3 && trace[3] == 2,
	   "added in a callback, due within the run: fires in deadline order");
}

/* Deadlines already behind the wheel clock fire on the next run, sorted by
** deadline (ties in insertion order). */
static void test_past_due(void)
{
	static const uint64_t dl[] = { 500, 200, 900, 200, 1000, 1001, 0 };
	static const int want[] = { 6, 1, 3, 0, 2, 4, 5 };
	struct wheel w;
	struct tt x[countof(dl)];
	size_t i;
	int good;

	ck_reset();
	cx = x;
	ntrace = 0;
	memset(x, 0, sizeof x);
	wheel_init(&w, 0);
	run_to(&w, 1000);
	for (i = 0; i < countof(dl); i++) {
		wheel_timer_init(&x[i].t, record);
		arm(&w, &x[i], dl[i]);
	}
	ok(wheel_next(&w) == 1000, "past-due: next is the wheel clock");
	ok(run_to(&w, 1000) == 6, "past-due: fire on the next run");
	ok(run_to(&w, 1001) == 1, "past-due: a future one waits for its time");
	good = ntrace == 7;
	for (i = 0; good && i < countof(want); i++)
		good = trace[i] == want[i];
	ok(good && ck.order == 0, "past-due: sorted by deadline, ties stable");
	ok(wheel_run(&w, 10) == 0 && w.now == 1001,
	   "a now behind the wheel clock does not move it back");
}

/* Moving a pending timer, outside callbacks. */
static void test_move(void)
{
	struct wheel w;
	struct tt x;

	ck_reset();
	memset(&x, 0, sizeof x);
	wheel_init(&w, 0);
	wheel_timer_init(&x.t, on_fire);
	arm(&w, &x, 100);
	arm(&w, &x, 50);
	ok(w.count == 1 && wheel_next(&w) <= 50, "move earlier: one pending");
	ok(run_to(&w, 50) == 1 && run_to(&w, 200) == 0 && x.fired == 1,
	   "move earlier: fires at the new deadline only");
	arm(&w, &x, 300);
	arm(&w, &x, 5000);
	ok(run_to(&w, 4999) == 0 && run_to(&w, 5000) == 1 && x.fired == 2,
	   "move later: not at the old deadline, at the new one");
	memset(&x.t, 0, sizeof x.t);
	wheel_cancel(&w, &x.t);
	ok(w.count == 0, "cancel of a zeroed timer is a no-op");
}

/* }==================================================================== */

/* {====================================================================
** Far timers and cascading
** ===================================================================== */

/* Drive w by wheel_next() only, as the shard does, until empty. Each run
** happens at or before the earliest pending deadline, so every timer must
** fire exactly at its deadline. Returns the number of wake-ups. */
static uint64_t drive(struct wheel *w, struct tt *x, size_t n, int *bad)
{
	uint64_t wakes = 0, nx;
	size_t i;

	while ((nx = wheel_next(w)) != WHEEL_NEVER && wakes < 100000) {
		uint64_t min = WHEEL_NEVER;

		for (i = 0; i < n; i++)
			if (wheel_is_active(&x[i].t) && x[i].t.expire < min)
				min = x[i].t.expire;
		if (nx > min || nx < w->now || (nx == w->now && min > w->now))
			(*bad)++;
		run_to(w, nx);
		wakes++;
	}
	for (i = 0; i < n; i++)
		if (x[i].fired != 1)
			(*bad)++;
	return wakes;
}

static void cb_exact(struct wheel_timer *t)
{
	struct tt *x = container_of(t, struct tt, t);

	check_fire(x);
	if (t->expire != ck.now)
		ck.late++;
}

static void test_cascade(void)
{
	const uint64_t starts[] = {
		0, 1, 63, 12345678901ull, (1ull << 42) - 3, (1ull << 42) - 70,
		(1ull << 43) + (1ull << 41) + 4097, rnd() & ((1ull << 50) - 1),
	};
	struct wheel w;
	struct tt x[6 * 3 + 4];
	size_t s;

	for (s = 0; s < countof(starts); s++) {
		uint64_t st = starts[s], wakes;
		size_t n = 0, i;
		int k, d, bad = 0, single_bad = 0;

		/* All of them at once. */
		ck_reset();
		memset(x, 0, sizeof x);
		wheel_init(&w, st);
		for (k = 1; k <= 6; k++)
			for (d = -1; d <= 1; d++) {
				wheel_timer_init(&x[n].t, cb_exact);
				arm(&w, &x[n++], st + (1ull << (6 * k)) + d);
			}
		wheel_timer_init(&x[n].t, cb_exact);
		arm(&w, &x[n++], st + (1ull << 42) - 1);
		wheel_timer_init(&x[n].t, cb_exact);
		arm(&w, &x[n++], st + (1ull << 42) + 1);
		wheel_timer_init(&x[n].t, cb_exact);
		arm(&w, &x[n++], st + (1ull << 45) + 7);  /* beyond the horizon */
		wheel_timer_init(&x[n].t, cb_exact);
		arm(&w, &x[n++], st);                     /* due at once */
		wakes = drive(&w, x, n, &bad);
		ok(bad == 0 && ck.late == 0 && ck.early == 0 && ck.dup == 0 &&
		   wakes < 400, "cascade from %llu: %zu timers at 2^(6k)+-1, "
		   "2^42+-1, 2^45: each fired exactly at its deadline, next "
		   "never late (%llu wake-ups)", (unsigned long long)st, n,
		   (unsigned long long)wakes);
		ok(wheel_next(&w) == WHEEL_NEVER && w.count == 0,
		   "cascade from %llu: empty afterwards", (unsigned long long)st);

		/* One at a time: few wake-ups, and a big jump to just before
		** the deadline fires nothing, the next millisecond fires it. */
		for (i = 0; i + 1 < n; i++) {
			uint64_t e = x[i].t.expire;
			struct tt y;

			ck_reset();
			memset(&y, 0, sizeof y);
			wheel_init(&w, st);
			wheel_timer_init(&y.t, cb_exact);
			arm(&w, &y, e);
			bad = 0;
			wakes = drive(&w, &y, 1, &bad);
			if (bad || ck.late || wakes > WHEEL_LEVELS + 1 +
			    (e - st) / (1ull << 42) * WHEEL_LEVELS)
				single_bad++;
			wheel_init(&w, st);
			y.fired = 0;
			arm(&w, &y, e);
			ck.have_prev = 0;
			if (run_to(&w, e - 1) != 0 || run_to(&w, e) != 1 ||
			    wheel_next(&w) != WHEEL_NEVER)
				single_bad++;
		}
		ok(single_bad == 0, "cascade from %llu: single timers: few "
		   "wake-ups, fire at the first run reaching the deadline",
		   (unsigned long long)st);
	}
}

/* The engine arms one kernel timeout for wheel_next(): an hour-away timer
** must cost a handful of wake-ups, not one per millisecond. */
static void test_next_sparse(void)
{
	struct wheel w;
	struct tt x;
	uint64_t wakes;
	int bad = 0;

	ck_reset();
	memset(&x, 0, sizeof x);
	wheel_init(&w, 987654321);
	ok(wheel_next(&w) == WHEEL_NEVER, "empty: next is NEVER");
	ok(wheel_run(&w, 987654321 + MS_DAY) == 0 &&
	   wheel_next(&w) == WHEEL_NEVER, "empty: run fires nothing");
	wheel_timer_init(&x.t, cb_exact);
	arm(&w, &x, w.now + MS_HOUR);
	ok(wheel_next(&w) > w.now + 1000,
	   "one timer an hour away: first wake-up not within the second");
	wakes = drive(&w, &x, 1, &bad);
	ok(bad == 0 && wakes <= WHEEL_LEVELS,
	   "one timer an hour away: %llu wake-ups", (unsigned long long)wakes);
	arm(&w, &x, w.now + 5 * MS_MIN);
	wheel_cancel(&w, &x.t);
	ok(wheel_next(&w) == WHEEL_NEVER, "cancelled last timer: next is NEVER");

	/* An idle gap of 2^40 ms must be skipped, not walked (a per-ms loop
	** would hit the runner's timeout). */
	ck_reset();
	arm(&w, &x, w.now + (1ull << 40) + 5);
	ok(run_to(&w, w.now + (1ull << 40)) == 0 && run_to(&w, w.now + 5) == 1,
	   "idle gap of 2^40 ms skipped");
}

/* }==================================================================== */

int main(void)
{
	test_random(1000000, (1ull << 42) - 2 * MS_HOUR, "1M across 2^42");
	test_random(200000, 0, "200k from 0");
	test_random(200000, rnd() & ((1ull << 50) - 1), "200k random start");
	test_cancel_half();
	test_rearm();
	test_cancel_in_callback();
	test_ticker();
	test_add_in_callback();
	test_past_due();
	test_move();
	test_cascade();
	test_next_sparse();
	return tap_done();
}
