/*
** runtime/policy.c: compiling and evaluating security policies, and the
** per-registry table of them (runtime/policy.h has the contract).
**
** Semantics follow the original's condition evaluator, including its
** corners, because apps are written against them:
**   - a field that cannot be found is null; every operator but exists and
**     nexists is false on null (so `ne` on a missing field is false);
**   - exists/nexists read their value as a boolean: `exists: true` holds
**     when the field is there, `exists: false` when it is not;
**   - eq compares numbers as numbers (a numeric string counts), then
**     scalars as their text ("true" eq true holds);
**   - a comparison that cannot be made (lt on a non-number, in against a
**     non-list, contains on a number list...) is an error, and an error
**     makes the policy UNDEFINED, whatever the operator: `nin` with a bad
**     value is not "true";
**   - `in` against a single string is equality; `contains` on a list is
**     membership, on text a substring test;
**   - `matches` searches (unanchored) with the pattern compiled at load;
**     with value_from there is no compiled pattern and it is an error.
** The original compiles patterns with Go's RE2; PCRE2 accepts RE2's
** syntax except \C and a few Unicode class names, and more besides.
*/
#include "runtime/policy.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/policy_expr.h"
#include "runtime/registry.h"

enum op {
	OP_EQ, OP_NE, OP_LT, OP_GT, OP_LTE, OP_GTE, OP_IN, OP_NIN,
	OP_EXISTS, OP_NEXISTS, OP_CONTAINS, OP_NCONTAINS, OP_MATCHES,
	OP_NMATCHES,
};

static const char *const op_names[] = {
	"eq", "ne", "lt", "gt", "lte", "gte", "in", "nin", "exists", "nexists",
	"contains", "ncontains", "matches", "nmatches", NULL
};

struct cond {
	char *field;
	enum op op;
	bool has_value;
	struct policy_val value;
	char *value_from;	/* NULL: compare with value */
	pcre2_code *re;		/* matches/nmatches with a string value */
};

/* An action or resource pattern, classified once: "*", exact, or a prefix
** (the text before a trailing "*" or ".*"; an exact match of the whole
** pattern is a prefix match too). */
enum pat_kind { PAT_ANY, PAT_EXACT, PAT_PREFIX };

struct pat {
	char *s;
	size_t len;		/* PAT_PREFIX: of the prefix */
	enum pat_kind kind;
};

struct policy {
	char *id;
	struct pat *actions, *resources;
	size_t nactions, nresources;
	enum policy_result effect;
	struct cond *conds;
	size_t nconds;
	char **groups;
	size_t ngroups;
	struct pexpr *expr;	/* security.policy.expr: instead of conditions */
};

/* {==== Values ====} */

void policy_val_clear(struct policy_val *v)
{
	if (v == NULL)
		return;
	if (v->type == PV_STR)
		free((char *)v->str);
	if (v->type == PV_ARR || v->type == PV_MAP) {
		for (size_t i = 0; i < v->n; i++) {
			policy_val_clear(&v->items[i]);
			if (v->keys)
				free((char *)v->keys[i]);
		}
		free(v->items);
		free(v->keys);
	}
	memset(v, 0, sizeof(*v));
}

const struct policy_val *policy_val_get(const struct policy_val *m, const char *k)
{
	if (m == NULL || m->type != PV_MAP)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->keys[i], k) == 0)
			return &m->items[i];
	return NULL;
}

/* Fill *out with an owned copy of the YAML node v. */
static void from_reg(struct policy_val *out, const struct reg_value *v)
{
	memset(out, 0, sizeof(*out));
	switch (v->type) {
	case REG_NULL:
		return;
	case REG_BOOL:
		out->type = PV_BOOL;
		out->b = v->b;
		return;
	case REG_INT:
		out->type = PV_NUM;
		out->num = (double)v->i;
		return;
	case REG_FLOAT:
		out->type = PV_NUM;
		out->num = v->f;
		return;
	case REG_STR:
		out->type = PV_STR;
		out->str = xstrdup(v->str);
		out->len = strlen(v->str);
		return;
	case REG_SEQ:
	case REG_MAP:
		out->type = v->type == REG_SEQ ? PV_ARR : PV_MAP;
		out->n = v->n;
		out->items = xcalloc(v->n ? v->n : 1, sizeof(*out->items));
		if (v->type == REG_MAP)
			out->keys = xcalloc(v->n ? v->n : 1, sizeof(char *));
		for (size_t i = 0; i < v->n; i++) {
			from_reg(&out->items[i], v->items[i]);
			if (out->keys)
				out->keys[i] = xstrdup(v->keys[i]);
		}
		return;
	}
}

