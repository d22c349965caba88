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
** Not thread-safe; a process's arena is used by whichever thread runs the
** process, one at a time.
*/
#ifndef RUNTIME_ARENA_H
#define RUNTIME_ARENA_H

#include <stddef.h>
#include <stdint.h>

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
	n = (n + 7) & ~(size_t)7;
	if ((size_t)(a->end - a->cur) < n)
		return NULL;
	void *p = a->cur;
	a->cur += n;
	return p;
}

/* Bytes handed out so far. */
static inline size_t arena_used(const struct arena *a)
{
	return (size_t)(a->cur - a->base);
}

#endif
