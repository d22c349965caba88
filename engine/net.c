/*
** engine/net.c: listeners, streams and one-shot reads over the ring API.
**
** Owns: the listening socket's multishot accept (and its re-arm after a
** failed accept, paced by the shard's wheel), each shard's provided
** receive buffers, and a stream's receive/send/close life. It may not know
** any protocol (HTTP lives above, in runtime/httpd.c) and never includes
** liburing.h: it calls ring_* (engine/ring.h) with user_data built by
** engine/ud.h, and every completion comes back through the shard's one
** switch as a UD_IO engine_io.
**
** Lifetime invariant: `_inflight` counts the completions still to come for
** a stream, including the one whose callback is running (it is released
** only after the callback returns). A stream is finished, its fd closed
** and on_close called, only when it is closing and `_inflight` is zero, so
** neither a CQE nor a callback ever sees a freed stream (STYLE habit 6).
**
** Thread affinity: everything runs on the owning shard's thread; the
** provided-buffer state is per thread, i.e. per shard.
*/
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "ring.h"
#include "ud.h"

#define BGID 1

/* The calling shard's buffer group. `ring` tells which ring it was
** registered on, so a thread that somehow outlived its shard's ring can
** never use stale buffers. */
static __thread struct {
	struct ring *ring;
	char *base;
	int rc;
} bufs;

static struct ring *my_ring(void) { return shard_ring(shard_self()); }

/* {==== Listening sockets ====} */

int net_listen_socket(const struct sockaddr *sa, socklen_t salen, int backlog)
{
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, sa, salen) < 0 || listen(fd, backlog) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int net_bind_probe(const struct sockaddr *sa, socklen_t salen)
{
	int one = 1, rc = 0;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* cannot probe: let the real bind report */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, salen) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Arm the multishot accept now. 0, or a negative errno (no SQE). */
static int arm(struct net_listener *l)
{
	int rc = ring_accept_multishot(my_ring(), ud_make(UD_IO, &l->_io), l->fd);
	if (rc == 0)
		l->_armed = 1;
	return rc;
}

/* Arm again after the current pause, and double the pause. */
static void arm_later(struct net_listener *l)
{
	unsigned ms = l->_retry_ms;
	shard_timer_add(&l->_retry, shard_now_ms(shard_self()) + ms);
	l->_retry_ms = ms * 2 > NET_ACCEPT_RETRY_MAX_MS ? NET_ACCEPT_RETRY_MAX_MS : ms * 2;
}

static void on_retry(struct wheel_timer *t)
{
	struct net_listener *l = container_of(t, struct net_listener, _retry);
	if (l->_stopped || l->_armed)
		return;
	if (arm(l) < 0)
		arm_later(l);
}

static void on_accept(struct engine_io *io, int res, uint32_t flags)
{
	struct net_listener *l = container_of(io, struct net_listener, _io);
	if (res >= 0) {
		l->_retry_ms = NET_ACCEPT_RETRY_MIN_MS;
		if (l->_stopped)
			close(res);
		else
			l->on_accept(l, res);
	} else if (!l->_stopped) {
		l->_failures++;
	}
	if (flags & RING_F_MORE)
		return;
	/* The multishot ended: stopped (EBADF/EINVAL after shutdown), the
	** CQ overflowed after a success, or an error such as EMFILE. A full
	** descriptor table is transient, but only time empties it: arming
	** again at once would fail at once, forever, on a busy shard. */
	l->_armed = 0;
	if (l->_stopped || res == -EBADF)
		return;
	if (res < 0 || arm(l) < 0)
		arm_later(l);
}

void net_listener_init(struct net_listener *l, int fd, net_accept_cb cb)
{
	l->fd = fd;
	l->on_accept = cb;
	l->_io.done = on_accept;
	l->_armed = l->_stopped = 0;
	l->_retry_ms = NET_ACCEPT_RETRY_MIN_MS;
	l->_failures = 0;
	wheel_timer_init(&l->_retry, on_retry);
}

int net_listener_start(struct net_listener *l)
{
	return arm(l);
}

void net_listener_stop(struct net_listener *l)
{
	l->_stopped = 1;
	if (wheel_is_active(&l->_retry))
		shard_timer_cancel(&l->_retry);
	/* Wakes the multishot accept with an error; no new connections. */
	shutdown(l->fd, SHUT_RDWR);
}

void net_listener_close(struct net_listener *l)
{
	if (l->fd > 0)
		close(l->fd);
	l->fd = -1;
}

