/*
** test/unit/runtime/erase.c: the typed-Lua eraser against the conformance
** corpus (test/fixtures/typed-lua, from spec/typed-lua.md section 7) and
** against every plain Lua source of the repository.
**
** Per corpus case: the output equals NNN.lua byte for byte, compiles with
** luaL_loadbuffer, and erasing it again changes nothing; a malformed case
** (NNN.err) fails at the expected line:col with the expected message.
** Then the contract's edges: in-place erasure, plain Lua left alone,
** nesting past the limit, unfinished strings and comments.
*/
#include "runtime/erase.h"

#include <dirent.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"

static char corpus[PATH_MAX];

static void find_corpus(void)
{
	struct stat st;
	char *dir;
	if (stat("test/fixtures/typed-lua", &st) == 0) {
		snprintf(corpus, sizeof(corpus), "test/fixtures/typed-lua");
		return;
	}
	dir = strdup(__FILE__);
	*strrchr(dir, '/') = '\0';
	snprintf(corpus, sizeof(corpus), "%s/../../fixtures/typed-lua", dir);
	free(dir);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int compiles(lua_State *L, const char *buf, size_t len, const char *name)
{
	int rc = luaL_loadbufferx(L, buf, len, name, "t");
	if (rc != LUA_OK)
		printf("# %s: %s\n", name, lua_tostring(L, -1));
	lua_pop(L, 1);
	return rc == LUA_OK;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One corpus case, `base` being "NNN-name". */
static void run_case(lua_State *L, const char *base)
{
	char path[PATH_MAX + 64];
	size_t len, wlen;
	char *src, *want, *out;
	struct erase_err err;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.typed.lua", corpus, base);
	src = slurp(path, &len);
	if (src == NULL) {
		ok(0, "%s: read %s", base, path);
		return;
	}
	out = malloc(len + 1);
	rc = erase_source(src, len, out, &err);

	snprintf(path, sizeof(path), "%s/%s.lua", corpus, base);
	want = slurp(path, &wlen);
	if (want != NULL) {
		ok(rc >= 0, "%s: erases%s%d:%d: %s", base, rc < 0 ? " (" : "",
		   rc < 0 ? err.line : 0, rc < 0 ? err.col : 0, rc < 0 ? err.msg : "");
		if (rc >= 0) {
			int same = wlen == len && memcmp(out, want, len) == 0;
			if (!same) {
				fwrite(out, 1, len, stdout);
				printf("\n# ---- want ----\n");
				fwrite(want, 1, wlen, stdout);
			}
			ok(same, "%s: output matches byte for byte", base);
			ok(compiles(L, out, len, base), "%s: output compiles", base);
			ok(erase_source(out, len, out, &err) == 0 && memcmp(out, want, len) == 0,
			   "%s: erasing the output changes nothing", base);
		}
		free(want);
	} else {
		char *e, expect[256];
		int line = 0, col = 0, n = 0;
		snprintf(path, sizeof(path), "%s/%s.err", corpus, base);
		e = slurp(path, &wlen);
		if (e == NULL || sscanf(e, "%d:%d: %n", &line, &col, &n) != 2) {
			ok(0, "%s: has neither .lua nor a readable .err", base);
			free(e);
			free(src);
			free(out);
			return;
		}
		snprintf(expect, sizeof(expect), "%s", e + n);
		expect[strcspn(expect, "\r\n")] = '\0';
		ok(rc == -1, "%s: refused", base);
		ok(rc == -1 && err.line == line && err.col == col,
		   "%s: error at %d:%d (got %d:%d)", base, line, col, err.line, err.col);
		ok(rc == -1 && strcmp(err.msg, expect) == 0,
		   "%s: message \"%s\" (got \"%s\")", base, expect, err.msg);
		free(e);
	}
	free(src);
	free(out);
}

static void corpus_cases(lua_State *L)
{
	DIR *d = opendir(corpus);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	const char *suffix = ".typed.lua";

	ok(d != NULL, "corpus directory %s", corpus);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0)
			continue;
		if (n == cap)
			names = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
		names[n] = strndup(de->d_name, l - sl);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	ok(n >= 66, "corpus has %zu cases (56 erase, 10 malformed)", n);
	for (size_t i = 0; i < n; i++) {
		run_case(L, names[i]);
		free(names[i]);
	}
	free(names);
}

/* Every .lua under dir (recursively) that Lua compiles must come out of
** the eraser unchanged, reported as rc 0. */
static void plain_tree(lua_State *L, const char *dir, int *files, int *bad)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		size_t l = strlen(de->d_name), len;
		struct stat st;
		char *src, *out;
		struct erase_err err;
		int rc;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			plain_tree(L, path, files, bad);
			continue;
		}
		if (l < 4 || strcmp(de->d_name + l - 4, ".lua") != 0 ||
		    (l > 10 && strcmp(de->d_name + l - 10, ".typed.lua") == 0))
			continue;
		if ((src = slurp(path, &len)) == NULL)
			continue;
		if (luaL_loadbufferx(L, src, len, path, "t") != LUA_OK) {
			lua_pop(L, 1);
			free(src);
			continue;
		}
		lua_pop(L, 1);
		out = malloc(len + 1);
		rc = erase_source(src, len, out, &err);
		(*files)++;
		if (rc != 0 || memcmp(out, src, len) != 0) {
			(*bad)++;
			printf("# %s: rc %d %d:%d %s\n", path, rc, err.line, err.col,
			       rc < 0 ? err.msg : "");
		}
		free(out);
		free(src);
	}
	closedir(d);
}

/* Erase a C string into out, NUL-terminated. */
static int erase_str(const char *s, char *out, struct erase_err *err)
{
	int rc = erase_source(s, strlen(s), out, err);
	out[strlen(s)] = '\0';
	return rc;
}

