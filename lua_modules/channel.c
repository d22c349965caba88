/*
** lua_modules/channel.c: channels and select (spec 5), and the process's
** subscription channels (inbox, events, listen: spec 4.4).
**
** A plain channel keeps buffered values in a Lua table (uservalue 1) used as
** a ring; blocked senders keep their value on their own suspended stack, so
** a rendezvous moves the value straight from the sender's stack to the
** receiver. Waiters are C records inside a userdata left on the blocked
** coroutine's stack: they live exactly as long as the wait.
**
** Subscription channels have no buffer: their items are the process's
** queued messages and events, which stay queued in arrival order until a
** receiver takes them (so nothing is dropped and order holds, spec 10.3).
** The queues are the process core's (struct mlist in struct proc): this
** file only takes from them, through mlist_take. A process's subscriptions
** (struct subs) are made on its first one and registered as its pump
** (proc_set_pump), which the core calls in each step while any exists;
** a process that never subscribes pays nothing for them.
**
** Ready-case choice in select follows the code of the original: the first
** ready case in array order wins, no random choice.
*/
#include "channel.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/errors.h"
#include "lazylib.h"
#include "udata.h"
#include "message.h"
#include "runtime/proc.h"

struct sel;

struct waiter {
	struct waiter *next, *prev;
	struct chan *ch;
	struct sel *sel;
	int case_idx;      /* 1-based case in a select; 0 for a plain op */
	int chan_idx;      /* select: the channel's slot on the blocked stack */
	int is_send;
};

/* One blocked operation: a plain send/receive or a whole select. */
struct sel {
	struct coro *co;
	int is_select;
	int cases_idx;     /* select: index of the cases table on co->L */
	int value_idx;     /* plain send: index of the value on co->L */
	int n;
	struct waiter w[];
};

/* A process's subscription channels: one record per Lua state, made on
** the first subscription, in a userdata anchored in the registry (so it
** goes with the state) and kept as the process's pump data. */
struct subs {
	struct chan *inbox, *events; /* NULL until asked */
	struct chan *listens;        /* listen() and subscribe() channels */
};

#define SUBS_KEY "wippy.subs"

struct chan {
	struct proc *p;
	int cap, head, count;
	uint8_t closed, kind, want_msg;
	struct waiter *rq, *rq_tail; /* blocked receivers, FIFO */
	struct waiter *sq, *sq_tail; /* blocked senders, FIFO */
	const char *topic;           /* listen pattern: the string in user
	                             ** value 2, so a channel needs no __gc */
	struct chan *next_listen;
	int ref;                     /* registry ref of special channels */
};

/* {==== Wait queues ====} */

static void wq_push(struct waiter **h, struct waiter **t, struct waiter *w)
{
	w->next = NULL;
	w->prev = *t;
	if (*t)
		(*t)->next = w;
	else
		*h = w;
	*t = w;
}

static void wq_del(struct waiter **h, struct waiter **t, struct waiter *w)
{
	if (w->prev) w->prev->next = w->next; else *h = w->next;
	if (w->next) w->next->prev = w->prev; else *t = w->prev;
	w->next = w->prev = NULL;
}

/* Remove every waiter of sel from its channel. */
static void sel_unlink(struct sel *s)
{
	for (int i = 0; i < s->n; i++) {
		struct waiter *w = &s->w[i];
		if (w->ch == NULL)
			continue;
		if (w->is_send)
			wq_del(&w->ch->sq, &w->ch->sq_tail, w);
		else
			wq_del(&w->ch->rq, &w->ch->rq_tail, w);
		w->ch = NULL;
	}
}

/* Select results are tables {value, channel, ok} (or {default, ok}),
** made once per select. Their keys are kept in the channel metatable's
** array part, after udata.h's mark, so that making one reads a slot
** instead of interning a C string (lua_setfield: a cache probe and a
** strcmp, or a walk of the string table once a collection cleared the
** cache: a tenth of a ticking worker's tick, perf). */
enum { K_VALUE = 2, K_CHANNEL, K_OK, K_DEFAULT };

