/*
** lua_modules/json.c: JSON encoder and decoder for Lua values.
**
** The encoder walks the value with raw accesses only, so no Lua code runs
** while it works: tables cannot change under it, which is what allows it to
** keep pointers to key strings while sorting object keys. Output goes to a
** scratch array on the C stack and, once that is full, to a userdata "box"
** kept in one reserved stack slot (the luaL_Buffer technique, but at a fixed
** index, because the walk itself pushes keys and values above it). A memory
** error therefore leaks nothing: the box is garbage like any other value.
** Encoding errors are reported by return value, never raised.
**
** The decoder is a recursive-descent parser over (pointer, end) that never
** reads past end, so it accepts buffers that are not NUL-terminated. Strings
** without escapes are pushed straight from the input; escaped ones are
** unescaped into a luaL_Buffer sized from the input span, which bounds the
** output. Both directions stop at JSON_MAXDEPTH and check the Lua stack at
** each level.
**
** Thread affinity: none; all state is per call.
*/
#include "lua_modules/json.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/errors.h"

/* {======================================================================
** Encoder
** ======================================================================= */

#define ENC_SCRATCH 1024        /* output bytes held on the C stack */
#define ENC_LOCALKEYS 16        /* object keys sorted without allocating */

struct enc {
	lua_State *L;
	char *p;                /* output: scratch, or the box at `box` */
	size_t n, cap;
	int box;                /* absolute index of the reserved box slot */
	int depth;              /* tables currently open */
	const char *err;        /* static message once encoding failed */
	const void *path[JSON_MAXDEPTH];        /* open tables, for cycles */
	char scratch[ENC_SCRATCH];
};

struct key {
	const char *s;          /* key string, anchored by the table */
	size_t n;
	size_t off, len;        /* its member's span in the output */
};

/*
** Make room for `need` more bytes: copy the output into a new, larger box
** userdata and store it in the reserved slot, where it replaces (and
** releases) the previous one. [-0, +0, m]
*/
static void grow(struct enc *e, size_t need)
{
	size_t cap = e->cap * 2;
	char *nb;

	if (cap < e->n + need)
		cap = e->n + need;
	nb = lua_newuserdatauv(e->L, cap, 0);
	memcpy(nb, e->p, e->n);
	lua_replace(e->L, e->box);
	e->p = nb;
	e->cap = cap;
}

static inline char *reserve(struct enc *e, size_t need)
{
	if (unlikely(e->cap - e->n < need))
		grow(e, need);
	return e->p + e->n;
}

static inline void put(struct enc *e, const char *s, size_t n)
{
	memcpy(reserve(e, n), s, n);
	e->n += n;
}

static inline void putch(struct enc *e, char c)
{
	*reserve(e, 1) = c;
	e->n++;
}

#define putlit(e, s) put((e), "" s, sizeof(s) - 1)

static void putint(struct enc *e, lua_Integer v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	/* Negate in unsigned arithmetic so that LUA_MININTEGER works. */
	lua_Unsigned u = v < 0 ? 0u - (lua_Unsigned)v : (lua_Unsigned)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	put(e, q, (size_t)(tmp + sizeof tmp - q));
}

/*
** The shortest decimal digits that read back as d (d finite, not 0):
** writes them to dig without sign or point and returns their count, with
** the decimal exponent of the first digit in *exp (d = 0.DIG * 10^(exp+1)).
*/
static int shortest(double d, char *dig, int *exp)
{
	char tmp[40], *p, *q;
	int prec, n = 0;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
		if (prec == 17 || strtod(tmp, NULL) == d)
			break;
	}
	for (p = tmp; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			dig[n++] = *p;
	*exp = (int)strtol(p + 1, NULL, 10);
	for (q = dig + n; n > 1 && q[-1] == '0'; q--)
		n--;
	return n;
}

