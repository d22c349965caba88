/*
** lua_modules/uuid.c: require("uuid"), generating and inspecting UUIDs
** (RFC 9562) with the original runtime's API: v1 v3 v4 v5 v7 validate
** version variant parse format.
**
** Every function returns `value, nil` or `nil, err` and never raises on
** bad input: wrong types and malformed strings give an INVALID error (not
** retryable) whose message is the original's ("input must be a string",
** "invalid UUID format", "namespace and name must be strings", "invalid
** namespace UUID", "unsupported format"). validate() is the exception: for
** anything that is not a valid UUID string it returns false, nil.
**
** Parsing accepts the four text forms the original accepts (Go's
** github.com/google/uuid Parse): 36 characters with dashes, the same
** wrapped in any two characters ("{...}"), "urn:uuid:" + 36 (prefix in any
** case), and 32 hex digits. Hex digits may be upper or lower case; output
** is always lower case, 8-4-4-4-12.
**
** libuuid (util-linux) makes v1 (time and node), v3 (MD5) and v5 (SHA-1),
** and v4 from the kernel's random source. v7 is made here: the 48-bit Unix
** time in milliseconds, a 12-bit sub-millisecond sequence, then 62 random
** bits. The 60-bit (ms, seq) pair is kept in one process-wide atomic and
** only moves forward, so v7 ids made anywhere in the runtime sort in the
** order they were made even when the clock steps back or many are made in
** one millisecond (the original's generator has the same guarantee).
**
** Thread affinity: none. The v7 counter is the module's only shared state.
*/
#include "lua_modules/modules.h"

#include <lauxlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

#include "runtime/errors.h"

/* 100 ns ticks between 1582-10-15 (the v1 epoch) and 1970-01-01. */
#define G1582_TICKS 122192928000000000LL

/* {==== Text forms ====} */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Two hex digits at s into *b; 0 on success. */
static int hexbyte(const char *s, unsigned char *b)
{
	int hi = hexval((unsigned char)s[0]), lo = hexval((unsigned char)s[1]);
	if (hi < 0 || lo < 0)
		return -1;
	*b = (unsigned char)(hi << 4 | lo);
	return 0;
}

/*
** Parse s[0..len) into u. Returns 0, or -1 when s is none of the accepted
** forms (see the file comment). Never reads past len.
*/
static int parse(const char *s, size_t len, unsigned char u[16])
{
	/* Where each byte's two digits start in the 36-character form. */
	static const unsigned char at[16] = {
		0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34
	};
	int i;

	if (len == 32) {
		for (i = 0; i < 16; i++)
			if (hexbyte(s + 2 * i, &u[i]) < 0)
				return -1;
		return 0;
	}
	if (len == 36 + 9) {
		if (strncasecmp(s, "urn:uuid:", 9) != 0)
			return -1;
		s += 9;
	} else if (len == 36 + 2) {
		s += 1;		/* the wrapping characters are not checked */
	} else if (len != 36) {
		return -1;
	}
	if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return -1;
	for (i = 0; i < 16; i++)
		if (hexbyte(s + at[i], &u[i]) < 0)
			return -1;
	return 0;
}

/* Push u in the standard form. [-0, +1, m] */
static void push_uuid(lua_State *L, const unsigned char u[16])
{
	char out[37];
	uuid_unparse_lower(u, out);
	lua_pushlstring(L, out, 36);
}

/* The variant's name, as the original reports it. */
static const char *variant_name(const unsigned char u[16])
{
	if ((u[8] & 0xc0) == 0x80)
		return "RFC4122";
	if ((u[8] & 0xe0) == 0xc0)
		return "Microsoft";
	if ((u[8] & 0xe0) == 0xe0)
		return "Future";
	return "Reserved";	/* 0xxx: the NCS-compatible variant */
}

