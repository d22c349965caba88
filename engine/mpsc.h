/*
** engine/mpsc.h: a bounded, lock-free multi-producer single-consumer ring of
** pointers. One per shard is its inbox: any thread may push, only the owning
** shard pops.
**
** Guarantees: nothing is lost or duplicated; items pushed by one producer are
** popped in the order that producer pushed them. Items from different
** producers interleave. Producers never block: a full ring returns -EAGAIN
** and the caller decides (retry later, spill to a local list).
*/
#ifndef ENGINE_MPSC_H
#define ENGINE_MPSC_H

#include <stddef.h>

struct mpsc; /* opaque */

/* Create a ring holding at least `cap` items (rounded up to a power of two,
** at least 2). Never returns NULL (aborts on out of memory). */
struct mpsc *mpsc_create(size_t cap);

/* Free the ring. Items still queued are not touched: the caller drains first
** if they own memory. No producer may be pushing concurrently. */
void mpsc_destroy(struct mpsc *q);

/* Push one non-NULL item. Any thread. Returns 0, or -EAGAIN when the ring is
** full (the item stays owned by the caller). */
int mpsc_push(struct mpsc *q, void *item);

/* Push up to n items in order with one reservation where possible. Returns
** the number pushed (0..n); items [ret, n) stay with the caller. Any thread.
** The pushed prefix keeps its order relative to this producer's other pushes. */
size_t mpsc_push_batch(struct mpsc *q, void *const *items, size_t n);

/* Pop up to max items into out[], oldest first. Consumer thread only.
** Returns the number popped (0 when empty). An item whose producer has
** reserved its slot but not yet published it ends the batch: it is returned
** by a later call, never skipped. */
size_t mpsc_pop_batch(struct mpsc *q, void **out, size_t max);

/* True when no item is visible to the consumer. Consumer thread only; a
** producer may be publishing concurrently, so "empty" is a snapshot. */
int mpsc_empty(const struct mpsc *q);

#endif
