/*
** lua_modules/json.h: the `json` module (spec section 8) and its C entry
** points for other modules (HTTP bodies, logger fields).
**
** Encoding follows the original runtime's encoder: nil -> null, booleans,
** integers as integers; floats in Go's shortest form (inf/nan -> null):
** inside a table an integral float within int64 is an integer and nothing
** uses an exponent, at the top level encoding/json's rules (exponent below
** 1e-6 and from 1e21 up, -0 kept). Strings are escaped (invalid UTF-8
** bytes become U+FFFD). Tables with keys 1..n -> arrays, tables with string
** keys -> objects with sorted keys (the original's order is Go map order,
** random); an empty table is [] unless it ever had a hash part ({} after
** its string keys were removed). Error objects -> their "context: message"
** text; functions, threads and other userdata -> null. Mixed keys, sparse
** arrays, other key types, cycles and nesting deeper than JSON_MAXDEPTH
** are errors (kind Internal, context "encode failed"). Metatables are
** ignored.
**
** Decoding: one pass, strict RFC 8259 grammar. null -> nil; integers that
** fit in 64 bits -> Lua integers (but -0 -> float -0.0), other numbers ->
** floats (out-of-range ones become +-inf); \u escapes with surrogate pairs
** -> UTF-8 (a lone surrogate -> U+FFFD). A null inside an array leaves a
** hole at its index: `[1,null,3]` gives t[1]=1, t[3]=3 and #t == 3 (the
** table is sized exactly so the length is the JSON length whenever the last
** element is not null; trailing nulls are not counted). Nesting deeper than
** JSON_MAXDEPTH is an error.
*/
#ifndef LUA_MODULES_JSON_H
#define LUA_MODULES_JSON_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

/* Deepest nesting of arrays/objects accepted by encode and decode. */
#define JSON_MAXDEPTH 128

/*
** Open the module: returns 1 with the table {encode, decode} on the stack.
** Not a global; the process runtime exposes it through require("json").
** [-0, +1, m]
*/
int luaopen_json(lua_State *L);

/*
** Encode the value at idx and append it to b, whose box must be at the top
** of the stack as usual for luaL_Buffer. Returns NULL on success, else a
** static error message and b is unchanged. Raises only memory errors.
** [-0, +0, m]
*/
const char *json_encode_value(lua_State *L, int idx, luaL_Buffer *b);

/*
** Encode the value at idx in the `value, err` convention: pushes the JSON
** string and returns 1, or pushes nil and an INTERNAL error object and
** returns 2. Raises only memory errors. [-0, +(1|2), m]
*/
int json_encode_push(lua_State *L, int idx);

/*
** Decode len bytes at s (need not be NUL-terminated) in the `value, err`
** convention: pushes the value and returns 1, or pushes nil and an error
** object (INVALID for empty input, INTERNAL with the byte position for bad
** JSON) and returns 2. Raises only memory errors. [-0, +(1|2), m]
*/
int json_decode_push(lua_State *L, const char *s, size_t len);

#endif
