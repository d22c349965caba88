/*
** runtime/httpd.c: HTTP/1.1 over io_uring for http.service entries.
**
** Everything about a connection happens on the shard that accepted it:
** receive, parse, route, the handler call (a pooled function.lua state
** pinned to the same shard), send, timers. No locks.
**
** Sockets, accept, provided buffers and sends are engine/net.c's; this
** file speaks only HTTP over its streams.
**
** Connection life: C_HEAD (reading a request head; idle keep-alive when
** nothing is buffered) -> C_BODY -> C_HANDLING (the handler runs; only a
** streamed body is read, pipelined bytes wait in the buffer) -> C_WRITING
** -> C_HEAD again for keep-alive, or closed. A connection is freed only
** when its stream has closed (engine/net.h: after the last completion) and
** no handler holds it (`refs`), so no CQE and no handler ever sees freed
** memory (STYLE habit 5).
**
** Timeouts (one wheel timer per connection): idle keep-alive (no byte of a
** next request yet: close silently), read (a request started but not
** complete: 408 and close), write (the peer does not take the response:
** close).
**
** Routing (dispatch): a route of the method, then the OPTIONS the
** original adds for each route path, then the longest http.static mount
** (runtime/hstatic.c decides the answer; the bytes of a file go out in
** FILE_CHUNK pieces read through the ring), then 405 or 404. A router's
** or a mount's middleware chain (runtime/hmw.c) runs before the handler
** and may answer for it; compress is applied to the buffered response.
**
** TLS (a service with `tls`): the stream's callbacks go through
** runtime/htls.c (tls_cb), which hands conn_cb the plaintext, as copies,
** and encrypts what conn_send sends; the rest of this file does not know.
**
** Connection cap: each shard holds at most `max_conns` open connections,
** over all services (conf http.max_connections, or derived from the fd
** limit: see conn_cap). One past it is answered 503 with Connection: close
** and closed on the spot (net_refuse), before any memory is spent on it, so
** a flood of clients cannot take the descriptors the rest of the runtime
** needs; the shard's count lives in `struct httpd` and only its shard
** touches it.
*/
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/common.h"
#include "engine/http1.h"
#include "engine/net.h"
#include "engine/shard.h"
#include "hmw.h"
#include "hstatic.h"
#include "htls.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "rt.h"
#include "rstats.h"

#define NHDRS      64
#define BUF_START  4096
#define FILE_CHUNK (256u << 10)  /* a static file goes out in pieces of this */
#define GZ_FILE_MAX (1u << 20)   /* larger files are not gzip'd (held whole) */
#define BODY_STREAM_MIN (64u << 10) /* see "Streamed request bodies" */
#define BODY_HIGH (256u << 10)
#define BODY_LOW  (64u << 10)
#define BODY_RX   (16u << 10)
#define BODY_DRAIN (256u << 10) /* an unread rest up to this keeps keep-alive */

enum { C_HEAD, C_BODY, C_HANDLING, C_WRITING, C_CLOSED };

/* The Content-Type of the server's own answers (errors, 404, 405). */
#define TEXT_PLAIN { "Content-Type", "text/plain; charset=utf-8", 12, 25 }
static const struct http1_field text_plain = TEXT_PLAIN;

struct svc;

/* A growable byte buffer (malloc'd). */
struct hbuf {
	char *p;
	size_t len, cap;
};

/* One request as its handler sees it. Lives from dispatch until the
** handler's call ends and the response is handed to the connection. */
struct hreq {
	struct pext ext;             /* starts the call in the pooled state */
	struct conn *conn;           /* owner; keeps buf alive until done */
	struct proc *proc;           /* the pooled state running the call */
	const char *buf;             /* the request bytes (conn buffer) */
	const struct http1_request *req;
	struct route_match match;
	const char *body;            /* decoded body */
	size_t body_len;
	char remote[64];             /* "ip:port" */
	/* Response, written only through hreq_set_* and hreq_write. */
	int status;                  /* 0 until set */
	int wrote;                   /* a write happened: headers are final */
	int has_content_type;
	int transfer;                /* HREQ_TRANSFER_* set by the handler */
	struct hbuf headers;         /* "Name\0value\0" pairs */
	struct hbuf out;             /* body */
	struct hmw_req mw;           /* what the route's middleware decided */
	/* The metrics middleware: set when the chain had it. */
	uint64_t mt0;                /* when the request was taken, ns */
	struct rt *mrt;
	char mmethod[16];
	uint64_t id;                 /* unique on its shard (hreq_id) */
	size_t body_off;             /* taken by hreq_body_take */
	uint64_t max_body;           /* http.request{max_body=}; 0: none */
	uint64_t timeout_ms;         /* http.request{timeout=}; 0: none */
	uint64_t deadline;           /* of the whole-body wait in progress */
	int timed_out;
	struct wheel_timer bt;       /* the deadline, on the state's shard */
	struct pext btx;             /* bt fired -> body_timeout_deliver */
};

static __thread uint64_t req_seq;

struct pool {
	struct proc **idle;
	uint32_t n, cap;
};

struct listener {
	struct net_listener nl;
	struct task start, stop;
	struct svc *svc;
	int shard;
};

/* One route table of a service. A registry change builds a new one and
** swaps the pointer (httpd_apply); shards that matched in the old one
** finish with it, so tables are kept, linked newest first, until
** httpd_free. A route carries its own pools (route->pools, one per
** shard), so a request returns its state to the route it came in on. */
struct rtab {
	struct route_table t;
	struct hmw_chain **chains;   /* the routers' chains (route->mw) */
	size_t nchains;
	struct hstatic **mounts;     /* the service's http.static entries */
	size_t nmounts;
	struct rtab *older;
};

struct svc {
	struct rt *rt;
	const struct reg_entry *e;
	_Atomic(struct rtab *) tab;   /* current: release store, acquire load */
	struct host host;            /* pids of handler states: {svc id|0x..} */
	struct listener *ls;         /* one per shard */
	struct conn **live;          /* [shard]: open connections, linked */
	int nshards;
	struct http1_limits limits;
	uint64_t read_ms, write_ms, idle_ms;
	int bound;                   /* listening: auto_start, or required by
	                             ** a service that is (lifecycle) */
	struct htls_ctx *tls;        /* tls: {cert_file, key_file}; NULL: plain */
};

/* One shard's connections, over all services; padded to its own cache
** line, since each shard writes its own. */
struct shard_conns {
	int64_t n;                   /* open: conn_new to conn_free */
	int at_cap;                  /* logged reaching the cap, not yet back */
	char _pad[64 - sizeof(int64_t) - sizeof(int)];
};

struct httpd {
	struct svc *svcs;
	int n;
	int64_t max_conns;           /* per shard */
	struct shard_conns *conns;   /* [shard] */
};

