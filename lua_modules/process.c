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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "lazylib.h"
#include "errors.h"
#include "modules.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

/* Resolve a destination (pid string or registered name) to a pid number,
** or push nil, err and return 0. */
static uint64_t resolve(lua_State *L, int idx, int *nret)
{
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	uint64_t pid = proc_parse_pid(s, len);
	if (pid == 0 && (pid = names_lookup(proc_of(L)->rt, s)) == 0)
		*nret = errors_ret(L, ERRORS_NOT_FOUND, "could not resolve: %s", s);
	return pid;
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
	const struct reg_entry *e = reg_find(p->rt->reg, id);
	if (e == NULL && strchr(id, ':') == NULL) {
		lua_pushfstring(L, "%s:%s", p->entry->ns, id);
		e = reg_find(p->rt->reg, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return e;
}

enum { SP_MONITOR = 1, SP_LINK = 2 };

static int do_spawn(lua_State *L, int how)
{
	struct proc *self = proc_of(L), *child;
	const struct reg_entry *e;
	struct host *h;
	struct spawn_opts o;
	struct payload args;
	const char *err = NULL;
	int n = lua_gettop(L), rc;

	if (n < 2)
		return errors_ret(L, ERRORS_INVALID,
				  "spawn requires at least id and host arguments");
	const char *id = luaL_checkstring(L, 1);
	const char *hid = luaL_checkstring(L, 2);
	e = find_entry(L, id);
	if (e == NULL || e->k != REG_K_PROCESS_LUA)
		return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s", id);
	h = rt_host(self->rt, hid);
	if (h == NULL)
		return errors_ret(L, ERRORS_NOT_FOUND, "host not found: %s", hid);
	memset(&args, 0, sizeof(args));
	rc = payload_encode(L, 3, n - 2, &args);
	if (rc < 0)
		return errors_ret(L, ERRORS_INVALID, "cannot pass arguments: %s",
				  payload_strerror(rc));
	memset(&o, 0, sizeof(o));
	o.entry = e;
	o.host = h;
	if (how & SP_MONITOR)
		o.monitor_by = self->pid;
	if (how & SP_LINK)
		o.link_with = self->pid;
	child = proc_spawn(self->rt, &o, &args, &err);
	if (child == NULL) {
		payload_free(&args);
		return errors_ret(L, ERRORS_UNAVAILABLE, "%s", err);
	}
	if (how & SP_LINK) {
		struct plink *l = &self->links;
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 4;
			l->v = xrealloc(l->v, l->cap * sizeof(uint64_t));
		}
		l->v[l->n++] = child->pid;
	}
	lua_pushlstring(L, child->pidstr, child->pidlen);
	proc_unref(child);
	return 1;
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
	int n = do_spawn(L, SP_MONITOR);
	if (n != 1)
		return n;
	pid = lua_tolstring(L, -1, &len);
	return proc_wait_exit(L, proc_parse_pid(pid, len), exec_k);
}

/* process.spawn*(id, host, ...) -> pid | nil, err [-0, +(1|2), m] */
static int p_spawn(lua_State *L) { return do_spawn(L, 0); }
static int p_spawn_monitored(lua_State *L) { return do_spawn(L, SP_MONITOR); }
static int p_spawn_linked(lua_State *L) { return do_spawn(L, SP_LINK); }
static int p_spawn_linked_monitored(lua_State *L) { return do_spawn(L, SP_LINK | SP_MONITOR); }

/* Send a system notice of kind to dest. [-0, +(1|2), m] */
static int notice(lua_State *L, enum msg_kind kind, const char *topic)
{
	struct proc *self = proc_of(L);
	int nret = 0;
	uint64_t to = resolve(L, 1, &nret);
	if (to == 0)
		return nret;
	struct msg *m = msg_new(kind, self->pid, topic);
	m->from_host = self->host->id;
	m->at = (double)time(NULL);
	if (proc_send(self->rt, to, m) < 0)
		return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s",
				  lua_tostring(L, 1));
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
	m = msg_new(MSG_USER, self->pid, topic);
	m->from_host = self->host->id;
	rc = payload_encode(L, 3, n - 2, &m->payload);
	if (rc < 0) {
		msg_free(m);
		return errors_ret(L, ERRORS_INVALID, "cannot send: %s", payload_strerror(rc));
	}
	if (proc_send(self->rt, to, m) < 0)
		return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s",
				  lua_tostring(L, 1));
	lua_pushboolean(L, 1);
	return 1;
}

