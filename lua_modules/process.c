/*
** lua_modules/process.c: the global `process` table (spec 4): identity,
** spawning, sending, subscriptions, control, monitors, links, options and
** the name registry.
**
** Calls that fail return nil, err with a structured error (kind per spec).
** Everything that reaches another process goes through its mailbox
** (proc_send): the only shared state touched here is the pid table and the
** name registry, both safe from any thread.
*/
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "lazylib.h"
#include "message.h"
#include "runtime/errors.h"
#include "modules.h"
#include "security.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/live.h"
#include "runtime/node.h"
#include "runtime/cluster.h"
#include "runtime/cnames.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

/* Resolve a destination (pid string or registered name) to a pid number,
** or push nil, err and return 0. */
static uint64_t resolve(lua_State *L, int idx, int *nret)
{
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	struct rt *rt = proc_of(L)->rt;
	uint64_t pid = node_parse_pid(rt, s, len);
	/* A name: this node's first, then the cluster's (a cache lookup). */
	if (pid == 0 && (pid = names_lookup(rt, s)) == 0 &&
	    (pid = cnames_lookup(cluster_names(rt), s)) == 0)
		*nret = errors_ret(L, ERRORS_NOT_FOUND, "could not resolve: %s", s);
	return pid;
}

/* The permission check of an operation on the target pid `to` that the
** argument at idx named (the original's resolvePID): the resource is the
** target's pid string, so a policy on "{app:system|*" covers every
** process of that host. For a local target that is the string its
** process has, never the caller's text: delivery goes by the number, so a
** pid string with another host's name in it must not pass for that host.
** 0 when allowed, else nil, err pushed and 2. [-0, +(0|2), m] */
static int check_target(lua_State *L, int idx, uint64_t to, const char *action)
{
	size_t len;
	const char *s;
	char buf[96];
	uint64_t key = 0;

	if (security_proc_allowed(L, action, to))
		return 0;
	s = lua_tolstring(L, idx, &len);
	if (!pid_is_remote(to)) {
		struct proc *t = proc_find(proc_of(L)->rt, to);
		if (t != NULL) {
			size_t n = t->pidlen < sizeof(buf) ? t->pidlen : sizeof(buf) - 1;
			memcpy(buf, t->pidstr, n);
			buf[n] = '\0';
			proc_unref(t);
			s = buf;
			key = to;
		}
	} else if (node_parse_pid(proc_of(L)->rt, s, len) == 0) {
		/* a cluster name's remote holder */
		node_format_pid(proc_of(L)->rt, buf, sizeof(buf), "?", to);
		s = buf;
	}
	return security_check_proc(L, action, key, s, "not allowed to %s: %s",
				   action + sizeof("process.") - 1, lua_tostring(L, idx));
}

/* process.pid() [-0, +1, m] */
static int p_pid(lua_State *L)
{
	struct proc *p = proc_of(L);
	lua_pushlstring(L, p->pidstr, p->pidlen);
	return 1;
}

/* process.id(): the entry id of the running definition. [-0, +1, m] */
static int p_id(lua_State *L)
{
	lua_pushstring(L, proc_of(L)->entry->id);
	return 1;
}

