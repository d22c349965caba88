/*
** runtime/memstore.h: the key/value stores of store.memory entries, one
** per entry and runtime, shared by every process (the original's
** service/store/memory).
**
** A value is a struct payload (runtime/payload.h) copied in on set and
** out on get, so no Lua object is shared. An entry may carry an expiry
** (ms on the monotonic clock); an expired entry reads as absent and is
** purged when met, when a set needs room, and by memstore_purge. A set of
** a new key into a store holding max_size live entries fails (the
** original's "store is full"). Every call takes the store's mutex and
** returns quickly (no I/O), so the callers run them on their shard.
**
** Thread affinity: any thread.
*/
#ifndef RUNTIME_MEMSTORE_H
#define RUNTIME_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "payload.h"

struct rt;
struct reg_entry;
struct memstore;

/* The store of entry e (a store.memory), created on first use. Never
** NULL. */
struct memstore *memstore_get(struct rt *rt, const struct reg_entry *e);

/* Copy the live value of key into *out (caller frees). 0, or -ENOENT. */
int memstore_lookup(struct memstore *s, const char *key, size_t klen,
		    struct payload *out);

/* 1 if key holds a live value, else 0. */
int memstore_has(struct memstore *s, const char *key, size_t klen);

/* Store v under key (v is moved into the store; on failure it is freed)
** with a time to live of ttl_ms (0: none). 0, or -ENOSPC (full). */
int memstore_set(struct memstore *s, const char *key, size_t klen,
		 struct payload *v, uint64_t ttl_ms);

/* Remove key. 0, or -ENOENT if it held no live value. */
int memstore_delete(struct memstore *s, const char *key, size_t klen);

/* Drop expired entries; returns how many. */
size_t memstore_purge(struct memstore *s);

/* Runtime teardown: free every store of rt. */
void memstore_free(struct rt *rt);

#endif
