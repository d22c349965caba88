-- test.security_sites: the check sites of sql, store and registry under
-- a function call's actor and scope (see probe.lua).
local t = require("t")
local funcs = require("funcs")
local security = require("security")

local T = {}
local NS = "test.security_sites"

local function pol(name)
	return assert(security.policy(NS .. ":" .. name))
end

local function run(actor, scope)
	local ex = funcs.new()
	if actor then ex = ex:with_actor(actor) end
	if scope then ex = ex:with_scope(scope) end
	local r, err = ex:call(NS .. ":probe")
	t.is_nil(err, "the probe ran")
	t.ok(not r.restore_failed, "the registry was put back")
	return r
end

local function ok(r, name)
	t.eq(r[name].ok, true, name .. " allowed (" .. tostring(r[name].msg) .. ")")
end

local function denied(r, name, msg, raised)
	local v = r[name]
	t.eq(v.ok, false, name .. " denied")
	t.eq(v.kind, errors.PERMISSION_DENIED, name .. " kind")
	t.contains(v.msg, msg, name .. " message")
	t.eq(v.raised, raised or false, name .. (raised and " raises" or " returns nil, err"))
end

local function all_allowed(r)
	for _, k in ipairs({"db", "db_secret", "store", "store_secret", "key_set", "key_get",
		"key_has", "key_delete", "secret_set", "secret_get", "secret_has", "secret_delete",
		"reg_get", "reg_secret", "snap_get", "snap_secret", "apply", "apply_version"}) do
		ok(r, k)
	end
	t.eq(r.reg_secret_missing.kind, errors.NOT_FOUND, "a missing entry is NOT_FOUND")
	t.eq(r.secret_set_novalue.kind, errors.INVALID, "set without a value")
	t.eq(r.find, "pub_cfg,secret_cfg")
	t.eq(r.snap_find, "pub_cfg,secret_cfg")
	t.contains(r.snap_entries, "pub_cfg,secret_cfg")
	t.contains(r.snap_namespace, "pub_cfg,secret_cfg")
	t.eq(r.apply_empty.kind, errors.INVALID, "no changes to apply")
end

-- A scope that allows everything but denies the secrets and the registry
-- writes: each denial with its kind, its message naming the action's
-- target, returned or raised as in the original.
function T.denied()
	local scope = security.new_scope({pol("allow_all"), pol("deny_secrets"),
		pol("deny_secret_keys"), pol("deny_registry_writes")})
	local r = run(security.new_actor("user:7"), scope)
	ok(r, "db")
	denied(r, "db_secret", "not allowed to access database: " .. NS .. ":db_secret")
	ok(r, "store")
	denied(r, "store_secret", "not allowed to access store: " .. NS .. ":kv_secret", true)
	for _, k in ipairs({"key_set", "key_get", "key_has", "key_delete"}) do ok(r, k) end
	denied(r, "secret_set", "not allowed to write key: secret.a", true)
	denied(r, "secret_get", "not allowed to read key: secret.a", true)
	denied(r, "secret_has", "not allowed to check key existence: secret.a", true)
	denied(r, "secret_delete", "not allowed to delete key: secret.a", true)
	denied(r, "secret_set_novalue", "not allowed to write key: secret.b", true)
	ok(r, "reg_get")
	denied(r, "reg_secret", "not allowed to access entry: " .. NS .. ":secret_cfg")
	ok(r, "snap_get")
	denied(r, "snap_secret", "not allowed to access entry: " .. NS .. ":secret_cfg")
	t.eq(r.find, "pub_cfg", "find leaves out what registry.get denies")
	t.eq(r.snap_find, "pub_cfg", "snapshot:find too")
	t.contains(r.snap_entries, "pub_cfg", "snapshot:entries")
	t.eq(r.snap_entries:find("secret_cfg", 1, true), nil, "snapshot:entries leaves it out")
	t.eq(r.snap_namespace:find("secret_cfg", 1, true), nil, "snapshot:namespace leaves it out")
	t.contains(r.snap_namespace, "pub_cfg")
	denied(r, "apply", "not allowed to apply registry changes")
	denied(r, "apply_version", "registry version change is not allowed")
	t.eq(r.apply_empty.kind, errors.INVALID, "no changes: Invalid before the check")
end

-- A scope that allows it all: every call goes through.
function T.allowed()
	all_allowed(run(security.new_actor("user:8"), security.new_scope({pol("allow_all")})))
end

-- No actor, no scope (strict mode off): nothing is checked.
function T.no_context()
	all_allowed(run(nil, nil))
end

-- A scope that says nothing of an action denies it (undefined is a deny):
-- reads_only allows the reads, so only the registry writes fail.
function T.undefined_is_denied()
	local r = run(security.new_actor("user:9"), security.new_scope({pol("reads_only")}))
	for _, k in ipairs({"db", "db_secret", "store", "store_secret", "secret_get", "reg_secret"}) do
		ok(r, k)
	end
	denied(r, "apply", "not allowed to apply registry changes")
	denied(r, "apply_version", "registry version change is not allowed")
	-- an empty scope denies every read too
	r = run(security.new_actor("user:9"), security.new_scope())
	denied(r, "db", "not allowed to access database: " .. NS .. ":db")
	denied(r, "store", "not allowed to access store: " .. NS .. ":kv", true)
	denied(r, "reg_get", "not allowed to access entry: " .. NS .. ":pub_cfg")
	denied(r, "reg_secret_missing", "not allowed to access entry: " .. NS .. ":secret_cfg_none")
	t.eq(r.find, "", "find shows nothing")
end

-- An actor with no scope is not judged (strict mode off), as the original.
function T.actor_without_scope()
	all_allowed(run(security.new_actor("user:10"), nil))
end

function T.token_store_unchecked()
	local r, err = funcs.new():with_actor(security.new_actor("user:11"))
		:with_scope(security.new_scope({pol("security_only")})):call(NS .. ":token_probe")
	t.is_nil(err)
	t.eq(r.create, "ok", "create")
	t.eq(r.validate, "user:11", "validate")
	t.eq(r.revoke, "ok", "revoke")
	t.contains(r.direct, "not allowed to access store: " .. NS .. ":tok_kv", "the store itself is checked")
end

return T
