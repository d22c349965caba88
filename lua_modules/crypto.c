/*
** lua_modules/crypto.c: require("crypto") with the original runtime's API:
** random.{bytes,string,uuid}, hmac.{sha256,sha512}, encrypt/decrypt
** .{aes,chacha20}, jwt.{encode,verify} (jwt.c), pbkdf2 (hash.c's) and
** constant_time_compare.
**
** Errors, as the original reports them: bad values are `nil, err` with
** kind INVALID ("length must be a positive integer", "key must be 16, 24,
** or 32 bytes", "encrypted data too short", ...); failures of the
** primitives are INTERNAL, wrapped with what was being done ("decrypt:
** cipher: message authentication failed"). Arguments of the wrong type
** raise, as the original's CheckString/CheckInt do, except where the
** original returns an error value.
**
** Sealed data is nonce || ciphertext || tag, as Go's AEAD Seal lays it out
** after the original prepends the nonce: a 12-byte random nonce, the
** ciphertext (as long as the plaintext) and the 16-byte tag. AES-GCM takes
** a 16, 24 or 32-byte key (AES-128/192/256); ChaCha20-Poly1305 (RFC 8439)
** a 32-byte key. Random bytes come from OpenSSL's RAND_bytes (its DRBG
** seeded from the kernel).
**
** Thread affinity: none; the module has no state.
*/
#include "lua_modules/crypto.h"

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "lua_modules/hash.h"
#include "lua_modules/lazylib.h"
#include "runtime/errors.h"

#define NONCE 12
#define TAG   16

/* EVP calls take int lengths; longer inputs go through in pieces. */
#define CHUNK (1 << 30)

