/*
** engine/wheel.c: the hierarchical timer wheel (contract in wheel.h).
**
** Runs only on its shard's thread; no locking, no allocation.
**
** Placement. A timer with (placement) deadline e is kept relative to the
** wheel clock `now` at the level of the highest 6-bit group in which e and
** now differ, in the slot named by e's digit of that group:
**
**     level = msb(e ^ now) / 6          (0 when e ^ now < 64)
**     slot  = (e >> 6*level) & 63
**
** Because e > now and they agree above that group, the slot lies strictly
** ahead of now's own digit at that level, and every timer in it is due no
** earlier than the moment the clock enters the slot (the slot's "visit
** time": e with its low 6*level bits cleared). At that moment the slot is
** cascaded: its timers are re-placed relative to the new clock, landing in
** strictly lower levels (or in level 0's current slot when e equals the
** visit time). Level 0 slots hold timers due exactly at their visit time.
**
** Invariants between calls (and at every step of wheel_run):
**   - occupied[l] bit s is set iff slots[l][s] is a non-empty list;
**   - on levels 1..5 every occupied slot is strictly ahead of now's digit;
**     on level 0 it is at or ahead of it (at it: deadlines <= now that were
**     added late, "past-due", which fire on the next wheel_run);
**   - the top level (6) is circular: a deadline beyond the current 2^42 ms
**     block wraps to a slot at or behind now's digit, meaning "next turn";
**     a deadline more than 2^42 ms away is placed at now + 2^42 - 1 and
**     simply re-placed when that slot is cascaded (it is never early,
**     because the visit time is <= the placement deadline <= the real one).
**
** Consequences used below: the lowest non-empty level always holds the
** earliest visit time (a level-l visit is before the end of now's level-l+1
** block, every level-l+1 visit is after it), so wheel_next() is one ctz on
** one rotated bitmap; and wheel_run() can jump the clock straight to the
** next visit time, so an idle gap costs nothing per elapsed millisecond.
**
** Lists are circular and doubly linked through the timer itself, with the
** slot array entries as sentinel heads. A timer's _next is NULL exactly when
** it is idle. A timer that is due is first moved onto a local "ready" list
** (another sentinel, on wheel_run's stack) and unlinked just before its
** callback runs, so callbacks may cancel or move any timer, including ones
** on the ready list. Cancel finds the slot to clear in the bitmap by
** recognising that the list it left is now empty and its head lies inside
** w->slots; no per-timer slot index is stored.
**
** Clock values are assumed to stay below 2^63 ms, so visit times (at most
** now + 2^42) never overflow.
*/
#include "engine/wheel.h"

#include <stddef.h>

#include "engine/common.h"

#define MASK    ((uint64_t)WHEEL_SLOTS - 1)
#define TOP     (WHEEL_LEVELS - 1)
#define HORIZON ((uint64_t)1 << (WHEEL_LEVELS * WHEEL_BITS))

/* {====================================================================
** Intrusive lists
** ===================================================================== */

static inline void list_init(struct wheel_timer *h)
{
	h->_next = h->_prev = h;
}

static inline void list_append(struct wheel_timer *h, struct wheel_timer *t)
{
	t->_prev = h->_prev;
	t->_next = h;
	h->_prev->_next = t;
	h->_prev = t;
}

/* Move every node of the non-empty list src onto the empty list dst (an
** uninitialised sentinel is fine) and leave src empty. O(1). */
static inline void list_take(struct wheel_timer *dst, struct wheel_timer *src)
{
	dst->_next = src->_next;
	dst->_prev = src->_prev;
	dst->_next->_prev = dst;
	dst->_prev->_next = dst;
	list_init(src);
}

/* Rotate right: bit (pos + k) % 64 of x becomes bit k. */
static inline uint64_t rotr(uint64_t x, unsigned r)
{
	return (x >> r) | (x << ((64 - r) & 63));
}

/* }==================================================================== */

/* {====================================================================
** Placement and removal
** ===================================================================== */

/* Link t into the slot its deadline selects relative to w->now (see the
** top of the file) and mark the slot occupied. t must be idle. */
static void place(struct wheel *w, struct wheel_timer *t)
{
	uint64_t ref = w->now, e = t->expire, diff;
	unsigned level = 0, slot;

	if (e < ref) {
		e = ref;                /* past-due: level 0, current slot */
		w->past_due |= (uint64_t)1 << (ref & MASK);
	}
	else if (e - ref >= HORIZON)
		e = ref + HORIZON - 1;  /* too far: re-placed on cascade */
	diff = e ^ ref;
	if (diff > MASK) {
		level = (63 - __builtin_clzll(diff)) / WHEEL_BITS;
		if (level > TOP)        /* crosses the top block: wrap */
			level = TOP;
	}
	slot = (e >> (level * WHEEL_BITS)) & MASK;
	list_append(&w->slots[level][slot], t);
	w->occupied[level] |= (uint64_t)1 << slot;
}

