/*
** runtime/cnames.c: cluster-wide names in a JetStream KV bucket (see
** cnames.h for the model).
**
** Threads:
**   - the names thread runs the jobs (register, release) one at a time,
**     in the order queued: every KV call that waits for the server is
**     made here;
**   - the watcher thread follows the bucket (kvStore_WatchAll: the values
**     there now, then every change) into the cache;
**   - any thread looks names up in the cache (rwlock) and queues jobs.
** A register job carries its process: referenced (proc_ref) and pinned
** to its shard (proc_io_begin) from the call until the result is back on
** that shard, where it finds the process alive or P_DONE.
**
** What this node's processes hold (owned: name, pid) is kept so that an
** exit releases them; the cache knows every holder, so a node going down
** releases the names of its processes from the surviving nodes (each
** tries; the revision check lets one win and the others find it done).
*/
#include "cnames.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "cluster.h"
#include "errors.h"
#include "log.h"
#include "node.h"
#include "proc.h"
#include "rt.h"

#define NBUCKETS 1024
#define KEY_MAX 512
#define TRIES 4

enum { NJ_REGISTER, NJ_RELEASE };

struct njob {
	struct njob *next;
	int op, scope;
	uint64_t pid;
	char *name;
	char value[160];          /* the holder's pid string ("" for release: any) */
	int rc;                   /* 0, -EEXIST, -EIO, -ETIMEDOUT (STRONG: not acknowledged) */
	uint64_t rev;             /* register: the KV revision that made it ours */
	int lock;                 /* system.lock: false (not nil) on -EEXIST */
	struct cnames *n;
	struct proc *p;           /* register: the caller, or NULL */
	struct coro *co;
	struct task task;
	struct pext ext;
};

struct centry {
	struct centry *next;
	uint64_t pid;
	char name[];
};

struct owned {
	uint64_t pid;
	char *name;
	char value[160];          /* its pid string, as registered */
	uint64_t rev;             /* the KV revision of that registration */
};

struct cnames {
	struct rt *rt;
	kvStore *kv;
	pthread_t worker, watcher;
	int started_worker, started_watcher;
	atomic_int stop;
	int names;                /* the names bucket (not groups): revokes, STRONG acks */

	pthread_mutex_t lock;     /* the queue and owned */
	pthread_cond_t wake;
	struct njob *head, *tail;
	struct owned *own;
	size_t nown, capown;

	pthread_rwlock_t cache_lock;
	struct centry *cache[NBUCKETS];
};

/* {==== Keys and the cache ====} */

/* A KV key may hold [-/_=.a-zA-Z0-9]; anything else, and '.' and '=', is
** written =XX, so every name has one key and back. */
static int escape(const char *name, char *key)
{
	size_t k = 0;
	for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
		if (k + 4 >= KEY_MAX)
			return -1;
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-')
			key[k++] = (char)*s;
		else
			k += (size_t)snprintf(key + k, 4, "=%02X", *s);
	}
	key[k] = '\0';
	return k ? 0 : -1;
}

static void unescape(const char *key, char *name, size_t size)
{
	size_t k = 0;
	for (const char *s = key; *s && k + 1 < size; s++) {
		unsigned v;
		if (*s == '=' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
			name[k++] = (char)v;
			s += 2;
		} else {
			name[k++] = *s;
		}
	}
	name[k] = '\0';
}

static unsigned hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (unsigned)(h % NBUCKETS);
}

static void cache_set(struct cnames *n, const char *name, uint64_t pid)
{
	struct centry **pp, *e;
	pthread_rwlock_wrlock(&n->cache_lock);
	for (pp = &n->cache[hash(name)]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->name, name) == 0)
			break;
	if (e == NULL) {
		e = xmalloc(sizeof(*e) + strlen(name) + 1);
		strcpy(e->name, name);
		e->next = NULL;
		*pp = e;
	}
	e->pid = pid;
	pthread_rwlock_unlock(&n->cache_lock);
}

