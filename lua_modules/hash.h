/*
** lua_modules/hash.h: require("hash") and the digests other modules share
** (crypto.hmac and the HS* JWT algorithms use hash_hmac; crypto.pbkdf2 is
** hash_pbkdf2 itself, as the original's two copies behave alike).
*/
#ifndef LUA_MODULES_HASH_H
#define LUA_MODULES_HASH_H

#include <stddef.h>

#include <lua.h>

/* The largest digest hash_hmac writes (SHA-512). */
#define HASH_MAX 64

/*
** HMAC of n bytes at data under the kn-byte key with the digest named algo
** ("md5", "sha1", "sha256", "sha384" or "sha512"), into out (HASH_MAX
** bytes). Returns the digest length, or -1 for an unknown algo. Aborts
** only when libcrypto cannot allocate.
*/
int hash_hmac(const char *algo, const void *key, size_t kn, const void *data, size_t n,
	      unsigned char out[HASH_MAX]);

/*
** Push the lower-case hex form of n bytes at p. [-0, +1, m]
*/
void hash_pushhex(lua_State *L, const unsigned char *p, size_t n);

/*
** The Lua function pbkdf2(password, salt, iterations, key_length [, algo])
** -> raw key, nil | nil, err (INVALID for empty or non-string password or
** salt, iterations outside 1..10000000, key_length below 1, algo other
** than "sha256" (the default) or "sha512"). Raises for a non-integer
** iterations or key_length, as the original's CheckInt does. [-0, +2, e]
*/
int hash_pbkdf2(lua_State *L);

/* require("hash"). [-0, +1, m] */
int luaopen_hash(lua_State *L);

#endif
