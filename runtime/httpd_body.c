/*
** runtime/httpd_body.c: a request body read while it arrives, and the
** hreq_body_* functions the handler library reads any body with.
*/
#include "httpd_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
** keep-alive never reads body bytes as a request. Smaller bodies, and
** chunked ones, are read whole first. */

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
void httpd__body_wake(struct conn *c)
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
void httpd__body_detach(struct conn *c, struct proc *p)
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
		httpd__conn_arm(c, c->bleft && !c->bpaused ? c->svc->read_ms : 0);
}

/* Take the body's share of data[0, n) onto the queue; returns how much
** was the body's (the rest is the next request's). */
size_t httpd__body_feed(struct conn *c, const char *data, size_t n)
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
	httpd__body_wake(c);
	return k;
}

static void body_resume(struct conn *c)
{
	if (!c->bpaused)
		return;
	c->bpaused = 0;
	if (c->state != C_CLOSED && net_stream_resume(&c->st) < 0)
		httpd__conn_close(c);
	body_timer(c);
}

/* The next request: forget the body (a large queue goes); an unread rest
** (at most BODY_DRAIN, or the connection closed) is drained first. */
void httpd__body_reset(struct conn *c)
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

void httpd__dispatch(struct conn *c);

/* The head is in, the body is not: run the handler now. */
void httpd__body_start(struct conn *c)
{
	size_t have = c->len - c->req.head_len;
	c->bstream = 1;
	c->bleft = c->req.content_length - have;
	c->bq.len = c->boff = 0;
	hbuf_add(&c->bq, c->buf + c->req.head_len, have);
	c->len = c->req.head_len;
	c->req_total = c->req.head_len;
	httpd__dispatch(c);
	body_timer(c);
	if (c->state != C_CLOSED)
		httpd__conn_recv(c);
}

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