/* Unlink t from whatever list holds it (a wheel slot, a ready list or a
** cascade list) and make it idle. If that emptied a wheel slot, clear the
** slot's occupied bit: the list is empty exactly when t's two neighbours
** are the same node, its head, and that head is a wheel slot when its
** address lies inside w->slots. */
static void unlink_timer(struct wheel *w, struct wheel_timer *t)
{
	struct wheel_timer *next = t->_next, *prev = t->_prev;
	uintptr_t off;

	prev->_next = next;
	next->_prev = prev;
	t->_next = t->_prev = NULL;
	if (next != prev)
		return;
	off = (uintptr_t)next - (uintptr_t)&w->slots[0][0];
	if (off < sizeof w->slots) {
		size_t i = off / sizeof(struct wheel_timer);
		w->occupied[i / WHEEL_SLOTS] &= ~((uint64_t)1 << (i % WHEEL_SLOTS));
	}
}

/* }==================================================================== */

/* {====================================================================
** Running
** ===================================================================== */

static struct wheel_timer *merge(struct wheel_timer *a, struct wheel_timer *b)
{
	struct wheel_timer head, *tail = &head;

	while (a && b) {
		if (b->expire < a->expire) {    /* strict: ties keep a first */
			tail->_next = b;
			b = b->_next;
		} else {
			tail->_next = a;
			a = a->_next;
		}
		tail = tail->_next;
	}
	tail->_next = a ? a : b;
	return head._next;
}

/* Stable merge sort of the first n (>= 1) nodes of the NULL-terminated
** singly linked chain *chain; advances *chain past them. Depth log2(n). */
static struct wheel_timer *msort(struct wheel_timer **chain, size_t n)
{
	struct wheel_timer *a, *b;

	if (n == 1) {
		a = *chain;
		*chain = a->_next;
		a->_next = NULL;
		return a;
	}
	a = msort(chain, n / 2);
	b = msort(chain, n - n / 2);
	return merge(a, b);
}

/* Put the ready list h into deadline order, keeping insertion order for
** ties. A level-0 slot holds only timers due exactly at its visit time
** unless a past-due timer (added with a deadline already behind the wheel
** clock) went in, which w->past_due records: fire_due sorts only then,
** since the walk that checks the order touches every due timer once more
** (with 100,000 tickers, each a cache miss). */
static void sort_ready(struct wheel_timer *h)
{
	struct wheel_timer *p, *prev, *chain;
	size_t n = 1;
	int sorted = 1;

	for (p = h->_next; p->_next != h; p = p->_next, n++)
		if (p->_next->expire < p->expire)
			sorted = 0;
	if (sorted)
		return;
	p->_next = NULL;                /* p is the last node: cut the ring */
	chain = h->_next;
	p = msort(&chain, n);
	for (prev = h; p; prev = p, p = p->_next) {
		p->_prev = prev;
		prev->_next = p;
	}
	prev->_next = h;
	h->_prev = prev;
}

/* Fire everything in level 0's slot for the current clock, including
** timers that callbacks add to it meanwhile (deadline <= now), which go in
** a later batch. Each batch is taken off the wheel before any callback
** runs. Returns the number of callbacks called. */
static uint64_t fire_due(struct wheel *w)
{
	struct wheel_timer ready, *t;
	unsigned slot = w->now & MASK;
	uint64_t bit = (uint64_t)1 << slot, n = 0;

	while (w->occupied[0] & bit) {
		list_take(&ready, &w->slots[0][slot]);
		w->occupied[0] &= ~bit;
		if (w->past_due & bit) {
			w->past_due &= ~bit;
			sort_ready(&ready);
		}
		/* Re-read the head each time: a callback may cancel or move any
		** timer still on the ready list. */
		while ((t = ready._next) != &ready) {
			unlink_timer(w, t);
			w->count--;
			t->cb(t);
			n++;
		}
	}
	return n;
}

