/*
** test/unit/runtime/registry.c: the registry loader against the fixture
** trees in test/fixtures/registry/: the three seed apps, a tree using every
** typed kind, interpolation, one fixture per error class (each message must
** carry file:line:col or the entry id and the offending value), wippy.lock,
** and the error cap. Run under ASan: reg_free() must free everything.
*/
#include "runtime/registry.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/env.h"
#include "runtime/sha256.h"
#include "tap.h"

#define SEC 1000000000ll

static char fixtures[PATH_MAX];

/* Fixtures live beside the tests; find them from the repo root or from
 * the source file's own path. */
static void find_fixtures(void)
{
	struct stat st;
	char *dir;

	if (stat("test/fixtures/registry", &st) == 0) {
		snprintf(fixtures, sizeof(fixtures), "test/fixtures/registry");
		return;
	}
	dir = strdup(__FILE__);
	*strrchr(dir, '/') = '\0';
	snprintf(fixtures, sizeof(fixtures), "%s/../../fixtures/registry", dir);
	free(dir);
}

/* The registry as the runtime loads it: both phases, the env between
 * them (env_load), the env itself not kept. */
static struct registry *load_dir(const char *path, struct reg_error *err)
{
	struct registry *reg;

	env_load(path, &reg, NULL, err);
	return reg;
}

static struct registry *load(const char *name, struct reg_error *err)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	return load_dir(path, err);
}

static bool has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* Load a bad fixture; every needle must appear in the error text. */
static void expect_errors(const char *name, int count, const char *const *needles)
{
	struct reg_error err = { 0 };
	struct registry *reg = load(name, &err);
	int i;

	ok(reg == NULL, "%s: load fails", name);
	if (count > 0)
		ok(err.count == count, "%s: %d error(s), got %d", name, count, err.count);
	for (i = 0; needles[i]; i++)
		ok(has(err.msg, needles[i]), "%s: message has '%s'", name, needles[i]);
	if (tap_fail)
		printf("# %s errors:\n%s\n", name, err.msg ? err.msg : "(none)");
	reg_free(reg);
	reg_error_free(&err);
}

#define EXPECT(name, count, ...) do { \
	static const char *const n_[] = { __VA_ARGS__, NULL }; \
	expect_errors(name, count, n_); \
} while (0)

