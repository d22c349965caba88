/*
** lua_modules/lqueue.c: require("queue") (the original's
** runtime/lua/modules/queue) over runtime/queue.h.
**
**   queue.publish(queue_id, data, headers?) -> true, nil | nil, err
**   queue.message() -> Message | nil, err      (in a consumer's handler)
**   queue.info(queue_id) -> {message_count, consumer_count} | nil, err
**   Message:id() :header(key) :headers() :ack() :nack()
**
** Headers are a table with string keys and string, number or boolean
** values. A Message is valid only while its handler runs (then INVALID
** "queue.Message released"); ack and nack settle it once (then INVALID
** "queue.Message already settled"); a handler that settles nothing is
** acked when it returns a result and nacked when it fails.
*/
#include <lauxlib.h>
#include <string.h>

#include "lazylib.h"
#include "modules.h"
#include "runtime/errors.h"
#include "runtime/fcall.h"
#include "runtime/payload.h"
#include "runtime/proc.h"
#include "runtime/queue.h"

#define MESSAGE_META "queue.Message"

struct qmessage {
	struct queue_delivery *d;
	uint64_t seq;
};

/* queue.publish(id, data, headers?) [-0, +2, m] */
static int m_publish(lua_State *L)
{
	size_t len;
	const char *id = luaL_checklstring(L, 1, &len);
	struct payload body, headers;
	const char *kind = NULL, *err = NULL;
	int rc;

	if (len == 0)
		return errors_ret(L, ERRORS_INVALID, "queue ID empty");
	if (lua_isnoneornil(L, 2))
		return errors_ret(L, ERRORS_INVALID, "message data required");
	if (!lua_isnoneornil(L, 3)) {
		if (!lua_istable(L, 3))
			return errors_ret(L, ERRORS_INVALID, "headers must be a table, got %s",
					  luaL_typename(L, 3));
		lua_pushnil(L);
		while (lua_next(L, 3)) {
			int t = lua_type(L, -1);
			if (lua_type(L, -2) != LUA_TSTRING ||
			    (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN))
				return errors_ret(L, ERRORS_INVALID, "headers: keys must be strings "
						  "and values strings, numbers or booleans");
			lua_pop(L, 1);
		}
	}
	memset(&headers, 0, sizeof(headers));
	if ((rc = payload_encode(L, 2, 1, &body)) < 0)
		return errors_ret(L, ERRORS_INVALID, "message data cannot be passed: %s",
				  payload_strerror(rc));
	if (lua_istable(L, 3) && (rc = payload_encode(L, 3, 1, &headers)) < 0) {
		payload_free(&body);
		return errors_ret(L, ERRORS_INVALID, "headers cannot be passed: %s",
				  payload_strerror(rc));
	}
	if (queue_publish(proc_of(L)->rt, id, &body, &headers, &kind, &err) < 0)
		return errors_ret(L, kind, "%s: %s", err, id);
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

/* queue.message() [-0, +2, m] */
static int m_message(lua_State *L)
{
	uint64_t seq = 0;
	struct queue_delivery *d = queue_delivery_of(fcall_current(proc_of(L)), &seq);
	struct qmessage *m;
	if (d == NULL || !queue_delivery_live(d, seq))
		return errors_ret(L, ERRORS_INVALID, "no delivery found in context");
	m = lua_newuserdatauv(L, sizeof(*m), 0);
	m->d = d;
	m->seq = seq;
	luaL_setmetatable(L, MESSAGE_META);
	lua_pushnil(L);
	return 2;
}

/* queue.info(id) [-0, +2, m] */
static int m_info(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	uint64_t n = 0;
	int c = 0;
	if (id[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "queue ID empty");
	if (queue_info(proc_of(L)->rt, id, &n, &c) < 0)
		return errors_ret(L, ERRORS_INTERNAL, "queue not found: %s", id);
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, (lua_Integer)n);
	lua_setfield(L, -2, "message_count");
	lua_pushinteger(L, c);
	lua_setfield(L, -2, "consumer_count");
	lua_pushnil(L);
	return 2;
}

/* The live delivery of the Message at 1, or NULL after pushing nil, err. */
static struct queue_delivery *live(lua_State *L)
{
	struct qmessage *m = luaL_checkudata(L, 1, MESSAGE_META);
	if (!queue_delivery_live(m->d, m->seq)) {
		errors_ret(L, ERRORS_INVALID, "queue.Message released");
		return NULL;
	}
	return m->d;
}

static int msg_id(lua_State *L)
{
	struct queue_delivery *d = live(L);
	if (d == NULL)
		return 2;
	lua_pushstring(L, queue_delivery_id(d));
	lua_pushnil(L);
	return 2;
}

/* Push the headers table (a new one per call), or an empty one. */
static int push_headers(lua_State *L, struct queue_delivery *d)
{
	const struct payload *h = queue_delivery_headers(d);
	if (h->len == 0 || payload_decode(L, h) != 1 || !lua_istable(L, -1)) {
		lua_newtable(L);
	}
	lua_pushinteger(L, queue_delivery_attempts(d));
	lua_setfield(L, -2, "attempts");
	return 1;
}

static int msg_headers(lua_State *L)
{
	struct queue_delivery *d = live(L);
	if (d == NULL)
		return 2;
	lua_settop(L, 1);
	push_headers(L, d);
	lua_pushnil(L);
	return 2;
}

static int msg_header(lua_State *L)
{
	struct queue_delivery *d = live(L);
	const char *key;
	if (d == NULL)
		return 2;
	key = luaL_checkstring(L, 2);
	lua_settop(L, 2);
	push_headers(L, d);
	lua_getfield(L, -1, key);
	lua_pushnil(L);
	return 2;
}

static int settle(lua_State *L, int nack)
{
	struct queue_delivery *d = live(L);
	if (d == NULL)
		return 2;
	if (queue_settle(d, nack) < 0)
		return errors_ret(L, ERRORS_INVALID, "queue.Message already settled");
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

static int msg_ack(lua_State *L) { return settle(L, 0); }
static int msg_nack(lua_State *L) { return settle(L, 1); }

static const luaL_Reg funcs[] = {
	{"publish", m_publish},
	{"message", m_message},
	{"info", m_info},
	{NULL, NULL}
};

static const luaL_Reg msg_methods[] = {
	{"id", msg_id},
	{"header", msg_header},
	{"headers", msg_headers},
	{"ack", msg_ack},
	{"nack", msg_nack},
	{NULL, NULL}
};

int luaopen_queue(lua_State *L)
{
	if (luaL_newmetatable(L, MESSAGE_META)) {
		lazylib_methods(L, msg_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	lazylib_new(L, funcs);
	return 1;
}
