/*
** runtime/slab.c: see slab.h. Thread-local state only; no locks.
**
** Under AddressSanitizer (SLAB_BYPASS, slab.h) every call goes to
** malloc/free so that the sanitizer still sees each Lua block.
**
** The shared spill is the one lock here, taken only by a thread that gives
** (once per closed state) and by one that finds it non-empty when a class
** of its own is (spill_ready, read without the lock, says when to look).
*/
#include "slab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

#define CHUNK   (64 * 1024)

void *slab_pool_take(struct slab_pool *sp, size_t n)
{
	size_t c = slab_class(n), sz = c << 3;
	struct slab_block *b = sp->free[c];

	if (b) {
		sp->free[c] = b->next;
		return b;
	}
	if (sp->left < sz)
		return NULL;
	void *p = sp->chunk;
	sp->chunk += sz;
	sp->left -= sz;
	return p;
}

void slab_pool_refill(struct slab_pool *sp, void *chunk, size_t size)
{
	/* The rest of the old chunk is lost to the class that asked but not
	** wasted: put what fits into the free lists of smaller ones. */
	while (sp->left >= 8) {
		size_t k = slab_class(sp->left) > SLAB_CLASSES ? SLAB_CLASSES : sp->left >> 3;
		slab_pool_put(sp, sp->chunk, k << 3);
		sp->chunk += k << 3;
		sp->left -= k << 3;
	}
	sp->chunk = chunk;
	sp->left = size;
}

static pthread_mutex_t spill_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab_spill spill;
static atomic_int spill_ready;

void slab_spill_give(struct slab_spill *s)
{
	if (s->n == 0)
		return;
	pthread_mutex_lock(&spill_lock);
	for (size_t c = 0; c <= SLAB_CLASSES; c++) {
		if (s->head[c] == NULL)
			continue;
		s->tail[c]->next = spill.head[c];
		if (spill.head[c] == NULL)
			spill.tail[c] = s->tail[c];
		spill.head[c] = s->head[c];
		s->head[c] = s->tail[c] = NULL;
	}
	spill.n += s->n;
	s->n = 0;
	atomic_store_explicit(&spill_ready, 1, memory_order_release);
	pthread_mutex_unlock(&spill_lock);
}

#ifndef SLAB_BYPASS
static __thread struct slab_pool pool;

/* Chunks come from spans of SPAN bytes aligned to SPAN and advised for
** transparent huge pages: a worker of a mass spawn touches about three
** fresh pages, and faulting them in 4 KiB at a time was a third of the
** CPU of starting a million (bench/mass_spawn.sh); one 2 MiB fault
** replaces 512. Where THP is off the advice is ignored and the span faults
** in 4 KiB pages as malloc's memory did. */
#define SPAN (2u << 20)
static __thread char *span_cur, *span_end;

static void *chunk_new(void)
{
	if (span_cur == span_end) {
		/* Map twice the span and trim to an aligned one. */
		char *m = mmap(NULL, 2 * SPAN, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return malloc(CHUNK);
		char *a = (char *)(((uintptr_t)m + SPAN - 1) & ~(uintptr_t)(SPAN - 1));
		if (a > m)
			munmap(m, (size_t)(a - m));
		if (a + SPAN < m + 2 * SPAN)
			munmap(a + SPAN, (size_t)(m + 2 * SPAN - (a + SPAN)));
		(void)madvise(a, SPAN, MADV_HUGEPAGE);
		span_cur = a;
		span_end = a + SPAN;
	}
	void *c = span_cur;
	span_cur += CHUNK;
	return c;
}

/* Take the whole shared spill into this thread's pool. */
static void unspill(void)
{
	pthread_mutex_lock(&spill_lock);
	for (size_t c = 0; c <= SLAB_CLASSES; c++) {
		if (spill.head[c] == NULL)
			continue;
		spill.tail[c]->next = pool.free[c];
		pool.free[c] = spill.head[c];
		spill.head[c] = spill.tail[c] = NULL;
	}
	spill.n = 0;
	atomic_store_explicit(&spill_ready, 0, memory_order_relaxed);
	pthread_mutex_unlock(&spill_lock);
}
#endif

void *slab_alloc(size_t n)
{
#ifdef SLAB_BYPASS
	return malloc(n);
#else
	if (n > SLAB_MAX)
		return malloc(n);
	void *p = slab_pool_take(&pool, n);
	if (p == NULL && atomic_load_explicit(&spill_ready, memory_order_acquire)) {
		unspill();
		p = slab_pool_take(&pool, n);
	}
	if (p == NULL) {
		void *chunk = chunk_new();
		if (chunk == NULL)
			return NULL;
		slab_pool_refill(&pool, chunk, CHUNK);
		p = slab_pool_take(&pool, n);
	}
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
	if (n > SLAB_MAX)
		free(p);
	else
		slab_pool_put(&pool, p, n);
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
	if (slab_same_class(o, n))
		return p;
	void *q = slab_alloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, o < n ? o : n);
	slab_free(p, o);
	return q;
#endif
}
