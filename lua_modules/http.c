/*
** lua_modules/http.c: require("http") for function.lua endpoint handlers
** (spec 9): http.request(), http.response() and the STATUS, METHOD,
** CONTENT, TRANSFER constants.
**
** Request methods read straight from the connection buffer of the call
** running in this state through hreq_* (runtime/httpd.h); nothing is
** copied until Lua asks for a string. The response belongs to the server:
** this file only calls hreq_set_status, hreq_set_header and hreq_write, and
** httpd.c sends it when the handler returns. "Headers sent" means a write happened, after which
** status and headers can no longer change (they return an INVALID error,
** as the original does).
*/
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/errors.h"
#include "json.h"
#include "lazylib.h"
#include "modules.h"
#include "engine/common.h"
#include "runtime/httpd.h"

#define REQ_META "wippy.http.Request"
#define RES_META "wippy.http.Response"

static struct hreq *cur(lua_State *L)
{
	struct hreq *h = httpd_current(L);
	if (h == NULL)
		luaL_error(L, "no HTTP request in this context");
	return h;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Push s[0, n) percent-decoded ('+' as space when form). [-0, +1, m] */
static void push_decoded(lua_State *L, const char *s, size_t n, int form)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			luaL_addchar(&b, (char)(hi * 16 + lo));
			i += 2;
		} else if (form && s[i] == '+') {
			luaL_addchar(&b, ' ');
		} else {
			luaL_addchar(&b, s[i]);
		}
	}
	luaL_pushresult(&b);
}

/* {==== Request ====} */

static int rq_method(lua_State *L)
{
	size_t n;
	const char *s = hreq_method(cur(L), &n);
	lua_pushlstring(L, s, n);
	return 1;
}

static int rq_path(lua_State *L)
{
	size_t n;
	const char *s = hreq_path(cur(L), &n);
	lua_pushlstring(L, s, n);
	return 1;
}

/* Walk the query string: calls fn for each key=value pair. */
static void each_query(lua_State *L, struct hreq *h,
		       int (*fn)(lua_State *L, const char *k, size_t kl,
				 const char *v, size_t vl, void *ud), void *ud)
{
	size_t qlen;
	const char *q = hreq_query(h, &qlen), *end = q + qlen;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *e = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(e - q));
		const char *ke = eq ? eq : e;
		const char *v = eq ? eq + 1 : e;
		if (ke > q && fn(L, q, (size_t)(ke - q), v, (size_t)(e - v), ud))
			return;
		q = e + 1;
	}
}

struct qfind { const char *key; size_t klen; int found; };

static int find_one(lua_State *L, const char *k, size_t kl, const char *v,
		    size_t vl, void *ud)
{
	struct qfind *f = ud;
	push_decoded(L, k, kl, 1);
	size_t dl;
	const char *dk = lua_tolstring(L, -1, &dl);
	int hit = dl == f->klen && memcmp(dk, f->key, dl) == 0;
	lua_pop(L, 1);
	if (hit) {
		push_decoded(L, v, vl, 1);
		f->found = 1;
	}
	return hit;
}

/* req:query(k) -> string? [-0, +1, m] */
static int rq_query(lua_State *L)
{
	struct hreq *h = cur(L);
	struct qfind f;
	f.key = luaL_checklstring(L, 2, &f.klen);
	f.found = 0;
	each_query(L, h, find_one, &f);
	if (!f.found)
		lua_pushnil(L);
	return 1;
}

static int add_param(lua_State *L, const char *k, size_t kl, const char *v,
		     size_t vl, void *ud)
{
	int t = *(int *)ud;
	push_decoded(L, k, kl, 1);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, t) == LUA_TSTRING) { /* repeated: join with commas */
		lua_pushliteral(L, ",");
		push_decoded(L, v, vl, 1);
		lua_concat(L, 3);
	} else {
		lua_pop(L, 1);
		push_decoded(L, v, vl, 1);
	}
	lua_rawset(L, t);
	return 0;
}

/* req:query_params() -> table [-0, +1, m] */
static int rq_query_params(lua_State *L)
{
	struct hreq *h = cur(L);
	lua_newtable(L);
	int t = lua_gettop(L);
	each_query(L, h, add_param, &t);
	return 1;
}

static int push_header(lua_State *L, struct hreq *h, const char *name, size_t nl)
{
	size_t vl;
	const char *v = hreq_header(h, name, nl, &vl);
	if (v == NULL)
		return 0;
	lua_pushlstring(L, v, vl);
	return 1;
}

/* req:header(name) -> string? [-0, +1, m] */
static int rq_header(lua_State *L)
{
	size_t nl;
	const char *name = luaL_checklstring(L, 2, &nl);
	if (!push_header(L, cur(L), name, nl))
		lua_pushnil(L);
	return 1;
}

static int rq_content_type(lua_State *L)
{
	if (!push_header(L, cur(L), "Content-Type", 12))
		lua_pushliteral(L, "");
	return 1;
}