static void test_echo(void)
{
	struct reg_error err = { 0 };
	struct registry *reg = load("echo", &err);
	struct reg_entry *cli, *svc, *relay, *host, *term, *e, **order;
	size_t n, i, pos_host = 99, pos_svc = 99;
	int lua = 0;

	ok(reg != NULL, "echo loads (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		return;
	ok(reg_count(reg) == 6, "echo: 6 entries");
	cli = reg_find(reg, "app:cli");
	svc = reg_find(reg, "app:relay-service");
	relay = reg_find(reg, "app:relay");
	host = reg_find(reg, "app:processes");
	term = reg_find(reg, "app:terminal");
	ok(cli && cli->k == REG_K_PROCESS_LUA && !strcmp(cli->kind, "process.lua"),
	   "app:cli is a process.lua");
	ok(cli && cli->u.lua.source[0] == '/' && ends_with(cli->u.lua.source, "/echo/cli.lua"),
	   "source resolved to an absolute path: %s", cli ? cli->u.lua.source : "");
	ok(cli && !strcmp(cli->u.lua.method, "main"), "method main");
	ok(cli && cli->u.lua.nmodules == 4 && !strcmp(cli->u.lua.modules[0], "io") &&
	   !strcmp(cli->u.lua.modules[3], "channel"), "modules in order");
	ok(cli && !strcmp(cli->ns, "app") && !strcmp(cli->name, "cli"), "ns and name");
	ok(cli && cli->line == 15 && cli->col == 5 && ends_with(cli->file, "echo/_index.yaml"),
	   "entry position file:15:5");
	ok(svc && svc->k == REG_K_PROCESS_SERVICE, "relay-service is a process.service");
	ok(svc && svc->u.service.process == relay, "service.process resolved to app:relay");
	ok(svc && svc->u.service.host == host, "service.host resolved to app:processes");
	ok(svc && svc->u.service.input == NULL, "no input");
	ok(svc && svc->has_lifecycle && svc->lifecycle.auto_start, "auto_start true");
	ok(svc && svc->lifecycle.stop_timeout == 10 * SEC &&
	   svc->lifecycle.stable_threshold == 5 * SEC, "lifecycle duration defaults");
	ok(svc && svc->lifecycle.restart.initial_delay == SEC &&
	   svc->lifecycle.restart.max_delay == 90 * SEC &&
	   svc->lifecycle.restart.backoff_factor == 2.0 &&
	   fabs(svc->lifecycle.restart.jitter - 0.1) < 1e-9 &&
	   svc->lifecycle.restart.max_attempts == 0 &&
	   svc->lifecycle.nrequires == 0,
	   "restart defaults");
	ok(host && host->u.host.workers == 0, "process.host defaults");
	ok(term && term->k == REG_K_TERMINAL_HOST && term->lifecycle.auto_start,
	   "terminal.host");
	for (e = reg_next_kind(reg, "process.lua", NULL); e;
	     e = reg_next_kind(reg, "process.lua", e))
		lua++;
	ok(lua == 3, "three process.lua entries by kind iteration");
	ok(reg_next(reg, NULL) == term, "iteration starts with the first entry in the file");
	ok(reg_find(reg, "app:nope") == NULL && reg_find(reg, "cli") == NULL,
	   "reg_find misses");
	ok(reg_value_get(cli->data, "modules.1") &&
	   !strcmp(reg_value_str(cli->data, "modules.1"), "process"),
	   "reg_value_get indexes sequences");
	ok(reg_service_order(reg, &order, &n, NULL) == 0 && n == 3,
	   "service order has the 3 service-like entries");
	for (i = 0; i < n; i++) {
		if (order[i] == host)
			pos_host = i;
		if (order[i] == svc)
			pos_svc = i;
	}
	ok(pos_host < pos_svc, "host starts before the service on it");
	free(order);
	reg_free(reg);
}

static void test_mass_spawn(void)
{
	struct reg_error err = { 0 };
	struct registry *reg;
	struct reg_entry *host, *svc, *var;
	struct env *env;
	char *v = NULL;

	unsetenv("NUM_WORKERS");
	setenv("TICK_MIN", "100ms", 1);
	reg = load("mass-spawn", &err);
	ok(reg != NULL, "mass-spawn loads (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		return;
	host = reg_find(reg, "app:processes");
	svc = reg_find(reg, "app:spawner");
	var = reg_find(reg, "app:num_workers");
	ok(host && host->u.host.workers == 32, "host: 32 workers");
	ok(svc && svc->u.service.process == reg_find(reg, "app:spawner_process"),
	   "spawner process resolved");
	ok(svc && svc->lifecycle.restart.initial_delay == SEC / 2 &&
	   svc->lifecycle.restart.max_delay == 30 * SEC &&
	   svc->lifecycle.restart.max_attempts == 10, "restart block parsed");
	ok(var && var->k == REG_K_ENV_VARIABLE && !strcmp(var->u.var.variable, "NUM_WORKERS") &&
	   var->u.var.storage == reg_find(reg, "app:os_env") &&
	   !strcmp(var->u.var.def, "10000") && !var->u.var.readonly, "env.variable decoded");
	env = env_create(reg);
	ok(env_get(env, "NUM_WORKERS", &v) == 0 && !strcmp(v, "10000"),
	   "NUM_WORKERS falls back to its default");
	free(v);
	ok(env_get(env, "app:tick_min", &v) == 0 && !strcmp(v, "100ms"),
	   "TICK_MIN from the OS environment, looked up by id");
	free(v);
	ok(env_set(env, "TICK_MIN", "1s") == ENV_PERMISSION_DENIED,
	   "os storage is read-only");
	env_destroy(env);
	unsetenv("TICK_MIN");
	reg_free(reg);
}

static void test_http_spawn(void)
{
	struct reg_error err = { 0 };
	struct registry *reg = load("http-spawn", &err);
	struct reg_entry *gw, *rt, *ep, *fn;

	ok(reg != NULL, "http-spawn loads (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		return;
	gw = reg_find(reg, "app:gateway");
	rt = reg_find(reg, "app:router");
	ep = reg_find(reg, "app:submit_task.endpoint");
	fn = reg_find(reg, "app:submit_task");
	ok(gw && !strcmp(gw->u.http.addr, ":8080") && gw->u.http.read_timeout == 5 * SEC &&
	   gw->u.http.write_timeout == 30 * SEC && gw->u.http.idle_timeout == 60 * SEC,
	   "http.service addr and timeouts");
	ok(gw && gw->lifecycle.auto_start, "gateway auto_start");
	ok(rt && rt->u.router.server == gw && !strcmp(rt->u.router.prefix, "/api"),
	   "router: meta.server resolved, prefix /api");
	ok(rt && !strcmp(reg_value_str(rt->meta, "server"), "app:gateway"), "router meta readable");
	ok(ep && ep->u.endpoint.router == rt && ep->u.endpoint.func == fn &&
	   !strcmp(ep->u.endpoint.method, "POST") && !strcmp(ep->u.endpoint.path, "/tasks"),
	   "endpoint: router, bare func name resolved, POST /tasks");
	ok(fn && fn->k == REG_K_FUNCTION_LUA && !strcmp(fn->u.lua.method, "handler") &&
	   ends_with(fn->u.lua.source, "/http-spawn/handler.lua"), "function.lua decoded");
	reg_free(reg);
}

static void test_mixed(void)
{
	struct reg_error err = { 0 };
	struct registry *reg = load("good-mixed", &err);
	struct reg_entry *gw, *h1, *h2, *st, *fn, *ep, *cli, *other;
	struct reg_value *vals;
	struct reg_lifecycle *lc;

	ok(reg != NULL, "good-mixed loads (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		return;
	ok(reg_count(reg) == 15, "15 entries (README.txt and .hidden/ skipped)");
	gw = reg_find(reg, "app.api.v1:gateway");
	h1 = reg_find(reg, "app:processes");
	h2 = reg_find(reg, "app:other_host");
	ok(h2 && h2->u.host.workers == 2,
	   "alias *hostcfg copied the anchored mapping");
	lc = gw ? &gw->lifecycle : NULL;
	ok(lc && lc->stop_timeout == SEC / 4 && lc->stable_threshold == 3 * SEC / 2,
	   "lifecycle durations 250ms 1.5s");
	ok(lc && lc->nrequires == 2 && lc->requires[0] == h1 && lc->requires[1] == h2,
	   "requires + depends_on merged without duplicates");
	ok(lc && lc->restart.initial_delay == 2 * SEC && lc->restart.max_delay == 3600 * SEC &&
	   lc->restart.backoff_factor == 1.5 && lc->restart.jitter == 0.25 &&
	   lc->restart.max_attempts == 7, "restart fields");
	ok(gw && !strcmp(reg_value_str(gw->data, "lifecycle.security.actor.id"), "svc"),
	   "security readable from the raw tree");
	st = reg_find(reg, "app:settings");
	vals = st ? reg_value_get(st->data, "values") : NULL;
	ok(vals && vals->type == REG_SEQ && vals->n == 8, "free data sequence");
	ok(vals && vals->items[0]->type == REG_INT && vals->items[0]->i == 1 &&
	   vals->items[1]->type == REG_FLOAT && vals->items[1]->f == 2.5 &&
	   vals->items[2]->type == REG_BOOL && vals->items[2]->b &&
	   vals->items[3]->type == REG_NULL && vals->items[4]->type == REG_STR &&
	   vals->items[5]->type == REG_INT && vals->items[5]->i == 31 &&
	   vals->items[6]->type == REG_NULL &&
	   vals->items[7]->type == REG_FLOAT && isinf(vals->items[7]->f),
	   "scalars typed by the YAML core schema");
	ok(st && !strcmp(reg_value_str(st->data, "nested.a.b.1.c"), "deep"),
	   "deep dotted path");
	ok(st && !strcmp(reg_value_str(st->meta, "cors.allow.origins"), "*") &&
	   !strcmp(reg_value_str(st->meta, "type"), "config"), "keys containing dots");
	ok(st && reg_value_int(st->data, "values.0", -1) == 1 &&
	   reg_value_int(st->data, "values.4", -1) == -1 &&
	   reg_value_bool(st->data, "values.2", false) &&
	   reg_value_get(st->data, "values.9") == NULL &&
	   !strcmp(reg_value_text(st->data, "values.1"), "2.5"), "typed accessors");
	ok(reg_find(reg, "app:assets") && reg_find(reg, "app:assets")->k == REG_K_HTTP_STATIC &&
	   !strcmp(reg_find(reg, "app:assets")->u.hstatic.path, "/assets") &&
	   ends_with(reg_find(reg, "app:assets")->u.hstatic.root, "/public") &&
	   !strcmp(reg_find(reg, "app:assets")->u.hstatic.cache, "public, max-age=60") &&
	   reg_find(reg, "app:compiled") && reg_find(reg, "app:db") &&
	   reg_find(reg, "app:policy") && reg_find(reg, "app:store"),
	   "other kinds pass through as generic entries");
	fn = reg_find(reg, "app.api.v1:get_user");
	ok(fn && fn->u.lua.nimports == 2 && !strcmp(fn->u.lua.imports[0].name, "helpers") &&
	   fn->u.lua.imports[0].entry == reg_find(reg, "app.api.v1:helpers") &&
	   fn->u.lua.imports[1].entry == fn->u.lua.imports[0].entry,
	   "imports resolved (bare and full id)");
	ok(fn && ends_with(fn->u.lua.source, "/good-mixed/api/v1/handler.lua"),
	   "file://./sub/../handler.lua normalised inside the root");
	ok(reg_find(reg, "app.api.v1:helpers")->u.lua.method == NULL, "library.lua has no method");
	ep = reg_find(reg, "app.api.v1:get_user.endpoint");
	ok(ep && !strcmp(ep->u.endpoint.path, "/users/{id}/files/{rest...}") &&
	   ep->u.endpoint.router == reg_find(reg, "app.api.v1:router"),
	   "endpoint with {param} and trailing {rest...}");
	ok(reg_find(reg, "app.api.v1:router")->u.router.server == gw &&
	   !strcmp(reg_find(reg, "app.api.v1:router")->u.router.prefix, ""),
	   "bare meta.server resolves in the router's namespace");
	cli = reg_find(reg, "app.single:cli");
	ok(cli && cli->k == REG_K_TERMINAL_HOST &&
	   reg_value_bool(cli->data, "hide_logs", false) &&
	   cli->line == 1 && cli->col == 1, "top-level name+kind file");
	other = reg_next(reg, cli);
	ok(other == gw, "file order: api/single.yaml before api/v1/handlers.yml");
	reg_free(reg);
}

static void test_interp(void)
{
	struct reg_error err = { 0 };
	struct registry *reg = load("interp", &err);
	struct reg_entry *cfg, *gw, *host;
	struct reg_value *d, *v;

	ok(reg != NULL, "interp loads (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		return;
	gw = reg_find(reg, "app:gateway");
	host = reg_find(reg, "app:processes");
	cfg = reg_find(reg, "app:cfg");
	d = cfg ? cfg->data : NULL;
	ok(gw && !strcmp(gw->u.http.addr, ":9090"), "${env:HTTP_ADDR} in a typed field");
	ok(host && host->u.host.workers == 6, "plain ${env:WORKERS} retyped to int 6");
	v = reg_value_get(d, "quoted_num");
	ok(v && v->type == REG_STR && !strcmp(v->str, "6"), "quoted interpolation stays a string");
	ok(!strcmp(reg_value_str(cfg->meta, "title"), "port :9090"), "meta interpolated, lookup by id");
	ok(reg_value_int(d, "by_id", 0) == 6, "${env:app:workers_var} by entry id");
	ok(!strcmp(reg_value_str(d, "var_default"), "fallback"), "variable default applies");
	ok(!strcmp(reg_value_str(d, "interp_default"), "dflt"), "${env:X|dflt}");
	ok(!strcmp(reg_value_str(d, "upper"), "up"), "${NAME|default} upper-snake form");
	ok(reg_value_int(d, "upper_set", 0) == 6, "${WORKERS|0} uses the value when set");
	ok(!strcmp(reg_value_str(d, "escaped"), "${env:HTTP_ADDR}"), "$${ escapes");
	ok(!strcmp(reg_value_str(d, "mixed"), "a-6-b-${x}-c"), "mixed text, expansion and escape");
	ok(!strcmp(reg_value_str(d, "untouched"), "${lower}"), "${lower} left as written");
	ok(!strcmp(reg_value_str(d, "lower_no_env"), "${lower|x}"), "${lower|x} left as written");
	ok(reg_value_str(d, "empty_default") && !strcmp(reg_value_str(d, "empty_default"), ""),
	   "empty default");
	ok(!strcmp(reg_value_str(d, "list.0"), ":9090") &&
	   !strcmp(reg_value_str(d, "list.1"), "${keep}"), "inside sequences");
	reg_free(reg);
}

static void test_errors(void)
{
	EXPECT("bad-syntax", 1, "bad-syntax/_index.yaml:5:13: YAML syntax error");
	EXPECT("bad-indent", 1, "bad-indent/_index.yaml:5:4: YAML syntax error");
	EXPECT("bad-type", 1, "bad-type/_index.yaml:6:16: app:processes: field \"host.workers\"",
	       "\"many\"");
	EXPECT("bad-workers-zero", 1, "_index.yaml:5:21: app:processes:", "> 0, got \"0\"");
	EXPECT("bad-kind", 1, "_index.yaml:4:11: app:thing: unknown kind \"process.lua.fancy\"");
	EXPECT("bad-missing-method", 1, "_index.yaml:3:5: app:worker: missing required field \"method\"");
	EXPECT("bad-missing-ref", 1,
	       "_index.yaml:7:14: app:svc: process: reference to missing entry \"app:relay\"");
	EXPECT("bad-wrong-kind", 1,
	       "_index.yaml:10:11: app:svc: host: \"app:relay\" is a process.lua, expected process.host");
	EXPECT("bad-missing-source", 1,
	       "_index.yaml:5:13: app:worker: missing source file \"file://nope.lua\"");
	EXPECT("bad-duplicate", 1, "sub/b.yaml:1:1: app:processes: duplicate entry id \"app:processes\"",
	       "first defined at ", "bad-duplicate/a.yaml:3:5");
	EXPECT("bad-escape/src", 1, "_index.yaml:5:13: app:worker: source \"file://../outside.lua\" "
	       "escapes the source directory");
	EXPECT("bad-router-meta", 1, "_index.yaml:6:5: app:api: missing metadata: server");
	EXPECT("bad-endpoint", 5, "app:fetch.endpoint: field \"method\" must be one of", "\"FETCH\"",
	       "_index.yaml:23:11: app:relpath.endpoint: path \"users/{id}\": must start with '/'",
	       "app:wild.endpoint: path \"/files/{rest...}/meta\": a {name...} wildcard must be the last",
	       "app:noroute.endpoint: missing metadata: router",
	       "app:noroute.endpoint: func: \"app:gateway\" is a http.service, expected function.lua");
	EXPECT("bad-env-unset", 1, "_index.yaml:11:12: app:gateway: ${env:WIPPY_TEST_SURELY_UNSET_VAR}: "
	       "env variable \"WIPPY_TEST_SURELY_UNSET_VAR\" is not set and has no default");
	EXPECT("bad-cycle", 1, "dependency cycle: app:a -> app:b -> app:c -> app:a");
	EXPECT("bad-variable", 3, "_index.yaml:11:15: app:two: variable name \"PORT\" is already used by app:one",
	       "app:three: variable name \"BAD-NAME\"",
	       "app:four: storage: reference to missing entry \"app:nowhere\"");
	EXPECT("bad-duration", 6, "_index.yaml:6:22: app:gateway: field \"timeouts.read\" must be a duration",
	       "\"10 seconds\"", "lifecycle.start_timeout", "got \"5\"", "\"-3s\"",
	       "backoff_factor\" must be a non-negative number, got \"fast\"",
	       "max_attempts\" must be an integer >= 0, got \"-1\"",
	       "lifecycle.startup\" must be \"required\" or \"optional\", got \"maybe\"");
	EXPECT("bad-modules", 4, "_index.yaml:14:22: app:worker: modules: module name \"app:time\" "
	       "must not contain a namespace", "a module name must be a string, got \"7\"",
	       "imports: \"app:notlib\" is a process.lua, expected library.lua",
	       "imports: reference to missing entry \"app.x:ghost\"");
	EXPECT("bad-namespace", 1, "bad-namespace/_index.yaml:1:1: missing required field \"namespace\"");
	EXPECT("bad-source-url", 1, "app:worker: source must be a file:// URL", "\"worker.lua\"");
	EXPECT("bad-many", 4, "_index.yaml:7:5: entry in namespace app: missing required field \"name\"",
	       "app:a: unknown kind \"nope.one\"", "app:b: unknown kind \"nope.two\"",
	       "app:c: field \"host.queue_size\"");
	EXPECT("does-not-exist", 1, "does-not-exist: cannot open source directory");
}

/* Trees written at run time: absolute file:// paths, the error cap. */
static void test_generated(void)
{
	char dir[] = "/tmp/wippy-reg-XXXXXX", path[PATH_MAX], src[PATH_MAX + 32];
	struct reg_error err = { 0 };
	struct registry *reg;
	FILE *f;
	int i;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(src, sizeof(src), "%s/src", dir);
	mkdir(src, 0755);
	snprintf(path, sizeof(path), "%s/abs.lua", dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/src/a.yaml", dir);
	f = fopen(path, "w");
	fprintf(f, "namespace: app\nentries:\n  - name: w\n    kind: process.lua\n"
		"    source: file://%s/abs.lua\n    method: main\n", dir);
	fclose(f);
	reg = load_dir(src, &err);
	ok(reg && reg_find(reg, "app:w") &&
	   !strncmp(reg_find(reg, "app:w")->u.lua.source, dir, strlen(dir)),
	   "file:///abs accepted outside the source root");
	reg_free(reg);
	reg_error_free(&err);

	f = fopen(path, "w");
	fprintf(f, "namespace: app\nentries:\n");
	for (i = 0; i < REG_ERROR_MAX + 50; i++)
		fprintf(f, "  - {name: e%d, kind: no.such.kind}\n", i);
	fclose(f);
	reg = load_dir(src, &err);
	ok(reg == NULL && err.count == REG_ERROR_MAX + 50, "all %d errors counted (%d)",
	   REG_ERROR_MAX + 50, err.count);
	ok(has(err.msg, "... and 50 more errors"), "message capped with a summary line");
	ok(has(err.msg, "app:e0: unknown kind") && !has(err.msg, "app:e149:"),
	   "first errors kept, the rest summarised");
	reg_error_free(&err);
	ok(err.msg == NULL && err.count == 0, "reg_error_free zeroes");

	/* A name quoted from the YAML with newlines in it stays on its error's
	** one line: each line of the message starts with its position. */
	f = fopen(path, "w");
	fprintf(f, "namespace: app\nentries:\n  - {name: bad\n\n    name, kind: no.such.kind}\n");
	fclose(f);
	reg = load_dir(src, &err);
	{
		int lines_ok = reg == NULL && err.msg != NULL;
		for (const char *l = err.msg; lines_ok && l && *l; ) {
			const char *nl = strchr(l, '\n');
			lines_ok = strncmp(l, path, strlen(path)) == 0 || strncmp(l, "...", 3) == 0;
			l = nl ? nl + 1 : NULL;
		}
		ok(lines_ok && has(err.msg, "\\n"), "a newline inside a quoted name is escaped: %s",
		   err.msg ? err.msg : "(none)");
	}
	reg_error_free(&err);
	unlink(path);

	/* wippy.lock round trip, defaults, and failures. */
	snprintf(path, sizeof(path), "%s/wippy.lock", dir);
	{
		char *s = NULL, *m = NULL;

		ok(reg_lock_write(path, "./my src", ".wippy") == 0, "lock written");
		ok(reg_lock_read(path, &s, &m) == 0 && s && !strcmp(s, "./my src") &&
		   m && !strcmp(m, ".wippy"), "lock read back");
		free(s);
		free(m);
		f = fopen(path, "w");
		fprintf(f, "directories:\n  modules: mods\n");
		fclose(f);
		s = m = NULL;
		ok(reg_lock_read(path, &s, &m) == 0 && !strcmp(s, "./src") &&
		   !strcmp(m, "mods"), "missing src defaults to ./src");
		free(s);
		free(m);
		f = fopen(path, "w");
		fprintf(f, "directories: [a, b]\n");
		fclose(f);
		ok(reg_lock_read(path, &s, &m) == -EINVAL, "malformed lock is -EINVAL");
		f = fopen(path, "w");
		fprintf(f, "directories: {src: [\n");
		fclose(f);
		ok(reg_lock_read(path, &s, &m) == -EINVAL, "unparsable lock is -EINVAL");
		unlink(path);
		ok(reg_lock_read(path, &s, &m) == -ENOENT, "missing lock is -ENOENT");
		snprintf(path, sizeof(path), "%s/no/such/dir/wippy.lock", dir);
		ok(reg_lock_write(path, "a", "b") == -ENOENT, "unwritable lock is -ENOENT");
	}
	snprintf(path, sizeof(path), "%s/abs.lua", dir);
	unlink(path);
	rmdir(src);
	rmdir(dir);
}

/* Write text to dir/name. */
static void put(const char *dir, const char *name, const void *text, size_t len)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fwrite(text, 1, len, f);
	fclose(f);
}

#define PUTS(dir, name, text) put(dir, name, text, strlen(text))

static int provides_time(const char *name) { return !strcmp(name, "time"); }

/* Warnings: documented kinds this runtime ignores, and modules: names
 * the sandbox does not provide; unknown kinds stay errors. */
static void test_warnings(void)
{
	char dir[] = "/tmp/wippy-regw-XXXXXX";
	struct reg_error err = { 0 }, mods;
	const struct reg_error *w;
	struct registry *reg;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	PUTS(dir, "m.lua", "return {main = function() end}\n");
	PUTS(dir, "a.yaml", "namespace: app\nentries:\n"
	     "  - {name: tok, kind: config.gcp}\n"
	     "  - {name: aws, kind: config.aws}\n"
	     "  - {name: s3, kind: cloudstorage.s3}\n"
	     "  - {name: cdc, kind: db.cdc.postgres}\n"
	     "  - {name: net, kind: network}\n"
	     "  - name: p\n    kind: process.lua\n    source: file://m.lua\n"
	     "    method: main\n    modules: [time, sql, helper]\n"
	     "    imports: {helper: app:lib}\n"
	     "  - {name: lib, kind: library.lua, source: file://m.lua, modules: [ctx]}\n");
	reg = load_dir(dir, &err);
	ok(reg != NULL && err.count == 0, "documented kinds load (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		goto out;
	w = reg_warnings(reg);
	ok(w->count == 5, "one warning per ignored entry (%d)", w->count);
	ok(has(w->msg, "a.yaml:3:23: app:tok: kind \"config.gcp\" is not "
	       "supported by this runtime; entry ignored"), "warning names file:line:col, id, kind");
	ok(has(w->msg, "app:aws: kind \"config.aws\"") && has(w->msg, "app:s3: kind \"cloudstorage.s3\"") &&
	   has(w->msg, "app:cdc: kind \"db.cdc.postgres\"") && has(w->msg, "app:net: kind \"network\""),
	   "config.aws, cloudstorage.s3, db.cdc.postgres, network warned");
	ok(!has(w->msg, "app:p:") && !has(w->msg, "app:lib:"), "typed kinds are not warned");
	ok(reg_check_modules(reg, provides_time, &mods) == 2, "two modules not provided (%d)", mods.count);
	ok(has(mods.msg, "a.yaml:12:21: app:p: module \"sql\" is not provided by this runtime; "
	       "require(\"sql\") will fail"), "module warning at the list item");
	ok(has(mods.msg, "app:lib: module \"ctx\"") && !has(mods.msg, "\"time\"") &&
	   !has(mods.msg, "\"helper\""), "provided and imported names are not reported");
	reg_error_free(&mods);
	reg_free(reg);

	PUTS(dir, "a.yaml", "namespace: app\nentries:\n  - {name: x, kind: network.bogus.thing}\n");
	reg = load_dir(dir, &err);
	ok(reg != NULL, "network.* is a documented prefix");
	reg_free(reg);
	PUTS(dir, "a.yaml", "namespace: app\nentries:\n  - {name: y, kind: netwrk}\n");
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "app:y: unknown kind \"netwrk\""), "a near miss is still an error");
	reg_error_free(&err);
out:
	unlink(strcat(strcpy((char[PATH_MAX]){0}, dir), "/a.yaml"));
	unlink(strcat(strcpy((char[PATH_MAX]){0}, dir), "/m.lua"));
	rmdir(dir);
}

/* process.lua.bc: fs.directory + path + sha256 hash; Lua 5.4 bytecode
 * only; go-lua bytecode and bad hashes are load errors that say so. */
static void test_bytecode(void)
{
	char dir[] = "/tmp/wippy-regb-XXXXXX", yaml[PATH_MAX + 4096], hex[65], bc[PATH_MAX + 8];
	static const unsigned char lua54[] = "\x1bLua\x54\x00 rest of a chunk";
	static const unsigned char golua[] = "CAUL\x02\x00\x00";
	static const unsigned char lua53[] = "\x1bLua\x53\x00";
	struct reg_error err = { 0 };
	struct registry *reg;
	struct reg_entry *e;

	sha256_hex("abc", 3, hex);
	ok(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	   "sha256(\"abc\")");
	sha256_hex("", 0, hex);
	ok(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	   "sha256 of nothing");
	{
		char m[112];
		memset(m, 'a', sizeof(m));
		sha256_hex(m, 56, hex);	/* padding spills into a second block */
		ok(!strcmp(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
		   "sha256 of 56 bytes");
	}
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(bc, sizeof(bc), "%s/bc", dir);
	mkdir(bc, 0755);
#define BCYAML(file, hash) snprintf(yaml, sizeof(yaml), "namespace: app\nentries:\n" \
	"  - {name: code, kind: fs.directory, directory: %s}\n" \
	"  - {name: p, kind: process.lua.bc, fs: code, path: %s, hash: \"%s\", method: main," \
	" modules: [time]}\n" \
	"  - {name: svc, kind: process.service, process: p, host: h}\n" \
	"  - {name: h, kind: process.host}\n", bc, file, hash)

	put(bc, "ok.luac", lua54, sizeof(lua54) - 1);
	sha256_hex(lua54, sizeof(lua54) - 1, hex);
	{
		char h[80];
		snprintf(h, sizeof(h), "sha256:%s", hex);
		BCYAML("ok.luac", h);
	}
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg != NULL, "process.lua.bc loads (%s)", err.msg ? err.msg : "");
	e = reg ? reg_find(reg, "app:p") : NULL;
	ok(e && e->k == REG_K_PROCESS_LUA_BC && reg_kind_is_lua(e->k) && reg_kind_is_process(e->k) &&
	   ends_with(e->u.lua.source, "/bc/ok.luac") && !strcmp(e->u.lua.method, "main") &&
	   e->u.lua.nmodules == 1, "decoded like process.lua, source is the bytecode file");
	ok(reg && reg_find(reg, "app:svc")->u.service.process == e, "a service may run it");
	ok(reg && reg_warnings(reg)->count == 0, "its fs.directory is not warned as ignored");
	reg_free(reg);

	BCYAML("ok.luac", "sha256:0000000000000000000000000000000000000000000000000000000000000000");
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "app:p: hash mismatch for ok.luac: the file is sha256:"),
	   "wrong hash is an error naming the real one");
	reg_error_free(&err);
	BCYAML("ok.luac", "md5:abc");
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "hash must be \"sha256:"), "other hash algorithms refused");
	reg_error_free(&err);

	put(bc, "go.luac", golua, sizeof(golua) - 1);
	sha256_hex(golua, sizeof(golua) - 1, hex);
	{
		char h[80];
		snprintf(h, sizeof(h), "sha256:%s", hex);
		BCYAML("go.luac", h);
	}
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "go.luac is go-lua bytecode"), "go-lua bytecode refused clearly");
	reg_error_free(&err);

	put(bc, "53.luac", lua53, sizeof(lua53) - 1);
	sha256_hex(lua53, sizeof(lua53) - 1, hex);
	{
		char h[80];
		snprintf(h, sizeof(h), "sha256:%s", hex);
		BCYAML("53.luac", h);
	}
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "bytecode of Lua 5.3"), "other Lua versions refused");
	reg_error_free(&err);

	BCYAML("../a.yaml", "sha256:00");
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "must stay inside the directory of app:code"),
	   "path may not leave the fs directory");
	reg_error_free(&err);
	BCYAML("none.luac", "sha256:00");
	PUTS(dir, "a.yaml", yaml);
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "cannot read bytecode \"none.luac\""), "missing file");
	reg_error_free(&err);

	PUTS(dir, "a.yaml", "namespace: app\nentries:\n"
	     "  - {name: p, kind: process.lua.bc, fs: nope, path: x, hash: h, method: main}\n"
	     "  - {name: q, kind: process.lua.bc, path: x, hash: h}\n");
	reg = load_dir(dir, &err);
	ok(reg == NULL && has(err.msg, "fs \"nope\" must name an fs.directory entry (no such entry)") &&
	   has(err.msg, "app:q: missing required field \"fs\"") &&
	   has(err.msg, "app:q: missing required field \"method\""), "missing fs, method");
	reg_error_free(&err);

	unlink(strcat(strcpy((char[PATH_MAX]){0}, bc), "/ok.luac"));
	unlink(strcat(strcpy((char[PATH_MAX]){0}, bc), "/go.luac"));
	unlink(strcat(strcpy((char[PATH_MAX]){0}, bc), "/53.luac"));
	unlink(strcat(strcpy((char[PATH_MAX]){0}, dir), "/a.yaml"));
	rmdir(bc);
	rmdir(dir);
}

int main(void)
{
	find_fixtures();
	test_echo();
	test_mass_spawn();
	test_http_spawn();
	test_mixed();
	test_interp();
	test_errors();
	test_generated();
	test_warnings();
	test_bytecode();
	return tap_done();
}