/* {==== Comparisons (the original's compare, equals, toString...) ====} */

/* As Go's toFloat64: numbers, and strings that parse whole as one. */
static bool to_num(const struct policy_val *v, double *out)
{
	char *end;

	if (v->type == PV_NUM) {
		*out = v->num;
		return true;
	}
	if (v->type != PV_STR || v->len == 0)
		return false;
	*out = strtod(v->str, &end);
	return *end == '\0';
}

/* As Go's toString for a scalar: the text of a string, a number ('f', -1:
** no exponent, shortest) or a boolean. Containers and null have none. */
static bool to_text(const struct policy_val *v, char *buf, size_t size,
		    const char **s)
{
	switch (v->type) {
	case PV_STR:
		*s = v->str;
		return true;
	case PV_BOOL:
		*s = v->b ? "true" : "false";
		return true;
	case PV_NUM:
		if (v->num == (double)(long long)v->num && v->num < 1e18 && v->num > -1e18)
			snprintf(buf, size, "%lld", (long long)v->num);
		else
			snprintf(buf, size, "%.17g", v->num);
		*s = buf;
		return true;
	default:
		return false;
	}
}

static bool equals(const struct policy_val *a, const struct policy_val *b)
{
	double x, y;
	char ba[40], bb[40];
	const char *sa, *sb;

	if (a->type == PV_BOOL && b->type == PV_BOOL)
		return a->b == b->b;
	if (to_num(a, &x) && to_num(b, &y))
		return x == y;
	if (to_text(a, ba, sizeof(ba), &sa) && to_text(b, bb, sizeof(bb), &sb))
		return strcmp(sa, sb) == 0;
	return false;
}

/* 1 true, 0 false, -1 the comparison cannot be made. */
static int is_in(const struct policy_val *f, const struct policy_val *list)
{
	if (list->type == PV_STR)
		return equals(f, list);
	if (list->type != PV_ARR)
		return -1;
	for (size_t i = 0; i < list->n; i++)
		if (equals(f, &list->items[i]))
			return 1;
	return 0;
}

static int contains(const struct policy_val *f, const struct policy_val *x)
{
	char bf[40], bx[40];
	const char *sf, *sx;

	if (to_text(f, bf, sizeof(bf), &sf) && to_text(x, bx, sizeof(bx), &sx))
		return strstr(sf, sx) != NULL;
	if (f->type == PV_ARR) {
		for (size_t i = 0; i < f->n; i++)
			if (equals(&f->items[i], x))
				return 1;
		return 0;
	}
	return -1;
}

