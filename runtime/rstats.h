/*
** runtime/rstats.h: the runtime's own figures, counted per shard, and the
** Prometheus scrape that exposes them beside the app's metrics
** (runtime/metrics.h).
**
** Each shard has one cache-line-aligned slot of counters that only its
** own thread writes (a relaxed load and store, no atomic read-modify-
** write), read by a scrape with relaxed loads: a scrape never stops or
** slows a shard. Code running off the shards (boot, worker threads) counts
** into one extra slot with atomic adds.
**
** What a hot path pays: a send, a spawn, an exit or an HTTP response is
** one call here, a thread-local read and an increment; the Lua heap is
** accounted once per process step, not per allocation (rstats_heap).
**
** Thread affinity: every function may be called from any thread.
*/
#ifndef RUNTIME_RSTATS_H
#define RUNTIME_RSTATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rt;
struct engine;
struct rstats; /* opaque */

/* Slots for the engine's shards (plus the off-shard one). Never NULL. */
struct rstats *rstats_create(struct engine *e);
void rstats_destroy(struct rstats *r);

/* A process (not a pooled function state) was spawned / ended. */
void rstats_spawned(struct rstats *r);
void rstats_exited(struct rstats *r);

/* A message was sent to a process. */
void rstats_sent(struct rstats *r);

/* A process's received queue holds n messages: the calling shard's high-
** water mark follows. */
void rstats_mbox(struct rstats *r, uint64_t n);

/* The Lua heaps grew by delta bytes (negative: shrank); the sum over the
** slots is the heap of every live state. */
void rstats_heap(struct rstats *r, int64_t delta);

/* The Lua collector ran one step (full == 0) or one full collection in a
** process's state on the calling shard (runtime/luagc.c counts them). */
void rstats_gc(struct rstats *r, int full);

/* An HTTP response with this status went out ns after its request was
** dispatched (ns < 0: unknown, e.g. a 400 for a request never parsed;
** only the status is counted then). */
void rstats_http(struct rstats *r, int status, int64_t ns);

/*
** The body of a GET on a service's `metrics:` path: the app's metrics
** (rt->metrics) then the runtime's figures, per shard labelled
** shard="N", in the Prometheus text format 0.0.4. Returns a malloc'd
** text (the caller frees it) and its length in *len. With top > 0 it
** also lists the `top` processes that ran the most steps
** (wippy_process_steps_total and wippy_process_heap_bytes by pid and
** entry; at most RSTATS_TOP_MAX), walking the pid table; `wippy top`
** asks for them with ?top=N.
*/
#define RSTATS_TOP_MAX 100
char *rstats_scrape(struct rt *rt, size_t *len, int top);

/* Whether a request (method, raw request-target) is a scrape of a
** service whose `metrics:` path is path (NULL: it has none): GET or HEAD
** of exactly that path, any query aside. */
int rstats_is_scrape(const char *path, const char *method, size_t ml,
		     const char *target, size_t tl);

/* The Content-Type of that body. */
#define RSTATS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Totals over the shards, for the system module. */
struct rstats_totals {
	uint64_t spawned, exited, sent;
	int64_t heap;
};
void rstats_totals(struct rstats *r, struct rstats_totals *out);

/* One process.host (or terminal or HTTP host) as system.hosts.list
** shows it: its processes now (pid table walk: not for hot paths), and
** over its shards the tasks run, taken from the global queue and ready. */
struct rstats_host {
	const char *id;
	int workers;
	uint64_t processes, executed, stolen, queue_depth;
};

/* Fill out[0..rt->nhosts) (the caller's array). Any thread. */
void rstats_hosts(struct rt *rt, struct rstats_host *out);

#endif
