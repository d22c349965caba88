/*
** test/unit/runtime/arena.c: the bump region behind a first-step process.
**
** Blocks are 8-byte aligned, disjoint and owned; a full arena says so
** with NULL; an empty arena owns nothing; release empties it. Then a Lua
** state that lives in an arena: the allocator below follows the rules of
** pmem_alloc (runtime/pmem.c: freeing an arena block does nothing, shrinking
** keeps it, growing moves it) and a state that never outgrows its arena
** is dropped by releasing the arena alone. Under AddressSanitizer a child
** process touches a block after arena_forget and must die of it.
*/
#include "runtime/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tap.h"

struct heap { struct arena a; int outside; };

/* pmem_alloc's arena rules without the accounting. */
static void *arena_lalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct heap *h = ud;
	void *q;

	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		if (!arena_owns(&h->a, ptr))
			free(ptr);
		else
			arena_forget(&h->a, ptr, osize);
		return NULL;
	}
	if (ptr != NULL && !arena_owns(&h->a, ptr))
		return realloc(ptr, nsize);
	if (ptr != NULL && nsize <= osize) {
		arena_forget(&h->a, (char *)ptr + nsize, osize - nsize);
		return ptr;
	}
	q = arena_alloc(&h->a, nsize);
	if (q == NULL) {
		q = malloc(nsize);
		h->outside = 1;
	}
	if (q != NULL && ptr != NULL) {
		memcpy(q, ptr, osize);
		arena_forget(&h->a, ptr, osize);
	}
	return q;
}

static void blocks(void)
{
	struct arena a;
	char *p[64];
	int i, j, disjoint = 1, aligned = 1, owned = 1;

	ok(arena_init(&a, 0) == 0 && a.base == NULL, "size 0: no arena");
	ok(arena_alloc(&a, 8) == NULL, "an empty arena hands out nothing");
	ok(!arena_owns(&a, &a) && !arena_owns(&a, NULL), "and owns nothing");
	arena_release(&a);

	ok(arena_init(&a, 4096) == 0 && a.base != NULL, "4 KiB arena");
	for (i = 0; i < 64; i++) {
		p[i] = arena_alloc(&a, (size_t)(i % 13) + 1);
		if (p[i] == NULL)
			break;
		memset(p[i], i, (size_t)(i % 13) + 1);
		aligned &= ((uintptr_t)p[i] & 7) == 0;
		owned &= arena_owns(&a, p[i]) && arena_owns(&a, p[i] + i % 13);
	}
	ok(i == 64, "64 small blocks fit");
	ok(aligned, "every block 8-byte aligned");
	ok(owned, "every byte of every block owned");
	for (i = 0; i < 64; i++)
		for (j = 0; j < (i % 13) + 1; j++)
			disjoint &= p[i][j] == (char)i;
	ok(disjoint, "blocks do not overlap");
	ok(arena_used(&a) >= 64 * 8 && arena_used(&a) <= 4096, "used %zu", arena_used(&a));
	ok(arena_alloc(&a, 8192) == NULL, "a block past the room: NULL");
	ok(arena_alloc(&a, 8) != NULL, "and the arena still serves small ones");
	ok(!arena_owns(&a, a.end) && !arena_owns(&a, a.base - 1), "bounds are exact");
	arena_release(&a);
	ok(a.base == NULL && arena_alloc(&a, 8) == NULL, "released: empty");
	arena_release(&a);
	ok(1, "releasing twice is harmless");
}

static void lua_in_arena(void)
{
	struct heap h = { .outside = 0 };
	lua_State *L;

	ok(arena_init(&h.a, 256 * 1024) == 0, "256 KiB arena");
	L = lua_newstate(arena_lalloc, &h);
	ok(L != NULL, "a state in the arena");
	luaL_openlibs(L);
	ok(luaL_dostring(L,
		"local t = {} for i = 1, 500 do t[i] = ('x'):rep(i % 40) .. i end "
		"local s = table.concat(t, ',') "
		"for i = 1, 500 do t[i] = nil end "
		"return #s") == LUA_OK, "code that grows, shrinks and frees tables");
	ok(lua_tointeger(L, -1) > 1000, "its result");
	ok(!h.outside, "everything fit (%zu bytes)", arena_used(&h.a));
	/* The whole state goes with its arena: nothing else to free. */
	arena_release(&h.a);
	ok(1, "dropped without lua_close");

	ok(arena_init(&h.a, 16 * 1024) == 0, "16 KiB arena");
	L = lua_newstate(arena_lalloc, &h);
	ok(L != NULL, "a state that will outgrow it");
	luaL_openlibs(L);
	ok(luaL_dostring(L, "local t = {} for i = 1, 2000 do t[i] = {i} end "
			 "return #t") == LUA_OK, "runs on past the arena");
	ok(lua_tointeger(L, -1) == 2000, "with the right result");
	ok(h.outside, "part of it came from malloc");
	lua_close(L);	/* arena blocks are ignored, malloc'd ones freed */
	arena_release(&h.a);
	ok(1, "closed, then released");
}

#ifdef SLAB_BYPASS
/* A child that reads a forgotten block must be stopped by the sanitizer. */
static void poison(void)
{
	struct arena a;
	pid_t pid;
	int st = 0;

	arena_init(&a, 1024);
	char *p = arena_alloc(&a, 32);
	memset(p, 1, 32);
	arena_forget(&a, p, 32);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", 1);
		dup2(fd, 2);
		volatile char c = p[3];
		(void)c;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	ok(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "reading a forgotten block fails");
	arena_release(&a);
}
#endif

int main(void)
{
	blocks();
	lua_in_arena();
#ifdef SLAB_BYPASS
	poison();
#endif
	return tap_done();
}
