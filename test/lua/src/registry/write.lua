-- test.registry_write: snapshots read one version; changes:apply makes a
-- new one (validated, errors with kinds); history and apply_version move
-- between versions; build_delta computes the operations between two
-- entry lists; applies publish registry events on the bus.
local t = require("t")
local registry = require("registry")

local T = {}
local NS = "test.registry_write"

local function ids(list)
	local out = {}
	for _, e in ipairs(list) do out[#out + 1] = e.id end
	table.sort(out)
	return table.concat(out, ",")
end

-- Run fn(snapshot) and select the starting version again afterwards.
local function scoped(fn)
	local start = registry.current_version()
	local ok, err = pcall(fn, registry.snapshot())
	local back, berr = registry.apply_version(start)
	t.is_nil(berr)
	t.eq(back, true)
	if not ok then error(err, 0) end
end

function T.snapshot_reads()
	local s, err = registry.snapshot()
	t.is_nil(err)
	t.eq(s:version():id(), registry.current_version():id())
	local e = s:get(NS .. ":base")
	t.eq(e.kind, "registry.entry")
	t.eq(e.data.level, 1)
	local none, nerr = s:get(NS .. ":missing")
	t.err(none, nerr, errors.NOT_FOUND)
	t.eq(ids(s:namespace(NS .. "x")), "", "unknown namespace")
	local names = ids(s:namespace(NS))
	t.contains(names, NS .. ":base,")
	t.contains(names, NS .. ":other,")
	t.eq(names:find("test:", 1, true), nil, "only its namespace")
	t.eq(ids(s:find({[".ns"] = NS, ["meta.group"] = "w"})), NS .. ":base," .. NS .. ":other")
	local all = s:entries()
	t.ok(#all > #s:namespace(NS), "entries spans every namespace")
	t.raises(function() s:find("x") end, "table expected")
end

function T.create_update_delete()
	scoped(function(s)
		local before = s:version()
		local ch = s:changes()
		t.eq(ch:create({id = NS .. ":made", kind = "registry.entry",
			meta = {group = "w", tags = {"x", "y"}}, data = {n = 5, list = {1, 2}, m = {k = "v"}}}), ch, "chains")
		ch:update({id = NS .. ":base", kind = "registry.entry", meta = {group = "changed"}, data = {level = 9}})
		ch:delete(NS .. ":other")
		local v, err = ch:apply()
		t.is_nil(err)
		t.eq(v:id() > before:id(), true, "a new version")
		t.eq(v:previous():id(), before:id(), "derived from the snapshot's")
		t.eq(registry.current_version():id(), v:id(), "current")
		local m = registry.get(NS .. ":made")
		t.eq(m.data.n, 5)
		t.eq(m.data.list[2], 2)
		t.eq(m.data.m.k, "v")
		t.eq(m.meta.tags[1], "x")
		t.eq(registry.get(NS .. ":base").data.level, 9)
		t.eq(registry.get(NS .. ":base").meta.group, "changed")
		local gone, gerr = registry.get(NS .. ":other")
		t.err(gone, gerr, errors.NOT_FOUND)
		-- the old snapshot still reads the old version
		t.eq(s:get(NS .. ":base").data.level, 1)
		t.eq(s:get(NS .. ":other").data.level, 2)
		-- and apply_version goes back
		t.eq(registry.apply_version(before), true)
		t.eq(registry.get(NS .. ":base").data.level, 1)
		t.eq(registry.get(NS .. ":other").data.level, 2)
		local none = registry.get(NS .. ":made")
		t.is_nil(none)
		-- forward again
		t.eq(registry.apply_version(v), true)
		t.eq(registry.get(NS .. ":made").data.n, 5)
	end)
	t.is_nil(registry.get(NS .. ":made"))
end

function T.ops_list()
	local ch = registry.snapshot():changes()
	t.eq(#ch:ops(), 0)
	ch:create({id = {ns = NS, name = "a"}, kind = "registry.entry", data = {x = 1}})
	ch:update({id = NS .. ":base", kind = "registry.entry"})
	ch:delete({ns = NS, name = "other"})
	ch:delete({{id = NS .. ":x1"}, {NS .. ":x2", NS .. ":other"}})
	local ops = ch:ops()
	t.eq(#ops, 5, "duplicate deletes are ignored")
	t.eq(ops[1].kind, "entry.create")
	t.eq(ops[1].entry.id, NS .. ":a", "ns/name table id")
	t.eq(ops[1].entry.data.x, 1)
	t.eq(ops[2].kind, "entry.update")
	t.eq(ops[3].kind, "entry.delete")
	t.eq(ops[3].entry.id, NS .. ":other")
	t.eq(ops[4].entry.id, NS .. ":x1")
	t.eq(ops[5].entry.id, NS .. ":x2")
end

function T.bad_changes()
	local s = registry.snapshot()
	local ch = s:changes()
	local v, err = ch:apply()
	t.err(v, err, errors.INVALID, "no changes")
	local r, e2 = ch:create({kind = "registry.entry"})
	t.err(r, e2, errors.INVALID, "id")
	r, e2 = ch:create({id = NS .. ":k"})
	t.err(r, e2, errors.INVALID, "kind")
	r, e2 = ch:create({id = NS .. ":k", kind = "registry.entry", data = "flat"})
	t.err(r, e2, errors.INVALID, "data")
	r, e2 = ch:create({id = NS .. ":k", kind = "registry.entry", meta = 3})
	t.err(r, e2, errors.INVALID, "meta")
	r, e2 = ch:create({id = NS .. ":k", kind = "registry.entry", data = {f = print}})
	t.err(r, e2, errors.INVALID, "function")
	r, e2 = ch:update({id = NS .. ":base", kind = "function.lua"})
	t.err(r, e2, errors.INVALID, "kind")
	r, e2 = ch:delete(42)
	t.err(r, e2, errors.INVALID, "invalid ID format")
	t.eq(#ch:ops(), 0, "rejected operations are not recorded")
	t.raises(function() ch:create() end, "table expected")
	-- operations the registry refuses
	local c1 = s:changes():create({id = NS .. ":base", kind = "registry.entry"})
	v, err = c1:apply()
	t.err(v, err, errors.ALREADY_EXISTS, NS .. ":base")
	v, err = s:changes():update({id = NS .. ":nope", kind = "registry.entry"}):apply()
	t.err(v, err, errors.NOT_FOUND, NS .. ":nope")
	v, err = s:changes():delete(NS .. ":nope"):apply()
	t.err(v, err, errors.NOT_FOUND)
	v, err = s:changes():delete("no-colon"):apply()
	t.err(v, err, errors.INVALID, "no-colon")
	t.eq(registry.current_version():id(), s:version():id(), "nothing applied")
end

function T.invalid_entries()
	local s = registry.snapshot()
	-- a function.lua without its fields, one with a missing source file,
	-- a service naming a missing process, an endpoint without a method
	local cases = {
		{{id = NS .. ":f", kind = "function.lua", data = {}}, "source"},
		{{id = NS .. ":f", kind = "function.lua", data = {source = "file://nope.lua", method = "x"}}, "nope.lua"},
		{{id = NS .. ":svc", kind = "process.service", data = {process = NS .. ":missing", host = "test:procs"}}, NS .. ":missing"},
		{{id = NS .. ":k", kind = "no.such.kind"}, "no.such.kind"},
	}
	for i, c in ipairs(cases) do
		local v, err = s:changes():create(c[1]):apply()
		t.err(v, err, errors.INVALID, c[2])
	end
	-- deleting what others refer to leaves a dangling reference
	local v, err = s:changes():delete("test:assert"):apply()
	t.err(v, err, errors.INVALID, "test:assert")
	-- kinds built only at boot
	v, err = s:changes():delete("test:procs"):apply()
	t.err(v, err, errors.INVALID, "process.host")
	t.eq(registry.current_version():id(), s:version():id(), "nothing applied")
	t.eq(registry.get("test:assert").kind, "library.lua")
end

function T.stale_snapshot()
	scoped(function(s)
		local v, err = s:changes():create({id = NS .. ":s1", kind = "registry.entry"}):apply()
		t.is_nil(err)
		local v2, err2 = s:changes():create({id = NS .. ":s2", kind = "registry.entry"}):apply()
		t.err(v2, err2, errors.CONFLICT, "snapshot")
		t.is_nil(registry.get(NS .. ":s2"))
	end)
end

function T.history_versions()
	scoped(function(s)
		local v = s:changes():create({id = NS .. ":h", kind = "registry.entry", data = {a = 1}}):apply()
		local h, err = registry.history()
		t.is_nil(err)
		local all = h:versions()
		t.eq(all[#all]:id(), v:id(), "newest last")
		local got = h:get_version(v:id())
		t.eq(got:id(), v:id())
		local none, nerr = h:get_version(999999)
		t.err(none, nerr, errors.NOT_FOUND)
		none, nerr = h:get_version(0)
		t.err(none, nerr, errors.INVALID)
		local old = h:snapshot_at(s:version())
		t.is_nil(old:get(NS .. ":h"))
		t.eq(h:snapshot_at(v):get(NS .. ":h").data.a, 1)
		local bad, berr = h:snapshot_at("x")
		t.err(bad, berr, errors.INVALID)
		t.eq(registry.snapshot_at(v:id()):get(NS .. ":h").data.a, 1)
		bad, berr = registry.snapshot_at(-1)
		t.err(bad, berr, errors.INVALID)
		bad, berr = registry.snapshot_at(999999)
		t.err(bad, berr, errors.NOT_FOUND)
		local ok, aerr = registry.apply_version("v1")
		t.eq(ok, false)
		t.err(nil, aerr, errors.INVALID)
		t.eq(tostring(v), v:string())
	end)
end

function T.delta()
	local from = {
		{id = "a:1", kind = "k", meta = {x = 1}, data = {v = 1}},
		{id = "a:2", kind = "k", data = {v = {1, 2}}},
		{id = "a:3", kind = "k"},
	}
	local to = {
		{id = "a:2", kind = "k", meta = {}, data = {v = {1, 2}}},
		{id = "a:3", kind = "k", data = {v = 3}},
		{id = {ns = "a", name = "4"}, kind = "k"},
		{kind = "no id, skipped"},
	}
	local ops, err = registry.build_delta(from, to)
	t.is_nil(err)
	t.eq(#ops, 3)
	t.eq(ops[1].kind, "entry.delete")
	t.eq(ops[1].entry.id, "a:1")
	t.eq(ops[2].kind, "entry.update")
	t.eq(ops[2].entry.id, "a:3")
	t.eq(ops[2].entry.data.v, 3)
	t.eq(ops[3].kind, "entry.create")
	t.eq(ops[3].entry.id, "a:4")
	t.eq(#registry.build_delta(to, to), 0, "no change")
	local none, derr = registry.build_delta("x", {})
	t.err(none, derr, errors.INVALID)
	none, derr = registry.build_delta({}, nil)
	t.err(none, derr, errors.INVALID)
	-- a delta from one snapshot's entries to another's applies
	scoped(function(s)
		local target = s:entries()
		for i, e in ipairs(target) do
			if e.id == NS .. ":other" then table.remove(target, i) break end
		end
		local ch = s:changes()
		for _, op in ipairs(registry.build_delta(s:entries(), target)) do
			t.eq(op.kind, "entry.delete")
			ch:delete(op.entry.id)
		end
		t.is_nil(select(2, ch:apply()))
		t.is_nil(registry.get(NS .. ":other"))
	end)
end

function T.change_events()
	local events = require("events")
	local time = require("time")
	local sub = events.subscribe("registry")
	local ch = sub:channel()
	scoped(function(s)
		s:changes():create({id = NS .. ":ev", kind = "registry.entry"}):apply()
		t.eq(t.recv(time, ch).kind, "registry.begin")
		t.eq(t.recv(time, ch).kind, "registry.commit", "registry.entry sends no entry event")
		s = registry.snapshot()
		local fn = registry.get(NS .. ":snapshot_reads")
		fn.id = NS .. ":fn2"
		fn.data.source = "file://registry/write.lua"
		local v, err = s:changes():create(fn):apply()
		t.is_nil(err)
		local ev = t.recv(time, ch)
		t.eq(ev.system, "registry")
		t.eq(ev.kind, "registry.begin")
		t.match(ev.path, "^registry%.tx/%d+/registry%.begin$")
		ev = t.recv(time, ch)
		t.eq(ev.kind, "entry.create")
		t.eq(ev.path, NS .. ":fn2")
		t.eq(ev.data.kind, "function.lua")
		t.eq(ev.data.data.method, "snapshot_reads")
		ev = t.recv(time, ch)
		t.eq(ev.kind, "entry.accept")
		ev = t.recv(time, ch)
		t.eq(ev.kind, "registry.commit")
	end)
	-- the scoped rollback deletes fn2 and ev: one delete event (fn2)
	local ev = t.recv(time, ch)
	t.eq(ev.kind, "registry.begin")
	ev = t.recv(time, ch)
	t.eq(ev.kind, "entry.delete")
	t.eq(ev.path, NS .. ":fn2")
	sub:close()
end

return T
