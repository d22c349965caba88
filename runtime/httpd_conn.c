/*
** runtime/httpd_conn.c: one HTTP connection, on the shard that accepted it.
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
** Static files (httpd__serve_static): runtime/hstatic.c decides the
** answer; the bytes of a file go out in FILE_CHUNK pieces read through
** the ring, one piece in memory at a time.
**
** TLS (a service with `tls`): the stream's callbacks go through
** runtime/htls.c (tls_cb), which hands conn_cb the plaintext, as copies,
** and encrypts what httpd__conn_send sends; the rest of the server does
** not know.
*/
#include "httpd_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hmw.h"
#include "hstatic.h"
#include "htls.h"
#include "log.h"
#include "rstats.h"

const struct http1_field httpd__text_plain = TEXT_PLAIN;

static void conn_process(struct conn *c);

/* {==== Connections ====} */

void httpd__conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	if (wheel_is_active(&c->timer))
		shard_timer_cancel(&c->timer);
	httpd__conn_free(c);
}

/* Unlink and free a connection (its stream closed, nobody holds it). */
void httpd__conn_free(struct conn *c)
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

void httpd__conn_arm(struct conn *c, uint64_t ms)
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
int httpd__conn_pushes(const struct conn *c)
{
	return c->tls != NULL || net_bufs_ready();
}

/* Keep a receive armed (engine/net.c picks the shard's provided buffers,
** or a plain receive into the connection buffer: see conn_alloc). */
void httpd__conn_recv(struct conn *c)
{
	if (c->state == C_CLOSED)
		return;
	if (c->eof) { /* nothing more will come: a partial request never ends */
		httpd__conn_close(c);
		return;
	}
	if ((c->tls ? htls_recv(c->tls) : net_stream_recv(&c->st)) < 0)
		httpd__conn_close(c);
}

void httpd__conn_send(struct conn *c)
{
	if ((c->tls ? htls_send(c->tls, c->out.p, c->out.len)
		    : net_stream_send(&c->st, c->out.p, c->out.len)) < 0)
		httpd__conn_close(c);
}

void httpd__conn_close(struct conn *c)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	if (wheel_is_active(&c->timer))
		shard_timer_cancel(&c->timer);
	httpd__stream_wake(c);
	httpd__body_wake(c);
	/* The stream's reference goes in on_close, after its last completion. */
	if (c->tls)
		htls_close(c->tls);
	else
		net_stream_close(&c->st);
}

/* The Date field of this thread's responses (RFC 9110 6.6.1: an origin
** server with a clock sends one), formatted once a second. */
static __thread struct { time_t sec; char text[32]; size_t len; } date_cache;

struct http1_field httpd__date(void)
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
void httpd__conn_write(struct conn *c, int status, const struct http1_field *f,
		       size_t nf, const char *body, size_t blen, int head_only)
{
	char head[8192];
	struct http1_field all[NHDRS + 2];
	if (c->bstream && c->bleft > BODY_DRAIN)
		c->keep_alive = 0; /* too much of the body is unread: close */
	int keep = c->keep_alive ? (c->req.minor_version == 0 ? HTTP1_KEEP_EXPLICIT : HTTP1_KEEP)
				 : HTTP1_CLOSE;
	if (nf <= NHDRS && !has_field(f, nf, "Date", 4)) {
		all[0] = httpd__date();
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
		struct http1_field d = httpd__date();
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
	httpd__conn_arm(c, c->svc->write_ms);
	httpd__conn_send(c);
}

/* An error found by the server itself: status, short text body, close. */
void httpd__conn_error(struct conn *c, int status, const char *text)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%s\n", text);
	c->keep_alive = 0;
	httpd__conn_write(c, status, &httpd__text_plain, 1, body, (size_t)n, 0);
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
		httpd__conn_close(c); /* zlib failed: cannot happen short of memory */
		return;
	}
	int n = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", zl);
	c->out.len = c->gz_head - 2;  /* drop the blank line */
	hbuf_add(&c->out, cl, (size_t)n);
	hbuf_add(&c->out, z, zl);
	free(z);
	httpd__conn_send(c);
}

