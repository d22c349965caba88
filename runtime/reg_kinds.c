/*
** runtime/reg_kinds.c: the kinds the runtime runs, and every key of each.
**
** Owns: the kind names (which are run, which are documented but inert,
** which are errors), and for each kind its table of keys (struct
** reg_field rows, decoded by reg_field.c) with the checks that go beyond
** a key's type. A key of a kind is decoded here and only here, with its
** default in its row: readers take the decoded member of struct
** reg_entry, not the raw tree. It may not resolve sources (reg_source.c)
** nor know how env values are looked up (reg_interp.c).
*/
#include "runtime/reg_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/net.h"
#include "runtime/conf.h"
#include "runtime/hmw.h"
#include "runtime/policy.h"
#include "runtime/route.h"

#define SEC 1000000000ll

#define AT(member) offsetof(struct reg_entry, member)

/* {====================================================================
** Setters: what a key's type does not say
** ===================================================================== */

/*
** process.host workers: absent means "not given" and is left 0 for the
** scheduler to turn into the CPU count; an explicit 0 or negative is an
** error, as in the Go config's Validate. The upper bound only catches
** typos.
*/
static void set_workers(struct loader *L, struct reg_entry *e,
			const struct reg_field *f, struct reg_value *w, void *dst)
{
	char buf[160];

	if (w != NULL && (w->type != REG_INT || w->i <= 0 || w->i > 65536))
		reg__errat(L, e, w, "field \"host.workers\" must be an integer > 0, got %s",
			   reg__show(w, buf, sizeof(buf)));
	else if (w != NULL)
		*(int *)dst = (int)w->i;
}

/*
** process.host max_memory: a size as the CLI's --proc-memory-limit and the
** config's process.memory_limit take it ("64MB", "512M", a byte count; 0
** for no limit), read by that knob's own parser (conf_set on a scratch
** struct conf) so the two cannot drift apart. Absent is -1: the runtime's
** limit then applies (proc_spawn).
*/
static void set_max_memory(struct loader *L, struct reg_entry *e,
			   const struct reg_field *f, struct reg_value *v, void *dst)
{
	char buf[160], why[160];
	const char *s = NULL;
	struct conf c;

	*(int64_t *)dst = -1;
	if (v == NULL || v->_unset)
		return;	/* absent, or its ${...} is already reported */
	if (v->type == REG_STR || v->type == REG_INT)
		s = v->str;
	conf_defaults(&c);
	if (s == NULL || conf_set(&c, "process.memory_limit", s, why, sizeof(why)) < 0) {
		reg__errat(L, e, v, "field \"host.max_memory\" must be a size like "
			   "\"64MB\" or a byte count, got %s",
			   reg__show(v, buf, sizeof(buf)));
		return;
	}
	*(int64_t *)dst = c.proc_mem_bytes;
}

static void set_lua_source(struct loader *L, struct reg_entry *e,
			   const struct reg_field *f, struct reg_value *v, void *dst)
{
	*(const char **)dst = reg__lua_source(L, e);
}

static void set_bc_source(struct loader *L, struct reg_entry *e,
			  const struct reg_field *f, struct reg_value *v, void *dst)
{
	*(const char **)dst = reg__bc_source(L, e);
}

/* modules: bare names, the allow-list for require. */
static void set_modules(struct loader *L, struct reg_entry *e,
			const struct reg_field *f, struct reg_value *mods, void *dst)
{
	struct reg_lua *lua = &e->u.lua;
	char buf[160];

	if (mods->n == 0)
		return;
	lua->modules = reg__alloc(&L->reg->arena, mods->n * sizeof(char *));
	for (size_t i = 0; i < mods->n; i++) {
		struct reg_value *m = mods->items[i];

		if (m->type != REG_STR || m->str[0] == '\0')
			reg__errat(L, e, m, "modules: a module name must be a "
				   "string, got %s", reg__show(m, buf, sizeof(buf)));
		else if (strchr(m->str, ':'))
			reg__errat(L, e, m, "modules: module name \"%s\" must not "
				   "contain a namespace", m->str);
		else
			lua->modules[lua->nmodules++] = m->str;
	}
}

/* imports: a require() name -> a library.lua entry. */
static void set_imports(struct loader *L, struct reg_entry *e,
			const struct reg_field *f, struct reg_value *imps, void *dst)
{
	struct reg_lua *lua = &e->u.lua;

	if (imps->n == 0)
		return;
	lua->imports = reg__alloc(&L->reg->arena, imps->n * sizeof(*lua->imports));
	for (size_t i = 0; i < imps->n; i++) {
		struct reg_entry *t = reg__ref_at(L, e, imps->items[i], "imports",
						  KMASK(REG_K_LIBRARY_LUA));
		if (t == NULL)
			continue;
		lua->imports[lua->nimports].name = imps->keys[i];
		lua->imports[lua->nimports++].entry = t;
	}
}

/* process.service host: a process.host, never the control node. */
static void set_service_host(struct loader *L, struct reg_entry *e,
			     const struct reg_field *f, struct reg_value *h, void *dst)
{
	if (h && h->type == REG_STR && !strcmp(h->str, "node:control")) {
		reg__errat(L, e, h, "host \"node:control\" cannot run services");
		return;
	}
	if (h == NULL) {
		reg__errat(L, e, NULL, "missing required field \"host\"");
		return;
	}
	*(struct reg_entry **)dst = reg__ref_at(L, e, h, "host",
						KMASK(REG_K_PROCESS_HOST));
}

/* env.storage.static values: a mapping KEY -> scalar. */
static void set_static_values(struct loader *L, struct reg_entry *e,
			      const struct reg_field *f, struct reg_value *vals, void *dst)
{
	char buf[160];

	for (size_t i = 0; i < vals->n; i++)
		if (vals->items[i]->type == REG_SEQ || vals->items[i]->type == REG_MAP)
			reg__errat(L, e, vals->items[i], "values.%s must be a scalar, "
				   "got %s", vals->keys[i],
				   reg__show(vals->items[i], buf, sizeof(buf)));
}

/* env.storage.router storages: other storages (routers too; env.c bounds
 * the depth), in order, but not the router itself. */
static void set_storages(struct loader *L, struct reg_entry *e,
			 const struct reg_field *f, struct reg_value *list, void *dst)
{
	struct reg_env_storage *st = &e->u.storage;

	st->storages = reg__alloc(&L->reg->arena, (list->n + 1) * sizeof(*st->storages));
	for (size_t i = 0; i < list->n; i++) {
		struct reg_entry *t = reg__ref_at(L, e, list->items[i], "storages",
						  MASK_STORAGE);
		if (t == e)
			reg__errat(L, e, list->items[i], "storages: a router "
				   "cannot contain itself");
		else if (t)
			st->storages[st->nstorages++] = t;
	}
}

/* env.variable variable: a public name of [A-Za-z0-9_]+; its uniqueness
 * is checked once every variable is decoded (reg__check_variables). */
