/*
** test/unit/runtime/slab.c: the small-object allocator behind the Lua
** heaps.
**
** Every size up to SLAB_MAX gets an 8-byte aligned block that does not
** overlap another; a freed block is handed out again for its class; sizes
** past SLAB_MAX and resizes across the bound keep their bytes. A thread's
** first chunk starts a span aligned to 2 MiB (where huge pages can back
** it), and blocks keep coming past the end of the first span. Then several
** threads at once, each checking that no other thread wrote into its
** blocks.
*/
#include "runtime/slab.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define SPAN_BYTES (2u << 20)

static void sizes(void)
{
	static char *b[SLAB_MAX + 1];
	int aligned = 1, disjoint = 1, kept = 1;

	for (size_t n = 1; n <= SLAB_MAX; n++) {
		b[n] = slab_alloc(n);
		memset(b[n], (int)(n & 0xff), n);
		aligned &= ((uintptr_t)b[n] & 7) == 0;
	}
	for (size_t n = 1; n <= SLAB_MAX; n++)
		for (size_t i = 0; i < n; i++)
			kept &= (unsigned char)b[n][i] == (n & 0xff);
	/* Sorted by address, each block ends before the next begins. */
	for (size_t n = 1; n <= SLAB_MAX && disjoint; n++)
		for (size_t m = n + 1; m <= SLAB_MAX; m++)
			if (b[n] < b[m] + m && b[m] < b[n] + n) {
				disjoint = 0;
				break;
			}
	ok(aligned, "every block 8-byte aligned");
	ok(kept, "every block keeps its bytes (no overlap wrote into it)");
	ok(disjoint, "blocks of sizes 1..%d do not overlap", SLAB_MAX);

#ifndef SLAB_BYPASS
	char *x = b[1000];
	slab_free(x, 1000);
	ok(slab_alloc(1000) == x, "a freed block is reused for its class");
	slab_free(x, 1000);
	ok(slab_alloc(996) == x, "by any size of that class (996 and 1000: 125 words)");
	b[1000] = x;
#endif
	for (size_t n = 1; n <= SLAB_MAX; n++)
		slab_free(b[n], n);

	char *big = slab_alloc(SLAB_MAX + 1);
	memset(big, 7, SLAB_MAX + 1);
	char *grown = slab_realloc(big, SLAB_MAX + 1, 3 * SLAB_MAX);
	ok(grown && grown[0] == 7 && grown[SLAB_MAX] == 7, "past SLAB_MAX: malloc's, resized with its bytes");
	char *small = slab_realloc(grown, 3 * SLAB_MAX, 100);
	ok(small && small[0] == 7 && small[99] == 7, "resized down into the slab with its bytes");
	char *up = slab_realloc(small, 100, SLAB_MAX + 8);
	ok(up && up[0] == 7 && up[99] == 7, "and back out of it");
	slab_free(up, SLAB_MAX + 8);
}

/* In a thread of its own, so its pool is fresh. */
static void *spans_thread(void *arg)
{
	int *res = arg;
	char *first = slab_alloc(SLAB_MAX);
	size_t nblocks = 3 * SPAN_BYTES / SLAB_MAX;
	char **v = malloc(nblocks * sizeof(*v));
	int ordered = 1;

#ifndef SLAB_BYPASS
	res[0] = ((uintptr_t)first & (SPAN_BYTES - 1)) == 0;
#else
	res[0] = 1;
#endif
	/* 3 spans' worth: every block writable and distinct. Each holds its
	** own index and a fill; a block handed out twice would hold the
	** later index. */
	for (size_t i = 0; i < nblocks; i++) {
		v[i] = slab_alloc(SLAB_MAX);
		if (v[i] == NULL) {
			ordered = 0;
			break;
		}
		memcpy(v[i], &i, sizeof(i));
		memset(v[i] + sizeof(i), 0x5a, SLAB_MAX - sizeof(i));
	}
	for (size_t i = 0; i < nblocks && ordered; i++) {
		size_t self;
		memcpy(&self, v[i], sizeof(self));
		ordered &= self == i && (unsigned char)v[i][SLAB_MAX - 1] == 0x5a;
	}
	res[1] = ordered;
	for (size_t i = 0; i < nblocks; i++)
		slab_free(v[i], SLAB_MAX);
	slab_free(first, SLAB_MAX);
	free(v);
	return NULL;
}

static void spans(void)
{
	pthread_t t;
	int res[2] = {0, 0};
	pthread_create(&t, NULL, spans_thread, res);
	pthread_join(t, NULL);
	ok(res[0], "a fresh thread's first block starts a 2 MiB aligned span");
	ok(res[1], "3 spans' worth of %d-byte blocks, each its own", SLAB_MAX);
}

/* Many threads at once: each fills blocks of mixed sizes with its own
** mark, frees some and allocates again, and checks its marks each round. */
#define THREADS 8
#define LIVE 2000
#define ROUNDS 50

static void *mixed_thread(void *arg)
{
	int id = (int)(intptr_t)arg, clean = 1;
	char *v[LIVE];
	size_t sz[LIVE];
	unsigned seed = (unsigned)id * 2654435761u;

	for (int i = 0; i < LIVE; i++) {
		sz[i] = 1 + (seed = seed * 1103515245u + 12345u) % SLAB_MAX;
		v[i] = slab_alloc(sz[i]);
		memset(v[i], id, sz[i]);
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < LIVE; i++)
			for (size_t k = 0; k < sz[i]; k += 61)
				clean &= v[i][k] == (char)id;
		for (int i = r & 1; i < LIVE; i += 2) {
			slab_free(v[i], sz[i]);
			sz[i] = 1 + (seed = seed * 1103515245u + 12345u) % SLAB_MAX;
			v[i] = slab_alloc(sz[i]);
			memset(v[i], id, sz[i]);
		}
	}
	for (int i = 0; i < LIVE; i++)
		slab_free(v[i], sz[i]);
	return (void *)(intptr_t)clean;
}

static void threads(void)
{
	pthread_t t[THREADS];
	int clean = 1;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, mixed_thread, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		clean &= (int)(intptr_t)r;
	}
	ok(clean, "%d threads x %d live blocks x %d rounds: no thread saw another's bytes",
	   THREADS, LIVE, ROUNDS);
}

int main(void)
{
	sizes();
	spans();
	threads();
	return tap_done();
}
