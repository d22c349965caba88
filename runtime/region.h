/*
** runtime/region.h: a big process's own memory for its small blocks.
**
** The shard's slab (slab.h) keeps every chunk it carves, which costs
** nothing for the many small processes that reuse them, but a process that
** grew to hundreds of megabytes would leave them all behind with the
** shard when it ends. So once a process's heap passes REGION_AFTER,
** runtime/proc.c gives it a region: one span of address space reserved
** for it alone (PROT_NONE, so it costs no memory and no commit charge),
** made usable a step at a time as it fills, with a slab pool of its own
** over it. Blocks of up to SLAB_MAX bytes come from there; larger ones
** stay with malloc. When the process ends the span is unmapped, so its
** small blocks go back to the system at once.
**
** A block is known to be the region's by its address (region_owns), so
** the process's older blocks, on the slab or in its arena, still go back
** where they came from. A full region hands out nothing more and the slab
** serves.
**
** Not thread-safe: used by whichever thread runs the process, one at a
** time, like the rest of its state.
*/
#ifndef RUNTIME_REGION_H
#define RUNTIME_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "slab.h"

#define REGION_AFTER (1u << 20) /* heaps past this get a region */

struct region {
	char *base;             /* the reserved span */
	char *usable;           /* end of what is read-write */
	char *end;              /* end of the span */
	struct slab_pool pool;  /* over [base, usable) */
};

/* Reserve size bytes of address space (rounded up to the step) for a new
** region. Returns it, or NULL when no memory or no address space. */
struct region *region_new(size_t size);

/* Unmap the span and free r; every block of r is gone. NULL is a no-op. */
void region_free(struct region *r);

/* Is p one of r's blocks? */
static inline int region_owns(const struct region *r, const void *p)
{
	return (uintptr_t)p - (uintptr_t)r->base < (uintptr_t)(r->end - r->base);
}

/* A block of n (0 < n <= SLAB_MAX) bytes, or NULL when r is full or the
** next step cannot be made usable. */
void *region_alloc(struct region *r, size_t n);

/* Give back a block of r of size n <= SLAB_MAX. */
static inline void region_put(struct region *r, void *p, size_t n)
{
	slab_pool_put(&r->pool, p, n);
}

#endif