/* An entry id as written: full, or bare in the caller's namespace. */
static const struct reg_entry *find_entry(lua_State *L, const char *id)
{
	struct proc *p = proc_of(L);
	const struct reg_entry *e = reg_find(live_registry(p->rt), id);
	if (e == NULL && strchr(id, ':') == NULL) {
		lua_pushfstring(L, "%s:%s", p->entry->ns, id);
		e = reg_find(live_registry(p->rt), lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return e;
}

/* SP_RAISE: a spawner's spawn, which raises a denied permission (as the
** original's spawner does) where process.spawn* return nil, err. */
enum { SP_MONITOR = 1, SP_LINK = 2, SP_EXEC = 4, SP_RAISE = 8 };

/* Send each queued spawner message (entries {topic, n, v1..vn} of the
** array at mi) to pid. A message that cannot be encoded is dropped, as
** the original's host drops one it cannot deliver. [-0, +0, m] */
static void send_queued(lua_State *L, int mi, uint64_t to)
{
	struct proc *self = proc_of(L);
	lua_Integer n = mi ? luaL_len(L, mi) : 0;
	for (lua_Integer i = 1; i <= n; i++) {
		int top = lua_gettop(L), nv;
		struct msg *m;
		lua_geti(L, mi, i);
		lua_geti(L, -1, 1);
		lua_geti(L, -2, 2);
		nv = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
		m = msg_new(MSG_USER, self->pid, lua_tostring(L, -1));
		m->from_host = self->host->id;
		for (int k = 1; k <= nv; k++)
			lua_geti(L, top + 1, 2 + k);
		if (payload_encode(L, top + 3, nv, &m->payload) < 0)
			msg_free(m);
		else
			proc_send(self->rt, to, m);
		lua_settop(L, top);
	}
}

/* Push the pid string of a live pid, or nil, err. [-0, +(1|2), m] */
static int push_pid(lua_State *L, uint64_t pid)
{
	struct proc *p = proc_find(proc_of(L)->rt, pid);
	if (p == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "process not found");
	lua_pushlstring(L, p->pidstr, p->pidlen);
	proc_unref(p);
	return 1;
}

/* The permission checks of a spawn of entry id on host hid, in the
** original's order: the entry, the variant, then the host; exec has its
** own action instead of spawn's. 0, or nil and the PermissionDenied error
** pushed and 2. [-0, +(0|2), m] */
static int spawn_checks(lua_State *L, int how, const char *id, const char *hid)
{
	int rc;

	if (how & SP_EXEC) {
		if ((rc = security_check_pid(L, "process.exec", id,
					     "not allowed to exec process: %s", id)) ||
		    (rc = security_check_pid(L, "process.host", hid,
					     "not allowed to exec on host: %s", hid)))
			return rc;
	} else if ((rc = security_check_pid(L, "process.spawn", id,
					    "not allowed to spawn process: %s", id)) ||
		   ((how & SP_MONITOR) &&
		    (rc = security_check_pid(L, "process.spawn.monitored", id,
					     "not allowed to spawn monitored process: %s", id))) ||
		   ((how & SP_LINK) &&
		    (rc = security_check_pid(L, "process.spawn.linked", id,
					     "not allowed to spawn linked process: %s", id))) ||
		   (rc = security_check_pid(L, "process.host", hid,
					    "not allowed to spawn on host: %s", hid)))
		return rc;
	return 0;
}

/* Spawn the entry named at stack slot base on the host at base+1 with the
** values above as arguments. ctx, sec: the child's context values and
** security context (both copied; NULL or empty: none); name, mi: register the child under name and send it the messages of
** the array at mi (0: none). When name is held by a live process nothing
** is spawned: the messages go to the holder and its pid is returned, with
** no monitor or link (the original's spawn-or-signal). [-0, +(1|2), m] */
static int spawn_core(lua_State *L, int how, int base, const struct payload *ctx,
		      const struct payload *sec, const char *name, int mi)
{
	struct proc *self = proc_of(L), *child;
	const struct reg_entry *e;
	struct host *h;
	struct spawn_opts o;
	struct payload args;
	const char *err = NULL;
	uint64_t holder = 0;
	int n = lua_gettop(L), rc;

	const char *id = luaL_checkstring(L, base);
	const char *hid = luaL_checkstring(L, base + 1);
	if (!(how & SP_RAISE) && (rc = spawn_checks(L, how, id, hid)))
		return rc;
	e = find_entry(L, id);
	if (e == NULL || !reg_kind_is_process(e->k))
		return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s", id);
	h = rt_host(self->rt, hid);
	if (h == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "host not found: %s", hid);
	memset(&args, 0, sizeof(args));
	rc = payload_encode(L, base + 2, n - base - 1, &args);
	if (rc < 0)
		return errors_ret(L, ERRORS_INVALID, "cannot pass arguments: %s",
				  payload_strerror(rc));
	memset(&o, 0, sizeof(o));
	o.entry = e;
	o.host = h;
	o.ctx = ctx;
	o.sec = sec;
	o.name = name;
	o.name_holder = &holder;
	if (how & SP_MONITOR)
		o.monitor_by = self->pid;
	if (how & SP_LINK)
		o.link_with = self->pid;
	child = proc_spawn(self->rt, &o, &args, &err);
	if (child == NULL) {
		payload_free(&args);
		if (holder != 0) {
			send_queued(L, mi, holder);
			return push_pid(L, holder);
		}
		return errors_ret(L, ERRORS_UNAVAILABLE, "%s", err);
	}
	if (how & SP_LINK)
		proc_link_add(self, child->pid);
	send_queued(L, mi, child->pid);
	lua_pushlstring(L, child->pidstr, child->pidlen);
	proc_unref(child);
	return 1;
}

/* process.spawn*(id, host, ...): the child inherits the caller's context
** values and its actor and scope, as the original's spawn passes them on
** (buildSecurityContext in its module.go). */
static int do_spawn(lua_State *L, int how)
{
	static const char *const fn[] = {"spawn", "spawn_monitored", "spawn_linked",
					 "spawn_linked_monitored", "", "exec"};
	if (lua_gettop(L) < 2)
		return errors_ret(L, ERRORS_INVALID,
				  "%s requires at least id and host arguments", fn[how]);
	struct proc *p = proc_of(L);
	return spawn_core(L, how, 1, &p->ctx, &p->sec, NULL, 0);
}

/* Continuation of process.exec: the EXIT event of the exec'd process is on
** top; return its value, or nil and its error. [-0, +(1|2), m] */
static int exec_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	lua_getfield(L, -1, "result");
	if (!lua_istable(L, -1))
		return 0;
	if (lua_getfield(L, -1, "error") != LUA_TNIL) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	lua_getfield(L, -2, "value");
	return 1;
}

/* process.exec(id, host, ...) -> value | nil, err: spawn monitored, wait
** for the exit, return its value or its error (spec 4.2). [-0, +(1|2), e] */
static int p_exec(lua_State *L)
{
	size_t len;
	const char *pid;
	int n = do_spawn(L, SP_MONITOR | SP_EXEC);
	if (n != 1)
		return n;
	pid = lua_tolstring(L, -1, &len);
	return proc_wait_exit(L, node_parse_pid(proc_of(L)->rt, pid, len), message_push_event,
			      exec_k);
}

/* process.spawn*(id, host, ...) -> pid | nil, err [-0, +(1|2), m] */
static int p_spawn(lua_State *L) { return do_spawn(L, 0); }
static int p_spawn_monitored(lua_State *L) { return do_spawn(L, SP_MONITOR); }
static int p_spawn_linked(lua_State *L) { return do_spawn(L, SP_LINK); }
static int p_spawn_linked_monitored(lua_State *L) { return do_spawn(L, SP_LINK | SP_MONITOR); }

/* {==== Spawner: process.with_context / with_options ====}
**
** A Spawner is an immutable builder: every with_* returns a new one and
** leaves its receiver as it was, so one base can be shared and extended.
** Its parts live in the userdata's user values: 1 the context values
** (a string-keyed table, started from the caller's own context), 2 the
** spawn options (table or nil), 3 the queued messages (array of
** {topic, n, v1..vn} or nil), 4 the name (string or nil), 5 the actor
** and 6 the scope (security.Actor / security.Scope objects, or nil). The
** tables are never changed once the spawner holds them.
**
** Actor and scope start as the caller's own (security.actor() and
** security.scope()), as the original's spawner inherits them from the
** frame; with_actor/with_scope replace them, and need the caller's
** `process.security` permission on "security" (else they raise, as the
** original's). process.with_context / with_options need
** `process.context` on "context". At spawn they are encoded for the
** child (security_encode), which reads them back with
** security.actor()/scope().
*/

#define SPAWNER_META "process.Spawner"

enum { SV_CTX = 1, SV_OPTS, SV_MSGS, SV_NAME, SV_ACTOR, SV_SCOPE, SV_N = SV_SCOPE };

/* Push a new table with the pairs of the table at idx (or empty when idx
** holds nil). [-0, +1, m] */
static void copy_table(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_newtable(L);
	if (!lua_istable(L, idx))
		return;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
}

/* Push the caller's context values as a new table. [-0, +1, m] */
static void push_own_ctx(lua_State *L)
{
	struct proc *p = proc_of(L);
	int top = lua_gettop(L);
	/* Written by proc_spawn from one encoded table: anything else is
	** treated as no context. */
	if (p->ctx.len > 0 && payload_decode(L, &p->ctx) == 1 && lua_istable(L, -1))
		return;
	lua_settop(L, top);
	lua_newtable(L);
}

/* Set the string-keyed pairs of the table at src into the table at dst;
** with strict, any other key raises an argument error on arg `arg`.
** [-0, +0, e] */
static void merge_keys(lua_State *L, int dst, int src, int strict, int arg,
		       const char *what)
{
	dst = lua_absindex(L, dst);
	src = lua_absindex(L, src);
	lua_pushnil(L);
	while (lua_next(L, src)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			if (strict)
				luaL_argerror(L, arg, what);
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, dst);
	}
}

