/*
** runtime/httpd.c: HTTP/1.1 over io_uring for http.service entries.
**
** Everything about a connection happens on the shard that accepted it:
** receive, parse, route, the handler call (a pooled function.lua state
** pinned to the same shard), send, timers. No locks.
**
** This file owns the services: listeners, route tables, routing, boot
** and stop. A connection, a body read as it arrives, a streamed response,
** a handler's call and the request the handler sees each have a file of
** their own (runtime/httpd_int.h lists them).
**
** Routing (dispatch): a route of the method, then the OPTIONS the
** original adds for each route path, then the longest http.static mount
** (runtime/hstatic.c decides the answer; the bytes of a file go out in
** FILE_CHUNK pieces read through the ring), then 405 or 404. A router's
** or a mount's middleware chain (runtime/hmw.c) runs before the handler
** and may answer for it; compress is applied to the buffered response.
**
** Connection cap: each shard holds at most `max_conns` open connections,
** over all services (conf http.max_connections, or derived from the fd
** limit: see conn_cap). One past it is answered 503 with Connection: close
** and closed on the spot (net_refuse), before any memory is spent on it, so
** a flood of clients cannot take the descriptors the rest of the runtime
** needs; the shard's count lives in `struct httpd` and only its shard
** touches it.
*/
#include "httpd_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "hmw.h"
#include "hstatic.h"
#include "htls.h"
#include "log.h"
#include "registry.h"
#include "rstats.h"

/* Request ids (hreq_id): unique on their shard. */
static __thread uint64_t req_seq;

/* The longest mount of the table that path lies under, or NULL. */
static const struct hstatic *find_mount(const struct rtab *t, const char *path, size_t len)
{
	const struct hstatic *best = NULL;
	int bl = -1;
	for (size_t i = 0; i < t->nmounts; i++) {
		int l = hstatic_match(t->mounts[i], path, len);
		if (l > bl) {
			bl = l;
			best = t->mounts[i];
		}
	}
	return best;
}