static int rq_content_length(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)hreq_content_length(cur(L)));
	return 1;
}

static int rq_host(lua_State *L)
{
	size_t n;
	const char *s = hreq_host(cur(L), &n);
	if (s)
		lua_pushlstring(L, s, n);
	else
		lua_pushliteral(L, "");
	return 1;
}

static int rq_remote_addr(lua_State *L)
{
	lua_pushstring(L, hreq_remote(cur(L)));
	return 1;
}

/* req:param(name) -> string? ({name...} tails are not exposed) */
static int rq_param(lua_State *L)
{
	const struct route_match *m = hreq_match(cur(L));
	size_t nl;
	const char *name = luaL_checklstring(L, 2, &nl);
	for (uint32_t i = 0; i < m->nparams; i++) {
		const struct route_param *p = &m->params[i];
		if (!p->tail && p->name_len == nl && memcmp(p->name, name, nl) == 0) {
			push_decoded(L, p->value, p->value_len, 0);
			return 1;
		}
	}
	lua_pushnil(L);
	return 1;
}

static int rq_params(lua_State *L)
{
	const struct route_match *m = hreq_match(cur(L));
	lua_createtable(L, 0, (int)m->nparams);
	for (uint32_t i = 0; i < m->nparams; i++) {
		const struct route_param *p = &m->params[i];
		if (p->tail)
			continue;
		lua_pushlstring(L, p->name, p->name_len);
		push_decoded(L, p->value, p->value_len, 0);
		lua_rawset(L, -3);
	}
	return 1;
}

static int rq_has_body(lua_State *L)
{
	size_t n;
	struct hreq *h = cur(L);
	hreq_body(h, &n);
	lua_pushboolean(L, n > 0 || hreq_body_streamed(h));
	return 1;
}

static int rq_is_content_type(lua_State *L)
{
	size_t tl, vl = 0;
	const char *t = luaL_checklstring(L, 2, &tl);
	const char *v = hreq_header(cur(L), "Content-Type", 12, &vl);
	int yes = 0;
	if (v)
		yes = vl >= tl && strncasecmp(v, t, tl) == 0 &&
		      (vl == tl || v[tl] == ';' || v[tl] == ' ');
	lua_pushboolean(L, yes);
	return 1;
}

static int rq_accepts(lua_State *L)
{
	size_t vl;
	const char *t = luaL_checkstring(L, 2);
	const char *v = hreq_header(cur(L), "Accept", 6, &vl);
	if (v == NULL) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushlstring(L, v, vl);
	v = lua_tostring(L, -1);
	lua_pushboolean(L, strstr(v, t) != NULL || strstr(v, "*/*") != NULL);
	return 1;
}

/* {==== The body, whole or as it arrives ====}
**
** A large body may still be arriving when the handler starts (httpd.h,
** "The body as it arrives"): req:body(), body_json() and
** parse_multipart() then park the caller's coroutine until all of it is
** in; req:stream() reads it piece by piece as it comes, parked only while
** nothing is buffered. http.request{max_body = n} makes a body longer
** than n an error ("request body too large") for all of them. */
#define STREAM_CHUNK (64u << 10)
#define BSTREAM_META "wippy.http.Stream"
#define MPFILE_META  "wippy.http.MultipartFile"

static int too_large(lua_State *L, struct hreq *h)
{
	uint64_t m = hreq_max_body(h);
	if (m && hreq_content_length(h) > m)
		return errors_ret(L, ERRORS_INVALID, "request body too large");
	return 0;
}

/* The whole body, waiting for it: returns 1 with *s, *n set, or, having
** pushed its results, 0 (an error) or -1 (parked: return *blocked, the
** continuation k re-enters the method). */
static int whole_body(lua_State *L, struct hreq *h, const char **s, size_t *n,
		      lua_KFunction k, int *blocked)
{
	int rc = too_large(L, h);
	if (rc)
		return 0;
	if (!hreq_body_streamed(h)) {
		*s = hreq_body(h, n);
		return 1;
	}
	if (hreq_body_timed_out(h)) {
		errors_ret(L, ERRORS_TIMEOUT, "request timeout after %Ims",
			   (lua_Integer)hreq_timeout(h));
		return 0;
	}
	rc = hreq_body_all(h);
	if (rc == HREQ_BODY_WAIT)
		rc = hreq_body_wait(h, proc_coro(L));
	if (rc == HREQ_BODY_WAIT) {
		*blocked = proc_block(L, 1, k, 0);
		return -1;
	}
	if (rc == HREQ_GONE) {
		errors_ret(L, ERRORS_CANCELED, "failed to read body: the client left or timed out");
		return 0;
	}
	if (rc == HREQ_INVALID) {
		errors_ret(L, ERRORS_INVALID, "the body is being read by another coroutine");
		return 0;
	}
	*s = hreq_body_rest(h, n);
	return 1;
}

