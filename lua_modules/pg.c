/*
** lua_modules/pg.c: require("pg"), process groups across the cluster:
** join, leave, members, broadcast. The original has no Lua API for
** groups; this follows the cluster issue's wording and Erlang's pg: a
** group is a name, created by its first join, gone with its last member;
** a process may join many groups; members are pids on any node.
**
** A membership is a key of the JetStream KV bucket `wippy_groups`, kept
** by a struct cnames (runtime/cnames.h) as the cluster-wide names are:
** the key is the group and the member's pid string, its value the pid
** string, so every (group, member) pair is one key, and every node reads
** the members from its own cache, watched from the bucket (no round trip;
** a join on another node shows once its watcher has the update). A
** member's exit releases its memberships (cluster_proc_exit), and the
** surviving nodes release those of a node that goes down.
**
** - pg.join(group [, pid]) -> true | nil, err: the caller, or a process
**   of this node; parks until the KV has it. Invalid for a bad group or
**   pid, NotFound for a process that is gone, Unavailable without a
**   cluster or when the KV cannot be reached.
** - pg.leave(group [, pid]) -> boolean, nil: whether it was a member.
** - pg.members(group) -> {pid strings}, nil: sorted, this node's too.
** - pg.broadcast(group, topic, ...) -> n, nil: the message (payload
**   encoded once) to every member, the caller too if it is one; n is how
**   many sends were accepted. A member the caller may not send to
**   (process.send, as process.send checks it) is skipped.
**
** Thread affinity: any shard.
*/
#include "lua_modules/modules.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lua_modules/security.h"
#include "runtime/cluster.h"
#include "runtime/cnames.h"
#include "runtime/errors.h"
#include "runtime/mailbox.h"
#include "runtime/node.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/rt.h"

#define SEP '\x1f'          /* between the group and the member's pid */
#define GROUP_MAX 256

/* The group at idx, checked; NULL with nil, err pushed (*nret = 2). */
static const char *group_arg(lua_State *L, int idx, int *nret)
{
	size_t len;
	const char *g = luaL_checklstring(L, idx, &len);
	*nret = 0;
	if (len == 0 || len > GROUP_MAX || memchr(g, SEP, len) || strlen(g) != len) {
		*nret = errors_ret(L, ERRORS_INVALID, "invalid group name");
		return NULL;
	}
	return g;
}

static struct cnames *groups_of(lua_State *L, int *nret)
{
	struct cnames *g = cluster_groups(proc_of(L)->rt);
	*nret = 0;
	if (g == NULL)
		*nret = errors_ret(L, ERRORS_UNAVAILABLE,
				   "process groups need a cluster (--cluster)");
	return g;
}

/* The key of (group, process p): group SEP p's pid string, pushed. */
static const char *push_key(lua_State *L, const char *g, struct proc *p)
{
	lua_pushfstring(L, "%s%c", g, SEP);
	lua_pushlstring(L, p->pidstr, p->pidlen);
	lua_concat(L, 2);
	return lua_tostring(L, -1);
}

/* The process named by the optional pid at idx (the caller when absent),
** referenced; NULL with nil, err pushed (*nret = 2). */
static struct proc *member_arg(lua_State *L, int idx, int *nret)
{
	struct proc *self = proc_of(L);
	*nret = 0;
	if (lua_isnoneornil(L, idx)) {
		proc_ref(self);
		return self;
	}
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	uint64_t pid = node_parse_pid(self->rt, s, len);
	if (pid == 0 || pid_is_remote(pid)) {
		*nret = errors_ret(L, ERRORS_INVALID, "not a pid of this node: %s", s);
		return NULL;
	}
	struct proc *p = proc_find(self->rt, pid);
	if (p == NULL)
		*nret = errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s", s);
	return p;
}

/* The arguments of join and leave: the group at 1, the member at 2 (the
** caller when absent, referenced: the caller unrefs it), and the groups.
** 0, or with nil, err pushed, how many results to return. */
static int member_args(lua_State *L, const char **g, struct cnames **cn, struct proc **p)
{
	int nret;
	if ((*g = group_arg(L, 1, &nret)) == NULL || (*cn = groups_of(L, &nret)) == NULL ||
	    (*p = member_arg(L, 2, &nret)) == NULL)
		return nret;
	return 0;
}

/* pg.join(group [, pid]) -> true | nil, err. Yields. [-0, +2, e] */
static int pg_join(lua_State *L)
{
	const char *g;
	struct cnames *cn;
	struct proc *p;
	int nret = member_args(L, &g, &cn, &p);
	if (nret)
		return nret;
	const char *key = push_key(L, g, p);
	uint64_t pid = p->pid;
	proc_unref(p);
	/* EVENTUAL: the key is this member's alone, a put is enough. */
	return cnames_register(L, cn, key, pid, 1);
}