struct conn {
	struct net_stream st;
	struct htls *tls;            /* NULL: plain; else st carries TLS */
	struct conn *next, *prev;    /* the shard's open connections */
	struct svc *svc;
	int shard, state;
	int refs;            /* the stream until on_close, and the handler */
	int keep_alive;
	char *buf;
	size_t len, cap, req_total;
	struct http1_request req;
	struct http1_header hdrs[NHDRS];
	struct wheel_timer timer;
	struct hbuf out;
	struct hreq *h;
	uint64_t t0;         /* dispatch time (ns) for the latency metric; 0: none */
	struct hbuf pend;    /* bytes that arrived while a request was being
	                     ** handled or answered: c->buf must not move then,
	                     ** the handler reads the request in place */
	int eof;             /* the peer shut its side: answer what is
	                     ** buffered, then close */
	char remote[64];
	/* A streamed response (hreq_flush): the head went out with the first
	** flush, and what the handler writes after goes in chunks. out is the
	** piece being sent, spool what waits behind it. */
	struct hbuf spool;
	uint8_t streaming;   /* the head was sent by a flush */
	uint8_t chunked;     /* HTTP/1.1: chunked; 1.0: until close */
	uint8_t sending;     /* a send of out is in flight */
	uint8_t stream_end;  /* the handler returned: the last piece is queued */
	struct coro *waiter; /* a flush waiting for the spool to drain */
	struct proc *waiter_proc; /* its state, where wake delivers */
	struct pext wake;    /* stream_wake -> wake_deliver, in its step */
	/* A static file being sent: out holds one piece at a time, read at
	** file_off while the previous one is on the wire, so a slow client
	** holds one FILE_CHUNK, never the file. */
	int file_fd;         /* -1: none */
	uint64_t file_off, file_left;
	struct engine_io fio;
	/* A streamed request body (see "Streamed request bodies"). */
	uint8_t bstream;     /* the handler runs while the body arrives */
	uint8_t bpaused;     /* receives stopped: bq is full */
	uint8_t ball;        /* the handler wants it whole (req:body()) */
	uint8_t bdrain;      /* after the response: bleft bytes to discard */
	uint64_t bleft;      /* body bytes not received yet */
	struct hbuf bq;      /* received, not yet taken: bq.p[boff, bq.len) */
	size_t boff;
	char *rx;            /* a plain receive's room while handling */
	struct coro *bwaiter; /* a reader waiting for bytes */
	struct proc *bwaiter_proc;
	struct pext bwake;
	uint8_t file_gz;     /* compress: the whole file is gathered after its
	                     ** head (out[0, gz_head)), then gzip'd and sent */
	int gz_level;
	size_t gz_head;
};

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void stream_wake(struct conn *c);
static void body_wake(struct conn *c);
static void body_reset(struct conn *c);
static size_t body_feed(struct conn *c, const char *data, size_t n);
static int stream_sent(struct conn *c);
static void conn_free(struct conn *c);
static void set_header(struct hreq *h, const char *k, size_t kl, const char *v,
		       size_t vl);

static void hbuf_add(struct hbuf *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* {==== Connections ====} */

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	if (wheel_is_active(&c->timer))
		shard_timer_cancel(&c->timer);
	conn_free(c);
}

/* Unlink and free a connection (its stream closed, nobody holds it). */
static void conn_free(struct conn *c)
{
	struct conn **head = &c->svc->live[c->shard];
	struct httpd *hd = c->svc->rt->httpd;
	struct shard_conns *sc = &hd->conns[c->shard];

	/* Back to three quarters of the cap: the next time it is reached is
	** a new episode, worth a new warning. */
	if (--sc->n < hd->max_conns - hd->max_conns / 4)
		sc->at_cap = 0;
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->file_fd >= 0)
		close(c->file_fd);
	htls_free(c->tls);
	free(c->buf);
	free(c->out.p);
	free(c->pend.p);
	free(c->spool.p);
	free(c->bq.p);
	free(c->rx);
	free(c);
}

static void conn_timer(struct wheel_timer *t);

static void arm_timer(struct conn *c, uint64_t ms)
{
	if (ms == 0) {
		if (wheel_is_active(&c->timer))
			shard_timer_cancel(&c->timer);
		return;
	}
	shard_timer_add(&c->timer, shard_now_ms(shard_self()) + ms);
}

/* Make room for n more bytes in the request buffer. */
static void reserve(struct conn *c, size_t n)
{
	if (c->len + n <= c->cap)
		return;
	c->cap = c->cap ? c->cap : BUF_START;
	while (c->cap < c->len + n)
		c->cap *= 2;
	c->buf = xrealloc(c->buf, c->cap);
}

/* Whether the stream hands over copies and stays armed whatever the state
** (the shard's provided buffers, or TLS, which decrypts into its own
** memory): then c->buf may be dropped while idle and bytes that come
** during a request wait in pend. Otherwise a plain receive writes into
** c->buf and is re-armed only while reading a request. */
static int pushes(const struct conn *c)
{
	return c->tls != NULL || net_bufs_ready();
}

/* Keep a receive armed (engine/net.c picks the shard's provided buffers,
** or a plain receive into the connection buffer: see conn_alloc). */
static void conn_recv(struct conn *c)
{
	if (c->state == C_CLOSED)
		return;
	if (c->eof) { /* nothing more will come: a partial request never ends */
		conn_close(c);
		return;
	}
	if ((c->tls ? htls_recv(c->tls) : net_stream_recv(&c->st)) < 0)
		conn_close(c);
}

static void conn_send(struct conn *c)
{
	if ((c->tls ? htls_send(c->tls, c->out.p, c->out.len)
		    : net_stream_send(&c->st, c->out.p, c->out.len)) < 0)
		conn_close(c);
}

static void conn_close(struct conn *c)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	if (wheel_is_active(&c->timer))
		shard_timer_cancel(&c->timer);
	stream_wake(c);
	body_wake(c);
	/* The stream's reference goes in on_close, after its last completion. */
	if (c->tls)
		htls_close(c->tls);
	else
		net_stream_close(&c->st);
}

/* The Date field of this thread's responses (RFC 9110 6.6.1: an origin
** server with a clock sends one), formatted once a second. */
static __thread struct { time_t sec; char text[32]; size_t len; } date_cache;

static struct http1_field date_field(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != date_cache.sec || date_cache.len == 0) {
		gmtime_r(&now, &tm);
		/* The C locale (the runtime never sets another): IMF-fixdate. */
		date_cache.len = strftime(date_cache.text, sizeof(date_cache.text),
					  "%a, %d %b %Y %H:%M:%S GMT", &tm);
		date_cache.sec = now;
	}
	return (struct http1_field){ "Date", date_cache.text, 4, date_cache.len };
}

static int has_field(const struct http1_field *f, size_t nf, const char *name,
		     size_t len)
{
	for (size_t i = 0; i < nf; i++)
		if (f[i].name_len == len && strncasecmp(f[i].name, name, len) == 0)
			return 1;
	return 0;
}

/* Queue a complete response (head + body) and start sending it. A Date
** field goes first unless the handler set its own. */
static void conn_write(struct conn *c, int status, const struct http1_field *f,
		       size_t nf, const char *body, size_t blen, int head_only)
{
	char head[8192];
	struct http1_field all[NHDRS + 2];
	if (c->bstream && c->bleft > BODY_DRAIN)
		c->keep_alive = 0; /* too much of the body is unread: close */
	int keep = c->keep_alive ? (c->req.minor_version == 0 ? HTTP1_KEEP_EXPLICIT : HTTP1_KEEP)
				 : HTTP1_CLOSE;
	if (nf <= NHDRS && !has_field(f, nf, "Date", 4)) {
		all[0] = date_field();
		memcpy(all + 1, f, nf * sizeof(*f));
		f = all;
		nf++;
	}
	/* 1xx, 204 and 304 carry no body and no length (RFC 9110 8.6). */
	int64_t cl = status < 200 || status == 204 || status == 304 ? HTTP1_NO_LENGTH
								    : (int64_t)blen;
	ssize_t n = http1_write_head(head, sizeof(head), status, NULL, f, nf, cl, keep);
	if (n < 0) { /* bad header from the handler: never send it */
		static const char msg[] = "invalid response header";
		struct http1_field d = date_field();
		n = http1_write_head(head, sizeof(head), 500, NULL, &d, 1,
				     sizeof(msg) - 1, keep);
		body = msg;
		blen = sizeof(msg) - 1;
		head_only = 0;
	}
	rstats_http(c->svc->rt->rstats, status, c->t0 ? (int64_t)(common_now_ns() - c->t0) : -1);
	c->t0 = 0;
	c->out.len = 0;
	hbuf_add(&c->out, head, (size_t)n);
	if (!head_only && blen)
		hbuf_add(&c->out, body, blen);
	c->state = C_WRITING;
	arm_timer(c, c->svc->write_ms);
	conn_send(c);
}

