/*
** runtime/route.h: route patterns and the route table of one http.service.
**
** The one owner of the pattern grammar: "/" then segments separated by
** '/'; a segment is literal text, a whole-segment {name} parameter, or, as
** the last segment only, a {name...} tail that takes the rest of the path
** (names: A-Z, a-z, 0-9 and _). A leaf: it knows no registry; the caller
** hands it each route's method, prefix and path (httpd.c, from the
** http.router and http.endpoint entries). Read-only after route_finish();
** any thread may match.
*/
#ifndef RUNTIME_ROUTE_H
#define RUNTIME_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct reg_entry; /* opaque here: the caller's, carried along */

#define ROUTE_MAX_PARAMS 16

enum route_seg_kind { SEG_LIT, SEG_PARAM, SEG_TAIL };

struct route_seg {
	const char *s;      /* literal text, or the parameter name */
	uint32_t len;
	uint8_t kind;       /* enum route_seg_kind */
};

struct route {
	const struct reg_entry *endpoint;
	const struct reg_entry *func;   /* function.lua */
	char *method;                   /* "GET", ... */
	char *pattern;                  /* prefix + path, for messages */
	struct route_seg *segs;
	uint32_t nsegs;
	uint32_t index;                 /* position in the table */
	void *pools;                    /* the caller's (httpd: its handler
	                                ** pools, one per shard); route_free
	                                ** leaves it alone */
	const void *mw;                 /* the caller's too (httpd: the
	                                ** router's middleware chain) */
};

struct route_table {
	struct route *r;
	uint32_t n;
};

/* A parameter captured by a match: name and value point into the pattern
** and the request path. */
struct route_param {
	const char *name, *value;
	uint32_t name_len, value_len;
	uint8_t tail;                   /* a {name...} capture */
};

struct route_match {
	const struct route *route;
	struct route_param params[ROUTE_MAX_PARAMS];
	uint32_t nparams;
};

/* Whether path follows the grammar above. Returns NULL, or a short text
** saying what is wrong ("must start with '/'", ...) for a message that
** names the path. The registry's load-time check uses the same rules. */
const char *route_check_path(const char *path);

/* An empty table. */
void route_init(struct route_table *t);

/* Add the route prefix + path for method (prefix may be NULL; trailing
** '/' of the prefix are dropped). path must pass route_check_path. The
** strings are copied; endpoint and func are only carried along. */
void route_add(struct route_table *t, const char *method, const char *prefix,
	       const char *path, const struct reg_entry *endpoint,
	       const struct reg_entry *func);

/* Order the table for matching (after the last route_add). */
void route_finish(struct route_table *t);

/* Free what the table holds; it is empty afterwards. */
void route_free(struct route_table *t);

/* Match method + path (no query). Returns 1 with *m filled, 0 when the
** path matches no route (404), or -1 when it matches only routes of other
** methods (405): then `allow` receives "GET, POST" (NUL-terminated). */
int route_find(const struct route_table *t, const char *method, size_t mlen,
	       const char *path, size_t plen, struct route_match *m,
	       char *allow, size_t allow_cap);

/* The first route (in matching order) whose pattern matches path, of any
** method, or NULL: whose router answers an OPTIONS the routes do not. */
const struct route *route_find_path(const struct route_table *t, const char *path,
				    size_t plen);

#endif
