/*
** runtime/env.c: env variables and their storages (spec 1.4 "Env system").
**
** An env is built once from the registry and then only its storages'
** contents change: memory storages hold their own key/value list, file
** storages re-read their file on every access (so edits made outside the
** runtime are seen, and there is no cache to invalidate), os and static
** storages are read-only views.
**
** Locking: one mutex per env guards every call. Processes on all shard
** threads may call env_get/env_set, but env access is configuration-rate,
** not message-rate, so a plain mutex is simpler and cheap enough; it also
** serialises getenv() (which must not race a setenv, although we never
** call setenv) and the read-modify-write of file storages.
**
** Variables whose storage key is looked up: the public `variable` name, or
** the entry's name when it has none.
**
** The env depends on the registry (it is built from decoded entries), never
** the other way: the registry reads env values through the struct
** reg_lookup that env_load() hands to reg_decode().
*/
#include "runtime/env.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/common.h"
#include "runtime/registry.h"

/* Routers may nest; this bounds a router cycle (A -> B -> A). */
#define MAX_ROUTER_DEPTH 8

struct kv {
	char *key, *val;
};

struct storage {
	const struct reg_entry *e;
	struct kv *kv;		/* memory storage contents */
	size_t n, cap;
};

struct var {
	const struct reg_entry *e;
	const char *key;	/* storage key */
	struct storage *st;
};

struct env {
	pthread_mutex_t lock;
	struct storage *st;
	size_t nst;
	struct var *vars;
	size_t nvars;
};

static bool is_storage(const struct reg_entry *e)
{
	return e->k >= REG_K_ENV_OS && e->k <= REG_K_ENV_ROUTER;
}

static struct storage *find_storage(struct env *env, const struct reg_entry *e)
{
	size_t i;

	for (i = 0; i < env->nst; i++)
		if (env->st[i].e == e)
			return &env->st[i];
	return NULL;
}

/* {====================================================================
** File storage: KEY=VALUE lines
** ===================================================================== */

/*
** Read the whole file into a malloc'd array of kv pairs. Blank lines and
** lines starting with '#' are skipped; "export KEY=V" is accepted; a value
** wrapped in matching quotes loses them, and blanks around '=' are dropped. Returns the count or -errno.
*/
static ssize_t file_read(const char *path, struct kv **out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *k, *v, *eq;
	size_t lcap = 0, n = 0, cap = 0;
	struct kv *kv = NULL;
	ssize_t len;

	*out = NULL;
	if (f == NULL)
		return -errno;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		k = line + strspn(line, " \t");
		if (*k == '#' || (eq = strchr(k, '=')) == NULL)
			continue;
		if (!strncmp(k, "export ", 7))
			k += 7 + strspn(k + 7, " \t");
		*eq = '\0';
		for (v = eq; v > k && (v[-1] == ' ' || v[-1] == '\t'); v--)
			v[-1] = '\0';
		v = eq + 1 + strspn(eq + 1, " \t");
		len = (ssize_t)strlen(v);
		if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
			v[len - 1] = '\0';
			v++;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			kv = xrealloc(kv, cap * sizeof(*kv));
		}
		kv[n].key = xstrdup(k);
		kv[n++].val = xstrdup(v);
	}
	free(line);
	fclose(f);
	*out = kv;
	return (ssize_t)n;
}

static void kv_free(struct kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].val);
	}
	free(kv);
}

/* mkdir -p of path's parent directory. Returns 0 or -errno. */
static int make_parent(const char *path, int mode)
{
	char *dir = xstrdup(path), *p;
	int rc = 0;

	p = strrchr(dir, '/');
	if (p == NULL || p == dir) {
		free(dir);
		return 0;
	}
	*p = '\0';
	for (p = dir + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char c = *p;

			*p = '\0';
			if (mkdir(dir, (mode_t)mode) != 0 && errno != EEXIST)
				rc = -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(dir);
	return rc;
}

/*
** Set key in the file: rewrite it through a temporary file and rename,
** so a reader never sees half a file. Returns 0 or -errno.
*/
static int file_set(const struct reg_env_storage *cfg, const char *key,
		    const char *val)
{
	struct kv *kv;
	ssize_t n = file_read(cfg->file_path, &kv);
	char *tmp;
	FILE *f;
	int fd, rc = 0;
	bool done = false;
	ssize_t i;

	if (n == -ENOENT) {	/* the first write creates the file */
		n = 0;
		if (cfg->auto_create &&
		    (rc = make_parent(cfg->file_path, cfg->dir_mode)) < 0)
			return rc;
	}
	if (n < 0)
		return (int)n;
	if (asprintf(&tmp, "%s.tmp.%d", cfg->file_path, (int)getpid()) < 0)
		abort();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, cfg->file_mode);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	for (i = 0; i < n; i++) {
		bool hit = !strcmp(kv[i].key, key);

		if (hit && done)
			continue;	/* keep one line per key */
		fprintf(f, "%s=%s\n", kv[i].key, hit ? val : kv[i].val);
		done |= hit;
	}
	if (!done)
		fprintf(f, "%s=%s\n", key, val);
	if (fflush(f) != 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, cfg->file_path) != 0)
		rc = -errno;