static void spawner_meta(lua_State *L);

/* Push a new spawner whose parts are the values at the SV_N slots
** starting at first (nil for an absent part). [-0, +1, m] */
static void push_spawner(lua_State *L, int first)
{
	first = lua_absindex(L, first);
	lua_newuserdatauv(L, 1, SV_N);
	for (int i = 0; i < SV_N; i++) {
		lua_pushvalue(L, first + i);
		lua_setiuservalue(L, -2, i + 1);
	}
	spawner_meta(L);
	lua_setmetatable(L, -2);
}

/* The spawner at 1, or raises "Spawner expected". Pushes its SV_N parts
** at slots top+1.. and returns the index of the first. [-0, +SV_N, e] */
static int check_spawner(lua_State *L)
{
	int first;
	if (luaL_testudata(L, 1, SPAWNER_META) == NULL)
		luaL_argerror(L, 1, "Spawner expected");
	first = lua_gettop(L) + 1;
	for (int i = 1; i <= SV_N; i++)
		lua_getiuservalue(L, 1, i);
	return first;
}

/* The original's spawner gate: process.context on "context", raising
** (as it does) when denied. [-0, +0, e] */
static void need_context(lua_State *L, const char *msg)
{
	if (!security_allowed(L, "process.context", "context")) {
		errors_push(L, ERRORS_PERMISSION_DENIED, "%s", msg);
		lua_error(L);
	}
}

