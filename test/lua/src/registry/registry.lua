-- test.registry: require("registry") over the running registry: entries in
-- the original's {id, kind, meta, data} shape, the find filter forms, the
-- NOT_FOUND and INVALID errors, and the boot version.
local t = require("t")
local registry = require("registry")

local T = {}

function T.get_entry()
	local e, err = registry.get("test.registry:cfg")
	t.is_nil(err)
	t.eq(e.id, "test.registry:cfg", "id")
	t.eq(e.kind, "registry.entry", "kind")
	t.eq(e.meta.type, "config", "meta.type")
	t.eq(e.meta.tags[2], "b", "meta list")
	t.eq(e.data.level, 3, "data field")
	t.eq(e.data.name_of, "first", "data field")
	t.is_nil(e.data.name, "name is not data")
	t.is_nil(e.data.kind, "kind is not data")
	local f = registry.get("test.registry:get_entry")
	t.eq(f.kind, "function.lua")
	t.eq(f.data.method, "get_entry", "function fields are data")
end

function T.get_not_found()
	local e, err = registry.get("test.registry:nope")
	t.err(e, err, errors.NOT_FOUND)
	t.contains(err:message(), "test.registry:nope")
	t.raises(function() registry.get() end, "string expected")
end

local function ids(list)
	local out = {}
	for _, e in ipairs(list) do out[#out + 1] = e.id end
	table.sort(out)
	return table.concat(out, ",")
end

function T.find_filters()
	local l, err = registry.find({[".kind"] = "registry.entry", [".ns"] = "test.registry"})
	t.is_nil(err)
	t.eq(ids(l), "test.registry:cfg,test.registry:cfg2")
	t.eq(ids(registry.find({[".ns"] = "test.registry", ["meta.group"] = "alpha"})), "test.registry:cfg")
	t.eq(ids(registry.find({[".id"] = "test.registry:cfg*", [".kind"] = "registry.entry"})),
		"test.registry:cfg,test.registry:cfg2", "glob on id")
	t.eq(ids(registry.find({[".ns"] = "test.registry", ["^meta.group"] = "be"})), "test.registry:cfg2", "prefix")
	t.eq(ids(registry.find({[".ns"] = "test.registry", ["meta.tags"] = {"a"}})), "test.registry:cfg", "tags")
	t.eq(ids(registry.find({kind = "registry.entry", namespace = "test.registry"})),
		"test.registry:cfg,test.registry:cfg2", "bare keys")
	local tests = registry.find({[".ns"] = "test.registry", ["meta.type"] = "test"})
	t.eq(#tests, 6, "meta.type = test")
	t.eq(#registry.find({[".kind"] = "no.such.kind"}), 0, "no match is an empty list")
end

function T.find_bad_filter()
	local l, err = registry.find("kind")
	t.err(l, err, errors.INVALID)
	l, err = registry.find()
	t.err(l, err, errors.INVALID)
end

function T.parse_id_forms()
	local id = registry.parse_id("app.lib:assert")
	t.eq(id.ns, "app.lib")
	t.eq(id.name, "assert")
	id = registry.parse_id("plain")
	t.eq(id.ns, "")
	t.eq(id.name, "plain")
	id = registry.parse_id("a:b:c")
	t.eq(id.ns, "a")
	t.eq(id.name, "b:c", "splits on the first colon")
end

function T.boot_version()
	local v, err = registry.current_version()
	t.is_nil(err)
	t.eq(v:id(), 1, "the boot registry is version 1")
	t.is_nil(v:previous(), "first version")
	t.eq(v:string(), "1")
	local all = registry.versions()
	t.ok(#all >= 1, "versions")
	t.eq(all[1]:id(), 1)
end

return T
