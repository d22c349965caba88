/*
** test/unit/runtime/env.c: env storages and variables built from a
** registry written to a temporary directory (so the file storage has a
** private path): lookups by public name and by entry id, defaults, the
** three error kinds, read-only storages and variables, memory and file
** writes, router order, get_all, and concurrent get/set from threads (run
** this one under -fsanitize=thread too).
*/
#include "runtime/env.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/registry.h"
#include "tap.h"

static char dir[] = "/tmp/wippy-env-XXXXXX";
static char envfile[PATH_MAX];

static const char yaml[] =
	"namespace: app\n"
	"entries:\n"
	"  - {name: os, kind: env.storage.os}\n"
	"  - {name: mem, kind: env.storage.memory}\n"
	"  - name: stat\n"
	"    kind: env.storage.static\n"
	"    values: {GREETING: hello, NUM: 42, SHARED: from_static}\n"
	"  - name: file\n"
	"    kind: env.storage.file\n"
	"    file_path: \"%s\"\n"
	"    auto_create: true\n"
	"    file_mode: 0600\n"
	"  - {name: mem_first, kind: env.storage.router, storages: [mem, stat]}\n"
	"  - {name: stat_first, kind: env.storage.router, storages: [stat, mem]}\n"
	"  - {name: os_var, kind: env.variable, variable: WIPPY_T_OS, storage: os}\n"
	"  - {name: os_dflt, kind: env.variable, variable: WIPPY_T_UNSET, storage: os, default: d1}\n"
	"  - {name: os_none, kind: env.variable, variable: WIPPY_T_NONE, storage: os}\n"
	"  - {name: greeting, kind: env.variable, variable: GREETING, storage: stat}\n"
	"  - {name: num, kind: env.variable, variable: NUM, storage: stat}\n"
	"  - {name: counter, kind: env.variable, variable: COUNTER, storage: mem}\n"
	"  - {name: frozen, kind: env.variable, variable: FROZEN, storage: mem, default: ice, readonly: true}\n"
	"  - {name: nameless, kind: env.variable, storage: mem, default: anon}\n"
	"  - {name: token, kind: env.variable, variable: TOKEN, storage: file}\n"
	"  - {name: shared, kind: env.variable, variable: SHARED, storage: mem_first}\n"
	"  - {name: shared2, kind: env.variable, variable: SHARED2, storage: stat_first, default: x}\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* env_get into a static buffer for terse checks; rc through *rcp. */
