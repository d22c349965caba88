/*
** runtime/reg_change.c: change sets (struct reg_changes) and the registry
** versions derived from them (reg_derive).
**
** Owns: the shape of a change (create, update, delete of one id), the
** Lua-shaped entry {id, kind, meta, data} turned into the registry's flat
** mapping, and the rule for which entries a new version decodes again.
**
** A derived registry is copy-on-write at the grain of an entry: its entry
** array starts as the base's pointers; a created or updated entry is a new
** struct reg_entry in the new registry's arena, and so is every entry that
** refers to one that changed or went (found by a fixpoint over the
** references each kind resolves, refs() below), since its resolved
** pointers would otherwise lead into the old version. Everything else is
** the very same struct as in the base. That keeps a version cheap, keeps
** the code compiled for an unchanged entry valid (runtime/code.c keys it
** by entry), and lets the runtime tell what changed by comparing pointers.
**
** The base is only read. The new registry's own arena holds what it made;
** the shared entries belong to older versions, which must outlive it
** (runtime/live.c keeps every version for the life of the runtime).
*/
#include "runtime/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/reg_int.h"

struct op {
	enum reg_op op;
	const char *id, *kind;
	struct reg_value *meta, *data;
};

struct reg_changes {
	struct reg_arena arena;
	struct op *ops;
	size_t n, cap;
};

/* {==== Change sets ====} */

struct reg_changes *reg_changes_new(void)
{
	return xcalloc(1, sizeof(struct reg_changes));
}

void reg_changes_free(struct reg_changes *c)
{
	if (c == NULL)
		return;
	reg__arena_free(&c->arena);
	free(c->ops);
	free(c);
}

size_t reg_changes_count(const struct reg_changes *c)
{
	return c->n;
}

void reg_changes_add(struct reg_changes *c, enum reg_op op, const char *id,
		     const char *kind, struct reg_value *meta,
		     struct reg_value *data)
{
	struct op *o;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->ops = xrealloc(c->ops, c->cap * sizeof(*c->ops));
	}
	o = &c->ops[c->n++];
	o->op = op;
	o->id = reg__strdup(&c->arena, id ? id : "");
	o->kind = kind ? reg__strdup(&c->arena, kind) : NULL;
	o->meta = meta;
	o->data = data;
}

static struct reg_value *cv(struct reg_changes *c, enum reg_vtype t)
{
	struct reg_value *v = reg__alloc(&c->arena, sizeof(*v));

	v->type = t;
	return v;
}

struct reg_value *reg_cv_null(struct reg_changes *c)
{
	return cv(c, REG_NULL);
}

struct reg_value *reg_cv_bool(struct reg_changes *c, bool b)
{
	struct reg_value *v = cv(c, REG_BOOL);

	v->b = b;
	v->str = b ? "true" : "false";
	return v;
}

struct reg_value *reg_cv_int(struct reg_changes *c, int64_t i)
{
	struct reg_value *v = cv(c, REG_INT);

	v->i = i;
	v->str = reg__printf(&c->arena, "%lld", (long long)i);
	return v;
}

struct reg_value *reg_cv_float(struct reg_changes *c, double f)
{
	struct reg_value *v = cv(c, REG_FLOAT);

	v->f = f;
	v->str = reg__printf(&c->arena, "%.17g", f);
	return v;
}

struct reg_value *reg_cv_str(struct reg_changes *c, const char *s, size_t len)
{
	struct reg_value *v = cv(c, REG_STR);

	v->str = reg__strndup(&c->arena, s, len);
	return v;
}

static struct reg_value *container(struct reg_changes *c, enum reg_vtype t, size_t n)
{
	struct reg_value *v = cv(c, t);

	v->n = n;
	v->items = reg__alloc(&c->arena, (n ? n : 1) * sizeof(*v->items));
	if (t == REG_MAP)
		v->keys = reg__alloc(&c->arena, (n ? n : 1) * sizeof(*v->keys));
	return v;
}