/*
** Floats as the original writes them (Go's strconv with precision -1, the
** shortest digits that read back). Inside a table (nested) an integral
** value within the int64 range is written as an integer and any other in
** plain 'f' notation, never with an exponent: 1e20 is 100000000000000000000
** and 1e-7 is 0.0000001. At the top level Go's encoding/json rules apply:
** 'f' notation, but exponent notation below 1e-6 and from 1e21 up ("1e+21",
** "1e-7"), and -0 keeps its sign. Non-finite values are null.
*/
static void putfloat(struct enc *e, double d, int nested)
{
	char dig[24], out[400];
	int nd, exp, n = 0, i;

	if (!isfinite(d)) {
		putlit(e, "null");
		return;
	}
	if (nested && d == floor(d) && d >= -9223372036854775808.0 &&
	    d <= 9223372036854775808.0) {
		/* Go's int64(f) of 2^63 is the minimum on amd64. */
		putint(e, d == 9223372036854775808.0 ? LUA_MININTEGER
						     : (lua_Integer)d);
		return;
	}
	if (d == 0) {
		if (signbit(d))
			putlit(e, "-0");
		else
			putch(e, '0');
		return;
	}
	nd = shortest(d, dig, &exp);
	if (d < 0)
		out[n++] = '-';
	if (!nested && (fabs(d) < 1e-6 || fabs(d) >= 1e21)) {
		out[n++] = dig[0];
		if (nd > 1) {
			out[n++] = '.';
			memcpy(out + n, dig + 1, (size_t)nd - 1);
			n += nd - 1;
		}
		/* Go writes at least two exponent digits, then trims e-0X. */
		n += snprintf(out + n, sizeof out - (size_t)n, "e%c%s%d",
			      exp < 0 ? '-' : '+',
			      exp > -10 && exp < 0 ? "" : (exp >= 0 && exp < 10 ? "0" : ""),
			      exp < 0 ? -exp : exp);
	} else if (exp >= nd - 1) {             /* integral: digits, zeros */
		memcpy(out + n, dig, (size_t)nd);
		n += nd;
		for (i = 0; i < exp - (nd - 1); i++)
			out[n++] = '0';
	} else if (exp >= 0) {                  /* point inside the digits */
		memcpy(out + n, dig, (size_t)exp + 1);
		n += exp + 1;
		out[n++] = '.';
		memcpy(out + n, dig + exp + 1, (size_t)(nd - exp - 1));
		n += nd - exp - 1;
	} else {                                /* 0.000ddd */
		out[n++] = '0';
		out[n++] = '.';
		for (i = 0; i < -exp - 1; i++)
			out[n++] = '0';
		memcpy(out + n, dig, (size_t)nd);
		n += nd;
	}
	put(e, out, (size_t)n);
}

/*
** Byte classes for string output: 0 copies as is, 1 needs an escape,
** 2 starts (or is) a non-ASCII sequence to validate.
*/
static const unsigned char strclass[256] = {
	1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
	0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
	2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
	2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
	2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
	2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
};