/* Push {value = <value at vi>, channel = <channel at ci>, ok = ok}.
** [-0, +1, m] */
static void push_result(lua_State *L, int vi, int ci, int ok)
{
	int mt, t;
	vi = lua_absindex(L, vi);
	ci = lua_absindex(L, ci);
	lua_getmetatable(L, ci);
	mt = lua_gettop(L);
	lua_createtable(L, 0, 3);
	t = mt + 1;
	lua_rawgeti(L, mt, K_VALUE);
	lua_pushvalue(L, vi);
	lua_rawset(L, t);
	lua_rawgeti(L, mt, K_CHANNEL);
	lua_pushvalue(L, ci);
	lua_rawset(L, t);
	lua_rawgeti(L, mt, K_OK);
	lua_pushboolean(L, ok);
	lua_rawset(L, t);
	lua_remove(L, mt);
}

/* Push the channel userdata of waiter w onto co (select results): a copy
** of the stack slot select left it in, not a read of the (cold) cases. */
static void push_case_chan(lua_State *co, const struct waiter *w)
{
	lua_pushvalue(co, w->chan_idx);
}

/* Complete a blocked receive: the value is on top of `from` (moved). */
static void complete_recv(struct waiter *w, lua_State *from, int ok)
{
	struct sel *s = w->sel;
	lua_State *co = s->co->L;

	sel_unlink(s);            /* leaves w's record in place until resumed */
	lua_xmove(from, co, 1);
	if (!s->is_select) {
		lua_pushboolean(co, ok);
		proc_ready(s->co, 2);
		return;
	}
	push_case_chan(co, w);
	push_result(co, -2, -1, ok);
	lua_replace(co, -3);
	lua_pop(co, 1);
	proc_ready(s->co, 1);
}

/* Push the value a blocked sender offers onto L. */
static void push_send_value(lua_State *L, struct waiter *w)
{
	struct sel *s = w->sel;
	lua_State *co = s->co->L;
	if (s->is_select) {
		lua_geti(co, s->cases_idx, w->case_idx);
		lua_geti(co, -1, 3);
		lua_remove(co, -2);
	} else {
		lua_pushvalue(co, s->value_idx);
	}
	lua_xmove(co, L, 1);
}

/* Complete a blocked send: ok = delivered, !ok = the channel closed. */
static void complete_send(struct waiter *w, int ok)
{
	struct sel *s = w->sel;
	lua_State *co = s->co->L;
	int case_idx = w->case_idx;

	sel_unlink(s);
	if (!s->is_select) {
		lua_pushboolean(co, ok);
		proc_ready(s->co, 1);
		return;
	}
	if (!ok) { /* select raises like a plain send */
		lua_pushboolean(co, 0);
		proc_ready(s->co, 1);
		return;
	}
	lua_geti(co, s->cases_idx, case_idx);
	lua_geti(co, -1, 3);                /* case, value */
	push_case_chan(co, w);              /* case, value, channel */
	push_result(co, -2, -1, 1);
	lua_replace(co, -4);
	lua_pop(co, 2);
	proc_ready(s->co, 1);
}

/* {==== Subscription sources ====} */

/* Subscriptions match a message's topic exactly, as the original's
** subscribeContext.match does (no patterns). */
static int topic_match(const char *topic, const char *s)
{
	return strcmp(topic, s) == 0;
}

/* Whether the user message m is for channel c (arg): a topic channel
** takes its topic, the inbox what no topic channel takes. */
static int for_chan(const struct msg *m, void *arg)
{
	struct chan *c = arg;
	struct subs *s = c->p->pump_data;
	if (c->topic) /* listen, or a channel given to subscribe() */
		return topic_match(c->topic, m->topic);
	/* "@" topics are the runtime's own (Lua cannot send on them): an
	** event for a closed events subscription is never inbox mail. */
	if (m->topic[0] == '@')
		return 0;
	for (struct chan *l = s ? s->listens : NULL; l; l = l->next_listen)
		if (topic_match(l->topic, m->topic))
			return 0;
	return 1;
}

/* Take the first queued item for the subscription channel c and push its
** Lua form onto L: 1, or 0 (nothing pushed) when there is none.
** [-0, +(0|1), m] */
static int take_item(lua_State *L, struct chan *c)
{
	struct proc *p = c->p;
	struct msg *m = c->kind == CH_EVENTS ? mlist_take(&p->events, NULL, NULL)
					     : mlist_take(&p->msgs, for_chan, c);
	if (m == NULL)
		return 0;
	if (c->kind == CH_EVENTS)
		message_push_event(L, m);        /* frees m */
	else if (c->kind == CH_INBOX || c->want_msg)
		message_push(L, m);              /* frees m */
	else
		message_push_payload_values(L, m); /* frees m */
	return 1;
}