static int matches(const struct cond *c, const struct policy_val *f,
		   const struct policy_val *x)
{
	char bf[40], bx[40];
	const char *sf, *sx;
	pcre2_match_data *md;
	int rc;

	if (!to_text(f, bf, sizeof(bf), &sf) || !to_text(x, bx, sizeof(bx), &sx))
		return -1;
	if (c->re == NULL)
		return -1;	/* not compiled at load: value_from */
	md = pcre2_match_data_create_from_pattern(c->re, NULL);
	if (md == NULL)
		return -1;
	rc = pcre2_match(c->re, (PCRE2_SPTR)sf, strlen(sf), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* The exists/nexists reading of a condition's value. */
static bool truthy(const struct policy_val *x)
{
	return x->type == PV_BOOL ? x->b : true;
}

static int compare(const struct cond *c, const struct policy_val *f,
		   const struct policy_val *x)
{
	double a, b;
	int r;

	if (f == NULL || f->type == PV_NULL) {
		if (c->op == OP_EXISTS)
			return !truthy(x);
		if (c->op == OP_NEXISTS)
			return truthy(x);
		return 0;
	}
	switch (c->op) {
	case OP_EXISTS:
		return truthy(x);
	case OP_NEXISTS:
		return x->type == PV_BOOL ? !x->b : 0;
	case OP_EQ:
		return equals(f, x);
	case OP_NE:
		return !equals(f, x);
	case OP_LT: case OP_GT: case OP_LTE: case OP_GTE:
		if (!to_num(f, &a) || !to_num(x, &b))
			return -1;
		return c->op == OP_LT ? a < b : c->op == OP_GT ? a > b :
		       c->op == OP_LTE ? a <= b : a >= b;
	case OP_IN:
		return is_in(f, x);
	case OP_NIN:
		r = is_in(f, x);
		return r < 0 ? r : !r;
	case OP_CONTAINS:
		return contains(f, x);
	case OP_NCONTAINS:
		r = contains(f, x);
		return r < 0 ? r : !r;
	case OP_MATCHES:
		return matches(c, f, x);
	case OP_NMATCHES:
		r = matches(c, f, x);
		return r < 0 ? r : !r;
	}
	return -1;
}

/* {==== Fields ====} */

/* Walk the dotted path p (ending at end) down nested maps from m. Sets
** *out (NULL: not found). */
static const struct policy_val *walk(const struct policy_val *m, const char *p)
{
	char key[256];

	while (m != NULL && *p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (len >= sizeof(key) || m->type != PV_MAP)
			return NULL;
		memcpy(key, p, len);
		key[len] = '\0';
		m = policy_val_get(m, key);
		p += len + (dot != NULL);
	}
	return m;
}

/*
** Resolve a condition field: actor.id, actor.meta[.k...], meta.k[...],
** action, resource, or (anything else) the whole path as a key of meta.
** *tmp receives a string value for action/resource/actor.id. Returns 0
** with *out (NULL: not found), or -1 for a path the original rejects
** (actor, actor.x, meta alone, any actor.* with no actor).
*/
static int field(const char *path, const struct policy_actor *actor,
		 const char *action, const char *resource,
		 const struct policy_val *meta, struct policy_val *tmp,
		 const struct policy_val **out)
{
	*out = NULL;
	if (strncmp(path, "actor", 5) == 0 && (path[5] == '.' || path[5] == '\0')) {
		const char *rest = path + 5;

		if (*rest == '\0')
			return -1;
		rest++;
		if (actor == NULL || ((actor->id == NULL || !*actor->id) && actor->meta == NULL))
			return -1;
		if (strcmp(rest, "id") == 0) {
			memset(tmp, 0, sizeof(*tmp));
			tmp->type = PV_STR;
			tmp->str = actor->id ? actor->id : "";
			tmp->len = strlen(tmp->str);
			*out = tmp;
			return 0;
		}
		if (strcmp(rest, "meta") == 0) {
			*out = actor->meta;
			return 0;
		}
		if (strncmp(rest, "meta.", 5) == 0) {
			*out = walk(actor->meta, rest + 5);
			return 0;
		}
		return -1;
	}
	if (strncmp(path, "meta", 4) == 0 && (path[4] == '.' || path[4] == '\0')) {
		if (path[4] == '\0')
			return -1;
		*out = walk(meta, path + 5);
		return 0;
	}
	if (strcmp(path, "action") == 0 || strcmp(path, "resource") == 0) {
		memset(tmp, 0, sizeof(*tmp));
		tmp->type = PV_STR;
		tmp->str = path[0] == 'a' ? action : resource;
		tmp->len = strlen(tmp->str);
		*out = tmp;
		return 0;
	}
	*out = policy_val_get(meta, path);
	return 0;
}

static bool cond_holds(const struct cond *c, const struct policy_actor *actor,
		       const char *action, const char *resource,
		       const struct policy_val *meta)
{
	struct policy_val t1, t2, null = { .type = PV_NULL };
	const struct policy_val *f, *x = &c->value;

	if (field(c->field, actor, action, resource, meta, &t1, &f) < 0)
		return false;
	if (c->value_from != NULL) {
		if (field(c->value_from, actor, action, resource, meta, &t2, &x) < 0)
			return false;
		if (x == NULL)
			x = &null;
	}
	return compare(c, f, x) == 1;
}

/* {==== Policies ====} */

bool policy_match(const char *pattern, const char *value)
{
	size_t pl = strlen(pattern);

	if (strcmp(pattern, "*") == 0 || strcmp(pattern, value) == 0)
		return true;
	if (pl > 2 && pattern[pl - 2] == '.' && pattern[pl - 1] == '*')
		return strncmp(pattern, value, pl - 2) == 0;
	if (pl > 1 && pattern[pl - 1] == '*')
		return strncmp(pattern, value, pl - 1) == 0;
	return false;
}

static void classify(struct pat *p, const char *s)
{
	size_t l = strlen(s);

	p->s = xstrdup(s);
	if (strcmp(s, "*") == 0) {
		p->kind = PAT_ANY;
	} else if (l > 2 && s[l - 2] == '.' && s[l - 1] == '*') {
		p->kind = PAT_PREFIX;
		p->len = l - 2;
	} else if (l > 1 && s[l - 1] == '*') {
		p->kind = PAT_PREFIX;
		p->len = l - 1;
	} else {
		p->kind = PAT_EXACT;
		p->len = l;
	}
}

/* As policy_match, with the pattern classified and value's length known. */
static bool match_any(const struct pat *pats, size_t n, const char *value, size_t vlen)
{
	for (size_t i = 0; i < n; i++) {
		const struct pat *p = &pats[i];

		if (p->kind == PAT_ANY ||
		    (p->kind == PAT_EXACT && p->len == vlen && memcmp(p->s, value, vlen) == 0) ||
		    (p->kind == PAT_PREFIX && p->len <= vlen && memcmp(p->s, value, p->len) == 0))
			return true;
	}
	return false;
}

const char *policy_result_name(enum policy_result r)
{
	return r == POLICY_ALLOW ? "allow" : r == POLICY_DENY ? "deny" : "undefined";
}

/* policy_eval with the lengths of action and resource known; acted: p is
** known to have action, so its action patterns are not tried again. */
static enum policy_result eval_one(const struct policy *p, const struct policy_actor *actor,
				   const char *action, size_t alen, bool acted,
				   const char *resource, size_t rlen,
				   const struct policy_val *meta)
{
	if ((!acted && !match_any(p->actions, p->nactions, action, alen)) ||
	    !match_any(p->resources, p->nresources, resource, rlen))
		return POLICY_UNDEFINED;
	if (p->expr != NULL)
		return pexpr_eval(p->expr, actor, action, resource, meta) == 1 ?
		       p->effect : POLICY_UNDEFINED;
	for (size_t i = 0; i < p->nconds; i++)
		if (!cond_holds(&p->conds[i], actor, action, resource, meta))
			return POLICY_UNDEFINED;
	return p->effect;
}

enum policy_result policy_eval(const struct policy *p,
			       const struct policy_actor *actor,
			       const char *action, const char *resource,
			       const struct policy_val *meta)
{
	return eval_one(p, actor, action, strlen(action), false, resource, strlen(resource),
			meta);
}

static enum policy_result eval_set(const struct policy *const *ps, size_t n,
				   const struct policy_actor *actor,
				   const char *action, bool acted, const char *resource,
				   const struct policy_val *meta)
{
	size_t alen = acted ? 0 : strlen(action), rlen = strlen(resource);
	bool allow = false;

	for (size_t i = 0; i < n; i++) {
		enum policy_result r;

		if (ps[i] == NULL)
			continue;
		r = eval_one(ps[i], actor, action, alen, acted, resource, rlen, meta);
		if (r == POLICY_DENY)
			return POLICY_DENY;
		allow |= r == POLICY_ALLOW;
	}
	return allow ? POLICY_ALLOW : POLICY_UNDEFINED;
}

enum policy_result policy_eval_set(const struct policy *const *ps, size_t n,
				   const struct policy_actor *actor,
				   const char *action, const char *resource,
				   const struct policy_val *meta)
{
	return eval_set(ps, n, actor, action, false, resource, meta);
}

enum policy_result policy_eval_set_acted(const struct policy *const *ps, size_t n,
					 const struct policy_actor *actor,
					 const char *action, const char *resource,
					 const struct policy_val *meta)
{
	return eval_set(ps, n, actor, action, true, resource, meta);
}

bool policy_has_action(const struct policy *p, const char *action)
{
	return match_any(p->actions, p->nactions, action, strlen(action));
}

const char *policy_id(const struct policy *p)
{
	return p->id;
}

const char *const *policy_groups(const struct policy *p, size_t *n)
{
	*n = p->ngroups;
	return (const char *const *)p->groups;
}

void policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nactions; i++)
		free(p->actions[i].s);
	for (i = 0; i < p->nresources; i++)
		free(p->resources[i].s);
	for (i = 0; i < p->ngroups; i++)
		free(p->groups[i]);
	for (i = 0; i < p->nconds; i++) {
		free(p->conds[i].field);
		free(p->conds[i].value_from);
		policy_val_clear(&p->conds[i].value);
		pcre2_code_free(p->conds[i].re);
	}
	free(p->actions);
	free(p->resources);
	free(p->groups);
	free(p->conds);
	pexpr_free(p->expr);
	free(p->id);
	free(p);
}

