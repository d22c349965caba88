/*
** runtime/registry.c: the registry, i.e. struct registry: its two load
** phases, its id index, lookup and iteration, and the service order.
**
** Owns: which files are definition files, what a file's namespace and
** entries are, ids (duplicates are errors), and the order of the phases:
**
**   reg_parse   1. files: every definition file under the source root
**                  becomes a value tree (runtime/yaml.c) and a list of raw
**                  entries {id, kind, data};
**               2. index: ids go into a hash table, kinds are classified
**                  (reg_kinds.c; an unknown kind is an error);
**               3. env: env.storage.* and env.variable entries are decoded
**                  without interpolation (they are where values come from)
**                  and their public names checked;
**   (caller)    the env is built from them, once (runtime/env.c);
**   reg_decode  4. decode: every other entry's strings are interpolated
**                  through the caller's lookup (reg_interp.c), then its
**                  keys are decoded by its kind's table (reg_kinds.c,
**                  reg_field.c) and its references resolved to entries
**                  (all ids are known since pass 2, so order between
**                  entries does not matter);
**               5. check: no cycles in lifecycle.requires.
**
** It may not know the env (runtime/env.h): values come through struct
** reg_lookup. Every problem is collected into one reg_error instead of
** stopping at the first, so `wippy lint` shows them all; messages read
** "file:line:col: entry-id: what (offending value)".
**
** Memory: everything a registry holds lives in its arena (reg_value.c),
** freed by reg_free(); only the entry array and the hash table are
** separate. The decoded registry is never written again, which is what
** lets every shard read it without locks. A registry derived from it at
** run time (reg_change.c) shares its unchanged entries, so the older one
** must outlive the newer (runtime/live.c keeps every version).
*/
#include "runtime/registry.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/reg_int.h"
#include "runtime/yaml.h"

/* Directory nesting we follow before assuming a symlink loop. */
#define MAX_DIR_DEPTH 32

/* {====================================================================
** Pass 1: files -> raw entries
** ===================================================================== */

/* Entries are appended in load order; build_index() later compacts the
 * array when it drops duplicates, and renumbers _index to match. */
static void add_entry(struct loader *L, struct reg_entry *e)
{
	struct registry *reg = L->reg;

	if (reg->n == reg->cap) {
		reg->cap = reg->cap ? reg->cap * 2 : 64;
		reg->entries = xrealloc(reg->entries,
					reg->cap * sizeof(*reg->entries));
	}
	e->_index = reg->n;
	reg->entries[reg->n++] = e;
}

/* Namespaces are dot-separated words of [A-Za-z0-9_-]. */
bool reg__valid_ns(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '.')
		return false;
	for (p = s; *p; p++) {
		if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
			return false;
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	}
	return true;
}

/* Names are anything printable without ':' or whitespace. */
bool reg__valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s == ':' || isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return false;
	return true;
}

/* Make one raw entry from mapping m in namespace ns. */
static void raw_entry(struct loader *L, struct reg_value *m, const char *ns,
		      const char *file, const char *dir)
{
	struct reg_entry *e;
	struct reg_value *name, *kind;
	char buf[160];

	if (m->type != REG_MAP) {
		reg__errat(L, NULL, m, "an entry must be a mapping, got %s",
		      reg__show(m, buf, sizeof(buf)));
		return;
	}
	name = reg_value_get(m, "name");
	kind = reg_value_get(m, "kind");
	if (name == NULL || name->type == REG_NULL) {
		reg__errat(L, NULL, m, "entry in namespace %s: missing required field \"name\"", ns);
		return;
	}
	if (name->type != REG_STR && name->type != REG_INT) {
		reg__errat(L, NULL, name, "entry name must be a string, got %s",
		      reg__show(name, buf, sizeof(buf)));
		return;
	}
	if (!reg__valid_name(name->str)) {
		reg__errat(L, NULL, name, "invalid entry name %s: no ':' or spaces allowed",
		      reg__show(name, buf, sizeof(buf)));
		return;
	}
	e = reg__alloc(&L->reg->arena, sizeof(*e));
	e->ns = ns;
	e->name = name->str;
	e->id = reg__printf(&L->reg->arena, "%s:%s", ns, name->str);
	e->file = file;
	e->_dir = dir;
	e->line = m->line;
	e->col = m->col;
	e->data = m;
	e->meta = reg_value_get(m, "meta");
	if (kind == NULL || kind->type == REG_NULL) {
		reg__errat(L, e, NULL, "missing required field \"kind\"");
		return;
	}
	if (kind->type != REG_STR) {
		reg__errat(L, e, kind, "kind must be a string, got %s",
		      reg__show(kind, buf, sizeof(buf)));
		return;
	}
	e->kind = kind->str;
	if (e->meta != NULL && e->meta->type != REG_MAP) {
		reg__errat(L, e, e->meta, "meta must be a mapping, got %s",
		      reg__show(e->meta, buf, sizeof(buf)));
		e->meta = NULL;
	}
	add_entry(L, e);
}

