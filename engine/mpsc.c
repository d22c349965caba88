/*
** engine/mpsc.c: the bounded lock-free MPSC ring of pointers (mpsc_*), after
** Dmitry Vyukov's bounded queue with a sequence number in every cell.
**
** Tickets. Every push takes a ticket `pos` from the producers' counter
** `tail`; every pop takes the consumer's next ticket `head`. Ticket `pos` owns
** cell `pos & mask`. The counters only grow (a 64-bit counter does not wrap
** in the lifetime of a process), so ticket arithmetic never sees ABA.
**
** Cell states. A cell's `seq` says which ticket may touch it next:
**   seq == pos        free for producer ticket pos
**   seq == pos + 1    published by ticket pos; the consumer may take it
**   seq == pos + cap  consumed; free for producer ticket pos + cap
** A producer that won ticket pos by CAS on `tail` but has not yet stored
** seq = pos + 1 leaves the cell "reserved but unpublished": seq still reads
** pos, so the consumer sees it exactly like an empty cell and stops there.
** It never looks past it, which is what keeps per-producer order and makes
** "never skipped" hold. The capacity is at least 2 because with one cell
** "published" (pos + 1) and "consumed" (pos + cap) would be the same value.
**
** Fullness is read from the cells, not from head: a producer whose cell
** still holds seq < pos (last lap not consumed yet) reports -EAGAIN. So
** producers never read head and the consumer never reads tail; the two
** counters live on separate cache lines and each line is written by one
** side only (tail by producers, head by the consumer).
**
** Memory orders. Payload ownership moves only through `seq`:
**   producer: write data, then store seq = pos + 1 with release;
**   consumer: load seq with acquire, read data, store seq = pos + cap with
**             release; the next producer loads seq with acquire before it
**             writes data again.
** `tail` itself carries no payload: the CAS only has to hand out distinct
** tickets, which the modification order of a single atomic already
** guarantees, so it is relaxed. Standalone fences are avoided on purpose
** (acquire loads instead): ThreadSanitizer does not model
** atomic_thread_fence and would report false races.
**
** Threads: mpsc_push and mpsc_push_batch from any thread; mpsc_pop_batch and
** mpsc_empty only from the single consumer (the owning shard).
*/
#include "mpsc.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "common.h"

/* One slot: 16 bytes, four to a cache line. Cells are not padded: the
** consumer and batch producers walk them in order, and dense cells make a
** batch touch a few lines instead of one per item. */
struct cell {
	atomic_size_t seq; /* ticket state, see the top of the file */
	void *data;        /* owned by whoever the seq state says */
};

struct mpsc {
	/* Read-only after create: shared by every thread without traffic. */
	struct cell *cells;
	size_t mask;         /* capacity - 1; capacity is a power of two */
	void *raw;           /* what xmalloc returned, for free() */

	/* Producers' ticket counter, alone on its line so that CAS traffic
	** among producers does not evict the consumer's head. */
	alignas(CACHELINE) atomic_size_t tail;

	/* Consumer-private: written and read by the consumer only, so a
	** plain variable. Alone on its line, away from tail. */
	alignas(CACHELINE) size_t head;
};
/* sizeof(struct mpsc) is a multiple of CACHELINE, so cells placed right
** after it start on a fresh line and never share one with head. */

/* Largest capacity we round to; beyond it the allocation would fail anyway. */
#define MAX_CAP ((size_t)1 << (sizeof(size_t) * 8 - 6))

/* Sign of (a - b) for ticket values, robust to wraparound of the counters. */
static inline intptr_t tdiff(size_t a, size_t b)
{
	return (intptr_t)(a - b);
}

struct mpsc *mpsc_create(size_t cap)
{
	size_t n = 2, i;
	struct mpsc *q;
	void *raw;
	uintptr_t p;

	while (n < cap && n < MAX_CAP)
		n <<= 1;

	/* xmalloc only promises malloc's alignment; over-allocate to place
	** the struct (and so tail, head and cells) on cache-line bounds. */
	raw = xmalloc(sizeof(*q) + n * sizeof(struct cell) + CACHELINE - 1);
	p = ((uintptr_t)raw + CACHELINE - 1) & ~(uintptr_t)(CACHELINE - 1);
	q = (struct mpsc *)p;
	q->raw = raw;
	q->cells = (struct cell *)(q + 1);
	q->mask = n - 1;
	q->head = 0;
	/* Relaxed init: publishing q to other threads (thread creation, a
	** release store of the pointer) orders these stores for them. */
	atomic_init(&q->tail, 0);
	for (i = 0; i < n; i++) {
		atomic_init(&q->cells[i].seq, i); /* free for ticket i */
		q->cells[i].data = NULL;
	}
	return q;
}

void mpsc_destroy(struct mpsc *q)
{
	if (q)
		free(q->raw);
}

