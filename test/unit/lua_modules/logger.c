/*
** test/unit/lua_modules/logger.c: the Lua `logger` module and `print`.
**
** Lua snippets run in a plain state with the logger as a global; the log
** goes to a memfd with a fixed clock so lines can be compared exactly. Where
** several fields come from one Lua table (hash order), the checks look for
** each field instead of the whole line.
*/
#include "lua_modules/logger.c"
#include "lua_modules/errors.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lualib.h>

#include "tap.h"

#define TS "2026-11-22T10:15:30.123Z"

static uint64_t fixed_clock(void) { return 1795342530123ull; }

static int cap_fd = -1;
static char cap_buf[1 << 18];
static size_t allocs;		/* allocator calls that get memory */

static void *counting_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
	(void)ud;
	if (nsize == 0) {
		free(p);
		return NULL;
	}
	if (p == NULL || nsize > osize)
		allocs++;
	return realloc(p, nsize);
}

static void capture(enum log_level min, enum log_format f)
{
	if (cap_fd < 0)
		cap_fd = memfd_create("log", 0);
	ftruncate(cap_fd, 0);
	lseek(cap_fd, 0, SEEK_SET);
	log_configure(min, f, cap_fd);
}

/* Flush, return the output so far and start over. */
static const char *take(void)
{
	ssize_t n;

	log_flush();
	n = pread(cap_fd, cap_buf, sizeof cap_buf - 1, 0);
	cap_buf[n > 0 ? n : 0] = '\0';
	ftruncate(cap_fd, 0);
	lseek(cap_fd, 0, SEEK_SET);
	return cap_buf;
}

/* Run a chunk; returns NULL or the error message (valid until next run). */
static const char *run(lua_State *L, const char *code)
{
	static char err[512];

	if (luaL_dostring(L, code) != LUA_OK) {
		snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
		return err;
	}
	lua_settop(L, 0);
	return NULL;
}

/* Run a chunk that must succeed, then return the log output. */
static const char *out(lua_State *L, const char *code)
{
	const char *e = run(L, code);

	if (e)
		printf("# unexpected error: %s\n", e);
	return take();
}

static int expect(const char *got, const char *want, const char *what)
{
	int same = strcmp(got, want) == 0;

	ok(same, "%s", what);
	if (!same)
		printf("#  got: %s#  want: %s", got, want);
	return same;
}

/* s with newlines shown as '|', for TAP descriptions (one line each). */
static const char *chomp(const char *s)
{
	static char b[1024];
	size_t i;

	for (i = 0; s[i] && i < sizeof b - 1; i++)
		b[i] = s[i] == '\n' ? '|' : s[i];
	b[i] = '\0';
	return b;
}

static int has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

static int count(const char *s, const char *sub)
{
	int n = 0;

	while ((s = strstr(s, sub)) != NULL) {
		n++;
		s += strlen(sub);
	}
	return n;
}

/* mkerr(msg): a stand-in error object, userdata with metatable
** "wippy.error" whose __tostring returns msg (as lua_modules/errors.c). */
static int err_tostring(lua_State *L)
{
	lua_getiuservalue(L, 1, 1);
	return 1;
}