/*
** Route a complete request, as the original's ServeMux does: a route of
** the method wins; then an OPTIONS on a route's path is answered by that
** router's middleware and 204 (the original adds such an OPTIONS route
** for every path, so that cors sees preflights); then the longest
** http.static mount the path lies under; then 405 (the path has routes
** of other methods) or 404.
*/
void httpd__dispatch(struct conn *c)
{
	const struct http1_request *q = &c->req;
	const char *path = c->buf + q->path_off;
	struct rtab *tab = httpd__tab(c->svc);
	const struct hstatic *mount;
	struct route_match m;
	char allow[128];
	int rc;

	c->keep_alive = (q->flags & HTTP1_F_KEEP_ALIVE) != 0 &&
			!atomic_load(&c->svc->rt->stopping);
	c->t0 = common_now_ns();
	if (rstats_is_scrape(c->svc->e->u.http.metrics, c->buf + q->method_off, q->method_len,
			     c->buf + q->path_off, q->path_len)) {
		size_t n;
		char tb[16];
		size_t tl = 0;
		const char *tv = hmw_query_get(c->buf + q->query_off, q->query_len, "top",
					       tb, sizeof(tb), &tl);
		long top = 0;
		if (tv) {
			tb[tl] = '\0';
			top = strtol(tv, NULL, 10);
		}
		char *body = rstats_scrape(c->svc->rt, &n,
					   top > 0 ? (top < RSTATS_TOP_MAX ? (int)top : RSTATS_TOP_MAX) : 0);
		struct http1_field ct = { "Content-Type", RSTATS_CONTENT_TYPE, 12,
					  sizeof(RSTATS_CONTENT_TYPE) - 1 };
		httpd__conn_write(c, 200, &ct, 1, body, n, q->method == HTTP1_HEAD);
		free(body);
		return;
	}
	rc = route_find(&tab->t, c->buf + q->method_off, q->method_len,
			path, q->path_len, &m, allow, sizeof(allow));
	if (rc < 0 && q->method_len == 7 && !memcmp(c->buf + q->method_off, "OPTIONS", 7)) {
		const struct route *r = route_find_path(&tab->t, path, q->path_len);
		struct hmw_req mw;
		httpd__mw_init(&mw, c);
		hmw_run(r ? r->mw : NULL, &mw);
		httpd__mw_answer(c, &mw, mw.answer ? mw.answer : 204, mw.answer ? mw.body : "");
		return;
	}
	if (rc <= 0 && (mount = find_mount(tab, path, q->path_len)) != NULL) {
		httpd__serve_static(c, mount);
		return;
	}
	if (rc == 0) {
		httpd__conn_write(c, 404, &httpd__text_plain, 1, "not found\n", 10, q->method == HTTP1_HEAD);
		return;
	}
	if (rc < 0) {
		/* A GET route answers HEAD too: say so. */
		if (strstr(allow, "GET") && !strstr(allow, "HEAD") &&
		    strlen(allow) + 7 < sizeof(allow))
			strcat(allow, ", HEAD");
		struct http1_field f[2] = {
			{ "Allow", allow, 5, strlen(allow) },
			TEXT_PLAIN,
		};
		httpd__conn_write(c, 405, f, 2, "method not allowed\n", 19, q->method == HTTP1_HEAD);
		return;
	}
	struct hreq *h = xcalloc(1, sizeof(*h));
	httpd__mw_init(&h->mw, c);
	if (hmw_run(m.route->mw, &h->mw)) {
		httpd__req_count_answer(c, &h->mw, m.route->pattern, h->mw.answer);
		httpd__mw_answer(c, &h->mw, h->mw.answer, h->mw.body);
		httpd__req_free(h);
		return;
	}
	if (h->mw.metrics) {
		size_t ml = q->method_len < sizeof(h->mmethod) - 1 ? q->method_len
								     : sizeof(h->mmethod) - 1;
		memcpy(h->mmethod, c->buf + q->method_off, ml);
		h->mt0 = c->t0 ? c->t0 : common_now_ns();
		h->mrt = c->svc->rt;
		httpd__req_count(c->svc->rt, 0, h->mmethod, ml, m.route->pattern, 0, 0);
	}
	/* What the middleware set goes first; the handler may replace it. */
	for (const char *p = h->mw.add.p, *e = p + h->mw.add.len; p < e;) {
		size_t kl = strlen(p), vl = strlen(p + kl + 1);
		httpd__req_set_header(h, p, kl, p + kl + 1, vl);
		p += kl + vl + 2;
	}
	h->conn = c;
	h->buf = c->buf;
	h->req = &c->req;
	h->match = m;
	h->body = c->bstream ? NULL : c->buf + q->head_len;
	h->body_len = c->bstream ? 0 : q->body_len;
	h->id = ++req_seq;
	memcpy(h->remote, h->mw.remote, sizeof(h->remote));
	h->ext.deliver = httpd__call_start;
	h->proc = httpd__pool_get(c->svc, m.route);
	if (h->proc == NULL) {
		h->status = 503;
		httpd__req_free(h);
		httpd__conn_error(c, 503, "service unavailable");
		return;
	}
	c->h = h;
	c->refs++;             /* the handler's hold on the buffer */
	c->state = C_HANDLING;
	httpd__conn_arm(c, 0);
	/* The state is this shard's and idle; owning the request from now on
	** (not from httpd__call_start) lets pooled_exit answer it when the state
	** dies before the call starts: a handler file that fails at its top
	** level, or memory at its first step. */
	h->proc->call_ctx = h;
	proc_ext_post(h->proc, &h->ext);
}

/* {==== Listeners ====} */

/* The whole answer past the cap: no Date (it is not worth a clock read
** under a flood), nothing to keep alive. */
static const char busy[] =
	"HTTP/1.1 503 Service Unavailable\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Length: 42\r\n"
	"Retry-After: 1\r\n"
	"Connection: close\r\n"
	"\r\n"
	"service unavailable: too many connections\n";

