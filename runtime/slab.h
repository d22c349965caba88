/*
** runtime/slab.h: the small-object allocator behind every process's Lua
** heap, and what gives that memory back when the process ends.
**
** Lua tells its allocator the size of every block it frees or resizes, so
** blocks need no header: a block of n <= SLAB_MAX bytes comes from a
** free list of its 8-byte size class, carved from 64 KiB chunks. Against
** glibc malloc (8-byte header, 16-byte rounding, 32-byte minimum) this
** saves about a fifth of a small process's memory. Larger blocks go to
** malloc.
**
** A slab belongs to one Lua state (struct proc embeds it), not to a
** thread: its chunks and free lists are touched only by whichever thread
** runs that process, one at a time, so a process that moves to another
** shard keeps allocating and freeing into its own slab, with no lock and
** no atomic. A freed block is reused by the same process; when the
** process ends, slab_release hands its chunks back at once, whatever
** shards they were carved on.
**
** Released chunks go to a cache of the releasing thread: the first
** SLAB_KEEP stay as they are (warm, for the next processes there, so a
** spawn costs no system call), the rest have their pages given to the
** system with madvise(MADV_DONTNEED) and are kept as address space only.
** Chunks are carved from SLAB_SPAN mappings that are never unmapped, so
** the kernel's mapping count stays small however memory comes and goes.
** So the RSS of a process that filled its heap with small blocks goes
** back within SLAB_KEEP chunks per shard of where it was. The malloc'd
** large blocks are freed by lua_close into glibc's heaps, which keep
** them; slab_release trims those heaps (malloc_trim) once enough large
** bytes were freed since the last trim.
*/
#ifndef RUNTIME_SLAB_H
#define RUNTIME_SLAB_H

#include <stddef.h>

#define SLAB_MAX   512                  /* largest block served from chunks */
#define SLAB_CHUNK (64 * 1024)
#define SLAB_SPAN  (2 * 1024 * 1024)    /* one mmap: 32 chunks */
#define SLAB_KEEP  32                   /* warm free chunks per thread */

/* Under AddressSanitizer every block is its own malloc, so the sanitizer
** sees each one (use after free, overflow); runtime/proc.c then gives
** processes no arena either. */
#if defined(__SANITIZE_ADDRESS__)
#define SLAB_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_BYPASS 1
#endif
#endif

struct slab_heads;   /* opaque: the free lists, inside the first chunk */
struct slab_chunk;   /* opaque: a chunk's header */

/* One state's allocator. All zero is an empty slab (no chunk yet). */
struct slab {
	struct slab_heads *_heads;   /* NULL until the first block */
	char *_cur;                  /* carve position in the newest chunk */
	size_t _left;                /* bytes left there */
	struct slab_chunk *_chunks;  /* every chunk, newest first */
	size_t _nchunks;
};

/* n > 0 bytes from s, or NULL when out of memory. */
void *slab_alloc(struct slab *s, size_t n);

/* Free p of size n (the size it was allocated or last resized with), a
** block of s. Freeing NULL does nothing. */
void slab_free(struct slab *s, void *p, size_t n);

/* Resize p, a block of s, from o to n bytes (n > 0); NULL on failure, p
** then untouched. */
void *slab_realloc(struct slab *s, void *p, size_t o, size_t n);

/* Give every chunk of s back (to this thread's cache, see above); s is
** empty afterwards and may serve again. Every block of s is invalid, so
** call it after lua_close (whose frees fill only s's own free lists).
** Large blocks are not s's: they were freed to malloc one by one. */
void slab_release(struct slab *s);

/* This thread's cache, for tests: warm chunks, and chunks whose pages
** were given back. */
void slab_cache_counts(size_t *warm, size_t *cold);

#endif