/*
** Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 if
** it is not one: overlong forms, surrogates and code points past U+10FFFF
** are rejected, following the Unicode "maximal subpart" table.
*/
static size_t utf8len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;

		return n >= 3 && s[1] >= lo && s[1] <= hi &&
		       (s[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;

		return n >= 4 && s[1] >= lo && s[1] <= hi &&
		       (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
	}
	return 0;
}

static void putstring(struct enc *e, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str, *end = s + len;

	putch(e, '"');
	while (s < end) {
		const unsigned char *run = s;
		size_t u;

		while (s < end && strclass[*s] == 0)
			s++;
		if (s > run)
			put(e, (const char *)run, (size_t)(s - run));
		if (s == end)
			break;
		if (strclass[*s] == 2) {
			if ((u = utf8len(s, (size_t)(end - s))) != 0)
				put(e, (const char *)s, u);
			else
				putlit(e, "\\ufffd");
			s += u ? u : 1;
			continue;
		}
		switch (*s) {
		case '"':  putlit(e, "\\\""); break;
		case '\\': putlit(e, "\\\\"); break;
		case '\b': putlit(e, "\\b"); break;
		case '\f': putlit(e, "\\f"); break;
		case '\n': putlit(e, "\\n"); break;
		case '\r': putlit(e, "\\r"); break;
		case '\t': putlit(e, "\\t"); break;
		default: {
			char esc[6] = {'\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 15]};

			put(e, esc, sizeof esc);
		}
		}
		s++;
	}
	putch(e, '"');
}

static int encode(struct enc *e, int idx);

/*
** An error object is written as the original's Go Error() text: its
** message, after "context: " when it was wrapped. [-0, +0, m]
*/
static void puterror(struct enc *e, int idx)
{
	lua_State *L = e->L;
	size_t n, cn;
	const char *msg = errors_message(L, idx, &n);
	const char *ctx = errors_context(L, idx, &cn);

	if (!ctx) {
		putstring(e, msg, n);
		return;
	}
	lua_pushlstring(L, ctx, cn);
	lua_pushliteral(L, ": ");
	lua_pushlstring(L, msg, n);
	lua_concat(L, 3);
	msg = lua_tolstring(L, -1, &n);
	putstring(e, msg, n);
	lua_pop(L, 1);
}

/*
** Lua 5.4.4's Table header (lobject.h), read only to learn whether a
** table has a hash part: the original writes a table without entries as
** {} when it ever held a non-array key (go-lua keeps the emptied key map)
** and as [] otherwise, and a PUC Lua table likewise keeps its hash part,
** once made, until it is resized. The layout is checked once against
** live tables (hashpart_usable) before it is trusted; when the check
** fails every empty table is [].
*/
struct table_header {
	void *next;
	unsigned char tt, marked, flags, lsizenode;
	unsigned int alimit;
	void *array, *node, *lastfree;  /* lastfree is NULL: no hash part */
};

static int hashpart_ok;
static pthread_once_t hashpart_once = PTHREAD_ONCE_INIT;

static int has_hashpart(lua_State *L, int idx)
{
	return ((const struct table_header *)lua_topointer(L, idx))->lastfree
	       != NULL;
}

static void hashpart_check(void)
{
	lua_State *L = luaL_newstate();
	int good;

	if (!L)
		return;
	lua_createtable(L, 0, 0);
	lua_createtable(L, 4, 0);
	lua_createtable(L, 0, 1);
	lua_createtable(L, 0, 0);
	lua_pushinteger(L, 1);
	lua_setfield(L, -2, "k");
	lua_pushnil(L);
	lua_setfield(L, -2, "k");
	good = !has_hashpart(L, 1) && !has_hashpart(L, 2) &&
	       has_hashpart(L, 3) && has_hashpart(L, 4);
	lua_close(L);
	hashpart_ok = good;
}

/* Whether the empty table at idx is written as {}. */
static int empty_is_object(lua_State *L, int idx)
{
	pthread_once(&hashpart_once, hashpart_check);
	return hashpart_ok && has_hashpart(L, idx);
}

/* The original's texts for the errors it shares with us. */
#define MIXED "cannot encode mixed-key table: table has both numeric and " \
	      "non-numeric keys"

static int fail(struct enc *e, const char *msg)
{
	if (!e->err)
		e->err = msg;
	return -1;
}

static int keycmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/*
** Objects take one lua_next pass: each member is encoded where it falls
** and its key and output span are recorded. If the keys did not arrive in
** order, the spans are sorted by key and copied back in that order through
** a copy of the object's bytes parked past the end of the output, which is
** a memcpy instead of a table lookup per key. The key strings stay anchored
** by the table, which nothing can modify while we encode (no Lua code
** runs), so the recorded pointers remain valid.
**
** Entered with the first key/value pair pushed (the key is a string) and
** `slot`, a stack slot for a key array that outgrows the local one.
*/
static int encode_object(struct enc *e, int idx, int slot)
{
	lua_State *L = e->L;
	struct key local[ENC_LOCALKEYS], *keys = local;
	size_t nkeys = 0, cap = ENC_LOCALKEYS, first, total, w, i;
	int sorted = 1;

	putch(e, '{');
	first = e->n;
	do {
		if (lua_type(L, -2) != LUA_TSTRING)
			return fail(e, lua_isinteger(L, -2) &&
				    lua_tointeger(L, -2) > 0 ? MIXED :
				    "cannot encode a table key that is not a "
				    "string or a positive integer");
		if (nkeys == cap) {             /* userdata: GC frees it */
			struct key *nk = lua_newuserdatauv(L, 2 * cap * sizeof *nk, 0);

			memcpy(nk, keys, nkeys * sizeof *nk);
			lua_replace(L, slot);
			keys = nk;
			cap *= 2;
		}
		if (nkeys)
			putch(e, ',');
		keys[nkeys].s = lua_tolstring(L, -2, &keys[nkeys].n);
		keys[nkeys].off = e->n;
		putstring(e, keys[nkeys].s, keys[nkeys].n);
		putch(e, ':');
		if (encode(e, lua_gettop(L)))
			return -1;              /* caller resets the stack */
		keys[nkeys].len = e->n - keys[nkeys].off;
		if (nkeys && sorted && keycmp(&keys[nkeys - 1], &keys[nkeys]) > 0)
			sorted = 0;
		nkeys++;
		lua_pop(L, 1);
	} while (lua_next(L, idx));
	if (!sorted) {
		total = e->n - first;
		reserve(e, total);      /* may move e->p: offsets only below */
		memcpy(e->p + e->n, e->p + first, total);
		qsort(keys, nkeys, sizeof *keys, keycmp);
		for (i = 0, w = first; i < nkeys; i++) {
			if (i)
				e->p[w++] = ',';
			memcpy(e->p + w, e->p + e->n + (keys[i].off - first),
			       keys[i].len);
			w += keys[i].len;
		}
	}
	putch(e, '}');
	return 0;
}

/*
** Arrays whose keys lua_next yields as 1, 2, 3, ... (the usual case: the
** array part is walked in order) are written in that same pass. Anything
** else rewinds the output and classifies all keys first: integers 1..n
** with no gap are written with lua_rawgeti in index order, the rest is an
** error. Entered with the first key/value pair pushed.
*/
static int encode_array(struct enc *e, int idx)
{
	lua_State *L = e->L;
	size_t start = e->n, nint = 0;
	lua_Integer n = 0, maxk = 0, i;
	int r = 0;

	do {
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) != n + 1) {
			lua_pop(L, 2);
			e->n = start;
			goto slow;
		}
		putch(e, n ? ',' : '[');
		if (encode(e, lua_gettop(L)))
			return -1;
		n++;
		lua_pop(L, 1);
	} while (lua_next(L, idx));
	putch(e, ']');
	return 0;

slow:
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
			nint++;
			if (lua_tointeger(L, -1) > maxk)
				maxk = lua_tointeger(L, -1);
		} else {
			return fail(e, lua_type(L, -1) == LUA_TSTRING ? MIXED :
				    "cannot encode a table key that is not a "
				    "string or a positive integer");
		}
	}
	if ((lua_Unsigned)maxk != nint)
		return fail(e, "cannot encode sparse array: non-contiguous "
			    "numeric keys found");
	putch(e, '[');
	for (i = 1; i <= maxk && r == 0; i++) {
		if (i > 1)
			putch(e, ',');
		lua_rawgeti(L, idx, i);
		r = encode(e, lua_gettop(L));
		lua_pop(L, 1);
	}
	putch(e, ']');
	return r;
}