static void on_accept(struct net_listener *nl, int fd)
{
	struct listener *l = container_of(nl, struct listener, nl);
	struct httpd *hd = l->svc->rt->httpd;
	struct shard_conns *sc = &hd->conns[l->shard];

	if (sc->n >= hd->max_conns) {
		if (!sc->at_cap) {
			sc->at_cap = 1;
			log_printf(LOG_LEVEL_WARN, NULL, "http: shard %d holds %lld "
				   "connections, its cap (http.max_connections); new "
				   "ones get 503", l->shard, (long long)hd->max_conns);
		}
		net_refuse(fd, busy, sizeof(busy) - 1);
		return;
	}
	httpd__conn_new(l->svc, fd);
}

static void listener_start(struct task *t)
{
	struct listener *l = container_of(t, struct listener, start);
	int rc = net_bufs_setup();
	if (rc < 0)
		log_printf(LOG_LEVEL_DEBUG, NULL, "http: no provided buffers (%s), "
			   "plain receives", strerror(-rc));
	net_listener_start(&l->nl);
}

static void listener_stop(struct task *t)
{
	struct listener *l = container_of(t, struct listener, stop);
	struct svc *s = l->svc;
	net_listener_stop(&l->nl);
	/* Idle keep-alive connections are closed now; those with a request
	** in progress finish it and then close (dispatch saw `stopping`). */
	for (struct conn *c = s->live[l->shard], *n; c; c = n) {
		n = c->next;
		if (c->state == C_HEAD && c->len == 0)
			httpd__conn_close(c);
		else
			c->keep_alive = 0;
	}
	/* Idle handler states of this shard have no work left. */
	for (struct rtab *tb = httpd__tab(s); tb; tb = tb->older)
		for (uint32_t i = 0; i < tb->t.n; i++) {
			struct pool *pl = httpd__pool(s, l->shard, &tb->t.r[i]);
			while (pl->n) {
				struct proc *p = pl->idle[--pl->n];
				proc_terminate(p);
				proc_unref(p);
			}
		}
}

/* The chain of a middleware list the registry has checked (so it
** compiles; NULL for an empty list). */
static struct hmw_chain *mw_chain(const struct reg_http_mw *mw)
{
	const struct reg_value *nv = mw->names, *ov = mw->options;
	size_t n = nv ? nv->n : 0, no = ov ? ov->n : 0;
	const char **names = xcalloc(n + 1, sizeof(*names));
	const char **keys = xcalloc(no + 1, sizeof(*keys));
	const char **vals = xcalloc(no + 1, sizeof(*vals));
	struct hmw_chain *c = NULL;
	char why[256];
	int bn, bo;

	for (size_t i = 0; i < n; i++)
		names[i] = nv->items[i]->str;
	for (size_t i = 0; i < no; i++) {
		keys[i] = ov->keys[i];
		vals[i] = ov->items[i]->str ? ov->items[i]->str : "";
	}
	if (hmw_chain_create(&c, names, n, keys, vals, no, why, sizeof(why), &bn, &bo) < 0)
		log_printf(LOG_LEVEL_ERROR, NULL, "http middleware: %s", why);
	free(names);
	free(keys);
	free(vals);
	return c;
}

