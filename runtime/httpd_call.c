/*
** runtime/httpd_call.c: a request's handler call in a pooled function.lua
** state pinned to the connection's shard (proc_call), the token_auth and
** firewall gates in front of it, and the end of the call, which hands the
** response to the connection and the state back to its route's pool.
*/
#include "httpd_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "payload.h"
#include "registry.h"

/* {==== Handler calls ====} */

static void pooled_exit(struct proc *p, void *arg);

struct proc *httpd__pool_get(struct svc *s, const struct route *r)
{
	struct pool *pl = httpd__pool(s, shard_id(shard_self()), r);
	struct spawn_opts o;
	const char *err = NULL;
	struct payload none;

	if (pl->n)
		return pl->idle[--pl->n];
	memset(&o, 0, sizeof(o));
	memset(&none, 0, sizeof(none));
	o.entry = r->func;
	o.host = &s->host;
	o.pooled = 1;
	o.shard = shard_self();
	o.on_exit = pooled_exit;
	o.on_exit_arg = s;
	return proc_spawn(s->rt, &o, &none, &err);
}

static void pool_put(struct svc *s, const struct route *r, struct proc *p)
{
	struct pool *pl = httpd__pool(s, shard_id(shard_self()), r);
	/* Keep a bounded number idle: a burst of slow calls must not leave
	** its peak of states behind once it has passed. */
	if (atomic_load(&s->rt->stopping) || pl->n >= s->rt->conf.http_pool_idle) {
		proc_terminate(p);
		proc_unref(p);
		return;
	}
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 8;
		pl->idle = xrealloc(pl->idle, pl->cap * sizeof(*pl->idle));
	}
	pl->idle[pl->n++] = p;
}

/* The response of a finished call goes to its connection. */
static void finish_request(struct hreq *h, int status, const char *err_text)
{
	struct conn *c = h->conn;
	struct http1_field f[65];
	size_t nf;

	h->status = status; /* what went out, for the metrics middleware */
	if (err_text) {
		httpd__conn_write(c, status, &httpd__text_plain, 1, err_text, strlen(err_text),
			   c->req.method == HTTP1_HEAD);
	} else {
		httpd__req_compress(h, status);
		nf = httpd__req_fields(h, f, 64);
		httpd__conn_write(c, status, f, nf, h->out.p, h->out.len,
			   c->req.method == HTTP1_HEAD);
	}
	c->h = NULL;
	httpd__conn_unref(c);
}

/* proc_call completion, in the pooled state's step on this shard. */
static void call_done(lua_State *L, struct coro *co, int status, int nres)
{
	struct hreq *h = co->ctx;
	struct proc *p = h->proc;
	const struct route *r = h->match.route;
	struct svc *s = h->conn->svc;
	(void)L;

	p->call_ctx = NULL;
	httpd__body_detach(h->conn, p);
	payload_free(&p->sec);        /* token_auth's actor was this call's only */
	proc_sec_changed(p);
	if (h->conn->streaming) {
		if (status != LUA_OK)
			log_printf(LOG_LEVEL_ERROR, NULL, "handler %s failed: %s",
				   r->func->id, luaL_tolstring(co->L, -1, NULL));
		httpd__stream_finish(h, status == LUA_OK);
	} else if (h->conn->state == C_CLOSED) {
		/* The client left; the handler's work is done, drop it. */
		h->conn->h = NULL;
		httpd__conn_unref(h->conn);
	} else if (status != LUA_OK) {
		const char *msg = luaL_tolstring(co->L, -1, NULL);
		log_printf(LOG_LEVEL_ERROR, NULL, "handler %s failed: %s",
			   r->func->id, msg);
		if (h->wrote)
			finish_request(h, h->status ? h->status : 200, NULL);
		else
			finish_request(h, 500, msg);
	} else if (h->wrote || h->status) {
		finish_request(h, h->status ? h->status : 200, NULL);
	} else if (nres > 0 && !lua_isnil(co->L, -nres)) {
		size_t len = 0;
		const char *v = lua_type(co->L, -nres) == LUA_TSTRING ?
				lua_tolstring(co->L, -nres, &len) : NULL;
		/* A returned value is the body: JSON unless the handler said. */
		hreq_default_type(h, "application/json");
		if (v)
			hbuf_add(&h->out, v, len);
		finish_request(h, 200, NULL);
	} else {
		finish_request(h, 500, "no response sent");
	}
	httpd__req_free(h);
	pool_put(s, r, p);
}

static lua_CFunction token_auth_fn;
static int (*firewall_fn)(lua_State *L, const char *action, const char *resource);

void httpd_set_token_auth(lua_CFunction fn)
{
	token_auth_fn = fn;
}

void httpd_set_firewall(int (*fn)(lua_State *L, const char *action, const char *resource))
{
	firewall_fn = fn;
}

