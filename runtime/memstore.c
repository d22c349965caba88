/*
** runtime/memstore.c: store.memory key/value stores (see memstore.h).
**
** Owns the per-runtime list of stores (rt->memstore) and each store's
** chained hash table of entries. Invariants: s->mu guards the table and
** s->live; an entry's value is owned by the entry; keys are binary-safe
** byte strings (a NUL after them for convenience).
*/
#include "runtime/memstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

struct mentry {
	struct mentry *next;
	uint64_t hash;
	uint64_t expire_ms;     /* 0: never */
	struct payload v;
	size_t klen;
	char key[];
};

struct memstore {
	struct memstore *next;  /* rt's list */
	const struct reg_entry *e;
	pthread_mutex_t mu;
	struct mentry **slots;
	size_t nslots, live;
	size_t max_size;        /* 0: no limit */
};

struct memstores {
	pthread_mutex_t mu;
	struct memstore *head;
};

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;

/* FNV-1a over the key. */
static uint64_t hash_of(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
	return h;
}

static int expired(const struct mentry *m, uint64_t now)
{
	return m->expire_ms != 0 && now >= m->expire_ms;
}

static void drop(struct memstore *s, struct mentry **pp)
{
	struct mentry *m = *pp;
	*pp = m->next;
	payload_free(&m->v);
	free(m);
	s->live--;
}

/* The link to key's entry (or to the NULL at its chain's end). An expired
** entry met on the way is dropped. s->mu held. */
static struct mentry **find(struct memstore *s, const char *k, size_t n,
			    uint64_t h, uint64_t now)
{
	struct mentry **pp = &s->slots[h & (s->nslots - 1)];

	while (*pp) {
		struct mentry *m = *pp;
		if (expired(m, now)) {
			drop(s, pp);
			continue;
		}
		if (m->hash == h && m->klen == n && memcmp(m->key, k, n) == 0)
			return pp;
		pp = &m->next;
	}
	return pp;
}

static void grow(struct memstore *s)
{
	size_t n = s->nslots * 2;
	struct mentry **slots = xcalloc(n, sizeof(*slots));

	for (size_t i = 0; i < s->nslots; i++) {
		struct mentry *m = s->slots[i], *next;
		for (; m; m = next) {
			next = m->next;
			m->next = slots[m->hash & (n - 1)];
			slots[m->hash & (n - 1)] = m;
		}
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = n;
}

static size_t purge_locked(struct memstore *s, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nslots; i++) {
		struct mentry **pp = &s->slots[i];
		while (*pp) {
			if (expired(*pp, now)) {
				drop(s, pp);
				n++;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	return n;
}

struct memstore *memstore_get(struct rt *rt, const struct reg_entry *e)
{
	struct memstores *all;
	struct memstore *s;

	pthread_mutex_lock(&state_mu);
	if ((all = rt->memstore) == NULL) {
		all = xcalloc(1, sizeof(*all));
		pthread_mutex_init(&all->mu, NULL);
		rt->memstore = all;
	}
	pthread_mutex_unlock(&state_mu);
	pthread_mutex_lock(&all->mu);
	for (s = all->head; s && s->e != e; s = s->next)
		;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->e = e;
		pthread_mutex_init(&s->mu, NULL);
		s->nslots = 64;
		s->slots = xcalloc(s->nslots, sizeof(*s->slots));
		s->max_size = e->u.store.max_size > 0 ? (size_t)e->u.store.max_size : 0;
		s->next = all->head;
		all->head = s;
	}
	pthread_mutex_unlock(&all->mu);
	return s;
}

int memstore_lookup(struct memstore *s, const char *key, size_t klen,
		    struct payload *out)
{
	uint64_t h = hash_of(key, klen);
	struct mentry **pp;
	int rc = -ENOENT;

	pthread_mutex_lock(&s->mu);
	pp = find(s, key, klen, h, common_now_ms());
	if (*pp) {
		payload_copy(out, &(*pp)->v);
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int memstore_has(struct memstore *s, const char *key, size_t klen)
{
	uint64_t h = hash_of(key, klen);
	int found;

	pthread_mutex_lock(&s->mu);
	found = *find(s, key, klen, h, common_now_ms()) != NULL;
	pthread_mutex_unlock(&s->mu);
	return found;
}

int memstore_set(struct memstore *s, const char *key, size_t klen,
		 struct payload *v, uint64_t ttl_ms)
{
	uint64_t h = hash_of(key, klen), now = common_now_ms();
	struct mentry **pp, *m;

	pthread_mutex_lock(&s->mu);
	pp = find(s, key, klen, h, now);
	if ((m = *pp) != NULL) {
		payload_free(&m->v);
	} else {
		if (s->max_size && s->live >= s->max_size &&
		    (purge_locked(s, now), s->live >= s->max_size)) {
			pthread_mutex_unlock(&s->mu);
			payload_free(v);
			return -ENOSPC;
		}
		if (s->live >= s->nslots) {
			grow(s);
			pp = &s->slots[h & (s->nslots - 1)];
		}
		m = xmalloc(sizeof(*m) + klen + 1);
		memcpy(m->key, key, klen);
		m->key[klen] = '\0';
		m->klen = klen;
		m->hash = h;
		m->next = *pp;
		*pp = m;
		s->live++;
	}
	memcpy(&m->v, v, sizeof(*v));	/* moved: the caller's copy is dead */
	memset(v, 0, sizeof(*v));
	m->expire_ms = ttl_ms ? now + ttl_ms : 0;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int memstore_delete(struct memstore *s, const char *key, size_t klen)
{
	uint64_t h = hash_of(key, klen);
	struct mentry **pp;
	int rc = -ENOENT;

	pthread_mutex_lock(&s->mu);
	pp = find(s, key, klen, h, common_now_ms());
	if (*pp) {
		drop(s, pp);
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

size_t memstore_purge(struct memstore *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = purge_locked(s, common_now_ms());
	pthread_mutex_unlock(&s->mu);
	return n;
}

void memstore_free(struct rt *rt)
{
	struct memstores *all = rt->memstore;
	struct memstore *s, *next;

	if (all == NULL)
		return;
	for (s = all->head; s; s = next) {
		next = s->next;
		for (size_t i = 0; i < s->nslots; i++)
			while (s->slots[i])
				drop(s, &s->slots[i]);
		free(s->slots);
		pthread_mutex_destroy(&s->mu);
		free(s);
	}
	pthread_mutex_destroy(&all->mu);
	free(all);
	rt->memstore = NULL;
}
