/*
** runtime/payload.c: the byte codec that carries Lua values between states.
**
** Format: the top-level values one after another, each a tag byte followed
** by its body:
**
**   NIL, FALSE, TRUE   no body
**   INT                zigzag LEB128 varint
**   FLOAT              8 bytes, the double as stored in memory
**   STR                varint length, then the bytes
**   TABLE              u32 narr, u32 nhash, narr values (t[1..narr]),
**                      then nhash key/value pairs
**   ERROR              u8 retryable (ERRORS_RETRY_*), then six values:
**                      message (STR), kind (STR), details (TABLE or NIL),
**                      stack (STR or NIL), cause (ERROR or NIL), context
**                      (STR or NIL)
**
** Table counts are fixed-width so they can be patched after the table is
** walked, and they let the decoder presize with lua_createtable. The bare
** values are t[1..narr] for the run of keys 1, 2, ... that lua_next yields
** first; every other key goes to the pair list, so holes and odd keys
** survive exactly whatever order the traversal takes.
**
** The encoder writes into a scratch array on the C stack and moves to the
** runtime heap only past it, so a message pays at most one allocation (none
** when it fits PAYLOAD_INLINE). The open tables and errors of the current
** path are kept in a small array: a value met again on its own path is a
** cycle, one met on another path is just copied again.
**
** The decoder trusts nothing: every read is bounds-checked, counts must be
** payable by the remaining bytes (each value takes at least one byte), and
** the nesting limit also bounds its C recursion.
**
** Thread affinity: none. Encoding runs on the sender's thread, decoding on
** the receiver's; the buffer in between is plain immutable bytes.
*/
#include "runtime/payload.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/errors.h"

enum {
	T_NIL, T_FALSE, T_TRUE, T_INT, T_FLOAT, T_STR, T_TABLE, T_ERROR
};

#define SCRATCH 1024

/* {======================================================================
** Encoder
** ======================================================================= */

struct wbuf {
	lua_State *L;
	uint8_t *p;             /* scratch, or a heap block when heap != 0 */
	size_t n, cap;
	int heap;
	int depth;
	const void *path[PAYLOAD_MAXDEPTH];
	uint8_t scratch[SCRATCH];
};

static int enc(struct wbuf *w, int idx);

/* Room for `need` more bytes; -E2BIG past PAYLOAD_MAXBYTES. */
static int reserve(struct wbuf *w, size_t need)
{
	size_t cap;

	if (likely(w->cap - w->n >= need))
		return 0;
	if (w->n + need > PAYLOAD_MAXBYTES)
		return -E2BIG;
	cap = w->cap * 2;
	if (cap < w->n + need)
		cap = w->n + need;
	if (w->heap) {
		w->p = xrealloc(w->p, cap);
	} else {
		uint8_t *nb = xmalloc(cap);

		memcpy(nb, w->p, w->n);
		w->p = nb;
		w->heap = 1;
	}
	w->cap = cap;
	return 0;
}

static int put(struct wbuf *w, const void *s, size_t n)
{
	int r = reserve(w, n);

	if (r)
		return r;
	memcpy(w->p + w->n, s, n);
	w->n += n;
	return 0;
}

static int puttag(struct wbuf *w, uint8_t tag)
{
	int r = reserve(w, 1);

	if (r)
		return r;
	w->p[w->n++] = tag;
	return 0;
}

/* Tag followed by a LEB128 varint, written in place (no memcpy call). */
static int putvar(struct wbuf *w, uint8_t tag, uint64_t v)
{
	int r = reserve(w, 11);
	uint8_t *o;

	if (r)
		return r;
	o = w->p + w->n;
	*o++ = tag;
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	w->n = (size_t)(o - w->p);
	return 0;
}

static int putstr(struct wbuf *w, const char *s, size_t len)
{
	int r;

	if (len > PAYLOAD_MAXBYTES)
		return -E2BIG;
	if ((r = putvar(w, T_STR, len)))
		return r;
	return put(w, s, len);
}

