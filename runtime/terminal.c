/*
** runtime/terminal.c: the terminal host's stdin reader (term_*).
**
** Owns the input buffer, the one read in flight on fd 0 and the coroutine
** waiting for it. The read is an engine/net one-shot read on the reader's
** shard; its completion runs outside Lua, so it only records the bytes and
** posts the process an ext that resumes the coroutine inside its step.
** May not touch the ring directly (engine/net.h is its only way to the
** kernel) nor know the Lua module that calls it (lua_modules/wio.c).
*/
#include "terminal.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/net.h"
#include "errors.h"
#include "rt.h"

#define CHUNK 4096

/* Try to satisfy a read from the buffer. Pushes the results onto L and
** returns their count, or 0 when more input is needed. */
static int try_take(lua_State *L, struct term_in *in, int mode, size_t want)
{
	if (mode == TERM_LINE) {
		char *nl = memchr(in->buf, '\n', in->len);
		if (nl == NULL && !in->eof)
			return 0;
		if (nl == NULL && in->len == 0) {
			lua_pushnil(L);
			errors_push(L, ERRORS_UNAVAILABLE, "EOF");
			return 2;
		}
		size_t take = nl ? (size_t)(nl - in->buf) + 1 : in->len;
		size_t line = nl ? take - 1 : take;
		if (line > 0 && in->buf[line - 1] == '\r')
			line--;
		lua_pushlstring(L, in->buf, line);
		memmove(in->buf, in->buf + take, in->len - take);
		in->len -= take;
		return 1;
	}
	if (in->len == 0 && !in->eof)
		return 0;
	if (in->len == 0) {
		lua_pushnil(L);
		errors_push(L, ERRORS_UNAVAILABLE, "EOF");
		return 2;
	}
	size_t take = in->len < want ? in->len : want;
	lua_pushlstring(L, in->buf, take);
	memmove(in->buf, in->buf + take, in->len - take);
	in->len -= take;
	return 1;
}

static void start_read(struct term_in *in);

/* In the process step: data arrived (or EOF, or an error). */
static void deliver(lua_State *L, struct pext *x)
{
	struct term_in *in = container_of(x, struct term_in, ext);
	struct coro *co = in->waiter;
	(void)L;
	if (co == NULL)
		return;
	int n = try_take(co->L, in, in->mode, in->want);
	if (n > 0) {
		in->waiter = NULL;
		proc_ready(co, n);
	} else {
		start_read(in);
	}
}

/* Completion on the shard, outside Lua. */
static void read_done(struct engine_io *io, int res, uint32_t flags)
{
	struct term_in *in = container_of(io, struct term_in, io);
	(void)flags;
	in->inflight = 0;
	if (res > 0) {
		in->len += (size_t)res;
	} else if (res == 0 || (res != -EINTR && res != -EAGAIN)) {
		in->eof = 1;
	}
	if (in->p) {
		proc_io_end(in->p);
		proc_ext_post(in->p, &in->ext);
	}
}

static void start_read(struct term_in *in)
{
	if (in->inflight)
		return;
	if (in->cap - in->len < CHUNK) {
		in->cap = in->cap ? in->cap * 2 : 2 * CHUNK;
		in->buf = xrealloc(in->buf, in->cap);
	}
	in->io.done = read_done;
	in->ext.deliver = deliver;
	if (net_read(&in->io, 0, in->buf + in->len,
		     (unsigned)(in->cap - in->len)) == 0) {
		in->inflight = 1;
		proc_io_begin(in->p);
	} else {
		in->eof = 1;
		proc_ext_post(in->p, &in->ext);
	}
}

int term_read(lua_State *L, enum term_mode mode, size_t want)
{
	struct proc *p = proc_of(L);
	struct term_in *in = &p->rt->term_in;
	int n;
	if (in->waiter)
		return errors_ret(L, ERRORS_CONFLICT, "another coroutine is reading");
	n = try_take(L, in, mode, want);
	if (n > 0)
		return n;
	in->p = p;
	in->waiter = proc_coro(L);
	in->mode = mode;
	in->want = want;
	start_read(in);
	return proc_block(L, 1, NULL, 0);
}

void term_forget(struct term_in *in, struct proc *p)
{
	if (in->p != p)
		return;
	in->p = NULL;
	in->waiter = NULL;
}

void term_free(struct term_in *in)
{
	free(in->buf);
	in->buf = NULL;
	in->len = in->cap = 0;
}
