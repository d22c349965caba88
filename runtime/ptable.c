/*
** runtime/ptable.c: the pid table (pid -> live process) and the name
** registry (name -> pid). Any thread.
**
** The pid table is split into PT_STRIPES stripes by pid, each a small
** open-addressing table under its own mutex: a send takes one uncontended
** lock for a lookup and a reference, never a global one. A process is in
** the table from spawn until its exit begins; a reference taken under the
** stripe lock keeps its struct alive (not its Lua state) after that.
**
** Names are rarer (register, lookup by name on send); one rwlock guards
** them. Auto-release on exit goes through names_unregister with the pid.
*/
#include "rt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "proc.h"

#define TOMB ((struct proc *)1)

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

void pt_init(struct rt *rt)
{
	for (int i = 0; i < PT_STRIPES; i++) {
		pthread_mutex_init(&rt->pt[i].lock, NULL);
		rt->pt[i].cap = 64;
		rt->pt[i].slots = xcalloc(64, sizeof(struct proc *));
	}
	pthread_rwlock_init(&rt->names_lock, NULL);
}

struct name_ent {
	char *name;     /* NULL: empty; (char *)1: deleted */
	uint64_t pid;
};
#define NTOMB ((char *)1)

void pt_destroy(struct rt *rt)
{
	for (int i = 0; i < PT_STRIPES; i++) {
		pthread_mutex_destroy(&rt->pt[i].lock);
		free(rt->pt[i].slots);
	}
	for (uint32_t i = 0; i < rt->names_cap; i++)
		if (rt->names[i].name && rt->names[i].name != NTOMB)
			free(rt->names[i].name);
	free(rt->names);
	pthread_rwlock_destroy(&rt->names_lock);
}

static struct pt_stripe *stripe(struct rt *rt, uint64_t pid)
{
	return &rt->pt[pid % PT_STRIPES];
}

static void grow(struct pt_stripe *s)
{
	uint32_t ncap = s->n * 4 > s->cap ? s->cap * 2 : s->cap;
	struct proc **old = s->slots;
	uint32_t ocap = s->cap;

	s->slots = xcalloc(ncap, sizeof(struct proc *));
	s->cap = ncap;
	s->tomb = 0;
	for (uint32_t i = 0; i < ocap; i++) {
		struct proc *p = old[i];
		if (p && p != TOMB) {
			uint32_t j = (uint32_t)mix(p->pid / PT_STRIPES) & (ncap - 1);
			while (s->slots[j])
				j = (j + 1) & (ncap - 1);
			s->slots[j] = p;
		}
	}
	free(old);
}

void pt_insert(struct rt *rt, struct proc *p)
{
	struct pt_stripe *s = stripe(rt, p->pid);
	pthread_mutex_lock(&s->lock);
	if ((s->n + s->tomb + 1) * 4 > s->cap * 3)
		grow(s);
	uint32_t j = (uint32_t)mix(p->pid / PT_STRIPES) & (s->cap - 1);
	while (s->slots[j] && s->slots[j] != TOMB)
		j = (j + 1) & (s->cap - 1);
	if (s->slots[j] == TOMB)
		s->tomb--;
	s->slots[j] = p;
	s->n++;
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add_explicit(&rt->nprocs, 1, memory_order_relaxed);
}

/* Slot of pid in s, or -1. Caller holds the lock. */
static int64_t find_slot(struct pt_stripe *s, uint64_t pid)
{
	uint32_t j = (uint32_t)mix(pid / PT_STRIPES) & (s->cap - 1);
	for (uint32_t k = 0; k < s->cap; k++, j = (j + 1) & (s->cap - 1)) {
		struct proc *q = s->slots[j];
		if (q == NULL)
			return -1;
		if (q != TOMB && q->pid == pid)
			return j;
	}
	return -1;
}

void pt_remove(struct rt *rt, struct proc *p)
{
	struct pt_stripe *s = stripe(rt, p->pid);
	pthread_mutex_lock(&s->lock);
	int64_t j = find_slot(s, p->pid);
	if (j >= 0) {
		s->slots[j] = TOMB;
		s->tomb++;
		s->n--;
	}
	pthread_mutex_unlock(&s->lock);
	if (j >= 0)
		atomic_fetch_sub_explicit(&rt->nprocs, 1, memory_order_relaxed);
}

struct proc *proc_find(struct rt *rt, uint64_t pid)
{
	struct pt_stripe *s = stripe(rt, pid);
	struct proc *p = NULL;
	pthread_mutex_lock(&s->lock);
	int64_t j = find_slot(s, pid);
	if (j >= 0) {
		p = s->slots[j];
		proc_ref(p);
	}
	pthread_mutex_unlock(&s->lock);
	return p;
}