/* An error found by the server itself: status, short text body, close. */
static void conn_error(struct conn *c, int status, const char *text)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%s\n", text);
	c->keep_alive = 0;
	conn_write(c, status, &text_plain, 1, body, (size_t)n, 0);
}

/* {==== Static files ====} */

static void file_next(struct conn *c);

static void file_end(struct conn *c)
{
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	c->file_left = 0;
	c->file_gz = 0;
}

/* The whole file is in out after its head: gzip it and put the length in
** the head (rendered without one), then send. */
static void gz_finish(struct conn *c)
{
	struct hmw_req r = { .compress = 1, .level = c->gz_level, .min_length = 0 };
	char *z, cl[48];
	size_t zl;

	c->file_gz = 0;
	if (!hmw_compress(&r, 200, "gzip", 4, NULL, 0, 0, c->out.p + c->gz_head,
			  c->out.len - c->gz_head, &z, &zl)) {
		conn_close(c); /* zlib failed: cannot happen short of memory */
		return;
	}
	int n = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", zl);
	c->out.len = c->gz_head - 2;  /* drop the blank line */
	hbuf_add(&c->out, cl, (size_t)n);
	hbuf_add(&c->out, z, zl);
	free(z);
	conn_send(c);
}

/* A piece of the file arrived in out (after what out held). A connection
** closed meanwhile was kept for this completion (its reference). */
static void file_read_done(struct engine_io *io, int res, uint32_t flags)
{
	struct conn *c = container_of(io, struct conn, fio);
	(void)flags;
	if (c->state == C_CLOSED) {
		file_end(c);
		conn_unref(c);
		return;
	}
	if (res <= 0) {
		/* A read error, or the file shrank under us: the length is
		** already promised, so the body can only be cut short. */
		log_printf(LOG_LEVEL_DEBUG, NULL, "http: static file read: %s",
			   res < 0 ? strerror(-res) : "file shrank");
		file_end(c);
		conn_close(c);
		conn_unref(c);
		return;
	}
	c->out.len += (size_t)res;
	c->file_off += (uint64_t)res;
	c->file_left -= (uint64_t)res;
	conn_unref(c); /* the stream's reference holds it still */
	if (c->file_gz) {
		if (c->file_left)
			file_next(c);
		else
			gz_finish(c);
		return;
	}
	conn_send(c);
}

/* Read the next piece of the file behind what out holds. */
static void file_next(struct conn *c)
{
	size_t n = c->file_left < FILE_CHUNK ? (size_t)c->file_left : FILE_CHUNK;
	if (c->out.len + n > c->out.cap) {
		c->out.cap = c->out.len + n;
		c->out.p = xrealloc(c->out.p, c->out.cap);
	}
	c->fio.done = file_read_done;
	c->refs++; /* the read writes into out: c lives until it completes */
	if (net_pread(&c->fio, c->file_fd, c->out.p + c->out.len, (unsigned)n,
		      c->file_off) < 0) {
		c->refs--;
		file_end(c);
		conn_close(c);
	}
}

/* on_sent of a file piece: 1 while more of the file is to come. */
static int file_sent(struct conn *c)
{
	if (c->file_left == 0) {
		file_end(c);
		return 0;
	}
	c->out.len = 0;
	arm_timer(c, c->svc->write_ms);
	file_next(c);
	return 1;
}

/* A request header by name, for hmw and hstatic. */
static const char *req_header(void *ud, const char *name, size_t nl, size_t *vl)
{
	struct conn *c = ud;
	int i = http1_find_header(&c->req, c->buf, name, nl);
	if (i < 0)
		return NULL;
	*vl = c->req.headers[i].value_len;
	return c->buf + c->req.headers[i].value_off;
}

/* "Name\0value\0" pairs (a response's headers, a middleware's) as fields
** after f[0, nf), up to max; returns the new count. */
static size_t pair_fields(const char *p, size_t len, struct http1_field *f, size_t nf,
			  size_t max)
{
	const char *q = p, *end = p + len;
	while (q < end && nf < max) {
		f[nf].name = q;
		f[nf].name_len = strlen(q);
		q += f[nf].name_len + 1;
		f[nf].value = q;
		f[nf].value_len = strlen(q);
		q += f[nf].value_len + 1;
		nf++;
	}
	return nf;
}