/* Parse one definition file (spec 1.1) and add its entries. */
static void load_file(struct loader *L, const char *path, const char *dir)
{
	struct reg_arena *a = &L->reg->arena;
	const char *file = reg__strdup(a, path);
	struct reg_value *root, *ns, *entries;
	bool ok;
	size_t i;
	char buf[160];

	root = yaml_read_file(path, file, &L->reg->arena, &L->err, &ok);
	if (!ok)
		return;
	if (root == NULL) {
		reg__errat(L, NULL, NULL, "%s:1:1: empty definition file "
		      "(expected namespace and entries)", file);
		return;
	}
	if (root->type != REG_MAP) {
		reg__errat(L, NULL, root, "a definition file must be a mapping "
		      "with namespace and entries, got %s", reg__show(root, buf, sizeof(buf)));
		return;
	}
	ns = reg_value_get(root, "namespace");
	if (ns == NULL) {
		reg__errat(L, NULL, root, "missing required field \"namespace\"");
		return;
	}
	if (ns->type != REG_STR || !reg__valid_ns(ns->str)) {
		reg__errat(L, NULL, ns, "invalid namespace %s: expected dot-separated "
		      "names like app.api", reg__show(ns, buf, sizeof(buf)));
		return;
	}
	entries = reg_value_get(root, "entries");
	if (entries != NULL) {
		if (entries->type == REG_NULL)
			return;		/* "entries:" with nothing: no entries */
		if (entries->type != REG_SEQ) {
			reg__errat(L, NULL, entries, "entries must be a sequence, got %s",
			      reg__show(entries, buf, sizeof(buf)));
			return;
		}
		for (i = 0; i < entries->n; i++)
			raw_entry(L, entries->items[i], ns->str, file, dir);
	} else if (reg_value_get(root, "name") && reg_value_get(root, "kind")) {
		raw_entry(L, root, ns->str, file, dir);
	} else {
		reg__errat(L, NULL, root, "missing required field \"entries\" "
		      "(or a top-level name and kind)");
	}
}

/* Byte order, not the locale's collation: load order (and so error order
 * and entry iteration order) must be the same on every machine. */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static bool is_def_file(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") ||
		       !strcmp(dot, ".json"));
}

/*
** Walk dir (path as shown to users) whose absolute form is adir, loading
** definition files in sorted order. Dot-names are skipped (.wippy module
** caches, editor files).
*/
static void walk(struct loader *L, const char *dir, const char *adir, int depth)
{
	struct dirent **list;
	struct stat st;
	int n, i;

	if (depth > MAX_DIR_DEPTH) {
		reg__errat(L, NULL, NULL, "%s: directories nested deeper than %d "
		      "(symlink loop?)", dir, MAX_DIR_DEPTH);
		return;
	}
	n = scandir(dir, &list, NULL, name_cmp);
	if (n < 0) {
		reg__errat(L, NULL, NULL, "%s: cannot read directory: %s", dir,
		      strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		char *path, *apath;

		if (nm[0] == '.') {
			free(list[i]);
			continue;
		}
		path = reg__printf(&L->reg->arena, "%s/%s", dir, nm);
		apath = reg__printf(&L->reg->arena, "%s/%s", adir, nm);
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				walk(L, path, apath, depth + 1);
			else if (S_ISREG(st.st_mode) && is_def_file(nm))
				load_file(L, path, adir);
		}
		free(list[i]);
	}
	free(list);
}

