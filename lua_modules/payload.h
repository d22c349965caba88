/*
** lua_modules/payload.h: Payload objects and the global `payload`
** (rt:runtime/lua/modules/payload/spec.md).
**
** A Payload is a value tagged with a format. `payload.new(v)` makes a
** "lua/any" payload holding v itself (an error object makes a
** "golang/error" one); `msg:payload()` makes "lua/any" payloads over the
** values of a received message, decoded on first :data(). Transcoding runs
** through the Lua value, as the original's transcoder graph does: bytes
** formats (JSON, YAML, STRING, BYTES, MSGPACK) hold a Lua string.
**
** Not to be confused with runtime/payload.h, the byte codec that copies
** values between processes; the C names here carry the prefix lpayload_.
*/
#ifndef LUA_MODULES_PAYLOAD_H
#define LUA_MODULES_PAYLOAD_H

#include <stddef.h>

#include <lua.h>

#define PAYLOAD_META "wippy.payload"

/* The global `payload`: {new, format}. [-0, +1, m] */
int luaopen_payload(lua_State *L);

/* Push a Payload over the value at idx, as payload.new(v) makes it: a
** "lua/any" one, or a "golang/error" one for an error object.
** [-0, +1, m] */
void lpayload_push_value(lua_State *L, int idx);

/* Push a "lua/any" Payload over value number `index` (1-based) of the
** Message object at msgidx; it keeps the Message alive until it has
** decoded its value. [-0, +1, m] */
void lpayload_push_message(lua_State *L, int msgidx, int index);

/*
** The YAML transcoders, shared with require("yaml") (lua_modules/lyaml.c).
** lpayload_to_yaml pushes one YAML document for the value at idx (tables
** with #t > 0 as sequences, others as mappings with sorted keys, four
** columns of indent; a string YAML would read as another type quoted)
** and returns 0, or pushes a message and returns -1 (nesting deeper than
** JSON_MAXDEPTH). lpayload_from_yaml pushes the value of the first
** document of s[0..len) (YAML 1.2 core schema, aliases resolved, nil for
** a stream without one) and returns 0, or pushes libfyaml's "line:col: error: ..." text
** and returns -1. Both raise only memory errors. [-0, +1, m]
*/
int lpayload_to_yaml(lua_State *L, int idx);
int lpayload_from_yaml(lua_State *L, const char *s, size_t len);

#endif
