/*
** lua_modules/security_token.c: security.token_store(id) and its
** TokenStore (the original's runtime/lua/modules/security/token_store.go
** over service/security/tokenstore/store.go), and the validation the
** token_auth router middleware runs on a handler's process.
**
**   security.token_store(id) -> TokenStore | nil, err
**   ts:create(actor, scope, {expiration = "24h" | ms, meta = {}}?) -> token | nil, err
**   ts:validate(token) -> Actor, Scope | nil, nil, err
**   ts:revoke(token) -> true | nil, err
**   ts:close() -> true
**
** A security.token_store entry names a store.memory or store.sql entry
** (`store`); a token is token_length random bytes (RAND_bytes) in Go's
** padded URL-safe Base64, followed, when the entry has a token_key, by
** "." and the HMAC-SHA256 of that text under the key (same encoding). The
** backing store keeps, under the token's first part, the original's
** tokenData: {actor_id, actor_meta, scope_policies, created, expires,
** meta}, times as RFC 3339 UTC text, with the store's own TTL set to the
** expiration too. A token of no expiration (a negative one) never
** expires. validate checks the signature first (a bad one is "invalid
** token" without a store read), then reads the entry: absent is "token
** not found", past its expires is "token expired" (and the entry is
** deleted). The scope comes back as the stored policy ids; those the
** registry no longer has drop out when it is evaluated, as the original
** skips them.
**
** The store calls go through the store module's own Store object
** (lua_modules/store.c), so a store.sql call parks the calling coroutine
** only; every C function here that calls one does so with lua_callk and
** a continuation. The permission checks are the original's:
** security.token_store.get on the id (raises when denied),
** security.token.validate / .revoke with meta {token}, and
** security.token.create with meta {actor} (nil, err of kind Invalid when
** denied, as there).
**
** Thread affinity: the process's thread.
*/
#include "security.h"

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "lua_modules/base64.h"
#include "lua_modules/modules.h"
#include "runtime/errors.h"
#include "runtime/gotime.h"
#include "runtime/live.h"
#include "runtime/payload.h"
#include "runtime/policy.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/rt.h"

#define TOKEN_STORE_META "security.TokenStore"

/* User values of a TokenStore: its id, the backing Store object, the
** signing key ("" for none). */
enum { TV_ID = 1, TV_STORE, TV_KEY, TV_N = TV_KEY };

struct ltok {
	int closed;
	int token_length;
	int64_t default_ns;   /* the entry's default_expiration */
};

/* {==== Text helpers ====} */

/* Push n bytes as Go's base64.URLEncoding writes them (padded). */
static void push_b64url(lua_State *L, const unsigned char *b, size_t n)
{
	size_t el = base64_enclen(BASE64_RAWURL, n);
	luaL_Buffer buf;
	char *p = luaL_buffinitsize(L, &buf, el + 3);

	base64_encode(BASE64_RAWURL, b, n, p);
	while (el % 4)
		p[el++] = '=';
	luaL_pushresultsize(&buf, el);
}

/* Push the signature of text under key. [-0, +1, m] */
static void push_sig(lua_State *L, const char *key, size_t kl, const char *text, size_t tl)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;

	HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)text, tl, mac, &ml);
	push_b64url(L, mac, ml);
}

/* Now as RFC 3339 UTC text with nanoseconds, plus add_ns. */
static void rfc3339(char *buf, size_t cap, int64_t add_ns)
{
	struct timespec ts;
	struct tm tm;
	char day[40];
	int64_t ns;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (int64_t)ts.tv_nsec + add_ns % 1000000000LL;
	ts.tv_sec += (time_t)(add_ns / 1000000000LL) + (time_t)(ns / 1000000000LL);
	ns %= 1000000000LL;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%09lldZ", day, (long long)ns);
}

