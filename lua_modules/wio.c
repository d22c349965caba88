/*
** lua_modules/wio.c: require("io"), the terminal module (spec 8): print,
** write, eprint, readline, read, flush, args. Only a process on a terminal
** host may use it; elsewhere every call fails with "no terminal context".
**
** Output is written with write(2) straight away: the terminal process is
** one process, and its output must interleave correctly with the reads it
** prompts for. Input comes from the runtime's stdin reader
** (runtime/terminal.h): the reading coroutine blocks, the shard keeps
** running others.
*/
#include <errno.h>
#include <lauxlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/errors.h"
#include "modules.h"
#include "runtime/proc.h"
#include "runtime/rt.h"
#include "runtime/terminal.h"

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

static int read_common(lua_State *L, enum term_mode mode, size_t want)
{
	int nret = 0;
	if (!check_terminal(L, &nret))
		return nret;
	return term_read(L, mode, want);
}

/* io.readline() -> line | nil, err [-0, +(1|2), m] */
static int w_readline(lua_State *L)
{
	lua_settop(L, 0);
	return read_common(L, TERM_LINE, 0);
}

/* io.read([n = 1024]) -> string | nil, err [-0, +(1|2), m] */
static int w_read(lua_State *L)
{
	lua_Integer n = luaL_optinteger(L, 1, 1024);
	luaL_argcheck(L, n > 0, 1, "must be positive");
	lua_settop(L, 0);
	return read_common(L, TERM_BYTES, (size_t)n);
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
