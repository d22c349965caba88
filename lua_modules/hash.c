/*
** lua_modules/hash.c: require("hash") with the original runtime's API:
** md5 sha1 sha256 sha512 (data [, raw]), fnv32 fnv64 (data),
** hmac_md5 hmac_sha1 hmac_sha256 hmac_sha512 (data, secret [, raw]),
** pbkdf2, and new(algorithm) for a streaming Hasher (update/sum/reset).
**
** Every function returns `value, nil` or `nil, err`; a non-string data or
** secret is INVALID ("data must be a string", "secret must be a string"),
** not retryable, never a raised error. Digests are lower-case hex unless
** raw is truthy, then the bytes. fnv32/fnv64 are FNV-1 (Go's fnv.New32
** and fnv.New64, which the original calls, are FNV-1, not FNV-1a) and
** return integers; fnv64 is the 64 bits as a Lua integer, so values from
** 2^63 up are negative (string.format("%x", h) shows the usual form).
**
** Digests come from OpenSSL's libcrypto (EVP), which Debian builds with
** its assembly paths. A Hasher is a full userdata holding an EVP_MD_CTX,
** made inert first and freed by __gc.
**
** Thread affinity: none; the module has no state.
*/
#include "lua_modules/hash.h"

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lua_modules/lazylib.h"
#include "runtime/errors.h"

#define HASHER_META "hash.Hasher"

/* The original's cap on PBKDF2 work: ten million iterations. */
#define PBKDF2_MAX_ITER 10000000

/* {==== Shared digests ====} */