/* The request as the middleware sees it. */
/* {==== The metrics middleware ====}
**
** The original's three series, by method and route (the route's pattern,
** "unmatched" without one) and, once answered, status: a gauge of the
** requests in flight, a counter of the answered ones and a histogram of
** their duration in seconds. Recorded in the store of require("metrics"),
** so the service's `metrics:` scrape shows them. */
static void mw_count(struct rt *rt, int done, const char *method, size_t ml,
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
static void mw_count_answer(struct conn *c, const struct hmw_req *r,
			    const char *route, int status)
{
	if (!r->metrics)
		return;
	mw_count(c->svc->rt, 0, r->method, r->method_len, route, 0, 0);
	mw_count(c->svc->rt, 1, r->method, r->method_len, route, status,
		 c->t0 ? (double)(common_now_ns() - c->t0) / 1e9 : 0);
}

/* }==== */

static void mw_init(struct hmw_req *r, struct conn *c)
{
	memset(r, 0, sizeof(*r));
	r->method = c->buf + c->req.method_off;
	r->method_len = c->req.method_len;
	r->query = c->buf + c->req.query_off;
	r->query_len = c->req.query_len;
	r->header = req_header;
	r->ud = c;
	memcpy(r->remote, c->remote, sizeof(r->remote));
}

/* The middleware answered (preflight 204, 429, 400) or, with status, the
** server answers after it with the headers it added. */
static void mw_answer(struct conn *c, struct hmw_req *r, int status, const char *body)
{
	struct http1_field f[NHDRS];
	size_t nf = 0, bl = strlen(body);
	if (bl)
		f[nf++] = text_plain;
	nf = pair_fields(r->add.p, r->add.len, f, nf, NHDRS);
	conn_write(c, status, f, nf, body, bl, c->req.method == HTTP1_HEAD);
	hmw_hdrs_free(&r->add);
}

/* Answer from the mount m: a short reply at once, a file as its head and
** then its range in pieces. */
static void serve_static(struct conn *c, const struct hstatic *m)
{
	const struct http1_request *q = &c->req;
	struct hstatic_reply r;
	struct hmw_req mw;
	struct http1_field f[NHDRS];
	char head[8192];
	size_t nf;
	int head_only = q->method == HTTP1_HEAD;

	mw_init(&mw, c);
	if (hmw_run(hstatic_chain(m), &mw)) {
		mw_answer(c, &mw, mw.answer, mw.body);
		return;
	}
	hstatic_serve(m, c->buf + q->method_off, q->method_len, c->buf + q->path_off,
		      q->path_len, req_header, c, &r);
	f[0] = date_field();
	memcpy(f + 1, r.f, r.nf * sizeof(*f));
	nf = pair_fields(mw.add.p, mw.add.len, f, r.nf + 1, NHDRS);
	/* compress on a whole file of a compressible type: gathered, gzip'd
	** and sent with a weak ETag (the bytes differ from the file's). */
	char wtag[96];
	int gz = 0;
	if (r.fd >= 0 && r.status == 200 && !head_only && r.len <= GZ_FILE_MAX && mw.compress) {
		size_t al = 0;
		const char *ae = req_header(c, "Accept-Encoding", 15, &al);
		const struct http1_field *ct = NULL;
		for (size_t i = 1; i < nf; i++)
			if (f[i].name_len == 12 && !strncasecmp(f[i].name, "Content-Type", 12))
				ct = &f[i];
		gz = hmw_would_compress(&mw, 200, ae, al, ct ? ct->value : NULL,
					ct ? ct->value_len : 0, 0, (size_t)r.len) && nf + 2 <= NHDRS;
	}
	if (gz) {
		for (size_t i = 1; i < nf; i++)
			if (f[i].name_len == 4 && !strncasecmp(f[i].name, "ETag", 4) &&
			    f[i].value_len + 3 < sizeof(wtag)) {
				int k = snprintf(wtag, sizeof(wtag), "W/%.*s", (int)f[i].value_len,
						 f[i].value);
				f[i].value = wtag;
				f[i].value_len = (size_t)k;
			}
		f[nf++] = (struct http1_field){ "Content-Encoding", "gzip", 16, 4 };
		f[nf++] = (struct http1_field){ "Vary", "Accept-Encoding", 4, 15 };
	}
	if (r.fd < 0) {
		conn_write(c, r.status, f, nf, r.body, r.blen, head_only);
		hmw_hdrs_free(&mw.add);
		return;
	}
	int keep = c->keep_alive ? (q->minor_version == 0 ? HTTP1_KEEP_EXPLICIT : HTTP1_KEEP)
				 : HTTP1_CLOSE;
	ssize_t n = http1_write_head(head, sizeof(head), r.status, NULL, f, nf,
				     gz ? HTTP1_NO_LENGTH : (int64_t)r.len, keep);
	hmw_hdrs_free(&mw.add);
	if (n < 0) {
		close(r.fd);
		conn_error(c, 500, "invalid response header");
		return;
	}
	c->out.len = 0;
	hbuf_add(&c->out, head, (size_t)n);
	c->state = C_WRITING;
	arm_timer(c, c->svc->write_ms);
	if (head_only || r.len == 0) {
		close(r.fd);
		conn_send(c);
		return;
	}
	/* The head and the first piece go in one send. */
	c->file_fd = r.fd;
	c->file_off = r.off;
	c->file_left = r.len;
	c->file_gz = (uint8_t)gz;
	c->gz_level = mw.level;
	c->gz_head = (size_t)n;
	file_next(c);
}

/* The response went out (or could not). */
static void on_sent(struct net_stream *st, int res)
{
	struct conn *c = container_of(st, struct conn, st);
	if (res < 0) {
		conn_close(c);
		return;
	}
	if (c->file_fd >= 0 && file_sent(c))
		return; /* the next piece of the file is being read */
	if (c->streaming && stream_sent(c))
		return; /* more of the stream to send, or to come */
	if (!c->keep_alive || (c->bstream && c->bleft > BODY_DRAIN)) {
		conn_close(c);
		return;
	}
	/* Next request: keep the bytes after this one (pipelining) and what
	** arrived meanwhile; an idle connection keeps no buffer at all. */
	if (c->req_total > c->len)
		c->req_total = c->len;
	memmove(c->buf, c->buf + c->req_total, c->len - c->req_total);
	c->len -= c->req_total;
	c->req_total = 0;
	if (c->pend.len) {
		reserve(c, c->pend.len);
		memcpy(c->buf + c->len, c->pend.p, c->pend.len);
		c->len += c->pend.len;
		c->pend.len = 0;
	}
	http1_reset(&c->req);
	body_reset(c);
	c->state = C_HEAD;
	if (c->len) {
		arm_timer(c, c->svc->read_ms);
		conn_process(c);
	} else if (c->eof) {
		conn_close(c);
	} else {
		if (pushes(c)) {
			free(c->buf);
			c->buf = NULL;
			c->cap = 0;
		}
		arm_timer(c, c->svc->idle_ms);
		conn_recv(c);
	}
}

/* Room for a plain receive: at the end of the request buffer, and only
** while reading a request (the handler reads c->buf in place, so it must
** not move while a request is handled or answered). */
static char *conn_alloc(struct net_stream *st, size_t *cap)
{
	struct conn *c = container_of(st, struct conn, st);
	if (c->bstream && c->bleft && c->state == C_HANDLING) {
		if (c->bpaused)
			return NULL;
		if (c->rx == NULL)
			c->rx = xmalloc(BODY_RX);
		*cap = BODY_RX;
		return c->rx;
	}
	if (c->state != C_HEAD && c->state != C_BODY)
		return NULL;
	reserve(c, BUF_START / 2);
	*cap = c->cap - c->len;
	return c->buf + c->len;
}

static void on_read(struct net_stream *st, ssize_t res, const char *data,
		    int in_place)
{
	struct conn *c = container_of(st, struct conn, st);

	if (res == 0) {
		/* End of stream. A client may half-close after its last request
		** (nc -N, some HTTP/1.0 clients): answer what is buffered and
		** in progress, then close, as nginx does. */
		c->eof = 1;
		if ((c->state == C_HEAD && c->len == 0) || c->streaming ||
		    (c->bstream && c->bleft))
			conn_close(c); /* a stream's reader left, a body cut short */
		else if (c->state == C_HEAD || c->state == C_BODY)
			conn_process(c);
		goto out;
	}
	if (res < 0) {
		conn_close(c);
		goto out;
	}
	if (c->state == C_HEAD && c->len == 0)
		arm_timer(c, c->svc->read_ms); /* a request has started */
	if (c->state == C_HANDLING || c->state == C_WRITING) {
		size_t k = body_feed(c, data, (size_t)res);
		hbuf_add(&c->pend, data + k, (size_t)res - k);
	} else if (c->bdrain) {
		/* The unread rest of the last body goes before the next head. */
		size_t k = body_feed(c, data, (size_t)res);
		if (in_place && (size_t)res > k)
			memmove(c->buf + c->len, c->buf + c->len + k, (size_t)res - k);
		else if ((size_t)res > k) {
			reserve(c, (size_t)res - k);
			memcpy(c->buf + c->len, data + k, (size_t)res - k);
		}
		c->len += (size_t)res - k;
		if (c->len == 0)
			goto out;
	} else if (!in_place) {
		reserve(c, (size_t)res);
		memcpy(c->buf + c->len, data, (size_t)res);
		c->len += (size_t)res;
	} else {
		c->len += (size_t)res;
	}
	if (c->len + c->pend.len > (size_t)c->svc->limits.max_head +
				   c->svc->limits.max_body + 65536) {
		conn_error(c, 413, "too much data");
		goto out;
	}
	if (c->state == C_HEAD || c->state == C_BODY)
		conn_process(c);
	else if (c->state != C_CLOSED && (pushes(c) || (c->bstream && c->bleft)))
		conn_recv(c);
out:
	if (c->state != C_CLOSED && c->state != C_HANDLING &&
	    c->state != C_WRITING)
		conn_recv(c);
}

/* The stream closed after its last completion: drop its reference. */
static void on_close(struct net_stream *st)
{
	conn_unref(container_of(st, struct conn, st));
}

static const struct net_stream_cb conn_cb = {
	conn_alloc, on_read, on_sent, on_close,
};

/* A TLS connection's stream: ciphertext goes through runtime/htls.c,
** which calls conn_cb with the plaintext. */
static char *tls_alloc(struct net_stream *st, size_t *cap)
{
	return htls_alloc(container_of(st, struct conn, st)->tls, cap);
}

static void tls_read(struct net_stream *st, ssize_t res, const char *data,
		     int in_place)
{
	htls_on_read(container_of(st, struct conn, st)->tls, res, data, in_place);
}

static void tls_sent(struct net_stream *st, int res)
{
	htls_on_sent(container_of(st, struct conn, st)->tls, res);
}

static const struct net_stream_cb tls_cb = {
	tls_alloc, tls_read, tls_sent, on_close,
};

static void conn_timer(struct wheel_timer *t)
{
	struct conn *c = container_of(t, struct conn, timer);
	switch (c->state) {
	case C_HEAD:
		if (c->len == 0) { /* idle keep-alive */
			conn_close(c);
			break;
		}
		/* fall through */
	case C_BODY:
		conn_error(c, 408, "request timeout");
		break;
	default:
		conn_close(c);
	}
}

/* {==== Streamed request bodies ====}
**
** A Content-Length body over BODY_STREAM_MIN that has not arrived whole
** when its head has is not waited for: the handler runs at once and the
** body's bytes queue on the connection (bq) as they arrive, for
** hreq_body_take (req:stream()). The queue is bounded: past BODY_HIGH
** unread bytes the connection stops receiving (net_stream_pause) until
** the reader is down to BODY_LOW, so a fast uploader cannot make the
** server buffer without bound; a reader with nothing to read parks
** (hreq_body_wait) and is woken from its process's step when bytes
** arrive or the client leaves. req:body() lifts the bound (hreq_body_all)
** and waits for the whole body, as the service's max_body_bytes allows.
** A response sent while more than BODY_DRAIN of the body is unread closes
** the connection after it (Connection: close); a shorter rest is read and
** discarded before the next request's head (as Go's server does), so
** keep-alive never reads body bytes as a request. Smaller bodies, and chunked ones, are read whole first. */

static size_t body_avail(const struct conn *c)
{
	return c->bq.len - c->boff;
}

static void body_wake_deliver(lua_State *L, struct pext *x)
{
	struct conn *c = container_of(x, struct conn, bwake);
	struct coro *co = c->bwaiter;
	(void)L;
	if (c->h && wheel_is_active(&c->h->bt))
		proc_timer_cancel(c->h->proc, &c->h->bt);
	c->bwaiter = NULL;
	c->bwaiter_proc = NULL;
	if (co)
		proc_ready(co, 0);
}

/* Bytes arrived, the body ended, or the client left: wake the reader. */
static void body_wake(struct conn *c)
{
	if (c->bwaiter && !c->bwake.queued) {
		c->bwake.deliver = body_wake_deliver;
		proc_ext_post(c->bwaiter_proc, &c->bwake);
	}
}

/* The deadline of a whole-body wait passed: the reader gets a timeout. */
static void body_timeout_deliver(lua_State *L, struct pext *x)
{
	struct hreq *h = container_of(x, struct hreq, btx);
	struct conn *c = h->conn;
	struct coro *co = c->bwaiter;
	(void)L;
	if (c->bwake.queued)
		proc_ext_cancel(h->proc, &c->bwake);
	c->bwaiter = NULL;
	c->bwaiter_proc = NULL;
	h->timed_out = 1;
	if (co)
		proc_ready(co, 0);
}

static void body_timeout_fire(struct wheel_timer *t)
{
	struct hreq *h = container_of(t, struct hreq, bt);
	if (!h->btx.queued) {
		h->btx.deliver = body_timeout_deliver;
		proc_ext_post(h->proc, &h->btx);
	}
}

/* The call of p ends: no reader waits any more. */
static void body_detach(struct conn *c, struct proc *p)
{
	struct hreq *h = c->h;
	if (h && wheel_is_active(&h->bt))
		proc_timer_cancel(p, &h->bt);
	if (h && h->btx.queued)
		proc_ext_cancel(p, &h->btx);
	if (c->bwake.queued)
		proc_ext_cancel(p, &c->bwake);
	c->bwaiter = NULL;
	c->bwaiter_proc = NULL;
}

/* While the handler runs, the read timeout covers the client: it runs
** while more of the body is due and the server is receiving (not while
** the handler is behind), restarted by every piece; past it the
** connection closes and the reader gets an error. */
static void body_timer(struct conn *c)
{
	if (c->state == C_HANDLING)
		arm_timer(c, c->bleft && !c->bpaused ? c->svc->read_ms : 0);
}

/* Take the body's share of data[0, n) onto the queue; returns how much
** was the body's (the rest is the next request's). */
static size_t body_feed(struct conn *c, const char *data, size_t n)
{
	if (!c->bstream || c->bleft == 0)
		return 0;
	size_t k = n < c->bleft ? n : (size_t)c->bleft;
	if (c->bdrain) { /* discarded */
		c->bleft -= k;
		if (c->bleft == 0)
			c->bstream = c->bdrain = 0;
		return k;
	}
	if (c->boff == c->bq.len) {
		c->bq.len = c->boff = 0;
	} else if (c->boff >= BODY_HIGH && c->boff * 2 >= c->bq.len) {
		memmove(c->bq.p, c->bq.p + c->boff, c->bq.len - c->boff);
		c->bq.len -= c->boff;
		c->boff = 0;
	}
	hbuf_add(&c->bq, data, k);
	c->bleft -= k;
	if (!c->ball && !c->bpaused && c->bleft && body_avail(c) >= BODY_HIGH) {
		c->bpaused = 1;
		net_stream_pause(&c->st);
	}
	body_timer(c);
	body_wake(c);
	return k;
}

static void body_resume(struct conn *c)
{
	if (!c->bpaused)
		return;
	c->bpaused = 0;
	if (c->state != C_CLOSED && net_stream_resume(&c->st) < 0)
		conn_close(c);
	body_timer(c);
}

/* The next request: forget the body (a large queue goes); an unread rest
** (at most BODY_DRAIN, or the connection closed) is drained first. */
static void body_reset(struct conn *c)
{
	body_resume(c);
	c->bdrain = c->bstream && c->bleft;
	c->bstream = c->bdrain;
	c->ball = 0;
	c->bq.len = c->boff = 0;
	if (c->bq.cap > (1u << 20)) {
		free(c->bq.p);
		c->bq.p = NULL;
		c->bq.cap = 0;
	}
}

static void dispatch(struct conn *c);

/* The head is in, the body is not: run the handler now. */
static void body_start(struct conn *c)
{
	size_t have = c->len - c->req.head_len;
	c->bstream = 1;
	c->bleft = c->req.content_length - have;
	c->bq.len = c->boff = 0;
	hbuf_add(&c->bq, c->buf + c->req.head_len, have);
	c->len = c->req.head_len;
	c->req_total = c->req.head_len;
	dispatch(c);
	body_timer(c);
	if (c->state != C_CLOSED)
		conn_recv(c);
}

/* {==== Handler calls ====} */

static struct pool *pool_of(struct svc *s, int shard, const struct route *r)
{
	(void)s;
	return &((struct pool *)r->pools)[shard];
}

static struct rtab *tab_of(struct svc *s)
{
	return atomic_load_explicit(&s->tab, memory_order_acquire);
}

static void pooled_exit(struct proc *p, void *arg);

static struct proc *pool_get(struct svc *s, const struct route *r)
{
	struct pool *pl = pool_of(s, shard_id(shard_self()), r);
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
	struct pool *pl = pool_of(s, shard_id(shard_self()), r);
	/* Keep a bounded number idle: a burst of slow calls must not leave
	** its peak of states behind once it has passed. */
	if (atomic_load(&s->rt->stopping) || pl->n >= s->rt->conf.http_pool_idle) {
		mbox_push(&p->mbox, msg_new(MSG_TERMINATE, 0, NULL));
		proc_notify(p);
		proc_unref(p);
		return;
	}
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 8;
		pl->idle = xrealloc(pl->idle, pl->cap * sizeof(*pl->idle));
	}
	pl->idle[pl->n++] = p;
}

