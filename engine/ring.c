/*
** engine/ring.c: ring_* over liburing 2.3. The only file that includes
** liburing.h (STYLE habit 8): swapping the backend means swapping this file.
**
** A ring is used by exactly one thread, its shard. SQEs are prepared into the
** SQ ring and reach the kernel only on ring_submit()/ring_wait(), once per
** loop turn. When the SQ is full, get_sqe() flushes it to the kernel first,
** so a burst larger than the ring costs an extra syscall, never a failure.
*/
#include "ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* An SQE buffer must stay valid until its CQE; a poisoned one means the
** caller handed the kernel freed or out-of-bounds memory. */
#define CHECK_BUF(p, n) ALWAYS(__asan_region_is_poisoned((void *)(p), (n)) == NULL)
#else
#define CHECK_BUF(p, n) ((void)0)
#endif

#define RING_MAX_BGID 4

/* One registered buffer group: the ring the kernel reads buffer addresses
** from (mmap'd, page aligned) and the buffers themselves. */
struct bufgroup {
	struct io_uring_buf_ring *br;
	char *base;
	unsigned n, size, mask;
	size_t br_bytes, buf_bytes;
};

struct ring {
	struct io_uring uring;
	struct bufgroup bg[RING_MAX_BGID];
	unsigned features;
	/* Timespecs for TIMEOUT SQEs: the kernel reads sqe->addr when the SQE
	** is submitted, not when it is prepared, so the timespec must live until
	** the next submit. The shard queues at most one arm and one update per
	** turn and submits every turn; two slots used alternately suffice. */
	struct __kernel_timespec ts[2];
	unsigned ts_next;
};

int ring_create(struct ring **out, unsigned entries)
{
	/* Strongest setup first; each fallback is for an older kernel.
	** DEFER_TASKRUN runs completion work only when this thread enters the
	** kernel to reap, so completions never interrupt the shard mid-turn;
	** it requires SINGLE_ISSUER. */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SINGLE_ISSUER,
		0,
	};
	struct ring *r = xcalloc(1, sizeof(*r));
	int rc = -EINVAL;

	for (size_t i = 0; i < countof(tries); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		/* CQ twice the SQ: multishot accept and recv can produce more
		** completions than there were submissions. */
		p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = entries * 4;
		rc = io_uring_queue_init_params(entries, &r->uring, &p);
		if (rc == 0) {
			if (tries[i] & IORING_SETUP_SINGLE_ISSUER)
				r->features |= RING_HAVE_SINGLE_ISSUER;
			if (tries[i] & IORING_SETUP_DEFER_TASKRUN)
				r->features |= RING_HAVE_DEFER_TASKRUN;
			*out = r;
			return 0;
		}
		if (rc != -EINVAL)
			break;
	}
	free(r);
	return rc;
}

void ring_destroy(struct ring *r)
{
	if (r == NULL)
		return;
	io_uring_queue_exit(&r->uring);
	for (int i = 0; i < RING_MAX_BGID; i++) {
		if (r->bg[i].br)
			munmap(r->bg[i].br, r->bg[i].br_bytes);
		if (r->bg[i].base)
			munmap(r->bg[i].base, r->bg[i].buf_bytes);
	}
	free(r);
}

int ring_fd(const struct ring *r) { return r->uring.ring_fd; }

unsigned ring_features(const struct ring *r) { return r->features; }

/* An SQE, flushing the SQ to the kernel once if it is full. */
static struct io_uring_sqe *get_sqe(struct ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	if (unlikely(sqe == NULL)) {
		io_uring_submit(&r->uring);
		sqe = io_uring_get_sqe(&r->uring);
	}
	return sqe;
}

#define GET_SQE(r, sqe) \
	struct io_uring_sqe *sqe = get_sqe(r); \
	if (unlikely(sqe == NULL)) return -EBUSY

static void set_ts(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / 1000000000u);
	ts->tv_nsec = (long long)(ns % 1000000000u);
}

static struct __kernel_timespec *ts_slot(struct ring *r, uint64_t ns)
{
	struct __kernel_timespec *ts = &r->ts[r->ts_next++ & 1];
	set_ts(ts, ns);
	return ts;
}