/* The pump (see proc_set_pump): hand queued items to the receivers
** blocked on the process's subscription channels. [-0, +0, m] */
static void pump(lua_State *L, struct proc *p, void *data)
{
	struct subs *s = data;
	struct chan *chans[2];
	int n = 0;
	(void)p;
	if (s->inbox) chans[n++] = s->inbox;
	if (s->events) chans[n++] = s->events;
	for (int i = 0; i < n; i++) {
		struct chan *c = chans[i];
		while (c->rq && take_item(L, c))
			complete_recv(c->rq, L, 1);
	}
	for (struct chan *c = s->listens; c; c = c->next_listen)
		while (c->rq && take_item(L, c))
			complete_recv(c->rq, L, 1);
}

/* p's subscriptions, made (and anchored) on first use. [-0, +0, m] */
static struct subs *subs_get(lua_State *L, struct proc *p)
{
	struct subs *s = p->pump_data;
	if (s == NULL) {
		s = lua_newuserdatauv(L, sizeof(*s), 0);
		memset(s, 0, sizeof(*s));
		lua_setfield(L, LUA_REGISTRYINDEX, SUBS_KEY);
		proc_set_pump(p, NULL, s);
	}
	return s;
}

/* Register the pump while p has a subscription, clear it when the last
** one goes (so the deadlock check and the step see none). */
static void subs_update(struct proc *p, struct subs *s)
{
	proc_set_pump(p, s->inbox || s->events || s->listens ? pump : NULL, s);
}

/* {==== Operations ====} */

static const char chan_key; /* the metatable's registry key: udata.h */

static void chan_meta(lua_State *L);

struct chan *chan_check(lua_State *L, int idx)
{
	return udata_check(L, idx, &chan_key, CHAN_META);
}

/* Buffer ring in uservalue 1 of the channel at ci: slots 1..cap. */
static void buf_push(lua_State *L, int ci, struct chan *c)
{
	lua_getiuservalue(L, ci, 1);
	lua_insert(L, -2);
	lua_seti(L, -2, (c->head + c->count) % c->cap + 1);
	lua_pop(L, 1);
	c->count++;
}

static void buf_pop(lua_State *L, int ci, struct chan *c)
{
	lua_getiuservalue(L, ci, 1);
	lua_geti(L, -1, c->head + 1);
	lua_pushnil(L);
	lua_seti(L, -3, c->head + 1);
	lua_remove(L, -2);
	c->head = (c->head + 1) % c->cap;
	c->count--;
}

/* Try to receive from the channel at ci without blocking: pushes value and
** ok and returns 1, or returns 0 (it would block). [-0, +(0|2), m] */
static int try_recv(lua_State *L, int ci)
{
	struct chan *c = lua_touserdata(L, ci);
	if (c->kind != CH_PLAIN) {
		/* an unlistened channel takes nothing more */
		if (!c->closed && take_item(L, c)) {
			lua_pushboolean(L, 1);
			return 1;
		}
	} else if (c->count > 0) {
		buf_pop(L, ci, c);
		if (c->sq) { /* a blocked sender's value takes the freed slot */
			struct waiter *w = c->sq;
			push_send_value(L, w);
			buf_push(L, ci, c);
			complete_send(w, 1);
		}
		lua_pushboolean(L, 1);
		return 1;
	} else if (c->sq) {
		struct waiter *w = c->sq;
		push_send_value(L, w);
		complete_send(w, 1);
		lua_pushboolean(L, 1);
		return 1;
	} else if (c->topic && !c->closed && take_item(L, c)) {
		/* subscribe(): queued messages */
		lua_pushboolean(L, 1);
		return 1;
	}
	if (c->closed) {
		lua_pushnil(L);
		lua_pushboolean(L, 0);
		return 1;
	}
	return 0;
}

