/*
** runtime/cluster.h: this runtime as a node of a cluster on NATS with
** JetStream (cluster.enabled, or `wippy run --cluster URL`).
**
** Off (rt->cluster NULL), nothing connects, no thread starts, and the
** message path is as it was: proc_send tests the destination pid's origin
** bits (runtime/node.h) and a local pid never comes here.
**
** On: every node subscribes to its own subject, and a send to a pid of
** another node is encoded into that node's outgoing batch and published
** on its subject; the receiving node's NATS thread decodes each message
** and delivers it with proc_send, so the receiver's `from` is a remote
** pid it can answer. Presence is a key per node in a JetStream KV bucket
** whose TTL is 3 heartbeats, refreshed every heartbeat; a node not heard
** of for that long (or whose key is deleted as it leaves) is down, and the
** monitors and links that local processes hold on its processes fire
** with an Unavailable error naming it; its processes' cluster-wide names
** (runtime/cnames.h) are released. See cluster.c for the threads.
*/
#ifndef RUNTIME_CLUSTER_H
#define RUNTIME_CLUSTER_H

#include <stdint.h>

struct rt;
struct msg;
struct cnames;
struct payload;
typedef struct lua_State lua_State;

/* Join the cluster when rt->conf asks for it (after the shards started:
** deliveries go to their inboxes). 0 (also when no cluster is asked
** for), or -1 with the reason printed: the server cannot be reached, or
** JetStream is off there. Main thread. */
int cluster_start(struct rt *rt);

/* Bind to the JetStream KV bucket cfg (a kvConfig *) describes, or make
** it: replicated on 3 servers when the NATS cluster has them, else on 1
** (a lone server refuses 3). *kv gets the kvStore *. Returns 0, or -1.
** An existing bucket keeps the replicas it was made with. */
int cluster_kv_open(void *js, void *cfg, void **kv);

/* The STRONG barrier (runtime/cnames.c): ask every live node but this one
** whether its cache of cluster names holds name -> value (a pid string),
** each waiting for its watcher up to 2 heartbeats. 0 when all said so
** (or there is no other node), -1 when one did not answer in time. Blocks:
** the names thread only. */
int cluster_strong_ack(struct rt *rt, const char *name, const char *value);

/* Leave: delete this node's presence key (the others see it go at once),
** send what is queued, close the connection and join the threads. After
** the shards ended. Idempotent; a no-op without a cluster. */
void cluster_stop(struct rt *rt);

/* Send m to the remote pid `to` (pid_is_remote). Any thread. 0 once it is
** queued for its node (m is consumed), or (m is freed) -EHOSTUNREACH when
** rt is in no cluster or to's node is unknown or down, -ENOTCONN while
** the connection to the NATS server is down. MONITOR and LINK
** notices are remembered, so that they fire if the node goes down. */
int cluster_send(struct rt *rt, uint64_t to, struct msg *m);

/* Whether node idx is up: for a node heard of, what its heartbeats say;
** for one never heard of, whether its presence key is in the KV now,
** which asks the server and blocks (never call it from a shard). 1 for
** this node. */
int cluster_node_present(struct rt *rt, int idx);

/* The cluster-wide names (runtime/cnames.h), or NULL: no cluster. */
struct cnames *cluster_names(struct rt *rt);

/* The process groups (a struct cnames over the bucket wippy_groups, see
** lua_modules/pg.c), or NULL: no cluster. */
struct cnames *cluster_groups(struct rt *rt);

/* The node indexes (node.h) of the other nodes that are up now, at most
** max of them, into out. Returns how many (0 without a cluster). Any
** thread. */
int cluster_members(struct rt *rt, int *out, int max);

/* The receiving node's check of a user message from another node whose
** sender may be bound by policies: rt, a scratch Lua state of the
** calling thread, the sender's security context as it travelled (empty:
** none), the sender's pid string, and the local target's pid string. 1
** lets the message in; 0 drops it (logged at debug), as the original
** reports nothing back across nodes. */
typedef int (*cluster_send_check_fn)(struct rt *rt, lua_State *L, const struct payload *sec,
				     const char *from, const char *to);

/* Set the check (lua_modules/linit.c at start, before any cluster). */
void cluster_set_send_check(cluster_send_check_fn fn);

/* Process pid of this node ended (proc.c, on its exit): release its
** cluster-wide names and its group memberships. Any thread; call only
** when rt->cluster is set. */
void cluster_proc_exit(struct rt *rt, uint64_t pid);

#endif
