/*
** runtime/node.c: this node's name, the interned names of the others and
** the origins (node, host) that remote pids point to; pid text with a
** node. See node.h for the encoding.
**
** Tables: fixed arrays of pointers, filled in order under one mutex and
** published with a release store of their count, so readers (any thread:
** a send, a pid's formatting) scan them without a lock. Entries are never
** removed: a node that leaves keeps its index, and comes back under it.
*/
#include "node.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/common.h"
#include "proc.h"
#include "rt.h"

#define ORIGIN_MAX 8192

struct origin {
	int node;
	uint32_t hlen;
	char host[];
};

struct node_tab {
	char self[NODE_NAME_MAX];
	int qualified;                      /* in a cluster: own pids name it */
	pthread_mutex_t lock;               /* writers of both tables */
	atomic_int nnodes;                  /* names[1..nnodes] are set */
	_Atomic(char *) names[NODE_MAX];
	atomic_int norigins;                /* origins[1..norigins] are set */
	_Atomic(struct origin *) origins[ORIGIN_MAX];
};

static struct node_tab *tab(const struct rt *rt)
{
	return rt->nodes;
}

int node_init(struct rt *rt)
{
	struct node_tab *t = xcalloc(1, sizeof(*t));
	const char *name = rt->conf.cluster_node;

	pthread_mutex_init(&t->lock, NULL);
	if (name[0]) {
		snprintf(t->self, sizeof(t->self), "%s", name);
	} else if (gethostname(t->self, sizeof(t->self)) != 0 || t->self[0] == '\0') {
		snprintf(t->self, sizeof(t->self), "node");
	} else {
		/* The host name's first label, with anything a name may not
		** hold made a '-': a default must never stop the boot. */
		t->self[sizeof(t->self) - 1] = '\0';
		t->self[strcspn(t->self, ".")] = '\0';
		for (char *q = t->self; *q; q++)
			if (strchr("@|{}*> \t", *q))
				*q = '-';
	}
	t->self[sizeof(t->self) - 1] = '\0';
	/* '@', '|', '{', '}' would make a pid string ambiguous; '.', '*',
	** '>' and spaces a NATS subject or a KV key. */
	if (strpbrk(t->self, "@|{}.*> \t") != NULL) {
		fprintf(stderr, "wippy: node name '%s': may not contain @ | { } . * > or spaces\n",
			t->self);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return -1;
	}
	t->qualified = rt->conf.cluster_enabled != 0;
	rt->nodes = t;
	return 0;
}

void node_free(struct rt *rt)
{
	struct node_tab *t = tab(rt);
	if (t == NULL)
		return;
	for (int i = 1; i <= atomic_load(&t->nnodes); i++)
		free(atomic_load(&t->names[i]));
	for (int i = 1; i <= atomic_load(&t->norigins); i++)
		free(atomic_load(&t->origins[i]));
	pthread_mutex_destroy(&t->lock);
	free(t);
	rt->nodes = NULL;
}

const char *node_self(const struct rt *rt)
{
	return tab(rt) ? tab(rt)->self : "";
}

/* Index of name among names[1..n], or 0. */
static int find_name(struct node_tab *t, const char *name, size_t len, int n)
{
	for (int i = 1; i <= n; i++) {
		const char *s = atomic_load_explicit(&t->names[i], memory_order_relaxed);
		if (strncmp(s, name, len) == 0 && s[len] == '\0')
			return i;
	}
	return 0;
}

int node_index(struct rt *rt, const char *name, size_t len)
{
	struct node_tab *t = tab(rt);
	int i;

	if (t == NULL || len == 0 || len >= NODE_NAME_MAX)
		return -1;
	if (strncmp(t->self, name, len) == 0 && t->self[len] == '\0')
		return 0;
	/* acquire: the names below the count are complete. */
	if ((i = find_name(t, name, len, atomic_load_explicit(&t->nnodes, memory_order_acquire))))
		return i;
	pthread_mutex_lock(&t->lock);
	int n = atomic_load_explicit(&t->nnodes, memory_order_relaxed);
	if ((i = find_name(t, name, len, n)) == 0 && n + 1 < NODE_MAX) {
		char *s = xmalloc(len + 1);
		memcpy(s, name, len);
		s[len] = '\0';
		i = n + 1;
		atomic_store_explicit(&t->names[i], s, memory_order_relaxed);
		atomic_store_explicit(&t->nnodes, i, memory_order_release);
	}
	pthread_mutex_unlock(&t->lock);
	return i ? i : -1;
}