/* {==== Compiling ====} */

struct cctx {
	policy_errfn err;
	void *ud;
	int nerr;
};

static void fail(struct cctx *c, const struct reg_value *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct cctx *c, const struct reg_value *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->nerr++;
	if (c->err)
		c->err(c->ud, at, msg);
}

/* actions / resources: a non-empty string, or a non-empty list whose
** string items are kept (others ignored, as the original's GetActions). */
static void patterns(struct cctx *c, const struct reg_value *def, const char *key,
		     struct pat **out, size_t *n)
{
	const struct reg_value *v = reg_value_get(def, key);

	*out = NULL;
	*n = 0;
	if (v != NULL && v->type == REG_STR) {
		if (v->str[0] == '\0') {
			fail(c, v, "policy.%s: must not be an empty string", key);
			return;
		}
		*out = xcalloc(1, sizeof(**out));
		classify(&(*out)[(*n)++], v->str);
		return;
	}
	if (v == NULL || v->type != REG_SEQ) {
		fail(c, v ? v : def, "policy.%s: must be a string or a list of strings%s",
		     key, v ? "" : " (missing)");
		return;
	}
	if (v->n == 0) {
		fail(c, v, "policy.%s: must not be an empty list", key);
		return;
	}
	*out = xcalloc(v->n, sizeof(**out));
	for (size_t i = 0; i < v->n; i++)
		if (v->items[i]->type == REG_STR)
			classify(&(*out)[(*n)++], v->items[i]->str);
}

