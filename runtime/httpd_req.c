/*
** runtime/httpd_req.c: struct hreq as the handler library
** (lua_modules/http.c) reads the request and builds the response, the
** compress middleware on a buffered response, and the metrics middleware.
*/
#include "httpd_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hmw.h"
#include "metrics.h"

/* The request as the middleware sees it. */
/* {==== The metrics middleware ====}
**
** The original's three series, by method and route (the route's pattern,
** "unmatched" without one) and, once answered, status: a gauge of the
** requests in flight, a counter of the answered ones and a histogram of
** their duration in seconds. Recorded in the store of require("metrics"),
** so the service's `metrics:` scrape shows them. */
void httpd__req_count(struct rt *rt, int done, const char *method, size_t ml,
		     const char *route, int status, double secs)
{
	char st[8];
	int sl = snprintf(st, sizeof(st), "%d", status);
	struct metrics_label l[3] = {
		{ "method", method, 6, ml },
		{ "route", route, 5, strlen(route) },
		{ "status", st, 6, (size_t)sl },
	};
	if (rt->metrics == NULL)
		return;
	metrics_update(rt->metrics, METRICS_GAUGE, METRICS_ADD,
		       "wippy_http_requests_in_flight", 29, l, 2, done ? -1 : 1, NULL);
	if (!done)
		return;
	metrics_update(rt->metrics, METRICS_COUNTER, METRICS_ADD,
		       "wippy_http_requests_total", 25, l, 3, 1, NULL);
	metrics_update(rt->metrics, METRICS_HISTOGRAM, METRICS_OBSERVE,
		       "wippy_http_request_duration_seconds", 35, l, 3, secs, NULL);
}

/* A request the middleware answered itself, counted when metrics ran. */
void httpd__req_count_answer(struct conn *c, const struct hmw_req *r,
			    const char *route, int status)
{
	if (!r->metrics)
		return;
	httpd__req_count(c->svc->rt, 0, r->method, r->method_len, route, 0, 0);
	httpd__req_count(c->svc->rt, 1, r->method, r->method_len, route, status,
		 c->t0 ? (double)(common_now_ns() - c->t0) / 1e9 : 0);
}

/* }==== */

/* The value of the response header k, or NULL. */
static const char *resp_header(const struct hreq *h, const char *k, size_t kl, size_t *vl)
{
	const char *q = h->headers.p, *end = h->headers.p + h->headers.len;
	while (q < end) {
		size_t a = strlen(q), b = strlen(q + a + 1);
		if (a == kl && strncasecmp(q, k, kl) == 0) {
			*vl = b;
			return q + a + 1;
		}
		q += a + b + 2;
	}
	return NULL;
}

/* The compress middleware on a buffered response: gzip the body when it
** qualifies (hmw_compress), say so, and vary on Accept-Encoding. */
void httpd__req_compress(struct hreq *h, int status)
{
	size_t al = 0, tl = 0, el = 0, vl = 0;
	const char *ae = httpd__conn_header(h->conn, "Accept-Encoding", 15, &al);
	const char *ct = resp_header(h, "Content-Type", 12, &tl);
	int encoded = resp_header(h, "Content-Encoding", 16, &el) != NULL;
	char *z;
	size_t zl;

	if (!h->mw.compress || !hmw_compress(&h->mw, status, ae, al, ct, tl, encoded,
					     h->out.p, h->out.len, &z, &zl))
		return;
	free(h->out.p);
	h->out.p = z;
	h->out.len = h->out.cap = zl;
	httpd__req_set_header(h, "Content-Encoding", 16, "gzip", 4);
	const char *vary = resp_header(h, "Vary", 4, &vl);
	if (vary) {
		char *v = xmalloc(vl + 18);
		memcpy(v, vary, vl);
		memcpy(v + vl, ", Accept-Encoding", 17);
		httpd__req_set_header(h, "Vary", 4, v, vl + 17);
		free(v);
	} else {
		httpd__req_set_header(h, "Vary", 4, "Accept-Encoding", 15);
	}
}


/* {==== The request ====} */

const char *hreq_method(const struct hreq *h, size_t *len)
{
	*len = h->req->method_len;
	return h->buf + h->req->method_off;
}

