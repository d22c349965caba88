/*
** runtime/live.h: the running registry, i.e. the registry's versions as
** the runtime moves through them at run time (the `registry` module's
** snapshot, changes:apply, versions, apply_version).
**
** Version 1 is the registry the runtime booted with (rt->reg). Applying a
** change set derives a new version from the current one (reg_derive:
** copy-on-write per entry), compiles the Lua entries it added, publishes
** it by swapping one pointer, and then lets the runtime catch up: the
** supervisor starts, stops and restarts process.service entries, and the
** HTTP server swaps in new route tables. A reader on any shard takes the
** current version with one atomic load and reads it without locks: a
** version never changes once published, and every version is kept until
** the runtime ends (history; apply_version; the entry pointers processes
** and routes hold), so nothing a reader holds is ever freed under it.
**
** Applies are serialized by one lock and run on the applying thread (a
** shard, inside the calling process's step): they are rare and short.
*/
#ifndef RUNTIME_LIVE_H
#define RUNTIME_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct rt;

/* One version: read-only once published, alive until the runtime ends. */
struct live_version {
	uint64_t id;                       /* 1 for the boot registry */
	struct registry *reg;
	const struct live_version *prev;   /* what it was derived from, or NULL */
	int64_t at;                        /* unix time it was made, seconds */
};

/* What one apply changed, entry by entry: created (old NULL), deleted (new
** NULL) or replaced. requested is 0 for an entry decoded again only
** because something it refers to changed (its data is the same). */
struct live_change {
	enum reg_op op;
	const struct reg_entry *old, *new;
	int requested;
};

struct live_diff {
	struct live_change *v;
	size_t n;
};

void live_diff_free(struct live_diff *d);

/* The current version (made on first use from rt->reg). Any thread. */
const struct live_version *live_current(struct rt *rt);

/* The current version's registry: rt->reg until anything was applied.
** Any thread; allocates nothing. */
struct registry *live_registry(struct rt *rt);

/* Every version, oldest first: *out is a malloc'd array of the returned
** count, freed by the caller. Any thread. */
size_t live_versions(struct rt *rt, const struct live_version ***out);

/* The version with that id, or NULL. Any thread. */
const struct live_version *live_find(struct rt *rt, uint64_t id);

/*
** Apply c to base, which must be the current version, as a new version
** that becomes current; then the supervisor and the HTTP server follow
** it. On success *out is the new version and *diff what changed (free
** with live_diff_free). Returns 0, or a negative errno with *msg
** (malloc'd, one line per problem) set and nothing changed: -ESTALE (base
** is no longer current), -ECANCELED (the runtime is shutting down), the
** codes of reg_derive (-EINVAL, -ENOENT, -EEXIST, -ENOTSUP), or -EINVAL
** for a Lua source that does not compile.
*/
int live_apply(struct rt *rt, const struct live_version *base,
	       const struct reg_changes *c, const struct live_version **out,
	       struct live_diff *diff, char **msg);

/*
** Make version v current again (a rollback, or forward again), with the
** same reactions as an apply; no new version is made. Returns 0 with
** *diff set, or -ECANCELED during shutdown.
*/
int live_select(struct rt *rt, const struct live_version *v,
		struct live_diff *diff);

/* Free every version made at run time (not rt->reg, the rt's own). From
** rt_free, after the engine stopped. */
void live_free(struct rt *rt);

#endif