static void set_variable_name(struct loader *L, struct reg_entry *e,
			      const struct reg_field *f, struct reg_value *v, void *dst)
{
	const char *p;

	for (p = v->str; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			break;
	if (*p || p == v->str) {
		reg__errat(L, e, v, "variable name \"%s\" may only contain A-Z, "
			   "a-z, 0-9 and _", v->str);
		*(const char **)dst = NULL;
	}
}

/* env.variable default: any scalar, kept as its text. */
static void set_variable_default(struct loader *L, struct reg_entry *e,
				 const struct reg_field *f, struct reg_value *d, void *dst)
{
	char buf[160];

	if (d && (d->type == REG_SEQ || d->type == REG_MAP))
		reg__errat(L, e, d, "field \"default\" must be a scalar, got %s",
			   reg__show(d, buf, sizeof(buf)));
	else if (d)
		*(const char **)dst = d->str;
}

/*
** http.service addr: "host:port" or ":port", checked here so that `wippy
** lint` reports a bad one at its line. The host is empty (every
** interface), "localhost" or an IPv4 address, which is what the listener
** (runtime/httpd.c) binds; port 0 is the form's "any port".
*/
static void set_http_addr(struct loader *L, struct reg_entry *e,
			  const struct reg_field *f, struct reg_value *v, void *dst)
{
	const char *addr = v->str, *colon = strrchr(addr, ':');
	struct sockaddr_in sa;
	int rc;

	if (addr[0] == '\0')
		return;		/* already reported as empty */
	rc = net_parse_addr(addr, &sa);
	if (rc == -EINVAL)
		reg__errat(L, e, v, "field \"addr\" must be \"host:port\" or "
			   "\":port\" with a port in 0..65535, got \"%s\"", addr);
	else if (rc < 0)
		reg__errat(L, e, v, "field \"addr\": host \"%.*s\" must be empty, "
			   "localhost or an IPv4 address", (int)(colon - addr), addr);
}

/* http.service metrics: the path of the built-in Prometheus endpoint
** (runtime/rstats.h), answered before the routes. */
static void set_metrics_path(struct loader *L, struct reg_entry *e,
			     const struct reg_field *f, struct reg_value *v, void *dst)
{
	if (v->str[0] != '/' || strpbrk(v->str, "?# \t") != NULL)
		reg__errat(L, e, v, "field \"metrics\" must be a path starting with "
			   "'/' (no query, no spaces), got \"%s\"", v->str);
}

/* http.service tls.min_version: the oldest protocol a client may use. */
static void set_tls_min(struct loader *L, struct reg_entry *e,
			const struct reg_field *f, struct reg_value *v, void *dst)
{
	if (strcmp(v->str, "1.2") != 0 && strcmp(v->str, "1.3") != 0)
		reg__errat(L, e, v, "field \"tls.min_version\" must be \"1.2\" or "
			   "\"1.3\", got \"%s\"", v->str);
}

/* http.router / http.endpoint parents are named in meta (spec 1.4); the
 * Go validator's own wording "missing metadata: server" is kept. */
static void set_meta_server(struct loader *L, struct reg_entry *e,
			    const struct reg_field *f, struct reg_value *v, void *dst)
{
	if (v == NULL)
		reg__errat(L, e, NULL, "missing metadata: server (meta.server must "
			   "name an http.service)");
	else
		*(struct reg_entry **)dst = reg__ref_at(L, e, v, f->key,
							KMASK(REG_K_HTTP_SERVICE));
}

static void set_meta_router(struct loader *L, struct reg_entry *e,
			    const struct reg_field *f, struct reg_value *v, void *dst)
{
	if (v == NULL)
		reg__errat(L, e, NULL, "missing metadata: router (meta.router must "
			   "name an http.router)");
	else
		*(struct reg_entry **)dst = reg__ref_at(L, e, v, f->key,
							KMASK(REG_K_HTTP_ROUTER));
}

static void set_prefix(struct loader *L, struct reg_entry *e,
		       const struct reg_field *f, struct reg_value *v, void *dst)
{
	if (v->str[0] != '/' && v->str[0] != '\0')
		reg__errat(L, e, v, "field \"prefix\" must start with '/', got \"%s\"",
			   v->str);
}

static void set_endpoint_path(struct loader *L, struct reg_entry *e,
			      const struct reg_field *f, struct reg_value *v, void *dst)
{
	const char *why = route_check_path(v->str);	/* the route grammar */

	if (why != NULL) {
		reg__errat(L, e, v, "path \"%s\": %s", v->str, why);
		*(const char **)dst = NULL;
	}
}

/*
** A middleware list and its options (http.router, http.static): checked
** against runtime/hmw.c's table by compiling the chain once, so a name it
** does not know, or an option value its middleware cannot use, fails the
** load at the culprit's position. Option values are any scalar, read as
** text (the original's map[string]string after anyToString).
*/
static void check_mw(struct loader *L, struct reg_entry *e, const char *names_key,
		     const char *opts_key, struct reg_http_mw *out)
{
	struct reg_value *names = reg__field(e, names_key);
	struct reg_value *opts = reg__field(e, opts_key);
	const char **nv, **kv, **vv;
	struct hmw_chain *c;
	char why[256], buf[160];
	int bad_name, bad_opt;
	size_t n = 0, no = 0;

	if (names && names->type != REG_SEQ) {
		reg__errat(L, e, names, "field \"%s\" must be a list of middleware names, "
			   "got %s", names_key, reg__show(names, buf, sizeof(buf)));
		return;
	}
	if (opts && opts->type != REG_MAP) {
		reg__errat(L, e, opts, "field \"%s\" must be a mapping of option names to "
			   "values, got %s", opts_key, reg__show(opts, buf, sizeof(buf)));
		return;
	}
	out->names = names;
	out->options = opts;
	nv = reg__alloc(&L->reg->arena, ((names ? names->n : 0) + 1) * sizeof(*nv));
	kv = reg__alloc(&L->reg->arena, ((opts ? opts->n : 0) + 1) * sizeof(*kv));
	vv = reg__alloc(&L->reg->arena, ((opts ? opts->n : 0) + 1) * sizeof(*vv));
	for (size_t i = 0; names && i < names->n; i++) {
		struct reg_value *m = names->items[i];
		if (m->type != REG_STR || m->str[0] == '\0') {
			reg__errat(L, e, m, "%s: a middleware name must be a non-empty string, "
				   "got %s", names_key, reg__show(m, buf, sizeof(buf)));
			return;
		}
		nv[n++] = m->str;
	}
	for (size_t i = 0; opts && i < opts->n; i++) {
		struct reg_value *v = opts->items[i];
		if (v->type == REG_SEQ || v->type == REG_MAP) {
			reg__errat(L, e, v, "%s: option \"%s\" must be a scalar, got %s",
				   opts_key, opts->keys[i], reg__show(v, buf, sizeof(buf)));
			return;
		}
		kv[no] = opts->keys[i];
		vv[no++] = v->str ? v->str : "";
	}
	if (hmw_chain_create(&c, nv, n, kv, vv, no, why, sizeof(why), &bad_name,
			     &bad_opt) < 0) {
		reg__errat(L, e, bad_opt >= 0 ? opts->items[bad_opt] :
			   bad_name >= 0 ? names->items[bad_name] : names,
			   "%s: %s", bad_opt >= 0 ? opts_key : names_key, why);
		return;
	}
	hmw_chain_destroy(c);
}

static void set_router_mw(struct loader *L, struct reg_entry *e,
			  const struct reg_field *f, struct reg_value *v, void *dst)
{
	check_mw(L, e, "middleware", "options", &e->u.router.mw);
	check_mw(L, e, "post_middleware", "post_options", &e->u.router.post);
}

/*
** http.static: the original's StaticConfig. fs names an fs.directory
** (its directory is the root); static_options{spa, index, cache}, and the
** legacy spa/index/cache keys of options, which the original moves into
** static_options. spa needs an index, as the original's factory says.
** The legacy `directory` field only changed prefix stripping there (the
** mount path is always stripped here), so it is checked, not used.
*/
static void set_static(struct loader *L, struct reg_entry *e,
		       const struct reg_field *f, struct reg_value *v, void *dst)
{
	struct reg_http_static *st = &e->u.hstatic;
	struct reg_value *opts = reg__field(e, "options"), *x;
	const char *fsid = reg_value_str(e->data, "fs");
	struct reg_entry *fs = fsid ? reg_find(L->reg, strchr(fsid, ':') ? fsid :
					     reg__printf(&L->reg->arena, "%s:%s", e->ns, fsid))
				    : NULL;

	/* Another filesystem kind of the original (fs.embed, cloud ones)
	** loads as it did, with a warning: only directories are served. */
	if (fs && fs->kind && !strncmp(fs->kind, "fs.", 3) && strcmp(fs->kind, "fs.directory")) {
		fs->_used = true;
		reg__warnat(&L->warn, e, reg__field(e, "fs"), "http.static over %s (%s) is not "
			    "served: this runtime serves fs.directory entries only", fs->kind,
			    fs->id);
	} else {
		st->root = reg__fs_dir(L, e, "fs", NULL);
	}
	if (opts && opts->type == REG_MAP) {
		if ((x = reg_value_get(opts, "spa")) && st->spa == false)
			st->spa = (x->type == REG_BOOL && x->b) ||
				  (x->str && !strcmp(x->str, "true"));
		if ((x = reg_value_get(opts, "index")) && x->type == REG_STR && !st->index)
			st->index = x->str;
		if ((x = reg_value_get(opts, "cache")) && x->type == REG_STR && !st->cache)
			st->cache = x->str;
	}
	if (st->index && (st->index[0] == '\0' || strchr(st->index, '/') ||
			  !strcmp(st->index, "..")))
		reg__errat(L, e, reg__field(e, "static_options.index"), "static_options.index "
			   "must be a file name in the root, got \"%s\"", st->index);
	if (st->spa && st->index == NULL)
		reg__errat(L, e, reg__field(e, "static_options.spa"), "index file must be "
			   "specified for SPA mode (static_options.index)");
	check_mw(L, e, "middleware", "options", &st->mw);
}

static void set_static_path(struct loader *L, struct reg_entry *e,
			    const struct reg_field *f, struct reg_value *v, void *dst)
{
	if (v->str[0] != '/')
		reg__errat(L, e, v, "field \"path\" must start with '/', got \"%s\"", v->str);
	else if (strstr(v->str, "/../") || strstr(v->str, "//") ||
		 (strlen(v->str) >= 3 && !strcmp(v->str + strlen(v->str) - 3, "/..")))
		reg__errat(L, e, v, "field \"path\" must be a clean path, got \"%s\"", v->str);
}

/* requires and depends_on merged, de-duplicated, in file order. Any
 * service-like entry may be required (a service can wait for an
 * http.service or a host as well as for another process.service). */
static void set_requires(struct loader *L, struct reg_entry *e,
			 const struct reg_field *f, struct reg_value *unused, void *dst)
{
	static const char *const lists[] = { "lifecycle.requires",
					     "lifecycle.depends_on" };
	struct reg_lifecycle *lc = &e->lifecycle;
	struct reg_value *seq;
	size_t i, j, k, total = 0;

	for (i = 0; i < countof(lists); i++)
		if ((seq = reg__field(e, lists[i])) != NULL && seq->type == REG_SEQ)
			total += seq->n;
	if (total == 0)
		return;
	lc->requires = reg__alloc(&L->reg->arena, total * sizeof(*lc->requires));
	for (i = 0; i < countof(lists); i++) {
		if ((seq = reg__field(e, lists[i])) == NULL || seq->type != REG_SEQ)
			continue;
		for (j = 0; j < seq->n; j++) {
			struct reg_entry *t = reg__ref_at(L, e, seq->items[j], lists[i],
							  MASK_SERVICE);
			if (t == NULL)
				continue;
			for (k = 0; k < lc->nrequires && lc->requires[k] != t; k++)
				;
			if (k == lc->nrequires)
				lc->requires[lc->nrequires++] = t;
		}
	}
}

/* store.sql column and table names go into SQL text: plain identifiers
 * only ([A-Za-z_][A-Za-z0-9_]*, dots for a schema), the original's
 * injection check. */
static void set_sql_ident(struct loader *L, struct reg_entry *e,
			  const struct reg_field *f, struct reg_value *v, void *dst)
{
	const char *p = v->str;

	if (!isalpha((unsigned char)*p) && *p != '_')
		goto bad;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
			goto bad;
	return;
bad:
	reg__errat(L, e, v, "field \"%s\" must be an SQL identifier "
		   "(letters, digits, _), got \"%s\"", f->key, v->str);
	*(const char **)dst = NULL;
}

/* store.memory max_size: 0 (or absent) is the default 10000, as in the
 * original; negative is an error. */
static void set_max_size(struct loader *L, struct reg_entry *e,
			 const struct reg_field *f, struct reg_value *v, void *dst)
{
	char buf[160];

	*(int *)dst = 10000;
	if (v == NULL || v->_unset)
		return;
	if (v->type != REG_INT || v->i < 0 || v->i > INT32_MAX)
		reg__errat(L, e, v, "field \"max_size\" must be an integer >= 0, "
			   "got %s", reg__show(v, buf, sizeof(buf)));
	else if (v->i > 0)
		*(int *)dst = (int)v->i;
}

/* }==================================================================== */

/* {====================================================================
** Tables: one row per key
** ===================================================================== */

#define LC(m) AT(lifecycle.m)

/* lifecycle.security: {actor: {id, meta}, policies: [...], groups: [...]},
** read again by the supervisor when it starts the service (service.c);
** checked here for its shape. Policy and group ids are resolved at start,
** as the original does, so a registry change can add them later. */
static void set_lifecycle_security(struct loader *L, struct reg_entry *e,
				   const struct reg_field *f, struct reg_value *v, void *dst)
{
	static const char *const lists[] = { "policies", "groups" };
	struct reg_value *a, *x;
	char buf[160];

	if (v == NULL || v->type != REG_MAP)
		return;	/* absent; a non-map is reported by the RF_MAP row */
	a = reg_value_get(v, "actor");
	if (a != NULL && a->type != REG_MAP)
		reg__errat(L, e, a, "lifecycle.security.actor must be a mapping {id, meta}, got %s",
			   reg__show(a, buf, sizeof(buf)));
	if (a != NULL && a->type == REG_MAP) {
		x = reg_value_get(a, "id");
		if (x != NULL && x->type != REG_STR && x->type != REG_INT)
			reg__errat(L, e, x, "lifecycle.security.actor.id must be a string, got %s",
				   reg__show(x, buf, sizeof(buf)));
		x = reg_value_get(a, "meta");
		if (x != NULL && x->type != REG_MAP && x->type != REG_NULL)
			reg__errat(L, e, x, "lifecycle.security.actor.meta must be a mapping, got %s",
				   reg__show(x, buf, sizeof(buf)));
	}
	for (size_t i = 0; i < 2; i++) {
		x = reg_value_get(v, lists[i]);
		if (x == NULL || x->type == REG_NULL)
			continue;
		if (x->type != REG_SEQ) {
			reg__errat(L, e, x, "lifecycle.security.%s must be a list of ids, got %s",
				   lists[i], reg__show(x, buf, sizeof(buf)));
			continue;
		}
		for (size_t j = 0; j < x->n; j++)
			if (x->items[j]->type != REG_STR || x->items[j]->str[0] == '\0')
				reg__errat(L, e, x->items[j], "lifecycle.security.%s: an id must "
					   "be a non-empty string, got %s", lists[i],
					   reg__show(x->items[j], buf, sizeof(buf)));
	}
}

static const char *const startup_values[] = { "required", "optional", NULL };
static const char *const http_methods[] = { "GET", "POST", "PUT", "DELETE",
	"PATCH", "HEAD", "OPTIONS", "TRACE", NULL };

/*
** The lifecycle block (spec 1.3) of every service-like kind. Absent keys,
** and an absent block, take the spec defaults written here. startup and
** start_timeout are checked but not kept: nothing in this runtime acts on
** them yet. security is checked here (set_lifecycle_security) and read
** from the entry's data by the supervisor when it builds a service.
*/
static const struct reg_field lifecycle_fields[] = {
	{ .key = "lifecycle", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "lifecycle.auto_start", .type = RF_BOOL, .off = LC(auto_start),
	  .def = { .b = false } },
	{ .key = "lifecycle.start_timeout", .type = RF_DUR, .off = RF_NOWHERE,
	  .def = { .i = 10 * SEC } },
	{ .key = "lifecycle.stop_timeout", .type = RF_DUR, .off = LC(stop_timeout),
	  .def = { .i = 10 * SEC } },
	{ .key = "lifecycle.stable_threshold", .type = RF_DUR, .off = LC(stable_threshold),
	  .def = { .i = 5 * SEC } },
	{ .key = "lifecycle.startup", .type = RF_STR, .off = RF_NOWHERE,
	  .oneof = startup_values },
	{ .key = "lifecycle.security", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "lifecycle.security", .type = RF_FN, .off = RF_NOWHERE,
	  .set = set_lifecycle_security },
	{ .key = "lifecycle.restart", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "lifecycle.restart.initial_delay", .type = RF_DUR, .off = LC(restart.initial_delay),
	  .def = { .i = SEC } },
	{ .key = "lifecycle.restart.max_delay", .type = RF_DUR, .off = LC(restart.max_delay),
	  .def = { .i = 90 * SEC } },
	{ .key = "lifecycle.restart.backoff_factor", .type = RF_NUM, .off = LC(restart.backoff_factor),
	  .def = { .f = 2.0 } },
	{ .key = "lifecycle.restart.jitter", .type = RF_NUM, .off = LC(restart.jitter),
	  .def = { .f = 0.1 } },
	{ .key = "lifecycle.restart.max_attempts", .type = RF_INT, .off = LC(restart.max_attempts),
	  .def = { .i = 0 }, .min = 0 },
	{ .key = "lifecycle.requires", .type = RF_SEQ, .off = RF_NOWHERE },
	{ .key = "lifecycle.depends_on", .type = RF_SEQ, .off = RF_NOWHERE },
	{ .key = "lifecycle.requires", .type = RF_FN, .off = RF_NOWHERE,
	  .set = set_requires },
};

/* process.host: queue_size and local_queue_size size the original's
 * queues; this runtime's run queues are per shard and grow, so they are
 * checked, not kept. */
static const struct reg_field host_fields[] = {
	{ .key = "host", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "host.workers", .type = RF_FN, .off = AT(u.host.workers),
	  .set = set_workers },
	{ .key = "host.max_memory", .type = RF_FN, .off = AT(u.host.max_memory),
	  .set = set_max_memory },
	{ .key = "host.queue_size", .type = RF_INT, .off = RF_NOWHERE,
	  .def = { .i = 1024 }, .min = 1 },
	{ .key = "host.local_queue_size", .type = RF_INT, .off = RF_NOWHERE,
	  .def = { .i = 256 }, .min = 1 },
};

#define LUA_SOURCE { .key = "source", .type = RF_FN, .off = AT(u.lua.source), \
		     .set = set_lua_source }
