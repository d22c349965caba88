/*
** engine/net.h: sockets on the shards' rings: listeners, streams, and a
** one-shot read for descriptors that are not sockets (stdin).
**
** The engine's socket layer, as h2o's socket.c sits between
** picohttpparser and http1.c: it knows descriptors, completions and
** provided buffers, and nothing of HTTP. Every function runs on the shard
** thread that owns the object (the one that started it) unless marked
** otherwise; callbacks run on that thread too. Functions return 0 or a
** negative errno, like cqe->res, and never set errno.
**
** Objects are embedded by their owners (container_of from the callback) and
** their fields starting with `_` are private. A stream is closed
** asynchronously: after net_stream_close() no callback but on_close runs,
** and on_close runs once the last completion that refers to the stream has
** arrived, so the owner may free it from on_close (STYLE habit 5).
*/
#ifndef ENGINE_NET_H
#define ENGINE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "shard.h"

/* {==== Listening sockets ====} */

/* A bound, listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, so that
** every shard can have its own on one address. Any thread. Returns the fd
** or a negative errno. */
int net_listen_socket(const struct sockaddr *sa, socklen_t salen, int backlog);

/* Whether sa can be bound by a plain socket (no SO_REUSEPORT): SO_REUSEPORT
** lets a second runtime of the same user share a port silently, so a probe
** tells "in use" apart first. Any thread. Returns 0 or a negative errno. */
int net_bind_probe(const struct sockaddr *sa, socklen_t salen);

/* Parse a listen address, "host:port" or ":port" (every interface), the
** host being "localhost" or an IPv4 address, the port 0..65535 (0: any).
** Returns 0 and fills sa; -EINVAL when the shape or the port is wrong;
** -EAFNOSUPPORT when the host is not one of those. Pure. */
int net_parse_addr(const char *addr, struct sockaddr_in *sa);

struct net_listener;

/* Called for each accepted connection; the callee owns fd. */
typedef void (*net_accept_cb)(struct net_listener *l, int fd);

/* The first and the longest pause before an accept that failed (EMFILE,
** ENFILE, ENOMEM, ...) is tried again; it doubles in between and is back
** at the first after an accept succeeds. */
#define NET_ACCEPT_RETRY_MIN_MS 10
#define NET_ACCEPT_RETRY_MAX_MS 500

struct net_listener {
	struct engine_io _io;
	int fd;                 /* from net_listen_socket; owned by the listener */
	net_accept_cb on_accept;
	int _armed, _stopped;
	struct wheel_timer _retry;   /* re-arms the accept after a failure */
	unsigned _retry_ms;          /* the next pause */
	unsigned long _failures;     /* accepts that failed, for tests and logs */
};

/* Set l up around the listening socket fd. Any thread. */
void net_listener_init(struct net_listener *l, int fd, net_accept_cb cb);

/* Start accepting on the calling shard (a multishot accept). A multishot
** that ends with a success is re-armed at once; one that ends with an
** error (EMFILE or ENFILE: the descriptor table is full; ENOMEM, ...) is
** re-armed after a pause on the shard's timer wheel, since re-arming at
** once fails again at once and the shard would spin on it (the kernel
** takes a descriptor before it looks at the backlog). Connections wait in
** the backlog meanwhile. Returns 0 or a negative errno. */
int net_listener_start(struct net_listener *l);

/* Stop accepting: connections accepted from now on are closed at once, and
** the accept in flight ends (its socket is shut down); a pending re-arm is
** cancelled. On the listener's shard. The listener's fd stays open until
** net_listener_close(). */
void net_listener_stop(struct net_listener *l);

/* Close the listening socket. Only once nothing can complete any more on
** the shard (the engine has stopped) or the accept has ended. Any thread. */
void net_listener_close(struct net_listener *l);

/* Refuse a connection just accepted, with a last word: what the peer sent
** so far is read and dropped (a close with unread input would reset the
** connection, and the peer could lose msg), msg[0, len) is sent without
** waiting (a short message fits in an empty socket buffer), the sending
** side is shut down and fd closed. For a server past its connection cap:
** it costs no memory and nothing stays in flight. Any thread. */
void net_refuse(int fd, const void *msg, size_t len);

/* {==== Provided receive buffers ====}
**
** Each shard has one group of NET_NBUFS buffers of NET_BUFSZ bytes that the
** kernel fills for multishot receives of all the shard's streams, so an
** idle stream holds no buffer: the kernel picks one only when data arrives
** and the stream's reader copies it out at once. */
#define NET_NBUFS 1024
#define NET_BUFSZ 4096

/* Register the calling shard's buffer group, once; later calls return the
** first call's result. Returns 0, or a negative errno (-EINVAL where the
** kernel has no buffer rings): streams then use plain receives. */
int net_bufs_setup(void);

/* True when the calling shard's buffer group is registered. */
int net_bufs_ready(void);

/* {==== Streams ====} */

struct net_stream;