/*
** A table is an array when all its keys are the integers 1..n, an object
** when all are strings; the empty table is the empty array. The first key
** decides which walk to try; each walk rejects the other kind of key.
*/
static int encode_table(struct enc *e, int idx)
{
	lua_State *L = e->L;
	const void *self = lua_topointer(L, idx);
	int d, r, slot;

	for (d = 0; d < e->depth; d++)
		if (e->path[d] == self)
			return fail(e, "cannot encode recursively nested tables "
				    "to JSON");
	if (e->depth == JSON_MAXDEPTH)
		return fail(e, "exceeded maximum nesting depth for JSON "
			    "encoding");
	if (!lua_checkstack(L, 8))
		return fail(e, "out of Lua stack space");
	e->path[e->depth++] = self;

	lua_pushnil(L);                 /* slot for a large key array */
	slot = lua_gettop(L);
	lua_pushnil(L);
	if (!lua_next(L, idx)) {
		if (empty_is_object(L, idx))
			putlit(e, "{}");
		else
			putlit(e, "[]");
		r = 0;
	} else if (lua_type(L, -2) == LUA_TSTRING) {
		r = encode_object(e, idx, slot);
	} else {
		r = encode_array(e, idx);
	}
	lua_settop(L, slot - 1);
	e->depth--;
	return r;
}