int ring_timeout(struct ring *r, uint64_t ud, uint64_t abs_ns)
{
	GET_SQE(r, sqe);
	io_uring_prep_timeout(sqe, ts_slot(r, abs_ns), 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_timeout_update(struct ring *r, uint64_t ud, uint64_t target_ud,
			uint64_t abs_ns)
{
	GET_SQE(r, sqe);
	io_uring_prep_timeout_update(sqe, ts_slot(r, abs_ns), target_ud,
				     IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_read(struct ring *r, uint64_t ud, int fd, void *buf, unsigned len,
	      uint64_t off)
{
	GET_SQE(r, sqe);
	CHECK_BUF(buf, len);
	io_uring_prep_read(sqe, fd, buf, len, off);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_recv(struct ring *r, uint64_t ud, int fd, void *buf, size_t len,
	      int flags)
{
	GET_SQE(r, sqe);
	CHECK_BUF(buf, len);
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_send(struct ring *r, uint64_t ud, int fd, const void *buf,
	      size_t len, int flags)
{
	GET_SQE(r, sqe);
	CHECK_BUF(buf, len);
	io_uring_prep_send(sqe, fd, buf, len, flags);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_poll(struct ring *r, uint64_t ud, int fd, unsigned events)
{
	GET_SQE(r, sqe);
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_poll_remove(struct ring *r, uint64_t ud, uint64_t target_ud)
{
	GET_SQE(r, sqe);
	io_uring_prep_poll_remove(sqe, target_ud);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_cancel(struct ring *r, uint64_t ud, uint64_t target_ud)
{
	GET_SQE(r, sqe);
	io_uring_prep_cancel64(sqe, target_ud, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_accept_multishot(struct ring *r, uint64_t ud, int fd)
{
	GET_SQE(r, sqe);
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_msg(struct ring *r, uint64_t ud, int target_fd, uint64_t msg_ud,
	     int32_t res)
{
	GET_SQE(r, sqe);
	io_uring_prep_msg_ring(sqe, target_fd, (unsigned)res, msg_ud, 0);
	io_uring_sqe_set_data64(sqe, ud);
	/* The sender has no use for its own completion. */
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	return 0;
}

int ring_buf_setup(struct ring *r, unsigned bgid, unsigned n, unsigned size,
		   char **base)
{
	struct bufgroup *g;
	struct io_uring_buf_reg reg;
	int rc;

	if (bgid >= RING_MAX_BGID || n == 0 || (n & (n - 1)) || n > 32768)
		return -EINVAL;
	g = &r->bg[bgid];
	if (g->br)
		return -EEXIST;
	g->br_bytes = n * sizeof(struct io_uring_buf);
	g->br = mmap(NULL, g->br_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->br == MAP_FAILED) {
		g->br = NULL;
		return -ENOMEM;
	}
	g->buf_bytes = (size_t)n * size;
	g->base = mmap(NULL, g->buf_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->base == MAP_FAILED) {
		munmap(g->br, g->br_bytes);
		g->br = NULL;
		g->base = NULL;
		return -ENOMEM;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)g->br;
	reg.ring_entries = n;
	reg.bgid = (unsigned short)bgid;
	rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
	if (rc < 0) {
		munmap(g->br, g->br_bytes);
		munmap(g->base, g->buf_bytes);
		g->br = NULL;
		g->base = NULL;
		return rc;
	}
	g->n = n;
	g->size = size;
	g->mask = (unsigned)io_uring_buf_ring_mask(n);
	io_uring_buf_ring_init(g->br);
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(g->br, g->base + (size_t)i * size, size,
				      (unsigned short)i, (int)g->mask, (int)i);
	/* The advance is a release store of the tail: the kernel sees the
	** entries written above before it sees them counted. */
	io_uring_buf_ring_advance(g->br, (int)n);
	*base = g->base;
	return 0;
}

void ring_buf_recycle(struct ring *r, unsigned bgid, unsigned bid)
{
	struct bufgroup *g = &r->bg[bgid];
	io_uring_buf_ring_add(g->br, g->base + (size_t)bid * g->size, g->size,
			      (unsigned short)bid, (int)g->mask, 0);
	io_uring_buf_ring_advance(g->br, 1); /* release store, see above */
}

int ring_recv_multishot(struct ring *r, uint64_t ud, int fd, unsigned bgid)
{
	GET_SQE(r, sqe);
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (unsigned short)bgid;
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_submit(struct ring *r)
{
	return io_uring_submit(&r->uring);
}

int ring_submit_events(struct ring *r)
{
	/* One io_uring_enter with IORING_ENTER_GETEVENTS and no minimum: it
	** runs the deferred task work that turns finished I/O into CQEs. */
	return io_uring_submit_and_get_events(&r->uring);
}

int ring_wait(struct ring *r)
{
	int rc = io_uring_submit_and_wait(&r->uring, 1);
	return rc == -EINTR ? 0 : rc;
}

unsigned ring_reap(struct ring *r, struct ring_cqe *out, unsigned max)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	/* io_uring_for_each_cqe loads the tail with acquire semantics, so the
	** CQE contents we copy are the kernel's finished writes. One advance
	** for the whole batch publishes the new head (a release store) and
	** hands every slot back to the kernel at once. */
	io_uring_for_each_cqe(&r->uring, head, cqe) {
		if (n == max)
			break;
		out[n].ud = cqe->user_data;
		out[n].res = cqe->res;
		out[n].flags = ((cqe->flags & IORING_CQE_F_BUFFER) ? RING_F_BUFFER : 0) |
			       ((cqe->flags & IORING_CQE_F_MORE) ? RING_F_MORE : 0) |
			       (cqe->flags & ~0xffffu);
		n++;
	}
	if (n)
		io_uring_cq_advance(&r->uring, n);
	/* CQEs the kernel had to hold back on overflow are flushed into the
	** CQ by the next io_uring_enter, i.e. the next turn's submit. */
	return n;
}