/* Seconds since the epoch of RFC 3339 text (fraction and offset
** optional), or -1 when it does not parse. */
static double parse_rfc3339(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se, n = 0, oh, om;
	double frac = 0, t;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6)
		return -1;
	p = s + n;
	if (*p == '.') {
		double scale = 0.1;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = (double)timegm(&tm) + frac;
	if (*p == 'Z' || *p == 'z')
		return t;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
		return t - (*p == '+' ? 1 : -1) * (oh * 3600.0 + om * 60.0);
	return -1;
}

/* The dot of a signed token of exactly two parts, else NULL. */
static const char *sig_dot(const char *tok, size_t tl)
{
	const char *dot = memchr(tok, '.', tl);
	if (dot == NULL || memchr(dot + 1, '.', tl - (size_t)(dot - tok) - 1))
		return NULL;
	return dot;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* }==== */

/* {==== The core: validate on a backing Store ====} */

/*
** tok_core(store, token, key) -> ctx, nil | nil, err: the token's
** context table ({actor = {id, meta}, scope = {policies}}, the shape
** security_push_pair reads) or the original's failure, wrapped "validate
** token". Stack: 1 store, 2 token, 3 key, 4 the lookup key.
*/
static int core_k(lua_State *L, int status, lua_KContext stage);

static int tok_core(lua_State *L)
{
	size_t tl, kl;
	const char *tok = lua_tolstring(L, 2, &tl);
	const char *key = lua_tolstring(L, 3, &kl);
	const char *dot;

	lua_settop(L, 3);
	if (tok == NULL || tl == 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token", "invalid token");
	if (kl) {
		/* Exactly two parts, the second the first's signature. */
		if ((dot = sig_dot(tok, tl)) == NULL)
			return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token",
						  "invalid token");
		push_sig(L, key, kl, tok, (size_t)(dot - tok));
		size_t sl, gl = tl - (size_t)(dot - tok) - 1;
		const char *sig = lua_tolstring(L, -1, &sl);
		int good = sl == gl && CRYPTO_memcmp(sig, dot + 1, sl) == 0;
		lua_pop(L, 1);
		if (!good)
			return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token",
						  "invalid token");
		lua_pushlstring(L, tok, (size_t)(dot - tok));
	} else {
		lua_pushvalue(L, 2);
	}
	lua_getfield(L, 1, "get");
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 4);
	lua_callk(L, 2, 2, 1, core_k);
	return core_k(L, LUA_OK, 1);
}

