/*
** lua_modules/crypto.h: require("crypto") (crypto.c) and its jwt
** sub-table (jwt.c).
*/
#ifndef LUA_MODULES_CRYPTO_H
#define LUA_MODULES_CRYPTO_H

#include <lua.h>

/* require("crypto"): random, hmac, encrypt, decrypt, jwt, pbkdf2,
** constant_time_compare. [-0, +1, m] */
int luaopen_crypto(lua_State *L);

/* Push the crypto.jwt table {encode, verify}; crypto.c makes it on first
** use of crypto.jwt. [-0, +1, m] */
int jwt__open(lua_State *L);

#endif
