/*
** runtime/polctx.c: see polctx.h.
**
** One hash table for all policy tables: POLCTX_BUCKETS chains, guarded by
** POLCTX_LOCKS striped mutexes (bucket index modulo the stripes). A
** lookup takes one stripe's lock for the walk of one short chain; the
** contexts themselves are read without a lock. The per-action lists of
** all contexts are filled under one more lock, taken only to add a list
** (a few times per context), so two threads asking for the same new
** action build it once.
*/
#include "runtime/polctx.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

#define POLCTX_BUCKETS 1024     /* a power of two */
#define POLCTX_LOCKS   16

struct slot {
	struct slot *next;
	const struct policy_table *t;
	uint64_t hash;
	struct polctx *c;
	size_t len;
	unsigned char key[];
};

static struct slot *buckets[POLCTX_BUCKETS];
static pthread_mutex_t locks[POLCTX_LOCKS] = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};
static atomic_uint count;

/* FNV-1a over the table's address and the bytes: contexts are a few
** hundred bytes at most and looked up once per process. */
static uint64_t hash_of(const struct policy_table *t, const void *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)t;
	const unsigned char *s = key;
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct slot *lookup(size_t b, const struct policy_table *t, uint64_t h,
			   const void *key, size_t len)
{
	for (struct slot *s = buckets[b]; s; s = s->next)
		if (s->hash == h && s->t == t && s->len == len &&
		    memcmp(s->key, key, len) == 0)
			return s;
	return NULL;
}

const struct polctx *polctx_find(const struct policy_table *t,
				 const void *key, size_t len)
{
	uint64_t h = hash_of(t, key, len);
	size_t b = h & (POLCTX_BUCKETS - 1);
	struct slot *s;

	pthread_mutex_lock(&locks[b % POLCTX_LOCKS]);
	s = lookup(b, t, h, key, len);
	pthread_mutex_unlock(&locks[b % POLCTX_LOCKS]);
	return s ? s->c : NULL;
}

const struct polctx *polctx_intern(const struct policy_table *t,
				   const void *key, size_t len, struct polctx *c)
{
	uint64_t h = hash_of(t, key, len);
	size_t b = h & (POLCTX_BUCKETS - 1);
	struct slot *s;
	const struct polctx *r;

	pthread_mutex_lock(&locks[b % POLCTX_LOCKS]);
	if ((s = lookup(b, t, h, key, len)) != NULL) {
		r = s->c;
		pthread_mutex_unlock(&locks[b % POLCTX_LOCKS]);
		polctx_free(c);
		return r;
	}
	if (atomic_fetch_add_explicit(&count, 1, memory_order_relaxed) >= POLCTX_MAX) {
		atomic_fetch_sub_explicit(&count, 1, memory_order_relaxed);
		pthread_mutex_unlock(&locks[b % POLCTX_LOCKS]);
		return NULL;
	}
	s = xmalloc(sizeof(*s) + len);
	s->t = t;
	s->hash = h;
	s->c = c;
	s->len = len;
	memcpy(s->key, key, len);
	s->next = buckets[b];
	buckets[b] = s;
	pthread_mutex_unlock(&locks[b % POLCTX_LOCKS]);
	return c;
}

void polctx_free(struct polctx *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < POLCTX_ACTS; i++)
		free(c->acts[i].ps);
	free(c->actor_id);
	policy_val_clear(&c->meta);
	free(c->ps);
	free(c);
}

/* The policies of c that have action, in a fresh array. */
static const struct policy **filter(const struct polctx *c, const char *action,
				    size_t *n)
{
	const struct policy **ps = xcalloc(c->n ? c->n : 1, sizeof(*ps));
	*n = 0;
	for (size_t k = 0; k < c->n; k++)
		if (policy_has_action(c->ps[k], action))
			ps[(*n)++] = c->ps[k];
	return ps;
}

const struct policy *const *polctx_acted(const struct polctx *cc,
					 const char *action, size_t *n,
					 int *owned)
{
	/* The lists are the one part of a context written after it is
	** shared: a slot's action is stored last, with release, so a reader
	** that sees it sees its list. */
	struct polctx *c = (struct polctx *)cc;
	static pthread_mutex_t fill = PTHREAD_MUTEX_INITIALIZER;
	const struct policy **ps;
	int i;

	*owned = 0;
	for (i = 0; i < POLCTX_ACTS; i++) {
		const char *a = atomic_load_explicit(&c->acts[i].action, memory_order_acquire);
		if (a == action) {
			*n = c->acts[i].n;
			return c->acts[i].ps;
		}
		if (a == NULL)
			break;
	}
	pthread_mutex_lock(&fill);
	for (i = 0; i < POLCTX_ACTS; i++) {
		const char *a = atomic_load_explicit(&c->acts[i].action, memory_order_relaxed);
		if (a == action) {
			pthread_mutex_unlock(&fill);
			*n = c->acts[i].n;
			return c->acts[i].ps;
		}
		if (a == NULL) {
			c->acts[i].ps = filter(c, action, &c->acts[i].n);
			atomic_store_explicit(&c->acts[i].action, action, memory_order_release);
			pthread_mutex_unlock(&fill);
			*n = c->acts[i].n;
			return c->acts[i].ps;
		}
	}
	pthread_mutex_unlock(&fill);
	ps = filter(c, action, n);
	*owned = 1;
	return ps;
}
