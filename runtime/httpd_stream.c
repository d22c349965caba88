/*
** runtime/httpd_stream.c: a response the handler streams (hreq_flush).
*/
#include "httpd_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* {==== Streamed responses ====}
**
** The first hreq_flush sends the head: no Content-Length, chunked for
** HTTP/1.1 (keep-alive survives), or for HTTP/1.0 a body that ends with
** the connection. Each flush after frames what was written as one chunk
** and queues it on the connection's spool behind the piece being sent;
** httpd__conn_sent swaps the spool in. A handler that flushes faster than the
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
void httpd__stream_wake(struct conn *c)
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
	httpd__conn_arm(c, c->svc->write_ms);
	httpd__conn_send(c);
}

/* httpd__conn_sent while streaming. Returns 1 when the stream goes on (more to
** send, or the handler still runs), 0 when it ended and the connection
** continues as after any response. */
int httpd__stream_sent(struct conn *c)
{
	c->sending = 0;
	c->out.len = 0;
	if (stream_queued(c) <= STREAM_LOW)
		httpd__stream_wake(c);
	if (c->spool.len) {
		stream_kick(c);
		return 1;
	}
	if (!c->stream_end) {
		httpd__conn_arm(c, 0); /* idle until the next flush */
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

/* The head of a streamed response, onto the spool. */
static int stream_start(struct conn *c, struct hreq *h)
{
	char head[8192];
	struct http1_field f[66];
	size_t nf = 1;
	int keep;

	f[0] = httpd__date();
	nf += httpd__req_fields(h, f + 1, 64);
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
	if (httpd__conn_pushes(c))
		httpd__conn_recv(c);
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
void httpd__stream_finish(struct hreq *h, int ok)
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
		stream_kick(c); /* httpd__conn_sent ends the stream after the last piece */
	else if (c->state != C_CLOSED)
		httpd__conn_sent(&c->st, 0); /* nothing left: as after the last piece */
	httpd__conn_unref(c);
}