static int core_k(lua_State *L, int status, lua_KContext stage)
{
	size_t kl;
	const char *kind;
	double exp;

	(void)status;
	if (stage == 2) {               /* the expired entry is deleted */
		lua_settop(L, 4);
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token", "token expired");
	}
	/* 5 value, 6 err */
	if (lua_isnil(L, 5)) {
		if (errors_is_error(L, 6) && (kind = errors_kind(L, 6, &kl)) &&
		    !strcmp(kind, ERRORS_NOT_FOUND))
			return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token",
						  "token not found");
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token",
					  "failed to retrieve token: %s",
					  luaL_tolstring(L, 6, NULL));
	}
	if (!lua_istable(L, 5) || lua_getfield(L, 5, "actor_id") != LUA_TSTRING)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "validate token",
					  "failed to unmarshal token data");
	lua_pop(L, 1);
	if (lua_getfield(L, 5, "expires") == LUA_TSTRING) {
		exp = parse_rfc3339(lua_tostring(L, -1));
		if (exp < 0 || now_s() > exp) {
			lua_settop(L, 4);
			lua_getfield(L, 1, "delete");
			lua_pushvalue(L, 1);
			lua_pushvalue(L, 4);
			lua_callk(L, 2, 0, 2, core_k);
			return core_k(L, LUA_OK, 2);
		}
	}
	lua_pop(L, 1);
	lua_createtable(L, 0, 2);                  /* the context */
	lua_createtable(L, 0, 2);
	lua_getfield(L, 5, "actor_id");
	lua_setfield(L, -2, "id");
	if (lua_getfield(L, 5, "actor_meta") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	lua_setfield(L, -2, "meta");
	lua_setfield(L, -2, "actor");
	lua_createtable(L, 0, 1);
	if (lua_getfield(L, 5, "scope_policies") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	lua_setfield(L, -2, "policies");
	lua_setfield(L, -2, "scope");
	lua_pushnil(L);
	return 2;
}

/* }==== */

/* {==== security.token_store ====} */

static int ts_validate(lua_State *L);
static int ts_create(lua_State *L);
static int ts_revoke(lua_State *L);
static int ts_close(lua_State *L);
static int ts_tostring(lua_State *L);

static const luaL_Reg ts_methods[] = {
	{"validate", ts_validate},
	{"create", ts_create},
	{"revoke", ts_revoke},
	{"close", ts_close},
	{NULL, NULL}
};

/* Set the TokenStore metatable on the value on top. [-0, +0, m] */
static void set_meta(lua_State *L)
{
	if (luaL_newmetatable(L, TOKEN_STORE_META)) {
		luaL_newlib(L, ts_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, ts_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_setmetatable(L, -2);
}

/* The security.token_store entry id of the live registry, or NULL. */
static const struct reg_entry *find_entry(lua_State *L, const char *id)
{
	const struct reg_entry *e = reg_find(live_registry(proc_of(L)->rt), id);
	return e && e->k == REG_K_SECURITY_TOKEN_STORE ? e : NULL;
}

/* Push the backing store's Store object (store.get of its id, with no
** store.get / store.key.* checks: the original's token store reaches its
** store without the Lua module): 1, or nil, err and 2. [-0, +(1|2), e] */
static int push_backing(lua_State *L, const struct reg_entry *e)
{
	return store_open_unchecked(L, e->u.token_store.store->id);
}

int security_token_store(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	const struct reg_entry *e;
	struct ltok *t;

	if (id[0] == '\0')
		return errors_ret(L, ERRORS_INVALID, "token store id is required");
	if (!security_allowed_meta(L, "security.token_store.get", id, NULL)) {
		errors_push(L, ERRORS_PERMISSION_DENIED, "not allowed to access token store: %s", id);
		return lua_error(L);
	}
	e = find_entry(L, id);
	if (e == NULL)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "acquire token store",
					  "token store %s not found", id);
	lua_settop(L, 1);
	if (push_backing(L, e) == 2) {
		lua_remove(L, -2);
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "acquire token store",
					  "failed to acquire backing store '%s': %s",
					  e->u.token_store.store->id, luaL_tolstring(L, -1, NULL));
	}
	t = lua_newuserdatauv(L, sizeof(*t), TV_N);
	t->closed = 0;
	t->token_length = e->u.token_store.token_length;
	t->default_ns = e->u.token_store.default_expiration;
	lua_pushstring(L, e->id);
	lua_setiuservalue(L, -2, TV_ID);
	lua_insert(L, -2);
	lua_setiuservalue(L, -2, TV_STORE);
	lua_pushstring(L, e->u.token_store.token_key ? e->u.token_store.token_key : "");
	lua_setiuservalue(L, -2, TV_KEY);
	set_meta(L);
	return 1;
}

/* The TokenStore at 1 (raises otherwise). */
static struct ltok *check_ts(lua_State *L)
{
	void *t = luaL_testudata(L, 1, TOKEN_STORE_META);
	if (t == NULL)
		luaL_argerror(L, 1, "TokenStore expected");
	return t;
}

/* Whether the process may do action on the store at 1, with meta
** {k = v}. */
static int may(lua_State *L, const char *action, const char *k, const char *v, size_t vl)
{
	const char *keys[1] = { k };
	struct policy_val val = { .type = PV_STR, .str = v, .len = vl };
	struct policy_val meta = { .type = PV_MAP, .n = 1, .items = &val, .keys = keys };
	int ok;

	lua_getiuservalue(L, 1, TV_ID);
	ok = security_allowed_meta(L, action, lua_tostring(L, -1), &meta);
	lua_pop(L, 1);
	return ok;
}

/* {==== validate ====} */

static int validate_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	if (lua_isnil(L, -2)) {          /* nil, err -> nil, nil, err */
		lua_pushnil(L);
		lua_insert(L, -2);
		return 3;
	}
	security_push_pair(L, -2);
	lua_pushnil(L);
	return 3;
}

