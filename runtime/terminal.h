/*
** runtime/terminal.h: the terminal host's stdin reader.
**
** Owned by the runtime (struct rt embeds one), not by a process: a read in
** flight may complete after the process that asked for it is gone, so its
** buffer must outlive it, and data read but not consumed stays for the next
** reader. Used only on the terminal process's shard; the fields are
** private to runtime/terminal.c.
*/
#ifndef RUNTIME_TERMINAL_H
#define RUNTIME_TERMINAL_H

#include <stddef.h>

#include "engine/shard.h"
#include "proc.h"

struct term_in {
	struct engine_io io;
	struct pext ext;
	struct proc *p;       /* reader process; NULL once it exits */
	struct coro *waiter;  /* blocked coroutine, or NULL */
	char *buf;
	size_t len, cap, want;
	int mode, inflight, eof;
};

enum term_mode {
	TERM_LINE,  /* one line, without its "\n" or "\r\n" */
	TERM_BYTES, /* what is there, at most `want` bytes, at least one */
};

/* Read from stdin for the calling coroutine of the terminal process whose
** Lua state is L; use as `return term_read(L, mode, want);` from a
** lua_CFunction. Buffered input answers at once; otherwise the coroutine
** blocks until input arrives. Results: the string, or nil and an
** UNAVAILABLE "EOF" error at end of input; a CONFLICT error when another
** coroutine is already reading. */
int term_read(lua_State *L, enum term_mode mode, size_t want);

/* The process p exits: when it is the reader, forget it (a read in flight
** outlives it and is kept for the next reader). Only on p's shard, and only
** for the terminal process (another shard may own the reader). */
void term_forget(struct term_in *in, struct proc *p);

/* Free the buffer (after the engine stopped). */
void term_free(struct term_in *in);

#endif