/* Remove name (if held by pid, or by anyone when pid is 0): 1 if done. */
static int cache_del(struct cnames *n, const char *name, uint64_t pid)
{
	struct centry **pp, *e;
	int done = 0;
	pthread_rwlock_wrlock(&n->cache_lock);
	for (pp = &n->cache[hash(name)]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->name, name) == 0) {
			if (pid == 0 || e->pid == pid) {
				*pp = e->next;
				free(e);
				done = 1;
			}
			break;
		}
	pthread_rwlock_unlock(&n->cache_lock);
	return done;
}

uint64_t cnames_lookup(struct cnames *n, const char *name)
{
	uint64_t pid = 0;
	if (n == NULL)
		return 0;
	pthread_rwlock_rdlock(&n->cache_lock);
	for (struct centry *e = n->cache[hash(name)]; e; e = e->next)
		if (strcmp(e->name, name) == 0) {
			pid = e->pid;
			break;
		}
	pthread_rwlock_unlock(&n->cache_lock);
	return pid;
}

/* {==== Jobs ====} */

static void queue(struct cnames *n, struct njob *j)
{
	pthread_mutex_lock(&n->lock);
	j->next = NULL;
	if (n->tail)
		n->tail->next = j;
	else
		n->head = j;
	n->tail = j;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
}

static struct njob *job_new(struct cnames *n, int op, const char *name, uint64_t pid)
{
	struct njob *j = xcalloc(1, sizeof(*j));
	j->n = n;
	j->op = op;
	j->pid = pid;
	j->name = xstrdup(name);
	/* The holder's pid string: a local process's own (it names this
	** node), or the remote pid with its origin's host. */
	struct proc *p = pid && !pid_is_remote(pid) ? proc_find(n->rt, pid) : NULL;
	if (p) {
		snprintf(j->value, sizeof(j->value), "%.*s", (int)p->pidlen, p->pidstr);
		proc_unref(p);
	} else if (pid) {
		node_format_pid(n->rt, j->value, sizeof(j->value), "?", pid);
	}
	return j;
}

static void job_free(struct njob *j)
{
	free(j->name);
	free(j);
}

/* Whether the holder named by pid string v is known to be gone: a local
** process no longer in the pid table, or one of a node that is down. */
static int holder_gone(struct cnames *n, const char *v)
{
	uint64_t pid = node_parse_pid(n->rt, v, strlen(v));
	if (pid == 0)
		return 1;
	/* A node this one has not heard of yet may well be up: the KV says. */
	if (pid_is_remote(pid))
		return !cluster_node_present(n->rt, node_of(n->rt, pid, NULL));
	struct proc *p = proc_find(n->rt, pid);
	if (p)
		proc_unref(p);
	return p == NULL;
}

static void run_register(struct cnames *n, struct njob *j, const char *key)
{
	natsStatus s;
	kvEntry *e;

	if (j->scope == 1) { /* EVENTUAL: the last writer wins */
		j->rc = kvStore_PutString(&j->rev, n->kv, key, j->value) == NATS_OK ? 0 : -EIO;
		return;
	}
	for (int t = 0; t < TRIES; t++) {
		s = kvStore_Get(&e, n->kv, key);
		if (s == NATS_NOT_FOUND) {
			if (kvStore_CreateString(&j->rev, n->kv, key, j->value) == NATS_OK) {
				j->rc = 0;
				return;
			}
			continue; /* someone created it first: read it */
		}
		if (s != NATS_OK) {
			j->rc = -EIO;
			return;
		}
		const char *v = kvEntry_ValueString(e);
		uint64_t rev = kvEntry_Revision(e);
		int same = strcmp(v, j->value) == 0, free_ = v[0] == '\0' || holder_gone(n, v);
		kvEntry_Destroy(e);
		if (same) {
			j->rev = rev;
			j->rc = 0;
			return;
		}
		if (!free_) {
			j->rc = -EEXIST;
			return;
		}
		if (kvStore_UpdateString(&j->rev, n->kv, key, j->value, rev) == NATS_OK) {
			j->rc = 0;
			return;
		}
	}
	j->rc = -EEXIST;
}