static void hreq_free(struct hreq *h)
{
	if (h->mt0)
		mw_count(h->mrt, 1, h->mmethod, strlen(h->mmethod), h->match.route->pattern,
			 h->status ? h->status : 200,
			 (double)(common_now_ns() - h->mt0) / 1e9);
	hmw_hdrs_free(&h->mw.add);
	free(h->headers.p);
	free(h->out.p);
	free(h);
}

/* {==== Streamed responses ====}
**
** The first hreq_flush sends the head: no Content-Length, chunked for
** HTTP/1.1 (keep-alive survives), or for HTTP/1.0 a body that ends with
** the connection. Each flush after frames what was written as one chunk
** and queues it on the connection's spool behind the piece being sent;
** on_sent swaps the spool in. A handler that flushes faster than the
** client reads is told so (HREQ_FULL past STREAM_HIGH queued bytes) and
** waits, parked, until the queue is down to STREAM_LOW: memory per
** stream stays bounded by what one flush adds. The write timeout runs
** only while a piece is in flight, so an idle event stream stays open;
** a client that leaves (end of stream, a failed send, the timeout) wakes
** the waiter and fails every write after with HREQ_GONE. */
#define STREAM_HIGH (256u << 10)
#define STREAM_LOW  (64u << 10)

static size_t stream_queued(const struct conn *c)
{
	return c->spool.len + (c->sending ? c->out.len : 0);
}

