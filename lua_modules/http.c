/*
** lua_modules/http.c: require("http") for function.lua endpoint handlers
** (spec 9): http.request(), http.response() and the STATUS, METHOD,
** CONTENT, TRANSFER constants.
**
** Request methods read straight from the connection buffer of the call
** running in this state (runtime/httpd.h); nothing is copied until Lua
** asks for a string. The response is buffered in C and sent by the server
** when the handler returns; "headers sent" means a write happened, after
** which status and headers can no longer change (they return an INVALID
** error, as the original does).
*/
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/errors.h"
#include "json.h"
#include "lazylib.h"
#include "modules.h"
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
	struct hreq *h = cur(L);
	lua_pushlstring(L, h->buf + h->req->method_off, h->req->method_len);
	return 1;
}

static int rq_path(lua_State *L)
{
	struct hreq *h = cur(L);
	if (h->req->path_len == 0)
		lua_pushliteral(L, "/");
	else
		lua_pushlstring(L, h->buf + h->req->path_off, h->req->path_len);
	return 1;
}

/* Walk the query string: calls fn for each key=value pair. */
static void each_query(lua_State *L, struct hreq *h,
		       int (*fn)(lua_State *L, const char *k, size_t kl,
				 const char *v, size_t vl, void *ud), void *ud)
{
	const char *q = h->buf + h->req->query_off, *end = q + h->req->query_len;
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
	int i = http1_find_header(h->req, h->buf, name, nl);
	if (i < 0)
		return 0;
	const struct http1_header *x = &h->req->headers[i];
	lua_pushlstring(L, h->buf + x->value_off, x->value_len);
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
	struct hreq *h = cur(L);
	lua_pushinteger(L, (lua_Integer)(h->req->body_kind == HTTP1_BODY_NONE ? 0 :
					 h->req->body_kind == HTTP1_BODY_LENGTH ?
					 h->req->content_length : h->body_len));
	return 1;
}

static int rq_host(lua_State *L)
{
	struct hreq *h = cur(L);
	if (h->req->flags & HTTP1_F_HAS_HOST)
		lua_pushlstring(L, h->buf + h->req->host_off, h->req->host_len);
	else
		lua_pushliteral(L, "");
	return 1;
}

static int rq_remote_addr(lua_State *L)
{
	lua_pushstring(L, cur(L)->remote);
	return 1;
}

