-- test.security: Actor and Scope values, the running process's pair, and
-- how process.with_context(...):with_actor/with_scope and plain spawns
-- carry them to children.
local t = require("t")
local time = require("time")
local security = require("security")

local HOST = "test:procs"
local T = {}

-- The exit value of entry spawned monitored by spawner sp (with args).
local function value_of(sp, entry, ...)
	local pid, err = sp:spawn_monitored("test.security:" .. entry, HOST, ...)
	t.ok(pid, "spawn " .. entry .. ": " .. tostring(err))
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.error, "child error")
	return ev.result.value
end

-- {==== Actor ====}

function T.actor_id_and_meta()
	local a = security.new_actor("alice", {role = "admin", level = 3, on = true,
		ratio = 0.5, org = {name = "acme", unit = {id = "u1"}}})
	t.eq(a:id(), "alice")
	t.deq(a:meta(), {role = "admin", level = 3, on = true, ratio = 0.5,
		org = {name = "acme", unit = {id = "u1"}}})
	t.eq(type(a), "userdata")
	t.deq(security.new_actor("bob"):meta(), {}, "no meta")
	t.deq(security.new_actor("bob", nil):meta(), {}, "nil meta")
	t.eq(security.new_actor(""):id(), "", "an empty id is an id")
	t.eq(security.new_actor(42):id(), "42", "a number id becomes a string")
end

-- meta() builds a new table each time: changing one changes nothing else,
-- and the table given to new_actor is not kept.
function T.actor_meta_is_a_copy()
	local src = {role = "user", org = {name = "acme"}}
	local a = security.new_actor("carol", src)
	src.role = "root"
	src.org.name = "evil"
	local m = a:meta()
	t.deq(m, {role = "user", org = {name = "acme"}}, "source table not kept")
	m.role = "root"
	m.org.name = "evil"
	t.ok(a:meta() ~= m, "a new table per call")
	t.deq(a:meta(), {role = "user", org = {name = "acme"}}, "copy changed nothing")
end

-- meta keeps what the original's metadata conversion keeps: string keys,
-- with strings, numbers, booleans and tables of the same.
function T.actor_meta_keeps_plain_values()
	local a = security.new_actor("dave", {
		ok = "yes", [1] = "positional", [2.5] = "float key", [true] = "bool key",
		fn = print, co = coroutine.create(print), ch = channel.new(),
		nested = {keep = 1, [1] = "dropped", deeper = {x = false}},
	})
	t.deq(a:meta(), {ok = "yes", nested = {keep = 1, deeper = {x = false}}})
end

function T.new_actor_bad_inputs()
	t.raises(function() security.new_actor() end, "string expected")
	t.raises(function() security.new_actor(nil) end, "string expected")
	t.raises(function() security.new_actor({}) end, "string expected")
	t.raises(function() security.new_actor(true) end, "string expected")
	t.raises(function() security.new_actor("x", "meta") end, "table expected")
	t.raises(function() security.new_actor("x", 5) end, "table expected")
	local cyclic = {}
	cyclic.self = cyclic
	local e = t.raises(function() security.new_actor("x", cyclic) end, "nested too deeply")
	t.eq(e:kind(), errors.INVALID)
	local deep = {}
	local cur = deep
	for _ = 1, 100 do cur.next = {}; cur = cur.next end
	t.raises(function() security.new_actor("x", deep) end, "nested too deeply")
end

function T.actor_methods_check_their_receiver()
	local a = security.new_actor("erin")
	local s = security.new_scope()
	t.raises(function() a.id(s) end, "Actor expected")
	t.raises(function() a.meta(channel.new()) end, "Actor expected")
	t.raises(function() a.id("erin") end, "userdata expected")
	t.raises(function() a.id() end, "userdata expected")
end

-- {==== Scope ====}