/* Try to send the value at vi on the channel at ci without blocking.
** Returns 1 when done, 0 when it would block; raises on a closed channel.
** [-0, +0, e] */
static int try_send(lua_State *L, int ci, int vi)
{
	struct chan *c = lua_touserdata(L, ci);
	if (c->closed)
		return luaL_error(L, "send on closed channel");
	if (c->kind != CH_PLAIN)
		return luaL_error(L, "cannot send on a subscription channel");
	if (c->rq) {
		lua_pushvalue(L, vi);
		complete_recv(c->rq, L, 1);
		return 1;
	}
	if (c->count < c->cap) {
		lua_pushvalue(L, vi);
		buf_push(L, ci, c);
		return 1;
	}
	return 0;
}

int chan_offer(lua_State *L, int ci)
{
	struct chan *c = chan_check(L, ci);
	ci = lua_absindex(L, ci);
	if (c->closed) {
		lua_pop(L, 1);
		return 0;
	}
	if (c->rq) {
		complete_recv(c->rq, L, 1);
		return 1;
	}
	if (c->count < c->cap) {
		buf_push(L, ci, c);
		return 1;
	}
	lua_pop(L, 1);
	return 0;
}

/* The record of co's wait on n cases: in the coroutine's wait space when
** it fits (SEL_INLINE cases), else a userdata left on L's stack; either
** way it lasts until the wait completes. [-0, +(0|1), m] */
#define SEL_INLINE 2
_Static_assert(sizeof(struct sel) + SEL_INLINE * sizeof(struct waiter) <=
	       sizeof(((struct coro *)0)->wait_space), "coro wait space");

static struct sel *sel_new(lua_State *L, struct coro *co, int n)
{
	size_t sz = sizeof(struct sel) + (size_t)n * sizeof(struct waiter);
	struct sel *s = n <= SEL_INLINE ? (struct sel *)co->wait_space
					: lua_newuserdatauv(L, sz, 0);
	memset(s, 0, sz);
	s->co = co;
	s->n = n;
	return s;
}

static void wait_on(struct sel *s, int i, struct chan *c, int is_send,
		    int case_idx, int chan_idx)
{
	struct waiter *w = &s->w[i];
	w->ch = c;
	w->chan_idx = chan_idx;
	w->sel = s;
	w->is_send = is_send;
	w->case_idx = case_idx;
	if (is_send)
		wq_push(&c->sq, &c->sq_tail, w);
	else
		wq_push(&c->rq, &c->rq_tail, w);
}

/* {==== Lua API ====} */

static int send_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	if (!lua_toboolean(L, -1))
		return luaL_error(L, "send on closed channel");
	return 1;
}

/* ch:send(v) -> true; blocks while full; raises when closed. [-0, +1, e] */
static int ch_send(lua_State *L)
{
	struct chan *c = chan_check(L, 1);
	struct sel *s;
	lua_settop(L, 2);
	if (try_send(L, 1, 2)) {
		lua_pushboolean(L, 1);
		return 1;
	}
	s = sel_new(L, proc_coro(L), 1);
	s->value_idx = 2;
	wait_on(s, 0, c, 1, 0, 0);
	return proc_block(L, 0, send_k, 0);
}

/* ch:receive() -> value, ok. [-0, +2, e] */
static int ch_receive(lua_State *L)
{
	struct chan *c = chan_check(L, 1);
	struct sel *s;
	lua_settop(L, 1);
	if (try_recv(L, 1))
		return 2;
	s = sel_new(L, proc_coro(L), 1);
	wait_on(s, 0, c, 0, 0, 0);
	return proc_block(L, c->kind != CH_PLAIN || c->topic != NULL, NULL, 0);
}

/* Wake everyone blocked on c: receivers get nil, false; senders fail. */
static void close_chan(lua_State *L, struct chan *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	while (c->rq) {
		lua_pushnil(L);
		complete_recv(c->rq, L, 0);
	}
	while (c->sq)
		complete_send(c->sq, 0);
}

/* ch:close(): closing twice is a no-op. [-0, +0, m] */
static int ch_close(lua_State *L)
{
	close_chan(L, chan_check(L, 1));
	return 0;
}