/* Append the value at absolute index idx. 0, or -1 with e->err set. */
static int encode(struct enc *e, int idx)
{
	lua_State *L = e->L;
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TNONE:
	case LUA_TNIL:
		putlit(e, "null");
		return 0;
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			putlit(e, "true");
		else
			putlit(e, "false");
		return 0;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			putint(e, lua_tointeger(L, idx));
		else
			putfloat(e, lua_tonumber(L, idx), e->depth > 0);
		return 0;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		putstring(e, s, len);
		return 0;
	case LUA_TTABLE:
		return encode_table(e, idx);
	case LUA_TUSERDATA:
		if (errors_is_error(L, idx)) {
			puterror(e, idx);
			return 0;
		}
		/* other userdata are null, like functions */
		/* fall through */
	default:
		/* Functions, threads and userdata have no JSON form; the
		** original writes null for them rather than failing. */
		putlit(e, "null");
		return 0;
	}
}

/*
** Encode the value at idx and push the result as a string; on failure push
** nothing and return the message. The reserved box slot is pushed first
** and removed last, so the net stack effect is +1 or 0. [-0, +(0|1), m]
*/
static const char *encode_push(lua_State *L, int idx)
{
	struct enc e;

	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 8))
		return "out of Lua stack space";
	e.L = L;
	e.p = e.scratch;
	e.n = 0;
	e.cap = sizeof e.scratch;
	e.depth = 0;
	e.err = NULL;
	lua_pushnil(L);
	e.box = lua_gettop(L);
	if (encode(&e, idx)) {
		lua_settop(L, e.box - 1);
		return e.err;
	}
	lua_settop(L, e.box);
	lua_pushlstring(L, e.p, e.n);
	lua_remove(L, e.box);
	return NULL;
}

const char *json_encode_value(lua_State *L, int idx, luaL_Buffer *b)
{
	const char *err = encode_push(L, idx);

	if (!err)
		luaL_addvalue(b);
	return err;
}

int json_encode_push(lua_State *L, int idx)
{
	const char *err = encode_push(L, idx);

	if (!err)
		return 1;
	return errors_ret_wrapped(L, ERRORS_INTERNAL, "encode failed", "%s", err);
}

/* }====================================================================== */

/* {======================================================================
** Decoder
** ======================================================================= */

struct dec {
	lua_State *L;
	const char *s, *p, *end;        /* input, cursor, end of input */
	int depth;
	const char *err;                /* static message once failed */
	const char *errat;              /* where it failed */
};

static int derr(struct dec *d, const char *at, const char *msg)
{
	d->err = msg;
	d->errat = at;
	return -1;
}

