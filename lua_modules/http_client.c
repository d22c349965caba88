/*
** lua_modules/http_client.c: require("http_client"), outgoing HTTP with
** the original runtime's API: get post put delete head patch request
** request_batch encode_uri decode_uri, over runtime/hclient.h (libcurl on
** the caller's shard).
**
** A call blocks only its coroutine. The options are read into a transfer
** (struct hclient_xfer) owned by a call record, a userdata with __gc left
** on the blocked coroutine's stack; the process is pinned to its shard
** (proc_io_begin) while any transfer of the call is in flight. When the
** last one ends, the driver's done queues the record for the process's
** next step (proc_ext_post), where the responses are built and the
** coroutine woken. A process that ends first (killed, canceled, failed)
** closes its state, and the record's __gc frees the transfers still in
** flight, which removes them from curl: nothing is left behind.
**
** Responses are plain tables, as the original's: status_code, url (after
** redirects), body (absent when empty), body_size, headers (canonical
** names, first value; absent when none), cookies (name -> value from
** Set-Cookie; absent when none). With stream = true the call returns when
** the body begins (or the transfer ends): body is absent, body_size is -1
** and stream is a reader (read(n), close(), bytes_read(), and calling it
** gives an iterator) that parks its coroutine until more arrives; the
** transfer pauses while 256 KB are held unread, so a slow reader slows
** the server instead of filling memory.
**
** Errors: argument types raise, as the original's CheckString/OptTable;
** a denied security check is nil + PermissionDenied; a request that
** cannot be made (bad URL, scheme or method) nil + Invalid; a timeout nil
** + Timeout (retryable); any other transport failure nil + Internal
** (retryable), as the original reports them all.
**
** Security checks, the original's: http_client.unix_socket on the socket
** path, http_client.insecure_tls and http_client.request on the URL, and
** http_client.private_ip on a loopback, private, link-local or
** unspecified address: a literal (or "localhost", as 127.0.0.1) at the
** call; under a security context also the address each connection
** reaches (a host name's, a redirect's), checked before the request is
** sent: a transfer stopped there goes again once the scope allows the
** address, else the call fails PermissionDenied.
*/
#include "lua_modules/modules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/errors.h"
#include "runtime/gotime.h"
#include "runtime/hclient.h"
#include "runtime/proc.h"
#include "security.h"

#define CALL_META   "wippy.http_client.call"
#define STREAM_META "wippy.http_client.Stream"
#define STREAM_CHUNK 32768

/* A call: one request or a batch, waiting for n transfers. */
struct call {
	struct pext ext;
	struct proc *p;
	struct coro *co;
	int n, pending;
	int pinned;          /* proc_io_begin was called */
	int batch;
	int stream;          /* single request with stream = true */
	struct hclient_xfer *x[];
};

/* {==== Errors ====} */

/* Push an error object of kind with retryable set. [-0, +1, m] */
static void push_err(lua_State *L, const char *kind, int retryable, const char *msg)
{
	lua_pushstring(L, msg);
	lua_pushstring(L, kind);
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	lua_pushnil(L);
	errors_create(L, retryable ? ERRORS_RETRY_YES : ERRORS_RETRY_NO);
}

static void push_xfer_err(lua_State *L, const struct hclient_xfer *x)
{
	switch (hclient_err(x)) {
	case HC_INVALID:
		push_err(L, ERRORS_INVALID, 0, hclient_errmsg(x));
		break;
	case HC_TIMEOUT:
		push_err(L, ERRORS_TIMEOUT, 1, hclient_errmsg(x));
		break;
	case HC_BLOCKED:
		push_err(L, ERRORS_PERMISSION_DENIED, 0, hclient_errmsg(x));
		break;
	default:
		push_err(L, ERRORS_INTERNAL, 1, hclient_errmsg(x));
	}
}

/* {==== Responses ====} */

/* Go's CanonicalMIMEHeaderKey: "content-type" -> "Content-Type"; a name
** with a byte that is not a token character is kept as it is. */
static void push_canonical(lua_State *L, const char *s, size_t n)
{
	luaL_Buffer b;
	int up = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c)) {
			lua_pushlstring(L, s, n);
			return;
		}
	}
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		luaL_addchar(&b, up ? (char)toupper((unsigned char)c) : (char)tolower((unsigned char)c));
		up = c == '-';
	}
	luaL_pushresult(&b);
}