/* The routes of the http.service svc: its routers' endpoints, prefixed,
** each with its empty pools, their routers' middleware, and its
** http.static mounts. */
static struct rtab *build_routes(const struct registry *reg, const struct reg_entry *svc,
				 int nshards)
{
	const struct reg_entry *e = NULL;
	struct rtab *rt = xcalloc(1, sizeof(*rt));
	struct route_table *t = &rt->t;
	route_init(t);
	while ((e = reg_next(reg, e)) != NULL) {
		const struct reg_entry *router;
		if (e->k == REG_K_HTTP_STATIC && e->u.hstatic.server == svc &&
		    e->u.hstatic.root != NULL) {
			const struct reg_http_static *st = &e->u.hstatic;
			char why[256];
			struct hstatic *m = hstatic_create(st->path, st->root, st->index, st->cache,
							   st->spa, mw_chain(&st->mw), why,
							   sizeof(why));
			if (m == NULL) {
				log_printf(LOG_LEVEL_ERROR, NULL, "%s: %s: not served", e->id, why);
				continue;
			}
			rt->mounts = xrealloc(rt->mounts, (rt->nmounts + 1) * sizeof(*rt->mounts));
			rt->mounts[rt->nmounts++] = m;
			continue;
		}
		if (e->k != REG_K_HTTP_ENDPOINT)
			continue;
		router = e->u.endpoint.router;
		if (router == NULL || router->u.router.server != svc)
			continue;
		route_add(t, e->u.endpoint.method, router->u.router.prefix,
			  e->u.endpoint.path, e, e->u.endpoint.func);
	}
	route_finish(t);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct reg_entry *router = t->r[i].endpoint->u.endpoint.router;
		t->r[i].pools = xcalloc((size_t)nshards, sizeof(struct pool));
		/* One chain per router, shared by its routes: its middleware,
		** then its post_middleware (both run after the match here). */
		for (uint32_t j = 0; j < i && !t->r[i].mw; j++)
			if (t->r[j].endpoint->u.endpoint.router == router)
				t->r[i].mw = t->r[j].mw;
		if (t->r[i].mw == NULL &&
		    (router->u.router.mw.names || router->u.router.post.names)) {
			struct hmw_chain *ch = hmw_chain_concat(mw_chain(&router->u.router.mw),
								mw_chain(&router->u.router.post));
			if (ch) {
				rt->chains = xrealloc(rt->chains, (rt->nchains + 1) *
						      sizeof(*rt->chains));
				rt->chains[rt->nchains++] = ch;
				t->r[i].mw = ch;
			}
		}
	}
	return rt;
}

void httpd_apply(struct rt *rt, const struct registry *reg)
{
	struct httpd *hd = rt->httpd;

	for (int i = 0; hd && i < hd->n; i++) {
		struct svc *s = &hd->svcs[i];
		struct rtab *t = build_routes(reg, s->e, s->nshards);
		/* One writer (live.c's lock); readers on the shards load the
		** pointer once per request and may keep using the older table
		** for that request: it is never freed before httpd_free. */
		t->older = atomic_load_explicit(&s->tab, memory_order_relaxed);
		atomic_store_explicit(&s->tab, t, memory_order_release);
		log_printf(LOG_LEVEL_INFO, NULL, "http %s: %u routes", s->e->id, t->t.n);
	}
}

/*
** The per-shard connection cap: http.max_connections when set, otherwise
** the soft fd limit less a reserve (64 + limit/16: rings, eventfds,
** listeners, logs, files the processes open, and the descriptor accept
** needs for a 503), shared by the shards. At least 1.
*/
static int64_t conn_cap(const struct rt *rt, int nshards)
{
	struct rlimit rl;
	int64_t soft = 1 << 20, cap;

	if (rt->conf.http_max_conns > 0)
		return rt->conf.http_max_conns;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)1 << 24)
		soft = (int64_t)rl.rlim_cur;
	cap = (soft - 64 - soft / 16) / (nshards > 0 ? nshards : 1);
	return cap < 1 ? 1 : cap;
}

/*
** Whether the http.service e listens: as under the original's supervisor,
** when it is auto_start or an auto_start service requires it (directly
** or through others). Nothing here starts one later: a service that is
** not wanted at boot stays unbound.
*/
static int wanted(const struct registry *reg, const struct reg_entry *e)
{
	const struct reg_entry *x = NULL;
	if (e->lifecycle.auto_start)
		return 1;
	while ((x = reg_next(reg, x)) != NULL) {
		if (!x->has_lifecycle || x == e)
			continue;
		for (size_t i = 0; i < x->lifecycle.nrequires; i++)
			if (x->lifecycle.requires[i] == e && wanted(reg, x))
				return 1;
	}
	return 0;
}