/* A piece of the file arrived in out (after what out held). A connection
** closed meanwhile was kept for this completion (its reference). */
static void file_read_done(struct engine_io *io, int res, uint32_t flags)
{
	struct conn *c = container_of(io, struct conn, fio);
	(void)flags;
	if (c->state == C_CLOSED) {
		file_end(c);
		httpd__conn_unref(c);
		return;
	}
	if (res <= 0) {
		/* A read error, or the file shrank under us: the length is
		** already promised, so the body can only be cut short. */
		log_printf(LOG_LEVEL_DEBUG, NULL, "http: static file read: %s",
			   res < 0 ? strerror(-res) : "file shrank");
		file_end(c);
		httpd__conn_close(c);
		httpd__conn_unref(c);
		return;
	}
	c->out.len += (size_t)res;
	c->file_off += (uint64_t)res;
	c->file_left -= (uint64_t)res;
	httpd__conn_unref(c); /* the stream's reference holds it still */
	if (c->file_gz) {
		if (c->file_left)
			file_next(c);
		else
			gz_finish(c);
		return;
	}
	httpd__conn_send(c);
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
		httpd__conn_close(c);
	}
}

/* httpd__conn_sent of a file piece: 1 while more of the file is to come. */
static int file_sent(struct conn *c)
{
	if (c->file_left == 0) {
		file_end(c);
		return 0;
	}
	c->out.len = 0;
	httpd__conn_arm(c, c->svc->write_ms);
	file_next(c);
	return 1;
}