static int rq_body(lua_State *L);
static int rq_body_json(lua_State *L);
static int rq_parse_multipart(lua_State *L);
static int body_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	return rq_body(L);
}
static int json_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	return rq_body_json(L);
}
static int multipart_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	return rq_parse_multipart(L);
}

/* req:body() -> string, err [-0, +(1|2), m] */
static int rq_body(lua_State *L)
{
	struct hreq *h = cur(L);
	const char *s;
	size_t n;
	int blocked, rc;
	lua_settop(L, 1);
	rc = whole_body(L, h, &s, &n, body_k, &blocked);
	if (rc <= 0)
		return rc < 0 ? blocked : 2;
	lua_pushlstring(L, s, n);
	return 1;
}

/* req:body_json() -> value, err. No body or bad JSON: INVALID. */
static int rq_body_json(lua_State *L)
{
	struct hreq *h = cur(L);
	const char *body;
	size_t blen;
	int blocked, rc;
	lua_settop(L, 1);
	rc = whole_body(L, h, &body, &blen, json_k, &blocked);
	if (rc <= 0)
		return rc < 0 ? blocked : 2;
	if (blen == 0)
		return errors_ret(L, ERRORS_INVALID, "request has no body");
	int n = json_decode_push(L, body, blen);
	if (n == 2) {
		const char *msg = lua_tostring(L, -1);
		if (msg == NULL && errors_is_error(L, -1))
			msg = errors_message(L, -1, NULL);
		return errors_ret(L, ERRORS_INVALID, "invalid JSON body: %s", msg ? msg : "?");
	}
	return n;
}

/* A Stream: the request's body (valid during its call only), or a
** string (a multipart file's contents, uservalue 1). */
struct bstream {
	uint64_t req;     /* hreq_id; 0: a string */
	size_t off;       /* of the string */
	uint64_t nread;
	int closed;
};

static int bs_read_k(lua_State *L, int status, lua_KContext ctx);

/* stream:read([n]) -> chunk, nil; nil, nil at the end; nil, err. */
static int bs_try(lua_State *L, size_t n)
{
	struct bstream *s = lua_touserdata(L, 1);
	struct hreq *h;
	luaL_Buffer b;
	size_t got;

	if (s->closed)
		return errors_ret(L, ERRORS_INVALID, "stream is closed");
	if (s->req == 0) {
		size_t len;
		lua_getiuservalue(L, 1, 1);
		const char *str = lua_tolstring(L, -1, &len);
		if (s->off >= len) {
			lua_pushnil(L);
			lua_pushnil(L);
			return 2;
		}
		got = len - s->off < n ? len - s->off : n;
		lua_pushlstring(L, str + s->off, got);
		s->off += got;
		s->nread += got;
		lua_pushnil(L);
		return 2;
	}
	h = httpd_current(L);
	if (h == NULL || hreq_id(h) != s->req)
		return errors_ret(L, ERRORS_INVALID, "stream is closed (its request ended)");
	char *p = luaL_buffinitsize(L, &b, n);
	got = hreq_body_take(h, p, n);
	luaL_pushresultsize(&b, got);
	if (got > 0) {
		s->nread += got;
		lua_pushnil(L);
		return 2;
	}
	lua_pop(L, 1);
	int st = hreq_body_state(h);
	if (st == HREQ_BODY_WAIT)
		st = hreq_body_wait(h, proc_coro(L));
	switch (st) {
	case HREQ_BODY_WAIT:
		return proc_block(L, 1, bs_read_k, (lua_KContext)n);
	case HREQ_GONE:
		return errors_ret(L, ERRORS_CANCELED, "the body did not arrive whole (the client left or timed out)");
	case HREQ_INVALID:
		return errors_ret(L, ERRORS_INVALID, "stream is being read by another coroutine");
	case HREQ_BODY_MORE:
		return bs_try(L, n); /* raced in before the wait */
	default:
		lua_pushnil(L);
		lua_pushnil(L);
		return 2;
	}
}

static int bs_read_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	lua_settop(L, 1);
	return bs_try(L, (size_t)ctx);
}

static int bs_read(lua_State *L)
{
	luaL_checkudata(L, 1, BSTREAM_META);
	lua_Integer n = luaL_optinteger(L, 2, STREAM_CHUNK);
	if (n <= 0)
		return luaL_argerror(L, 2, "size must be positive");
	lua_settop(L, 1);
	return bs_try(L, (size_t)n);
}

static int bs_close(lua_State *L)
{
	struct bstream *s = luaL_checkudata(L, 1, BSTREAM_META);
	s->closed = 1;
	lua_pushnil(L);
	return 1;
}

static int bs_bytes_read(lua_State *L)
{
	struct bstream *s = luaL_checkudata(L, 1, BSTREAM_META);
	lua_pushinteger(L, (lua_Integer)s->nread);
	return 1;
}