static inline void skipws(struct dec *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' ||
				 *d->p == '\r' || *d->p == '\t'))
		d->p++;
}

/* A failure at the cursor: end of input, or an unexpected character. */
static int unexpected(struct dec *d)
{
	return derr(d, d->p, d->p < d->end ? "unexpected character" :
		    "unexpected end of input");
}

static int hexval(const char *p)
{
	int v = 0, i;

	for (i = 0; i < 4; i++) {
		int c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static char *pututf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

/*
** Unescape the string body [p, q) (q is the closing quote, escapes already
** known to be well delimited). Every escape is at least as long as the
** UTF-8 it produces (\uXXXX: 6 bytes -> at most 3, a surrogate pair: 12 ->
** 4), so q - p bytes always suffice.
*/
static int unescape(struct dec *d, const char *p, const char *q)
{
	luaL_Buffer b;
	char *o = luaL_buffinitsize(d->L, &b, (size_t)(q - p)), *o0 = o;

	while (p < q) {
		int cp;

		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		p++;                            /* p < q: see parse_string */
		switch (*p++) {
		case '"':  *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/':  *o++ = '/'; break;
		case 'b':  *o++ = '\b'; break;
		case 'f':  *o++ = '\f'; break;
		case 'n':  *o++ = '\n'; break;
		case 'r':  *o++ = '\r'; break;
		case 't':  *o++ = '\t'; break;
		case 'u':
			if (q - p < 4 || (cp = hexval(p)) < 0)
				return derr(d, p - 2, "invalid \\u escape");
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && q - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u') {
				int lo = hexval(p + 2);

				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) +
					     (lo - 0xDC00);
					p += 6;
				}
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;            /* lone surrogate */
			o = pututf8(o, (unsigned)cp);
			break;
		default:
			return derr(d, p - 2, "invalid escape");
		}
	}
	luaL_pushresultsize(&b, (size_t)(o - o0));
	return 0;
}

/* Push the string whose opening quote is at the cursor. */
static int parse_string(struct dec *d)
{
	const char *p = ++d->p, *start = p, *end = d->end;
	int escaped = 0;

	for (;;) {
		unsigned char c;

		if (p >= end)
			return derr(d, p, "unterminated string");
		c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20)
			return derr(d, p, "control character in string");
		if (c == '\\') {
			escaped = 1;
			if (++p >= end)
				return derr(d, p, "unterminated string");
		}
		p++;
	}
	d->p = p + 1;
	if (!escaped) {
		lua_pushlstring(d->L, start, (size_t)(p - start));
		return 0;
	}
	return unescape(d, start, p);
}

static int isdigit_(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct dec *d)
{
	const char *p = d->p, *end = d->end, *digits;
	int neg = 0, isint = 1;
	uint64_t u = 0, lim;
	char tmp[64];
	double v;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	digits = p;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && isdigit_(*p))
			p++;
	else
		return derr(d, p, "invalid number");
	if (p < end && *p == '.') {
		isint = 0;
		if (++p >= end || !isdigit_(*p))
			return derr(d, p, "invalid number");
		while (p < end && isdigit_(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		isint = 0;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit_(*p))
			return derr(d, p, "invalid number");
		while (p < end && isdigit_(*p))
			p++;
	}
	if (isint) {
		const char *q;

		/* Exact int64 range: up to 2^63 - 1, or 2^63 when negative. */
		lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
		for (q = digits; q < p; q++) {
			unsigned dg = (unsigned)(*q - '0');

			if (u > (lim - dg) / 10)
				break;
			u = u * 10 + dg;
		}
		if (q == p && !(neg && u == 0)) {   /* -0 keeps its sign below */
			lua_pushinteger(d->L, neg ? (lua_Integer)(0u - u) :
					(lua_Integer)u);
			d->p = p;
			return 0;
		}
	}
	/* strtod needs a terminator the input may lack: copy the span. */
	if ((size_t)(p - d->p) < sizeof tmp) {
		memcpy(tmp, d->p, (size_t)(p - d->p));
		tmp[p - d->p] = '\0';
		v = strtod(tmp, NULL);
	} else {
		lua_pushlstring(d->L, d->p, (size_t)(p - d->p));
		v = strtod(lua_tostring(d->L, -1), NULL);
		lua_pop(d->L, 1);
	}
	lua_pushnumber(d->L, v);
	d->p = p;
	return 0;
}

