-- test.env: env variables over memory, static, os and router storages
-- (spec 1.4 "Env system", 8).
local t = require("t")
local env = require("env")

local T = {}

function T.get_by_public_name()
	t.eq(env.get("TEST_GREETING"), "hello", "static storage value")
end

function T.get_by_entry_id()
	t.eq(env.get("test.env:greeting"), "hello", "the entry id works as a key")
end

function T.get_id_only_variable()
	t.eq(env.get("test.env:id_only"), "by id", "a variable with no public name")
	local v, err = env.get("id_only")
	t.err(v, err, errors.NOT_FOUND)
end

function T.default_applies()
	t.eq(env.get("TEST_WITH_DEFAULT"), "fallback")
end

function T.missing_value_not_found()
	local v, err = env.get("TEST_UNSET")
	t.err(v, err, errors.NOT_FOUND)
end

function T.unknown_key_not_found()
	local v, err = env.get("TEST_NO_SUCH_VARIABLE")
	t.err(v, err, errors.NOT_FOUND)
end

function T.empty_key_invalid()
	local v, err = env.get("")
	t.err(v, err, errors.INVALID)
end

function T.memory_set_get()
	t.eq(env.set("TEST_MEM", "one"), true, "set result")
	t.eq(env.get("TEST_MEM"), "one")
	t.eq(env.set("TEST_MEM", "two"), true)
	t.eq(env.get("test.env:mem_var"), "two", "same variable by id")
end

function T.set_overrides_default()
	env.set("TEST_WITH_DEFAULT2", "explicit")
	t.eq(env.get("TEST_WITH_DEFAULT2"), "explicit")
end

function T.readonly_variable()
	local ok, err = env.set("TEST_LOCKED", "changed")
	t.err(ok, err, errors.PERMISSION_DENIED)
	t.eq(env.get("TEST_LOCKED"), "fixed", "unchanged")
end

function T.static_storage_read_only()
	local ok, err = env.set("TEST_GREETING", "bye")
	t.err(ok, err, errors.PERMISSION_DENIED)
	t.eq(env.get("TEST_GREETING"), "hello")
end

function T.os_storage_read_only()
	local path = env.get("PATH")
	t.eq(type(path), "string")
	t.ok(#path > 0, "PATH is set")
	local ok, err = env.set("PATH", "/nowhere")
	t.err(ok, err, errors.PERMISSION_DENIED)
end

function T.set_unknown_key()
	local ok, err = env.set("TEST_NOT_DECLARED", "x")
	t.err(ok, err)
end

function T.router_reads_first_hit_writes_first()
	t.eq(env.get("TEST_ROUTED"), "from static", "falls through to the static storage")
	t.eq(env.set("TEST_ROUTED", "from memory"), true, "writes go to the memory storage")
	t.eq(env.get("TEST_ROUTED"), "from memory", "the first storage wins")
end

function T.get_all_lists_readable()
	local all = env.get_all()
	t.eq(type(all), "table")
	t.eq(all.TEST_GREETING, "hello")
end

return T
