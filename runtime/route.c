/*
** runtime/route.c: route compilation and matching.
**
** A pattern is split at '/' into literal segments, {name} parameters and
** one final {name...} tail. Matching walks the routes in registry order
** and compares segment by segment; literal segments beat parameters by
** ordering: routes are sorted so that, at the first segment where two
** patterns differ in kind, the literal one is tried first. Apps have tens
** of routes, so a linear scan over precompiled segments is cheaper than
** anything cleverer.
*/
#include "route.h"

#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "registry.h"

static void split(struct route *r)
{
	const char *p = r->pattern;
	uint32_t cap = 8;
	r->segs = xcalloc(cap, sizeof(*r->segs));
	r->nsegs = 0;
	while (*p) {
		const char *s, *e;
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		e = p;
		if (r->nsegs == cap)
			r->segs = xrealloc(r->segs, (cap *= 2) * sizeof(*r->segs));
		struct route_seg *g = &r->segs[r->nsegs++];
		if (e - s >= 2 && s[0] == '{' && e[-1] == '}') {
			s++, e--;
			if (e - s > 3 && memcmp(e - 3, "...", 3) == 0) {
				g->kind = SEG_TAIL;
				e -= 3;
			} else {
				g->kind = SEG_PARAM;
			}
		} else {
			g->kind = SEG_LIT;
		}
		g->s = s;
		g->len = (uint32_t)(e - s);
	}
}

/* Literal before parameter before tail at the first differing segment. */
static int cmp_route(const void *a, const void *b)
{
	const struct route *x = a, *y = b;
	uint32_t n = x->nsegs < y->nsegs ? x->nsegs : y->nsegs;
	for (uint32_t i = 0; i < n; i++)
		if (x->segs[i].kind != y->segs[i].kind)
			return (int)x->segs[i].kind - (int)y->segs[i].kind;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

int route_build(const struct registry *reg, const struct reg_entry *svc,
		struct route_table *t)
{
	const struct reg_entry *e = NULL;
	uint32_t cap = 8;
	t->r = xcalloc(cap, sizeof(*t->r));
	t->n = 0;
	while ((e = reg_next(reg, e)) != NULL) {
		const struct reg_entry *router;
		const char *prefix;
		size_t pl, ql;
		if (e->k != REG_K_HTTP_ENDPOINT)
			continue;
		router = e->u.endpoint.router;
		if (router == NULL || router->u.router.server != svc)
			continue;
		if (t->n == cap)
			t->r = xrealloc(t->r, (cap *= 2) * sizeof(*t->r));
		struct route *r = &t->r[t->n];
		memset(r, 0, sizeof(*r));
		r->endpoint = e;
		r->func = e->u.endpoint.func;
		r->method = e->u.endpoint.method;
		prefix = router->u.router.prefix ? router->u.router.prefix : "";
		pl = strlen(prefix);
		while (pl > 0 && prefix[pl - 1] == '/')
			pl--;
		ql = strlen(e->u.endpoint.path);
		r->pattern = xmalloc(pl + ql + 2);
		memcpy(r->pattern, prefix, pl);
		memcpy(r->pattern + pl, e->u.endpoint.path, ql + 1);
		r->index = t->n;
		split(r);
		t->n++;
	}
	qsort(t->r, t->n, sizeof(*t->r), cmp_route);
	for (uint32_t i = 0; i < t->n; i++)
		t->r[i].index = i;
	return 0;
}

void route_free(struct route_table *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		free(t->r[i].pattern);
		free(t->r[i].segs);
	}
	free(t->r);
	t->r = NULL;
	t->n = 0;
}

/* Match the path segments of r against path; fill m's params. */
static int match_path(const struct route *r, const char *path, size_t plen,
		      struct route_match *m)
{
	const char *p = path, *end = path + plen;
	uint32_t i = 0;
	m->nparams = 0;
	for (;;) {
		const char *s;
		while (p < end && *p == '/')
			p++;
		if (p == end) {
			if (i == r->nsegs)
				return 1;
			if (i + 1 != r->nsegs || r->segs[i].kind != SEG_TAIL)
				return 0;
			/* An empty tail: "/files/" matches "/files/{rest...}". */
			if (m->nparams < ROUTE_MAX_PARAMS)
				m->params[m->nparams++] = (struct route_param){
					r->segs[i].s, p, r->segs[i].len, 0, 1 };
			return 1;
		}
		if (i == r->nsegs)
			return 0;
		const struct route_seg *g = &r->segs[i++];
		if (g->kind == SEG_TAIL) {
			if (m->nparams < ROUTE_MAX_PARAMS)
				m->params[m->nparams++] = (struct route_param){
					g->s, p, g->len, (uint32_t)(end - p), 1 };
			return 1;
		}
		s = p;
		while (p < end && *p != '/')
			p++;
		if (g->kind == SEG_LIT) {
			if ((size_t)(p - s) != g->len || memcmp(s, g->s, g->len) != 0)
				return 0;
		} else if (m->nparams < ROUTE_MAX_PARAMS) {
			m->params[m->nparams++] = (struct route_param){
				g->s, s, g->len, (uint32_t)(p - s), 0 };
		}
	}
}

int route_find(const struct route_table *t, const char *method, size_t mlen,
	       const char *path, size_t plen, struct route_match *m,
	       char *allow, size_t allow_cap)
{
	size_t al = 0;
	int path_hit = 0;
	int head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct route *r = &t->r[i];
		if (!match_path(r, path, plen, m))
			continue;
		if ((strlen(r->method) == mlen && memcmp(r->method, method, mlen) == 0)) {
			m->route = r;
			return 1;
		}
		path_hit = 1;
		size_t ml = strlen(r->method);
		if (allow && al + ml + 3 < allow_cap && !strstr(allow, r->method)) {
			if (al) {
				memcpy(allow + al, ", ", 2);
				al += 2;
			}
			memcpy(allow + al, r->method, ml);
			al += ml;
			allow[al] = '\0';
		}
	}
	/* HEAD is answered by a GET route, without the body. */
	if (head)
		for (uint32_t i = 0; i < t->n; i++)
			if (strcmp(t->r[i].method, "GET") == 0 &&
			    match_path(&t->r[i], path, plen, m)) {
				m->route = &t->r[i];
				return 1;
			}
	if (allow && al == 0 && allow_cap)
		allow[0] = '\0';
	return path_hit ? -1 : 0;
}