/* Set key to "" if it still holds j->value (any value when it is "").
** j->rc: 0 when this release did it, -ENOENT when the key held something
** else (or nothing), -EIO when the KV could not be asked. */
static void run_release(struct cnames *n, struct njob *j, const char *key)
{
	kvEntry *e;
	natsStatus s = kvStore_Get(&e, n->kv, key);
	if (s != NATS_OK) {
		j->rc = s == NATS_NOT_FOUND ? -ENOENT : -EIO;
		return;
	}
	const char *v = kvEntry_ValueString(e);
	uint64_t rev = kvEntry_Revision(e);
	int mine = v[0] && (j->value[0] == '\0' || strcmp(v, j->value) == 0);
	kvEntry_Destroy(e);
	j->rc = -ENOENT;
	if (mine)
		j->rc = kvStore_UpdateString(NULL, n->kv, key, "", rev) == NATS_OK ? 0 : -EIO;
}

/* {==== Back on the caller's shard ====} */

static void deliver(lua_State *L, struct pext *x)
{
	struct njob *j = container_of(x, struct njob, ext);
	struct coro *co = j->co;
	int base = lua_gettop(L);

	/* Built on the step's state (protected), then moved to the parked
	** coroutine, which cannot raise. */
	if (j->op == NJ_RELEASE) { /* system.lock.release */
		if (j->rc == -EIO) {
			lua_pushnil(L);
			errors_push(L, ERRORS_UNAVAILABLE, "lock release: cluster name registry unreachable: %s",
				    j->name);
		} else {
			lua_pushboolean(L, j->rc == 0);
			lua_pushnil(L);
		}
	} else if (j->rc == 0) {
		lua_pushboolean(L, 1);
	} else if (j->lock && j->rc == -EEXIST) {
		lua_pushboolean(L, 0);
		errors_push(L, ERRORS_ALREADY_EXISTS, "lock acquire: lock already held: %s", j->name);
	} else {
		lua_pushnil(L);
		if (j->rc == -EEXIST)
			errors_push(L, ERRORS_ALREADY_EXISTS, "name already registered: %s", j->name);
		else if (j->rc == -ETIMEDOUT)
			errors_push(L, ERRORS_UNAVAILABLE,
				    "strong registration not acknowledged by every node: %s", j->name);
		else
			errors_push(L, ERRORS_UNAVAILABLE, "cluster name registry unreachable: %s",
				    j->name);
	}
	int nres = lua_gettop(L) - base;
	if (co->state == CO_BLOCKED && lua_checkstack(co->L, nres)) {
		lua_xmove(L, co->L, nres);
		proc_ready(co, nres);
	} else {
		lua_settop(L, base);
	}
	proc_unref(j->p);
	job_free(j);
}

static void back_on_shard(struct task *t)
{
	struct njob *j = container_of(t, struct njob, task);
	struct proc *p = j->p;
	proc_io_end(p);
	if (p->state == P_DONE || p->L == NULL) {
		proc_unref(p);
		job_free(j);
		return;
	}
	j->ext.deliver = deliver;
	proc_ext_post(p, &j->ext);
}

