/*
** runtime/code.c: an entry's code, from its source to a running chunk.
**
** Every Lua source is compiled once at boot (code_compile_all): its type
** annotations are erased (runtime/erase.c), the plain Lua is compiled and
** the dumped bytecode kept per entry, so no process parses on the spawn
** path and a syntax error is reported before anything starts. A process
** (and process.upgrade) loads that bytecode (code_load_entry).
**
** The libraries a state gets are not named here: main.c hands their
** opener over (code_set_libs), as lua.c calls luaL_openlibs, and the
** runtime calls it through code_open_libs. This file may use Lua's C API
** and the runtime, never a lua_modules/ header.
*/
#include "code.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "erase.h"
#include "proc.h"
#include "registry.h"
#include "rt.h"

/* {==== Libraries ====} */

/* Set once by main() before the runtime starts; read-only after. */
static const struct code_libs *libs;

void code_set_libs(const struct code_libs *l)
{
	libs = l;
}

void code_open_libs(lua_State *L)
{
	libs->open(L);
}

int code_provides(const char *name)
{
	return libs != NULL && libs->provides(name);
}

/* {==== Bytecode cache ====} */

struct dumpbuf { char *p; size_t len, cap; };

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct dumpbuf *b = ud;
	(void)L;
	if (b->len + sz > b->cap) {
		b->cap = (b->len + sz) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, sz);
	b->len += sz;
	return 0;
}

/* One run-time compiled entry, in the chain code_find walks. */
struct code_batch {
	struct code c;
	struct code_batch *next;
};