static const luaL_Reg bs_methods[] = {
	{"read", bs_read}, {"close", bs_close}, {"bytes_read", bs_bytes_read},
	{NULL, NULL}
};

/* A new stream; for a string one, the string at str_idx (0: none). */
static struct bstream *push_bstream(lua_State *L, uint64_t req, int str_idx)
{
	if (str_idx)
		str_idx = lua_absindex(L, str_idx);
	struct bstream *s = lua_newuserdatauv(L, sizeof(*s), 1);
	memset(s, 0, sizeof(*s));
	s->req = req;
	if (luaL_newmetatable(L, BSTREAM_META)) {
		lazylib_methods(L, bs_methods);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, "Stream");
		lua_setfield(L, -2, "__name");
	}
	lua_setmetatable(L, -2);
	if (str_idx) {
		lua_pushvalue(L, str_idx);
		lua_setiuservalue(L, -2, 1);
	}
	return s;
}

/* req:stream() -> Stream, err. No body: INVALID "no body". */
static int rq_stream(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t n;
	hreq_body(h, &n);
	if (n == 0 && !hreq_body_streamed(h))
		return errors_ret(L, ERRORS_INVALID, "no body");
	if (too_large(L, h))
		return 2;
	push_bstream(L, hreq_id(h), 0);
	lua_pushnil(L);
	return 2;
}

/* {==== multipart/form-data ====} */

static const char *memfind(const char *h, size_t hl, const char *n, size_t nl)
{
	if (nl == 0 || hl < nl)
		return NULL;
	for (const char *p = h, *e = h + hl - nl; p <= e; p++) {
		p = memchr(p, n[0], (size_t)(e - p) + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, n, nl) == 0)
			return p;
	}
	return NULL;
}

/* The value of parameter `name` in a header value "type; a=b; c="d"",
** pushed (quotes removed); 0 when absent. */
static int push_param(lua_State *L, const char *v, size_t vl, const char *name)
{
	size_t nl = strlen(name);
	const char *p = v, *e = v + vl;
	while ((p = memchr(p, ';', (size_t)(e - p))) != NULL) {
		p++;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == '=') {
			const char *q = p + nl + 1, *qe;
			if (q < e && *q == '"') {
				luaL_Buffer b;
				luaL_buffinit(L, &b);
				for (q++; q < e && *q != '"'; q++) {
					if (*q == '\\' && q + 1 < e)
						q++;
					luaL_addchar(&b, *q);
				}
				luaL_pushresult(&b);
				return 1;
			}
			for (qe = q; qe < e && *qe != ';' && *qe != ' '; qe++)
				;
			lua_pushlstring(L, q, (size_t)(qe - q));
			return 1;
		}
	}
	return 0;
}

static int mp_fail(lua_State *L, const char *why)
{
	return errors_ret(L, ERRORS_INTERNAL, "failed to parse multipart form: %s", why);
}

/* Append the value at -1 to t[key at -2] (a string, or a list once
** repeated); pops both. */
static void add_value(lua_State *L, int t)
{
	lua_pushvalue(L, -2);
	int ty = lua_rawget(L, t);
	if (ty == LUA_TNIL) {
		lua_pop(L, 1);
		lua_rawset(L, t);
		return;
	}
	if (ty == LUA_TSTRING) {
		lua_createtable(L, 2, 0);
		lua_insert(L, -2);
		lua_rawseti(L, -2, 1);
		lua_pushvalue(L, -3);
		lua_pushvalue(L, -2);
		lua_rawset(L, t);
	}
	/* list at -1, value at -2, key at -3 */
	lua_insert(L, -2);
	lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
	lua_pop(L, 2);
}

static void push_mpfile(lua_State *L, int content, int filename, int headers)
{
	content = lua_absindex(L, content);
	filename = lua_absindex(L, filename);
	headers = lua_absindex(L, headers);
	lua_newuserdatauv(L, 0, 3);
	luaL_setmetatable(L, MPFILE_META);
	lua_pushvalue(L, content);
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, filename);
	lua_setiuservalue(L, -2, 2);
	lua_pushvalue(L, headers);
	lua_setiuservalue(L, -2, 3);
}

