/*
** test/unit/runtime/node.c: node names and remote pids (runtime/node.c).
**
** A pid string naming another node parses into a remote pid whose origin
** (node, host) formats back to the same string; one naming this node is
** the local pid; the same (node, host) is interned once; names that would
** make a pid string or a NATS subject ambiguous are refused; malformed
** strings are not pids. Without a cluster, local pids keep their form.
*/
#include "runtime/node.h"

#include <stdio.h>
#include <string.h>

#include "runtime/rt.h"
#include "tap.h"

static struct rt *mk(const char *name, int clustered)
{
	static struct rt rt;
	memset(&rt, 0, sizeof(rt));
	conf_defaults(&rt.conf);
	snprintf(rt.conf.cluster_node, sizeof(rt.conf.cluster_node), "%s", name);
	rt.conf.cluster_enabled = clustered;
	return &rt;
}

#define S(lit) lit, sizeof(lit) - 1

int main(void)
{
	struct rt *rt = mk("A", 1);
	char buf[128];
	const char *host;

	ok(node_init(rt) == 0 && strcmp(node_self(rt), "A") == 0, "node A");
	uint64_t p = node_parse_pid(rt, S("{B@app:processes|0x0001f}"));
	ok(pid_is_remote(p) && (p & PID_LOCAL_MASK) == 0x1f, "B's pid is remote, number kept");
	int ni = node_of(rt, p, &host);
	ok(ni > 0 && strcmp(node_name(rt, ni), "B") == 0 && strcmp(host, "app:processes") == 0,
	   "its origin: node B, host app:processes");
	node_format_pid(rt, buf, sizeof(buf), "ignored", p);
	ok(strcmp(buf, "{B@app:processes|0x0001f}") == 0, "formats back: %s", buf);
	ok(node_parse_pid(rt, S("{B@app:processes|0x00002}")) ==
	   (((p >> PID_NODE_SHIFT) << PID_NODE_SHIFT) | 2), "same origin interned once");
	uint64_t q = node_parse_pid(rt, S("{B@app:other|0x00002}"));
	ok(pid_is_remote(q) && (q >> PID_NODE_SHIFT) != (p >> PID_NODE_SHIFT) &&
	   node_of(rt, q, NULL) == ni, "another host of B: another origin, same node");
	ok(node_parse_pid(rt, S("{A@app:processes|0x00007}")) == 7, "own node: the local pid");
	ok(node_parse_pid(rt, S("{app:processes|0x00007}")) == 7, "no node: the local pid");
	ok(node_parse_pid(rt, S("{B@app:processes|mid|0x00003}")) ==
	   (((p >> PID_NODE_SHIFT) << PID_NODE_SHIFT) | 3), "a middle part is dropped");
	node_format_pid(rt, buf, sizeof(buf), "app:processes", 7);
	ok(strcmp(buf, "{A@app:processes|0x00007}") == 0, "own pids name the node in a cluster");
	ok(node_parse_pid(rt, S("{@app:processes|0x00003}")) == 0, "empty node: not a pid");
	ok(node_parse_pid(rt, S("{B@app:processes|0x}")) == 0 &&
	   node_parse_pid(rt, S("B@app:processes|0x1")) == 0 &&
	   node_parse_pid(rt, S("{B@app:processes|0x00000}")) == 0, "malformed: not pids");
	ok(node_of(rt, 7, NULL) == -1 && node_of(rt, (UINT64_C(4000) << PID_NODE_SHIFT) | 1, NULL) == -1,
	   "a local or unknown origin has no node");
	node_format_pid(rt, buf, sizeof(buf), "h", (UINT64_C(4000) << PID_NODE_SHIFT) | 1);
	ok(strcmp(buf, "{?@?|0x00001}") == 0, "an unknown origin formats as ?: %s", buf);
	char longname[NODE_NAME_MAX + 8];
	memset(longname, 'x', sizeof(longname));
	ok(node_index(rt, longname, NODE_NAME_MAX) == -1 && node_index(rt, "", 0) == -1,
	   "too long or empty node names are refused");
	node_free(rt);

	rt = mk("C", 0);
	ok(node_init(rt) == 0, "node C, not in a cluster");
	node_format_pid(rt, buf, sizeof(buf), "app:processes", 4);
	ok(strcmp(buf, "{app:processes|0x00004}") == 0, "local pids keep their form: %s", buf);
	ok(pid_is_remote(node_parse_pid(rt, S("{A@app:processes|0x00004}"))),
	   "another node's pid is still remote (its sends give Unavailable)");
	node_free(rt);

	static const char *bad[] = { "a@b", "a|b", "a.b", "a b", "a*", "a>", "{a" };
	int refused = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rt = mk(bad[i], 1);
		if (node_init(rt) == 0) {
			refused = 0;
			node_free(rt);
		}
	}
	ok(refused, "names with @ | . space * > { are refused");
	return tap_done();
}
