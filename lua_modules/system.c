/*
** lua_modules/system.c: require("system"), the part of the original's
** module that reads the runtime's own figures: system.memory (stats,
** allocated), system.hosts.list (process counts per host),
** system.runtime.cpu_count and system.process (pid, hostname, cwd).
**
** Each call is checked as in the original (system.read on memory, hosts,
** cpu, pid, hostname, cwd); a denied one gives nil and a PermissionDenied
** error (the original's code gives kind Invalid there; its spec says
** PERMISSION_DENIED, which is what this does). The figures are those of
** the metrics endpoint (runtime/rstats.h): memory.allocated is the sum of
** the live Lua heaps, as of each state's last step. Go-specific fields of
** memory.stats (GC cycles, spans, stacks) have no counterpart and are
** left out; see docs/compatibility.md for what is not here (gc percent,
** memory limits, raft, hosts.processes). system.exit begins the runtime's
** shutdown with a code; system.gc.collect collects the caller's heap;
** system.supervisor reports the process.service entries' states.
**
** system.node (id, addr, role), system.cluster (members, size, leader)
** and system.lock (acquire, release) read and use the cluster
** (runtime/cluster.h): members are the nodes whose heartbeats are live,
** and a lock is a STRONG cluster-wide name (runtime/cnames.h) held by its
** caller, as the original's are names of its STRONG global registry.
**
** Thread affinity: any shard.
*/
#include "lua_modules/modules.h"

#include <errno.h>
#include <lauxlib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/common.h"
#include "lua_modules/security.h"
#include "runtime/cluster.h"
#include "runtime/cnames.h"
#include "runtime/errors.h"
#include "runtime/node.h"
#include "runtime/proc.h"
#include "runtime/rstats.h"
#include "runtime/rt.h"

/* Resident set size in bytes, from /proc/self/statm (0 when unreadable). */
static lua_Integer rss_bytes(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	fclose(f);
	return (lua_Integer)res * sysconf(_SC_PAGESIZE);
}

static lua_Integer lua_heaps(lua_State *L)
{
	struct rstats_totals t;
	rstats_totals(proc_of(L)->rt->rstats, &t);
	return t.heap < 0 ? 0 : (lua_Integer)t.heap;
}

static void setint(lua_State *L, const char *k, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* memory.stats() -> table, nil [-0, +2, m] */
static int mem_stats(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "memory",
				"permission denied: system.read on memory")))
		return r;
	struct mallinfo2 mi = mallinfo2();
	lua_Integer heaps = lua_heaps(L);
	lua_createtable(L, 0, 8);
	setint(L, "alloc", heaps);               /* Lua heaps of live states */
	setint(L, "heap_alloc", heaps);
	setint(L, "sys", rss_bytes());            /* resident set */
	setint(L, "heap_sys", (lua_Integer)(mi.arena + mi.hblkhd)); /* malloc's */
	setint(L, "heap_in_use", (lua_Integer)(mi.uordblks + mi.hblkhd));
	setint(L, "heap_idle", (lua_Integer)mi.fordblks);
	lua_pushnil(L);
	return 2;
}

/* memory.allocated() -> integer, nil [-0, +2, m] */
static int mem_allocated(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "memory",
				"permission denied: system.read on memory")))
		return r;
	lua_pushinteger(L, lua_heaps(L));
	lua_pushnil(L);
	return 2;
}

/* hosts.list() -> {{id, workers, processes, executed, stolen, queue_depth}}, nil
** [-0, +2, m] */
static int hosts_list(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "hosts",
				"permission denied: system.read on hosts")))
		return r;
	struct rt *rt = proc_of(L)->rt;
	struct rstats_host *h = calloc((size_t)rt->nhosts + 1, sizeof(*h));
	if (h == NULL)
		return luaL_error(L, "not enough memory");
	rstats_hosts(rt, h);
	lua_createtable(L, rt->nhosts, 0);
	for (int i = 0; i < rt->nhosts; i++) {
		lua_createtable(L, 0, 6);
		lua_pushstring(L, h[i].id);
		lua_setfield(L, -2, "id");
		setint(L, "workers", h[i].workers);
		setint(L, "processes", (lua_Integer)h[i].processes);
		setint(L, "executed", (lua_Integer)h[i].executed);
		setint(L, "stolen", (lua_Integer)h[i].stolen);
		setint(L, "queue_depth", (lua_Integer)h[i].queue_depth);
		lua_rawseti(L, -2, i + 1);
	}
	free(h);
	lua_pushnil(L);
	return 2;
}

