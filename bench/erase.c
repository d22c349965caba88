/*
** bench/erase.c: throughput of the typed-Lua eraser against Lua's own
** compiler on the same sources, in the same run.
**
** Every source is erased (runtime/erase.c) and then compiled with
** luaL_loadbuffer at boot, so the figure that matters is what erasing adds
** to compiling. Two sets of sources, read from the repository:
**   typed   the eraser's conformance corpus (the .typed.lua files of
**           test/fixtures/typed-lua) and the typed examples (examples/)
**   plain   the Lua conformance app (the .lua files of test/lua/src)
** For each set, best of ROUNDS passes over all its files, each pass
** repeated until it has run at least MIN_NS:
**   erase   erase_source over every file
**   load    luaL_loadbuffer over every erased output (a fresh state per
**           pass, closed outside the timing)
** Output, one line per set:
**   erase typed: N files, B bytes: erase X MB/s, luaL_loadbuffer Y MB/s, erase/load = R
** R is the eraser's cost relative to compiling; well under 1 means erasing
** at load is cheap beside the compile it precedes. No assertions.
*/
#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/common.h"
#include "runtime/erase.h"

#define ROUNDS 5
#define MIN_NS 200000000LL
#define MAXFILES 1024

struct src { char *text, *out; size_t len; };
struct set { struct src f[MAXFILES]; int n; size_t bytes; };

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void add_file(struct set *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	struct src *x;
	struct erase_err err;
	if (f == NULL || s->n == MAXFILES)
		goto out;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	x = &s->f[s->n];
	x->text = xmalloc((size_t)n + 1);
	x->out = xmalloc((size_t)n + 1);
	x->len = fread(x->text, 1, (size_t)n, f);
	if (erase_source(x->text, x->len, x->out, &err) < 0) {
		free(x->text);
		free(x->out);
		goto out;
	}
	s->bytes += x->len;
	s->n++;
out:
	if (f)
		fclose(f);
}

/* Add every file under dir whose name ends in suffix (recursively). */
static void add_tree(struct set *s, const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			add_tree(s, path, suffix);
		else if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			add_file(s, path);
	}
	closedir(d);
}

static long long pass_erase(const struct set *s)
{
	struct erase_err err;
	long long t0 = now_ns();
	for (int i = 0; i < s->n; i++)
		erase_source(s->f[i].text, s->f[i].len, s->f[i].out, &err);
	return now_ns() - t0;
}

static long long pass_load(const struct set *s)
{
	lua_State *L = luaL_newstate();
	long long t0 = now_ns(), t;
	for (int i = 0; i < s->n; i++) {
		if (luaL_loadbufferx(L, s->f[i].out, s->f[i].len, "=bench", "t") != LUA_OK)
			fprintf(stderr, "bench/erase: %s\n", lua_tostring(L, -1));
		lua_settop(L, 0);
	}
	t = now_ns() - t0;
	lua_close(L);
	return t;
}

/* Best MB/s of ROUNDS, each round looping pass() for at least MIN_NS. */
static double best_mbs(const struct set *s, long long (*pass)(const struct set *))
{
	double best = 0;
	for (int r = 0; r < ROUNDS; r++) {
		long long ns = 0;
		long reps = 0;
		while (ns < MIN_NS) {
			ns += pass(s);
			reps++;
		}
		double mbs = (double)s->bytes * (double)reps / ((double)ns / 1e9) / 1e6;
		if (mbs > best)
			best = mbs;
	}
	return best;
}

static void report(const char *name, const struct set *s)
{
	double e, l;
	if (s->n == 0) {
		printf("erase %s: no sources found (run from the repository root)\n", name);
		return;
	}
	e = best_mbs(s, pass_erase);
	l = best_mbs(s, pass_load);
	printf("erase %s: %d files, %zu bytes: erase %.1f MB/s, luaL_loadbuffer %.1f MB/s, "
	       "erase/load = %.2f\n", name, s->n, s->bytes, e, l, l / e);
}

int main(void)
{
	static struct set typed, plain;
	add_tree(&typed, "test/fixtures/typed-lua", ".typed.lua");
	add_tree(&typed, "examples", ".lua");
	add_tree(&plain, "test/lua/src", ".lua");
	report("typed", &typed);
	report("plain", &plain);
	return 0;
}