struct reg_value *reg_cv_seq(struct reg_changes *c, size_t n)
{
	return container(c, REG_SEQ, n);
}

struct reg_value *reg_cv_map(struct reg_changes *c, size_t n)
{
	return container(c, REG_MAP, n);
}

const char *reg_cv_key(struct reg_changes *c, const char *s, size_t len)
{
	return reg__strndup(&c->arena, s, len);
}

/* {==== Deriving a version ====} */

/* A deep copy of v into a (NULL stays NULL). */
static struct reg_value *copy(struct reg_arena *a, const struct reg_value *v)
{
	struct reg_value *c;

	if (v == NULL)
		return NULL;
	c = reg__alloc(a, sizeof(*c));
	*c = *v;
	c->str = v->str ? reg__strdup(a, v->str) : NULL;
	if (v->type == REG_SEQ || v->type == REG_MAP) {
		c->items = reg__alloc(a, (v->n ? v->n : 1) * sizeof(*c->items));
		if (v->type == REG_MAP)
			c->keys = reg__alloc(a, (v->n ? v->n : 1) * sizeof(*c->keys));
		for (size_t i = 0; i < v->n; i++) {
			c->items[i] = copy(a, v->items[i]);
			if (v->type == REG_MAP)
				c->keys[i] = reg__strdup(a, v->keys[i]);
		}
	}
	return c;
}

static bool is_reserved(const char *k)
{
	return !strcmp(k, "name") || !strcmp(k, "kind") || !strcmp(k, "meta");
}

/* The flat mapping of op o for the entry named name: name, kind, meta,
** then data's keys. */
static struct reg_value *flat(struct reg_arena *a, const struct op *o, const char *name)
{
	size_t nd = o->data && o->data->type == REG_MAP ? o->data->n : 0;
	struct reg_value *m = reg__alloc(a, sizeof(*m)), *v;
	size_t k = 0;

	m->type = REG_MAP;
	m->items = reg__alloc(a, (nd + 3) * sizeof(*m->items));
	m->keys = reg__alloc(a, (nd + 3) * sizeof(*m->keys));
	v = reg__alloc(a, sizeof(*v));
	v->type = REG_STR;
	v->str = reg__strdup(a, name);
	m->keys[k] = "name";
	m->items[k++] = v;
	v = reg__alloc(a, sizeof(*v));
	v->type = REG_STR;
	v->str = reg__strdup(a, o->kind);
	m->keys[k] = "kind";
	m->items[k++] = v;
	if (o->meta) {
		m->keys[k] = "meta";
		m->items[k++] = copy(a, o->meta);
	}
	for (size_t i = 0; i < nd; i++) {
		if (is_reserved(o->data->keys[i]))
			continue;
		m->keys[k] = reg__strdup(a, o->data->keys[i]);
		m->items[k++] = copy(a, o->data->items[i]);
	}
	m->n = k;
	return m;
}

/* The kinds built once at boot: hosts, listeners and the env. */
static bool boot_only(enum reg_kind k)
{
	return reg__is_env_kind(k) || k == REG_K_PROCESS_HOST ||
	       k == REG_K_TERMINAL_HOST || k == REG_K_HTTP_SERVICE;
}

/*
** The entries e resolved references to, into out[0..cap): what its kind's
** table turned from ids into pointers. Returns how many (may exceed cap:
** then only cap were written).
*/
static size_t refs(const struct reg_entry *e, const struct reg_entry **out, size_t cap)
{
	size_t n = 0;

#define REF(p) do { if ((p) != NULL) { if (n < cap) out[n] = (p); n++; } } while (0)
	if (e->has_lifecycle)
		for (size_t i = 0; i < e->lifecycle.nrequires; i++)
			REF(e->lifecycle.requires[i]);
	if (reg_kind_is_lua(e->k))
		for (size_t i = 0; i < e->u.lua.nimports; i++)
			REF(e->u.lua.imports[i].entry);
	switch (e->k) {
	case REG_K_PROCESS_SERVICE:
		REF(e->u.service.process);
		REF(e->u.service.host);
		break;
	case REG_K_ENV_ROUTER:
		for (size_t i = 0; i < e->u.storage.nstorages; i++)
			REF(e->u.storage.storages[i]);
		break;
	case REG_K_ENV_VARIABLE:
		REF(e->u.var.storage);
		break;
	case REG_K_HTTP_ROUTER:
		REF(e->u.router.server);
		break;
	case REG_K_HTTP_ENDPOINT:
		REF(e->u.endpoint.router);
		REF(e->u.endpoint.func);
		break;
	default:
		break;
	}
#undef REF
	return n;
}

