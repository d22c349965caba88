/*
** test/unit/runtime/reaper.c: big states closed off their thread, and the
** slab's spill that gives their blocks back.
**
** Spill: four threads allocate and free through their slabs while a fifth
** gives them blocks through the spill, many times over; every block a
** consumer gets is its own (a tag written into it reads back unchanged)
** and the given blocks are all taken in the end. Reaper: four threads each
** build Lua states whose small blocks are partly on the slab and partly in
** a region, and hand them to the reaper at once; after reaper_drain every
** state is closed (its region unmapped: the RSS comes back). Run under
** SANITIZER=thread for the races.
*/
#include "runtime/reaper.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

#define ROUNDS 200
#define GIVE 256

static inline long rss_kb(void)
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

/* {==== Spill ====} */

static char *given_mem;
static int consumer_bad;

static void *giver(void *arg)
{
	(void)arg;
	for (int r = 0; r < ROUNDS; r++) {
		struct slab_spill s;
		memset(&s, 0, sizeof(s));
		for (int i = 0; i < GIVE; i++)
			slab_spill_put(&s, given_mem + ((size_t)r * GIVE + i) * 64, 64);
		slab_spill_give(&s);
		if (s.n != 0)
			__atomic_store_n(&consumer_bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	uintptr_t tag = (uintptr_t)arg;
	void *held[64];

	for (int r = 0; r < ROUNDS * 20; r++) {
		for (int i = 0; i < 64; i++) {
			held[i] = slab_alloc(64);
			memset(held[i], (int)tag, 64);
		}
		for (int i = 0; i < 64; i++) {
			unsigned char *b = held[i];
			for (int k = 8; k < 64; k++)
				if (b[k] != (unsigned char)tag)
					__atomic_store_n(&consumer_bad, 1, __ATOMIC_RELAXED);
			slab_free(held[i], 64);
		}
	}
	return NULL;
}

static void spill(void)
{
	pthread_t g, c[4];

	given_mem = calloc((size_t)ROUNDS * GIVE, 64);
	pthread_create(&g, NULL, giver, NULL);
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&c[i], NULL, consumer, (void *)(i + 1));
	pthread_join(g, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(c[i], NULL);
	ok(!consumer_bad, "4 threads allocating while a fifth gives %d spills: every block its owner's",
	   ROUNDS);
	/* given_mem stays: its blocks are in the slabs' lists now. */
}

/* }==== Reaper ====*/

#ifndef SLAB_BYPASS

struct heap { struct region *r; size_t used; };

/* proc.c's rule in small: slab until 1 MiB, the region's after. */
static void *halloc(void *ud, void *ptr, size_t o, size_t n)
{
	struct heap *h = ud;
	if (ptr == NULL)
		o = 0;
	if (n == 0) {
		if (h->r && region_owns(h->r, ptr))
			region_put(h->r, ptr, o);
		else
			slab_free(ptr, o);
		h->used -= o;
		return NULL;
	}
	void *q = NULL;
	if (n <= SLAB_MAX && h->used >= REGION_AFTER) {
		if (h->r == NULL)
			h->r = region_new(256u << 20);
		q = region_alloc(h->r, n);
	}
	if (q == NULL) {
		if (ptr && !(h->r && region_owns(h->r, ptr)))
			q = slab_realloc(ptr, o, n);
		else if ((q = slab_alloc(n)) != NULL && ptr) {
			memcpy(q, ptr, o < n ? o : n);
			region_put(h->r, ptr, o);
		}
		if (q == NULL)
			return NULL;
	} else if (ptr) {
		memcpy(q, ptr, o < n ? o : n);
		if (h->r && region_owns(h->r, ptr))
			region_put(h->r, ptr, o);
		else
			slab_free(ptr, o);
	}
	h->used += n - o;
	return q;
}

static int handed;

static void *builder(void *arg)
{
	(void)arg;
	for (int k = 0; k < 3; k++) {
		struct heap h = { 0 };
		struct arena a = { 0 };
		lua_State *L = lua_newstate(halloc, &h);
		luaL_openlibs(L);
		/* ~24 MB of small tables and strings, and one large array. */
		if (luaL_dostring(L, "t = {} for i = 1, 150000 do t[i] = {i, tostring(i)} end") != LUA_OK)
			return NULL;
		if (h.r == NULL)
			return NULL;
		if (reaper_close(L, h.r, &a, true))
			__atomic_add_fetch(&handed, 1, __ATOMIC_RELAXED);
		else
			lua_close(L);
	}
	return NULL;
}

static void reaper(void)
{
	pthread_t b[4];
	long before = rss_kb();

	for (int i = 0; i < 4; i++)
		pthread_create(&b[i], NULL, builder, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(b[i], NULL);
	reaper_drain();
	long after = rss_kb();
	ok(handed == 12, "12 states from 4 threads handed to the reaper (%d)", handed);
	ok(after - before < 64 * 1024, "all closed after reaper_drain: RSS %+ld kB", after - before);
	reaper_drain();
	ok(1, "draining an idle reaper returns");
}
#endif

int main(void)
{
	spill();
#ifndef SLAB_BYPASS
	reaper();
#endif
	return tap_done();
}