/* Case objects: {channel, is_send, value}. [-0, +1, m] */
static int make_case(lua_State *L, int is_send)
{
	chan_check(L, 1);
	lua_settop(L, 2);
	lua_createtable(L, 3, 0);
	lua_pushvalue(L, 1);
	lua_seti(L, -2, 1);
	lua_pushboolean(L, is_send);
	lua_seti(L, -2, 2);
	lua_pushvalue(L, 2);
	lua_seti(L, -2, 3);
	return 1;
}

static int ch_case_send(lua_State *L) { return make_case(L, 1); }
static int ch_case_receive(lua_State *L) { return make_case(L, 0); }

static int ch_tostring(lua_State *L)
{
	struct chan *c = chan_check(L, 1);
	lua_pushfstring(L, "channel: %p", (void *)c);
	return 1;
}

static int select_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
		return luaL_error(L, "send on closed channel");
	return 1;
}

/* The channel of the case at stack slot idx, pushed, or 0 and nothing
** pushed if the value is not a case made by case_send/case_receive. */
static int push_case(lua_State *L, int idx)
{
	if (lua_type(L, idx) != LUA_TTABLE)
		return 0;
	lua_geti(L, idx, 1);
	if (udata_test(L, -1, &chan_key))
		return 1;
	lua_pop(L, 1);
	return 0;
}

