/*
** runtime/boot.h: build, start, stop and free a runtime (struct rt).
*/
#ifndef RUNTIME_BOOT_H
#define RUNTIME_BOOT_H

#include <stddef.h>
#include <stdint.h>

struct rt;
struct registry;

/* Default Lua heap limit per process: a runaway process fails with a
** memory error long before it can take the machine (and the runtime) down.
** --proc-memory-limit 0 removes it. */
#define BOOT_PROC_MEM_DEFAULT ((size_t)512 << 20)

struct boot_opts {
	int nshards;             /* 0: one per CPU */
	int64_t stop_timeout_ns; /* 0: 10 s */
	int stop_timeout_set;
	size_t proc_mem_limit;   /* bytes per process, 0: none */
	char **args;             /* for io.args() */
	int nargs;
};

/* Read wippy.lock (default src ./src) and load the registry with its env
** (env_load; env may be NULL when only the registry is wanted); prints the
** errors and returns -1 when it has any. */
struct env;
int rt_load_registry(const char *lock, struct registry **out, struct env **env);

/* Load, validate and compile the app in the current directory and create
** the engine (not started). Prints errors and returns NULL on failure. */
struct rt *rt_boot(const struct boot_opts *o);

/* Start the shards. 0 or -1 (printed). */
int rt_start(struct rt *rt);

/* Begin shutdown (any thread; a second call forces the engine to stop). */
void rt_begin_shutdown(struct rt *rt, const char *reason, int64_t grace_ns);

/* Wait for the engine to stop, free everything, return rt's exit code. */
int rt_wait_and_free(struct rt *rt);

#endif