static int mkerr(lua_State *L)
{
	luaL_checkstring(L, 1);
	lua_newuserdatauv(L, 0, 1);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	if (luaL_newmetatable(L, "wippy.error")) {
		lua_pushcfunction(L, err_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_setmetatable(L, -2);
	return 1;
}

static lua_State *newstate(void)
{
	lua_State *L = lua_newstate(counting_alloc, NULL);

	luaL_openlibs(L);
	luaL_requiref(L, "logger", luaopen_logger, 1);
	lua_pop(L, 1);
	luaL_requiref(L, "errors", errors_luaopen, 1);
	lua_pop(L, 1);
	lua_pushcfunction(L, logger_print);
	lua_setglobal(L, "print");
	lua_pushcfunction(L, mkerr);
	lua_setglobal(L, "mkerr");
	return L;
}

static void test_methods(lua_State *L)
{
	const char *s;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	expect(out(L, "logger:info('hello')"), TS " INFO  hello\n",
	       "logger:info(msg) on the module table");
	expect(out(L, "logger:info('stats', {alive = 10000})"),
	       TS " INFO  stats                {\"alive\": 10000}\n",
	       "logger:info(msg, fields)");
	expect(out(L, "logger:debug('hidden'); logger:warn('w', {}); logger:error('e', {x = 0.5})"),
	       TS " WARN  w\n" TS " ERROR e                    {\"x\": 0.5}\n",
	       "debug is off at INFO; warn and error written");
	capture(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	expect(out(L, "logger:debug('d', nil)"), TS " DEBUG d\n", "debug at DEBUG");
	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);

	s = run(L, "assert(select('#', logger:info('x')) == 0)"
		   "assert(select('#', logger:debug('x')) == 0)"
		   "assert(select('#', logger:named('n'):warn('x')) == 0)");
	ok(s == NULL, "methods return nothing (%s)", s ? s : "");
	take();

	expect(out(L, "logger:info(42)"), TS " INFO  42\n", "a number message is printed");

	s = run(L, "logger.info('x')");
	ok(s && has(s, "logger.info") && has(s, "':'") && has(s, "string"),
	   "logger.info('x') fails clearly: %s", s ? s : "(no error)");
	s = run(L, "local c = logger:named('a'); c.warn('x')");
	ok(s && has(s, "logger.warn") && has(s, "':'"),
	   "child.warn('x') fails too: %s", s ? s : "(no error)");
	s = run(L, "logger.with({})");
	ok(s && has(s, "logger.with"), "logger.with({}) fails: %s", s ? s : "(no error)");
	s = run(L, "logger:info('x', 'notatable')");
	ok(s && has(s, "table expected"), "non-table fields rejected: %s", s ? s : "(no error)");
	s = run(L, "logger:info()");
	ok(s && has(s, "string expected"), "missing message rejected: %s", s ? s : "(no error)");
	s = run(L, "logger:named('')");
	ok(s && has(s, "name cannot be empty"), "named('') fails: %s", s ? s : "(no error)");
	s = run(L, "logger:named('a'):named('')");
	ok(s && has(s, "name cannot be empty"), "child:named('') fails: %s", s ? s : "(no error)");
	ok(strcmp(take(), "") == 0, "failed calls logged nothing");
}

static void test_children(lua_State *L)
{
	const char *s;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	expect(out(L, "logger:named('a'):named('b'):info('m')"),
	       TS " INFO  m                    {\"logger\": \"a.b\"}\n",
	       "named names nest with dots");
	expect(out(L, "local c = logger:named('svc'); c:named('x'); c:info('m')"),
	       TS " INFO  m                    {\"logger\": \"svc\"}\n",
	       "a parent keeps its own name");
	expect(out(L, "assert(tostring(logger:named('a'):named('b')) == 'Logger(a.b)')"
		      "assert(tostring(logger:with({})) == 'Logger')"), "",
	       "tostring of child loggers");

	capture(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	s = out(L, "local l = logger:with({a = 1, b = 2})\n"
		   "local c = l:with({b = 3, c = 4})\n"
		   "c:info('child', {c = 5})\n"
		   "l:info('parent')\n");
	{
		const char *nl = strchr(s, '\n');
		char first[512] = "", second[512] = "";

		if (nl) {
			snprintf(first, sizeof first, "%.*s", (int)(nl - s), s);
			snprintf(second, sizeof second, "%s", nl + 1);
		}
		ok(has(first, "\"msg\":\"child\"") && has(first, "\"a\":1") &&
		   has(first, "\"b\":3") && has(first, "\"c\":5") &&
		   !has(first, "\"c\":4") && !has(first, "\"b\":2") &&
		   count(first, "\":") == 6,
		   "with: fields merged, child and call override (%s)", chomp(first));
		ok(has(second, "\"a\":1") && has(second, "\"b\":2") &&
		   count(second, "\":") == 5,
		   "with: the parent is unchanged (%s)", chomp(second));
	}
	s = out(L, "logger:named('svc'):with({k = 'v'}):named('sub'):info('x')");
	ok(strcmp(s, "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"x\",\"k\":\"v\",\"logger\":\"svc.sub\"}\n") == 0,
	   "named and with chain: %s", chomp(s));
	s = out(L, "logger:named('n'):info('x', {logger = 'mine'})");
	ok(count(s, "\"logger\"") == 1 && has(s, "\"logger\":\"mine\""),
	   "a call field named logger overrides the name: %s", chomp(s));
	s = out(L, "logger:with({1, 2, [true] = 1, k = 'v'}):info('x', {3, n = 1})");
	ok(strcmp(s, "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"x\",\"n\":1,\"k\":\"v\"}\n") == 0,
	   "non-string top-level keys are skipped: %s", chomp(s));
	s = out(L, "logger:with(nil):with():info('x')");
	ok(strcmp(s, "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"x\"}\n") == 0,
	   "with(nil) gives a plain child: %s", chomp(s));
}

static void test_values(lua_State *L)
{
	const char *s;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	expect(out(L, "logger:info('m', {t = {1, 2, {x = 'y'}, {}, true}})"),
	       TS " INFO  m                    {\"t\": [1, 2, {\"x\": \"y\"}, [], true]}\n",
	       "nested arrays and objects; empty table is []");
	s = out(L, "logger:info('m', {f = 1.5}) logger:info('m', {i = -7})"
		   "logger:info('m', {g = 2^53}) logger:info('m', {s = 'q\"\\n'})"
		   "logger:info('m', {n = 0/0}) logger:info('m', {b = false})");
	expect(s,
	       TS " INFO  m                    {\"f\": 1.5}\n"
	       TS " INFO  m                    {\"i\": -7}\n"
	       TS " INFO  m                    {\"g\": 9.007199254741e+15}\n"
	       TS " INFO  m                    {\"s\": \"q\\\"\\n\"}\n"
	       TS " INFO  m                    {\"n\": null}\n"
	       TS " INFO  m                    {\"b\": false}\n",
	       "numbers, strings, NaN and booleans");
	s = out(L, "logger:info('m', {o = {1, 2, x = 3}})");
	ok(has(s, "{\"o\": {") && has(s, "\"1\": 1") && has(s, "\"2\": 2") &&
	   has(s, "\"x\": 3"), "a mixed table is an object with string keys: %s", chomp(s));
	expect(out(L, "local t = {} t.self = t logger:info('m', {t = t})"),
	       TS " INFO  m                    {\"t\": {\"self\": \"<cycle>\"}}\n",
	       "cycles are cut");
	s = out(L, "local t = {} local c = t for i = 1, 20 do c.d = {} c = c.d end "
		   "logger:info('m', {t = t})");
	ok(count(s, "\"d\": {") == LOGGER_MAX_DEPTH - 1 && has(s, "\"<max depth>\"") &&
	   strchr(s, '\n') == s + strlen(s) - 1,
	   "nesting is capped at LOGGER_MAX_DEPTH");
	expect(out(L, "logger:error('spawn failed', {error = mkerr('boom')})"),
	       TS " ERROR spawn failed         {\"error\": \"boom\"}\n",
	       "an error object under `error` is its message");
	expect(out(L, "logger:info('m', {cause = mkerr('deep')})"),
	       TS " INFO  m                    {\"cause\": \"deep\"}\n",
	       "an error object under any key is its message");
	expect(out(L, "logger:info('m', {t = setmetatable({}, {__tostring = function() return 'T!' end})})"),
	       TS " INFO  m                    {\"t\": \"T!\"}\n",
	       "a table with __tostring prints as its tostring");
	s = out(L, "logger:info('m', {f = print, co = coroutine.create(print)})");
	ok(has(s, "\"f\": \"builtin: 0x") || has(s, "\"f\": \"function: "),
	   "a function prints as tostring: %s", chomp(s));
	ok(has(s, "\"co\": \"thread: "), "a coroutine prints as tostring");
}

static void test_protected(lua_State *L)
{
	const char *s;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	s = run(L, "local bad = setmetatable({}, {__tostring = function() error('tostring failed') end})\n"
		   "logger:info('m', {a = 1, bad = bad})");
	ok(s && has(s, "tostring failed"), "an error in __tostring reaches the caller: %s",
	   s ? s : "(none)");
	expect(out(L, "logger:info('after')"), TS " INFO  after\n",
	       "the failed record left nothing behind");

	expect(out(L, "local v = setmetatable({}, {__tostring = function() logger:warn('inner', {k = 1}) return 'V' end})\n"
		      "logger:info('outer', {v = v})"),
	       TS " WARN  inner                {\"k\": 1}\n"
	       TS " INFO  outer                {\"v\": \"V\"}\n",
	       "a __tostring that logs: both records whole, inner first");

	s = run(L, "local v = setmetatable({}, {__tostring = function() coroutine.yield() end})\n"
		   "local co = coroutine.wrap(function() logger:info('m', {v = v}) end) co()");
	ok(s && has(s, "yield"), "a __tostring that yields fails cleanly: %s", s ? s : "(none)");
	expect(out(L, "logger:info('ok')"), TS " INFO  ok\n", "and logging still works");
}

static void test_pid(lua_State *L)
{
	const char *s;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	lua_pushliteral(L, "{app:processes|0x00001}");
	lua_setfield(L, LUA_REGISTRYINDEX, LOGGER_PID_KEY);
	expect(out(L, "logger:info('x')"),
	       TS " INFO  x                    {\"pid\": \"{app:processes|0x00001}\"}\n",
	       "pid comes from the registry");
	expect(out(L, "logger:named('n'):info('x', {a = 1})"),
	       TS " INFO  x                    {\"a\": 1, \"logger\": \"n\", \"pid\": \"{app:processes|0x00001}\"}\n",
	       "field order: call fields, logger, pid");
	s = out(L, "logger:info('x', {pid = 'mine'})");
	ok(count(s, "\"pid\"") == 1 && has(s, "\"pid\": \"mine\""),
	   "a user field pid overrides: %s", chomp(s));
	s = out(L, "logger:with({pid = 7}):info('x')");
	ok(count(s, "\"pid\"") == 1 && has(s, "\"pid\": 7"),
	   "a with field pid overrides: %s", chomp(s));
	expect(out(L, "print('a', 1, 'b c', 2.5)"),
	       TS " INFO  a 1 b c 2.5          {\"pid\": \"{app:processes|0x00001}\"}\n",
	       "print joins with single spaces, logs at INFO with pid");
	lua_pushnil(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LOGGER_PID_KEY);
	expect(out(L, "print('a', nil, true, {}, print, 'z')"),
	       TS " INFO  a     z\n",
	       "nil, booleans, tables and functions print as empty strings");
	expect(out(L, "print() print(setmetatable({}, {__tostring = function() return 'obj' end}))"),
	       TS " INFO  \n" TS " INFO  \n", "print with no args; __tostring is not used");
	expect(out(L, "print('e:', errors.new('boom'))"), TS " INFO  e: boom\n",
	       "an error object prints as its message");
	s = run(L, "print(setmetatable({}, {__tostring = function() error('bad') end}))");
	ok(s == NULL, "a raising __tostring is never called");
	(void)take();
	capture(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	expect(out(L, "print('quiet')"), "", "print is INFO: hidden at WARN");
}

/* Once warm, a log call allocates nothing in the Lua state. */
static void test_no_alloc(lua_State *L)
{
	size_t before;
	int i;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	lua_pushliteral(L, "{app:processes|0x00001}");
	lua_setfield(L, LUA_REGISTRYINDEX, LOGGER_PID_KEY);
	run(L, "L1 = logger:named('svc'):with({a = 1})\n"
	       "F = {n = 1, s = 'str', t = {1, 2, {x = true}}, e = mkerr('e')}");
	lua_getglobal(L, "L1");				/* 1 */
	lua_getfield(L, 1, "info");			/* 2 */
	lua_getglobal(L, "F");				/* 3 */
	for (i = 0; i < 10; i++) {			/* warm up */
		lua_pushvalue(L, 2);
		lua_pushvalue(L, 1);
		lua_pushliteral(L, "hot");
		lua_pushvalue(L, 3);
		lua_call(L, 3, 0);
	}
	before = allocs;
	for (i = 0; i < 1000; i++) {
		lua_pushvalue(L, 2);
		lua_pushvalue(L, 1);
		lua_pushliteral(L, "hot");
		lua_pushvalue(L, 3);
		lua_call(L, 3, 0);
	}
	ok(allocs == before, "1000 logger:info calls: %zu Lua allocations",
	   allocs - before);
	capture(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	before = allocs;
	for (i = 0; i < 1000; i++) {
		lua_pushvalue(L, 2);
		lua_pushvalue(L, 1);
		lua_pushliteral(L, "hot");
		lua_pushvalue(L, 3);
		lua_call(L, 3, 0);
	}
	ok(allocs == before, "disabled level: %zu Lua allocations", allocs - before);
	lua_settop(L, 0);
	take();
}

int main(void)
{
	lua_State *L;

	log_set_clock(fixed_clock);
	L = newstate();
	test_methods(L);
	test_children(L);
	test_values(L);
	test_protected(L);
	test_pid(L);
	test_no_alloc(L);
	lua_close(L);
	log_thread_exit();
	close(cap_fd);
	return tap_done();
}