/* req:parse_multipart([max_memory]) -> {values = {...}, files = {name =
** {file...}}}, err. Not multipart/form-data: INVALID; a malformed body,
** or more than max_memory (default 32 MiB) of parts: INTERNAL. */
static int rq_parse_multipart(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t ctl, blen;
	const char *ct = hreq_header(h, "Content-Type", 12, &ctl), *body;
	lua_Integer maxmem = 32 << 20;
	int blocked, rc;

	if (!lua_isnoneornil(L, 2)) {
		maxmem = (lua_Integer)luaL_checknumber(L, 2);
		if (maxmem <= 0)
			maxmem = 32 << 20;
	}
	if (ct == NULL || ctl < 19 || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return errors_ret(L, ERRORS_INVALID, "content type is not multipart/form-data");
	lua_settop(L, 2);
	if (!push_param(L, ct, ctl, "boundary") || lua_rawlen(L, -1) == 0)
		return mp_fail(L, "no multipart boundary param in Content-Type");
	size_t bl0;
	const char *bnd = lua_tolstring(L, 3, &bl0);
	if (bl0 > 70)
		return mp_fail(L, "boundary longer than 70 bytes");
	char delim[80];
	int dl = snprintf(delim, sizeof(delim), "\r\n--%s", bnd);
	lua_settop(L, 2);
	rc = whole_body(L, h, &body, &blen, multipart_k, &blocked);
	if (rc <= 0)
		return rc < 0 ? blocked : 2;

	lua_createtable(L, 0, 2);
	int res = lua_gettop(L);
	lua_newtable(L);
	int values = lua_gettop(L);
	lua_newtable(L);
	int files = lua_gettop(L);

	const char *p = body, *e = body + blen, *q;
	size_t used = 0;
	/* The first delimiter may open the body without its CRLF. */
	if ((size_t)(e - p) >= (size_t)dl - 2 && memcmp(p, delim + 2, (size_t)dl - 2) == 0)
		p += dl - 2;
	else if ((q = memfind(p, (size_t)(e - p), delim, (size_t)dl)) != NULL)
		p = q + dl;
	else
		return mp_fail(L, "no multipart boundary in the body");
	for (;;) {
		if (e - p >= 2 && p[0] == '-' && p[1] == '-')
			break; /* the close delimiter */
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (e - p < 2 || p[0] != '\r' || p[1] != '\n')
			return mp_fail(L, "NextPart: EOF");
		p += 2;
		const char *he = memfind(p, (size_t)(e - p), "\r\n\r\n", 4);
		const char *hend;
		if (e - p >= 2 && p[0] == '\r' && p[1] == '\n')
			hend = p; /* a part without headers */
		else if (he)
			hend = he + 2;
		else
			return mp_fail(L, "NextPart: EOF (truncated part headers)");
		/* The part's headers, keys lowercase. */
		lua_newtable(L);
		int hdrs = lua_gettop(L);
		for (const char *l = p; l < hend;) {
			const char *le = memfind(l, (size_t)(hend - l), "\r\n", 2);
			const char *colon = memchr(l, ':', (size_t)(le - l));
			if (colon == NULL || colon == l)
				return mp_fail(L, "malformed MIME header line");
			luaL_Buffer b;
			luaL_buffinit(L, &b);
			for (const char *k = l; k < colon; k++)
				luaL_addchar(&b, (char)((*k >= 'A' && *k <= 'Z') ? *k + 32 : *k));
			luaL_pushresult(&b);
			const char *v = colon + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			lua_pushlstring(L, v, (size_t)(le - v));
			lua_rawset(L, hdrs);
			l = le + 2;
		}
		const char *cs = hend + 2;
		q = memfind(cs, (size_t)(e - cs), delim, (size_t)dl);
		if (q == NULL)
			return mp_fail(L, "NextPart: EOF (truncated body)");
		size_t clen = (size_t)(q - cs);
		used += clen;
		if (used > (size_t)maxmem)
			return mp_fail(L, "multipart: message too large");
		lua_getfield(L, hdrs, "content-disposition");
		size_t cdl;
		const char *cd = lua_tolstring(L, -1, &cdl);
		int has_name = cd && push_param(L, cd, cdl, "name");
		if (has_name && lua_rawlen(L, -1) > 0) {
			int fn = push_param(L, cd, cdl, "filename");
			if (fn) {
				/* key, filename: a file */
				lua_pushlstring(L, cs, clen);
				push_mpfile(L, -1, -2, hdrs);
				lua_remove(L, -2);
				lua_remove(L, -2);
				/* key, file */
				lua_pushvalue(L, -2);
				if (lua_rawget(L, files) != LUA_TTABLE) {
					lua_pop(L, 1);
					lua_newtable(L);
					lua_pushvalue(L, -3);
					lua_pushvalue(L, -2);
					lua_rawset(L, files);
				}
				lua_insert(L, -2);
				lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
				lua_pop(L, 2);
			} else {
				lua_pushlstring(L, cs, clen);
				add_value(L, values);
			}
		} else if (has_name) {
			lua_pop(L, 1);
		}
		lua_settop(L, files);
		p = q + dl;
	}
	lua_pushvalue(L, files);
	lua_setfield(L, res, "files");
	lua_pushvalue(L, values);
	lua_setfield(L, res, "values");
	lua_settop(L, res);
	lua_pushnil(L);
	return 2;
}

/* file:stream() -> Stream, nil: its contents. */
static int mf_stream(lua_State *L)
{
	luaL_checkudata(L, 1, MPFILE_META);
	lua_getiuservalue(L, 1, 1);
	push_bstream(L, 0, -1);
	lua_pushnil(L);
	return 2;
}

static int mf_size(lua_State *L)
{
	luaL_checkudata(L, 1, MPFILE_META);
	lua_getiuservalue(L, 1, 1);
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
	lua_pushnil(L);
	return 2;
}

static int mf_name(lua_State *L)
{
	luaL_checkudata(L, 1, MPFILE_META);
	lua_getiuservalue(L, 1, 2);
	lua_pushnil(L);
	return 2;
}

/* file:header(name) -> string? (the part's own header) */
static int mf_header(lua_State *L)
{
	luaL_checkudata(L, 1, MPFILE_META);
	size_t n;
	const char *k = luaL_checklstring(L, 2, &n);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < n; i++)
		luaL_addchar(&b, (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] + 32 : k[i]));
	luaL_pushresult(&b);
	lua_getiuservalue(L, 1, 3);
	lua_insert(L, -2);
	lua_rawget(L, -2);
	return 1;
}