/* In the waiting state's step: its flush goes on. */
static void wake_deliver(lua_State *L, struct pext *x)
{
	struct conn *c = container_of(x, struct conn, wake);
	struct coro *co = c->waiter;
	(void)L;
	c->waiter = NULL;
	c->waiter_proc = NULL;
	if (co)
		proc_ready(co, 0);
}

/* The queue drained or the client left: wake the flush waiting on it (a
** coroutine is made ready only from its process's step, so through its
** external queue). The handler's hold on c outlives the delivery. */
static void stream_wake(struct conn *c)
{
	if (c->waiter && !c->wake.queued) {
		c->wake.deliver = wake_deliver;
		proc_ext_post(c->waiter_proc, &c->wake);
	}
}

/* Send the spool if nothing is in flight. */
static void stream_kick(struct conn *c)
{
	if (c->sending || c->spool.len == 0 || c->state == C_CLOSED)
		return;
	struct hbuf t = c->out;
	c->out = c->spool;
	t.len = 0;
	c->spool = t;
	c->sending = 1;
	arm_timer(c, c->svc->write_ms);
	conn_send(c);
}

/* on_sent while streaming. Returns 1 when the stream goes on (more to
** send, or the handler still runs), 0 when it ended and the connection
** continues as after any response. */
static int stream_sent(struct conn *c)
{
	c->sending = 0;
	c->out.len = 0;
	if (stream_queued(c) <= STREAM_LOW)
		stream_wake(c);
	if (c->spool.len) {
		stream_kick(c);
		return 1;
	}
	if (!c->stream_end) {
		arm_timer(c, 0); /* idle until the next flush */
		return 1;
	}
	c->streaming = c->stream_end = 0;
	return 0;
}

/* Frame what the handler wrote since the last flush onto the spool. */
static void stream_take(struct conn *c, struct hreq *h)
{
	if (h->out.len && c->req.method != HTTP1_HEAD) {
		if (c->chunked) {
			char n[24];
			int k = snprintf(n, sizeof(n), "%zx\r\n", h->out.len);
			hbuf_add(&c->spool, n, (size_t)k);
			hbuf_add(&c->spool, h->out.p, h->out.len);
			hbuf_add(&c->spool, "\r\n", 2);
		} else {
			hbuf_add(&c->spool, h->out.p, h->out.len);
		}
	}
	h->out.len = 0;
}

/* Collect h's headers as fields for http1_write_head; returns how many. */
static size_t head_fields(const struct hreq *h, struct http1_field *f, size_t max)
{
	return pair_fields(h->headers.p, h->headers.len, f, 0, max);
}

/* The head of a streamed response, onto the spool. */
static int stream_start(struct conn *c, struct hreq *h)
{
	char head[8192];
	struct http1_field f[66];
	size_t nf = 1;
	int keep;

	f[0] = date_field();
	nf += head_fields(h, f + 1, 64);
	/* The framing is the stream's: a length or coding the handler set
	** would contradict it. */
	for (size_t i = 1; i < nf; )
		if ((f[i].name_len == 14 && strncasecmp(f[i].name, "Content-Length", 14) == 0) ||
		    (f[i].name_len == 17 && strncasecmp(f[i].name, "Transfer-Encoding", 17) == 0))
			f[i] = f[--nf];
		else
			i++;
	c->chunked = c->req.minor_version >= 1;
	if (!c->chunked || (c->bstream && c->bleft > BODY_DRAIN))
		c->keep_alive = 0;
	keep = c->keep_alive ? HTTP1_KEEP : HTTP1_CLOSE;
	ssize_t n = http1_write_head(head, sizeof(head), h->status ? h->status : 200,
				     NULL, f, nf, c->chunked ? HTTP1_CHUNKED : HTTP1_NO_LENGTH,
				     keep);
	if (n < 0)
		return HREQ_INVALID;
	hbuf_add(&c->spool, head, (size_t)n);
	h->wrote = 1;
	c->streaming = 1;
	/* A reader that leaves shows as the end of its stream. */
	if (pushes(c))
		conn_recv(c);
	return 0;
}

int hreq_flush(struct hreq *h)
{
	struct conn *c = h->conn;

	if (c->state == C_CLOSED)
		return HREQ_GONE;
	if (!c->streaming && stream_start(c, h) < 0)
		return HREQ_INVALID;
	stream_take(c, h);
	stream_kick(c);
	return stream_queued(c) > STREAM_HIGH ? HREQ_FULL : 0;
}

int hreq_wait(struct hreq *h, struct coro *co)
{
	struct conn *c = h->conn;
	if (c->state == C_CLOSED)
		return HREQ_GONE;
	if (stream_queued(c) <= STREAM_LOW)
		return 0;
	c->waiter = co;
	c->waiter_proc = h->proc;
	return HREQ_FULL;
}

int hreq_gone(const struct hreq *h)
{
	return h->conn->state == C_CLOSED;
}

