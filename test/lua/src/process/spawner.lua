-- test.process: the Spawner (process.with_context / with_options) and the
-- ctx module its children read their context values with.
local t = require("t")
local time = require("time")
local ctx = require("ctx")

local HOST = "test:procs"
local T = {}

-- The exit value of a child spawned monitored by spawner sp.
local function value_of(sp, entry, ...)
	local pid, err = sp:spawn_monitored("test.process:" .. entry, HOST, ...)
	t.ok(pid, "spawn " .. entry .. ": " .. tostring(err))
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.error, "child error")
	return ev.result.value
end

function T.context_reaches_child()
	local v = value_of(process.with_context({request_id = "req-1", n = 42, ok = true,
		cfg = {retries = 3, list = {"a", "b"}}}), "ctx_reader")
	t.deq(v, {request_id = "req-1", n = 42, ok = true, cfg = {retries = 3, list = {"a", "b"}}})
end

function T.spawner_is_immutable()
	local base = process.with_context({a = 1})
	local more = base:with_context({b = 2})
	local over = more:with_context({a = "x"})
	t.ok(base ~= more, "with_context returns a new spawner")
	t.deq(value_of(base, "ctx_reader"), {a = 1}, "base unchanged")
	t.deq(value_of(more, "ctx_reader"), {a = 1, b = 2}, "merged")
	t.deq(value_of(over, "ctx_reader"), {a = "x", b = 2}, "later values win")
	t.deq(value_of(more, "ctx_reader"), {a = 1, b = 2}, "more unchanged")
end

-- A plain spawn passes the spawner's context on (the original's values
-- key is inheritable), through a second generation too.
function T.plain_spawn_inherits_context()
	t.deq(value_of(process.with_context({tenant = "t1"}), "ctx_exec"), {tenant = "t1"})
	t.deq(value_of(process.with_context({}), "ctx_exec"), {}, "empty context")
end

-- with_context starts from the caller's own context.
function T.nested_spawner_keeps_parent_context()
	local pid = process.with_context({outer = 1}):spawn_monitored(
		"test.process:ctx_exec", HOST)
	local ev = t.event(time, process.event.EXIT, pid)
	t.deq(ev.result.value, {outer = 1})
end

function T.ctx_in_a_process_without_context()
	local v, err = ctx.get("anything")
	t.err(v, err, errors.NOT_FOUND, "key not found: anything")
	t.eq(err:retryable(), false)
	local all, err2 = ctx.all()
	t.deq(all, {}, "all() without context")
	t.is_nil(err2)
	v, err = ctx.get("")
	t.err(v, err, errors.INVALID, "empty key")
	t.raises(function() ctx.get() end, "")
	t.raises(function() ctx.get({}) end, "")
end

function T.context_key_rules()
	t.raises(function() process.with_context({[1] = "x"}) end, "context keys must be strings")
	t.raises(function() process.with_context("x") end, "")
	t.raises(function() process.with_context() end, "")
	-- the method form skips non-string keys, as the original does
	local sp = process.with_context({}):with_context({[1] = "x", k = "v"})
	t.deq(value_of(sp, "ctx_reader"), {k = "v"})
	t.raises(function() process.with_context({}):with_context(5) end, "")
end

function T.context_not_copyable()
	local cyc = {}
	cyc.self = cyc
	local pid, err = process.with_context({c = cyc}):spawn("test.process:ctx_reader", HOST)
	t.err(pid, err, errors.INVALID, "cannot pass context")
	-- functions become nil, as in messages
	t.deq(value_of(process.with_context({f = print, s = "kept"}), "ctx_reader"), {s = "kept"})
end

function T.with_options_rules()
	local sp = process.with_options({trap_links = true, anything = {1, 2}})
	t.deq(value_of(sp, "value", "v"), "v", "options accepted and spawn works")
	t.raises(function() process.with_options({[1] = true}) end, "options keys must be strings")
	t.raises(function() process.with_options() end, "")
	t.raises(function() sp:with_options({[true] = 1}) end, "options keys must be strings")
	t.deq(value_of(sp:with_options({more = 1}):with_context({c = 1}), "ctx_reader"), {c = 1})