/* process.inbox() / events() [-0, +1, m] */
static int p_inbox(lua_State *L) { chan_push_special(L, CH_INBOX, NULL, 1); return 1; }
static int p_events(lua_State *L) { chan_push_special(L, CH_EVENTS, NULL, 1); return 1; }

/* process.listen(topic [, {message = true}]) [-0, +1, m] */
static int p_listen(lua_State *L)
{
	const char *topic = luaL_checkstring(L, 1);
	int want = 0;
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
	return notice(L, MSG_CANCEL, reason);
}

static int p_terminate(lua_State *L) { return notice(L, MSG_TERMINATE, NULL); }
static int p_monitor(lua_State *L) { return notice(L, MSG_MONITOR, NULL); }
static int p_unmonitor(lua_State *L) { return notice(L, MSG_UNMONITOR, NULL); }

static int link_op(lua_State *L, int add)
{
	struct proc *self = proc_of(L);
	int nret = 0;
	uint64_t to = resolve(L, 1, &nret);
	if (to == 0)
		return nret;
	struct plink *l = &self->links;
	uint32_t i;
	for (i = 0; i < l->n && l->v[i] != to; i++)
		;
	if (add && i == l->n) {
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 4;
			l->v = xrealloc(l->v, l->cap * sizeof(uint64_t));
		}
		l->v[l->n++] = to;
	} else if (!add && i < l->n) {
		l->v[i] = l->v[--l->n];
	}
	return notice(L, add ? MSG_LINK : MSG_UNLINK, NULL);
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
		if (e == NULL || e->k != REG_K_PROCESS_LUA)
			return proc_upgrade(L, NULL, NULL, ERRORS_NOT_FOUND,
					    lua_pushfstring(L, "upgrade: process not found: %s", id));
	}
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
	lua_createtable(L, 0, 1);
	lua_pushboolean(L, proc_of(L)->trap_links);
	lua_setfield(L, -2, "trap_links");
	return 1;
}

/* process.set_options{trap_links = bool} -> true | false, err */
static int p_set_options(lua_State *L)
{
	struct proc *p = proc_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		if (strcmp(k, "trap_links") != 0) {
			lua_pushboolean(L, 0);
			errors_push(L, ERRORS_INVALID, "option %s is not supported", k);
			return 2;
		}
		p->trap_links = (uint8_t)lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* {==== process.registry ====} */

static int r_register(lua_State *L)
{
	struct proc *self = proc_of(L);
	const char *name = luaL_checkstring(L, 1);
	uint64_t pid = self->pid;
	int nret = 0;
	if (!lua_isnoneornil(L, 2) && (pid = resolve(L, 2, &nret)) == 0)
		return nret;
	if (pid != self->pid) {
		/* A name for a process that is gone would name nothing. */
		struct proc *p = proc_find(self->rt, pid);
		if (p == NULL)
			return errors_ret(L, ERRORS_NOT_FOUND, "process not found: %s",
					  lua_tostring(L, 2));
		proc_unref(p);
	}
	if (names_register(self->rt, name, pid) < 0)
		return errors_ret(L, ERRORS_ALREADY_EXISTS, "name already registered: %s", name);
	if (pid == self->pid) {
		for (uint32_t i = 0; i < self->nnames; i++)
			if (strcmp(self->names[i], name) == 0)
				goto done;
		self->names = xrealloc(self->names, (self->nnames + 1) * sizeof(char *));
		self->names[self->nnames++] = xstrdup(name);
	}
done:
	lua_pushboolean(L, 1);
	return 1;
}

static int r_lookup(lua_State *L)
{
	struct proc *self = proc_of(L);
	const char *name = luaL_checkstring(L, 1);
	uint64_t pid = names_lookup(self->rt, name);
	struct proc *p = pid ? proc_find(self->rt, pid) : NULL;
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
	int removed = names_unregister(self->rt, name, 0);
	for (uint32_t i = 0; i < self->nnames; i++)
		if (strcmp(self->names[i], name) == 0) {
			free(self->names[i]);
			self->names[i] = self->names[--self->nnames];
			break;
		}
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
	{"get_options", p_get_options},
	{"set_options", p_set_options},
	{"upgrade", p_upgrade},
	{NULL, NULL}
};

/* process.registry, made on first use. [-0, +1, m] */
static int make_registry(lua_State *L)
{
	static const char *const scopes[] = {"LOCAL", "EVENTUAL", "CONSISTENT", "STRONG"};
	lazylib_new(L, reg_funcs);
	for (int i = 0; i < 4; i++) {
		lua_pushstring(L, scopes[i]);
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