struct net_stream_cb {
	/* Room for a plain receive (no provided buffers, or the shard's ran
	** dry): return memory for at least one byte and set *cap, or NULL to
	** receive nothing now (the owner calls net_stream_recv again later).
	** The memory must stay valid and in place until on_read. */
	char *(*alloc)(struct net_stream *s, size_t *cap);
	/* res > 0: `data` holds res bytes, either in place at the memory alloc
	** returned (in_place) or in a shard buffer valid only during the call.
	** res == 0: the peer closed its side. res < 0: a negative errno. */
	void (*on_read)(struct net_stream *s, ssize_t res, const char *data,
			int in_place);
	/* The buffer of net_stream_send went out whole (res 0) or could not
	** (negative errno; -EPIPE when the peer took nothing). */
	void (*on_sent)(struct net_stream *s, int res);
	/* After net_stream_close, when nothing is in flight: the fd is
	** closed, the owner may free the stream. */
	void (*on_close)(struct net_stream *s);
};

struct net_stream {
	struct engine_io _rio, _wio;
	const struct net_stream_cb *cb;
	int fd;                 /* -1 once closed */
	int _inflight;          /* completions still to come */
	int _armed, _direct, _closing, _paused;
	char *_dst;             /* where a plain receive writes */
	const char *_tx;        /* what net_stream_send is sending */
	size_t _tx_len, _tx_done;
};

/* Take over the connected socket fd (TCP_NODELAY is set). Any thread; the
** stream belongs to the shard that first calls the functions below. */
void net_stream_init(struct net_stream *s, int fd, const struct net_stream_cb *cb);

/* Keep a receive armed; nothing when one is. A multishot receive from the
** shard's buffers when it has them, otherwise a plain one into alloc's
** memory. Returns 0 or a negative errno. */
int net_stream_recv(struct net_stream *s);

/* Back-pressure: stop receiving until net_stream_resume. A multishot
** receive in flight is cancelled (bytes already on their way are still
** delivered); net_stream_recv arms nothing meanwhile. */
void net_stream_pause(struct net_stream *s);
/* Receive again after net_stream_pause (arms a receive). 0 or -errno. */
int net_stream_resume(struct net_stream *s);

/* True while a plain receive is writing into memory alloc returned. */
int net_stream_recv_in_place(const struct net_stream *s);

/* Send buf[0, len) whole (short sends are continued); on_sent reports the
** end. One send at a time; buf must stay valid until on_sent. Returns 0 or
** a negative errno (then on_sent is not called). */
int net_stream_send(struct net_stream *s, const void *buf, size_t len);

/* A small non-blocking send straight from the caller's thread, for a
** message that must not wait behind the ring (100 Continue). Returns the
** bytes sent or a negative errno. */
ssize_t net_stream_try_send(struct net_stream *s, const void *buf, size_t len);

/* "ip:port" of the peer into buf (empty when it is not IPv4). */
void net_stream_peer(const struct net_stream *s, char *buf, size_t cap);

/* Close: the socket is shut down, which ends the receive in flight; the fd
** is closed and on_close called once the last completion arrived (perhaps
** before this returns when nothing is in flight, but never from within
** another callback of the same stream). Idempotent. */
void net_stream_close(struct net_stream *s);

/* Close the fd now, without callbacks: only when nothing can complete any
** more (the shard's ring is gone). Any thread. */
void net_stream_drop(struct net_stream *s);

/* {==== Other descriptors ====} */

/* One read of fd at its file position (pipes, terminals, files) into
** buf[0, len); io->done runs on the calling shard with the result (bytes,
** 0 at end of file, or a negative errno). buf must stay valid until then.
** Returns 0 or a negative errno (then done is not called). */
int net_read(struct engine_io *io, int fd, void *buf, unsigned len);

/* The same at byte offset off of a file (the file position is neither
** used nor moved), for files served in pieces: a read that needs the disk
** waits in the kernel's workers, never on the shard. Returns 0 or a
** negative errno (then done is not called). */
int net_pread(struct engine_io *io, int fd, void *buf, unsigned len, uint64_t off);

/* {==== Readiness of descriptors owned by someone else ====}
**
** A watch tells its owner when fd becomes readable or writable, for
** libraries that do their own I/O on their own sockets (libcurl's
** multi-socket API, libpq's asynchronous one) and only need to know when
** to call in. It is level-triggered: while the owner wants an event and
** the descriptor is ready for it, on_ready keeps being called, once per
** loop turn at most. The watch never closes fd.
**
** On the shard that started it. on_ready(w, revents) gets the ready mask
** (POLLIN, POLLOUT, POLLERR, POLLHUP from poll.h) or a negative errno when
** the poll itself failed (the watch then wants nothing until told again).
** It may call net_watch_want and net_watch_stop. A readiness that raced
** with a change of the wanted events may still be reported once. After net_watch_stop no
** on_ready runs, and on_stopped (when not NULL) runs once nothing in
** flight refers to w, possibly before net_watch_stop returns: the owner
** frees w there. */
struct net_watch;
typedef void (*net_watch_cb)(struct net_watch *w, int revents);

struct net_watch {
	struct engine_io _io;
	int fd;
	net_watch_cb on_ready;
	void (*on_stopped)(struct net_watch *w);
	unsigned _want;   /* the events the owner wants */
	unsigned _armed;  /* the events of the poll in flight; 0: none */
	int _removing;    /* a removal of that poll is in flight */
	int _stopped;
	int _in_ready;    /* on_ready is running */
};

void net_watch_init(struct net_watch *w, int fd, net_watch_cb on_ready);

/* Want `events` (0: none) from now on, replacing what was wanted. Returns
** 0 or a negative errno (-EBUSY: no SQE; the wish is kept and tried again
** on the next change). */
int net_watch_want(struct net_watch *w, unsigned events);

void net_watch_stop(struct net_watch *w);

#endif