/* Remember that pid (ours) holds name with value: its exit releases it,
** when its pid string can no longer be made (it left the pid table). */
static void own_add(struct cnames *n, const char *name, uint64_t pid, const char *value,
		    uint64_t rev)
{
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->nown; i++)
		if (n->own[i].pid == pid && strcmp(n->own[i].name, name) == 0) {
			if (rev > n->own[i].rev)
				n->own[i].rev = rev;
			goto out;
		}
	if (n->nown == n->capown) {
		n->capown = n->capown ? n->capown * 2 : 16;
		n->own = xrealloc(n->own, n->capown * sizeof(*n->own));
	}
	n->own[n->nown].pid = pid;
	n->own[n->nown].rev = rev;
	snprintf(n->own[n->nown].value, sizeof(n->own[n->nown].value), "%s", value);
	n->own[n->nown++].name = xstrdup(name);
out:
	pthread_mutex_unlock(&n->lock);
}

static void revoke_losers(struct cnames *n, const char *name, const char *value, uint64_t rev);

/* An EVENTUAL put from elsewhere may have come between ours and the
** own_add above, and its update may have reached the watcher before
** own_add: read the key once more, so the loser still hears it. */
static void recheck(struct cnames *n, const char *name, const char *key)
{
	kvEntry *e;
	if (kvStore_Get(&e, n->kv, key) != NATS_OK)
		return;
	const char *v = kvEntry_ValueString(e);
	if (v && v[0])
		revoke_losers(n, name, v, kvEntry_Revision(e));
	kvEntry_Destroy(e);
}

static void *worker_main(void *arg)
{
	struct cnames *n = arg;
	char key[KEY_MAX];

	for (;;) {
		pthread_mutex_lock(&n->lock);
		while (n->head == NULL && !atomic_load(&n->stop))
			pthread_cond_wait(&n->wake, &n->lock);
		struct njob *j = n->head;
		if (j) {
			n->head = j->next;
			if (n->head == NULL)
				n->tail = NULL;
		}
		pthread_mutex_unlock(&n->lock);
		if (j == NULL)
			break; /* stopping with nothing queued */
		if (atomic_load(&n->stop) && j->p) {
			/* A register whose shard no longer runs: dropped (releases
			** still go out, so a leaving node frees its names). */
			proc_unref(j->p);
			job_free(j);
			continue;
		}
		if (escape(j->name, key) < 0) {
			j->rc = -EIO;
		} else if (j->op == NJ_REGISTER) {
			run_register(n, j, key);
			/* STRONG: active once every live node's cache holds it;
			** else given back (only if still ours) and Unavailable. */
			if (j->rc == 0 && j->scope == 3 && n->names &&
			    cluster_strong_ack(n->rt, j->name, j->value) != 0) {
				struct njob r = { .op = NJ_RELEASE };
				snprintf(r.value, sizeof(r.value), "%s", j->value);
				run_release(n, &r, key);
				cache_del(n, j->name, j->pid);
				j->rc = -ETIMEDOUT;
			}
			if (j->rc == 0) {
				cache_set(n, j->name, j->pid);
				/* Released when the holder exits, if it is ours. */
				if (!pid_is_remote(j->pid)) {
					own_add(n, j->name, j->pid, j->value, j->rev);
					if (j->scope == 1 && n->names)
						recheck(n, j->name, key);
					/* It may have exited while we waited for the
					** KV: then its exit found nothing to release. */
					struct proc *h = proc_find(n->rt, j->pid);
					if (h)
						proc_unref(h);
					else
						cnames_exit(n, j->pid);
				}
			}
		} else {
			run_release(n, j, key);
		}
		if (j->p) {
			j->task.run = back_on_shard;
			j->task.flags = TASK_PINNED;
			/* Pinned since the call: its shard has not changed. */
			shard_post(atomic_load(&j->p->shard), &j->task);
		} else {
			job_free(j);
		}
	}
	return NULL;
}

/* {==== The watcher ====} */