/* pg.leave(group [, pid]) -> boolean, nil [-0, +2, e] */
static int pg_leave(lua_State *L)
{
	const char *g;
	struct cnames *cn;
	struct proc *p;
	int nret = member_args(L, &g, &cn, &p);
	if (nret)
		return nret;
	const char *key = push_key(L, g, p);
	int had = cnames_unregister(cn, key, p->pid);
	proc_unref(p);
	lua_pushboolean(L, had);
	lua_pushnil(L);
	return 2;
}

static int by_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

#define PIDSTR 160

/* The pid strings of group's members (live local ones and remote ones),
** sorted, into a malloc'd array of PIDSTR-byte strings; *n of them. */
static char *member_strings(lua_State *L, struct cnames *cn, const char *g, size_t *n,
			    uint64_t **pids)
{
	struct rt *rt = proc_of(L)->rt;
	char prefix[GROUP_MAX + 2];
	size_t k;
	snprintf(prefix, sizeof(prefix), "%s%c", g, SEP);
	k = cnames_scan(cn, prefix, pids);
	char *out = calloc(k ? k : 1, PIDSTR);
	if (out == NULL) {
		free(*pids);
		luaL_error(L, "not enough memory");
	}
	*n = 0;
	for (size_t i = 0; i < k; i++) {
		uint64_t pid = (*pids)[i];
		char *s = out + *n * PIDSTR;
		if (pid_is_remote(pid)) {
			node_format_pid(rt, s, PIDSTR, "?", pid);
		} else {
			struct proc *p = proc_find(rt, pid);
			if (p == NULL)
				continue; /* exited; its release is on its way */
			snprintf(s, PIDSTR, "%.*s", (int)p->pidlen, p->pidstr);
			proc_unref(p);
		}
		(*pids)[(*n)++] = pid;
	}
	/* Sorted by string; the pids array is left in scan order, unused. */
	qsort(out, *n, PIDSTR, by_str);
	return out;
}

/* pg.members(group) -> {pid strings}, nil [-0, +2, m] */
static int pg_members(lua_State *L)
{
	int nret;
	const char *g = group_arg(L, 1, &nret);
	if (g == NULL)
		return nret;
	struct cnames *cn = groups_of(L, &nret);
	if (cn == NULL)
		return nret;
	size_t n;
	uint64_t *pids = NULL;
	char *s = member_strings(L, cn, g, &n, &pids);
	free(pids);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, s + i * PIDSTR);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(s);
	lua_pushnil(L);
	return 2;
}

/* pg.broadcast(group, topic, ...) -> n, nil [-0, +2, m] */
static int pg_broadcast(lua_State *L)
{
	struct proc *self = proc_of(L);
	int top = lua_gettop(L), nret, rc;
	const char *g = group_arg(L, 1, &nret);
	if (g == NULL)
		return nret;
	const char *topic = luaL_checkstring(L, 2);
	if (topic[0] == '@')
		return errors_ret(L, ERRORS_INVALID, "cannot send to @ topics");
	struct cnames *cn = groups_of(L, &nret);
	if (cn == NULL)
		return nret;
	struct payload pl;
	memset(&pl, 0, sizeof(pl));
	if ((rc = payload_encode(L, 3, top - 2, &pl)) < 0)
		return errors_ret(L, ERRORS_INVALID, "cannot send: %s", payload_strerror(rc));
	size_t n, sent = 0;
	uint64_t *pids = NULL;
	char *s = member_strings(L, cn, g, &n, &pids);
	int checked = security_active(L);
	for (size_t i = 0; i < n; i++) {
		const char *ps = s + i * PIDSTR;
		if (checked && !security_allowed(L, "process.send", ps))
			continue;
		uint64_t to = node_parse_pid(self->rt, ps, strlen(ps));
		if (to == 0)
			continue;
		struct msg *m = msg_new(MSG_USER, self->pid, topic);
		m->from_host = self->host->id;
		m->at = (double)time(NULL);
		if (self->sec.len)
			m->flags |= MSGF_SEC;
		payload_copy(&m->payload, &pl);
		if (proc_send(self->rt, to, m) == 0)
			sent++;
	}
	free(s);
	free(pids);
	payload_free(&pl);
	lua_pushinteger(L, (lua_Integer)sent);
	lua_pushnil(L);
	return 2;
}

static const luaL_Reg pg_funcs[] = {
	{"join", pg_join},
	{"leave", pg_leave},
	{"members", pg_members},
	{"broadcast", pg_broadcast},
	{NULL, NULL}
};

int luaopen_pg(lua_State *L)
{
	luaL_newlib(L, pg_funcs);
	return 1;
}