static int parse_value(struct dec *d);

/*
** Containers collect their elements on the Lua stack, DEC_BATCH at a time,
** above a slot for the table: the table is created at the first flush
** with the exact size of a container that fits one batch (most do), which
** saves the rehash-per-doubling of growing it element by element.
*/
#define DEC_BATCH 32

/* Open a nesting level: depth limit, stack room, the table slot. */
static int enter(struct dec *d)
{
	if (d->depth == JSON_MAXDEPTH)
		return derr(d, d->p, "nesting deeper than 128 levels");
	if (!lua_checkstack(d->L, 2 * DEC_BATCH + 8))
		return derr(d, d->p, "out of Lua stack space");
	d->depth++;
	d->p++;
	lua_pushnil(d->L);
	skipws(d);
	return 0;
}

/* Store the `count` values above slot t as t[n+1..n+count], popping them. */
static void flush_array(lua_State *L, int t, lua_Integer n, int count)
{
	if (lua_isnil(L, t)) {
		lua_createtable(L, count, 0);
		lua_replace(L, t);
	}
	for (; count > 0; count--)
		lua_rawseti(L, t, n + count);   /* nil makes a hole */
}

static int parse_array(struct dec *d)
{
	lua_State *L = d->L;
	lua_Integer n = 0, i;
	int t, count = 0, holes = 0, lastnil = 0;

	if (enter(d))
		return -1;
	t = lua_gettop(L);
	if (d->p < d->end && *d->p == ']') {
		d->p++;
		goto done;
	}
	for (;;) {
		if (parse_value(d))
			return -1;
		lastnil = lua_isnil(L, -1);
		holes |= lastnil;
		if (++count == DEC_BATCH) {
			flush_array(L, t, n, count);
			n += count;
			count = 0;
		}
		skipws(d);
		if (d->p < d->end && *d->p == ',') {
			d->p++;
			continue;
		}
		if (d->p < d->end && *d->p == ']')
			break;
		return unexpected(d);
	}
	d->p++;
done:
	flush_array(L, t, n, count);
	n += count;
	d->depth--;
	/*
	** A table that grew past its first batch may keep high indices in its
	** hash part when there are holes, and # could stop at any border. Copy
	** it into a table whose array part is exactly n, so #t == n whenever
	** t[n] is set. (A single batch is already sized exactly.)
	*/
	if (holes && !lastnil && n > DEC_BATCH) {
		lua_createtable(L, (int)n, 0);
		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, t, i);
			lua_rawseti(L, -2, i);
		}
		lua_replace(L, t);
	}
	return 0;
}

/*
** Store the `count` key/value pairs above slot t into it, in input order
** so that the last of duplicate keys wins, and drop them.
*/
static void flush_object(lua_State *L, int t, int count)
{
	int j;

	if (lua_isnil(L, t)) {
		lua_createtable(L, 0, count);
		lua_replace(L, t);
	}
	for (j = 0; j < count; j++) {
		lua_pushvalue(L, t + 1 + 2 * j);
		lua_pushvalue(L, t + 2 + 2 * j);
		lua_rawset(L, t);
	}
	lua_settop(L, t);
}

