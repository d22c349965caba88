/*
** lua_modules/base64.h: require("base64") and the Base64 codec other
** modules share (the JWT code in jwt.c uses the URL alphabet without
** padding, as RFC 7515 section 2 asks).
**
** The codec follows Go's encoding/base64, which the original runtime uses:
** the standard encoding pads with '=', the raw URL encoding does not;
** decoding skips '\r' and '\n' anywhere, accepts non-zero trailing bits
** (Go's non-strict mode) and reports the first bad byte by its offset in
** the input, as Go's CorruptInputError does.
*/
#ifndef LUA_MODULES_BASE64_H
#define LUA_MODULES_BASE64_H

#include <stddef.h>

#include <lua.h>

/* The two encodings: RFC 4648 section 4 with padding, section 5 without. */
enum base64_kind { BASE64_STD, BASE64_RAWURL };

/* Bytes base64_encode writes for n input bytes (no terminator). */
size_t base64_enclen(enum base64_kind k, size_t n);

/*
** Encode n bytes at src into dst, which holds base64_enclen(k, n) bytes.
** Returns the number of bytes written. Pure.
*/
size_t base64_encode(enum base64_kind k, const void *src, size_t n, char *dst);

/*
** Decode n bytes at src into dst, which holds at least 3 * (n / 4) + 3
** bytes. Returns the decoded length, or -1 with *bad set to the offset of
** the first byte Go would report (its CorruptInputError) when the input is
** not valid for k. Pure.
*/
long base64_decode(enum base64_kind k, const char *src, size_t n, unsigned char *dst,
		   size_t *bad);

/* require("base64"): {encode, decode}. [-0, +1, m] */
int luaopen_base64(lua_State *L);

#endif
