/*
** runtime/cluster.c: the node's connection to the cluster (libnats), the
** routing of messages between nodes, presence and failure of nodes.
**
** Threads. Nothing here runs on a shard, and no shard waits for NATS:
**   - senders (any shard, any thread) append to the destination node's
**     outgoing batch under that peer's mutex, and publish it themselves
**     when it passes BATCH_BYTES, or at once when the link was idle for
**     IDLE_NS (a lone request or reply waits for nobody);
**   - the cluster thread wakes when a batch becomes non-empty, publishes
**     every pending batch, and each tick refreshes this node's presence
**     (a synchronous JetStream KV put) and declares silent nodes down;
**     the names and the process groups (runtime/cnames.c, one instance
**     each) have threads of their own;
**   - libnats's own delivery threads run the subscription callbacks:
**     on_data decodes a batch and hands each message to its process with
**     proc_send (mailbox push + wake-up of its shard through the shard's
**     inbox: the same path as a send from another shard), on_presence
**     marks nodes up, or down when their key is deleted, and on_ack
**     answers another node's STRONG name once our cache holds it.
** Why a thread and not the shards' rings: libnats writes and reads its
** socket from its own threads (the flusher, the reader that dispatches
** subscriptions) and its JetStream calls block for their replies, so
** driving it from io_uring would mean its event-loop adapter on one shard
** and every other shard's remote sends hopping to that one first; the
** hand-off to a shard is already an MPSC push plus a wake-up, which is
** what a cross-shard send costs locally. Measured (2 cores shared with
** the two nodes and nats-server): test/integration/cluster.sh sends
** 100,000 messages from one process to a process on another node in
** 0.15-0.28 s (350k-650k msgs/s); bench/cluster.sh streams 0.95M msgs/s
** and makes 3.6k round trips/s (p50 264 us), where the NATS server's two
** hops per message and libnats's delivery threads take the time, not
** the hand-off to the shard (a local round trip is ~2.5 us).
**
** Order. A sender's messages to one node go into one batch in the order
** sent (the peer's mutex), batches are published in order on one
** connection (published under the same mutex), NATS keeps a publisher's
** order on a subject, and one subscription callback delivers them in
** order: per-sender order holds, as it does locally.
**
** Wire format (host byte order: the nodes of a cluster run one build on
** one architecture, as the payload codec assumes, runtime/payload.h):
**   batch:  "WPY2", u8 n, node name (n bytes), then records
**   record: u8 kind, u8 flags, u16 host length, u32 topic length (with its
**           NUL), u64 to (the number on the destination node), u64 from
**           (the sender's number, 0: none), f64 at, u32 values, u32 bytes,
**           u32 security context bytes, then host, topic, the encoded
**           payload and the sender's security context (its struct proc's
**           sec, for a user message whose sender has one: MSGF_SEC)
** The receiving node checks such a message (and, under strict mode, any
** user message from another node) with the send check that
** lua_modules/security.c installs (cluster_set_send_check): its own
** policies decide process.send, and a refused message is dropped.
** A record that does not parse ends the batch (logged); nothing trusts a
** length before checking it against what is left.
**
** Monitors and links into another node are remembered here (watches:
** target pid, local watcher, monitor or link) when their MONITOR or LINK
** notice is sent, and forgotten when the EXIT or LINK_DOWN arrives or an
** UNMONITOR or UNLINK goes; when the target's node goes down, each watcher
** gets its EXIT or LINK_DOWN with the error "node N left the cluster"
** (kind Unavailable), as a process of a dead node can never send it.
*/
#include "cluster.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "cnames.h"
#include "errors.h"
#include "log.h"
#include "mailbox.h"
#include "node.h"
#include "payload.h"
#include "proc.h"
#include "rt.h"

#define BATCH_BYTES (64u << 10)   /* a sender publishes its batch past this */
#define IDLE_NS 200000           /* a link idle this long publishes at once */
#define HB_MISSES 3               /* silent this many heartbeats: down */
#define SUBJECT_PREFIX "wippy.node."
#define BUCKET "wippy_nodes"
#define ACK_PREFIX "wippy.nameack."  /* + node: STRONG name acknowledgements */
#define MAGIC "WPY2"           /* WPY2: records carry the sender's security context */

struct peer {
	pthread_mutex_t lock;     /* out, nrec, publishing */
	uint8_t *out;             /* header + records */
	size_t len, cap, hdr;     /* hdr: header bytes (always in out) */
	uint32_t nrec;
	atomic_int alive;
	atomic_uint_fast64_t last_ms; /* last presence seen (common_now_ms) */
	uint64_t last_pub_ns;     /* the last publish (under lock) */
	int idx;                  /* node index (node.h) */
	char subject[sizeof(SUBJECT_PREFIX) + NODE_NAME_MAX];
};

struct watch {
	uint64_t target, watcher;
	uint8_t link;             /* LINK (LINK_DOWN on failure) or MONITOR (EXIT) */
};

