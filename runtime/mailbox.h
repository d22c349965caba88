/*
** runtime/mailbox.h: a process's mailbox, an unbounded intrusive MPSC queue
** (Vyukov's node queue) of struct msg, and the message list (struct mlist)
** where a process keeps what it took from the mailbox and has not yet
** handed to Lua.
**
** Any thread pushes (wait-free: one exchange); only the thread currently
** running the process pops. Per-producer order holds: a producer's pushes
** are linked in the order it made them. The queue never fills: the process
** queue is unbounded by specification (spec 4.4).
**
** A message is in at most one of them at a time: both link it through its
** one _next field.
*/
#ifndef RUNTIME_MAILBOX_H
#define RUNTIME_MAILBOX_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/common.h"
#include "payload.h"

/* Message kinds. USER messages carry a topic and a payload; the others are
** system notices between processes. */
enum msg_kind {
	MSG_USER = 0,
	MSG_EXIT,       /* to a monitor: the sender exited; payload = result */
	MSG_LINK_DOWN,  /* to a linked process: the sender failed */
	MSG_CANCEL,     /* graceful stop request; topic = reason */
	MSG_TERMINATE,  /* forced stop */
	MSG_MONITOR,    /* the sender monitors the receiver */
	MSG_UNMONITOR,
	MSG_LINK,       /* the sender links to the receiver */
	MSG_UNLINK,
};

/* Message flags. */
enum {
	/* A CANCEL from a process's supervisor (service shutdown), as opposed
	** to the runtime-wide shutdown broadcast. */
	MSGF_SUPERVISOR = 1,
	/* The sender has a security context (struct proc's sec): a send to
	** another node carries it, for the receiver's process.send check
	** (runtime/cluster.h). */
	MSGF_SEC = 2,
};

/* One message: a single allocation holding the header, the topic and the
** encoded payload. The receiver owns it once popped and frees it with
** msg_free(). */
struct msg {
	_Atomic(struct msg *) _next;
	uint8_t kind;      /* enum msg_kind */
	uint8_t flags;     /* MSGF_* */
	uint64_t from;     /* sender pid number, 0 if none */
	const char *from_host; /* sender's host id (static, owned by registry) */
	double at;         /* unix seconds when sent (events) */
	char *topic;       /* points into the same block; "" when none */
	struct payload payload;
};

/* A message with a copy of topic (may be NULL) and an empty payload.
** Never returns NULL. */
struct msg *msg_new(enum msg_kind kind, uint64_t from, const char *topic);
void msg_free(struct msg *m);

/* head and tail share a cache line on purpose: there is one mailbox per
** process (thousands), so padding them apart would cost more memory than
** the rare false sharing between a sender and the running process. */
struct mbox {
	_Atomic(struct msg *) head; /* producers exchange */
	struct msg *tail;           /* consumer only */
	struct msg stub;
};

void mbox_init(struct mbox *b);

/* Push m; the box owns it from now on. Any thread. The caller then wakes
** the process (proc_notify); the mailbox itself schedules nothing. */
void mbox_push(struct mbox *b, struct msg *m);

/* Pop the oldest message, or NULL when empty or when a producer is between
** its exchange and its link (retry later: the process is re-scheduled by
** that producer's wake-up). Consumer only. */
struct msg *mbox_pop(struct mbox *b);

/* True if nothing is queued (a snapshot). Consumer only. */
int mbox_empty(struct mbox *b);

/* {==== Message lists ====}
**
** A singly linked FIFO of messages owned by one thread (the process's), so
** no atomics beyond the relaxed accesses the shared _next field needs.
** Zero-initialised is empty. Every walk over a process's received messages
** goes through these, so the list's links are handled in one place. */

struct mlist {
	struct msg *head, *tail;
	uint64_t n;       /* messages in the list */
	size_t bytes;     /* their memory (msg_bytes), counted toward the
	                  ** owner's memory limit while they wait */
};

/* The memory a message holds: its block and its payload's. */
size_t msg_bytes(const struct msg *m);

/* Append m at the tail; the list owns it from now on. */
void mlist_append(struct mlist *l, struct msg *m);

/* Unlink and return the oldest message for which match(m, arg) is true
** (every message when match is NULL), or NULL if none; the caller owns
** it. The order of the others is kept. */
struct msg *mlist_take(struct mlist *l, int (*match)(const struct msg *m, void *arg),
		       void *arg);

/* Free every message in l and leave it empty. */
void mlist_clear(struct mlist *l);

#endif