/* A new entry of r at the id's place, not yet decoded. */
static struct reg_entry *new_entry(struct registry *r, const char *id,
				   const char *ns, const char *name)
{
	struct reg_entry *e = reg__alloc(&r->arena, sizeof(*e));

	e->id = reg__strdup(&r->arena, id);
	e->ns = reg__strdup(&r->arena, ns);
	e->name = reg__strdup(&r->arena, name);
	e->_dir = r->root;
	return e;
}

/* A copy of o to decode again in r: same id, data and place; what
** decoding fills is left zero. */
static struct reg_entry *redo(struct registry *r, const struct reg_entry *o)
{
	struct reg_entry *e = reg__alloc(&r->arena, sizeof(*e));

	e->id = o->id;
	e->ns = o->ns;
	e->name = o->name;
	e->kind = o->kind;
	e->file = o->file;
	e->line = o->line;
	e->col = o->col;
	e->meta = o->meta;
	e->data = o->data;
	e->_dir = o->_dir;
	e->k = o->k;
	e->has_lifecycle = o->has_lifecycle;
	return e;
}

int reg_derive(const struct registry *base, const struct reg_changes *c,
	       struct registry **out, struct reg_error *err)
{
	struct registry *r = xcalloc(1, sizeof(*r));
	struct loader L = { .reg = r };
	size_t cap = base->n + c->n + 1, n = base->n, i;
	struct reg_entry **ents = xcalloc(cap, sizeof(*ents));
	bool *fresh = xcalloc(cap, sizeof(*fresh));
	int rc = 0;
	char buf[160];

	r->root = reg__strdup(&r->arena, base->root ? base->root : ".");
	L.root = r->root;
	memcpy(ents, base->entries, base->n * sizeof(*ents));
	r->entries = ents;
	r->n = n;
	reg__index(r);