static int mf_tostring(lua_State *L)
{
	luaL_checkudata(L, 1, MPFILE_META);
	lua_getiuservalue(L, 1, 2);
	lua_getiuservalue(L, 1, 1);
	lua_pushfstring(L, "http.MultipartFile{name=%s, size=%d}", lua_tostring(L, -2),
			(int)lua_rawlen(L, -1));
	return 1;
}

static const luaL_Reg mf_methods[] = {
	{"stream", mf_stream}, {"size", mf_size}, {"name", mf_name},
	{"header", mf_header}, {NULL, NULL}
};

/* {==== Response ====} */

static int sent_error(lua_State *L)
{
	errors_push(L, ERRORS_INVALID, "headers already sent");
	return 1;
}

/* An hreq_* result as the method's return: nothing, or an INVALID error. */
static int result(lua_State *L, int rc, const char *invalid)
{
	if (rc == HREQ_SENT)
		return sent_error(L);
	if (rc == HREQ_INVALID)
		return errors_push(L, ERRORS_INVALID, "%s", invalid), 1;
	return 0;
}

/* res:set_status(code) -> err? */
static int rs_set_status(lua_State *L)
{
	struct hreq *h = cur(L);
	lua_Integer code = luaL_checkinteger(L, 2);
	char msg[64];
	snprintf(msg, sizeof(msg), "invalid status code %d", (int)code);
	return result(L, hreq_set_status(h, code < 0 || code > 99999 ? 0 : (int)code), msg);
}

static int rs_set_header(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t kl, vl;
	const char *k = luaL_checklstring(L, 2, &kl);
	const char *v = luaL_checklstring(L, 3, &vl);
	return result(L, hreq_set_header(h, k, kl, v, vl), "header contains NUL");
}

static int rs_set_content_type(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t vl;
	const char *v = luaL_checklstring(L, 2, &vl);
	return result(L, hreq_set_header(h, "Content-Type", 12, v, vl),
		      "header contains NUL");
}

static int body_write(lua_State *L, struct hreq *h, const char *s, size_t n);

/* res:write(s) -> err? */
static int rs_write(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);
	return body_write(L, h, s, n);
}

/* res:write_json(v) -> err? (sets Content-Type: application/json first) */
static int rs_write_json(lua_State *L)
{
	struct hreq *h = cur(L);
	luaL_checkany(L, 2);
	if (json_encode_push(L, 2) == 2)
		return 1; /* nil, err: return the err */
	hreq_default_type(h, "application/json");
	size_t n;
	const char *s = lua_tolstring(L, -1, &n);
	return body_write(L, h, s, n);
}

/* {==== Streaming ====}
**
** res:flush() sends what was written (httpd.h: hreq_flush); a client that
** reads slower than the handler writes parks the handler here until it
** catches up. Once streaming, a write past STREAM_AUTO unflushed bytes
** flushes by itself, so a handler that never flushes again cannot buffer
** without bound. After the client left, writes return a Canceled error. */
#define STREAM_AUTO (64u << 10)

static int gone_error(lua_State *L)
{
	errors_push(L, ERRORS_CANCELED, "client disconnected");
	return 1;
}

static int flush_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	struct hreq *h = cur(L);
	return hreq_gone(h) ? gone_error(L) : 0;
}

/* Flush, waiting while the client is behind. [-0, +(0|1), e] */
static int do_flush(lua_State *L, struct hreq *h)
{
	int rc = hreq_flush(h);
	if (rc == HREQ_GONE)
		return gone_error(L);
	if (rc == HREQ_INVALID)
		return errors_push(L, ERRORS_INVALID, "invalid response header"), 1;
	if (rc == HREQ_FULL && hreq_wait(h, proc_coro(L)) == HREQ_FULL) {
		lua_settop(L, 0);
		return proc_block(L, 1, flush_k, 0);
	}
	return hreq_gone(h) ? gone_error(L) : 0;
}

/* res:flush() -> err? */
static int rs_flush(lua_State *L)
{
	return do_flush(L, cur(L));
}

