/*
** lua_modules/channel.h: channels between the coroutines of one process
** (spec 5), and the subscription channels fed by the process's message and
** event queues (process.inbox, process.events, process.listen).
**
** A channel belongs to one process and is used only on its thread. The
** first subscription registers the process's pump (proc_set_pump), through
** which the process step hands its queued messages and events to the
** receivers waiting here; the process core never calls this module.
*/
#ifndef LUA_MODULES_CHANNEL_H
#define LUA_MODULES_CHANNEL_H

#include <lua.h>

struct chan;

#define CHAN_META "wippy.channel"

enum chan_kind { CH_PLAIN, CH_INBOX, CH_EVENTS, CH_LISTEN };

/* The global `channel` table: new, select. [-0, +1, m] */
int luaopen_channel(lua_State *L);

/* Push a new channel of capacity cap owned by the current process.
** [-0, +1, m] */
struct chan *chan_push_new(lua_State *L, int cap);

/* Push the process's subscription channel of this kind, creating it on
** first use (inbox and events are one per process; listen has one per
** exact topic, made by its first call, with Message objects when
** want_msg; a later call for the topic returns it, or the channel given
** to subscribe() for it). [-0, +1, m] */
struct chan *chan_push_special(lua_State *L, enum chan_kind kind,
			       const char *topic, int want_msg);

/* Close a listen channel and stop routing to it (process.unlisten). */
void chan_unlisten(lua_State *L, int idx);

/* Offer the value on top of L (popped) to the channel at index ci without
** blocking: hand it to a waiting receiver or buffer it. Returns 0 if the
** channel was full or closed (the value is dropped, as a ticker drops
** ticks). [-1, +0, m] */
int chan_offer(lua_State *L, int ci);

/* The globals subscribe(topic, ch) and unsubscribe(ch) (the original's
** core bindings): route the process's messages on topic to a channel of
** its own, and stop. [-0, +(1|2), e] */
int chan_subscribe(lua_State *L);
int chan_unsubscribe(lua_State *L);

/* The channel userdata at idx, or raises. */
struct chan *chan_check(lua_State *L, int idx);

#endif