/* }==================================================================== */

/* {====================================================================
** Pass 2: the id index
** ===================================================================== */

/* The id index: open addressing, at most half full, linear probing. It
 * is built once in pass 2 and only read afterwards. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Insert all entries; duplicate ids are errors naming both places. The
 * table holds positions + 1 (0 is an empty slot), not pointers: a later
 * version (reg_change.c) shares entries with this one at other
 * positions, so a position is a property of the registry, not of the
 * entry. */
static void build_index(struct loader *L)
{
	struct registry *reg = L->reg;
	size_t i, j, w = 0;

	reg->hcap = 16;
	while (reg->hcap < reg->n * 2)
		reg->hcap *= 2;
	reg->hash = xcalloc(reg->hcap, sizeof(*reg->hash));
	for (i = 0; i < reg->n; i++) {
		struct reg_entry *e = reg->entries[i];
		bool dup = false;

		for (j = hash_str(e->id) & (reg->hcap - 1); reg->hash[j];
		     j = (j + 1) & (reg->hcap - 1)) {
			struct reg_entry *o = reg->entries[reg->hash[j] - 1];

			if (!strcmp(o->id, e->id)) {
				reg__errat(L, e, NULL, "duplicate entry id \"%s\" "
				      "(first defined at %s:%d:%d)", e->id,
				      o->file, o->line, o->col);
				dup = true;
				break;
			}
		}
		if (dup)
			continue;
		e->_index = w;
		reg->entries[w++] = e;	/* the duplicate is dropped */
		reg->hash[j] = (uint32_t)w;
	}
	reg->n = w;
}

void reg__index(struct registry *reg)
{
	size_t i, j;

	reg->hcap = 16;
	while (reg->hcap < reg->n * 2)
		reg->hcap *= 2;
	free(reg->hash);
	reg->hash = xcalloc(reg->hcap, sizeof(*reg->hash));
	for (i = 0; i < reg->n; i++) {
		for (j = hash_str(reg->entries[i]->id) & (reg->hcap - 1); reg->hash[j];
		     j = (j + 1) & (reg->hcap - 1))
			;
		reg->hash[j] = (uint32_t)i + 1;
	}
}

/* The position of id in reg, or -1. */
static long find_pos(const struct registry *reg, const char *id)
{
	size_t j;

	if (reg->hash == NULL || id == NULL)
		return -1;
	for (j = hash_str(id) & (reg->hcap - 1); reg->hash[j];
	     j = (j + 1) & (reg->hcap - 1))
		if (!strcmp(reg->entries[reg->hash[j] - 1]->id, id))
			return (long)reg->hash[j] - 1;
	return -1;
}

size_t reg__pos(const struct registry *reg, const struct reg_entry *e)
{
	long pos;

	/* An entry made for reg sits at its own _index; one shared with an
	 * older version may sit elsewhere. */
	if (e->_index < reg->n && reg->entries[e->_index] == e)
		return e->_index;
	pos = find_pos(reg, e->id);
	return pos >= 0 && reg->entries[pos] == e ? (size_t)pos : reg->n;
}

/* }==================================================================== */

/* {====================================================================
** The two phases
** ===================================================================== */

struct registry *reg_parse(const char *src_dir, bool *env_ok)
{
	struct registry *reg = xcalloc(1, sizeof(*reg));
	struct loader *L = xcalloc(1, sizeof(*L));
	char *root = realpath(src_dir, NULL);
	int before;

