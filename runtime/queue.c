/*
** runtime/queue.c: the memory queue driver and queue consumers. See
** queue.h for the contract.
**
** Owns: struct queues (made by queue_start, hung on rt->queues), one
** struct mq per queue.queue entry and one struct consumer per running
** queue.consumer.
**
** Threads: a queue's message list is shared by every publisher (any
** shard) and its consumers, under the queue's mutex, held only to link or
** unlink. Everything else of a consumer belongs to its shard: its wake
** task, its slots and the calls it makes (which run on that shard too,
** runtime/fcall.c). A publish wakes one consumer of the queue by posting
** its task, at most once until the task ran (`posted`).
*/
#include "queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "errors.h"
#include "fcall.h"
#include "log.h"
#include "registry.h"
#include "rt.h"

struct qmsg {
	struct qmsg *next;
	char id[40];
	int attempts;                /* deliveries so far */
	struct payload body, headers;
};

struct consumer;

struct mq {
	const struct reg_entry *e;   /* a queue.queue */
	int runs;                    /* on the memory driver */
	pthread_mutex_t lock;
	struct qmsg *head, *tail;    /* guarded by lock */
	uint64_t n;                  /* guarded by lock */
	struct consumer **cons;      /* fixed after queue_start */
	int ncons;
	atomic_uint rr;
};

/* One delivery in flight: a slot of its consumer, reused. */
struct queue_delivery {
	struct consumer *cn;
	struct qmsg *m;
	uint64_t seq;                /* bumped per delivery */
	uint8_t busy, settled, nacked;
};

struct queues;

struct consumer {
	const struct reg_entry *e;   /* a queue.consumer */
	struct queues *qs;
	struct mq *q;
	struct task wake;
	atomic_int posted;
	int shard;
	int inflight;
	struct queue_delivery *slots; /* [concurrency] */
};

struct queues {
	struct rt *rt;
	struct mq *q;
	size_t nq;
	struct consumer *c;
	size_t nc;
	atomic_uint_fast64_t next_id;
};

static struct queues *queues_of(struct rt *rt)
{
	return atomic_load_explicit((_Atomic(struct queues *) *)&rt->queues,
				    memory_order_acquire);
}

static struct mq *find_queue(struct queues *qs, const char *id)
{
	for (size_t i = 0; qs && i < qs->nq; i++)
		if (!strcmp(qs->q[i].e->id, id))
			return &qs->q[i];
	return NULL;
}

static void msg_drop(struct qmsg *m)
{
	payload_free(&m->body);
	payload_free(&m->headers);
	free(m);
}

static void push_tail(struct mq *q, struct qmsg *m)
{
	m->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->n++;
	pthread_mutex_unlock(&q->lock);
}

static struct qmsg *pop_head(struct mq *q)
{
	struct qmsg *m;
	pthread_mutex_lock(&q->lock);
	m = q->head;
	if (m) {
		q->head = m->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->n--;
	}
	pthread_mutex_unlock(&q->lock);
	return m;
}

/* Post cn's task unless it is already on its way. Any thread. */
static void wake(struct queues *qs, struct consumer *cn)
{
	if (atomic_exchange(&cn->posted, 1) == 0)
		shard_post(engine_shard(qs->rt->engine, cn->shard), &cn->wake);
}

/* {==== A consumer (its shard) ====} */

static void run_consumer(struct task *t);

/* The call of a delivery ended: settle it as the handler did, or by the
** call's outcome; a nack puts the message back at the end. */
static void call_done(struct fcall *c)
{
	struct queue_delivery *d = c->delivery;
	struct consumer *cn = d->cn;
	struct queues *qs = cn->qs;
	int nack = d->settled ? d->nacked : c->failed;
	struct qmsg *m = d->m;

	if (c->failed && !d->settled && c->err_msg)
		log_printf(LOG_LEVEL_WARN, NULL, "queue consumer %s: %s", cn->e->id, c->err_msg);
	fcall_detach(c);
	d->busy = 0;
	d->m = NULL;
	d->seq++;
	cn->inflight--;
	if (nack && !atomic_load(&qs->rt->stopping))
		push_tail(cn->q, m);
	else
		msg_drop(m);
	wake(qs, cn);
}

/* Start calls while a slot is free and a message waits. */
static void run_consumer(struct task *t)
{
	struct consumer *cn = container_of(t, struct consumer, wake);
	struct rt *rt = cn->qs->rt;
	int conc = cn->e->u.consumer.concurrency;

	atomic_store(&cn->posted, 0);
	while (cn->inflight < conc && !atomic_load(&rt->stopping)) {
		const struct reg_entry *fn = cn->e->u.consumer.func;
		struct queue_delivery *d = NULL;
		const char *kind = NULL, *err = NULL;
		struct fcall *c;
		struct qmsg *m = pop_head(cn->q);

		if (m == NULL)
			break;
		for (int i = 0; i < conc; i++)
			if (!cn->slots[i].busy) {
				d = &cn->slots[i];
				break;
			}
		m->attempts++;
		d->busy = 1;
		d->settled = d->nacked = 0;
		d->m = m;
		c = fcall_new_c(rt, fn, call_done, NULL);
		c->delivery = d;
		payload_copy(&c->args, &m->body);
		if (fcall_start(c, &kind, &err) < 0) {
			log_printf(LOG_LEVEL_WARN, NULL, "queue consumer %s: %s",
				   cn->e->id, err);
			fcall_detach(c);
			d->busy = 0;
			d->m = NULL;
			d->seq++;
			push_tail(cn->q, m);
			break;
		}
		cn->inflight++;
	}
}

/* }==== */