out:
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	kv_free(kv, n > 0 ? (size_t)n : 0);
	return rc;
}

/* }==================================================================== */

/* {====================================================================
** Storage get/set (env lock held)
** ===================================================================== */

static int storage_get(struct env *env, struct storage *st, const char *key,
		       char **out, int depth)
{
	const struct reg_env_storage *cfg = &st->e->u.storage;
	const char *s;
	struct kv *kv;
	ssize_t n, i;
	size_t j;
	int rc;

	switch (st->e->k) {
	case REG_K_ENV_OS:
		if ((s = getenv(key)) == NULL)
			return ENV_NOT_FOUND;
		*out = xstrdup(s);
		return 0;
	case REG_K_ENV_STATIC:
		for (j = 0; cfg->values && j < cfg->values->n; j++) {
			if (!strcmp(cfg->values->keys[j], key) &&
			    cfg->values->items[j]->type != REG_NULL &&
			    cfg->values->items[j]->str) {
				*out = xstrdup(cfg->values->items[j]->str);
				return 0;
			}
		}
		return ENV_NOT_FOUND;
	case REG_K_ENV_MEMORY:
		for (j = 0; j < st->n; j++) {
			if (!strcmp(st->kv[j].key, key)) {
				*out = xstrdup(st->kv[j].val);
				return 0;
			}
		}
		return ENV_NOT_FOUND;
	case REG_K_ENV_FILE:
		if ((n = file_read(cfg->file_path, &kv)) < 0)
			return ENV_NOT_FOUND;	/* no file yet: nothing set */
		rc = ENV_NOT_FOUND;
		for (i = n; i-- > 0;) {		/* the last assignment wins */
			if (!strcmp(kv[i].key, key)) {
				*out = xstrdup(kv[i].val);
				rc = 0;
				break;
			}
		}
		kv_free(kv, (size_t)n);
		return rc;
	case REG_K_ENV_ROUTER:
		if (depth >= MAX_ROUTER_DEPTH)
			return ENV_NOT_FOUND;
		for (j = 0; j < cfg->nstorages; j++) {
			struct storage *sub = find_storage(env, cfg->storages[j]);

			if (sub && storage_get(env, sub, key, out, depth + 1) == 0)
				return 0;
		}
		return ENV_NOT_FOUND;
	default:
		return ENV_NOT_FOUND;	/* cannot happen: only storages here */
	}
}

static int storage_set(struct env *env, struct storage *st, const char *key,
		       const char *val, int depth)
{
	const struct reg_env_storage *cfg = &st->e->u.storage;
	struct storage *sub;
	size_t j;

	switch (st->e->k) {
	case REG_K_ENV_MEMORY:
		for (j = 0; j < st->n; j++) {
			if (!strcmp(st->kv[j].key, key)) {
				free(st->kv[j].val);
				st->kv[j].val = xstrdup(val);
				return 0;
			}
		}
		if (st->n == st->cap) {
			st->cap = st->cap ? st->cap * 2 : 8;
			st->kv = xrealloc(st->kv, st->cap * sizeof(*st->kv));
		}
		st->kv[st->n].key = xstrdup(key);
		st->kv[st->n++].val = xstrdup(val);
		return 0;
	case REG_K_ENV_FILE:
		return file_set(cfg, key, val);
	case REG_K_ENV_ROUTER:
		if (depth >= MAX_ROUTER_DEPTH || cfg->nstorages == 0 ||
		    (sub = find_storage(env, cfg->storages[0])) == NULL)
			return ENV_PERMISSION_DENIED;
		return storage_set(env, sub, key, val, depth + 1);
	default:		/* os, static */
		return ENV_PERMISSION_DENIED;
	}
}

/* Public name first, then entry id: "PORT" and "app:port_var" both work. */
static struct var *find_var(struct env *env, const char *key)
{
	size_t i;

	for (i = 0; i < env->nvars; i++)
		if (env->vars[i].e->u.var.variable &&
		    !strcmp(env->vars[i].e->u.var.variable, key))
			return &env->vars[i];
	for (i = 0; i < env->nvars; i++)
		if (!strcmp(env->vars[i].e->id, key))
			return &env->vars[i];
	return NULL;
}

/* Storage value, else the default. Lock held. */
static int var_get(struct env *env, struct var *v, char **out)
{
	int rc = v->st ? storage_get(env, v->st, v->key, out, 0) : ENV_NOT_FOUND;

	if (rc == ENV_NOT_FOUND && v->e->u.var.def) {
		*out = xstrdup(v->e->u.var.def);
		rc = 0;
	}
	return rc;
}

