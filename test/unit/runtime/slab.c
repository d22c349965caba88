/*
** test/unit/runtime/slab.c: the per-state small-block allocator.
**
** Blocks of every size are disjoint and keep what is written in them; a
** freed block is reused by its own slab; realloc keeps the contents across
** classes and into malloc's sizes. slab_release hands every chunk to the
** releasing thread's cache, SLAB_KEEP warm and the rest cold, and a cold
** chunk's pages really leave the RSS. A slab filled on one thread is freed
** and released on another (a process that moved shards) and both threads
** go on allocating. A Lua state lives on a slab. Past the address-space
** limit slab_alloc says NULL instead of crashing. Under AddressSanitizer
** (SLAB_BYPASS) only the checks that hold for plain malloc run.
*/
#include "runtime/slab.c"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

#define NB 4000

static size_t size_of(int i) { return (size_t)(i * 7 % 600) + 1; }

/* Every block gets its index written all over it; none may be clobbered. */
static void blocks(void)
{
	static struct slab s;
	static unsigned char *p[NB];
	int bad = 0;

	for (int i = 0; i < NB; i++) {
		p[i] = slab_alloc(&s, size_of(i));
		if (p[i])
			memset(p[i], i & 0xff, size_of(i));
	}
	for (int i = 0; i < NB; i++) {
		if (p[i] == NULL || ((uintptr_t)p[i] & 7))
			bad++;
		else
			for (size_t k = 0; k < size_of(i); k++)
				bad += p[i][k] != (i & 0xff);
	}
	ok(bad == 0, "%d blocks of 1..600 bytes: aligned, disjoint, intact", NB);
#ifndef SLAB_BYPASS
	size_t chunks = s._nchunks;
	for (int i = 0; i < NB; i++)
		slab_free(&s, p[i], size_of(i));
	for (int i = 0; i < NB; i++)
		p[i] = slab_alloc(&s, size_of(i));
	ok(s._nchunks == chunks, "freed blocks are reused: still %zu chunks", chunks);
#endif
	for (int i = 0; i < NB; i++)
		slab_free(&s, p[i], size_of(i));
	slab_free(&s, NULL, 8);
	slab_release(&s);
	ok(s._nchunks == 0 && s._heads == NULL, "released: empty");
	void *q = slab_alloc(&s, 24);
	ok(q != NULL, "an empty slab serves again");
	slab_free(&s, q, 24);
	slab_release(&s);
}

static void resize(void)
{
	struct slab s = {0};
	unsigned char *p = slab_alloc(&s, 10);
	memcpy(p, "0123456789", 10);
	p = slab_realloc(&s, p, 10, 12);   /* same class: in place or not, kept */
	ok(p && memcmp(p, "0123456789", 10) == 0, "realloc in the class keeps it");
	p = slab_realloc(&s, p, 12, 300);
	ok(p && memcmp(p, "0123456789", 10) == 0, "realloc to a larger class keeps it");
	p = slab_realloc(&s, p, 300, 4000);
	ok(p && memcmp(p, "0123456789", 10) == 0, "realloc to malloc's sizes keeps it");
	p = slab_realloc(&s, p, 4000, 16);
	ok(p && memcmp(p, "0123456789", 10) == 0, "and back into the slab");
	slab_free(&s, p, 16);
	slab_release(&s);
}

#ifndef SLAB_BYPASS
static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* 64 MiB of 64-byte blocks, then release: the cache keeps SLAB_KEEP warm
** chunks and the rest leave the RSS. */
static void give_back_pages(void)
{
	struct slab s = {0};
	size_t warm0, cold0, warm, cold, n = (64u << 20) / 64;

	slab_cache_counts(&warm0, &cold0);
	for (size_t i = 0; i < n; i++)
		memset(slab_alloc(&s, 64), 1, 64);
	size_t chunks = s._nchunks;
	long before = rss_kb();
	slab_release(&s);
	long after = rss_kb();
	slab_cache_counts(&warm, &cold);
	ok(warm == SLAB_KEEP, "%zu warm chunks kept", warm);
	/* The slab took what the cache held (warm0 + cold0 < chunks) and
	** gave back all it had. */
	ok(warm0 + cold0 < chunks && warm + cold == chunks,
	   "every chunk is in the cache (%zu)", warm + cold);
	ok(before - after > 56 * 1024, "RSS %ld kB -> %ld kB after release", before, after);
	/* Cold chunks serve again (zero-filled pages come back on touch). */
	for (size_t i = 0; i < n; i++)
		memset(slab_alloc(&s, 64), 2, 64);
	ok(s._nchunks == chunks, "the cache serves the next slab: %zu chunks", s._nchunks);
	slab_release(&s);
}
#endif