static int cmp_code(const void *a, const void *b)
{
	const struct code *x = a, *y = b;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* Read a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	if (f == NULL)
		return NULL;
	do {
		if (n == cap)
			buf = xrealloc(buf, (cap = cap ? cap * 2 : 8192) + 1);
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Compile entry e's source: erase its type annotations (runtime/erase.c)
** and load the plain Lua that remains, under the chunk name "@source" so
** messages and tracebacks name the user's file; every line and column of
** the erased text is where the user wrote it. A malformed annotation is
** reported as "source:line:col: error[P0001]: message". Annotations are
** only erased, never checked: a type checker for `wippy lint` would take
** the typed source here, before erasing. A source the eraser refuses but
** Lua itself compiles is plain Lua and is loaded as written, so no valid
** Lua program is ever refused. Pushes the function or an error message.
** [-0, +1, m] */
static int load_source(lua_State *L, const struct reg_entry *e)
{
	const char *path = e->u.lua.source;
	size_t len, skip = 0;
	struct erase_err err;
	char *src, *out;
	int rc, erc;

	if ((src = read_file(path, &len)) == NULL) {
		lua_pushfstring(L, "cannot read %s: %s", path, strerror(errno));
		return LUA_ERRFILE;
	}
	/* A UTF-8 byte-order mark is skipped, as luaL_loadfile does. */
	if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
		skip = 3;
	out = xmalloc(len - skip + 1);
	erc = erase_source(src + skip, len - skip, out, &err);
	if (erc < 0)
		memcpy(out, src + skip, len - skip);
	/* A '#' first line (a shebang) is skipped as luaL_loadfile does; the
	** newline stays so lines keep their numbers. */
	if (len > skip && out[0] == '#')
		for (size_t i = 0; i < len - skip && out[i] != '\n' && out[i] != '\r'; i++)
			out[i] = ' ';
	lua_pushfstring(L, "@%s", path);
	rc = luaL_loadbufferx(L, out, len - skip, lua_tostring(L, -1), "t");
	lua_remove(L, -2);
	if (rc != LUA_OK && erc < 0) {
		/* Neither reads it: the eraser's message has the column. P0001
		** is the original lint's code for a parse error. */
		lua_pop(L, 1);
		lua_pushfstring(L, "%s:%d:%d: error[P0001]: %s", path, err.line, err.col, err.msg);
	}
	free(out);
	free(src);
	return rc;
}

/*
** Add the process.lua.bc entries to the cache: their files are Lua 5.4
** bytecode (the registry checked hash and header), loaded in binary mode
** and dumped again like compiled sources. No eraser: there is no source.
** Lua does not verify bytecode, so a crafted file could misbehave where a
** source could not; the file is the deployer's own, pinned by its hash.
** Returns the number that failed to load (each reported on stderr).
*/
static int compile_bytecode(struct rt *rt, lua_State *L, int *cap)
{
	const struct reg_entry *e = NULL;
	int nfail = 0;

	while ((e = reg_next(rt->reg, e)) != NULL) {
		struct dumpbuf b = {0};

		if (e->k != REG_K_PROCESS_LUA_BC)
			continue;
		if (luaL_loadfilex(L, e->u.lua.source, "b") != LUA_OK) {
			fprintf(stderr, "%s: %s: %s\n", e->file, e->id, lua_tostring(L, -1));
			lua_pop(L, 1);
			nfail++;
			continue;
		}
		lua_dump(L, dump_writer, &b, 0);
		lua_pop(L, 1);
		if (rt->ncodes == *cap) {
			*cap *= 2;
			rt->codes = xrealloc(rt->codes, (size_t)*cap * sizeof(*rt->codes));
		}
		rt->codes[rt->ncodes].entry = e;
		rt->codes[rt->ncodes].bc = b.p;
		rt->codes[rt->ncodes].len = b.len;
		atomic_init(&rt->codes[rt->ncodes].arena_hint, 0);
		rt->ncodes++;
	}
	return nfail;
}

int code_compile_all(struct rt *rt)
{
	lua_State *L = luaL_newstate();
	int nfail = 0, cap = 16;
	const struct reg_entry *e = NULL;

	rt->codes = xcalloc((size_t)cap, sizeof(*rt->codes));
	rt->ncodes = 0;
	while ((e = reg_next(rt->reg, e)) != NULL) {
		if (e->k != REG_K_PROCESS_LUA && e->k != REG_K_FUNCTION_LUA &&
		    e->k != REG_K_LIBRARY_LUA)
			continue;
		if (load_source(L, e) != LUA_OK) {
			fprintf(stderr, "%s: %s: %s\n", e->file, e->id, lua_tostring(L, -1));
			lua_pop(L, 1);
			nfail++;
			continue;
		}
		struct dumpbuf b = {0};
		/* Keep debug info: error messages and tracebacks name lines. */
		lua_dump(L, dump_writer, &b, 0);
		lua_pop(L, 1);
		if (rt->ncodes == cap) {
			cap *= 2;
			rt->codes = xrealloc(rt->codes, (size_t)cap * sizeof(*rt->codes));
		}
		rt->codes[rt->ncodes].entry = e;
		rt->codes[rt->ncodes].bc = b.p;
		rt->codes[rt->ncodes].len = b.len;
		atomic_init(&rt->codes[rt->ncodes].arena_hint, 0);
		rt->ncodes++;
	}
	nfail += compile_bytecode(rt, L, &cap);
	qsort(rt->codes, (size_t)rt->ncodes, sizeof(*rt->codes), cmp_code);
	lua_close(L);
	return nfail;
}

void code_free_all(struct rt *rt)
{
	code_discard(atomic_exchange((_Atomic(struct code_batch *) *)&rt->codes_more, NULL));
	for (int i = 0; i < rt->ncodes; i++)
		free(rt->codes[i].bc);
	free(rt->codes);
	rt->codes = NULL;
	rt->ncodes = 0;
}

struct code *code_find(const struct rt *rt, const struct reg_entry *e)
{
	struct code key = { .entry = e };
	struct code *c = bsearch(&key, rt->codes, (size_t)rt->ncodes, sizeof(key), cmp_code);
	if (c != NULL)
		return c;
	/* Entries of registry versions applied at run time: a list that
	** only grows at its head (release), walked with acquire. Such
	** entries are few; the boot's are found above. */
	for (struct code_batch *b = atomic_load_explicit(
		     (_Atomic(struct code_batch *) *)&rt->codes_more, memory_order_acquire);
	     b; b = b->next)
		if (b->c.entry == e)
			return &b->c;
	return NULL;
}

/* {==== Code of entries added at run time ====}
**
** A registry version applied at run time (runtime/live.c) brings entries
** of its own: they are compiled before the version is published, into a
** chain that becomes visible all at once (code_publish) or is dropped with
** the rejected version (code_discard). Published code lives until
** code_free_all: a version, once published, is kept for the runtime's
** life, and so are the processes' pointers to its code. */

int code_compile_new(struct rt *rt, const struct registry *reg,
		     struct code_batch **out, char **msg)
{
	lua_State *L = NULL;
	const struct reg_entry *e = NULL;
	struct code_batch *chain = NULL;

	*out = NULL;
	*msg = NULL;
	while ((e = reg_next(reg, e)) != NULL) {
		struct dumpbuf b = {0};
		int rc;

		if (!reg_kind_is_lua(e->k) || code_find(rt, e) != NULL)
			continue;
		if (L == NULL)
			L = luaL_newstate();
		rc = e->k == REG_K_PROCESS_LUA_BC ? luaL_loadfilex(L, e->u.lua.source, "b")
						  : load_source(L, e);
		if (rc != LUA_OK) {
			char buf[1024];
			snprintf(buf, sizeof(buf), "%s: %s", e->id, lua_tostring(L, -1));
			*msg = xstrdup(buf);
			code_discard(chain);
			lua_close(L);
			return -1;
		}
		lua_dump(L, dump_writer, &b, 0);
		lua_pop(L, 1);
		struct code_batch *n = xcalloc(1, sizeof(*n));
		n->c.entry = e;
		n->c.bc = b.p;
		n->c.len = b.len;
		atomic_init(&n->c.arena_hint, 0);
		n->next = chain;
		chain = n;
	}
	if (L)
		lua_close(L);
	*out = chain;
	return 0;
}

void code_publish(struct rt *rt, struct code_batch *chain)
{
	_Atomic(struct code_batch *) *head = (_Atomic(struct code_batch *) *)&rt->codes_more;
	struct code_batch *last = chain;

	if (chain == NULL)
		return;
	while (last->next)
		last = last->next;
	/* One publisher at a time (live.c holds its lock), so a plain
	** load-link-store suffices; the store releases the chain's fields. */
	last->next = atomic_load_explicit(head, memory_order_relaxed);
	atomic_store_explicit(head, chain, memory_order_release);
}

void code_discard(struct code_batch *chain)
{
	while (chain) {
		struct code_batch *n = chain->next;
		free(chain->c.bc);
		free(chain);
		chain = n;
	}
}

/* {==== Loading ====} */

void code_load_entry(lua_State *L, const struct reg_entry *e, const struct code *c)
{
	if (c == NULL)
		c = code_find(proc_of(L)->rt, e);
	if (c == NULL)
		luaL_error(L, "%s: no compiled code", e->id);
	if (luaL_loadbufferx(L, c->bc, c->len, e->u.lua.source, "b") != LUA_OK)
		lua_error(L);
	lua_call(L, 0, 1);
	if (e->k == REG_K_LIBRARY_LUA)
		return;
	if (lua_istable(L, -1)) {
		const char *m = e->u.lua.method ? e->u.lua.method : "main";
		if (lua_getfield(L, -1, m) != LUA_TFUNCTION)
			luaL_error(L, "%s: method '%s' not found in %s", e->id, m,
				   e->u.lua.source);
		lua_remove(L, -2);
	} else if (!lua_isfunction(L, -1)) {
		luaL_error(L, "%s: %s must return a table of functions or a function",
			   e->id, e->u.lua.source);
	}
}
