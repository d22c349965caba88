/*
** runtime/policy_expr.h: the expressions of security.policy.expr entries
** (the original's expr-lang `expression`, for the subset its docs and apps
** use), compiled once and evaluated without allocating. runtime/policy.c
** is the only user.
**
** The subset: literals ("s", 's', numbers, true, false, nil), lists [a,
** b], fields action, resource, actor.id, actor.meta.a.b, meta.a.b, and
** (a bare name) a key of meta; == != < > <= >=, in and not in (a list, or
** a map's keys), matches (a literal pattern: PCRE2, compiled at load),
** contains, startsWith, endsWith; !, not, &&, and, ||, or; parentheses.
** What expr-lang has beyond that (arithmetic, functions, closures,
** ternaries, indexing with []) is a load error naming the position.
**
** Evaluation follows expr-lang: == compares values of the same kind (all
** numbers are one kind), never converting text to a number; ordering
** needs two numbers or two strings; && and || need booleans and short-
** circuit; a missing field is nil. A type error, or a result that is not
** a boolean, is an error: the policy is then undefined.
*/
#ifndef RUNTIME_POLICY_EXPR_H
#define RUNTIME_POLICY_EXPR_H

#include <stddef.h>

struct pexpr;	/* opaque */
struct policy_actor;
struct policy_val;

/* Compile src. Returns the expression, or NULL with a message (at most
** size bytes, naming the byte offset) in err. Free with pexpr_free. */
struct pexpr *pexpr_compile(const char *src, char *err, size_t size);

void pexpr_free(struct pexpr *e);

/* 1 the expression is true, 0 false, -1 an evaluation error. actor and
** meta may be NULL. Never allocates. */
int pexpr_eval(const struct pexpr *e, const struct policy_actor *actor,
	       const char *action, const char *resource,
	       const struct policy_val *meta);

#endif