/* req:param(name) -> string? ({name...} tails are not exposed) */
static int rq_param(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t nl;
	const char *name = luaL_checklstring(L, 2, &nl);
	for (uint32_t i = 0; i < h->match.nparams; i++) {
		const struct route_param *p = &h->match.params[i];
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
	struct hreq *h = cur(L);
	lua_createtable(L, 0, (int)h->match.nparams);
	for (uint32_t i = 0; i < h->match.nparams; i++) {
		const struct route_param *p = &h->match.params[i];
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
	lua_pushboolean(L, cur(L)->body_len > 0);
	return 1;
}

/* req:body() -> string, err [-0, +(1|2), m] */
static int rq_body(lua_State *L)
{
	struct hreq *h = cur(L);
	lua_pushlstring(L, h->body, h->body_len);
	return 1;
}

/* req:body_json() -> value, err. No body or bad JSON: INVALID. */
static int rq_body_json(lua_State *L)
{
	struct hreq *h = cur(L);
	if (h->body_len == 0)
		return errors_ret(L, ERRORS_INVALID, "request has no body");
	int n = json_decode_push(L, h->body, h->body_len);
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
	struct hreq *h = cur(L);
	size_t tl;
	const char *t = luaL_checklstring(L, 2, &tl);
	int i = http1_find_header(h->req, h->buf, "Content-Type", 12);
	int yes = 0;
	if (i >= 0) {
		const struct http1_header *x = &h->req->headers[i];
		yes = x->value_len >= tl && strncasecmp(h->buf + x->value_off, t, tl) == 0 &&
		      (x->value_len == tl || h->buf[x->value_off + tl] == ';' ||
		       h->buf[x->value_off + tl] == ' ');
	}
	lua_pushboolean(L, yes);
	return 1;
}

static int rq_accepts(lua_State *L)
{
	struct hreq *h = cur(L);
	const char *t = luaL_checkstring(L, 2);
	int i = http1_find_header(h->req, h->buf, "Accept", 6);
	if (i < 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	const struct http1_header *x = &h->req->headers[i];
	lua_pushlstring(L, h->buf + x->value_off, x->value_len);
	const char *v = lua_tostring(L, -1);
	lua_pushboolean(L, strstr(v, t) != NULL || strstr(v, "*/*") != NULL);
	return 1;
}

/* {==== Response ====} */

static int sent_error(lua_State *L)
{
	errors_push(L, ERRORS_INVALID, "headers already sent");
	return 1;
}

/* res:set_status(code) -> err? */
static int rs_set_status(lua_State *L)
{
	struct hreq *h = cur(L);
	lua_Integer code = luaL_checkinteger(L, 2);
	if (h->headers_sent)
		return sent_error(L);
	if (code < 100 || code > 999)
		return errors_push(L, ERRORS_INVALID, "invalid status code %d", (int)code), 1;
	h->status = (int)code;
	return 0;
}

/* Replace or add a response header. */
static void set_header(struct hreq *h, const char *k, size_t kl, const char *v, size_t vl)
{
	struct hbuf nb = {0};
	const char *q = h->headers.p, *end = h->headers.p + h->headers.len;
	while (q < end) {
		size_t a = strlen(q), b = strlen(q + a + 1);
		if (!(a == kl && strncasecmp(q, k, kl) == 0))
			hbuf_add(&nb, q, a + b + 2);
		q += a + b + 2;
	}
	hbuf_add(&nb, k, kl);
	hbuf_add(&nb, "", 1);
	hbuf_add(&nb, v, vl);
	hbuf_add(&nb, "", 1);
	free(h->headers.p);
	h->headers = nb;
}

static int rs_set_header(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t kl, vl;
	const char *k = luaL_checklstring(L, 2, &kl);
	const char *v = luaL_checklstring(L, 3, &vl);
	if (h->headers_sent)
		return sent_error(L);
	if (memchr(k, 0, kl) || memchr(v, 0, vl))
		return errors_push(L, ERRORS_INVALID, "header contains NUL"), 1;
	if (kl == 12 && strncasecmp(k, "Content-Type", 12) == 0)
		h->has_content_type = 1;
	set_header(h, k, kl, v, vl);
	return 0;
}

static int rs_set_content_type(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t vl;
	const char *v = luaL_checklstring(L, 2, &vl);
	if (h->headers_sent)
		return sent_error(L);
	h->has_content_type = 1;
	set_header(h, "Content-Type", 12, v, vl);
	return 0;
}

/* res:write(s) -> err? */
static int rs_write(lua_State *L)
{
	struct hreq *h = cur(L);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);
	h->headers_sent = 1;
	h->wrote = 1;
	hbuf_add(&h->out, s, n);
	return 0;
}

/* res:write_json(v) -> err? (sets Content-Type: application/json first) */
static int rs_write_json(lua_State *L)
{
	struct hreq *h = cur(L);
	luaL_checkany(L, 2);
	if (json_encode_push(L, 2) == 2)
		return 1; /* nil, err: return the err */
	if (!h->headers_sent && !h->has_content_type) {
		h->has_content_type = 1;
		set_header(h, "Content-Type", 12, "application/json", 16);
	}
	size_t n;
	const char *s = lua_tolstring(L, -1, &n);
	h->headers_sent = 1;
	h->wrote = 1;
	hbuf_add(&h->out, s, n);
	return 0;
}

static int rs_flush(lua_State *L)
{
	cur(L);
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
	{"write_json", rs_write_json}, {"flush", rs_flush}, {NULL, NULL}
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
		{"NO_CONTENT", 204}, {"MOVED_PERMANENTLY", 301}, {"FOUND", 302},
		{"SEE_OTHER", 303}, {"NOT_MODIFIED", 304}, {"TEMPORARY_REDIRECT", 307},
		{"PERMANENT_REDIRECT", 308}, {"BAD_REQUEST", 400}, {"UNAUTHORIZED", 401},
		{"PAYMENT_REQUIRED", 402}, {"FORBIDDEN", 403}, {"NOT_FOUND", 404},
		{"METHOD_NOT_ALLOWED", 405}, {"NOT_ACCEPTABLE", 406}, {"REQUEST_TIMEOUT", 408},
		{"CONFLICT", 409}, {"GONE", 410}, {"PAYLOAD_TOO_LARGE", 413},
		{"UNSUPPORTED_MEDIA_TYPE", 415}, {"UNPROCESSABLE_ENTITY", 422},
		{"TOO_MANY_REQUESTS", 429}, {"INTERNAL_ERROR", 500},
		{"INTERNAL_SERVER_ERROR", 500}, {"NOT_IMPLEMENTED", 501},
		{"BAD_GATEWAY", 502}, {"SERVICE_UNAVAILABLE", 503}, {"GATEWAY_TIMEOUT", 504},
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
	return 1;
}