void pt_each(struct rt *rt, void (*fn)(struct proc *p, void *arg), void *arg)
{
	for (int i = 0; i < PT_STRIPES; i++) {
		struct pt_stripe *s = &rt->pt[i];
		struct proc **list;
		uint32_t n = 0;
		pthread_mutex_lock(&s->lock);
		list = xmalloc((s->n + 1) * sizeof(*list));
		for (uint32_t j = 0; j < s->cap; j++)
			if (s->slots[j] && s->slots[j] != TOMB) {
				proc_ref(s->slots[j]);
				list[n++] = s->slots[j];
			}
		pthread_mutex_unlock(&s->lock);
		/* Call outside the lock: fn may send, which takes stripe locks. */
		for (uint32_t j = 0; j < n; j++) {
			fn(list[j], arg);
			proc_unref(list[j]);
		}
		free(list);
	}
}

long proc_count(struct rt *rt)
{
	return atomic_load_explicit(&rt->nprocs, memory_order_relaxed);
}

/* {==== Names ====} */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Index of name, or of the first free slot for it (-1 - index). */
static int64_t name_slot(struct rt *rt, const char *name)
{
	if (rt->names_cap == 0)
		return -1 - 0;
	uint32_t mask = rt->names_cap - 1, j = (uint32_t)hash_str(name) & mask;
	int64_t freeslot = -1;
	for (uint32_t k = 0; k < rt->names_cap; k++, j = (j + 1) & mask) {
		char *n = rt->names[j].name;
		if (n == NULL)
			return -1 - (freeslot >= 0 ? freeslot : j);
		if (n == NTOMB) {
			if (freeslot < 0)
				freeslot = j;
		} else if (strcmp(n, name) == 0) {
			return j;
		}
	}
	return -1 - (freeslot >= 0 ? freeslot : 0);
}

static void names_grow(struct rt *rt)
{
	struct name_ent *old = rt->names;
	uint32_t ocap = rt->names_cap;
	rt->names_cap = ocap ? ocap * 2 : 64;
	rt->names = xcalloc(rt->names_cap, sizeof(*rt->names));
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i].name && old[i].name != NTOMB) {
			int64_t j = -1 - name_slot(rt, old[i].name);
			rt->names[j] = old[i];
		}
	free(old);
}

/* Whether pid is in the pid table (it has not begun its exit). */
static int pid_alive(struct rt *rt, uint64_t pid)
{
	struct pt_stripe *s = stripe(rt, pid);
	int64_t j;
	pthread_mutex_lock(&s->lock);
	j = find_slot(s, pid);
	pthread_mutex_unlock(&s->lock);
	return j >= 0;
}

int names_register(struct rt *rt, const char *name, uint64_t pid)
{
	int rc = 0;
	pthread_rwlock_wrlock(&rt->names_lock);
	if ((rt->names_n + 1) * 2 > rt->names_cap)
		names_grow(rt);
	int64_t j = name_slot(rt, name);
	if (j >= 0) {
		/* A name held by a process that has exited is free: names
		** registered for another pid are released with that pid, but
		** only the registering process keeps a list of its names, so
		** those are released lazily, here and in lookups. */
		if (rt->names[j].pid != pid && !pid_alive(rt, rt->names[j].pid))
			rt->names[j].pid = pid;
		rc = rt->names[j].pid == pid ? 0 : -EEXIST;
	} else {
		j = -1 - j;
		rt->names[j].name = xstrdup(name);
		rt->names[j].pid = pid;
		rt->names_n++;
	}
	pthread_rwlock_unlock(&rt->names_lock);
	return rc;
}

uint64_t names_lookup(struct rt *rt, const char *name)
{
	uint64_t pid = 0;
	pthread_rwlock_rdlock(&rt->names_lock);
	int64_t j = name_slot(rt, name);
	if (j >= 0)
		pid = rt->names[j].pid;
	pthread_rwlock_unlock(&rt->names_lock);
	return pid;
}

int names_unregister(struct rt *rt, const char *name, uint64_t pid)
{
	int removed = 0;
	pthread_rwlock_wrlock(&rt->names_lock);
	int64_t j = name_slot(rt, name);
	if (j >= 0 && (pid == 0 || rt->names[j].pid == pid)) {
		free(rt->names[j].name);
		rt->names[j].name = NTOMB;
		rt->names_n--;
		removed = 1;
	}
	pthread_rwlock_unlock(&rt->names_lock);
	return removed;
}