void queue_start(struct rt *rt)
{
	struct queues *qs = xcalloc(1, sizeof(*qs));
	const struct reg_entry *e = NULL;
	size_t nq = 0, nc = 0;
	int nshards = engine_nshards(rt->engine);
	unsigned next_shard = 0;

	qs->rt = rt;
	while ((e = reg_next(rt->reg, e)) != NULL) {
		nq += e->k == REG_K_QUEUE_QUEUE;
		nc += e->k == REG_K_QUEUE_CONSUMER && e->lifecycle.auto_start;
	}
	qs->q = xcalloc(nq + 1, sizeof(*qs->q));
	qs->c = xcalloc(nc + 1, sizeof(*qs->c));
	while ((e = reg_next(rt->reg, e)) != NULL)
		if (e->k == REG_K_QUEUE_QUEUE) {
			struct mq *q = &qs->q[qs->nq++];
			q->e = e;
			q->runs = e->u.queue.driver &&
				  e->u.queue.driver->k == REG_K_QUEUE_DRIVER_MEMORY;
			pthread_mutex_init(&q->lock, NULL);
		}
	while ((e = reg_next(rt->reg, e)) != NULL) {
		struct consumer *cn;
		struct mq *q;
		if (e->k != REG_K_QUEUE_CONSUMER || !e->lifecycle.auto_start)
			continue;
		q = find_queue(qs, e->u.consumer.queue->id);
		if (q == NULL || !q->runs)
			continue;
		cn = &qs->c[qs->nc++];
		cn->e = e;
		cn->qs = qs;
		cn->q = q;
		cn->wake.run = run_consumer;
		cn->wake.flags = TASK_PINNED;
		cn->shard = (int)(next_shard++ % (unsigned)nshards);
		cn->slots = xcalloc((size_t)e->u.consumer.concurrency, sizeof(*cn->slots));
		for (int i = 0; i < e->u.consumer.concurrency; i++)
			cn->slots[i].cn = cn;
		q->ncons++;
	}
	for (size_t i = 0; i < qs->nq; i++)
		qs->q[i].cons = xcalloc((size_t)qs->q[i].ncons + 1, sizeof(struct consumer *));
	for (size_t i = 0; i < qs->nc; i++) {
		struct mq *q = qs->c[i].q;
		int k = 0;
		while (q->cons[k])
			k++;
		q->cons[k] = &qs->c[i];
	}
	atomic_store_explicit((_Atomic(struct queues *) *)&rt->queues, qs,
			      memory_order_release);
}

void queue_free(struct rt *rt)
{
	struct queues *qs = queues_of(rt);
	if (qs == NULL)
		return;
	for (size_t i = 0; i < qs->nq; i++) {
		struct qmsg *m, *n;
		for (m = qs->q[i].head; m; m = n) {
			n = m->next;
			msg_drop(m);
		}
		pthread_mutex_destroy(&qs->q[i].lock);
		free(qs->q[i].cons);
	}
	for (size_t i = 0; i < qs->nc; i++) {
		/* A delivery whose call never ended (its state was dropped
		** with the engine) still holds its message. */
		for (int j = 0; j < qs->c[i].e->u.consumer.concurrency; j++)
			if (qs->c[i].slots[j].m)
				msg_drop(qs->c[i].slots[j].m);
		free(qs->c[i].slots);
	}
	free(qs->q);
	free(qs->c);
	free(qs);
	rt->queues = NULL;
}

int queue_publish(struct rt *rt, const char *id, struct payload *body,
		  struct payload *headers, const char **kind, const char **err)
{
	struct queues *qs = queues_of(rt);
	struct mq *q = find_queue(qs, id);
	struct qmsg *m;
	uint64_t n;

	if (q == NULL || !q->runs) {
		payload_free(body);
		payload_free(headers);
		*kind = ERRORS_INTERNAL;
		*err = q ? "queue's driver is not supported by this runtime" : "queue not found";
		return -1;
	}
	m = xcalloc(1, sizeof(*m));
	n = atomic_fetch_add(&qs->next_id, 1) + 1;
	snprintf(m->id, sizeof(m->id), "%016llx-%08x", (unsigned long long)n,
		 (unsigned)(common_now_ns() & 0xffffffffu));
	m->body = *body;
	m->headers = *headers;
	memset(body, 0, sizeof(*body));
	memset(headers, 0, sizeof(*headers));
	push_tail(q, m);
	if (q->ncons)
		wake(qs, q->cons[atomic_fetch_add(&q->rr, 1) % (unsigned)q->ncons]);
	return 0;
}

int queue_info(struct rt *rt, const char *id, uint64_t *messages, int *consumers)
{
	struct mq *q = find_queue(queues_of(rt), id);
	if (q == NULL)
		return -1;
	pthread_mutex_lock(&q->lock);
	*messages = q->n;
	pthread_mutex_unlock(&q->lock);
	*consumers = q->ncons;
	return 0;
}

struct queue_delivery *queue_delivery_of(void *fcall, uint64_t *seq)
{
	struct fcall *c = fcall;
	struct queue_delivery *d = c ? c->delivery : NULL;
	if (d)
		*seq = d->seq;
	return d;
}

int queue_delivery_live(const struct queue_delivery *d, uint64_t seq)
{
	return d->busy && d->seq == seq;
}

const char *queue_delivery_id(const struct queue_delivery *d) { return d->m->id; }
int queue_delivery_attempts(const struct queue_delivery *d) { return d->m->attempts; }
const struct payload *queue_delivery_headers(const struct queue_delivery *d)
{
	return &d->m->headers;
}

int queue_settle(struct queue_delivery *d, int nack)
{
	if (d->settled)
		return -1;
	d->settled = 1;
	d->nacked = (uint8_t)nack;
	return 0;
}