/* process.with_context(values) -> Spawner: the caller's context values
** overlaid with values (string keys only). [-0, +1, e] */
static int p_with_context(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	need_context(L, "not allowed to spawn processes with custom context");
	lua_settop(L, 1);
	push_own_ctx(L);                      /* 2 */
	merge_keys(L, 2, 1, 1, 1, "context keys must be strings");
	lua_pushnil(L);                       /* 3 options */
	lua_pushnil(L);                       /* 4 messages */
	lua_pushnil(L);                       /* 5 name */
	security_push_own(L);                 /* 6 actor, 7 scope */
	push_spawner(L, 2);
	return 1;
}

/* process.with_options(options) -> Spawner with the caller's context.
** The options are kept as given (string keys only); the original passes
** them to its host, where only `network` means something, and this
** runtime has no networks: nothing reads them. [-0, +1, e] */
static int p_with_options(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	need_context(L, "not allowed to spawn processes with custom options");
	lua_settop(L, 1);
	push_own_ctx(L);                      /* 2 */
	lua_newtable(L);                      /* 3 */
	merge_keys(L, 3, 1, 1, 1, "options keys must be strings");
	lua_pushnil(L);
	lua_pushnil(L);
	security_push_own(L);
	push_spawner(L, 2);
	return 1;
}

/* sp:with_context(values): non-string keys are skipped (the original
** checks them only in process.with_context). [-0, +1, e] */
static int s_with_context(lua_State *L)
{
	int f;
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	f = check_spawner(L);
	copy_table(L, f + SV_CTX - 1);
	merge_keys(L, -1, 2, 0, 2, NULL);
	lua_replace(L, f + SV_CTX - 1);
	push_spawner(L, f);
	return 1;
}

/* sp:with_options(options): merged over the options so far. */
static int s_with_options(lua_State *L)
{
	int f;
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	f = check_spawner(L);
	copy_table(L, f + SV_OPTS - 1);
	merge_keys(L, -1, 2, 1, 2, "options keys must be strings");
	lua_replace(L, f + SV_OPTS - 1);
	push_spawner(L, f);
	return 1;
}

/* sp:with_actor(actor) / sp:with_scope(scope): the argument checks and
** messages are the original's (nil: "cannot be nil", a non-userdata: a
** type error, another userdata: "Actor expected" / "Scope expected").
** [-0, +1, e] */
static int with_security(lua_State *L, int slot, int (*is)(lua_State *, int),
			 const char *nilmsg, const char *expected)
{
	int f;
	lua_settop(L, 2);   /* a missing argument reads as nil */
	f = check_spawner(L);
	if (lua_isnoneornil(L, 2))
		return luaL_argerror(L, 2, nilmsg);
	luaL_checktype(L, 2, LUA_TUSERDATA);
	if (!is(L, 2))
		return luaL_argerror(L, 2, expected);
	if (!security_allowed(L, "process.security", "security")) {
		errors_push(L, ERRORS_PERMISSION_DENIED,
			    "not allowed to spawn processes with custom security context");
		return lua_error(L);
	}
	lua_pushvalue(L, 2);   /* Actors and Scopes are immutable: share it */
	lua_replace(L, f + slot - 1);
	push_spawner(L, f);
	return 1;
}

static int s_with_actor(lua_State *L)
{
	return with_security(L, SV_ACTOR, security_is_actor, "actor cannot be nil",
			     "Actor expected");
}

static int s_with_scope(lua_State *L)
{
	return with_security(L, SV_SCOPE, security_is_scope, "scope cannot be nil",
			     "Scope expected");
}

/* sp:with_name(name): spawn registered under name, or signal its holder. */
static int s_with_name(lua_State *L)
{
	int f;
	size_t len;
	luaL_checklstring(L, 2, &len);
	if (len == 0)
		return luaL_argerror(L, 2, "name cannot be empty");
	lua_settop(L, 2);
	f = check_spawner(L);
	lua_pushvalue(L, 2);
	lua_replace(L, f + SV_NAME - 1);
	push_spawner(L, f);
	return 1;
}

