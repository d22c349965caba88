/*
** runtime/arena.h: one bump region of memory, released all at once.
**
** A process whose entry usually runs to completion in its first step (a
** task, a request) takes its memory from an arena sized from the last
** such process of that entry (runtime/proc.c). Blocks are 8-byte aligned
** and never reused: arena_alloc only moves a pointer, a block given back
** stays lost until arena_release, and a state that lives only in its arena
** is dropped without lua_close walking its objects one by one.
**
** Under AddressSanitizer the arena poisons what it has not handed out, the
** gap after each block, and what it is given back (arena_forget), so
** overflows and uses after free inside it are caught as in malloc'd memory.
**
** Not thread-safe; a process's arena is used by whichever thread runs the
** process, one at a time.
*/
#ifndef RUNTIME_ARENA_H
#define RUNTIME_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "slab.h"

#ifdef SLAB_BYPASS
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE 16
#define ARENA_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_REDZONE 0
#define ARENA_POISON(p, n)   ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct arena {
	char *base;    /* NULL: no arena */
	char *cur;     /* next free byte */
	char *end;     /* one past the last byte */
};

/* Reserve size bytes (rounded up to 8). 0, or -ENOMEM with a left empty. */
int arena_init(struct arena *a, size_t size);

/* Give the memory back; a is empty afterwards (releasing an empty arena
** does nothing). */
void arena_release(struct arena *a);

/* Is p one of a's blocks? */
static inline int arena_owns(const struct arena *a, const void *p)
{
	return (uintptr_t)p - (uintptr_t)a->base < (uintptr_t)(a->end - a->base);
}

/* n bytes (n > 0), or NULL when a is empty or has less room. */
static inline void *arena_alloc(struct arena *a, size_t n)
{
	size_t sz = ((n + 7) & ~(size_t)7) + ARENA_REDZONE;
	if ((size_t)(a->end - a->cur) < sz)
		return NULL;
	void *p = a->cur;
	a->cur += sz;
	ARENA_UNPOISON(p, n);
	return p;
}

/* The n bytes at p, inside a block of a, are not to be touched again. */
static inline void arena_forget(struct arena *a, void *p, size_t n)
{
	(void)a;
	ARENA_POISON(p, n);
}

/* Bytes handed out so far. */
static inline size_t arena_used(const struct arena *a)
{
	return (size_t)(a->cur - a->base);
}

#endif
