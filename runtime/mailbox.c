/*
** runtime/mailbox.c: Vyukov's intrusive MPSC node queue.
**
** head is where producers append (exchange), tail is where the consumer
** reads. A stub node keeps the queue non-empty so push never needs to know
** about the consumer. Producers: m->next = NULL; prev = xchg(head, m);
** prev->next = m. Between the exchange and the link the queue looks empty
** from that point on; the consumer stops there and the producer's wake-up
** brings it back.
**
** The message lists (mlist_*) below reuse the same _next link for the
** queues a process keeps after popping; they never see a concurrent writer.
*/
#include "mailbox.h"

#include <stdlib.h>
#include <string.h>

struct msg *msg_new(enum msg_kind kind, uint64_t from, const char *topic)
{
	size_t tl = topic ? strlen(topic) : 0;
	struct msg *m = xmalloc(sizeof(*m) + tl + 1);
	memset(m, 0, sizeof(*m));
	m->kind = (uint8_t)kind;
	m->from = from;
	m->topic = (char *)(m + 1);
	if (tl)
		memcpy(m->topic, topic, tl);
	m->topic[tl] = '\0';
	return m;
}

void msg_free(struct msg *m)
{
	if (m) {
		payload_free(&m->payload);
		free(m);
	}
}

void mbox_init(struct mbox *b)
{
	atomic_store_explicit(&b->stub._next, NULL, memory_order_relaxed);
	atomic_store_explicit(&b->head, &b->stub, memory_order_relaxed);
	b->tail = &b->stub;
}

void mbox_push(struct mbox *b, struct msg *m)
{
	struct msg *prev;
	atomic_store_explicit(&m->_next, NULL, memory_order_relaxed);
	/* acq_rel: release publishes m's contents to the consumer that will
	** follow prev->next; acquire orders us after the previous producer. */
	prev = atomic_exchange_explicit(&b->head, m, memory_order_acq_rel);
	/* release: the consumer's acquire load of prev->next sees m whole. */
	atomic_store_explicit(&prev->_next, m, memory_order_release);
}

struct msg *mbox_pop(struct mbox *b)
{
	struct msg *tail = b->tail;
	struct msg *next = atomic_load_explicit(&tail->_next, memory_order_acquire);

	if (tail == &b->stub) {
		if (next == NULL)
			return NULL;
		b->tail = next;
		tail = next;
		next = atomic_load_explicit(&tail->_next, memory_order_acquire);
	}
	if (next) {
		b->tail = next;
		return tail;
	}
	/* tail is the last linked node; if head moved past it a producer is
	** mid-push: come back later. */
	if (tail != atomic_load_explicit(&b->head, memory_order_acquire))
		return NULL;
	/* Re-insert the stub behind tail so tail can be handed out. */
	mbox_push(b, &b->stub);
	next = atomic_load_explicit(&tail->_next, memory_order_acquire);
	if (next) {
		b->tail = next;
		return tail;
	}
	return NULL;
}

int mbox_empty(struct mbox *b)
{
	struct msg *tail = b->tail;
	struct msg *next = atomic_load_explicit(&tail->_next, memory_order_acquire);
	if (tail == &b->stub)
		return next == NULL &&
		       atomic_load_explicit(&b->head, memory_order_acquire) == &b->stub;
	return 0;
}

/* {==== Message lists ====} */

static struct msg *next_of(const struct msg *m)
{
	return atomic_load_explicit(&m->_next, memory_order_relaxed);
}

size_t msg_bytes(const struct msg *m)
{
	size_t n = sizeof(*m) + strlen(m->topic) + 1;
	if (m->payload.len > PAYLOAD_INLINE)
		n += m->payload.len;
	return n;
}

void mlist_append(struct mlist *l, struct msg *m)
{
	l->n++;
	l->bytes += msg_bytes(m);
	atomic_store_explicit(&m->_next, NULL, memory_order_relaxed);
	if (l->tail)
		atomic_store_explicit(&l->tail->_next, m, memory_order_relaxed);
	else
		l->head = m;
	l->tail = m;
}

struct msg *mlist_take(struct mlist *l, int (*match)(const struct msg *m, void *arg),
		       void *arg)
{
	struct msg *prev = NULL, *m;
	for (m = l->head; m; prev = m, m = next_of(m))
		if (match == NULL || match(m, arg))
			break;
	if (m == NULL)
		return NULL;
	if (prev)
		atomic_store_explicit(&prev->_next, next_of(m), memory_order_relaxed);
	else
		l->head = next_of(m);
	if (l->tail == m)
		l->tail = prev;
	atomic_store_explicit(&m->_next, NULL, memory_order_relaxed);
	l->n--;
	l->bytes -= msg_bytes(m);
	return m;
}

void mlist_clear(struct mlist *l)
{
	struct msg *m = l->head;
	while (m) {
		struct msg *n = next_of(m);
		msg_free(m);
		m = n;
	}
	l->head = l->tail = NULL;
	l->n = 0;
	l->bytes = 0;
}
