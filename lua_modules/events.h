/*
** lua_modules/events.h: require("events"), the event bus from Lua (the
** original's runtime/lua/modules/events): subscribe and send over
** runtime/evbus.h, and the sending half the other modules use to publish
** their own events (the registry's entry.* events).
*/
#ifndef LUA_MODULES_EVENTS_H
#define LUA_MODULES_EVENTS_H

#include <lua.h>

/* The module table: subscribe, send. [-0, +1, m] */
int luaopen_events(lua_State *L);

/*
** Send {system, kind, path, data} to every matching subscription, data
** being the value at data_idx (0: none). Returns the number of
** subscriptions reached, or a negative errno from payload_encode (the
** data could not be encoded; nothing was sent). [-0, +0, m]
*/
int events_publish(lua_State *L, const char *system, const char *kind,
		   const char *path, int data_idx);

#endif
