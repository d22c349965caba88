/*
** runtime/env.h: the env system (spec 1.4 "Env system", 8 "env"): named
** variables backed by storages, built from a registry's env.* entries.
**
** A variable is found by its public `variable` name or by its entry id.
** Its storage key is the public name, or the entry's name part when it has
** none. Storages: os (process environment, read-only), static (registry
** values, read-only), memory (read/write), file (KEY=VALUE lines,
** read/write), router (ordered list: reads take the first hit, writes go to
** the first storage).
**
** Errors are negative errno values, named after the Lua-facing kinds:
** ENV_NOT_FOUND, ENV_INVALID, ENV_PERMISSION_DENIED; file storages can also
** return the errno of a failed open/write.
**
** Thread-safety: every function may be called from any thread (processes
** on every shard read the env).
*/
#ifndef RUNTIME_ENV_H
#define RUNTIME_ENV_H

#include <errno.h>

struct registry;
struct reg_error;
struct env;	/* opaque */

#define ENV_NOT_FOUND		(-ENOENT)
#define ENV_INVALID		(-EINVAL)
#define ENV_PERMISSION_DENIED	(-EACCES)

/*
** Load the registry under src_dir with its env, the env built once
** between the registry's two phases: reg_parse() reads the files and
** decodes the env.* entries, env_create() builds the env from them, and
** reg_decode() decodes every other entry with ${env:...} read from it.
** Returns 0 with *reg and *env set (destroy the env before reg_free), or
** -1 with both NULL and err (may be NULL) holding every error. env may be
** NULL when only the registry is wanted (lint): the env is then destroyed
** before return.
*/
int env_load(const char *src_dir, struct registry **reg, struct env **env,
	     struct reg_error *err);

/*
** Build the env from the registry's env.storage.* and env.variable
** entries, which must already be decoded (reg_parse() decodes them first,
** so env_load() can call this on a registry that is still loading). File
** storages with auto_create get their file (and
** directory) created here if missing; failures are left for env_set() to
** report. The env keeps pointers into reg: destroy it before reg_free().
** Never returns NULL.
*/
struct env *env_create(const struct registry *reg);

/* Free the env and its memory storages. NULL is a no-op. */
void env_destroy(struct env *env);

/*
** Look key up (public variable name or entry id). On success returns 0 and
** *out is a malloc'd copy of the value, freed by the caller. The storage's
** value wins; the variable's default is used when the storage lacks it.
** Returns ENV_INVALID for a NULL or empty key, ENV_NOT_FOUND when no
** variable has that key or neither storage nor default has a value.
*/
int env_get(struct env *env, const char *key, char **out);

/*
** Store value for key. Returns 0, ENV_INVALID (empty key or NULL value),
** ENV_NOT_FOUND (no such variable), ENV_PERMISSION_DENIED (readonly
** variable, or an os/static storage), or a file storage's I/O errno.
*/
int env_set(struct env *env, const char *key, const char *value);

/*
** Call cb(ud, key, value) for each variable that currently has a value,
** in registry order; key is the public name, or the entry id when the
** variable has none. A non-zero return from cb stops the walk and is
** returned. cb must not call back into this env (the env lock is held).
*/
int env_get_all(struct env *env,
		int (*cb)(void *ud, const char *key, const char *value),
		void *ud);

/* "NOT_FOUND", "INVALID", "PERMISSION_DENIED", or strerror() otherwise. */
const char *env_strerror(int code);

#endif