const char *hreq_path(const struct hreq *h, size_t *len)
{
	if (h->req->path_len == 0) {
		*len = 1;
		return "/";
	}
	*len = h->req->path_len;
	return h->buf + h->req->path_off;
}

const char *hreq_query(const struct hreq *h, size_t *len)
{
	*len = h->req->query_len;
	return h->buf + h->req->query_off;
}

const char *hreq_header(const struct hreq *h, const char *name, size_t nl,
			size_t *len)
{
	int i = http1_find_header(h->req, h->buf, name, nl);
	if (i < 0)
		return NULL;
	*len = h->req->headers[i].value_len;
	return h->buf + h->req->headers[i].value_off;
}

const char *hreq_host(const struct hreq *h, size_t *len)
{
	if (!(h->req->flags & HTTP1_F_HAS_HOST))
		return NULL;
	*len = h->req->host_len;
	return h->buf + h->req->host_off;
}

const char *hreq_remote(const struct hreq *h) { return h->remote; }

const char *hreq_body(const struct hreq *h, size_t *len)
{
	*len = h->body_len;
	return h->body;
}

uint64_t hreq_content_length(const struct hreq *h)
{
	switch (h->req->body_kind) {
	case HTTP1_BODY_NONE:
		return 0;
	case HTTP1_BODY_LENGTH:
		return h->req->content_length;
	default:
		return h->body_len;
	}
}

const struct route_match *hreq_match(const struct hreq *h) { return &h->match; }

/* {==== The response ====} */

int hreq_set_status(struct hreq *h, int code)
{
	if (h->wrote)
		return HREQ_SENT;
	if (code < 100 || code > 999)
		return HREQ_INVALID;
	h->status = code;
	return 0;
}

/* Replace or add a header (no checks). */
void httpd__req_set_header(struct hreq *h, const char *k, size_t kl, const char *v,
		       size_t vl)
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
	if (kl == 12 && strncasecmp(k, "Content-Type", 12) == 0)
		h->has_content_type = 1;
}

int hreq_set_header(struct hreq *h, const char *k, size_t kl, const char *v,
		    size_t vl)
{
	if (h->wrote)
		return HREQ_SENT;
	if (memchr(k, 0, kl) || memchr(v, 0, vl))
		return HREQ_INVALID;
	httpd__req_set_header(h, k, kl, v, vl);
	return 0;
}

void hreq_default_type(struct hreq *h, const char *type)
{
	if (!h->wrote && !h->has_content_type)
		httpd__req_set_header(h, "Content-Type", 12, type, strlen(type));
}

void hreq_write(struct hreq *h, const void *s, size_t n)
{
	h->wrote = 1;
	hbuf_add(&h->out, s, n);
}

int hreq_set_transfer(struct hreq *h, int mode)
{
	if (h->wrote)
		return HREQ_SENT;
	h->transfer = mode;
	httpd__req_set_header(h, "Cache-Control", 13, "no-cache", 8);
	if (mode == HREQ_TRANSFER_SSE)
		httpd__req_set_header(h, "Content-Type", 12, "text/event-stream", 17);
	return 0;
}

int hreq_transfer(const struct hreq *h) { return h->transfer; }

int hreq_wrote(const struct hreq *h) { return h->wrote; }

size_t hreq_unflushed(const struct hreq *h) { return h->out.len; }

int hreq_streaming(const struct hreq *h) { return h->conn->streaming; }

/* Collect h's headers as fields for http1_write_head; returns how many. */
size_t httpd__req_fields(const struct hreq *h, struct http1_field *f, size_t max)
{
	return httpd__pair_fields(h->headers.p, h->headers.len, f, 0, max);
}

void httpd__req_free(struct hreq *h)
{
	if (h->mt0)
		httpd__req_count(h->mrt, 1, h->mmethod, strlen(h->mmethod), h->match.route->pattern,
			 h->status ? h->status : 200,
			 (double)(common_now_ns() - h->mt0) / 1e9);
	hmw_hdrs_free(&h->mw.add);
	free(h->headers.p);
	free(h->out.p);
	free(h);
}