int mpsc_push(struct mpsc *q, void *item)
{
	struct cell *c;
	size_t pos, seq;
	intptr_t d;

	/* Relaxed: tail is only a ticket hint here; whether the cell is
	** really ours is decided by its seq and by the CAS below. */
	pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
	for (;;) {
		c = &q->cells[pos & q->mask];
		/* Acquire pairs with the consumer's release store of
		** seq = pos (last lap consumed): its read of the old data
		** happens before our write of the new one. */
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		d = tdiff(seq, pos);
		if (d == 0) {
			/* Relaxed CAS: it only has to hand out a unique ticket;
			** the cell's contents are ordered through seq. On
			** failure pos is reloaded with the current tail. */
			if (atomic_compare_exchange_weak_explicit(&q->tail,
			    &pos, pos + 1, memory_order_relaxed,
			    memory_order_relaxed))
				break;
		} else if (d < 0) {
			/* The cell still holds last lap's ticket (published
			** or reserved, not consumed): the ring is full. */
			return -EAGAIN;
		} else {
			/* Another producer took ticket pos since we read
			** tail; catch up. */
			pos = atomic_load_explicit(&q->tail,
				memory_order_relaxed);
		}
	}
	c->data = item;
	/* Release: the data store above is visible to the consumer once it
	** acquires seq == pos + 1. */
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return 0;
}

/* Reserve up to n consecutive free tickets with one CAS. Returns how many
** (>= 1) and stores the first in *first, or returns 0 when the first cell is
** not free for this lap (ring full). */
static size_t reserve(struct mpsc *q, size_t n, size_t *first)
{
	size_t pos, k, seq = 0;
	intptr_t d;

	pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
	for (;;) {
		/* Count the run of cells free for tickets pos, pos+1, ...
		** Acquire on each load for the same reason as in mpsc_push:
		** the consumer's read of the old data must happen before our
		** write. The run stops early at a cell not yet consumed
		** (ring nearly full) or already taken by a newer ticket (our
		** pos is stale; then the CAS fails and we recount). A run
		** can never exceed the capacity: cell pos+cap is cell pos,
		** whose seq is pos, not pos+cap. */
		for (k = 0; k < n; k++) {
			struct cell *c = &q->cells[(pos + k) & q->mask];
			seq = atomic_load_explicit(&c->seq,
				memory_order_acquire);
			if (seq != pos + k)
				break;
		}
		if (k == 0) {
			d = tdiff(seq, pos);
			if (d < 0)
				return 0; /* full: last lap not consumed */
			pos = atomic_load_explicit(&q->tail,
				memory_order_relaxed);
			continue;
		}
		/* Relaxed CAS, as in mpsc_push. Success means tail was still
		** pos, so no other producer holds any of pos .. pos+k-1, and
		** the seq values we read are still current: only a producer
		** holding those tickets could change them. */
		if (atomic_compare_exchange_weak_explicit(&q->tail, &pos,
		    pos + k, memory_order_relaxed, memory_order_relaxed)) {
			*first = pos;
			return k;
		}
	}
}

size_t mpsc_push_batch(struct mpsc *q, void *const *items, size_t n)
{
	size_t done = 0, k, pos, i;

	while (done < n) {
		k = reserve(q, n - done, &pos);
		if (k == 0)
			break;
		/* Publish in ticket order so the consumer, which stops at
		** the first unpublished cell, can start on the head of the
		** batch while we fill the rest. */
		for (i = 0; i < k; i++) {
			struct cell *c = &q->cells[(pos + i) & q->mask];
			c->data = items[done + i];
			/* Release: the data store is visible to the consumer
			** once it acquires seq == pos + i + 1. */
			atomic_store_explicit(&c->seq, pos + i + 1,
				memory_order_release);
		}
		done += k;
	}
	return done;
}

size_t mpsc_pop_batch(struct mpsc *q, void **out, size_t max)
{
	size_t head = q->head, cap = q->mask + 1, n = 0, seq;

	while (n < max) {
		struct cell *c = &q->cells[head & q->mask];
		/* Acquire pairs with the producer's release of seq = head+1:
		** its store of data happens before our read. */
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		if (seq != head + 1)
			break; /* empty, or reserved but not yet published */
		out[n++] = c->data;
		/* Release: our read of data above happens before the next
		** lap's producer (which acquires seq == head + cap) writes
		** the cell again. */
		atomic_store_explicit(&c->seq, head + cap,
			memory_order_release);
		head++;
	}
	q->head = head;
	return n;
}

int mpsc_empty(const struct mpsc *q)
{
	const struct cell *c = &q->cells[q->head & q->mask];

	/* Relaxed: no data is read on the strength of this load; a caller
	** that goes on to pop re-reads seq with acquire in mpsc_pop_batch. */
	return atomic_load_explicit(&c->seq, memory_order_relaxed) !=
		q->head + 1;
}
