/*
** runtime/cnames.h: cluster-wide process names (process.registry scopes
** EVENTUAL, CONSISTENT and STRONG), kept in the JetStream KV bucket
** `wippy_names`: a key per name (escaped), its value the holder's pid
** string, or "" once released.
**
** - EVENTUAL is a put: the last writer wins.
** - CONSISTENT is a compare-and-set: a create where the key is new, an
**   update at the revision read where it was released or its holder is
**   known to be gone; a name held by a live process gives -EEXIST, and of
**   two nodes racing for one name exactly one wins (the KV's revision
**   check is done by the server).
** - STRONG is CONSISTENT here (see docs/compatibility.md, "Cluster").
** Lookups never leave the node: a watcher thread keeps a local cache from
** the bucket's updates. A name is released (set to "" at the revision
** read, so a newer holder is never touched) when its holder exits, or by
** the surviving nodes when the holder's node goes down.
**
** The KV calls block, so they run on the names thread, never on a shard:
** a registering coroutine parks (proc_block) and its result comes back
** through its shard (shard_post, then proc_ext_post), as sqldb's do.
*/
#ifndef RUNTIME_CNAMES_H
#define RUNTIME_CNAMES_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct rt;
struct cnames;

/* Start on the cluster's JetStream context js (a jsCtx *): open or make
** the bucket (`wippy_names` for the names; `wippy_groups` holds the
** process groups, lua_modules/pg.c, in the same shape), load the cache,
** start the threads. NULL (printed) on failure. Main thread, from
** cluster_start. */
struct cnames *cnames_start(struct rt *rt, void *js, const char *bucket);

/* Stop the threads and free everything; jobs still queued are dropped. */
void cnames_stop(struct cnames *n);

/* From a process coroutine: register name for pid in scope (1..3) and
** park the caller; it resumes with true, or nil and an error (kind
** AlreadyExists for a name another live process holds, Unavailable when
** the KV cannot be reached). Use as `return cnames_register(...)`.
** [-0, +0, e] */
int cnames_register(lua_State *L, struct cnames *n, const char *name, uint64_t pid,
		    int scope);

/* system.lock.acquire: cnames_register in scope STRONG for pid, except
** that a name held by another live process resumes the caller with
** false and an AlreadyExists error (the original's lock API), not nil.
** [-0, +0, e] */
int cnames_acquire(lua_State *L, struct cnames *n, const char *name, uint64_t pid);

/* system.lock.release: release name in the KV if pid holds it there (the
** KV is asked, not the cache, which may lag), parking the caller; it
** resumes with true when this released it, false when the name was free
** or another's, or nil and Unavailable. [-0, +0, e] */
int cnames_release(lua_State *L, struct cnames *n, const char *name, uint64_t pid);

/* The holders of the cached names that start with prefix, into *out
** (malloc'd, the caller frees it; NULL when none), in no order. Returns
** how many. Any thread. */
size_t cnames_scan(struct cnames *n, const char *prefix, uint64_t **out);

/* The holder of name in the cache, or 0. Any thread. */
uint64_t cnames_lookup(struct cnames *n, const char *name);

/* Drop name from the cache and release it in the KV if pid (0: whoever)
** holds it. Returns 1 if the cache had it. Any thread. */
int cnames_unregister(struct cnames *n, const char *name, uint64_t pid);

/* The process pid (local) exited: release its names. Any thread. */
void cnames_exit(struct cnames *n, uint64_t pid);

/* Node index idx went down: release the names its processes held. */
void cnames_node_down(struct cnames *n, int idx);

#endif