/* sp:with_message(topic, ...): sent to the child after it is spawned, or
** to the name's holder when the name is taken. [-0, +1, e] */
static int s_with_message(lua_State *L)
{
	int n = lua_gettop(L), f, entry;
	const char *topic = luaL_checkstring(L, 2);
	if (topic[0] == '@')
		return luaL_argerror(L, 2, "cannot send to @ topics");
	f = check_spawner(L);
	lua_createtable(L, n, 0);
	entry = lua_gettop(L);
	lua_pushvalue(L, 2);
	lua_seti(L, entry, 1);
	lua_pushinteger(L, n - 2);
	lua_seti(L, entry, 2);
	for (int i = 3; i <= n; i++) {
		lua_pushvalue(L, i);
		lua_seti(L, entry, i);
	}
	copy_table(L, f + SV_MSGS - 1);
	lua_pushvalue(L, entry);
	lua_seti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
	lua_replace(L, f + SV_MSGS - 1);
	lua_pop(L, 1);
	push_spawner(L, f);
	return 1;
}

/* sp:spawn*(id, host, ...) -> pid | nil, err. Arity errors raise, as the
** original's do. [-0, +(1|2), e] */
static int spawner_spawn(lua_State *L, int how)
{
	struct payload ctx, sec;
	const char *name;
	int n = lua_gettop(L), r, rc, mi;

	if (n < 3)
		return luaL_error(L, "spawn requires at least id and host arguments");
	luaL_checkstring(L, 2);
	luaL_checkstring(L, 3);
	/* Checked before anything is encoded: a denial raises (as the
	** original's spawner does), and nothing is left to free. */
	if (spawn_checks(L, how, lua_tostring(L, 2), lua_tostring(L, 3))) {
		lua_remove(L, -2);
		return lua_error(L);
	}
	check_spawner(L);
	/* Move the parts below the arguments so spawn_core sees id at 2. */
	for (int i = 0; i < SV_N; i++)
		lua_insert(L, 2);
	memset(&ctx, 0, sizeof(ctx));
	lua_pushnil(L);
	if (lua_next(L, 2 + SV_CTX - 1)) {
		lua_pop(L, 2);
		rc = payload_encode(L, 2 + SV_CTX - 1, 1, &ctx);
		if (rc < 0)
			return errors_ret(L, ERRORS_INVALID, "cannot pass context: %s",
					  payload_strerror(rc));
	}
	memset(&sec, 0, sizeof(sec));
	rc = security_encode(L, 2 + SV_ACTOR - 1, 2 + SV_SCOPE - 1, &sec);
	if (rc < 0) {
		payload_free(&ctx);
		return errors_ret(L, ERRORS_INVALID, "cannot pass security context: %s",
				  payload_strerror(rc));
	}
	name = lua_tostring(L, 2 + SV_NAME - 1);
	mi = lua_istable(L, 2 + SV_MSGS - 1) ? 2 + SV_MSGS - 1 : 0;
	r = spawn_core(L, how, 2 + SV_N, &ctx, &sec, name, mi);
	payload_free(&ctx);
	payload_free(&sec);
	return r;
}

static int s_spawn(lua_State *L) { return spawner_spawn(L, SP_RAISE); }
static int s_spawn_monitored(lua_State *L) { return spawner_spawn(L, SP_RAISE | SP_MONITOR); }
static int s_spawn_linked(lua_State *L) { return spawner_spawn(L, SP_RAISE | SP_LINK); }
static int s_spawn_linked_monitored(lua_State *L)
{
	return spawner_spawn(L, SP_RAISE | SP_LINK | SP_MONITOR);
}

static const luaL_Reg spawner_methods[] = {
	{"with_context", s_with_context},
	{"with_options", s_with_options},
	{"with_actor", s_with_actor},
	{"with_scope", s_with_scope},
	{"with_name", s_with_name},
	{"with_message", s_with_message},
	{"spawn", s_spawn},
	{"spawn_monitored", s_spawn_monitored},
	{"spawn_linked", s_spawn_linked},
	{"spawn_linked_monitored", s_spawn_linked_monitored},
	{NULL, NULL}
};

/* Push the Spawner metatable, made on first use. [-0, +1, m] */
static void spawner_meta(lua_State *L)
{
	if (luaL_newmetatable(L, SPAWNER_META)) {
		luaL_newlib(L, spawner_methods);
		lua_setfield(L, -2, "__index");
	}
}

/* nil, err for a failed proc_send to the pid `to` named by the argument
** at idx: NotFound for a process that is gone, Unavailable (the
** original's "cannot route to external node") for one whose node is not
** reachable: no cluster, or a node unknown or down. [-0, +2, m] */
static int send_failed(lua_State *L, int rc, uint64_t to, int idx)
{
	if (rc == -EHOSTUNREACH || rc == -ENOTCONN) {
		int ni = node_of(proc_of(L)->rt, to, NULL);
		const char *node = ni > 0 ? node_name(proc_of(L)->rt, ni) : "?";
		return errors_ret(L, ERRORS_UNAVAILABLE, rc == -ENOTCONN ?
				  "cannot route to external node %s: not connected to the cluster" :
				  "cannot route to external node %s", node);
	}
	return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s", lua_tostring(L, idx));
}