/* The name=value of a Set-Cookie value, pushed as two strings, or 0. */
static int push_cookie(lua_State *L, const char *v, size_t n)
{
	const char *semi = memchr(v, ';', n), *eq;
	size_t len = semi ? (size_t)(semi - v) : n;
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	eq = memchr(v, '=', len);
	if (eq == NULL || eq == v)
		return 0;
	lua_pushlstring(L, v, (size_t)(eq - v));
	const char *val = eq + 1;
	size_t vl = len - (size_t)(eq - v) - 1;
	if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"')
		val++, vl -= 2;
	lua_pushlstring(L, val, vl);
	return 1;
}

static void push_stream(lua_State *L, struct hclient_xfer **slot);

/* The response table of a finished transfer (or, with stream, of one
** whose body has begun: the stream takes x over). [-0, +1, m] */
static void push_response(lua_State *L, struct hclient_xfer **slot, int stream)
{
	struct hclient_xfer *x = *slot;
	size_t blen, nl, vl;
	const char *body = hclient_body(x, &blen), *name, *value;
	int ri, hi, ci, nh = 0, nc = 0;

	lua_createtable(L, 0, 7);
	ri = lua_gettop(L);
	lua_pushinteger(L, hclient_status(x));
	lua_setfield(L, ri, "status_code");
	lua_pushstring(L, hclient_url(x));
	lua_setfield(L, ri, "url");
	if (stream) {
		lua_pushinteger(L, -1);
	} else {
		if (blen > 0) {
			lua_pushlstring(L, body, blen);
			lua_setfield(L, ri, "body");
		}
		lua_pushinteger(L, (lua_Integer)blen);
	}
	lua_setfield(L, ri, "body_size");
	lua_newtable(L);
	hi = lua_gettop(L);
	lua_newtable(L);
	ci = lua_gettop(L);
	for (size_t i = 0; hclient_header(x, i, &name, &nl, &value, &vl); i++) {
		push_canonical(L, name, nl);
		lua_pushvalue(L, -1);
		if (lua_rawget(L, hi) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_pushlstring(L, value, vl);
			lua_rawset(L, hi);
			nh++;
		} else {
			lua_pop(L, 2);
		}
		if (nl == 10 && strncasecmp(name, "set-cookie", 10) == 0 &&
		    push_cookie(L, value, vl)) {
			lua_rawset(L, ci); /* the last one of a name wins, as in Go's map */
			nc++;
		}
	}
	if (nc)
		lua_setfield(L, ri, "cookies");
	else
		lua_pop(L, 1);
	if (nh)
		lua_setfield(L, ri, "headers");
	else
		lua_pop(L, 1);
	if (stream) {
		push_stream(L, slot);
		lua_setfield(L, ri, "stream");
	}
}

/* {==== Streams: a body read as it arrives ====} */

/* A streamed body: owns its transfer from the response on, and keeps the
** process on its shard (proc_io_begin) until the transfer is freed (end of
** body read, close, or the stream collected with its state). */
struct hstream {
	struct pext ext;
	struct proc *p;
	struct hclient_xfer *x;
	struct coro *waiter;         /* a coroutine parked in read */
	size_t nread;
	int closed, pinned;
};

static void st_release(struct hstream *s)
{
	hclient_free(s->x);
	s->x = NULL;
	if (s->pinned) {
		proc_ext_cancel(s->p, &s->ext);
		proc_io_end(s->p);
		s->pinned = 0;
	}
	s->waiter = NULL;
}

static void st_deliver(lua_State *L, struct pext *e)
{
	struct hstream *s = container_of(e, struct hstream, ext);
	struct coro *co = s->waiter;
	(void)L;
	s->waiter = NULL;
	if (co)
		proc_ready(co, 0);
}

/* Driver events of a streamed transfer, on the shard. */
static void st_event(struct hclient_xfer *x, void *arg)
{
	struct hstream *s = arg;
	(void)x;
	if (s->waiter)
		proc_ext_post(s->p, &s->ext);
}

