/*
** runtime/hmw.h: HTTP middleware, the original's router and static
** `middleware:` lists with their `options:` (docs: http/middleware.md).
**
** One table maps each name to its options parser and its steps; the
** registry checks a list against it at load (an unknown name, a name
** this runtime does not run yet, or a bad option value is an error at
** the entry's file:line:col), and the server compiles each list once per
** route table into a chain (struct hmw_chain). A chain is read-only after
** hmw_chain_create except for the rate limiter's buckets, which take
** their own lock: any shard may run it.
**
** A request passes the chain in list order, before its handler:
** real_ip rewrites the client address, token_auth picks the request's
** token (validated later, on the handler's process), metrics has the
** server count the request, cors answers a
** preflight or adds its headers, ratelimit answers 429, compress marks the response for
** gzip (applied by hmw_compress to the finished, buffered body),
** endpoint_firewall / resource_firewall record a permission check that
** the handler's process makes after token_auth (httpd_set_firewall). The
** server does the I/O; this file only decides. A leaf: it knows no
** registry and no connection.
*/
#ifndef RUNTIME_HMW_H
#define RUNTIME_HMW_H

#include <stddef.h>
#include <stdint.h>

struct hmw_chain; /* opaque */

/* At most this many firewall middleware in one router's lists. */
#define HMW_FW_MAX 4

/*
** Compile the middleware `names[0, n)` with the options keys[i] ->
** vals[i] (i < nopts; the option values as text). Returns 0 and *out
** (NULL when n == 0), or -1 with a message in why and the culprit's index
** in *bad_name or *bad_opt (the other -1): an unknown name, a name of the
** original this runtime does not run yet (sendfile, ...), or
** an option of a listed middleware whose value does not parse. Options
** of middleware not in the list are ignored, as in the original.
*/
int hmw_chain_create(struct hmw_chain **out, const char *const *names, size_t n,
		     const char *const *keys, const char *const *vals, size_t nopts,
		     char *why, size_t cap, int *bad_name, int *bad_opt);

/* Free a chain (NULL is fine). Only once no request runs it. */
void hmw_chain_destroy(struct hmw_chain *c);

/* a's steps, then b's, as one chain (a router's middleware then its
** post_middleware); a and b are consumed, either may be NULL. Only on
** chains no request has run yet. */
struct hmw_chain *hmw_chain_concat(struct hmw_chain *a, struct hmw_chain *b);

/* "Name\0value\0" pairs: the headers a chain adds to a response. */
struct hmw_hdrs {
	char *p;
	size_t len, cap;
};

void hmw_hdrs_add(struct hmw_hdrs *h, const char *name, const char *value, size_t vlen);
void hmw_hdrs_free(struct hmw_hdrs *h);

/*
** One request as the chain sees it. The server fills the request part;
** header(ud, name, len, &vlen) returns a request header's value or NULL.
** remote is "ip:port" (NUL-terminated); real_ip replaces it with the
** client's ip alone, as the original sets RemoteAddr.
*/
struct hmw_req {
	const char *method;
	size_t method_len;
	const char *query;
	size_t query_len;
	const char *(*header)(void *ud, const char *name, size_t nl, size_t *vlen);
	void *ud;
	char remote[64];
	/* What the chain decided: */
	struct hmw_hdrs add;     /* headers for whatever response goes out */
	int answer;              /* 0: go on to the handler; else this status */
	const char *body;        /* the answer's body (static text) */
	int compress;            /* gzip the response when it qualifies */
	int level;               /* zlib level for compress */
	size_t min_length;       /* compress.min.length */
	/* token_auth: the request's token (NUL-terminated; empty: none, or
	** one longer than the buffer) and the store that validates it
	** (empty: the chain has no token_auth). The server validates it on
	** the handler's process before the handler runs (a token store may
	** block); a missing or bad token is no actor, never an answer, as in
	** the original. */
	char token[512];
	size_t token_len;
	char token_store[256];
	/* metrics: the server counts this request in the app's metrics
	** (wippy_http_requests_total, _request_duration_seconds and
	** _requests_in_flight by method, route and status, the original's
	** names). */
	int metrics;
	/* endpoint_firewall / resource_firewall: the checks the handler's
	** process makes, in list order, once token_auth has set its actor
	** (the server runs them; see httpd_set_firewall). resource NULL: the
	** route's endpoint id. The strings are the chain's. */
	struct hmw_fw { const char *action, *resource; } fw[HMW_FW_MAX];
	size_t nfw;
};

/* The value of name in a raw query string (the text after '?'), decoded
** enough to compare (%XX and '+'), into buf[0, cap); NULL when absent or
** empty. *len gets its length. */
const char *hmw_query_get(const char *q, size_t ql, const char *name, char *buf,
			  size_t cap, size_t *len);

/* Run the chain (NULL: nothing) over r. Returns r->answer. */
int hmw_run(const struct hmw_chain *c, struct hmw_req *r);

/*
** After the handler, when r->compress: gzip body[0, len) into *out (malloc'd,
** *olen) when the client accepts gzip (accept_encoding, may be NULL), the
** body is at least r->min_length, the status has a body and the response
** is not encoded already (content_encoding NULL) nor of a type that is
** compressed by nature (images, audio, video, archives: content_type).
** Returns 1 with *out set, 0 when the body goes as it is.
*/
int hmw_compress(const struct hmw_req *r, int status, const char *accept_encoding,
		 size_t ae_len, const char *content_type, size_t ct_len,
		 int encoded, const char *body, size_t len, char **out, size_t *olen);

/* Whether hmw_compress would gzip a body of len bytes (the same tests,
** without the body): to decide before the body is at hand. */
int hmw_would_compress(const struct hmw_req *r, int status, const char *accept_encoding,
		       size_t ae_len, const char *content_type, size_t ct_len, int encoded,
		       size_t len);

#endif