function T.new_scope_is_empty()
	local s = security.new_scope()
	t.eq(type(s), "userdata")
	local p = s:policies()
	t.deq(p, {}, "no policies")
	t.eq(#p, 0)
	p[1] = "x"
	t.eq(#s:policies(), 0, "policies() returns a new table")
	t.eq(#security.new_scope({}):policies(), 0, "an empty table")
end

-- With no policies a scope contains nothing, decides nothing, and
-- without() gives an equal (new) scope.
function T.empty_scope_methods()
	local s = security.new_scope()
	local a = security.new_actor("frank")
	t.eq(s:contains("app:policy"), false)
	t.eq(s:contains({ns = "app", name = "policy"}), false)
	t.eq(s:evaluate(a, "process.spawn", "app:worker"), "undefined")
	t.eq(s:evaluate(a, "x", "y", {k = "v"}), "undefined")
	local w = s:without("app:policy")
	t.ok(w ~= s, "without returns a new scope")
	t.eq(#w:policies(), 0)
	t.eq(#s:without({ns = "app", name = "p"}):policies(), 0)
end

function T.new_scope_bad_inputs()
	t.raises(function() security.new_scope(nil) end, "table expected")
	t.raises(function() security.new_scope("p") end, "table expected")
	-- Entries that are not Policy objects are skipped, as the original does.
	t.eq(#security.new_scope({"app:policy"}):policies(), 0)
	t.eq(#security.new_scope({p = true}):policies(), 0)
end

function T.scope_methods_bad_inputs()
	local s = security.new_scope()
	local a = security.new_actor("gina")
	t.raises(function() s:with() end, "userdata expected")
	t.raises(function() s:with("app:policy") end, "userdata expected")
	t.raises(function() s:with(channel.new()) end, "Policy expected")
	t.raises(function() s:with(a) end, "Policy expected")
	t.raises(function() s:contains() end, "Policy ID expected as string, table, or policy object")
	t.raises(function() s:contains(5) end, "Policy ID expected as string, table, or policy object")
	t.raises(function() s:contains({ns = "app"}) end, "ID table must have ns and name fields")
	t.raises(function() s:contains(a) end, "Policy or policy ID string expected")
	t.raises(function() s:without(true) end, "Policy ID expected as string, table, or policy object")
	t.raises(function() s:without({name = "p"}) end, "ID table must have ns and name fields")
	t.raises(function() s:evaluate() end, "userdata expected")
	t.raises(function() s:evaluate(s, "a", "r") end, "Actor expected")
	t.raises(function() s:evaluate(a) end, "string expected")
	t.raises(function() s:evaluate(a, "a") end, "string expected")
	t.raises(function() s:evaluate(a, "a", "r", "meta") end, "table expected")
	t.raises(function() s.policies(a) end, "Scope expected")
	t.raises(function() s.policies() end, "userdata expected")
end

-- {==== The running process's pair ====}

function T.no_context_by_default()
	t.is_nil(security.actor(), "a test has no actor")
	t.is_nil(security.scope(), "a test has no scope")
	t.deq(value_of(process.with_context({}), "reader"), {}, "nor its plain child")
	local v, err = process.exec("test.security:reader", HOST)
	t.is_nil(err)
	t.deq(v, {}, "exec'd child")
end

function T.with_actor_reaches_child()
	local a = security.new_actor("hank", {role = "admin", tags = {team = "core"}})
	t.deq(value_of(process.with_context({}):with_actor(a), "reader"),
		{actor = {id = "hank", meta = {role = "admin", tags = {team = "core"}}}})
end

function T.with_scope_reaches_child()
	t.deq(value_of(process.with_context({}):with_scope(security.new_scope()), "reader"),
		{scope = {policies = 0}})
	local a = security.new_actor("ivy")
	t.deq(value_of(process.with_options({}):with_actor(a):with_scope(security.new_scope()),
		"reader"), {actor = {id = "ivy", meta = {}}, scope = {policies = 0}},
		"with_options spawner")
end

-- Every spawn variant carries them, and context values still travel beside.
function T.spawn_variants_carry_actor()
	local sp = process.with_context({k = "v"}):with_actor(security.new_actor("jay"))
	for _, m in ipairs({"spawn", "spawn_linked", "spawn_monitored", "spawn_linked_monitored"}) do
		local pid, err = sp[m](sp, "test.security:reader", HOST)
		t.ok(pid, m .. ": " .. tostring(err))
		if m == "spawn" or m == "spawn_linked" then
			t.ok(process.monitor(pid))
		end
		local ev = t.event(time, process.event.EXIT, pid)
		t.is_nil(ev.result.error, m)
		t.eq(ev.result.value.actor.id, "jay", m)
	end
end

-- A plain spawn passes the parent's actor and scope on, and so does a
-- spawner the child makes without with_actor/with_scope.
function T.children_inherit()
	local all = security.new_scope({security.policy("test.security:allow_all")})
	local sp = process.with_context({}):with_actor(security.new_actor("kim", {n = 1}))
		:with_scope(all)
	local want = {actor = {id = "kim", meta = {n = 1}}, scope = {policies = 1}}
	t.deq(value_of(sp, "plain_exec"), want, "plain spawn")
	t.deq(value_of(sp, "spawner_exec"), want, "with_context spawner")
end

-- A child's with_actor replaces the actor it inherited; its scope stays.
-- Under an empty scope the child may not make actors or spawners at all
-- (nothing allows security.actor.create): it needs a policy that does.
function T.child_overrides_actor()
	local all = security.new_scope({security.policy("test.security:allow_all")})
	local sp = process.with_context({}):with_actor(security.new_actor("lee")):with_scope(all)
	t.deq(value_of(sp, "override_exec", "lee2"),
		{actor = {id = "lee2", meta = {}}, scope = {policies = 1}})
	local pid = process.with_context({}):with_actor(security.new_actor("lee"))
		:with_scope(security.new_scope()):spawn_monitored("test.security:override_exec",
			HOST, "lee3")
	local ev = t.event(time, process.event.EXIT, pid)
	t.contains(tostring(ev.result.error), "not allowed to spawn processes with custom context")
end

-- A child's meta() copies are its own too.
function T.child_meta_is_a_copy()
	local sp = process.with_context({}):with_actor(security.new_actor("max", {role = "user"}))
	t.deq(value_of(sp, "mutate_meta"), {role = "user"})
end

-- Spawners stay immutable: with_actor/with_scope return new ones.
function T.spawner_is_immutable()
	local base = process.with_context({})
	local with_a = base:with_actor(security.new_actor("ned"))
	local with_b = with_a:with_actor(security.new_actor("oz"))
	local with_s = with_b:with_scope(security.new_scope())
	t.ok(base ~= with_a and with_a ~= with_b, "new spawners")
	t.deq(value_of(base, "reader"), {}, "base unchanged")
	t.deq(value_of(with_a, "reader"), {actor = {id = "ned", meta = {}}})
	t.deq(value_of(with_b, "reader"), {actor = {id = "oz", meta = {}}}, "later wins")
	t.deq(value_of(with_s, "reader"), {actor = {id = "oz", meta = {}}, scope = {policies = 0}})
	t.deq(value_of(with_s:with_context({x = 1}), "reader"),
		{actor = {id = "oz", meta = {}}, scope = {policies = 0}}, "kept by with_context")
end

function T.with_actor_bad_inputs()
	local sp = process.with_context({})
	local a, s = security.new_actor("pat"), security.new_scope()
	t.raises(function() sp:with_actor(nil) end, "actor cannot be nil")
	t.raises(function() sp:with_actor() end, "actor cannot be nil")
	t.raises(function() sp:with_actor("pat") end, "userdata expected")
	t.raises(function() sp:with_actor({id = "pat"}) end, "userdata expected")
	t.raises(function() sp:with_actor(s) end, "Actor expected")
	t.raises(function() sp:with_actor(channel.new()) end, "Actor expected")
	t.raises(function() sp:with_scope(nil) end, "scope cannot be nil")
	t.raises(function() sp:with_scope({}) end, "userdata expected")
	t.raises(function() sp:with_scope(a) end, "Scope expected")
	t.raises(function() sp.with_actor(a, a) end, "Spawner expected")
	t.raises(function() sp.with_scope(nil, s) end, "Spawner expected")
end

return T