/* The stream of a call's transfer *slot, at the top of the stack; the
** transfer is the stream's from here on (*slot is cleared). [-0, +1, m] */
static void push_stream(lua_State *L, struct hclient_xfer **slot)
{
	struct hstream *s = lua_newuserdatauv(L, sizeof(*s), 0);
	struct hclient_xfer *x = *slot;
	memset(s, 0, sizeof(*s));
	*slot = NULL;
	s->p = proc_of(L);
	s->ext.deliver = st_deliver;
	luaL_setmetatable(L, STREAM_META);
	proc_note_finalizer(L);
	s->x = x;
	hclient_set_callbacks(x, st_event, st_event, s);
	s->pinned = 1;
	proc_io_begin(s->p);
}

static size_t chunk_size(lua_State *L, int idx)
{
	lua_Integer n = luaL_optinteger(L, idx, STREAM_CHUNK);
	return n > 0 ? (size_t)n : STREAM_CHUNK;
}

static int st_read_k(lua_State *L, int status, lua_KContext ctx);

/* Read up to n bytes of the stream at 1: chunk, nil; nil, nil at the end;
** nil, err on a closed stream or a failed transfer. Parks the coroutine
** while nothing has arrived. iter: as the iterator, the chunk alone or
** nothing (end or error). */
static int st_try(lua_State *L, struct hstream *s, size_t n, int iter)
{
	luaL_Buffer b;
	char *p;
	size_t got;

	if (s->closed || s->x == NULL) {
		if (iter)
			return 0;
		if (s->closed)
			return errors_ret(L, ERRORS_INVALID, "stream is closed");
		lua_pushnil(L);
		lua_pushnil(L);
		return 2;
	}
	p = luaL_buffinitsize(L, &b, n);
	got = hclient_take(s->x, p, n);
	luaL_pushresultsize(&b, got);
	if (got > 0) {
		s->nread += got;
		if (iter)
			return 1;
		lua_pushnil(L);
		return 2;
	}
	lua_pop(L, 1);
	if (hclient_finished(s->x)) {
		int failed = hclient_err(s->x) != HC_OK;
		if (!iter && failed) {
			lua_pushnil(L);
			push_xfer_err(L, s->x);
		}
		st_release(s);
		if (iter)
			return 0;
		if (!failed) {
			lua_pushnil(L);
			lua_pushnil(L);
		}
		return 2;
	}
	if (s->waiter)
		return errors_ret(L, ERRORS_INVALID, "stream is being read by another coroutine");
	s->waiter = proc_coro(L);
	return proc_block(L, 1, st_read_k, (lua_KContext)(n * 2 + (size_t)iter));
}

static int st_read_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	return st_try(L, lua_touserdata(L, 1), (size_t)ctx / 2, (int)(ctx & 1));
}

/* stream:read([n]) [-0, +2, e] */
static int st_read(lua_State *L)
{
	struct hstream *s = luaL_checkudata(L, 1, STREAM_META);
	size_t n = chunk_size(L, 2);
	lua_settop(L, 1);
	return st_try(L, s, n, 0);
}

/* stream:close(): frees the transfer, in flight or not. [-0, +1, -] */
static int st_close(lua_State *L)
{
	struct hstream *s = luaL_checkudata(L, 1, STREAM_META);
	if (!s->closed) {
		st_release(s);
		s->closed = 1;
	}
	lua_pushnil(L);
	return 1;
}

static int st_gc(lua_State *L)
{
	struct hstream *s = lua_touserdata(L, 1);
	st_release(s);
	return 0;
}

/* stream:bytes_read() [-0, +1, -] */
static int st_bytes_read(lua_State *L)
{
	struct hstream *s = luaL_checkudata(L, 1, STREAM_META);
	lua_pushinteger(L, (lua_Integer)s->nread);
	return 1;
}

/* The iterator of stream(size): upvalue 1 the stream, 2 the size. */
static int st_iter(lua_State *L)
{
	lua_settop(L, 0);
	lua_pushvalue(L, lua_upvalueindex(1));
	return st_try(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, lua_upvalueindex(2)), 1);
}

/* stream([size]): an iterator for `for chunk in stream() do`. */
static int st_call(lua_State *L)
{
	luaL_checkudata(L, 1, STREAM_META);
	lua_pushvalue(L, 1);
	lua_pushinteger(L, (lua_Integer)chunk_size(L, 2));
	lua_pushcclosure(L, st_iter, 2);
	return 1;
}

/* {==== Calls ====} */

