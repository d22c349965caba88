/*
** runtime/slab.h: the small-object allocator behind every process's Lua
** heap.
**
** Lua tells its allocator the size of every block it frees or resizes, so
** blocks need no header: a block of n <= SLAB_MAX bytes comes from a
** free list of its 8-byte size class, carved from 64 KiB chunks. Against
** glibc malloc (8-byte header, 16-byte rounding, 32-byte minimum) this
** saves about a fifth of a small process's memory.
**
** Free lists are per thread: a block freed on another shard than the one
** that allocated it simply joins that shard's list (a process moves only
** while runnable, and the move is ordered by the run queues). Chunks are
** never returned to the system; freed blocks are reused by the next
** processes on that shard.
*/
#ifndef RUNTIME_SLAB_H
#define RUNTIME_SLAB_H

#include <stddef.h>

#define SLAB_MAX 512

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

/* Allocate n > 0 bytes, or NULL when out of memory. */
void *slab_alloc(size_t n);

/* Free p of size n (the size it was allocated or last resized with). */
void slab_free(void *p, size_t n);

/* Resize p from o to n bytes (n > 0); NULL on failure, p untouched. */
void *slab_realloc(void *p, size_t o, size_t n);

#endif
