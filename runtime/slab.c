/*
** runtime/slab.c: see slab.h. Owns the per-state free lists, the chunk
** cache of each thread and the spans behind them; it knows nothing of
** processes (runtime/proc.c calls it from the state's lua_Alloc).
**
** Invariants:
**   - a chunk is either in exactly one slab's list (_chunks), or in
**     exactly one thread's cache (warm or cold), or not yet carved from
**     its thread's span;
**   - a warm chunk's pages may be resident, a cold one's are not (given
**     back with MADV_DONTNEED, or never touched), so a cold chunk's
**     pointer lives in a vector, never inside the chunk;
**   - spans are never unmapped: giving pages back keeps the mapping, so
**     the number of kernel mappings does not grow as chunks come and go.
** No locks, no atomics: a slab is used by one thread at a time (its
** process's), a cache only by its own thread.
**
** Under AddressSanitizer (SLAB_BYPASS, slab.h) every call goes to
** malloc/free so that the sanitizer still sees each Lua block.
*/
#include "slab.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/common.h"

#define CLASSES (SLAB_MAX / 8)

/* Large bytes freed on a thread before its next slab_release trims
** glibc's heaps: a trim walks every heap, so it is paid at most once per
** this much memory returned, and never by processes that free little. */
#define TRIM_BYTES (32u << 20)

struct freeblk { struct freeblk *next; };

struct slab_chunk {
	struct slab_chunk *next;
	size_t pad;        /* keeps what follows 16-byte aligned */
};

struct slab_heads {
	struct freeblk *free[CLASSES + 1];
};

struct cache {
	struct slab_chunk *warm[SLAB_KEEP];
	size_t nwarm;
	void **cold;       /* xrealloc'd vector: pages not resident */
	size_t ncold, capcold;
	char *span;        /* uncarved rest of the newest span */
	size_t span_left;
	size_t big_freed;  /* large bytes freed since the last trim */
};

static __thread struct cache cache;

static inline size_t cls(size_t n) { return (n + 7) >> 3; }

/* {==== Chunks ====} */

/* Pages of [lo, hi) back to the system. Failure (there is none for a
** private anonymous mapping) would only leave them resident. */
static void give_back(char *lo, char *hi)
{
	if (hi > lo)
		(void)madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
}

#ifndef SLAB_BYPASS
/* A chunk, from this thread's cache or a span; NULL when the system
** has no memory left. */
static struct slab_chunk *chunk_get(void)
{
	struct cache *c = &cache;