/* runtime.cpu_count() -> integer, nil [-0, +2, m] */
static int rt_cpu_count(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "cpu", "permission denied: system.read on cpu")))
		return r;
	lua_pushinteger(L, sysconf(_SC_NPROCESSORS_ONLN));
	lua_pushnil(L);
	return 2;
}

/* process.pid() -> integer, nil [-0, +2, m] */
static int p_pid(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "pid", "permission denied: system.read on pid")))
		return r;
	lua_pushinteger(L, getpid());
	lua_pushnil(L);
	return 2;
}

/* process.hostname() -> string, nil [-0, +2, m] */
static int p_hostname(lua_State *L)
{
	char buf[256];
	int r;
	if ((r = security_check(L, "system.read", "hostname",
				"permission denied: system.read on hostname")))
		return r;
	if (gethostname(buf, sizeof(buf)) < 0)
		return errors_ret(L, ERRORS_INTERNAL, "get hostname: %s", strerror(errno));
	buf[sizeof(buf) - 1] = '\0';
	lua_pushstring(L, buf);
	lua_pushnil(L);
	return 2;
}

/* process.cwd() -> string, nil [-0, +2, m] */
static int p_cwd(lua_State *L)
{
	char buf[4096];
	int r;
	if ((r = security_check(L, "system.read", "cwd", "permission denied: system.read on cwd")))
		return r;
	if (getcwd(buf, sizeof(buf)) == NULL)
		return errors_ret(L, ERRORS_INTERNAL, "get working directory: %s", strerror(errno));
	lua_pushstring(L, buf);
	lua_pushnil(L);
	return 2;
}

/* {==== node, cluster, lock (runtime/cluster.h) ====} */

static int denied_node(lua_State *L)
{
	return security_check(L, "system.read", "node", "permission denied: system.read on node");
}

static int denied_cluster(lua_State *L)
{
	return security_check(L, "system.read", "cluster",
			      "permission denied: system.read on cluster");
}

/* node.id() -> string, nil: this node's name (cluster.node, else the
** machine's host name). [-0, +2, m] */
static int node_id(lua_State *L)
{
	int r;
	if ((r = denied_node(L)))
		return r;
	lua_pushstring(L, node_self(proc_of(L)->rt));
	lua_pushnil(L);
	return 2;
}

/* node.addr() -> nil, Internal: a node here has no address of its own
** (every node talks through the NATS server). [-0, +2, m] */
static int node_addr(lua_State *L)
{
	int r;
	if ((r = denied_node(L)))
		return r;
	return errors_ret(L, ERRORS_INTERNAL, "local node address not available");
}