static const EVP_MD *md_named(const char *algo)
{
	if (strcmp(algo, "md5") == 0)
		return EVP_md5();
	if (strcmp(algo, "sha1") == 0)
		return EVP_sha1();
	if (strcmp(algo, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(algo, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(algo, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

int hash_hmac(const char *algo, const void *key, size_t kn, const void *data, size_t n,
	      unsigned char out[HASH_MAX])
{
	const EVP_MD *md = md_named(algo);
	unsigned int len = 0;
	/* HMAC() takes a NULL key as "no key"; an empty one must still be one. */
	static const unsigned char none[1];

	if (!md)
		return -1;
	if (!HMAC(md, kn ? key : none, (int)kn, data, n, out, &len))
		abort();	/* only an allocation failure inside libcrypto */
	return (int)len;
}

void hash_pushhex(lua_State *L, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	luaL_Buffer b;
	char *d = luaL_buffinitsize(L, &b, 2 * n);

	for (size_t i = 0; i < n; i++) {
		d[2 * i] = hex[p[i] >> 4];
		d[2 * i + 1] = hex[p[i] & 15];
	}
	luaL_pushresultsize(&b, 2 * n);
}

/* Push a digest as hex or raw bytes, then nil. [-0, +2, m] */
static int ret_digest(lua_State *L, const unsigned char *d, size_t n, int raw)
{
	if (raw)
		lua_pushlstring(L, (const char *)d, n);
	else
		hash_pushhex(L, d, n);
	lua_pushnil(L);
	return 2;
}

/* }==== */

/* {==== One-shot functions ====} */

/* hash.<algo>(data [, raw]) for the algorithm in upvalue-free `algo`. */
static int digest(lua_State *L, const char *algo)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t len;
	const char *s;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "data must be a string");
	s = lua_tolstring(L, 1, &len);
	if (EVP_Digest(s, len, d, &n, md_named(algo), NULL) != 1)
		abort();	/* only an allocation failure inside libcrypto */
	return ret_digest(L, d, n, lua_toboolean(L, 2));
}

/* [-0, +2, m] each */
static int h_md5(lua_State *L) { return digest(L, "md5"); }
static int h_sha1(lua_State *L) { return digest(L, "sha1"); }
static int h_sha256(lua_State *L) { return digest(L, "sha256"); }
static int h_sha512(lua_State *L) { return digest(L, "sha512"); }

/* hash.hmac_<algo>(data, secret [, raw]). */
static int hmac(lua_State *L, const char *algo)
{
	unsigned char d[HASH_MAX];
	size_t n, kn;
	const char *s, *k;
	int len;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "data must be a string");
	if (lua_type(L, 2) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "secret must be a string");
	s = lua_tolstring(L, 1, &n);
	k = lua_tolstring(L, 2, &kn);
	len = hash_hmac(algo, k, kn, s, n, d);
	return ret_digest(L, d, (size_t)len, lua_toboolean(L, 3));
}

/* [-0, +2, m] each */
static int h_hmac_md5(lua_State *L) { return hmac(L, "md5"); }
static int h_hmac_sha1(lua_State *L) { return hmac(L, "sha1"); }
static int h_hmac_sha256(lua_State *L) { return hmac(L, "sha256"); }
static int h_hmac_sha512(lua_State *L) { return hmac(L, "sha512"); }

/* FNV-1 of the string argument 1 with the given offset basis and prime,
** kept to `mask` (the hash's width). [-0, +2, m] */
static int fnv1(lua_State *L, uint64_t h, uint64_t prime, uint64_t mask)
{
	size_t n;
	const unsigned char *s;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "data must be a string");
	s = (const unsigned char *)lua_tolstring(L, 1, &n);
	for (size_t i = 0; i < n; i++)
		h = ((h * prime) & mask) ^ s[i];
	lua_pushinteger(L, (lua_Integer)h);
	lua_pushnil(L);
	return 2;
}

/* hash.fnv32(data) -> integer, nil: FNV-1, 32 bits. [-0, +2, m] */
static int h_fnv32(lua_State *L)
{
	return fnv1(L, 2166136261u, 16777619u, 0xffffffffu);
}

/* hash.fnv64(data) -> integer, nil: FNV-1, 64 bits (see the file
** comment for the sign). [-0, +2, m] */
static int h_fnv64(lua_State *L)
{
	return fnv1(L, 14695981039346656037ull, 1099511628211ull, UINT64_MAX);
}

int hash_pbkdf2(lua_State *L)
{
	size_t pn, sn;
	const char *pw, *salt, *algo = "sha256";
	lua_Integer iter, klen;
	const EVP_MD *md;
	luaL_Buffer b;
	unsigned char *out;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "password must be a string");
	if (lua_type(L, 2) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "salt must be a string");
	pw = lua_tolstring(L, 1, &pn);
	salt = lua_tolstring(L, 2, &sn);
	iter = luaL_checkinteger(L, 3);
	klen = luaL_checkinteger(L, 4);
	if (pn == 0)
		return errors_ret(L, ERRORS_INVALID, "password cannot be empty");
	if (sn == 0)
		return errors_ret(L, ERRORS_INVALID, "salt cannot be empty");
	if (iter <= 0)
		return errors_ret(L, ERRORS_INVALID, "iterations must be positive");
	if (iter > PBKDF2_MAX_ITER)
		return errors_ret(L, ERRORS_INVALID, "iterations exceeds maximum (%d)",
				  PBKDF2_MAX_ITER);
	if (klen <= 0)
		return errors_ret(L, ERRORS_INVALID, "key length must be positive");
	if (lua_type(L, 5) == LUA_TSTRING)
		algo = lua_tostring(L, 5);
	if (strcmp(algo, "sha256") != 0 && strcmp(algo, "sha512") != 0)
		return errors_ret(L, ERRORS_INVALID, "unsupported hash function: %s", algo);
	md = md_named(algo);
	/* A key past what a Lua string may hold fails here as a memory error. */
	if ((lua_Unsigned)klen > (lua_Unsigned)INT32_MAX)
		return luaL_error(L, "key length too large");
	out = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)klen);
	if (PKCS5_PBKDF2_HMAC(pw, (int)pn, (const unsigned char *)salt, (int)sn, (int)iter,
			      md, (int)klen, out) != 1)
		abort();	/* only an allocation failure inside libcrypto */
	luaL_pushresultsize(&b, (size_t)klen);
	lua_pushnil(L);
	return 2;
}

/* }==== */

/* {==== Hasher ====} */

struct hasher {
	EVP_MD_CTX *ctx;	/* NULL while inert and after __gc */
	const char *algo;	/* a static name */
};

