/*
** test/unit/engine/mpsc.c: the bounded MPSC ring (engine/mpsc.c).
**
** Single-threaded checks pin down the contract: capacity rounding, -EAGAIN
** when full, FIFO order, partial batches, many laps around the ring, and a
** reserved-but-unpublished slot that stops the consumer without being
** skipped (simulated through the ring's internals, hence the #include).
**
** The stress check runs NPROD producer threads x NMSG messages into one
** consumer through a small ring so the full path is hit constantly. Each
** item encodes (producer id, sequence + 1); per producer the consumer must
** see exactly 1, 2, 3, ... which proves nothing lost, nothing duplicated
** and per-producer order in one comparison. Producers and the consumer yield
** when they cannot make progress: the machine may have only two cores.
*/
#include "engine/mpsc.c"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define NPROD    4
#define NMSG     1000000u
#define RINGCAP  1024
#define PID_SHIFT 40

static void *item(uint64_t pid, uint64_t seq)
{
	return (void *)(uintptr_t)((pid << PID_SHIFT) | (seq + 1));
}

/* Capacity rounds up to a power of two, at least 2: probed by filling. */
static size_t fill_count(size_t cap)
{
	struct mpsc *q = mpsc_create(cap);
	size_t n = 0;

	while (mpsc_push(q, item(0, n)) == 0 && n < 1u << 20)
		n++;
	mpsc_destroy(q);
	return n;
}

static void test_capacity(void)
{
	ok(fill_count(0) == 2, "cap 0 rounds to 2 (got %zu)", fill_count(0));
	ok(fill_count(1) == 2, "cap 1 rounds to 2");
	ok(fill_count(2) == 2, "cap 2 stays 2");
	ok(fill_count(3) == 4, "cap 3 rounds to 4");
	ok(fill_count(5) == 8, "cap 5 rounds to 8");
	ok(fill_count(1000) == 1024, "cap 1000 rounds to 1024");
	ok(fill_count(1024) == 1024, "cap 1024 stays 1024");
}

static void test_fill_fifo(void)
{
	struct mpsc *q = mpsc_create(16);
	void *out[32];
	size_t i, n, bad = 0;
	int rc;

	ok(mpsc_empty(q), "new ring is empty");
	ok(mpsc_pop_batch(q, out, 32) == 0, "pop from empty ring returns 0");
	for (i = 0; i < 16; i++)
		if (mpsc_push(q, item(1, i)) != 0)
			bad++;
	ok(bad == 0, "16 pushes fit a ring of 16");
	ok(!mpsc_empty(q), "full ring is not empty");
	rc = mpsc_push(q, item(1, 16));
	ok(rc == -EAGAIN, "push to full ring returns -EAGAIN (got %d)", rc);
	ok(mpsc_push_batch(q, out, 3) == 0, "push_batch to full ring pushes 0");

	n = mpsc_pop_batch(q, out, 5);
	ok(n == 5, "pop_batch(max 5) pops 5 (got %zu)", n);
	for (i = 0, bad = 0; i < n; i++)
		if (out[i] != item(1, i))
			bad++;
	ok(bad == 0, "first 5 come out in push order");
	ok(mpsc_push(q, item(1, 16)) == 0, "push succeeds again after pop");
	n = mpsc_pop_batch(q, out, 32);
	ok(n == 12, "pop_batch drains the remaining 12 (got %zu)", n);
	for (i = 0, bad = 0; i < n; i++)
		if (out[i] != item(1, i + 5))
			bad++;
	ok(bad == 0, "the rest come out in push order");
	ok(mpsc_empty(q), "drained ring is empty");
	ok(mpsc_pop_batch(q, out, 0) == 0, "pop_batch(max 0) pops nothing");
	mpsc_destroy(q);
}

static void test_batch_partial(void)
{
	struct mpsc *q = mpsc_create(8);
	void *in[20], *out[20];
	size_t i, n, bad = 0;

	for (i = 0; i < 20; i++)
		in[i] = item(2, i);
	ok(mpsc_push_batch(q, in, 0) == 0, "push_batch of 0 pushes 0");
	n = mpsc_push_batch(q, in, 3);
	ok(n == 3, "push_batch of 3 into empty ring of 8 pushes 3");
	n = mpsc_push_batch(q, in + 3, 17);
	ok(n == 5, "push_batch of 17 into 5 free slots pushes 5 (got %zu)", n);
	ok(mpsc_push(q, in[8]) == -EAGAIN, "ring is then full");
	n = mpsc_pop_batch(q, out, 2);
	ok(n == 2 && out[0] == in[0] && out[1] == in[1], "pop 2, oldest first");
	/* Free run wraps around the end of the cell array. */
	n = mpsc_push_batch(q, in + 8, 12);
	ok(n == 2, "push_batch into 2 freed slots pushes 2 (got %zu)", n);
	n = mpsc_pop_batch(q, out, 20);
	ok(n == 8, "pop the whole ring (got %zu)", n);
	for (i = 0; i < n; i++)
		if (out[i] != in[i + 2])
			bad++;
	ok(bad == 0, "batch items keep their order across the wrap");
	mpsc_destroy(q);
}