/* The handler of a streamed response returned (ok) or failed: the rest and
** the last chunk go out, or, after a failure, what is queued and then the
** connection closes without the last chunk, so the client sees the body
** cut short. */
static void stream_finish(struct hreq *h, int ok)
{
	struct conn *c = h->conn;
	stream_take(c, h);
	if (ok && c->chunked && c->req.method != HTTP1_HEAD)
		hbuf_add(&c->spool, "0\r\n\r\n", 5);
	if (!ok)
		c->keep_alive = 0;
	c->stream_end = 1;
	if (c->wake.queued)
		proc_ext_cancel(h->proc, &c->wake);
	c->waiter = NULL;
	c->waiter_proc = NULL;
	c->h = NULL;
	if (c->sending || c->spool.len)
		stream_kick(c); /* on_sent ends the stream after the last piece */
	else if (c->state != C_CLOSED)
		on_sent(&c->st, 0); /* nothing left: as after the last piece */
	conn_unref(c);
}

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
static void compress(struct hreq *h, int status)
{
	size_t al = 0, tl = 0, el = 0, vl = 0;
	const char *ae = req_header(h->conn, "Accept-Encoding", 15, &al);
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
	set_header(h, "Content-Encoding", 16, "gzip", 4);
	const char *vary = resp_header(h, "Vary", 4, &vl);
	if (vary) {
		char *v = xmalloc(vl + 18);
		memcpy(v, vary, vl);
		memcpy(v + vl, ", Accept-Encoding", 17);
		set_header(h, "Vary", 4, v, vl + 17);
		free(v);
	} else {
		set_header(h, "Vary", 4, "Accept-Encoding", 15);
	}
}

/* The response of a finished call goes to its connection. */
static void finish_request(struct hreq *h, int status, const char *err_text)
{
	struct conn *c = h->conn;
	struct http1_field f[65];
	size_t nf;

	h->status = status; /* what went out, for the metrics middleware */
	if (err_text) {
		conn_write(c, status, &text_plain, 1, err_text, strlen(err_text),
			   c->req.method == HTTP1_HEAD);
	} else {
		compress(h, status);
		nf = head_fields(h, f, 64);
		conn_write(c, status, f, nf, h->out.p, h->out.len,
			   c->req.method == HTTP1_HEAD);
	}
	c->h = NULL;
	conn_unref(c);
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
	body_detach(h->conn, p);
	payload_free(&p->sec);        /* token_auth's actor was this call's only */
	proc_sec_changed(p);
	if (h->conn->streaming) {
		if (status != LUA_OK)
			log_printf(LOG_LEVEL_ERROR, NULL, "handler %s failed: %s",
				   r->func->id, luaL_tolstring(co->L, -1, NULL));
		stream_finish(h, status == LUA_OK);
	} else if (h->conn->state == C_CLOSED) {
		/* The client left; the handler's work is done, drop it. */
		h->conn->h = NULL;
		conn_unref(h->conn);
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
	hreq_free(h);
	pool_put(s, r, p);
}

/* In the pooled state's step: start the call. */
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
		set_header(h, "Content-Type", 12, "application/json", 16);
		h->out.len = 0;
		hbuf_add(&h->out, body, (size_t)n);
		return 0;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_callk(L, 0, LUA_MULTRET, 0, fw_done);
	return fw_done(L, LUA_OK, 0);
}

static void start_call(lua_State *L, struct pext *x)
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
		body_detach(h->conn, p);
		if (h->conn->streaming)
			stream_finish(h, 0);
		else if (h->conn->state != C_CLOSED)
			finish_request(h, 500, p->exit_msg ? p->exit_msg : "handler failed");
		else {
			h->conn->h = NULL;
			conn_unref(h->conn);
		}
		hreq_free(h);
		proc_unref(p);
		return;
	}
	/* Idle in a pool of this shard: forget it. */
	for (struct rtab *t = tab_of(s); t; t = t->older)
		for (uint32_t i = 0; i < t->t.n; i++) {
			struct pool *pl = pool_of(s, shard_id(shard_self()), &t->t.r[i]);
			for (uint32_t j = 0; j < pl->n; j++)
				if (pl->idle[j] == p) {
					pl->idle[j] = pl->idle[--pl->n];
					proc_unref(p);
					return;
				}
		}
}

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
static void dispatch(struct conn *c)
{
	const struct http1_request *q = &c->req;
	const char *path = c->buf + q->path_off;
	struct rtab *tab = tab_of(c->svc);
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
		conn_write(c, 200, &ct, 1, body, n, q->method == HTTP1_HEAD);
		free(body);
		return;
	}
	rc = route_find(&tab->t, c->buf + q->method_off, q->method_len,
			path, q->path_len, &m, allow, sizeof(allow));
	if (rc < 0 && q->method_len == 7 && !memcmp(c->buf + q->method_off, "OPTIONS", 7)) {
		const struct route *r = route_find_path(&tab->t, path, q->path_len);
		struct hmw_req mw;
		mw_init(&mw, c);
		hmw_run(r ? r->mw : NULL, &mw);
		mw_answer(c, &mw, mw.answer ? mw.answer : 204, mw.answer ? mw.body : "");
		return;
	}
	if (rc <= 0 && (mount = find_mount(tab, path, q->path_len)) != NULL) {
		serve_static(c, mount);
		return;
	}
	if (rc == 0) {
		conn_write(c, 404, &text_plain, 1, "not found\n", 10, q->method == HTTP1_HEAD);
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
		conn_write(c, 405, f, 2, "method not allowed\n", 19, q->method == HTTP1_HEAD);
		return;
	}
	struct hreq *h = xcalloc(1, sizeof(*h));
	mw_init(&h->mw, c);
	if (hmw_run(m.route->mw, &h->mw)) {
		mw_count_answer(c, &h->mw, m.route->pattern, h->mw.answer);
		mw_answer(c, &h->mw, h->mw.answer, h->mw.body);
		hreq_free(h);
		return;
	}
	if (h->mw.metrics) {
		size_t ml = q->method_len < sizeof(h->mmethod) - 1 ? q->method_len
								     : sizeof(h->mmethod) - 1;
		memcpy(h->mmethod, c->buf + q->method_off, ml);
		h->mt0 = c->t0 ? c->t0 : common_now_ns();
		h->mrt = c->svc->rt;
		mw_count(c->svc->rt, 0, h->mmethod, ml, m.route->pattern, 0, 0);
	}
	/* What the middleware set goes first; the handler may replace it. */
	for (const char *p = h->mw.add.p, *e = p + h->mw.add.len; p < e;) {
		size_t kl = strlen(p), vl = strlen(p + kl + 1);
		set_header(h, p, kl, p + kl + 1, vl);
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
	h->ext.deliver = start_call;
	h->proc = pool_get(c->svc, m.route);
	if (h->proc == NULL) {
		h->status = 503;
		hreq_free(h);
		conn_error(c, 503, "service unavailable");
		return;
	}
	c->h = h;
	c->refs++;             /* the handler's hold on the buffer */
	c->state = C_HANDLING;
	arm_timer(c, 0);
	/* The state is this shard's and idle; owning the request from now on
	** (not from start_call) lets pooled_exit answer it when the state
	** dies before the call starts: a handler file that fails at its top
	** level, or memory at its first step. */
	h->proc->call_ctx = h;
	proc_ext_post(h->proc, &h->ext);
}