static int call_gc(lua_State *L)
{
	struct call *c = lua_touserdata(L, 1);
	for (int i = 0; i < c->n; i++) {
		hclient_free(c->x[i]);
		c->x[i] = NULL;
	}
	if (c->pinned) {
		proc_ext_cancel(c->p, &c->ext);
		proc_io_end(c->p);
		c->pinned = 0;
	}
	return 0;
}

/* Push what the call returns: response, nil / nil, err for one request;
** responses, errors-or-nil for a batch. Frees the transfers. */
static void push_results(lua_State *L, struct call *c)
{
	if (!c->batch) {
		struct hclient_xfer *x = c->x[0];
		if (hclient_err(x) == HC_OK) {
			push_response(L, &c->x[0], c->stream);
			lua_pushnil(L);
		} else {
			lua_pushnil(L);
			push_xfer_err(L, x);
		}
	} else {
		int failed = 0;
		lua_createtable(L, c->n, 0);
		lua_createtable(L, c->n, 0);
		for (int i = 0; i < c->n; i++) {
			struct hclient_xfer *x = c->x[i];
			if (hclient_err(x) == HC_OK) {
				push_response(L, &c->x[i], 0);
				lua_rawseti(L, -3, i + 1);
			} else {
				push_xfer_err(L, x);
				lua_rawseti(L, -2, i + 1);
				failed = 1;
			}
		}
		if (!failed) {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
	}
	for (int i = 0; i < c->n; i++) {
		hclient_free(c->x[i]);
		c->x[i] = NULL;
	}
}

/* Transfers stopped at a private address their URL did not show (a host
** name, a redirect): those the scope allows go again with the address
** approved. Returns how many were restarted. */
static int recheck(lua_State *L, struct call *c)
{
	int n = 0;
	for (int i = 0; i < c->n; i++) {
		struct hclient_xfer *x = c->x[i];
		const char *ip = x ? hclient_blocked(x) : NULL;
		if (ip && security_allowed(L, "http_client.private_ip", ip)) {
			hclient_approve(x, ip);
			if (hclient_restart(x) == 0)
				n++;
		}
	}
	return n;
}

/* In the process's step: the last transfer ended. */
static void deliver(lua_State *L, struct pext *e)
{
	struct call *c = container_of(e, struct call, ext);
	struct coro *co = c->co;
	int again = recheck(L, c);
	if (again > 0) {
		c->pending += again;
		return;
	}
	push_results(L, c);
	lua_xmove(L, co->L, 2);
	c->pinned = 0;
	proc_io_end(c->p);
	proc_ready(co, 2);
}

/* On the shard, from inside the driver. */
static void xfer_done(struct hclient_xfer *x, void *arg)
{
	struct call *c = arg;
	(void)x;
	if (--c->pending == 0)
		proc_ext_post(c->p, &c->ext);
}

/* A streamed call's body began: the response can go now. */
static void call_data(struct hclient_xfer *x, void *arg)
{
	struct call *c = arg;
	(void)x;
	proc_ext_post(c->p, &c->ext);
}

/* A new call record for n transfers, at the top of the stack. */
static struct call *new_call(lua_State *L, int n, int batch)
{
	struct call *c = lua_newuserdatauv(L, sizeof(*c) + (size_t)n * sizeof(c->x[0]), 0);
	memset(c, 0, sizeof(*c) + (size_t)n * sizeof(c->x[0]));
	c->p = proc_of(L);
	c->co = proc_coro(L);
	c->n = n;
	c->batch = batch;
	c->ext.deliver = deliver;
	luaL_setmetatable(L, CALL_META);
	proc_note_finalizer(L);
	return c;
}

/* {==== Options ====} */

struct opts {
	const char *unix_socket;
	int insecure;
	int stream;
	int overlay;
};

/* t[k] if it is a string, else NULL. */
static const char *field_str(lua_State *L, int t, const char *k, size_t *len)
{
	const char *s = NULL;
	if (lua_getfield(L, t, k) == LUA_TSTRING)
		s = lua_tolstring(L, -1, len);
	lua_pop(L, 1); /* the string stays reachable through t */
	return s;
}

/* The options that decide the security checks, read first. */
static void peek_opts(lua_State *L, int oi, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	if (oi == 0)
		return;
	o->unix_socket = field_str(L, oi, "unix_socket", NULL);
	if (lua_getfield(L, oi, "tls") == LUA_TTABLE) {
		lua_getfield(L, -1, "insecure_skip_verify");
		o->insecure = lua_isboolean(L, -1) && lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_getfield(L, oi, "stream");
	o->stream = lua_isboolean(L, -1) && lua_toboolean(L, -1);
	lua_pop(L, 1);
	o->overlay = field_str(L, oi, "overlay_network", NULL) != NULL;
}

/* The checks of one request, in the original's order. 0, or nil + err
** pushed and 2 returned. */
static int check(lua_State *L, const char *url, const struct opts *o)
{
	char host[256];
	int r;

	if (o->unix_socket &&
	    (r = security_check(L, "http_client.unix_socket", o->unix_socket,
				"not allowed: unix socket %s", o->unix_socket)))
		return r;
	if (o->insecure &&
	    (r = security_check(L, "http_client.insecure_tls", url,
				"not allowed: insecure TLS for %s", url)))
		return r;
	if (o->overlay)
		return errors_ret(L, ERRORS_INVALID, "overlay networks are not supported");
	if ((r = security_check(L, "http_client.request", url, "not allowed: %s", url)))
		return r;
	if (o->unix_socket == NULL && hclient_url_host(url, host, sizeof(host)) == 0 &&
	    hclient_ip_private(host)) {
		const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
		if ((r = security_check(L, "http_client.private_ip", ip,
					"not allowed: private IP %s", ip)))
			return r;
	}
	return 0;
}

/* Collect the string pairs of t[k] into a NULL-free array on the stack
** (a userdata), returning their count; *out points at name, value, ... */
static size_t string_pairs(lua_State *L, int t, const char *k, const char ***out)
{
	size_t n = 0;
	const char **v;
	*out = NULL;
	if (lua_getfield(L, t, k) != LUA_TTABLE) {
		lua_pop(L, 1);
		return 0;
	}
	int ti = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, ti)) {
		if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
			n++;
		lua_pop(L, 1);
	}
	v = lua_newuserdatauv(L, (n ? n : 1) * 2 * sizeof(*v), 0);
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, ti)) {
		if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
			v[2 * n] = lua_tostring(L, -2);
			v[2 * n + 1] = lua_tostring(L, -1);
			n++;
		}
		lua_pop(L, 1);
	}
	/* The table stays below the array: the strings live while both do. */
	*out = v;
	return n;
}