#define LUA_METHOD { .key = "method", .type = RF_STR, \
		     .flags = RF_REQUIRED | RF_NONEMPTY, .off = AT(u.lua.method) }
#define LUA_MODULES \
	{ .key = "modules", .type = RF_SEQ, .off = RF_NOWHERE, .set = set_modules }, \
	{ .key = "imports", .type = RF_MAP, .off = RF_NOWHERE, .set = set_imports }

/* Sources are resolved here but compiled later, by runtime/code.c. */
static const struct reg_field process_lua_fields[] = {
	LUA_SOURCE, LUA_METHOD, LUA_MODULES,
};

static const struct reg_field library_lua_fields[] = {
	LUA_SOURCE, LUA_MODULES,
};

/* pool is accepted: function pools are this runtime's to size. */
static const struct reg_field function_lua_fields[] = {
	LUA_SOURCE, LUA_METHOD,
	{ .key = "pool", .type = RF_MAP, .off = RF_NOWHERE },
	LUA_MODULES,
};

/* fs, path and hash are read together by reg__bc_source. */
static const struct reg_field process_lua_bc_fields[] = {
	{ .key = "fs", .type = RF_FN, .off = AT(u.lua.source), .set = set_bc_source },
	LUA_METHOD, LUA_MODULES,
};