/* node.role() -> "non-member", nil: no Raft membership of the runtime's
** own (JetStream's Raft is the NATS server's). [-0, +2, m] */
static int node_role(lua_State *L)
{
	int r;
	if ((r = denied_node(L)))
		return r;
	lua_pushliteral(L, "non-member");
	lua_pushnil(L);
	return 2;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of the live members, this node first, the others sorted; *n
** of them (malloc'd array, names owned by node.h). */
static const char **live_members(struct rt *rt, int *n)
{
	int idx[NODE_MAX];
	int k = cluster_members(rt, idx, NODE_MAX);
	const char **names = malloc(sizeof(*names) * (size_t)(k + 1));
	if (names == NULL)
		return NULL;
	names[0] = node_self(rt);
	for (int i = 0; i < k; i++)
		names[i + 1] = node_name(rt, idx[i]);
	qsort(names + 1, (size_t)k, sizeof(*names), by_name);
	*n = k + 1;
	return names;
}

/* cluster.members() -> {{id, is_local}}, nil [-0, +2, m] */
static int cluster_members_l(lua_State *L)
{
	int r, n;
	if ((r = denied_cluster(L)))
		return r;
	const char **names = live_members(proc_of(L)->rt, &n);
	if (names == NULL)
		return luaL_error(L, "not enough memory");
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_createtable(L, 0, 2);
		lua_pushstring(L, names[i]);
		lua_setfield(L, -2, "id");
		lua_pushboolean(L, i == 0);
		lua_setfield(L, -2, "is_local");
		lua_rawseti(L, -2, i + 1);
	}
	free(names);
	lua_pushnil(L);
	return 2;
}

/* cluster.size() -> integer, nil: the live members, this node included. */
static int cluster_size(lua_State *L)
{
	int r, idx[NODE_MAX];
	if ((r = denied_cluster(L)))
		return r;
	lua_pushinteger(L, cluster_members(proc_of(L)->rt, idx, NODE_MAX) + 1);
	lua_pushnil(L);
	return 2;
}

/* cluster.leader() -> "", nil: no leader of the runtime's own. */
static int cluster_leader(lua_State *L)
{
	int r;
	if ((r = denied_cluster(L)))
		return r;
	lua_pushliteral(L, "");
	lua_pushnil(L);
	return 2;
}

/* Check system.lock on the name at 1; 0 or the results pushed. */
static int lock_denied(lua_State *L, const char *name)
{
	return security_check(L, "system.lock", name, "permission denied: system.lock on %s", name);
}

/* lock.acquire(name) -> true | false, AlreadyExists | nil, err: the name
** registered in scope STRONG for the caller (fail-fast, never waits);
** released by lock.release, the caller's exit or its node's failure.
** Yields. [-0, +2, e] */
static int lock_acquire(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	int r;
	if ((r = lock_denied(L, name)))
		return r;
	struct cnames *cn = cluster_names(proc_of(L)->rt);
	if (cn == NULL)
		return errors_ret(L, ERRORS_INTERNAL, "global registry not available");
	if (name[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "lock name cannot be empty");
	return cnames_acquire(L, cn, name, proc_of(L)->pid);
}

/* lock.release(name) -> true | false, nil: true when the caller held it
** (the name is released); false when it is free or another's, as the KV
** says. Yields. */
static int lock_release(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	int r;
	if ((r = lock_denied(L, name)))
		return r;
	struct proc *self = proc_of(L);
	struct cnames *cn = cluster_names(self->rt);
	if (cn == NULL)
		return errors_ret(L, ERRORS_INTERNAL, "global registry not available");
	return cnames_release(L, cn, name, self->pid);
}

/* {==== exit, gc, supervisor ====} */

/* exit([code]) -> true, nil: begin the runtime's shutdown, as SIGTERM
** does, with this exit code. Needs system.exit. [-0, +2, e] */
static int sys_exit(lua_State *L)
{
	lua_Integer code = luaL_optinteger(L, 1, 0);
	struct rt *rt = proc_of(L)->rt;
	int r;
	if ((r = security_check(L, "system.exit", "",
				"permission denied: system.exit")))
		return r;
	if (code < 0 || code > 255)
		return errors_ret(L, ERRORS_INVALID, "exit code must be 0..255, got %d", (int)code);
	atomic_store(&rt->exit_code, (int)code);
	rt_begin_shutdown(rt, "system.exit", rt->stop_timeout_ns);
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

/* gc.collect() -> true, nil: a full collection of the calling process's
** heap (each process has its own; the original's is the Go runtime's).
** Needs system.gc on gc. [-0, +2, e] */
static int gc_collect(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.gc", "gc", "permission denied: system.gc on gc")))
		return r;
	lua_gc(L, LUA_GCCOLLECT);
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

/* CLOCK_MONOTONIC ms as Unix ns, as of now; 0 stays 0. */
static lua_Integer wall_ns(uint64_t mono_ms)
{
	struct timespec ts;
	uint64_t now_ms = common_now_ms();
	if (mono_ms == 0 || mono_ms > now_ms)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (lua_Integer)ts.tv_sec * 1000000000LL + ts.tv_nsec -
	       (lua_Integer)(now_ms - mono_ms) * 1000000LL;
}

static void push_state(lua_State *L, const struct rt_service_state *st)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, st->id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, st->status);
	lua_setfield(L, -2, "status");
	lua_pushstring(L, st->desired);
	lua_setfield(L, -2, "desired");
	lua_pushinteger(L, st->retry_count);
	lua_setfield(L, -2, "retry_count");
	/* The original gives Unix nanoseconds: the monotonic times are
	** turned into wall time as of now (0: never). */
	lua_pushinteger(L, wall_ns(st->started_ms));
	lua_setfield(L, -2, "started_at");
	lua_pushinteger(L, wall_ns(st->updated_ms));
	lua_setfield(L, -2, "last_update");
	/* Only when the last change said something, as the original. */
	if (st->details) {
		lua_pushstring(L, st->details);
		lua_setfield(L, -2, "details");
	}
}

struct states_ctx { lua_State *L; int n; };

static void one_state(void *arg, const struct rt_service_state *st)
{
	struct states_ctx *c = arg;
	push_state(c->L, st);
	lua_rawseti(c->L, -2, ++c->n);
}

static struct rt_supervisor *supervisor_of(lua_State *L)
{
	return atomic_load_explicit(&proc_of(L)->rt->supervisor, memory_order_acquire);
}

/* supervisor.state(id) -> {id, status, desired, retry_count, started_at,
** last_update[, details]}, nil
** [-0, +2, e] */
static int sup_state(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "supervisor",
				"permission denied: system.read on supervisor")))
		return r;
	const char *id = luaL_checkstring(L, 1);
	if (id[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "service ID required");
	struct rt_supervisor *sv = supervisor_of(L);
	if (sv == NULL || sv->states == NULL)
		return errors_ret(L, ERRORS_INTERNAL, "service info not available");
	lua_newtable(L);
	struct states_ctx c = { L, 0 };
	if (sv->states(sv, id, one_state, &c) == 0)
		return errors_ret(L, ERRORS_NOT_FOUND, "service not found: %s", id);
	lua_rawgeti(L, -1, 1);
	lua_pushnil(L);
	return 2;
}