/* The pairs sorted by name: Go's url.Values.Encode order for forms. */
static int pair_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Read the options at oi (0: none) into x, after its URL and method.
** Leaves scratch values on the stack. 0, or -1 (x carries the error). */
static int apply_opts(lua_State *L, struct hclient_xfer *x, const char *url, int oi)
{
	const char **q;
	size_t nq = 0, len;
	const char *s;
	luaL_Buffer b;

	luaL_checkstack(L, 40, "http_client options");
	if (oi)
		nq = string_pairs(L, oi, "query", &q);
	if (hclient_set_url(x, url, nq ? q : NULL, nq) < 0)
		return -1;
	if (oi == 0)
		return 0;

	/* Body: files (multipart) over form over body, as the original. */
	const char **form;
	size_t nform = string_pairs(L, oi, "form", &form);
	int files = 0;
	if (lua_getfield(L, oi, "files") == LUA_TTABLE) {
		int fi = lua_gettop(L);
		for (lua_Integer i = 1; lua_rawgeti(L, fi, i) != LUA_TNIL; i++) {
			if (lua_istable(L, -1)) {
				int ft = lua_gettop(L);
				size_t dl = 0;
				const char *name = field_str(L, ft, "name", NULL);
				const char *fname = field_str(L, ft, "filename", NULL);
				const char *ctype = field_str(L, ft, "content_type", NULL);
				const char *data = field_str(L, ft, "content", &dl);
				if (name && name[0] && data && dl > 0) {
					if (!files)
						for (size_t k = 0; k < nform; k++)
							hclient_add_part(x, form[2 * k], form[2 * k + 1],
									 strlen(form[2 * k + 1]));
					hclient_add_file(x, name, fname, ctype, data, dl);
					files = 1;
				}
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	if (!files && nform > 0) {
		qsort(form, nform, 2 * sizeof(*form), pair_cmp);
		luaL_buffinit(L, &b);
		for (size_t k = 0; k < nform; k++) {
			size_t l1, l2;
			char *e1 = hclient_escape(form[2 * k], strlen(form[2 * k]), &l1);
			char *e2 = hclient_escape(form[2 * k + 1], strlen(form[2 * k + 1]), &l2);
			if (k)
				luaL_addchar(&b, '&');
			luaL_addlstring(&b, e1, l1);
			luaL_addchar(&b, '=');
			luaL_addlstring(&b, e2, l2);
			free(e1);
			free(e2);
		}
		luaL_pushresult(&b);
		s = lua_tolstring(L, -1, &len);
		hclient_set_body(x, s, len);
		hclient_add_header(x, "Content-Type: application/x-www-form-urlencoded");
	} else if (!files && (s = field_str(L, oi, "body", &len)) != NULL && len > 0) {
		hclient_set_body(x, s, len);
	}

	const char **h;
	size_t nh = string_pairs(L, oi, "headers", &h);
	for (size_t k = 0; k < nh; k++) {
		lua_pushfstring(L, "%s: %s", h[2 * k], h[2 * k + 1]);
		/* "Name:" alone would make curl drop its own header: send it empty. */
		if (h[2 * k + 1][0] == '\0') {
			lua_pop(L, 1);
			lua_pushfstring(L, "%s;", h[2 * k]);
		}
		if (hclient_add_header(x, lua_tostring(L, -1)) < 0)
			return -1;
		lua_pop(L, 1);
	}

	const char **ck;
	size_t nc = string_pairs(L, oi, "cookies", &ck);
	if (nc > 0) {
		luaL_buffinit(L, &b);
		for (size_t k = 0; k < nc; k++) {
			if (k)
				luaL_addstring(&b, "; ");
			luaL_addstring(&b, ck[2 * k]);
			luaL_addchar(&b, '=');
			luaL_addstring(&b, ck[2 * k + 1]);
		}
		luaL_pushresult(&b);
		if (hclient_set_cookies(x, lua_tostring(L, -1)) < 0)
			return -1;
		lua_pop(L, 1);
	}

	/* timeout: seconds (a number) or a Go duration string; bad ones are
	** ignored, as in the original. */
	int tt = lua_getfield(L, oi, "timeout");
	if (tt == LUA_TNUMBER) {
		lua_Number sec = lua_tonumber(L, -1);
		if (sec > 0) {
			uint64_t ms = sec > 1e12 ? (uint64_t)1e12 : (uint64_t)(sec * 1000.0 + 0.5);
			hclient_set_timeout_ms(x, ms ? ms : 1);
		}
	} else if (tt == LUA_TSTRING) {
		int64_t ns;
		const char *why;
		s = lua_tolstring(L, -1, &len);
		if (gotime_parse_duration(s, len, &ns, &why) == 0 && ns > 0)
			hclient_set_timeout_ms(x, (uint64_t)((ns + 999999) / 1000000));
	}
	lua_pop(L, 1);

	if ((s = field_str(L, oi, "unix_socket", NULL)) != NULL)
		hclient_set_unix_socket(x, s);

	if (lua_getfield(L, oi, "auth") == LUA_TTABLE) {
		const char *user = field_str(L, lua_gettop(L), "user", NULL);
		const char *pass = field_str(L, lua_gettop(L), "pass", NULL);
		if (user && user[0])
			hclient_set_basic_auth(x, user, pass);
	}
	lua_pop(L, 1);

	if (lua_getfield(L, oi, "max_response_body") == LUA_TNUMBER)
		hclient_set_max_body(x, (int64_t)lua_tonumber(L, -1));
	lua_pop(L, 1);

	if (lua_getfield(L, oi, "tls") == LUA_TTABLE) {
		int ti = lua_gettop(L);
		const char *ca = field_str(L, ti, "ca", NULL);
		const char *cert = field_str(L, ti, "cert", NULL);
		const char *key = field_str(L, ti, "key", NULL);
		int insecure = 0;
		lua_getfield(L, ti, "insecure_skip_verify");
		insecure = lua_isboolean(L, -1) && lua_toboolean(L, -1);
		lua_pop(L, 1);
		if (hclient_set_tls(x, ca, cert, key, insecure) < 0)
			return -1;
	}
	lua_pop(L, 1);
	return 0;
}

/* {==== Module functions ====} */

/* Under a security context, guard x's peers (the original checks the
** addresses a host name resolves to; here each connection's address is
** checked before the request goes out), approving the literal address or
** localhost that check() already let through. */
static void guard(lua_State *L, struct hclient_xfer *x, const char *url, const char *unix_socket)
{
	char host[256];
	if (proc_of(L)->sec.len == 0 || unix_socket)
		return;
	hclient_guard(x);
	if (hclient_url_host(url, host, sizeof(host)) == 0 && hclient_ip_private(host)) {
		if (strcmp(host, "localhost") == 0) {
			hclient_approve(x, "127.0.0.1");
			hclient_approve(x, "::1");
		} else {
			hclient_approve(x, host);
		}
	}
}

/* Start the call at ci (its transfers set up) and park the coroutine, or
** return the results at once when nothing could be started. */
static int run_call(lua_State *L, int ci, struct call *c)
{
	for (int i = 0; i < c->n; i++) {
		struct hclient_xfer *x = c->x[i];
		if (hclient_err(x) == HC_OK && hclient_start(x, xfer_done, c) == 0)
			c->pending++;
	}
	if (c->pending == 0) {
		push_results(L, c);
		return 2;
	}
	c->pinned = 1;
	proc_io_begin(c->p);
	lua_settop(L, ci);
	return proc_block(L, 1, NULL, 0);
}

/* One request: method, the URL at ui, the options at oi (0: none). */
static int one(lua_State *L, const char *method, int ui, int oi)
{
	const char *url = luaL_checkstring(L, ui);
	struct opts o;
	struct call *c;
	int r, ci;

	if (url[0] == '\0')
		return luaL_argerror(L, ui, "URL required");
	if (oi && lua_isnoneornil(L, oi))
		oi = 0;
	else if (oi)
		luaL_checktype(L, oi, LUA_TTABLE);
	(void)proc_coro(L); /* raises outside a process coroutine */
	peek_opts(L, oi, &o);
	if ((r = check(L, url, &o)))
		return r;
	c = new_call(L, 1, 0);
	ci = lua_gettop(L);
	c->stream = o.stream;
	c->x[0] = hclient_new(proc_of(L)->rt);
	if (o.stream)
		hclient_set_stream(c->x[0], call_data);
	if (hclient_set_method(c->x[0], method) < 0 || apply_opts(L, c->x[0], url, oi) < 0) {
		lua_pushnil(L);
		push_xfer_err(L, c->x[0]);
		return 2;
	}
	guard(L, c->x[0], url, o.unix_socket);
	return run_call(L, ci, c);
}

static int m_get(lua_State *L) { return one(L, "GET", 1, 2); }
static int m_post(lua_State *L) { return one(L, "POST", 1, 2); }
static int m_put(lua_State *L) { return one(L, "PUT", 1, 2); }
static int m_delete(lua_State *L) { return one(L, "DELETE", 1, 2); }
static int m_head(lua_State *L) { return one(L, "HEAD", 1, 2); }
static int m_patch(lua_State *L) { return one(L, "PATCH", 1, 2); }

/* Upper-case copy of the method at idx, on the stack. */
static const char *upper_method(lua_State *L, int idx)
{
	size_t n;
	const char *m = luaL_checklstring(L, idx, &n);
	luaL_Buffer b;
	if (n == 0)
		luaL_argerror(L, idx, "method required");
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < n; i++)
		luaL_addchar(&b, (char)toupper((unsigned char)m[i]));
	luaL_pushresult(&b);
	return lua_tostring(L, -1);
}

/* http_client.request(method, url, options) [-0, +2, e] */
static int m_request(lua_State *L)
{
	lua_settop(L, 3);
	upper_method(L, 1);
	lua_replace(L, 1); /* keep the upper-case string alive at 1 */
	return one(L, lua_tostring(L, 1), 2, 3);
}

/* http_client.request_batch({{method, url, options?}, ...}) [-0, +2, e] */
static int m_request_batch(lua_State *L)
{
	int n, ci;
	struct call *c;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	n = (int)luaL_len(L, 1);
	if (n <= 0)
		return luaL_argerror(L, 1, "requests table cannot be empty");
	(void)proc_coro(L);
	/* Validate everything and run the checks before anything starts. */
	for (int i = 1; i <= n; i++) {
		struct opts o;
		int r, top = lua_gettop(L);
		if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
			return errors_ret(L, ERRORS_INVALID, "each request must be a table");
		int ri = lua_gettop(L);
		if (lua_rawgeti(L, ri, 1) != LUA_TSTRING)
			return errors_ret(L, ERRORS_INVALID, "method must be a string");
		if (lua_rawgeti(L, ri, 2) != LUA_TSTRING)
			return errors_ret(L, ERRORS_INVALID, "URL must be a string");
		int oi = lua_rawgeti(L, ri, 3) == LUA_TTABLE ? lua_gettop(L) : 0;
		peek_opts(L, oi, &o);
		if ((r = check(L, lua_tostring(L, ri + 2), &o)))
			return r;
		if (o.stream)
			return errors_ret(L, ERRORS_INVALID, "streaming not supported in batch requests");
		lua_settop(L, top);
	}
	c = new_call(L, n, 1);
	ci = lua_gettop(L);
	for (int i = 0; i < n; i++) {
		int top = lua_gettop(L);
		lua_rawgeti(L, 1, i + 1);
		int ri = lua_gettop(L);
		lua_rawgeti(L, ri, 1);
		const char *m = upper_method(L, ri + 1);
		lua_rawgeti(L, ri, 2);
		int oi = lua_rawgeti(L, ri, 3) == LUA_TTABLE ? lua_gettop(L) : 0;
		c->x[i] = hclient_new(proc_of(L)->rt);
		if (hclient_set_method(c->x[i], m) == 0 &&
		    apply_opts(L, c->x[i], lua_tostring(L, ri + 3), oi) == 0)
			guard(L, c->x[i], lua_tostring(L, ri + 3),
			      oi ? field_str(L, oi, "unix_socket", NULL) : NULL);
		lua_settop(L, top);
	}
	return run_call(L, ci, c);
}

/* http_client.encode_uri(s): Go's url.QueryEscape. [-0, +1, e] */
static int m_encode_uri(lua_State *L)
{
	size_t len, ol;
	const char *s = luaL_checklstring(L, 1, &len);
	char *e = hclient_escape(s, len, &ol);
	lua_pushlstring(L, e, ol);
	free(e);
	return 1;
}

/* http_client.decode_uri(s): Go's url.QueryUnescape; nil + Invalid on a
** malformed escape, with Go's message. [-0, +(1|2), e] */
static int m_decode_uri(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	char *out = lua_newuserdatauv(L, len + 1, 0);
	long n = hclient_unescape(s, len, out);
	if (n < 0) {
		const char *pct = s;
		for (size_t i = 0; i < len; i++)
			if (s[i] == '%' && (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
					    !isxdigit((unsigned char)s[i + 2]))) {
				pct = s + i;
				break;
			} else if (s[i] == '%') {
				i += 2;
			}
		size_t rest = len - (size_t)(pct - s);
		lua_pushlstring(L, pct, rest < 3 ? rest : 3);
		lua_pushnil(L);
		push_err(L, ERRORS_INVALID, 0,
			 lua_pushfstring(L, "invalid URL escape \"%s\"", lua_tostring(L, -2)));
		lua_remove(L, -2);
		return 2;
	}
	lua_pushlstring(L, out, (size_t)n);
	return 1;
}

static const luaL_Reg funcs[] = {
	{"get", m_get},
	{"post", m_post},
	{"put", m_put},
	{"delete", m_delete},
	{"head", m_head},
	{"patch", m_patch},
	{"request", m_request},
	{"request_batch", m_request_batch},
	{"encode_uri", m_encode_uri},
	{"decode_uri", m_decode_uri},
	{NULL, NULL}
};

static const luaL_Reg stream_methods[] = {
	{"read", st_read},
	{"close", st_close},
	{"bytes_read", st_bytes_read},
	{NULL, NULL}
};

int luaopen_http_client(lua_State *L)
{
	if (luaL_newmetatable(L, CALL_META)) {
		lua_pushcfunction(L, call_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "http_client.call");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, STREAM_META)) {
		luaL_newlib(L, stream_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, st_call);
		lua_setfield(L, -2, "__call");
		lua_pushcfunction(L, st_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "Stream");
		lua_setfield(L, -2, "__name");
	}
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