static int find_op(const char *s)
{
	for (int i = 0; op_names[i]; i++)
		if (strcmp(op_names[i], s) == 0)
			return i;
	return -1;
}

static void condition(struct cctx *c, const struct reg_value *cv, size_t i,
		      struct cond *out)
{
	const struct reg_value *f, *o, *v, *vf;
	int op;

	memset(out, 0, sizeof(*out));
	if (cv->type != REG_MAP) {
		fail(c, cv, "policy.conditions[%zu]: must be a mapping", i);
		return;
	}
	f = reg_value_get(cv, "field");
	o = reg_value_get(cv, "operator");
	v = reg_value_get(cv, "value");
	vf = reg_value_get(cv, "value_from");
	if (f == NULL || f->type != REG_STR || f->str[0] == '\0') {
		fail(c, f ? f : cv, "policy.conditions[%zu]: field is required", i);
		return;
	}
	if (o == NULL || o->type != REG_STR || o->str[0] == '\0') {
		fail(c, o ? o : cv, "policy.conditions[%zu]: operator is required", i);
		return;
	}
	op = find_op(o->str);
	if (op < 0) {
		fail(c, o, "policy.conditions[%zu]: unknown operator \"%s\" (eq ne lt gt "
		     "lte gte in nin exists nexists contains ncontains matches nmatches)",
		     i, o->str);
		return;
	}
	if ((v == NULL || v->type == REG_NULL) &&
	    (vf == NULL || vf->type != REG_STR || vf->str[0] == '\0')) {
		fail(c, cv, "policy.conditions[%zu]: value or value_from is required", i);
		return;
	}
	out->field = xstrdup(f->str);
	out->op = (enum op)op;
	if (vf != NULL && vf->type == REG_STR && vf->str[0] != '\0')
		out->value_from = xstrdup(vf->str);
	else {
		from_reg(&out->value, v);
		out->has_value = true;
	}
	if ((op == OP_MATCHES || op == OP_NMATCHES) && out->value_from == NULL &&
	    out->value.type == PV_STR) {
		int ec;
		PCRE2_SIZE off;

		out->re = pcre2_compile((PCRE2_SPTR)out->value.str, out->value.len,
					PCRE2_UTF, &ec, &off, NULL);
		if (out->re == NULL) {
			PCRE2_UCHAR buf[160];

			pcre2_get_error_message(ec, buf, sizeof(buf));
			fail(c, v, "policy.conditions[%zu]: invalid pattern \"%s\": %s "
			     "at offset %zu", i, out->value.str, (char *)buf, (size_t)off);
		}
	}
}