static const char alnum[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* {==== random ====} */

/* Fill n bytes from the DRBG; 0 on success. */
static int fill(unsigned char *p, size_t n)
{
	while (n > 0) {
		int k = n > CHUNK ? CHUNK : (int)n;
		if (RAND_bytes(p, k) != 1)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The failing libcrypto call's reason, for an INTERNAL error. */
static const char *sslreason(void)
{
	const char *r = ERR_reason_error_string(ERR_get_error());
	ERR_clear_error();
	return r ? r : "libcrypto failure";
}

/* random.bytes(length) -> bytes, nil | nil, err. [-0, +2, e] */
static int r_bytes(lua_State *L)
{
	lua_Integer n = luaL_checkinteger(L, 1);
	luaL_Buffer b;
	unsigned char *p;

	if (n <= 0)
		return errors_ret(L, ERRORS_INVALID, "length must be a positive integer");
	p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
	if (fill(p, (size_t)n) != 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "random bytes", "%s", sslreason());
	luaL_pushresultsize(&b, (size_t)n);
	lua_pushnil(L);
	return 2;
}

/*
** random.string(length [, charset]) -> string, nil | nil, err: each
** character is charset[byte % #charset] for one random byte, the
** original's mapping (slightly biased unless #charset divides 256).
** The default charset is A-Z a-z 0-9. [-0, +2, e]
*/
static int r_string(lua_State *L)
{
	lua_Integer n = luaL_checkinteger(L, 1);
	const char *cs = alnum;
	size_t cn = sizeof alnum - 1;
	luaL_Buffer b;
	unsigned char *p;

	if (n <= 0)
		return errors_ret(L, ERRORS_INVALID, "length must be a positive integer");
	if (lua_type(L, 2) == LUA_TSTRING) {
		cs = lua_tolstring(L, 2, &cn);
		if (cn == 0)
			return errors_ret(L, ERRORS_INVALID, "charset cannot be empty");
	}
	p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
	if (fill(p, (size_t)n) != 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "random string", "%s", sslreason());
	for (lua_Integer i = 0; i < n; i++)
		p[i] = (unsigned char)cs[p[i] % cn];
	luaL_pushresultsize(&b, (size_t)n);
	lua_pushnil(L);
	return 2;
}

/* random.uuid() -> a random (version 4) UUID string, nil. [-0, +2, m] */
static int r_uuid(lua_State *L)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char u[16];
	char s[36];
	int j = 0;

	if (fill(u, sizeof u) != 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "uuid generation", "%s", sslreason());
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[j++] = '-';
		s[j++] = hex[u[i] >> 4];
		s[j++] = hex[u[i] & 15];
	}
	lua_pushlstring(L, s, sizeof s);
	lua_pushnil(L);
	return 2;
}

/* }==== */

/* {==== hmac ====} */

/* crypto.hmac.<algo>(key, data) -> hex, nil: note the order, key first,
** unlike hash.hmac_*; an empty key is INVALID. */
static int mac(lua_State *L, const char *algo)
{
	size_t kn, n;
	const char *k = luaL_checklstring(L, 1, &kn);
	const char *d = luaL_checklstring(L, 2, &n);
	unsigned char out[HASH_MAX];
	int len;

	if (kn == 0)
		return errors_ret(L, ERRORS_INVALID, "key cannot be empty");
	len = hash_hmac(algo, k, kn, d, n, out);
	hash_pushhex(L, out, (size_t)len);
	lua_pushnil(L);
	return 2;
}

/* [-0, +2, e] each */
static int m_sha256(lua_State *L) { return mac(L, "sha256"); }
static int m_sha512(lua_State *L) { return mac(L, "sha512"); }

/* }==== */

/* {==== encrypt / decrypt ====} */

/* The AEAD for a key of kn bytes, or NULL when the length does not fit. */
static const EVP_CIPHER *aes_for(size_t kn)
{
	switch (kn) {
	case 16: return EVP_aes_128_gcm();
	case 24: return EVP_aes_192_gcm();
	case 32: return EVP_aes_256_gcm();
	}
	return NULL;
}

/* Feed n bytes at in (out may be NULL for AAD); 0 on success. */
static int feed(EVP_CIPHER_CTX *c, int enc, unsigned char *out, const unsigned char *in,
		size_t n)
{
	while (n > 0) {
		int k = n > CHUNK ? CHUNK : (int)n, got = 0;
		if ((enc ? EVP_EncryptUpdate(c, out, &got, in, k)
			 : EVP_DecryptUpdate(c, out, &got, in, k)) != 1)
			return -1;
		if (out)
			out += got;
		in += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
** Seal the data at 1 under the key at 2 (AAD at 3 if a string) with ciph:
** pushes nonce || ciphertext || tag and nil, or nil, err. [-0, +2, m]
*/
static int seal(lua_State *L, const EVP_CIPHER *ciph, const unsigned char *key)
{
	size_t n, an = 0;
	const unsigned char *d = (const unsigned char *)lua_tolstring(L, 1, &n);
	const unsigned char *aad = NULL;
	EVP_CIPHER_CTX *c;
	luaL_Buffer b;
	unsigned char *out;
	int fin = 0, ok;

	if (lua_type(L, 3) == LUA_TSTRING)
		aad = (const unsigned char *)lua_tolstring(L, 3, &an);
	out = (unsigned char *)luaL_buffinitsize(L, &b, NONCE + n + TAG);
	if (fill(out, NONCE) != 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "generate nonce", "%s", sslreason());
	c = EVP_CIPHER_CTX_new();
	ok = c && EVP_EncryptInit_ex(c, ciph, NULL, key, out) == 1
		&& (!aad || feed(c, 1, NULL, aad, an) == 0)
		&& feed(c, 1, out + NONCE, d, n) == 0
		&& EVP_EncryptFinal_ex(c, out + NONCE + n, &fin) == 1
		&& EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG, out + NONCE + n) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "encrypt", "%s", sslreason());
	luaL_pushresultsize(&b, NONCE + n + TAG);
	lua_pushnil(L);
	return 2;
}

/*
** Open the sealed data at 1 (nonce || ciphertext || tag) under the key at
** 2 (AAD at 3 if a string): pushes the plaintext and nil, or nil, err
** (INVALID when shorter than a nonce, INTERNAL "decrypt: <authfail>" when
** the tag does not match, which is every tampering). [-0, +2, m]
*/
static int open_(lua_State *L, const EVP_CIPHER *ciph, const unsigned char *key,
		 const char *authfail)
{
	size_t n, an = 0, cn;
	const unsigned char *d = (const unsigned char *)lua_tolstring(L, 1, &n);
	const unsigned char *aad = NULL;
	EVP_CIPHER_CTX *c;
	luaL_Buffer b;
	unsigned char *out, tag[TAG];
	int fin = 0, ok;

	if (lua_type(L, 3) == LUA_TSTRING)
		aad = (const unsigned char *)lua_tolstring(L, 3, &an);
	if (n < NONCE)
		return errors_ret(L, ERRORS_INVALID, "encrypted data too short");
	if (n < NONCE + TAG)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "decrypt", "%s", authfail);
	cn = n - NONCE - TAG;
	memcpy(tag, d + NONCE + cn, TAG);
	out = (unsigned char *)luaL_buffinitsize(L, &b, cn + 1);
	c = EVP_CIPHER_CTX_new();
	ok = c && EVP_DecryptInit_ex(c, ciph, NULL, key, d) == 1
		&& (!aad || feed(c, 0, NULL, aad, an) == 0)
		&& feed(c, 0, out, d + NONCE, cn) == 0
		&& EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG, tag) == 1
		&& EVP_DecryptFinal_ex(c, out + cn, &fin) == 1;
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	if (!ok) {
		/* Nothing of an unauthenticated plaintext may leak. */
		OPENSSL_cleanse(out, cn);
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "decrypt", "%s", authfail);
	}
	luaL_pushresultsize(&b, cn);
	lua_pushnil(L);
	return 2;
}