int httpd_init(struct rt *rt)
{
	struct httpd *hd = xcalloc(1, sizeof(*hd));
	const struct reg_entry *e = NULL;
	int nshards = engine_nshards(rt->engine), n = 0;

	while ((e = reg_next(rt->reg, e)) != NULL)
		if (e->k == REG_K_HTTP_SERVICE)
			n++;
	hd->svcs = xcalloc((size_t)n + 1, sizeof(*hd->svcs));
	hd->max_conns = conn_cap(rt, nshards);
	hd->conns = xcalloc((size_t)nshards, sizeof(*hd->conns));
	rt->httpd = hd;
	while ((e = reg_next(rt->reg, e)) != NULL) {
		struct sockaddr_in sa;
		struct svc *s;
		if (e->k != REG_K_HTTP_SERVICE)
			continue;
		s = &hd->svcs[hd->n++];
		s->rt = rt;
		s->e = e;
		s->nshards = nshards;
		atomic_init(&s->tab, build_routes(rt->reg, e, nshards));
		s->host.entry = e;
		s->host.id = e->id;
		s->host.n = nshards;
		s->limits = (struct http1_limits)HTTP1_LIMITS_DEFAULT;
		/* Limits and timeouts are decoded, checked and defaulted by
		** the registry (runtime/reg_kinds.c); 0 is no timeout. */
		s->limits.max_head = (uint32_t)e->u.http.max_header_bytes;
		s->limits.max_body = (uint64_t)e->u.http.max_body_bytes;
		s->read_ms = (uint64_t)e->u.http.read_timeout / 1000000u;
		s->write_ms = (uint64_t)e->u.http.write_timeout / 1000000u;
		s->idle_ms = (uint64_t)e->u.http.idle_timeout / 1000000u;
		s->ls = xcalloc((size_t)nshards, sizeof(*s->ls));
		s->live = xcalloc((size_t)nshards, sizeof(*s->live));
		if (!wanted(rt->reg, e)) {
			log_printf(LOG_LEVEL_INFO, NULL, "http %s: not started (lifecycle."
				   "auto_start is false and no started service requires it)",
				   e->id);
			continue;
		}
		s->bound = 1;
		if (e->u.http.tls_cert || e->u.http.tls_key) {
			char err[512];
			if (!e->u.http.tls_cert || !e->u.http.tls_key) {
				fprintf(stderr, "%s:%d:%d: %s: tls needs both cert_file and "
					"key_file\n", e->file, e->line, e->col, e->id);
				return -1;
			}
			s->tls = htls_ctx_new(e->u.http.tls_cert, e->u.http.tls_key,
					      e->u.http.tls_min, err, sizeof(err));
			if (s->tls == NULL) {
				fprintf(stderr, "%s:%d:%d: %s: %s\n", e->file, e->line,
					e->col, e->id, err);
				return -1;
			}
		}
		if (net_parse_addr(e->u.http.addr, &sa) < 0 || sa.sin_port == 0) {
			fprintf(stderr, "%s:%d:%d: %s: invalid addr \"%s\" (want host:port or :port)\n",
				e->file, e->line, e->col, e->id, e->u.http.addr);
			return -1;
		}
		/* SO_REUSEPORT lets a second runtime of the same user share the
		** port silently; a plain bind first tells "in use" apart. */
		int rc = net_bind_probe((struct sockaddr *)&sa, sizeof(sa));
		if (rc < 0) {
			fprintf(stderr, "%s: cannot listen on %s: %s\n", e->id,
				e->u.http.addr, strerror(-rc));
			return -1;
		}
		for (int i = 0; i < nshards; i++) {
			int fd = net_listen_socket((struct sockaddr *)&sa, sizeof(sa), 4096);
			if (fd < 0) {
				fprintf(stderr, "%s: cannot listen on %s: %s\n", e->id,
					e->u.http.addr, strerror(-fd));
				return -1;
			}
			net_listener_init(&s->ls[i].nl, fd, on_accept);
			s->ls[i].svc = s;
			s->ls[i].shard = i;
			s->ls[i].start.run = listener_start;
			s->ls[i].start.flags = TASK_PINNED;
			s->ls[i].stop.run = listener_stop;
			s->ls[i].stop.flags = TASK_PINNED;
		}
		log_printf(LOG_LEVEL_INFO, NULL, "http %s listening on %s (%s%u routes, "
			   "up to %lld connections per shard)", e->id, e->u.http.addr,
			   s->tls ? "tls, " : "", httpd__tab(s)->t.n, (long long)hd->max_conns);
	}
	return 0;
}