end

function T.spawn_arguments_and_variants()
	local sp = process.with_context({})
	t.deq(value_of(sp, "returner", 1, "two", {3}), {n = 3, 1, "two", {3}}, "arguments")
	for _, m in ipairs({"spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored"}) do
		t.eq(type(sp[m]), "function", m)
	end
	t.raises(function() sp:spawn("test.process:value") end,
		"spawn requires at least id and host arguments")
	t.raises(function() sp:spawn() end, "spawn requires at least id and host arguments")
	t.raises(function() sp:spawn({}, HOST) end, "")
	local pid, err = sp:spawn("test.process:nope", HOST)
	t.err(pid, err, errors.NOT_FOUND, "process not found")
	pid, err = sp:spawn("test.process:value", "test:nohost")
	t.err(pid, err, errors.NOT_FOUND, "host not found")
	t.raises(function() sp.spawn({}, "test.process:value", HOST) end, "Spawner expected")
	t.raises(function() sp.with_context(42, {}) end, "Spawner expected")
end

function T.actor_and_scope_arguments()
	local sp = process.with_context({})
	t.raises(function() sp:with_actor(nil) end, "actor cannot be nil")
	t.raises(function() sp:with_actor() end, "actor cannot be nil")
	t.raises(function() sp:with_actor("alice") end, "")
	t.raises(function() sp:with_actor(channel.new()) end, "Actor expected")
	t.raises(function() sp:with_scope(nil) end, "scope cannot be nil")
	t.raises(function() sp:with_scope({}) end, "")
	t.raises(function() sp:with_scope(channel.new()) end, "Scope expected")
end

function T.name_and_message_rules()
	local sp = process.with_context({})
	t.raises(function() sp:with_name("") end, "name cannot be empty")
	t.raises(function() sp:with_name() end, "")
	t.raises(function() sp:with_message("@inbox", 1) end, "cannot send to @ topics")
	t.raises(function() sp:with_message() end, "")
end

-- with_name + with_message: spawn registered under the name and send the
-- message to the new process; once the name is held, send to its holder
-- instead and return the holder's pid, spawning nothing.
function T.spawn_or_signal()
	local me = process.pid()
	local sp = process.with_context({}):with_name("test.spawner.svc")
	local first = sp:with_message("job", 1):spawn_monitored("test.process:named_worker", HOST, me)
	t.ok(first, "spawned")
	t.eq(t.msg(time, "worker_up"):payload():data(), first)
	t.deq(t.msg(time, "seen"):payload():data(), {"job", 1}, "message to the new process")
	t.eq(process.registry.lookup("test.spawner.svc"), first, "registered under the name")

	local second, err = sp:with_message("job", 2):with_message("job", 3)
		:spawn("test.process:named_worker", HOST, me)
	t.is_nil(err)
	t.eq(second, first, "the holder's pid")
	t.deq(t.msg(time, "seen"):payload():data(), {"job", 2}, "delivered to the holder")
	t.deq(t.msg(time, "seen"):payload():data(), {"job", 3}, "in order")
	t.quiet(time, process.inbox(), "50ms", "no second worker started")

	-- the name is released with the process; then a spawn starts anew
	process.send(first, "stop")
	local ev = t.event(time, process.event.EXIT, first)
	t.eq(ev.result.value, "stopped")
	local third = sp:spawn("test.process:named_worker", HOST, me)
	t.ok(third ~= first, "a new process once the name is free")
	t.eq(t.msg(time, "worker_up"):payload():data(), third)
	process.send(third, "stop")
end

-- A name held by a process that registered it itself counts too.
function T.spawn_or_signal_registered_name()
	t.eq(process.registry.register("test.spawner.me"), true)
	local pid, err = process.with_context({}):with_name("test.spawner.me")
		:with_message("ping", "hi"):spawn("test.process:named_worker", HOST, process.pid())
	t.is_nil(err)
	t.eq(pid, process.pid(), "the holder is this process")
	t.eq(t.msg(time, "ping"):payload():data(), "hi")
	process.registry.unregister("test.spawner.me")
end

return T
