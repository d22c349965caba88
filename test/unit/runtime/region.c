/*
** test/unit/runtime/region.c: a big process's own memory.
**
** Blocks are 8-byte aligned, disjoint and owned by their region; a block
** given back is handed out again for its class; a region grows a step at
** a time up to its span and then says so with NULL; the bounds of
** region_owns are exact; the slab pool under it spreads the rest of a
** chunk over smaller classes. Then the point of a region: a process-sized
** heap of small blocks is resident while the region lives and gone from
** the RSS once region_free unmaps it.
*/
#include "runtime/region.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void blocks(void)
{
	struct region *r = region_new(3u << 20);
	int aligned = 1, owned = 1, disjoint = 1;
	char *b[512];

	ok(r != NULL, "a 3 MiB region");
	ok(!region_owns(r, r) && !region_owns(r, NULL), "owns nothing outside");
	ok(!region_owns(r, r->end) && !region_owns(r, r->base - 1) &&
	   region_owns(r, r->base) && region_owns(r, r->end - 1), "bounds are exact");
	for (int i = 0; i < 512; i++) {
		size_t n = 1 + (size_t)i % SLAB_MAX;
		b[i] = region_alloc(r, n);
		if (b[i] == NULL || ((uintptr_t)b[i] & 7))
			aligned = 0;
		if (b[i] == NULL || !region_owns(r, b[i]) || !region_owns(r, b[i] + n - 1))
			owned = 0;
		if (b[i])
			memset(b[i], i & 0xff, n);
	}
	for (int i = 0; i < 512; i++) {
		size_t n = 1 + (size_t)i % SLAB_MAX;
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)b[i][k] != (i & 0xff))
				disjoint = 0;
	}
	ok(aligned, "every block 8-byte aligned");
	ok(owned, "every byte of every block owned");
	ok(disjoint, "blocks do not overlap");

	char *x = b[100];
	region_put(r, x, 1 + 100 % SLAB_MAX);
	ok(region_alloc(r, 1 + 100 % SLAB_MAX) == x, "a block given back is reused for its class");

	/* Fill the span: 3 MiB of SLAB_MAX-byte blocks, less what the
	** first 512 took. */
	size_t n = 0, most = (3u << 20) / SLAB_MAX;
	while (region_alloc(r, SLAB_MAX) != NULL)
		n++;
	ok(n > most * 8 / 10 && n < most, "the span fills (%zu more blocks of %d)", n, SLAB_MAX);
	ok(region_alloc(r, SLAB_MAX) == NULL, "a full region hands out NULL");
	ok(r->usable == r->end, "every step was made usable");
	/* The rest of the last step went to smaller classes. */
	region_free(r);
	ok(1, "freed");
	region_free(NULL);
	ok(1, "freeing NULL is harmless");
}

static void pool_rest(void)
{
	struct slab_pool sp;
	static _Alignas(8) char mem[1000], mem2[64];

	memset(&sp, 0, sizeof(sp));
	ok(slab_pool_take(&sp, 8) == NULL, "an empty pool: NULL");
	slab_pool_refill(&sp, mem, sizeof(mem));
	ok(slab_pool_take(&sp, 504) == mem, "carved from the chunk");
	ok(slab_pool_take(&sp, 512) == NULL, "496 bytes left: a 512 does not fit");
	slab_pool_refill(&sp, mem2, sizeof(mem2));
	/* The 496 left went to class 62 (496 bytes). */
	ok(slab_pool_take(&sp, 496) == mem + 504, "the rest of the old chunk serves its class");
	ok(slab_pool_take(&sp, 64) == mem2, "the new chunk serves the rest");
}

static void comes_back(void)
{
	size_t span = 256u << 20, used = 0;
	struct region *r = region_new(span);
	long before = rss_kb();

	ok(r != NULL, "a 256 MiB region");
	while (used < (200u << 20)) {
		char *q = region_alloc(r, 64);
		if (q == NULL)
			break;
		memset(q, 1, 64);
		used += 64;
	}
	long during = rss_kb();
	ok(used >= (200u << 20), "200 MiB of 64-byte blocks");
	ok(during - before > 190 * 1024, "resident while it lives (+%ld kB)", during - before);
	region_free(r);
	long after = rss_kb();
	ok(after - before < 4 * 1024, "gone after region_free (%+ld kB)", after - before);
}

int main(void)
{
	blocks();
	pool_rest();
	comes_back();
	return tap_done();
}
