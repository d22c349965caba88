/*
** runtime/reaper.c: see reaper.h.
**
** The queue is a list under a mutex: a state is handed over only when a
** process past REGION_AFTER ends, a few times a second at most, and the
** reaper thread sleeps on a condition variable in between. The thread is
** started on first use and lives until the program exits.
*/
#include "reaper.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

struct job {
	struct job *next;
	lua_State *L;
	struct region *region;
	struct arena arena;
	bool trim;
	struct slab_spill spill;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;   /* work queued */
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;   /* queue drained */
static struct job *head, **tail = &head;
static int busy;            /* a job is being closed */
static int started;         /* 1 running, -1 could not start */

/* lua_close only frees; a request for memory is refused. */
static void *reap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct job *j = ud;

	if (nsize != 0 || ptr == NULL)
		return NULL;
	if ((j->region && region_owns(j->region, ptr)) || arena_owns(&j->arena, ptr))
		return NULL;
#ifdef SLAB_BYPASS
	(void)osize;
	free(ptr);
#else
	if (osize > SLAB_MAX)
		free(ptr);
	else
		slab_spill_put(&j->spill, ptr, osize);
#endif
	return NULL;
}

static void reap(struct job *j)
{
	lua_setallocf(j->L, reap_alloc, j);
	lua_close(j->L);
	region_free(j->region);
	arena_release(&j->arena);
	slab_spill_give(&j->spill);
	if (j->trim)
		malloc_trim(0);
	free(j);
}

static void *reaper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (head == NULL)
			pthread_cond_wait(&wake, &lock);
		struct job *j = head;
		head = j->next;
		if (head == NULL)
			tail = &head;
		busy = 1;
		pthread_mutex_unlock(&lock);
		reap(j);
		pthread_mutex_lock(&lock);
		busy = 0;
		if (head == NULL)
			pthread_cond_broadcast(&idle);
	}
	return NULL;
}

/* Under lock. */
static bool start(void)
{
	if (started == 0) {
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&th, &at, reaper_main, NULL) == 0 ? 1 : -1;
		pthread_attr_destroy(&at);
	}
	return started > 0;
}

bool reaper_close(lua_State *L, struct region *r, struct arena *a, bool trim)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return false;
	pthread_mutex_lock(&lock);
	if (!start()) {
		pthread_mutex_unlock(&lock);
		free(j);
		return false;
	}
	j->L = L;
	j->region = r;
	j->arena = *a;
	a->base = a->cur = a->end = NULL;
	j->trim = trim;
	*tail = j;
	tail = &j->next;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	return true;
}

void reaper_drain(void)
{
	pthread_mutex_lock(&lock);
	while (started > 0 && (head != NULL || busy))
		pthread_cond_wait(&idle, &lock);
	pthread_mutex_unlock(&lock);
}