/* A slab filled on one thread, freed and released on another. */
static struct slab moved;
static void *moved_p[NB];

static void *free_there(void *arg)
{
	(void)arg;
	for (int i = 0; i < NB; i++)
		slab_free(&moved, moved_p[i], size_of(i));
	void *q = slab_alloc(&moved, 40);   /* still its own free lists */
	slab_free(&moved, q, 40);
	slab_release(&moved);
	struct slab t = {0};
	for (int i = 0; i < NB; i++)
		memset(moved_p[i] = slab_alloc(&t, size_of(i)), 3, size_of(i));
	for (int i = 0; i < NB; i++)
		slab_free(&t, moved_p[i], size_of(i));
	slab_release(&t);
	return NULL;
}

static void other_thread(void)
{
	pthread_t th;
	for (int i = 0; i < NB; i++)
		memset(moved_p[i] = slab_alloc(&moved, size_of(i)), 4, size_of(i));
	ok(pthread_create(&th, NULL, free_there, NULL) == 0, "thread started");
	pthread_join(th, NULL);
	ok(moved._nchunks == 0, "freed and released on another thread");
	struct slab s = {0};
	int bad = 0;
	for (int i = 0; i < NB; i++) {
		moved_p[i] = slab_alloc(&s, size_of(i));
		bad += moved_p[i] == NULL;
		memset(moved_p[i], 5, size_of(i));
	}
	ok(bad == 0, "and this thread allocates on");
	for (int i = 0; i < NB; i++)
		slab_free(&s, moved_p[i], size_of(i));
	slab_release(&s);
}

static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct slab *s = ud;
	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		slab_free(s, ptr, osize);
		return NULL;
	}
	return ptr ? slab_realloc(s, ptr, osize, nsize) : slab_alloc(s, nsize);
}

static void lua_on_slab(void)
{
	struct slab s = {0};
	lua_State *L = lua_newstate(lalloc, &s);
	ok(L != NULL, "a Lua state on a slab");
	luaL_openlibs(L);
	int st = luaL_dostring(L,
		"local t = {} for i = 1, 20000 do t[i] = {i, tostring(i)} end "
		"t = nil collectgarbage() "
		"local s = {} for i = 1, 2000 do s[#s + 1] = string.rep('x', i) end "
		"return #table.concat(s)");
	ok(st == LUA_OK && lua_tointeger(L, -1) == 2000 * 2001 / 2,
	   "it runs, collects and grows strings");
	lua_close(L);
	slab_release(&s);
}

#ifndef SLAB_BYPASS
/* Past RLIMIT_AS a slab says NULL; in a child, which has a copy of the
** cache: empty it first so that new spans must be mapped. */
static void out_of_memory(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl;
		cache.nwarm = cache.ncold = 0;
		cache.span_left = 0;
		getrlimit(RLIMIT_AS, &rl);
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;
		if (f == NULL || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		rl.rlim_cur = pages * 4096 + (16u << 20);
		setrlimit(RLIMIT_AS, &rl);
		struct slab s = {0};
		for (size_t i = 0; i < (1u << 24); i++)
			if (slab_alloc(&s, 256) == NULL)
				_exit(0);
		_exit(1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "past the address space limit: NULL, no crash");
}
#endif

int main(void)
{
	blocks();
	resize();
#ifndef SLAB_BYPASS
	give_back_pages();
#endif
	other_thread();
	lua_on_slab();
#ifndef SLAB_BYPASS
	out_of_memory();
#endif
	return tap_done();
}