const char *node_name(const struct rt *rt, int i)
{
	struct node_tab *t = tab(rt);
	if (t == NULL || i < 0 || i >= NODE_MAX)
		return NULL;
	if (i == 0)
		return t->self;
	if (i > atomic_load_explicit(&t->nnodes, memory_order_acquire))
		return NULL;
	return atomic_load_explicit(&t->names[i], memory_order_relaxed);
}

static int find_origin(struct node_tab *t, int node, const char *host, size_t hlen, int n)
{
	for (int i = 1; i <= n; i++) {
		const struct origin *o = atomic_load_explicit(&t->origins[i], memory_order_relaxed);
		if (o->node == node && o->hlen == hlen && memcmp(o->host, host, hlen) == 0)
			return i;
	}
	return 0;
}

uint64_t node_pid(struct rt *rt, const char *node, size_t nlen,
		  const char *host, size_t hlen, uint64_t n)
{
	struct node_tab *t = tab(rt);
	int ni = node_index(rt, node, nlen), i;

	if (n == 0 || n > PID_LOCAL_MASK || ni < 0)
		return 0;
	if (ni == 0)
		return n;
	if ((i = find_origin(t, ni, host, hlen,
			     atomic_load_explicit(&t->norigins, memory_order_acquire))))
		return ((uint64_t)i << PID_NODE_SHIFT) | n;
	pthread_mutex_lock(&t->lock);
	int cnt = atomic_load_explicit(&t->norigins, memory_order_relaxed);
	if ((i = find_origin(t, ni, host, hlen, cnt)) == 0 && cnt + 1 < ORIGIN_MAX) {
		struct origin *o = xmalloc(sizeof(*o) + hlen + 1);
		o->node = ni;
		o->hlen = (uint32_t)hlen;
		memcpy(o->host, host, hlen);
		o->host[hlen] = '\0';
		i = cnt + 1;
		atomic_store_explicit(&t->origins[i], o, memory_order_relaxed);
		atomic_store_explicit(&t->norigins, i, memory_order_release);
	}
	pthread_mutex_unlock(&t->lock);
	return i ? ((uint64_t)i << PID_NODE_SHIFT) | n : 0;
}

int node_of(const struct rt *rt, uint64_t pid, const char **host)
{
	struct node_tab *t = tab(rt);
	uint64_t i = pid >> PID_NODE_SHIFT;

	if (t == NULL || i == 0 ||
	    i > (uint64_t)atomic_load_explicit(&t->norigins, memory_order_acquire))
		return -1;
	const struct origin *o = atomic_load_explicit(&t->origins[i], memory_order_relaxed);
	if (host)
		*host = o->host;
	return o->node;
}

uint64_t node_parse_pid(struct rt *rt, const char *s, size_t len)
{
	uint64_t n = proc_parse_pid(s, len);
	const char *bar, *at;

	if (n == 0)
		return 0;
	/* The node is before an '@' in the part before the first '|'. */
	bar = memchr(s, '|', len);
	at = memchr(s + 1, '@', (size_t)(bar - s - 1));
	if (at == NULL)
		return n;
	return node_pid(rt, s + 1, (size_t)(at - s - 1), at + 1, (size_t)(bar - at - 1), n);
}

int node_format_pid(const struct rt *rt, char *buf, size_t size, const char *host,
		    uint64_t pid)
{
	const struct node_tab *t = tab(rt);
	const char *node = NULL;
	char q[NODE_NAME_MAX + 256];

	if (pid_is_remote(pid)) {
		int ni = node_of(rt, pid, &host);
		node = ni > 0 ? node_name(rt, ni) : "?";
		if (ni < 0)
			host = "?";
		pid &= PID_LOCAL_MASK;
	} else if (t && t->qualified) {
		node = t->self;
	}
	if (node == NULL)
		return proc_format_pid(buf, size, host, pid);
	snprintf(q, sizeof(q), "%s@%s", node, host);
	return proc_format_pid(buf, size, q, pid);
}