/* channel.select{cases..., default = true} or select(cases, true).
** The first ready case in array order wins. Entries that are not cases
** are skipped, as the original does; with no case and no default the
** coroutine blocks for good (a deadlock the scheduler reports if nothing
** else can run). [-0, +1, e] */
static int ch_select(lua_State *L)
{
	/* The cases seen by the ready scan, so that waiting on them needs no
	** second walk of the table (up to SCAN_MAX; more are walked again). */
	enum { SCAN_MAX = 8 };
	struct { struct chan *c; int i; uint8_t send; } seen[SCAN_MAX];
	int n, ncases = 0, has_default, ext = 0, w, mt, base;
	struct sel *s;

	luaL_checktype(L, 1, LUA_TTABLE);
	has_default = lua_toboolean(L, 2);
	lua_settop(L, 1);
	n = (int)luaL_len(L, 1);
	/* Each case's channel stays on the stack, from base + 1 on: a wait
	** names its channel by slot (push_case_chan). */
	base = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		int ci, cs, is_send;
		luaL_checkstack(L, 4, "too many select cases");
		lua_geti(L, 1, i);
		cs = lua_gettop(L);
		if (!push_case(L, cs)) {
			lua_settop(L, cs - 1);
			continue;
		}
		ci = lua_gettop(L);
		lua_geti(L, cs, 2);
		is_send = lua_toboolean(L, -1);
		lua_pop(L, 1);
		if (ncases < SCAN_MAX) {
			seen[ncases].c = lua_touserdata(L, ci);
			seen[ncases].i = i;
			seen[ncases].send = (uint8_t)is_send;
		}
		ncases++;
		if (is_send) {
			lua_geti(L, cs, 3);
			if (try_send(L, ci, lua_gettop(L))) {
				push_result(L, -1, ci, 1);
				return 1;
			}
		} else if (try_recv(L, ci)) {
			int ok = lua_toboolean(L, -1);
			lua_pop(L, 1);
			push_result(L, -1, ci, ok);
			return 1;
		}
		lua_settop(L, ci);
		lua_remove(L, cs);      /* the channel takes the case's slot */
	}
	/* The result keys: from a case's channel's metatable, or the registry
	** when there is no case. */
	if (ncases > 0)
		lua_getmetatable(L, base + 1);
	else
		chan_meta(L);
	mt = lua_gettop(L);
	lua_rawgeti(L, mt, K_DEFAULT);
	if (lua_rawget(L, 1) != LUA_TNIL)
		has_default = has_default || lua_toboolean(L, -1);
	lua_settop(L, mt);
	if (has_default) {
		lua_createtable(L, 0, 2);
		lua_rawgeti(L, mt, K_DEFAULT);
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
		lua_rawgeti(L, mt, K_OK);
		lua_pushboolean(L, 1);
		lua_rawset(L, -3);
		return 1;
	}
	s = sel_new(L, proc_coro(L), ncases);
	s->is_select = 1;
	s->cases_idx = 1;
	if (ncases <= SCAN_MAX) {
		for (w = 0; w < ncases; w++) {
			struct chan *c = seen[w].c;
			wait_on(s, w, c, seen[w].send, seen[w].i, base + 1 + w);
			ext |= c->kind != CH_PLAIN || c->topic != NULL;
		}
		return proc_block(L, ext, select_k, 0);
	}
	/* More than SCAN_MAX cases: their channels are on the stack in case
	** order; walk the table again for the rest of each case. */
	w = 0;
	for (int i = 1; i <= n; i++) {
		struct chan *c;
		lua_geti(L, 1, i);
		if (!push_case(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		c = lua_touserdata(L, -1);
		lua_geti(L, -2, 2);
		wait_on(s, w, c, lua_toboolean(L, -1), i, base + 1 + w);
		w++;
		ext |= c->kind != CH_PLAIN || c->topic != NULL;
		lua_pop(L, 3);
	}
	return proc_block(L, ext, select_k, 0);
}

/* Give the channel c at idx its topic (NULL: none), kept as its user
** value 2 so that the pointer stays valid while c has it. [-0, +0, m] */
static void set_topic(lua_State *L, int idx, struct chan *c, const char *topic)
{
	idx = lua_absindex(L, idx);
	c->topic = NULL;
	if (topic)
		c->topic = lua_pushstring(L, topic);
	else
		lua_pushnil(L);
	lua_setiuservalue(L, idx, 2);
}

static struct chan *new_chan(lua_State *L, int cap, int kind)
{
	struct chan *c = lua_newuserdatauv(L, sizeof(*c), 2);
	memset(c, 0, sizeof(*c));
	c->p = proc_of(L);
	c->cap = cap;
	c->kind = (uint8_t)kind;
	c->ref = LUA_NOREF;
	if (cap > 0) {
		lua_createtable(L, cap < 64 ? cap : 64, 0);
		lua_setiuservalue(L, -2, 1);
	}
	chan_meta(L);
	lua_setmetatable(L, -2);
	return c;
}

struct chan *chan_push_new(lua_State *L, int cap)
{
	return new_chan(L, cap, CH_PLAIN);
}

/* The channel subscribed to exactly topic (listen or subscribe), or NULL. */
static struct chan *find_listen(struct proc *p, const char *topic)
{
	struct subs *s = p->pump_data;
	for (struct chan *c = s ? s->listens : NULL; c; c = c->next_listen)
		if (strcmp(c->topic, topic) == 0)
			return c;
	return NULL;
}

/* Put the topic channel c on its process's subscription list. */
static void link_listen(lua_State *L, struct chan *c)
{
	struct subs *s = subs_get(L, c->p);
	c->next_listen = s->listens;
	s->listens = c;
	subs_update(c->p, s);
}

/* Take c off its process's subscription list (c is on it). */
static void unlink_listen(struct chan *c)
{
	struct subs *s = c->p->pump_data;
	for (struct chan **pp = &s->listens; *pp; pp = &(*pp)->next_listen)
		if (*pp == c) {
			*pp = c->next_listen;
			break;
		}
	subs_update(c->p, s);
}

struct chan *chan_push_special(lua_State *L, enum chan_kind kind,
			       const char *topic, int want_msg)
{
	struct proc *p = proc_of(L);
	struct subs *s = subs_get(L, p);
	struct chan **slot = kind == CH_INBOX ? &s->inbox :
			     kind == CH_EVENTS ? &s->events : NULL;
	struct chan *c;
	if (slot && *slot) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, (*slot)->ref);
		return *slot;
	}
	if (slot == NULL && (c = find_listen(p, topic)) != NULL) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
		return c;
	}
	c = new_chan(L, 0, kind);
	c->want_msg = (uint8_t)want_msg;
	lua_pushvalue(L, -1);
	c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (slot) {
		*slot = c;
		subs_update(p, s);
	} else {
		set_topic(L, -1, c, topic);
		link_listen(L, c);
	}
	return c;
}

void chan_unlisten(lua_State *L, int idx)
{
	struct chan *c = chan_check(L, idx);
	if (c->kind != CH_LISTEN)
		luaL_error(L, "not a listen channel");
	unlink_listen(c);
	close_chan(L, c);
	luaL_unref(L, LUA_REGISTRYINDEX, c->ref);
	c->ref = LUA_NOREF;
}

