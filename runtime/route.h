/*
** runtime/route.h: the route table of one http.service, compiled at boot
** from its http.router (prefix) and http.endpoint (method, path) entries.
** Read-only after route_build(); any thread may match.
*/
#ifndef RUNTIME_ROUTE_H
#define RUNTIME_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct registry;
struct reg_entry;

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
	const char *method;             /* "GET", ... */
	char *pattern;                  /* prefix + path, for messages */
	struct route_seg *segs;
	uint32_t nsegs;
	uint32_t index;                 /* position in the table */
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

/* Build the table of the http.service `svc`. Returns 0. */
int route_build(const struct registry *reg, const struct reg_entry *svc,
		struct route_table *t);
void route_free(struct route_table *t);

/* Match method + path (no query). Returns 1 with *m filled, 0 when the
** path matches no route (404), or -1 when it matches only routes of other
** methods (405): then `allow` receives "GET, POST" (NUL-terminated). */
int route_find(const struct route_table *t, const char *method, size_t mlen,
	       const char *path, size_t plen, struct route_match *m,
	       char *allow, size_t allow_cap);

#endif
