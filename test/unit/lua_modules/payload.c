/*
** test/unit/lua_modules/payload.c: the transcoders of lua_modules/payload.c.
**
** Includes the .c to reach its statics: Go's float rendering, the exact
** YAML and MessagePack bytes of known values, YAML scalar resolution, and
** the MessagePack decoder on every truncation of a valid encoding and on
** random bytes (it must fail cleanly, never read past the end or crash).
*/
#include "lua_modules/payload.c"
#include "lua_modules/errors.h"

#include <lualib.h>

#include "tap.h"

static void gofloat_is(double d, const char *want)
{
	char buf[64];
	gofloat(buf, sizeof(buf), d);
	ok(strcmp(buf, want) == 0, "gofloat(%.17g) = %s (got %s)", d, want, buf);
}

/* Run a chunk that leaves one value, then the encoder; compare bytes. */
static void encodes(lua_State *L, const char *chunk, int (*enc)(lua_State *, int),
		    const char *want, size_t wantlen, const char *name)
{
	size_t len;
	const char *s;
	int r;
	if (luaL_dostring(L, chunk) != LUA_OK) {
		ok(0, "%s: %s", name, lua_tostring(L, -1));
		lua_settop(L, 0);
		return;
	}
	r = enc(L, 1);
	s = lua_tolstring(L, -1, &len);
	ok(r == 0 && len == wantlen && memcmp(s, want, len) == 0, "%s", name);
	if (!(r == 0 && len == wantlen && memcmp(s, want, len) == 0))
		printf("# got [%s]\n", s ? s : "(null)");
	lua_settop(L, 0);
}

#define ENC(chunk, enc, lit, name) encodes(L, chunk, enc, lit, sizeof(lit) - 1, name)

static void resolves(lua_State *L, const char *text, int type, const char *want)
{
	yaml_resolve(L, text, strlen(text));
	int good = lua_type(L, -1) == type;
	if (good && want) {
		lua_pushstring(L, want);
		if (type == LUA_TNUMBER)
			lua_pushnumber(L, lua_tonumber(L, -1)), lua_remove(L, -2);
		good = lua_rawequal(L, -1, -2);
		lua_pop(L, 1);
	}
	ok(good, "yaml %s resolves to %s %s", text, lua_typename(L, type), want ? want : "");
	lua_settop(L, 0);
}

static int mp_fails(lua_State *L, const char *s, size_t len)
{
	int top = lua_gettop(L);
	int r = from_msgpack(L, s, len);
	int good = r < 0 && lua_gettop(L) == top + 1 && lua_isstring(L, -1);
	lua_settop(L, top);
	return good;
}

