/*
** runtime/arena.c: see arena.h.
*/
#include "arena.h"

#include <errno.h>
#include <stdlib.h>

int arena_init(struct arena *a, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	a->base = a->cur = a->end = NULL;
	if (size == 0)
		return 0;
	a->base = malloc(size);
	if (a->base == NULL)
		return -ENOMEM;
	a->cur = a->base;
	a->end = a->base + size;
	ARENA_POISON(a->base, size);
	return 0;
}

void arena_release(struct arena *a)
{
	if (a->base)
		ARENA_UNPOISON(a->base, (size_t)(a->end - a->base));
	free(a->base);
	a->base = a->cur = a->end = NULL;
}