/* Send a system notice of kind to dest. [-0, +(1|2), m] */
static int notice(lua_State *L, enum msg_kind kind, const char *topic,
		  const char *action)
{
	struct proc *self = proc_of(L);
	int nret = 0;
	uint64_t to = resolve(L, 1, &nret);
	if (to == 0)
		return nret;
	if (action && (nret = check_target(L, 1, to, action)))
		return nret;
	struct msg *m = msg_new(kind, self->pid, topic);
	m->from_host = self->host->id;
	m->at = (double)time(NULL);
	if ((nret = proc_send(self->rt, to, m)) < 0)
		return send_failed(L, nret, to, 1);
	lua_pushboolean(L, 1);
	return 1;
}

/* process.send(dest, topic, ...) -> true | nil, err [-0, +(1|2), m] */
static int p_send(lua_State *L)
{
	struct proc *self = proc_of(L);
	int n = lua_gettop(L), nret = 0, rc;
	const char *topic;
	uint64_t to;
	struct msg *m;

	luaL_checkstring(L, 1);
	topic = luaL_checkstring(L, 2);
	if (topic[0] == '@')
		return errors_ret(L, ERRORS_INVALID, "cannot send to @ topics");
	to = resolve(L, 1, &nret);
	if (to == 0)
		return nret;
	if ((nret = check_target(L, 1, to, "process.send")))
		return nret;
	m = msg_new(MSG_USER, self->pid, topic);
	m->from_host = self->host->id;
	if (self->sec.len)
		m->flags |= MSGF_SEC;
	rc = payload_encode(L, 3, n - 2, &m->payload);
	if (rc < 0) {
		msg_free(m);
		return errors_ret(L, ERRORS_INVALID, "cannot send: %s", payload_strerror(rc));
	}
	if ((rc = proc_send(self->rt, to, m)) < 0)
		return send_failed(L, rc, to, 1);
	lua_pushboolean(L, 1);
	return 1;
}

/* process.inbox() / events() [-0, +1, m] */
static int p_inbox(lua_State *L) { chan_push_special(L, CH_INBOX, NULL, 1); return 1; }
static int p_events(lua_State *L) { chan_push_special(L, CH_EVENTS, NULL, 1); return 1; }

/* process.listen(topic [, {message = true}]): messages whose topic is
** exactly `topic`. Listening again to a topic returns the channel it
** already has (the options of the first call stay). [-0, +(1|2), m] */
static int p_listen(lua_State *L)
{
	const char *topic = luaL_checkstring(L, 1);
	int want = 0;
	if (topic[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "topic cannot be empty");
	if (topic[0] == '@')
		return errors_ret(L, ERRORS_INVALID, "cannot listen to @ topics");
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "message");
		want = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	chan_push_special(L, CH_LISTEN, topic, want);
	return 1;
}

static int p_unlisten(lua_State *L)
{
	chan_unlisten(L, 1);
	return 0;
}

/* process.cancel(dest [, reason]) [-0, +(1|2), m] */
static int p_cancel(lua_State *L)
{
	const char *reason = luaL_optstring(L, 2, "");
	return notice(L, MSG_CANCEL, reason, "process.cancel");
}

static int p_terminate(lua_State *L) { return notice(L, MSG_TERMINATE, NULL, "process.terminate"); }
static int p_monitor(lua_State *L) { return notice(L, MSG_MONITOR, NULL, "process.monitor"); }
static int p_unmonitor(lua_State *L) { return notice(L, MSG_UNMONITOR, NULL, "process.unmonitor"); }

static int link_op(lua_State *L, int add)
{
	struct proc *self = proc_of(L);
	int nret = 0;
	uint64_t to = resolve(L, 1, &nret);
	if (to == 0)
		return nret;
	if ((nret = check_target(L, 1, to, add ? "process.link" : "process.unlink")))
		return nret;
	if (add)
		proc_link_add(self, to);
	else
		proc_link_del(self, to);
	return notice(L, add ? MSG_LINK : MSG_UNLINK, NULL, NULL);
}

static int p_link(lua_State *L) { return link_op(L, 1); }
static int p_unlink(lua_State *L) { return link_op(L, 0); }