/* Many laps with varying batch sizes: the sequence numbers in the cells
** advance by the capacity each lap, which must keep working far past the
** first few laps. */
static void test_wraparound(void)
{
	struct mpsc *q = mpsc_create(4);
	void *in[7], *out[7];
	uint64_t next_in = 0, next_out = 0;
	size_t i, n, k, bad = 0, laps = 200000;

	for (i = 0; i < laps; i++) {
		size_t want = 1 + i % 7;

		for (k = 0; k < want; k++)
			in[k] = item(3, next_in + k);
		if (i % 3 == 0) {
			for (n = 0; n < want && mpsc_push(q, in[n]) == 0; n++)
				;
		} else {
			n = mpsc_push_batch(q, in, want);
		}
		next_in += n;
		n = mpsc_pop_batch(q, out, 1 + (i * 5) % 7);
		for (k = 0; k < n; k++)
			if (out[k] != item(3, next_out++))
				bad++;
	}
	while ((n = mpsc_pop_batch(q, out, 7)) > 0)
		for (k = 0; k < n; k++)
			if (out[k] != item(3, next_out++))
				bad++;
	ok(bad == 0, "FIFO holds over %zu mixed push/pop rounds", laps);
	ok(next_in == next_out && next_in > 4 * laps / 2,
		"all %llu pushed items popped (%llu)",
		(unsigned long long)next_in, (unsigned long long)next_out);
	mpsc_destroy(q);
}

/* Simulate a producer that won its ticket but has not stored the item yet:
** take a ticket off tail by hand. The consumer must stop before it, later
** items must wait behind it, and once published it must come out first. */
static void test_unpublished(void)
{
	struct mpsc *q = mpsc_create(8);
	void *out[8];
	size_t n, t;

	ok(mpsc_push(q, item(4, 0)) == 0, "push A");
	t = atomic_fetch_add(&q->tail, 1); /* reserve B's slot, do not publish */
	ok(mpsc_push(q, item(4, 2)) == 0, "push C after the reserved slot");
	ok(mpsc_push_batch(q, (void *[]){ item(4, 3), item(4, 4) }, 2) == 2,
		"push_batch D, E after the reserved slot");
	n = mpsc_pop_batch(q, out, 8);
	ok(n == 1 && out[0] == item(4, 0), "pop stops at the reserved slot");
	ok(mpsc_empty(q), "a reserved slot reads as empty");
	ok(mpsc_pop_batch(q, out, 8) == 0, "still nothing past it");
	/* Publish B exactly as mpsc_push would. */
	q->cells[t & q->mask].data = item(4, 1);
	atomic_store_explicit(&q->cells[t & q->mask].seq, t + 1,
		memory_order_release);
	n = mpsc_pop_batch(q, out, 8);
	ok(n == 4 && out[0] == item(4, 1) && out[1] == item(4, 2) &&
		out[2] == item(4, 3) && out[3] == item(4, 4),
		"after publishing, B comes first, then C, D, E (got %zu)", n);

	/* Reserved slot also counts toward "full" for producers. */
	t = atomic_fetch_add(&q->tail, 1);
	for (n = 0; mpsc_push(q, item(5, n)) == 0; n++)
		;
	ok(n == 7, "a reserved slot holds a place in the ring (%zu free)", n);
	q->cells[t & q->mask].data = item(5, 99);
	atomic_store_explicit(&q->cells[t & q->mask].seq, t + 1,
		memory_order_release);
	n = mpsc_pop_batch(q, out, 8);
	ok(n == 8 && out[0] == item(5, 99) && out[7] == item(5, 6),
		"full ring with a late publish drains in ticket order");
	mpsc_destroy(q);
}

/* {==== stress =================================================== */

/* With no item for this long the ring has lost something (or wedged). */
#define STALL_MS 20000

struct stress {
	struct mpsc *q;
	unsigned nmsg;
	atomic_int stop; /* set by a stalled consumer: producers give up */
};

struct producer {
	struct stress *s;
	pthread_t th;
	uint64_t pid;
	unsigned long full; /* how often the ring was found full */
};