/* input stays a raw sequence: its items are passed to Lua as they are. */
static const struct reg_field service_fields[] = {
	{ .key = "process", .type = RF_REF, .flags = RF_REQUIRED, .off = AT(u.service.process),
	  .kinds = KMASK(REG_K_PROCESS_LUA) | KMASK(REG_K_PROCESS_LUA_BC) },
	{ .key = "host", .type = RF_FN, .off = AT(u.service.host),
	  .set = set_service_host },
	{ .key = "input", .type = RF_SEQ, .off = AT(u.service.input) },
};

/* hide_logs suppresses the original's log stream to the terminal's event
 * bus, which this runtime does not have: checked, not kept. */
static const struct reg_field terminal_fields[] = {
	{ .key = "hide_logs", .type = RF_BOOL, .off = RF_NOWHERE, .def = { .b = false } },
};

static const struct reg_field static_fields[] = {
	{ .key = "values", .type = RF_MAP, .off = AT(u.storage.values),
	  .set = set_static_values },
};

static const struct reg_field file_fields[] = {
	{ .key = "file_path", .type = RF_STR, .flags = RF_REQUIRED, .off = AT(u.storage.file_path) },
	{ .key = "auto_create", .type = RF_BOOL, .off = AT(u.storage.auto_create),
	  .def = { .b = false } },
	{ .key = "file_mode", .type = RF_MODE, .off = AT(u.storage.file_mode),
	  .def = { .i = 0644 } },
	{ .key = "dir_mode", .type = RF_MODE, .off = AT(u.storage.dir_mode),
	  .def = { .i = 0755 } },
};

