/*
** lua_modules/jwt.c: crypto.jwt.encode and crypto.jwt.verify, JSON Web
** Tokens (RFC 7519) in the JWS compact form (RFC 7515), with the original
** runtime's semantics (golang-jwt v5 under its crypto module).
**
** encode(payload, key [, alg]) signs the payload table's claims; a
** `_header` sub-table (a map) is merged into the header {alg, typ: "JWT"}
** and left out of the claims. JSON is written by json.c (sorted keys, as
** Go writes maps), each part in unpadded base64url.
**
** verify(token, key [, alg [, require_exp]]) checks, in golang-jwt's order:
** three segments, header and claims decodable (the claims an object), the
** header's alg known and equal to alg (default "HS256"), the signature,
** then the time claims: exp (the token expires at exp: now >= exp fails)
** and nbf (now < nbf fails), no leeway; with require_exp a token without
** exp fails. Failures are INTERNAL errors in the wrap context "verify
** token" with golang-jwt's text as the message ("token signature is
** invalid: signature is invalid"), as the original reports them.
**
** Algorithms: HS256/384/512 take the key as the HMAC secret; RS256/384/512
** take a PEM RSA key (private: PKCS#1 or PKCS#8; public: SubjectPublicKey
** Info or an X.509 certificate); ES256/384/512 a PEM EC key on P-256,
** P-384 or P-521, the signature being r || s (RFC 7518 section 3.4). The
** original signs only HS* and RS256; the others are this runtime's
** additions. Encrypted PEM keys are refused, never prompted for.
**
** Thread affinity: none.
*/
#include "lua_modules/crypto.h"

#include <lauxlib.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <time.h>

#include "lua_modules/base64.h"
#include "lua_modules/hash.h"
#include "lua_modules/json.h"
#include "lua_modules/lazylib.h"
#include "runtime/errors.h"

/* One algorithm: its JWS name, family, digest and (ES) curve size. */
struct alg {
	const char *name;
	char family;		/* 'H', 'R' or 'E' */
	const char *hash;	/* hash_hmac's name */
	const char *group;	/* ES: the curve's OpenSSL group name */
	int size;		/* ES: bytes of r and of s */
};

static const struct alg algs[] = {
	{"HS256", 'H', "sha256", NULL, 0},
	{"HS384", 'H', "sha384", NULL, 0},
	{"HS512", 'H', "sha512", NULL, 0},
	{"RS256", 'R', "sha256", NULL, 0},
	{"RS384", 'R', "sha384", NULL, 0},
	{"RS512", 'R', "sha512", NULL, 0},
	{"ES256", 'E', "sha256", "prime256v1", 32},
	{"ES384", 'E', "sha384", "secp384r1", 48},
	{"ES512", 'E', "sha512", "secp521r1", 66},
};

static const struct alg *find_alg(const char *name)
{
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

static const EVP_MD *md_of(const struct alg *a)
{
	return a->hash[3] == '2' ? EVP_sha256() : a->hash[3] == '3' ? EVP_sha384() : EVP_sha512();
}

/* {==== Keys ====} */

/* Never ask for a passphrase: an encrypted key is a parse failure. */
static int no_pass(char *buf, int size, int rw, void *u)
{
	(void)buf; (void)size; (void)rw; (void)u;
	return -1;
}

/*
** Read a PEM key of family a->family (private or public), or return NULL
** with *why set to the original's reason text.
*/
static EVP_PKEY *read_key(const struct alg *a, const char *pem, size_t n, int private,
			  const char **why)
{
	BIO *bio;
	EVP_PKEY *k = NULL;

	if (!memmem(pem, n, "-----BEGIN", 10)) {
		*why = private ? "failed to parse PEM block containing private key"
			       : "failed to parse PEM block containing public key";
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)n);
	if (!bio) {
		*why = "not enough memory";
		return NULL;
	}
	if (private) {
		k = PEM_read_bio_PrivateKey(bio, NULL, no_pass, NULL);
	} else {
		k = PEM_read_bio_PUBKEY(bio, NULL, no_pass, NULL);
		if (!k) {
			X509 *x;
			(void)BIO_reset(bio);
			x = PEM_read_bio_X509(bio, NULL, no_pass, NULL);
			if (x) {
				k = X509_get_pubkey(x);
				X509_free(x);
			}
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	if (!k) {
		*why = private ? "failed to parse private key" : "failed to parse public key";
		return NULL;
	}
	if (a->family == 'R' && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		*why = private ? "key is not an RSA private key" : "key is not an RSA public key";
		EVP_PKEY_free(k);
		return NULL;
	}
	if (a->family == 'E') {
		char g[64];
		size_t gl = 0;
		if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC
		    || EVP_PKEY_get_group_name(k, g, sizeof g, &gl) != 1
		    || strcmp(g, a->group) != 0) {
			*why = private ? "key is not an ECDSA private key on the algorithm's curve"
				       : "key is not an ECDSA public key on the algorithm's curve";
			EVP_PKEY_free(k);
			ERR_clear_error();
			return NULL;
		}
	}
	return k;
}

/* }==== */

/* {==== Signatures ====} */

/*
** Sign n bytes at msg with key k (RS/ES) into the buffer at the top of
** the stack's luaL_Buffer b, as the JWS signature bytes. Returns 0, or -1
** on a libcrypto failure.
*/
static int pk_sign(const struct alg *a, EVP_PKEY *k, const char *msg, size_t n,
		   luaL_Buffer *b)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sl = 0;
	int ok = c && EVP_DigestSignInit(c, NULL, md_of(a), NULL, k) == 1
		&& EVP_DigestSign(c, NULL, &sl, (const unsigned char *)msg, n) == 1
		&& (sig = OPENSSL_malloc(sl)) != NULL
		&& EVP_DigestSign(c, sig, &sl, (const unsigned char *)msg, n) == 1;

	EVP_MD_CTX_free(c);
	if (ok && a->family == 'E') {
		/* DER ECDSA-Sig-Value -> fixed-size r || s. */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
		unsigned char rs[2 * 66];
		ok = es && BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, a->size) == a->size
			&& BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + a->size, a->size) == a->size;
		ECDSA_SIG_free(es);
		if (ok)
			luaL_addlstring(b, (const char *)rs, 2 * (size_t)a->size);
	} else if (ok) {
		luaL_addlstring(b, (const char *)sig, sl);
	}
	OPENSSL_free(sig);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* Verify sig (sn bytes) over msg with key k: 1 when it holds. */