/* Arguments 1 (a string) and 2 (an AES key of 16, 24 or 32 bytes) of
** encrypt.aes and decrypt.aes: the key and its cipher, or NULL when the
** key has another length. [-0, +0, e] */
static const unsigned char *aes_args(lua_State *L, const EVP_CIPHER **ciph)
{
	size_t kn;
	const char *key;

	luaL_checkstring(L, 1);
	key = luaL_checklstring(L, 2, &kn);
	*ciph = aes_for(kn);
	return *ciph ? (const unsigned char *)key : NULL;
}

/* encrypt.aes(data, key [, aad]) -> sealed, nil | nil, err. [-0, +2, e] */
static int e_aes(lua_State *L)
{
	const EVP_CIPHER *ciph;
	const unsigned char *key = aes_args(L, &ciph);

	if (key == NULL)
		return errors_ret(L, ERRORS_INVALID, "key must be 16, 24, or 32 bytes");
	return seal(L, ciph, key);
}

/* decrypt.aes(sealed, key [, aad]) -> data, nil | nil, err. [-0, +2, e] */
static int d_aes(lua_State *L)
{
	const EVP_CIPHER *ciph;
	const unsigned char *key = aes_args(L, &ciph);

	if (key == NULL)
		return errors_ret(L, ERRORS_INVALID, "key must be 16, 24, or 32 bytes");
	return open_(L, ciph, key, "cipher: message authentication failed");
}

/* encrypt.chacha20(data, key [, aad]) -> sealed, nil | nil, err.
** [-0, +2, e] */
static int e_chacha(lua_State *L)
{
	size_t kn;
	const char *key;

	luaL_checkstring(L, 1);
	key = luaL_checklstring(L, 2, &kn);
	if (kn != 32)
		return errors_ret(L, ERRORS_INVALID, "key must be 32 bytes");
	return seal(L, EVP_chacha20_poly1305(), (const unsigned char *)key);
}

/* decrypt.chacha20(sealed, key [, aad]) -> data, nil | nil, err.
** [-0, +2, e] */
static int d_chacha(lua_State *L)
{
	size_t kn;
	const char *key;

	luaL_checkstring(L, 1);
	key = luaL_checklstring(L, 2, &kn);
	if (kn != 32)
		return errors_ret(L, ERRORS_INVALID, "key must be 32 bytes");
	return open_(L, EVP_chacha20_poly1305(), (const unsigned char *)key,
		     "chacha20poly1305: message authentication failed");
}

/* }==== */

/* crypto.constant_time_compare(a, b) -> boolean: in time independent of
** the contents (strings of different lengths are unequal at once, as
** Go's subtle.ConstantTimeCompare answers). [-0, +1, e] */
static int c_compare(lua_State *L)
{
	size_t an, bn;
	const char *a = luaL_checklstring(L, 1, &an);
	const char *b = luaL_checklstring(L, 2, &bn);

	lua_pushboolean(L, an == bn && CRYPTO_memcmp(a, b, an) == 0);
	return 1;
}

static const luaL_Reg random_funcs[] = {
	{"bytes", r_bytes},
	{"string", r_string},
	{"uuid", r_uuid},
	{NULL, NULL}
};

static const luaL_Reg hmac_funcs[] = {
	{"sha256", m_sha256},
	{"sha512", m_sha512},
	{NULL, NULL}
};

static const luaL_Reg encrypt_funcs[] = {
	{"aes", e_aes},
	{"chacha20", e_chacha},
	{NULL, NULL}
};

static const luaL_Reg decrypt_funcs[] = {
	{"aes", d_aes},
	{"chacha20", d_chacha},
	{NULL, NULL}
};

/* Makers of the sub-tables, called on first use. [-0, +1, m] each */
static int mk_random(lua_State *L) { lazylib_new(L, random_funcs); return 1; }
static int mk_hmac(lua_State *L) { lazylib_new(L, hmac_funcs); return 1; }
static int mk_encrypt(lua_State *L) { lazylib_new(L, encrypt_funcs); return 1; }
static int mk_decrypt(lua_State *L) { lazylib_new(L, decrypt_funcs); return 1; }

static const luaL_Reg funcs[] = {
	{"pbkdf2", hash_pbkdf2},
	{"constant_time_compare", c_compare},
	{NULL, NULL}
};

static const luaL_Reg makers[] = {
	{"random", mk_random},
	{"hmac", mk_hmac},
	{"encrypt", mk_encrypt},
	{"decrypt", mk_decrypt},
	{"jwt", jwt__open},
	{NULL, NULL}
};

int luaopen_crypto(lua_State *L)
{
	lazylib_new2(L, funcs, makers);
	return 1;
}