static void conn_process(struct conn *c)
{
	ssize_t r;
	if (c->state == C_HEAD) {
		r = http1_parse(&c->req, c->buf, c->len);
		if (r == HTTP1_NEED_MORE) {
			conn_recv(c); /* no-op while the multishot receive runs */
			return;
		}
		if (r < 0) {
			conn_error(c, http1_error_status(r), http1_error_reason(r));
			return;
		}
		c->state = C_BODY;
		if (c->req.body_kind != HTTP1_BODY_NONE &&
		    (c->req.flags & HTTP1_F_CONTINUE)) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			/* Tiny and first on an otherwise idle socket: a direct
			** non-blocking send either takes it whole or the client
			** sends the body anyway after its own timeout. */
			if (c->tls)
				(void)htls_try_send(c->tls, cont, sizeof(cont) - 1);
			else
				(void)net_stream_try_send(&c->st, cont, sizeof(cont) - 1);
		}
	}
	if (c->state == C_BODY) {
		r = http1_body(&c->req, c->buf, c->len);
		if (r == HTTP1_NEED_MORE) {
			if (c->req.body_kind == HTTP1_BODY_LENGTH && !c->bstream &&
			    c->req.content_length > BODY_STREAM_MIN) {
				body_start(c);
				return;
			}
			/* Room for a Content-Length body in one piece. */
			if (c->req.body_kind == HTTP1_BODY_LENGTH) {
				size_t need = c->req.head_len + c->req.content_length;
				if (need > c->len)
					reserve(c, need - c->len);
			}
			/* A chunked body keeps only its decoded bytes: its
			** framing would otherwise count against the buffer
			** cap (413) however small the body. Not while a plain
			** receive writes at buf + len. */
			if (c->req.body_kind == HTTP1_BODY_CHUNKED &&
			    (c->tls || !net_stream_recv_in_place(&c->st)))
				c->len = http1_body_compact(&c->req, c->buf, c->len);
			conn_recv(c);
			return;
		}
		if (r < 0) {
			conn_error(c, http1_error_status(r), http1_error_reason(r));
			return;
		}
		c->req_total = (size_t)r;
		dispatch(c);
	}
}

static void conn_new(struct svc *s, int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->svc = s;
	c->shard = shard_id(shard_self());
	c->cap = 0;
	c->buf = NULL;     /* allocated when the first bytes arrive */
	c->state = C_HEAD;
	c->file_fd = -1;
	c->refs = 1; /* the stream's, dropped by on_close */
	((struct httpd *)s->rt->httpd)->conns[c->shard].n++;
	c->next = s->live[c->shard];
	if (c->next)
		c->next->prev = c;
	s->live[c->shard] = c;
	net_stream_init(&c->st, fd, s->tls ? &tls_cb : &conn_cb);
	if (s->tls)
		c->tls = htls_new(s->tls, &c->st, &conn_cb);
	http1_init(&c->req, c->hdrs, NHDRS, &s->limits);
	wheel_timer_init(&c->timer, conn_timer);
	net_stream_peer(&c->st, c->remote, sizeof(c->remote));
	arm_timer(c, s->idle_ms);
	conn_recv(c);
	/* The stream's reference keeps the connection alive even with nothing
	** in flight, until conn_close (a handler holds its own). */
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
	conn_new(l->svc, fd);
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
			conn_close(c);
		else
			c->keep_alive = 0;
	}
	/* Idle handler states of this shard have no work left. */
	for (struct rtab *tb = tab_of(s); tb; tb = tb->older)
		for (uint32_t i = 0; i < tb->t.n; i++) {
			struct pool *pl = pool_of(s, l->shard, &tb->t.r[i]);
			while (pl->n) {
				struct proc *p = pl->idle[--pl->n];
				mbox_push(&p->mbox, msg_new(MSG_TERMINATE, 0, NULL));
				proc_notify(p);
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
			   s->tls ? "tls, " : "", tab_of(s)->t.n, (long long)hd->max_conns);
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
				conn_free(s->live[j]);
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
static void set_header(struct hreq *h, const char *k, size_t kl, const char *v,
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
	set_header(h, k, kl, v, vl);
	return 0;
}

void hreq_default_type(struct hreq *h, const char *type)
{
	if (!h->wrote && !h->has_content_type)
		set_header(h, "Content-Type", 12, type, strlen(type));
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
	set_header(h, "Cache-Control", 13, "no-cache", 8);
	if (mode == HREQ_TRANSFER_SSE)
		set_header(h, "Content-Type", 12, "text/event-stream", 17);
	return 0;
}

int hreq_transfer(const struct hreq *h) { return h->transfer; }

int hreq_wrote(const struct hreq *h) { return h->wrote; }

size_t hreq_unflushed(const struct hreq *h) { return h->out.len; }

int hreq_streaming(const struct hreq *h) { return h->conn->streaming; }

/* {==== The request body, read as it arrives ====} */

uint64_t hreq_id(const struct hreq *h) { return h->id; }

int hreq_body_streamed(const struct hreq *h) { return h->conn->bstream; }

void hreq_set_max_body(struct hreq *h, uint64_t n) { h->max_body = n; }

uint64_t hreq_max_body(const struct hreq *h) { return h->max_body; }

size_t hreq_body_take(struct hreq *h, char *dst, size_t n)
{
	struct conn *c = h->conn;
	size_t k;
	if (!c->bstream) {
		k = h->body_len - h->body_off < n ? h->body_len - h->body_off : n;
		memcpy(dst, h->body + h->body_off, k);
		h->body_off += k;
		return k;
	}
	k = body_avail(c) < n ? body_avail(c) : n;
	memcpy(dst, c->bq.p + c->boff, k);
	c->boff += k;
	if (c->bpaused && body_avail(c) <= BODY_LOW)
		body_resume(c);
	return k;
}

int hreq_body_state(const struct hreq *h)
{
	const struct conn *c = h->conn;
	if (!c->bstream)
		return h->body_off < h->body_len ? HREQ_BODY_MORE : HREQ_BODY_END;
	if (body_avail(c))
		return HREQ_BODY_MORE;
	if (c->bleft == 0)
		return HREQ_BODY_END;
	return c->state == C_CLOSED ? HREQ_GONE : HREQ_BODY_WAIT;
}

int hreq_body_wait(struct hreq *h, struct coro *co)
{
	struct conn *c = h->conn;
	if (!c->bstream || c->bleft == 0 || c->state == C_CLOSED)
		return hreq_body_state(h);
	if (c->bwaiter && c->bwaiter != co)
		return HREQ_INVALID;
	c->bwaiter = co;
	c->bwaiter_proc = h->proc;
	if (c->ball && h->deadline && !wheel_is_active(&h->bt)) {
		wheel_timer_init(&h->bt, body_timeout_fire);
		proc_timer_add(h->proc, &h->bt, h->deadline);
	}
	return HREQ_BODY_WAIT;
}

void hreq_set_timeout(struct hreq *h, uint64_t ms) { h->timeout_ms = ms; }

uint64_t hreq_timeout(const struct hreq *h) { return h->timeout_ms; }

int hreq_body_timed_out(struct hreq *h)
{
	int t = h->timed_out;
	h->timed_out = 0;
	if (t)
		h->deadline = 0;
	return t;
}

int hreq_body_all(struct hreq *h)
{
	struct conn *c = h->conn;
	if (!c->bstream)
		return HREQ_BODY_END;
	c->ball = 1;
	body_resume(c);
	if (c->bleft == 0) {
		h->deadline = 0;
		return HREQ_BODY_END;
	}
	if (h->timeout_ms && h->deadline == 0)
		h->deadline = shard_now_ms(shard_self()) + h->timeout_ms;
	return c->state == C_CLOSED ? HREQ_GONE : HREQ_BODY_WAIT;
}

const char *hreq_body_rest(const struct hreq *h, size_t *len)
{
	const struct conn *c = h->conn;
	if (!c->bstream) {
		*len = h->body_len - h->body_off;
		return h->body + h->body_off;
	}
	*len = body_avail(c);
	return c->bq.p ? c->bq.p + c->boff : "";
}