struct cluster {
	struct rt *rt;
	natsConnection *nc;
	natsSubscription *data, *presence, *ack;
	jsCtx *js;
	kvStore *kv;
	struct cnames *names;     /* cluster-wide names (cnames.c) */
	struct cnames *groups;    /* process groups (lua_modules/pg.c) */
	pthread_t thread;
	uint64_t hb_ms;
	char self_subject[sizeof(SUBJECT_PREFIX) + NODE_NAME_MAX];
	char presence_subject[64];
	uint8_t hdr[4 + 1 + NODE_NAME_MAX];
	size_t hdrlen;

	atomic_int connected;     /* the connection is up (libnats callbacks) */
	atomic_int closed;        /* its last callback ran: c may go */

	pthread_mutex_t lock;     /* the fields below, and peer creation */
	pthread_cond_t wake;
	int dirty, stop;
	struct watch *w;
	size_t nw, capw;
	_Atomic(struct peer *) peers[NODE_MAX];

	lua_State *L;             /* cluster thread only: node-down results */
	lua_State *Ld;            /* the data subscription's thread: send checks */
};

/* The receiving side's process.send check (lua_modules/security.c), or
** NULL: every remote send is let in. */
static cluster_send_check_fn send_check;

void cluster_set_send_check(cluster_send_check_fn fn)
{
	send_check = fn;
}

/* {==== Peers and watches ====} */

static struct peer *peer_get(struct cluster *c, int idx)
{
	return atomic_load_explicit(&c->peers[idx], memory_order_acquire);
}

/* The peer of node idx, made on first sight. Any thread. */
static struct peer *peer_make(struct cluster *c, int idx)
{
	struct peer *pe = peer_get(c, idx);
	if (pe)
		return pe;
	pthread_mutex_lock(&c->lock);
	pe = atomic_load_explicit(&c->peers[idx], memory_order_relaxed);
	if (pe == NULL) {
		pe = xcalloc(1, sizeof(*pe));
		pthread_mutex_init(&pe->lock, NULL);
		pe->idx = idx;
		snprintf(pe->subject, sizeof(pe->subject), SUBJECT_PREFIX "%s",
			 node_name(c->rt, idx));
		pe->cap = BATCH_BYTES * 2;
		pe->out = xmalloc(pe->cap);
		memcpy(pe->out, c->hdr, c->hdrlen);
		pe->hdr = pe->len = c->hdrlen;
		/* release: a sender that sees the pointer sees it whole. */
		atomic_store_explicit(&c->peers[idx], pe, memory_order_release);
	}
	pthread_mutex_unlock(&c->lock);
	return pe;
}

static void watch_add(struct cluster *c, uint64_t target, uint64_t watcher, int link)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nw; i++)
		if (c->w[i].target == target && c->w[i].watcher == watcher &&
		    c->w[i].link == link)
			goto out;
	if (c->nw == c->capw) {
		c->capw = c->capw ? c->capw * 2 : 16;
		c->w = xrealloc(c->w, c->capw * sizeof(*c->w));
	}
	c->w[c->nw++] = (struct watch){ target, watcher, (uint8_t)link };
out:
	pthread_mutex_unlock(&c->lock);
}

static void watch_del(struct cluster *c, uint64_t target, uint64_t watcher, int link)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nw; i++)
		if (c->w[i].target == target && c->w[i].watcher == watcher &&
		    c->w[i].link == link) {
			c->w[i] = c->w[--c->nw];
			break;
		}
	pthread_mutex_unlock(&c->lock);
}

/* {==== Sending ====} */

static void put(struct peer *pe, const void *p, size_t n)
{
	if (pe->len + n > pe->cap) {
		while (pe->len + n > pe->cap)
			pe->cap *= 2;
		pe->out = xrealloc(pe->out, pe->cap);
	}
	memcpy(pe->out + pe->len, p, n);
	pe->len += n;
}

/* Publish pe's batch, if any. Caller holds pe->lock: batches leave in
** the order they were filled. */
static void publish(struct cluster *c, struct peer *pe)
{
	if (pe->nrec == 0)
		return;
	natsStatus s = natsConnection_Publish(c->nc, pe->subject, pe->out, (int)pe->len);
	if (s != NATS_OK)
		log_warn("cluster: %u messages to node %s lost: %s", pe->nrec,
			 node_name(c->rt, pe->idx), natsStatus_GetText(s));
	pe->len = pe->hdr;
	pe->nrec = 0;
	pe->last_pub_ns = common_now_ns();
	if (pe->cap > BATCH_BYTES * 8) { /* one huge message: give it back */
		pe->cap = BATCH_BYTES * 2;
		pe->out = xrealloc(pe->out, pe->cap);
	}
}

