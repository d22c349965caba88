/*
** runtime/policy.h: security policies, compiled and evaluated (the
** original's service/security/policy: policy.go, condition_evaluator.go,
** util.go, and the Validate of api/service/security/policy/config.go).
** No Lua here: lua_modules/security.c turns Lua values into the value
** trees below and asks.
**
** A policy is {actions, resources, effect, conditions}. It applies to a
** request (actor, action, resource, meta) when one of its actions and one
** of its resources match (exactly, "*", or "prefix*" / "prefix.*") and
** every condition holds; then it answers its effect, else UNDEFINED. A set
** of policies (a scope) answers DENY if any answers DENY, else ALLOW if
** any answers ALLOW, else UNDEFINED, which callers treat as denied.
**
** The policies of a registry (its security.policy and security.policy.expr
** entries) are compiled
** once per registry version, on first use, into a policy_table that lives
** until the process ends, as registry versions do (runtime/live.h): a
** `const struct policy *` taken from a table stays valid everywhere.
*/
#ifndef RUNTIME_POLICY_H
#define RUNTIME_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct reg_value;
struct registry;

/* {====================================================================
** Values: what conditions compare (actor meta, call meta, literals)
** ===================================================================== */

enum policy_vtype { PV_NULL, PV_BOOL, PV_NUM, PV_STR, PV_ARR, PV_MAP };

/*
** One value, a tree. An owned tree (as policy_val_from_reg and
** lua_modules/security.c build them) has every str, items and keys array
** and every key malloc'd, freed by policy_val_clear. Maps are small:
** lookup is linear, keys[i] -> items[i].
*/
struct policy_val {
	enum policy_vtype type;
	bool b;
	double num;
	const char *str;	/* PV_STR: NUL-terminated, len bytes */
	size_t len;
	size_t n;			/* PV_ARR / PV_MAP: items */
	struct policy_val *items;
	const char **keys;		/* PV_MAP */
};

/* Free what an owned tree holds (not v itself) and make it PV_NULL.
** NULL is a no-op. */
void policy_val_clear(struct policy_val *v);

/* The value of map key k, or NULL when m is not a map or has no such
** key. */
const struct policy_val *policy_val_get(const struct policy_val *m, const char *k);

/* }==================================================================== */

/* {====================================================================
** Policies
** ===================================================================== */

enum policy_result { POLICY_UNDEFINED, POLICY_ALLOW, POLICY_DENY };

/* "undefined", "allow", "deny": the Lua module's strings. */
const char *policy_result_name(enum policy_result r);

/* Who asks: an id and a meta map (NULL: none). An actor with an empty id
** and no meta is "no actor": conditions on actor.* fail for it. */
struct policy_actor {
	const char *id;
	const struct policy_val *meta;
};

struct policy;	/* opaque: compiled, immutable */

/*
** Where policy_compile reports what is wrong with a definition: at is the
** offending node (for its file:line:col) or the definition itself.
*/
typedef void (*policy_errfn)(void *ud, const struct reg_value *at, const char *msg);

/*
** Compile the `policy:` mapping def of entry id (groups: the entry's
** `groups` sequence or NULL, ids without a namespace taking ns). Checks
** what the original's Validate checks (effect allow|deny; actions and
** resources a non-empty string or non-empty list; each condition a field,
** a known operator, and a value or value_from) and compiles `matches`
** patterns with PCRE2. Returns the policy, or NULL after calling err once
** per problem (err may be NULL). Free with policy_free.
*/
struct policy *policy_compile(const char *id, const char *ns,
			      const struct reg_value *def,
			      const struct reg_value *groups,
			      policy_errfn err, void *ud);

/* The same for a security.policy.expr entry: `policy: {actions, resources,
** effect, expression}`; the expression (runtime/policy_expr.h) takes the
** place of conditions. */
struct policy *policy_compile_expr(const char *id, const char *ns,
				   const struct reg_value *def,
				   const struct reg_value *groups,
				   policy_errfn err, void *ud);

void policy_free(struct policy *p);

/* The policy's entry id ("ns:name"). */
const char *policy_id(const struct policy *p);

/* Its groups, full ids, *n of them. */
const char *const *policy_groups(const struct policy *p, size_t *n);

/* Evaluate one policy. actor and meta may be NULL. Never allocates. */
enum policy_result policy_eval(const struct policy *p,
			       const struct policy_actor *actor,
			       const char *action, const char *resource,
			       const struct policy_val *meta);

/* Evaluate a set: any DENY wins, else any ALLOW, else UNDEFINED. NULL
** entries are skipped. Never allocates. */
enum policy_result policy_eval_set(const struct policy *const *ps, size_t n,
				   const struct policy_actor *actor,
				   const char *action, const char *resource,
				   const struct policy_val *meta);

/* policy_eval_set over policies each known to have action (as
** policy_has_action says; a scope's per-action selection): their action
** patterns are not tried again. */
enum policy_result policy_eval_set_acted(const struct policy *const *ps, size_t n,
					 const struct policy_actor *actor,
					 const char *action, const char *resource,
					 const struct policy_val *meta);

/* Whether one of p's action patterns matches action (so that a scope can
** keep, per action, only the policies that may answer it). */
bool policy_has_action(const struct policy *p, const char *action);

/* Whether pattern matches value: "*", exact, or a trailing "*" / ".*"
** meaning "starts with what comes before it". */
bool policy_match(const char *pattern, const char *value);

/* }==================================================================== */

/* {====================================================================
** The policies of a registry
** ===================================================================== */

struct policy_table;	/* opaque */

/*
** The compiled security.policy entries of reg, made on the first call for
** that registry and kept until exit (any thread; one lock around the
** first build, none after). An entry that does not compile is left out
** (the load already reported it). NULL reg gives an empty table.
*/
const struct policy_table *policy_table_of(const struct registry *reg);

/* The policy with entry id id, or NULL. */
const struct policy *policy_find(const struct policy_table *t, const char *id);

/* The policies of group id (full "ns:name"): those whose `groups` name
** it, in registry order, or those a security.scope entry of that id
** lists (the ones that exist), in its order; *n of them (0 and NULL for
** an unknown group). A group named in `groups` wins over a
** security.scope of the same id. */
const struct policy *const *policy_group(const struct policy_table *t,
					 const char *id, size_t *n);

/* }==================================================================== */

#endif
