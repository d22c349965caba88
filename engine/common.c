/*
** engine/common.c: the aborting allocator and the monotonic clock.
** Thread-safe: no state of its own.
*/
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void common_assert_fail(const char *cond, const char *file, int line)
{
	fprintf(stderr, "wippy: assertion failed: %s (%s:%d)\n", cond, file, line);
	abort();
}

static void oom(size_t n, const char *file, int line)
{
	fprintf(stderr, "wippy: out of memory allocating %zu bytes (%s:%d)\n",
		n, file, line);
	abort();
}

void *common_xmalloc(size_t n, const char *file, int line)
{
	void *p = malloc(n ? n : 1);
	if (unlikely(p == NULL))
		oom(n, file, line);
	return p;
}

void *common_xcalloc(size_t n, size_t m, const char *file, int line)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (unlikely(p == NULL))
		oom(n * m, file, line);
	return p;
}

void *common_xrealloc(void *p, size_t n, const char *file, int line)
{
	void *q = realloc(p, n ? n : 1);
	if (unlikely(q == NULL))
		oom(n, file, line);
	return q;
}

char *common_xstrdup(const char *s, const char *file, int line)
{
	size_t n = strlen(s) + 1;
	char *p = common_xmalloc(n, file, line);
	memcpy(p, s, n);
	return p;
}

uint64_t common_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