	/* 1. The operations, in order, on the working array. A deleted
	** slot stays in the index with a NULL entry until the end. */
	for (i = 0; i < c->n && rc == 0; i++) {
		const struct op *o = &c->ops[i];
		const char *colon = strchr(o->id, ':');
		struct reg_entry *e;
		long pos = -1;

		if (colon == NULL || colon == o->id) {
			reg__errat(&L, NULL, NULL, "invalid entry id \"%s\": expected "
				   "namespace:name", o->id);
			rc = -EINVAL;
			break;
		}
		char *ns = reg__strndup(&r->arena, o->id, (size_t)(colon - o->id));
		if (!reg__valid_ns(ns) || !reg__valid_name(colon + 1)) {
			reg__errat(&L, NULL, NULL, "invalid entry id \"%s\": expected "
				   "namespace:name (dot-separated words, then a name "
				   "without ':' or spaces)", o->id);
			rc = -EINVAL;
			break;
		}
		for (size_t j = 0; j < n; j++)
			if (ents[j] && !strcmp(ents[j]->id, o->id)) {
				pos = (long)j;
				break;
			}
		if (o->op == REG_OP_DELETE) {
			if (pos < 0) {
				reg__errat(&L, NULL, NULL, "%s: entry not found", o->id);
				rc = -ENOENT;
			} else if (boot_only(ents[pos]->k)) {
				reg__errat(&L, ents[pos], NULL, "entries of kind %s cannot be "
					   "deleted at run time by this runtime", ents[pos]->kind);
				rc = -ENOTSUP;
			} else {
				ents[pos] = NULL;
			}
			continue;
		}
		if (o->op == REG_OP_CREATE && pos >= 0) {
			reg__errat(&L, NULL, NULL, "%s: entry already exists", o->id);
			rc = -EEXIST;
			break;
		}
		if (o->op == REG_OP_UPDATE && pos < 0) {
			reg__errat(&L, NULL, NULL, "%s: entry not found", o->id);
			rc = -ENOENT;
			break;
		}
		if (o->kind == NULL || o->kind[0] == '\0') {
			reg__errat(&L, NULL, NULL, "%s: entry must have a kind", o->id);
			rc = -EINVAL;
			break;
		}
		if (o->data && o->data->type != REG_MAP) {
			reg__errat(&L, NULL, NULL, "%s: data must be a table of the kind's "
				   "fields, got %s", o->id, reg__show(o->data, buf, sizeof(buf)));
			rc = -EINVAL;
			break;
		}
		if (o->meta && o->meta->type != REG_MAP) {
			reg__errat(&L, NULL, NULL, "%s: meta must be a table, got %s",
				   o->id, reg__show(o->meta, buf, sizeof(buf)));
			rc = -EINVAL;
			break;
		}
		e = new_entry(r, o->id, ns, colon + 1);
		e->data = flat(&r->arena, o, e->name);
		e->kind = reg_value_str(e->data, "kind");
		e->meta = reg_value_get(e->data, "meta");
		if (!reg__classify(&L, e)) {
			rc = -EINVAL;
			break;
		}
		if (boot_only(e->k) || (pos >= 0 && boot_only(ents[pos]->k))) {
			reg__errat(&L, e, NULL, "entries of kind %s cannot be %s at run "
				   "time by this runtime", pos >= 0 ? ents[pos]->kind : e->kind,
				   o->op == REG_OP_CREATE ? "created" : "updated");
			rc = -ENOTSUP;
			break;
		}
		if (pos < 0) {
			pos = (long)n++;
			ents[pos] = e;
		} else {
			ents[pos] = e;
		}
		fresh[pos] = true;
	}

	/* 2. Compact and index: the new version's ids. */
	if (rc == 0) {
		size_t w = 0;
		for (i = 0; i < n; i++)
			if (ents[i]) {
				fresh[w] = fresh[i];
				ents[w++] = ents[i];
			}
		r->n = w;
		reg__index(r);
	}

	/* 3. Whatever refers to an entry that is not the one of this version
	** (replaced or gone) is decoded again, which re-resolves its
	** references; repeat until nothing more changes. */
	for (bool more = rc == 0; more;) {
		more = false;
		for (i = 0; i < r->n; i++) {
			const struct reg_entry *rs[64];
			size_t k, nr;

			if (fresh[i])
				continue;
			nr = refs(r->entries[i], rs, 64);
			for (k = 0; k < nr && k < 64; k++)
				if (reg_find(r, rs[k]->id) != rs[k])
					break;
			if (k == nr && nr <= 64)
				continue;
			r->entries[i] = redo(r, r->entries[i]);
			fresh[i] = true;
			more = true;
		}
	}

	/* 4. Decode what is new, as the boot does, then the checks across
	** entries. */
	if (rc == 0) {
		struct reg_entry **order;
		size_t nord;

		for (i = 0; i < r->n; i++) {
			if (!fresh[i])
				continue;
			r->entries[i]->_index = i;
			reg__decode_entry(&L, r->entries[i]);
		}
		if (L.err.count == 0 &&
		    reg_service_order(r, &order, &nord, &L.err) == 0)
			free(order);
		if (L.err.count > 0)
			rc = -EINVAL;
	}
	free(fresh);
	reg_error_free(&L.warn);
	if (rc < 0) {
		reg__err_finish(&L.err);
		if (err)
			*err = L.err;
		else
			reg_error_free(&L.err);
		reg_free(r);
		*out = NULL;
		return rc;
	}
	if (err)
		memset(err, 0, sizeof(*err));
	reg_error_free(&L.err);
	*out = r;
	return 0;
}
