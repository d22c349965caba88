-- test.token_store: security.token_store(id) and its TokenStore: create,
-- validate, revoke, expiry, signed tokens, both backing stores, the error
-- paths and the permission checks with their kinds.
local t = require("t")
local security = require("security")
local time = require("time")

local T = {}
local NS = "test.token_store:"

local function open(id)
	local ts, err = security.token_store(NS .. (id or "plain"))
	t.is_nil(err, "token_store error")
	t.ok(ts ~= nil, "token store object")
	return ts
end

local function actor(id, meta)
	return security.new_actor(id or "user:42", meta)
end

local function scope(...)
	local ps = {}
	for _, id in ipairs({...}) do
		ps[#ps + 1] = assert(security.policy(NS .. id))
	end
	return security.new_scope(ps)
end

function T.create_validate()
	local ts = open()
	local tok, err = ts:create(actor("user:42", {role = "admin", level = 3}), scope("allow_docs"))
	t.is_nil(err)
	t.eq(type(tok), "string")
	-- 32 random bytes in padded URL-safe Base64: 44 characters
	t.eq(#tok, 44, "token length")
	t.match(tok, "^[%w_%-]+=*$", "URL-safe Base64")
	local other = assert(ts:create(actor(), scope()))
	t.ok(other ~= tok, "tokens differ")
	local a, s, verr = ts:validate(tok)
	t.is_nil(verr)
	t.eq(a:id(), "user:42")
	t.deq(a:meta(), {role = "admin", level = 3})
	t.ok(s:contains(NS .. "allow_docs"), "scope has the policy")
	t.eq(#s:policies(), 1)
	t.eq(s:evaluate(a, "doc.read", "x"), "allow")
	t.match(tostring(ts), "TokenStore")
end

function T.signed_tokens()
	local ts = open("signed")
	local tok = assert(ts:create(actor("bob"), scope()))
	-- 16 bytes (24 chars) "." HMAC-SHA256 (44 chars)
	local base, sig = tok:match("^([%w_%-=]+)%.([%w_%-=]+)$")
	t.ok(base ~= nil, "two parts: " .. tok)
	t.eq(#base, 24)
	t.eq(#sig, 44)
	local a, _, err = ts:validate(tok)
	t.is_nil(err)
	t.eq(a:id(), "bob")
	-- a tampered signature, a missing one, an extra part
	local bad = base .. "." .. sig:sub(1, 10) .. (sig:sub(11, 11) == "A" and "B" or "A") .. sig:sub(12)
	local x, y
	x, y, err = ts:validate(bad)
	t.is_nil(x); t.is_nil(y)
	t.err(nil, err, errors.INTERNAL, "invalid token")
	x, y, err = ts:validate(base)
	t.err(x, err, errors.INTERNAL, "invalid token")
	x, y, err = ts:validate(tok .. ".more")
	t.err(x, err, errors.INTERNAL, "invalid token")
	-- the same stored part under the unsigned store is a different key form
	local plain = open("plain")
	x, y, err = plain:validate(tok)
	t.err(x, err, errors.INTERNAL, "token not found")
	-- revoke takes the whole token, and needs two parts
	x, err = ts:revoke(base)
	t.err(x, err, errors.INTERNAL, "invalid token")
	t.eq(assert(ts:revoke(tok)), true)
	x, y, err = ts:validate(tok)
	t.err(x, err, errors.INTERNAL, "token not found")
end

function T.scope_roundtrip()
	local ts = open()
	local tok = assert(ts:create(actor("carol"), scope("allow_docs", "allow_all")))
	local a, s = ts:validate(tok)
	t.eq(a:id(), "carol")
	t.deq(a:meta(), {})
	local ids = {}
	for _, p in ipairs(s:policies()) do ids[#ids + 1] = p:id() end
	table.sort(ids)
	t.deq(ids, {NS .. "allow_all", NS .. "allow_docs"})
	-- an empty scope comes back as an empty scope
	tok = assert(ts:create(actor("dave"), scope()))
	a, s = ts:validate(tok)
	t.eq(a:id(), "dave")
	t.eq(#s:policies(), 0)
end

function T.revoke()
	local ts = open()
	local tok = assert(ts:create(actor(), scope()))
	local ok, err = ts:revoke(tok)
	t.is_nil(err)
	t.eq(ok, true)
	local a, s
	a, s, err = ts:validate(tok)
	t.is_nil(a); t.is_nil(s)
	local e = t.err(nil, err, errors.INTERNAL, "token not found")
	t.eq(e:retryable(), false)
	ok, err = ts:revoke(tok)
	t.err(ok, err, errors.INTERNAL, "token not found")
	ok, err = ts:revoke("")
	t.err(ok, err, errors.INTERNAL, "invalid token")
	a, s, err = ts:validate("")
	t.err(a, err, errors.INTERNAL, "invalid token")
	a, s, err = ts:validate("never-issued")
	t.err(a, err, errors.INTERNAL, "token not found")
end

function T.expiry()
	local ts = open()
	local tok = assert(ts:create(actor(), scope(), {expiration = 100}))
	local long = assert(ts:create(actor("stays"), scope(), {expiration = "1h"}))
	t.eq(ts:validate(tok):id(), "user:42", "valid before it expires")
	time.sleep("200ms")
	local a, s, err = ts:validate(tok)
	t.is_nil(a); t.is_nil(s)
	t.ok(err ~= nil, "expired token refused")
	t.eq(err:kind(), errors.INTERNAL)
	t.contains(tostring(err), "token")
	t.eq(ts:validate(long):id(), "stays")
	-- the entry's default_expiration (150ms)
	local short = open("short")
	tok = assert(short:create(actor("brief"), scope()))
	t.eq(short:validate(tok):id(), "brief")
	time.sleep("250ms")
	a, s, err = short:validate(tok)
	t.is_nil(a)
	t.eq(err:kind(), errors.INTERNAL)
	-- a negative expiration: none at all
	tok = assert(short:create(actor("forever"), scope(), {expiration = -1}))
	time.sleep("200ms")
	t.eq(short:validate(tok):id(), "forever")
end

function T.expiration_forms()
	local ts = open()
	local tok, err = ts:create(actor(), scope(), {expiration = "soon"})
	t.err(tok, err, errors.INVALID, "invalid expiration format")
	tok, err = ts:create(actor(), scope(), {expiration = "1h30m"})
	t.is_nil(err)
	tok, err = ts:create(actor(), scope(), {expiration = 60000})
	t.is_nil(err)
	-- other types are ignored (the default applies), as in the original
	tok, err = ts:create(actor(), scope(), {expiration = true})
	t.is_nil(err)
	tok, err = ts:create(actor(), scope(), {})
	t.is_nil(err)
	-- huge and NaN numbers are clamped, not undefined
	tok, err = ts:create(actor("far"), scope(), {expiration = 1e300})
	t.is_nil(err)
	t.eq(ts:validate(tok):id(), "far")
	tok, err = ts:create(actor("nan"), scope(), {expiration = 0/0})
	t.is_nil(err)
	t.eq(ts:validate(tok):id(), "nan")
end

function T.meta_kept()
	local ts = open()
	-- token meta is stored (normalised), not returned by validate
	local tok = assert(ts:create(actor("m", {n = 1, nested = {x = "y"}, f = print}), scope(),
		{meta = {device = "phone", f = print}}))
	local a = ts:validate(tok)
	t.deq(a:meta(), {n = 1, nested = {x = "y"}})
	local store = require("store")
	local raw = assert(store.get(NS .. "mem")):get(tok)
	t.eq(raw.actor_id, "m")
	t.deq(raw.meta, {device = "phone"})
	t.match(raw.created, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d")
	t.match(raw.expires, "Z$")
	t.is_nil(raw.scope_policies, "omitted when empty")
	-- an entry past its expires (the store's own TTL aside) is refused and
	-- deleted; one with an offset time is read as such
	local mem = assert(store.get(NS .. "mem"))
	assert(mem:set("old-token", {actor_id = "old", expires = "2001-02-03T04:05:06.5Z"}))
	local x, y, err = ts:validate("old-token")
	t.is_nil(x); t.is_nil(y)
	t.err(nil, err, errors.INTERNAL, "token expired")
	t.eq(mem:has("old-token"), false, "expired entry deleted")
	assert(mem:set("later-token", {actor_id = "later", expires = "2999-01-01T00:00:00+02:00"}))
	t.eq(ts:validate("later-token"):id(), "later")
	assert(mem:set("junk-token", {nope = 1}))
	x, y, err = ts:validate("junk-token")
	t.err(x, err, errors.INTERNAL, "failed to unmarshal token data")
end

function T.bad_arguments()
	local ts = open()
	t.raises(function() security.token_store() end, "bad argument")
	t.raises(function() ts:create("user", scope()) end, "userdata expected")
	t.raises(function() ts:create(actor(), "scope") end, "userdata expected")
	t.raises(function() ts:create(actor(), actor()) end, "Scope expected")
	t.raises(function() ts:create(scope(), scope()) end, "Actor expected")
	t.raises(function() ts:create(actor(), scope(), "opts") end, "bad argument")
	t.raises(function() ts:validate() end, "bad argument")
	t.raises(function() ts:validate({}) end, "bad argument")
	t.raises(function() ts:revoke() end, "bad argument")
	t.raises(function() ts.validate({}, "x") end, "TokenStore expected")
	t.raises(function() ts.close(42) end, "TokenStore expected")
end

function T.unknown_ids()
	local ts, err = security.token_store("")
	t.err(ts, err, errors.INVALID, "token store id is required")
	ts, err = security.token_store(NS .. "missing")
	t.err(ts, err, errors.INTERNAL, "not found")
	ts, err = security.token_store(NS .. "not_a_token_store")
	t.err(ts, err, errors.INTERNAL, "not found")
	-- a store id is not a token store id
	ts, err = security.token_store(NS .. "mem")
	t.err(ts, err, errors.INTERNAL, "not found")
end

function T.closed()
	local ts = open()
	local tok = assert(ts:create(actor(), scope()))
	t.eq(ts:close(), true)
	t.eq(ts:close(), true, "idempotent")
	local a, s, err = ts:validate(tok)
	t.is_nil(a); t.is_nil(s)
	t.err(nil, err, errors.INTERNAL, "token store is closed")
	local v
	v, err = ts:create(actor(), scope())
	t.err(v, err, errors.INTERNAL, "token store is closed")
	v, err = ts:revoke(tok)
	t.err(v, err, errors.INTERNAL, "token store is closed")
	t.match(tostring(ts), "closed")
	-- another handle still works
	t.eq(open():validate(tok):id(), "user:42")
end

function T.sql_store()
	local sql = require("sql")
	local db = assert(sql.get(NS .. "db"))
	assert(db:execute("DROP TABLE IF EXISTS tokens"))
	assert(db:execute("CREATE TABLE tokens (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at TIMESTAMP)"))
	local ts = open("onsql")
	local tok, err = ts:create(actor("sql:user", {team = "a"}), scope("allow_docs"), {expiration = "1h"})
	t.is_nil(err)
	local a, s
	a, s, err = ts:validate(tok)
	t.is_nil(err)
	t.eq(a:id(), "sql:user")
	t.deq(a:meta(), {team = "a"})
	t.ok(s:contains(NS .. "allow_docs"))
	local rows = assert(db:query("SELECT key, value, expires_at FROM tokens"))
	t.eq(#rows, 1)
	t.eq(rows[1].key, tok)
	t.contains(rows[1].value, '"actor_id":"sql:user"')
	t.ok(rows[1].expires_at ~= nil, "row expiry set")
	t.eq(assert(ts:revoke(tok)), true)
	a, s, err = ts:validate(tok)
	t.err(a, err, errors.INTERNAL, "token not found")
	-- expiry through the sql store
	tok = assert(ts:create(actor(), scope(), {expiration = 100}))
	time.sleep("200ms")
	a, s, err = ts:validate(tok)
	t.is_nil(a)
	t.eq(err:kind(), errors.INTERNAL)
	-- a store whose table is missing: the store's error, wrapped
	assert(db:execute("DROP TABLE tokens"))
	tok, err = ts:create(actor(), scope())
	t.err(tok, err, errors.INTERNAL, "failed to store token")
	a, s, err = ts:validate("whatever")
	t.err(a, err, errors.INTERNAL, "failed to retrieve token")
end

-- Under funcs:with_actor/with_scope: what the TokenStore let it do.
local function guarded(tok)
	local r = {}
	local okp, ts = pcall(security.token_store, "test.token_store:plain")
	r.get_plain = {ok = okp, kind = not okp and ts:kind() or nil}
	local ok, e = pcall(security.token_store, "test.token_store:signed")
	r.get_signed = {ok = ok, kind = not ok and e:kind() or nil, msg = not ok and tostring(e) or nil}
	if not okp then
		return r
	end
	local a, s, err = ts:validate(tok)
	r.validate = {ok = a ~= nil, kind = err and err:kind(), msg = err and tostring(err)}
	local v
	v, err = ts:create(security.new_actor("x"), security.new_scope())
	r.create = {ok = v ~= nil, kind = err and err:kind(), msg = err and tostring(err)}
	v, err = ts:revoke(tok)
	r.revoke = {ok = v ~= nil, kind = err and err:kind(), msg = err and tostring(err)}
	return r
end

function T.denied_checks()
	local funcs = require("funcs")
	local ts = open()
	local tok = assert(ts:create(actor(), scope()))
	local r = assert(funcs.new():with_actor(actor("limited")):with_scope(scope("allow_all", "deny_tokens", "deny_get"))
		:call(NS .. "guarded", tok))
	t.eq(r.get_plain.ok, true)
	t.eq(r.validate.ok, false)
	t.eq(r.validate.kind, errors.INVALID)
	t.contains(r.validate.msg, "not allowed to validate token")
	t.eq(r.create.ok, false)
	t.eq(r.create.kind, errors.INVALID)
	t.contains(r.create.msg, "not allowed to create token")
	t.eq(r.revoke.ok, false)
	t.eq(r.revoke.kind, errors.INVALID)
	t.contains(r.revoke.msg, "not allowed to revoke token")
	t.eq(r.get_signed.ok, false)
	t.eq(r.get_signed.kind, errors.PERMISSION_DENIED)
	t.contains(r.get_signed.msg, "not allowed to access token store: test.token_store:signed")
	-- the token survived the denied revoke
	t.eq(ts:validate(tok):id(), "user:42")
	-- allowed under a scope that only allows
	r = assert(funcs.new():with_actor(actor("full")):with_scope(scope("allow_all")):call(NS .. "guarded", tok))
	t.eq(r.validate.ok, true)
	t.eq(r.create.ok, true)
	t.eq(r.revoke.ok, true)
	t.eq(r.get_signed.ok, true)
end

function T.get_denied_raises()
	local funcs = require("funcs")
	local tok = assert(open():create(actor(), scope()))
	-- with an actor but an empty scope everything is undefined: denied
	local r = assert(funcs.new():with_actor(actor("nobody")):with_scope(security.new_scope())
		:call(NS .. "guarded", tok))
	t.eq(r.get_plain.ok, false, "security.token_store.get raises")
	t.eq(r.get_plain.kind, errors.PERMISSION_DENIED)
	t.eq(r.get_signed.ok, false)
	t.eq(r.get_signed.kind, errors.PERMISSION_DENIED)
	t.is_nil(r.validate, "nothing further ran")
end

T.guarded = guarded
return T
