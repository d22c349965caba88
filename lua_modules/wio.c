/*
** lua_modules/wio.c: require("io"), the terminal module (spec 8): print,
** write, eprint, readline, read, flush, args. Only a process on a terminal
** host may use it; elsewhere every call fails with "no terminal context".
**
** Output is written with write(2) straight away: the terminal process is
** one process, and its output must interleave correctly with the reads it
** prompts for. Input is read with io_uring on the process's shard: the
** reading coroutine blocks, the shard keeps running others.
**
** The stdin reader lives in the runtime (struct rt), not in the process:
** a read in flight may complete after the process is gone, so its buffer
** must outlive it. Data read and not consumed stays for the next reader.
*/
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/ring.h"
#include "engine/ud.h"
#include "runtime/errors.h"
#include "modules.h"
#include "runtime/proc.h"
#include "runtime/rt.h"
#include "runtime/terminal.h"

#define CHUNK 4096

enum { RD_LINE, RD_BYTES };

static int check_terminal(lua_State *L, int *nret)
{
	if (!proc_of(L)->is_terminal) {
		*nret = errors_ret(L, ERRORS_UNAVAILABLE, "no terminal context");
		return 0;
	}
	return 1;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Join args with sep via tostring, plus a newline when nl. */
static int out(lua_State *L, int fd, const char *sep, int nl)
{
	int n = lua_gettop(L), nret = 0;
	luaL_Buffer b;
	if (!check_terminal(L, &nret))
		return nret;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addstring(&b, sep);
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	if (nl)
		luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	size_t len;
	const char *s = lua_tolstring(L, -1, &len);
	int rc = write_all(fd, s, len);
	if (rc < 0)
		return errors_ret(L, ERRORS_INTERNAL, "write: %s", strerror(-rc));
	lua_pushboolean(L, 1);
	return 1;
}

static int w_print(lua_State *L) { return out(L, 1, "\t", 1); }
static int w_eprint(lua_State *L) { return out(L, 2, "\t", 1); }
static int w_write(lua_State *L) { return out(L, 1, "", 0); }
static int w_flush(lua_State *L) { lua_pushboolean(L, 1); return 1; }

/* {==== Reading ====} */

/* Try to satisfy a read from the buffer. Pushes the results onto L and
** returns their count, or 0 when more input is needed. */
static int try_take(lua_State *L, struct term_in *in, int mode, size_t want)
{
	if (mode == RD_LINE) {
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
	/* offset -1: read at the file position (pipes, terminals). */
	if (ring_read(shard_ring(shard_self()), ud_make(UD_IO, &in->io), 0,
		      in->buf + in->len, (unsigned)(in->cap - in->len),
		      (uint64_t)-1) == 0) {
		in->inflight = 1;
		proc_io_begin(in->p);
	} else {
		in->eof = 1;
		proc_ext_post(in->p, &in->ext);
	}
}

static int read_common(lua_State *L, int mode, size_t want)
{
	struct proc *p = proc_of(L);
	struct term_in *in = &p->rt->term_in;
	int nret = 0, n;
	if (!check_terminal(L, &nret))
		return nret;
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

/* io.readline() -> line | nil, err [-0, +(1|2), m] */
static int w_readline(lua_State *L)
{
	lua_settop(L, 0);
	return read_common(L, RD_LINE, 0);
}

/* io.read([n = 1024]) -> string | nil, err [-0, +(1|2), m] */
static int w_read(lua_State *L)
{
	lua_Integer n = luaL_optinteger(L, 1, 1024);
	luaL_argcheck(L, n > 0, 1, "must be positive");
	lua_settop(L, 0);
	return read_common(L, RD_BYTES, (size_t)n);
}

/* io.args() -> {string...} [-0, +1, m] */
static int w_args(lua_State *L)
{
	struct rt *rt = proc_of(L)->rt;
	int nret = 0;
	if (!check_terminal(L, &nret))
		return nret;
	lua_createtable(L, rt->nargs, 0);
	for (int i = 0; i < rt->nargs; i++) {
		lua_pushstring(L, rt->args[i]);
		lua_seti(L, -2, i + 1);
	}
	return 1;
}

static int w_raw(lua_State *L)
{
	lua_pushboolean(L, 1);
	return 1;
}

int luaopen_wio(lua_State *L)
{
	static const luaL_Reg f[] = {
		{"print", w_print}, {"eprint", w_eprint}, {"write", w_write},
		{"flush", w_flush}, {"readline", w_readline}, {"read", w_read},
		{"args", w_args}, {"raw", w_raw}, {NULL, NULL}
	};
	luaL_newlib(L, f);
	return 1;
}