/* ts:validate(token) -> Actor, Scope, nil | nil, nil, err. */
static int ts_validate(lua_State *L)
{
	struct ltok *t = check_ts(L);
	size_t tl;
	const char *tok;

	if (t->closed) {
		lua_pushnil(L);
		return 1 + errors_ret(L, ERRORS_INTERNAL, "token store is closed");
	}
	tok = luaL_checklstring(L, 2, &tl);
	if (!may(L, "security.token.validate", "token", tok, tl)) {
		lua_pushnil(L);
		return 1 + errors_ret(L, ERRORS_INVALID, "not allowed to validate token");
	}
	lua_settop(L, 2);
	lua_pushcfunction(L, tok_core);
	lua_getiuservalue(L, 1, TV_STORE);
	lua_pushvalue(L, 2);
	lua_getiuservalue(L, 1, TV_KEY);
	lua_callk(L, 3, 2, 0, validate_k);
	return validate_k(L, LUA_OK, 0);
}

/* }==== */

/* {==== create ====} */

static int create_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	/* ... token(-3) ok(-2) err(-1) */
	if (lua_toboolean(L, -2)) {
		lua_pop(L, 2);
		lua_pushnil(L);
		return 2;
	}
	return errors_ret_wrapped(L, ERRORS_INTERNAL, "create token", "failed to store token: %s",
				  luaL_tolstring(L, -1, NULL));
}

/* Push the ids of the Scope at idx as an array. [-0, +1, e] */
static void push_policy_ids(lua_State *L, int idx)
{
	lua_Integer n;

	lua_getfield(L, idx, "policies");
	lua_pushvalue(L, idx);
	lua_call(L, 1, 1);
	n = (lua_Integer)lua_rawlen(L, -1);
	lua_createtable(L, (int)n, 0);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, i);
		lua_getfield(L, -1, "id");
		lua_insert(L, -2);
		lua_call(L, 1, 1);
		lua_rawseti(L, -2, i);
	}
	lua_remove(L, -2);
}