static int parse_object(struct dec *d)
{
	lua_State *L = d->L;
	int t, count = 0;

	if (enter(d))
		return -1;
	t = lua_gettop(L);
	if (d->p < d->end && *d->p == '}') {
		d->p++;
		goto done;
	}
	for (;;) {
		if (d->p >= d->end || *d->p != '"')
			return unexpected(d);
		if (parse_string(d))
			return -1;
		skipws(d);
		if (d->p >= d->end || *d->p != ':')
			return unexpected(d);
		d->p++;
		if (parse_value(d))
			return -1;
		/* A null member is absent, unless it must erase an earlier one. */
		if (++count == DEC_BATCH) {
			flush_object(L, t, count);
			count = 0;
		}
		skipws(d);
		if (d->p < d->end && *d->p == ',') {
			d->p++;
			skipws(d);
			continue;
		}
		if (d->p < d->end && *d->p == '}')
			break;
		return unexpected(d);
	}
	d->p++;
done:
	flush_object(L, t, count);
	d->depth--;
	return 0;
}

static int literal(struct dec *d, const char *word, size_t n)
{
	if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
		return derr(d, d->p, "invalid literal");
	d->p += n;
	return 0;
}

/* Parse one value at the cursor (after whitespace) and push it. */
static int parse_value(struct dec *d)
{
	skipws(d);
	if (d->p >= d->end)
		return unexpected(d);
	switch (*d->p) {
	case '{':
		return parse_object(d);
	case '[':
		return parse_array(d);
	case '"':
		return parse_string(d);
	case 't':
		if (literal(d, "true", 4))
			return -1;
		lua_pushboolean(d->L, 1);
		return 0;
	case 'f':
		if (literal(d, "false", 5))
			return -1;
		lua_pushboolean(d->L, 0);
		return 0;
	case 'n':
		if (literal(d, "null", 4))
			return -1;
		lua_pushnil(d->L);
		return 0;
	default:
		if (*d->p == '-' || isdigit_(*d->p))
			return parse_number(d);
		return unexpected(d);
	}
}

int json_decode_push(lua_State *L, const char *s, size_t len)
{
	struct dec d;
	int top = lua_gettop(L);

	if (len == 0)
		return errors_ret(L, ERRORS_INVALID, "empty string is not valid JSON");
	if (!lua_checkstack(L, 8))
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "decode failed",
					  "out of Lua stack space");
	d.L = L;
	d.s = d.p = s;
	d.end = s + len;
	d.depth = 0;
	d.err = NULL;
	if (parse_value(&d) == 0) {
		skipws(&d);
		if (d.p == d.end)
			return 1;
		derr(&d, d.p, "unexpected character after the value");
	}
	lua_settop(L, top);
	if (d.errat < d.end && (unsigned char)*d.errat >= 0x20 &&
	    (unsigned char)*d.errat < 0x7F)
		lua_pushfstring(L, "%s '%c' at position %I", d.err, *d.errat,
				(lua_Integer)(d.errat - s + 1));
	else
		lua_pushfstring(L, "%s at position %I", d.err,
				(lua_Integer)(d.errat - s + 1));
	errors_ret_wrapped(L, ERRORS_INTERNAL, "decode failed", "%s", lua_tostring(L, -1));
	lua_remove(L, -3);
	return 2;
}

/* }====================================================================== */

/* {======================================================================
** Module
** ======================================================================= */

/* json.encode(v) -> string, nil | nil, err  [-0, +2, m] */
static int l_encode(lua_State *L)
{
	if (json_encode_push(L, 1) == 2)
		return 2;
	lua_pushnil(L);
	return 2;
}

/* json.decode(s) -> value, nil | nil, err  [-0, +2, m] */
static int l_decode(lua_State *L)
{
	size_t len;
	const char *s;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "string expected");
	s = lua_tolstring(L, 1, &len);
	if (json_decode_push(L, s, len) == 2)
		return 2;
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg funcs[] = {
	{"encode", l_encode},
	{"decode", l_decode},
	{NULL, NULL}
};

int luaopen_json(lua_State *L)
{
	luaL_newlib(L, funcs);
	return 1;
}

/* }====================================================================== */
