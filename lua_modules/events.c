/*
** lua_modules/events.c: require("events"): events.subscribe(system,
** kind?) and events.send(system, kind, path, data?) over the runtime's
** event bus (runtime/evbus.h), as the original's events module has them.
**
** A subscription is a listen channel of the calling process on a private
** topic "@events.<id>" (Lua code cannot listen to or send on "@" topics,
** so nothing else reaches it); the bus delivers each matching event there
** as a message whose payload is the event table {system, kind, path,
** data}, and the channel's receivers get that table. sub:close() takes
** the subscription off the bus, closes the channel and drops what was
** still queued for it. A subscription not closed goes with its process:
** the bus drops it at the first event after the process ended.
*/
#include "events.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "runtime/errors.h"
#include "runtime/evbus.h"
#include "runtime/mailbox.h"
#include "runtime/payload.h"
#include "runtime/proc.h"

#define SUB_META "events.Subscription"

struct sub {
	uint64_t id;        /* bus subscription; 0 once closed */
	char topic[40];
};

int events_publish(lua_State *L, const char *system, const char *kind,
		   const char *path, int data_idx)
{
	struct proc *p = proc_of(L);
	struct payload pl;
	int rc;

	if (data_idx)
		data_idx = lua_absindex(L, data_idx);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, system);
	lua_setfield(L, -2, "system");
	lua_pushstring(L, kind);
	lua_setfield(L, -2, "kind");
	lua_pushstring(L, path);
	lua_setfield(L, -2, "path");
	if (data_idx) {
		lua_pushvalue(L, data_idx);
		lua_setfield(L, -2, "data");
	}
	rc = payload_encode(L, lua_gettop(L), 1, &pl);
	lua_pop(L, 1);
	if (rc < 0)
		return rc;
	rc = evbus_send(p->rt, p->pid, system, kind, &pl);
	payload_free(&pl);
	return rc;
}

/* subscribe(system, kind?) -> Subscription | nil, err [-0, +(1|2), m] */
static int l_subscribe(lua_State *L)
{
	struct proc *p = proc_of(L);
	const char *system = luaL_optstring(L, 1, "");
	const char *kind = luaL_optstring(L, 2, NULL);
	struct sub *s;

	if (system[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "system pattern is required");
	s = lua_newuserdatauv(L, sizeof(*s), 1);
	memset(s, 0, sizeof(*s));
	luaL_setmetatable(L, SUB_META);
	/* The id is known only after subscribing; the topic must exist
	** first, so number the topic from the process's own counter. */
	lua_getfield(L, LUA_REGISTRYINDEX, "wippy.events.n");
	lua_Integer n = lua_tointeger(L, -1) + 1;
	lua_pop(L, 1);
	lua_pushinteger(L, n);
	lua_setfield(L, LUA_REGISTRYINDEX, "wippy.events.n");
	snprintf(s->topic, sizeof(s->topic), "@events.%lld", (long long)n);
	chan_push_special(L, CH_LISTEN, s->topic, 0);
	lua_setiuservalue(L, -2, 1);
	s->id = evbus_subscribe(p->rt, p->pid, system, kind, s->topic);
	lua_pushnil(L);
	return 2;
}

/* send(system, kind, path, data?) -> true | nil, err [-0, +(1|2), m] */
static int l_send(lua_State *L)
{
	const char *system = luaL_optstring(L, 1, "");
	const char *kind = luaL_optstring(L, 2, "");
	const char *path = luaL_optstring(L, 3, "");
	int rc;

	if (system[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "system is required");
	if (kind[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "kind is required");
	if (path[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "path is required");
	rc = events_publish(L, system, kind, path, lua_isnoneornil(L, 4) ? 0 : 4);
	if (rc < 0)
		return errors_ret(L, ERRORS_INVALID, "event data cannot be sent: %s",
				  payload_strerror(rc));
	lua_pushboolean(L, 1);
	return 1;
}

/* sub:channel() -> the same channel every time. [-0, +1, -] */
static int s_channel(lua_State *L)
{
	luaL_checkudata(L, 1, SUB_META);
	lua_getiuservalue(L, 1, 1);
	return 1;
}

static int same_topic(const struct msg *m, void *arg)
{
	return m->topic && strcmp(m->topic, arg) == 0;
}

/* sub:close() -> true; idempotent. [-0, +1, -] */
static int s_close(lua_State *L)
{
	struct sub *s = luaL_checkudata(L, 1, SUB_META);
	struct proc *p = proc_of(L);
	struct msg *m;

	if (s->id) {
		evbus_unsubscribe(p->rt, s->id);
		s->id = 0;
		lua_getiuservalue(L, 1, 1);
		chan_unlisten(L, lua_gettop(L));
		lua_pop(L, 1);
		/* Events queued before the close would otherwise reach the
		** inbox, which takes what no channel takes. */
		while ((m = mlist_take(&p->msgs, same_topic, s->topic)) != NULL)
			msg_free(m);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int s_tostring(lua_State *L)
{
	struct sub *s = luaL_checkudata(L, 1, SUB_META);
	lua_pushfstring(L, "events.Subscription(%s)", s->id ? "open" : "closed");
	return 1;
}

static const luaL_Reg sub_methods[] = {
	{"channel", s_channel}, {"close", s_close}, {NULL, NULL}
};

static const luaL_Reg funcs[] = {
	{"subscribe", l_subscribe}, {"send", l_send}, {NULL, NULL}
};

int luaopen_events(lua_State *L)
{
	if (luaL_newmetatable(L, SUB_META)) {
		luaL_newlib(L, sub_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, s_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
