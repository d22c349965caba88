/*
** runtime/region.c: see region.h.
*/
#include "region.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Made usable 1 MiB at a time: a step is one mprotect, and adjacent
** read-write steps merge into one mapping. */
#define STEP (1u << 20)

struct region *region_new(size_t size)
{
	struct region *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	size = (size + STEP - 1) & ~(size_t)(STEP - 1);
	void *base = mmap(NULL, size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		free(r);
		return NULL;
	}
	r->base = r->usable = base;
	r->end = r->base + size;
	return r;
}

void region_free(struct region *r)
{
	if (r == NULL)
		return;
	munmap(r->base, (size_t)(r->end - r->base));
	free(r);
}

void *region_alloc(struct region *r, size_t n)
{
	void *p = slab_pool_take(&r->pool, n);
	if (p != NULL || r->usable == r->end)
		return p;
	if (mprotect(r->usable, STEP, PROT_READ | PROT_WRITE) != 0)
		return NULL;
	slab_pool_refill(&r->pool, r->usable, STEP);
	r->usable += STEP;
	return slab_pool_take(&r->pool, n);
}