	reg->load = L;
	L->reg = reg;
	*env_ok = false;
	if (root == NULL) {
		reg__errat(L, NULL, NULL, "%s: cannot open source directory: %s",
			   src_dir, strerror(errno));
		return reg;
	}
	L->root = reg__strdup(&reg->arena, root);
	reg->root = L->root;
	free(root);

	/* Each pass runs over every entry even after errors, so one run
	 * reports as much as possible. */
	walk(L, src_dir, L->root, 0);			/* pass 1 */
	build_index(L);					/* pass 2 */
	for (size_t i = 0; i < reg->n; i++)
		reg__classify(L, reg->entries[i]);
	before = L->err.count;
	for (size_t i = 0; i < reg->n; i++)		/* pass 3 */
		if (reg__is_env_kind(reg->entries[i]->k))
			reg__decode_entry(L, reg->entries[i]);
	reg__check_variables(L);
	*env_ok = L->err.count == before;
	return reg;
}

int reg_decode(struct registry *reg, const struct reg_lookup *lookup,
	       struct reg_error *err)
{
	struct loader *L = reg->load;
	struct reg_entry **order;
	size_t i, n;

	L->lookup = lookup;
	for (i = 0; i < reg->n; i++) {			/* pass 4 */
		struct reg_entry *e = reg->entries[i];

		if (reg__is_env_kind(e->k) || e->kind == NULL)
			continue;
		reg__interpolate(L, e, e->data);
		reg__decode_entry(L, e);
	}
	L->lookup = NULL;	/* the caller's; it may not outlive this call */
	if (reg_service_order(reg, &order, &n, &L->err) == 0)	/* pass 5 */
		free(order);
	for (i = 0; i < reg->n; i++) {
		struct reg_entry *e = reg->entries[i];

		if (e->kind != NULL && e->k == REG_K_OTHER && !e->_used)
			reg__warnat(&L->warn, e, reg_value_get(e->data, "kind"),
				    "kind \"%s\" is not supported by this runtime; "
				    "entry ignored", e->kind);
	}
	reg->load = NULL;
	if (L->err.count > 0) {
		reg__err_finish(&L->err);
		reg_error_free(&L->warn);
		if (err)
			*err = L->err;
		else
			reg_error_free(&L->err);
		free(L);
		return -EINVAL;
	}
	reg__err_finish(&L->warn);
	reg->warn = L->warn;
	if (err)
		memset(err, 0, sizeof(*err));
	free(L);
	return 0;
}

/* }==================================================================== */

/* {====================================================================
** Lookup, iteration, order
** ===================================================================== */

void reg_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	reg__arena_free(&reg->arena);
	free(reg->entries);
	free(reg->hash);
	reg_error_free(&reg->warn);
	if (reg->load) {	/* parsed, never decoded */
		reg_error_free(&reg->load->err);
		reg_error_free(&reg->load->warn);
		free(reg->load);
	}
	free(reg);
}

const struct reg_error *reg_warnings(const struct registry *reg)
{
	return &reg->warn;
}

/* The node of e's modules: list that holds name (for its position). */
static const struct reg_value *module_node(const struct reg_entry *e,
					   const char *name)
{
	const struct reg_value *mods = reg_value_get(e->data, "modules");

	for (size_t i = 0; mods && mods->type == REG_SEQ && i < mods->n; i++)
		if (mods->items[i]->str && !strcmp(mods->items[i]->str, name))
			return mods->items[i];
	return NULL;
}

int reg_check_modules(const struct registry *reg,
		      int (*provides)(const char *name), struct reg_error *out)
{
	int n = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < reg->n; i++) {
		const struct reg_entry *e = reg->entries[i];

		if (!reg_kind_is_lua(e->k))
			continue;
		for (size_t j = 0; j < e->u.lua.nmodules; j++) {
			const char *m = e->u.lua.modules[j];
			bool imported = false;

			for (size_t k = 0; k < e->u.lua.nimports; k++)
				imported |= !strcmp(e->u.lua.imports[k].name, m);
			if (imported || provides(m))
				continue;
			reg__warnat(out, e, module_node(e, m), "module \"%s\" is not "
			       "provided by this runtime; require(\"%s\") will fail",
			       m, m);
			n++;
		}
	}
	reg__err_finish(out);
	return n;
}