/* supervisor.states() -> {state...}, nil, in start order. [-0, +2, e] */
static int sup_states(lua_State *L)
{
	int r;
	if ((r = security_check(L, "system.read", "supervisor",
				"permission denied: system.read on supervisor")))
		return r;
	struct rt_supervisor *sv = supervisor_of(L);
	if (sv == NULL || sv->states == NULL)
		return errors_ret(L, ERRORS_INTERNAL, "service info not available");
	lua_newtable(L);
	struct states_ctx c = { L, 0 };
	sv->states(sv, NULL, one_state, &c);
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg gc_funcs[] = { {"collect", gc_collect}, {NULL, NULL} };
static const luaL_Reg supervisor_funcs[] = {
	{"state", sup_state}, {"states", sup_states}, {NULL, NULL}
};

/* }==== */

static const luaL_Reg node_funcs[] = {
	{"id", node_id}, {"addr", node_addr}, {"role", node_role}, {NULL, NULL}
};
static const luaL_Reg cluster_funcs[] = {
	{"members", cluster_members_l}, {"size", cluster_size}, {"leader", cluster_leader},
	{NULL, NULL}
};
static const luaL_Reg lock_funcs[] = {
	{"acquire", lock_acquire}, {"release", lock_release}, {NULL, NULL}
};

static const luaL_Reg memory_funcs[] = {
	{"stats", mem_stats}, {"allocated", mem_allocated}, {NULL, NULL}
};
static const luaL_Reg hosts_funcs[] = { {"list", hosts_list}, {NULL, NULL} };
static const luaL_Reg runtime_funcs[] = { {"cpu_count", rt_cpu_count}, {NULL, NULL} };
static const luaL_Reg process_funcs[] = {
	{"pid", p_pid}, {"hostname", p_hostname}, {"cwd", p_cwd}, {NULL, NULL}
};

int luaopen_system(lua_State *L)
{
	lua_createtable(L, 0, 12);
	lua_pushcfunction(L, sys_exit);
	lua_setfield(L, -2, "exit");
	luaL_newlib(L, gc_funcs);
	lua_setfield(L, -2, "gc");
	luaL_newlib(L, supervisor_funcs);
	lua_setfield(L, -2, "supervisor");
	luaL_newlib(L, memory_funcs);
	lua_setfield(L, -2, "memory");
	luaL_newlib(L, hosts_funcs);
	lua_setfield(L, -2, "hosts");
	luaL_newlib(L, runtime_funcs);
	lua_setfield(L, -2, "runtime");
	luaL_newlib(L, process_funcs);
	lua_setfield(L, -2, "process");
	luaL_newlib(L, node_funcs);
	lua_setfield(L, -2, "node");
	luaL_newlib(L, cluster_funcs);
	lua_setfield(L, -2, "cluster");
	luaL_newlib(L, lock_funcs);
	lua_setfield(L, -2, "lock");
	return 1;
}
