/*
** runtime/route.c: the route pattern grammar, route compilation and
** matching (route_*). May not include the registry or anything above it:
** it is a leaf that the registry's check and the HTTP server both use.
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

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

const char *route_check_path(const char *path)
{
	const char *p = path, *seg, *end;

	if (path[0] != '/')
		return "must start with '/'";
	while (*p) {
		seg = ++p;
		end = strchr(seg, '/');
		if (end == NULL)
			end = seg + strlen(seg);
		if (memchr(seg, '{', (size_t)(end - seg)) ||
		    memchr(seg, '}', (size_t)(end - seg))) {
			const char *q;
			bool wild;

			if (seg[0] != '{' || end[-1] != '}' || end - seg < 3)
				return "a {param} must be a whole path segment";
			wild = end - seg > 5 && !strncmp(end - 4, "...}", 4);
			for (q = seg + 1; q < end - (wild ? 4 : 1); q++)
				if (!isalnum((unsigned char)*q) && *q != '_')
					return "a {param} name may only contain "
					       "A-Z, a-z, 0-9 and _";
			if (wild && *end != '\0')
				return "a {name...} wildcard must be the last segment";
		}
		p = end;
	}
	return NULL;
}

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

void route_init(struct route_table *t)
{
	t->r = NULL;
	t->n = 0;
}

void route_add(struct route_table *t, const char *method, const char *prefix,
	       const char *path, const struct reg_entry *endpoint,
	       const struct reg_entry *func)
{
	size_t pl, ql;
	/* Grow at powers of two from 8. */
	if (t->n == 0 || (t->n >= 8 && (t->n & (t->n - 1)) == 0))
		t->r = xrealloc(t->r, (t->n ? t->n * 2 : 8) * sizeof(*t->r));
	struct route *r = &t->r[t->n];
	memset(r, 0, sizeof(*r));
	r->endpoint = endpoint;
	r->func = func;
	r->method = xstrdup(method);
	prefix = prefix ? prefix : "";
	pl = strlen(prefix);
	while (pl > 0 && prefix[pl - 1] == '/')
		pl--;
	ql = strlen(path);
	r->pattern = xmalloc(pl + ql + 2);
	memcpy(r->pattern, prefix, pl);
	memcpy(r->pattern + pl, path, ql + 1);
	r->index = t->n;
	split(r);
	t->n++;
}

void route_finish(struct route_table *t)
{
	if (t->n)
		qsort(t->r, t->n, sizeof(*t->r), cmp_route);
	for (uint32_t i = 0; i < t->n; i++)
		t->r[i].index = i;
}

void route_free(struct route_table *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		free(t->r[i].pattern);
		free(t->r[i].method);
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

	if (allow && allow_cap)
		allow[0] = '\0'; /* read by the duplicate check below */
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

const struct route *route_find_path(const struct route_table *t, const char *path,
				    size_t plen)
{
	struct route_match m;
	for (uint32_t i = 0; i < t->n; i++)
		if (match_path(&t->r[i], path, plen, &m))
			return &t->r[i];
	return NULL;
}