/* process.upgrade(id_or_nil, ...): rerun this process with the code of
** entry id (nil: its own), passing ... to the method; pid, mailbox, links,
** monitors and names stay (spec 4.7). Never returns: a bad id or code
** that fails to load ends the process. [-?, +0, e] */
static int p_upgrade(lua_State *L)
{
	struct proc *self = proc_of(L);
	const struct reg_entry *e = self->entry;
	struct payload args;
	int n = lua_gettop(L), rc;

	if (n >= 1 && !lua_isnil(L, 1)) {
		const char *id = luaL_checkstring(L, 1);
		e = find_entry(L, id);
		if (e == NULL || !reg_kind_is_process(e->k))
			return proc_upgrade(L, NULL, NULL, ERRORS_NOT_FOUND,
					    lua_pushfstring(L, "upgrade: process not found: %s", id));
	}
	/* Only an explicit deny stops an upgrade, as in the original. */
	if (security_denied(L, "process.upgrade", e->id))
		return errors_ret(L, ERRORS_PERMISSION_DENIED, "not allowed to upgrade process: %s",
				  e->id);
	memset(&args, 0, sizeof(args));
	rc = n > 1 ? payload_encode(L, 2, n - 1, &args) : 0;
	if (rc < 0)
		return proc_upgrade(L, NULL, NULL, ERRORS_INVALID,
				    lua_pushfstring(L, "upgrade: cannot pass arguments: %s",
						    payload_strerror(rc)));
	return proc_upgrade(L, e, &args, NULL, NULL);
}

/* process.get_options() [-0, +1, m] */
static int p_get_options(lua_State *L)
{
	struct proc *p = proc_of(L);
	lua_createtable(L, 0, 2);
	lua_pushboolean(L, p->trap_links);
	lua_setfield(L, -2, "trap_links");
	lua_pushboolean(L, p->upgradable);
	lua_setfield(L, -2, "upgradable");
	return 1;
}

/* process.set_options{trap_links = bool, upgradable = bool} -> true, nil
** | false, err. As in the original every valid option is applied even
** when another is refused; the error names the first problem (a wrong
** type, else the first unsupported name); non-string keys are ignored.
** [-0, +2, m] */
static int p_set_options(lua_State *L)
{
	struct proc *p = proc_of(L);
	char bad[128] = "";
	if (!lua_istable(L, 1)) {
		lua_pushboolean(L, 0);
		errors_push(L, ERRORS_INVALID, "options parameter must be a table");
		return 2;
	}
	lua_settop(L, 1);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *k;
		uint8_t *flag = NULL;
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 1);
			continue;
		}
		k = lua_tostring(L, -2);
		if (strcmp(k, "trap_links") == 0)
			flag = &p->trap_links;
		else if (strcmp(k, "upgradable") == 0)
			flag = &p->upgradable;
		if (flag && lua_isboolean(L, -1))
			*flag = (uint8_t)lua_toboolean(L, -1);
		else if (flag)
			snprintf(bad, sizeof(bad), "%s must be a boolean", k);
		else if (bad[0] == '\0')
			snprintf(bad, sizeof(bad), "option %s is not supported", k);
		lua_pop(L, 1);
	}
	lua_pushboolean(L, bad[0] == '\0');
	if (bad[0])
		errors_push(L, ERRORS_INVALID, "%s", bad);
	else
		lua_pushnil(L);
	return 2;
}

/* {==== process.registry ====} */

/* process.registry.register(name [, pid [, scope]]). LOCAL (the default)
** names a process on this node; EVENTUAL, CONSISTENT and STRONG, when the
** node is in a cluster, name it cluster-wide (runtime/cnames.h: the call
** waits for the KV); without a cluster every scope is LOCAL, as on the
** original's single node. [-0, +(1|2), e] */
static int r_register(lua_State *L)
{
	struct proc *self = proc_of(L);
	const char *name = luaL_checkstring(L, 1);
	uint64_t pid = self->pid;
	int nret = 0;
	lua_Integer scope = luaL_optinteger(L, 3, 0);
	struct cnames *cn = cluster_names(self->rt);
	if (scope < 0 || scope > 3)
		return errors_ret(L, ERRORS_INVALID, "invalid registration scope: %d", (int)scope);
	if (!lua_isnoneornil(L, 2) && (pid = resolve(L, 2, &nret)) == 0)
		return nret;
	if (scope > 0 && cn != NULL) {
		if (pid != self->pid && !pid_is_remote(pid) &&
		    (nret = check_target(L, 2, pid, "process.registry.foreign")))
			return nret;
		if ((nret = security_check_pid(L, "process.registry.register", name,
					       "not allowed to register name: %s", name)))
			return nret;
		if (name[0] == '\0')
			return errors_ret(L, ERRORS_INVALID, "name cannot be empty");
		if (pid != self->pid && !pid_is_remote(pid)) {
			struct proc *p = proc_find(self->rt, pid);
			if (p == NULL)
				return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s",
						  lua_tostring(L, 2));
			proc_unref(p);
		}
		return cnames_register(L, cn, name, pid, (int)scope);
	}
	/* A name on another process needs process.registry.foreign on it too. */
	if (pid != self->pid && (nret = check_target(L, 2, pid, "process.registry.foreign")))
		return nret;
	if ((nret = security_check_pid(L, "process.registry.register", name,
				       "not allowed to register name: %s", name)))
		return nret;
	if (pid != self->pid) {
		/* A name for a process that is gone would name nothing. */
		struct proc *p = proc_find(self->rt, pid);
		if (p == NULL)
			return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s",
					  lua_tostring(L, 2));
		proc_unref(p);
	}
	/* A name of our own is released when we exit; one registered for
	** another pid is released lazily once that pid is gone (ptable.c). */
	if ((pid == self->pid ? proc_name_register(self, name)
			      : names_register(self->rt, name, pid)) < 0)
		return errors_ret(L, ERRORS_ALREADY_EXISTS, "name already registered: %s", name);
	lua_pushboolean(L, 1);
	return 1;
}

