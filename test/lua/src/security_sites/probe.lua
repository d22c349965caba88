-- test.security_sites:probe: every checked call of sql, store and
-- registry, each reported as {ok = bool, kind = err kind | nil, msg = err
-- text | nil, raised = bool}. Registry writes that succeed are undone
-- (the starting version is selected again).
local sql = require("sql")
local store = require("store")
local registry = require("registry")

local NS = "test.security_sites"

local function ret(v, err)
	if v ~= nil and v ~= false then
		return {ok = true}
	end
	return {ok = false, kind = err and err:kind(), msg = err and tostring(err), raised = false}
end

-- A call that raises its denial (the original's RaiseError sites).
local function raised(fn, ...)
	local ok, v, err = pcall(fn, ...)
	if not ok then
		return {ok = false, raised = true, msg = tostring(v),
			kind = type(v) == "userdata" and v:kind() or nil}
	end
	return ret(v, err)
end

local function ids(list)
	local out = {}
	for _, e in ipairs(list or {}) do
		if e.id:sub(1, #NS + 1) == NS .. ":" and e.kind == "registry.entry" then
			out[#out + 1] = e.id:sub(#NS + 2)
		end
	end
	table.sort(out)
	return table.concat(out, ",")
end

local function probe()
	local r = {}
	-- sql: db.get on the id, nil, err
	r.db = ret(sql.get(NS .. ":db"))
	r.db_secret = ret(sql.get(NS .. ":db_secret"))
	-- store: store.get on the id, store.key.* on the key; all raise
	r.store = raised(store.get, NS .. ":kv")
	r.store_secret = raised(store.get, NS .. ":kv_secret")
	local got, s = pcall(store.get, NS .. ":kv")
	if got then
		r.key_set = raised(s.set, s, "plain", 1)
		r.key_get = raised(s.get, s, "plain")
		r.key_has = raised(s.has, s, "plain")
		r.key_delete = raised(s.delete, s, "plain")
		r.secret_set = raised(s.set, s, "secret.a", 1)
		r.secret_get = raised(s.get, s, "secret.a")
		r.secret_has = raised(s.has, s, "secret.a")
		r.secret_delete = raised(s.delete, s, "secret.a")
		-- the check comes before the argument checks that follow it
		r.secret_set_novalue = raised(s.set, s, "secret.b")
		s:release()
	end
	-- registry: registry.get on the id (nil, err); listings leave out
	r.reg_get = ret(registry.get(NS .. ":pub_cfg"))
	r.reg_secret = ret(registry.get(NS .. ":secret_cfg"))
	-- an id that does not exist: NOT_FOUND once the check passes, the
	-- denial before the lookup when it does not
	r.reg_secret_missing = ret(registry.get(NS .. ":secret_cfg_none"))
	r.find = ids(registry.find({["meta.group"] = "sites"}))
	local snap = registry.snapshot()
	r.snap_get = ret(snap:get(NS .. ":pub_cfg"))
	r.snap_secret = ret(snap:get(NS .. ":secret_cfg"))
	r.snap_entries = ids(snap:entries())
	r.snap_namespace = ids(snap:namespace(NS))
	r.snap_find = ids(snap:find({["meta.group"] = "sites"}))
	-- registry writes: registry.apply on "" (changes:apply), and
	-- registry.apply_version on "" (nil, err when denied)
	local start = registry.current_version()
	local ch = snap:changes()
	ch:create({id = NS .. ":made", kind = "registry.entry", data = {n = 3}})
	r.apply = ret(ch:apply())
	r.apply_version = ret(registry.apply_version(start))
	-- nothing to apply is still Invalid, before the check
	r.apply_empty = ret(snap:changes():apply())
	if r.apply.ok and not r.apply_version.ok then
		r.restore_failed = true
	end
	return r
end

-- A token store's own use of its backing store is not checked (the
-- original's token store does not go through the store module): create,
-- validate and revoke work under a scope that allows no store.* action,
-- while the store itself stays closed to the caller.
local function token_probe()
	local security = require("security")
	local ts = security.token_store(NS .. ":tokens")
	local tok, err = ts:create(security.actor(), security.scope())
	if not tok then
		return {create = tostring(err)}
	end
	local a, _, verr = ts:validate(tok)
	local r = {create = "ok", validate = a and a:id() or tostring(verr)}
	local ok, rerr = ts:revoke(tok)
	r.revoke = ok and "ok" or tostring(rerr)
	ts:close()
	local got, e = pcall(store.get, NS .. ":tok_kv")
	r.direct = got and "ok" or tostring(e)
	return r
end

return {probe = probe, token_probe = token_probe}