int cluster_send(struct rt *rt, uint64_t to, struct msg *m)
{
	struct cluster *c = rt->cluster;
	const char *host = m->from_host ? m->from_host : "";
	struct peer *pe;
	int idx;

	if (c == NULL || (idx = node_of(rt, to, NULL)) <= 0 || (pe = peer_get(c, idx)) == NULL ||
	    !atomic_load_explicit(&pe->alive, memory_order_acquire)) {
		msg_free(m);
		return -EHOSTUNREACH;
	}
	/* Disconnected, a message would wait in libnats's reconnect buffer
	** for a server that may not come back: the sender hears it now. */
	if (!atomic_load_explicit(&c->connected, memory_order_relaxed)) {
		msg_free(m);
		return -ENOTCONN;
	}
	/* The sender is one of ours (a remote `from` has no wire form: none). */
	uint64_t from = pid_is_remote(m->from) ? 0 : m->from;
	switch (m->kind) {
	case MSG_MONITOR:   if (from) watch_add(c, to, from, 0); break;
	case MSG_LINK:      if (from) watch_add(c, to, from, 1); break;
	case MSG_UNMONITOR: if (from) watch_del(c, to, from, 0); break;
	case MSG_UNLINK:    if (from) watch_del(c, to, from, 1); break;
	default: break;
	}
	uint16_t hl = (uint16_t)strnlen(host, 65535);
	uint32_t tl = (uint32_t)strlen(m->topic) + 1, nv = m->payload.nvalues,
		 pl = m->payload.len, sl = 0;
	/* A user message of a sender with a security context carries it, for
	** the receiver's check (its sec is read only for its life, and it
	** is alive: this is its send). */
	struct proc *sp = NULL;
	if ((m->flags & MSGF_SEC) && m->kind == MSG_USER && from &&
	    (sp = proc_find(rt, from)) != NULL)
		sl = sp->sec.len;
	uint64_t num = to & PID_LOCAL_MASK;
	uint8_t head[2] = { m->kind, m->flags };
	int first;

	pthread_mutex_lock(&pe->lock);
	put(pe, head, 2);
	put(pe, &hl, 2);
	put(pe, &tl, 4);
	put(pe, &num, 8);
	put(pe, &from, 8);
	put(pe, &m->at, 8);
	put(pe, &nv, 4);
	put(pe, &pl, 4);
	put(pe, &sl, 4);
	put(pe, host, hl);
	put(pe, m->topic, tl);
	put(pe, payload_data(&m->payload), pl);
	if (sl)
		put(pe, payload_data(&sp->sec), sl);
	first = pe->nrec++ == 0;
	/* An idle link (nothing published for IDLE_NS) sends at once: a
	** request or a reply does not wait for the cluster thread. A busy
	** one leaves the batch to fill until that thread (or BATCH_BYTES)
	** publishes it. */
	if (pe->len >= BATCH_BYTES ||
	    (first && common_now_ns() - pe->last_pub_ns > IDLE_NS)) {
		publish(c, pe);
		first = 0;
	}
	pthread_mutex_unlock(&pe->lock);
	if (sp)
		proc_unref(sp);
	msg_free(m);
	if (first) { /* the cluster thread publishes what is left */
		pthread_mutex_lock(&c->lock);
		c->dirty = 1;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

/* {==== Receiving ====} */

/* Take n bytes from *p (end e) into out; 0 when short. */
static int take(const uint8_t **p, const uint8_t *e, void *out, size_t n)
{
	if ((size_t)(e - *p) < n)
		return 0;
	memcpy(out, *p, n);
	*p += n;
	return 1;
}

/* A process that is not here was monitored or linked from another node:
** answer as a local exit would (an empty result reads as "process not
** found"). */
static void answer_missing(struct rt *rt, const struct msg *m, uint64_t self)
{
	struct msg *r = msg_new(m->kind == MSG_MONITOR ? MSG_EXIT : MSG_LINK_DOWN, self, NULL);
	/* No host: the process is not here to have one. The watcher's node
	** finds the pid it watched by its number (watch_find). */
	r->from_host = "";
	r->at = (double)time(NULL);
	proc_send(rt, m->from, r);
}

/* The watched pid of node idx with number n that watcher watches, or 0. */
static uint64_t watch_find(struct cluster *c, int idx, uint64_t n, uint64_t watcher, int link)
{
	uint64_t pid = 0;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nw; i++)
		if (c->w[i].watcher == watcher && c->w[i].link == link &&
		    (c->w[i].target & PID_LOCAL_MASK) == n &&
		    node_of(c->rt, c->w[i].target, NULL) == idx) {
			pid = c->w[i].target;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return pid;
}

/* Subscription callback on this node's subject: one batch. */
/* Whether remote sender src may process.send to our pid `to`, by this
** node's policies, with the sender's context (sl bytes at secb). The
** data subscription's thread: its scratch state is c->Ld. A target
** that is gone passes (the send finds no one, as a local one would). */
static int remote_allowed(struct cluster *c, uint64_t src, uint64_t to,
			  const uint8_t *secb, uint32_t sl)
{
	struct rt *rt = c->rt;
	struct payload sec;
	char fs[160], ts[160];
	struct proc *t = proc_find(rt, to);

	if (t == NULL)
		return 1;
	snprintf(ts, sizeof(ts), "%.*s", (int)t->pidlen, t->pidstr);
	proc_unref(t);
	node_format_pid(rt, fs, sizeof(fs), "?", src);
	if (c->Ld == NULL && (c->Ld = luaL_newstate()) == NULL)
		return 0;
	memset(&sec, 0, sizeof(sec));
	sec.nvalues = sl ? 1 : 0;
	sec.len = sl;
	if (sl > PAYLOAD_INLINE) {
		sec._u.heap = xmalloc(sl);
		memcpy(sec._u.heap, secb, sl);
	} else if (sl) {
		memcpy(sec._u.inl, secb, sl);
	}
	int ok = send_check(rt, c->Ld, &sec, fs, ts);
	payload_free(&sec);
	return ok;
}

static void on_data(natsConnection *nc, natsSubscription *sub, natsMsg *nm, void *arg)
{
	struct cluster *c = arg;
	struct rt *rt = c->rt;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(nm), *e = p + natsMsg_GetDataLength(nm);
	uint8_t nlen;
	char node[NODE_NAME_MAX];
	(void)nc; (void)sub;

	if (e - p < 5 || memcmp(p, MAGIC, 4) != 0 || (nlen = p[4]) == 0 ||
	    nlen >= NODE_NAME_MAX || e - p < 5 + nlen) {
		log_warn("cluster: a malformed batch on %s ignored", c->self_subject);
		goto out;
	}
	memcpy(node, p + 5, nlen);
	node[nlen] = '\0';
	p += 5 + nlen;
	/* A batch from a node proves it up, and may overtake its first
	** heartbeat (another subscription, another delivery thread): an
	** answer to it must not find it unknown. */
	int sidx = node_index(rt, node, nlen);
	if (sidx > 0) {
		struct peer *pe = peer_make(c, sidx);
		atomic_store(&pe->last_ms, common_now_ms());
		atomic_store(&pe->alive, 1);
	}
	while (p < e) {
		uint8_t head[2];
		uint16_t hl;
		uint32_t tl, nv, pl, sl;
		uint64_t to, from;
		double at;
		if (!take(&p, e, head, 2) || !take(&p, e, &hl, 2) || !take(&p, e, &tl, 4) ||
		    !take(&p, e, &to, 8) || !take(&p, e, &from, 8) || !take(&p, e, &at, 8) ||
		    !take(&p, e, &nv, 4) || !take(&p, e, &pl, 4) || !take(&p, e, &sl, 4) ||
		    (size_t)(e - p) < (size_t)hl + tl + pl + sl || tl == 0 ||
		    p[hl + tl - 1] != '\0' || head[0] > MSG_UNLINK ||
		    pid_is_remote(to) || pid_is_remote(from) ||
		    pl > PAYLOAD_MAXBYTES || sl > PAYLOAD_MAXBYTES) {
			log_warn("cluster: a malformed message from node %s ends its batch", node);
			break;
		}
		const char *host = (const char *)p, *topic = (const char *)p + hl;
		const uint8_t *bytes = p + hl + tl, *secb = bytes + pl;
		p += (size_t)hl + tl + pl + sl;
		uint64_t src = 0;
		if (from && hl == 0 && (head[0] == MSG_EXIT || head[0] == MSG_LINK_DOWN))
			src = watch_find(c, node_index(rt, node, nlen), from, to,
					 head[0] == MSG_LINK_DOWN);
		else if (from)
			src = node_pid(rt, node, nlen, host, hl, from);
		if (head[0] == MSG_USER && src && send_check && (sl || rt->conf.security_strict) &&
		    !remote_allowed(c, src, to, secb, sl)) {
			char fs[160];
			node_format_pid(rt, fs, sizeof(fs), "?", src);
			log_debug("cluster: a send from %s to local pid 0x%llx dropped: "
				  "process.send not allowed here", fs, (unsigned long long)to);
			log_flush();
			continue;
		}
		struct msg *m = msg_new((enum msg_kind)head[0], src, topic);
		m->flags = head[1];
		m->at = at;
		if (src && node_of(rt, src, &m->from_host) < 0)
			m->from_host = NULL;
		m->payload.nvalues = nv;
		m->payload.len = pl;
		if (pl > PAYLOAD_INLINE) {
			m->payload._u.heap = xmalloc(pl);
			memcpy(m->payload._u.heap, bytes, pl);
		} else if (pl) {
			memcpy(m->payload._u.inl, bytes, pl);
		}
		/* The EXIT or LINK_DOWN of a watched process: the watch is done. */
		if (src && (m->kind == MSG_EXIT || m->kind == MSG_LINK_DOWN))
			watch_del(c, src, to, m->kind == MSG_LINK_DOWN);
		int kind = m->kind;
		struct msg probe = { .kind = m->kind, .from = src };
		if (proc_send(rt, to, m) == -ESRCH && src &&
		    (kind == MSG_MONITOR || kind == MSG_LINK))
			answer_missing(rt, &probe, to);
	}
out:
	natsMsg_Destroy(nm);
}

/* {==== Presence ====} */

/* Fire the watches on node idx's processes and forget them. Cluster
** thread (it owns c->L). */
static void node_down(struct cluster *c, struct peer *pe)
{
	const char *name = node_name(c->rt, pe->idx);
	struct watch *fire = NULL;
	size_t n = 0;
	struct payload res;

	if (atomic_exchange(&pe->alive, 0) == 0)
		return;
	pthread_mutex_lock(&pe->lock);
	pe->len = pe->hdr;  /* what was queued for it can no longer arrive */
	pe->nrec = 0;
	pthread_mutex_unlock(&pe->lock);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nw;) {
		if (node_of(c->rt, c->w[i].target, NULL) == pe->idx) {
			fire = xrealloc(fire, (n + 1) * sizeof(*fire));
			fire[n++] = c->w[i];
			c->w[i] = c->w[--c->nw];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	log_info("cluster: node %s left the cluster (%zu monitors and links fire)", name, n);
	cnames_node_down(c->names, pe->idx);
	cnames_node_down(c->groups, pe->idx);
	log_flush();
	/* The result every watcher gets: {error = <Unavailable error>}. */
	memset(&res, 0, sizeof(res));
	lua_settop(c->L, 0);
	lua_createtable(c->L, 0, 1);
	errors_push(c->L, ERRORS_UNAVAILABLE, "node %s left the cluster", name);
	lua_setfield(c->L, -2, "error");
	if (payload_encode(c->L, 1, 1, &res) < 0)
		memset(&res, 0, sizeof(res));
	lua_settop(c->L, 0);
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msg_new(fire[i].link ? MSG_LINK_DOWN : MSG_EXIT, fire[i].target, NULL);
		node_of(c->rt, fire[i].target, &m->from_host);
		m->at = (double)time(NULL);
		payload_copy(&m->payload, &res);
		proc_send(c->rt, fire[i].watcher, m);
	}
	payload_free(&res);
	free(fire);
}

/* Subscription callback on the presence bucket's subjects: a node's
** heartbeat (a put of its key), or its leaving (a delete). */
static void on_presence(natsConnection *nc, natsSubscription *sub, natsMsg *nm, void *arg)
{
	struct cluster *c = arg;
	const char *subj = natsMsg_GetSubject(nm), *op = NULL;
	size_t pl = strlen(c->presence_subject) - 1; /* without the '>' */
	(void)nc; (void)sub;

	if (strlen(subj) > pl) {
		const char *name = subj + pl;
		int idx = node_index(c->rt, name, strlen(name));
		if (idx > 0) {
			struct peer *pe = peer_make(c, idx);
			natsMsgHeader_Get(nm, "KV-Operation", &op);
			if (op && (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0)) {
				/* Down at the next tick, on the thread that owns c->L. */
				atomic_store(&pe->last_ms, 0);
			} else {
				atomic_store(&pe->last_ms, common_now_ms());
				if (atomic_exchange(&pe->alive, 1) == 0) {
					log_info("cluster: node %s joined", name);
					log_flush();
				}
			}
		}
	}
	natsMsg_Destroy(nm);
}

/* libnats's connection callbacks (its threads). */
static void on_disconnected(natsConnection *nc, void *arg)
{
	struct cluster *c = arg;
	(void)nc;
	atomic_store(&c->connected, 0);
	log_warn("cluster: disconnected from %s; sends to other nodes fail until it is back",
		 c->rt->conf.cluster_nats);
	log_flush();
}

static void on_reconnected(natsConnection *nc, void *arg)
{
	struct cluster *c = arg;
	(void)nc;
	char url[256] = "";
	atomic_store(&c->connected, 1);
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_info("cluster: reconnected to %s", url);
	log_flush();
}

/* The last callback libnats makes for a connection (after the others,
** on the same thread): from here on it touches c no more. */
static void on_closed(natsConnection *nc, void *arg)
{
	struct cluster *c = arg;
	(void)nc;
	atomic_store(&c->closed, 1);
}

/* {==== STRONG names: the acknowledgement barrier ====} */

static uint64_t ack_wait_ms(const struct cluster *c)
{
	return c->hb_ms * 2 > 500 ? c->hb_ms * 2 : 500;
}

/* A request on ACK_PREFIX<self>: "name\0value". Answers "ok" once this
** node's cache of names holds name -> value, which its watcher brings;
** silent if not within ack_wait_ms (the registrar's request times out).
** The ack subscription's own libnats thread: waiting here holds up only
** other acknowledgements. */
static void on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *nm, void *arg)
{
	struct cluster *c = arg;
	const char *d = natsMsg_GetData(nm), *reply = natsMsg_GetReply(nm);
	int len = natsMsg_GetDataLength(nm);
	const char *nul = d ? memchr(d, '\0', (size_t)len) : NULL;
	(void)sub;
	if (nul && reply && c->names) {
		uint64_t pid = node_parse_pid(c->rt, nul + 1, (size_t)(d + len - nul - 1));
		uint64_t until = common_now_ms() + ack_wait_ms(c);
		while (pid && cnames_lookup(c->names, d) != pid && common_now_ms() < until)
			nats_Sleep(5);
		if (pid && cnames_lookup(c->names, d) == pid)
			natsConnection_PublishString(nc, reply, "ok");
	}
	natsMsg_Destroy(nm);
}

int cluster_strong_ack(struct rt *rt, const char *name, const char *value)
{
	struct cluster *c = rt->cluster;
	char subj[sizeof(ACK_PREFIX) + NODE_NAME_MAX];
	size_t nl = strlen(name), vl = strlen(value);
	char *req;

	if (c == NULL)
		return 0;
	req = xmalloc(nl + 1 + vl);
	memcpy(req, name, nl + 1);
	memcpy(req + nl + 1, value, vl);
	int rc = 0;
	for (int i = 1; i < NODE_MAX && rc == 0; i++) {
		struct peer *pe = peer_get(c, i);
		natsMsg *r = NULL;
		if (pe == NULL || !atomic_load(&pe->alive))
			continue;
		snprintf(subj, sizeof(subj), ACK_PREFIX "%s", node_name(rt, i));
		/* Its wait, plus the round trip. */
		if (natsConnection_Request(&r, c->nc, subj, req, (int)(nl + 1 + vl),
					   (int64_t)ack_wait_ms(c) + 500) != NATS_OK) {
			log_warn("cluster: node %s did not acknowledge the strong name %s",
				 node_name(rt, i), name);
			rc = -1;
		}
		if (r)
			natsMsg_Destroy(r);
	}
	free(req);
	return rc;
}

/* {==== The cluster thread ====} */

/* Refresh this node's presence. 0, or -1 when the KV did not take it
** in time (the put failed, or took longer than a heartbeat): JetStream
** itself is in trouble (its servers re-electing a leader, or gone). */
static int heartbeat(struct cluster *c)
{
	uint64_t t0 = common_now_ms();
	natsStatus s = kvStore_PutString(NULL, c->kv, node_self(c->rt), "up");
	if (s != NATS_OK) {
		log_warn("cluster: presence refresh failed: %s", natsStatus_GetText(s));
		log_flush();
		return -1;
	}
	return common_now_ms() - t0 > c->hb_ms ? -1 : 0;
}

static void flush_all(struct cluster *c)
{
	for (int i = 1; i < NODE_MAX; i++) {
		struct peer *pe = peer_get(c, i);
		if (pe == NULL)
			continue;
		pthread_mutex_lock(&pe->lock);
		publish(c, pe);
		pthread_mutex_unlock(&pe->lock);
	}
}

static void *cluster_main(void *arg)
{
	struct cluster *c = arg;
	uint64_t next_hb = 0, grace_until = 0, tick = c->hb_ms / 4 ? c->hb_ms / 4 : 1;

	for (;;) {
		uint64_t now = common_now_ms();
		pthread_mutex_lock(&c->lock);
		if (!c->dirty && !c->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + tick * 1000000ull;
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec = (long)(ns % 1000000000ull);
			pthread_cond_timedwait(&c->wake, &c->lock, &ts);
		}
		int stop = c->stop;
		c->dirty = 0;
		pthread_mutex_unlock(&c->lock);
		flush_all(c);
		if (stop)
			break;
		now = common_now_ms();
		if (now >= next_hb) {
			/* While the KV cannot take our own presence, the others'
			** silence says nothing of them: no node is judged down
			** until the KV has worked for HB_MISSES heartbeats again
			** (a NATS server lost from a cluster of them, and its
			** buckets' Raft leaders re-elected, is not every node
			** dying). */
			if (heartbeat(c) != 0)
				grace_until = common_now_ms() + HB_MISSES * c->hb_ms;
			now = common_now_ms();
			next_hb = now + c->hb_ms;
		}
		for (int i = 1; i < NODE_MAX && now >= grace_until; i++) {
			struct peer *pe = peer_get(c, i);
			if (pe && atomic_load(&pe->alive) &&
			    now - atomic_load(&pe->last_ms) > HB_MISSES * c->hb_ms)
				node_down(c, pe);
		}
	}
	return NULL;
}

/* {==== Start and stop ====} */

static void destroy(struct cluster *c)
{
	/* on_ack reads the names: its callbacks end before they go. */
	if (c->ack && natsSubscription_Drain(c->ack) == NATS_OK)
		natsSubscription_WaitForDrainCompletion(c->ack, 3000);
	cnames_stop(c->names); /* its threads use the connection */
	cnames_stop(c->groups);
	c->names = NULL;
	if (c->data)
		natsSubscription_Destroy(c->data);
	if (c->presence)
		natsSubscription_Destroy(c->presence);
	if (c->ack)
		natsSubscription_Destroy(c->ack);
	if (c->kv)
		kvStore_Destroy(c->kv);
	if (c->js)
		jsCtx_Destroy(c->js);
	if (c->nc) {
		/* Closing runs the disconnected and closed callbacks on
		** libnats's thread, with c: wait for the last (bounded). */
		natsConnection_Close(c->nc);
		for (int i = 0; i < 2000 && !atomic_load(&c->closed); i++)
			nats_Sleep(1);
		natsConnection_Destroy(c->nc);
	}
	for (int i = 1; i < NODE_MAX; i++) {
		struct peer *pe = atomic_load(&c->peers[i]);
		if (pe) {
			pthread_mutex_destroy(&pe->lock);
			free(pe->out);
			free(pe);
		}
	}
	if (c->L)
		lua_close(c->L);
	if (c->Ld)
		lua_close(c->Ld);
	free(c->w);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	free(c);
	/* Ends the library's own threads too (nats_Open was implicit). */
	nats_Close();
}

int cluster_kv_open(void *js, void *cfg, void **kv)
{
	kvConfig *kc = cfg;
	kvStore *st = NULL;

	/* Bind first: the bucket is usually there (made by the first node). */
	if (js_KeyValue(&st, js, kc->Bucket) == NATS_OK) {
		*kv = st;
		return 0;
	}
	/* Three replicas where the servers can hold them (JetStream's Raft
	** then keeps the bucket through the loss of one server), else one. */
	kc->Replicas = 3;
	if (js_CreateKeyValue(&st, js, kc) != NATS_OK) {
		kc->Replicas = 1;
		if (js_CreateKeyValue(&st, js, kc) != NATS_OK &&
		    js_KeyValue(&st, js, kc->Bucket) != NATS_OK) /* a racing node made it */
			return -1;
	}
	*kv = st;
	return 0;
}

/* Give opts the servers of url: one URL or a comma-separated list (every
** server of a NATS cluster, so that a node reconnects to another when
** its own goes away; libnats also learns the others from the server). */
static natsStatus set_servers(natsOptions *opts, const char *url)
{
	char buf[sizeof(((struct rt *)0)->conf.cluster_nats)];
	const char *list[16];
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", url);
	for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t && n < 16;
	     t = strtok_r(NULL, ", ", &save))
		list[n++] = t;
	if (n <= 1)
		return natsOptions_SetURL(opts, url);
	return natsOptions_SetServers(opts, list, n);
}