/* subscribe(topic, ch) -> true | nil, err: messages sent to this process
** on exactly topic go to ch, a channel of this process made with
** channel.new (its receivers get the message's payload value, as from
** process.listen). Subscribing a channel to the topic it already has is a
** no-op; a topic another channel has (listen or subscribe) is refused.
** [-0, +(1|2), e] */
int chan_subscribe(lua_State *L)
{
	const char *topic = luaL_checkstring(L, 1);
	struct chan *c = chan_check(L, 2), *other;
	struct proc *p = proc_of(L);
	if (c->p != p)
		return luaL_argerror(L, 2, "channel of another process");
	other = find_listen(p, topic);
	if (other == c)
		goto ok;
	if (other)
		return errors_ret(L, ERRORS_ALREADY_EXISTS,
				  "topic already subscribed: %s", topic);
	if (c->kind != CH_PLAIN)
		return errors_ret(L, ERRORS_INVALID,
				  "cannot subscribe a process channel");
	if (c->topic)
		return errors_ret(L, ERRORS_INVALID,
				  "channel already subscribed to %s", c->topic);
	if (c->closed)
		return errors_ret(L, ERRORS_INVALID, "channel is closed");
	set_topic(L, 2, c, topic);
	link_listen(L, c);
	lua_pushvalue(L, 2);  /* anchored while subscribed */
	c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
ok:
	lua_pushboolean(L, 1);
	return 1;
}

/* unsubscribe(ch) -> true | nil, err: stop routing to ch. A channel from
** process.listen is closed as by process.unlisten; one given to
** subscribe() stays open and keeps what it buffered. [-0, +(1|2), e] */
int chan_unsubscribe(lua_State *L)
{
	struct chan *c = chan_check(L, 1);
	if (c->p != proc_of(L) || c->topic == NULL || find_listen(c->p, c->topic) != c)
		return errors_ret(L, ERRORS_NOT_FOUND, "channel not found");
	if (c->kind == CH_LISTEN) {
		chan_unlisten(L, 1);
	} else {
		unlink_listen(c);
		set_topic(L, 1, c, NULL);
		luaL_unref(L, LUA_REGISTRYINDEX, c->ref);
		c->ref = LUA_NOREF;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* channel.new([size]). [-0, +1, m] */
static int ch_new(lua_State *L)
{
	lua_Integer cap = luaL_optinteger(L, 1, 0);
	luaL_argcheck(L, cap >= 0 && cap <= (1 << 24), 1, "invalid channel size");
	chan_push_new(L, (int)cap);
	return 1;
}

static const luaL_Reg ch_methods[] = {
	{"send", ch_send},
	{"receive", ch_receive},
	{"close", ch_close},
	{"case_send", ch_case_send},
	{"case_receive", ch_case_receive},
	{NULL, NULL}
};

static const luaL_Reg ch_metamethods[] = {
	{"__index", NULL},
	{"__tostring", ch_tostring},
	{NULL, NULL}
};

static const luaL_Reg ch_funcs[] = {
	{"new", ch_new},
	{"select", ch_select},
	{NULL, NULL}
};

/* Push the channel metatable, creating it on first use: subscription
** channels (process.inbox) can exist before anyone opens `channel`. */
static void chan_meta(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &chan_key) != LUA_TNIL)
		return;
	lua_pop(L, 1);
	if (udata_newmetatable(L, CHAN_META, K_DEFAULT, 2)) {
		luaL_setfuncs(L, ch_metamethods, 0);
		lazylib_methods(L, ch_methods);
		lua_setfield(L, -2, "__index");
	}
	udata_register(L, &chan_key);
	lua_pushliteral(L, "value");
	lua_rawseti(L, -2, K_VALUE);
	lua_pushliteral(L, "channel");
	lua_rawseti(L, -2, K_CHANNEL);
	lua_pushliteral(L, "ok");
	lua_rawseti(L, -2, K_OK);
	lua_pushliteral(L, "default");
	lua_rawseti(L, -2, K_DEFAULT);
}

int luaopen_channel(lua_State *L)
{
	chan_meta(L);
	lua_pop(L, 1);
	lazylib_new(L, ch_funcs);
	return 1;
}