/* Push nmsg items. Chunks alternate between single pushes and batches of
** varying size, so both entry points race each other on the same tail. */
static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct mpsc *q = p->s->q;
	void *buf[64];
	uint64_t seq = 0, nmsg = p->s->nmsg;
	unsigned chunk = 0;

	while (seq < nmsg && !atomic_load(&p->s->stop)) {
		size_t want = 1 + (chunk * 7 + p->pid * 13) % 64, n, i;

		if (want > nmsg - seq)
			want = (size_t)(nmsg - seq);
		if ((chunk + p->pid) % 2 == 0) {
			for (i = 0; i < want; ) {
				if (mpsc_push(q, item(p->pid, seq)) == 0) {
					seq++, i++;
				} else if (atomic_load(&p->s->stop)) {
					return NULL;
				} else {
					p->full++;
					sched_yield();
				}
			}
		} else {
			for (i = 0; i < want; i++)
				buf[i] = item(p->pid, seq + i);
			for (i = 0; i < want; ) {
				n = mpsc_push_batch(q, buf + i, want - i);
				if (n == 0 && atomic_load(&p->s->stop))
					return NULL;
				if (n == 0) {
					p->full++;
					sched_yield();
				}
				i += n;
			}
			seq += want;
		}
		chunk++;
	}
	return NULL;
}

static void test_stress(unsigned nmsg)
{
	struct stress s = { .q = mpsc_create(RINGCAP), .nmsg = nmsg };
	struct producer prod[NPROD];
	uint64_t last[NPROD] = { 0 }, total = 0, want = (uint64_t)NPROD * nmsg;
	unsigned long bad_pid = 0, bad_seq = 0, empty_polls = 0, full = 0;
	void *out[64];
	size_t n, i, max = 1;
	int p, in_order = 1;
	uint64_t t0 = common_now_ms(), idle_since = 0, idle = 0;

	for (p = 0; p < NPROD; p++) {
		prod[p] = (struct producer){ .s = &s, .pid = (uint64_t)p };
		if (pthread_create(&prod[p].th, NULL, producer_main, &prod[p])) {
			ok(0, "pthread_create");
			return;
		}
	}
	/* The consumer runs here, in the main thread. A mismatch does not
	** stop the loop: items keep flowing so the counts stay meaningful,
	** and the resync to the seen value reports each gap only once. */
	while (total < want) {
		n = mpsc_pop_batch(s.q, out, max);
		max = max % 64 + 1;
		if (n == 0) {
			/* Read the clock only at the start of an idle streak
			** and every 1024 empty polls in it. */
			empty_polls++;
			if (idle++ == 0)
				idle_since = common_now_ms();
			else if ((idle & 1023) == 0 &&
			    common_now_ms() - idle_since > STALL_MS) {
				printf("# no item for %d ms: giving up\n",
					STALL_MS);
				atomic_store(&s.stop, 1);
				break;
			}
			sched_yield();
			continue;
		}
		idle = 0;
		for (i = 0; i < n; i++) {
			uint64_t v = (uint64_t)(uintptr_t)out[i];
			uint64_t pid = v >> PID_SHIFT;
			uint64_t seq = v & (((uint64_t)1 << PID_SHIFT) - 1);

			total++;
			if (pid >= NPROD) {
				bad_pid++;
				continue;
			}
			if (seq != last[pid] + 1) {
				if (bad_seq++ < 5)
					printf("# producer %llu: got %llu after "
						"%llu\n",
						(unsigned long long)pid,
						(unsigned long long)seq,
						(unsigned long long)last[pid]);
				in_order = 0;
			}
			last[pid] = seq;
		}
	}
	for (p = 0; p < NPROD; p++) {
		pthread_join(prod[p].th, NULL);
		full += prod[p].full;
	}
	ok(total == want, "consumer received %llu items (want %llu)",
		(unsigned long long)total, (unsigned long long)want);
	ok(bad_pid == 0, "no item with a bad producer id (%lu)", bad_pid);
	ok(in_order && bad_seq == 0,
		"per-producer sequence is exactly 1, 2, 3, ... (%lu breaks)",
		bad_seq);
	for (p = 0, i = 0; p < NPROD; p++)
		if (last[p] != nmsg)
			i++;
	ok(i == 0, "every producer's last item is number %u", nmsg);
	ok(mpsc_empty(s.q) && mpsc_pop_batch(s.q, out, 64) == 0,
		"ring is empty afterwards");
	ok(full > 0, "the full path was exercised (%lu times)", full);
	printf("# stress: %d x %u msgs in %llu ms, %lu full, %lu empty polls\n",
		NPROD, nmsg, (unsigned long long)(common_now_ms() - t0), full,
		empty_polls);
	mpsc_destroy(s.q);
}

/* }==== */

int main(void)
{
	unsigned nmsg = NMSG;
	const char *env = getenv("MPSC_STRESS_MSGS");

	if (env && atoi(env) > 0)
		nmsg = (unsigned)atoi(env);
	test_capacity();
	test_fill_fifo();
	test_batch_partial();
	test_wraparound();
	test_unpublished();
	test_stress(nmsg);
	return tap_done();
}
