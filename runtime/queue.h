/*
** runtime/queue.h: message queues (queue.queue entries on the memory
** driver) and their consumers (queue.consumer entries), under the
** `queue` Lua module (lua_modules/lqueue.c).
**
** A message is an encoded body and an encoded headers table. A consumer
** lives on one shard and calls its function once per message through
** runtime/fcall.h (the body is the call's one argument), with at most
** `concurrency` calls in flight. Each call serves a delivery: the handler
** may settle it (ack or nack, once); otherwise it is acked when the call
** succeeds and nacked when it fails. A nacked message goes back to the
** end of its queue and is delivered again, with its `attempts` count one
** higher.
**
** The queues and consumers are those of the registry the runtime booted
** with; a consumer runs when its lifecycle.auto_start is true, and starts
** no call once shutdown began (rt->stopping).
*/
#ifndef RUNTIME_QUEUE_H
#define RUNTIME_QUEUE_H

#include <stdint.h>

#include "payload.h"

struct rt;
struct queue_delivery;

/* Make the queues and start the auto_start consumers. After the engine
** started (rt_start). */
void queue_start(struct rt *rt);

/* Free everything. From rt_free, after the engine stopped. */
void queue_free(struct rt *rt);

/* Append a message to the queue.queue with full id `id`; body and
** headers (may be empty) are moved in. Any thread. Returns 0, or -1 with
** *kind (an errors.h kind) and *err (static) set, the payloads freed. */
int queue_publish(struct rt *rt, const char *id, struct payload *body,
		  struct payload *headers, const char **kind, const char **err);

/* The queue's waiting messages and its consumers; -1 if there is no such
** queue. Any thread. */
int queue_info(struct rt *rt, const char *id, uint64_t *messages, int *consumers);

/* The delivery a queue consumer's call serves, from the call's state
** (its fcall), or NULL; and its sequence number, which a later delivery
** through the same slot does not share. */
struct queue_delivery *queue_delivery_of(void *fcall, uint64_t *seq);

/* For a Message object holding (d, seq): 1 while that delivery's handler
** runs, else 0 (released). Its id, attempts and headers. Shard of the
** call only. */
int queue_delivery_live(const struct queue_delivery *d, uint64_t seq);
const char *queue_delivery_id(const struct queue_delivery *d);
int queue_delivery_attempts(const struct queue_delivery *d);
const struct payload *queue_delivery_headers(const struct queue_delivery *d);

/* Settle it: ack (nack 0) or nack. 0, or -1 if already settled. */
int queue_settle(struct queue_delivery *d, int nack);

#endif
