/*
** engine/ring.h: the io_uring backend behind a small static interface.
**
** engine/ring.c is the only file that includes liburing.h. A ring belongs to
** one shard thread: every function here except ring_fd() must be called from
** that thread (the ring is set up with IORING_SETUP_SINGLE_ISSUER where the
** kernel has it). Functions return 0 or a positive count, or a negative errno
** exactly like cqe->res; they never set errno.
**
** Each operation carries a 64-bit user_data built with the helpers in
** engine/ud.h; the completion reports it back through ring_reap().
** Preparing an operation only queues it: nothing reaches the kernel before
** ring_submit() or ring_wait(), which the shard calls once per loop turn.
*/
#ifndef ENGINE_RING_H
#define ENGINE_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ring; /* opaque */

/* One completion copied out of the CQ ring. */
struct ring_cqe {
	uint64_t ud;    /* user_data of the operation */
	int32_t res;    /* result, negative errno on failure */
	uint32_t flags; /* IORING_CQE_F_* (RING_F_MORE, RING_F_BUFFER) */
};

/* CQE flags the callers need without including liburing.h. */
#define RING_F_BUFFER (1u << 0) /* IORING_CQE_F_BUFFER */
#define RING_F_MORE   (1u << 1) /* IORING_CQE_F_MORE: multishot continues */
#define RING_BUF_SHIFT 16       /* IORING_CQE_BUFFER_SHIFT */

/* What ring_create() got from the kernel. */
#define RING_HAVE_SINGLE_ISSUER (1u << 0)
#define RING_HAVE_DEFER_TASKRUN (1u << 1)

/* Create a ring with at least `entries` SQEs. Tries SINGLE_ISSUER |
** DEFER_TASKRUN, then SINGLE_ISSUER, then plain (older kernels), and records
** which it got (ring_features). Must be called on the thread that will use
** the ring. Returns 0 and sets *out, or a negative errno. */
int ring_create(struct ring **out, unsigned entries);

/* Tear down the ring. Operations in flight are cancelled by the kernel; no
** completion is reported for them. */
void ring_destroy(struct ring *r);

/* The ring's file descriptor: the target of ring_msg() from other rings.
** Safe from any thread (it never changes). */
int ring_fd(const struct ring *r);

/* RING_HAVE_* bits. */
unsigned ring_features(const struct ring *r);

/* {==== Operations: each returns 0, or -EBUSY if no SQE could be had even
** after flushing queued ones to the kernel. ====} */

/* A timeout firing at the absolute CLOCK_MONOTONIC time abs_ns; completes
** with -ETIME when it fires, -ECANCELED when removed. */
int ring_timeout(struct ring *r, uint64_t ud, uint64_t abs_ns);

/* Move the pending timeout `target_ud` to abs_ns. The update itself
** completes under `ud` (0 or -ENOENT if the timeout already fired). */
int ring_timeout_update(struct ring *r, uint64_t ud, uint64_t target_ud,
			uint64_t abs_ns);

/* One read, receive or send: the result is the byte count, like read(2),
** recv(2) and send(2); buf must stay valid until the completion. off -1
** reads at the file position. */
int ring_read(struct ring *r, uint64_t ud, int fd, void *buf, unsigned len,
	      uint64_t off);
int ring_recv(struct ring *r, uint64_t ud, int fd, void *buf, size_t len,
	      int flags);
int ring_send(struct ring *r, uint64_t ud, int fd, const void *buf,
	      size_t len, int flags);

/* A one-shot poll for `events` (POLLIN, POLLOUT, ... from poll.h) on fd:
** completes with the ready mask (revents > 0) once any of them holds,
** at once if one already does, or -ECANCELED when removed. Being one-shot
** and armed afresh after each completion, it behaves level-triggered. */
int ring_poll(struct ring *r, uint64_t ud, int fd, unsigned events);

/* Remove the poll armed under target_ud: it then completes with
** -ECANCELED (or has already completed). The removal itself completes
** under ud (0, or -ENOENT if the poll is gone). */
int ring_poll_remove(struct ring *r, uint64_t ud, uint64_t target_ud);

/* Cancel the operation armed under target_ud (a multishot receive): it
** then completes with -ECANCELED, or has already completed. The cancel
** itself completes under ud. */
int ring_cancel(struct ring *r, uint64_t ud, uint64_t target_ud);

/* Multishot accept: one CQE per accepted connection (res = new fd) while
** RING_F_MORE is set in the flags; re-arm when a CQE comes without it. */
int ring_accept_multishot(struct ring *r, uint64_t ud, int fd);

/* Post a CQE with user_data `msg_ud` and result `res` on the ring whose fd is
** target_fd (IORING_OP_MSG_RING). The sending operation completes on this
** ring under `ud`; pass 0 as ud to ask for no completion here where the
** kernel supports it (the caller ignores UD 0 otherwise). */
int ring_msg(struct ring *r, uint64_t ud, int target_fd, uint64_t msg_ud,
	     int32_t res);

/* {==== Provided buffers ====}
**
** A buffer group is `n` buffers of `size` bytes (n a power of two, at most
** 32768) that the kernel picks from for receives armed with
** ring_recv_multishot(). A completion that used one carries RING_F_BUFFER
** and the buffer id in flags >> RING_BUF_SHIFT; the caller copies what it
** needs and gives the buffer back with ring_buf_recycle(). */

/* Register buffer group `bgid`. Returns 0 and sets *base to the first
** buffer (buffer i is at *base + i * size), or a negative errno (-EINVAL
** on kernels without buffer rings). */
int ring_buf_setup(struct ring *r, unsigned bgid, unsigned n, unsigned size,
		   char **base);

/* Give buffer `bid` of group `bgid` back to the kernel. */
void ring_buf_recycle(struct ring *r, unsigned bgid, unsigned bid);

/* Multishot receive on fd from buffer group bgid: one CQE per chunk of
** data while RING_F_MORE is set; res 0 means end of stream, -ENOBUFS that
** the group ran dry (re-arm once buffers were recycled). */
int ring_recv_multishot(struct ring *r, uint64_t ud, int fd, unsigned bgid);

/* {==== Submission and completion ====} */

/* Hand every queued SQE to the kernel without waiting. Returns the number
** submitted or a negative errno. */
int ring_submit(struct ring *r);

/* The same, and have the kernel post the completions that are ready, still
** without waiting. With IORING_SETUP_DEFER_TASKRUN the kernel posts
** completions (accepts, receives, the signalfd read, timeouts) only when
** the ring is entered asking for events, so a shard kept busy by runnable
** processes must call this now and then, or it never sees its sockets or
** signals. It always enters the kernel. Returns >= 0 or a negative errno. */
int ring_submit_events(struct ring *r);

/* Submit queued SQEs and sleep in the kernel until at least one completion
** is ready (EINTR is treated as a wake-up). Returns >= 0 or negative errno. */
int ring_wait(struct ring *r);

/* Copy up to max completions out of the CQ and release their slots with one
** advance. Returns the number copied (0 when none are ready). */
unsigned ring_reap(struct ring *r, struct ring_cqe *out, unsigned max);

#endif
