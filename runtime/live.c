/*
** runtime/live.c: the running registry's versions (struct live) and what
** applying one does to the runtime. See live.h for the contract.
**
** Owns: the version list, the current-version pointer and the apply lock.
** Readers never take the lock: `cur` is published with a release store
** after everything the version holds (its registry, its compiled code) is
** in place, and read with an acquire load. The list only grows; versions
** are freed by live_free alone, after the engine stopped.
**
** Order of an apply, all under the lock: derive the registry (nothing is
** visible yet), compile its new Lua entries, publish code then version,
** then the reactions (supervisor, HTTP routes). A process spawned between
** the publish and the reactions already sees the new version; that is
** the same window the original has between its commit and its listeners.
*/
#include "live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "code.h"
#include "engine/common.h"
#include "httpd.h"
#include "rt.h"

struct live {
	pthread_mutex_t lock;              /* applies; the list */
	struct live_version **v;           /* oldest first */
	size_t n, cap;
	_Atomic(struct live_version *) cur;
};

static struct live *live_of(struct rt *rt)
{
	struct live *l = atomic_load_explicit((_Atomic(struct live *) *)&rt->live,
					      memory_order_acquire);
	void *none = NULL;

	if (l != NULL)
		return l;
	l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->cap = 8;
	l->v = xcalloc(l->cap, sizeof(*l->v));
	l->v[0] = xcalloc(1, sizeof(*l->v[0]));
	l->v[0]->id = 1;
	l->v[0]->reg = rt->reg;
	l->v[0]->at = (int64_t)time(NULL);
	l->n = 1;
	atomic_init(&l->cur, l->v[0]);
	if (!atomic_compare_exchange_strong(&rt->live, &none, l)) {
		/* Another thread made it first: use that one. */
		pthread_mutex_destroy(&l->lock);
		free(l->v[0]);
		free(l->v);
		free(l);
		l = none;
	}
	return l;
}

void live_diff_free(struct live_diff *d)
{
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

const struct live_version *live_current(struct rt *rt)
{
	return atomic_load_explicit(&live_of(rt)->cur, memory_order_acquire);
}

struct registry *live_registry(struct rt *rt)
{
	struct live *l = atomic_load_explicit((_Atomic(struct live *) *)&rt->live,
					      memory_order_acquire);

	return l ? atomic_load_explicit(&l->cur, memory_order_acquire)->reg : rt->reg;
}

size_t live_versions(struct rt *rt, const struct live_version ***out)
{
	struct live *l = live_of(rt);
	size_t n;

	pthread_mutex_lock(&l->lock);
	n = l->n;
	*out = xcalloc(n, sizeof(**out));
	memcpy(*out, l->v, n * sizeof(**out));
	pthread_mutex_unlock(&l->lock);
	return n;
}

const struct live_version *live_find(struct rt *rt, uint64_t id)
{
	struct live *l = live_of(rt);
	const struct live_version *v = NULL;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->n && v == NULL; i++)
		if (l->v[i]->id == id)
			v = l->v[i];
	pthread_mutex_unlock(&l->lock);
	return v;
}

static void diff_add(struct live_diff *d, size_t *cap, enum reg_op op,
		     const struct reg_entry *o, const struct reg_entry *n)
{
	if (d->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		d->v = xrealloc(d->v, *cap * sizeof(*d->v));
	}
	d->v[d->n].op = op;
	d->v[d->n].old = o;
	d->v[d->n].new = n;
	d->v[d->n].requested = o == NULL || n == NULL || o->data != n->data;
	d->n++;
}

/* What differs from a to b: creates and updates in b's order, then the
** deletes in a's. Pointer identity: an unchanged entry is shared. */
static void diff(const struct registry *a, const struct registry *b, struct live_diff *d)
{
	const struct reg_entry *e = NULL, *o;
	size_t cap = 0;

	memset(d, 0, sizeof(*d));
	while ((e = reg_next(b, e)) != NULL) {
		o = reg_find(a, e->id);
		if (o == NULL)
			diff_add(d, &cap, REG_OP_CREATE, NULL, e);
		else if (o != e)
			diff_add(d, &cap, REG_OP_UPDATE, o, e);
	}
	while ((e = reg_next(a, e)) != NULL)
		if (reg_find(b, e->id) == NULL)
			diff_add(d, &cap, REG_OP_DELETE, e, NULL);
}