void httpd_start(struct rt *rt)
{
	struct httpd *hd = rt->httpd;
	for (int i = 0; hd && i < hd->n; i++)
		for (int j = 0; hd->svcs[i].bound && j < hd->svcs[i].nshards; j++)
			shard_post(engine_shard(rt->engine, j), &hd->svcs[i].ls[j].start);
}

void httpd_stop(struct rt *rt)
{
	struct httpd *hd = rt->httpd;
	for (int i = 0; hd && i < hd->n; i++)
		for (int j = 0; hd->svcs[i].bound && j < hd->svcs[i].nshards; j++)
			shard_post(engine_shard(rt->engine, j), &hd->svcs[i].ls[j].stop);
}

void httpd_reload(struct rt *rt)
{
	struct httpd *hd = rt->httpd;

	for (int i = 0; hd && i < hd->n; i++) {
		struct svc *s = &hd->svcs[i];
		char err[512], fp[128];
		if (s->tls == NULL)
			continue;
		if (htls_ctx_reload(s->tls, err, sizeof(err)) < 0) {
			log_printf(LOG_LEVEL_ERROR, NULL, "http %s: tls reload failed, "
				   "keeping the current certificate: %s", s->e->id, err);
			continue;
		}
		htls_ctx_fingerprint(s->tls, fp, sizeof(fp));
		log_printf(LOG_LEVEL_INFO, NULL, "http %s: tls certificate reloaded "
			   "(sha256 %s)", s->e->id, fp);
	}
}

void httpd_free(struct rt *rt)
{
	struct httpd *hd = rt->httpd;
	if (hd == NULL)
		return;
	for (int i = 0; i < hd->n; i++) {
		struct svc *s = &hd->svcs[i];
		for (int j = 0; j < s->nshards; j++) {
			if (s->ls && s->ls[j].nl.fd > 0)
				net_listener_close(&s->ls[j].nl);
			/* The engine has stopped and its rings are gone: nothing can
			** complete any more, so what is still open is freed here. */
			while (s->live && s->live[j]) {
				net_stream_drop(&s->live[j]->st);
				httpd__conn_free(s->live[j]);
			}
		}
		for (struct rtab *t = atomic_load(&s->tab), *o; t; t = o) {
			o = t->older;
			for (uint32_t k = 0; k < t->t.n; k++) {
				struct pool *pl = t->t.r[k].pools;
				for (int j = 0; pl && j < s->nshards; j++)
					free(pl[j].idle);
				free(pl);
			}
			route_free(&t->t);
			for (size_t k = 0; k < t->nchains; k++)
				hmw_chain_destroy(t->chains[k]);
			for (size_t k = 0; k < t->nmounts; k++)
				hstatic_destroy(t->mounts[k]);
			free(t->chains);
			free(t->mounts);
			free(t);
		}
		free(s->ls);
		free(s->live);
		htls_ctx_free(s->tls);
	}
	free(hd->svcs);
	free(hd->conns);
	free(hd);
	rt->httpd = NULL;
}

struct hreq *httpd_current(lua_State *L)
{
	return proc_of(L)->call_ctx;
}