static int pk_verify(const struct alg *a, EVP_PKEY *k, const char *msg, size_t n,
		     const unsigned char *sig, size_t sn)
{
	EVP_MD_CTX *c;
	unsigned char *der = NULL;
	int dl = 0, ok;

	if (a->family == 'E') {
		/* r || s -> DER, refusing any other length. */
		ECDSA_SIG *es;
		BIGNUM *r, *s;
		if (sn != 2 * (size_t)a->size)
			return 0;
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, a->size, NULL);
		s = BN_bin2bn(sig + a->size, a->size, NULL);
		if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			return 0;
		}
		dl = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (dl <= 0)
			return 0;
		sig = der;
		sn = (size_t)dl;
	}
	c = EVP_MD_CTX_new();
	ok = c && EVP_DigestVerifyInit(c, NULL, md_of(a), NULL, k) == 1
		&& EVP_DigestVerify(c, sig, sn, (const unsigned char *)msg, n) == 1;
	EVP_MD_CTX_free(c);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok;
}

/* }==== */

/* {==== encode ====} */

/* Replace the string at the top (above b's box) by its base64url form and
** add that to b. [-1, +0, m] */
static void add_b64(lua_State *L, luaL_Buffer *b)
{
	size_t n;
	const char *s = lua_tolstring(L, -1, &n);
	size_t en = base64_enclen(BASE64_RAWURL, n);
	luaL_Buffer t;

	base64_encode(BASE64_RAWURL, s, n, luaL_buffinitsize(L, &t, en));
	luaL_pushresultsize(&t, en);
	lua_remove(L, -2);
	luaL_addvalue(b);
}

/* Is the table at idx a map in ToGoAny's sense (no element 1..n)? */
static int is_map(lua_State *L, int idx)
{
	return lua_rawlen(L, idx) == 0;
}

/*
** Push the JSON of the table at idx (absolute), or return the encoder's
** error text. [-0, +(1|0), m]
*/
static const char *push_json(lua_State *L, int idx)
{
	luaL_Buffer b;
	const char *err;

	luaL_buffinit(L, &b);
	err = json_encode_value(L, idx, &b);
	if (err) {
		lua_pop(L, 1);	/* the buffer's box, if any */
		return err;
	}
	luaL_pushresult(&b);
	return NULL;
}