/* The clock has just been moved to `at`: cascade every slot whose visit
** time is `at`, from the top level down. Re-placed timers land strictly
** ahead on lower levels, or in level 0's current slot when due at `at`;
** no callback runs here, so the local list needs no protection. */
static void cascade(struct wheel *w, uint64_t at)
{
	struct wheel_timer moving, *t, *next;
	unsigned level = at ? __builtin_ctzll(at) / WHEEL_BITS : TOP;

	if (level > TOP)
		level = TOP;
	for (; level > 0; level--) {
		unsigned slot = (at >> (level * WHEEL_BITS)) & MASK;
		uint64_t bit = (uint64_t)1 << slot;

		if (!(w->occupied[level] & bit))
			continue;
		list_take(&moving, &w->slots[level][slot]);
		w->occupied[level] &= ~bit;
		/* Walk the detached ring without unlinking node by node:
		** place() rewrites both links of t, and `next` is read
		** first. The walk is one dependent load per timer, so start
		** fetching the next node before placing this one. */
		for (t = moving._next; t != &moving; t = next) {
			next = t->_next;
			__builtin_prefetch(next);
			place(w, t);
		}
	}
}

/* }==================================================================== */

/* {====================================================================
** Public API
** ===================================================================== */

/* Initialise an empty wheel whose clock starts at now_ms: every slot head
** becomes an empty ring and every bitmap zero. */
void wheel_init(struct wheel *w, uint64_t now_ms)
{
	unsigned l, s;

	w->now = now_ms;
	w->count = 0;
	w->past_due = 0;
	for (l = 0; l < WHEEL_LEVELS; l++) {
		w->occupied[l] = 0;
		for (s = 0; s < WHEEL_SLOTS; s++)
			list_init(&w->slots[l][s]);
	}
}

void wheel_timer_init(struct wheel_timer *t, wheel_cb cb)
{
	t->_next = t->_prev = NULL;
	t->expire = 0;
	t->cb = cb;
}

/* Arm (or move) t. A pending timer is unlinked first, so a move counts as
** a fresh insertion for tie ordering. O(1): one clz and a list append. */
void wheel_add(struct wheel *w, struct wheel_timer *t, uint64_t expire_ms)
{
	if (t->_next)
		unlink_timer(w, t);
	else
		w->count++;
	t->expire = expire_ms;
	place(w, t);
}

/* Disarm t if pending; it may sit in a wheel slot or on the ready list of
** the wheel_run() in progress, and either way it will not fire. */
void wheel_cancel(struct wheel *w, struct wheel_timer *t)
{
	if (!t->_next)
		return;
	unlink_timer(w, t);
	w->count--;
}

/* Visit time of the first occupied slot on the lowest non-empty level (the
** earliest, see the top of the file). The bitmap is rotated so that bit k
** means "k slots ahead of the clock's digit"; on levels >= 1 distance 0 can
** only be a wrapped top-level slot, which is a full turn (64 slots) away,
** after every other slot of the level. */
uint64_t wheel_next(const struct wheel *w)
{
	unsigned level;

	for (level = 0; level < WHEEL_LEVELS; level++) {
		uint64_t occ = w->occupied[level], base, k;
		unsigned shift = level * WHEEL_BITS;

		if (!occ)
			continue;
		occ = rotr(occ, (w->now >> shift) & MASK);
		if (level > 0 && (occ & 1)) {
			/* Distance 0 above level 0: the wrapped top slot, the
			** farthest there is; anything else on the level is
			** nearer. */
			(void)NEVER(level != TOP);
			occ &= ~(uint64_t)1;
			k = occ ? (uint64_t)__builtin_ctzll(occ) : WHEEL_SLOTS;
		} else {
			k = __builtin_ctzll(occ);
		}
		base = w->now >> shift << shift;
		return base + (k << shift);
	}
	return WHEEL_NEVER;
}

/* Fire the current slot, then repeatedly jump the clock to the next visit
** time (never one millisecond at a time), cascade there and fire, until
** the next visit is after now_ms; finally set the clock to now_ms, which
** is safe because no slot is visited in between. Each jump goes strictly
** forward: after fire_due() level 0's current slot is empty. A now_ms
** behind the wheel clock is treated as the wheel clock. */
uint64_t wheel_run(struct wheel *w, uint64_t now_ms)
{
	uint64_t fired = 0, at;

	if (now_ms < w->now)
		now_ms = w->now;
	for (;;) {
		fired += fire_due(w);
		at = wheel_next(w);
		if (at > now_ms)        /* includes WHEEL_NEVER */
			break;
		w->now = at;
		cascade(w, at);
	}
	w->now = now_ms;
	return fired;
}

/* }==================================================================== */