static struct hasher *checkhasher(lua_State *L)
{
	struct hasher *h = luaL_checkudata(L, 1, HASHER_META);
	if (!h->ctx)
		luaL_error(L, "hasher is closed");
	return h;
}

/* hash.new(algorithm) -> Hasher, nil | nil, err (INVALID for a non-string
** or an algorithm other than md5, sha1, sha256, sha512). [-0, +2, m] */
static int h_new(lua_State *L)
{
	static const char *const names[] = {"md5", "sha1", "sha256", "sha512"};
	const char *algo;
	struct hasher *h;
	size_t i;

	if (lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "algorithm must be a string");
	algo = lua_tostring(L, 1);
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(algo, names[i]) == 0)
			break;
	if (i == sizeof names / sizeof names[0])
		return errors_ret(L, ERRORS_INVALID, "unsupported hash function: %s", algo);
	h = lua_newuserdatauv(L, sizeof *h, 0);
	h->ctx = NULL;
	h->algo = names[i];
	luaL_setmetatable(L, HASHER_META);
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, md_named(algo), NULL) != 1)
		return luaL_error(L, "not enough memory");
	lua_pushnil(L);
	return 2;
}

/* hasher:update(data) -> true, nil | false, err (INVALID for a
** non-string). [-0, +2, m] */
static int m_update(lua_State *L)
{
	struct hasher *h = checkhasher(L);
	size_t n;
	const char *s;

	if (lua_type(L, 2) != LUA_TSTRING) {
		lua_pushboolean(L, 0);
		errors_push(L, ERRORS_INVALID, "data must be a string");
		return 2;
	}
	s = lua_tolstring(L, 2, &n);
	if (EVP_DigestUpdate(h->ctx, s, n) != 1)
		abort();
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

/* hasher:sum([raw]) -> digest, nil: of everything so far; the state is
** kept, so more updates may follow. [-0, +2, m] */
static int m_sum(lua_State *L)
{
	struct hasher *h = checkhasher(L);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || EVP_MD_CTX_copy_ex(c, h->ctx) != 1 || EVP_DigestFinal_ex(c, d, &n) != 1) {
		EVP_MD_CTX_free(c);
		return luaL_error(L, "not enough memory");
	}
	EVP_MD_CTX_free(c);
	return ret_digest(L, d, n, lua_toboolean(L, 2));
}

/* hasher:reset(): discard everything so far. [-0, +0, -] */
static int m_reset(lua_State *L)
{
	struct hasher *h = checkhasher(L);
	if (EVP_DigestInit_ex(h->ctx, md_named(h->algo), NULL) != 1)
		abort();
	return 0;
}

/* [-0, +1, m] */
static int m_tostring(lua_State *L)
{
	struct hasher *h = luaL_checkudata(L, 1, HASHER_META);
	lua_pushfstring(L, "hash.Hasher(%s)", h->algo);
	return 1;
}

/* __gc: free the context; idempotent. [-0, +0, -] */
static int m_gc(lua_State *L)
{
	struct hasher *h = luaL_checkudata(L, 1, HASHER_META);
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	return 0;
}

static const luaL_Reg methods[] = {
	{"update", m_update},
	{"sum", m_sum},
	{"reset", m_reset},
	{NULL, NULL}
};

static const luaL_Reg metamethods[] = {
	{"__tostring", m_tostring},
	{"__gc", m_gc},
	{NULL, NULL}
};

/* }==== */

static const luaL_Reg funcs[] = {
	{"md5", h_md5},
	{"sha1", h_sha1},
	{"sha256", h_sha256},
	{"sha512", h_sha512},
	{"fnv32", h_fnv32},
	{"fnv64", h_fnv64},
	{"hmac_sha256", h_hmac_sha256},
	{"hmac_sha512", h_hmac_sha512},
	{"hmac_sha1", h_hmac_sha1},
	{"hmac_md5", h_hmac_md5},
	{"pbkdf2", hash_pbkdf2},
	{"new", h_new},
	{NULL, NULL}
};

int luaopen_hash(lua_State *L)
{
	if (luaL_newmetatable(L, HASHER_META)) {
		luaL_setfuncs(L, metamethods, 0);
		lazylib_methods(L, methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	lazylib_new(L, funcs);
	return 1;
}