/* The runtime follows the switch from a to b. Caller holds the lock. */
static void react(struct rt *rt, const struct registry *a, const struct registry *b,
		  const struct live_diff *d)
{
	struct rt_supervisor *sv = atomic_load(&rt->supervisor);
	int http = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct reg_entry *e = d->v[i].new ? d->v[i].new : d->v[i].old;
		http |= e->k == REG_K_HTTP_ENDPOINT || e->k == REG_K_HTTP_ROUTER;
	}
	if (sv && sv->apply)
		sv->apply(sv, a, b);
	if (http)
		httpd_apply(rt, b);
}

static char *join(const struct reg_error *err)
{
	return xstrdup(err->msg ? err->msg : "invalid change");
}

int live_apply(struct rt *rt, const struct live_version *base,
	       const struct reg_changes *c, const struct live_version **out,
	       struct live_diff *d, char **msg)
{
	struct live *l = live_of(rt);
	struct reg_error err = {0};
	struct registry *reg;
	struct code_batch *code;
	struct live_version *v, *cur;
	int rc;

	*out = NULL;
	*msg = NULL;
	memset(d, 0, sizeof(*d));
	pthread_mutex_lock(&l->lock);
	cur = atomic_load_explicit(&l->cur, memory_order_relaxed);
	if (atomic_load(&rt->stopping) != RT_RUNNING) {
		*msg = xstrdup("the runtime is shutting down");
		rc = -ECANCELED;
		goto out;
	}
	if (base != cur) {
		*msg = xstrdup("registry changed since the snapshot was taken");
		rc = -ESTALE;
		goto out;
	}
	rc = reg_derive(cur->reg, c, &reg, &err);
	if (rc < 0) {
		*msg = join(&err);
		reg_error_free(&err);
		goto out;
	}
	if (code_compile_new(rt, reg, &code, msg) < 0) {
		reg_free(reg);
		rc = -EINVAL;
		goto out;
	}
	v = xcalloc(1, sizeof(*v));
	v->id = l->v[l->n - 1]->id + 1;
	v->reg = reg;
	v->prev = cur;
	v->at = (int64_t)time(NULL);
	if (l->n == l->cap) {
		l->cap *= 2;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = v;
	code_publish(rt, code);
	atomic_store_explicit(&l->cur, v, memory_order_release);
	diff(cur->reg, reg, d);
	react(rt, cur->reg, reg, d);
	*out = v;
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int live_select(struct rt *rt, const struct live_version *v, struct live_diff *d)
{
	struct live *l = live_of(rt);
	struct live_version *cur;

	memset(d, 0, sizeof(*d));
	pthread_mutex_lock(&l->lock);
	if (atomic_load(&rt->stopping) != RT_RUNNING) {
		pthread_mutex_unlock(&l->lock);
		return -ECANCELED;
	}
	cur = atomic_load_explicit(&l->cur, memory_order_relaxed);
	if (cur != v) {
		/* v is one of ours: the caller got it from this list. */
		atomic_store_explicit(&l->cur, (struct live_version *)v, memory_order_release);
		diff(cur->reg, v->reg, d);
		react(rt, cur->reg, v->reg, d);
	}
	pthread_mutex_unlock(&l->lock);
	return 0;
}

void live_free(struct rt *rt)
{
	struct live *l = atomic_exchange((_Atomic(struct live *) *)&rt->live, NULL);

	if (l == NULL)
		return;
	/* Newest first, though any order works: each registry frees only its
	** own arena, and nothing walks a shared entry while freeing. */
	for (size_t i = l->n; i-- > 0;) {
		if (l->v[i]->reg != rt->reg)
			reg_free(l->v[i]->reg);
		free(l->v[i]);
	}
	free(l->v);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