int cluster_start(struct rt *rt)
{
	struct cluster *c;
	natsOptions *opts = NULL;
	natsStatus s;
	kvConfig kc;
	const char *self = node_self(rt), *what = "connect";
	char name[NODE_NAME_MAX + 8], acksub[sizeof(ACK_PREFIX) + NODE_NAME_MAX];

	if (!rt->conf.cluster_enabled)
		return 0;
	if (rt->conf.cluster_nats[0] == '\0') {
		fprintf(stderr, "wippy: cluster.enabled without cluster.nats (or --cluster URL)\n");
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->rt = rt;
	c->hb_ms = (uint64_t)(rt->conf.cluster_hb_ns / 1000000);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->L = luaL_newstate();
	memcpy(c->hdr, MAGIC, 4);
	c->hdr[4] = (uint8_t)strlen(self);
	memcpy(c->hdr + 5, self, strlen(self));
	c->hdrlen = 5 + strlen(self);
	snprintf(c->self_subject, sizeof(c->self_subject), SUBJECT_PREFIX "%s", self);
	snprintf(c->presence_subject, sizeof(c->presence_subject), "$KV.%s.>", BUCKET);
	snprintf(name, sizeof(name), "wippy-%s", self);

	if ((s = natsOptions_Create(&opts)) != NATS_OK ||
	    (s = set_servers(opts, rt->conf.cluster_nats)) != NATS_OK ||
	    (s = natsOptions_SetName(opts, name)) != NATS_OK ||
	    (s = natsOptions_SetMaxReconnect(opts, -1)) != NATS_OK ||
	    (s = natsOptions_SetReconnectWait(opts, 200)) != NATS_OK ||
	    /* Our batches are the buffering: libnats's own flusher would add
	    ** about a millisecond to every publish (a round trip: 2 ms). */
	    (s = natsOptions_SetSendAsap(opts, true)) != NATS_OK ||
	    (s = natsOptions_SetDisconnectedCB(opts, on_disconnected, c)) != NATS_OK ||
	    (s = natsOptions_SetReconnectedCB(opts, on_reconnected, c)) != NATS_OK ||
	    (s = natsOptions_SetClosedCB(opts, on_closed, c)) != NATS_OK ||
	    (s = natsConnection_Connect(&c->nc, opts)) != NATS_OK)
		goto err;
	atomic_store(&c->connected, 1);
	what = "open JetStream";
	if ((s = natsConnection_JetStream(&c->js, c->nc, NULL)) != NATS_OK)
		goto err;
	what = "open the presence bucket " BUCKET;
	kvConfig_Init(&kc);
	kc.Bucket = BUCKET;
	kc.History = 1;
	kc.TTL = HB_MISSES * rt->conf.cluster_hb_ns; /* nanoseconds (MaxAge) */
	/* Made by the first node; the others bind to it (its TTL is the
	** first node's: give every node the same heartbeat). */
	if (cluster_kv_open(c->js, &kc, (void **)&c->kv) != 0) {
		s = NATS_ERR;
		goto err;
	}
	what = "subscribe";
	if ((s = natsConnection_Subscribe(&c->data, c->nc, c->self_subject, on_data, c)) != NATS_OK ||
	    (s = natsSubscription_SetPendingLimits(c->data, -1, -1)) != NATS_OK ||
	    (s = natsConnection_Subscribe(&c->presence, c->nc, c->presence_subject,
					  on_presence, c)) != NATS_OK ||
	    (s = natsConnection_Flush(c->nc)) != NATS_OK)
		goto err;
	natsOptions_Destroy(opts);
	opts = NULL;
	/* The nodes already there: up now (their keys have not expired),
	** instead of at their next heartbeat. */
	kvKeysList keys = {0};
	if (kvStore_Keys(&keys, c->kv, NULL) == NATS_OK) {
		for (int i = 0; i < keys.Count; i++) {
			int idx = node_index(rt, keys.Keys[i], strlen(keys.Keys[i]));
			if (idx > 0) {
				struct peer *pe = peer_make(c, idx);
				atomic_store(&pe->last_ms, common_now_ms());
				atomic_store(&pe->alive, 1);
			}
		}
		kvKeysList_Destroy(&keys);
	}
	what = "open the names bucket";
	s = NATS_ERR;
	if ((c->names = cnames_start(rt, c->js, "wippy_names")) == NULL)
		goto err;
	what = "subscribe";
	snprintf(acksub, sizeof(acksub), ACK_PREFIX "%s", self);
	if ((s = natsConnection_Subscribe(&c->ack, c->nc, acksub, on_ack, c)) != NATS_OK)
		goto err;
	what = "open the process groups bucket";
	if ((c->groups = cnames_start(rt, c->js, "wippy_groups")) == NULL)
		goto err;
	heartbeat(c);
	rt->cluster = c;
	if (pthread_create(&c->thread, NULL, cluster_main, c) != 0) {
		rt->cluster = NULL;
		what = "start its thread";
		s = NATS_SYS_ERROR;
		goto err;
	}
	log_info("cluster: node %s joined %s", self, rt->conf.cluster_nats);
	return 0;
err:
	fprintf(stderr, "wippy: cluster: cannot %s at %s: %s\n", what, rt->conf.cluster_nats,
		natsStatus_GetText(s));
	if (opts)
		natsOptions_Destroy(opts);
	destroy(c);
	return -1;
}

void cluster_stop(struct rt *rt)
{
	struct cluster *c = rt->cluster;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	kvStore_Delete(c->kv, node_self(rt)); /* the others see us go now */
	natsConnection_Flush(c->nc);
	/* No callback may run past destroy: drain both subscriptions and wait
	** for the callbacks in flight, then clear rt->cluster for the senders. */
	natsSubscription_Drain(c->data);
	natsSubscription_Drain(c->presence);
	natsSubscription_WaitForDrainCompletion(c->data, 2000);
	natsSubscription_WaitForDrainCompletion(c->presence, 2000);
	rt->cluster = NULL;
	destroy(c);
}

int cluster_node_present(struct rt *rt, int idx)
{
	struct cluster *c = rt->cluster;
	kvEntry *e = NULL;
	const char *name;
	int up;

	if (c == NULL || idx < 0 || (name = node_name(rt, idx)) == NULL)
		return 0;
	if (idx == 0)
		return 1;
	/* A node heard of: what its heartbeats say (a node declared down
	** stays down until it beats again, even while its key lingers). */
	struct peer *pe = peer_get(c, idx);
	if (pe)
		return atomic_load(&pe->alive);
	if (kvStore_Get(&e, c->kv, name) != NATS_OK)
		return 0;
	up = kvEntry_Operation(e) == kvOp_Put;
	kvEntry_Destroy(e);
	return up;
}

struct cnames *cluster_names(struct rt *rt)
{
	struct cluster *c = rt->cluster;
	return c ? c->names : NULL;
}

void cluster_proc_exit(struct rt *rt, uint64_t pid)
{
	struct cluster *c = rt->cluster;
	if (c && c->names)
		cnames_exit(c->names, pid);
	if (c && c->groups)
		cnames_exit(c->groups, pid);
}

struct cnames *cluster_groups(struct rt *rt)
{
	struct cluster *c = rt->cluster;
	return c ? c->groups : NULL;
}

int cluster_members(struct rt *rt, int *out, int max)
{
	struct cluster *c = rt->cluster;
	int n = 0;
	if (c == NULL)
		return 0;
	for (int i = 1; i < NODE_MAX && n < max; i++) {
		struct peer *pe = peer_get(c, i);
		if (pe && atomic_load(&pe->alive))
			out[n++] = i;
	}
	return n;
}