/* ts:create(actor, scope, opts?) -> token, nil | nil, err. */
static int ts_create(lua_State *L)
{
	struct ltok *t = check_ts(L);
	int64_t exp_ns = 0;
	char now[64], until[64];
	unsigned char *raw;
	size_t kl;
	const char *key;

	if (t->closed)
		return errors_ret(L, ERRORS_INTERNAL, "token store is closed");
	/* The original's CheckUserData, then its "Actor expected". */
	if (!security_is_actor(L, 2))
		luaL_argerror(L, 2, lua_type(L, 2) == LUA_TUSERDATA ? "Actor expected" :
			      "userdata expected");
	if (!security_is_scope(L, 3))
		luaL_argerror(L, 3, lua_type(L, 3) == LUA_TUSERDATA ? "Scope expected" :
			      "userdata expected");
	lua_getfield(L, 2, "id");
	lua_pushvalue(L, 2);
	lua_call(L, 1, 1);                          /* the actor id */
	{
		size_t il;
		const char *aid = lua_tolstring(L, -1, &il);
		if (!may(L, "security.token.create", "actor", aid, il))
			return errors_ret(L, ERRORS_INVALID, "not allowed to create token");
	}
	lua_pop(L, 1);
	if (lua_gettop(L) >= 4) {
		luaL_checktype(L, 4, LUA_TTABLE);
		lua_getfield(L, 4, "expiration");
		if (lua_type(L, -1) == LUA_TSTRING) {
			size_t el;
			const char *es = lua_tolstring(L, -1, &el);
			if (gotime_parse_duration(es, el, &exp_ns, NULL) != 0)
				return errors_ret(L, ERRORS_INVALID, "invalid expiration format");
		} else if (lua_type(L, -1) == LUA_TNUMBER) {
			/* ms, truncated as Go's time.Duration(v); clamped to
			** about 290 years either way (NaN is 0: the default) */
			lua_Number ms = lua_tonumber(L, -1);
			if (ms != ms)
				ms = 0;
			ms = ms > 9e12 ? 9e12 : ms < -9e12 ? -9e12 : ms;
			exp_ns = (int64_t)ms * 1000000LL;
		}
		lua_pop(L, 1);
	}
	lua_settop(L, 4);
	if (exp_ns == 0)
		exp_ns = t->default_ns;

	/* The token: 5 its stored part, 6 the whole. */
	raw = xmalloc((size_t)t->token_length);
	if (RAND_bytes(raw, t->token_length) != 1) {
		free(raw);
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "create token",
					  "failed to generate random token");
	}
	push_b64url(L, raw, (size_t)t->token_length);
	free(raw);
	lua_getiuservalue(L, 1, TV_KEY);
	key = lua_tolstring(L, -1, &kl);
	if (kl) {
		size_t bl;
		const char *base = lua_tolstring(L, 5, &bl);
		lua_pushvalue(L, 5);
		lua_pushliteral(L, ".");
		push_sig(L, key, kl, base, bl);
		lua_concat(L, 3);
		lua_remove(L, -2);
	} else {
		lua_pop(L, 1);
		lua_pushvalue(L, 5);
	}

	/* 7 the token's data, as the original's tokenData. */
	lua_createtable(L, 0, 6);
	lua_getfield(L, 2, "id");
	lua_pushvalue(L, 2);
	lua_call(L, 1, 1);
	lua_setfield(L, 7, "actor_id");
	lua_getfield(L, 2, "meta");
	lua_pushvalue(L, 2);
	lua_call(L, 1, 1);
	lua_pushnil(L);
	if (lua_next(L, -2)) {                      /* omitempty */
		lua_pop(L, 2);
		lua_setfield(L, 7, "actor_meta");
	} else {
		lua_pop(L, 1);
	}
	push_policy_ids(L, 3);
	if (lua_rawlen(L, -1))
		lua_setfield(L, 7, "scope_policies");
	else
		lua_pop(L, 1);
	rfc3339(now, sizeof(now), 0);
	lua_pushstring(L, now);
	lua_setfield(L, 7, "created");
	if (exp_ns > 0) {
		rfc3339(until, sizeof(until), exp_ns);
		lua_pushstring(L, until);
		lua_setfield(L, 7, "expires");
	}
	if (lua_istable(L, 4)) {
		if (lua_getfield(L, 4, "meta") == LUA_TTABLE) {
			security_push_normalised(L, -1);
			lua_setfield(L, 7, "meta");
		}
		lua_pop(L, 1);
	}

	/* store:set(stored part, data [, ttl seconds]); the token stays at 6. */
	lua_getiuservalue(L, 1, TV_STORE);
	lua_getfield(L, -1, "set");
	lua_insert(L, -2);
	lua_pushvalue(L, 5);
	lua_pushvalue(L, 7);
	if (exp_ns > 0)
		lua_pushnumber(L, (lua_Number)exp_ns / 1e9);
	lua_remove(L, 7);                           /* the data, now copied */
	lua_remove(L, 5);
	lua_callk(L, exp_ns > 0 ? 4 : 3, 2, 0, create_k);
	return create_k(L, LUA_OK, 0);
}

/* }==== */

/* {==== revoke, close ====} */

static int revoke_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	/* deleted(-2) err(-1) */
	if (lua_toboolean(L, -2)) {
		lua_pushboolean(L, 1);
		lua_pushnil(L);
		return 2;
	}
	if (lua_isnil(L, -1))
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "revoke token", "token not found");
	return errors_ret_wrapped(L, ERRORS_INTERNAL, "revoke token", "failed to delete token: %s",
				  luaL_tolstring(L, -1, NULL));
}