/* The firewall check when no module set one: nobody is authenticated. */
static int fw_none(lua_State *L, const char *action, const char *resource)
{
	(void)L;
	(void)action;
	(void)resource;
	return HTTPD_FW_NO_ACTOR;
}

/* After the handler the gate let through: its results are the call's. */
static int fw_done(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	return lua_gettop(L);
}

/*
** The firewalls' gate, in the handler's place (upvalue 1: the handler),
** after token_auth's validation: each check of the route's firewall
** middleware, in list order; the first that fails answers as the
** original's WriteJSONError (401 with no actor, 403 with no scope or a
** denial; {"details", "error", "success": false}, Go's key order), and
** the handler does not run.
*/
static int fw_gate(lua_State *L)
{
	struct hreq *h = httpd_current(L);
	static const char *const why[][2] = {
		[HTTPD_FW_DENY] = { "Access denied", "You don't have permission to access this " },
		[HTTPD_FW_NO_ACTOR] = { "Authentication required",
					"You must be authenticated to access this " },
		[HTTPD_FW_NO_SCOPE] = { "Access denied", "No authorization scope available" },
	};

	lua_settop(L, 0);
	for (size_t i = 0; h && i < h->mw.nfw; i++) {
		const struct hmw_fw *f = &h->mw.fw[i];
		int rc = firewall_fn(L, f->action, f->resource ? f->resource :
				     h->match.route->endpoint->id);
		char body[256];
		int n;

		if (rc == HTTPD_FW_ALLOW)
			continue;
		if (rc < HTTPD_FW_DENY || rc > HTTPD_FW_NO_SCOPE)
			rc = HTTPD_FW_DENY;
		n = snprintf(body, sizeof(body),
			     "{\"details\":\"%s%s\",\"error\":\"%s\",\"success\":false}\n",
			     why[rc][1], rc == HTTPD_FW_NO_SCOPE ? "" :
			     f->resource ? "resource" : "endpoint", why[rc][0]);
		h->status = rc == HTTPD_FW_NO_ACTOR ? 401 : 403;
		httpd__req_set_header(h, "Content-Type", 12, "application/json", 16);
		h->out.len = 0;
		hbuf_add(&h->out, body, (size_t)n);
		return 0;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_callk(L, 0, LUA_MULTRET, 0, fw_done);
	return fw_done(L, LUA_OK, 0);
}

/* In the pooled state's step: start the call. */
void httpd__call_start(lua_State *L, struct pext *x)
{
	struct hreq *h = container_of(x, struct hreq, ext);
	struct coro *co;

	h->proc->call_ctx = h;
	payload_free(&h->proc->sec);  /* a pooled state: no earlier call's actor */
	proc_sec_changed(h->proc);
	co = proc_call(L, h->proc, call_done, h);
	if (h->mw.nfw) {
		/* A firewall with no hook (no security module) denies. */
		if (firewall_fn == NULL)
			firewall_fn = fw_none;
		lua_pushcclosure(co->L, fw_gate, 1);
	}
	if (h->mw.token_len && token_auth_fn) {
		/* The handler becomes the first argument of the validation. */
		lua_pushcfunction(co->L, token_auth_fn);
		lua_insert(co->L, -2);
		lua_pushlstring(co->L, h->mw.token, h->mw.token_len);
		lua_pushstring(co->L, h->mw.token_store);
		co->nargs = 3;
	}
}

/* A pooled state ended (terminated at shutdown, or out of memory). */
static void pooled_exit(struct proc *p, void *arg)
{
	struct svc *s = arg;
	struct hreq *h = p->call_ctx;
	if (h) {
		/* Still queued: the state died before the call began (its file
		** failed at load): say why. A call cut short (terminated at
		** shutdown) is the stop's business, not an error of the handler. */
		int pending = h->ext.queued;
		p->call_ctx = NULL;
		proc_ext_cancel(p, &h->ext);
		if (pending && p->exit_msg)
			log_printf(LOG_LEVEL_ERROR, NULL, "handler %s failed: %s",
				   p->entry->id, p->exit_msg);
		httpd__body_detach(h->conn, p);
		if (h->conn->streaming)
			httpd__stream_finish(h, 0);
		else if (h->conn->state != C_CLOSED)
			finish_request(h, 500, p->exit_msg ? p->exit_msg : "handler failed");
		else {
			h->conn->h = NULL;
			httpd__conn_unref(h->conn);
		}
		httpd__req_free(h);
		proc_unref(p);
		return;
	}
	/* Idle in a pool of this shard: forget it. */
	for (struct rtab *t = httpd__tab(s); t; t = t->older)
		for (uint32_t i = 0; i < t->t.n; i++) {
			struct pool *pl = httpd__pool(s, shard_id(shard_self()), &t->t.r[i]);
			for (uint32_t j = 0; j < pl->n; j++)
				if (pl->idle[j] == p) {
					pl->idle[j] = pl->idle[--pl->n];
					proc_unref(p);
					return;
				}
		}
}