/*
** Enter a table or error: the cycle check against the open path, then the
** depth limit, then stack room for the key/value/temporaries of this level.
*/
static int enter(struct wbuf *w, const void *self)
{
	int d;

	for (d = 0; d < w->depth; d++)
		if (w->path[d] == self)
			return -ELOOP;
	if (w->depth == PAYLOAD_MAXDEPTH)
		return -EMLINK;
	if (!lua_checkstack(w->L, 4))
		return -ENOMEM;
	w->path[w->depth++] = self;
	return 0;
}

/*
** One lua_next pass. Keys arriving as 1, 2, 3, ... (the array part, which
** lua_next walks in order) are written as bare values; from the first key
** that breaks the run on, every entry is written as a key/value pair. The
** run's length and the pair count are patched into the header afterwards.
*/
static int enc_table(struct wbuf *w, int idx)
{
	lua_State *L = w->L;
	size_t at;
	uint32_t cnt[2] = {0, 0};
	int r, inrun = 1;

	if ((r = enter(w, lua_topointer(L, idx))))
		return r;
	if ((r = puttag(w, T_TABLE)) || (r = reserve(w, sizeof cnt)))
		return r;
	at = w->n;
	w->n += sizeof cnt;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (inrun && lua_isinteger(L, -2) &&
		    lua_tointeger(L, -2) == (lua_Integer)cnt[0] + 1) {
			r = enc(w, lua_gettop(L));
			cnt[0]++;
		} else {
			inrun = 0;
			if (!(r = enc(w, lua_gettop(L) - 1)))
				r = enc(w, lua_gettop(L));
			cnt[1]++;
		}
		lua_pop(L, 1);
		if (r) {
			lua_pop(L, 1);
			return r;
		}
	}
	memcpy(w->p + at, cnt, sizeof cnt);
	w->depth--;
	return 0;
}

/* The error's user values are read through the errors.h accessors. */
static int enc_error(struct wbuf *w, int idx)
{
	lua_State *L = w->L;
	const char *s;
	size_t len;
	uint8_t hdr[2] = {T_ERROR, (uint8_t)errors_retryable(L, idx)};
	int r;

	if ((r = enter(w, lua_topointer(L, idx))) || (r = put(w, hdr, 2)))
		return r;
	s = errors_message(L, idx, &len);
	if ((r = putstr(w, s, len)))
		return r;
	s = errors_kind(L, idx, &len);
	if ((r = putstr(w, s, len)))
		return r;
	errors_push_details(L, idx);
	r = enc(w, lua_gettop(L));
	lua_pop(L, 1);
	if (r)
		return r;
	s = errors_stack(L, idx, &len);
	if ((r = s ? putstr(w, s, len) : puttag(w, T_NIL)))
		return r;
	errors_push_cause(L, idx);
	r = enc(w, lua_gettop(L));
	lua_pop(L, 1);
	if (r)
		return r;
	s = errors_context(L, idx, &len);
	if ((r = s ? putstr(w, s, len) : puttag(w, T_NIL)))
		return r;
	w->depth--;
	return 0;
}

/* Append the value at absolute index idx. */
static int enc(struct wbuf *w, int idx)
{
	lua_State *L = w->L;
	const char *s;
	size_t len;
	double d;

	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		return puttag(w, lua_toboolean(L, idx) ? T_TRUE : T_FALSE);
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			uint64_t u = (uint64_t)lua_tointeger(L, idx);

			/* zigzag: small magnitudes of either sign stay short */
			return putvar(w, T_INT, (u << 1) ^ (uint64_t)-(int64_t)(u >> 63));
		} else {
			uint8_t b[1 + sizeof d] = {T_FLOAT};

			d = lua_tonumber(L, idx);
			memcpy(b + 1, &d, sizeof d);
			return put(w, b, sizeof b);
		}
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		return putstr(w, s, len);
	case LUA_TTABLE:
		return enc_table(w, idx);
	case LUA_TUSERDATA:
		if (errors_is_error(L, idx))
			return enc_error(w, idx);
		return puttag(w, T_NIL);
	default:        /* nil, functions, threads, light userdata */
		return puttag(w, T_NIL);
	}
}

