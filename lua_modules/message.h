/*
** lua_modules/message.h: the Lua forms of what arrives in a process:
** Message objects (spec 4.5) and event tables (4.6). Payload objects are
** lua_modules/payload.h.
*/
#ifndef LUA_MODULES_MESSAGE_H
#define LUA_MODULES_MESSAGE_H

#include <lua.h>

struct msg;
struct payload;

#define MESSAGE_META "wippy.message"

/* Register the Message metatable (once per state). [-0, +0, m] */
void message_open(lua_State *L);

/* The encoded values of the Message object at idx; raises if idx is not a
** live Message. Valid while the Message is reachable. [-0, +0, v] */
const struct payload *message_payload(lua_State *L, int idx);

/* Push a Message object made from m, which is freed; returns the
** object's copy of it, valid while the object is reachable. On a memory
** error m is left to the process to free (proc's `held`). [-0, +1, m] */
struct msg *message_push(lua_State *L, struct msg *m);

/* Push m's payload values as listen() delivers them: one value as itself,
** several as a table, none as nil. Frees m (as message_push). [-0, +1, m] */
void message_push_payload_values(lua_State *L, struct msg *m);

/* Push the event table for an EXIT, LINK_DOWN or CANCEL message: kind,
** from, at, and result {value, error} or reason. Frees m. [-0, +1, m] */
void message_push_event(lua_State *L, struct msg *m);

#endif
