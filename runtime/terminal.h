/*
** runtime/terminal.h: the terminal host's stdin reader, owned by the
** runtime so a read in flight can outlive the process that asked for it.
** Used only on the terminal process's shard.
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

#endif