/*
** The string argument at index 1 parsed into u, or an INVALID error pushed
** as `nil, err`: returns 0 on success, 2 (the results to return) on error.
** [-0, +0 | +2, m]
*/
static int check_uuid(lua_State *L, unsigned char u[16])
{
	size_t len;
	const char *s;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "input must be a string");
	s = lua_tolstring(L, 1, &len);
	if (parse(s, len, u) < 0)
		return errors_ret(L, ERRORS_INVALID, "invalid UUID format");
	return 0;
}

/* {==== Generators ====} */

/* uuid.v1() -> string, nil [-0, +2, m] */
static int u_v1(lua_State *L)
{
	unsigned char u[16];
	uuid_generate_time(u);
	push_uuid(L, u);
	lua_pushnil(L);
	return 2;
}

/* uuid.v4() -> string, nil [-0, +2, m] */
static int u_v4(lua_State *L)
{
	unsigned char u[16];
	uuid_generate_random(u);
	push_uuid(L, u);
	lua_pushnil(L);
	return 2;
}

/* v3 and v5: (namespace, name) -> string, nil | nil, err [-0, +2, m] */
static int named(lua_State *L, int sha1)
{
	unsigned char ns[16], u[16];
	size_t len, nlen;
	const char *s, *name;

	if (lua_gettop(L) < 2 || lua_type(L, 1) != LUA_TSTRING ||
	    lua_type(L, 2) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "namespace and name must be strings");
	s = lua_tolstring(L, 1, &len);
	if (parse(s, len, ns) < 0)
		return errors_ret(L, ERRORS_INVALID, "invalid namespace UUID");
	name = lua_tolstring(L, 2, &nlen);
	if (sha1)
		uuid_generate_sha1(u, ns, name, nlen);
	else
		uuid_generate_md5(u, ns, name, nlen);
	push_uuid(L, u);
	lua_pushnil(L);
	return 2;
}

static int u_v3(lua_State *L) { return named(L, 0); }
static int u_v5(lua_State *L) { return named(L, 1); }

/* (ms << 12 | seq) of the last v7 made by this runtime. */
static _Atomic uint64_t last_v7;

/*
** The next (ms << 12 | seq) for v7: the clock's milliseconds with the
** sub-millisecond fraction in 12 bits, or one past the last value handed
** out when the clock has not moved past it.
*/
static uint64_t v7_stamp(void)
{
	struct timespec ts;
	uint64_t now, last;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 12 |
	      (uint64_t)(ts.tv_nsec % 1000000) * 4096 / 1000000;
	last = atomic_load_explicit(&last_v7, memory_order_relaxed);
	for (;;) {
		uint64_t next = now > last ? now : last + 1;
		/* Relaxed is enough: only this word's own order matters. */
		if (atomic_compare_exchange_weak_explicit(&last_v7, &last, next,
				memory_order_relaxed, memory_order_relaxed))
			return next;
	}
}

/* uuid.v7() -> string, nil | nil, err [-0, +2, m] */
static int u_v7(lua_State *L)
{
	unsigned char u[16];
	uint64_t st, ms;
	ssize_t got = getrandom(u + 8, 8, 0);

	if (got != 8)
		return errors_ret(L, ERRORS_INTERNAL, "v7 generation failed: "
				  "no random bytes");
	st = v7_stamp();
	ms = st >> 12;
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | ((st >> 8) & 0x0f));
	u[7] = (unsigned char)st;
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	push_uuid(L, u);
	lua_pushnil(L);
	return 2;
}

/* {==== Inspection ====} */

/* uuid.validate(s) -> boolean, nil; false for non-strings. [-0, +2, -] */
static int u_validate(lua_State *L)
{
	unsigned char u[16];
	size_t len;
	const char *s;

	if (lua_type(L, 1) != LUA_TSTRING) {
		lua_pushboolean(L, 0);
	} else {
		s = lua_tolstring(L, 1, &len);
		lua_pushboolean(L, parse(s, len, u) == 0);
	}
	lua_pushnil(L);
	return 2;
}