static const struct reg_field router_storage_fields[] = {
	{ .key = "storages", .type = RF_SEQ, .flags = RF_REQUIRED, .off = RF_NOWHERE,
	  .set = set_storages },
};

static const struct reg_field variable_fields[] = {
	{ .key = "variable", .type = RF_STR, .off = AT(u.var.variable),
	  .set = set_variable_name },
	{ .key = "storage", .type = RF_REF, .flags = RF_REQUIRED, .off = AT(u.var.storage),
	  .kinds = MASK_STORAGE },
	{ .key = "default", .type = RF_FN, .off = AT(u.var.def),
	  .set = set_variable_default },
	{ .key = "readonly", .type = RF_BOOL, .off = AT(u.var.readonly),
	  .def = { .b = false } },
};

/*
** http.service: the listener's knobs. An explicit 0 timeout disables it.
** The defaults are the ones the original's http.service documents.
*/
static const struct reg_field http_service_fields[] = {
	{ .key = "addr", .type = RF_STR, .flags = RF_REQUIRED | RF_NONEMPTY, .off = AT(u.http.addr),
	  .set = set_http_addr },
	{ .key = "timeouts", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "timeouts.read", .type = RF_DUR, .off = AT(u.http.read_timeout),
	  .def = { .i = 10 * SEC } },
	{ .key = "timeouts.write", .type = RF_DUR, .off = AT(u.http.write_timeout),
	  .def = { .i = 30 * SEC } },
	{ .key = "timeouts.idle", .type = RF_DUR, .off = AT(u.http.idle_timeout),
	  .def = { .i = 60 * SEC } },
	{ .key = "limits", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "limits.max_header_bytes", .type = RF_I64, .off = AT(u.http.max_header_bytes),
	  .def = { .i = 8192 }, .min = 1, .max = UINT32_MAX },
	{ .key = "limits.max_body_bytes", .type = RF_I64, .off = AT(u.http.max_body_bytes),
	  .def = { .i = 120ll << 20 }, .min = 0 },	/* the original's 120MB max_body */
	{ .key = "metrics", .type = RF_STR, .off = AT(u.http.metrics),
	  .set = set_metrics_path },
	{ .key = "tls", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "tls.cert_file", .type = RF_STR, .flags = RF_NONEMPTY, .off = AT(u.http.tls_cert) },
	{ .key = "tls.key_file", .type = RF_STR, .flags = RF_NONEMPTY, .off = AT(u.http.tls_key) },
	{ .key = "tls.min_version", .type = RF_STR, .off = AT(u.http.tls_min),
	  .def = { .s = "1.2" }, .set = set_tls_min },
};

static const struct reg_field http_router_fields[] = {
	{ .key = "meta.server", .type = RF_FN, .off = AT(u.router.server),
	  .set = set_meta_server },
	{ .key = "prefix", .type = RF_STR, .off = AT(u.router.prefix),
	  .def = { .s = "" }, .set = set_prefix },
	{ .key = "middleware", .type = RF_FN, .off = RF_NOWHERE, .set = set_router_mw },
};

/* Decoded in this order: the plain keys first, then set_static, which
** reads them (spa needs index) and the legacy options. */
static const struct reg_field http_static_fields[] = {
	{ .key = "meta.server", .type = RF_FN, .off = AT(u.hstatic.server),
	  .set = set_meta_server },
	{ .key = "path", .type = RF_STR, .flags = RF_REQUIRED, .off = AT(u.hstatic.path),
	  .set = set_static_path },
	{ .key = "directory", .type = RF_STR, .off = RF_NOWHERE },
	{ .key = "static_options", .type = RF_MAP, .off = RF_NOWHERE },
	{ .key = "static_options.index", .type = RF_STR, .off = AT(u.hstatic.index) },
	{ .key = "static_options.cache", .type = RF_STR, .off = AT(u.hstatic.cache) },
	{ .key = "static_options.spa", .type = RF_BOOL, .off = AT(u.hstatic.spa),
	  .def = { .b = false } },
	{ .key = "fs", .type = RF_FN, .off = RF_NOWHERE, .set = set_static },
};

/* method is upper case as in the Go validator; the path is checked here
 * so the route table never sees a bad one. */
static const struct reg_field http_endpoint_fields[] = {
	{ .key = "meta.router", .type = RF_FN, .off = AT(u.endpoint.router),
	  .set = set_meta_router },
	{ .key = "method", .type = RF_STR, .flags = RF_REQUIRED, .off = AT(u.endpoint.method),
	  .oneof = http_methods },
	{ .key = "path", .type = RF_STR, .flags = RF_REQUIRED, .off = AT(u.endpoint.path),
	  .set = set_endpoint_path },
	{ .key = "func", .type = RF_REF, .flags = RF_REQUIRED, .off = AT(u.endpoint.func),
	  .kinds = KMASK(REG_K_FUNCTION_LUA) },
};

/* {====================================================================
** contract.definition and contract.binding
** ===================================================================== */

/* A string at key of map m, or NULL (an error when present and not a
** string, or when required and absent or empty). */
static const char *map_str(struct loader *L, struct reg_entry *e, struct reg_value *m,
			   const char *key, const char *what, bool required)
{
	struct reg_value *v = reg_value_get(m, key);
	char buf[160];

	if (v == NULL || v->type == REG_NULL) {
		if (required)
			reg__errat(L, e, m, "%s: missing required field \"%s\"", what, key);
		return NULL;
	}
	if (v->type != REG_STR || (required && v->str[0] == '\0')) {
		reg__errat(L, e, v, "%s: field \"%s\" must be a%s string, got %s", what,
			   key, required ? " non-empty" : "", reg__show(v, buf, sizeof(buf)));
		return NULL;
	}
	return v->str;
}

/* input_schemas / output_schemas: a sequence of {format, definition}. */
static const struct reg_value *schemas(struct loader *L, struct reg_entry *e,
				       struct reg_value *m, const char *key)
{
	struct reg_value *v = reg_value_get(m, key);
	char buf[160];

	if (v == NULL || v->type == REG_NULL)
		return NULL;
	if (v->type != REG_SEQ) {
		reg__errat(L, e, v, "methods: \"%s\" must be a sequence, got %s", key,
			   reg__show(v, buf, sizeof(buf)));
		return NULL;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i]->type != REG_MAP) {
			reg__errat(L, e, v->items[i], "methods: each of \"%s\" must be a "
				   "mapping with format and definition", key);
			return NULL;
		}
		map_str(L, e, v->items[i], "format", key, false);
	}
	return v;
}