/* ts:revoke(token) -> true, nil | nil, err. */
static int ts_revoke(lua_State *L)
{
	struct ltok *t = check_ts(L);
	size_t tl, kl;
	const char *tok, *dot;

	if (t->closed)
		return errors_ret(L, ERRORS_INTERNAL, "token store is closed");
	tok = luaL_checklstring(L, 2, &tl);
	if (!may(L, "security.token.revoke", "token", tok, tl))
		return errors_ret(L, ERRORS_INVALID, "not allowed to revoke token");
	if (tl == 0)
		return errors_ret_wrapped(L, ERRORS_INTERNAL, "revoke token", "invalid token");
	lua_settop(L, 2);
	lua_getiuservalue(L, 1, TV_STORE);
	lua_getfield(L, -1, "delete");
	lua_insert(L, -2);
	lua_getiuservalue(L, 1, TV_KEY);
	lua_tolstring(L, -1, &kl);
	lua_pop(L, 1);
	if (kl) {                       /* the stored part: before the dot */
		if ((dot = sig_dot(tok, tl)) == NULL)
			return errors_ret_wrapped(L, ERRORS_INTERNAL, "revoke token",
						  "invalid token");
		lua_pushlstring(L, tok, (size_t)(dot - tok));
	} else {
		lua_pushvalue(L, 2);
	}
	lua_callk(L, 2, 2, 0, revoke_k);
	return revoke_k(L, LUA_OK, 0);
}

/* ts:close() -> true: releases the backing store; every other method then
** fails with "token store is closed". Idempotent. */
static int ts_close(lua_State *L)
{
	struct ltok *t = check_ts(L);

	if (!t->closed) {
		t->closed = 1;
		lua_getiuservalue(L, 1, TV_STORE);
		lua_getfield(L, -1, "release");
		lua_insert(L, -2);
		lua_call(L, 1, 0);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int ts_tostring(lua_State *L)
{
	struct ltok *t = check_ts(L);
	lua_getiuservalue(L, 1, TV_ID);
	lua_pushfstring(L, "security.TokenStore{%s%s}", lua_tostring(L, -1),
			t->closed ? ", closed" : "");
	return 1;
}

/* }==== */

/* {==== token_auth ====} */

/* After the handler: its results are the call's. */
static int auth_done(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	(void)ctx;
	return lua_gettop(L);
}

/* Run the handler at 1 with no arguments. */
static int run_handler(lua_State *L)
{
	lua_settop(L, 1);
	lua_callk(L, 0, LUA_MULTRET, 0, auth_done);
	return auth_done(L, LUA_OK, 0);
}

static int auth_k(lua_State *L, int status, lua_KContext ctx)
{
	struct proc *p = proc_of(L);
	struct payload out;
	int top;

	(void)status;
	(void)ctx;
	/* 1 handler ... ctx(-2) err(-1) */
	if (lua_istable(L, -2)) {
		security_push_pair(L, -2);
		top = lua_gettop(L);
		if (security_encode(L, top - 1, top, &out) == 0) {
			payload_free(&p->sec);
			p->sec = out;
			proc_sec_changed(p);
		}
	}
	return run_handler(L);
}

int security_token_auth(lua_State *L)
{
	const struct reg_entry *e;

	/* 1 handler, 2 token, 3 store id */
	lua_settop(L, 3);
	e = find_entry(L, lua_tostring(L, 3));
	if (e == NULL || push_backing(L, e) == 2)
		return run_handler(L);           /* the original logs and goes on */
	lua_pushcfunction(L, tok_core);
	lua_insert(L, -2);
	lua_pushvalue(L, 2);
	lua_pushstring(L, e->u.token_store.token_key ? e->u.token_store.token_key : "");
	lua_callk(L, 3, 2, 0, auth_k);
	return auth_k(L, LUA_OK, 0);
}

/* }==== */