/* res:set_transfer(http.TRANSFER.CHUNKED | SSE); raises after a write,
** as the original does. */
static int rs_set_transfer(lua_State *L)
{
	struct hreq *h = cur(L);
	const char *t = luaL_checkstring(L, 2);
	int mode = strcmp(t, "chunked") == 0 ? HREQ_TRANSFER_CHUNKED :
		   strcmp(t, "sse") == 0 ? HREQ_TRANSFER_SSE : 0;
	if (mode == 0)
		return luaL_argerror(L, 2, "invalid transfer type");
	if (hreq_set_transfer(h, mode) == HREQ_SENT)
		return luaL_error(L, "cannot set transfer mode after headers are sent");
	return 0;
}

/* res:write_event{name = s, data = v, id = s?} -> err?: one server-sent
** event ("id: ...", "event: name", "data: " and v as JSON), flushed. The
** first one switches the response to SSE unless something was written. */
static int rs_write_event(lua_State *L)
{
	struct hreq *h = cur(L);
	luaL_checktype(L, 2, LUA_TTABLE);
	if (hreq_transfer(h) != HREQ_TRANSFER_SSE) {
		if (hreq_wrote(h)) {
			errors_push(L, ERRORS_INVALID, "cannot switch to SSE mode after headers are sent");
			return 1;
		}
		hreq_set_transfer(h, HREQ_TRANSFER_SSE);
	}
	lua_getfield(L, 2, "name");
	size_t nl;
	const char *name = lua_tolstring(L, -1, &nl);
	if (name == NULL || nl == 0)
		return luaL_argerror(L, 2, "missing event name");
	if (strpbrk(name, "\r\n"))
		return luaL_argerror(L, 2, "event name contains a line break");
	lua_getfield(L, 2, "data");
	if (lua_isnil(L, -1))
		return luaL_argerror(L, 2, "missing event data");
	if (json_encode_push(L, lua_gettop(L)) == 2)
		return luaL_argerror(L, 2, "failed to marshal event data");
	size_t dl;
	const char *data = lua_tolstring(L, -1, &dl);
	lua_getfield(L, 2, "id");
	size_t il = 0;
	const char *id = lua_tolstring(L, -1, &il);
	if (id && strpbrk(id, "\r\n"))
		return luaL_argerror(L, 2, "event id contains a line break");
	if (hreq_gone(h))
		return gone_error(L);
	if (id) {
		hreq_write(h, "id: ", 4);
		hreq_write(h, id, il);
		hreq_write(h, "\n", 1);
	}
	hreq_write(h, "event: ", 7);
	hreq_write(h, name, nl);
	hreq_write(h, "\ndata: ", 7);
	hreq_write(h, data, dl);
	hreq_write(h, "\n\n", 2);
	return do_flush(L, h);
}

/* res:write's and write_json's body: lost with an error once the client
** of a stream left; a stream flushes past STREAM_AUTO by itself. */
static int body_write(lua_State *L, struct hreq *h, const char *s, size_t n)
{
	if (hreq_streaming(h) && hreq_gone(h))
		return gone_error(L);
	hreq_write(h, s, n);
	if (hreq_streaming(h) && hreq_unflushed(h) >= STREAM_AUTO)
		return do_flush(L, h);
	return 0;
}

static const luaL_Reg req_methods[] = {
	{"method", rq_method}, {"path", rq_path}, {"query", rq_query},
	{"query_params", rq_query_params}, {"header", rq_header},
	{"content_type", rq_content_type}, {"content_length", rq_content_length},
	{"host", rq_host}, {"remote_addr", rq_remote_addr}, {"param", rq_param},
	{"params", rq_params}, {"body", rq_body}, {"body_json", rq_body_json},
	{"has_body", rq_has_body}, {"is_content_type", rq_is_content_type},
	{"accepts", rq_accepts}, {"stream", rq_stream},
	{"parse_multipart", rq_parse_multipart}, {NULL, NULL}
};

static const luaL_Reg res_methods[] = {
	{"set_status", rs_set_status}, {"set_header", rs_set_header},
	{"set_content_type", rs_set_content_type}, {"write", rs_write},
	{"write_json", rs_write_json}, {"flush", rs_flush},
	{"set_transfer", rs_set_transfer}, {"write_event", rs_write_event},
	{NULL, NULL}
};

/* http.request() / http.response(): the objects of the current call.
** [-0, +(1|2), m] */
static int push_obj(lua_State *L, const char *meta, const luaL_Reg *methods)
{
	if (httpd_current(L) == NULL)
		return errors_ret(L, ERRORS_UNAVAILABLE, "no HTTP request in this context");
	/* The objects carry no state (they read the current call), so one of
	** each per handler state serves every request. */
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, meta) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	lua_newuserdatauv(L, 1, 0);
	if (luaL_newmetatable(L, meta)) {
		lazylib_methods(L, methods);
		lua_setfield(L, -2, "__index");
	}
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, meta);
	return 1;
}