int payload_encode(lua_State *L, int first, int n, struct payload *out)
{
	struct wbuf w;
	int i, r = 0;

	if (n <= 0) {
		memset(out, 0, sizeof *out);
		return 0;
	}
	first = lua_absindex(L, first);
	w.L = L;
	w.p = w.scratch;
	w.n = 0;
	w.cap = sizeof w.scratch;
	w.heap = 0;
	w.depth = 0;
	for (i = 0; i < n && r == 0; i++)
		r = enc(&w, first + i);
	if (r) {
		if (w.heap)
			free(w.p);
		return r;
	}
	out->len = (uint32_t)w.n;
	out->nvalues = (uint32_t)n;
	if (w.n <= PAYLOAD_INLINE) {
		memcpy(out->_u.inl, w.p, w.n);  /* heap is impossible here */
	} else if (w.heap) {
		out->_u.heap = w.p;             /* hand the block over */
	} else {
		out->_u.heap = xmalloc(w.n);
		memcpy(out->_u.heap, w.p, w.n);
	}
	return 0;
}

/* }====================================================================== */

/* {======================================================================
** Decoder
** ======================================================================= */

struct rbuf {
	lua_State *L;
	const uint8_t *p, *end;
	int depth;
};

static int dec(struct rbuf *r);

/*
** Read a LEB128 varint. At most ten bytes, and the tenth may only carry
** the 64th bit: longer or wider encodings are corrupt, not truncated.
*/
static int getvar(struct rbuf *r, uint64_t *v)
{
	uint64_t x = 0;
	int shift;

	for (shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (r->p == r->end)
			return -EINVAL;
		b = *r->p++;
		if (shift == 63 && b > 1)
			return -EINVAL;         /* more than 64 bits */
		x |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EINVAL;
}

/* The length is checked against the bytes left before anything is read. */
static int dec_str(struct rbuf *r)
{
	uint64_t len;

	if (getvar(r, &len) || len > (uint64_t)(r->end - r->p))
		return -EINVAL;
	lua_pushlstring(r->L, (const char *)r->p, (size_t)len);
	r->p += len;
	return 0;
}

/*
** The depth limit matches the encoder's, so a deeper buffer is corrupt; it
** also bounds the C recursion of a hostile one.
*/
static int enter_dec(struct rbuf *r)
{
	if (r->depth == PAYLOAD_MAXDEPTH)
		return -EINVAL;         /* the encoder never nests deeper */
	if (!lua_checkstack(r->L, 4))
		return -ENOMEM;
	r->depth++;
	return 0;
}

/*
** Counts are validated before lua_createtable sees them, so a corrupt
** header cannot make the receiver allocate more than the buffer could
** describe.
*/
static int dec_table(struct rbuf *r)
{
	lua_State *L = r->L;
	uint32_t cnt[2], i;
	int e;

	if ((size_t)(r->end - r->p) < sizeof cnt)
		return -EINVAL;
	memcpy(cnt, r->p, sizeof cnt);
	r->p += sizeof cnt;
	/* Each value takes at least a byte: refuse counts the rest can't pay. */
	if ((uint64_t)cnt[0] + 2 * (uint64_t)cnt[1] > (uint64_t)(r->end - r->p))
		return -EINVAL;
	if ((e = enter_dec(r)))
		return e;
	lua_createtable(L, (int)cnt[0], (int)cnt[1]);
	for (i = 1; i <= cnt[0]; i++) {
		if ((e = dec(r)))
			return e;
		lua_rawseti(L, -2, i);          /* nil is a harmless no-op */
	}
	for (i = 0; i < cnt[1]; i++) {
		if ((e = dec(r)) || (e = dec(r)))
			return e;
		/* nil (a key that did not survive) or NaN cannot be keys */
		if (lua_isnil(L, -2) || (lua_type(L, -2) == LUA_TNUMBER &&
		    lua_tonumber(L, -2) != lua_tonumber(L, -2))) {
			lua_pop(L, 2);
			continue;
		}
		lua_rawset(L, -3);
	}
	r->depth--;
	return 0;
}

/* Decode one value and require one of two Lua types for it. */
static int expect(struct rbuf *r, int type1, int type2)
{
	int e = dec(r), t;

	if (e)
		return e;
	t = lua_type(r->L, -1);
	return t == type1 || t == type2 ? 0 : -EINVAL;
}

/*
** The six parts are decoded onto the stack in errors_create's order and
** type-checked (a part of the wrong type means a corrupt buffer, never a
** silently different error), then turned into the receiver's error object.
*/
static int dec_error(struct rbuf *r)
{
	lua_State *L = r->L;
	int retryable, e;

	if (r->p == r->end || *r->p > ERRORS_RETRY_UNSET)
		return -EINVAL;
	retryable = *r->p++;
	if ((e = enter_dec(r)) ||
	    (e = expect(r, LUA_TSTRING, LUA_TSTRING)) ||
	    (e = expect(r, LUA_TSTRING, LUA_TSTRING)) ||
	    (e = expect(r, LUA_TTABLE, LUA_TNIL)) ||
	    (e = expect(r, LUA_TSTRING, LUA_TNIL)) ||
	    (e = expect(r, LUA_TUSERDATA, LUA_TNIL)))
		return e;
	if (!lua_isnil(L, -1) && !errors_is_error(L, -1))
		return -EINVAL;
	if ((e = expect(r, LUA_TSTRING, LUA_TNIL)))
		return e;
	errors_create(L, retryable);
	r->depth--;
	return 0;
}

/* Push one value; on failure the caller resets the stack. */
static int dec(struct rbuf *r)
{
	lua_State *L = r->L;
	uint64_t u;
	double d;

	if (r->p == r->end)
		return -EINVAL;
	switch (*r->p++) {
	case T_NIL:
		lua_pushnil(L);
		return 0;
	case T_FALSE:
		lua_pushboolean(L, 0);
		return 0;
	case T_TRUE:
		lua_pushboolean(L, 1);
		return 0;
	case T_INT:
		if (getvar(r, &u))
			return -EINVAL;
		lua_pushinteger(L, (lua_Integer)((u >> 1) ^ (0 - (u & 1))));
		return 0;
	case T_FLOAT:
		if ((size_t)(r->end - r->p) < sizeof d)
			return -EINVAL;
		memcpy(&d, r->p, sizeof d);
		r->p += sizeof d;
		lua_pushnumber(L, d);
		return 0;
	case T_STR:
		return dec_str(r);
	case T_TABLE:
		return dec_table(r);
	case T_ERROR:
		return dec_error(r);
	default:
		return -EINVAL;
	}
}

int payload_decode(lua_State *L, const struct payload *p)
{
	struct rbuf r;
	int top = lua_gettop(L), e = 0;
	uint32_t i;

	if (p->nvalues > p->len)                /* each value takes a byte */
		return -EINVAL;
	if (p->nvalues > INT_MAX / 2)
		return -ENOMEM;
	if (!lua_checkstack(L, (int)p->nvalues + 4))
		return -ENOMEM;
	r.L = L;
	r.p = payload_data(p);
	r.end = r.p + p->len;
	r.depth = 0;
	for (i = 0; i < p->nvalues && !e; i++)
		e = dec(&r);
	if (!e && r.p != r.end)
		e = -EINVAL;                    /* trailing bytes */
	if (e) {
		lua_settop(L, top);
		return e;
	}
	return (int)p->nvalues;
}

/* }====================================================================== */

void payload_copy(struct payload *dst, const struct payload *src)
{
	*dst = *src;
	if (src->len > PAYLOAD_INLINE) {
		dst->_u.heap = xmalloc(src->len);
		memcpy(dst->_u.heap, src->_u.heap, src->len);
	}
}

void payload_free(struct payload *p)
{
	if (p->len > PAYLOAD_INLINE)
		free(p->_u.heap);
	memset(p, 0, sizeof *p);
}

const char *payload_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ELOOP:
		return "cannot send a cyclic table";
	case -EMLINK:
		return "cannot send a table nested deeper than 64 levels";
	case -E2BIG:
		return "message too large";
	case -ENOMEM:
		return "out of Lua stack space";
	case -EINVAL:
		return "corrupt message";
	default:
		return "unknown payload error";
	}
}