/* Name went to value at revision rev: every process of this node that
** held it under another value at an older revision lost it (an EVENTUAL
** put from elsewhere overwrote it, or a node that took this one for dead
** took the name over). As the original's eventual registry does, the
** loser hears it: a CANCEL event from no process, reason "name revoked:
** NAME" (process.events(): kind pid.cancel). It holds the name no more,
** so its exit releases nothing. */
static void revoke_losers(struct cnames *n, const char *name, const char *value, uint64_t rev)
{
	uint64_t lost[8];
	size_t nlost = 0;

	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->nown && nlost < 8;) {
		struct owned *o = &n->own[i];
		if (o->rev < rev && strcmp(o->name, name) == 0 && strcmp(o->value, value) != 0) {
			lost[nlost++] = o->pid;
			free(o->name);
			*o = n->own[--n->nown];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&n->lock);
	if (nlost == 0)
		return;
	char reason[KEY_MAX + 16];
	snprintf(reason, sizeof(reason), "name revoked: %s", name);
	for (size_t i = 0; i < nlost; i++) {
		struct msg *m = msg_new(MSG_CANCEL, 0, reason);
		m->at = (double)time(NULL);
		proc_send(n->rt, lost[i], m); /* gone meanwhile: nothing to tell */
	}
}

static void *watcher_main(void *arg)
{
	struct cnames *n = arg;
	kvWatcher *w = NULL;
	char name[KEY_MAX];

	if (kvStore_WatchAll(&w, n->kv, NULL) != NATS_OK) {
		log_warn("cluster: cannot watch the names bucket; lookups see this node's names only");
		log_flush();
		return NULL;
	}
	while (!atomic_load(&n->stop)) {
		kvEntry *e = NULL;
		natsStatus s = kvWatcher_Next(&e, w, 200);
		if (s != NATS_OK || e == NULL)
			continue; /* a timeout, or the end of the initial values */
		unescape(kvEntry_Key(e), name, sizeof(name));
		const char *v = kvEntry_ValueString(e);
		uint64_t pid = v && v[0] ? node_parse_pid(n->rt, v, strlen(v)) : 0;
		if (kvEntry_Operation(e) == kvOp_Put && pid) {
			cache_set(n, name, pid);
			if (n->names)
				revoke_losers(n, name, v, kvEntry_Revision(e));
		}
		else
			cache_del(n, name, 0);
		kvEntry_Destroy(e);
	}
	kvWatcher_Destroy(w);
	return NULL;
}

/* {==== API ====} */

/* Queue a job of op for the calling coroutine and park it; the job's
** result comes back through deliver. proc_coro raises before anything
** is made when L is no process coroutine. */
static int park(lua_State *L, struct cnames *n, int op, const char *name, uint64_t pid,
		int scope, int lock)
{
	struct coro *co = proc_coro(L);
	struct njob *j = job_new(n, op, name, pid);
	j->scope = scope;
	j->lock = lock;
	j->p = co->p;
	j->co = co;
	proc_ref(co->p);
	proc_io_begin(co->p);
	queue(n, j);
	return proc_block(L, 1, NULL, 0);
}

int cnames_register(lua_State *L, struct cnames *n, const char *name, uint64_t pid,
		    int scope)
{
	return park(L, n, NJ_REGISTER, name, pid, scope, 0);
}

int cnames_acquire(lua_State *L, struct cnames *n, const char *name, uint64_t pid)
{
	return park(L, n, NJ_REGISTER, name, pid, 3, 1);
}

int cnames_release(lua_State *L, struct cnames *n, const char *name, uint64_t pid)
{
	(void)proc_coro(L); /* raises first, before the cache is touched */
	cache_del(n, name, pid);
	return park(L, n, NJ_RELEASE, name, pid, 0, 1);
}

size_t cnames_scan(struct cnames *n, const char *prefix, uint64_t **out)
{
	size_t len = strlen(prefix), cnt = 0, cap = 0;
	*out = NULL;
	if (n == NULL)
		return 0;
	pthread_rwlock_rdlock(&n->cache_lock);
	for (int b = 0; b < NBUCKETS; b++)
		for (struct centry *e = n->cache[b]; e; e = e->next) {
			if (strncmp(e->name, prefix, len) != 0)
				continue;
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			(*out)[cnt++] = e->pid;
		}
	pthread_rwlock_unlock(&n->cache_lock);
	return cnt;
}