/* }==================================================================== */

struct env *env_create(const struct registry *reg)
{
	struct env *env = xcalloc(1, sizeof(*env));
	const struct reg_entry *e;
	size_t ns = 0, nv = 0;

	pthread_mutex_init(&env->lock, NULL);
	for (e = reg_next(reg, NULL); e; e = reg_next(reg, e)) {
		ns += is_storage(e);
		nv += e->k == REG_K_ENV_VARIABLE;
	}
	env->st = xcalloc(ns + 1, sizeof(*env->st));
	env->vars = xcalloc(nv + 1, sizeof(*env->vars));
	for (e = reg_next(reg, NULL); e; e = reg_next(reg, e)) {
		const struct reg_env_storage *cfg = &e->u.storage;

		if (!is_storage(e))
			continue;
		env->st[env->nst++].e = e;
		if (e->k == REG_K_ENV_FILE && cfg->auto_create && cfg->file_path &&
		    access(cfg->file_path, F_OK) != 0 &&
		    make_parent(cfg->file_path, cfg->dir_mode) == 0) {
			int fd = open(cfg->file_path, O_WRONLY | O_CREAT | O_EXCL |
				      O_CLOEXEC, cfg->file_mode);
			if (fd >= 0)
				close(fd);
		}
	}
	for (e = reg_next(reg, NULL); e; e = reg_next(reg, e)) {
		struct var *v;

		if (e->k != REG_K_ENV_VARIABLE)
			continue;
		v = &env->vars[env->nvars++];
		v->e = e;
		v->key = e->u.var.variable ? e->u.var.variable : e->name;
		v->st = e->u.var.storage ? find_storage(env, e->u.var.storage) : NULL;
	}
	return env;
}

void env_destroy(struct env *env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; i < env->nst; i++)
		kv_free(env->st[i].kv, env->st[i].n);
	free(env->st);
	free(env->vars);
	pthread_mutex_destroy(&env->lock);
	free(env);
}

int env_get(struct env *env, const char *key, char **out)
{
	struct var *v;
	int rc;

	*out = NULL;
	if (key == NULL || key[0] == '\0')
		return ENV_INVALID;
	pthread_mutex_lock(&env->lock);
	v = find_var(env, key);
	rc = v ? var_get(env, v, out) : ENV_NOT_FOUND;
	pthread_mutex_unlock(&env->lock);
	return rc;
}

int env_set(struct env *env, const char *key, const char *value)
{
	struct var *v;
	int rc;

	if (key == NULL || key[0] == '\0' || value == NULL)
		return ENV_INVALID;
	pthread_mutex_lock(&env->lock);
	v = find_var(env, key);
	if (v == NULL)
		rc = ENV_NOT_FOUND;
	else if (v->e->u.var.readonly || v->st == NULL)
		rc = ENV_PERMISSION_DENIED;
	else
		rc = storage_set(env, v->st, v->key, value, 0);
	pthread_mutex_unlock(&env->lock);
	return rc;
}

int env_get_all(struct env *env,
		int (*cb)(void *ud, const char *key, const char *value),
		void *ud)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&env->lock);
	for (i = 0; i < env->nvars && rc == 0; i++) {
		struct var *v = &env->vars[i];
		char *val;

		if (var_get(env, v, &val) != 0)
			continue;
		rc = cb(ud, v->e->u.var.variable ? v->e->u.var.variable : v->e->id,
			val);
		free(val);
	}
	pthread_mutex_unlock(&env->lock);
	return rc;
}

/* reg_lookup's get: env_get on an opaque env. */
static int lookup_get(void *ud, const char *key, char **out)
{
	return env_get(ud, key, out);
}

int env_load(const char *src_dir, struct registry **regp, struct env **envp,
	     struct reg_error *err)
{
	bool env_ok;
	struct registry *reg = reg_parse(src_dir, &env_ok);
	/* With broken env entries, interpolation would only add noise. */
	struct env *env = env_ok ? env_create(reg) : NULL;
	struct reg_lookup lookup = { lookup_get, env_strerror, env };
	int rc = reg_decode(reg, env ? &lookup : NULL, err);

	if (rc < 0 || envp == NULL) {
		env_destroy(env);
		env = NULL;
	}
	if (rc < 0) {
		reg_free(reg);
		reg = NULL;
	}
	*regp = reg;
	if (envp)
		*envp = env;
	return rc < 0 ? -1 : 0;
}

const char *env_strerror(int code)
{
	switch (code) {
	case 0:
		return "OK";
	case ENV_NOT_FOUND:
		return "NOT_FOUND";
	case ENV_INVALID:
		return "INVALID";
	case ENV_PERMISSION_DENIED:
		return "PERMISSION_DENIED";
	default:
		return strerror(-code);
	}
}