void net_refuse(int fd, const void *msg, size_t len)
{
	char sink[4096];
	/* Bounded, so a peer that keeps sending cannot hold the shard here;
	** past it the close may reset the connection, which such a peer
	** earned. */
	for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	(void)send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* {==== Provided receive buffers ====} */

int net_bufs_setup(void)
{
	struct ring *r = my_ring();
	if (bufs.ring == r)
		return bufs.rc;
	bufs.ring = r;
	bufs.base = NULL;
	bufs.rc = ring_buf_setup(r, BGID, NET_NBUFS, NET_BUFSZ, &bufs.base);
	return bufs.rc;
}

int net_bufs_ready(void)
{
	return bufs.ring != NULL && bufs.ring == my_ring() && bufs.rc == 0;
}

/* {==== Streams ====} */

/* The stream is closing and nothing is in flight: close the fd, tell the
** owner. The owner may free s in on_close, so s is not touched after. */
static void maybe_finish(struct net_stream *s)
{
	if (!s->_closing || s->_inflight > 0 || s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	s->cb->on_close(s);
}

/* A plain receive into the owner's memory. 0 when armed or when the owner
** has no room now, a negative errno when no SQE could be had. */
static int recv_direct(struct net_stream *s)
{
	size_t cap = 0;
	char *p = s->cb->alloc(s, &cap);
	int rc;
	if (p == NULL || cap == 0)
		return 0;
	rc = ring_recv(my_ring(), ud_make(UD_IO, &s->_rio), s->fd, p, cap, 0);
	if (rc < 0)
		return rc;
	s->_dst = p;
	s->_armed = s->_direct = 1;
	s->_inflight++;
	return 0;
}

static void on_recv(struct engine_io *io, int res, uint32_t flags)
{
	struct net_stream *s = container_of(io, struct net_stream, _rio);
	int more = (flags & RING_F_MORE) != 0, in_place = s->_direct;
	unsigned bid = 0, rearm = 0;
	const char *data = in_place ? s->_dst : NULL;

	int cancelled = !more && (s->_paused & 2);
	if (!more)
		s->_armed = s->_direct = 0;
	if (cancelled) /* the multishot net_stream_pause cancelled has ended */
		s->_paused &= ~2;
	if (flags & RING_F_BUFFER) {
		bid = flags >> RING_BUF_SHIFT;
		data = bufs.base + (size_t)bid * NET_BUFSZ;
		in_place = 0;
	}
	if (s->_closing) {
		/* Nothing is delivered after close. */
	} else if (res == -ECANCELED && cancelled) {
		/* net_stream_pause ended the multishot: not an error; resumed
		** meanwhile, it is armed again below. */
		rearm = s->_paused == 0;
	} else if (res == -ENOBUFS) {
		/* The shard's buffers are all in use: read this stream into
		** its owner's memory once, then go back to the shared ones. */
		if (!s->_armed && !s->_paused && recv_direct(s) < 0)
			s->cb->on_read(s, -EBUSY, NULL, 0);
	} else {
		s->cb->on_read(s, res, data, in_place);
	}
	if (flags & RING_F_BUFFER)
		ring_buf_recycle(my_ring(), BGID, bid);
	if (!more)
		s->_inflight--;
	if (rearm && !s->_closing && net_stream_recv(s) < 0)
		s->cb->on_read(s, -EBUSY, NULL, 0);
	maybe_finish(s);
}

static int send_rest(struct net_stream *s)
{
	int rc = ring_send(my_ring(), ud_make(UD_IO, &s->_wio), s->fd,
			   s->_tx + s->_tx_done, s->_tx_len - s->_tx_done, MSG_NOSIGNAL);
	if (rc == 0)
		s->_inflight++;
	return rc;
}

static void on_send(struct engine_io *io, int res, uint32_t flags)
{
	struct net_stream *s = container_of(io, struct net_stream, _wio);
	(void)flags;
	if (!s->_closing) {
		if (res > 0)
			s->_tx_done += (size_t)res;
		if (res <= 0)
			s->cb->on_sent(s, res < 0 ? res : -EPIPE);
		else if (s->_tx_done < s->_tx_len) {
			int rc = send_rest(s);
			if (rc < 0)
				s->cb->on_sent(s, rc);
		} else
			s->cb->on_sent(s, 0);
	}
	s->_inflight--;
	maybe_finish(s);
}

void net_stream_init(struct net_stream *s, int fd, const struct net_stream_cb *cb)
{
	int one = 1;
	s->cb = cb;
	s->fd = fd;
	s->_rio.done = on_recv;
	s->_wio.done = on_send;
	s->_inflight = s->_armed = s->_direct = s->_closing = s->_paused = 0;
	s->_dst = NULL;
	s->_tx = NULL;
	s->_tx_len = s->_tx_done = 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int net_stream_recv(struct net_stream *s)
{
	int rc;
	if (s->_armed || s->_closing || s->_paused)
		return 0;
	if (!net_bufs_ready())
		return recv_direct(s);
	rc = ring_recv_multishot(my_ring(), ud_make(UD_IO, &s->_rio), s->fd, BGID);
	if (rc < 0)
		return rc;
	s->_armed = 1;
	s->_inflight++;
	return 0;
}

void net_stream_pause(struct net_stream *s)
{
	if ((s->_paused & 1) || s->_closing)
		return;
	s->_paused |= 1;
	/* A plain receive takes at most its buffer: let it complete. */
	if (s->_armed && !s->_direct && !(s->_paused & 2) &&
	    ring_cancel(my_ring(), ud_make_int(UD_NONE, 0), ud_make(UD_IO, &s->_rio)) == 0)
		s->_paused |= 2;
}

int net_stream_resume(struct net_stream *s)
{
	s->_paused &= ~1;
	return s->_paused ? 0 : net_stream_recv(s); /* else when the cancel lands */
}

int net_stream_recv_in_place(const struct net_stream *s)
{
	return s->_armed && s->_direct;
}

int net_stream_send(struct net_stream *s, const void *buf, size_t len)
{
	if (s->_closing)
		return -EPIPE;
	s->_tx = buf;
	s->_tx_len = len;
	s->_tx_done = 0;
	return send_rest(s);
}

ssize_t net_stream_try_send(struct net_stream *s, const void *buf, size_t len)
{
	ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return w < 0 ? -errno : w;
}

void net_stream_peer(const struct net_stream *s, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (cap)
		buf[0] = '\0';
	if (getpeername(s->fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
	}
}

void net_stream_close(struct net_stream *s)
{
	if (s->_closing)
		return;
	s->_closing = 1;
	/* Wakes a pending receive (it completes with 0) and fails a pending
	** send; the fd itself is closed once nothing is in flight. */
	shutdown(s->fd, SHUT_RDWR);
	maybe_finish(s);
}

void net_stream_drop(struct net_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->_closing = 1;
}

/* {==== Other descriptors ====} */

int net_read(struct engine_io *io, int fd, void *buf, unsigned len)
{
	/* offset -1: read at the file position (pipes, terminals). */
	return ring_read(my_ring(), ud_make(UD_IO, io), fd, buf, len, (uint64_t)-1);
}

int net_pread(struct engine_io *io, int fd, void *buf, unsigned len, uint64_t off)
{
	return ring_read(my_ring(), ud_make(UD_IO, io), fd, buf, len, off);
}

int net_parse_addr(const char *addr, struct sockaddr_in *sa)
{
	const char *colon = strrchr(addr, ':');
	char host[64], *end = NULL;
	long port = -1;
	size_t hl;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (colon != NULL && colon[1] >= '0' && colon[1] <= '9')
		port = strtol(colon + 1, &end, 10);
	if (port < 0 || *end != '\0' || port > 65535)
		return -EINVAL;
	sa->sin_port = htons((uint16_t)port);
	hl = (size_t)(colon - addr);
	if (hl == 0) {
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (hl >= sizeof(host))
		return -EAFNOSUPPORT;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EAFNOSUPPORT;
}

/* {==== Watches ====}
**
** At most one poll is in flight per watch. A change of the wanted events
** removes it; its -ECANCELED completion arms the new set. The removal's
** own completion goes to UD_NONE, so only the poll refers to w. */

static int watch_arm(struct net_watch *w)
{
	int rc = ring_poll(my_ring(), ud_make(UD_IO, &w->_io), w->fd, w->_want);
	if (rc == 0)
		w->_armed = w->_want;
	return rc;
}

static void watch_done(struct engine_io *io, int res, uint32_t flags)
{
	struct net_watch *w = container_of(io, struct net_watch, _io);
	(void)flags;
	w->_armed = 0;
	w->_removing = 0;
	if (w->_stopped) {
		if (w->on_stopped != NULL)
			w->on_stopped(w);
		return;
	}
	if (res != -ECANCELED) {
		if (res < 0)
			w->_want = 0;
		w->_in_ready = 1;
		w->on_ready(w, res);
		w->_in_ready = 0;
		if (w->_stopped) {
			if (w->_armed == 0 && w->on_stopped != NULL)
				w->on_stopped(w);
			return;
		}
	}
	if (w->_want != 0 && w->_armed == 0)
		(void)watch_arm(w);
}

void net_watch_init(struct net_watch *w, int fd, net_watch_cb on_ready)
{
	memset(w, 0, sizeof *w);
	w->_io.done = watch_done;
	w->fd = fd;
	w->on_ready = on_ready;
}

int net_watch_want(struct net_watch *w, unsigned events)
{
	w->_want = events;
	if (w->_stopped)
		return 0;
	if (w->_armed == 0)
		return events != 0 ? watch_arm(w) : 0;
	if (w->_armed == events || w->_removing)
		return 0;
	int rc = ring_poll_remove(my_ring(), ud_make_int(UD_NONE, 0),
				  ud_make(UD_IO, &w->_io));
	if (rc == 0)
		w->_removing = 1;
	return rc;
}

void net_watch_stop(struct net_watch *w)
{
	if (w->_stopped)
		return;
	w->_stopped = 1;
	w->_want = 0;
	if (w->_armed == 0) {
		/* From inside on_ready, watch_done ends the watch after it. */
		if (w->on_stopped != NULL && !w->_in_ready)
			w->on_stopped(w);
		return;
	}
	if (!w->_removing && ring_poll_remove(my_ring(), ud_make_int(UD_NONE, 0),
					       ud_make(UD_IO, &w->_io)) == 0)
		w->_removing = 1;
}