int cnames_unregister(struct cnames *n, const char *name, uint64_t pid)
{
	if (n == NULL)
		return 0;
	int had = cache_del(n, name, pid);
	if (had)
		queue(n, job_new(n, NJ_RELEASE, name, pid));
	return had;
}

void cnames_exit(struct cnames *n, uint64_t pid)
{
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->nown;) {
		if (n->own[i].pid != pid) {
			i++;
			continue;
		}
		struct owned o = n->own[i];
		n->own[i] = n->own[--n->nown];
		pthread_mutex_unlock(&n->lock);
		cache_del(n, o.name, pid);
		/* Released even if the cache lost it first (a watcher update):
		** the KV value is compared before anything is changed. */
		struct njob *j = job_new(n, NJ_RELEASE, o.name, 0);
		memcpy(j->value, o.value, sizeof(j->value));
		queue(n, j);
		free(o.name);
		pthread_mutex_lock(&n->lock);
		i = 0;
	}
	pthread_mutex_unlock(&n->lock);
}

void cnames_node_down(struct cnames *n, int idx)
{
	struct njob *list = NULL;

	pthread_rwlock_wrlock(&n->cache_lock);
	for (int b = 0; b < NBUCKETS; b++)
		for (struct centry **pp = &n->cache[b], *e; (e = *pp) != NULL;) {
			if (node_of(n->rt, e->pid, NULL) == idx) {
				struct njob *j = job_new(n, NJ_RELEASE, e->name, e->pid);
				j->next = list;
				list = j;
				*pp = e->next;
				free(e);
			} else {
				pp = &e->next;
			}
		}
	pthread_rwlock_unlock(&n->cache_lock);
	while (list) {
		struct njob *j = list;
		list = j->next;
		queue(n, j);
	}
}

struct cnames *cnames_start(struct rt *rt, void *js, const char *bucket)
{
	struct cnames *n = xcalloc(1, sizeof(*n));
	kvConfig kc;

	n->rt = rt;
	n->names = strcmp(bucket, "wippy_names") == 0;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	pthread_rwlock_init(&n->cache_lock, NULL);
	kvConfig_Init(&kc);
	kc.Bucket = bucket;
	kc.History = 1;
	if (cluster_kv_open(js, &kc, (void **)&n->kv) != 0) {
		fprintf(stderr, "wippy: cluster: cannot open the bucket %s\n", bucket);
		cnames_stop(n);
		return NULL;
	}
	n->started_worker = pthread_create(&n->worker, NULL, worker_main, n) == 0;
	n->started_watcher = pthread_create(&n->watcher, NULL, watcher_main, n) == 0;
	if (!n->started_worker || !n->started_watcher) {
		fprintf(stderr, "wippy: cluster: cannot start the names threads\n");
		cnames_stop(n);
		return NULL;
	}
	return n;
}

void cnames_stop(struct cnames *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	atomic_store(&n->stop, 1);
	pthread_cond_broadcast(&n->wake);
	pthread_mutex_unlock(&n->lock);
	if (n->started_worker)
		pthread_join(n->worker, NULL);
	if (n->started_watcher)
		pthread_join(n->watcher, NULL);
	for (struct njob *j = n->head, *nx; j; j = nx) {
		nx = j->next;
		if (j->p)
			proc_unref(j->p);
		job_free(j);
	}
	for (size_t i = 0; i < n->nown; i++)
		free(n->own[i].name);
	free(n->own);
	for (int b = 0; b < NBUCKETS; b++)
		for (struct centry *e = n->cache[b], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	if (n->kv)
		kvStore_Destroy(n->kv);
	pthread_rwlock_destroy(&n->cache_lock);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->wake);
	free(n);
}
