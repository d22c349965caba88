/*
** runtime/polctx.h: security contexts compiled once and shared.
**
** A process carries its actor and scope encoded (p->sec). To check an
** operation it needs them compiled against the registry's policy table:
** the actor's id and meta as a policy_val, the scope's policy ids
** resolved to policies. Every child of a spawner, every request handled
** under one token's scope, carries the same bytes, so the compiled form
** is interned here by (policy table, encoded bytes) and shared: a fresh
** process finds its context with one hash lookup instead of decoding and
** resolving it (a fresh scoped process cost 36 % more than an unscoped
** one, most of it in that build, bench/send_scope.sh).
**
** A context also keeps, per check-site action (the C string literal, by
** address), its policies that have that action, filled on first use.
**
** Contexts are immutable once interned (the per-action lists are filled
** once each, under the table's lock, and published with a release), and
** live until exit, like the policy tables they point into. At most
** POLCTX_MAX are interned; past that a caller keeps its own, unshared.
** Any thread.
*/
#ifndef RUNTIME_POLCTX_H
#define RUNTIME_POLCTX_H

#include <stdatomic.h>
#include <stddef.h>

#include "runtime/policy.h"

#define POLCTX_MAX  4096
#define POLCTX_ACTS 8           /* per-action lists kept per context */

struct polctx_act {
	_Atomic(const char *) action;   /* NULL: free slot */
	const struct policy **ps;
	size_t n;
};

struct polctx {
	int has_actor, has_scope;
	char *actor_id;                 /* "" when the actor has none */
	struct policy_val meta;         /* PV_NULL when none */
	const struct policy **ps;       /* the scope's, resolved */
	size_t n;
	struct polctx_act acts[POLCTX_ACTS];
};

/* The interned context for (t, key), or NULL. */
const struct polctx *polctx_find(const struct policy_table *t,
				 const void *key, size_t len);

/* Intern c (xcalloc'd by the caller, its fields owned) under (t, key).
** Returns c, or the equal context another thread interned first (c is
** then freed), or NULL when POLCTX_MAX are interned (c stays the
** caller's, to free with polctx_free). */
const struct polctx *polctx_intern(const struct policy_table *t,
				   const void *key, size_t len, struct polctx *c);

/* Free a context that was never interned. */
void polctx_free(struct polctx *c);

/* The policies of c that have action (a literal: kept by address),
** *n of them. Without memory, or with every slot taken, a fresh list the
** caller must free is returned and *owned is set. */
const struct policy *const *polctx_acted(const struct polctx *c,
					 const char *action, size_t *n,
					 int *owned);

#endif
