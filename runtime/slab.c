/*
** runtime/slab.c: see slab.h. Thread-local state only; no locks.
**
** Under AddressSanitizer (SLAB_BYPASS, slab.h) every call goes to
** malloc/free so that the sanitizer still sees each Lua block.
*/
#include "slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

#define CLASSES (SLAB_MAX / 8)
#define CHUNK   (64 * 1024)

struct freeblk { struct freeblk *next; };

struct pool {
	struct freeblk *free[CLASSES + 1];
	char *chunk;   /* carve position in the current chunk */
	size_t left;   /* bytes left in it */
};

static __thread struct pool pool;

static inline size_t cls(size_t n) { return (n + 7) >> 3; }

void *slab_alloc(size_t n)
{
#ifdef SLAB_BYPASS
	return malloc(n);
#else
	if (n > SLAB_MAX)
		return malloc(n);
	size_t c = cls(n), sz = c << 3;
	struct freeblk *b = pool.free[c];
	if (b) {
		pool.free[c] = b->next;
		return b;
	}
	if (pool.left < sz) {
		/* The rest of the old chunk is lost to this class but not
		** wasted: put what fits into the free lists of smaller ones. */
		while (pool.left >= 8) {
			size_t k = cls(pool.left) > CLASSES ? CLASSES : pool.left >> 3;
			struct freeblk *f = (struct freeblk *)pool.chunk;
			f->next = pool.free[k];
			pool.free[k] = f;
			pool.chunk += k << 3;
			pool.left -= k << 3;
		}
		pool.chunk = malloc(CHUNK);
		if (pool.chunk == NULL) {
			pool.left = 0;
			return NULL;
		}
		pool.left = CHUNK;
	}
	void *p = pool.chunk;
	pool.chunk += sz;
	pool.left -= sz;
	return p;
#endif
}

void slab_free(void *p, size_t n)
{
#ifdef SLAB_BYPASS
	(void)n;
	free(p);
#else
	if (p == NULL)
		return;
	if (n > SLAB_MAX) {
		free(p);
		return;
	}
	struct freeblk *b = p;
	size_t c = cls(n);
	b->next = pool.free[c];
	pool.free[c] = b;
#endif
}

void *slab_realloc(void *p, size_t o, size_t n)
{
#ifdef SLAB_BYPASS
	(void)o;
	return realloc(p, n);
#else
	if (o > SLAB_MAX && n > SLAB_MAX)
		return realloc(p, n);
	if (o <= SLAB_MAX && n <= SLAB_MAX && cls(o) == cls(n))
		return p;
	void *q = slab_alloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, o < n ? o : n);
	slab_free(p, o);
	return q;
#endif
}