/* uuid.version(s) -> integer, nil | nil, err [-0, +2, m] */
static int u_version(lua_State *L)
{
	unsigned char u[16];
	int r = check_uuid(L, u);
	if (r)
		return r;
	lua_pushinteger(L, u[6] >> 4);
	lua_pushnil(L);
	return 2;
}

/* uuid.variant(s) -> string, nil | nil, err [-0, +2, m] */
static int u_variant(lua_State *L)
{
	unsigned char u[16];
	int r = check_uuid(L, u);
	if (r)
		return r;
	lua_pushstring(L, variant_name(u));
	lua_pushnil(L);
	return 2;
}

/* Whole seconds since 1970 of a count of 100 ns ticks since 1582,
** truncated toward zero as the original's integer division does. */
static lua_Integer unix_seconds(int64_t ticks)
{
	return (lua_Integer)((ticks - G1582_TICKS) / 10000000);
}

/*
** uuid.parse(s) -> {version, variant [, timestamp [, node]]}, nil
** | nil, err. timestamp (Unix seconds) is there for v1 and v7; node, for
** v1, is the 6 raw node bytes as the original gives them. [-0, +2, m]
*/
static int u_parse(lua_State *L)
{
	unsigned char u[16];
	int r = check_uuid(L, u), ver;
	if (r)
		return r;
	ver = u[6] >> 4;
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, ver);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, variant_name(u));
	lua_setfield(L, -2, "variant");
	if (ver == 1) {
		int64_t t = (int64_t)((uint64_t)u[0] << 24 | (uint64_t)u[1] << 16 |
				      (uint64_t)u[2] << 8 | u[3]);
		t |= (int64_t)((uint64_t)u[4] << 8 | u[5]) << 32;
		t |= (int64_t)(((uint64_t)u[6] << 8 | u[7]) & 0xfff) << 48;
		lua_pushinteger(L, unix_seconds(t));
		lua_setfield(L, -2, "timestamp");
		lua_pushlstring(L, (const char *)u + 10, 6);
		lua_setfield(L, -2, "node");
	} else if (ver == 7) {
		uint64_t ms = 0;
		for (int i = 0; i < 6; i++)
			ms = ms << 8 | u[i];
		lua_pushinteger(L, unix_seconds((int64_t)(ms * 10000) + G1582_TICKS));
		lua_setfield(L, -2, "timestamp");
	}
	lua_pushnil(L);
	return 2;
}

/*
** uuid.format(s [, form]) -> string, nil | nil, err. form is "standard"
** (also when it is not a string), "simple" (no dashes) or "urn". The UUID
** is checked before the form, as in the original. [-0, +2, m]
*/
static int u_format(lua_State *L)
{
	unsigned char u[16];
	char out[46];
	const char *form = "standard";
	int r;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "input must be a string");
	if (lua_type(L, 2) == LUA_TSTRING)
		form = lua_tostring(L, 2);
	if ((r = check_uuid(L, u)) != 0)
		return r;
	if (strcmp(form, "standard") == 0) {
		push_uuid(L, u);
	} else if (strcmp(form, "urn") == 0) {
		memcpy(out, "urn:uuid:", 9);
		uuid_unparse_lower(u, out + 9);
		lua_pushlstring(L, out, 45);
	} else if (strcmp(form, "simple") == 0) {
		static const char hex[] = "0123456789abcdef";
		for (int i = 0; i < 16; i++) {
			out[2 * i] = hex[u[i] >> 4];
			out[2 * i + 1] = hex[u[i] & 15];
		}
		lua_pushlstring(L, out, 32);
	} else {
		return errors_ret(L, ERRORS_INVALID, "unsupported format");
	}
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg funcs[] = {
	{"v1", u_v1},
	{"v3", u_v3},
	{"v4", u_v4},
	{"v5", u_v5},
	{"v7", u_v7},
	{"validate", u_validate},
	{"version", u_version},
	{"variant", u_variant},
	{"parse", u_parse},
	{"format", u_format},
	{NULL, NULL}
};

int luaopen_uuid(lua_State *L)
{
	luaL_newlib(L, funcs);
	return 1;
}
