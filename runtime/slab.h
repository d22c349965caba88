/*
** runtime/slab.h: the small-object allocator behind every process's Lua
** heap.
**
** Lua tells its allocator the size of every block it frees or resizes, so
** blocks need no header: a block of n <= SLAB_MAX bytes comes from a
** free list of its 8-byte size class, carved from larger chunks. Against
** glibc malloc (8-byte header, 16-byte rounding, 32-byte minimum) this
** saves about a fifth of a small process's memory.
**
** A pool is the free lists and the chunk being carved. Each thread has
** one (slab_alloc, slab_free), over 64 KiB chunks cut from 2 MiB spans
** advised for huge pages (slab.c): a block
** freed on another shard than the one that allocated it simply joins that
** shard's lists (a process moves only while runnable, and the move is
** ordered by the run queues). Those chunks are never returned to the
** system; freed blocks are reused by the next processes on that shard. A
** big process has a pool of its own instead, over memory that goes back
** whole when it ends (runtime/region.h). The slab's own blocks of a state
** closed off the shards come back through the spill (slab_spill_give).
*/
#ifndef RUNTIME_SLAB_H
#define RUNTIME_SLAB_H

#include <stddef.h>

/* Up to 2 KiB: a state's lua_State and global_State (1,624 bytes), its
** string table (1,024) and each coroutine's first stack (720) come from
** here too. At 512 they went to malloc, a third of a mass-spawn worker's
** memory, with malloc's headers and its arena growing by mprotect. */
#define SLAB_MAX 2048
#define SLAB_CLASSES (SLAB_MAX / 8)

/* Under AddressSanitizer every block is its own malloc, so the sanitizer
** sees each one (use after free, overflow); runtime/proc.c then gives
** processes no arena or region either. */
#if defined(__SANITIZE_ADDRESS__)
#define SLAB_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_BYPASS 1
#endif
#endif

struct slab_block { struct slab_block *next; };

/* The size class of a block of n bytes (8-byte steps). */
static inline size_t slab_class(size_t n) { return (n + 7) >> 3; }

/* Do blocks of o and n bytes share a class (so a resize keeps the block)? */
static inline int slab_same_class(size_t o, size_t n)
{
	return o <= SLAB_MAX && n <= SLAB_MAX && slab_class(o) == slab_class(n);
}

struct slab_pool {
	struct slab_block *free[SLAB_CLASSES + 1];
	char *chunk;   /* carve position in the current chunk */
	size_t left;   /* bytes left in it */
};

/* A block of n (0 < n <= SLAB_MAX) bytes from sp's free lists or its
** chunk; NULL when both are empty for n, and then slab_pool_refill. */
void *slab_pool_take(struct slab_pool *sp, size_t n);

/* Give sp a new chunk of size bytes (8-aligned) to carve. What was left
** of the old one goes to the free lists of the classes it fits. */
void slab_pool_refill(struct slab_pool *sp, void *chunk, size_t size);

/* Put back a block of n <= SLAB_MAX bytes taken from sp. */
static inline void slab_pool_put(struct slab_pool *sp, void *p, size_t n)
{
	struct slab_block *b = p;
	size_t c = slab_class(n);
	b->next = sp->free[c];
	sp->free[c] = b;
}

/* Blocks freed on a thread that allocates none (runtime/reaper.c), for
** the shards to take back: collected into a spill, then given to the
** shared one, which the next slab_alloc that finds a class empty on any
** thread takes whole into its own pool. */
struct slab_spill {
	struct slab_block *head[SLAB_CLASSES + 1], *tail[SLAB_CLASSES + 1];
	size_t n;
};

static inline void slab_spill_put(struct slab_spill *s, void *p, size_t n)
{
	struct slab_block *b = p;
	size_t c = slab_class(n);
	b->next = s->head[c];
	if (s->head[c] == NULL)
		s->tail[c] = b;
	s->head[c] = b;
	s->n++;
}

/* Add s's blocks to the shared spill; s is empty afterwards. Any thread. */
void slab_spill_give(struct slab_spill *s);

/* The calling thread's pool (malloc past SLAB_MAX). */

/* Allocate n > 0 bytes, or NULL when out of memory. */
void *slab_alloc(size_t n);

/* Free p of size n (the size it was allocated or last resized with). */
void slab_free(void *p, size_t n);

/* Resize p from o to n bytes (n > 0); NULL on failure, p untouched. */
void *slab_realloc(void *p, size_t o, size_t n);

#endif