/* jwt.encode(payload, key [, alg]) -> token, nil | nil, err. [-0, +2, e] */
static int j_encode(lua_State *L)
{
	size_t kn, sn;
	const char *key, *algname, *err, *why = NULL;
	const struct alg *a;
	int top, header, claims;
	luaL_Buffer b;
	const char *signing;

	luaL_checktype(L, 1, LUA_TTABLE);
	key = luaL_checklstring(L, 2, &kn);
	algname = luaL_optstring(L, 3, "HS256");
	lua_settop(L, 3);
	if (!(a = find_alg(algname)))
		return errors_ret(L, ERRORS_INVALID, "unsupported signing algorithm: %s", algname);
	if (!is_map(L, 1))
		return errors_ret(L, ERRORS_INVALID, "failed to convert payload to map");
	if (a->family == 'H' && kn == 0)
		return errors_ret(L, ERRORS_INVALID, "key cannot be empty");

	/* The header: {alg, typ} plus a map _header's entries. */
	lua_createtable(L, 0, 2);
	header = lua_gettop(L);
	lua_pushstring(L, a->name);
	lua_setfield(L, header, "alg");
	lua_pushliteral(L, "JWT");
	lua_setfield(L, header, "typ");
	lua_getfield(L, 1, "_header");
	int has_header = lua_type(L, -1) == LUA_TTABLE && is_map(L, -1);
	if (has_header) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_settable(L, header);
		}
	}
	lua_pop(L, 1);

	/* The claims: a copy without _header when it went to the header. */
	lua_createtable(L, 0, 4);
	claims = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		if (has_header && lua_type(L, -2) == LUA_TSTRING
		    && strcmp(lua_tostring(L, -2), "_header") == 0) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_settable(L, claims);
	}

	top = lua_gettop(L);
	luaL_buffinit(L, &b);
	if ((err = push_json(L, header))) {
		lua_settop(L, top);
		return errors_ret(L, ERRORS_INVALID, "invalid header: %s", err);
	}
	add_b64(L, &b);
	luaL_addchar(&b, '.');
	if ((err = push_json(L, claims))) {
		lua_settop(L, top);
		return errors_ret(L, ERRORS_INVALID, "failed to convert payload to map: %s", err);
	}
	add_b64(L, &b);
	luaL_pushresult(&b);
	signing = lua_tolstring(L, -1, &sn);

	/* The signature over header.claims. */
	luaL_buffinit(L, &b);
	if (a->family == 'H') {
		unsigned char mac[HASH_MAX];
		int ml = hash_hmac(a->hash, key, kn, signing, sn, mac);
		luaL_addlstring(&b, (const char *)mac, (size_t)ml);
	} else {
		EVP_PKEY *k = read_key(a, key, kn, 1, &why);
		int bad;
		if (!k) {
			return errors_ret(L, ERRORS_INVALID, "invalid %s private key: %s",
					  a->family == 'R' ? "RSA" : "ECDSA", why);
		}
		bad = pk_sign(a, k, signing, sn, &b);
		EVP_PKEY_free(k);
		if (bad)
			return errors_ret_wrapped(L, ERRORS_INTERNAL, "sign token", "signing failed");
	}
	luaL_pushresult(&b);

	/* token = signing "." base64url(signature) */
	luaL_buffinit(L, &b);	/* stack: signing, signature, box */
	lua_pushvalue(L, -3);
	luaL_addvalue(&b);
	luaL_addchar(&b, '.');
	lua_pushvalue(L, -2);
	add_b64(L, &b);
	luaL_pushresult(&b);
	lua_pushnil(L);
	return 2;
}

/* }==== */

/* {==== verify ====} */

/* A verification failure: INTERNAL, wrapped "verify token". */
#define FAIL(...) errors_ret_wrapped(L, ERRORS_INTERNAL, "verify token", __VA_ARGS__)

/*
** Decode segment s (n bytes) to a Lua string on the stack; on failure
** push nothing, set *bad to the offending offset and return -1.
*/
static int push_segment(lua_State *L, const char *s, size_t n, size_t *bad)
{
	luaL_Buffer b;
	unsigned char *d = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 3);
	long dn = base64_decode(BASE64_RAWURL, s, n, d, bad);

	if (dn < 0) {
		lua_pop(L, 1);
		return -1;
	}
	luaL_pushresultsize(&b, (size_t)dn);
	return 0;
}

/*
** Decode segment s as a JSON object: push the table and return NULL, or
** push nothing and return what failed ("base64" or "JSON").
*/
static const char *push_object(lua_State *L, const char *s, size_t n, size_t *bad)
{
	int top = lua_gettop(L);
	size_t jn, i = 0;
	const char *j;

	if (push_segment(L, s, n, bad) != 0)
		return "base64";
	j = lua_tolstring(L, -1, &jn);
	while (i < jn && (j[i] == ' ' || j[i] == '\t' || j[i] == '\n' || j[i] == '\r'))
		i++;
	/* Only an object decodes into golang-jwt's MapClaims. */
	if (i == jn || j[i] != '{' || json_decode_push(L, j, jn) != 1) {
		lua_settop(L, top);
		return "JSON";
	}
	lua_remove(L, -2);
	return NULL;
}

/* Now, in seconds since the epoch, with the fraction. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
** Check the numeric date claim `name` of the claims table at idx: returns
** NULL when it is absent or a number (its value in *v, *present set), or
** the error text when it is of another type.
*/
static const char *numeric_date(lua_State *L, int idx, const char *name, double *v,
				int *present)
{
	int t = lua_getfield(L, idx, name);

	*present = t != LUA_TNIL;
	if (t == LUA_TNUMBER)
		*v = lua_tonumber(L, -1);
	lua_pop(L, 1);
	if (*present && t != LUA_TNUMBER)
		return "invalid type for claim";
	return NULL;
}