struct reg_entry *reg_find(const struct registry *reg, const char *id)
{
	long pos = find_pos(reg, id);

	return pos >= 0 ? reg->entries[pos] : NULL;
}

size_t reg_count(const struct registry *reg)
{
	return reg->n;
}

struct reg_entry *reg_next(const struct registry *reg,
			   const struct reg_entry *prev)
{
	size_t i = prev ? reg__pos(reg, prev) + 1 : 0;

	return i < reg->n ? reg->entries[i] : NULL;
}

struct reg_entry *reg_next_kind(const struct registry *reg, const char *kind,
				const struct reg_entry *prev)
{
	struct reg_entry *e = reg_next(reg, prev);

	while (e && (e->kind == NULL || strcmp(e->kind, kind) != 0))
		e = reg_next(reg, e);
	return e;
}

/* DFS state for reg_service_order(). */
/*
** Service order is a depth-first post-order walk in file order: each node
** is emitted after everything it depends on, and ties keep file order, so
** the result is deterministic. GRAY marks the current path; meeting a GRAY
** node again is a cycle, and the path from it is the cycle's text.
*/
enum { WHITE, GRAY, BLACK };

struct order {
	const struct registry *reg;
	unsigned char *color;
	struct reg_entry **stack;	/* the current DFS path */
	size_t depth;
	struct reg_entry **out;
	size_t n;
	struct reg_error *err;
};

static int visit(struct order *o, struct reg_entry *e);

static int visit_dep(struct order *o, struct reg_entry *d)
{
	char buf[1024];
	size_t i, k, len = 0;

	if (d == NULL || !d->has_lifecycle)
		return 0;
	if (o->color[reg__pos(o->reg, d)] == GRAY) {
		for (k = 0; k < o->depth && o->stack[k] != d; k++)
			;
		len = (size_t)snprintf(buf, sizeof(buf), "%s:%d:%d: %s: "
				       "dependency cycle: ", d->file, d->line,
				       d->col, d->id);
		for (i = k; i < o->depth && len < sizeof(buf); i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%s -> ", o->stack[i]->id);
		if (len < sizeof(buf))
			snprintf(buf + len, sizeof(buf) - len, "%s", d->id);
		if (o->err)
			reg__err_line(o->err, buf);
		return -ELOOP;
	}
	return visit(o, d);
}

static int visit(struct order *o, struct reg_entry *e)
{
	size_t i;
	int rc;

	if (o->color[reg__pos(o->reg, e)] != WHITE)
		return 0;
	o->color[reg__pos(o->reg, e)] = GRAY;
	o->stack[o->depth++] = e;
	if (e->k == REG_K_PROCESS_SERVICE &&
	    (rc = visit_dep(o, e->u.service.host)) < 0)
		return rc;
	for (i = 0; i < e->lifecycle.nrequires; i++)
		if ((rc = visit_dep(o, e->lifecycle.requires[i])) < 0)
			return rc;
	o->depth--;
	o->color[reg__pos(o->reg, e)] = BLACK;
	o->out[o->n++] = e;
	return 0;
}

int reg_service_order(const struct registry *reg, struct reg_entry ***out,
		      size_t *n, struct reg_error *err)
{
	struct order o = { .reg = reg, .err = err };
	size_t i;
	int rc = 0;

	o.color = xcalloc(reg->n + 1, 1);
	o.stack = xcalloc(reg->n + 1, sizeof(*o.stack));
	o.out = xcalloc(reg->n + 1, sizeof(*o.out));
	for (i = 0; i < reg->n && rc == 0; i++)
		if (reg->entries[i]->has_lifecycle)
			rc = visit(&o, reg->entries[i]);
	free(o.color);
	free(o.stack);
	if (rc < 0) {
		free(o.out);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = o.out;
	*n = o.n;
	return 0;
}

/* }==================================================================== */
