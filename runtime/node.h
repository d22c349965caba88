/*
** runtime/node.h: node identity and remote pids.
**
** A node is one `wippy run` in a cluster (runtime/cluster.h); its name is
** cluster.node (--node NAME). A pid is a uint64_t everywhere in the
** runtime (mailboxes, monitors, links, names): a local process's pid is
** its counter (below 2^PID_NODE_SHIFT), and a process of another node is
** the same counter with an origin index in the bits above it. An origin
** is one (node, host) pair, interned on first sight and never freed (a
** cluster has few nodes and hosts), so a remote pid is as cheap to keep,
** compare and send as a local one, and `pid >> PID_NODE_SHIFT` is the
** whole test a send makes for "is it remote".
**
** Text: "{host|0x00004}" for a local pid, "{node@host|0x00004}" for a
** remote one, as the original prints a pid with a node. While this node
** is in a cluster its own pids print with its name too, so a pid that
** travels in a message payload names its node wherever it is read; with
** no cluster nothing changes. A pid string naming this node parses back
** to the local pid.
**
** Any thread: the tables are append-only; lookups take no lock.
*/
#ifndef RUNTIME_NODE_H
#define RUNTIME_NODE_H

#include <stddef.h>
#include <stdint.h>

struct rt;

#define PID_NODE_SHIFT 40
#define PID_LOCAL_MASK ((UINT64_C(1) << PID_NODE_SHIFT) - 1)
#define NODE_MAX 1024         /* nodes one runtime can name */
#define NODE_NAME_MAX 64

/* Whether pid names a process of another node. */
static inline int pid_is_remote(uint64_t pid)
{
	return (pid >> PID_NODE_SHIFT) != 0;
}

/* Set up the tables for rt, with this node's name (cluster.node, else the
** machine's host name) and whether it is in a cluster (qualified pids).
** Returns 0, or -1 with the reason printed. */
int node_init(struct rt *rt);
void node_free(struct rt *rt);

/* This node's name ("" before node_init). */
const char *node_self(const struct rt *rt);

/* The index (1..NODE_MAX-1) of node name (len bytes), interned; 0 when it
** is this node's own name, -1 when the table is full or the name is
** empty or too long. */
int node_index(struct rt *rt, const char *name, size_t len);

/* The name of node index i (from node_index or node_of), or NULL. */
const char *node_name(const struct rt *rt, int i);

/* The pid of process number n of host on node (interned): n itself when
** node is this node. 0 when the tables are full or n is 0. */
uint64_t node_pid(struct rt *rt, const char *node, size_t nlen,
		  const char *host, size_t hlen, uint64_t n);

/* The node index and the host of a remote pid (the host string is
** interned: it lives as long as rt). -1 for a local or unknown pid. */
int node_of(const struct rt *rt, uint64_t pid, const char **host);

/* Parse "{host|0x1f}", "{node@host|0x1f}" or "{host|mid|0x1f}" (the
** middle part is dropped, as the original's ParsePID does). Returns the
** pid, 0 when s is not a pid. */
uint64_t node_parse_pid(struct rt *rt, const char *s, size_t len);

/* Format pid, of host (used for a local pid), into buf like snprintf.
** Returns the untruncated length. */
int node_format_pid(const struct rt *rt, char *buf, size_t size, const char *host,
		    uint64_t pid);

#endif