/* jwt.verify(token, key [, alg [, require_exp]]) -> claims, nil | nil, err.
** [-0, +2, e] */
static int j_verify(lua_State *L)
{
	size_t tn, kn, bad = 0, sn;
	const char *tok = luaL_checklstring(L, 1, &tn);
	const char *key = luaL_checklstring(L, 2, &kn);
	const char *want = luaL_optstring(L, 3, "HS256");
	int require_exp = lua_toboolean(L, 4);
	const char *d1, *d2, *what, *hdr_alg, *why = NULL;
	const struct alg *a;
	const unsigned char *sig;
	int claims, ok;
	double exp = 0, nbf = 0, t;
	int has_exp, has_nbf;

	lua_settop(L, 4);
	d1 = memchr(tok, '.', tn);
	d2 = d1 ? memchr(d1 + 1, '.', tn - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', tn - (size_t)(d2 + 1 - tok)))
		return FAIL("token is malformed: token contains an invalid number of segments");

	if ((what = push_object(L, tok, (size_t)(d1 - tok), &bad)))	/* 5: header */
		return *what == 'b'
			? FAIL("token is malformed: could not base64 decode header: "
			       "illegal base64 data at input byte %I", (lua_Integer)bad)
			: FAIL("token is malformed: could not JSON decode header");
	if ((what = push_object(L, d1 + 1, (size_t)(d2 - d1 - 1), &bad)))	/* 6: claims */
		return *what == 'b'
			? FAIL("token is malformed: could not base64 decode claim: "
			       "illegal base64 data at input byte %I", (lua_Integer)bad)
			: FAIL("token is malformed: could not JSON decode claim");
	claims = 6;
	if (lua_getfield(L, 5, "alg") != LUA_TSTRING)
		return FAIL("token is unverifiable: signing method (alg) is unspecified");
	hdr_alg = lua_tostring(L, -1);
	if (!(a = find_alg(hdr_alg)))
		return FAIL("token is unverifiable: signing method (alg) is unavailable");
	if (push_segment(L, d2 + 1, tn - (size_t)(d2 + 1 - tok), &bad) != 0)
		return FAIL("token is malformed: could not base64 decode signature: "
			    "illegal base64 data at input byte %I", (lua_Integer)bad);
	sig = (const unsigned char *)lua_tolstring(L, -1, &sn);
	if (strcmp(hdr_alg, want) != 0)
		return FAIL("token is unverifiable: error while executing keyfunc: "
			    "unexpected signing method: %s", hdr_alg);

	if (a->family == 'H') {
		unsigned char mac[HASH_MAX];
		int ml;
		if (kn == 0)
			return FAIL("token is unverifiable: error while executing keyfunc: "
				    "key cannot be empty");
		ml = hash_hmac(a->hash, key, kn, tok, (size_t)(d2 - tok), mac);
		if ((size_t)ml != sn || CRYPTO_memcmp(mac, sig, sn) != 0)
			return FAIL("token signature is invalid: signature is invalid");
	} else {
		EVP_PKEY *k = read_key(a, key, kn, 0, &why);
		if (!k)
			return FAIL("token is unverifiable: error while executing keyfunc: %s", why);
		ok = pk_verify(a, k, tok, (size_t)(d2 - tok), sig, sn);
		EVP_PKEY_free(k);
		if (!ok)
			return FAIL("token signature is invalid: %s",
				    a->family == 'R' ? "crypto/rsa: verification error"
						     : "crypto/ecdsa: verification error");
	}

	if ((why = numeric_date(L, claims, "exp", &exp, &has_exp)))
		return FAIL("token has invalid claims: %s: exp is invalid", why);
	if ((why = numeric_date(L, claims, "nbf", &nbf, &has_nbf)))
		return FAIL("token has invalid claims: %s: nbf is invalid", why);
	t = now();
	if (!has_exp && require_exp)
		return FAIL("token has invalid claims: token is missing required claim: "
			    "exp claim is required");
	if (has_exp && !(t < exp))
		return FAIL("token has invalid claims: token is expired");
	if (has_nbf && t < nbf)
		return FAIL("token has invalid claims: token is not valid yet");
	lua_pushvalue(L, claims);
	lua_pushnil(L);
	return 2;
}

#undef FAIL

/* }==== */

static const luaL_Reg funcs[] = {
	{"encode", j_encode},
	{"verify", j_verify},
	{NULL, NULL}
};

int jwt__open(lua_State *L)
{
	lazylib_new(L, funcs);
	return 1;
}
