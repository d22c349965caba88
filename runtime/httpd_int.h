/*
** runtime/httpd_int.h: what the HTTP server's own files share and nobody
** else may use (as runtime/reg_int.h is to the registry's files).
**
** The server is one module in several files, each owning one noun:
**
**   httpd.c         the services: listeners, the connection cap, route
**                   tables and their swap, routing (httpd__dispatch),
**                   boot, stop and free (the httpd_* of runtime/httpd.h)
**   httpd_conn.c    a connection (httpd__conn_*): its buffer, receives,
**                   sends, timers, the parse of a request, the server's
**                   own answers, static files sent in pieces
**   httpd_body.c    a request body read while it arrives (httpd__body_*,
**                   hreq_body_*): the bounded queue, its readers, the
**                   whole-body deadline
**   httpd_stream.c  a streamed response (httpd__stream_*, hreq_flush):
**                   the spool, chunked framing, the writer's wait
**   httpd_call.c    a handler's call (httpd__call_*, httpd__pool_get):
**                   pooled states, the firewall gate, the end of a call
**   httpd_req.c     struct hreq as the handler library reads and writes
**                   it (the hreq_* accessors), compress, the metrics
**                   middleware
**
** Everything runs on the shard that accepted the connection (no locks);
** the one shared field is svc->tab (httpd__tab). Everything declared
** here is HIDDEN: it links between these files only.
*/
#ifndef RUNTIME_HTTPD_INT_H
#define RUNTIME_HTTPD_INT_H

#include <lua.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/common.h"
#include "engine/http1.h"
#include "engine/net.h"
#include "engine/shard.h"
#include "hmw.h"
#include "httpd.h"
#include "proc.h"
#include "route.h"
#include "rt.h"

struct hstatic;
struct htls;
struct htls_ctx;
struct rt;

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
	int64_t n;                   /* open: httpd__conn_new to httpd__conn_free */
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
	struct pext wake;    /* httpd__stream_wake -> wake_deliver, in its step */
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

/* {==== Shared helpers ====} */

