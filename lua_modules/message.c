/*
** lua_modules/message.c: Message objects and event tables.
**
** A Message userdata holds a copy of its struct msg, its topic and its
** encoded bytes, and the mailbox's block is freed as the object is made.
** So a Message has no __gc: a finalizer costs a protected call at every
** collection that frees one, keeps the object alive a cycle longer, and
** makes the process's end a full lua_close instead of dropping its heap
** whole (runtime/proc.c); with one per message received, that was a tenth
** of a ping-pong's CPU. The bytes then count against the receiver's
** memory limit, which is where they live. msg:payload() hands out Payload
** objects (lua_modules/payload.c) that decode the message's bytes on their
** first :data(), so a message that is only routed by topic is never
** decoded.
*/
#include "message.h"
#include "udata.h"

#include <lauxlib.h>
#include <string.h>

#include "runtime/errors.h"
#include "lazylib.h"
#include "payload.h"
#include "runtime/mailbox.h"
#include "runtime/node.h"
#include "runtime/proc.h"

/* The userdata: the message, then its topic, then its encoded bytes when
** they are too long to sit inline in the payload. */
struct lmsg { struct msg m; };

static const char msg_key; /* the metatable's registry key: udata.h */

static struct msg *check_msg(lua_State *L, int i)
{
	struct lmsg *u = udata_check(L, i, &msg_key, MESSAGE_META);
	return &u->m;
}

static void push_from(lua_State *L, const struct msg *m)
{
	char buf[128];
	if (m->from == 0 || m->from_host == NULL) {
		lua_pushliteral(L, ""); /* the code returns "" (spec 13.4) */
		return;
	}
	node_format_pid(proc_of(L)->rt, buf, sizeof(buf), m->from_host, m->from);
	lua_pushstring(L, buf);
}

/* msg:topic() [-0, +1, m] */
static int msg_topic(lua_State *L)
{
	lua_pushstring(L, check_msg(L, 1)->topic);
	return 1;
}

/* msg:from() [-0, +1, m] */
static int msg_from(lua_State *L)
{
	push_from(L, check_msg(L, 1));
	return 1;
}

/* msg:payload(): one Payload, a table of them, or nil. [-0, +1, m] */
static int msg_payload(lua_State *L)
{
	uint32_t n = check_msg(L, 1)->payload.nvalues;
	if (n == 0) {
		lua_pushnil(L);
	} else if (n == 1) {
		lpayload_push_message(L, 1, 1);
	} else {
		lua_createtable(L, (int)n, 0);
		for (uint32_t i = 1; i <= n; i++) {
			lpayload_push_message(L, 1, (int)i);
			lua_seti(L, -2, i);
		}
	}
	return 1;
}

static int msg_tostring(lua_State *L)
{
	lua_pushfstring(L, "process.Message{topic=%s}", check_msg(L, 1)->topic);
	return 1;
}

static const luaL_Reg msg_methods[] = {
	{"topic", msg_topic},
	{"from", msg_from},
	{"payload", msg_payload},
	{NULL, NULL}
};

/* Push the metatable, made on first use. [-0, +1, m] */
static void push_meta(lua_State *L)
{
	udata_push_meta(L, UDATA_MESSAGE, &msg_key, MESSAGE_META, msg_methods, msg_tostring);
}

void message_open(lua_State *L)
{
	push_meta(L);
	lua_pop(L, 1);
}

const struct payload *message_payload(lua_State *L, int idx)
{
	return &check_msg(L, idx)->payload;
}

struct msg *message_push(lua_State *L, struct msg *m)
{
	size_t tl = strlen(m->topic) + 1;
	size_t pl = m->payload.len > PAYLOAD_INLINE ? m->payload.len : 0;
	struct proc *p = proc_of(L);
	/* If the allocation raises (the memory limit), the process frees m. */
	p->held = m;
	struct lmsg *u = lua_newuserdatauv(L, sizeof(*u) + tl + pl, 0);
	struct msg *c = &u->m;
	char *topic = (char *)(u + 1);

	p->held = NULL;
	*c = *m;
	memcpy(topic, m->topic, tl);
	c->topic = topic;
	if (pl) {
		c->payload._u.heap = (uint8_t *)topic + tl;
		memcpy(c->payload._u.heap, m->payload._u.heap, pl);
	}
	msg_free(m);
	push_meta(L); /* may raise: the copy is the Lua object's already */
	lua_setmetatable(L, -2);
	return c;
}

/* Decode m's payload; on failure push one string describing it. */
static int decode(lua_State *L, struct msg *m)
{
	int n = payload_decode(L, &m->payload);
	if (n < 0) {
		lua_pushstring(L, payload_strerror(n));
		return 1;
	}
	return n;
}

void message_push_payload_values(lua_State *L, struct msg *m)
{
	/* Wrap m first so a memory error while decoding cannot leak it. */
	m = message_push(L, m);
	int top = lua_gettop(L);
	int n = decode(L, m);
	if (n == 0) {
		lua_pushnil(L);
	} else if (n > 1) {
		lua_createtable(L, n, 0);
		lua_insert(L, top + 1);
		for (int i = n; i >= 1; i--)
			lua_seti(L, top + 1, i);
	}
	lua_replace(L, top);
	lua_settop(L, top);
}

void message_push_event(lua_State *L, struct msg *m)
{
	m = message_push(L, m); /* the copy lives until the table is built */
	int mi = lua_gettop(L);
	lua_createtable(L, 0, 5);
	switch (m->kind) {
	case MSG_EXIT:      lua_pushliteral(L, "pid.exit"); break;
	case MSG_LINK_DOWN: lua_pushliteral(L, "pid.link.down"); break;
	default:            lua_pushliteral(L, "pid.cancel"); break;
	}
	lua_setfield(L, -2, "kind");
	push_from(L, m);
	lua_setfield(L, -2, "from");
	lua_pushnumber(L, m->at);
	lua_setfield(L, -2, "at");
	if (m->kind == MSG_CANCEL) {
		lua_pushstring(L, m->topic);
		lua_setfield(L, -2, "reason");
	} else if (m->payload.nvalues == 0) {
		lua_createtable(L, 0, 1);
		errors_push(L, ERRORS_NOT_FOUND, "process not found");
		lua_setfield(L, -2, "error");
		lua_setfield(L, -2, "result");
	} else {
		int top = lua_gettop(L);
		int n = decode(L, m);
		lua_settop(L, top + (n > 0));
		if (!lua_istable(L, -1)) {
			lua_pop(L, 1);
			lua_createtable(L, 0, 0);
		}
		lua_setfield(L, -2, "result");
	}
	lua_replace(L, mi); /* the Message is dropped; GC frees the copy */
}