/* "name" -> "ns:name"; an id with a namespace stays. */
static char *full_id(const char *id, const char *ns)
{
	char *s;
	size_t n;

	if (strchr(id, ':') || ns == NULL)
		return xstrdup(id);
	n = strlen(ns) + strlen(id) + 2;
	s = xmalloc(n);
	snprintf(s, n, "%s:%s", ns, id);
	return s;
}

static struct policy *compile(const char *id, const char *ns,
			      const struct reg_value *def,
			      const struct reg_value *groups,
			      policy_errfn err, void *ud, bool expr)
{
	struct cctx c = { err, ud, 0 };
	struct policy *p = xcalloc(1, sizeof(*p));
	const struct reg_value *e, *conds;

	p->id = xstrdup(id);
	if (def == NULL || def->type != REG_MAP) {
		fail(&c, def, "policy: must be a mapping with actions, resources and effect");
		goto err;
	}
	e = reg_value_get(def, "effect");
	if (e != NULL && e->type == REG_STR && strcmp(e->str, "allow") == 0)
		p->effect = POLICY_ALLOW;
	else if (e != NULL && e->type == REG_STR && strcmp(e->str, "deny") == 0)
		p->effect = POLICY_DENY;
	else
		fail(&c, e ? e : def, "policy.effect: must be \"allow\" or \"deny\", got %s%s%s",
		     e && e->str ? "\"" : "", e && e->str ? e->str : "nothing",
		     e && e->str ? "\"" : "");
	patterns(&c, def, "actions", &p->actions, &p->nactions);
	patterns(&c, def, "resources", &p->resources, &p->nresources);
	if (expr) {
		const struct reg_value *x = reg_value_get(def, "expression");
		char msg[300];

		if (x == NULL || x->type != REG_STR || x->str[0] == '\0')
			fail(&c, x ? x : def, "policy.expression: must be a non-empty string");
		else if ((p->expr = pexpr_compile(x->str, msg, sizeof(msg))) == NULL)
			fail(&c, x, "policy.expression: %s", msg);
	}
	conds = expr ? NULL : reg_value_get(def, "conditions");
	if (conds != NULL && conds->type != REG_NULL) {
		if (conds->type != REG_SEQ) {
			fail(&c, conds, "policy.conditions: must be a list");
		} else {
			p->conds = xcalloc(conds->n ? conds->n : 1, sizeof(*p->conds));
			for (size_t i = 0; i < conds->n; i++)
				condition(&c, conds->items[i], i, &p->conds[p->nconds++]);
		}
	}
	if (groups != NULL && groups->type != REG_NULL) {
		if (groups->type != REG_SEQ) {
			fail(&c, groups, "groups: must be a list of group ids");
		} else {
			p->groups = xcalloc(groups->n ? groups->n : 1, sizeof(char *));
			for (size_t i = 0; i < groups->n; i++) {
				if (groups->items[i]->type != REG_STR ||
				    groups->items[i]->str[0] == '\0')
					fail(&c, groups->items[i], "groups: a group id must be a "
					     "non-empty string");
				else
					p->groups[p->ngroups++] = full_id(groups->items[i]->str, ns);
			}
		}
	}
	if (c.nerr == 0)
		return p;
err:
	policy_free(p);
	return NULL;
}

struct policy *policy_compile(const char *id, const char *ns,
			      const struct reg_value *def,
			      const struct reg_value *groups,
			      policy_errfn err, void *ud)
{
	return compile(id, ns, def, groups, err, ud, false);
}

struct policy *policy_compile_expr(const char *id, const char *ns,
				   const struct reg_value *def,
				   const struct reg_value *groups,
				   policy_errfn err, void *ud)
{
	return compile(id, ns, def, groups, err, ud, true);
}

/* {==== Tables ====} */