static inline void hbuf_add(struct hbuf *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* The pool of route r on shard `shard` (one per shard, r->pools). */
static inline struct pool *httpd__pool(struct svc *s, int shard, const struct route *r)
{
	(void)s;
	return &((struct pool *)r->pools)[shard];
}

/* The service's current route table (acquire: see httpd_apply). */
static inline struct rtab *httpd__tab(struct svc *s)
{
	return atomic_load_explicit(&s->tab, memory_order_acquire);
}

/* {==== httpd.c ====} */

/* Route the complete request in c->buf and answer it: the metrics
** scrape, a route's call, a preflight, a static mount, 405 or 404. */
HIDDEN void httpd__dispatch(struct conn *c);

/* {==== httpd_conn.c: a connection ====} */

/* The Content-Type of the server's own answers. */
HIDDEN extern const struct http1_field httpd__text_plain;

/* Open a connection on the accepted fd, on this shard. */
HIDDEN void httpd__conn_new(struct svc *s, int fd);

/* Start closing c (idempotent): timers off, waiters woken; the memory
** goes when the stream has closed and nobody holds c. */
HIDDEN void httpd__conn_close(struct conn *c);

/* Drop one hold (the stream's, a handler's, a file read's); the last
** frees c. */
HIDDEN void httpd__conn_unref(struct conn *c);

/* Unlink and free c now (its stream closed, or the engine is gone). */
HIDDEN void httpd__conn_free(struct conn *c);

/* Arm c's one timer ms from now; 0 disarms it. */
HIDDEN void httpd__conn_arm(struct conn *c, uint64_t ms);

/* Keep a receive armed (or close c: a half-closed peer, a failed arm). */
HIDDEN void httpd__conn_recv(struct conn *c);

/* Send c->out (plain or through TLS); a failed send closes c. */
HIDDEN void httpd__conn_send(struct conn *c);

/* on_sent of the stream: the next piece of a file or a stream, or the
** next request on a kept-alive connection. res < 0 closes c. */
HIDDEN void httpd__conn_sent(struct net_stream *st, int res);

/* Whether c's receives hand over copies and stay armed in every state
** (provided buffers, or TLS), so c->buf may go while c is idle. */
HIDDEN int httpd__conn_pushes(const struct conn *c);

/* Queue a whole response (head, then body unless head_only) and send it;
** a Date field goes first unless f has one. A head that does not render
** goes out as a 500 instead. */
HIDDEN void httpd__conn_write(struct conn *c, int status, const struct http1_field *f,
			      size_t nf, const char *body, size_t blen, int head_only);

/* The server's own error: status, text as a plain body, then close. */
HIDDEN void httpd__conn_error(struct conn *c, int status, const char *text);

/* The Date field, formatted once a second per thread. */
HIDDEN struct http1_field httpd__date(void);

/* A request header of the connection ud by name (the hmw and hstatic
** lookup); NULL when absent. */
HIDDEN const char *httpd__conn_header(void *ud, const char *name, size_t nl, size_t *vl);

/* "Name\0value\0" pairs as fields after f[0, nf), up to max; returns
** the new count. */
HIDDEN size_t httpd__pair_fields(const char *p, size_t len, struct http1_field *f,
				 size_t nf, size_t max);

/* The request of c as the middleware sees it. */
HIDDEN void httpd__mw_init(struct hmw_req *r, struct conn *c);

/* Answer for the middleware: its status and body, with the headers it
** added (frees r->add). */
HIDDEN void httpd__mw_answer(struct conn *c, struct hmw_req *r, int status, const char *body);

/* Answer from the static mount m. */
HIDDEN void httpd__serve_static(struct conn *c, const struct hstatic *m);

/* {==== httpd_body.c: the body as it arrives ====} */

/* The head is in and the (large) body is not: queue what came, run the
** handler now. */
HIDDEN void httpd__body_start(struct conn *c);

/* Take the body's share of data[0, n) onto the queue; returns how many
** bytes were the body's (the rest is the next request's). */
HIDDEN size_t httpd__body_feed(struct conn *c, const char *data, size_t n);

/* Bytes arrived, the body ended, or the client left: wake the reader. */
HIDDEN void httpd__body_wake(struct conn *c);

/* The call in p ends: no reader waits any more. */
HIDDEN void httpd__body_detach(struct conn *c, struct proc *p);

/* The next request: forget the body; a short unread rest is drained. */
HIDDEN void httpd__body_reset(struct conn *c);

/* {==== httpd_stream.c: a streamed response ====} */

/* The spool drained or the client left: wake a waiting flush. */
HIDDEN void httpd__stream_wake(struct conn *c);

/* on_sent while streaming: 1 while the stream goes on, 0 when it ended
** and c continues as after any response. */
HIDDEN int httpd__stream_sent(struct conn *c);

/* The handler of a streamed response returned (ok) or failed: send the
** rest and the last chunk, or cut the body short; drops the handler's
** hold on the connection. */
HIDDEN void httpd__stream_finish(struct hreq *h, int ok);

/* {==== httpd_call.c: a handler's call ====} */

/* An idle state of route r from this shard's pool, or a new one; NULL
** when none can be made. */
HIDDEN struct proc *httpd__pool_get(struct svc *s, const struct route *r);

/* pext deliver: start h's call in its pooled state. */
HIDDEN void httpd__call_start(lua_State *L, struct pext *x);

/* {==== httpd_req.c: the request and its response ====} */

/* Replace or add a response header (no checks). */
HIDDEN void httpd__req_set_header(struct hreq *h, const char *k, size_t kl, const char *v,
				  size_t vl);

/* h's response headers as fields; returns how many (at most max). */
HIDDEN size_t httpd__req_fields(const struct hreq *h, struct http1_field *f, size_t max);

/* The compress middleware on h's buffered body. */
HIDDEN void httpd__req_compress(struct hreq *h, int status);

/* The metrics middleware's series: in flight (done 0) or answered. */
HIDDEN void httpd__req_count(struct rt *rt, int done, const char *method, size_t ml,
			     const char *route, int status, double secs);

/* A request the middleware answered itself, counted when metrics ran. */
HIDDEN void httpd__req_count_answer(struct conn *c, const struct hmw_req *r,
				    const char *route, int status);

/* Free h, counting its end for the metrics middleware. */
HIDDEN void httpd__req_free(struct hreq *h);

#endif