/* A request header by name, for hmw and hstatic. */
const char *httpd__conn_header(void *ud, const char *name, size_t nl, size_t *vl)
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
size_t httpd__pair_fields(const char *p, size_t len, struct http1_field *f, size_t nf,
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
void httpd__mw_init(struct hmw_req *r, struct conn *c)
{
	memset(r, 0, sizeof(*r));
	r->method = c->buf + c->req.method_off;
	r->method_len = c->req.method_len;
	r->query = c->buf + c->req.query_off;
	r->query_len = c->req.query_len;
	r->header = httpd__conn_header;
	r->ud = c;
	memcpy(r->remote, c->remote, sizeof(r->remote));
}

/* The middleware answered (preflight 204, 429, 400) or, with status, the
** server answers after it with the headers it added. */
void httpd__mw_answer(struct conn *c, struct hmw_req *r, int status, const char *body)
{
	struct http1_field f[NHDRS];
	size_t nf = 0, bl = strlen(body);
	if (bl)
		f[nf++] = httpd__text_plain;
	nf = httpd__pair_fields(r->add.p, r->add.len, f, nf, NHDRS);
	httpd__conn_write(c, status, f, nf, body, bl, c->req.method == HTTP1_HEAD);
	hmw_hdrs_free(&r->add);
}

/* Answer from the mount m: a short reply at once, a file as its head and
** then its range in pieces. */
void httpd__serve_static(struct conn *c, const struct hstatic *m)
{
	const struct http1_request *q = &c->req;
	struct hstatic_reply r;
	struct hmw_req mw;
	struct http1_field f[NHDRS];
	char head[8192];
	size_t nf;
	int head_only = q->method == HTTP1_HEAD;

	httpd__mw_init(&mw, c);
	if (hmw_run(hstatic_chain(m), &mw)) {
		httpd__mw_answer(c, &mw, mw.answer, mw.body);
		return;
	}
	hstatic_serve(m, c->buf + q->method_off, q->method_len, c->buf + q->path_off,
		      q->path_len, httpd__conn_header, c, &r);
	f[0] = httpd__date();
	memcpy(f + 1, r.f, r.nf * sizeof(*f));
	nf = httpd__pair_fields(mw.add.p, mw.add.len, f, r.nf + 1, NHDRS);
	/* compress on a whole file of a compressible type: gathered, gzip'd
	** and sent with a weak ETag (the bytes differ from the file's). */
	char wtag[96];
	int gz = 0;
	if (r.fd >= 0 && r.status == 200 && !head_only && r.len <= GZ_FILE_MAX && mw.compress) {
		size_t al = 0;
		const char *ae = httpd__conn_header(c, "Accept-Encoding", 15, &al);
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
		httpd__conn_write(c, r.status, f, nf, r.body, r.blen, head_only);
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
		httpd__conn_error(c, 500, "invalid response header");
		return;
	}
	c->out.len = 0;
	hbuf_add(&c->out, head, (size_t)n);
	c->state = C_WRITING;
	httpd__conn_arm(c, c->svc->write_ms);
	if (head_only || r.len == 0) {
		close(r.fd);
		httpd__conn_send(c);
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
void httpd__conn_sent(struct net_stream *st, int res)
{
	struct conn *c = container_of(st, struct conn, st);
	if (res < 0) {
		httpd__conn_close(c);
		return;
	}
	if (c->file_fd >= 0 && file_sent(c))
		return; /* the next piece of the file is being read */
	if (c->streaming && httpd__stream_sent(c))
		return; /* more of the stream to send, or to come */
	if (!c->keep_alive || (c->bstream && c->bleft > BODY_DRAIN)) {
		httpd__conn_close(c);
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
	httpd__body_reset(c);
	c->state = C_HEAD;
	if (c->len) {
		httpd__conn_arm(c, c->svc->read_ms);
		conn_process(c);
	} else if (c->eof) {
		httpd__conn_close(c);
	} else {
		if (httpd__conn_pushes(c)) {
			free(c->buf);
			c->buf = NULL;
			c->cap = 0;
		}
		httpd__conn_arm(c, c->svc->idle_ms);
		httpd__conn_recv(c);
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
			httpd__conn_close(c); /* a stream's reader left, a body cut short */
		else if (c->state == C_HEAD || c->state == C_BODY)
			conn_process(c);
		goto out;
	}
	if (res < 0) {
		httpd__conn_close(c);
		goto out;
	}
	if (c->state == C_HEAD && c->len == 0)
		httpd__conn_arm(c, c->svc->read_ms); /* a request has started */
	if (c->state == C_HANDLING || c->state == C_WRITING) {
		size_t k = httpd__body_feed(c, data, (size_t)res);
		hbuf_add(&c->pend, data + k, (size_t)res - k);
	} else if (c->bdrain) {
		/* The unread rest of the last body goes before the next head. */
		size_t k = httpd__body_feed(c, data, (size_t)res);
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
		httpd__conn_error(c, 413, "too much data");
		goto out;
	}
	if (c->state == C_HEAD || c->state == C_BODY)
		conn_process(c);
	else if (c->state != C_CLOSED && (httpd__conn_pushes(c) || (c->bstream && c->bleft)))
		httpd__conn_recv(c);
out:
	if (c->state != C_CLOSED && c->state != C_HANDLING &&
	    c->state != C_WRITING)
		httpd__conn_recv(c);
}

/* The stream closed after its last completion: drop its reference. */
static void on_close(struct net_stream *st)
{
	httpd__conn_unref(container_of(st, struct conn, st));
}

static const struct net_stream_cb conn_cb = {
	conn_alloc, on_read, httpd__conn_sent, on_close,
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
			httpd__conn_close(c);
			break;
		}
		/* fall through */
	case C_BODY:
		httpd__conn_error(c, 408, "request timeout");
		break;
	default:
		httpd__conn_close(c);
	}
}

static void conn_process(struct conn *c)
{
	ssize_t r;
	if (c->state == C_HEAD) {
		r = http1_parse(&c->req, c->buf, c->len);
		if (r == HTTP1_NEED_MORE) {
			httpd__conn_recv(c); /* no-op while the multishot receive runs */
			return;
		}
		if (r < 0) {
			httpd__conn_error(c, http1_error_status(r), http1_error_reason(r));
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
				httpd__body_start(c);
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
			httpd__conn_recv(c);
			return;
		}
		if (r < 0) {
			httpd__conn_error(c, http1_error_status(r), http1_error_reason(r));
			return;
		}
		c->req_total = (size_t)r;
		httpd__dispatch(c);
	}
}

void httpd__conn_new(struct svc *s, int fd)
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
	httpd__conn_arm(c, s->idle_ms);
	httpd__conn_recv(c);
	/* The stream's reference keeps the connection alive even with nothing
	** in flight, until httpd__conn_close (a handler holds its own). */
}