static void set_contract_methods(struct loader *L, struct reg_entry *e,
				 const struct reg_field *f, struct reg_value *ms, void *dst)
{
	struct reg_contract_def *d = &e->u.contract;
	char buf[160];

	d->methods = reg__alloc(&L->reg->arena, (ms->n + 1) * sizeof(*d->methods));
	for (size_t i = 0; i < ms->n; i++) {
		struct reg_value *m = ms->items[i];
		struct reg_contract_method *cm;
		const char *name;

		if (m->type != REG_MAP) {
			reg__errat(L, e, m, "methods: each method must be a mapping with a "
				   "name, got %s", reg__show(m, buf, sizeof(buf)));
			continue;
		}
		if ((name = map_str(L, e, m, "name", "methods", true)) == NULL)
			continue;
		for (size_t j = 0; j < d->nmethods; j++)
			if (!strcmp(d->methods[j].name, name)) {
				reg__errat(L, e, reg_value_get(m, "name"),
					   "methods: method \"%s\" is defined twice", name);
				name = NULL;
				break;
			}
		if (name == NULL)
			continue;
		cm = &d->methods[d->nmethods++];
		cm->name = name;
		cm->description = map_str(L, e, m, "description", "methods", false);
		if (cm->description == NULL)
			cm->description = "";
		cm->input_schemas = schemas(L, e, m, "input_schemas");
		cm->output_schemas = schemas(L, e, m, "output_schemas");
	}
}

