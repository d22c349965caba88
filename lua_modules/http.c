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
	hreq_body(cur(L), &n);
	lua_pushboolean(L, n > 0);
	return 1;
}

/* req:body() -> string, err [-0, +(1|2), m] */
static int rq_body(lua_State *L)
{
	size_t n;
	const char *s = hreq_body(cur(L), &n);
	lua_pushlstring(L, s, n);
	return 1;
}

/* req:body_json() -> value, err. No body or bad JSON: INVALID. */
static int rq_body_json(lua_State *L)
{
	size_t blen;
	const char *body = hreq_body(cur(L), &blen);
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
	{"accepts", rq_accepts}, {NULL, NULL}
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

static int h_request(lua_State *L) { return push_obj(L, REQ_META, req_methods); }
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