/* http.request([{timeout = ms, max_body = bytes}]): the options hold for
** this call's request (the object is shared, the limits are the call's).
** Anything but a table is ignored, as the original's current release
** ignores its argument altogether (its earlier ones took these options). */
static int h_request(lua_State *L)
{
	struct hreq *h = httpd_current(L);
	if (h && lua_type(L, 1) == LUA_TTABLE) {
		lua_getfield(L, 1, "max_body");
		if (lua_type(L, -1) == LUA_TNUMBER)
			hreq_set_max_body(h, lua_tonumber(L, -1) > 0 ?
					  (uint64_t)lua_tonumber(L, -1) : 0);
		lua_pop(L, 1);
		lua_getfield(L, 1, "timeout");
		if (lua_type(L, -1) == LUA_TNUMBER) {
			lua_Number ms = lua_tonumber(L, -1);
			hreq_set_timeout(h, ms > 0 && ms < 1e12 ? (uint64_t)ms : 0);
		}
		lua_pop(L, 1);
	}
	return push_obj(L, REQ_META, req_methods);
}
static int h_response(lua_State *L) { return push_obj(L, RES_META, res_methods); }

static void consts(lua_State *L, const char *name, const char *const *kv, int n)
{
	lua_createtable(L, 0, n);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, kv[2 * i + 1]);
		lua_setfield(L, -2, kv[2 * i]);
	}
	lua_setfield(L, -2, name);
}

int luaopen_http(lua_State *L)
{
	static const luaL_Reg f[] = {
		{"request", h_request}, {"response", h_response}, {NULL, NULL}
	};
	static const struct { const char *k; int v; } status[] = {
		{"CONTINUE", 100}, {"OK", 200}, {"CREATED", 201}, {"ACCEPTED", 202},
		{"NO_CONTENT", 204}, {"PARTIAL_CONTENT", 206}, {"MOVED_PERMANENTLY", 301}, {"FOUND", 302},
		{"SEE_OTHER", 303}, {"NOT_MODIFIED", 304}, {"TEMPORARY_REDIRECT", 307},
		{"PERMANENT_REDIRECT", 308}, {"BAD_REQUEST", 400}, {"UNAUTHORIZED", 401},
		{"PAYMENT_REQUIRED", 402}, {"FORBIDDEN", 403}, {"NOT_FOUND", 404},
		{"METHOD_NOT_ALLOWED", 405}, {"NOT_ACCEPTABLE", 406}, {"REQUEST_TIMEOUT", 408},
		{"CONFLICT", 409}, {"GONE", 410}, {"PAYLOAD_TOO_LARGE", 413},
		{"UNSUPPORTED_MEDIA_TYPE", 415}, {"UNPROCESSABLE", 422},
		{"UNPROCESSABLE_ENTITY", 422},
		{"TOO_MANY_REQUESTS", 429}, {"INTERNAL_ERROR", 500},
		{"INTERNAL_SERVER_ERROR", 500}, {"NOT_IMPLEMENTED", 501},
		{"BAD_GATEWAY", 502}, {"SERVICE_UNAVAILABLE", 503}, {"GATEWAY_TIMEOUT", 504},
		{"VERSION_NOT_SUPPORTED", 505},
	};
	static const char *const methods[] = {
		"GET", "GET", "POST", "POST", "PUT", "PUT", "DELETE", "DELETE",
		"PATCH", "PATCH", "HEAD", "HEAD", "OPTIONS", "OPTIONS", "TRACE", "TRACE",
	};
	static const char *const content[] = {
		"JSON", "application/json", "TEXT", "text/plain",
		"HTML", "text/html", "FORM", "application/x-www-form-urlencoded",
		"MULTIPART", "multipart/form-data", "STREAM", "application/octet-stream",
	};
	static const char *const transfer[] = { "CHUNKED", "chunked", "SSE", "sse" };
	static const char *const errkinds[] = {
		"PARSE_FAILED", "PARSE_FAILED", "INVALID_STATE", "INVALID_STATE",
		"WRITE_FAILED", "WRITE_FAILED", "STREAM_ERROR", "STREAM_ERROR",
	};

	if (luaL_newmetatable(L, MPFILE_META)) {
		lazylib_methods(L, mf_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, mf_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, "MultipartFile");
		lua_setfield(L, -2, "__name");
	}
	lua_pop(L, 1);
	luaL_newlib(L, f);
	lua_createtable(L, 0, (int)countof(status));
	for (size_t i = 0; i < countof(status); i++) {
		lua_pushinteger(L, status[i].v);
		lua_setfield(L, -2, status[i].k);
	}
	lua_setfield(L, -2, "STATUS");
	consts(L, "METHOD", methods, 8);
	consts(L, "CONTENT", content, 6);
	consts(L, "TRANSFER", transfer, 2);
	consts(L, "ERROR", errkinds, 4);
	return 1;
}
