/*
** runtime/fcall.h: calls of function.lua entries from processes (the
** machinery under require("funcs")), on the pooled states HTTP handlers
** use too (proc_call).
**
** A call runs on the caller's shard: the callee is a pooled state of the
** entry taken from (or added to) that shard's pool, and the caller stays
** pinned there while the call is in flight (it counts as outstanding I/O,
** proc_io_begin), so both ends of a call are touched by one thread only and
** nothing in here locks. Arguments, context values, the security pair and
** the results cross as encoded payloads (runtime/payload.h), by value, as
** messages do.
**
** A call record has two owners: the caller side (the Lua object waiting
** for it: a blocked funcs.call or a Future) and the callee side (the pooled
** state running it). fcall_start hands it to the callee side; the callee
** side gives it back by posting `reply` into the caller's step, where
** on_reply runs. A caller that goes away first calls fcall_detach: the
** callee then finishes, drops the result and frees the record.
*/
#ifndef RUNTIME_FCALL_H
#define RUNTIME_FCALL_H

#include <lua.h>

#include "payload.h"
#include "proc.h"

struct rt;
struct reg_entry;

struct fcall {
	struct pext start;          /* in the callee's step: begin */
	struct pext reply;          /* in the caller's step: the result is in */
	struct rt *rt;
	const struct reg_entry *entry;
	struct proc *caller;        /* NULL once detached */
	struct proc *callee;        /* the pooled state, while it runs the call */
	struct payload args;        /* the arguments, a sequence of values */
	struct payload ctx;         /* context values for the callee (ctx) */
	struct payload sec;         /* security pair for the callee */
	struct payload result;      /* the results, or one error value */
	int failed;                 /* result is an error */
	char *err_msg;              /* or this error, when result could not
	                            ** be had (malloc'd) */
	const char *err_kind;       /* its kind (static) */
	int depth;                  /* nesting: 1 for a call from a process */
	uint8_t inflight;           /* the callee side still holds it */
	uint8_t done;               /* result is set */
	/* Caller's: runs in the caller's step with its main state when the
	** result is in (not after fcall_detach). */
	void (*on_reply)(lua_State *L, struct fcall *c);
	void *ud;
	/* Or a caller in C (fcall_new_c): cb runs on the call's shard, in
	** no Lua state, when the result is in; it owns c then. */
	void (*cb)(struct fcall *c);
	void *delivery;             /* the queue delivery a consumer's call
	                            ** serves (runtime/queue.h), or NULL */
};

/* Calls nest at most this deep (a function calling itself without end
** would otherwise take a new pooled state per level). */
#define FCALL_MAX_DEPTH 64

/* A new record for a call of entry (a function.lua) from caller, zeroed
** but for those. Free with fcall_detach (by the caller side). */
struct fcall *fcall_new(struct proc *caller, const struct reg_entry *entry);

/* A new record for a call made from C on the current shard (a queue
** consumer): cb (with ud) gets the result; the caller then frees c with
** fcall_detach. */
struct fcall *fcall_new_c(struct rt *rt, const struct reg_entry *entry,
			  void (*cb)(struct fcall *c), void *ud);

/* Start c (args, ctx, sec and on_reply filled in). Runs in the caller's
** step. Returns 0, or -1 with *kind (an errors.h kind) and *err (static
** text) set and nothing started. */
int fcall_start(struct fcall *c, const char **kind, const char **err);

/* The caller side lets go of c: if the call is still in flight, its
** result is dropped when it ends; else c is freed now. Caller's thread. */
void fcall_detach(struct fcall *c);

/* Push the outcome of a call whose reply came (in on_reply): its
** results, returning how many (0 or 1), or its error object, returning
** -1. [-0, +(0|1), m] */
int fcall_push_result(lua_State *L, struct fcall *c);

/* The call a pooled state is running, or NULL (not a funcs call). */
struct fcall *fcall_current(struct proc *p);

/* Terminate the idle pooled states (shutdown: nothing will call them).
** Any thread. */
void fcall_stop(struct rt *rt);

/* Free the pools. From rt_free, after the engine stopped. */
void fcall_free(struct rt *rt);

#endif