	if (c->nwarm > 0)
		return c->warm[--c->nwarm];
	if (c->ncold > 0)
		return c->cold[--c->ncold];
	if (c->span_left < SLAB_CHUNK) {
		/* NORESERVE: a span is address space; only touched pages
		** count, as for malloc's own heaps. */
		void *m = mmap(NULL, SLAB_SPAN, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		c->span = m;
		c->span_left = SLAB_SPAN;
	}
	struct slab_chunk *k = (struct slab_chunk *)c->span;
	c->span += SLAB_CHUNK;
	c->span_left -= SLAB_CHUNK;
	return k;
}


/* Add one more chunk to s: the rest of the current one goes to the free
** lists of the classes it still fits. 0, or -1 out of memory. */
static int grow(struct slab *s)
{
	struct slab_heads *h = s->_heads;

	while (s->_left >= 8) {
		size_t k = cls(s->_left) > CLASSES ? CLASSES : s->_left >> 3;
		struct freeblk *f = (struct freeblk *)s->_cur;
		f->next = h->free[k];
		h->free[k] = f;
		s->_cur += k << 3;
		s->_left -= k << 3;
	}
	struct slab_chunk *k = chunk_get();
	if (k == NULL)
		return -1;
	k->next = s->_chunks;
	s->_chunks = k;
	s->_nchunks++;
	s->_cur = (char *)(k + 1);
	s->_left = SLAB_CHUNK - sizeof(*k);
	return 0;
}

/* The first chunk also holds the free lists. */
static int start(struct slab *s)
{
	s->_left = 0;
	s->_chunks = NULL;
	s->_nchunks = 0;
	struct slab_chunk *k = chunk_get();
	if (k == NULL)
		return -1;
	k->next = NULL;
	s->_chunks = k;
	s->_nchunks = 1;
	s->_heads = (struct slab_heads *)(k + 1);
	memset(s->_heads, 0, sizeof(*s->_heads));
	s->_cur = (char *)(s->_heads + 1);
	s->_left = SLAB_CHUNK - sizeof(*k) - sizeof(*s->_heads);
	return 0;
}
#endif

/* {==== Blocks ====} */

void *slab_alloc(struct slab *s, size_t n)
{
#ifdef SLAB_BYPASS
	(void)s;
	return malloc(n);
#else
	if (n > SLAB_MAX)
		return malloc(n);
	if (s->_heads == NULL && start(s) < 0)
		return NULL;
	size_t c = cls(n), sz = c << 3;
	struct freeblk *b = s->_heads->free[c];
	if (b) {
		s->_heads->free[c] = b->next;
		return b;
	}
	if (s->_left < sz && grow(s) < 0)
		return NULL;
	void *p = s->_cur;
	s->_cur += sz;
	s->_left -= sz;
	return p;
#endif
}

void slab_free(struct slab *s, void *p, size_t n)
{
#ifdef SLAB_BYPASS
	(void)s;
	(void)n;
	free(p);
#else
	if (p == NULL)
		return;
	if (n > SLAB_MAX) {
		cache.big_freed += n;
		free(p);
		return;
	}
	struct freeblk *b = p;
	size_t c = cls(n);
	b->next = s->_heads->free[c];
	s->_heads->free[c] = b;
#endif
}

void *slab_realloc(struct slab *s, void *p, size_t o, size_t n)
{
#ifdef SLAB_BYPASS
	(void)s;
	(void)o;
	return realloc(p, n);
#else
	if (o > SLAB_MAX && n > SLAB_MAX) {
		void *q = realloc(p, n);
		if (q != NULL && n < o)
			cache.big_freed += o - n;
		return q;
	}
	if (o <= SLAB_MAX && n <= SLAB_MAX && cls(o) == cls(n))
		return p;
	void *q = slab_alloc(s, n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, o < n ? o : n);
	slab_free(s, p, o);
	return q;
#endif
}

/* {==== Release ====} */

void slab_release(struct slab *s)
{
	struct cache *c = &cache;
	struct slab_chunk *k = s->_chunks;
	char *lo = NULL, *hi = NULL;   /* a run of adjacent cold chunks */

	if (c->ncold + s->_nchunks > c->capcold) {
		c->capcold = (c->ncold + s->_nchunks) * 2;
		c->cold = xrealloc(c->cold, c->capcold * sizeof(*c->cold));
	}
	while (k != NULL) {
		struct slab_chunk *next = k->next;
		char *a = (char *)k;
		if (c->nwarm < SLAB_KEEP) {
			c->warm[c->nwarm++] = k;
		} else {
			/* Chunks carved one after another are adjacent and
			** listed newest first: one madvise for the run. */
			if (a + SLAB_CHUNK == lo) {
				lo = a;
			} else if (a == hi) {
				hi = a + SLAB_CHUNK;
			} else {
				give_back(lo, hi);
				lo = a;
				hi = a + SLAB_CHUNK;
			}
			c->cold[c->ncold++] = k;
		}
		k = next;
	}
	give_back(lo, hi);
	memset(s, 0, sizeof(*s));
#ifndef SLAB_BYPASS
	if (c->big_freed >= TRIM_BYTES) {
		c->big_freed = 0;
		malloc_trim(0);
	}
#endif
}

void slab_cache_counts(size_t *warm, size_t *cold)
{
	*warm = cache.nwarm;
	*cold = cache.ncold;
}