static const char *get(struct env *env, const char *key, int *rcp)
{
	static char buf[256];
	char *v = NULL;
	int rc = env_get(env, key, &v);

	if (rcp)
		*rcp = rc;
	if (rc != 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", v);
	free(v);
	return buf;
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

struct seen {
	int n;
	bool greeting, nameless_by_id, frozen;
};

static int collect(void *ud, const char *key, const char *value)
{
	struct seen *s = ud;

	s->n++;
	s->greeting |= !strcmp(key, "GREETING") && !strcmp(value, "hello");
	s->nameless_by_id |= !strcmp(key, "app:nameless") && !strcmp(value, "named");
	s->frozen |= !strcmp(key, "FROZEN");
	return 0;
}

static int stop_at_two(void *ud, const char *key, const char *value)
{
	(void)key;
	(void)value;
	return ++*(int *)ud == 2 ? 7 : 0;
}

/* Threads hammer one memory variable; every value read must be whole. */
static void *worker(void *arg)
{
	struct env *env = arg;
	char val[32], *v;
	int i, bad = 0;

	for (i = 0; i < 2000; i++) {
		snprintf(val, sizeof(val), "v%d", i);
		if (env_set(env, "COUNTER", val) != 0)
			bad++;
		if (env_get(env, "COUNTER", &v) != 0 || v[0] != 'v')
			bad++;
		free(v);
	}
	return (void *)(long)bad;
}

int main(void)
{
	char path[PATH_MAX + 16], text[8192], *v;
	struct reg_error err = { 0 };
	struct registry *reg;
	struct env *env;
	struct seen seen = { 0 };
	struct stat st;
	pthread_t th[4];
	long bad = 0;
	int rc, i, calls = 0;

	if (mkdtemp(dir) == NULL)
		tap_skip("mkdtemp failed");
	snprintf(envfile, sizeof(envfile), "%s/conf/app.env", dir);
	snprintf(path, sizeof(path), "%s/src", dir);
	mkdir(path, 0755);
	snprintf(text, sizeof(text), yaml, envfile);
	snprintf(path, sizeof(path), "%s/src/_index.yaml", dir);
	write_file(path, text);
	setenv("WIPPY_T_OS", "from_os", 1);
	unsetenv("WIPPY_T_UNSET");
	unsetenv("WIPPY_T_NONE");

	snprintf(path, sizeof(path), "%s/src", dir);
	env_load(path, &reg, &env, &err);
	ok(reg != NULL, "registry loads (%s)", err.msg ? err.msg : "");
	if (reg == NULL)
		return tap_done();

	/* os storage */
	ok(is(get(env, "WIPPY_T_OS", NULL), "from_os"), "os value by variable name");
	ok(is(get(env, "app:os_var", NULL), "from_os"), "os value by entry id");
	ok(is(get(env, "WIPPY_T_UNSET", NULL), "d1"), "default when the storage lacks it");
	ok(get(env, "WIPPY_T_NONE", &rc) == NULL && rc == ENV_NOT_FOUND,
	   "unset without default is NOT_FOUND");
	ok(env_set(env, "WIPPY_T_OS", "x") == ENV_PERMISSION_DENIED,
	   "os storage set is PERMISSION_DENIED");
	ok(is(getenv("WIPPY_T_OS"), "from_os"), "process environment untouched");

	/* errors */
	ok(get(env, "", &rc) == NULL && rc == ENV_INVALID, "empty key is INVALID");
	ok(env_get(env, NULL, &v) == ENV_INVALID, "NULL key is INVALID");
	ok(get(env, "NO_SUCH", &rc) == NULL && rc == ENV_NOT_FOUND, "unknown key is NOT_FOUND");
	ok(get(env, "PATH", &rc) == NULL && rc == ENV_NOT_FOUND,
	   "raw OS names are not variables");
	ok(env_set(env, "NO_SUCH", "1") == ENV_NOT_FOUND, "set of unknown key is NOT_FOUND");
	ok(env_set(env, "", "1") == ENV_INVALID && env_set(env, "COUNTER", NULL) == ENV_INVALID,
	   "set with empty key or NULL value is INVALID");
	ok(!strcmp(env_strerror(ENV_NOT_FOUND), "NOT_FOUND") &&
	   !strcmp(env_strerror(ENV_INVALID), "INVALID") &&
	   !strcmp(env_strerror(ENV_PERMISSION_DENIED), "PERMISSION_DENIED"),
	   "env_strerror names");

	/* static storage */
	ok(is(get(env, "GREETING", NULL), "hello"), "static value");
	ok(is(get(env, "app:num", NULL), "42"), "static int value as text, by id");
	ok(env_set(env, "GREETING", "bye") == ENV_PERMISSION_DENIED, "static is read-only");

	/* memory storage, readonly variable, nameless variable */
	ok(get(env, "COUNTER", &rc) == NULL && rc == ENV_NOT_FOUND, "memory starts empty");
	ok(env_set(env, "COUNTER", "1") == 0 && is(get(env, "COUNTER", NULL), "1"),
	   "memory set then get");
	ok(env_set(env, "app:counter", "2") == 0 && is(get(env, "COUNTER", NULL), "2"),
	   "set by id overwrites");
	ok(is(get(env, "FROZEN", NULL), "ice") &&
	   env_set(env, "FROZEN", "water") == ENV_PERMISSION_DENIED &&
	   is(get(env, "FROZEN", NULL), "ice"), "readonly variable refuses set");
	ok(is(get(env, "app:nameless", NULL), "anon") &&
	   get(env, "nameless", &rc) == NULL && rc == ENV_NOT_FOUND,
	   "variable without a public name only by id");
	ok(env_set(env, "app:nameless", "named") == 0 && is(get(env, "app:nameless", NULL), "named"),
	   "nameless variable stores under its entry name");

	/* router: reads take the first hit, writes go to the first storage */
	ok(is(get(env, "SHARED", NULL), "from_static"), "router falls through to static");
	ok(env_set(env, "SHARED", "from_mem") == 0 && is(get(env, "SHARED", NULL), "from_mem"),
	   "router write lands in mem, which now wins");
	ok(is(get(env, "SHARED2", NULL), "x"), "router miss uses the default");
	ok(env_set(env, "SHARED2", "y") == ENV_PERMISSION_DENIED,
	   "router whose first storage is static refuses writes");

	/* file storage: created by auto_create with its mode, then written */
	ok(stat(envfile, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "auto_create made %s with mode 0600", envfile);
	ok(get(env, "TOKEN", &rc) == NULL && rc == ENV_NOT_FOUND, "empty file: NOT_FOUND");
	ok(env_set(env, "TOKEN", "abc") == 0 && is(get(env, "TOKEN", NULL), "abc"),
	   "file set then get");
	ok(env_set(env, "TOKEN", "def") == 0 && is(slurp(envfile), "TOKEN=def\n"),
	   "second set rewrites the same line");
	write_file(envfile, "# comment\nexport TOKEN = \"quoted\"\nOTHER=1\n");
	ok(is(get(env, "TOKEN", NULL), "quoted"), "edits outside the runtime are seen; "
	   "export, spaces and quotes handled");
	ok(env_set(env, "TOKEN", "z") == 0 && strstr(slurp(envfile), "OTHER=1\n") &&
	   strstr(slurp(envfile), "TOKEN=z\n"), "set keeps other keys");

	/* get_all */
	ok(env_get_all(env, collect, &seen) == 0 && seen.greeting && seen.nameless_by_id &&
	   seen.frozen, "get_all reports by name, or by id for nameless variables");
	ok(seen.n == 10, "get_all skips variables without a value (%d)", seen.n);
	ok(env_get_all(env, stop_at_two, &calls) == 7 && calls == 2,
	   "a non-zero callback result stops get_all");

	/* threads */
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, env);
	for (i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += (long)r;
	}
	ok(bad == 0, "concurrent get/set from 4 threads");

	env_destroy(env);
	reg_free(reg);
	unlink(envfile);
	snprintf(path, sizeof(path), "%s/conf", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/src/_index.yaml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/src", dir);
	rmdir(path);
	rmdir(dir);
	return tap_done();
}
