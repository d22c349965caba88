/*
** runtime/evbus.c: the event bus. See evbus.h for the contract.
**
** Owns: struct evbus (made on first use, hung on rt->evbus) and its
** subscriptions, a plain array under one mutex: subscriptions and sends
** are rare next to messages, and a send walks every subscription once.
** The pattern grammar follows the original's wildcard package.
*/
#include "evbus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "mailbox.h"
#include "payload.h"
#include "proc.h"
#include "rt.h"

struct sub {
	uint64_t id, pid;
	char *system, *kind, *topic;
};

struct evbus {
	pthread_mutex_t lock;
	struct sub *v;
	size_t n, cap;
	uint64_t next_id;
};

/* {==== Patterns ====} */

/* Segment [p, pe) against [s, se): literal or "(a|b|c)". */
static int seg_match(const char *p, const char *pe, const char *s, const char *se)
{
	if (pe - p >= 2 && *p == '(' && pe[-1] == ')') {
		const char *a = p + 1;
		for (;;) {
			const char *b = a;
			while (b < pe - 1 && *b != '|')
				b++;
			if (b - a == se - s && memcmp(a, s, (size_t)(se - s)) == 0)
				return 1;
			if (b >= pe - 1)
				return 0;
			a = b + 1;
		}
	}
	return pe - p == se - s && memcmp(p, s, (size_t)(se - s)) == 0;
}

static const char *seg_end(const char *x)
{
	while (*x && *x != '.')
		x++;
	return x;
}

/* Pattern segments from p against string segments from s; NULL = at end. */
static int match_from(const char *p, const char *s)
{
	while (p && s) {
		const char *pe = seg_end(p), *se = seg_end(s);
		if (pe - p == 2 && p[0] == '*' && p[1] == '*') {
			const char *rest = *pe ? pe + 1 : NULL;
			if (rest == NULL)
				return 1;
			/* "**" takes zero or more segments. */
			for (const char *t = s; t; ) {
				if (match_from(rest, t))
					return 1;
				const char *te = seg_end(t);
				t = *te ? te + 1 : NULL;
			}
			return match_from(rest, NULL);
		}
		if (!(pe - p == 1 && *p == '*') && !seg_match(p, pe, s, se))
			return 0;
		p = *pe ? pe + 1 : NULL;
		s = *se ? se + 1 : NULL;
	}
	while (p && p[0] == '*' && p[1] == '*' && (p[2] == '.' || p[2] == '\0'))
		p = p[2] ? p + 3 : NULL;
	return p == NULL && s == NULL;
}

int evbus_match(const char *pattern, const char *s)
{
	if (pattern == NULL || pattern[0] == '\0')
		return s == NULL || s[0] == '\0';
	return match_from(pattern, s ? s : "");
}

/* {==== The bus ====} */

static struct evbus *bus_of(struct rt *rt)
{
	struct evbus *b = atomic_load_explicit((_Atomic(struct evbus *) *)&rt->evbus,
					       memory_order_acquire);
	void *none = NULL;

	if (b)
		return b;
	b = xcalloc(1, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->next_id = 1;
	if (!atomic_compare_exchange_strong(&rt->evbus, &none, b)) {
		pthread_mutex_destroy(&b->lock);
		free(b);
		b = none;
	}
	return b;
}

static void sub_free(struct sub *s)
{
	free(s->system);
	free(s->kind);
	free(s->topic);
}

uint64_t evbus_subscribe(struct rt *rt, uint64_t pid, const char *system,
			 const char *kind, const char *topic)
{
	struct evbus *b = bus_of(rt);
	struct sub *s;
	uint64_t id;

	pthread_mutex_lock(&b->lock);
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	s = &b->v[b->n++];
	s->id = id = b->next_id++;
	s->pid = pid;
	s->system = xstrdup(system);
	s->kind = kind && kind[0] ? xstrdup(kind) : NULL;
	s->topic = xstrdup(topic);
	pthread_mutex_unlock(&b->lock);
	return id;
}

/* Drop subscription i (caller holds the lock); order is not kept. */
static void drop(struct evbus *b, size_t i)
{
	sub_free(&b->v[i]);
	b->v[i] = b->v[--b->n];
}

void evbus_unsubscribe(struct rt *rt, uint64_t id)
{
	struct evbus *b = bus_of(rt);

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].id == id) {
			drop(b, i);
			break;
		}
	pthread_mutex_unlock(&b->lock);
}

int evbus_send(struct rt *rt, uint64_t from, const char *system, const char *kind,
	       const struct payload *ev)
{
	struct evbus *b = bus_of(rt);
	int n = 0;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n;) {
		struct sub *s = &b->v[i];
		if (!evbus_match(s->system, system) ||
		    (s->kind && !evbus_match(s->kind, kind))) {
			i++;
			continue;
		}
		struct msg *m = msg_new(MSG_USER, from, s->topic);
		payload_copy(&m->payload, ev);
		if (proc_send(rt, s->pid, m) == -ESRCH) {
			drop(b, i);	/* its process is gone */
			continue;
		}
		n++;
		i++;
	}
	pthread_mutex_unlock(&b->lock);
	return n;
}

void evbus_free(struct rt *rt)
{
	struct evbus *b = atomic_exchange((_Atomic(struct evbus *) *)&rt->evbus, NULL);

	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		sub_free(&b->v[i]);
	free(b->v);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