struct group {
	char *id;
	const struct policy **v;
	size_t n;
};

struct policy_table {
	const struct registry *reg;
	struct policy **v;
	size_t n;
	struct group *groups;
	size_t ngroups;
	struct policy_table *next;
};

const struct policy *policy_find(const struct policy_table *t, const char *id);

static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct policy_table *) tables;

static void add_to_group(struct policy_table *t, const char *gid,
			 const struct policy *p)
{
	struct group *g = NULL;

	for (size_t i = 0; i < t->ngroups; i++)
		if (strcmp(t->groups[i].id, gid) == 0)
			g = &t->groups[i];
	if (g == NULL) {
		t->groups = xrealloc(t->groups, (t->ngroups + 1) * sizeof(*t->groups));
		g = &t->groups[t->ngroups++];
		g->id = xstrdup(gid);
		g->v = NULL;
		g->n = 0;
	}
	g->v = xrealloc(g->v, (g->n + 1) * sizeof(*g->v));
	g->v[g->n++] = p;
}

static void add_scopes(struct policy_table *t, const struct registry *reg);

static struct policy_table *build(const struct registry *reg)
{
	struct policy_table *t = xcalloc(1, sizeof(*t));
	struct reg_entry *e = NULL;

	t->reg = reg;
	while (reg && (e = reg_next(reg, e)) != NULL) {
		bool ex = strcmp(e->kind, "security.policy.expr") == 0;
		struct policy *p;
		size_t ng;
		const char *const *gs;

		if (!ex && strcmp(e->kind, "security.policy") != 0)
			continue;
		p = compile(e->id, e->ns, reg_value_get(e->data, "policy"),
			    reg_value_get(e->data, "groups"), NULL, NULL, ex);
		if (p == NULL)
			continue;
		t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
		t->v[t->n++] = p;
		gs = policy_groups(p, &ng);
		for (size_t i = 0; i < ng; i++)
			add_to_group(t, gs[i], p);
	}
	add_scopes(t, reg);
	return t;
}

const struct policy_table *policy_table_of(const struct registry *reg)
{
	struct policy_table *t;

	for (t = atomic_load_explicit(&tables, memory_order_acquire); t; t = t->next)
		if (t->reg == reg)
			return t;
	pthread_mutex_lock(&tables_lock);
	for (t = atomic_load_explicit(&tables, memory_order_relaxed); t; t = t->next)
		if (t->reg == reg)
			break;
	if (t == NULL) {
		t = build(reg);
		t->next = atomic_load_explicit(&tables, memory_order_relaxed);
		atomic_store_explicit(&tables, t, memory_order_release);
	}
	pthread_mutex_unlock(&tables_lock);
	return t;
}

const struct policy *policy_find(const struct policy_table *t, const char *id)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (strcmp(t->v[i]->id, id) == 0)
			return t->v[i];
	return NULL;
}

/* security.scope entries become groups too: the listed policies that
** exist, in the scope's order. */
static void add_scopes(struct policy_table *t, const struct registry *reg)
{
	struct reg_entry *e = NULL;

	while (reg && (e = reg_next_kind(reg, "security.scope", e)) != NULL) {
		const struct reg_value *ps = reg_value_get(e->data, "policies");
		struct group *g;

		t->groups = xrealloc(t->groups, (t->ngroups + 1) * sizeof(*t->groups));
		g = &t->groups[t->ngroups++];
		g->id = xstrdup(e->id);
		g->v = NULL;
		g->n = 0;
		for (size_t i = 0; ps && ps->type == REG_SEQ && i < ps->n; i++) {
			const struct policy *p;
			char *id;

			if (ps->items[i]->type != REG_STR)
				continue;
			id = full_id(ps->items[i]->str, e->ns);
			p = policy_find(t, id);
			free(id);
			if (p == NULL)
				continue;
			g->v = xrealloc(g->v, (g->n + 1) * sizeof(*g->v));
			g->v[g->n++] = p;
		}
	}
}

const struct policy *const *policy_group(const struct policy_table *t,
					 const char *id, size_t *n)
{
	for (size_t i = 0; t && i < t->ngroups; i++)
		if (strcmp(t->groups[i].id, id) == 0) {
			*n = t->groups[i].n;
			return t->groups[i].v;
		}
	*n = 0;
	return NULL;
}