/* Does the contract.definition t define a method of that name? Its raw
** tree is read: t may come later in file order, not decoded yet. */
static bool defines_method(const struct reg_entry *t, const char *name)
{
	const struct reg_value *ms = reg_value_get(t->data, "methods");
	for (size_t i = 0; ms && ms->type == REG_SEQ && i < ms->n; i++) {
		const char *n = reg_value_str(ms->items[i], "name");
		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

static void bound_contract(struct loader *L, struct reg_entry *e, struct reg_value *c,
			   struct reg_bound_contract *bc)
{
	struct reg_value *ms = reg_value_get(c, "methods");
	struct reg_value *req = reg_value_get(c, "context_required");
	struct reg_value *def = reg_value_get(c, "default");
	struct reg_entry *t;
	char buf[160];

	t = reg__ref_at(L, e, reg_value_get(c, "contract"), "contracts.contract",
			KMASK(REG_K_CONTRACT_DEFINITION));
	if (reg_value_get(c, "contract") == NULL)
		reg__errat(L, e, c, "contracts: missing required field \"contract\"");
	bc->contract = t ? t->id : NULL;
	if (ms && ms->type != REG_NULL) {
		if (ms->type != REG_MAP) {
			reg__errat(L, e, ms, "contracts: \"methods\" must be a mapping of "
				   "method name to function id, got %s",
				   reg__show(ms, buf, sizeof(buf)));
		} else {
			bc->methods = reg__alloc(&L->reg->arena, (ms->n + 1) * sizeof(*bc->methods));
			for (size_t i = 0; i < ms->n; i++) {
				struct reg_entry *fn = reg__ref_at(L, e, ms->items[i],
					"contracts.methods", KMASK(REG_K_FUNCTION_LUA));
				if (t && !defines_method(t, ms->keys[i]))
					reg__errat(L, e, ms->items[i], "contracts: contract %s has "
						   "no method \"%s\"", t->id, ms->keys[i]);
				else if (fn) {
					bc->methods[bc->nmethods].name = ms->keys[i];
					bc->methods[bc->nmethods++].func = fn->id;
				}
			}
		}
	}
	if (req && req->type != REG_NULL) {
		if (req->type != REG_SEQ) {
			reg__errat(L, e, req, "contracts: \"context_required\" must be a "
				   "sequence of keys, got %s", reg__show(req, buf, sizeof(buf)));
		} else {
			bc->context_required = reg__alloc(&L->reg->arena,
							  (req->n + 1) * sizeof(char *));
			for (size_t i = 0; i < req->n; i++) {
				if (req->items[i]->type != REG_STR || !req->items[i]->str[0])
					reg__errat(L, e, req->items[i], "contracts: each of "
						   "\"context_required\" must be a key string, got %s",
						   reg__show(req->items[i], buf, sizeof(buf)));
				else
					bc->context_required[bc->ncontext_required++] =
						req->items[i]->str;
			}
		}
	}
	if (def && def->type != REG_NULL && def->type != REG_BOOL)
		reg__errat(L, e, def, "contracts: \"default\" must be a boolean, got %s",
			   reg__show(def, buf, sizeof(buf)));
	bc->is_default = def && def->type == REG_BOOL && def->b;
}

static void set_binding_contracts(struct loader *L, struct reg_entry *e,
				  const struct reg_field *f, struct reg_value *cs, void *dst)
{
	struct reg_binding *b = &e->u.binding;
	char buf[160];

	if (cs->n == 0) {
		reg__errat(L, e, cs, "field \"contracts\" must list at least one contract");
		return;
	}
	b->contracts = reg__alloc(&L->reg->arena, cs->n * sizeof(*b->contracts));
	for (size_t i = 0; i < cs->n; i++) {
		struct reg_bound_contract *bc = &b->contracts[b->ncontracts];
		if (cs->items[i]->type != REG_MAP) {
			reg__errat(L, e, cs->items[i], "contracts: each item must be a mapping "
				   "with contract and methods, got %s",
				   reg__show(cs->items[i], buf, sizeof(buf)));
			continue;
		}
		memset(bc, 0, sizeof(*bc));
		bound_contract(L, e, cs->items[i], bc);
		if (bc->contract)
			b->ncontracts++;
	}
}

static const struct reg_field contract_def_fields[] = {
	{ .key = "methods", .type = RF_SEQ, .off = RF_NOWHERE, .set = set_contract_methods },
};

static const struct reg_field contract_binding_fields[] = {
	{ .key = "contracts", .type = RF_SEQ, .flags = RF_REQUIRED, .off = RF_NOWHERE,
	  .set = set_binding_contracts },
};

/* }==================================================================== */

/* queue.queue driver: an entry of a queue.driver.* kind. */
static void set_queue_driver(struct loader *L, struct reg_entry *e,
			     const struct reg_field *f, struct reg_value *v, void *dst)
{
	struct reg_entry *t = reg__ref_at(L, e, v, "driver", ~0u);
	if (t && strncmp(t->kind, "queue.driver.", 13) != 0) {
		reg__errat(L, e, v, "driver: \"%s\" is a %s, expected a queue.driver.* entry",
			   t->id, t->kind);
		t = NULL;
	}
	*(struct reg_entry **)dst = t;
}

static const struct reg_field queue_fields[] = {
	{ .key = "driver", .type = RF_STR, .flags = RF_REQUIRED, .off = AT(u.queue.driver),
	  .set = set_queue_driver },
};

static const struct reg_field consumer_fields[] = {
	{ .key = "queue", .type = RF_REF, .flags = RF_REQUIRED, .off = AT(u.consumer.queue),
	  .kinds = KMASK(REG_K_QUEUE_QUEUE) },
	{ .key = "func", .type = RF_REF, .flags = RF_REQUIRED, .off = AT(u.consumer.func),
	  .kinds = KMASK(REG_K_FUNCTION_LUA) },
	{ .key = "concurrency", .type = RF_INT, .off = AT(u.consumer.concurrency),
	  .def = { .i = 1 }, .min = 1, .max = 1000 },
	{ .key = "prefetch", .type = RF_INT, .off = AT(u.consumer.prefetch),
	  .def = { .i = 10 }, .min = 1, .max = 10000 },
	{ .key = "auto_ack", .type = RF_BOOL, .off = RF_NOWHERE, .def = { .b = false } },
	{ .key = "driver_options", .type = RF_MAP, .off = RF_NOWHERE },
};

/*
** security.policy: `policy` is compiled here once to check it (runtime/
** policy.c reports each problem at its node) and dropped; the policy
** table of a registry compiles it again on first use. `groups` goes with
** it, as the group ids need the entry's namespace.
*/
struct policy_err {
	struct loader *L;
	struct reg_entry *e;
};

static void policy_err(void *ud, const struct reg_value *at, const char *msg)
{
	struct policy_err *pe = ud;

	reg__errat(pe->L, pe->e, at, "%s", msg);
}

static void set_policy(struct loader *L, struct reg_entry *e,
		       const struct reg_field *f, struct reg_value *v, void *dst)
{
	struct policy_err pe = { L, e };

	if (v == NULL) {
		reg__errat(L, e, NULL, "missing required field \"policy\"");
		return;
	}
	policy_free(policy_compile(e->id, e->ns, v, reg__field(e, "groups"),
				   policy_err, &pe));
}

static void set_policy_expr(struct loader *L, struct reg_entry *e,
			    const struct reg_field *f, struct reg_value *v, void *dst)
{
	struct policy_err pe = { L, e };

	if (v == NULL) {
		reg__errat(L, e, NULL, "missing required field \"policy\"");
		return;
	}
	policy_free(policy_compile_expr(e->id, e->ns, v, reg__field(e, "groups"),
					policy_err, &pe));
}

/* security.scope: `policies`, a non-empty list of policy ids (the
** original's ScopeConfig.Validate); resolved when the scope is asked for
** (security.named_scope), ids without a namespace in the entry's. */
static void set_scope_policies(struct loader *L, struct reg_entry *e,
			       const struct reg_field *f, struct reg_value *v, void *dst)
{
	char buf[160];

	if (v == NULL || v->type != REG_SEQ || v->n == 0) {
		reg__errat(L, e, v, "field \"policies\" must be a non-empty list of policy ids%s",
			   v ? "" : " (missing)");
		return;
	}
	for (size_t i = 0; i < v->n; i++)
		if (v->items[i]->type != REG_STR || v->items[i]->str[0] == '\0')
			reg__errat(L, e, v->items[i], "policies: a policy id must be a "
				   "non-empty string, got %s",
				   reg__show(v->items[i], buf, sizeof(buf)));
}

static const struct reg_field security_scope_fields[] = {
	{ .key = "policies", .type = RF_FN, .off = RF_NOWHERE, .set = set_scope_policies },
};

static const struct reg_field security_policy_fields[] = {
	{ .key = "policy", .type = RF_FN, .off = RF_NOWHERE, .set = set_policy },
};

static const struct reg_field security_policy_expr_fields[] = {
	{ .key = "policy", .type = RF_FN, .off = RF_NOWHERE, .set = set_policy_expr },
};

/* The pool block of db.sql.* (database/sql's pool knobs). */
#define DB_POOL \
	{ .key = "pool", .type = RF_MAP, .off = RF_NOWHERE }, \
	{ .key = "pool.max_open", .type = RF_INT, .off = AT(u.db.max_open), \
	  .def = { .i = 0 }, .min = 0, .max = 1 << 20 }, \
	{ .key = "pool.max_idle", .type = RF_INT, .off = AT(u.db.max_idle), \
	  .def = { .i = 0 }, .min = 0, .max = 1 << 20 }, \
	{ .key = "pool.max_lifetime", .type = RF_DUR, .off = AT(u.db.max_lifetime), \
	  .def = { .i = 3600 * SEC } }, \
	{ .key = "options", .type = RF_MAP, .off = AT(u.db.options) }

/* db.sql.sqlite: one connection, WAL (the original forces both). */
static const struct reg_field db_sqlite_fields[] = {
	{ .key = "file", .type = RF_STR, .flags = RF_REQUIRED | RF_NONEMPTY,
	  .off = AT(u.db.file) },
	DB_POOL,
};

/* db.sql.postgres: the connection fields of the original, plus dsn (a
 * libpq conninfo) which, when given, is used as it is. The *_env forms
 * name an environment variable read when the database is first used. */
static const struct reg_field db_postgres_fields[] = {
	{ .key = "dsn", .type = RF_STR, .off = AT(u.db.dsn) },
	{ .key = "host", .type = RF_STR, .off = AT(u.db.host) },
	{ .key = "port", .type = RF_INT, .off = AT(u.db.port), .def = { .i = 0 },
	  .min = 0, .max = 65535 },
	{ .key = "database", .type = RF_STR, .off = AT(u.db.database) },
	{ .key = "username", .type = RF_STR, .off = AT(u.db.username) },
	{ .key = "password", .type = RF_STR, .off = AT(u.db.password) },
	{ .key = "host_env", .type = RF_STR, .off = RF_NOWHERE },
	{ .key = "port_env", .type = RF_STR, .off = RF_NOWHERE },
	{ .key = "database_env", .type = RF_STR, .off = RF_NOWHERE },
	{ .key = "username_env", .type = RF_STR, .off = RF_NOWHERE },
	{ .key = "password_env", .type = RF_STR, .off = RF_NOWHERE },
	DB_POOL,
};

static const struct reg_field store_memory_fields[] = {
	{ .key = "max_size", .type = RF_FN, .off = AT(u.store.max_size),
	  .set = set_max_size },
	{ .key = "cleanup_interval", .type = RF_DUR, .off = AT(u.store.cleanup_interval),
	  .def = { .i = 300 * SEC } },
};

static const struct reg_field store_sql_fields[] = {
	{ .key = "database", .type = RF_REF, .flags = RF_REQUIRED, .off = AT(u.store.database),
	  .kinds = MASK_DB },
	{ .key = "table_name", .type = RF_STR, .flags = RF_REQUIRED | RF_NONEMPTY,
	  .off = AT(u.store.table_name), .set = set_sql_ident },
	{ .key = "id_column_name", .type = RF_STR, .off = AT(u.store.id_column),
	  .def = { .s = "key" }, .set = set_sql_ident },
	{ .key = "payload_column_name", .type = RF_STR, .off = AT(u.store.payload_column),
	  .def = { .s = "value" }, .set = set_sql_ident },
	{ .key = "expire_column_name", .type = RF_STR, .off = AT(u.store.expire_column),
	  .def = { .s = "expires_at" }, .set = set_sql_ident },
	{ .key = "cleanup_interval", .type = RF_DUR, .off = AT(u.store.cleanup_interval),
	  .def = { .i = 0 } },
};

static const struct reg_field token_store_fields[] = {
	{ .key = "store", .type = RF_REF, .flags = RF_REQUIRED,
	  .off = AT(u.token_store.store), .kinds = MASK_STORE },
	{ .key = "token_length", .type = RF_INT, .off = AT(u.token_store.token_length),
	  .def = { .i = 32 }, .min = 1, .max = 1024 },
	{ .key = "token_key", .type = RF_STR, .off = AT(u.token_store.token_key),
	  .def = { .s = "" } },
	{ .key = "default_expiration", .type = RF_DUR,
	  .off = AT(u.token_store.default_expiration), .def = { .i = 24 * 3600 * SEC } },
};

#define TABLE(t) t, countof(t)

/* The kinds with typed fields; lifecycle marks service-like kinds. */
static const struct kind_desc {
	const char *name;
	enum reg_kind k;
	const struct reg_field *fields;
	size_t nfields;
	bool lifecycle;
} kinds[] = {
	{ "process.host",	REG_K_PROCESS_HOST,	TABLE(host_fields),	   true },
	{ "process.lua",	REG_K_PROCESS_LUA,	TABLE(process_lua_fields),  false },
	{ "library.lua",	REG_K_LIBRARY_LUA,	TABLE(library_lua_fields),  false },
	{ "function.lua",	REG_K_FUNCTION_LUA,	TABLE(function_lua_fields), false },
	{ "process.service",	REG_K_PROCESS_SERVICE,	TABLE(service_fields),	   true },
	{ "terminal.host",	REG_K_TERMINAL_HOST,	TABLE(terminal_fields),	   true },
	{ "env.storage.os",	REG_K_ENV_OS,		NULL, 0,		   false },
	{ "env.storage.static",	REG_K_ENV_STATIC,	TABLE(static_fields),	   false },
	{ "env.storage.memory",	REG_K_ENV_MEMORY,	NULL, 0,		   false },
	{ "env.storage.file",	REG_K_ENV_FILE,		TABLE(file_fields),	   false },
	{ "env.storage.router",	REG_K_ENV_ROUTER,	TABLE(router_storage_fields), false },
	{ "env.variable",	REG_K_ENV_VARIABLE,	TABLE(variable_fields),	   false },
	{ "http.service",	REG_K_HTTP_SERVICE,	TABLE(http_service_fields), true },
	{ "http.router",	REG_K_HTTP_ROUTER,	TABLE(http_router_fields),  false },
	{ "http.endpoint",	REG_K_HTTP_ENDPOINT,	TABLE(http_endpoint_fields), false },
	{ "http.static",	REG_K_HTTP_STATIC,	TABLE(http_static_fields), false },
	{ "registry.entry",	REG_K_REGISTRY_ENTRY,	NULL, 0,		   false },
	{ "process.lua.bc",	REG_K_PROCESS_LUA_BC,	TABLE(process_lua_bc_fields), false },
	{ "contract.definition", REG_K_CONTRACT_DEFINITION, TABLE(contract_def_fields), false },
	{ "contract.binding",	REG_K_CONTRACT_BINDING,	TABLE(contract_binding_fields), false },
	{ "queue.driver.memory", REG_K_QUEUE_DRIVER_MEMORY, NULL, 0,		   true },
	{ "queue.queue",	REG_K_QUEUE_QUEUE,	TABLE(queue_fields),	   false },
	{ "queue.consumer",	REG_K_QUEUE_CONSUMER,	TABLE(consumer_fields),	   true },
	{ "security.policy",	REG_K_SECURITY_POLICY,	TABLE(security_policy_fields), false },
	{ "security.policy.expr", REG_K_SECURITY_POLICY_EXPR, TABLE(security_policy_expr_fields), false },
	{ "security.scope",	REG_K_SECURITY_SCOPE,	TABLE(security_scope_fields), false },
	{ "db.sql.sqlite",	REG_K_DB_SQLITE,	TABLE(db_sqlite_fields),   true },
	{ "db.sql.postgres",	REG_K_DB_POSTGRES,	TABLE(db_postgres_fields), true },
	{ "store.memory",	REG_K_STORE_MEMORY,	TABLE(store_memory_fields), true },
	{ "store.sql",		REG_K_STORE_SQL,	TABLE(store_sql_fields),   true },
	{ "security.token_store", REG_K_SECURITY_TOKEN_STORE, TABLE(token_store_fields), false },
};

/* }==================================================================== */

/* {====================================================================
** Kinds
** ===================================================================== */

/*
** Kinds the original documents (spec 1.4 "other kinds", and the entry-kind
** reference of its docs) that this runtime does not run: they load, are
** kept as generic data, and each such entry gets a warning naming it, so
** an app written for the original still boots and says what is inert. A
** trailing '.' or '*' in the table means "prefix". Any other kind is an
** error: a typo must not pass as an ignored entry.
*/
static const char *const other_kinds[] = {
	"workflow.lua", "module.lua", "btea.app.lua", "pg.scope",
	"function.wasm", "function.wat", "process.wasm",
	"ns.definition", "ns.requirement", "ns.dependency",
	"db.sql.", "db.cdc.", "store.", "queue.", "temporal.", "fs.", "exec.",
	"security.policy*", "contract.", "template.",
	"network", "network.", "cloudstorage.", "config.",
};

static bool is_other_kind(const char *kind)
{
	size_t i, len, klen = strlen(kind);

	if (klen > 7 && !strcmp(kind + klen - 7, ".lua.bc"))
		return true;	/* process.lua.bc, function.lua.bc, ... */
	for (i = 0; i < countof(other_kinds); i++) {
		const char *o = other_kinds[i];

		len = strlen(o);
		if (o[len - 1] == '.' && !strncmp(kind, o, len))
			return true;
		if (o[len - 1] == '*' && !strncmp(kind, o, len - 1))
			return true;
		if (!strcmp(kind, o))
			return true;
	}
	return false;
}

static const struct kind_desc *find_kind(enum reg_kind k)
{
	size_t i;

	for (i = 0; i < countof(kinds); i++)
		if (kinds[i].k == k)
			return &kinds[i];
	return NULL;
}

bool reg__classify(struct loader *L, struct reg_entry *e)
{
	size_t i;

	for (i = 0; i < countof(kinds); i++) {
		if (!strcmp(kinds[i].name, e->kind)) {
			e->k = kinds[i].k;
			e->has_lifecycle = kinds[i].lifecycle;
			return true;
		}
	}
	if (is_other_kind(e->kind)) {
		e->k = REG_K_OTHER;	/* warned about after decoding */
		return true;
	}
	reg__errat(L, e, reg_value_get(e->data, "kind"), "unknown kind \"%s\"", e->kind);
	return false;
}

bool reg__is_env_kind(enum reg_kind k)
{
	return k >= REG_K_ENV_OS && k <= REG_K_ENV_VARIABLE;
}

const char *reg__kind_list(unsigned mask, char *buf, size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < countof(kinds) && n < size; i++)
		if (mask & KMASK(kinds[i].k))
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
					      n ? " or " : "", kinds[i].name);
	return buf;
}

void reg__decode_entry(struct loader *L, struct reg_entry *e)
{
	const struct kind_desc *kd = find_kind(e->k);

	if (kd && kd->nfields)
		reg__decode_fields(L, e, kd->fields, kd->nfields);
	if (e->has_lifecycle)
		reg__decode_fields(L, e, lifecycle_fields, countof(lifecycle_fields));
}

void reg__check_variables(struct loader *L)
{
	struct registry *reg = L->reg;
	size_t i, j;

	for (i = 0; i < reg->n; i++) {
		struct reg_entry *a = reg->entries[i];

		if (a->k != REG_K_ENV_VARIABLE || a->u.var.variable == NULL)
			continue;
		for (j = 0; j < i; j++) {
			struct reg_entry *b = reg->entries[j];

			if (b->k == REG_K_ENV_VARIABLE && b->u.var.variable &&
			    !strcmp(a->u.var.variable, b->u.var.variable)) {
				reg__errat(L, a, reg__field(a, "variable"), "variable name "
					   "\"%s\" is already used by %s (%s:%d:%d)",
					   a->u.var.variable, b->id, b->file, b->line,
					   b->col);
				break;
			}
		}
	}
}

/* }==================================================================== */