static int r_lookup(lua_State *L)
{
	struct proc *self = proc_of(L);
	const char *name = luaL_checkstring(L, 1);
	uint64_t pid = names_lookup(self->rt, name);
	struct proc *p = pid ? proc_find(self->rt, pid) : NULL;
	if (p == NULL && (pid = cnames_lookup(cluster_names(self->rt), name)) != 0 &&
	    (pid_is_remote(pid) || (p = proc_find(self->rt, pid)) == NULL)) {
		char buf[160];
		node_format_pid(self->rt, buf, sizeof(buf), "?", pid);
		if (pid_is_remote(pid)) {
			lua_pushstring(L, buf);
			return 1;
		}
	}
	if (p == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "name not registered");
	lua_pushlstring(L, p->pidstr, p->pidlen);
	proc_unref(p);
	return 1;
}

static int r_unregister(lua_State *L)
{
	struct proc *self = proc_of(L);
	const char *name = luaL_checkstring(L, 1);
	int removed, nret;
	if ((nret = security_check_pid(L, "process.registry.unregister", name,
				       "not allowed to unregister name: %s", name)))
		return nret;
	removed = names_unregister(self->rt, name, 0);
	proc_name_forget(self, name);
	removed |= cnames_unregister(cluster_names(self->rt), name, 0);
	lua_pushboolean(L, removed);
	return 1;
}

static const luaL_Reg reg_funcs[] = {
	{"register", r_register},
	{"lookup", r_lookup},
	{"unregister", r_unregister},
	{NULL, NULL}
};

static const luaL_Reg funcs[] = {
	{"pid", p_pid},
	{"id", p_id},
	{"spawn", p_spawn},
	{"spawn_monitored", p_spawn_monitored},
	{"spawn_linked", p_spawn_linked},
	{"spawn_linked_monitored", p_spawn_linked_monitored},
	{"exec", p_exec},
	{"send", p_send},
	{"inbox", p_inbox},
	{"events", p_events},
	{"listen", p_listen},
	{"unlisten", p_unlisten},
	{"cancel", p_cancel},
	{"terminate", p_terminate},
	{"monitor", p_monitor},
	{"unmonitor", p_unmonitor},
	{"link", p_link},
	{"unlink", p_unlink},
	{"with_context", p_with_context},
	{"with_options", p_with_options},
	{"get_options", p_get_options},
	{"set_options", p_set_options},
	{"upgrade", p_upgrade},
	{NULL, NULL}
};

/* process.registry, made on first use. [-0, +1, m] */
static int make_registry(lua_State *L)
{
	/* The original's topology.RegistrationMode values. */
	static const char *const scopes[] = {"LOCAL", "EVENTUAL", "CONSISTENT", "STRONG"};
	lazylib_new(L, reg_funcs);
	for (int i = 0; i < 4; i++) {
		lua_pushinteger(L, i);
		lua_setfield(L, -2, scopes[i]);
	}
	return 1;
}

/* process.event, made on first use. [-0, +1, m] */
static int make_event(lua_State *L)
{
	lua_createtable(L, 0, 3);
	lua_pushliteral(L, "pid.cancel");
	lua_setfield(L, -2, "CANCEL");
	lua_pushliteral(L, "pid.exit");
	lua_setfield(L, -2, "EXIT");
	lua_pushliteral(L, "pid.link.down");
	lua_setfield(L, -2, "LINK_DOWN");
	return 1;
}

static const luaL_Reg makers[] = {
	{"registry", make_registry},
	{"event", make_event},
	{NULL, NULL}
};

int luaopen_process(lua_State *L)
{
	lazylib_new2(L, funcs, makers);
	return 1;
}