static void edges(void)
{
	struct erase_err err;
	char out[256], buf[256];
	char *deep;
	size_t n;

	ok(erase_str("", out, &err) == 0, "empty source: plain");
	strcpy(buf, "local x: integer = 1");
	ok(erase_source(buf, strlen(buf), buf, &err) == 1 &&
	   strcmp(buf, "local x          = 1") == 0, "in place (out == src)");
	ok(erase_str("#!/usr/bin/env wippy\nlocal a: any = 1", out, &err) == 1 &&
	   memcmp(out, "#!/usr/bin/env wippy\nlocal a      = 1", 36) == 0,
	   "a first line starting with # is left alone");
	ok(erase_str("local s = 'abc\nx'", out, &err) == -1 && err.line == 1 &&
	   err.col == 11 && strstr(err.msg, "unfinished string") != NULL,
	   "unfinished string: %d:%d %s", err.line, err.col, err.msg);
	ok(erase_str("local s = [[abc", out, &err) == -1 &&
	   strstr(err.msg, "unfinished long string") != NULL,
	   "unfinished long string: %s", err.msg);
	ok(erase_str("x = 1 --[==[ open", out, &err) == -1 &&
	   strstr(err.msg, "unfinished long comment") != NULL,
	   "unfinished long comment: %s", err.msg);
	ok(erase_str("local f = function(a: string) return a", out, &err) == -1 &&
	   err.line == 1 && strstr(err.msg, "'end' expected") != NULL,
	   "missing end: %s", err.msg);
	ok(erase_str("x = a ? b : c", out, &err) == -1 && err.col == 7 &&
	   strcmp(err.msg, "unexpected symbol near '?'") == 0,
	   "no ternary: %d:%d %s", err.line, err.col, err.msg);
	ok(erase_str("local t: {a ? : number} = {}", out, &err) == -1,
	   "'? :' with a space is not an optional field: %s", err.msg);
	ok(erase_str("local f: () = nil", out, &err) == -1 &&
	   strncmp(err.msg, "'->' expected after '()'", 24) == 0,
	   "() without ->: %s", err.msg);
	ok(erase_str("local f: (a, b) = nil", out, &err) == -1 &&
	   strstr(err.msg, "only allowed as a return type") != NULL,
	   "type list outside a return: %s", err.msg);
	ok(erase_str("local x = y :: integer < 5", out, &err) == -1,
	   "x :: integer < 5 opens type arguments: %s", err.msg);
	ok(erase_str("x = (f :: any)(1)", out, &err) == 1 &&
	   strcmp(out, "x = (f       )(1)") == 0, "a parenthesised cast can be called");
	ok(erase_str("local v = x\nas.f = 1", out, &err) == 0, "'as' then '.': two statements");

	/* Numerals Lua calls malformed are refused, not passed on. */
	ok(erase_str("local a: integer = 3x", out, &err) == -1 && err.col == 20 &&
	   strcmp(err.msg, "malformed number near '3x'") == 0, "3x: %s", err.msg);
	ok(erase_str("x = 1..2", out, &err) == -1 && strstr(err.msg, "malformed number") != NULL,
	   "1..2: %s", err.msg);
	ok(erase_str("x = 0x", out, &err) == -1 && strstr(err.msg, "malformed number") != NULL,
	   "0x: %s", err.msg);
	ok(erase_str("x = 0x1p4 + .5 + 0x.8 + 1e5 + 3e-2 + 0xA", out, &err) == 0,
	   "every numeral form Lua reads");
	/* A lexical error is reported when the parser reaches it: an earlier
	** syntax error comes first, as with Lua's own lexer. */
	ok(erase_str("local a = f(y+) \"", out, &err) == -1 && err.col == 15 &&
	   strcmp(err.msg, "unexpected symbol near ')'") == 0,
	   "syntax error before an unfinished string: %d:%d %s", err.line, err.col, err.msg);
	ok(erase_str("x = 1 $", out, &err) == -1 && err.col == 7 &&
	   strcmp(err.msg, "unexpected symbol near '$'") == 0, "stray byte: %s", err.msg);
	ok(erase_str("local cb: (msg: string, n: integer) boolean = nil", out, &err) == -1 &&
	   err.col == 11 && strstr(err.msg, "only allowed as a return type") != NULL,
	   "named list without ->: %d:%d %s", err.line, err.col, err.msg);

	/* Nesting far past the limit is an error, never a stack overflow. */
	n = 100000;
	deep = malloc(n * 2 + 16);
	memcpy(deep, "x = ", 4);
	memset(deep + 4, '(', n);
	deep[4 + n] = '1';
	memset(deep + 5 + n, ')', n);
	deep[5 + 2 * n] = '\0';
	{
		char *o = malloc(n * 2 + 16);
		ok(erase_source(deep, strlen(deep), o, &err) == -1 &&
		   strstr(err.msg, "nested") != NULL, "100000 parentheses: %s", err.msg);
		memcpy(deep, "local t: ", 9);
		memset(deep + 9, '{', n);
		deep[9 + n] = '\0';
		ok(erase_source(deep, strlen(deep), o, &err) == -1,
		   "100000 nested table types: %s", err.msg);
		free(o);
	}
	free(deep);
}

int main(void)
{
	lua_State *L = luaL_newstate();
	int files = 0, bad = 0;

	find_corpus();
	corpus_cases(L);
	plain_tree(L, "test/lua", &files, &bad);
	plain_tree(L, "examples", &files, &bad);
	plain_tree(L, "test/fixtures", &files, &bad);
	ok(files > 20 && bad == 0, "%d plain Lua sources of the repository erase to themselves (%d differ)",
	   files, bad);
	edges();
	lua_close(L);
	return tap_done();
}
