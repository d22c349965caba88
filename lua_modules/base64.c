/*
** lua_modules/base64.c: require("base64") with the original runtime's API,
** encode(s) and decode(s), over the shared codec of base64.h.
**
** encode(s) returns the standard padded encoding (one value); decode(s)
** returns the bytes (one value) or nil, err: INVALID "string expected" for
** a non-string argument, and for bad input INVALID with Go's message
** "illegal base64 data at input byte N" in the wrap context "decode
** failed", as the original reports it. The empty
** string encodes and decodes to itself. Neither function raises on bad
** input.
**
** Thread affinity: none; the module has no state.
*/
#include "lua_modules/base64.h"

#include <lauxlib.h>
#include <string.h>

#include "lua_modules/lazylib.h"
#include "runtime/errors.h"

static const char std_abc[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_abc[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* {==== Codec ====} */

size_t base64_enclen(enum base64_kind k, size_t n)
{
	if (k == BASE64_STD)
		return (n + 2) / 3 * 4;
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t base64_encode(enum base64_kind k, const void *src, size_t n, char *dst)
{
	const char *abc = k == BASE64_STD ? std_abc : url_abc;
	const unsigned char *s = src;
	char *d = dst;
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		*d++ = abc[v >> 18 & 63];
		*d++ = abc[v >> 12 & 63];
		*d++ = abc[v >> 6 & 63];
		*d++ = abc[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		*d++ = abc[v >> 18 & 63];
		*d++ = abc[v >> 12 & 63];
		if (i + 1 < n)
			*d++ = abc[v >> 6 & 63];
		else if (k == BASE64_STD)
			*d++ = '=';
		if (k == BASE64_STD)
			*d++ = '=';
	}
	return (size_t)(d - dst);
}

/* The 6-bit value of c in abc, or -1. */
static int sextet(const char *abc, unsigned char c)
{
	const char *p;

	if (c == 0)
		return -1;
	p = memchr(abc, c, 64);
	return p ? (int)(p - abc) : -1;
}

static int is_nl(unsigned char c)
{
	return c == '\n' || c == '\r';
}

/*
** One quantum of up to four symbols from src[*si..n), Go's decodeQuantum:
** returns the bytes it yields (0..3), 0 with *si == n at a clean end, or
** -1 with *bad set. Padding ends the input: only newlines may follow it.
*/
static int quantum(enum base64_kind k, const char *src, size_t n, size_t *si,
		   unsigned char out[3], size_t *bad)
{
	const char *abc = k == BASE64_STD ? std_abc : url_abc;
	int pad = k == BASE64_STD;
	unsigned char d[4] = {0, 0, 0, 0};
	int j, len = 4;

	for (j = 0; j < 4; j++) {
		unsigned char c;
		int v;

		if (*si == n) {
			if (j == 0)
				return 0;
			if (j == 1 || pad) {
				*bad = *si - (size_t)j;
				return -1;
			}
			len = j;
			break;
		}
		c = (unsigned char)src[(*si)++];
		v = sextet(abc, c);
		if (v >= 0) {
			d[j] = (unsigned char)v;
			continue;
		}
		if (is_nl(c)) {
			j--;
			continue;
		}
		if (!pad || c != '=' || j < 2) {
			*bad = *si - 1;
			return -1;
		}
		if (j == 2) {
			/* "==" is due; the first '=' is consumed. */
			while (*si < n && is_nl((unsigned char)src[*si]))
				(*si)++;
			if (*si == n) {
				*bad = n;
				return -1;
			}
			if (src[*si] != '=') {
				*bad = *si - 1;
				return -1;
			}
			(*si)++;
		}
		while (*si < n && is_nl((unsigned char)src[*si]))
			(*si)++;
		if (*si < n) {
			*bad = *si;
			return -1;
		}
		len = j;
		break;
	}
	{
		unsigned v = (unsigned)d[0] << 18 | (unsigned)d[1] << 12 | (unsigned)d[2] << 6 | d[3];
		out[0] = (unsigned char)(v >> 16);
		out[1] = (unsigned char)(v >> 8);
		out[2] = (unsigned char)v;
	}
	return len - 1;
}

long base64_decode(enum base64_kind k, const char *src, size_t n, unsigned char *dst,
		   size_t *bad)
{
	size_t si = 0, dn = 0;

	while (si < n) {
		unsigned char q[3];
		int got = quantum(k, src, n, &si, q, bad);
		if (got < 0)
			return -1;
		memcpy(dst + dn, q, (size_t)got);
		dn += (size_t)got;
		if (got < 3)
			break;	/* padding or the raw tail ended the input */
	}
	return (long)dn;
}

/* }==== */

/* {==== Module ====} */

/* base64.encode(s) -> string | nil, err (INVALID for a non-string).
** [-0, +(1|2), m] */
static int b_encode(lua_State *L)
{
	size_t n;
	const char *s;
	luaL_Buffer b;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "string expected");
	s = lua_tolstring(L, 1, &n);
	base64_encode(BASE64_STD, s, n,
		      luaL_buffinitsize(L, &b, base64_enclen(BASE64_STD, n)));
	luaL_pushresultsize(&b, base64_enclen(BASE64_STD, n));
	return 1;
}

/* base64.decode(s) -> string | nil, err (INVALID: a non-string, or bad
** Base64 wrapped as "decode failed"). [-0, +(1|2), m] */
static int b_decode(lua_State *L)
{
	size_t n, bad = 0;
	const char *s;
	long dn;
	luaL_Buffer b;
	unsigned char *d;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "string expected");
	s = lua_tolstring(L, 1, &n);
	d = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 3);
	dn = base64_decode(BASE64_STD, s, n, d, &bad);
	if (dn < 0) {
		return errors_ret_wrapped(L, ERRORS_INVALID, "decode failed",
					  "illegal base64 data at input byte %I",
					  (lua_Integer)bad);
	}
	luaL_pushresultsize(&b, (size_t)dn);
	return 1;
}

static const luaL_Reg funcs[] = {
	{"encode", b_encode},
	{"decode", b_decode},
	{NULL, NULL}
};

int luaopen_base64(lua_State *L)
{
	lazylib_new(L, funcs);
	return 1;
}

/* }==== */