int main(void)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	errors_luaopen(L);
	lua_settop(L, 0);

	gofloat_is(3.0, "3");
	gofloat_is(0.5, "0.5");
	gofloat_is(123.456, "123.456");
	gofloat_is(100000.0, "100000");
	gofloat_is(1e6, "1e+06");
	gofloat_is(1234567.0, "1.234567e+06");
	gofloat_is(0.0001, "0.0001");
	gofloat_is(0.00001, "1e-05");
	gofloat_is(0.1 + 0.2, "0.30000000000000004");
	gofloat_is(-2.5, "-2.5");
	gofloat_is(1.0 / 0.0, "+Inf");
	gofloat_is(-1.0 / 0.0, "-Inf");
	gofloat_is(0.0 / 0.0, "NaN");

	ENC("return {name='test', n=3, s='123', list={1,'two'}, nested={ok=true}}", to_yaml, "list:\n    - 1\n    - two\n\"n\": 3\nname: test\nnested:\n    ok: true\ns: \"123\"\n", "yaml of a nested table");
	ENC("return 'plain'", to_yaml, "plain\n", "yaml scalar document");
	ENC("return {{a=1},{}, 'x: y', 'true', '', 1.5, 0/0}", to_yaml, "-\n    a: 1\n- {}\n- \"x: y\"\n- \"true\"\n- \"\"\n- 1.5\n- .nan\n", "yaml sequence with maps and quoted strings");
	ENC("return 'a\\nb\\1'", to_yaml, "\"a\\nb\\x01\"\n", "yaml escapes");

	ENC("return {1,2}", to_msgpack, "\x92\x01\x02", "msgpack fixarray");
	ENC("return {a=-1}", to_msgpack, "\x81\xa1" "a" "\xff", "msgpack fixmap");
	ENC("return {200, -100, 70000, -40000, 2^53|0, 1.5, false}", to_msgpack, "\x97\xcc\xc8\xd0\x9c\xce\x00\x01\x11\x70\xd2\xff\xff\x63\xc0"
		"\xcf\x00\x20\x00\x00\x00\x00\x00\x00\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xc2", "msgpack integer widths, float64, false");
	ENC("return string.rep('x', 40)", to_msgpack, "\xd9\x28xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "msgpack str8");
	ENC("return {}", to_msgpack, "\x80", "msgpack empty table is a map");

	resolves(L, "~", LUA_TNIL, NULL);
	resolves(L, "", LUA_TNIL, NULL);
	resolves(L, "True", LUA_TBOOLEAN, NULL);
	resolves(L, "42", LUA_TNUMBER, "42");
	resolves(L, "-7", LUA_TNUMBER, "-7");
	resolves(L, "0x1f", LUA_TNUMBER, "31");
	resolves(L, "0o17", LUA_TNUMBER, "15");
	resolves(L, "2.5e3", LUA_TNUMBER, "2500");
	resolves(L, ".5", LUA_TNUMBER, "0.5");
	resolves(L, "-.inf", LUA_TNUMBER, "-1e999");
	resolves(L, "1.2.3", LUA_TSTRING, "1.2.3");
	resolves(L, "0x", LUA_TSTRING, "0x");
	resolves(L, "0x-1", LUA_TSTRING, "0x-1");
	resolves(L, "1e", LUA_TSTRING, "1e");
	resolves(L, "inf", LUA_TSTRING, "inf");
	resolves(L, "99999999999999999999", LUA_TNUMBER, "1e20");

	/* Every proper prefix of a valid encoding must fail cleanly. */
	{
		size_t len;
		const char *s;
		int good = 1;
		(void)luaL_dostring(L, "return {a={1,2,{b='xyz',c=1.5}}, d=string.rep('q',300), e={-1, 70000, true}}");
		to_msgpack(L, 1);
		s = lua_tolstring(L, -1, &len);
		for (size_t i = 0; i < len; i++)
			good &= mp_fails(L, s, i);
		ok(good, "every truncation of a %zu-byte msgpack value fails", len);
		ok(from_msgpack(L, s, len) == 0 && lua_istable(L, -1), "the whole value decodes");
		lua_settop(L, 0);
	}
	/* Random bytes: decode or fail, never crash; stack stays balanced. */
	{
		unsigned seed = 12345;
		int balanced = 1;
		char buf[64];
		for (int n = 0; n < 20000; n++) {
			size_t len = (size_t)(n % 64);
			int top = lua_gettop(L);
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				buf[i] = (char)(seed >> 16);
			}
			from_msgpack(L, buf, len);
			balanced &= lua_gettop(L) == top + 1;
			lua_settop(L, top);
		}
		ok(balanced, "20000 random inputs: one result each");
	}
	/* YAML nesting past MAXDEPTH is refused, not a C stack overflow. */
	{
		luaL_Buffer b;
		luaL_buffinit(L, &b);
		for (int i = 0; i < 1000; i++)
			luaL_addchar(&b, '[');
		luaL_pushresult(&b);
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		ok(from_yaml(L, s, len) < 0, "1000 nested flow sequences fail");
		lua_settop(L, 0);
		const char *deep = "a: &x [1]\nb: *x\n";
		ok(from_yaml(L, deep, strlen(deep)) == 0 && lua_istable(L, -1), "aliases resolve");
		lua_settop(L, 0);
	}
	lua_close(L);
	return tap_done();
}
